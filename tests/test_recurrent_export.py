"""Recurrent layers through QONNX: PleiadesProjection custom op, qonnx execution == Brevitas, reader -> IR
"projection" + readout conv, golden model == qonnx execution (0 mismatches over 20 clips)."""
import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from pleiades_fpga.ir.kinds.projection import DOMAIN
from pleiades_fpga.ir.kinds.projection_op import make_projection_node
from pleiades_fpga.ir.golden import GoldenModel
from pleiades_fpga.quant import build_quant_model, calibrate, fold_batchnorm
from pleiades_fpga.quant.export import export_model
from small_qonnx import CFG as SMALL, qonnx_outputs, randomize_bn
from test_recurrent_quant import _reference_states

torch.set_num_threads(1)
pytestmark = pytest.mark.xdist_group("recurrent_export")  # one worker builds the shared export fixture
CFG = SMALL.replace(temporal="recurrent")
FRAMES = 16
N_CLIPS = 20


def test_custom_op_executes_the_integer_recurrence():
    rng = np.random.default_rng(0)
    A = np.array([[900, -120, 40], [100, 700, -300], [-50, 200, 800]])
    B = np.array([700, -400, 250])
    f, bits, s_x, s_s = 10, 6, 0.5, 0.25
    node = make_projection_node("x", "s", A, B, f, bits, s_x, s_s)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 30, 1, 1])],
                              [helper.make_tensor_value_info("s", TensorProto.FLOAT, [1, 6, 30, 1, 1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(DOMAIN, 1)])
    x_int = rng.integers(0, 16, (2, 30))
    out = qonnx_outputs(model, (x_int * s_x)[:, :, None, None][None])[0, :, :, 0, 0]
    ref = _reference_states(x_int, A, B, f, bits)  # (C, D, T); saturates on purpose with these numbers
    assert np.any(np.abs(ref) == 2 ** (bits - 1) - 1) or np.any(ref == -(2 ** (bits - 1)))
    np.testing.assert_array_equal(out.reshape(2, 3, 30) / s_s, ref)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = build_quant_model(CFG, "w4a4")
    randomize_bn(model, 0)
    calibrate(model, torch.poisson(torch.full((6, 2, FRAMES, 8, 8), 0.4)))
    model.eval()
    path = export_model(model, tmp_path_factory.mktemp("rec") / "rec.onnx", frames=FRAMES)
    clips = torch.poisson(torch.full((N_CLIPS, 2, FRAMES, 8, 8), 0.6), generator=torch.Generator().manual_seed(5))
    return model, path, clips.numpy()


def test_graph_has_projection_nodes_and_metadata(exported):
    _, path, _ = exported
    m = onnx.load(str(path))
    proj = [n for n in m.graph.node if n.op_type == "PleiadesProjection"]
    assert len(proj) == 2 and all(n.domain == DOMAIN for n in proj)
    assert not any(n.op_type == "Conv" and any(a.name == "pads" and list(a.ints)[0] > 0 for a in n.attribute)
                   for n in m.graph.node)  # no causal temporal Conv left
    import json

    layers = json.loads({p.key: p.value for p in m.metadata_props}["pleiades.temporal_layers"])
    assert [entry["implementation"] for entry in layers] == ["recurrent", "recurrent"]
    assert layers[0]["format"]["state_bits"] == 16


def test_qonnx_execution_matches_brevitas(exported):
    model, path, clips = exported
    folded = fold_batchnorm(model)
    with torch.no_grad():
        ref = folded(torch.from_numpy(clips[:4]), pad="causal").numpy()
    np.testing.assert_array_equal(qonnx_outputs(str(path), clips[:4]), ref)


def test_reader_maps_projection_and_golden_equals_qonnx(exported):
    _, path, clips = exported
    golden = GoldenModel.from_qonnx(path)
    kinds = [(layer.name, layer.kind, layer.params.groups) for layer in golden.ir.layers if layer.kind == "conv"]
    assert golden.ir.layer("blocks.0.temporal.projection").kind == "projection"
    assert ("blocks.0.temporal.readout", "conv", 1) in kinds  # full block: groups 1
    assert ("blocks.1.temporal.readout", "conv", CFG.blocks[1].in_channels) in kinds  # depthwise: groups C_in
    proj = golden.ir.layer("blocks.1.temporal.projection")
    assert proj.params.state_dim == CFG.degree + 1 and proj.out_bits == 16 and proj.out_signed
    ints, trace = golden.run(clips, trace=True)
    ref = qonnx_outputs(str(path), clips)
    assert ref.shape == ints.shape == (N_CLIPS, CFG.num_classes, FRAMES)
    assert int((golden.dequantize(ints) != ref).sum()) == 0
    assert len(np.unique(ints)) > 20
    for name in ("blocks.0.temporal.projection", "blocks.1.temporal.projection"):
        states = trace[name]
        assert np.mean(states != 0) > 0.1 and np.abs(states).max() < 2**15 - 1
    assert all(v == 0 for v in golden.saturation.values())


def test_export_cli_converts_a_float_checkpoint(tmp_path, capsys):
    from pleiades_fpga import cli
    from pleiades_fpga.model import build_model, save_checkpoint

    torch.manual_seed(4)
    ckpt = save_checkpoint(build_model(SMALL.replace(input_size=[32, 32])), tmp_path / "f.pt")
    out = tmp_path / "m.onnx"
    assert cli.main(["export", str(ckpt), "--out", str(out), "--quant", "w8a8", "--temporal", "recurrent",
                     "--calib-clips", "4", "--frames", "8"]) == 0
    assert "projection" in capsys.readouterr().out
    assert sum(n.op_type == "PleiadesProjection" for n in onnx.load(str(out)).graph.node) == 2


def test_reader_rejects_a_projection_with_the_wrong_input_scale(exported):
    from pleiades_fpga.errors import UnsupportedModelError
    from pleiades_fpga.ir.reader import read_qonnx

    _, path, _ = exported
    m = onnx.load(str(path))
    node = next(n for n in m.graph.node if n.op_type == "PleiadesProjection")
    attr = next(a for a in node.attribute if a.name == "in_scale")
    attr.f *= 2
    with pytest.raises(UnsupportedModelError, match="in_scale"):
        read_qonnx(m)
