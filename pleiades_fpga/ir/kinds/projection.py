"""IR kind "projection" (recurrent temporal layer, issue #6): the integer polynomial projection, the one state
update shared by the golden model, the QONNX op (``projection_op``) and the RTL tests.

Integer semantics: per frame t, input channel c and pixel, with states s in Z^D (D = ``state_dim``, signed,
``bits`` = ``out_bits`` wide, zero after reset), A = ``proj_A``, B = ``proj_B``, F = ``frac_bits`` (the layer's
``ProjectionParams``)::

    acc[n]   = sum_m A[n, m] * s_prev[c, m] + B[n] * x[c]          (exact integers)
    s[c, n]  = clamp(round_half_even(acc[n] / 2**F), lo, hi)        (lo, hi of a signed ``bits`` integer)

The output tensor of a frame is s itself, channel ``c*D + n`` (channel-major, state index minor):
``in_channels`` = C, ``out_channels`` = C*D, ``requant`` is False (the update has its own rounding),
``out_scale`` = the state scale. The readout is a following "pointwise" conv (groups 1 or C). Read from the
QONNX custom op ``PleiadesProjection`` (domain ``DOMAIN``); saturated states are counted by the golden model.

Format analysis (state scale, widths, F): ``pleiades_fpga.quant.projection_format``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from pleiades_fpga.errors import UnsupportedModelError
from pleiades_fpga.ir.graph import Layer, LayerParams, TensorSpec
from pleiades_fpga.ir.integers import int_range, round_shift
from pleiades_fpga.ir.kinds.registry import GoldenLayer, Kind, register
from pleiades_fpga.ir.read_context import ReadContext, node_attrs
from pleiades_fpga.quant.projection_format import projection_acc_bits

DOMAIN = "pleiades_fpga.custom_op"  # ONNX domain of PleiadesProjection: qonnx imports the module of that name


def _check_params(A: np.ndarray, B: np.ndarray, frac_bits: int, bits: int) -> tuple[np.ndarray, np.ndarray]:
    A = np.asarray(A, dtype=np.int64)
    B = np.asarray(B, dtype=np.int64).reshape(-1)
    d = B.shape[0]
    if A.shape != (d, d):
        raise UnsupportedModelError(f"projection: A must be (D, D) with D = len(B) = {d}, got {A.shape}")
    if int(frac_bits) < 0 or int(bits) < 2:
        raise UnsupportedModelError(f"projection: need frac_bits >= 0 and state bits >= 2, got F={frac_bits} bits={bits}")
    return A, B


def project_update(x: np.ndarray, s_prev: np.ndarray, A: np.ndarray, B: np.ndarray, frac_bits: int,
                   bits: int) -> tuple[np.ndarray, int]:
    """One update on state-last arrays: x (...,) ints, s_prev (..., D) -> (s (..., D) int64, #saturated values).

    Layout-agnostic core used by ``project_int``/``project_step`` and the golden model (channel-last).
    """
    A, B = _check_params(A, B, frac_bits, bits)
    x = np.asarray(x, dtype=np.int64)
    s_prev = np.asarray(s_prev, dtype=np.int64)
    acc = s_prev @ A.T + x[..., None] * B
    v = round_shift(acc, np.int64(frac_bits))
    lo, hi = int_range(bits, True)
    n_sat = int(np.count_nonzero((v < lo) | (v > hi)))
    return np.clip(v, lo, hi), n_sat


def project_step(x: np.ndarray, s_prev: np.ndarray | None, A: np.ndarray, B: np.ndarray, frac_bits: int,
                 bits: int) -> tuple[np.ndarray, int]:
    """One frame: x (C, H, W) ints, s_prev (C*D, H, W) or None (reset) -> (s (C*D, H, W) int64, #saturated)."""
    x = np.asarray(x, dtype=np.int64)
    d = np.asarray(B).reshape(-1).shape[0]
    c, h, w = x.shape
    prev = np.zeros((c, h, w, d), np.int64) if s_prev is None else \
        np.asarray(s_prev, np.int64).reshape(c, d, h, w).transpose(0, 2, 3, 1)
    s, n_sat = project_update(x, prev, A, B, frac_bits, bits)
    return s.transpose(0, 3, 1, 2).reshape(c * d, h, w), n_sat


@dataclass
class ProjectionStats:
    """Saturation bookkeeping of ``project_int`` (``saturated`` = clamped state values over the clip)."""

    saturated: int = 0
    final_state: np.ndarray | None = None  # (C*D, H, W)


def project_int(x: np.ndarray, A: np.ndarray, B: np.ndarray, frac_bits: int, bits: int,
                state: np.ndarray | None = None, stats: ProjectionStats | None = None) -> np.ndarray:
    """States of a clip: x (T, C, H, W) ints -> (T, C*D, H, W) int64, channel c*D+n, zero state at reset.

    ``state`` (C*D, H, W) continues from a previous call; pass a ``ProjectionStats`` to get the number of
    saturated values and the final state.
    """
    A, B = _check_params(A, B, frac_bits, bits)
    x = np.asarray(x, dtype=np.int64)
    if x.ndim != 4:
        raise UnsupportedModelError(f"project_int: x must be (T, C, H, W), got shape {x.shape}")
    t_len, c, h, w = x.shape
    d = B.shape[0]
    s = np.zeros((c, h, w, d), np.int64) if state is None else \
        np.asarray(state, np.int64).reshape(c, d, h, w).transpose(0, 2, 3, 1)
    out = np.empty((t_len, c, d, h, w), np.int64)
    n_sat = 0
    for t in range(t_len):
        s, k = project_update(x[t], s, A, B, frac_bits, bits)
        n_sat += k
        out[t] = s.transpose(0, 3, 1, 2)
    if stats is not None:
        stats.saturated += n_sat
        stats.final_state = s.transpose(0, 3, 1, 2).reshape(c * d, h, w).copy()
    return out.reshape(t_len, c * d, h, w)


@dataclass
class ProjectionParams(LayerParams):
    """Parameters of a projection layer (see the module docstring)."""

    proj_A: np.ndarray  # int64 (D, D)
    proj_B: np.ndarray  # int64 (D,)
    frac_bits: int  # F
    state_dim: int  # D
    window: int = 0  # the temporal kernel size K this projection replaces (0: unknown; memory report only)

    @property
    def temporal(self) -> bool:
        return True


def projection_window(graph, layer) -> int | None:
    """Kernel size K a projection layer replaces (memory reports): ``params.window``, else the QONNX export
    metadata ``pleiades.temporal_layers`` entry of its temporal layer (name without ".projection")."""
    if layer.params.window:
        return int(layer.params.window)
    base = layer.name.removesuffix(".projection")
    for entry in graph.metadata.get("pleiades.temporal_layers") or []:
        if isinstance(entry, dict) and entry.get("name") == base and entry.get("kernel_size"):
            return int(entry["kernel_size"])
    return None


@dataclass
class ProjectionState:
    """Streaming state of a projection layer: the states (B, H, W, C, D) int64."""

    states: np.ndarray


@register
class ProjectionKind(Kind):
    name = "projection"
    onnx_ops = ("PleiadesProjection",)
    counts_saturation = True

    def read(self, ctx: ReadContext, node: onnx.NodeProto) -> None:
        """``PleiadesProjection``: its output is a quantized activation (signed states, scale ``state_scale``)
        read by the readout Conv."""
        if node.domain != DOMAIN:
            raise ctx.fail(node, f"PleiadesProjection must be in domain {DOMAIN!r}, got {node.domain!r}")
        x = ctx.input_act(node, node.input[0])
        a = node_attrs(node)
        d = int(a["D"])
        A = np.asarray(a["A"], dtype=np.int64).reshape(d, d)
        B = np.asarray(a["B"], dtype=np.int64).reshape(d)
        bits, frac, s_s = int(a["state_bits"]), int(a["frac_bits"]), float(a["state_scale"])
        if float(a["in_scale"]) != float(x.scale):
            raise ctx.fail(node, f"in_scale {a['in_scale']} differs from the input's quantizer scale {float(x.scale)}")
        out = node.output[0]
        ctx.layers.append(Layer(
            name=ctx.name("projection"), kind="projection", inputs=[node.input[0]], output=out,
            in_channels=x.channels, out_channels=x.channels * d, in_bits=x.bits, in_signed=x.signed,
            in_scale=float(x.scale), acc_bits=projection_acc_bits(A, B, x.lo, x.hi, bits),
            acc_scale=np.asarray(s_s * 2.0**-frac), requant=False, out_bits=bits, out_signed=True,
            out_scale=np.asarray(s_s), params=ProjectionParams(proj_A=A, proj_B=B, frac_bits=frac, state_dim=d)))
        ctx.add_act(out, x.channels * d, x.height, x.width, bits, True, s_s)

    def module_name(self, layer: Layer, producers: dict[str, Layer], layers: list[Layer]) -> str | None:
        """Named after its readout conv: ``blocks.i.temporal.readout`` -> ``blocks.i.temporal.projection``."""
        name = None
        for other in layers:
            if layer.output in other.inputs and other.name.endswith(".readout"):
                name = other.name[: -len("readout")] + "projection"
        return name

    def describe(self, layer: Layer) -> str:
        return f" D={layer.params.state_dim} F={layer.params.frac_bits}"

    def outputs_accumulator(self, layer: Layer) -> bool:
        return False  # its states are rounded and clamped by the update itself

    def abs_bound(self, layer: Layer, x: TensorSpec | None) -> int:
        return 2**layer.out_bits  # int64 update: only its states pass through the float dtype

    def prepare(self, run: GoldenLayer) -> None:
        if run.layer.acc_bits > 63:
            raise UnsupportedModelError(f"projection layer {run.layer.name}: accumulator of {run.layer.acc_bits} "
                                        "bits exceeds int64; reduce frac_bits or the state width")

    def init_state(self, layer: Layer, x: TensorSpec, batch: int, dtype: type) -> ProjectionState:
        return ProjectionState(np.zeros((batch, x.height, x.width, x.channels, layer.params.state_dim), np.int64))

    def golden(self, run: GoldenLayer, xs: list[np.ndarray], state: ProjectionState | None) -> np.ndarray:
        """States of every frame of x (B, T, H, W, C) -> (B, T, H, W, C*D), channel c*D+n."""
        layer, p, x = run.layer, run.layer.params, xs[0]
        b, t_len, h, w, c = x.shape
        d = p.state_dim
        s = np.zeros((b, h, w, c, d), np.int64) if state is None else state.states
        xi = x.astype(np.int64)
        out = np.empty((b, t_len, h, w, c * d), dtype=run.dtype)
        for t in range(t_len):
            s, n_sat = project_update(xi[:, t], s, p.proj_A, p.proj_B, p.frac_bits, layer.out_bits)
            run.saturated += n_sat
            out[:, t] = s.reshape(b, h, w, c * d)
        if state is not None:
            state.states = s
        return out
