"""groupnorm_stream (in the layer wrapper the generator ships: hw.rtl.kinds.groupnorm.layer_files) against the one
definition of the integer GroupNorm, ``ir.integers.groupnorm_int`` (docs/GROUPNORM.md): zero mismatches.

Per case: M/S/B/E from ``ir.integers.groupnorm_params`` of random gamma/beta; frames: random, constant (D = 0; with
E = 0 also V = max(0, 1)), all at the top and all at the bottom of the input range, a checkerboard of both
(largest D), random; signed and unsigned inputs and outputs, ReLU on and off, G = 1, G = C and in between, PE
folding below and above C/G, both statistics variants. Each case runs the frames under random back-pressure and
idle input, then without pauses, where the cycles per frame must equal ``kinds.groupnorm.frame_cycles`` and the
first frame's last beat must leave at ``kinds.groupnorm.latency_cycles`` (one frame more for "frame").
"""
from __future__ import annotations

import numpy as np
import pytest

from pleiades_fpga.hw.rtl import verilog as v
from pleiades_fpga.hw.rtl.kinds import groupnorm as gn
from pleiades_fpga.hw.rtl.lint import template_sources
from pleiades_fpga.hw.rtl.rom import files_text
from pleiades_fpga.ir.integers import groupnorm_int, groupnorm_params, int_range
from pleiades_fpga.sim import axis
from pleiades_fpga.sim.runner import run_testbench
from pleiades_fpga.toolflow.locate import have_simulator

# (id, stats, C, G, H, W, PE, in_bits, in_signed, out_bits, out_signed, relu, P, eps)
CASES = {
    "frame-g2-pe2": ("frame", 4, 2, 2, 3, 2, 4, False, 6, True, False, 6, 1e-5),
    "previous-gc-pe4": ("previous", 4, 4, 3, 2, 4, 5, True, 5, True, True, 16, 0.05),
    "frame-g1-pe1-relu": ("frame", 3, 1, 2, 2, 1, 3, True, 4, True, True, 8, 0.05),
    "previous-g4-pe1": ("previous", 8, 4, 2, 2, 1, 8, False, 8, False, False, 16, 1e-5),
    "frame-g4-pe4-wide": ("frame", 8, 4, 1, 3, 4, 8, True, 8, True, False, 16, 1e-5),   # 2 groups per slice
}
ICARUS = ["frame-g2-pe2", "previous-gc-pe4", "frame-g1-pe1-relu", "previous-g4-pe1", "frame-g4-pe4-wide"]
VERILATOR = ["frame-g2-pe2", "previous-gc-pe4"]   # side by side in one build (one Verilator compile)


def frames_for(rng: np.random.Generator, c: int, h: int, w: int, bits: int, signed: bool) -> np.ndarray:
    """(F, C, H, W): random, constant, all top, all bottom, checkerboard of both, random."""
    lo, hi = int_range(bits, signed)
    checker = np.where((np.arange(c)[:, None, None] + np.arange(h)[:, None] + np.arange(w)) % 2 == 0, lo, hi)
    return np.stack([rng.integers(lo, hi + 1, (c, h, w)), np.full((c, h, w), int(rng.integers(lo, hi + 1))),
                     np.full((c, h, w), hi), np.full((c, h, w), lo), checker, rng.integers(lo, hi + 1, (c, h, w))])


def make_case(key: str, seed: int) -> dict:
    stats, c, g, h, w, pe, in_bits, in_signed, out_bits, out_signed, relu, p_bits, eps = CASES[key]
    rng = np.random.default_rng(seed)
    gamma = rng.uniform(0.3, 1.5, c) * rng.choice([-1, 1], c)
    beta = rng.uniform(-1.0, 1.0, c)
    n = c // g * h * w
    s_y = 3.0 / 2 ** (out_bits - 1)             # z in about [-3, 3] spans the output range
    E, M, S, B = groupnorm_params(gamma, beta, eps, 1.0, s_y, n, in_bits, in_signed, P=p_bits, name=key)
    params = gn.stream_params(name=key, channels=c, groups=g, height=h, width=w, in_bits=in_bits, in_signed=in_signed,
                              out_bits=out_bits, out_signed=out_signed, relu=relu, E=E, M=M, S=S, B=B, P=p_bits,
                              pe=pe, stats=stats)
    x = frames_for(rng, c, h, w, in_bits, in_signed)
    lo, hi = int_range(out_bits, out_signed)
    y, _ = groupnorm_int(x.transpose(0, 2, 3, 1)[None], g, E, M, S, B, 0 if relu else lo, hi, P=p_bits, stats=stats)
    return {"params": params, "M": M, "S": S, "B": B, "E": E, "x": x, "expected": y[0].transpose(0, 3, 1, 2)}


def run_cases(tmp_path, sim: str, keys: list[str], seed: int) -> None:
    """Simulate the cases ``keys`` side by side in one build (stream prefixes ``g<i>_s_axis`` / ``g<i>_m_axis``)."""
    cases = [make_case(key, seed + i) for i, key in enumerate(keys)]
    top = f"groupnorm_tb_top_{seed}"
    files, ports, body, frames, n_out = [], v.clock_reset(), [], {}, {}
    for i, case in enumerate(cases):
        p, name = case["params"], f"groupnorm_top_{seed}_{i}"
        files += gn.layer_files(name, p, case["M"], case["S"], case["B"])
        ports += v.stream_ports(f"g{i}_s_axis", p["C"] * p["IN_W"], slave=True)
        ports += v.stream_ports(f"g{i}_m_axis", p["C"] * p["OUT_W"], slave=False)
        body.append(v.instance(name, f"u_g{i}", {"clk": "clk", "rst": "rst",
                                                 **v.stream_connections("s_axis", f"g{i}_s_axis"),
                                                 **v.stream_connections("m_axis", f"g{i}_m_axis")}))
        frames[f"g{i}_s_axis"] = [axis.pack_frame(fr, p["IN_W"], bool(p["IN_SIGNED"])) for fr in case["x"]]
        n_out[f"g{i}_m_axis"] = len(case["x"])
    src = tmp_path / f"{top}.v"
    src.write_text(files_text(files) + "\n" + v.module(top, ports, body, comment=f"{top}: groupnorm cases side by side."))
    tmo = 20 * max(gn.frame_cycles(c["params"]) for c in cases) * len(cases[0]["x"]) + 2000
    scenarios = [{"frames": frames, "n_out": n_out, "seed": seed, "in_pause": 0.4, "out_pause": 0.4,
                  "timeout_cycles": tmo},
                 {"frames": frames, "n_out": n_out, "seed": seed + 1, "timeout_cycles": tmo}]
    run = run_testbench(top, [*template_sources("groupnorm_stream"), src], "pleiades_fpga.sim.tb.tb_groupnorm",
                        sim=sim, vectors={"sources": list(frames), "sinks": list(n_out), "scenarios": scenarios})
    for i, (key, case) in enumerate(zip(keys, cases)):
        p, sink = case["params"], f"g{i}_m_axis"
        for j, r in enumerate(run.results["runs"]):  # each scenario starts from reset ("previous": no statistics)
            out = r["out"][sink]
            assert [len(fr) for fr in out] == [p["H"] * p["W"]] * len(case["x"]), f"{key}: one frame per input frame"
            got = np.array([axis.unpack_frame(fr, p["C"], p["H"], p["W"], p["OUT_W"], bool(p["OUT_SIGNED"]))
                            for fr in out])
            bad = got != case["expected"]
            assert not bad.any(), (f"{key} scenario {j}: {int(bad.sum())} mismatching outputs for {p}; frames "
                                   f"{sorted(set(np.nonzero(bad)[0].tolist()))}:\n{got}\nvs\n{case['expected']}")
        ends = run.results["runs"][1]["out_end_cycle"][sink]
        steady = np.diff(ends[1:])                    # frame 0 also waits for the pipeline to fill
        model = gn.frame_cycles(p)
        assert np.all(steady == model), f"{key}: cycles per frame {steady.tolist()} vs model {model}"
        assert ends[0] == gn.latency_cycles(p), f"{key}: frame 0 ends at cycle {ends[0]}, model {gn.latency_cycles(p)}"


@pytest.mark.parametrize("key", ICARUS)
def test_groupnorm_icarus(tmp_path, key):
    if not have_simulator("icarus"):
        pytest.skip("Icarus Verilog (iverilog) is not on PATH; install it (apt-get install iverilog) to run this test")
    run_cases(tmp_path, "icarus", [key], seed=100 + 10 * ICARUS.index(key))


def test_groupnorm_verilator(tmp_path):
    run_cases(tmp_path, "verilator", VERILATOR, seed=200)


def test_fold_candidates():
    assert gn.fold_candidates(8, 4) == [1, 2, 4, 8]          # C/G = 2: PE 1 divides it, 4 and 8 are multiples
    assert gn.fold_candidates(12, 2) == [1, 2, 3, 6, 12]     # C/G = 6: 4 neither divides 6 nor is a multiple
    assert gn.fold_candidates(6, 6) == [1, 2, 3, 6]


def test_stream_params_refuse_illegal_folding():
    from pleiades_fpga.errors import PleiadesError

    with pytest.raises(PleiadesError, match="PE=4 is not a legal folding.*use one of \\[1, 2, 3, 6, 12\\]"):
        gn.stream_params(name="gn", channels=12, groups=2, height=2, width=2, in_bits=8, in_signed=False, out_bits=8,
                         out_signed=False, relu=True, E=0, M=[1] * 12, S=[0] * 12, B=[0] * 12, P=16, pe=4,
                         stats="frame")


def test_manifest_memories_and_cost():
    p = {"H": 128, "W": 128, "C": 8, "G": 4, "PE": 1, "STATS": 0, "IN_W": 8, "B_W": 16, "M_W": 16, "S_W": 5,
         "P": 16, "S1_W": 24, "S2_W": 31, "D_W": 46, "ACC_W": 57}
    mems = gn.memories("gn", p)
    assert mems[0] == {"name": "gn_frame", "kind": "frame_buffer", "depth": 16384, "width": 64}   # 1 Mbit
    assert mems[1]["depth"] == 8 and mems[1]["width"] == 37
    assert [m["kind"] for m in gn.memories("gn", {**p, "STATS": 1})] == ["weights"]    # no frame buffer
    c = gn.cost(p)
    # multiplier blocks, not products: x*x 9x9 -> 1, d*M 25x16 -> 2, (d*M)*R' 41x18 -> 3 (18x18 blocks)
    assert c["multipliers"] == 1 + 2 + 3 and c["macs_per_frame"] == 0
    assert gn.cost({**p, "PE": 2})["multipliers"] == 2 * 6
    assert gn.cost({**p, "H": 2, "W": 2, "IN_W": 4, "M_W": 4, "P": 8})["multipliers"] == 3   # narrow: 1 each
    assert c["cycles_per_frame"] == 16384 * 8 + gn.constants_cycles(p) + 6
    # "frame" delays by a whole frame (input, constants, replay), "previous" by the pipeline only
    assert gn.latency_cycles(p) > 2 * 16384 * 8 > gn.latency_cycles({**p, "STATS": 1}) - 16384 * 8 >= 0


def test_estimate_terms_dsp_blocks():
    from pleiades_fpga.toolflow.parts import get_part

    # block-0 size, 8-bit: x*x 9x9 (1 block), d*M 25x16 (2: d = 32768*x - S1 needs 8+16+1 bits), (d*M)*R' 41x18 (3)
    p = {"H": 128, "W": 128, "C": 8, "G": 4, "PE": 2, "STATS": 0, "IN_W": 8, "IN_SIGNED": 0, "P": 16, "S1_W": 24,
         "S2_W": 31, "D_W": 46, "ACC_W": 57, "M_W": 16, "S_W": 4, "B_W": 16, "OUT_W": 8, "OUT_SIGNED": 0, "RELU": 1}
    est = gn.estimate_terms(p, get_part("LFE5U-85F"))
    assert est["dsp"] == 2 * (1 + 2 + 3)
    assert est["lut"] > 0 and est["ff"] > 0


def test_lower_ir_layer():
    """The registry's hardware kind lowers an IR groupnorm layer (its fields as ir.kinds.groupnorm reads them)."""
    from types import SimpleNamespace

    from pleiades_fpga.hw.rtl.kinds import Fold, hw_kind
    from pleiades_fpga.ir.graph import TensorSpec

    c, g = 8, 4
    graph = SimpleNamespace(tensors={"x": TensorSpec("x", c, 4, 6, 8, False, np.asarray(1.0))})
    E, M, S, B = groupnorm_params(np.linspace(0.5, 1.5, c), np.linspace(-1, 1, c), 1e-5, 1.0, 1 / 16, 12, 8, False)
    layer = SimpleNamespace(name="blocks.0.temporal_norm", in_channels=c, out_bits=8, out_signed=False, relu=True,
                            inputs=["x"],
                            params=SimpleNamespace(groups=g, n=12, E=E, M=M, S=S, B=B, precision=16, stats="frame"))
    kind = hw_kind("groupnorm")
    assert [f.pe for f in kind.candidate_folds(layer)] == [1, 2, 4, 8]
    low = kind.lower(graph, layer, "blocks_0_temporal_norm", Fold(2, 1))
    assert [name for name, _ in low.files] == ["blocks_0_temporal_norm_prom", "blocks_0_temporal_norm"]
    assert "groupnorm_stream #(" in low.files[-1][1] and f".E({low.params['D_W']}'d{E})" in low.files[-1][1]
    assert low.module == "groupnorm_stream" and low.fields == {"groups": g, "stats": "frame", "frames_held": 1}
    assert low.memories[0] == {"name": "blocks_0_temporal_norm_frame", "kind": "frame_buffer", "depth": 24,
                               "width": 64}
    cost = kind.cost(graph, layer, Fold(2, 1))
    # per lane x*x 9x9, d*M 13 x M_W, (d*M)*R' (13 + M_W) x 18: 18x18 blocks
    dm_blocks = -(-(13 + low.params["M_W"]) // 18)
    assert low.params["M_W"] <= 18 and cost["multipliers"] == 2 * (1 + 1 + dm_blocks)
    assert cost["cycles_per_frame"] == gn.frame_cycles(low.params)
    assert low.params["PE"] == 2 and low.params["STATS"] == 0 and low.params["RELU"] == 1
    # the kind's latency term: one pixel (C/PE = 4 cycles), the statistics pipeline (3), the constants, the hand-over
    # (2) and the normalization pipeline with its queue; the held frame is the entry's frames_held (generator)
    entry = {"params": low.params, "cycles_per_frame": cost["cycles_per_frame"], "out_shape": [c, 4, 6]}
    assert kind.latency_cycles(entry) == 4 + 3 + gn.constants_cycles(low.params) + 2 + gn.NORM_STAGES + 2
    assert kind.latency_cycles(entry) == gn.latency_cycles(low.params) - 2 * 24 * 4 + 4
