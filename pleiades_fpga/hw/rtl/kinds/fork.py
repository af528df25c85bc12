"""Hardware kind ``fork``: a tensor read by two layers (the DWS block input) goes through ``axis_fork``, and the
branch that reaches the add first (the short one) through an ``axis_fifo`` of ``SKIP_FIFO_DEPTH`` beats. Inserted
by the generator (no IR layer); one pixel per cycle; not a stage of the analytic latency."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pleiades_fpga.hw.rtl import verilog as v
from pleiades_fpga.hw.rtl.kinds.registry import EstimateInput, HwKind, register

SKIP_FIFO_DEPTH = 16


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

    def lower_fork(self, ident: str, src: str, width: int, shape: list[int]) -> ForkStreams:
        """Fork of the stream ``src`` (``width`` bits, tensor shape (C, H, W)) named after ``ident``."""
        fa, fb, fq = f"fork_{ident}_a", f"fork_{ident}_b", f"fork_{ident}_bq"
        fs = ForkStreams(direct=fa, queued=fq)
        for prefix in (fa, fb, fq):
            fs.decls += v.stream_wires(prefix, width)
        fs.insts.append(v.instance("axis_fork", f"u_fork_{ident}", {
            "clk": "clk", "rst": "rst", **v.stream_connections("s_axis", src), **v.stream_connections("m_a_axis", fa),
            **v.stream_connections("m_b_axis", fb)}, {"DATA_W": width}))
        fs.insts.append(v.instance("axis_fifo", f"u_fifo_{ident}", {
            "clk": "clk", "rst": "rst", **v.stream_connections("s_axis", fb), **v.stream_connections("m_axis", fq)},
            {"DATA_W": width, "DEPTH": SKIP_FIFO_DEPTH}))
        fs.entry = {"name": f"fork_{ident}", "kind": self.name, "module": "axis_fork+axis_fifo", "in_shape": shape,
                    "memories": [{"name": f"fifo_{ident}", "kind": "fifo", "depth": SKIP_FIFO_DEPTH,
                                  "width": width + 1}],
                    "macs_per_frame": 0, "multipliers": 0, "cycles_per_frame": shape[1] * shape[2]}
        return fs

    def stream_ff(self, est: EstimateInput) -> float:
        return est.in_width + 3  # one beat register, valid/pending flags
