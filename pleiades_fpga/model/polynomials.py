"""Jacobi polynomials and their exact bin averages (the discrete PLEIADES basis).

The temporal kernel of a PLEIADES layer is ``k(x) = sum_n gamma_n P_n^(alpha,beta)(x)`` over a window
that is mapped onto ``domain`` of the Jacobi argument ``x``. Tap ``i`` of the discretized kernel is the
average of ``k`` over the ``i``-th of ``kernel_size`` equal bins (tap 0 = oldest = left end of the
domain), computed exactly from the antiderivative (polynomial arithmetic in float64).
"""
from __future__ import annotations

import math

import numpy as np
from numpy.polynomial import Polynomial

from pleiades_fpga.errors import PleiadesError


def check_jacobi_params(degree: int, alpha: float, beta: float) -> None:
    """Raise PleiadesError unless degree >= 0 is an integer and alpha, beta > -1 are finite."""
    if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)) or degree < 0:
        raise PleiadesError(f"polynomial degree must be an integer >= 0, got {degree!r}")
    for name, value in (("alpha", alpha), ("beta", beta)):
        if not isinstance(value, (int, float, np.floating, np.integer)) or not math.isfinite(value) or value <= -1:
            raise PleiadesError(
                f"Jacobi parameter {name} must be a finite number > -1 (the weight (1-x)^alpha (1+x)^beta "
                f"must be integrable), got {value!r}"
            )


def jacobi_polynomials(degree: int, alpha: float, beta: float) -> list[Polynomial]:
    """P_0 .. P_degree of P_n^(alpha,beta) as numpy Polynomials (monomial basis), by the three-term recurrence."""
    check_jacobi_params(degree, alpha, beta)
    a, b = float(alpha), float(beta)
    x = Polynomial([0.0, 1.0])
    polys = [Polynomial([1.0])]
    if degree >= 1:
        polys.append((a + 1.0) + (a + b + 2.0) * (x - 1.0) / 2.0)
    for n in range(1, degree):
        s = 2.0 * n + a + b
        # 2(n+1)(n+a+b+1)(2n+a+b) P_{n+1} = (2n+a+b+1)[(2n+a+b+2)(2n+a+b) x + a^2-b^2] P_n
        #                                   - 2(n+a)(n+b)(2n+a+b+2) P_{n-1}
        # all divisors are > 0 for n >= 1 and alpha, beta > -1.
        c_next = 2.0 * (n + 1) * (n + a + b + 1.0) * s
        p_next = ((s + 1.0) * ((s + 2.0) * s * x + (a * a - b * b)) * polys[n]
                  - 2.0 * (n + a) * (n + b) * (s + 2.0) * polys[n - 1]) / c_next
        polys.append(p_next)
    return polys


def check_domain(domain: tuple[float, float]) -> tuple[float, float]:
    """Validate a window domain (lo, hi) with -1 <= lo < hi <= 1; return it as floats."""
    try:
        lo, hi = (float(v) for v in domain)
    except (TypeError, ValueError):
        raise PleiadesError(f"domain must be a pair (lo, hi) of numbers, got {domain!r}") from None
    if not (-1.0 <= lo < hi <= 1.0):
        raise PleiadesError(
            f"domain must satisfy -1 <= lo < hi <= 1 (a sub-interval of the Jacobi interval), got {domain!r}; "
            "use (0.0, 1.0) for the published PLEIADES code or (-1.0, 1.0) for the paper's text"
        )
    return lo, hi


def discrete_basis(
    degree: int,
    kernel_size: int,
    alpha: float,
    beta: float,
    domain: tuple[float, float] = (-1.0, 1.0),
) -> np.ndarray:
    """Bin averages of the Jacobi polynomials: float64 array (degree+1, kernel_size).

    Entry [n, i] is the mean of P_n^(alpha,beta) over the i-th of kernel_size equal bins of ``domain``
    (oldest tap first), computed exactly as (Q_n(x_{i+1}) - Q_n(x_i)) / h with Q_n the antiderivative.
    ``domain=(0, 1)`` gives the published basis B[n, i] = L * (Q_n((i+1)/L) - Q_n(i/L)).
    """
    check_jacobi_params(degree, alpha, beta)
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, (int, np.integer)) or kernel_size < 1:
        raise PleiadesError(f"kernel_size must be an integer >= 1, got {kernel_size!r}")
    lo, hi = check_domain(domain)
    edges = lo + (hi - lo) * np.arange(kernel_size + 1, dtype=np.float64) / kernel_size
    edges[-1] = hi
    width = (hi - lo) / kernel_size
    out = np.empty((degree + 1, kernel_size), dtype=np.float64)
    for n, poly in enumerate(jacobi_polynomials(degree, alpha, beta)):
        antiderivative = poly.integ()
        values = antiderivative(edges)
        out[n] = np.diff(values) / width
    return out
