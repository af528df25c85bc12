"""cocotb testbench for pointwise_mvu (kind "pointwise"; the generator's layer wrapper with its ROMs): streams
the scenarios of the vectors (see :func:`pleiades_fpga.sim.tb.run_stream_vectors`); the pytest side checks them."""
from __future__ import annotations

import cocotb

from pleiades_fpga.sim.tb import run_stream_vectors


@cocotb.test()
async def pointwise_stream(dut) -> None:
    await run_stream_vectors(dut)
