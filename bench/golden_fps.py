"""Frames per second of the integer golden model (pleiades_fpga.ir.golden) read from exported QONNX files.

Two nets, both w4a4 with power-of-two scales, activation scales calibrated on Poisson event counts:
- "default": the default preset (32x32 input);
- "dvs128_size": the published DVS128 network size (128x128 input, channels up to 256) with BatchNorm
  instead of GroupNorm (GroupNorm has no integer export yet), randomly initialised.
Measured: streaming (``step`` one frame at a time, batch 1), whole-clip mode (``run``, batch 1 and 8) and
chunked clip mode (``run(chunk=8)``, batch 8).
Writes bench/results/golden_fps.json.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench.common import write_result


def _net(preset: str, **overrides):
    from pleiades_fpga.model import get_preset
    from pleiades_fpga.quant import build_quant_model, calibrate

    cfg = get_preset(preset, **overrides)
    torch.manual_seed(0)
    model = build_quant_model(cfg, "w4a4")
    h, w = cfg.input_size
    clips = torch.poisson(torch.full((4, 2, 12, h, w), 0.3))
    return calibrate(model, clips, batch_size=2, passes=3), cfg


def _measure(golden, cfg, stream_frames: int, clip_frames: int) -> dict:
    h, w = cfg.input_size
    rng = np.random.default_rng(0)
    clip = rng.poisson(0.3, (1, 2, clip_frames, h, w)).astype(np.float64)
    golden.run(clip[:, :, :2])  # warm-up
    start = time.perf_counter()
    golden.run(clip)
    clip_fps = clip_frames / (time.perf_counter() - start)
    batch8 = np.repeat(clip, 8, axis=0)
    start = time.perf_counter()
    golden.run(batch8)
    clip8_fps = 8 * clip_frames / (time.perf_counter() - start)
    start = time.perf_counter()
    golden.run(batch8, chunk=8)
    clip8_chunk_fps = 8 * clip_frames / (time.perf_counter() - start)
    state = golden.init_state(1)
    start = time.perf_counter()
    for t in range(stream_frames):
        golden.step(clip[:, :, t % clip_frames], state)
    stream_fps = stream_frames / (time.perf_counter() - start)
    return {"stream_fps_batch1": stream_fps, "clip_fps_batch1": clip_fps, "clip_fps_batch8": clip8_fps,
            "clip_fps_batch8_chunk8": clip8_chunk_fps, "dtype": np.dtype(golden.dtype).name,
            "stream_frames": stream_frames, "clip_frames": clip_frames}


def main() -> dict:
    from pleiades_fpga.ir.golden import GoldenModel
    from pleiades_fpga.quant import export_model

    torch.set_num_threads(1)
    results = {"load_average_before": os.getloadavg()}
    nets = {
        "default": (("default",), {}, 64, 64),
        "dvs128_size": (("dvs128",), {"temporal_norm": "batch", "pad": "causal"}, 16, 32),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, (args, overrides, stream_frames, clip_frames) in nets.items():
            model, cfg = _net(*args, **overrides)
            t0 = time.time()
            path = export_model(model, Path(tmp) / f"{name}.onnx", frames=4)
            export_s = time.time() - t0
            golden = GoldenModel.from_qonnx(path)
            r = _measure(golden, cfg, stream_frames, clip_frames)
            r.update({"input_size": list(cfg.input_size), "export_seconds": export_s,
                      "layers": len(golden.ir.layers), "max_acc_bits": max(l.acc_bits for l in golden.ir.layers)})
            results[name] = r
            print(name, {k: round(v, 2) if isinstance(v, float) else v for k, v in r.items()}, flush=True)
    results["load_average_after"] = os.getloadavg()
    results["note"] = "2 shared CPU cores, numpy float64 BLAS on exact integers, 1 torch thread"
    write_result("golden_fps", results)
    return results


if __name__ == "__main__":
    main()
