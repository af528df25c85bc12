"""ULX3S board top for a design with external memory: the network's AXI4 master on the SDRAM through LiteDRAM.

``ulx3s_top`` (same name, pins and UART protocol as the on-chip board top of :mod:`.wrapper`) holds: an ECP5 PLL
(25 MHz -> the board clock for core and design, plus the same clock at 90 degrees for the SDRAM clock pin, out of
an ``ODDRX1F``, as litex-boards' ULX3S target does), the LiteDRAM core generated for the ULX3S SDRAM
(:mod:`.litedram_core`, one AXI4 user port as wide as the design's master), ``litedram_init`` (the SDRAM
initialization on the core's control port: no CPU), the UART stream bridge and the network. The network's
``m_axi_*`` connects to the core's ``user_port_axi_0_*`` (byte addresses: the low 25 bits, 32 MB; AxSIZE
zero-extended to LiteDRAM's 4 bits). The network and the bridge stay in reset until the PLL locks and LiteDRAM
reports init_done without init_error. docs/EXTERNAL_MEMORY.md "ULX3S (LiteDRAM)".
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.rtl.verilog import instance, wire
from pleiades_fpga.toolflow.boards import BOARDS_DIR
from pleiades_fpga.toolflow.boards.litedram_core import (SDRAM_ADDR_W, SDRAM_BYTES, core_config, generate_core,
                                                         init_sequencer_params, init_writes)
from pleiades_fpga.toolflow.boards.wrapper import StreamPorts, _bridge, _reset_and_leds, write_ecp5_pll

#: default board clock of core and design (MHz): LiteDRAM's SDR PHY placed alone reaches 75.5 MHz here
DEFAULT_CLOCK_MHZ = 50.0
#: the SDRAM clock's phase behind the system clock (degrees), as litex-boards' radiona_ulx3s CRG makes it
SDRAM_CLOCK_PHASE = 90.0
#: LiteDRAM's SDRAM pads in the generated core: (name, direction, width); sdram_dq is bidirectional on the board
SDRAM_PINS = (("sdram_a", "output", 13), ("sdram_ba", "output", 2), ("sdram_cas_n", "output", 1),
              ("sdram_cke", "output", 1), ("sdram_cs_n", "output", 1), ("sdram_dm", "output", 2),
              ("sdram_dq", "inout", 16), ("sdram_ras_n", "output", 1), ("sdram_we_n", "output", 1))


@dataclass(frozen=True)
class AxiMaster:
    """The network top's AXI4 master, from manifest["external_memory"] (schema: docs/EXTERNAL_MEMORY.md)."""

    port: str                                  # signal prefix, "m_axi"
    error_port: str                            # sticky AXI error output, "axi_error"
    data_w: int
    id_w: int
    region_bytes: int                          # all regions, from EXT_BASE_ADDR (= 0 on the board)
    signals: tuple[tuple[str, str, int], ...]  # (name, direction seen from the network, bits)

    @classmethod
    def from_manifest(cls, manifest: dict) -> "AxiMaster":
        """Read the external memory port; refuse what LiteDRAM's user port or the 32 MB SDRAM cannot serve."""
        ext = manifest.get("external_memory")
        if not ext:
            raise PleiadesError("the build has no external memory (manifest.json 'external_memory' is empty); the "
                                "ULX3S LiteDRAM top is only for designs with external buffers")
        try:
            port = cls(port=str(ext["port"]), error_port=str(ext["error_port"]), data_w=int(ext["data_bits"]),
                       id_w=int(ext["id_bits"]), region_bytes=int(ext["region_bytes"]),
                       signals=tuple((str(s["name"]), str(s["direction"]), int(s["bits"])) for s in ext["signals"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise PleiadesError(f"manifest external_memory lacks a field the ULX3S LiteDRAM top needs: {exc!r}; "
                                "rebuild the design (docs/EXTERNAL_MEMORY.md)") from exc
        if ext.get("protocol") != "AXI4":
            raise PleiadesError(f"external memory protocol {ext.get('protocol')!r}: LiteDRAM's user port is AXI4")
        if port.region_bytes > SDRAM_BYTES:
            raise PleiadesError(f"the external regions need {port.region_bytes:,} bytes, more than the ULX3S SDRAM's "
                                f"{SDRAM_BYTES:,}: keep more buffers on chip (folding JSON 'memory': 'onchip')")
        names = {n[len(port.port) + 1:] for n, _, _ in port.signals if n.startswith(port.port + "_")}
        missing = sorted(set(LITEDRAM_AXI) - names)
        if missing:
            raise PleiadesError(f"the network's {port.port}_* port lacks {', '.join(missing)}; LiteDRAM's AXI port "
                                "needs them")
        return port


#: the AXI4 signals of LiteDRAM's user port (``user_port_axi_0_<sig>``)
LITEDRAM_AXI = ("awid", "awaddr", "awlen", "awsize", "awburst", "awvalid", "awready", "wdata", "wstrb", "wlast",
                "wvalid", "wready", "bid", "bresp", "bvalid", "bready", "arid", "araddr", "arlen", "arsize",
                "arburst", "arvalid", "arready", "rid", "rdata", "rresp", "rlast", "rvalid", "rready")


def axi_wiring(axi: AxiMaster) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """Wires ``axi_<sig>`` between network and core; their connections on each side (address and size adapted)."""
    wires, net, core = [], {}, {}
    for name, _, bits in axi.signals:
        sig = name[len(axi.port) + 1:]
        wires.append(wire(f"axi_{sig}", bits))
        net[name] = f"axi_{sig}"
        if sig in ("araddr", "awaddr"):
            core[f"user_port_axi_0_{sig}"] = (f"axi_{sig}[{SDRAM_ADDR_W - 1}:0]" if bits >= SDRAM_ADDR_W else
                                              f"{{{SDRAM_ADDR_W - bits}'d0, axi_{sig}}}")
        elif sig in ("arsize", "awsize"):
            core[f"user_port_axi_0_{sig}"] = f"{{1'b0, axi_{sig}}}"
        elif sig in LITEDRAM_AXI:
            core[f"user_port_axi_0_{sig}"] = f"axi_{sig}"
    net[axi.error_port] = "net_axi_error"
    return wires, net, core


def ulx3s_litedram_top_verilog(ports: StreamPorts, axi: AxiMaster, init_params: dict[str, object],
                               clock_mhz: float = DEFAULT_CLOCK_MHZ, baud: int = 115200,
                               pll_module: str = "pleiades_pll") -> str:
    """Verilog of ``ulx3s_top`` with LiteDRAM (see the module docstring)."""
    clk_hz = int(round(clock_mhz * 1e6))
    wires, net_axi, core_axi = axi_wiring(axi)
    pins = ",\n".join(f"    {d:<6} wire {f'[{w - 1}:0] ' if w > 1 else ''}{n}" for n, d, w in SDRAM_PINS)
    wb = [("adr", 30), ("dat_w", 32), ("dat_r", 32), ("sel", 4), ("cyc", 1), ("stb", 1), ("we", 1), ("cti", 3),
          ("bte", 2), ("ack", 1), ("err", 1)]
    seq_port = {"adr": "wb_adr_o", "dat_w": "wb_dat_o", "sel": "wb_sel_o", "cyc": "wb_cyc_o", "stb": "wb_stb_o",
                "we": "wb_we_o", "cti": "wb_cti_o", "bte": "wb_bte_o", "ack": "wb_ack_i", "err": "wb_err_i"}
    core = instance("litedram_core", "u_litedram", {
        "clk": "clk", "rst": "!locked", "init_done": "ram_init_done", "init_error": "ram_init_error",
        "user_clk": "", "user_rst": "ram_rst", **{n: n for n, _, _ in SDRAM_PINS},
        **{f"wb_ctrl_{s}": (f"wb_{s}" if s != "dat_r" else "") for s, _ in wb}, **core_axi})
    seq = instance("litedram_init", "u_litedram_init", {
        "clk": "clk", "rst": "ram_rst", **{p: f"wb_{s}" for s, p in seq_port.items()},
        "done_o": "seq_done", "error_o": "seq_error"}, init_params)
    return f"""`timescale 1ns/1ps
`default_nettype none
// ulx3s_top: generated by pleiades-fpga. ULX3S 85F board top around the network `{ports.top}`, whose AXI4 master
// ({axi.port}_*: {axi.data_w}-bit data, {axi.id_w}-bit IDs; EXT_BASE_ADDR = 0: its regions are the SDRAM's first
// {axi.region_bytes:,} bytes) reaches the 32 MB SDRAM through LiteDRAM (litedram_core, initialized by
// litedram_init: no CPU).
// Clock {clock_mhz:g} MHz for core and network (PLL from the 25 MHz oscillator), SDRAM clock = the same at
// {SDRAM_CLOCK_PHASE:g} degrees (ODDRX1F). Reset = FIRE1, power-on, PLL lock, and until LiteDRAM reports init_done.
// UART {baud} baud 8N1 on the FTDI port: {(ports.in_width + 7) // 8} byte(s) per input pixel (LSB first),
// {ports.frame_pixels} pixels per frame, {(ports.out_width + 7) // 8} byte(s) per output vector (LSB first).
// LEDs: 0 = heartbeat, 1 = toggles per input frame, 2 = toggles per output vector, 3 = SDRAM ready,
// 4 = SDRAM initialization failed, 5 = the network saw an AXI error response. docs/EXTERNAL_MEMORY.md.
module ulx3s_top (
    input  wire       clk_25mhz,
    input  wire       ftdi_txd,
    output wire       ftdi_rxd,
    input  wire       btn_fire1,
    output wire [7:0] led,
    output wire       sdram_clock,
{pins}
);
    wire clk, clk_sdram, locked;
    {pll_module} u_pll (.clkin(clk_25mhz), .clkout0(clk), .clkout1(clk_sdram), .locked(locked));
    ODDRX1F u_sdram_clock (.D0(1'b1), .D1(1'b0), .SCLK(clk_sdram), .RST(1'b0), .Q(sdram_clock));
    wire uart_rx_i = ftdi_txd;
    wire uart_tx_o;
    assign ftdi_rxd = uart_tx_o;
    wire ram_rst, ram_init_done, ram_init_error;
{chr(10).join("    " + wire(f"wb_{s}", w).strip() for s, w in wb if s != "dat_r")}
    wire seq_done, seq_error, net_axi_error;
    // the address bits above the SDRAM's 25 are zero: the regions lie below 32 MB (checked by the generator)
    /* verilator lint_off UNUSEDSIGNAL */
{chr(10).join("    " + w.strip() for w in wires)}
    /* verilator lint_on UNUSEDSIGNAL */
{seq}
    // LiteDRAM outputs not needed here: user_clk (= clk), the control port's read data
    /* verilator lint_off PINCONNECTEMPTY */
{core}
    /* verilator lint_on PINCONNECTEMPTY */
    wire ram_ready = locked && !ram_rst && seq_done && !seq_error && ram_init_done && !ram_init_error;
{_reset_and_leds('clk', 'btn_fire1', 'ram_ready', 8, ('ram_ready', 'seq_error || ram_init_error', 'net_axi_error'))}
{_bridge(ports, clk_hz, baud, 'clk', 'rst', net_axi)}
endmodule
`default_nettype wire
"""


def write_ulx3s_litedram(manifest: dict, out_dir: Path | str, clock_mhz: float | None = None,
                         baud: int = 115200, core_dir: Path | str | None = None) -> dict:
    """Write ``ulx3s_top`` with LiteDRAM, its PLL, the generated core, the sequencer, the bridge and the LPF into
    ``out_dir``; return the same summary as :func:`.wrapper.write_board` (plus ``litedram``). ``core_dir``: where
    the LiteDRAM core is generated (default ``out_dir/litedram``; reused when its configuration is unchanged)."""
    ports, axi = StreamPorts.from_manifest(manifest), AxiMaster.from_manifest(manifest)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    core_config(axi.data_w, axi.id_w, clock_mhz or DEFAULT_CLOCK_MHZ)       # refuses a bad width or clock first
    pll, clock = write_ecp5_pll(out_dir, clock_mhz or DEFAULT_CLOCK_MHZ, phase1_deg=SDRAM_CLOCK_PHASE)
    config = core_config(axi.data_w, axi.id_w, clock)
    init = generate_core(Path(core_dir) if core_dir else out_dir / "litedram", config)
    core = out_dir / "litedram_core.v"
    shutil.copyfile(init["verilog"], core)
    files = [pll, core]
    for name in ("litedram_init.v", "uart_stream_bridge.v"):
        shutil.copyfile(BOARDS_DIR / name, out_dir / name)
        files.append(out_dir / name)
    lpf = out_dir / "ulx3s_85f_sdram.lpf"
    lpf.write_text((BOARDS_DIR / "ulx3s_85f.lpf").read_text() + "\n" + (BOARDS_DIR / "ulx3s_sdram.lpf").read_text())
    top = out_dir / "ulx3s_top.v"
    top.write_text(ulx3s_litedram_top_verilog(ports, axi, init_sequencer_params(init_writes(init)), clock, baud))
    files.append(top)
    return {"board": "ulx3s-85f", "part": "LFE5U-85F", "top": "ulx3s_top", "clock_mhz": clock, "baud": baud,
            "files": [str(f) for f in files], "constraints": str(lpf), "stream": ports.__dict__,
            "litedram": {"config": config, "sdram_bytes": SDRAM_BYTES, "axi": axi.__dict__}}
