"""Integer causal GroupNorm (docs/GROUPNORM.md): rsqrt_fixed brute force, hand-computed frames, the previous-frame
statistics variant, the float comparison and the width analysis of pleiades_fpga.ir.integers."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pleiades_fpga.errors import UnsupportedModelError
from pleiades_fpga.ir.integers import (GroupNormStats, groupnorm_acc_bits, groupnorm_int, groupnorm_params,
                                       int_range, rsqrt_fixed)


def _brute_ok(v: int, p: int, r: int, k: int) -> bool:
    return (4 ** (k - 1) <= v < 4**k and r * r * v <= 4 ** (p + k) < (r + 1) ** 2 * v
            and 2**p <= r <= 2 ** (p + 1))


@pytest.mark.parametrize("p", [0, 3, 16])
def test_rsqrt_fixed_brute_force(p: int) -> None:
    rng = np.random.default_rng(p)
    v = np.concatenate([np.arange(1, 5000), rng.integers(1, 2**62, 3000), 4 ** np.arange(0, 31),
                        4 ** np.arange(1, 31) - 1]).astype(np.int64)
    r, k = rsqrt_fixed(v, p)
    bad = [int(x) for x, ri, ki in zip(v.tolist(), r.tolist(), k.tolist()) if not _brute_ok(x, p, ri, ki)]
    assert bad == []


def test_rsqrt_fixed_hand_values() -> None:
    r, k = rsqrt_fixed(np.array([1, 4, 20]), 2)
    # V=1: k=1, R*R <= 16/1 -> 4?  largest R with R*R*1 <= 4**3 = 64 -> 8.  V=4: k=2, R*R*4 <= 4**4 -> 8.
    # V=20: k=3, R*R*20 <= 4**5 = 1024 -> R = 7 (49*20 = 980, 64*20 = 1280).
    assert k.tolist() == [1, 2, 3] and r.tolist() == [8, 8, 7]
    with pytest.raises(ValueError, match="V must be >= 1"):
        rsqrt_fixed(np.array([0]), 2)


def _frame(values: list[int]) -> np.ndarray:
    """One frame of 4 pixels (2x2), one channel: (B=1, T=1, H=2, W=2, C=1)."""
    return np.array(values, np.int64).reshape(1, 1, 2, 2, 1)


def test_groupnorm_int_hand_computed() -> None:
    # S1 = 10, S2 = 30, n = 4: D = 120 - 100 = 20, V = 20, k = 3, R = 7 (P = 2); d = 4x - 10 = -6, -2, 2, 6
    x = _frame([1, 2, 3, 4])
    one = np.array([1])
    y, _ = groupnorm_int(x, 1, 0, one, [0], [0], -100, 100, P=2)
    assert y.reshape(-1).tolist() == [-1, 0, 0, 1]  # d*7/32 = -1.31, -0.44, 0.44, 1.31
    y, _ = groupnorm_int(x, 1, 0, [3], [1], [1], -100, 100, P=2)
    assert y.reshape(-1).tolist() == [-1, 0, 1, 2]  # (21 d + 32) / 64 = -1.47, -0.16, 1.16, 2.47
    y, _ = groupnorm_int(x, 1, 0, [8], [0], [0], -100, 100, P=2)
    assert y.reshape(-1).tolist() == [-10, -4, 4, 10]  # 56 d / 32 = -10.5, -3.5, 3.5, 10.5: ties to even
    y, _ = groupnorm_int(x, 1, 0, [8], [0], [0], 0, 6, P=2)
    assert y.reshape(-1).tolist() == [0, 0, 4, 6]  # ReLU (lo = 0) and clamp at hi
    y, _ = groupnorm_int(x, 1, 44, one, [0], [0], -100, 100, P=2)
    # E = 44: V = 64, k = 4, R = 8 (64*64 <= 4**6); d*8/64 = -0.75, -0.25, 0.25, 0.75
    assert y.reshape(-1).tolist() == [-1, 0, 0, 1]


def test_groupnorm_int_groups_are_independent() -> None:
    # two groups of one channel each: channel 1 is channel 0 shifted by 100 and must give the same output
    x = np.stack([np.array([1, 2, 3, 4]), np.array([101, 102, 103, 104])], axis=-1).reshape(1, 1, 2, 2, 2)
    y, st = groupnorm_int(x, 2, 0, [1, 1], [0, 0], [0, 0], -100, 100, P=2)
    assert y[..., 0].reshape(-1).tolist() == [-1, 0, 0, 1] == y[..., 1].reshape(-1).tolist()
    assert st.s1.tolist() == [[10, 410]] and st.d.tolist() == [[20, 20]]


def test_groupnorm_int_previous_stats() -> None:
    x = np.concatenate([_frame([1, 2, 3, 4]), _frame([0, 0, 0, 4])], axis=1)  # (1, 2, 2, 2, 1)
    y, st = groupnorm_int(x, 1, 0, [1], [0], [0], -100, 100, P=2, stats="previous")
    # frame 0 after reset has no statistics: d = 0, y = B = 0
    # frame 1 with frame 0's S1 = 10, D = 20 (R = 7, k = 3): d = -10, -10, -10, 6 -> 7d/32 = -2.19, 1.31
    assert y.reshape(-1).tolist() == [0, 0, 0, 0, -2, -2, -2, 1]
    yb, _ = groupnorm_int(x, 1, 0, [1], [1], [5], -100, 100, P=2, stats="previous")
    assert yb.reshape(-1).tolist()[:4] == [2, 2, 2, 2]  # after reset y = round_half_even(B / 2**S) = 5/2 -> 2
    # frame 1's statistics: S1 = 4, D = 4*16 - 16 = 48
    assert st.s1.tolist() == [[4]] and st.d.tolist() == [[48]] and st.valid.tolist() == [True]
    # streaming in two calls equals the clip
    y0, st0 = groupnorm_int(x[:, :1], 1, 0, [1], [0], [0], -100, 100, P=2, stats="previous")
    y1, _ = groupnorm_int(x[:, 1:], 1, 0, [1], [0], [0], -100, 100, P=2, stats="previous", state=st0)
    assert np.array_equal(np.concatenate([y0, y1], axis=1), y)
    # "frame" ignores any state
    yf, _ = groupnorm_int(x, 1, 0, [1], [0], [0], -100, 100, P=2, state=GroupNormStats.reset(1, 1))
    assert yf.reshape(-1).tolist()[:4] == [-1, 0, 0, 1]


def test_groupnorm_params_hand_computed() -> None:
    # gamma / s_y = 3: largest S with |M| < 2**15 is 13 (3 * 2**13 = 24576); B = 0.5 / 0.25 * 2**13
    e, m, s, b = groupnorm_params([0.75], [0.5], 1e-5, 2.0**-4, 0.25, 4, 8, True)
    assert (e, m.tolist(), s.tolist(), b.tolist()) == (0, [24576], [13], [16384])
    # E = round(n^2 eps / s_x^2) = round(256^2 * 1e-3 * 4) = 262
    e, *_ = groupnorm_params([1.0], [0.0], 1e-3, 0.5, 1.0, 256, 8, True)
    assert e == 262
    with pytest.raises(UnsupportedModelError, match="layer gn.*channel 0.*raise the output scale"):
        groupnorm_params([2.0**16], [0.0], 1e-5, 1.0, 1.0, 4, 8, True, name="gn")


def test_groupnorm_params_tiny_gamma_keeps_width() -> None:
    # gamma ~ 0 with a large beta: S is lowered until the accumulator fits 62 bits (B would otherwise overflow)
    n = 8 * 64 * 64
    e, m, s, b = groupnorm_params([1e-9, 1.0], [3.0, 0.0], 1e-5, 2.0**-3, 2.0**-4, n, 8, True, name="gn")
    assert groupnorm_acc_bits(n, 8, True, m, b, e, name="gn") <= 62
    assert s[0] < 48 and abs(b[0] / 2.0 ** s[0] - 3.0 / 2.0**-4) < 1e-3


def test_groupnorm_acc_bits_is_per_channel() -> None:
    # the published network's first GroupNorm at 14-bit input (n = 2 channels x 128 x 128, P = 16): a channel with a
    # large gamma gets a large M, one with gamma ~ 0 and a large beta a large B; groupnorm_params fits each channel
    # in 62 bits, and the width is the largest channel's (max|M| and max|B| of two channels summed would need 63)
    n, p = 2 * 128 * 128, 16
    e, m, s, b = groupnorm_params([0.9, 1e-9], [0.0, 3.0], 1e-5, 2.0**-6, 2.0**-10, n, 14, True, P=p, name="gn")
    d_max = n * (2**13 - 1 + 2**13)
    k_max = ((n * n * 2**26 + e).bit_length() + 1) // 2
    per_channel = [d_max * 2 ** (p + 1) * abs(int(mc)) + abs(int(bc)) * 2 ** (p + k_max) for mc, bc in zip(m, b)]
    summed = d_max * 2 ** (p + 1) * int(np.abs(m).max()) + int(np.abs(b).max()) * 2 ** (p + k_max)
    assert summed >= 2**61 > max(per_channel)  # the case this test is about: 63 bits summed, <= 62 per channel
    assert groupnorm_acc_bits(n, 14, True, m, b, e, P=p, name="gn") == signed_bits(max(per_channel))
    # the golden model with these constants on a full-swing frame: channel 0 is 0.9 * z, channel 1 is beta
    checker = (np.arange(128)[:, None] + np.arange(128)[None, :]) % 2 == 1
    x = np.repeat(np.where(checker, 2**13 - 1, -(2**13)).astype(np.int64)[None, None, :, :, None], 2, axis=4)
    y, _ = groupnorm_int(x, 1, e, m, s, b, -(2**31), 2**31 - 1, P=p)
    xf = x.astype(np.float64)
    z = (xf - xf.mean()) / np.sqrt(xf.var() + 1e-5 / 2.0**-12)
    assert np.abs(y[..., 0] - 0.9 * z[..., 0] / 2.0**-10).max() <= 1.0
    assert np.all(y[..., 1] == 3 * 2**10)


def test_groupnorm_acc_bits_refuses_wide_layers() -> None:
    assert groupnorm_acc_bits(4, 8, True, [1], [0], 0, P=2) == signed_bits(4 * 255 * 2**3, 4 * 4 * 2**14)
    with pytest.raises(UnsupportedModelError, match="layer big: accumulator needs .* lower P .*or the input width"):
        groupnorm_acc_bits(2**20, 16, True, [2**14], [0], 0, name="big")
    with pytest.raises(UnsupportedModelError, match="layer big"):
        groupnorm_params([1.0], [0.0], 1e-5, 1.0, 1.0, 2**20, 16, True, name="big")


def signed_bits(*bounds: int) -> int:
    return max(bounds).bit_length() + 1


@pytest.mark.parametrize("x_signed,relu", [(True, False), (True, True), (False, False)])
def test_groupnorm_int_matches_float(x_signed: bool, relu: bool) -> None:
    """Integer GroupNorm vs torch's float GroupNorm on the same dequantized input: within one output step."""
    rng = np.random.default_rng(7)
    c, g, h, w, t = 8, 4, 6, 5, 3
    s_x, s_y = 2.0**-3, 2.0**-5
    lo_x, hi_x = int_range(8, x_signed)
    x = rng.integers(lo_x, hi_x + 1, (2, t, h, w, c))
    gamma, beta = rng.uniform(-1.5, 1.5, c), rng.uniform(-1, 1, c)
    n = c // g * h * w
    e, m, s, b = groupnorm_params(gamma, beta, 1e-5, s_x, s_y, n, 8, x_signed, name="gn")
    lo, hi = int_range(8, not relu)
    y, _ = groupnorm_int(x, g, e, m, s, b, lo, hi)
    gn = torch.nn.GroupNorm(g, c, eps=1e-5).double()
    with torch.no_grad():
        gn.weight.copy_(torch.from_numpy(gamma))
        gn.bias.copy_(torch.from_numpy(beta))
        xf = torch.from_numpy(x * s_x).permute(0, 1, 4, 2, 3).reshape(-1, c, h, w)
        ref = gn(xf).reshape(2, t, c, h, w).permute(0, 1, 3, 4, 2).numpy() / s_y
    ref = np.clip(ref, lo, hi)
    err = np.abs(y - ref)
    assert err.max() <= 0.5 + 1e-3, err.max()  # |y - z*gamma/s_y - beta/s_y| <= 1/2 + 2**-P relative terms
    assert np.mean(y == np.clip(np.round(ref), lo, hi)) > 0.98
