"""Dyadic weight scales (scaling = "dyadic"): fixed-point multiplier + shift requantization, exact end to end."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pleiades_fpga.errors import PleiadesError, UnsupportedModelError
from pleiades_fpga.ir.golden import GoldenModel
from pleiades_fpga.ir.integers import requant_params
from pleiades_fpga.ir.reader import read_qonnx
from pleiades_fpga.quant import build_quant_model, resolve_spec
from pleiades_fpga.sim.verify import verify_build

from small_qonnx import CFG, qonnx_outputs, small_qonnx

SPEC = {"weight_bits": 4, "act_bits": 4, "scaling": "dyadic", "mantissa_bits": 4}


def test_config_accepts_dyadic_and_checks_mantissa():
    spec = resolve_spec(dict(SPEC))
    assert spec["scaling"] == "dyadic" and spec["mantissa_bits"] == 4
    assert resolve_spec({"weight_bits": 4, "act_bits": 4, "scaling": "dyadic"})["mantissa_bits"] == 4
    with pytest.raises(PleiadesError, match="mantissa_bits"):
        resolve_spec(dict(SPEC, mantissa_bits=12))
    with pytest.raises(PleiadesError, match="mantissa_bits only applies"):
        resolve_spec({"weight_bits": 4, "act_bits": 4, "mantissa_bits": 4})


@pytest.mark.parametrize("bits,mantissa", [(4, 4), (8, 3), (2, 5)])
def test_weight_scales_are_short_dyadic_and_use_the_range(bits, mantissa):
    torch.manual_seed(bits)
    spec = dict(SPEC, weight_bits=bits, mantissa_bits=mantissa)
    model = build_quant_model(CFG, spec)
    top = 2 ** (bits - 1) - 1
    for name, m in model.named_modules():
        if not hasattr(m, "quant_weight") or not hasattr(m, "weight_quant"):
            continue
        q = m.quant_weight()
        scale = q.scale.detach().double().flatten()
        ints = (q.value / q.scale).detach().double()
        assert torch.equal(ints, ints.round()) and ints.abs().max() <= top, name
        for s in scale.tolist():
            num, _ = s.as_integer_ratio()
            assert num.bit_length() <= mantissa + 1, (name, s)  # m <= 2**mantissa
        # the largest weight of each channel is not clipped and lands in the top part of the range
        w = m.weight.detach().double().flatten(1).abs().amax(1)
        ratio = w / scale
        assert (ratio <= top + 1e-9).all(), name
        # (a power-of-two scale only guarantees top / 2; the mantissa rounds up by < 1 part in 2**(mb-1))
        assert (ratio >= top * 2 ** (mantissa - 1) / (2 ** (mantissa - 1) + 1) - 1e-9).all(), (name, ratio.min())


def test_requant_params_are_exact_or_rejected():
    ratio = np.array([13 / 2**9, 1 / 8, 4.0, 3 * 2.0**-20])
    mult, shift = requant_params(ratio, "test")
    np.testing.assert_array_equal(mult, [13, 1, 4, 3])
    np.testing.assert_array_equal(shift, [9, 3, 0, 20])
    with pytest.raises(UnsupportedModelError, match="fixed-point multiplier"):
        requant_params(np.array([0.1]), "layer x")


@pytest.fixture(scope="module")
def dyadic_build(tmp_path_factory):
    from pleiades_fpga.hw.build import build_rtl

    tmp = tmp_path_factory.mktemp("dyadic")
    path = small_qonnx(tmp / "model.onnx", seed=1, spec=dict(SPEC))
    manifest = build_rtl(path, tmp / "build")
    return path, tmp / "build", manifest


def test_golden_equals_qonnx_with_fixed_point_multipliers(dyadic_build):
    path, _, _ = dyadic_build
    graph = read_qonnx(path)
    mults = np.concatenate([l.multiplier for l in graph.layers if l.multiplier is not None])
    assert (mults % 2 == 1).any() and (mults > 1).any()  # real multipliers, not only shifts
    rng = np.random.default_rng(5)
    clips = rng.poisson(0.6, size=(20, 2, 16, 8, 8)).astype(np.float32)
    golden = GoldenModel.from_qonnx(path)
    ints = golden.run(clips)
    ref = qonnx_outputs(path, clips)
    assert int((golden.dequantize(ints) != ref).sum()) == 0
    assert len(np.unique(ints)) > 10


@pytest.mark.xdist_group("rtl_dyadic")
def test_rtl_with_multipliers_bit_exact(dyadic_build):
    _, build_dir, manifest = dyadic_build
    # the generated requantizers really multiply (M wider than 1 bit) in some layers
    assert any(max(l.get("params", {}).get("M_W", 1), l.get("params", {}).get("M_BITS", 1)) > 1
               for l in manifest["layers"])
    s = verify_build(build_dir, frames=30, sim="verilator", pause=0.35, seed=4)
    assert s["values_compared"] == 2 * 30 * manifest["output"]["channels"]
    assert s["mismatches"] == 0, s
