"""Quantized causal GroupNorm (issue #14; integer semantics in docs/GROUPNORM.md).

``QuantGroupNorm`` normalizes each frame of (B, C, T, H, W) per group (``nn.GroupNorm`` parameters ``weight`` =
gamma, ``bias`` = beta, same names as the float network's norm). ``forward(x, out_quant)``:

- ``in_quant`` (a signed per-tensor power-of-two activation quantizer) quantizes its input (the preceding conv's
  accumulator is requantized to it);
- training (QAT): the float per-frame GroupNorm (``frame_group_norm``) of the quantized input, then ``out_quant``
  (the block's QuantReLU, unsigned, or the DWS add's shared signed quantizer), fake-quantized with straight-through
  gradients like every Brevitas activation;
- eval: the exact integers of ``pleiades_fpga.ir.integers.groupnorm_int`` with the constants of
  ``groupnorm_params`` (from gamma, beta, eps, the input scale and ``out_quant``'s scale), so the quantized torch
  model equals the golden model and the QONNX op;
- export: one ``PleiadesGroupNorm`` node (domain ``pleiades_fpga.custom_op``) with the constants of the last eval
  pass as attributes; its output is the quantized activation (no Quant node after it).

``stats`` ("frame" | "previous", quant config ``groupnorm_stats``): the frame's own statistics, or those of the
frame before (zero after reset: no frame buffer in hardware). ``precision`` P (quant config ``groupnorm_p``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from brevitas.nn import QuantReLU
from brevitas.quant_tensor import QuantTensor
from torch import Tensor, nn

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.ir.integers import GN_P, GN_STATS, groupnorm_int, groupnorm_params, int_range
from pleiades_fpga.quant.recurrent import DOMAIN, _exporting


def frame_group_norm(x: Tensor, groups: int, weight: Tensor, bias: Tensor, eps: float,
                     stats: str = "frame") -> Tensor:
    """Float causal GroupNorm of x (B, C, T, H, W): statistics per frame and group (``"previous"``: of the frame
    before; the first frame of the clip has none and is normalized to 0), then the per-channel affine."""
    if stats not in GN_STATS:
        raise PleiadesError(f"groupnorm stats must be one of {GN_STATS}, got {stats!r}")
    b, c, t, h, w = x.shape
    xg = x.reshape(b, groups, c // groups, t, h, w)
    mean = xg.mean(dim=(2, 4, 5), keepdim=True)
    var = xg.var(dim=(2, 4, 5), unbiased=False, keepdim=True)
    z = (xg - mean) / torch.sqrt(var + eps)
    if stats == "previous":  # frame t with the statistics of frame t-1; the first frame (no statistics) is 0
        mean = F.pad(mean, (0, 0, 0, 0, 1, 0))[:, :, :, :t]
        var = F.pad(var, (0, 0, 0, 0, 1, 0))[:, :, :, :t]
        z = F.pad(((xg - mean) / torch.sqrt(var + eps))[:, :, :, 1:], (0, 0, 0, 0, 1, 0))
    y = z.reshape(b, c, t, h, w)
    return y * weight.view(1, c, 1, 1, 1) + bias.view(1, c, 1, 1, 1)


@dataclass(frozen=True)
class GroupNormConstants:
    """The integer constants of one QuantGroupNorm for one input/output format and frame size."""

    E: int
    M: np.ndarray
    S: np.ndarray
    B: np.ndarray
    lo: int
    hi: int
    in_scale: float
    out_scale: float
    out_bits: int
    out_signed: bool
    relu: bool


def _quant_format(q: QuantTensor) -> tuple[float, int, bool]:
    return float(q.scale.detach().reshape(-1)[0]), int(round(float(q.bit_width))), bool(q.signed)


class QuantGroupNorm(nn.GroupNorm):
    """Quantized causal GroupNorm (see the module docstring)."""

    def __init__(self, groups: int, channels: int, in_quant: nn.Module, eps: float = 1e-5, stats: str = "frame",
                 precision: int = GN_P) -> None:
        super().__init__(groups, channels, eps=eps)
        if stats not in GN_STATS:
            raise PleiadesError(f"groupnorm stats must be one of {GN_STATS}, got {stats!r}")
        self.in_quant = in_quant
        self.stats = stats
        self.precision = int(precision)
        self.name = ""  # module name for error messages (set by the network)
        self.last: GroupNormConstants | None = None  # constants of the last eval pass (what export writes)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, stats={self.stats}, P={self.precision}"

    def constants(self, x: QuantTensor, out_quant: nn.Module, height: int, width: int) -> GroupNormConstants:
        """The integer constants for input ``x`` (its quantization format) and ``out_quant``'s format."""
        s_x, x_bits, x_signed = _quant_format(x)
        probe = out_quant(torch.zeros(1, self.num_channels, 1, 1, 1, device=x.value.device))
        s_y, y_bits, y_signed = _quant_format(probe)
        relu = isinstance(out_quant, QuantReLU)
        n = self.num_channels // self.num_groups * height * width
        e, m, s, b = groupnorm_params(self.weight.detach().double().cpu().numpy(),
                                      self.bias.detach().double().cpu().numpy(), self.eps, s_x, s_y, n, x_bits,
                                      x_signed, self.precision, name=self.name or "groupnorm")
        lo, hi = int_range(y_bits, y_signed)
        return GroupNormConstants(e, m, s, b, max(lo, 0) if relu else lo, hi, s_x, s_y, y_bits, y_signed, relu)

    def forward(self, x, out_quant: nn.Module):  # type: ignore[override]
        xq = self.in_quant(x)
        if _exporting():
            if self.last is None:
                raise PleiadesError("export a quantized GroupNorm after one eval forward pass (its constants)")
            return export_groupnorm(xq, self.last, self.num_groups, self.precision, self.stats)
        if not isinstance(xq, QuantTensor):
            raise PleiadesError("QuantGroupNorm: its input quantizer must return a QuantTensor")
        if self.training:
            return out_quant(frame_group_norm(xq.value, self.num_groups, self.weight, self.bias, self.eps,
                                              self.stats))
        b, c, t, h, w = xq.value.shape
        k = self.last = self.constants(xq, out_quant, h, w)
        x_int = torch.round(xq.value.detach().double() / k.in_scale).to(torch.int64).cpu().numpy()
        y, _ = groupnorm_int(x_int.transpose(0, 2, 3, 4, 1), self.num_groups, k.E, k.M, k.S, k.B, k.lo, k.hi,
                             self.precision, self.stats)
        y = torch.from_numpy(y.transpose(0, 4, 1, 2, 3) * k.out_scale).to(xq.value.dtype).to(xq.value.device)
        return out_quant(y)  # exact: y is a multiple of out_quant's scale within its range


def export_groupnorm(x: Tensor, k: GroupNormConstants, groups: int, precision: int, stats: str) -> Tensor:
    """The ``PleiadesGroupNorm`` node for the torch.export (dynamo) ONNX exporter used by Brevitas."""
    attrs = {"groups": int(groups), "E": int(k.E), "M": [int(v) for v in k.M], "S": [int(v) for v in k.S],
             "B": [int(v) for v in k.B], "P": int(precision), "stats": stats, "in_scale": float(k.in_scale),
             "out_scale": float(k.out_scale), "out_bits": int(k.out_bits), "out_signed": int(k.out_signed),
             "relu": int(k.relu)}
    return torch.onnx.ops.symbolic(f"{DOMAIN}::PleiadesGroupNorm", (x,), attrs, dtype=x.dtype, shape=list(x.shape),
                                   version=1)


def norm_act(norm: nn.Module, x, act: nn.Module):
    """A norm followed by its activation quantizer: a QuantGroupNorm quantizes to ``act`` itself, any other norm
    (BatchNorm, folded Identity) is followed by it."""
    if isinstance(norm, QuantGroupNorm):
        return norm(x, act)
    return act(norm(x))
