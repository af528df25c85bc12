"""External stream FIFOs: ``templates/axi_stream_fifo.v`` (a delay line whose body is a ring of bursts in
external memory behind an AXI4 master) for the buffers that hold whole frames: a GroupNorm frame buffer and a
fork's skip FIFO (docs/EXTERNAL_MEMORY.md). :class:`FifoLayout` is its parameters and address map (the same AXI
width interface as ``HistoryLayout``), :func:`fifo_layout` the checked choice, :func:`fifo_module` a wrapper
module with the layer ports (``s_axis``/``m_axis``), ``m_axi_*`` and ``axi_error``.
"""
from __future__ import annotations

from dataclasses import dataclass

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.rtl.kinds.temporal_conv_external import (AxiBurstLayout, axi_connections, axi_ports,
                                                               beats_per_word, burst_words, prefetch_depth)
from pleiades_fpga.hw.rtl.verilog import Port, instance, layer_ports, module, stream_connections

TEMPLATE = "axi_stream_fifo"
#: logic of one axi_stream_fifo beyond its two FIFO memories (manifest memories): Yosys synth_ecp5 of 96-bit words
#: on a 16-bit port, 2,048-burst ring: 233 LUT4 + 89 CCU2C (2 LUTs each), 326 FF (an estimate for other sizes)
FIFO_LUT, FIFO_FF = 233 + 2 * 89, 326


@dataclass(frozen=True)
class FifoLayout(AxiBurstLayout):
    """One axi_stream_fifo instance: its parameters and the address map of its ring in external memory."""

    word_w: int          # stream word (pixel) width (bits)
    frame_pix: int       # words per frame
    data_w: int          # AXI data width (bits)
    bpp: int             # AXI beats per word
    burst_pix: int       # words per burst
    fifo_depth: int      # write and prefetch FIFO depth (words)
    ring_bursts: int     # burst slots of the ring
    base_addr: int = 0
    addr_w: int = 32
    id_w: int = 1

    @property
    def n_bursts(self) -> int:
        """Bursts per frame (the last one possibly partial)."""
        return -(-self.frame_pix // self.burst_pix)

    @property
    def region_bytes(self) -> int:
        return self.ring_bursts * self.burst_bytes

    @property
    def frame_bytes(self) -> int:
        """Bytes on the bus per frame and direction (words padded to whole beats)."""
        return self.frame_pix * self.pix_bytes

    @property
    def capacity_words(self) -> int:
        """Words the FIFO holds at least: the ring's whole frames (a frame's last burst may be partial) + the two
        on-chip FIFOs."""
        return self.ring_bursts // self.n_bursts * self.frame_pix + 2 * self.fifo_depth

    def params(self) -> dict[str, object]:
        """Verilog parameters of axi_stream_fifo."""
        return {"PIX_W": self.word_w, "FRAME_PIX": self.frame_pix, "DATA_W": self.data_w, "BPP": self.bpp,
                "BURST_PIX": self.burst_pix, "FIFO_DEPTH": self.fifo_depth, "RING_BURSTS": self.ring_bursts,
                "ADDR_W": self.addr_w, "ID_W": self.id_w, "BASE_ADDR": f"64'h{self.base_addr:x}"}


def fifo_layout(*, word_w: int, frame_pix: int, capacity: int, data_w: int, burst_pix: int | None = None,
                fifo_depth: int | None = None, ring_bursts: int | None = None, base_addr: int = 0, addr_w: int = 32,
                latency: int = 64, cycles_per_word: int = 1, name: str = "fifo") -> FifoLayout:
    """The checked layout of an external FIFO that must hold ``capacity`` words without stalling its producer.
    ``ring_bursts`` defaults to the bursts of ceil(capacity / frame_pix) + 1 whole frames (each frame starts a
    new burst slot); ``fifo_depth`` to the prefetch depth hiding ``latency`` cycles when a word is consumed every
    ``cycles_per_word`` cycles (``prefetch_depth`` with one stream); ``burst_pix`` as for the histories."""
    if word_w < 1 or frame_pix < 1 or capacity < 1:
        raise PleiadesError(f"{name}: an external FIFO needs a word width, frame length and capacity >= 1, got "
                            f"{word_w} bits, {frame_pix} words per frame, capacity {capacity}")
    if data_w < 8 or data_w > 1024 or data_w & (data_w - 1):
        raise PleiadesError(f"{name}: the AXI data width must be a power of two from 8 to 1024 bits, got {data_w}")
    bpp = beats_per_word(word_w, data_w)
    burst_pix = burst_words(frame_pix, bpp, data_w, burst_pix, name)
    if fifo_depth is None:
        fifo_depth = prefetch_depth(2, bpp, burst_pix, latency, cycles_per_word)
    if fifo_depth < 2 * burst_pix or fifo_depth & (fifo_depth - 1):
        raise PleiadesError(f"{name}: the FIFO depth must be a power of two of at least two bursts "
                            f"({2 * burst_pix} words), got {fifo_depth}")
    nb = -(-frame_pix // burst_pix)
    if ring_bursts is None:
        ring_bursts = (-(-capacity // frame_pix) + 1) * nb
    if ring_bursts < 1:
        raise PleiadesError(f"{name}: the ring needs at least one burst slot, got {ring_bursts}")
    lay = FifoLayout(word_w, frame_pix, data_w, bpp, burst_pix, fifo_depth, ring_bursts, base_addr, addr_w)
    lay.check_region(name, "the FIFO ring")
    return lay


def fifo_module(name: str, lay: FifoLayout) -> str:
    """Verilog of module ``name``: axi_stream_fifo on ``lay`` with the layer ports, ``m_axi_*`` and ``axi_error``."""
    ports = layer_ports(lay.word_w, lay.word_w) + axi_ports(lay) + [Port("axi_error", "output")]
    conns = {"clk": "clk", "rst": "rst", **stream_connections("s_axis", "s_axis"),
             **stream_connections("m_axis", "m_axis"), **axi_connections("m_axi", "m_axi"), "axi_error": "axi_error"}
    body = [instance(TEMPLATE, "u_fifo", conns, lay.params())]
    return module(name, ports, body, comment=(f"{name}: a stream FIFO of {lay.word_w}-bit words in external memory "
                                              f"(axi_stream_fifo, ring of {lay.region_bytes} bytes; generated)."))


__all__ = ["FIFO_FF", "FIFO_LUT", "FifoLayout", "TEMPLATE", "fifo_layout", "fifo_module"]
