"""The folding budget counts GroupNorm's multiplier blocks: a network folded within ``max_multipliers`` needs at most
that many DSP blocks in the estimate (LFE5U-85F, 18x18 blocks), GroupNorm's wide products (d*M, (d*M)*R') included.

At 32x32 the first GroupNorm has n = 2 * 32 * 32 elements per group, so d = n*x - S1 needs 8 + 12 + 1 bits and its
two normalization products split into 2 and 3 blocks: 6 blocks a lane, not 3 multipliers."""
from __future__ import annotations

import pytest
import torch

from pleiades_fpga.hw.rtl.folding import default_folding, total_multipliers
from pleiades_fpga.hw.rtl.generate import generate
from pleiades_fpga.hw.rtl.kinds import groupnorm as gn
from pleiades_fpga.ir.reader import read_qonnx
from pleiades_fpga.model import build_model, get_preset
from pleiades_fpga.quant import build_quant_model, calibrate, export_model
from pleiades_fpga.report.estimate import estimate_manifest
from pleiades_fpga.toolflow.parts import get_part

SIZE = 32


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    cfg = get_preset("tiny").replace(temporal_norm="group", norm_groups=2, input_size=(SIZE, SIZE))
    torch.manual_seed(3)
    model = build_quant_model(cfg, {"weight_bits": 8, "act_bits": 8, "groupnorm_stats": "frame"},
                              init_from=build_model(cfg))
    clips = torch.poisson(torch.full((2, 2, 6, SIZE, SIZE), 0.5), generator=torch.Generator().manual_seed(0))
    path = export_model(calibrate(model, clips, batch_size=2, passes=1),
                        tmp_path_factory.mktemp("gn_budget") / "model.onnx", frames=6)
    return read_qonnx(path)


def test_folding_budget_holds_in_the_estimate(graph, tmp_path):
    part = get_part("LFE5U-85F")
    free = default_folding(graph)
    budget = total_multipliers(graph, free) - 4          # forces a tighter folding
    folding = default_folding(graph, max_multipliers=budget)
    manifest = generate(graph, tmp_path / "build", folding)
    assert manifest["multipliers"] == total_multipliers(graph, folding) <= budget
    est = estimate_manifest(manifest, part)
    norms = [(entry, layer) for entry, layer in zip(manifest["layers"], est["layers"]) if entry["kind"] == "groupnorm"]
    assert norms
    for entry, layer in norms:
        # the folding's count of a GroupNorm is the estimator's DSP blocks of it
        assert entry["multipliers"] == layer["dsp"] == gn.multiplier_blocks(entry["params"], part), entry["name"]
    first = norms[0][0]["params"]
    assert first["H"] * first["W"] == SIZE * SIZE and gn.multiplier_blocks({**first, "PE": 1}) == 1 + 2 + 3
    assert est["total"]["dsp"] <= budget
