"""Binning of events into (2, T, H, W) count frames (channel 0 = OFF, 1 = ON) for any bin size, and the one
check of how much memory a request for frames implies (:func:`check_request`), made before allocating."""
from __future__ import annotations

import os

import numpy as np

from pleiades_fpga.data.events import check_events
from pleiades_fpga.errors import PleiadesError, RequestTooLargeError

MEMORY_FRACTION = 0.5  # a request may use at most this fraction of the machine's physical memory
GIB = 2**30


def n_bins(duration_us: int, bin_us: int) -> int:
    """Number of whole bins of ``bin_us`` in ``duration_us`` (a trailing partial bin is dropped)."""
    if bin_us <= 0:
        raise PleiadesError(f"bin size must be > 0 microseconds, got {bin_us}")
    return int(duration_us) // int(bin_us)


def memory_budget_bytes() -> int:
    """Bytes one request may allocate: `MEMORY_FRACTION` of the physical memory."""
    return int(MEMORY_FRACTION * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def check_request(what: str, n_clips: int, channels: int, n_frames: int, height: int, width: int,
                  bytes_per_value: int = 1, fix: str = "use a larger --bin-ms, fewer clips (--n-train/--n-test) "
                                                          "or a lower --resolution") -> int:
    """Bytes of an (n_clips, channels, n_frames, height, width) array; a `RequestTooLargeError` with the figure
    and ``fix`` when it exceeds :func:`memory_budget_bytes`."""
    need = int(n_clips) * int(channels) * int(n_frames) * int(height) * int(width) * int(bytes_per_value)
    budget = memory_budget_bytes()
    if need > budget:
        raise RequestTooLargeError(
            f"{what}: {n_clips:,} clips x {channels} channels x {n_frames:,} frames x {height}x{width} pixels x "
            f"{bytes_per_value} byte(s) = {need / GIB:,.1f} GiB, more than the {budget / GIB:,.1f} GiB allowed "
            f"({MEMORY_FRACTION:.0%} of this machine's memory); {fix}")
    return need


def bin_events(
    events: np.ndarray,
    bin_us: int,
    height: int,
    width: int,
    n_frames: int | None = None,
    t0: int = 0,
    dtype: np.dtype | type = np.float32,
) -> np.ndarray:
    """Count frames (2, T, H, W): frame k counts the events with ``t0 + k*bin_us <= t < t0 + (k+1)*bin_us``.

    ``n_frames`` defaults to the number of bins up to the last event; events outside are dropped. Events must
    lie inside the height x width sensor (`check_events`): an event outside is an error, never another pixel.
    """
    if bin_us <= 0:
        raise PleiadesError(f"bin size must be > 0 microseconds, got {bin_us}")
    check_events(events, height, width)
    rel = events["t"].astype(np.int64) - int(t0)
    k = np.floor_divide(rel, int(bin_us))
    if n_frames is None:
        n_frames = int(k.max()) + 1 if k.size else 0
    check_request("binning events", 1, 2, n_frames, height, width, np.dtype(dtype).itemsize + 8,
                  fix="use a larger bin size or give n_frames")
    keep = (k >= 0) & (k < n_frames)
    p = events["p"][keep].astype(np.int64)
    flat = ((p * n_frames + k[keep]) * height + events["y"][keep].astype(np.int64)) * width + events["x"][keep]
    counts = np.bincount(flat, minlength=2 * n_frames * height * width)
    return counts.reshape(2, n_frames, height, width).astype(dtype, copy=False)
