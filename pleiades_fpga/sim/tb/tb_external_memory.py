"""cocotb testbench of a temporal layer with its history in external memory (temporal_history_axi +
pointwise_mvu): streams the scenarios of the vectors (see :func:`pleiades_fpga.sim.tb.run_stream_vectors`)
against one of two memories:

- a top with ``m_axi_*`` ports: cocotbext-axi's ``AxiRam`` with seeded random pauses on all five channels
  (``axi_pause``: the probability of a pause burst on AR/AW/W ready and R/B valid) for protocol coverage;
- a top with the HDL model ``axi_ram_model`` inside (inputs ``seed``, ``lat_min``, ``lat_max``, ``stall``):
  seeded random latency and back-pressure at the simulator's speed.

The memory starts with a garbage pattern (AxiRam: filled here; the HDL model: its own), and keeps its contents
across the reset before each scenario, so the scenarios after the first check that history reads zero after
reset without clearing memory. Per run the result adds ``axi_error`` and, for the HDL model, its counters.
"""
from __future__ import annotations

import logging
from typing import Any

import cocotb

from pleiades_fpga.sim.axis import pause_pattern
from pleiades_fpga.sim.tb import StreamHarness, load_vectors, write_result

GARBAGE = 0xA5


def attach_axi_ram(dut: Any, size: int, pause: float, seed: int) -> Any:
    """cocotbext-axi AxiRam of ``size`` bytes on ``m_axi``, garbage-filled, with seeded pauses on every channel."""
    from cocotbext.axi import AxiBus, AxiRam

    ram = AxiRam(AxiBus.from_prefix(dut, "m_axi"), dut.clk, dut.rst, size=size)
    for name in ("write_if", "read_if"):
        getattr(ram, name).log.setLevel(logging.WARNING)
    ram.write(0, bytes([GARBAGE]) * size)
    if pause > 0:
        channels = [ram.write_if.aw_channel, ram.write_if.w_channel, ram.write_if.b_channel,
                    ram.read_if.ar_channel, ram.read_if.r_channel]
        for i, ch in enumerate(channels):
            ch.set_pause_generator(pause_pattern(seed * 16 + 101 + i, pause))
    return ram


@cocotb.test()
async def external_memory_stream(dut) -> None:
    vec = load_vectors()
    hdl_model = hasattr(dut, "lat_min")
    h = StreamHarness(dut)
    if not hdl_model:
        attach_axi_ram(dut, int(vec["mem_bytes"]), float(vec.get("axi_pause", 0.0)), int(vec.get("axi_seed", 1)))
    runs = []
    for sc in vec["scenarios"]:
        if hdl_model:
            dut.seed.value = int(sc.get("mem_seed", 1))
            dut.lat_min.value = int(sc.get("lat_min", 0))
            dut.lat_max.value = int(sc.get("lat_max", 0))
            dut.stall.value = int(round(float(sc.get("stall", 0.0)) * 65536))
        res = await h.run(sc["frames"], n_out_frames=sc.get("n_out"), in_pause=sc.get("in_pause", 0.0),
                          out_pause=sc.get("out_pause", 0.0), seed=sc.get("seed", 0),
                          timeout_cycles=sc.get("timeout_cycles", 2_000_000))
        res["axi_error"] = int(dut.axi_error.value)
        if hdl_model:
            for name in ("read_beats", "write_beats", "errors", "unwritten_reads"):
                res[name] = int(getattr(dut, name).value)
        runs.append(res)
    write_result({"runs": runs})
