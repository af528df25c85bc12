"""conv3x3_stream against a straightforward numpy reference (zero-padded correlation, stride, requant).

Random shapes (odd and even H, W >= 3), channels, widths, folding (also PE/SIMD not dividing the
channel counts), stride 1 and 2, full and depthwise; several frames back to back with random
back-pressure on both sides, then a timed run without back-pressure (cycles vs cycles_spatial).
"""
from __future__ import annotations

import numpy as np
import pytest

from pleiades_fpga.hw.rtl import cycles_spatial
from pleiades_fpga.hw.rtl.templates import __file__ as _unused  # noqa: F401  (templates dir exists)
from pleiades_fpga.sim import axis
from pleiades_fpga.sim.runner import run_testbench
from pleiades_fpga.sim.tb.tb_conv3x3 import TOPLEVEL, conv3x3_top_verilog
from pleiades_fpga.sim.tools import have_simulator
