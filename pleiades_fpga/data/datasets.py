"""Datasets as lists of event clips (`EventClips`) and their binned frames, by name: "synthetic" or "dvs128"."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from pleiades_fpga.data.binning import bin_events, n_bins
from pleiades_fpga.data.camera import CameraModel
from pleiades_fpga.data.dvs128 import DVS128_CLASS_NAMES, DVS128_SIZE, load_dvs128
from pleiades_fpga.data.events import downsample_events
from pleiades_fpga.data.synthetic import CLASS_NAMES, RESOLUTIONS, synthetic_clip
from pleiades_fpga.errors import PleiadesError

DATASETS: tuple[str, ...] = ("synthetic", "dvs128")
SYNTHETIC_DURATION_US = 1_000_000
DVS128_DURATION_US = 1_500_000  # clips cropped to 1.5 s, as in the paper's evaluation
DEFAULT_CLIPS = {"train": 800, "test": 300, "val": 200}


@dataclass
class EventClips:
    """Event clips of one split: ``events[i]`` (EVENT_DTYPE, t relative to the clip start) has ``labels[i]``."""

    name: str
    split: str
    events: list[np.ndarray]
    labels: np.ndarray
    class_names: tuple[str, ...]
    height: int
    width: int
    duration_us: int
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.events)

    def frames(self, bin_us: int, progress: bool = False) -> torch.Tensor:
        """All clips binned to (N, 2, T, H, W) counts, T = duration // bin_us (uint8 if counts fit, else int16)."""
        t = n_bins(self.duration_us, bin_us)
        if t < 1:
            raise PleiadesError(f"bin size {bin_us} us is longer than the clips ({self.duration_us} us)")
        out = np.zeros((len(self), 2, t, self.height, self.width), dtype=np.uint8)
        for i, ev in enumerate(tqdm(self.events, desc=f"binning {self.name}/{self.split}", disable=not progress,
                                    leave=False)):
            f = bin_events(ev, bin_us, self.height, self.width, t, dtype=np.int64)
            if out.dtype == np.uint8 and f.max(initial=0) > 255:
                out = out.astype(np.int16)
            out[i] = np.minimum(f, np.iinfo(out.dtype).max)
        return torch.from_numpy(out)


def load_clips(
    name: str = "synthetic",
    split: str = "train",
    resolution: int = 32,
    n_clips: int | None = None,
    seed: int = 0,
    root: str | None = None,
    camera: CameraModel = CameraModel(),
    progress: bool = True,
) -> EventClips:
    """Load or generate the clips of a split.

    ``synthetic``: ``n_clips`` (default `DEFAULT_CLIPS`) generated clips, balanced over `CLASS_NAMES`, 1 s each.
    ``dvs128``: a local DVS128 Gesture copy at ``root`` ("other" dropped), downsampled from 128x128 to
    ``resolution`` by integer pooling, clips cropped to 1.5 s; ``n_clips`` keeps the first n.
    """
    if name not in DATASETS:
        raise PleiadesError(f"unknown dataset {name!r}; choose one of {DATASETS}")
    if resolution not in RESOLUTIONS:
        raise PleiadesError(f"resolution must be one of {RESOLUTIONS}, got {resolution}")
    if n_clips is not None and n_clips < 1:
        raise PleiadesError(f"number of clips must be >= 1, got {n_clips}")
    if name == "synthetic":
        n = DEFAULT_CLIPS.get(split, 200) if n_clips is None else n_clips
        events, labels = [], []
        for i in tqdm(range(n), desc=f"generating synthetic/{split}", disable=not progress, leave=False):
            ev, lab = synthetic_clip(i, split, seed, resolution, SYNTHETIC_DURATION_US, camera)
            events.append(ev)
            labels.append(lab)
        return EventClips("synthetic", split, events, np.asarray(labels, dtype=np.int64), CLASS_NAMES,
                          resolution, resolution, SYNTHETIC_DURATION_US,
                          {"seed": seed, "camera": camera.__dict__.copy()})
    if root is None:
        raise PleiadesError("the dvs128 dataset needs the path of a local DVS128 Gesture copy (--data-root DIR)")
    raw, labels = load_dvs128(root, "test" if split == "test" else "train")
    if n_clips is not None:
        raw, labels = raw[:n_clips], labels[:n_clips]
    factor = DVS128_SIZE // resolution
    events = [downsample_events(ev[ev["t"] < DVS128_DURATION_US], factor) for ev in raw]
    return EventClips("dvs128", split, events, np.asarray(labels, dtype=np.int64), DVS128_CLASS_NAMES[:10],
                      resolution, resolution, DVS128_DURATION_US, {"root": str(root)})
