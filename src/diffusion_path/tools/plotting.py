"""Small plotting helpers shared by the figures and notebooks (matplotlib, no pyplot state).

Examples:
    >>> fig, axes = new_figure(1, 2)
    >>> len(axes)
    2
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = ["density_contour", "grid_2d", "histogram_with_pdf", "new_figure"]


def new_figure(rows: int, cols: int, size: float = 3.4, **kwargs) -> tuple[Figure, list[Axes]]:
    """A figure of ``rows x cols`` panels of ``size`` inches each, and its axes as a flat list."""
    figure = Figure(figsize=(cols * size, rows * size * 0.85), layout="constrained")
    axes = figure.subplots(rows, cols, squeeze=False, **kwargs)
    return figure, list(axes.ravel())


def histogram_with_pdf(
    ax: Axes,
    samples: np.ndarray,
    pdf: Callable[[np.ndarray], np.ndarray],
    bins: int = 60,
    label: str | None = None,
    color: str | None = None,
) -> None:
    """Density-normalised histogram of ``samples`` with ``pdf`` drawn over it."""
    samples = np.asarray(samples).ravel()
    ax.hist(samples, bins=bins, density=True, alpha=0.45, color=color, label=label)
    lo, hi = np.percentile(samples, [0.05, 99.95])
    pad = 0.1 * (hi - lo)
    x = np.linspace(lo - pad, hi + pad, 400)
    ax.plot(x, pdf(x), color=color or "black", lw=2)


def grid_2d(xlim: tuple[float, float], ylim: tuple[float, float], n: int = 200) -> np.ndarray:
    """Points of an ``n x n`` grid over the rectangle, shape ``(n, n, 2)`` (``[..., 0]`` is x).

    Examples:
        >>> grid_2d((0, 1), (0, 2), n=3)[2, 1].tolist()
        [0.5, 2.0]
    """
    xs, ys = np.linspace(*xlim, n), np.linspace(*ylim, n)
    x, y = np.meshgrid(xs, ys)
    return np.stack([x, y], axis=-1)


def density_contour(
    ax: Axes,
    density: Callable[[np.ndarray], np.ndarray],
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    levels: int = 8,
    filled: bool = False,
    **kwargs,
) -> None:
    """Contour lines (or filled contours) of a 2-D ``density`` evaluated on a grid of shape (n, n, 2)."""
    grid = grid_2d(xlim, ylim)
    values = density(grid)
    draw = ax.contourf if filled else ax.contour
    draw(grid[..., 0], grid[..., 1], values, levels=levels, **kwargs)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
