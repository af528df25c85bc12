"""Brevitas quantizers used by the QAT network: power-of-two (fixed-point) scales, bit widths 2..8.

- weights: signed narrow-range integers, one power-of-two scale per output channel from the max |w|
  of the channel (recomputed from the weights at every call, no learned scale state); or, with
  ``scaling = "dyadic"``, a scale ``m * 2**e`` with an ``mantissa_bits``-bit integer mantissa ``m``
  (closer to max |w|, so the integer range is used better). The requantization after such a layer is a
  fixed-point multiply by ``m`` and a shift; it is exact because activation scales stay powers of two;
- activations: unsigned (after ReLU) or signed integers, one power-of-two scale per tensor learned
  from runtime statistics (``collect_stats_steps`` training batches, then a trained parameter);
- network input: unsigned integers with scale exactly 1 (raw per-bin event counts clipped to
  [0, 2**bits - 1]);
- bias: signed 32-bit integers at the accumulator scale (input scale x weight scale), so the
  requantization after a conv is a pure shift.
"""
from __future__ import annotations

import math

import torch
from brevitas.core.function_wrapper import CeilSte
from brevitas.core.restrict_val import PowerOfTwoRestrictValue
from brevitas.inject.enum import ScalingImplType
from brevitas.quant.base import NarrowIntQuant, UintQuant, IntQuant
from brevitas.quant.base import MaxStatsScaling, ParamFromRuntimePercentileScaling
from brevitas.quant.base import PerChannelPoTScaling8bit, PerTensorPoTScaling8bit
from brevitas.quant.scaled_int import Int32Bias
from brevitas.quant.solver.act import ActQuantSolver
from brevitas.quant.solver.weight import WeightQuantSolver



class WeightPerChannelPoT(NarrowIntQuant, MaxStatsScaling, PerChannelPoTScaling8bit, WeightQuantSolver):
    """Signed narrow-range per-output-channel weights with power-of-two scales (bit_width set per layer)."""


class DyadicRestrictValue(PowerOfTwoRestrictValue):
    """Scale restriction to ``m * 2**(e - mantissa_bits)`` with an integer ``m <= 2**mantissa_bits``.

    Works in the log2 domain like the power-of-two restriction: from log2(max |w|) (plus the narrow-range
    headroom log2(2**(b-1) / (2**(b-1) - 1)), so the largest weight is not clipped) it rounds the mantissa
    up (ceil, straight-through gradient). The threshold 2**(b-1) that Brevitas divides by stays a power of
    two, so the scale stays dyadic.
    """

    def __init__(self, bit_width: int, narrow_range: bool, mantissa_bits: int,
                 restrict_value_float_to_int_impl: torch.nn.Module = CeilSte()) -> None:
        super().__init__(restrict_value_float_to_int_impl)
        top = 2 ** (int(bit_width) - 1)
        self.log_headroom = math.log2(top / (top - 1)) if narrow_range and top > 1 else 0.0
        self.mantissa_bits = int(mantissa_bits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        x = x + self.log_headroom
        e = self.float_to_int_impl(x)
        m = self.float_to_int_impl(torch.exp2(x - e + self.mantissa_bits))
        return m * torch.exp2(e - self.mantissa_bits)


class WeightPerChannelDyadic(WeightPerChannelPoT):
    """Per-output-channel weights with dyadic scales ``m * 2**e`` (``mantissa_bits``-bit mantissa)."""

    restrict_scaling_impl = DyadicRestrictValue
    restrict_threshold_impl = PowerOfTwoRestrictValue
    mantissa_bits = 4


def weight_quant_kwargs(spec: dict, bits: int) -> dict:
    """Keyword arguments of a Brevitas layer's weight quantizer for a quant config (``scaling``)."""
    if spec.get("scaling", "pot") == "dyadic":
        return {"weight_quant": WeightPerChannelDyadic, "weight_bit_width": bits,
                "weight_mantissa_bits": int(spec.get("mantissa_bits", 4))}
    return {"weight_quant": WeightPerChannelPoT, "weight_bit_width": bits}


class UintActPoT(UintQuant, ParamFromRuntimePercentileScaling, PerTensorPoTScaling8bit, ActQuantSolver):
    """Unsigned per-tensor activations with a learned power-of-two scale (after ReLU)."""

    collect_stats_steps = 30
    high_percentile_q = 99.9


class IntActPoT(IntQuant, ParamFromRuntimePercentileScaling, PerTensorPoTScaling8bit, ActQuantSolver):
    """Signed per-tensor activations with a learned power-of-two scale (e.g. both inputs of a skip add)."""

    collect_stats_steps = 30
    high_percentile_q = 99.9


class InputCountQuant(UintQuant, PerTensorPoTScaling8bit, ActQuantSolver):
    """Event counts: unsigned integers with scale 1, clipped to [0, 2**bit_width - 1].

    The constant threshold ``max_val = 2**b - 1`` with a power-of-two scale gives
    scale = 2**ceil(log2((2**b - 1) / 2**b)) = 1 for every bit width.
    """

    scaling_impl_type = ScalingImplType.CONST
    min_val = 0.0
    max_val = 255.0


BiasAccQuant = Int32Bias
"""Bias quantized to the accumulator scale (input scale x per-channel weight scale), 32 bits."""


def input_quant_kwargs(bits: int) -> dict:
    """Keyword arguments for a QuantIdentity that quantizes event counts to ``bits`` unsigned bits."""
    return {"act_quant": InputCountQuant, "bit_width": bits, "max_val": float(2**bits - 1)}
