"""IR kind "add" (the DWS skip add): ``acc = a + b`` of two inputs quantized by one shared quantizer (same
scale, width and sign), then requantized with ReLU fused. Read from an ONNX ``Add``."""
from __future__ import annotations

import numpy as np
import onnx

from pleiades_fpga.ir.graph import Layer, TensorSpec
from pleiades_fpga.ir.integers import signed_bits_for
from pleiades_fpga.ir.kinds.registry import GoldenLayer, Kind, register, requantized
from pleiades_fpga.ir.read_context import Pending, ReadContext


@register
class AddKind(Kind):
    name = "add"
    onnx_ops = ("Add",)

    def read(self, ctx: ReadContext, node: onnx.NodeProto) -> None:
        a, b = (ctx.input_act(node, i) for i in node.input)
        if float(a.scale) != float(b.scale) or a.signed != b.signed or a.bits != b.bits:
            raise ctx.fail(node, "both inputs of an Add must share one quantizer (same scale, width, sign)")
        if (a.channels, a.height, a.width) != (b.channels, b.height, b.width):
            raise ctx.fail(node, "Add inputs have different shapes")
        layer = Layer(name=ctx.name("add"), kind="add", inputs=list(node.input), output=node.output[0],
                      in_channels=a.channels, out_channels=a.channels, in_bits=a.bits, in_signed=a.signed,
                      in_scale=float(a.scale), acc_bits=signed_bits_for(2 * a.lo, 2 * a.hi),
                      acc_scale=np.asarray(float(a.scale)))
        ctx.pending[node.output[0]] = Pending(layer)

    def module_name(self, layer: Layer, producers: dict[str, Layer], layers: list[Layer]) -> str | None:
        """The skip add of block i (an input made by ``blocks.i.skip``) -> ``blocks.i.add``."""
        name = None
        for src in layer.inputs:
            prod = producers.get(src)
            if prod is not None and prod.name.endswith(".skip"):
                name = prod.name[: -len("skip")] + "add"
        return name

    def abs_bound(self, layer: Layer, x: TensorSpec | None) -> int:
        return 2 * max(abs(x.lo), abs(x.hi))

    def golden(self, run: GoldenLayer, xs: list[np.ndarray], state: None) -> np.ndarray:
        return requantized(run, xs[0] + xs[1])
