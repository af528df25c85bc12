"""RTL lowering of the causal GroupNorm (IR kind ``groupnorm``, template ``groupnorm_stream.v``, docs/GROUPNORM.md).

- ``GroupNormHw`` (hardware kind ``groupnorm`` of the registry): an IR groupnorm layer -> legal folds, cost, the
  layer wrapper + manifest fragment (``Lowered``), its latency and estimate terms, from :func:`stream_params`
  (template parameters, widths from the analysis of ``ir.integers``: S1, S2, D/V and the accumulator; nothing can
  overflow), :func:`layer_files` (template + {S, M, B} parameter ROM,
  ``rom.groupnorm_layer_files``), :func:`memories` (the frame buffer, kind "frame_buffer", and the ROM),
  :func:`cost` (cycles per frame, multiplier blocks: :func:`multiplier_blocks`) and :func:`latency_cycles` (one
  frame more for "frame");
- :func:`fold_candidates`: legal PE values; :func:`frame_cycles` / :func:`constants_cycles`: the cycle model
  (checked exactly against simulation in tests/test_rtl_groupnorm.py);
- :func:`estimate_terms`: the estimator's logic terms (LUT, FF, DSP; bench/groupnorm_synth.py compares them with
  Yosys).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.rtl.cycles import REQUANT_STAGES
from pleiades_fpga.hw.rtl.kinds.registry import EstimateInput, HwKind, register
from pleiades_fpga.hw.rtl.lowering import Fold, Lowered
from pleiades_fpga.hw.rtl.kinds.temporal_conv_external import axi_connections, axi_ports
from pleiades_fpga.hw.rtl.rom import WrapperExtra, groupnorm_layer_files
from pleiades_fpga.hw.rtl.verilog import Port, instance, stream_connections, stream_wires, wire
from pleiades_fpga.ir.graph import IRGraph, Layer
from pleiades_fpga.ir.integers import GN_STATS, groupnorm_acc_bits, int_range, signed_bits_for

if TYPE_CHECKING:   # external_fifo imports this package (kinds.temporal_conv_external): no cycle at run time
    from pleiades_fpga.hw.rtl.external_fifo import FifoLayout

TEMPLATE = "groupnorm_stream"
STATS_CODE = {"frame": 0, "previous": 1}
# per-lane multipliers of the template: x*x (statistics), d*M and (d*M)*R' (normalization); wide ones split into
# several multiplier blocks (lane_products, multiplier_blocks)
MULTIPLIERS_PER_LANE = 3
NORM_STAGES = 7 + REQUANT_STAGES  # normalization pipeline stages of groupnorm_stream.v (NL)


def fold_candidates(channels: int, groups: int) -> list[int]:
    """Legal PE values (channels per cycle), smallest first: divisors of C that divide C/G or are multiples of it."""
    cg = channels // groups
    return [pe for pe in range(1, channels + 1) if channels % pe == 0 and (cg % pe == 0 or pe % cg == 0)]


def stream_params(*, name: str, channels: int, groups: int, height: int, width: int, in_bits: int, in_signed: bool,
                  out_bits: int, out_signed: bool, relu: bool, E: int, M: Sequence[int], S: Sequence[int],
                  B: Sequence[int], P: int, pe: int, stats: str) -> dict[str, Any]:
    """groupnorm_stream parameters of layer ``name`` (vocabulary: docs/ARCHITECTURE.md). Widths come from the
    value ranges: S1 from n*[lo, hi], S2 from n*max(x^2), D (and V = D + E) from n*n*max(x^2) + E, the accumulator
    from ``ir.integers.groupnorm_acc_bits``; M/S/B widths from their values. E is a sized literal (it may pass
    2**31)."""
    if channels < 1 or groups < 1 or channels % groups:
        raise PleiadesError(f"{name}: {channels} channels are not divisible into {groups} groups")
    if stats not in GN_STATS:
        raise PleiadesError(f"{name}: stats must be one of {GN_STATS}, got {stats!r}")
    legal = fold_candidates(channels, groups)
    if pe not in legal:
        raise PleiadesError(f"{name}: PE={pe} is not a legal folding of GroupNorm with C={channels}, G={groups}; "
                            f"use one of {legal}")
    m, s, b = (np.asarray(v, np.int64).reshape(-1) for v in (M, S, B))
    if not (m.size == s.size == b.size == channels):
        raise PleiadesError(f"{name}: M, S, B need {channels} values each, got {m.size}, {s.size}, {b.size}")
    if s.size and int(s.min()) < 0:
        raise PleiadesError(f"{name}: S must be >= 0, got {int(s.min())}")
    n = channels // groups * height * width
    lo, hi = int_range(in_bits, in_signed)
    sq = max(lo * lo, hi * hi)
    d_w = max(1, (n * n * sq + int(E)).bit_length())
    acc_w = groupnorm_acc_bits(n, in_bits, in_signed, m, b, int(E), P, name)
    return {
        "H": height, "W": width, "C": channels, "G": groups, "PE": pe, "STATS": STATS_CODE[stats],
        "IN_W": in_bits, "IN_SIGNED": int(in_signed), "P": P,
        "S1_W": max(signed_bits_for(n * lo, n * hi), in_bits + 1),
        "S2_W": max((n * sq).bit_length(), 2 * in_bits), "D_W": d_w, "ACC_W": max(acc_w, P + 2),
        "E": f"{d_w}'d{int(E)}",
        "M_W": max(2, signed_bits_for(int(m.min(initial=0)), int(m.max(initial=0)))),
        "S_W": max(1, int(s.max(initial=0)).bit_length()),
        "B_W": signed_bits_for(int(b.min(initial=0)), int(b.max(initial=0))),
        "OUT_W": out_bits, "OUT_SIGNED": int(out_signed), "RELU": int(relu),
    }


def constants_cycles(params: dict[str, Any]) -> int:
    """Cycles of the per-group constants engine for one frame (all G groups): per group load 1, D by shift-add
    NB + S1_W, V 2, normalization KMAX - 1, rsqrt 1 + 3*(P+2), store 1; plus 1 to start."""
    n = int(params["C"]) // int(params["G"]) * int(params["H"]) * int(params["W"])
    kmax = (int(params["D_W"]) + 1) // 2
    per_group = 1 + n.bit_length() + int(params["S1_W"]) + 2 + (kmax - 1) + 1 + 3 * (int(params["P"]) + 2) + 1
    return 1 + int(params["G"]) * per_group


def frame_cycles(params: dict[str, Any]) -> int:
    """Cycles per frame in steady state without back-pressure: C/PE cycles per pixel on both sides, and the
    constants of a frame computed between its input and its normalization ("frame": the buffer is full
    meanwhile; "previous": the next frame's first pixel waits for them). Hand-over cycles: 3 (statistics
    pipeline to the hold bank) + 3 for "frame" (replay start, first read, the freed slot seen by the input)
    or 2 for "previous" (bank load, first pixel accepted)."""
    pixels = int(params["H"]) * int(params["W"])
    handover = 3 + (3 if int(params["STATS"]) == STATS_CODE["frame"] else 2)
    return pixels * (int(params["C"]) // int(params["PE"])) + constants_cycles(params) + handover


def latency_cycles(params: dict[str, Any]) -> int:
    """Cycles from a frame's first input beat to its last output beat without back-pressure: "frame" holds the whole
    frame (input, statistics pipeline 3, constants, hand-over 2, replay), "previous" only adds the pipeline; both
    end with the NORM_STAGES normalization stages and the output queue."""
    pixel_cycles = int(params["H"]) * int(params["W"]) * (int(params["C"]) // int(params["PE"]))
    tail = NORM_STAGES + 2
    if int(params["STATS"]) == STATS_CODE["frame"]:
        return 2 * pixel_cycles + 3 + constants_cycles(params) + 2 + tail
    return pixel_cycles + tail


def memories(name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Manifest memories: the one-frame buffer ("frame" only; PIXELS words of C*IN_W bits) and the {S, M, B} ROM."""
    pixels, c, pe = int(params["H"]) * int(params["W"]), int(params["C"]), int(params["PE"])
    rom = {"name": f"{name}_params", "kind": "weights", "depth": c // pe,
           "width": pe * (int(params["B_W"]) + int(params["M_W"]) + int(params["S_W"]))}
    if int(params["STATS"]) != STATS_CODE["frame"]:
        return [rom]
    return [{"name": f"{name}_frame", "kind": "frame_buffer", "depth": pixels, "width": c * int(params["IN_W"])}, rom]


def lane_products(params: dict[str, Any]) -> tuple[tuple[int, int], ...]:
    """Operand widths (a, b) of the MULTIPLIERS_PER_LANE products of one lane: x*x (IN_W + 1 each: an unsigned x
    gets a sign bit), d*M (DX_W x M_W) and (d*M)*R' (DM_W x RPW + 1)."""
    w, in_w = derived_widths(params), int(params["IN_W"])
    return (in_w + 1, in_w + 1), (w["DX_W"], int(params["M_W"])), (w["DM_W"], w["RPW"] + 1)


def multiplier_blocks(params: dict[str, Any], part: Any = None) -> int:
    """Multiplier blocks of the layer (all PE lanes) on ``part`` (a ``toolflow.parts.Part``; default the default
    part, LFE5U-85F: 18x18 blocks, the narrowest of the known parts): a wide product counts every block it splits
    into (``parts.dsp_blocks``), e.g. 6 per lane at the published block 0 (1 + 2 + 3)."""
    from pleiades_fpga.toolflow.parts import DEFAULT_PART, dsp_blocks, get_part

    part = part if part is not None else get_part(DEFAULT_PART)
    return int(params["PE"]) * sum(dsp_blocks(a, b, part) for a, b in lane_products(params))


def cost(params: dict[str, Any]) -> dict[str, int]:
    """Cycles per frame, multipliers and MACs per frame (0: not a MAC layer). ``multipliers`` counts multiplier
    blocks (:func:`multiplier_blocks` on the default part), not products: what the folding budget
    (``default_folding(max_multipliers=...)``, 90 % of a part's blocks) and the estimator's DSP count measure."""
    return {"cycles_per_frame": frame_cycles(params), "multipliers": multiplier_blocks(params), "macs_per_frame": 0}


def derived_widths(params: dict[str, Any]) -> dict[str, int]:
    """The template's derived widths (groupnorm_stream.v "derived sizes"): DX_W (d), DM_W (d*M), RPW (R'), ZW (z),
    QW (rsqrt registers), KMAX, K_W, bank bits per group (S1, S2 of the accumulator ring and the hold bank; S1, R',
    k of the next and the current bank)."""
    n = int(params["C"]) // int(params["G"]) * int(params["H"]) * int(params["W"])
    p, kmax = int(params["P"]), (int(params["D_W"]) + 1) // 2
    dx = int(params["IN_W"]) + n.bit_length() + 1
    k_w = (kmax).bit_length()
    s1, s2 = int(params["S1_W"]), int(params["S2_W"])
    return {"DX_W": dx, "DM_W": dx + int(params["M_W"]), "RPW": p + 1, "ZW": int(params["ACC_W"]) - p + 1,
            "QW": 2 * p + 2 * kmax + 4, "KMAX": kmax, "K_W": k_w, "BANK": 2 * (s1 + s2) + 2 * (s1 + p + 1 + k_w)}


# LUTs of the ECP5 fabric (Yosys synth_ecp5): per rsqrt register bit (six QW-bit registers, their adders and
# selects), per bank bit (rotation selects), per z bit of a lane (requant shifter, compare, round, clamp; B << k;
# the adders of the lane); fitted on synthesized instances (bench/groupnorm_synth.py records them and the error)
LUT_PER_QW_BIT, LUT_PER_BANK_BIT, LUT_PER_LANE_Z_BIT, LUT_CONTROL = 8.9, 1.24, 11.1, 20


def estimate_terms(params: dict[str, Any], part: Any) -> dict[str, int]:
    """Estimated logic of one groupnorm_stream (without its memories: the frame buffer and the parameter ROM are
    manifest ``memories``, mapped by the estimator): {"lut", "ff", "dsp"} on ``part`` (a ``toolflow.parts.Part``).
    DSP blocks: :func:`multiplier_blocks` on ``part``; flip-flops counted from the template's registers; LUTs from the
    fitted per-bit costs above (ECP5; an estimate)."""
    w = derived_widths(params)
    pe, g, c = int(params["PE"]), int(params["G"]), int(params["C"])
    in_w, out_w, s1, s2 = int(params["IN_W"]), int(params["OUT_W"]), int(params["S1_W"]), int(params["S2_W"])
    m_w, s_w, b_w, acc = int(params["M_W"]), int(params["S_W"]), int(params["B_W"]), int(params["ACC_W"])
    lg = max(1, pe // min(pe, c // g))
    dsp = multiplier_blocks(params, part)
    lane_ff = (in_w + s1 + s2 + w["DX_W"] + 4 * b_w + 2 * w["RPW"] + 4 * w["K_W"] + 4 * s_w + m_w + 2 * w["DM_W"]
               + w["DM_W"] + w["RPW"] + 1 + acc + 2 * (w["ZW"] + (w["ZW"] + 1).bit_length()) - 1 + out_w
               + (w["ZW"] + 2) + 2 * (w["ZW"] + 3) + 2 * (w["ZW"] + 1).bit_length())   # + requant_pipe's registers
    fixed_ff = (2 * c * in_w + lg * (s1 + s2) + g * w["BANK"] + 6 * w["QW"] + 2 * int(params["D_W"]) + 2 * w["KMAX"]
                + 3 * c * out_w + lg * (s1 + w["RPW"] + w["K_W"]) + 64)
    lut = (LUT_PER_QW_BIT * w["QW"] + LUT_PER_BANK_BIT * g * w["BANK"] + LUT_PER_LANE_Z_BIT * w["ZW"] * pe
           + LUT_CONTROL)
    return {"lut": int(round(lut)), "ff": int(fixed_ff + pe * lane_ff), "dsp": int(dsp)}


FB_SIGNALS = ("tdata", "tvalid", "tready", "tlast")


def _frame_buffer_wiring(params: dict[str, Any], fb: FifoLayout | None) -> WrapperExtra:
    """The wrapper's side of the template's fb_* streams: tied off (on-chip buffer, or no buffer), or an
    axi_stream_fifo (``fb``: the buffer in external memory; the wrapper gains ``m_axi_*``, ``axi_error`` and a
    BASE_ADDR parameter)."""
    word = int(params["C"]) * int(params["IN_W"])
    if fb is None:
        body = (wire("unused_fb_tdata", word), wire("unused_fb_tvalid"), wire("unused_fb_tlast"),
                wire("unused_fb_tready"))
        conns = {"fb_m_axis_tdata": "unused_fb_tdata", "fb_m_axis_tvalid": "unused_fb_tvalid",
                 "fb_m_axis_tready": "1'b0", "fb_m_axis_tlast": "unused_fb_tlast",
                 "fb_s_axis_tdata": f"{{{word}{{1'b0}}}}", "fb_s_axis_tvalid": "1'b0",
                 "fb_s_axis_tready": "unused_fb_tready", "fb_s_axis_tlast": "1'b0"}
        return WrapperExtra(body=body, connections=conns)
    if fb.word_w != word or fb.frame_pix != int(params["H"]) * int(params["W"]):
        raise PleiadesError(f"external frame buffer of {fb.frame_pix} words x {fb.word_w} bits does not match the "
                            f"layer's {int(params['H']) * int(params['W'])} pixels x {word} bits")
    from pleiades_fpga.hw.rtl.external_fifo import TEMPLATE as FIFO_TEMPLATE  # imports kinds: not at module level

    fifo = instance(FIFO_TEMPLATE, "u_frame_fifo", {
        "clk": "clk", "rst": "rst", **stream_connections("s_axis", "fb_out"), **stream_connections("m_axis", "fb_in"),
        **axi_connections("m_axi", "m_axi"), "axi_error": "axi_error"}, {**fb.params(), "BASE_ADDR": "BASE_ADDR"})
    return WrapperExtra(
        ports=(*axi_ports(fb), Port("axi_error", "output")),
        body=(*stream_wires("fb_out", word), *stream_wires("fb_in", word), fifo),
        connections={**stream_connections("fb_m_axis", "fb_out"), **stream_connections("fb_s_axis", "fb_in")},
        parameters=(("BASE_ADDR", f"64'h{fb.base_addr:x}"),),
        comment=f"Frame buffer in external memory (axi_stream_fifo, {fb.region_bytes} bytes from BASE_ADDR).")


def layer_files(name: str, params: dict[str, Any], M: Sequence[int], S: Sequence[int],
                B: Sequence[int], fb: FifoLayout | None = None) -> list[tuple[str, str]]:
    """Generated files (module name, text) of the layer wrapper ``name`` (template + parameter ROM; with ``fb``, the
    frame buffer in external memory: params must have EXT_FRAME = 1)."""
    if (fb is not None) != bool(int(params.get("EXT_FRAME", 0))):
        raise PleiadesError(f"{name}: EXT_FRAME={params.get('EXT_FRAME', 0)} needs an external frame buffer layout "
                            "exactly when it is 1")
    return groupnorm_layer_files(name, params, M, S, B, _frame_buffer_wiring(params, fb))


def external_memories(name: str, params: dict[str, Any], fb: FifoLayout) -> list[dict[str, Any]]:
    """Manifest memories of the layer with its frame buffer external: the write and prefetch FIFOs of
    axi_stream_fifo instead of the frame buffer, and the ROM."""
    fifos = [{"name": f"{name}_frame_{side}_fifo", "kind": "fifo", "depth": fb.fifo_depth, "width": fb.word_w}
             for side in ("write", "prefetch")]
    return fifos + [m for m in memories(name, params) if m["kind"] != "frame_buffer"]


def layer_params(graph: IRGraph, layer: Layer, pe: int) -> dict[str, Any]:
    """Template parameters of an IR groupnorm layer (``ir.kinds.groupnorm.GroupNormParams``) at PE."""
    x, p = graph.tensors[layer.inputs[0]], layer.params
    return stream_params(name=layer.name, channels=layer.in_channels, groups=p.groups, height=x.height,
                         width=x.width, in_bits=x.bits, in_signed=x.signed, out_bits=layer.out_bits,
                         out_signed=layer.out_signed, relu=layer.relu, E=p.E, M=p.M, S=p.S, B=p.B, P=p.precision,
                         pe=pe, stats=p.stats)


@register
class GroupNormHw(HwKind):
    """Hardware kind ``groupnorm`` (IR kind ``groupnorm``) on ``groupnorm_stream``."""

    name = "groupnorm"
    ir_kind = "groupnorm"
    pipeline_cycles = NORM_STAGES + 2

    def candidate_folds(self, layer: Layer) -> list[Fold]:
        return [Fold(pe, 1) for pe in fold_candidates(layer.in_channels, layer.params.groups)]

    def cost(self, graph: IRGraph, layer: Layer, fold: Fold) -> dict[str, int]:
        return cost(layer_params(graph, layer, fold.pe))

    def lower(self, graph: IRGraph, layer: Layer, name: str, fold: Fold) -> Lowered:
        params = layer_params(graph, layer, fold.pe)
        p = layer.params
        return Lowered(layer_files(name, params, p.M, p.S, p.B), TEMPLATE, params, memories(name, params),
                       {"groups": p.groups, "stats": p.stats, "frames_held": self.frames_held(layer)})

    def lower_with(self, graph: IRGraph, layer: Layer, name: str, fold: Fold, fb: FifoLayout) -> Lowered:
        """The lowering with the frame buffer in external memory on the planned layout ``fb``."""
        if layer.params.stats != "frame":
            raise PleiadesError(f"{layer.name}: only a GroupNorm with stats 'frame' has a frame buffer to move "
                                f"external (stats is {layer.params.stats!r}); set its memory to 'onchip'")
        params = {**layer_params(graph, layer, fold.pe), "EXT_FRAME": 1}
        p = layer.params
        from pleiades_fpga.hw.rtl.external_fifo import TEMPLATE as FIFO_TEMPLATE  # imports kinds: not at module level

        return Lowered(layer_files(name, params, p.M, p.S, p.B, fb), f"{TEMPLATE}+{FIFO_TEMPLATE}", params,
                       external_memories(name, params, fb),
                       {"groups": p.groups, "stats": p.stats, "frames_held": self.frames_held(layer),
                        "external": {"base_addr": fb.base_addr, "region_bytes": fb.region_bytes,
                                     "params": fb.params(), "axi_port": "m_axi"}})

    def frames_held(self, layer: Layer) -> int:
        return 1 if layer.params.stats == "frame" else 0

    def latency_cycles(self, entry: dict[str, Any]) -> int:
        """One pixel and the pipeline, and for "frame" the statistics pipeline, the constants and the hand-over
        between the held frame's last input pixel and its replay (the held frame itself: the entry's
        ``frames_held``, counted by the generator's analytic latency at the rate it streams on)."""
        p = entry["params"]
        pixel_cycles = int(p["H"]) * int(p["W"]) * (int(p["C"]) // int(p["PE"]))
        hold = pixel_cycles if int(p["STATS"]) == STATS_CODE["frame"] else 0
        return latency_cycles(p) - pixel_cycles - hold + int(p["C"]) // int(p["PE"])

    def stream_ff(self, est: EstimateInput) -> float:
        return 0.0  # the beats and the queue are counted by estimate_terms

    def estimate_terms(self, est: EstimateInput) -> tuple[float, float, float]:
        from pleiades_fpga.hw.rtl.external_fifo import FIFO_FF, FIFO_LUT  # imports kinds: not at module level

        t = estimate_terms(est.params, est.part)
        ext = int(est.params.get("EXT_FRAME", 0))   # the frame buffer's axi_stream_fifo engine
        return t["lut"] - LUT_CONTROL + ext * FIFO_LUT, t["ff"] + ext * FIFO_FF, t["dsp"]  # control LUTs: estimator


__all__ = ["MULTIPLIERS_PER_LANE", "NORM_STAGES", "STATS_CODE", "TEMPLATE", "constants_cycles", "cost",
           "external_memories", "GroupNormHw", "derived_widths", "estimate_terms", "fold_candidates", "frame_cycles", "lane_products",
           "latency_cycles", "layer_files", "layer_params", "memories", "multiplier_blocks", "stream_params"]
