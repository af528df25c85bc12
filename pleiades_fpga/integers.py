"""Two's-complement integer ranges and widths: the one definition the quantization side and the hardware share.

Pure Python (no numpy, no torch); ``pleiades_fpga.quant`` and ``pleiades_fpga.hw`` both import it, it imports
neither.
"""
from __future__ import annotations


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
