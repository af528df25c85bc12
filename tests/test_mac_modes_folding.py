"""MAC modes in the folding, the cost model and the estimator (hw.rtl.lowering, hw.rtl.folding, report.estimate).

The small w4a4 network (4-bit weights, 4-bit activations, 8-bit input counts) gets packed lanes where a lane has
two products, LUT lanes in its depthwise engines and its first layer (8-bit input: too wide to pack); the same
network at w8a8 stays on one product per multiplier. The folding JSON's "mac" is checked against the widths.
"""
from __future__ import annotations

import json

import pytest

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.rtl.folding import default_folding, folding_to_json, layer_cost, load_folding
from pleiades_fpga.hw.rtl.kinds import Fold, hardware_layers, hw_kind_of
from pleiades_fpga.hw.rtl.kinds.mac import MacEngine
from pleiades_fpga.hw.rtl.lowering import is_depthwise, mac_mode_problem
from pleiades_fpga.ir.reader import read_qonnx
from pleiades_fpga.report.estimate import estimate_layer
from pleiades_fpga.toolflow.parts import get_part
from small_qonnx import small_qonnx


@pytest.fixture(scope="module")
def graphs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mac_modes")
    return {q: read_qonnx(small_qonnx(tmp / f"{q}.onnx", spec=q)) for q in ("w4a4", "w8a8")}


def mac_layers(graph):
    return [l for l in hardware_layers(graph) if isinstance(hw_kind_of(l), MacEngine)]


def test_mode_rules():
    assert mac_mode_problem("packed", 4, 4) is None and mac_mode_problem("packed", 5, 5) is None
    assert "18-bit" in mac_mode_problem("packed", 6, 5)          # A = 2*6 + 5 + 2 = 19 bits
    assert "18-bit" in mac_mode_problem("packed", 8, 4)
    assert mac_mode_problem("lut", 8, 4) is None
    assert "at most 4" in mac_mode_problem("lut", 4, 5)
    assert "unknown MAC mode" in mac_mode_problem("booth", 4, 4)


def test_default_folding_packs_w4a4_and_leaves_w8a8(graphs):
    g4, g8 = graphs["w4a4"], graphs["w8a8"]
    f4, f8 = default_folding(g4), default_folding(g8)
    modes = set()
    for layer in mac_layers(g4):
        fold = f4[layer.name]
        modes.add(fold.mac)
        if layer.in_bits > 5:                     # the input layer: 8-bit counts x 4-bit weights
            assert fold.mac == "lut", (layer.name, fold)
        elif is_depthwise(layer):
            assert fold.mac == "lut", (layer.name, fold)
        else:
            assert fold.mac == ("packed" if fold.simd >= 2 else "dsp"), (layer.name, fold)
        expected = {"dsp": fold.pe * fold.simd, "packed": fold.pe * ((fold.simd + 1) // 2), "lut": 0}[fold.mac]
        assert layer_cost(g4, layer, fold)["multipliers"] == expected, (layer.name, fold)
    assert {"packed", "lut"} <= modes
    assert all(f8[l.name].mac == "dsp" for l in mac_layers(g8))


def test_same_multiplier_budget_twice_the_rate(graphs):
    """Within one multiplier budget the w4a4 design is at least twice as fast (cost model)."""
    rates = {}
    for q, g in graphs.items():
        fold = default_folding(g, max_multipliers=12)
        costs = [layer_cost(g, g.layer(n), f) for n, f in fold.items()]
        assert sum(c["multipliers"] for c in costs) <= 12
        rates[q] = max(c["cycles_per_frame"] for c in costs)
    assert rates["w8a8"] >= 2 * rates["w4a4"], rates


def test_folding_json_mac_round_trip_and_refusals(graphs, tmp_path):
    g4, g8 = graphs["w4a4"], graphs["w8a8"]
    fold = default_folding(g4)
    path = tmp_path / "folding.json"
    path.write_text(json.dumps(folding_to_json(fold)))
    assert load_folding(path, g4) == fold
    dw = next(l.name for l in mac_layers(g4) if is_depthwise(l))
    full = next(l.name for l in mac_layers(g4) if not is_depthwise(l) and l.in_bits <= 4)
    data = folding_to_json(fold)
    data["layers"][dw]["mac"] = "dsp"                       # any MAC layer may stay on one product per multiplier
    data["layers"][full] = {"pe": 1, "simd": 1, "mac": "lut"}
    path.write_text(json.dumps(data))
    loaded = load_folding(path, g4)
    assert loaded[dw].mac == "dsp" and loaded[full] == Fold(1, 1, "lut")
    del data["layers"][dw]["mac"]                            # absent = "dsp"
    path.write_text(json.dumps(data))
    assert load_folding(path, g4)[dw].mac == "dsp"
    add = next(l.name for l in hardware_layers(g4) if l.kind == "add")
    f8 = folding_to_json(default_folding(g8))
    name8 = mac_layers(g8)[0].name
    cases = [
        (g4, {**data["layers"], full: {"pe": 1, "simd": 1, "mac": "booth"}}, f"layer {full}: mac = 'booth' must be"),
        (g4, {**data["layers"], add: {"pe": 1, "simd": 1, "mac": "packed"}}, f"layer {add} .*has no MAC engine"),
        (g8, {**f8["layers"], name8: {**f8["layers"][name8], "mac": "packed"}},
         f"layer {name8}: mac = 'packed': packed operands need .* bits"),
        (g8, {**f8["layers"], name8: {**f8["layers"][name8], "mac": "lut"}},
         f"layer {name8}: mac = 'lut': LUT multipliers take weights of at most 4 bits"),
    ]
    for graph, layers, message in cases:
        path.write_text(json.dumps({"layers": layers}))
        with pytest.raises(PleiadesError, match=message):
            load_folding(path, graph)


def test_estimate_terms_per_mode():
    """The estimator's DSP and LUT terms follow the mode: packed halves the DSP blocks, lut has none and more LUTs."""
    part = get_part("LFE5U-85F")
    entry = {"name": "l", "kind": "pointwise", "in_shape": [16, 4, 4], "out_shape": [8, 4, 4], "pe": 4, "simd": 8,
             "in_bits": 4, "out_bits": 4, "weight_bits": 4, "acc_bits": 12, "m_bits": 1, "s_bits": 3, "groups": 1, "depthwise": False,
             "memories": []}
    est = {mode: estimate_layer({**entry, "mac": mode, "multipliers": mults}, part)
           for mode, mults in (("dsp", 32), ("packed", 16), ("lut", 0))}   # M 1 bit: no requant DSP
    assert (est["dsp"]["dsp"], est["packed"]["dsp"], est["lut"]["dsp"]) == (32, 16, 0)
    assert est["lut"]["lut"] > est["dsp"]["lut"] > est["packed"]["lut"]
