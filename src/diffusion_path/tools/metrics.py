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

The **Fréchet distance** is the 2-Wasserstein distance between two Gaussians (squared),

$$d_F^2 = \lVert\boldsymbol\mu_a - \boldsymbol\mu_b\rVert^2
+ \operatorname{tr}\Big(\Sigma_a + \Sigma_b - 2\big(\Sigma_a^{1/2}\Sigma_b\Sigma_a^{1/2}\big)^{1/2}\Big),$$

applied to Gaussians fitted to the features that a classifier gives two sets of images. With
the features of an ImageNet Inception network this is the FID of Heusel et al. 2017, "GANs
trained by a two time-scale update rule converge to a local Nash equilibrium"
([arXiv:1706.08500](https://arxiv.org/abs/1706.08500), the equation that defines FID).
Here the features come from a small network trained on the 8×8 digits that ship with
scikit-learn (``digits_features``): the result, the **digits FD**, is a small-digits analogue of
FID, not FID, and its numbers are not comparable with FID's. Like every such estimate it is
biased upwards at small sample sizes, so ``digits_fd`` prints it beside the distance that real
digits reach at the same sample size, the *floor*.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from diffusion_path.tools import validation

__all__ = [
    "DigitsFD",
    "DigitsFeatures",
    "digits_fd",
    "digits_features",
    "frechet_distance",
    "gaussian_frechet_distance",
    "sliced_wasserstein",
    "wasserstein_1d",
]


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


# ----------------------------------------------------------------------------- Fréchet distance
@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """One CPU thread: the same weights on every machine, and no waiting on small matrices.

    On a busy machine, threads that wait for each other make a 64×64 eigendecomposition a
    hundred times slower than one thread does.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _mean(value: object, name: str) -> torch.Tensor:
    x = torch.as_tensor(value, dtype=torch.float64)
    if x.ndim != 1 or x.shape[0] == 0:
        raise ValueError(
            f"{name} must be a 1-D vector of length d >= 1, got shape {tuple(x.shape)}"
        )
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} must be finite, got NaN or inf entries")
    return x


def _covariance(value: object, name: str, d: int) -> torch.Tensor:
    x = torch.as_tensor(value, dtype=torch.float64)
    if x.ndim == 0 and d == 1:
        x = x.reshape(1, 1)
    if tuple(x.shape) != (d, d):
        raise ValueError(
            f"{name} must have shape ({d}, {d}) to match the mean, got {tuple(x.shape)}"
        )
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} must be finite, got NaN or inf entries")
    scale = max(1.0, float(x.abs().max()))
    if not torch.allclose(x, x.T, rtol=0.0, atol=1e-10 * scale):
        raise ValueError(f"{name} must be symmetric")
    smallest = float(torch.linalg.eigvalsh(x)[0])
    if smallest < -1e-10 * scale:
        raise ValueError(
            f"{name} must be positive semi-definite, got an eigenvalue of {smallest:.3g}"
        )
    return x


def _nonnegative(eigenvalues: torch.Tensor) -> torch.Tensor:
    """Eigenvalues of a PSD matrix with rounding noise (below d · eps · the largest) set to 0."""
    scale = float(eigenvalues.abs().max()) if eigenvalues.numel() else 0.0
    tolerance = eigenvalues.shape[0] * torch.finfo(torch.float64).eps * scale
    return torch.where(eigenvalues > tolerance, eigenvalues, torch.zeros_like(eigenvalues))


@_one_thread()
def _frechet(
    mu_a: torch.Tensor, cov_a: torch.Tensor, mu_b: torch.Tensor, cov_b: torch.Tensor
) -> float:
    """The Fréchet distance from checked float64 moments."""
    # $\Sigma_a^{1/2} = V \Lambda^{1/2} V^\top$ from $\Sigma_a = V \Lambda V^\top$ (rounding
    # leaves tiny eigenvalues of either sign where a singular matrix has zeros: they are zeros)
    lam, v = torch.linalg.eigh(cov_a)
    root_a = (v * _nonnegative(lam).sqrt()) @ v.T
    # $M = \Sigma_a^{1/2} \Sigma_b \Sigma_a^{1/2}$ is symmetric positive semi-definite, so
    # $\operatorname{tr} M^{1/2} = \sum_i \sqrt{\lambda_i(M)}$
    m = root_a @ cov_b @ root_a
    trace_root = _nonnegative(torch.linalg.eigvalsh((m + m.T) / 2)).sqrt().sum()
    # $\lVert\mu_a - \mu_b\rVert^2 + \operatorname{tr}\Sigma_a + \operatorname{tr}\Sigma_b
    #  - 2 \operatorname{tr} M^{1/2}$
    d2 = (mu_a - mu_b).pow(2).sum() + cov_a.trace() + cov_b.trace() - 2.0 * trace_root
    return max(0.0, float(d2))


def gaussian_frechet_distance(
    mean_a: object, cov_a: object, mean_b: object, cov_b: object
) -> float:
    r"""The Fréchet distance between $\mathcal N(\boldsymbol\mu_a, \Sigma_a)$ and $\mathcal N(\boldsymbol\mu_b, \Sigma_b)$, from their moments.

    $$d_F^2 = \lVert\boldsymbol\mu_a - \boldsymbol\mu_b\rVert^2
    + \operatorname{tr}\Big(\Sigma_a + \Sigma_b - 2\big(\Sigma_a^{1/2}\Sigma_b\Sigma_a^{1/2}\big)^{1/2}\Big)$$

    This is the squared 2-Wasserstein distance between the two Gaussians (Heusel et al. 2017,
    [arXiv:1706.08500](https://arxiv.org/abs/1706.08500), the FID equation). It is computed in
    float64 with symmetric square roots (``eigh``); tiny negative eigenvalues left by rounding
    count as zeros, so singular covariances are allowed. In one dimension it is
    $(\mu_a - \mu_b)^2 + (\sigma_a - \sigma_b)^2$.

    Args:
        mean_a: $\boldsymbol\mu_a$, shape ``(d,)``.
        cov_a: $\Sigma_a$, symmetric positive semi-definite, shape ``(d, d)``.
        mean_b: $\boldsymbol\mu_b$, shape ``(d,)``.
        cov_b: $\Sigma_b$, shape ``(d, d)``.

    Returns:
        $d_F^2$ as a float (a squared distance: it is what FID reports).

    Raises:
        ValueError: if ``mean_a`` or ``mean_b`` is not a finite vector, the two have different
            lengths, or ``cov_a`` or ``cov_b`` is not a finite symmetric positive semi-definite
            ``(d, d)`` matrix.

    Examples:
        >>> gaussian_frechet_distance([0.0], [[1.0]], [3.0], [[4.0]])  # 3² + (1 - 2)²
        10.0
        >>> gaussian_frechet_distance([0.0, 0.0], torch.eye(2), [0.0, 0.0], torch.eye(2))
        0.0
    """
    mu_a, mu_b = _mean(mean_a, "mean_a"), _mean(mean_b, "mean_b")
    if mu_b.shape != mu_a.shape:
        raise ValueError(
            f"mean_b must have the length of mean_a, {mu_a.shape[0]}; got {mu_b.shape[0]}"
        )
    d = mu_a.shape[0]
    with _one_thread():
        cov_a, cov_b = _covariance(cov_a, "cov_a", d), _covariance(cov_b, "cov_b", d)
    return _frechet(mu_a, cov_a, mu_b, cov_b)


@_one_thread()
def _moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample mean and covariance (divisor n - 1) of the rows of ``x``, float64."""
    mu = x.mean(dim=0)
    centred = x - mu
    return mu, centred.T @ centred / (x.shape[0] - 1)


def frechet_distance(features_a: object, features_b: object) -> float:
    r"""The Fréchet distance between Gaussians fitted to two sets of feature vectors.

    $$d_F^2 = \lVert\hat{\boldsymbol\mu}_a - \hat{\boldsymbol\mu}_b\rVert^2
    + \operatorname{tr}\Big(\hat\Sigma_a + \hat\Sigma_b
    - 2\big(\hat\Sigma_a^{1/2}\hat\Sigma_b\hat\Sigma_a^{1/2}\big)^{1/2}\Big)$$

    with the sample means and the sample covariances (divisor $n - 1$), as FID computes them
    (Heusel et al. 2017, [arXiv:1706.08500](https://arxiv.org/abs/1706.08500)); the moments
    themselves go to ``gaussian_frechet_distance``. The estimate is biased upwards: two samples
    of one distribution are at a positive distance that shrinks like $1/n$. Compare it only with
    distances computed at the same sample sizes.

    Args:
        features_a: Feature vectors, shape ``(n, d)`` with $n \ge 2$ (or ``(n,)`` for $d = 1$).
        features_b: Feature vectors, shape ``(m, d)`` with $m \ge 2$.

    Returns:
        $d_F^2$ as a float.

    Raises:
        ValueError: if ``features_a`` or ``features_b`` is not a finite numeric ``(n, d)`` array
            with at least two rows, or the two have different numbers of columns.

    Examples:
        >>> a = torch.tensor([[-1.0], [1.0]])  # mean 0, variance 2
        >>> frechet_distance(a, a + 3.0)  # the means differ by 3, the spreads agree
        9.0
        >>> round(frechet_distance(a, 2 * a), 12)  # (sqrt(2) - sqrt(8))² = 2
        2.0
    """
    with _one_thread():
        a, b = _points(features_a, "features_a"), _points(features_b, "features_b")
    if b.shape[1] != a.shape[1]:
        raise ValueError(
            f"features_b must have {a.shape[1]} columns like features_a, got shape {tuple(b.shape)}"
        )
    for x, name in ((a, "features_a"), (b, "features_b")):
        if x.shape[0] < 2:
            raise ValueError(f"{name} must have at least 2 rows for a covariance, got {x.shape[0]}")
    return _frechet(*_moments(a), *_moments(b))


# ----------------------------------------------------------------------------- digits features
def _images(value: object, name: str) -> torch.Tensor:
    """Images ``(N, 1, H, W)`` in [-1, 1] with H, W >= 8, as float32 CPU ``(N, 1, 8, 8)``."""
    if not isinstance(value, torch.Tensor) or not value.is_floating_point():
        raise ValueError(
            f"{name} must be a floating-point torch.Tensor, got {type(value).__name__}"
            + (f" of dtype {value.dtype}" if isinstance(value, torch.Tensor) else "")
        )
    if value.ndim != 4 or value.shape[0] < 1 or value.shape[1] != 1 or min(value.shape[2:]) < 8:
        raise ValueError(
            f"{name} must have shape (N, 1, H, W): N >= 1 one-channel images of at least 8×8 "
            f"pixels, got {tuple(value.shape)}"
        )
    x = value.detach().to("cpu", torch.float32)
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} must be finite, got NaN or inf entries")
    low, high = float(x.min()), float(x.max())
    if low < -1.0 or high > 1.0:
        raise ValueError(
            f"{name} must lie in [-1, 1] (clamp samples first), got values from {low:.4g} to {high:.4g}"
        )
    if x.shape[2:] != (8, 8):
        # area averaging down to 8×8: for sizes that are multiples of 8 the mean of each block
        x = F.adaptive_avg_pool2d(x, (8, 8))
    return x


class _DigitsNet(nn.Module):
    """Two 3×3 convolutions, a 2×2 max-pool, 64 features, 10 classes: 38,282 parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * 4 * 4, 64),
            nn.ReLU(),
        )
        self.head = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class DigitsFeatures:
    r"""A small classifier of the 8×8 digits whose last hidden layer gives 64 features per image.

    The network (two 3×3 convolutions with 16 and 32 channels, a 2×2 max-pool, a 64-unit layer
    and a 10-way output; 38,282 parameters) is trained on the training part of a fixed split of
    ``diffusion_path.tools.data.load_digits`` (``split(1797, 0.3, generator)`` with the
    generator seeded with ``seed``: 1258 training and 539 held-out digits), with a fixed seed, on
    one CPU thread: 12 epochs of AdamW in batches of 64, a few seconds.
    It classifies about 98 % of the held-out digits correctly (``accuracy``). The features are
    the 64 activations (after the ReLU) that the output layer reads.

    Make it with ``digits_features()``, which trains it once per process; the constructor
    trains a new one each time (the same one for the same seed).

    Images of other sizes ``(N, 1, H, W)`` with $H, W \ge 8$ are first averaged down to 8×8
    (``adaptive_avg_pool2d``): for sizes that are multiples of 8, each output pixel is the mean
    of an $H/8 \times W/8$ block, which undoes nearest-neighbour upsampling exactly.

    Args:
        seed: The seed of the split, the initial weights and the batches.

    Raises:
        ValueError: if ``seed`` is not an int >= 0.

    Attributes:
        seed: The seed of the split, the initial weights and the batches.
        train_indices: Indices into ``load_digits()`` of the digits the network was trained on.
        held_out_indices: Indices of the held-out digits: the reference set of ``digits_fd``.
        accuracy: The fraction of held-out digits it classifies correctly.
        train_features: Features of the training digits, float64 ``(1258, 64)``.
        held_out_features: Features of the held-out digits, float64 ``(539, 64)``.

    Examples:
        >>> extractor = digits_features()  # trained on the first call, a few seconds
        >>> extractor.accuracy > 0.95, extractor.held_out_features.shape
        (True, torch.Size([539, 64]))
        >>> extractor(torch.zeros(3, 1, 16, 16)).shape  # 16×16 images are averaged to 8×8
        torch.Size([3, 64])
    """

    HELD_OUT = 0.3
    EPOCHS = 12
    BATCH = 64
    FLOOR_DRAWS = 20
    dim = 64

    def __init__(self, seed: int = 0) -> None:
        from diffusion_path.tools.data import load_digits, split

        self.seed = validation.integer(seed, "seed", minimum=0)
        images, labels = load_digits(labels=True)
        generator = torch.Generator().manual_seed(self.seed)
        self.train_indices, self.held_out_indices = split(len(images), self.HELD_OUT, generator)
        self._network = self._train(
            images[self.train_indices], labels[self.train_indices], generator
        )
        held = images[self.held_out_indices]
        self.accuracy = float(
            (self.classify(held) == labels[self.held_out_indices]).double().mean()
        )
        self.train_features = self(images[self.train_indices])
        self.held_out_features = self(held)
        self._floors: dict[int, float] = {}

    def _train(
        self, images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator
    ) -> nn.Module:
        n = len(images)
        steps = self.EPOCHS * math.ceil(n / self.BATCH)
        # the initial weights come from the global RNG: seed a copy of it, leave the caller's alone
        with (
            torch.random.fork_rng(devices=[]),
            torch.inference_mode(False),
            torch.enable_grad(),
            _one_thread(),
        ):
            torch.manual_seed(self.seed)
            network = _DigitsNet()
            images = images.clone()  # a plain tensor even if made under the caller's inference_mode
            optimizer = torch.optim.AdamW(network.parameters(), lr=3e-3, weight_decay=1e-2)
            schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 3e-3, total_steps=steps)
            for _ in range(self.EPOCHS):
                order = torch.randperm(n, generator=generator)
                for start in range(0, n, self.BATCH):
                    batch = order[start : start + self.BATCH]
                    loss = F.cross_entropy(network(images[batch]), labels[batch])
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    schedule.step()
        network.eval()
        network.requires_grad_(False)
        return network

    def _apply(self, images: object, name: str, part: nn.Module) -> torch.Tensor:
        x = _images(images, name)
        with torch.no_grad(), _one_thread():
            return torch.cat([part(chunk) for chunk in x.split(4096)])

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        r"""The 64 features of each image, float64 ``(N, 64)``.

        Raises:
            ValueError: if ``images`` is not a finite float tensor of shape ``(N, 1, H, W)``
                with $H, W \ge 8$ and values in $[-1, 1]$.
        """
        return self._apply(images, "images", self._network.body).double()

    def classify(self, images: torch.Tensor) -> torch.Tensor:
        r"""The digit each image shows, by the classifier: a LongTensor ``(N,)``.

        Raises:
            ValueError: if ``images`` is not a finite float tensor of shape ``(N, 1, H, W)``
                with $H, W \ge 8$ and values in $[-1, 1]$.
        """
        return self._apply(images, "images", self._network).argmax(dim=1)

    def floor(
        self, n: int, transform: Callable[[torch.Tensor], torch.Tensor] | None = None
    ) -> float:
        r"""The digits FD that $n$ real digits reach: the floor beside which ``digits_fd`` is read.

        $$\text{floor}(n) = \frac{1}{K}\sum_{k=1}^{K}
        d_F^2\big(\phi(\text{$n$ training digits, draw } k),\ \phi(\text{held-out digits})\big)$$

        over $K = 20$ draws without replacement from the 1258 training digits (a fixed seed, so
        the floor is a number for each $n$), against the same 539 held-out digits that
        ``digits_fd`` compares samples with. Both distances then carry the same small-sample
        bias: $n$ vectors against the same reference.

        Args:
            n: The number of samples, $2 \le n \le 1258$.
            transform: Applied to all 1797 digits ``(1797, 1, 8, 8)`` before their features
                are taken (see ``digits_fd``); ``None`` for the digits as they are.

        Returns:
            The floor as a float.

        Raises:
            ValueError: if ``n`` is not an int in $[2, 1258]$, or ``transform`` is not callable
                or does not return one image per digit, in $[-1, 1]$.

        Examples:
            >>> extractor = digits_features()
            >>> extractor.floor(1000) < extractor.floor(500)  # the bias shrinks with n
            True
        """
        n = validation.integer(n, "n", minimum=2)
        if n > len(self.train_indices):
            raise ValueError(
                f"n must be at most {len(self.train_indices)}, the training digits, got {n}"
            )
        if transform is not None:
            return self._floor(n, *self._real_features(transform))
        if n not in self._floors:
            self._floors[n] = self._floor(n, self.train_features, self.held_out_features)
        return self._floors[n]

    def _floor(self, n: int, train: torch.Tensor, held: torch.Tensor) -> float:
        generator = torch.Generator().manual_seed(self.seed)
        reference = _moments(held)
        draws = [
            _frechet(
                *_moments(train[torch.randperm(len(train), generator=generator)[:n]]), *reference
            )
            for _ in range(self.FLOOR_DRAWS)
        ]
        return sum(draws) / len(draws)

    def _real_features(self, transform: object) -> tuple[torch.Tensor, torch.Tensor]:
        """Features of the training and the held-out digits after ``transform``."""
        from diffusion_path.tools.data import load_digits

        if not callable(transform):
            raise ValueError(
                f"transform must be a function of a (N, 1, 8, 8) tensor, got {type(transform).__name__}"
            )
        digits = load_digits()
        made = transform(digits)
        if not isinstance(made, torch.Tensor) or made.shape[:1] != digits.shape[:1]:
            raise ValueError(
                f"transform must return one image per digit, shape ({len(digits)}, 1, H, W), got "
                + (
                    str(tuple(made.shape))
                    if isinstance(made, torch.Tensor)
                    else type(made).__name__
                )
            )
        features = self._apply(made, "transform(digits)", self._network.body).double()
        return features[self.train_indices], features[self.held_out_indices]


@functools.cache
def _trained(seed: int) -> DigitsFeatures:
    return DigitsFeatures(seed)


def digits_features(seed: int = 0) -> DigitsFeatures:
    """The digits classifier of ``DigitsFeatures``, trained on the first call and kept for the process.

    Nothing is downloaded or written: the digits ship with scikit-learn, and the weights live in
    memory. The same ``seed`` gives the same network, and so the same features, every time.

    Args:
        seed: The seed of the split, the initial weights and the batches; the digits FD is
            defined with ``seed=0``. Other seeds show how much a conclusion depends on it.

    Returns:
        The trained ``DigitsFeatures``.

    Raises:
        ValueError: if ``seed`` is not an int >= 0.

    Examples:
        >>> digits_features() is digits_features()  # trained once
        True
    """
    return _trained(validation.integer(seed, "seed", minimum=0))


@dataclass(frozen=True)
class DigitsFD:
    """A digits FD with the floor it is read against (``digits_fd`` makes it).

    Attributes:
        fd: The Fréchet distance between the samples' features and the held-out digits'.
        floor: The distance that the same number of real digits reach (``DigitsFeatures.floor``).
        ratio: ``fd / floor``: about 1 for samples as good as real digits.
        n: The number of samples.

    Examples:
        >>> result = DigitsFD(fd=6.0, floor=4.0, ratio=1.5, n=1000)
        >>> print(result)
        digits FD 6 (real digits: 4 at n = 1000; 1.50× that floor)
        >>> result.within(2.0), result.within(1.2)
        (True, False)
    """

    fd: float
    floor: float
    ratio: float
    n: int

    def within(self, factor: float = 2.0) -> bool:
        """Whether the digits FD is at most ``factor`` times the floor.

        Raises:
            ValueError: if ``factor`` is not a positive number.
        """
        return self.ratio <= validation.positive_number(factor, "factor")

    def __str__(self) -> str:
        return (
            f"digits FD {self.fd:.3g} (real digits: {self.floor:.3g} at n = {self.n}; "
            f"{self.ratio:.2f}× that floor)"
        )


def digits_fd(
    samples: torch.Tensor,
    extractor: DigitsFeatures | None = None,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> DigitsFD:
    r"""The digits FD of generated images, with the real-against-real floor at the same size.

    $$\text{digits FD} = d_F^2\big(\phi(\text{samples}),\ \phi(\text{held-out digits})\big),
    \qquad \text{ratio} = \frac{\text{digits FD}}{\text{floor}(n)}$$

    where $\phi$ is the 64-feature layer of ``digits_features()`` and $d_F^2$ the Fréchet
    distance (``frechet_distance``). It is a small-digits analogue of FID (Heusel et al. 2017,
    [arXiv:1706.08500](https://arxiv.org/abs/1706.08500)), not FID: FID uses ImageNet Inception
    features, and its numbers cannot be compared with these.

    **The floor** (``DigitsFeatures.floor``) is the same distance for $n$ *real* digits:
    training digits against the same 539 held-out digits, averaged over 20 draws. A Fréchet
    distance estimated from $n$ vectors is biased upwards by roughly a constant over $n$, so
    only distances at the same $n$ against the same reference compare, and the ratio does that.
    The 539 held-out digits are too few to split into two halves of 1,000, which is why the
    floor's real digits come from the training part: a test checks that held-out digits score
    like training digits.

    **"Within 2× the floor"** means ``ratio <= 2`` (``DigitsFD.within(2.0)``): the Gaussian
    fitted to the samples' features is at most twice as far (in this squared distance) from the
    held-out digits' as that of real digits. Real digits themselves scatter around the floor,
    as any estimate does: single draws of real digits landed between 0.67 and 1.71 times the
    floor at $n = 1000$, and between 0.43 and 1.98 times at $n = 500$ (200 draws for each of
    five classifier seeds; at $n = 1000$ the draws share most of their digits with the floor's,
    so independent real digits would scatter more). With ``seed=0`` the floor is 5.3 at $n = 500$ and 3.9 at
    $n = 1000$, and at those sizes uniform noise scores 80–105 times the floor, blank images
    140–190 times, digits blurred by a 3×3 binomial filter 32–43 times, a one-pixel shift 27–37
    times, and digits with Gaussian pixel noise (standard deviation 0.2) 2.0–2.4 times.

    **Other sizes**: samples of size $H \times W$ are averaged down to 8×8, which undoes
    nearest-neighbour upsampling exactly but not bilinear upsampling (that round trip blurs:
    perfect copies of bilinearly upsampled digits score 7–13 times the floor). Pass the
    ``transform`` that made the model's training images from the digits, and the reference
    and the floor are made from transformed digits too, like with like.

    Args:
        samples: Images, shape ``(n, 1, H, W)`` with $2 \le n \le 1258$, $H, W \ge 8$ (averaged
            down to 8×8), values in $[-1, 1]$.
        extractor: The feature extractor; ``digits_features()`` if ``None``.
        transform: How the model's training images were made from the digits, a function of a
            ``(N, 1, 8, 8)`` tensor in $[-1, 1]$ returning ``(N, 1, H, W)`` in $[-1, 1]$
            (e.g. ``lambda x: F.interpolate(x, size=32, mode="bilinear")``); ``None`` if the
            model was trained on the 8×8 digits (or on nearest-neighbour upsampled ones).

    Returns:
        A ``DigitsFD`` with ``fd``, ``floor``, ``ratio`` and ``n``; ``str()`` prints the
        distance beside the floor.

    Raises:
        ValueError: if ``samples`` is not a finite float tensor of shape ``(n, 1, H, W)`` with
            $2 \le n \le 1258$, $H, W \ge 8$ and values in $[-1, 1]$; if ``extractor`` is not a
            ``DigitsFeatures``; or if ``transform`` is not callable or does not return one
            image per digit, in $[-1, 1]$.

    Examples:
        >>> from diffusion_path.tools.data import load_digits
        >>> digits = load_digits()
        >>> real = digits[digits_features().train_indices[:500]]
        >>> digits_fd(real).within(2.0)
        True
        >>> digits_fd(real.clamp(max=0.0)).within(2.0)  # the bright half of the strokes cut off
        False
    """
    if extractor is None:
        extractor = digits_features()
    if not isinstance(extractor, DigitsFeatures):
        raise ValueError(
            f"extractor must be a DigitsFeatures (digits_features()), got {type(extractor).__name__}"
        )
    features = extractor._apply(samples, "samples", extractor._network.body).double()
    n = features.shape[0]
    available = len(extractor.train_indices)
    if not 2 <= n <= available:
        raise ValueError(
            f"samples must hold between 2 and {available} images (the real digits that the "
            f"floor is measured with), got {n}"
        )
    if transform is None:
        held, floor = extractor.held_out_features, extractor.floor(n)
    else:
        train, held = extractor._real_features(transform)
        floor = extractor._floor(n, train, held)
    # $d_F^2$ between the samples' features and the held-out digits'
    fd = _frechet(*_moments(features), *_moments(held))
    return DigitsFD(fd=fd, floor=floor, ratio=fd / floor, n=n)
