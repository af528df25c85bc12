"""Brevitas PLEIADES temporal layer: the generated discrete kernel (coeffs @ basis) is what gets quantized.

``QuantPleiadesConv`` is a Brevitas ``QuantConv3d`` with kernel (K, 1, 1) over (B, C, T, H, W) whose
``weight`` is not a parameter but the kernel generated from the trainable ``coeffs`` (out, in/g, N+1)
and the fixed ``basis`` (N+1, K) buffer (same names and values as the float
``pleiades_fpga.model.PleiadesTemporalConv``). The weight quantizer (per-output-channel power-of-two
scale) sees the generated kernel, so QAT trains the coefficients through the quantized taps, and the
QONNX export contains an ordinary Conv whose constant weight is the quantized kernel. ``tap_offset`` (same shape
as the kernel, zero unless GPTQ rounding (``pleiades_fpga.quant.gptq``) moved taps to other grid points after
training) is added to the generated kernel.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from brevitas.nn import QuantConv3d
from torch import Tensor, nn

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.quant.quantizers import BiasAccQuant, weight_quant_kwargs


def pad_time(x, kernel_size: int, pad: str):
    """Prepend K-1 zero frames (``pad="causal"``) or nothing (``"valid"``); works on QuantTensors."""
    if pad == "causal":
        return F.pad(x, (0, 0, 0, 0, kernel_size - 1, 0))
    if pad != "valid":
        raise PleiadesError(f"pad must be 'valid' or 'causal', got {pad!r}")
    return x


class QuantPleiadesConv(QuantConv3d):
    """Quantized PLEIADES temporal convolution (see module docstring); ``forward(x, pad)``."""

    def __init__(self, in_channels: int, out_channels: int, basis: Tensor, groups: int = 1,
                 weight_bits: int = 8, meta: dict | None = None, spec: dict | None = None) -> None:
        kernel_size = int(basis.shape[1])
        super().__init__(in_channels, out_channels, (kernel_size, 1, 1), groups=groups, bias=True,
                         **weight_quant_kwargs(spec or {}, weight_bits),
                         bias_quant=BiasAccQuant, return_quant_tensor=False)
        del self.weight
        self.coeffs = nn.Parameter(torch.randn(out_channels, in_channels // groups, basis.shape[0]) * 0.5)
        self.register_buffer("basis", basis.detach().clone().to(torch.float32))
        self.register_buffer("tap_offset", torch.zeros(out_channels, in_channels // groups, kernel_size))
        with torch.no_grad():
            self.bias.zero_()
        self.kernel_size_t = kernel_size
        self.meta = dict(meta or {})
        # the quantizer was built while `weight` was the Conv3d parameter; rebuild it on the generated kernel
        self.weight_quant.init_tensor_quant()

    @property
    def weight(self) -> Tensor:  # type: ignore[override]
        """Generated kernel (out, in/g, K, 1, 1), tap 0 = oldest."""
        return self.kernel()[..., None, None]

    def kernel(self) -> Tensor:
        """Float kernel (out, in/g, K) = coeffs @ basis + tap_offset."""
        return self.coeffs @ self.basis + self.tap_offset

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        """A state without ``tap_offset`` (saved before GPTQ rounding existed) loads with a zero offset."""
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)
        if prefix + "tap_offset" in missing_keys:
            missing_keys.remove(prefix + "tap_offset")
            with torch.no_grad():
                self.tap_offset.zero_()

    def quant_weight(self, quant_input=None, subtensor_slice_list=None):
        return self.weight_quant(self.weight)

    def forward(self, x, pad: str = "valid"):  # type: ignore[override]
        return super().forward(pad_time(x, self.kernel_size_t, pad))


class QuantFreeTemporalConv(QuantConv3d):
    """Quantized unstructured temporal convolution (``weight`` taps (out, in/g, K, 1, 1))."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, groups: int = 1,
                 weight_bits: int = 8, spec: dict | None = None) -> None:
        super().__init__(in_channels, out_channels, (kernel_size, 1, 1), groups=groups, bias=True,
                         **weight_quant_kwargs(spec or {}, weight_bits),
                         bias_quant=BiasAccQuant, return_quant_tensor=False)
        with torch.no_grad():
            self.bias.zero_()
        self.kernel_size_t = kernel_size
        self.meta: dict = {}

    def kernel(self) -> Tensor:
        return self.weight[..., 0, 0]

    def forward(self, x, pad: str = "valid"):  # type: ignore[override]
        return super().forward(pad_time(x, self.kernel_size_t, pad))
