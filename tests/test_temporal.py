"""Temporal layers against a plain numpy reference; contraction orders; causality; streaming; re-sampling."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, special

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.model.temporal import (
    FreeTemporalConv,
    PleiadesTemporalConv,
    choose_contraction,
    contraction_costs,
)

torch.manual_seed(0)


def quad_basis(degree, k, alpha, beta, lo=0.0, hi=1.0):
    """Bin averages of P_n by numerical quadrature (independent of the package)."""
    h = (hi - lo) / k
    out = np.zeros((degree + 1, k))
    for n in range(degree + 1):
        for i in range(k):
            val, _ = integrate.quad(lambda x: special.eval_jacobi(n, alpha, beta, x), lo + i * h, lo + (i + 1) * h)
            out[n, i] = val / h
    return out


def reference_conv(x, kernel, groups, pad):
    """y[b, o, t] = sum_{c in group(o)} sum_k kernel[o, c, k] * x[b, c_abs, t + k] with explicit loops."""
    x = np.asarray(x, dtype=np.float64)
    out_c, cin_g, k = kernel.shape
    if pad == "causal":
        x = np.concatenate([np.zeros(x.shape[:2] + (k - 1,) + x.shape[3:]), x], axis=2)
    b, c, t, h, w = x.shape
    t_out = t - k + 1
    y = np.zeros((b, out_c, t_out, h, w))
    out_per_group = out_c // groups
    for o in range(out_c):
        g = o // out_per_group
        for ci in range(cin_g):
            cabs = g * cin_g + ci
            for tap in range(k):
                y[:, o] += kernel[o, ci, tap] * x[:, cabs, tap: tap + t_out]
    return y


LAYERS = [
    # in, out, K, degree, groups, alpha, beta
    (3, 5, 4, 2, 1, -0.25, -0.25),
    (4, 4, 6, 4, 4, -0.25, -0.25),  # depthwise
    (4, 6, 5, 3, 2, 0.5, -0.5),  # grouped
    (2, 8, 10, 4, 1, -0.25, -0.25),
]


@pytest.mark.parametrize("cin,cout,k,degree,groups,alpha,beta", LAYERS)
@pytest.mark.parametrize("pad", ["valid", "causal"])
@pytest.mark.parametrize("order", ["kernel", "project", "auto"])
def test_pleiades_matches_reference(cin, cout, k, degree, groups, alpha, beta, pad, order):
    layer = PleiadesTemporalConv(cin, cout, k, degree, alpha, beta, (0.0, 1.0), groups=groups,
                                 contraction=order).double()
    x = torch.randn(2, cin, 13, 3, 2, dtype=torch.float64)
    y = layer(x, pad=pad).detach().numpy()
    scale = 1.0 / math.sqrt(k * cin / groups)  # published scaling
    kernel = layer.coeffs.detach().numpy() @ (quad_basis(degree, k, alpha, beta) * scale)
    ref = reference_conv(x.numpy(), kernel, groups, pad)
    assert y.shape == ref.shape
    np.testing.assert_allclose(y, ref, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("cin,cout,k,degree,groups,alpha,beta", LAYERS)
def test_contraction_orders_same_gradients(cin, cout, k, degree, groups, alpha, beta):
    layer = PleiadesTemporalConv(cin, cout, k, degree, alpha, beta, groups=groups).double()
    x = torch.randn(2, cin, 12, 4, 3, dtype=torch.float64)
    grads = {}
    for order in ("kernel", "project"):
        layer.zero_grad()
        xi = x.clone().requires_grad_(True)
        y = layer(xi, pad="causal", contraction=order)
        (y * torch.cos(y)).sum().backward()
        grads[order] = (y.detach(), xi.grad.clone(), layer.coeffs.grad.clone())
    for a, b in zip(grads["kernel"], grads["project"]):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls", ["pleiades", "free"])
def test_free_and_pleiades_reference_and_causality(cls):
    layer = (PleiadesTemporalConv(3, 4, 5, groups=1) if cls == "pleiades" else FreeTemporalConv(3, 4, 5)).double()
    x = torch.randn(1, 3, 11, 2, 2, dtype=torch.float64)
    y = layer(x, pad="causal")
    ref = reference_conv(x.numpy(), layer.kernel().detach().numpy(), 1, "causal")
    np.testing.assert_allclose(y.detach().numpy(), ref, rtol=1e-10, atol=1e-12)
    # no look-ahead: changing frames >= 6 leaves outputs < 6 unchanged, and does change output 6
    x2 = x.clone()
    x2[:, :, 6:] += torch.randn_like(x2[:, :, 6:])
    y2 = layer(x2, pad="causal")
    torch.testing.assert_close(y2[:, :, :6], y[:, :, :6], rtol=0, atol=0)
    assert (y2[:, :, 6] - y[:, :, 6]).abs().max() > 1e-6
    # first causal output sees only the current frame through the last tap (zero history)
    first = torch.einsum("oc,bchw->bohw", layer.kernel()[:, :, -1], x[:, :, 0])
    torch.testing.assert_close(y[:, :, 0], first)


@pytest.mark.parametrize("groups,cout", [(1, 6), (3, 3)])
def test_streaming_equals_causal(groups, cout):
    layer = PleiadesTemporalConv(3, cout, 4, groups=groups).double()
    x = torch.randn(2, 3, 9, 3, 4, dtype=torch.float64)
    offline = layer(x, pad="causal")
    state = layer.init_state(2, 3, 4)
    assert state.shape == (2, 3, 3, 3, 4) and not state.any()
    outs = []
    for t in range(9):
        y, state = layer.step(x[:, :, t], state)
        outs.append(y)
    torch.testing.assert_close(torch.stack(outs, 2), offline, rtol=1e-12, atol=1e-12)
    # the state is the last K-1 input frames
    torch.testing.assert_close(state, x[:, :, -3:])


def test_causal_tail_equals_valid():
    layer = PleiadesTemporalConv(2, 3, 6).double()
    x = torch.randn(1, 2, 15, 2, 2, dtype=torch.float64)
    # per contraction order ("auto" may pick another order for another shape): the kernel-first conv is exact,
    # the project-first matmul may block differently for another length (last-bit differences)
    for order, atol in (("kernel", 0.0), ("project", 1e-14)):
        valid, causal = layer(x, pad="valid", contraction=order), layer(x, pad="causal", contraction=order)
        assert valid.shape[2] == 10 and causal.shape[2] == 15
        torch.testing.assert_close(causal[:, :, 5:], valid, rtol=0, atol=atol)


@pytest.mark.parametrize("factor", [2, 3])
@pytest.mark.parametrize("groups", [1, 4])
def test_resampling_bin_average(factor, groups):
    """Re-discretized at factor*K taps: the mean of each group of `factor` new taps is the old tap, and a
    clip whose frames are split into `factor` equal sub-bins (counts / factor) gives the same outputs."""
    k = 5
    layer = PleiadesTemporalConv(4, 4, k, degree=4, groups=groups).double()
    fine = layer.resampled(factor * k)
    assert fine.kernel_size == factor * k and fine.scale_kernel_size == k
    torch.testing.assert_close(fine.coeffs, layer.coeffs, rtol=0, atol=0)
    kern, kern_fine = layer.kernel(), fine.kernel()
    torch.testing.assert_close(kern_fine.reshape(*kern.shape, factor).mean(-1), kern, rtol=1e-12, atol=1e-13)
    # continuous kernel bin averages: tap j of the fine kernel = scale * coeffs . mean of P_n over its bin
    basis = quad_basis(4, factor * k, -0.25, -0.25) / math.sqrt(k * 4 / groups)
    np.testing.assert_allclose(kern_fine.detach().numpy(), layer.coeffs.detach().numpy() @ basis, rtol=1e-9,
                               atol=1e-11)
    x = torch.rand(2, 4, 12, 2, 3, dtype=torch.float64)
    x_fine = x.repeat_interleave(factor, dim=2) / factor
    y = layer(x, pad="valid")
    y_fine = fine(x_fine, pad="valid")
    torch.testing.assert_close(y_fine[:, :, ::factor], y, rtol=1e-10, atol=1e-12)


def test_resampling_down():
    layer = PleiadesTemporalConv(2, 3, 10).double()
    coarse = layer.resampled(5)
    torch.testing.assert_close(layer.kernel().reshape(3, 2, 5, 2).mean(-1), coarse.kernel(), rtol=1e-12,
                               atol=1e-13)


def test_free_resampling_is_linear_interpolation():
    layer = FreeTemporalConv(2, 3, 4).double()
    fine = layer.resampled(8)
    w = layer.weight.detach().numpy()
    old_c = (np.arange(4) + 0.5) / 4
    new_c = (np.arange(8) + 0.5) / 8
    ref = np.apply_along_axis(lambda v: np.interp(new_c, old_c, v), -1, w)  # np.interp holds the end values
    np.testing.assert_allclose(fine.weight.detach().numpy(), ref, rtol=1e-12, atol=1e-14)
    # a kernel linear in time stays linear inside the window (exact), constant beyond the end centres
    with torch.no_grad():
        layer.weight.copy_(torch.arange(4, dtype=torch.float64).expand(3, 2, 4))
    lin = layer.resampled(8).weight[0, 0].detach().numpy()
    np.testing.assert_allclose(lin, np.clip(new_c * 4 - 0.5, 0, 3), atol=1e-12)


def test_cost_model_counts():
    c = contraction_costs(16, 32, 1, 10, 5, positions=1000)
    assert c["kernel"].macs == 32 * 16 * 10 * 1000
    assert c["project"].macs == (16 * 5 * 10 + 32 * 16 * 5) * 1000
    assert c["project"].intermediate_bytes == 4 * 16 * 5 * 1000
    assert c["kernel"].intermediate_bytes == 0
    # depthwise with fewer taps than basis*taps: kernel-first is cheaper by any measure
    assert choose_contraction(64, 64, 64, 10, 5, positions=10_000) == "kernel"
    # a wide full layer (out*in*K >> in*(N+1)*K + out*in*(N+1)) prefers projecting first
    assert choose_contraction(256, 256, 1, 40, 3, positions=10_000) == "project"


def test_auto_measures_once_and_picks_the_faster(monkeypatch):
    import pleiades_fpga.model.temporal as temporal

    layer = PleiadesTemporalConv(8, 8, 6, groups=1)
    shape = (2, 8, 12, 3, 3)
    # a fake clock: each order takes a fixed time; "project" is faster here, then "kernel"
    for fast in ("project", "kernel"):
        temporal._AUTOTUNE_CACHE.clear()
        calls = []

        def fake_time(run, order, n=1, fast=fast):
            calls.append(order)
            return 1.0 if order == fast else 2.0

        monkeypatch.setattr(temporal, "_time_once", fake_time)
        assert layer.order_for(shape) == fast
        n = len(calls)
        assert n == 2 * (temporal._AUTOTUNE_REPEATS + 1)
        assert layer.order_for(shape) == fast and len(calls) == n  # cached: no new measurement
        assert layer.order_for(shape, backward=True) == fast and len(calls) == 2 * n  # training is another key
    layer.contraction = "project"
    assert layer.order_for(shape) == "project"
    with pytest.raises(PleiadesError, match="contraction"):
        layer.contraction = "fastest"


def test_autotune_leaves_rng_and_grads_alone():
    import pleiades_fpga.model.temporal as temporal

    temporal._AUTOTUNE_CACHE.clear()
    layer = PleiadesTemporalConv(4, 6, 5)
    x = torch.randn(2, 4, 9, 3, 3, requires_grad=True)
    state = torch.get_rng_state()
    y = layer(x, pad="causal")  # auto: measures both orders (forward + backward) first
    assert torch.equal(torch.get_rng_state(), state)
    assert layer.coeffs.grad is None and x.grad is None
    ref = layer(x, pad="causal", contraction="kernel")
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-6)


def test_bad_inputs():
    layer = PleiadesTemporalConv(2, 4, 5)
    with pytest.raises(PleiadesError, match="pad"):
        layer(torch.zeros(1, 2, 8, 2, 2), pad="same")
    with pytest.raises(PleiadesError, match="expects"):
        layer(torch.zeros(1, 3, 8, 2, 2))
    with pytest.raises(PleiadesError, match="at least kernel_size"):
        layer(torch.zeros(1, 2, 4, 2, 2), pad="valid")
    with pytest.raises(PleiadesError, match="divisible"):
        PleiadesTemporalConv(3, 4, 5, groups=2)
    with pytest.raises(PleiadesError, match="alpha"):
        PleiadesTemporalConv(2, 4, 5, alpha=-1.5)
    with pytest.raises(PleiadesError, match="kernel_size"):
        FreeTemporalConv(2, 4, 0)
