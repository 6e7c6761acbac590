"""Pre-Task 1 beyond the contract: scipy.stats as the independent reference, and every bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from diffusion_path.foundations import gaussians as g

MEAN = np.array([0.5, -1.0])
COV = np.array([[1.5, -0.4], [-0.4, 0.8]])


def test_pdf_matches_scipy_for_extreme_arguments():
    x = np.array([-40.0, -3.0, 0.0, 1e-3, 7.5, 40.0])
    for mu, sigma in [(0.0, 1e-3), (5.0, 100.0), (-3.0, 2.0)]:
        np.testing.assert_allclose(
            g.gaussian_pdf(x, mu, sigma), stats.norm(mu, sigma).pdf(x), rtol=1e-12, atol=0
        )


def test_mvn_log_pdf_matches_scipy_in_high_dimension():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(10, 10))
    cov = a @ a.T + 0.1 * np.eye(10)
    mean = rng.normal(size=10)
    x = rng.normal(size=(7, 10))
    np.testing.assert_allclose(
        g.mvn_log_pdf(x, mean, cov), stats.multivariate_normal(mean, cov).logpdf(x), rtol=1e-10
    )


def test_mvn_pdf_on_a_single_point_is_a_scalar_array():
    value = g.mvn_pdf(MEAN, MEAN, COV)
    assert value.shape == ()
    assert value == pytest.approx(1 / (2 * np.pi * np.sqrt(np.linalg.det(COV))))


def test_sample_mvn_passes_scipy_ks_on_every_marginal():
    x = g.sample_mvn(MEAN, COV, 20_000, np.random.default_rng(11))
    for i in range(2):
        assert stats.kstest(x[:, i], stats.norm(MEAN[i], np.sqrt(COV[i, i])).cdf).pvalue > 1e-6


def test_kl_matches_the_scipy_entropy_identity():
    """KL(p || q) = cross-entropy(p, q) - entropy(p); both terms from scipy in 1-D."""
    mp, sp, mq, sq = 1.0, 0.7, -0.5, 1.3
    entropy_p = stats.norm(mp, sp).entropy()
    cross = 0.5 * np.log(2 * np.pi * sq**2) + (sp**2 + (mp - mq) ** 2) / (2 * sq**2)
    got = g.kl_gaussians(np.array([mp]), np.array([[sp**2]]), np.array([mq]), np.array([[sq**2]]))
    assert got == pytest.approx(cross - entropy_p, rel=1e-12)


def test_kl_is_nonnegative_on_random_pairs():
    rng = np.random.default_rng(3)
    for _ in range(20):
        a, b = rng.normal(size=(2, 3, 3))
        kl = g.kl_gaussians(
            rng.normal(size=3),
            a @ a.T + 0.1 * np.eye(3),
            rng.normal(size=3),
            b @ b.T + 0.1 * np.eye(3),
        )
        assert kl >= 0


RNG = np.random.default_rng(0)
NOT_SPD = np.array([[1.0, 2.0], [2.0, 1.0]])
ASYMMETRIC = np.array([[1.0, 0.3], [0.0, 1.0]])

BAD_INPUTS = [
    (lambda: g.gaussian_pdf(0.0, 0.0, 0.0), "sigma"),
    (lambda: g.gaussian_pdf(0.0, 0.0, -2.0), "sigma"),
    (lambda: g.gaussian_pdf([0.0, np.nan]), "x"),
    (lambda: g.gaussian_pdf(0.0, "a"), "mu"),
    (lambda: g.sample_gaussian(0.0, -1.0, 3, RNG), "sigma"),
    (lambda: g.sample_gaussian(0.0, 1.0, 0, RNG), "size"),
    (lambda: g.sample_gaussian(0.0, 1.0, (2, -1), RNG), "size"),
    (lambda: g.sample_gaussian(0.0, 1.0, 3, 42), "rng"),
    (lambda: g.mvn_log_pdf(np.zeros(3), MEAN, COV), "x"),
    (lambda: g.mvn_log_pdf(np.zeros(2), MEAN, NOT_SPD), "cov"),
    (lambda: g.mvn_log_pdf(np.zeros(2), MEAN, ASYMMETRIC), "cov"),
    (lambda: g.mvn_log_pdf(np.zeros(2), np.zeros((2, 1)), COV), "mean"),
    (lambda: g.mvn_pdf(np.zeros(2), MEAN, np.eye(3)), "cov"),
    (lambda: g.sample_mvn(MEAN, COV, 0, RNG), "n"),
    (lambda: g.sample_mvn(MEAN, np.ones(2), 5, RNG), "cov"),
    (lambda: g.sample_mvn(MEAN, NOT_SPD, 5, RNG), "cov"),
    (lambda: g.sample_mvn(MEAN, COV, 5, None), "rng"),
    (lambda: g.gaussian_affine(MEAN, COV, np.ones((2, 3))), "A"),
    (lambda: g.gaussian_affine(MEAN, COV, np.ones((2, 2)), np.ones(3)), "b"),
    (lambda: g.gaussian_affine(MEAN, ASYMMETRIC, np.ones((2, 2))), "cov"),
    (lambda: g.gaussian_sum(MEAN, COV, np.zeros(3), np.eye(3)), "mean2"),
    (lambda: g.gaussian_sum(MEAN, COV, MEAN, NOT_SPD), "cov2"),
    (lambda: g.gaussian_sum(MEAN, NOT_SPD, MEAN, COV), "cov1"),
    (lambda: g.kl_gaussians(MEAN, COV, np.zeros(3), COV), "mean_q"),
    (lambda: g.kl_gaussians(MEAN, NOT_SPD, MEAN, COV), "cov_p"),
    (lambda: g.kl_gaussians(MEAN, COV, MEAN, ASYMMETRIC), "cov_q"),
    (lambda: g.kl_monte_carlo(MEAN, COV, MEAN, COV, 1, RNG), "n"),
    (lambda: g.kl_monte_carlo(MEAN, COV, MEAN, COV, 10, "seed"), "rng"),
]


@pytest.mark.parametrize(("call", "argument"), BAD_INPUTS)
def test_bad_input_raises_value_error_naming_the_argument(call, argument):
    with pytest.raises(ValueError, match=rf"^{argument} "):
        call()
