"""Brevitas QAT version of the PLEIADES (1+2)D network (mirrors ``pleiades_fpga.model.network``).

Everything runs on (B, C, T, H, W) tensors with Conv3d layers (spatial convs have kernel (1, k, k),
pointwise and head layers (1, 1, 1), temporal layers (K, 1, 1)), so the QONNX export is a plain chain
of Conv / Relu / Add / ReduceMean with Quant nodes. Parameter names follow the float network
(``blocks.{i}.temporal.coeffs``, ``blocks.{i}.spatial.weight``, ``head.fc1.weight`` ...); float weights are
reshaped when fine-tuning from a float model. Extra modules: ``input_quant`` (event counts, scale 1),
``<block>.<layer>_act`` (QuantReLU after each norm), ``<dws block>.add_quant`` (one signed quantizer
shared by both inputs of the skip add, so the integer add is exact) and ``add_act``, ``head.pool_quant``,
``head.fc1_act``. Every conv has a bias quantized to its accumulator scale (zero until BatchNorm is
folded into it, see ``pleiades_fpga.quant.fold``). The logits are the dequantized accumulators of
``head.fc2``. With ``temporal_norm == "group"`` the temporal (and DWS pointwise) norms are ``QuantGroupNorm``
(``pleiades_fpga.quant.groupnorm``: input quantizer ``<norm>.in_quant``, exact integer GroupNorm in eval) that
quantize straight to the block's ``temporal_act`` (unsigned, ReLU) or the DWS ``add_quant`` (signed).
"""
from __future__ import annotations

import copy
from typing import Any

import brevitas.config
import torch
from brevitas.nn import QuantConv3d, QuantIdentity, QuantReLU
from brevitas.quant_tensor import QuantTensor
from torch import Tensor, nn

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.ir.integers import GN_P
from pleiades_fpga.model.presets import BlockSpec, NetConfig
from pleiades_fpga.quant.config import bits_for, normalize_spec, resolve_spec
from pleiades_fpga.quant.groupnorm import QuantGroupNorm, norm_act
from pleiades_fpga.quant.quantizers import BiasAccQuant, IntActPoT, UintActPoT, input_quant_kwargs, weight_quant_kwargs
from pleiades_fpga.quant.temporal import QuantFreeTemporalConv, QuantPleiadesConv

# activation scales are learned state that an untrained model does not have yet: let Brevitas accept it missing
brevitas.config.IGNORE_MISSING_KEYS = True


def value(x: Any) -> Tensor:
    """The float tensor of a QuantTensor (or the tensor itself, e.g. while exporting)."""
    return x.value if isinstance(x, QuantTensor) else x


def drop_frames(x: Any, n: int) -> Any:
    """``x[:, :, n:]`` for tensors and QuantTensors (keeps the quantization metadata)."""
    if isinstance(x, QuantTensor):
        return x.set(value=x.value[:, :, n:])
    return x[:, :, n:]


class _Builder:
    """Creates the quantized layers of one network with bit widths looked up by module name."""

    def __init__(self, config: NetConfig, spec: dict[str, Any]) -> None:
        self.config = config
        self.spec = spec

    def conv(self, name: str, cin: int, cout: int, kernel=(1, 1, 1), stride=1, padding=0, groups=1) -> QuantConv3d:
        conv = QuantConv3d(cin, cout, kernel, stride=stride, padding=padding, groups=groups, bias=True,
                           **weight_quant_kwargs(self.spec, bits_for(self.spec, name, "weight_bits")),
                           bias_quant=BiasAccQuant, return_quant_tensor=False)
        with torch.no_grad():
            conv.bias.zero_()
        return conv

    def spatial(self, name: str, cin: int, cout: int, groups: int) -> QuantConv3d:
        k, s, p = self.config.spatial_kernel, self.config.spatial_stride, self.config.spatial_padding
        return self.conv(name, cin, cout, (1, k, k), (1, s, s), (0, p, p), groups)

    def temporal(self, name: str, cin: int, cout: int, groups: int) -> nn.Module:
        cfg = self.config
        bits = bits_for(self.spec, name, "weight_bits")
        if cfg.temporal_kind == "free":
            return QuantFreeTemporalConv(cin, cout, cfg.kernel_size, groups, bits, spec=self.spec)
        from pleiades_fpga.model.temporal import PleiadesTemporalConv

        ref = PleiadesTemporalConv(cin, cout, cfg.kernel_size, cfg.degree, cfg.alpha, cfg.beta, cfg.domain,
                                   groups=groups, scale_kernel_size=cfg.scale_kernel_size)
        meta = {"kernel_size": cfg.kernel_size, "degree": cfg.degree, "alpha": cfg.alpha, "beta": cfg.beta,
                "domain": list(cfg.domain), "scale_kernel_size": ref.scale_kernel_size, "bin_us": cfg.bin_us}
        layer = QuantPleiadesConv(cin, cout, ref.basis, groups, bits, meta, spec=self.spec)
        with torch.no_grad():
            layer.coeffs.copy_(ref.coeffs)
        return layer

    def norm(self, name: str, channels: int, folded: bool) -> nn.Module:
        """The norm after a temporal/pointwise conv: a QuantGroupNorm (never folded; its input quantizer is
        ``<name>.in_quant``), else BatchNorm (Identity once folded)."""
        if self.config.temporal_norm == "group":
            gn = QuantGroupNorm(self.config.norm_groups, channels, self.signed_act(f"{name}.in_quant"), eps=1e-5,
                                stats=self.spec.get("groupnorm_stats", "frame"),
                                precision=self.spec.get("groupnorm_p", GN_P))
            gn.name = name
            return gn
        return nn.Identity() if folded else nn.BatchNorm3d(channels)

    def bn(self, channels: int, folded: bool) -> nn.Module:
        return nn.Identity() if folded else nn.BatchNorm3d(channels)

    def act_kwargs(self, name: str) -> dict[str, Any]:
        """Width and calibration percentile (quant config ``act_percentile``, default or per layer; else the
        quantizers' 99.9) of the activation quantizer ``name``."""
        kw: dict[str, Any] = {"bit_width": bits_for(self.spec, name, "act_bits"), "return_quant_tensor": True}
        percentile = bits_for(self.spec, name, "act_percentile")
        if percentile is not None:
            kw["high_percentile_q"] = float(percentile)
        return kw

    def relu(self, name: str) -> QuantReLU:
        return QuantReLU(act_quant=UintActPoT, **self.act_kwargs(name))

    def unsigned_act(self, name: str) -> QuantIdentity:
        return QuantIdentity(act_quant=UintActPoT, **self.act_kwargs(name))

    def signed_act(self, name: str) -> QuantIdentity:
        return QuantIdentity(act_quant=IntActPoT, **self.act_kwargs(name))


class QuantFullBlock(nn.Module):
    """Temporal conv in->med, norm, QuantReLU; spatial conv med->out, BatchNorm, QuantReLU."""

    def __init__(self, b: _Builder, prefix: str, spec: BlockSpec, folded: bool) -> None:
        super().__init__()
        self.temporal = b.temporal(f"{prefix}.temporal", spec.in_channels, spec.med_channels, 1)
        self.temporal_norm = b.norm(f"{prefix}.temporal_norm", spec.med_channels, folded)
        self.temporal_act = b.relu(f"{prefix}.temporal_act")
        self.spatial = b.spatial(f"{prefix}.spatial", spec.med_channels, spec.out_channels, 1)
        self.spatial_norm = b.bn(spec.out_channels, folded)
        self.spatial_act = b.relu(f"{prefix}.spatial_act")

    def forward(self, x, pad: str = "valid"):
        y = norm_act(self.temporal_norm, self.temporal(x, pad=pad), self.temporal_act)
        return self.spatial_act(self.spatial_norm(self.spatial(y)))


class QuantDWSBlock(nn.Module):
    """Depthwise-separable block with the temporal skip; both add inputs share ``add_quant``."""

    def __init__(self, b: _Builder, prefix: str, spec: BlockSpec, folded: bool) -> None:
        super().__init__()
        cin, med, out = spec.in_channels, spec.med_channels, spec.out_channels
        self.temporal = b.temporal(f"{prefix}.temporal", cin, cin, cin)
        self.temporal_norm = b.norm(f"{prefix}.temporal_norm", cin, folded)
        self.temporal_act = b.relu(f"{prefix}.temporal_act")
        self.pointwise = b.conv(f"{prefix}.pointwise", cin, med)
        self.pointwise_norm = b.norm(f"{prefix}.pointwise_norm", med, folded)
        self.skip = b.conv(f"{prefix}.skip", cin, med)
        self.add_quant = b.signed_act(f"{prefix}.add_quant")
        self.add_act = b.relu(f"{prefix}.add_act")
        self.spatial = b.spatial(f"{prefix}.spatial", med, med, med)
        self.spatial_norm = b.bn(med, folded)
        self.spatial_act = b.relu(f"{prefix}.spatial_act")
        self.spatial_pointwise = b.conv(f"{prefix}.spatial_pointwise", med, out)
        self.spatial_pointwise_norm = b.bn(out, folded)
        self.spatial_pointwise_act = b.relu(f"{prefix}.spatial_pointwise_act")

    def forward(self, x, pad: str = "valid"):
        t = norm_act(self.temporal_norm, self.temporal(x, pad=pad), self.temporal_act)
        x_aligned = x if pad == "causal" else drop_frames(x, self.temporal.kernel_size_t - 1)
        main = norm_act(self.pointwise_norm, self.pointwise(t), self.add_quant)
        skip = self.add_quant(self.skip(x_aligned))
        y = self.add_act(value(main) + value(skip))
        y = self.spatial_act(self.spatial_norm(self.spatial(y)))
        return self.spatial_pointwise_act(self.spatial_pointwise_norm(self.spatial_pointwise(y)))


class QuantHead(nn.Module):
    """Spatial mean, quantize, fc1 (1x1x1 conv) + QuantReLU, fc2 -> logits (B, classes, T)."""

    def __init__(self, b: _Builder, channels: int, hidden: int, num_classes: int) -> None:
        super().__init__()
        self.pool_quant = b.unsigned_act("head.pool_quant")
        self.fc1 = b.conv("head.fc1", channels, hidden)
        self.fc1_act = b.relu("head.fc1_act")
        self.fc2 = b.conv("head.fc2", hidden, num_classes)

    def forward(self, x) -> Tensor:
        y = self.pool_quant(value(x).mean(dim=(3, 4), keepdim=True))
        y = self.fc2(self.fc1_act(self.fc1(y)))
        return y[:, :, :, 0, 0]


class QuantPleiadesNet(nn.Module):
    """Quantized network; ``forward(x, pad=None)`` like the float ``PleiadesNet`` (logits (B, classes, T'))."""

    def __init__(self, config: NetConfig, quant_config: dict[str, Any]) -> None:
        super().__init__()
        self.config = config
        self.quant_config = dict(quant_config)
        folded = bool(self.quant_config.get("folded", False))
        b = _Builder(config, self.quant_config)
        self.input_quant = QuantIdentity(**input_quant_kwargs(self.quant_config["input_bits"]),
                                         return_quant_tensor=True)
        self.blocks = nn.ModuleList(
            (QuantFullBlock if spec.kind == "full" else QuantDWSBlock)(b, f"blocks.{i}", spec, folded)
            for i, spec in enumerate(config.blocks)
        )
        self.head = QuantHead(b, config.blocks[-1].out_channels, config.head_hidden, config.num_classes)
        for i, block in enumerate(self.blocks):  # recurrent temporal layers (issue #6)
            if config.temporal_mode(i) == "recurrent":
                from pleiades_fpga.quant.recurrent import DEFAULT_STATE_BITS, QuantRecurrentConv

                t, name = block.temporal, f"blocks.{i}.temporal"
                block.temporal = QuantRecurrentConv(
                    t.in_channels, t.out_channels, config.kernel_size, config.degree, config.alpha, config.beta,
                    config.domain, t.groups, config.scale_kernel_size, bits_for(self.quant_config, name, "weight_bits"),
                    int(self.quant_config.get("state_bits", DEFAULT_STATE_BITS)), spec=self.quant_config,
                    meta=getattr(t, "meta", None))

    def temporal_layers(self) -> list[nn.Module]:
        return [blk.temporal for blk in self.blocks]

    def forward(self, x: Tensor, pad: str | None = None) -> Tensor:
        pad = pad or self.config.pad
        if pad not in ("valid", "causal"):
            raise PleiadesError(f"pad must be 'valid' or 'causal', got {pad!r}")
        if x.dim() != 5 or x.shape[1] != self.config.in_channels:
            raise PleiadesError(
                f"network input must be (batch, {self.config.in_channels}, time, height, width), got {tuple(x.shape)}"
            )
        if pad == "valid" and x.shape[2] < self.config.receptive_field:
            raise PleiadesError(
                f"pad='valid' needs at least {self.config.receptive_field} frames, got {x.shape[2]}; use pad='causal'"
            )
        y = self.input_quant(x)
        for block in self.blocks:
            y = block(y, pad=pad)
        return self.head(y)


def copy_float_weights(quant: QuantPleiadesNet, float_model: nn.Module) -> list[str]:
    """Copy every float parameter/buffer into the same-named quant tensor (reshaped: Conv2d/Linear -> Conv3d).

    Returns the quant model's float-side keys that had no counterpart (e.g. the conv biases added for BN folding).
    """
    target = quant.state_dict()
    copied = set()
    with torch.no_grad():
        for key, tensor in float_model.state_dict().items():
            if key not in target:
                raise PleiadesError(f"float parameter {key!r} has no counterpart in the quantized network")
            if target[key].numel() != tensor.numel():
                raise PleiadesError(
                    f"float parameter {key!r} has shape {tuple(tensor.shape)}, quantized {tuple(target[key].shape)}"
                )
            target[key] = tensor.reshape(target[key].shape).to(target[key].dtype)
            copied.add(key)
    quant.load_state_dict(target)
    return [k for k in target if k not in copied and "quant" not in k]


def build_quant_model(config: NetConfig, quant_spec: Any, init_from: nn.Module | None = None) -> QuantPleiadesNet:
    """A QAT network for ``config`` with bit widths from ``quant_spec`` ("w4a4", a config file, or a dict).

    ``init_from``: a float ``PleiadesNet`` (same config) whose weights are copied (fine-tuning).
    """
    if not isinstance(config, NetConfig):
        raise PleiadesError(f"build_quant_model needs a NetConfig, got {type(config).__name__}")
    if isinstance(quant_spec, dict):
        folded = bool(quant_spec.get("folded", False))
        spec = normalize_spec({k: v for k, v in quant_spec.items() if k != "folded"})
        spec["folded"] = folded
    else:
        spec = resolve_spec(quant_spec)
        spec["folded"] = False
    model = QuantPleiadesNet(config, spec)
    if init_from is not None:
        if spec["folded"]:
            raise PleiadesError("cannot fine-tune a BatchNorm-folded quant model from a float model")
        if getattr(init_from, "quant_config", None) is not None:
            raise PleiadesError("init_from must be a float model (it already has a quant_config)")
        if getattr(init_from, "config", config) != config:
            raise PleiadesError("init_from has a different NetConfig than the quantized network")
        copy_float_weights(model, init_from)
    return model


def clone(model: QuantPleiadesNet) -> QuantPleiadesNet:
    """Deep copy (Brevitas proxies included)."""
    return copy.deepcopy(model)


def run_with_conv_hooks(model: nn.Module, convs: dict[str, nn.Module], hook, frames: Tensor, desc: str,
                        progress: bool = False) -> None:
    """Run ``model`` on ``frames`` (N, C, T, H, W), one clip per pass, causal, no gradients, with
    ``hook(name)`` (a forward pre-hook taking (module, args, kwargs)) on every module of ``convs`` (name -> module);
    ``desc``: the tqdm bar's label."""
    from tqdm import tqdm

    handles = [m.register_forward_pre_hook(hook(n), with_kwargs=True) for n, m in convs.items()]
    try:
        with torch.no_grad():
            for i in tqdm(range(len(frames)), desc=desc, unit="clip", disable=not progress, leave=False):
                model(frames[i:i + 1].float(), pad="causal")
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def calibrate(model: QuantPleiadesNet, clips: Tensor, batch_size: int = 8, passes: int | None = None,
              pad: str = "causal", freeze_norms: bool = False, progress: bool = False) -> QuantPleiadesNet:
    """Set activation scales (and BatchNorm statistics) from data: forward passes in train mode, no gradients.

    ``passes`` defaults to the number of statistics steps of the activation quantizers, after which their
    scales become fixed parameters. ``freeze_norms`` keeps BatchNorm layers in eval mode (their trained running
    statistics are used and kept: post-training quantization of a trained float model). ``progress``: a tqdm bar
    over the passes. The model is returned in eval mode.
    """
    from tqdm import tqdm

    from pleiades_fpga.quant.quantizers import UintActPoT

    passes = passes or UintActPoT.collect_stats_steps + 1
    model.train()
    if freeze_norms:
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
    n = len(clips)
    for i in tqdm(range(passes), desc="calibrating", unit="pass", disable=not progress, leave=False):
        start = (i * batch_size) % max(1, n)
        model(clips[start:start + batch_size].float(), pad=pad)
    return model.eval()
