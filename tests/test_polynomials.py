"""discrete_basis / jacobi_polynomials against scipy (quadrature, eval_jacobi, closed-form antiderivative)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, special

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.model.polynomials import discrete_basis, jacobi_polynomials

CASES = [
    # degree, kernel_size, alpha, beta, domain
    (4, 10, -0.25, -0.25, (0.0, 1.0)),  # published
    (4, 10, -0.25, -0.25, (-1.0, 1.0)),  # paper text
    (6, 7, 0.5, 1.5, (-1.0, 1.0)),
    (3, 1, 2.0, -0.9, (-0.5, 0.3)),
    (0, 5, -0.99, 0.0, (0.0, 1.0)),
    (8, 20, -0.5, -0.5, (-1.0, 0.0)),
]


@pytest.mark.parametrize("degree,kernel_size,alpha,beta,domain", CASES)
def test_basis_matches_quadrature(degree, kernel_size, alpha, beta, domain):
    basis = discrete_basis(degree, kernel_size, alpha, beta, domain)
    assert basis.dtype == np.float64 and basis.shape == (degree + 1, kernel_size)
    lo, hi = domain
    h = (hi - lo) / kernel_size
    for n in range(degree + 1):
        for i in range(kernel_size):
            a, b = lo + i * h, lo + (i + 1) * h
            integral, _ = integrate.quad(lambda x: special.eval_jacobi(n, alpha, beta, x), a, b, epsabs=1e-14,
                                         epsrel=1e-13)
            assert basis[n, i] == pytest.approx(integral / h, rel=1e-10, abs=1e-11)


def _antiderivative(n: int, alpha: float, beta: float, x: np.ndarray) -> np.ndarray:
    """Q_n with dQ_n/dx = P_n^(a,b): Q_0 = x, Q_n = 2/(n+a+b) P_{n+1}^(a-1,b-1).

    From d/dx P_m^(a,b) = (m+a+b+1)/2 P_{m-1}^(a+1,b+1) with m = n+1 and (a, b) -> (a-1, b-1).
    """
    if n == 0:
        return x
    return 2.0 / (n + alpha + beta) * special.eval_jacobi(n + 1, alpha - 1.0, beta - 1.0, x)


@pytest.mark.parametrize("kernel_size", [1, 5, 10, 40])
def test_published_formula(kernel_size):
    """B[n, i] = L * (Q_n((i+1)/L) - Q_n(i/L)) on the published domain (0, 1)."""
    alpha = beta = -0.25
    basis = discrete_basis(4, kernel_size, alpha, beta, (0.0, 1.0))
    edges = np.arange(kernel_size + 1) / kernel_size
    for n in range(5):
        q = _antiderivative(n, alpha, beta, edges)
        np.testing.assert_allclose(basis[n], kernel_size * np.diff(q), rtol=1e-11, atol=1e-12)


def test_default_domain_is_full_interval():
    np.testing.assert_array_equal(discrete_basis(3, 6, 0.1, 0.2), discrete_basis(3, 6, 0.1, 0.2, (-1.0, 1.0)))


@pytest.mark.parametrize("alpha,beta", [(-0.25, -0.25), (1.5, -0.5), (-0.9, 3.0), (0.0, 0.0)])
def test_polynomials_match_scipy(alpha, beta):
    xs = np.linspace(-1, 1, 17)
    polys = jacobi_polynomials(7, alpha, beta)
    for n, poly in enumerate(polys):
        assert poly.degree() == n
        np.testing.assert_allclose(poly(xs), special.eval_jacobi(n, alpha, beta, xs), rtol=1e-12, atol=1e-12)


def test_legendre_hand_values():
    """alpha = beta = 0 are Legendre polynomials: bin averages over (-1, 1) with two bins by hand."""
    basis = discrete_basis(2, 2, 0.0, 0.0, (-1.0, 1.0))
    # P0 = 1; P1 = x -> means -1/2, 1/2; P2 = (3x^2-1)/2 -> mean over [0,1] of (3x^2-1)/2 = (1-1)/2 = 0
    np.testing.assert_allclose(basis, [[1, 1], [-0.5, 0.5], [0.0, 0.0]], atol=1e-15)


def test_bin_average_refinement():
    """The average over a bin is the mean of the averages over its halves (exact for any polynomial)."""
    coarse = discrete_basis(5, 8, -0.25, -0.25, (0.0, 1.0))
    fine = discrete_basis(5, 16, -0.25, -0.25, (0.0, 1.0))
    np.testing.assert_allclose(fine.reshape(6, 8, 2).mean(-1), coarse, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(degree=-1), "degree"),
        (dict(degree=1.5), "degree"),
        (dict(degree=True), "degree"),
        (dict(alpha=-1.0), "alpha"),
        (dict(alpha=-3.0), "alpha"),
        (dict(beta=float("nan")), "beta"),
        (dict(beta=float("inf")), "beta"),
        (dict(kernel_size=0), "kernel_size"),
        (dict(kernel_size=2.0), "kernel_size"),
        (dict(domain=(1.0, 0.0)), "domain"),
        (dict(domain=(0.0, 2.0)), "domain"),
        (dict(domain=(0.5, 0.5)), "domain"),
        (dict(domain="ab"), "domain"),
    ],
)
def test_rejects_bad_arguments(kwargs, match):
    args = dict(degree=4, kernel_size=10, alpha=-0.25, beta=-0.25, domain=(0.0, 1.0))
    args.update(kwargs)
    with pytest.raises(PleiadesError, match=match):
        discrete_basis(**args)
