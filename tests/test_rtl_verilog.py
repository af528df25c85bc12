"""The Verilog emitter (pleiades_fpga.hw.rtl.verilog): what it writes lints clean and bad names are refused."""
from __future__ import annotations

import pytest

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.rtl import verilog as v
from pleiades_fpga.hw.rtl.lint import verilator_lint


def test_emitted_wrapper_lints_clean(tmp_path):
    """A pass-through register stage and a wrapper that instantiates it twice, chained by a stream of wires."""
    stage = v.module("stage", v.layer_ports(5, 5), [
        "    reg [4:0] d_reg;", "    reg v_reg, l_reg;",
        "    assign s_axis_tready = !v_reg || m_axis_tready;",
        "    always @(posedge clk) begin",
        "        if (rst) v_reg <= 1'b0;",
        "        else if (s_axis_tready) begin v_reg <= s_axis_tvalid; d_reg <= s_axis_tdata; l_reg <= s_axis_tlast; end",
        "    end",
        "    assign m_axis_tdata = d_reg;", "    assign m_axis_tvalid = v_reg;", "    assign m_axis_tlast = l_reg;"],
        comment="stage: one register stage")
    conns = {"clk": "clk", "rst": "rst"}
    top = v.module("top", v.layer_ports(5, 5), [
        *v.stream_wires("mid", 5),
        v.instance("stage", "u_a", {**conns, **v.stream_connections("s_axis", "s_axis"),
                                    **v.stream_connections("m_axis", "mid")}),
        v.instance("stage", "u_b", {**conns, **v.stream_connections("s_axis", "mid"),
                                    **v.stream_connections("m_axis", "m_axis")})])
    assert top.startswith("`timescale 1ns/1ps\n`default_nettype none\n") and top.endswith("`default_nettype wire\n")
    assert "    input  wire [4:0] s_axis_tdata," in top and "    output wire m_axis_tlast\n);" in top
    assert ".s_axis_tdata(mid_tdata)" in top and "wire [4:0] mid_tdata;" in top
    (tmp_path / "stage.v").write_text(stage)
    (tmp_path / "top.v").write_text(top)
    rep = verilator_lint("top", [tmp_path / "stage.v", tmp_path / "top.v"])
    assert rep.ok, "\n".join(rep.messages)


def test_instance_parameters_in_order():
    text = v.instance("requant", "u_rq", {"acc": "a", "y": "y"}, {"ACC_W": 8, "M_W": 1, "S_W": "4"})
    assert text.startswith("    requant #(.ACC_W(8), .M_W(1), .S_W(4)) u_rq (")


@pytest.mark.parametrize("bad", ["1abc", "a-b", "", "a b"])
def test_bad_names_are_refused(bad):
    with pytest.raises(PleiadesError, match="not a Verilog identifier"):
        v.module(bad, v.layer_ports(1, 1), [])
    with pytest.raises(PleiadesError, match="not a Verilog identifier"):
        v.instance("stage", bad, {})


def test_zero_width_is_refused():
    with pytest.raises(PleiadesError, match="width >= 1"):
        v.wire("w", 0)
