"""IR kind "input": float event counts -> ``clamp(round_half_even(x / in_scale), lo, hi)``.

in_scale is 1 for the default input quantizer, so it is a clip of integer counts to ``[0, 2**bits - 1]``.
Read from the Quant node on the graph input (a pattern of the reader's Quant handler).
"""
from __future__ import annotations

import numpy as np
import onnx

from pleiades_fpga.ir.graph import Layer, TensorSpec
from pleiades_fpga.ir.integers import int_range
from pleiades_fpga.ir.kinds.registry import GoldenLayer, Kind, register
from pleiades_fpga.ir.read_context import ReadContext


@register
class InputKind(Kind):
    name = "input"

    def read(self, ctx: ReadContext, node: onnx.NodeProto) -> None:
        """The graph input's Quant node."""
        bits, signed, scale = ctx.act_quant_params(node)
        src, out = node.input[0], node.output[0]
        _, c, _, h, w = ctx.shapes.get(out) or ctx.shapes.get(src)
        ctx.layers.append(Layer(name="input", kind="input", inputs=[src], output=out, in_scale=scale, out_bits=bits,
                                out_signed=signed, out_scale=np.asarray(scale), in_bits=0,
                                acc_scale=np.asarray(scale)))
        ctx.add_act(out, c, h, w, bits, signed, scale)

    def abs_bound(self, layer: Layer, x: TensorSpec | None) -> int:
        return 2**layer.out_bits

    def golden(self, run: GoldenLayer, xs: list[np.ndarray], state: None) -> np.ndarray:
        layer = run.layer
        lo, hi = int_range(layer.out_bits, layer.out_signed)
        return np.clip(np.round(xs[0] / float(layer.in_scale)), lo, hi).astype(run.dtype)
