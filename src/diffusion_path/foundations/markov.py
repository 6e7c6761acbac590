r"""Pre-Task 3: Markov chains, their stationary distributions, and the Gaussian chain of diffusion.

A Markov chain on the states $\{0, \dots, S-1\}$ is a transition matrix $P$ with
$P_{ij} = \Pr(X_{t+1} = j \mid X_t = i)$: entries $\ge 0$, each row summing to 1.
Distributions are row vectors and evolve by one matrix product per step:

$$\mathbf p_{t+1} = \mathbf p_t P, \qquad \mathbf p_t = \mathbf p_0 P^t.$$

A *stationary* distribution satisfies $\boldsymbol\pi = \boldsymbol\pi P$: it is a left
eigenvector of $P$ for the eigenvalue 1, and it can be found three ways that must agree —
by iterating $\mathbf p \leftarrow \mathbf p P$, from the eigenvector, or by solving the
linear system $\boldsymbol\pi (P - I) = 0$, $\sum_i \pi_i = 1$. How fast
$\mathbf p_t \to \boldsymbol\pi$ is set by the second-largest eigenvalue modulus
$|\lambda_2|$: the error shrinks like $|\lambda_2|^t$.

The chain that matters most for diffusion lives on $\mathbb R$: the Gaussian AR(1) chain

$$\begin{gathered}
x_t = \sqrt{1-\beta_t}\,x_{t-1} + \sqrt{\beta_t}\,\varepsilon_t, \\
\varepsilon_t \sim \mathcal N(0, 1),
\end{gathered}$$

whose stationary law is $\mathcal N(0, 1)$. It is the forward process of DDPM
(arXiv 2006.11239, eq. 2), and its $t$-step marginal has the closed form of DDPM eq. (4).

All functions use NumPy; randomness comes from an explicit ``numpy.random.Generator``.
"""

from __future__ import annotations

import math

import numpy as np

from diffusion_path.tools import validation

__all__ = [
    "ar1_chain",
    "ar1_marginal",
    "evolve_distribution",
    "is_reversible",
    "random_walk",
    "second_eigenvalue",
    "simulate_chain",
    "stationary_by_eigenvector",
    "stationary_by_iteration",
    "stationary_by_linear_solve",
]

# ----------------------------------------------------------------------------- simulation


def simulate_chain(
    P: np.ndarray, x0: int | np.ndarray, n_steps: int, rng: np.random.Generator
) -> np.ndarray:
    r"""Paths of a finite Markov chain: each step draws $X_{t+1}$ from the row $P_{X_t, \cdot}$.

    $$\Pr(X_{t+1} = j \mid X_t = i) = P_{ij}$$

    A draw from row $i$ is inverse-CDF sampling on a finite set: with
    $u \sim \mathcal U(0, 1)$, $X_{t+1}$ is the first $j$ with $\sum_{k \le j} P_{ik} > u$.
    Every chain draws its own $u$ at every step.

    Args:
        P: Transition matrix, shape ``(S, S)``: entries $\ge 0$, rows summing to 1.
        x0: Starting state(s), an int or an array of ints in ``[0, S)`` (one chain per entry).
        n_steps: Number of steps.
        rng: The source of randomness.

    Returns:
        The states, an int array of shape ``(n_steps + 1, *np.shape(x0))`` with
        ``path[0] = x0``: row ``t`` holds every chain's state after ``t`` steps.

    Raises:
        ValueError: if ``P`` is not a transition matrix, ``x0`` is not a valid state (or array
            of them), ``n_steps`` is not a positive int, or ``rng`` is not a
            ``numpy.random.Generator``.

    Examples:
        >>> P = np.array([[0.0, 1.0], [1.0, 0.0]])  # a chain that flips every step
        >>> simulate_chain(P, 0, 4, np.random.default_rng(0)).tolist()
        [0, 1, 0, 1, 0]
        >>> simulate_chain(P, np.array([0, 1, 1]), 2, np.random.default_rng(0)).shape
        (3, 3)
    """
    P = validation.transition_matrix(P)
    x = validation.states(x0, P.shape[0], "x0")
    n_steps = validation.positive_int(n_steps, "n_steps")
    rng = validation.generator(rng)

    # Exercise: eq. (P3.1) — run every chain n_steps steps: each step draws each chain's next state
    # from its current state's row of P, with one uniform number from rng per chain
    # (inverse-CDF sampling, as in Pre-Task 2). Row 0 of the result is the start. Guard the
    # cumulative probabilities against round-off: a uniform just below 1 must find a state.

    # cumulative rows $C_{ij} = \sum_{k \le j} P_{ik}$; the last entry is set to exactly 1
    cumulative = np.cumsum(P, axis=1)
    cumulative[:, -1] = 1.0
    path = np.empty((n_steps + 1, *x.shape), dtype=np.int64)
    path[0] = x
    for t in range(1, n_steps + 1):
        u = rng.random(x.shape)
        # $X_{t+1} = \min\{j : C_{X_t, j} > u\}$: the number of entries $C_{X_t, j} \le u$
        x = np.sum(cumulative[x] <= u[..., None], axis=-1)
        path[t] = x
    return path


def evolve_distribution(P: np.ndarray, p0: np.ndarray, n_steps: int) -> np.ndarray:
    r"""The state distributions $\mathbf p_t = \mathbf p_0 P^t$ for $t = 0, \dots, n$.

    $$\mathbf p_{t+1} = \mathbf p_t P, \qquad (\mathbf p_t P)_j = \textstyle\sum_i p_{t,i} P_{ij}$$

    Args:
        P: Transition matrix, shape ``(S, S)``.
        p0: Initial distribution, shape ``(S,)``.
        n_steps: Number of steps $n$.

    Returns:
        An array of shape ``(n_steps + 1, S)`` whose row ``t`` is $\mathbf p_t$.

    Raises:
        ValueError: if ``P`` is not a transition matrix, ``p0`` is not a distribution on its
            ``S`` states, or ``n_steps`` is not a positive int.

    Examples:
        >>> P = np.array([[0.9, 0.1], [0.5, 0.5]])
        >>> evolve_distribution(P, np.array([1.0, 0.0]), 2).round(3).tolist()
        [[1.0, 0.0], [0.9, 0.1], [0.86, 0.14]]
    """
    P = validation.transition_matrix(P)
    p0 = validation.distribution(p0, "p0", P.shape[0])
    n_steps = validation.positive_int(n_steps, "n_steps")

    # Exercise: eq. (P3.1) — push the distribution, a row vector, through P one step at a time,
    # n_steps times, keeping every step; row 0 is p0 itself.

    out = np.empty((n_steps + 1, P.shape[0]))
    out[0] = p0
    for t in range(1, n_steps + 1):
        # $\mathbf p_{t} = \mathbf p_{t-1} P$
        out[t] = out[t - 1] @ P
    return out


# ----------------------------------------------------------------------------- stationary law


def stationary_by_iteration(
    P: np.ndarray, p0: np.ndarray | None = None, tol: float = 1e-12, max_steps: int = 100_000
) -> np.ndarray:
    r"""The stationary distribution by the power method: iterate $\mathbf p \leftarrow \mathbf p P$.

    $$\boldsymbol\pi = \lim_{t\to\infty} \mathbf p_0 P^t$$

    For an irreducible, aperiodic chain the limit is the same whatever $\mathbf p_0$; for a
    reducible one it depends on where $\mathbf p_0$ puts its mass.

    Args:
        P: Transition matrix, shape ``(S, S)``.
        p0: Starting distribution; uniform when omitted.
        tol: Stop after the first step that changes no entry by ``tol`` or more:
            $\max_i |(\mathbf p P - \mathbf p)_i| <$ ``tol``.
        max_steps: Give up after this many steps.

    Returns:
        $\boldsymbol\pi$, the last iterate scaled to sum to 1, shape ``(S,)``.

    Raises:
        ValueError: if ``P`` is not a transition matrix, ``p0`` is not a distribution, ``tol``
            is not a number > 0, ``max_steps`` is not a positive int, or the iteration has not
            converged in ``max_steps`` steps (naming ``P``: a periodic chain never does).

    Examples:
        >>> P = np.array([[0.9, 0.1], [0.5, 0.5]])
        >>> stationary_by_iteration(P).round(6).tolist()  # pi = (5/6, 1/6)
        [0.833333, 0.166667]
    """
    P = validation.transition_matrix(P)
    S = P.shape[0]
    p0 = np.full(S, 1.0 / S) if p0 is None else validation.distribution(p0, "p0", S)
    tol = validation.positive_number(tol, "tol")
    max_steps = validation.positive_int(max_steps, "max_steps")

    # Exercise: eq. (P3.2), read as a fixed point — starting from p0, push the distribution through
    # P until one step changes no entry by tol or more; return that last iterate, scaled to
    # sum to 1. If max_steps steps pass without that, raise a ValueError naming P.

    p = p0
    for _ in range(max_steps):
        # $\mathbf p \leftarrow \mathbf p P$
        nxt = p @ P
        if np.max(np.abs(nxt - p)) < tol:
            # $\boldsymbol\pi$, scaled to sum to exactly 1
            return nxt / nxt.sum()
        p = nxt
    raise ValueError(
        f"P did not converge in max_steps={max_steps} iterations: is the chain periodic "
        "or reducible?"
    )


def stationary_by_eigenvector(P: np.ndarray) -> np.ndarray:
    r"""The stationary distribution as the left eigenvector of $P$ for the eigenvalue 1.

    $$\begin{gathered}
    \boldsymbol\pi P = \boldsymbol\pi \iff P^\top \boldsymbol\pi^\top = \boldsymbol\pi^\top, \\
    \textstyle\sum_i \pi_i = 1
    \end{gathered}$$

    Args:
        P: Transition matrix, shape ``(S, S)``, with a unique stationary distribution.

    Returns:
        $\boldsymbol\pi$, a float array of shape ``(S,)`` summing to 1.

    Raises:
        ValueError: if ``P`` is not a transition matrix.

    Examples:
        >>> P = np.array([[0.9, 0.1], [0.5, 0.5]])
        >>> stationary_by_eigenvector(P).round(6).tolist()
        [0.833333, 0.166667]
    """
    P = validation.transition_matrix(P)

    # Exercise: eq. (P3.2) — the left eigenvector of P for the eigenvalue 1 (the eigenvalue nearest
    # 1 numerically), as a real vector scaled to sum to 1.

    # right eigenvectors of $P^\top$ are left eigenvectors of $P$
    eigenvalues, eigenvectors = np.linalg.eig(P.T)
    # the eigenvalue closest to 1
    k = int(np.argmin(np.abs(eigenvalues - 1.0)))
    v = np.real(eigenvectors[:, k])
    # $\boldsymbol\pi = v / \sum_i v_i$
    return v / v.sum()


def stationary_by_linear_solve(P: np.ndarray) -> np.ndarray:
    r"""The stationary distribution by solving $\boldsymbol\pi(P - I) = 0$ with $\sum_i \pi_i = 1$.

    $$\begin{gathered}
    A\boldsymbol\pi^\top = \mathbf e_S, \\
    A = (P - I)^\top \text{ with its last row set to } \mathbf 1^\top
    \end{gathered}$$

    One of the $S$ balance equations is redundant (the rows of $P$ sum to 1), so it is
    replaced by the normalisation, leaving an $S \times S$ system with a unique solution
    when the chain is irreducible.

    Args:
        P: Transition matrix, shape ``(S, S)``.

    Returns:
        $\boldsymbol\pi$, shape ``(S,)``.

    Raises:
        ValueError: if ``P`` is not a transition matrix, or the system is singular (naming
            ``P``: the chain has more than one stationary distribution).

    Examples:
        >>> P = np.array([[0.9, 0.1], [0.5, 0.5]])
        >>> stationary_by_linear_solve(P).round(6).tolist()
        [0.833333, 0.166667]
    """
    P = validation.transition_matrix(P)
    S = P.shape[0]

    # Exercise: eq. (P3.3) — build the system of the balance equations, replace its last equation by
    # the normalisation, and solve it; a singular system means more than one stationary
    # distribution: raise a ValueError naming P.

    # $A = (P - I)^\top$: row $j$ says inflow to $j$ equals outflow from $j$
    A = (P - np.eye(S)).T
    # replace the last equation by $\sum_i \pi_i = 1$
    A[-1, :] = 1.0
    b = np.zeros(S)
    b[-1] = 1.0
    try:
        return np.linalg.solve(A, b)
    except np.linalg.LinAlgError:
        raise ValueError(
            "P has more than one stationary distribution (the chain is reducible)"
        ) from None


def is_reversible(P: np.ndarray, atol: float = 1e-10) -> bool:
    r"""Whether the chain satisfies detailed balance with respect to its stationary law.

    $$\pi_i P_{ij} = \pi_j P_{ji} \quad \text{for all } i, j$$

    Detailed balance means the probability flow from $i$ to $j$ equals the flow back:
    the chain run forwards looks the same as run backwards. It implies stationarity
    (sum over $i$), which is why Metropolis–Hastings is built to satisfy it.

    Args:
        P: Transition matrix, shape ``(S, S)``, with a unique stationary distribution.
        atol: Tolerance on each $|\pi_i P_{ij} - \pi_j P_{ji}|$.

    Returns:
        ``True`` when every flow matches its flow back within ``atol``.

    Raises:
        ValueError: if ``P`` is not a transition matrix with a unique stationary distribution,
            or ``atol`` is not a number > 0.

    Examples:
        >>> is_reversible(np.array([[0.9, 0.1], [0.5, 0.5]]))  # every 2-state chain is
        True
        >>> is_reversible(
        ...     np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]) * 0.9
        ...     + 0.1 * np.eye(3)
        ... )  # a chain that cycles A -> B -> C
        False
    """
    P = validation.transition_matrix(P)
    atol = validation.positive_number(atol, "atol")

    # Exercise: eq. (P3.4) — detailed balance: with the stationary law from your linear solve,
    # compare the probability flow from every state i to every j with the flow back, up to
    # the tolerance atol.

    pi = stationary_by_linear_solve(P)
    # flows $F_{ij} = \pi_i P_{ij}$; detailed balance is $F = F^\top$
    flow = pi[:, None] * P
    return bool(np.allclose(flow, flow.T, rtol=0.0, atol=atol))


def second_eigenvalue(P: np.ndarray) -> float:
    r"""The second-largest eigenvalue modulus $|\lambda_2|$ of $P$: the speed of convergence.

    $$\begin{gathered}
    \lVert \mathbf p_t - \boldsymbol\pi \rVert = O(|\lambda_2|^t), \\
    1 = |\lambda_1| \ge |\lambda_2| \ge \dots \ge |\lambda_S|
    \end{gathered}$$

    The eigenvalue $\lambda_1 = 1$ belongs to $\boldsymbol\pi$; every other component of
    $\mathbf p_0$ decays at least as fast as $|\lambda_2|^t$. The *spectral gap*
    $1 - |\lambda_2|$ is large for a fast-mixing chain. Eigenvalues may be negative or
    complex: they are ranked by modulus.

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
    P = validation.transition_matrix(P)
    if P.shape[0] < 2:
        raise ValueError(
            f"P must have at least 2 states to have a second eigenvalue, got {P.shape}"
        )

    # Exercise: eq. (P3.5) — the second largest modulus among the eigenvalues of P (the largest is
    # 1, the eigenvalue of the stationary law).

    # moduli of the eigenvalues, largest first: $1 = |\lambda_1| \ge |\lambda_2| \ge \dots$
    moduli = np.sort(np.abs(np.linalg.eigvals(P)))[::-1]
    return float(moduli[1])


# ----------------------------------------------------------------------------- random walk


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
        x0: Starting position, an integer.

    Returns:
        An int array of shape ``(n_steps + 1, n_walks)``: column ``k`` is walk ``k``, row ``t``
        its position after ``t`` steps, row 0 equal to ``x0``.

    Raises:
        ValueError: if ``n_steps`` or ``n_walks`` is not a positive int, ``rng`` is not a
            ``numpy.random.Generator``, ``p`` is not a number in $(0, 1)$, or ``x0`` is not an
            integer.

    Examples:
        >>> X = random_walk(100, np.random.default_rng(0), n_walks=20_000)
        >>> X.shape, round(float(X[-1].mean()), 0), round(float(X[-1].var()) / 100, 1)
        ((101, 20000), 0.0, 1.0)
    """
    n_steps = validation.positive_int(n_steps, "n_steps")
    rng = validation.generator(rng)
    p = validation.in_open_unit_interval(p, "p")
    n_walks = validation.positive_int(n_walks, "n_walks")
    x0 = validation.integer(x0, "x0")

    # Exercise: eq. (P3.6) — n_walks independent walks of n_steps steps each, every step +1 with
    # probability p and -1 otherwise (one uniform number from rng per step and walk). Each row
    # is x0 plus the steps taken so far; row 0 is x0.

    # $\xi_t = +1$ with probability $p$, else $-1$
    xi = np.where(rng.random((n_steps, n_walks)) < p, 1, -1)
    path = np.empty((n_steps + 1, n_walks), dtype=np.int64)
    path[0] = x0
    # $X_t = X_0 + \sum_{s \le t} \xi_s$
    path[1:] = x0 + np.cumsum(xi, axis=0)
    return path


# ----------------------------------------------------------------------------- Gaussian AR(1)


def ar1_chain(
    x0: np.ndarray | float, beta: float | np.ndarray, n_steps: int, rng: np.random.Generator
) -> np.ndarray:
    r"""Paths of the Gaussian AR(1) chain: DDPM's forward process (arXiv 2006.11239, eq. 2).

    $$\begin{gathered}
    x_t = \sqrt{1 - \beta_t}\, x_{t-1} + \sqrt{\beta_t}\, \varepsilon_t, \\
    \varepsilon_t \sim \mathcal N(0, 1)
    \end{gathered}$$

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
        ValueError: if ``x0`` is not finite, ``beta`` is outside $(0, 1)$ or a schedule of
            another length than ``n_steps``, ``n_steps`` is not a positive int, or ``rng`` is
            not a ``numpy.random.Generator``.

    Examples:
        >>> path = ar1_chain(np.full(50_000, 5.0), 0.1, 100, np.random.default_rng(0))
        >>> round(float(path[-1].mean()), 2), round(float(path[-1].var()), 2)  # -> N(0, 1)
        (0.0, 1.0)
    """
    x0 = validation.as_float_array(x0, "x0")
    n_steps = validation.positive_int(n_steps, "n_steps")
    beta = validation.variance_schedule(beta, "beta")
    betas = np.full(n_steps, float(beta)) if beta.ndim == 0 else beta
    if betas.shape != (n_steps,):
        raise ValueError(
            f"beta must be a number or hold n_steps={n_steps} values, got {beta.shape}"
        )
    rng = validation.generator(rng)

    # Exercise: eq. (P3.7) — run every chain n_steps steps with the variances in betas: each step
    # keeps a share of the state and adds fresh standard normal noise from rng, for every
    # chain, scaled to that step's variance. Row 0 of the result is x0.

    path = np.empty((n_steps + 1, *x0.shape))
    path[0] = x = x0
    for t in range(1, n_steps + 1):
        # $\varepsilon_t \sim \mathcal N(0, 1)$, one per chain
        eps = rng.standard_normal(x.shape)
        # $x_t = \sqrt{1-\beta_t}\, x_{t-1} + \sqrt{\beta_t}\, \varepsilon_t$
        x = math.sqrt(1.0 - betas[t - 1]) * x + math.sqrt(betas[t - 1]) * eps
        path[t] = x
    return path


def ar1_marginal(
    x0: np.ndarray | float, beta: float | np.ndarray, t: int
) -> tuple[np.ndarray, float]:
    r"""Closed-form law of the AR(1) chain after $t$ steps: DDPM eq. (4).

    $$\begin{gathered}
    x_t \mid x_0 \sim \mathcal N\big(\sqrt{\bar\alpha_t}\, x_0,\ 1 - \bar\alpha_t\big), \\
    \bar\alpha_t = \prod_{s=1}^{t} (1 - \beta_s)
    \end{gathered}$$

    Unrolling the chain, $x_t$ is $\sqrt{\bar\alpha_t}\,x_0$ plus a sum of independent
    Gaussians whose variances add up to $1 - \bar\alpha_t$. For a constant $\beta$,
    $\bar\alpha_t = (1-\beta)^t \to 0$: the chain forgets $x_0$ and tends to $\mathcal N(0, 1)$.

    Args:
        x0: Starting value(s).
        beta: One noise variance $\beta \in (0, 1)$, or a schedule $\beta_1, \dots, \beta_n$
            with $n \ge t$ (only the first ``t`` values are used).
        t: Number of steps, ``t >= 0`` (``t`` counts steps: ``t = 0`` is $x_0$ itself).

    Returns:
        ``(mean, variance)``: the mean $\sqrt{\bar\alpha_t}\,x_0$, an array of the shape of
        ``x0``, and the variance $1 - \bar\alpha_t$, a float.

    Raises:
        ValueError: if ``x0`` is not finite, ``beta`` is outside $(0, 1)$, or ``t`` is not an
            integer >= 0 or is longer than the schedule.

    Examples:
        >>> mean, var = ar1_marginal(2.0, 0.5, 2)  # abar = 0.25
        >>> float(mean), var
        (1.0, 0.75)
    """
    x0 = validation.as_float_array(x0, "x0")
    beta = validation.variance_schedule(beta, "beta")
    t = validation.integer(t, "t", minimum=0)
    if beta.ndim == 1 and t > beta.size:
        raise ValueError(f"t must be at most the schedule length {beta.size}, got {t}")

    # Exercise: eq. (P3.8) — the mean and the variance of x_t given x_0 in closed form, through the
    # product of the first t factors 1 - beta (a constant beta, or the schedule's).

    # $\bar\alpha_t = \prod_{s=1}^t (1 - \beta_s)$
    alpha_bar = (1.0 - float(beta)) ** t if beta.ndim == 0 else float(np.prod(1.0 - beta[:t]))
    # mean $\sqrt{\bar\alpha_t}\, x_0$, variance $1 - \bar\alpha_t$
    return math.sqrt(alpha_bar) * x0, 1.0 - alpha_bar
