"""BatchNorm folding for export: conv(+bias) -> BN becomes one conv with scaled weights and a new bias.

For a conv with output ``z = W*x + b`` and eval-mode BN ``(z - mu) / sqrt(var + eps) * g + beta``, the
folded conv has ``W' = W * f`` and ``b' = (b - mu) * f + beta`` with ``f = g / sqrt(var + eps)`` per
output channel. A PLEIADES kernel is linear in its coefficients, so the temporal layers fold ``f`` into
``coeffs`` (the kernel stays coeffs @ basis and can still be re-sampled). Quantizers then see the
folded weights (per-channel power-of-two scales re-adapt); activation scales are kept. Causal GroupNorm
cannot be folded (per-frame statistics): it stays a ``QuantGroupNorm`` (exported as ``PleiadesGroupNorm``).
``check_exportable(config, spec)`` refuses what has no integer export from the configuration alone, before any
calibration.
"""
from __future__ import annotations

import torch
from torch import nn

from pleiades_fpga.errors import UnsupportedModelError
from pleiades_fpga.ir.integers import GN_M_BITS, GN_P, groupnorm_acc_bits
from pleiades_fpga.model.presets import NetConfig
from pleiades_fpga.quant.config import bits_for
from pleiades_fpga.quant.groupnorm import QuantGroupNorm
from pleiades_fpga.quant.network import QuantDWSBlock, QuantPleiadesNet
from pleiades_fpga.quant.temporal import QuantPleiadesConv

FULL_PAIRS = (("temporal", "temporal_norm"), ("spatial", "spatial_norm"))
M_MAX = 2 ** (GN_M_BITS - 1) - 1  # largest GroupNorm multiplier |M[c]|
DWS_PAIRS = (("temporal", "temporal_norm"), ("pointwise", "pointwise_norm"), ("spatial", "spatial_norm"),
             ("spatial_pointwise", "spatial_pointwise_norm"))


def check_exportable(config: NetConfig, spec: dict, height: int | None = None, width: int | None = None) -> None:
    """Refuse (UnsupportedModelError naming the layer and the fix) a network of ``config`` quantized with ``spec``
    that has no exact integer export, from the configuration alone (seconds, before calibration): every causal
    GroupNorm's accumulator width for its input width, frame size and P at the largest multiplier M (so that
    ``groupnorm_params`` never has to shorten M for the accumulator's sake)."""
    if config.temporal_norm != "group":
        return
    sizes = config.spatial_sizes(height, width) if height is not None else config.spatial_sizes()
    p = int(spec.get("groupnorm_p", GN_P))
    for i, (blk, (h, w)) in enumerate(zip(config.blocks, sizes)):
        norms = [("temporal_norm", blk.med_channels if blk.kind == "full" else blk.in_channels)]
        if blk.kind == "dws":
            norms.append(("pointwise_norm", blk.med_channels))
        for norm, channels in norms:
            name = f"blocks.{i}.{norm}"
            bits = bits_for(spec, f"{name}.in_quant", "act_bits")
            groupnorm_acc_bits(channels // config.norm_groups * h * w, bits, True, [M_MAX], [0], 0, p, name=name)


def fold_batchnorm(model: QuantPleiadesNet) -> QuantPleiadesNet:
    """A BatchNorm-free copy of ``model`` (eval mode) with every BN folded into the conv before it.

    A model that is already folded is returned as a copy.
    """
    if not isinstance(model, QuantPleiadesNet):
        raise UnsupportedModelError(
            f"fold_batchnorm needs a quantized PLEIADES network, got {type(model).__name__}; "
            "train with --quant (QAT) first"
        )
    spec = dict(model.quant_config, folded=True)
    folded = QuantPleiadesNet(model.config, spec)
    # everything but the norms (activation scales included: they are absent from a fresh model's state_dict)
    norms = tuple(f"{name}." for name, m in model.named_modules() if isinstance(m, nn.BatchNorm3d))
    folded.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith(norms)}, strict=False)
    if model.quant_config.get("folded"):
        return folded.eval()
    with torch.no_grad():
        for i, (src, dst) in enumerate(zip(model.blocks, folded.blocks)):
            pairs = DWS_PAIRS if isinstance(src, QuantDWSBlock) else FULL_PAIRS
            for conv_name, norm_name in pairs:
                bn = getattr(src, norm_name)
                if isinstance(bn, QuantGroupNorm):  # not foldable: kept (its weights were loaded above)
                    continue
                if not isinstance(bn, nn.BatchNorm3d):
                    raise UnsupportedModelError(f"layer 'blocks.{i}.{norm_name}' is {type(bn).__name__}, not BatchNorm")
                f = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                conv_src, conv_dst = getattr(src, conv_name), getattr(dst, conv_name)
                if hasattr(conv_src, "readout"):  # recurrent temporal layer: BN folds into its 1x1x1 readout
                    conv_src, conv_dst = conv_src.readout, conv_dst.readout
                if isinstance(conv_src, QuantPleiadesConv):
                    conv_dst.coeffs.copy_(conv_src.coeffs * f[:, None, None])
                    conv_dst.tap_offset.copy_(conv_src.tap_offset * f[:, None, None])
                else:
                    conv_dst.weight.copy_(conv_src.weight * f.view(-1, *([1] * (conv_src.weight.dim() - 1))))
                conv_dst.bias.copy_((conv_src.bias - bn.running_mean) * f + bn.bias)
    return folded.eval()
