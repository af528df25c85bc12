"""mac_lane MUL_CELL 1 (ECP5 MULT18X18D cells with their input and output registers) and its simulation model.

- cycle-exact equivalence: one mac_lane with inferred multipliers (MUL_CELL 0) and one with cells (MUL_CELL 1) get
  the same random operands, enables (long stalls and single-cycle bubbles, as a back-pressured engine gives them) and
  step flags; their accumulators agree after every clock edge, on Verilator and Icarus, modes "dsp" and "packed";
- layer level: the pointwise_mvu wrapper with MUL_CELL 1 against the independent numpy reference (test_rtl_mac_modes'
  run_mode) with random back-pressure, on Icarus;
- Yosys synth_ecp5 keeps stages M and P inside the cells (MULT18X18D with REG_INPUTA/B_CLK and REG_OUTPUT_CLK =
  CLK0, fewer fabric FFs by exactly those registers), no latches; the model file is empty for Yosys (SYNTHESIS);
- the model refuses a parameter value outside its subset at elaboration, and mac_lane a MUL_CELL other than 0 or 1;
- the generator picks MUL_CELL 1 for ECP5 parts only and ships the model in rtl_files.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pleiades_fpga.hw.rtl import SIM_MODELS_DIR
from pleiades_fpga.hw.rtl.lint import icarus_elaborate, template_sources, verilator_lint, yosys_synth
from pleiades_fpga.sim.runner import run_testbench
from pleiades_fpga.toolflow.synth import yosys_cmd
from test_rtl_mac_modes import run_mode

pytestmark = pytest.mark.rtl

MODEL = SIM_MODELS_DIR / "MULT18X18D.v"


def _need_icarus() -> None:
    if shutil.which("iverilog") is None:
        pytest.skip("Icarus Verilog (iverilog) is not on PATH; install it (apt-get install iverilog) to run this test")


def pair_top(params: dict[str, int]) -> str:
    """A wrapper with two mac_lane instances on the same inputs: u_a inferred (MUL_CELL 0), u_b cells (MUL_CELL 1)."""
    ms, in_w, w_w, bias_w, acc_w = (params[k] for k in ("MS", "IN_W", "W_W", "BIAS_W", "ACC_W"))
    plist = ", ".join(f".{k}({v})" for k, v in params.items())
    inst = "\n".join(
        f"    mac_lane #({plist}, .MUL_CELL({cell})) u_{n} (.clk(clk), .en(en), .x(x), .w(w), .acc_load(acc_load),\n"
        f"        .first(first), .bias(bias), .acc(acc_{n}));" for n, cell in (("a", 0), ("b", 1)))
    return (f"`timescale 1ns/1ps\n`default_nettype none\nmodule mac_lane_pair (\n"
            f"    input wire clk, input wire en, input wire [{ms * in_w - 1}:0] x, input wire [{ms * w_w - 1}:0] w,\n"
            f"    input wire acc_load, input wire first, input wire signed [{bias_w - 1}:0] bias,\n"
            f"    output wire signed [{acc_w - 1}:0] acc_a, output wire signed [{acc_w - 1}:0] acc_b\n);\n"
            f"{inst}\nendmodule\n`default_nettype wire\n")


def random_steps(rng: np.random.Generator, params: dict[str, int], n: int) -> list[list[int]]:
    """n cycles of [en, x, w, acc_load, first, bias]: enables in runs (stalls of 1..12 cycles, single bubbles),
    operands with many range ends (most negative weight x largest activation), outputs of 1..4 steps."""
    ms, in_w, w_w, bias_w = params["MS"], params["IN_W"], params["W_W"], params["BIAS_W"]
    steps, left = [], 0
    en_runs = []
    while len(en_runs) < n:
        en_runs += [1] * int(rng.integers(1, 8)) + [0] * int(rng.choice([1, 1, 2, 5, 12]))
    for en in en_runs[:n]:
        x = rng.integers(0, 2**in_w, size=ms)
        w = rng.integers(0, 2**w_w, size=ms)
        ends = rng.random(ms) < 0.3
        x = np.where(ends, 2**in_w - 1 if not params["IN_SIGNED"] else 2 ** (in_w - 1), x)   # max / most negative
        w = np.where(ends, 2 ** (w_w - 1), w)                                                   # most negative
        first = int(left == 0)
        if left == 0:
            left = int(rng.integers(1, 5))
        if en:
            left -= 1
        xw = sum(int(v) << (i * in_w) for i, v in enumerate(x))
        ww = sum(int(v) << (i * w_w) for i, v in enumerate(w))
        steps.append([en, xw, ww, int(rng.random() < 0.9), first, int(rng.integers(0, 2**bias_w))])
    return steps


PAIR_CASES = [
    ("dsp", {"MS": 5, "IN_W": 8, "IN_SIGNED": 0, "W_W": 8, "BIAS_W": 8, "ACC_W": 24, "MAC_MODE": 0}),
    ("dsp_signed_wide", {"MS": 3, "IN_W": 17, "IN_SIGNED": 1, "W_W": 18, "BIAS_W": 9, "ACC_W": 40, "MAC_MODE": 0}),
    ("packed", {"MS": 5, "IN_W": 4, "IN_SIGNED": 1, "W_W": 4, "BIAS_W": 6, "ACC_W": 16, "MAC_MODE": 1}),
]


@pytest.mark.parametrize("sim", ["verilator", "icarus"])
@pytest.mark.parametrize("case,params", PAIR_CASES, ids=[c for c, _ in PAIR_CASES])
def test_cell_lane_matches_inferred_lane_every_cycle(tmp_path, sim, case, params):
    if sim == "icarus":
        _need_icarus()
    rng = np.random.default_rng(len(case) + (7 if sim == "icarus" else 0))
    top = tmp_path / "mac_lane_pair.v"
    top.write_text(pair_top(params))
    steps = random_steps(rng, params, 600)
    run = run_testbench("mac_lane_pair", [MODEL, *template_sources("mac_lane"), top],
                        "pleiades_fpga.sim.tb.tb_mac_lane_pair", sim=sim, vectors={"steps": steps})
    a, b = run.results["acc_a"], run.results["acc_b"]
    assert len(a) == len(b) == len(steps)
    assert None not in a[40:] + b[40:], "an accumulator is still undefined after 40 cycles"
    bad = [i for i in range(len(a)) if a[i] != b[i]]          # undefined (None) at power-up in both, or neither
    assert not bad, f"{len(bad)} cycles differ, first at {bad[0]}: inferred {a[bad[0]]} vs cell {b[bad[0]]}"
    assert len(set(a[40:])) > 50, "the accumulators barely changed: the stimulus does not exercise the lanes"


def test_layer_with_cells_matches_reference_icarus(tmp_path):
    _need_icarus()
    run_mode("icarus", tmp_path, "dsp", 8, 8, False, 31, models=(MODEL,), mul_cell=1)
    run_mode("icarus", tmp_path, "packed", 4, 4, True, 32, models=(MODEL,), mul_cell=1)


def _netlist_cells(tmp_path: Path, params: dict[str, int]) -> list[dict]:
    """synth_ecp5 of mac_lane with ``params`` (the model file read too, as a build's rtl_files are): the
    MULT18X18D cells of the flattened netlist."""
    srcs = [MODEL, *template_sources("mac_lane")]
    names = []
    for i, s in enumerate(srcs):
        names.append(f"s{i}_{s.name}")
        shutil.copyfile(s, tmp_path / names[-1])
    sets = " ".join(f"-set {k} {v}" for k, v in params.items())
    (tmp_path / "run.ys").write_text("\n".join([*(f"read_verilog -sv {n}" for n in names), f"chparam {sets} mac_lane",
                                                "synth_ecp5 -top mac_lane", "write_json net.json"]) + "\n")
    out = subprocess.run(yosys_cmd() + ["-q", "-s", "run.ys"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr
    net = json.loads((tmp_path / "net.json").read_text())
    return [c for c in net["modules"]["mac_lane"]["cells"].values() if c["type"] == "MULT18X18D"]


@pytest.mark.parametrize("mode,in_w,w_w", [(0, 8, 8), (1, 4, 4)])
def test_synth_ecp5_keeps_registers_in_cells(tmp_path, mode, in_w, w_w):
    params = {"MS": 4, "IN_W": in_w, "W_W": w_w, "ACC_W": 24, "BIAS_W": 8, "MAC_MODE": mode}
    inferred = yosys_synth("mac_lane", [MODEL, *template_sources("mac_lane")], params, target="ecp5")
    cell = yosys_synth("mac_lane", [MODEL, *template_sources("mac_lane")], {**params, "MUL_CELL": 1}, target="ecp5")
    assert inferred.latches == 0 and cell.latches == 0
    n = 4 if mode == 0 else 2
    assert inferred.cells.get("MULT18X18D") == cell.cells.get("MULT18X18D") == n
    # stage M (the operands) and stage P (dsp: the product, packed: the middle field) leave the fabric; Yosys
    # drops or merges some operand bits of the inferred path (an unsigned activation's 0 sign bit, the packing's
    # copies), so the count is at least the weight operands and stage P
    pw = in_w + 1 + w_w
    ob = w_w if mode == 0 else 2 * pw - in_w
    moved = inferred.cells["TRELLIS_FF"] - cell.cells["TRELLIS_FF"]
    assert moved >= n * (ob + pw), (moved, inferred.cells, cell.cells)
    mults = _netlist_cells(tmp_path, {**params, "MUL_CELL": 1})
    assert len(mults) == n
    for c in mults:
        p = {k: v.strip() for k, v in c["parameters"].items()}      # Yosys pads some strings with a space
        assert (p["REG_INPUTA_CLK"], p["REG_INPUTB_CLK"], p["REG_OUTPUT_CLK"], p["REG_PIPELINE_CLK"]) == \
               ("CLK0", "CLK0", "CLK0", "NONE"), p
        assert p["GSR"] == "DISABLED", p


@pytest.mark.parametrize("params,rule", [
    ({"REG_OUTPUT_CLK": '"CLK1"'}, "register_clocks_must_be_NONE_or_CLK0"),
    ({"REG_INPUTC_CLK": '"CLK0"'}, "register_clocks_must_be_NONE_or_CLK0"),
    ({"REG_INPUTA_CE": '"CE1"'}, "register_enables_must_be_CE0"),
    ({"GSR": '"ENABLED"'}, "unmodelled_mode_parameter"),
    ({"RESETMODE": '"ASYNC"'}, "unmodelled_mode_parameter"),
])
def test_model_refuses_unsupported_parameters(params, rule):
    _need_icarus()
    for rep in (verilator_lint("MULT18X18D", [MODEL], params), icarus_elaborate("MULT18X18D", [MODEL], params)):
        assert not rep.ok and any(f"PARAMETER_ERROR_MULT18X18D_{rule}" in m for m in rep.messages), rep.messages


@pytest.mark.parametrize("params", [
    {}, {"REG_INPUTA_CLK": '"CLK0"', "REG_INPUTB_CLK": '"CLK0"', "REG_PIPELINE_CLK": '"CLK0"',
         "REG_OUTPUT_CLK": '"CLK0"'}])
def test_model_lint_clean(params):
    rep = verilator_lint("MULT18X18D", [MODEL], params)
    assert rep.ok, rep.messages


@pytest.mark.parametrize("params", [
    {"MUL_CELL": 1}, {"MUL_CELL": 1, "MAC_MODE": 1, "MS": 5, "IN_W": 4, "W_W": 4},
    {"MUL_CELL": 1, "IN_W": 17, "W_W": 18, "ACC_W": 40}, {"MUL_CELL": 1, "IN_W": 18, "ACC_W": 40},
    {"MUL_CELL": 1, "MAC_MODE": 2, "W_W": 4}])
def test_mac_lane_cell_lint_clean(params):
    """-Wall clean with cells, at the 18-bit edge (IN_W 17, W_W 18), past it (IN_W 18: inferred) and in LUT mode."""
    rep = verilator_lint("mac_lane", [MODEL, *template_sources("mac_lane")], {"ACC_W": 24, **params})
    assert rep.ok, rep.messages


def test_mac_lane_refuses_unknown_cell():
    _need_icarus()
    src = [MODEL, *template_sources("mac_lane")]
    for rep in (verilator_lint("mac_lane", src, {"MUL_CELL": 2}), icarus_elaborate("mac_lane", src, {"MUL_CELL": 2})):
        assert not rep.ok and any("PARAMETER_ERROR_mac_lane_MUL_CELL_must_be_0_or_1" in m for m in rep.messages)


def test_model_absent_for_synthesis():
    """Yosys defines SYNTHESIS: the model defines no module there, so synth_ecp5 maps the instance to its cell."""
    text = MODEL.read_text()
    assert text.index("`ifndef SYNTHESIS") < text.index("module MULT18X18D") < text.index("`endif")


@pytest.fixture(scope="module")
def ecp5_build(tmp_path_factory):
    from pleiades_fpga.hw.build import build_rtl
    from small_qonnx import small_qonnx

    tmp = tmp_path_factory.mktemp("mac_cell_net")
    onnx_path = small_qonnx(tmp / "model.onnx")
    return onnx_path, tmp / "ecp5", build_rtl(onnx_path, tmp / "ecp5", part="LFE5U-85F")


def test_generator_picks_cells_for_ecp5_only(ecp5_build, tmp_path):
    from pleiades_fpga.hw.build import build_rtl

    onnx_path, build_dir, manifest = ecp5_build
    mac = [e for e in manifest["layers"] if "MAC_MODE" in e.get("params", {})]
    assert mac and all(e["params"]["MUL_CELL"] == 1 for e in mac)
    assert manifest["multiplier_cell"] == "ecp5" and manifest["rtl_files"][0] == "rtl/MULT18X18D.v"
    assert (build_dir / "rtl" / "MULT18X18D.v").read_text() == MODEL.read_text()
    for part in ("xc7z020", None):
        other = build_rtl(onnx_path, tmp_path / str(part), part=part)
        assert other["multiplier_cell"] == "inferred" and "rtl/MULT18X18D.v" not in other["rtl_files"]
        assert all(e["params"]["MUL_CELL"] == 0 for e in other["layers"] if "MAC_MODE" in e.get("params", {}))


def test_ecp5_network_bit_exact_verilator(ecp5_build):
    """The whole small network with cells, as built for an ECP5 part, against the golden model under back-pressure."""
    from pleiades_fpga.sim.verify import verify_build

    _, build_dir, manifest = ecp5_build
    s = verify_build(build_dir, frames=20, sim="verilator", pause=0.35, seed=3)
    assert s["values_compared"] == 2 * 20 * manifest["output"]["channels"]
    assert s["mismatches"] == 0 and s["passed"], s
