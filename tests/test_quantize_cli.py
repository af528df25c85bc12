"""``pleiades-fpga quantize``: post-training quantization of a float checkpoint to QONNX (tiny GroupNorm model: golden
== qonnx, --bin-ms re-sampling, --config per-layer widths, refusals before calibration), and the published DVS128
checkpoint (skipped with the reason when ../shared is absent)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from pleiades_fpga.cli import main
from pleiades_fpga.data.datasets import load_clips
from pleiades_fpga.ir.golden import GoldenModel
from pleiades_fpga.ir.qonnx_float64 import execute_float64
from pleiades_fpga.model import build_model, get_preset, save_checkpoint
from pleiades_fpga.quant import build_quant_model
from small_qonnx import qonnx_outputs

CFG = get_preset("tiny", input_size=(32, 32)).replace(temporal_norm="group", norm_groups=2)
FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "dvs128_ckpt.pt"


@pytest.fixture(scope="module")
def float_ckpt(tmp_path_factory) -> Path:
    torch.manual_seed(1)
    model = build_model(CFG)
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.GroupNorm):
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.uniform_(-0.2, 0.4, generator=g)
    return save_checkpoint(model, tmp_path_factory.mktemp("q") / "float.pt")


def _quantize(argv: list[str], capsys) -> tuple[int, str, str]:
    rc = main(["quantize", *argv, "--no-progress", "--quiet"])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_quantize_groupnorm_model_golden_equals_qonnx(float_ckpt, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    rc, stdout, err = _quantize([str(float_ckpt), "--quant", "w8a8", "--calib", "synthetic", "--calib-clips", "2",
                                 "--out", str(out)], capsys)
    assert rc == 0, err
    assert "on 2 synthetic clips" in stdout and f"wrote {out}" in stdout
    golden = GoldenModel.from_qonnx(out)
    assert [layer.name for layer in golden.ir.layers if layer.kind == "groupnorm"] == [
        "blocks.0.temporal_norm", "blocks.1.temporal_norm", "blocks.1.pointwise_norm"]
    clips = load_clips("synthetic", "test", 32, 2, 1, progress=False).frames(CFG.bin_us)[:, :, :16].float().numpy()
    logits = golden.forward(clips)
    assert int((logits != execute_float64(out, clips)).sum()) == 0
    assert len(np.unique(logits)) > 10


def test_quantize_bin_ms_resamples_the_kernels(float_ckpt, tmp_path, capsys):
    out = tmp_path / "m5.onnx"
    rc, stdout, err = _quantize([str(float_ckpt), "--quant", "w8a8", "--calib", "synthetic", "--calib-clips", "1",
                                 "--bin-ms", "5", "--out", str(out)], capsys)
    assert rc == 0, err
    assert "5 ms bins, K=10" in stdout  # 10 ms, K = 5 -> 5 ms, K = 10
    ir = GoldenModel.from_qonnx(out).ir
    assert ir.metadata["pleiades.net_config"]["bin_us"] == 5000
    temporal = [layer for layer in ir.layers if layer.kind == "conv" and layer.params.role == "temporal"]
    assert len(temporal) == 2 and all(layer.params.kernel[0] == 10 for layer in temporal)
    rc, _, err = _quantize([str(float_ckpt), "--quant", "w8a8", "--calib", "synthetic", "--bin-ms", "3",
                            "--out", str(tmp_path / "m3.onnx")], capsys)
    assert rc == 2 and "whole number of new bins" in err


def test_quantize_per_layer_widths_from_config(float_ckpt, tmp_path, capsys):
    cfg = tmp_path / "widths.json"
    cfg.write_text(json.dumps({"blocks.0.*": {"act_bits": 4}, "head.fc2": {"weight_bits": 6}}))
    out = tmp_path / "m.onnx"
    rc, _, err = _quantize([str(float_ckpt), "--quant", "w8a8", "--calib", "synthetic", "--calib-clips", "1",
                            "--config", str(cfg), "--out", str(out)], capsys)
    assert rc == 0, err
    ir = GoldenModel.from_qonnx(out).ir
    assert ir.layer("blocks.0.temporal_norm").out_bits == 4 and ir.layer("blocks.0.temporal_norm").in_bits == 4
    assert ir.layer("blocks.1.temporal_norm").out_bits == 8 and ir.layer("head.fc2").params.weight_bits == 6
    cfg.write_text(json.dumps({"layers": {"blocks.9.*": {"act_bits": 4}}}))
    rc, _, err = _quantize([str(float_ckpt), "--quant", "w8a8", "--calib", "synthetic", "--config", str(cfg),
                            "--out", str(tmp_path / "x.onnx")], capsys)
    assert rc == 2 and "'blocks.9.*' match(es) no layer" in err and not (tmp_path / "x.onnx").exists()


@pytest.mark.parametrize("config, block_bits, head_bits", [("published_w8a8.json", 12, 8),
                                                           ("published_w8a16.json", 16, 16)])
def test_quantize_shipped_published_config_golden_equals_qonnx(float_ckpt, tmp_path, capsys, config, block_bits,
                                                              head_bits):
    """The shipped configs of the published network (published_w8a8: 12-bit block activations, GroupNorm inputs and
    outputs included, head 8 bits; published_w8a16: every activation 16 bits from the largest calibration clip,
    GroupNorm P = 12; both dyadic weight scales, GPTQ rounding): they pass the exportability check, the IR carries
    the widths, and the golden model equals qonnx's exact (float64) execution (with 16-bit activations only once
    qonnx's float32 Quant is not used for the wide biases)."""
    import pleiades_fpga.quant

    cfg = Path(pleiades_fpga.quant.__file__).parent / "configs" / config
    out = tmp_path / "m.onnx"
    rc, _, err = _quantize([str(float_ckpt), "--quant", "w8a8", "--calib", "synthetic", "--calib-clips", "1",
                            "--config", str(cfg), "--out", str(out)], capsys)
    assert rc == 0, err
    golden = GoldenModel.from_qonnx(out)
    norms = [layer for layer in golden.ir.layers if layer.kind == "groupnorm"]
    assert len(norms) == 3 and all((n.in_bits, n.out_bits) == (block_bits, block_bits) for n in norms)
    assert golden.ir.layer("head.mean").out_bits == head_bits
    clips = load_clips("synthetic", "test", 32, 2, 1, progress=False).frames(CFG.bin_us)[:, :, :16].float().numpy()
    logits = golden.forward(clips)
    assert int((logits != execute_float64(out, clips)).sum()) == 0
    assert len(np.unique(logits)) > 10


def test_quantize_calibrates_on_a_dvs128_directory(float_ckpt, tmp_path, capsys):
    """--calib DIR: a DVS128 Gesture copy (tonic layout, events x, y, p, t[ms]) read by the project's loader."""
    rng = np.random.default_rng(0)
    user = tmp_path / "dvs" / "DVSGesture" / "ibmGestureTrain" / "user01_natural"
    user.mkdir(parents=True)
    for label in (3, 7):
        n = 20_000
        ev = np.stack([rng.integers(0, 128, n), rng.integers(0, 128, n), rng.integers(0, 2, n),
                       np.sort(rng.integers(0, 1_400_000, n)) / 1000.0], axis=1).astype(np.float64)  # t in ms, whole us
        np.save(user / f"{label}.npy", ev)
    out = tmp_path / "m.onnx"
    rc, stdout, err = _quantize([str(float_ckpt), "--quant", "w8a8", "--calib", str(tmp_path / "dvs"), "--out",
                                 str(out)], capsys)
    assert rc == 0, err
    assert f"on 2 {tmp_path / 'dvs'} clips" in stdout and out.is_file()


def test_quantize_refuses_unexportable_model_before_calibration(tmp_path, capsys):
    """P = 24 at 128x128: the GroupNorm accumulators cannot stay within 62 bits; refused in seconds, no clips made."""
    ckpt = save_checkpoint(build_model(CFG.replace(input_size=(128, 128))), tmp_path / "big.pt")
    spec = tmp_path / "p24.json"
    spec.write_text(json.dumps({"weight_bits": 8, "act_bits": 8, "groupnorm_p": 24}))
    t0 = time.perf_counter()
    rc, _, err = _quantize([str(ckpt), "--quant", str(spec), "--calib", "synthetic", "--out",
                            str(tmp_path / "m.onnx")], capsys)
    assert rc == 2 and time.perf_counter() - t0 < 30
    assert "GroupNorm layer blocks.0.temporal_norm: accumulator needs" in err and "lower P" in err
    assert "generating" not in err and "calibrating" not in err and not (tmp_path / "m.onnx").exists()


def test_quantize_bad_inputs(float_ckpt, tmp_path, capsys):
    q = save_checkpoint(build_quant_model(CFG, "w8a8"), tmp_path / "q.pt")
    rc, _, err = _quantize([str(q), "--quant", "w8a8", "--calib", "synthetic", "--out", str(tmp_path / "a.onnx")],
                           capsys)
    assert rc == 2 and "already quantized" in err and "export" in err
    rc, _, err = _quantize([str(float_ckpt), "--quant", "w8a8", "--calib", str(tmp_path / "nope"), "--out",
                            str(tmp_path / "b.onnx")], capsys)
    assert rc == 2 and "neither 'synthetic' nor a directory" in err


def test_quantize_published_checkpoint(tmp_path, capsys):
    """import-checkpoint -> quantize w8a8 at 128x128 (one calibration clip: this checks the route, the time bar is
    bench published_fidelity) -> golden == qonnx on a synthetic clip."""
    if not FIXTURE.is_file():
        pytest.skip(f"published DVS128 checkpoint not found at {FIXTURE} (the ../shared fixtures of the project "
                    "workspace); the tiny-model tests above cover quantize")
    ckpt = tmp_path / "dvs128.pt"
    assert main(["import-checkpoint", str(FIXTURE), "--out", str(ckpt)]) == 0
    out = tmp_path / "dvs128_w8a8.onnx"
    rc, _, err = _quantize([str(ckpt), "--quant", "w8a8", "--calib", "synthetic", "--calib-clips", "1",
                            "--frames", "8", "--out", str(out)], capsys)
    assert rc == 0, err
    golden = GoldenModel.from_qonnx(out)
    assert sum(layer.kind == "groupnorm" for layer in golden.ir.layers) == 8
    clip = load_clips("synthetic", "test", 128, 1, 3, progress=False).frames(10_000)[:, :, 40:48].float().numpy()
    assert int((golden.forward(clip) != execute_float64(out, clip)).sum()) == 0


def test_act_percentile_sets_the_calibrated_scales():
    """quant config act_percentile: the activation scales cover that percentile (100 = the maximum) of the
    calibration activations; out of range is refused."""
    from pleiades_fpga.errors import PleiadesError
    from pleiades_fpga.quant.config import resolve_spec
    from pleiades_fpga.quant.ptq import calibrate_ptq, prepare_ptq

    torch.manual_seed(0)  # the weights decide the activations; unseeded, the scales below vary run to run
    model = build_model(CFG.replace(input_size=(8, 8)))
    frames = torch.poisson(torch.full((3, 2, 12, 8, 8), 0.5), generator=torch.Generator().manual_seed(0))

    def temporal_act_scale(spec: dict) -> float:
        q = calibrate_ptq(prepare_ptq(model, resolve_spec(spec)), frames, progress=False)
        return float(q.blocks[0].temporal_act.act_quant.scale().detach())

    base = {"weight_bits": 8, "act_bits": 8}
    assert temporal_act_scale({**base, "act_percentile": 100}) > temporal_act_scale({**base, "act_percentile": 90})
    # the layer's own percentile wins over the default; every layer upstream keeps 90, so only the override differs
    overridden = temporal_act_scale({**base, "act_percentile": 90,
                                     "layers": {"blocks.0.temporal_act": {"act_percentile": 100}}})
    assert overridden > temporal_act_scale({**base, "act_percentile": 90})
    with pytest.raises(PleiadesError, match="act_percentile must be a number from 90 to 100"):
        resolve_spec({"weight_bits": 8, "act_bits": 8, "act_percentile": 101})


def test_act_calibration_max_covers_every_calibration_value():
    """quant config act_calibration = "max" (act_percentile 100): every activation scale comes from the largest
    value any call of its quantizer saw on any calibration clip (recorded here at the scale modules' inputs), also
    for the DWS add's quantizer shared by both add inputs; "mean" (the default) is the mean of every call's maximum,
    the shared quantizer's too (both calls on every clip: it used to average only the first half of the clips'
    calls), and on clips of different event rates stays below; an unknown value is refused naming the choices."""
    from pleiades_fpga.errors import PleiadesError
    from pleiades_fpga.quant.config import resolve_spec
    from pleiades_fpga.quant.ptq import calibrate_ptq, prepare_ptq, statistics_scalers

    torch.manual_seed(0)
    model = build_model(CFG.replace(input_size=(8, 8)))
    rates = torch.tensor([0.2, 1.5, 0.6]).view(3, 1, 1, 1, 1).expand(3, 2, 12, 8, 8)
    frames = torch.poisson(rates, generator=torch.Generator().manual_seed(0))

    def calibrated(how: str) -> dict[str, tuple[float, list[float]]]:
        """{scale module: (calibrated range statistic, each call's largest |input| while calibrating)}"""
        q = prepare_ptq(model, resolve_spec({"weight_bits": 8, "act_bits": 8, "act_percentile": 100,
                                             "act_calibration": how}))
        scalers = statistics_scalers(q)
        seen: dict[str, list[float]] = {}
        for name, m in scalers.items():
            m.register_forward_pre_hook(lambda m, args, name=name: seen.setdefault(name, []).append(
                float(args[0].detach().abs().max())) if m.training else None)
        calibrate_ptq(q, frames, progress=False)
        return {n: (2.0 ** float(m.value.detach()), seen[n]) for n, m in scalers.items()}

    largest = calibrated("max")
    assert len(largest) >= 8 and any(len(calls) == 2 * len(frames) for _, calls in largest.values())  # the shared add
    for name, (stat, calls) in largest.items():
        assert stat == pytest.approx(max(calls), rel=1e-6), name
    mean = calibrated("mean")
    for name, (stat, calls) in mean.items():
        assert len(calls) in (len(frames), 2 * len(frames)), name
        assert stat == pytest.approx(sum(calls) / len(calls), rel=1e-6), name
    assert sum(stat < 0.9 * max(calls) for stat, calls in mean.values()) >= 3
    with pytest.raises(PleiadesError, match=r"act_calibration must be one of \('mean', 'max'\)"):
        resolve_spec({"weight_bits": 8, "act_bits": 8, "act_calibration": "largest"})
