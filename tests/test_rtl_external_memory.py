"""A temporal conv with its history in external memory (temporal_history_axi + pointwise_mvu, the layer wrapper of
the external lowering) against an independent numpy temporal conv with causal zero padding.

Memories: cocotbext-axi's AxiRam with random pauses on every AXI channel (protocol coverage) and the HDL model
sim/hdl/axi_ram_model.v with seeded random latency and back-pressure; AXI-Stream back-pressure on both sides.
Each run: several scenarios separated by resets; the memory keeps its contents (and starts as garbage), so frames
after a reset must see zero history without the memory being cleared. Zero mismatching integers. Steady-state
cycles per frame at a nominal latency are compared with the on-chip engine's cycle model (within 5 %).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from pleiades_fpga.hw.rtl.cycles import temporal_conv_cycles_per_frame
from pleiades_fpga.hw.rtl.kinds.temporal_conv_external import external_layer_files, history_layout, memory_model_top
from pleiades_fpga.hw.rtl.lint import template_sources, verilator_lint, yosys_synth
from pleiades_fpga.hw.rtl.rom import files_text
from pleiades_fpga.sim.axis import pack_frame, unpack_frame
from pleiades_fpga.sim.runner import run_testbench

pytestmark = [pytest.mark.rtl, pytest.mark.xdist_group("rtl_external_memory")]

HDL_MODEL = Path(__file__).resolve().parents[1] / "pleiades_fpga" / "sim" / "hdl" / "axi_ram_model.v"


def ref_temporal(x: np.ndarray, w: np.ndarray, bias: np.ndarray, shift: np.ndarray, out_w: int, out_signed: bool,
                 depthwise: bool) -> np.ndarray:
    """Causal temporal conv: y[t, o] = clamp(round_half_even((bias[o] + sum_k sum_c w[o, c, k] x[t-K+1+k, c]) /
    2**shift[o])), frames before the clip are zero. ``x`` (T, C, H, W); ``w`` (C_OUT, C_IN or 1, K)."""
    t_len, c_in, h, wd = x.shape
    k = w.shape[2]
    xp = np.concatenate([np.zeros((k - 1, c_in, h, wd), dtype=np.int64), x.astype(np.int64)])
    lo, hi = (-(2 ** (out_w - 1)), 2 ** (out_w - 1) - 1) if out_signed else (0, 2**out_w - 1)
    y = np.zeros((t_len, w.shape[0], h, wd), dtype=np.int64)
    for o in range(w.shape[0]):
        acc = np.full((t_len, h, wd), int(bias[o]), dtype=np.int64)
        for tap in range(k):
            frames = xp[tap:tap + t_len]
            if depthwise:
                acc += int(w[o, 0, tap]) * frames[:, o]
            else:
                acc += np.einsum("c,tchw->thw", w[o, :, tap], frames)
        q, r = np.divmod(acc, 2 ** int(shift[o]))
        half = 2 ** int(shift[o]) // 2 if shift[o] > 0 else 1
        up = (r > half) | ((r == half) & (q % 2 == 1)) if shift[o] > 0 else np.zeros_like(q, dtype=bool)
        y[:, o] = np.clip(q + up, lo, hi)
    return y


# name: C_IN, C_OUT, K, H, W, depthwise, IN_W, in_signed, DATA_W, BURST_PIX, FIFO_DEPTH, BASE_ADDR, PE, SIMD
CONFIGS = {
    "dense": dict(c_in=3, c_out=4, k=3, h=4, w=4, dw=False, in_w=4, in_signed=False, data_w=16, burst_pix=4,
                  fifo=8, base=0x1000, pe=2, simd=3),
    "depthwise": dict(c_in=5, c_out=5, k=4, h=3, w=5, dw=True, in_w=8, in_signed=True, data_w=16, burst_pix=4,
                      fifo=8, base=0, pe=2, simd=2),
    "k2_one_burst": dict(c_in=2, c_out=3, k=2, h=1, w=7, dw=False, in_w=8, in_signed=False, data_w=8, burst_pix=8,
                         fifo=16, base=0x40, pe=3, simd=4),
}


def make_layer(cfg: dict, seed: int, name: str):
    """(files, reference function, widths) of a random layer of configuration ``cfg``."""
    rng = np.random.default_rng(seed)
    c_in, c_out, k = cfg["c_in"], cfg["c_out"], cfg["k"]
    w_w, out_w, out_signed = 5, 6, not cfg["in_signed"]
    wt = rng.integers(-(2 ** (w_w - 1)), 2 ** (w_w - 1), size=(c_out, 1 if cfg["dw"] else c_in, k))
    bias = rng.integers(-300, 300, size=c_out)
    shift = rng.integers(2, 6, size=c_out)
    mult = np.ones(c_out, dtype=np.int64)
    mac = dict(PE=cfg["pe"], SIMD=cfg["simd"], IN_W=cfg["in_w"], IN_SIGNED=int(cfg["in_signed"]), W_W=w_w, ACC_W=24,
               BIAS_W=10, M_W=1, S_W=3, OUT_W=out_w, OUT_SIGNED=int(out_signed))
    hist = history_layout(c_in=c_in, in_w=cfg["in_w"], k=k, pixels=cfg["h"] * cfg["w"], data_w=cfg["data_w"],
                          burst_pix=cfg["burst_pix"], fifo_depth=cfg["fifo"], base_addr=cfg["base"])
    files = external_layer_files(name, hist, mac, c_out, wt, bias, mult, shift, depthwise=cfg["dw"])

    def ref(x: np.ndarray) -> np.ndarray:
        return ref_temporal(x, wt, bias, shift, out_w, out_signed, cfg["dw"])

    return files, ref, hist, (out_w, out_signed)


def clips(cfg: dict, seed: int, n_clips: int, n_frames: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed + 1000)
    lo, hi = (-(2 ** (cfg["in_w"] - 1)), 2 ** (cfg["in_w"] - 1)) if cfg["in_signed"] else (0, 2 ** cfg["in_w"])
    return [rng.integers(lo, hi, size=(n_frames, cfg["c_in"], cfg["h"], cfg["w"])) for _ in range(n_clips)]


def check(run_results: list[dict], expected: list[np.ndarray], out: tuple[int, bool]) -> int:
    """Zero mismatches in every frame of every scenario; returns the frames compared."""
    n = 0
    for i, (res, exp) in enumerate(zip(run_results, expected, strict=True)):
        assert res["axi_error"] == 0, f"scenario {i}: an AXI response was not OKAY"
        assert len(res["out"]) == exp.shape[0], f"scenario {i}: {len(res['out'])} frames, expected {exp.shape[0]}"
        for t, words in enumerate(res["out"]):
            got = unpack_frame(words, exp.shape[1], exp.shape[2], exp.shape[3], out[0], out[1])
            bad = np.argwhere(got != exp[t])
            assert bad.size == 0, (f"scenario {i} frame {t}: {len(bad)} mismatches, first (c, y, x) = {bad[0]}: "
                                   f"rtl {got[tuple(bad[0])]} ref {exp[t][tuple(bad[0])]}")
            n += 1
    return n


def run_axiram(sim: str, tmp_path: Path, cfg_name: str, seed: int, n_frames: int = 7) -> None:
    cfg = CONFIGS[cfg_name]
    name = f"ext_{cfg_name}_{seed}"
    files, ref, hist, out = make_layer(cfg, seed, name)
    top = tmp_path / f"{name}.v"
    top.write_text(files_text(files))
    sources = [*template_sources("temporal_history_axi"), *template_sources("pointwise_mvu"), top]
    cl = clips(cfg, seed, 3, n_frames)
    pauses = [0.3, 0.0, 0.3]
    scenarios = [{"frames": [pack_frame(f, cfg["in_w"], cfg["in_signed"]) for f in clip], "seed": seed + i,
                  "in_pause": p, "out_pause": p} for i, (clip, p) in enumerate(zip(cl, pauses))]
    run = run_testbench(name, list(dict.fromkeys(sources)), "pleiades_fpga.sim.tb.tb_external_memory", sim=sim,
                        vectors={"scenarios": scenarios, "mem_bytes": hist.region_end, "axi_pause": 0.3,
                                 "axi_seed": seed})
    assert check(run.results["runs"], [ref(c) for c in cl], out) == 3 * n_frames


@pytest.mark.parametrize("cfg_name", list(CONFIGS))
def test_external_axiram_verilator(tmp_path, cfg_name):
    run_axiram("verilator", tmp_path, cfg_name, 11)


def test_external_axiram_icarus(tmp_path):
    if shutil.which("iverilog") is None:
        pytest.skip("Icarus Verilog (iverilog) is not on PATH; install it (apt-get install iverilog) to run this test")
    run_axiram("icarus", tmp_path, "depthwise", 12)


def run_hdl_model(sim: str, tmp_path: Path, cfg: dict, seed: int, scenarios_spec: list[dict], n_frames: int,
                  name: str) -> list[dict]:
    files, ref, hist, out = make_layer(cfg, seed, name)
    top_name = f"{name}_mem"
    top = tmp_path / f"{name}.v"
    top.write_text(files_text(files) + "\n" + memory_model_top(top_name, name, hist, cfg["c_in"] * cfg["in_w"],
                                                                cfg["c_out"] * out[0]))
    sources = [*template_sources("temporal_history_axi"), *template_sources("pointwise_mvu"), HDL_MODEL, top]
    cl = clips(cfg, seed, len(scenarios_spec), n_frames)
    scenarios = [{"frames": [pack_frame(f, cfg["in_w"], cfg["in_signed"]) for f in clip], "seed": seed + i, **spec}
                 for i, (clip, spec) in enumerate(zip(cl, scenarios_spec))]
    run = run_testbench(top_name, list(dict.fromkeys(sources)), "pleiades_fpga.sim.tb.tb_external_memory", sim=sim,
                        vectors={"scenarios": scenarios})
    runs = run.results["runs"]
    assert check(runs, [ref(c) for c in cl], out) == len(scenarios_spec) * n_frames
    for i, r in enumerate(runs):
        assert r["errors"] == 0, f"scenario {i}: {r['errors']} AXI bursts broke a rule (4 KB, size, range, wlast)"
        assert r["unwritten_reads"] == 0, f"scenario {i}: history was read from memory never written"
    return runs


SPECS = [dict(lat_min=5, lat_max=60, stall=0.3, in_pause=0.3, out_pause=0.3),
         dict(lat_min=0, lat_max=0, stall=0.0),
         dict(lat_min=20, lat_max=20, stall=0.5, in_pause=0.0, out_pause=0.5)]


@pytest.mark.parametrize("cfg_name", ["dense", "depthwise", "k2_one_burst"])
def test_external_hdl_model_icarus(tmp_path, cfg_name):
    if shutil.which("iverilog") is None:
        pytest.skip("Icarus Verilog (iverilog) is not on PATH; install it (apt-get install iverilog) to run this test")
    run_hdl_model("icarus", tmp_path, CONFIGS[cfg_name], 21, SPECS, 6, f"exth_{cfg_name}")


@pytest.mark.slow
def test_external_hdl_model_verilator_long(tmp_path):
    """60 frames per scenario, K = 3 with several bursts per frame, random latency 5..60 and back-pressure."""
    runs = run_hdl_model("verilator", tmp_path, CONFIGS["dense"], 22, SPECS, 60, "exth_long")
    assert runs[0]["read_beats"] > 0 and runs[0]["write_beats"] > 0


def test_steady_state_cycles_match_onchip(tmp_path):
    """At a fixed nominal latency (40 cycles, no stalls) a 16x16 frame takes the on-chip engine's cycles per frame
    (cycle model of temporal_conv_buffer) within 5 %."""
    cfg = dict(c_in=4, c_out=4, k=3, h=16, w=16, dw=False, in_w=8, in_signed=False, data_w=32, burst_pix=16,
               fifo=64, base=0, pe=2, simd=4)
    runs = run_hdl_model("verilator", tmp_path, cfg, 23, [dict(lat_min=40, lat_max=40, stall=0.0)], 8, "exth_cyc")
    ends = runs[0]["out_end_cycle"]
    measured = (ends[-1] - ends[2]) / (len(ends) - 3)
    onchip = temporal_conv_cycles_per_frame(4, 4, 3, 256, 2, 4)
    assert abs(measured - onchip) <= 0.05 * onchip, f"external {measured} vs on-chip {onchip} cycles/frame"


def test_layer_wrapper_lint_and_latch_free(tmp_path):
    files, _, _, _ = make_layer(CONFIGS["depthwise"], 5, "ext_lint")
    own = []
    for mod, text in files:                      # one module per file, named like it (lint -Wall)
        own.append(tmp_path / f"{mod}.v")
        own[-1].write_text(text)
    sources = list(dict.fromkeys([*template_sources("temporal_history_axi"), *template_sources("pointwise_mvu"), *own]))
    rep = verilator_lint("ext_lint", sources)
    assert rep.ok, "\n".join(rep.messages)
    syn = yosys_synth("ext_lint", sources, target="prep")
    assert syn.latches == 0


@pytest.mark.slow
def test_history_fifos_infer_ecp5_block_ram():
    """The prefetch and write FIFOs of a wide, deep history become block RAM (not flip-flops), without latches."""
    params = dict(C_IN=16, IN_W=8, K=10, PIXELS=256, DATA_W=64, BPP=2, BURST_PIX=16, FIFO_DEPTH=512)
    rep = yosys_synth("temporal_history_axi", template_sources("temporal_history_axi"), params, target="ecp5")
    assert rep.latches == 0
    # 10 FIFOs (9 ages + write) of 512 x 128 bits: 4 DP16KD each (512 x 36 aspect) = 40 blocks
    assert rep.cells.get("DP16KD", 0) >= 40, f"no block RAM inferred: {rep.cells}"
    assert rep.cells.get("TRELLIS_FF", 0) < 4000, rep.cells


def test_memory_model_lint_clean():
    rep = verilator_lint("axi_ram_model", [HDL_MODEL])
    assert rep.ok, "\n".join(rep.messages)


@pytest.mark.slow
def test_lowered_ir_temporal_layers_bit_exact(tmp_path):
    """The hardware kind temporal_conv_external lowers the small net's temporal layers (full and depthwise, w4a4,
    K = 10, from the QONNX reader) to the external engine: bit-exact against the layer's integer semantics
    (weights, bias, M/S from the IR, ir.integers.requantize) under random latency and back-pressure (Icarus)."""
    if shutil.which("iverilog") is None:
        pytest.skip("Icarus Verilog (iverilog) is not on PATH; install it (apt-get install iverilog) to run this test")
    from small_qonnx import small_qonnx

    from pleiades_fpga.hw.rtl.kinds import hw_kind
    from pleiades_fpga.hw.rtl.lowering import is_depthwise, requant_fields
    from pleiades_fpga.ir.integers import int_range, requantize
    from pleiades_fpga.ir.reader import read_qonnx

    graph = read_qonnx(small_qonnx(tmp_path / "small.onnx"))
    kind = hw_kind("temporal_conv_external")
    temporal = [l for l in graph.layers if l.kind == "conv" and l.params.temporal]
    assert {is_depthwise(l) for l in temporal} == {True, False}
    rng = np.random.default_rng(7)
    for layer in temporal:
        x = graph.tensors[layer.inputs[0]]
        folds = kind.candidate_folds(layer)
        fold = folds[len(folds) // 2]
        name = "irx_" + layer.name.replace(".", "_")
        low = kind.lower(graph, layer, name, fold)
        assert low.module == "temporal_history_axi+pointwise_mvu" and "external" in low.fields
        lay = history_layout(**{k: low.fields["external"]["params"][p] for k, p in
                                (("c_in", "C_IN"), ("in_w", "IN_W"), ("k", "K"), ("pixels", "PIXELS"),
                                 ("data_w", "DATA_W"), ("burst_pix", "BURST_PIX"), ("fifo_depth", "FIFO_DEPTH"))})
        out_w, out_signed = int(low.params["OUT_W"]), bool(low.params["OUT_SIGNED"])
        top = tmp_path / f"{name}.v"
        top.write_text(files_text(low.files) + "\n" + memory_model_top(
            f"{name}_mem", name, lay, layer.in_channels * x.bits, layer.out_channels * out_w))
        sources = [*template_sources("temporal_history_axi"), *template_sources("pointwise_mvu"), HDL_MODEL, top]
        lo, hi = int_range(x.bits, x.signed)
        clip = rng.integers(lo, hi + 1, size=(12, layer.in_channels, x.height, x.width))
        scen = [{"frames": [pack_frame(f, x.bits, x.signed) for f in clip], "lat_min": 3, "lat_max": 50,
                 "stall": 0.3, "in_pause": 0.3, "out_pause": 0.3, "seed": 3}]
        run = run_testbench(f"{name}_mem", list(dict.fromkeys(sources)), "pleiades_fpga.sim.tb.tb_external_memory",
                            sim="icarus", vectors={"scenarios": scen})
        # reference: causal temporal conv of the IR layer, requantized as the golden model does
        w = np.asarray(layer.params.weight, dtype=np.int64)[:, :, :, 0, 0]
        k = w.shape[2]
        xp = np.concatenate([np.zeros((k - 1, *clip.shape[1:]), dtype=np.int64), clip])
        acc = np.zeros((len(clip), x.height, x.width, layer.out_channels), dtype=np.int64)
        acc += np.asarray(layer.params.bias, dtype=np.int64)
        for tap in range(k):
            f = xp[tap:tap + len(clip)]
            acc += (np.einsum("tchw,c->thwc", f, w[:, 0, tap]) if is_depthwise(layer)
                    else np.einsum("tchw,oc->thwo", f, w[:, :, tap]))
        m, s, ob, os_ = requant_fields(layer)
        exp = requantize(acc, m, s, *int_range(ob, os_)).transpose(0, 3, 1, 2)
        assert len(np.unique(exp)) > 3, "degenerate reference"
        check(run.results["runs"], [exp], (out_w, out_signed))
