"""fmax model: features and stage delays from the manifest, the routing fit, leave-one-out, the shipped calibration."""
from __future__ import annotations

import json
import math
import re

import pytest

from pleiades_fpga.report import fmax_model as fm
from pleiades_fpga.toolflow.parts import get_part

ECP5 = get_part("LFE5U-85F")


def _layer(name="t", segments_mem=(2304, 128), in_c=16, pe=3, simd=16, acc=22):
    return {"name": name, "kind": "temporal_conv", "in_shape": [in_c, 16, 16], "out_shape": [24, 16, 16],
            "in_bits": 8, "in_signed": False, "out_bits": 8, "weight_bits": 8, "acc_bits": acc, "pe": pe,
            "simd": simd, "multipliers": pe * simd, "cycles_per_frame": 1000, "params": {"M_W": 1, "S_W": 4},
            "memories": [{"name": "h", "kind": "circular_buffer", "depth": segments_mem[0],
                          "width": segments_mem[1]}]}


def _manifest(layers):
    return {"format": "pleiades-fpga-manifest/1", "name": "t", "top": "t", "rtl_files": [], "layers": layers,
            "input": {"channels": 2, "height": 16, "width": 16, "bits": 8, "bin_us": 10000},
            "output": {"channels": 10, "bits": 16}, "cycles_per_frame": 1000}


def test_layer_features_hand_computed():
    f = fm.layer_features(_layer(), ECP5)
    # 2304 x 128 history: ram_sdp banks of 512 words for words wider than 18 bits -> 5 banks
    assert f["ram_banks"] == 5
    assert f["input_groups"] == 1                 # 16 input channels, SIMD 16
    assert f["in_bits"] == 9                      # unsigned 8-bit activations into a signed multiplier
    assert f["tree_depth"] == 4                   # 16 products per output
    assert (f["acc_bits"], f["m_bits"], f["s_bits"]) == (22, 1, 4)
    folded = fm.layer_features(_layer(in_c=64, simd=4, segments_mem=(2304, 16)), ECP5)
    assert folded["input_groups"] == 16 and folded["tree_depth"] == 2
    assert folded["ram_banks"] == 3               # 16-bit words: banks of 1024


def test_stage_delays_hand_computed():
    f = fm.layer_features(_layer(), ECP5)
    assert fm.stage(("read",), f, "ecp5") == (pytest.approx(5.61), 1)    # block RAM into its fabric register
    logic, hops = fm.stage(("read_q", "banks", "select"), f, "ecp5")
    # from the block RAMs' output registers: 5 banks = 2 levels of 4:1, then the tap/current select (1 level)
    assert logic == pytest.approx(0.97 + 3 * 0.24) and hops == 2 + 1 + 1
    assert ("read_q", "banks", "select") in fm.STAGES["temporal_conv"]
    assert ("read",) in fm.STAGES["groupnorm"] and ("read",) in fm.STAGES["projection"]
    logic, hops = fm.stage(("tree",), f, "ecp5")
    assert logic == pytest.approx(0.52 + 2 * (0.24 + 0.06 * 22)) and hops == 2 + 1     # 4 levels in two stages
    assert fm.stage(("mult",), f, "ecp5") == (pytest.approx(0.52 + 3.93), 2)
    wide = dict(f, in_bits=19)                      # 19 x 8 bits: two multiplier blocks and their sum
    assert fm.element("mult", wide, "ecp5") == (pytest.approx(3.93 + 0.24 + 0.06 * 27), 2)
    assert fm.bank_count(9216, 16) == 9 and fm.bank_count(100, 8) == 1
    # conv3x3 window arithmetic on a 16x16 frame: 3 carry chains over log2(17) + 1 = 6 bits, 5 LUT levels, 8 nets
    conv = dict(_layer(), kind="conv3x3")
    assert fm.stage(("window",), fm.layer_features(conv, ECP5), "ecp5") == (
        pytest.approx(0.52 + 3 * (0.85 + 0.035 * 6) + 5 * 0.24), 8)
    assert ("window",) in fm.STAGES["conv3x3"] and ("control",) in fm.STAGES["temporal_conv"]


def _synthetic_nets(a, b):
    nets = []
    for i, (logic, hops, spread) in enumerate([(10.0, 5, 0.2), (11.0, 6, 0.45), (9.5, 5, 0.7), (12.0, 7, 0.6)]):
        stages = [{"layer": "x", "stage": "read+select+mult", "logic_ns": logic, "hops": hops, "spread": spread},
                  {"layer": "x", "stage": "requant", "logic_ns": 2.0, "hops": 2, "spread": spread}]
        nets.append({"net": f"n{i}", "fmax_mhz": 1000.0 / (logic + hops * (a + b * spread)), "stages": stages})
    return nets


def test_routing_fit_recovers_the_generating_values_and_leave_one_out_is_exact_then():
    nets = _synthetic_nets(0.7, 1.6)
    a, b = fm.fit_routing(nets)
    assert (a, b) == (pytest.approx(0.7, abs=1e-6), pytest.approx(1.6, abs=1e-6))
    rows = fm.leave_one_out({"nets": nets})
    assert [r["net"] for r in rows] == ["n0", "n1", "n2", "n3"]
    assert all(abs(r["error"]) < 1e-4 for r in rows)
    assert rows[0]["fit_on"] == ["n1", "n2", "n3"]
    # a net that does not follow the model shows up in its own leave-one-out row only
    nets[2]["fmax_mhz"] *= 1.5
    rows = fm.leave_one_out({"nets": nets})
    assert rows[2]["error"] < -0.2 and abs(rows[0]["error"]) < abs(rows[2]["error"])


def test_routing_fit_never_makes_spread_shorten_routing():
    """Nets generated with routing that shortens as the design spreads (b < 0): the fit takes b = 0 and the
    least-squares a of that one-parameter model."""
    nets = _synthetic_nets(1.2, -0.8)
    a, b = fm.fit_routing(nets)
    assert b == 0.0
    rows = [(st["hops"], 1000.0 / n["fmax_mhz"] - st["logic_ns"]) for n in nets
            for st in [max(n["stages"], key=lambda x: x["logic_ns"] + x["hops"] * a)]]
    assert a == pytest.approx(sum(h * y for h, y in rows) / sum(h * h for h, _ in rows))
    assert 1.2 - 0.8 * 0.7 < a < 1.2 - 0.8 * 0.2


def test_estimate_from_a_calibration_file(tmp_path):
    path = tmp_path / "cal.json"
    entries = [{**n, "commit": "abc1234", "date": "2026-11-30T00:00:00Z"} for n in _synthetic_nets(0.7, 1.6)]
    fm.write_calibration("ecp5", entries, path)
    saved = json.loads(path.read_text())
    assert saved["format"] == fm.CALIBRATION_FORMAT
    assert saved["families"]["ecp5"]["routing_ns_per_hop"] == {"a": pytest.approx(0.7, abs=1e-3),
                                                                "b": pytest.approx(1.6, abs=1e-3)}
    m = _manifest([_layer()])
    est = fm.estimate_fmax(m, ECP5, path)
    crit = est["critical_path"]
    assert est["fmax_mhz"] == pytest.approx(1000 / (crit["logic_ns"] + crit["hops"] * (0.7 + 1.6 * crit["spread"])),
                                            rel=1e-3)
    assert est["source"].startswith("estimate (fmax model calibrated on 4 nextpnr runs on LFE5U-85F")
    assert est["calibration"]["commits"] == ["abc1234"]
    # more banks in front of the operand register: a longer path, a lower estimate
    deeper = fm.estimate_fmax(_manifest([_layer(segments_mem=(2304 * 64, 128))]), ECP5, path)
    assert deeper["critical_path"]["stage"] == "read_q+banks+select"
    assert deeper["fmax_mhz"] < est["fmax_mhz"]
    assert fm.estimate_fmax(m, get_part("xc7z020"), path) is None           # no xc7 calibration


def test_shipped_calibration_is_complete():
    cal = fm.load_calibration("ecp5")
    if not cal:
        pytest.skip("no shipped calibration yet (python -m bench.fmax_model --calibrate)")
    nets = cal["nets"]
    assert len(nets) >= 3 and len({n["net"] for n in nets}) == len(nets)
    for n in nets:
        assert n["fmax_mhz"] > 0 and n["commit"] and re.match(r"\d{4}-\d\d-\d\dT", n["date"])
        assert n["stages"] and all(s["hops"] > 0 and s["logic_ns"] > 0 for s in n["stages"])
    a, b = fm.fit_routing(nets)
    assert cal["routing_ns_per_hop"] == {"a": round(a, 4), "b": round(b, 4)}
    assert a > 0 and b >= 0 and math.isfinite(b)



def test_estimate_outside_the_calibrated_spread_says_it_is_extrapolated(tmp_path, monkeypatch):
    path = tmp_path / "cal.json"
    fm.write_calibration("ecp5", [{**n, "commit": "abc1234", "date": "2026-11-30T00:00:00Z"}
                                  for n in _synthetic_nets(0.7, 1.6)], path)
    spreads = [st["spread"] for n in fm.load_calibration("ecp5", path)["nets"] for st in n["stages"]]
    m = _manifest([_layer()])
    monkeypatch.setattr(fm, "spread", lambda manifest, part: (min(spreads) + max(spreads)) / 2)
    inside = fm.estimate_fmax(m, ECP5, path)
    assert not inside["extrapolated"] and "leave-one-out error up to" in inside["source"]
    monkeypatch.setattr(fm, "spread", lambda manifest, part: max(spreads) + 0.3)
    outside = fm.estimate_fmax(m, ECP5, path)
    assert outside["extrapolated"] and "EXTRAPOLATED" in outside["source"]
    assert "leave-one-out" not in outside["source"]
