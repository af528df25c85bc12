"""Buffer vs recurrent temporal layers on the synthetic default (32x32, 10 ms bins, K = 10, N = 4), issue #6.

Models (all from the float checkpoint of bench/train_default, or one trained here):
- ``buffer_float``: the float network (finite-window temporal convs);
- ``buffer_float_finetuned``: the same fine-tuned with the recurrent schedule (control for the extra training);
- ``recurrent_float_converted``: every temporal layer converted to the recurrent form, no training;
- ``recurrent_float_finetuned``: ``train --temporal recurrent --init float`` (fine-tuned in recurrent form);
- ``buffer_w8a8`` / ``recurrent_w8a8``: QAT (w8a8, state_bits 16) from ``buffer_float`` / from
  ``recurrent_float_finetuned``, evaluated deployed (BatchNorm folded, what is exported);
  ``recurrent_w8a8_state12``: the same with 12-bit states (configs/quant_w8a8_state12.toml).
Also: per-layer impulse-response error of the recurrent form vs the finite kernels of the trained net, the
integer format of each deployed recurrent layer, and golden model == qonnx execution of the exported
recurrent w8a8 network (mismatching integers over 20 test clips).
Bar: recurrent within 2 points (filtered accuracy) of buffer, float and w8a8.
Checkpoints under build/bench/recurrent_accuracy/ are reused (delete the directory to retrain).
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

from bench.common import write_result

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "bench" / "recurrent_accuracy"
FLOAT_CKPT = ROOT / "build" / "bench" / "train_default" / "checkpoint.pt"
EPOCHS = 2
LR = 1e-3
GOLDEN_CLIPS = 20


def _summary(evaluation: dict) -> dict:
    keep = ("filtered_accuracy", "mean_step_accuracy", "steady_step_accuracy", "final_step_accuracy",
            "latency_table")
    return {k: evaluation[k] for k in keep}


def _golden_vs_qonnx(model, test, name: str, frames: int) -> dict:
    """Export ``model`` and count golden-model vs qonnx-execution mismatches over GOLDEN_CLIPS clips."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    from pleiades_fpga.ir.golden import GoldenModel
    from pleiades_fpga.quant import export_model

    path = export_model(model, OUT / name / "model.onnx", frames=frames)
    clips = test.frames(model.config.bin_us)[:GOLDEN_CLIPS, :, :frames].float().numpy()
    golden = GoldenModel.from_qonnx(path)
    ints = golden.run(clips)
    w = ModelWrapper(str(path))
    name_in, name_out = w.graph.input[0].name, w.graph.output[0].name
    ref = np.concatenate([execute_onnx(w, {name_in: c[None]})[name_out] for c in clips])
    layers = [{"name": layer.name, "state_dim": layer.params.state_dim, "frac_bits": layer.params.frac_bits,
               "state_bits": layer.out_bits, "acc_bits": layer.acc_bits, "in_bits": layer.in_bits,
               "state_scale": float(layer.out_scale)}
              for layer in golden.ir.layers if layer.kind == "projection"]
    return {"clips": len(clips), "frames": frames, "values": int(ints.size),
            "mismatches": int((golden.dequantize(ints) != ref).sum()),
            "saturated_states": dict(golden.saturation), "projection_layers": layers}


def main() -> dict:
    import torch

    from pleiades_fpga.data.datasets import load_clips
    from pleiades_fpga.model import load_model
    from pleiades_fpga.model.convert import convert_model, layer_errors
    from pleiades_fpga.quant import fold_batchnorm
    from pleiades_fpga.train import TrainConfig, evaluate_model, train_model

    threads = 1
    torch.set_num_threads(threads)
    start = time.time()
    base = TrainConfig(threads=threads, progress=True)
    test = load_clips(base.dataset, "test", base.resolution, base.n_test, base.seed, base.data_root)
    float_ckpt = OUT / "buffer_float" / "checkpoint.pt"
    if not float_ckpt.is_file():
        if FLOAT_CKPT.is_file():
            float_ckpt.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(FLOAT_CKPT, float_ckpt)
        else:
            train_model(TrainConfig(threads=threads, out=str(float_ckpt.parent)))
    buffer_float = load_model(float_ckpt)
    converted = convert_model(buffer_float)
    results: dict = {"float_checkpoint": str(float_ckpt), "epochs": EPOCHS, "lr": LR, "threads": threads,
                     "impulse_errors": layer_errors(buffer_float),
                     "models": {"buffer_float": _summary(evaluate_model(buffer_float, test)),
                                "recurrent_float_converted": _summary(evaluate_model(converted, test))}}
    runs = {
        "buffer_float_finetuned": dict(init=str(float_ckpt)),
        "recurrent_float_finetuned": dict(init=str(float_ckpt), temporal="recurrent"),
        "buffer_w8a8": dict(init=str(float_ckpt), quant="w8a8"),
        "recurrent_w8a8": dict(init=str(OUT / "recurrent_float_finetuned" / "checkpoint.pt"), quant="w8a8"),
        "recurrent_w8a8_state12": dict(init=str(OUT / "recurrent_float_finetuned" / "checkpoint.pt"),
                                       quant=str(ROOT / "configs" / "quant_w8a8_state12.toml")),
    }
    for name, kwargs in runs.items():
        t0 = time.time()
        ckpt = OUT / name / "checkpoint.pt"
        if not ckpt.is_file():
            train_model(TrainConfig(threads=threads, epochs=EPOCHS, lr=LR, out=str(OUT / name), **kwargs))
        model = load_model(ckpt)
        deployed = fold_batchnorm(model) if "quant" in kwargs else model
        entry = _summary(evaluate_model(deployed, test))
        entry["train_seconds_or_reused"] = time.time() - t0
        results["models"][name] = entry
        print(name, entry["filtered_accuracy"], flush=True)
        if name == "recurrent_float_finetuned":
            results["impulse_errors_finetuned"] = layer_errors(model)
        if name.startswith("recurrent_w8a8"):
            results.setdefault("golden_vs_qonnx", {})[name] = _golden_vs_qonnx(deployed, test, name, frames=32)
    m = {k: v["filtered_accuracy"] for k, v in results["models"].items()}
    buffer_float_best = max(m["buffer_float"], m["buffer_float_finetuned"])
    results["gap_points"] = {
        "float_finetuned_vs_buffer": 100 * (buffer_float_best - m["recurrent_float_finetuned"]),
        "float_converted_vs_buffer": 100 * (m["buffer_float"] - m["recurrent_float_converted"]),
        "w8a8_vs_buffer_w8a8": 100 * (m["buffer_w8a8"] - m["recurrent_w8a8"]),
        "w8a8_state12_vs_buffer_w8a8": 100 * (m["buffer_w8a8"] - m["recurrent_w8a8_state12"]),
    }
    results["bar_within_2_points"] = {k: v <= 2.0 for k, v in results["gap_points"].items() if "converted" not in k}
    results["wall_seconds"] = time.time() - start
    write_result("recurrent_accuracy", results)
    return results


if __name__ == "__main__":
    main()
