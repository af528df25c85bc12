"""PLEIADES (1+2)D spatiotemporal network, float version.

Tensor layout (batch, channels, time, height, width); output logits (batch, num_classes, time'), one
vector per time step. Temporal layers are causal convolutions along time (``pleiades_fpga.model.temporal``);
every other layer works on each frame separately (time folded into the batch), so streaming only keeps
state in the temporal layers.

Structure and parameter names (stable; the Brevitas network mirrors them):

    blocks.{i}                      FullBlock or DWSBlock
      FullBlock (in -> med -> out):
        temporal                    PleiadesTemporalConv (coeffs, basis) | FreeTemporalConv (weight), in -> med
        temporal_norm               GroupNorm(norm_groups, med) per frame | BatchNorm2d(med) ; then ReLU
        spatial                     Conv2d(med, out, 3, stride 2, pad 1, bias=False)
        spatial_norm                BatchNorm2d(out) ; then ReLU
      DWSBlock (in -> med -> out):
        temporal                    depthwise temporal conv, in -> in (groups=in)
        temporal_norm               norm(in) ; then ReLU
        pointwise                   Conv2d(in, med, 1, bias=False)
        pointwise_norm              norm(med)
        skip                        Conv2d(in, med, 1, bias=True) on the input (input[:, :, K-1:] if valid)
                                    sum, ReLU
        spatial                     Conv2d(med, med, 3, stride 2, pad 1, groups=med, bias=False)
        spatial_norm                BatchNorm2d(med) ; then ReLU
        spatial_pointwise           Conv2d(med, out, 1, bias=False)
        spatial_pointwise_norm      BatchNorm2d(out) ; then ReLU
    head                            mean over H, W, then
      fc1                           Linear(C, head_hidden) ; ReLU
      fc2                           Linear(head_hidden, num_classes)

"norm" is the causal GroupNorm (statistics of one frame) for ``temporal_norm == "group"`` (published) or
BatchNorm2d on frames (statistics over batch, time, H, W) for ``"batch"`` (hardware-friendly).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.model.presets import BlockSpec, NetConfig
from pleiades_fpga.model.recurrent import RecurrentTemporalConv
from pleiades_fpga.model.temporal import FreeTemporalConv, PleiadesTemporalConv, TemporalConv, check_pad


def fold_time(x: Tensor) -> Tensor:
    """(B, C, T, H, W) -> (B*T, C, H, W)."""
    b, c, t, h, w = x.shape
    return x.transpose(1, 2).reshape(b * t, c, h, w)


def unfold_time(x: Tensor, batch: int) -> Tensor:
    """(B*T, C, H, W) -> (B, C, T, H, W)."""
    bt, c, h, w = x.shape
    return x.reshape(batch, bt // batch, c, h, w).transpose(1, 2)


def make_temporal(config: NetConfig, in_channels: int, out_channels: int, groups: int) -> TemporalConv:
    """The temporal layer of ``config.temporal_kind``."""
    if config.temporal_kind == "free":
        return FreeTemporalConv(in_channels, out_channels, config.kernel_size, groups=groups)
    return PleiadesTemporalConv(
        in_channels, out_channels, config.kernel_size, config.degree, config.alpha, config.beta,
        config.domain, groups=groups, scale_kernel_size=config.scale_kernel_size, contraction=config.contraction,
    )


def make_norm(config: NetConfig, channels: int) -> nn.Module:
    """Norm after a temporal layer: per-frame GroupNorm or BatchNorm2d on frames."""
    if config.temporal_norm == "group":
        return nn.GroupNorm(config.norm_groups, channels, eps=1e-5)
    return nn.BatchNorm2d(channels)


class FullBlock(nn.Module):
    """Full temporal conv in->med, norm, ReLU; full 3x3/2 spatial conv med->out, BatchNorm, ReLU."""

    def __init__(self, config: NetConfig, spec: BlockSpec) -> None:
        super().__init__()
        k, s, p = config.spatial_kernel, config.spatial_stride, config.spatial_padding
        self.temporal = make_temporal(config, spec.in_channels, spec.med_channels, groups=1)
        self.temporal_norm = make_norm(config, spec.med_channels)
        self.spatial = nn.Conv2d(spec.med_channels, spec.out_channels, k, s, p, bias=False)
        self.spatial_norm = nn.BatchNorm2d(spec.out_channels)

    def frame_forward(self, t: Tensor, x: Tensor) -> Tensor:
        """Everything after the temporal layer, on frames (N, C, H, W); ``x`` (the block input) is unused."""
        y = F.relu(self.temporal_norm(t))
        return F.relu(self.spatial_norm(self.spatial(y)))

    def forward(self, x: Tensor, pad: str = "valid") -> Tensor:
        t = self.temporal(x, pad=pad)
        return unfold_time(self.frame_forward(fold_time(t), None), x.shape[0])

    def step(self, frame: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        t, state = self.temporal.step(frame, state)
        return self.frame_forward(t, frame), state


class DWSBlock(nn.Module):
    """Depthwise-separable block with a temporal skip (see the module docstring)."""

    def __init__(self, config: NetConfig, spec: BlockSpec) -> None:
        super().__init__()
        k, s, p = config.spatial_kernel, config.spatial_stride, config.spatial_padding
        cin, med, out = spec.in_channels, spec.med_channels, spec.out_channels
        self.temporal = make_temporal(config, cin, cin, groups=cin)
        self.temporal_norm = make_norm(config, cin)
        self.pointwise = nn.Conv2d(cin, med, 1, bias=False)
        self.pointwise_norm = make_norm(config, med)
        self.skip = nn.Conv2d(cin, med, 1, bias=True)
        self.spatial = nn.Conv2d(med, med, k, s, p, groups=med, bias=False)
        self.spatial_norm = nn.BatchNorm2d(med)
        self.spatial_pointwise = nn.Conv2d(med, out, 1, bias=False)
        self.spatial_pointwise_norm = nn.BatchNorm2d(out)

    def frame_forward(self, t: Tensor, x: Tensor) -> Tensor:
        """Everything after the temporal layer on frames: ``t`` temporal output, ``x`` aligned block input."""
        y = F.relu(self.temporal_norm(t))
        y = self.pointwise_norm(self.pointwise(y))
        y = F.relu(y + self.skip(x))
        y = F.relu(self.spatial_norm(self.spatial(y)))
        return F.relu(self.spatial_pointwise_norm(self.spatial_pointwise(y)))

    def forward(self, x: Tensor, pad: str = "valid") -> Tensor:
        t = self.temporal(x, pad=pad)
        x_aligned = x[:, :, x.shape[2] - t.shape[2]:]
        return unfold_time(self.frame_forward(fold_time(t), fold_time(x_aligned)), x.shape[0])

    def step(self, frame: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        t, state = self.temporal.step(frame, state)
        return self.frame_forward(t, frame), state


class Head(nn.Module):
    """Spatial mean, then a 2-layer MLP per time step: (B, C, T, H, W) -> (B, num_classes, T)."""

    def __init__(self, channels: int, hidden: int, num_classes: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)

    def frame_forward(self, x: Tensor) -> Tensor:
        """(N, C, H, W) -> (N, num_classes)."""
        return self.fc2(F.relu(self.fc1(x.mean(dim=(2, 3)))))

    def forward(self, x: Tensor) -> Tensor:
        b = x.shape[0]
        y = self.frame_forward(fold_time(x))
        return y.reshape(b, -1, y.shape[1]).transpose(1, 2)


class PleiadesNet(nn.Module):
    """The (1+2)D network of ``config`` (a NetConfig); ``forward(x, pad=None)`` with x (B, C, T, H, W)."""

    def __init__(self, config: NetConfig) -> None:
        super().__init__()
        self.config = config
        self.blocks = nn.ModuleList(
            FullBlock(config, spec) if spec.kind == "full" else DWSBlock(config, spec) for spec in config.blocks
        )
        self.head = Head(config.blocks[-1].out_channels, config.head_hidden, config.num_classes)
        for i, block in enumerate(self.blocks):
            if config.temporal_mode(i) == "recurrent":
                t = block.temporal
                block.temporal = RecurrentTemporalConv(
                    t.in_channels, t.out_channels, config.kernel_size, config.degree, config.alpha, config.beta,
                    config.domain, groups=t.groups, scale_kernel_size=config.scale_kernel_size)

    def temporal_layers(self) -> list[TemporalConv]:
        """The temporal layers, block order."""
        return [b.temporal for b in self.blocks]

    def set_contraction(self, order: str) -> None:
        """Force "kernel" / "project" (or "auto") on every PLEIADES temporal layer."""
        for layer in self.temporal_layers():
            if isinstance(layer, PleiadesTemporalConv):
                layer.contraction = order

    def features(self, x: Tensor, pad: str | None = None) -> Tensor:
        """Output of the last block (B, C, T', H', W')."""
        pad = check_pad(pad or self.config.pad)
        if x.dim() != 5 or x.shape[1] != self.config.in_channels:
            raise PleiadesError(
                f"network input must be (batch, {self.config.in_channels}, time, height, width), "
                f"got {tuple(x.shape)}"
            )
        if pad == "valid" and x.shape[2] < self.config.receptive_field:
            raise PleiadesError(
                f"pad='valid' needs at least {self.config.receptive_field} frames (receptive field), "
                f"got {x.shape[2]}; use pad='causal' or a longer clip"
            )
        for block in self.blocks:
            x = block(x, pad=pad)
        return x

    def forward(self, x: Tensor, pad: str | None = None) -> Tensor:
        """Logits (B, num_classes, T'); T' = T (causal) or T - receptive_field + 1 (valid).

        ``pad`` defaults to ``config.pad``.
        """
        return self.head(self.features(x, pad))

    def init_state(self, batch: int, height: int | None = None, width: int | None = None,
                   device: Any = None, dtype: Any = None) -> list[Tensor]:
        """Zeroed streaming state (one FIFO per temporal layer) for frames of (height, width)."""
        sizes = self.config.spatial_sizes(height, width) if height is not None else self.config.spatial_sizes()
        return [blk.temporal.init_state(batch, h, w, device=device, dtype=dtype)
                for blk, (h, w) in zip(self.blocks, sizes)]

    def step(self, frame: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """One frame (B, C, H, W) -> (logits (B, num_classes), new state); equals forward(pad="causal")."""
        new_state = []
        x = frame
        for block, s in zip(self.blocks, state):
            x, s = block.step(x, s)
            new_state.append(s)
        return self.head.frame_forward(x), new_state

    def stream(self, clip: Tensor) -> Tensor:
        """Run ``step`` over every frame of ``clip`` (B, C, T, H, W) from a reset state -> (B, classes, T)."""
        b, _, t, h, w = clip.shape
        state = self.init_state(b, h, w, device=clip.device, dtype=clip.dtype)
        outs = []
        for i in range(t):
            y, state = self.step(clip[:, :, i], state)
            outs.append(y)
        return torch.stack(outs, dim=2)


def build_model(config: NetConfig | str, **overrides: Any) -> PleiadesNet:
    """A freshly initialised float network from a NetConfig or a preset name (with field overrides)."""
    from pleiades_fpga.model.presets import get_preset

    if isinstance(config, str):
        config = get_preset(config, **overrides)
    elif overrides:
        config = config.replace(**overrides)
    if not isinstance(config, NetConfig):
        raise PleiadesError(f"build_model needs a NetConfig or a preset name, got {type(config).__name__}")
    return PleiadesNet(config)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def macs_per_frame(config: NetConfig, height: int | None = None, width: int | None = None) -> dict[str, int]:
    """Multiply-accumulates per input frame in streaming (kernel-first temporal layers), by kind and total."""
    sizes = config.spatial_sizes(height, width) if height is not None else config.spatial_sizes()
    k, ks = config.kernel_size, config.spatial_kernel
    temporal = spatial = pointwise = 0
    for spec, (h, w), (ho, wo) in zip(config.blocks, sizes, sizes[1:]):
        if spec.kind == "full":
            temporal += h * w * spec.med_channels * spec.in_channels * k
            spatial += ho * wo * spec.out_channels * spec.med_channels * ks * ks
        else:
            temporal += h * w * spec.in_channels * k
            pointwise += 2 * h * w * spec.med_channels * spec.in_channels
            spatial += ho * wo * spec.med_channels * ks * ks
            pointwise += ho * wo * spec.out_channels * spec.med_channels
    head = config.blocks[-1].out_channels * config.head_hidden + config.head_hidden * config.num_classes
    total = temporal + spatial + pointwise + head
    return {"temporal": temporal, "spatial": spatial, "pointwise": pointwise, "head": head, "total": total}


def resample_model(model: PleiadesNet, kernel_size: int) -> PleiadesNet:
    """A copy whose temporal layers are re-discretized for ``kernel_size`` taps over the same window.

    The bin size changes by old/new kernel size (``config.bin_us`` is updated; it must stay an integer);
    PLEIADES layers rebuild their basis and keep the old scale (published rule), free layers interpolate
    their taps. That is right for the first layer, whose inputs are per-bin event counts (they scale with
    the bin). Deeper layers see activations whose size does not depend on the bin, so their taps are
    also multiplied by new/old bin size (bin integrals rather than bin averages of the same continuous
    kernel); without it their pre-norm outputs would grow by old/new bin size, which GroupNorm hides and
    eval-mode BatchNorm does not.
    """
    import copy

    cfg = model.config
    new_bin = cfg.bin_us * cfg.kernel_size / kernel_size
    if new_bin != int(new_bin):
        raise PleiadesError(
            f"re-sampling {cfg.kernel_size} -> {kernel_size} taps gives a bin of {new_bin} us (not an integer)"
        )
    new_cfg = cfg.replace(kernel_size=kernel_size, bin_us=int(new_bin),
                          scale_kernel_size=cfg.scale_kernel_size or cfg.kernel_size)
    new = copy.deepcopy(model)
    new.config = new_cfg
    ratio = cfg.kernel_size / kernel_size  # new bin / old bin
    for i, block in enumerate(new.blocks):
        block.temporal = block.temporal.resampled(kernel_size)
        if i > 0:
            with torch.no_grad():
                for param in block.temporal.parameters():
                    param.mul_(ratio)
    return new
