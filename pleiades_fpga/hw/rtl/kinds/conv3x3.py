"""Hardware kind ``conv3x3``: a spatial 3x3 conv, zero padding 1, stride 1 or 2 (IR conv, role spatial) on
``conv3x3_stream`` (line buffer of 3 rows, 4 at stride 2; MAC engine; requantization).

The line buffer stores a pixel as one word of all its channels, or (``LB_SLICED`` = 1) as one word per fold
slice (:func:`line_slices`): chosen when that takes no more block RAM on any known part, less on one, and costs no
cycle."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pleiades_fpga.errors import UnsupportedModelError
from pleiades_fpga.hw.rtl import cycles_spatial
from pleiades_fpga.hw.rtl.kinds.mac import MacEngine
from pleiades_fpga.hw.rtl.kinds.registry import EstimateInput, register
from pleiades_fpga.hw.rtl.lowering import Fold, Lowered, is_depthwise, lower_mac, mac_multipliers
from pleiades_fpga.ir.graph import IRGraph, Layer
from pleiades_fpga.toolflow.parts import PARTS, URAM_BLOCK_BITS, Part, memory_bram_bits, memory_class, uram_blocks


def _ram_bits(depth: int, width: int, part: Part) -> int:
    """Block RAM + UltraRAM bits a RAM of this shape takes on ``part`` (0 in LUT RAM)."""
    if memory_class(depth, width, part) == "uram":
        return uram_blocks(depth, width) * URAM_BLOCK_BITS
    return memory_bram_bits(depth, width, part)


def line_buffer_shape(height: int, width: int, bits: int, stride: int, lanes: int, slices: int,
                      words_per_pixel: int) -> tuple[int, int]:
    """(depth, width) of conv3x3_stream's line buffer: NS = 3 rows (4 at stride 2) of ``width`` pixels, a pixel
    of ``slices`` slices of ``lanes`` channels (``bits`` each) stored as ``words_per_pixel`` words (1 or
    ``slices``)."""
    rows = 3 if stride == 1 else 4   # conv3x3_stream keeps one extra row at stride 2 (no stalls)
    return rows * width * words_per_pixel, slices * lanes * bits // words_per_pixel


def line_slices(graph: IRGraph, layer: Layer, fold: Fold, parts: Sequence[Part] = tuple(PARTS.values())) -> int:
    """Line-buffer words per pixel: the fold's slices XG (``LB_SLICED`` = 1) when the narrower, deeper RAM takes
    no more block RAM (+ UltraRAM) on any of ``parts`` (lowering does not know the build's part: every known
    part) and less on one, and the cycles per frame stay the same (the input, XG cycles per pixel, keeps up and
    the narrow-frame stall model gives no stall); else 1."""
    x = graph.tensors[layer.inputs[0]]
    c_in, c_out, stride, dw = layer.in_channels, layer.out_channels, layer.params.stride[0], is_depthwise(layer)
    simd = 1 if dw else fold.simd
    xg = cycles_spatial.conv3x3_line_slices(c_in, c_out, fold.pe, simd, dw)
    if xg == 1:
        return 1
    lanes = fold.pe if dw else simd
    shapes = [line_buffer_shape(x.height, x.width, x.bits, stride, lanes, xg, n) for n in (1, xg)]
    bits = [[_ram_bits(d, w, part) for d, w in shapes] for part in parts]
    saves = all(sliced <= whole for whole, sliced in bits) and any(sliced < whole for whole, sliced in bits)
    cycles = [cycles_spatial.conv3x3_cycles(x.height, x.width, c_in, c_out, stride, fold.pe, simd, dw, n)
              for n in (1, xg)]
    return xg if saves and cycles[1] == cycles[0] else 1


@register
class Conv3x3(MacEngine):
    name = "conv3x3"
    ir_role = "spatial"
    pipeline_cycles = cycles_spatial.CONV3X3_PIPELINE_CYCLES

    def check(self, layer: Layer) -> None:
        super().check(layer)
        p = layer.params
        _, kh, kw = p.kernel
        if not ((kh, kw) == (3, 3) and p.padding == (1, 1) and p.stride[0] == p.stride[1] and p.stride[0] in (1, 2)):
            raise UnsupportedModelError(
                f"layer {layer.name}: spatial conv {kh}x{kw}, stride {p.stride}, padding {p.padding} has no RTL "
                "template (supported: 3x3, padding 1, stride 1 or 2)")

    def cost(self, graph: IRGraph, layer: Layer, fold: Fold) -> dict[str, int]:
        x = graph.tensors[layer.inputs[0]]
        c_in, c_out, stride, dw = layer.in_channels, layer.out_channels, layer.params.stride[0], is_depthwise(layer)
        return {"cycles_per_frame": cycles_spatial.conv3x3_cycles(x.height, x.width, c_in, c_out, stride, fold.pe,
                                                                  fold.simd, dw, line_slices(graph, layer, fold)),
                "multipliers": mac_multipliers(fold),
                "macs_per_frame": cycles_spatial.conv3x3_macs(x.height, x.width, c_in, c_out, stride, dw)}

    def lower(self, graph: IRGraph, layer: Layer, name: str, fold: Fold) -> Lowered:
        x = graph.tensors[layer.inputs[0]]
        dw, stride = is_depthwise(layer), layer.params.stride[0]
        w = np.asarray(layer.params.weight, dtype=np.int64)[:, :, 0].reshape(layer.out_channels, -1, 9)  # (out, in/g, 9)
        simd = 1 if dw else fold.simd
        words = line_slices(graph, layer, fold)
        low = lower_mac(graph, layer, name, "conv3x3_stream", w, 3,
                        {"H": x.height, "W": x.width, "C_IN": layer.in_channels, "C_OUT": layer.out_channels,
                         "STRIDE": stride, "DEPTHWISE": int(dw), "PE": fold.pe, "SIMD": simd},
                        {"LB_SLICED": int(words > 1)}, fold)
        xg = cycles_spatial.conv3x3_line_slices(layer.in_channels, layer.out_channels, fold.pe, simd, dw)
        depth, width = line_buffer_shape(x.height, x.width, x.bits, stride, fold.pe if dw else simd, xg, words)
        low.memories.insert(0, {"name": f"{name}_lines", "kind": "line_buffer", "depth": depth, "width": width})
        return low

    def stream_ff(self, est: EstimateInput) -> float:
        return super().stream_ff(est) + est.out_width  # + the collect register before the output register
