"""Training configuration (`TrainConfig`)."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pleiades_fpga.data.datasets import DATASETS
from pleiades_fpga.data.synthetic import RESOLUTIONS
from pleiades_fpga.errors import PleiadesError

INTERRUPTED_CHECKPOINT = "checkpoint.interrupted.pt"  # where an interrupted run leaves its model


@dataclass
class TrainConfig:
    """Everything `train_model` needs.

    Training runs on random crops of ``crop_frames`` frames (default: receptive field + 12) fed with causal
    padding, i.e. as if each crop started a stream from a reset state; the loss is the per-step cross entropy
    of the causal outputs from step ``loss_start`` (default kernel_size - 1) of the crop on. Evaluation feeds
    whole clips causally (zero left context), as the hardware sees them after reset.
    """

    dataset: str = "synthetic"
    data_root: str | None = None
    resolution: int = 32
    bin_us: int = 10_000
    preset: str = "default"
    temporal_kind: str | None = None  # override the preset: "pleiades" or "free" (unstructured baseline)
    temporal: str | None = None  # "buffer" | "recurrent": temporal layer implementation (converts an --init model)
    epochs: int = 6
    batch_size: int = 8
    lr: float = 4e-3
    weight_decay: float = 1e-3
    warmup: float = 0.03
    grad_clip: float = 1.0
    seed: int = 0
    n_train: int | None = None
    n_test: int | None = None
    crop_frames: int | None = None
    loss_start: int | None = None
    quant: str | None = None  # "w4a4", a TOML/YAML quant config, or None (float unless wbits/abits are set)
    wbits: int | None = None  # override the quant config's default weight / activation widths (--wbits/--abits)
    abits: int | None = None
    init: str | None = None
    threads: int = 2
    out: str | None = None
    progress: bool = True
    drop_bad_events: bool = False  # dvs128: drop (and count) bad events instead of refusing the file

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise PleiadesError(f"unknown dataset {self.dataset!r}; choose one of {DATASETS}")
        if self.resolution not in RESOLUTIONS:
            raise PleiadesError(f"resolution must be one of {RESOLUTIONS}, got {self.resolution}")
        for name in ("bin_us", "epochs", "batch_size", "threads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise PleiadesError(f"{name} must be an integer >= 1, got {value!r}")
        if not all(math.isfinite(v) for v in (self.lr, self.weight_decay, self.warmup, self.grad_clip)) or \
                not self.lr > 0 or self.weight_decay < 0 or not 0 <= self.warmup < 1 or not self.grad_clip > 0:
            raise PleiadesError("need finite lr > 0, weight_decay >= 0, 0 <= warmup < 1 and grad_clip > 0")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**32:
            raise PleiadesError(f"seed must be an integer from 0 to 2**32 - 1, got {self.seed!r}")
        if self.temporal_kind not in (None, "pleiades", "free"):
            raise PleiadesError(f"temporal_kind must be 'pleiades' or 'free', got {self.temporal_kind!r}")
        if self.temporal not in (None, "buffer", "recurrent"):
            raise PleiadesError(f"temporal must be 'buffer' or 'recurrent', got {self.temporal!r}")
        for name in ("n_train", "n_test", "crop_frames"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise PleiadesError(f"{name} must be >= 1, got {value}")
        if (self.wbits is None) != (self.abits is None) and self.quant is None:
            raise PleiadesError("give both --wbits and --abits (or --quant w4a4 / a quant config file)")
        for name in ("wbits", "abits"):
            value = getattr(self, name)
            if value is not None:
                from pleiades_fpga.quant.config import check_bits

                check_bits(value, f"--{name}")
        if self.loss_start is not None and self.loss_start < 0:
            raise PleiadesError(f"loss_start must be >= 0, got {self.loss_start}")
        self.check_inputs()

    def check_inputs(self) -> None:
        """Everything a run reads or writes, checked before any work: preset, data root, --init, quant spec, out."""
        from pleiades_fpga.model.presets import get_preset
        from pleiades_fpga.paths import check_input_file, check_output_dir

        if self.init is None:
            get_preset(self.preset)
        if self.dataset == "dvs128":
            if self.data_root is None:
                raise PleiadesError("the dvs128 dataset needs the path of a local DVS128 Gesture copy "
                                    "(--data-root DIR)")
            if not Path(self.data_root).is_dir():
                raise PleiadesError(f"--data-root {self.data_root} is not a directory; give the DVS128 Gesture copy")
        elif self.data_root is not None:
            raise PleiadesError(f"--data-root is only read with --dataset dvs128, not {self.dataset!r}; drop it")
        if self.drop_bad_events and self.dataset != "dvs128":
            raise PleiadesError("--drop-bad-events applies to event files (--dataset dvs128) only; drop it")
        if self.init is not None:
            check_input_file(self.init, "--init checkpoint")
        if self.quantized:
            from pleiades_fpga.quant.config import resolve_spec

            resolve_spec(self.quant, weight_bits=self.wbits, act_bits=self.abits)
        if self.out is not None:
            from pleiades_fpga.model.checkpoint import CHECKPOINT
            from pleiades_fpga.paths import IMAGE, TRAIN_METRICS

            check_output_dir(self.out, "--out", inputs=(self.init, self.quant),
                             files={"checkpoint.pt": CHECKPOINT, INTERRUPTED_CHECKPOINT: CHECKPOINT,
                                    "metrics.json": TRAIN_METRICS, "latency.png": IMAGE})

    @property
    def quantized(self) -> bool:
        """Quantization-aware training (a quant spec or --wbits/--abits given)."""
        return self.quant is not None or self.wbits is not None or self.abits is not None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
