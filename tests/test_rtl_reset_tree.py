"""The generated top's reset tree: one registered reset per instance, not merged back into one by Yosys."""
from __future__ import annotations

import pytest

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.rtl import verilog as v
from pleiades_fpga.hw.rtl.generate import _reset_tree
from pleiades_fpga.hw.rtl.lint import verilator_lint, yosys_synth

COUNTER = """`timescale 1ns/1ps
`default_nettype none
module cnt4 (input wire clk, input wire rst, output reg [3:0] q);
    always @(posedge clk) begin
        if (rst) q <= 4'd0;
        else q <= q + 4'd1;
    end
endmodule
`default_nettype wire
"""


def _top(tmp_path, keep: bool = True):
    insts = [v.instance("cnt4", f"u_c{i}", {"clk": "clk", "rst": "rst", "q": f"q{i}"}) for i in range(3)]
    decls, insts = _reset_tree(insts)
    if not keep:
        decls = [d.replace("(* keep *) ", "") for d in decls]
    body = [*decls, *(v.wire(f"q{i}", 4) for i in range(3)), *insts,
            "    assign y = {q0, q1, q2} & {12{!rst_in_reg}};"]
    text = v.module("tree_top", [*v.clock_reset(), v.Port("y", "output", 12)], body)
    (tmp_path / "cnt4.v").write_text(COUNTER)
    (tmp_path / "tree_top.v").write_text(text)
    return text, [tmp_path / "cnt4.v", tmp_path / "tree_top.v"]


def test_each_instance_gets_its_own_reset_register(tmp_path):
    text, srcs = _top(tmp_path)
    for i in range(3):
        assert f".rst(rst_u_c{i}_reg)" in text and f"rst_u_c{i}_reg <= rst;" in text
    assert ".rst(rst)" not in text
    lint = verilator_lint("tree_top", srcs)
    assert lint.ok, "\n".join(lint.messages)


def test_yosys_keeps_the_replicated_reset_registers(tmp_path):
    _, srcs = _top(tmp_path)
    ffs = yosys_synth("tree_top", srcs, target="ecp5").cells.get("TRELLIS_FF", 0)
    assert ffs == 3 * 4 + 3 + 1          # three counters, three instance resets, rst_in_reg
    _, srcs = _top(tmp_path, keep=False)  # the check can fail: without keep Yosys merges the identical registers
    assert yosys_synth("tree_top", srcs, target="ecp5").cells.get("TRELLIS_FF", 0) < 3 * 4 + 3 + 1


def test_instance_without_a_reset_connection_is_an_internal_error():
    with pytest.raises(PleiadesError, match="one .rst"):
        _reset_tree([v.instance("cnt4", "u_c0", {"clk": "clk", "q": "q0"})])
