"""GPTQ-style weight rounding after post-training quantization (quant config ``weight_rounding = "gptq"``).

Round-to-nearest rounds every weight on its own. GPTQ (Frantar et al., "GPTQ: Accurate Post-Training Quantization
for Generative Pre-trained Transformers", 2023; after Optimal Brain Quantization) rounds the input columns of a
layer one at a time and spreads each column's rounding error over the columns not yet rounded, weighted by the
inverse of ``H = X^T X`` (X: the layer's input patches on calibration clips), which minimizes ``||X (W - Q)^T||``
much better than rounding to nearest.

Here every ``QuantConv3d`` (spatial, pointwise, skip, head and temporal convs) of the BatchNorm-folded, calibrated
network gets its H from one pass over the calibration clips (the quantized network's own inputs), then its weights
replaced by GPTQ's grid values; a PLEIADES temporal layer, whose taps are generated from polynomial coefficients,
keeps its coefficients and takes the difference as its ``tap_offset``. The per-channel scales are kept: they come
from each channel's largest |w|, so that weight keeps its float value and every other weight stays below it. The
integer export is unchanged in form (weights on the same grid, same scales); activation scales are not touched.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from brevitas.nn import QuantConv3d
from torch import Tensor, nn
from tqdm import tqdm

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.quant.network import QuantPleiadesNet, run_with_conv_hooks, value
from pleiades_fpga.quant.temporal import QuantPleiadesConv, pad_time

DAMP = 0.01  # H's diagonal is raised by this fraction of its mean (GPTQ's percdamp)
FRAMES_PER_CHUNK = 8  # input frames unfolded at once while H is accumulated (memory)


def conv_patches(conv: nn.Conv3d, x: Tensor) -> Tensor:
    """The input patches of ``conv`` over ``x`` (B, C, T, H, W) (already padded in time), as (groups, positions,
    in/groups * taps) in the weight's (in, kt, kh, kw) order. Kernels are (kt, 1, 1) or (1, kh, kw)."""
    kt, kh, kw = conv.kernel_size
    b, c, t, h, w = x.shape
    g = conv.groups
    if kt > 1 and (kh, kw) != (1, 1):
        raise PleiadesError(f"GPTQ rounding handles (K,1,1) and (1,k,k) kernels; this conv has {conv.kernel_size}")
    if kt > 1:  # temporal taps: (B, C, T', H, W, K) -> positions x (C, K)
        cols = x.unfold(2, kt, conv.stride[0]).permute(0, 2, 3, 4, 1, 5).reshape(-1, c, kt)
    else:
        frames = x.transpose(1, 2).reshape(b * t, c, h, w)
        u = F.unfold(frames, (kh, kw), padding=conv.padding[1:], stride=conv.stride[1:])  # (BT, C*kh*kw, L)
        cols = u.transpose(1, 2).reshape(-1, c, kh * kw)
    return cols.reshape(cols.shape[0], g, -1).transpose(0, 1)


def layer_hessians(model: nn.Module, convs: dict[str, nn.Conv3d], frames: Tensor,
                   progress: bool = False) -> dict[str, Tensor]:
    """``H = X^T X`` (groups, d, d) of every conv in ``convs`` (name -> module of ``model``) over the inputs it sees
    while ``model`` runs on ``frames`` (N, C, T, H, W), one clip per pass, causal (float32 sums per chunk of
    frames, added up in float64)."""
    hs: dict[str, Tensor] = {}

    def hook(name: str):
        def record(module: nn.Module, args: tuple, kwargs: dict) -> None:
            x = value(args[0]).detach()
            if hasattr(module, "kernel_size_t"):  # a temporal layer pads in its forward
                x = pad_time(x, module.kernel_size_t, kwargs.get("pad", args[1] if len(args) > 1 else "valid"))
            kt = module.kernel_size[0]
            for t0 in range(0, x.shape[2] - kt + 1, FRAMES_PER_CHUNK):
                p = conv_patches(module, x[:, :, t0:t0 + FRAMES_PER_CHUNK + kt - 1]).float()
                hs[name] = hs.get(name, 0) + (p.transpose(1, 2) @ p).double()  # float32 per chunk: 2x faster
        return record

    run_with_conv_hooks(model, convs, hook, frames, "GPTQ statistics", progress)
    return hs


def gptq_round(w: Tensor, scale: Tensor, limit: Tensor, h: Tensor, fixed: Tensor | None = None,
               damp: float = DAMP) -> Tensor:
    """GPTQ integer codes of ``w`` (groups, rows, d) on the per-row grid ``scale`` (groups, rows, 1), each code
    within +-``limit`` (groups, rows, 1), for the input statistics ``h`` (groups, d, d): columns rounded in order,
    each column's error fed back to the later ones through the Cholesky factor of H^-1. ``fixed`` (like ``w``):
    codes imposed where it is not NaN (their error is fed back too)."""
    w = w.double().clone()
    h = h.double().clone()
    d = h.shape[-1]
    diag = torch.diagonal(h, dim1=-2, dim2=-1)
    dead = diag <= 0  # inputs that are always zero: their weights do not matter; rounded to nearest
    diag[dead] = 1.0
    diag += damp * diag.mean(-1, keepdim=True)
    u = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)
    codes = torch.empty_like(w)
    s = scale.double()
    for i in range(d):
        col = w[:, :, i:i + 1]
        q = torch.maximum(torch.minimum(torch.round(col / s), limit), -limit)
        if fixed is not None:
            q = torch.where(torch.isnan(fixed[:, :, i:i + 1]), q, fixed[:, :, i:i + 1].double())
        codes[:, :, i:i + 1] = q
        err = (col - q * s) / u[:, i, i].view(-1, 1, 1)
        w[:, :, i + 1:] -= err * u[:, i:i + 1, i + 1:]
    return codes


def gptq_conv(conv: QuantConv3d, h: Tensor, damp: float = DAMP) -> None:
    """Replace the weights of ``conv`` (per-output-channel scales) in place by GPTQ's grid values for the input
    statistics ``h`` (module docstring: each channel's largest |w| and so its scale are kept)."""
    with torch.no_grad():
        qw = conv.quant_weight()
        scale = qw.scale.detach().double().reshape(-1, 1)  # (out, 1)
        w = conv.weight.detach().double()
        out = w.shape[0]
        flat = w.reshape(out, -1)
        g = conv.groups
        wmax = flat.abs().max(1, keepdim=True)
        narrow_max = 2.0 ** (float(qw.bit_width) - 1) - 1  # narrow-range weights: codes within +-narrow_max
        top = torch.round(wmax.values / scale).clamp(max=narrow_max)  # each row's largest code, rounded to nearest
        fixed = torch.full_like(flat, float("nan"))
        fixed.scatter_(1, wmax.indices, torch.sign(flat.gather(1, wmax.indices)) * top)
        shape = (g, out // g, -1)
        codes = gptq_round(flat.reshape(shape), scale.reshape(shape[:2] + (1,)), top.reshape(shape[:2] + (1,)), h,
                           fixed.reshape(shape), damp).reshape(out, -1)
        # never past the row's max (a code at the top: the max's own value), the max itself kept: same scale
        new = torch.sign(codes) * torch.minimum(codes.abs() * scale, wmax.values)
        new.scatter_(1, wmax.indices, flat.gather(1, wmax.indices))
        if isinstance(conv, QuantPleiadesConv):  # generated taps: the difference goes to the offset (0 at the max)
            conv.tap_offset.add_((new - flat).reshape(conv.tap_offset.shape).to(conv.tap_offset.dtype))
        else:
            conv.weight.copy_(new.reshape(w.shape).to(conv.weight.dtype))
        after = conv.quant_weight()
        got = torch.round(after.value.double().reshape(out, -1) / scale)
        if not torch.equal(after.scale, qw.scale) or not torch.equal(got, codes):
            bad = [(r, c, codes[r, c].item(), got[r, c].item()) for r, c in (got != codes).nonzero()[:3].tolist()]
            raise PleiadesError(f"GPTQ rounding changed a weight scale or code it meant to keep (internal error): "
                                f"scale kept {torch.equal(after.scale, qw.scale)}; (row, column, code, got): {bad}")


def gptq_model(model: QuantPleiadesNet, frames: Tensor, progress: bool = False) -> QuantPleiadesNet:
    """``model`` (BatchNorm-folded, calibrated, eval) with every conv's weights GPTQ-rounded in place on the
    statistics of ``frames`` (one pass); returned for chaining."""
    if not model.quant_config.get("folded"):
        raise PleiadesError("GPTQ rounding needs the BatchNorm-folded network (quant.fold_batchnorm) whose weights "
                            "are the exported ones")
    model.eval()
    convs = {n: m for n, m in model.named_modules() if isinstance(m, QuantConv3d)}
    hs = layer_hessians(model, convs, frames, progress)
    for name in tqdm(list(hs), desc="GPTQ rounding", unit="layer", disable=not progress, leave=False):
        gptq_conv(convs[name], hs[name])
    return model
