"""Folding (PE x SIMD per layer) and the per-layer cost model of the streaming RTL backend.

A layer's cost is what its template needs per frame (cycles, multipliers, MACs, memories), from the
analytic cycle models next to the templates (``cycles.py``, ``cycles_spatial.py``). The default
folding balances the dataflow pipeline like FINN's SetFolding: every layer gets the cheapest folding
(fewest multipliers) that meets a target number of cycles per frame; the default target is the
slowest layer's best achievable rate (the temporal layers need at least K cycles per pixel), or the
rate a ``target_fps`` at ``clock_mhz`` asks for, whichever is larger.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pleiades_fpga.errors import PleiadesError, UnsupportedModelError
from pleiades_fpga.ir.graph import IRGraph, Layer
from pleiades_fpga.hw.rtl import cycles, cycles_spatial
from pleiades_fpga.hw.rtl.projection_rtl import projection_multipliers


@dataclass(frozen=True)
class Fold:
    """Parallelism of one layer: PE output channels x SIMD input channels per cycle."""

    pe: int = 1
    simd: int = 1


def module_kind(layer: Layer) -> str:
    """Template family of an IR layer: temporal_conv | conv3x3 | pointwise | add | avgpool | projection | input."""
    if layer.kind == "input":
        return "input"
    if layer.kind == "add":
        return "add"
    if layer.kind == "avgpool":
        return "avgpool"
    if layer.kind == "projection":
        return "projection"
    if layer.kind != "conv":
        raise UnsupportedModelError(f"layer {layer.name}: kind {layer.kind!r} has no RTL template")
    kt, kh, kw = layer.params.kernel
    if is_grouped_pointwise(layer):
        return "pointwise"
    if layer.params.groups not in (1, layer.in_channels) or (layer.params.groups > 1 and layer.in_channels != layer.out_channels):
        raise UnsupportedModelError(
            f"layer {layer.name}: grouped conv with groups={layer.params.groups} (in={layer.in_channels}, "
            f"out={layer.out_channels}) has no RTL template; only full (groups=1) and depthwise convs are supported")
    if layer.params.role == "temporal":
        return "temporal_conv"
    if layer.params.role == "pointwise":
        return "pointwise"
    if (kh, kw) == (3, 3) and layer.params.padding == (1, 1) and layer.params.stride[0] == layer.params.stride[1] and layer.params.stride[0] in (1, 2):
        return "conv3x3"
    raise UnsupportedModelError(
        f"layer {layer.name}: spatial conv {kh}x{kw}, stride {layer.params.stride}, padding {layer.params.padding} has no RTL "
        "template (supported: 3x3, padding 1, stride 1 or 2)")


def is_depthwise(layer: Layer) -> bool:
    return layer.kind == "conv" and layer.params.groups > 1 and not is_grouped_pointwise(layer)


def is_grouped_pointwise(layer: Layer) -> bool:
    """A grouped 1x1x1 conv that is not depthwise (the readout of a recurrent temporal layer: groups = C,
    D state inputs per group). With one output per group it runs natively on pointwise_mvu (GROUP_IN,
    ``group_inputs``); otherwise as a dense layer with a block-diagonal weight (``dense_pointwise_weight``):
    exact, but it costs ``groups`` times the useful MACs (cycles or multipliers)."""
    return (layer.kind == "conv" and layer.params.role == "pointwise" and layer.params.groups > 1
            and not (layer.in_channels == layer.out_channels == layer.params.groups))


def group_inputs(layer: Layer) -> int:
    """Inputs per group G of a grouped pointwise conv that pointwise_mvu runs natively (one output per
    group, out = groups); 0 for every other layer."""
    if is_grouped_pointwise(layer) and layer.out_channels == layer.params.groups:
        return layer.in_channels // layer.params.groups
    return 0


def dense_pointwise_weight(layer: Layer) -> np.ndarray:
    """(out, in, 1, 1, 1) weight of a grouped pointwise conv expanded to block-diagonal dense form (zeros outside
    groups); any other layer's weight unchanged (depthwise layers keep (C, 1, K): their template reads one lane
    per channel)."""
    w = np.asarray(layer.params.weight, dtype=np.int64)
    if not is_grouped_pointwise(layer):
        return w
    og, ig = layer.out_channels // layer.params.groups, layer.in_channels // layer.params.groups
    dense = np.zeros((layer.out_channels, layer.in_channels, *w.shape[2:]), dtype=np.int64)
    for g in range(layer.params.groups):
        dense[g * og:(g + 1) * og, g * ig:(g + 1) * ig] = w[g * og:(g + 1) * og]
    return dense


def layer_cost(graph: IRGraph, layer: Layer, fold: Fold) -> dict[str, Any]:
    """Cycles per frame, multipliers and MACs per frame of ``layer`` at ``fold``."""
    kind = module_kind(layer)
    x = graph.tensors[layer.inputs[0]] if layer.kind != "input" else graph.tensors[layer.output]
    y = graph.tensors[layer.output]
    pix_in, pix_out = x.height * x.width, y.height * y.width
    dw = is_depthwise(layer)
    if kind == "temporal_conv":
        k = layer.params.kernel[0]
        cyc = cycles.temporal_conv_cycles_per_frame(layer.in_channels, layer.out_channels, k, pix_in, fold.pe,
                                                    fold.simd, dw)
        mults = fold.pe if dw else fold.pe * fold.simd
        macs = pix_out * layer.out_channels * (1 if dw else layer.in_channels) * k
    elif kind == "pointwise":
        c_in = group_inputs(layer) or layer.in_channels  # grouped: G inputs per output
        cyc = cycles.mvu_cycles_per_frame(c_in, layer.out_channels, pix_in, fold.pe, fold.simd)
        mults = fold.pe * fold.simd
        macs = pix_out * layer.out_channels * c_in
    elif kind == "conv3x3":
        cyc = cycles_spatial.conv3x3_cycles(x.height, x.width, layer.in_channels, layer.out_channels,
                                            layer.params.stride[0], fold.pe, fold.simd, dw)
        mults = cycles_spatial.conv3x3_multipliers(layer.in_channels, layer.out_channels, fold.pe, fold.simd, dw)
        macs = cycles_spatial.conv3x3_macs(x.height, x.width, layer.in_channels, layer.out_channels,
                                           layer.params.stride[0], dw)
    elif kind == "projection":
        d = layer.params.state_dim
        cyc = cycles.projection_cycles_per_frame(layer.in_channels, d, pix_in, fold.pe, fold.simd)
        mults = projection_multipliers(d, fold.pe, fold.simd)
        macs = pix_in * layer.in_channels * d * (d + 1)
    elif kind == "avgpool":
        cyc = cycles_spatial.avgpool_cycles(x.height, x.width, x.channels, fold.pe)
        mults, macs = fold.pe, 0  # one requant lane (a multiplier unless M is 1) per PE
    else:  # add / input: one pixel per cycle
        cyc = cycles_spatial.stream_cycles(y.height, y.width)
        mults, macs = 0, 0
    return {"cycles_per_frame": int(cyc), "multipliers": int(mults), "macs_per_frame": int(macs)}


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _useful(n: int) -> list[int]:
    """Lane counts 1..n that are not dominated: each gives fewer passes ceil(n/p) than any smaller one."""
    out, passes = [], None
    for p in range(1, n + 1):
        if -(-n // p) != passes:
            out.append(p)
            passes = -(-n // p)
    return out


def candidate_folds(layer: Layer) -> list[Fold]:
    """Legal foldings of a layer. MAC templates accept any PE <= C_out, SIMD <= C_in (lanes past the last
    channel compute zeros); only counts that reduce the passes ceil(C/P) are useful. The average pool's
    PE must divide its channels."""
    kind = module_kind(layer)
    if kind in ("input", "add"):
        return [Fold(1, 1)]
    if kind == "avgpool":
        return [Fold(pe, 1) for pe in _divisors(layer.in_channels)]
    if kind == "projection":  # PE state rows (<= D) x SIMD channels
        return [Fold(pe, simd) for pe in _useful(layer.params.state_dim) for simd in _useful(layer.in_channels)]
    pes = _useful(layer.out_channels)
    if group_inputs(layer):
        return [Fold(pe, simd) for pe in pes for simd in _useful(group_inputs(layer))]
    if is_depthwise(layer):
        return [Fold(pe, 1) for pe in pes]
    return [Fold(pe, simd) for pe in pes for simd in _useful(layer.in_channels)]


def _cheapest(graph: IRGraph, layer: Layer, target: int) -> Fold:
    best = None
    for f in candidate_folds(layer):
        c = layer_cost(graph, layer, f)
        key = (c["cycles_per_frame"] > target, c["multipliers"] if c["cycles_per_frame"] <= target else 0,
               c["cycles_per_frame"], f.pe)
        if best is None or key < best[0]:
            best = (key, f)
    return best[1]


def min_cycles(graph: IRGraph, layer: Layer) -> int:
    """Best achievable cycles per frame of a layer over all legal foldings."""
    return min(layer_cost(graph, layer, f)["cycles_per_frame"] for f in candidate_folds(layer))


def _fold_for(graph: IRGraph, layers: list[Layer], target: int) -> dict[str, Fold]:
    return {l.name: _cheapest(graph, l, target) for l in layers}


def total_multipliers(graph: IRGraph, folding: dict[str, Fold]) -> int:
    return sum(layer_cost(graph, graph.layer(n), f)["multipliers"] for n, f in folding.items())


def default_folding(graph: IRGraph, target_fps: float | None = None, clock_mhz: float = 100.0,
                    max_multipliers: int | None = None) -> dict[str, Fold]:
    """Balanced folding: the cheapest fold per layer meeting the pipeline's target cycles per frame.

    The target is the slowest layer's best rate, relaxed to ``clock_mhz * 1e6 / target_fps`` if that is
    larger, and further (binary search) until the design needs at most ``max_multipliers``.
    """
    hw_layers = [l for l in graph.layers if l.kind != "input"]
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
            raise PleiadesError(f"the design needs at least {total_multipliers(graph, floor)} multipliers (one per "
                                f"MAC layer); --max-multipliers {max_multipliers} is too small")
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


_START_FROM = "start from BUILD/folding.json written by `pleiades-fpga build` and edit the values"


def load_folding(path: str | Path, graph: IRGraph) -> dict[str, Fold]:
    """Read a folding config JSON ``{"layers": {name: {"pe": P, "simd": S}}}`` setting every layer.

    Checked before any work: valid JSON (else file, line and column), exactly the key "layers", known layer
    names, only the keys "pe"/"simd" per layer, positive integers (not bool, float or string), both keys for
    every layer of the model (nothing is filled in silently), legal values."""
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
    layers = {l.name: l for l in graph.layers if l.kind != "input"}
    folding = default_folding(graph)
    for name, entry in data["layers"].items():
        if name not in layers:
            raise PleiadesError(f"folding config {path}: unknown layer {name!r}; the model's layers are "
                                f"{', '.join(layers)}")
        if not isinstance(entry, dict):
            raise PleiadesError(f"folding config {path}: layer {name}: expected {{\"pe\": P, \"simd\": S}}, "
                                f"got {entry!r}")
        unknown = sorted(set(entry) - set(FOLDING_KEYS))
        if unknown:
            raise PleiadesError(f"folding config {path}: layer {name}: unknown key(s) {', '.join(map(repr, unknown))}"
                                f"; allowed: {', '.join(FOLDING_KEYS)}")
        for key, value in entry.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise PleiadesError(f"folding config {path}: layer {name}: {key} = {value!r} must be a positive "
                                    "integer (e.g. 1, 2, 4)")
        absent = [k for k in FOLDING_KEYS if k not in entry]
        if absent:
            raise PleiadesError(f"folding config {path}: layer {name} has no {' and no '.join(absent)}; every layer "
                                f"needs both {' and '.join(FOLDING_KEYS)}: {_START_FROM}")
        fold = Fold(entry["pe"], entry["simd"])
        if fold not in candidate_folds(layers[name]):
            legal = sorted({(c.pe, c.simd) for c in candidate_folds(layers[name])})
            raise PleiadesError(f"{path}: layer {name}: PE={fold.pe}, SIMD={fold.simd} is not legal; "
                                f"choose (PE, SIMD) from {legal}")
        folding[name] = fold
    missing = [name for name in folding if name not in data["layers"]]
    if missing:
        raise PleiadesError(f"folding config {path} sets {len(data['layers'])} of the model's {len(folding)} layers; "
                            f"missing: {', '.join(missing)}. The file sets every layer: {_START_FROM}")
    return folding


def folding_to_json(folding: dict[str, Fold]) -> dict[str, Any]:
    return {"layers": {k: {"pe": f.pe, "simd": f.simd} for k, f in folding.items()}}
