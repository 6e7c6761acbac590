r"""Pre-Task 2: sampling from probability distributions, up to annealed importance sampling.

Every sampler in this module turns uniform or Gaussian random numbers into samples
of another distribution. The methods come in the order a diffusion model needs them:

1. **Inverse-CDF sampling.** If $U \sim \mathcal U(0, 1)$ and $F$ is a continuous CDF,
   then $F^{-1}(U) \sim F$. Exponential and Laplace samples come out of one line each.
2. **Box–Muller.** Two uniforms give two independent standard normals.
3. **Rejection sampling.** Propose from $q$, accept with probability $f(x) / (M q(x))$.
4. **Importance sampling.** Keep every proposal, but weight it by $w = f(x) / q(x)$;
   the mean weight estimates the normaliser $Z = \int f$, and the effective sample
   size says how many of the weighted samples really count.
5. **Markov chain Monte Carlo.** Metropolis–Hastings and Langevin dynamics build a
   chain whose stationary law is the target. Langevin dynamics moves along the
   *score* $\nabla_x \log p(x)$, the quantity a diffusion model learns, with a step
   size written $\tau$ ($\varepsilon$ is the Gaussian noise everywhere in this course).
6. **Annealed importance sampling** (Neal, arXiv physics/9803008). Importance sampling
   through a path of distributions from an easy prior to the target, with MCMC moves
   at each step: a Markov chain from noise to data whose weights estimate $\log Z$.

The AIS convention used here: an increasing schedule of *inverse temperatures*
$0 = \gamma_0 \le \gamma_1 \le \dots \le \gamma_K = 1$ (``inverse_temperatures``) and
intermediate densities $\log f_{\gamma}(x) = \gamma \log f(x) + (1 - \gamma) \log p_0(x)$,
from the prior $p_0$ at $\gamma = 0$ to the target $f$ at $\gamma = 1$. We write
$\gamma$ because $\beta_t$ is the noise variance of the diffusion process in the core
tasks. Neal writes the same path with $\beta_j$, as $f_j = f_0^{\beta_j} f_n^{1 - \beta_j}$
with $f_0$ the target and $f_n$ the prior, and his index runs the other way,
$1 = \beta_0 > \dots > \beta_n = 0$: his $\beta_j$ is our $\gamma_{K - j}$.

All functions use NumPy; randomness comes from an explicit ``numpy.random.Generator``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from diffusion_path.tools import validation

__all__ = [
    "annealed_importance_sampling",
    "annealed_log_density",
    "box_muller",
    "effective_sample_size",
    "exponential_pdf",
    "importance_sampling",
    "langevin_dynamics",
    "laplace_pdf",
    "log_mean_exp",
    "log_z_estimate",
    "metropolis_hastings",
    "rejection_sample",
    "sample_exponential",
    "sample_laplace",
    "sample_uniform",
    "sample_uniform_box",
    "self_normalised_mean",
    "uniform_box_pdf",
    "uniform_pdf",
]

LogDensity = Callable[[np.ndarray], np.ndarray]
Sampler = Callable[[int, np.random.Generator], np.ndarray]


# ----------------------------------------------------------------------------- 1-D families


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
        ValueError: if ``x`` has NaN or infinite entries, ``a`` or ``b`` is not a finite
            number, or ``b <= a``.

    Examples:
        >>> uniform_pdf([-1.0, 0.5, 3.0], a=0.0, b=2.0)
        array([0. , 0.5, 0. ])
    """
    x = validation.as_float_array(x, "x")
    a, b = validation.interval(a, b)

    # Exercise: the density of the uniform law on [a, b] (the law eq. P2.1 stretches standard
    # uniforms onto): one over the interval's length inside it, ends included, and zero
    # outside.

    # $p(x) = 1 / (b - a)$ inside $[a, b]$, zero outside
    return np.where((x >= a) & (x <= b), 1.0 / (b - a), 0.0)


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
        ValueError: if ``a`` or ``b`` is not a finite number, ``b <= a``, ``size`` is not a
            positive int or tuple of them, or ``rng`` is not a ``numpy.random.Generator``.

    Examples:
        >>> x = sample_uniform(-1.0, 3.0, 100_000, np.random.default_rng(0))
        >>> round(float(x.mean()), 1), round(float(x.var()), 1)  # (a + b) / 2, (b - a)^2 / 12
        (1.0, 1.3)
    """
    a, b = validation.interval(a, b)
    size = validation.size_shape(size)
    rng = validation.generator(rng)

    # Exercise: eq. (P2.1) with the inverse CDF of the uniform law on [a, b] — standard uniform
    # numbers from rng, of the requested shape, stretched to the interval's length and
    # shifted to start at a.

    # $u \sim \mathcal U(0, 1)$
    u = rng.random(size)
    # $x = a + (b - a) u$
    return a + (b - a) * u


def exponential_pdf(x: np.ndarray | float, rate: float = 1.0) -> np.ndarray:
    r"""Density of the exponential distribution with rate $\lambda$ (mean $1/\lambda$).

    $$p(x) = \lambda e^{-\lambda x}\,\mathbb 1[x \ge 0]$$

    Args:
        x: Points at which to evaluate the density (any shape).
        rate: Rate $\lambda > 0$.

    Returns:
        The density, an array of the same shape as ``x``.

    Raises:
        ValueError: if ``x`` has NaN or infinite entries, or ``rate`` is not a finite
            number > 0.

    Examples:
        >>> exponential_pdf([-1.0, 0.0, 1.0], rate=2.0).round(4)  # 2 e^{-2} = 0.2707
        array([0.    , 2.    , 0.2707])
    """
    x = validation.as_float_array(x, "x")
    rate = float(validation.positive(rate, "rate"))

    # Exercise: eq. (P2.2), left — the density at every x: the rate times a decaying exponential for
    # x >= 0, and zero for negative x (without overflow there).

    # $p(x) = \lambda e^{-\lambda x}$ for $x \ge 0$
    return np.where(x >= 0, rate * np.exp(-rate * np.maximum(x, 0.0)), 0.0)


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
        ValueError: if ``rate`` is not a finite number > 0, ``size`` is not a positive int
            or tuple of them, or ``rng`` is not a ``numpy.random.Generator``.

    Examples:
        >>> x = sample_exponential(2.0, 100_000, np.random.default_rng(0))
        >>> round(float(x.mean()), 2), bool(x.min() >= 0)  # mean 1 / rate
        (0.5, True)
    """
    rate = float(validation.positive(rate, "rate"))
    size = validation.size_shape(size)
    rng = validation.generator(rng)

    # Exercise: eq. (P2.2), right — inverse-CDF sampling (P2.1): standard uniform numbers from rng,
    # of the requested shape, through the inverse of the exponential CDF (the samples are >= 0
    # and their mean is one over the rate).

    # $u \sim \mathcal U(0, 1)$; rng.random() lies in [0, 1), so $1 - u > 0$
    u = rng.random(size)
    # $x = -\log(1 - u) / \lambda$
    return -np.log1p(-u) / rate


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
        ValueError: if ``x`` has NaN or infinite entries, ``mu`` is not finite, or ``b`` is
            not a finite number > 0.

    Examples:
        >>> laplace_pdf([0.0, 1.0], mu=0.0, b=0.5).round(4)  # e^{-2} = 0.1353
        array([1.    , 0.1353])
    """
    x = validation.as_float_array(x, "x")
    mu = float(validation.as_float_array(mu, "mu"))
    b = float(validation.positive(b, "b"))

    # Exercise: eq. (P2.3), first line — the density at every x: an exponential decay in the distance to
    # mu, in units of b, normalised over both sides.

    # $p(x) = e^{-|x - \mu| / b} / (2b)$
    return np.exp(-np.abs(x - mu) / b) / (2.0 * b)


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
        ValueError: if ``mu`` is not finite, ``b`` is not a finite number > 0, ``size`` is
            not a positive int or tuple of them, or ``rng`` is not a ``numpy.random.Generator``.

    Examples:
        >>> x = sample_laplace(1.0, 2.0, 200_000, np.random.default_rng(0))
        >>> round(float(np.median(x)), 1), round(float(x.var()), 0)  # mu, 2 b^2
        (1.0, 8.0)
    """
    mu = float(validation.as_float_array(mu, "mu"))
    b = float(validation.positive(b, "b"))
    size = validation.size_shape(size)
    rng = validation.generator(rng)

    # Exercise: eq. (P2.3), second line — inverse-CDF sampling (P2.1) with uniform numbers from rng
    # centred on zero, of the requested shape: the sign of each picks the side of mu, its size
    # how far out.

    # $u \sim \mathcal U(-\frac12, \frac12)$
    u = rng.random(size) - 0.5
    # $x = \mu - b \operatorname{sign}(u) \log(1 - 2|u|)$
    return mu - b * np.sign(u) * np.log1p(-2.0 * np.abs(u))


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
    size = validation.size_shape(size)
    rng = validation.generator(rng)

    # Exercise: eq. (P2.4) — enough pairs of uniforms from rng for the requested number of normals
    # (an odd count needs one more pair); turn each pair into a radius (the first uniform must
    # never be 0) and an angle (a full turn), and those into two independent normals; return
    # exactly the requested shape.

    # one pair $(u_1, u_2)$ gives two normals
    n = math.prod(size)
    pairs = (n + 1) // 2
    # $u_1 \in (0, 1]$ so that $\log u_1$ is finite; $u_2 \in [0, 1)$
    u1 = 1.0 - rng.random(pairs)
    u2 = rng.random(pairs)
    # $r = \sqrt{-2 \log u_1}$, $\theta = 2\pi u_2$
    r = np.sqrt(-2.0 * np.log(u1))
    theta = 2.0 * math.pi * u2
    # $z_1 = r\cos\theta$, $z_2 = r\sin\theta$
    z = np.concatenate([r * np.cos(theta), r * np.sin(theta)])
    return z[:n].reshape(size)


# ----------------------------------------------------------------------------- 2-D uniform


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
        ValueError: if ``low`` or ``high`` is not a finite vector, their shapes disagree,
            ``high <= low`` in some coordinate, or ``x`` is not finite with a last axis of
            size ``d``.

    Examples:
        >>> uniform_box_pdf(np.array([[0.5, 0.5], [3.0, 0.0]]), [0.0, 0.0], [2.0, 1.0])
        array([0.5, 0. ])
    """
    low, high = validation.box(low, high)
    x = validation.as_float_array(x, "x")
    if x.ndim == 0 or x.shape[-1] != low.shape[0]:
        raise ValueError(f"x must have shape (..., {low.shape[0]}) to match low, got {x.shape}")

    # Exercise: the density: one over the box's volume at points inside the box (every coordinate of
    # the last axis of x within its bounds, ends included), zero outside.

    inside = np.all((x >= low) & (x <= high), axis=-1)
    # $p = 1 / \prod_i (h_i - \ell_i)$ inside the box
    return np.where(inside, 1.0 / float(np.prod(high - low)), 0.0)


def sample_uniform_box(
    low: np.ndarray, high: np.ndarray, n: int, rng: np.random.Generator
) -> np.ndarray:
    r"""Draw ``n`` points uniformly from the box $\prod_i [\ell_i, h_i]$.

    $$\begin{gathered}
    \mathbf x = \boldsymbol\ell + (\mathbf h - \boldsymbol\ell) \odot \mathbf u, \\
    \mathbf u \sim \mathcal U(0, 1)^d
    \end{gathered}$$

    Args:
        low: Lower corner $\boldsymbol\ell$, shape ``(d,)``.
        high: Upper corner $\mathbf h$, shape ``(d,)``, with $h_i > \ell_i$.
        n: Number of points.
        rng: The source of randomness.

    Returns:
        An array of shape ``(n, d)``.

    Raises:
        ValueError: if ``low`` or ``high`` is not a finite vector, their shapes disagree,
            ``high <= low`` in some coordinate, ``n`` is not a positive int, or ``rng`` is
            not a ``numpy.random.Generator``.

    Examples:
        >>> x = sample_uniform_box([0.0, -1.0], [2.0, 1.0], 100_000, np.random.default_rng(0))
        >>> x.shape, x.mean(axis=0).round(1).tolist()
        ((100000, 2), [1.0, 0.0])
    """
    low, high = validation.box(low, high)
    n = validation.positive_int(n, "n")
    rng = validation.generator(rng)

    # Exercise: eq. (P2.1) in each coordinate — n points uniform in the box: independent standard
    # uniform numbers from rng, one per point and coordinate, stretched and shifted coordinate
    # by coordinate.

    # $\mathbf u \sim \mathcal U(0, 1)^d$, one row per point
    u = rng.random((n, low.shape[0]))
    # $\mathbf x = \boldsymbol\ell + (\mathbf h - \boldsymbol\ell) \odot \mathbf u$
    return low + (high - low) * u


# ----------------------------------------------------------------------------- rejection


def rejection_sample(
    log_f: LogDensity,
    sample_q: Sampler,
    log_q: LogDensity,
    log_M: float,
    n: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, float]:
    r"""Rejection sampling from an unnormalised density $f$ with an envelope $M q \ge f$.

    Propose $x \sim q$ and $u \sim \mathcal U(0, 1)$, and

    $$\begin{gathered}
    \text{accept } x \text{ if } u \le \frac{f(x)}{M q(x)}, \\
    \Pr(\text{accept}) = \frac{Z}{M}.
    \end{gathered}$$

    Accepted points follow $p = f / Z$ exactly.

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
        ValueError: if ``log_M`` is not finite; if a proposal shows $f(x) > M q(x)$
            (``log_M`` is too small, so the samples would be wrong); if nothing is accepted
            in a million proposals (``log_M`` far too large); if ``log_f`` or ``log_q``
            returns the wrong shape, NaN or ``+inf``; if ``n`` is not a positive int; or if
            ``rng`` is not a ``numpy.random.Generator``.

    Examples:
        >>> # the half-normal f(x) = exp(-x^2/2) on x >= 0 under the envelope M * Exp(1)
        >>> log_f = lambda x: -0.5 * x**2
        >>> log_q = lambda x: -x
        >>> draw = lambda m, rng: rng.exponential(size=m)
        >>> x, rate = rejection_sample(log_f, draw, log_q, 0.5, 50_000, np.random.default_rng(0))
        >>> round(rate, 2)  # Z / M = sqrt(pi / 2) / e^{0.5}
        0.76
    """
    log_M = validation.number(log_M, "log_M")
    n = validation.positive_int(n, "n")
    rng = validation.generator(rng)

    # Exercise: eq. (P2.5) — propose from q with rng in batches until n proposals are accepted:
    # accept each with probability f / (M q), compared in logs with a fresh uniform per
    # proposal. Return the first n accepted and the fraction of all proposals accepted. A
    # proposal with f > M q means the envelope does not cover f: raise a ValueError naming
    # log_M.

    accepted: list[np.ndarray] = []
    count, proposed = 0, 0
    while count < n:
        m = max(2 * (n - count), 100)
        x = np.asarray(sample_q(m, rng), dtype=np.float64)
        log_ratio = validation.log_density_values(
            log_f(x), m, "log_f"
        ) - validation.log_density_values(log_q(x), m, "log_q")
        # $\log \frac{f(x)}{M q(x)} \le 0$ must hold for every proposal
        log_accept = log_ratio - log_M
        if np.any(log_accept > 1e-9):
            worst = float(np.max(log_ratio))
            raise ValueError(
                f"log_M must bound log f - log q, got log_M={log_M:.4g} but a proposal has "
                f"log f - log q = {worst:.4g}: the envelope M q does not cover f"
            )
        # accept when $u \le f(x) / (M q(x))$, i.e. $\log u \le \log f - \log q - \log M$
        keep = np.log(1.0 - rng.random(m)) <= log_accept
        accepted.append(x[keep])
        count += int(keep.sum())
        proposed += m
        if count == 0 and proposed >= 1_000_000:
            raise ValueError(
                f"log_M={log_M:.4g} looks far too large: no proposal accepted out of {proposed}"
            )
    return np.concatenate(accepted)[:n], count / proposed


# ----------------------------------------------------------------------------- importance sampling


def log_mean_exp(log_w: np.ndarray) -> float:
    r"""The log of the mean of $e^{\log w_i}$, computed without overflow.

    $$\begin{gathered}
    \log \frac1n \sum_i w_i = m + \log \frac1n \sum_i e^{\log w_i - m}, \\
    m = \max_i \log w_i
    \end{gathered}$$

    Args:
        log_w: Log-weights, shape ``(n,)``; ``-inf`` entries stand for zero weights.

    Returns:
        The log of the mean weight, a float.

    Raises:
        ValueError: if ``log_w`` is not a non-empty 1-D array, contains NaN or ``+inf``,
            or is ``-inf`` everywhere (every weight zero).

    Examples:
        >>> round(log_mean_exp(np.array([1000.0, 1000.0 + np.log(3.0)])), 6)  # 1000 + log 2
        1000.693147
    """
    log_w = validation.log_weights(log_w)

    # Exercise: log-mean-exp (under eq. P2.6) — the log of the mean weight, computed from the
    # log-weights without overflow: factor out the largest weight first. A mean, not a sum.

    # $m = \max_i \log w_i$
    m = float(np.max(log_w))
    # $m + \log \frac1n \sum_i e^{\log w_i - m}$
    return m + math.log(float(np.mean(np.exp(log_w - m))))


def effective_sample_size(log_w: np.ndarray) -> float:
    r"""Kish's effective sample size of importance weights.

    $$\begin{gathered}
    \mathrm{ESS} = \frac{\big(\sum_i w_i\big)^2}{\sum_i w_i^2} = \frac{1}{\sum_i \bar w_i^2}, \\
    \bar w_i = \frac{w_i}{\sum_j w_j}
    \end{gathered}$$

    It is $n$ for equal weights and $1$ when one weight carries everything.

    Args:
        log_w: Log-weights, shape ``(n,)``.

    Returns:
        The effective sample size, a float in $[1, n]$.

    Raises:
        ValueError: if ``log_w`` is not a non-empty 1-D array, contains NaN or ``+inf``,
            or is ``-inf`` everywhere.

    Examples:
        >>> effective_sample_size(np.zeros(10))
        10.0
        >>> round(effective_sample_size(np.log([1.0, 1.0, 2.0])), 4)  # 16 / 6
        2.6667
    """
    log_w = validation.log_weights(log_w)

    # Exercise: eq. (P2.7) — Kish's effective sample size: normalise the weights to sum to one
    # (computed from the log-weights without overflow), then one over the sum of their
    # squares.

    # $\bar w_i = w_i / \sum_j w_j$, from log-weights shifted by their maximum
    w = np.exp(log_w - np.max(log_w))
    w_bar = w / np.sum(w)
    # $\mathrm{ESS} = 1 / \sum_i \bar w_i^2$
    return float(1.0 / np.sum(w_bar**2))


def log_z_estimate(log_w: np.ndarray) -> tuple[float, float]:
    r"""Estimate $\log Z$ from importance weights, with its standard error.

    $$\begin{gathered}
    \log \hat Z = \log \frac1n \sum_i w_i, \\
    \mathrm{se}(\log \hat Z) \approx \frac{\operatorname{sd}(w)}{\sqrt n\ \bar w}
    \end{gathered}$$

    The weights' mean $\hat Z$ is unbiased for $Z$; its log is slightly biased low. The
    standard error comes from the delta method, $\operatorname{se}(\log \hat Z) \approx
    \operatorname{se}(\hat Z) / \hat Z$.

    Args:
        log_w: Log-weights, shape ``(n,)`` with ``n >= 2``.

    Returns:
        ``(log_Z, standard_error)``.

    Raises:
        ValueError: if ``log_w`` is not a 1-D array of at least 2 log-weights, contains NaN
            or ``+inf``, or is ``-inf`` everywhere.

    Examples:
        >>> log_z_estimate(np.full(5, 2.0))  # equal weights: no spread, no error
        (2.0, 0.0)
    """
    log_w = validation.log_weights(log_w)
    if log_w.size < 2:
        raise ValueError(
            f"log_w must hold at least 2 weights for a standard error, got {log_w.size}"
        )

    # Exercise: eq. (P2.12) — the estimate of log Z is the log of the mean weight (use your
    # log_mean_exp); its standard error, by the delta method under eq. (P2.6), is the standard
    # deviation of the weights (with the n - 1 divisor) over the square root of n times their
    # mean. The ratio does not change when every weight is scaled: work with weights relative
    # to the largest.

    # weights relative to the largest: $\tilde w_i = e^{\log w_i - m}$
    w = np.exp(log_w - np.max(log_w))
    # $\operatorname{se}(\log\hat Z) = \operatorname{sd}(\tilde w) / (\sqrt n\, \bar{\tilde w})$
    se = float(np.std(w, ddof=1) / (math.sqrt(w.size) * np.mean(w)))
    return log_mean_exp(log_w), se


def importance_sampling(
    log_f: LogDensity, sample_q: Sampler, log_q: LogDensity, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    r"""Draw ``n`` proposals from $q$ and weight them towards the unnormalised target $f$.

    $$\begin{gathered}
    x_i \sim q, \qquad \log w_i = \log f(x_i) - \log q(x_i), \\
    \mathbb E_q[w] = \int f = Z
    \end{gathered}$$

    Args:
        log_f: Log of the unnormalised target, shape ``(n, ...)`` to ``(n,)``.
        sample_q: ``sample_q(n, rng)`` draws ``n`` proposals.
        log_q: Log-density of the proposal (normalised), shape ``(n, ...)`` to ``(n,)``.
        n: Number of proposals.
        rng: The source of randomness.

    Returns:
        ``(x, log_w)``: the proposals, shape ``(n, ...)``, and their log-weights, shape ``(n,)``.

    Raises:
        ValueError: if ``n`` is not a positive int, ``rng`` is not a
            ``numpy.random.Generator``, or ``log_f`` or ``log_q`` returns the wrong shape,
            NaN or ``+inf``.

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

    # Exercise: eq. (P2.6), first line — n proposals from q (sample_q with rng, called once) and the log
    # of each one's weight: the log-target minus the log-proposal, at that proposal.

    # $x_i \sim q$
    x = np.asarray(sample_q(n, rng), dtype=np.float64)
    # $\log w_i = \log f(x_i) - \log q(x_i)$
    log_w = validation.log_density_values(log_f(x), n, "log_f") - validation.log_density_values(
        log_q(x), n, "log_q"
    )
    return x, log_w


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
        ValueError: if ``log_w`` is not a non-empty 1-D array of log-weights (no NaN or
            ``+inf``, not all ``-inf``), or ``values`` is not finite with one row per weight.

    Examples:
        >>> self_normalised_mean(np.array([0.0, 10.0]), np.log([3.0, 1.0]))  # (0 * 3 + 10 * 1) / 4
        2.5
    """
    log_w = validation.log_weights(log_w)
    values = validation.as_float_array(values, "values")
    if values.ndim == 0 or values.shape[0] != log_w.shape[0]:
        raise ValueError(
            f"values must have {log_w.shape[0]} rows, one per weight, got shape {values.shape}"
        )

    # Exercise: eq. (P2.6), last two lines — the weighted average of the rows of values, with the weights
    # normalised to sum to one (computed from the log-weights without overflow); a float when
    # the values are one number per weight.

    # $\bar w_i = w_i / \sum_j w_j$
    w = np.exp(log_w - np.max(log_w))
    w_bar = w / np.sum(w)
    # $\sum_i \bar w_i h(x_i)$
    result = np.tensordot(w_bar, values, axes=(0, 0))
    return float(result) if result.ndim == 0 else result


# ----------------------------------------------------------------------------- MCMC


def metropolis_hastings(
    log_f: LogDensity,
    x0: np.ndarray,
    n_steps: int,
    step_size: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, float]:
    r"""Random-walk Metropolis–Hastings chains targeting the unnormalised density $f$.

    Each step proposes a Gaussian move of standard deviation $s$ and accepts it with the
    Metropolis probability:

    $$\begin{gathered}
    x' = x + s\,\boldsymbol\varepsilon, \quad \boldsymbol\varepsilon \sim \mathcal N(0, I), \\
    \alpha(x \to x') = \min\Big(1, \frac{f(x')}{f(x)}\Big)
    \end{gathered}$$

    (the symmetric proposal cancels from the Hastings ratio). A rejected proposal leaves
    the chain where it was. The chain satisfies detailed balance with respect to
    $p = f / Z$, so $p$ is its stationary law.

    Args:
        log_f: Log of the unnormalised target: ``x`` of shape ``(c, ...)`` to ``(c,)``.
        x0: Starting points of ``c`` independent chains, shape ``(c, ...)``; e.g.
            ``(c,)`` for 1-D targets and ``(c, d)`` for ``d``-dimensional ones.
        n_steps: Number of Metropolis–Hastings steps.
        step_size: Standard deviation $s > 0$ of the Gaussian proposal.
        rng: The source of randomness.

    Returns:
        ``(path, acceptance_rate)``: the states, shape ``(n_steps + 1, *x0.shape)``, with
        ``path[0] = x0``; and the fraction of all proposals (steps times chains) accepted.

    Raises:
        ValueError: if ``x0`` is not a finite array with a leading chain axis or starts
            where ``log_f`` is ``-inf``; if ``n_steps`` is not a positive int; if
            ``step_size`` is not a finite number > 0; if ``rng`` is not a
            ``numpy.random.Generator``; or if ``log_f`` returns the wrong shape, NaN or
            ``+inf``.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> path, rate = metropolis_hastings(lambda x: -0.5 * x**2, np.zeros(4000), 200, 2.0, rng)
        >>> path.shape, round(float(path[-1].std()), 1)
        ((201, 4000), 1.0)
    """
    x = validation.leading_axis(x0, "x0")
    n_steps = validation.positive_int(n_steps, "n_steps")
    step_size = float(validation.positive(step_size, "step_size"))
    rng = validation.generator(rng)
    c = x.shape[0]
    log_fx = validation.log_density_values(log_f(x), c, "log_f")
    if np.any(log_fx == -np.inf):
        raise ValueError("x0 must start where the target is positive: log_f(x0) is -inf")

    # Exercise: eq. (P2.8) — run the c chains n_steps steps, all at once. In each step propose a
    # move of every chain by step_size (a standard deviation) times fresh standard normal
    # noise from rng; accept each chain's proposal with the probability of eq. (P2.8),
    # comparing the log of a fresh uniform number with the difference of log-densities; a
    # rejected chain stays where it is. log_fx holds the log-density of the current states:
    # keep it up to date. Keep every state (x0 in row 0); return the path and the fraction of
    # all proposals accepted.

    path = np.empty((n_steps + 1, *x.shape))
    path[0] = x
    accepted = 0
    for k in range(1, n_steps + 1):
        # $x' = x + s \varepsilon$
        proposal = x + step_size * rng.standard_normal(x.shape)
        log_f_proposal = validation.log_density_values(log_f(proposal), c, "log_f")
        # accept when $\log u \le \log f(x') - \log f(x)$, with $u \in (0, 1]$
        accept = np.log(1.0 - rng.random(c)) <= log_f_proposal - log_fx
        x = np.where(accept.reshape(-1, *([1] * (x.ndim - 1))), proposal, x)
        log_fx = np.where(accept, log_f_proposal, log_fx)
        accepted += int(accept.sum())
        path[k] = x
    return path, accepted / (n_steps * c)


def langevin_dynamics(
    score: Callable[[np.ndarray], np.ndarray],
    x0: np.ndarray,
    n_steps: int,
    step_size: float,
    rng: np.random.Generator,
) -> np.ndarray:
    r"""Unadjusted Langevin dynamics: noisy gradient ascent on $\log p$ along the score.

    With step size $\tau$,

    $$\begin{gathered}
    x_{k+1} = x_k + \frac{\tau}{2}\nabla_x \log p(x_k) + \sqrt{\tau}\, z_k, \\
    z_k \sim \mathcal N(0, I)
    \end{gathered}$$

    As $\tau \to 0$ and $k \to \infty$ the samples follow $p$ (Song & Ermon,
    arXiv 1907.05600, Sec. 2.2, who write $\epsilon$ for $\tau$). Only the score
    $\nabla_x \log p$ is needed, never the normaliser: this is how score-based diffusion
    models sample.

    Args:
        score: $\nabla_x \log p$, mapping ``x`` of shape ``(c, ...)`` to the same shape.
        x0: Starting points of ``c`` chains, shape ``(c, ...)``.
        n_steps: Number of steps.
        step_size: The step size $\tau > 0$.
        rng: The source of randomness.

    Returns:
        The states, shape ``(n_steps + 1, *x0.shape)``, with ``path[0] = x0``.

    Raises:
        ValueError: if ``x0`` is not a finite array with a leading chain axis,
            ``n_steps`` is not a positive int, ``step_size`` is not a finite number > 0,
            ``rng`` is not a ``numpy.random.Generator``, or ``score`` returns another shape
            than its input.

    Examples:
        >>> path = langevin_dynamics(
        ...     lambda x: -x, np.zeros(10_000), 500, 0.01, np.random.default_rng(0)
        ... )
        >>> round(float(path[-1].var()), 2)  # N(0, 1): exactly 1 / (1 - tau / 4) in the limit
        1.0
    """
    x = validation.leading_axis(x0, "x0")
    n_steps = validation.positive_int(n_steps, "n_steps")
    step_size = float(validation.positive(step_size, "step_size"))
    rng = validation.generator(rng)

    # Exercise: eq. (P2.9) — run the chains n_steps steps. Each step moves every chain by half the
    # step size times the score at its current state, plus fresh standard normal noise from
    # rng (a new draw at every step) scaled by the square root of the step size. A score of
    # another shape than x is a ValueError naming score. Keep every state, x0 in row 0.

    path = np.empty((n_steps + 1, *x.shape))
    path[0] = x
    for k in range(1, n_steps + 1):
        grad = np.asarray(score(x), dtype=np.float64)
        if grad.shape != x.shape:
            raise ValueError(f"score must return the shape of x, {x.shape}; got {grad.shape}")
        # $x_{k+1} = x_k + \frac{\tau}{2} \nabla \log p(x_k) + \sqrt{\tau} z_k$
        x = x + 0.5 * step_size * grad + math.sqrt(step_size) * rng.standard_normal(x.shape)
        path[k] = x
    return path


# ----------------------------------------------------------------------------- AIS


def annealed_log_density(
    x: np.ndarray, log_target: LogDensity, log_prior: LogDensity, inverse_temperature: float
) -> np.ndarray:
    r"""Log of the geometric path between the prior and the target at inverse temperature $\gamma$.

    $$\log f_\gamma(x) = \gamma \log f(x) + (1 - \gamma) \log p_0(x)$$

    A zero weight switches its term off, even where that log-density is $-\infty$: at
    $\gamma = 1$ the path is the target, outside the prior's support too.

    Args:
        x: Points of shape ``(n, ...)``.
        log_target: Log of the unnormalised target $f$, shape ``(n, ...)`` to ``(n,)``.
        log_prior: Log-density of the prior $p_0$, shape ``(n, ...)`` to ``(n,)``.
        inverse_temperature: $\gamma \in [0, 1]$: 0 gives the prior, 1 the target.

    Returns:
        $\log f_\gamma(x)$, shape ``(n,)``.

    Raises:
        ValueError: if ``inverse_temperature`` is not a number in $[0, 1]$, ``x`` is not a
            finite array with a leading axis, or ``log_target`` or ``log_prior`` returns the
            wrong shape, NaN or ``+inf``.

    Examples:
        >>> annealed_log_density(np.array([2.0]), lambda x: -0.5 * x**2, lambda x: 0.0 * x, 0.25)
        array([-0.5])
    """
    inverse_temperature = validation.unit_interval(inverse_temperature, "inverse_temperature")
    x = validation.leading_axis(x, "x")
    n = x.shape[0]

    # Exercise: eq. (P2.10), in logs — the log-target weighted by the inverse temperature plus the
    # log-prior weighted by one minus it, one value per point. A weight of 0 must switch its
    # term off even where that log-density is minus infinity (zero times infinity is NaN in
    # NumPy).

    log_f = validation.log_density_values(log_target(x), n, "log_target")
    log_p0 = validation.log_density_values(log_prior(x), n, "log_prior")
    gamma = inverse_temperature
    # $\gamma \log f + (1 - \gamma) \log p_0$, a term with weight 0 left out ($0 \cdot (-\infty) = 0$)
    out = np.zeros(n)
    if gamma > 0:
        out = out + gamma * log_f
    if gamma < 1:
        out = out + (1 - gamma) * log_p0
    return out


def annealed_importance_sampling(
    log_target: LogDensity,
    log_prior: LogDensity,
    sample_prior: Sampler,
    inverse_temperatures: np.ndarray,
    n: int,
    rng: np.random.Generator,
    n_mcmc: int = 1,
    step_size: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Annealed importance sampling (Neal, arXiv physics/9803008, Sec. 2).

    Start from the prior, $x \sim p_0$, $\log w = 0$. For $k = 1, \dots, K$, first weight
    the particles where they are,

    $$\log w \mathrel{+}= \log f_{\gamma_k}(x) - \log f_{\gamma_{k-1}}(x)
    = (\gamma_k - \gamma_{k-1}) \big[\log f(x) - \log p_0(x)\big],$$

    then, for $k < K$, move $x$ with ``n_mcmc`` Metropolis–Hastings steps that leave
    $f_{\gamma_k}$ invariant. Then $\mathbb E[w] = Z / Z_0$: with a normalised prior,
    the mean weight is an unbiased estimate of the target's normaliser $Z$, and by
    Jensen's inequality $\mathbb E[\log w] \le \log Z$. Moving before weighting breaks
    this: the weights would then favour particles that have already moved towards the
    target.

    With ``inverse_temperatures = [0, 1]`` this is plain importance sampling with the
    prior as proposal.

    Args:
        log_target: Log of the unnormalised target $f$, shape ``(n, ...)`` to ``(n,)``.
        log_prior: Log-density of the prior $p_0$, shape ``(n, ...)`` to ``(n,)``.
        sample_prior: ``sample_prior(n, rng)`` draws ``n`` samples of $p_0$.
        inverse_temperatures: The schedule
            $0 = \gamma_0 \le \gamma_1 \le \dots \le \gamma_K = 1$, shape ``(K + 1,)``.
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
        ValueError: if ``inverse_temperatures`` is not a 1-D schedule running from 0 to 1
            without decreasing (Neal's order, from 1 down to 0, is refused); if ``n`` or
            ``n_mcmc`` is not a positive int; if ``step_size`` is not a finite number > 0;
            if ``rng`` is not a ``numpy.random.Generator``; if ``sample_prior`` does not
            return ``n`` samples; or if ``log_target`` or ``log_prior`` returns the wrong
            shape, NaN or ``+inf``.

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
    inverse_temperatures = validation.annealing_schedule(
        inverse_temperatures, "inverse_temperatures"
    )
    n = validation.positive_int(n, "n")
    rng = validation.generator(rng)
    n_mcmc = validation.positive_int(n_mcmc, "n_mcmc")
    step_size = float(validation.positive(step_size, "step_size"))

    # Exercise: eq. (P2.11) — draw n particles from the prior (sample_prior with rng; n samples
    # along the first axis, or a ValueError naming sample_prior) and start every log-weight at
    # 0. Then for k from 1 to K, in this order: FIRST add to each log-weight the change of the
    # path's log-density from the previous inverse temperature to the k-th, at the particle
    # where it is now; THEN, unless k is K, move the particles with n_mcmc steps of your
    # metropolis_hastings of size step_size, targeting the path density of
    # annealed_log_density at the k-th inverse temperature (the new one). Return the particles
    # and their log-weights.

    # $x \sim p_0$ (Neal's $x_{n-1} \sim p_n$)
    x = np.asarray(sample_prior(n, rng), dtype=np.float64)
    if x.ndim == 0 or x.shape[0] != n:
        raise ValueError(
            f"sample_prior must return {n} samples along the first axis, got {x.shape}"
        )
    log_w = np.zeros(n)
    gammas = inverse_temperatures  # $\gamma_0, \dots, \gamma_K$
    K = gammas.size - 1
    for k in range(1, K + 1):
        log_f = validation.log_density_values(log_target(x), n, "log_target")
        log_p0 = validation.log_density_values(log_prior(x), n, "log_prior")
        # weight first: $\log w \mathrel{+}= (\gamma_k - \gamma_{k-1}) [\log f(x) - \log p_0(x)]$
        log_w += (gammas[k] - gammas[k - 1]) * (log_f - log_p0)
        if k < K:
            # then move: $x \leftarrow T_k(x)$, Metropolis–Hastings leaving $f_{\gamma_k}$ invariant
            path, _ = metropolis_hastings(
                lambda y, gamma=gammas[k]: annealed_log_density(y, log_target, log_prior, gamma),
                x,
                n_mcmc,
                step_size,
                rng,
            )
            x = path[-1]
    return x, log_w
