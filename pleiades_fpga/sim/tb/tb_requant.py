"""cocotb testbench for templates/requant.v (combinational): applies vectors, returns raw outputs.

Vectors: ``acc``, ``m``, ``s`` (equal-length int lists; acc signed). Result: ``y`` (raw OUT_W-bit
patterns, unsigned) in the same order.
"""
from __future__ import annotations

import cocotb
from cocotb.triggers import Timer

from pleiades_fpga.sim.tb import load_vectors, write_result


@cocotb.test()
async def requant_vectors(dut) -> None:
    vec = load_vectors()
    acc_w = len(dut.acc)
    ys = []
    for a, m, s in zip(vec["acc"], vec["m"], vec["s"]):
        dut.acc.value = int(a) & ((1 << acc_w) - 1)
        dut.m.value = int(m)
        dut.s.value = int(s)
        await Timer(1, "ns")
        ys.append(int(dut.y.value))
    write_result({"y": ys})
