"""Causal temporal convolutions over (batch, channels, time, height, width) tensors.

* ``PleiadesTemporalConv``: kernel = ``coeffs @ basis`` with trainable ``coeffs`` (out, in/groups, degree+1)
  and the fixed buffer ``basis`` (degree+1, kernel_size) = bin-averaged Jacobi polynomials times the
  published scale ``1 / sqrt(scale_kernel_size * in/groups)``. ``basis`` is not part of the state_dict
  (it follows from the layer's hyper-parameters); it is exact to the parameters' dtype (float64 too).
* ``FreeTemporalConv``: an unstructured kernel ``weight`` (out, in/groups, kernel_size) (baseline).

Both are cross-correlations along time with tap 0 = oldest frame, tap K-1 = current frame, and share
``forward(x, pad)``, ``init_state`` / ``step`` (streaming with a FIFO of the last K-1 input frames),
``kernel()`` (the effective taps) and ``resampled(kernel_size)`` (re-discretization for a new bin size).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.model.polynomials import check_domain, check_jacobi_params, discrete_basis

PAD_MODES = ("valid", "causal")
CONTRACTIONS = ("auto", "kernel", "project")

# Cost model constants: seconds per unit on this machine's CPU (float32, 2 threads), fitted by non-negative
# least squares to per-layer wall times of both orders (forward and forward+backward) of the presets
# (bench/contraction.py shapes; a shared, loaded machine, so they are rough). Only their ratios matter.
_SEC_PER_CONV_MAC = 5.6e-11  # conv3d (K, 1, 1) multiply-accumulate (dense kernel-first)
_SEC_PER_CONV_POSITION = 2.2e-8  # conv3d overhead per output position (layout conversions), any channels
_SEC_PER_TAP_ELEM = 2.7e-10  # shifted multiply-add of the depthwise kernel-first path
_SEC_PER_PROJ_MAC = 7.0e-11  # basis projection conv2d multiply-accumulate
_SEC_PER_MATMUL_MAC = 4.6e-10  # coefficient contraction (matmul) multiply-accumulate
_SEC_PER_INTER_ELEM = 9.1e-10  # element of the projected intermediate (memory written and read back)


def check_pad(pad: str) -> str:
    """Validate a temporal padding mode ("valid" or "causal")."""
    if pad not in PAD_MODES:
        raise PleiadesError(f"pad must be one of {PAD_MODES}, got {pad!r}")
    return pad


@dataclass(frozen=True)
class ContractionCost:
    """Estimated cost of one pass of a temporal layer with a given contraction order.

    ``macs``: multiply-accumulates of the forward pass; ``intermediate_bytes``: extra float32 memory of the
    forward pass (kept for backward); ``seconds``: model time (forward, plus backward if requested).
    """

    order: str
    macs: int
    intermediate_bytes: int
    seconds: float


def contraction_costs(
    in_channels: int,
    out_channels: int,
    groups: int,
    kernel_size: int,
    num_basis: int,
    positions: int,
    backward: bool = False,
    input_grad: bool = True,
) -> dict[str, ContractionCost]:
    """Cost model of both contraction orders for ``positions`` = batch * T_out * H * W output positions.

    kernel-first: build kernels (out, in/g, K), then one grouped convolution: out*(in/g)*K MACs per position
    (depthwise layers as K shifted multiply-adds, others as conv3d).
    project-first: project every input channel onto the basis (in*(N+1)*K MACs, one conv2d), then
    contract with the coefficients (a matmul, out*(in/g)*(N+1) MACs); it keeps an intermediate of
    in*(N+1) floats per position.
    ``backward``: add the backward pass (coefficient gradients always, input gradients if ``input_grad``).
    """
    cin_g = in_channels // groups
    k, nb, p = kernel_size, num_basis, positions
    # passes over the data: forward 1; backward adds the coefficient gradient and maybe the input gradient
    both = 1 + (1 if backward else 0) + (1 if backward and input_grad else 0)
    input_only = 1 + (1 if backward and input_grad else 0)
    k_macs = out_channels * cin_g * k * p
    if cin_g == 1 and out_channels == in_channels:  # depthwise: tap sums
        k_sec = in_channels * k * p * _SEC_PER_TAP_ELEM * both
    else:
        k_sec = (k_macs * _SEC_PER_CONV_MAC + p * _SEC_PER_CONV_POSITION) * both
    kernel = ContractionCost("kernel", k_macs, 0, k_sec)
    proj = in_channels * nb * k * p
    mix = out_channels * cin_g * nb * p
    inter = in_channels * nb * p
    p_sec = (proj * _SEC_PER_PROJ_MAC * input_only
             + (mix * _SEC_PER_MATMUL_MAC + inter * _SEC_PER_INTER_ELEM) * both)
    project = ContractionCost("project", proj + mix, 4 * inter, p_sec)
    return {"kernel": kernel, "project": project}


def choose_contraction(
    in_channels: int, out_channels: int, groups: int, kernel_size: int, num_basis: int, positions: int,
    backward: bool = False, input_grad: bool = True,
) -> str:
    """The cheaper contraction order ("kernel" or "project") by the cost model ``contraction_costs``."""
    costs = contraction_costs(in_channels, out_channels, groups, kernel_size, num_basis, positions, backward,
                              input_grad)
    return min(costs.values(), key=lambda c: c.seconds).order


_AUTOTUNE_CACHE: dict[tuple, str] = {}
_AUTOTUNE_REPEATS = 5
_AUTOTUNE_MIN_SAMPLE_S = 0.005  # each timing sample repeats the call until it lasts this long (sub-ms layers)


def _time_once(run, order: str, calls: int = 1) -> float:
    """Seconds per call of ``run(order)``, averaged over ``calls`` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(calls):
        run(order)
    return (time.perf_counter() - start) / calls


def autotune_contraction(layer: "PleiadesTemporalConv", x_shape: tuple[int, ...], pad: str, weight_grad: bool,
                         input_grad: bool) -> str:
    """The faster contraction order for this layer and input shape, measured once and cached.

    Both orders run on a random input of ``x_shape`` (a private generator: the global RNG is untouched),
    interleaved, best of ``_AUTOTUNE_REPEATS`` samples after one warm-up (a sample repeats short calls
    until it lasts ``_AUTOTUNE_MIN_SAMPLE_S``); forward only, or forward + the backward
    pass that training needs (gradients through ``torch.autograd.grad``, so no ``.grad`` is touched).
    The key holds everything that changes the timing (shapes, dtype, gradients wanted, torch threads).
    """
    key = (layer.in_channels, layer.out_channels, layer.groups, layer.kernel_size, layer.degree + 1,
           tuple(x_shape), pad, weight_grad, input_grad, layer.coeffs.dtype, layer.coeffs.device.type,
           torch.get_num_threads())
    if key in _AUTOTUNE_CACHE:
        return _AUTOTUNE_CACHE[key]
    gen = torch.Generator(device=layer.coeffs.device).manual_seed(0)
    x = torch.randn(x_shape, generator=gen, dtype=layer.coeffs.dtype, device=layer.coeffs.device)

    def run(order: str):
        with torch.enable_grad() if (weight_grad or input_grad) else torch.no_grad():
            xi = x.detach().requires_grad_(input_grad)
            coeffs = layer.coeffs.detach().requires_grad_(weight_grad)
            y = layer._contract(layer._pad(xi, pad), order, coeffs)
            wrt = [t for t, want in ((coeffs, weight_grad), (xi, input_grad)) if want]
            if wrt:
                torch.autograd.grad(y.sum(), wrt)

    best = {"kernel": math.inf, "project": math.inf}
    # warm-up round (allocators, kernels), which also sizes the samples: short calls are repeated so that
    # a sample lasts >= _AUTOTUNE_MIN_SAMPLE_S (single sub-millisecond timings are dominated by noise)
    calls = {order: max(1, math.ceil(_AUTOTUNE_MIN_SAMPLE_S / max(_time_once(run, order), 1e-7))) for order in best}
    for _ in range(_AUTOTUNE_REPEATS):
        for order in best:
            best[order] = min(best[order], _time_once(run, order, calls[order]))
    choice = min(best, key=best.get)
    _AUTOTUNE_CACHE[key] = choice
    return choice


def _depthwise_taps(x: Tensor, taps: Tensor) -> Tensor:
    """Depthwise causal correlation: y[:, c, t] = sum_k taps[c, k] * x[:, c, t + k] (valid)."""
    c, k = taps.shape
    t_out = x.shape[2] - k + 1
    y = x[:, :, :t_out] * taps[:, 0].view(1, c, 1, 1, 1)
    for i in range(1, k):
        y.addcmul_(x[:, :, i: i + t_out], taps[:, i].view(1, c, 1, 1, 1))
    return y


class TemporalConv(nn.Module):
    """Base class: causal grouped temporal convolution along dim 2 of (B, C, T, H, W)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, groups: int = 1) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("kernel_size", kernel_size), ("groups", groups)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise PleiadesError(f"temporal layer {name} must be an integer >= 1, got {value!r}")
        if in_channels % groups or out_channels % groups:
            raise PleiadesError(
                f"temporal layer: in_channels ({in_channels}) and out_channels ({out_channels}) must be "
                f"divisible by groups ({groups})"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.groups = groups

    def kernel(self) -> Tensor:
        """Effective taps (out, in/groups, kernel_size), tap 0 = oldest."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"groups={self.groups}")

    def _pad(self, x: Tensor, pad: str) -> Tensor:
        if x.dim() != 5 or x.shape[1] != self.in_channels:
            raise PleiadesError(
                f"temporal layer expects (batch, {self.in_channels}, time, height, width), got {tuple(x.shape)}"
            )
        if check_pad(pad) == "causal":
            return F.pad(x, (0, 0, 0, 0, self.kernel_size - 1, 0))
        if x.shape[2] < self.kernel_size:
            raise PleiadesError(
                f"valid temporal convolution needs at least kernel_size={self.kernel_size} frames, "
                f"got {x.shape[2]}; use pad='causal' or a longer clip"
            )
        return x

    def _conv_kernel_first(self, x: Tensor, k: Tensor | None = None) -> Tensor:
        """Convolve with the effective kernel ``k`` (default ``kernel()``): depthwise as a sum of K shifted
        scalings, else conv3d."""
        k = self.kernel() if k is None else k
        if self.groups == self.in_channels == self.out_channels:
            return _depthwise_taps(x, k[:, 0, :])
        return F.conv3d(x, k.reshape(self.out_channels, -1, self.kernel_size, 1, 1), groups=self.groups)

    def forward(self, x: Tensor, pad: str = "valid") -> Tensor:
        """(B, in, T, H, W) -> (B, out, T', H, W); T' = T - K + 1 ("valid") or T ("causal")."""
        return self._conv_kernel_first(self._pad(x, pad))

    def init_state(self, batch: int, height: int, width: int, device=None, dtype=None) -> Tensor:
        """Zero FIFO of the last K-1 input frames: (batch, in, K-1, height, width)."""
        ref = next(self.parameters())
        return torch.zeros(batch, self.in_channels, self.kernel_size - 1, height, width,
                           device=device or ref.device, dtype=dtype or ref.dtype)

    def step(self, frame: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """One frame (B, in, H, W) -> (output frame (B, out, H, W), new state)."""
        window = torch.cat([state, frame.unsqueeze(2)], dim=2)
        out = self.forward(window, pad="valid")[:, :, 0]
        return out, window[:, :, 1:]

    def resampled(self, kernel_size: int) -> "TemporalConv":
        """A copy re-discretized for ``kernel_size`` taps over the same time window (no retraining)."""
        raise NotImplementedError


class PleiadesTemporalConv(TemporalConv):
    """PLEIADES temporal convolution: kernel = coeffs (out, in/g, N+1) @ basis (N+1, K).

    ``basis`` = discrete_basis(degree, K, alpha, beta, domain) / sqrt(scale_kernel_size * in/groups)
    (published scaling; ``scale_kernel_size`` defaults to K and is kept when re-sampling).
    ``contraction``: "kernel" (build kernels, then convolve), "project" (project the input onto the basis,
    then contract with the coefficients) or "auto" (the faster one measured on this machine for the input
    shape, see ``autotune_contraction``; cached).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        degree: int = 4,
        alpha: float = -0.25,
        beta: float = -0.25,
        domain: tuple[float, float] = (0.0, 1.0),
        groups: int = 1,
        scale_kernel_size: int | None = None,
        contraction: str = "auto",
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, groups)
        check_jacobi_params(degree, alpha, beta)
        self.degree = int(degree)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.domain = check_domain(domain)
        self.scale_kernel_size = int(scale_kernel_size or kernel_size)
        self.contraction = contraction
        self.coeffs = nn.Parameter(torch.empty(out_channels, in_channels // groups, degree + 1))
        # fixed basis: derived from the hyper-parameters (not saved in state_dicts), kept in float64 here and
        # cast to the parameters' dtype/device whenever the module moves
        self._basis64 = discrete_basis(self.degree, kernel_size, self.alpha, self.beta, self.domain) * self.scale
        self.register_buffer("basis", torch.from_numpy(self._basis64).to(torch.float32), persistent=False)
        self.reset_parameters()

    def _apply(self, fn, recurse=True):
        super()._apply(fn, recurse)
        dtype = self.coeffs.dtype if self.coeffs.dtype.is_floating_point else torch.float32
        self.basis = torch.from_numpy(self._basis64).to(device=self.coeffs.device, dtype=dtype)
        return self

    @property
    def contraction(self) -> str:
        return self._contraction

    @contraction.setter
    def contraction(self, value: str) -> None:
        if value not in CONTRACTIONS:
            raise PleiadesError(f"contraction must be one of {CONTRACTIONS}, got {value!r}")
        self._contraction = value

    @property
    def scale(self) -> float:
        """The published scale 1 / sqrt(scale_kernel_size * in/groups) folded into ``basis``."""
        return 1.0 / math.sqrt(self.scale_kernel_size * (self.in_channels // self.groups))

    def reset_parameters(self) -> None:
        """Coefficients ~ N(0, 1/(N+1)): with the published scale, outputs have roughly unit variance."""
        nn.init.normal_(self.coeffs, 0.0, 1.0 / math.sqrt(self.degree + 1))

    def extra_repr(self) -> str:
        return (super().extra_repr() + f", degree={self.degree}, alpha={self.alpha}, beta={self.beta}, "
                f"domain={self.domain}, scale_kernel_size={self.scale_kernel_size}, "
                f"contraction={self.contraction!r}")

    def kernel(self) -> Tensor:
        return self.coeffs @ self.basis

    def costs(self, x_shape: tuple[int, ...], pad: str = "valid", backward: bool = False,
              input_grad: bool = True) -> dict[str, ContractionCost]:
        """Cost model of both orders for an input of shape (B, C, T, H, W) (see ``contraction_costs``)."""
        b, _, t, h, w = x_shape
        t_out = t if pad == "causal" else t - self.kernel_size + 1
        return contraction_costs(self.in_channels, self.out_channels, self.groups, self.kernel_size,
                                 self.degree + 1, b * max(t_out, 0) * h * w, backward, input_grad)

    def order_for(self, x_shape: tuple[int, ...], pad: str = "valid", backward: bool = False,
                  input_grad: bool = True, weight_grad: bool = True) -> str:
        """The contraction order used for an input of this shape ("kernel" or "project").

        With "auto": the faster one measured on this machine (``autotune_contraction``, cached per shape),
        counting the backward pass when ``backward`` (gradients for the coefficients if ``weight_grad``, for
        the input if ``input_grad``). The cost model (``costs``) only describes MACs and memory.
        """
        if self.contraction != "auto":
            return self.contraction
        return autotune_contraction(self, tuple(x_shape), pad, backward and weight_grad, backward and input_grad)

    def _conv_project_first(self, x: Tensor, coeffs: Tensor | None = None) -> Tensor:
        """Project every input channel onto the basis (N+1 outputs), then contract with the coefficients."""
        b, c, t, h, w = x.shape
        nb, k, g = self.degree + 1, self.kernel_size, self.groups
        t_out, p = t - k + 1, h * w
        # z[b, c, n, (t, p)] = sum_k basis[n, k] * x[b, c, t + k, p]: one conv2d with N+1 output channels
        z = F.conv2d(x.reshape(b * c, 1, t, p), self.basis.reshape(nb, 1, k, 1))
        # y[b, o, (t, p)] = sum_{c in group(o), n} coeffs[o, c, n] * z[b, c, n, (t, p)]
        z = z.reshape(b, g, (c // g) * nb, t_out * p)
        coeffs = (self.coeffs if coeffs is None else coeffs).reshape(g, self.out_channels // g, (c // g) * nb)
        y = torch.matmul(coeffs, z)  # (B, g, out/g, T'*H*W)
        return y.reshape(b, self.out_channels, t_out, h, w)

    def _contract(self, xp: Tensor, order: str, coeffs: Tensor | None = None) -> Tensor:
        """The valid correlation of the padded input ``xp`` in contraction ``order`` (optionally with
        stand-in coefficients, used by the autotuner)."""
        if order == "kernel":
            return self._conv_kernel_first(xp, None if coeffs is None else coeffs @ self.basis)
        if order == "project":
            return self._conv_project_first(xp, coeffs)
        raise PleiadesError(f"contraction must be one of {CONTRACTIONS}, got {order!r}")

    def forward(self, x: Tensor, pad: str = "valid", contraction: str | None = None) -> Tensor:
        """(B, in, T, H, W) -> (B, out, T', H, W); ``contraction`` overrides the layer's setting."""
        xp = self._pad(x, pad)
        order = contraction or self.contraction
        if order == "auto":
            grad = torch.is_grad_enabled()
            order = autotune_contraction(self, tuple(x.shape), pad, grad and self.coeffs.requires_grad,
                                         grad and x.requires_grad)
        return self._contract(xp, order)

    def resampled(self, kernel_size: int) -> "PleiadesTemporalConv":
        """Same coefficients, basis rebuilt for ``kernel_size`` bins over the same window, old scale kept.

        With per-bin event counts as input (they scale with the bin width), the response to a signal is
        unchanged: each new tap is again the bin average of the same continuous kernel.
        """
        new = PleiadesTemporalConv(
            self.in_channels, self.out_channels, kernel_size, self.degree, self.alpha, self.beta,
            self.domain, self.groups, scale_kernel_size=self.scale_kernel_size, contraction=self.contraction,
        ).to(device=self.coeffs.device, dtype=self.coeffs.dtype)
        with torch.no_grad():
            new.coeffs.copy_(self.coeffs)
        return new


class FreeTemporalConv(TemporalConv):
    """Unstructured causal temporal convolution: trainable taps ``weight`` (out, in/groups, kernel_size).

    Baseline for re-sampling experiments: ``resampled`` treats the taps as samples of a continuous kernel at
    the bin centres of the window and linearly interpolates them at the new bin centres (constant
    extrapolation at the two ends). No rescaling: like PLEIADES taps (bin averages of a fixed continuous
    kernel), tap values do not depend on the bin width, so per-bin-count inputs keep their response.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, groups: int = 1) -> None:
        super().__init__(in_channels, out_channels, kernel_size, groups)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, kernel_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Taps ~ N(0, 1/(K * in/groups)) (unit-variance outputs for unit-variance inputs)."""
        nn.init.normal_(self.weight, 0.0, 1.0 / math.sqrt(self.kernel_size * (self.in_channels // self.groups)))

    def kernel(self) -> Tensor:
        return self.weight

    def resampled(self, kernel_size: int) -> "FreeTemporalConv":
        """Linear interpolation of the taps from the old to the new bin centres of the same window."""
        new = FreeTemporalConv(self.in_channels, self.out_channels, kernel_size, self.groups).to(
            device=self.weight.device, dtype=self.weight.dtype)
        old_c = (np.arange(self.kernel_size) + 0.5) / self.kernel_size
        new_c = (np.arange(kernel_size) + 0.5) / kernel_size
        # interpolation matrix M (old K, new K): new = old @ M
        m = np.zeros((self.kernel_size, kernel_size))
        for j, c in enumerate(new_c):
            if c <= old_c[0]:
                m[0, j] = 1.0
            elif c >= old_c[-1]:
                m[-1, j] = 1.0
            else:
                i = int(np.searchsorted(old_c, c)) - 1
                f = (c - old_c[i]) / (old_c[i + 1] - old_c[i])
                m[i, j], m[i + 1, j] = 1.0 - f, f
        with torch.no_grad():
            new.weight.copy_(self.weight @ torch.as_tensor(m, dtype=self.weight.dtype, device=self.weight.device))
        return new
