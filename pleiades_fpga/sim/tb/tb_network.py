"""cocotb testbench of a generated network top (``pleiades_top``).

Streams the scenarios of the vectors (frames of packed pixels in, one logit beat per frame out) with
:class:`StreamHarness` (random pauses on both sides), and monitors both handshakes to time stamp the
first input beat and the output beat of every frame (cycle numbers), from which the Python side
(:mod:`pleiades_fpga.sim.verify`) derives cycles per frame and latency; it also compares every output
integer with the golden model. A scenario with ``taps`` ({layer: wire prefix}) also records every beat of
those internal layer output streams (``verify --trace-layers``: which layer diverges first).
"""
from __future__ import annotations

import cocotb
from cocotb.triggers import RisingEdge
from cocotb.utils import get_sim_steps, get_sim_time

from pleiades_fpga.sim.tb import CLOCK_NS, StreamHarness, load_vectors, write_result


async def _monitor(dut, rec: dict) -> None:
    """Record the cycle of every frame's first input beat and of every output beat."""
    spc = get_sim_steps(CLOCK_NS, "ns")
    first = True
    while True:
        await RisingEdge(dut.clk)
        if int(dut.rst.value):
            first = True
            continue
        cyc = get_sim_time() / spc
        if int(dut.s_axis_tvalid.value) and int(dut.s_axis_tready.value):
            if first:
                rec["in_first"].append(cyc)
            first = bool(int(dut.s_axis_tlast.value))
        if int(dut.m_axis_tvalid.value) and int(dut.m_axis_tready.value):
            rec["out"].append(cyc)


async def _tap(dut, prefix: str, beats: list) -> None:
    """Record the data of every beat transferred on the internal stream ``<prefix>_tdata/tvalid/tready``."""
    data, valid, ready = (getattr(dut, f"{prefix}_{s}") for s in ("tdata", "tvalid", "tready"))
    while True:
        await RisingEdge(dut.clk)
        if int(valid.value) and int(ready.value) and not int(dut.rst.value):
            beats.append(int(data.value))


@cocotb.test()
async def network_stream(dut) -> None:
    vec = load_vectors()
    harness = StreamHarness(dut)
    runs = []
    for sc in vec["scenarios"]:
        rec = {"in_first": [], "out": []}
        task = cocotb.start_soon(_monitor(dut, rec))
        taps = {name: [] for name in sc.get("taps", {})}
        tap_tasks = [cocotb.start_soon(_tap(dut, prefix, taps[name])) for name, prefix in sc.get("taps", {}).items()]
        res = await harness.run(sc["frames"], n_out_frames=sc.get("n_out"), in_pause=sc.get("in_pause", 0.0),
                                out_pause=sc.get("out_pause", 0.0), seed=sc.get("seed", 0),
                                timeout_cycles=sc.get("timeout_cycles", 1_000_000))
        task.cancel()
        for t in tap_tasks:
            t.cancel()
        if taps:
            res["taps"] = {name: [str(b) for b in beats] for name, beats in taps.items()}  # JSON-safe wide words
        res["in_first_cycle"] = rec["in_first"]
        res["out_cycle"] = rec["out"]
        runs.append(res)
    write_result({"runs": runs})
