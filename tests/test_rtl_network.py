"""Whole-network RTL: generate from a QONNX export, simulate with cocotb, compare with the golden model."""
from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest

from pleiades_fpga.errors import UnsupportedModelError
from pleiades_fpga.hw.build import build_rtl
from pleiades_fpga.ir.golden import GoldenModel
from pleiades_fpga.ir.reader import read_qonnx
from pleiades_fpga.hw.rtl.generate import generate, rtl_sources
from pleiades_fpga.hw.rtl.lint import verilator_lint, yosys_synth
from pleiades_fpga.toolflow.locate import have_simulator
from pleiades_fpga.sim.verify import verify_build

from small_qonnx import CFG, small_qonnx


@pytest.fixture(scope="module")
def design(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rtl_net")
    onnx_path = small_qonnx(tmp / "model.onnx")
    manifest = build_rtl(onnx_path, tmp / "build")
    return tmp / "build", manifest


def test_generated_rtl_lints_clean_and_has_no_latches(design):
    build_dir, manifest = design
    srcs = rtl_sources(build_dir)
    lint = verilator_lint(manifest["top"], srcs)
    assert lint.ok, "\n".join(lint.messages)
    synth = yosys_synth(manifest["top"], srcs)
    assert synth.latches == 0


def test_manifest_matches_the_ir(design):
    build_dir, manifest = design
    graph = read_qonnx(build_dir / "model.onnx")
    hw = [l for l in graph.layers if l.kind != "input"]
    names = [l["name"] for l in manifest["layers"] if l["kind"] != "fork"]
    assert names == [l.name for l in hw]
    temporal = [l for l in manifest["layers"] if l["kind"] == "temporal_conv"]
    assert len(temporal) == len(CFG.blocks)
    for l in temporal:
        c, h, w = l["in_shape"]
        buf = [m for m in l["memories"] if m["kind"] == "circular_buffer"][0]
        assert buf["depth"] == (CFG.kernel_size - 1) * h * w and buf["width"] == c * l["in_bits"]
    assert manifest["cycles_per_frame"] == max(l["cycles_per_frame"] for l in manifest["layers"])
    assert json.loads((build_dir / "folding.json").read_text())["layers"].keys() == set(names)


@pytest.mark.parametrize("sim", ["verilator", "icarus"])
def test_network_bit_exact_under_backpressure(design, sim):
    if sim == "icarus" and not have_simulator("icarus"):
        pytest.skip("Icarus Verilog (iverilog) is not installed: apt-get install iverilog")
    build_dir, manifest = design
    frames = 30 if sim == "verilator" else 20
    s = verify_build(build_dir, frames=frames, sim=sim, pause=0.35, seed=3)
    # independent check of the golden model itself: streaming (circular buffers) == whole clip
    data = np.load(build_dir / "verification.npz")
    golden = GoldenModel.from_qonnx(build_dir / "model.onnx")
    np.testing.assert_array_equal(golden.stream(data["input_counts"]), data["golden_outputs"])
    assert s["values_compared"] == 2 * frames * manifest["output"]["channels"]
    assert s["mismatches"] == 0, s
    assert s["passed"] and s["stream_checks"]["violations"] == 0, s["stream_checks"]["messages"]
    # the pauses really happened: internal streams stalled, some for several cycles in a row
    assert max(e["max_stall"] for e in s["stream_checks"]["per_stream"].values()) >= 4
    np.testing.assert_array_equal(data["rtl_outputs"], data["golden_outputs"])
    np.testing.assert_array_equal(data["rtl_outputs_backpressure"], data["golden_outputs"])
    # the comparison is not trivial: logits vary over time and across classes
    assert len(np.unique(data["golden_outputs"])) > 10
    if sim == "verilator":
        assert min(s["temporal_wraps"].values()) >= 3  # K=10 history wrapped >= 3 times
        assert abs(s["cycles_per_frame_measured"] / s["cycles_per_frame_analytic"] - 1) <= 0.05


def test_unsupported_op_names_op_and_layer(design, tmp_path):
    build_dir, _ = design
    model = onnx.load(str(build_dir / "model.onnx"))
    node = next(n for n in model.graph.node if n.op_type == "Relu")
    node.op_type = "Sigmoid"
    bad = tmp_path / "bad.onnx"
    onnx.save(model, str(bad))
    with pytest.raises(UnsupportedModelError, match=rf"Sigmoid.*|{node.name}") as exc:
        build_rtl(bad, tmp_path / "b")
    assert "Sigmoid" in str(exc.value) and node.name in str(exc.value)


def test_unsupported_spatial_kernel_is_named(design, tmp_path):
    build_dir, _ = design
    graph = read_qonnx(build_dir / "model.onnx")
    layer = next(l for l in graph.layers if l.kind == "conv" and l.params.role == "spatial")
    layer.params.kernel = (1, 5, 5)
    layer.params.weight = np.zeros((layer.out_channels, layer.in_channels // layer.params.groups, 1, 5, 5), dtype=np.int64)
    with pytest.raises(UnsupportedModelError, match=layer.name):
        generate(graph, tmp_path / "b")


def test_folding_meets_multiplier_budget_and_target(design):
    from pleiades_fpga.hw.rtl.folding import default_folding, layer_cost, total_multipliers

    build_dir, manifest = design
    graph = read_qonnx(build_dir / "model.onnx")
    fast = default_folding(graph)
    floor = total_multipliers(graph, default_folding(graph, target_fps=1e-3))   # every layer at its slowest fold
    assert floor < total_multipliers(graph, fast)
    budget = (floor + total_multipliers(graph, fast)) // 2
    slow = default_folding(graph, max_multipliers=budget)
    assert total_multipliers(graph, slow) <= budget
    cyc = lambda f: max(layer_cost(graph, graph.layer(n), x)["cycles_per_frame"] for n, x in f.items())
    assert cyc(slow) >= cyc(fast)
    # a frame-rate target at a clock: cycles per frame within clock / fps
    relaxed = default_folding(graph, target_fps=1000, clock_mhz=50)
    assert cyc(relaxed) <= 50e6 / 1000
    assert total_multipliers(graph, relaxed) <= total_multipliers(graph, fast)


def test_trace_layers_names_the_first_diverging_layer(design):
    """verify --trace-layers: every layer stream matches the golden model of the build; against a golden model
    whose blocks.1.temporal bias is off by a large amount, that layer is the first one reported to differ."""
    build_dir, manifest = design
    s = verify_build(build_dir, frames=4, sim="verilator", pause=0.0, seed=2, trace_layers=True)
    hw_layers = [l["name"] for l in manifest["layers"] if l["kind"] != "fork"]
    assert list(s["layers"]) == hw_layers
    assert all(r["values_compared"] > 0 and r["mismatches"] == 0 for r in s["layers"].values()), s["layers"]
    assert s["first_mismatching_layer"] is None
    graph = read_qonnx(build_dir / "model.onnx")
    target = graph.layer("blocks.1.temporal")
    target.params.bias = np.asarray(target.params.bias) + (1 << 12)  # saturates the layer's outputs high
    s = verify_build(build_dir, frames=4, sim="verilator", pause=0.0, seed=2, trace_layers=True,
                     golden=GoldenModel(graph))
    assert s["first_mismatching_layer"] == "blocks.1.temporal", s["layers"]
    assert s["layers"]["blocks.1.temporal"]["first"]["frame"] == 0
