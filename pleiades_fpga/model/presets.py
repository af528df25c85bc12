"""Network configurations (``NetConfig``) and named presets ("dvs128", "default", "tiny")."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.model.polynomials import check_domain, check_jacobi_params

BLOCK_KINDS = ("full", "dws")
TEMPORAL_KINDS = ("pleiades", "free")
TEMPORAL_NORMS = ("group", "batch")
TEMPORAL_MODES = ("buffer", "recurrent")


@dataclass(frozen=True)
class BlockSpec:
    """One (1+2)D block: kind "full" or "dws", channels in -> med (temporal) -> out (spatial)."""

    kind: str
    in_channels: int
    med_channels: int
    out_channels: int

    def __post_init__(self) -> None:
        if self.kind not in BLOCK_KINDS:
            raise PleiadesError(f"block kind must be one of {BLOCK_KINDS}, got {self.kind!r}")
        for name in ("in_channels", "med_channels", "out_channels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise PleiadesError(f"block {name} must be an integer >= 1, got {value!r}")


@dataclass(frozen=True)
class NetConfig:
    """Everything needed to build a PLEIADES network (see pleiades_fpga.model.network).

    ``scale_kernel_size``: the kernel size the published 1/sqrt(K * in/groups) scale was defined for
    (None = ``kernel_size``); re-sampling changes ``kernel_size`` and ``bin_us`` and keeps it.
    ``pad``: default temporal padding of ``forward`` ("valid" = published, "causal" = streaming/hardware).
    ``norm_groups``: groups of the causal GroupNorm when ``temporal_norm == "group"``.
    """

    num_classes: int
    blocks: tuple[BlockSpec, ...]
    in_channels: int = 2
    input_size: tuple[int, int] = (32, 32)
    kernel_size: int = 10
    degree: int = 4
    alpha: float = -0.25
    beta: float = -0.25
    domain: tuple[float, float] = (0.0, 1.0)
    temporal_kind: str = "pleiades"
    temporal_norm: str = "batch"
    norm_groups: int = 4
    spatial_kernel: int = 3
    spatial_stride: int = 2
    spatial_padding: int = 1
    head_hidden: int = 64
    bin_us: int = 10_000
    scale_kernel_size: int | None = None
    pad: str = "causal"
    contraction: str = "auto"
    temporal: str | tuple[str, ...] = "buffer"

    def __post_init__(self) -> None:
        blocks = tuple(b if isinstance(b, BlockSpec) else BlockSpec(**b) if isinstance(b, dict) else BlockSpec(*b)
                       for b in self.blocks)
        object.__setattr__(self, "blocks", blocks)
        object.__setattr__(self, "input_size", tuple(int(v) for v in self.input_size))
        object.__setattr__(self, "domain", check_domain(self.domain))
        if not blocks:
            raise PleiadesError("NetConfig needs at least one block")
        for name in ("num_classes", "in_channels", "kernel_size", "norm_groups", "spatial_kernel",
                     "spatial_stride", "head_hidden", "bin_us"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise PleiadesError(f"NetConfig.{name} must be an integer >= 1, got {value!r}")
        if self.spatial_padding < 0:
            raise PleiadesError(f"NetConfig.spatial_padding must be >= 0, got {self.spatial_padding!r}")
        if len(self.input_size) != 2 or min(self.input_size) < 1:
            raise PleiadesError(f"NetConfig.input_size must be (height, width), got {self.input_size!r}")
        check_jacobi_params(self.degree, self.alpha, self.beta)
        if self.temporal_kind not in TEMPORAL_KINDS:
            raise PleiadesError(f"temporal_kind must be one of {TEMPORAL_KINDS}, got {self.temporal_kind!r}")
        if self.temporal_norm not in TEMPORAL_NORMS:
            raise PleiadesError(f"temporal_norm must be one of {TEMPORAL_NORMS}, got {self.temporal_norm!r}")
        if self.pad not in ("valid", "causal"):
            raise PleiadesError(f"pad must be 'valid' or 'causal', got {self.pad!r}")
        if self.contraction not in ("auto", "kernel", "project"):
            raise PleiadesError(f"contraction must be 'auto', 'kernel' or 'project', got {self.contraction!r}")
        object.__setattr__(self, "temporal", self._normalize_temporal(self.temporal, blocks))
        if self.temporal != "buffer" and self.temporal_kind != "pleiades":
            raise PleiadesError("recurrent temporal layers need temporal_kind='pleiades' (a polynomial basis to "
                                f"project onto), got temporal_kind={self.temporal_kind!r}")
        if self.scale_kernel_size is not None and self.scale_kernel_size < 1:
            raise PleiadesError(f"scale_kernel_size must be >= 1 or None, got {self.scale_kernel_size!r}")
        if blocks[0].in_channels != self.in_channels:
            raise PleiadesError(
                f"block 0 has in_channels={blocks[0].in_channels} but the network input has {self.in_channels}"
            )
        for i, (a, b) in enumerate(zip(blocks, blocks[1:])):
            if a.out_channels != b.in_channels:
                raise PleiadesError(
                    f"block {i} outputs {a.out_channels} channels but block {i + 1} expects {b.in_channels}"
                )
        if self.temporal_norm == "group":
            for i, b in enumerate(blocks):
                chans = (b.med_channels,) if b.kind == "full" else (b.in_channels, b.med_channels)
                for c in chans:
                    if c % self.norm_groups:
                        raise PleiadesError(
                            f"block {i}: {c} channels are not divisible by norm_groups={self.norm_groups}; "
                            "change the channels, norm_groups, or use temporal_norm='batch'"
                        )

    @staticmethod
    def _normalize_temporal(value: Any, blocks: tuple[BlockSpec, ...]) -> str | tuple[str, ...]:
        """"buffer"/"recurrent" for all blocks, or one mode per block (a list, or a mapping from block index
        or layer name "blocks.{i}.temporal" to a mode; unnamed blocks are "buffer")."""
        n = len(blocks)
        if isinstance(value, dict):
            modes = ["buffer"] * n
            for key, mode in value.items():
                k = str(key)
                idx = int(k) if k.isdigit() else int(k.split(".")[1]) if k.startswith("blocks.") and \
                    k.split(".")[1].isdigit() else -1
                if not 0 <= idx < n:
                    raise PleiadesError(f"NetConfig.temporal: unknown layer {key!r}; use a block index 0..{n - 1} "
                                        "or 'blocks.<i>.temporal'")
                modes[idx] = mode
            value = modes
        if isinstance(value, (list, tuple)):
            if len(value) != n:
                raise PleiadesError(f"NetConfig.temporal lists {len(value)} modes for {n} blocks")
            value = tuple(value)
            if len(set(value)) == 1:
                value = value[0]
        for mode in (value,) if isinstance(value, str) else value:
            if mode not in TEMPORAL_MODES:
                raise PleiadesError(f"NetConfig.temporal: mode must be one of {TEMPORAL_MODES}, got {mode!r}")
        return value

    def temporal_mode(self, index: int) -> str:
        """"buffer" or "recurrent" for the temporal layer of block ``index``."""
        return self.temporal if isinstance(self.temporal, str) else self.temporal[index]

    @property
    def receptive_field(self) -> int:
        """Frames one output depends on: 1 + (K-1) per temporal layer."""
        return 1 + len(self.blocks) * (self.kernel_size - 1)

    def spatial_sizes(self, height: int | None = None, width: int | None = None) -> list[tuple[int, int]]:
        """(H, W) at the input of each block, then after the last block."""
        h, w = (height, width) if height is not None else self.input_size
        sizes = [(h, w)]
        for _ in self.blocks:
            k, s, p = self.spatial_kernel, self.spatial_stride, self.spatial_padding
            h, w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
            sizes.append((h, w))
        return sizes

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serializable dict (inverse of ``from_dict``)."""
        d = dataclasses.asdict(self)
        d["blocks"] = [dataclasses.asdict(b) for b in self.blocks]
        d["input_size"] = list(self.input_size)
        d["domain"] = list(self.domain)
        if not isinstance(self.temporal, str):
            d["temporal"] = list(self.temporal)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "NetConfig":
        """Build from ``to_dict`` output; unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise PleiadesError(f"unknown NetConfig keys {sorted(unknown)}; known keys: {sorted(names)}")
        d = dict(d)
        d["blocks"] = tuple(BlockSpec(**b) if isinstance(b, dict) else BlockSpec(*b) for b in d["blocks"])
        return cls(**d)

    def replace(self, **changes: Any) -> "NetConfig":
        """A copy with some fields changed (validated)."""
        return NetConfig.from_dict({**self.to_dict(), **changes})


def _blocks(channels: list[int], kinds: list[str], in_channels: int = 2) -> tuple[BlockSpec, ...]:
    """Published channel rule: block b uses (in, med, out) = channels[2b-1], channels[2b], channels[2b+1]."""
    specs = []
    cin = in_channels
    for b, kind in enumerate(kinds):
        med, out = channels[2 * b], channels[2 * b + 1]
        specs.append(BlockSpec(kind, cin, med, out))
        cin = out
    return tuple(specs)


PRESETS: dict[str, NetConfig] = {
    # exactly the published DVS128 Gesture network (GroupNorm, valid padding, 191,610 parameters)
    "dvs128": NetConfig(
        num_classes=10,
        blocks=_blocks([8, 16, 32, 48, 64, 80, 96, 112, 128, 256], ["full", "full", "dws", "dws", "dws"]),
        input_size=(128, 128),
        kernel_size=10,
        degree=4,
        temporal_norm="group",
        head_hidden=256,
        pad="valid",
    ),
    # embedded default for the synthetic 32x32 gestures: BatchNorm everywhere (hardware-exportable)
    "default": NetConfig(
        num_classes=10,
        blocks=_blocks([8, 16, 16, 24, 32, 48, 48, 64], ["full", "full", "dws", "dws"]),
        input_size=(32, 32),
        kernel_size=10,
        degree=4,
        temporal_norm="batch",
        head_hidden=64,
    ),
    # small and fast: unit tests and RTL simulation
    "tiny": NetConfig(
        num_classes=10,
        blocks=_blocks([4, 8, 8, 16], ["full", "dws"]),
        input_size=(16, 16),
        kernel_size=5,
        degree=3,
        temporal_norm="batch",
        head_hidden=16,
    ),
}


def get_preset(name: str, **overrides: Any) -> NetConfig:
    """A preset by name with some fields overridden, e.g. ``get_preset("default", num_classes=11)``."""
    if name not in PRESETS:
        raise PleiadesError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name].replace(**overrides) if overrides else PRESETS[name]
