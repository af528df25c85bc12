"""Hardware kind ``conv3x3``: a spatial 3x3 conv, zero padding 1, stride 1 or 2 (IR conv, role spatial) on
``conv3x3_stream`` (line buffer of 3 rows, 4 at stride 2; MAC engine; requantization)."""
from __future__ import annotations

import numpy as np

from pleiades_fpga.errors import UnsupportedModelError
from pleiades_fpga.hw.rtl import cycles_spatial
from pleiades_fpga.hw.rtl.kinds.mac import MacEngine
from pleiades_fpga.hw.rtl.kinds.registry import EstimateInput, register
from pleiades_fpga.hw.rtl.lowering import Fold, Lowered, is_depthwise, lower_mac, mac_multipliers
from pleiades_fpga.ir.graph import IRGraph, Layer


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
                                                                  fold.simd, dw),
                "multipliers": mac_multipliers(fold),
                "macs_per_frame": cycles_spatial.conv3x3_macs(x.height, x.width, c_in, c_out, stride, dw)}

    def lower(self, graph: IRGraph, layer: Layer, name: str, fold: Fold) -> Lowered:
        x = graph.tensors[layer.inputs[0]]
        dw, stride = is_depthwise(layer), layer.params.stride[0]
        w = np.asarray(layer.params.weight, dtype=np.int64)[:, :, 0].reshape(layer.out_channels, -1, 9)  # (out, in/g, 9)
        low = lower_mac(graph, layer, name, "conv3x3_stream", w, 3,
                        {"H": x.height, "W": x.width, "C_IN": layer.in_channels, "C_OUT": layer.out_channels,
                         "STRIDE": stride, "DEPTHWISE": int(dw), "PE": fold.pe, "SIMD": 1 if dw else fold.simd}, {},
                        fold.mac)
        rows = 3 if stride == 1 else 4  # conv3x3_stream keeps one extra row at stride 2 (no stalls)
        low.memories.insert(0, {"name": f"{name}_lines", "kind": "line_buffer", "depth": rows * x.width,
                                "width": layer.in_channels * x.bits})
        return low

    def stream_ff(self, est: EstimateInput) -> float:
        return super().stream_ff(est) + est.out_width  # + the collect register before the output register
