"""Pre-Task 3 exercise: Markov chains, stationary distributions and the Gaussian AR(1) chain.

Fill in each function marked TODO, then run

    diffusion-path check pre-3 --impl .

from this folder. The input checks are written for you; the math is yours.
The page explains the theory: docs/pre/3-markov-chains.md on the site.
Distributions are row vectors: p_{t+1} = p_t @ P.
"""

from __future__ import annotations

import math  # noqa: F401  (you may need it)

import numpy as np

from diffusion_path import validation
from diffusion_path.foundations.markov import (  # input checks, shared with the reference
    _beta,
    _distribution,
    _transition_matrix,
)

ATOL = 1e-9


def simulate_chain(
    P: np.ndarray, x0: int | np.ndarray, n_steps: int, rng: np.random.Generator
) -> np.ndarray:
    r"""Simulate a finite Markov chain: each step draws $X_{t+1}$ from the row $P_{X_t, \cdot}$.

    $$\Pr(X_{t+1} = j \mid X_t = i) = P_{ij}$$

    A draw from row $i$ is inverse-CDF sampling on a finite set: with
    $u \sim \mathcal U(0, 1)$, $X_{t+1}$ is the first $j$ with $\sum_{k \le j} P_{ik} > u$.

    Args:
        P: Transition matrix, shape ``(S, S)``: entries $\ge 0$, rows summing to 1.
        x0: Starting state(s), an int or an array of ints in ``[0, S)`` (one per chain).
        n_steps: Number of steps.
        rng: The source of randomness.

    Returns:
        The states, an int array of shape ``(n_steps + 1, *np.shape(x0))`` with
        ``path[0] = x0``.

    Raises:
        ValueError: if ``P`` is not a transition matrix, ``x0`` is not a valid state,
            ``n_steps`` is not a positive int, or ``rng`` is not a Generator.

    Examples:
        >>> P = np.array([[0.0, 1.0], [1.0, 0.0]])  # a chain that flips every step
        >>> simulate_chain(P, 0, 4, np.random.default_rng(0)).tolist()
        [0, 1, 0, 1, 0]
    """
    P = _transition_matrix(P)
    S = P.shape[0]
    x = np.asarray(x0)
    if not np.issubdtype(x.dtype, np.integer) or np.any(x < 0) or np.any(x >= S):
        raise ValueError(f"x0 must be integer states in [0, {S}), got {x0!r}")
    n_steps = validation.positive_int(n_steps, "n_steps")
    rng = validation.generator(rng)
    # TODO: path[0] = x0; at each step draw u = rng.random(x.shape) and move each chain to the
    # first state j with cumsum(P[x])[j] > u (set the last cumulative entry to exactly 1).
    # Return the int array path of shape (n_steps + 1, *x.shape).
    raise NotImplementedError


def evolve_distribution(P: np.ndarray, p0: np.ndarray, n_steps: int) -> np.ndarray:
    r"""The state distributions $\mathbf p_t = \mathbf p_0 P^t$ for $t = 0, \dots, n$.

    $$\mathbf p_{t+1} = \mathbf p_t P$$

    Args:
        P: Transition matrix, shape ``(S, S)``.
        p0: Initial distribution, shape ``(S,)``.
        n_steps: Number of steps $n$.

    Returns:
        An array of shape ``(n_steps + 1, S)`` whose row ``t`` is $\mathbf p_t$.

    Raises:
        ValueError: if ``P`` is not a transition matrix or ``p0`` not a distribution.

    Examples:
        >>> P = np.array([[0.9, 0.1], [0.5, 0.5]])
        >>> evolve_distribution(P, np.array([1.0, 0.0]), 2).round(3).tolist()
        [[1.0, 0.0], [0.9, 0.1], [0.86, 0.14]]
    """
    P = _transition_matrix(P)
    p0 = _distribution(p0, "p0", P.shape[0])
    n_steps = validation.positive_int(n_steps, "n_steps")
    # TODO: row 0 is p0, row t is (row t - 1) @ P.
    raise NotImplementedError


def stationary_by_iteration(
    P: np.ndarray, p0: np.ndarray | None = None, tol: float = 1e-12, max_steps: int = 100_000
) -> np.ndarray:
    r"""The stationary distribution by the power method: iterate $\mathbf p \leftarrow \mathbf p P$.

    $$\boldsymbol\pi = \lim_{t\to\infty} \mathbf p_0 P^t$$

    The limit exists for an irreducible, aperiodic chain, whatever $\mathbf p_0$.

    Args:
        P: Transition matrix, shape ``(S, S)``.
        p0: Starting distribution; uniform when omitted.
        tol: Stop when $\max_i |(\mathbf p P - \mathbf p)_i| <$ ``tol``.
        max_steps: Give up after this many steps.

    Returns:
        $\boldsymbol\pi$, shape ``(S,)``.

    Raises:
        ValueError: if ``P`` is not a transition matrix, ``p0`` not a distribution, or the
            iteration has not converged in ``max_steps`` (a periodic chain never does).

    Examples:
        >>> P = np.array([[0.9, 0.1], [0.5, 0.5]])
        >>> stationary_by_iteration(P).round(6).tolist()  # pi = (5/6, 1/6)
        [0.833333, 0.166667]
    """
    P = _transition_matrix(P)
    S = P.shape[0]
    p0 = np.full(S, 1.0 / S) if p0 is None else _distribution(p0, "p0", S)
    tol = float(validation.positive(tol, "tol"))
    max_steps = validation.positive_int(max_steps, "max_steps")
    # TODO: repeat p <- p @ P until max |p P - p| < tol and return it; after max_steps,
    # raise ValueError naming P (the chain may be periodic or reducible).
    raise NotImplementedError


def stationary_by_eigenvector(P: np.ndarray) -> np.ndarray:
    r"""The stationary distribution as the left eigenvector of $P$ for the eigenvalue 1.

    $$\boldsymbol\pi P = 1 \cdot \boldsymbol\pi \iff P^\top \boldsymbol\pi^\top = \boldsymbol\pi^\top$$

    The eigenvector is scaled so that its entries sum to 1.

    Args:
        P: Transition matrix, shape ``(S, S)``.

    Returns:
        $\boldsymbol\pi$, shape ``(S,)``.

    Raises:
        ValueError: if ``P`` is not a transition matrix.

    Examples:
        >>> P = np.array([[0.9, 0.1], [0.5, 0.5]])
        >>> stationary_by_eigenvector(P).round(6).tolist()
        [0.833333, 0.166667]
    """
    P = _transition_matrix(P)
    # TODO: eigenvalues, vectors = np.linalg.eig(P.T); take the column whose eigenvalue is
    # closest to 1, keep its real part and divide by its sum.
    raise NotImplementedError


def stationary_by_linear_solve(P: np.ndarray) -> np.ndarray:
    r"""The stationary distribution by solving $\boldsymbol\pi(P - I) = 0$ with $\sum_i \pi_i = 1$.

    $$(P - I)^\top \boldsymbol\pi^\top = 0, \qquad \mathbf 1^\top \boldsymbol\pi^\top = 1$$

    One of the $S$ balance equations is redundant (the rows of $P$ sum to 1), so it is
    replaced by the normalisation, leaving an $S \times S$ system with a unique solution
    when the chain is irreducible.

    Args:
        P: Transition matrix, shape ``(S, S)``.

    Returns:
        $\boldsymbol\pi$, shape ``(S,)``.

    Raises:
        ValueError: if ``P`` is not a transition matrix or the system is singular (the chain
            has more than one stationary distribution).

    Examples:
        >>> P = np.array([[0.9, 0.1], [0.5, 0.5]])
        >>> stationary_by_linear_solve(P).round(6).tolist()
        [0.833333, 0.166667]
    """
    P = _transition_matrix(P)
    # TODO: with S = P.shape[0]: A = (P - I).T with its last row replaced by ones, b = (0, ..., 0, 1);
    # solve A pi = b (raise ValueError naming P on np.linalg.LinAlgError).
    raise NotImplementedError


def is_reversible(P: np.ndarray, atol: float = 1e-10) -> bool:
    r"""Whether the chain satisfies detailed balance with respect to its stationary law.

    $$\pi_i P_{ij} = \pi_j P_{ji} \quad \text{for all } i, j$$

    Detailed balance means the probability flow from $i$ to $j$ equals the flow back:
    the chain run forwards looks the same as run backwards. It implies stationarity
    (sum over $i$), which is why Metropolis–Hastings is built to satisfy it.

    Args:
        P: Transition matrix, shape ``(S, S)``, with a unique stationary distribution.
        atol: Tolerance on $|\pi_i P_{ij} - \pi_j P_{ji}|$.

    Returns:
        ``True`` when detailed balance holds.

    Raises:
        ValueError: if ``P`` is not a transition matrix.

    Examples:
        >>> is_reversible(np.array([[0.9, 0.1], [0.5, 0.5]]))  # every 2-state chain is
        True
        >>> is_reversible(
        ...     np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]) * 0.9
        ...     + 0.1 * np.eye(3)
        ... )  # a chain that cycles A -> B -> C
        False
    """
    P = _transition_matrix(P)
    atol = float(validation.positive(atol, "atol"))
    # TODO: pi = stationary_by_linear_solve(P); flows F_ij = pi_i P_ij;
    # return bool(np.allclose(F, F.T, rtol=0, atol=atol)).
    raise NotImplementedError


def second_eigenvalue(P: np.ndarray) -> float:
    r"""The second-largest eigenvalue modulus $|\lambda_2|$ of $P$: the speed of convergence.

    $$\lVert \mathbf p_t - \boldsymbol\pi \rVert = O(|\lambda_2|^t)$$

    The eigenvalue $\lambda_1 = 1$ belongs to $\boldsymbol\pi$; every other component of
    $\mathbf p_0$ decays at least as fast as $|\lambda_2|^t$. The *spectral gap*
    $1 - |\lambda_2|$ is large for a fast-mixing chain.

    Args:
        P: Transition matrix, shape ``(S, S)`` with $S \ge 2$.

    Returns:
        $|\lambda_2|$, a float in $[0, 1]$.

    Raises:
        ValueError: if ``P`` is not a transition matrix with at least 2 states.

    Examples:
        >>> round(second_eigenvalue(np.array([[0.9, 0.1], [0.5, 0.5]])), 6)  # trace - 1 = 0.4
        0.4
    """
    P = _transition_matrix(P)
    if P.shape[0] < 2:
        raise ValueError(
            f"P must have at least 2 states to have a second eigenvalue, got {P.shape}"
        )
    # TODO: sort |np.linalg.eigvals(P)| in decreasing order and return the second as a float.
    raise NotImplementedError


def random_walk(
    n_steps: int, rng: np.random.Generator, p: float = 0.5, n_walks: int = 1, x0: int = 0
) -> np.ndarray:
    r"""Simple random walks on the integers: step $+1$ with probability $p$, else $-1$.

    $$X_t = X_{t-1} + \xi_t, \qquad \Pr(\xi_t = +1) = p,\ \Pr(\xi_t = -1) = 1 - p$$

    After $t$ steps, $(X_t - X_0 + t)/2 \sim \operatorname{Binomial}(t, p)$, so the mean is
    $X_0 + t(2p - 1)$ and the variance $4tp(1-p)$: the spread grows like $\sqrt t$.

    Args:
        n_steps: Number of steps.
        rng: The source of randomness.
        p: Probability $p \in (0, 1)$ of a step up.
        n_walks: Number of independent walks.
        x0: Starting position.

    Returns:
        An int array of shape ``(n_steps + 1, n_walks)``, row 0 equal to ``x0``.

    Raises:
        ValueError: if ``p`` is outside $(0, 1)$ or a count is not a positive int.

    Examples:
        >>> X = random_walk(100, np.random.default_rng(0), n_walks=20_000)
        >>> X.shape, round(float(X[-1].mean()), 0), round(float(X[-1].var()) / 100, 1)
        ((101, 20000), 0.0, 1.0)
    """
    n_steps = validation.positive_int(n_steps, "n_steps")
    rng = validation.generator(rng)
    p = float(validation.as_float_array(p, "p"))
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must lie in (0, 1), got {p}")
    n_walks = validation.positive_int(n_walks, "n_walks")
    if isinstance(x0, bool) or not isinstance(x0, int | np.integer):
        raise ValueError(f"x0 must be an integer, got {x0!r}")
    # TODO: steps xi = +1 with probability p, else -1, shape (n_steps, n_walks);
    # path[0] = x0 and path[1:] = x0 + cumsum(xi, axis=0) (an int array).
    raise NotImplementedError


def ar1_chain(
    x0: np.ndarray | float, beta: float | np.ndarray, n_steps: int, rng: np.random.Generator
) -> np.ndarray:
    r"""Simulate the Gaussian AR(1) chain: DDPM's forward process (arXiv 2006.11239, eq. 2).

    $$x_t = \sqrt{1 - \beta_t}\, x_{t-1} + \sqrt{\beta_t}\, \varepsilon_t, \qquad
    \varepsilon_t \sim \mathcal N(0, 1)$$

    Each step shrinks the signal and adds just enough noise that $\mathcal N(0, 1)$ is
    left invariant: if $x_{t-1} \sim \mathcal N(0, 1)$ then
    $\operatorname{Var} x_t = (1 - \beta_t) + \beta_t = 1$.

    Args:
        x0: Starting values, a float or an array (one chain per entry).
        beta: The noise variance $\beta \in (0, 1)$, either one number for every step or
            a schedule of ``n_steps`` values $\beta_1, \dots, \beta_n$.
        n_steps: Number of steps $n$.
        rng: The source of randomness.

    Returns:
        The states, shape ``(n_steps + 1, *np.shape(x0))``, with ``path[0] = x0``.
        Row ``t`` is $x_t$ after $t$ steps.

    Raises:
        ValueError: if ``beta`` is outside $(0, 1)$ or a schedule of the wrong length,
            ``n_steps`` is not a positive int, or ``rng`` is not a Generator.

    Examples:
        >>> path = ar1_chain(np.full(50_000, 5.0), 0.1, 100, np.random.default_rng(0))
        >>> round(float(path[-1].mean()), 2), round(float(path[-1].var()), 2)  # -> N(0, 1)
        (0.0, 1.0)
    """
    x0 = validation.as_float_array(x0, "x0")
    n_steps = validation.positive_int(n_steps, "n_steps")
    beta = _beta(beta)
    betas = np.full(n_steps, float(beta)) if beta.ndim == 0 else beta
    if betas.shape != (n_steps,):
        raise ValueError(
            f"beta must be a number or hold n_steps={n_steps} values, got {beta.shape}"
        )
    rng = validation.generator(rng)
    # TODO: path[0] = x0; x_t = sqrt(1 - betas[t - 1]) x_{t-1} + sqrt(betas[t - 1]) eps_t
    # with eps_t = rng.standard_normal(x0.shape). Return the path, shape (n_steps + 1, *x0.shape).
    raise NotImplementedError


def ar1_marginal(
    x0: np.ndarray | float, beta: float | np.ndarray, t: int
) -> tuple[np.ndarray, float]:
    r"""Closed-form law of the AR(1) chain after $t$ steps: DDPM eq. (4).

    $$x_t \mid x_0 \sim \mathcal N\big(\sqrt{\bar\alpha_t}\, x_0,\ 1 - \bar\alpha_t\big),
    \qquad \bar\alpha_t = \prod_{s=1}^{t} (1 - \beta_s)$$

    Unrolling the chain, $x_t$ is $\sqrt{\bar\alpha_t}\,x_0$ plus a sum of independent
    Gaussians whose variances add up to $1 - \bar\alpha_t$. For a constant $\beta$,
    $\bar\alpha_t = (1-\beta)^t \to 0$: the chain forgets $x_0$ and tends to $\mathcal N(0, 1)$.

    Args:
        x0: Starting value(s).
        beta: One noise variance $\beta \in (0, 1)$, or a schedule $\beta_1, \dots, \beta_n$
            with $n \ge t$ (only the first ``t`` values are used).
        t: Number of steps, ``t >= 0`` (here ``t`` counts steps: ``t = 0`` is $x_0$ itself).

    Returns:
        ``(mean, variance)``: the mean $\sqrt{\bar\alpha_t}\,x_0$ (shape of ``x0``) and the
        variance $1 - \bar\alpha_t$ (a float).

    Raises:
        ValueError: if ``beta`` is outside $(0, 1)$, ``t`` is negative or longer than the schedule.

    Examples:
        >>> mean, var = ar1_marginal(2.0, 0.5, 2)  # abar = 0.25
        >>> float(mean), var
        (1.0, 0.75)
    """
    x0 = validation.as_float_array(x0, "x0")
    beta = _beta(beta)
    if isinstance(t, bool) or not isinstance(t, int | np.integer) or t < 0:
        raise ValueError(f"t must be an integer >= 0, got {t!r}")
    if beta.ndim == 1 and t > beta.size:
        raise ValueError(f"t must be at most the schedule length {beta.size}, got {t}")
    # TODO: alpha_bar = prod over the first t steps of (1 - beta_s) ((1 - beta)^t for one beta);
    # return (sqrt(alpha_bar) * x0, 1 - alpha_bar).
    raise NotImplementedError
