"""Hardware kind ``add``: the DWS skip add (IR add): ``axis_add`` (exact sum of two streams) followed by a
per-channel ``requant`` with constant M, S (no multiplier where M is a power of two), in a generated wrapper."""
from __future__ import annotations

from pleiades_fpga.hw.rtl import cycles_spatial
from pleiades_fpga.hw.rtl import verilog as v
from pleiades_fpga.hw.rtl.kinds.registry import EstimateInput, HwKind, register
from pleiades_fpga.hw.rtl.lowering import Fold, Lowered, ms_widths, requant_fields
from pleiades_fpga.ir.graph import IRGraph, Layer
from pleiades_fpga.toolflow.parts import dsp_blocks


@register
class Add(HwKind):
    name = "add"
    ir_kind = "add"
    input_ports = ("s_a_axis", "s_b_axis")

    def cost(self, graph: IRGraph, layer: Layer, fold: Fold) -> dict[str, int]:
        y = graph.tensors[layer.output]
        return {"cycles_per_frame": cycles_spatial.stream_cycles(y.height, y.width), "multipliers": 0,
                "macs_per_frame": 0}

    def lower(self, graph: IRGraph, layer: Layer, name: str, fold: Fold) -> Lowered:
        a, b = (graph.tensors[i] for i in layer.inputs)
        m, s, out_bits, out_signed = requant_fields(layer)
        mw, sw = ms_widths(m, s)
        acc, c = layer.acc_bits, layer.out_channels
        params = {"C": c, "A_W": a.bits, "A_SIGNED": int(a.signed), "SHIFT_A": 0, "B_W": b.bits,
                  "B_SIGNED": int(b.signed), "SHIFT_B": 0, "OUT_W": acc, "OUT_SIGNED": 1}
        body = [v.wire("sum_data", c * acc),
                v.instance("axis_add", "u_add", {"clk": "clk", "rst": "rst",
                                                 **v.stream_connections("s_a_axis", "s_a_axis"),
                                                 **v.stream_connections("s_b_axis", "s_b_axis"),
                                                 "m_axis_tdata": "sum_data",
                                                 **{f"m_axis_{sig}": f"m_axis_{sig}"
                                                    for sig in ("tvalid", "tready", "tlast")}}, params)]
        for i in range(c):
            mi, si = int(m[i]), int(s[i])
            k = mi.bit_length() - 1
            y = f"m_axis_tdata[{i * out_bits} +: {out_bits}]"
            if mi == 1 << k:  # M = 2**k: a constant left shift of the sum, no multiplier
                acc_in = f"{{sum_data[{i * acc} +: {acc}], {k}'d0}}" if k else f"sum_data[{i * acc} +: {acc}]"
                rq = {"ACC_W": acc + k, "M_W": 1, "S_W": sw, "OUT_W": out_bits, "OUT_SIGNED": int(out_signed)}
                conns = {"acc": acc_in, "m": "1'b1", "s": f"{sw}'d{si}", "y": y}
            else:
                rq = {"ACC_W": acc, "M_W": mw, "S_W": sw, "OUT_W": out_bits, "OUT_SIGNED": int(out_signed)}
                conns = {"acc": f"sum_data[{i * acc} +: {acc}]", "m": f"{mw}'d{mi}", "s": f"{sw}'d{si}", "y": y}
            body.append(v.instance("requant", f"u_rq{i}", conns, rq))
        ports = (v.clock_reset() + v.stream_ports("s_a_axis", c * a.bits, slave=True)
                 + v.stream_ports("s_b_axis", c * b.bits, slave=True) + v.stream_ports("m_axis", c * out_bits, slave=False))
        text = v.module(name, ports, body, comment=f"{name}: DWS skip add = axis_add (exact sum) + per-channel requant "
                                                   "(generated).")
        pow2 = all(int(x) == 1 << (int(x).bit_length() - 1) for x in m)
        # what the estimator should assume: no multipliers when every M is a power of two
        return Lowered([(name, text)], "axis_add", params, [], {"m_bits": 1 if pow2 else mw})

    def stream_ff(self, est: EstimateInput) -> float:
        return est.out_width + est.k["ctrl_ff"]  # output register only (inputs are not held)

    def estimate_terms(self, est: EstimateInput) -> tuple[float, float, float]:
        """One requant per channel with constant M/S (a DSP block per channel unless M is 1 bit wide)."""
        k, out_c, m_bits = est.k, est.out_c, est.int("m_bits", 1)
        lut = out_c * (est.out_bits + 2) * 2 * k["add2"]
        dsp = out_c * dsp_blocks(est.acc_bits + 1, m_bits + 1, est.part) if m_bits > 1 else 0
        lut += out_c * k["add_rq"]
        return lut, out_c * est.out_bits, dsp
