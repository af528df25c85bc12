"""Integer projection (recurrent temporal layer): project_int, the format analysis and the golden model,
against an independent scalar loop written here (Python ints, round half even by exact fractions)."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from pleiades_fpga.errors import UnsupportedModelError
from pleiades_fpga.ir.golden import GoldenModel
from pleiades_fpga.ir.graph import IRGraph, Layer, TensorSpec
from pleiades_fpga.ir.kinds.conv import ConvParams
from pleiades_fpga.ir.kinds.projection import ProjectionParams, ProjectionStats, project_int, project_step
from pleiades_fpga.quant.projection_format import choose_projection_format, projection_acc_bits


def loop_reference(x, A, B, F, bits):
    """Scalar reference: x (T, C, H, W) -> (T, C*D, H, W), Python ints, exact rounding via Fraction."""
    t_len, c_n, h_n, w_n = x.shape
    d = len(B)
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    s = [[[[0] * d for _ in range(w_n)] for _ in range(h_n)] for _ in range(c_n)]
    out = np.zeros((t_len, c_n * d, h_n, w_n), np.int64)
    sat = 0
    for t in range(t_len):
        for c in range(c_n):
            for i in range(h_n):
                for j in range(w_n):
                    prev = s[c][i][j]
                    new = []
                    for n in range(d):
                        acc = sum(int(A[n][m]) * prev[m] for m in range(d)) + int(B[n]) * int(x[t, c, i, j])
                        v = round(Fraction(acc, 2**F))  # Python round: half to even
                        sat += v < lo or v > hi
                        new.append(min(max(v, lo), hi))
                    s[c][i][j] = new
                    for n in range(d):
                        out[t, c * d + n, i, j] = new[n]
    return out, sat


def legt(K: int, D: int, decay: float = 1.0):
    """LegT-style least-squares A, B on a Legendre basis over a K window (only used as realistic test data)."""
    tt = np.linspace(-1, 1, K)
    E = np.stack([np.polynomial.legendre.Legendre.basis(n)(tt) for n in range(D)], 1)
    Ep = np.linalg.pinv(E)
    return decay * Ep @ np.eye(K, k=1) @ E, Ep[:, -1], E


@pytest.mark.parametrize("F,bits,signed", [(0, 8, False), (3, 6, True), (7, 12, False)])
def test_project_int_matches_loop(F, bits, signed):
    rng = np.random.default_rng(F)
    D = 4
    A = rng.integers(-2 ** F - 3, 2 ** F + 3, (D, D))
    B = rng.integers(-9, 10, D)
    x = rng.integers(-8 if signed else 0, 8, (12, 3, 2, 3))
    ref, sat = loop_reference(x, A, B, F, bits)
    stats = ProjectionStats()
    got = project_int(x, A, B, F, bits, stats=stats)
    np.testing.assert_array_equal(got, ref)
    assert stats.saturated == sat
    # streaming step by step == whole clip, and continuing from a state == one call
    s = None
    for t in range(x.shape[0]):
        s, _ = project_step(x[t], s, A, B, F, bits)
        np.testing.assert_array_equal(s, ref[t])
    first = ProjectionStats()
    a = project_int(x[:5], A, B, F, bits, stats=first)
    b = project_int(x[5:], A, B, F, bits, state=first.final_state)
    np.testing.assert_array_equal(np.concatenate([a, b]), ref)


def test_saturation_is_counted():
    A = np.array([[8, 0], [0, 8]])  # A_real = 2 (unstable): must saturate
    B = np.array([4, -4])
    x = np.full((10, 1, 1, 1), 3)
    stats = ProjectionStats()
    got = project_int(x, A, B, 2, 6, stats=stats)
    ref, sat = loop_reference(x, A, B, 2, 6)
    np.testing.assert_array_equal(got, ref)
    assert sat > 0 and stats.saturated == sat
    assert got.max() == 31 and got.min() == -32


def test_acc_bits_is_tight():
    rng = np.random.default_rng(1)
    A = rng.integers(-40, 40, (5, 5))
    B = rng.integers(-40, 40, 5)
    bits, x_lo, x_hi = 10, 0, 15
    n = projection_acc_bits(A, B, x_lo, x_hi, bits)
    # brute force the extreme corners row by row
    lo_s, hi_s = -512, 511
    vals = []
    for r in range(5):
        s_max = [hi_s if a > 0 else lo_s for a in A[r]]
        s_min = [lo_s if a > 0 else hi_s for a in A[r]]
        vals.append(int(np.dot(A[r], s_max)) + max(B[r] * x_lo, B[r] * x_hi))
        vals.append(int(np.dot(A[r], s_min)) + min(B[r] * x_lo, B[r] * x_hi))
    vals = [int(v) for v in vals]
    need = max(max(vals).bit_length(), (-min(vals) - 1).bit_length()) + 1
    assert n == need


def test_format_bounds_state_on_worst_case_input():
    A, B, _ = legt(10, 5)
    fmt = choose_projection_format(A, B, 1.0, 0, 15)
    assert fmt.spectral_radius < 1 and fmt.impulse_rel_error <= 1e-3
    # worst-case input for each state: x = 15 where the impulse response is positive, else 0 (and vice versa)
    steps = 200
    h = np.empty((steps, 5))
    v = B.copy()
    for k in range(steps):
        h[k] = v
        v = A @ v
    for n in range(5):
        for sign in (1, -1):
            x = np.where(sign * h[::-1, n] > 0, 15, 0).reshape(steps, 1, 1, 1)
            stats = ProjectionStats()
            project_int(x, fmt.A, fmt.B, fmt.frac_bits, fmt.state_bits, stats=stats)
            assert stats.saturated == 0
    # and the integer state tracks the real projection within the analysed rounding error
    x = np.random.default_rng(0).integers(0, 16, (100, 1, 1, 1))
    s_int = project_int(x, fmt.A, fmt.B, fmt.frac_bits, fmt.state_bits)[:, :, 0, 0] * fmt.state_scale
    s_real = np.zeros(5)
    errs = []
    for t in range(100):
        s_real = A @ s_real + B * x[t, 0, 0, 0]
        errs.append(np.abs(s_int[t] - s_real).max())
    assert max(errs) < 0.05 * np.abs(s_int).max()


def test_unstable_A_is_refused():
    with pytest.raises(UnsupportedModelError, match="spectral radius"):
        choose_projection_format(np.eye(3) * 1.01, np.ones(3), 1.0, 0, 15)


def projection_ir(C=3, H=2, W=2, D=5, F=9, bits=12, seed=0, groups_readout=True):
    """input -> projection -> grouped pointwise readout (logits, no requant)."""
    rng = np.random.default_rng(seed)
    A, B, _ = legt(8, D)
    fmt = choose_projection_format(A, B, 1.0, 0, 7)
    t = {
        "in": TensorSpec("in", C, H, W, 3, False, np.float64(1.0)),
        "x": TensorSpec("x", C, H, W, 3, False, np.float64(1.0)),
        "s": TensorSpec("s", C * D, H, W, fmt.state_bits, True, np.float64(fmt.state_scale)),
        "y": TensorSpec("y", C, H, W, 20, True, np.ones(C)),
    }
    w = rng.integers(-7, 8, (C, D, 1, 1, 1))
    layers = [
        Layer("in", "input", ["in"], "x", out_bits=3, in_scale=1.0),
        Layer("proj", "projection", ["x"], "s", in_channels=C, out_channels=C * D, in_bits=3,
              params=ProjectionParams(proj_A=fmt.A, proj_B=fmt.B, frac_bits=fmt.frac_bits, state_dim=D),
              out_bits=fmt.state_bits,
              out_signed=True, requant=False, acc_bits=fmt.acc_bits, out_scale=np.float64(fmt.state_scale)),
        Layer("readout", "conv", ["s"], "y", in_channels=C * D, out_channels=C,
              params=ConvParams(role="pointwise", groups=C, weight=w, weight_bits=4, weight_scale=np.ones(C),
                                bias=rng.integers(-5, 5, C)), requant=False, in_bits=fmt.state_bits,
              in_signed=True),
    ]
    return IRGraph("in", "y", t, layers, output_squeeze=False), fmt, w


def test_golden_projection_layer_run_step_stream_agree_with_loop():
    graph, fmt, w = projection_ir()
    graph.to_json()  # serializable
    g = GoldenModel(graph)
    clip = np.random.default_rng(5).integers(0, 9, (2, 3, 15, 2, 2)).astype(np.float64)
    y, tr = g.run(clip, trace=True)
    for b in range(2):
        x = np.clip(clip[b].transpose(1, 0, 2, 3), 0, 7).astype(np.int64)  # (T, C, H, W)
        ref, _ = loop_reference(x, fmt.A, fmt.B, fmt.frac_bits, fmt.state_bits)
        np.testing.assert_array_equal(tr["proj"][b].transpose(1, 0, 2, 3), ref)
        # readout: grouped (depthwise over D states) dot product, by hand
        bias = graph.layer("readout").params.bias
        for c in range(3):
            yc = np.einsum("n,tnhw->thw", w[c, :, 0, 0, 0], ref[:, c * 5:(c + 1) * 5]) + bias[c]
            np.testing.assert_array_equal(y[b, c], yc)
    np.testing.assert_array_equal(g.stream(clip), y)
    np.testing.assert_array_equal(g.run(clip, chunk=4), y)
    assert g.saturation["proj"] == 0
