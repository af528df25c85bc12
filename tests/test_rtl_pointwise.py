"""pointwise_mvu.v (pointwise conv / fully connected, PE x SIMD folded) against a numpy reference.

Random shapes, widths (2..8 bits), weights, bias, per-channel requant; unsigned and signed inputs and
outputs; random back-pressure and idle cycles on both sides, then a reset and a pause-free run that
checks the cycle model (pleiades_fpga.hw.rtl.cycles) within 5 %, including the fully parallel case
(one pixel per cycle).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from pleiades_fpga.hw.rtl.lint import template_sources
from pleiades_fpga.hw.rtl.cycles import MAC_PIPELINE_CYCLES, mvu_cycles_per_frame
from pleiades_fpga.hw.rtl.rom import files_text, mac_layer_files
from pleiades_fpga.sim.axis import pack_frame, unpack_frame
from pleiades_fpga.sim.runner import run_testbench

pytestmark = pytest.mark.rtl


def ref_mvu(x: np.ndarray, w: np.ndarray, bias: np.ndarray, m: np.ndarray, s: np.ndarray, out_w: int,
            out_signed: bool) -> np.ndarray:
    """y[t, o, p] = clamp(round_half_even((bias[o] + sum_i w[o, i] x[t, i, p]) * m[o] / 2**s[o])) with loops
    over output channels and Python integer arithmetic for the rounding."""
    t_len, c_in, h, wd = x.shape
    c_out = w.shape[0]
    lo, hi = (-(2 ** (out_w - 1)), 2 ** (out_w - 1) - 1) if out_signed else (0, 2**out_w - 1)
    y = np.zeros((t_len, c_out, h, wd), dtype=np.int64)
    for t in range(t_len):
        for o in range(c_out):
            for py in range(h):
                for px in range(wd):
                    acc = int(bias[o]) + sum(int(w[o, i]) * int(x[t, i, py, px]) for i in range(c_in))
                    num, sh = acc * int(m[o]), int(s[o])
                    q, r = divmod(num, 2**sh)            # floor division, 0 <= r < 2**sh
                    if 2 * r > 2**sh or (2 * r == 2**sh and q % 2 == 1):
                        q += 1
                    y[t, o, py, px] = min(max(q, lo), hi)
    return y


def check_frames(runs: list[dict], expected: list[np.ndarray], out_w: int, out_signed: bool, params: dict) -> None:
    """Every output frame of every scenario run equals its reference (T, C, H, W), integer by integer."""
    for i, (res, exp) in enumerate(zip(runs, expected, strict=True)):
        assert len(res["out"]) == exp.shape[0], f"scenario {i}: {len(res['out'])} frames, expected {exp.shape[0]}"
        c_out, h, w = exp.shape[1:]
        for t, words in enumerate(res["out"]):
            assert len(words) == h * w, f"scenario {i} frame {t}: {len(words)} beats, expected {h * w}"
            got = unpack_frame(words, c_out, h, w, out_w, out_signed)
            bad = np.argwhere(got != exp[t])
            assert bad.size == 0, (f"scenario {i} frame {t}: {len(bad)} mismatches, first (c, y, x) = {bad[0]}: "
                                   f"rtl {got[tuple(bad[0])]} ref {exp[t][tuple(bad[0])]}; params {params}")


def signed_bits(lo: int, hi: int) -> int:
    n = 1
    while not (-(2 ** (n - 1)) <= lo and hi <= 2 ** (n - 1) - 1):
        n += 1
    return n


def run_config(sim: str, tmp_path: Path, seed: int, c_in: int, c_out: int, pe: int, simd: int, h: int, w: int,
               n_frames: int, pause: float = 0.3) -> dict:
    rng = np.random.default_rng(seed)
    in_w, w_w, out_w = (int(v) for v in rng.integers(2, 9, size=3))
    in_signed, out_signed = bool(rng.random() < 0.5), bool(rng.random() < 0.5)
    in_lo, in_hi = (-(2 ** (in_w - 1)), 2 ** (in_w - 1) - 1) if in_signed else (0, 2**in_w - 1)
    wt = rng.integers(-(2 ** (w_w - 1)), 2 ** (w_w - 1), size=(c_out, c_in))
    bound = int(np.abs(wt).sum(axis=1).max()) * max(abs(in_lo), in_hi)
    # spread outputs over the range: centre with the bias, scale with the shift
    mean_x = (in_lo + in_hi) / 2
    sd = np.maximum(np.sqrt((wt.astype(float) ** 2).sum(axis=1)) * (in_hi - in_lo) / 3.5, 1.0)
    bias = np.round(-wt.sum(axis=1) * mean_x + (0.0 if out_signed else 0.7) * sd).astype(np.int64)
    bias_w = signed_bits(min(-1, int(bias.min())), max(0, int(bias.max())))
    acc_w = signed_bits(-bound - int(np.abs(bias).max()), bound + int(np.abs(bias).max()))
    m_w = int(rng.integers(1, 9))
    m = rng.integers(1, 2**m_w, size=c_out)
    s = np.array([max(0, int(np.round(np.log2(2.0 * d * mm / 2 ** (out_w - 1))))) for d, mm in zip(sd, m)])
    s_w = max(1, int(s.max()).bit_length())
    p = dict(C_IN=c_in, C_OUT=c_out, PE=pe, SIMD=simd, IN_W=in_w, IN_SIGNED=int(in_signed), W_W=w_w,
             ACC_W=acc_w, BIAS_W=bias_w, M_W=m_w, S_W=s_w, OUT_W=out_w, OUT_SIGNED=int(out_signed))
    name = f"mvu_top_{seed}"
    top = tmp_path / f"{name}.v"
    top.write_text(files_text(mac_layer_files(name, "pointwise_mvu", p, wt[:, :, None], bias, m, s)))
    sources = [*template_sources("pointwise_mvu"), top]
    clips = [rng.integers(in_lo, in_hi + 1, size=(n_frames, c_in, h, w)) for _ in range(2)]
    scenarios = [{"frames": [pack_frame(f, in_w, in_signed) for f in clip], "seed": seed + i,
                  "in_pause": pause if i == 0 else 0.0, "out_pause": pause if i == 0 else 0.0}
                 for i, clip in enumerate(clips)]
    run = run_testbench(name, sources, "pleiades_fpga.sim.tb.tb_pointwise", sim=sim, vectors={"scenarios": scenarios})
    check_frames(run.results["runs"], [ref_mvu(clip, wt, bias, m, s, out_w, out_signed) for clip in clips],
                 out_w, out_signed, p)
    ends = run.results["runs"][1]["out_end_cycle"]
    measured = (ends[-1] - ends[1]) / (len(ends) - 2)
    model = mvu_cycles_per_frame(c_in, c_out, h * w, pe, simd)
    assert abs(measured - model) <= 0.05 * model, f"cycles/frame measured {measured} vs model {model}"
    extra = ends[0] - model          # first frame: one frame of compute plus the pipeline (cycles.mac_latency)
    assert MAC_PIPELINE_CYCLES - 1 <= extra <= MAC_PIPELINE_CYCLES + 2, \
        f"first output frame ends at cycle {ends[0]}: {extra} cycles beyond compute"
    return {"measured": measured, "model": model}


# (seed, C_in, C_out, PE, SIMD, H, W, frames)
ICARUS_CONFIGS = [
    (11, 8, 6, 2, 4, 4, 4, 4),      # folded both ways
    (12, 16, 10, 5, 3, 1, 1, 24),   # fully connected (one pixel per frame), SIMD not dividing C_in
    (13, 5, 7, 7, 5, 3, 4, 5),      # fully parallel: one pixel per cycle
    (14, 3, 9, 4, 1, 2, 3, 5),      # PE not dividing C_out
]


@pytest.mark.parametrize("seed,c_in,c_out,pe,simd,h,w,frames", ICARUS_CONFIGS)
def test_mvu_icarus(tmp_path, seed, c_in, c_out, pe, simd, h, w, frames):
    if shutil.which("iverilog") is None:
        pytest.skip("Icarus Verilog (iverilog) is not on PATH; install it (apt-get install iverilog) to run this test")
    r = run_config("icarus", tmp_path, seed, c_in, c_out, pe, simd, h, w, frames)
    print(f"mvu {c_in}->{c_out} PE={pe} SIMD={simd}: cycles/frame measured {r['measured']:.1f}, model {r['model']}")


def test_mvu_verilator(tmp_path):
    r = run_config("verilator", tmp_path, 21, 12, 8, 4, 4, 3, 3, 6)
    print(f"verilator mvu: cycles/frame measured {r['measured']:.1f}, model {r['model']}")


def test_reference_hand_case():
    # acc = 3 + (2*1 - 1*4) = 1 -> *3 / 2 = 1.5 -> 2; second channel acc = -1*1 + 0 = -1 -> -1*1/1 -> clamp 0
    x = np.array([1, 4]).reshape(1, 2, 1, 1)
    y = ref_mvu(x, np.array([[2, -1], [-1, 0]]), np.array([3, 0]), np.array([3, 1]), np.array([1, 0]), 4, False)
    assert y.ravel().tolist() == [2, 0]
