"""Exact fixed-point types for the hls4ml model: every value is an integer times a power of two.

An IR tensor with integers ``q`` is carried in hls4ml as ``q * 2**e`` (``e`` per tensor, chosen by the
converter); requantization ``clamp(round_half_even(acc * M / 2**S))`` becomes a cast of an exact accumulator
to an ``ap_[u]fixed`` result type with ``AP_RND_CONV`` (round half to even) and ``AP_SAT`` whose LSB is
``2**e_out``, after ``M / 2**S`` and ``2**(e_out - e_in)`` are folded into the weights and bias.
"""
from __future__ import annotations

import numpy as np

from pleiades_fpga.errors import UnsupportedModelError
from pleiades_fpga.ir.integers import signed_bits_for

MAX_FRAC = 62


def frac_bits(values: np.ndarray) -> int:
    """Smallest F >= 0 with ``values * 2**F`` all integers (values are dyadic rationals)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    for f in range(MAX_FRAC + 1):
        scaled = v * 2.0**f
        if np.all(scaled == np.round(scaled)):
            return f
    raise UnsupportedModelError("a weight is not a dyadic rational: only power-of-two scales are supported")


def fixed_for_values(values: np.ndarray) -> str:
    """Signed ``ap_fixed<W,I>`` holding every value of ``values`` exactly."""
    v = np.asarray(values, dtype=np.float64)
    f = frac_bits(v)
    ints = np.round(v * 2.0**f).astype(np.int64)
    w = signed_bits_for(int(ints.min(initial=0)), int(ints.max(initial=0)))
    return f"ap_fixed<{w},{w - f}>"


def fixed_for_bound(bound: float, frac: int, guard: int = 1) -> str:
    """Signed ``ap_fixed`` with ``frac`` fractional bits holding every value in [-bound, bound] (+guard bits)."""
    b = int(np.ceil(bound * 2.0**frac))
    w = signed_bits_for(-b, b) + guard
    return f"ap_fixed<{w},{w - frac}>"


def activation_type(bits: int, signed: bool, exponent: int, relu: bool = False, rounding: bool = True) -> str:
    """Type of an IR activation (``bits`` wide, LSB ``2**exponent``), saturating, rounding half to even.

    ``relu`` with a signed IR width keeps only the non-negative half (``bits - 1`` unsigned bits).
    """
    modes = ",AP_RND_CONV,AP_SAT" if rounding else ""
    if signed and not relu:
        return f"ap_fixed<{bits},{bits + exponent}{modes}>"
    width = bits - 1 if signed else bits
    return f"ap_ufixed<{width},{width + exponent}{modes}>"
