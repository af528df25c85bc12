"""Board wrappers: UART <-> AXI-Stream bridge around the generated network top, constraints, Vivado Tcl.

Files: ``uart_stream_bridge.v`` (byte protocol in its header and docs/BOARDS.md), ``ulx3s_85f.lpf``,
``pynq_z2.xdc``, ``vivado_project.tcl`` (project flow body); :mod:`.wrapper` generates the board tops.
"""
from pathlib import Path

BOARDS_DIR = Path(__file__).resolve().parent
