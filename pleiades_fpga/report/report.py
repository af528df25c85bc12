"""Assemble the build report (report.json): resources, memory, cycles, latency, real-time verdict.

Sources: place-and-route (fmax; placed resources of the whole board design in "board_resources"),
synthesis (LUT/FF/DSP/BRAM of the network's own module and per layer module),
the analytic estimator (always, per layer), manifest.json (cycles, MACs, memories),
verification.json (from ``verify``) and metrics.json / latency tables (accuracy vs latency).
"""
from __future__ import annotations

import json
from pathlib import Path

from pleiades_fpga.errors import DoesNotFitError, PleiadesError
from pleiades_fpga.report.estimate import estimate_manifest, memory_breakdown
from pleiades_fpga.report.parts import RESOURCES, Part, check_fit, utilization_percent
from pleiades_fpga.report.pnr import PnrResult
from pleiades_fpga.report.realtime import realtime_check
from pleiades_fpga.report.synth import SynthResult, layer_utilization
from pleiades_fpga.report.temporal_memory import temporal_memory

MANIFEST_FORMAT = "pleiades-fpga-manifest/1"
REPORT_FORMAT = "pleiades-fpga-report/1"


def load_manifest(build_dir: Path | str) -> dict:
    """Read and check ``build_dir/manifest.json`` (schema in docs/ARCHITECTURE.md)."""
    path = Path(build_dir) / "manifest.json"
    if not path.exists():
        raise PleiadesError(f"{path} not found; generate the build first (pleiades-fpga build MODEL --out {build_dir})")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise PleiadesError(f"{path} is not valid JSON: {exc}") from exc
    if manifest.get("format") != MANIFEST_FORMAT:
        raise PleiadesError(f"{path}: format {manifest.get('format')!r}, expected {MANIFEST_FORMAT!r}")
    missing = [k for k in ("top", "rtl_files", "input", "output", "layers", "cycles_per_frame") if k not in manifest]
    if missing:
        raise PleiadesError(f"{path} lacks field(s) {', '.join(missing)}")
    return manifest


def _read_json(path: Path) -> dict | list | None:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None


def accuracy_vs_latency(build_dir: Path | str) -> list[dict] | None:
    """Accuracy-vs-latency points [{"latency_ms", "accuracy"}] from metrics.json or latency.json, if any.

    Accepted forms: a list of points, or a dictionary with key "accuracy_vs_latency" or
    "latency_table" holding such a list (points may use "latency_frames" instead of "latency_ms").
    """
    build_dir = Path(build_dir)
    for name in ("metrics.json", "latency.json", "accuracy_vs_latency.json"):
        data = _read_json(build_dir / name)
        if isinstance(data, dict):
            data = data.get("accuracy_vs_latency") or data.get("latency_table")
        if isinstance(data, list) and data and all(isinstance(p, dict) and "accuracy" in p for p in data):
            # the trainer's latency_table rows are {"t_ms", "accuracy"}
            return [{**p, "latency_ms": p["t_ms"]} if "t_ms" in p and "latency_ms" not in p else p for p in data]
    return None


def build_report(manifest: dict, part: Part, synth: SynthResult | None = None, pnr: PnrResult | None = None,
                 verification: dict | None = None, accuracy: list[dict] | None = None) -> dict:
    """The report dictionary (see module docstring); does not raise when the design does not fit."""
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

    if pnr is not None and pnr.fmax_mhz:
        fmax, fmax_source = pnr.fmax_mhz, "place-and-route"
    else:
        fmax = float(manifest.get("clock_mhz_target") or 100.0)
        fmax_source = "target clock (no place and route)"
    inp = manifest["input"]
    bin_us = float(inp.get("bin_us") or 10000)        # 10 ms bins (the published model) when not recorded
    cycles = int(manifest["cycles_per_frame"])
    if manifest.get("latency_cycles") is not None:
        latency, latency_source = int(manifest["latency_cycles"]), "manifest"
    else:   # streaming pipeline: the logits follow the frame's last pixel by about one slowest-layer frame
        latency, latency_source = cycles, "estimate (cycles_per_frame; manifest has no latency_cycles)"
    rt = realtime_check(manifest["layers"], cycles, fmax, bin_us,
                        memory_overflow=resources["bram_bits"] > part.bram_bits)

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
        "layers": layers,
        "estimate": est["total"],
        "estimate_over_synth": ratio,
        "synth": synth.to_dict() if synth is not None else None,
        "pnr": pnr.to_dict() if pnr is not None else None,
        "verification": verification,
        "accuracy_vs_latency": accuracy,
    }


def write_report(build_dir: Path | str, report: dict, html: bool = True) -> list[Path]:
    """Write report.json (and report.html with embedded plots) into ``build_dir``; return the paths."""
    build_dir = Path(build_dir)
    finn = _read_json(build_dir / "finn" / "comparison.json")  # `build --backend finn`: FINN vs our estimates
    if isinstance(finn, dict):
        report = {**report, "finn": finn}
    out = [build_dir / "report.json"]
    out[0].write_text(json.dumps(report, indent=2, default=float) + "\n")
    if html:
        from pleiades_fpga.report.html import render_html

        out.append(build_dir / "report.html")
        out[1].write_text(render_html(report))
    return out


def read_verification(build_dir: Path | str) -> dict | None:
    """verification.json written by ``verify``, if present."""
    data = _read_json(Path(build_dir) / "verification.json")
    return data if isinstance(data, dict) else None
