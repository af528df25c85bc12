"""temporal_conv_buffer.v (PLEIADES temporal conv as a circular buffer) against a numpy reference.

Every configuration streams enough frames for the circular buffer of K-1 frames to wrap >= 3 times,
with random back-pressure and idle cycles on both sides, then resets and streams a fresh clip without
pauses: outputs must equal the reference with zero-initialised history (so reset must clear it), and
the measured cycles per frame must match pleiades_fpga.hw.rtl.cycles within 5 %.
Reference: causal cross-correlation over time (tap 0 = oldest frame), then
y = clamp(round_half_even(acc * M / 2**S)).
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from pleiades_fpga.hw.rtl.lint import template_sources
from pleiades_fpga.hw.rtl.cycles import MAC_PIPELINE_CYCLES, temporal_conv_cycles_per_frame, temporal_conv_reset_cycles
from pleiades_fpga.hw.rtl.rom import files_text, mac_layer_files
from pleiades_fpga.sim.axis import pack_frame
from pleiades_fpga.sim.runner import run_testbench

from test_rtl_pointwise import check_frames

pytestmark = pytest.mark.rtl


def signed_bits(lo: int, hi: int) -> int:
    """Smallest two's complement width holding lo..hi."""
    n = 1
    while not (-(2 ** (n - 1)) <= lo and hi <= 2 ** (n - 1) - 1):
        n += 1
    return n


def ref_temporal_acc(x: np.ndarray, w: np.ndarray, bias: np.ndarray, depthwise: bool) -> np.ndarray:
    """acc[t, o] = bias[o] + sum_k sum_i w[o, i, k] * x[t-K+1+k, i], zero frames before t = 0."""
    t_len, c_in, h, wd = x.shape
    k = w.shape[-1]
    xp = np.concatenate([np.zeros((k - 1, c_in, h, wd), dtype=np.int64), x.astype(np.int64)])
    c_out = w.shape[0]
    acc = np.zeros((t_len, c_out, h, wd), dtype=np.int64)
    for t in range(t_len):
        for o in range(c_out):
            total = np.full((h, wd), int(bias[o]), dtype=np.int64)
            for kk in range(k):
                if depthwise:
                    total += int(w[o, kk]) * xp[t + kk, o]
                else:
                    for i in range(c_in):
                        total += int(w[o, i, kk]) * xp[t + kk, i]
            acc[t, o] = total
    return acc


def ref_requant(acc: np.ndarray, m: np.ndarray, s: np.ndarray, out_w: int, signed: bool) -> np.ndarray:
    """Per-channel (axis 1) requantization; float64 is exact here (|acc*m| < 2**53, power-of-two divisor)."""
    shape = [1, -1] + [1] * (acc.ndim - 2)
    prod = acc.astype(np.float64) * m.reshape(shape).astype(np.float64)
    assert np.abs(prod).max() < 2.0**52
    y = np.round(prod / np.power(2.0, s.reshape(shape).astype(np.float64)))  # numpy rounds half to even
    lo, hi = (-(2 ** (out_w - 1)), 2 ** (out_w - 1) - 1) if signed else (0, 2**out_w - 1)
    return np.clip(y, lo, hi).astype(np.int64)


@dataclass
class Layer:
    params: dict
    weights: np.ndarray
    bias: np.ndarray
    m: np.ndarray
    s: np.ndarray
    in_lo: int
    in_hi: int


def make_layer(rng: np.random.Generator, c_in: int, c_out: int, k: int, pixels: int, pe: int, simd: int,
               depthwise: bool) -> Layer:
    """Random widths (2..8-bit activations and weights), weights, bias and requant parameters."""
    in_w, w_w, out_w = (int(v) for v in rng.integers(2, 9, size=3))
    in_signed, out_signed = bool(rng.random() < 0.5), bool(rng.random() < 0.5)
    in_lo, in_hi = (-(2 ** (in_w - 1)), 2 ** (in_w - 1) - 1) if in_signed else (0, 2**in_w - 1)
    shape = (c_out, k) if depthwise else (c_out, c_in, k)
    w = rng.integers(-(2 ** (w_w - 1)), 2 ** (w_w - 1), size=shape)
    xmax = max(abs(in_lo), in_hi)
    bound = int(np.abs(w).reshape(c_out, -1).sum(axis=1).max()) * xmax
    # calibrate bias and shift on a random clip so that outputs spread over the output range
    calib = rng.integers(in_lo, in_hi + 1, size=(k + 2, c_in, 2, 2))
    acc0 = ref_temporal_acc(calib, w, np.zeros(c_out, dtype=np.int64), depthwise).transpose(1, 0, 2, 3)
    acc0 = acc0.reshape(c_out, -1)
    std = np.maximum(acc0.std(axis=1), 1.0)
    centre = 0.0 if out_signed else 0.7
    bias = np.round(-acc0.mean(axis=1) + (centre + 0.3 * rng.standard_normal(c_out)) * std).astype(np.int64)
    bias_w = signed_bits(min(-1, int(bias.min())), max(0, int(bias.max())))
    acc_w = signed_bits(-bound - int(np.abs(bias).max()), bound + int(np.abs(bias).max()))
    m_w = int(rng.integers(1, 9))
    m = rng.integers(1, 2**m_w, size=c_out)
    # shift so that about two standard deviations of acc * m fill half the output range
    s = np.array([max(0, int(np.round(np.log2(2.0 * sd * mm / 2 ** (out_w - 1))))) for sd, mm in zip(std, m)])
    s_w = max(1, int(s.max()).bit_length())
    params = dict(C_IN=c_in, C_OUT=c_out, K=k, PIXELS=pixels, DEPTHWISE=int(depthwise), PE=pe, SIMD=simd,
                  IN_W=in_w, IN_SIGNED=int(in_signed), W_W=w_w, ACC_W=acc_w, BIAS_W=bias_w, M_W=m_w, S_W=s_w,
                  OUT_W=out_w, OUT_SIGNED=int(out_signed))
    return Layer(params, w, bias, m, s, in_lo, in_hi)


def write_top(layer: Layer, name: str, out_dir: Path) -> list[Path]:
    p = layer.params
    w = layer.weights[:, None, :] if p["DEPTHWISE"] else layer.weights   # (C_OUT, C_IN / groups, K)
    top = out_dir / f"{name}.v"
    top.write_text(files_text(mac_layer_files(name, "temporal_conv_buffer", p, w, layer.bias, layer.m, layer.s)))
    return [*template_sources("temporal_conv_buffer"), top]


def run_config(sim: str, tmp_path: Path, seed: int, k: int, depthwise: bool, c_in: int, c_out: int, pe: int,
               simd: int, h: int, w: int, pause: float = 0.3) -> dict:
    rng = np.random.default_rng(seed)
    layer = make_layer(rng, c_in, c_out, k, h * w, pe, simd, depthwise)
    p = layer.params
    n_frames = 3 * (k - 1) + 3          # the K-1 slot buffer wraps >= 3 times
    clips = [rng.integers(layer.in_lo, layer.in_hi + 1, size=(n_frames, c_in, h, w)) for _ in range(2)]
    scenarios = [
        {"frames": [pack_frame(f, p["IN_W"], bool(p["IN_SIGNED"])) for f in clip], "seed": seed + i,
         "in_pause": pause if i == 0 else 0.0, "out_pause": pause if i == 0 else 0.0,
         "timeout_cycles": 50 * n_frames * h * w * (k * c_in * c_out + 10)}
        for i, clip in enumerate(clips)
    ]
    sources = write_top(layer, f"tconv_top_{seed}", tmp_path)
    run = run_testbench(f"tconv_top_{seed}", sources, "pleiades_fpga.sim.tb.tb_temporal_conv", sim=sim,
                        vectors={"scenarios": scenarios})
    expected = [ref_requant(ref_temporal_acc(clip, layer.weights, layer.bias, depthwise), layer.m, layer.s,
                            p["OUT_W"], bool(p["OUT_SIGNED"])) for clip in clips]
    check_frames(run.results["runs"], expected, p["OUT_W"], bool(p["OUT_SIGNED"]), p)
    ends = run.results["runs"][1]["out_end_cycle"]
    measured = (ends[-1] - ends[1]) / (len(ends) - 2)
    model = temporal_conv_cycles_per_frame(c_in, c_out, k, h * w, pe, simd, depthwise)
    assert abs(measured - model) <= 0.05 * model, f"cycles/frame measured {measured} vs model {model}"
    # first frame: history clear after reset, then one frame of compute, plus the pipeline (cycles.mac_latency)
    extra = ends[0] - temporal_conv_reset_cycles(k, h * w) - model
    assert MAC_PIPELINE_CYCLES - 1 <= extra <= MAC_PIPELINE_CYCLES + 2, \
        f"first output frame ends at cycle {ends[0]}: {extra} cycles beyond clear + compute"
    return {"measured": measured, "model": model, "params": p}


# (seed, K, depthwise, C_in, C_out, PE, SIMD, H, W)
ICARUS_CONFIGS = [
    (1, 3, False, 3, 4, 2, 2, 4, 4),
    (2, 5, True, 5, 5, 2, 1, 5, 3),
    (3, 10, False, 2, 3, 3, 1, 4, 4),
    (4, 10, True, 4, 4, 4, 1, 5, 3),
    (5, 2, False, 3, 2, 2, 3, 3, 2),
    (6, 4, False, 3, 3, 1, 3, 1, 1),    # 1x1 frames: one pixel per frame, every beat carries tlast
    (8, 2, False, 2, 1, 1, 2, 1, 1),    # 1x1, K = 2, 2 steps a pixel: the next pixel reads the word just written
]


@pytest.mark.parametrize("seed,k,dw,c_in,c_out,pe,simd,h,w", ICARUS_CONFIGS)
def test_temporal_conv_icarus(tmp_path, seed, k, dw, c_in, c_out, pe, simd, h, w):
    if shutil.which("iverilog") is None:
        pytest.skip("Icarus Verilog (iverilog) is not on PATH; install it (apt-get install iverilog) to run this test")
    r = run_config("icarus", tmp_path, seed, k, dw, c_in, c_out, pe, simd, h, w)
    print(f"K={k} dw={dw}: cycles/frame measured {r['measured']:.1f}, model {r['model']}")


def test_temporal_conv_verilator(tmp_path):
    r = run_config("verilator", tmp_path, 7, 10, False, 5, 6, 4, 2, 4, 4)
    print(f"verilator K=10: cycles/frame measured {r['measured']:.1f}, model {r['model']}")


def test_reference_hand_case():
    # K=2, one channel, one pixel: y_t = w0*x_{t-1} + w1*x_t + b
    x = np.array([1, 2, 3]).reshape(3, 1, 1, 1)
    acc = ref_temporal_acc(x, np.array([[[10, 1]]]), np.array([5]), depthwise=False)
    assert acc.ravel().tolist() == [0 * 10 + 1 + 5, 10 + 2 + 5, 20 + 3 + 5]
    assert ref_requant(np.array([[5], [7], [-6]]).T, np.array([1]), np.array([1]), 8, True).ravel().tolist() == [2, 4, -3]
