"""Hardware kind ``pointwise``: a 1x1x1 conv (IR conv, role pointwise; the head's dense layers, the readout of
a recurrent temporal layer) on ``pointwise_mvu`` (matrix-vector unit, PE x SIMD lanes, requantization).

A grouped pointwise conv with one output per group runs natively (``GROUP_IN`` inputs per output); other grouped
ones run dense with a block-diagonal weight (exact, ``groups`` times the useful MACs)."""
from __future__ import annotations

import numpy as np

from pleiades_fpga.hw.rtl import cycles
from pleiades_fpga.hw.rtl.kinds.mac import MacEngine
from pleiades_fpga.hw.rtl.kinds.registry import register
from pleiades_fpga.hw.rtl.lowering import Fold, Lowered, is_depthwise, lower_mac, mac_folds, mac_multipliers
from pleiades_fpga.ir.graph import IRGraph, Layer


def is_grouped_pointwise(layer: Layer) -> bool:
    """A grouped pointwise conv that is not depthwise (the readout of a recurrent temporal layer: groups = C,
    D state inputs per group)."""
    return layer.params.groups > 1 and not is_depthwise(layer)


def group_inputs(layer: Layer) -> int:
    """Inputs per group G of a grouped pointwise conv that pointwise_mvu runs natively (one output per group,
    out = groups); 0 for every other layer."""
    if is_grouped_pointwise(layer) and layer.out_channels == layer.params.groups:
        return layer.in_channels // layer.params.groups
    return 0


def dense_pointwise_weight(layer: Layer) -> np.ndarray:
    """(out, in, 1, 1, 1) weight of a grouped pointwise conv expanded to block-diagonal dense form (zeros outside
    the groups)."""
    p = layer.params
    w = np.asarray(p.weight, dtype=np.int64)
    og, ig = layer.out_channels // p.groups, layer.in_channels // p.groups
    dense = np.zeros((layer.out_channels, layer.in_channels, *w.shape[2:]), dtype=np.int64)
    for g in range(p.groups):
        dense[g * og:(g + 1) * og, g * ig:(g + 1) * ig] = w[g * og:(g + 1) * og]
    return dense


@register
class Pointwise(MacEngine):
    name = "pointwise"
    ir_role = "pointwise"
    output_queue = True
    pipeline_cycles = cycles.MAC_PIPELINE_CYCLES

    def check(self, layer: Layer) -> None:
        if not is_grouped_pointwise(layer):
            super().check(layer)

    def candidate_folds(self, layer: Layer) -> list[Fold]:
        return mac_folds(layer, group_inputs(layer) or layer.in_channels)

    def cost(self, graph: IRGraph, layer: Layer, fold: Fold) -> dict[str, int]:
        x, y = graph.tensors[layer.inputs[0]], graph.tensors[layer.output]
        c_in = group_inputs(layer) or layer.in_channels  # grouped: G inputs per output
        return {"cycles_per_frame": cycles.mvu_cycles_per_frame(c_in, layer.out_channels, x.height * x.width,
                                                                fold.pe, fold.simd),
                "multipliers": mac_multipliers(fold), "macs_per_frame": y.height * y.width * layer.out_channels * c_in}

    def lower(self, graph: IRGraph, layer: Layer, name: str, fold: Fold) -> Lowered:
        g_in = group_inputs(layer)
        # native grouped and depthwise layers keep their (out, in/g) weight; other grouped ones run dense
        raw = is_depthwise(layer) or g_in or not is_grouped_pointwise(layer)
        w = (np.asarray(layer.params.weight, dtype=np.int64) if raw else dense_pointwise_weight(layer))[:, :, :, 0, 0]
        return lower_mac(graph, layer, name, "pointwise_mvu", w, w.shape[2],
                         {"C_IN": layer.in_channels, "C_OUT": layer.out_channels, "PE": fold.pe, "SIMD": fold.simd},
                         {"GROUP_IN": g_in} if g_in else {}, fold)
