"""cocotb testbench for groupnorm_stream (the layer wrapper the generator ships, rom.groupnorm_layer_files): streams
the scenarios of the vectors (see :func:`pleiades_fpga.sim.tb.run_stream_vectors`); the pytest side checks them
against ``ir.integers.groupnorm_int``."""
from __future__ import annotations

import cocotb

from pleiades_fpga.sim.tb import run_stream_vectors


@cocotb.test()
async def groupnorm_stream(dut) -> None:
    await run_stream_vectors(dut)
