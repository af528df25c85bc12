"""A whole network with exact (frame-statistics) GroupNorm in a DWS block through the RTL backend.

The DWS block's main branch holds whole frames (two frame-buffered GroupNorms) while its skip waits in the fork's
FIFO: at 16x16 the block works on 8x8 = 64-pixel frames, more than the 16-beat FIFO of a streaming branch, so a
FIFO not sized from the frames the main branch holds deadlocks. Checked: bit-exact against the golden model under
back-pressure, and the analytic latency (``generate._latency_cycles``: each held frame streams on at its stretch's
rate) against the one measured in simulation without pauses (first input beat of a frame to its logits) within
LATENCY_BOUND: measured 6,445 cycles, analytic 6,157 (-4.4 %; before the held frames were counted 4,749, -26 %).
The published network (bench/results/published_model*.json): folded for xczu7ev 1,534,363 measured, 1,504,223
analytic (-2.0 %); its default LFE5U-85F build 12,438,981 measured, 11,703,241 analytic (-5.9 %)."""
from __future__ import annotations

import pytest
import torch

from pleiades_fpga.hw.build import build_rtl
from pleiades_fpga.hw.rtl.kinds.fork import SKIP_FIFO_DEPTH, skip_fifo_depth
from pleiades_fpga.model import build_model, get_preset
from pleiades_fpga.quant import build_quant_model, calibrate, export_model
from pleiades_fpga.quant.groupnorm import QuantGroupNorm
from pleiades_fpga.sim.verify import verify_build

pytestmark = pytest.mark.xdist_group("sim")

SIZE = 16
FRAMES = 12
LATENCY_BOUND = 0.10   # |analytic - measured| / measured


def test_skip_fifo_depth_holds_the_frames_of_the_long_branch():
    assert skip_fifo_depth(0, 1024) == SKIP_FIFO_DEPTH
    assert skip_fifo_depth(2, 64) == 256      # 3 frames of 64 + 16 -> 208 -> 256
    assert skip_fifo_depth(2, 1024) == 4096
    assert skip_fifo_depth(1, 16) == 64       # 2 * 16 + 16 = 48 -> 64


def _model() -> torch.nn.Module:
    cfg = get_preset("tiny").replace(temporal_norm="group", norm_groups=2, input_size=(SIZE, SIZE))
    torch.manual_seed(3)
    model = build_quant_model(cfg, {"weight_bits": 8, "act_bits": 8, "groupnorm_stats": "frame"},
                              init_from=build_model(cfg))
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, QuantGroupNorm):
                m.weight.uniform_(-1.5, 1.5, generator=g)
                m.bias.uniform_(-0.5, 0.8, generator=g)
    clips = torch.poisson(torch.full((4, 2, FRAMES, SIZE, SIZE), 0.5), generator=torch.Generator().manual_seed(0))
    return calibrate(model, clips, batch_size=2, passes=2)


def test_groupnorm_dws_network_bit_exact_without_deadlock(tmp_path):
    path = export_model(_model(), tmp_path / "model.onnx", frames=FRAMES)
    manifest = build_rtl(path, tmp_path / "build")
    forks = [layer for layer in manifest["layers"] if layer["kind"] == "fork"]
    assert forks, "the tiny preset has a DWS block: its input must be forked"
    for fork in forks:
        c, h, w = fork["in_shape"]
        assert fork["memories"][0]["depth"] >= 3 * h * w, fork  # two frame-buffered GroupNorms on the main branch
    s = verify_build(tmp_path / "build", frames=FRAMES, sim="verilator", pause=0.3, seed=4)
    assert s["passed"] and s["bit_exact"] and s["mismatches"] == 0 and s["values_compared"] > 0, s
    assert s["stream_checks"]["violations"] == 0
    measured = s["latency_cycles"]
    assert abs(manifest["latency_cycles"] - measured) <= LATENCY_BOUND * measured, (manifest["latency_cycles"], measured)
