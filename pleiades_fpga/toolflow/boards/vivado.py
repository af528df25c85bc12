"""Generate a Vivado batch script (build_vivado.tcl) for the PYNQ-Z2 board wrapper around the network.

A design with external memory (manifest ``external_memory``, docs/EXTERNAL_MEMORY.md "PYNQ-Z2") gets a board top
whose network AXI4 master reaches the PS DDR: the script builds a block design ``pleiades_ps`` (Zynq PS with
S_AXI_HP0 enabled, 64-bit, behind an AXI SmartConnect that converts AXI4 to the port's AXI3 and the width) whose
wrapper the board top instantiates; the PS's FCLK_CLK0 clocks the design.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from pleiades_fpga.artifacts import write_text_atomic
from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.rtl.verilog import instance, wire
from pleiades_fpga.toolflow.boards import BOARDS_DIR
from pleiades_fpga.toolflow.boards.wrapper import StreamPorts, _bridge, _reset_and_leds, write_board

PART = "xc7z020clg400-1"
#: block design of the PS side (external memory); Vivado's wrapper of it is ``<PS_BLOCK>_wrapper``
PS_BLOCK = "pleiades_ps"
#: default DDR window of the external regions: the top 32 MB of the PYNQ-Z2's 512 MB, kept from Linux by a
#: reserved-memory node or ``mem=480M`` (docs/EXTERNAL_MEMORY.md "PYNQ-Z2")
DDR_BYTES = 512 << 20
DEFAULT_DDR_BASE = 0x1E00_0000
DEFAULT_DDR_WINDOW = 32 << 20
#: AXI4 signals the block design's S_AXI port has (no lock/cache/prot/qos/region: SmartConnect uses defaults)
PS_AXI_SIGNALS = ("awid", "awaddr", "awlen", "awsize", "awburst", "awvalid", "awready", "wdata", "wstrb", "wlast",
                  "wvalid", "wready", "bid", "bresp", "bvalid", "bready", "arid", "araddr", "arlen", "arsize",
                  "arburst", "arvalid", "arready", "rid", "rdata", "rresp", "rlast", "rvalid", "rready")
#: the PS pins of the block design wrapper (interfaces DDR and FIXED_IO made external): (name, bits), all inout
PS_PINS = (("DDR_addr", 15), ("DDR_ba", 3), ("DDR_cas_n", 1), ("DDR_ck_n", 1), ("DDR_ck_p", 1), ("DDR_cke", 1),
           ("DDR_cs_n", 1), ("DDR_dm", 4), ("DDR_dq", 32), ("DDR_dqs_n", 4), ("DDR_dqs_p", 4), ("DDR_odt", 1),
           ("DDR_ras_n", 1), ("DDR_reset_n", 1), ("DDR_we_n", 1), ("FIXED_IO_ddr_vrn", 1), ("FIXED_IO_ddr_vrp", 1),
           ("FIXED_IO_mio", 54), ("FIXED_IO_ps_clk", 1), ("FIXED_IO_ps_porb", 1), ("FIXED_IO_ps_srstb", 1))


def _tcl_word(text: str) -> str:
    """Quote a path as one Tcl word (braces), refusing characters that would break it."""
    if any(ch in text for ch in "{}\\\n"):
        raise PleiadesError(f"path {text!r} contains characters Tcl cannot brace-quote; move the build")
    return "{" + text + "}"


def vivado_settings(part: str, top: str, sources: list[Path], xdc: list[Path], out: Path, jobs: int = 4) -> str:
    """The variable block that the project body (vivado_project.tcl) expects."""
    srcs = " ".join(_tcl_word(str(Path(s).resolve())) for s in sources)
    xdcs = " ".join(_tcl_word(str(Path(x).resolve())) for x in xdc)
    return (f"set pl_part {_tcl_word(part)}\nset pl_top {_tcl_word(top)}\n"
            f"set pl_sources [list {srcs}]\nset pl_xdc [list {xdcs}]\n"
            f"set pl_out {_tcl_word(str(Path(out).resolve()))}\nset pl_jobs {int(jobs)}\n")


@dataclass(frozen=True)
class PsMemory:
    """The network's AXI4 master (manifest ``external_memory``) and where its regions live in the PS DDR."""

    port: str                       # the network's signal prefix ("m_axi")
    error_port: str                 # its sticky AXI error output ("axi_error")
    data_w: int
    id_w: int
    addr_w: int
    region_bytes: int
    signals: tuple[tuple[str, int], ...]   # (signal after the prefix, bits)
    ddr_base: int = DEFAULT_DDR_BASE
    ddr_window: int = DEFAULT_DDR_WINDOW

    @classmethod
    def from_manifest(cls, manifest: dict, ddr_base: int = DEFAULT_DDR_BASE,
                      ddr_window: int = DEFAULT_DDR_WINDOW) -> "PsMemory":
        """Read the port from the manifest; refuse what the HP port path or the DDR window cannot serve."""
        ext = manifest["external_memory"]
        try:
            port = str(ext["port"])
            mem = cls(port=port, error_port=str(ext["error_port"]), data_w=int(ext["data_bits"]),
                      id_w=int(ext["id_bits"]), addr_w=int(ext["addr_bits"]), region_bytes=int(ext["region_bytes"]),
                      signals=tuple((str(s["name"])[len(port) + 1:], int(s["bits"])) for s in ext["signals"]),
                      ddr_base=ddr_base, ddr_window=ddr_window)
        except (KeyError, TypeError, ValueError) as exc:
            raise PleiadesError(f"manifest external_memory lacks a field the PYNQ-Z2 top needs: {exc!r}; rebuild the "
                                "design (docs/EXTERNAL_MEMORY.md)") from exc
        if ext.get("protocol") != "AXI4":
            raise PleiadesError(f"external memory protocol {ext.get('protocol')!r}: the PYNQ-Z2 path expects AXI4")
        missing = sorted(set(PS_AXI_SIGNALS) - {s for s, _ in mem.signals})
        if missing:
            raise PleiadesError(f"the network's {port}_* port lacks {', '.join(missing)}; rebuild the design")
        if not 8 <= mem.data_w <= 64 or mem.data_w & (mem.data_w - 1):
            raise PleiadesError(f"AXI data width {mem.data_w}: the PYNQ-Z2 HP port path takes 8..64-bit powers of two "
                                "(build with --axi-data-bits 64 or less)")
        win = mem.ddr_window
        if win < 4096 or win & (win - 1) or mem.ddr_base % win or mem.ddr_base + win > DDR_BYTES:
            raise PleiadesError(f"DDR window 0x{mem.ddr_base:x} + 0x{win:x}: it must be a power of two >= 4 KB, aligned "
                                f"to its size and inside the PYNQ-Z2's {DDR_BYTES >> 20} MB DDR")
        if mem.region_bytes > win:
            raise PleiadesError(f"the external regions need {mem.region_bytes:,} bytes, more than the reserved DDR "
                                f"window of {win:,}: reserve a larger window (ddr_window, and the same in Linux) or keep "
                                "more buffers on chip (folding JSON 'memory': 'onchip')")
        return mem

    @property
    def window_bits(self) -> int:
        """Address bits inside the window (the network's regions are its offsets 0 .. region_bytes)."""
        return self.ddr_window.bit_length() - 1


def _ps_address(mem: PsMemory, sig: str) -> str:
    """The PS-side address: the window base in the upper bits, the network's address (EXT_BASE_ADDR = 0: its
    regions' offsets, all below the window size) in the lower ones. Pure wiring."""
    low = min(mem.window_bits, mem.addr_w)
    upper = mem.ddr_base >> low
    return f"{{{32 - low}'h{upper:x}, axi_{sig}[{low - 1}:0]}}"


def pynq_z2_ps_top_verilog(ports: StreamPorts, mem: PsMemory, fclk_mhz: float, baud: int = 115200) -> str:
    """Verilog of ``pynq_z2_top`` for a network with external memory (module docstring)."""
    wires = [wire(f"axi_{sig}", bits) for sig, bits in mem.signals]
    net = {f"{mem.port}_{sig}": f"axi_{sig}" for sig, _ in mem.signals}
    net[mem.error_port] = "net_axi_error"
    ps = {name: name for name, _ in PS_PINS}
    for sig in PS_AXI_SIGNALS:
        ps[f"S_AXI_{sig}"] = _ps_address(mem, sig) if sig in ("awaddr", "araddr") else f"axi_{sig}"
    ps.update({"fclk": "clk", "fclk_resetn": "fclk_resetn", "aresetn": "!rst"})
    pins = ",\n".join(f"    inout  wire {f'[{w - 1}:0] ' if w > 1 else ''}{n}" for n, w in PS_PINS)
    low = min(mem.window_bits, mem.addr_w)
    if mem.addr_w > low:     # the network's addresses stay below the window (checked): its upper bits are zero
        wires.append(wire("unused_addr", value=f"&{{1'b0, axi_awaddr[{mem.addr_w - 1}:{low}], "
                                                f"axi_araddr[{mem.addr_w - 1}:{low}]}}"))
    return f"""`timescale 1ns/1ps
`default_nettype none
// pynq_z2_top: generated by pleiades-fpga. PYNQ-Z2 board top around the network `{ports.top}`, whose AXI4 master
// ({mem.port}_*: {mem.data_w}-bit data, {mem.id_w}-bit IDs, its regions at offsets 0 .. {mem.region_bytes:,} bytes
// with EXT_BASE_ADDR = 0) reaches the PS DDR through the block design {PS_BLOCK} (Zynq PS, S_AXI_HP0 64-bit, AXI
// SmartConnect): PS address = 0x{mem.ddr_base:08x} + offset (the upper address bits are the reserved window's, a
// {mem.ddr_window >> 20} MB window the Linux kernel must not use). Clock: the PS's FCLK_CLK0 ({fclk_mhz:g} MHz);
// reset = BTN0, power-on, or the PS's FCLK_RESET0_N. UART {baud} baud 8N1 on Pmod JA (JA1 = rx from host,
// JA2 = tx to host): {(ports.in_width + 7) // 8} byte(s) per input pixel (LSB first), {ports.frame_pixels} pixels
// per frame, {(ports.out_width + 7) // 8} byte(s) per output vector (LSB first). LEDs: 0 = heartbeat, 1/2 = toggle
// per input frame / output vector, 3 = the network saw an AXI error response. docs/EXTERNAL_MEMORY.md "PYNQ-Z2".
module pynq_z2_top (
    input  wire       btn0,
    input  wire       uart_rx,
    output wire       uart_tx,
    output wire [3:0] led,
{pins}
);
    wire clk, fclk_resetn, net_axi_error;
    wire uart_rx_i = uart_rx;
    wire uart_tx_o;
    assign uart_tx = uart_tx_o;
{chr(10).join(wires)}
{_reset_and_leds('clk', 'btn0', 'fclk_resetn', 4, ('net_axi_error',))}
{instance(f"{PS_BLOCK}_wrapper", "u_ps", ps)}
{_bridge(ports, int(round(fclk_mhz * 1e6)), baud, 'clk', 'rst', net)}
endmodule
`default_nettype wire
"""


def ps_settings(mem: PsMemory, fclk_mhz: float) -> str:
    """The Tcl variables of the block design section of vivado_project.tcl."""
    return (f"set pl_ps_block {PS_BLOCK}\nset pl_axi_data_bits {mem.data_w}\nset pl_axi_id_bits {mem.id_w}\n"
            f"set pl_fclk_mhz {fclk_mhz:g}\nset pl_ddr_base 0x{mem.ddr_base:08x}\n"
            f"set pl_ddr_window 0x{mem.ddr_window:08x}\n")


def _write_ps_board(manifest: dict, out_dir: Path, clock_mhz: float | None, baud: int,
                    ddr_base: int, ddr_window: int) -> tuple[dict, str]:
    """Board files of a design with external memory; returns the board summary and the Tcl block-design settings."""
    ports, mem = StreamPorts.from_manifest(manifest), PsMemory.from_manifest(manifest, ddr_base, ddr_window)
    fclk = float(clock_mhz or manifest.get("clock_mhz_target") or 100.0)
    if not 10.0 <= fclk <= 250.0:
        raise PleiadesError(f"FCLK_CLK0 of {fclk:g} MHz: the Zynq PS makes 10 .. 250 MHz for the fabric; choose "
                            "--clock-mhz in that range")
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for name in ("uart_stream_bridge.v", "pynq_z2.xdc"):
        shutil.copyfile(BOARDS_DIR / name, out_dir / name)
        files.append(out_dir / name)
    top = out_dir / "pynq_z2_top.v"
    write_text_atomic(top, pynq_z2_ps_top_verilog(ports, mem, fclk, baud))
    info = {"board": "pynq-z2", "part": "xc7z020", "top": "pynq_z2_top", "clock_mhz": fclk, "baud": baud,
            "files": [str(files[0]), str(top)], "constraints": [str(files[1])], "stream": ports.__dict__}
    return info, ps_settings(mem, fclk)


def write_vivado_project(manifest: dict, build_dir: Path | str, clock_mhz: float | None = None,
                         baud: int = 115200, ddr_base: int = DEFAULT_DDR_BASE,
                         ddr_window: int = DEFAULT_DDR_WINDOW) -> Path:
    """Write board/pynq-z2/{pynq_z2_top.v, uart_stream_bridge.v, *.xdc, build_vivado.tcl}; return the Tcl path.

    Run it on a machine with Vivado: ``vivado -mode batch -source build/NAME/board/pynq-z2/build_vivado.tcl``;
    it writes the project, utilization/timing/power reports and ``pynq_z2_top.bit`` under ``vivado/``. With
    external memory (manifest ``external_memory``) the regions live in the DDR window ``ddr_base`` ..
    ``ddr_base + ddr_window`` and the clock is the PS's FCLK_CLK0 at ``clock_mhz``.
    """
    build_dir = Path(build_dir)
    out_dir = build_dir / "board" / "pynq-z2"
    rtl = [build_dir / f for f in manifest["rtl_files"]]
    missing = [str(f) for f in rtl if not f.exists()]
    if missing:
        raise PleiadesError(f"RTL files listed in manifest.json are missing: {', '.join(missing)}")
    if manifest.get("external_memory"):
        info, ps = _write_ps_board(manifest, out_dir, clock_mhz, baud, ddr_base, ddr_window)
        xdc = [Path(p) for p in info["constraints"]]
        clock_note = f"FCLK_CLK0 {info['clock_mhz']:g} MHz, external memory in PS DDR at 0x{ddr_base:08x}"
    else:
        info = write_board("pynq-z2", manifest, out_dir, clock_mhz=clock_mhz, baud=baud)
        shutil.copyfile(BOARDS_DIR / "pynq_z2_sysclk.xdc", out_dir / "pynq_z2_sysclk.xdc")
        xdc, ps = [out_dir / "pynq_z2_sysclk.xdc", Path(info["constraints"])], ""
        clock_note = f"clock {info['clock_mhz']:.3f} MHz"
    sources = rtl + [Path(f) for f in info["files"]]
    body = (BOARDS_DIR / "vivado_project.tcl").read_text()
    header = (f"# build_vivado.tcl: generated by pleiades-fpga for {manifest.get('name')} on PYNQ-Z2 "
              f"({PART}), {clock_note}.\n# Usage: vivado -mode batch -source build_vivado.tcl\n")
    tcl = out_dir / "build_vivado.tcl"
    write_text_atomic(tcl, header + vivado_settings(PART, info["top"], sources, xdc, out_dir / "vivado") + ps + "\n"
                      + body)
    return tcl
