r"""Pre-Task 5: denoising autoencoders — learn to remove Gaussian noise, and find the score.

A denoising autoencoder ([Vincent et al. 2008](https://doi.org/10.1145/1390156.1390294)) sees a
corrupted example and is trained to return the clean one:

$$\begin{gathered}
\tilde x = x + \sigma\varepsilon,\ \varepsilon \sim \mathcal N(0, I), \\
\min_\theta\ \mathbb E\,\lVert D_\theta(\tilde x) - x\rVert^2 .
\end{gathered}$$

The minimiser of a squared error is a conditional mean, so the best possible denoiser is
$D^*(\tilde x) = \mathbb E[x \mid \tilde x]$. For Gaussian data $\mathcal N(\boldsymbol\mu, \Sigma)$
it is linear — it shrinks the noisy point toward the mean,
$D^*(\tilde x) = \boldsymbol\mu + \Sigma(\Sigma + \sigma^2 I)^{-1}(\tilde x - \boldsymbol\mu)$ — and
its error is known in closed form: $s^2\sigma^2/(s^2 + \sigma^2)$ per coordinate when
$\Sigma = s^2 I$. For any data, Tweedie's formula (Robbins 1956, Efron 2011) ties the best
denoiser to the score of the noisy data's density $p_\sigma$:

$$\mathbb E[x \mid \tilde x] = \tilde x + \sigma^2\,\nabla_{\tilde x}\log p_\sigma(\tilde x),$$

so a trained denoiser is a score estimate, $(D_\theta(\tilde x) - \tilde x)/\sigma^2$ — the
bridge from autoencoders to denoising score matching ([Vincent
2011](https://doi.org/10.1162/NECO_a_00142)) and to the noise predictor of DDPM.

Tensors are batches ``(B, ...)``; a noise level ``sigma`` is one positive number for the batch
or a tensor of shape ``(B,)``, one level per example. Randomness comes from an explicit
``torch.Generator``.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from diffusion_path.tools import validation
from diffusion_path.tools.progress import progress_bar

__all__ = [
    "DenoisingAutoencoder",
    "add_noise",
    "denoising_loss",
    "gaussian_mmse",
    "optimal_gaussian_denoiser",
    "per_example",
    "train_denoiser",
    "tweedie_score",
]


def per_example(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    r"""One value per example, shaped to multiply a batch: ``(B,)`` becomes ``(B, 1, ..., 1)``.

    Args:
        values: A tensor of shape ``(B,)``, such as the noise levels of a batch.
        like: The batch ``(B, ...)`` the values will multiply.

    Returns:
        ``values`` as a view of shape ``(B,)`` followed by ``like.ndim - 1`` axes of size 1.

    Examples:
        >>> per_example(torch.tensor([1.0, 2.0]), torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 1, 1, 1])
    """
    return values.reshape(-1, *([1] * (like.ndim - 1)))


def add_noise(
    x: torch.Tensor,
    sigma: float | torch.Tensor,
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Corrupt a batch with Gaussian noise of standard deviation $\sigma$: the input of a denoising autoencoder.

    $$\tilde x = x + \sigma\,\varepsilon,\qquad \varepsilon \sim \mathcal N(0, I)$$

    Vincent et al. (2008) corrupted by masking inputs; additive Gaussian noise is the corruption
    of denoising score matching (Vincent 2011) and of diffusion models.

    Args:
        x: The clean batch, shape ``(B, ...)``.
        sigma: The noise level $\sigma > 0$: a number, or a tensor of shape ``(B,)`` with one
            level per example.
        generator: The source of $\varepsilon$, required when ``noise`` is ``None``.
        noise: The standard normal $\varepsilon$ to use, of the shape and dtype of ``x``.

    Returns:
        $\tilde x$, of the shape and dtype of ``x``.

    Raises:
        ValueError: if ``x`` is not a finite float tensor, ``sigma`` is not positive (or not one
            level per example), ``noise`` does not match ``x``, or neither ``noise`` nor a
            ``generator`` is given.

    Examples:
        >>> x = torch.zeros(2, 3)
        >>> add_noise(x, torch.tensor([1.0, 0.5]), noise=torch.ones(2, 3))
        tensor([[1.0000, 1.0000, 1.0000],
                [0.5000, 0.5000, 0.5000]])
        >>> add_noise(x, 0.1, generator=torch.Generator().manual_seed(0)).shape
        torch.Size([2, 3])
    """
    x = validation.float_tensor(x, "x")
    sigma = validation.noise_level(sigma, x)
    eps = validation.noise_or_draw(noise, generator, x, "x")

    # Exercise: eq. (P5.1) — add the noise, scaled by each example's own noise level.
    # The levels are a vector with one entry per example: shape them with per_example
    # so that each level multiplies its own example.

    # $\tilde x = x + \sigma\varepsilon$
    return x + per_example(sigma, x) * eps


def denoising_loss(
    model: nn.Module,
    x: torch.Tensor,
    sigma: float | torch.Tensor,
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""The denoising autoencoder's loss: squared error between the clean batch and the model's output on its corrupted copy.

    $$\begin{gathered}
    L(\theta) = \frac{1}{B\,d}\sum_{i=1}^{B}\big\lVert D_\theta(\tilde x_i, \sigma_i) - x_i\big\rVert^2, \\
    \tilde x_i = x_i + \sigma_i\varepsilon_i
    \end{gathered}$$

    the reconstruction criterion of Vincent et al. (2008) with squared error, averaged
    over every entry ($d$ numbers per example). The model is called as ``model(x_noisy, sigma)``
    with ``sigma`` of shape ``(B,)``; a model that is not conditioned on the noise level ignores it.

    Args:
        model: The denoiser $D_\theta$, called as ``model(x_noisy, sigma)``.
        x: The clean batch, shape ``(B, ...)``.
        sigma: The noise level: a number, or one level per example (shape ``(B,)``).
        generator: The source of the noise, required when ``noise`` is ``None``.
        noise: The standard normal $\varepsilon$ to use, of the shape and dtype of ``x``.

    Returns:
        The loss, a tensor with no axes that gradients flow through.

    Raises:
        ValueError: if ``x`` is not a finite float tensor, ``sigma`` is not positive (or not one
            level per example), ``noise`` does not match ``x``, or neither ``noise`` nor a
            ``generator`` is given.

    Examples:
        >>> x = torch.zeros(4, 2)
        >>> identity = lambda x_noisy, sigma: x_noisy  # "there is no noise": error sigma^2
        >>> denoising_loss(identity, x, 0.5, noise=torch.ones(4, 2))
        tensor(0.2500)
    """
    x = validation.float_tensor(x, "x")
    sigma = validation.noise_level(sigma, x)
    if noise is not None:
        noise = validation.same_shape(noise, "noise", x, "x")
    else:
        generator = validation.torch_generator(generator)

    # Exercise: eq. (P5.3) — corrupt the clean batch with add_noise, let the model
    # denoise the corrupted batch (it takes the noisy batch and the noise levels), and
    # return the squared error to the clean batch, averaged over every entry.

    # $\tilde x = x + \sigma\varepsilon$
    x_noisy = add_noise(x, sigma, generator=generator, noise=noise)
    # $\frac{1}{Bd}\sum_i \lVert D_\theta(\tilde x_i, \sigma_i) - x_i \rVert^2$
    return torch.mean((model(x_noisy, sigma) - x) ** 2)


def optimal_gaussian_denoiser(
    x_noisy: torch.Tensor,
    mean: torch.Tensor,
    cov: torch.Tensor,
    sigma: float | torch.Tensor,
) -> torch.Tensor:
    r"""The best possible denoiser for Gaussian data, $\mathbb E[x \mid \tilde x]$: shrinkage toward the mean.

    For $x \sim \mathcal N(\boldsymbol\mu, \Sigma)$ and $\tilde x = x + \sigma\varepsilon$,

    $$\mathbb E[x \mid \tilde x] = \boldsymbol\mu + \Sigma\,(\Sigma + \sigma^2 I)^{-1}(\tilde x - \boldsymbol\mu),$$

    the posterior mean of a Gaussian prior and a Gaussian likelihood (the Wiener filter). With
    $\Sigma = U\Lambda U^\top$, each principal component of $\tilde x - \boldsymbol\mu$ is shrunk by
    $\lambda_i / (\lambda_i + \sigma^2)$.

    Args:
        x_noisy: Noisy examples $\tilde x$, shape ``(B, d)``.
        mean: The data's mean $\boldsymbol\mu$, shape ``(d,)``.
        cov: The data's covariance $\Sigma$, symmetric positive definite, shape ``(d, d)``.
        sigma: The noise level: a number, or one level per example (shape ``(B,)``).

    Returns:
        $\mathbb E[x \mid \tilde x]$, of the shape and dtype of ``x_noisy``.

    Raises:
        ValueError: if ``x_noisy`` is not a finite float tensor of shape ``(B, d)``, ``mean``
            does not have length ``d``, ``cov`` is not a symmetric positive-definite ``(d, d)``
            matrix, or ``sigma`` is not positive (or not one level per example).

    Examples:
        >>> x_noisy = torch.tensor([[2.0], [4.0]])
        >>> optimal_gaussian_denoiser(x_noisy, torch.tensor([0.0]), torch.tensor([[1.0]]), 1.0)
        tensor([[1.],
                [2.]])
    """
    x_noisy, mean, cov = validation.gaussian_law(mean, cov, x_noisy, "x_noisy")
    sigma = validation.noise_level(sigma, x_noisy)

    # Exercise: eq. (P5.5) — the posterior mean: the data's mean plus the noisy point's
    # deviation from it, shrunk along each eigenvector of cov by its eigenvalue over
    # (that eigenvalue plus the noise variance), with each example's own sigma.

    # $\Sigma = U \Lambda U^\top$
    eigenvalues, U = torch.linalg.eigh(cov)
    # $\lambda_i / (\lambda_i + \sigma^2)$, one row per example
    shrink = eigenvalues / (eigenvalues + per_example(sigma, x_noisy) ** 2)
    # $\boldsymbol\mu + U\,\mathrm{diag}(\text{shrink})\,U^\top(\tilde x - \boldsymbol\mu)$
    return mean + ((x_noisy - mean) @ U * shrink) @ U.T


def gaussian_mmse(cov: torch.Tensor, sigma: float) -> float:
    r"""The error floor of denoising Gaussian data: the mean squared error of $\mathbb E[x \mid \tilde x]$, per coordinate.

    $$\text{MMSE} = \frac1d\operatorname{tr}\big(\Sigma - \Sigma(\Sigma + \sigma^2 I)^{-1}\Sigma\big)
    = \frac1d\sum_{i=1}^d \frac{\lambda_i\,\sigma^2}{\lambda_i + \sigma^2},$$

    with $\lambda_i$ the eigenvalues of $\Sigma$: the trace of the posterior covariance, per
    coordinate. No denoiser does better on average; for $\Sigma = s^2 I$ it is
    $s^2\sigma^2/(s^2 + \sigma^2)$, below both $\sigma^2$ (keep the noisy point) and $s^2$
    (answer the mean).

    Args:
        cov: The data's covariance $\Sigma$, symmetric positive definite, shape ``(d, d)``.
        sigma: The noise level $\sigma > 0$.

    Returns:
        The floor, a float.

    Raises:
        ValueError: if ``cov`` is not a symmetric positive-definite matrix or ``sigma`` is not
            a positive number.

    Examples:
        >>> gaussian_mmse(torch.eye(3), 1.0)  # s^2 sigma^2 / (s^2 + sigma^2) with s = sigma = 1
        0.5
    """
    cov = validation.covariance_tensor(cov, "cov")
    sigma = validation.positive_number(sigma, "sigma")

    # Exercise: eq. (P5.6) — the posterior variance, per coordinate: for each eigenvalue
    # of cov, the eigenvalue times the noise variance over their sum, averaged over the
    # d directions; return a float.

    # $\lambda_i$, the variances along the principal axes
    eigenvalues = torch.linalg.eigvalsh(cov)
    # $\frac1d \sum_i \lambda_i\sigma^2 / (\lambda_i + \sigma^2)$
    return float(torch.mean(eigenvalues * sigma**2 / (eigenvalues + sigma**2)))


def tweedie_score(
    denoised: torch.Tensor, x_noisy: torch.Tensor, sigma: float | torch.Tensor
) -> torch.Tensor:
    r"""The score of the noisy data's density, from a denoiser: Tweedie's formula solved for $\nabla\log p_\sigma$.

    $$\nabla_{\tilde x}\log p_\sigma(\tilde x) = \frac{\mathbb E[x \mid \tilde x] - \tilde x}{\sigma^2}
    \approx \frac{D_\theta(\tilde x) - \tilde x}{\sigma^2}$$

    Exact when ``denoised`` is the best denoiser $\mathbb E[x \mid \tilde x]$ (Robbins 1956; Efron
    2011); with a trained $D_\theta$ it is the score estimate of denoising score matching
    (Vincent 2011). It points from the noisy point toward the data.

    Args:
        denoised: The denoiser's output $D(\tilde x)$, of the shape and dtype of ``x_noisy``.
        x_noisy: The noisy batch $\tilde x$, shape ``(B, ...)``.
        sigma: The noise level: a number, or one level per example (shape ``(B,)``).

    Returns:
        The score estimate, of the shape and dtype of ``x_noisy``.

    Raises:
        ValueError: if ``x_noisy`` or ``denoised`` is not a finite float tensor, they do not
            match, or ``sigma`` is not positive (or not one level per example).

    Examples:
        >>> tweedie_score(torch.tensor([[1.0]]), torch.tensor([[2.0]]), 0.5)  # (1 - 2) / 0.25
        tensor([[-4.]])
    """
    x_noisy = validation.float_tensor(x_noisy, "x_noisy")
    denoised = validation.same_shape(denoised, "denoised", x_noisy, "x_noisy")
    sigma = validation.noise_level(sigma, x_noisy)

    # Exercise: eq. (P5.7) — Tweedie's formula solved for the score: the step from the
    # noisy point to its denoised version, divided by the noise variance, each example
    # by its own sigma.

    # $\nabla\log p_\sigma(\tilde x) = (D(\tilde x) - \tilde x) / \sigma^2$
    return (denoised - x_noisy) / per_example(sigma, x_noisy) ** 2


class DenoisingAutoencoder(nn.Module):
    r"""A denoising autoencoder on flattened examples: an encoder to a small latent, a decoder back.

    $$\begin{gathered}
    D_\theta(\tilde x) = g_\theta\big(f_\theta(\tilde x)\big), \\
    f_\theta: \mathbb R^d \to \mathbb R^k,\quad g_\theta: \mathbb R^k \to \mathbb R^d
    \end{gathered}$$

    Each example is flattened to ``dim`` numbers (an 8×8 digit to 64) and the output is reshaped
    to the input's shape. The encoder and the decoder are multilayer perceptrons with SiLU
    activations and the widths ``hidden`` (the decoder's mirrored); with ``hidden=()`` both are
    linear maps, and the whole autoencoder is a linear map of rank at most ``latent``. With
    ``conditional=True`` the network also sees $\log\sigma$, appended to the input of the encoder
    and of the decoder, so that one network can denoise at every noise level.

    Args:
        dim: Number of entries $d$ of an example (64 for 8×8 images).
        latent: Size $k$ of the latent code; ``latent < dim`` compresses.
        hidden: Widths of the encoder's hidden layers (the decoder's, reversed).
        conditional: Whether the network is told the noise level $\sigma$.
        generator: If given, the source of the initial weights (PyTorch's default
            initialisation, $\mathcal U(\pm 1/\sqrt{\text{fan-in}})$, drawn from it), so that
            the same seed gives the same network.

    Raises:
        ValueError: if ``dim`` or ``latent`` is not a positive integer, a width in ``hidden`` is
            not, or ``generator`` is not a ``torch.Generator``; when called, if ``x`` does not
            hold ``dim`` numbers per example, or a conditional network gets no positive ``sigma``.

    Examples:
        >>> model = DenoisingAutoencoder(
        ...     dim=64, latent=8, generator=torch.Generator().manual_seed(0)
        ... )
        >>> model(torch.zeros(5, 1, 8, 8)).shape
        torch.Size([5, 1, 8, 8])
        >>> DenoisingAutoencoder(dim=64, latent=0)
        Traceback (most recent call last):
        ValueError: latent must be a positive integer, got 0
    """

    def __init__(
        self,
        dim: int = 64,
        latent: int = 16,
        hidden: tuple[int, ...] = (128,),
        conditional: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.dim = validation.positive_int(dim, "dim")
        self.latent = validation.positive_int(latent, "latent")
        if not isinstance(hidden, tuple | list):
            raise ValueError(
                f"hidden must be a tuple of layer widths such as (128,), got {hidden!r}"
            )
        self.hidden = tuple(validation.positive_int(width, "hidden") for width in hidden)
        self.conditional = bool(conditional)
        extra = 1 if self.conditional else 0  # log sigma, appended where the network reads
        # $f_\theta$: the encoder, from the (noisy) example to the latent code
        self.encoder = self.perceptron([self.dim + extra, *self.hidden, self.latent])
        # $g_\theta$: the decoder, from the latent code back to an example
        self.decoder = self.perceptron([self.latent + extra, *reversed(self.hidden), self.dim])
        if generator is not None:
            generator = validation.torch_generator(generator)
            with torch.no_grad():
                for layer in self.modules():
                    if isinstance(layer, nn.Linear):
                        bound = 1.0 / math.sqrt(layer.in_features)
                        layer.weight.uniform_(-bound, bound, generator=generator)
                        layer.bias.uniform_(-bound, bound, generator=generator)

    @staticmethod
    def perceptron(widths: list[int]) -> nn.Sequential:
        """Linear layers of the given widths with a SiLU between two of them (none after the last)."""
        layers: list[nn.Module] = []
        for fan_in, fan_out in itertools.pairwise(widths):
            layers += [nn.Linear(fan_in, fan_out), nn.SiLU()]
        return nn.Sequential(*layers[:-1])

    def encode(self, x: torch.Tensor, sigma: float | torch.Tensor | None = None) -> torch.Tensor:
        r"""The latent code $f_\theta(\tilde x)$ of each example of ``x``, shape ``(B, latent)``."""
        x = validation.example_size(x, self.dim, "x")
        flat = x.reshape(x.shape[0], self.dim)
        return self.encoder(self.with_noise_level(flat, sigma))

    def decode(self, z: torch.Tensor, sigma: float | torch.Tensor | None = None) -> torch.Tensor:
        r"""Examples $g_\theta(z)$ from latent codes ``z`` of shape ``(B, latent)``, flattened: ``(B, dim)``."""
        return self.decoder(self.with_noise_level(z, sigma))

    def forward(self, x: torch.Tensor, sigma: float | torch.Tensor | None = None) -> torch.Tensor:
        r"""Denoise ``x`` (shape ``(B, ...)``, ``dim`` numbers per example): $g_\theta(f_\theta(\tilde x))$.

        ``sigma`` (a number or one level per example) is required when the network is
        conditional and ignored when it is not.
        """
        # $D_\theta(\tilde x) = g_\theta(f_\theta(\tilde x))$, in the shape of the input
        return self.decode(self.encode(x, sigma), sigma).reshape(x.shape)

    def with_noise_level(self, features: torch.Tensor, sigma: object) -> torch.Tensor:
        r"""``features`` ``(B, n)`` with a column of $\log\sigma$ appended if the network is conditional."""
        if not self.conditional:
            return features
        if sigma is None:
            raise ValueError("sigma must be given to a conditional denoiser, got None")
        log_sigma = validation.noise_level(sigma, features).log()
        return torch.cat([features, log_sigma.unsqueeze(1)], dim=1)


def train_denoiser(
    model: nn.Module,
    data: torch.Tensor,
    sigma: float | tuple[float, float],
    generator: torch.Generator,
    steps: int = 2000,
    batch_size: int = 128,
    lr: float = 2e-3,
    progress: bool | None = None,
) -> list[float]:
    r"""Train a denoiser with the denoising loss (P5.3): minibatches, Adam, a cosine-decaying rate.

    Each step draws ``batch_size`` examples of ``data`` (with replacement), a noise level for
    each, fresh noise, and takes an Adam step on
    [`denoising_loss`][diffusion_path.foundations.denoising.denoising_loss]. The learning rate
    decays from ``lr`` to zero along a cosine, which lets the last steps settle.

    Args:
        model: The denoiser, called as ``model(x_noisy, sigma)``; trained in place, and left
            in eval mode.
        data: The clean training set, shape ``(N, ...)``.
        sigma: One noise level for every example, or a pair ``(low, high)``: each example's
            level is then drawn log-uniformly between them, for a conditional model.
        generator: The source of randomness for batches, levels and noise.
        steps: Number of optimisation steps.
        batch_size: Examples per step.
        lr: Peak learning rate.
        progress: Show a progress bar (``None``: only in a terminal, for 2000 steps or more).

    Returns:
        The loss of every step.

    Raises:
        ValueError: if ``data`` is not a finite float tensor, ``sigma`` is not a positive number
            or an increasing pair of them, ``generator`` is not a ``torch.Generator``, or
            ``steps``, ``batch_size`` or ``lr`` is not positive.

    Examples:
        >>> gen = torch.Generator().manual_seed(0)
        >>> model = DenoisingAutoencoder(dim=2, latent=2, hidden=(), generator=gen)
        >>> losses = train_denoiser(model, torch.randn(256, 2, generator=gen), 0.5, gen, steps=50)
        >>> len(losses), sum(losses[-10:]) < sum(losses[:10])
        (50, True)
    """
    data = validation.float_tensor(data, "data", min_dim=2)
    if isinstance(sigma, tuple | list):
        if len(sigma) != 2:
            raise ValueError(f"sigma must be a number or a pair (low, high), got {sigma!r}")
        low, high = (validation.positive_number(s, "sigma") for s in sigma)
        if not low < high:
            raise ValueError(f"sigma must be a pair (low, high) with low < high, got {sigma!r}")
    else:
        low = high = validation.positive_number(sigma, "sigma")
    generator = validation.torch_generator(generator)
    steps = validation.positive_int(steps, "steps")
    batch_size = validation.positive_int(batch_size, "batch_size")
    lr = validation.positive_number(lr, "lr")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    losses = []
    model.train()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matrices: more threads only wait for each other
    try:
        # gradients on even inside a caller's torch.no_grad(); the loop's inputs are made here
        with torch.enable_grad(), validation.trusted():
            for _ in progress_bar(range(steps), show=progress, desc="training", min_items=2000):
                index = torch.randint(0, data.shape[0], (batch_size,), generator=generator)
                x = data[index]
                # $\log\sigma \sim \mathcal U[\log\sigma_{\min}, \log\sigma_{\max}]$
                u = torch.rand(batch_size, generator=generator, dtype=x.dtype)
                levels = low * (high / low) ** u
                loss = denoising_loss(model, x, levels, generator=generator)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                scheduler.step()
                losses.append(loss.item())
    finally:
        torch.set_num_threads(threads)
    model.eval()
    return losses
