"""qonnx's execution of an exported QONNX file in float64, where it equals the integer golden model exactly.

In float32 (qonnx's default) a Conv's sum of products of 12-bit activations and 8-bit weights with dyadic scales
(16 significant bits) is rounded, so a requantization that lands on or next to a rounding tie can come out one
LSB off the exact integers, and the difference grows downstream (measured on the published model with GPTQ rounding:
60 of 160 logits, up to 489 LSBs; the torch model in float32 alike). In float64 every value of such a network is
exact (products < 2**53, sums too), so qonnx's float64 execution computes the golden model's integers.

ONNX Runtime has no float64 ``Conv``, so ``LowerConvToEinsum`` first writes each Conv as standard ops that it runs in
float64 (Pad, one Slice per kernel tap, Einsum over the group's input channels, Sum, bias Add); ``FoldConstantQuant``
computes every Quant of a constant (weights, biases) in float64 once: qonnx's Quant returns float32, which cannot
hold a bias quantized to a wide accumulator's scale (its integer times an 8-bit dyadic mantissa: with 16-bit
activations, more than 24 significant bits); ``ConvertToFloat64`` then makes every float tensor float64, with a Cast
after each remaining custom op (activation Quants and the project's ops: up to 16-bit integers times a power of two,
exact in float32). All three are qonnx ``Transformation``s on a ``ModelWrapper``; ``execute_float64`` runs a file or
model this way, one clip at a time.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation
from qonnx.util.basic import get_by_name

from pleiades_fpga.errors import UnsupportedModelError


def _attr(node, name: str, default):
    a = get_by_name(node.attribute, name)
    return default if a is None else helper.get_attribute_value(a)


class LowerConvToEinsum(Transformation):
    """Every Conv (any rank, groups, pads, strides, dilations) as a sum over its kernel taps of a strided Slice of the
    zero-padded input contracted with that tap's weights by Einsum; needs static shapes (``InferShapes``)."""

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        graph = model.graph
        changed = False
        for node in list(graph.node):
            if node.op_type != "Conv" or node.domain not in ("", "ai.onnx"):
                continue
            nodes = self._lower(model, node)
            position = list(graph.node).index(node)
            graph.node.remove(node)
            for offset, new in enumerate(nodes):
                graph.node.insert(position + offset, new)
            changed = True
        return model, changed

    @staticmethod
    def _lower(model: ModelWrapper, node) -> list:
        x, w = node.input[0], node.input[1]
        bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
        y = node.output[0]
        x_shape, w_shape, y_shape = model.get_tensor_shape(x), model.get_tensor_shape(w), model.get_tensor_shape(y)
        if x_shape is None or w_shape is None or y_shape is None or any(not isinstance(d, int) or d < 1
                                                                        for d in x_shape + w_shape + y_shape):
            raise UnsupportedModelError(f"Conv {node.name}: float64 execution needs static shapes (run InferShapes); "
                                        f"got input {x_shape}, weight {w_shape}, output {y_shape}")
        rank = len(x_shape) - 2
        auto_pad = _attr(node, "auto_pad", b"NOTSET")
        if (auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad) not in ("NOTSET", ""):
            raise UnsupportedModelError(f"Conv {node.name}: auto_pad is not supported by the float64 lowering; "
                                        "export with explicit pads")
        kernel = list(w_shape[2:])
        pads = list(_attr(node, "pads", [0] * (2 * rank)))
        strides = list(_attr(node, "strides", [1] * rank))
        dilations = list(_attr(node, "dilations", [1] * rank))
        groups = int(_attr(node, "group", 1))
        c = x_shape[1]
        o = w_shape[0]
        out = list(y_shape[2:])
        name = node.name or y
        spatial = [chr(ord("t") + i) for i in range(rank)]  # Einsum letters of the spatial axes (t, u, v ...)
        equation = f"ngc{''.join(spatial)},goc->ngo{''.join(spatial)}"
        made, inits = [], []

        def const(suffix: str, values, dtype=np.int64) -> str:
            t = f"{name}_f64_{suffix}"
            inits.append(numpy_helper.from_array(np.asarray(values, dtype=dtype), t))
            return t

        def add(op: str, inputs: list[str], suffix: str, **attrs) -> str:
            t = f"{name}_f64_{suffix}"
            made.append(helper.make_node(op, inputs, [t], name=f"{name}_f64_{suffix}", **attrs))
            return t

        src = x
        if any(pads):
            src = add("Pad", [x, const("pads", [0, 0] + pads[:rank] + [0, 0] + pads[rank:])], "padded")
        axes = const("axes", list(range(2, 2 + rank)))
        terms = []
        x_split = const("x_split", [0, groups, c // groups] + out)
        w_split = const("w_split", [groups, o // groups, c // groups])
        for tap in np.ndindex(*kernel):
            key = "_".join(map(str, tap))
            starts = [k * d for k, d in zip(tap, dilations)]
            ends = [s + (m - 1) * st + 1 for s, m, st in zip(starts, out, strides)]
            window = add("Slice", [src, const(f"s{key}", starts), const(f"e{key}", ends), axes,
                                   const(f"st{key}", strides)], f"x{key}")
            taps = add("Slice", [w, const(f"ws{key}", list(tap)), const(f"we{key}", [t + 1 for t in tap]), axes],
                       f"w{key}")
            terms.append(add("Einsum", [add("Reshape", [window, x_split], f"xr{key}"),
                                        add("Reshape", [taps, w_split], f"wr{key}")], f"p{key}", equation=equation))
        total = terms[0] if len(terms) == 1 else add("Sum", terms, "sum")
        merged = add("Reshape", [total, const("y_shape", [0, o] + out)], "merged")
        if bias is not None:
            merged = add("Add", [merged, add("Reshape", [bias, const("b_shape", [1, o] + [1] * rank)], "b")], "biased")
        made[-1].output[0] = y
        model.graph.initializer.extend(inits)
        return made


class FoldConstantQuant(Transformation):
    """Each qonnx Quant whose inputs are all initializers becomes a float64 initializer: qonnx's ``int_quant`` on the
    float64 values, without the float32 cast of its ``execute_node``."""

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        from qonnx.custom_op.general.quant import quant
        from qonnx.custom_op.registry import getCustomOp, is_custom_op

        graph = model.graph
        changed = False
        for node in list(graph.node):
            if node.op_type != "Quant" or not is_custom_op(node.domain, node.op_type):
                continue
            values = [model.get_initializer(i) for i in node.input]
            if any(v is None for v in values):
                continue
            x, scale, zeropt, bits = (np.asarray(v, dtype=np.float64) for v in values)
            attr = getCustomOp(node).get_nodeattr  # the op's own attribute defaults and string decoding
            y = np.asarray(quant(x, scale, zeropt, bits, attr("signed"), attr("narrow"), attr("rounding_mode")),
                           dtype=np.float64)
            graph.node.remove(node)
            graph.initializer.append(numpy_helper.from_array(y, node.output[0]))
            for info in list(graph.value_info):
                if info.name == node.output[0]:
                    graph.value_info.remove(info)
            changed = True
        return model, changed


class ConvertToFloat64(Transformation):
    """Every float32 tensor of the graph (inputs, outputs, value infos, initializers) becomes float64; each custom
    op's float32 output read by a standard op goes through a Cast to float64 first."""

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        from qonnx.custom_op.registry import is_custom_op

        graph = model.graph
        changed = False
        custom_out = {o for n in graph.node if is_custom_op(n.domain, n.op_type) for o in n.output}
        for info in list(graph.input) + list(graph.output) + list(graph.value_info):
            if info.type.tensor_type.elem_type == TensorProto.FLOAT and info.name not in custom_out:
                info.type.tensor_type.elem_type = TensorProto.DOUBLE
                changed = True
        for i, init in enumerate(list(graph.initializer)):
            if init.data_type == TensorProto.FLOAT:
                graph.initializer[i].CopyFrom(numpy_helper.from_array(
                    numpy_helper.to_array(init).astype(np.float64), init.name))
                changed = True
        graph_outputs = {o.name for o in graph.output}
        for node in list(graph.node):
            if not is_custom_op(node.domain, node.op_type):
                continue
            for out in node.output:
                cast = f"{out}_f64"
                readers = [r for r in model.find_consumers(out) or []
                           if not is_custom_op(r.domain, r.op_type) and cast not in r.output]
                if out in graph_outputs or not readers:
                    continue
                graph.node.insert(list(graph.node).index(node) + 1,
                                  helper.make_node("Cast", [out], [cast], name=f"{node.name}_f64", to=TensorProto.DOUBLE))
                graph.value_info.append(helper.make_tensor_value_info(cast, TensorProto.DOUBLE,
                                                                      model.get_tensor_shape(out)))
                for r in readers:
                    for k, name in enumerate(r.input):
                        if name == out:
                            r.input[k] = cast
                changed = True
        return model, changed


def float64_model(path_or_model: str | Path | ModelWrapper) -> ModelWrapper:
    """A copy of a QONNX model that qonnx executes in float64 (module docstring)."""
    from qonnx.transformation.infer_shapes import InferShapes

    model = ModelWrapper(str(path_or_model)) if isinstance(path_or_model, (str, Path)) else \
        ModelWrapper(path_or_model.model.SerializeToString())
    model = model.transform(InferShapes())
    model = model.transform(LowerConvToEinsum())
    model = model.transform(FoldConstantQuant())
    model = model.transform(ConvertToFloat64())
    return model.transform(InferShapes())


def execute_float64(path_or_model: str | Path | ModelWrapper, clips: np.ndarray) -> np.ndarray:
    """qonnx's float64 execution of a QONNX file or model on ``clips`` (N, C, T, H, W), one clip at a time: the
    graph's output for each, concatenated (float64)."""
    from qonnx.core.onnx_exec import execute_onnx

    model = float64_model(path_or_model)
    name_in, name_out = model.graph.input[0].name, model.graph.output[0].name
    return np.concatenate([execute_onnx(model, {name_in: np.asarray(c[None], dtype=np.float64)})[name_out]
                           for c in clips]).astype(np.float64)
