"""The QONNX custom op of the IR kind "groupnorm" (ONNX domain ``pleiades_fpga.custom_op``, re-exported by that
module for qonnx's op lookup).

``PleiadesGroupNorm`` (causal GroupNorm, issue #14, docs/GROUPNORM.md): input x (B, C, T, H, W), dequantized values
of a quantized activation (scale ``in_scale``); output the same shape, the dequantized (``out_scale``) integers of
``pleiades_fpga.ir.integers.groupnorm_int`` (the one implementation) per frame, statistics from reset at the start
of the clip. Attributes: ``groups``, ``E``, ``M``/``S``/``B`` (ints, one per channel), ``P``, ``stats``
("frame" | "previous"), ``in_scale``, ``out_scale``, ``out_bits``, ``out_signed``, ``relu`` (lo = 0).
Executed by ``qonnx.core.onnx_exec.execute_onnx``.
"""
from __future__ import annotations

import numpy as np
from qonnx.core.datatype import DataType
from qonnx.custom_op.base import CustomOp

from pleiades_fpga.errors import UnsupportedModelError
from pleiades_fpga.ir.integers import groupnorm_int, int_range


class PleiadesGroupNorm(CustomOp):
    """Integer causal GroupNorm over a whole clip (see the module docstring)."""

    def get_nodeattr_types(self):
        return {
            "groups": ("i", True, 1),
            "E": ("i", True, 0),
            "M": ("ints", True, []),
            "S": ("ints", True, []),
            "B": ("ints", True, []),
            "P": ("i", True, 16),
            "stats": ("s", True, "frame"),
            "in_scale": ("f", True, 1.0),
            "out_scale": ("f", True, 1.0),
            "out_bits": ("i", True, 8),
            "out_signed": ("i", True, 1),
            "relu": ("i", True, 0),
        }

    def make_shape_compatible_op(self, model):
        return self.make_const_shape_op(list(model.get_tensor_shape(self.onnx_node.input[0])))

    def infer_node_datatype(self, model):
        model.set_tensor_datatype(self.onnx_node.output[0], DataType["FLOAT32"])

    def execute_node(self, context, graph):
        g = self.get_nodeattr
        in_scale, out_scale = float(g("in_scale")), float(g("out_scale"))
        lo, hi = int_range(int(g("out_bits")), bool(g("out_signed")))
        if g("relu"):
            lo = max(lo, 0)
        x = np.asarray(context[self.onnx_node.input[0]], dtype=np.float64)
        x_int = np.round(x / in_scale)
        if not np.array_equal(x_int * in_scale, x):
            raise UnsupportedModelError(f"PleiadesGroupNorm {self.onnx_node.name}: input is not a multiple of "
                                        f"in_scale={in_scale} (it must come from a Quant node with that scale)")
        y, _ = groupnorm_int(x_int.astype(np.int64).transpose(0, 2, 3, 4, 1), int(g("groups")), int(g("E")),
                             np.asarray(g("M"), np.int64), np.asarray(g("S"), np.int64), np.asarray(g("B"), np.int64),
                             lo, hi, int(g("P")), str(g("stats")))
        context[self.onnx_node.output[0]] = (y.transpose(0, 4, 1, 2, 3) * out_scale).astype(np.float32)

    def verify_node(self):
        info = []
        c = len(self.get_nodeattr("M"))
        if not c or len(self.get_nodeattr("S")) != c or len(self.get_nodeattr("B")) != c:
            info.append("PleiadesGroupNorm needs M, S and B with one value per channel")
        if len(self.onnx_node.input) != 1:
            info.append("PleiadesGroupNorm needs exactly one input")
        return info


custom_op = {"PleiadesGroupNorm": PleiadesGroupNorm}

__all__ = ["PleiadesGroupNorm", "custom_op"]
