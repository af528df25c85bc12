"""The multiplier budget of the folding counts the requantizers' multipliers (dyadic scales: one acc x M product per
PE lane, split into 18x18 blocks), as the estimator counts DSP blocks: a design folded within a budget is estimated
within it. (The published 128x128 network folded for LFE5U-85F's 140-block budget was estimated at 208 DSP blocks
when only the MAC lanes were counted.)"""
from __future__ import annotations

from pleiades_fpga.hw.build import build_rtl
from pleiades_fpga.hw.rtl.folding import default_folding, fold_multipliers, requant_multipliers, total_multipliers
from pleiades_fpga.ir.reader import read_qonnx
from pleiades_fpga.report.estimate import estimate_layer
from pleiades_fpga.toolflow.parts import get_part

from small_qonnx import small_qonnx

DYADIC = {"weight_bits": 8, "act_bits": 8, "scaling": "dyadic", "mantissa_bits": 8}


def test_budget_counts_requant_multipliers_as_the_estimator(tmp_path):
    path = small_qonnx(tmp_path / "m.onnx", spec=DYADIC)
    graph = read_qonnx(path)
    fast = default_folding(graph)
    requant = sum(requant_multipliers(graph.layer(n), f) for n, f in fast.items())
    assert requant > 0, "dyadic scales need multi-bit requant multipliers"
    assert total_multipliers(graph, fast) == sum(fold_multipliers(graph, graph.layer(n), f) for n, f in fast.items())
    floor = total_multipliers(graph, default_folding(graph, target_fps=1e-3))
    budget = (floor + total_multipliers(graph, fast)) // 2
    assert floor < budget < total_multipliers(graph, fast)
    man = build_rtl(path, tmp_path / "b", max_multipliers=budget)
    part = get_part("LFE5U-85F")
    dsp = sum(estimate_layer(layer, part)["dsp"] for layer in man["layers"])
    assert 0 < dsp <= budget, f"estimated {dsp} DSP blocks for a {budget}-block budget"
