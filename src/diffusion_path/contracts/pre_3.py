"""Contract of Pre-Task 3: Markov chains and the Gaussian AR(1) chain.

Ground truth: matrix powers and linear solves from ``torch.linalg`` (a library
independent of the NumPy code under test), distributions worked out by hand
(doubly stochastic and birth–death chains, binomial laws of the random walk), and
the closed-form Gaussian marginal of the AR(1) chain. Simulations are checked with
a Kolmogorov–Smirnov test (DKW bound) that a correct sampler fails less than once in
a million runs.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from diffusion_path.contracts import (
    FAILURE_RATE,
    assert_close,
    assert_ks,
    assert_raises_value_error,
    normal_cdf,
)
from diffusion_path.contracts.base import Contract

CONTRACT = Contract("pre-3")
check = CONTRACT.check

# The page's 3-state chain on (A, B, C).
P3 = np.array([[0.5, 0.3, 0.2], [0.2, 0.6, 0.2], [0.1, 0.3, 0.6]])
# A birth–death chain: reversible, with pi from detailed balance pi_{i+1} / pi_i = P_{i,i+1} / P_{i+1,i}.
BIRTH_DEATH = np.array([[0.7, 0.3, 0.0], [0.2, 0.5, 0.3], [0.0, 0.4, 0.6]])
BIRTH_DEATH_PI = np.array([1.0, 1.5, 1.5 * 0.75]) / (1.0 + 1.5 + 1.125)
# A lazy cycle A -> B -> C -> A: doubly stochastic (uniform pi) but not reversible.
CYCLE = 0.1 * np.eye(3) + 0.9 * np.roll(np.eye(3), 1, axis=1)
# Bad inputs.
ROWS_NOT_ONE = np.array([[0.5, 0.4], [0.3, 0.7]])
NEGATIVE = np.array([[1.2, -0.2], [0.3, 0.7]])
BAD_P = [(ROWS_NOT_ONE, "rows not summing to 1"), (NEGATIVE, "a negative probability")]


def _torch_pi(P: np.ndarray) -> np.ndarray:
    """Stationary law by torch.linalg.solve of pi (P - I) = 0 with sum(pi) = 1 (least squares)."""
    S = P.shape[0]
    A = torch.tensor(np.vstack([(P - np.eye(S)).T, np.ones((1, S))]), dtype=torch.float64)
    b = torch.zeros(S + 1, dtype=torch.float64)
    b[-1] = 1.0
    return torch.linalg.lstsq(A, b.unsqueeze(1)).solution.squeeze(1).numpy()


def _matrix_power(P: np.ndarray, t: int) -> np.ndarray:
    return torch.linalg.matrix_power(torch.tensor(P, dtype=torch.float64), t).numpy()


def _assert_discrete_ks(samples: np.ndarray, support: np.ndarray, probs: np.ndarray, what: str):
    """DKW test for integer samples: the CDFs compared at each support point."""
    samples = np.asarray(samples).ravel()
    n = samples.size
    empirical = np.array([np.mean(samples <= k) for k in support])
    d = float(np.max(np.abs(empirical - np.cumsum(probs))))
    critical = math.sqrt(math.log(2.0 / FAILURE_RATE) / (2.0 * n))
    assert d <= critical, (
        f"{what}: the states do not follow the expected distribution "
        f"(KS distance {d:.4f} > {critical:.4f} allowed for {n} samples)"
    )


def _rejects_bad_P(call, name: str) -> None:
    for P, case in BAD_P:
        assert_raises_value_error(lambda P=P: call(P), "P", f"{name} with {case}")


# ----------------------------------------------------------------------------- simulation
SIMULATE_HINT = (
    "For each chain draw u = rng.random() and take the first j with cumsum(P[x])[j] > u "
    "(inverse-CDF sampling on a finite set); path[0] is x0."
)


@check("simulate_chain", hint=SIMULATE_HINT)
def simulated_states_follow_p0_P_t(impl):
    """From state A, 30000 chains are distributed as e_A P^t after t = 1 and t = 3 steps."""
    n = 30_000
    path = np.asarray(impl.simulate_chain(P3, np.zeros(n, dtype=int), 3, np.random.default_rng(0)))
    assert path.shape == (4, n), f"path shape {path.shape}, expected (4, {n})"
    assert np.all(path[0] == 0), "path[0] must be x0"
    for t in (1, 3):
        _assert_discrete_ks(path[t], np.arange(3), _matrix_power(P3, t)[0], f"states at t={t}")


@check("simulate_chain", hint=SIMULATE_HINT)
def simulation_is_exact_and_validated(impl):
    """A deterministic cycle is followed exactly from an int start; a bad P raises naming P."""
    flip = np.roll(np.eye(3), 1, axis=1)  # A -> B -> C -> A with probability 1
    path = np.asarray(impl.simulate_chain(flip, 1, 5, np.random.default_rng(0)))
    assert path.tolist() == [1, 2, 0, 1, 2, 0], f"the cycle from B gave {path.tolist()}"
    rng = np.random.default_rng(0)
    _rejects_bad_P(lambda P: impl.simulate_chain(P, 0, 3, rng), "simulate_chain")


# ----------------------------------------------------------------------------- distributions
@check("evolve_distribution", hint="Row t is p0 @ P^t: multiply the row vector by P once per step.")
def evolve_matches_matrix_powers(impl):
    """evolve_distribution's row t is p0 P^t (torch.linalg.matrix_power); bad P raises."""
    p0 = np.array([0.2, 0.0, 0.8])
    out = np.asarray(impl.evolve_distribution(P3, p0, 6))
    assert out.shape == (7, 3), f"shape {out.shape}, expected (7, 3)"
    for t in range(7):
        assert_close(out[t], p0 @ _matrix_power(P3, t), f"p_t at t={t}", rtol=1e-9)
    _rejects_bad_P(lambda P: impl.evolve_distribution(P, np.array([0.5, 0.5]), 2), "evolve")


STATIONARY_HINT = (
    "pi satisfies pi = pi P and sum(pi) = 1. Left eigenvectors of P are right eigenvectors of "
    "P.T; replace one balance equation by sum(pi) = 1 to solve the linear system."
)


def _check_stationary(method, name: str) -> None:
    assert_close(method(P3), _torch_pi(P3), f"{name} for the 3-state chain", rtol=1e-8)
    assert_close(method(BIRTH_DEATH), BIRTH_DEATH_PI, f"{name} for a birth–death chain", rtol=1e-8)
    assert_close(
        method(CYCLE), np.full(3, 1 / 3), f"{name} for a doubly stochastic chain", rtol=1e-8
    )
    _rejects_bad_P(method, name)


@check("stationary_by_iteration", hint=STATIONARY_HINT)
def stationary_iteration(impl):
    """stationary_by_iteration agrees with the exact pi and does not depend on p0."""
    _check_stationary(impl.stationary_by_iteration, "stationary_by_iteration")
    got = impl.stationary_by_iteration(P3, np.array([0.0, 0.0, 1.0]))
    assert_close(got, _torch_pi(P3), "stationary_by_iteration from p0 = C", rtol=1e-8)


@check("stationary_by_eigenvector", hint=STATIONARY_HINT)
def stationary_eigenvector(impl):
    """stationary_by_eigenvector agrees with the exact pi (sums to 1, non-negative)."""
    _check_stationary(impl.stationary_by_eigenvector, "stationary_by_eigenvector")


@check("stationary_by_linear_solve", hint=STATIONARY_HINT)
def stationary_linear_solve(impl):
    """stationary_by_linear_solve agrees with the exact pi."""
    _check_stationary(impl.stationary_by_linear_solve, "stationary_by_linear_solve")


@check("is_reversible", hint="Reversible iff pi_i P_ij = pi_j P_ji for all i, j (flows F = F.T).")
def reversibility(impl):
    """Birth–death and symmetric chains are reversible; a lazy cycle A -> B -> C is not."""
    assert bool(impl.is_reversible(BIRTH_DEATH)), "a birth–death chain satisfies detailed balance"
    symmetric = np.array([[0.5, 0.25, 0.25], [0.25, 0.5, 0.25], [0.25, 0.25, 0.5]])
    assert bool(impl.is_reversible(symmetric)), "a symmetric chain satisfies detailed balance"
    assert not bool(impl.is_reversible(CYCLE)), "a chain that cycles A -> B -> C is not reversible"
    assert not bool(impl.is_reversible(P3)), "the page's 3-state chain is not reversible"
    _rejects_bad_P(impl.is_reversible, "is_reversible")


@check(
    "second_eigenvalue", hint="Sort |eigenvalues of P| in decreasing order and return the second."
)
def second_eigenvalue_closed_forms(impl):
    """|lambda_2| is |1 - a - b| for a 2-state chain and sqrt(0.73) for the lazy cycle."""
    a, b = 0.3, 0.1
    two = np.array([[1 - a, a], [b, 1 - b]])
    assert_close(impl.second_eigenvalue(two), abs(1 - a - b), "|lambda_2| of a 2-state chain")
    # eigenvalues of 0.1 I + 0.9 C are 0.1 + 0.9 w with w^3 = 1: |0.1 + 0.9 e^{2 pi i / 3}|
    assert_close(impl.second_eigenvalue(CYCLE), math.sqrt(0.73), "|lambda_2| of the lazy cycle")
    # P3 has eigenvalues 1, 0.4, 0.3: trace 1.7, det 0.12, principal 2x2 minors summing to 0.82
    assert_close(impl.second_eigenvalue(P3), 0.4, "|lambda_2| of the 3-state chain")
    _rejects_bad_P(impl.second_eigenvalue, "second_eigenvalue")


# ----------------------------------------------------------------------------- random walk
@check("random_walk", hint="Steps are +1 with probability p and -1 otherwise; path = x0 + cumsum.")
def random_walk_is_binomial(impl):
    """After t steps, (X_t - x0 + t) / 2 ~ Binomial(t, p) (KS test); bad p raises."""
    t, n, p = 20, 30_000, 0.3
    X = np.asarray(impl.random_walk(t, np.random.default_rng(1), p=p, n_walks=n, x0=5))
    assert X.shape == (t + 1, n), f"shape {X.shape}, expected ({t + 1}, {n})"
    assert np.all(X[0] == 5), "row 0 must be x0"
    steps = np.diff(X, axis=0)
    assert np.all(np.abs(steps) == 1), "every step must be +1 or -1"
    k = (X[-1] - 5 + t) // 2
    probs = np.array([math.comb(t, j) * p**j * (1 - p) ** (t - j) for j in range(t + 1)])
    _assert_discrete_ks(k, np.arange(t + 1), probs, "the number of up-steps")
    rng = np.random.default_rng(0)
    assert_raises_value_error(lambda: impl.random_walk(5, rng, p=1.5), "p", "p=1.5")


# ----------------------------------------------------------------------------- AR(1)
AR1_HINT = (
    "x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps_t with eps_t = rng.standard_normal(x.shape): "
    "square roots on both factors, so the variance stays 1 at stationarity."
)


@check("ar1_chain", hint=AR1_HINT)
def ar1_chain_marginal(impl):
    """After t steps from x0 = 2, the AR(1) chain is N(sqrt(abar) x0, 1 - abar) (KS test)."""
    n, beta, t = 20_000, 0.1, 10
    path = np.asarray(impl.ar1_chain(np.full(n, 2.0), beta, t, np.random.default_rng(2)))
    assert path.shape == (t + 1, n), f"path shape {path.shape}, expected ({t + 1}, {n})"
    for s in (1, t):
        abar = (1 - beta) ** s
        assert_ks(
            path[s], lambda x, a=abar: normal_cdf(x, math.sqrt(a) * 2.0, math.sqrt(1 - a)), f"x_{s}"
        )
    # a schedule of betas: abar is the product of (1 - beta_s)
    betas = np.linspace(0.01, 0.3, 8)
    path = np.asarray(impl.ar1_chain(np.full(n, -1.0), betas, 8, np.random.default_rng(3)))
    abar = float(np.prod(1 - betas))
    assert_ks(path[-1], lambda x: normal_cdf(x, -math.sqrt(abar), math.sqrt(1 - abar)), "x_8")


@check("ar1_chain", hint="Reject beta outside (0, 1) with a ValueError naming beta.")
def ar1_chain_is_stationary_and_validated(impl):
    """Started at N(0, 1), the chain stays N(0, 1); beta outside (0, 1) raises naming beta."""
    x0 = np.random.default_rng(4).standard_normal(20_000)
    path = np.asarray(impl.ar1_chain(x0, 0.5, 5, np.random.default_rng(5)))
    assert_ks(path[-1], normal_cdf, "x_5 started from the stationary law")
    rng = np.random.default_rng(0)
    for beta in (0.0, 1.0, -0.1):
        assert_raises_value_error(
            lambda b=beta: impl.ar1_chain(0.0, b, 3, rng), "beta", f"beta={beta}"
        )


@check(
    "ar1_marginal", hint="abar_t = prod (1 - beta_s); mean sqrt(abar_t) x0, variance 1 - abar_t."
)
def ar1_marginal_closed_form(impl):
    """ar1_marginal gives sqrt(abar) x0 and 1 - abar, for a constant beta and a schedule."""
    mean, var = impl.ar1_marginal(np.array([2.0, -4.0]), 0.5, 2)
    assert_close(mean, [1.0, -2.0], "the mean after 2 steps with beta = 1/2")
    assert_close(var, 0.75, "the variance after 2 steps with beta = 1/2")
    mean, var = impl.ar1_marginal(3.0, np.array([0.1, 0.2, 0.5]), 2)
    assert_close(mean, math.sqrt(0.9 * 0.8) * 3.0, "the mean with a schedule")
    assert_close(var, 1 - 0.72, "the variance with a schedule")
    mean, var = impl.ar1_marginal(3.0, 0.3, 0)
    assert_close(mean, 3.0, "the mean at t = 0")
    assert abs(float(var)) < 1e-12, f"the variance at t = 0 is {var}, expected 0"
    assert_raises_value_error(lambda: impl.ar1_marginal(0.0, 1.5, 2), "beta", "beta=1.5")
