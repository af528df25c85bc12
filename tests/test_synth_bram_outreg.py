"""ECP5 block-RAM output registers (toolflow.bram_outreg): which read ports take their register, what the netlist
becomes, and what nextpnr measures on a design whose critical path is a block-RAM read."""
import copy
import json
from pathlib import Path

import pytest

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.rtl.lint import template_sources
from pleiades_fpga.toolflow import synth as synth_mod
from pleiades_fpga.toolflow.bram_outreg import absorb_in_file, absorb_output_registers
from pleiades_fpga.toolflow.parts import get_part
from pleiades_fpga.toolflow.pnr import run_nextpnr
from pleiades_fpga.toolflow.synth import run_synth

CLK, CE, OTHER_CLK, RST = 2, 3, 4, 5


def _ram(width_a: int = 18, oce: str = "1", rst: str = "0", regmode: str = "NOREG") -> dict:
    """A DP16KD reading on port B (and, in 36-bit pseudo dual-port mode, on DOA too), data on nets 100 + i."""
    conn = {"CLKA": [CLK], "CLKB": [CLK], "CEB": [CE], "OCEA": ["0"], "OCEB": [oce], "RSTB": [rst]}
    dirs = {p: "input" for p in conn}
    for i in range(18):
        conn[f"DOB{i}"], dirs[f"DOB{i}"] = [100 + i], "output"
        conn[f"DOA{i}"], dirs[f"DOA{i}"] = [200 + i], "output"
    return {"type": "DP16KD", "connections": conn, "port_directions": dirs,
            "parameters": {"DATA_WIDTH_A": format(width_a, "032b"), "DATA_WIDTH_B": format(width_a, "032b"),
                           "REGMODE_A": regmode, "REGMODE_B": regmode, "CLKBMUX": "CLKB"}}


def _ff(d: int, q: int, clk: int = CLK, ce: int | str = CE, lsr: int | str = "0", **params: str) -> dict:
    p = {"CEMUX": "CE", "CLKMUX": "CLK", "GSR": "DISABLED", "LSRMUX": "LSR", "REGSET": "RESET", **params}
    return {"type": "TRELLIS_FF", "parameters": p,
            "connections": {"CLK": [clk], "CE": [ce], "DI": [d], "LSR": [lsr], "Q": [q]},
            "port_directions": {"CLK": "input", "CE": "input", "DI": "input", "LSR": "input", "Q": "output"}}


def _netlist(cells: dict) -> dict:
    return {"modules": {"top": {"attributes": {"top": "00000000000000000000000000000001"},
                                "ports": {"o": {"direction": "output", "bits": [900]}}, "cells": cells}}}


def _registered_read(n_bits: int = 16, **ram) -> dict:
    """A block RAM whose first ``n_bits`` DOB outputs each feed one flip-flop (Q on nets 300 + i)."""
    cells = {"ram": _ram(**ram)}
    cells.update({f"ff{i}": _ff(100 + i, 300 + i) for i in range(n_bits)})
    return _netlist(cells)


def test_a_registered_read_takes_the_output_register():
    net = _registered_read(16)
    summary = absorb_output_registers(net)
    cells = net["modules"]["top"]["cells"]
    assert (summary.ports, summary.flip_flops, summary.left) == (1, 16, {})
    assert set(cells) == {"ram"}
    ram = cells["ram"]
    assert ram["parameters"]["REGMODE_B"] == "OUTREG" and ram["parameters"]["REGMODE_A"] == "NOREG"
    assert ram["connections"]["OCEB"] == [CE]
    # each output now drives the net its own flip-flop drove; the unused outputs are untouched
    assert [ram["connections"][f"DOB{i}"] for i in range(18)] == [[300 + i] for i in range(16)] + [[116], [117]]
    # a second run finds the port done and changes nothing
    done = copy.deepcopy(net)
    assert absorb_output_registers(net).ports == 0 and net == done


def test_always_enabled_flip_flops_give_an_always_enabled_output_register():
    net = _registered_read(4)
    cells = net["modules"]["top"]["cells"]
    cells["ram"]["connections"]["CEB"] = ["1"]
    for i in range(4):
        cells[f"ff{i}"]["parameters"]["CEMUX"] = "1"
    assert absorb_output_registers(net).ports == 1
    assert cells["ram"]["connections"]["OCEB"] == ["1"]


def test_an_always_enabled_read_takes_flip_flops_with_an_enable():
    net = _registered_read(4)
    cells = net["modules"]["top"]["cells"]
    cells["ram"]["connections"]["CEB"] = ["1"]
    for i in range(4):
        cells[f"ff{i}"]["connections"]["CE"] = [OTHER_CLK]
    assert absorb_output_registers(net).ports == 1
    assert cells["ram"]["connections"]["OCEB"] == [OTHER_CLK]


def test_pseudo_dual_port_36_bit_read_moves_both_halves():
    cells = {"ram": _ram(width_a=36)}
    cells.update({f"fb{i}": _ff(100 + i, 300 + i) for i in range(18)})
    cells.update({f"fa{i}": _ff(200 + i, 400 + i) for i in range(18)})
    net = _netlist(cells)
    summary = absorb_output_registers(net)
    ram = net["modules"]["top"]["cells"]["ram"]
    assert (summary.ports, summary.flip_flops) == (1, 36)
    assert ram["parameters"]["REGMODE_A"] == ram["parameters"]["REGMODE_B"] == "OUTREG"
    assert ram["connections"]["OCEA"] == ram["connections"]["OCEB"] == [CE]
    assert ram["connections"]["DOA5"] == [405] and ram["connections"]["DOB17"] == [317]
    # in this mode a reset on either port resets the read: left alone
    cells["ram"] = _ram(width_a=36)
    cells["ram"]["connections"]["RSTA"] = [RST]
    cells.update({f"fb{i}": _ff(100 + i, 300 + i) for i in range(18)})
    cells.update({f"fa{i}": _ff(200 + i, 400 + i) for i in range(18)})
    assert absorb_output_registers(net).left == {"port with a reset": 1}


@pytest.mark.parametrize("change, reason", [
    (lambda c: c["ff3"]["connections"].update(LSR=[RST]), "flip-flop with a reset"),
    (lambda c: c["ff3"]["connections"].update(CLK=[OTHER_CLK]), "flip-flop on another clock"),
    (lambda c: c["ff3"]["parameters"].update(CLKMUX="INV"), "flip-flop on another clock"),
    (lambda c: c["ff3"]["parameters"].update(GSR="ENABLED", REGSET="SET"), "flip-flop powering up to 1"),
    (lambda c: c["ff3"]["parameters"].update(CEMUX="INV"), "flip-flop with an inverted clock enable"),
    (lambda c: c["ff3"]["connections"].update(CE=[OTHER_CLK]), "flip-flops with different clock enables"),
    (lambda c: [c[f"ff{i}"]["connections"].update(CE=[OTHER_CLK]) for i in range(8)],
     "flip-flops enabled apart from the read"),
    (lambda c: c.update(lut=_ff(103, 500)), "data used by logic other than one flip-flop"),
    (lambda c: c["ff3"]["connections"].update(DI=[900]) or c["ram"]["connections"].update(DOB3=[900]),
     "data used by logic other than one flip-flop"),                   # also a top-level output
    (lambda c: c["ram"]["connections"].update(RSTB=[RST]), "port with a reset"),
    (lambda c: c["ram"]["connections"].update(OCEB=[CE]), "output enable in use"),
])
def test_a_read_port_that_cannot_take_its_register_is_left_alone(change, reason):
    net = _registered_read(8)
    change(net["modules"]["top"]["cells"])
    before = copy.deepcopy(net)
    summary = absorb_output_registers(net)
    assert (summary.ports, summary.flip_flops, summary.left) == (0, 0, {reason: 1})
    assert net == before


def test_a_netlist_without_one_top_module_is_refused(tmp_path):
    with pytest.raises(PleiadesError, match="0 top modules"):
        absorb_output_registers({"modules": {"a": {"cells": {}}}})
    with pytest.raises(PleiadesError, match="run synthesis first"):
        absorb_in_file(tmp_path / "netlist.json")


READ_BENCH = """
module bram_read_bench (input wire clk, input wire rst, output reg o);
    reg [35:0] lfsr_reg;          // addresses, data and enables from a 36-bit LFSR (three pins in all)
    always @(posedge clk) begin
        if (rst) lfsr_reg <= 36'h1;
        else lfsr_reg <= {lfsr_reg[34:0], lfsr_reg[35] ^ lfsr_reg[24]};
    end
    wire we = lfsr_reg[0], re = lfsr_reg[1];
    wire [9:0] waddr = lfsr_reg[11:2], raddr = lfsr_reg[21:12];
    wire [35:0] wide;
    wire [17:0] narrow;
    wire unused_a, unused_b;
    ram_sdp #(.DATA_W(36), .DEPTH(1024), .OUT_REG(1), .RW_CHECK(0)) u_wide (.clk(clk), .rst(rst),
        .clearing(unused_a), .we(we), .waddr(waddr), .wdata(lfsr_reg), .re(re), .raddr(raddr), .rdata(wide));
    ram_sdp #(.DATA_W(18), .DEPTH(1024), .OUT_REG(1), .RW_CHECK(0)) u_narrow (.clk(clk), .rst(rst),
        .clearing(unused_b), .we(we), .waddr(waddr), .wdata(lfsr_reg[35:18]), .re(re), .raddr(raddr),
        .rdata(narrow));
    reg [18:0] sum_reg;
    reg [17:0] y_reg;
    always @(posedge clk) begin
        sum_reg <= wide[17:0] + wide[35:18];
        y_reg <= narrow;
        o <= ^{sum_reg, y_reg};
    end
endmodule
"""


def test_nextpnr_times_a_registered_block_ram_read_from_the_output_register(tmp_path, monkeypatch):
    """ram_sdp OUT_REG = 1: two 512 x 36 banks and one 1024 x 18 bank, each read into 36 / 18 fabric registers.
    With the pass every one of those registers is in a block RAM, and the design places faster, because the
    read's clock-to-output is no longer the 5.8 ns of the output latch."""
    top = tmp_path / "bram_read_bench.v"
    top.write_text(READ_BENCH)
    files = [top, *template_sources("ram_sdp")]
    part = get_part("LFE5U-25F")
    lpf = tmp_path / "pins.lpf"
    lpf.write_text('LOCATE COMP "clk" SITE "G2";\nIOBUF PORT "clk" IO_TYPE=LVCMOS33;\n'
                   'LOCATE COMP "rst" SITE "R1";\nIOBUF PORT "rst" IO_TYPE=LVCMOS33;\n'
                   'LOCATE COMP "o" SITE "B2";\nIOBUF PORT "o" IO_TYPE=LVCMOS33;\n')
    res = run_synth(files, "bram_read_bench", part, tmp_path / "outreg", progress=False)
    assert res.bram_outreg == {"ports": 3, "flip_flops": 36 + 36 + 18, "left": {}}
    assert json.loads((tmp_path / "outreg" / "bram_outreg.json").read_text()) == res.bram_outreg
    rams = [c for c in json.loads(Path(res.netlist).read_text())["modules"]["bram_read_bench"]["cells"].values()
            if c["type"] == "DP16KD"]
    assert len(rams) == 3 and all(c["parameters"]["REGMODE_B"] == "OUTREG" for c in rams)

    monkeypatch.setattr(synth_mod, "absorb_in_file", lambda path: None)
    plain = run_synth(files, "bram_read_bench", part, tmp_path / "plain", progress=False)
    assert plain.bram_outreg is None

    fast = run_nextpnr(res.netlist, lpf, part, tmp_path / "pnr_outreg", freq_mhz=250, progress=False)
    slow = run_nextpnr(plain.netlist, lpf, part, tmp_path / "pnr_plain", freq_mhz=250, progress=False)

    def first_clk_to_q(out: Path) -> tuple[str, float]:
        report = json.loads((out / "nextpnr_report.json").read_text())
        path = max((p for p in report["critical_paths"] if not p["from"].startswith("<async>")
                    and not p["to"].startswith("<async>")), key=lambda p: sum(s["delay"] for s in p["path"]))
        step = path["path"][0]
        return step["from"]["cell"], step["delay"]

    cell, delay = first_clk_to_q(tmp_path / "pnr_plain")
    assert ".mem." in cell and delay > 5.0, (cell, delay)          # without: a block-RAM read is the critical path
    cell, delay = first_clk_to_q(tmp_path / "pnr_outreg")
    assert delay < 2.0, (cell, delay)
    assert fast.fmax_mhz > 1.25 * slow.fmax_mhz, (fast.fmax_mhz, slow.fmax_mhz)
