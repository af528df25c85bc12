"""RTL of the IR "projection" layer (recurrent temporal layer): projection_state.v parameters and wrapper.

A and B are small constant matrices (D x D, D) and go into the template as packed parameters
(``A_FLAT`` lane n*D + m = A[n, m], ``B_FLAT`` lane n = B[n], signed ``COEF_W`` bits), so no ROM is needed.
Folding: ``Fold(pe, simd)`` = PE state rows x SIMD channels per step; each lane is a (D+1)-term dot
product, i.e. PE * SIMD * (D + 1) multipliers (by constants when PE = D).
"""
from __future__ import annotations

import numpy as np

from pleiades_fpga.errors import UnsupportedModelError
from pleiades_fpga.hw.rtl import rom
from pleiades_fpga.hw.rtl.verilog import instance, layer_ports, module, stream_connections


def _packed(values: np.ndarray, width: int) -> str:
    """Verilog literal of signed lanes packed lane 0 at the LSBs."""
    word = rom.pack_lanes([list(np.asarray(values, dtype=np.int64).ravel())], width, signed=True)[0]
    n = width * np.asarray(values).size
    return f"{n}'h{word:0{max(1, (n + 3) // 4)}x}"


def projection_params(A: np.ndarray, B: np.ndarray, frac_bits: int, channels: int, pixels: int, in_bits: int,
                      in_signed: bool, state_bits: int, acc_bits: int, pe: int, simd: int) -> dict[str, str]:
    """Template parameters of projection_state (values are Verilog literals)."""
    A = np.asarray(A, dtype=np.int64)
    B = np.asarray(B, dtype=np.int64).reshape(-1)
    d = B.shape[0]
    if A.shape != (d, d):
        raise UnsupportedModelError(f"projection: A must be (D, D) = ({d}, {d}), got {A.shape}")
    if not (1 <= pe <= d and 1 <= simd <= channels):
        raise UnsupportedModelError(f"projection folding PE={pe} (rows, <= D={d}), SIMD={simd} (channels, <= "
                                    f"C={channels}) is not legal")
    coef_w = max(2, rom.bits_needed(np.concatenate([A.ravel(), B]), signed=True))
    return {"C_IN": str(channels), "D": str(d), "PIXELS": str(pixels), "IN_W": str(in_bits),
            "IN_SIGNED": str(int(in_signed)), "OUT_W": str(state_bits), "COEF_W": str(coef_w), "F": str(int(frac_bits)),
            "ACC_W": str(acc_bits), "PE": str(pe), "SIMD": str(simd),
            "A_FLAT": _packed(A, coef_w), "B_FLAT": _packed(B, coef_w)}


def projection_wrapper(name: str, params: dict[str, str]) -> str:
    """Verilog of module ``name``: projection_state with ``params`` and the stream ports of a layer wrapper."""
    c, d, in_w, s_w = (int(params[k]) for k in ("C_IN", "D", "IN_W", "OUT_W"))
    conns = {"clk": "clk", "rst": "rst", **stream_connections("s_axis", "s_axis"), **stream_connections("m_axis", "m_axis")}
    return module(name, layer_ports(c * in_w, c * d * s_w), [instance("projection_state", "u_layer", conns, params)],
                  comment=f"{name}: projection_state (recurrent temporal layer, generated).")


def projection_multipliers(d: int, pe: int, simd: int) -> int:
    """Multipliers of projection_state at a folding: PE * SIMD lanes of D + 1 products."""
    return pe * simd * (d + 1)


__all__ = ["projection_multipliers", "projection_params", "projection_wrapper"]
