"""The one Verilog emitter of the RTL backend: modules, ports, AXI-Stream port bundles, wires, instances.

Every generated Verilog file (layer wrappers, ROMs, the network top, board and FINN wrappers, testbench
tops) is written with these functions, so the file frame (``timescale``, ``default_nettype``), the port
list and the stream naming (``<prefix>_tdata/_tvalid/_tready/_tlast``) are the same everywhere.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pleiades_fpga.errors import PleiadesError

STREAM_SIGNALS = ("tdata", "tvalid", "tready", "tlast")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


def check_ident(name: str, what: str = "Verilog name") -> str:
    """``name`` if it is a Verilog identifier, else a PleiadesError."""
    if not _IDENT.match(name):
        raise PleiadesError(f"{what} {name!r} is not a Verilog identifier (letters, digits, _ and $, "
                            "not starting with a digit)")
    return name


def _range(width: int) -> str:
    if width < 1:
        raise PleiadesError(f"a Verilog signal needs a width >= 1, got {width}")
    return f"[{width - 1}:0] " if width > 1 else ""


@dataclass(frozen=True)
class Port:
    """One module port: ``direction`` is ``input`` or ``output``; ``reg`` makes an output a ``reg``."""

    name: str
    direction: str
    width: int = 1
    reg: bool = False

    def declaration(self) -> str:
        kind = "reg " if self.reg else "wire"
        return f"{self.direction:<6} {kind} {_range(self.width)}{self.name}"


def clock_reset(clk: str = "clk", rst: str = "rst") -> list[Port]:
    """The clock and (synchronous, active-high) reset inputs of every stream module."""
    return [Port(clk, "input"), Port(rst, "input")]


def stream_ports(prefix: str, width: int, *, slave: bool, last: bool = True) -> list[Port]:
    """AXI-Stream port bundle ``<prefix>_tdata/_tvalid/_tready[/_tlast]`` of a slave (input) or master."""
    d_in, d_out = ("input", "output") if slave else ("output", "input")
    ports = [Port(f"{prefix}_tdata", d_in, width), Port(f"{prefix}_tvalid", d_in), Port(f"{prefix}_tready", d_out)]
    return ports + ([Port(f"{prefix}_tlast", d_in)] if last else [])


def layer_ports(in_width: int, out_width: int) -> list[Port]:
    """Ports of a one-input layer module: clk, rst, ``s_axis`` (in) and ``m_axis`` (out)."""
    return clock_reset() + stream_ports("s_axis", in_width, slave=True) + stream_ports("m_axis", out_width, slave=False)


def stream_connections(port_prefix: str, signal_prefix: str, *, last: bool = True) -> dict[str, str]:
    """Port map of a stream bundle: ``.<port_prefix>_tdata(<signal_prefix>_tdata)`` etc."""
    sigs = STREAM_SIGNALS if last else STREAM_SIGNALS[:3]
    return {f"{port_prefix}_{s}": f"{signal_prefix}_{s}" for s in sigs}


def wire(name: str, width: int = 1, value: str | None = None) -> str:
    """A wire declaration (with a continuous assignment when ``value`` is given)."""
    return f"    wire {_range(width)}{name}" + (f" = {value};" if value is not None else ";")


def stream_wires(prefix: str, width: int) -> list[str]:
    """Declarations of the four wires of a stream ``<prefix>_tdata/_tvalid/_tready/_tlast``."""
    return [wire(f"{prefix}_tdata", width)] + [wire(f"{prefix}_{s}") for s in STREAM_SIGNALS[1:]]


def instance(module: str, name: str, connections: Mapping[str, str],
             parameters: Mapping[str, object] | None = None) -> str:
    """An instance ``module #(.P(v), ...) name (.port(signal), ...);`` (parameters in the given order)."""
    head = f"    {check_ident(module, 'module name')} "
    if parameters:
        head += "#(" + ", ".join(f".{k}({v})" for k, v in parameters.items()) + ") "
    chunks: list[list[str]] = [[]]
    for c in (f".{p}({s})" for p, s in connections.items()):  # about 100 characters per line
        if chunks[-1] and sum(len(x) + 2 for x in chunks[-1]) + len(c) > 100:
            chunks.append([])
        chunks[-1].append(c)
    body = ",\n".join("        " + ", ".join(ch) for ch in chunks)
    return head + f"{check_ident(name, 'instance name')} (\n{body}\n    );"


def module(name: str, ports: Sequence[Port], body: Iterable[str], *, comment: str = "",
           parameters: Mapping[str, object] | None = None, timescale: str = "1ns/1ps") -> str:
    """A whole Verilog file with one module: ``timescale``, ``default_nettype none``, comment lines, header
    (parameters and ports), ``body`` lines, ``endmodule``, ``default_nettype wire``."""
    check_ident(name, "module name")
    out = [f"`timescale {timescale}", "`default_nettype none"]
    out += [f"// {ln}" if ln else "//" for ln in comment.splitlines()] if comment else []
    if parameters:
        out.append(f"module {name} #(")
        out.append(",\n".join(f"    parameter {k} = {v}" for k, v in parameters.items()))
        out.append(") (")
    else:
        out.append(f"module {name} (")
    out.append(",\n".join(f"    {p.declaration()}" for p in ports))
    out.append(");")
    out += list(body)
    out += ["endmodule", "`default_nettype wire", ""]
    return "\n".join(out)


__all__ = ["Port", "STREAM_SIGNALS", "check_ident", "clock_reset", "instance", "layer_ports", "module",
           "stream_connections", "stream_ports", "stream_wires", "wire"]
