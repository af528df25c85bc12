"""Split a PLEIADES QONNX graph into per-frame FINN segments and the temporal layers FINN has no op for.

FINN maps 2D dataflow graphs (one image per call); a PLEIADES network streams frames and its causal
temporal convolutions (kernel (K, 1, 1)) keep K-1 past frames. Here the temporal layers stay in our RTL
(``temporal_conv_buffer``), and every maximal group of the other layers (spatial 3x3, pointwise, skip add,
mean, head) that is connected without passing through a temporal layer becomes one *segment*: a QONNX
graph for a single frame (2D convs over (1, C, H, W)) that FINN converts and estimates.

A segment is cut out of the exported graph itself (the original Quant, Conv, Relu, Add, ReduceMean nodes,
weights and quantizers), with two rewrites: the 3D convs (1, kh, kw) become 2D convs (kh, kw), and every
segment input becomes an integer graph input (the integers of the IR, annotated UINT/INT bits) followed
by a ``Mul`` by its scale, and every output is multiplied by 1/scale: a segment maps the IR's integers to the
IR's integers (FINN's streamlining then folds the scales into the thresholds).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from pleiades_fpga.errors import UnsupportedModelError
from pleiades_fpga.ir.graph import IRGraph, Layer
from pleiades_fpga.ir.kinds import get_kind


@dataclass
class Segment:
    """Consecutive non-temporal layers that FINN implements; inputs/outputs are IR tensor names."""

    name: str
    layers: list[str]
    inputs: list[str]
    outputs: list[str]
    onnx_file: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _producers(ir: IRGraph) -> dict[str, Layer]:
    return {layer.output: layer for layer in ir.layers}


_STATEFUL = "FINN has no causal temporal (stateful, frame-to-frame) op"
# IR kind of a layer outside the FINN segments -> (what implements it, why)
_OUTSIDE_FINN = {
    "input": ("pleiades RTL (input clip)", "integer clip of the event counts"),
    "conv": ("pleiades RTL (temporal_conv_buffer)", _STATEFUL),
    "projection": ("pleiades RTL (recurrent projection)", _STATEFUL),
}


def _outside_finn(ir: IRGraph) -> list[Layer]:
    """The layers our RTL (or the host) implements: the input clip (reads the graph input) and the temporal layers."""
    return [layer for layer in ir.layers if ir.input in layer.inputs or layer.params.temporal]


def find_segments(ir: IRGraph) -> list[Segment]:
    """Segments of ``ir`` in topological order (see the module docstring)."""
    producer = _producers(ir)
    outside = {layer.name for layer in _outside_finn(ir)}
    boundary = {ir.input}
    for layer in _outside_finn(ir):
        boundary.add(layer.output)
        boundary.update(layer.inputs)
    body = [layer for layer in ir.layers if layer.name not in outside]
    parent = {layer.name: layer.name for layer in body}

    def root(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for layer in body:
        for t in layer.inputs:
            src = producer.get(t)
            if t not in boundary and src is not None and src.name in parent:
                parent[root(layer.name)] = root(src.name)
    groups: dict[str, list[Layer]] = {}
    for layer in body:
        groups.setdefault(root(layer.name), []).append(layer)
    segments = []
    for members in groups.values():
        names = {layer.name for layer in members}
        produced = {layer.output for layer in members}
        inputs = []
        for layer in members:
            for t in layer.inputs:
                if t not in produced and t not in inputs:
                    inputs.append(t)
        outputs = [layer.output for layer in members
                   if layer.output == ir.output or any(c.name not in names for c in ir.consumers(layer.output))]
        segments.append(Segment(name=f"seg{len(segments)}", layers=[layer.name for layer in members],
                                inputs=inputs, outputs=outputs))
    return segments


def split_summary(ir: IRGraph, segments: list[Segment]) -> dict[str, Any]:
    """JSON-ready description of the split: who implements each layer and how the streams connect."""
    producer = _producers(ir)
    seg_of = {name: seg.name for seg in segments for name in seg.layers}
    units = []
    for layer in ir.layers:
        if layer.name in seg_of:
            continue
        impl, why = _OUTSIDE_FINN[layer.kind]
        units.append({"name": layer.name, "kind": layer.kind, "role": get_kind(layer.kind).role(layer),
                      "implemented_by": impl, "why": why})

    def stream(t: str) -> dict[str, Any]:
        spec = ir.tensors[t]
        src = producer.get(t)
        return {"tensor": t, "from": seg_of.get(src.name, src.name) if src else "graph input",
                "to": sorted({seg_of.get(c.name, c.name) for c in ir.consumers(t)}) or ["graph output"],
                "shape_chw": [spec.channels, spec.height, spec.width], "bits": spec.bits, "signed": spec.signed,
                "scale": np.asarray(spec.scale).tolist()}

    tensors = []
    for seg in segments:
        for t in seg.inputs + seg.outputs:
            if t not in tensors:
                tensors.append(t)
    for layer in ir.layers:
        if layer.name not in seg_of:
            for t in [*layer.inputs, layer.output]:
                if t not in tensors and t in ir.tensors:
                    tensors.append(t)
    return {
        "format": "pleiades-fpga-finn-split/1",
        "rule": "temporal layers (kernel (K,1,1), causal, stateful) stay in our RTL; every group of other layers "
                "connected without a temporal layer is one FINN segment, run once per frame",
        "segments": [{"name": s.name, "layers": s.layers, "inputs": s.inputs, "outputs": s.outputs,
                      "onnx": s.onnx_file, "implemented_by": "FINN"} for s in segments],
        "rtl_layers": units,
        "streams": [stream(t) for t in tensors],
        "joins": [{"segment": s.name, "inputs": s.inputs,
                   "note": "frame-aligned join: the input that bypasses the temporal layer (DWS skip) waits in a FIFO "
                           "(our axis_fifo) while the temporal layer computes the same frame; the fork that feeds both "
                           "is our axis fork (FINN's DuplicateStreams inside a segment)"}
                  for s in segments if len(s.inputs) > 1],
        "stream_format": "AXI-Stream, one pixel per beat with all channels packed (channel c at bits [c*W +: W]), "
                         "raster order, one frame per FINN call; FINN streams are NHWC (channels innermost), the "
                         "same order",
    }


# ---- ONNX cut -------------------------------------------------------------------------------------------

def _collect_nodes(graph: onnx.GraphProto, outputs: list[str], stops: set[str]) -> list[onnx.NodeProto]:
    """Nodes needed to compute ``outputs`` from ``stops`` (and initializers), in graph order."""
    producer = {o: n for n in graph.node for o in n.output}
    keep: set[int] = set()
    index = {id(n): i for i, n in enumerate(graph.node)}
    todo = list(outputs)
    seen: set[str] = set()
    while todo:
        t = todo.pop()
        if t in seen or t in stops:
            continue
        seen.add(t)
        node = producer.get(t)
        if node is None:
            continue
        keep.add(index[id(node)])
        todo.extend(i for i in node.input if i)
    return [graph.node[i] for i in sorted(keep)]


def _squeeze_time(arr: np.ndarray) -> np.ndarray:
    return arr[:, :, 0] if arr.ndim == 5 else arr


def _ungroup(node: onnx.NodeProto, weight: str, inits: dict[str, onnx.TensorProto]) -> None:
    """A grouped conv that is not depthwise (e.g. the readout of a depthwise recurrent layer) -> group 1 with a
    block-diagonal weight (zeros outside the groups: the same integers; FINN lowers only groups 1 and depthwise)."""
    attr = next((a for a in node.attribute if a.name == "group"), None)
    groups = int(attr.i) if attr is not None else 1
    if groups == 1 or weight not in inits:
        return
    w = numpy_helper.to_array(inits[weight])
    out_ch, in_g = w.shape[:2]
    if in_g == 1 and out_ch == groups:  # depthwise: FINN's VVAU
        return
    og = out_ch // groups
    full = np.zeros((out_ch, in_g * groups, *w.shape[2:]), dtype=w.dtype)
    for g in range(groups):
        full[g * og:(g + 1) * og, g * in_g:(g + 1) * in_g] = w[g * og:(g + 1) * og]
    inits[weight] = numpy_helper.from_array(full, weight)
    attr.i = 1


def _to_2d(nodes: list[onnx.NodeProto], inits: dict[str, onnx.TensorProto], source: str) -> None:
    """Rewrite 3D convs with a unit time kernel to 2D (in place) and the mean over (H, W) to GlobalAveragePool."""
    producer = {o: n for n in nodes for o in n.output}
    for node in nodes:
        if node.op_type == "Conv":
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            ks = list(attrs.get("kernel_shape", []))
            if ks and ks[0] != 1:
                raise UnsupportedModelError(f"{source}: conv {node.name} has a time kernel {ks[0]} in a FINN segment")
            new = []
            for a in node.attribute:
                v = helper.get_attribute_value(a)
                if a.name == "kernel_shape":
                    new.append(helper.make_attribute("kernel_shape", list(v)[1:]))
                elif a.name in ("strides", "dilations"):
                    new.append(helper.make_attribute(a.name, list(v)[1:]))
                elif a.name == "pads":
                    p = list(v)
                    new.append(helper.make_attribute("pads", [p[1], p[2], p[4], p[5]]))
                else:
                    new.append(a)
            del node.attribute[:]
            node.attribute.extend(new)
            wq = producer.get(node.input[1])
            names = list(wq.input[:2]) if wq is not None and wq.op_type == "Quant" else [node.input[1]]
            for name in names:
                if name in inits:
                    arr = numpy_helper.to_array(inits[name])
                    inits[name] = numpy_helper.from_array(np.ascontiguousarray(_squeeze_time(arr)), name)
            _ungroup(node, names[0], inits)
            bq = producer.get(node.input[2]) if len(node.input) > 2 else None
            if bq is not None and bq.op_type == "Quant":  # qonnx's ExtractBiasFromConv reshapes these: no 0-d
                for name in bq.input[1:3]:
                    if name in inits and numpy_helper.to_array(inits[name]).ndim == 0:
                        inits[name] = numpy_helper.from_array(numpy_helper.to_array(inits[name]).reshape(1), name)
        elif node.op_type == "ReduceMean":  # over (H, W) with keepdims (checked by the reader): a global pool
            node.op_type = "GlobalAveragePool"
            del node.input[1:]
            del node.attribute[:]


def segment_model(model: onnx.ModelProto, ir: IRGraph, seg: Segment, source: str = "model") -> onnx.ModelProto:
    """The per-frame QONNX graph of one segment (2D convs, integer inputs annotated with their datatype)."""
    g = model.graph
    nodes = [copy.deepcopy(n) for n in _collect_nodes(g, seg.outputs, set(seg.inputs))]
    used = {i for n in nodes for i in n.input}
    inits = {i.name: copy.deepcopy(i) for i in g.initializer if i.name in used}
    _to_2d(nodes, inits, source)
    head, inputs, annotations = [], [], []
    for t in seg.inputs:
        spec = ir.tensors[t]
        int_name, scale_name = f"{t}_int", f"{t}_scale"
        inputs.append(helper.make_tensor_value_info(int_name, onnx.TensorProto.FLOAT,
                                                    [1, spec.channels, spec.height, spec.width]))
        inits[scale_name] = numpy_helper.from_array(np.asarray(float(spec.scale), dtype=np.float32), scale_name)
        head.append(helper.make_node("Mul", [int_name, scale_name], [t], name=f"{t}_dequant"))
        dtype = f"{'INT' if spec.signed else 'UINT'}{spec.bits}"
        annotations.append(onnx.TensorAnnotation(
            tensor_name=int_name,
            quant_parameter_tensor_names=[onnx.StringStringEntryProto(key="finn_datatype", value=dtype)]))
    outputs, tail = [], []
    for t in seg.outputs:
        spec = ir.tensors[t]
        int_name, inv_name = f"{t}_int", f"{t}_inv_scale"
        inv = 1.0 / np.asarray(spec.scale, dtype=np.float64)
        inv = inv.reshape(1, -1, 1, 1) if inv.size > 1 else inv.reshape(())
        inits[inv_name] = numpy_helper.from_array(inv.astype(np.float32), inv_name)
        tail.append(helper.make_node("Mul", [t, inv_name], [int_name], name=f"{t}_quant"))
        outputs.append(helper.make_tensor_value_info(int_name, onnx.TensorProto.FLOAT,
                                                     [1, spec.channels, spec.height, spec.width]))
    graph = helper.make_graph(head + nodes + tail, f"pleiades_{seg.name}", inputs, outputs, list(inits.values()))
    graph.quantization_annotation.extend(annotations)
    out = helper.make_model(graph, opset_imports=list(model.opset_import), producer_name="pleiades-fpga")
    out.ir_version = model.ir_version
    helper.set_model_props(out, {"pleiades.segment": seg.name, "pleiades.layers": ",".join(seg.layers)})
    return out


def write_segments(onnx_path: str | Path, ir: IRGraph, out_dir: str | Path) -> list[Segment]:
    """Find the segments of ``ir`` and write ``out_dir/<seg>.onnx`` for each (the cut QONNX graphs)."""
    model = onnx.load(str(onnx_path))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    segments = find_segments(ir)
    for seg in segments:
        path = out_dir / f"{seg.name}.onnx"
        onnx.save(segment_model(model, ir, seg, str(onnx_path)), str(path))
        seg.onnx_file = path.name
    return segments
