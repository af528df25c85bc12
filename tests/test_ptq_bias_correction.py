"""Post-training bias correction (quant config ``bias_correction``): every conv's output mean on the calibration
inputs is that of its float weights again, the quantized network moves closer to the float one, and the exported
QONNX still equals the golden model bit for bit."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from brevitas.nn import QuantConv3d

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.model import build_model, get_preset
from pleiades_fpga.quant import fold_batchnorm, resolve_spec
from pleiades_fpga.quant.ptq import calibrate_ptq, prepare_ptq
from ptq_checks import assert_golden_equals_qonnx, conv_inputs

CFG = get_preset("tiny", input_size=(8, 8)).replace(temporal_norm="group", norm_groups=2)
SPEC = {"weight_bits": 4, "act_bits": 8, "scaling": "dyadic", "mantissa_bits": 4}


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(3)
    model = build_model(CFG).eval()
    g = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.GroupNorm):
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.uniform_(-0.2, 0.4, generator=g)
            if isinstance(m, torch.nn.BatchNorm3d):
                m.running_mean.uniform_(-0.2, 0.2, generator=g)
                m.running_var.uniform_(0.5, 1.5, generator=g)
    frames = torch.poisson(torch.full((3, 2, CFG.receptive_field + 8, 8, 8), 0.4), generator=g)
    plain = calibrate_ptq(prepare_ptq(model, resolve_spec(SPEC)), frames, progress=False)
    corrected = calibrate_ptq(prepare_ptq(model, resolve_spec({**SPEC, "bias_correction": True})), frames,
                              progress=False)
    return model, frames, fold_batchnorm(plain), corrected


def test_pointwise_output_means_match_the_float_weights(setup):
    """For 1x1x1 convs (no padding) the corrected conv's mean output over its calibration inputs (those of the
    uncorrected network: the correction is measured in one pass) equals that of the float weights with the
    uncorrected bias (to the bias's accumulator-scale rounding); uncorrected it does not."""
    _, frames, plain, corrected = setup
    xs = conv_inputs(plain, frames)
    checked = 0
    for name, conv in corrected.named_modules():
        if not isinstance(conv, QuantConv3d) or conv.kernel_size != (1, 1, 1):
            continue
        ref_conv = dict(plain.named_modules())[name]
        x = xs[name].double()
        w_float = ref_conv.weight.detach().double()
        w_q = conv.quant_weight().value.detach().double()
        assert torch.equal(w_q, ref_conv.quant_weight().value.detach().double()), name  # weights untouched
        target = F.conv3d(x, w_float, ref_conv.bias.detach().double(), groups=conv.groups).mean(dim=(0, 2, 3, 4))
        before = F.conv3d(x, w_q, ref_conv.bias.detach().double(), groups=conv.groups).mean(dim=(0, 2, 3, 4))
        after = F.conv3d(x, w_q, conv.bias.detach().double(), groups=conv.groups).mean(dim=(0, 2, 3, 4))
        err_before, err_after = (before - target).abs().max(), (after - target).abs().max()
        assert err_after <= 1e-5 * max(1.0, float(target.abs().max())), (name, float(err_after))
        assert err_before > 100 * err_after, (name, float(err_before), float(err_after))
        checked += 1
    assert checked >= 3


def test_corrected_network_is_closer_to_float(setup):
    model, frames, plain, corrected = setup
    with torch.no_grad():
        ref = torch.cat([model(frames[i:i + 1], pad="causal") for i in range(len(frames))])
        errs = [float((torch.cat([q(frames[i:i + 1], pad="causal") for i in range(len(frames))]) - ref).norm()
                      / ref.norm()) for q in (plain, corrected)]
    assert errs[1] < errs[0], errs


def test_corrected_export_golden_equals_qonnx(setup, tmp_path):
    *_, corrected = setup
    assert_golden_equals_qonnx(corrected, tmp_path / "bc.onnx")


def test_bias_correction_is_a_boolean():
    with pytest.raises(PleiadesError, match="bias_correction must be true or false"):
        resolve_spec({**SPEC, "bias_correction": "yes"})
