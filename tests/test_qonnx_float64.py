"""qonnx's float64 execution of a QONNX file (``pleiades_fpga.ir.qonnx_float64``): the Conv lowering against torch's
own float64 convolution, and a dyadic-scale network with 16-bit activations whose float32 execution is off the
golden model's integers while the float64 one equals them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx

from pleiades_fpga.errors import UnsupportedModelError
from pleiades_fpga.ir.golden import GoldenModel
from pleiades_fpga.ir.qonnx_float64 import execute_float64, float64_model
from small_qonnx import qonnx_outputs, small_qonnx

CONVS = [  # (input shape, weight shape, attributes, bias)
    ((1, 3, 6, 5, 5), (4, 3, 3, 1, 1), {"pads": [2, 0, 0, 0, 0, 0]}, True),  # causal temporal taps
    ((1, 4, 3, 7, 7), (4, 1, 1, 3, 3), {"pads": [0, 1, 1, 0, 1, 1], "strides": [1, 2, 2], "group": 4}, False),
    ((2, 6, 2, 4, 4), (8, 3, 1, 1, 1), {"group": 2}, True),  # grouped pointwise, batch 2
    ((1, 2, 5, 6, 6), (3, 2, 2, 2, 2), {"pads": [1, 1, 0, 0, 1, 1], "dilations": [2, 1, 2]}, True),
]


def _conv_model(x_shape, w_shape, attrs, bias: bool, rng) -> tuple[onnx.ModelProto, dict, np.ndarray]:
    w = rng.integers(-127, 128, w_shape).astype(np.float32) * np.float32(0.71875)  # 8-bit codes x a dyadic scale
    b = rng.integers(-2**14, 2**14, w_shape[0]).astype(np.float32) * np.float32(0.71875)
    inputs = ["x", "w"] + (["b"] if bias else [])
    inits = [numpy_helper.from_array(w, "w")] + ([numpy_helper.from_array(b, "b")] if bias else [])
    node = helper.make_node("Conv", inputs, ["y"], name="conv", kernel_shape=list(w_shape[2:]), **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    x = rng.integers(-2**11, 2**11, x_shape).astype(np.float32) * np.float32(2.0 ** -7)  # 12-bit codes
    return model, {"w": w, "b": b if bias else None}, x


@pytest.mark.parametrize("case", range(len(CONVS)))
def test_lowered_conv_equals_torch_float64_conv_exactly(case):
    x_shape, w_shape, attrs, bias = CONVS[case]
    rng = np.random.default_rng(case)
    model, params, x = _conv_model(x_shape, w_shape, attrs, bias, rng)
    rank = len(x_shape) - 2
    pads = attrs.get("pads", [0] * 2 * rank)
    xp = torch.nn.functional.pad(torch.from_numpy(x).double(),
                                 [p for i in reversed(range(rank)) for p in (pads[i], pads[rank + i])])
    ref = torch.nn.functional.conv3d(xp, torch.from_numpy(params["w"]).double(),
                                     None if params["b"] is None else torch.from_numpy(params["b"]).double(),
                                     stride=attrs.get("strides", 1), dilation=attrs.get("dilations", 1),
                                     groups=attrs.get("group", 1)).numpy()
    lowered = float64_model(ModelWrapper(model))
    assert "Conv" not in [n.op_type for n in lowered.graph.node]
    got = execute_onnx(lowered, {"x": x.astype(np.float64)})["y"]
    assert got.dtype == np.float64 and got.shape == ref.shape
    assert int((got != ref).sum()) == 0  # integers times dyadic scales: exact in float64
    f32 = execute_onnx(ModelWrapper(model), {"x": x})["y"]  # the same Conv in ONNX Runtime's float32
    np.testing.assert_allclose(f32, ref, rtol=1e-5, atol=1e-2)


def test_constant_quant_is_computed_in_float64():
    """A bias quantized to a wide accumulator's scale (30-bit integers x an 8-bit dyadic mantissa: 38 significant
    bits) is exact in float64; qonnx's own Quant returns float32 and rounds it."""
    codes = np.array([2**29 - 3, -(2**29) + 7, 123_456_789], dtype=np.float64)
    scale = 0.71875 * 2.0 ** -20  # mantissa 23 (5 bits) x a power of two
    inits = [numpy_helper.from_array(codes * scale, "b"), numpy_helper.from_array(np.float32(scale), "s"),
             numpy_helper.from_array(np.float32(0), "z"), numpy_helper.from_array(np.float32(32), "n")]
    nodes = [helper.make_node("Quant", ["b", "s", "z", "n"], ["bq"], domain="qonnx.custom_op.general", signed=1,
                              narrow=0, rounding_mode="ROUND"),
             helper.make_node("Add", ["x", "bq"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])], inits,
                              value_info=[helper.make_tensor_value_info("bq", TensorProto.FLOAT, [3])])
    model = ModelWrapper(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    assert int((execute_onnx(model, {"x": np.zeros(3, np.float32)})["y"] != codes * scale).sum()) > 0  # float32
    folded = float64_model(model)
    assert "Quant" not in [n.op_type for n in folded.graph.node]
    got = execute_onnx(folded, {"x": np.zeros(3)})["y"]
    assert got.dtype == np.float64 and int((got != codes * scale).sum()) == 0


def test_lowering_refuses_unknown_shapes():
    model, _, _ = _conv_model((1, 3, 6, 5, 5), (4, 3, 3, 1, 1), {}, False, np.random.default_rng(0))
    model.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "T"
    with pytest.raises(UnsupportedModelError, match="static shapes"):
        float64_model(ModelWrapper(model))


@pytest.fixture(scope="module")
def wide(tmp_path_factory) -> Path:
    """The small network with dyadic 8-bit weights and 16-bit activations: accumulators beyond float32's 24 bits."""
    spec = {"weight_bits": 8, "act_bits": 16, "input_bits": 8, "scaling": "dyadic", "mantissa_bits": 8,
            "groupnorm_p": 12}
    return small_qonnx(tmp_path_factory.mktemp("f64") / "wide.onnx", seed=1, spec=spec)


def test_float64_execution_equals_golden_where_float32_does_not(wide):
    clips = torch.poisson(torch.full((3, 2, 16, 8, 8), 0.6), generator=torch.Generator().manual_seed(4)).numpy()
    golden = GoldenModel.from_qonnx(wide)
    ints = golden.run(clips)
    scale = golden.output_scale.reshape(1, -1, 1)
    exact = execute_float64(wide, clips) / scale
    assert int((exact != ints).sum()) == 0 and len(np.unique(ints)) > 20
    off = np.abs(qonnx_outputs(wide, clips) / scale - ints)
    assert off.max() > 1e-3  # float32: not the integers (why float64 exists)
