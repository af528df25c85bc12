"""axi_burst_writer alone: what its callers' tests (test_rtl_external_memory.py, test_rtl_axi_stream_fifo.py) do not
reach. Bursts start only with the caller's permission, at the caller's address, with the frame's last burst partial
(awlen, beats per word, zero padding, wlast), under random awready/wready pauses; a write response that is not OKAY
sets axi_error and it stays set; a reset clears it; a non-OKAY read beat of the caller's R channel sets it, an
rresp without rvalid does not. (The 4 KB rule and the data in memory: the callers' HDL memory model tests.)"""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from pleiades_fpga.hw.rtl.lint import template_sources
from pleiades_fpga.sim.runner import run_testbench

pytestmark = [pytest.mark.rtl, pytest.mark.xdist_group("rtl_external_burst_writer")]

# 12-bit words in 2 beats of 8 bits; frames of 6 words = bursts of 4 + 2 words
PARAMS = {"PIX_W": 12, "FRAME_PIX": 6, "DATA_W": 8, "BPP": 2, "BURST_PIX": 4, "FIFO_DEPTH": 4, "ADDR_W": 16}
OKAY, SLVERR, DECERR = 0, 2, 3


@pytest.mark.parametrize("sim", ["verilator", "icarus"])
def test_bursts_permission_and_response_errors(sim):
    if sim == "icarus" and shutil.which("iverilog") is None:
        pytest.skip("Icarus Verilog (iverilog) is not on PATH; install it (apt-get install iverilog) to run this test")
    words = np.random.default_rng(5).integers(0, 2**12, size=12).tolist()     # two frames
    b_resp = [OKAY, SLVERR, OKAY, OKAY]
    r_checks = [(0, SLVERR), (1, OKAY), (1, DECERR), (0, OKAY)]
    run = run_testbench("axi_burst_writer", template_sources("axi_burst_writer"), "pleiades_fpga.sim.tb.tb_axi_burst_writer",
                        sim=sim, parameters=PARAMS,
                        vectors={"words": words, "hold_cycles": 30, "b_resp": b_resp, "pause": 0.3, "seed": 3,
                                 "r_checks": r_checks})
    r = run.results
    assert not r["timed_out"], f"the four bursts did not complete: {r}"
    assert r["aw_before_ok"] == 0, "a burst started while start_ok was low"
    # burst index in the frame at each start: 4 words, then the partial 2 words, per frame
    assert r["starts"] == [0, 1, 0, 1]
    # address = the caller's burst_addr when the burst started; awlen = words * 2 beats - 1; 1-byte beats, INCR, ID 0
    assert r["aw"] == [[0x100, 7, 0, 1, 0], [0x200, 3, 0, 1, 0], [0x300, 7, 0, 1, 0], [0x400, 3, 0, 1, 0]]
    beats = [b for w in words for b in (w & 0xFF, w >> 8)]                      # low byte first, zero padded
    assert [d for d, _, _ in r["w"]] == beats
    assert all(s == 1 for _, s, _ in r["w"])
    assert [i for i, (_, _, last) in enumerate(r["w"]) if last] == [7, 11, 19, 23]
    assert r["b_done"] == 4
    # SLVERR on the second response: axi_error from then on (sticky), clear after reset
    assert r["error_after_b"] == [0, 1, 1, 1]
    assert r["error_after_reset"] == 0
    # rresp counts only with rvalid; DECERR on a read beat sets axi_error (and it stays)
    assert r["error_after_r"] == [0, 0, 1, 1]
