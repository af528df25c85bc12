"""The ULX3S LiteDRAM path without LiteX: the init write table (against LiteDRAM's own generated C init code), the
litedram_init sequencer in simulation (Icarus, Verilator), the board top (lint against LiteDRAM's port list),
the configuration checks. Generating the core itself needs the LiteX venv: that test skips without it."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.rtl.kinds.temporal_conv_external import axi_connections, axi_ports, history_layout
from pleiades_fpga.hw.rtl.lint import template_sources, verilator_lint
from pleiades_fpga.hw.rtl.verilog import instance, layer_ports, module, stream_connections
from pleiades_fpga.toolflow.boards import BOARDS_DIR
from pleiades_fpga.toolflow.boards.litedram_core import (core_config, generate_core, init_sequencer_params,
                                                         init_writes)
from pleiades_fpga.toolflow.boards.ulx3s_litedram import AxiMaster, ulx3s_litedram_top_verilog
from pleiades_fpga.toolflow.boards.wrapper import StreamPorts
from pleiades_fpga.toolflow.locate import have_simulator, tool_env, verilator_cmd

DATA = Path(__file__).parent / "data"
#: LiteDRAM 2024.12's generator output for the ULX3S SDRAM at 50 MHz (litedram_worker.py, cpu None)
INIT = json.loads((DATA / "litedram_ulx3s_init.json").read_text())

# CSR byte addresses of that core (its csr.csv) and the DFII constants (its sdram_phy.h)
DONE, ERROR, CONTROL, COMMAND, ISSUE, ADDRESS, BADDRESS = 0x0, 0x4, 0x800, 0x804, 0x808, 0x80C, 0x810
CS, WE, CAS, RAS = 0x01, 0x02, 0x04, 0x08
SEL, CKE, ODT, RESET_N = 0x01, 0x02, 0x04, 0x08


def _cmd(address: int, command: int, delay: int) -> list[tuple[int, int, int]]:
    """command_p0() after the address writes, as in LiteDRAM's generated init_sequence()."""
    return [(ADDRESS, address, 0), (BADDRESS, 0, 0), (COMMAND, command, 0), (ISSUE, 1, delay)]


# LiteDRAM's sdram_init() for this core, transcribed from its generated C (sdram.c + sdram_phy.h): software control,
# init_done/init_error cleared, init_sequence(), hardware control, init_done = 1 (no memory test)
EXPECTED = [(CONTROL, CKE | ODT | RESET_N, 0), (DONE, 0, 0), (ERROR, 0, 0),
            (ADDRESS, 0, 0), (BADDRESS, 0, 0), (CONTROL, CKE | ODT | RESET_N, 20000),       # Bring CKE high
            *_cmd(0x400, RAS | WE | CS, 0),                                                 # Precharge All
            *_cmd(0x120, RAS | CAS | WE | CS, 200),                                         # Mode Register, DLL reset
            *_cmd(0x400, RAS | WE | CS, 0),                                                 # Precharge All
            *_cmd(0x0, RAS | CAS | CS, 4), *_cmd(0x0, RAS | CAS | CS, 4),                   # Auto Refresh x2
            *_cmd(0x20, RAS | CAS | WE | CS, 200),                                          # Mode Register, CL=2
            (CONTROL, SEL, 0), (DONE, 1, 0)]


def test_init_writes_are_litedrams_init():
    got = [(adr << 2, dat, delay) for adr, dat, delay in init_writes(INIT)]
    assert got == EXPECTED


def test_init_writes_refuse_an_incomplete_description():
    broken = {**INIT, "csr": {k: v for k, v in INIT["csr"].items() if k != "sdram_dfii_pi0_command_issue"}}
    with pytest.raises(PleiadesError, match="regenerate the core"):
        init_writes(broken)


def test_core_config_checks():
    cfg = core_config(16, 2, 50.0)
    assert cfg["user_ports"] == {"axi_0": {"type": "axi", "id_width": 2, "data_width": 16}}
    assert cfg["sys_clk_freq"] == 50e6 and cfg["cpu"] is None and cfg["sdram_phy"] == "GENSDRPHY"
    with pytest.raises(PleiadesError, match="power of two from 16"):
        core_config(8, 1, 50.0)
    with pytest.raises(PleiadesError, match="--clock-mhz"):
        core_config(16, 1, 150.0)


def test_axi_master_from_manifest():
    ext = {"data_w": 16, "addr_w": 32, "id_w": 1, "base_addr": 0x1000, "region_bytes": 8192}
    assert AxiMaster.from_manifest({"external_memory": ext}) == AxiMaster(16, 32, 1, 0x3000)
    with pytest.raises(PleiadesError, match="no external memory"):
        AxiMaster.from_manifest({})
    with pytest.raises(PleiadesError, match="beyond the ULX3S SDRAM"):
        AxiMaster.from_manifest({"external_memory": {**ext, "base_addr": 32 * 2**20 - 4096}})
    with pytest.raises(PleiadesError, match="lacks a field"):
        AxiMaster.from_manifest({"external_memory": {"data_w": 16}})


# ---------------------------------------------------------------- the sequencer in simulation

TB = r"""
`timescale 1ns/1ps
module tb;
    reg clk = 0, rst = 1;
    always #5 clk = ~clk;
    wire [29:0] adr; wire [31:0] dat; wire [3:0] sel; wire cyc, stb, we; wire [2:0] cti; wire [1:0] bte;
    reg ack = 0, err = 0;
    wire done, error;
    litedram_init #(.N_WRITES(@N@), .WRITES(@WRITES@)) dut (
        .clk(clk), .rst(rst), .wb_adr_o(adr), .wb_dat_o(dat), .wb_sel_o(sel), .wb_cyc_o(cyc), .wb_stb_o(stb),
        .wb_we_o(we), .wb_cti_o(cti), .wb_bte_o(bte), .wb_ack_i(ack), .wb_err_i(err), .done_o(done), .error_o(error));
    integer cycle = 0, n = 0, wait_left = 0, err_at = -1, restart_at = 0, cycles = 0;
    reg [15:0] lfsr = 16'hace1;
    always @(posedge clk) begin
        cycle <= cycle + 1;
        lfsr <= {lfsr[14:0], lfsr[15] ^ lfsr[13] ^ lfsr[12] ^ lfsr[10]};
        ack <= 0; err <= 0;
        if (!rst && cyc && stb && !ack && !err) begin
            if (wait_left == 0) wait_left <= 1 + lfsr[2:0];            // 0..7 wait states, then ack
            else if (wait_left == 1) begin
                wait_left <= 0;
                if (n == err_at) err <= 1;
                else begin
                    ack <= 1;
                    $display("WRITE %0d %0d %0d %0d %0d", adr, dat, cycle, sel, we);
                end
                n <= n + 1;
            end else wait_left <= wait_left - 1;
        end
        if (cyc && (cti != 0 || bte != 0)) $display("BAD_CYCLE_TYPE");
    end
    initial begin
        if (!$value$plusargs("ERR_AT=%d", err_at)) err_at = -1;
        if (!$value$plusargs("RESTART_AT=%d", restart_at)) restart_at = 0;
        if (!$value$plusargs("CYCLES=%d", cycles)) cycles = 0;
        repeat (3) @(posedge clk); rst <= 0;
        repeat (restart_at) @(posedge clk);
        if (restart_at > 0) begin rst <= 1; @(posedge clk); rst <= 0; $display("RESTART"); end
        repeat (cycles) @(posedge clk);
        $display("END %0d %0d %0d", done, error, cycle);
        $finish;
    end
    always @(posedge clk) if (!rst && cyc && (done || error)) $display("CYCLE_AFTER_END");
endmodule
"""


@pytest.fixture(scope="module")
def sequencer_sim(request, tmp_path_factory):
    """Build the sequencer testbench with LiteDRAM's init table once per simulator; return a run function."""
    sim, tmp = request.param, tmp_path_factory.mktemp(f"litedram_init_{request.param}")
    params = init_sequencer_params(init_writes(INIT))
    tb = tmp / "tb.v"
    tb.write_text(TB.replace("@N@", str(params["N_WRITES"])).replace("@WRITES@", str(params["WRITES"])))
    srcs = [str(tb), str(BOARDS_DIR / "litedram_init.v")]
    if sim == "icarus":
        subprocess.run(["iverilog", "-g2012", "-o", str(tmp / "sim"), *srcs], check=True, capture_output=True)
        cmd = ["vvp", "-n", str(tmp / "sim")]
    else:
        build = subprocess.run([*verilator_cmd(), "--binary", "--timing", "-CFLAGS", "-std=c++20 -fcoroutines -O0",
                                "-Wno-fatal", "--top-module", "tb", "-Mdir", str(tmp / "obj"), *srcs],
                               capture_output=True, text=True, env={**os.environ, **tool_env("verilator")})
        assert build.returncode == 0, build.stderr[-2000:]
        cmd = [str(tmp / "obj" / "Vtb")]

    def run(err_at: int = -1, restart_at: int = 0, cycles: int = 21_500) -> list[str]:
        args = [f"+ERR_AT={err_at}", f"+RESTART_AT={restart_at}", f"+CYCLES={cycles}"]
        return subprocess.run(cmd + args, capture_output=True, text=True, timeout=120).stdout.splitlines()
    return run


def _writes_of(out: list[str]) -> list[tuple[int, int, int]]:
    return [tuple(int(v) for v in line.split()[1:]) for line in out if line.startswith("WRITE")]  # type: ignore[misc]


def _end(out: list[str]) -> list[str]:
    """(done, error) at the end of the simulation."""
    return next(line for line in out if line.startswith("END")).split()[1:3]


SIMS = [pytest.param("icarus", marks=pytest.mark.skipif(shutil.which("iverilog") is None, reason="no iverilog")),
        pytest.param("verilator", marks=pytest.mark.skipif(not have_simulator("verilator"), reason="no verilator"))]


@pytest.mark.parametrize("sequencer_sim", SIMS, indirect=True)
def test_sequencer_replays_the_table_with_its_delays(sequencer_sim):
    table = init_writes(INIT)
    out = sequencer_sim()
    got = _writes_of(out)
    assert [(a, d) for a, d, _, _, _ in got] == [(a, d) for a, d, _ in table]
    assert all(sel == 15 and we == 1 for *_, sel, we in got)
    # a write's acknowledge and the next write's acknowledge are at least its idle cycles apart (+1 wait state)
    for (_, _, t0, _, _), (_, _, t1, _, _), (_, _, delay) in zip(got, got[1:], table):
        assert t1 - t0 >= delay + 2
    assert _end(out) == ["1", "0"]                         # done, no error
    assert "BAD_CYCLE_TYPE" not in out and "CYCLE_AFTER_END" not in out


@pytest.mark.parametrize("sequencer_sim", SIMS, indirect=True)
def test_sequencer_stops_on_err_and_restarts_on_reset(sequencer_sim):
    table = init_writes(INIT)
    out = sequencer_sim(err_at=4, cycles=2000)
    assert len(_writes_of(out)) == 4 and _end(out) == ["0", "1"]
    assert "CYCLE_AFTER_END" not in out
    out = sequencer_sim(restart_at=60)
    restart = out.index("RESTART")
    before, after = _writes_of(out[:restart]), _writes_of(out[restart:])
    assert 0 < len(before) < len(table)
    assert [(a, d) for a, d, *_ in after] == [(a, d) for a, d, _ in table]
    assert _end(out) == ["1", "0"]


# ---------------------------------------------------------------- the board top

def _standin(tmp: Path) -> tuple[dict, list[Path]]:
    """A network top with one external temporal history (temporal_history_axi, a real AXI4 master)."""
    lay = history_layout(c_in=2, in_w=8, k=3, pixels=64, data_w=16, base_addr=0, latency=64, cycles_per_pixel=4,
                         name="standin")
    body = [instance("temporal_history_axi", "u_hist", {"clk": "clk", "rst": "rst",
                     **stream_connections("s_axis", "s_axis"), **stream_connections("m_axis", "m_axis"),
                     **axi_connections("m_axi", "m_axi"), "axi_error": ""}, lay.params())]
    (tmp / "standin_net.v").write_text(module("standin_net", layer_ports(16, 48) + axi_ports(lay), body))
    manifest = {"top": "standin_net", "input": {"channels": 2, "bits": 8, "height": 8, "width": 8},
                "output": {"channels": 6, "bits": 8},
                "external_memory": {"data_w": 16, "addr_w": lay.addr_w, "id_w": lay.id_w, "base_addr": 0,
                                    "region_bytes": lay.region_bytes}}
    return manifest, [tmp / "standin_net.v", *template_sources("temporal_history_axi")]


@pytest.mark.skipif(not have_simulator("verilator"), reason="no verilator")
def test_board_top_lints_against_litedrams_ports(tmp_path):
    manifest, net = _standin(tmp_path)
    top = ulx3s_litedram_top_verilog(StreamPorts.from_manifest(manifest), AxiMaster.from_manifest(manifest),
                                     init_sequencer_params(init_writes(INIT)), 50.0)
    (tmp_path / "ulx3s_top.v").write_text(top)
    # ECP5 primitives and the ecppll module as black boxes (port lists as nextpnr's cells and ecppll declare them)
    (tmp_path / "prims.v").write_text(
        "module ODDRX1F(input wire D0, input wire D1, input wire SCLK, input wire RST, output wire Q); endmodule\n"
        "module pleiades_pll(input wire clkin, output wire clkout0, output wire clkout1, output wire locked);"
        " endmodule\n")
    # lint the top's own code: its submodules are checked by their own tests (and LiteX's core is not ours);
    # power-on values of the reset/heartbeat registers (ECP5 flip-flops take them) are the board wrappers' style
    (tmp_path / "lint.vlt").write_text("`verilator_config\n"
                                       'lint_off -rule PROCASSINIT -file "*/ulx3s_top.v"\n'
                                       + "".join(f'lint_off -file "*/{p.name}"\n' for p in [
                                           tmp_path / "prims.v", DATA / "litedram_core_ports.v",
                                           BOARDS_DIR / "uart_stream_bridge.v", *net]))
    srcs = [tmp_path / "lint.vlt", tmp_path / "ulx3s_top.v", tmp_path / "prims.v", DATA / "litedram_core_ports.v",
            BOARDS_DIR / "litedram_init.v", BOARDS_DIR / "uart_stream_bridge.v", *net]
    report = verilator_lint("ulx3s_top", srcs)
    assert report.ok, "\n".join(report.messages[:20])
    assert "axi_awaddr[24:0]" in top and "{1'b0, axi_arsize}" in top and "inout  wire [15:0] sdram_dq" in top


def test_generate_core_with_the_litex_env(tmp_path):
    """Runs LiteDRAM's generator when a LiteX environment exists (.venv-litex or PLEIADES_LITEX_PYTHON)."""
    from pleiades_fpga.errors import BackendNotInstalledError
    from pleiades_fpga.toolflow.boards.litedram_core import litex_python
    try:
        litex_python()
    except BackendNotInstalledError as exc:
        pytest.skip(f"no LiteX environment: {exc}")
    init = generate_core(tmp_path, core_config(16, 1, 50.0))
    assert init_writes(init) == init_writes(INIT)
    ports = Path(init["verilog"]).read_text()
    assert "input  wire   [24:0] user_port_axi_0_araddr" in ports and "wb_ctrl_adr" in ports
