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
from collections.abc import Mapping, Sequence
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


class StreamHarness:
    """cocotbext-axi sources on the ``sources`` stream prefixes of ``dut`` and sinks on ``sinks`` (one word per
    beat; default one ``s_axis`` in, one ``m_axis`` out), plus the clock.

    Create once per simulation; each :meth:`run` / :meth:`run_streams` resets the DUT (so it also exercises
    reset) and streams one scenario with its own seeded random pauses on every port.
    """

    def __init__(self, dut: Any, sources: Sequence[str] = ("s_axis",), sinks: Sequence[str] = ("m_axis",)) -> None:
        from cocotbext.axi import AxiStreamBus, AxiStreamSink, AxiStreamSource

        for name in (*sources, *sinks):
            logging.getLogger(f"cocotb.{dut._name}.{name}").setLevel(logging.WARNING)
        self.dut = dut
        cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())
        self.sources = {p: AxiStreamSource(AxiStreamBus.from_prefix(dut, p), dut.clk, dut.rst, byte_lanes=1)
                        for p in sources}
        self.sinks = {p: AxiStreamSink(AxiStreamBus.from_prefix(dut, p), dut.clk, dut.rst, byte_lanes=1) for p in sinks}
        self.source, self.sink = self.sources[sources[0]], self.sinks[sinks[0]]

    async def reset(self, cycles: int = 4) -> None:
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, cycles)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    async def run_streams(self, inputs: Mapping[str, list[list[int]]], n_out: Mapping[str, int], *,
                          in_pause: float = 0.0, out_pause: float = 0.0, seed: int = 0,
                          timeout_cycles: int = 1_000_000) -> dict[str, Any]:
        """Reset, stream ``inputs`` (source prefix -> frames of beat words) in and collect ``n_out[sink]`` frames
        on every sink. Returns ``{"out": {sink: [[word, ...], ...]}, "out_end_cycle": {sink: [...]}, "cycles": n}``:
        the output words of each frame and the cycle (counted from the end of reset) of its last beat."""
        from cocotbext.axi import AxiStreamFrame

        for i, src in enumerate(self.sources.values()):
            src.set_pause_generator(pause_pattern(seed * 2 + 1 + 2 * i, in_pause) if in_pause > 0 else None)
            src.pause = False
        for i, snk in enumerate(self.sinks.values()):
            snk.set_pause_generator(pause_pattern(seed * 2 + 2 + 2 * i, out_pause) if out_pause > 0 else None)
            snk.pause = False
        await self.reset()
        t0 = get_sim_time()
        for prefix, frames in inputs.items():
            for words in frames:
                await self.sources[prefix].send(AxiStreamFrame([int(w) for w in words]))
        outs: dict[str, list[list[int]]] = {p: [] for p in self.sinks}
        ends: dict[str, list[float]] = {p: [] for p in self.sinks}

        async def collect(prefix: str) -> None:
            for _ in range(n_out[prefix]):
                fr = await self.sinks[prefix].recv()
                outs[prefix].append([int(w) for w in fr.tdata])
                ends[prefix].append(fr.sim_time_end)

        tasks = [cocotb.start_soon(collect(p)) for p in self.sinks]
        for task in tasks:
            await with_timeout(task, timeout_cycles * CLOCK_NS, "ns")
        for src in self.sources.values():
            await src.wait()
        spc = get_sim_steps(CLOCK_NS, "ns")
        return {"out": outs, "out_end_cycle": {p: [(e - t0) / spc for e in ends[p]] for p in self.sinks},
                "cycles": (get_sim_time() - t0) / spc}

    async def run(self, frames: list[list[int]], *, n_out_frames: int | None = None, in_pause: float = 0.0,
                  out_pause: float = 0.0, seed: int = 0, timeout_cycles: int = 1_000_000) -> dict[str, Any]:
        """:meth:`run_streams` for one source and one sink: ``{"out": [[word, ...], ...], "out_end_cycle": [...],
        "cycles": n}`` (``n_out_frames`` defaults to the number of input frames)."""
        src, snk = next(iter(self.sources)), next(iter(self.sinks))
        res = await self.run_streams({src: frames}, {snk: len(frames) if n_out_frames is None else n_out_frames},
                                     in_pause=in_pause, out_pause=out_pause, seed=seed, timeout_cycles=timeout_cycles)
        return {"out": res["out"][snk], "out_end_cycle": res["out_end_cycle"][snk], "cycles": res["cycles"]}


async def run_stream_vectors(dut: Any) -> None:
    """Generic stream testbench body. Vectors ``{"scenarios": [{"frames": [[word...]...], "n_out": n,
    "in_pause": p, "out_pause": p, "seed": s, "timeout_cycles": n}, ...]}`` for one ``s_axis`` in and one
    ``m_axis`` out; result ``{"runs": [<StreamHarness.run dict>...]}``. With ``"sources"``/``"sinks"`` (lists of
    stream prefixes) in the vectors, ``frames`` and ``n_out`` are dicts by prefix and each run is a
    :meth:`StreamHarness.run_streams` dict. The pytest side compares the words with its reference."""
    vec = load_vectors()
    multi = "sources" in vec or "sinks" in vec
    h = StreamHarness(dut, vec.get("sources", ("s_axis",)), vec.get("sinks", ("m_axis",)))
    runs = []
    for sc in vec["scenarios"]:
        opts = {"in_pause": sc.get("in_pause", 0.0), "out_pause": sc.get("out_pause", 0.0), "seed": sc.get("seed", 0),
                "timeout_cycles": sc.get("timeout_cycles", 1_000_000)}
        if multi:
            runs.append(await h.run_streams(sc["frames"], sc["n_out"], **opts))
        else:
            runs.append(await h.run(sc["frames"], n_out_frames=sc.get("n_out"), **opts))
    write_result({"runs": runs})


__all__ = ["CLOCK_NS", "StreamHarness", "load_vectors", "run_stream_vectors", "write_result"]
