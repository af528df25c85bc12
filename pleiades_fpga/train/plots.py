"""Plots: per-step accuracy vs time since clip start."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_latency(curves: dict[str, tuple[np.ndarray, int]], path: str | Path, title: str = "") -> Path:
    """Write a PNG of accuracy vs time since clip start; ``curves`` maps a label to (per-step acc, bin_us)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for label, (acc, bin_us) in curves.items():
        t_ms = (np.arange(len(acc)) + 1) * bin_us / 1000.0
        ax.plot(t_ms, 100.0 * np.asarray(acc), label=label)
    ax.set_xlabel("time since clip start (ms)")
    ax.set_ylabel("per-step accuracy (%)")
    ax.set_ylim(0, 101)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
