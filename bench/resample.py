"""Bar: re-sampling a PLEIADES model trained at 10 ms to 5 ms and 20 ms bins without fine-tuning loses <= 2
points; compared with a free-kernel (unstructured Conv(1+2)D) baseline of the same architecture, whose taps are
linearly interpolated (``pleiades_fpga.model.resample_model``: bin averages for the first layer, whose input is
per-bin counts; bin integrals for deeper layers, whose inputs are rate-like). Writes bench/results/resample.json and resample.png (checkpoints under build/bench)."""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from bench.common import RESULTS, write_result

ROOT = Path(__file__).resolve().parent.parent
BINS_US = (5_000, 10_000, 20_000)
VARIANTS = ("resampled",)


def _train_or_load(kind: str, threads: int):
    """The model of ``kind`` trained with the default recipe: reuses build/bench/train_default (pleiades) or
    build/bench/resample_<kind> when its checkpoint was trained with the same settings, else trains it."""
    from pleiades_fpga.model import load_model, read_checkpoint
    from pleiades_fpga.train import TrainConfig, train_model

    out = ROOT / "build" / "bench" / f"resample_{kind}"
    cfg = TrainConfig(temporal_kind=kind, threads=threads, out=str(out))
    ignore = ("out", "threads", "progress", "temporal_kind")
    same = {k: v for k, v in cfg.to_dict().items() if k not in ignore}
    candidates = [out / "checkpoint.pt"]
    if kind == "pleiades":
        candidates.insert(0, ROOT / "build" / "bench" / "train_default" / "checkpoint.pt")
    for ckpt in candidates:
        if ckpt.is_file():
            payload = read_checkpoint(ckpt)
            tc = dict(payload["meta"].get("train_config", {}))
            if payload["config"]["temporal_kind"] == kind and all(tc.get(k) == v for k, v in same.items()):
                return load_model(ckpt), {"checkpoint": str(ckpt), "reused": True}
    start = time.time()
    model, _ = train_model(cfg)
    return model, {"checkpoint": str(out / "checkpoint.pt"), "reused": False, "train_seconds": time.time() - start}


def main() -> dict:
    import torch

    from pleiades_fpga.data import load_clips
    from pleiades_fpga.model import count_parameters
    from pleiades_fpga.train import TrainConfig, evaluate_model, plot_latency

    threads = 1 if os.getloadavg()[0] > 1.5 else 2
    torch.set_num_threads(threads)
    d = TrainConfig()
    test = load_clips(d.dataset, "test", d.resolution, d.n_test, d.seed, progress=True)
    result: dict = {"bins_us": list(BINS_US), "n_test": len(test), "threads": threads, "models": {}}
    curves = {}
    for kind in ("pleiades", "free"):
        model, info = _train_or_load(kind, threads)
        torch.set_num_threads(threads)
        rows = {}
        for variant in VARIANTS:
            rows[variant] = {}
            for bin_us in BINS_US:
                m = evaluate_model(model, test, bin_us, progress=True)  # re-samples the kernels
                rows[variant][str(bin_us)] = {k: m[k] for k in ("kernel_size", "filtered_accuracy",
                                                                "mean_step_accuracy", "steady_step_accuracy",
                                                                "latency_table")}
                curves[f"{kind} {variant} {bin_us / 1000:g} ms"] = (np.asarray(m["per_step_accuracy"]), bin_us)
            base = rows[variant][str(10_000)]
            for bin_us in (5_000, 20_000):
                r = rows[variant][str(bin_us)]
                r["filtered_drop_points"] = 100 * (base["filtered_accuracy"] - r["filtered_accuracy"])
                r["mean_step_drop_points"] = 100 * (base["mean_step_accuracy"] - r["mean_step_accuracy"])
        result["models"][kind] = {"parameters": count_parameters(model), **info, "by_bin": rows}
    result["bar"] = {"max_drop_points": 2.0}
    for variant in VARIANTS:
        p = result["models"]["pleiades"]["by_bin"][variant]
        result["bar"][f"pleiades_{variant}_filtered_ok"] = all(
            p[str(b)]["filtered_drop_points"] <= 2.0 for b in (5_000, 20_000))
        result["bar"][f"pleiades_{variant}_mean_step_ok"] = all(
            p[str(b)]["mean_step_drop_points"] <= 2.0 for b in (5_000, 20_000))
    plot_latency(curves, RESULTS / "resample.png", title="re-sampled kernels, no fine-tuning")
    write_result("resample", result)
    return result


if __name__ == "__main__":
    main()
