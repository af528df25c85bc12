"""Folding (PE x SIMD per layer) and the per-layer cost model of the streaming RTL backend.

A layer's cost is what its template needs per frame (cycles, multipliers, MACs, memories), from the
analytic cycle models next to the templates (``cycles.py``, ``cycles_spatial.py``). The default
folding balances the dataflow pipeline like FINN's SetFolding: every layer gets the cheapest folding
(fewest multipliers) that meets a target number of cycles per frame; the default target is the
slowest layer's best achievable rate (the temporal layers need at least K cycles per pixel), or the
rate a ``target_fps`` at ``clock_mhz`` asks for, whichever is larger. The MAC engines' folds carry their MAC
mode (``lowering.default_mac``: two products per multiplier where the widths allow, LUT multipliers for the
one-product lanes of <= 4-bit depthwise engines), so a multiplier budget buys about twice the MACs at <= 5 bits.
A multiplier budget counts multiplier blocks of the default part (18x18, the narrowest known): the MAC lanes' and
the requantizers' (one acc x M product per PE lane when M needs more than 1 bit: dyadic scales), as the estimator
counts DSP blocks.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.rtl.kinds import Fold, hardware_layers, hw_kind_of
from pleiades_fpga.hw.rtl.kinds.mac import MacEngine
from pleiades_fpga.hw.rtl.lowering import MAC_MODES, mac_mode_problem, ms_widths, requant_fields, weight_width
from pleiades_fpga.hw.rtl.memory_plan import MEMORY_CHOICES
from pleiades_fpga.ir.graph import IRGraph, Layer
from pleiades_fpga.toolflow.parts import DEFAULT_PART, dsp_blocks, get_part


def layer_cost(graph: IRGraph, layer: Layer, fold: Fold) -> dict[str, Any]:
    """Cycles per frame, multipliers and MACs per frame of ``layer`` at ``fold`` (its hardware kind's cost model)."""
    cost = hw_kind_of(layer).cost(graph, layer, fold)
    return {key: int(cost[key]) for key in ("cycles_per_frame", "multipliers", "macs_per_frame")}


_REQUANT_BLOCKS: dict[int, tuple[Layer, int]] = {}   # id(layer) -> (layer, blocks of one requant lane); the layer
# is kept so that its id is not reused


def requant_multipliers(layer: Layer, fold: Fold) -> int:
    """Multiplier blocks of a layer's requantizers at ``fold``: one lane per PE (requant.v) multiplying the
    accumulator by M, a product only when M needs more than 1 bit (``report.estimate``'s rule), split into blocks
    of the default part (``parts.dsp_blocks``); 0 for kinds without requant lanes."""
    if not hw_kind_of(layer).requant_lanes or not layer.requant:
        return 0
    cached = _REQUANT_BLOCKS.get(id(layer))
    if cached is not None and cached[0] is layer:
        per_lane = cached[1]
    else:
        m, s, _, _ = requant_fields(layer)
        m_w, _ = ms_widths(m, s)
        per_lane = dsp_blocks(layer.acc_bits + 1, m_w + 1, get_part(DEFAULT_PART)) if m_w > 1 else 0
        _REQUANT_BLOCKS[id(layer)] = (layer, per_lane)
    return fold.pe * per_lane


def fold_multipliers(graph: IRGraph, layer: Layer, fold: Fold) -> int:
    """Multiplier blocks of ``layer`` at ``fold``: its engine's (cost model) and its requantizers'."""
    return layer_cost(graph, layer, fold)["multipliers"] + requant_multipliers(layer, fold)


def candidate_folds(layer: Layer) -> list[Fold]:
    """Legal foldings of a layer (its hardware kind's)."""
    return hw_kind_of(layer).candidate_folds(layer)


def _cheapest(graph: IRGraph, layer: Layer, target: int) -> Fold:
    best = None
    for f in candidate_folds(layer):
        c = layer_cost(graph, layer, f)
        meets = c["cycles_per_frame"] <= target
        lut_products = f.pe * f.simd if f.mac == "lut" else 0      # LUT multipliers: cheapest that meets too
        mults = c["multipliers"] + requant_multipliers(layer, f) if meets else 0
        key = (not meets, mults, lut_products if meets else 0, c["cycles_per_frame"],
               f.pe)
        if best is None or key < best[0]:
            best = (key, f)
    return best[1]


def min_cycles(graph: IRGraph, layer: Layer) -> int:
    """Best achievable cycles per frame of a layer over all legal foldings."""
    return min(layer_cost(graph, layer, f)["cycles_per_frame"] for f in candidate_folds(layer))


def _fold_for(graph: IRGraph, layers: list[Layer], target: int) -> dict[str, Fold]:
    return {l.name: _cheapest(graph, l, target) for l in layers}


def total_multipliers(graph: IRGraph, folding: dict[str, Fold]) -> int:
    """Multiplier blocks of the design (:func:`fold_multipliers` of every layer)."""
    return sum(fold_multipliers(graph, graph.layer(n), f) for n, f in folding.items())


def default_folding(graph: IRGraph, target_fps: float | None = None, clock_mhz: float = 100.0,
                    max_multipliers: int | None = None) -> dict[str, Fold]:
    """Balanced folding: the cheapest fold per layer meeting the pipeline's target cycles per frame.

    The target is the slowest layer's best rate, relaxed to ``clock_mhz * 1e6 / target_fps`` if that is
    larger, and further (binary search) until the design needs at most ``max_multipliers``.
    """
    hw_layers = hardware_layers(graph)
    target = max(min_cycles(graph, l) for l in hw_layers)
    if target_fps is not None:
        if target_fps <= 0:
            raise PleiadesError(f"target_fps must be > 0, got {target_fps}")
        target = max(target, int(math.floor(clock_mhz * 1e6 / target_fps)))
    folding = _fold_for(graph, hw_layers, target)
    if max_multipliers is not None and total_multipliers(graph, folding) > max_multipliers:
        slowest = max(layer_cost(graph, l, Fold())["cycles_per_frame"] for l in hw_layers)
        floor = _fold_for(graph, hw_layers, slowest)
        if total_multipliers(graph, floor) > max_multipliers:
            raise PleiadesError(f"the design needs at least {total_multipliers(graph, floor)} multipliers (every "
                                f"layer at its slowest fold; LUT-mode lanes need none); --max-multipliers "
                                f"{max_multipliers} is too small")
        lo, hi = target, slowest
        while lo < hi:
            mid = (lo + hi) // 2
            if total_multipliers(graph, _fold_for(graph, hw_layers, mid)) <= max_multipliers:
                hi = mid
            else:
                lo = mid + 1
        folding = _fold_for(graph, hw_layers, lo)
    return folding


FOLDING_KEYS = ("pe", "simd")
MEMORY_KEY = "memory"   # optional per layer: where a temporal buffer lives (hw.rtl.memory_plan overrides)
MAC_KEY = "mac"         # optional per MAC layer: "dsp" (absent), "packed" or "lut" (lowering.MAC_MODES)
OPTIONAL_KEYS = (MEMORY_KEY, MAC_KEY)


_START_FROM = "start from BUILD/folding.json written by `pleiades-fpga build` and edit the values"


def load_folding(path: str | Path, graph: IRGraph) -> dict[str, Fold]:
    """Read a folding config JSON ``{"layers": {name: {"pe": P, "simd": S}}}`` setting every layer.

    Checked before any work: valid JSON (else file, line and column), exactly the key "layers", known layer
    names, only the keys "pe"/"simd" (and the optional "memory": "onchip" | "external", see
    :func:`memory_overrides`, and "mac": "dsp" | "packed" | "lut" on a MAC engine, absent = "dsp", refused when
    the layer's widths do not allow it) per layer, positive integers (not bool, float or string), both keys for
    every layer of the model (nothing else is filled in silently), legal values."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise PleiadesError(f"cannot read folding config {path}: {exc}") from exc
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            raise PleiadesError(f"folding config {path}: key(s) {', '.join(map(repr, dup))} appear more than once "
                                "in one object; keep one")
        return dict(pairs)

    try:
        data = json.loads(text, object_pairs_hook=no_duplicates)
    except PleiadesError:
        raise
    except ValueError as exc:
        where = f" line {exc.lineno}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise PleiadesError(f"folding config {path}{where} is not valid JSON: "
                            f"{getattr(exc, 'msg', exc)}") from exc
    shape = '{"layers": {"<layer>": {"pe": P, "simd": S}}}'
    if not isinstance(data, dict) or set(data) != {"layers"} or not isinstance(data["layers"], dict):
        extra = sorted(set(data) - {"layers"}) if isinstance(data, dict) else []
        what = f"unknown key(s) {', '.join(map(repr, extra))}; " if extra else ""
        raise PleiadesError(f"folding config {path}: {what}expected exactly {shape} (as in the folding.json "
                            "a build writes)")
    layers = {l.name: l for l in hardware_layers(graph)}
    folding = default_folding(graph)
    for name, entry in data["layers"].items():
        if name not in layers:
            raise PleiadesError(f"folding config {path}: unknown layer {name!r}; the model's layers are "
                                f"{', '.join(layers)}")
        if not isinstance(entry, dict):
            raise PleiadesError(f"folding config {path}: layer {name}: expected {{\"pe\": P, \"simd\": S}}, "
                                f"got {entry!r}")
        unknown = sorted(set(entry) - {*FOLDING_KEYS, *OPTIONAL_KEYS})
        if unknown:
            raise PleiadesError(f"folding config {path}: layer {name}: unknown key(s) {', '.join(map(repr, unknown))}"
                                f"; allowed: {', '.join((*FOLDING_KEYS, *OPTIONAL_KEYS))}")
        if MEMORY_KEY in entry and entry[MEMORY_KEY] not in MEMORY_CHOICES:
            raise PleiadesError(f"folding config {path}: layer {name}: memory = {entry[MEMORY_KEY]!r} must be one of "
                                f"{', '.join(map(repr, MEMORY_CHOICES))}")
        mac = _mac_mode(path, layers[name], entry.get(MAC_KEY, "dsp"))
        for key, value in ((k, v) for k, v in entry.items() if k not in OPTIONAL_KEYS):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise PleiadesError(f"folding config {path}: layer {name}: {key} = {value!r} must be a positive "
                                    "integer (e.g. 1, 2, 4)")
        absent = [k for k in FOLDING_KEYS if k not in entry]
        if absent:
            raise PleiadesError(f"folding config {path}: layer {name} has no {' and no '.join(absent)}; every layer "
                                f"needs both {' and '.join(FOLDING_KEYS)}: {_START_FROM}")
        fold = Fold(entry["pe"], entry["simd"], mac)
        legal = sorted({(c.pe, c.simd) for c in candidate_folds(layers[name])})
        if (fold.pe, fold.simd) not in legal:
            raise PleiadesError(f"{path}: layer {name}: PE={fold.pe}, SIMD={fold.simd} is not legal; "
                                f"choose (PE, SIMD) from {legal}")
        folding[name] = fold
    missing = [name for name in folding if name not in data["layers"]]
    if missing:
        raise PleiadesError(f"folding config {path} sets {len(data['layers'])} of the model's {len(folding)} layers; "
                            f"missing: {', '.join(missing)}. The file sets every layer: {_START_FROM}")
    return folding


def _mac_mode(path: Path, layer: Layer, mac: Any) -> str:
    """The checked "mac" of a folding config entry: a known mode, on a MAC engine, that the widths allow."""
    if mac not in MAC_MODES:
        raise PleiadesError(f"folding config {path}: layer {layer.name}: mac = {mac!r} must be one of "
                            f"{', '.join(map(repr, MAC_MODES))}")
    if mac == "dsp":
        return mac
    if not isinstance(hw_kind_of(layer), MacEngine):
        raise PleiadesError(f"folding config {path}: layer {layer.name} ({hw_kind_of(layer).name}) has no MAC engine "
                            f"lanes; remove its \"mac\" (or set \"dsp\")")
    problem = mac_mode_problem(mac, layer.in_bits, weight_width(layer))
    if problem:
        raise PleiadesError(f"folding config {path}: layer {layer.name}: mac = {mac!r}: {problem}; use \"dsp\""
                            + ("" if mac == "lut" else " or \"lut\" at <= 4 bits"))
    return mac


def memory_overrides(path: str | Path, graph: IRGraph) -> dict[str, str]:
    """The per-layer ``"memory"`` choices of a folding config (checked by :func:`load_folding` first)."""
    load_folding(path, graph)
    return {name: entry[MEMORY_KEY] for name, entry in json.loads(Path(path).read_text())["layers"].items()
            if MEMORY_KEY in entry}


def folding_to_json(folding: dict[str, Fold]) -> dict[str, Any]:
    """The folding config of ``folding`` (``load_folding``'s format; "mac" only where it is not "dsp")."""
    return {"layers": {k: {"pe": f.pe, "simd": f.simd, **({MAC_KEY: f.mac} if f.mac != "dsp" else {})}
                       for k, f in folding.items()}}
