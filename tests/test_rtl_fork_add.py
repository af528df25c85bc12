"""axis_fork (broadcast, independent readies) and axis_add (aligned exact add + clamp) in simulation.

Fork: every input beat must appear exactly once, in order, on both outputs, whose sinks pause
independently. Add: two sources pausing independently; outputs against a numpy reference
y = clamp((a << SHIFT_A) + (b << SHIFT_B), lo, hi). Both then run without back-pressure and must
take ``cycles_spatial.stream_cycles`` (one pixel per cycle) per frame within 5 %.
"""
from __future__ import annotations

import numpy as np
import pytest

from pleiades_fpga.hw.rtl import cycles_spatial
from pleiades_fpga.hw.rtl.lint import template_sources
from pleiades_fpga.sim import axis
from pleiades_fpga.sim.runner import run_testbench
from pleiades_fpga.toolflow.locate import have_simulator


def int_range(bits: int, signed: bool) -> tuple[int, int]:
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def add_ref(a: np.ndarray, b: np.ndarray, sa: int, sb: int, bits: int, signed: bool) -> np.ndarray:
    """Exact integer add after left shifts, then clamp to the output range (element by element)."""
    lo, hi = int_range(bits, signed)
    out = np.empty(a.shape, dtype=np.int64)
    for idx in np.ndindex(a.shape):
        out[idx] = min(max(int(a[idx]) * 2 ** sa + int(b[idx]) * 2 ** sb, lo), hi)
    return out


def make_case(seed: int, h: int, w: int, c: int, n_frames: int) -> dict:
    rng = np.random.default_rng(seed)
    fork_c, fork_bits = int(rng.integers(1, 6)), int(rng.integers(1, 9))
    p = {"C": c, "A_W": int(rng.integers(2, 9)), "A_SIGNED": int(rng.integers(0, 2)),
         "SHIFT_A": int(rng.integers(0, 3)), "B_W": int(rng.integers(2, 9)), "B_SIGNED": int(rng.integers(0, 2)),
         "SHIFT_B": int(rng.integers(0, 3)), "OUT_W": int(rng.integers(2, 9)), "OUT_SIGNED": int(rng.integers(0, 2))}
    fx = rng.integers(0, 1 << fork_bits, size=(n_frames, fork_c, h, w))
    a = rng.integers(*np.add(int_range(p["A_W"], bool(p["A_SIGNED"])), (0, 1)), size=(n_frames, c, h, w))
    b = rng.integers(*np.add(int_range(p["B_W"], bool(p["B_SIGNED"])), (0, 1)), size=(n_frames, c, h, w))
    expected = add_ref(a, b, p["SHIFT_A"], p["SHIFT_B"], p["OUT_W"], bool(p["OUT_SIGNED"]))
    return {"params": p, "fork_c": fork_c, "fork_bits": fork_bits, "fx": fx, "a": a, "b": b, "expected": expected,
            "h": h, "w": w}


def _run(sim: str, top: str, params: dict, sources: list[str], sinks: list[str], inputs: dict, n_timed: int,
         seed: int, tmo: int) -> list[dict]:
    """Simulate template ``top`` with ``params``: all but the last ``n_timed`` frames with random pauses on every
    port, then (after a reset) the last ``n_timed`` frames without pauses. Returns the two runs."""
    n = len(next(iter(inputs.values())))
    scenarios = [{"frames": {k: f[lo:hi] for k, f in inputs.items()}, "n_out": {k: hi - lo for k in sinks}, "seed": s,
                  "in_pause": pause, "out_pause": pause, "timeout_cycles": tmo}
                 for lo, hi, s, pause in ((0, n - n_timed, seed, 0.4), (n - n_timed, n, seed + 1, 0.0))]
    return run_testbench(top, template_sources(top), "pleiades_fpga.sim.tb.tb_fork_add", sim=sim, parameters=params,
                         vectors={"sources": sources, "sinks": sinks, "scenarios": scenarios}).results["runs"]


def _check_rate(ends: list[float], model: int, what: str) -> None:
    measured = (ends[-1] - ends[0]) / (len(ends) - 1)
    assert abs(measured - model) <= 0.05 * model, f"{what}: cycles/frame measured {measured} vs model {model}"


def run_case(sim: str, case: dict, n_timed: int, seed: int) -> None:
    p = case["params"]
    h, w = case["h"], case["w"]
    model = cycles_spatial.stream_cycles(h, w)
    tmo = 50 * model * len(case["fx"]) + 2000
    fork_frames = [axis.pack_frame(f, case["fork_bits"]) for f in case["fx"]]
    runs = _run(sim, "axis_fork", {"DATA_W": case["fork_c"] * case["fork_bits"]}, ["s_axis"], ["m_a_axis", "m_b_axis"],
                {"s_axis": fork_frames}, n_timed, seed, tmo)
    for side in ("m_a_axis", "m_b_axis"):
        assert [fr for r in runs for fr in r["out"][side]] == fork_frames, f"{side}: beats lost, duplicated or reordered"
        _check_rate(runs[1]["out_end_cycle"][side], model, f"axis_fork {side}")
    inputs = {"s_a_axis": [axis.pack_frame(f, p["A_W"], bool(p["A_SIGNED"])) for f in case["a"]],
              "s_b_axis": [axis.pack_frame(f, p["B_W"], bool(p["B_SIGNED"])) for f in case["b"]]}
    runs = _run(sim, "axis_add", p, ["s_a_axis", "s_b_axis"], ["m_axis"], inputs, n_timed, seed, tmo)
    got = np.array([axis.unpack_frame(fr, p["C"], h, w, p["OUT_W"], bool(p["OUT_SIGNED"]))
                    for r in runs for fr in r["out"]["m_axis"]])
    assert got.shape == case["expected"].shape
    mismatches = int((got != case["expected"]).sum())
    assert mismatches == 0, f"{mismatches} mismatching sums for {p}"
    _check_rate(runs[1]["out_end_cycle"]["m_axis"], model, "axis_add")


def test_add_reference_hand_case():
    a, b = np.array([3, -2, 100, 0]), np.array([1, 1, 100, -1])
    assert add_ref(a, b, 1, 0, 8, False).tolist() == [7, 0, 255, 0]        # 7, -3->0, 300->255, -1->0
    assert add_ref(a, b, 0, 2, 4, True).tolist() == [7, 2, 7, -4]          # 7, 2, 500->7, -4


ICARUS_CASES = [(51, 3, 5, 3), (52, 4, 4, 1)]
VERILATOR_CASES = [(61, 5, 3, 4)]


@pytest.mark.parametrize("cfg", ICARUS_CASES, ids=[f"h{c[1]}w{c[2]}c{c[3]}" for c in ICARUS_CASES])
def test_fork_add_icarus(cfg):
    if not have_simulator("icarus"):
        pytest.skip("Icarus Verilog (iverilog) is not on PATH; install it (apt-get install iverilog) to run this test")
    seed, *shape = cfg
    run_case("icarus", make_case(seed, *shape, n_frames=7), n_timed=3, seed=seed)


@pytest.mark.parametrize("cfg", VERILATOR_CASES, ids=[f"h{c[1]}w{c[2]}c{c[3]}" for c in VERILATOR_CASES])
def test_fork_add_verilator(cfg):
    seed, *shape = cfg
    run_case("verilator", make_case(seed, *shape, n_frames=7), n_timed=3, seed=seed)


ADD_LINT_SETS = [{}, {"A_SIGNED": 1, "B_SIGNED": 1, "OUT_SIGNED": 1, "SHIFT_B": 3, "OUT_W": 4},
                 {"C": 1, "A_W": 2, "B_W": 9, "SHIFT_A": 5, "OUT_W": 1},
                 {"C": 64, "A_W": 8, "B_W": 8, "OUT_W": 16, "OUT_SIGNED": 1}]


@pytest.mark.parametrize("params", ADD_LINT_SETS, ids=[str(i) for i in range(len(ADD_LINT_SETS))])
def test_axis_add_verilator_lint(params):
    from pleiades_fpga.hw.rtl.lint import template_sources, verilator_lint

    rep = verilator_lint("axis_add", template_sources("axis_add"), params)
    assert rep.ok, "\n".join(rep.messages)


@pytest.mark.parametrize("bits", [1, 37])
def test_axis_fork_verilator_lint(bits):
    from pleiades_fpga.hw.rtl.lint import template_sources, verilator_lint

    rep = verilator_lint("axis_fork", template_sources("axis_fork"), {"DATA_W": bits})
    assert rep.ok, "\n".join(rep.messages)


@pytest.mark.parametrize("name", ["axis_fork", "axis_add"])
def test_fork_add_yosys_no_latches(name):
    from pleiades_fpga.hw.rtl.lint import template_sources, yosys_synth

    rep = yosys_synth(name, template_sources(name), {"C": 3, "SHIFT_A": 1} if name == "axis_add" else {"DATA_W": 9})
    assert rep.latches == 0
    assert rep.cells.get("cells", 1) > 0


# ---------------------------------------------------------------- axis_fifo (the skip FIFO and the engines' input queues)
FIFO_CASES = [("icarus", 2, 71), ("icarus", 4, 72), ("verilator", 2, 73), ("verilator", 8, 74), ("verilator", 16, 75)]


@pytest.mark.parametrize("sim,depth,seed", FIFO_CASES, ids=[f"{c[0]}-depth{c[1]}" for c in FIFO_CASES])
def test_axis_fifo_every_beat_once_in_order(sim, depth, seed):
    # its flags come from registers selected by push and pop (count == 1, == DEPTH - 1, full, empty): every beat must
    # come out once and in order while both sides pause at random, and one beat per cycle without pauses
    if sim == "icarus" and not have_simulator("icarus"):
        pytest.skip("Icarus Verilog (iverilog) is not on PATH; install it (apt-get install iverilog) to run this test")
    rng = np.random.default_rng(seed)
    h, w, bits = 3, 5, 7
    frames = [axis.pack_frame(rng.integers(0, 1 << bits, size=(1, h, w)), bits) for _ in range(8)]
    model = cycles_spatial.stream_cycles(h, w)
    runs = _run(sim, "axis_fifo", {"DATA_W": bits, "DEPTH": depth}, ["s_axis"], ["m_axis"], {"s_axis": frames},
                n_timed=3, seed=seed, tmo=50 * model * len(frames) + 2000)
    assert [fr for r in runs for fr in r["out"]["m_axis"]] == frames, "beats lost, duplicated or reordered"
    _check_rate(runs[1]["out_end_cycle"]["m_axis"], model, f"axis_fifo DEPTH {depth}")
