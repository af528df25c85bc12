"""avgpool_stream (in the layer wrapper the generator ships, rom.avgpool_layer_files) against a numpy reference: per-channel frame sums, requantized (round half to even).

Random frame sizes, channels, widths, per-channel M/S and requant folding (PE dividing and not
dividing C); frames back to back with random back-pressure on both sides, then a run without
back-pressure whose cycles per frame must be within 5 % of ``cycles_spatial.avgpool_cycles``.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from pleiades_fpga.hw.rtl import cycles_spatial
from pleiades_fpga.hw.rtl.lint import template_sources
from pleiades_fpga.hw.rtl.rom import avgpool_layer_files, files_text
from pleiades_fpga.sim import axis
from pleiades_fpga.sim.runner import run_testbench
from pleiades_fpga.toolflow.locate import have_simulator


def avgpool_ref(x: np.ndarray, mult, shift, bits: int, signed: bool) -> np.ndarray:
    """(F, C) outputs: clamp(round_half_even(sum_{y,x} x[f, c, y, x] * M[c] / 2**S[c]))."""
    f_n, c_n = x.shape[:2]
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    out = np.zeros((f_n, c_n), dtype=np.int64)
    for f in range(f_n):
        for c in range(c_n):
            total = sum(int(v) for v in x[f, c].ravel())
            out[f, c] = min(max(round(Fraction(total * int(mult[c]), 2 ** int(shift[c]))), lo), hi)
    return out


def make_case(seed: int, h: int, w: int, c: int, pe: int, n_frames: int) -> dict:
    rng = np.random.default_rng(seed)
    in_bits, out_bits = int(rng.integers(2, 9)), int(rng.integers(2, 9))
    in_signed, out_signed = bool(rng.integers(0, 2)), bool(rng.integers(0, 2))
    lo, hi = (-(1 << (in_bits - 1)), (1 << (in_bits - 1)) - 1) if in_signed else (0, (1 << in_bits) - 1)
    x = rng.integers(lo, hi + 1, size=(n_frames, c, h, w))
    # mean = sum / (H*W): M / 2**S ~ scale / (H*W) with a random per-channel scale around 1
    m_bits = int(rng.integers(4, 12))
    shift = np.array([int(np.ceil(np.log2(h * w))) + m_bits - 1 + int(rng.integers(-2, 2)) for _ in range(c)])
    mult = np.array([int(round(2 ** int(s) / (h * w) * rng.uniform(0.5, 1.5))) for s in shift]).clip(1, 2 ** m_bits - 1)
    params = {"H": h, "W": w, "C": c, "IN_W": in_bits, "IN_SIGNED": int(in_signed), "PE": pe,
              "M_W": m_bits, "S_W": max(1, int(shift.max()).bit_length()), "OUT_W": out_bits,
              "OUT_SIGNED": int(out_signed)}
    return {"params": params, "mult": mult, "shift": shift, "x": x,
            "expected": avgpool_ref(x, mult, shift, out_bits, out_signed)}


def run_case(tmp_path, sim: str, case: dict, n_pressure: int, seed: int) -> None:
    p = case["params"]
    top = f"avgpool_top_{seed}"
    src = tmp_path / f"{top}.v"
    src.write_text(files_text(avgpool_layer_files(top, p, case["mult"], case["shift"])))
    words = [axis.pack_frame(fr, p["IN_W"], bool(p["IN_SIGNED"])) for fr in case["x"]]
    model = cycles_spatial.avgpool_cycles(p["H"], p["W"], p["C"], p["PE"])
    tmo = 20 * model * len(words) + 2000
    scenarios = [{"frames": words[:n_pressure], "seed": seed, "in_pause": 0.4, "out_pause": 0.4, "timeout_cycles": tmo},
                 {"frames": words[n_pressure:], "seed": seed + 1, "timeout_cycles": tmo}]
    run = run_testbench(top, [*template_sources("avgpool_stream"), src], "pleiades_fpga.sim.tb.tb_avgpool", sim=sim,
                        vectors={"scenarios": scenarios})
    runs = run.results["runs"]
    got = [fr for r in runs for fr in r["out"]]
    assert [len(fr) for fr in got] == [1] * len(case["x"]), "one beat (with tlast) per frame expected"
    values = np.array([axis.unpack_pixel(fr[0], p["C"], p["OUT_W"], bool(p["OUT_SIGNED"])) for fr in got])
    mismatches = int((values != case["expected"]).sum())
    assert mismatches == 0, f"{mismatches} mismatching outputs for {p}:\n{values}\nvs\n{case['expected']}"
    done = runs[1]["out_end_cycle"]
    measured = (done[-1] - done[0]) / (len(done) - 1)
    assert abs(measured - model) <= 0.05 * model, f"cycles/frame measured {measured} vs model {model}"


def test_reference_hand_case():
    x = np.array([[[[1, 2], [3, 5]]]])      # sum 11, mean 2.75
    assert avgpool_ref(x, [1], [2], 8, False).tolist() == [[3]]       # 11/4 = 2.75 -> 3
    x2 = np.array([[[[1, 1], [0, 0]]]])     # sum 2, 2/4 = 0.5 -> 0 (half to even)
    assert avgpool_ref(x2, [1], [2], 8, False).tolist() == [[0]]
    x3 = np.array([[[[3, 3], [0, 0]]]])     # 6/4 = 1.5 -> 2
    assert avgpool_ref(x3, [1], [2], 8, False).tolist() == [[2]]


# (seed, H, W, C, PE)
ICARUS_CASES = [(31, 3, 4, 5, 2), (32, 5, 5, 4, 4), (33, 2, 3, 7, 1)]
VERILATOR_CASES = [(41, 4, 3, 6, 4)]


@pytest.mark.parametrize("cfg", ICARUS_CASES, ids=[f"h{c[1]}w{c[2]}c{c[3]}pe{c[4]}" for c in ICARUS_CASES])
def test_avgpool_icarus(tmp_path, cfg):
    if not have_simulator("icarus"):
        pytest.skip("Icarus Verilog (iverilog) is not on PATH; install it (apt-get install iverilog) to run this test")
    seed, *shape = cfg
    run_case(tmp_path, "icarus", make_case(seed, *shape, n_frames=7), n_pressure=4, seed=seed)


@pytest.mark.parametrize("cfg", VERILATOR_CASES, ids=[f"h{c[1]}w{c[2]}c{c[3]}pe{c[4]}" for c in VERILATOR_CASES])
def test_avgpool_verilator(tmp_path, cfg):
    seed, *shape = cfg
    run_case(tmp_path, "verilator", make_case(seed, *shape, n_frames=7), n_pressure=4, seed=seed)


LINT_SETS = [{}, {"C": 5, "PE": 3, "IN_SIGNED": 1, "OUT_SIGNED": 1}, {"H": 1, "W": 1, "C": 1},
             {"H": 8, "W": 8, "C": 256, "PE": 8, "IN_W": 8, "M_W": 16, "S_W": 6, "OUT_W": 8}]


@pytest.mark.parametrize("params", LINT_SETS, ids=[str(i) for i in range(len(LINT_SETS))])
def test_avgpool_verilator_lint(params):
    from pleiades_fpga.hw.rtl.lint import template_sources, verilator_lint

    rep = verilator_lint("avgpool_stream", template_sources("avgpool_stream"), params)
    assert rep.ok, "\n".join(rep.messages)


def test_avgpool_yosys_no_latches():
    from pleiades_fpga.hw.rtl.lint import template_sources, yosys_synth

    rep = yosys_synth("avgpool_stream", template_sources("avgpool_stream"), {"C": 3, "PE": 2})
    assert rep.latches == 0
    assert rep.cells.get("cells", 1) > 0
