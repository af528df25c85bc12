"""GPTQ weight rounding after post-training quantization (quant config ``weight_rounding = "gptq"``): the rounding
with error feedback finds the known better codes, lowers every stored-tap conv's output error on its calibration
inputs below rounding to nearest with the same scales, and the exported QONNX still equals the golden model."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from brevitas.nn import QuantConv3d

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.model import build_model, get_preset
from pleiades_fpga.quant import fold_batchnorm, resolve_spec
from pleiades_fpga.quant.gptq import conv_patches, gptq_model, gptq_round
from pleiades_fpga.quant.ptq import calibrate_ptq, prepare_ptq
from pleiades_fpga.quant.temporal import QuantPleiadesConv
from ptq_checks import assert_golden_equals_qonnx, conv_inputs

CFG = get_preset("tiny", input_size=(8, 8)).replace(temporal_norm="group", norm_groups=2)
SPEC = {"weight_bits": 4, "act_bits": 8, "scaling": "dyadic", "mantissa_bits": 4}


def test_gptq_round_feeds_the_error_forward():
    """Two always-equal inputs, weights 0.3 and 0.3 on the grid 1: to nearest both round to 0 (output error 0.6 x);
    GPTQ rounds the first to 0 and carries its 0.3 to the second (0.597 with 1 % damping), which rounds to 1
    (error 0.4 x, the best possible)."""
    w = torch.tensor([[[0.3, 0.3]]])
    h = torch.ones(1, 2, 2)
    codes = gptq_round(w, torch.ones(1, 1, 1), torch.full((1, 1, 1), 7.0), h)
    assert codes.tolist() == [[[0.0, 1.0]]]
    fixed = torch.tensor([[[float("nan"), 0.0]]])  # an imposed code is kept (and the first column takes the error)
    assert gptq_round(w, torch.ones(1, 1, 1), torch.full((1, 1, 1), 7.0), h, fixed).tolist() == [[[0.0, 0.0]]]


def test_conv_patches_reproduce_the_conv():
    """The patches GPTQ's statistics are built from, times the flattened weights, are the conv's output."""
    g = torch.Generator().manual_seed(0)
    for kernel, stride, padding, groups in (((1, 3, 3), (1, 2, 2), (0, 1, 1), 1), ((1, 3, 3), 1, (0, 1, 1), 4),
                                            ((5, 1, 1), 1, 0, 4), ((1, 1, 1), 1, 0, 1)):
        conv = torch.nn.Conv3d(4, 8, kernel, stride, padding, groups=groups, bias=False)
        x = torch.randn(2, 4, 7, 6, 6, generator=g)
        y = conv(x).detach()  # (B, out, T', H', W')
        p = conv_patches(conv, x)  # (groups, positions, d)
        w = conv.weight.detach().reshape(groups, 8 // groups, -1)
        out = (p @ w.transpose(1, 2)).transpose(0, 1).reshape(p.shape[1], 8)  # positions x out
        ref = y.permute(0, 2, 3, 4, 1).reshape(-1, 8)
        assert torch.allclose(out, ref, atol=1e-5), kernel


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(3)
    model = build_model(CFG).eval()
    g = torch.Generator().manual_seed(4)
    frames = torch.poisson(torch.full((3, 2, CFG.receptive_field + 8, 8, 8), 0.4), generator=g)
    nearest = fold_batchnorm(calibrate_ptq(prepare_ptq(model, resolve_spec(SPEC)), frames, progress=False))
    gptq = calibrate_ptq(prepare_ptq(model, resolve_spec({**SPEC, "weight_rounding": "gptq"})), frames,
                         progress=False)
    return model, frames, nearest, gptq


def test_gptq_lowers_every_conv_output_error_at_the_same_scales(setup):
    """On the inputs it was calibrated on (those of the round-to-nearest network: one statistics pass), each
    conv's output with GPTQ weights is closer to that of the float weights than rounding to nearest, on the same
    per-channel scales; PLEIADES temporal layers keep their coefficients and carry the change as tap offsets."""
    _, frames, nearest, gptq = setup
    xs = conv_inputs(nearest, frames)
    modules = dict(gptq.named_modules())
    dense = 0
    for name, ref in nearest.named_modules():
        if not isinstance(ref, QuantConv3d):
            continue
        conv = modules[name]
        assert torch.equal(conv.quant_weight().scale, ref.quant_weight().scale), name
        x = xs[name].double()
        if isinstance(ref, QuantPleiadesConv):
            assert torch.equal(conv.coeffs, ref.coeffs) and bool(conv.tap_offset.any()), name
            x = F.pad(x, (0, 0, 0, 0, ref.kernel_size[0] - 1, 0))  # causal, as the layer pads it
        kw = {"stride": ref.stride, "padding": ref.padding, "groups": ref.groups}
        target = F.conv3d(x, ref.weight.detach().double(), **kw)
        err = [float((F.conv3d(x, c.quant_weight().value.detach().double(), **kw) - target).norm())
               for c in (ref, conv)]
        assert err[1] <= err[0], (name, err)
        if ref.groups == 1:  # dense convs gain most (a depthwise 3x3 has only 8 free taps per channel)
            assert err[1] < 0.95 * err[0], (name, err)
            dense += 1
    assert dense >= 5


def test_gptq_network_is_closer_to_float(setup):
    model, frames, nearest, gptq = setup
    with torch.no_grad():
        ref = torch.cat([model(frames[i:i + 1], pad="causal") for i in range(len(frames))])
        errs = [float((torch.cat([q(frames[i:i + 1], pad="causal") for i in range(len(frames))]) - ref).norm()
                      / ref.norm()) for q in (nearest, gptq)]
    assert errs[1] < 0.8 * errs[0], errs


def test_gptq_export_golden_equals_qonnx(setup, tmp_path):
    *_, gptq = setup
    assert_golden_equals_qonnx(gptq, tmp_path / "gptq.onnx")


@pytest.mark.parametrize("temporal", ["buffer", "recurrent"])
def test_gptq_with_power_of_two_scales(temporal):
    """Power-of-two weight scales leave the largest |w| of a channel up to 2x under the top code (or, rounded, one
    past it: clamped to the narrow range); GPTQ keeps every code within it, also on recurrent temporal layers'
    readouts, and the network is closer to float than rounded to nearest."""
    cfg = get_preset("tiny").replace(kernel_size=10, input_size=[8, 8], temporal=temporal)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    frames = torch.poisson(torch.full((2, 2, cfg.receptive_field + 4, 8, 8), 0.4),
                           generator=torch.Generator().manual_seed(1))
    spec = {"weight_bits": 4, "act_bits": 8}
    nearest = fold_batchnorm(calibrate_ptq(prepare_ptq(model, resolve_spec(spec)), frames, progress=False))
    gptq = calibrate_ptq(prepare_ptq(model, resolve_spec({**spec, "weight_rounding": "gptq"})), frames,
                         progress=False)
    for m in gptq.modules():
        if isinstance(m, QuantConv3d):
            qw = m.quant_weight()
            assert float((qw.value / qw.scale).abs().max()) <= 7
    with torch.no_grad():
        ref = model(frames, pad="causal")
        errs = [float((q(frames, pad="causal") - ref).norm() / ref.norm()) for q in (nearest, gptq)]
    assert errs[1] < errs[0], errs


def test_weight_rounding_is_checked():
    with pytest.raises(PleiadesError, match="weight_rounding must be one of"):
        resolve_spec({**SPEC, "weight_rounding": "adaround"})
    with pytest.raises(PleiadesError, match="BatchNorm-folded"):
        gptq_model(prepare_ptq(build_model(CFG).eval(), resolve_spec(SPEC)), torch.zeros(1, 2, 4, 8, 8))
