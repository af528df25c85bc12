"""pointwise_mvu.v with GROUP_IN (grouped pointwise: the readout of a depthwise recurrent temporal layer,
output o reads inputs o*G .. o*G+G-1) against a loop reference; random back-pressure, reset, cycle model."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from pleiades_fpga.hw.rtl.lint import template_sources
from pleiades_fpga.hw.rtl.cycles import mvu_cycles_per_frame
from pleiades_fpga.hw.rtl.rom import files_text, mac_layer_files
from pleiades_fpga.sim.axis import pack_frame
from pleiades_fpga.sim.runner import run_testbench

from test_rtl_pointwise import check_frames, ref_mvu

pytestmark = [pytest.mark.rtl, pytest.mark.xdist_group("rtl_pointwise_grouped")]


def ref_grouped(x, w, bias, s, out_w, out_signed):
    """y[t, o] = clamp(round_half_even((bias[o] + sum_i w[o, i] x[t, o*G + i]) / 2**s[o])): the dense reference
    with the block-diagonal weight (output o reads inputs o*G .. o*G + G-1 only) and M = 1."""
    c_out, g = w.shape
    dense = np.zeros((c_out, c_out * g), dtype=np.int64)
    for o in range(c_out):
        dense[o, o * g:(o + 1) * g] = w[o]
    return ref_mvu(x, dense, bias, np.ones(c_out, dtype=np.int64), s, out_w, out_signed)


def run_config(sim: str, tmp_path: Path, seed: int, c_out: int, g: int, pe: int, simd: int, h: int, w: int,
               n_frames: int = 5, pause: float = 0.35) -> None:
    rng = np.random.default_rng(seed)
    in_w, w_w, out_w = 12, 6, 8                       # signed states in, signed outputs
    c_in = c_out * g
    wt = rng.integers(-(2 ** (w_w - 1)), 2 ** (w_w - 1), size=(c_out, g))
    bias = rng.integers(-500, 500, size=c_out)
    s = rng.integers(6, 10, size=c_out)
    m = np.ones(c_out, dtype=np.int64)
    acc_w = 12 + 6 + 4
    p = dict(C_IN=c_in, C_OUT=c_out, PE=pe, SIMD=simd, GROUP_IN=g, IN_W=in_w, IN_SIGNED=1, W_W=w_w, ACC_W=acc_w,
             BIAS_W=11, M_W=1, S_W=4, OUT_W=out_w, OUT_SIGNED=1)
    name = f"mvug_top_{seed}"
    top = tmp_path / f"{name}.v"
    top.write_text(files_text(mac_layer_files(name, "pointwise_mvu", p, wt[:, :, None], bias, m, s)))
    sources = [*template_sources("pointwise_mvu"), top]
    clips = [rng.integers(-2048, 2048, size=(n_frames, c_in, h, w)) for _ in range(2)]
    scenarios = [{"frames": [pack_frame(f, in_w, True) for f in clip], "seed": seed + i,
                  "in_pause": pause if i == 0 else 0.0, "out_pause": pause if i == 0 else 0.0}
                 for i, clip in enumerate(clips)]
    run = run_testbench(name, sources, "pleiades_fpga.sim.tb.tb_pointwise", sim=sim, vectors={"scenarios": scenarios})
    expected = [ref_grouped(clip, wt, bias, s, out_w, True) for clip in clips]
    assert all(len(np.unique(exp)) > 10 for exp in expected)
    check_frames(run.results["runs"], expected, out_w, True, p)
    ends = run.results["runs"][1]["out_end_cycle"]
    measured = (ends[-1] - ends[1]) / (len(ends) - 2)
    model = mvu_cycles_per_frame(g, c_out, h * w, pe, simd)
    assert abs(measured - model) <= 0.05 * model, f"cycles/frame measured {measured} vs model {model}"


# (seed, C_out = groups, G inputs per group, PE, SIMD, H, W)
CONFIGS = [
    (31, 4, 5, 2, 5, 3, 3),      # SIMD = G: one step per output group
    (32, 6, 5, 4, 2, 2, 3),      # SIMD not dividing G, PE not dividing C_out
    (33, 3, 5, 3, 1, 1, 1),      # fully parallel outputs, serial inputs, one pixel
]


@pytest.mark.parametrize("seed,c_out,g,pe,simd,h,w", CONFIGS)
def test_mvu_grouped_icarus(tmp_path, seed, c_out, g, pe, simd, h, w):
    if shutil.which("iverilog") is None:
        pytest.skip("Icarus Verilog (iverilog) is not on PATH; install it (apt-get install iverilog) to run this test")
    run_config("icarus", tmp_path, seed, c_out, g, pe, simd, h, w)


def test_mvu_grouped_verilator(tmp_path):
    run_config("verilator", tmp_path, 34, 8, 5, 3, 2, 2, 2)
