"""Training and evaluation loops (generic over float and quantized models with the PleiadesNet forward)."""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from pleiades_fpga.artifacts import write_json_atomic
from pleiades_fpga.data.binning import check_request, memory_budget_bytes
from pleiades_fpga.data.datasets import DATASET_CLASSES, EventClips, check_frames_request, load_clips
from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.model import NetConfig, get_preset, load_model, resample_model, save_checkpoint
from pleiades_fpga.model.checkpoint import nonfinite_tensors
from pleiades_fpga.train.config import INTERRUPTED_CHECKPOINT, TrainConfig
from pleiades_fpga.train.metrics import latency_table, majority_vote, per_step_accuracy
from pleiades_fpga.train.plots import plot_latency




def make_model(cfg: TrainConfig, num_classes: int) -> nn.Module:
    """The model to train: a fresh preset network, a float checkpoint (``cfg.init``), or its QAT version."""
    init = None
    if cfg.init is not None:
        init = load_model(cfg.init)
        if getattr(init, "quant_config", None) is not None:
            raise PleiadesError(f"--init {cfg.init} must be a float checkpoint, it is quantized")
        config = init.config
        if config.num_classes != num_classes:
            raise PleiadesError(f"--init checkpoint has {config.num_classes} classes, the dataset {num_classes}")
        if tuple(config.input_size) != (cfg.resolution, cfg.resolution):
            raise PleiadesError(f"--init checkpoint takes {config.input_size[0]}x{config.input_size[1]} frames, not "
                                f"--resolution {cfg.resolution}; pass --resolution {config.input_size[0]}")
        if config.bin_us != cfg.bin_us:
            init = resample_for_bin(init, cfg.bin_us)
            config = init.config
        if cfg.temporal is not None and config.temporal != cfg.temporal:
            from pleiades_fpga.model.convert import convert_model

            init = convert_model(init, layers=(cfg.temporal,) * len(config.blocks))
            config = init.config
    else:
        overrides: dict[str, Any] = {"num_classes": num_classes, "input_size": (cfg.resolution, cfg.resolution),
                                     "bin_us": cfg.bin_us}
        if cfg.temporal_kind is not None:
            overrides["temporal_kind"] = cfg.temporal_kind
        if cfg.temporal is not None:
            overrides["temporal"] = cfg.temporal
        config = get_preset(cfg.preset, **overrides)
    if cfg.quantized:
        from pleiades_fpga.quant import build_quant_model, resolve_spec  # lazy: brevitas is slow to import
        from pleiades_fpga.quant.config import overrides_must_match

        spec = resolve_spec(cfg.quant, weight_bits=cfg.wbits, act_bits=cfg.abits)
        with overrides_must_match(spec):
            model = build_quant_model(config, spec, init_from=init)
        if init is not None and foldable(model):
            # fine-tune the deployed form: BN (float running statistics) folded into the convs before QAT
            from pleiades_fpga.quant import fold_batchnorm

            model = fold_batchnorm(model)
        return model
    if init is not None:
        return init
    from pleiades_fpga.model import build_model

    return build_model(config)


def foldable(model: nn.Module) -> bool:
    """True for a quantized network that still has BatchNorm layers to fold (and no causal GroupNorm)."""
    if getattr(model, "quant_config", None) is None or model.quant_config.get("folded"):
        return False
    return model.config.temporal_norm == "batch"


def resample_for_bin(model: nn.Module, bin_us: int) -> nn.Module:
    """``model`` re-sampled for frames of ``bin_us`` (same time window, new kernel size); unchanged if equal."""
    config: NetConfig = model.config
    if config.bin_us == bin_us:
        return model
    k = config.kernel_size * config.bin_us / bin_us
    if k != int(k) or k < 1:
        raise PleiadesError(
            f"cannot re-sample a kernel of {config.kernel_size} x {config.bin_us / 1000:g} ms to "
            f"{bin_us / 1000:g} ms bins: the window must be a whole number of new bins"
        )
    try:
        return resample_model(model, int(k))
    except AttributeError as exc:
        raise PleiadesError(f"{type(model).__name__} does not support re-sampling: {exc}") from exc


def _lr_factor(step: int, total: int, warmup: float, floor: float = 0.01) -> float:
    warm = max(1, int(round(warmup * total)))
    if step < warm:
        return (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


@torch.no_grad()
def predict_steps(model: nn.Module, frames: torch.Tensor, batch_size: int = 16, progress: bool = False) -> np.ndarray:
    """Per-step argmax predictions (N, T) of whole clips fed causally (zero left context)."""
    model.eval()
    preds = []
    for i in tqdm(range(0, len(frames), batch_size), desc="evaluating", disable=not progress, leave=False):
        logits = model(frames[i : i + batch_size].float(), pad="causal")
        preds.append(logits.argmax(dim=1).cpu().numpy())
    return np.concatenate(preds) if preds else np.zeros((0, frames.shape[2]), dtype=np.int64)


def evaluate_model(
    model: nn.Module, dataset: EventClips, bin_us: int | None = None, batch_size: int = 16, progress: bool = False
) -> dict[str, Any]:
    """Metrics of ``model`` on ``dataset`` binned at ``bin_us`` (default: the model's bin; a different bin
    re-samples the temporal kernels first): per-step accuracy vs time since clip start, its mean, the mean
    after the receptive field, and the majority-filtered clip accuracy (vote over all steps of each clip)."""
    bin_us = int(bin_us or model.config.bin_us)
    model = resample_for_bin(model, bin_us)
    frames = dataset.frames(bin_us, progress=progress)
    batch_size = eval_batch_size(model.config, frames.shape, batch_size)
    t0 = time.time()
    pred = predict_steps(model, frames, batch_size, progress)
    labels = dataset.labels
    acc = per_step_accuracy(pred, labels)
    filtered = majority_vote(pred, model.config.num_classes) == labels
    rf = model.config.receptive_field
    return {
        "bin_us": bin_us,
        "kernel_size": model.config.kernel_size,
        "n_clips": len(dataset),
        "frames_per_clip": int(frames.shape[2]),
        "filtered_accuracy": float(filtered.mean()),
        "mean_step_accuracy": float(acc.mean()),
        "steady_step_accuracy": float(acc[rf - 1 :].mean()) if len(acc) >= rf else None,
        "final_step_accuracy": float(acc[-1]),
        "per_step_accuracy": [float(a) for a in acc],
        "latency_table": latency_table(acc, bin_us),
        "eval_seconds": time.time() - t0,
    }


def eval_batch_size(config: NetConfig, frames_shape: tuple[int, ...], batch_size: int,
                    what: str = "evaluating one whole clip") -> int:
    """``batch_size`` lowered so that whole clips fit in memory in float32 (input, first temporal layer output and
    its normalised copy at full resolution, an estimate); a `RequestTooLargeError` when not even one clip fits."""
    _, c, t, h, w = frames_shape
    channels = c + 2 * config.blocks[0].med_channels
    fix = "use fewer frames per clip (a larger --bin-ms, or fewer --frames) or a lower --resolution"
    per_clip = check_request(f"{what} (float32 activations, estimated)", 1, channels, t, h, w, 4, fix=fix)
    return max(1, min(batch_size, memory_budget_bytes() // max(1, per_clip)))


def _crops(frames: torch.Tensor, idx: np.ndarray, crop: int, rng: np.random.Generator) -> torch.Tensor:
    t = frames.shape[2]
    starts = rng.integers(0, t - crop + 1, len(idx))
    return torch.stack([frames[i, :, s : s + crop] for i, s in zip(idx, starts)]).float()


def train_model(cfg: TrainConfig) -> tuple[nn.Module, dict[str, Any]]:
    """Train per ``cfg`` and evaluate on the test split; with ``cfg.out`` also write checkpoint.pt (final
    weights), metrics.json and latency.png there. Returns (model, metrics)."""
    t_start = time.time()
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    out = Path(cfg.out) if cfg.out else None
    # everything that can be refused is refused before minutes of data generation: the model (--init, quant
    # spec, re-sampling) and the memory the frames need
    model = make_model(cfg, len(DATASET_CLASSES[cfg.dataset]))
    for split, n in (("train", cfg.n_train), ("test", cfg.n_test)):
        t = check_frames_request(cfg.dataset, split, cfg.resolution, n, cfg.bin_us)
    eval_batch_size(model.config, (1, 2, t, cfg.resolution, cfg.resolution), 16)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)

    train = load_clips(cfg.dataset, "train", cfg.resolution, cfg.n_train, cfg.seed, cfg.data_root,
                       progress=cfg.progress, drop_bad_events=cfg.drop_bad_events)
    test = load_clips(cfg.dataset, "test", cfg.resolution, cfg.n_test, cfg.seed, cfg.data_root,
                      progress=cfg.progress, drop_bad_events=cfg.drop_bad_events)
    frames = train.frames(cfg.bin_us, progress=cfg.progress)
    labels = torch.from_numpy(train.labels)
    t_data = time.time() - t_start
    config: NetConfig = model.config
    n_frames = frames.shape[2]
    crop = min(n_frames, cfg.crop_frames or config.receptive_field + 12)
    loss_start = min(crop - 1, config.kernel_size - 1 if cfg.loss_start is None else cfg.loss_start)
    steps_per_epoch = max(1, len(train) // cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    def optimizer(model: nn.Module, done: int):
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s + done, total, cfg.warmup))

    opt, sched = optimizer(model, 0)
    # QAT from scratch trains with BatchNorm, then folds it and fine-tunes the deployed form in the last epoch
    fold_epoch = cfg.epochs - 1 if foldable(model) and cfg.epochs >= 2 else None
    loss_fn = nn.CrossEntropyLoss()
    history = []
    bar = tqdm(total=total, desc="training", disable=not cfg.progress, unit="step")
    interrupted = False
    try:
        for epoch in range(cfg.epochs):
            if epoch == fold_epoch:
                from pleiades_fpga.quant import fold_batchnorm

                model = fold_batchnorm(model.eval())
                opt, sched = optimizer(model, epoch * steps_per_epoch)
            model.train()
            t_epoch = time.time()
            perm = rng.permutation(len(train))
            sum_loss = sum_correct = sum_count = 0.0
            for b in range(steps_per_epoch):
                idx = perm[b * cfg.batch_size : (b + 1) * cfg.batch_size]
                x = _crops(frames, idx, crop, rng)
                y = labels[idx]
                logits = model(x, pad="causal")[:, :, loss_start:]  # (B, classes, T')
                target = y[:, None].expand(-1, logits.shape[2])
                loss = loss_fn(logits, target)
                if not torch.isfinite(loss):
                    raise PleiadesError(f"the training loss became {float(loss.detach())} at epoch {epoch + 1}, "
                                        f"step {b + 1}: lower --lr (now {cfg.lr:g}); nothing was written")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = float(nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip))
                opt.step()
                sched.step()
                bad = [] if math.isfinite(grad_norm) else ["the gradients"]
                bad += nonfinite_tensors(dict(model.named_parameters()))
                if bad:
                    raise PleiadesError(f"the training diverged at epoch {epoch + 1}, step {b + 1} (NaN/inf in "
                                        f"{', '.join(bad[:4])}{' ...' if len(bad) > 4 else ''}): lower --lr "
                                        f"(now {cfg.lr:g}); nothing was written")
                sum_loss += float(loss.detach()) * len(idx)
                sum_correct += float((logits.detach().argmax(1) == target).float().mean()) * len(idx)
                sum_count += len(idx)
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{sum_loss / sum_count:.3f}",
                                acc=f"{sum_correct / sum_count:.3f}")
            history.append({"epoch": epoch + 1, "loss": sum_loss / sum_count, "train_step_accuracy":
                            sum_correct / sum_count, "seconds": time.time() - t_epoch})
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
    t_train = time.time() - t_start - t_data
    if interrupted:
        if out is not None:  # beside, not over, an earlier run's checkpoint.pt (its metrics.json describes that one)
            path = save_checkpoint(model, out / INTERRUPTED_CHECKPOINT,
                                   meta={"train_config": cfg.to_dict(), "interrupted": True})
            print(f"\ninterrupted: the model so far is in {path}", file=sys.stderr)
        raise KeyboardInterrupt

    evaluation = evaluate_model(model, test, cfg.bin_us, progress=cfg.progress)
    metrics: dict[str, Any] = {
        "config": cfg.to_dict(),
        "net_config": config.to_dict(),
        "class_names": list(train.class_names),
        "n_train": len(train),
        "n_test": len(test),
        "crop_frames": crop,
        "loss_start": loss_start,
        "history": history,
        "test": evaluation,
        "filtered_accuracy": evaluation["filtered_accuracy"],
        "mean_step_accuracy": evaluation["mean_step_accuracy"],
        "seconds": {"data": t_data, "train": t_train, "total": time.time() - t_start},
    }
    if out is not None:
        meta = {"train_config": cfg.to_dict(), "class_names": list(train.class_names),
                "filtered_accuracy": evaluation["filtered_accuracy"], "dataset": train.name}
        save_checkpoint(model, out / "checkpoint.pt", meta=meta)
        metrics["seconds"]["total"] = time.time() - t_start
        write_json_atomic(out / "metrics.json", metrics)
        plot_latency({f"{cfg.bin_us / 1000:g} ms bins": (np.asarray(evaluation["per_step_accuracy"]), cfg.bin_us)},
                     out / "latency.png",
                     title=f"{train.name} {cfg.resolution}x{cfg.resolution}, filtered "
                           f"{100 * evaluation['filtered_accuracy']:.1f} %")
    return model, metrics
