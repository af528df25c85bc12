"""Binning of events into (2, T, H, W) count frames (channel 0 = OFF, 1 = ON) for any bin size."""
from __future__ import annotations

import numpy as np

from pleiades_fpga.errors import PleiadesError


def n_bins(duration_us: int, bin_us: int) -> int:
    """Number of whole bins of ``bin_us`` in ``duration_us`` (a trailing partial bin is dropped)."""
    if bin_us <= 0:
        raise PleiadesError(f"bin size must be > 0 microseconds, got {bin_us}")
    return int(duration_us) // int(bin_us)


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

    ``n_frames`` defaults to the number of bins up to the last event; events outside are dropped.
    """
    if bin_us <= 0:
        raise PleiadesError(f"bin size must be > 0 microseconds, got {bin_us}")
    rel = events["t"].astype(np.int64) - int(t0)
    k = np.floor_divide(rel, int(bin_us))
    if n_frames is None:
        n_frames = int(k.max()) + 1 if k.size else 0
    keep = (k >= 0) & (k < n_frames)
    p = events["p"][keep].astype(np.int64)
    flat = ((p * n_frames + k[keep]) * height + events["y"][keep].astype(np.int64)) * width + events["x"][keep]
    counts = np.bincount(flat, minlength=2 * n_frames * height * width)
    return counts.reshape(2, n_frames, height, width).astype(dtype, copy=False)
