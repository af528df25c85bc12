"""cocotb testbench for ``axis_fork`` and ``axis_add`` (two independent DUTs in one wrapper).

Wrapper ``fork_add_top`` (:func:`fork_add_top_verilog`): ports ``fork_in`` -> axis_fork ->
``fork_a`` / ``fork_b``, and ``add_a`` + ``add_b`` -> axis_add -> ``add_out`` (prefixes of
AXI-Stream ports ``<prefix>_tdata/_tvalid/_tready/_tlast``).

Vectors: ``fork_frames``, ``add_a_frames``, ``add_b_frames`` (lists of frames of beat words),
``timing_frames`` (how many of the frames, at the end of each list, form the un-paused timed run),
``pause_seed``, ``p_pause``. Results: ``fork_a``, ``fork_b``, ``add_out`` (received frames) and
``fork_done`` / ``add_done`` (cycles at which the last beat of each timed frame left the DUT).
"""
from __future__ import annotations

from collections.abc import Mapping

import cocotb
from cocotb.triggers import ClockCycles

from pleiades_fpga.sim.tb.tb_conv3x3 import CycleCounter, load_vectors, pauses, reset, stream_frames, write_results

TOPLEVEL = "fork_add_top"


def _ports(prefix: str, bits: int, direction_in: bool) -> list[str]:
    d, r = ("input ", "output") if direction_in else ("output", "input ")
    return [f"    {d} wire [{bits - 1}:0] {prefix}_tdata,", f"    {d} wire {prefix}_tvalid,",
            f"    {r} wire {prefix}_tready,", f"    {d} wire {prefix}_tlast,"]


def fork_add_top_verilog(fork_bits: int, add_params: Mapping[str, int]) -> str:
    """Wrapper with an axis_fork of ``fork_bits`` data bits and an axis_add with ``add_params``."""
    p = dict(add_params)
    c = int(p["C"])
    a_bits, b_bits, o_bits = c * int(p["A_BITS"]), c * int(p["B_BITS"]), c * int(p["OUT_BITS"])
    ports = (_ports("fork_in", fork_bits, True) + _ports("fork_a", fork_bits, False)
             + _ports("fork_b", fork_bits, False) + _ports("add_a", a_bits, True)
             + _ports("add_b", b_bits, True) + _ports("add_out", o_bits, False))
    ports[-1] = ports[-1].rstrip(",")
    plist = ", ".join(f".{k}({int(v)})" for k, v in p.items())

    def conn(port: str, sig: str) -> str:
        return ", ".join(f".{port}_{s}({sig}_{s})" for s in ("tdata", "tvalid", "tready", "tlast"))

    return f"""`timescale 1ns/1ps
`default_nettype none
module {TOPLEVEL} (
    input  wire clk,
    input  wire rst,
{chr(10).join(ports)}
);
    axis_fork #(.DATA_BITS({fork_bits})) u_fork (
        .clk(clk), .rst(rst), {conn("s_axis", "fork_in")},
        {conn("m_a_axis", "fork_a")}, {conn("m_b_axis", "fork_b")}
    );
    axis_add #({plist}) u_add (
        .clk(clk), .rst(rst), {conn("s_a_axis", "add_a")}, {conn("s_b_axis", "add_b")},
        {conn("m_axis", "add_out")}
    );
endmodule
`default_nettype wire
"""


@cocotb.test()
async def fork_add_frames(dut) -> None:
    """Fork: every input beat on both outputs; add: two paused sources joined beat by beat."""
    from cocotbext.axi import AxiStreamBus, AxiStreamSink, AxiStreamSource

    vec = load_vectors()
    await reset(dut)

    def src(prefix):
        return AxiStreamSource(AxiStreamBus.from_prefix(dut, prefix), dut.clk, dut.rst, byte_lanes=1)

    def snk(prefix):
        return AxiStreamSink(AxiStreamBus.from_prefix(dut, prefix), dut.clk, dut.rst, byte_lanes=1)

    f_in, f_a, f_b = src("fork_in"), snk("fork_a"), snk("fork_b")
    a_in, b_in, a_out = src("add_a"), src("add_b"), snk("add_out")
    ports = [f_in, f_a, f_b, a_in, b_in, a_out]
    seed, p = int(vec.get("pause_seed", 1)), float(vec.get("p_pause", 0.4))
    for i, port in enumerate(ports):
        port.set_pause_generator(pauses(seed + i, p))
    n_t = int(vec.get("timing_frames", 0))
    tmo = int(vec.get("frame_timeout_ns", 10_000_000))
    fork_frames, a_frames, b_frames = vec["fork_frames"], vec["add_a_frames"], vec["add_b_frames"]

    async def run_phase(lo: int, hi: int) -> tuple[list, list, list]:
        fa = cocotb.start_soon(stream_frames(f_in, f_a, fork_frames[lo:hi], hi - lo, tmo))
        fb = cocotb.start_soon(stream_frames(f_in, f_b, [], hi - lo, tmo))   # second sink of the same source
        feed_b = cocotb.start_soon(stream_frames(b_in, a_out, b_frames[lo:hi], 0, tmo))
        out = await stream_frames(a_in, a_out, a_frames[lo:hi], hi - lo, tmo)
        await feed_b
        return await fa, await fb, out

    n1 = len(fork_frames) - n_t
    r_a, r_b, r_out = await run_phase(0, n1)
    await ClockCycles(dut.clk, 20)
    for port in ports:
        port.clear_pause_generator()
        port.pause = False   # clearing the generator keeps the last pause state
    c_fork, c_add = CycleCounter(dut, "fork_a"), CycleCounter(dut, "add_out")
    t_a, t_b, t_out = await run_phase(n1, len(fork_frames))
    write_results({"fork_a": r_a + t_a, "fork_b": r_b + t_b, "add_out": r_out + t_out,
                   "fork_done": c_fork.last_times, "add_done": c_add.last_times})
