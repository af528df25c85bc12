"""The QONNX custom op of the IR kind "projection" (ONNX domain ``pleiades_fpga.custom_op``, the module qonnx
imports for that domain and which re-exports ``custom_op`` from here).

``PleiadesProjection`` (recurrent temporal layer, issue #6): input x (B, C, T, H, W), dequantized values of a
quantized activation (scale ``in_scale``); output (B, C*D, T, H, W), channel ``c*D + n``, the dequantized
signed ``state_bits`` states (scale ``state_scale``) of the integer recurrence, zero state at the start of
the clip (``pleiades_fpga.ir.kinds.projection.project_int``, the one implementation)::

    acc[n]   = sum_m A[n, m] s_prev[c, m] + B[n] x_int[c]      x_int = x / in_scale (integers)
    s[c, n]  = clamp(round_half_even(acc[n] / 2**frac_bits), -2**(state_bits-1), 2**(state_bits-1) - 1)

Attributes: ``A`` (ints, D*D row-major), ``B`` (ints, D), ``frac_bits``, ``state_bits``, ``D``,
``in_scale``, ``state_scale`` (floats, powers of two). Real recurrence: A / 2**F, B * 2**-F * s_s / s_x.
Executed by ``qonnx.core.onnx_exec.execute_onnx``.
"""
from __future__ import annotations

import numpy as np
from onnx import helper
from qonnx.core.datatype import DataType
from qonnx.custom_op.base import CustomOp

from pleiades_fpga.errors import UnsupportedModelError
from pleiades_fpga.ir.kinds.projection import DOMAIN, project_int


class PleiadesProjection(CustomOp):
    """Recurrent polynomial projection over a whole clip (see the module docstring)."""

    def get_nodeattr_types(self):
        return {
            "A": ("ints", True, []),
            "B": ("ints", True, []),
            "frac_bits": ("i", True, 0),
            "state_bits": ("i", True, 16),
            "D": ("i", True, 0),
            "in_scale": ("f", True, 1.0),
            "state_scale": ("f", True, 1.0),
        }

    def params(self) -> tuple[np.ndarray, np.ndarray, int, int, int, float, float]:
        """(A (D, D) int64, B (D,) int64, F, state bits, D, in_scale, state_scale)."""
        d = int(self.get_nodeattr("D"))
        a = np.asarray(self.get_nodeattr("A"), dtype=np.int64).reshape(d, d)
        b = np.asarray(self.get_nodeattr("B"), dtype=np.int64).reshape(d)
        return (a, b, int(self.get_nodeattr("frac_bits")), int(self.get_nodeattr("state_bits")), d,
                float(self.get_nodeattr("in_scale")), float(self.get_nodeattr("state_scale")))

    def make_shape_compatible_op(self, model):
        shape = list(model.get_tensor_shape(self.onnx_node.input[0]))
        shape[1] = shape[1] * int(self.get_nodeattr("D"))
        return self.make_const_shape_op(shape)

    def infer_node_datatype(self, model):
        model.set_tensor_datatype(self.onnx_node.output[0], DataType["FLOAT32"])

    def execute_node(self, context, graph):
        a, b, f, bits, d, in_scale, state_scale = self.params()
        x = np.asarray(context[self.onnx_node.input[0]], dtype=np.float64)
        x_int = np.round(x / in_scale)
        if not np.array_equal(x_int * in_scale, x):
            raise UnsupportedModelError(f"PleiadesProjection {self.onnx_node.name}: input is not a multiple of "
                                        f"in_scale={in_scale} (it must come from a Quant node with that scale)")
        x_int = x_int.astype(np.int64)
        out = np.empty((x.shape[0], x.shape[1] * d) + x.shape[2:], dtype=np.float64)
        for i in range(x.shape[0]):
            s = project_int(x_int[i].transpose(1, 0, 2, 3), a, b, f, bits)  # (T, C*D, H, W)
            out[i] = s.transpose(1, 0, 2, 3) * state_scale
        context[self.onnx_node.output[0]] = out.astype(np.float32)

    def verify_node(self):
        info = []
        try:
            a, b, f, bits, d, _, _ = self.params()
            info.append(f"D={d}, F={f}, state_bits={bits}")
        except Exception as exc:  # noqa: BLE001 - reported, not raised (qonnx convention)
            info.append(f"PleiadesProjection attributes are invalid: {exc}")
        if len(self.onnx_node.input) != 1:
            info.append("PleiadesProjection needs exactly one input")
        return info


def make_projection_node(inp: str, out: str, A: np.ndarray, B: np.ndarray, frac_bits: int, state_bits: int,
                         in_scale: float, state_scale: float, name: str = ""):
    """An ONNX ``PleiadesProjection`` node (for tests and graph patching)."""
    A = np.asarray(A, dtype=np.int64)
    return helper.make_node("PleiadesProjection", [inp], [out], name=name or None, domain=DOMAIN,
                            A=[int(v) for v in A.reshape(-1)], B=[int(v) for v in np.asarray(B).reshape(-1)],
                            frac_bits=int(frac_bits), state_bits=int(state_bits), D=int(A.shape[0]),
                            in_scale=float(in_scale), state_scale=float(state_scale))


custom_op = {"PleiadesProjection": PleiadesProjection}

__all__ = ["PleiadesProjection", "custom_op", "make_projection_node"]
