"""Evaluation metrics of per-step classifiers: accuracy vs latency and majority-filtered clip accuracy."""
from __future__ import annotations

import numpy as np


def per_step_accuracy(pred: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Accuracy at each step (T,) from predictions (N, T) and clip labels (N,)."""
    return (pred == labels[:, None]).mean(axis=0)


def majority_vote(pred: np.ndarray, num_classes: int) -> np.ndarray:
    """The most frequent prediction of each clip (N,) from (N, T); ties go to the lowest class index."""
    counts = np.zeros((pred.shape[0], num_classes), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(pred.shape[0]), pred.shape[1]), pred.ravel()), 1)
    return counts.argmax(axis=1)


def latency_table(acc: np.ndarray, bin_us: int, every_ms: float = 50.0) -> list[dict[str, float]]:
    """Rows {"t_ms", "accuracy"} of the per-step curve, one per ``every_ms`` (time = end of the step's bin)."""
    stride = max(1, int(round(every_ms * 1000 / bin_us)))
    idx = list(range(stride - 1, len(acc), stride))
    if len(acc) and (not idx or idx[-1] != len(acc) - 1):
        idx.append(len(acc) - 1)
    return [{"t_ms": (i + 1) * bin_us / 1000.0, "accuracy": float(acc[i])} for i in idx]
