"""cocotb-side helpers shared by the testbenches (import only inside a running simulation).

A testbench reads its inputs with :func:`load_vectors` (the dict passed to
``pleiades_fpga.sim.runner.run_testbench(vectors=...)``) and reports with :func:`write_result`.
Stream DUTs follow the port convention ``clk``, ``rst`` (synchronous, active high),
``s_axis_{tdata,tvalid,tready,tlast}`` and ``m_axis_{tdata,tvalid,tready,tlast}``;
:class:`StreamHarness` drives them with cocotbext-axi source/sink models and random pauses.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout
from cocotb.utils import get_sim_steps, get_sim_time

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


class StreamHarness:
    """cocotbext-axi source on ``s_axis`` and sink on ``m_axis`` of ``dut`` (one word per beat), plus clock.

    Create once per simulation; each :meth:`run` resets the DUT (so it also exercises reset) and
    streams one scenario with its own seeded random pauses.
    """

    def __init__(self, dut: Any) -> None:
        from cocotbext.axi import AxiStreamBus, AxiStreamSink, AxiStreamSource

        for name in (f"cocotb.{dut._name}.s_axis", f"cocotb.{dut._name}.m_axis"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self.dut = dut
        cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())
        self.source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk, dut.rst, byte_lanes=1)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk, dut.rst, byte_lanes=1)

    async def reset(self, cycles: int = 4) -> None:
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, cycles)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    async def run(self, frames: list[list[int]], *, n_out_frames: int | None = None, in_pause: float = 0.0,
                  out_pause: float = 0.0, seed: int = 0, timeout_cycles: int = 1_000_000) -> dict[str, Any]:
        """Reset, stream ``frames`` (lists of beat words) in and collect ``n_out_frames`` output frames.

        Returns ``{"out": [[word, ...], ...], "out_end_cycle": [...], "cycles": n}``: the output words of
        each frame and the cycle (counted from the end of reset) of the last output beat of each frame.
        """
        from cocotbext.axi import AxiStreamFrame

        self.source.set_pause_generator(pause_pattern(seed * 2 + 1, in_pause) if in_pause > 0 else None)
        self.sink.set_pause_generator(pause_pattern(seed * 2 + 2, out_pause) if out_pause > 0 else None)
        self.source.pause = False
        self.sink.pause = False
        await self.reset()
        t0 = get_sim_time()
        n_out = len(frames) if n_out_frames is None else n_out_frames
        for words in frames:
            await self.source.send(AxiStreamFrame([int(w) for w in words]))
        outs: list[list[int]] = []
        ends: list[float] = []

        async def collect() -> None:
            for _ in range(n_out):
                fr = await self.sink.recv()
                outs.append([int(w) for w in fr.tdata])
                ends.append(fr.sim_time_end)

        await with_timeout(collect(), timeout_cycles * CLOCK_NS, "ns")
        await self.source.wait()
        spc = get_sim_steps(CLOCK_NS, "ns")
        return {
            "out": outs,
            "out_end_cycle": [(e - t0) / spc for e in ends],
            "cycles": (get_sim_time() - t0) / spc,
        }


async def run_stream_vectors(dut: Any) -> None:
    """Generic stream testbench body: vectors ``{"scenarios": [{"frames": [[word...]...], "n_out": n,
    "in_pause": p, "out_pause": p, "seed": s}, ...]}``; result ``{"runs": [<StreamHarness.run dict>...]}``.
    Extra DUT outputs are not checked here: the pytest side compares the words with its reference."""
    vec = load_vectors()
    h = StreamHarness(dut)
    runs = []
    for sc in vec["scenarios"]:
        runs.append(await h.run(sc["frames"], n_out_frames=sc.get("n_out"), in_pause=sc.get("in_pause", 0.0),
                                out_pause=sc.get("out_pause", 0.0), seed=sc.get("seed", 0),
                                timeout_cycles=sc.get("timeout_cycles", 1_000_000)))
    write_result({"runs": runs})


__all__ = ["CLOCK_NS", "StreamHarness", "load_vectors", "run_stream_vectors", "start_clock_and_reset", "write_result"]
