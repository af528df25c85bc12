"""Memory planner: where each temporal buffer lives (on chip or in the board's external memory), and the
external traffic it causes against the board memory's usable bandwidth (docs/EXTERNAL_MEMORY.md).

Buffers: a temporal layer's circular buffer (manifest memory kind ``circular_buffer``: K-1 frames), a
GroupNorm frame buffer (kind ``frame_buffer``: one frame) and a fork's skip FIFO (kind ``skip_fifo``: the frames
its long branch holds, plus one). The planner starts from every buffer on chip, applies the per-layer overrides
(folding JSON ``"memory": "onchip" | "external"``; a fork by its manifest name ``fork_<tensor>``), then moves the
largest remaining buffers external until the design's block RAM (+ UltraRAM) fits the part with ``headroom`` left
free. An external buffer keeps on chip its FIFOs: a history's K-1 prefetch FIFOs + 1 write FIFO, an external
FIFO's (``external_fifo``, frame buffers and skip FIFOs) write and prefetch FIFOs.

Traffic per frame of an external buffer (steady state, bytes on the AXI bus, pixels padded to whole beats):
circular buffer: K-1 frames read + 1 written; frame buffer and skip FIFO: 1 read + 1 written. MB/s = bytes per frame x frames/s
at the required rate (1e6 / bin_us) and at the achieved rate (clock / cycles per frame); the verdict compares the
total with the board memory's usable bandwidth (``toolflow.parts.BOARD_MEMORIES``, figures with their source).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.rtl.external_fifo import FifoLayout, fifo_layout
from pleiades_fpga.hw.rtl.kinds.temporal_conv_external import HistoryLayout, axi_data_width, history_layout
from pleiades_fpga.toolflow.parts import (URAM_BLOCK_BITS, BoardMemory, Part, bram_blocks, memory_class,
                                        rom_uses_bram, uram_blocks)

MEMORY_CHOICES = ("onchip", "external")
BUFFER_KINDS = ("circular_buffer", "frame_buffer", "skip_fifo")
Layout = HistoryLayout | FifoLayout
DEFAULT_HEADROOM = 0.10        # fraction of the part's block RAM left free
DEFAULT_LATENCY = 64           # nominal memory latency (cycles, address to first data) the prefetch hides


def memory_bits(mem: dict[str, Any], part: Part) -> int:
    """Block RAM + UltraRAM bits one manifest memory takes on ``part`` (LUT RAM and ROMs in logic: 0)."""
    depth, width = int(mem["depth"]), int(mem["width"])
    if mem.get("kind") == "weights":
        return bram_blocks(depth, width, part) * part.bram_block_bits if rom_uses_bram(depth, width, part) else 0
    cls = memory_class(depth, width, part)
    if cls == "uram":
        return uram_blocks(depth, width) * URAM_BLOCK_BITS
    return bram_blocks(depth, width, part) * part.bram_block_bits if cls == "bram" else 0


@dataclass
class BufferPlan:
    """One temporal buffer's placement."""

    layer: str
    kind: str                  # circular_buffer | frame_buffer
    memory: str                # onchip | external
    reason: str                # override | fits on chip | moved external to fit the block RAM
    frames: int                # frames held (K-1, or 1)
    onchip_bits: int           # block RAM bits when on chip
    external_onchip_bits: int  # block RAM bits of its prefetch and write FIFOs when external
    region_bytes: int          # bytes of its external region (0 when on chip)
    base_addr: int             # byte address of its region (external only)
    read_bytes_per_frame: int  # external traffic (0 when on chip)
    write_bytes_per_frame: int
    layout: Layout | None = None


def _entry_cycles_per_pixel(layer: dict[str, Any]) -> int:
    """MAC cycles per pixel of a manifest layer entry (its cycles per frame over its input pixels)."""
    _, h, w = (int(v) for v in layer["in_shape"])
    return max(1, int(layer.get("cycles_per_frame", h * w)) // (h * w))


def _word_bits(layer: dict[str, Any], mem: dict[str, Any]) -> int:
    """Bits of one word (pixel) of a buffer: a skip FIFO's word less its tlast bit, else the layer's input pixel."""
    if mem["kind"] == "skip_fifo":
        return int(mem["width"]) - 1
    return int(layer["in_shape"][0]) * int(layer["in_bits"])


def _layout(layer: dict[str, Any], mem: dict[str, Any], frames: int, data_w: int, latency: int, cpp: int,
            base_addr: int = 0) -> Layout:
    """A buffer's layout with ``data_w``-bit AXI beats: a history (circular buffer) or an external FIFO."""
    c, h, w = (int(v) for v in layer["in_shape"])
    name = str(layer["name"])
    if mem["kind"] == "circular_buffer":
        return history_layout(c_in=c, in_w=int(layer["in_bits"]), k=frames + 1, pixels=h * w, data_w=data_w,
                              base_addr=base_addr, latency=latency, cycles_per_pixel=cpp, name=name)
    capacity = int(mem["depth"]) if mem["kind"] == "skip_fifo" else h * w
    return fifo_layout(word_w=_word_bits(layer, mem), frame_pix=h * w, capacity=capacity, data_w=data_w,
                       base_addr=base_addr, latency=latency, cycles_per_word=cpp, name=name)


def _fifo_bits(lay: Layout, part: Part) -> int:
    """Block RAM bits of the on-chip FIFOs of an external buffer: a history's K-1 prefetch FIFOs and its write
    FIFO, an external FIFO's write and prefetch FIFOs (each FIFO_DEPTH x word bits)."""
    if isinstance(lay, FifoLayout):
        return 2 * memory_bits({"depth": lay.fifo_depth, "width": lay.word_w, "kind": "fifo"}, part)
    one = memory_bits({"depth": lay.fifo_depth, "width": lay.c_in * lay.in_w, "kind": "fifo"}, part)
    return lay.k * one


def plan_memory(layers: list[dict[str, Any]], part: Part, *, memory: BoardMemory | None = None,
                overrides: dict[str, str] | None = None, headroom: float = DEFAULT_HEADROOM,
                latency: int = DEFAULT_LATENCY, base_addr: int = 0, auto: bool = True,
                external_kinds: tuple[str, ...] = BUFFER_KINDS, data_w: int | None = None,
                cycles_per_pixel: dict[str, int] | None = None) -> dict[str, Any]:
    """Plan every temporal buffer of manifest ``layers`` on ``part`` (see the module docstring).

    ``memory``: the board memory (its port width caps the AXI data width, 64 bits if None). All external buffers
    share one AXI data width (one port behind an arbiter): ``data_w``, by default the widest external pixel rounded
    up to a power of two (>= 8 bits), at most the port's width. ``overrides``: layer name -> "onchip" |
    "external" (a layer entry with ``"memory_layer": J``, a fork, takes the override given to layer J, the layer
    joining its skip FIFO). ``auto`` False: no buffer is moved external unless an override says so. ``external_kinds``: the
    buffer kinds that may go external (an override on another kind is refused). ``cycles_per_pixel``: the MAC
    cycles per pixel of a layer's external engine (sets its prefetch depth; default from its entry's cycles).
    External regions are placed one after the other from ``base_addr``, each aligned to 4 KB. Returns {"part",
    "headroom", "budget_bits", "onchip_bits", "fits", "buffers": [...]} (JSON-ready)."""
    if not 0 <= headroom < 1:
        raise PleiadesError(f"block RAM headroom must be a fraction in [0, 1), got {headroom}")
    alias = {str(l["memory_layer"]): str(l["name"]) for l in layers if "memory_layer" in l}
    overrides = {alias.get(k, k): v for k, v in (overrides or {}).items()}   # a join's "memory": its skip FIFO
    cpp_of = dict(cycles_per_pixel or {})
    names = {str(l.get("name")) for l in layers}
    for name, choice in overrides.items():
        if choice not in MEMORY_CHOICES:
            raise PleiadesError(f"layer {name}: memory {choice!r} is not one of {', '.join(MEMORY_CHOICES)}")
        if name not in names:
            raise PleiadesError(f"memory override for unknown layer {name!r}; the layers are {', '.join(sorted(names))}")
    port_w = memory.data_bits if memory else 64
    fixed = 0                                    # on-chip bits of everything but the movable buffers
    buffers: list[BufferPlan] = []
    cpp_used: dict[str, int] = {}
    layer_of: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for layer in layers:
        mems = layer.get("memories", [])
        bufs = [m for m in mems if m.get("kind") in BUFFER_KINDS]
        fixed += sum(memory_bits(m, part) for m in mems if m.get("kind") not in BUFFER_KINDS)
        if overrides.get(str(layer["name"])) == "external" and not bufs:
            if "memory_layer" in layer:
                raise PleiadesError(f"layer {layer['memory_layer']}: memory 'external' moves the skip FIFO it joins, "
                                    f"but {layer['name']}'s FIFO is a short streaming one (nothing to move); set "
                                    "its memory to 'onchip'")
            raise PleiadesError(f"layer {layer['name']}: memory 'external' needs a temporal buffer; the layer has "
                                "none (only temporal layers, GroupNorm frame buffers and skip FIFOs can be external)")
        if overrides.get(str(layer["name"])) == "external" and any(m["kind"] not in external_kinds for m in bufs):
            raise PleiadesError(f"layer {layer['name']}: its {bufs[0]['kind']} cannot be external in this design "
                                f"(external buffers: {', '.join(external_kinds)}); set its memory to 'onchip'")
        for mem in bufs:
            frames = int(layer.get("kernel", 2)) - 1 if mem["kind"] == "circular_buffer" else 1
            cpp = cpp_of.get(str(layer["name"])) or _entry_cycles_per_pixel(layer)
            cpp_used[str(layer["name"])] = cpp
            lay = _layout(layer, mem, frames, axi_data_width(_word_bits(layer, mem), port_w), latency, cpp)
            layer_of[str(layer["name"])] = (layer, mem)
            buffers.append(BufferPlan(str(layer["name"]), mem["kind"], "onchip", "fits on chip", frames,
                                      memory_bits(mem, part), _fifo_bits(lay, part), 0, 0, 0, 0, lay))
    budget = int((part.bram_bits + part.uram_bits) * (1.0 - headroom))
    for b in buffers:
        if overrides.get(b.layer) in MEMORY_CHOICES:
            b.memory, b.reason = overrides[b.layer], "override"

    def used() -> int:
        return fixed + sum(b.onchip_bits if b.memory == "onchip" else b.external_onchip_bits for b in buffers)

    movable = (b for b in buffers if b.reason != "override" and b.kind in external_kinds)
    for b in sorted(movable, key=lambda b: -b.onchip_bits) if auto else ():
        if used() <= budget:
            break
        if b.external_onchip_bits < b.onchip_bits:
            b.memory, b.reason = "external", "moved external to fit the block RAM"
    ext = [b for b in buffers if b.memory == "external"]
    if data_w is None:
        data_w = max((b.layout.data_w for b in ext if b.layout is not None), default=port_w)
    addr = base_addr
    for b in ext:
        layer, mem = layer_of[b.layer]
        lay = _layout(layer, mem, b.frames, data_w, latency, cpp_used[b.layer], addr)
        b.layout, b.base_addr, b.region_bytes = lay, addr, lay.region_bytes
        b.external_onchip_bits = _fifo_bits(lay, part)
        frame_bytes = int(layer["in_shape"][1]) * int(layer["in_shape"][2]) * lay.pix_bytes
        b.read_bytes_per_frame = b.frames * frame_bytes
        b.write_bytes_per_frame = frame_bytes
        addr = -(-(addr + lay.region_bytes) // 4096) * 4096
    if memory is not None and addr - base_addr > memory.size_bytes:
        raise PleiadesError(f"the external buffers need {addr - base_addr:,} bytes, more than the "
                            f"{memory.size_bytes:,} bytes of {memory.board}'s {memory.kind}")
    rows = []
    for b in buffers:
        row = {k: v for k, v in asdict(b).items() if k != "layout"}
        if b.memory == "external" and b.layout is not None:
            row["params"] = b.layout.params()
        rows.append(row)
    total = used()
    return {"part": part.name, "headroom": headroom, "budget_bits": budget, "onchip_bits": total,
            "fits": total <= budget, "external_bytes": addr - base_addr, "latency_cycles": latency,
            "data_bits": data_w, "auto": auto, "buffers": rows,
            "source": "estimated (block RAM of each memory by the part's mapping rules, toolflow.parts)"}


def plan_layouts(plan: dict[str, Any]) -> dict[str, Layout]:
    """The layout of every external buffer of a plan, by layer (checked again): a ``HistoryLayout`` for a
    circular buffer, a ``FifoLayout`` for a frame buffer or skip FIFO."""
    out: dict[str, Layout] = {}
    for b in plan["buffers"]:
        if b["memory"] != "external":
            continue
        p = b["params"]
        if b["kind"] == "circular_buffer":
            out[b["layer"]] = history_layout(c_in=p["C_IN"], in_w=p["IN_W"], k=p["K"], pixels=p["PIXELS"],
                                             data_w=p["DATA_W"], burst_pix=p["BURST_PIX"],
                                             fifo_depth=p["FIFO_DEPTH"], base_addr=b["base_addr"],
                                             addr_w=p["ADDR_W"], name=b["layer"])
        else:
            out[b["layer"]] = fifo_layout(word_w=p["PIX_W"], frame_pix=p["FRAME_PIX"], capacity=1,
                                          data_w=p["DATA_W"], burst_pix=p["BURST_PIX"], fifo_depth=p["FIFO_DEPTH"],
                                          ring_bursts=p["RING_BURSTS"], base_addr=b["base_addr"],
                                          addr_w=p["ADDR_W"], name=b["layer"])
    return out


def bandwidth(plan: dict[str, Any], *, fps_required: float, fps_achieved: float,
              memory: BoardMemory | None) -> dict[str, Any]:
    """External traffic of a plan: per buffer and in total, bytes per frame and MB/s at the required and achieved
    frame rates, against the board memory's usable bandwidth. Verdict: "ok" when the total at the required rate
    fits the usable bandwidth ("memory-bound" when only the achieved rate does not: the design then runs at the
    memory's pace, still real time), "too slow" when even the required rate does not fit, "none" without
    external buffers."""
    if fps_required <= 0 or fps_achieved <= 0:
        raise PleiadesError(f"frame rates must be positive, got required {fps_required}, achieved {fps_achieved}")
    rows = []
    for b in plan["buffers"]:
        if b["memory"] != "external":
            continue
        per_frame = b["read_bytes_per_frame"] + b["write_bytes_per_frame"]
        rows.append({"layer": b["layer"], "kind": b["kind"], "bytes_per_frame": per_frame,
                     "read_bytes_per_frame": b["read_bytes_per_frame"],
                     "write_bytes_per_frame": b["write_bytes_per_frame"],
                     "mb_s_required": per_frame * fps_required / 1e6, "mb_s_achieved": per_frame * fps_achieved / 1e6})
    total = sum(r["bytes_per_frame"] for r in rows)
    req, ach = total * fps_required / 1e6, total * fps_achieved / 1e6
    usable = memory.usable_mb_s if memory else None
    if not rows:
        verdict = "none"
    elif usable is None:
        verdict = "unknown (no board memory)"
    else:
        verdict = "ok" if ach <= usable else "memory-bound" if req <= usable else "too slow"
    return {"layers": rows, "bytes_per_frame": total, "fps_required": fps_required, "fps_achieved": fps_achieved,
            "mb_s_required": req, "mb_s_achieved": ach, "usable_mb_s": usable,
            "memory": asdict(memory) if memory else None, "verdict": verdict,
            "source": "estimated (traffic model: bytes on the AXI bus per frame; board figures: see memory.source)"}


__all__ = ["BUFFER_KINDS", "BufferPlan", "Layout", "DEFAULT_HEADROOM", "MEMORY_CHOICES", "bandwidth", "memory_bits",
           "plan_layouts", "plan_memory"]
