"""cocotb orchestrator of the network harness (``pleiades_harness``, see :mod:`pleiades_fpga.sim.harness`).

All per-cycle work (clock, stream source and sink, random pauses, stream checks) runs in the simulator.
For each run of the vectors (``{"runs": [{"id", "hex", "frames", "in_thresh", "out_thresh", "in_seed",
"out_seed", "trace", "timeout_cycles"}], "checkers": n}``) this testbench copies the
run's frame file to ``frames.hex``, writes the settings and a new ``start_id``, waits for ``done`` and
reads every checker's counters; at the end it returns the output beats and cycle stamps the harness
wrote (``outputs.txt``, ``inputs.txt``) and the traced streams. Progress: the harness itself appends a line
per output frame to its ``+progress_file`` plusarg (see :mod:`pleiades_fpga.sim.harness`).
"""
from __future__ import annotations

import os
import shutil
import time

import cocotb
from cocotb.triggers import RisingEdge, with_timeout
from cocotb.triggers import SimTimeoutError

from pleiades_fpga.sim.harness import CHECKER_FIELDS, MEMORY_FIELDS
from pleiades_fpga.sim.tb import CLOCK_NS, load_vectors, write_result



def _read_lines(path: str) -> list[list[str]]:
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.split() for line in f if line.strip()]


@cocotb.test()
async def network_harness(dut) -> None:
    vec = load_vectors()
    checkers = [getattr(dut, f"chk_{i}") for i in range(vec["checkers"])]
    runs = []
    t0 = time.monotonic()
    for run in vec["runs"]:
        shutil.copyfile(run["hex"], "frames.hex")
        dut.n_frames.value = run["frames"]
        dut.in_thresh.value = run["in_thresh"]
        dut.out_thresh.value = run["out_thresh"]
        dut.in_seed.value = run["in_seed"]
        dut.out_seed.value = run["out_seed"]
        dut.trace_en.value = int(run.get("trace", False))
        if vec.get("memory"):  # the AXI memory model's settings (designs with external memory)
            for key in ("mem_seed", "mem_lat_min", "mem_lat_max", "mem_stall"):
                getattr(dut, key).value = run[key]
        dut.start_id.value = run["id"]
        timed_out = False
        try:
            await with_timeout(RisingEdge(dut.done), run["timeout_cycles"] * CLOCK_NS, "ns")
        except SimTimeoutError:
            timed_out = True
        runs.append({"id": run["id"], "timed_out": timed_out, "cycles": int(dut.cycle.value),
                     "checks": [{k: int(getattr(c, k).value) for k in CHECKER_FIELDS} for c in checkers],
                     "memory": {k: int(getattr(dut, k).value) for k in MEMORY_FIELDS} if vec.get("memory") else None})
        dut.trace_en.value = 0
    await RisingEdge(dut.clk)  # the harness flushes its files with `done`; a timed-out run is flushed here
    result = {"runs": runs, "loop_seconds": time.monotonic() - t0, "outputs": _read_lines("outputs.txt"), "inputs": _read_lines("inputs.txt"), "traces": {}}
    for i in range(vec["checkers"]):
        path = f"trace_{i}.hex"
        if os.path.exists(path):
            with open(path) as f:
                result["traces"][str(i)] = [line.strip() for line in f if line.strip()]
    write_result(result)
