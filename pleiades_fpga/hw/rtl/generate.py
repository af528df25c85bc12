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
from pathlib import Path
from typing import Any

import numpy as np

from pleiades_fpga.errors import PleiadesError, UnsupportedModelError
from pleiades_fpga.hw.ir import IRGraph, Layer
from pleiades_fpga.hw.rtl import rom
from pleiades_fpga.hw.rtl.folding import (Fold, default_folding, dense_pointwise_weight, folding_to_json, group_inputs,
                                          is_depthwise, layer_cost, module_kind)
from pleiades_fpga.hw.projection import projection_window
from pleiades_fpga.hw.rtl.projection_rtl import projection_params, projection_wrapper
from pleiades_fpga.hw.rtl.lint import TEMPLATES_DIR, template_sources

TOP = "pleiades_top"
SKIP_FIFO_DEPTH = 16
MANIFEST_FORMAT = "pleiades-fpga-manifest/1"


def _ident(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return s if re.match(r"[A-Za-z_]", s) else f"t_{s}"


def _requant_fields(layer: Layer) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, bool]:
    """(bias, M, S, out_bits, out_signed) of a layer; a layer without requant outputs its accumulator."""
    n = layer.out_channels
    bias = np.zeros(n, dtype=np.int64) if layer.bias is None else np.asarray(layer.bias, dtype=np.int64)
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
    """temporal_conv_buffer / mvu_pointwise wrapper and its manifest entry fragments."""
    kind = module_kind(layer)
    x = graph.tensors[layer.inputs[0]]
    dw = is_depthwise(layer)
    g_in = group_inputs(layer)  # grouped pointwise with one output per group: native (GROUP_IN)
    # (out, in/g, K); other grouped pointwise convs run dense with a block-diagonal weight
    # depthwise layers keep their (C, 1, K) weight: the template's depthwise mode reads one lane per channel
    raw = dw or g_in
    w = (np.asarray(layer.weight, dtype=np.int64) if raw else dense_pointwise_weight(layer))[:, :, :, 0, 0]
    k = w.shape[2]
    lanes = rom.mac_weight_words(w[:, 0, :] if dw else w, fold.pe, fold.simd, depthwise=dw)
    bias, m, s, out_bits, out_signed = _requant_fields(layer)
    bw, mw, sw = _widths(bias, m, s)
    w_w = max(2, layer.weight_bits, rom.bits_needed(w, signed=True))
    params = {"C_IN": layer.in_channels, "C_OUT": layer.out_channels, "PE": fold.pe, "SIMD": fold.simd,
              "IN_W": x.bits, "IN_SIGNED": int(x.signed), "W_W": w_w, "ACC_W": layer.acc_bits, "BIAS_W": bw,
              "M_W": mw, "S_W": sw, "OUT_W": out_bits, "OUT_SIGNED": int(out_signed)}
    if kind == "temporal_conv":
        template = "temporal_conv_buffer"
        params = {**params, "K": k, "PIXELS": x.height * x.width, "DEPTHWISE": int(dw)}
    else:
        template = "mvu_pointwise"
        if g_in:
            params["GROUP_IN"] = g_in
    wwords = rom.pack_lanes(lanes, w_w, signed=True)
    pwords = rom.channel_param_words(bias, m, s, fold.pe, bw, mw, sw)
    fw = bw + mw + sw
    text = rom.layer_with_roms(name, template, params, layer.in_channels * x.bits, layer.out_channels * out_bits,
                    [("wrom", wwords, lanes.shape[1] * w_w, True), ("prom", pwords, fold.pe * fw, True)])
    mems = [{"name": f"{name}_weights", "kind": "weights", "depth": len(wwords), "width": lanes.shape[1] * w_w},
            {"name": f"{name}_params", "kind": "weights", "depth": len(pwords), "width": fold.pe * fw}]
    if kind == "temporal_conv":
        mems.insert(0, {"name": f"{name}_history", "kind": "circular_buffer", "depth": (k - 1) * x.height * x.width,
                        "width": layer.in_channels * x.bits})
    return text, {"module": template, "weight_bits": w_w, "kernel": k, "memories": mems, "params": params}


def _conv3x3_module(graph: IRGraph, layer: Layer, name: str, fold: Fold) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    x = graph.tensors[layer.inputs[0]]
    dw = is_depthwise(layer)
    w = np.asarray(layer.weight, dtype=np.int64)[:, :, 0].reshape(layer.out_channels, -1, 9)  # (out, in/g, 9)
    lanes = rom.mac_weight_words(w[:, 0, :] if dw else w, fold.pe, 1 if dw else fold.simd, depthwise=dw)
    bias, m, s, out_bits, out_signed = _requant_fields(layer)
    bw, mw, sw = _widths(bias, m, s)
    w_w = max(2, layer.weight_bits, rom.bits_needed(w, signed=True))
    params = {"H": x.height, "W": x.width, "C": layer.in_channels, "K": layer.out_channels,
              "STRIDE": layer.stride[0], "DEPTHWISE": int(dw), "PE": fold.pe, "SIMD": 1 if dw else fold.simd,
              "IN_BITS": x.bits, "IN_SIGNED": int(x.signed), "W_BITS": w_w, "ACC_BITS": layer.acc_bits,
              "BIAS_BITS": bw, "M_BITS": mw, "S_BITS": sw, "OUT_BITS": out_bits, "OUT_SIGNED": int(out_signed)}
    wwords = rom.pack_lanes(lanes, w_w, signed=True)
    pwords = rom.channel_param_words(bias, m, s, fold.pe, bw, mw, sw)
    fw = bw + mw + sw
    text = rom.layer_with_roms(name, "conv3x3_stream", params, layer.in_channels * x.bits, layer.out_channels * out_bits,
                    [("wrom", wwords, lanes.shape[1] * w_w, False), ("prom", pwords, fold.pe * fw, False)])
    rows = 3 if layer.stride[0] == 1 else 4  # conv3x3_stream keeps one extra row at stride 2 (no stalls)
    mems = [{"name": f"{name}_lines", "kind": "line_buffer", "depth": rows * x.width, "width": layer.in_channels * x.bits},
            {"name": f"{name}_weights", "kind": "weights", "depth": len(wwords), "width": lanes.shape[1] * w_w},
            {"name": f"{name}_params", "kind": "weights", "depth": len(pwords), "width": fold.pe * fw}]
    return text, {"module": "conv3x3_stream", "weight_bits": w_w, "kernel": 3, "memories": mems, "params": params}


def _avgpool_module(graph: IRGraph, layer: Layer, name: str, fold: Fold) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    x = graph.tensors[layer.inputs[0]]
    _, m, s, out_bits, out_signed = _requant_fields(layer)
    mw, sw = max(1, rom.bits_needed(m, False)), max(1, rom.bits_needed(s, False))
    params = {"H": x.height, "W": x.width, "C": x.channels, "IN_BITS": x.bits, "IN_SIGNED": int(x.signed),
              "SUM_BITS": layer.acc_bits, "PE": fold.pe, "M_BITS": mw, "S_BITS": sw, "OUT_BITS": out_bits,
              "OUT_SIGNED": int(out_signed)}
    words = []
    for g in range(x.channels // fold.pe):
        word = 0
        for j in range(fold.pe):
            c = g * fold.pe + j
            word |= ((int(s[c]) << mw) | int(m[c])) << (j * (mw + sw))
        words.append(word)
    text = rom.layer_with_roms(name, "global_avg_pool", params, x.channels * x.bits, x.channels * out_bits,
                    [("prom", words, fold.pe * (mw + sw), False)])
    mems = [{"name": f"{name}_params", "kind": "weights", "depth": len(words), "width": fold.pe * (mw + sw)}]
    return text, {"module": "global_avg_pool", "memories": mems, "params": params}


def _add_module(graph: IRGraph, layer: Layer, name: str) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """axis_add (exact sum) followed by a per-channel requant (constant M, S) on the registered sum."""
    a, b = (graph.tensors[i] for i in layer.inputs)
    _, m, s, out_bits, out_signed = _requant_fields(layer)
    mw, sw = max(1, rom.bits_needed(m, False)), max(1, rom.bits_needed(s, False))
    acc = layer.acc_bits
    c = layer.out_channels
    params = {"C": c, "A_BITS": a.bits, "A_SIGNED": int(a.signed), "SHIFT_A": 0, "B_BITS": b.bits,
              "B_SIGNED": int(b.signed), "SHIFT_B": 0, "OUT_BITS": acc, "OUT_SIGNED": 1}
    plist = ", ".join(f".{k}({v})" for k, v in params.items())
    lines = []
    for i in range(c):
        mi, si = int(m[i]), int(s[i])
        k = mi.bit_length() - 1
        if mi == 1 << k:  # M = 2**k: a constant left shift of the sum, no multiplier
            acc_in = f"{{sum_data[{i * acc} +: {acc}], {k}'d0}}" if k else f"sum_data[{i * acc} +: {acc}]"
            lines.append(f"    requant #(.ACC_W({acc + k}), .M_W(1), .S_W({sw}), .OUT_W({out_bits}), "
                         f".OUT_SIGNED({int(out_signed)})) u_rq{i} (.acc({acc_in}), .m(1'b1), .s({sw}'d{si}), "
                         f".y(m_axis_tdata[{i * out_bits} +: {out_bits}]));")
        else:
            lines.append(f"    requant #(.ACC_W({acc}), .M_W({mw}), .S_W({sw}), .OUT_W({out_bits}), "
                         f".OUT_SIGNED({int(out_signed)})) u_rq{i} (.acc(sum_data[{i * acc} +: {acc}]), "
                         f".m({mw}'d{mi}), .s({sw}'d{si}), .y(m_axis_tdata[{i * out_bits} +: {out_bits}]));")
    rq = "\n".join(lines)
    pow2 = all(int(v) == 1 << (int(v).bit_length() - 1) for v in m)
    mw = 1 if pow2 else mw  # what the estimator should assume: no multipliers when every M is a power of two
    text = f"""`timescale 1ns/1ps
`default_nettype none
// {name}: DWS skip add = axis_add (exact sum) + per-channel requant (generated).
module {name} (
    input  wire clk,
    input  wire rst,
    input  wire [{c * a.bits - 1}:0] s_a_axis_tdata,
    input  wire s_a_axis_tvalid,
    output wire s_a_axis_tready,
    input  wire s_a_axis_tlast,
    input  wire [{c * b.bits - 1}:0] s_b_axis_tdata,
    input  wire s_b_axis_tvalid,
    output wire s_b_axis_tready,
    input  wire s_b_axis_tlast,
    output wire [{c * out_bits - 1}:0] m_axis_tdata,
    output wire m_axis_tvalid,
    input  wire m_axis_tready,
    output wire m_axis_tlast
);
    wire [{c * acc - 1}:0] sum_data;
    axis_add #({plist}) u_add (
        .clk(clk), .rst(rst),
        .s_a_axis_tdata(s_a_axis_tdata), .s_a_axis_tvalid(s_a_axis_tvalid), .s_a_axis_tready(s_a_axis_tready),
        .s_a_axis_tlast(s_a_axis_tlast),
        .s_b_axis_tdata(s_b_axis_tdata), .s_b_axis_tvalid(s_b_axis_tvalid), .s_b_axis_tready(s_b_axis_tready),
        .s_b_axis_tlast(s_b_axis_tlast),
        .m_axis_tdata(sum_data), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready),
        .m_axis_tlast(m_axis_tlast)
    );
{rq}
endmodule
`default_nettype wire
"""
    return [(name, text)], {"module": "axis_add", "memories": [], "params": params, "m_bits": mw}


def _projection_module(graph: IRGraph, layer: Layer, name: str, fold: Fold) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """projection_state wrapper (recurrent temporal layer: D states per channel and pixel in block RAM)."""
    x = graph.tensors[layer.inputs[0]]
    params = projection_params(layer.proj_A, layer.proj_B, layer.frac_bits, layer.in_channels, x.height * x.width,
                               x.bits, x.signed, layer.out_bits, layer.acc_bits, fold.pe, fold.simd)
    groups = -(-layer.in_channels // fold.simd)  # one word per pixel and channel group
    mems = [{"name": f"{name}_state", "kind": "state", "depth": x.height * x.width * groups,
             "width": fold.simd * layer.state_dim * layer.out_bits}]
    return [(name, projection_wrapper(name, params))], {
        "module": "projection_state", "memories": mems, "params": params, "kernel": 1,
        "extra": {"state_dim": layer.state_dim, "state_bits": layer.out_bits, "frac_bits": layer.frac_bits,
                  "window": projection_window(graph, layer), "in_signed": bool(x.signed)}}


def _bin_us(graph: IRGraph) -> int | None:
    """Bin size the model was trained for, from the QONNX metadata (None if absent)."""
    cfg = graph.metadata.get("pleiades.net_config")
    if isinstance(cfg, dict) and cfg.get("bin_us"):
        return int(cfg["bin_us"])
    return graph.metadata.get("bin_us")


def _stream_decl(prefix: str, width: int) -> str:
    return (f"    wire [{width - 1}:0] {prefix}_tdata;\n    wire {prefix}_tvalid;\n"
            f"    wire {prefix}_tready;\n    wire {prefix}_tlast;")


def _conn(port: str, prefix: str) -> str:
    return ", ".join(f".{port}_{sig}({prefix}_{sig})" for sig in ("tdata", "tvalid", "tready", "tlast"))


def generate(graph: IRGraph, out_dir: str | Path, folding: dict[str, Fold] | None = None,
             top: str = TOP, clock_mhz_target: float = 100.0) -> dict[str, Any]:
    """Write ``out_dir/rtl/*.v`` and ``out_dir/manifest.json`` for ``graph``; return the manifest."""
    out_dir = Path(out_dir)
    rtl_dir = out_dir / "rtl"
    rtl_dir.mkdir(parents=True, exist_ok=True)
    folding = dict(folding or default_folding(graph))
    hw_layers = [l for l in graph.layers if l.kind != "input"]
    for l in hw_layers:
        module_kind(l)  # raises a clear error for unsupported layers before anything is written
        folding.setdefault(l.name, Fold())
    inputs = [l for l in graph.layers if l.kind == "input"]
    in_tensor = inputs[0].output if inputs else graph.input
    if in_tensor not in graph.tensors:
        raise UnsupportedModelError("the IR has no quantized input tensor; export the model with an input quantizer")
    tin, tout = graph.tensors[in_tensor], graph.tensors[graph.output]
    if tout.height * tout.width != 1:
        raise UnsupportedModelError(
            f"the network output {graph.output} is a {tout.height}x{tout.width} map; the RTL backend needs a "
            "classifier head ending in a global mean (one logit vector per frame)")

    # stream producers and consumers
    consumers: dict[str, list[Layer]] = {}
    for l in hw_layers:
        for t in l.inputs:
            consumers.setdefault(t, []).append(l)
    modules, decls, insts, layers_json = [], [], [], []
    templates_used = {"requant"}
    port_of: dict[tuple[str, str, int], str] = {}  # (tensor, consumer layer, input index) -> stream prefix

    def tensor_width(name: str) -> int:
        t = graph.tensors[name]
        return t.channels * t.bits

    # tensor sources: top input, or each layer's output; forks where a tensor has two consumers
    producers = {in_tensor: "s_in"}
    for l in hw_layers:
        producers[l.output] = f"{_ident(l.name)}_out"
        decls.append(_stream_decl(producers[l.output], tensor_width(l.output)))
    for tname, cons in consumers.items():
        if tname not in producers:
            raise UnsupportedModelError(f"tensor {tname} is read by {cons[0].name} but produced by no hardware layer")
        src = producers[tname]
        if len(cons) == 1:
            port_of[(tname, cons[0].name, cons[0].inputs.index(tname))] = src
            continue
        if len(cons) != 2:
            raise UnsupportedModelError(f"tensor {tname} has {len(cons)} readers; the RTL backend forks into 2 at most")
        templates_used |= {"axis_fork", "axis_fifo"}
        fa, fb = f"fork_{_ident(tname)}_a", f"fork_{_ident(tname)}_b"
        fq = f"fork_{_ident(tname)}_bq"
        w = tensor_width(tname)
        decls += [_stream_decl(fa, w), _stream_decl(fb, w), _stream_decl(fq, w)]
        insts.append(f"    axis_fork #(.DATA_BITS({w})) u_fork_{_ident(tname)} (.clk(clk), .rst(rst), "
                     f"{_conn('s_axis', src)}, {_conn('m_a_axis', fa)}, {_conn('m_b_axis', fb)});")
        # the short branch (the add itself, or the layer whose output the add reads: the skip) gets the FIFO
        adds = [l for l in hw_layers if l.kind == "add"]
        near = [i for i, c in enumerate(cons) if c.kind == "add" or any(c.output in a.inputs for a in adds)]
        short = near[0] if len(near) == 1 else 1
        insts.append(f"    axis_fifo #(.DATA_BITS({w}), .DEPTH({SKIP_FIFO_DEPTH})) u_fifo_{_ident(tname)} "
                     f"(.clk(clk), .rst(rst), {_conn('s_axis', fb)}, {_conn('m_axis', fq)});")
        port_of[(tname, cons[1 - short].name, cons[1 - short].inputs.index(tname))] = fa
        port_of[(tname, cons[short].name, cons[short].inputs.index(tname))] = fq
        layers_json.append({"name": f"fork_{_ident(tname)}", "kind": "fork", "module": "axis_fork+axis_fifo",
                            "in_shape": [graph.tensors[tname].channels, graph.tensors[tname].height,
                                         graph.tensors[tname].width],
                            "memories": [{"name": f"fifo_{_ident(tname)}", "kind": "fifo", "depth": SKIP_FIFO_DEPTH,
                                          "width": w + 1}],
                            "macs_per_frame": 0, "multipliers": 0,
                            "cycles_per_frame": graph.tensors[tname].height * graph.tensors[tname].width})

    for idx, l in enumerate(hw_layers):
        name = f"L{idx}_{_ident(l.name)}"
        kind = module_kind(l)
        fold = folding[l.name]
        if kind in ("temporal_conv", "pointwise"):
            text, info = _mac_module(graph, l, name, fold)
        elif kind == "conv3x3":
            text, info = _conv3x3_module(graph, l, name, fold)
        elif kind == "avgpool":
            text, info = _avgpool_module(graph, l, name, fold)
        elif kind == "projection":
            text, info = _projection_module(graph, l, name, fold)
        else:
            text, info = _add_module(graph, l, name)
        templates_used.add(info["module"])
        modules += text
        out = producers[l.output]
        if kind == "add":
            a = port_of[(l.inputs[0], l.name, 0)]
            b = port_of[(l.inputs[1], l.name, 1)]
            insts.append(f"    {name} u_{name} (.clk(clk), .rst(rst), {_conn('s_a_axis', a)}, "
                         f"{_conn('s_b_axis', b)}, {_conn('m_axis', out)});")
        else:
            src = port_of[(l.inputs[0], l.name, 0)]
            insts.append(f"    {name} u_{name} (.clk(clk), .rst(rst), {_conn('s_axis', src)}, {_conn('m_axis', out)});")
        x, y = graph.tensors[l.inputs[0]], graph.tensors[l.output]
        cost = layer_cost(graph, l, fold)
        entry = {"name": l.name, "kind": kind, "module": info["module"], "instance": f"u_{name}",
                 "in_shape": [x.channels, x.height, x.width], "out_shape": [y.channels, y.height, y.width],
                 "in_bits": x.bits, "out_bits": y.bits, "weight_bits": info.get("weight_bits", 0),
                 "acc_bits": l.acc_bits, "kernel": info.get("kernel", 1), "stride": int(l.stride[0]),
                 "groups": l.groups, "depthwise": is_depthwise(l), "pe": fold.pe, "simd": fold.simd,
                 **cost, "memories": info["memories"], "params": info["params"]}
        if "m_bits" in info:
            entry["m_bits"] = info["m_bits"]
        entry.update(info.get("extra", {}))
        if kind == "temporal_conv":
            entry["in_signed"] = bool(x.signed)
        for mem in entry["memories"]:
            mem["bits"] = int(mem["depth"]) * int(mem["width"])
        layers_json.append(entry)

    din, dout = tensor_width(in_tensor), tensor_width(graph.output)
    top_text = f"""`timescale 1ns/1ps
`default_nettype none
// {top}: streaming PLEIADES network (generated by pleiades_fpga.hw.rtl.generate).
// Input: one beat per pixel, {tin.channels} channels x {tin.bits} bits ({'signed' if tin.signed else 'unsigned'}),
//   raster order {tin.height}x{tin.width}, s_axis_tlast on the last pixel of each frame.
// Output: one beat per frame, {tout.channels} logits x {tout.bits} bits (signed), m_axis_tlast = 1.
module {top} (
    input  wire clk,
    input  wire rst,
    input  wire [{din - 1}:0] s_axis_tdata,
    input  wire s_axis_tvalid,
    output wire s_axis_tready,
    input  wire s_axis_tlast,
    output wire [{dout - 1}:0] m_axis_tdata,
    output wire m_axis_tvalid,
    input  wire m_axis_tready,
    output wire m_axis_tlast
);
    wire [{din - 1}:0] s_in_tdata = s_axis_tdata;
    wire s_in_tvalid = s_axis_tvalid;
    wire s_in_tready;
    wire s_in_tlast = s_axis_tlast;
    assign s_axis_tready = s_in_tready;
{chr(10).join(decls)}
{chr(10).join(insts)}
    assign m_axis_tdata = {producers[graph.output]}_tdata;
    assign m_axis_tvalid = {producers[graph.output]}_tvalid;
    assign {producers[graph.output]}_tready = m_axis_tready;
    assign m_axis_tlast = {producers[graph.output]}_tlast;
endmodule
`default_nettype wire
"""
    for old in rtl_dir.glob("*.v"):
        old.unlink()
    generated = []
    for mod_name, text in modules:
        (rtl_dir / f"{mod_name}.v").write_text(text)
        generated.append(f"{mod_name}.v")
    (rtl_dir / f"{top}.v").write_text(top_text)
    files = []
    for t in sorted(templates_used):
        for src in template_sources(t):
            dst = rtl_dir / src.name
            if dst.name not in files:
                shutil.copyfile(src, dst)
                files.append(dst.name)
    files += generated + [f"{top}.v"]

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
        "folding": folding_to_json({l.name: folding[l.name] for l in hw_layers}),
        "reset_cycles": int(max([(e["kernel"] - 1) * e["in_shape"][1] * e["in_shape"][2]
                                 for e in layers_json if e.get("kind") == "temporal_conv"]
                                + [m["depth"] for e in layers_json if e.get("kind") == "projection"
                                   for m in e["memories"] if m["kind"] == "state"]  # state memory clear
                                or [0])),
    }
    manifest["ideal_cycles_per_frame"] = manifest["macs_per_frame"] / max(1, manifest["multipliers"])
    # analytic latency (first input pixel of a frame -> its logits): the frame streams in at the pipeline
    # rate, then each layer after the input adds about one output pixel of its own work
    manifest["latency_cycles"] = int(cycles_per_frame + sum(
        -(-e["cycles_per_frame"] // max(1, e["out_shape"][1] * e["out_shape"][2])) for e in compute))
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
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
