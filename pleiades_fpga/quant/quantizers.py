"""Brevitas quantizers used by the QAT network: power-of-two (fixed-point) scales, bit widths 2..8.

- weights: signed narrow-range integers, one power-of-two scale per output channel from the max |w|
  of the channel (recomputed from the weights at every call, no learned scale state);
- activations: unsigned (after ReLU) or signed integers, one power-of-two scale per tensor learned
  from runtime statistics (``collect_stats_steps`` training batches, then a trained parameter);
- network input: unsigned integers with scale exactly 1 (raw per-bin event counts clipped to
  [0, 2**bits - 1]);
- bias: signed 32-bit integers at the accumulator scale (input scale x weight scale), so the
  requantization after a conv is a pure shift.
"""
from __future__ import annotations

from brevitas.inject.enum import ScalingImplType
from brevitas.quant.base import NarrowIntQuant, UintQuant, IntQuant
from brevitas.quant.base import MaxStatsScaling, ParamFromRuntimePercentileScaling
from brevitas.quant.base import PerChannelPoTScaling8bit, PerTensorPoTScaling8bit
from brevitas.quant.scaled_int import Int32Bias
from brevitas.quant.solver.act import ActQuantSolver
from brevitas.quant.solver.weight import WeightQuantSolver



class WeightPerChannelPoT(NarrowIntQuant, MaxStatsScaling, PerChannelPoTScaling8bit, WeightQuantSolver):
    """Signed narrow-range per-output-channel weights with power-of-two scales (bit_width set per layer)."""


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
