"""Integer golden model: runs the IR (``pleiades_fpga.hw.ir``) read from a QONNX file with exact integer arithmetic.

Requantization is multiplier + shift with round half to even and saturation (docs/ARCHITECTURE.md,
"Integer arithmetic"); no thresholds. Two modes that agree exactly:

- ``run(clip)``: the whole clip (B, C, T, H, W) at once, temporal convs causally zero-padded;
- ``init_state(batch)`` + ``step(frame, state)``: frame by frame, one circular buffer of the last K-1
  input frames per temporal layer (zeroed at reset, like the hardware).

Recurrent temporal layers (IR kind "projection") keep D states per channel and pixel (zero at reset)
and are computed by ``pleiades_fpga.hw.projection.project_update`` in int64 in both modes; saturated
state values are counted per layer in ``GoldenModel.saturation`` (they never should be, by analysis).

Speed: arrays are kept channel-last (B, T, H, W, C) and contractions are BLAS matmuls on integer values
in float32 when every possible partial sum is below 2**24 in magnitude (from the weights and the input
ranges), else in float64 (below 2**53, checked): either way the arithmetic is exact. Rounding, shifts and
clamps are done in int64. ``run(clip, chunk=n)`` streams chunks of n frames through the same state as
``step`` (bounded memory for long clips / large frames).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from pleiades_fpga.errors import PleiadesError, UnsupportedModelError
from pleiades_fpga.hw.ir import IRGraph, Layer, requantize, round_shift
from pleiades_fpga.hw.projection import project_update
from pleiades_fpga.hw.qonnx_reader import read_qonnx
from pleiades_fpga.integers import int_range

EXACT_BITS = 53


def _grouped_matmul(cols: np.ndarray, w2: np.ndarray, groups: int, cin_g: int, taps: int) -> np.ndarray:
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


@dataclass
class GoldenState:
    """Streaming state: per temporal layer a circular buffer (B, K-1, H, W, C) and its write pointer."""

    buffers: dict[str, np.ndarray] = field(default_factory=dict)
    pointers: dict[str, int] = field(default_factory=dict)
    projections: dict[str, np.ndarray] = field(default_factory=dict)  # (B, H, W, C, D) int64 states


class GoldenModel:
    """Exact integer execution of an ``IRGraph`` (see module docstring)."""

    def __init__(self, ir: IRGraph) -> None:
        self.ir = ir
        bound = max(self._abs_bound(layer) for layer in ir.layers)
        if bound >= 2**EXACT_BITS:
            raise UnsupportedModelError(
                f"partial sums up to {bound} exceed the exact float64 range (2**{EXACT_BITS}); weights/activations too wide"
            )
        self.dtype = np.float32 if bound < 2**24 else np.float64
        for layer in ir.layers:
            if layer.kind == "projection" and layer.acc_bits > 63:
                raise UnsupportedModelError(f"projection layer {layer.name}: accumulator of {layer.acc_bits} bits "
                                            "exceeds int64; reduce frac_bits or the state width")
        self.saturation: dict[str, int] = {l.name: 0 for l in ir.layers if l.kind == "projection"}
        self._w2 = {}
        for layer in ir.layers:
            if layer.kind == "conv":
                w = layer.weight.astype(self.dtype)
                kt, kh, kw = layer.kernel
                if layer.role == "temporal":  # (O, cin_g, K) ordered (c, k)
                    self._w2[layer.name] = w[:, :, :, 0, 0].reshape(layer.out_channels, -1)
                else:  # (O, cin_g*kh*kw) ordered (c, i, j)
                    self._w2[layer.name] = w[:, :, 0].reshape(layer.out_channels, -1)

    def _abs_bound(self, layer: Layer) -> int:
        """Largest |partial sum| a layer can produce (any subset of its accumulator terms)."""
        if layer.kind in ("input", "projection"):  # projection: int64 update, only its states pass as floats
            return 2**layer.out_bits
        x = self.ir.tensors[layer.inputs[0]]
        amax = max(abs(x.lo), abs(x.hi))
        if layer.kind == "conv":
            w = np.abs(layer.weight.reshape(layer.out_channels, -1)).sum(axis=1)
            return int((w * amax + np.abs(layer.bias)).max())
        if layer.kind == "add":
            return 2 * amax
        return layer.pool_size * amax

    @classmethod
    def from_qonnx(cls, path: str | Path) -> "GoldenModel":
        """Golden model of a QONNX file (see ``pleiades_fpga.hw.qonnx_reader``)."""
        return cls(read_qonnx(path))

    # ---- layers on channel-last integer-valued float arrays (B, T, H, W, C) of dtype self.dtype
    def _finish(self, layer: Layer, acc: np.ndarray) -> np.ndarray:
        if layer.kind == "conv":
            acc = acc + layer.bias
        if not layer.requant:
            return acc
        lo, hi = int_range(layer.out_bits, layer.out_signed)
        if layer.relu:
            lo = max(lo, 0)
        return requantize(acc.astype(np.int64), layer.multiplier, layer.shift, lo, hi).astype(self.dtype)

    def _temporal(self, layer: Layer, window: np.ndarray) -> np.ndarray:
        """Valid temporal conv over a window (B, T+K-1, H, W, C) -> (B, T, H, W, O)."""
        k = layer.kernel[0]
        win = sliding_window_view(window, k, axis=1)  # (B, T, H, W, C, K)
        cols = win.reshape(*win.shape[:4], -1)
        cin_g = layer.in_channels // layer.groups
        return _grouped_matmul(cols, self._w2[layer.name], layer.groups, cin_g, k)

    def _spatial(self, layer: Layer, x: np.ndarray) -> np.ndarray:
        _, kh, kw = layer.kernel
        sh, sw = layer.stride
        ph, pw = layer.padding
        if kh == kw == 1 and sh == sw == 1 and ph == pw == 0:
            cols = x
        else:
            b, t, h, w, c = x.shape
            xp = np.zeros((b, t, h + 2 * ph, w + 2 * pw, c), dtype=self.dtype)
            xp[:, :, ph:ph + h, pw:pw + w] = x
            win = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]  # (B,T,Ho,Wo,C,kh,kw)
            cols = win.reshape(*win.shape[:4], -1)
        cin_g = layer.in_channels // layer.groups
        return _grouped_matmul(cols, self._w2[layer.name], layer.groups, cin_g, kh * kw)

    def _projection(self, layer: Layer, x: np.ndarray, state: GoldenState | None) -> np.ndarray:
        """States of every frame of x (B, T, H, W, C) -> (B, T, H, W, C*D), channel c*D+n (see ``hw.ir``)."""
        b, t_len, h, w, c = x.shape
        d = layer.state_dim
        s = np.zeros((b, h, w, c, d), np.int64) if state is None else state.projections[layer.name]
        xi = x.astype(np.int64)
        out = np.empty((b, t_len, h, w, c * d), dtype=self.dtype)
        for t in range(t_len):
            s, n_sat = project_update(xi[:, t], s, layer.proj_A, layer.proj_B, layer.frac_bits, layer.out_bits)
            self.saturation[layer.name] += n_sat
            out[:, t] = s.reshape(b, h, w, c * d)
        if state is not None:
            state.projections[layer.name] = s
        return out

    def _layer(self, layer: Layer, env: dict[str, np.ndarray], state: GoldenState | None) -> np.ndarray:
        if layer.kind == "input":
            x = env[layer.inputs[0]]
            lo, hi = int_range(layer.out_bits, layer.out_signed)
            return np.clip(np.round(x / float(layer.in_scale)), lo, hi).astype(self.dtype)
        x = env[layer.inputs[0]]
        if layer.kind == "add":
            return self._finish(layer, x + env[layer.inputs[1]])
        if layer.kind == "mean":
            return self._finish(layer, x.sum(axis=(2, 3), keepdims=True))
        if layer.kind == "projection":
            return self._projection(layer, x, state)
        if layer.role != "temporal":
            return self._finish(layer, self._spatial(layer, x))
        k = layer.kernel[0]
        if state is None:  # whole clip, causal zero padding
            window = np.pad(x, ((0, 0), (k - 1, 0), (0, 0), (0, 0), (0, 0)))
            return self._finish(layer, self._temporal(layer, window))
        buf = state.buffers[layer.name]
        ptr = state.pointers[layer.name]
        order = [(ptr + i) % (k - 1) for i in range(k - 1)]
        window = np.concatenate([buf[:, order], x], axis=1)  # oldest -> newest
        if x.shape[1] == 1:  # one frame: overwrite the oldest slot, advance the pointer
            buf[:, ptr] = x[:, 0]
            state.pointers[layer.name] = (ptr + 1) % (k - 1)
        else:  # a chunk: keep its last K-1 frames, in order
            buf[:] = window[:, -(k - 1):]
            state.pointers[layer.name] = 0
        return self._finish(layer, self._temporal(layer, window))

    def _forward(self, x: np.ndarray, state: GoldenState | None, trace: bool) -> tuple[np.ndarray, dict]:
        env = {self.ir.input: x}
        for layer in self.ir.layers:
            env[layer.output] = self._layer(layer, env, state)
        traced = {}
        if trace:
            traced = {layer.name: env[layer.output].transpose(0, 4, 1, 2, 3).astype(np.int64)
                      for layer in self.ir.layers}
        return env[self.ir.output], traced

    def _check_clip(self, clip: np.ndarray) -> np.ndarray:
        clip = np.asarray(clip, dtype=np.float64)
        first = self.ir.tensors[self.ir.layers[0].output]
        if clip.ndim != 5 or clip.shape[1] != first.channels:
            raise PleiadesError(f"golden model input must be (batch, {first.channels}, time, height, width), "
                                f"got {clip.shape}")
        return clip

    def _public(self, y: np.ndarray) -> np.ndarray:
        y = y.transpose(0, 4, 1, 2, 3).astype(np.int64)  # (B, C, T, H, W)
        return y[:, :, :, 0, 0] if self.ir.output_squeeze else y

    # ---- public API
    def run(self, clip: np.ndarray, trace: bool = False, chunk: int | None = None):
        """Integer outputs for a clip (B, C, T, H, W) of event counts: (B, classes, T) int64.

        ``trace=True`` also returns every layer's integer output (B, C, T, H, W), keyed by layer name.
        ``chunk=None``: the whole clip at once (causal zero padding); ``chunk=n``: n frames at a time through
        the streaming state (same result, bounded memory).
        """
        x = self._check_clip(clip).transpose(0, 2, 3, 4, 1).astype(self.dtype)
        if chunk is None:
            y, traced = self._forward(x, None, trace)
            return (self._public(y), traced) if trace else self._public(y)
        if chunk < 1:
            raise PleiadesError(f"chunk must be >= 1 frame, got {chunk}")
        state = self.init_state(x.shape[0])
        outs, traces = [], []
        for t0 in range(0, x.shape[1], chunk):
            y, traced = self._forward(x[:, t0:t0 + chunk], state, trace)
            outs.append(self._public(y))
            traces.append(traced)
        y = np.concatenate(outs, axis=2)
        if not trace:
            return y
        return y, {k: np.concatenate([t[k] for t in traces], axis=2) for k in traces[0]}

    def init_state(self, batch: int) -> GoldenState:
        """Reset state: zeroed circular buffers of K-1 frames for every temporal layer, zero projection states."""
        state = GoldenState()
        for layer in self.ir.temporal_layers():
            t = self.ir.tensors[layer.inputs[0]]
            state.buffers[layer.name] = np.zeros((batch, layer.kernel[0] - 1, t.height, t.width, t.channels),
                                                 dtype=self.dtype)
            state.pointers[layer.name] = 0
        for layer in self.ir.layers:
            if layer.kind == "projection":
                t = self.ir.tensors[layer.inputs[0]]
                state.projections[layer.name] = np.zeros((batch, t.height, t.width, t.channels, layer.state_dim),
                                                         np.int64)
        return state

    def step(self, frame: np.ndarray, state: GoldenState) -> tuple[np.ndarray, GoldenState]:
        """One frame (B, C, H, W) -> (integer outputs (B, classes), updated state)."""
        x = np.asarray(frame, dtype=self.dtype).transpose(0, 2, 3, 1)[:, None]
        y, _ = self._forward(x, state, False)
        return self._public(y)[:, :, 0], state

    def stream(self, clip: np.ndarray) -> np.ndarray:
        """``step`` over every frame of a clip from a reset state: (B, classes, T) int64."""
        clip = self._check_clip(clip)
        state = self.init_state(clip.shape[0])
        outs = [self.step(clip[:, :, t], state)[0] for t in range(clip.shape[2])]
        return np.stack(outs, axis=2)

    @property
    def output_scale(self) -> np.ndarray:
        """Per-class scale of the integer outputs."""
        return np.broadcast_to(np.asarray(self.ir.tensors[self.ir.output].scale, dtype=np.float64),
                               (self.ir.tensors[self.ir.output].channels,))

    def dequantize(self, y: np.ndarray) -> np.ndarray:
        """Float logits from integer outputs (B, classes, T...) (exact: scales are powers of two)."""
        s = self.output_scale.reshape(-1, *([1] * (y.ndim - 2)))
        return y.astype(np.float64) * s

    def forward(self, clip: np.ndarray) -> np.ndarray:
        """Dequantized logits of ``run`` (B, classes, T) float64."""
        return self.dequantize(self.run(clip))
