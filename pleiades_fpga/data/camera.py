"""A simple event-camera model: log-intensity change against a per-pixel reference, with a threshold.

A pixel emits an ON (p=1) event each time its log intensity rises by the threshold C above its reference
level, and an OFF (p=0) event each time it falls by C below it; the reference then moves by C per event
(hysteresis: a pixel that just fired ON needs a fall of C, not of a hair, to fire OFF). Event times are
interpolated linearly between simulation steps. Background noise events are Poisson in time, uniform over
pixels and polarities.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pleiades_fpga.data.events import EVENT_DTYPE, make_events
from pleiades_fpga.errors import PleiadesError


@dataclass(frozen=True)
class CameraModel:
    """Event-camera parameters: contrast threshold (log units), its per-pixel mismatch (relative std) and the
    background-noise rate in events per pixel per second."""

    threshold: float = 0.12
    threshold_mismatch: float = 0.03
    noise_hz: float = 0.5

    def __post_init__(self) -> None:
        if not self.threshold > 0:
            raise PleiadesError(f"camera threshold must be > 0, got {self.threshold}")
        if self.noise_hz < 0 or self.threshold_mismatch < 0:
            raise PleiadesError("camera noise_hz and threshold_mismatch must be >= 0")


def events_from_log_intensity(
    log_i: np.ndarray, times_us: np.ndarray, threshold: float | np.ndarray, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Events of a noise-free camera watching log intensities ``log_i`` (S, H, W) sampled at ``times_us`` (S,).

    ``threshold`` is a scalar or an (H, W) array of per-pixel thresholds. The reference level starts at
    ``log_i[0]``. ``rng`` is unused (the model is deterministic) and accepted for symmetry.
    """
    log_i = np.asarray(log_i, dtype=np.float64)
    steps, height, width = log_i.shape
    c = np.broadcast_to(np.asarray(threshold, dtype=np.float64), (height, width))
    if (c <= 0).any():
        raise PleiadesError("camera thresholds must be > 0")
    counts = np.zeros((steps, height, width), dtype=np.int32)
    before = np.zeros((steps, height, width), dtype=np.int32)  # net count before each step
    ref = log_i[0].copy()
    net = np.zeros((height, width), dtype=np.int32)
    for s in range(1, steps):
        n = np.trunc((log_i[s] - ref) / c)
        if n.any():
            ref += n * c
            counts[s] = n
            before[s] = net
            net += counts[s]
    s_idx, y_idx, x_idx = np.nonzero(counts)
    if s_idx.size == 0:
        return np.empty(0, dtype=EVENT_DTYPE)
    # reference before step s, per firing pixel: ref0 + C * (net count before s)
    cum_before = before[s_idx, y_idx, x_idx]
    n_ev = counts[s_idx, y_idx, x_idx]
    reps = np.abs(n_ev)
    ev_pix = np.repeat(np.arange(s_idx.size), reps)
    k = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps) + 1  # 1..|n| within a pixel-step
    sign = np.sign(n_ev)[ev_pix]
    s_e, y_e, x_e = s_idx[ev_pix], y_idx[ev_pix], x_idx[ev_pix]
    c_e = c[y_e, x_e]
    ref_before = log_i[0, y_e, x_e] + c_e * cum_before[ev_pix]
    level = ref_before + sign * k * c_e
    lo, hi = log_i[s_e - 1, y_e, x_e], log_i[s_e, y_e, x_e]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(hi != lo, (level - lo) / (hi - lo), 1.0)
    frac = np.clip(frac, 0.0, 1.0)
    t0 = np.asarray(times_us, dtype=np.float64)
    t = np.floor(t0[s_e - 1] + frac * (t0[s_e] - t0[s_e - 1])).astype(np.int64)
    return make_events(t, x_e, y_e, (sign > 0).astype(np.int8))


def noise_events(
    rng: np.random.Generator, rate_hz: float, height: int, width: int, duration_us: int
) -> np.ndarray:
    """Background-activity events: Poisson count with mean rate*H*W*duration, uniform in t, x, y and p."""
    mean = rate_hz * height * width * duration_us * 1e-6
    n = int(rng.poisson(mean)) if mean > 0 else 0
    return make_events(
        rng.integers(0, duration_us, n),
        rng.integers(0, width, n),
        rng.integers(0, height, n),
        rng.integers(0, 2, n),
    )


def record(
    log_i: np.ndarray, times_us: np.ndarray, camera: CameraModel, rng: np.random.Generator, duration_us: int
) -> np.ndarray:
    """Events of ``camera`` watching ``log_i`` (S, H, W): signal events (with threshold mismatch) plus noise."""
    _, height, width = log_i.shape
    c = camera.threshold * (1.0 + camera.threshold_mismatch * rng.standard_normal((height, width)))
    c = np.maximum(c, 0.25 * camera.threshold)
    signal = events_from_log_intensity(log_i, times_us, c)
    noise = noise_events(rng, camera.noise_hz, height, width, duration_us)
    ev = np.concatenate([signal, noise])
    ev = ev[np.argsort(ev["t"], kind="stable")]
    return ev[(ev["t"] >= 0) & (ev["t"] < duration_us)]
