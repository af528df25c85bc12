"""Hardware kind ``fork``: a tensor read by two layers (the DWS block input) goes through ``axis_fork``, and the
branch that reaches the add first (the short one) through a FIFO: ``SKIP_FIFO_DEPTH`` beats (``axis_fifo``) when the
long branch streams, else enough for the whole frames the long branch holds plus one (``skip_fifo_depth``; an
``axis_fifo_bram``, e.g. for the frame buffers of exact GroupNorm). Inserted by the generator (no IR layer); one
pixel per cycle; not a stage of the analytic latency."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pleiades_fpga.hw.rtl import verilog as v
from pleiades_fpga.hw.rtl.kinds.registry import EstimateInput, HwKind, register
from pleiades_fpga.hw.rtl.lowering import pow2_at_least

SKIP_FIFO_DEPTH = 16


def skip_fifo_depth(frames_held: int, pixels: int) -> int:
    """Beats of the skip FIFO when the long branch holds ``frames_held`` whole frames of ``pixels`` beats: while the
    long branch fills, the fork keeps pushing the skip side; it needs those frames plus one (the frame in flight),
    rounded up to a power of two. Smaller and the fork stalls the long branch: a deadlock."""
    if frames_held <= 0:
        return SKIP_FIFO_DEPTH
    need = (frames_held + 1) * pixels + SKIP_FIFO_DEPTH
    return pow2_at_least(need)


@dataclass
class ForkStreams:
    """One fork in the top: its wire declarations and instances, its manifest entry and the stream prefixes of
    its long branch (``direct``) and of its FIFO-delayed short branch (``queued``)."""

    direct: str
    queued: str
    decls: list[str] = field(default_factory=list)
    insts: list[str] = field(default_factory=list)
    entry: dict[str, Any] = field(default_factory=dict)


@register
class Fork(HwKind):
    name = "fork"
    adds_latency = False

    def lower_fork(self, ident: str, src: str, width: int, shape: list[int], frames_held: int = 0) -> ForkStreams:
        """Fork of the stream ``src`` (``width`` bits, tensor shape (C, H, W)) named after ``ident``; ``frames_held``:
        whole frames its long branch holds (sizes the skip FIFO)."""
        fa, fb, fq = f"fork_{ident}_a", f"fork_{ident}_b", f"fork_{ident}_bq"
        fs = ForkStreams(direct=fa, queued=fq)
        for prefix in (fa, fb, fq):
            fs.decls += v.stream_wires(prefix, width)
        fs.insts.append(v.instance("axis_fork", f"u_fork_{ident}", {
            "clk": "clk", "rst": "rst", **v.stream_connections("s_axis", src), **v.stream_connections("m_a_axis", fa),
            **v.stream_connections("m_b_axis", fb)}, {"DATA_W": width}))
        depth = skip_fifo_depth(frames_held, shape[1] * shape[2])
        if depth == SKIP_FIFO_DEPTH:
            fifo = "axis_fifo"
            fs.insts.append(v.instance(fifo, f"u_fifo_{ident}", {
                "clk": "clk", "rst": "rst", **v.stream_connections("s_axis", fb), **v.stream_connections("m_axis", fq)},
                {"DATA_W": width, "DEPTH": depth}))
        else:  # block RAM; tlast travels as the word's top bit
            fifo, word = "axis_fifo_bram", f"fifo_{ident}_word"
            count_w = (depth - 1).bit_length() + 2  # axis_fifo_bram's CW
            fs.decls += [v.wire(word, width + 1), "/* verilator lint_off UNUSEDSIGNAL */",
                         v.wire(f"fifo_{ident}_count", count_w), "/* verilator lint_on UNUSEDSIGNAL */"]
            fs.insts.append(v.instance(fifo, f"u_fifo_{ident}", {
                "clk": "clk", "rst": "rst", "s_axis_tdata": f"{{{fb}_tlast, {fb}_tdata}}", "s_axis_tvalid": f"{fb}_tvalid",
                "s_axis_tready": f"{fb}_tready", "m_axis_tdata": word, "m_axis_tvalid": f"{fq}_tvalid",
                "m_axis_tready": f"{fq}_tready", "count": f"fifo_{ident}_count"}, {"DATA_W": width + 1, "DEPTH": depth}))
            fs.decls += [f"assign {fq}_tdata = {word}[{width - 1}:0];", f"assign {fq}_tlast = {word}[{width}];"]
        fs.entry = {"name": f"fork_{ident}", "kind": self.name, "module": f"axis_fork+{fifo}", "in_shape": shape,
                    "memories": [{"name": f"fifo_{ident}", "kind": "fifo", "depth": depth, "width": width + 1}],
                    "macs_per_frame": 0, "multipliers": 0, "cycles_per_frame": shape[1] * shape[2]}
        return fs

    def stream_ff(self, est: EstimateInput) -> float:
        return est.in_width + 3  # one beat register, valid/pending flags
