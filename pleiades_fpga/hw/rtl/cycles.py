"""Analytic cycle models of the RTL templates (what the generator uses for folding and manifests).

All counts assume no back-pressure and an input that is always valid; they are checked against
simulation in tests/test_rtl_temporal_conv.py and tests/test_rtl_pointwise.py.
"""
from __future__ import annotations

from pleiades_fpga.errors import PleiadesError


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _check_fold(c_in: int, c_out: int, pe: int, simd: int, depthwise: bool) -> None:
    if min(c_in, c_out, pe, simd) < 1:
        raise PleiadesError(f"channels and folding must be >= 1 (C_in={c_in}, C_out={c_out}, PE={pe}, SIMD={simd})")
    if depthwise and (c_in != c_out or simd != 1):
        raise PleiadesError(f"depthwise needs C_in == C_out and SIMD == 1 (got {c_in}, {c_out}, SIMD={simd})")
    if pe > c_out or (not depthwise and simd > c_in):
        raise PleiadesError(f"PE={pe} must be <= C_out={c_out} and SIMD={simd} <= C_in={c_in}")


def mac_cycles_per_pixel(c_in: int, c_out: int, k: int, pe: int, simd: int, depthwise: bool = False) -> int:
    """Cycles per input pixel of temporal_conv_buffer / pointwise_mvu (k = 1):
    ceil(C_out/PE) * K * ceil(C_in/SIMD) (depthwise: ceil(C/PE) * K)."""
    _check_fold(c_in, c_out, pe, simd, depthwise)
    if k < 1:
        raise PleiadesError(f"kernel size K must be >= 1, got {k}")
    ni = 1 if depthwise else _ceil_div(c_in, simd)
    return _ceil_div(c_out, pe) * k * ni


def temporal_conv_cycles_per_frame(c_in: int, c_out: int, k: int, pixels: int, pe: int, simd: int,
                                   depthwise: bool = False) -> int:
    """Steady-state cycles per frame of temporal_conv_buffer (pixels accepted back to back)."""
    return pixels * mac_cycles_per_pixel(c_in, c_out, k, pe, simd, depthwise)


def mvu_cycles_per_frame(c_in: int, c_out: int, pixels: int, pe: int, simd: int) -> int:
    """Steady-state cycles per frame of pointwise_mvu (a fully connected layer has pixels = 1)."""
    return pixels * mac_cycles_per_pixel(c_in, c_out, 1, pe, simd)


def temporal_conv_reset_cycles(k: int, pixels: int) -> int:
    """Cycles after reset during which the history is cleared (s_axis_tready low)."""
    return (k - 1) * pixels


# requant_pipe.v's register stages (PIPELINED = 1): product, rounding sum, shift (with the tie flag), clamp; the
# templates that instantiate it delay their flags by the same count (their RQ_STAGES localparam)
REQUANT_STAGES = 4

# temporal_conv_buffer / pointwise_mvu pipeline: input queue (1), then after the last step's issue: history read (2,
# registered block-RAM output), operands, multiplier operands, products (2), adder tree (2), accumulator,
# requant_pipe (REQUANT_STAGES) -> output queue
MAC_PIPELINE_CYCLES = 10 + REQUANT_STAGES


def mac_latency(c_in: int, c_out: int, k: int, pe: int, simd: int, depthwise: bool = False) -> int:
    """Cycles from the input handshake of a pixel to the output beat becoming valid."""
    return mac_cycles_per_pixel(c_in, c_out, k, pe, simd, depthwise) + MAC_PIPELINE_CYCLES


def projection_cycles_per_pixel(c: int, d: int, pixels: int, pe: int, simd: int) -> int:
    """Cycles per input pixel of projection_state: ceil(C/SIMD) * ceil(D/PE) steps (PE state rows x SIMD
    channels per step); one more when the frame has a single pixel and one channel group (its
    state word is read after the write)."""
    if min(c, d, pixels, pe, simd) < 1 or pe > d or simd > c:
        raise PleiadesError(f"projection folding needs 1 <= PE <= D and 1 <= SIMD <= C "
                            f"(C={c}, D={d}, pixels={pixels}, PE={pe}, SIMD={simd})")
    steps = _ceil_div(c, simd) * _ceil_div(d, pe)
    return steps + (1 if pixels == 1 and steps == _ceil_div(d, pe) else 0)


def projection_cycles_per_frame(c: int, d: int, pixels: int, pe: int, simd: int) -> int:
    """Steady-state cycles per frame of projection_state (pixels accepted back to back)."""
    return pixels * projection_cycles_per_pixel(c, d, pixels, pe, simd)


def projection_reset_cycles(pixels: int, c: int = 1, simd: int = 1) -> int:
    """Cycles after reset during which the state memory (pixels x ceil(C/SIMD) words) is cleared (tready low)."""
    return pixels * _ceil_div(c, simd)


def requant_cycles() -> int:
    """requant.v is combinational (0 cycles); callers register its output."""
    return 0


__all__ = [
    "MAC_PIPELINE_CYCLES", "REQUANT_STAGES", "mac_cycles_per_pixel", "mac_latency", "mvu_cycles_per_frame", "projection_cycles_per_frame",
    "projection_cycles_per_pixel", "projection_reset_cycles", "requant_cycles", "temporal_conv_cycles_per_frame",
    "temporal_conv_reset_cycles",
]
