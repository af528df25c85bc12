"""Hardware kind ``avgpool``: the spatial mean of the head (IR avgpool) on ``avgpool_stream`` (per-channel frame
sums, then one requantization pass of PE lanes; the division by H*W is in the requantization shift)."""
from __future__ import annotations

from pleiades_fpga.hw.rtl import cycles_spatial, rom
from pleiades_fpga.hw.rtl.kinds.registry import EstimateInput, HwKind, register
from pleiades_fpga.hw.rtl.lowering import Fold, Lowered, divisors, ms_widths, requant_fields
from pleiades_fpga.ir.graph import IRGraph, Layer


@register
class AvgPool(HwKind):
    name = "avgpool"
    ir_kind = "avgpool"
    requant_lanes, control_share = True, 0.35
    pipeline_cycles = 1  # the input queue

    def candidate_folds(self, layer: Layer) -> list[Fold]:
        return [Fold(pe, 1) for pe in divisors(layer.in_channels)]  # PE divides the channels

    def cost(self, graph: IRGraph, layer: Layer, fold: Fold) -> dict[str, int]:
        x = graph.tensors[layer.inputs[0]]
        return {"cycles_per_frame": cycles_spatial.avgpool_cycles(x.height, x.width, x.channels, fold.pe),
                "multipliers": fold.pe, "macs_per_frame": 0}  # one requant lane (a multiplier unless M is 1) per PE

    def lower(self, graph: IRGraph, layer: Layer, name: str, fold: Fold) -> Lowered:
        x = graph.tensors[layer.inputs[0]]
        m, s, out_bits, out_signed = requant_fields(layer)
        mw, sw = ms_widths(m, s)
        params = {"H": x.height, "W": x.width, "C": x.channels, "IN_W": x.bits, "IN_SIGNED": int(x.signed),
                  "ACC_W": layer.acc_bits, "PE": fold.pe, "M_W": mw, "S_W": sw, "OUT_W": out_bits,
                  "OUT_SIGNED": int(out_signed)}
        mems = [{"name": f"{name}_params", "kind": "weights", "depth": -(-x.channels // fold.pe),
                 "width": fold.pe * (mw + sw)}]
        return Lowered(rom.avgpool_layer_files(name, params, m, s), "avgpool_stream", params, mems)

    def estimate_terms(self, est: EstimateInput) -> tuple[float, float, float]:
        """Per-channel frame sums, first-pixel clear and hold-bank select; running sums + hold bank."""
        return 3 * est.in_c * est.acc_bits * est.k["sum"], 2 * est.in_c * est.acc_bits, 0.0
