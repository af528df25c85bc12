"""Integer golden model vs qonnx execution of the exported file (exact), streaming vs clip, IR, bad inputs."""
import json
from fractions import Fraction

import numpy as np
import onnx
import pytest
import torch
from onnx import helper, numpy_helper

from pleiades_fpga.data.datasets import load_clips
from pleiades_fpga.errors import PleiadesError, UnsupportedModelError
from pleiades_fpga.ir.golden import GoldenModel
from pleiades_fpga.ir.integers import int_range, requantize, round_shift
from pleiades_fpga.ir.kinds import KINDS, get_kind
from pleiades_fpga.ir.reader import handlers, read_qonnx
from pleiades_fpga.model import get_preset
from pleiades_fpga.quant import build_quant_model, calibrate, export_model, fold_batchnorm
from small_qonnx import qonnx_outputs

CFG = get_preset("tiny", input_size=(32, 32))
FRAMES = 20
N_CLIPS = 20


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A w4a4 tiny net (random BN affine, statistics from synthetic clips) exported to QONNX + 20 test clips."""
    torch.manual_seed(0)
    model = build_quant_model(CFG, "w4a4")
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.5)
    # 50 ms bins (20 frames per 1 s clip): denser counts than 10 ms, so that 4-bit activations are busy
    train = load_clips("synthetic", "train", 32, 8, 0).frames(50_000)[:, :, :FRAMES].float()
    calibrate(model, train, batch_size=4, passes=4)
    test = load_clips("synthetic", "test", 32, N_CLIPS, 1).frames(50_000)[:, :, :FRAMES].float()
    path = export_model(model, tmp_path_factory.mktemp("golden") / "tiny_w4a4.onnx", frames=FRAMES)
    return model, path, test.numpy()


def test_golden_equals_qonnx_execution_exactly(exported):
    _, path, clips = exported
    assert len(clips) >= 20 and clips.sum() > 0
    golden = GoldenModel.from_qonnx(path)
    ints, trace = golden.run(clips, trace=True)
    ref = qonnx_outputs(path, clips)
    assert ref.shape == ints.shape == (N_CLIPS, CFG.num_classes, FRAMES)
    mismatches = int((golden.dequantize(ints) != ref).sum())
    assert mismatches == 0
    # the compared integers are not trivial: outputs vary, hidden layers are neither all zero nor saturated
    assert len(np.unique(ints)) > 20
    interior = []
    for layer in golden.ir.layers:
        if layer.requant and layer.kind != "input":
            v = trace[layer.name]
            lo, hi = int_range(layer.out_bits, layer.out_signed)
            assert np.mean(v != 0) > 1e-3, layer.name
            assert np.mean(v == hi) < 0.5, layer.name
            interior.append(np.mean((v != 0) & (v > lo) & (v < hi)))
    assert np.mean(interior) > 0.1, interior


def test_golden_matches_brevitas_model(exported):
    model, path, clips = exported
    golden = GoldenModel.from_qonnx(path)
    with torch.no_grad():
        ref = fold_batchnorm(model)(torch.from_numpy(clips[:4]), pad="causal").double().numpy()
    np.testing.assert_allclose(golden.forward(clips[:4]), ref, rtol=0, atol=1e-6)


def test_streaming_equals_clip(exported):
    _, path, clips = exported
    golden = GoldenModel.from_qonnx(path)
    longer = np.concatenate([clips, clips[::-1]], axis=2)  # 40 frames: buffers wrap around many times
    whole = golden.run(longer)
    np.testing.assert_array_equal(golden.stream(longer), whole)
    np.testing.assert_array_equal(golden.run(longer, chunk=7), whole)  # chunks not aligned with K
    # a stream restarted from reset reproduces the clip outputs of the first half
    state = golden.init_state(len(clips))
    outs = [golden.step(longer[:, :, t], state)[0] for t in range(FRAMES)]
    np.testing.assert_array_equal(np.stack(outs, axis=2), golden.run(clips))


def test_ir_structure_and_acc_bits(exported):
    _, path, _ = exported
    ir = read_qonnx(path)
    kinds = [(l.kind, get_kind(l.kind).role(l)) for l in ir.layers]
    assert kinds.count(("conv", "temporal")) == len(CFG.blocks)
    assert kinds.count(("add", None)) == 1 and kinds.count(("avgpool", None)) == 1
    t0, t1 = ir.layer("blocks.0.temporal"), ir.layer("blocks.1.temporal")
    assert ir.temporal_layers() == [t0, t1]
    assert t0.params.kernel == (CFG.kernel_size, 1, 1) and t0.params.groups == 1 and t0.in_channels == 2
    assert t1.params.groups == t1.in_channels == t1.out_channels == CFG.blocks[1].in_channels  # depthwise
    assert ir.layers[0].kind == "input" and ir.tensors[ir.layers[0].output].bits == 8
    add = ir.layer("blocks.1.add")
    assert len(add.inputs) == 2 and all(ir.tensors[i].signed for i in add.inputs)
    assert {ir.layer("blocks.1.pointwise").output, ir.layer("blocks.1.skip").output} == set(add.inputs)
    assert ir.layer("blocks.1.skip").inputs == t1.inputs == [ir.layer("blocks.0.spatial").output]
    assert ir.layer("head.fc2").out_channels == CFG.num_classes
    mean = next(l for l in ir.layers if l.kind == "avgpool")
    assert mean.params.pool_size == 64
    assert ir.layers[-1].requant is False
    for layer in ir.layers:
        if layer.kind != "conv":
            continue
        # independent bound: brute-force the worst-case input per output channel
        src = ir.tensors[layer.inputs[0]]
        w = layer.params.weight.reshape(layer.out_channels, -1)
        worst_hi = np.where(w > 0, w * src.hi, w * src.lo).sum(1) + layer.params.bias
        worst_lo = np.where(w > 0, w * src.lo, w * src.hi).sum(1) + layer.params.bias
        need = max(int(worst_hi.max()).bit_length() + 1, int(-worst_lo.min() - 1).bit_length() + 1)
        assert layer.acc_bits == need, layer.name
        assert np.all(np.abs(layer.params.weight) <= 2 ** (layer.params.weight_bits - 1) - 1)
        assert np.all(layer.shift >= 0) and np.all(layer.multiplier >= 1) if layer.requant else True
    assert "pleiades.temporal_layers" in ir.metadata
    dumped = json.loads(ir.to_json())
    assert [l["name"] for l in dumped["layers"]] == [l.name for l in ir.layers]
    assert dumped["layers"][1]["params"]["weight"] == ir.layers[1].params.weight.tolist()


def _ref_round(values, shift, mult=1):
    return [round(Fraction(int(v) * mult, 2 ** shift)) for v in values]  # Python rounds half to even


def test_round_shift_hand_cases():
    v = np.array([5, 6, 7, -5, -6, -7, 12, -12, 2, -2, 10, 14, 0, 1, -1])
    np.testing.assert_array_equal(round_shift(v, np.int64(2)), [1, 2, 2, -1, -2, -2, 3, -3, 0, 0, 2, 4, 0, 0, 0])
    np.testing.assert_array_equal(round_shift(v, np.int64(0)), v)
    rng = np.random.default_rng(0)
    for shift in range(0, 12):
        x = rng.integers(-(2**20), 2**20, 500)
        np.testing.assert_array_equal(round_shift(x, np.int64(shift)), _ref_round(x, shift))
    # per-channel M and S on the last axis, then the clamp
    acc = rng.integers(-5000, 5000, (50, 3))
    m, s = np.array([1, 3, 2]), np.array([4, 0, 7])
    got = requantize(acc, m, s, -8, 7)
    for c in range(3):
        np.testing.assert_array_equal(got[:, c], np.clip(_ref_round(acc[:, c], s[c], m[c]), -8, 7))


def _replace_initializer(model, name, array):
    for init in model.graph.initializer:
        if init.name == name:
            init.CopyFrom(numpy_helper.from_array(array.astype(np.float32), name))


def test_bad_inputs(exported, tmp_path):
    _, path, _ = exported
    # a plain ONNX model without Quant nodes
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 2, 4, 4, 4])
    y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 3, 4, 4, 4])
    w = numpy_helper.from_array(np.ones((3, 2, 1, 1, 1), np.float32), "w")
    plain = helper.make_model(helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"])], "g", [x], [y], [w]))
    onnx.save(plain, tmp_path / "plain.onnx")
    with pytest.raises(PleiadesError, match="not a QONNX model"):
        GoldenModel.from_qonnx(tmp_path / "plain.onnx")
    # not an ONNX file at all / missing
    (tmp_path / "junk.onnx").write_bytes(b"this is not onnx")
    with pytest.raises(PleiadesError, match="not an ONNX file"):
        read_qonnx(tmp_path / "junk.onnx")
    with pytest.raises(PleiadesError, match="does not exist"):
        read_qonnx(tmp_path / "missing.onnx")
    # an unsupported op inserted after the first Relu
    model = onnx.load(str(path))
    relu = next(n for n in model.graph.node if n.op_type == "Relu")
    old = relu.output[0]
    relu.output[0] = old + "_pre"
    idx = list(model.graph.node).index(relu)
    model.graph.node.insert(idx + 1, helper.make_node("Sigmoid", [old + "_pre"], [old], name="my_sigmoid"))
    onnx.save(model, tmp_path / "sigmoid.onnx")
    with pytest.raises(UnsupportedModelError, match="my_sigmoid.*Sigmoid.*unsupported op"):
        read_qonnx(tmp_path / "sigmoid.onnx")
    # an activation scale that is not a short dyadic number (0.3): no exact fixed-point requantization
    model = onnx.load(str(path))
    act = next(n for n in model.graph.node if n.op_type == "Quant" and n.input[0].startswith("Relu"))
    _replace_initializer(model, act.input[1], np.array(0.3))
    onnx.save(model, tmp_path / "npot.onnx")
    with pytest.raises(UnsupportedModelError, match="needs a .*-bit fixed-point multiplier"):
        read_qonnx(tmp_path / "npot.onnx")
    # wrong clip shape for the golden model
    golden = GoldenModel.from_qonnx(path)
    with pytest.raises(PleiadesError, match="batch, 2, time"):
        golden.run(np.zeros((1, 3, 4, 32, 32)))


def test_kind_registry_dispatches_every_op_and_refuses_an_unknown_kind(exported):
    assert set(KINDS) == {"input", "conv", "add", "avgpool", "projection", "groupnorm"}
    table = handlers()
    for kind in KINDS.values():
        assert all(table[op] == kind.read for op in kind.onnx_ops), kind.name
    with pytest.raises(UnsupportedModelError,
                       match="'layernorm'; known kinds: add, avgpool, conv, groupnorm, input, projection"):
        get_kind("layernorm")
    _, path, _ = exported
    ir = read_qonnx(path)
    ir.layers[-1].kind = "layernorm"
    with pytest.raises(UnsupportedModelError, match="unknown IR layer kind 'layernorm'"):
        GoldenModel(ir)
