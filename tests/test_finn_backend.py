"""FINN backend: the per-frame split of the QONNX graph (pure Python), the clear error without FINN, and the full
FINN+ path (ConvertQONNXtoFINN, streamlining, HW layers, estimates) when the FINN environment exists."""
from __future__ import annotations

import json

import numpy as np
import pytest
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.transformation.infer_shapes import InferShapes

from pleiades_fpga.cli import main as cli_main
from pleiades_fpga.errors import BackendNotInstalledError
from pleiades_fpga.hw.finn_backend.env import check_env
from pleiades_fpga.hw.finn_backend.project import build_finn, segment_test_data
from pleiades_fpga.hw.finn_backend.split import find_segments, split_summary, write_segments
from pleiades_fpga.ir.reader import read_qonnx

from small_qonnx import small_qonnx


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = small_qonnx(tmp_path_factory.mktemp("finn_net") / "model.onnx")
    return path, read_qonnx(path)


def test_split_keeps_temporal_layers_out_and_covers_the_rest(model):
    _, ir = model
    segments = find_segments(ir)
    temporal = {l.name for l in ir.temporal_layers()}
    in_segments = [name for s in segments for name in s.layers]
    assert len(in_segments) == len(set(in_segments))  # each layer in one segment
    assert set(in_segments) == {l.name for l in ir.layers if l.kind != "input"} - temporal
    producer = {l.output: l.name for l in ir.layers}
    outputs = {t for s in segments for t in s.outputs}
    for seg in segments:  # a segment reads temporal-layer outputs, or another segment's outputs (the skip)
        for t in seg.inputs:
            assert producer[t] in temporal or t in outputs, (seg.name, t)
    # tiny preset: [spatial0] and [skip, pointwise, add, spatial, spatial_pointwise, mean, fc1, fc2]
    assert [s.layers[0] for s in segments] == ["blocks.0.spatial", "blocks.1.skip"]
    assert len(segments[1].inputs) == 2 and segments[1].outputs == [ir.output]
    summary = split_summary(ir, segments)
    assert {u["name"] for u in summary["rtl_layers"]} == temporal | {"input"}


@pytest.fixture(scope="module")
def recurrent_model(tmp_path_factory):
    """The small net with recurrent temporal layers: projection (our RTL) + a grouped readout conv (in a segment)."""
    import torch

    from pleiades_fpga.quant import build_quant_model, calibrate
    from pleiades_fpga.quant.export import export_model
    from small_qonnx import CFG, randomize_bn

    torch.manual_seed(0)
    net = build_quant_model(CFG.replace(temporal="recurrent"), "w4a4")
    randomize_bn(net, 0)
    calibrate(net, torch.poisson(torch.full((4, 2, 16, 8, 8), 0.4)))
    net.eval()
    path = export_model(net, tmp_path_factory.mktemp("finn_rec") / "model.onnx", frames=16)
    return path, read_qonnx(path)


@pytest.mark.parametrize("which", ["model", "recurrent_model"])
def test_cut_segments_compute_the_golden_integers(which, request, tmp_path):
    """Each cut-out per-frame QONNX segment (run by qonnx) maps the golden model's integers to its integers
    (recurrent net: the grouped readout conv becomes a block-diagonal group-1 conv for FINN)."""
    path, ir = request.getfixturevalue(which)
    if which == "recurrent_model":
        assert {l.kind for l in ir.layers} >= {"projection"}
        assert any(l.kind == "conv" and 1 < l.params.groups < l.in_channels for l in ir.layers)  # exercised
    segments = write_segments(path, ir, tmp_path)
    data = segment_test_data(ir, segments, frames=3, seed=1)
    for seg in segments:
        m = ModelWrapper(str(tmp_path / seg.onnx_file)).transform(InferShapes())
        names_in = [i.name for i in m.graph.input]
        names_out = [o.name for o in m.graph.output]
        for f in range(3):
            ctx = {n: data[f"{seg.name}/in{k}"][f:f + 1] for k, n in enumerate(names_in)}
            out = execute_onnx(m, ctx)
            for k, n in enumerate(names_out):
                ref = data[f"{seg.name}/out{k}"][f:f + 1]
                assert np.array_equal(out[n], ref), (seg.name, f, n)
                assert np.any(ref != 0)


def test_missing_finn_gives_a_clear_error(model, tmp_path, monkeypatch, capsys):
    path, _ = model
    monkeypatch.setenv("PLEIADES_FINN_PYTHON", str(tmp_path / "no-finn" / "bin" / "python"))
    with pytest.raises(BackendNotInstalledError, match="make finn-env"):
        build_finn(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # fails before writing anything
    rc = cli_main(["build", str(path), "--backend", "finn", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc != 0 and "FINN is not installed" in err and "Traceback" not in err


def test_broken_finn_env_is_reported(tmp_path, monkeypatch):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'ModuleNotFoundError: No module named finn' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PLEIADES_FINN_PYTHON", str(fake))
    with pytest.raises(BackendNotInstalledError, match="broken"):
        check_env()


def test_finn_port_wrapper_lints_with_padded_streams(tmp_path):
    """The FINN-port wrapper around one of our layer modules: byte-padded widths, pixel-counted TLAST, lint-clean."""
    from pleiades_fpga.hw.finn_backend.wrapper import finn_wrapper_verilog, padded
    from pleiades_fpga.hw.rtl.lint import verilator_lint

    assert (padded(12), padded(16), padded(20)) == (16, 16, 24)
    core = tmp_path / "core.v"
    core.write_text("""`timescale 1ns / 1ps
`default_nettype none
module core (input wire clk, input wire rst, input wire [11:0] s_axis_tdata, input wire s_axis_tvalid,
             output wire s_axis_tready, input wire s_axis_tlast, output wire [19:0] m_axis_tdata,
             output wire m_axis_tvalid, input wire m_axis_tready, output wire m_axis_tlast);
    reg [19:0] d; reg v; reg l;
    always @(posedge clk) if (rst) begin d <= 20'd0; v <= 1'b0; l <= 1'b0; end
        else if (s_axis_tvalid && s_axis_tready) begin d <= {8'd0, s_axis_tdata}; v <= 1'b1; l <= s_axis_tlast; end
        else if (m_axis_tready) v <= 1'b0;
    assign s_axis_tready = !v || m_axis_tready;
    assign m_axis_tdata = d; assign m_axis_tvalid = v; assign m_axis_tlast = l;
endmodule
`default_nettype wire
""")
    top = tmp_path / "top.v"
    text = finn_wrapper_verilog("top", "core", 12, 20, 64)
    top.write_text(text)
    assert "input  wire [15:0] in0_V_TDATA" in text and "output wire [23:0] out0_V_TDATA" in text
    rep = verilator_lint("top", [core, top])
    assert rep.ok, rep.messages


def _finn_available() -> str:
    try:
        check_env()
    except BackendNotInstalledError as exc:
        return str(exc)
    return ""


@pytest.mark.slow
@pytest.mark.xdist_group("finn")
def test_full_finn_path_on_the_small_net(model, tmp_path):
    why = _finn_available()
    if why:
        pytest.skip(f"FINN environment not available ({why}); `make test` creates it with `make finn-env`")
    path, ir = model
    manifest = build_finn(path, tmp_path / "b")
    finn = tmp_path / "b" / "finn"
    comparison = json.loads((finn / "comparison.json").read_text())
    assert manifest["finn"]["all_segments_ok"] and comparison["all_segments_ok"]
    for name in ("estimate_layer_resources.json", "estimate_layer_cycles.json", "estimate_network_performance.json"):
        assert (finn / name).is_file()
        for seg in manifest["finn"]["segments"]:
            assert (finn / seg / name).is_file()
    convs = {l.name for l in ir.layers if l.kind == "conv"}
    for row in comparison["segments"]:
        # every conv of the segment became a FINN matrix/vector unit (VVAU for depthwise), the mean a GlobalAccPool
        units = [n for n in row["finn_nodes"] if n.startswith(("MVAU", "VVAU"))]
        assert len(units) == len([l for l in row["layers"] if l in convs]), row["segment"]
        assert ("GlobalAccPool" in " ".join(row["finn_nodes"])) == ("head.mean" in row["layers"])
        assert row["finn"]["lut"] > 0 and row["finn"]["cycles_per_frame"] > 0
        # the DSP variant of FINN's estimate moves multipliers from LUTs to DSP blocks
        assert row["finn_dsp_multipliers"]["dsp"] > row["finn"]["dsp"]
        assert row["finn_dsp_multipliers"]["lut"] < row["finn"]["lut"]
        fn = row["functional"]
        assert fn["ran"] and fn["values"] > 0
        # after streamlining + ties-to-even thresholds, and as HW layers: the golden model's integers exactly
        assert fn["streamlined_mismatches"] == 0 and fn["hw_layers_mismatches"] == 0 and fn["exact"], row["segment"]
    assert comparison["all_exact"]
    # the whole network as one FINN graph: our temporal layers as a FINN custom op, FINN's HW layers for the rest
    net = comparison["network"]
    assert net["ran"] and net["exact"] and net["mismatches"] == 0 and net["frames"] >= 10  # > K frames from reset
    seg_lut = sum(r["finn"]["lut"] for r in comparison["segments"])
    tmp_lut = sum(t["lut"] for t in comparison["temporal_layers"])
    assert net["finn_view"]["lut"] == seg_lut + tmp_lut  # FINN's res_estimation read our op's estimate
    assert net["finn_view"]["max_cycles"] == max([r["finn"]["cycles_per_frame"] for r in comparison["segments"]]
                                                 + [t["cycles_per_frame"] for t in comparison["temporal_layers"]])
    assert set(net["hdl"]) == {"blocks_0_temporal", "blocks_1_temporal"}
    assert all(h["verilator_lint_ok"] for h in net["hdl"].values()), net["hdl"]
    split = json.loads((finn / "split.json").read_text())
    assert {u["name"] for u in split["rtl_layers"]} == {"input", "blocks.0.temporal", "blocks.1.temporal"}
    from pleiades_fpga.report.report import write_report  # the report gets the FINN section

    written = write_report(tmp_path / "b", {"dummy": 1}, html=False)
    assert "finn" in json.loads(written[0].read_text())
