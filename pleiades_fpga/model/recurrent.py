"""Recurrent polynomial-projection temporal layers (issue #6; math in docs/RECURRENT.md).

A PLEIADES temporal layer ``y_o[t] = sum_c sum_k kernel[o,c,k] x_c[t-K+1+k]`` with
``kernel[o,c,:] = gamma[o,c,:] @ basis`` (basis (D, K), D = N+1) is replaced by

1. a **projection** per input channel c (matrices shared by the layer): ``s_c[t] = A s_c[t-1] + B x_c[t]``,
   s in R^D, zero state at reset; its impulse responses ``g[:, j] = A^j B`` (age j) span a D-dimensional
   space of causal sequences that approximates the span of the (reversed, zero-padded) basis rows;
2. a **readout**: an ordinary 1x1x1 conv over the C*D state channels (channel ``c*D + n``, groups 1 for
   a full layer, ``in_channels`` for a depthwise one), weights ``Cr[o, c, :]``.

``fit_recurrence`` chooses (A, B) by least squares on impulse responses (a LegT start, then L-BFGS), and
a similarity transform that makes the state responses orthonormal and aligned with the normalized basis
(so the states are near the basis coefficients of the last window and have comparable magnitudes).
``basis_readout`` maps basis coefficients gamma to readout weights (linear, ``Cr = gamma @ M``).

``RecurrentTemporalConv`` is the float module: ``forward(x, pad, mode)`` with ``mode="scan"`` (the
reference recurrence) or ``"conv"`` (one causal conv with the impulse responses over the whole clip:
exact for a zero initial state, faster for training), ``init_state``/``step`` for streaming.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.model.polynomials import check_domain, check_jacobi_params, discrete_basis
from pleiades_fpga.model.temporal import PleiadesTemporalConv, TemporalConv, check_pad

PROJECT_MODES = ("auto", "scan", "conv")


@dataclass(frozen=True)
class RecurrenceFit:
    """(A, B) of a projection, the map from basis coefficients to readout weights, and the fit quality.

    ``readout_map`` M (D, D): readout weights ``Cr[o, c, :] = gamma[o, c, :] @ M`` (least squares over
    ``horizon`` taps, the tail after K counted as error); ``basis_errors``: relative L2 impulse-response
    error of each basis row; ``spectral_radius`` of A (< 1: the tail decays geometrically).
    """

    A: np.ndarray
    B: np.ndarray
    readout_map: np.ndarray
    horizon: int
    basis_errors: np.ndarray
    spectral_radius: float


def impulse_responses(A: np.ndarray, B: np.ndarray, horizon: int) -> np.ndarray:
    """(D, horizon): column j = A^j B, the state j frames after a unit input."""
    A = np.asarray(A, dtype=np.float64)
    s = np.asarray(B, dtype=np.float64).copy()
    out = np.empty((s.shape[0], horizon))
    for j in range(horizon):
        out[:, j] = s
        s = A @ s
    return out


def reversed_basis(basis: np.ndarray, horizon: int) -> np.ndarray:
    """(D, horizon): row n = basis[n] by age (age j = tap K-1-j), zero after K (the finite window)."""
    d, k = basis.shape
    out = np.zeros((d, max(horizon, k)))
    out[:, :k] = basis[:, ::-1]
    return out[:, :horizon]


def legt_recurrence(basis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Discrete LegT-style (A, B): least-squares coefficients of the window, shifted and re-projected.

    E = basis.T (K, D); A = E^+ Sh E (Sh drops the oldest tap), B = E^+ e_new.
    """
    e = np.asarray(basis, dtype=np.float64).T
    k = e.shape[0]
    ep = np.linalg.pinv(e)
    sh = np.zeros((k, k))
    sh[np.arange(k - 1), np.arange(1, k)] = 1.0
    return ep @ sh @ e, ep[:, k - 1].copy()


def _residual(A: Tensor, B: Tensor, target: Tensor, horizon: int) -> Tensor:
    """Squared residual of each target row (D, H) after projection onto the span of A^j B (j < H)."""
    cols = []
    s = B
    for _ in range(horizon):
        cols.append(s)
        s = A @ s
    q, _ = torch.linalg.qr(torch.stack(cols, 1).T)  # (H, D), orthonormal columns
    res = target.T - q @ (q.T @ target.T)
    return (res**2).sum(0)


def fit_recurrence(basis: np.ndarray, weight: np.ndarray | None = None, horizon: int | None = None,
                   iterations: int = 500) -> RecurrenceFit:
    """Fit (A, B) so that the impulse responses span the finite-window basis best (see module docstring).

    ``basis`` (D, K) (any row scaling); ``weight`` (D, D) positive semi-definite: importance of directions
    in normalized-basis coefficient space (e.g. the covariance of a trained layer's coefficients), identity
    by default; ``horizon`` taps of the error (default 4K). Deterministic (LegT start, L-BFGS in float64).
    """
    basis = np.asarray(basis, dtype=np.float64)
    d, k = basis.shape
    horizon = int(horizon or 4 * k)
    norms = np.linalg.norm(basis, axis=1)
    target = reversed_basis(basis / norms[:, None], horizon)  # normalized rows
    w = np.eye(d) if weight is None else np.asarray(weight, dtype=np.float64)
    w = w / max(np.trace(w), 1e-300) * d
    # weighted target: rows of L^T T with W = L L^T, so sum of residuals = trace(W T (I-P) T^T)
    evals, evecs = np.linalg.eigh((w + w.T) / 2)
    lt = (evecs * np.sqrt(np.clip(evals, 0, None))).T
    tgt = torch.tensor(lt @ target)
    a0, b0 = legt_recurrence(basis)
    with torch.enable_grad():
        a = torch.tensor(a0, requires_grad=True)
        b = torch.tensor(b0, requires_grad=True)
        opt = torch.optim.LBFGS([a, b], lr=0.5, max_iter=iterations, line_search_fn="strong_wolfe",
                                tolerance_grad=1e-12, tolerance_change=1e-14)

        def closure() -> Tensor:
            opt.zero_grad()
            loss = _residual(a, b, tgt, horizon).sum()
            loss.backward()
            return loss

        opt.step(closure)
    a_fit, b_fit = a.detach().numpy(), b.detach().numpy()
    if not np.all(np.isfinite(a_fit)) or max(abs(np.linalg.eigvals(a_fit))) >= 1.0:
        a_fit, b_fit = a0, b0  # fall back to the LegT recurrence
    a_fit, b_fit = _balance(a_fit, b_fit, target, horizon)
    g = impulse_responses(a_fit, b_fit, horizon)
    full = reversed_basis(basis, horizon)
    m, *_ = np.linalg.lstsq(g.T, full.T, rcond=None)  # full ~ m.T @ g
    errors = np.linalg.norm(full - m.T @ g, axis=1) / np.linalg.norm(full, axis=1)
    rho = float(max(abs(np.linalg.eigvals(a_fit))))
    return RecurrenceFit(a_fit, b_fit, m.T.copy(), horizon, errors, rho)


def _balance(A: np.ndarray, B: np.ndarray, target: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Similarity transform: state responses orthonormal (over a long horizon) and closest to ``target`` rows."""
    rho = float(max(abs(np.linalg.eigvals(A))))
    long = max(horizon, int(math.ceil(math.log(1e-12) / math.log(max(rho, 1e-3)))) + 1)
    g = impulse_responses(A, B, long)
    gram = g @ g.T
    evals, evecs = np.linalg.eigh(gram)
    w_inv_half = evecs @ np.diag(evals**-0.5) @ evecs.T
    g0 = w_inv_half @ g
    tp = np.zeros((target.shape[0], long))
    tp[:, : target.shape[1]] = target
    u, _, vt = np.linalg.svd(tp @ g0.T)
    rot = u @ vt  # orthogonal Procrustes: rot @ g0 closest to the target
    t = rot @ w_inv_half
    return t @ A @ np.linalg.inv(t), t @ B


@functools.lru_cache(maxsize=64)
def _cached_fit(degree: int, kernel_size: int, alpha: float, beta: float, domain: tuple[float, float],
                scale: float) -> RecurrenceFit:
    return fit_recurrence(discrete_basis(degree, kernel_size, alpha, beta, domain) * scale)


def layer_basis(layer: "PleiadesTemporalConv | RecurrentTemporalConv") -> np.ndarray:
    """The (scaled) float64 basis (D, K) of a PLEIADES or recurrent layer."""
    return discrete_basis(layer.degree, layer.kernel_size, layer.alpha, layer.beta, layer.domain) * layer.scale


def impulse_error(kernel: np.ndarray, A: np.ndarray, B: np.ndarray, readout: np.ndarray,
                  horizon: int | None = None) -> float:
    """Relative L2 error of the recurrent impulse responses vs the finite kernels, tail after K counted.

    ``kernel`` (O, I, K) taps (tap 0 oldest); ``readout`` (O, I, D); horizon default 4K taps.
    sqrt(sum_oc ||h_oc - k_oc||^2 / sum_oc ||k_oc||^2) with h_oc[j] = readout[o,c] . A^j B.
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    k = kernel.shape[-1]
    horizon = int(horizon or 4 * k)
    g = impulse_responses(A, B, horizon)
    h = np.asarray(readout, dtype=np.float64) @ g  # (O, I, H)
    ref = np.zeros_like(h)
    ref[..., :k] = kernel[..., ::-1]
    return float(np.sqrt(((h - ref) ** 2).sum() / max((ref**2).sum(), 1e-300)))


class RecurrentTemporalConv(TemporalConv):
    """Recurrent PLEIADES temporal layer: projection (buffers ``A``, ``B``) + 1x1x1 ``readout`` conv.

    Same hyper-parameters as ``PleiadesTemporalConv`` (they define the basis the recurrence approximates).
    ``A`` (D, D) and ``B`` (D,) are float64 buffers saved in the state_dict (the fit is stored, not redone);
    ``readout.weight`` (out, in/g * D, 1, 1, 1) is trainable. Fresh layers use the unweighted fit and
    readout weights from random basis coefficients (the same distribution as a fresh PLEIADES layer).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, degree: int = 4,
                 alpha: float = -0.25, beta: float = -0.25, domain: tuple[float, float] = (0.0, 1.0),
                 groups: int = 1, scale_kernel_size: int | None = None, mode: str = "auto",
                 fit: RecurrenceFit | None = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, groups)
        check_jacobi_params(degree, alpha, beta)
        self.degree, self.alpha, self.beta = int(degree), float(alpha), float(beta)
        self.domain = check_domain(domain)
        self.scale_kernel_size = int(scale_kernel_size or kernel_size)
        self.mode = mode
        d = self.degree + 1
        fit = fit or _cached_fit(self.degree, kernel_size, self.alpha, self.beta, self.domain, self.scale)
        self.register_buffer("A", torch.tensor(fit.A, dtype=torch.float64))
        self.register_buffer("B", torch.tensor(fit.B, dtype=torch.float64))
        self.readout = nn.Conv3d(in_channels * d, out_channels, 1, groups=groups, bias=False)
        with torch.no_grad():
            gamma = torch.randn(out_channels, in_channels // groups, d) / math.sqrt(d)
            self.set_basis_coefficients(gamma, fit.readout_map)

    @property
    def num_states(self) -> int:
        return self.degree + 1

    @property
    def scale(self) -> float:
        """The published basis scale 1 / sqrt(scale_kernel_size * in/groups) (as in PleiadesTemporalConv)."""
        return 1.0 / math.sqrt(self.scale_kernel_size * (self.in_channels // self.groups))

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in PROJECT_MODES:
            raise PleiadesError(f"recurrent projection mode must be one of {PROJECT_MODES}, got {value!r}")
        self._mode = value

    def extra_repr(self) -> str:
        return (super().extra_repr() + f", states={self.num_states}, degree={self.degree}, alpha={self.alpha}, "
                f"beta={self.beta}, domain={self.domain}, mode={self.mode!r}")

    def set_basis_coefficients(self, gamma: Tensor, readout_map: np.ndarray) -> None:
        """readout[o, c, :] = gamma[o, c, :] @ readout_map (gamma (out, in/g, D) basis coefficients)."""
        m = torch.as_tensor(readout_map, dtype=torch.float64)
        cr = (gamma.double() @ m).to(self.readout.weight.dtype)
        self.readout.weight.copy_(cr.reshape(self.readout.weight.shape))

    def readout_matrix(self) -> Tensor:
        """Cr (out, in/g, D)."""
        return self.readout.weight.reshape(self.out_channels, self.in_channels // self.groups, self.num_states)

    def impulse_response(self, horizon: int | None = None) -> Tensor:
        """(out, in/g, horizon) responses by age: h[o, c, j] = Cr[o, c] . A^j B."""
        g = impulse_responses(self.A.cpu().numpy(), self.B.cpu().numpy(), int(horizon or 4 * self.kernel_size))
        return self.readout_matrix() @ torch.as_tensor(g, dtype=self.readout.weight.dtype,
                                                         device=self.readout.weight.device)

    def kernel(self) -> Tensor:
        """The first K taps of the impulse response as a finite kernel (tap 0 oldest; the tail is dropped)."""
        return self.impulse_response(self.kernel_size)[..., :self.kernel_size].flip(-1)

    # -- projection -------------------------------------------------------------------------------------
    def _mats(self, dtype: torch.dtype, device) -> tuple[Tensor, Tensor]:
        return self.A.to(device=device, dtype=dtype), self.B.to(device=device, dtype=dtype)

    def project(self, x: Tensor, mode: str | None = None) -> Tensor:
        """States of a clip from a zero state: (B, C, T, H, W) -> (B, C*D, T, H, W), channel c*D+n."""
        mode = mode or self.mode
        if mode == "auto":
            mode = "conv" if x.shape[2] <= 256 else "scan"
        b, c, t, h, w = x.shape
        d = self.num_states
        a_m, b_v = self._mats(x.dtype, x.device)
        if mode == "scan":
            s = x.new_zeros(b, c, d, h, w)
            outs = []
            for i in range(t):
                s = torch.einsum("nm,bcmhw->bcnhw", a_m, s) + b_v.view(1, 1, d, 1, 1) * x[:, :, i, None]
                outs.append(s)
            return torch.stack(outs, dim=3).reshape(b, c * d, t, h, w)
        if mode != "conv":
            raise PleiadesError(f"recurrent projection mode must be one of {PROJECT_MODES}, got {mode!r}")
        g = impulse_responses(self.A.cpu().numpy(), self.B.cpu().numpy(), t)  # (D, T) by age
        taps = torch.as_tensor(g[:, ::-1].copy(), dtype=x.dtype, device=x.device)  # tap 0 oldest
        xp = F.pad(x, (0, 0, 0, 0, t - 1, 0)).reshape(b * c, 1, 2 * t - 1, h * w)
        z = F.conv2d(xp, taps.reshape(d, 1, t, 1))  # (B*C, D, T, H*W)
        return z.reshape(b, c * d, t, h, w)

    def forward(self, x: Tensor, pad: str = "valid", mode: str | None = None) -> Tensor:
        """(B, in, T, H, W) -> (B, out, T', H, W): T' = T (causal) or T - K + 1 (valid: the first K-1 outputs,
        whose window is incomplete, are dropped; the states still start from zero)."""
        if x.dim() != 5 or x.shape[1] != self.in_channels:
            raise PleiadesError(
                f"temporal layer expects (batch, {self.in_channels}, time, height, width), got {tuple(x.shape)}")
        y = self.readout(self.project(x, mode))
        if check_pad(pad) == "valid":
            if x.shape[2] < self.kernel_size:
                raise PleiadesError(f"valid temporal convolution needs at least kernel_size={self.kernel_size} "
                                    f"frames, got {x.shape[2]}; use pad='causal' or a longer clip")
            y = y[:, :, self.kernel_size - 1:]
        return y

    def init_state(self, batch: int, height: int, width: int, device=None, dtype=None) -> Tensor:
        """Zero projection state (batch, in, D, height, width)."""
        ref = self.readout.weight
        return torch.zeros(batch, self.in_channels, self.num_states, height, width,
                           device=device or ref.device, dtype=dtype or ref.dtype)

    def step(self, frame: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """One frame (B, in, H, W) -> (output (B, out, H, W), new state): s = A s + B x, y = readout(s)."""
        a_m, b_v = self._mats(frame.dtype, frame.device)
        d = self.num_states
        s = torch.einsum("nm,bcmhw->bcnhw", a_m, state) + b_v.view(1, 1, d, 1, 1) * frame[:, :, None]
        b, c, _, h, w = s.shape
        y = self.readout(s.reshape(b, c * d, 1, h, w))[:, :, 0]
        return y, s

    def basis_coefficients(self) -> Tensor:
        """gamma (out, in/g, D) that reproduces the readout through this layer's basis fit (least squares)."""
        horizon = 4 * self.kernel_size
        g = impulse_responses(self.A.cpu().numpy(), self.B.cpu().numpy(), horizon)
        m, *_ = np.linalg.lstsq(g.T, reversed_basis(layer_basis(self), horizon).T, rcond=None)
        # Cr = gamma @ M with M = m.T (basis -> states); solve M.T gamma.T = Cr.T by least squares
        cr = self.readout_matrix().detach().double().cpu().numpy()
        gam, *_ = np.linalg.lstsq(m, cr.reshape(-1, self.num_states).T, rcond=None)
        return torch.as_tensor(gam.T.reshape(cr.shape))

    def resampled(self, kernel_size: int) -> "RecurrentTemporalConv":
        """Re-discretized for ``kernel_size`` bins over the same window: the equivalent PLEIADES layer
        (basis coefficients by least squares) re-sampled, then converted back (unweighted fit)."""
        ref = self.to_pleiades().resampled(kernel_size)
        return from_pleiades(ref, weighted=False)

    def to_pleiades(self) -> PleiadesTemporalConv:
        """The buffer (finite-window) layer whose coefficients best match this layer's readout."""
        layer = PleiadesTemporalConv(self.in_channels, self.out_channels, self.kernel_size, self.degree, self.alpha,
                                     self.beta, self.domain, self.groups, self.scale_kernel_size)
        with torch.no_grad():
            layer.coeffs.copy_(self.basis_coefficients().to(layer.coeffs.dtype))
        return layer


def coefficient_weight(layer: PleiadesTemporalConv, basis: np.ndarray) -> np.ndarray:
    """Weight for ``fit_recurrence`` from a trained layer: covariance of its coefficients in normalized-basis
    coordinates, mixed half-and-half with the identity (so untrained directions keep a good fit)."""
    norms = np.linalg.norm(basis, axis=1)
    gam = layer.coeffs.detach().double().cpu().numpy().reshape(-1, basis.shape[0]) * norms
    cov = gam.T @ gam
    d = basis.shape[0]
    return 0.5 * cov / max(np.trace(cov), 1e-300) * d + 0.5 * np.eye(d)


def from_pleiades(layer: PleiadesTemporalConv, weighted: bool = True, horizon: int | None = None,
                  mode: str = "auto") -> RecurrentTemporalConv:
    """Convert a (trained) PLEIADES layer: fit (A, B) (weighted by its coefficients unless ``weighted=False``)
    and set the readout to the least-squares readout of its kernels (``Cr = gamma @ M``)."""
    if not isinstance(layer, PleiadesTemporalConv):
        raise PleiadesError(f"only PLEIADES temporal layers can be made recurrent, got {type(layer).__name__}")
    basis = layer_basis(layer)
    fit = fit_recurrence(basis, coefficient_weight(layer, basis), horizon) if weighted else \
        _cached_fit(layer.degree, layer.kernel_size, layer.alpha, layer.beta, layer.domain, layer.scale)
    new = RecurrentTemporalConv(layer.in_channels, layer.out_channels, layer.kernel_size, layer.degree, layer.alpha,
                                layer.beta, layer.domain, layer.groups, layer.scale_kernel_size, mode, fit=fit)
    new = new.to(device=layer.coeffs.device, dtype=layer.coeffs.dtype)
    with torch.no_grad():
        new.set_basis_coefficients(layer.coeffs.detach(), fit.readout_map)
    return new
