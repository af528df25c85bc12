"""ECP5 block-RAM output registers: move the fabric register behind a block RAM into the block RAM.

Yosys maps ECP5 block RAM (DP16KD) with ``REGMODE = "NOREG"``: a read's data leaves the block RAM through its
output latch, whose clock-to-output delay is 5.8 ns on speed grade 6 (nextpnr's timing database), and ram_sdp
(OUT_REG = 1) and the 2-stage ROMs register it again in the fabric. The block RAM's own output register
(``REGMODE = "OUTREG"``, enabled by ``OCE``) does that job with 1.0 ns clock-to-output, so a 2-edge read has
its whole second cycle for the routing and logic after the block RAM.

:func:`absorb_output_registers` rewrites the flattened Yosys netlist (``netlist.json``) between synthesis and
nextpnr: a read port whose every used data output drives exactly one flip-flop (and nothing else) is given
``REGMODE = "OUTREG"``; the flip-flops go, and their outputs are driven by the block RAM. This preserves
behaviour when the flip-flops

- are clocked by the port's clock (same net, neither inverted),
- share one clock enable (``CE`` net, or always enabled), which becomes the port's ``OCE``, and it is the port's
  own clock enable (or the port is always enabled), so the result does not depend on whether the block RAM's
  output register also waits for ``CE``,
- have no reset (``LSR`` tied to 0) and do not power up to 1 (the block RAM's register powers up to 0),

and the port has no reset (``RST`` tied to 0). Any other port is left as it is, with the reason counted.
In 36-bit pseudo dual-port mode (``DATA_WIDTH_A = 36``) the read data leaves on both DOA and DOB under port B's
control: both halves are taken together, with ``REGMODE_A`` and ``REGMODE_B`` set and ``OCEA`` = ``OCEB``.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pleiades_fpga.artifacts import write_json_atomic, write_text_atomic
from pleiades_fpga.errors import PleiadesError

SUMMARY_FILE = "bram_outreg.json"
_DO_BITS = 18


@dataclass
class OutregSummary:
    """What :func:`absorb_output_registers` did: read ports given OUTREG, flip-flops removed, ports left."""

    ports: int = 0
    flip_flops: int = 0
    left: dict[str, int] = field(default_factory=dict)     # reason -> read ports left with NOREG

    def to_dict(self) -> dict:
        """JSON-ready dictionary."""
        return asdict(self)


def _int_param(value: object) -> int:
    """A Yosys JSON parameter as an integer (binary string, or a number)."""
    if isinstance(value, int):
        return value
    text = str(value).strip()
    return int(text, 2) if text and set(text) <= {"0", "1"} else int(text)


def _top_module(netlist: dict) -> dict:
    tops = [m for m in netlist.get("modules", {}).values() if int(str(m.get("attributes", {}).get("top", "0")), 2)]
    if len(tops) != 1:
        raise PleiadesError(f"the netlist has {len(tops)} top modules; expected one (a flattened Yosys netlist)")
    return tops[0]


def _ff_enable(ff: dict, clock: list) -> tuple | str:
    """The flip-flop's clock enable as a connection tuple, or why it cannot move into a block RAM."""
    params, conn = ff.get("parameters", {}), ff["connections"]
    if conn.get("CLK") != clock or str(params.get("CLKMUX", "CLK")).strip() != "CLK":
        return "flip-flop on another clock"
    if conn.get("LSR", ["0"]) != ["0"] or str(params.get("LSRMUX", "LSR")).strip() != "LSR":
        return "flip-flop with a reset"
    if (str(params.get("GSR", "ENABLED")).strip() == "ENABLED"
            and str(params.get("REGSET", "RESET")).strip() == "SET"):
        return "flip-flop powering up to 1"
    cemux = str(params.get("CEMUX", "1")).strip()
    if cemux == "1":
        return ("1",)
    if cemux != "CE":
        return "flip-flop with an inverted clock enable"
    return tuple(conn.get("CE", ["1"]))


def absorb_output_registers(netlist: dict) -> OutregSummary:
    """Give every DP16KD read port whose data go straight into flip-flops ``REGMODE = "OUTREG"`` and remove
    those flip-flops (``netlist``: a flattened Yosys JSON netlist, changed in place)."""
    top = _top_module(netlist)
    cells = top["cells"]
    sinks: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for name, cell in cells.items():
        for port, bits in cell["connections"].items():
            if cell.get("port_directions", {}).get(port) != "output":
                for bit in bits:
                    if isinstance(bit, int):
                        sinks[bit].append((name, port))
    for pname, port in top.get("ports", {}).items():
        if port.get("direction") != "input":
            for bit in port["bits"]:
                if isinstance(bit, int):
                    sinks[bit].append(("", pname))

    summary = OutregSummary()
    left: Counter[str] = Counter()
    removed: list[str] = []
    for cell in cells.values():
        if cell["type"] != "DP16KD":
            continue
        params, conn = cell["parameters"], cell["connections"]
        pdp = _int_param(params.get("DATA_WIDTH_A", 18)) == 36
        for side in ("B",) if pdp else ("A", "B"):
            outs = ("A", "B") if pdp else (side,)
            used = [(o, i, conn[f"DO{o}{i}"][0]) for o in outs for i in range(_DO_BITS)
                    if isinstance(conn.get(f"DO{o}{i}", ["x"])[0], int) and sinks.get(conn[f"DO{o}{i}"][0])]
            if not used:
                continue
            found = _port_reason(cell, side, pdp) or _port_flip_flops(cells, sinks, cell, side, used)
            if isinstance(found, str):
                left[found] += 1
                continue
            ffs, enable = found
            for o in outs:
                params[f"REGMODE_{o}"] = "OUTREG"
                conn[f"OCE{o}"] = list(enable)
            for o, i, ff in ffs:
                conn[f"DO{o}{i}"] = list(cells[ff]["connections"]["Q"])
                removed.append(ff)
            summary.ports += 1
    for ff in removed:
        del cells[ff]
    summary.flip_flops = len(removed)
    summary.left = dict(sorted(left.items()))
    return summary


def _port_flip_flops(cells: dict, sinks: dict, cell: dict, side: str,
                     used: list[tuple[str, int, int]]) -> tuple[list[tuple[str, int, str]], tuple] | str:
    """The flip-flop behind each used data output ``(port letter, bit, flip-flop)`` and their one clock enable, or
    why the port cannot take them."""
    conn = cell["connections"]
    enables: set[tuple] = set()
    ffs = []
    for o, i, bit in used:
        users = sinks[bit]
        if len(users) != 1 or users[0][1] != "DI" or cells.get(users[0][0], {}).get("type") != "TRELLIS_FF":
            return "data used by logic other than one flip-flop"
        enable = _ff_enable(cells[users[0][0]], conn.get(f"CLK{side}"))
        if isinstance(enable, str):
            return enable
        enables.add(enable)
        ffs.append((o, i, users[0][0]))
    if len(enables) != 1:
        return "flip-flops with different clock enables"
    (enable,) = enables
    port_ce = conn.get(f"CE{side}", ["1"])
    if port_ce != ["1"] and list(enable) != port_ce:
        return "flip-flops enabled apart from the read"
    return ffs, enable


def _port_reason(cell: dict, side: str, pdp: bool) -> str:
    """Why this read port cannot take its output register, or '' when it can."""
    params, conn = cell["parameters"], cell["connections"]
    outs = ("A", "B") if pdp else (side,)
    if any(str(params.get(f"REGMODE_{o}", "NOREG")).strip() != "NOREG" for o in outs):
        return "output register already used"
    if any(conn.get(f"RST{o}", ["0"]) != ["0"] for o in outs):
        return "port with a reset"
    if str(params.get(f"CLK{side}MUX", f"CLK{side}")).strip() != f"CLK{side}":
        return "inverted port clock"
    if conn.get(f"OCE{side}", ["1"]) != ["1"]:
        return "output enable in use"
    return ""


def absorb_in_file(netlist_path: Path | str) -> OutregSummary:
    """Apply :func:`absorb_output_registers` to a netlist file in place and write its summary beside it
    (``bram_outreg.json``). Run once, on Yosys's output: a second run finds every port done and changes nothing."""
    path = Path(netlist_path)
    if not path.exists():
        raise PleiadesError(f"{path} missing; run synthesis first (pleiades-fpga synth ...)")
    netlist = json.loads(path.read_text())
    summary = absorb_output_registers(netlist)
    if summary.ports:
        write_text_atomic(path, json.dumps(netlist))
    write_json_atomic(path.parent / SUMMARY_FILE, summary.to_dict())
    return summary


def load_summary(directory: Path | str) -> OutregSummary | None:
    """The summary :func:`absorb_in_file` wrote in ``directory``, or None."""
    path = Path(directory) / SUMMARY_FILE
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    return OutregSummary(ports=int(data["ports"]), flip_flops=int(data["flip_flops"]), left=dict(data["left"]))
