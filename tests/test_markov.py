"""Pre-Task 3 beyond its contract: chains against scipy, the AR(1) chain's laws, bad input.

Statistical tests use fixed seeds and a significance level of 1e-6.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import linalg, stats

from diffusion_path.figures import pre_3 as figures
from diffusion_path.foundations import markov as M

ALPHA = 1e-6
P3 = figures.P


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def random_transition_matrix(S: int, seed: int) -> np.ndarray:
    return rng(seed).dirichlet(np.ones(S), size=S)


def scipy_pi(P: np.ndarray) -> np.ndarray:
    """Left eigenvector of P for the eigenvalue 1, from scipy.linalg.eig(left=True)."""
    values, left = linalg.eig(P, left=True, right=False)
    v = np.real(left[:, np.argmin(np.abs(values - 1))])
    return v / v.sum()


@pytest.mark.parametrize("seed", range(5))
def test_three_stationary_methods_agree_with_scipy(seed):
    P = random_transition_matrix(6, seed)
    expected = scipy_pi(P)
    for method in (
        M.stationary_by_iteration,
        M.stationary_by_eigenvector,
        M.stationary_by_linear_solve,
    ):
        pi = method(P)
        np.testing.assert_allclose(pi, expected, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(pi @ P, pi, atol=1e-12)


def test_transition_counts_of_a_long_chain_match_P():
    """Chi-square test of each row's observed transitions against P (one long chain)."""
    path = M.simulate_chain(P3, 0, 30_000, rng(200))
    for i in range(3):
        nxt = path[1:][path[:-1] == i]
        counts = np.bincount(nxt, minlength=3)
        assert stats.chisquare(counts, counts.sum() * P3[i]).pvalue > ALPHA


def test_occupation_frequencies_approach_pi():
    """Many chains run for 50 steps sit in each state with probability pi (chi-square)."""
    path = M.simulate_chain(P3, rng(201).integers(0, 3, 20_000), 50, rng(202))
    counts = np.bincount(path[-1], minlength=3)
    assert stats.chisquare(counts, counts.sum() * M.stationary_by_linear_solve(P3)).pvalue > ALPHA


def test_convergence_rate_is_the_second_eigenvalue():
    pi = M.stationary_by_linear_solve(P3)
    errors = np.abs(M.evolve_distribution(P3, np.array([1.0, 0.0, 0.0]), 25) - pi).sum(axis=1)
    ratios = errors[1:] / errors[:-1]
    lam = M.second_eigenvalue(P3)
    assert lam == pytest.approx(np.sort(np.abs(linalg.eigvals(P3)))[-2])
    assert abs(ratios[20] - lam) < 0.01  # the third eigenvalue's share has died out by t = 20


def test_detailed_balance_of_metropolis_chain_on_a_path():
    """A Metropolis chain built for a target pi is reversible, with pi as its stationary law."""
    target = np.array([0.1, 0.2, 0.3, 0.4])
    S = target.size
    P = np.zeros((S, S))
    for i in range(S):
        for j in (i - 1, i + 1):
            if 0 <= j < S:
                P[i, j] = 0.5 * min(1.0, target[j] / target[i])
        P[i, i] = 1.0 - P[i].sum()
    assert M.is_reversible(P)
    np.testing.assert_allclose(M.stationary_by_linear_solve(P), target, rtol=1e-12)
    assert not M.is_reversible(figures.P)


def test_random_walk_matches_binomial_law():
    t, n, p = 30, 40_000, 0.6
    X = M.random_walk(t, rng(203), p=p, n_walks=n)
    k = (X[-1] + t) // 2
    counts = np.bincount(k, minlength=t + 1)
    expected = n * stats.binom(t, p).pmf(np.arange(t + 1))
    keep = expected > 5  # chi-square needs expected counts of at least ~5
    observed = np.append(counts[keep], counts[~keep].sum())
    expected = np.append(expected[keep], expected[~keep].sum())
    assert stats.chisquare(observed, expected * observed.sum() / expected.sum()).pvalue > ALPHA
    se_mean = math.sqrt(4 * t * p * (1 - p) / n)
    assert abs(X[-1].mean() - t * (2 * p - 1)) < 4.892 * se_mean


def test_ar1_marginal_matches_simulation_with_a_ddpm_schedule():
    """DDPM's linear schedule 1e-4 -> 0.02 over T = 1000 steps: x_T is N(sqrt(abar) x0, 1 - abar)."""
    betas = np.linspace(1e-4, 0.02, 1000)
    x0 = np.full(5000, 1.5)
    path = M.ar1_chain(x0, betas, 1000, rng(204))
    for t in (10, 250, 1000):
        mean, var = M.ar1_marginal(1.5, betas, t)
        assert var == pytest.approx(1 - np.prod(1 - betas[:t]))
        assert stats.kstest(path[t], stats.norm(float(mean), math.sqrt(var)).cdf).pvalue > ALPHA
    assert M.ar1_marginal(1.5, betas, 1000)[1] > 0.9999  # x_T is almost pure noise


def test_ar1_moments_match_the_closed_form():
    """Sample mean and variance of x_t against sqrt(abar) x0 and 1 - abar (Gaussian standard errors)."""
    n = 20_000
    path = M.ar1_chain(np.full(n, -2.0), 0.02, 50, rng(207))
    for t in (5, 50):
        mean, var = M.ar1_marginal(-2.0, 0.02, t)
        assert abs(path[t].mean() - float(mean)) < 4.892 * math.sqrt(var / n)
        assert abs(path[t].var(ddof=1) - var) < 4.892 * var * math.sqrt(2 / (n - 1))


def test_small_steps_approach_the_ornstein_uhlenbeck_law():
    """beta = theta dt for T / dt steps: abar -> exp(-theta T), the OU marginal, with O(dt) error."""
    theta, T = 2.0, 1.5
    for dt in (1e-2, 1e-3, 1e-4):
        n = round(T / dt)
        mean, var = M.ar1_marginal(1.0, theta * dt, n)
        assert abs(float(mean) - math.exp(-theta * T / 2)) < 2 * theta**2 * T * dt
        assert abs(var - (1 - math.exp(-theta * T))) < 2 * theta**2 * T * dt


def test_ar1_autocorrelation_and_stationarity():
    """At stationarity, Corr(x_t, x_{t+k}) = (1 - beta)^(k/2)."""
    x0 = rng(205).standard_normal(20_000)
    path = M.ar1_chain(x0, 0.2, 6, rng(206))
    for k in (1, 3, 6):
        r = np.corrcoef(path[0], path[k])[0, 1]
        rho = (1 - 0.2) ** (k / 2)
        # the sample correlation of Gaussians has sd (1 - rho^2) / sqrt(n)
        assert abs(r - rho) < 4.892 * (1 - rho**2) / math.sqrt(20_000) + 1e-3
    assert stats.kstest(path[-1], stats.norm().cdf).pvalue > ALPHA


def test_figures_are_drawn_with_the_implementation_they_are_given():
    """Each figure calls the functions of the ``impl`` it is given (here the reference, recorded)."""
    from types import SimpleNamespace

    from matplotlib.figure import Figure

    called = set()

    def recording(name):
        def wrapper(*args, **kwargs):
            called.add(name)
            return getattr(M, name)(*args, **kwargs)

        return wrapper

    impl = SimpleNamespace(**{name: recording(name) for name in M.__all__})
    for name, make in figures.FIGURES.items():
        assert isinstance(make(impl), Figure), name
    assert called == {
        "ar1_chain",
        "ar1_marginal",
        "evolve_distribution",
        "random_walk",
        "second_eigenvalue",
        "simulate_chain",
        "stationary_by_linear_solve",
    }


PERIODIC = np.array([[0.0, 1.0], [1.0, 0.0]])
BAD = [
    (lambda: M.simulate_chain([[0.5, 0.4], [0.3, 0.7]], 0, 3, rng()), "P"),
    (lambda: M.simulate_chain([[1.1, -0.1], [0.3, 0.7]], 0, 3, rng()), "P"),
    (lambda: M.simulate_chain(np.ones((2, 3)) / 3, 0, 3, rng()), "P"),
    (lambda: M.simulate_chain(P3, 3, 3, rng()), "x0"),
    (lambda: M.simulate_chain(P3, 0.5, 3, rng()), "x0"),
    (lambda: M.simulate_chain(P3, np.array([0, 3]), 3, rng()), "x0"),
    (lambda: M.simulate_chain(P3, np.array([True, False]), 3, rng()), "x0"),
    (lambda: M.simulate_chain(P3, 0, 3, np.random.RandomState(0)), "rng"),
    (lambda: M.evolve_distribution(P3, np.array([0.5, 0.6, -0.1]), 3), "p0"),
    (lambda: M.evolve_distribution(P3, np.array([0.5, 0.4, 0.0]), 3), "p0"),
    (lambda: M.evolve_distribution(P3, np.array([0.5, 0.5]), 3), "p0"),
    (lambda: M.stationary_by_iteration(PERIODIC, np.array([1.0, 0.0]), max_steps=100), "P"),
    (lambda: M.stationary_by_iteration(P3, tol=0.0), "tol"),
    (lambda: M.stationary_by_iteration(P3, max_steps=0), "max_steps"),
    (lambda: M.is_reversible(P3, atol=-1e-3), "atol"),
    (lambda: M.stationary_by_linear_solve(np.eye(2)), "P"),
    (lambda: M.stationary_by_eigenvector([[0.2, 0.2], [0.5, 0.5]]), "P"),
    (lambda: M.is_reversible([[0.5, -0.5], [0.5, 0.5]]), "P"),
    (lambda: M.second_eigenvalue(np.ones((1, 1))), "P"),
    (lambda: M.random_walk(5, rng(), p=0.0), "p"),
    (lambda: M.random_walk(0, rng()), "n_steps"),
    (lambda: M.random_walk(5, rng(), x0=0.5), "x0"),
    (lambda: M.random_walk(5, rng(), x0=True), "x0"),
    (lambda: M.random_walk(5, rng(), p=np.nan), "p"),
    (lambda: M.random_walk(5, rng(), n_walks=0), "n_walks"),
    (lambda: M.ar1_chain(0.0, 0.0, 3, rng()), "beta"),
    (lambda: M.ar1_chain(0.0, [0.1, 0.2], 3, rng()), "beta"),
    (lambda: M.ar1_chain(0.0, [0.1, 1.2, 0.1], 3, rng()), "beta"),
    (lambda: M.ar1_marginal(0.0, -0.5, 2), "beta"),
    (lambda: M.ar1_marginal(0.0, 0.5, -1), "t"),
    (lambda: M.ar1_marginal(0.0, [0.1, 0.2], 3), "t"),
    (lambda: M.ar1_marginal(0.0, 0.5, 1.5), "t"),
    (lambda: M.ar1_marginal([0.0, np.inf], 0.5, 1), "x0"),
]


@pytest.mark.parametrize(("call", "argument"), BAD, ids=[f"{i}-{b[1]}" for i, b in enumerate(BAD)])
def test_bad_input_names_the_argument(call, argument):
    with pytest.raises(ValueError, match=argument):
        call()


def test_periodic_chain_still_has_a_stationary_law():
    """The flip chain never converges by iteration, but pi = (1/2, 1/2) solves pi = pi P."""
    np.testing.assert_allclose(M.stationary_by_linear_solve(PERIODIC), [0.5, 0.5])
    np.testing.assert_allclose(M.stationary_by_eigenvector(PERIODIC), [0.5, 0.5])
    assert M.second_eigenvalue(PERIODIC) == pytest.approx(1.0)
