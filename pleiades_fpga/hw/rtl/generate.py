"""Streaming RTL generator: integer IR -> one module per layer, AXI-Stream top, manifest.

Each IR layer becomes an instance of a hand-written template (``templates/*.v``) wrapped with its
constant ROMs (weights, bias/requant parameters) in a generated module ``L<i>_<name>``; the top
connects the wrappers by AXI-Stream (one beat = one pixel with all channels, ``tlast`` on the last
pixel of a frame). A tensor read by two layers (the DWS block input) goes through ``axis_fork``; the
branch that reaches the ``add`` first gets an ``axis_fifo``. The IR's ``input`` layer (clipping event
counts to the input width) is done by the host: the top's input stream carries those integers.
The top's output is one beat per frame: the logits (signed accumulators of the last layer).
"""
from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pleiades_fpga.artifacts import write_json_atomic, write_text_atomic
from pleiades_fpga.errors import PleiadesError, UnsupportedModelError
from pleiades_fpga.ir.graph import IRGraph, Layer
from pleiades_fpga.hw.rtl import rom
from pleiades_fpga.hw.rtl.cycles import MAC_PIPELINE_CYCLES
from pleiades_fpga.hw.rtl.cycles_spatial import CONV3X3_PIPELINE_CYCLES
from pleiades_fpga.hw.rtl import verilog as v
from pleiades_fpga.hw.rtl.folding import (Fold, default_folding, dense_pointwise_weight, folding_to_json, group_inputs,
                                          is_depthwise, layer_cost, module_kind)
from pleiades_fpga.ir.kinds.projection import projection_window
from pleiades_fpga.hw.rtl.projection_rtl import projection_params, projection_wrapper
from pleiades_fpga.hw.rtl.lint import TEMPLATES_DIR, template_sources

TOP = "pleiades_top"
SKIP_FIFO_DEPTH = 16
MANIFEST_FORMAT = "pleiades-fpga-manifest/1"


def _ident(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return s if re.match(r"[A-Za-z_]", s) else f"t_{s}"


def _requant_fields(layer: Layer, bias: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, bool]:
    """(bias, M, S, out_bits, out_signed) of a layer; a layer without requant outputs its accumulator."""
    n = layer.out_channels
    bias = np.zeros(n, dtype=np.int64) if bias is None else np.asarray(bias, dtype=np.int64)
    if layer.requant:
        m = np.asarray(layer.multiplier, dtype=np.int64).reshape(-1)
        s = np.asarray(layer.shift, dtype=np.int64).reshape(-1)
        m, s = np.broadcast_to(m, (n,)).copy(), np.broadcast_to(s, (n,)).copy()
        # the same ratio M / 2**S with the fewest multiplier bits (exact): halve even M while S > 0
        while True:
            even = (m % 2 == 0) & (s > 0) & (m > 0)
            if not even.any():
                break
            m[even] //= 2
            s[even] -= 1
        return bias, m, s, layer.out_bits, layer.out_signed
    return bias, np.ones(n, dtype=np.int64), np.zeros(n, dtype=np.int64), layer.acc_bits, True


def _widths(bias: np.ndarray, m: np.ndarray, s: np.ndarray) -> tuple[int, int, int]:
    return (max(2, rom.bits_needed(bias, signed=True)), max(1, rom.bits_needed(m, signed=False)),
            max(1, rom.bits_needed(s, signed=False)))


def _mac_module(graph: IRGraph, layer: Layer, name: str, fold: Fold) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """temporal_conv_buffer / pointwise_mvu wrapper and its manifest entry fragments."""
    kind = module_kind(layer)
    x = graph.tensors[layer.inputs[0]]
    dw = is_depthwise(layer)
    g_in = group_inputs(layer)  # grouped pointwise with one output per group: native (GROUP_IN)
    # (out, in/g, K); other grouped pointwise convs run dense with a block-diagonal weight
    # depthwise layers keep their (C, 1, K) weight: the template's depthwise mode reads one lane per channel
    raw = dw or g_in
    w = (np.asarray(layer.params.weight, dtype=np.int64) if raw else dense_pointwise_weight(layer))[:, :, :, 0, 0]
    k = w.shape[2]
    bias, m, s, out_bits, out_signed = _requant_fields(layer, layer.params.bias)
    bw, mw, sw = _widths(bias, m, s)
    w_w = max(2, layer.params.weight_bits, rom.bits_needed(w, signed=True))
    params = {"C_IN": layer.in_channels, "C_OUT": layer.out_channels, "PE": fold.pe, "SIMD": fold.simd,
              "IN_W": x.bits, "IN_SIGNED": int(x.signed), "W_W": w_w, "ACC_W": layer.acc_bits, "BIAS_W": bw,
              "M_W": mw, "S_W": sw, "OUT_W": out_bits, "OUT_SIGNED": int(out_signed)}
    if kind == "temporal_conv":
        template = "temporal_conv_buffer"
        params = {**params, "K": k, "PIXELS": x.height * x.width, "DEPTHWISE": int(dw)}
    else:
        template = "pointwise_mvu"
        if g_in:
            params["GROUP_IN"] = g_in
    files = rom.mac_layer_files(name, template, params, w, bias, m, s)
    mems = _rom_memories(name, params, w)
    if kind == "temporal_conv":
        mems.insert(0, {"name": f"{name}_history", "kind": "circular_buffer", "depth": (k - 1) * x.height * x.width,
                        "width": layer.in_channels * x.bits})
    return files, {"module": template, "weight_bits": w_w, "stride": int(layer.params.stride[0]), "groups": layer.params.groups, "kernel": k, "memories": mems, "params": params}


def _rom_memories(name: str, params: dict[str, int], weights: np.ndarray) -> list[dict[str, Any]]:
    """Manifest memories of the weight / parameter ROMs of a MAC layer wrapper (rom.mac_layer_files)."""
    dw = bool(params.get("DEPTHWISE"))
    out_groups = -(-params["C_OUT"] // params["PE"])
    in_groups = 1 if dw else -(-weights.shape[1] // params["SIMD"])
    lanes = params["PE"] if dw else params["PE"] * params["SIMD"]
    fw = params["BIAS_W"] + params["M_W"] + params["S_W"]
    return [{"name": f"{name}_weights", "kind": "weights", "depth": out_groups * weights.shape[2] * in_groups,
             "width": lanes * params["W_W"]},
            {"name": f"{name}_params", "kind": "weights", "depth": out_groups, "width": params["PE"] * fw}]


def _conv3x3_module(graph: IRGraph, layer: Layer, name: str, fold: Fold) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    x = graph.tensors[layer.inputs[0]]
    dw = is_depthwise(layer)
    w = np.asarray(layer.params.weight, dtype=np.int64)[:, :, 0].reshape(layer.out_channels, -1, 9)  # (out, in/g, 9)
    bias, m, s, out_bits, out_signed = _requant_fields(layer, layer.params.bias)
    bw, mw, sw = _widths(bias, m, s)
    w_w = max(2, layer.params.weight_bits, rom.bits_needed(w, signed=True))
    params = {"H": x.height, "W": x.width, "C_IN": layer.in_channels, "C_OUT": layer.out_channels,
              "STRIDE": layer.params.stride[0], "DEPTHWISE": int(dw), "PE": fold.pe, "SIMD": 1 if dw else fold.simd,
              "IN_W": x.bits, "IN_SIGNED": int(x.signed), "W_W": w_w, "ACC_W": layer.acc_bits,
              "BIAS_W": bw, "M_W": mw, "S_W": sw, "OUT_W": out_bits, "OUT_SIGNED": int(out_signed)}
    files = rom.mac_layer_files(name, "conv3x3_stream", params, w, bias, m, s)
    rows = 3 if layer.params.stride[0] == 1 else 4  # conv3x3_stream keeps one extra row at stride 2 (no stalls)
    mems = [{"name": f"{name}_lines", "kind": "line_buffer", "depth": rows * x.width, "width": layer.in_channels * x.bits},
            *_rom_memories(name, params, w)]
    return files, {"module": "conv3x3_stream", "weight_bits": w_w, "stride": int(layer.params.stride[0]),
                   "groups": layer.params.groups, "kernel": 3, "memories": mems, "params": params}


def _avgpool_module(graph: IRGraph, layer: Layer, name: str, fold: Fold) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    x = graph.tensors[layer.inputs[0]]
    _, m, s, out_bits, out_signed = _requant_fields(layer)
    mw, sw = max(1, rom.bits_needed(m, False)), max(1, rom.bits_needed(s, False))
    params = {"H": x.height, "W": x.width, "C": x.channels, "IN_W": x.bits, "IN_SIGNED": int(x.signed),
              "ACC_W": layer.acc_bits, "PE": fold.pe, "M_W": mw, "S_W": sw, "OUT_W": out_bits,
              "OUT_SIGNED": int(out_signed)}
    files = rom.avgpool_layer_files(name, params, m, s)
    mems = [{"name": f"{name}_params", "kind": "weights", "depth": -(-x.channels // fold.pe), "width": fold.pe * (mw + sw)}]
    return files, {"module": "avgpool_stream", "memories": mems, "params": params}


def _add_module(graph: IRGraph, layer: Layer, name: str) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """axis_add (exact sum) followed by a per-channel requant (constant M, S) on the registered sum."""
    a, b = (graph.tensors[i] for i in layer.inputs)
    _, m, s, out_bits, out_signed = _requant_fields(layer)
    mw, sw = max(1, rom.bits_needed(m, False)), max(1, rom.bits_needed(s, False))
    acc = layer.acc_bits
    c = layer.out_channels
    params = {"C": c, "A_W": a.bits, "A_SIGNED": int(a.signed), "SHIFT_A": 0, "B_W": b.bits,
              "B_SIGNED": int(b.signed), "SHIFT_B": 0, "OUT_W": acc, "OUT_SIGNED": 1}
    body = [v.wire("sum_data", c * acc),
            v.instance("axis_add", "u_add", {"clk": "clk", "rst": "rst", **v.stream_connections("s_a_axis", "s_a_axis"),
                                             **v.stream_connections("s_b_axis", "s_b_axis"), "m_axis_tdata": "sum_data",
                                             **{f"m_axis_{sig}": f"m_axis_{sig}" for sig in ("tvalid", "tready", "tlast")}},
                       params)]
    for i in range(c):
        mi, si = int(m[i]), int(s[i])
        k = mi.bit_length() - 1
        y = f"m_axis_tdata[{i * out_bits} +: {out_bits}]"
        if mi == 1 << k:  # M = 2**k: a constant left shift of the sum, no multiplier
            acc_in = f"{{sum_data[{i * acc} +: {acc}], {k}'d0}}" if k else f"sum_data[{i * acc} +: {acc}]"
            rq = {"ACC_W": acc + k, "M_W": 1, "S_W": sw, "OUT_W": out_bits, "OUT_SIGNED": int(out_signed)}
            conns = {"acc": acc_in, "m": "1'b1", "s": f"{sw}'d{si}", "y": y}
        else:
            rq = {"ACC_W": acc, "M_W": mw, "S_W": sw, "OUT_W": out_bits, "OUT_SIGNED": int(out_signed)}
            conns = {"acc": f"sum_data[{i * acc} +: {acc}]", "m": f"{mw}'d{mi}", "s": f"{sw}'d{si}", "y": y}
        body.append(v.instance("requant", f"u_rq{i}", conns, rq))
    ports = (v.clock_reset() + v.stream_ports("s_a_axis", c * a.bits, slave=True)
             + v.stream_ports("s_b_axis", c * b.bits, slave=True) + v.stream_ports("m_axis", c * out_bits, slave=False))
    text = v.module(name, ports, body, comment=f"{name}: DWS skip add = axis_add (exact sum) + per-channel requant "
                                               "(generated).")
    pow2 = all(int(x) == 1 << (int(x).bit_length() - 1) for x in m)
    mw = 1 if pow2 else mw  # what the estimator should assume: no multipliers when every M is a power of two
    return [(name, text)], {"module": "axis_add", "memories": [], "params": params, "m_bits": mw}


def _projection_module(graph: IRGraph, layer: Layer, name: str, fold: Fold) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """projection_state wrapper (recurrent temporal layer: D states per channel and pixel in block RAM)."""
    x = graph.tensors[layer.inputs[0]]
    params = projection_params(layer.params.proj_A, layer.params.proj_B, layer.params.frac_bits, layer.in_channels, x.height * x.width,
                               x.bits, x.signed, layer.out_bits, layer.acc_bits, fold.pe, fold.simd)
    groups = -(-layer.in_channels // fold.simd)  # one word per pixel and channel group
    mems = [{"name": f"{name}_state", "kind": "state", "depth": x.height * x.width * groups,
             "width": fold.simd * layer.params.state_dim * layer.out_bits}]
    return [(name, projection_wrapper(name, params))], {
        "module": "projection_state", "memories": mems, "params": params, "kernel": 1,
        "extra": {"state_dim": layer.params.state_dim, "state_bits": layer.out_bits, "frac_bits": layer.params.frac_bits,
                  "window": projection_window(graph, layer), "in_signed": bool(x.signed)}}


def _bin_us(graph: IRGraph) -> int | None:
    """Bin size the model was trained for, from the QONNX metadata (None if absent)."""
    cfg = graph.metadata.get("pleiades.net_config")
    if isinstance(cfg, dict) and cfg.get("bin_us"):
        return int(cfg["bin_us"])
    return graph.metadata.get("bin_us")


_LAYER_MODULES = {"temporal_conv": _mac_module, "pointwise": _mac_module, "conv3x3": _conv3x3_module,
                  "avgpool": _avgpool_module, "projection": _projection_module}


def _layer_module(graph: IRGraph, layer: Layer, name: str, fold: Fold) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """Generated files and manifest fragments of one hardware layer (dispatch on its template family)."""
    kind = module_kind(layer)
    return _add_module(graph, layer, name) if kind == "add" else _LAYER_MODULES[kind](graph, layer, name, fold)


def _shape(graph: IRGraph, tensor: str) -> list[int]:
    t = graph.tensors[tensor]
    return [t.channels, t.height, t.width]


def _width(graph: IRGraph, tensor: str) -> int:
    t = graph.tensors[tensor]
    return t.channels * t.bits


@dataclass
class _Streams:
    """The top's AXI-Stream wiring: wire declarations, fork/FIFO instances, and which stream (wire prefix)
    each layer input reads. A layer's output is ``<ident>_out``; the top input is ``s_in``."""

    producers: dict[str, str]                                   # tensor -> stream prefix
    port_of: dict[tuple[str, str, int], str] = field(default_factory=dict)  # (tensor, reader, input index) -> prefix
    decls: list[str] = field(default_factory=list)
    insts: list[str] = field(default_factory=list)
    forks: list[dict[str, Any]] = field(default_factory=list)   # manifest entries of the forks


def _plan_streams(graph: IRGraph, hw_layers: list[Layer], in_tensor: str) -> _Streams:
    """Producer of every tensor; a tensor with two readers goes through axis_fork, and the short branch (the
    add itself, or the layer whose output the add reads: the skip) through an axis_fifo."""
    st = _Streams(producers={in_tensor: "s_in"})
    readers: dict[str, list[Layer]] = {}
    for l in hw_layers:
        for t in l.inputs:
            readers.setdefault(t, []).append(l)
        st.producers[l.output] = f"{_ident(l.name)}_out"
        st.decls += v.stream_wires(st.producers[l.output], _width(graph, l.output))
    adds = [l for l in hw_layers if l.kind == "add"]
    for tname, cons in readers.items():
        if tname not in st.producers:
            raise UnsupportedModelError(f"tensor {tname} is read by {cons[0].name} but produced by no hardware layer")
        src = st.producers[tname]
        if len(cons) == 1:
            st.port_of[(tname, cons[0].name, cons[0].inputs.index(tname))] = src
            continue
        if len(cons) != 2:
            raise UnsupportedModelError(f"tensor {tname} has {len(cons)} readers; the RTL backend forks into 2 at most")
        ident, w = _ident(tname), _width(graph, tname)
        fa, fb, fq = f"fork_{ident}_a", f"fork_{ident}_b", f"fork_{ident}_bq"
        for prefix in (fa, fb, fq):
            st.decls += v.stream_wires(prefix, w)
        st.insts.append(v.instance("axis_fork", f"u_fork_{ident}", {
            "clk": "clk", "rst": "rst", **v.stream_connections("s_axis", src), **v.stream_connections("m_a_axis", fa),
            **v.stream_connections("m_b_axis", fb)}, {"DATA_W": w}))
        st.insts.append(v.instance("axis_fifo", f"u_fifo_{ident}", {
            "clk": "clk", "rst": "rst", **v.stream_connections("s_axis", fb), **v.stream_connections("m_axis", fq)},
            {"DATA_W": w, "DEPTH": SKIP_FIFO_DEPTH}))
        near = [i for i, c in enumerate(cons) if c.kind == "add" or any(c.output in a.inputs for a in adds)]
        short = near[0] if len(near) == 1 else 1
        st.port_of[(tname, cons[1 - short].name, cons[1 - short].inputs.index(tname))] = fa
        st.port_of[(tname, cons[short].name, cons[short].inputs.index(tname))] = fq
        shape = _shape(graph, tname)
        st.forks.append({"name": f"fork_{ident}", "kind": "fork", "module": "axis_fork+axis_fifo", "in_shape": shape,
                         "memories": [{"name": f"fifo_{ident}", "kind": "fifo", "depth": SKIP_FIFO_DEPTH, "width": w + 1}],
                         "macs_per_frame": 0, "multipliers": 0, "cycles_per_frame": shape[1] * shape[2]})
    return st


def _layer_instance(layer: Layer, name: str, st: _Streams) -> str:
    """Instance ``u_<name>`` of a layer wrapper in the top, wired to its input stream(s) and ``<ident>_out``."""
    conns = {"clk": "clk", "rst": "rst"}
    if layer.kind == "add":
        conns.update(v.stream_connections("s_a_axis", st.port_of[(layer.inputs[0], layer.name, 0)]))
        conns.update(v.stream_connections("s_b_axis", st.port_of[(layer.inputs[1], layer.name, 1)]))
    else:
        conns.update(v.stream_connections("s_axis", st.port_of[(layer.inputs[0], layer.name, 0)]))
    conns.update(v.stream_connections("m_axis", st.producers[layer.output]))
    return v.instance(name, f"u_{name}", conns)


def _layer_entry(graph: IRGraph, layer: Layer, name: str, fold: Fold, info: dict[str, Any]) -> dict[str, Any]:
    """The manifest entry of one hardware layer."""
    x, y = graph.tensors[layer.inputs[0]], graph.tensors[layer.output]
    kind = module_kind(layer)
    entry = {"name": layer.name, "kind": kind, "module": info["module"], "instance": f"u_{name}",
             "in_shape": _shape(graph, layer.inputs[0]), "out_shape": _shape(graph, layer.output),
             "in_bits": x.bits, "out_bits": y.bits, "weight_bits": info.get("weight_bits", 0),
             "acc_bits": layer.acc_bits, "kernel": info.get("kernel", 1), "stride": info.get("stride", 1),
             "groups": info.get("groups", 1), "depthwise": is_depthwise(layer), "pe": fold.pe, "simd": fold.simd,
             **layer_cost(graph, layer, fold), "memories": info["memories"], "params": info["params"]}
    if "m_bits" in info:
        entry["m_bits"] = info["m_bits"]
    entry.update(info.get("extra", {}))
    if kind == "temporal_conv":
        entry["in_signed"] = bool(x.signed)
    for mem in entry["memories"]:
        mem["bits"] = int(mem["depth"]) * int(mem["width"])
    return entry


def _top_verilog(graph: IRGraph, top: str, in_tensor: str, st: _Streams, insts: list[str]) -> str:
    """The network top: the host's input stream -> layer wrappers (forks, FIFOs) -> one logit beat per frame."""
    tin, tout = graph.tensors[in_tensor], graph.tensors[graph.output]
    din, out = _width(graph, in_tensor), st.producers[graph.output]
    body = [v.wire("s_in_tdata", din, "s_axis_tdata"), v.wire("s_in_tvalid", value="s_axis_tvalid"), v.wire("s_in_tready"),
            v.wire("s_in_tlast", value="s_axis_tlast"), "    assign s_axis_tready = s_in_tready;",
            *st.decls, *st.insts, *insts,
            f"    assign m_axis_tdata = {out}_tdata;", f"    assign m_axis_tvalid = {out}_tvalid;",
            f"    assign {out}_tready = m_axis_tready;", f"    assign m_axis_tlast = {out}_tlast;"]
    comment = (f"{top}: streaming PLEIADES network (generated by pleiades_fpga.hw.rtl.generate).\n"
               f"Input: one beat per pixel, {tin.channels} channels x {tin.bits} bits "
               f"({'signed' if tin.signed else 'unsigned'}),\n"
               f"  raster order {tin.height}x{tin.width}, s_axis_tlast on the last pixel of each frame.\n"
               f"Output: one beat per frame, {tout.channels} logits x {tout.bits} bits (signed), m_axis_tlast = 1.")
    return v.module(top, v.layer_ports(din, _width(graph, graph.output)), body, comment=comment)


def _manifest(graph: IRGraph, out_dir: Path, top: str, in_tensor: str, files: list[str], layers_json: list[dict],
              folding: dict[str, Any], clock_mhz_target: float) -> dict[str, Any]:
    """manifest.json (schema: docs/ARCHITECTURE.md) of a generated design."""
    tin, tout = graph.tensors[in_tensor], graph.tensors[graph.output]
    compute = [e for e in layers_json if e.get("kind") not in ("fork",)]
    cycles_per_frame = max(e["cycles_per_frame"] for e in layers_json)
    manifest = {
        "format": MANIFEST_FORMAT, "name": out_dir.name, "top": top, "rtl_files": [f"rtl/{f}" for f in files],
        "clock_mhz_target": clock_mhz_target,
        "input": {"channels": tin.channels, "height": tin.height, "width": tin.width, "bits": tin.bits,
                  "signed": tin.signed, "bin_us": _bin_us(graph),
                  "scale": float(np.asarray(tin.scale).reshape(-1)[0])},
        "output": {"channels": tout.channels, "bits": tout.bits, "signed": True,
                   "scale": np.broadcast_to(np.asarray(tout.scale, dtype=float), (tout.channels,)).tolist()},
        "layers": layers_json,
        "cycles_per_frame": int(cycles_per_frame),
        "macs_per_frame": int(sum(e.get("macs_per_frame", 0) for e in compute)),
        "multipliers": int(sum(e.get("multipliers", 0) for e in compute)),
        "folding": folding,
        "reset_cycles": int(max([(e["kernel"] - 1) * e["in_shape"][1] * e["in_shape"][2]
                                 for e in layers_json if e.get("kind") == "temporal_conv"]
                                + [m["depth"] for e in layers_json if e.get("kind") == "projection"
                                   for m in e["memories"] if m["kind"] == "state"]  # state memory clear
                                or [0])),
    }
    manifest["ideal_cycles_per_frame"] = manifest["macs_per_frame"] / max(1, manifest["multipliers"])
    # analytic latency (first input pixel of a frame -> its logits): the frame streams in at the pipeline
    # rate, then each layer after the input adds about one output pixel of its own work and its pipeline
    pipeline = {"temporal_conv": MAC_PIPELINE_CYCLES, "pointwise": MAC_PIPELINE_CYCLES,
                "conv3x3": CONV3X3_PIPELINE_CYCLES}
    manifest["latency_cycles"] = int(cycles_per_frame + sum(
        -(-e["cycles_per_frame"] // max(1, e["out_shape"][1] * e["out_shape"][2])) + pipeline.get(e["kind"], 0)
        for e in compute))
    return manifest


def _write_rtl(rtl_dir: Path, modules: list[tuple[str, str]], top: str, top_text: str,
               templates_used: set[str]) -> list[str]:
    """Write the generated modules, the top and the templates (with their blocks); return the file names in order."""
    for old in rtl_dir.glob("*.v"):
        old.unlink()
    files: list[str] = []
    for t in sorted(templates_used):
        for src in template_sources(t):
            if src.name not in files:
                shutil.copyfile(src, rtl_dir / src.name)
                files.append(src.name)
    generated = []
    for mod_name, text in [*modules, (top, top_text)]:
        write_text_atomic(rtl_dir / f"{mod_name}.v", text)
        generated.append(f"{mod_name}.v")
    return files + generated


def _check_graph(graph: IRGraph, hw_layers: list[Layer]) -> str:
    """The top's input tensor; a clear error for a graph the RTL backend cannot build (before anything is written)."""
    for l in hw_layers:
        module_kind(l)  # raises a clear error for unsupported layers
    inputs = [l for l in graph.layers if l.kind == "input"]
    in_tensor = inputs[0].output if inputs else graph.input
    if in_tensor not in graph.tensors:
        raise UnsupportedModelError("the IR has no quantized input tensor; export the model with an input quantizer")
    tout = graph.tensors[graph.output]
    if tout.height * tout.width != 1:
        raise UnsupportedModelError(
            f"the network output {graph.output} is a {tout.height}x{tout.width} map; the RTL backend needs a "
            "classifier head ending in a global mean (one logit vector per frame)")
    return in_tensor


def generate(graph: IRGraph, out_dir: str | Path, folding: dict[str, Fold] | None = None,
             top: str = TOP, clock_mhz_target: float = 100.0) -> dict[str, Any]:
    """Write ``out_dir/rtl/*.v`` and ``out_dir/manifest.json`` for ``graph``; return the manifest."""
    out_dir = Path(out_dir)
    folding = dict(folding or default_folding(graph))
    hw_layers = [l for l in graph.layers if l.kind != "input"]
    in_tensor = _check_graph(graph, hw_layers)
    for l in hw_layers:
        folding.setdefault(l.name, Fold())
    st = _plan_streams(graph, hw_layers, in_tensor)
    modules, insts, layers_json = [], [], list(st.forks)
    templates_used = {"requant"} | ({"axis_fork", "axis_fifo"} if st.forks else set())
    for idx, l in enumerate(hw_layers):
        name = f"L{idx}_{_ident(l.name)}"
        files, info = _layer_module(graph, l, name, folding[l.name])
        templates_used.add(info["module"])
        modules += files
        insts.append(_layer_instance(l, name, st))
        layers_json.append(_layer_entry(graph, l, name, folding[l.name], info))
    rtl_dir = out_dir / "rtl"
    rtl_dir.mkdir(parents=True, exist_ok=True)
    files = _write_rtl(rtl_dir, modules, top, _top_verilog(graph, top, in_tensor, st, insts), templates_used)
    manifest = _manifest(graph, out_dir, top, in_tensor, files, layers_json,
                         folding_to_json({l.name: folding[l.name] for l in hw_layers}), clock_mhz_target)
    write_json_atomic(out_dir / "manifest.json", manifest)
    return manifest


def rtl_sources(build_dir: str | Path) -> list[Path]:
    """RTL files of a build directory, in the manifest's order."""
    build_dir = Path(build_dir)
    path = build_dir / "manifest.json"
    if not path.is_file():
        raise PleiadesError(f"{build_dir} has no manifest.json; run `pleiades-fpga build MODEL.onnx --backend rtl "
                            f"--out {build_dir}` first")
    manifest = json.loads(path.read_text())
    return [build_dir / f for f in manifest["rtl_files"]]


__all__ = ["TOP", "generate", "rtl_sources", "TEMPLATES_DIR"]
