"""The integer arithmetic of the flow, its one home: two's-complement ranges and widths, round-half-even shifts,
requantization (docs/ARCHITECTURE.md, "Integer arithmetic").

``pleiades_fpga.quant`` (format analysis) and every hardware stage import it; it imports only numpy and the
error types.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pleiades_fpga.errors import UnsupportedModelError

MAX_MULTIPLIER_BITS = 16


def int_range(bits: int, signed: bool, narrow: bool = False) -> tuple[int, int]:
    """(lo, hi) of a ``bits``-wide integer (two's complement if signed; narrow drops -2**(b-1))."""
    if signed:
        return -(2 ** (bits - 1)) + (1 if narrow else 0), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def signed_bits_for(lo: int, hi: int) -> int:
    """Minimal two's-complement width holding every integer in [lo, hi]."""
    n = 1
    while not (-(2 ** (n - 1)) <= lo and hi <= 2 ** (n - 1) - 1):
        n += 1
    return n


def round_shift(v: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """round_half_even(v / 2**shift) for int64 ``v`` and non-negative int64 ``shift`` (broadcast).

    For S > 0: ``(v + 2**(S-1) - 1 + ((v >> S) & 1)) >> S`` (arithmetic shifts, i.e. floor division): adds
    just under one half, plus one more unit when the truncated quotient is odd, so exact ties go to even.
    """
    v = np.asarray(v, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    if not np.any(shift):
        return v.copy()
    pos = shift > 0
    bias = np.where(pos, np.left_shift(np.int64(1), np.maximum(shift - 1, 0)) - 1, 0)
    return np.right_shift(v + bias + (np.right_shift(v, shift) & pos.astype(np.int64)), shift)


def requantize(acc: np.ndarray, multiplier: np.ndarray, shift: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """clamp(round_half_even(acc * M / 2**S), lo, hi) per channel (last axis), int64."""
    return np.clip(round_shift(np.asarray(acc, dtype=np.int64) * multiplier, shift), lo, hi)


def requant_params(ratio: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """M, S with M / 2**S == ratio exactly, per channel (M >= 1 an integer, S >= 0).

    Every float is a dyadic rational p / 2**s; power-of-two scales give M = 1 (or 2**e), dyadic weight
    scales (``scaling = "dyadic"``) give M = the odd weight mantissa. A ratio whose M would need more than
    ``MAX_MULTIPLIER_BITS`` bits (a float scale that is not a short dyadic number) is rejected.
    """
    mult, shift = [], []
    for r in np.ravel(ratio).astype(np.float64):
        if not np.isfinite(r) or r <= 0:
            raise UnsupportedModelError(f"{what}: requantization scale ratio {r!r} is not a positive number")
        num, den = float(r).as_integer_ratio()
        if num.bit_length() > MAX_MULTIPLIER_BITS:
            raise UnsupportedModelError(
                f"{what}: requantization scale ratio {r!r} needs a {num.bit_length()}-bit fixed-point multiplier "
                f"(at most {MAX_MULTIPLIER_BITS}); use power-of-two scales (scaling = 'pot') or dyadic weight "
                "scales with few mantissa bits (scaling = 'dyadic', mantissa_bits <= 8) and power-of-two "
                "activation scales"
            )
        mult.append(num)
        shift.append(den.bit_length() - 1)
    return np.array(mult, dtype=np.int64), np.array(shift, dtype=np.int64)


# ---- causal GroupNorm (docs/GROUPNORM.md: the one definition; every stage calls these or is tested against them)

GN_P = 16  # default rsqrt precision P (fraction bits of R / 2**k)
GN_M_BITS = 16  # |M[c]| < 2**(GN_M_BITS - 1): a signed 16-bit per-channel multiplier
GN_MAX_SHIFT = 48  # S[c] <= GN_MAX_SHIFT
GN_MAX_ACC_BITS = 62  # int64 golden model: accumulators above this many (signed) bits are refused
GN_STATS = ("frame", "previous")  # exact per-frame statistics / the previous frame's (no frame buffer)


def rsqrt_fixed(V: np.ndarray, P: int = GN_P) -> tuple[np.ndarray, np.ndarray]:
    """(R, k) per element of ``V`` (integers >= 1): ``k = ceil(bitlen(V) / 2)`` (4**(k-1) <= V < 4**k) and ``R`` the
    largest integer with ``R*R*V <= 4**(P+k)``, i.e. floor(2**(P+k) / sqrt(V)); 2**P <= R <= 2**(P+1). Exact
    (Python integers: 4**(P+k) may exceed int64); both int64 arrays of V's shape."""
    v = np.asarray(V, dtype=np.int64)
    if v.size and int(v.min()) < 1:
        raise ValueError(f"rsqrt_fixed: V must be >= 1, got {int(v.min())}")
    if P < 0:
        raise ValueError(f"rsqrt_fixed: P must be >= 0, got {P}")
    r = np.empty(v.shape, np.int64)
    k = np.empty(v.shape, np.int64)
    flat_r, flat_k = r.reshape(-1), k.reshape(-1)
    for i, vi in enumerate(v.reshape(-1).tolist()):
        ki = (vi.bit_length() + 1) // 2
        flat_k[i] = ki
        flat_r[i] = math.isqrt((1 << (2 * (P + ki))) // vi)  # R*R <= 4**(P+k) / V  <=>  R*R <= floor(...)
    return r, k


@dataclass
class GroupNormStats:
    """Statistics of the last frame per (batch, group), the state of ``stats="previous"``: S1 = sum x and
    D = n*S2 - S1*S1, int64 (B, G); ``valid`` (B,) bool is False after reset (no previous frame yet: the first frame's
    normalized value d is 0, so y = clamp(round_half_even(B[c] / 2**S[c])))."""

    s1: np.ndarray
    d: np.ndarray
    valid: np.ndarray

    @classmethod
    def reset(cls, batch: int, groups: int) -> "GroupNormStats":
        return cls(np.zeros((batch, groups), np.int64), np.zeros((batch, groups), np.int64), np.zeros(batch, bool))


def groupnorm_int(x: np.ndarray, groups: int, E: int, M: np.ndarray, S: np.ndarray, B: np.ndarray, lo: int, hi: int,
                  P: int = GN_P, stats: str = "frame",
                  state: GroupNormStats | None = None) -> tuple[np.ndarray, GroupNormStats]:
    """Integer causal GroupNorm of frames ``x`` (B, T, H, W, C) channel-last ints -> (y int64 same shape, state).

    Per frame and group g (C/groups channels, n = C/groups*H*W elements)::

        S1 = sum x;  D = n*sum(x*x) - S1*S1;  V = max(D + E, 1);  (R, k) = rsqrt_fixed(V, P)
        y  = clamp(round_half_even((d*R*M[c] + (B[c] << (P+k))) / 2**(P+k+S[c])), lo, hi),  d = n*x - S1

    ``stats="frame"``: S1, D of the frame itself (exact GroupNorm). ``stats="previous"``: those of the frame
    before it (``state``: the last frame's statistics of a previous call, None = reset: the first frame after a reset
    has no statistics and is normalized to d = 0, i.e. y = clamp(round(B / 2**S))). ``lo = 0``
    fuses a ReLU. The returned state holds the statistics of the last frame (for the next call). An accumulator
    that could leave int64 is refused (``groupnorm_acc_bits`` gives the static width).
    """
    if stats not in GN_STATS:
        raise UnsupportedModelError(f"groupnorm: stats must be one of {GN_STATS}, got {stats!r}")
    x = np.asarray(x, dtype=np.int64)
    if x.ndim != 5:
        raise UnsupportedModelError(f"groupnorm_int: x must be (B, T, H, W, C), got shape {x.shape}")
    b, t_len, h, w, c = x.shape
    if groups < 1 or c % groups:
        raise UnsupportedModelError(f"groupnorm: {c} channels are not divisible into {groups} groups")
    M = np.asarray(M, np.int64).reshape(c)
    S = np.asarray(S, np.int64).reshape(c)
    B = np.asarray(B, np.int64).reshape(c)
    cg = c // groups
    n = cg * h * w
    xg = x.reshape(b, t_len, h * w, groups, cg)
    s1 = xg.sum(axis=(2, 4))  # (B, T, G)
    d_all = n * (xg * xg).sum(axis=(2, 4)) - s1 * s1
    prev = state if state is not None else GroupNormStats.reset(b, groups)
    if stats == "previous":
        s1_use = np.concatenate([prev.s1[:, None], s1[:, :-1]], axis=1)
        d_use = np.concatenate([prev.d[:, None], d_all[:, :-1]], axis=1)
    else:
        s1_use, d_use = s1, d_all
    r, k = rsqrt_fixed(np.maximum(d_use + int(E), 1), P)  # (B, T, G)
    dev = n * xg - s1_use[:, :, None, :, None]  # (B, T, HW, G, cg)
    if stats == "previous" and t_len and not prev.valid.all():
        dev[~prev.valid, 0] = 0  # first frame after reset: no statistics, normalized value 0
    bound = int(np.abs(dev).max(initial=0)) * int(r.max(initial=0)) * int(np.abs(M).max(initial=0)) + \
        int(np.abs(B).max(initial=0)) * 2 ** (P + int(k.max(initial=0)))
    if bound >= 2**63:
        raise UnsupportedModelError(f"groupnorm: accumulator {bound.bit_length() + 1} bits exceeds int64; "
                                    "lower P or the input width")
    mg, bg, sg = M.reshape(groups, cg), B.reshape(groups, cg), S.reshape(groups, cg)
    pk = P + k[:, :, None, :, None]
    acc = dev * r[:, :, None, :, None] * mg + np.left_shift(bg, pk)
    y = np.clip(round_shift(acc, pk + sg), lo, hi).reshape(x.shape)
    last = GroupNormStats(s1[:, -1].copy(), d_all[:, -1].copy(), np.ones(b, bool)) if t_len else prev
    return y, last


def _gn_bounds(n: int, x_lo: int, x_hi: int, E: int, P: int) -> tuple[int, int, int]:
    """(max|d|, largest V, k_max) of a group of n elements in [x_lo, x_hi]."""
    sq = max(x_lo * x_lo, x_hi * x_hi)
    v_max = max(n * (n * sq) + int(E), 1)  # D <= n*S2 <= n*n*max(x^2)
    return n * (x_hi - x_lo), v_max, (v_max.bit_length() + 1) // 2


def _gn_channel_bound(d_max: int, k_max: int, P: int, m: int, b: int) -> int:
    """Largest |d*R*M + (B << (P+k))| of one channel with multiplier ``m`` and bias ``b`` (``_gn_bounds``)."""
    return d_max * 2 ** (P + 1) * abs(int(m)) + abs(int(b)) * 2 ** (P + k_max)


def groupnorm_acc_bits(n: int, x_bits: int, x_signed: bool, M: np.ndarray, B: np.ndarray, E: int, P: int = GN_P,
                       name: str = "groupnorm") -> int:
    """Signed width of the GroupNorm accumulator ``d*R*M[c] + (B[c] << (P+k))`` (and of D) for any input in range,
    the largest over the channels c (``M``, ``B``: per channel, or one value for all); above ``GN_MAX_ACC_BITS`` the
    layer ``name`` is refused (lower P or the input width). Per channel, as ``groupnorm_params`` chooses each
    channel's shift: max|M| and max|B| of two different channels never meet in one accumulator."""
    lo, hi = int_range(x_bits, x_signed)
    d_max, v_max, k_max = _gn_bounds(int(n), lo, hi, int(E), int(P))
    m_c, b_c = np.broadcast_arrays(np.asarray(M, np.int64).reshape(-1), np.asarray(B, np.int64).reshape(-1))
    bound = max([_gn_channel_bound(d_max, k_max, P, m, b) for m, b in zip(m_c, b_c)] + [v_max])
    bits = signed_bits_for(-bound, bound)
    if bits > GN_MAX_ACC_BITS:
        raise UnsupportedModelError(
            f"GroupNorm layer {name}: accumulator needs {bits} bits (at most {GN_MAX_ACC_BITS}: n={n} elements per "
            f"group, {x_bits}-bit input, P={P}); lower P (quant config groupnorm_p) or the input width, or use "
            "more groups or smaller frames")
    return bits


def groupnorm_params(gamma: np.ndarray, beta: np.ndarray, eps: float, s_x: float, s_y: float, n: int, x_bits: int,
                     x_signed: bool, P: int = GN_P,
                     name: str = "groupnorm") -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """(E, M, S, B) of a float GroupNorm (affine gamma, beta, eps) between input scale s_x and output scale s_y.

    ``E = round(n*n*eps / s_x**2)``; per channel ``M / 2**S ~= gamma / s_y`` and ``B = round(beta / s_y * 2**S)``
    with S the largest shift in [0, GN_MAX_SHIFT] such that |M| < 2**15 and the accumulator stays within
    ``GN_MAX_ACC_BITS`` bits (so a tiny gamma does not blow up B). A channel that needs S < 0 is refused naming
    the layer; the width check is ``groupnorm_acc_bits``.
    """
    gamma = np.asarray(gamma, np.float64).reshape(-1)
    beta = np.asarray(beta, np.float64).reshape(-1)
    for what, v in (("gamma", gamma), ("beta", beta), ("eps", eps), ("s_x", s_x), ("s_y", s_y)):
        if not np.all(np.isfinite(v)):
            raise UnsupportedModelError(f"GroupNorm layer {name}: {what} is not finite")
    if s_x <= 0 or s_y <= 0 or eps < 0 or n < 1:
        raise UnsupportedModelError(f"GroupNorm layer {name}: need s_x > 0, s_y > 0, eps >= 0, n >= 1 "
                                    f"(got s_x={s_x}, s_y={s_y}, eps={eps}, n={n})")
    E = int(round(n * n * float(eps) / float(s_x) ** 2))
    lo, hi = int_range(x_bits, x_signed)
    d_max, v_max, k_max = _gn_bounds(int(n), lo, hi, E, int(P))
    if v_max.bit_length() + 1 > GN_MAX_ACC_BITS:
        groupnorm_acc_bits(n, x_bits, x_signed, [0], [0], E, P, name)  # raises with the reason
    m_lim = 2 ** (GN_M_BITS - 1)
    acc_lim = 2 ** (GN_MAX_ACC_BITS - 1)
    M, S, B = (np.zeros(gamma.size, np.int64) for _ in range(3))
    for c, (g, bt) in enumerate(zip(gamma.tolist(), beta.tolist())):
        for s in range(GN_MAX_SHIFT, -1, -1):
            m, b_ = int(np.round(g / s_y * 2.0**s)), int(np.round(bt / s_y * 2.0**s))
            if abs(m) < m_lim and _gn_channel_bound(d_max, k_max, P, m, b_) < acc_lim:
                M[c], S[c], B[c] = m, s, b_
                break
        else:
            raise UnsupportedModelError(
                f"GroupNorm layer {name}, channel {c}: gamma/s_y = {g / s_y:.4g}, beta/s_y = {bt / s_y:.4g} need a "
                f"multiplier of {GN_M_BITS} bits or more at shift 0; raise the output scale s_y (a wider output "
                "quantizer range)")
    groupnorm_acc_bits(n, x_bits, x_signed, M, B, E, P, name)
    return E, M, S, B
