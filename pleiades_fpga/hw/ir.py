"""Integer IR of a quantized PLEIADES network: what the golden model runs and the RTL generators consume.

Built from a QONNX file by ``pleiades_fpga.hw.qonnx_reader.read_qonnx`` (never from PyTorch). One
``IRGraph`` holds integer tensors (``TensorSpec``) and layers (``Layer``) in topological order.

Tensors are per-frame feature maps (channels, height, width) of integers, one frame per time step
(time is the streaming axis). ``value = integer * scale`` (``scale`` per tensor, or per channel for an
un-requantized accumulator output), zero point 0, ``bits`` wide, ``signed`` (two's complement) or
unsigned.

Layer kinds (``Layer.kind``) and their exact integer semantics (docs/ARCHITECTURE.md, "Integer arithmetic"):

- ``"input"``: float event counts -> ``clamp(round_half_even(x / in_scale), lo, hi)`` (in_scale is 1 for
  the default input quantizer, so it is a clip of integer counts to ``[0, 2**bits - 1]``).
- ``"conv"``: ``acc[o] = sum_{i in group(o), kt, kh, kw} weight[o, i, kt, kh, kw] * x[...] + bias[o]``,
  ``weight`` int64 (out, in/groups, KT, KH, KW), ``bias`` int64 (out,) at the accumulator scale
  ``in_scale * weight_scale[o]``. ``role``: "temporal" (KT > 1, KH = KW = 1: causal along time, the
  hardware keeps the last KT-1 input frames per channel and pixel, zero after reset; tap 0 = oldest),
  "spatial" (KT = 1, KH x KW window, ``stride``, zero ``padding`` (ph, pw) on both sides) or
  "pointwise" (1x1x1, includes the head's dense layers on 1x1 maps).
- ``"add"``: ``acc = a + b`` of two inputs with the same scale (both quantized by one shared quantizer).
- ``"mean"``: ``acc[c] = sum_{h, w} x[c, h, w]``; the division by H*W (a power of two) is folded into the
  requantization shift.
- ``"projection"`` (recurrent temporal layer, issue #6; ``pleiades_fpga.hw.projection``): per input channel c
  and pixel, states s in Z^D (D = ``state_dim``, signed ``out_bits``, zero after reset):
  ``acc[n] = sum_m proj_A[n, m] * s_prev[c, m] + proj_B[n] * x[c]``,
  ``s[c, n] = clamp(round_half_even(acc[n] / 2**frac_bits), lo, hi)``; the output tensor (C*D, H, W) is s,
  channel ``c*D + n``. ``requant`` is False (the state update has its own rounding), ``out_scale`` = state
  scale. ``in_channels`` = C, ``out_channels`` = C*D. The readout is a following "pointwise" conv (groups 1
  or C).

After the accumulator every layer except the last requantizes per output channel c:
``y = clamp(round_half_even(acc * M[c] / 2**S[c]), lo, hi)`` with ``M`` >= 1, ``S`` >= 0 int64
(power-of-two scales: M = 1 unless the scale ratio is > 1), ``lo, hi`` from the output width and
signedness (ReLU is fused: ``relu=True`` layers have unsigned outputs and lo = 0). A layer with
``requant=False`` outputs its accumulator (the logits: ``value = acc * out_scale[c]``).
``acc_bits`` is the minimal signed width that cannot overflow for any input in range (worst case over
channels, from the actual integer weights and bias).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pleiades_fpga.integers import int_range

LAYER_KINDS = ("input", "conv", "add", "mean", "projection")
CONV_ROLES = ("temporal", "spatial", "pointwise")


def round_shift(v: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """round_half_even(v / 2**shift) for int64 ``v`` and non-negative int64 ``shift`` (broadcast).

    For S > 0: ``(v + 2**(S-1) - 1 + ((v >> S) & 1)) >> S`` (arithmetic shifts, i.e. floor division): adds
    just under one half, plus one more unit when the truncated quotient is odd, so exact ties go to even.
    """
    v = np.asarray(v, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    if not np.any(shift):
        return v.copy()
    pos = shift > 0
    bias = np.where(pos, np.left_shift(np.int64(1), np.maximum(shift - 1, 0)) - 1, 0)
    return np.right_shift(v + bias + (np.right_shift(v, shift) & pos.astype(np.int64)), shift)


def requantize(acc: np.ndarray, multiplier: np.ndarray, shift: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """clamp(round_half_even(acc * M / 2**S), lo, hi) per channel (last axis), int64."""
    return np.clip(round_shift(np.asarray(acc, dtype=np.int64) * multiplier, shift), lo, hi)


@dataclass
class TensorSpec:
    """An integer feature map per frame: (channels, height, width), ``bits``, ``signed``, ``scale``."""

    name: str
    channels: int
    height: int
    width: int
    bits: int
    signed: bool
    scale: np.ndarray  # float64, shape () or (channels,)

    @property
    def lo(self) -> int:
        return int_range(self.bits, self.signed)[0]

    @property
    def hi(self) -> int:
        return int_range(self.bits, self.signed)[1]


@dataclass
class Layer:
    """One IR layer (see the module docstring for the semantics of each kind)."""

    name: str
    kind: str
    inputs: list[str]
    output: str
    # conv only
    role: str | None = None
    in_channels: int = 0
    out_channels: int = 0
    groups: int = 1
    kernel: tuple[int, int, int] = (1, 1, 1)  # (KT, KH, KW)
    stride: tuple[int, int] = (1, 1)  # (sh, sw)
    padding: tuple[int, int] = (0, 0)  # (ph, pw), both sides; time is causal (KT-1 zeros in front)
    weight: np.ndarray | None = None  # int64 (out, in/groups, KT, KH, KW)
    weight_bits: int = 0
    weight_scale: np.ndarray | None = None  # float64 (out,)
    bias: np.ndarray | None = None  # int64 (out,), at the accumulator scale
    # every kind
    in_bits: int = 0
    in_signed: bool = False
    in_scale: float = 1.0
    acc_bits: int = 0
    acc_scale: np.ndarray | None = None  # float64 (out,) or ()
    requant: bool = True
    multiplier: np.ndarray | None = None  # int64 (out,), M
    shift: np.ndarray | None = None  # int64 (out,), S
    relu: bool = False
    out_bits: int = 0
    out_signed: bool = False
    out_scale: np.ndarray | None = None  # float64 () after requant, (out,) for requant=False
    pool_size: int = 1  # mean only: H*W averaged
    # projection only (see module docstring)
    proj_A: np.ndarray | None = None  # int64 (D, D)
    proj_B: np.ndarray | None = None  # int64 (D,)
    frac_bits: int = 0  # F
    state_dim: int = 0  # D
    window: int = 0  # the temporal kernel size K this projection replaces (0: unknown; memory report only)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (arrays as nested lists)."""
        out = {}
        for key, val in self.__dict__.items():
            out[key] = val.tolist() if isinstance(val, np.ndarray) else list(val) if isinstance(val, tuple) else val
        return out


@dataclass
class IRGraph:
    """Tensors + layers (topological order) + the input/output tensor names and the file's metadata.

    ``output_squeeze``: the network output is the output tensor (B, C, T, 1, 1) with the last two axes dropped.
    """

    input: str
    output: str
    tensors: dict[str, TensorSpec]
    layers: list[Layer]
    metadata: dict[str, Any] = field(default_factory=dict)
    output_squeeze: bool = True

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def consumers(self, tensor: str) -> list[Layer]:
        """Layers reading ``tensor`` (graph connections; a DWS block input feeds its temporal conv and skip)."""
        return [layer for layer in self.layers if tensor in layer.inputs]

    def temporal_layers(self) -> list[Layer]:
        return [layer for layer in self.layers if layer.role == "temporal"]

    def summary(self) -> str:
        """One line per layer: kind/role, shapes, widths, acc bits."""
        lines = []
        for layer in self.layers:
            t = self.tensors[layer.output]
            desc = f"{layer.name:<24} {layer.kind:<5} {layer.role or '':<9} -> ({t.channels},{t.height},{t.width})"
            if layer.kind == "conv":
                desc += f" k={layer.kernel} g={layer.groups} w{layer.weight_bits}"
            if layer.kind == "projection":
                desc += f" D={layer.state_dim} F={layer.frac_bits}"
            desc += f" in{layer.in_bits}{'s' if layer.in_signed else 'u'} acc{layer.acc_bits}"
            desc += f" out{layer.out_bits}{'s' if layer.out_signed else 'u'}" \
                if layer.requant or layer.kind == "projection" else " out=acc"
            lines.append(desc)
        return "\n".join(lines)

    def to_json(self) -> str:
        """The whole IR as JSON (weights included)."""
        return json.dumps({
            "input": self.input, "output": self.output, "output_squeeze": self.output_squeeze,
            "metadata": self.metadata,
            "tensors": {k: {**{f: getattr(v, f) for f in ("name", "channels", "height", "width", "bits", "signed")},
                            "scale": np.asarray(v.scale).tolist()} for k, v in self.tensors.items()},
            "layers": [layer.to_dict() for layer in self.layers],
        })
