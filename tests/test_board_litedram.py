"""The ULX3S LiteDRAM path. Without LiteX: the init write table (against LiteDRAM's own generated C init code), the
litedram_init sequencer in simulation (Icarus, Verilator), the board top (lint against LiteDRAM's port list),
the configuration checks. With the LiteX venv (else skipped, with the reason): the generated core, and LiteDRAM's
core with its SDRAM model simulated with the sequencer and a real AXI master (temporal_history_axi), bit-exact."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.ulx3s_litedram import standin_design, standin_layout
from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.rtl.lint import template_sources, verilator_lint
from pleiades_fpga.hw.rtl.verilog import instance
from pleiades_fpga.toolflow.boards import BOARDS_DIR
from pleiades_fpga.toolflow.boards.litedram_core import (core_config, generate_core, init_sequencer_params,
                                                         init_writes)
from pleiades_fpga.toolflow.boards.ulx3s_litedram import AxiMaster, ulx3s_litedram_top_verilog
from pleiades_fpga.toolflow.boards.wrapper import StreamPorts
from pleiades_fpga.toolflow.locate import find_tool, have_simulator, tool_env, verilator_cmd

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


LAYOUT = standin_layout(8, 8)


def test_axi_master_from_manifest(tmp_path):
    ext = {**standin_design(tmp_path, 8, 8)[0]["external_memory"], "region_bytes": 8192}
    axi = AxiMaster.from_manifest({"external_memory": ext})
    assert (axi.port, axi.error_port, axi.data_w, axi.id_w, axi.region_bytes) == ("m_axi", "axi_error", 16, 1, 8192)
    assert ("m_axi_araddr", "output", 32) in axi.signals and ("m_axi_rdata", "input", 16) in axi.signals
    with pytest.raises(PleiadesError, match="no external memory"):
        AxiMaster.from_manifest({"external_memory": None})
    with pytest.raises(PleiadesError, match="more than the ULX3S SDRAM"):
        AxiMaster.from_manifest({"external_memory": {**ext, "region_bytes": 32 * 2**20 + 4096}})
    with pytest.raises(PleiadesError, match="lacks a field"):
        AxiMaster.from_manifest({"external_memory": {"data_bits": 16}})
    with pytest.raises(PleiadesError, match="lacks wlast"):
        AxiMaster.from_manifest({"external_memory": {**ext, "signals": [s for s in ext["signals"]
                                                                       if s["name"] != "m_axi_wlast"]}})


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


def _compile(sim: str, tmp: Path, srcs: list[Path]) -> list[str]:
    """Compile the self-checking testbench ``tb`` (first source) with Icarus or Verilator; its run command."""
    if sim == "icarus":
        subprocess.run(["iverilog", "-g2012", "-o", str(tmp / "sim"), *map(str, srcs)], check=True, capture_output=True)
        return ["vvp", "-n", str(tmp / "sim")]
    build = subprocess.run([*verilator_cmd(), "--binary", "--timing", "-CFLAGS", "-std=c++20 -fcoroutines -O0",
                            "-Wno-fatal", "--top-module", "tb", "-Mdir", str(tmp / "obj"), *map(str, srcs)],
                           capture_output=True, text=True, env={**os.environ, **tool_env("verilator")})
    assert build.returncode == 0, build.stderr[-2000:]
    return [str(tmp / "obj" / "Vtb")]


@pytest.fixture(scope="module")
def sequencer_sim(request, tmp_path_factory):
    """Build the sequencer testbench with LiteDRAM's init table once per simulator; return a run function."""
    sim, tmp = request.param, tmp_path_factory.mktemp(f"litedram_init_{request.param}")
    params = init_sequencer_params(init_writes(INIT))
    tb = tmp / "tb.v"
    tb.write_text(TB.replace("@N@", str(params["N_WRITES"])).replace("@WRITES@", str(params["WRITES"])))
    cmd = _compile(sim, tmp, [tb, BOARDS_DIR / "litedram_init.v"])

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
        pytest.param("verilator", marks=[pytest.mark.slow,   # a Verilator --timing build: 30-60 s on 2 busy cores
                                         pytest.mark.skipif(not have_simulator("verilator"), reason="no verilator")])]


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
    """A network top with one external temporal history (temporal_history_axi, a real AXI4 master), 8x8."""
    return standin_design(tmp, 8, 8)


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


def test_board_files_refuse_early(tmp_path, monkeypatch):
    """A clock outside LiteDRAM's range before any tool runs; a missing LiteX venv with how to create it."""
    from pleiades_fpga.errors import BackendNotInstalledError
    from pleiades_fpga.toolflow.boards.ulx3s_litedram import write_ulx3s_litedram
    manifest, _ = _standin(tmp_path)
    with pytest.raises(PleiadesError, match="--clock-mhz"):
        write_ulx3s_litedram(manifest, tmp_path / "a", clock_mhz=150.0)
    assert not (tmp_path / "a" / "pleiades_pll.v").exists()
    monkeypatch.setenv("PLEIADES_LITEX_PYTHON", str(tmp_path / "no-such-python"))
    try:
        find_tool("yowasp-ecppll")
    except PleiadesError as exc:
        pytest.skip(f"the PLL is generated before the core: {exc}")
    with pytest.raises(BackendNotInstalledError, match="litedram_core"):
        write_ulx3s_litedram(manifest, tmp_path / "b")


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


# ---------------------------------------------------------------- LiteDRAM in simulation (needs the LiteX venv)

SIM_TB = r"""
`timescale 1ns/1ps
`default_nettype none
module tb;
    localparam integer K = @K@, PIXELS = @PIXELS@, FRAMES = @FRAMES@, M = @M@;
    reg clk = 1'b0;
    always #10 clk = ~clk;                                    // 50 MHz, the core's sys_clk_freq
    wire ram_rst, ram_init_done, ram_init_error, seq_done, seq_error;
    wire [29:0] wb_adr; wire [31:0] wb_dat_w; wire [3:0] wb_sel; wire wb_cyc, wb_stb, wb_we, wb_ack, wb_err;
    wire [2:0] wb_cti; wire [1:0] wb_bte;
@AXI_WIRES@
    litedram_init #(.N_WRITES(@N@), .WRITES(@WRITES@)) u_init (
        .clk(clk), .rst(ram_rst), .wb_adr_o(wb_adr), .wb_dat_o(wb_dat_w), .wb_sel_o(wb_sel), .wb_cyc_o(wb_cyc),
        .wb_stb_o(wb_stb), .wb_we_o(wb_we), .wb_cti_o(wb_cti), .wb_bte_o(wb_bte), .wb_ack_i(wb_ack),
        .wb_err_i(wb_err), .done_o(seq_done), .error_o(seq_error));
@CORE@
    wire ready = seq_done && !seq_error && ram_init_done && !ram_init_error && !ram_rst;
    reg rst = 1'b1;
    integer cycle = 0, init_cycles = 0;
    reg [31:0] lfsr = 32'h1badf00d;
    always @(posedge clk) begin
        cycle <= cycle + 1;
        lfsr <= {lfsr[30:0], lfsr[31] ^ lfsr[21] ^ lfsr[1] ^ lfsr[0]};
        if (rst && ready) begin rst <= 1'b0; init_cycles <= cycle; end
    end
    function [15:0] pixel(input integer f, input integer p);      // {channel 1, channel 0}
        pixel = {f[7:0] * 8'd5 + p[7:0] * 8'd3 + 8'd1, f[7:0] * 8'd11 + p[7:0] * 8'd7 + 8'd2};
    endfunction
    wire [M-1:0] done, axi_error;
    wire [32*M-1:0] mismatches;
@NETS@
    integer i, total;
    always @(posedge clk) begin
        if (&done) begin
            total = 0;
            for (i = 0; i < M; i = i + 1) total = total + mismatches[32*i +: 32];
            $display("RESULT %0d %0d %0d %0d %0d", FRAMES, total, init_cycles, cycle, |axi_error);
            $finish;
        end
        if (cycle > @TIMEOUT@) begin
            $display("TIMEOUT ready=%0d seq_done=%0d init_done=%0d done=%b", ready, seq_done, ram_init_done, done);
            $finish;
        end
    end
endmodule
"""

# one network instance of SIM_TB: its input driver (gaps), output back-pressure and window checker; @I@ = index
SIM_NET = r"""
    reg [15:0] s_tdata@I@ = 16'd0; reg s_tvalid@I@ = 1'b0, s_tlast@I@ = 1'b0, m_tready@I@ = 1'b0;
    wire s_tready@I@, m_tvalid@I@, m_tlast@I@; wire [K*16-1:0] m_tdata@I@;
    integer in_f@I@ = 0, in_p@I@ = 0, out_f@I@ = 0, out_p@I@ = 0, bad@I@ = 0, k@I@, c@I@, g@I@;
    reg [15:0] tap@I@;
    assign done[@I@] = out_f@I@ == FRAMES;
    assign mismatches[32*@I@ +: 32] = bad@I@;
@NET@
    always @(posedge clk) begin
        m_tready@I@ <= lfsr[@I@ +: 4] > 4'd3;                  // output back-pressure 25 % of the cycles
        if (!rst) begin
            if (s_tvalid@I@ && s_tready@I@) begin
                if (in_p@I@ == PIXELS - 1) begin in_p@I@ = 0; in_f@I@ = in_f@I@ + 1; end else in_p@I@ = in_p@I@ + 1;
            end
            if ((!s_tvalid@I@ || s_tready@I@) && in_f@I@ < FRAMES) begin
                s_tvalid@I@ <= lfsr[@I@ + 5 +: 3] != 3'd0;      // input gaps 1/8 of the cycles
                s_tdata@I@ <= pixel(in_f@I@ + 50 * @I@, in_p@I@); s_tlast@I@ <= in_p@I@ == PIXELS - 1;
            end else if (s_tready@I@) s_tvalid@I@ <= 1'b0;
            if (m_tvalid@I@ && m_tready@I@ && out_f@I@ < FRAMES) begin
                for (k@I@ = 0; k@I@ < K; k@I@ = k@I@ + 1) begin  // lane c*K + k: channel c of tap k (0 = oldest)
                    g@I@ = out_f@I@ - (K - 1 - k@I@);
                    tap@I@ = g@I@ >= 0 ? pixel(g@I@ + 50 * @I@, out_p@I@) : 16'd0;
                    for (c@I@ = 0; c@I@ < 2; c@I@ = c@I@ + 1)
                        if (m_tdata@I@[(c@I@*K + k@I@)*8 +: 8] !== tap@I@[c@I@*8 +: 8]) bad@I@ = bad@I@ + 1;
                end
                if (m_tlast@I@ !== (out_p@I@ == PIXELS - 1)) bad@I@ = bad@I@ + 1;
                if (out_p@I@ == PIXELS - 1) begin out_p@I@ = 0; out_f@I@ = out_f@I@ + 1; end
                else out_p@I@ = out_p@I@ + 1;
            end
        end
    end
"""


@pytest.fixture(scope="module")
def litedram_sim_core(tmp_path_factory):
    """LiteDRAM's core with its SDRAM model inside (``sim``) for an AXI ID width, generated in the LiteX venv (once
    per width); skips without it."""
    from pleiades_fpga.errors import BackendNotInstalledError
    from pleiades_fpga.toolflow.boards.litedram_core import litex_python
    try:
        litex_python()
    except BackendNotInstalledError as exc:
        pytest.skip(f"no LiteX environment: {exc}")
    cores: dict[int, dict] = {}

    def core(id_w: int) -> dict:
        if id_w not in cores:
            cores[id_w] = generate_core(tmp_path_factory.mktemp(f"litedram_sim_id{id_w}"),
                                        {**core_config(16, id_w, 50.0), "sim": True})
        return cores[id_w]
    return core


@pytest.mark.slow
@pytest.mark.parametrize("sim", SIMS)
@pytest.mark.parametrize("masters", [1, 2])
def test_litedram_sim_initializes_and_serves_the_history_bit_exact(sim, masters, litedram_sim_core, tmp_path):
    """Sequencer + LiteDRAM (its own SDRAM model) + ``masters`` temporal_history_axi networks (2: joined by
    axi_arbiter, IDs widened, regions apart) through the board top's AXI wiring: LiteDRAM reaches init_done from the
    CPU-less initialization, then every window of 12 frames is bit-exact under input gaps and output back-pressure."""
    from pleiades_fpga.toolflow.boards.ulx3s_litedram import axi_wiring
    manifest, net = _standin(tmp_path)
    one = AxiMaster.from_manifest(manifest)
    id_w = one.id_w + (masters - 1).bit_length()
    init = litedram_sim_core(id_w)
    sig_bits = {n: (id_w if n.endswith("id") else b) for n, _, b in one.signals}
    axi = AxiMaster(one.port, one.error_port, one.data_w, id_w, one.region_bytes * masters,
                    tuple((n, d, sig_bits[n]) for n, d, _ in one.signals))
    wires, _, core_axi = axi_wiring(axi)
    params = init_sequencer_params(init_writes(init))
    wb = {f"wb_ctrl_{s}": f"wb_{s}" for s in ("adr", "sel", "cyc", "stb", "we", "cti", "bte", "ack", "err")}
    core = instance("litedram_core", "u_litedram", {"clk": "clk", "sim_trace": "1'b0", "init_done": "ram_init_done",
                                                    "init_error": "ram_init_error", "user_clk": "",
                                                    "user_rst": "ram_rst", **wb, "wb_ctrl_dat_w": "wb_dat_w",
                                                    "wb_ctrl_dat_r": "", **core_axi})
    region = -(-one.region_bytes // 4096) * 4096
    nets, srcs = [], [BOARDS_DIR / "litedram_init.v", Path(init["verilog"]), *net]
    if masters > 1:     # the flattened slave side of axi_arbiter: master i at [i*W +: W]
        wires += [f"    wire [{masters * b - 1}:0] s_{n[len('m_axi_'):]};" for n, _, b in one.signals]
        arb = {f"s_axi_{n[len('m_axi_'):]}": f"s_{n[len('m_axi_'):]}" for n, _, _ in one.signals}
        nets.append(instance("axi_arbiter", "u_arbiter", {"clk": "clk", "rst": "rst", **arb,
                                                          **{n: f"axi_{n[len('m_axi_'):]}" for n, _, _ in axi.signals}},
                             {"M_COUNT": masters, "ADDR_W": 32, "DATA_W": one.data_w, "S_ID_W": one.id_w}))
        srcs += [s for s in template_sources("axi_arbiter") if s not in srcs]
    for i in range(masters):
        conns = {n: (f"s_{n[len('m_axi_'):]}[{(i + 1) * b - 1}:{i * b}]" if masters > 1 else f"axi_{n[len('m_axi_'):]}")
                 for n, _, b in one.signals}
        inst = instance("standin_net", f"u_net{i}", {
            "clk": "clk", "rst": "rst", **{f"s_axis_{x}": f"s_{x}{i}" for x in ("tdata", "tvalid", "tready", "tlast")},
            **{f"m_axis_{x}": f"m_{x}{i}" for x in ("tdata", "tvalid", "tready", "tlast")}, **conns,
            "axi_error": f"axi_error[{i}]"}, {"EXT_BASE_ADDR": f"64'h{i * region:x}"})
        nets.append(SIM_NET.replace("@NET@", inst).replace("@I@", str(i)))
    frames = 12
    tb = tmp_path / "tb.v"
    tb.write_text(SIM_TB.replace("@K@", str(LAYOUT.k)).replace("@PIXELS@", str(LAYOUT.pixels))
                  .replace("@FRAMES@", str(frames)).replace("@M@", str(masters)).replace("@N@", str(params["N_WRITES"]))
                  .replace("@WRITES@", str(params["WRITES"])).replace("@AXI_WIRES@", "\n".join(wires))
                  .replace("@CORE@", core).replace("@NETS@", "\n".join(nets)).replace("@TIMEOUT@", "200000"))
    cmd = _compile(sim, tmp_path, [tb, *srcs])
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600).stdout.splitlines()
    result = [line.split()[1:] for line in out if line.startswith("RESULT")]
    assert result, "\n".join(out[-10:])
    got_frames, mismatches, init_cycles, _, axi_error = (int(v) for v in result[0])
    assert (got_frames, mismatches, axi_error) == (frames, 0, 0)
    assert init_cycles > 20_000                    # the power-up wait of LiteDRAM's sequence happened
