"""IR (read from the QONNX file) -> hls4ml model (Vitis backend, io_stream) that processes ONE frame per call.

hls4ml's ONNX frontend cannot read the exported graph (3D convs, ReduceMean), so the converter builds the hls4ml
layer list from the integer IR (``pleiades_fpga.ir.reader.read_qonnx``) with hls4ml's Python model API
(``ModelGraph.from_layer_list``):

- temporal convs -> ``PleiadesTemporalConv`` (extension layer, static circular buffer, reset input);
- spatial convs -> ``Conv2D`` (groups 1) or ``DepthwiseConv2D`` (groups = channels);
- pointwise convs -> ``Conv2D`` 1x1, or ``Dense`` after the spatial mean;
- DWS skip add -> ``Merge`` (add); spatial mean -> ``GlobalAveragePooling2D``.

Precisions come from the IR widths (``precision.py``): activations are ``ap_[u]fixed`` with the IR width,
``AP_RND_CONV`` (round half to even) and ``AP_SAT``; weights/biases/accumulators are exact, so the C simulation
equals the golden model bit for bit. The model has two inputs: the frame (H, W, C) of event counts and a
1-bit reset flag (zeroes every temporal buffer before the frame is processed).
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pleiades_fpga.errors import PleiadesError, UnsupportedModelError
from pleiades_fpga.hw.hls4ml_backend.extension import LAYER_NAME, register_extension
from pleiades_fpga.hw.hls4ml_backend.precision import activation_type, fixed_for_bound, fixed_for_values, frac_bits
from pleiades_fpga.ir.graph import IRGraph, Layer, TensorSpec
from pleiades_fpga.ir.reader import read_qonnx

DEFAULT_PART = "xc7z020clg400-1"  # PYNQ-Z2
FRAME_INPUT = "frame"
RESET_INPUT = "reset"


def hls_name(name: str) -> str:
    """C-identifier form of an IR layer name (``blocks.0.temporal`` -> ``blocks_0_temporal``)."""
    return "".join(ch if ch.isalnum() else "_" for ch in name)


def _log2_exact(values: np.ndarray, what: str) -> int:
    """log2 of a uniform power-of-two array (per-channel values must agree)."""
    vals = np.unique(np.asarray(values, dtype=np.int64))
    if len(vals) != 1 or vals[0] < 1 or vals[0] & (vals[0] - 1):
        raise UnsupportedModelError(f"{what}: expected one power-of-two value for all channels, got {vals.tolist()}")
    return int(vals[0]).bit_length() - 1


def _add_input_exponent(layer: Layer) -> int:
    """The exponent an add requires of its inputs: ``log2(M) - S`` (its requantization becomes the cast of the sum)."""
    if len(np.unique(layer.shift)) != 1:
        raise UnsupportedModelError(f"{layer.name}: per-channel shifts on an add are not supported")
    return _log2_exact(layer.multiplier, layer.name) - int(np.unique(layer.shift)[0])


def _not_an_add_input(layer: Layer, required: int | None) -> None:
    if required is not None:
        raise UnsupportedModelError(f"{layer.name}: an add input must come from a conv, not a {layer.kind}")


def _zero_exponent(layer: Layer, exps: dict[str, int], required: int | None) -> int:
    _not_an_add_input(layer, required)
    return 0


def _conv_exponent(layer: Layer, exps: dict[str, int], required: int | None) -> int:
    return 0 if required is None else required  # a conv can produce any exponent: its weights absorb it


def _mean_exponent(layer: Layer, exps: dict[str, int], required: int | None) -> int:
    """``e_in - log2(pool) - log2(M) + S``: hls4ml divides by the pool."""
    _not_an_add_input(layer, required)
    pool = _log2_exact(np.array([layer.params.pool_size]), f"{layer.name} pool size (H*W)")
    m = _log2_exact(layer.multiplier, layer.name)
    if len(np.unique(layer.shift)) != 1:
        raise UnsupportedModelError(f"{layer.name}: per-channel shifts on the mean are not supported")
    return exps[layer.inputs[0]] - pool - m + int(layer.shift[0])


def tensor_exponents(ir: IRGraph) -> dict[str, int]:
    """Per IR tensor the exponent ``e``: hls4ml carries integer ``q`` as ``q * 2**e``.

    0 everywhere except the inputs of an add (``log2(M) - S`` of the add: the add's requantization becomes the
    cast of their sum) and the mean's output (``e_in - log2(pool) - log2(M) + S``: hls4ml divides by the pool).
    """
    required: dict[str, int] = {}
    for layer in ir.layers:
        rule = _hls_kind(layer).input_exponent
        if rule is None:
            continue
        e = rule(layer)
        for t in layer.inputs:
            if required.get(t, e) != e:
                raise UnsupportedModelError(f"{layer.name}: tensor {t} feeds adds with different scales")
            required[t] = e
    exps: dict[str, int] = {}
    for layer in ir.layers:
        exps[layer.output] = _hls_kind(layer).exponent(layer, exps, required.get(layer.output))
    return exps


@dataclass
class HlsDesign:
    """hls4ml layer list + configuration built from an IR (input of ``ModelGraph.from_layer_list``)."""

    ir: IRGraph
    layers: list[dict[str, Any]]
    precisions: dict[str, dict[str, str]]
    exponents: dict[str, int]
    output_layer: str
    output_exponent: int
    input_scale: float
    input_shape: tuple[int, int, int]  # (H, W, C)
    trace: bool = False


def _conv_params(layer: Layer, e_in: int, e_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Weights (out, in/g, KT, KH, KW) and bias in hls units: requant factor and exponents folded in."""
    if layer.requant:
        factor = layer.multiplier.astype(np.float64) * np.exp2(-layer.shift.astype(np.float64))
    else:
        factor = np.ones(layer.out_channels)
    factor = factor * 2.0 ** (e_out - e_in)
    w = layer.params.weight.astype(np.float64) * factor[:, None, None, None, None]
    b = layer.params.bias.astype(np.float64) * factor * 2.0**e_in
    return w, b


def _accum_type(ir: IRGraph, layer: Layer, w: np.ndarray, b: np.ndarray, e_in: int) -> str:
    """Exact accumulator: fractional bits of products and bias, range of the worst-case sum (+2 guard bits)."""
    x = ir.tensors[layer.inputs[0]]
    amax = max(abs(x.lo), abs(x.hi)) * 2.0**e_in
    bound = float((np.abs(w.reshape(w.shape[0], -1)).sum(axis=1) * amax + np.abs(b)).max())
    frac = max(frac_bits(w) + max(-e_in, 0), frac_bits(b))
    return fixed_for_bound(bound, frac, guard=2)


@dataclass
class _LayerCtx:
    """One IR layer being mapped: its input/output tensors and exponents, the hls4ml names of its inputs, its
    result precision (None: the exact accumulator) and whether its input is flat (after the spatial mean)."""

    ir: IRGraph
    layer: Layer
    x: TensorSpec
    out: TensorSpec
    e_in: int
    e_out: int
    srcs: list[str]
    result: str | None
    flat_in: bool


def _temporal_conv(c: _LayerCtx, d: dict[str, Any], w: np.ndarray, b: np.ndarray) -> None:
    layer, kt = c.layer, c.layer.params.kernel[0]
    if c.flat_in:
        raise UnsupportedModelError(f"{layer.name}: temporal conv after the spatial mean")
    d.update(class_name=LAYER_NAME, inputs=[c.srcs[0], RESET_INPUT], n_pixels=c.x.height * c.x.width,
             n_chan=layer.in_channels, n_filt=layer.out_channels, groups=layer.params.groups, kernel=kt,
             out_shape=[c.out.height, c.out.width, c.out.channels], weight_data=w[:, :, :, 0, 0].reshape(-1),
             bias_data=b)
    if kt < 2:
        raise UnsupportedModelError(f"{layer.name}: temporal kernel {kt} < 2")


def _dense(c: _LayerCtx, d: dict[str, Any], w: np.ndarray, b: np.ndarray) -> None:
    """A 1x1 conv after the spatial mean (flat input)."""
    layer, (_, kh, kw) = c.layer, c.layer.params.kernel
    if layer.params.groups != 1 or kh != 1 or kw != 1:
        raise UnsupportedModelError(f"{layer.name}: only 1x1 dense layers after the spatial mean")
    d.update(class_name="Dense", n_in=layer.in_channels, n_out=layer.out_channels,
             weight_data=w[:, :, 0, 0, 0].T.copy(), bias_data=b)


def _conv2d(c: _LayerCtx, d: dict[str, Any], w: np.ndarray, b: np.ndarray) -> None:
    """A per-frame conv: ``Conv2D`` (groups 1) or ``DepthwiseConv2D`` (groups = channels)."""
    layer, p = c.layer, c.layer.params
    _, kh, kw = p.kernel
    (ph, pw), (sh, sw) = p.padding, p.stride
    d.update(in_height=c.x.height, in_width=c.x.width, n_chan=layer.in_channels, n_filt=layer.out_channels,
             filt_height=kh, filt_width=kw, stride_height=sh, stride_width=sw, pad_top=ph,
             pad_bottom=ph, pad_left=pw, pad_right=pw, out_height=c.out.height, out_width=c.out.width,
             bias_data=b)
    if p.groups == 1:
        d.update(class_name="Conv2D", weight_data=w[:, :, 0].transpose(2, 3, 1, 0).copy())
    elif p.groups == layer.in_channels == layer.out_channels:
        d.update(class_name="DepthwiseConv2D", depth_multiplier=1,
                 depthwise_data=w[:, 0, 0].transpose(1, 2, 0)[..., None].copy())
    else:
        raise UnsupportedModelError(
            f"{layer.name}: grouped conv with {p.groups} groups of {layer.in_channels} channels "
            "(hls4ml has groups = 1 or depthwise with multiplier 1 only)")


def _conv(c: _LayerCtx, d: dict[str, Any]) -> tuple[dict[str, str], bool]:
    w, b = _conv_params(c.layer, c.e_in, c.e_out)
    acc = _accum_type(c.ir, c.layer, w, b, c.e_in)
    p = {"weight": fixed_for_values(w), "bias": fixed_for_values(b), "accum": acc,
         "result": acc if c.result is None else c.result}  # the logits: the exact accumulator
    per_frame = _dense if c.flat_in else _conv2d
    (_temporal_conv if c.layer.params.temporal else per_frame)(c, d, w, b)
    return p, c.flat_in


def _add(c: _LayerCtx, d: dict[str, Any]) -> tuple[dict[str, str], bool]:
    d.update(class_name="Merge", op="add")
    return {"result": c.result}, c.flat_in


def _mean(c: _LayerCtx, d: dict[str, Any]) -> tuple[dict[str, str], bool]:
    frac = max(-c.e_in, 0) + int(math.log2(c.layer.params.pool_size))
    bound = c.layer.params.pool_size * max(abs(c.x.lo), abs(c.x.hi)) * 2.0**c.e_in
    d.update(class_name="GlobalAveragePooling2D", in_height=c.x.height, in_width=c.x.width,
             n_filt=c.x.channels, keepdims=False)
    return {"accum": fixed_for_bound(bound, frac, guard=2), "result": c.result}, True


@dataclass(frozen=True)
class _HlsKind:
    """How one IR kind maps to hls4ml: its output exponent (given the exponent an add requires of it, or None),
    the exponent it requires of its inputs (an add) and its hls4ml layer (dict update, precision, flat output)."""

    exponent: Callable[[Layer, dict[str, int], int | None], int]
    build: Callable[[_LayerCtx, dict[str, Any]], tuple[dict[str, str], bool]] | None = None
    input_exponent: Callable[[Layer], int] | None = None


_HLS_KINDS = {
    "input": _HlsKind(_zero_exponent),
    "conv": _HlsKind(_conv_exponent, _conv),
    "add": _HlsKind(_zero_exponent, _add, _add_input_exponent),
    "avgpool": _HlsKind(_mean_exponent, _mean),
}


def _hls_kind(layer: Layer) -> _HlsKind:
    if layer.kind not in _HLS_KINDS:
        raise UnsupportedModelError(f"layer {layer.name}: kind {layer.kind!r} has no hls4ml mapping")
    return _HLS_KINDS[layer.kind]


def design_from_ir(ir: IRGraph) -> HlsDesign:
    """Map every IR layer to an hls4ml layer dict and exact per-layer precisions (see module docstring)."""
    exps = tensor_exponents(ir)
    producer: dict[str, str] = {}
    flat: dict[str, bool] = {}
    layers: list[dict[str, Any]] = []
    prec: dict[str, dict[str, str]] = {}
    in_layer = ir.layers[0]
    if in_layer.kind != "input":
        raise UnsupportedModelError("the IR must start with its input layer")
    t0 = ir.tensors[in_layer.output]
    layers.append({"class_name": "InputLayer", "name": FRAME_INPUT, "input_shape": [t0.height, t0.width, t0.channels]})
    layers.append({"class_name": "InputLayer", "name": RESET_INPUT, "input_shape": [1]})
    prec[FRAME_INPUT] = {"result": activation_type(in_layer.out_bits, in_layer.out_signed, 0)}
    prec[RESET_INPUT] = {"result": "ap_uint<1>"}
    producer[in_layer.output] = FRAME_INPUT
    flat[in_layer.output] = False
    for layer in ir.layers[1:]:
        name = hls_name(layer.name)
        out = ir.tensors[layer.output]
        e_out = exps[layer.output]
        srcs = [producer[t] for t in layer.inputs]
        x = ir.tensors[layer.inputs[0]]
        e_in = exps[layer.inputs[0]]
        if layer.requant:
            result = activation_type(layer.out_bits, layer.out_signed, e_out, relu=layer.relu)
        else:
            result = None
        d: dict[str, Any] = {"name": name, "inputs": srcs, "outputs": [name], "data_format": "channels_last"}
        ctx = _LayerCtx(ir, layer, x, out, e_in, e_out, srcs, result, flat[layer.inputs[0]])
        p, flat[layer.output] = _hls_kind(layer).build(ctx, d)
        layers.append(d)
        prec[name] = p
        producer[layer.output] = name
    last = ir.layers[-1]
    if last.output != ir.output:
        raise UnsupportedModelError("the IR's last layer must produce the network output")
    return HlsDesign(ir=ir, layers=layers, precisions=prec, exponents=exps, output_layer=hls_name(last.name),
                     output_exponent=exps[last.output], input_scale=float(in_layer.in_scale),
                     input_shape=(t0.height, t0.width, t0.channels))


def hls_config(design: HlsDesign, output_dir: str | Path, project_name: str = "pleiades",
               part: str = DEFAULT_PART, clock_mhz: float = 100.0, trace: bool = False) -> dict[str, Any]:
    """hls4ml configuration dict (Vitis backend, io_stream, latency strategy, exact per-layer precisions)."""
    import hls4ml

    cfg = hls4ml.utils.config.create_config(output_dir=str(output_dir), project_name=project_name, backend="Vitis",
                                             part=part, clock_period=round(1000.0 / clock_mhz, 3), io_type="io_stream")
    cfg["HLSConfig"] = {
        "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency", "BitExact": False},
        "LayerName": {name: {"Precision": dict(p), "Trace": trace} for name, p in design.precisions.items()},
    }
    return cfg


def convert(source: str | Path | IRGraph, output_dir: str | Path, project_name: str = "pleiades",
            part: str = DEFAULT_PART, clock_mhz: float = 100.0, trace: bool = False) -> "Hls4mlStream":
    """QONNX file (or IR) -> ``Hls4mlStream`` around the hls4ml ``ModelGraph`` (not yet written or compiled)."""
    import hls4ml

    ir = source if isinstance(source, IRGraph) else read_qonnx(source)
    design = design_from_ir(ir)
    design.trace = trace
    register_extension("Vitis")
    cfg = hls_config(design, output_dir, project_name, part, clock_mhz, trace)
    model = hls4ml.model.ModelGraph.from_layer_list(cfg, design.layers, inputs=[FRAME_INPUT, RESET_INPUT],
                                                    outputs=[design.output_layer])
    return Hls4mlStream(model, design)


class Hls4mlStream:
    """Frame-by-frame driver of a compiled hls4ml model (C simulation); integer outputs like the golden model.

    The temporal buffers are C++ statics of the compiled library: they persist across calls and are zeroed by the
    reset flag (set on the first frame after ``reset()``, and at the start of every clip in ``stream``).
    """

    def __init__(self, hls_model: Any, design: HlsDesign) -> None:
        self.hls_model = hls_model
        self.design = design
        self._reset_pending = True
        self._compiled = False

    def write(self) -> None:
        """Write the HLS project (firmware, testbench, build_prj.tcl) to the output directory."""
        self.hls_model.write()

    def compile(self, optimize: str = "-O3") -> None:
        """Write the project and build the C simulation library with g++ (resets the state).

        ``optimize``: g++ optimization flag (hls4ml uses -O3; -O1 builds faster, runs slower, same results).
        """
        if not re.fullmatch(r"-O[0-3s]", optimize):
            raise PleiadesError(f"optimize must be a g++ flag -O0..-O3 or -Os, got {optimize!r}")
        self.hls_model.config.trace_output = self.design.trace
        self.hls_model.write()
        script = Path(self.hls_model.config.get_output_dir()) / "build_lib.sh"
        script.write_text(re.sub(r'CFLAGS="-O\w', f'CFLAGS="{optimize}', script.read_text()))
        self.hls_model._compile()
        self._compiled = True
        self._reset_pending = True

    def reset(self) -> None:
        """Zero the temporal buffers before the next frame."""
        self._reset_pending = True

    def encode_inputs(self, frames: np.ndarray, first_reset: bool) -> list[np.ndarray]:
        """hls4ml inputs of frames (T, C, H, W): [counts / input scale, channel-last (T, H*W*C); reset flags (T, 1)]."""
        h, w, c = self.design.input_shape
        frames = np.asarray(frames, dtype=np.float64)
        if frames.ndim != 4 or frames.shape[1:] != (c, h, w):
            raise PleiadesError(f"hls4ml model input must be frames (time, {c}, {h}, {w}), got {frames.shape}")
        x = (frames / self.design.input_scale).transpose(0, 2, 3, 1).reshape(len(frames), -1)
        r = np.zeros((len(frames), 1))
        r[0, 0] = 1.0 if first_reset else 0.0
        return [np.ascontiguousarray(x), r]

    def _integers(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64).reshape(-1, self.design.ir.tensors[self.design.ir.output].channels)
        q = y * 2.0 ** (-self.design.output_exponent)
        out = np.round(q).astype(np.int64)
        if not np.array_equal(out, q):
            raise PleiadesError("hls4ml output is not on the integer grid of the IR output (internal error)")
        return out

    def frames(self, frames: np.ndarray) -> np.ndarray:
        """Consecutive frames (T, C, H, W) through the compiled model -> integer outputs (T, classes)."""
        if not self._compiled:
            raise PleiadesError("compile() the hls4ml model before running it")
        inputs = self.encode_inputs(frames, self._reset_pending)
        self._reset_pending = False
        return self._integers(self.hls_model.predict(inputs))

    def step(self, frame: np.ndarray) -> np.ndarray:
        """One frame (C, H, W) -> integer outputs (classes,)."""
        return self.frames(np.asarray(frame)[None])[0]

    def stream(self, clip: np.ndarray) -> np.ndarray:
        """Every clip of a batch (B, C, T, H, W) from a reset state -> (B, classes, T) int64 (like the golden)."""
        clip = np.asarray(clip, dtype=np.float64)
        if clip.ndim != 5:
            raise PleiadesError(f"clip must be (batch, channels, time, height, width), got {clip.shape}")
        outs = []
        for b in range(clip.shape[0]):
            self.reset()
            outs.append(self.frames(clip[b].transpose(1, 0, 2, 3)).T)
        return np.stack(outs)

    def trace(self, frames: np.ndarray) -> dict[str, np.ndarray]:
        """Per-layer outputs in IR integers for frames (T, C, H, W) from a reset state: {IR layer name: (T, ...)}.

        Needs ``convert(..., trace=True)`` (the library is then compiled with tracing; ``predict`` is unaffected).
        Uses hls4ml's ``ModelGraph.trace`` without its recompilation, so the state is only reset by the flag.
        """
        if not self.design.trace:
            raise PleiadesError("convert the model with trace=True to trace its layers")
        if not self._compiled:
            raise PleiadesError("compile() the hls4ml model before tracing it")
        self.hls_model.compile = lambda: None  # hls4ml's trace() recompiles; the library is already traced
        try:
            _, traced = self.hls_model.trace(self.encode_inputs(frames, True))
        finally:
            del self.hls_model.compile
        self._reset_pending = False
        out = {}
        for layer in self.design.ir.layers[1:]:
            name = hls_name(layer.name)
            if name in traced:
                out[layer.name] = np.asarray(traced[name]) * 2.0 ** (-self.design.exponents[layer.output])
        return out
