"""What the hardware kinds' lowerings (``pleiades_fpga.hw.rtl.kinds``) share: ``Fold`` and ``Lowered``, the
requantization constants and their ROM widths, the MAC-engine wrapper and its ROM memories, conv grouping, the
folding candidate lists."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pleiades_fpga.errors import UnsupportedModelError
from pleiades_fpga.hw.rtl import rom
from pleiades_fpga.ir.graph import IRGraph, Layer


@dataclass(frozen=True)
class Fold:
    """Parallelism of one layer: PE output channels x SIMD input channels per cycle."""

    pe: int = 1
    simd: int = 1


@dataclass
class Lowered:
    """One layer lowered: its generated Verilog modules (name, text), the template it instantiates, the template
    parameters, its memories (manifest schema) and its other manifest fields (``weight_bits``, ``kernel``,
    ``stride``, ``groups``, ``depthwise`` and kind-specific ones, in the order they are written)."""

    files: list[tuple[str, str]]
    module: str
    params: dict[str, Any]
    memories: list[dict[str, Any]]
    fields: dict[str, Any] = field(default_factory=dict)


def requant_fields(layer: Layer) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """(M, S, out_bits, out_signed) per output channel; a layer without requant outputs its accumulator (M 1, S 0).

    M / 2**S is reduced to the fewest multiplier bits (exact): even M are halved while S > 0."""
    n = layer.out_channels
    if not layer.requant:
        return np.ones(n, dtype=np.int64), np.zeros(n, dtype=np.int64), layer.acc_bits, True
    m = np.broadcast_to(np.asarray(layer.multiplier, dtype=np.int64).reshape(-1), (n,)).copy()
    s = np.broadcast_to(np.asarray(layer.shift, dtype=np.int64).reshape(-1), (n,)).copy()
    while True:
        even = (m % 2 == 0) & (s > 0) & (m > 0)
        if not even.any():
            break
        m[even] //= 2
        s[even] -= 1
    return m, s, layer.out_bits, layer.out_signed


def ms_widths(m: np.ndarray, s: np.ndarray) -> tuple[int, int]:
    """ROM field widths (M_W, S_W) of the unsigned multipliers and shifts."""
    return max(1, rom.bits_needed(m, signed=False)), max(1, rom.bits_needed(s, signed=False))


def rom_memories(name: str, params: dict[str, int], weights: np.ndarray) -> list[dict[str, Any]]:
    """Manifest memories of the weight / parameter ROMs of a MAC layer wrapper (``rom.mac_layer_files``)."""
    dw = bool(params.get("DEPTHWISE"))
    out_groups = -(-params["C_OUT"] // params["PE"])
    in_groups = 1 if dw else -(-weights.shape[1] // params["SIMD"])
    lanes = params["PE"] if dw else params["PE"] * params["SIMD"]
    fw = params["BIAS_W"] + params["M_W"] + params["S_W"]
    return [{"name": f"{name}_weights", "kind": "weights", "depth": out_groups * weights.shape[2] * in_groups,
             "width": lanes * params["W_W"]},
            {"name": f"{name}_params", "kind": "weights", "depth": out_groups, "width": params["PE"] * fw}]


def lower_mac(graph: IRGraph, layer: Layer, name: str, template: str, w: np.ndarray, kernel: int,
              shape_params: dict[str, int], tail_params: dict[str, int]) -> Lowered:
    """A MAC engine wrapper (temporal_conv_buffer, pointwise_mvu, conv3x3_stream) with its weight and parameter
    ROMs; ``w`` (out, in/g, taps), template parameters ``shape_params`` + the common ones + ``tail_params``."""
    x = graph.tensors[layer.inputs[0]]
    p = layer.params
    bias = np.asarray(p.bias, dtype=np.int64)
    m, s, out_bits, out_signed = requant_fields(layer)
    mw, sw = ms_widths(m, s)
    w_w = max(2, p.weight_bits, rom.bits_needed(w, signed=True))
    params = {**shape_params, "IN_W": x.bits, "IN_SIGNED": int(x.signed), "W_W": w_w, "ACC_W": layer.acc_bits,
              "BIAS_W": max(2, rom.bits_needed(bias, signed=True)), "M_W": mw, "S_W": sw, "OUT_W": out_bits,
              "OUT_SIGNED": int(out_signed), **tail_params}
    files = rom.mac_layer_files(name, template, params, w, bias, m, s)
    return Lowered(files, template, params, rom_memories(name, params, w),
                   {"weight_bits": w_w, "kernel": kernel,
                    "stride": int(p.stride[0]), "groups": p.groups, "depthwise": is_depthwise(layer)})


def is_depthwise(layer: Layer) -> bool:
    """A conv with groups = in = out channels (one input channel per output)."""
    p = layer.params
    return p.groups > 1 and layer.in_channels == layer.out_channels == p.groups


def check_conv_groups(layer: Layer) -> None:
    """Only full (groups = 1) and depthwise convs have engines (other grouped 1x1x1 convs: ``pointwise``)."""
    g = layer.params.groups
    if g not in (1, layer.in_channels) or (g > 1 and layer.in_channels != layer.out_channels):
        raise UnsupportedModelError(
            f"layer {layer.name}: grouped conv with groups={g} (in={layer.in_channels}, out={layer.out_channels}) "
            "has no RTL template; only full (groups=1) and depthwise convs are supported")


def useful_lanes(n: int) -> list[int]:
    """Lane counts 1..n that are not dominated: each gives fewer passes ceil(n/p) than any smaller one."""
    out, passes = [], None
    for p in range(1, n + 1):
        if -(-n // p) != passes:
            out.append(p)
            passes = -(-n // p)
    return out


def pow2_at_least(n: int) -> int:
    """The smallest power of two >= n (1 for n <= 1): FIFO depths, bursts, bus widths."""
    return 1 << max(0, n - 1).bit_length()


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def mac_folds(layer: Layer, inputs_per_output: int) -> list[Fold]:
    """Foldings of a MAC engine: any PE <= C_out and SIMD <= the inputs per output (lanes past the last channel
    compute zeros; only counts that reduce the passes are useful); depthwise engines have SIMD 1."""
    pes = useful_lanes(layer.out_channels)
    if is_depthwise(layer):
        return [Fold(pe, 1) for pe in pes]
    return [Fold(pe, simd) for pe in pes for simd in useful_lanes(inputs_per_output)]
