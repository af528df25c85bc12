"""Integer format of a recurrent temporal layer (polynomial projection): the analysis training and hardware share.

Pure numpy; imports neither ``pleiades_fpga.hw`` nor torch, so the quantization side
(``pleiades_fpga.quant.recurrent``) trains with the format the hardware (``pleiades_fpga.ir.reader``,
``pleiades_fpga.ir.kinds.projection``) later runs. Integer semantics: ``pleiades_fpga.ir.kinds.projection``.

Real values: A_real = A / 2**F, B_real = B * 2**-F * s_s / s_x (state scale s_s, input scale s_x), so
s_real[t] = A_real s_real[t-1] + B_real x_real[t].

Format analysis (``choose_projection_format``):

- Impulse response of the real recurrence h_k = A_real^k B_real (state per unit input, k frames ago).
  The real state is bounded by ``|s_n| <= max|x_real| * sum_k |h_k[n]|`` (l1 norm of the impulse
  response; finite iff the spectral radius of A_real < 1, else the state is unbounded and we refuse).
- Rounding: every update adds an error |r| <= s_s/2 per state; it propagates through A, so the state error
  is bounded by ``s_s/2 * G`` with ``G = sum_k ||A_real^k||_inf``. Propagated through the readout
  (``|y_err| <= max_o ||Cr[o]||_1 * s_s/2 * G``) we pick the largest power-of-two state scale s_s that keeps
  it below ``out_lsb * 2**-guard_bits``; without a readout, one input LSB must span >= 2**guard_bits
  state LSBs (s_s <= s_x * max|B_real| / 2**guard_bits).
- State width: the signed width holding ``bound/s_s + s_s-rounding growth (G/2)`` plus ``headroom_bits``.
- F: the smallest number of fractional bits for which the quantized recurrence's impulse response has a
  relative l1 error <= ``tol`` against the real one (and a spectral radius < 1).
- Accumulator width: ``projection_acc_bits`` (worst case over the state and input ranges, per row).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pleiades_fpga.errors import UnsupportedModelError
from pleiades_fpga.ir.integers import int_range, signed_bits_for

MAX_IMPULSE_STEPS = 200_000


def projection_acc_bits(A: np.ndarray, B: np.ndarray, x_lo: int, x_hi: int, bits: int) -> int:
    """Minimal signed accumulator width of ``A s + B x`` for any state in the signed ``bits`` range and x in [x_lo, x_hi]."""
    A = np.asarray(A, dtype=np.int64)
    B = np.asarray(B, dtype=np.int64).reshape(-1)
    s_lo, s_hi = int_range(bits, True)
    hi = np.maximum(A * s_lo, A * s_hi).sum(axis=1) + np.maximum(B * x_lo, B * x_hi)
    lo = np.minimum(A * s_lo, A * s_hi).sum(axis=1) + np.minimum(B * x_lo, B * x_hi)
    return signed_bits_for(int(lo.min()), int(hi.max()))


def impulse_l1(A: np.ndarray, B: np.ndarray, tol: float = 1e-12) -> tuple[np.ndarray, float]:
    """(sum_k |A^k B| per state (D,), G = sum_k ||A^k||_inf) of a real recurrence; raises if not stable."""
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64).reshape(-1)
    rho = float(np.max(np.abs(np.linalg.eigvals(A)))) if A.size else 0.0
    if rho >= 1.0:
        raise UnsupportedModelError(
            f"projection: spectral radius of A is {rho:.6f} >= 1, the state is unbounded; use a decayed/scaled "
            "basis (spectral radius < 1) for the recurrent temporal mode")
    h = B.copy()
    p = np.eye(A.shape[0])
    hsum = np.zeros_like(B)
    g = 0.0
    for _ in range(MAX_IMPULSE_STEPS):
        hsum += np.abs(h)
        pn = float(np.abs(p).sum(axis=1).max())
        g += pn
        if pn < tol:
            break
        h = A @ h
        p = A @ p
    else:
        raise UnsupportedModelError(f"projection: impulse response of A (spectral radius {rho:.6f}) does not decay "
                                    f"within {MAX_IMPULSE_STEPS} steps")
    return hsum, g


@dataclass
class ProjectionFormat:
    """Integer parameters and widths of one projection layer chosen by ``choose_projection_format``."""

    A: np.ndarray  # int64 (D, D)
    B: np.ndarray  # int64 (D,)
    frac_bits: int
    state_bits: int
    state_scale: float  # s_s, a power of two
    acc_bits: int
    state_bound: np.ndarray  # real |s_n| bound (D,)
    rounding_gain: float  # G
    impulse_rel_error: float  # relative l1 error of the quantized impulse response
    spectral_radius: float  # of A / 2**F
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in self.__dict__.items()}


def _impulse(A: np.ndarray, B: np.ndarray, steps: int) -> np.ndarray:
    out = np.empty((steps, B.shape[0]))
    h = B.astype(np.float64)
    for k in range(steps):
        out[k] = h
        h = A @ h
    return out


def choose_projection_format(A_real: np.ndarray, B_real: np.ndarray, in_scale: float, x_lo: int, x_hi: int, *,
                             readout: np.ndarray | None = None, out_lsb: float | None = None,
                             guard_bits: int = 2, headroom_bits: int = 1, tol: float = 1e-3,
                             max_frac_bits: int = 24, state_bits: int | None = None) -> ProjectionFormat:
    """Choose F, the state scale and width for the real recurrence (A_real, B_real) (see the module docstring).

    ``in_scale`` s_x and integer input range [x_lo, x_hi]; ``readout`` Cr real (O, C, D) or (O, D) and
    ``out_lsb`` (the readout output's scale) set the state resolution; ``state_bits`` forces the width (the
    scale then follows from the bound; resolution is reported in ``notes``).
    """
    A_real = np.asarray(A_real, dtype=np.float64)
    B_real = np.asarray(B_real, dtype=np.float64).reshape(-1)
    hsum, g = impulse_l1(A_real, B_real)
    xmax = max(abs(x_lo), abs(x_hi)) * float(in_scale)
    bound = hsum * xmax
    notes = []
    if state_bits is None:
        if readout is not None and out_lsb is not None:
            cr = np.abs(np.asarray(readout, dtype=np.float64))
            gain = float(cr.reshape(cr.shape[0], -1).sum(axis=1).max())
            s_s_max = out_lsb * 2.0**-guard_bits / max(gain * 0.5 * g, 1e-300)
            notes.append(f"state scale from readout: |y_err| <= {gain:.4g} * s_s/2 * G={g:.4g} <= out_lsb/2**{guard_bits}")
        else:
            s_s_max = float(in_scale) * float(np.abs(B_real).max()) * 2.0**-guard_bits
            notes.append(f"state scale: one input LSB spans >= 2**{guard_bits} state LSBs")
        s_s = 2.0 ** np.floor(np.log2(s_s_max))
        hi_int = int(np.ceil(bound.max() / s_s + 0.5 * g)) + 1
        bits = signed_bits_for(-hi_int, hi_int) + headroom_bits
    else:
        bits = int(state_bits)
        lim = 2 ** (bits - 1 - headroom_bits) - 1
        s_s = 2.0 ** np.ceil(np.log2(max(bound.max(), 1e-300) / max(lim - 0.5 * g, 1)))
        notes.append(f"state width forced to {bits}: scale 2**{int(np.log2(s_s))}, rounding error <= {0.5 * s_s * g:.4g}")
    steps = min(4096, max(64, int(np.ceil(np.log(1e-9) / np.log(max(
        float(np.max(np.abs(np.linalg.eigvals(A_real)))), 1e-3))))))
    h_ref = _impulse(A_real, B_real, steps)
    ref = max(float(np.abs(h_ref).sum()), 1e-300)
    for f in range(0, max_frac_bits + 1):
        Aq = np.round(A_real * 2.0**f).astype(np.int64)
        Bq = np.round(B_real * float(in_scale) / s_s * 2.0**f).astype(np.int64)
        a_f = Aq / 2.0**f
        rho = float(np.max(np.abs(np.linalg.eigvals(a_f))))
        if rho >= 1.0 or not np.any(Bq):
            continue
        h_q = _impulse(a_f, Bq * 2.0**-f * s_s / float(in_scale), steps)
        err = float(np.abs(h_q - h_ref).sum()) / ref
        if err <= tol:
            break
    else:
        raise UnsupportedModelError(f"projection: no F <= {max_frac_bits} quantizes A, B within relative "
                                    f"impulse-response error {tol}; raise max_frac_bits or tol")
    acc = projection_acc_bits(Aq, Bq, x_lo, x_hi, bits)
    return ProjectionFormat(A=Aq, B=Bq, frac_bits=f, state_bits=bits, state_scale=float(s_s), acc_bits=acc,
                            state_bound=bound, rounding_gain=g, impulse_rel_error=err, spectral_radius=rho,
                            notes=notes)


def legt_matrices(kernel_size: int, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(A, B, E) of the LegT-style least-squares projection on a Legendre basis of a ``kernel_size`` window.

    E (K, D): Legendre polynomials of degree < D sampled on the window (tap 0 oldest), s = E^+ w,
    A = E^+ Sh E (shift the window by one frame and re-project), B = E^+ e_new. Every Jacobi basis of
    degree D-1 spans the same polynomials, so this is the reference derivation for width analyses
    (the model side may fit a better A, B; the build then records its real widths).
    """
    tt = np.linspace(-1.0, 1.0, kernel_size)
    E = np.stack([np.polynomial.legendre.Legendre.basis(n)(tt) for n in range(d)], axis=1)
    Ep = np.linalg.pinv(E)
    return Ep @ np.eye(kernel_size, k=1) @ E, Ep[:, -1].copy(), E
