"""External temporal buffers (issue #15): memory plan, traffic and bandwidth, and simulated cycles per frame and
bit-exactness of the external engine (temporal_history_axi + pointwise_mvu) per temporal layer.

1. Plan (hw.rtl.memory_plan, estimated): the published 128x128 network's temporal layers (preset dvs128 shapes:
   C_in, H x W per block, K = 10, 8-bit) on LFE5U-85F (ULX3S SDRAM) and xc7z020 (PYNQ-Z2 DDR3): per layer
   on-chip / external, block RAM, external bytes per frame and MB/s at 100 frames/s (10 ms bins) against the
   board memory's usable bandwidth. The demo net (build/demo/manifest.json) with every temporal layer forced
   external, at its required (1e6 / bin_us) and achieved (100 MHz / cycles per frame) rates.
2. Simulation (measured, Verilator, HDL AXI memory model sim/hdl/axi_ram_model.v): each demo temporal layer's shape
   and folding (PE, SIMD from the manifest), random weights; cycles per frame at a nominal latency of 64 cycles
   without stalls vs the on-chip engine's cycle model; then FRAMES frames under random latency 5..120 cycles,
   memory back-pressure 0.3 and AXI-Stream back-pressure 0.3, compared with a reference (causal temporal conv with
   ir.integers.requantize); mismatching integers counted. One clip per layer also on cocotbext-axi's AxiRam with
   random pauses on all channels.
Run: python -m bench.run_all external_memory (writes bench/results/external_memory.json).
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import write_result

FRAMES = 60                 # frames per layer under random latency and back-pressure
NOMINAL_LATENCY = 64        # cycles (the planner's default prefetch target)
DEMO = Path(__file__).resolve().parents[1] / "build" / "demo" / "manifest.json"


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


def main() -> dict:
    from tqdm import tqdm

    result: dict = {"plans": plans(), "simulation": []}
    if DEMO.exists():
        man = json.loads(DEMO.read_text())
        temporal = [l for l in man["layers"] if l["kind"] == "temporal_conv"]
        with tempfile.TemporaryDirectory() as tmp:
            for i, layer in enumerate(tqdm(temporal, desc="external layers")):
                result["simulation"].append(simulate_layer(layer, Path(tmp), 100 + i))
    else:
        result["simulation_skipped"] = f"{DEMO} absent: run `make demo` first"
    sims = result["simulation"]
    result["summary"] = {
        "frames_verified": sum(s["frames_verified_hdl_model"] + s["frames_verified_axiram"] for s in sims),
        "mismatches": sum(s["mismatches_hdl_model"] + s["mismatches_axiram"] for s in sims),
        "worst_external_over_onchip": max((s["external_over_onchip"] for s in sims), default=None),
    }
    write_result("external_memory", result)
    return result


if __name__ == "__main__":
    main()
