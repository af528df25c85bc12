"""Instances of ``templates/axi_arbiter.v``: N AXI4 masters (the external temporal layers' histories) onto one
AXI4 port. Master i's signals go to bits [i*W +: W] of the arbiter's flattened ``s_axi_<sig>`` ports; the port's
IDs carry the master index above the masters' own ID bits (:func:`master_id_width`)."""
from __future__ import annotations

from collections.abc import Sequence

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.rtl.kinds.temporal_conv_external import AXI_SIGNALS
from pleiades_fpga.hw.rtl.verilog import check_ident, instance

#: write bursts granted ahead of their data (the arbiter's W route FIFO)
W_PENDING = 4


def master_id_width(m_count: int, s_id_w: int) -> int:
    """ID width of the arbiter's port: the masters' ``s_id_w`` plus ceil(log2(m_count)) index bits (none for one
    master, which passes through)."""
    if m_count < 1 or s_id_w < 1:
        raise PleiadesError(f"axi_arbiter needs at least one master and an ID width >= 1, got {m_count} masters "
                            f"with {s_id_w}-bit IDs")
    return s_id_w + (m_count - 1).bit_length()


def axi_width(key: str | int, *, id_w: int, addr_w: int, data_w: int) -> int:
    """Width of an AXI signal by its width key in ``AXI_SIGNALS`` ("id", "addr", "data", "strb" or bits)."""
    widths = {"id": id_w, "addr": addr_w, "data": data_w, "strb": data_w // 8}
    return widths[key] if isinstance(key, str) else key


def arbiter_params(m_count: int, *, addr_w: int, data_w: int, s_id_w: int) -> dict[str, int]:
    """Verilog parameters of axi_arbiter (the derived ones are left to the template)."""
    master_id_width(m_count, s_id_w)
    return {"M_COUNT": m_count, "ADDR_W": addr_w, "DATA_W": data_w, "S_ID_W": s_id_w, "W_PENDING": W_PENDING}


def arbiter_instance(name: str, masters: Sequence[str], port: str, *, addr_w: int, data_w: int, s_id_w: int,
                     clk: str = "clk", rst: str = "rst") -> str:
    """An axi_arbiter instance joining the masters whose signals are ``<masters[i]>_<sig>`` (all with the same
    address/data widths and ``s_id_w``-bit IDs) onto the signals ``<port>_<sig>`` (IDs of
    :func:`master_id_width` bits)."""
    if not masters:
        raise PleiadesError("axi_arbiter needs at least one AXI master to connect")
    for prefix in (*masters, port):
        check_ident(f"{prefix}_awid", "AXI signal prefix")
    conns = {"clk": clk, "rst": rst}
    for sig, _, _ in AXI_SIGNALS:
        parts = [f"{m}_{sig}" for m in reversed(masters)]          # master 0 in the low bits
        conns[f"s_axi_{sig}"] = parts[0] if len(parts) == 1 else "{" + ", ".join(parts) + "}"
        conns[f"m_axi_{sig}"] = f"{port}_{sig}"
    return instance("axi_arbiter", name, conns,
                    arbiter_params(len(masters), addr_w=addr_w, data_w=data_w, s_id_w=s_id_w))


__all__ = ["W_PENDING", "arbiter_instance", "arbiter_params", "axi_width", "master_id_width"]
