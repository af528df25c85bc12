"""The hardware-kind registry of the RTL backend (pleiades_fpga.hw.rtl.kinds): every module registers itself,
each IR layer of a network finds its kind, unknown kinds are refused by name (the estimator has no aliases)."""
import pkgutil
import sys

import numpy as np
import pytest

import pleiades_fpga.hw.rtl.kinds as kinds
from pleiades_fpga.errors import PleiadesError, UnsupportedModelError
from pleiades_fpga.hw.rtl.kinds import HW_KINDS, HwKind, hw_kind, hw_kind_of, register
from pleiades_fpga.ir.graph import Layer
from pleiades_fpga.ir.kinds.conv import ConvParams
from pleiades_fpga.report.estimate import estimate_layer
from pleiades_fpga.toolflow.parts import get_part


def test_every_module_of_the_package_is_imported_and_the_known_kinds_are_registered():
    for mod in pkgutil.iter_modules(kinds.__path__):
        assert f"pleiades_fpga.hw.rtl.kinds.{mod.name}" in sys.modules, mod.name
    assert {"temporal_conv", "pointwise", "conv3x3", "avgpool", "add", "projection", "input", "fork"} <= set(HW_KINDS)
    for name, kind in HW_KINDS.items():
        assert kind.name == name and hw_kind(name) is kind


def _conv(role: str, groups: int, kernel: tuple[int, int, int], c_in: int = 4, c_out: int = 4) -> Layer:
    w = np.ones((c_out, c_in // groups, *kernel), dtype=np.int64)
    params = ConvParams(role=role, weight=w, weight_bits=4, weight_scale=np.ones(c_out),
                        bias=np.zeros(c_out, np.int64), groups=groups, kernel=kernel,
                        padding=(1, 1) if kernel[1] == 3 else (0, 0))
    return Layer("blocks.0.x", "conv", ["a"], "b", params=params, in_channels=c_in, out_channels=c_out)


def test_conv_layers_map_by_role_and_grouping():
    assert hw_kind_of(_conv("temporal", 1, (5, 1, 1))).name == "temporal_conv"
    assert hw_kind_of(_conv("temporal", 4, (5, 1, 1))).name == "temporal_conv"  # depthwise
    assert hw_kind_of(_conv("spatial", 1, (1, 3, 3))).name == "conv3x3"
    assert hw_kind_of(_conv("pointwise", 2, (1, 1, 1), c_in=8, c_out=2)).name == "pointwise"  # grouped readout
    with pytest.raises(UnsupportedModelError, match=r"blocks\.0\.x: grouped conv with groups=2"):
        hw_kind_of(_conv("temporal", 2, (5, 1, 1)))
    with pytest.raises(UnsupportedModelError, match=r"blocks\.0\.x: spatial conv 5x5"):
        hw_kind_of(_conv("spatial", 1, (1, 5, 5)))


def test_a_kind_registered_twice_is_refused():
    class Duplicate(HwKind):
        name = "pointwise"

    with pytest.raises(ValueError, match="registered twice"):
        register(Duplicate)
    assert type(HW_KINDS["pointwise"]).__name__ == "Pointwise"


@pytest.mark.parametrize("alias", ["conv", "dense", "fc", "mvu", "avgpool_stream"])
def test_estimator_refuses_a_manifest_kind_alias(alias):
    layer = {"name": "l", "kind": alias, "in_shape": [8, 4, 4], "out_shape": [8, 4, 4], "multipliers": 4,
             "weight_bits": 4, "pe": 4, "memories": []}
    with pytest.raises(PleiadesError, match=f"unknown hardware kind '{alias}'.*temporal_conv"):
        estimate_layer(layer, get_part("LFE5U-85F"))
    layer["kind"] = "pointwise"
    assert estimate_layer(layer, get_part("LFE5U-85F"))["lut"] > 0

