"""Test helper: turn the temporal convs of an IR into recurrent form (projection + pointwise readout).

Used until/besides the QONNX export of recurrent models: for each temporal conv (kernel w (O, C/g, K)),
a LegT-style least-squares projection on a Legendre basis of the K window (A = E^+ Sh E, B = E^+ e_new),
the integer format from ``choose_projection_format`` and an integer readout
Wr[o, c, n] = round(2**q * s_s * (w[o, c, :] @ E)[n]) (accumulator scale 2**-q of the original: the
requant shift grows by q, the bias by 2**q). The network is only an approximation of the buffer one;
the RTL is checked against the golden model of *this* IR, bit for bit.
"""
from __future__ import annotations

import copy

import numpy as np

from pleiades_fpga.ir.graph import IRGraph, Layer, TensorSpec
from pleiades_fpga.ir.integers import signed_bits_for
from pleiades_fpga.ir.kinds.conv import ConvParams
from pleiades_fpga.ir.kinds.projection import ProjectionParams
from pleiades_fpga.quant.projection_format import choose_projection_format, legt_matrices


def to_recurrent(graph: IRGraph, D: int = 5, readout_bits: int = 8) -> IRGraph:
    """A copy of ``graph`` with every temporal conv replaced by projection + pointwise readout."""
    g = copy.deepcopy(graph)
    layers: list[Layer] = []
    for l in g.layers:
        if not l.params.temporal:
            layers.append(l)
            continue
        x = g.tensors[l.inputs[0]]
        k = l.params.kernel[0]
        A, B, E = legt_matrices(k, D)
        w = l.params.weight[:, :, :, 0, 0].astype(np.float64)  # (O, C/g, K)
        cr = w @ E  # (O, C/g, D) readout per unit state (input-integer units)
        fmt = choose_projection_format(A, B, 1.0, x.lo, x.hi)
        real = cr * fmt.state_scale
        q = int(np.floor(np.log2((2 ** (readout_bits - 1) - 1) / np.abs(real).max())))
        shift = np.asarray(l.shift, dtype=np.int64) + q
        assert shift.min() >= 0, "readout scale would need a left shift"
        wr = np.round(real * 2.0**q).astype(np.int64)
        bias = np.asarray(l.params.bias, dtype=np.int64) * 2**q
        s_name = f"{l.name}.state"
        c = l.in_channels
        g.tensors[s_name] = TensorSpec(s_name, c * D, x.height, x.width, fmt.state_bits, True,
                                       np.float64(fmt.state_scale * float(np.asarray(x.scale).reshape(-1)[0])))
        layers.append(Layer(f"{l.name}.projection", "projection", [l.inputs[0]], s_name, in_channels=c,
                            out_channels=c * D, in_bits=x.bits, in_signed=x.signed,
                            params=ProjectionParams(proj_A=fmt.A, proj_B=fmt.B, frac_bits=fmt.frac_bits, state_dim=D,
                                                    window=k), acc_bits=fmt.acc_bits, requant=False,
                            out_bits=fmt.state_bits, out_signed=True, out_scale=np.float64(fmt.state_scale)))
        groups = 1 if l.params.groups == 1 else c
        weight = wr.reshape(l.out_channels, -1)[:, :, None, None, None]  # (O, (C/g)*D) ordered c*D+n
        s_lo, s_hi = -(2 ** (fmt.state_bits - 1)), 2 ** (fmt.state_bits - 1) - 1
        wabs = np.abs(weight.reshape(l.out_channels, -1)).sum(axis=1)
        bound = int((wabs * max(-s_lo, s_hi) + np.abs(bias)).max())
        params = ConvParams(role="pointwise", groups=groups, weight=weight,
                            weight_bits=max(2, signed_bits_for(int(wr.min()), int(wr.max()))),
                            weight_scale=l.params.weight_scale, bias=bias)
        layers.append(Layer(l.name, "conv", [s_name], l.output, params=params, in_channels=c * D,
                            out_channels=l.out_channels, in_bits=fmt.state_bits, in_signed=True,
                            in_scale=fmt.state_scale, acc_bits=signed_bits_for(-bound, bound),
                            acc_scale=l.acc_scale, requant=l.requant, multiplier=l.multiplier, shift=shift,
                            relu=l.relu, out_bits=l.out_bits, out_signed=l.out_signed, out_scale=l.out_scale))
    g.layers = layers
    return g
