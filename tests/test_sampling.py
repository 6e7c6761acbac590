"""Pre-Task 2 beyond its contract: samplers against scipy.stats, AIS on closed forms, bad input.

Statistical tests use fixed seeds and a significance level of 1e-6, so a correct
sampler fails less than once in a million seeds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats

from diffusion_path.figures import pre_2 as figures
from diffusion_path.foundations import sampling as S

ALPHA = 1e-6
Z = stats.norm.isf(ALPHA / 2)  # two-sided 1e-6 quantile, 4.892


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# ----------------------------------------------------------------------------- 1-D samplers
SAMPLERS = [
    ("uniform", lambda r: S.sample_uniform(-2.0, 5.0, 40_000, r), stats.uniform(-2.0, 7.0)),
    ("exponential", lambda r: S.sample_exponential(0.25, 40_000, r), stats.expon(scale=4.0)),
    ("laplace", lambda r: S.sample_laplace(-1.0, 0.3, 40_000, r), stats.laplace(-1.0, 0.3)),
    ("box-muller", lambda r: S.box_muller(40_000, r), stats.norm()),
]


@pytest.mark.parametrize(("name", "draw", "law"), SAMPLERS, ids=[s[0] for s in SAMPLERS])
def test_sampler_passes_ks_and_moments(name, draw, law):
    x = draw(rng(100))
    assert stats.kstest(x, law.cdf).pvalue > ALPHA
    n = x.size
    assert abs(x.mean() - law.mean()) < Z * law.std() / math.sqrt(n)
    # Var of the sample variance: (mu_4 - sigma^4) / n
    mu4 = law.moment(4) - 4 * law.mean() * law.moment(3) + 6 * law.mean() ** 2 * law.moment(2)
    mu4 -= 3 * law.mean() ** 4
    se_var = math.sqrt((mu4 - law.var() ** 2) / n)
    assert abs(np.mean((x - law.mean()) ** 2) - law.var()) < Z * se_var


@pytest.mark.parametrize(
    ("pdf", "law"),
    [
        (lambda x: S.uniform_pdf(x, -2.0, 5.0), stats.uniform(-2.0, 7.0)),
        (lambda x: S.exponential_pdf(x, 0.25), stats.expon(scale=4.0)),
        (lambda x: S.laplace_pdf(x, -1.0, 0.3), stats.laplace(-1.0, 0.3)),
    ],
    ids=["uniform", "exponential", "laplace"],
)
def test_pdfs_match_scipy(pdf, law):
    x = np.linspace(-6.3, 9.7, 97)  # avoids the end points of the uniform's support
    np.testing.assert_allclose(pdf(x), law.pdf(x), rtol=1e-12, atol=1e-15)


def test_inverse_cdf_maps_quantiles_back():
    """The inverse-CDF samplers are monotone maps of the uniform: exact quantiles come out."""

    u = np.array([0.1, 0.5, 0.9])
    # evaluate the maps directly: F^{-1}(u) must equal scipy's ppf
    np.testing.assert_allclose(-np.log1p(-u) / 2.0, stats.expon(scale=0.5).ppf(u))
    v = u - 0.5
    np.testing.assert_allclose(
        1.0 - 0.7 * np.sign(v) * np.log1p(-2 * np.abs(v)), stats.laplace(1.0, 0.7).ppf(u)
    )
    # and the samplers use exactly these maps on rng.random(): same seed, same uniforms
    r1, r2 = rng(5), rng(5)
    np.testing.assert_allclose(
        S.sample_exponential(2.0, 1000, r1), stats.expon(scale=0.5).ppf(r2.random(1000))
    )


def test_box_muller_pairs_are_independent_normals():
    z = S.box_muller((20_000, 2), rng(101))
    assert stats.kstest(np.sum(z**2, axis=1), stats.chi2(2).cdf).pvalue > ALPHA
    r = np.corrcoef(z.T)[0, 1]
    assert abs(r) < Z / math.sqrt(z.shape[0])


def test_uniform_box_samples_and_density():
    low, high = np.array([-1.0, 0.0]), np.array([1.0, 3.0])
    x = S.sample_uniform_box(low, high, 30_000, rng(102))
    for i in range(2):
        law = stats.uniform(low[i], high[i] - low[i])
        assert stats.kstest(x[:, i], law.cdf).pvalue > ALPHA
    # a 2x2 contingency table of quadrants: independent coordinates
    table = np.histogram2d(x[:, 0], x[:, 1], bins=[[-1, 0, 1], [0, 1.5, 3]])[0]
    assert stats.chi2_contingency(table).pvalue > ALPHA
    assert S.uniform_box_pdf(np.array([0.0, 1.0]), low, high) == pytest.approx(1 / 6)


# ----------------------------------------------------------------------------- rejection / IS
def test_rejection_sampling_gamma_target():
    """Gamma(2, 1) (f = x e^-x) under an Exp(1/2) envelope: max f/q = 8/e at x = 2."""
    log_f = lambda x: np.log(np.maximum(x, 1e-300)) - x  # noqa: E731
    log_q = lambda x: math.log(0.5) - 0.5 * x  # noqa: E731
    draw = lambda m, r: r.exponential(2.0, size=m)  # noqa: E731
    x, rate = S.rejection_sample(log_f, draw, log_q, math.log(8 / math.e), 20_000, rng(103))
    assert stats.kstest(x, stats.gamma(2).cdf).pvalue > ALPHA
    truth = math.e / 8  # Z / M with Z = Gamma(2) = 1
    assert abs(rate - truth) < Z * math.sqrt(truth * (1 - truth) / 20_000)


def test_rejection_sampling_in_two_dimensions():
    """The uniform law on the unit disc from the uniform law on the square: rate pi / 4."""
    log_f = lambda x: np.where(np.sum(x**2, axis=1) <= 1, 0.0, -np.inf)  # noqa: E731
    draw = lambda m, r: S.sample_uniform_box([-1.0, -1.0], [1.0, 1.0], m, r)  # noqa: E731
    x, rate = S.rejection_sample(
        log_f, draw, lambda x: np.full(len(x), -math.log(4)), math.log(4), 10_000, rng(104)
    )
    assert x.shape == (10_000, 2)
    # the squared radius of a uniform point in the disc is U(0, 1)
    assert stats.kstest(np.sum(x**2, axis=1), stats.uniform().cdf).pvalue > ALPHA
    assert abs(rate - math.pi / 4) < Z * math.sqrt(0.25 * 0.75 / 10_000) * 2


def test_importance_sampling_expectation_and_ess():
    """E_p[x^2] = m^2 + s^2 for p = N(1, 0.5^2), estimated from N(0, 2^2) proposals."""
    log_f = lambda x: -0.5 * ((x - 1.0) / 0.5) ** 2  # noqa: E731
    log_q = lambda x: stats.norm(0, 2).logpdf(x)  # noqa: E731
    x, log_w = S.importance_sampling(
        log_f, lambda m, r: 2 * r.standard_normal(m), log_q, 50_000, rng(105)
    )
    estimate = S.self_normalised_mean(x**2, log_w)
    ess = S.effective_sample_size(log_w)
    assert 0 < ess < 50_000
    # delta-method standard error of a self-normalised estimate
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    se = math.sqrt(np.sum(w**2 * (x**2 - estimate) ** 2))
    assert abs(estimate - 1.25) < Z * se
    log_z, se_z = S.log_z_estimate(log_w)
    assert abs(log_z - math.log(0.5 * math.sqrt(2 * math.pi))) < Z * se_z


def test_log_mean_exp_and_ess_match_scipy():
    log_w = rng(106).normal(size=200) * 5 - 300
    assert S.log_mean_exp(log_w) == pytest.approx(
        special.logsumexp(log_w) - math.log(200), rel=1e-12
    )
    w = np.exp(log_w - log_w.max())
    assert S.effective_sample_size(log_w) == pytest.approx(w.sum() ** 2 / np.sum(w**2), rel=1e-12)
    with_zero = np.append(log_w, -np.inf)  # a zero weight counts in n but not in the sum
    assert S.log_mean_exp(with_zero) == pytest.approx(special.logsumexp(log_w) - math.log(201))


# ----------------------------------------------------------------------------- MCMC
def test_metropolis_hastings_correlated_gaussian():
    cov = np.array([[1.0, 0.8], [0.8, 1.0]])
    prec = np.linalg.inv(cov)
    log_f = lambda x: -0.5 * np.einsum("ni,ij,nj->n", x, prec, x)  # noqa: E731
    path, rate = S.metropolis_hastings(log_f, np.zeros((3000, 2)), 300, 0.8, rng(107))
    assert 0.2 < rate < 0.8
    np.testing.assert_array_less(np.abs(path[-1].mean(axis=0)), Z / math.sqrt(3000))
    sample_cov = np.cov(path[-1].T)
    se = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / 3000)
    np.testing.assert_array_less(np.abs(sample_cov - cov), Z * se)
    for v in (np.array([1.0, 0.0]), np.array([1.0, -1.0]) / math.sqrt(2)):
        sd = math.sqrt(v @ cov @ v)
        assert stats.kstest(path[-1] @ v, stats.norm(0, sd).cdf).pvalue > ALPHA


def test_langevin_discrete_stationary_variance_and_small_step_limit():
    """For N(0, s^2), unadjusted Langevin's stationary variance is s^2 / (1 - tau / (4 s^2))."""
    s, n = 2.0, 20_000
    for tau in (0.4, 4.0):
        path = S.langevin_dynamics(lambda x: -x / s**2, np.zeros(n), 400, tau, rng(108))
        v = s**2 / (1 - tau / (4 * s**2))
        assert stats.kstest(path[-1], stats.norm(0, math.sqrt(v)).cdf).pvalue > ALPHA
        assert abs(path[-1].var(ddof=1) - v) < Z * v * math.sqrt(2 / (n - 1))
    # two-dimensional chains: score of N(mu, I) is mu - x
    mu = np.array([1.0, -2.0])
    path = S.langevin_dynamics(lambda x: mu - x, np.zeros((n, 2)), 300, 0.05, rng(109))
    v = 1 / (1 - 0.05 / 4)
    for i in range(2):
        assert stats.kstest(path[-1, :, i], stats.norm(mu[i], math.sqrt(v)).cdf).pvalue > ALPHA


# ----------------------------------------------------------------------------- AIS
def test_ais_five_dimensional_gaussian():
    """Target N(m, diag(s^2)) unnormalised, prior N(0, I): log Z = sum log(s sqrt(2 pi))."""
    m, s = np.array([1.0, -1.0, 0.5, 2.0, 0.0]), np.array([0.5, 1.5, 1.0, 0.7, 2.0])
    log_f = lambda x: -0.5 * np.sum(((x - m) / s) ** 2, axis=1)  # noqa: E731
    log_p0 = lambda x: stats.multivariate_normal(np.zeros(5)).logpdf(x)  # noqa: E731
    truth = float(np.sum(np.log(s * math.sqrt(2 * math.pi))))
    x, log_w = S.annealed_importance_sampling(
        log_f,
        log_p0,
        lambda n, r: r.standard_normal((n, 5)),
        np.linspace(0, 1, 201),
        1000,
        rng(110),
        n_mcmc=2,
        step_size=0.5,
    )
    log_z, se = S.log_z_estimate(log_w)
    assert abs(log_z - truth) < Z * se
    assert log_w.mean() < truth + Z * log_w.std(ddof=1) / math.sqrt(log_w.size)
    assert S.self_normalised_mean(x, log_w) == pytest.approx(
        m, abs=Z * np.max(s) / math.sqrt(S.effective_sample_size(log_w))
    )


def test_ais_table_improves_with_temperatures():
    rows = figures.ais_runs()
    assert [row["K"] for row in rows] == [1, 10, 100, 1000]
    for row in rows:
        assert abs(row["log_z"] - row["truth"]) < Z * row["se"]
        assert row["mean_log_w"] < row["truth"]
    ess = [row["ess"] for row in rows]
    assert ess[-1] > ess[0], "AIS with 1000 temperatures should beat plain importance sampling"
    gaps = [row["truth"] - row["mean_log_w"] for row in rows]
    assert gaps[-1] < gaps[0], "the lower bound tightens with more temperatures"
    table = figures.TABLES["ais"]()
    assert table.count("\n") == 5 and "| 1000 |" in table


def test_ais_schedule_may_repeat_a_temperature():
    log_f = lambda x: -0.5 * x**2  # noqa: E731
    log_p0 = stats.norm().logpdf
    _, log_w = S.annealed_importance_sampling(
        log_f, log_p0, lambda n, r: r.standard_normal(n), [0.0, 0.5, 0.5, 1.0], 10, rng(0)
    )
    # target = sqrt(2 pi) * prior, so every weight is exactly log sqrt(2 pi)
    np.testing.assert_allclose(log_w, 0.5 * math.log(2 * math.pi))


# ----------------------------------------------------------------------------- bad input
BAD = [
    (lambda: S.uniform_pdf(0.0, 2.0, 1.0), "b"),
    (lambda: S.sample_uniform(0.0, 0.0, 5, rng()), "b"),
    (lambda: S.sample_uniform(0.0, 1.0, 0, rng()), "size"),
    (lambda: S.sample_uniform(0.0, 1.0, 5, np.random.RandomState(0)), "rng"),
    (lambda: S.sample_uniform(0.0, 1.0, 5, None), "rng"),
    (lambda: S.exponential_pdf(1.0, -2.0), "rate"),
    (lambda: S.sample_exponential(0.0, 5, rng()), "rate"),
    (lambda: S.laplace_pdf(0.0, 0.0, -1.0), "b"),
    (lambda: S.sample_laplace(0.0, 0.0, 5, rng()), "b"),
    (lambda: S.sample_laplace(np.nan, 1.0, 5, rng()), "mu"),
    (lambda: S.box_muller((3, -1), rng()), "size"),
    (lambda: S.sample_uniform_box([0.0, 0.0], [1.0], 5, rng()), "high"),
    (lambda: S.uniform_box_pdf(np.zeros(3), [0.0, 0.0], [1.0, 1.0]), "x"),
    (lambda: S.log_mean_exp(np.array([np.nan, 0.0])), "log_w"),
    (lambda: S.log_mean_exp(np.full(3, -np.inf)), "log_w"),
    (lambda: S.effective_sample_size(np.zeros((2, 2))), "log_w"),
    (lambda: S.self_normalised_mean(np.zeros(4), np.zeros(3)), "values"),
    (
        lambda: S.importance_sampling(
            lambda x: x, lambda n, r: np.zeros(n), lambda x: x[:1], 5, rng()
        ),
        "log_q",
    ),
    (lambda: S.metropolis_hastings(lambda x: -(x**2), 0.0, 5, 1.0, rng()), "x0"),
    (lambda: S.metropolis_hastings(lambda x: -(x**2), np.zeros(3), 0, 1.0, rng()), "n_steps"),
    (
        lambda: S.metropolis_hastings(
            lambda x: np.where(x > 0, 0.0, -np.inf), -np.ones(3), 5, 1.0, rng()
        ),
        "x0",
    ),
    (lambda: S.langevin_dynamics(lambda x: x[:1], np.zeros(3), 5, 0.1, rng()), "score"),
    (lambda: S.langevin_dynamics(lambda x: -x, np.zeros(3), 5, 0.0, rng()), "step_size"),
    (
        lambda: S.annealed_log_density(np.zeros(2), lambda x: x, lambda x: x, -0.1),
        "inverse_temperature",
    ),
    (lambda: S.annealed_log_density(0.5, lambda x: x, lambda x: x, 0.5), "x"),
    (lambda: S.langevin_dynamics(lambda x: -x, 1.0, 5, 0.1, rng()), "x0"),
    (
        lambda: S.rejection_sample(
            lambda x: x, lambda n, r: r.random(n), lambda x: x, np.nan, 5, rng()
        ),
        "log_M",
    ),
    (lambda: S.sample_uniform(np.nan, 1.0, 5, rng()), "a"),
    (lambda: S.uniform_pdf(0.0, "zero", 1.0), "a"),
    (lambda: S.log_z_estimate(np.array([0.0])), "log_w"),
]


@pytest.mark.parametrize(("call", "argument"), BAD, ids=[f"{i}-{b[1]}" for i, b in enumerate(BAD)])
def test_bad_input_names_the_argument(call, argument):
    with pytest.raises(ValueError, match=argument):
        call()


@pytest.mark.parametrize(
    "schedule",
    [
        [0.0, 1.0 + 1e-9],
        [1e-3, 1.0],
        [0.0, 0.7, 0.3, 1.0],
        [1.0, 0.0],
        [[0.0, 1.0]],
        [0.0],
        [0.0, np.nan, 1.0],
    ],
)
def test_ais_rejects_bad_schedules(schedule):
    with pytest.raises(ValueError, match="inverse_temperatures"):
        S.annealed_importance_sampling(
            lambda x: -(x**2),
            stats.norm().logpdf,
            lambda n, r: r.standard_normal(n),
            schedule,
            5,
            rng(),
        )


def test_ais_rejects_bad_mcmc_settings():
    args = (
        lambda x: -(x**2),
        stats.norm().logpdf,
        lambda n, r: r.standard_normal(n),
        [0.0, 1.0],
        5,
        rng(),
    )
    with pytest.raises(ValueError, match="n_mcmc"):
        S.annealed_importance_sampling(*args, n_mcmc=0)
    with pytest.raises(ValueError, match="step_size"):
        S.annealed_importance_sampling(*args, step_size=-1.0)
    with pytest.raises(ValueError, match="sample_prior"):
        S.annealed_importance_sampling(args[0], args[1], lambda n, r: np.zeros(n + 1), *args[3:])


def test_rejection_envelope_too_small_is_reported():
    with pytest.raises(ValueError, match="log_M"):
        S.rejection_sample(
            lambda x: np.zeros(len(x)),
            lambda n, r: r.random(n),
            lambda x: np.zeros(len(x)),
            -0.1,
            10,
            rng(),
        )


def test_figures_are_built():
    import inspect

    from matplotlib.figure import Figure

    for name, make in figures.FIGURES.items():
        figure = make(S) if inspect.signature(make).parameters else make()
        assert isinstance(figure, Figure), name


def test_ais_arguments_keep_their_positions():
    """Schedule, particles, rng, n_mcmc, step_size: the order callers (and old files) rely on."""
    import inspect

    names = list(inspect.signature(S.annealed_importance_sampling).parameters)
    assert names == [
        "log_target",
        "log_prior",
        "sample_prior",
        "inverse_temperatures",
        "n",
        "rng",
        "n_mcmc",
        "step_size",
    ]
    assert list(inspect.signature(S.annealed_log_density).parameters)[3] == "inverse_temperature"


def test_annealed_log_density_drops_zero_weighted_infinities():
    uniform = lambda x: np.where((x > 0) & (x < 1), 0.0, -np.inf)  # noqa: E731
    x = np.array([-1.0, 0.5, 2.0])
    np.testing.assert_array_equal(
        S.annealed_log_density(x, stats.norm().logpdf, uniform, 1.0), stats.norm().logpdf(x)
    )
    np.testing.assert_array_equal(
        S.annealed_log_density(x, uniform, stats.norm().logpdf, 0.0), stats.norm().logpdf(x)
    )
    np.testing.assert_array_equal(
        S.annealed_log_density(x, uniform, stats.norm().logpdf, 0.5)[0], -np.inf
    )


def test_metropolis_hastings_one_step_rejection_rate_matches_quadrature():
    """One step from x0 on N(0, 1): P(accept) = E[min(1, f(x + s z) / f(x))], by scipy quadrature."""
    from scipy import integrate

    x0, s, n = 0.7, 2.0, 100_000
    accept, _ = integrate.quad(
        lambda z: stats.norm.pdf(z) * min(1.0, math.exp(-0.5 * ((x0 + s * z) ** 2 - x0**2))),
        -12.0,
        12.0,
        points=[-2 * x0 / s, 0.0],
        epsabs=1e-12,
    )
    path, rate = S.metropolis_hastings(lambda x: -0.5 * x**2, np.full(n, x0), 1, s, rng(111))
    assert rate == pytest.approx(np.mean(path[1] != x0), abs=1e-12)
    assert abs(rate - accept) < Z * math.sqrt(accept * (1 - accept) / n)
