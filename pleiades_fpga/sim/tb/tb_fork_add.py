"""cocotb testbench for axis_fork (``s_axis`` -> ``m_a_axis``, ``m_b_axis``) and axis_add (``s_a_axis`` +
``s_b_axis`` -> ``m_axis``), each the top level of its own simulation: streams the scenarios of the vectors
with one source or sink per stream port (``sources``/``sinks``, see
:func:`pleiades_fpga.sim.tb.run_stream_vectors`); the pytest side checks the outputs."""
from __future__ import annotations

import cocotb

from pleiades_fpga.sim.tb import run_stream_vectors


@cocotb.test()
async def fork_add_stream(dut) -> None:
    await run_stream_vectors(dut)
