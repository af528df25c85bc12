"""cocotb testbench for ``global_avg_pool`` (through a generated wrapper holding its parameter ROM).

Same protocol as :mod:`pleiades_fpga.sim.tb.tb_conv3x3` (vectors ``frames``, ``timing_frames``,
``pause_seed``, ``p_in``, ``p_out``; results ``outputs``, ``timing_outputs``, ``timing_done``);
every output frame is a single beat with tlast.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import cocotb

from pleiades_fpga.sim.tb.tb_conv3x3 import rom_top_verilog, single_stream_test

TOPLEVEL = "avgpool_top"


def avgpool_param_words(mult: Sequence[int], shift: Sequence[int], pe: int, m_bits: int, s_bits: int) -> list[int]:
    """Parameter ROM of global_avg_pool: word g, lane j (channel g*PE + j) = {S, M} (M in the low bits)."""
    n = len(mult)
    groups = -(-n // pe)
    fw = m_bits + s_bits
    words = []
    for g in range(groups):
        word = 0
        for j in range(pe):
            c = g * pe + j
            if c < n:
                m, s = int(mult[c]), int(shift[c])
                if not (0 <= m < (1 << m_bits) and 0 <= s < (1 << s_bits)):
                    raise ValueError(f"channel {c}: M={m} or S={s} does not fit M_BITS={m_bits}, S_BITS={s_bits}")
                word |= (m | (s << m_bits)) << (j * fw)
        words.append(word)
    return words


def avgpool_top_verilog(params: Mapping[str, int], mult: Sequence[int], shift: Sequence[int]) -> str:
    """Wrapper ``avgpool_top``: global_avg_pool with ``params`` and its {S, M} ROM."""
    p = dict(params)
    pe, mb, sb = int(p.get("PE", 1)), int(p["M_BITS"]), int(p["S_BITS"])
    words = avgpool_param_words(mult, shift, pe, mb, sb)
    c = int(p["C"])
    return rom_top_verilog(TOPLEVEL, "global_avg_pool", p, c * int(p["IN_BITS"]), c * int(p["OUT_BITS"]),
                           [("prom", words, pe * (mb + sb))])


@cocotb.test()
async def avgpool_frames(dut) -> None:
    """Stream the frames of the vectors file through avgpool_top."""
    await single_stream_test(dut)
