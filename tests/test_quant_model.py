"""Brevitas QAT network: kernel quantization, float init, padding modes, BatchNorm folding, GroupNorm width refusal."""
import math

import numpy as np
import pytest
import torch

from pleiades_fpga.errors import PleiadesError, UnsupportedModelError
from pleiades_fpga.model import build_model, get_preset, load_model, save_checkpoint
from pleiades_fpga.model.polynomials import discrete_basis
from pleiades_fpga.quant import build_quant_model, calibrate, export_model, fold_batchnorm
from pleiades_fpga.quant.temporal import QuantPleiadesConv

CFG = get_preset("tiny", input_size=(16, 16))


def _clips(n=4, t=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.poisson(torch.full((n, 2, t, 16, 16), 0.8), generator=g)


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_temporal_layer_quantizes_the_generated_kernel(bits):
    torch.manual_seed(bits)
    basis = torch.from_numpy(discrete_basis(3, 6, -0.25, -0.25, (0.0, 1.0))).float()
    layer = QuantPleiadesConv(3, 5, basis, groups=1, weight_bits=bits)
    with torch.no_grad():
        layer.coeffs.copy_(torch.randn(5, 3, 4))
    kernel = (layer.coeffs @ basis).detach().double().numpy()  # (5, 3, 6)
    qmax = 2 ** (bits - 1) - 1
    scale = 2.0 ** np.ceil(np.log2(np.abs(kernel).max(axis=(1, 2)) / 2 ** (bits - 1)))  # power of two per channel
    expected = np.clip(np.round(kernel / scale[:, None, None]), -qmax, qmax)
    q = layer.quant_weight()
    np.testing.assert_array_equal(q.scale.detach().reshape(-1).double().numpy(), scale)
    np.testing.assert_array_equal(q.int().reshape(5, 3, 6).numpy(), expected)
    # gradients reach the coefficients through the quantizer (straight-through estimator)
    q.value.sum().backward()
    assert layer.coeffs.grad is not None and layer.coeffs.grad.abs().sum() > 0


def test_input_counts_are_clipped_unsigned_integers():
    model = build_quant_model(CFG, {"weight_bits": 4, "act_bits": 4, "input_bits": 3}).eval()
    x = torch.tensor([0.0, 1.0, 2.5, 3.5, 6.0, 7.0, 8.0, 40.0])
    q = model.input_quant(x)
    assert float(q.scale) == 1.0
    np.testing.assert_array_equal(q.value.numpy(), [0, 1, 2, 4, 6, 7, 7, 7])  # half to even, clip at 2**3-1


def test_init_from_float_copies_weights():
    torch.manual_seed(0)
    f = build_model(CFG)
    q = build_quant_model(CFG, "w8a8", init_from=f)
    assert torch.equal(q.blocks[0].temporal.coeffs, f.blocks[0].temporal.coeffs)
    assert torch.equal(q.blocks[0].temporal.basis, f.blocks[0].temporal.basis)
    assert torch.equal(q.blocks[0].spatial.weight[:, :, 0], f.blocks[0].spatial.weight)
    assert torch.equal(q.blocks[1].skip.bias, f.blocks[1].skip.bias)
    assert torch.equal(q.head.fc1.weight[:, :, 0, 0, 0], f.head.fc1.weight)
    assert torch.equal(q.head.fc2.bias, f.head.fc2.bias)
    assert torch.equal(q.blocks[1].pointwise_norm.running_var, f.blocks[1].pointwise_norm.running_var)


def test_w8a8_tracks_float_model():
    torch.manual_seed(1)
    f = build_model(CFG)
    x = _clips(8, 12)
    f.train()
    with torch.no_grad():
        for _ in range(3):
            f(x, pad="causal")  # BN statistics of this data
    f.eval()
    q = calibrate(build_quant_model(CFG, "w8a8", init_from=f), x, batch_size=8, passes=4)
    # calibration ran BN in train mode too: give both the same BN statistics
    f.load_state_dict({k: v for k, v in q.state_dict().items() if k in f.state_dict() and v.shape == f.state_dict()[k].shape}, strict=False)
    with torch.no_grad():
        yf = f(x, pad="causal")
        yq = q(x, pad="causal")
    rel = float((yq - yf).norm() / yf.norm())
    assert rel < 0.05, rel
    assert float(torch.corrcoef(torch.stack([yq.flatten(), yf.flatten()]))[0, 1]) > 0.99


def test_causal_tail_equals_valid():
    torch.manual_seed(2)
    q = calibrate(build_quant_model(CFG, "w4a4"), _clips(4, 12), passes=4)
    x = _clips(2, CFG.receptive_field + 3, seed=5)
    with torch.no_grad():
        yc = q(x, pad="causal")
        yv = q(x, pad="valid")
    assert yv.shape[2] == 4
    torch.testing.assert_close(yc[:, :, -4:], yv, rtol=0, atol=0)
    with pytest.raises(PleiadesError, match="pad"):
        q(x, pad="same")


def test_fold_batchnorm_math():
    torch.manual_seed(3)
    q = build_quant_model(CFG, "w8a8")
    with torch.no_grad():
        for m in q.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    q = calibrate(q, _clips(4, 12), passes=4)
    # calibration updated BN stats in train mode; read them now
    bn = q.blocks[0].temporal_norm
    f = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach()
    folded = fold_batchnorm(q)
    assert folded.quant_config["folded"] and not any(isinstance(m, torch.nn.BatchNorm3d) for m in folded.modules())
    torch.testing.assert_close(folded.blocks[0].temporal.coeffs, q.blocks[0].temporal.coeffs * f[:, None, None])
    torch.testing.assert_close(folded.blocks[0].temporal.bias, (q.blocks[0].temporal.bias - bn.running_mean) * f + bn.bias)
    bn = q.blocks[1].spatial_pointwise_norm
    f = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach()
    torch.testing.assert_close(folded.blocks[1].spatial_pointwise.weight,
                               q.blocks[1].spatial_pointwise.weight * f[:, None, None, None, None])
    # activation scales are kept, and the folded network computes nearly the same function
    assert torch.equal(folded.blocks[0].temporal_act.act_quant.scale(), q.blocks[0].temporal_act.act_quant.scale())
    x = _clips(2, 12, seed=9)
    with torch.no_grad():
        ya, yb = q(x, pad="causal"), folded(x, pad="causal")
    assert float((ya - yb).norm() / ya.norm()) < 0.3


def test_unexportable_groupnorm_model_fails_export_naming_the_layer(tmp_path):
    """A causal GroupNorm whose accumulator cannot stay within 62 bits (P = 24 at 128x128) is refused up front."""
    cfg = CFG.replace(temporal_norm="group", input_size=(128, 128))
    q = build_quant_model(cfg, {"weight_bits": 8, "act_bits": 8, "groupnorm_p": 24})
    with pytest.raises(UnsupportedModelError, match=r"GroupNorm layer blocks\.0\.temporal_norm.*lower P"):
        export_model(q, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_float_model_fails_export_with_hint(tmp_path):
    with pytest.raises(UnsupportedModelError, match="--quant"):
        export_model(build_model(CFG), tmp_path / "m.onnx")


def test_bad_arguments():
    with pytest.raises(PleiadesError, match="from 2 to 8"):
        build_quant_model(CFG, "w9a4")
    with pytest.raises(PleiadesError, match="from 2 to 8"):
        build_quant_model(CFG, {"weight_bits": 1, "act_bits": 4})
    q = build_quant_model(CFG, "w4a4")
    with pytest.raises(PleiadesError, match="float model"):
        build_quant_model(CFG, "w4a4", init_from=q)


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(4)
    q = calibrate(build_quant_model(CFG, "w4a4"), _clips(4, 12), passes=4)
    x = _clips(2, 12, seed=7)
    for model in (q, fold_batchnorm(q)):
        path = save_checkpoint(model, tmp_path / "q.pt")
        loaded = load_model(path)
        with torch.no_grad():
            torch.testing.assert_close(loaded(x, pad="causal"), model(x, pad="causal"), rtol=0, atol=0)
