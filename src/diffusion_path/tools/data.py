r"""Datasets for every task: 2-D toy sets, images that ship with installed packages, and torchvision's.

Everything here returns float32 tensors on the model's scale:

- **2-D toy sets** (two moons, a swiss roll, a Gaussian mixture), centred and scaled so that each
  coordinate has a standard deviation of about one, drawn from an explicit ``torch.Generator``;
- **images** of shape ``(N, C, H, W)`` scaled to $[-1, 1]$ — the scale of the noise
  $\mathcal N(0, I)$ that diffusion adds. Two work offline: the 8×8 handwritten digits that ship
  with scikit-learn, and a photograph that ships with Matplotlib (Grace Hopper, from its sample
  data). MNIST, Fashion-MNIST and CIFAR-10 come through torchvision, downloaded only when asked.

torchvision and scikit-learn are imported only inside the functions that need them.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from diffusion_path.tools import validation

__all__ = [
    "TORCHVISION_DATASETS",
    "gaussian_mixture",
    "load_digits",
    "load_photo",
    "load_torchvision",
    "ring_of_gaussians",
    "split",
    "swiss_roll",
    "to_display_range",
    "to_model_range",
    "toy_2d",
    "two_moons",
]

#: Datasets that ``load_torchvision`` knows, with their torchvision class names.
TORCHVISION_DATASETS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "cifar10": "CIFAR10"}


def to_model_range(images: object, max_value: float = 255.0) -> torch.Tensor:
    r"""Scale pixel values from $[0, \text{max\_value}]$ to $[-1, 1]$: $x = 2p/\text{max} - 1$ (float32).

    Examples:
        >>> to_model_range(torch.tensor([0, 51, 255], dtype=torch.uint8))
        tensor([-1.0000, -0.6000,  1.0000])
    """
    max_value = float(validation.positive(max_value, "max_value"))
    images = images if isinstance(images, torch.Tensor) else torch.from_numpy(np.array(images))
    # $x = 2 p / p_{\max} - 1$
    return images.to(torch.float32) * (2.0 / max_value) - 1.0


def to_display_range(x: torch.Tensor) -> torch.Tensor:
    r"""Map model-range images back to $[0, 1]$ for display: $(x + 1)/2$, clipped.

    Examples:
        >>> to_display_range(torch.tensor([-1.5, 0.0, 1.0]))
        tensor([0.0000, 0.5000, 1.0000])
    """
    return ((x + 1.0) / 2.0).clamp(0.0, 1.0)


# ----------------------------------------------------------------------------- 2-D toy sets
def _check(n: int, generator: object, noise: float) -> tuple[int, torch.Generator, float]:
    n = validation.positive_int(n, "n")
    generator = validation.torch_generator(generator)
    if not isinstance(noise, int | float) or noise < 0:
        raise ValueError(f"noise must be a number >= 0, got {noise!r}")
    return n, generator, float(noise)


def two_moons(n: int, generator: torch.Generator, noise: float = 0.05) -> torch.Tensor:
    r"""Two interleaved half circles, with Gaussian jitter, scaled to about unit variance.

    $$\text{upper: } (\cos\theta, \sin\theta),\quad \text{lower: } (1-\cos\theta, \tfrac12-\sin\theta),
    \qquad \theta \sim \mathcal U[0, \pi]$$

    Args:
        n: Number of points (split as evenly as possible between the moons).
        generator: The source of randomness.
        noise: Standard deviation of the jitter, before scaling.

    Returns:
        A float32 tensor of shape ``(n, 2)``.

    Examples:
        >>> x = two_moons(10_000, torch.Generator().manual_seed(0))
        >>> x.shape, x.mean(0).abs().max().item() < 0.05, x.std(0).round(decimals=1).tolist()
        (torch.Size([10000, 2]), True, [1.0, 1.0])
    """
    n, generator, noise = _check(n, generator, noise)
    upper = n // 2 + n % 2
    theta = torch.rand(n, generator=generator, dtype=torch.float64) * math.pi
    x = torch.stack([torch.cos(theta), torch.sin(theta)], dim=1)
    x[upper:] = torch.stack([1 - torch.cos(theta[upper:]), 0.5 - torch.sin(theta[upper:])], dim=1)
    x = x + noise * torch.randn(n, 2, generator=generator, dtype=torch.float64)
    # shuffle, so that any slice of the points holds both moons
    x = x[torch.randperm(n, generator=generator)]
    # centre and scale by the moments of the noiseless moons: mean (0.5, 0.25), std (0.87, 0.49)
    return (
        (x - torch.tensor([0.5, 0.25], dtype=torch.float64)) / torch.tensor([0.87, 0.5])
    ).float()


def swiss_roll(n: int, generator: torch.Generator, noise: float = 0.3) -> torch.Tensor:
    r"""A 2-D spiral (the swiss roll seen from its end), scaled to about unit variance.

    $$x = (\theta\cos\theta,\ \theta\sin\theta) + \text{noise},\qquad
    \theta \sim \mathcal U[1.5\pi, 4.5\pi]$$

    Args:
        n: Number of points.
        generator: The source of randomness.
        noise: Standard deviation of the jitter, before scaling (the spiral spans about 30 units).

    Returns:
        A float32 tensor of shape ``(n, 2)``.

    Examples:
        >>> swiss_roll(5, torch.Generator().manual_seed(0)).shape
        torch.Size([5, 2])
    """
    n, generator, noise = _check(n, generator, noise)
    theta = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=generator, dtype=torch.float64))
    x = torch.stack([theta * torch.cos(theta), theta * torch.sin(theta)], dim=1)
    x = x + noise * torch.randn(n, 2, generator=generator, dtype=torch.float64)
    # centre and scale: the spiral's mean is about (2, 0.2) and its spread about 6.8 per axis
    return ((x - torch.tensor([2.0, 0.2], dtype=torch.float64)) / 6.8).float()


def ring_of_gaussians(
    k: int = 8, radius: float = 1.5, std: float = 0.15
) -> tuple[torch.Tensor, torch.Tensor, float]:
    r"""Parameters of $k$ equal Gaussians on a circle: ``(weights, means, variance)``.

    They are what ``gaussian_mixture`` samples by default, and what
    ``diffusion_path.tools.oracle.GaussianMixtureOracle`` takes to give the exact noise predictor.

    Examples:
        >>> weights, means, variance = ring_of_gaussians(4, radius=1.0, std=0.1)
        >>> means.round(decimals=3).tolist(), round(variance, 4)
        ([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [-0.0, -1.0]], 0.01)
    """
    k = validation.positive_int(k, "k")
    radius = float(validation.positive(radius, "radius"))
    std = float(validation.positive(std, "std"))
    angles = 2 * math.pi * torch.arange(k, dtype=torch.float64) / k
    means = radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    return torch.full((k,), 1.0 / k, dtype=torch.float64), means, std**2


def gaussian_mixture(
    n: int,
    generator: torch.Generator,
    weights: object | None = None,
    means: object | None = None,
    std: float = 0.15,
) -> torch.Tensor:
    r"""Samples of the mixture $\sum_k w_k\,\mathcal N(\boldsymbol\mu_k, \sigma^2 I)$ (default: 8 on a ring).

    Args:
        n: Number of points.
        generator: The source of randomness.
        weights: Mixture weights $w_k$ (normalised to sum to one); equal if ``None``.
        means: Component means, shape ``(K, d)``; ``ring_of_gaussians()``'s eight if ``None``.
        std: The components' standard deviation $\sigma$.

    Returns:
        A float32 tensor of shape ``(n, d)``.

    Examples:
        >>> x = gaussian_mixture(
        ...     6, torch.Generator().manual_seed(0), means=[[-1.0, 0.0], [1.0, 0.0]]
        ... )
        >>> x.shape
        torch.Size([6, 2])
    """
    n, generator, _ = _check(n, generator, 0.0)
    std = float(validation.positive(std, "std"))
    if means is None:
        means = ring_of_gaussians()[1]
    means = torch.as_tensor(
        validation.as_float_array(np.asarray(means), "means"), dtype=torch.float64
    )
    if means.ndim != 2:
        raise ValueError(f"means must have shape (K, d), got {tuple(means.shape)}")
    if weights is None:
        weights = np.ones(means.shape[0])
    weights = torch.as_tensor(
        validation.positive(np.asarray(weights), "weights"), dtype=torch.float64
    )
    if tuple(weights.shape) != (means.shape[0],):
        raise ValueError(
            f"weights must have shape ({means.shape[0]},), one per mean, got {tuple(weights.shape)}"
        )
    component = torch.multinomial(weights / weights.sum(), n, replacement=True, generator=generator)
    eps = torch.randn(n, means.shape[1], generator=generator, dtype=torch.float64)
    # $x = \boldsymbol\mu_k + \sigma\varepsilon$
    return (means[component] + std * eps).float()


TOY_SETS = {"moons": two_moons, "swiss_roll": swiss_roll, "mixture": gaussian_mixture}


def toy_2d(name: str, n: int, generator: torch.Generator) -> torch.Tensor:
    """One of the 2-D toy sets by name: ``"moons"``, ``"swiss_roll"`` or ``"mixture"``.

    Examples:
        >>> toy_2d("moons", 4, torch.Generator().manual_seed(0)).shape
        torch.Size([4, 2])
    """
    if name not in TOY_SETS:
        raise ValueError(f"name must be one of {sorted(TOY_SETS)}, got {name!r}")
    return TOY_SETS[name](n, generator)


# ----------------------------------------------------------------------------- images
def load_digits(labels: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    r"""The 1797 handwritten 8×8 digits that ship with scikit-learn, as ``(1797, 1, 8, 8)`` in $[-1, 1]$.

    Pixel values run from 0 to 16 in the original; $x = 2p/16 - 1$. They work offline, train a
    model on a laptop CPU in minutes, and are the default data set of the image tasks.

    Args:
        labels: Also return the digit each image shows, a LongTensor of shape ``(1797,)``.

    Returns:
        The images; with ``labels``, ``(images, labels)``.

    Examples:
        >>> digits = load_digits()
        >>> digits.shape, digits.min().item(), digits.max().item()
        (torch.Size([1797, 1, 8, 8]), -1.0, 1.0)
        >>> _, y = load_digits(labels=True)
        >>> y[:5].tolist()
        [0, 1, 2, 3, 4]
    """
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()  # images (1797, 8, 8), values 0..16
    images = to_model_range(bunch.images[:, None], max_value=16.0)
    if labels:
        return images, torch.as_tensor(bunch.target, dtype=torch.long)
    return images


def split(n: int, held_out: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of a random split of ``n`` examples into a training part and a held-out part.

    Args:
        n: Number of examples.
        held_out: Fraction held out, in $(0, 1)$.
        generator: The source of randomness.

    Returns:
        ``(train, held)``: LongTensors of indices that together hold ``0, ..., n - 1`` once each.

    Raises:
        ValueError: if ``n`` is not a positive int, ``held_out`` is outside $(0, 1)$, or
            ``generator`` is not a ``torch.Generator``.

    Examples:
        >>> train, held = split(10, 0.2, torch.Generator().manual_seed(0))
        >>> len(train), len(held), sorted(torch.cat([train, held]).tolist()) == list(range(10))
        (8, 2, True)
    """
    n = validation.positive_int(n, "n")
    held_out = validation.in_open_unit_interval(held_out, "held_out")
    generator = validation.torch_generator(generator)
    order = torch.randperm(n, generator=generator)
    k = max(1, min(n - 1, round(held_out * n))) if n > 1 else 0
    return order[k:], order[:k]


def load_photo(size: int | None = 64, grayscale: bool = False) -> torch.Tensor:
    r"""A real photograph that ships with Matplotlib (Grace Hopper), as ``(1, C, size, size)`` in $[-1, 1]$.

    The 512×600 picture is cropped to a centred square and resized with area averaging.

    Args:
        size: Side of the square output in pixels, or ``None`` for the full 512×512 crop.
        grayscale: One channel (the luminance) instead of three.

    Examples:
        >>> load_photo(32).shape, load_photo(16, grayscale=True).shape
        (torch.Size([1, 3, 32, 32]), torch.Size([1, 1, 16, 16]))
    """
    from matplotlib import cbook
    from matplotlib import image as mpl_image

    if size is not None:
        size = validation.positive_int(size, "size")
    with cbook.get_sample_data("grace_hopper.jpg") as file:
        pixels = mpl_image.imread(file, format="jpg")  # (600, 512, 3) uint8
    height, width = pixels.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    pixels = pixels[top : top + side, left : left + side]
    x = to_model_range(pixels).permute(2, 0, 1).unsqueeze(0)  # (1, 3, side, side)
    if grayscale:
        # ITU-R BT.601 luminance
        x = (0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).contiguous()
    if size is not None and size != side:
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="area")
    return x.clamp(-1.0, 1.0)


def load_torchvision(
    name: str,
    root: str | Path,
    train: bool = True,
    download: bool = False,
    n: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""MNIST, Fashion-MNIST or CIFAR-10 through torchvision, as images in $[-1, 1]$ and labels.

    Reads the files that torchvision keeps under ``root`` (``root/MNIST/raw``,
    ``root/FashionMNIST/raw``, ``root/cifar-10-batches-py``); downloads them first only when
    ``download=True`` (that needs internet).

    Args:
        name: ``"mnist"``, ``"fashion-mnist"`` or ``"cifar10"``.
        root: The folder holding (or to receive) the files.
        train: The training split (``True``) or the test split.
        download: Fetch the files if they are missing.
        n: Keep only the first ``n`` images.

    Returns:
        ``(images, labels)``: float32 ``(N, C, H, W)`` in $[-1, 1]$ (``C = 1`` for the MNISTs,
        3 for CIFAR-10) and a LongTensor ``(N,)``.

    Raises:
        ValueError: for an unknown ``name``, a bad ``n``, or files that are missing while
            ``download`` is ``False``.
    """
    if name not in TORCHVISION_DATASETS:
        raise ValueError(f"name must be one of {sorted(TORCHVISION_DATASETS)}, got {name!r}")
    if n is not None:
        n = validation.positive_int(n, "n")
    import torchvision

    cls = getattr(torchvision.datasets, TORCHVISION_DATASETS[name])
    try:
        dataset = cls(root=str(root), train=train, download=download)
    except RuntimeError as error:
        raise ValueError(
            f"root {str(root)!r} does not hold the {name} files ({error}); "
            "pass download=True to fetch them (needs internet)"
        ) from None
    data = dataset.data
    pixels = data if isinstance(data, torch.Tensor) else torch.from_numpy(np.asarray(data))
    targets = torch.as_tensor(dataset.targets, dtype=torch.long)
    if n is not None:
        pixels, targets = pixels[:n], targets[:n]
    if pixels.ndim == 3:  # (N, H, W): the MNISTs
        pixels = pixels[:, None]
    else:  # (N, H, W, C): CIFAR-10
        pixels = pixels.permute(0, 3, 1, 2)
    return to_model_range(pixels.contiguous()), targets
