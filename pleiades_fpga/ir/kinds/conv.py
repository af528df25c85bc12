"""IR kind "conv": ``acc[o] = sum_{i in group(o), kt, kh, kw} weight[o, i, kt, kh, kw] * x[...] + bias[o]``, then
requantized (or, the last layer, the logits). Read from an ONNX ``Conv`` (3D) with constant Quant weight and bias.

Parameters (``ConvParams``): ``weight`` int64 (out, in/groups, KT, KH, KW), ``bias`` int64 (out,) at the
accumulator scale ``in_scale * weight_scale[o]``. ``role`` (one of ``CONV_ROLES``): "temporal" (KT > 1, KH = KW = 1: causal along
time, the hardware keeps the last KT-1 input frames per channel and pixel, zero after reset; tap 0 = oldest),
"spatial" (KT = 1, KH x KW window, ``stride``, zero ``padding`` (ph, pw) on both sides) or "pointwise" (1x1x1,
includes the head's dense layers on 1x1 maps). ``acc_bits``: the worst case over the input range.

Golden model: contractions are BLAS matmuls on integer values in the golden dtype (exact, see
``pleiades_fpga.ir.golden``); a temporal conv streams through a circular buffer of its last K-1 input frames.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from numpy.lib.stride_tricks import sliding_window_view

from pleiades_fpga.ir.graph import Layer, LayerParams, TensorSpec
from pleiades_fpga.ir.integers import signed_bits_for
from pleiades_fpga.ir.kinds.registry import GoldenLayer, Kind, register, requantized
from pleiades_fpga.ir.read_context import Pending, ReadContext, node_attrs

CONV_ROLES = ("temporal", "spatial", "pointwise")


@dataclass
class ConvParams(LayerParams):
    """Parameters of a conv layer (see the module docstring)."""

    role: str  # one of CONV_ROLES
    weight: np.ndarray  # int64 (out, in/groups, KT, KH, KW)
    weight_bits: int
    weight_scale: np.ndarray  # float64 (out,)
    bias: np.ndarray  # int64 (out,), at the accumulator scale
    groups: int = 1
    kernel: tuple[int, int, int] = (1, 1, 1)  # (KT, KH, KW)
    stride: tuple[int, int] = (1, 1)  # (sh, sw)
    padding: tuple[int, int] = (0, 0)  # (ph, pw), both sides; time is causal (KT-1 zeros in front)

    @property
    def temporal(self) -> bool:
        return self.role == "temporal"

    @property
    def history_frames(self) -> int:
        return self.kernel[0] - 1 if self.temporal else 0


@dataclass
class TemporalWindow:
    """Streaming state of a temporal conv: the last K-1 input frames (B, K-1, H, W, C) and the oldest slot."""

    frames: np.ndarray
    pointer: int = 0


def grouped_matmul(cols: np.ndarray, w2: np.ndarray, groups: int, cin_g: int, taps: int) -> np.ndarray:
    """cols (..., C*taps) ordered (c, tap); w2 (O, cin_g*taps). Grouped contraction -> (..., O)."""
    out_ch = w2.shape[0]
    if groups == 1:
        return cols @ w2.T
    og = out_ch // groups
    if cin_g == 1 and og == 1:  # depthwise
        c = cols.reshape(*cols.shape[:-1], groups, taps)
        return (c * w2).sum(axis=-1)
    parts = []
    for g in range(groups):
        parts.append(cols[..., g * cin_g * taps:(g + 1) * cin_g * taps] @ w2[g * og:(g + 1) * og].T)
    return np.concatenate(parts, axis=-1)


@register
class ConvKind(Kind):
    name = "conv"
    onnx_ops = ("Conv",)

    def read(self, ctx: ReadContext, node: onnx.NodeProto) -> None:
        x = ctx.input_act(node, node.input[0])
        if node.input[1] not in ctx.consts:
            raise ctx.fail(node, "the weight must be a constant Quant node (QONNX)")
        w, ws, wbits, _, _ = ctx.consts[node.input[1]]
        if w.ndim != 5:
            raise ctx.fail(node, f"only 3D convolutions over (B, C, T, H, W) are supported, weight is {w.ndim}-D")
        a = node_attrs(node)
        groups = int(a.get("group", 1))
        kt, kh, kw = w.shape[2:]
        pads = list(a.get("pads", [0] * 6))
        strides = list(a.get("strides", [1, 1, 1]))
        if any(d != 1 for d in a.get("dilations", [1, 1, 1])):
            raise ctx.fail(node, "dilated convolutions are not supported")
        if strides[0] != 1:
            raise ctx.fail(node, "a stride along time is not supported")
        if pads[0] != kt - 1 or pads[3] != 0:
            raise ctx.fail(node, f"time padding must be causal (K-1={kt - 1} frames in front, none after), got {pads}")
        if pads[1] != pads[4] or pads[2] != pads[5]:
            raise ctx.fail(node, f"spatial padding must be symmetric, got {pads}")
        out_ch = w.shape[0]
        wscale = np.broadcast_to(ws.reshape(-1), (out_ch,)).astype(np.float64)
        acc_scale = float(x.scale) * wscale
        bias = np.zeros(out_ch, dtype=np.int64)
        if len(node.input) > 2 and node.input[2]:
            if node.input[2] not in ctx.consts:
                raise ctx.fail(node, "the bias must be a constant Quant node (QONNX)")
            b, bs, _, _, _ = ctx.consts[node.input[2]]
            bs = np.broadcast_to(bs.reshape(-1), (out_ch,))
            if not np.allclose(bs, acc_scale, rtol=0, atol=0):
                raise ctx.fail(node, "the bias scale must equal input scale x weight scale (accumulator scale)")
            bias = b.reshape(-1).astype(np.int64)
        role = "temporal" if kt > 1 else ("spatial" if kh * kw > 1 else "pointwise")
        if kt > 1 and kh * kw > 1:
            raise ctx.fail(node, "a conv must be temporal (K,1,1) or spatial (1,k,k), not both")
        layer = Layer(
            name=ctx.conv_names.get(node.name) or ctx.name(role), kind="conv", inputs=[node.input[0]],
            output=node.output[0],
            params=ConvParams(role=role, weight=w, weight_bits=wbits, weight_scale=wscale, bias=bias, groups=groups,
                              kernel=(kt, kh, kw), stride=(strides[1], strides[2]), padding=(pads[1], pads[2])),
            in_channels=x.channels, out_channels=out_ch, in_bits=x.bits, in_signed=x.signed, in_scale=float(x.scale),
            acc_bits=conv_acc_bits(w, bias, x), acc_scale=acc_scale,
        )
        ctx.pending[node.output[0]] = Pending(layer)

    def role(self, layer: Layer) -> str:
        return layer.params.role

    def describe(self, layer: Layer) -> str:
        p = layer.params
        return f" k={p.kernel} g={p.groups} w{p.weight_bits}"

    def abs_bound(self, layer: Layer, x: TensorSpec | None) -> int:
        amax = max(abs(x.lo), abs(x.hi))
        w = np.abs(layer.params.weight.reshape(layer.out_channels, -1)).sum(axis=1)
        return int((w * amax + np.abs(layer.params.bias)).max())

    def prepare(self, run: GoldenLayer) -> None:
        """Weights as a matrix (O, cin_g*taps): temporal ordered (c, k), else (c, i, j)."""
        layer, p = run.layer, run.layer.params
        w = p.weight.astype(run.dtype)
        run.const = (w[:, :, :, 0, 0] if p.temporal else w[:, :, 0]).reshape(layer.out_channels, -1)

    def init_state(self, layer: Layer, x: TensorSpec, batch: int, dtype: type) -> TemporalWindow | None:
        if not layer.params.temporal:
            return None
        return TemporalWindow(np.zeros((batch, layer.params.kernel[0] - 1, x.height, x.width, x.channels), dtype=dtype))

    def golden(self, run: GoldenLayer, xs: list[np.ndarray], state: TemporalWindow | None) -> np.ndarray:
        p, x = run.layer.params, xs[0]
        if not p.temporal:
            return requantized(run, _spatial(run, x) + p.bias)
        k = p.kernel[0]
        if state is None:  # whole clip, causal zero padding
            window = np.pad(x, ((0, 0), (k - 1, 0), (0, 0), (0, 0), (0, 0)))
            return requantized(run, _temporal(run, window) + p.bias)
        buf, ptr = state.frames, state.pointer
        order = [(ptr + i) % (k - 1) for i in range(k - 1)]
        window = np.concatenate([buf[:, order], x], axis=1)  # oldest -> newest
        if x.shape[1] == 1:  # one frame: overwrite the oldest slot, advance the pointer
            buf[:, ptr] = x[:, 0]
            state.pointer = (ptr + 1) % (k - 1)
        else:  # a chunk: keep its last K-1 frames, in order
            buf[:] = window[:, -(k - 1):]
            state.pointer = 0
        return requantized(run, _temporal(run, window) + p.bias)


def conv_acc_bits(w: np.ndarray, bias: np.ndarray, x: TensorSpec) -> int:
    """Minimal signed accumulator width of ``sum(w * x) + bias`` over every x in the input's range."""
    wf = w.reshape(w.shape[0], -1)
    hi_terms = np.maximum(wf * x.hi, wf * x.lo).sum(axis=1) + bias
    lo_terms = np.minimum(wf * x.hi, wf * x.lo).sum(axis=1) + bias
    return signed_bits_for(int(lo_terms.min()), int(hi_terms.max()))


def _temporal(run: GoldenLayer, window: np.ndarray) -> np.ndarray:
    """Valid temporal conv over a window (B, T+K-1, H, W, C) -> (B, T, H, W, O)."""
    layer, p = run.layer, run.layer.params
    k = p.kernel[0]
    win = sliding_window_view(window, k, axis=1)  # (B, T, H, W, C, K)
    cols = win.reshape(*win.shape[:4], -1)
    return grouped_matmul(cols, run.const, p.groups, layer.in_channels // p.groups, k)


def _spatial(run: GoldenLayer, x: np.ndarray) -> np.ndarray:
    """Spatial / pointwise conv of every frame (B, T, H, W, C) -> (B, T, Ho, Wo, O)."""
    layer, p = run.layer, run.layer.params
    _, kh, kw = p.kernel
    sh, sw = p.stride
    ph, pw = p.padding
    if kh == kw == 1 and sh == sw == 1 and ph == pw == 0:
        cols = x
    else:
        b, t, h, w, c = x.shape
        xp = np.zeros((b, t, h + 2 * ph, w + 2 * pw, c), dtype=run.dtype)
        xp[:, :, ph:ph + h, pw:pw + w] = x
        win = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]  # (B,T,Ho,Wo,C,kh,kw)
        cols = win.reshape(*win.shape[:4], -1)
    return grouped_matmul(cols, run.const, p.groups, layer.in_channels // p.groups, kh * kw)
