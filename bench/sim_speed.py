"""Simulation speed of ``verify`` (HDL harness, cocotb as orchestrator) vs an HDL-only testbench (issue #13).

On the demo net (build/demo when `make demo` finished there, else the demo model rebuilt with
--max-multipliers 128 as `make demo` does): verify's simulated cycles per second without back-pressure and a
plain HDL-only testbench's (frames from $readmemh, tvalid/tready held high, clock toggled by a C++ main, no
checkers, no cocotb) on the same frames of the same build in the same run, their ratio and whether their outputs
are identical; then 10^4 frames under random back-pressure on Verilator (2 jobs) with the wall time; the same
for Icarus on fewer frames (its HDL-only testbench clocks itself with a delay loop).
Usage: ``python -m bench.sim_speed [BUILD_DIR] [FRAMES]``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import write_result

ROOT = Path(__file__).resolve().parents[1]
RATIO_FRAMES = 200
BIG_FRAMES = 10_000
ICARUS_FRAMES = 6
REPEATS = 3
BARS = {"ratio_min": 0.5, "big_frames_max_seconds": 15 * 60}


def _design(tmp: Path) -> tuple[Path, str]:
    demo = ROOT / "build" / "demo"
    if (demo / "demo.json").is_file() and (demo / "manifest.json").is_file():
        return demo, "build/demo (make demo)"
    from pleiades_fpga.hw.build import build_rtl

    build_rtl(demo / "model.onnx", tmp / "demo", max_multipliers=128)
    return tmp / "demo", "build/demo/model.onnx rebuilt with --max-multipliers 128"


def _reference(build_dir: Path, sim: str, frames_words: np.ndarray, work: Path) -> dict[str, Any]:
    """Build and run the HDL-only testbench on the frames (C, T, H, W); wall time, cycles, output words."""
    from pleiades_fpga.hw.rtl.generate import rtl_sources
    from pleiades_fpga.sim.harness import reference_testbench_verilog, write_frames_hex
    from pleiades_fpga.toolflow.locate import tool_env, verilator_cmd

    manifest = json.loads((build_dir / "manifest.json").read_text())
    work.mkdir(parents=True, exist_ok=True)
    inp = manifest["input"]
    n_frames = frames_words.shape[1]
    write_frames_hex(work / "frames.hex", frames_words, inp["bits"], inp["signed"])
    tb = work / "pleiades_ref.v"
    tb.write_text(reference_testbench_verilog(manifest, n_frames, hdl_clock=sim == "icarus"))
    srcs = [str(p) for p in rtl_sources(build_dir)] + [str(tb)]
    env = {**os.environ, **tool_env(sim)} if sim == "verilator" else dict(os.environ)
    t0 = time.monotonic()
    built = (work / "obj" / "Vref").exists() or (work / "ref.vvp").exists()
    if built:
        cmd = [str(work / "obj" / "Vref")] if sim == "verilator" else ["vvp", "-n", str(work / "ref.vvp")]
    elif sim == "verilator":
        main = work / "main.cpp"
        main.write_text('#include "Vpleiades_ref.h"\n#include "verilated.h"\n'
                        "int main(int argc, char** argv) {\n"
                        "    VerilatedContext ctx; ctx.commandArgs(argc, argv);\n"
                        "    Vpleiades_ref top{&ctx};\n"
                        "    top.clk = 0; top.eval();\n"
                        "    while (!ctx.gotFinish()) { top.clk = !top.clk; top.eval(); ctx.timeInc(5); }\n"
                        "    top.final(); return 0;\n}\n")
        subprocess.run(verilator_cmd() + ["--cc", "--exe", "--build", "-j", "2", "-Wno-fatal", "-Wno-lint",
                                          "-Wno-style", "--top-module", "pleiades_ref", "-Mdir", str(work / "obj"),
                                          "-o", "Vref", str(main), *srcs],
                       check=True, cwd=work, env=env)
        cmd = [str(work / "obj" / "Vref")]
    else:
        subprocess.run(["iverilog", "-g2012", "-o", str(work / "ref.vvp"), "-s", "pleiades_ref", *srcs],
                       check=True, cwd=work, capture_output=True)
        cmd = ["vvp", "-n", str(work / "ref.vvp")]
    build_s = time.monotonic() - t0
    t0 = time.monotonic()
    out = subprocess.run(cmd, check=True, cwd=work, env=env, capture_output=True, text=True).stdout
    run_s = time.monotonic() - t0
    cycles = int(next(line.split()[1] for line in out.splitlines() if line.startswith("cycles")))
    lines = [line.split() for line in (work / "ref_outputs.txt").read_text().splitlines() if line.strip()]
    return {"frames": n_frames, "cycles": cycles, "run_seconds": run_s, "build_seconds": build_s,
            "cycles_per_second": cycles / run_s, "out_cycles": [int(c) for c, _ in lines],
            "words": [int(w, 16) for _, w in lines]}


def _speed(build_dir: Path, sim: str, frames: int, work: Path) -> dict[str, Any]:
    """verify without back-pressure vs the HDL-only testbench on the same frames: cycles/s, ratio, same outputs."""
    from pleiades_fpga.sim.axis import pack_pixel
    from pleiades_fpga.sim.verify import verify_build

    # alternating repetitions, best of each: the machine is shared, so single timings are noisy
    runs, refs = [], []
    for _ in range(REPEATS):
        runs.append(verify_build(build_dir, frames=frames, clip_frames=frames, sim=sim, pause=0.0, seed=0, jobs=1))
        data = np.load(build_dir / "verification.npz")
        refs.append(_reference(build_dir, sim, data["input_frames"][0].astype(np.int64), work))
    s = max(runs, key=lambda r: r["sim_cycles_per_second"])
    ref = max(refs, key=lambda r: r["cycles_per_second"])
    manifest = json.loads((build_dir / "manifest.json").read_text())
    bits = manifest["output"]["bits"]
    rtl_words = [pack_pixel(data["rtl_outputs"][0][:, t], bits, True) for t in range(frames)]
    return {
        "frames": frames,
        "verify": {k: s[k] for k in ("bit_exact", "passed", "sim_cycles", "sim_seconds", "sim_cycles_per_second",
                                     "sim_cycles_per_second_in_simulator", "cycles_per_frame_measured",
                                     "latency_cycles", "wall_seconds")},
        "hdl_only": {**{k: ref[k] for k in ("frames", "cycles", "run_seconds", "cycles_per_second")},
                     "build_seconds": refs[0]["build_seconds"]},
        "repeats": REPEATS,
        "verify_cycles_per_second_all": [r["sim_cycles_per_second"] for r in runs],
        "hdl_only_cycles_per_second_all": [r["cycles_per_second"] for r in refs],
        "ratio": s["sim_cycles_per_second"] / ref["cycles_per_second"],
        "ratio_in_simulator": s["sim_cycles_per_second_in_simulator"] / ref["cycles_per_second"],
        "outputs_identical": rtl_words == ref["words"],
        "note": "verify's cycles/s = simulated cycles / wall seconds of its simulator process (Python and cocotb "
                "start-up, frame load, harness with stream checkers; best of `repeats` runs alternating with the "
                "HDL-only testbench's; 'in_simulator': from the first start to the "
                "last done, measured by the cocotb orchestrator); HDL-only = cycles / wall seconds of the bare "
                "testbench binary. verify counts the reset cycles and the cycles until its last output; the "
                "HDL-only testbench counts up to its last output.",
    }


def _many(build_dir: Path, sim: str, frames: int, jobs: int, clip_frames: int) -> dict[str, Any]:
    """``frames`` frames under random back-pressure: wall time, bit-exactness, stream checks."""
    from pleiades_fpga.sim.verify import verify_build

    s = verify_build(build_dir, frames=frames, clip_frames=clip_frames, sim=sim, pause=0.3, seed=1, jobs=jobs,
                     progress=True)
    checks = s["stream_checks"]
    return {"frames": s["frames"], "clips": s["clips"], "jobs": s["jobs"], "pause": s["pause"],
            "values_compared": s["values_compared"], "mismatches": s["mismatches"], "bit_exact": s["bit_exact"],
            "stream_checks": {k: checks[k] for k in ("streams", "violations", "ok")},
            "max_stall_cycles": max(e["max_stall"] for e in checks["per_stream"].values()),
            "sim_cycles": s["sim_cycles"], "sim_cycles_per_second_per_job": s["sim_cycles_per_second"],
            "wall_seconds": s["wall_seconds"]}


def main(argv: list[str] | None = None) -> dict:
    from pleiades_fpga.toolflow.locate import have_simulator

    args = sys.argv[1:] if argv is None else argv
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args:
            build_dir, source = Path(args[0]), args[0]
        else:
            build_dir, source = _design(tmp)
        big = int(args[1]) if len(args) > 1 else BIG_FRAMES
        manifest = json.loads((build_dir / "manifest.json").read_text())
        from pleiades_fpga.artifacts import design_hash

        result: dict[str, Any] = {"design": source, "design_hash": design_hash(build_dir),
                                  "multipliers": manifest["multipliers"],
                                  "cycles_per_frame_analytic": manifest["cycles_per_frame"],
                                  "load_average_before": load_before, "bars": BARS}
        result["verilator"] = {"speed": _speed(build_dir, "verilator", RATIO_FRAMES, tmp / "ref_v")}
        print("verilator speed", result["verilator"]["speed"], flush=True)
        result["verilator"]["backpressure"] = _many(build_dir, "verilator", big, 2, 100)
        print("verilator many", result["verilator"]["backpressure"], flush=True)
        if have_simulator("icarus"):
            result["icarus"] = {"speed": _speed(build_dir, "icarus", ICARUS_FRAMES, tmp / "ref_i"),
                                "backpressure": _many(build_dir, "icarus", ICARUS_FRAMES, 2, ICARUS_FRAMES // 2)}
            print("icarus", result["icarus"], flush=True)
        else:
            result["icarus"] = "not installed"
        v = result["verilator"]
        result["bars_met"] = {
            "ratio": v["speed"]["ratio"] >= BARS["ratio_min"],
            "big_frames": (v["backpressure"]["frames"] >= BIG_FRAMES and v["backpressure"]["bit_exact"]
                           and v["backpressure"]["stream_checks"]["ok"]
                           and v["backpressure"]["wall_seconds"] <= BARS["big_frames_max_seconds"]),
        }
        result["load_average_after"] = os.getloadavg()
    write_result("sim_speed", result)
    return result


if __name__ == "__main__":
    main()
