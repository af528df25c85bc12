"""Read a cleaned QONNX file (pleiades-fpga export) into the integer IR (``pleiades_fpga.ir.graph``).

Accepted graph (what ``pleiades_fpga.quant.export`` writes after qonnx cleanup): ``Quant`` nodes (qonnx domain)
on the input, on constant weights/biases and after every Conv/Relu/Add/ReduceMean; the ops of the registered
layer kinds (``pleiades_fpga.ir.kinds``: ``Conv`` 3D with causal time pads, ``Add``, ``ReduceMean`` over H, W,
``PleiadesProjection``), ``Relu`` after an accumulator, and trailing ``Gather``/``Squeeze``/``Reshape``/``Flatten``
that drop the two unit spatial axes of the logits. Anything else raises ``UnsupportedModelError`` naming the node.

The reader walks the nodes in order and dispatches each to the handler registered for its op type: the kinds'
``read`` (one per ONNX op, ``Kind.onnx_ops``) and the patterns handled here (Quant on constants, on the graph
input (kind "input"), after an accumulator (requantization); Relu; output shape ops).

The requantization of every Quant node that follows an accumulator is derived exactly:
ratio = acc_scale[c] / out_scale = M[c] / 2**S[c] with a short integer multiplier M (1 for power-of-two
scales, the weight mantissa for dyadic weight scales; ``pleiades_fpga.ir.integers.requant_params``); a ratio
that needs a long multiplier raises an error (the exported model then would not be bit-exact in hardware).
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx

from pleiades_fpga.errors import PleiadesError, UnsupportedModelError
from pleiades_fpga.ir.graph import IRGraph
from pleiades_fpga.ir.integers import int_range, requant_params
from pleiades_fpga.ir.kinds import KINDS, get_kind
from pleiades_fpga.ir.qonnx_checks import check_qonnx
from pleiades_fpga.ir.read_context import ReadContext, node_attrs
from pleiades_fpga.paths import check_input_file

QUANT_DOMAINS = ("qonnx.custom_op.general", "onnx.brevitas", "finn.custom_op.general")
SHAPE_OPS = ("Gather", "Squeeze", "Reshape", "Flatten")

Handler = Callable[[ReadContext, onnx.NodeProto], None]


def _quant(ctx: ReadContext, node: onnx.NodeProto) -> None:
    """A qonnx Quant node: on constants (weights, biases), on the graph input (kind "input") or requantizing a
    pending accumulator."""
    if node.domain not in QUANT_DOMAINS:
        raise ctx.fail(node, f"Quant of domain {node.domain!r} (supported: {', '.join(QUANT_DOMAINS)})")
    if all(i in ctx.init for i in node.input):
        _const_quant(ctx, node)
    elif node.input[0] == ctx.graph.input[0].name:
        get_kind("input").read(ctx, node)
    else:
        _requant(ctx, node)


def _const_quant(ctx: ReadContext, node: onnx.NodeProto) -> None:
    x, scale, zp, bits = (ctx.init[i] for i in node.input)
    a = node_attrs(node)
    if np.any(zp != 0):
        raise ctx.fail(node, "non-zero zero points are not supported")
    signed, narrow = bool(a.get("signed", 1)), bool(a.get("narrow", 0))
    lo, hi = int_range(int(bits), signed, narrow)
    q = np.clip(np.round(x / scale), lo, hi).astype(np.int64)
    ctx.consts[node.output[0]] = (q, np.asarray(scale, dtype=np.float64), int(bits), signed, narrow)


def _requant(ctx: ReadContext, node: onnx.NodeProto) -> None:
    """The Quant node after an accumulator (optionally via Relu): the layer's requantization and output."""
    bits, signed, scale = ctx.act_quant_params(node)
    src, out = node.input[0], node.output[0]
    if src not in ctx.pending:
        raise ctx.fail(node, "an activation Quant must follow a Conv, Add or ReduceMean (optionally via Relu)")
    p = ctx.pending.pop(src)
    layer = p.layer
    ratio = get_kind(layer.kind).requant_ratio(layer, scale)
    layer.multiplier, layer.shift = requant_params(np.broadcast_to(ratio, (layer.out_channels,)),
                                                   f"{ctx.source}: {node.name}")
    layer.relu = p.relu
    layer.out_bits, layer.out_signed, layer.out_scale = bits, signed, np.asarray(scale)
    layer.output = out
    if p.relu and signed:
        raise ctx.fail(node, "a Relu followed by a signed quantizer is not supported (use an unsigned one)")
    h, w = ctx.pending_shape(layer)
    ctx.add_act(out, layer.out_channels, h, w, bits, signed, scale)
    ctx.layers.append(layer)


def _relu(ctx: ReadContext, node: onnx.NodeProto) -> None:
    src = node.input[0]
    if src not in ctx.pending:
        raise ctx.fail(node, "Relu must follow a Conv or Add")
    p = ctx.pending.pop(src)
    p.relu = True
    ctx.pending[node.output[0]] = p


def _shape_op(ctx: ReadContext, node: onnx.NodeProto) -> None:
    src = node.input[0]
    shape_in = ctx.shapes.get(src)
    shape_out = ctx.shapes.get(node.output[0])
    root = ctx.output_alias.get(src, src)
    if root not in ctx.pending and root not in ctx.acts:
        raise ctx.fail(node, "shape operations are only supported on the network output")
    if shape_in and shape_out and int(np.prod(shape_in)) != int(np.prod(shape_out)):
        raise ctx.fail(node, f"{node.op_type} changes the number of elements ({shape_in} -> {shape_out})")
    ctx.output_alias[node.output[0]] = root


def handlers() -> dict[str, Handler]:
    """ONNX op type -> handler: the reader's patterns and every registered kind's ops."""
    table: dict[str, Handler] = {"Quant": _quant, "Relu": _relu, **{op: _shape_op for op in SHAPE_OPS}}
    for kind in KINDS.values():
        for op in kind.onnx_ops:
            if op in table:
                raise ValueError(f"ONNX op {op!r} has two reader handlers (kind {kind.name!r})")
            table[op] = kind.read
    return table


def _finish_output(ctx: ReadContext) -> str:
    """The graph output: a pending accumulator becomes the un-requantized last layer (the logits)."""
    out_name = ctx.graph.output[0].name
    root = ctx.output_alias.get(out_name, out_name)
    if root in ctx.pending:
        pend = ctx.pending.pop(root)
        layer = pend.layer
        if pend.relu:
            raise UnsupportedModelError(f"{ctx.source}: a Relu on the output accumulator is not supported")
        layer.requant = False
        layer.out_bits, layer.out_signed = layer.acc_bits, True
        layer.out_scale = np.asarray(layer.acc_scale)
        h, w = ctx.pending_shape(layer)
        ctx.add_act(layer.output, layer.out_channels, h, w, layer.acc_bits, True, layer.acc_scale)
        ctx.layers.append(layer)
        root = layer.output
    if ctx.pending:
        raise UnsupportedModelError(f"{ctx.source}: accumulators {sorted(ctx.pending)} are never requantized")
    if root not in ctx.acts:
        raise UnsupportedModelError(f"{ctx.source}: the graph output {out_name!r} is not produced by a layer")
    return root


def _name_from_neighbours(ctx: ReadContext) -> None:
    """With module names from the metadata, each kind names its layers after their neighbours."""
    if not ctx.conv_names:
        return
    producers = {layer.output: layer for layer in ctx.layers}
    for layer in ctx.layers:
        layer.name = get_kind(layer.kind).module_name(layer, producers, ctx.layers) or layer.name


def _read(model: onnx.ModelProto, source: str) -> IRGraph:
    graph = model.graph
    if not any(n.op_type in ("Quant", "BipolarQuant", "Trunc", "MultiThreshold") for n in graph.node):
        raise PleiadesError(f"{source} is not a QONNX model (no Quant nodes); export it with `pleiades-fpga export`")
    if len(graph.input) != 1:
        raise UnsupportedModelError(f"{source}: expected one graph input, got {len(graph.input)}")
    meta = check_qonnx(model, source)  # PLEIADES metadata vs the graph, before anything is read
    ctx = ReadContext(model, source)
    ctx.conv_names = meta.get("pleiades.conv_names") or {}
    table = handlers()
    for node in graph.node:
        handler = table.get(node.op_type)
        if handler is None:
            raise ctx.fail(node, "unsupported op for the integer golden model / hardware "
                                 f"(supported: {', '.join(sorted(table))}; shape ops only at the output)")
        handler(ctx, node)
    root = _finish_output(ctx)
    _name_from_neighbours(ctx)
    metadata = {}
    for p in model.metadata_props:
        try:
            metadata[p.key] = json.loads(p.value)
        except ValueError:
            metadata[p.key] = p.value
    out_shape = ctx.shapes.get(graph.output[0].name, ())
    return IRGraph(input=graph.input[0].name, output=root, tensors=ctx.acts, layers=ctx.layers,
                   metadata=metadata, output_squeeze=len(out_shape) == 3)


def read_qonnx(path: str | Path | onnx.ModelProto) -> IRGraph:
    """Parse a cleaned QONNX model (file path or ModelProto) into the integer IR."""
    if isinstance(path, onnx.ModelProto):
        return _read(path, "model")
    path = check_input_file(path, "QONNX file")
    try:
        model = onnx.load(str(path))
    except Exception as exc:
        raise PleiadesError(f"{path} is not an ONNX file: {exc}") from exc
    return _read(model, str(path))
