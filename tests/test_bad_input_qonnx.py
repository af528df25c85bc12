"""QONNX metadata vs graph (#17): a file whose PLEIADES metadata is missing, malformed or disagrees with the graph
(kernel taps, input shape, bit widths) is refused before it is read, naming the key, layer or node."""
import json

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from pleiades_fpga import cli
from pleiades_fpga.errors import UnsupportedModelError
from pleiades_fpga.ir.reader import read_qonnx

from small_qonnx import small_qonnx


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return small_qonnx(tmp_path_factory.mktemp("q") / "small.onnx")


def _props(model):
    return {p.key: p.value for p in model.metadata_props}


def _set_props(model, props):
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, props)


def _edit_json(model, key, edit):
    props = _props(model)
    value = json.loads(props[key])
    edit(value)
    props[key] = json.dumps(value)
    _set_props(model, props)


def _set_bits(model, node_name, bits):
    node = next(n for n in model.graph.node if n.name == node_name)
    for init in model.graph.initializer:
        if init.name == node.input[3]:
            init.CopyFrom(numpy_helper.from_array(np.array(bits, dtype=np.float32), init.name))


def _signed_quant(model):
    """The name of the first Quant node with signed = 1 (the weights' quantizers are signed)."""
    return next(n.name for n in model.graph.node if n.op_type == "Quant"
                and any(a.name == "signed" and a.i == 1 for a in n.attribute))


def _cfg(key, value):
    def edit(cfg):
        cfg[key] = value
    return lambda m: _edit_json(m, "pleiades.net_config", edit)


def _layer0(key, value):
    def edit(layers):
        layers[0][key] = value
    return lambda m: _edit_json(m, "pleiades.temporal_layers", edit)


def _drop(key):
    return lambda m: _set_props(m, {k: v for k, v in _props(m).items() if k != key})


def _raw(key, text):
    return lambda m: _set_props(m, {**_props(m), key: text})


def _input_dims(dims):
    def edit(m):
        shape = m.graph.input[0].type.tensor_type.shape
        for d, v in zip(shape.dim, dims):
            d.dim_value = v
    return edit


CASES = {
    "no metadata": (lambda m: _set_props(m, {}), "missing PLEIADES metadata"),
    "no net_config": (_drop("pleiades.net_config"), "missing PLEIADES metadata .*pleiades.net_config"),
    "bad JSON": (_raw("pleiades.temporal_layers", "[{"), "pleiades.temporal_layers: is not valid JSON"),
    "format": (_raw("pleiades.format", "something/2"), "pleiades.format: is 'something/2'"),
    "pad": (_raw("pleiades.pad", "valid"), "pleiades.pad: is 'valid'"),
    "conv_names": (_raw("pleiades.conv_names", "[1, 2]"), "pleiades.conv_names: must map"),
    "bin_us zero": (_cfg("bin_us", 0), "net_config bin_us: must be an integer >= 1, got 0"),
    "bin_us fraction": (_cfg("bin_us", 2.5), "net_config bin_us: must be an integer"),
    "kernel_size missing": (lambda m: _edit_json(m, "pleiades.net_config", lambda c: c.pop("kernel_size")),
                            "net_config: has no 'kernel_size'"),
    "alpha": (_cfg("alpha", -1.0), "net_config alpha: must be a finite number > -1"),
    "degree": (_cfg("degree", 1.5), "net_config degree: must be an integer"),
    "input size": (_cfg("input_size", [8]), "input_size: must be \\[height, width\\]"),
    "layer kernel vs taps": (_layer0("kernel_size", 7), "Conv_0.*blocks.0.temporal.*10 temporal taps.*kernel_size 7"),
    "layer beta": (_layer0("beta", float("nan")), "temporal_layers\\[0\\] \\(blocks.0.temporal\\) beta"),
    "layer coefficients": (_layer0("coefficients", [[[1.0, 2.0]]]), "coefficients: must be finite numbers of shape"),
    "layer coefficients text": (_layer0("coefficients", "abc"), "coefficients: must be"),
    "layer list": (_raw("pleiades.temporal_layers", "{}"), "must be a JSON list"),
    "input shape": (_input_dims([1, 2, 16, 9, 8]), "declared shape \\[1, 2, 16, 9, 8\\]"),
    "input channels": (_input_dims([1, 3, 16, 8, 8]), "declared shape"),
    "bits fraction": (lambda m: _set_bits(m, "Quant_1", 4.5), "Quant_1.*bit width: must be an integer 1..32"),
    "bits zero": (lambda m: _set_bits(m, "Quant_19", 0), "Quant_19.*bit width: must be an integer 1..32, got 0"),
    "bits 40": (lambda m: _set_bits(m, "Quant_2", 40), "Quant_2.*bit width: must be an integer 1..32, got 40"),
    "signed 1 bit": (lambda m: _set_bits(m, _signed_quant(m), 1), "signed quantizer needs a bit width of at least 2"),
}


def test_the_exported_file_passes(exported):
    assert len(read_qonnx(exported).layers) > 5


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_metadata_is_refused(exported, tmp_path, case):
    edit, message = CASES[case]
    model = onnx.load(str(exported))
    edit(model)
    path = tmp_path / "bad.onnx"
    onnx.save(model, str(path))
    with pytest.raises(UnsupportedModelError, match=message) as exc:
        read_qonnx(path)
    assert str(path) in str(exc.value) and "pleiades-fpga export" in str(exc.value)


def test_build_cli_reports_it_without_traceback(exported, tmp_path, capsys):
    model = onnx.load(str(exported))
    _layer0("kernel_size", 3)(model)
    onnx.save(model, str(tmp_path / "bad.onnx"))
    assert cli.main(["build", str(tmp_path / "bad.onnx"), "--backend", "rtl", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert any(line.startswith("error: ") and "kernel_size 3" in line for line in err.splitlines())
    assert "Traceback" not in err
