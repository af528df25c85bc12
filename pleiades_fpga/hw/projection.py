"""Integer polynomial projection (the recurrent temporal layer's state update), shared by golden, QONNX op and RTL tests.

Integer semantics (IR kind ``"projection"``, docs: /tmp spec of issue #6, ``pleiades_fpga.hw.ir``): per frame t,
input channel c and pixel, with states s in Z^D (signed, ``bits`` wide, zero after reset)::

    acc[n]   = sum_m A[n, m] * s_prev[c, m] + B[n] * x[c]          (exact integers)
    s[c, n]  = clamp(round_half_even(acc[n] / 2**F), lo, hi)        (lo, hi of a signed ``bits`` integer)

The output tensor of a frame is s itself, channel ``c*D + n`` (channel-major, state index minor).

Format analysis (state scale, widths, F): ``pleiades_fpga.quant.projection_format``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pleiades_fpga.errors import UnsupportedModelError
from pleiades_fpga.hw.ir import round_shift
from pleiades_fpga.integers import int_range


def _check_params(A: np.ndarray, B: np.ndarray, frac_bits: int, bits: int) -> tuple[np.ndarray, np.ndarray]:
    A = np.asarray(A, dtype=np.int64)
    B = np.asarray(B, dtype=np.int64).reshape(-1)
    d = B.shape[0]
    if A.shape != (d, d):
        raise UnsupportedModelError(f"projection: A must be (D, D) with D = len(B) = {d}, got {A.shape}")
    if int(frac_bits) < 0 or int(bits) < 2:
        raise UnsupportedModelError(f"projection: need frac_bits >= 0 and state bits >= 2, got F={frac_bits} bits={bits}")
    return A, B


def project_update(x: np.ndarray, s_prev: np.ndarray, A: np.ndarray, B: np.ndarray, frac_bits: int,
                   bits: int) -> tuple[np.ndarray, int]:
    """One update on state-last arrays: x (...,) ints, s_prev (..., D) -> (s (..., D) int64, #saturated values).

    Layout-agnostic core used by ``project_int``/``project_step`` and the golden model (channel-last).
    """
    A, B = _check_params(A, B, frac_bits, bits)
    x = np.asarray(x, dtype=np.int64)
    s_prev = np.asarray(s_prev, dtype=np.int64)
    acc = s_prev @ A.T + x[..., None] * B
    v = round_shift(acc, np.int64(frac_bits))
    lo, hi = int_range(bits, True)
    n_sat = int(np.count_nonzero((v < lo) | (v > hi)))
    return np.clip(v, lo, hi), n_sat


def project_step(x: np.ndarray, s_prev: np.ndarray | None, A: np.ndarray, B: np.ndarray, frac_bits: int,
                 bits: int) -> tuple[np.ndarray, int]:
    """One frame: x (C, H, W) ints, s_prev (C*D, H, W) or None (reset) -> (s (C*D, H, W) int64, #saturated)."""
    x = np.asarray(x, dtype=np.int64)
    d = np.asarray(B).reshape(-1).shape[0]
    c, h, w = x.shape
    prev = np.zeros((c, h, w, d), np.int64) if s_prev is None else \
        np.asarray(s_prev, np.int64).reshape(c, d, h, w).transpose(0, 2, 3, 1)
    s, n_sat = project_update(x, prev, A, B, frac_bits, bits)
    return s.transpose(0, 3, 1, 2).reshape(c * d, h, w), n_sat


@dataclass
class ProjectionStats:
    """Saturation bookkeeping of ``project_int`` (``saturated`` = clamped state values over the clip)."""

    saturated: int = 0
    final_state: np.ndarray | None = None  # (C*D, H, W)


def project_int(x: np.ndarray, A: np.ndarray, B: np.ndarray, frac_bits: int, bits: int,
                state: np.ndarray | None = None, stats: ProjectionStats | None = None) -> np.ndarray:
    """States of a clip: x (T, C, H, W) ints -> (T, C*D, H, W) int64, channel c*D+n, zero state at reset.

    ``state`` (C*D, H, W) continues from a previous call; pass a ``ProjectionStats`` to get the number of
    saturated values and the final state.
    """
    A, B = _check_params(A, B, frac_bits, bits)
    x = np.asarray(x, dtype=np.int64)
    if x.ndim != 4:
        raise UnsupportedModelError(f"project_int: x must be (T, C, H, W), got shape {x.shape}")
    t_len, c, h, w = x.shape
    d = B.shape[0]
    s = np.zeros((c, h, w, d), np.int64) if state is None else \
        np.asarray(state, np.int64).reshape(c, d, h, w).transpose(0, 2, 3, 1)
    out = np.empty((t_len, c, d, h, w), np.int64)
    n_sat = 0
    for t in range(t_len):
        s, k = project_update(x[t], s, A, B, frac_bits, bits)
        n_sat += k
        out[t] = s.transpose(0, 3, 1, 2)
    if stats is not None:
        stats.saturated += n_sat
        stats.final_state = s.transpose(0, 3, 1, 2).reshape(c * d, h, w).copy()
    return out.reshape(t_len, c * d, h, w)


def projection_window(graph, layer) -> int | None:
    """Kernel size K a projection layer replaces (memory reports): ``layer.window``, else the QONNX export
    metadata ``pleiades.temporal_layers`` entry of its temporal layer (name without ".projection")."""
    if layer.window:
        return int(layer.window)
    base = layer.name.removesuffix(".projection")
    for entry in graph.metadata.get("pleiades.temporal_layers") or []:
        if isinstance(entry, dict) and entry.get("name") == base and entry.get("kernel_size"):
            return int(entry["kernel_size"])
    return None
