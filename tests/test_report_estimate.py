"""Analytic estimator, real-time check, report.json / report.html from a hand-written manifest (no tools)."""
import base64
import json
import re
import shutil
from pathlib import Path

import pytest

from pleiades_fpga.artifacts import design_hash
from pleiades_fpga.errors import DoesNotFitError
from pleiades_fpga.report.estimate import estimate_manifest, memory_breakdown
from pleiades_fpga.report.flow import run_report
from pleiades_fpga.toolflow.parts import get_part
from pleiades_fpga.report.realtime import realtime_check
from pleiades_fpga.report.report import build_report

DATA = Path(__file__).parent / "data" / "mac_stream"


def _layer(name, mults, pe, cycles, mems=(), kind="temporal_conv", w_bits=8, in_bits=8, acc=24):
    return {"name": name, "kind": kind, "module": name, "in_shape": [8, 32, 32], "out_shape": [8, 32, 32],
            "in_bits": in_bits, "out_bits": 8, "weight_bits": w_bits, "acc_bits": acc, "kernel": 10, "stride": 1,
            "groups": 8, "pe": pe, "simd": 1, "macs_per_frame": mults * cycles, "multipliers": mults,
            "cycles_per_frame": cycles, "memories": list(mems)}


def _manifest(layers, bin_us=10000):
    return {"format": "pleiades-fpga-manifest/1", "name": "t", "top": "t", "rtl_files": [], "clock_mhz_target": 50.0,
            "input": {"channels": 2, "height": 32, "width": 32, "bits": 8, "signed": False, "bin_us": bin_us},
            "output": {"channels": 10, "bits": 8, "signed": True, "scale": 1.0}, "layers": layers,
            "cycles_per_frame": max(l["cycles_per_frame"] for l in layers),
            "latency_cycles": sum(l["cycles_per_frame"] for l in layers)}


def test_dsp_and_bram_estimates_hand_computed():
    cb = {"name": "cb", "kind": "circular_buffer", "depth": 9216, "width": 64, "bits": 9216 * 64}
    lb = {"name": "lb", "kind": "line_buffer", "depth": 96, "width": 8, "bits": 768}      # LUT RAM
    m = _manifest([_layer("a", 8, 8, 8192, [cb]), _layer("b", 16, 4, 4096, [lb])])
    est = estimate_manifest(m, get_part("LFE5U-85F"))
    # ECP5: 8x9 products -> 1 MULT18X18D each; requant 25x17 per PE lane -> 2 each
    assert [l["dsp"] for l in est["layers"]] == [8 + 8 * 2, 16 + 4 * 2]
    assert est["total"]["bram_bits"] == 36 * 18432
    est7 = estimate_manifest(m, get_part("xc7z020"))
    assert est7["total"]["dsp"] == (8 + 8) + (16 + 4)          # 25x18 DSP48E1: one block each
    mb = memory_breakdown(m, get_part("LFE5U-85F"))
    assert mb["circular_buffer"] == {"bits": 589824, "bram_bits": 663552, "uram_bits": 0, "lutram_bits": 0}
    assert mb["line_buffer"] == {"bits": 768, "bram_bits": 0, "uram_bits": 0, "lutram_bits": 768}


def test_narrow_multipliers_go_to_luts_on_7series():
    m = _manifest([_layer("a", 10, 1, 100, w_bits=2, in_bits=2, acc=8)])
    layer = estimate_manifest(m, get_part("xc7z020"))["layers"][0]
    assert layer["dsp"] == 1                     # only the requant lane; 2x3-bit products stay in LUTs
    wide = estimate_manifest(_manifest([_layer("a", 10, 1, 100, w_bits=8, in_bits=8, acc=8)]), get_part("xc7z020"))
    assert wide["layers"][0]["dsp"] == 11


def test_realtime_check_closed_form_and_advice():
    layers = [_layer("fast", 1, 1, 10_000), _layer("slow", 1, 2, 600_000)]
    ok = realtime_check(layers, 600_000, 100.0, 10_000)
    assert ok["frames_per_second"] == pytest.approx(100e6 / 600_000)
    assert ok["required_fps"] == pytest.approx(100.0) and ok["realtime"] and ok["advice"] == []
    bad = realtime_check(layers, 600_000, 50.0, 10_000)
    assert not bad["realtime"] and bad["slowest_layer"] == "slow"
    assert bad["frames_per_second"] == pytest.approx(50e6 / 600_000)
    assert "'slow'" in bad["advice"][0] and "1.20x" in bad["advice"][0]      # 100 / 83.33 = 1.2
    assert any("resolution" in a for a in bad["advice"])
    assert "NOT REAL-TIME" in bad["verdict"]


def test_report_fields_and_html(tmp_path):
    build = tmp_path / "mac_stream"
    shutil.copytree(DATA, build)
    # test input: a verification summary stamped with this build's design hash (not evidence of anything)
    (build / "verification.json").write_text(json.dumps({"bit_exact": True, "frames": 3, "mismatches": 0,
                                                         "stream_checks": {"ok": True, "violations": 0},
                                                         "design_hash": design_hash(build)}))
    (build / "metrics.json").write_text(json.dumps({"accuracy_vs_latency": [
        {"latency_ms": 100, "accuracy": 0.8}, {"latency_ms": 450, "accuracy": 0.95}]}))
    rep = run_report(build, "ulx3s-85f", progress=False)
    saved = json.loads((build / "report.json").read_text())
    for key in ("target", "resources", "fmax_mhz", "cycles_per_frame", "latency_cycles", "frames_per_second",
                "realtime", "layers", "verification"):
        assert key in saved
    assert set(saved["resources"]) == {"lut", "ff", "dsp", "bram_bits", "uram_bits"}
    assert saved["target"] == "LFE5U-85F" and saved["verification"]["status"] == "current"
    assert saved["verified"] is True and saved["design_hash"] == design_hash(build)
    assert saved["cycles_per_frame"] == 256
    # frame rate at the fmax model's estimate for ECP5 (labelled), not at the manifest's 25 MHz target
    assert saved["fmax_kind"] == "estimate" and saved["fmax_source"].startswith("estimate (fmax model")
    assert saved["frames_per_second"] == pytest.approx(saved["fmax_mhz"] * 1e6 / 256)
    assert saved["realtime"] is True and rep["fits"] is True
    assert [l["name"] for l in saved["layers"]] == ["tconv", "frame_sum"]
    assert saved["resources"]["dsp"] == 16                                 # 2*C*K constant-weight products
    text = (build / "report.html").read_text()
    pngs = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text)
    assert len(pngs) == 5                                   # resources, cycles, memory, accuracy, temporal memory
    assert all(base64.b64decode(p)[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert "REAL-TIME" in text


def test_too_large_design_does_not_fit(tmp_path):
    build = tmp_path / "big"
    shutil.copytree(DATA, build)
    manifest = json.loads((build / "manifest.json").read_text())
    manifest["layers"][0]["multipliers"] = 400                             # 400 DSP > 156
    (build / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DoesNotFitError, match=r"dsp: 400 used > 156 available"):
        run_report(build, "LFE5U-85F", progress=False, html=False)
    saved = json.loads((build / "report.json").read_text())
    assert saved["fits"] is False and saved["realtime"] is False and "dsp" in saved["does_not_fit"]


def test_report_without_synthesis_uses_estimate():
    m = json.loads((DATA / "manifest.json").read_text())
    rep = build_report(m, get_part("xc7z020"))
    assert rep["resources_source"] == "estimate" and rep["estimate_over_synth"] is None
    assert rep["fmax_source"].startswith("target clock")


def test_cli_report_and_does_not_fit_message(tmp_path, capsys):
    from pleiades_fpga.cli import main

    build = tmp_path / "m"
    shutil.copytree(DATA, build)
    assert main(["report", str(build), "--target", "xc7z020", "--no-html"]) == 0
    out = capsys.readouterr().out
    assert "REAL-TIME" in out and "(estimate)" in out
    manifest = json.loads((build / "manifest.json").read_text())
    manifest["layers"][0]["memories"][0].update(depth=1_000_000, width=64)       # 64 Mbit circular buffer
    (build / "manifest.json").write_text(json.dumps(manifest))
    assert main(["report", str(build), "--target", "LFE5U-25F", "--no-html"]) == 2
    err = capsys.readouterr().err
    assert "does not fit LFE5U-25F" in err and "bram_bits" in err
    assert "recurrent temporal mode" in err and "fold more" not in err      # memory, not logic, overflows


def test_manifest_without_latency_or_bin_size():
    m = json.loads((DATA / "manifest.json").read_text())
    del m["latency_cycles"]
    m["input"]["bin_us"] = None
    rep = build_report(m, get_part("LFE5U-85F"))
    assert rep["required_fps"] == pytest.approx(100.0)          # 10 ms bins by default
    assert rep["latency_cycles"] == 256 and rep["latency_source"].startswith("estimate")
