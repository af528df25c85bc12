"""cocotb testbench for two mac_lane instances fed the same inputs (a test wrapper ``mac_lane_pair`` with ports
``clk``, ``en``, ``x``, ``w``, ``acc_load``, ``first``, ``bias`` and the two accumulators ``acc_a``, ``acc_b``).

Vectors: ``steps`` (list of [en, x, w, acc_load, first, bias], raw bit patterns, one per cycle). Result: ``acc_a``,
``acc_b`` (raw patterns after each cycle's edge, unsigned; None while undefined).
"""
from __future__ import annotations

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

from pleiades_fpga.sim.tb import CLOCK_NS, load_vectors, write_result


def _raw(value) -> int | None:
    """The raw pattern, or None while it holds X/Z (power-up, before the first output)."""
    return int(value) if value.is_resolvable else None


@cocotb.test()
async def mac_lane_pair_steps(dut) -> None:
    vec = load_vectors()
    cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())
    acc_a, acc_b = [], []
    await FallingEdge(dut.clk)
    for en, x, w, acc_load, first, bias in vec["steps"]:       # driven between edges, sampled after the next one
        dut.en.value, dut.x.value, dut.w.value = int(en), int(x), int(w)
        dut.acc_load.value, dut.first.value, dut.bias.value = int(acc_load), int(first), int(bias)
        await FallingEdge(dut.clk)
        acc_a.append(_raw(dut.acc_a.value))
        acc_b.append(_raw(dut.acc_b.value))
    write_result({"acc_a": acc_a, "acc_b": acc_b})
