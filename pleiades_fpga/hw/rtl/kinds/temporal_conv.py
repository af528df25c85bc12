"""Hardware kind ``temporal_conv``: a causal temporal conv (IR conv, role temporal) on ``temporal_conv_buffer``
(circular buffer of the last K-1 input frames per pixel, MAC engine of PE x SIMD lanes, requantization)."""
from __future__ import annotations

from typing import Any

import numpy as np

from pleiades_fpga.hw.rtl import cycles
from pleiades_fpga.hw.rtl.kinds.mac import MacEngine
from pleiades_fpga.hw.rtl.kinds.registry import register
from pleiades_fpga.hw.rtl.lowering import Fold, Lowered, is_depthwise, lower_mac, mac_multipliers
from pleiades_fpga.ir.graph import IRGraph, Layer


@register
class TemporalConv(MacEngine):
    name = "temporal_conv"
    ir_role = "temporal"
    output_queue = True
    pipeline_cycles = cycles.MAC_PIPELINE_CYCLES

    def cost(self, graph: IRGraph, layer: Layer, fold: Fold) -> dict[str, int]:
        x, y = graph.tensors[layer.inputs[0]], graph.tensors[layer.output]
        k, dw = layer.params.kernel[0], is_depthwise(layer)
        return {"cycles_per_frame": cycles.temporal_conv_cycles_per_frame(
                    layer.in_channels, layer.out_channels, k, x.height * x.width, fold.pe, fold.simd, dw),
                "multipliers": mac_multipliers(fold),
                "macs_per_frame": y.height * y.width * layer.out_channels * (1 if dw else layer.in_channels) * k}

    def lower(self, graph: IRGraph, layer: Layer, name: str, fold: Fold) -> Lowered:
        x = graph.tensors[layer.inputs[0]]
        w = np.asarray(layer.params.weight, dtype=np.int64)[:, :, :, 0, 0]  # (out, in/g, K), tap 0 = oldest
        k = w.shape[2]
        low = lower_mac(graph, layer, name, "temporal_conv_buffer", w, k,
                        {"C_IN": layer.in_channels, "C_OUT": layer.out_channels, "PE": fold.pe, "SIMD": fold.simd},
                        {"K": k, "PIXELS": x.height * x.width, "DEPTHWISE": int(is_depthwise(layer))}, fold)
        low.memories.insert(0, {"name": f"{name}_history", "kind": "circular_buffer",
                                "depth": (k - 1) * x.height * x.width, "width": layer.in_channels * x.bits})
        low.fields["in_signed"] = bool(x.signed)
        return low

    def reset_cycles(self, entry: dict[str, Any]) -> int:
        """The history is cleared after reset: (K-1) x pixels cycles."""
        return (int(entry["kernel"]) - 1) * int(entry["in_shape"][1]) * int(entry["in_shape"][2])
