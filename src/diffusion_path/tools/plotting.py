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
from numpy.typing import ArrayLike

__all__ = [
    "density_contour",
    "grid_2d",
    "histogram_with_pdf",
    "image_grid",
    "new_figure",
    "outlined_grid",
    "tile",
]


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


def tile(images, columns: int | None = None, pad: int = 1) -> np.ndarray:
    """Arrange ``(N, C, H, W)`` images in $[-1, 1]$ as one ``(rows·(H+pad), columns·(W+pad), C)`` array in [0, 1].

    Examples:
        >>> import torch
        >>> tile(torch.zeros(6, 1, 8, 8), columns=3).shape
        (18, 27, 1)
    """
    array = np.asarray(
        images.detach().cpu() if hasattr(images, "detach") else images, dtype=np.float64
    )
    if array.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {array.shape}")
    n, c, h, w = array.shape
    columns = columns or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / columns))
    out = np.ones((rows * (h + pad), columns * (w + pad), c))
    for i in range(n):
        r, k = divmod(i, columns)
        out[r * (h + pad) : r * (h + pad) + h, k * (w + pad) : k * (w + pad) + w] = (
            (np.clip(array[i], -1, 1) + 1) / 2
        ).transpose(1, 2, 0)
    return out


def image_grid(
    images, columns: int | None = None, title: str | None = None, size: float = 4.0
) -> Figure:
    """A figure of a grid of ``(N, C, H, W)`` images in $[-1, 1]$ (grey for one channel)."""
    grid = tile(images, columns)
    figure = Figure(figsize=(size, size * grid.shape[0] / grid.shape[1]), layout="constrained")
    ax = figure.subplots()
    if grid.shape[2] == 1:
        ax.imshow(grid[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(grid, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)
    return figure


def outlined_grid(images: ArrayLike, columns: int) -> np.ndarray:
    """One-channel images ``(N, 1, H, W)`` in $[-1, 1]$ as one 2-D array in [0, 1], each in a grey frame.

    Every image gets a one-pixel frame of grey (0.5), so that neighbouring images stay apart even
    where their edges are black or white; the images fill ``columns`` columns row by row, and
    images that do not fill the last row are left out. Show it with
    ``ax.imshow(grid, cmap="gray", vmin=0, vmax=1)``.

    Args:
        images: A tensor or array of shape ``(N, 1, H, W)``, values in $[-1, 1]$.
        columns: Number of images per row, at most ``N``.

    Returns:
        An array of shape ``(rows·(H + 2), columns·(W + 2))``, ``rows = N // columns``.

    Raises:
        ValueError: if ``images`` is not of shape ``(N, 1, H, W)``, or ``columns`` is not an
            integer from 1 to ``N``.

    Examples:
        >>> import torch
        >>> grid = outlined_grid(torch.ones(6, 1, 8, 8), columns=3)
        >>> grid.shape, float(grid[0, 0]), float(grid[1, 1])  # a grey frame around white pixels
        ((20, 30), 0.5, 1.0)
    """
    array = np.asarray(
        images.detach().cpu() if hasattr(images, "detach") else images, dtype=np.float64
    )
    if array.ndim != 4 or array.shape[1] != 1:
        raise ValueError(f"images must have shape (N, 1, H, W), got {array.shape}")
    n, _, h, w = array.shape
    if isinstance(columns, bool) or not isinstance(columns, int) or not 1 <= columns <= n:
        raise ValueError(f"columns must be an integer from 1 to {n}, got {columns!r}")
    framed = np.pad(
        (np.clip(array[:, 0], -1, 1) + 1) / 2, ((0, 0), (1, 1), (1, 1)), constant_values=0.5
    )
    rows = n // columns
    h, w = h + 2, w + 2
    return (
        framed[: rows * columns]
        .reshape(rows, columns, h, w)
        .transpose(0, 2, 1, 3)
        .reshape(rows * h, columns * w)
    )
