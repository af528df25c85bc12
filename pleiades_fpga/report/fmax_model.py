"""fmax estimate for reports without place and route, calibrated per FPGA family on measured nextpnr runs.

Model: every engine layer of the manifest is split into the register-to-register stages of its template
(``STAGES``; docs/ARCHITECTURE.md "RTL engine pipelines"). A stage's delay is a sum of element delays of the
family (``ELEMENTS``: block-RAM clock-to-out, one LUT level with its route, carry per bit, an 18x18 multiplier)
times the counts the manifest gives: depth segments of the stage's block RAM (the output multiplexer across
them), input groups (the operand multiplexer), operand widths (multipliers per product), adder-tree depth
(products summed per output), accumulator and requantization widths. The design's path is the slowest stage
of any layer (``P`` ns); the estimate is ``fmax = 1000 / (k * P)`` MHz with one factor ``k`` per family (routing
and placement: how far nextpnr's placed paths are from the element sum), the geometric mean of
measured-period / ``P`` over the calibration nets. One parameter, so a leave-one-out check means something.

Calibration data (measured fmax per net, board clock, features, commit, date): ``fmax_calibration.json`` next to
this module, rewritten by one command against the current templates::

    .venv/bin/python -m bench.fmax_model --calibrate

(builds the nets in ``build/fmax/``, places and routes them on the ULX3S 85F wrapper, writes the file and
bench/results/fmax_model.json with the leave-one-out errors). Families without calibration data (xc7 today) get
no estimate (None). Every figure from here is labelled "estimate" in report.json and the page.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from pleiades_fpga.artifacts import write_json_atomic
from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.toolflow.parts import Part, bram_split, get_part, rom_uses_bram, uses_bram

CALIBRATION_FILE = Path(__file__).resolve().parent / "fmax_calibration.json"
CALIBRATION_FORMAT = "pleiades-fpga-fmax-calibration/1"
CALIBRATION_PART = {"ecp5": "LFE5U-85F"}

# element delays in ns (priors; the calibration factor k scales their sum to what nextpnr places and routes)
ELEMENTS = {
    "ecp5": {"bram": 4.0, "level": 1.0, "carry": 0.06, "mult18": 4.5, "ff": 0.6},
}
DSP_BITS = {"ecp5": 18}

# what one register-to-register stage of an engine holds (template pipelines, docs/ARCHITECTURE.md):
# "read" = block-RAM/ROM output and its depth-segment multiplexer, "select" = operand multiplexer across input
# groups, "mult" = product, "tree" = adder tree over the products of an output, "acc" = accumulator add,
# "requant" = requantization multiply, rounding shift and clamp
STAGES = {
    "temporal_conv": (("read", "select"), ("mult",), ("tree", "acc"), ("requant",)),
    "pointwise": (("read", "select"), ("mult",), ("tree", "acc"), ("requant",)),
    "conv3x3": (("read", "select"), ("mult",), ("tree", "acc"), ("requant",)),
    "projection": (("read", "select"), ("mult",), ("tree", "acc"), ("requant",)),
    "add": (("acc",), ("requant",)),
    "avgpool": (("acc",), ("requant",)),
}


def _int(d: dict, key: str, default: int = 0) -> int:
    v = d.get(key, default)
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else default


def layer_features(layer: dict, part: Part) -> dict[str, int]:
    """What the stage delays of one manifest layer depend on (all from the manifest)."""
    params = layer.get("params") or {}
    pe, simd = max(1, _int(layer, "pe", 1)), max(1, _int(layer, "simd", 1))
    mults = _int(layer, "multipliers")
    in_c = int(layer["in_shape"][0]) if isinstance(layer.get("in_shape"), list) and layer["in_shape"] else 0
    depthwise = bool(layer.get("depthwise")) or bool(params.get("DEPTHWISE"))
    lanes = pe if depthwise else simd
    segments = 1
    for mem in layer.get("memories", []):
        depth, width = _int(mem, "depth"), _int(mem, "width")
        in_bram = rom_uses_bram(depth, width, part) if mem.get("kind") == "weights" else uses_bram(depth, width, part)
        if in_bram and depth > 0 and width > 0:
            segments = max(segments, bram_split(depth, width, part)[1])
    return {
        "bram_segments": segments,
        "input_groups": max(1, math.ceil(in_c / lanes)) if in_c else 1,
        "in_bits": _int(layer, "in_bits", 8) + (0 if layer.get("in_signed") else 1),
        "weight_bits": _int(layer, "weight_bits"),
        "tree_depth": math.ceil(math.log2(max(1, mults // pe))) if mults and not depthwise else 0,
        "acc_bits": _int(layer, "acc_bits", 16),
        "m_bits": _int(layer, "m_bits", int(params.get("M_W", 1))),
        "s_bits": _int(layer, "s_bits", int(params.get("S_W", 1))),
        "multipliers": mults,
    }


def _mult_ns(a_bits: int, b_bits: int, e: dict, dsp_bits: int) -> float:
    """An a x b product: one multiplier block, or a cascade of them summed with a carry chain."""
    if min(a_bits, b_bits) < 2:
        return 0.0
    blocks = math.ceil(a_bits / dsp_bits) * math.ceil(b_bits / dsp_bits)
    return e["mult18"] + (e["level"] + e["carry"] * (a_bits + b_bits) if blocks > 1 else 0.0)


def element_ns(element: str, f: dict[str, int], family: str) -> float:
    """Delay of one stage element of a layer with features ``f`` (prior, before the calibration factor)."""
    e, dsp = ELEMENTS[family], DSP_BITS[family]
    if element == "read":
        return e["bram"] + e["level"] * math.ceil(math.log2(f["bram_segments"])) if f["bram_segments"] > 1 \
            else e["bram"]
    if element == "select":
        return e["level"] * math.ceil(math.log2(f["input_groups"]) / 2)      # 4:1 per LUT level (PFU mux)
    if element == "mult":
        return _mult_ns(f["in_bits"], f["weight_bits"], e, dsp) if f["weight_bits"] else 0.0
    if element == "tree":
        return f["tree_depth"] * (e["level"] + e["carry"] * f["acc_bits"])
    if element == "acc":
        return e["level"] + e["carry"] * f["acc_bits"]
    if element == "requant":
        mult = _mult_ns(f["acc_bits"] + 1, f["m_bits"] + 1, e, dsp) if f["m_bits"] > 1 else 0.0
        shift = e["level"] * math.ceil(math.log2(max(2, f["s_bits"])) / 2) if f["s_bits"] > 1 else 0.0
        return mult + shift + 2 * e["level"] + e["carry"] * (f["acc_bits"] + f["m_bits"])   # round + clamp
    raise ValueError(f"unknown stage element {element!r}")


def critical_path(manifest: dict, part: Part) -> dict[str, Any]:
    """The slowest template stage of the design: {"prior_ns", "layer", "stage", "features"} (prior delays)."""
    family = part.family
    if family not in ELEMENTS:
        raise PleiadesError(f"no fmax model for the {family} family (calibrated: {', '.join(ELEMENTS)})")
    best = {"prior_ns": ELEMENTS[family]["level"] * 2 + ELEMENTS[family]["ff"], "layer": None, "stage": "control",
            "features": {}}
    for layer in manifest.get("layers", []):
        kind = str(layer.get("kind", ""))
        if kind not in STAGES:
            continue
        f = layer_features(layer, part)
        for stage in STAGES[kind]:
            ns = ELEMENTS[family]["ff"] + sum(element_ns(el, f, family) for el in stage)
            if ns > best["prior_ns"]:
                best = {"prior_ns": round(ns, 3), "layer": layer.get("name"), "stage": "+".join(stage), "features": f}
    return best


def fit_factor(nets: list[dict]) -> float:
    """k: geometric mean of measured period / prior path over the nets."""
    if not nets:
        raise PleiadesError("no calibration nets to fit the fmax model on")
    logs = [math.log((1000.0 / n["fmax_mhz"]) / n["prior_ns"]) for n in nets]
    return math.exp(sum(logs) / len(logs))


def load_calibration(family: str, path: Path | str = CALIBRATION_FILE) -> dict:
    """The calibration of ``family`` ({"nets": [...], ...}) from the shipped file, {} when there is none."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise PleiadesError(f"{path} is not valid JSON ({exc}); rerun `python -m bench.fmax_model --calibrate`") \
            from exc
    if data.get("format") != CALIBRATION_FORMAT:
        raise PleiadesError(f"{path}: format {data.get('format')!r}, expected {CALIBRATION_FORMAT!r}")
    return data.get("families", {}).get(family, {})


def calibration_entry(net: str, description: str, manifest: dict, pnr: dict, commit: str | None,
                      design: str | None, seconds: float | None) -> dict:
    """One calibration record: the net, its measured nextpnr fmax and board clock, features, commit, date."""
    part = get_part(pnr["part"])
    if not pnr.get("fmax_mhz"):
        raise PleiadesError(f"{net}: place and route reported no fmax")
    return {"net": net, "description": description, "part": part.name, "fmax_mhz": round(float(pnr["fmax_mhz"]), 3),
            "board_clock_mhz": pnr.get("target_mhz"), "critical_path": critical_path(manifest, part),
            "multipliers": manifest.get("multipliers"), "commit": commit, "design_hash": design,
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "pnr_seconds": seconds}


def write_calibration(family: str, entries: list[dict], path: Path | str = CALIBRATION_FILE) -> Path:
    """Store the nets of ``family`` (other families kept) with the factor fitted on them; return the path."""
    path = Path(path)
    data = json.loads(path.read_text()) if path.is_file() else {"format": CALIBRATION_FORMAT, "families": {}}
    nets = [{**e, "prior_ns": e["critical_path"]["prior_ns"]} for e in entries]
    data["families"][family] = {
        "part": CALIBRATION_PART.get(family), "elements_ns": ELEMENTS[family],
        "model": "fmax = 1000 / (k * prior_ns) MHz; prior_ns = slowest template stage of the manifest",
        "k": round(fit_factor(nets), 4), "nets": nets,
    }
    return write_json_atomic(path, data)


def leave_one_out(cal: dict) -> list[dict]:
    """Per net: the estimate of a model fitted on the other nets only, against its measured fmax."""
    nets = cal.get("nets", [])
    rows = []
    for i, n in enumerate(nets):
        others = nets[:i] + nets[i + 1:]
        if not others:
            continue
        est = 1000.0 / (fit_factor(others) * n["prior_ns"])
        rows.append({"net": n["net"], "description": n.get("description"), "measured_mhz": n["fmax_mhz"],
                     "estimate_mhz": round(est, 2), "error": round(est / n["fmax_mhz"] - 1.0, 4),
                     "critical_stage": f"{n['critical_path']['layer']}: {n['critical_path']['stage']}",
                     "commit": n.get("commit"), "date": n.get("date")})
    return rows


def estimate_fmax(manifest: dict, part: Part, path: Path | str = CALIBRATION_FILE) -> dict | None:
    """{"fmax_mhz", "source", "critical_path", "calibration"} for ``manifest`` on ``part``; None when the family
    has no calibration (then no estimate exists)."""
    cal = load_calibration(part.family, path)
    if not cal.get("nets") or part.family not in ELEMENTS:
        return None
    crit = critical_path(manifest, part)
    k = fit_factor(cal["nets"])
    loo = [abs(r["error"]) for r in leave_one_out(cal)]
    commits = sorted({str(n.get("commit")) for n in cal["nets"]})
    return {
        "fmax_mhz": round(1000.0 / (k * crit["prior_ns"]), 2),
        "source": (f"estimate (fmax model calibrated on {len(cal['nets'])} nextpnr runs on {cal.get('part')}, "
                   f"leave-one-out error up to {100 * max(loo, default=0):.0f} %)"),
        "critical_path": crit,
        "calibration": {"k": k, "nets": [n["net"] for n in cal["nets"]], "commits": commits,
                        "max_leave_one_out_error": max(loo, default=None)},
    }
