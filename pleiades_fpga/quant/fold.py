"""BatchNorm folding for export: conv(+bias) -> BN becomes one conv with scaled weights and a new bias.

For a conv with output ``z = W*x + b`` and eval-mode BN ``(z - mu) / sqrt(var + eps) * g + beta``, the
folded conv has ``W' = W * f`` and ``b' = (b - mu) * f + beta`` with ``f = g / sqrt(var + eps)`` per
output channel. A PLEIADES kernel is linear in its coefficients, so the temporal layers fold ``f`` into
``coeffs`` (the kernel stays coeffs @ basis and can still be re-sampled). Quantizers then see the
folded weights (per-channel power-of-two scales re-adapt); activation scales are kept. Causal GroupNorm
cannot be folded (per-frame statistics) and is rejected with the layer name.
"""
from __future__ import annotations

import torch
from torch import nn

from pleiades_fpga.errors import UnsupportedModelError
from pleiades_fpga.quant.network import PerFrameGroupNorm, QuantDWSBlock, QuantPleiadesNet
from pleiades_fpga.quant.temporal import QuantPleiadesConv

FULL_PAIRS = (("temporal", "temporal_norm"), ("spatial", "spatial_norm"))
DWS_PAIRS = (("temporal", "temporal_norm"), ("pointwise", "pointwise_norm"), ("spatial", "spatial_norm"),
             ("spatial_pointwise", "spatial_pointwise_norm"))


def check_exportable(model: QuantPleiadesNet) -> None:
    """Raise UnsupportedModelError naming the first layer that has no integer export (GroupNorm)."""
    for name, module in model.named_modules():
        if isinstance(module, (nn.GroupNorm, PerFrameGroupNorm)):
            raise UnsupportedModelError(
                f"layer {name!r} is a causal GroupNorm, which has no hardware export yet (its statistics change "
                "every frame); train with temporal_norm='batch' (BatchNorm, folded into the conv for export)"
            )


def fold_batchnorm(model: QuantPleiadesNet) -> QuantPleiadesNet:
    """A BatchNorm-free copy of ``model`` (eval mode) with every BN folded into the conv before it.

    A model that is already folded is returned as a copy.
    """
    if not isinstance(model, QuantPleiadesNet):
        raise UnsupportedModelError(
            f"fold_batchnorm needs a quantized PLEIADES network, got {type(model).__name__}; "
            "train with --quant (QAT) first"
        )
    check_exportable(model)
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
                if not isinstance(bn, nn.BatchNorm3d):
                    raise UnsupportedModelError(f"layer 'blocks.{i}.{norm_name}' is {type(bn).__name__}, not BatchNorm")
                f = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                conv_src, conv_dst = getattr(src, conv_name), getattr(dst, conv_name)
                if hasattr(conv_src, "readout"):  # recurrent temporal layer: BN folds into its 1x1x1 readout
                    conv_src, conv_dst = conv_src.readout, conv_dst.readout
                if isinstance(conv_src, QuantPleiadesConv):
                    conv_dst.coeffs.copy_(conv_src.coeffs * f[:, None, None])
                else:
                    conv_dst.weight.copy_(conv_src.weight * f.view(-1, *([1] * (conv_src.weight.dim() - 1))))
                conv_dst.bias.copy_((conv_src.bias - bn.running_mean) * f + bn.bias)
    return folded.eval()
