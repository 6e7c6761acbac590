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


def test_sample_gaussian_takes_a_tuple_size_and_passes_scipy_ks():
    x = g.sample_gaussian(-1.0, 2.5, (200, 100), np.random.default_rng(12))
    assert x.shape == (200, 100)
    assert stats.kstest(x.ravel(), stats.norm(-1.0, 2.5).cdf).pvalue > 1e-6


def test_kl_monte_carlo_is_the_mean_and_sem_of_scipy_log_ratios():
    """Given its samples, the estimate and standard error are scipy's mean and sem of log p - log q."""
    mean_q, cov_q = np.zeros(2), np.eye(2)
    estimate, se = g.kl_monte_carlo(MEAN, COV, mean_q, cov_q, 7, np.random.default_rng(13))
    x = g.sample_mvn(MEAN, COV, 7, np.random.default_rng(13))  # the same draws, from the same seed
    log_ratio = stats.multivariate_normal(MEAN, COV).logpdf(x) - stats.multivariate_normal(
        mean_q, cov_q
    ).logpdf(x)
    assert estimate == pytest.approx(log_ratio.mean(), rel=1e-12)
    assert se == pytest.approx(stats.sem(log_ratio), rel=1e-12)  # ddof=1, as scipy's default


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
    (lambda: g.gaussian_pdf(0.0, [1.0, 2.0]), "mu"),
    (lambda: g.gaussian_pdf(0.0, 0.0, np.nan), "sigma"),
    (lambda: g.sample_gaussian(0.0, -1.0, 3, RNG), "sigma"),
    (lambda: g.sample_gaussian(0.0, 1.0, 0, RNG), "size"),
    (lambda: g.sample_gaussian(0.0, 1.0, (2, -1), RNG), "size"),
    (lambda: g.sample_gaussian(0.0, 1.0, 3, 42), "rng"),
    (lambda: g.sample_gaussian(0.0, 1.0, "3", RNG), "size"),
    (lambda: g.sample_gaussian(np.inf, 1.0, 3, RNG), "mu"),
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
    (lambda: g.kl_monte_carlo(MEAN, COV, MEAN, COV, 10.0, RNG), "n"),
    (lambda: g.kl_monte_carlo(MEAN, COV, np.zeros(3), COV, 10, RNG), "mean_q"),
    (lambda: g.kl_monte_carlo(MEAN, NOT_SPD, MEAN, COV, 10, RNG), "cov_p"),
    (lambda: g.kl_monte_carlo(np.array([0.0, np.nan]), COV, MEAN, COV, 10, RNG), "mean_p"),
]


@pytest.mark.parametrize(("call", "argument"), BAD_INPUTS)
def test_bad_input_raises_value_error_naming_the_argument(call, argument):
    with pytest.raises(ValueError, match=rf"^{argument} "):
        call()


def test_figures_are_drawn_with_the_implementation_they_are_given():
    """Each figure that takes ``impl`` calls impl's functions, and only those."""
    from types import SimpleNamespace

    from matplotlib.figure import Figure

    from diffusion_path.figures import pre_1 as figures
    from diffusion_path.figures import uses_impl

    called = set()

    def recording(name):
        def wrapper(*args, **kwargs):
            called.add(name)
            return getattr(g, name)(*args, **kwargs)

        return wrapper

    impl = SimpleNamespace(**{name: recording(name) for name in g.__all__})
    for name, make in figures.FIGURES.items():
        figure = make(impl) if uses_impl("pre-1", name) else make()
        assert isinstance(figure, Figure), name
    assert called == set(g.__all__) - {"gaussian_affine", "gaussian_sum", "mvn_log_pdf"}
