"""Quantization-aware recurrent temporal layer (projection + quantized state + QuantConv3d readout).

``QuantRecurrentConv`` computes exactly the integer semantics of the IR "projection" layer
(``pleiades_fpga.ir.kinds.projection``) in its forward pass, so the deployed network is the trained one:

- input x: a QuantTensor (integers x_int = x / s_x, power-of-two s_x, b_x bits);
- per frame: ``acc = A_int s_prev + B_int x_int`` (exact, float64 holds it), ``s = clamp(round_half_even(
  acc / 2**F), lo, hi)`` (signed ``state_bits``), rounding with a straight-through gradient;
- the integer format (A_int, B_int, F, state scale s_s) comes from ``choose_projection_format`` (the analysis the
  hardware shares, ``pleiades_fpga.quant.projection_format``) with the state width from the quant config (``state_bits``, default 16):
  the scale is the smallest power of two for which the worst-case state (l1 norm of the impulse
  response times max |x|, plus rounding growth) cannot saturate. The ratio s_s / s_x, hence B_int, does
  not depend on the learned input scale;
- readout: a ``QuantConv3d`` 1x1x1 (per-channel power-of-two weights, accumulator-scale bias, groups 1 or
  C_in) on the state QuantTensor (scale s_s); BatchNorm after it folds like after any conv.

Export: inside ``torch.onnx`` export the projection is one ``PleiadesProjection`` node (domain
``pleiades_fpga.custom_op``, executed by ``pleiades_fpga.custom_op``) with the integer parameters as
attributes, followed by the readout's Conv.
"""
from __future__ import annotations

import torch
from brevitas.nn import QuantConv3d
from brevitas.quant_tensor import IntQuantTensor, QuantTensor
from torch import Tensor, nn

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.quant.projection_format import ProjectionFormat, choose_projection_format
from pleiades_fpga.quant.quantizers import BiasAccQuant, WeightPerChannelPoT

DOMAIN = "pleiades_fpga.custom_op"
DEFAULT_STATE_BITS = 16


def _weight_kwargs(spec: dict | None, bits: int) -> dict:
    try:
        from pleiades_fpga.quant.quantizers import weight_quant_kwargs
    except ImportError:
        return {"weight_quant": WeightPerChannelPoT, "weight_bit_width": bits}
    return weight_quant_kwargs(spec or {}, bits)


def _exporting() -> bool:
    return bool(torch.compiler.is_exporting() or torch.onnx.is_in_onnx_export())


def integer_projection(x_int: Tensor, a_int: Tensor, b_int: Tensor, frac_bits: int, bits: int) -> Tensor:
    """Integer-valued states (float64) of a clip from a zero state, straight-through rounding.

    x_int (B, C, T, H, W) integer-valued float64; a_int (D, D), b_int (D,) float64 integers -> (B, C, D, T, H, W).
    """
    b, c, t, h, w = x_int.shape
    d = b_int.shape[0]
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    scale = 2.0**-frac_bits
    s = x_int.new_zeros(b, c, d, h, w)
    outs = []
    for i in range(t):
        z = (torch.einsum("nm,bcmhw->bcnhw", a_int, s) + b_int.view(1, 1, d, 1, 1) * x_int[:, :, i, None]) * scale
        s = z + (torch.clamp(torch.round(z), lo, hi) - z).detach()  # round half to even, exact in float64
        outs.append(s)
    return torch.stack(outs, dim=3)


def export_projection(x: Tensor, fmt: ProjectionFormat, d: int, in_scale: float) -> Tensor:
    """The ``PleiadesProjection`` node for the torch.export (dynamo) ONNX exporter used by Brevitas."""
    shape = list(x.shape)
    shape[1] = shape[1] * d
    attrs = {"A": [int(v) for v in fmt.A.reshape(-1)], "B": [int(v) for v in fmt.B.reshape(-1)],
             "frac_bits": int(fmt.frac_bits), "state_bits": int(fmt.state_bits), "D": int(d),
             "in_scale": float(in_scale), "state_scale": float(fmt.state_scale)}
    return torch.onnx.ops.symbolic(f"{DOMAIN}::PleiadesProjection", (x,), attrs, dtype=x.dtype, shape=shape,
                                   version=1)


class QuantRecurrentConv(nn.Module):
    """Quantized recurrent temporal layer (see module docstring); ``forward(x, pad)`` like the other temporal
    layers. Buffers ``A`` (D, D), ``B`` (D,) (the real recurrence, as in the float layer), ``readout`` conv."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, degree: int = 4,
                 alpha: float = -0.25, beta: float = -0.25, domain=(0.0, 1.0), groups: int = 1,
                 scale_kernel_size: int | None = None, weight_bits: int = 8, state_bits: int = DEFAULT_STATE_BITS,
                 spec: dict | None = None, meta: dict | None = None) -> None:
        super().__init__()
        from pleiades_fpga.model.recurrent import RecurrentTemporalConv

        ref = RecurrentTemporalConv(in_channels, out_channels, kernel_size, degree, alpha, beta, domain, groups,
                                    scale_kernel_size)
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = self.kernel_size_t = kernel_size
        self.num_states = degree + 1
        self.state_bits = int(state_bits)
        if not 4 <= self.state_bits <= 32:
            raise PleiadesError(f"state_bits must be from 4 to 32, got {state_bits}")
        self.meta = dict(meta or {})
        self.register_buffer("A", ref.A.clone())
        self.register_buffer("B", ref.B.clone())
        self.readout = QuantConv3d(in_channels * self.num_states, out_channels, 1, groups=groups, bias=True,
                                   **_weight_kwargs(spec, weight_bits), bias_quant=BiasAccQuant,
                                   return_quant_tensor=False)
        with torch.no_grad():
            self.readout.weight.copy_(ref.readout.weight)
            self.readout.bias.zero_()
        self._formats: dict[tuple, ProjectionFormat] = {}
        self.last_input: tuple[float, int, int] | None = None  # (scale, lo, hi) of the last quantized input
        self.last_format: ProjectionFormat | None = None

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, groups={self.groups}, "
                f"states={self.num_states}, state_bits={self.state_bits}")

    def _load_from_state_dict(self, *args, **kwargs):  # A, B may change: drop cached formats
        self._formats = {}
        return super()._load_from_state_dict(*args, **kwargs)

    def integer_format(self, in_scale: float, x_lo: int, x_hi: int) -> ProjectionFormat:
        """Integer A, B, F, state scale and widths for inputs of scale ``in_scale`` in [x_lo, x_hi] (cached)."""
        key = (float(in_scale), int(x_lo), int(x_hi), float(self.A.double().sum()), float(self.B.double().sum()))
        if key not in self._formats:
            self._formats[key] = choose_projection_format(self.A.double().cpu().numpy(),
                                                          self.B.double().cpu().numpy(), in_scale, x_lo, x_hi,
                                                          state_bits=self.state_bits)
        return self._formats[key]

    def _input_quant(self, x) -> tuple[Tensor, float, int, int]:
        """(value, scale, lo, hi) of the quantized input; while exporting (plain tensors, Brevitas disables
        QuantTensors) the ones recorded by the last ordinary forward pass (Brevitas runs one first)."""
        if not isinstance(x, QuantTensor):
            if _exporting() and self.last_input is not None:
                return (x, *self.last_input)
            raise PleiadesError("the recurrent temporal layer needs a quantized input (a QuantTensor from an "
                                "input/activation quantizer)")
        scale = float(x.scale.detach().reshape(-1)[0])
        bits = int(round(float(x.bit_width)))
        signed = bool(x.signed)
        lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
        self.last_input = (scale, lo, hi)
        return x.value, scale, lo, hi

    def states(self, x) -> tuple[Tensor, ProjectionFormat]:
        """Dequantized states (B, C*D, T, H, W) (= integer states * s_s) and the integer format."""
        value, in_scale, lo, hi = self._input_quant(x)
        d = self.num_states
        if _exporting():  # buffers are not readable while tracing: the format of the last ordinary pass
            if self.last_format is None:
                raise PleiadesError("export the recurrent layer after one ordinary forward pass")
            return export_projection(value, self.last_format, d, in_scale), self.last_format
        fmt = self.last_format = self.integer_format(in_scale, lo, hi)
        x_int = value.double() / in_scale
        x_int = x_int + (x_int.round() - x_int).detach()  # exact already; keeps the gradient path explicit
        a_int = torch.as_tensor(fmt.A, dtype=torch.float64, device=value.device)
        b_int = torch.as_tensor(fmt.B, dtype=torch.float64, device=value.device)
        s = integer_projection(x_int, a_int, b_int, fmt.frac_bits, fmt.state_bits)
        b, c, _, t, h, w = s.shape
        return (s * fmt.state_scale).reshape(b, c * d, t, h, w).to(value.dtype), fmt

    def forward(self, x, pad: str = "valid"):
        if pad not in ("valid", "causal"):
            raise PleiadesError(f"pad must be 'valid' or 'causal', got {pad!r}")
        s, fmt = self.states(x)
        if _exporting():
            y = self.readout(s)
            return y[:, :, self.kernel_size - 1:] if pad == "valid" else y
        scale = torch.tensor(fmt.state_scale, dtype=s.dtype, device=s.device)
        qs = IntQuantTensor(s, scale, torch.zeros_like(scale), torch.tensor(float(fmt.state_bits)), True,
                            self.training)
        y = self.readout(qs)
        if pad == "valid":
            y = y[:, :, self.kernel_size - 1:]
        return y

    def readout_matrix(self) -> Tensor:
        """Float readout weights Cr (out, in/g, D) (before weight quantization)."""
        return self.readout.weight.reshape(self.out_channels, self.in_channels // self.groups, self.num_states)


def fold_readout(src: QuantRecurrentConv, dst: QuantRecurrentConv, f: Tensor, bn: nn.Module) -> None:
    """BatchNorm (factor f per output channel) folded into the readout conv of ``dst`` (copied from ``src``)."""
    dst.readout.weight.copy_(src.readout.weight * f.view(-1, 1, 1, 1, 1))
    dst.readout.bias.copy_((src.readout.bias - bn.running_mean) * f + bn.bias)



def recurrent_metadata(layer: QuantRecurrentConv) -> dict:
    """Export metadata of a recurrent layer: real recurrence, integer format, float readout and bias."""
    fmt = layer.last_format
    out = {"implementation": "recurrent", "groups": layer.groups, "in_channels": layer.in_channels,
           "out_channels": layer.out_channels, "states": layer.num_states,
           "A": layer.A.detach().double().tolist(), "B": layer.B.detach().double().tolist(),
           "readout": layer.readout_matrix().detach().double().tolist(),
           "bias": layer.readout.bias.detach().double().tolist(), **{k: layer.meta[k] for k in layer.meta}}
    if fmt is not None:
        out["format"] = {"A": fmt.A.tolist(), "B": fmt.B.tolist(), "frac_bits": fmt.frac_bits,
                         "state_bits": fmt.state_bits, "state_scale": fmt.state_scale, "acc_bits": fmt.acc_bits,
                         "spectral_radius": fmt.spectral_radius, "impulse_rel_error": fmt.impulse_rel_error}
    return out
