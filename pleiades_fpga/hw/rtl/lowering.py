"""What the hardware kinds' lowerings (``pleiades_fpga.hw.rtl.kinds``) share: ``Fold`` and ``Lowered``, the
requantization constants and their ROM widths, the MAC-engine wrapper and its ROM memories, the MAC modes of its
lanes (``mac_lane`` MAC_MODE), conv grouping, the folding candidate lists."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pleiades_fpga.errors import PleiadesError, UnsupportedModelError
from pleiades_fpga.hw.rtl import rom
from pleiades_fpga.ir.graph import IRGraph, Layer


MAC_MODES = ("dsp", "packed", "lut")   # mac_lane MAC_MODE 0, 1, 2 (templates/mac_lane.v)
MUL_CELLS = ("inferred", "ecp5")       # mac_lane MUL_CELL 0, 1: inferred multipliers, ECP5 MULT18X18D cells
MUL_OPERAND_BITS = 18                  # signed operand width of an ECP5 / 7-series multiplier (packed operands)
LUT_MAC_MAX_W_BITS = 4                 # widest weight of a LUT (shift-add) multiplier: its partial products
LUT_MAC_MAX_IN_BITS = 8                # widest activation of a LUT multiplier


@dataclass(frozen=True)
class Fold:
    """Parallelism of one layer: PE output channels x SIMD input channels per cycle; ``mac``: how a MAC engine's
    lanes multiply (one of ``MAC_MODES``: one product per multiplier, two packed per multiplier, LUT shift-add);
    ``mul_cell``: what the multipliers are (one of ``MUL_CELLS``), set by the generator from the target part's
    family, not part of the folding config."""

    pe: int = 1
    simd: int = 1
    mac: str = "dsp"
    mul_cell: str = "inferred"


def mac_multipliers(fold: Fold) -> int:
    """Multipliers of a MAC engine's PE lanes (``mac_lane``; SIMD products per lane, 1 for depthwise folds):
    one per product ("dsp"), one per pair of products ("packed"), none ("lut")."""
    per_lane = {"dsp": fold.simd, "packed": -(-fold.simd // 2), "lut": 0}[fold.mac]
    return fold.pe * per_lane


def packed_operand_bits(in_bits: int, w_bits: int) -> tuple[int, int]:
    """Widths (A, B) of a packed multiplier's operands: A = x0 + x1 * 2**S, B = w1 + w0 * 2**S with the field
    S = in_bits + 1 + w_bits (mac_lane PA_W, PB_W)."""
    field = in_bits + 1 + w_bits
    return field + in_bits + 1, field + w_bits + 1


def mac_mode_problem(mode: str, in_bits: int, w_bits: int) -> str | None:
    """Why ``mode`` cannot multiply ``in_bits``-bit activations by ``w_bits``-bit weights (None: it can); the
    rules of mac_lane's elaboration checks."""
    if mode not in MAC_MODES:
        return f"unknown MAC mode {mode!r}; use one of {', '.join(MAC_MODES)}"
    if mode == "packed":
        a, b = packed_operand_bits(in_bits, w_bits)
        if max(a, b) > MUL_OPERAND_BITS:
            return (f"packed operands need {a} x {b} bits for {in_bits}-bit activations and {w_bits}-bit weights, "
                    f"more than the {MUL_OPERAND_BITS}-bit multiplier (both widths <= 5 bits fit)")
    if mode == "lut" and (w_bits > LUT_MAC_MAX_W_BITS or in_bits > LUT_MAC_MAX_IN_BITS):
        return (f"LUT multipliers take weights of at most {LUT_MAC_MAX_W_BITS} bits and activations of at most "
                f"{LUT_MAC_MAX_IN_BITS}, not {w_bits} and {in_bits}")
    return None


def weight_width(layer: Layer, w: np.ndarray | None = None) -> int:
    """W_W of a MAC engine: the weight quantizer's bits, widened to hold the weights (at least 2)."""
    p = layer.params
    return max(2, p.weight_bits, rom.bits_needed(np.asarray(p.weight if w is None else w, dtype=np.int64), signed=True))


def default_mac(layer: Layer, lane_products: int) -> str:
    """The MAC mode default_folding gives a fold: "packed" where a lane has two products or more and the widths
    fit one multiplier per pair; "lut" where the widths allow LUT multipliers and packing cannot pair products
    (depthwise engines: one product per lane) or cannot fit the widths (e.g. 8-bit inputs x 4-bit weights);
    else "dsp" (one product per multiplier)."""
    in_bits, w_bits = layer.in_bits, weight_width(layer)
    packable = mac_mode_problem("packed", in_bits, w_bits) is None
    if lane_products >= 2 and packable:
        return "packed"
    if mac_mode_problem("lut", in_bits, w_bits) is None and (is_depthwise(layer) or not packable):
        return "lut"
    return "dsp"


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
              shape_params: dict[str, int], tail_params: dict[str, int], fold: Fold) -> Lowered:
    """A MAC engine wrapper (temporal_conv_buffer, pointwise_mvu, conv3x3_stream) with its weight and parameter
    ROMs; ``w`` (out, in/g, taps), template parameters ``shape_params`` + the common ones + ``tail_params``; its
    lanes multiply in the fold's MAC mode (refused naming the layer when the widths do not allow it) on the fold's
    multiplier cells."""
    mac = fold.mac
    x = graph.tensors[layer.inputs[0]]
    p = layer.params
    bias = np.asarray(p.bias, dtype=np.int64)
    m, s, out_bits, out_signed = requant_fields(layer)
    mw, sw = ms_widths(m, s)
    w_w = weight_width(layer, w)
    problem = mac_mode_problem(mac, x.bits, w_w)
    if problem:
        raise PleiadesError(f"layer {layer.name}: MAC mode {mac!r}: {problem}; choose another \"mac\" in the "
                            "folding config")
    params = {**shape_params, "IN_W": x.bits, "IN_SIGNED": int(x.signed), "W_W": w_w, "ACC_W": layer.acc_bits,
              "BIAS_W": max(2, rom.bits_needed(bias, signed=True)), "M_W": mw, "S_W": sw, "OUT_W": out_bits,
              "OUT_SIGNED": int(out_signed), **tail_params, "MAC_MODE": MAC_MODES.index(mac),
              "MUL_CELL": MUL_CELLS.index(fold.mul_cell)}
    files = rom.mac_layer_files(name, template, params, w, bias, m, s)
    return Lowered(files, template, params, rom_memories(name, params, w),
                   {"weight_bits": w_w, "kernel": kernel, "stride": int(p.stride[0]), "groups": p.groups,
                    "depthwise": is_depthwise(layer), "mac": mac})


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
    compute zeros; only counts that reduce the passes are useful); depthwise engines have SIMD 1. Each in its
    default MAC mode (:func:`default_mac`)."""
    pes = useful_lanes(layer.out_channels)
    if is_depthwise(layer):
        mac = default_mac(layer, 1)
        return [Fold(pe, 1, mac) for pe in pes]
    macs = {1: default_mac(layer, 1), 2: default_mac(layer, 2)}     # the mode depends only on SIMD >= 2
    return [Fold(pe, simd, macs[min(simd, 2)]) for pe in pes for simd in useful_lanes(inputs_per_output)]
