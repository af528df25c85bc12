"""Hardware kind ``input``: the IR's input layer (clip of the event counts to the input width). The host does
it: the top's input stream carries those integers, so the layer is not lowered."""
from __future__ import annotations

from pleiades_fpga.hw.rtl import cycles_spatial
from pleiades_fpga.hw.rtl.kinds.registry import HwKind, register
from pleiades_fpga.hw.rtl.lowering import Fold
from pleiades_fpga.ir.graph import IRGraph, Layer


@register
class Input(HwKind):
    name = "input"
    ir_kind = "input"
    in_hardware = False

    def cost(self, graph: IRGraph, layer: Layer, fold: Fold) -> dict[str, int]:
        y = graph.tensors[layer.output]
        return {"cycles_per_frame": cycles_spatial.stream_cycles(y.height, y.width), "multipliers": 0,
                "macs_per_frame": 0}
