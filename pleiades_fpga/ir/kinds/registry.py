"""The layer-kind registry: ``Kind`` (what one IR layer kind provides to every IR stage) and ``register``.

A kind module (``pleiades_fpga.ir.kinds.<kind>``) subclasses ``Kind`` and decorates it with ``@register``; the
package ``pleiades_fpga.ir.kinds`` imports every kind module, so ``KINDS``/``get_kind`` know all of them once it
is imported. Stages dispatch through ``get_kind(layer.kind)``, never on kind strings.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import onnx

from pleiades_fpga.errors import UnsupportedModelError
from pleiades_fpga.ir.graph import Layer, TensorSpec
from pleiades_fpga.ir.integers import int_range, requantize
from pleiades_fpga.ir.read_context import ReadContext


@dataclass
class GoldenLayer:
    """One layer as the golden model runs it: the layer, the compute dtype of its activations (integer values
    in float32/float64, see ``pleiades_fpga.ir.golden``), the constants its kind prepared, a saturation count."""

    layer: Layer
    dtype: type
    const: Any = None
    saturated: int = 0


class Kind:
    """One IR layer kind. Subclasses set ``name`` (``Layer.kind``), ``onnx_ops`` (ONNX op types whose nodes
    ``read`` turns into layers) and override what differs from these defaults."""

    name: ClassVar[str] = ""
    onnx_ops: ClassVar[tuple[str, ...]] = ()
    counts_saturation: ClassVar[bool] = False  # the golden model reports ``GoldenLayer.saturated`` per layer

    # ---- reader (``pleiades_fpga.ir.reader``)
    def read(self, ctx: ReadContext, node: onnx.NodeProto) -> None:
        """Turn one ONNX node into a layer (appended to ``ctx.layers``) or a pending accumulator."""
        raise ctx.fail(node, f"layer kind {self.name!r} has no reader for this node")

    def requant_ratio(self, layer: Layer, out_scale: float) -> np.ndarray:
        """acc_scale / out_scale: the exact real factor the requantization (M / 2**S) implements."""
        return np.asarray(layer.acc_scale, dtype=np.float64) / out_scale

    def module_name(self, layer: Layer, producers: dict[str, Layer], layers: list[Layer]) -> str | None:
        """The layer's name after its neighbours' module names (files with ``pleiades.conv_names``), or None."""
        return None

    # ---- description and analysis
    def role(self, layer: Layer) -> str | None:
        """The layer's role within its kind (a conv: temporal / spatial / pointwise), or None."""
        return None

    def describe(self, layer: Layer) -> str:
        """Kind-specific part of the one-line summary (``pleiades_fpga.ir.summary``)."""
        return ""

    def outputs_accumulator(self, layer: Layer) -> bool:
        """True when the layer's output is its raw accumulator (no requantization, the logits)."""
        return not layer.requant

    def abs_bound(self, layer: Layer, x: TensorSpec | None) -> int:
        """Largest |partial sum| the golden model's float contraction can meet (x: the first input tensor)."""
        raise NotImplementedError(self.name)

    # ---- golden model (``pleiades_fpga.ir.golden``); arrays are channel-last (B, T, H, W, C)
    def prepare(self, run: GoldenLayer) -> None:
        """Check the layer can run exactly and set ``run.const`` (e.g. reshaped weights)."""

    def init_state(self, layer: Layer, x: TensorSpec, batch: int, dtype: type) -> Any:
        """Streaming state after reset (None: the kind has no state across frames)."""
        return None

    def golden(self, run: GoldenLayer, xs: list[np.ndarray], state: Any) -> np.ndarray:
        """Outputs for the frames of ``xs`` (one array per layer input); ``state`` None: a whole clip from reset."""
        raise NotImplementedError(self.name)


KINDS: dict[str, Kind] = {}


def register(cls: type[Kind]) -> type[Kind]:
    """Class decorator: add a kind (one instance) to ``KINDS`` under ``cls.name``."""
    if not cls.name or cls.name in KINDS:
        raise ValueError(f"layer kind name {cls.name!r} is empty or registered twice")
    KINDS[cls.name] = cls()
    return cls


def get_kind(name: str) -> Kind:
    """The registered kind ``name``; an unknown name raises ``UnsupportedModelError`` listing the known kinds."""
    try:
        return KINDS[name]
    except KeyError:
        raise UnsupportedModelError(f"unknown IR layer kind {name!r}; known kinds: {', '.join(sorted(KINDS))} "
                                    "(a new kind needs its module in pleiades_fpga/ir/kinds/)") from None


def requantized(run: GoldenLayer, acc: np.ndarray) -> np.ndarray:
    """The layer's output from its accumulator: requantized (ReLU fused) unless ``requant`` is False."""
    layer = run.layer
    if not layer.requant:
        return acc
    lo, hi = int_range(layer.out_bits, layer.out_signed)
    if layer.relu:
        lo = max(lo, 0)
    return requantize(acc.astype(np.int64), layer.multiplier, layer.shift, lo, hi).astype(run.dtype)
