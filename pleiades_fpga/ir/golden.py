"""Integer golden model: runs the IR (``pleiades_fpga.ir.graph``) read from a QONNX file with exact integer arithmetic.

Requantization is multiplier + shift with round half to even and saturation (docs/ARCHITECTURE.md,
"Integer arithmetic"); no thresholds. Two modes that agree exactly:

- ``run(clip)``: the whole clip (B, C, T, H, W) at once, temporal layers from a reset state (causal zero padding);
- ``init_state(batch)`` + ``step(frame, state)``: frame by frame, each stateful layer keeping its streaming state
  (a temporal conv the last K-1 input frames, a projection its D states per channel and pixel; zero at reset,
  like the hardware).

Each layer runs through its kind (``pleiades_fpga.ir.kinds``: ``prepare``, ``init_state``, ``golden``).
Saturated projection states are counted per layer in ``GoldenModel.saturation`` (they never should be, by
analysis).

Speed: arrays are kept channel-last (B, T, H, W, C) and contractions are BLAS matmuls on integer values
in float32 when every possible partial sum is below 2**24 in magnitude (from the weights and the input
ranges), else in float64 (below 2**53, checked): either way the arithmetic is exact. Rounding, shifts and
clamps are done in int64. ``run(clip, chunk=n)`` streams chunks of n frames through the same state as
``step`` (bounded memory for long clips / large frames).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pleiades_fpga.errors import PleiadesError, UnsupportedModelError
from pleiades_fpga.ir.graph import IRGraph
from pleiades_fpga.ir.kinds import GoldenLayer, get_kind
from pleiades_fpga.ir.reader import read_qonnx

EXACT_BITS = 53


@dataclass
class GoldenState:
    """Streaming state: per layer name, its kind's state (None for stateless layers)."""

    layers: dict[str, Any] = field(default_factory=dict)


class GoldenModel:
    """Exact integer execution of an ``IRGraph`` (see module docstring)."""

    def __init__(self, ir: IRGraph) -> None:
        self.ir = ir
        bound = max(get_kind(layer.kind).abs_bound(layer, ir.tensors.get(layer.inputs[0])) for layer in ir.layers)
        if bound >= 2**EXACT_BITS:
            raise UnsupportedModelError(
                f"partial sums up to {bound} exceed the exact float64 range (2**{EXACT_BITS}); weights/activations too wide"
            )
        self.dtype = np.float32 if bound < 2**24 else np.float64
        self._runs = {layer.name: GoldenLayer(layer, self.dtype) for layer in ir.layers}
        for run in self._runs.values():
            get_kind(run.layer.kind).prepare(run)

    @property
    def saturation(self) -> dict[str, int]:
        """Saturated values per layer of a kind that counts them (projection states), since construction."""
        return {name: run.saturated for name, run in self._runs.items() if get_kind(run.layer.kind).counts_saturation}

    @classmethod
    def from_qonnx(cls, path: str | Path) -> "GoldenModel":
        """Golden model of a QONNX file (see ``pleiades_fpga.ir.reader``)."""
        return cls(read_qonnx(path))

    def _forward(self, x: np.ndarray, state: GoldenState | None, trace: bool) -> tuple[np.ndarray, dict]:
        env = {self.ir.input: x}
        for layer in self.ir.layers:
            xs = [env[name] for name in layer.inputs]
            layer_state = None if state is None else state.layers[layer.name]
            env[layer.output] = get_kind(layer.kind).golden(self._runs[layer.name], xs, layer_state)
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

    def quantize_input(self, clip: np.ndarray) -> np.ndarray:
        """The integers the design receives for a clip (B, C, T, H, W) of event counts: the input layer's output,
        (B, C, T, H, W) int64."""
        layer = self.ir.layers[0]
        x = self._check_clip(clip).transpose(0, 2, 3, 4, 1).astype(self.dtype)
        q = get_kind(layer.kind).golden(self._runs[layer.name], [x], None)
        return q.transpose(0, 4, 1, 2, 3).astype(np.int64)

    def init_state(self, batch: int) -> GoldenState:
        """Reset state: every layer's kind state after reset (zeroed temporal windows, zero projection states)."""
        state = GoldenState()
        for layer in self.ir.layers:
            x = self.ir.tensors.get(layer.inputs[0])
            state.layers[layer.name] = get_kind(layer.kind).init_state(layer, x, batch, self.dtype)
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
        """Float logits from integer outputs (B, classes, T...), in float64 (a float32 executor such as qonnx rounds
        the same products differently when the scales are not powers of two: compare integers, not floats)."""
        s = self.output_scale.reshape(-1, *([1] * (y.ndim - 2)))
        return y.astype(np.float64) * s

    def forward(self, clip: np.ndarray) -> np.ndarray:
        """Dequantized logits of ``run`` (B, classes, T) float64."""
        return self.dequantize(self.run(clip))
