"""IR kind "avgpool" (the spatial mean of the head; manifest kind ``avgpool``, template ``avgpool_stream.v``):
``acc[c] = sum_{h, w} x[c, h, w]``; the division by H*W (``pool_size``, a power of two) is folded into the
requantization shift. Read from an ONNX ``ReduceMean`` over (H, W) with keepdims. Parameters: ``AvgPoolParams``."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from pleiades_fpga.ir.graph import Layer, LayerParams, TensorSpec
from pleiades_fpga.ir.integers import signed_bits_for
from pleiades_fpga.ir.kinds.registry import GoldenLayer, Kind, register, requantized
from pleiades_fpga.ir.read_context import Pending, ReadContext, node_attrs


@dataclass
class AvgPoolParams(LayerParams):
    """Parameters of an avgpool layer."""

    pool_size: int  # H*W pixels averaged (a power of two)


@register
class AvgPoolKind(Kind):
    name = "avgpool"
    onnx_ops = ("ReduceMean",)

    def read(self, ctx: ReadContext, node: onnx.NodeProto) -> None:
        x = ctx.input_act(node, node.input[0])
        attrs = node_attrs(node)
        axes = ctx.init.get(node.input[1]) if len(node.input) > 1 else attrs.get("axes")
        if axes is None or sorted(int(v) for v in np.ravel(axes)) != [3, 4] or not attrs.get("keepdims", 1):
            raise ctx.fail(node, "only a mean over (H, W) with keepdims is supported")
        n = x.height * x.width
        layer = Layer(name=ctx.name("mean"), kind="avgpool", inputs=[node.input[0]], output=node.output[0],
                      in_channels=x.channels, out_channels=x.channels, in_bits=x.bits, in_signed=x.signed,
                      in_scale=float(x.scale), acc_bits=signed_bits_for(n * x.lo, n * x.hi),
                      acc_scale=np.asarray(float(x.scale)), params=AvgPoolParams(pool_size=n))
        ctx.pending[node.output[0]] = Pending(layer)

    def requant_ratio(self, layer: Layer, out_scale: float) -> np.ndarray:
        return super().requant_ratio(layer, out_scale) / layer.params.pool_size

    def module_name(self, layer: Layer, producers: dict[str, Layer], layers: list[Layer]) -> str | None:
        return "head.mean"  # the layer name of the model's head (kept: manifests and traces use it)

    def abs_bound(self, layer: Layer, x: TensorSpec | None) -> int:
        return layer.params.pool_size * max(abs(x.lo), abs(x.hi))

    def golden(self, run: GoldenLayer, xs: list[np.ndarray], state: None) -> np.ndarray:
        return requantized(run, xs[0].sum(axis=(2, 3), keepdims=True))
