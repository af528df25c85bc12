"""cocotb testbench for templates/requant_pipe.v (PIPELINED = 1): one (acc, m, s, en) vector per clock cycle;
returns y sampled after every rising edge (raw OUT_W-bit patterns; None while y holds X/Z)."""
from __future__ import annotations

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge, Timer

from pleiades_fpga.sim.tb import CLOCK_NS, load_vectors, write_result


@cocotb.test()
async def requant_pipe_cycles(dut) -> None:
    vec = load_vectors()
    acc_w = len(dut.acc)
    dut.en.value = 0
    cocotb.start_soon(Clock(dut.clk, CLOCK_NS, "ns").start())
    await FallingEdge(dut.clk)                  # drive between edges only (no race with the first edge)
    ys = []
    for a, m, s, en in zip(vec["acc"], vec["m"], vec["s"], vec["en"]):
        dut.acc.value = int(a) & ((1 << acc_w) - 1)
        dut.m.value = int(m)
        dut.s.value = int(s)
        dut.en.value = int(en)
        await RisingEdge(dut.clk)
        await ReadOnly()
        y = dut.y.value
        ys.append(int(y) if y.is_resolvable else None)
        await Timer(1, "ns")
    write_result({"y": ys})
