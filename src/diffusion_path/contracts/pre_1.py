"""Contract of Pre-Task 1: Gaussian distributions.

Ground truth comes from closed forms and from ``torch.distributions``, a library
independent of the NumPy code under test.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from diffusion_path.contracts import (
    assert_close,
    assert_ks,
    assert_raises_value_error,
    assert_within_se,
    normal_cdf,
)
from diffusion_path.contracts.base import Contract

CONTRACT = Contract("pre-1")
check = CONTRACT.check

# A correlated 3-D Gaussian used throughout: a symmetric positive-definite matrix.
MEAN = np.array([1.0, -2.0, 0.5])
COV = np.array([[2.0, 0.6, -0.3], [0.6, 1.0, 0.2], [-0.3, 0.2, 0.5]])
NOT_SYMMETRIC = np.array([[1.0, 0.5], [0.0, 1.0]])
NOT_POSITIVE = np.array([[1.0, 2.0], [2.0, 1.0]])  # eigenvalues 3 and -1


def _torch_mvn(mean: np.ndarray, cov: np.ndarray) -> torch.distributions.MultivariateNormal:
    return torch.distributions.MultivariateNormal(
        torch.tensor(mean, dtype=torch.float64), torch.tensor(cov, dtype=torch.float64)
    )


# ----------------------------------------------------------------------------- gaussian_pdf
PDF_HINT = (
    "p(x) = exp(-(x - mu)^2 / (2 sigma^2)) / (sigma sqrt(2 pi)). sigma is the standard "
    "deviation: square it inside the exponent, not outside, and keep the 1/(sigma sqrt(2 pi)) factor."
)


@check("gaussian_pdf", hint=PDF_HINT)
def pdf_matches_closed_form(impl):
    """gaussian_pdf matches torch.distributions.Normal for several mu and sigma."""
    x = np.linspace(-6.0, 6.0, 41)
    for mu, sigma in [(0.0, 1.0), (1.5, 0.5), (-2.0, 3.0)]:
        expected = torch.distributions.Normal(mu, sigma).log_prob(torch.tensor(x)).exp().numpy()
        assert_close(impl.gaussian_pdf(x, mu, sigma), expected, f"gaussian_pdf(x, {mu}, {sigma})")


@check("gaussian_pdf", hint=PDF_HINT)
def pdf_integrates_to_one(impl):
    """gaussian_pdf keeps the shape of x and integrates to 1."""
    grid = np.linspace(3.0 - 12 * 0.7, 3.0 + 12 * 0.7, 20_001).reshape(1, -1)
    density = np.asarray(impl.gaussian_pdf(grid, 3.0, 0.7))
    assert density.shape == grid.shape, f"output shape {density.shape}, expected {grid.shape}"
    area = float(np.sum(density) * (grid[0, 1] - grid[0, 0]))
    assert abs(area - 1.0) < 1e-6, f"the density integrates to {area:.6f}, not 1"


@check("gaussian_pdf", hint="Reject sigma <= 0 with ValueError('sigma must be > 0, got ...').")
def pdf_rejects_bad_sigma(impl):
    """gaussian_pdf rejects a non-positive sigma with a ValueError naming sigma."""
    for sigma in (0.0, -1.0):
        assert_raises_value_error(
            lambda s=sigma: impl.gaussian_pdf(0.0, 0.0, s), "sigma", f"sigma={sigma}"
        )


# ----------------------------------------------------------------------------- sample_gaussian
SAMPLE_HINT = (
    "Draw eps = rng.standard_normal(size) and return mu + sigma * eps. Use the rng you are "
    "given (never np.random.* globals), and scale by sigma, not by sigma**2."
)


@check("sample_gaussian", hint=SAMPLE_HINT)
def samples_follow_the_gaussian(impl):
    """sample_gaussian(mu, sigma, n, rng) follows N(mu, sigma^2) (KS test and moments)."""
    n = 50_000
    for mu, sigma in [(0.0, 1.0), (2.0, 0.5), (-1.0, 3.0)]:
        x = np.asarray(impl.sample_gaussian(mu, sigma, n, np.random.default_rng(1)))
        assert x.shape == (n,), (
            f"sample_gaussian(..., size={n}) has shape {x.shape}, expected ({n},)"
        )
        assert_within_se(x.mean(), mu, sigma / math.sqrt(n), f"the sample mean for mu={mu}")
        # The sample variance has standard error sigma^2 sqrt(2 / (n - 1)) for Gaussian data.
        assert_within_se(x.var(ddof=1), sigma**2, sigma**2 * math.sqrt(2 / (n - 1)), "the variance")
        assert_ks(x, lambda t, m=mu, s=sigma: normal_cdf(t, m, s), f"N({mu}, {sigma}^2)")


@check("sample_gaussian", hint=SAMPLE_HINT)
def samples_have_the_requested_shape_and_seed(impl):
    """sample_gaussian returns the shape asked for and is reproducible from its rng."""
    x = np.asarray(impl.sample_gaussian(0.0, 1.0, (3, 4), np.random.default_rng(0)))
    assert x.shape == (3, 4), f"size=(3, 4) gave shape {x.shape}"
    a = impl.sample_gaussian(0.0, 1.0, 10, np.random.default_rng(7))
    b = impl.sample_gaussian(0.0, 1.0, 10, np.random.default_rng(7))
    c = impl.sample_gaussian(0.0, 1.0, 10, np.random.default_rng(8))
    assert np.array_equal(a, b), "the same seed gave different samples: use the rng argument"
    assert not np.array_equal(a, c), "different seeds gave the same samples: use the rng argument"


@check("sample_gaussian", hint="Reject sigma <= 0 with a ValueError naming sigma.")
def samples_reject_bad_sigma(impl):
    """sample_gaussian rejects a non-positive sigma with a ValueError naming sigma."""
    rng = np.random.default_rng(0)
    assert_raises_value_error(lambda: impl.sample_gaussian(0.0, -1.0, 5, rng), "sigma", "sigma=-1")


# ----------------------------------------------------------------------------- mvn_log_pdf
LOGPDF_HINT = (
    "log p(x) = -0.5 (x-mu)^T Sigma^-1 (x-mu) - 0.5 log det(2 pi Sigma). With L = cholesky(Sigma), "
    "solve L z = (x - mu) and use log det Sigma = 2 sum(log diag L). Work on the last axis so "
    "x of shape (..., d) gives (...)."
)
COV_HINT = (
    "Check cov is square, matches the mean, is symmetric (np.allclose(cov, cov.T)) and positive "
    "definite (np.linalg.cholesky raises LinAlgError otherwise); raise ValueError naming 'cov'."
)


@check("mvn_log_pdf", hint=LOGPDF_HINT)
def log_pdf_matches_torch(impl):
    """mvn_log_pdf matches torch.distributions.MultivariateNormal for a batch of points."""
    x = np.random.default_rng(3).normal(size=(4, 5, 3)) * 2
    expected = _torch_mvn(MEAN, COV).log_prob(torch.tensor(x)).numpy()
    assert_close(impl.mvn_log_pdf(x, MEAN, COV), expected, "mvn_log_pdf on a (4, 5, 3) batch")


@check("mvn_log_pdf", hint=COV_HINT)
def log_pdf_rejects_bad_covariance(impl):
    """mvn_log_pdf rejects a covariance that is not symmetric positive definite."""
    x, mean = np.zeros(2), np.zeros(2)
    assert_raises_value_error(
        lambda: impl.mvn_log_pdf(x, mean, NOT_SYMMETRIC), "cov", "a non-symmetric cov"
    )
    assert_raises_value_error(
        lambda: impl.mvn_log_pdf(x, mean, NOT_POSITIVE), "cov", "an indefinite cov"
    )
    assert_raises_value_error(
        lambda: impl.mvn_log_pdf(x, np.zeros(3), np.eye(2)), "cov", "cov of the wrong size"
    )


# ----------------------------------------------------------------------------- mvn_pdf
@check("mvn_pdf", hint="mvn_pdf is exp(mvn_log_pdf(x, mean, cov)).")
def pdf_is_exp_log_pdf_and_normalised(impl):
    """mvn_pdf integrates to 1 over the plane and agrees with torch at a grid of points."""
    mean, cov = np.array([0.5, -0.5]), np.array([[1.0, 0.6], [0.6, 0.8]])
    axis = np.linspace(-8.0, 8.0, 401)
    grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1)
    density = np.asarray(impl.mvn_pdf(grid, mean, cov))
    expected = _torch_mvn(mean, cov).log_prob(torch.tensor(grid)).exp().numpy()
    assert_close(density, expected, "mvn_pdf on a (401, 401, 2) grid")
    area = float(density.sum() * (axis[1] - axis[0]) ** 2)
    assert abs(area - 1.0) < 1e-4, f"the 2-D density integrates to {area:.5f}, not 1"


# ----------------------------------------------------------------------------- sample_mvn
SAMPLE_MVN_HINT = (
    "x = mean + L eps with L = np.linalg.cholesky(cov) (lower-triangular, cov = L L^T) and "
    "eps = rng.standard_normal((n, d)). For a row of samples that is eps @ L.T, not eps @ L, "
    "and L, not cov itself."
)


@check("sample_mvn", hint=SAMPLE_MVN_HINT)
def mvn_samples_have_the_right_moments(impl):
    """sample_mvn(mean, cov, n, rng) has shape (n, d), the right mean and the right covariance."""
    n = 100_000
    x = np.asarray(impl.sample_mvn(MEAN, COV, n, np.random.default_rng(2)))
    assert x.shape == (n, 3), f"sample_mvn(..., n={n}) has shape {x.shape}, expected ({n}, 3)"
    for i in range(3):
        assert_within_se(
            x[:, i].mean(), MEAN[i], math.sqrt(COV[i, i] / n), f"the mean of coordinate {i}"
        )
    centred = x - MEAN
    for i in range(3):
        for j in range(i, 3):
            # Var of a sample covariance entry: (S_ii S_jj + S_ij^2) / n for Gaussian data.
            se = math.sqrt((COV[i, i] * COV[j, j] + COV[i, j] ** 2) / n)
            estimate = float(np.mean(centred[:, i] * centred[:, j]))
            assert_within_se(estimate, COV[i, j], se, f"the sample covariance [{i}, {j}]")


@check("sample_mvn", hint=SAMPLE_MVN_HINT)
def mvn_samples_whiten_to_standard_normals(impl):
    """Whitened samples L^-1 (x - mean) are standard normal in every direction (KS test)."""
    n = 20_000
    x = np.asarray(impl.sample_mvn(MEAN, COV, n, np.random.default_rng(4)))
    z = np.linalg.solve(np.linalg.cholesky(COV), (x - MEAN).T).T
    for direction in (np.array([1.0, 0, 0]), np.array([0, 0, 1.0]), np.ones(3) / math.sqrt(3)):
        assert_ks(z @ direction, normal_cdf, "whitened samples projected on a unit vector")


@check("sample_mvn", hint=COV_HINT)
def mvn_samples_reject_bad_input(impl):
    """sample_mvn is reproducible from its rng and rejects a bad covariance or a shape mismatch."""
    a = impl.sample_mvn(MEAN, COV, 5, np.random.default_rng(9))
    b = impl.sample_mvn(MEAN, COV, 5, np.random.default_rng(9))
    assert np.array_equal(a, b), "the same seed gave different samples: use the rng argument"
    rng = np.random.default_rng(0)
    assert_raises_value_error(
        lambda: impl.sample_mvn(np.zeros(2), NOT_POSITIVE, 5, rng), "cov", "an indefinite cov"
    )
    assert_raises_value_error(
        lambda: impl.sample_mvn(np.zeros(2), NOT_SYMMETRIC, 5, rng), "cov", "a non-symmetric cov"
    )
    assert_raises_value_error(
        lambda: impl.sample_mvn(np.zeros(3), np.eye(2), 5, rng), "cov", "cov of the wrong size"
    )


# ----------------------------------------------------------------------------- gaussian_affine
AFFINE_HINT = "The image of N(mu, Sigma) under x -> A x + b is N(A mu + b, A Sigma A^T)."


@check("gaussian_affine", hint=AFFINE_HINT)
def affine_moments_by_hand(impl):
    """gaussian_affine gives the moments worked out by hand for a 2-D example."""
    mean, cov = np.array([1.0, 2.0]), np.array([[2.0, 0.5], [0.5, 1.0]])
    A, b = np.array([[1.0, 1.0], [1.0, -1.0]]), np.array([0.5, -0.5])
    # x1 + x2 + 0.5 has mean 3.5 and variance 2 + 1 + 2 (0.5) = 4; x1 - x2 - 0.5 has mean -1.5
    # and variance 2 + 1 - 2 (0.5) = 2; their covariance is Var x1 - Var x2 = 1.
    m, c = impl.gaussian_affine(mean, cov, A, b)
    assert_close(m, [3.5, -1.5], "the mean of A x + b")
    assert_close(c, [[4.0, 1.0], [1.0, 2.0]], "the covariance of A x + b")
    m0, _ = impl.gaussian_affine(mean, cov, A)
    assert_close(m0, [3.0, -1.0], "the mean of A x when b is omitted")


@check("gaussian_affine", hint=AFFINE_HINT)
def affine_moments_match_simulation(impl):
    """gaussian_affine agrees with the moments of simulated A x + b (a 3-D to 2-D map)."""
    A, b = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -1.0]]), np.array([1.0, 2.0])
    m, c = impl.gaussian_affine(MEAN, COV, A, b)
    n = 200_000
    y = np.random.default_rng(5).multivariate_normal(MEAN, COV, size=n) @ A.T + b
    m, c = np.asarray(m), np.asarray(c)
    assert m.shape == (2,) and c.shape == (2, 2), (
        f"shapes {m.shape} and {c.shape}, expected (2,), (2, 2)"
    )
    sample_cov = np.cov(y.T)
    for i in range(2):
        assert_within_se(
            float(m[i]), y[:, i].mean(), math.sqrt(sample_cov[i, i] / n), f"the mean [{i}]"
        )
        for j in range(2):
            se = math.sqrt((sample_cov[i, i] * sample_cov[j, j] + sample_cov[i, j] ** 2) / n)
            assert_within_se(float(c[i, j]), sample_cov[i, j], se, f"the covariance [{i}, {j}]")


@check(
    "gaussian_affine",
    hint="A must have shape (k, d) where d = len(mean); raise a ValueError naming 'A'.",
)
def affine_rejects_bad_shapes(impl):
    """gaussian_affine rejects a matrix A whose columns do not match the mean."""
    assert_raises_value_error(
        lambda: impl.gaussian_affine(np.zeros(2), np.eye(2), np.eye(3)),
        "A",
        "A of shape (3, 3) for d = 2",
    )


# ----------------------------------------------------------------------------- gaussian_sum
@check("gaussian_sum", hint="For independent Gaussians, means add and covariances add.")
def sum_moments(impl):
    """gaussian_sum adds means and covariances, as simulation confirms; bad shapes raise."""
    m, c = impl.gaussian_sum(MEAN, COV, -MEAN, 0.5 * np.eye(3))
    assert_close(m, np.zeros(3), "the mean of the sum")
    assert_close(c, COV + 0.5 * np.eye(3), "the covariance of the sum")
    # DDPM eq. (4) in 1-D: sqrt(abar) x0 + sqrt(1 - abar) eps with x0 ~ N(0, 1) has variance 1.
    abar = 0.3
    _, c1 = impl.gaussian_sum(np.zeros(1), np.array([[abar]]), np.zeros(1), np.array([[1 - abar]]))
    assert_close(c1, [[1.0]], "the variance of sqrt(abar) x0 + sqrt(1 - abar) eps")
    assert_raises_value_error(
        lambda: impl.gaussian_sum(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3)),
        "mean2",
        "means of different lengths",
    )


# ----------------------------------------------------------------------------- kl_gaussians
KL_HINT = (
    "KL(p||q) = 0.5 [tr(Sq^-1 Sp) + (mq - mp)^T Sq^-1 (mq - mp) - d + log(det Sq / det Sp)]. "
    "Mind the order: it is not symmetric in p and q."
)


@check("kl_gaussians", hint=KL_HINT)
def kl_matches_torch(impl):
    """kl_gaussians matches torch.distributions.kl_divergence, is 0 for p = q and is asymmetric."""
    mean_q, cov_q = (
        np.array([0.0, -1.0, 1.0]),
        np.array([[1.0, 0.3, 0.0], [0.3, 2.0, 0.4], [0.0, 0.4, 1.5]]),
    )
    for (mp, cp), (mq, cq) in [((MEAN, COV), (mean_q, cov_q)), ((mean_q, cov_q), (MEAN, COV))]:
        expected = float(torch.distributions.kl_divergence(_torch_mvn(mp, cp), _torch_mvn(mq, cq)))
        assert_close(impl.kl_gaussians(mp, cp, mq, cq), expected, "KL(p || q)")
    assert abs(float(impl.kl_gaussians(MEAN, COV, MEAN, COV))) < 1e-10, "KL(p || p) should be 0"


@check("kl_gaussians", hint=KL_HINT)
def kl_univariate_closed_form(impl):
    """In 1-D, KL = log(sq / sp) + (sp^2 + (mp - mq)^2) / (2 sq^2) - 1/2."""
    mp, sp, mq, sq = 0.3, 0.5, -1.0, 2.0
    expected = math.log(sq / sp) + (sp**2 + (mp - mq) ** 2) / (2 * sq**2) - 0.5
    got = impl.kl_gaussians(
        np.array([mp]), np.array([[sp**2]]), np.array([mq]), np.array([[sq**2]])
    )
    assert_close(got, expected, "KL between N(0.3, 0.5^2) and N(-1, 2^2)")


@check("kl_gaussians", hint=COV_HINT)
def kl_rejects_bad_covariance(impl):
    """kl_gaussians rejects a covariance that is not symmetric positive definite."""
    m = np.zeros(2)
    assert_raises_value_error(
        lambda: impl.kl_gaussians(m, NOT_POSITIVE, m, np.eye(2)), "cov_p", "an indefinite cov_p"
    )
    assert_raises_value_error(
        lambda: impl.kl_gaussians(m, np.eye(2), m, NOT_SYMMETRIC), "cov_q", "a non-symmetric cov_q"
    )


# ----------------------------------------------------------------------------- kl_monte_carlo
@check(
    "kl_monte_carlo",
    hint="Sample x ~ p, average log p(x) - log q(x); the standard error is std(ddof=1) / sqrt(n).",
)
def kl_estimate_is_unbiased(impl):
    """kl_monte_carlo's estimate lies within its error bar of the exact KL, which shrinks like 1/sqrt(n)."""
    mean_q, cov_q = np.zeros(3), np.eye(3)
    exact = float(
        torch.distributions.kl_divergence(_torch_mvn(MEAN, COV), _torch_mvn(mean_q, cov_q))
    )
    estimate, se = impl.kl_monte_carlo(MEAN, COV, mean_q, cov_q, 40_000, np.random.default_rng(6))
    assert se > 0, f"the standard error should be positive, got {se}"
    # The bound widens by 1 % to allow for the error of the estimated standard error.
    assert_within_se(estimate, exact, 1.01 * se, "the Monte-Carlo KL")
    _, se_small = impl.kl_monte_carlo(MEAN, COV, mean_q, cov_q, 400, np.random.default_rng(6))
    ratio = se_small / se
    assert 10 / 1.5 < ratio < 10 * 1.5, (
        f"100x more samples shrank the error by {ratio:.1f}x, expected ~10x"
    )


__all__ = ["CONTRACT"]
