"""cocotb testbench for ``conv3x3_stream`` (through a generated wrapper that holds its ROMs).

The pytest side (``tests/test_rtl_conv3x3.py``) writes the wrapper with :func:`conv3x3_top_verilog`,
packs the input frames and passes them as vectors; this testbench streams them through the DUT
(phase 1 with random pauses on both sides, phase 2 without pauses to measure cycles per frame)
and writes back every received beat.

Vectors: ``frames`` (list of frames, each a list of beat words), ``timing_frames`` (same, for
phase 2), ``pause_seed``, ``p_in``, ``p_out``.
Results: ``outputs`` / ``timing_outputs`` (frames of beat words, split at tlast) and
``timing_done`` (cycle at which each timing frame's last output beat was accepted, counted from
the start of phase 2).

:func:`stream_frames` and :func:`single_stream_test` are shared with ``tb_avgpool``.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge, with_timeout

from pleiades_fpga.hw.rtl import rom

VECTORS_ENV = "PLEIADES_TB_VECTORS"
RESULT_ENV = "PLEIADES_TB_RESULT"
TOPLEVEL = "conv3x3_top"


# ------------------------------------------------------------------------------------------ wrapper

def _param_list(params: Mapping[str, int]) -> str:
    return ",\n        ".join(f".{k}({int(v)})" for k, v in params.items())


def rom_top_verilog(top: str, module: str, params: Mapping[str, int], s_bits: int, m_bits: int,
                    roms: Sequence[tuple[str, Sequence[int], int]]) -> str:
    """Verilog of a wrapper ``top`` around ``module`` with constant ROMs on its read ports.

    ``roms``: (port prefix, words, width) per ROM port (``<prefix>_addr`` / ``<prefix>_data``);
    the wrapper exposes clk, rst and the s_axis/m_axis ports with ``s_bits`` / ``m_bits`` of data.
    """
    parts = [rom.rom_verilog(f"{top}_{prefix}", words, width, style="array") for prefix, words, width in roms]
    wires, conns, insts = [], [], []
    for prefix, words, width in roms:
        aw = rom.addr_width(len(words))
        wires += [f"    wire [{aw - 1}:0] {prefix}_addr;", f"    wire [{width - 1}:0] {prefix}_data;"]
        conns += [f".{prefix}_addr({prefix}_addr)", f".{prefix}_data({prefix}_data)"]
        insts.append(f"    {top}_{prefix} u_{prefix} (.clk(clk), .en(1'b1), .addr({prefix}_addr), .data({prefix}_data));")
    body = f"""`timescale 1ns/1ps
`default_nettype none
module {top} (
    input  wire clk,
    input  wire rst,
    input  wire [{s_bits - 1}:0] s_axis_tdata,
    input  wire s_axis_tvalid,
    output wire s_axis_tready,
    input  wire s_axis_tlast,
    output wire [{m_bits - 1}:0] m_axis_tdata,
    output wire m_axis_tvalid,
    input  wire m_axis_tready,
    output wire m_axis_tlast
);
{chr(10).join(wires)}
{chr(10).join(insts)}
    {module} #(
        {_param_list(params)}
    ) u_dut (
        .clk(clk), .rst(rst),
        .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid), .s_axis_tready(s_axis_tready),
        .s_axis_tlast(s_axis_tlast),
        .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready),
        .m_axis_tlast(m_axis_tlast),
        {", ".join(conns)}
    );
endmodule
`default_nettype wire
"""
    return "\n".join(parts) + "\n" + body


def conv3x3_top_verilog(params: Mapping[str, int], weights, bias, mult, shift) -> str:
    """Wrapper ``conv3x3_top``: conv3x3_stream with ``params`` and ROMs holding the layer constants.

    ``weights``: (K, C, 3, 3) for a full conv, (C, 3, 3) for depthwise (signed, W_BITS);
    ``bias``/``mult``/``shift``: per output channel. ROM layouts: :func:`rom.mac_weight_words` with
    tap = ky*3 + kx, and :func:`rom.channel_param_words`.
    """
    import numpy as np

    p = dict(params)
    dw = bool(p.get("DEPTHWISE", 0))
    pe, simd = int(p.get("PE", 1)), int(p.get("SIMD", 1))
    w = np.asarray(weights, dtype=np.int64)
    w9 = w.reshape(w.shape[0], 9) if dw else w.reshape(w.shape[0], w.shape[1], 9)
    lanes = rom.mac_weight_words(w9, pe, 1 if dw else simd, depthwise=dw)
    wb = int(p["W_BITS"])
    wwords = rom.pack_lanes(lanes, wb, signed=True)
    bb, mb, sb = int(p["BIAS_BITS"]), int(p["M_BITS"]), int(p["S_BITS"])
    pwords = rom.channel_param_words(bias, mult, shift, pe, bb, mb, sb)
    c, k = int(p["C"]), int(p["K"])
    return rom_top_verilog(TOPLEVEL, "conv3x3_stream", p, c * int(p["IN_BITS"]), k * int(p["OUT_BITS"]),
                           [("wrom", wwords, lanes.shape[1] * wb), ("prom", pwords, pe * (bb + mb + sb))])


# ------------------------------------------------------------------------------------------ cocotb side

def load_vectors() -> dict[str, Any]:
    """Vectors passed by the runner (``$PLEIADES_TB_VECTORS``)."""
    with open(os.environ[VECTORS_ENV]) as f:
        return json.load(f)


def write_results(results: Mapping[str, Any]) -> None:
    """Hand results back to the runner (``$PLEIADES_TB_RESULT``)."""
    with open(os.environ[RESULT_ENV], "w") as f:
        json.dump(results, f)


def pauses(seed: int, p_pause: float):
    """Seeded pause generator for cocotbext-axi (``pleiades_fpga.sim.axis.pause_pattern``)."""
    from pleiades_fpga.sim.axis import pause_pattern

    return pause_pattern(seed, p_pause)


async def reset(dut) -> None:
    """Start a 10 ns clock on ``dut.clk`` and hold ``dut.rst`` high for 5 cycles."""
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    await ClockCycles(dut.clk, 5)
    dut.rst.value = 0
    await RisingEdge(dut.clk)


class CycleCounter:
    """Counts clock cycles and records when m_axis handshakes happen (sampled at the falling edge)."""

    def __init__(self, dut, prefix: str = "m_axis") -> None:
        self.cycle = 0
        self.last_times: list[int] = []
        self._valid = getattr(dut, f"{prefix}_tvalid")
        self._ready = getattr(dut, f"{prefix}_tready")
        self._last = getattr(dut, f"{prefix}_tlast")
        self._clk = dut.clk
        cocotb.start_soon(self._run())

    async def _run(self) -> None:
        while True:
            await FallingEdge(self._clk)
            self.cycle += 1
            if int(self._valid.value) and int(self._ready.value) and int(self._last.value):
                self.last_times.append(self.cycle)


async def stream_frames(source, sink, frames: Sequence[Sequence[int]], n_out_frames: int,
                        timeout_ns: int = 10_000_000) -> list[list[int]]:
    """Send ``frames`` (one AXI-Stream frame each, tlast on the last beat) and receive ``n_out_frames``.

    Each output frame must arrive within ``timeout_ns`` (a deadlock fails the test instead of hanging).
    """
    from cocotbext.axi import AxiStreamFrame

    async def send_all() -> None:
        for fr in frames:
            await source.send(AxiStreamFrame(tdata=[int(v) for v in fr]))

    sender = cocotb.start_soon(send_all())
    out = []
    for _ in range(n_out_frames):
        rx = await with_timeout(sink.recv(), timeout_ns, "ns")
        out.append([int(v) for v in rx.tdata])
    await sender
    return out


async def single_stream_test(dut) -> None:
    """Phase 1 (random pauses) + phase 2 (no pauses, timed) for a one-in one-out stream DUT."""
    from cocotbext.axi import AxiStreamBus, AxiStreamSink, AxiStreamSource

    vec = load_vectors()
    await reset(dut)
    source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk, dut.rst, byte_lanes=1)
    sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk, dut.rst, byte_lanes=1)
    seed = int(vec.get("pause_seed", 1))
    source.set_pause_generator(pauses(seed, float(vec.get("p_in", 0.3))))
    sink.set_pause_generator(pauses(seed + 1, float(vec.get("p_out", 0.3))))
    tmo = int(vec.get("frame_timeout_ns", 10_000_000))
    outputs = await stream_frames(source, sink, vec["frames"], len(vec["frames"]), tmo)

    await ClockCycles(dut.clk, 20)
    for port in (source, sink):
        port.clear_pause_generator()
        port.pause = False   # clearing the generator keeps the last pause state
    timing = vec.get("timing_frames", [])
    counter = CycleCounter(dut)
    timing_outputs = await stream_frames(source, sink, timing, len(timing), tmo)
    write_results({"outputs": outputs, "timing_outputs": timing_outputs, "timing_done": counter.last_times})


@cocotb.test()
async def conv3x3_frames(dut) -> None:
    """Stream the frames of the vectors file through conv3x3_top."""
    await single_stream_test(dut)
