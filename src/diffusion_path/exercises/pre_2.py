"""Pre-Task 2 exercise: sampling from probability distributions, up to annealed importance sampling.

Fill in each function marked TODO, then run

    diffusion-path check pre-2 --impl .

from this folder. The input checks are written for you; the math is yours.
The page explains the theory: docs/pre/2-sampling.md on the site.

AIS convention: an increasing schedule 0 = betas[0] <= ... <= betas[K] = 1 and
log f_beta(x) = beta log f(x) + (1 - beta) log p0(x), prior at beta = 0, target at 1.
Neal's paper indexes the same path from the target (beta = 1) down to the prior (0).
"""

from __future__ import annotations

import math  # noqa: F401  (you may need it)
from collections.abc import Callable

import numpy as np

from diffusion_path import validation
from diffusion_path.foundations.sampling import (  # input checks, shared with the reference
    _box,
    _log_density_values,
    _log_weights,
    _schedule,
    _shape,
)

LogDensity = Callable[[np.ndarray], np.ndarray]


Sampler = Callable[[int, np.random.Generator], np.ndarray]


def uniform_pdf(x: np.ndarray | float, a: float = 0.0, b: float = 1.0) -> np.ndarray:
    r"""Density of the uniform distribution $\mathcal U(a, b)$.

    $$p(x) = \frac{1}{b - a}\,\mathbb 1[a \le x \le b]$$

    Args:
        x: Points at which to evaluate the density (any shape).
        a: Lower end of the interval.
        b: Upper end, $b > a$.

    Returns:
        The density, an array of the same shape as ``x``.

    Raises:
        ValueError: if ``b <= a``.

    Examples:
        >>> uniform_pdf([-1.0, 0.5, 3.0], a=0.0, b=2.0)
        array([0. , 0.5, 0. ])
    """
    x = validation.as_float_array(x, "x")
    a = float(validation.as_float_array(a, "a"))
    b = float(validation.as_float_array(b, "b"))
    if b <= a:
        raise ValueError(f"b must be > a, got a={a}, b={b}")
    # TODO: return 1 / (b - a) where a <= x <= b and 0 elsewhere (np.where).
    raise NotImplementedError


def sample_uniform(
    a: float, b: float, size: int | tuple[int, ...], rng: np.random.Generator
) -> np.ndarray:
    r"""Draw samples of $\mathcal U(a, b)$ by stretching standard uniforms.

    $$x = a + (b - a)\,u, \qquad u \sim \mathcal U(0, 1)$$

    Args:
        a: Lower end of the interval.
        b: Upper end, $b > a$.
        size: Number of samples, or the shape of the output array.
        rng: The source of randomness, e.g. ``np.random.default_rng(0)``.

    Returns:
        An array of shape ``size``.

    Raises:
        ValueError: if ``b <= a``, ``size`` is not a positive int or tuple of them, or
            ``rng`` is not a ``numpy.random.Generator``.

    Examples:
        >>> x = sample_uniform(-1.0, 3.0, 100_000, np.random.default_rng(0))
        >>> round(float(x.mean()), 1), round(float(x.var()), 1)  # (a + b) / 2, (b - a)^2 / 12
        (1.0, 1.3)
    """
    a = float(validation.as_float_array(a, "a"))
    b = float(validation.as_float_array(b, "b"))
    if b <= a:
        raise ValueError(f"b must be > a, got a={a}, b={b}")
    size = _shape(size)
    rng = validation.generator(rng)
    # TODO: u = rng.random(size), then return a + (b - a) * u.
    raise NotImplementedError


def exponential_pdf(x: np.ndarray | float, rate: float = 1.0) -> np.ndarray:
    r"""Density of the exponential distribution with rate $\lambda$ (mean $1/\lambda$).

    $$p(x) = \lambda e^{-\lambda x}\,\mathbb 1[x \ge 0]$$

    Args:
        x: Points at which to evaluate the density (any shape).
        rate: Rate $\lambda > 0$.

    Returns:
        The density, an array of the same shape as ``x``.

    Raises:
        ValueError: if ``rate <= 0``.

    Examples:
        >>> exponential_pdf([-1.0, 0.0, 1.0], rate=2.0).round(4)  # 2 e^{-2} = 0.2707
        array([0.    , 2.    , 0.2707])
    """
    x = validation.as_float_array(x, "x")
    rate = float(validation.positive(rate, "rate"))
    # TODO: rate * exp(-rate * x) for x >= 0, and 0 for x < 0.
    raise NotImplementedError


def sample_exponential(
    rate: float, size: int | tuple[int, ...], rng: np.random.Generator
) -> np.ndarray:
    r"""Draw exponential samples by inverting the CDF $F(x) = 1 - e^{-\lambda x}$.

    $$x = F^{-1}(u) = -\frac{\log(1 - u)}{\lambda}, \qquad u \sim \mathcal U(0, 1)$$

    Args:
        rate: Rate $\lambda > 0$.
        size: Number of samples, or the shape of the output array.
        rng: The source of randomness.

    Returns:
        An array of shape ``size`` with non-negative entries.

    Raises:
        ValueError: if ``rate <= 0``, ``size`` is not a positive int or tuple of them, or
            ``rng`` is not a ``numpy.random.Generator``.

    Examples:
        >>> x = sample_exponential(2.0, 100_000, np.random.default_rng(0))
        >>> round(float(x.mean()), 2), bool(x.min() >= 0)  # mean 1 / rate
        (0.5, True)
    """
    rate = float(validation.positive(rate, "rate"))
    size = _shape(size)
    rng = validation.generator(rng)
    # TODO: inverse CDF: u = rng.random(size), x = -log(1 - u) / rate (np.log1p(-u) is accurate).
    raise NotImplementedError


def laplace_pdf(x: np.ndarray | float, mu: float = 0.0, b: float = 1.0) -> np.ndarray:
    r"""Density of the Laplace distribution with location $\mu$ and scale $b$.

    $$p(x) = \frac{1}{2b} \exp\!\Big(-\frac{|x - \mu|}{b}\Big)$$

    Args:
        x: Points at which to evaluate the density (any shape).
        mu: Location $\mu$ (the mean and the median).
        b: Scale $b > 0$; the variance is $2b^2$.

    Returns:
        The density, an array of the same shape as ``x``.

    Raises:
        ValueError: if ``b <= 0``.

    Examples:
        >>> laplace_pdf([0.0, 1.0], mu=0.0, b=0.5).round(4)  # e^{-2} = 0.1353
        array([1.    , 0.1353])
    """
    x = validation.as_float_array(x, "x")
    mu = float(validation.as_float_array(mu, "mu"))
    b = float(validation.positive(b, "b"))
    # TODO: exp(-|x - mu| / b) / (2 b).
    raise NotImplementedError


def sample_laplace(
    mu: float, b: float, size: int | tuple[int, ...], rng: np.random.Generator
) -> np.ndarray:
    r"""Draw Laplace samples by inverting the CDF.

    With $u \sim \mathcal U(-\tfrac12, \tfrac12)$, the inverse of
    $F(x) = \tfrac12 + \tfrac12\operatorname{sign}(x - \mu)(1 - e^{-|x - \mu|/b})$ is

    $$x = \mu - b\,\operatorname{sign}(u)\,\log(1 - 2|u|)$$

    Args:
        mu: Location $\mu$.
        b: Scale $b > 0$.
        size: Number of samples, or the shape of the output array.
        rng: The source of randomness.

    Returns:
        An array of shape ``size``.

    Raises:
        ValueError: if ``b <= 0``, ``size`` is not a positive int or tuple of them, or
            ``rng`` is not a ``numpy.random.Generator``.

    Examples:
        >>> x = sample_laplace(1.0, 2.0, 200_000, np.random.default_rng(0))
        >>> round(float(np.median(x)), 1), round(float(x.var()), 0)  # mu, 2 b^2
        (1.0, 8.0)
    """
    mu = float(validation.as_float_array(mu, "mu"))
    b = float(validation.positive(b, "b"))
    size = _shape(size)
    rng = validation.generator(rng)
    # TODO: inverse CDF: u = rng.random(size) - 0.5, x = mu - b * sign(u) * log(1 - 2 |u|).
    raise NotImplementedError


def box_muller(size: int | tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    r"""Standard normal samples from uniforms by the Box–Muller transform.

    With $u_1, u_2 \sim \mathcal U(0, 1)$ independent, $r = \sqrt{-2\log u_1}$ and
    $\theta = 2\pi u_2$, the pair

    $$z_1 = r\cos\theta, \qquad z_2 = r\sin\theta$$

    are independent $\mathcal N(0, 1)$: $r^2$ is exponential with rate $\tfrac12$ (the
    law of $z_1^2 + z_2^2$) and the angle is uniform.

    Args:
        size: Number of samples, or the shape of the output array.
        rng: The source of randomness.

    Returns:
        An array of shape ``size`` of standard normal samples.

    Raises:
        ValueError: if ``size`` is not a positive int or tuple of them, or ``rng`` is not
            a ``numpy.random.Generator``.

    Examples:
        >>> z = box_muller(100_001, np.random.default_rng(0))
        >>> z.shape, round(float(z.mean()), 2), round(float(z.std()), 2)
        ((100001,), 0.0, 1.0)
    """
    size = _shape(size)
    rng = validation.generator(rng)
    # TODO: with n = math.prod(size) and (n + 1) // 2 pairs: u1 = 1 - rng.random(pairs) (in (0, 1]),
    # u2 = rng.random(pairs); r = sqrt(-2 log u1), theta = 2 pi u2; z1 = r cos(theta), z2 = r sin(theta).
    # Concatenate z1 and z2, keep the first n and reshape to `size`.
    raise NotImplementedError


def uniform_box_pdf(x: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    r"""Density of the uniform distribution on the box $\prod_i [\ell_i, h_i]$.

    $$p(\mathbf x) = \prod_{i=1}^d \frac{\mathbb 1[\ell_i \le x_i \le h_i]}{h_i - \ell_i}$$

    Args:
        x: Points of shape ``(..., d)``, e.g. a grid of shape ``(H, W, 2)``.
        low: Lower corner $\boldsymbol\ell$, shape ``(d,)``.
        high: Upper corner $\mathbf h$, shape ``(d,)``, with $h_i > \ell_i$.

    Returns:
        The density, an array of shape ``x.shape[:-1]``.

    Raises:
        ValueError: if ``high <= low`` in some coordinate or the shapes disagree.

    Examples:
        >>> uniform_box_pdf(np.array([[0.5, 0.5], [3.0, 0.0]]), [0.0, 0.0], [2.0, 1.0])
        array([0.5, 0. ])
    """
    low, high = _box(low, high)
    x = validation.as_float_array(x, "x")
    if x.ndim == 0 or x.shape[-1] != low.shape[0]:
        raise ValueError(f"x must have shape (..., {low.shape[0]}) to match low, got {x.shape}")
    # TODO: 1 / prod(high - low) where every coordinate of x is inside [low, high], else 0.
    raise NotImplementedError


def sample_uniform_box(
    low: np.ndarray, high: np.ndarray, n: int, rng: np.random.Generator
) -> np.ndarray:
    r"""Draw ``n`` points uniformly from the box $\prod_i [\ell_i, h_i]$.

    $$\mathbf x = \boldsymbol\ell + (\mathbf h - \boldsymbol\ell) \odot \mathbf u, \qquad
    \mathbf u \sim \mathcal U(0, 1)^d$$

    Args:
        low: Lower corner $\boldsymbol\ell$, shape ``(d,)``.
        high: Upper corner $\mathbf h$, shape ``(d,)``, with $h_i > \ell_i$.
        n: Number of points.
        rng: The source of randomness.

    Returns:
        An array of shape ``(n, d)``.

    Raises:
        ValueError: if ``high <= low`` in some coordinate, the shapes disagree, ``n`` is
            not a positive int, or ``rng`` is not a ``numpy.random.Generator``.

    Examples:
        >>> x = sample_uniform_box([0.0, -1.0], [2.0, 1.0], 100_000, np.random.default_rng(0))
        >>> x.shape, x.mean(axis=0).round(1).tolist()
        ((100000, 2), [1.0, 0.0])
    """
    low, high = _box(low, high)
    n = validation.positive_int(n, "n")
    rng = validation.generator(rng)
    # TODO: u = rng.random((n, d)); return low + (high - low) * u.
    raise NotImplementedError


def rejection_sample(
    log_f: LogDensity,
    sample_q: Sampler,
    log_q: LogDensity,
    log_M: float,
    n: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, float]:
    r"""Rejection sampling from an unnormalised density $f$ with an envelope $M q \ge f$.

    Propose $x \sim q$ and $u \sim \mathcal U(0, 1)$; accept $x$ when
    $u \le f(x) / (M q(x))$. Accepted points follow $p = f / Z$ exactly, and the
    acceptance rate is $Z / M$.

    Args:
        log_f: Log of the unnormalised target, $x$ of shape ``(m, ...)`` to shape ``(m,)``.
        sample_q: ``sample_q(m, rng)`` draws ``m`` proposals of shape ``(m, ...)``.
        log_q: Log-density of the proposal, shape ``(m, ...)`` to ``(m,)``.
        log_M: $\log M$, with $f(x) \le M q(x)$ everywhere.
        n: Number of samples to return.
        rng: The source of randomness.

    Returns:
        ``(samples, acceptance_rate)``: ``n`` accepted samples and the fraction of
        proposals that were accepted.

    Raises:
        ValueError: if a proposal shows $f(x) > M q(x)$ (``log_M`` is too small, so the
            samples would be wrong), if nothing is accepted in a million proposals
            (``log_M`` far too large), or on bad ``n`` or ``rng``.

    Examples:
        >>> # the half-normal f(x) = exp(-x^2/2) on x >= 0 under the envelope M * Exp(1)
        >>> log_f = lambda x: -0.5 * x**2
        >>> log_q = lambda x: -x
        >>> draw = lambda m, rng: rng.exponential(size=m)
        >>> x, rate = rejection_sample(log_f, draw, log_q, 0.5, 50_000, np.random.default_rng(0))
        >>> round(rate, 2)  # Z / M = sqrt(pi / 2) / e^{0.5}
        0.76
    """
    log_M = float(validation.as_float_array(log_M, "log_M"))
    n = validation.positive_int(n, "n")
    rng = validation.generator(rng)
    # TODO: until n samples are accepted: draw proposals x = sample_q(m, rng) and u = rng.random(m);
    # if any log_f(x) - log_q(x) > log_M, raise ValueError naming log_M;
    # keep x where log u <= log_f(x) - log_q(x) - log_M.
    # Return (the first n accepted samples, accepted / proposed).
    raise NotImplementedError


def log_mean_exp(log_w: np.ndarray) -> float:
    r"""The log of the mean of $e^{\log w_i}$, computed without overflow.

    $$\log \frac1n \sum_i w_i = m + \log \frac1n \sum_i e^{\log w_i - m},
    \qquad m = \max_i \log w_i$$

    Args:
        log_w: Log-weights, shape ``(n,)``; ``-inf`` entries stand for zero weights.

    Returns:
        The log of the mean weight, a float.

    Raises:
        ValueError: if ``log_w`` is not a non-empty 1-D array, contains NaN or ``+inf``,
            or is ``-inf`` everywhere.

    Examples:
        >>> round(log_mean_exp(np.array([1000.0, 1000.0 + np.log(3.0)])), 6)  # 1000 + log 2
        1000.693147
    """
    log_w = _log_weights(log_w)
    # TODO: m = max(log_w); return m + log(mean(exp(log_w - m))).
    raise NotImplementedError


def effective_sample_size(log_w: np.ndarray) -> float:
    r"""Kish's effective sample size of importance weights.

    $$\mathrm{ESS} = \frac{\big(\sum_i w_i\big)^2}{\sum_i w_i^2} = \frac{1}{\sum_i \bar w_i^2},
    \qquad \bar w_i = \frac{w_i}{\sum_j w_j}$$

    It is $n$ for equal weights and $1$ when one weight carries everything.

    Args:
        log_w: Log-weights, shape ``(n,)``.

    Returns:
        The effective sample size, a float in $[1, n]$.

    Raises:
        ValueError: as [`log_mean_exp`][diffusion_path.foundations.sampling.log_mean_exp].

    Examples:
        >>> effective_sample_size(np.zeros(10))
        10.0
        >>> round(effective_sample_size(np.log([1.0, 1.0, 2.0])), 4)  # 16 / 6
        2.6667
    """
    log_w = _log_weights(log_w)
    # TODO: w = exp(log_w - max), w_bar = w / sum(w); return 1 / sum(w_bar^2).
    raise NotImplementedError


def log_z_estimate(log_w: np.ndarray) -> tuple[float, float]:
    r"""Estimate $\log Z$ from importance weights, with its standard error.

    $$\log \hat Z = \log \frac1n \sum_i w_i, \qquad
    \mathrm{se}(\log \hat Z) \approx \frac{\operatorname{sd}(w)}{\sqrt n\ \bar w}$$

    The weights' mean $\hat Z$ is unbiased for $Z$; its log is slightly biased low. The
    standard error comes from the delta method, $\operatorname{se}(\log \hat Z) \approx
    \operatorname{se}(\hat Z) / \hat Z$.

    Args:
        log_w: Log-weights, shape ``(n,)`` with ``n >= 2``.

    Returns:
        ``(log_Z, standard_error)``.

    Raises:
        ValueError: as [`log_mean_exp`][diffusion_path.foundations.sampling.log_mean_exp],
            or if there are fewer than 2 weights.

    Examples:
        >>> log_z_estimate(np.full(5, 2.0))  # equal weights: no spread, no error
        (2.0, 0.0)
    """
    log_w = _log_weights(log_w)
    if log_w.size < 2:
        raise ValueError(
            f"log_w must hold at least 2 weights for a standard error, got {log_w.size}"
        )
    # TODO: w = exp(log_w - max(log_w)); se = std(w, ddof=1) / (sqrt(n) mean(w));
    # return (log_mean_exp(log_w), se).
    raise NotImplementedError


def importance_sampling(
    log_f: LogDensity, sample_q: Sampler, log_q: LogDensity, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    r"""Draw ``n`` proposals from $q$ and weight them towards the unnormalised target $f$.

    $$x_i \sim q, \qquad \log w_i = \log f(x_i) - \log q(x_i), \qquad
    \mathbb E_q[w] = \int f = Z$$

    Args:
        log_f: Log of the unnormalised target, shape ``(n, ...)`` to ``(n,)``.
        sample_q: ``sample_q(n, rng)`` draws ``n`` proposals.
        log_q: Log-density of the proposal (normalised), shape ``(n, ...)`` to ``(n,)``.
        n: Number of proposals.
        rng: The source of randomness.

    Returns:
        ``(x, log_w)``: the proposals, shape ``(n, ...)``, and their log-weights, shape ``(n,)``.

    Raises:
        ValueError: if ``n`` is not a positive int, ``rng`` is not a Generator, or a
            callable returns the wrong shape.

    Examples:
        >>> # f(x) = exp(-x^2 / 2) has Z = sqrt(2 pi) = e^{0.919}; proposals from N(0, 2^2)
        >>> rng = np.random.default_rng(0)
        >>> x, log_w = importance_sampling(
        ...     lambda x: -0.5 * x**2,
        ...     lambda m, rng: 2.0 * rng.standard_normal(m),
        ...     lambda x: -0.125 * x**2 - np.log(2.0 * np.sqrt(2 * np.pi)),
        ...     100_000,
        ...     rng,
        ... )
        >>> round(log_mean_exp(log_w), 2)
        0.92
    """
    n = validation.positive_int(n, "n")
    rng = validation.generator(rng)
    # TODO: x = sample_q(n, rng); log_w = log_f(x) - log_q(x); return (x, log_w).
    raise NotImplementedError


def self_normalised_mean(values: np.ndarray, log_w: np.ndarray) -> np.ndarray:
    r"""The self-normalised importance-sampling estimate of $\mathbb E_p[h(x)]$.

    $$\hat{\mathbb E}_p[h] = \sum_i \bar w_i\, h(x_i), \qquad \bar w_i = \frac{w_i}{\sum_j w_j}$$

    It needs the target only up to its normaliser, at the price of a small bias.

    Args:
        values: $h(x_i)$, shape ``(n, ...)``.
        log_w: Log-weights, shape ``(n,)``.

    Returns:
        The weighted mean over the first axis, shape ``values.shape[1:]``.

    Raises:
        ValueError: if the lengths disagree or ``log_w`` is invalid.

    Examples:
        >>> self_normalised_mean(np.array([0.0, 10.0]), np.log([3.0, 1.0]))  # (0 * 3 + 10 * 1) / 4
        2.5
    """
    log_w = _log_weights(log_w)
    values = validation.as_float_array(values, "values")
    if values.ndim == 0 or values.shape[0] != log_w.shape[0]:
        raise ValueError(
            f"values must have {log_w.shape[0]} rows, one per weight, got shape {values.shape}"
        )
    # TODO: w_bar = w / sum(w) from log_w; return the sum over axis 0 of w_bar * values
    # (a float when values is 1-D).
    raise NotImplementedError


def metropolis_hastings(
    log_f: LogDensity,
    x0: np.ndarray,
    n_steps: int,
    step_size: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, float]:
    r"""Random-walk Metropolis–Hastings chains targeting the unnormalised density $f$.

    Propose $x' = x + s\,\boldsymbol\varepsilon$ with $\boldsymbol\varepsilon \sim
    \mathcal N(0, I)$, and accept with probability

    $$\alpha(x \to x') = \min\Big(1, \frac{f(x')}{f(x)}\Big)$$

    (the symmetric proposal cancels from the Hastings ratio). The chain satisfies
    detailed balance with respect to $p = f / Z$, so $p$ is its stationary law.

    Args:
        log_f: Log of the unnormalised target: ``x`` of shape ``(c, ...)`` to ``(c,)``.
        x0: Starting points of ``c`` independent chains, shape ``(c, ...)``; e.g.
            ``(c,)`` for 1-D targets and ``(c, d)`` for ``d``-dimensional ones.
        n_steps: Number of Metropolis–Hastings steps.
        step_size: Standard deviation $s > 0$ of the Gaussian proposal.
        rng: The source of randomness.

    Returns:
        ``(path, acceptance_rate)``: the states, shape ``(n_steps + 1, *x0.shape)``, with
        ``path[0] = x0``; and the fraction of accepted proposals.

    Raises:
        ValueError: if ``step_size <= 0``, ``n_steps`` is not a positive int, ``x0`` is
            not an array with a leading chain axis, ``log_f(x0)`` is ``-inf`` somewhere,
            or ``rng`` is not a Generator.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> path, rate = metropolis_hastings(lambda x: -0.5 * x**2, np.zeros(4000), 200, 2.0, rng)
        >>> path.shape, round(float(path[-1].std()), 1)
        ((201, 4000), 1.0)
    """
    x = validation.as_float_array(x0, "x0")
    if x.ndim == 0:
        raise ValueError("x0 must have a leading axis of chains, shape (c, ...), got a scalar")
    n_steps = validation.positive_int(n_steps, "n_steps")
    step_size = float(validation.positive(step_size, "step_size"))
    rng = validation.generator(rng)
    c = x.shape[0]
    log_fx = _log_density_values(log_f(x), c, "log_f")
    if np.any(log_fx == -np.inf):
        raise ValueError("x0 must start where the target is positive: log_f(x0) is -inf")
    # TODO: path[0] = x0; for each step: x' = x + step_size * rng.standard_normal(x.shape);
    # accept chain i when log u_i <= log_f(x')_i - log_f(x)_i (u = rng.random(c));
    # keep the old state where rejected. Return (path, accepted / (n_steps * c)).
    raise NotImplementedError


def langevin_dynamics(
    score: Callable[[np.ndarray], np.ndarray],
    x0: np.ndarray,
    n_steps: int,
    step_size: float,
    rng: np.random.Generator,
) -> np.ndarray:
    r"""Unadjusted Langevin dynamics: noisy gradient ascent on $\log p$ along the score.

    $$x_{k+1} = x_k + \frac{\epsilon}{2}\nabla_x \log p(x_k) + \sqrt{\epsilon}\, z_k,
    \qquad z_k \sim \mathcal N(0, I)$$

    As $\epsilon \to 0$ and $k \to \infty$ the samples follow $p$ (Song & Ermon,
    arXiv 1907.05600, Sec. 2.2). Only the score $\nabla_x \log p$ is needed, never
    the normaliser: this is how score-based diffusion models sample.

    Args:
        score: $\nabla_x \log p$, mapping ``x`` of shape ``(c, ...)`` to the same shape.
        x0: Starting points of ``c`` chains, shape ``(c, ...)``.
        n_steps: Number of steps.
        step_size: $\epsilon > 0$.
        rng: The source of randomness.

    Returns:
        The states, shape ``(n_steps + 1, *x0.shape)``, with ``path[0] = x0``.

    Raises:
        ValueError: if ``step_size <= 0``, ``n_steps`` is not a positive int, ``score``
            returns the wrong shape, or ``rng`` is not a Generator.

    Examples:
        >>> path = langevin_dynamics(
        ...     lambda x: -x, np.zeros(10_000), 500, 0.01, np.random.default_rng(0)
        ... )
        >>> round(
        ...     float(path[-1].var()), 2
        ... )  # N(0, 1) target, exact discrete variance 1 / (1 - 0.01/4)
        1.0
    """
    x = validation.as_float_array(x0, "x0")
    if x.ndim == 0:
        raise ValueError("x0 must have a leading axis of chains, shape (c, ...), got a scalar")
    n_steps = validation.positive_int(n_steps, "n_steps")
    step_size = float(validation.positive(step_size, "step_size"))
    rng = validation.generator(rng)
    # TODO: path[0] = x0; for each step: x <- x + (step_size / 2) score(x) + sqrt(step_size) z,
    # z = rng.standard_normal(x.shape). Check score(x) has x's shape. Return the path.
    raise NotImplementedError


def annealed_log_density(
    x: np.ndarray, log_target: LogDensity, log_prior: LogDensity, beta: float
) -> np.ndarray:
    r"""Log of the geometric path between the prior and the target at inverse temperature $\beta$.

    $$\log f_\beta(x) = \beta \log f(x) + (1 - \beta) \log p_0(x)$$

    This is Neal's $f_j = f_0^{\beta_j} f_n^{1-\beta_j}$ (arXiv physics/9803008, Sec. 2)
    with the target $f_0 = f$ and the prior $f_n = p_0$.

    Args:
        x: Points of shape ``(n, ...)``.
        log_target: Log of the unnormalised target $f$, shape ``(n, ...)`` to ``(n,)``.
        log_prior: Log-density of the prior $p_0$, shape ``(n, ...)`` to ``(n,)``.
        beta: Inverse temperature $\beta \in [0, 1]$.

    Returns:
        $\log f_\beta(x)$, shape ``(n,)``.

    Raises:
        ValueError: if ``beta`` is outside $[0, 1]$.

    Examples:
        >>> annealed_log_density(np.array([2.0]), lambda x: -0.5 * x**2, lambda x: 0.0 * x, 0.25)
        array([-0.5])
    """
    beta = float(validation.as_float_array(beta, "beta"))
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must lie in [0, 1], got {beta}")
    x = validation.as_float_array(x, "x")
    # TODO: return beta * log_target(x) + (1 - beta) * log_prior(x), one value per row of x.
    raise NotImplementedError


def annealed_importance_sampling(
    log_target: LogDensity,
    log_prior: LogDensity,
    sample_prior: Sampler,
    betas: np.ndarray,
    n: int,
    rng: np.random.Generator,
    n_mcmc: int = 1,
    step_size: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Annealed importance sampling (Neal, arXiv physics/9803008, Sec. 2).

    Start from the prior, $x \sim p_0$, $\log w = 0$. For $k = 1, \dots, K$:

    $$\log w \mathrel{+}= (\beta_k - \beta_{k-1}) \big[\log f(x) - \log p_0(x)\big]
    = \log f_{\beta_k}(x) - \log f_{\beta_{k-1}}(x)$$

    then, for $k < K$, move $x$ with ``n_mcmc`` Metropolis–Hastings steps that leave
    $f_{\beta_k}$ invariant. Then $\mathbb E[w] = Z / Z_0$: with a normalised prior,
    the mean weight is an unbiased estimate of the target's normaliser $Z$, and by
    Jensen's inequality $\mathbb E[\log w] \le \log Z$.

    With ``betas = [0, 1]`` this is plain importance sampling with the prior as proposal.
    Our ``betas[k]`` is Neal's $\beta_{K - k}$: he indexes from the target down.

    Args:
        log_target: Log of the unnormalised target $f$, shape ``(n, ...)`` to ``(n,)``.
        log_prior: Log-density of the prior $p_0$, shape ``(n, ...)`` to ``(n,)``.
        sample_prior: ``sample_prior(n, rng)`` draws ``n`` samples of $p_0$.
        betas: The schedule $0 = \beta_0 \le \beta_1 \le \dots \le \beta_K = 1$, shape ``(K + 1,)``.
        n: Number of independent annealing runs (particles).
        rng: The source of randomness.
        n_mcmc: Metropolis–Hastings steps per intermediate distribution.
        step_size: Proposal standard deviation of those steps.

    Returns:
        ``(x, log_w)``: the final particles, shape ``(n, ...)``, and their log-weights,
        shape ``(n,)``. Use [`log_z_estimate`][diffusion_path.foundations.sampling.log_z_estimate]
        and [`effective_sample_size`][diffusion_path.foundations.sampling.effective_sample_size]
        on ``log_w``.

    Raises:
        ValueError: if ``betas`` does not run from 0 to 1 without decreasing, or on a bad
            ``n``, ``n_mcmc``, ``step_size`` or ``rng``.

    Examples:
        >>> # target f(x) = exp(-(x - 3)^2 / 2): Z = sqrt(2 pi), log Z = 0.919; prior N(0, 1)
        >>> x, log_w = annealed_importance_sampling(
        ...     lambda x: -0.5 * (x - 3.0) ** 2,
        ...     lambda x: -0.5 * x**2 - 0.5 * np.log(2 * np.pi),
        ...     lambda m, rng: rng.standard_normal(m),
        ...     np.linspace(0.0, 1.0, 101),
        ...     1000,
        ...     np.random.default_rng(0),
        ... )
        >>> log_z, se = log_z_estimate(log_w)
        >>> bool(abs(log_z - 0.5 * np.log(2 * np.pi)) < 5 * se)
        True
    """
    betas = _schedule(betas)
    n = validation.positive_int(n, "n")
    rng = validation.generator(rng)
    n_mcmc = validation.positive_int(n_mcmc, "n_mcmc")
    step_size = float(validation.positive(step_size, "step_size"))
    # $x \sim p_0$ (Neal's $x_{n-1} \sim p_n$)
    x = np.asarray(sample_prior(n, rng), dtype=np.float64)
    if x.ndim == 0 or x.shape[0] != n:
        raise ValueError(
            f"sample_prior must return {n} samples along the first axis, got {x.shape}"
        )
    # TODO: log_w = zeros(n). For k = 1..K: log_w += (betas[k] - betas[k-1]) (log_target(x) - log_prior(x));
    # then, if k < K, replace x by the last state of metropolis_hastings on
    # annealed_log_density(., log_target, log_prior, betas[k]) with n_mcmc steps.
    # Return (x, log_w).
    raise NotImplementedError
