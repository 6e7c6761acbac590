r"""Sample-quality measures shared by the tasks: how far generated samples are from the data.

The **sliced Wasserstein distance** compares two point clouds through their 1-D projections.
In one dimension the $p$-Wasserstein distance between two distributions is the $L^p$ distance
between their quantile functions,

$$W_p(\mu, \nu)^p = \int_0^1 \big|F_\mu^{-1}(u) - F_\nu^{-1}(u)\big|^p\,du,$$

which for point clouds is computed by sorting. The sliced distance averages it over directions
$\boldsymbol\theta$ drawn uniformly on the unit sphere (Bonneel et al. 2015):

$$SW_p(\mu, \nu) = \Big(\mathbb E_{\boldsymbol\theta}\, W_p\big(\boldsymbol\theta^\top_\#\mu,\
\boldsymbol\theta^\top_\#\nu\big)^p\Big)^{1/p}.$$

Even two samples of the same distribution are at a positive distance, which shrinks as the sample
size grows: compare a model's distance with the data-vs-data distance at the same sample size.
"""

from __future__ import annotations

import torch

from diffusion_path.tools import validation

__all__ = ["sliced_wasserstein", "wasserstein_1d"]


def _points(value: object, name: str) -> torch.Tensor:
    x = torch.as_tensor(value)
    if not (x.is_floating_point() or x.dtype in (torch.int32, torch.int64)):
        raise ValueError(f"{name} must hold numbers, got dtype {x.dtype}")
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"{name} must have shape (n, d) with n >= 1, got {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} must be finite, got NaN or inf entries")
    return x.to(torch.float64)


def wasserstein_1d(x: object, y: object, p: float = 2.0) -> float:
    r"""$W_p$ between the empirical distributions of two 1-D samples, exactly (any sizes).

    $$W_p^p = \int_0^1 |F_x^{-1}(u) - F_y^{-1}(u)|^p\,du$$

    Both empirical quantile functions are step functions; the integral is a sum over the
    merged steps. With equal sizes it is the mean of $|x_{(i)} - y_{(i)}|^p$ over sorted samples.

    Args:
        x: Samples, shape ``(n,)``.
        y: Samples, shape ``(m,)``.
        p: The order $p \ge 1$.

    Returns:
        $W_p$ as a float.

    Examples:
        >>> wasserstein_1d(torch.tensor([0.0, 1.0, 2.0]), torch.tensor([2.0, 0.0, 1.0]))
        0.0
        >>> wasserstein_1d(torch.tensor([0.0, 1.0]), torch.tensor([0.5]), p=1)
        0.5
    """
    x, y = _points(x, "x"), _points(y, "y")
    if x.shape[1] != 1 or y.shape[1] != 1:
        raise ValueError(
            f"x and y must be 1-D samples, got shapes {tuple(x.shape)}, {tuple(y.shape)}"
        )
    if not isinstance(p, int | float) or p < 1:
        raise ValueError(f"p must be a number >= 1, got {p!r}")
    return float(_wasserstein_pp(x.T, y.T, float(p))[0] ** (1.0 / p))


def _wasserstein_pp(x: torch.Tensor, y: torch.Tensor, p: float) -> torch.Tensor:
    """W_p^p for each row of ``x`` (L, n) against the same row of ``y`` (L, m)."""
    n, m = x.shape[1], y.shape[1]
    xs, _ = torch.sort(x, dim=1)
    ys, _ = torch.sort(y, dim=1)
    if n == m:
        # equal sizes: match the i-th smallest with the i-th smallest
        return (xs - ys).abs().pow(p).mean(dim=1)
    # the quantile functions change value at u = i/n and u = j/m: integrate over the merged steps
    steps_x = torch.arange(1, n + 1, dtype=torch.float64) / n
    steps_y = torch.arange(1, m + 1, dtype=torch.float64) / m
    u = torch.sort(torch.cat([steps_x, steps_y]))[0]
    du = torch.diff(u, prepend=torch.zeros(1, dtype=torch.float64))
    mid = u - du / 2
    i = torch.clamp(torch.ceil(mid * n).long() - 1, 0, n - 1)
    j = torch.clamp(torch.ceil(mid * m).long() - 1, 0, m - 1)
    return ((xs[:, i] - ys[:, j]).abs().pow(p) * du).sum(dim=1)


def sliced_wasserstein(
    x: object,
    y: object,
    generator: torch.Generator,
    n_projections: int = 256,
    p: float = 2.0,
) -> float:
    r"""The sliced $p$-Wasserstein distance between two point clouds (Monte Carlo over directions).

    $$SW_p(x, y) \approx \Big(\frac1L\sum_{l=1}^{L} W_p\big(\boldsymbol\theta_l^\top x,\
    \boldsymbol\theta_l^\top y\big)^p\Big)^{1/p},\qquad \boldsymbol\theta_l \sim \mathcal U(S^{d-1})$$

    For ``d = 1`` the only directions are $\pm 1$ and the result is exactly $W_p$.

    Args:
        x: Points, shape ``(n, d)`` (or ``(n,)`` for 1-D).
        y: Points, shape ``(m, d)``.
        generator: The source of the random directions.
        n_projections: Number of directions $L$.
        p: The order $p \ge 1$.

    Returns:
        $SW_p$ as a float.

    Raises:
        ValueError: if the dimensions differ, a sample is empty or not finite, or
            ``n_projections``, ``p`` or ``generator`` are invalid.

    Examples:
        >>> gen = torch.Generator().manual_seed(0)
        >>> x = torch.randn(500, 2, generator=gen)
        >>> sliced_wasserstein(x, x, gen)
        0.0
        >>> sliced_wasserstein(torch.zeros(1, 1), torch.full((1, 1), 3.0), gen)  # W_2 in 1-D
        3.0
    """
    x, y = _points(x, "x"), _points(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"y must have {x.shape[1]} columns like x, got shape {tuple(y.shape)}")
    generator = validation.torch_generator(generator)
    n_projections = validation.positive_int(n_projections, "n_projections")
    if not isinstance(p, int | float) or p < 1:
        raise ValueError(f"p must be a number >= 1, got {p!r}")
    d = x.shape[1]
    # $\boldsymbol\theta_l \sim \mathcal U(S^{d-1})$: normalised standard normal vectors
    theta = torch.randn(n_projections, d, generator=generator, dtype=torch.float64)
    theta = theta / theta.norm(dim=1, keepdim=True)
    # $W_p^p$ between the projections $\boldsymbol\theta_l^\top x$ and $\boldsymbol\theta_l^\top y$
    pp = _wasserstein_pp(theta @ x.T, theta @ y.T, float(p))
    return float(pp.mean() ** (1.0 / p))
