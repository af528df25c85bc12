"""The integer arithmetic of the flow, its one home: two's-complement ranges and widths, round-half-even shifts,
requantization (docs/ARCHITECTURE.md, "Integer arithmetic").

``pleiades_fpga.quant`` (format analysis) and every hardware stage import it; it imports only numpy and the
error types.
"""
from __future__ import annotations

import numpy as np

from pleiades_fpga.errors import UnsupportedModelError

MAX_MULTIPLIER_BITS = 16


def int_range(bits: int, signed: bool, narrow: bool = False) -> tuple[int, int]:
    """(lo, hi) of a ``bits``-wide integer (two's complement if signed; narrow drops -2**(b-1))."""
    if signed:
        return -(2 ** (bits - 1)) + (1 if narrow else 0), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def signed_bits_for(lo: int, hi: int) -> int:
    """Minimal two's-complement width holding every integer in [lo, hi]."""
    n = 1
    while not (-(2 ** (n - 1)) <= lo and hi <= 2 ** (n - 1) - 1):
        n += 1
    return n


def round_shift(v: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """round_half_even(v / 2**shift) for int64 ``v`` and non-negative int64 ``shift`` (broadcast).

    For S > 0: ``(v + 2**(S-1) - 1 + ((v >> S) & 1)) >> S`` (arithmetic shifts, i.e. floor division): adds
    just under one half, plus one more unit when the truncated quotient is odd, so exact ties go to even.
    """
    v = np.asarray(v, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    if not np.any(shift):
        return v.copy()
    pos = shift > 0
    bias = np.where(pos, np.left_shift(np.int64(1), np.maximum(shift - 1, 0)) - 1, 0)
    return np.right_shift(v + bias + (np.right_shift(v, shift) & pos.astype(np.int64)), shift)


def requantize(acc: np.ndarray, multiplier: np.ndarray, shift: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """clamp(round_half_even(acc * M / 2**S), lo, hi) per channel (last axis), int64."""
    return np.clip(round_shift(np.asarray(acc, dtype=np.int64) * multiplier, shift), lo, hi)


def requant_params(ratio: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """M, S with M / 2**S == ratio exactly, per channel (M >= 1 an integer, S >= 0).

    Every float is a dyadic rational p / 2**s; power-of-two scales give M = 1 (or 2**e), dyadic weight
    scales (``scaling = "dyadic"``) give M = the odd weight mantissa. A ratio whose M would need more than
    ``MAX_MULTIPLIER_BITS`` bits (a float scale that is not a short dyadic number) is rejected.
    """
    mult, shift = [], []
    for r in np.ravel(ratio).astype(np.float64):
        if not np.isfinite(r) or r <= 0:
            raise UnsupportedModelError(f"{what}: requantization scale ratio {r!r} is not a positive number")
        num, den = float(r).as_integer_ratio()
        if num.bit_length() > MAX_MULTIPLIER_BITS:
            raise UnsupportedModelError(
                f"{what}: requantization scale ratio {r!r} needs a {num.bit_length()}-bit fixed-point multiplier "
                f"(at most {MAX_MULTIPLIER_BITS}); use power-of-two scales (scaling = 'pot') or dyadic weight "
                "scales with few mantissa bits (scaling = 'dyadic', mantissa_bits <= 8) and power-of-two "
                "activation scales"
            )
        mult.append(num)
        shift.append(den.bit_length() - 1)
    return np.array(mult, dtype=np.int64), np.array(shift, dtype=np.int64)
