"""Static checks over ALL RTL templates: conventions, Verilator -Wall lint, Yosys synthesis without latches.

Also checks that the checks themselves can fail (a latch and a lint error are reported) and that the
circular buffer of temporal_conv_buffer becomes ECP5 block RAM.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.rtl import TEMPLATES_DIR
from pleiades_fpga.hw.rtl.lint import icarus_elaborate, template_files, template_sources, verilator_lint, yosys_synth
from pleiades_fpga.hw.rtl.rom import rom_verilog
from pleiades_fpga.toolflow.locate import have_simulator

TEMPLATES = [p.stem for p in template_files()]

# extra parameter sets for templates whose structure changes with parameters (generate branches)
EXTRA_LINT = [
    ("requant", {"OUT_SIGNED": 1, "ACC_W": 5, "M_W": 1, "S_W": 1, "OUT_W": 5}),
    ("temporal_conv_buffer", {"DEPTHWISE": 1, "C_IN": 5, "C_OUT": 5, "PE": 3, "SIMD": 1}),
    ("temporal_conv_buffer", {"K": 1}),
    ("temporal_conv_buffer", {"K": 2, "PIXELS": 1}),
    ("temporal_conv_buffer", {"K": 10, "C_IN": 3, "C_OUT": 7, "PE": 3, "SIMD": 3, "IN_SIGNED": 1, "OUT_SIGNED": 1}),
    ("temporal_conv_buffer", {"C_IN": 1, "C_OUT": 1, "PE": 1, "SIMD": 1, "W_W": 2, "IN_W": 1, "OUT_W": 1}),
    ("pointwise_mvu", {"C_IN": 5, "C_OUT": 3, "PE": 3, "SIMD": 5, "IN_SIGNED": 1}),
    ("pointwise_mvu", {"C_IN": 256, "C_OUT": 10, "PE": 2, "SIMD": 16, "ACC_W": 24}),
    ("pointwise_mvu", {"GROUP_IN": 5, "C_IN": 20, "C_OUT": 4, "PE": 3, "SIMD": 2, "IN_SIGNED": 1}),
    ("pointwise_mvu", {"GROUP_IN": 5, "C_IN": 240, "C_OUT": 48, "PE": 1, "SIMD": 5, "IN_W": 16}),
    ("temporal_history_axi", {"K": 2, "BPP": 4, "DATA_W": 8, "C_IN": 3, "PIXELS": 5, "BURST_PIX": 2, "FIFO_DEPTH": 4}),
    ("temporal_history_axi", {"K": 10, "DATA_W": 64, "C_IN": 8, "PIXELS": 1024, "BURST_PIX": 16, "FIFO_DEPTH": 64,
                              "ADDR_W": 40, "BASE_ADDR": "64'h1000"}),
    ("axis_fifo_bram", {"DEPTH": 2, "DATA_W": 1}),
    ("axi_burst_writer", {"PIX_W": 30, "DATA_W": 8, "BPP": 4, "FRAME_PIX": 10, "BURST_PIX": 4, "FIFO_DEPTH": 4}),
    ("axi_burst_writer", {"PIX_W": 8, "DATA_W": 8, "FRAME_PIX": 1, "BURST_PIX": 1, "FIFO_DEPTH": 2, "ID_W": 3}),
    ("axi_stream_fifo", {"PIX_W": 30, "DATA_W": 8, "BPP": 4, "FRAME_PIX": 10, "BURST_PIX": 4, "FIFO_DEPTH": 8,
                         "RING_BURSTS": 3, "BASE_ADDR": "64'hfe0"}),
    ("axi_stream_fifo", {"PIX_W": 8, "DATA_W": 8, "FRAME_PIX": 1, "BURST_PIX": 1, "FIFO_DEPTH": 2, "RING_BURSTS": 1}),
    ("groupnorm_stream", {"EXT_FRAME": 1}),
    ("axi_arbiter", {"M_COUNT": 1}),
    ("axi_arbiter", {"M_COUNT": 3, "S_ID_W": 2, "DATA_W": 64, "ADDR_W": 40}),
    ("axi_arbiter", {"M_COUNT": 5, "DATA_W": 8, "W_PENDING": 8}),
    ("projection_state", {"C_IN": 3, "D": 5, "PE": 2, "SIMD": 2, "IN_SIGNED": 1}),
    ("projection_state", {"C_IN": 1, "D": 1, "PE": 1, "SIMD": 1, "PIXELS": 1, "F": 0}),
    ("projection_state", {"C_IN": 8, "D": 5, "PE": 5, "SIMD": 8, "PIXELS": 64}),
    ("ram_sdp", {"CLEAR": 1, "DEPTH": 1}),
    ("ram_sdp", {"CLEAR": 1, "DEPTH": 37, "DATA_W": 1}),
    ("ram_sdp", {"CLEAR": 1, "DEPTH": 3000, "DATA_W": 16, "OUT_REG": 1, "RW_CHECK": 0, "WR_REG": 1}),
    ("ram_sdp", {"DEPTH": 5, "WR_REG": 1}),
    ("requant_pipe", {"PIPELINED": 0, "OUT_SIGNED": 1, "M_W": 1}),
    ("mac_lane", {"MS": 1, "IN_W": 4, "W_W": 4, "ACC_W": 9, "BIAS_W": 9, "IN_SIGNED": 1}),
    ("mac_lane", {"MS": 19, "ACC_W": 24}),
    ("groupnorm_stream", {"STATS": 1}),
    ("groupnorm_stream", {"H": 3, "W": 2, "C": 8, "G": 4, "PE": 1, "STATS": 1, "IN_W": 8, "IN_SIGNED": 1, "P": 0,
                          "S1_W": 12, "S2_W": 18, "D_W": 22, "ACC_W": 29, "E": "22'd1000", "M_W": 16, "S_W": 5, "B_W": 16,
                          "OUT_W": 8, "OUT_SIGNED": 1, "RELU": 1}),
    ("groupnorm_stream", {"H": 1, "W": 1, "C": 6, "G": 6, "PE": 3, "STATS": 0, "IN_W": 1, "IN_SIGNED": 0, "P": 3,
                          "S1_W": 2, "S2_W": 2, "D_W": 10, "ACC_W": 25, "E": "10'd1000", "M_W": 16, "S_W": 5, "B_W": 16,
                          "OUT_W": 2, "OUT_SIGNED": 0, "RELU": 0}),
    ("groupnorm_stream", {"H": 128, "W": 128, "C": 8, "G": 4, "PE": 8, "STATS": 0, "IN_W": 8, "IN_SIGNED": 0,
                          "P": 16, "S1_W": 24, "S2_W": 31, "D_W": 46, "ACC_W": 57, "E": "46'd1000", "M_W": 16, "S_W": 5,
                          "B_W": 16, "OUT_W": 8, "OUT_SIGNED": 0, "RELU": 1}),
    ("groupnorm_stream", {"H": 4, "W": 4, "C": 4, "G": 1, "PE": 2, "STATS": 1, "IN_W": 3, "IN_SIGNED": 0, "P": 16,
                          "S1_W": 10, "S2_W": 12, "D_W": 18, "ACC_W": 43, "E": "18'd1000", "M_W": 16, "S_W": 5, "B_W": 16,
                          "OUT_W": 5, "OUT_SIGNED": 1, "RELU": 0}),
    ("sign_resize", {"IN_W": 8, "OUT_W": 3}),
    ("sign_resize", {"IN_W": 3, "OUT_W": 8}),
    ("conv3x3_stream", {"LB_SLICED": 1, "DEPTHWISE": 1, "C_IN": 5, "C_OUT": 5, "PE": 2, "STRIDE": 2}),
    ("conv3x3_stream", {"LB_SLICED": 1, "C_IN": 5, "C_OUT": 7, "PE": 3, "SIMD": 2}),
]


WIRING_ONLY = {"zero_extend", "sign_resize"}   # blocks without a single cell

# one illegal parameter set per template and block, and the rule its elaboration check names
ILLEGAL = [
    ("temporal_conv_buffer", {"DEPTHWISE": 1, "C_IN": 4, "C_OUT": 3}, "DEPTHWISE_needs_C_IN_equal_C_OUT_and_SIMD_1"),
    ("pointwise_mvu", {"GROUP_IN": 3, "C_IN": 8, "C_OUT": 4}, "GROUP_IN_needs_K_1_no_DEPTHWISE_and_C_IN_equal_C_OUT"),
    ("conv3x3_stream", {"STRIDE": 3}, "STRIDE_must_be_1_or_2"),
    ("projection_state", {"PE": 6, "D": 5}, "PE_in_1_to_D"),
    ("avgpool_stream", {"ACC_W": 4, "IN_W": 4}, "ACC_W_above_IN_W"),
    ("axis_add", {"A_W": 0}, "A_W_B_W_OUT_W_must_be_at_least_1"),
    ("axis_fifo", {"DEPTH": 6}, "DEPTH_must_be_a_power_of_two_at_least_2"),
    ("temporal_history_axi", {"BPP": 3}, "BPP_must_be_a_power_of_two"),
    ("axi_stream_fifo", {"FIFO_DEPTH": 12}, "FIFO_DEPTH_must_be_a_power_of_two_at_least_2_BURST_PIX"),
    ("beats_to_word", {"BPP": 0}, "DATA_W_and_BPP_must_be_at_least_1"),
    ("axi_burst_writer", {"FIFO_DEPTH": 4, "BURST_PIX": 8}, "FIFO_DEPTH_must_be_a_power_of_two_at_least_2_and"),
    ("groupnorm_stream", {"EXT_FRAME": 1, "STATS": 1}, "EXT_FRAME_must_be_0_or_1_and_1_only_with_STATS_0"),
    ("axis_fifo_bram", {"DEPTH": 6}, "DEPTH_must_be_a_power_of_two_at_least_2"),
    ("axi_arbiter", {"W_PENDING": 3}, "W_PENDING_must_be_a_power_of_two_at_least_2"),
    ("axis_fork", {"DATA_W": 0}, "DATA_W_must_be_at_least_1"),
    ("requant", {"OUT_W": 20, "ACC_W": 8, "M_W": 8}, "OUT_W_at_most_ACC_W_plus_M_W"),
    ("axis_out_queue", {"DATA_W": 0}, "DATA_W_must_be_at_least_1"),
    ("ram_sdp", {"CLEAR": 2}, "CLEAR_must_be_0_or_1"),
    ("ram_sdp", {"WR_REG": 2}, "WR_REG_must_be_0_or_1"),
    ("param_word", {"M_W": 0}, "BIAS_W_M_W_S_W_must_be_at_least_1"),
    ("zero_extend", {"IN_W": 8, "OUT_W": 4}, "OUT_W_must_be_at_least_IN_W"),
    ("requant_pipe", {"PIPELINED": 2}, "PIPELINED_must_be_0_or_1"),
    ("mac_lane", {"ACC_W": 8}, "ACC_W_must_hold_a_product_and_the_bias"),
    ("groupnorm_stream", {"C": 6, "G": 4, "S1_W": 8}, "G_must_divide_C"),
    ("sign_resize", {"OUT_W": 0}, "IN_W_and_OUT_W_must_be_at_least_1"),
]


def test_every_template_has_an_illegal_case():
    assert {name for name, _, _ in ILLEGAL} == set(TEMPLATES)


@pytest.mark.parametrize("tool", ["verilator", "icarus", "yosys"])
@pytest.mark.parametrize("name,params,rule", ILLEGAL, ids=[n for n, _, _ in ILLEGAL])
def test_illegal_parameters_rejected_at_elaboration(name, params, rule, tool):
    """The template's elaboration check fails the tool and names the violated rule (PARAMETER_ERROR_<module>_<rule>)."""
    src = template_sources(name)
    if tool == "yosys":
        with pytest.raises(PleiadesError, match=f"PARAMETER_ERROR_{name}_.*{rule}|PARAMETER_ERROR_.*{rule}"):
            yosys_synth(name, src, params, target="prep")
        return
    if tool == "icarus" and not have_simulator("icarus"):
        pytest.skip("Icarus Verilog (iverilog) is not on PATH; install it (apt-get install iverilog) to run this test")
    rep = verilator_lint(name, src, params) if tool == "verilator" else icarus_elaborate(name, src, params)
    assert not rep.ok, f"{tool} accepted {name} {params}"
    assert any(f"PARAMETER_ERROR_" in m and rule in m for m in rep.messages), "\n".join(rep.messages)


@pytest.mark.parametrize("name", TEMPLATES)
def test_default_parameters_elaborate_in_icarus(name):
    if not have_simulator("icarus"):
        pytest.skip("Icarus Verilog (iverilog) is not on PATH; install it (apt-get install iverilog) to run this test")
    rep = icarus_elaborate(name, template_sources(name))
    assert rep.ok, "\n".join(rep.messages)


def test_templates_present():
    for name in ("requant", "pointwise_mvu", "temporal_conv_buffer"):
        assert name in TEMPLATES


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_conventions(name):
    text = (TEMPLATES_DIR / f"{name}.v").read_text()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    assert any(ln.startswith("`timescale 1ns/1ps") for ln in lines[:3]), f"{name}.v: `timescale 1ns/1ps missing at the top"
    assert "`default_nettype none" in lines[:3], f"{name}.v: `default_nettype none missing at the top"
    assert lines[-1] == "`default_nettype wire", f"{name}.v: must end with `default_nettype wire"
    assert re.search(rf"^\s*module\s+{re.escape(name)}\b", text, re.M), f"{name}.v must define module {name}"


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_verilator_lint(name):
    rep = verilator_lint(name, template_sources(name))
    assert rep.ok, f"{name}: verilator -Wall reported:\n" + "\n".join(rep.messages)


@pytest.mark.parametrize("name,params", EXTRA_LINT, ids=[f"{n}-{i}" for i, (n, _) in enumerate(EXTRA_LINT)])
def test_template_lint_parameter_sets(name, params):
    rep = verilator_lint(name, template_sources(name), params)
    assert rep.ok, f"{name} {params}: verilator -Wall reported:\n" + "\n".join(rep.messages)


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_yosys_no_latches(name):
    # latches are inferred by Yosys' proc pass; `prep` runs it without the (slow) technology mapping
    rep = yosys_synth(name, template_sources(name), target="prep")
    assert rep.latches == 0, f"{name}: yosys inferred {rep.latches} latches"
    assert (rep.cells.get("cells", 0) > 0) == (name not in WIRING_ONLY), rep.cells


@pytest.mark.parametrize("name", ["requant", "temporal_conv_buffer", "pointwise_mvu"])
def test_own_templates_full_synth_no_latches(name):
    rep = yosys_synth(name, template_sources(name), target="generic")
    assert rep.latches == 0, f"{name}: yosys synth inferred {rep.latches} latches"
    assert rep.cells.get("cells", 0) > 0


def test_temporal_buffer_infers_ecp5_block_ram():
    params = dict(C_IN=8, C_OUT=2, IN_W=8, PIXELS=256, K=10, PE=1, SIMD=1)
    rep = yosys_synth("temporal_conv_buffer", template_sources("temporal_conv_buffer"), params, target="ecp5")
    assert rep.latches == 0
    # history = 9 frames x 256 pixels x 64 bits = 147,456 bits (8 DP16KD of 18,432 bits): block RAM, not FFs
    assert rep.cells.get("DP16KD", 0) >= 8, f"no block RAM inferred: {rep.cells}"
    assert rep.cells.get("TRELLIS_FF", 0) < 2000, rep.cells


def test_ram_sdp_rw_check_0_drops_the_collision_emulation():
    # RW_CHECK = 1: Yosys delays the write and compares addresses to give the old word on a read-during-write (a
    # register per data bit and a multiplexer after the block RAM); RW_CHECK = 0 (no_rw_check) leaves neither
    params = dict(DATA_W=72, DEPTH=1024, CLEAR=0, OUT_REG=1)
    kept = yosys_synth("ram_sdp", template_sources("ram_sdp"), {**params, "RW_CHECK": 1}, target="ecp5")
    dropped = yosys_synth("ram_sdp", template_sources("ram_sdp"), {**params, "RW_CHECK": 0}, target="ecp5")
    assert kept.cells.get("DP16KD", 0) == dropped.cells.get("DP16KD", 0) >= 4, (kept.cells, dropped.cells)
    assert dropped.cells.get("TRELLIS_FF", 0) + 72 <= kept.cells.get("TRELLIS_FF", 0), (kept.cells, dropped.cells)
    assert dropped.cells.get("LUT4", 0) < kept.cells.get("LUT4", 0), (kept.cells, dropped.cells)


@pytest.mark.parametrize("stages", [1, 2])
@pytest.mark.parametrize("style", ["case", "array"])
def test_rom_modules_lint_clean(tmp_path, style, stages):
    rng = np.random.default_rng(0)
    for depth, width in [(1, 3), (5, 7), (8, 12), (37, 1)]:
        words = rng.integers(0, 2**width, size=depth)
        path = tmp_path / f"rom_{style}_{depth}_{width}.v"
        path.write_text(rom_verilog(f"rom_{style}_{depth}_{width}", words, width, style=style, read_stages=stages))
        rep = verilator_lint(path.stem, [path])
        assert rep.ok, f"{path.name}:\n" + "\n".join(rep.messages)


def test_rom_read_stages_checked():
    with pytest.raises(PleiadesError, match="read_stages must be 1 or 2"):
        rom_verilog("r", [1, 2], 2, read_stages=3)


def test_checks_can_fail(tmp_path):
    latchy = tmp_path / "latchy.v"
    latchy.write_text("module latchy (input wire en, input wire d, output reg q);\n"
                      "    always @(*) if (en) q = d;\nendmodule\n")
    assert yosys_synth("latchy", [latchy], target="prep").latches == 1
    assert yosys_synth("latchy", [latchy], target="generic").latches == 1
    narrow = tmp_path / "narrow.v"
    narrow.write_text("`default_nettype none\nmodule narrow (input wire [7:0] a, output wire [3:0] y);\n"
                      "    assign y = a;\nendmodule\n`default_nettype wire\n")
    rep = verilator_lint("narrow", [narrow])
    assert not rep.ok and any("WIDTH" in m for m in rep.messages)


def test_template_sources_resolves_dependencies():
    names = [p.stem for p in template_sources("pointwise_mvu")]
    assert names[-1] == "pointwise_mvu"
    assert set(names) == {"requant_pipe", "mac_lane", "temporal_conv_buffer", "pointwise_mvu", "axis_out_queue",
                          "param_word", "ram_sdp", "zero_extend"}
    for block in ("requant_pipe", "mac_lane", "axis_out_queue", "param_word", "ram_sdp", "zero_extend"):
        assert names.index(block) < names.index("temporal_conv_buffer")


@pytest.mark.parametrize("stats", [0, 1])
def test_groupnorm_full_synth_no_latches(stats):
    rep = yosys_synth("groupnorm_stream", template_sources("groupnorm_stream"), {"STATS": stats}, target="generic")
    assert rep.latches == 0, f"groupnorm_stream STATS={stats}: yosys synth inferred {rep.latches} latches"
    assert rep.cells.get("cells", 0) > 0
