"""A readable one-line-per-layer summary of an IR graph (``ir.txt`` of a build, printed by export and demo)."""
from __future__ import annotations

from pleiades_fpga.ir.graph import IRGraph
from pleiades_fpga.ir.kinds import get_kind


def summary(graph: IRGraph) -> str:
    """One line per layer: kind/role, output shape, kind details, widths, accumulator bits."""
    lines = []
    for layer in graph.layers:
        kind = get_kind(layer.kind)
        t = graph.tensors[layer.output]
        desc = f"{layer.name:<24} {layer.kind:<10} {kind.role(layer) or '':<9} -> ({t.channels},{t.height},{t.width})"
        desc += kind.describe(layer)
        desc += f" in{layer.in_bits}{'s' if layer.in_signed else 'u'} acc{layer.acc_bits}"
        desc += " out=acc" if kind.outputs_accumulator(layer) else \
            f" out{layer.out_bits}{'s' if layer.out_signed else 'u'}"
        lines.append(desc)
    return "\n".join(lines)
