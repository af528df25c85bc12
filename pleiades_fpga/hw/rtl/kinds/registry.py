"""The registry of hardware kinds of the streaming RTL backend: ``HwKind``, ``@register``, ``hw_kind_of``.

A hardware kind is one template family, named like the manifest ``kind`` of its layers (``temporal_conv``,
``pointwise``, ``conv3x3``, ``avgpool``, ``add``, ``projection``, ``input``, ``fork``). Its module
``pleiades_fpga.hw.rtl.kinds.<name>`` subclasses ``HwKind`` with ``@register`` and holds everything the backend
knows about it: which IR layers it implements (``ir_kind``, ``ir_role``) and the checks on them, the legal
foldings, the cost model (cycles per frame, multipliers, MACs), the lowering (generated Verilog files and the
manifest fragment) and the resource-estimate terms (``report.estimate`` looks the kind up by manifest name).
The package ``__init__`` imports every module of the package, so a new kind is one new module.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from pleiades_fpga.errors import PleiadesError, UnsupportedModelError
from pleiades_fpga.hw.rtl.lowering import Fold, Lowered
from pleiades_fpga.ir.graph import IRGraph, Layer
from pleiades_fpga.ir.kinds import get_kind
from pleiades_fpga.toolflow.parts import Part


def manifest_int(item: dict[str, Any], key: str, default: int = 0) -> int:
    """Integer field ``key`` of a manifest layer or memory (``default`` when absent or null); a clear error naming
    the item when it is not an integer."""
    value = item.get(key, default)
    if value is None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise PleiadesError(f"layer {item.get('name', '?')!r}: field {key!r} must be an integer, got {value!r}") from exc


@dataclass
class EstimateInput:
    """One manifest layer as the resource estimator (``report.estimate``) reads it, on ``part`` with the family's
    calibration constants ``k``: the entry and the fields every estimate term uses."""

    entry: dict[str, Any]
    part: Part
    k: dict[str, float]
    pe: int
    simd: int
    mults: int
    in_bits: int
    out_bits: int
    w_bits: int
    acc_bits: int
    m_bits: int
    s_bits: int
    in_c: int
    out_c: int
    params: dict[str, Any]

    @property
    def in_width(self) -> int:
        return self.in_c * self.in_bits

    @property
    def out_width(self) -> int:
        return self.out_c * self.out_bits

    def int(self, key: str, default: int = 0) -> int:
        """Integer field ``key`` of the entry (``manifest_int``)."""
        return manifest_int(self.entry, key, default)


class HwKind:
    """One hardware kind. Subclasses set ``name`` (manifest kind), ``ir_kind``/``ir_role`` (the IR layers they
    implement; ``ir_kind`` None: inserted by the generator) and override what differs from these defaults."""

    name: ClassVar[str] = ""
    ir_kind: ClassVar[str | None] = None
    ir_role: ClassVar[str | None] = None  # ``ir.kinds.Kind.role`` of the layers (None: any)
    in_hardware: ClassVar[bool] = True  # False: done by the host (the input clip), not lowered
    input_ports: ClassVar[tuple[str, ...]] = ("s_axis",)  # the wrapper's input stream ports, one per layer input
    adds_latency: ClassVar[bool] = True  # a pipeline stage of the analytic latency (forks are not)
    pipeline_cycles: ClassVar[int] = 0  # pipeline depth of the engine (cycles) in the analytic latency
    # estimate structure (``report.estimate``)
    requant_lanes: ClassVar[bool] = False  # one requantizer per PE lane
    output_queue: ClassVar[bool] = False  # partial output vector + 2-beat output queue
    control_share: ClassVar[float | None] = None  # share of the family's control LUTs (None: 20 LUTs)

    def frames_held(self, layer: Layer) -> int:
        """Whole frames the engine takes in before it emits the first output of a frame (0: it streams). A fork's
        skip FIFO holds that many frames of the branch it bypasses (``kinds.fork``)."""
        return 0

    def check(self, layer: Layer) -> None:
        """Raise ``UnsupportedModelError`` naming the layer when this kind cannot build it."""

    def candidate_folds(self, layer: Layer) -> list[Fold]:
        """Legal foldings of the layer."""
        return [Fold()]

    def cost(self, graph: IRGraph, layer: Layer, fold: Fold) -> dict[str, int]:
        """``cycles_per_frame``, ``multipliers`` and ``macs_per_frame`` of the layer at ``fold``."""
        raise NotImplementedError(self.name)

    def lower(self, graph: IRGraph, layer: Layer, name: str, fold: Fold) -> Lowered:
        """The generated wrapper module ``name`` of the layer and its manifest fragment."""
        raise NotImplementedError(self.name)

    def latency_cycles(self, entry: dict[str, Any]) -> int:
        """Cycles the layer adds to the analytic latency: about one output pixel of its own work and its pipeline."""
        return -(-entry["cycles_per_frame"] // max(1, entry["out_shape"][1] * entry["out_shape"][2])) \
            + self.pipeline_cycles

    def reset_cycles(self, entry: dict[str, Any]) -> int:
        """Cycles after reset before the layer accepts input (memory clear), from its manifest entry."""
        return 0

    # ---- resource-estimate terms (``report.estimate.estimate_layer``)
    def stream_ff(self, est: EstimateInput) -> float:
        """Flip-flops of the stream registers and control: input and output beats by default."""
        return est.in_width + est.out_width + est.k["ctrl_ff"]

    def estimate_terms(self, est: EstimateInput) -> tuple[float, float, float]:
        """Kind-specific (lut, ff, dsp) beyond the shared terms (MAC lanes, requantizers, stream registers)."""
        return 0.0, 0.0, 0.0


HW_KINDS: dict[str, HwKind] = {}
_BY_IR: dict[tuple[str, str | None], HwKind] = {}


def register(cls: type[HwKind]) -> type[HwKind]:
    """Class decorator: add a hardware kind (one instance) under ``cls.name`` and its (IR kind, role)."""
    if not cls.name or cls.name in HW_KINDS:
        raise ValueError(f"hardware kind name {cls.name!r} is empty or registered twice")
    kind = cls()
    if cls.ir_kind is not None:
        if (cls.ir_kind, cls.ir_role) in _BY_IR:
            raise ValueError(f"IR kind {cls.ir_kind!r} role {cls.ir_role!r} has two hardware kinds")
        _BY_IR[(cls.ir_kind, cls.ir_role)] = kind
    HW_KINDS[cls.name] = kind
    return cls


def hw_kind(name: str) -> HwKind:
    """The hardware kind of manifest kind ``name``; an unknown name raises ``PleiadesError`` listing the known."""
    try:
        return HW_KINDS[name]
    except KeyError:
        raise PleiadesError(f"unknown hardware kind {name!r} in the manifest; known kinds: "
                            f"{', '.join(sorted(HW_KINDS))} (regenerate the build with `pleiades-fpga build`)") from None


def hw_kind_of(layer: Layer) -> HwKind:
    """The hardware kind implementing an IR layer, after its checks (``UnsupportedModelError`` naming the layer)."""
    role = get_kind(layer.kind).role(layer)
    kind = _BY_IR.get((layer.kind, role)) or _BY_IR.get((layer.kind, None))
    if kind is None:
        what = f"kind {layer.kind!r}" + (f" (role {role!r})" if role else "")
        raise UnsupportedModelError(f"layer {layer.name}: {what} has no RTL template (hardware kinds: "
                                    f"{', '.join(sorted(HW_KINDS))})")
    kind.check(layer)
    return kind


def hardware_layers(graph: IRGraph) -> list[Layer]:
    """The layers the generated design implements (all but those the host does), each checked."""
    return [layer for layer in graph.layers if hw_kind_of(layer).in_hardware]
