"""Board flows: ULX3S 85F bitstream (Yosys + nextpnr-ecp5 + ecppack) and the PYNQ-Z2 Vivado script."""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pleiades_fpga.artifacts import design_hash
from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.toolflow.boards.vivado import write_vivado_project
from pleiades_fpga.toolflow.boards.wrapper import StreamPorts, pynq_z2_top_verilog, ulx3s_top_verilog, write_board
from pleiades_fpga.report.flow import run_report
from pleiades_fpga.toolflow.pnr import slow_endpoints

DATA = Path(__file__).parent / "data" / "mac_stream"


def test_ulx3s_bitstream_from_build_dir(tmp_path):
    build = tmp_path / "mac_stream"
    shutil.copytree(DATA, build)
    rep = run_report(build, "ulx3s-85f", bitstream=True, progress=False, html=False)
    bit = Path(rep["pnr"]["bitstream"])
    assert bit.exists() and bit.suffix == ".bit"
    data = bit.read_bytes()
    assert len(data) > 10_000 and b"\xbd\xb3" in data[:4096]        # ECP5 preamble
    assert rep["fmax_source"] == "place-and-route" and rep["fmax_mhz"] > 25.0
    assert rep["frames_per_second"] == pytest.approx(rep["fmax_mhz"] * 1e6 / 256)
    assert rep["realtime"] is True
    timing = rep["pnr"]["timing"]          # met at 25 MHz: the endpoints within 5 % of the achieved period
    assert timing["endpoints_total"] > 100 and timing["groups"]
    assert timing["worst_ns"] == pytest.approx(1000 / rep["fmax_mhz"], rel=0.02)
    assert timing["threshold_ns"] == pytest.approx(0.95 * 1000 / rep["fmax_mhz"], rel=1e-3)
    assert all(g["worst_ns"] > timing["threshold_ns"] for g in timing["groups"])
    assert "detailed_net_timings" not in json.loads(Path(rep["pnr"]["report_json"]).read_text())
    placed = rep["pnr"]["utilization"]
    assert placed["MULT18X18D"]["used"] == 16 and placed["MULT18X18D"]["available"] == 156
    assert placed["TRELLIS_COMB"]["available"] == 83640 and placed["DP16KD"]["available"] == 208
    assert rep["synth"]["utilization"]["dsp"] == 16                 # the network's own module
    # the circular buffer's read data go to the multipliers, not into one register each: no output register
    outreg = rep["synth"]["bram_outreg"]
    assert outreg == {"ports": 0, "flip_flops": 0, "left": {"data used by logic other than one flip-flop": 1}}
    assert outreg == json.loads((build / "synth" / "lfe5u-85f" / "bram_outreg.json").read_text())
    # --reuse reads the same results back without running the tools
    again = run_report(build, "ulx3s-85f", reuse=True, progress=False)
    page = (build / "report.html").read_text()
    assert "<h2>Timing (placed and routed: nextpnr)</h2>" in page
    assert f"{timing['endpoints_over']:,} of {timing['endpoints_total']:,} clocked endpoints" in page
    assert ("0 read ports use their output register, taking 0 fabric flip-flops into the block RAMs" in page
            and "1 left with the latch: data used by logic other than one flip-flop" in page)
    for key in ("resources", "fmax_mhz", "frames_per_second", "realtime", "estimate", "board_clock_mhz"):
        assert again[key] == rep[key], key
    assert again["pnr"]["bitstream"] == rep["pnr"]["bitstream"]
    assert json.loads((build / "report.json").read_text())["design_hash"] == design_hash(build)
    # results of another design (one RTL file changed, timestamps untouched) are refused, naming what to do
    rtl = build / "rtl" / "mac_stream.v"
    stat = os.stat(rtl)
    rtl.write_text(rtl.read_text() + "\n// edited\n")
    os.utime(rtl, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(PleiadesError, match="belong to another design.*--synth or --pnr again"):
        run_report(build, "ulx3s-85f", reuse=True, progress=False, html=False)


def test_ulx3s_pnr_seeds_keep_the_best(tmp_path):
    """--pnr-seeds 2: both seeds placed and routed, the highest fmax kept (its files in synth/<part>), both reported."""
    build = tmp_path / "mac_stream"
    shutil.copytree(DATA, build)
    rep = run_report(build, "ulx3s-85f", pnr=True, pnr_seeds=2, progress=False)
    seeds = rep["pnr"]["seeds"]
    by_seed = seeds["fmax_by_seed"]
    assert set(by_seed) == {"1", "2"} and all(f > 25.0 for f in by_seed.values())
    assert by_seed[str(seeds["chosen"])] == max(by_seed.values()) == rep["fmax_mhz"]
    synth = build / "synth" / "lfe5u-85f"
    assert not list(synth.glob("seed_*"))
    kept = json.loads((synth / "nextpnr_report.json").read_text())
    assert min(float(v["achieved"]) for v in kept["fmax"].values()) == rep["fmax_mhz"]   # the chosen run's files
    page = (build / "report.html").read_text()
    assert "the best of 2 nextpnr seeds" in page


def test_slow_endpoints_group_every_failing_path():
    def net(driver, *eps):
        return {"driver": driver, "endpoints": [{"cell": c, "port": "DI", "delay": [d - 1, d],
                                                 "event": "posedge $glbnet$clk"} for c, d in eps]}
    report = {"detailed_net_timings": [
        net("u_net.u_L2_blocks_1_temporal.u_wrom.data_DP16KD", ("u_net.u_L2_blocks_1_temporal.u_layer.wl_TRELLIS_FF_Q", 10.8),
            ("u_net.u_L2_blocks_1_temporal.u_layer.wl_TRELLIS_FF_Q_1", 10.2)),
        net("u_net.u_L3_blocks_1_spatial.u_layer.u_inq.x_LUT4_Z", ("u_net.u_L3_blocks_1_spatial.u_layer.u_inq.empty_TRELLIS_FF_Q", 10.5),
            ("u_net.u_L3_blocks_1_spatial.u_layer.u_inq.full_TRELLIS_FF_Q", 9.9)),
        {"driver": "btn$tr_io", "endpoints": [{"cell": "btn_sync", "port": "M", "delay": [20, 20], "event": "<async>"}]},
        net("uart_tx_LUT4_Z", ("u_bridge.tx_TRELLIS_FF_Q", 10.1)),
    ]}
    t = slow_endpoints(report, 10.0, depth=3)
    assert (t["endpoints_total"], t["endpoints_over"], t["worst_ns"]) == (5, 4, 10.8)   # the async input is not clocked
    assert [(g["where"], g["layer"], g["endpoints"], g["worst_ns"]) for g in t["groups"]] == [
        ("u_net.u_L2_blocks_1_temporal.u_layer", "blocks_1_temporal", 2, 10.8),
        ("u_net.u_L3_blocks_1_spatial.u_layer", "blocks_1_spatial", 1, 10.5),
        ("u_bridge.tx", None, 1, 10.1)]
    with pytest.raises(PleiadesError, match="detailed_net_timings.*--detailed-timing-report"):
        slow_endpoints({"fmax": {}}, 10.0)


def test_wrapper_ports_follow_manifest():
    m = json.loads((DATA / "manifest.json").read_text())
    ports = StreamPorts.from_manifest(m)
    assert (ports.top, ports.in_width, ports.out_width, ports.frame_pixels) == ("mac_stream_top", 16, 64, 256)
    text = ulx3s_top_verilog(ports)
    assert "mac_stream_top u_net" in text and ".FRAME_PIXELS(256)" in text and ".CLK_HZ(25000000)" in text
    assert "MMCME2_BASE" in pynq_z2_top_verilog(ports, 100.0)


@pytest.mark.parametrize("asked", [100.0, 87.3])
def test_ulx3s_pll_makes_the_clock_it_reports(tmp_path, asked):
    """A clock other than the 25 MHz oscillator: ulx3s_top runs the network from an EHXPLLL whose dividers make
    the clock the wrapper reports (UART timing and nextpnr's constraint use it)."""
    info = write_board("ulx3s-85f", json.loads((DATA / "manifest.json").read_text()), tmp_path, clock_mhz=asked)
    pll = (tmp_path / "pleiades_pll.v").read_text()
    div = {k: int(re.search(rf"\.{k}\((\d+)\)", pll).group(1)) for k in ("CLKI_DIV", "CLKFB_DIV", "CLKOP_DIV")}
    assert "EHXPLLL" in pll and 'FEEDBK_PATH("CLKOP")' in pll
    made = 25.0 * div["CLKFB_DIV"] / div["CLKI_DIV"]                 # CLKOP feedback: f_out = f_in * FB / I
    assert 400.0 <= made * div["CLKOP_DIV"] <= 800.0                 # VCO range
    assert info["clock_mhz"] == pytest.approx(made) and abs(made - asked) / asked < 0.01
    top = (tmp_path / "ulx3s_top.v").read_text()
    assert "pleiades_pll u_pll (.clkin(clk_25mhz), .clkout0(clk), .locked(locked));" in top
    assert f".CLK_HZ({round(made * 1e6)})" in top


def test_ulx3s_clock_outside_the_pll_range_is_refused(tmp_path):
    with pytest.raises(PleiadesError, match="outside what the ECP5 PLL makes.*10 .. 400 MHz"):
        write_board("ulx3s-85f", json.loads((DATA / "manifest.json").read_text()), tmp_path, clock_mhz=1000.0)


@pytest.mark.skipif(shutil.which("tclsh") is None, reason="tclsh not installed")
def test_vivado_script_runs_with_stub_commands(tmp_path):
    build = tmp_path / "mac_stream"
    shutil.copytree(DATA, build)
    manifest = json.loads((build / "manifest.json").read_text())
    tcl = write_vivado_project(manifest, build, clock_mhz=100.0)
    stubs = tmp_path / "stubs.tcl"
    stubs.write_text(r"""
set ::calls {}
proc rec {args} { lappend ::calls $args }
proc create_project {args} { rec create_project {*}$args }
proc add_files {args} { rec add_files {*}$args }
proc set_property {args} { rec set_property {*}$args }
proc get_filesets {n} { return $n }
proc current_project {} { return p }
proc update_compile_order {args} {}
proc get_runs {n} { return $n }
proc launch_runs {args} {
    rec launch_runs {*}$args
    if {[lindex $args 0] eq "impl_1"} {
        set d [file join $pl_out project pleiades.runs impl_1]
        file mkdir $d
        set f [open [file join $d top.bit] w]; puts $f bit; close $f
    }
}
proc wait_on_run {n} {}
proc get_property {p obj} { return "100%" }
proc open_run {n} {}
proc report_utilization {args} { rec report_utilization {*}$args }
proc report_timing_summary {args} { rec report_timing_summary {*}$args }
proc report_power {args} {}
source [lindex $argv 0]
foreach c $::calls { puts $c }
""".replace("$pl_out", "$::pl_out"))
    out = subprocess.run(["tclsh", str(stubs), str(tcl)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any(l.startswith("create_project -force pleiades") and "xc7z020clg400-1" in l for l in lines)
    added = " ".join(l for l in lines if l.startswith("add_files"))
    for name in ("mac_stream.v", "pynq_z2_top.v", "uart_stream_bridge.v", "pynq_z2.xdc"):
        assert name in added
    assert any("set_property top pynq_z2_top" in l for l in lines)
    assert (build / "board" / "pynq-z2" / "vivado" / "pynq_z2_top.bit").exists()
    # every source the script names exists
    text = tcl.read_text()
    assert "set pl_part {xc7z020clg400-1}" in text
