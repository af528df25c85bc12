"""Read a cleaned QONNX file (pleiades-fpga export) into the integer IR (``pleiades_fpga.hw.ir``).

Accepted graph (what ``pleiades_fpga.quant.export`` writes after qonnx cleanup):
``Quant`` nodes (qonnx domain) on the input, on constant weights/biases and after every Conv/Relu/Add/
ReduceMean; ``Conv`` (3D, temporal convs with causal pads (K-1, 0) on time), ``Relu``, ``Add``,
``ReduceMean`` over H, W, and trailing ``Gather``/``Squeeze``/``Reshape`` that drop the two unit spatial
axes of the logits. Anything else raises ``UnsupportedModelError`` naming the node.

The requantization of every Quant node that follows an accumulator is derived exactly:
ratio = acc_scale[c] / out_scale = M[c] / 2**S[c] with a short integer multiplier M (1 for power-of-two
scales, the weight mantissa for dyadic weight scales); a ratio that needs a long multiplier raises an
error (the exported model then would not be bit-exact in hardware).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from pleiades_fpga.errors import PleiadesError, UnsupportedModelError
from pleiades_fpga.hw.ir import IRGraph, Layer, TensorSpec
from pleiades_fpga.hw.qonnx_checks import check_qonnx
from pleiades_fpga.integers import int_range, signed_bits_for

QUANT_DOMAINS = ("qonnx.custom_op.general", "onnx.brevitas", "finn.custom_op.general")
SHAPE_OPS = ("Gather", "Squeeze", "Reshape", "Flatten")


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    out = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


MAX_MULTIPLIER_BITS = 16


def _requant_params(ratio: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """M, S with M / 2**S == ratio exactly, per channel (M >= 1 an integer, S >= 0).

    Every float is a dyadic rational p / 2**s; power-of-two scales give M = 1 (or 2**e), dyadic weight
    scales (``scaling = "dyadic"``) give M = the odd weight mantissa. A ratio whose M would need more than
    ``MAX_MULTIPLIER_BITS`` bits (a float scale that is not a short dyadic number) is rejected.
    """
    mult, shift = [], []
    for r in np.ravel(ratio).astype(np.float64):
        if not np.isfinite(r) or r <= 0:
            raise UnsupportedModelError(f"{what}: requantization scale ratio {r!r} is not a positive number")
        num, den = float(r).as_integer_ratio()
        if num.bit_length() > MAX_MULTIPLIER_BITS:
            raise UnsupportedModelError(
                f"{what}: requantization scale ratio {r!r} needs a {num.bit_length()}-bit fixed-point multiplier "
                f"(at most {MAX_MULTIPLIER_BITS}); use power-of-two scales (scaling = 'pot') or dyadic weight "
                "scales with few mantissa bits (scaling = 'dyadic', mantissa_bits <= 8) and power-of-two "
                "activation scales"
            )
        mult.append(num)
        shift.append(den.bit_length() - 1)
    return np.array(mult, dtype=np.int64), np.array(shift, dtype=np.int64)


class _Pending:
    """An accumulator produced by conv/add/mean that waits for its requantizing Quant node (optional Relu)."""

    def __init__(self, layer: Layer) -> None:
        self.layer = layer
        self.relu = False


class _Reader:
    def __init__(self, model: onnx.ModelProto, source: str) -> None:
        self.model = model
        self.source = source
        self.graph = model.graph
        self.init = {i.name: numpy_helper.to_array(i).astype(np.float64) for i in self.graph.initializer}
        self.shapes: dict[str, tuple[int, ...]] = {}
        for vi in list(self.graph.value_info) + list(self.graph.input) + list(self.graph.output):
            dims = tuple(d.dim_value for d in vi.type.tensor_type.shape.dim)
            self.shapes[vi.name] = dims
        self.consts: dict[str, tuple[np.ndarray, np.ndarray, int, bool, bool]] = {}  # int, scale, bits, signed, narrow
        self.acts: dict[str, TensorSpec] = {}
        self.pending: dict[str, _Pending] = {}
        self.layers: list[Layer] = []
        self.counts: dict[str, int] = {}
        self.output_alias: dict[str, str] = {}
        self.conv_names: dict[str, str] = {}  # Conv node -> module name, from the metadata (checked in read)

    def fail(self, node: onnx.NodeProto, msg: str) -> UnsupportedModelError:
        return UnsupportedModelError(f"{self.source}: node {node.name or node.op_type!r} ({node.op_type}): {msg}")

    def name(self, base: str) -> str:
        n = self.counts.get(base, 0)
        self.counts[base] = n + 1
        return f"{base}{n}"

    def const_quant(self, node: onnx.NodeProto) -> None:
        x, scale, zp, bits = (self.init[i] for i in node.input)
        a = _attrs(node)
        if np.any(zp != 0):
            raise self.fail(node, "non-zero zero points are not supported")
        signed, narrow = bool(a.get("signed", 1)), bool(a.get("narrow", 0))
        lo, hi = int_range(int(bits), signed, narrow)
        q = np.clip(np.round(x / scale), lo, hi).astype(np.int64)
        self.consts[node.output[0]] = (q, np.asarray(scale, dtype=np.float64), int(bits), signed, narrow)

    def spec(self, name: str, channels: int, h: int, w: int, bits: int, signed: bool, scale) -> TensorSpec:
        t = TensorSpec(name, channels, h, w, bits, signed, np.asarray(scale, dtype=np.float64))
        return t

    def act_quant(self, node: onnx.NodeProto) -> None:
        src = node.input[0]
        scale, zp, bits = (self.init.get(i) for i in node.input[1:])
        if scale is None or zp is None or bits is None:
            raise self.fail(node, "activation Quant parameters must be constants")
        if np.any(zp != 0):
            raise self.fail(node, "non-zero zero points are not supported")
        if scale.size != 1:
            raise self.fail(node, "activation scales must be per tensor")
        a = _attrs(node)
        if a.get("rounding_mode", "ROUND") != "ROUND":
            raise self.fail(node, f"rounding mode {a.get('rounding_mode')!r} (only ROUND, half to even)")
        if a.get("narrow", 0):
            raise self.fail(node, "narrow-range activation quantizers are not supported")
        signed, bits, scale = bool(a.get("signed", 1)), int(bits), float(scale)
        shape = self.shapes.get(node.output[0]) or self.shapes.get(src)
        out = node.output[0]
        if src == self.graph.input[0].name:
            _, c, _, h, w = shape
            layer = Layer(name="input", kind="input", inputs=[src], output=out, in_scale=scale, out_bits=bits,
                          out_signed=signed, out_scale=np.asarray(scale), in_bits=0, acc_scale=np.asarray(scale))
            self.layers.append(layer)
            self.acts[out] = self.spec(out, c, h, w, bits, signed, scale)
            return
        if src not in self.pending:
            raise self.fail(node, "an activation Quant must follow a Conv, Add or ReduceMean (optionally via Relu)")
        p = self.pending.pop(src)
        layer = p.layer
        ratio = np.asarray(layer.acc_scale, dtype=np.float64) / scale
        if layer.kind == "mean":
            ratio = ratio / layer.pool_size
        mult, shift = _requant_params(np.broadcast_to(ratio, (layer.out_channels,)), f"{self.source}: {node.name}")
        layer.multiplier, layer.shift = mult, shift
        layer.relu = p.relu
        layer.out_bits, layer.out_signed, layer.out_scale = bits, signed, np.asarray(scale)
        layer.output = out
        if p.relu and signed:
            raise self.fail(node, "a Relu followed by a signed quantizer is not supported (use an unsigned one)")
        t = self.pending_shape(layer)
        self.acts[out] = self.spec(out, layer.out_channels, t[0], t[1], bits, signed, scale)
        self.layers.append(layer)

    def pending_shape(self, layer: Layer) -> tuple[int, int]:
        shape = self.shapes.get(layer.output)
        return (shape[3], shape[4]) if shape and len(shape) == 5 else (1, 1)

    def input_act(self, node: onnx.NodeProto, name: str) -> TensorSpec:
        if name not in self.acts:
            raise self.fail(node, f"input {name!r} is not a quantized activation (missing Quant node before it)")
        return self.acts[name]

    def conv(self, node: onnx.NodeProto) -> None:
        x = self.input_act(node, node.input[0])
        if node.input[1] not in self.consts:
            raise self.fail(node, "the weight must be a constant Quant node (QONNX)")
        w, ws, wbits, wsigned, _ = self.consts[node.input[1]]
        if w.ndim != 5:
            raise self.fail(node, f"only 3D convolutions over (B, C, T, H, W) are supported, weight is {w.ndim}-D")
        a = _attrs(node)
        groups = int(a.get("group", 1))
        kt, kh, kw = w.shape[2:]
        pads = list(a.get("pads", [0] * 6))
        strides = list(a.get("strides", [1, 1, 1]))
        if any(d != 1 for d in a.get("dilations", [1, 1, 1])):
            raise self.fail(node, "dilated convolutions are not supported")
        if strides[0] != 1:
            raise self.fail(node, "a stride along time is not supported")
        if pads[0] != kt - 1 or pads[3] != 0:
            raise self.fail(node, f"time padding must be causal (K-1={kt - 1} frames in front, none after), got {pads}")
        if pads[1] != pads[4] or pads[2] != pads[5]:
            raise self.fail(node, f"spatial padding must be symmetric, got {pads}")
        out_ch = w.shape[0]
        wscale = np.broadcast_to(ws.reshape(-1), (out_ch,)).astype(np.float64)
        acc_scale = float(x.scale) * wscale
        bias = np.zeros(out_ch, dtype=np.int64)
        if len(node.input) > 2 and node.input[2]:
            if node.input[2] not in self.consts:
                raise self.fail(node, "the bias must be a constant Quant node (QONNX)")
            b, bs, _, _, _ = self.consts[node.input[2]]
            bs = np.broadcast_to(bs.reshape(-1), (out_ch,))
            if not np.allclose(bs, acc_scale, rtol=0, atol=0):
                raise self.fail(node, "the bias scale must equal input scale x weight scale (accumulator scale)")
            bias = b.reshape(-1).astype(np.int64)
        role = "temporal" if kt > 1 else ("spatial" if kh * kw > 1 else "pointwise")
        if kt > 1 and kh * kw > 1:
            raise self.fail(node, "a conv must be temporal (K,1,1) or spatial (1,k,k), not both")
        # acc_bits from the worst case over the input range
        wf = w.reshape(out_ch, -1)
        hi_terms = np.maximum(wf * x.hi, wf * x.lo).sum(axis=1) + bias
        lo_terms = np.minimum(wf * x.hi, wf * x.lo).sum(axis=1) + bias
        acc_bits = signed_bits_for(int(lo_terms.min()), int(hi_terms.max()))
        layer = Layer(
            name=self.conv_names.get(node.name) or self.name(role), kind="conv", inputs=[node.input[0]],
            output=node.output[0], role=role,
            in_channels=x.channels, out_channels=out_ch, groups=groups, kernel=(kt, kh, kw),
            stride=(strides[1], strides[2]), padding=(pads[1], pads[2]), weight=w, weight_bits=wbits,
            weight_scale=wscale, bias=bias, in_bits=x.bits, in_signed=x.signed, in_scale=float(x.scale),
            acc_bits=acc_bits, acc_scale=acc_scale,
        )
        self.pending[node.output[0]] = _Pending(layer)

    def add(self, node: onnx.NodeProto) -> None:
        a, b = (self.input_act(node, i) for i in node.input)
        if float(a.scale) != float(b.scale) or a.signed != b.signed or a.bits != b.bits:
            raise self.fail(node, "both inputs of an Add must share one quantizer (same scale, width, sign)")
        if (a.channels, a.height, a.width) != (b.channels, b.height, b.width):
            raise self.fail(node, "Add inputs have different shapes")
        layer = Layer(name=self.name("add"), kind="add", inputs=list(node.input), output=node.output[0],
                      in_channels=a.channels, out_channels=a.channels, in_bits=a.bits, in_signed=a.signed,
                      in_scale=float(a.scale), acc_bits=signed_bits_for(2 * a.lo, 2 * a.hi),
                      acc_scale=np.asarray(float(a.scale)))
        self.pending[node.output[0]] = _Pending(layer)

    def mean(self, node: onnx.NodeProto) -> None:
        x = self.input_act(node, node.input[0])
        axes = self.init.get(node.input[1]) if len(node.input) > 1 else _attrs(node).get("axes")
        if axes is None or sorted(int(v) for v in np.ravel(axes)) != [3, 4] or not _attrs(node).get("keepdims", 1):
            raise self.fail(node, "only a mean over (H, W) with keepdims is supported")
        n = x.height * x.width
        layer = Layer(name=self.name("mean"), kind="mean", inputs=[node.input[0]], output=node.output[0],
                      in_channels=x.channels, out_channels=x.channels, in_bits=x.bits, in_signed=x.signed,
                      in_scale=float(x.scale), acc_bits=signed_bits_for(n * x.lo, n * x.hi),
                      acc_scale=np.asarray(float(x.scale)), pool_size=n)
        self.pending[node.output[0]] = _Pending(layer)

    def projection(self, node: onnx.NodeProto) -> None:
        """``PleiadesProjection`` (recurrent temporal layer, ``pleiades_fpga.custom_op``) -> IR "projection"; its
        output is a quantized activation (signed states, scale ``state_scale``) read by the readout Conv."""
        from pleiades_fpga.custom_op import DOMAIN as PROJ_DOMAIN
        from pleiades_fpga.quant.projection_format import projection_acc_bits

        if node.domain != PROJ_DOMAIN:
            raise self.fail(node, f"PleiadesProjection must be in domain {PROJ_DOMAIN!r}, got {node.domain!r}")
        x = self.input_act(node, node.input[0])
        a = _attrs(node)
        d = int(a["D"])
        A = np.asarray(a["A"], dtype=np.int64).reshape(d, d)
        B = np.asarray(a["B"], dtype=np.int64).reshape(d)
        bits, frac, s_s = int(a["state_bits"]), int(a["frac_bits"]), float(a["state_scale"])
        if float(a["in_scale"]) != float(x.scale):
            raise self.fail(node, f"in_scale {a['in_scale']} differs from the input's quantizer scale {float(x.scale)}")
        out = node.output[0]
        name = self.name("projection")
        layer = Layer(name=name, kind="projection", inputs=[node.input[0]], output=out, in_channels=x.channels,
                      out_channels=x.channels * d, in_bits=x.bits, in_signed=x.signed, in_scale=float(x.scale),
                      acc_bits=projection_acc_bits(A, B, x.lo, x.hi, bits), acc_scale=np.asarray(s_s * 2.0**-frac),
                      requant=False, out_bits=bits, out_signed=True, out_scale=np.asarray(s_s), proj_A=A, proj_B=B,
                      frac_bits=frac, state_dim=d)
        self.layers.append(layer)
        self.acts[out] = self.spec(out, x.channels * d, x.height, x.width, bits, True, s_s)

    def relu(self, node: onnx.NodeProto) -> None:
        src = node.input[0]
        if src not in self.pending:
            raise self.fail(node, "Relu must follow a Conv or Add")
        p = self.pending.pop(src)
        p.relu = True
        self.pending[node.output[0]] = p

    def shape_op(self, node: onnx.NodeProto) -> None:
        src = node.input[0]
        shape_in = self.shapes.get(src)
        shape_out = self.shapes.get(node.output[0])
        root = self.output_alias.get(src, src)
        if root not in self.pending and root not in self.acts:
            raise self.fail(node, "shape operations are only supported on the network output")
        if shape_in and shape_out and int(np.prod(shape_in)) != int(np.prod(shape_out)):
            raise self.fail(node, f"{node.op_type} changes the number of elements ({shape_in} -> {shape_out})")
        self.output_alias[node.output[0]] = root

    def read(self) -> IRGraph:
        quant_nodes = [n for n in self.graph.node if n.op_type in ("Quant", "BipolarQuant", "Trunc", "MultiThreshold")]
        if not quant_nodes:
            raise PleiadesError(
                f"{self.source} is not a QONNX model (no Quant nodes); export it with `pleiades-fpga export`"
            )
        if len(self.graph.input) != 1:
            raise UnsupportedModelError(f"{self.source}: expected one graph input, got {len(self.graph.input)}")
        meta = check_qonnx(self.model, self.source)  # PLEIADES metadata vs the graph, before anything is read
        self.conv_names = meta.get("pleiades.conv_names") or {}
        for node in self.graph.node:
            op = node.op_type
            if op == "Quant" and node.domain in QUANT_DOMAINS:
                if all(i in self.init for i in node.input):
                    self.const_quant(node)
                else:
                    self.act_quant(node)
            elif op == "Conv":
                self.conv(node)
            elif op == "Relu":
                self.relu(node)
            elif op == "Add":
                self.add(node)
            elif op == "ReduceMean":
                self.mean(node)
            elif op == "PleiadesProjection":
                self.projection(node)
            elif op in SHAPE_OPS:
                self.shape_op(node)
            else:
                raise self.fail(node, "unsupported op for the integer golden model / hardware "
                                      "(supported: Quant, Conv, Relu, Add, ReduceMean, Gather/Squeeze/Reshape at the output)")
        out_name = self.graph.output[0].name
        root = self.output_alias.get(out_name, out_name)
        if root in self.pending:
            pend = self.pending.pop(root)
            layer = pend.layer
            if pend.relu:
                raise UnsupportedModelError(f"{self.source}: a Relu on the output accumulator is not supported")
            layer.requant = False
            layer.out_bits, layer.out_signed = layer.acc_bits, True
            layer.out_scale = np.asarray(layer.acc_scale)
            h, w = self.pending_shape(layer)
            self.acts[layer.output] = self.spec(layer.output, layer.out_channels, h, w, layer.acc_bits, True,
                                                layer.acc_scale)
            self.layers.append(layer)
            root = layer.output
        if self.pending:
            raise UnsupportedModelError(f"{self.source}: accumulators {sorted(self.pending)} are never requantized")
        if root not in self.acts:
            raise UnsupportedModelError(f"{self.source}: the graph output {out_name!r} is not produced by a layer")
        self.name_from_neighbours()
        meta = {}
        for p in self.model.metadata_props:
            try:
                meta[p.key] = json.loads(p.value)
            except ValueError:
                meta[p.key] = p.value
        out_shape = self.shapes.get(out_name, ())
        return IRGraph(input=self.graph.input[0].name, output=root, tensors=self.acts, layers=self.layers,
                       metadata=meta, output_squeeze=len(out_shape) == 3)

    def name_from_neighbours(self) -> None:
        """With module names from the metadata: the skip add of block i -> ``blocks.i.add``, the pooling -> ``head.mean``."""
        if not self.conv_names:
            return
        producer = {layer.output: layer.name for layer in self.layers}
        for layer in self.layers:
            if layer.kind == "add":
                for src in layer.inputs:
                    name = producer.get(src, "")
                    if name.endswith(".skip"):
                        layer.name = name[: -len("skip")] + "add"
            elif layer.kind == "mean":
                layer.name = "head.mean"
            elif layer.kind == "projection":  # recurrent temporal layer: named after its readout conv
                for other in self.layers:
                    if layer.output in other.inputs and other.name.endswith(".readout"):
                        layer.name = other.name[: -len("readout")] + "projection"


def read_qonnx(path: str | Path | onnx.ModelProto) -> IRGraph:
    """Parse a cleaned QONNX model (file path or ModelProto) into the integer IR."""
    if isinstance(path, onnx.ModelProto):
        model, source = path, "model"
    else:
        path = Path(path)
        if not path.is_file():
            raise PleiadesError(f"QONNX file {path} does not exist")
        try:
            model = onnx.load(str(path))
        except Exception as exc:
            raise PleiadesError(f"{path} is not an ONNX file: {exc}") from exc
        source = str(path)
    return _Reader(model, source).read()
