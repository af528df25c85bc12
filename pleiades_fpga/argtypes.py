"""argparse ``type=`` converters that reject bad option values when the command line is parsed.

Each converter raises ``argparse.ArgumentTypeError`` with what was wrong and what is allowed, so every
command refuses nan, inf, zero or negative sizes, rates and clocks before any work starts.
"""
from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def _number(text: str, kind: type) -> float | int:
    try:
        value = kind(text)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def int_range(lo: int | None = None, hi: int | None = None) -> Callable[[str], int]:
    """Converter to an int in [lo, hi] (either bound may be None)."""
    def convert(text: str) -> int:
        value = int(_number(text, int))
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"{value} is out of range: allowed {_bounds(lo, hi)}")
        return value
    convert.__name__ = "integer"
    return convert


def float_range(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
                hi_open: bool = False) -> Callable[[str], float]:
    """Converter to a finite float in the interval given by lo/hi (closed unless ``*_open``)."""
    def convert(text: str) -> float:
        value = float(_number(text, float))
        bad_lo = lo is not None and (value <= lo if lo_open else value < lo)
        bad_hi = hi is not None and (value >= hi if hi_open else value > hi)
        if bad_lo or bad_hi:
            raise argparse.ArgumentTypeError(f"{text} is out of range: allowed {_bounds(lo, hi, lo_open, hi_open)}")
        return value
    convert.__name__ = "number"
    return convert


def _bounds(lo: float | None, hi: float | None, lo_open: bool = False, hi_open: bool = False) -> str:
    left = "-inf" if lo is None else f"{lo:g}"
    right = "inf" if hi is None else f"{hi:g}"
    return f"{'(' if lo_open or lo is None else '['}{left}, {right}{')' if hi_open or hi is None else ']'}"


positive_int = int_range(1)
nonneg_int = int_range(0)
positive_float = float_range(0.0, lo_open=True)
nonneg_float = float_range(0.0)
probability = float_range(0.0, 1.0, hi_open=True)  # a pause probability: 1 would stall forever

__all__ = ["float_range", "int_range", "nonneg_float", "nonneg_int", "positive_float", "positive_int", "probability"]
