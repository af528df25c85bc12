"""cocotb testbenches of ``axi_arbiter``.

``axi_arbiter_random``: M_COUNT cocotbext-axi ``AxiMaster`` models (ports ``s<i>_axi_*`` of a
generated top) through the arbiter onto one ``AxiRam`` (port ``m_axi_*``), seeded random pauses on every channel
of every model.

Each master owns the region [i*region, (i+1)*region) of the RAM: its first half is written and read back by
``writers`` concurrent tasks (random offsets, lengths and alignments, so single- and multi-burst, narrow and
unaligned transfers), its second half is filled through the RAM's backdoor and read by a concurrent reader task.
All masters run at once. A monitor checks every cycle that a valid held without ready keeps its payload (the
arbiter's outputs: AW, W, AR on ``m_axi``, B and R on each ``s<i>_axi``), and that AW and AR grants are round
robin (``aw_unfair``/``ar_unfair``: a master granted again while another one it was granted before still waits).
Vectors: ``m_count``, ``region``,
``ops`` (transfers per task), ``max_len`` (bytes), ``writers``, ``pause``, ``seed``, ``timeout_cycles``.
Result per master: the transfers and the bytes that differ from the expected ones, plus the handshake violations
and ``timed_out`` (the transfers did not finish in ``timeout_cycles``: a deadlock).

``layers_through_arbiter``: external temporal layers sharing one AxiRam through the arbiter (its docstring).
"""
from __future__ import annotations

import logging
import random
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, SimTimeoutError, with_timeout
from cocotb.utils import get_sim_steps, get_sim_time

from pleiades_fpga.sim.axis import pause_pattern
from pleiades_fpga.sim.tb import CLOCK_NS, load_vectors, write_result

# channels whose valid the arbiter drives: (prefix template, channel, payload signals)
_ARBITER_DRIVEN = [("m_axi", "aw", ("awid", "awaddr", "awlen", "awsize", "awburst")),
                   ("m_axi", "w", ("wdata", "wstrb", "wlast")), ("m_axi", "ar", ("arid", "araddr", "arlen", "arsize",
                                                                                  "arburst"))]
_RESPONSES = [("b", ("bid", "bresp")), ("r", ("rid", "rdata", "rresp", "rlast"))]


def _set_pauses(iface_pairs: list[Any], seed: int, pause: float) -> None:
    for i, ch in enumerate(iface_pairs):
        ch.set_pause_generator(pause_pattern(seed + i, pause) if pause > 0 else None)


async def _monitor(dut: Any, channels: list[tuple[str, str, tuple[str, ...]]], counts: dict[str, Any]) -> None:
    """Every cycle: a channel whose valid was high without ready keeps valid high and its payload unchanged."""
    held: dict[str, tuple[int, ...] | None] = {}
    while True:
        await RisingEdge(dut.clk)
        for prefix, ch, payload in channels:
            key = f"{prefix}_{ch}"
            valid = int(getattr(dut, f"{prefix}_{ch}valid").value)
            ready = int(getattr(dut, f"{prefix}_{ch}ready").value)
            before = held.get(key)
            data = tuple(int(getattr(dut, f"{prefix}_{s}").value) for s in payload) if valid else None
            if before is not None and data != before:
                counts["violations"] += 1
                counts.setdefault("first_violation", f"{key} at {get_sim_time('ns')} ns")
            held[key] = data if valid and not ready else None


async def _fairness(dut: Any, m_count: int, counts: dict[str, Any]) -> None:
    """Round robin on AW and AR: once master i is granted while master j waits, i is not granted again before j."""
    for ch in ("aw", "ar"):
        counts[f"{ch}_unfair"] = 0
    owed: dict[str, list[set[int]]] = {ch: [set() for _ in range(m_count)] for ch in ("aw", "ar")}
    while True:
        await RisingEdge(dut.clk)
        for ch in ("aw", "ar"):
            valid = [int(getattr(dut, f"s{i}_axi_{ch}valid").value) for i in range(m_count)]
            ready = [int(getattr(dut, f"s{i}_axi_{ch}ready").value) for i in range(m_count)]
            for i in (i for i in range(m_count) if valid[i] and ready[i]):
                for waiting in owed[ch]:
                    waiting.discard(i)
                if owed[ch][i]:
                    counts[f"{ch}_unfair"] += 1
                owed[ch][i] = {j for j in range(m_count) if j != i and valid[j]}


async def _writer(master: Any, base: int, size: int, rng: random.Random, ops: int, max_len: int,
                  res: dict[str, int]) -> None:
    """Write random bytes at random places of [base, base+size), read each write back, compare."""
    for _ in range(ops):
        length = rng.randint(1, min(max_len, size))
        addr = base + rng.randrange(0, size - length + 1)
        data = bytes(rng.getrandbits(8) for _ in range(length))
        await master.write(addr, data)
        back = (await master.read(addr, length)).data
        res["transfers"] += 2
        res["bytes"] += 2 * length
        res["mismatched_bytes"] += sum(a != b for a, b in zip(back, data)) + abs(len(back) - length)


async def _reader(master: Any, base: int, expected: bytes, rng: random.Random, ops: int, max_len: int,
                  res: dict[str, int]) -> None:
    """Read random ranges of a region preloaded with ``expected``, compare."""
    for _ in range(ops):
        length = rng.randint(1, min(max_len, len(expected)))
        off = rng.randrange(0, len(expected) - length + 1)
        back = (await master.read(base + off, length)).data
        res["transfers"] += 1
        res["bytes"] += length
        want = expected[off:off + length]
        res["mismatched_bytes"] += sum(a != b for a, b in zip(back, want)) + abs(len(back) - length)


@cocotb.test()
async def axi_arbiter_random(dut) -> None:
    from cocotbext.axi import AxiBus, AxiMaster, AxiRam

    vec = load_vectors()
    m_count, region = int(vec["m_count"]), int(vec["region"])
    ops, max_len, writers = int(vec.get("ops", 20)), int(vec.get("max_len", 600)), int(vec.get("writers", 2))
    pause, seed = float(vec.get("pause", 0.3)), int(vec.get("seed", 1))
    rng = random.Random(seed)
    cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())
    ram = AxiRam(AxiBus.from_prefix(dut, "m_axi"), dut.clk, dut.rst, size=m_count * region)
    masters = [AxiMaster(AxiBus.from_prefix(dut, f"s{i}_axi"), dut.clk, dut.rst) for i in range(m_count)]
    for model in (ram, *masters):
        for name in ("write_if", "read_if"):
            getattr(model, name).log.setLevel(logging.WARNING)
    _set_pauses([ram.write_if.aw_channel, ram.write_if.w_channel, ram.write_if.b_channel, ram.read_if.ar_channel,
                 ram.read_if.r_channel], seed * 64 + 1, pause)
    for i, m in enumerate(masters):
        _set_pauses([m.write_if.aw_channel, m.write_if.w_channel, m.write_if.b_channel, m.read_if.ar_channel,
                     m.read_if.r_channel], seed * 64 + 8 * (i + 1), pause)
    ram.write(0, bytes(rng.getrandbits(8) for _ in range(m_count * region)))   # garbage everywhere
    counts: dict[str, Any] = {"violations": 0}
    channels = list(_ARBITER_DRIVEN) + [(f"s{i}_axi", ch, pl) for i in range(m_count) for ch, pl in _RESPONSES]

    dut.rst.value = 1
    await ClockCycles(dut.clk, 5)
    dut.rst.value = 0
    await RisingEdge(dut.clk)
    cocotb.start_soon(_monitor(dut, channels, counts))
    cocotb.start_soon(_fairness(dut, m_count, counts))
    t0 = get_sim_time()
    half = region // 2
    results, tasks = [], []
    for i, m in enumerate(masters):
        res = {"transfers": 0, "bytes": 0, "mismatched_bytes": 0}
        results.append(res)
        slice_ = half // writers
        for w in range(writers):
            tasks.append(cocotb.start_soon(_writer(m, i * region + w * slice_, slice_, random.Random(rng.random()),
                                                   ops, max_len, res)))
        preload = bytes(rng.getrandbits(8) for _ in range(region - half))
        ram.write(i * region + half, preload)
        tasks.append(cocotb.start_soon(_reader(m, i * region + half, preload, random.Random(rng.random()), ops,
                                               max_len, res)))
    timed_out = False
    try:
        for task in tasks:
            await with_timeout(task, int(vec.get("timeout_cycles", 300_000)) * CLOCK_NS, "ns")
    except SimTimeoutError:
        timed_out = True                      # a deadlock: the test reports the transfers done so far
    cycles = (get_sim_time() - t0) / get_sim_steps(CLOCK_NS, "ns")
    write_result({"masters": results, "cycles": cycles, "timed_out": timed_out, **counts})


@cocotb.test()
async def layers_through_arbiter(dut) -> None:
    """Several external temporal layers (streams ``s<i>_axis`` -> ``m<i>_axis``) whose AXI4 masters share one port
    through the arbiter onto an AxiRam with random pauses. Vectors: ``layers``, ``mem_bytes``, ``axi_pause``,
    ``axi_seed`` and ``scenarios`` (``frames``/``n_out`` by stream prefix, pauses, seed); result ``{"runs": [...]}``
    (:meth:`StreamHarness.run_streams` dicts plus ``axi_error``). The memory keeps its contents across the reset
    before each scenario."""
    from pleiades_fpga.sim.tb import StreamHarness
    from pleiades_fpga.sim.tb.tb_external_memory import attach_axi_ram

    vec = load_vectors()
    n = int(vec["layers"])
    h = StreamHarness(dut, [f"s{i}_axis" for i in range(n)], [f"m{i}_axis" for i in range(n)])
    attach_axi_ram(dut, int(vec["mem_bytes"]), float(vec.get("axi_pause", 0.0)), int(vec.get("axi_seed", 1)))
    runs = []
    for sc in vec["scenarios"]:
        res = await h.run_streams(sc["frames"], sc["n_out"], in_pause=sc.get("in_pause", 0.0),
                                  out_pause=sc.get("out_pause", 0.0), seed=sc.get("seed", 0),
                                  timeout_cycles=sc.get("timeout_cycles", 1_000_000))
        res["axi_error"] = int(dut.axi_error.value)
        runs.append(res)
    write_result({"runs": runs})
