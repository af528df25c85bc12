"""External temporal buffers (issue #15): memory plan, traffic and bandwidth, and whole networks built with external
buffers by the generator, verified in simulation.

1. Plan (hw.rtl.memory_plan, estimated): the dvs128 preset's temporal layer shapes (128x128, K = 10, 8-bit) on
   LFE5U-85F (ULX3S SDRAM) and xc7z020 (PYNQ-Z2 DDR3).
2. The published 128x128 network (QONNX PUBLISHED: the checkpoint quantized with quant/configs/published_w8a8.json
   by bench/published_model.py into its work directory; $PLEIADES_PUBLISHED_ONNX overrides) built by `build` for LFE5U-85F and xc7z020
   (--target: the buffers that do not fit go external: circular buffers, GroupNorm frame buffers, skip FIFOs):
   plan, report.json fit (block RAM, DSP, logic), external traffic and bandwidth verdict (estimated).
3. The 32x32 demo net (build/demo/model.onnx) with EVERY temporal layer forced external (folding JSON "memory"),
   through `verify` on the HDL AXI memory model (sim/hdl/axi_ram_model.v): DEMO_FRAMES frames, random latency
   16..128 cycles and back-pressure 0.3 on every memory channel plus stream pauses 0.3; the timing run at the
   nominal latency (64) without stalls gives the steady-state cycles per frame, compared with the on-chip build's
   measured figure (build/demo/verification.json); the outputs on the clips both verified are compared directly
   (same seed, same clips). An existing current verification of the same design is reused (design hash).
4. The same demo design on cocotbext-axi's AxiRam (random pauses on all five channels, stream pauses 0.3) through
   the whole network top (sim/tb/tb_external_memory.py): two clips separated by a reset with the memory kept,
   compared with the golden model.
(`simulate_layer`: the earlier per-layer engine runs; their last results are carried over with their date.)
Run: python -m bench.run_all external_memory (writes bench/results/external_memory.json);
PLEIADES_BENCH_EXTERNAL=published runs part 2 only and keeps the other parts of the previous result (with their
date, ``date_of_other_parts``); PLEIADES_BENCH_EXTERNAL=published_sim also verifies the xc7z020 build of part 2 over
50 frames on Verilator with the HDL memory model (about 40 min; `published_128_simulation`).
PLEIADES_BENCH_EXTERNAL=demo runs part 3 only (162 s on 2 idle cores), =demo_axiram part 4 only (99 s), each keeping
the other parts of the previous result (``date_of_other_parts``), e.g. after a change of the external RTL.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import write_result

FRAMES = 60                 # frames per layer under random latency and back-pressure
NOMINAL_LATENCY = 64        # cycles (the planner's default prefetch target)
ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "build" / "demo" / "manifest.json"
OUT = ROOT / "build" / "bench_external_memory"
DEMO_FRAMES = 1000          # frames of the forced-external demo net on the HDL memory model
AXIRAM_FRAMES = (12, 4)     # the two AxiRam clips (a reset between them, memory kept)
PUBLISHED = Path(os.environ.get("PLEIADES_PUBLISHED_ONNX",   # the published network's export by bench.published_model
                               Path(os.environ.get("PLEIADES_BENCH_WORK", "/tmp/pleiades-bench/published_model"))
                               / "dvs128_w8a8.onnx"))


def net128_layers() -> list[dict]:
    """Manifest-style entries of the dvs128 preset's temporal layers at 128x128 (shapes from the preset)."""
    from pleiades_fpga.model import get_preset

    cfg = get_preset("dvs128")
    h, w = cfg.input_size
    layers = []
    for b, spec in enumerate(cfg.blocks):
        c = spec.in_channels
        px = h * w
        layers.append({"name": f"blocks.{b}.temporal", "kind": "temporal_conv", "in_shape": [c, h, w], "in_bits": 8,
                       "kernel": cfg.kernel_size, "cycles_per_frame": px * 10,
                       "memories": [{"name": f"blocks.{b}.temporal_history", "kind": "circular_buffer",
                                     "depth": (cfg.kernel_size - 1) * px, "width": c * 8}]})
        h, w = h // 2, w // 2
    return layers


def plans() -> dict:
    from pleiades_fpga.hw.rtl.memory_plan import bandwidth, plan_memory
    from pleiades_fpga.toolflow.parts import board_memory, get_part

    out: dict = {}
    net = net128_layers()
    for part, board in (("LFE5U-85F", "ulx3s-85f"), ("xc7z020", "pynq-z2")):
        mem = board_memory(board)
        plan = plan_memory(net, get_part(part), memory=mem)
        out[f"net128_{part}"] = {"plan": plan, "bandwidth": bandwidth(plan, fps_required=100.0, fps_achieved=100.0,
                                                                        memory=mem),
                                 "note": "achieved rate not known before a 128x128 folding exists: set to the required"}
    if DEMO.exists():
        man = json.loads(DEMO.read_text())
        temporal = [l for l in man["layers"] if l["kind"] == "temporal_conv"]
        fps_req = 1e6 / man["input"]["bin_us"]
        fps_ach = man["clock_mhz_target"] * 1e6 / man["cycles_per_frame"]
        for part, board in (("LFE5U-85F", "ulx3s-85f"), ("xc7z020", "pynq-z2")):
            mem = board_memory(board)
            plan = plan_memory(man["layers"], get_part(part), memory=mem,
                               overrides={l["name"]: "external" for l in temporal})
            out[f"demo_forced_external_{part}"] = {
                "plan": plan, "bandwidth": bandwidth(plan, fps_required=fps_req, fps_achieved=fps_ach, memory=mem)}
    return out


def reference(x: np.ndarray, w: np.ndarray, bias: np.ndarray, shift: np.ndarray, depthwise: bool) -> np.ndarray:
    """Causal temporal conv (zero frames before the clip) requantized with ir.integers.requantize (M = 1, ReLU)."""
    from pleiades_fpga.ir.integers import requantize

    t, c, h, wd = x.shape
    k = w.shape[2]
    xp = np.concatenate([np.zeros((k - 1, c, h, wd), dtype=np.int64), x.astype(np.int64)])
    acc = np.zeros((t, w.shape[0], h, wd), dtype=np.int64) + bias[None, :, None, None]
    for tap in range(k):
        f = xp[tap:tap + t]
        acc += (w[:, 0, tap][None, :, None, None] * f) if depthwise else np.einsum("oc,tchw->tohw", w[:, :, tap], f)
    return requantize(acc, np.ones(w.shape[0], dtype=np.int64)[None, :, None, None],
                      shift[None, :, None, None], 0, 255)


def simulate_layer(layer: dict, tmp: Path, seed: int) -> dict:
    from pleiades_fpga.hw.rtl.cycles import temporal_conv_cycles_per_frame
    from pleiades_fpga.hw.rtl.kinds.temporal_conv_external import (axi_data_width, external_layer_files,
                                                                   history_layout, memory_model_top)
    from pleiades_fpga.hw.rtl.lint import template_sources
    from pleiades_fpga.hw.rtl.rom import files_text
    from pleiades_fpga.sim.axis import pack_frame, unpack_frame
    from pleiades_fpga.sim.runner import run_testbench

    rng = np.random.default_rng(seed)
    p = layer["params"]
    c_in, c_out, k, pixels, pe, simd = p["C_IN"], p["C_OUT"], p["K"], p["PIXELS"], p["PE"], p["SIMD"]
    dw = bool(p["DEPTHWISE"])
    _, h, wd = layer["in_shape"]
    onchip = temporal_conv_cycles_per_frame(c_in, c_out, k, pixels, pe, simd, dw)
    w = rng.integers(-128, 128, size=(c_out, 1 if dw else c_in, k))
    bias = rng.integers(-2000, 2000, size=c_out)
    shift = np.full(c_out, 8 if dw else 11)
    mac = dict(PE=pe, SIMD=simd, IN_W=8, IN_SIGNED=0, W_W=8, ACC_W=26, BIAS_W=12, M_W=1, S_W=4, OUT_W=8,
               OUT_SIGNED=0)
    pix_bits = c_in * 8
    lay = history_layout(c_in=c_in, in_w=8, k=k, pixels=pixels, data_w=axi_data_width(pix_bits, 64), latency=120,
                         cycles_per_pixel=onchip // pixels, name=layer["name"])
    name = "bx_" + layer["name"].replace(".", "_")
    files = external_layer_files(name, lay, mac, c_out, w, np.asarray(bias), np.ones(c_out, dtype=np.int64),
                                 shift, depthwise=dw)
    top = tmp / f"{name}.v"
    top.write_text(files_text(files) + "\n" + memory_model_top(f"{name}_mem", name, lay, pix_bits, c_out * 8))
    sources = list(dict.fromkeys([*template_sources("temporal_history_axi"), *template_sources("pointwise_mvu"),
                                  Path(__file__).resolve().parents[1] / "pleiades_fpga/sim/hdl/axi_ram_model.v"]))
    nominal = rng.integers(0, 256, size=(8, c_in, h, wd))
    random = rng.integers(0, 256, size=(FRAMES, c_in, h, wd))
    scen = [{"frames": [pack_frame(f, 8) for f in nominal], "lat_min": NOMINAL_LATENCY, "lat_max": NOMINAL_LATENCY,
             "stall": 0.0, "seed": seed},
            {"frames": [pack_frame(f, 8) for f in random], "lat_min": 5, "lat_max": 120, "stall": 0.3,
             "in_pause": 0.3, "out_pause": 0.3, "seed": seed + 1, "mem_seed": seed + 7}]
    t0 = time.monotonic()
    run = run_testbench(f"{name}_mem", [*sources, top], "pleiades_fpga.sim.tb.tb_external_memory", sim="verilator",
                        vectors={"scenarios": scen})
    sim_s = time.monotonic() - t0
    mismatches, frames = 0, 0
    for res, clip in zip(run.results["runs"], (nominal, random)):
        exp = reference(clip, w, np.asarray(bias), shift, dw)
        for t, words in enumerate(res["out"]):
            got = unpack_frame(words, c_out, h, wd, 8, False)
            mismatches += int((got != exp[t]).sum())
            frames += 1
    ends = run.results["runs"][0]["out_end_cycle"]
    measured = (ends[-1] - ends[2]) / (len(ends) - 3)
    # protocol coverage: one short clip on cocotbext-axi's AxiRam with random pauses on every channel
    axiram_top = tmp / f"{name}_axiram.v"
    axiram_top.write_text(files_text(files))
    short = rng.integers(0, 256, size=(6, c_in, h, wd))
    ar = run_testbench(name, [*sources[:-1], axiram_top], "pleiades_fpga.sim.tb.tb_external_memory", sim="verilator",
                       vectors={"scenarios": [{"frames": [pack_frame(f, 8) for f in short], "in_pause": 0.3,
                                               "out_pause": 0.3, "seed": seed + 3}],
                                "mem_bytes": lay.region_end, "axi_pause": 0.3, "axi_seed": seed})
    exp = reference(short, w, np.asarray(bias), shift, dw)
    ar_mis = sum(int((unpack_frame(words, c_out, h, wd, 8, False) != exp[t]).sum())
                 for t, words in enumerate(ar.results["runs"][0]["out"]))
    return {"layer": layer["name"], "depthwise": dw, "pe": pe, "simd": simd, "pixels": pixels,
            "history": {k2: v for k2, v in lay.params().items()}, "region_bytes": lay.region_bytes,
            "cycles_per_frame_external": measured, "cycles_per_frame_onchip_model": onchip,
            "external_over_onchip": measured / onchip, "nominal_latency_cycles": NOMINAL_LATENCY,
            "frames_verified_hdl_model": frames, "mismatches_hdl_model": mismatches,
            "axi_errors": [r["errors"] for r in run.results["runs"]],
            "unwritten_reads": [r["unwritten_reads"] for r in run.results["runs"]],
            "read_beats": run.results["runs"][1]["read_beats"], "write_beats": run.results["runs"][1]["write_beats"],
            "frames_verified_axiram": len(ar.results["runs"][0]["out"]), "mismatches_axiram": ar_mis,
            "sim_seconds": sim_s, "source": "measured (Verilator simulation)"}


def demo_all_external(axi_data_bits: int | None = None, name: str = "demo_all") -> Path:
    """Build the demo net with every temporal layer forced external."""
    from pleiades_fpga.hw.build import build_rtl

    man = json.loads(DEMO.read_text())
    fold = json.loads((DEMO.parent / "folding.json").read_text())
    for layer in man["layers"]:
        if layer["kind"] == "temporal_conv":
            fold["layers"][layer["name"]]["memory"] = "external"
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "folding_all_external.json"
    path.write_text(json.dumps(fold, indent=1))
    build_dir = OUT / name
    build_rtl(DEMO.parent / "model.onnx", build_dir, folding=path, axi_data_bits=axi_data_bits)
    return build_dir


def timing_wide_port(build_dir: Path, frames: int = 100) -> dict:
    """Steady-state cycles per frame of a forced-external build (one clip, nominal latency, no stalls) vs the
    on-chip build's measured figure and the manifest's (port-bound) analytic one."""
    from pleiades_fpga.sim.verify import verify_build

    man = json.loads((build_dir / "manifest.json").read_text())
    s = current_verification(build_dir, frames)
    reused = s is not None
    if not reused:
        s = verify_build(build_dir, frames=frames, clip_frames=frames, pause=0.0, seed=0, progress=True)
    onchip = json.loads((DEMO.parent / "verification.json").read_text())["cycles_per_frame_measured"]
    return {"build": str(build_dir.relative_to(ROOT)), "axi_data_bits": man["external_memory"]["data_bits"],
            "read_beats_per_frame": man["external_memory"].get("read_beats_per_frame"),
            "frames": s["frames"], "bit_exact": s["bit_exact"], "mismatches": s["mismatches"],
            "cycles_per_frame_external": s["cycles_per_frame_measured"], "cycles_per_frame_onchip": onchip,
            "external_over_onchip": s["cycles_per_frame_measured"] / onchip,
            "cycles_per_frame_analytic": s["cycles_per_frame_analytic"], "reused_verification": reused,
            "wall_seconds": s.get("wall_seconds"), "design_hash": s.get("design_hash"),
            "source": "measured (Verilator, HDL memory model at the nominal latency, no stalls)"}


def current_verification(build_dir: Path, frames: int, pause: float | None = None) -> dict | None:
    """The build's verification.json when it is current (same design hash) and covers ``frames`` frames at seed 0
    (and ``pause`` when given), else None."""
    from pleiades_fpga.artifacts import design_hash

    path = build_dir / "verification.json"
    old = json.loads(path.read_text()) if path.exists() else None
    if old and old.get("design_hash") == design_hash(build_dir) and old.get("frames", 0) >= frames \
            and old.get("seed") == 0 and (pause is None or old.get("pause") == pause):
        return old
    return None


def verify_demo(build_dir: Path) -> dict:
    """`verify` of the forced-external demo (reused when a current verification of DEMO_FRAMES frames exists), and
    the comparison with the on-chip build on their common clips."""
    from pleiades_fpga.sim.verify import verify_build

    old = current_verification(build_dir, DEMO_FRAMES)
    if old:
        summary, reused = old, True
    else:
        summary, reused = verify_build(build_dir, frames=DEMO_FRAMES, clip_frames=100, pause=0.3, seed=0, jobs=2,
                                       progress=True), False
    onchip = json.loads((DEMO.parent / "verification.json").read_text())
    ext_npz, on_npz = np.load(build_dir / "verification.npz"), np.load(DEMO.parent / "verification.npz")
    n = min(len(on_npz["input_counts"]), len(ext_npz["input_counts"]))
    same_inputs = bool(onchip.get("seed") == 0 and onchip.get("frames_per_clip") == summary["frames_per_clip"]
                       and np.array_equal(ext_npz["input_counts"][:n], on_npz["input_counts"][:n]))
    keys = ("frames", "clips", "values_compared", "mismatches", "missing_values", "bit_exact", "passed",
            "stream_checks", "external_memory", "cycles_per_frame_measured", "cycles_per_frame_analytic",
            "latency_cycles", "sim_cycles_per_second", "wall_seconds", "simulator", "pause", "seed", "design_hash")
    ext_cpf, on_cpf = summary["cycles_per_frame_measured"], onchip["cycles_per_frame_measured"]
    return {"build": str(build_dir.relative_to(ROOT)), "reused_verification": reused,
            "verification": {k: summary.get(k) for k in keys if k != "stream_checks"},
            "stream_violations": summary["stream_checks"]["violations"],
            "onchip_verification": {k: onchip.get(k) for k in ("frames", "seed", "bit_exact",
                                                                "cycles_per_frame_measured", "design_hash")},
            "same_clips_as_onchip": n if same_inputs else 0,
            "outputs_equal_onchip": bool(same_inputs and np.array_equal(ext_npz["rtl_outputs_backpressure"][:n],
                                                                       on_npz["rtl_outputs_backpressure"][:n])),
            "cycles_per_frame_external": ext_cpf, "cycles_per_frame_onchip": on_cpf,
            "external_over_onchip": ext_cpf / on_cpf if ext_cpf and on_cpf else None,
            "nominal_latency_cycles": summary["external_memory"]["timing_run_latency_cycles"],
            "source": "measured (Verilator simulation, HDL AXI memory model)"}


def axiram_network(build_dir: Path, seed: int = 7) -> dict:
    """The whole forced-external demo top on cocotbext-axi's AxiRam with random pauses, vs the golden model."""
    from pleiades_fpga.artifacts import design_hash
    from pleiades_fpga.hw.rtl.generate import rtl_sources
    from pleiades_fpga.ir.golden import GoldenModel
    from pleiades_fpga.sim.axis import pack_frames, unpack_pixel
    from pleiades_fpga.sim.runner import run_testbench
    from pleiades_fpga.sim.verify import event_clip

    man = json.loads((build_dir / "manifest.json").read_text())
    inp, out = man["input"], man["output"]
    golden = GoldenModel.from_qonnx(build_dir / "model.onnx")
    clips = [event_clip(100 + i, inp["height"], inp["width"], inp["bin_us"], t, seed) for i, t in
             enumerate(AXIRAM_FRAMES)]
    beats = inp["height"] * inp["width"]
    scen = []
    for i, clip in enumerate(clips):
        words = pack_frames(golden.quantize_input(clip[None])[0], inp["bits"], inp["signed"])
        scen.append({"frames": [words[f * beats:(f + 1) * beats] for f in range(clip.shape[1])],
                     "in_pause": 0.3, "out_pause": 0.3, "seed": seed + i, "timeout_cycles": 20_000_000})
    t0 = time.monotonic()
    run = run_testbench(man["top"], rtl_sources(build_dir), "pleiades_fpga.sim.tb.tb_external_memory",
                        sim="verilator", vectors={"scenarios": scen, "axi_pause": 0.3, "axi_seed": seed,
                                                  "mem_bytes": man["external_memory"]["region_bytes"]})
    mismatches, frames, errors = 0, 0, []
    for res, clip in zip(run.results["runs"], clips):
        exp = golden.run(clip[None])[0]
        for t, words in enumerate(res["out"]):
            got = np.asarray(unpack_pixel(int(words[0]), out["channels"], out["bits"], out["signed"]))
            mismatches += int((got != exp[:, t]).sum())
            frames += 1
        errors.append(res["axi_error"])
    return {"build": str(build_dir.relative_to(ROOT)), "design_hash": design_hash(build_dir),
            "frames_verified": frames, "frames_expected": sum(AXIRAM_FRAMES), "mismatches": mismatches,
            "values_compared": frames * out["channels"], "axi_error": errors, "axi_pause": 0.3, "stream_pause": 0.3,
            "memory": "cocotbext-axi AxiRam (garbage-filled, kept across the reset)", "sim_seconds":
            time.monotonic() - t0, "source": "measured (Verilator + cocotb)"}


def published(parts: tuple[str, ...] = ("LFE5U-85F", "xc7z020")) -> dict:
    """The published 128x128 network built for each part (buffers that do not fit go external) and reported."""
    from pleiades_fpga.hw.build import build_rtl
    from pleiades_fpga.report.report import build_report
    from pleiades_fpga.toolflow.parts import get_part, multiplier_budget

    if not PUBLISHED.exists():
        return {"skipped": f"{PUBLISHED} absent: run `python -m bench.run_all published_model` first (it exports the "
                           "published network there), or set PLEIADES_PUBLISHED_ONNX to a `pleiades-fpga quantize` "
                           "export"}
    out = {"onnx": str(PUBLISHED)}
    for name in parts:
        part = get_part(name)
        t0 = time.monotonic()
        build_dir = OUT / f"published_{name}"
        man = build_rtl(PUBLISHED, build_dir, part=name, max_multipliers=multiplier_budget(part))
        rep = build_report(man, part)
        plan = man["memory_plan"]
        res, avail = rep["resources"], rep["available"]
        ext_rows = [b for b in plan["buffers"] if b["memory"] == "external"]
        out[name] = {"build_seconds": time.monotonic() - t0, "fits": rep["fits"],
                     "fits_by_resource": {k: res[k] <= avail[k] for k in ("lut", "ff", "dsp", "bram_bits")},
                     "block_ram_fits": res["bram_bits"] + res.get("uram_bits", 0)
                     <= avail["bram_bits"] + avail.get("uram_bits", 0),
                     "plan_fits_with_headroom": plan["fits"],
                     "external_buffers": {k: sum(b["kind"] == k for b in ext_rows)
                                          for k in ("circular_buffer", "frame_buffer", "skip_fifo")},
                     "onchip_buffers": [b["layer"] for b in plan["buffers"] if b["memory"] == "onchip"],
                     "resources": rep["resources"], "available": rep["available"],
                     "resources_source": rep["resources_source"], "verdict": rep["verdict"],
                     "realtime": rep["realtime"], "cycles_per_frame": man["cycles_per_frame"],
                     "plan": {k: v for k, v in plan.items() if k != "buffers"},
                     "buffers": [{k: b[k] for k in ("layer", "kind", "memory", "reason", "onchip_bits",
                                                    "external_onchip_bits", "region_bytes", "base_addr")}
                                 for b in plan["buffers"]],
                     "external_memory": rep["external_memory"]}
    return out


def published_simulation(part: str = "xc7z020", frames: int = 50) -> dict:
    """Verify the published network's ``part`` build of :func:`published` (external histories, frame buffers and
    skip FIFOs) over ``frames`` frames on Verilator with the HDL memory model (random latency, stall 0.2)."""
    from pleiades_fpga.sim.verify import verify_build

    build_dir = OUT / f"published_{part}"
    old = current_verification(build_dir, frames, pause=0.2)
    reused = old is not None
    v = old if reused else verify_build(build_dir, frames=frames, clip_frames=frames, sim="verilator", pause=0.2,
                                        seed=0, progress=True)
    keys = ("simulator", "frames", "clips", "frames_per_clip", "jobs", "pause", "seed", "runs", "values_compared",
            "mismatches", "mismatches_no_backpressure", "mismatches_backpressure", "missing_values",
            "timed_out_clips", "nonzero_outputs", "bit_exact", "temporal_wraps", "passed",
            "cycles_per_frame_measured", "cycles_per_frame_analytic", "cycles_per_frame_ratio", "latency_cycles",
            "sim_cycles", "sim_seconds", "wall_seconds", "sim_cycles_per_second", "external_memory", "design_hash")
    streams = v.get("stream_checks") or {}
    return {"what": f"the published 128x128 network built for {part} (--target), verified on the HDL AXI memory "
                    "model (timing run at the nominal latency; the other run with random latency and stall 0.2, "
                    "stream pauses 0.2)", "source": "measured (Verilator + HDL memory model)",
            "command": f"pleiades-fpga verify {build_dir.relative_to(ROOT)} --frames {frames} --clip-frames {frames} "
                       "--sim verilator --pause 0.2 --seed 0 (build: published() above)",
            "reused_verification": reused, "stream_violations": streams.get("violations"),
            **{k: v.get(k) for k in keys}}


def demo_summary(result: dict) -> dict:
    """The summary figures of parts 3 and 4."""
    d = result.get("demo_all_external", {})
    v = d.get("verification", {})
    return {"demo_frames_bit_exact_hdl_model": v.get("frames") if v.get("bit_exact") else 0,
            "demo_mismatches_hdl_model": v.get("mismatches"),
            "demo_axiram_frames": result.get("demo_all_external_axiram", {}).get("frames_verified"),
            "demo_axiram_mismatches": result.get("demo_all_external_axiram", {}).get("mismatches"),
            "demo_external_over_onchip_cycles": d.get("external_over_onchip"),
            "demo_128bit_port_external_over_onchip_cycles":
                result.get("demo_all_external_128bit_port", {}).get("external_over_onchip"),
            "demo_outputs_equal_onchip_clips": d.get("same_clips_as_onchip") if d.get("outputs_equal_onchip") else 0}


def demo_only(mode: str) -> dict:
    """Part 3 (``demo``) or part 4 (``demo_axiram``) on the current RTL; the other parts of the previous result kept."""
    if not DEMO.exists():
        raise SystemExit(f"{DEMO} absent: run `make demo` first")
    prev = json.loads((ROOT / "bench/results/external_memory.json").read_text())
    keep = {k: v for k, v in prev.items() if k not in ("benchmark", "date", "machine")}
    keep.setdefault("date_of_other_parts", prev.get("date"))
    build_dir = demo_all_external()
    if mode == "demo":
        keep["demo_all_external"] = verify_demo(build_dir)
        keep["demo_all_external_128bit_port"] = timing_wide_port(demo_all_external(128, "demo_all_128"))
    else:
        keep["demo_all_external_axiram"] = axiram_network(build_dir)
    keep["summary"] = {**keep.get("summary", {}), **demo_summary(keep)}
    write_result("external_memory", keep)
    return keep


def main() -> dict:
    mode = os.environ.get("PLEIADES_BENCH_EXTERNAL")
    if mode in ("demo", "demo_axiram"):
        return demo_only(mode)
    if mode in ("published", "published_sim"):
        prev = json.loads((ROOT / "bench/results/external_memory.json").read_text())
        keep = {k: v for k, v in prev.items() if k not in ("benchmark", "date", "machine", "published_128")}
        keep.setdefault("date_of_other_parts", prev.get("date"))
        keep["published_128"] = published()
        keep["plans"] = plans()
        keep["summary"]["published_fits"] = {p: r.get("fits") for p, r in keep["published_128"].items()
                                             if isinstance(r, dict)}
        keep["summary"]["published_block_ram_fits"] = {p: r.get("block_ram_fits")
                                                       for p, r in keep["published_128"].items() if isinstance(r, dict)}
        if mode == "published_sim":
            keep["published_128_simulation"] = published_simulation()
            sim = keep["published_128_simulation"]
            keep["summary"]["published_128_frames_bit_exact_hdl_model"] = sim["frames"] if sim["bit_exact"] else 0
            keep["summary"]["published_128_mismatches_hdl_model"] = sim["mismatches"]
        write_result("external_memory", keep)
        return keep
    result: dict = {"plans": plans()}
    if DEMO.exists():
        build_dir = demo_all_external()
        result["demo_all_external"] = verify_demo(build_dir)
        result["demo_all_external_axiram"] = axiram_network(build_dir)
        result["demo_all_external_128bit_port"] = timing_wide_port(demo_all_external(128, "demo_all_128"))
    else:
        result["demo_skipped"] = f"{DEMO} absent: run `make demo` first"
    result["published_128"] = published()
    prev = json.loads((ROOT / "bench/results/external_memory.json").read_text()) \
        if (ROOT / "bench/results/external_memory.json").exists() else {}
    if prev.get("simulation"):   # the per-layer engine runs (simulate_layer) of an earlier run, with their date
        result["layer_simulation"] = {"date": prev.get("date"), "runs": prev["simulation"]}
    result["summary"] = {
        **demo_summary(result),
        "published_fits": {p: r.get("fits") for p, r in result["published_128"].items() if isinstance(r, dict)},
        "published_block_ram_fits": {p: r.get("block_ram_fits") for p, r in result["published_128"].items()
                                     if isinstance(r, dict)},
    }
    write_result("external_memory", result)
    return result


if __name__ == "__main__":
    main()
