"""Analytic cycle counts of the spatial templates (conv3x3_stream, avgpool_stream, axis_fork, axis_add).

All counts are steady-state cycles per frame with frames streamed back to back, an input that
offers a beat every cycle and an output that is always ready (no back-pressure).
"""
from __future__ import annotations

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.rtl.cycles import REQUANT_STAGES


# conv3x3_stream pipeline after an output pixel's last fold: reads (2, registered block-RAM output), operands,
# multiplier operands, products (2), adder tree (2), accumulator, requant_pipe (REQUANT_STAGES), collect, output
# queue; + 1: the line-buffer write is registered, so a window waiting for its last input pixel issues one cycle later
CONV3X3_PIPELINE_CYCLES = 13 + REQUANT_STAGES


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def conv3x3_out_shape(height: int, width: int, stride: int) -> tuple[int, int]:
    """Output (HO, WO) of a 3x3 conv with zero padding 1 and ``stride``."""
    if stride not in (1, 2):
        raise PleiadesError(f"conv3x3 stride must be 1 or 2, got {stride}")
    if height < 1 or width < 1:
        raise PleiadesError(f"frame size must be positive, got {height}x{width}")
    return (height - 1) // stride + 1, (width - 1) // stride + 1


def conv3x3_cycles_per_pixel(c_in: int, c_out: int, pe: int, simd: int, depthwise: bool) -> int:
    """Engine cycles per output pixel: ceil(C_out/PE) * 9 * ceil(C_in/SIMD) (depthwise: ceil(C/PE) * 9)."""
    if pe < 1 or simd < 1:
        raise PleiadesError(f"PE and SIMD must be >= 1, got PE={pe}, SIMD={simd}")
    if depthwise:
        if c_in != c_out:
            raise PleiadesError(f"depthwise conv3x3 needs C_out == C_in, got {c_out} != {c_in}")
        return _ceil_div(c_out, pe) * 9
    return _ceil_div(c_out, pe) * 9 * _ceil_div(c_in, simd)


def conv3x3_line_slices(c_in: int, c_out: int, pe: int, simd: int, depthwise: bool) -> int:
    """Fold slices of a stored pixel (conv3x3_stream's XG): ceil(C_in/SIMD), or ceil(C/PE) when depthwise."""
    return _ceil_div(c_out, pe) if depthwise else _ceil_div(c_in, simd)


def conv3x3_cycles(height: int, width: int, c_in: int, c_out: int, stride: int = 1, pe: int = 1,
                   simd: int = 1, depthwise: bool = False, slices: int = 1) -> int:
    """Cycles per frame of conv3x3_stream: max(input H*W*slices, HO*WO*cycles per output pixel + stalls).

    The engine issues one fold per cycle without bubbles between pixels, and the line buffer (NS = 3
    row slots for stride 1, 4 for stride 2) lets the input run ahead (also into the next frame). Only
    very narrow frames stall: when the first window of an output row needs a row that overwrites the
    slot of a row the previous output row still reads, the input may only have written its columns
    0..cx_last-2 (cx_last = (WO-1)*stride), and each missing one of columns 0..1 costs the cycles the input
    takes per pixel. ``slices``: line-buffer words per input pixel (1, or :func:`conv3x3_line_slices` with
    LB_SLICED = 1), the input's cycles per pixel.
    """
    if slices < 1:
        raise PleiadesError(f"line-buffer slices per pixel must be >= 1, got {slices}")
    ho, wo = conv3x3_out_shape(height, width, stride)
    ns = 3 if stride == 1 else 4
    cx_last = (wo - 1) * stride
    missing = max(0, min(width, 2) - max(0, cx_last - 1))
    stalls = 0
    for r in range(ho - 1):                      # output row r -> r+1 within a frame
        t = min(height - 1, (r + 1) * stride + 1)  # newest input row of the first window of row r+1
        if t == r * stride + ns - 1 and t >= ns:   # row still being freed (rows < NS are free at frame start)
            stalls += missing
    if height + 1 == (ho - 1) * stride + ns - 1:  # next frame's row 1 overwrites a row of the last windows
        stalls += missing
    compute = ho * wo * conv3x3_cycles_per_pixel(c_in, c_out, pe, simd, depthwise)
    return max(height * width * slices, compute + stalls * slices)


def conv3x3_macs(height: int, width: int, c_in: int, c_out: int, stride: int = 1, depthwise: bool = False) -> int:
    """Multiply-accumulates per frame (padding taps included, as the hardware computes them)."""
    ho, wo = conv3x3_out_shape(height, width, stride)
    return ho * wo * 9 * (c_out if depthwise else c_out * c_in)


def avgpool_cycles(height: int, width: int, channels: int, pe: int = 1) -> int:
    """Cycles per frame of avgpool_stream: max(H*W input beats, ceil(C/PE) + 4 + REQUANT_STAGES for the requant
    pass: ROM read, registered sums, requant_pipe, output beat)."""
    if pe < 1:
        raise PleiadesError(f"PE must be >= 1, got {pe}")
    return max(height * width, _ceil_div(channels, pe) + 4 + REQUANT_STAGES)


def stream_cycles(height: int, width: int) -> int:
    """Cycles per frame of axis_fork and axis_add: one pixel per cycle."""
    return height * width


__all__ = [
    "avgpool_cycles", "conv3x3_cycles", "conv3x3_cycles_per_pixel", "conv3x3_line_slices", "conv3x3_macs",
    "conv3x3_out_shape", "stream_cycles",
]
