"""Bar (issue 5): the default demo net fits LFE5U-85F, places and routes, and meets >= 100 frames/s at the
achieved fmax; the analytic estimate vs Yosys synthesis of the whole network (LUT within 25 %, DSP and
block-RAM bits within 10 %).

Runs ``pleiades-fpga build build/demo/model.onnx --backend rtl --out build/ulx3s --target ulx3s-85f``
(fold within the part's multipliers -> Yosys synth_ecp5 -> nextpnr-ecp5 -> ecppack) unless build/ulx3s
already holds a report from that command for the same model (then its numbers are collected). Needs
build/demo/model.onnx (``make demo``). Writes bench/results/board_ulx3s.json. About 30-60 min on 2 busy cores.
"""
from __future__ import annotations

import filecmp
import json
import subprocess
import sys
import time
from pathlib import Path

from bench.common import write_result
from bench.estimate_vs_synth import BARS

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "build" / "demo" / "model.onnx"
OUT = ROOT / "build" / "ulx3s"
KEYS = ("lut", "ff", "dsp", "bram_bits")


def main() -> dict:
    if not MODEL.is_file():
        raise SystemExit(f"{MODEL} is missing: run `make demo` first")
    report_path = OUT / "report.json"
    reused = report_path.is_file() and (OUT / "model.onnx").is_file() and filecmp.cmp(MODEL, OUT / "model.onnx", shallow=False)
    seconds = None
    if not reused:
        start = time.time()
        subprocess.run([sys.executable, "-m", "pleiades_fpga.cli", "build", str(MODEL), "--backend", "rtl", "--out",
                        str(OUT), "--target", "ulx3s-85f", "--float-ckpt", str(MODEL.parent / "float.pt")],
                       check=True, cwd=ROOT)
        seconds = time.time() - start
    rep = json.loads(report_path.read_text())
    est = rep.get("estimate") or {}
    syn = (rep.get("synth") or {}).get("utilization") or {}
    ratio = rep.get("estimate_over_synth") or {}
    bars = {
        "fits": bool(rep.get("fits")),
        "placed_and_routed": rep.get("fmax_mhz") is not None,
        "realtime_at_fmax": bool(rep.get("realtime")),
        **{f"{key}_within_{round(bar * 100)}pct": ratio.get(key) is not None and abs(ratio[key] - 1) <= bar
           for key, bar in BARS.items()},
    }
    result = {
        "model": str(MODEL), "build": str(OUT), "reused_existing_build": reused, "build_seconds": seconds,
        "target": rep.get("target"), "fmax_mhz": rep.get("fmax_mhz"), "cycles_per_frame": rep.get("cycles_per_frame"),
        "latency_cycles": rep.get("latency_cycles"), "frames_per_second": rep.get("frames_per_second"),
        "realtime": rep.get("realtime"), "required_fps": rep.get("required_fps"),
        "resources_synth": {k: syn.get(k) for k in KEYS}, "resources_estimate": {k: est.get(k) for k in KEYS},
        "board_resources_placed": rep.get("board_resources"), "utilization_percent": rep.get("utilization_percent"),
        "verdict": rep.get("verdict"), "board_clock_mhz": rep.get("board_clock_mhz"),
        "timing_met_at_board_clock": rep.get("timing_met_at_board_clock"),
        "estimate_over_synth": ratio, "pnr": rep.get("pnr"), "bitstream": rep.get("bitstream"), "bar": bars,
    }
    write_result("board_ulx3s", result)
    return result


if __name__ == "__main__":
    main()
