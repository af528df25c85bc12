"""Causal GroupNorm end to end on a small network: quantized torch model (eval, integer path) == QONNX executed by
qonnx == integer golden model (clip and streaming), for exact ("frame") and previous-frame statistics; QAT
gradients; the IR layer; refusals of the reader and of unexportable configurations."""
from __future__ import annotations

import time

import numpy as np
import onnx
import pytest
import torch

from pleiades_fpga.errors import UnsupportedModelError
from pleiades_fpga.ir.golden import GoldenModel
from pleiades_fpga.ir.integers import int_range
from pleiades_fpga.ir.reader import read_qonnx
from pleiades_fpga.model import build_model, get_preset
from pleiades_fpga.quant import build_quant_model, calibrate, export_model, fold_batchnorm
from pleiades_fpga.quant.fold import check_exportable
from pleiades_fpga.quant.groupnorm import QuantGroupNorm, frame_group_norm
from small_qonnx import qonnx_outputs, randomize_bn

CFG = get_preset("tiny").replace(temporal_norm="group", norm_groups=2, input_size=(8, 8))
FRAMES = 16


def _clips(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.poisson(torch.full((n, 2, FRAMES, 8, 8), 0.5), generator=g)


def _groupnorm_model(stats: str) -> torch.nn.Module:
    torch.manual_seed(3)
    model = build_quant_model(CFG, {"weight_bits": 8, "act_bits": 8, "groupnorm_stats": stats},
                              init_from=build_model(CFG))
    randomize_bn(model, 3)
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, QuantGroupNorm):
                m.weight.uniform_(-1.5, 1.5, generator=g)  # negative gammas too: signed multipliers
                m.bias.uniform_(-0.5, 0.8, generator=g)
    return calibrate(model, _clips(6, 0), batch_size=2, passes=4)


@pytest.fixture(scope="module", params=["frame", "previous"])
def exported(request, tmp_path_factory):
    model = _groupnorm_model(request.param)
    path = export_model(model, tmp_path_factory.mktemp("gn") / f"gn_{request.param}.onnx", frames=FRAMES)
    return request.param, model, path, _clips(4, 1)


def test_qonnx_golden_and_torch_agree_exactly(exported):
    stats, model, path, clips = exported
    golden = GoldenModel.from_qonnx(path)
    ints, trace = golden.run(clips.numpy(), trace=True)
    logits = golden.dequantize(ints)
    ref = qonnx_outputs(path, clips.numpy())
    assert int((logits != ref).sum()) == 0
    with torch.no_grad():
        torch_logits = fold_batchnorm(model)(clips, pad="causal").double().numpy()
    assert int((logits != torch_logits).sum()) == 0
    assert np.array_equal(golden.stream(clips.numpy()), ints)  # streaming state (previous-frame statistics)
    assert len(np.unique(ints)) > 20
    norms = [layer for layer in golden.ir.layers if layer.kind == "groupnorm"]
    assert [layer.name for layer in norms] == ["blocks.0.temporal_norm", "blocks.1.temporal_norm",
                                               "blocks.1.pointwise_norm"]
    for layer in norms:
        assert layer.params.stats == stats and layer.acc_bits <= 62
        y = trace[layer.name]
        lo, hi = int_range(layer.out_bits, layer.out_signed)
        assert np.mean((y > max(lo, 0 if layer.relu else lo)) & (y < hi)) > 0.15, layer.name  # busy, not clamped
    assert [n.relu for n in norms] == [True, True, False]  # ReLU fused before the DWS add only
    assert norms[2].out_signed  # the DWS add's shared signed quantizer


def test_golden_groupnorm_is_the_float_groupnorm(exported):
    """Each integer GroupNorm layer against torch's float per-frame GroupNorm of its own dequantized input."""
    stats, model, path, clips = exported
    golden = GoldenModel.from_qonnx(path)
    _, trace = golden.run(clips.numpy(), trace=True)
    producers = {layer.output: layer for layer in golden.ir.layers}
    folded = fold_batchnorm(model)
    for layer in (lay for lay in golden.ir.layers if lay.kind == "groupnorm"):
        x = trace[producers[layer.inputs[0]].name] * float(layer.in_scale)
        module = folded.get_submodule(layer.name)
        with torch.no_grad():
            ref = frame_group_norm(torch.from_numpy(x), module.num_groups, module.weight.double(),
                                   module.bias.double(), module.eps, stats).numpy()
        lo, hi = int_range(layer.out_bits, layer.out_signed)
        ref = np.clip(ref / float(layer.out_scale), 0 if layer.relu else lo, hi)
        err = np.abs(trace[layer.name] - ref)
        if stats == "frame":
            assert err.max() <= 0.51, (layer.name, err.max())
        else:  # after reset (no statistics) z = x / sqrt(eps) saturates: compare from the second frame on
            assert err[:, :, 1:].max() <= 0.51, (layer.name, err[:, :, 1:].max())


def test_qat_trains_gamma_beta_through_the_quantizers():
    model = build_quant_model(CFG, "w8a8").train()
    y = model(_clips(2, 4), pad="causal")
    y.square().sum().backward()
    gn = model.blocks[1].pointwise_norm
    assert isinstance(gn, QuantGroupNorm)
    assert gn.weight.grad is not None and gn.weight.grad.abs().sum() > 0 and gn.bias.grad.abs().sum() > 0
    assert model.blocks[0].temporal.coeffs.grad.abs().sum() > 0


def test_reader_refuses_bad_groupnorm_nodes(exported, tmp_path):
    _, _, path, _ = exported
    m = onnx.load(str(path))
    node = next(n for n in m.graph.node if n.op_type == "PleiadesGroupNorm")
    for attr in node.attribute:
        if attr.name == "M":
            del attr.ints[-1]
    with pytest.raises(UnsupportedModelError, match="PleiadesGroupNorm.*one value per channel"):
        read_qonnx(m)
    node.domain = "other.domain"
    with pytest.raises(UnsupportedModelError, match="must be in domain 'pleiades_fpga.custom_op'"):
        read_qonnx(m)


def test_unexportable_groupnorm_refused_in_seconds():
    """The published network at 128x128 with P = 24 cannot keep its GroupNorm accumulators in 62 bits: refused from
    the configuration alone, naming the first layer."""
    cfg = get_preset("dvs128")
    t0 = time.perf_counter()
    with pytest.raises(UnsupportedModelError, match=r"GroupNorm layer blocks\.0\.temporal_norm: accumulator needs"):
        check_exportable(cfg, {"weight_bits": 8, "act_bits": 8, "groupnorm_p": 24, "layers": {}})
    assert time.perf_counter() - t0 < 5
    check_exportable(cfg, {"weight_bits": 8, "act_bits": 8, "layers": {}})  # P = 16
