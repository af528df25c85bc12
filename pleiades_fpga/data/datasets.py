"""Datasets as lists of event clips (`EventClips`) and their binned frames, by name: "synthetic" or "dvs128"."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from pleiades_fpga.data.binning import bin_events, check_request, n_bins
from pleiades_fpga.data.camera import CameraModel
from pleiades_fpga.data.dvs128 import DVS128_CLASS_NAMES, DVS128_SIZE, load_dvs128
from pleiades_fpga.data.events import downsample_events
from pleiades_fpga.data.synthetic import CLASS_NAMES, RESOLUTIONS, synthetic_clip
from pleiades_fpga.errors import DataFormatError, PleiadesError

DATASETS: tuple[str, ...] = ("synthetic", "dvs128")
SYNTHETIC_DURATION_US = 1_000_000
DVS128_DURATION_US = 1_500_000  # clips cropped to 1.5 s, as in the paper's evaluation
DEFAULT_CLIPS = {"train": 800, "test": 300, "val": 200}
DATASET_CLASSES: dict[str, tuple[str, ...]] = {"synthetic": CLASS_NAMES, "dvs128": DVS128_CLASS_NAMES[:10]}


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
        t = clip_frames(self.duration_us, bin_us)
        check_request(f"{self.name}/{self.split} frames at {bin_us / 1000:g} ms bins", len(self), 2, t,
                      self.height, self.width)
        out = np.zeros((len(self), 2, t, self.height, self.width), dtype=np.uint8)
        for i, ev in enumerate(tqdm(self.events, desc=f"binning {self.name}/{self.split}", disable=not progress,
                                    leave=False)):
            f = bin_events(ev, bin_us, self.height, self.width, t, dtype=np.int64)
            if out.dtype == np.uint8 and f.max(initial=0) > 255:
                out = out.astype(np.int16)
            out[i] = np.minimum(f, np.iinfo(out.dtype).max)
        return torch.from_numpy(out)


def clip_frames(duration_us: int, bin_us: int) -> int:
    """Frames per clip of ``duration_us`` at ``bin_us`` (at least one, else a PleiadesError)."""
    t = n_bins(duration_us, bin_us)
    if t < 1:
        raise PleiadesError(f"bin size {bin_us / 1000:g} ms is longer than the clips ({duration_us / 1000:g} ms); "
                            "use a smaller --bin-ms")
    return t


def check_frames_request(name: str, split: str, resolution: int, n_clips: int | None, bin_us: int) -> int:
    """Frames per clip of a split at ``bin_us``; the memory of all its frames is checked (`check_request`) before
    any clip is generated or read. A dvs128 split without ``n_clips`` counts as one clip here (its size is
    unknown until read); `EventClips.frames` checks every split again before allocating."""
    duration = SYNTHETIC_DURATION_US if name == "synthetic" else DVS128_DURATION_US
    n = n_clips if n_clips is not None else (DEFAULT_CLIPS.get(split, 200) if name == "synthetic" else 1)
    t = clip_frames(duration, bin_us)
    check_request(f"{name}/{split} frames at {bin_us / 1000:g} ms bins", n, 2, t, resolution, resolution)
    return t


def load_clips(
    name: str = "synthetic",
    split: str = "train",
    resolution: int = 32,
    n_clips: int | None = None,
    seed: int = 0,
    root: str | None = None,
    camera: CameraModel = CameraModel(),
    progress: bool = True,
    drop_bad_events: bool = False,
) -> EventClips:
    """Load or generate the clips of a split.

    ``synthetic``: ``n_clips`` (default `DEFAULT_CLIPS`) generated clips, balanced over `CLASS_NAMES`, 1 s each.
    ``dvs128``: a local DVS128 Gesture copy at ``root`` ("other" dropped), downsampled from 128x128 to
    ``resolution`` by integer pooling, clips cropped to 1.5 s; ``n_clips`` keeps the first n. Bad events are an
    error, or with ``drop_bad_events`` dropped (counted per file in a `DroppedEventsWarning`).
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
    raw, labels = load_dvs128(root, "test" if split == "test" else "train", drop_bad_events=drop_bad_events)
    if not raw:
        raise DataFormatError(f"{root}: the DVS128 {split} split has no clips (every labelled gesture is 'other', "
                              "or the label files list none); check the copy")
    if n_clips is not None:
        raw, labels = raw[:n_clips], labels[:n_clips]
    factor = DVS128_SIZE // resolution
    events = [downsample_events(ev[ev["t"] < DVS128_DURATION_US], factor) for ev in raw]
    return EventClips("dvs128", split, events, np.asarray(labels, dtype=np.int64), DATASET_CLASSES["dvs128"],
                      resolution, resolution, DVS128_DURATION_US, {"root": str(root)})
