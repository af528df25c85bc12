"""``MacEngine``: the base of the hardware kinds on a MAC engine (``temporal_conv``, ``pointwise``, ``conv3x3``):
full or depthwise convs, PE x SIMD foldings, one requantization lane per PE, the family's control logic. Not a
kind itself (not registered)."""
from __future__ import annotations

from pleiades_fpga.hw.rtl.kinds.registry import HwKind
from pleiades_fpga.hw.rtl.lowering import Fold, check_conv_groups, mac_folds
from pleiades_fpga.ir.graph import Layer


class MacEngine(HwKind):
    ir_kind = "conv"
    requant_lanes, control_share = True, 1.0

    def check(self, layer: Layer) -> None:
        check_conv_groups(layer)

    def candidate_folds(self, layer: Layer) -> list[Fold]:
        return mac_folds(layer, layer.in_channels)
