"""Whole network in recurrent mode: the small QONNX network's temporal convs replaced by projection +
pointwise readout (tests/recurrent_ir.py), generated RTL vs the golden model of that IR, bit-exact over
>= 30 frames with random back-pressure (Verilator) and 20 frames (Icarus)."""
from __future__ import annotations

import numpy as np
import pytest

from pleiades_fpga.ir.golden import GoldenModel
from pleiades_fpga.ir.reader import read_qonnx
from pleiades_fpga.hw.rtl.generate import generate, rtl_sources
from pleiades_fpga.hw.rtl.lint import verilator_lint, yosys_synth
from pleiades_fpga.toolflow.locate import have_simulator
from pleiades_fpga.sim.verify import verify_build

from recurrent_ir import to_recurrent
from small_qonnx import CFG, small_qonnx

pytestmark = [pytest.mark.rtl, pytest.mark.xdist_group("rtl_recurrent_network")]


@pytest.fixture(scope="module")
def design(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rtl_rec_net")
    graph = to_recurrent(read_qonnx(small_qonnx(tmp / "model.onnx")))
    manifest = generate(graph, tmp / "build")
    return tmp / "build", manifest, graph


def test_recurrent_rtl_lints_clean_and_has_no_latches(design):
    build_dir, manifest, _ = design
    srcs = rtl_sources(build_dir)
    lint = verilator_lint(manifest["top"], srcs)
    assert lint.ok, "\n".join(lint.messages)
    assert yosys_synth(manifest["top"], srcs, target="prep").latches == 0


def test_recurrent_manifest_has_state_memories(design):
    build_dir, manifest, graph = design
    proj = [l for l in manifest["layers"] if l["kind"] == "projection"]
    assert len(proj) == len(CFG.blocks)
    assert not [l for l in manifest["layers"] if l["kind"] == "temporal_conv"]
    for entry in proj:
        layer = graph.layer(entry["name"])
        c, h, w = entry["in_shape"]
        mem = [m for m in entry["memories"] if m["kind"] == "state"][0]
        groups = -(-c // entry["simd"])
        assert mem["depth"] == h * w * groups and mem["width"] == entry["simd"] * layer.params.state_dim * layer.out_bits
        assert mem["depth"] * mem["width"] >= c * h * w * layer.params.state_dim * layer.out_bits
        assert entry["out_shape"] == [c * layer.params.state_dim, h, w]
    # the depthwise block's readout (groups = C, D inputs each) runs natively grouped, not block-diagonal
    dws = [l for l in manifest["layers"] if l["kind"] == "pointwise" and graph.layer(l["name"]).params.groups > 1]
    assert dws
    for entry in dws:
        layer = graph.layer(entry["name"])
        assert entry["params"]["GROUP_IN"] == layer.in_channels // layer.params.groups == 5
        assert entry["macs_per_frame"] == entry["out_shape"][1] * entry["out_shape"][2] * layer.out_channels * 5


@pytest.mark.parametrize("sim", ["verilator", "icarus"])
def test_recurrent_network_bit_exact_under_backpressure(design, sim):
    if sim == "icarus" and not have_simulator("icarus"):
        pytest.skip("Icarus Verilog (iverilog) is not installed: apt-get install iverilog")
    build_dir, manifest, graph = design
    frames = 30 if sim == "verilator" else 20
    golden = GoldenModel(graph)
    s = verify_build(build_dir, frames=frames, sim=sim, pause=0.35, seed=5, golden=golden)
    data = np.load(build_dir / "verification.npz")
    np.testing.assert_array_equal(GoldenModel(graph).stream(data["input_counts"]), data["golden_outputs"])
    assert s["values_compared"] == 2 * frames * manifest["output"]["channels"]
    assert s["mismatches"] == 0, s
    np.testing.assert_array_equal(data["rtl_outputs_backpressure"], data["golden_outputs"])
    assert len(np.unique(data["golden_outputs"])) > 10
    assert sum(s["projection_saturations"].values()) == 0
    if sim == "verilator":
        assert abs(s["cycles_per_frame_measured"] / s["cycles_per_frame_analytic"] - 1) <= 0.05
