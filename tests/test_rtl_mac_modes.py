"""mac_lane's MAC modes (0 "dsp", 1 "packed": two products per 18x18 multiplier, 2 "lut": shift-add, no DSP).

Each mode runs inside the generator's pointwise_mvu layer wrapper against an independent numpy reference with
M = 1, S = 0 and an output as wide as the accumulator, so every output integer is the exact accumulator: random
and extreme operands (e.g. -8 * -8, 15 * -8), odd products per lane (a packed pair and a single), unsigned and
signed activations, 8-bit activations in LUT mode, random back-pressure on both sides, on Icarus and Verilator. Yosys synth_ecp5: packed halves
the MULT18X18D count and lut has none. Illegal widths are refused at elaboration by name.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from pleiades_fpga.hw.rtl.lint import icarus_elaborate, template_sources, verilator_lint, yosys_synth
from pleiades_fpga.hw.rtl.rom import files_text, mac_layer_files
from pleiades_fpga.sim.axis import pack_frame
from pleiades_fpga.sim.runner import run_testbench
from test_rtl_pointwise import check_frames, ref_mvu

pytestmark = pytest.mark.rtl

MODES = {"dsp": 0, "packed": 1, "lut": 2}


def extreme_operands(rng: np.random.Generator, shape: tuple[int, ...], bits: int, signed: bool) -> np.ndarray:
    """Random integers of ``bits`` bits where about half are the range's ends (e.g. -8 and 7, or 0 and 15)."""
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    v = rng.integers(lo, hi + 1, size=shape)
    ends = rng.random(shape) < 0.5
    return np.where(ends, np.where(rng.random(shape) < 0.5, lo, hi), v)


def run_mode(sim: str, tmp_path: Path, mode: str, in_w: int, w_w: int, in_signed: bool, seed: int,
             c_in: int = 7, c_out: int = 4, pe: int = 2, simd: int = 7, h: int = 2, w: int = 3,
             models: tuple[Path, ...] = (), mul_cell: int = 0) -> None:
    """One mode in a pointwise_mvu wrapper vs ref_mvu; ``mul_cell`` (mac_lane MUL_CELL) with the cell ``models``."""
    rng = np.random.default_rng(seed)
    wt = extreme_operands(rng, (c_out, c_in), w_w, True)
    wt[0, :] = -(2 ** (w_w - 1))                     # one output of only the most negative weight
    bias = rng.integers(-20, 21, size=c_out)
    bound = int(np.abs(wt).sum(axis=1).max()) * 2 ** in_w + 21
    acc_w = int(bound).bit_length() + 1
    p = dict(C_IN=c_in, C_OUT=c_out, PE=pe, SIMD=simd, IN_W=in_w, IN_SIGNED=int(in_signed), W_W=w_w, ACC_W=acc_w,
             BIAS_W=7, M_W=1, S_W=1, OUT_W=acc_w, OUT_SIGNED=1, MAC_MODE=MODES[mode], MUL_CELL=mul_cell)
    m, s = np.ones(c_out, dtype=np.int64), np.zeros(c_out, dtype=np.int64)
    name = f"mac_{mode}_{seed}_c{mul_cell}"
    top = tmp_path / f"{name}.v"
    top.write_text(files_text(mac_layer_files(name, "pointwise_mvu", p, wt[:, :, None], bias, m, s)))
    clips = [extreme_operands(rng, (3, c_in, h, w), in_w, in_signed) for _ in range(2)]
    lo = -(2 ** (in_w - 1)) if in_signed else 2**in_w - 1
    clips[0][0] = lo                                  # a frame of the extreme activation (-8 * -8, 15 * -8)
    scenarios = [{"frames": [pack_frame(f, in_w, in_signed) for f in clip], "seed": seed + i,
                  "in_pause": 0.3 if i == 0 else 0.0, "out_pause": 0.4 if i == 0 else 0.0}
                 for i, clip in enumerate(clips)]
    run = run_testbench(name, [*models, *template_sources("pointwise_mvu"), top], "pleiades_fpga.sim.tb.tb_pointwise",
                        sim=sim, vectors={"scenarios": scenarios})
    check_frames(run.results["runs"], [ref_mvu(c, wt, bias, m, s, acc_w, True) for c in clips], acc_w, True, p)


def _need_icarus() -> None:
    if shutil.which("iverilog") is None:
        pytest.skip("Icarus Verilog (iverilog) is not on PATH; install it (apt-get install iverilog) to run this test")


@pytest.mark.parametrize("mode,in_w,w_w,in_signed,seed", [
    ("packed", 4, 4, False, 1), ("packed", 4, 4, True, 2), ("packed", 5, 5, False, 3), ("packed", 2, 3, True, 4),
    ("lut", 4, 4, False, 5), ("lut", 4, 4, True, 6), ("lut", 1, 2, False, 7), ("lut", 8, 4, False, 9),
    ("dsp", 4, 4, True, 8)])
def test_mac_mode_icarus(tmp_path, mode, in_w, w_w, in_signed, seed):
    _need_icarus()
    run_mode("icarus", tmp_path, mode, in_w, w_w, in_signed, seed)


@pytest.mark.parametrize("mode,in_signed", [("packed", True), ("lut", False)])
def test_mac_mode_verilator(tmp_path, mode, in_signed):
    run_mode("verilator", tmp_path, mode, 4, 4, in_signed, 20 + int(in_signed), c_in=9, simd=5)


@pytest.mark.parametrize("ms,mode,dsp", [(4, "dsp", 4), (4, "packed", 2), (4, "lut", 0), (5, "packed", 3)])
def test_mac_mode_ecp5_multipliers(ms, mode, dsp):
    rep = yosys_synth("mac_lane", template_sources("mac_lane"),
                      {"MS": ms, "IN_W": 4, "W_W": 4, "ACC_W": 16, "BIAS_W": 8, "MAC_MODE": MODES[mode]}, target="ecp5")
    assert rep.latches == 0
    assert rep.cells.get("MULT18X18D", 0) == dsp, rep.cells


@pytest.mark.parametrize("params,rule", [
    ({"MAC_MODE": 1, "IN_W": 6, "W_W": 5}, "packed_needs"),    # A = 2*6 + 5 + 2 = 19 bits > 18
    ({"MAC_MODE": 1, "IN_W": 4, "W_W": 8}, "packed_needs"),    # B = 4 + 2*8 + 2 = 22 bits
    ({"MAC_MODE": 2, "IN_W": 4, "W_W": 5}, "lut_needs"),
    ({"MAC_MODE": 2, "IN_W": 9, "W_W": 4}, "lut_needs"),
    ({"MAC_MODE": 3}, "MAC_MODE_must_be"),
])
def test_mac_mode_refused_at_elaboration(params, rule):
    _need_icarus()
    params = {"ACC_W": 24, **params}
    src = template_sources("mac_lane")
    for rep in (verilator_lint("mac_lane", src, params), icarus_elaborate("mac_lane", src, params)):
        assert not rep.ok and any(f"PARAMETER_ERROR_mac_lane_{rule}" in msg for msg in rep.messages), rep.messages


def test_mac_mode_widest_packed_elaborates():
    # 5-bit operands: A = 2*5 + 5 + 2 = 17 bits, B = 17 bits, within one 18x18 multiplier
    rep = verilator_lint("mac_lane", template_sources("mac_lane"), {"MAC_MODE": 1, "IN_W": 5, "W_W": 5, "ACC_W": 24})
    assert rep.ok, rep.messages


@pytest.mark.parametrize("params", [
    {"MAC_MODE": 1, "MS": 1, "IN_W": 4, "W_W": 4}, {"MAC_MODE": 1, "MS": 19, "IN_W": 5, "W_W": 5, "IN_SIGNED": 1},
    {"MAC_MODE": 2, "MS": 3, "IN_W": 1, "W_W": 2, "IN_SIGNED": 1}, {"MAC_MODE": 2, "MS": 16, "IN_W": 4, "W_W": 4}])
def test_mac_mode_lint_clean(params):
    """Verilator -Wall clean in every mode's generate branches (odd and single products, 1-bit activations)."""
    rep = verilator_lint("mac_lane", template_sources("mac_lane"), {"ACC_W": 24, **params})
    assert rep.ok, rep.messages
