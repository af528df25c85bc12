"""Import the published PLEIADES DVS128 state_dict (Brainchip-Inc/TENNs-Pleiades layout) into a PleiadesNet.

Published layout is (B, C, H, W, T); kernels there are (..., kh, kw, kt). Key mapping (block b):

    conv_blocks.b.conv_t.0.weight (O, C/g, 1, 1, N+1) -> blocks.b.temporal.coeffs (O, C/g, N+1)
    conv_blocks.b.conv_t.0.transform (N+1, K)         checked against blocks.b.temporal.basis, dropped
    conv_blocks.b.conv_t.1.0.*   GroupNorm            -> blocks.b.temporal_norm.*
    conv_blocks.b.conv_t.2.weight (dws)               -> blocks.b.pointwise.weight
    conv_blocks.b.conv_t.3.0.* (dws)                  -> blocks.b.pointwise_norm.*
    conv_blocks.b.t_skip.* (dws)                      -> blocks.b.skip.*
    conv_blocks.b.conv_s.0.weight (O, C/g, 3, 3, 1)   -> blocks.b.spatial.weight
    conv_blocks.b.conv_s.1.0.*   BatchNorm            -> blocks.b.spatial_norm.*
    conv_blocks.b.conv_s.2.weight / conv_s.3.0.* (dws) -> blocks.b.spatial_pointwise / _norm
    classifier.1.0.* / classifier.1.2.* (Conv1d)      -> head.fc1.* / head.fc2.*
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.model.network import PleiadesNet
from pleiades_fpga.model.presets import BlockSpec, NetConfig

_NORM_KEYS = ("weight", "bias")
_BN_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _get(sd: Mapping[str, Tensor], key: str) -> Tensor:
    if key not in sd:
        raise PleiadesError(f"published state_dict has no key {key!r}; is this a PLEIADES DVS128 checkpoint?")
    return sd[key]


def published_config(sd: Mapping[str, Tensor], alpha: float = -0.25, beta: float = -0.25, norm_groups: int = 4,
                     input_size: tuple[int, int] = (128, 128), bin_us: int = 10_000) -> NetConfig:
    """NetConfig of a published state_dict (channels, K, degree and head inferred from the tensor shapes)."""
    blocks = []
    b = 0
    while f"conv_blocks.{b}.conv_t.0.weight" in sd:
        p = f"conv_blocks.{b}."
        wt = _get(sd, p + "conv_t.0.weight")
        if f"{p}t_skip.weight" in sd:
            cin = wt.shape[0]
            if wt.shape[1] != 1:
                raise PleiadesError(f"{p}conv_t.0.weight: a DWS block needs a depthwise kernel, got {tuple(wt.shape)}")
            med = _get(sd, p + "conv_t.2.weight").shape[0]
            out = _get(sd, p + "conv_s.2.weight").shape[0]
            blocks.append(BlockSpec("dws", int(cin), int(med), int(out)))
        else:
            out = _get(sd, p + "conv_s.0.weight").shape[0]
            blocks.append(BlockSpec("full", int(wt.shape[1]), int(wt.shape[0]), int(out)))
        b += 1
    if not blocks:
        raise PleiadesError("published state_dict has no conv_blocks.0.conv_t.0.weight; not a PLEIADES checkpoint")
    transform = _get(sd, "conv_blocks.0.conv_t.0.transform")
    fc1 = _get(sd, "classifier.1.0.weight")
    fc2 = _get(sd, "classifier.1.2.weight")
    return NetConfig(
        num_classes=int(fc2.shape[0]), blocks=tuple(blocks), in_channels=blocks[0].in_channels,
        input_size=input_size, kernel_size=int(transform.shape[1]), degree=int(transform.shape[0]) - 1,
        alpha=alpha, beta=beta, domain=(0.0, 1.0), temporal_kind="pleiades", temporal_norm="group",
        norm_groups=norm_groups, head_hidden=int(fc1.shape[0]), bin_us=bin_us, pad="valid",
    )


def convert_published_state_dict(sd: Mapping[str, Tensor], config: NetConfig) -> dict[str, Tensor]:
    """Our state_dict (names of PleiadesNet) from a published one; every published key must be used."""
    out: dict[str, Tensor] = {}
    used: set[str] = set()

    def take(src: str, dst: str, fn=lambda t: t) -> None:
        out[dst] = fn(_get(sd, src)).clone()
        used.add(src)

    for b, spec in enumerate(config.blocks):
        p, q = f"conv_blocks.{b}.", f"blocks.{b}."
        take(p + "conv_t.0.weight", q + "temporal.coeffs", lambda t: t.reshape(t.shape[0], t.shape[1], -1))
        take(p + "conv_t.0.transform", q + "temporal.basis")  # checked by import_published, then dropped
        for k in _NORM_KEYS:
            take(p + f"conv_t.1.0.{k}", q + f"temporal_norm.{k}")
        take(p + "conv_s.0.weight", q + "spatial.weight", lambda t: t[..., 0])
        for k in _BN_KEYS:
            take(p + f"conv_s.1.0.{k}", q + f"spatial_norm.{k}")
        if spec.kind == "dws":
            take(p + "conv_t.2.weight", q + "pointwise.weight", lambda t: t[..., 0])
            for k in _NORM_KEYS:
                take(p + f"conv_t.3.0.{k}", q + f"pointwise_norm.{k}")
            take(p + "t_skip.weight", q + "skip.weight", lambda t: t[..., 0])
            take(p + "t_skip.bias", q + "skip.bias")
            take(p + "conv_s.2.weight", q + "spatial_pointwise.weight", lambda t: t[..., 0])
            for k in _BN_KEYS:
                take(p + f"conv_s.3.0.{k}", q + f"spatial_pointwise_norm.{k}")
    for src, dst in (("classifier.1.0", "head.fc1"), ("classifier.1.2", "head.fc2")):
        take(src + ".weight", dst + ".weight", lambda t: t[..., 0])
        take(src + ".bias", dst + ".bias")
    unused = sorted(set(sd) - used)
    if unused:
        raise PleiadesError(f"published state_dict has keys this importer does not understand: {unused[:8]}")
    return out


def import_published(source: str | Path | Mapping[str, Tensor], check_basis: bool = True,
                     **config_kwargs: Any) -> PleiadesNet:
    """A PleiadesNet (eval mode) with the weights of a published state_dict (a path or the dict itself).

    With ``check_basis`` the stored ``transform`` of every block must equal our basis (published domain
    (0, 1), scale 1/sqrt(K * in/groups)) to 1e-5 relative error; our (exact) basis is used.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise PleiadesError(f"published checkpoint {path} does not exist")
        from pleiades_fpga.model.checkpoint import torch_load

        sd = torch_load(path, "published state_dict", "give a published PLEIADES state_dict (a .pt file of tensors)", weights_only=True)
        if isinstance(sd, dict) and "state_dict" in sd and not any(str(k).startswith("conv_blocks.") for k in sd):
            sd = sd["state_dict"]
        if not isinstance(sd, Mapping):
            raise PleiadesError(f"{path} holds a {type(sd).__name__}, not a state_dict (a mapping of tensors)")
    else:
        sd = source
    config = published_config(sd, **config_kwargs)
    model = PleiadesNet(config)
    new_sd = convert_published_state_dict(sd, config)
    for b, block in enumerate(model.blocks):
        ours = block.temporal.basis
        theirs = new_sd.pop(f"blocks.{b}.temporal.basis").to(ours.dtype)
        err = ((ours - theirs).abs().max() / ours.abs().max()).item()
        if check_basis and err > 1e-5:
            raise PleiadesError(
                f"block {b}: the published transform differs from our Jacobi basis (alpha={config.alpha}, "
                f"beta={config.beta}) by {err:.2e} relative; pass the right alpha/beta"
            )
    try:
        model.load_state_dict(new_sd)
    except RuntimeError as exc:
        raise PleiadesError(f"published weights do not fit the inferred network: {exc}") from exc
    return model.eval()
