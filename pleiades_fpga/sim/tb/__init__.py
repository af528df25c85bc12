"""cocotb-side helpers shared by the testbenches (import only inside a running simulation).

A testbench reads its inputs with :func:`load_vectors` (the dict passed to
``pleiades_fpga.sim.runner.run_testbench(vectors=...)``) and reports with :func:`write_result`.
Stream DUTs follow the port convention ``clk``, ``rst`` (synchronous, active high),
``s_axis_{tdata,tvalid,tready,tlast}`` and ``m_axis_{tdata,tvalid,tready,tlast}``;
:func:`stream_frames` drives them with cocotbext-axi source/sink models and random pauses.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout
from cocotb.utils import get_sim_time

from pleiades_fpga.sim.axis import pause_pattern

VECTORS_ENV = "PLEIADES_TB_VECTORS"
RESULT_ENV = "PLEIADES_TB_RESULT"
CLOCK_NS = 10


def load_vectors() -> dict[str, Any]:
    """The vectors dict given to ``run_testbench`` (empty if none)."""
    path = os.environ.get(VECTORS_ENV)
    if not path or not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def write_result(result: dict[str, Any]) -> None:
    """Hand ``result`` (JSON-serialisable) back to ``run_testbench`` (``SimRun.results``)."""
    path = os.environ.get(RESULT_ENV)
    if path:
        with open(path, "w") as f:
            json.dump(result, f)


async def start_clock_and_reset(dut: Any, reset_cycles: int = 4) -> None:
    """Start a ``CLOCK_NS`` clock on ``dut.clk`` and pulse ``dut.rst`` for ``reset_cycles`` cycles."""
    cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())
    dut.rst.value = 1
    await ClockCycles(dut.clk, reset_cycles)
    dut.rst.value = 0
    await RisingEdge(dut.clk)


def get_sim_time_steps_per_cycle() -> int:
    from cocotb.utils import get_sim_steps

    return int(get_sim_steps(CLOCK_NS, "ns"))


async def stream_frames(dut: Any, frames: list[list[int]], *, n_out_frames: int | None = None,
                        in_pause: float = 0.0, out_pause: float = 0.0, seed: int = 0,
                        timeout_cycles: int = 1_000_000, reset_cycles: int = 4) -> dict[str, Any]:
    """Reset ``dut``, stream ``frames`` (lists of beat words) in and collect the output frames.

    Returns ``{"out": [[word, ...], ...], "out_end_cycle": [...], "in_start_cycle": [...],
    "cycles": total}``: cycle stamps (from the end of reset) of the last output beat of each frame and
    the first input beat of each frame. Pauses use :func:`pleiades_fpga.sim.axis.pause_pattern`.
    """
    from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource

    for name in ("cocotb.%s.s_axis" % dut._name, "cocotb.%s.m_axis" % dut._name):
        logging.getLogger(name).setLevel(logging.WARNING)
    source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk, dut.rst, byte_lanes=1)
    sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk, dut.rst, byte_lanes=1)
    if in_pause > 0:
        source.set_pause_generator(pause_pattern(seed * 2 + 1, in_pause))
    if out_pause > 0:
        sink.set_pause_generator(pause_pattern(seed * 2 + 2, out_pause))
    await start_clock_and_reset(dut, reset_cycles)
    t0 = get_sim_time()
    n_out = len(frames) if n_out_frames is None else n_out_frames
    sent = []
    for words in frames:
        fr = AxiStreamFrame([int(w) for w in words])
        sent.append(fr)
        await source.send(fr)
    outs, ends = [], []

    async def collect() -> None:
        for _ in range(n_out):
            fr = await sink.recv()
            outs.append([int(w) for w in fr.tdata])
            ends.append(fr.sim_time_end)

    await with_timeout(collect(), timeout_cycles * CLOCK_NS, "ns")
    spc = get_sim_time_steps_per_cycle()
    return {
        "out": outs,
        "out_end_cycle": [(e - t0) / spc for e in ends],
        "in_start_cycle": [((f.sim_time_start or t0) - t0) / spc for f in sent],
        "cycles": (get_sim_time() - t0) / spc,
    }


__all__ = ["CLOCK_NS", "load_vectors", "start_clock_and_reset", "stream_frames", "write_result"]
