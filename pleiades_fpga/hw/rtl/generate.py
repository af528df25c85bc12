"""Streaming RTL generator: integer IR -> one module per layer, AXI-Stream top, manifest.

Each IR layer becomes an instance of a hand-written template (``templates/*.v``) wrapped with its
constant ROMs (weights, bias/requant parameters) in a generated module ``L<i>_<name>``; the top
connects the wrappers by AXI-Stream (one beat = one pixel with all channels, ``tlast`` on the last
pixel of a frame). A tensor read by two layers (the DWS block input) goes through ``axis_fork``; the
branch that reaches the ``add`` first gets an ``axis_fifo``. The IR's ``input`` layer (clipping event
counts to the input width) is done by the host: the top's input stream carries those integers.
The top's output is one beat per frame: the logits (signed accumulators of the last layer).

``generate`` is a sequence of small passes over the graph: check the graph and pick the hardware layers, fold,
plan the streams (insert forks and skip FIFOs: hardware kind ``fork``), lower each layer with its hardware kind
(``pleiades_fpga.hw.rtl.kinds``), emit the top, write the RTL, write the manifest and its analytic latency.
"""
from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from pleiades_fpga.artifacts import write_json_atomic, write_text_atomic
from pleiades_fpga.errors import PleiadesError, UnsupportedModelError
from pleiades_fpga.hw.rtl import SIM_MODELS_DIR
from pleiades_fpga.hw.rtl import verilog as v
from pleiades_fpga.hw.rtl.axi_arbiter import arbiter_instance, axi_width, master_id_width
from pleiades_fpga.hw.rtl.folding import default_folding, folding_to_json
from pleiades_fpga.hw.rtl.kinds import HW_KINDS, Fold, Lowered, hardware_layers, hw_kind, hw_kind_of
from pleiades_fpga.hw.rtl.kinds.registry import HwKind
from pleiades_fpga.hw.rtl.kinds.temporal_conv_external import (AXI_SIGNALS, HistoryLayout, axi_connections,
                                                               external_cycles_per_pixel)
from pleiades_fpga.hw.rtl.lint import TEMPLATES_DIR, template_sources
from pleiades_fpga.hw.rtl.external_fifo import FifoLayout
from pleiades_fpga.hw.rtl.memory_plan import BUFFER_KINDS, Layout, plan_layouts, plan_memory
from pleiades_fpga.ir.graph import IRGraph, Layer
from pleiades_fpga.toolflow.parts import DEFAULT_PART, BoardMemory, Part, get_part

TOP = "pleiades_top"
MANIFEST_FORMAT = "pleiades-fpga-manifest/1"
EXT_BASE_PARAM = "EXT_BASE_ADDR"   # the top's parameter: byte address of the external memory regions
EXT_PORT = "m_axi"                 # the top's AXI4 master port prefix (when a layer is external)
EXT_ERROR = "axi_error"            # the top's sticky AXI error output (SLVERR/DECERR seen by any layer)
ARBITER = "axi_arbiter"


def _ident(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return s if re.match(r"[A-Za-z_]", s) else f"t_{s}"


def _bin_us(graph: IRGraph) -> int | None:
    """Bin size the model was trained for, from the QONNX metadata (None if absent)."""
    cfg = graph.metadata.get("pleiades.net_config")
    if isinstance(cfg, dict) and cfg.get("bin_us"):
        return int(cfg["bin_us"])
    return graph.metadata.get("bin_us")


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


def _plan_streams(graph: IRGraph, hw_layers: list[Layer], in_tensor: str,
                  external: dict[str, Layout] | None = None) -> _Streams:
    """Producer of every tensor; a tensor with two readers goes through a fork (hardware kind ``fork``), its short
    branch (the joining layer itself, e.g. the add, or the layer whose output it reads: the skip) through the
    fork's FIFO (in external memory when ``external`` has a layout for the fork's name ``fork_<tensor>``)."""
    external = external or {}
    st = _Streams(producers={in_tensor: "s_in"})
    readers: dict[str, list[Layer]] = {}
    for l in hw_layers:
        for t in l.inputs:
            readers.setdefault(t, []).append(l)
        st.producers[l.output] = f"{_ident(l.name)}_out"
        st.decls += v.stream_wires(st.producers[l.output], _width(graph, l.output))
    joins = [l for l in hw_layers if len(hw_kind_of(l).input_ports) > 1]
    for tname, cons in readers.items():
        if tname not in st.producers:
            raise UnsupportedModelError(f"tensor {tname} is read by {cons[0].name} but produced by no hardware layer")
        src = st.producers[tname]
        if len(cons) == 1:
            st.port_of[(tname, cons[0].name, cons[0].inputs.index(tname))] = src
            continue
        if len(cons) != 2:
            raise UnsupportedModelError(f"tensor {tname} has {len(cons)} readers; the RTL backend forks into 2 at most")
        near = [i for i, c in enumerate(cons) if c in joins or any(c.output in j.inputs for j in joins)]
        short = near[0] if len(near) == 1 else 1
        ext = external.get(f"fork_{_ident(tname)}")
        fork = HW_KINDS["fork"].lower_fork(  # type: ignore[attr-defined]
            _ident(tname), src, _width(graph, tname), _shape(graph, tname), _frames_held(cons[1 - short], readers, joins),
            ext if isinstance(ext, FifoLayout) else None, EXT_BASE_PARAM)
        st.decls += fork.decls
        st.insts += fork.insts
        st.port_of[(tname, cons[1 - short].name, cons[1 - short].inputs.index(tname))] = fork.direct
        st.port_of[(tname, cons[short].name, cons[short].inputs.index(tname))] = fork.queued
        join = cons[short] if cons[short] in joins else next((j for j in joins if cons[short].output in j.inputs), None)
        if join is not None:   # the folding JSON's "memory" of the joining layer places the skip FIFO
            fork.entry["memory_layer"] = join.name
        st.forks.append(fork.entry)
    return st


def _frames_held(first: Layer, readers: dict[str, list[Layer]], joins: list[Layer]) -> int:
    """Whole frames held by a fork's long branch: its layers from ``first`` up to the joining layer."""
    held, layer = 0, first
    while layer not in joins:
        held += hw_kind_of(layer).frames_held(layer)
        nxt = readers.get(layer.output, [])
        if len(nxt) != 1:
            break
        layer = nxt[0]
    return held


def _layer_instance(layer: Layer, name: str, st: _Streams, ext: Layout | None = None) -> str:
    """Instance ``u_<name>`` of a layer wrapper in the top, wired to its input stream(s) and ``<ident>_out``; an
    external layer also to its AXI wires ``<name>_axi_*``, ``<name>_axi_error`` and its region's base address."""
    conns = {"clk": "clk", "rst": "rst"}
    for i, (port, tensor) in enumerate(zip(hw_kind_of(layer).input_ports, layer.inputs)):
        conns.update(v.stream_connections(port, st.port_of[(tensor, layer.name, i)]))
    conns.update(v.stream_connections("m_axis", st.producers[layer.output]))
    if ext is None:
        return v.instance(name, f"u_{name}", conns)
    conns.update({**axi_connections("m_axi", f"{name}_axi"), "axi_error": f"{name}_axi_error"})
    return v.instance(name, f"u_{name}", conns, {"BASE_ADDR": f"{EXT_BASE_PARAM} + 64'h{ext.base_addr:x}"})


_ENTRY_FIELDS = {"weight_bits": 0, "kernel": 1, "stride": 1, "groups": 1, "depthwise": False}


def _layer_entry(graph: IRGraph, layer: Layer, name: str, fold: Fold, low: Lowered, kind: HwKind) -> dict[str, Any]:
    """The manifest entry of one hardware layer (schema: docs/ARCHITECTURE.md)."""
    x, y = graph.tensors[layer.inputs[0]], graph.tensors[layer.output]
    fields = {key: low.fields.get(key, default) for key, default in _ENTRY_FIELDS.items()}
    cost = kind.cost(graph, layer, fold)
    entry = {"name": layer.name, "kind": kind.name, "module": low.module, "instance": f"u_{name}",
             "in_shape": _shape(graph, layer.inputs[0]), "out_shape": _shape(graph, layer.output),
             "in_bits": x.bits, "out_bits": y.bits, "weight_bits": fields["weight_bits"],
             "acc_bits": layer.acc_bits, "kernel": fields["kernel"], "stride": fields["stride"],
             "groups": fields["groups"], "depthwise": fields["depthwise"], "pe": fold.pe, "simd": fold.simd,
             **{key: int(cost[key]) for key in ("cycles_per_frame", "multipliers", "macs_per_frame")},
             "memories": low.memories, "params": low.params,
             **{key: value for key, value in low.fields.items() if key not in _ENTRY_FIELDS}}
    for mem in entry["memories"]:
        mem["bits"] = int(mem["depth"]) * int(mem["width"])
    return entry


def _axi_top(masters: list[str], lay: Layout) -> tuple[list[v.Port], list[str]]:
    """The top's one AXI4 master port (``m_axi_*``, ``axi_error``) and the wiring from the external layers'
    masters ``<name>_axi_*``: directly for one layer, else through ``axi_arbiter`` (master i in bits [i*W +: W],
    responses routed back by the upper ID bits)."""
    id_w = master_id_width(len(masters), lay.id_w)
    ports = [v.Port(f"{EXT_PORT}_{sig}", "output" if out else "input",
                    axi_width(key, id_w=id_w, addr_w=lay.addr_w, data_w=lay.data_w))
             for sig, key, out in AXI_SIGNALS] + [v.Port(EXT_ERROR, "output")]
    body = [v.wire(f"{n}_{sig}", axi_width(key, id_w=lay.id_w, addr_w=lay.addr_w, data_w=lay.data_w))
            for n in (f"{name}_axi" for name in masters) for sig, key, _ in AXI_SIGNALS]
    body += [v.wire(f"{name}_axi_error") for name in masters]
    body.append(f"    assign {EXT_ERROR} = " + " | ".join(f"{name}_axi_error" for name in masters) + ";")
    if len(masters) == 1:
        for sig, _, out in AXI_SIGNALS:
            dst, src = (f"{EXT_PORT}_{sig}", f"{masters[0]}_axi_{sig}")
            body.append(f"    assign {dst} = {src};" if out else f"    assign {src} = {dst};")
        return ports, body
    body.append(arbiter_instance(f"u_{ARBITER}", [f"{name}_axi" for name in masters], EXT_PORT, addr_w=lay.addr_w,
                                 data_w=lay.data_w, s_id_w=lay.id_w))
    return ports, body


_RST_CONN = ".rst(rst)"


def _reset_tree(insts: list[str]) -> tuple[list[str], list[str]]:
    """Registered reset per instance: ``rst_<instance>_reg`` drives that instance's ``rst``, so the port's reset
    reaches one register per instance instead of every flag of the chip, and each instance's reset net stays local
    (``keep`` on each register's process stops Yosys merging the identical registers). Every instance leaves reset
    one cycle after the port; ``rst_in_reg`` (the same delay) holds the input handshake closed meanwhile."""
    regs, out = ["rst_in_reg"], []
    for inst in insts:
        name = re.search(r"\s(u_\w+) \(\n", inst)
        if name is None or inst.count(_RST_CONN) != 1:
            raise PleiadesError(f"internal: instance without one {_RST_CONN} connection: {inst.splitlines()[0]}")
        regs.append(f"rst_{name.group(1)}_reg")
        out.append(inst.replace(_RST_CONN, f".rst({regs[-1]})"))
    decls = [f"    reg {r};" for r in regs]  # no initial value: the port's reset (held some cycles) sets them
    decls += [f"    (* keep *) always @(posedge clk) {r} <= rst;" for r in regs]
    return decls, out


def _top_verilog(graph: IRGraph, top: str, in_tensor: str, st: _Streams, insts: list[str],
                 layouts: dict[str, Layout]) -> str:
    """The network top: the host's input stream -> layer wrappers (forks, FIFOs) -> one logit beat per frame;
    with external layers (``layouts`` by wrapper module name), one AXI4 master port and ``EXT_BASE_ADDR``."""
    tin, tout = graph.tensors[in_tensor], graph.tensors[graph.output]
    din, out = _width(graph, in_tensor), st.producers[graph.output]
    ports = v.layer_ports(din, _width(graph, graph.output))
    axi_ports, axi_body = _axi_top(list(layouts), next(iter(layouts.values()))) if layouts else ([], [])
    rst_decls, tree_insts = _reset_tree(st.insts + insts)
    body = [*rst_decls, v.wire("s_in_tdata", din, "s_axis_tdata"),
            v.wire("s_in_tvalid", value="s_axis_tvalid && !rst_in_reg"), v.wire("s_in_tready"),
            v.wire("s_in_tlast", value="s_axis_tlast"), "    assign s_axis_tready = s_in_tready && !rst_in_reg;",
            *st.decls, *axi_body, *tree_insts,
            f"    assign m_axis_tdata = {out}_tdata;", f"    assign m_axis_tvalid = {out}_tvalid;",
            f"    assign {out}_tready = m_axis_tready;", f"    assign m_axis_tlast = {out}_tlast;"]
    comment = (f"{top}: streaming PLEIADES network (generated by pleiades_fpga.hw.rtl.generate).\n"
               f"Input: one beat per pixel, {tin.channels} channels x {tin.bits} bits "
               f"({'signed' if tin.signed else 'unsigned'}),\n"
               f"  raster order {tin.height}x{tin.width}, s_axis_tlast on the last pixel of each frame.\n"
               f"Output: one beat per frame, {tout.channels} logits x {tout.bits} bits (signed), m_axis_tlast = 1.")
    if layouts:
        comment += (f"\nExternal memory: AXI4 master {EXT_PORT}_* of the temporal layers {', '.join(layouts)}; "
                    f"parameter {EXT_BASE_PARAM}: byte address of their regions\n  (a multiple of 4096; map in "
                    f"manifest.json external_memory); {EXT_ERROR}: sticky, an AXI error response was seen.")
    return v.module(top, ports + axi_ports, body, comment=comment,
                    parameters={EXT_BASE_PARAM: "64'h0"} if layouts else None)


def _manifest(graph: IRGraph, out_dir: Path, top: str, in_tensor: str, files: list[str], layers_json: list[dict],
              folding: dict[str, Any], clock_mhz_target: float) -> dict[str, Any]:
    """manifest.json (schema: docs/ARCHITECTURE.md) of a generated design."""
    tin, tout = graph.tensors[in_tensor], graph.tensors[graph.output]
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
        "macs_per_frame": int(sum(e.get("macs_per_frame", 0) for e in layers_json)),
        "multipliers": int(sum(e.get("multipliers", 0) for e in layers_json)),
        "folding": folding,
        "reset_cycles": int(max([hw_kind(e["kind"]).reset_cycles(e) for e in layers_json] or [0])),
    }
    manifest["ideal_cycles_per_frame"] = manifest["macs_per_frame"] / max(1, manifest["multipliers"])
    manifest["latency_cycles"] = _latency_cycles(layers_json)
    return manifest


def _latency_cycles(layers_json: list[dict]) -> int:
    """Analytic latency (first input pixel of a frame -> its logits): the frame streams in at the pipeline rate,
    then each pipeline stage after the input adds about one output pixel of its own work and its pipeline depth,
    and a stage holding whole frames (entry "frames_held": a frame-statistics GroupNorm) adds the time its frame
    takes to stream on to the next such stage: the pipeline's cycles per frame while the slowest stage is still
    ahead (it throttles everything before it), after it the slowest stage of that stretch (in manifest order)."""
    stages = [e for e in layers_json if hw_kind(e["kind"]).adds_latency]
    period = max(e["cycles_per_frame"] for e in layers_json)
    slowest = max(i for i, e in enumerate(stages) if e["cycles_per_frame"] == period) if stages else 0
    held = [i for i, e in enumerate(stages) if e.get("frames_held")]
    spread = [period if i < slowest else max(e["cycles_per_frame"] for e in stages[i:nxt])
              for i, nxt in zip(held, [*held[1:], len(stages)])]
    return int(period + sum(hw_kind(e["kind"]).latency_cycles(e) for e in stages)
               + sum(stages[i]["frames_held"] * s for i, s in zip(held, spread)))


# the simulation model of each family's multiplier cell (mac_lane MUL_CELL), shipped with the design's RTL
CELL_MODELS = {"ecp5": SIM_MODELS_DIR / "MULT18X18D.v"}


def mul_cell_for(part: Part | None) -> str:
    """The multiplier cell of MAC lanes on ``part`` (``lowering.MUL_CELLS``): ECP5 parts get MULT18X18D cells with
    their input and output registers (mac_lane MUL_CELL 1: Yosys would leave an inferred multiplier's registers in
    the fabric); other parts (and none) infer them."""
    return "ecp5" if part is not None and part.family == "ecp5" else "inferred"


def _write_rtl(rtl_dir: Path, modules: list[tuple[str, str]], top: str, top_text: str,
               templates_used: set[str], models: list[Path]) -> list[str]:
    """Write the simulation ``models``, the templates (with their blocks), the generated modules and the top; return
    the file names in order."""
    for old in rtl_dir.glob("*.v"):
        old.unlink()
    files: list[str] = []
    for src in models:
        shutil.copyfile(src, rtl_dir / src.name)
        files.append(src.name)
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


def _check_graph(graph: IRGraph) -> tuple[list[Layer], str]:
    """The hardware layers (each checked by its kind) and the top's input tensor: a clear error for a graph the
    RTL backend cannot build, before anything is written."""
    hw_layers = hardware_layers(graph)
    inputs = [l for l in graph.layers if l not in hw_layers]
    in_tensor = inputs[0].output if inputs else graph.input
    if in_tensor not in graph.tensors:
        raise UnsupportedModelError("the IR has no quantized input tensor; export the model with an input quantizer")
    tout = graph.tensors[graph.output]
    if tout.height * tout.width != 1:
        raise UnsupportedModelError(
            f"the network output {graph.output} is a {tout.height}x{tout.width} map; the RTL backend needs a "
            "classifier head ending in a global mean (one logit vector per frame)")
    return hw_layers, in_tensor


def _lower_layers(graph: IRGraph, hw_layers: list[Layer], folding: dict[str, Fold], st: _Streams,
                  external: dict[str, Layout]) -> tuple[list[tuple[str, str]], list[str], list[dict[str, Any]],
                                                         set[str], dict[str, Layout]]:
    """Lower each layer with its hardware kind (a layer in ``external``, by IR name: a temporal conv with
    ``temporal_conv_external`` on its history layout, a GroupNorm with its frame buffer on its FIFO layout):
    generated modules, top instances, manifest entries, templates and the external layers' layouts by wrapper
    module name."""
    modules, insts, entries, templates, by_module = [], [], [], set(), {}
    for idx, l in enumerate(hw_layers):
        name = f"L{idx}_{_ident(l.name)}"
        lay = external.get(l.name)
        kind = HW_KINDS["temporal_conv_external"] if isinstance(lay, HistoryLayout) else hw_kind_of(l)
        low = kind.lower(graph, l, name, folding[l.name]) if lay is None else \
            kind.lower_with(graph, l, name, folding[l.name], lay)  # type: ignore[attr-defined]
        templates |= set(low.module.split("+"))
        modules += low.files
        insts.append(_layer_instance(l, name, st, lay))
        entries.append(_layer_entry(graph, l, name, folding[l.name], low, kind))
        if lay is not None:
            by_module[name] = lay
    return modules, insts, entries, templates, by_module


@dataclass(frozen=True)
class MemoryOptions:
    """Where the temporal buffers go: ``part`` (plan to fit its block RAM; None: all on chip unless
    ``overrides`` say external), the board ``memory`` (its port width and size), per-layer ``overrides``
    (folding JSON ``"memory"``), the shared AXI ``data_bits`` (None: from the layers and the port) and the
    nominal memory ``latency`` (cycles) the prefetch FIFOs hide."""

    part: Part | None = None
    memory: BoardMemory | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    data_bits: int | None = None
    latency: int | None = None


def _memory_plan(graph: IRGraph, hw_layers: list[Layer], folding: dict[str, Fold], entries: list[dict[str, Any]],
                 opts: MemoryOptions) -> dict[str, Any]:
    """The memory plan (``hw.rtl.memory_plan``) of the on-chip lowering's manifest entries (circular buffers,
    GroupNorm frame buffers and skip FIFOs can go external)."""
    cpp = {l.name: external_cycles_per_pixel(l, folding[l.name]) for l in hw_layers
           if hw_kind_of(l).name == "temporal_conv"}
    extra = {} if opts.latency is None else {"latency": opts.latency}
    return plan_memory(entries, opts.part or get_part(DEFAULT_PART), memory=opts.memory, overrides=opts.overrides,
                       auto=opts.part is not None, external_kinds=BUFFER_KINDS, data_w=opts.data_bits,
                       cycles_per_pixel=cpp, **extra)


def _external_memory(plan: dict[str, Any], by_module: dict[str, Layout],
                     entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The manifest's ``external_memory`` (schema: docs/EXTERNAL_MEMORY.md), None without external layers."""
    if not by_module:
        return None
    lay = next(iter(by_module.values()))
    m = len(by_module)
    id_w = master_id_width(m, lay.id_w)
    name_of = {e["instance"][2:]: e["name"] for e in entries}   # wrapper module name -> IR layer
    rows = {b["layer"]: b for b in plan["buffers"] if b["memory"] == "external"}
    masters = []
    for i, (module_name, l) in enumerate(by_module.items()):
        b = rows[name_of.get(module_name, module_name)]   # a fork's master is named like its entry
        masters.append({"index": i, "layer": b["layer"], "kind": b["kind"], "module": module_name, "offset": l.base_addr,
                        "region_bytes": l.region_bytes, "read_bytes_per_frame": b["read_bytes_per_frame"],
                        "write_bytes_per_frame": b["write_bytes_per_frame"]})
    return {"port": EXT_PORT, "error_port": EXT_ERROR, "base_addr_parameter": EXT_BASE_PARAM,
            "base_addr_alignment": 4096, "protocol": "AXI4", "data_bits": lay.data_w, "addr_bits": lay.addr_w,
            "id_bits": id_w, "master_id_bits": lay.id_w, "arbiter": ARBITER if m > 1 else None,
            "signals": [{"name": f"{EXT_PORT}_{sig}", "direction": "output" if out else "input",
                         "bits": axi_width(key, id_w=id_w, addr_w=lay.addr_w, data_w=lay.data_w)}
                        for sig, key, out in AXI_SIGNALS],
            "region_bytes": int(plan["external_bytes"]), "latency_cycles": int(plan["latency_cycles"]),
            "bytes_per_frame": sum(x["read_bytes_per_frame"] + x["write_bytes_per_frame"] for x in masters),
            "read_beats_per_frame": sum(x["read_bytes_per_frame"] for x in masters) * 8 // lay.data_w,
            "write_beats_per_frame": sum(x["write_bytes_per_frame"] for x in masters) * 8 // lay.data_w,
            "masters": masters}


def generate(graph: IRGraph, out_dir: str | Path, folding: dict[str, Fold] | None = None,
             top: str = TOP, clock_mhz_target: float = 100.0,
             memory: MemoryOptions | None = None) -> dict[str, Any]:
    """Write ``out_dir/rtl/*.v`` and ``out_dir/manifest.json`` for ``graph``; return the manifest. ``memory``:
    where the temporal buffers go (default: all on chip)."""
    out_dir = Path(out_dir)
    hw_layers, in_tensor = _check_graph(graph)
    folding = {l.name: Fold() for l in hw_layers} | dict(folding or default_folding(graph))
    opts = memory or MemoryOptions()
    cell = mul_cell_for(opts.part)
    folding = {name: replace(fold, mul_cell=cell) for name, fold in folding.items()}
    st = _plan_streams(graph, hw_layers, in_tensor)
    modules, insts, entries, templates, _ = _lower_layers(graph, hw_layers, folding, st, {})
    plan = _memory_plan(graph, hw_layers, folding, st.forks + entries, opts)
    external = plan_layouts(plan)
    by_module: dict[str, Layout] = {}
    if external:
        st = _plan_streams(graph, hw_layers, in_tensor, external)
        modules, insts, entries, templates, by_module = _lower_layers(graph, hw_layers, folding, st, external)
        by_module.update({f["name"]: external[f["name"]] for f in st.forks if f["name"] in external})
        if len(by_module) > 1:
            templates.add(ARBITER)
    templates |= {"requant"} | {module for fork in st.forks for module in fork["module"].split("+")}
    rtl_dir = out_dir / "rtl"
    rtl_dir.mkdir(parents=True, exist_ok=True)
    top_text = _top_verilog(graph, top, in_tensor, st, insts, by_module)
    uses_mac = any(src.stem == "mac_lane" for t in templates for src in template_sources(t))
    files = _write_rtl(rtl_dir, modules, top, top_text, templates,
                       [CELL_MODELS[cell]] if uses_mac and cell in CELL_MODELS else [])
    fold_json = folding_to_json({l.name: folding[l.name] for l in hw_layers})
    for name, choice in opts.overrides.items():
        fold_json["layers"][name]["memory"] = choice
    manifest = _manifest(graph, out_dir, top, in_tensor, files, st.forks + entries, fold_json, clock_mhz_target)
    manifest["memory_plan"] = plan
    manifest["multiplier_cell"] = cell
    ext = manifest["external_memory"] = _external_memory(plan, by_module, entries)
    if ext is not None:   # the shared port moves one beat per cycle per channel: a bound on the frame rate
        port = max(ext["read_beats_per_frame"], ext["write_beats_per_frame"])
        ext["port_bound"] = port > manifest["cycles_per_frame"]
        manifest["cycles_per_frame"] = max(manifest["cycles_per_frame"], port)
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


__all__ = ["EXT_BASE_PARAM", "EXT_PORT", "MemoryOptions", "TOP", "generate", "rtl_sources", "TEMPLATES_DIR"]
