"""QONNX export: CLI, graph structure, qonnx execution == Brevitas, PLEIADES metadata, clear refusals."""
import json

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from pleiades_fpga.cli import main
from pleiades_fpga.model import build_model, get_preset, save_checkpoint
from pleiades_fpga.model.polynomials import discrete_basis
from pleiades_fpga.quant import build_quant_model, calibrate, fold_batchnorm

CFG = get_preset("tiny", input_size=(16, 16))
FRAMES = 12


def _clips(n, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.poisson(torch.full((n, 2, FRAMES, 16, 16), 0.6), generator=g)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = build_quant_model(CFG, {"weight_bits": 4, "act_bits": 6, "input_bits": 4,
                                    "layers": {"head.*": {"weight_bits": 8, "act_bits": 8}}})
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.5)
    calibrate(model, _clips(8, 0), batch_size=4, passes=4)
    tmp = tmp_path_factory.mktemp("export")
    ckpt = save_checkpoint(model, tmp / "q.pt")
    out = tmp / "model.onnx"
    assert main(["export", str(ckpt), "--out", str(out), "--frames", str(FRAMES), "--quiet"]) == 0
    return model, out


def test_graph_structure(exported):
    _, path = exported
    m = onnx.load(str(path))
    ops = {n.op_type for n in m.graph.node}
    assert ops <= {"Quant", "Conv", "Relu", "Add", "ReduceMean", "Gather", "Squeeze", "Reshape"}
    assert "BatchNormalization" not in ops and "Quant" in ops
    dims = [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 2, FRAMES, 16, 16]
    out_dims = [d.dim_value for d in m.graph.output[0].type.tensor_type.shape.dim]
    assert out_dims == [1, CFG.num_classes, FRAMES]
    temporal = [n for n in m.graph.node if n.op_type == "Conv"
                and [a.ints for a in n.attribute if a.name == "kernel_shape"][0][0] > 1]
    assert len(temporal) == len(CFG.blocks)
    for node in temporal:
        attrs = {a.name: list(a.ints) for a in node.attribute if a.ints}
        assert attrs["kernel_shape"] == [CFG.kernel_size, 1, 1]
        assert attrs["pads"] == [CFG.kernel_size - 1, 0, 0, 0, 0, 0]  # causal: K-1 zero frames in front only


def test_qonnx_execution_matches_brevitas(exported):
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    model, path = exported
    folded = fold_batchnorm(model)
    wrapper = ModelWrapper(str(path))
    x = _clips(3, 11)
    with torch.no_grad():
        ref = folded(x, pad="causal").numpy()
    assert np.abs(ref).max() > 0
    for i in range(3):
        out = execute_onnx(wrapper, {wrapper.graph.input[0].name: x[i:i + 1].numpy()})[wrapper.graph.output[0].name]
        np.testing.assert_allclose(out, ref[i:i + 1], rtol=1e-6, atol=1e-6)


def test_metadata_reproduces_the_quantized_temporal_weights(exported):
    _, path = exported
    m = onnx.load(str(path))
    props = {p.key: p.value for p in m.metadata_props}
    assert props["pleiades.format"] == "pleiades-qonnx/1" and props["pleiades.pad"] == "causal"
    assert json.loads(props["pleiades.net_config"])["kernel_size"] == CFG.kernel_size
    assert json.loads(props["pleiades.quant_config"])["layers"]["head.*"]["weight_bits"] == 8
    layers = json.loads(props["pleiades.temporal_layers"])
    assert [l["name"] for l in layers] == ["blocks.0.temporal", "blocks.1.temporal"]
    init = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    quant_of = {n.output[0]: n for n in m.graph.node if n.op_type == "Quant"}
    temporal = [n for n in m.graph.node if n.op_type == "Conv" and len(init[quant_of[n.input[1]].input[0]].shape) == 5
                and init[quant_of[n.input[1]].input[0]].shape[2] > 1]
    for meta, conv in zip(layers, temporal):
        assert (meta["alpha"], meta["beta"], meta["degree"]) == (CFG.alpha, CFG.beta, CFG.degree)
        assert meta["bin_us"] == CFG.bin_us and meta["kernel_size"] == CFG.kernel_size
        # kernel rebuilt from the metadata alone: coeffs @ published-scaled basis
        basis = discrete_basis(meta["degree"], meta["kernel_size"], meta["alpha"], meta["beta"], tuple(meta["domain"]))
        basis = basis / np.sqrt(meta["scale_kernel_size"] * meta["in_channels"] / meta["groups"])
        kernel = np.asarray(meta["coefficients"]) @ basis  # (out, in/g, K)
        q = quant_of[conv.input[1]]
        w_float, scale = init[q.input[0]], init[q.input[1]].reshape(-1)
        np.testing.assert_allclose(w_float[..., 0, 0], kernel, rtol=1e-5, atol=1e-6)
        qmax = 2 ** (int(init[q.input[3]]) - 1) - 1
        ints_meta = np.clip(np.round(kernel / scale[:, None, None]), -qmax, qmax)
        ints_file = np.clip(np.round(w_float[..., 0, 0] / scale[:, None, None]), -qmax, qmax)
        assert np.mean(ints_meta == ints_file) > 0.99  # equal up to float32 ties
        assert len(meta["bias"]) == meta["out_channels"]


def test_cli_refuses_float_checkpoint(tmp_path, capsys):
    ckpt = save_checkpoint(build_model(CFG), tmp_path / "f.pt")
    assert main(["export", str(ckpt), "--out", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert "float checkpoint" in err and "--quant" in err
    assert not (tmp_path / "m.onnx").exists()


def test_cli_refuses_unexportable_groupnorm(tmp_path, capsys):
    cfg = CFG.replace(temporal_norm="group", input_size=(128, 128))
    ckpt = save_checkpoint(build_quant_model(cfg, {"weight_bits": 8, "act_bits": 8, "groupnorm_p": 24}),
                           tmp_path / "g.pt")
    assert main(["export", str(ckpt), "--out", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert "blocks.0.temporal_norm" in err and "lower P" in err


def test_cli_refuses_bad_bits(tmp_path, capsys):
    ckpt = save_checkpoint(build_model(CFG), tmp_path / "f.pt")
    assert main(["export", str(ckpt), "--out", str(tmp_path / "m.onnx"), "--quant", "w1a4"]) == 2
    assert "from 2 to 8" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # option values are range-checked by argparse
        main(["export", str(ckpt), "--out", str(tmp_path / "m.onnx"), "--quant", "w4a4", "--abits", "9"])
    assert exc.value.code == 2 and "allowed [2, 8]" in capsys.readouterr().err
