"""Generate board top modules around the network: clock (+PLL/MMCM), reset, UART stream bridge, LEDs.

The network top must have the streaming ports of every layer template:
``clk, rst`` (active high, synchronous), ``s_axis_tdata/tvalid/tready/tlast`` (one pixel per beat) and
``m_axis_tdata/tvalid/tready/tlast`` (one logits vector per frame). Widths come from manifest.json:
input width = channels x bits, output width = channels x bits, frame = height x width pixels.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.rtl.verilog import instance, stream_connections, stream_wires, wire
from pleiades_fpga.toolflow.boards import BOARDS_DIR
from pleiades_fpga.toolflow.locate import find_tool
from pleiades_fpga.toolflow.parts import Part, get_part
from pleiades_fpga.toolflow.toolrun import yowasp_mounts

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class StreamPorts:
    """What the board wrapper needs to know about the network top."""

    top: str
    in_width: int
    out_width: int
    frame_pixels: int

    @classmethod
    def from_manifest(cls, manifest: dict) -> "StreamPorts":
        """Read top name, stream widths and pixels per frame from a manifest dictionary."""
        try:
            inp, out = manifest["input"], manifest["output"]
            ports = cls(top=str(manifest["top"]),
                        in_width=int(inp["channels"]) * int(inp["bits"]),
                        out_width=int(out["channels"]) * int(out["bits"]),
                        frame_pixels=int(inp["height"]) * int(inp["width"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise PleiadesError(f"manifest.json lacks a field the board wrapper needs: {exc!r}; "
                                "see docs/ARCHITECTURE.md 'Build directory'") from exc
        if not _IDENT.match(ports.top):
            raise PleiadesError(f"manifest top {ports.top!r} is not a Verilog module name")
        if min(ports.in_width, ports.out_width, ports.frame_pixels) < 1:
            raise PleiadesError(f"bad stream shape in manifest: {ports}")
        return ports


@dataclass(frozen=True)
class Board:
    """A supported board: part, board top name, oscillator, constraint file."""

    name: str
    part: str
    top: str
    osc_mhz: float
    constraints: str


BOARDS = {
    "ulx3s-85f": Board("ulx3s-85f", "LFE5U-85F", "ulx3s_top", 25.0, "ulx3s_85f.lpf"),
    "pynq-z2": Board("pynq-z2", "xc7z020", "pynq_z2_top", 125.0, "pynq_z2.xdc"),
}


def get_board(name: str) -> Board:
    """Board by name (``ulx3s-85f``, ``pynq-z2``; part names of these boards work too)."""
    key = name.strip().lower()
    if key in BOARDS:
        return BOARDS[key]
    for board in BOARDS.values():
        if get_part(board.part) is _maybe_part(key):
            return board
    raise PleiadesError(f"no board wrapper for {name!r}; supported boards: {', '.join(BOARDS)}")


def _maybe_part(key: str) -> Part | None:
    try:
        return get_part(key)
    except PleiadesError:
        return None


def _core_instance(ports: StreamPorts, clk: str, rst: str, extra: dict[str, str] | None = None) -> str:
    return instance(ports.top, "u_net", {"clk": clk, "rst": rst, **stream_connections("s_axis", "in"),
                                         **stream_connections("m_axis", "out"), **(extra or {})})


def _bridge(ports: StreamPorts, clk_hz: int, baud: int, clk: str, rst: str,
            net_extra: dict[str, str] | None = None) -> str:
    """UART bridge + network instance (``net_extra``: more network port connections, e.g. its AXI master)."""
    bridge = instance("pleiades_uart_bridge", "u_bridge", {
        "clk": clk, "rst": rst, "uart_rx": "uart_rx_i", "uart_tx": "uart_tx_o", **stream_connections("m_axis", "in"),
        **stream_connections("s_axis", "out"), "frame_in_toggle": "frame_in_toggle",
        "frame_out_toggle": "frame_out_toggle"},
        {"CLK_HZ": clk_hz, "BAUD": baud, "IN_W": ports.in_width, "OUT_W": ports.out_width,
         "FRAME_PIXELS": ports.frame_pixels})
    return "\n".join([*stream_wires("in", ports.in_width), *stream_wires("out", ports.out_width),
                      wire("frame_in_toggle"), wire("frame_out_toggle"), bridge,
                      _core_instance(ports, clk, rst, net_extra)])


def _reset_and_leds(clk: str, btn: str, locked: str, n_leds: int, status: tuple[str, ...] = ()) -> str:
    """Power-on/button reset held while ``locked`` is low, and the LEDs: heartbeat, input and output frame
    toggles, then the ``status`` signals (LED 3, 4, ...)."""
    lights = [*reversed(status), "frame_out_toggle", "frame_in_toggle", "heartbeat[25]"]
    if n_leds > len(lights):
        lights.insert(0, "{" + str(n_leds - len(lights)) + "{1'b0}}")
    return f"""    // power-on reset (16 cycles after the clock is stable) or the button; the network's reset comes from a
    // register (rst_reg), not from logic: it fans out to every layer across the chip
    reg [4:0] por = 5'd0;
    reg [1:0] btn_sync = 2'b00;
    reg rst_reg = 1'b1;
    always @(posedge {clk}) begin
        btn_sync <= {{btn_sync[0], {btn}}};
        if (!{locked}) por <= 5'd0;
        else if (!por[4]) por <= por + 1'b1;
        rst_reg <= !por[4] || btn_sync[1];
    end
    wire rst = rst_reg;
    reg [25:0] heartbeat = 26'd0;
    always @(posedge {clk}) heartbeat <= heartbeat + 1'b1;
    assign led = {{{", ".join(lights)}}};"""


def ulx3s_top_verilog(ports: StreamPorts, clock_mhz: float = 25.0, baud: int = 115200,
                      pll_module: str | None = None) -> str:
    """Verilog of ``ulx3s_top``: 25 MHz oscillator (or a PLL output), FIRE1 = reset, FTDI UART, 8 LEDs."""
    clk_hz = int(round(clock_mhz * 1e6))
    if pll_module:
        clock = f"""    wire clk, locked;
    {pll_module} u_pll (.clkin(clk_25mhz), .clkout0(clk), .locked(locked));"""
    else:
        clock = "    wire clk = clk_25mhz;\n    wire locked = 1'b1;"
    return f"""`timescale 1ns/1ps
`default_nettype none
// ulx3s_top: generated by pleiades-fpga. ULX3S 85F board wrapper around the network `{ports.top}`.
// Clock {clock_mhz:g} MHz ({'PLL from' if pll_module else 'the'} 25 MHz oscillator), reset = button FIRE1 or power-on,
// UART {baud} baud 8N1 on the FTDI port: {(ports.in_width + 7) // 8} byte(s) per input pixel (LSB first),
// {ports.frame_pixels} pixels per frame, {(ports.out_width + 7) // 8} byte(s) per output vector (LSB first).
// LEDs: 0 = heartbeat, 1 = toggles per input frame, 2 = toggles per output vector. Protocol: docs/BOARDS.md.
module ulx3s_top (
    input  wire       clk_25mhz,
    input  wire       ftdi_txd,
    output wire       ftdi_rxd,
    input  wire       btn_fire1,
    output wire [7:0] led
);
{clock}
    wire uart_rx_i = ftdi_txd;
    wire uart_tx_o;
    assign ftdi_rxd = uart_tx_o;
{_reset_and_leds('clk', 'btn_fire1', 'locked', 8)}
{_bridge(ports, clk_hz, baud, 'clk', 'rst')}
endmodule
`default_nettype wire
"""


def mmcm_divider(clock_mhz: float, osc_mhz: float = 125.0) -> tuple[float, float]:
    """(CLKFBOUT_MULT_F, CLKOUT0_DIVIDE_F) for a 7-series MMCM: VCO = 1000 MHz, output = 1000 / divide."""
    mult = 1000.0 / osc_mhz
    divide = round(1000.0 / clock_mhz * 8) / 8          # 0.125 steps
    if not 2.0 <= divide <= 128.0:
        raise PleiadesError(f"clock {clock_mhz} MHz out of MMCM range (7.8 .. 500 MHz)")
    return mult, divide


def pynq_z2_top_verilog(ports: StreamPorts, clock_mhz: float = 100.0, baud: int = 115200) -> str:
    """Verilog of ``pynq_z2_top``: MMCM from the 125 MHz clock, BTN0 = reset, UART on Pmod JA, 4 LEDs."""
    mult, divide = mmcm_divider(clock_mhz)
    actual = 1000.0 / divide
    return f"""`timescale 1ns/1ps
`default_nettype none
// pynq_z2_top: generated by pleiades-fpga. PYNQ-Z2 board wrapper around the network `{ports.top}`.
// Clock {actual:.3f} MHz (MMCM from the 125 MHz sysclk), reset = BTN0 or power-on,
// UART {baud} baud 8N1 on Pmod JA (JA1 = rx from host, JA2 = tx to host; 3.3 V USB-UART adapter):
// {(ports.in_width + 7) // 8} byte(s) per input pixel (LSB first), {ports.frame_pixels} pixels per frame,
// {(ports.out_width + 7) // 8} byte(s) per output vector (LSB first). Protocol: docs/BOARDS.md.
module pynq_z2_top (
    input  wire       sysclk,
    input  wire       btn0,
    input  wire       uart_rx,
    output wire       uart_tx,
    output wire [3:0] led
);
    wire clk_fb, clk_mmcm, clk, locked;
    MMCME2_BASE #(
        .CLKIN1_PERIOD(8.000), .CLKFBOUT_MULT_F({mult:.3f}), .DIVCLK_DIVIDE(1), .CLKOUT0_DIVIDE_F({divide:.3f})
    ) u_mmcm (
        .CLKIN1(sysclk), .CLKFBIN(clk_fb), .CLKFBOUT(clk_fb), .CLKOUT0(clk_mmcm), .LOCKED(locked),
        .PWRDWN(1'b0), .RST(1'b0),
        .CLKFBOUTB(), .CLKOUT0B(), .CLKOUT1(), .CLKOUT1B(), .CLKOUT2(), .CLKOUT2B(), .CLKOUT3(), .CLKOUT3B(),
        .CLKOUT4(), .CLKOUT5(), .CLKOUT6()
    );
    BUFG u_bufg (.I(clk_mmcm), .O(clk));
    wire uart_rx_i = uart_rx;
    wire uart_tx_o;
    assign uart_tx = uart_tx_o;
{_reset_and_leds('clk', 'btn0', 'locked', 4)}
{_bridge(ports, int(round(actual * 1e6)), baud, 'clk', 'rst')}
endmodule
`default_nettype wire
"""


ECP5_PLL_MHZ = (10.0, 400.0)   # EHXPLLL output range (ecppll's limits)


def write_ecp5_pll(out_dir: Path, clock_mhz: float, module: str = "pleiades_pll",
                   phase1_deg: float | None = None) -> tuple[Path, float]:
    """Generate a PLL module (25 MHz in -> ``clock_mhz`` out) with ecppll; return (file, achieved MHz: the nearest
    clock the dividers make, which the wrapper and the timing constraint use). ``phase1_deg``: also output
    ``clkout1``, the same clock shifted by that phase (an SDRAM clock)."""
    lo, hi = ECP5_PLL_MHZ
    if not lo <= clock_mhz <= hi:
        raise PleiadesError(f"--clock-mhz {clock_mhz:g} is outside what the ECP5 PLL makes ({lo:g} .. {hi:g} MHz); "
                            "choose a clock in that range (at most the fmax place and route reports)")
    path = Path(out_dir).resolve() / f"{module}.v"
    cmd = [find_tool("yowasp-ecppll"), "-n", module, "-i", "25", "-o", f"{clock_mhz:g}", "-f", str(path)]
    if phase1_deg is not None:
        cmd += ["--clkout1", f"{clock_mhz:g}", "--phase1", f"{phase1_deg:g}"]
    env = dict(os.environ, YOWASP_MOUNT=yowasp_mounts([path.parent]))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    if proc.returncode != 0 or not path.exists():
        raise PleiadesError(f"ecppll could not make a {clock_mhz} MHz clock: {proc.stderr.strip()[-300:]}")
    achieved = clock_mhz
    m = re.search(r"clkout0 frequency:\s*([0-9.]+)", proc.stdout + proc.stderr)
    if m:
        achieved = float(m.group(1))
    text = path.read_text()
    # ecppll names the ports clkin/clkout0/locked; make them what ulx3s_top instantiates.
    for port in ("clkin", "clkout0", "locked", *(("clkout1",) if phase1_deg is not None else ())):
        if not re.search(rf"\b{port}\b", text):
            raise PleiadesError(f"ecppll output {path} has no port {port!r}; cannot wire the PLL")
    return path, achieved


def write_board(board_name: str, manifest: dict, out_dir: Path | str, clock_mhz: float | None = None,
                baud: int = 115200) -> dict:
    """Write the board top (+PLL), copy the bridge and constraints into ``out_dir``; return a file summary.

    ULX3S: runs the network from the 25 MHz oscillator unless ``clock_mhz`` asks for a PLL.
    PYNQ-Z2: an MMCM makes ``clock_mhz`` (default: manifest ``clock_mhz_target`` or 100 MHz).
    """
    board = get_board(board_name)
    ports = StreamPorts.from_manifest(manifest)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    bridge = out_dir / "uart_stream_bridge.v"
    shutil.copyfile(BOARDS_DIR / "uart_stream_bridge.v", bridge)
    constraints = out_dir / board.constraints
    shutil.copyfile(BOARDS_DIR / board.constraints, constraints)
    files = [bridge]
    if board.name == "ulx3s-85f":
        pll = None
        clock = clock_mhz or board.osc_mhz
        if abs(clock - board.osc_mhz) > 1e-6:
            pll_path, clock = write_ecp5_pll(out_dir, clock)
            files.append(pll_path)
            pll = "pleiades_pll"
        text = ulx3s_top_verilog(ports, clock, baud, pll)
    else:
        clock = clock_mhz or float(manifest.get("clock_mhz_target") or 100.0)
        clock = 1000.0 / mmcm_divider(clock)[1]
        text = pynq_z2_top_verilog(ports, clock, baud)
    top = out_dir / f"{board.top}.v"
    top.write_text(text)
    files.append(top)
    return {"board": board.name, "part": board.part, "top": board.top, "clock_mhz": clock,
            "baud": baud, "files": [str(f) for f in files], "constraints": str(constraints),
            "stream": ports.__dict__}
