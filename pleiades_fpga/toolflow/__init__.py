"""FPGA tool flow: device database, the one locator of external tools, tool running, Yosys synthesis,
nextpnr-ecp5 place and route with ecppack, board wrappers and Vivado scripts.

Modules: :mod:`.parts` (FPGA parts and fit checks), :mod:`.locate` (finds Yosys, nextpnr, ecppack, ecppll,
Verilator, Icarus and the environment they need), :mod:`.toolrun` (child process with log and spinner),
:mod:`.synth`, :mod:`.pnr`, :mod:`.boards` (board tops, constraints, UART bridge, Vivado Tcl). It imports
neither ``pleiades_fpga.report`` (which composes estimates, tool results and report pages) nor
``pleiades_fpga.sim``.
"""
