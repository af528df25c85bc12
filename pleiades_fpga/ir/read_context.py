"""What the QONNX reader (``pleiades_fpga.ir.reader``) hands to the per-kind reader handlers: the graph's constants,
shapes and quantized activations read so far, the layers built so far and the accumulators waiting for their
requantizing Quant node.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from pleiades_fpga.errors import UnsupportedModelError
from pleiades_fpga.ir.graph import Layer, TensorSpec


def node_attrs(node: onnx.NodeProto) -> dict[str, Any]:
    """An ONNX node's attributes as Python values (strings decoded)."""
    out = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


class Pending:
    """An accumulator (conv/add/avgpool) that waits for its requantizing Quant node (optionally via a Relu)."""

    def __init__(self, layer: Layer) -> None:
        self.layer = layer
        self.relu = False


class ReadContext:
    """The reader's state while it walks a QONNX graph in order (see ``pleiades_fpga.ir.reader``)."""

    def __init__(self, model: onnx.ModelProto, source: str) -> None:
        self.model = model
        self.source = source
        self.graph = model.graph
        self.init = {i.name: numpy_helper.to_array(i).astype(np.float64) for i in self.graph.initializer}
        self.shapes: dict[str, tuple[int, ...]] = {}
        for vi in list(self.graph.value_info) + list(self.graph.input) + list(self.graph.output):
            self.shapes[vi.name] = tuple(d.dim_value for d in vi.type.tensor_type.shape.dim)
        self.consts: dict[str, tuple[np.ndarray, np.ndarray, int, bool, bool]] = {}  # int, scale, bits, signed, narrow
        self.acts: dict[str, TensorSpec] = {}
        self.pending: dict[str, Pending] = {}
        self.layers: list[Layer] = []
        self.counts: dict[str, int] = {}
        self.output_alias: dict[str, str] = {}
        self.conv_names: dict[str, str] = {}  # Conv node -> module name, from the metadata

    def fail(self, node: onnx.NodeProto, msg: str) -> UnsupportedModelError:
        return UnsupportedModelError(f"{self.source}: node {node.name or node.op_type!r} ({node.op_type}): {msg}")

    def name(self, base: str) -> str:
        """A fresh layer name ``<base><n>`` (renamed after its module later when the file has module names)."""
        n = self.counts.get(base, 0)
        self.counts[base] = n + 1
        return f"{base}{n}"

    def add_act(self, name: str, channels: int, h: int, w: int, bits: int, signed: bool, scale) -> TensorSpec:
        """Record a quantized activation tensor."""
        t = TensorSpec(name, channels, h, w, bits, signed, np.asarray(scale, dtype=np.float64))
        self.acts[name] = t
        return t

    def input_act(self, node: onnx.NodeProto, name: str) -> TensorSpec:
        if name not in self.acts:
            raise self.fail(node, f"input {name!r} is not a quantized activation (missing Quant node before it)")
        return self.acts[name]

    def act_quant_params(self, node: onnx.NodeProto) -> tuple[int, bool, float]:
        """(bits, signed, scale) of an activation Quant node, checked: constant, per tensor, zero point 0,
        rounding half to even, not narrow."""
        scale, zp, bits = (self.init.get(i) for i in node.input[1:])
        if scale is None or zp is None or bits is None:
            raise self.fail(node, "activation Quant parameters must be constants")
        if np.any(zp != 0):
            raise self.fail(node, "non-zero zero points are not supported")
        if scale.size != 1:
            raise self.fail(node, "activation scales must be per tensor")
        a = node_attrs(node)
        if a.get("rounding_mode", "ROUND") != "ROUND":
            raise self.fail(node, f"rounding mode {a.get('rounding_mode')!r} (only ROUND, half to even)")
        if a.get("narrow", 0):
            raise self.fail(node, "narrow-range activation quantizers are not supported")
        return int(bits), bool(a.get("signed", 1)), float(scale)

    def pending_shape(self, layer: Layer) -> tuple[int, int]:
        """(H, W) of a pending accumulator's output, from the graph's shape information."""
        shape = self.shapes.get(layer.output)
        return (shape[3], shape[4]) if shape and len(shape) == 5 else (1, 1)
