"""Hardware kind ``projection``: the recurrent temporal layer (IR projection) on ``projection_state`` (D states
per channel and pixel in block RAM, PE state rows x SIMD channels of D + 1 products per step)."""
from __future__ import annotations

import math
from typing import Any

from pleiades_fpga.hw.rtl import cycles
from pleiades_fpga.hw.rtl.kinds.registry import EstimateInput, HwKind, register
from pleiades_fpga.hw.rtl.lowering import Fold, Lowered, useful_lanes
from pleiades_fpga.hw.rtl.projection_rtl import projection_multipliers, projection_params, projection_wrapper
from pleiades_fpga.ir.graph import IRGraph, Layer
from pleiades_fpga.ir.kinds.projection import projection_window
from pleiades_fpga.toolflow.parts import dsp_blocks


@register
class Projection(HwKind):
    name = "projection"
    ir_kind = "projection"

    def candidate_folds(self, layer: Layer) -> list[Fold]:
        """PE state rows (<= D) x SIMD channels."""
        return [Fold(pe, simd) for pe in useful_lanes(layer.params.state_dim) for simd in useful_lanes(layer.in_channels)]

    def cost(self, graph: IRGraph, layer: Layer, fold: Fold) -> dict[str, int]:
        x = graph.tensors[layer.inputs[0]]
        d, pix = layer.params.state_dim, x.height * x.width
        return {"cycles_per_frame": cycles.projection_cycles_per_frame(layer.in_channels, d, pix, fold.pe, fold.simd),
                "multipliers": projection_multipliers(d, fold.pe, fold.simd),
                "macs_per_frame": pix * layer.in_channels * d * (d + 1)}

    def lower(self, graph: IRGraph, layer: Layer, name: str, fold: Fold) -> Lowered:
        x, p = graph.tensors[layer.inputs[0]], layer.params
        params = projection_params(p.proj_A, p.proj_B, p.frac_bits, layer.in_channels, x.height * x.width, x.bits,
                                   x.signed, layer.out_bits, layer.acc_bits, fold.pe, fold.simd)
        groups = -(-layer.in_channels // fold.simd)  # one word per pixel and channel group
        mems = [{"name": f"{name}_state", "kind": "state", "depth": x.height * x.width * groups,
                 "width": fold.simd * p.state_dim * layer.out_bits}]
        return Lowered([(name, projection_wrapper(name, params))], "projection_state", params, mems, {
            "kernel": 1, "state_dim": p.state_dim, "state_bits": layer.out_bits, "frac_bits": p.frac_bits,
            "window": projection_window(graph, layer), "in_signed": bool(x.signed)})

    def reset_cycles(self, entry: dict[str, Any]) -> int:
        """The state memory is cleared after reset: one cycle per word."""
        return max([int(m["depth"]) for m in entry["memories"] if m["kind"] == "state"] or [0])

    def estimate_terms(self, est: EstimateInput) -> tuple[float, float, float]:
        """PE x SIMD lanes of D + 1 products (coefficient x state / input), an adder tree, a fixed-shift rounding
        + clamp per lane; the states of a pixel are held 3 times in flip-flops (partial vector + 2-entry output
        queue); the state memory itself is in ``memories``."""
        k, params = est.k, est.params
        coef_w, s_w = int(params.get("COEF_W", 16)), int(params.get("S_W", est.out_bits))
        lanes = est.pe * est.simd
        per = dsp_blocks(coef_w, s_w, est.part)
        dsp = est.mults * per
        lut = est.mults * k["mul_lut"] * coef_w * s_w if per == 0 else 0.0
        lut += k["tree"] * est.mults * (coef_w + s_w + 3) + lanes * est.acc_bits * 2.0
        lut += k["mux"] * lanes * (est.in_bits + est.int("state_dim", 1) * s_w) * math.ceil(
            math.log2(max(1, math.ceil(est.in_c / est.simd)))) if est.in_c > est.simd else 0
        ff = 3 * est.out_c * est.out_bits + est.in_width
        lut += k["ctrl_lut"]
        return lut, ff, dsp
