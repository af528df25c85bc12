"""cocotb testbench for avgpool_stream (the generator's layer wrapper with its parameter ROM): streams the
scenarios of the vectors (see :func:`pleiades_fpga.sim.tb.run_stream_vectors`); the pytest side checks them."""
from __future__ import annotations

import cocotb

from pleiades_fpga.sim.tb import run_stream_vectors


@cocotb.test()
async def avgpool_stream(dut) -> None:
    await run_stream_vectors(dut)
