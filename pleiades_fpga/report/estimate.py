"""Analytic resource estimator (no synthesis) from manifest.json, for fast design-space exploration.

Per layer (fields of the manifest schema, docs/ARCHITECTURE.md), the terms its hardware kind has (the kind
is looked up by the manifest ``kind``: ``pleiades_fpga.hw.rtl.kinds``; its module holds its own terms):
- multipliers of ``weight_bits`` x (``in_bits`` + 1) bits go to DSP blocks when Yosys would map them there
  (:func:`parts.dsp_blocks`), else to LUTs (about a*b LUTs); per the layer's MAC mode (``mac``, mac_lane): "dsp"
  one product per multiplier (``multipliers`` = PE x SIMD), "packed" two products per multiplier of the packed
  operand widths (``multipliers`` = PE x ceil(SIMD/2)) + the operand and field-extraction adders, "lut" no
  multiplier: PE x SIMD shift-add products of about ``lut_mul`` LUTs per operand bit pair;
- one requantizer per PE lane (acc x M multiplier, rounding shifter, clamp) for layers with weights
  and for pooling; M and S widths from the layer fields ``m_bits``/``s_bits``, else the recorded template
  ``params`` (M_W/M_BITS, S_W/S_BITS), else 16/6 (no multiplier when M is 1 bit wide; a fixed shift when S is too);
- adder tree, accumulators, input-lane selection (``groups`` == channels marks depthwise layers), control;
- the engines' registers: registered products, the parameter word travelling with them, accumulators,
  and for temporal_conv_buffer / pointwise_mvu the partial output vector + 2-beat output queue
  (3 x the output beat) with its per-bit select logic (``queue``) and the 2-beat input queue (``in_queue``);
- memories: block RAM when Yosys would use it (RAMs: :func:`parts.uses_bram`; constant ROMs: when the
  blocks cost Yosys less than logic, :func:`parts.rom_uses_bram`), split by depth like Yosys
  (:func:`parts.bram_blocks`), UltraRAM on parts that have it when cheaper (:func:`parts.memory_class`), else
  LUT RAM / LUT logic.
The structure follows the RTL templates; the constants were fitted to Yosys 0.70 on the layer templates and
on the generated default net (bench/estimate_vs_synth.py, bench/board_ulx3s.py).
"""
from __future__ import annotations

import math

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.rtl.kinds import EstimateInput, hw_kind, manifest_int
from pleiades_fpga.hw.rtl.lowering import packed_operand_bits
from pleiades_fpga.toolflow.parts import (RESOURCES, URAM_BLOCK_BITS, Part, bram_split, dsp_blocks, lutram_luts,
                                        memory_class, rom_luts, rom_uses_bram, uram_blocks)

# Calibration constants per family, fitted to Yosys 0.70 on the layer templates (temporal_conv_buffer,
# conv3x3_stream, pointwise_mvu, avgpool_stream, axis_add; bench/estimate_vs_synth.py):
# - a requant lane costs pw * max(floor, shift * s_bits + round) LUTs (pw = acc + m + 1 bits:
#   multiplier tail, rounding shifter, compare, clamp); ECP5 ``shift``/``round`` refitted (least squares) on
#   synth_ecp5 of the four-stage requant_pipe at ten (ACC_W, M_W, S_W) from (16, 8, 4) to (30, 16, 5): within
#   -13 .. +15 % per lane (the three-stage fit gave +5 .. +38 % on them);
# - adder tree: tree * multipliers * (product bits + log2 SIMD); accumulators: acc * PE * acc_bits;
# - input lane selection: mux * (lane bits) * log2(input groups), + dw_in * (input beat bits) for
#   depthwise layers; control: ctrl_lut;
# - ``tree`` (with the registered products) and ``queue`` (LUTs per output-beat bit) were refitted on the
#   default net (32x32, 21 layers; folding of the ULX3S build) after the multiplier pipeline stage;
# - xc7 ``tree`` 1.0: since mac_lane's stage Q (b152572) re-registers each product, Yosys no longer packs the
#   first adder into the DSP48E1, so the adder tree is fabric again (tests/test_estimate_vs_yosys.py: the
#   three template cases on xc7z020 within 25 %; bench estimate_vs_synth not re-run);
# - ``dsp_ff`` / ``mem_ff``: product / block-RAM read registers that stay in fabric flip-flops (7-series
#   absorbs both into the DSP48E1 and the RAMB18);
# - ``lut_mul``: LUTs per activation x weight bit pair of a LUT-mode (shift-add) product: ECP5 from synth_ecp5 of
#   mac_lane (MS 4, 4 x 4 bits: 229 vs 104 LUTs in mode "dsp", LUT4 + 2 CCU2C; tests/test_rtl_mac_modes.py);
#   7-series: the LUT-multiplier constant ``mul_lut`` (not measured for this mode);
# - ``bram_seg_free``: ``bram_seg`` for the RAMs without Yosys's read-during-write emulation (NO_RW_CHECK_KINDS):
#   synth_ecp5 of ram_sdp 36,864 x 16 bits (36 segments) gives 628 LUT4 with RW_CHECK = 0 against 1,236 with 1, so
#   half of ``bram_seg``; synth_xilinx gives the same cells either way (RAMB18E1 keeps the old word itself);
# - ``in_queue``: LUTs per input-beat bit of the engines' 2-beat input queue (one 2:1 select per bit; Yosys on
#   head_64to10, 512-bit beats: 1.0 on xc7z020 and 0.97 on LFE5U-85F per bit).
_K = {
    "ecp5": {"tree": 2.20, "queue": 1.94, "dsp_ff": 1.0, "mem_ff": 1.0, "bram_rd": 1.0, "bram_seg": 4.3,
             "bram_seg_free": 2.2,
             "acc": 3.73, "mux": 4.14, "shift": 3.64, "round": -5.98, "floor": 2.0, "ctrl_lut": 100, "ctrl_ff": 40,
             "mul_lut": 1.1, "sum": 1.0, "add2": 1.0, "add_rq": 19.0, "dw_in": 2.5, "lut_mul": 1.55, "in_queue": 1.0},
    "xc7": {"tree": 1.0, "queue": 2.1, "dsp_ff": 0.0, "mem_ff": 0.0, "bram_rd": 0.0, "bram_seg": 2.0,
            "bram_seg_free": 2.0,
            "acc": 3.41, "mux": 1.0, "shift": 1.8, "round": -2.6, "floor": 1.0, "ctrl_lut": 60, "ctrl_ff": 40,
            "mul_lut": 0.6, "sum": 0.57, "add2": 0.85, "add_rq": 9.0, "dw_in": 0.5, "lut_mul": 0.6, "in_queue": 1.0},
}


# memories without Yosys's read-during-write emulation: constant ROMs, and the RAMs whose template instantiates
# ram_sdp with RW_CHECK = 0 (temporal_conv_buffer's history, conv3x3_stream's line buffer)
NO_RW_CHECK_KINDS = ("weights", "circular_buffer", "line_buffer")


def _prod(shape) -> int:
    return int(math.prod(int(v) for v in shape)) if shape else 0


def map_memory(mem: dict, part: Part) -> dict:
    """One manifest memory mapped to ``part``: block RAM blocks/bits or LUT-RAM LUTs."""
    depth, width = manifest_int(mem, "depth"), manifest_int(mem, "width")
    if depth <= 0 or width <= 0:
        raise PleiadesError(f"memory {mem.get('name', '?')!r} needs positive depth and width, got {depth} x {width}")
    if mem.get("kind") == "weights" and not rom_uses_bram(depth, width, part):
        return {"name": mem.get("name", ""), "kind": "weights", "depth": depth, "width": width,
                "bits": depth * width, "resource": "logic", "bram_blocks": 0, "bram_bits": 0,
                "uram_blocks": 0, "uram_bits": 0, "lutram_luts": rom_luts(depth, width, part), "glue_luts": 0}
    resource = "bram" if mem.get("kind") == "weights" else memory_class(depth, width, part)
    bram = resource == "bram"
    blocks, segments = bram_split(depth, width, part) if bram else (0, 0)
    urams = uram_blocks(depth, width) if resource == "uram" else 0
    k = _K[part.fabric]
    # block RAM glue (measured on Yosys's mapping of one-write one-read memories): the read-during-write
    # multiplexer per bit (none for ROMs, none for the RAMs the templates declare free of it: ram_sdp RW_CHECK = 0),
    # and an output multiplexer per bit for every depth segment beyond the first
    free = mem.get("kind") in NO_RW_CHECK_KINDS
    rd, seg = (0.0, k["bram_seg_free"]) if free else (k["bram_rd"], k["bram_seg"])
    glue = width * (rd + seg * (segments - 1)) if bram else 0.0
    if urams:   # the same output multiplexer per bit across the rows of URAM288 blocks
        glue = width * (k["bram_rd"] + k["bram_seg"] * (urams // math.ceil(width / 72) - 1)) if width > 72 \
            else width * (k["bram_rd"] + k["bram_seg"] * (urams - 1))
    return {"name": mem.get("name", ""), "kind": mem.get("kind", ""), "depth": depth, "width": width,
            "bits": depth * width, "resource": resource, "bram_blocks": blocks,
            "bram_bits": blocks * part.bram_block_bits, "uram_blocks": urams, "uram_bits": urams * URAM_BLOCK_BITS,
            "lutram_luts": lutram_luts(depth, width, part) if resource == "lutram" else 0,
            "glue_luts": int(round(glue))}


def _estimate_input(layer: dict, part: Part) -> EstimateInput:
    """The fields every estimate term reads (defaults for a hand-written entry: 8-bit beats, 16-bit accumulators,
    M and S widths from ``m_bits``/``s_bits``, else the recorded template ``params``, else 16/6)."""
    params = layer.get("params") or {}          # the template parameters the generator used, if recorded
    return EstimateInput(
        entry=layer, part=part, k=_K[part.fabric], pe=max(1, manifest_int(layer, "pe", 1)),
        simd=max(1, manifest_int(layer, "simd", 1)), mults=manifest_int(layer, "multipliers"),
        in_bits=manifest_int(layer, "in_bits", 8), out_bits=manifest_int(layer, "out_bits", 8),
        w_bits=manifest_int(layer, "weight_bits"), acc_bits=manifest_int(layer, "acc_bits", 16),
        m_bits=manifest_int(layer, "m_bits", int(params.get("M_W", params.get("M_BITS", 16)))),
        s_bits=manifest_int(layer, "s_bits", int(params.get("S_W", params.get("S_BITS", 6)))),
        in_c=int(layer["in_shape"][0]) if isinstance(layer.get("in_shape"), list) else 0,
        out_c=int(layer["out_shape"][0]) if isinstance(layer.get("out_shape"), list) else 1, params=params)


def _mac_terms(est: EstimateInput, memories: list[dict]) -> tuple[float, float, float]:
    """(lut, ff, dsp) of the multipliers, their adder tree, accumulators, input-lane selection and registers."""
    k, part, pe, simd, mults = est.k, est.part, est.pe, est.simd, est.mults
    in_bits, w_bits, acc_bits, in_c = est.in_bits, est.w_bits, est.acc_bits, est.in_c
    groups_field = est.int("groups", 1)
    depthwise = bool(est.entry.get("depthwise", groups_field > 1 and groups_field == in_c))
    lut = ff = 0.0
    mode = str(est.entry.get("mac", "dsp"))
    prod_bits = w_bits + in_bits + 1
    tree_in = mults                            # registered multiplier outputs entering the adder tree
    if mode == "lut":
        tree_in = pe if depthwise else pe * simd
        per = 0
        lut += tree_in * k["lut_mul"] * w_bits * (in_bits + 1)
    elif mode == "packed":                     # operands x0 + x1 2^S, w1 + w0 2^S; the middle field + borrow bit
        per = dsp_blocks(*packed_operand_bits(in_bits, w_bits), part)
        lut += mults * k["add2"] * (in_bits + 1 + w_bits + 1 + prod_bits)
    else:
        per = dsp_blocks(w_bits, in_bits + 1, part)
        if per == 0:
            lut += mults * k["mul_lut"] * w_bits * (in_bits + 1)
    dsp = mults * per
    lut += k["tree"] * tree_in * (prod_bits + math.ceil(math.log2(simd)))
    lut += k["acc"] * pe * acc_bits
    lanes = pe if depthwise else simd          # input channels consumed per cycle
    groups = math.ceil(in_c / lanes) if in_c else 1
    if groups > 1:   # a groups:1 multiplexer per input lane bit: LUT4 trees (log depth), LUT6 4:1 steps
        levels = math.ceil(math.log2(groups)) if part.lut_inputs < 6 else math.ceil((groups - 1) / 3)
        lut += k["mux"] * lanes * in_bits * levels
    # depthwise engines select their lanes from the whole input pixel; it costs dw_in LUTs per bit
    # when the pixel comes from flip-flops or LUT RAM (temporal engines, narrow line buffers), not
    # when a block-RAM line buffer delivers it (fitted on the default net and the templates)
    bram_lines = any(m["kind"] == "line_buffer" and m["resource"] == "bram" for m in memories)
    if depthwise and not bram_lines:
        lut += k["dw_in"] * est.in_width
    # registered products (7-series: absorbed into the DSP48E1 M register), accumulators
    ff += tree_in * prod_bits * (k["dsp_ff"] if per else 1.0) + pe * acc_bits
    bias_bits = int(est.params.get("BIAS_W", est.params.get("BIAS_BITS", 16)))
    ff += pe * (bias_bits + est.m_bits + est.s_bits)                   # parameter word held with the products
    return lut, ff, dsp


def _requant_terms(est: EstimateInput) -> tuple[float, float, float]:
    """One requantization lane per PE: requant.v has no multiplier when M is 1 bit wide (power-of-two scales),
    and a per-channel shift S from the parameter ROM is a rounding barrel shifter."""
    k, pe, acc_bits, m_bits, s_bits = est.k, est.pe, est.acc_bits, est.m_bits, est.s_bits
    pw = acc_bits + m_bits + 1
    dsp = pe * dsp_blocks(acc_bits + 1, m_bits + 1, est.part) if m_bits > 1 else 0
    if m_bits > 1 or s_bits > 1:
        lut = pe * pw * max(k["floor"], s_bits * k["shift"] + k["round"])
    else:
        lut = pe * acc_bits * 2.0                 # round + clamp of a fixed shift
    return lut, pe * est.out_bits, dsp


def estimate_layer(layer: dict, part: Part) -> dict:
    """Estimated lut, ff, dsp, bram_bits, uram_bits (+ bram_blocks, uram_blocks, memories) of one manifest layer
    on ``part``: the shared terms its hardware kind has (``pleiades_fpga.hw.rtl.kinds``, by manifest kind) plus
    the kind's own ``estimate_terms``."""
    kind = str(layer.get("kind", ""))
    hk = hw_kind(kind)
    est = _estimate_input(layer, part)
    k = est.k
    lut = ff = dsp = 0.0
    memories = [map_memory(m, part) for m in layer.get("memories", [])]
    has_macs = est.mults or layer.get("mac") == "lut"        # LUT-mode MAC lanes have no multiplier
    terms = [_mac_terms(est, memories)] if has_macs and est.w_bits else []
    if hk.requant_lanes:
        terms.append(_requant_terms(est))
    terms.append(hk.estimate_terms(est))
    for t_lut, t_ff, t_dsp in terms:
        lut, ff, dsp = lut + t_lut, ff + t_ff, dsp + t_dsp
    # stream registers (input/output beats) and control (folded engines need the most)
    ff += hk.stream_ff(est)
    if hk.output_queue:
        # partial output vector + 2-beat output queue (3 x the output beat in flip-flops); the beat
        # multiplexer (finished group or partial vector) and the queue head's input select per bit
        ff += 2 * est.out_width
        lut += k["queue"] * est.out_width
        # the 2-beat input queue of temporal_conv_buffer / pointwise_mvu (axis_out_queue: 2 x the input beat in
        # flip-flops, one 2:1 select per bit)
        ff += 2 * est.in_width
        lut += k["in_queue"] * est.in_width
    lut += k["ctrl_lut"] * hk.control_share if hk.control_share is not None else 20
    # memories
    lut += sum(m["lutram_luts"] + m["glue_luts"] for m in memories)
    blocks = sum(m["bram_blocks"] for m in memories)
    ff += k["mem_ff"] * sum(m["width"] for m in memories if m["resource"] == "bram")   # read registers
    urams = sum(m["uram_blocks"] for m in memories)
    return {"name": layer.get("name", ""), "kind": kind, "lut": int(round(lut)), "ff": int(round(ff)),
            "dsp": int(dsp), "bram_blocks": blocks, "bram_bits": blocks * part.bram_block_bits,
            "uram_blocks": urams, "uram_bits": urams * URAM_BLOCK_BITS, "memories": memories}


def estimate_manifest(manifest: dict, part: Part) -> dict:
    """Per-layer and total estimates for a manifest on ``part``: {"layers": [...], "total": {...}}."""
    layers = manifest.get("layers")
    if not isinstance(layers, list) or not layers:
        raise PleiadesError("manifest.json has no 'layers' list; regenerate the build (pleiades-fpga build ...)")
    per_layer = [estimate_layer(layer, part) for layer in layers]
    total = {key: sum(l[key] for l in per_layer) for key in (*RESOURCES, "bram_blocks", "uram_blocks")}
    return {"part": part.name, "layers": per_layer, "total": total}


def memory_breakdown(manifest: dict, part: Part) -> dict[str, dict[str, int]]:
    """Raw bits and mapped block-RAM / UltraRAM bits per memory kind (circular_buffer, line_buffer, weights, ...)."""
    out: dict[str, dict[str, int]] = {}
    for layer in manifest.get("layers", []):
        for mem in layer.get("memories", []):
            m = map_memory(mem, part)
            slot = out.setdefault(m["kind"] or "other", {"bits": 0, "bram_bits": 0, "uram_bits": 0, "lutram_bits": 0})
            slot["bits"] += m["bits"]
            slot["bram_bits"] += m["bram_bits"]
            slot["uram_bits"] += m["uram_bits"]
            slot["lutram_bits"] += 0 if m["resource"] in ("bram", "uram") else m["bits"]
    return out
