"""cocotb testbench for projection_state (generated wrapper): streams the scenarios of the vectors
(see :func:`pleiades_fpga.sim.tb.run_stream_vectors`); the pytest side checks the states."""
from __future__ import annotations

import cocotb

from pleiades_fpga.sim.tb import run_stream_vectors


@cocotb.test()
async def projection_stream(dut) -> None:
    await run_stream_vectors(dut)
