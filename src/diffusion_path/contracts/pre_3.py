"""Contract of Pre-Task 3: Markov chains and the Gaussian AR(1) chain.

Ground truth: matrix powers, linear solves and eigenvalues from ``torch.linalg`` (a library
independent of the NumPy code under test, imported when a check first needs it), distributions worked out by hand (doubly stochastic
and birth–death chains, the binomial law of the random walk), and the closed-form Gaussian
marginal of the AR(1) chain. Simulations are checked by their moments, in standard errors, and
by Kolmogorov–Smirnov tests (DKW bound) that a correct simulation fails less than once in a
million runs.

The chains are chosen so that mistakes show: the page's chain is neither symmetric nor doubly
stochastic (a column of ``P`` is not a distribution, and the right eigenvector is not
``pi``); the birth–death chain is reversible without being symmetric; a 4-state chain has four
distinct eigenvalues, so ``|lambda_2|`` is not the second smallest; a 2-state chain has a
negative second eigenvalue.
"""

from __future__ import annotations

import math

import numpy as np

from diffusion_path.contracts.asserts import (
    FAILURE_RATE,
    assert_close,
    assert_ks,
    assert_raises_value_error,
    assert_within_se,
    expect,
    normal_cdf,
    to_numpy,
)
from diffusion_path.contracts.base import Contract, Invalid, call

CONTRACT = Contract("pre-3")
check = CONTRACT.check


def _frozen(values) -> np.ndarray:
    array = np.array(values, dtype=np.float64)
    array.setflags(write=False)  # the checks pass copies; nothing may write into these
    return array


#: The page's 3-state chain on (A, B, C): pi = (5, 9, 7) / 21, eigenvalues 1, 0.4, 0.3.
P3 = _frozen([[0.5, 0.3, 0.2], [0.2, 0.6, 0.2], [0.1, 0.3, 0.6]])
P3_PI = _frozen([5 / 21, 9 / 21, 7 / 21])
#: A birth–death chain: reversible, pi from detailed balance pi_{i+1} / pi_i = P_{i,i+1} / P_{i+1,i}.
BIRTH_DEATH = _frozen([[0.7, 0.3, 0.0], [0.2, 0.5, 0.3], [0.0, 0.4, 0.6]])
BIRTH_DEATH_PI = _frozen(np.array([1.0, 1.5, 1.125]) / 3.625)
#: A lazy cycle A -> B -> C -> A: doubly stochastic (uniform pi) but not reversible.
CYCLE = _frozen(0.1 * np.eye(3) + 0.9 * np.roll(np.eye(3), 1, axis=1))
#: A lazy symmetric 4-state chain with eigenvalues 1, 0.7, 0.458..., 0.141...: all distinct.
P4 = _frozen(
    0.5 * np.eye(4)
    + 0.5
    * np.array(
        [[0.0, 0.7, 0.2, 0.1], [0.7, 0.0, 0.1, 0.2], [0.2, 0.1, 0.3, 0.4], [0.1, 0.2, 0.4, 0.3]]
    )
)
#: A chain that flips between two states: periodic, it never converges by iteration.
FLIP = _frozen([[0.0, 1.0], [1.0, 0.0]])
#: Two closed classes {0, 1} and {2, 3}: the limit of p0 P^t depends on p0.
REDUCIBLE = _frozen(
    [[0.6, 0.4, 0.0, 0.0], [0.2, 0.8, 0.0, 0.0], [0.0, 0.0, 0.5, 0.5], [0.0, 0.0, 0.9, 0.1]]
)
BAD_P = [
    Invalid("P", lambda a: np.array([[0.5, 0.4], [0.3, 0.7]]), "P with a row summing to 0.9"),
    Invalid("P", lambda a: np.array([[1.2, -0.2], [0.3, 0.7]]), "P with a negative entry"),
    Invalid("P", lambda a: np.full((2, 3), 1 / 3), "P of shape (2, 3)"),
]


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _matrix_power(P: np.ndarray, t: int) -> np.ndarray:
    """P^t by torch.linalg (torch is imported when a check first needs it)."""
    import torch

    return torch.linalg.matrix_power(torch.tensor(P, dtype=torch.float64), t).numpy()


def _torch_pi(P: np.ndarray) -> np.ndarray:
    """Stationary law by torch.linalg.lstsq of pi (P - I) = 0 with sum(pi) = 1 appended."""
    import torch

    S = P.shape[0]
    A = torch.tensor(np.vstack([(P - np.eye(S)).T, np.ones((1, S))]), dtype=torch.float64)
    b = torch.zeros(S + 1, 1, dtype=torch.float64)
    b[-1] = 1.0
    return torch.linalg.lstsq(A, b).solution.squeeze(1).numpy()


def _assert_discrete_ks(
    samples: np.ndarray, probs: np.ndarray, what: str, hint: str | None = None
) -> None:
    """DKW test for samples on {0, ..., K-1}: the empirical CDF against the cumulative ``probs``."""
    samples = np.asarray(samples).ravel()
    n = samples.size
    empirical = np.array([np.mean(samples <= k) for k in range(len(probs))])
    d = float(np.max(np.abs(empirical - np.cumsum(probs))))
    critical = math.sqrt(math.log(2.0 / FAILURE_RATE) / (2.0 * n))
    expect(
        d <= critical,
        f"{what}: the states do not follow the expected distribution "
        f"(KS distance {d:.4f}, more than the {critical:.4f} a correct simulation reaches once "
        f"in a million runs of {n})",
        hint,
    )


class _TopUniform(np.random.Generator):
    """A Generator whose ``random()`` always returns 1 - 2^-53, the largest value it can return."""

    def random(self, size=None, dtype=np.float64, out=None):
        return np.full(() if size is None else size, np.nextafter(1.0, 0.0))


# ----------------------------------------------------------------------------- simulate_chain
CONTRACT.function(
    "simulate_chain",
    lambda: call(P3.copy(), np.array([0, 2, 1, 0]), 5, _rng(0)),
    invalid=[
        *BAD_P,
        Invalid("x0", np.array([0, 3]), "a state 3 of a 3-state chain"),
        Invalid("x0", np.array([0.0, 1.0]), "states given as floats"),
        Invalid("x0", -1, "the state -1"),
    ],
    hints=(
        "Eq. (P3.1): a chain in state i moves to j with probability P[i, j], so each step draws "
        "from the row of the current state — inverse-CDF sampling on a finite set, as in Pre-Task "
        "2, with one uniform number per chain per step.",
        "First the cumulative sums C along each row of P, with the last entry of every row set to "
        "exactly 1 (rounding may leave it just below). The path is an integer array of n_steps + 1 "
        "rows, each of x0's shape; row 0 is x0. At each step draw uniforms of x0's shape from rng, "
        "one per chain; a chain in state i moves to the first state j with C[i, j] > u, which is "
        "the count of entries of row i of C that are <= u. Store the new states as the next row.",
    ),
)
SIMULATE_HINT = (
    "Each step draws every chain's next state from the row of P of its current state (P3.1), "
    "with its own uniform number: the first j whose cumulative probability exceeds it."
)
SIMULATE_SHAPE_HINT = (
    "Return n_steps + 1 rows — the start, then one row per step — each of x0's shape (one entry "
    "per chain; an int x0 is one chain)."
)
SIMULATE_START_HINT = "Row 0 is x0 itself, and each chain starts from its own entry of x0."
SIMULATE_ROW_HINT = (
    "The next state is drawn from the row of P of the current state: P[i, j] is the probability "
    "of moving from i to j, so rows sum to 1 (columns need not)."
)
SIMULATE_LATER_HINT = (
    "Every step starts from the state each chain is in now, so after t steps the states follow "
    "p0 P^t: draw a fresh uniform number at every step, from the current state's row."
)
SIMULATE_INDEPENDENT_HINT = (
    "Draw a separate uniform number for every chain at every step: one number for all moves the "
    "chains in lockstep, and they are no longer independent."
)
SIMULATE_ROUNDOFF_HINT = (
    "Round-off: the running sum of a row can end just below 1 (ten entries of 0.1 add up to "
    "0.9999999999999999), and a uniform number can be larger than that. Set the last cumulative "
    "probability of every row to exactly 1, so that every uniform number finds a state."
)


@check("simulate_chain", hint=SIMULATE_HINT)
def simulated_states_follow_p0_P_t(impl):
    """From mixed starts chains move independently, each by its row of P; from A they follow e_A P^t."""
    n = 30_000
    x0 = (np.arange(n) // 2) % 3  # pairs of chains from A, B, C, A, ...
    path = np.asarray(impl.simulate_chain(P3.copy(), x0.copy(), 3, _rng(0)))
    expect(
        path.shape == (4, n),
        f"for x0 of shape ({n},) and 3 steps the path has shape {path.shape}, expected (4, {n})",
        SIMULATE_SHAPE_HINT,
    )
    single = np.asarray(impl.simulate_chain(P3.copy(), 1, 4, _rng(1)))
    expect(
        single.shape == (5,),
        f"for x0 = 1 and 4 steps the path has shape {single.shape}, expected (5,)",
        SIMULATE_SHAPE_HINT,
    )
    expect(
        np.array_equal(path[0], x0) and single[0] == 1,
        "row 0 of the path is not x0",
        SIMULATE_START_HINT,
    )
    expect(
        np.all((path >= 0) & (path < 3)),
        f"the path holds states outside [0, 3): {sorted(set(path.ravel().tolist()) - {0, 1, 2})}",
        SIMULATE_ROW_HINT,
    )
    # two chains one step from the same state agree with probability sum_j P[i, j]^2, not always
    first, starts = path[1].reshape(-1, 2), x0[0::2]
    for i, name in enumerate("ABC"):
        pairs = first[(starts == i)]
        p_same = float(np.sum(P3[i] ** 2))
        assert_within_se(
            float(np.mean(pairs[:, 0] == pairs[:, 1])),
            p_same,
            math.sqrt(p_same * (1 - p_same) / len(pairs)),
            f"the share of pairs of chains that both start in {name} and agree after one step",
            hint=SIMULATE_INDEPENDENT_HINT,
        )
    for i, name in enumerate("ABC"):
        _assert_discrete_ks(path[1][x0 == i], P3[i], f"one step from {name}", SIMULATE_ROW_HINT)
    from_a = np.asarray(impl.simulate_chain(P3.copy(), np.zeros(n, dtype=np.int64), 3, _rng(2)))
    for t in (2, 3):
        _assert_discrete_ks(
            from_a[t], _matrix_power(P3, t)[0], f"{t} steps from A", SIMULATE_LATER_HINT
        )


@check("simulate_chain", hint=SIMULATE_ROUNDOFF_HINT)
def a_uniform_just_below_one_finds_a_state(impl):
    """With rows of ten 0.1s and a uniform of 1 - 2^-53, the chains stay in [0, 10)."""
    P = np.full((10, 10), 0.1)
    rng = _TopUniform(np.random.PCG64(0))
    path = np.asarray(impl.simulate_chain(P, np.zeros(4, dtype=np.int64), 1, rng))
    expect(
        np.all((path >= 0) & (path < 10)),
        f"with a uniform number of 1 - 2^-53 the next states are {path[-1].tolist()}, outside "
        "the 10 states [0, 10)",
    )


@check("simulate_chain", hint=SIMULATE_ROW_HINT)
def a_deterministic_cycle_is_followed_exactly(impl):
    """A -> B -> C -> A with probability 1, from B for 5 steps: exactly B C A B C A."""
    cycle = np.roll(np.eye(3), 1, axis=1)
    path = np.asarray(impl.simulate_chain(cycle, 1, 5, _rng(4)))
    expect(
        path.tolist() == [1, 2, 0, 1, 2, 0],
        f"the deterministic cycle from B gave {path.tolist()}, expected [1, 2, 0, 1, 2, 0]",
    )


# ----------------------------------------------------------------------------- evolve_distribution
CONTRACT.function(
    "evolve_distribution",
    lambda: call(P3.copy(), np.array([0.2, 0.0, 0.8]), 4),
    invalid=[
        *BAD_P,
        Invalid("p0", np.array([0.5, 0.6, -0.1]), "p0 with a negative entry"),
        Invalid("p0", np.array([0.5, 0.4, 0.0]), "p0 summing to 0.9"),
        Invalid("p0", np.array([0.5, 0.5]), "p0 of length 2 for 3 states"),
    ],
    hints=(
        "Eq. (P3.1): a distribution is a row vector, and one step multiplies it by P on the right. "
        "Keep every step.",
        "An array of n_steps + 1 rows and S columns: row 0 is p0, and each following row is the "
        "row before it times P, the vector on the left: entry j of the new row is sum_i p_i P[i, "
        "j]. (P times the vector, with the vector on the right, weights the rows of P instead: not "
        "the next distribution.)",
    ),
)
EVOLVE_HINT = "Row t is p0 P^t: multiply the previous row, a row vector, by P once per step (P3.1)."
EVOLVE_ROWVEC_HINT = (
    "A distribution is a row vector and one step is p P: the sum over the current state i of "
    "p_i P[i, j]. P p (a column vector) sums over the next state instead."
)
EVOLVE_CHAIN_HINT = (
    "Each row comes from the row before it, one step later: p_t = p_{t-1} P, not p0 P."
)


@check("evolve_distribution", hint=EVOLVE_HINT)
def evolve_matches_matrix_powers(impl):
    """evolve_distribution's row t is p0 P^t (torch.linalg.matrix_power), row 0 being p0."""
    p0 = np.array([0.2, 0.0, 0.8])
    out = to_numpy(impl.evolve_distribution(P3.copy(), p0.copy(), 6))
    expect(
        out.shape == (7, 3),
        f"for 6 steps of a 3-state chain the result has shape {out.shape}, expected (7, 3)",
        "Return n_steps + 1 rows — p0, then one row per step — of S probabilities each.",
    )
    assert_close(out[0], p0, "row 0", hint="Row 0 is p0 itself, before any step.")
    assert_close(out[1], p0 @ P3, "row 1, one step after p0", rtol=1e-9, hint=EVOLVE_ROWVEC_HINT)
    for t in range(2, 7):
        assert_close(
            out[t], p0 @ _matrix_power(P3, t), f"row {t}", rtol=1e-9, hint=EVOLVE_CHAIN_HINT
        )


# ----------------------------------------------------------------------------- stationary laws
CONTRACT.function(
    "stationary_by_iteration",
    lambda: call(P3.copy(), np.array([0.0, 0.0, 1.0]), 1e-10, 10_000),
    invalid=BAD_P[:1],
    hints=(
        "The power method reads (P3.2) as a fixed point: start from p0, multiply by P again and "
        "again until a step no longer changes anything — that is pi. If it never settles within "
        "max_steps, say so.",
        "Start from p0. At most max_steps times: multiply the current vector by P on the right; if "
        "the largest absolute change of an entry is below tol, return the new vector divided by "
        "its sum (so that it sums to exactly 1); otherwise go on from the new vector. If the loop "
        "ends without returning, raise a ValueError naming P: the chain did not converge "
        "(periodic, or reducible).",
    ),
)
STATIONARY_HINT = (
    "pi = pi P with sum(pi) = 1 (P3.2). Iterate p <- p P (a row vector times P) from p0; an "
    "eigenvector of P transposed, or the linear system with one equation replaced, gives it too."
)
ITERATION_P0_HINT = (
    "Start from p0 when it is given (the uniform distribution only when it is None): for a chain "
    "with two closed classes the limit depends on where p0 puts its mass."
)
ITERATION_TOL_HINT = (
    "Stop at the first step whose largest change |p P - p| is below tol — the argument, not a "
    "fixed number — and return the iterate that step produced, scaled to sum to 1."
)
ITERATION_RAISE_HINT = (
    "After max_steps steps without convergence, raise a ValueError naming P: a periodic chain "
    "oscillates for ever, and a chain that needs more steps than max_steps has not converged yet."
)


def _check_stationary(method, name: str, hint: str) -> None:
    for P, pi, case in [
        (P3, P3_PI, "the page's chain"),
        (BIRTH_DEATH, BIRTH_DEATH_PI, "a birth–death chain"),
        (CYCLE, np.full(3, 1 / 3), "a doubly stochastic chain"),
        (P4, np.full(4, 1 / 4), "a symmetric 4-state chain"),
    ]:
        assert_close(method(P.copy()), pi, f"{name} for {case}", rtol=1e-8, hint=hint)
    random = _rng(5).dirichlet(np.ones(5), size=5)
    assert_close(
        method(random),
        _torch_pi(random),
        f"{name} for a random 5-state chain",
        rtol=1e-7,
        hint=hint,
    )


@check("stationary_by_iteration", hint=STATIONARY_HINT)
def stationary_iteration(impl):
    """stationary_by_iteration finds pi for several chains, and starts from p0."""
    _check_stationary(
        lambda P: impl.stationary_by_iteration(P), "stationary_by_iteration", STATIONARY_HINT
    )
    p0 = np.array([0.3, 0.7, 0.0, 0.0])
    got = impl.stationary_by_iteration(REDUCIBLE.copy(), p0)
    assert_close(
        got,
        [1 / 3, 2 / 3, 0.0, 0.0],
        "the limit from p0 in the class {0, 1}",
        rtol=1e-8,
        hint=ITERATION_P0_HINT,
    )


@check("stationary_by_iteration", hint=ITERATION_TOL_HINT)
def iteration_stops_at_tol(impl):
    """With tol = 0.05 from C, the iteration stops after the 4th step and returns p_C P^4."""
    p0 = np.array([0.0, 0.0, 1.0])
    # the largest changes are 0.4, 0.16, 0.064, 0.0256: the 4th step is the first below 0.05
    expected = p0 @ _matrix_power(P3, 4)
    got = impl.stationary_by_iteration(P3.copy(), p0, tol=0.05)
    assert_close(got, expected / expected.sum(), "the iterate returned with tol = 0.05", rtol=1e-9)


@check("stationary_by_iteration", hint=ITERATION_RAISE_HINT)
def iteration_gives_up_after_max_steps(impl):
    """A periodic chain raises a ValueError naming P; so does a chain given too few steps."""
    assert_raises_value_error(
        lambda: impl.stationary_by_iteration(FLIP.copy(), np.array([1.0, 0.0]), max_steps=50),
        "P",
        "a periodic chain that flips between two states",
        hint=ITERATION_RAISE_HINT,
    )
    # from C the changes shrink like 0.4^t: below 1e-12 after about 30 steps, not 5
    assert_raises_value_error(
        lambda: impl.stationary_by_iteration(P3.copy(), np.array([0.0, 0.0, 1.0]), max_steps=5),
        "P",
        "the page's chain with max_steps=5",
        hint=ITERATION_RAISE_HINT,
    )
    got = impl.stationary_by_iteration(P3.copy(), np.array([0.0, 0.0, 1.0]), max_steps=100)
    assert_close(got, P3_PI, "the page's chain with max_steps=100", rtol=1e-8)


CONTRACT.function(
    "stationary_by_eigenvector",
    lambda: call(P3.copy()),
    invalid=BAD_P,
    hints=(
        "Eq. (P3.2) says pi is a left eigenvector of P for the eigenvalue 1: pi P = pi. Left "
        "eigenvectors of P are the (right) eigenvectors of P transposed.",
        "Eigen-decompose P^T; pick the eigenvector (a column) whose eigenvalue is closest to 1; "
        "keep its real part (the solver works in complex numbers); divide it by the sum of its "
        "entries, which fixes both its scale and its sign.",
    ),
)
EIGEN_NORMALISE_HINT = (
    "An eigenvector comes with any scale and sign: divide it by the sum of its entries, so that "
    "pi sums to 1 (and its entries are then non-negative)."
)
EIGEN_LEFT_HINT = (
    "pi is a LEFT eigenvector: pi P = pi. The eigenvectors of P itself are right eigenvectors "
    "(for the eigenvalue 1, the constant vector); take those of P transposed."
)


@check("stationary_by_eigenvector", hint=STATIONARY_HINT)
def stationary_eigenvector(impl):
    """stationary_by_eigenvector sums to 1 and agrees with the exact pi for several chains."""
    pi = to_numpy(impl.stationary_by_eigenvector(P3.copy()))
    expect(
        pi.shape == (3,) and abs(float(pi.sum()) - 1.0) < 1e-9 and np.all(pi >= -1e-12),
        f"for the page's chain the result {np.round(pi, 5).tolist()} is not a distribution "
        f"(it sums to {float(pi.sum()):.5g})",
        EIGEN_NORMALISE_HINT,
    )
    _check_stationary(impl.stationary_by_eigenvector, "stationary_by_eigenvector", EIGEN_LEFT_HINT)


CONTRACT.function(
    "stationary_by_linear_solve",
    lambda: call(P3.copy()),
    invalid=[
        *BAD_P,
        Invalid("P", lambda a: np.eye(2), "the identity: two closed classes, many stationary laws"),
    ],
    hints=(
        "Eq. (P3.3): pi (P - I) = 0 is S linear equations on the columns of P - I, one of them "
        "redundant; replace it by sum(pi) = 1 and solve the square system.",
        "Build the matrix A as (P - I)^T, whose row j says that the flow into j equals the flow "
        "out of j; overwrite its last row with ones (the equation sum_i pi_i = 1); the right-hand "
        "side is the vector of zeros with a 1 in the last entry. Solve A pi = that vector. If the "
        "solver reports a singular matrix, the chain has more than one stationary distribution: "
        "raise a ValueError naming P.",
    ),
)
SOLVE_HINT = (
    "pi (P - I) = 0 is a condition on the columns of P - I: solve with (P - I) transposed, its "
    "last row replaced by ones (P3.3)."
)
SOLVE_RHS_HINT = (
    "The replaced equation is the normalisation sum(pi) = 1: its right-hand side is 1 (the vector "
    "e_S: zeros with a 1 last), so that pi sums to 1."
)
SOLVE_SINGULAR_HINT = (
    "A chain with more than one stationary distribution makes the system singular, and the "
    "solver raises its own error (LinAlgError): catch it and raise a ValueError naming P."
)


@check("stationary_by_linear_solve", hint=SOLVE_HINT)
def stationary_linear_solve(impl):
    """stationary_by_linear_solve sums to 1 and agrees with the exact pi; a reducible chain raises."""
    pi = to_numpy(impl.stationary_by_linear_solve(P3.copy()))
    expect(
        pi.shape == (3,) and abs(float(pi.sum()) - 1.0) < 1e-9,
        f"for the page's chain the result {np.round(pi, 5).tolist()} sums to "
        f"{float(pi.sum()):.5g}, not 1",
        SOLVE_RHS_HINT,
    )
    _check_stationary(impl.stationary_by_linear_solve, "stationary_by_linear_solve", SOLVE_HINT)
    # state A is absorbing and {B, C} is closed: the first balance equation is 0 = 0, exactly
    absorbing = np.array([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.0, 0.5, 0.5]])
    assert_raises_value_error(
        lambda: impl.stationary_by_linear_solve(absorbing),
        "P",
        "a chain with two closed classes, {A} and {B, C}",
        hint=SOLVE_SINGULAR_HINT,
    )


# ----------------------------------------------------------------------------- is_reversible
CONTRACT.function(
    "is_reversible",
    lambda: call(BIRTH_DEATH.copy(), 1e-10),
    invalid=BAD_P[:1],
    uses=("stationary_by_linear_solve",),
    hints=(
        "Eq. (P3.4): with pi from your linear solve, detailed balance says the probability flow "
        "from i to j, pi_i P[i, j], equals the flow back from j to i — for every pair.",
        "Get pi from your stationary_by_linear_solve. The flows form the matrix F with F[i, j] = "
        "pi_i P[i, j] (row i of P scaled by pi_i). The chain is reversible when every entry of F "
        "equals the matching entry of its transpose within atol, an absolute tolerance with no "
        "relative part. Return a bool.",
    ),
)
FLOWS_HINT = (
    "Detailed balance compares flows: pi_i P[i, j] with pi_j P[j, i]. A chain can be reversible "
    "without P being symmetric (a birth–death chain): compare the flow matrix with its transpose, "
    "not P with P transposed — and scale row i (the state the flow leaves) by pi_i."
)
ATOL_HINT = (
    "Use atol as the tolerance on each |pi_i P[i, j] - pi_j P[j, i]|, an absolute one with no "
    "relative part: a default tolerance of a library function is not the argument."
)


def _nearly_reversible(epsilon: float) -> np.ndarray:
    """A symmetric chain plus epsilon times a circulation: uniform pi, flows off by 2 epsilon / 3."""
    symmetric = np.array([[0.5, 0.25, 0.25], [0.25, 0.5, 0.25], [0.25, 0.25, 0.5]])
    circulation = np.array([[0.0, 1.0, -1.0], [-1.0, 0.0, 1.0], [1.0, -1.0, 0.0]])
    return symmetric + epsilon * circulation


@check("is_reversible", hint=FLOWS_HINT)
def reversibility(impl):
    """Birth–death and symmetric chains are reversible; a lazy cycle and the page's chain are not."""
    expect(
        bool(impl.is_reversible(BIRTH_DEATH.copy())) is True,
        "a birth–death chain, which satisfies detailed balance, was called not reversible",
        FLOWS_HINT,
    )
    symmetric = np.array([[0.5, 0.25, 0.25], [0.25, 0.5, 0.25], [0.25, 0.25, 0.5]])
    expect(bool(impl.is_reversible(symmetric)), "a symmetric chain was called not reversible")
    for P, case in [(CYCLE, "a chain that cycles A -> B -> C"), (P3, "the page's chain")]:
        expect(
            not bool(impl.is_reversible(P.copy())),
            f"{case}, which breaks detailed balance, was called reversible",
            FLOWS_HINT,
        )


@check("is_reversible", hint=ATOL_HINT)
def reversibility_within_atol(impl):
    """A chain whose flows are off by 1e-5 is reversible at atol = 1e-4 and not at atol = 1e-7."""
    P = _nearly_reversible(1.5e-5)
    expect(
        bool(impl.is_reversible(P, atol=1e-4)),
        "flows off by 1e-5 were called not reversible at atol = 1e-4",
    )
    expect(
        not bool(impl.is_reversible(P, atol=1e-7)),
        "flows off by 1e-5 were called reversible at atol = 1e-7",
    )


# ----------------------------------------------------------------------------- second_eigenvalue
CONTRACT.function(
    "second_eigenvalue",
    lambda: call(P4.copy()),
    invalid=[*BAD_P, Invalid("P", lambda a: np.ones((1, 1)), "a chain with a single state")],
    hints=(
        "Eq. (P3.5): the eigenvalues of P all have modulus at most 1, and 1 itself belongs to pi; "
        "the rate of convergence is the next largest modulus.",
        "Compute every eigenvalue of P (complex in general: P need not be symmetric), take their "
        "moduli |lambda|, sort the moduli from largest to smallest and return the second, as a "
        "float. Sort the moduli, not the eigenvalues: a negative or complex eigenvalue can be the "
        "slowest.",
    ),
)
SECOND_HINT = (
    "The largest modulus is 1, the eigenvalue of pi: return the next one, the second largest."
)
ORDER_HINT = (
    "Sort the moduli from largest to smallest and take the second: with four states, the second "
    "smallest is another number."
)
MODULUS_HINT = (
    "Rank the eigenvalues by modulus |lambda|: a negative or complex eigenvalue counts by its "
    "size, and the result is that size (>= 0)."
)


@check("second_eigenvalue", hint=MODULUS_HINT)
def second_eigenvalue_closed_forms(impl):
    """|lambda_2| is 0.4 for the page's chain, torch's for a 4-state one, |1 - a - b| for 2 states."""
    assert_close(
        impl.second_eigenvalue(P3.copy()), 0.4, "|lambda_2| of the page's chain", hint=SECOND_HINT
    )
    import torch

    moduli = torch.linalg.eigvalsh(torch.tensor(P4)).abs().sort(descending=True).values
    assert_close(
        impl.second_eigenvalue(P4.copy()),
        float(moduli[1]),
        "|lambda_2| of a 4-state chain with eigenvalues 1, 0.7, 0.46, 0.14",
        hint=ORDER_HINT,
    )
    a, b = 0.8, 0.7
    two = np.array([[1 - a, a], [b, 1 - b]])
    assert_close(
        impl.second_eigenvalue(two),
        abs(1 - a - b),
        "|lambda_2| of a 2-state chain whose lambda_2 = 1 - a - b is -0.5",
        hint=MODULUS_HINT,
    )
    # eigenvalues of 0.1 I + 0.9 C are 0.1 + 0.9 w with w^3 = 1: |0.1 + 0.9 e^{2 pi i / 3}|
    assert_close(
        impl.second_eigenvalue(CYCLE.copy()),
        math.sqrt(0.73),
        "|lambda_2| of the lazy cycle (a complex pair)",
        hint=MODULUS_HINT,
    )


# ----------------------------------------------------------------------------- random_walk
CONTRACT.function(
    "random_walk",
    lambda: call(6, _rng(0), p=0.3, n_walks=4, x0=2),
    hints=(
        "Eq. (P3.6): every step of every walk is +1 with probability p and -1 otherwise, and a "
        "walk's position is its start plus the sum of its steps so far.",
        "Draw an n_steps-by-n_walks array of standard uniforms from rng in one call; a step is +1 "
        "where the uniform is below p and -1 elsewhere. The path is an integer array with n_steps "
        "+ 1 rows and n_walks columns: row 0 is x0, and row t is x0 plus the sum of the first t "
        "steps, a cumulative sum down the rows.",
    ),
)
WALK_HINT = (
    "A walk starts at x0 and moves +1 with probability p, -1 otherwise, at each step (P3.6)."
)
WALK_START_HINT = (
    "Every walk starts at x0: row 0 is x0, and every later row is x0 plus the steps taken so far."
)
WALK_STEPS_HINT = (
    "Each step is +1 or -1, and a walk is the running sum of its steps over time — down the "
    "rows, one column per walk."
)
WALK_UP_HINT = "A step goes up (+1) with probability p and down (-1) with probability 1 - p."


@check("random_walk", hint=WALK_HINT)
def random_walk_is_binomial(impl):
    """Walks have shape (t + 1, n), start at x0, step by ±1, and (X_t - x0 + t) / 2 ~ Binomial(t, p)."""
    t, n, p, x0 = 20, 30_000, 0.3, 5
    X = np.asarray(impl.random_walk(t, _rng(1), p=p, n_walks=n, x0=x0))
    expect(
        X.shape == (t + 1, n),
        f"{n} walks of {t} steps have shape {X.shape}, expected ({t + 1}, {n})",
        "Return n_steps + 1 rows (the start, then one per step) and one column per walk.",
    )
    expect(np.all(X[0] == x0), f"row 0 is not x0 = {x0}", WALK_START_HINT)
    later = np.diff(X[1:], axis=0)
    expect(
        np.all(np.abs(later) == 1),
        f"steps after the first take the values {sorted(set(later.ravel().tolist()))[:6]}, not "
        "only +1 and -1",
        WALK_STEPS_HINT,
    )
    expect(
        np.all(np.abs(X[1] - x0) == 1),
        f"the first step from x0 = {x0} goes to {sorted(set(X[1].tolist()))[:6]}",
        WALK_START_HINT,
    )
    up = (X[-1] - x0 + t) / 2
    assert_within_se(
        float(up.mean()) / t,
        p,
        math.sqrt(p * (1 - p) / (n * t)),
        "the share of steps up",
        hint=WALK_UP_HINT,
    )
    k = up.astype(np.int64)
    probs = np.array([math.comb(t, j) * p**j * (1 - p) ** (t - j) for j in range(t + 1)])
    _assert_discrete_ks(k, probs, "the number of steps up", WALK_UP_HINT)


# ----------------------------------------------------------------------------- ar1_chain
CONTRACT.function(
    "ar1_chain",
    lambda: call(np.array([2.0, -1.0, 0.5]), 0.2, 4, _rng(0)),
    invalid=[
        Invalid("beta", np.array([0.1, 0.2]), "a schedule of 2 values for 4 steps"),
        Invalid("beta", 1.0, "beta = 1 (nothing of the signal left)"),
    ],
    hints=(
        "Eq. (P3.7): each step keeps a share sqrt(1 - beta_t) of the state and adds fresh Gaussian "
        "noise of variance beta_t, so that N(0, 1) stays N(0, 1).",
        "The path is a float array of n_steps + 1 rows, each of x0's shape; row 0 is x0. For t = "
        "1, ..., n_steps: draw standard normal noise of x0's shape from rng; the new state is "
        "sqrt(1 - beta_t) times the state plus sqrt(beta_t) times the noise, with beta_t the entry "
        "t - 1 of betas (the array counts from 0); store it in row t.",
    ),
)
AR1_HINT = (
    "x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps_t (P3.7), with fresh standard normal noise "
    "eps_t for every chain and every step."
)
AR1_NOISE_HINT = (
    "Each step adds sqrt(beta_t) times fresh standard normal noise — the square root of the "
    "variance, and a new draw for every chain (x's shape) at every step."
)
AR1_SHRINK_HINT = (
    "Each step multiplies the state by sqrt(1 - beta_t), the square root, so that the signal's "
    "and the noise's variances add up to 1."
)
AR1_STEP_HINT = (
    "Each step uses its own beta_t: the state shrinks by sqrt(1 - beta_t) per step and gains "
    "sqrt(beta_t) fresh noise. The cumulative abar_t belongs to the closed form (P3.8), not to one "
    "step; and the noise must be drawn anew at every step."
)
AR1_SCHEDULE_HINT = (
    "With a schedule, the step into row t uses the t-th value (betas[t - 1]) — not the first or "
    "the last value for every step."
)


@check("ar1_chain", hint=AR1_HINT)
def ar1_chain_follows_the_closed_form(impl):
    """One step moves x0 = 2 to N(sqrt(1 - beta) 2, beta); after t steps x_t ~ N(sqrt(abar) x0, 1 - abar)."""
    n, beta, t = 20_000, 0.2, 10
    path = to_numpy(impl.ar1_chain(np.full(n, 2.0), beta, t, _rng(2)))
    expect(
        path.shape == (t + 1, n),
        f"{n} chains of {t} steps have shape {path.shape}, expected ({t + 1}, {n})",
        "Return n_steps + 1 rows — x0, then one per step — each of x0's shape.",
    )
    expect(np.all(path[0] == 2.0), "row 0 is not x0", "Row 0 is x0, and the chain starts from it.")
    assert_within_se(
        path[1].var(ddof=1),
        beta,
        beta * math.sqrt(2 / (n - 1)),
        "the variance across chains after one step from x0 = 2",
        hint=AR1_NOISE_HINT,
    )
    assert_within_se(
        path[1].mean(),
        math.sqrt(1 - beta) * 2.0,
        math.sqrt(beta / n),
        "the mean after one step from x0 = 2",
        hint=AR1_SHRINK_HINT,
    )
    abar = (1 - beta) ** t
    assert_ks(
        path[t],
        lambda x: normal_cdf(x, math.sqrt(abar) * 2.0, math.sqrt(1 - abar)),
        f"x_{t} with beta = {beta}",
        hint=AR1_STEP_HINT,
    )
    betas = np.array([0.01, 0.05, 0.4, 0.02, 0.3, 0.1, 0.2, 0.05])
    schedule_path = to_numpy(impl.ar1_chain(np.full(n, -1.0), betas.copy(), 8, _rng(3)))
    for s in (3, 8):
        abar = float(np.prod(1 - betas[:s]))
        assert_ks(
            schedule_path[s],
            lambda x, a=abar: normal_cdf(x, -math.sqrt(a), math.sqrt(1 - a)),
            f"x_{s} with a schedule of betas",
            hint=AR1_SCHEDULE_HINT,
        )


@check("ar1_chain", hint=AR1_NOISE_HINT)
def ar1_chain_keeps_n01_stationary(impl):
    """Started at N(0, 1), the chain stays N(0, 1) and Corr(x_0, x_5) = (1 - beta)^(5/2)."""
    n, beta = 20_000, 0.3
    x0 = _rng(4).standard_normal(n)
    path = to_numpy(impl.ar1_chain(x0.copy(), beta, 5, _rng(5)))
    assert_ks(path[-1], normal_cdf, "x_5 started from the stationary law N(0, 1)")
    rho = (1 - beta) ** 2.5
    # Var of the sample mean of x_0 x_5 for a standard bivariate normal: (1 + rho^2) / n
    assert_within_se(
        float(np.mean(path[0] * path[5])),
        rho,
        math.sqrt((1 + rho**2) / n),
        "the correlation of x_0 and x_5",
        hint=AR1_STEP_HINT,
    )


# ----------------------------------------------------------------------------- ar1_marginal
CONTRACT.function(
    "ar1_marginal",
    lambda: call(np.array([2.0, -4.0]), np.array([0.1, 0.2, 0.3, 0.4]), 3),
    invalid=[
        Invalid("t", -1, "t = -1"),
        Invalid("t", 5, "t = 5 for a schedule of 4 values"),
        Invalid("beta", np.array([0.1, 1.2, 0.3, 0.4]), "a schedule with a value above 1"),
    ],
    hints=(
        "Eq. (P3.8): unrolling t steps scales x0 by the square root of abar_t, the product of the "
        "factors 1 - beta over those steps, and leaves noise of variance 1 - abar_t.",
        "First abar_t: for a single number beta, (1 - beta) to the power t; for a schedule, the "
        "product of 1 - beta_s over its first t entries. Return the mean sqrt(abar_t) x0 and the "
        "variance 1 - abar_t (a float; the variance, not the standard deviation).",
    ),
)
MARGINAL_VARIANCE_HINT = (
    "The variance is 1 - abar_t with abar_t the product of the factors 1 - beta_s over the t "
    "steps — (1 - beta)^t for a constant beta — and it is a variance, not a standard deviation."
)
MARGINAL_MEAN_HINT = "The mean scales x0 by sqrt(abar_t), the square root of the product."
MARGINAL_SCHEDULE_HINT = (
    "With a schedule, abar_t is the product over the first t values only, beta_1 to beta_t: "
    "later values belong to later steps."
)


@check("ar1_marginal", hint=MARGINAL_VARIANCE_HINT)
def ar1_marginal_closed_form(impl):
    """ar1_marginal gives sqrt(abar) x0 and 1 - abar: for a constant beta, a schedule, and t = 0."""
    # beta = 0.2, t = 3: abar = 0.8^3 = 0.512 (and neither 1 - 0.2^3 nor 0.2^3)
    mean, var = impl.ar1_marginal(np.array([2.0, -4.0]), 0.2, 3)
    assert_close(
        var, 1 - 0.512, "the variance after 3 steps with beta = 0.2", hint=MARGINAL_VARIANCE_HINT
    )
    assert_close(
        mean,
        math.sqrt(0.512) * np.array([2.0, -4.0]),
        "the mean after 3 steps with beta = 0.2",
        hint=MARGINAL_MEAN_HINT,
    )
    mean, var = impl.ar1_marginal(3.0, np.array([0.1, 0.2, 0.5]), 2)
    assert_close(
        var,
        1 - 0.9 * 0.8,
        "the variance after 2 steps of the schedule (0.1, 0.2, 0.5)",
        hint=MARGINAL_SCHEDULE_HINT,
    )
    assert_close(
        mean, math.sqrt(0.9 * 0.8) * 3.0, "the mean with the schedule", hint=MARGINAL_SCHEDULE_HINT
    )
    mean, var = impl.ar1_marginal(3.0, 0.3, 0)
    assert_close(mean, 3.0, "the mean at t = 0 (x0 itself)", hint=MARGINAL_MEAN_HINT)
    expect(
        abs(float(var)) < 1e-12,
        f"the variance at t = 0 is {var}, expected 0",
        MARGINAL_VARIANCE_HINT,
    )


__all__ = ["CONTRACT"]
