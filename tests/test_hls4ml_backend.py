"""hls4ml backend: the C simulation (g++) of the generated project equals the integer golden model bit for bit."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from pleiades_fpga.errors import UnsupportedModelError
from pleiades_fpga.hw.backends import build
from pleiades_fpga.ir.golden import GoldenModel
from pleiades_fpga.hw.hls4ml_backend import convert, design_from_ir
from pleiades_fpga.hw.hls4ml_backend.project import run_testbench
from pleiades_fpga.hw.hls4ml_backend.precision import activation_type, fixed_for_bound, fixed_for_values
from pleiades_fpga.ir.kinds import get_kind
from pleiades_fpga.ir.reader import read_qonnx

from small_qonnx import small_qonnx


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hls4ml_net")
    onnx_path = small_qonnx(tmp / "model.onnx")
    hls = convert(onnx_path, tmp / "prj", trace=True)
    hls.compile(optimize="-O1")  # g++, one build shared by the module
    return onnx_path, hls


def test_precision_helpers_hand_computed():
    assert fixed_for_values(np.array([0.5, -1.25, 3.0])) == "ap_fixed<5,3>"  # -5/4 .. 12/4, 2 frac bits
    assert fixed_for_values(np.array([-8.0, 7.0])) == "ap_fixed<4,4>"
    assert fixed_for_values(np.array([0.0, 0.0])) == "ap_fixed<1,1>"
    assert fixed_for_bound(100.0, 1, guard=1) == "ap_fixed<10,9>"  # +-200 needs 9 bits, +1 guard
    assert activation_type(4, False, 0, relu=True) == "ap_ufixed<4,4,AP_RND_CONV,AP_SAT>"
    assert activation_type(4, True, 1) == "ap_fixed<4,5,AP_RND_CONV,AP_SAT>"
    assert activation_type(4, True, 0, relu=True) == "ap_ufixed<3,3,AP_RND_CONV,AP_SAT>"


def test_layers_and_precisions_follow_the_ir(compiled):
    onnx_path, hls = compiled
    ir = read_qonnx(onnx_path)
    classes = {d["name"]: d["class_name"] for d in hls.design.layers}
    for layer in ir.layers[1:]:
        name = layer.name.replace(".", "_")
        expected = {"temporal": "PleiadesTemporalConv", "spatial": ("Conv2D", "DepthwiseConv2D"),
                    "pointwise": ("Conv2D", "Dense")}.get(get_kind(layer.kind).role(layer), None)
        if layer.kind == "add":
            expected = "Merge"
        if layer.kind == "avgpool":
            expected = "GlobalAveragePooling2D"
        assert classes[name] in (expected if isinstance(expected, tuple) else (expected,)), name
        result = hls.design.precisions[name]["result"]
        if layer.requant:  # IR width, round half to even, saturation; no blanket default
            assert result.endswith(",AP_RND_CONV,AP_SAT>"), (name, result)
            width = int(result.split("<")[1].split(",")[0])
            assert width == (layer.out_bits - 1 if layer.out_signed and layer.relu else layer.out_bits)
    # the compiled hls4ml graph kept those types (no optimizer pass replaced them)
    for layer in hls.hls_model.get_layers():
        p = hls.design.precisions.get(layer.name)
        if p and "result" in p:
            got = layer.get_output_variable().type.precision
            assert got.width == int(re.match(r"ap_u?(?:fixed|int)<(\d+)", p["result"]).group(1)), layer.name


def test_csim_frame_by_frame_equals_golden_over_24_frames(compiled):
    onnx_path, hls = compiled
    golden = GoldenModel.from_qonnx(onnx_path)
    rng = np.random.default_rng(5)
    clip = rng.poisson(0.6, size=(1, 2, 24, 8, 8)).astype(np.float64)
    clip[0, :, 3] += 40  # saturates the 8-bit input quantizer on some pixels
    state = golden.init_state(1)
    hls.reset()
    ours, ref = [], []
    for t in range(clip.shape[2]):
        ours.append(hls.step(clip[0, :, t]))
        ref.append(golden.step(clip[:, :, t], state)[0][0])
    ours, ref = np.stack(ours), np.stack(ref)
    np.testing.assert_array_equal(ours, ref)
    assert len(np.unique(ref)) > 10 and np.ptp(ref, axis=0).max() > 0  # logits vary over time and classes


def test_reset_clears_the_temporal_buffers(compiled):
    onnx_path, hls = compiled
    golden = GoldenModel.from_qonnx(onnx_path)
    rng = np.random.default_rng(7)
    clips = rng.poisson(0.7, size=(2, 2, 12, 8, 8)).astype(np.float64)
    hls.reset()
    hls.frames(rng.poisson(2.0, size=(15, 2, 8, 8)).astype(np.float64))  # fill the history with other data
    got = hls.stream(clips)  # resets before each clip
    np.testing.assert_array_equal(got, golden.stream(clips))
    # without a reset the history of the previous clip leaks in: outputs differ
    no_reset = hls.frames(clips[0].transpose(1, 0, 2, 3)).T
    assert not np.array_equal(no_reset, got[0])


@pytest.fixture(scope="module")
def build_dir(compiled, tmp_path_factory):
    onnx_path, _ = compiled
    out = tmp_path_factory.mktemp("hls4ml_build") / "b"
    manifest = build(onnx_path, out, backend="hls4ml", folding=None, target_fps=None, clock_mhz=125.0,
                     max_multipliers=None, float_checkpoint=None)
    return out, manifest


def test_every_layer_traced_equals_golden_layer_outputs(compiled):
    onnx_path, hls = compiled
    golden = GoldenModel.from_qonnx(onnx_path)
    clip = np.random.default_rng(11).poisson(0.8, size=(1, 2, 20, 8, 8)).astype(np.float64)
    _, ref = golden.run(clip, trace=True)
    traced = hls.trace(clip[0].transpose(1, 0, 2, 3))
    hw_layers = [l.name for l in read_qonnx(onnx_path).layers if l.kind != "input"]
    assert sorted(traced) == sorted(hw_layers)
    for name in hw_layers:
        want = ref[name][0].transpose(1, 2, 3, 0)  # (T, H, W, C) like hls4ml's channel-last streams
        np.testing.assert_array_equal(traced[name].reshape(want.shape), want, err_msg=name)


def test_build_directory_has_project_script_and_testbench_data(compiled, build_dir):
    onnx_path, hls = compiled
    out, manifest = build_dir
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert manifest["clock_mhz_target"] == 125.0
    prj = out / "hls4ml"
    for rel in ("build_prj.tcl", "pleiades_test.cpp", "firmware/pleiades.cpp",
                "firmware/nnet_utils/pleiades_temporal_conv.h"):
        assert (prj / rel).is_file(), rel
    assert "set clock_period 8.0" in (prj / "project.tcl").read_text()
    script = (out / "synth_hls4ml.sh").read_text()
    assert "build_prj.tcl" in script and (out / "synth_hls4ml.sh").stat().st_mode & 0o111
    # testbench data: frames + reset flag per line; expected outputs = golden model of those frames
    rows = np.loadtxt(prj / "tb_data" / "tb_input_features.dat", ndmin=2)
    expected = np.loadtxt(prj / "tb_data" / "tb_output_predictions.dat", ndmin=2)
    assert rows.shape == (manifest["tb_frames"], 8 * 8 * 2 + 1) and rows[0, -1] == 1 and not rows[1:, -1].any()
    frames = rows[:, :-1].reshape(-1, 8, 8, 2).transpose(0, 3, 1, 2)
    golden = GoldenModel.from_qonnx(onnx_path).stream(frames.transpose(1, 0, 2, 3)[None])[0].T
    np.testing.assert_array_equal(expected, golden)
    hls.reset()
    np.testing.assert_array_equal(hls.frames(frames), expected)


def test_generated_cpp_testbench_builds_with_gpp_and_matches_golden(build_dir):
    out, manifest = build_dir
    got = run_testbench(out / "hls4ml", optimize="-O0")  # the testbench vitis_hls runs in csim
    expected = np.loadtxt(out / "hls4ml" / "tb_data" / "tb_output_predictions.dat", ndmin=2)
    assert got.shape == (manifest["tb_frames"], manifest["output"]["channels"])
    np.testing.assert_array_equal(got, expected)


def test_unsupported_grouped_conv_names_the_layer(compiled):
    onnx_path, _ = compiled
    ir = read_qonnx(onnx_path)
    layer = next(l for l in ir.layers if l.kind == "conv" and l.params.role == "spatial" and l.params.groups > 1)
    layer.params.groups = 2
    layer.params.weight = np.zeros((layer.out_channels, layer.in_channels // 2, 1, 3, 3), dtype=np.int64)
    with pytest.raises(UnsupportedModelError, match=layer.name):
        design_from_ir(ir)
