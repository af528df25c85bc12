"""Assemble the build report (report.json): resources, memory, cycles, latency, real-time verdict.

Sources: place-and-route (fmax; placed resources of the whole board design in "board_resources"),
synthesis (LUT/FF/DSP/BRAM of the network's own module and per layer module),
the analytic estimator (always, per layer), manifest.json (cycles, MACs, memories),
verification.json (from ``verify``) and metrics.json / latency tables (accuracy vs latency).
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from pleiades_fpga.artifacts import HASH_KEY, design_hash, write_json_atomic, write_text_atomic
from pleiades_fpga.errors import DoesNotFitError, PleiadesError
from pleiades_fpga.report.estimate import estimate_manifest, memory_breakdown
from pleiades_fpga.report.fmax_model import estimate_fmax
from pleiades_fpga.toolflow.parts import RESOURCES, Part, check_fit, utilization_percent
from pleiades_fpga.toolflow.pnr import PnrResult
from pleiades_fpga.report.realtime import external_memory_check, realtime_check
from pleiades_fpga.toolflow.synth import SynthResult, layer_utilization
from pleiades_fpga.report.temporal_memory import temporal_memory

MANIFEST_FORMAT = "pleiades-fpga-manifest/1"
REPORT_FORMAT = "pleiades-fpga-report/1"


def load_manifest(build_dir: Path | str) -> dict:
    """Read and check ``build_dir/manifest.json`` (schema in docs/ARCHITECTURE.md): the one check of an RTL build
    directory that report and verify share (other backends, edited or incomplete builds)."""
    if Path(build_dir).exists() and not Path(build_dir).is_dir():
        raise PleiadesError(f"{build_dir} is a file, not a build directory")
    path = Path(build_dir) / "manifest.json"
    if not path.exists():
        raise PleiadesError(f"{path} not found; generate the build first (pleiades-fpga build MODEL --out {build_dir})")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PleiadesError(f"{path} is not valid JSON ({exc}); rebuild with `pleiades-fpga build`") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise PleiadesError(f"{path}: format {found!r}, expected {MANIFEST_FORMAT!r}: report and verify need an RTL "
                            "build (`pleiades-fpga build MODEL.onnx --backend rtl`); an hls4ml build is checked by "
                            "its own C simulation (docs/HLS4ML.md)")
    missing = [k for k in ("top", "rtl_files", "input", "output", "layers", "cycles_per_frame") if k not in manifest]
    if missing:
        raise PleiadesError(f"{path} lacks field(s) {', '.join(missing)}; rebuild with `pleiades-fpga build`")
    _check_manifest_values(path, manifest)
    gone = [f for f in manifest["rtl_files"] if not (Path(build_dir) / f).is_file()]
    if not manifest["layers"] or gone:
        what = f"RTL file(s) {', '.join(map(str, gone[:5]))}{' ...' if len(gone) > 5 else ''} missing" if gone \
            else "no layers"
        raise PleiadesError(f"{build_dir} is an incomplete build ({what}); rebuild it with `pleiades-fpga build "
                            f"MODEL.onnx --out {build_dir}`")
    return manifest


_LAYER_INTS = ("pe", "simd", "in_bits", "out_bits", "weight_bits", "acc_bits", "m_bits", "kernel", "stride", "groups",
               "macs_per_frame", "multipliers", "cycles_per_frame")


def _check_manifest_values(path: Path, m: dict) -> None:
    """Refuse a manifest edited into something the report would misread (types, ranges, paths, names)."""
    def bad(what: str) -> PleiadesError:
        return PleiadesError(f"{path}: {what}; the file looks edited or corrupt: rebuild with `pleiades-fpga build`")

    def count(v: Any, positive: bool = False) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and (v > 0 if positive else v >= 0)

    if not isinstance(m["top"], str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", m["top"]):
        raise bad(f"top {m['top']!r} is not a Verilog module name")
    files = m["rtl_files"]
    if not isinstance(files, list) or not all(isinstance(f, str) and f and not Path(f).is_absolute()
                                              and ".." not in Path(f).parts for f in files):
        raise bad("rtl_files must be a list of paths inside the build directory")
    if not count(m["cycles_per_frame"], positive=True):
        raise bad(f"cycles_per_frame = {m['cycles_per_frame']!r} is not a positive integer")
    for key in ("latency_cycles", "multipliers", "macs_per_frame"):
        if m.get(key) is not None and not count(m[key]):
            raise bad(f"{key} = {m[key]!r} is not a non-negative integer")
    clock = m.get("clock_mhz_target")
    if clock is not None and (isinstance(clock, bool) or not isinstance(clock, (int, float))
                              or not math.isfinite(clock) or clock <= 0):
        raise bad(f"clock_mhz_target = {clock!r} is not a positive number of MHz")
    inp = m["input"]
    bin_us = inp.get("bin_us") if isinstance(inp, dict) else None
    if not isinstance(inp, dict) or (bin_us is not None and (isinstance(bin_us, bool) or not isinstance(
            bin_us, (int, float)) or not math.isfinite(bin_us) or bin_us <= 0)):
        raise bad(f"input must be an object with a positive bin_us (or null), got {inp!r}")
    if not isinstance(m["layers"], list) or not all(isinstance(l, dict) for l in m["layers"]):
        raise bad("layers must be a list of objects")
    for layer in m["layers"]:
        name = layer.get("name")
        for key in _LAYER_INTS:
            if key in layer and not count(layer[key]):
                raise bad(f"layer {name}: {key} = {layer[key]!r} is not a non-negative integer")
    slowest = max((l["cycles_per_frame"] for l in m["layers"] if "cycles_per_frame" in l), default=0)
    if m["cycles_per_frame"] < slowest:  # the throughput bound is the slowest layer: a smaller figure is false
        raise bad(f"cycles_per_frame = {m['cycles_per_frame']:,} is below its slowest layer's {slowest:,}")
        mems = layer.get("memories", [])
        if not isinstance(mems, list) or not all(
                isinstance(x, dict) and all(count(x.get(k, 0)) for k in ("depth", "width", "bits")) for x in mems):
            raise bad(f"layer {name}: memories must be objects with non-negative integer depth, width, bits")


def _read_json(path: Path) -> dict | list | None:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):    # unreadable: treated as absent by every reader
        return None


def accuracy_vs_latency(build_dir: Path | str) -> list[dict] | None:
    """Accuracy-vs-latency points [{"latency_ms", "accuracy", ...}] from metrics.json or latency.json, if any.

    Accepted forms: a list of points, or a dictionary with key "accuracy_vs_latency" or "latency_table" holding
    such a list (points may use "latency_frames" instead of "latency_ms"), or the metrics.json of
    ``pleiades-fpga train`` (``make demo`` copies the QAT model's there): its test evaluation's
    ``per_step_accuracy``, the accuracy of the prediction at frame t after the clip start, from reset, becomes
    points {"latency_frames": t + 1, "latency_ms": (t + 1) x bin, "accuracy", "source"}.
    """
    build_dir = Path(build_dir)
    for name in ("metrics.json", "latency.json", "accuracy_vs_latency.json"):
        data = _read_json(build_dir / name)
        if isinstance(data, dict):
            steps = data.get("test", {}).get("per_step_accuracy") if isinstance(data.get("test"), dict) else None
            data = data.get("accuracy_vs_latency") or data.get("latency_table") or _per_step_points(data, steps, name)
        if isinstance(data, list) and data and all(isinstance(p, dict) and "accuracy" in p for p in data):
            # the trainer's latency_table rows are {"t_ms", "accuracy"}
            return [{**p, "latency_ms": p["t_ms"]} if "t_ms" in p and "latency_ms" not in p else p for p in data]
    return None


def _per_step_points(metrics: dict, steps: Any, name: str) -> list[dict] | None:
    """Points of a training run's per-frame test accuracy (see :func:`accuracy_vs_latency`), or None."""
    if not isinstance(steps, list) or not steps or not all(isinstance(a, (int, float)) for a in steps):
        return None
    test = metrics["test"]
    bin_us = test.get("bin_us") or (metrics.get("config") or {}).get("bin_us")
    source = (f"{name}: test evaluation of the trained model ({test.get('n_clips', '?')} clips), accuracy of the "
              "prediction at each frame after the clip start, from reset")
    return [{"latency_frames": t + 1, **({"latency_ms": (t + 1) * bin_us / 1000} if bin_us else {}),
             "accuracy": float(a), "source": source} for t, a in enumerate(steps)]


def _count(v: Any) -> bool:
    """A positive finite number (a figure a verification measured)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def build_report(manifest: dict, part: Part, synth: SynthResult | None = None, pnr: PnrResult | None = None,
                 verification: dict | None = None, accuracy: list[dict] | None = None,
                 clock_mhz: float | None = None) -> dict:
    """The report dictionary (see module docstring); does not raise when the design does not fit.

    ``verification``: from :func:`read_verification`; ``clock_mhz``: without place and route, the clock the
    design is meant to run at (frame rates use it when it is at or below the fmax estimate, see
    :func:`design_clock`)."""
    est = estimate_manifest(manifest, part)
    if synth is not None:
        resources = {k: synth.utilization[k] for k in RESOURCES}
        source = "synthesis"
    else:
        resources = {k: est["total"][k] for k in RESOURCES}
        source = "estimate"
    fits, overflow = True, ""
    try:
        check_fit(resources, part)
    except DoesNotFitError as exc:
        fits, overflow = False, str(exc)

    fmax_estimate = estimate_fmax(manifest, part)
    fmax, fmax_source, fmax_kind, clock_advice = design_clock(manifest, part, pnr, clock_mhz, fmax_estimate)
    inp = manifest["input"]
    bin_us = float(inp.get("bin_us") or 10000)        # 10 ms bins (the published model) when not recorded
    cycles = int(manifest["cycles_per_frame"])
    if manifest.get("latency_cycles") is not None:
        latency, latency_source = int(manifest["latency_cycles"]), "analytic (manifest)"
    else:   # streaming pipeline: the logits follow the frame's last pixel by about one slowest-layer frame
        latency, latency_source = cycles, "estimate (cycles_per_frame; manifest has no latency_cycles)"
    analytic = {"cycles_per_frame": cycles, "latency_cycles": latency}
    cycles_source = "analytic (manifest)"
    current = verification if verification and verification.get("status") == "current" else None
    if current is not None:  # a verification of this very design measured them: those are the headline figures
        measured = "measured in simulation (verify, median of the run without pauses"
        if _count(current.get("cycles_per_frame_measured")):
            cycles = int(round(current["cycles_per_frame_measured"]))
            cycles_source = f"{measured}; analytic {analytic['cycles_per_frame']:,})"
        if _count(current.get("latency_cycles")):
            latency = int(round(current["latency_cycles"]))
            latency_source = f"{measured}; {latency_source} {analytic['latency_cycles']:,})"
    extrapolated = fmax_kind == "estimate" and bool(fmax_estimate and fmax_estimate.get("extrapolated"))
    rt = realtime_check(manifest["layers"], cycles, fmax, bin_us,
                        memory_overflow=resources["bram_bits"] > part.bram_bits,
                        clock_label="estimate, extrapolated: outside the calibrated nets" if extrapolated else fmax_kind)
    rt["advice"] = rt["advice"] + clock_advice
    ext = external_memory_check(manifest, part.name, rt["required_fps"], rt["frames_per_second"])
    if ext is not None:
        realtime_ok, rt["verdict"] = _with_memory(rt, ext)
        rt["realtime"] = realtime_ok

    layers = []
    for layer, le in zip(manifest["layers"], est["layers"]):
        mem_bits = sum(int(m.get("bits") or int(m.get("depth", 0)) * int(m.get("width", 0)))
                       for m in layer.get("memories", []))
        entry = {
            "name": layer.get("name"), "kind": layer.get("kind"), "module": layer.get("module"),
            "in_shape": layer.get("in_shape"), "out_shape": layer.get("out_shape"),
            "pe": layer.get("pe"), "simd": layer.get("simd"),
            "macs_per_frame": int(layer.get("macs_per_frame", 0)), "multipliers": int(layer.get("multipliers", 0)),
            "cycles_per_frame": int(layer.get("cycles_per_frame", 0)),
            "time_per_frame_us": int(layer.get("cycles_per_frame", 0)) / fmax,
            "memory_bits": mem_bits, "memories": le["memories"],
            "estimate": {k: le[k] for k in (*RESOURCES, "bram_blocks")},
            "synth": None,
        }
        if synth is not None and layer.get("module"):
            entry["synth"] = layer_utilization(synth, str(layer["module"]),
                                               str(layer.get("instance") or layer.get("name") or ""))
        layers.append(entry)

    # a board clock faster than the achieved fmax is not timing-clean: say so and what to do
    timing_met = None
    if pnr is not None and fmax is not None and pnr.target_mhz:
        timing_met = bool(fmax >= pnr.target_mhz)
        if not timing_met:
            rt["advice"] = list(rt["advice"]) + [
                f"timing is NOT met at the board clock ({pnr.target_mhz:g} MHz > fmax {fmax:.1f} MHz): clock the "
                f"design at <= {fmax:.1f} MHz (a PLL in the board wrapper) or raise fmax (fewer multipliers per "
                "layer, see the critical path in the nextpnr log); frame rates here are at fmax"]
    ratio = None
    if synth is not None:
        ratio = {k: (est["total"][k] / synth.utilization[k] if synth.utilization[k] else None) for k in RESOURCES}
    return {
        "format": REPORT_FORMAT,
        "name": manifest.get("name"),
        "target": part.name,
        "family": part.family,
        "resources": resources,
        "resources_source": source,
        "board_resources": dict(pnr.resources) if pnr is not None else None,   # placed, with the board wrapper
        "available": part.totals(),
        "utilization_percent": utilization_percent(resources, part),
        "fits": fits,
        "does_not_fit": overflow or None,
        "fmax_mhz": fmax,
        "fmax_source": fmax_source,
        "fmax_kind": fmax_kind,
        "fmax_estimate": fmax_estimate,
        "cycles_per_frame": cycles,
        "latency_cycles": latency,
        "latency_us": latency / fmax,
        "latency_source": latency_source,
        "frames_per_second": rt["frames_per_second"],
        "board_clock_mhz": pnr.target_mhz if pnr is not None else None,
        "timing_met_at_board_clock": timing_met,
        "frames_per_second_at_board_clock": (pnr.target_mhz * 1e6 / cycles) if pnr is not None else None,
        "required_fps": rt["required_fps"],
        "bin_us": bin_us,
        "realtime": bool(rt["realtime"] and fits),
        "verdict": rt["verdict"] if fits else f"DOES NOT FIT: {overflow}",
        "advice": rt["advice"],
        "slowest_layer": rt["slowest_layer"],
        "macs_per_frame": int(manifest.get("macs_per_frame", sum(l["macs_per_frame"] for l in layers))),
        "multipliers": int(manifest.get("multipliers", sum(l["multipliers"] for l in layers))),
        "memory": memory_breakdown(manifest, part),
        "temporal_memory": temporal_memory(manifest),
        "external_memory": ext,
        "layers": layers,
        "estimate": est["total"],
        "estimate_over_synth": ratio,
        "synth": synth.to_dict() if synth is not None else None,
        "pnr": pnr.to_dict() if pnr is not None else None,
        "cycles_source": cycles_source,
        "analytic": analytic,
        "verification": verification,
        "verified": bool(verification and verification.get("status") == "current" and verification.get("passed")),
        "accuracy_vs_latency": accuracy,
    }


def _with_memory(rt: dict, ext: dict) -> tuple[bool, str]:
    """The real-time verdict accounting for the external memory's bandwidth (estimated): too slow -> not real
    time; memory-bound -> frames at the memory's pace (still real time)."""
    total = (f"external memory {ext['mb_s_required']:,.1f} MB/s at the required rate, {ext['mb_s_achieved']:,.1f} "
             f"MB/s at the achieved rate")
    if ext["usable_mb_s"] is None:
        return rt["realtime"], f"{rt['verdict']}; {total}, no board memory known for this part (estimated bandwidth)"
    usable = f"{ext['usable_mb_s']:,.0f} MB/s usable on {ext['memory']['board']} (estimated bandwidth)"
    if ext["verdict"] == "too slow":
        return False, (f"NOT REAL-TIME: the external memory is too slow: {total} > {usable}; the memory sustains "
                       f"{ext['fps_memory']:,.1f} frames/s < {rt['required_fps']:,.1f} required")
    if ext["verdict"] == "memory-bound":
        return rt["realtime"], (f"{rt['verdict']}; memory-bound: {ext['fps_memory']:,.1f} frames/s at the memory's "
                                f"pace ({total} > {usable}), still >= {rt['required_fps']:,.1f} required")
    return rt["realtime"], f"{rt['verdict']}; {total} <= {usable}"


def design_clock(manifest: dict, part: Part, pnr: PnrResult | None, clock_mhz: float | None,
                 est: dict | None) -> tuple[float, str, str, list[str]]:
    """(MHz, source, kind, advice) of the clock the frame-rate figures use: the placed-and-routed fmax; else the
    fmax model's estimate (kind "estimate"), or the clock asked for when it is below that estimate; an assumed clock
    only when the family has no fmax model (kind "assumed, not achieved"). ``est``: :func:`estimate_fmax`."""
    if pnr is not None and pnr.fmax_mhz:
        return float(pnr.fmax_mhz), "place-and-route", "placed and routed", []
    if est is not None:
        if clock_mhz is not None and clock_mhz <= est["fmax_mhz"]:
            return (float(clock_mhz), f"--clock-mhz (at or below the fmax {est['source']} of {est['fmax_mhz']:.1f} "
                    "MHz)", "--clock-mhz, below the fmax estimate", [])
        advice = [] if clock_mhz is None else [
            f"--clock-mhz {clock_mhz:g} is above the fmax estimate ({est['fmax_mhz']:.1f} MHz): frame rates here are "
            "at the estimate; place and route (report --pnr) tells what the design reaches"]
        return est["fmax_mhz"], est["source"], "estimate", advice
    clock = float(clock_mhz if clock_mhz is not None else manifest.get("clock_mhz_target") or 100.0)
    what = "--clock-mhz" if clock_mhz is not None else "target clock"
    timing = "place and route it (report --pnr)" if part.family == "ecp5" else "run the Vivado script (synth)"
    return (clock, f"{what} (assumed, no place and route and no fmax calibration for {part.family}: not achieved)",
            "assumed, not achieved", [f"the clock is assumed, not achieved: no fmax calibration for {part.family} "
                                      f"parts; {timing} for the timing"])


def write_report(build_dir: Path | str, report: dict, html: bool = True) -> list[Path]:
    """Write report.json (and report.html with embedded plots) into ``build_dir`` atomically, both recording
    the design hash; return the paths. The page is rendered before anything is written."""
    build_dir = Path(build_dir)
    finn = _read_json(build_dir / "finn" / "comparison.json")  # `build --backend finn`: FINN vs our estimates
    report = {**report, HASH_KEY: design_hash(build_dir)}
    if isinstance(finn, dict) and {"segments", "temporal_layers", "totals", "fpga_part"} <= set(finn):
        report = {**report, "finn": finn}
    page = None
    if html:
        from pleiades_fpga.report.html import render_html

        page = render_html(report)
    out = [write_json_atomic(build_dir / "report.json", report)]
    if page is not None:
        out.append(write_text_atomic(build_dir / "report.html", page))
    elif (build_dir / "report.html").exists():
        (build_dir / "report.html").unlink()      # it described an earlier report
    return out


def read_verification(build_dir: Path | str) -> dict | None:
    """verification.json (from ``verify``) as a report may present it, or None when there is none.

    When it records the design hash of the build now in ``build_dir`` it is returned with
    ``"status": "current"``; otherwise (another design, no hash, unreadable) only
    ``{"status": "stale" | "unreadable", "message"}`` and the recorded hash: its figures are not used."""
    build_dir = Path(build_dir)
    path = build_dir / "verification.json"
    if not path.exists():
        return None
    data = _read_json(path)
    rerun = f"run `pleiades-fpga verify {build_dir}`"
    if not isinstance(data, dict):
        return {"status": "unreadable", "message": f"{path} is not a valid verification summary: {rerun}"}
    current = design_hash(build_dir)
    if current is None or data.get(HASH_KEY) != current:
        return {"status": "stale", "recorded_design_hash": data.get(HASH_KEY), "current_design_hash": current,
                "message": f"verification.json belongs to another design (or predates hashes): {rerun}"}
    passed, verdict = verification_verdict(data)
    return {**data, "status": "current", "passed": passed, "verdict": verdict}


def verification_verdict(summary: dict) -> tuple[bool, str]:
    """(passed, verdict text) of a verification summary: bit-exact *and* every in-simulator stream check clean."""
    checks = summary.get("stream_checks")
    if not summary.get("bit_exact"):
        return False, "MISMATCHES"
    if not isinstance(checks, dict):
        return False, "bit-exact, but no stream checks recorded (re-run `pleiades-fpga verify`)"
    if not checks.get("ok"):
        return False, f"bit-exact, but STREAM CHECK VIOLATIONS ({checks.get('violations', '?')})"
    return True, "bit-exact, stream checks passed"
