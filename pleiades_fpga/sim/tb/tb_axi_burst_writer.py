"""cocotb testbench of ``axi_burst_writer`` alone (tests/test_rtl_external_burst_writer.py): records what the
engine does, the test compares it with the expected bursts.

Vectors: ``words`` (the stream, written continuously with s_axis back-pressure), ``hold_cycles`` (``start_ok`` low
that long, then high), ``b_resp`` (the response of each write burst, in order), ``pause`` and ``seed`` (random
awready/wready pauses), ``r_checks`` (after a reset: (rvalid, rresp) driven one cycle each).
The slave answers each burst's B ``b_delay`` cycles after its wlast; ``burst_addr`` = 0x100 * (bursts started + 1).
Result: ``starts`` (burst index at each start), ``aw`` ([addr, len, size, burst, id]), ``w`` ([data, strb, last]),
``aw_before_ok`` (AW valid while start_ok was low), ``error_after_b`` (axi_error the cycle after each B),
``error_after_reset``, ``error_after_r`` (after each r_checks cycle), ``b_done`` (b_done pulses), ``timed_out``.
"""
from __future__ import annotations

import random
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly

from pleiades_fpga.sim.tb import CLOCK_NS, load_vectors, write_result


@cocotb.test()
async def burst_writer(dut: Any) -> None:
    vec = load_vectors()
    rng = random.Random(int(vec.get("seed", 1)))
    pause = float(vec.get("pause", 0.0))
    words = list(vec["words"])
    b_resp = list(vec["b_resp"])
    b_delay = int(vec.get("b_delay", 3))
    hold = int(vec["hold_cycles"])
    cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())
    res: dict[str, Any] = {"starts": [], "aw": [], "w": [], "aw_before_ok": 0, "error_after_b": [], "b_done": 0,
                           "timed_out": False}
    for sig in ("s_axis_tvalid", "start_ok", "m_axi_awready", "m_axi_wready", "m_axi_bvalid", "m_axi_rvalid"):
        getattr(dut, sig).value = 0
    for sig in ("s_axis_tdata", "burst_addr", "m_axi_bid", "m_axi_bresp", "m_axi_rresp"):
        getattr(dut, sig).value = 0
    dut.rst.value = 1
    for _ in range(3):
        await FallingEdge(dut.clk)
    dut.rst.value = 0
    sent, b_due, check_error, cycle = 0, [], False, 0
    while len(res["error_after_b"]) < len(b_resp):
        await FallingEdge(dut.clk)
        cycle += 1
        if cycle > 20 * (len(words) + hold) + 200:
            res["timed_out"] = True
            break
        if check_error:
            res["error_after_b"].append(int(dut.axi_error.value))
        dut.start_ok.value = int(cycle > hold)
        dut.burst_addr.value = 0x100 * (len(res["starts"]) + 1)
        dut.s_axis_tvalid.value = int(sent < len(words))
        dut.s_axis_tdata.value = words[sent] if sent < len(words) else 0
        dut.m_axi_awready.value = int(rng.random() >= pause)
        dut.m_axi_wready.value = int(rng.random() >= pause)
        b_now = bool(b_due) and b_due[0] <= cycle
        dut.m_axi_bvalid.value = int(b_now)
        dut.m_axi_bresp.value = b_resp[len(res["error_after_b"])] if b_now else 0
        await ReadOnly()
        check_error = b_now                        # bready is always high: the B handshake happens at this edge
        if b_now:
            b_due.pop(0)
        res["b_done"] += int(dut.b_done.value)
        if int(dut.s_axis_tvalid.value) and int(dut.s_axis_tready.value):
            sent += 1
        if int(dut.start.value):
            res["starts"].append(int(dut.burst.value))
        if int(dut.m_axi_awvalid.value):
            res["aw_before_ok"] += int(cycle <= hold)
            if int(dut.m_axi_awready.value):
                res["aw"].append([int(getattr(dut, f"m_axi_aw{s}").value) for s in ("addr", "len", "size", "burst",
                                                                                    "id")])
        if int(dut.m_axi_wvalid.value) and int(dut.m_axi_wready.value):
            res["w"].append([int(dut.m_axi_wdata.value), int(dut.m_axi_wstrb.value), int(dut.m_axi_wlast.value)])
            if int(dut.m_axi_wlast.value):
                b_due.append(cycle + b_delay)
    # after a reset the error is clear; read responses of the caller's R channel set it too
    await FallingEdge(dut.clk)
    dut.m_axi_bvalid.value = 0
    dut.rst.value = 1
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    await FallingEdge(dut.clk)
    res["error_after_reset"] = int(dut.axi_error.value)
    res["error_after_r"] = []
    for rvalid, rresp in vec.get("r_checks", []):
        dut.m_axi_rvalid.value = int(rvalid)
        dut.m_axi_rresp.value = int(rresp)
        await FallingEdge(dut.clk)
        dut.m_axi_rvalid.value = 0
        res["error_after_r"].append(int(dut.axi_error.value))
    write_result(res)
