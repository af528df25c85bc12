"""Lowering of a temporal conv whose history is in external memory: ``temporal_history_axi`` (the window
provider, an AXI4 master per layer) followed by ``pointwise_mvu`` (dense: C_IN*K inputs, weight [o][c*K + k] =
w[o, c, k]; depthwise: GROUP_IN = K). No MAC code of its own. Address map and prefetch depth:
docs/EXTERNAL_MEMORY.md.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.rtl import cycles
from pleiades_fpga.hw.rtl.kinds.registry import EstimateInput, Fold, HwKind, Lowered, register
from pleiades_fpga.hw.rtl.lowering import (is_depthwise, lower_mac, mac_folds, mac_multipliers, pow2_at_least,
                                          requant_fields)
from pleiades_fpga.hw.rtl.rom import mac_layer_files
from pleiades_fpga.hw.rtl.verilog import Port, instance, layer_ports, module, stream_connections, wire
from pleiades_fpga.ir.graph import IRGraph, Layer

#: AXI4 signals of the master port: (channel signal, width key, driven by the master). Width keys: "id", "addr",
#: "data", "strb" or a number of bits.
AXI_SIGNALS: tuple[tuple[str, str | int, bool], ...] = (
    ("awid", "id", True), ("awaddr", "addr", True), ("awlen", 8, True), ("awsize", 3, True), ("awburst", 2, True),
    ("awvalid", 1, True), ("awready", 1, False),
    ("wdata", "data", True), ("wstrb", "strb", True), ("wlast", 1, True), ("wvalid", 1, True), ("wready", 1, False),
    ("bid", "id", False), ("bresp", 2, False), ("bvalid", 1, False), ("bready", 1, True),
    ("arid", "id", True), ("araddr", "addr", True), ("arlen", 8, True), ("arsize", 3, True), ("arburst", 2, True),
    ("arvalid", 1, True), ("arready", 1, False),
    ("rid", "id", False), ("rdata", "data", False), ("rresp", 2, False), ("rlast", 1, False), ("rvalid", 1, False),
    ("rready", 1, True),
)

#: cycles of slack in the prefetch depth on top of the latency and one group's transfer
PREFETCH_SLACK_CYCLES = 8
#: default burst size: long enough for DRAM efficiency, short enough that the prefetch FIFOs (which must cover
#: one group of K-1 bursts on top of the latency) stay small
BURST_TARGET_BYTES = 256


class AxiBurstLayout:
    """What every external-memory layout shares (fields ``data_w``, ``bpp``, ``burst_pix``, ``addr_w``, ``id_w``,
    ``base_addr`` and the property ``region_bytes`` of the dataclass that uses it): word and burst sizes, the
    region's end and its checks, AXI signal widths."""

    data_w: int
    bpp: int
    burst_pix: int
    addr_w: int
    id_w: int
    base_addr: int

    @property
    def pix_bytes(self) -> int:
        return self.bpp * self.data_w // 8

    @property
    def burst_bytes(self) -> int:
        return self.burst_pix * self.pix_bytes

    @property
    def region_end(self) -> int:
        """First byte past the region."""
        return self.base_addr + self.region_bytes

    def check_region(self, name: str, what: str) -> None:
        """PleiadesError unless the region (``what``, e.g. "the history region") starts on a burst boundary and
        ends within the ``addr_w``-bit address space."""
        if self.base_addr % self.burst_bytes:
            raise PleiadesError(f"{name}: base address 0x{self.base_addr:x} is not a multiple of the burst size "
                                f"({self.burst_bytes} bytes); align it")
        if self.region_end > 1 << self.addr_w:
            raise PleiadesError(f"{name}: {what} 0x{self.base_addr:x} + {self.region_bytes} bytes does not fit "
                                f"a {self.addr_w}-bit address space")

    def width(self, key: str | int) -> int:
        """Width of an AXI signal by its key in :data:`AXI_SIGNALS`."""
        return {"id": self.id_w, "addr": self.addr_w, "data": self.data_w, "strb": self.data_w // 8}.get(key, key)  # type: ignore[arg-type,return-value]


@dataclass(frozen=True)
class HistoryLayout(AxiBurstLayout):
    """One temporal_history_axi instance: its parameters and the address map of its region in external memory."""

    c_in: int
    in_w: int
    k: int
    pixels: int
    data_w: int          # AXI data width (bits)
    bpp: int             # AXI beats per pixel
    burst_pix: int       # pixels per burst
    fifo_depth: int      # prefetch FIFO depth per history frame (pixels)
    base_addr: int = 0
    addr_w: int = 32
    id_w: int = 1

    @property
    def n_bursts(self) -> int:
        return -(-self.pixels // self.burst_pix)

    @property
    def slot_bytes(self) -> int:
        return self.n_bursts * self.burst_bytes

    @property
    def region_bytes(self) -> int:
        """Bytes of the K-1 frame slots."""
        return (self.k - 1) * self.slot_bytes

    def params(self) -> dict[str, object]:
        """Verilog parameters of temporal_history_axi."""
        return {"C_IN": self.c_in, "IN_W": self.in_w, "K": self.k, "PIXELS": self.pixels, "DATA_W": self.data_w,
                "BPP": self.bpp, "BURST_PIX": self.burst_pix, "FIFO_DEPTH": self.fifo_depth, "ADDR_W": self.addr_w,
                "ID_W": self.id_w, "BASE_ADDR": f"64'h{self.base_addr:x}"}


def axi_data_width(pixel_bits: int, port_bits: int) -> int:
    """AXI data width of a layer's master: its pixel width rounded up to a power of two (>= 8 bits), at most the
    memory port's width (a narrower master is upsized to the port by the interconnect)."""
    return min(port_bits, max(8, pow2_at_least(pixel_bits)))


def prefetch_depth(k: int, bpp: int, burst_pix: int, latency: int, cycles_per_pixel: int) -> int:
    """Prefetch FIFO depth (pixels, a power of two) that hides ``latency`` cycles (address handshake -> first
    data beat) when pixels are consumed every max(``cycles_per_pixel`` of the MAC engine, (K-1)*bpp beats of the
    read channel) cycles: a group of K-1 bursts requested when one burst of room frees must arrive (latency +
    its (K-1)*burst_pix*bpp beats + slack) before the FIFO runs dry."""
    lead = latency + (k - 1) * burst_pix * bpp + PREFETCH_SLACK_CYCLES
    pace = max(1, cycles_per_pixel, (k - 1) * bpp)
    return pow2_at_least(max(2 * burst_pix, burst_pix + -(-lead // pace)))


def beats_per_word(word_bits: int, data_w: int) -> int:
    """AXI beats per stream word (pixel): a power of two with beats * ``data_w`` >= ``word_bits``."""
    return pow2_at_least(-(-word_bits // data_w))


def burst_words(words_per_frame: int, bpp: int, data_w: int, burst: int | None, name: str) -> int:
    """Words (pixels) per AXI burst, checked: ``burst``, or by default the largest power of two of at most 256 beats
    and BURST_TARGET_BYTES that leaves at least 4 bursts per frame (short frames need several bursts)."""
    word_bytes = bpp * data_w // 8
    if burst is None:
        burst = 1
        while (burst * 2 * bpp <= 256 and burst * 2 * word_bytes <= BURST_TARGET_BYTES
               and -(-words_per_frame // (burst * 2)) >= 4):
            burst *= 2
    if burst < 1 or burst & (burst - 1) or burst * bpp > 256 or burst * word_bytes > 4096:
        raise PleiadesError(f"{name}: burst of {burst} words x {bpp} beats of {data_w} bits: a burst must be a "
                            "power of two words of at most 256 beats and 4096 bytes; choose a smaller burst")
    return burst


def history_layout(*, c_in: int, in_w: int, k: int, pixels: int, data_w: int, burst_pix: int | None = None,
                   fifo_depth: int | None = None, base_addr: int = 0, addr_w: int = 32, latency: int = 64,
                   cycles_per_pixel: int = 1, name: str = "layer") -> HistoryLayout:
    """The layout of one layer's history (checked; what the template would reject at elaboration is a
    PleiadesError here). ``burst_pix`` defaults to the largest power of two of at most 256 beats and
    BURST_TARGET_BYTES that leaves at least 4 bursts per frame; ``fifo_depth`` to :func:`prefetch_depth` at ``latency``."""
    if k < 2:
        raise PleiadesError(f"{name}: an external history needs K >= 2 temporal taps, got K = {k}")
    if data_w < 8 or data_w > 1024 or data_w & (data_w - 1):
        raise PleiadesError(f"{name}: the AXI data width must be a power of two from 8 to 1024 bits, got {data_w}")
    bpp = beats_per_word(c_in * in_w, data_w)
    burst_pix = burst_words(pixels, bpp, data_w, burst_pix, name)
    if fifo_depth is None:
        fifo_depth = prefetch_depth(k, bpp, burst_pix, latency, cycles_per_pixel)
    if fifo_depth < 2 * burst_pix or fifo_depth & (fifo_depth - 1):
        raise PleiadesError(f"{name}: the prefetch depth must be a power of two of at least two bursts "
                            f"({2 * burst_pix} pixels), got {fifo_depth}")
    lay = HistoryLayout(c_in, in_w, k, pixels, data_w, bpp, burst_pix, fifo_depth, base_addr, addr_w)
    lay.check_region(name, "the history region")
    return lay


def axi_ports(lay: HistoryLayout, prefix: str = "m_axi", *, master: bool = True) -> list[Port]:
    """The AXI4 port bundle ``<prefix>_<signal>`` of a master (or of a slave: directions swapped)."""
    return [Port(f"{prefix}_{sig}", "output" if out == master else "input", lay.width(key))
            for sig, key, out in AXI_SIGNALS]


def axi_connections(port_prefix: str, signal_prefix: str) -> dict[str, str]:
    return {f"{port_prefix}_{sig}": f"{signal_prefix}_{sig}" for sig, _, _ in AXI_SIGNALS}


def mvu_weights(weights: np.ndarray, depthwise: bool) -> np.ndarray:
    """pointwise_mvu weights (C_OUT, inputs, 1) of a temporal conv's (C_OUT, C_IN or 1, K) weights in the window
    layout: dense input c*K + k = w[o, c, k]; depthwise (GROUP_IN = K) input k of group o = w[o, 0, k]."""
    w = np.asarray(weights, dtype=np.int64)
    c_out, c_in, k = w.shape
    return (w[:, 0, :] if depthwise else w.reshape(c_out, c_in * k))[:, :, None]


def mvu_params(lay: HistoryLayout, c_out: int, mac: dict[str, int], depthwise: bool) -> dict[str, int]:
    """pointwise_mvu parameters behind the window provider (``mac``: PE, SIMD, the widths and optionally MAC_MODE,
    default 0: one product per multiplier, and MUL_CELL, default 0: inferred multipliers)."""
    return {"C_IN": lay.c_in * lay.k, "C_OUT": c_out, "PE": mac["PE"], "SIMD": mac["SIMD"],
            "GROUP_IN": lay.k if depthwise else 0,
            **{key: mac[key] for key in ("IN_W", "IN_SIGNED", "W_W", "ACC_W", "BIAS_W", "M_W", "S_W", "OUT_W",
                                         "OUT_SIGNED")}, "MAC_MODE": mac.get("MAC_MODE", 0),
            "MUL_CELL": mac.get("MUL_CELL", 0)}


def external_layer_files(name: str, lay: HistoryLayout, mac: dict[str, int], c_out: int, weights: np.ndarray,
                         bias: np.ndarray, mult: np.ndarray, shift: np.ndarray, *,
                         depthwise: bool) -> list[tuple[str, str]]:
    """Files of layer ``name``: its MAC wrapper ``<name>_mac`` (pointwise_mvu with its ROMs) and the layer module
    (ports of every layer, plus the AXI4 master ``m_axi_*`` and ``axi_error``)."""
    if mac["IN_W"] != lay.in_w:
        raise PleiadesError(f"{name}: MAC input width {mac['IN_W']} differs from the history width {lay.in_w}")
    mp = mvu_params(lay, c_out, mac, depthwise)
    files = mac_layer_files(f"{name}_mac", "pointwise_mvu", mp, mvu_weights(weights, depthwise), bias, mult, shift)
    win_w = lay.k * lay.c_in * lay.in_w
    body = [wire("win_tdata", win_w), wire("win_tvalid"), wire("win_tready"), wire("win_tlast"),
            instance("temporal_history_axi", "u_hist",
                     {"clk": "clk", "rst": "rst", **stream_connections("s_axis", "s_axis"),
                      **stream_connections("m_axis", "win"), **axi_connections("m_axi", "m_axi"),
                      "axi_error": "axi_error"}, {**lay.params(), "BASE_ADDR": "BASE_ADDR"}),
            instance(f"{name}_mac", "u_mac", {"clk": "clk", "rst": "rst", **stream_connections("s_axis", "win"),
                                              **stream_connections("m_axis", "m_axis")})]
    ports = layer_ports(lay.c_in * lay.in_w, c_out * mac["OUT_W"]) + axi_ports(lay) + [Port("axi_error", "output")]
    text = module(name, ports, body, comment=f"{name}: temporal conv, history in external memory "
                  f"(temporal_history_axi + pointwise_mvu, generated).\nParameter BASE_ADDR: byte address of its region "
                  f"of {lay.region_bytes} bytes (default 0x{lay.base_addr:x}; a multiple of {lay.burst_bytes}).",
                  parameters={"BASE_ADDR": f"64'h{lay.base_addr:x}"})
    return files + [(name, text)]


def lower_from_onchip(name: str, params: dict[str, int], weights: np.ndarray, bias: np.ndarray, mult: np.ndarray,
                      shift: np.ndarray, lay: HistoryLayout) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """The external variant of an on-chip temporal layer: ``params`` are its temporal_conv_buffer parameters
    (C_IN, C_OUT, K, PIXELS, DEPTHWISE, PE, SIMD and the widths), ``weights`` (C_OUT, C_IN or 1, K). Returns the
    files and the manifest fragment: module, the on-chip memories (K FIFOs of FIFO_DEPTH pixels, the MVU's ROMs)
    and ``external`` (the region and the history parameters)."""
    if (params["C_IN"], params["K"], params["PIXELS"], params["IN_W"]) != (lay.c_in, lay.k, lay.pixels, lay.in_w):
        raise PleiadesError(f"{name}: the history layout ({lay.c_in} channels, K={lay.k}, {lay.pixels} pixels, "
                            f"{lay.in_w} bits) does not match the layer's parameters")
    dw = bool(params.get("DEPTHWISE", 0))
    mac = {key: int(params[key]) for key in ("PE", "IN_W", "IN_SIGNED", "W_W", "ACC_W", "BIAS_W", "M_W", "S_W",
                                             "OUT_W", "OUT_SIGNED")}
    mac["SIMD"], mac["MAC_MODE"] = int(params["SIMD"]), int(params.get("MAC_MODE", 0))
    mac["MUL_CELL"] = int(params.get("MUL_CELL", 0))
    files = external_layer_files(name, lay, mac, int(params["C_OUT"]), weights, bias, mult, shift, depthwise=dw)
    mp = mvu_params(lay, int(params["C_OUT"]), mac, dw)
    no, g = -(-mp["C_OUT"] // mp["PE"]), (mp["GROUP_IN"] or mp["C_IN"])
    fw = mp["BIAS_W"] + mp["M_W"] + mp["S_W"]
    pix_w = lay.c_in * lay.in_w
    mems = [*({"name": f"{name}_history_fifo{a}", "kind": "fifo", "depth": lay.fifo_depth, "width": pix_w}
              for a in range(1, lay.k)),
            {"name": f"{name}_write_fifo", "kind": "fifo", "depth": lay.fifo_depth, "width": pix_w},
            {"name": f"{name}_mac_weights", "kind": "weights", "depth": no * -(-g // mp["SIMD"]),
             "width": mp["PE"] * mp["SIMD"] * mp["W_W"]},
            {"name": f"{name}_mac_params", "kind": "weights", "depth": no, "width": mp["PE"] * fw}]
    return files, {"module": "temporal_history_axi+pointwise_mvu", "memories": mems, "params": mp,
                   "external": {"base_addr": lay.base_addr, "region_bytes": lay.region_bytes,
                                "params": lay.params(), "axi_port": "m_axi"}}


def memory_model_top(top: str, layer: str, lay: HistoryLayout, in_width: int, out_width: int) -> str:
    """A simulation top: layer ``layer`` on the HDL memory model ``axi_ram_model`` (sim/hdl), with the model's
    settings (seed, lat_min, lat_max, stall) as inputs and its counters as outputs."""
    words = -(-lay.region_end // (lay.data_w // 8))
    ports = layer_ports(in_width, out_width) + [
        Port("seed", "input", 32), Port("lat_min", "input", 16), Port("lat_max", "input", 16),
        Port("stall", "input", 16), Port("read_beats", "output", 32), Port("write_beats", "output", 32),
        Port("errors", "output", 32), Port("unwritten_reads", "output", 32), Port("axi_error", "output")]
    body = [wire(f"axi_{sig}", lay.width(key)) for sig, key, _ in AXI_SIGNALS]
    body.append(instance(layer, "u_layer", {"clk": "clk", "rst": "rst", **stream_connections("s_axis", "s_axis"),
                                            **stream_connections("m_axis", "m_axis"),
                                            **axi_connections("m_axi", "axi"), "axi_error": "axi_error"}))
    body.append(instance("axi_ram_model", "u_mem",
                         {"clk": "clk", "rst": "rst", "seed": "seed", "lat_min": "lat_min", "lat_max": "lat_max",
                          "stall": "stall", **axi_connections("s_axi", "axi"), "read_beats": "read_beats",
                          "write_beats": "write_beats", "errors": "errors", "unwritten_reads": "unwritten_reads"},
                         {"DATA_W": lay.data_w, "ADDR_W": lay.addr_w, "ID_W": lay.id_w, "DEPTH": words}))
    return module(top, ports, body, comment=f"{top}: {layer} on the AXI memory model (simulation only, generated).")


# ---------------------------------------------------------------- hardware kind (registry)
#: LUTs and flip-flops of the history engine beyond its FIFOs (AXI address/length registers, counters, credits);
#: estimated from the template's registers (3 ADDR_W-bit address registers, 8-bit lengths, counters)
HISTORY_FF_PER_ADDR_BIT = 3
HISTORY_CONTROL = 120


@register
class TemporalConvExternal(HwKind):
    """A temporal conv planned external (``hw.rtl.memory_plan``): temporal_history_axi + pointwise_mvu. Not mapped
    from the IR directly (``ir_kind`` None): the generator picks it for the layers its memory plan puts external."""

    name = "temporal_conv_external"
    requant_lanes, output_queue, control_share = True, True, 1.0

    def candidate_folds(self, layer: Layer) -> list[Fold]:
        return mac_folds(layer, layer.in_channels)

    def cost(self, graph: IRGraph, layer: Layer, fold: Fold) -> dict[str, int]:
        x, y = graph.tensors[layer.inputs[0]], graph.tensors[layer.output]
        k, dw, pixels = layer.params.kernel[0], is_depthwise(layer), x.height * x.width
        g = k if dw else layer.in_channels * k
        mac = cycles.mvu_cycles_per_frame(g, layer.out_channels, pixels, fold.pe, fold.simd)
        lay = default_layout(graph, layer, fold)
        return {"cycles_per_frame": max(mac, pixels * (k - 1) * lay.bpp),   # the read channel: 1 beat per cycle
                "multipliers": mac_multipliers(fold),
                "macs_per_frame": y.height * y.width * layer.out_channels * (1 if dw else layer.in_channels) * k}

    def lower(self, graph: IRGraph, layer: Layer, name: str, fold: Fold) -> Lowered:
        return self.lower_with(graph, layer, name, fold, default_layout(graph, layer, fold))

    def lower_with(self, graph: IRGraph, layer: Layer, name: str, fold: Fold, lay: HistoryLayout) -> Lowered:
        """The lowering with a planned layout (base address, AXI width, prefetch depth)."""
        x = graph.tensors[layer.inputs[0]]
        w = np.asarray(layer.params.weight, dtype=np.int64)[:, :, :, 0, 0]
        k = w.shape[2]
        onchip = lower_mac(graph, layer, f"{name}_onchip", "temporal_conv_buffer", w, k,
                           {"C_IN": layer.in_channels, "C_OUT": layer.out_channels, "PE": fold.pe, "SIMD": fold.simd},
                           {"K": k, "PIXELS": x.height * x.width, "DEPTHWISE": int(is_depthwise(layer))}, fold)
        m, s, _, _ = requant_fields(layer)
        files, entry = lower_from_onchip(name, onchip.params, w, np.asarray(layer.params.bias, dtype=np.int64), m, s,
                                         lay)
        return Lowered(files, entry["module"], entry["params"], entry["memories"],
                       {**onchip.fields, "in_signed": bool(x.signed), "external": entry["external"]})

    def estimate_terms(self, est: EstimateInput) -> tuple[float, float, float]:
        addr_w = int(est.entry.get("external", {}).get("params", {}).get("ADDR_W", 32))
        ff = HISTORY_FF_PER_ADDR_BIT * addr_w + HISTORY_CONTROL
        return float(ff), float(ff), 0.0


def external_cycles_per_pixel(layer: Layer, fold: Fold) -> int:
    """MAC cycles per pixel of a temporal layer's external engine (pointwise_mvu over its window)."""
    k, dw = layer.params.kernel[0], is_depthwise(layer)
    return cycles.mac_cycles_per_pixel(k if dw else layer.in_channels * k, layer.out_channels, 1, fold.pe, fold.simd)


def default_layout(graph: IRGraph, layer: Layer, fold: Fold, *, port_bits: int = 64, base_addr: int = 0,
                   latency: int = 64) -> HistoryLayout:
    """The layout of a layer's history without a plan: AXI width = the pixel width rounded up to a power of two
    (>= 8), at most ``port_bits``; prefetch depth for ``latency`` at the MAC engine's pace."""
    x = graph.tensors[layer.inputs[0]]
    data_w = axi_data_width(layer.in_channels * x.bits, port_bits)
    return history_layout(c_in=layer.in_channels, in_w=x.bits, k=layer.params.kernel[0], pixels=x.height * x.width,
                          data_w=data_w, base_addr=base_addr, latency=latency,
                          cycles_per_pixel=external_cycles_per_pixel(layer, fold), name=layer.name)


__all__ = ["AXI_SIGNALS", "AxiBurstLayout", "HistoryLayout", "TemporalConvExternal", "axi_connections",
           "axi_data_width", "axi_ports", "beats_per_word", "burst_words", "default_layout", "external_cycles_per_pixel", "external_layer_files",
           "history_layout", "lower_from_onchip", "memory_model_top", "mvu_params", "mvu_weights", "prefetch_depth"]
