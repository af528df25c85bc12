"""Emit constant ROM modules (weights, biases, requant parameters) as Verilog.

A ROM module has the port list ``(clk, en, addr, data)``: a 1-cycle synchronous read,
``data <= rom[addr]`` on a rising edge with ``en`` high (hold otherwise), or with ``read_stages=2`` a 2-cycle
read (the ROM's register, then an output register, both advancing with ``en``: ``data`` = the word addressed two
enabled edges earlier; a block RAM's slow output then ends in a register that the placer can keep beside it). Tie
``en`` to 1 if the user never stalls. Two styles, both read by Verilator, Icarus and Yosys (no file paths involved):

- ``"case"``: a case statement (Yosys turns it into a ROM; good for LUT ROMs);
- ``"array"``: a memory array filled by an ``initial`` block (Yosys infers block RAM init).

Words are unsigned bit patterns of ``width`` bits; use :func:`pack_lanes` to build words from
several signed/unsigned lanes (lane 0 at the least significant bits), the same packing as AXI-Stream
pixels. The layout helpers at the end of the module define the ROM contents the MAC templates
(``temporal_conv_buffer``, ``pointwise_mvu``, ``conv3x3_stream``) and ``avgpool_stream`` expect, and build the
layer wrappers (template + ROMs) that the generator ships and the template tests simulate.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.rtl.verilog import Port, check_ident, instance, layer_ports, module, stream_connections, wire


def addr_width(depth: int) -> int:
    """Address width for ``depth`` words (at least 1 bit)."""
    if depth < 1:
        raise PleiadesError(f"ROM depth must be >= 1, got {depth}")
    return max(1, (depth - 1).bit_length())


def int_range(width: int, signed: bool) -> tuple[int, int]:
    """Inclusive range of a ``width``-bit integer."""
    if signed:
        return -(1 << (width - 1)), (1 << (width - 1)) - 1
    return 0, (1 << width) - 1


def bits_needed(values: np.ndarray | Sequence[int], signed: bool) -> int:
    """Smallest width that holds every value (signed: two's complement); at least 1."""
    arr = np.asarray(values, dtype=object).ravel()
    if arr.size == 0:
        return 1
    lo, hi = int(min(arr)), int(max(arr))
    if not signed:
        if lo < 0:
            raise PleiadesError(f"negative value {lo} cannot be stored unsigned; use signed=True")
        return max(1, hi.bit_length())
    return max(1, max((-lo - 1).bit_length(), hi.bit_length()) + 1) if lo < 0 else max(1, hi.bit_length() + 1)


def pack_lanes(lanes: np.ndarray | Sequence[Sequence[int]], lane_width: int, signed: bool = True) -> list[int]:
    """Pack rows of lane values into words: lane ``j`` of row ``r`` at bits ``[j*lane_width +: lane_width]``.

    ``lanes`` has shape (depth, n_lanes); values are checked to fit ``lane_width`` (signed or unsigned).
    """
    arr = np.asarray(lanes, dtype=object)
    if arr.ndim != 2:
        raise PleiadesError(f"pack_lanes expects a 2-D array (depth, lanes), got shape {arr.shape}")
    lo, hi = int_range(lane_width, signed)
    mask = (1 << lane_width) - 1
    words = []
    for row in arr:
        word = 0
        for j, v in enumerate(row):
            v = int(v)
            if not lo <= v <= hi:
                kind = "signed" if signed else "unsigned"
                raise PleiadesError(f"value {v} does not fit a {lane_width}-bit {kind} lane (range {lo}..{hi})")
            word |= (v & mask) << (j * lane_width)
        words.append(word)
    return words


def unpack_lanes(word: int, n_lanes: int, lane_width: int, signed: bool = True) -> list[int]:
    """Inverse of :func:`pack_lanes` for one word."""
    mask = (1 << lane_width) - 1
    out = []
    for j in range(n_lanes):
        v = (int(word) >> (j * lane_width)) & mask
        if signed and v >> (lane_width - 1):
            v -= 1 << lane_width
        out.append(v)
    return out


def rom_verilog(name: str, words: Sequence[int] | np.ndarray, width: int, *, style: str = "case",
                signed: bool = False, read_stages: int = 1) -> str:
    """Verilog text of a ROM module ``name`` holding ``words`` (``width`` bits each).

    Values may be negative only with ``signed=True`` (stored as two's complement). Ports:
    ``clk``, ``en``, ``addr[AW-1:0]`` with ``AW = addr_width(len(words))``, ``data[width-1:0]``.
    Addresses past the end read as 0. ``read_stages``: 1 or 2 registers from ``addr`` to ``data``.
    """
    check_ident(name, "ROM module name")
    if width < 1:
        raise PleiadesError(f"ROM width must be >= 1, got {width}")
    if read_stages not in (1, 2):
        raise PleiadesError(f"ROM {name}: read_stages must be 1 or 2, got {read_stages}")
    values = [int(v) for v in np.asarray(words, dtype=object).ravel()]
    depth = len(values)
    aw = addr_width(depth)
    lo, hi = int_range(width, signed)
    mask = (1 << width) - 1
    for i, v in enumerate(values):
        if not lo <= v <= hi:
            raise PleiadesError(f"ROM {name}: word {i} = {v} does not fit {width} bits "
                                f"({'signed' if signed else 'unsigned'} range {lo}..{hi}); widen the ROM")
    hexd = max(1, (width + 3) // 4)
    lit = [f"{width}'h{v & mask:0{hexd}x}" for v in values]
    word = "data" if read_stages == 1 else "word_reg"     # the register the ROM read lands in
    body: list[str] = [] if read_stages == 1 else [f"    reg [{width - 1}:0] {word};   // the ROM's own register (stage 1)"]
    if style == "case":
        body += ["    always @(posedge clk) begin", "        if (en) begin", "            case (addr)"]
        body += [f"                {aw}'d{i}: {word} <= {w};" for i, w in enumerate(lit)]
        if depth < (1 << aw):
            body.append(f"                default: {word} <= {width}'d0;")
        body += ["            endcase", "        end", "    end"]
    elif style == "array":
        body += [f"    reg [{width - 1}:0] mem [0:{depth - 1}];", "    initial begin"]
        body += [f"        mem[{i}] = {w};" for i, w in enumerate(lit)]
        body += ["    end"]
        if depth < (1 << aw):
            body += [
                "    always @(posedge clk) begin",
                f"        if (en) {word} <= (addr < {aw}'d{depth}) ? mem[addr] : {width}'d0;",
                "    end",
            ]
        else:
            body += ["    always @(posedge clk) begin", f"        if (en) {word} <= mem[addr];", "    end"]
    else:
        raise PleiadesError(f"unknown ROM style {style!r}; use 'case' or 'array'")
    if read_stages == 2:
        body += ["    always @(posedge clk) begin   // output register (stage 2)", f"        if (en) data <= {word};",
                 "    end", f"    initial {word} = {{{width}{{1'b0}}}};"]
    body.append("    initial data = {" + f"{width}" + "{1'b0}};")
    ports = [Port("clk", "input"), Port("en", "input"), Port("addr", "input", aw), Port("data", "output", width, reg=True)]
    return module(name, ports, body, comment=f"{name}: constant ROM, {depth} x {width} bits, {read_stages}-cycle "
                                              "synchronous read (generated).")


# --------------------------------------------------------------------------------------------------
# ROM layouts of the MAC templates (pointwise_mvu, temporal_conv_buffer, conv3x3_stream) and layer wrappers
# --------------------------------------------------------------------------------------------------

def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def mac_weight_words(weights: np.ndarray, pe: int, simd: int, depthwise: bool = False) -> np.ndarray:
    """Weight ROM contents (lane values, shape (depth, lanes)) for pointwise_mvu / temporal_conv_buffer.

    ``weights``: (C_out, C_in, K) for a full layer (K = 1 for pointwise), (C, K) for depthwise.
    Full: word ``(o*K + k)*NI + i`` (NO = ceil(C_out/PE), NI = ceil(C_in/SIMD)) holds lane
    ``j*SIMD + s`` = w[o*PE + j, i*SIMD + s, k] (0 past the ends). Depthwise (SIMD must be 1):
    word ``o*K + k`` holds lane ``j`` = w[o*PE + j, k]. Tap 0 is the oldest frame.
    """
    w = np.asarray(weights, dtype=np.int64)
    if depthwise:
        if w.ndim != 2:
            raise PleiadesError(f"depthwise weights must have shape (C, K), got {w.shape}")
        if simd != 1:
            raise PleiadesError(f"depthwise layers need SIMD = 1, got {simd}")
        c, k = w.shape
        no = _ceil_div(c, pe)
        pad = np.zeros((no * pe, k), dtype=np.int64)
        pad[:c] = w
        return pad.reshape(no, pe, k).transpose(0, 2, 1).reshape(no * k, pe)
    if w.ndim != 3:
        raise PleiadesError(f"weights must have shape (C_out, C_in, K), got {w.shape}")
    co, ci, k = w.shape
    no, ni = _ceil_div(co, pe), _ceil_div(ci, simd)
    pad = np.zeros((no * pe, ni * simd, k), dtype=np.int64)
    pad[:co, :ci] = w
    # (no, pe, ni, simd, k) -> (no, k, ni, pe, simd)
    arr = pad.reshape(no, pe, ni, simd, k).transpose(0, 4, 2, 1, 3)
    return arr.reshape(no * k * ni, pe * simd)


def channel_param_words(bias: np.ndarray, mult: np.ndarray, shift: np.ndarray, pe: int,
                        bias_w: int, m_w: int, s_w: int) -> list[int]:
    """Per-output-channel parameter ROM contents for the MAC templates.

    Word ``o`` holds, for lane ``j`` (channel o*PE + j), the field ``{s, m, bias}`` of
    ``bias_w + m_w + s_w`` bits at lane offset ``j*(bias_w + m_w + s_w)``: bias (signed) in the low
    bits, then m (unsigned), then s (unsigned). Channels past the end are 0.
    """
    b, m, s = (np.asarray(a, dtype=np.int64).ravel() for a in (bias, mult, shift))
    if not (len(b) == len(m) == len(s)):
        raise PleiadesError(f"bias/mult/shift lengths differ: {len(b)}, {len(m)}, {len(s)}")
    no = _ceil_div(len(b), pe)
    fw = bias_w + m_w + s_w
    words = []
    for o in range(no):
        word = 0
        for j in range(pe):
            c = o * pe + j
            if c >= len(b):
                continue
            field = pack_lanes([[int(b[c])]], bias_w, signed=True)[0]
            field |= pack_lanes([[int(m[c])]], m_w, signed=False)[0] << bias_w
            field |= pack_lanes([[int(s[c])]], s_w, signed=False)[0] << (bias_w + m_w)
            word |= field << (j * fw)
        words.append(word)
    return words




@dataclass(frozen=True)
class WrapperExtra:
    """What a layer wrapper adds to :func:`layer_with_roms`: ports, body lines, template connections."""

    ports: tuple[Port, ...] = ()
    body: tuple[str, ...] = ()
    connections: tuple[tuple[str, str], ...] | dict[str, str] = ()
    parameters: tuple[tuple[str, str], ...] = ()     # of the wrapper module (name, default)
    comment: str = ""                                # appended to the wrapper's comment


def layer_with_roms(name: str, template: str, params: dict[str, object], din: int, dout: int,
                    roms: list[tuple[str, list[int], int, bool, int]], *, extra: WrapperExtra | None = None
                    ) -> list[tuple[str, str]]:
    """Generated files (module name, text) of a layer wrapper ``name``: ``template`` with ``params`` and its
    constant ROMs (port prefix, words, width, whether the template drives a read enable ``<prefix>_en``, read
    stages as the template expects them: :func:`rom_verilog`).

    The wrapper has the ports of every layer module (:func:`verilog.layer_ports`); the template's ROM read
    ports ``<prefix>_addr``/``<prefix>_data`` (and ``<prefix>_en``) are wired to ROM ``<name>_<prefix>``.
    ``extra``: more wrapper ports, body lines (before the template) and template connections.
    """
    body: list[str] = list(extra.body) if extra else []
    conns = {"clk": "clk", "rst": "rst", **stream_connections("s_axis", "s_axis"), **stream_connections("m_axis", "m_axis")}
    conns.update(dict(extra.connections) if extra else {})
    files = []
    for prefix, words, width, has_en, stages in roms:
        body += [wire(f"{prefix}_addr", addr_width(len(words))), wire(f"{prefix}_data", width)]
        if has_en:
            body.append(wire(f"{prefix}_en"))
            conns[f"{prefix}_en"] = f"{prefix}_en"
        conns.update({f"{prefix}_addr": f"{prefix}_addr", f"{prefix}_data": f"{prefix}_data"})
        files.append((f"{name}_{prefix}", rom_verilog(f"{name}_{prefix}", words, width, read_stages=stages)))
    for prefix, _, _, has_en, _ in roms:
        body.append(instance(f"{name}_{prefix}", f"u_{prefix}", {"clk": "clk", "en": f"{prefix}_en" if has_en else "1'b1",
                                                                 "addr": f"{prefix}_addr", "data": f"{prefix}_data"}))
    body.append(instance(template, "u_layer", conns, {k: int(v) if isinstance(v, (int, np.integer)) else v
                                                      for k, v in params.items()}))
    ports = layer_ports(din, dout) + (list(extra.ports) if extra else [])
    comment = f"{name}: {template} with its constant ROMs (generated)."
    comment += f"\n{extra.comment}" if extra and extra.comment else ""
    text = module(name, ports, body, comment=comment, parameters=dict(extra.parameters) if extra else None)
    return files + [(name, text)]


def mac_layer_files(name: str, template: str, params: dict[str, int], weights: np.ndarray, bias: np.ndarray,
                    mult: np.ndarray, shift: np.ndarray) -> list[tuple[str, str]]:
    """Layer wrapper ``name`` of a MAC engine (``temporal_conv_buffer``, ``pointwise_mvu``, ``conv3x3_stream``)
    with its weight and parameter ROMs: what the generator ships, and what the template tests simulate.

    ``weights``: (C_OUT, C_IN / groups, taps) integers (taps: K frames, oldest first; 9 = ky*3 + kx for
    conv3x3; 1 for pointwise), ``bias``/``mult``/``shift`` per output channel; ``params`` are the template
    parameters (vocabulary: docs/ARCHITECTURE.md), which give the folding and the ROM lane widths.
    """
    dw = bool(params.get("DEPTHWISE", 0))
    w = np.asarray(weights, dtype=np.int64)
    if w.ndim != 3:
        raise PleiadesError(f"{name}: weights must have shape (C_OUT, C_IN/groups, taps), got {w.shape}")
    pe, w_w, fw = int(params["PE"]), int(params["W_W"]), int(params["BIAS_W"]) + int(params["M_W"]) + int(params["S_W"])
    lanes = mac_weight_words(w[:, 0, :] if dw else w, pe, 1 if dw else int(params["SIMD"]), depthwise=dw)
    pwords = channel_param_words(bias, mult, shift, pe, int(params["BIAS_W"]), int(params["M_W"]), int(params["S_W"]))
    enable = template != "conv3x3_stream"   # conv3x3_stream reads its ROMs every cycle
    # the weight ROM is wide (every multiplier's weight) and often a row of block RAMs: a 2-cycle read (the templates
    # give its address a stage early), so its output ends in a register before it crosses to the lanes
    return layer_with_roms(name, template, params, int(params["C_IN"]) * int(params["IN_W"]),
                           int(params["C_OUT"]) * int(params["OUT_W"]),
                           [("wrom", pack_lanes(lanes, w_w, signed=True), lanes.shape[1] * w_w, enable, 2),
                            ("prom", pwords, pe * fw, enable, 1)])


def avgpool_param_words(mult: Sequence[int], shift: Sequence[int], pe: int, m_w: int, s_w: int) -> list[int]:
    """Parameter ROM of avgpool_stream: word g, lane j (channel g*PE + j) = {s, m} (m in the low bits)."""
    groups = _ceil_div(len(mult), pe)
    return pack_lanes([[(int(shift[g * pe + j]) << m_w) | int(mult[g * pe + j]) if g * pe + j < len(mult) else 0
                        for j in range(pe)] for g in range(groups)], m_w + s_w, signed=False)


def avgpool_layer_files(name: str, params: dict[str, int], mult: Sequence[int],
                        shift: Sequence[int]) -> list[tuple[str, str]]:
    """Layer wrapper ``name``: avgpool_stream with its {s, m} parameter ROM (as :func:`mac_layer_files`)."""
    pe, m_w, s_w = int(params["PE"]), int(params["M_W"]), int(params["S_W"])
    for c, (m, s) in enumerate(zip(mult, shift)):
        if not (0 <= int(m) < (1 << m_w) and 0 <= int(s) < (1 << s_w)):
            raise PleiadesError(f"{name}: channel {c}: M={m} or S={s} does not fit M_W={m_w}, S_W={s_w}")
    words = avgpool_param_words(mult, shift, pe, m_w, s_w)
    c = int(params["C"])
    return layer_with_roms(name, "avgpool_stream", params, c * int(params["IN_W"]), c * int(params["OUT_W"]),
                           [("prom", words, pe * (m_w + s_w), False, 1)])


def groupnorm_layer_files(name: str, params: dict[str, int], mult: Sequence[int], shift: Sequence[int],
                          bias: Sequence[int], extra: WrapperExtra | None = None) -> list[tuple[str, str]]:
    """Layer wrapper ``name``: groupnorm_stream with its parameter ROM (as :func:`mac_layer_files`): word f, lane j
    (channel f*PE + j) = {S, M, B} with M signed (its two's complement bits in the m field of
    :func:`channel_param_words`)."""
    pe, m_w, s_w, b_w = int(params["PE"]), int(params["M_W"]), int(params["S_W"]), int(params["B_W"])
    m_lo, m_hi = int_range(m_w, True)
    for c, m in enumerate(mult):
        if not m_lo <= int(m) <= m_hi:
            raise PleiadesError(f"{name}: channel {c}: M={m} does not fit M_W={m_w} signed bits ({m_lo}..{m_hi})")
    words = channel_param_words(bias, [int(m) & ((1 << m_w) - 1) for m in mult], shift, pe, b_w, m_w, s_w)
    c = int(params["C"])
    return layer_with_roms(name, "groupnorm_stream", params, c * int(params["IN_W"]), c * int(params["OUT_W"]),
                           [("prom", words, pe * (b_w + m_w + s_w), True, 1)], extra=extra)


def files_text(files: list[tuple[str, str]]) -> str:
    """All generated files of a layer as one Verilog source text."""
    return "\n".join(text for _, text in files)


__all__ = [
    "addr_width", "avgpool_layer_files", "avgpool_param_words", "bits_needed", "channel_param_words", "files_text",
    "groupnorm_layer_files", "WrapperExtra",
    "int_range", "layer_with_roms", "mac_layer_files", "mac_weight_words", "pack_lanes", "rom_verilog", "unpack_lanes",
]
