"""Accuracy vs latency of float, w8a8, w4a4 and a mixed config on the synthetic default (32x32, 10 ms bins).

The float network is trained first (or taken from bench/train_default's checkpoint when it exists); each
quantized network is fine-tuned from it with QAT (``train --quant SPEC --init float``) and then evaluated
in its deployed form: BatchNorm folded into the convs (what ``pleiades-fpga export`` writes). Reported
per model: majority-filtered clip accuracy, mean per-step accuracy, and the accuracy-vs-latency table.
Bars (issue 3): w8a8 within 0.5 points and w4a4 within 2 points of float (filtered accuracy). Since QAT
fine-tuning is extra training, a float control fine-tuned with the same schedule ("float_finetuned") is
reported too, and the bars are checked against the better of the two float models.
Checkpoints that already exist under build/bench/quant_accuracy/ are reused (delete the directory to retrain).
Writes bench/results/quant_accuracy.json; checkpoints under build/bench/quant_accuracy/.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from bench.common import write_result

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "bench" / "quant_accuracy"
FLOAT_CKPT = ROOT / "build" / "bench" / "train_default" / "checkpoint.pt"
QUANT_SPECS = {"w8a8": "w8a8", "w4a4": "w4a4", "mixed": str(ROOT / "configs" / "quant_mixed.toml")}
QAT_EPOCHS = 2
QAT_LR = 1e-3


def _summary(evaluation: dict) -> dict:
    keep = ("filtered_accuracy", "mean_step_accuracy", "steady_step_accuracy", "final_step_accuracy",
            "latency_table", "per_step_accuracy")
    return {k: evaluation[k] for k in keep}


def main() -> dict:
    from pleiades_fpga.data.datasets import load_clips
    from pleiades_fpga.model import load_model
    from pleiades_fpga.quant import fold_batchnorm
    from pleiades_fpga.train import TrainConfig, evaluate_model, train_model

    threads = 1 if os.getloadavg()[0] > 1.5 else 2
    start = time.time()
    base = TrainConfig(threads=threads, progress=True)
    test = load_clips(base.dataset, "test", base.resolution, base.n_test, base.seed, base.data_root)
    # the bench keeps its own copy of the float model, so that every comparison starts from the same weights
    float_ckpt = OUT / "float" / "checkpoint.pt"
    if not float_ckpt.is_file():
        if FLOAT_CKPT.is_file():
            float_ckpt.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(FLOAT_CKPT, float_ckpt)
        else:
            train_model(TrainConfig(threads=threads, out=str(OUT / "float")))
    float_model = load_model(float_ckpt)
    results: dict = {"float_checkpoint": str(float_ckpt), "qat_epochs": QAT_EPOCHS, "qat_lr": QAT_LR,
                     "models": {"float": _summary(evaluate_model(float_model, test))}}
    for name, spec in {"float_finetuned": None, **QUANT_SPECS}.items():
        t0 = time.time()
        ckpt = OUT / name / "checkpoint.pt"
        if not ckpt.is_file():
            cfg = TrainConfig(threads=threads, quant=spec, init=str(float_ckpt), epochs=QAT_EPOCHS, lr=QAT_LR,
                              out=str(OUT / name))
            train_model(cfg)
        model = load_model(ckpt)
        deployed = fold_batchnorm(model) if spec is not None else model
        entry = _summary(evaluate_model(deployed, test))
        if spec is not None:
            with_bn = evaluate_model(model, test)
            entry["qat_eval_with_batchnorm"] = {k: with_bn[k] for k in ("filtered_accuracy", "mean_step_accuracy")}
            entry["quant_config"] = deployed.quant_config
        entry["seconds"] = time.time() - t0
        results["models"][name] = entry
        print(name, entry["filtered_accuracy"], flush=True)
    f = max(results["models"][k]["filtered_accuracy"] for k in ("float", "float_finetuned"))
    deltas = {k: 100 * (f - results["models"][k]["filtered_accuracy"]) for k in QUANT_SPECS}
    results["drop_points_vs_float"] = deltas
    results["bar"] = {"w8a8_within_0.5": deltas["w8a8"] <= 0.5, "w4a4_within_2": deltas["w4a4"] <= 2.0}
    results["wall_seconds"] = time.time() - start
    results["threads"] = threads
    write_result("quant_accuracy", results)
    return results


if __name__ == "__main__":
    main()
