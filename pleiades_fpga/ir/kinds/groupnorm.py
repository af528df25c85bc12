"""IR kind "groupnorm" (causal GroupNorm, issue #14): per frame and group, the integer normalization of
docs/GROUPNORM.md, ``pleiades_fpga.ir.integers.groupnorm_int`` (the one implementation, shared by the golden
model, the QONNX op ``PleiadesGroupNorm`` (``groupnorm_op``), the quantized torch model and the RTL tests)::

    S1 = sum x;  D = n*sum(x*x) - S1*S1;  V = max(D + E, 1);  (R, k) = rsqrt_fixed(V, P)      (per group)
    y  = clamp(round_half_even((d*R*M[c] + (B[c] << (P+k))) / 2**(P+k+S[c])), lo, hi),  d = n*x - S1

with n = C/G*H*W elements per group, ``lo = 0`` when ``relu``. ``stats="frame"``: the frame's own statistics
(exact GroupNorm; the hardware holds one frame); ``"previous"``: those of the frame before (the first frame after
reset is normalized to 0; no frame buffer). The output is a quantized activation (``out_bits``, ``out_signed``, ``out_scale``); the layer has
its own rounding (``requant`` is False, no M/S requantization). Parameters: ``GroupNormParams``. The accumulator
width (``acc_bits``) comes from ``groupnorm_acc_bits``; a layer above 62 bits is refused when read.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from pleiades_fpga.ir.graph import Layer, LayerParams, TensorSpec
from pleiades_fpga.ir.integers import GN_STATS, GroupNormStats, groupnorm_acc_bits, groupnorm_int, int_range
from pleiades_fpga.ir.kinds.projection import DOMAIN
from pleiades_fpga.ir.kinds.registry import GoldenLayer, Kind, register
from pleiades_fpga.ir.read_context import ReadContext, node_attrs


@dataclass
class GroupNormParams(LayerParams):
    """Parameters of a groupnorm layer (see the module docstring)."""

    groups: int  # G
    n: int  # elements per group: C/G*H*W
    E: int  # eps term, n*n*eps / s_x**2 rounded
    M: np.ndarray  # int64 (C,), signed multipliers (|M| < 2**15)
    S: np.ndarray  # int64 (C,), shifts >= 0
    B: np.ndarray  # int64 (C,), biases at 2**S[c] per output unit
    precision: int  # P, fraction bits of the reciprocal square root
    stats: str  # "frame" | "previous"


def groupnorm_out_range(layer: Layer) -> tuple[int, int]:
    """(lo, hi) of a groupnorm layer's output (lo = 0 with a fused ReLU)."""
    lo, hi = int_range(layer.out_bits, layer.out_signed)
    return (max(lo, 0) if layer.relu else lo), hi


@register
class GroupNormKind(Kind):
    name = "groupnorm"
    onnx_ops = ("PleiadesGroupNorm",)

    def read(self, ctx: ReadContext, node: onnx.NodeProto) -> None:
        """``PleiadesGroupNorm`` on a quantized activation; its output is a quantized activation."""
        if node.domain != DOMAIN:
            raise ctx.fail(node, f"PleiadesGroupNorm must be in domain {DOMAIN!r}, got {node.domain!r}")
        x = ctx.input_act(node, node.input[0])
        a = node_attrs(node)
        groups, c = int(a["groups"]), x.channels
        if groups < 1 or c % groups:
            raise ctx.fail(node, f"{c} channels are not divisible into groups={groups}")
        m, s, b = (np.asarray(a[k], dtype=np.int64) for k in ("M", "S", "B"))
        if not m.shape == s.shape == b.shape == (c,):
            raise ctx.fail(node, f"M, S and B need one value per channel ({c}), got {m.size}, {s.size}, {b.size}")
        if np.any(s < 0):
            raise ctx.fail(node, "shifts S must be >= 0")
        stats = str(a.get("stats", "frame"))
        if stats not in GN_STATS:
            raise ctx.fail(node, f"stats={stats!r}; supported: {', '.join(GN_STATS)}")
        if float(a["in_scale"]) != float(x.scale):
            raise ctx.fail(node, f"in_scale {a['in_scale']} differs from the input's quantizer scale {float(x.scale)}")
        n = c // groups * x.height * x.width
        out_bits, out_signed, out_scale = int(a["out_bits"]), bool(a["out_signed"]), float(a["out_scale"])
        relu = bool(a.get("relu", 0))
        if relu and out_signed:
            raise ctx.fail(node, "a ReLU-fused GroupNorm needs an unsigned output")
        name = ctx.name("groupnorm")
        p, e = int(a.get("P", 16)), int(a["E"])
        try:
            acc_bits = groupnorm_acc_bits(n, x.bits, x.signed, m, b, e, p, name=name)
        except Exception as exc:
            raise ctx.fail(node, str(exc)) from exc
        out = node.output[0]
        ctx.layers.append(Layer(
            name=name, kind="groupnorm", inputs=[node.input[0]], output=out, in_channels=c, out_channels=c,
            in_bits=x.bits, in_signed=x.signed, in_scale=float(x.scale), acc_bits=acc_bits,
            acc_scale=np.asarray(out_scale),  # no fixed accumulator scale (2**-(P+k+S) varies per frame)
            requant=False, relu=relu, out_bits=out_bits, out_signed=out_signed, out_scale=np.asarray(out_scale),
            params=GroupNormParams(groups=groups, n=n, E=e, M=m, S=s, B=b, precision=p, stats=stats)))
        ctx.add_act(out, c, x.height, x.width, out_bits, out_signed, out_scale)

    def module_name(self, layer: Layer, producers: dict[str, Layer], layers: list[Layer]) -> str | None:
        """After the conv it normalizes: ``blocks.i.temporal`` -> ``blocks.i.temporal_norm`` (also for a
        recurrent layer's ``blocks.i.temporal.readout``), ``blocks.i.pointwise`` -> ``blocks.i.pointwise_norm``."""
        prod = producers.get(layer.inputs[0])
        if prod is None or not prod.name.startswith("blocks."):
            return None
        return prod.name.removesuffix(".readout") + "_norm"

    def describe(self, layer: Layer) -> str:
        p = layer.params
        return f" G={p.groups} n={p.n} P={p.precision} stats={p.stats}"

    def outputs_accumulator(self, layer: Layer) -> bool:
        return False  # rounded and clamped by the layer itself

    def abs_bound(self, layer: Layer, x: TensorSpec | None) -> int:
        return 2**layer.out_bits  # int64 arithmetic: only the outputs pass through the golden float dtype

    def init_state(self, layer: Layer, x: TensorSpec, batch: int, dtype: type) -> GroupNormStats | None:
        return GroupNormStats.reset(batch, layer.params.groups) if layer.params.stats == "previous" else None

    def golden(self, run: GoldenLayer, xs: list[np.ndarray], state: GroupNormStats | None) -> np.ndarray:
        """x (B, T, H, W, C) -> y (B, T, H, W, C); ``state`` (stats "previous", streaming) is updated in place."""
        layer, p = run.layer, run.layer.params
        lo, hi = groupnorm_out_range(layer)
        y, last = groupnorm_int(xs[0].astype(np.int64), p.groups, p.E, p.M, p.S, p.B, lo, hi, p.precision, p.stats,
                                state)
        if state is not None:
            state.s1, state.d, state.valid = last.s1, last.d, last.valid
        return y.astype(run.dtype)
