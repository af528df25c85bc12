"""Whole-network verification of an RTL build: cocotb on Verilator/Icarus vs the integer golden model.

``verify_build(build_dir)`` streams clips of event frames through the generated top (each clip after a
reset, once without and once with random back-pressure/idle cycles on both sides), compares every
output integer with the golden model of the build's ``model.onnx`` (bit-exact means 0 mismatches),
measures cycles per frame and latency, reports agreement with the float model when a float checkpoint
is available, and writes ``verification.json`` and ``verification.npz`` into the build directory.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.golden import GoldenModel
from pleiades_fpga.hw.rtl.generate import _ident, rtl_sources
from pleiades_fpga.sim.axis import pack_frame, unpack_pixel
from pleiades_fpga.sim.runner import run_testbench
from pleiades_fpga.sim.tools import simulator_version

TB_MODULE = "pleiades_fpga.sim.tb.tb_network"


def _load_manifest(build_dir: Path) -> dict[str, Any]:
    path = build_dir / "manifest.json"
    if not path.is_file():
        raise PleiadesError(f"{build_dir} is not an RTL build (no manifest.json); run `pleiades-fpga build "
                            f"MODEL.onnx --backend rtl --out {build_dir}` first")
    return json.loads(path.read_text())


def event_clips(n_frames: int, height: int, width: int, bin_us: int, clip_frames: int, seed: int = 0) -> np.ndarray:
    """Test clips (N, 2, clip_frames, H, W) of event counts covering ``n_frames`` frames in total.

    Synthetic gesture clips (test split) at the design's resolution when it is a square the generator
    supports directly or by integer downsampling; otherwise Poisson event counts.
    """
    from pleiades_fpga.data import bin_events, downsample_events, synthetic_clip

    n_clips = max(1, -(-n_frames // clip_frames))
    duration = clip_frames * bin_us
    clips = np.zeros((n_clips, 2, clip_frames, height, width), dtype=np.float32)
    res = next((r for r in (32, 64, 128) if height == width and r % height == 0), None)
    rng = np.random.default_rng(seed)
    for i in range(n_clips):
        if res is not None:
            ev, _ = synthetic_clip(i, "test", seed, res, max(duration, 100_000))
            ev = downsample_events(ev, res // height)
            clips[i] = bin_events(ev, bin_us, height, width, clip_frames)
        else:
            clips[i] = rng.poisson(0.4, size=clips[i].shape)
    return clips


def float_logits(checkpoint: Path, clips: np.ndarray) -> np.ndarray:
    """Causal-mode logits (N, classes, T) of a float (or quant) checkpoint on ``clips``."""
    import torch

    from pleiades_fpga.model import load_model

    model = load_model(checkpoint).eval()
    with torch.no_grad():
        return model(torch.from_numpy(clips).float(), pad="causal").double().numpy()


def _layer_taps(build_dir: Path, manifest: dict[str, Any]) -> dict[str, str]:
    """{layer name: wire prefix} of the layer output streams in the generated top (graph order)."""
    top = (build_dir / "rtl" / f"{manifest['top']}.v").read_text()
    taps = {}
    for layer in manifest["layers"]:
        if layer.get("kind") == "fork":
            continue
        prefix = f"{_ident(layer['name'])}_out"
        if f"{prefix}_tdata" in top:
            taps[layer["name"]] = prefix
    return taps


def _compare_taps(beats: dict[str, list[str]], traced: dict[str, np.ndarray], golden: GoldenModel,
                  arrays: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """Per layer: values compared and mismatches of clip 0's recorded stream vs the golden layer output.

    The recorded beats (beat, channel) go into ``arrays["layer_rtl/<name>"]``."""
    out = {}
    for name, words in beats.items():
        ref = traced[name][0]  # (C, T, H, W)
        c, t, h, w = ref.shape
        spec = golden.ir.tensors[golden.ir.layer(name).output]
        n = min(len(words), t * h * w)
        got = np.stack([unpack_pixel(int(x), c, spec.bits, spec.signed) for x in words[:n]]) if n else np.zeros((0, c))
        want = ref.transpose(1, 2, 3, 0).reshape(-1, c)[:n]
        arrays[f"layer_rtl/{name}"] = got
        bad = np.argwhere(got != want)
        entry = {"values_compared": int(got.size), "beats": len(words), "beats_expected": t * h * w,
                 "mismatches": int(len(bad)) + abs(t * h * w - len(words)) * c}
        if len(bad):
            beat, ch = (int(v) for v in bad[0])
            entry["first"] = {"frame": beat // (h * w), "pixel": beat % (h * w), "channel": ch,
                              "rtl": int(got[beat, ch]), "golden": int(want[beat, ch])}
        out[name] = entry
    return out


def verify_build(build_dir: str | Path, frames: int = 30, sim: str = "verilator", clip_frames: int | None = None,
                 seed: int = 0, pause: float = 0.3, float_checkpoint: str | Path | None = None,
                 clips: np.ndarray | None = None, golden: GoldenModel | None = None,
                 trace_layers: bool = False) -> dict[str, Any]:
    """Verify ``build_dir`` bit-exactly against its golden model; write verification.json/.npz; return the summary.

    ``golden``: the golden model of the IR the build was generated from (default: the build's model.onnx).
    ``trace_layers``: also record every layer's output stream in the first run (no back-pressure) and
    compare it with the golden model's layer outputs (``summary["layers"]``, ``first_mismatching_layer``):
    slower, for finding where a design diverges.
    """
    build_dir = Path(build_dir)
    manifest = _load_manifest(build_dir)
    if golden is None:
        onnx_path = build_dir / "model.onnx"
        if not onnx_path.is_file():
            raise PleiadesError(f"{build_dir} has no model.onnx (the build copies it there); rebuild the design")
        golden = GoldenModel.from_qonnx(onnx_path)
    inp, out = manifest["input"], manifest["output"]
    h, w, cin = inp["height"], inp["width"], inp["channels"]
    bin_us = int(inp.get("bin_us") or golden.ir.metadata.get("bin_us") or 10_000)
    if frames < 1:
        raise PleiadesError(f"--frames must be >= 1, got {frames}")
    if clips is None:
        clip_frames = clip_frames or frames
        clips = event_clips(frames, h, w, bin_us, clip_frames, seed)
    clips = np.asarray(clips, dtype=np.float32)
    if clips.ndim != 5 or clips.shape[1] != cin or clips.shape[3:] != (h, w):
        raise PleiadesError(f"clips must have shape (N, {cin}, T, {h}, {w}), got {clips.shape}")
    expected, traced = golden.run(clips, trace=True)  # (N, classes, T)
    ints = traced["input"] if "input" in traced else clips.astype(np.int64)  # (N, C, T, H, W)
    n_clips, _, t_len = ints.shape[:3]

    frames_words = [[pack_frame(ints[i, :, t], inp["bits"], inp["signed"]) for t in range(t_len)]
                    for i in range(n_clips)]
    reset_wait = int(manifest.get("reset_cycles", 0))
    per_frame = int(manifest["cycles_per_frame"])
    scenarios = []
    taps = _layer_taps(build_dir, manifest) if trace_layers else {}
    for i in range(n_clips):
        for p in (0.0, pause):
            scenarios.append({"frames": frames_words[i], "n_out": t_len, "in_pause": p, "out_pause": p,
                              "seed": seed * 1000 + i * 2 + (p > 0),
                              "timeout_cycles": int((reset_wait + per_frame * (t_len + 4)) * (3 if p else 1.5)) + 10_000})
    if taps:
        scenarios[0]["taps"] = taps  # clip 0 without back-pressure
    t0 = time.monotonic()
    run = run_testbench("pleiades_top", rtl_sources(build_dir), TB_MODULE, sim=sim, vectors={"scenarios": scenarios},
                        seed=seed)
    wall = time.monotonic() - t0
    classes, obits = out["channels"], out["bits"]
    rtl = {0.0: np.zeros_like(expected), pause: np.zeros_like(expected)}
    cycles_per_frame, latencies, total_cycles = [], [], 0.0
    for k, res in enumerate(run.results["runs"]):
        i, p = k // 2, scenarios[k]["in_pause"]
        if len(res["out"]) != t_len or any(len(fr) != 1 for fr in res["out"]):
            raise PleiadesError(f"clip {i}: expected {t_len} output frames of one beat, got "
                                f"{[len(fr) for fr in res['out']]}")
        rtl[p][i] = np.stack([unpack_pixel(fr[0], classes, obits, True) for fr in res["out"]], axis=1)
        total_cycles += res["cycles"]
        if p == 0.0:
            ends = np.asarray(res["out_cycle"])
            starts = np.asarray(res["in_first_cycle"])
            if len(ends) != t_len or len(starts) != t_len:
                raise PleiadesError(f"clip {i}: monitor saw {len(starts)} input frames and {len(ends)} outputs, "
                                    f"expected {t_len}")
            if len(ends) > 2:
                cycles_per_frame += np.diff(ends)[1:].tolist()
            latencies += (ends - starts).tolist()
    mismatch_np = int(np.sum(rtl[0.0] != expected))
    mismatch_bp = int(np.sum(rtl[pause] != expected))
    measured = float(np.median(cycles_per_frame)) if cycles_per_frame else float("nan")
    summary: dict[str, Any] = {
        "simulator": sim, "simulator_version": simulator_version(sim),
        "frames": int(n_clips * t_len), "clips": int(n_clips), "frames_per_clip": int(t_len),
        "runs": ["no back-pressure", f"random back-pressure and idle cycles (p={pause}) on input and output"],
        "values_compared": int(2 * expected.size), "mismatches": mismatch_np + mismatch_bp,
        "mismatches_no_backpressure": mismatch_np, "mismatches_backpressure": mismatch_bp,
        "bit_exact": mismatch_np + mismatch_bp == 0,
        "nonzero_outputs": int(np.count_nonzero(expected)),
        "cycles_per_frame_measured": measured,
        "cycles_per_frame_analytic": per_frame,
        "cycles_per_frame_ratio": measured / per_frame if per_frame else None,
        "ideal_cycles_per_frame": manifest.get("ideal_cycles_per_frame"),
        "efficiency": (manifest.get("ideal_cycles_per_frame") or 0) / measured if measured == measured else None,
        "latency_cycles": float(np.median(latencies)) if latencies else None,
        "latency_cycles_max": float(np.max(latencies)) if latencies else None,
        "sim_cycles": total_cycles, "sim_seconds": run.run_seconds, "build_seconds": run.build_seconds,
        "sim_cycles_per_second": total_cycles / run.run_seconds if run.run_seconds else None,
        "wall_seconds": wall, "temporal_wraps": {},
        "projection_saturations": dict(golden.saturation),
    }
    if taps:
        layer_arrays: dict[str, np.ndarray] = {}
        summary["layers"] = _compare_taps(run.results["runs"][0]["taps"], traced, golden, layer_arrays)
        bad = [name for name, r in summary["layers"].items() if r["mismatches"]]
        summary["first_mismatching_layer"] = bad[0] if bad else None
    elif summary["mismatches"]:
        summary["hint"] = "re-run with --trace-layers to find the first layer whose output differs"
    for layer in manifest["layers"]:
        if layer.get("kind") == "temporal_conv":
            summary["temporal_wraps"][layer["name"]] = (t_len - 1) / max(1, layer["kernel"] - 1)
    golden_f = golden.dequantize(expected)
    arrays = {"input_frames": ints, "input_counts": clips, "rtl_outputs": rtl[0.0], "rtl_outputs_backpressure": rtl[pause],
              "golden_outputs": expected, "golden_logits": golden_f}
    if taps:
        arrays.update(layer_arrays)
    ckpt = Path(float_checkpoint) if float_checkpoint else build_dir / "float.pt"
    if ckpt.is_file():
        fl = float_logits(ckpt, clips)
        arrays["float_logits"] = fl
        err = np.abs(fl - golden_f)
        summary["float_model"] = {
            "checkpoint": str(ckpt),
            "argmax_agreement": float(np.mean(fl.argmax(1) == golden_f.argmax(1))),
            "max_abs_logit_error": float(err.max()), "mean_abs_logit_error": float(err.mean()),
        }
    else:
        summary["float_model"] = None
    (build_dir / "verification.json").write_text(json.dumps(summary, indent=2) + "\n")
    np.savez_compressed(build_dir / "verification.npz", **arrays)
    return summary


__all__ = ["event_clips", "float_logits", "verify_build"]
