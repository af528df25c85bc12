"""templates/requant.v (combinational) and requant_pipe.v (pipelined) against an independent numpy/Python reference,
on Icarus and Verilator."""
from __future__ import annotations

import shutil
from fractions import Fraction

import numpy as np
import pytest

from pleiades_fpga.hw.rtl.cycles import REQUANT_STAGES
from pleiades_fpga.hw.rtl.lint import template_sources
from pleiades_fpga.sim.runner import run_testbench

pytestmark = pytest.mark.rtl


def ref_requant(acc: int, m: int, s: int, out_w: int, signed: bool) -> int:
    """round_half_even(acc*m / 2**s) clamped: exact rational arithmetic, Python's round() is half-even."""
    v = round(Fraction(acc * m, 2**s))
    lo, hi = (-(2 ** (out_w - 1)), 2 ** (out_w - 1) - 1) if signed else (0, 2**out_w - 1)
    return min(max(v, lo), hi)


def as_signed(y: int, out_w: int, signed: bool) -> int:
    """The value of a raw OUT_W-bit output pattern."""
    return y - 2**out_w if signed and y >= 2 ** (out_w - 1) else y


def make_vectors(rng: np.random.Generator, acc_w: int, m_w: int, s_w: int, n: int) -> dict:
    s_max = min(2**s_w - 1, acc_w + m_w)
    acc = rng.integers(-(2 ** (acc_w - 1)), 2 ** (acc_w - 1), size=n)
    m = rng.integers(1, 2**m_w, size=n)
    s = rng.integers(0, s_max + 1, size=n)
    # exact ties (acc*m = (2q+1) * 2**(s-1)) and extremes
    ties = []
    for _ in range(n // 4):
        ss = int(rng.integers(1, min(s_max, acc_w - 1) + 1))
        q = int(rng.integers(-(2 ** (acc_w - ss - 1)), 2 ** (acc_w - ss - 1)))
        ties.append(((2 * q + 1) * 2 ** (ss - 1), 1, ss))
    ext = [(-(2 ** (acc_w - 1)), 2**m_w - 1, 0), (2 ** (acc_w - 1) - 1, 2**m_w - 1, 0),
           (-(2 ** (acc_w - 1)), 2**m_w - 1, s_max), (2 ** (acc_w - 1) - 1, 1, s_max), (0, 1, 0), (-1, 1, 1), (1, 1, 1)]
    accs = [int(a) for a in acc] + [t[0] for t in ties + ext]
    ms = [int(a) for a in m] + [t[1] for t in ties + ext]
    ss = [int(a) for a in s] + [t[2] for t in ties + ext]
    return {"acc": accs, "m": ms, "s": ss}


def check(sim: str, acc_w: int, m_w: int, s_w: int, out_w: int, signed: bool, seed: int, n: int = 600) -> None:
    rng = np.random.default_rng(seed)
    vec = make_vectors(rng, acc_w, m_w, s_w, n)
    params = {"ACC_W": acc_w, "M_W": m_w, "S_W": s_w, "OUT_W": out_w, "OUT_SIGNED": int(signed)}
    run = run_testbench("requant", template_sources("requant"), "pleiades_fpga.sim.tb.tb_requant", sim=sim,
                        parameters=params, vectors=vec)
    got = run.results["y"]
    assert len(got) == len(vec["acc"])
    mism = []
    for a, m, s, y in zip(vec["acc"], vec["m"], vec["s"], got):
        y = as_signed(y, out_w, signed)
        exp = ref_requant(a, m, s, out_w, signed)
        if y != exp:
            mism.append((a, m, s, y, exp))
    assert not mism, f"{len(mism)} mismatches, first: (acc, m, s, rtl, ref) = {mism[:5]}"


ICARUS_CONFIGS = [(12, 6, 4, 8, False, 1), (20, 10, 5, 6, True, 2), (9, 1, 3, 3, True, 3), (24, 16, 6, 12, False, 4)]


@pytest.mark.parametrize("acc_w,m_w,s_w,out_w,signed,seed", ICARUS_CONFIGS)
def test_requant_icarus(acc_w, m_w, s_w, out_w, signed, seed):
    if shutil.which("iverilog") is None:
        pytest.skip("Icarus Verilog (iverilog) is not on PATH; install it (apt-get install iverilog) to run this test")
    check("icarus", acc_w, m_w, s_w, out_w, signed, seed)


def test_requant_verilator():
    check("verilator", 18, 8, 5, 7, True, 11)


def test_reference_hand_cases():
    # the reference itself on hand-computed cases: 5/2 = 2.5 -> 2, 7/2 = 3.5 -> 4, -5/2 = -2.5 -> -2
    assert ref_requant(5, 1, 1, 8, True) == 2
    assert ref_requant(7, 1, 1, 8, True) == 4
    assert ref_requant(-5, 1, 1, 8, True) == -2
    assert ref_requant(-7, 3, 2, 8, False) == 0   # -5.25 clamps at 0 (ReLU)
    assert ref_requant(1000, 1, 0, 8, False) == 255
    assert ref_requant(-1000, 1, 0, 4, True) == -8


def check_pipelined(sim: str, acc_w: int, m_w: int, s_w: int, out_w: int, signed: bool, seed: int,
                    n: int = 400) -> None:
    """requant_pipe (PIPELINED = 1) with a random enable: y after an edge is the requantization of the inputs
    sampled REQUANT_STAGES enabled edges earlier (a shift register of the inputs models the timing; the values
    come from ref_requant)."""
    rng = np.random.default_rng(seed)
    vec = make_vectors(rng, acc_w, m_w, s_w, n)
    vec["en"] = [int(e) for e in rng.random(len(vec["acc"])) < 0.7]
    params = {"ACC_W": acc_w, "M_W": m_w, "S_W": s_w, "OUT_W": out_w, "OUT_SIGNED": int(signed), "PIPELINED": 1}
    run = run_testbench("requant_pipe", template_sources("requant_pipe"), "pleiades_fpga.sim.tb.tb_requant_pipe",
                        sim=sim, parameters=params, vectors=vec)
    got = run.results["y"]
    assert len(got) == len(vec["acc"])
    stages: list[tuple[int, int, int] | None] = [None] * REQUANT_STAGES
    compared, mism = 0, []
    for a, m, s, en, y in zip(vec["acc"], vec["m"], vec["s"], vec["en"], got):
        if en:
            stages = [(a, m, s)] + stages[:-1]
        if stages[-1] is None:
            continue
        exp = ref_requant(*stages[-1], out_w, signed)
        y = None if y is None else as_signed(y, out_w, signed)   # None: y was X or Z (a mismatch)
        compared += 1
        if y != exp:
            mism.append((stages[-1], y, exp))
    assert compared > n // 2
    assert not mism, f"{len(mism)} of {compared} mismatch, first: ((acc, m, s), rtl, ref) = {mism[:5]}"


def test_requant_pipe_verilator():
    check_pipelined("verilator", 18, 8, 5, 7, True, 21)
    check_pipelined("verilator", 14, 1, 4, 6, False, 22)   # M_W = 1 (groupnorm's use: no multiplier)


def test_requant_pipe_icarus():
    if shutil.which("iverilog") is None:
        pytest.skip("Icarus Verilog (iverilog) is not on PATH; install it (apt-get install iverilog) to run this test")
    check_pipelined("icarus", 20, 10, 5, 6, False, 23)
