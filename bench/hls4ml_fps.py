"""Frames per second: integer golden model vs the hls4ml C simulation (g++) of the same network, same run.

Net: the default preset (32x32 input), w4a4 with power-of-two scales, BatchNorm statistics randomized and
activation scales calibrated on Poisson event counts, exported to QONNX. The hls4ml model (Vitis backend,
io_stream, one top-function call per frame, temporal layers as the PleiadesTemporalConv extension) is compiled
with g++ and driven frame by frame; its integer outputs must equal the golden model's over every frame
(``bit_exact`` in the result). Writes bench/results/hls4ml_fps.json.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench.common import write_result

FRAMES = 40


def _export(tmp: Path, preset: str) -> Path:
    from pleiades_fpga.model import get_preset
    from pleiades_fpga.quant.export import export_model
    from pleiades_fpga.quant.network import build_quant_model, calibrate

    cfg = get_preset(preset)
    torch.manual_seed(0)
    model = build_quant_model(cfg, "w4a4")
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm3d, torch.nn.BatchNorm2d, torch.nn.BatchNorm1d)):
            m.running_mean.uniform_(-0.2, 0.2, generator=g)
            m.running_var.uniform_(0.5, 1.5, generator=g)
            m.weight.data.uniform_(0.5, 1.5, generator=g)
            m.bias.data.uniform_(-0.1, 0.3, generator=g)
    h, w = cfg.input_size
    calibrate(model, torch.poisson(torch.full((4, 2, 12, h, w), 0.4)), batch_size=2, passes=2)
    model.eval()
    return export_model(model, tmp / "model.onnx", frames=12)


def main(preset: str = "default") -> dict:
    from pleiades_fpga.ir.golden import GoldenModel
    from pleiades_fpga.hw.hls4ml_backend import convert

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        onnx_path = _export(tmp, preset)
        golden = GoldenModel.from_qonnx(onnx_path)
        hls = convert(onnx_path, tmp / "hls4ml")
        start = time.perf_counter()
        hls.compile()
        compile_s = time.perf_counter() - start
        h, w, c = hls.design.input_shape
        clip = np.random.default_rng(0).poisson(0.4, (1, c, FRAMES, h, w)).astype(np.float64)
        state = golden.init_state(1)
        golden.step(clip[:, :, 0], state)  # warm-up
        state = golden.init_state(1)
        start = time.perf_counter()
        ref = np.stack([golden.step(clip[:, :, t], state)[0][0] for t in range(FRAMES)])
        golden_fps = FRAMES / (time.perf_counter() - start)
        hls.reset()
        start = time.perf_counter()
        out = np.stack([hls.step(clip[0, :, t]) for t in range(FRAMES)])
        hls_fps = FRAMES / (time.perf_counter() - start)
        hls.reset()
        start = time.perf_counter()
        out_bulk = hls.frames(clip[0].transpose(1, 0, 2, 3))
        hls_bulk_fps = FRAMES / (time.perf_counter() - start)
    result = {
        "preset": preset, "input": [c, h, w], "frames": FRAMES, "quant": "w4a4",
        "bit_exact": bool(np.array_equal(out, ref) and np.array_equal(out_bulk, ref)),
        "max_abs_diff": int(np.abs(out - ref).max()),
        "golden_stream_fps": golden_fps,
        "hls4ml_csim_step_fps": hls_fps,
        "hls4ml_csim_predict_batch_fps": hls_bulk_fps,
        "hls4ml_compile_s": compile_s,
        "hls4ml_layers": [f"{d['name']}:{d['class_name']}" for d in hls.design.layers],
    }
    write_result("hls4ml_fps", result)
    return result


if __name__ == "__main__":
    print(main(*sys.argv[1:]))
