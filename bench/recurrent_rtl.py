"""Whole default net in recurrent mode on the RTL backend (issue #6 bar: bit-exact over >= 30 frames).

Exports the default preset with ``temporal = "recurrent"`` (w8a8, calibrated random weights unless a
trained recurrent QAT checkpoint is given in PLEIADES_RECURRENT_CKPT), then runs the CLI exactly as a user
would: ``pleiades-fpga build model.onnx --backend rtl --out DIR --max-multipliers 128`` (the multiplier
budget of the buffer-mode demo design, which fits the LFE5U-85F), ``pleiades-fpga verify DIR --frames 30``
(Verilator; Icarus too when installed and PLEIADES_BENCH_ICARUS=1) and ``pleiades-fpga report DIR``
(estimator), and records the verification summary, the projection layers (D, state width, F, folding,
cycles), resources and the temporal memory table of the build.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import write_result

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "pleiades_fpga.cli"]
MAX_MULTIPLIERS = 128


def _export(path: Path) -> str:
    import torch

    from pleiades_fpga.quant import export_model

    ckpt = os.environ.get("PLEIADES_RECURRENT_CKPT")
    if ckpt:
        from pleiades_fpga.model import load_model

        export_model(load_model(ckpt).eval(), path, frames=16)
        return f"trained recurrent checkpoint {ckpt}"
    from pleiades_fpga.data import load_clips
    from pleiades_fpga.model import get_preset
    from pleiades_fpga.quant import build_quant_model, calibrate

    torch.manual_seed(0)
    cfg = get_preset("default").replace(temporal="recurrent")
    model = build_quant_model(cfg, "w8a8")
    clips = load_clips("synthetic", "train", 32, 8, 0, None, progress=False).frames(cfg.bin_us).float()[:, :, :60]
    calibrate(model, clips)
    export_model(model.eval(), path, frames=16)
    return "default preset, temporal=recurrent, calibrated random weights (w8a8)"


def _run(cmd: list[str]) -> float:
    print("$", " ".join(cmd[2:] if cmd[:3] == CLI else cmd), flush=True)
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, cwd=ROOT)
    return time.monotonic() - t0


def main() -> dict:
    from pleiades_fpga.report.temporal_memory import temporal_memory
    from pleiades_fpga.toolflow.locate import have_simulator

    sims = ["verilator"] + (["icarus"] if os.environ.get("PLEIADES_BENCH_ICARUS") and have_simulator("icarus") else [])
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        onnx_path = tmp / "model.onnx"
        source = _export(onnx_path)
        out = tmp / "build"
        build_s = _run([*CLI, "build", str(onnx_path), "--backend", "rtl", "--out", str(out),
                        "--max-multipliers", str(MAX_MULTIPLIERS)])
        manifest = json.loads((out / "manifest.json").read_text())
        proj = [{k: l.get(k) for k in ("name", "in_shape", "out_shape", "state_dim", "state_bits", "frac_bits",
                                        "acc_bits", "pe", "simd", "multipliers", "cycles_per_frame", "memories")}
                for l in manifest["layers"] if l["kind"] == "projection"]
        result = {"model": source, "commands": [
                      f"pleiades-fpga build model.onnx --backend rtl --out BUILD --max-multipliers {MAX_MULTIPLIERS}",
                      "pleiades-fpga verify BUILD --frames 30 --sim SIM", "pleiades-fpga report BUILD"],
                  "build_seconds": build_s, "projection_layers": proj,
                  "multipliers": manifest["multipliers"], "macs_per_frame": manifest["macs_per_frame"],
                  "cycles_per_frame_analytic": manifest["cycles_per_frame"],
                  "temporal_memory": temporal_memory(manifest), "simulators": {}}
        for sim in sims:
            _run([*CLI, "verify", str(out), "--frames", "30", "--sim", sim])
            s = json.loads((out / "verification.json").read_text())
            result["simulators"][sim] = {k: s.get(k) for k in (
                "frames", "values_compared", "mismatches", "bit_exact", "projection_saturations",
                "cycles_per_frame_measured", "cycles_per_frame_ratio", "efficiency", "latency_cycles",
                "sim_cycles", "sim_seconds", "build_seconds", "wall_seconds")}
            print(sim, result["simulators"][sim], flush=True)
        subprocess.run([*CLI, "report", str(out)], cwd=ROOT)  # exits 1 (with the report written) if it does not fit
        rep = json.loads((out / "report.json").read_text())
        result["report"] = {k: rep.get(k) for k in ("target", "resources", "resources_source", "fits", "verdict",
                                                    "frames_per_second", "memory")}
    result["bar_bit_exact_30_frames"] = all(v["bit_exact"] and v["frames"] >= 30 for v in result["simulators"].values())
    write_result("recurrent_rtl", result)
    return result


if __name__ == "__main__":
    main()
