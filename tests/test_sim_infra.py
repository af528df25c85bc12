"""Simulation infrastructure: pixel packing, pause patterns, tool discovery, runner cache and errors,
ROM packing layouts and the analytic cycle model (hand-computed cases)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.rtl.lint import template_sources
from pleiades_fpga.hw.rtl.cycles import mac_cycles_per_pixel, mvu_cycles_per_frame, temporal_conv_cycles_per_frame
from pleiades_fpga.hw.rtl.rom import (addr_width, channel_param_words, mac_weight_words, pack_lanes, rom_verilog,
                                      unpack_lanes)
from pleiades_fpga.sim.axis import pack_frame, pack_pixel, pause_pattern, unpack_frame, unpack_pixel
from pleiades_fpga.sim.runner import SimulationError, build_key, run_testbench
from pleiades_fpga.toolflow.locate import available_simulators, tool_env

needs_icarus = pytest.mark.skipif(shutil.which("iverilog") is None,
                                  reason="Icarus Verilog (iverilog) is not on PATH; install it (apt-get install iverilog)")


# ---------------------------------------------------------------- axis
def test_pack_pixel_hand_cases():
    assert pack_pixel([1, 2, 3], 4) == 0x321
    assert pack_pixel([-1, 1], 3, signed=True) == 0b001_111
    assert unpack_pixel(0b001_111, 2, 3, signed=True).tolist() == [-1, 1]
    assert unpack_pixel(0b001_111, 2, 3, signed=False).tolist() == [7, 1]
    with pytest.raises(PleiadesError):
        pack_pixel([16], 4)
    with pytest.raises(PleiadesError):
        pack_pixel([-5], 3, signed=True)


def test_pack_frame_raster_order_and_roundtrip():
    frame = np.arange(6).reshape(1, 2, 3)            # C=1, H=2, W=3
    assert pack_frame(frame, 3) == [0, 1, 2, 3, 4, 5]  # x fastest, then y
    rng = np.random.default_rng(0)
    f = rng.integers(-8, 8, size=(3, 4, 5))
    assert np.array_equal(unpack_frame(pack_frame(f, 4, True), 3, 4, 5, 4, True), f)


def test_pause_pattern():
    a = [v for _, v in zip(range(5000), pause_pattern(3, 0.3))]
    b = [v for _, v in zip(range(5000), pause_pattern(3, 0.3))]
    assert a == b
    assert 0.25 < np.mean(a) < 0.35
    assert not any(v for _, v in zip(range(1000), pause_pattern(1, 0.0)))
    with pytest.raises(PleiadesError):
        next(pause_pattern(1, 1.0))


# ---------------------------------------------------------------- tools
def test_tools_find_verilator():
    assert "verilator" in available_simulators()
    env = tool_env("verilator")
    assert env["PATH"].split(":")[0].endswith("verilator/bin")
    from pathlib import Path

    assert (Path(env["VERILATOR_ROOT"]) / "bin" / "verilator").exists()
    with pytest.raises(PleiadesError):
        tool_env("modelsim")


# ---------------------------------------------------------------- runner
REQ_PARAMS = {"ACC_W": 18, "M_W": 8, "S_W": 5, "OUT_W": 7, "OUT_SIGNED": 1}  # same build as test_rtl_requant


def test_build_key_depends_on_parameters_and_content(tmp_path):
    src = tmp_path / "a.v"
    src.write_text("module a; endmodule\n")
    k1 = build_key("verilator", "a", [src], {"X": 1}, {})
    assert k1 != build_key("verilator", "a", [src], {"X": 2}, {})
    src.write_text("module a; wire w; endmodule\n")
    assert k1 != build_key("verilator", "a", [src], {"X": 1}, {})


@needs_icarus
def test_runner_roundtrip_and_cache_icarus(tmp_path):
    vec = {"acc": [5, 7, -6, 1000], "m": [1, 1, 1, 1], "s": [1, 1, 1, 0]}
    runs = [run_testbench("requant", template_sources("requant"), "pleiades_fpga.sim.tb.tb_requant", sim="icarus",
                          parameters=REQ_PARAMS, vectors=vec, cache_dir=tmp_path) for _ in range(2)]
    assert not runs[0].cached_build and runs[1].cached_build
    for run in runs:
        assert run.passed and run.tests == 1
        # 2.5 -> 2, 3.5 -> 4, -3, 1000 clamps to 63; signed 7-bit patterns
        assert run.results["y"] == [2, 4, (-3) & 0x7F, 63]


def test_runner_verilator_cached_rebuild():
    vec = {"acc": [-7], "m": [3], "s": [2]}   # -21/4 = -5.25 -> -5
    for _ in range(2):
        run = run_testbench("requant", template_sources("requant"), "pleiades_fpga.sim.tb.tb_requant", sim="verilator",
                            parameters=REQ_PARAMS, vectors=vec)
        assert run.results["y"] == [(-5) & 0x7F]
    assert run.cached_build


@needs_icarus
def test_runner_reports_failing_testbench(tmp_path):
    with pytest.raises(SimulationError, match="failed"):
        run_testbench("requant", template_sources("requant"), "pleiades_fpga.sim.tb.tb_requant", sim="icarus",
                      parameters=REQ_PARAMS, vectors={"m": [1]}, cache_dir=tmp_path)  # no "acc": the test raises


def test_runner_missing_source(tmp_path):
    with pytest.raises(PleiadesError, match="does not exist"):
        run_testbench("x", [tmp_path / "nope.v"], "pleiades_fpga.sim.tb.tb_requant", sim="verilator")


# ---------------------------------------------------------------- ROM packing and layouts
def test_pack_lanes_hand_case():
    assert pack_lanes([[1, -1], [0, 3]], 3) == [0b111_001, 0b011_000]
    assert unpack_lanes(0b111_001, 2, 3) == [1, -1]
    with pytest.raises(PleiadesError):
        pack_lanes([[4]], 3)
    assert addr_width(1) == 1 and addr_width(2) == 1 and addr_width(3) == 2 and addr_width(1024) == 10
    with pytest.raises(PleiadesError):
        rom_verilog("r", [8], 3, signed=True)


def test_mac_weight_layout_full():
    rng = np.random.default_rng(1)
    co, ci, k, pe, simd = 3, 5, 2, 2, 2
    w = rng.integers(-4, 4, size=(co, ci, k))
    lanes = mac_weight_words(w, pe, simd)
    no, ni = 2, 3
    assert lanes.shape == (no * k * ni, pe * simd)
    for o in range(no):
        for kk in range(k):
            for i in range(ni):
                for j in range(pe):
                    for s in range(simd):
                        oc, ic = o * pe + j, i * simd + s
                        exp = w[oc, ic, kk] if oc < co and ic < ci else 0
                        assert lanes[(o * k + kk) * ni + i, j * simd + s] == exp


def test_mac_weight_layout_depthwise_and_params():
    w = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]])      # (C=3, K=3)
    lanes = mac_weight_words(w, 2, 1, depthwise=True)
    assert lanes.tolist() == [[1, 4], [2, 5], [3, 6], [7, 0], [8, 0], [9, 0]]
    words = channel_param_words([-1, 2, 3], [5, 6, 7], [1, 2, 3], 2, bias_w=4, m_w=3, s_w=2)
    f = lambda b, m, s: (b & 0xF) | (m << 4) | (s << 7)          # noqa: E731  field {s, m, bias}
    assert words == [f(-1, 5, 1) | (f(2, 6, 2) << 9), f(3, 7, 3)]


def test_cycle_model_hand_cases():
    assert mac_cycles_per_pixel(3, 4, 3, 2, 2) == 2 * 3 * 2
    assert mac_cycles_per_pixel(5, 5, 5, 2, 1, depthwise=True) == 3 * 5
    assert temporal_conv_cycles_per_frame(2, 3, 10, 16, 3, 1) == 16 * 1 * 10 * 2
    assert mvu_cycles_per_frame(256, 10, 1, 2, 16) == 5 * 16
    with pytest.raises(PleiadesError):
        mac_cycles_per_pixel(4, 2, 1, 4, 1)          # PE > C_out
    with pytest.raises(PleiadesError):
        mac_cycles_per_pixel(4, 5, 3, 1, 1, depthwise=True)
