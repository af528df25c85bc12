"""Temporal memory per layer: buffer mode ((K-1) frames) vs recurrent mode (D states), with real widths.

For a temporal layer with C input channels on H x W pixels and b_x-bit inputs:
- buffer bits = (K - 1) * C * H * W * b_x (the circular buffer of temporal_conv_buffer);
- state bits  = D * C * H * W * b_s (the state memory of projection_state).
b_s comes from the build (a recurrent layer's real state width) or, for a buffer layer, from the width
analysis of ``pleiades_fpga.quant.projection_format.choose_projection_format`` on the LegT reference recurrence
(``legt_matrices``) for the layer's K and input range. The crossover K* is the smallest kernel size with
(K* - 1) * b_x > D * b_s(K*) (recurrent needs less memory from K* on); with b_s from the build it is held
fixed, with the analysis it is recomputed per K.
"""
from __future__ import annotations

from functools import lru_cache

from pleiades_fpga.ir.kinds.projection import projection_window
from pleiades_fpga.ir.integers import int_range
from pleiades_fpga.quant.projection_format import choose_projection_format, legt_matrices

DEFAULT_D = 5  # N + 1 for the presets (degree N = 4)
MAX_K = 256


@lru_cache(maxsize=512)
def analysed_state_bits(kernel_size: int, d: int, in_bits: int, in_signed: bool) -> int:
    """State width by analysis (LegT reference recurrence, input scale 1) for a K window and b_x-bit inputs."""
    A, B, _ = legt_matrices(kernel_size, d)
    lo, hi = int_range(in_bits, in_signed)
    return choose_projection_format(A, B, 1.0, lo, hi).state_bits


def crossover_k(d: int, in_bits: int, in_signed: bool = False, state_bits: int | None = None) -> int | None:
    """Smallest K >= 2 with (K-1) * b_x > D * b_s(K) (None if not reached by ``MAX_K``)."""
    for k in range(max(2, d), MAX_K + 1):
        bs = state_bits if state_bits is not None else analysed_state_bits(k, d, in_bits, in_signed)
        if (k - 1) * in_bits > d * bs:
            return k
    return None


def memory_row(name: str, mode: str, k: int | None, channels: int, pixels: int, in_bits: int, in_signed: bool,
               d: int = DEFAULT_D, state_bits: int | None = None) -> dict:
    """One layer's comparison (``state_bits`` None: from the analysis, needs ``k``)."""
    source = "build" if state_bits is not None else "analysis (LegT reference)"
    if state_bits is None and k:
        state_bits = analysed_state_bits(k, d, in_bits, in_signed)
    buffer_bits = (k - 1) * channels * pixels * in_bits if k else None
    state_mem = d * channels * pixels * state_bits if state_bits else None
    return {
        "layer": name, "mode": mode, "kernel_size": k, "channels": channels, "pixels": pixels, "in_bits": in_bits,
        "buffer_bits": buffer_bits, "state_dim": d, "state_bits": state_bits, "state_bits_source": source,
        "state_memory_bits": state_mem,
        "recurrent_wins": (state_mem < buffer_bits) if (state_mem and buffer_bits) else None,
        "crossover_k": crossover_k(d, in_bits, in_signed, state_bits if source == "build" else None),
    }


def _buffer_entry_row(e: dict, d: int) -> dict:
    c, h, w = (int(v) for v in e.get("in_shape", [0, 0, 0]))
    return memory_row(e["name"], "buffer", int(e["kernel"]), c, h * w, int(e["in_bits"]), bool(e.get("in_signed")), d)


def _recurrent_entry_row(e: dict, d: int) -> dict:
    c, h, w = (int(v) for v in e.get("in_shape", [0, 0, 0]))
    return memory_row(e["name"], "recurrent", e.get("window"), c, h * w, int(e["in_bits"]), bool(e.get("in_signed")),
                      int(e["state_dim"]), int(e["state_bits"]))


# manifest kind of a temporal layer -> its row (other kinds keep no temporal memory)
_MANIFEST_ROWS = {"temporal_conv": _buffer_entry_row, "projection": _recurrent_entry_row}


def temporal_memory(manifest: dict, d: int = DEFAULT_D) -> list[dict]:
    """Rows for every temporal layer of a build manifest (temporal_conv or projection entries)."""
    return [_MANIFEST_ROWS[e["kind"]](e, d) for e in manifest.get("layers", []) if e.get("kind") in _MANIFEST_ROWS]


def _buffer_layer_row(graph, layer, d: int) -> dict:
    x = graph.tensors[layer.inputs[0]]
    return memory_row(layer.name, "buffer", layer.params.history_frames + 1, x.channels, x.height * x.width, x.bits,
                      x.signed, d)


def _recurrent_layer_row(graph, layer, d: int) -> dict:
    x = graph.tensors[layer.inputs[0]]
    return memory_row(layer.name, "recurrent", projection_window(graph, layer), x.channels, x.height * x.width,
                      x.bits, x.signed, layer.params.state_dim, layer.out_bits)


# IR kind of a temporal layer (``IRGraph.temporal_layers``) -> its row
_IR_ROWS = {"conv": _buffer_layer_row, "projection": _recurrent_layer_row}


def temporal_memory_ir(graph, d: int = DEFAULT_D) -> list[dict]:
    """The same rows from an IR graph (its temporal layers: temporal convs and projection layers)."""
    return [_IR_ROWS[l.kind](graph, l, d) for l in graph.temporal_layers()]


__all__ = ["analysed_state_bits", "crossover_k", "memory_row", "temporal_memory", "temporal_memory_ir"]
