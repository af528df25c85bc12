"""Bias correction after post-training quantization (quant config ``bias_correction = true``).

Rounding the weights of a conv shifts the mean of its output channels by ``(W - Q(W)) . E[x]``: a systematic error
that the layers after it (GroupNorm statistics, ReLUs, the logits) do not average away. ``correct_biases`` measures
the mean of every conv's input channels on calibration clips (the quantized, BatchNorm-folded network in eval mode)
and adds that shift back to the conv's bias (which is then quantized to the accumulator scale like any bias), as in
Nagel et al., "Data-Free Quantization Through Weight Equalization and Bias Correction" (2019), with empirical means.
The weights themselves, their scales and every activation scale are unchanged, so the integer export is as before.
"""
from __future__ import annotations

import torch
from brevitas.nn import QuantConv3d
from torch import Tensor, nn

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.quant.network import QuantPleiadesNet, run_with_conv_hooks, value


def input_means(model: QuantPleiadesNet, frames: Tensor, progress: bool = False) -> dict[str, Tensor]:
    """Mean of every input channel of every conv of ``model`` (eval mode) over ``frames`` (N, C, T, H, W), one clip
    per pass: {conv name: (in_channels,) float64}."""
    sums: dict[str, Tensor] = {}
    counts: dict[str, int] = {}

    def hook(name: str):
        def record(_module: nn.Module, args: tuple, _kwargs: dict) -> None:
            x = value(args[0]).detach().double()
            dims = [d for d in range(x.dim()) if d != 1]
            sums[name] = sums.get(name, 0) + x.sum(dim=dims)
            counts[name] = counts.get(name, 0) + x.numel() // x.shape[1]
        return record

    convs = {n: m for n, m in model.named_modules() if isinstance(m, QuantConv3d)}
    run_with_conv_hooks(model, convs, hook, frames, "bias correction", progress)
    return {n: sums[n] / counts[n] for n in sums}


def conv_bias_shift(conv: QuantConv3d, mean_in: Tensor) -> Tensor:
    """(W - Q(W)) . mean_in per output channel of ``conv`` (groups respected): what weight rounding subtracts from
    the mean of each output channel."""
    with torch.no_grad():
        w = conv.weight.detach().double()
        delta = (w - conv.quant_weight().value.detach().double()).flatten(2).sum(2)  # (out, in/g): taps summed
    g = conv.groups
    out, per_group = delta.shape
    if mean_in.numel() != per_group * g:
        raise PleiadesError(f"bias correction: conv input has {mean_in.numel()} channels, the weights expect "
                            f"{per_group * g}")
    m = mean_in.reshape(g, 1, per_group).expand(g, out // g, per_group).reshape(out, per_group)
    return (delta * m).sum(1)


def correct_biases(model: QuantPleiadesNet, frames: Tensor, progress: bool = False) -> QuantPleiadesNet:
    """``model`` (BatchNorm folded, calibrated, eval mode) with every conv's bias corrected in place for the mean
    shift of its weight rounding, measured on ``frames`` (module docstring); returned for chaining."""
    if not model.quant_config.get("folded"):
        raise PleiadesError("bias correction needs the BatchNorm-folded network (quant.fold_batchnorm) whose "
                            "weights are the exported ones")
    model.eval()
    means = input_means(model, frames, progress)
    convs = dict(model.named_modules())
    with torch.no_grad():
        for name, mean_in in means.items():
            conv = convs[name]
            conv.bias.add_(conv_bias_shift(conv, mean_in).to(conv.bias.dtype))
    return model
