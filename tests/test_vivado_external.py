"""PYNQ-Z2 with external memory (docs/EXTERNAL_MEMORY.md "PYNQ-Z2"): the board top and the Vivado script that
connects the network's AXI4 master to the Zynq PS's S_AXI_HP0. Vivado is not run here: the top is linted against
the ports Vivado's block-design wrapper has, and the Tcl runs in tclsh with Vivado's commands stubbed."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.rtl.axi_arbiter import axi_width
from pleiades_fpga.hw.rtl.kinds.temporal_conv_external import AXI_SIGNALS
from pleiades_fpga.hw.rtl.lint import verilator_lint
from pleiades_fpga.hw.rtl.verilog import Port, layer_ports, module
from pleiades_fpga.toolflow.boards.vivado import write_vivado_project

# the ports of Vivado's wrapper of a block design with the PS's DDR and FIXED_IO interfaces made external
# (processing_system7 on the PYNQ-Z2: 16-bit DDR3 still has the 32-bit DQ bus pins)
VIVADO_PS_PINS = {"DDR_addr": 15, "DDR_ba": 3, "DDR_cas_n": 1, "DDR_ck_n": 1, "DDR_ck_p": 1, "DDR_cke": 1,
                  "DDR_cs_n": 1, "DDR_dm": 4, "DDR_dq": 32, "DDR_dqs_n": 4, "DDR_dqs_p": 4, "DDR_odt": 1,
                  "DDR_ras_n": 1, "DDR_reset_n": 1, "DDR_we_n": 1, "FIXED_IO_ddr_vrn": 1, "FIXED_IO_ddr_vrp": 1,
                  "FIXED_IO_mio": 54, "FIXED_IO_ps_clk": 1, "FIXED_IO_ps_porb": 1, "FIXED_IO_ps_srstb": 1}


def external_build(tmp_path: Path, *, data_w: int = 32, id_w: int = 2, region: int = 8192) -> tuple[dict, Path]:
    """A build directory whose network (a port-only stand-in) has the AXI4 master of the manifest schema."""
    build = tmp_path / "ext"
    (build / "rtl").mkdir(parents=True)
    signals = [{"name": f"m_axi_{sig}", "direction": "output" if out else "input",
                "bits": axi_width(key, id_w=id_w, addr_w=32, data_w=data_w)} for sig, key, out in AXI_SIGNALS]
    ports = layer_ports(2 * 4, 3 * 8) + [Port(s["name"], s["direction"], s["bits"]) for s in signals]
    ports.append(Port("axi_error", "output"))
    (build / "rtl" / "pleiades_top.v").write_text(module("pleiades_top", ports, [],
                                                         parameters={"EXT_BASE_ADDR": "64'h0"}))
    manifest = {"name": "ext", "top": "pleiades_top", "rtl_files": ["rtl/pleiades_top.v"], "clock_mhz_target": 100.0,
                "input": {"channels": 2, "height": 8, "width": 8, "bits": 4, "signed": False, "bin_us": 10000},
                "output": {"channels": 3, "bits": 8, "signed": True, "scale": 1.0},
                "external_memory": {"protocol": "AXI4", "port": "m_axi", "error_port": "axi_error",
                                    "base_addr_parameter": "EXT_BASE_ADDR", "base_addr_alignment": 4096,
                                    "data_bits": data_w, "addr_bits": 32, "id_bits": id_w, "master_id_bits": 1,
                                    "arbiter": "axi_arbiter", "signals": signals, "region_bytes": region}}
    (build / "manifest.json").write_text(json.dumps(manifest))
    return manifest, build


def ps_wrapper_stub(path: Path, data_w: int, id_w: int) -> Path:
    """Vivado's block-design wrapper ports: the PS pins, S_AXI (AXI4 slave, 32-bit addresses), fclk, resets."""
    ports = [Port(n, "inout", w) for n, w in VIVADO_PS_PINS.items()]
    for sig, key, out in AXI_SIGNALS:
        ports.append(Port(f"S_AXI_{sig}", "input" if out else "output", axi_width(key, id_w=id_w, addr_w=32,
                                                                                   data_w=data_w)))
    ports += [Port("fclk", "output"), Port("fclk_resetn", "output"), Port("aresetn", "input")]
    path.write_text(module("pleiades_ps_wrapper", ports, []))
    return path


def test_ps_top_connects_every_port_of_network_and_block_design(tmp_path):
    manifest, build = external_build(tmp_path)
    write_vivado_project(manifest, build, clock_mhz=100.0)
    board = build / "board" / "pynq-z2"
    top = board / "pynq_z2_top.v"
    srcs = [build / "rtl" / "pleiades_top.v", board / "uart_stream_bridge.v", top,
            ps_wrapper_stub(tmp_path / "pleiades_ps_wrapper.v", 32, 2)]
    rep = verilator_lint("pynq_z2_top", srcs)
    own = [m for m in rep.messages if "pynq_z2_top.v" in m and "PROCASSINIT" not in m]   # init values: FPGA style
    assert not own, "\n".join(own)
    assert not [m for m in rep.messages if re.search(r"PIN(MISSING|NOTFOUND)|WIDTH", m) and "uart_stream" not in m]
    text = top.read_text()
    # regions at PS DDR 0x1E000000 + offset: 7 upper bits 0b0001111, the network's 25 low bits
    assert ".S_AXI_awaddr({7'hf, axi_awaddr[24:0]})" in text and ".S_AXI_araddr({7'hf, axi_araddr[24:0]})" in text
    assert ".fclk(clk)" in text and ".aresetn(!rst)" in text and ".axi_error(net_axi_error)" in text
    assert re.search(r"inout\s+wire \[53:0\] FIXED_IO_mio", text)
    xdc = (board / "pynq_z2.xdc").read_text()
    assert "get_ports { sysclk }" not in xdc and "get_ports { uart_rx }" in xdc


def test_onchip_flow_keeps_the_sysclk_constraint(tmp_path):
    build = tmp_path / "mac_stream"
    shutil.copytree(Path(__file__).parent / "data" / "mac_stream", build)
    tcl = write_vivado_project(json.loads((build / "manifest.json").read_text()), build, clock_mhz=100.0).read_text()
    xdc = re.search(r"set pl_xdc \[list (.*)\]", tcl).group(1)
    assert "pynq_z2_sysclk.xdc" in xdc and "pynq_z2.xdc" in xdc and "pl_ps_block" not in tcl.split("\n\n")[0]
    assert "create_clock" in (build / "board" / "pynq-z2" / "pynq_z2_sysclk.xdc").read_text()


STUBS = r"""
set ::calls {}
proc rec {args} { lappend ::calls [join $args] }
foreach cmd {create_project add_files update_compile_order wait_on_run open_run report_utilization
             report_timing_summary report_power apply_bd_automation connect_bd_intf_net connect_bd_net
             assign_bd_address validate_bd_design save_bd_design generate_target create_bd_design} {
    proc $cmd {args} "rec $cmd {*}\$args"
}
proc set_property {args} { rec set_property {*}$args }
proc get_filesets {n} { return $n }
proc current_project {} { return p }
proc get_runs {n} { return $n }
proc get_board_parts {args} { return $::board_parts }
proc create_bd_cell {args} { rec create_bd_cell {*}$args; return [lindex $args end] }
proc create_bd_intf_port {args} { rec create_bd_intf_port {*}$args; return [lindex $args end] }
proc create_bd_port {args} { rec create_bd_port {*}$args; return [lindex $args end] }
foreach cmd {get_bd_pins get_bd_intf_pins get_bd_ports get_bd_addr_spaces get_bd_addr_segs get_files} {
    proc $cmd {args} { return [lindex $args end] }
}
proc make_wrapper {args} { rec make_wrapper {*}$args; return /gen/pleiades_ps_wrapper.v }
proc launch_runs {args} {
    rec launch_runs {*}$args
    if {[lindex $args 0] eq "impl_1"} {
        set d [file join $::pl_out project pleiades.runs impl_1]
        file mkdir $d
        set f [open [file join $d top.bit] w]; puts $f bit; close $f
    }
}
proc get_property {p obj} {
    if {$p eq "CONFIG.PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ"} { return 100.000000 }
    return "100%"
}
set ::board_parts [lindex $argv 1]
source [lindex $argv 0]
foreach c $::calls { puts $c }
"""


def run_tcl(tmp_path: Path, tcl: Path, board_parts: str) -> subprocess.CompletedProcess:
    stubs = tmp_path / "stubs.tcl"
    stubs.write_text(STUBS)
    return subprocess.run(["tclsh", str(stubs), str(tcl), board_parts], capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(shutil.which("tclsh") is None, reason="tclsh not installed (apt-get install tcl)")
def test_vivado_script_builds_the_ps_block_design(tmp_path):
    manifest, build = external_build(tmp_path, data_w=16, id_w=3)
    tcl = write_vivado_project(manifest, build, clock_mhz=125.0)
    out = run_tcl(tmp_path, tcl, "tul.com.tw:pynq-z2:part0:1.0")
    assert out.returncode == 0, out.stderr
    calls = out.stdout.splitlines()
    text = "\n".join(calls)
    assert "set_property board_part tul.com.tw:pynq-z2:part0:1.0 p" in calls
    assert "create_bd_design pleiades_ps" in calls
    assert any(c.startswith("create_bd_cell -type ip -vlnv xilinx.com:ip:processing_system7") for c in calls)
    assert re.search(r"CONFIG.PCW_USE_S_AXI_HP0 1 .*CONFIG.PCW_S_AXI_HP0_DATA_WIDTH 64", text)
    assert re.search(r"CONFIG.PCW_USE_M_AXI_GP0 0", text) and re.search(r"PCW_FPGA0_PERIPHERAL_FREQMHZ 125\b", text)
    assert any(c.startswith("create_bd_cell -type ip -vlnv xilinx.com:ip:smartconnect") for c in calls)
    s_axi = next(c for c in calls if "CONFIG.PROTOCOL AXI4" in c)
    assert "CONFIG.DATA_WIDTH 16" in s_axi and "CONFIG.ID_WIDTH 3" in s_axi and "CONFIG.FREQ_HZ 100000000" in s_axi
    assert "connect_bd_intf_net axi_smc/M00_AXI ps7/S_AXI_HP0" in calls
    assert "connect_bd_intf_net S_AXI axi_smc/S00_AXI" in calls
    assert "connect_bd_net ps7/FCLK_CLK0 fclk axi_smc/aclk ps7/S_AXI_HP0_ACLK" in calls
    assert "connect_bd_net aresetn axi_smc/aresetn" in calls
    assert ("assign_bd_address -target_address_space S_AXI ps7/S_AXI_HP0/HP0_DDR_LOWOCM -offset 0x00000000 "
            "-range 512M") in calls
    assert "add_files -norecurse -fileset sources_1 /gen/pleiades_ps_wrapper.v" in calls
    order = [i for i, c in enumerate(calls) if c.startswith(("make_wrapper", "set_property top pynq_z2_top",
                                                               "launch_runs synth_1"))]
    assert len(order) == 3 and order == sorted(order)
    assert (build / "board" / "pynq-z2" / "vivado" / "pynq_z2_top.bit").exists()
    assert "set pl_ddr_base 0x1e000000" in tcl.read_text()


@pytest.mark.skipif(shutil.which("tclsh") is None, reason="tclsh not installed (apt-get install tcl)")
def test_vivado_script_stops_without_the_board_files(tmp_path):
    manifest, build = external_build(tmp_path)
    out = run_tcl(tmp_path, write_vivado_project(manifest, build), "")
    assert out.returncode != 0 and "board files" in out.stderr and "pynq-z2" in out.stderr


@pytest.mark.parametrize("kwargs,build_kw,match", [
    ({}, {"region": 40 << 20}, "more than the reserved DDR window"),
    ({}, {"data_w": 128}, "8..64-bit"),
    ({"ddr_base": 0x1F00_0000}, {}, "aligned to its size"),
    ({"ddr_window": 3 << 20}, {}, "power of two"),
    ({"clock_mhz": 300.0}, {}, "10 .. 250 MHz"),
])
def test_ps_path_refuses_what_it_cannot_serve(tmp_path, kwargs, build_kw, match):
    manifest, build = external_build(tmp_path, **build_kw)
    with pytest.raises(PleiadesError, match=match):
        write_vivado_project(manifest, build, **kwargs)


@pytest.mark.slow
def test_real_build_with_two_external_layers_fits_the_ps_top(tmp_path):
    """The small net with both temporal layers external (two masters through axi_arbiter): the generated network,
    the board top and the block-design wrapper's ports lint together."""
    from small_qonnx import small_qonnx

    from pleiades_fpga.hw.build import build_rtl
    from pleiades_fpga.hw.rtl.folding import default_folding, folding_to_json
    from pleiades_fpga.ir.reader import read_qonnx

    onnx_path = small_qonnx(tmp_path / "model.onnx")
    graph = read_qonnx(onnx_path)
    cfg = folding_to_json(default_folding(graph))
    for layer in graph.layers:
        if layer.kind == "conv" and layer.params.temporal:
            cfg["layers"][layer.name]["memory"] = "external"
    (tmp_path / "folding.json").write_text(json.dumps(cfg))
    build = tmp_path / "ext"
    manifest = build_rtl(onnx_path, build, folding=tmp_path / "folding.json")
    ext = manifest["external_memory"]
    assert ext["arbiter"] == "axi_arbiter" and len(ext["masters"]) == 2
    write_vivado_project(manifest, build, clock_mhz=100.0)
    board = build / "board" / "pynq-z2"
    srcs = [build / f for f in manifest["rtl_files"]] + [
        board / "uart_stream_bridge.v", board / "pynq_z2_top.v",
        ps_wrapper_stub(tmp_path / "pleiades_ps_wrapper.v", ext["data_bits"], ext["id_bits"])]
    rep = verilator_lint("pynq_z2_top", srcs)
    own = [m for m in rep.messages if "pynq_z2_top.v" in m and "PROCASSINIT" not in m]
    assert not own, "\n".join(own)
    assert not [m for m in rep.messages if re.search(r"PIN(MISSING|NOTFOUND)", m)]
