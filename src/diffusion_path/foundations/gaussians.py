r"""Pre-Task 1: Gaussian distributions, the building block of every diffusion model.

The univariate Gaussian $\mathcal N(\mu, \sigma^2)$ has density

$$p(x) = \frac{1}{\sigma\sqrt{2\pi}} \exp\!\Big(-\frac{(x-\mu)^2}{2\sigma^2}\Big),$$

and the $d$-dimensional Gaussian $\mathcal N(\boldsymbol\mu, \Sigma)$ has

$$\log p(\mathbf x) = -\tfrac12 (\mathbf x-\boldsymbol\mu)^\top \Sigma^{-1}(\mathbf x-\boldsymbol\mu)
 - \tfrac12 \log\det(2\pi\Sigma).$$

Three facts carry the whole path:

1. **Reparameterisation.** If $\boldsymbol\varepsilon \sim \mathcal N(0, I)$ and
   $\Sigma = LL^\top$ (Cholesky), then $\mathbf x = \boldsymbol\mu + L\boldsymbol\varepsilon
   \sim \mathcal N(\boldsymbol\mu, \Sigma)$. DDPM eq. (4) samples $x_t$ this way.
2. **Closure.** Affine maps and sums of independent Gaussians are Gaussian:
   $A\mathbf x + \mathbf b \sim \mathcal N(A\boldsymbol\mu + \mathbf b, A\Sigma A^\top)$.
3. **KL in closed form.** The KL divergence between two Gaussians needs no sampling,
   which is why every term of the DDPM bound, eq. (5), can be computed exactly.

All functions use NumPy; randomness comes from an explicit ``numpy.random.Generator``.
"""

from __future__ import annotations

import math

import numpy as np

from diffusion_path.tools import validation

__all__ = [
    "gaussian_affine",
    "gaussian_pdf",
    "gaussian_sum",
    "kl_gaussians",
    "kl_monte_carlo",
    "mvn_log_pdf",
    "mvn_pdf",
    "sample_gaussian",
    "sample_mvn",
]


def gaussian_pdf(x: np.ndarray | float, mu: float = 0.0, sigma: float = 1.0) -> np.ndarray:
    r"""Density of the univariate Gaussian $\mathcal N(\mu, \sigma^2)$ at every point of ``x``.

    $$p(x) = \frac{1}{\sigma\sqrt{2\pi}} \exp\!\Big(-\frac{(x-\mu)^2}{2\sigma^2}\Big)$$

    Args:
        x: Points at which to evaluate the density (any shape).
        mu: Mean $\mu$.
        sigma: Standard deviation $\sigma > 0$ (not the variance).

    Returns:
        The density, an array of the shape of ``x``.

    Raises:
        ValueError: if ``x`` is not numeric and finite, ``mu`` is not a finite number, or
            ``sigma`` is not a number > 0.

    Examples:
        >>> round(float(gaussian_pdf(0.0)), 6)  # 1 / sqrt(2 pi)
        0.398942
        >>> gaussian_pdf([1.0, 3.0], mu=2.0, sigma=0.5).round(4)
        array([0.108, 0.108])
    """
    x = validation.as_float_array(x, "x")
    mu = validation.number(mu, "mu")
    sigma = validation.positive_number(sigma, "sigma")

    # Exercise: eq. (P1.1) — the density at every point of x: standardise x by the mean and the
    # standard deviation, then apply the bell curve with its normalising constant.

    # $z = (x - \mu) / \sigma$
    z = (x - mu) / sigma
    # $p(x) = \exp(-z^2/2) / (\sigma\sqrt{2\pi})$
    return np.exp(-0.5 * z**2) / (sigma * math.sqrt(2.0 * math.pi))


def sample_gaussian(
    mu: float, sigma: float, size: int | tuple[int, ...], rng: np.random.Generator
) -> np.ndarray:
    r"""Samples of $\mathcal N(\mu, \sigma^2)$, made by shifting and scaling standard normals.

    $$x = \mu + \sigma\,\varepsilon, \qquad \varepsilon \sim \mathcal N(0, 1)$$

    Args:
        mu: Mean $\mu$.
        sigma: Standard deviation $\sigma > 0$.
        size: Number of samples, or the shape of the output array (a tuple, as NumPy takes it).
        rng: The source of randomness, e.g. ``np.random.default_rng(0)``.

    Returns:
        An array of shape ``size`` (``(size,)`` for an int).

    Raises:
        ValueError: if ``mu`` is not a finite number, ``sigma`` is not a number > 0, ``size``
            is not a positive int or a tuple of them, or ``rng`` is not a
            ``numpy.random.Generator``.

    Examples:
        >>> x = sample_gaussian(2.0, 0.5, 100_000, np.random.default_rng(0))
        >>> x.shape, round(float(x.mean()), 2), round(float(x.std()), 2)
        ((100000,), 2.0, 0.5)
        >>> sample_gaussian(0.0, 1.0, (2, 3), np.random.default_rng(0)).shape
        (2, 3)
    """
    mu = validation.number(mu, "mu")
    sigma = validation.positive_number(sigma, "sigma")
    shape = validation.size_shape(size, "size")
    rng = validation.generator(rng)

    # Exercise: eq. (P1.2) — draw standard normal noise of the requested shape from rng, then shift
    # it by the mean and scale it by the standard deviation.

    # $\varepsilon \sim \mathcal N(0, 1)$
    eps = rng.standard_normal(shape)
    # $x = \mu + \sigma \varepsilon$
    return mu + sigma * eps


def mvn_log_pdf(x: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    r"""Log-density of the multivariate Gaussian $\mathcal N(\boldsymbol\mu, \Sigma)$, by Cholesky.

    $$\log p(\mathbf x) = -\tfrac12 \lVert L^{-1}(\mathbf x-\boldsymbol\mu)\rVert^2
    - \textstyle\sum_i \log L_{ii} - \tfrac d2 \log 2\pi, \qquad \Sigma = LL^\top$$

    This is eq. (3) of the page without an inverse: a triangular solve whitens
    $\mathbf x - \boldsymbol\mu$, and $\log\det\Sigma = 2\sum_i \log L_{ii}$.

    Args:
        x: Points of shape ``(..., d)``: one point per position of the leading axes.
        mean: Mean vector $\boldsymbol\mu$ of shape ``(d,)``.
        cov: Symmetric positive-definite covariance $\Sigma$ of shape ``(d, d)``.

    Returns:
        The log-density, an array of shape ``x.shape[:-1]``.

    Raises:
        ValueError: if ``x`` is not finite or not of shape ``(..., d)``, ``mean`` is not a finite
            vector, or ``cov`` is not a symmetric positive-definite ``(d, d)`` matrix.

    Examples:
        >>> mean, cov = np.zeros(2), np.eye(2)
        >>> round(float(mvn_log_pdf(np.zeros(2), mean, cov)), 6)  # -log(2 pi)
        -1.837877
        >>> mvn_log_pdf(np.zeros((4, 5, 2)), mean, cov).shape
        (4, 5)
    """
    mean, cov = validation.gaussian_parameters(mean, cov)
    d = mean.shape[0]
    x = validation.points(x, d, "x")

    # Exercise: eq. (P1.3) — the log-density of every point on the last axis of x, through the
    # Cholesky factor of cov: a triangular solve for the quadratic form (never an explicit
    # inverse), its diagonal for the log-determinant. Keep the leading shape of x.

    # $\Sigma = L L^\top$
    chol = np.linalg.cholesky(cov)
    # $\mathbf z = L^{-1}(\mathbf x - \boldsymbol\mu)$, so that $\mathbf z^\top\mathbf z$
    # is the squared Mahalanobis distance
    diff = (x - mean).reshape(-1, d)
    z = np.linalg.solve(chol, diff.T).T
    maha = np.sum(z**2, axis=-1)
    # $\log\det\Sigma = 2 \sum_i \log L_{ii}$
    log_det = 2.0 * np.sum(np.log(np.diag(chol)))
    log_p = -0.5 * (maha + log_det + d * math.log(2.0 * math.pi))
    return log_p.reshape(x.shape[:-1])


def mvn_pdf(x: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    r"""Density of the multivariate Gaussian $\mathcal N(\boldsymbol\mu, \Sigma)$.

    $$p(\mathbf x) = \exp \log p(\mathbf x)$$

    Args:
        x: Points of shape ``(..., d)``, e.g. a grid of shape ``(H, W, 2)`` for a contour plot.
        mean: Mean vector of shape ``(d,)``.
        cov: Symmetric positive-definite covariance of shape ``(d, d)``.

    Returns:
        The density, an array of shape ``x.shape[:-1]``.

    Raises:
        ValueError: if ``x``, ``mean`` or ``cov`` is bad, as for
            [`mvn_log_pdf`][diffusion_path.foundations.gaussians.mvn_log_pdf].

    Examples:
        >>> cov = np.array([[2.0, 0.0], [0.0, 0.5]])
        >>> round(float(mvn_pdf(np.zeros(2), np.zeros(2), cov)), 6)  # 1 / (2 pi sqrt(det))
        0.159155
    """

    # Exercise: eq. (P1.3) — the density itself, from the log-density you wrote (which checks the
    # inputs).

    return np.exp(mvn_log_pdf(x, mean, cov))


def sample_mvn(mean: np.ndarray, cov: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    r"""``n`` samples of $\mathcal N(\boldsymbol\mu, \Sigma)$: standard normals coloured by Cholesky.

    $$\begin{gathered}
    \mathbf x = \boldsymbol\mu + L\boldsymbol\varepsilon, \\
    \boldsymbol\varepsilon \sim \mathcal N(0, I),\ \Sigma = LL^\top
    \end{gathered}$$

    This is the reparameterisation trick: the randomness sits in $\boldsymbol\varepsilon$,
    and $\mathbf x$ is a differentiable function of $\boldsymbol\mu$ and $L$.

    Args:
        mean: Mean vector $\boldsymbol\mu$ of shape ``(d,)``.
        cov: Symmetric positive-definite covariance $\Sigma$ of shape ``(d, d)``.
        n: Number of samples.
        rng: The source of randomness.

    Returns:
        An array of shape ``(n, d)``, one sample per row.

    Raises:
        ValueError: if ``mean`` is not a finite vector, ``cov`` is not a symmetric
            positive-definite ``(d, d)`` matrix, ``n`` is not a positive int, or ``rng`` is not
            a ``numpy.random.Generator``.

    Examples:
        >>> cov = np.array([[1.0, 0.8], [0.8, 1.0]])
        >>> x = sample_mvn(np.array([1.0, -1.0]), cov, 200_000, np.random.default_rng(0))
        >>> x.shape, np.cov(x.T).round(2).tolist()
        ((200000, 2), [[1.0, 0.8], [0.8, 1.0]])
    """
    mean, cov = validation.gaussian_parameters(mean, cov)
    n = validation.positive_int(n, "n")
    rng = validation.generator(rng)

    # Exercise: eq. (P1.4) — n draws of d-dimensional standard normal noise from rng, one sample per
    # row, coloured by the Cholesky factor of cov and shifted by the mean.

    # $\Sigma = L L^\top$
    chol = np.linalg.cholesky(cov)
    # $\boldsymbol\varepsilon \sim \mathcal N(0, I)$, one row per sample
    eps = rng.standard_normal((n, mean.shape[0]))
    # $\mathbf x = \boldsymbol\mu + L \boldsymbol\varepsilon$, in rows: $\varepsilon L^\top$
    return mean + eps @ chol.T


def gaussian_affine(
    mean: np.ndarray, cov: np.ndarray, A: np.ndarray, b: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    r"""Mean and covariance of the affine image $A\mathbf x + \mathbf b$ of a Gaussian $\mathbf x$.

    $$A\mathbf x + \mathbf b \sim \mathcal N(A\boldsymbol\mu + \mathbf b,\ A\Sigma A^\top)$$

    Args:
        mean: Mean $\boldsymbol\mu$ of shape ``(d,)``.
        cov: Symmetric positive-definite covariance $\Sigma$ of shape ``(d, d)``.
        A: Matrix of shape ``(k, d)``.
        b: Offset of shape ``(k,)``; zero when omitted.

    Returns:
        ``(mean, cov)`` of the image, of shapes ``(k,)`` and ``(k, k)``. The covariance is
        only positive semi-definite when ``A`` has rank below ``k``.

    Raises:
        ValueError: if ``mean`` is not a finite vector, ``cov`` is not a symmetric
            positive-definite ``(d, d)`` matrix, ``A`` is not a finite ``(k, d)`` matrix, or
            ``b`` is not a finite vector of length ``k``.

    Examples:
        >>> m, c = gaussian_affine(np.zeros(2), np.eye(2), np.array([[1.0, 1.0]]), np.array([3.0]))
        >>> m.tolist(), c.tolist()  # x1 + x2 + 3 ~ N(3, 2)
        ([3.0], [[2.0]])
    """
    mean, cov = validation.gaussian_parameters(mean, cov)
    d = mean.shape[0]
    A = validation.as_float_array(A, "A")
    if A.ndim != 2 or A.shape[1] != d:
        raise ValueError(f"A must have shape (k, {d}) to match the mean, got {A.shape}")
    k = A.shape[0]
    b = np.zeros(k) if b is None else validation.as_float_array(b, "b")
    if b.shape != (k,):
        raise ValueError(f"b must have shape ({k},) to match A, got {b.shape}")

    # Exercise: eq. (P1.5) — the mean and the covariance of A x + b.

    # $A\boldsymbol\mu + \mathbf b$ and $A\Sigma A^\top$
    return A @ mean + b, A @ cov @ A.T


def gaussian_sum(
    mean1: np.ndarray, cov1: np.ndarray, mean2: np.ndarray, cov2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    r"""Mean and covariance of $\mathbf x_1 + \mathbf x_2$ for independent Gaussians.

    $$\mathbf x_1 + \mathbf x_2 \sim \mathcal N(\boldsymbol\mu_1 + \boldsymbol\mu_2,\ \Sigma_1 + \Sigma_2)$$

    With $\mathbf x_1 = \sqrt{\bar\alpha_t}\,\mathbf x_0$ and
    $\mathbf x_2 = \sqrt{1-\bar\alpha_t}\,\boldsymbol\varepsilon$ this is DDPM eq. (4).

    Args:
        mean1: Mean of the first term, shape ``(d,)``.
        cov1: Covariance of the first term, shape ``(d, d)``.
        mean2: Mean of the second term, shape ``(d,)``.
        cov2: Covariance of the second term, shape ``(d, d)``.

    Returns:
        ``(mean, cov)`` of the sum, of shapes ``(d,)`` and ``(d, d)``.

    Raises:
        ValueError: if ``mean1`` or ``mean2`` is not a finite vector (of the same length), or
            ``cov1`` or ``cov2`` is not a symmetric positive-definite ``(d, d)`` matrix.

    Examples:
        >>> m, c = gaussian_sum(
        ...     np.array([1.0]), np.array([[0.36]]), np.zeros(1), np.array([[0.64]])
        ... )
        >>> m.tolist(), c.tolist()
        ([1.0], [[1.0]])
    """
    mean1, cov1 = validation.gaussian_parameters(mean1, cov1, "mean1", "cov1")
    mean2, cov2 = validation.gaussian_parameters(mean2, cov2, "mean2", "cov2", mean1.shape[0])

    # Exercise: eq. (P1.5), its second half — the mean and the covariance of the sum of two
    # independent Gaussian vectors.

    # $\boldsymbol\mu_1 + \boldsymbol\mu_2$ and $\Sigma_1 + \Sigma_2$
    return mean1 + mean2, cov1 + cov2


def kl_gaussians(
    mean_p: np.ndarray, cov_p: np.ndarray, mean_q: np.ndarray, cov_q: np.ndarray
) -> float:
    r"""KL divergence $D_{\mathrm{KL}}(p\,\|\,q)$ between two multivariate Gaussians, in nats.

    $$D_{\mathrm{KL}}(p\,\|\,q) = \tfrac12\Big[\operatorname{tr}(\Sigma_q^{-1}\Sigma_p)
    + (\boldsymbol\mu_q-\boldsymbol\mu_p)^\top\Sigma_q^{-1}(\boldsymbol\mu_q-\boldsymbol\mu_p)
    - d + \log\tfrac{\det\Sigma_q}{\det\Sigma_p}\Big]$$

    Every KL term of the DDPM bound, eq. (5), is of this form.

    Args:
        mean_p: Mean of $p$, shape ``(d,)``.
        cov_p: Covariance of $p$, shape ``(d, d)``.
        mean_q: Mean of $q$, shape ``(d,)``.
        cov_q: Covariance of $q$, shape ``(d, d)``.

    Returns:
        The divergence, a float $\ge 0$ (zero exactly when $p = q$).

    Raises:
        ValueError: if ``mean_p`` or ``mean_q`` is not a finite vector (of the same length), or
            ``cov_p`` or ``cov_q`` is not a symmetric positive-definite ``(d, d)`` matrix.

    Examples:
        >>> kl_gaussians(np.zeros(1), np.eye(1), np.ones(1), np.eye(1))  # (mu_q - mu_p)^2 / 2
        0.5
    """
    mean_p, cov_p = validation.gaussian_parameters(mean_p, cov_p, "mean_p", "cov_p")
    d = mean_p.shape[0]
    mean_q, cov_q = validation.gaussian_parameters(mean_q, cov_q, "mean_q", "cov_q", d)

    # Exercise: eq. (P1.6) — the closed-form KL divergence: a trace term, a Mahalanobis term for the
    # means, the dimension and a log-determinant ratio, each through the Cholesky factors of
    # the two covariances (triangular solves, no explicit inverse).

    chol_p = np.linalg.cholesky(cov_p)
    chol_q = np.linalg.cholesky(cov_q)
    # $\operatorname{tr}(\Sigma_q^{-1}\Sigma_p) = \lVert L_q^{-1} L_p \rVert_F^2$
    trace = float(np.sum(np.linalg.solve(chol_q, chol_p) ** 2))
    # $(\mu_q-\mu_p)^\top \Sigma_q^{-1} (\mu_q-\mu_p) = \lVert L_q^{-1}(\mu_q-\mu_p) \rVert^2$
    maha = float(np.sum(np.linalg.solve(chol_q, mean_q - mean_p) ** 2))
    # $\log\det\Sigma_q - \log\det\Sigma_p = 2 \sum_i (\log L_{q,ii} - \log L_{p,ii})$
    log_det_ratio = 2.0 * float(np.sum(np.log(np.diag(chol_q))) - np.sum(np.log(np.diag(chol_p))))
    return 0.5 * (trace + maha - d + log_det_ratio)


def kl_monte_carlo(
    mean_p: np.ndarray,
    cov_p: np.ndarray,
    mean_q: np.ndarray,
    cov_q: np.ndarray,
    n: int,
    rng: np.random.Generator,
) -> tuple[float, float]:
    r"""Monte-Carlo estimate of $D_{\mathrm{KL}}(p\,\|\,q)$, with its standard error.

    $$\begin{gathered}
    D_{\mathrm{KL}} \approx \frac1n \sum_{i=1}^n \big[\log p(\mathbf x_i) - \log q(\mathbf x_i)\big], \\
    \mathbf x_i \sim p
    \end{gathered}$$

    The standard error is the sample standard deviation of the $n$ terms (with $n - 1$ in its
    denominator) over $\sqrt n$. The estimator is unbiased but noisy; comparing it with
    [`kl_gaussians`][diffusion_path.foundations.gaussians.kl_gaussians] shows what the
    closed form saves.

    Args:
        mean_p: Mean of $p$, shape ``(d,)``.
        cov_p: Covariance of $p$, shape ``(d, d)``.
        mean_q: Mean of $q$, shape ``(d,)``.
        cov_q: Covariance of $q$, shape ``(d, d)``.
        n: Number of samples from $p$, at least 2 (for the standard error).
        rng: The source of randomness.

    Returns:
        ``(estimate, standard_error)``, two floats.

    Raises:
        ValueError: if ``mean_p`` or ``mean_q`` is not a finite vector (of the same length),
            ``cov_p`` or ``cov_q`` is not a symmetric positive-definite ``(d, d)`` matrix, ``n``
            is not an int >= 2, or ``rng`` is not a ``numpy.random.Generator``.

    Examples:
        >>> est, se = kl_monte_carlo(
        ...     np.zeros(1), np.eye(1), np.ones(1), np.eye(1), 100_000, np.random.default_rng(0)
        ... )
        >>> abs(est - 0.5) < 5 * se
        True
    """
    mean_p, cov_p = validation.gaussian_parameters(mean_p, cov_p, "mean_p", "cov_p")
    d = mean_p.shape[0]
    mean_q, cov_q = validation.gaussian_parameters(mean_q, cov_q, "mean_q", "cov_q", d)
    n = validation.integer(n, "n", minimum=2)
    rng = validation.generator(rng)

    # Exercise: eq. (P1.7) — average the log-density ratio of p to q over n samples of p drawn from
    # rng (with the functions you wrote), and return the estimate with its standard error.

    x = sample_mvn(mean_p, cov_p, n, rng)
    # $\log p(\mathbf x_i) - \log q(\mathbf x_i)$ for each sample
    log_ratio = mvn_log_pdf(x, mean_p, cov_p) - mvn_log_pdf(x, mean_q, cov_q)
    # the mean, and the standard error $s / \sqrt n$ with $s$ the sample standard deviation
    return float(log_ratio.mean()), float(log_ratio.std(ddof=1) / math.sqrt(n))
