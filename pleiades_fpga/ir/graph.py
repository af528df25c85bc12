"""Integer IR of a quantized PLEIADES network: what the golden model runs and the RTL generators consume.

Built from a QONNX file by ``pleiades_fpga.ir.reader.read_qonnx`` (never from PyTorch). One
``IRGraph`` holds integer tensors (``TensorSpec``) and layers (``Layer``) in topological order.

Tensors are per-frame feature maps (channels, height, width) of integers, one frame per time step
(time is the streaming axis). ``value = integer * scale`` (``scale`` per tensor, or per channel for an
un-requantized accumulator output), zero point 0, ``bits`` wide, ``signed`` (two's complement) or
unsigned.

Layer kinds (``Layer.kind``): one module per kind under ``pleiades_fpga.ir.kinds`` holds its exact integer
semantics (module docstring), its QONNX reader handler, its golden step and its accumulator analysis; the
registry ``pleiades_fpga.ir.kinds.KINDS`` lists them ("input", "conv", "add", "avgpool", "projection", ...).
``Layer`` holds what every kind has (connections, widths, scales, requantization); the kind's own parameters
are ``Layer.params``, a dataclass defined in the kind's module (``ConvParams``, ``AvgPoolParams``,
``ProjectionParams``; ``LayerParams`` itself for a kind without parameters).

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
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from pleiades_fpga.ir.integers import int_range


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


def _jsonable(val: Any) -> Any:
    return val.tolist() if isinstance(val, np.ndarray) else list(val) if isinstance(val, tuple) else val


@dataclass
class LayerParams:
    """Typed parameters of one layer kind: subclassed (a dataclass) in the kind's module, e.g.
    ``pleiades_fpga.ir.kinds.conv.ConvParams``; this base (no fields) is the parameters of a kind without any."""

    @property
    def temporal(self) -> bool:
        """True when the layer keeps state across frames (a temporal conv's window, a projection's states)."""
        return False

    @property
    def history_frames(self) -> int:
        """Past input frames the layer keeps (a temporal conv: K-1; 0 for every other layer)."""
        return 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (arrays as nested lists)."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}


@dataclass
class Layer:
    """One IR layer: what every kind has; the kind's own parameters are ``params`` (the kind's module in
    ``pleiades_fpga.ir.kinds`` defines their type and the layer's semantics)."""

    name: str
    kind: str
    inputs: list[str]
    output: str
    params: LayerParams = field(default_factory=LayerParams)
    in_channels: int = 0
    out_channels: int = 0
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (arrays as nested lists; ``params`` nested)."""
        out = {f.name: _jsonable(getattr(self, f.name)) for f in fields(self) if f.name != "params"}
        out["params"] = self.params.to_dict()
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
        """The temporal layers: those keeping state across frames (``LayerParams.temporal``)."""
        return [layer for layer in self.layers if layer.params.temporal]

    def to_json(self) -> str:
        """The whole IR as JSON (weights included)."""
        return json.dumps({
            "input": self.input, "output": self.output, "output_squeeze": self.output_squeeze,
            "metadata": self.metadata,
            "tensors": {k: {**{f: getattr(v, f) for f in ("name", "channels", "height", "width", "bits", "signed")},
                            "scale": np.asarray(v.scale).tolist()} for k, v in self.tensors.items()},
            "layers": [layer.to_dict() for layer in self.layers],
        })
