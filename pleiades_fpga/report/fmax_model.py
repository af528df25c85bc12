"""fmax estimate for reports without place and route, calibrated per FPGA family on measured nextpnr runs.

Model: every engine layer of the manifest is split into the register-to-register stages of its template
(``STAGES``; docs/ARCHITECTURE.md "RTL engine pipelines"). A stage is a chain of elements whose cell delays are the
family's (``CELLS``, nextpnr's ECP5 timing: block-RAM clock-to-out, LUT, carry per bit, 18x18 multiplier) and
whose count comes from the manifest: banks of a block-RAM buffer (the multiplexer across them), input groups
(the operand multiplexer), operand widths (multiplier blocks per product), adder-tree depth (products summed
per output), accumulator and requantization widths. Each element also adds routed nets (hops). The period of a
stage is ``logic + hops * (a + b * s)``: the routing delay per hop grows with the design's spread ``s`` =
sqrt(estimated LUT utilization of the part). ``a`` and ``b`` are the family's calibration, a least-squares fit over
measured nextpnr runs; the design's estimate is 1000 / (its slowest stage's period) MHz.

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
from pleiades_fpga.toolflow.parts import Part, get_part, uses_bram

CALIBRATION_FILE = Path(__file__).resolve().parent / "fmax_calibration.json"
CALIBRATION_FORMAT = "pleiades-fpga-fmax-calibration/1"
CALIBRATION_PART = {"ecp5": "LFE5U-85F"}

# cell delays in ns (nextpnr-ecp5's timing model, as its critical-path reports list them); xc7 when calibrated
CELLS = {
    "ecp5": {"bram": 5.61, "bram_q": 0.97, "ff": 0.52, "lut": 0.24, "carry": 0.06, "chain": 0.85, "chain_bit": 0.035,
             "mult18": 3.93, "dsp_bits": 18},
}

# the register-to-register stages of each engine's template (docs/ARCHITECTURE.md "RTL engine pipelines"):
# "read" = block-RAM output latch into a fabric register, "read_q" = the block RAM's own output register as the
# stage's source (ram_sdp OUT_REG and 2-stage ROM reads, whose fabric register toolflow.bram_outreg moves into the
# block RAM on ECP5; a template stage is then read_q -> banks -> select), "banks" = multiplexer across the RAM's
# banks, "select" = operand multiplexer across input groups, "mult" = product, "tree" = half the adder tree over
# the products of an output (two stages), "acc" = accumulator add, "rq_mult"/"rq_round"/"rq_shift"/"rq_clamp" =
# the four requant_pipe stages, "control" = the step/hold logic every stage register waits on (conv3x3: "window" = the
# window position arithmetic, three compare/subtract chains over the row/column counters, into the counters'
# enables: the critical path of the small nets at 61ac9ec). Update with the templates.
_REQUANT = (("rq_mult",), ("rq_round",), ("rq_shift",), ("rq_clamp",))
_MAC = (("read_q", "banks", "select"), ("mult",), ("tree",), ("tree",), ("acc",), *_REQUANT, ("control",))
STAGES = {
    "temporal_conv": _MAC,
    "pointwise": _MAC,
    "conv3x3": (*_MAC[:-1], ("window",)),
    # the state RAM's read (ram_sdp OUT_REG = 0) goes straight into the multipliers: a latch read bram_outreg leaves
    "projection": (("read",), ("banks", "select"), *_MAC[1:]),
    "add": (("acc", "rq_mult", "rq_round", "rq_shift"), ("control",)),
    "avgpool": (("read",), ("acc",), *_REQUANT, ("control",)),
    # groupnorm_stream: statistics (x*x, S2 accumulation), the constants engine (D by shift-add, one rsqrt step),
    # the normalization pipeline (frame-buffer read and bank multiplexer, d = N*x - S1, d*M, (d*M)*R',
    # p = (d*M)*R' + (d*M << P), z = p / 2**P + (B << k), then requant_pipe with M = 1 on z)
    "groupnorm": (("gn_sq",), ("gn_s2",), ("gn_dn",), ("gn_rsqrt",), ("read",), ("banks",), ("gn_d",), ("gn_dm",),
                  ("gn_dmr",), ("gn_p",), ("gn_z",), *_REQUANT[1:], ("control",)),
}
# ram_sdp's bank depth for a word width (one 18 kbit block per bank; its BANK_DEPTH parameter)
_BANK_DEPTH = ((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024))


def bank_count(depth: int, width: int) -> int:
    """Banks ram_sdp (OUT_REG = 1) splits a depth x width memory into: ceil(depth / bank depth of the width)."""
    bank = next((d for w, d in _BANK_DEPTH if width <= w), 512)
    return max(1, math.ceil(depth / bank))


def _int(d: dict, key: str, default: int = 0) -> int:
    v = d.get(key, default)
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else default


def groupnorm_features(layer: dict, part: Part) -> dict[str, int]:
    """The widths of a groupnorm_stream's stages (``hw.rtl.kinds.groupnorm.derived_widths`` of its parameters):
    its requant_pipe works on z (ZW bits) with M = 1 and an ST_W-bit shift; the frame buffer's banks."""
    from pleiades_fpga.hw.rtl.kinds.groupnorm import derived_widths

    p = layer.get("params") or {}
    w = derived_widths(p)
    n = int(p["C"]) // int(p["G"]) * int(p["H"]) * int(p["W"])
    frame = [m for m in layer.get("memories", []) if m.get("kind") == "frame_buffer"
             and uses_bram(_int(m, "depth"), _int(m, "width"), part)]
    return {"ram_banks": max([bank_count(_int(m, "depth"), _int(m, "width")) for m in frame], default=1),
            "x_bits": int(p["IN_W"]) + 1, "s2_bits": int(p["S2_W"]), "d_bits": int(p["D_W"]), "qw_bits": w["QW"],
            "n_terms": bin(n).count("1"), "dx_bits": w["DX_W"], "gm_bits": int(p["M_W"]), "dm_bits": w["DM_W"],
            "rp_bits": w["RPW"] + 1, "p_bits": int(p["ACC_W"]), "acc_bits": w["ZW"], "m_bits": 1,
            "s_bits": (w["ZW"] + 1).bit_length()}


# features of a kind beyond the shared ones (its template's own widths)
KIND_FEATURES = {"groupnorm": groupnorm_features}


def layer_features(layer: dict, part: Part) -> dict[str, int]:
    """What the stage delays of one manifest layer depend on (all from the manifest; a kind's own widths from
    ``KIND_FEATURES``)."""
    params = layer.get("params") or {}
    pe, simd = max(1, _int(layer, "pe", 1)), max(1, _int(layer, "simd", 1))
    mults = _int(layer, "multipliers")
    in_c = int(layer["in_shape"][0]) if isinstance(layer.get("in_shape"), list) and layer["in_shape"] else 0
    depthwise = bool(layer.get("depthwise")) or bool(params.get("DEPTHWISE"))
    lanes = pe if depthwise else simd
    shape = layer["in_shape"] if isinstance(layer.get("in_shape"), list) and len(layer["in_shape"]) == 3 else [1, 1, 1]
    frame_side = max(int(shape[1]), int(shape[2]))
    pixels = int(shape[1]) * int(shape[2])
    banks = 1
    for mem in layer.get("memories", []):
        depth, word = _int(mem, "depth"), _int(mem, "width")
        if mem.get("kind") in ("circular_buffer", "line_buffer", "state") and uses_bram(depth, word, part):
            banks = max(banks, bank_count(depth, word))
    return {
        "ram_banks": banks,
        "input_groups": max(1, math.ceil(in_c / lanes)) if in_c else 1,
        "in_bits": _int(layer, "in_bits", 8) + (0 if layer.get("in_signed") else 1),
        "weight_bits": _int(layer, "weight_bits"),
        "tree_depth": math.ceil(math.log2(max(1, mults // pe))) if mults and not depthwise else 0,
        "acc_bits": _int(layer, "acc_bits", 16),
        "m_bits": _int(layer, "m_bits", int(params.get("M_W", 1))),
        "s_bits": _int(layer, "s_bits", int(params.get("S_W", 1))),
        "multipliers": mults,
        "step_bits": math.ceil(math.log2(max(2, pixels * (math.ceil(in_c / lanes) if in_c else 1)))),
        "window_bits": math.ceil(math.log2(frame_side + 1)) + 1,
        **(KIND_FEATURES[layer["kind"]](layer, part) if layer.get("kind") in KIND_FEATURES else {}),
    }


def _mult(a_bits: int, b_bits: int, c: dict) -> tuple[float, int]:
    """(logic ns, hops) of an a x b product: one multiplier block, or a cascade summed with a carry chain."""
    if min(a_bits, b_bits) < 2:
        return 0.0, 0
    blocks = math.ceil(a_bits / c["dsp_bits"]) * math.ceil(b_bits / c["dsp_bits"])
    if blocks == 1:
        return c["mult18"], 1
    return c["mult18"] + c["lut"] + c["carry"] * (a_bits + b_bits), 2


# GroupNorm's single adds: element -> (width feature, LUT levels before/after the carry chain): S2 accumulation,
# D's shift-add step (bit select), one rsqrt step (sum, then the accept select into the registers), p, z
_GN_ADDS = {"gn_s2": ("s2_bits", 1), "gn_dn": ("d_bits", 2), "gn_rsqrt": ("qw_bits", 2), "gn_p": ("p_bits", 1),
            "gn_z": ("acc_bits", 1)}


def element(name: str, f: dict[str, int], family: str) -> tuple[float, int]:
    """(logic ns, routed hops into it) of one stage element of a layer with features ``f``."""
    c = CELLS[family]
    if name == "read":           # the RAM's output latch is the stage's source, a fabric register the destination
        return c["bram"], 0
    if name == "read_q":         # the RAM's output register is the stage's source
        return c["bram_q"], 0
    if name == "banks":          # 4:1 per LUT level (PFU mux) across the banks
        levels = math.ceil(math.log2(f["ram_banks"]) / 2)
        return c["lut"] * levels, levels
    if name == "select":         # tap/current choice + a 4:1 level per two select bits of the input groups
        levels = 1 + math.ceil(math.log2(f["input_groups"]) / 2)
        return c["lut"] * levels, levels
    if name == "mult":
        return _mult(f["in_bits"], f["weight_bits"], c) if f["weight_bits"] else (0.0, 0)
    if name == "tree":           # half of the adder tree's levels
        levels = math.ceil(f["tree_depth"] / 2)
        return levels * (c["lut"] + c["carry"] * f["acc_bits"]), levels
    if name == "acc":
        return c["lut"] + c["carry"] * f["acc_bits"], 1
    if name == "rq_mult":
        return _mult(f["acc_bits"] + 1, f["m_bits"] + 1, c) if f["m_bits"] > 1 else (0.0, 0)
    if name == "rq_round":
        return c["lut"] + c["carry"] * (f["acc_bits"] + f["m_bits"]), 1
    if name == "rq_shift":       # rounding shift (4:1 per level over the shift bits)
        levels = (math.ceil(math.log2(max(2, f["s_bits"])) / 2) if f["s_bits"] > 1 else 0) + 1
        return c["lut"] * levels, levels
    if name == "rq_clamp":       # compare against the output range (carry chain), select (a tie clears bit 0)
        return c["lut"] + c["carry"] * (f["acc_bits"] + f["m_bits"]), 2
    if name == "control":        # step counter compare and the hold of every stage on back-pressure
        return c["chain"] + c["chain_bit"] * f["step_bits"] + 3 * c["lut"], 4
    if name == "window":         # three chained subtract/compare carry chains, then the enable multiplexers
        return 3 * (c["chain"] + c["chain_bit"] * f["window_bits"]) + 5 * c["lut"], 7
    if name == "gn_sq":          # GroupNorm statistics: x*x
        return _mult(f["x_bits"], f["x_bits"], c)
    if name in _GN_ADDS:         # one add (carry chain) of the feature's width, after a select LUT level or two
        key, levels = _GN_ADDS[name]
        return levels * c["lut"] + c["carry"] * f[key], levels
    if name == "gn_d":           # d = N*x - S1: N constant, one add per set bit of N (a shift when N = 2**j)
        return f["n_terms"] * (c["lut"] + c["carry"] * f["dx_bits"]), f["n_terms"]
    if name == "gn_dm":
        return _mult(f["dx_bits"], f["gm_bits"], c)
    if name == "gn_dmr":
        return _mult(f["dm_bits"], f["rp_bits"], c)
    raise ValueError(f"unknown stage element {name!r}")


def stage(names: tuple[str, ...], f: dict[str, int], family: str) -> tuple[float, int]:
    """(logic ns, hops) of one register-to-register stage: its source (RAM or flip-flop), elements, the net into
    the destination register."""
    logic, hops = (0.0, 0) if names[0] in ("read", "read_q") else (CELLS[family]["ff"], 0)
    for name in names:
        l, h = element(name, f, family)
        logic, hops = logic + l, hops + h
    return logic, hops + 1


def spread(manifest: dict, part: Part) -> float:
    """sqrt of the design's estimated LUT utilization of ``part``: how far its nets run."""
    from pleiades_fpga.report.estimate import estimate_manifest

    return math.sqrt(min(1.0, estimate_manifest(manifest, part)["total"]["lut"] / part.lut))


def critical_path(manifest: dict, part: Part, a: float, b: float) -> dict[str, Any]:
    """The slowest template stage of the design at routing a + b * spread ns per hop: {"period_ns", "layer",
    "stage", "logic_ns", "hops", "spread", "features"}."""
    family = part.family
    if family not in CELLS:
        raise PleiadesError(f"no fmax model for the {family} family (calibrated: {', '.join(CELLS)})")
    s = spread(manifest, part)
    route = a + b * s
    best: dict[str, Any] = {"period_ns": 0.0}
    for layer in manifest.get("layers", []):
        kind = str(layer.get("kind", ""))
        if kind not in STAGES:
            continue
        f = layer_features(layer, part)
        for names in STAGES[kind]:
            logic, hops = stage(names, f, family)
            if logic + hops * route > best["period_ns"]:
                best = {"period_ns": round(logic + hops * route, 3), "layer": layer.get("name"),
                        "stage": "+".join(names), "logic_ns": round(logic, 3), "hops": hops, "spread": round(s, 4),
                        "features": f}
    return best


def design_stages(manifest: dict, part: Part) -> list[dict]:
    """Every (layer, stage) of the design with its logic delay, hops and the design's spread (what a fit needs)."""
    s = spread(manifest, part)
    out = []
    for layer in manifest.get("layers", []):
        kind = str(layer.get("kind", ""))
        f = layer_features(layer, part) if kind in STAGES else {}
        for names in STAGES.get(kind, ()):
            logic, hops = stage(names, f, part.family)
            out.append({"layer": layer.get("name"), "stage": "+".join(names), "logic_ns": round(logic, 3),
                        "hops": hops, "spread": round(s, 4)})
    return out


def _period(stages: list[dict], a: float, b: float) -> float:
    return max(st["logic_ns"] + st["hops"] * (a + b * st["spread"]) for st in stages)


def fit_routing(nets: list[dict]) -> tuple[float, float]:
    """(a, b) in ns per hop: least squares of measured period against the slowest stage of each net, iterated
    because the slowest stage depends on (a, b); b = 0 when the nets do not vary in spread, or when the fit would
    make b negative (routing per hop does not get shorter as a design fills the part: a smaller net that happens to
    place slower than a larger one must not make the estimate of still larger designs optimistic)."""
    if not nets:
        raise PleiadesError("no calibration nets to fit the fmax model on")
    a, b = 1.0, 0.0
    for _ in range(20):
        rows = []
        for n in nets:
            st = max(n["stages"], key=lambda x: x["logic_ns"] + x["hops"] * (a + b * x["spread"]))
            rows.append((st["hops"], st["hops"] * st["spread"], 1000.0 / n["fmax_mhz"] - st["logic_ns"]))
        spreads = [r[1] / r[0] for r in rows]
        new = None
        if len(rows) >= 2 and max(spreads) - min(spreads) > 0.05:
            sxx = sum(r[0] * r[0] for r in rows), sum(r[0] * r[1] for r in rows), sum(r[1] * r[1] for r in rows)
            sy = sum(r[0] * r[2] for r in rows), sum(r[1] * r[2] for r in rows)
            det = sxx[0] * sxx[2] - sxx[1] ** 2
            new = ((sy[0] * sxx[2] - sy[1] * sxx[1]) / det, (sxx[0] * sy[1] - sxx[1] * sy[0]) / det)
        if new is None or new[1] < 0:    # no spread term, or one that would make routing faster as a design spreads
            new = (sum(r[0] * r[2] for r in rows) / sum(r[0] ** 2 for r in rows), 0.0)
        if abs(new[0] - a) < 1e-6 and abs(new[1] - b) < 1e-6:
            break
        a, b = new
    return a, b


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
    """One calibration record: the net, its measured nextpnr fmax and board clock, stages, commit, date."""
    part = get_part(pnr["part"])
    if not pnr.get("fmax_mhz"):
        raise PleiadesError(f"{net}: place and route reported no fmax")
    return {"net": net, "description": description, "part": part.name, "fmax_mhz": round(float(pnr["fmax_mhz"]), 3),
            "board_clock_mhz": pnr.get("target_mhz"), "multipliers": manifest.get("multipliers"),
            "stages": design_stages(manifest, part), "commit": commit, "design_hash": design,
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "pnr_seconds": seconds}


def write_calibration(family: str, entries: list[dict], path: Path | str = CALIBRATION_FILE) -> Path:
    """Store the nets of ``family`` (other families kept) with the routing fitted on them; return the path."""
    path = Path(path)
    data = json.loads(path.read_text()) if path.is_file() else {"format": CALIBRATION_FORMAT, "families": {}}
    a, b = fit_routing(entries)
    data["families"][family] = {
        "part": CALIBRATION_PART.get(family), "cells_ns": CELLS[family], "stages": {k: ["+".join(s) for s in v]
                                                                                  for k, v in STAGES.items()},
        "model": "period = max over template stages of logic_ns + hops * (a + b * spread); fmax = 1000 / period",
        "routing_ns_per_hop": {"a": round(a, 4), "b": round(b, 4)}, "nets": entries,
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
        a, b = fit_routing(others)
        est = 1000.0 / _period(n["stages"], a, b)
        st = max(n["stages"], key=lambda x: x["logic_ns"] + x["hops"] * (a + b * x["spread"]))
        rows.append({"net": n["net"], "description": n.get("description"), "measured_mhz": n["fmax_mhz"],
                     "estimate_mhz": round(est, 2), "error": round(est / n["fmax_mhz"] - 1.0, 4),
                     "critical_stage": f"{st['layer']}: {st['stage']}", "fit_on": [o["net"] for o in others],
                     "commit": n.get("commit"), "date": n.get("date")})
    return rows


SPREAD_MARGIN = 0.05  # a design's spread this far outside the calibrated nets' range is an extrapolation


def estimate_fmax(manifest: dict, part: Part, path: Path | str = CALIBRATION_FILE) -> dict | None:
    """{"fmax_mhz", "source", "critical_path", "calibration"} for ``manifest`` on ``part``; None when the family
    has no calibration (then no estimate exists)."""
    cal = load_calibration(part.family, path)
    if not cal.get("nets") or part.family not in CELLS:
        return None
    a, b = fit_routing(cal["nets"])
    crit = critical_path(manifest, part, a, b)
    if not crit.get("period_ns"):
        return None
    loo = [abs(r["error"]) for r in leave_one_out(cal)]
    commits = sorted({str(n.get("commit")) for n in cal["nets"]})
    spreads = [st["spread"] for n in cal["nets"] for st in n.get("stages", [])]
    lo, hi = (min(spreads), max(spreads)) if spreads else (crit["spread"], crit["spread"])
    extrapolated = not lo - SPREAD_MARGIN <= crit["spread"] <= hi + SPREAD_MARGIN
    bound = (f"EXTRAPOLATED: this design's spread {crit['spread']:.2f} lies outside the calibrated nets' "
             f"{lo:.2f}-{hi:.2f}, so their error bound does not apply" if extrapolated else
             f"leave-one-out error up to {100 * max(loo, default=0):.0f} %")
    return {
        "fmax_mhz": round(1000.0 / crit["period_ns"], 2),
        "source": f"estimate (fmax model calibrated on {len(cal['nets'])} nextpnr runs on {cal.get('part')}, {bound})",
        "extrapolated": extrapolated,
        "critical_path": crit,
        "calibration": {"routing_ns_per_hop": {"a": a, "b": b}, "nets": [n["net"] for n in cal["nets"]],
                        "commits": commits, "max_leave_one_out_error": max(loo, default=None)},
    }
