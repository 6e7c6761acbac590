r"""Pre-Task 4: variational autoencoders — the evidence lower bound, in PyTorch.

A latent-variable model draws a code $z \sim p(z) = \mathcal N(0, I)$ and then the data
$x \sim p_\theta(x \mid z)$ from a decoder network. Its likelihood
$p_\theta(x) = \int p_\theta(x \mid z)\,p(z)\,dz$ has no closed form, so an encoder network
proposes where the codes of $x$ lie, $q_\phi(z \mid x) = \mathcal N(\mu_\phi(x),
\operatorname{diag}\sigma^2_\phi(x))$, and Jensen's inequality gives the evidence lower bound
([Kingma & Welling](https://arxiv.org/abs/1312.6114) eq. (3)):

$$\log p_\theta(x) \ge \mathbb E_{q_\phi(z \mid x)}\big[\log p_\theta(x \mid z)\big]
- D_{\mathrm{KL}}\big(q_\phi(z \mid x)\,\|\,p(z)\big).$$

The first term is estimated with one reparameterised sample $z = \mu + \sigma \odot \varepsilon$
(gradients flow through it); the second is the KL divergence between two diagonal Gaussians, in
closed form. Averaging $k$ importance weights instead of their logarithms gives the tighter bound
of [Burda et al.](https://arxiv.org/abs/1509.00519); annealed importance sampling (Pre-Task 2)
estimates $\log p_\theta(x)$ itself.

The KL term and the likelihoods work elementwise on tensors of any shape, so that Core Task 4
reuses them for the terms of the DDPM bound. The models here are small MLPs for 8×8 digits;
the data of a Bernoulli decoder are 0/1 pixels.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from diffusion_path.foundations.sampling import annealed_importance_sampling, log_z_estimate
from diffusion_path.tools import validation
from diffusion_path.tools.progress import progress_bar

__all__ = [
    "PPCA",
    "VAE",
    "ais_log_likelihood",
    "bernoulli_log_likelihood",
    "elbo",
    "gaussian_log_likelihood",
    "iwae_bound",
    "normal_kl",
    "reparameterize",
    "train_vae",
]

#: The decoders a ``VAE`` can have: Bernoulli pixels (0/1 data) or Gaussian pixels.
LIKELIHOODS = ("bernoulli", "gaussian")
#: Where AIS starts its particles: the prior $p(z)$ or the encoder's $q(z \mid x)$.
PROPOSALS = ("prior", "encoder")


def normal_kl(
    mean1: torch.Tensor, logvar1: torch.Tensor, mean2: torch.Tensor, logvar2: torch.Tensor
) -> torch.Tensor:
    r"""KL divergence between diagonal Gaussians, elementwise, in nats (Kingma & Welling, Appendix B).

    $$D_{\mathrm{KL}}\big(\mathcal N(\mu_1, \sigma_1^2)\,\|\,\mathcal N(\mu_2, \sigma_2^2)\big)
    = \tfrac12\Big[\log\frac{\sigma_2^2}{\sigma_1^2}
    + \frac{\sigma_1^2 + (\mu_1 - \mu_2)^2}{\sigma_2^2} - 1\Big]$$

    Pre-Task 1's closed form, eq. (P1.6), for diagonal covariances, one coordinate at a time:
    the KL of two diagonal Gaussians is the sum of this over the coordinates. Against the prior,
    $\mu_2 = 0$ and $\log\sigma_2^2 = 0$, it is Kingma & Welling's
    $-\tfrac12(1 + \log\sigma_1^2 - \mu_1^2 - \sigma_1^2)$; Core Task 4 uses it for the KL
    terms of the DDPM bound (DDPM eq. (5)).

    Args:
        mean1: Mean $\mu_1$ of the first Gaussian, any shape.
        logvar1: Its log-variance $\log\sigma_1^2$.
        mean2: Mean $\mu_2$ of the second Gaussian.
        logvar2: Its log-variance $\log\sigma_2^2$.

    Returns:
        The divergence of each coordinate, a tensor of the four arguments' broadcast shape
        (sum it over the axes of one example for the KL of the whole vector).

    Raises:
        ValueError: if ``mean1``, ``logvar1``, ``mean2`` or ``logvar2`` is not a finite float
            tensor of ``mean1``'s dtype, or their shapes do not broadcast together.

    Examples:
        >>> zero = torch.zeros(1)
        >>> normal_kl(torch.tensor([1.0]), zero, zero, zero)  # (mu_1 - mu_2)^2 / 2
        tensor([0.5000])
        >>> normal_kl(zero, torch.tensor([math.log(4.0)]), zero, zero)  # (log(1/4) + 4 - 1) / 2
        tensor([0.8069])
    """
    mean1, logvar1, mean2, logvar2 = validation.broadcastable(
        mean1=mean1, logvar1=logvar1, mean2=mean2, logvar2=logvar2
    )

    # Exercise: eq. (P4.4) — the KL divergence of each coordinate, from the two means and
    # log-variances: half of the second log-variance minus the first, plus the first variance
    # over the second, plus the squared difference of the means over the second variance,
    # minus one. Write each ratio of variances as the exponential of a difference of
    # log-variances; keep every entry (the caller sums).

    # $\frac12\big[\log\sigma_2^2 - \log\sigma_1^2 + e^{\log\sigma_1^2 - \log\sigma_2^2}
    #   + (\mu_1 - \mu_2)^2 e^{-\log\sigma_2^2} - 1\big]$
    return 0.5 * (
        logvar2
        - logvar1
        + torch.exp(logvar1 - logvar2)
        + (mean1 - mean2) ** 2 * torch.exp(-logvar2)
        - 1.0
    )


def reparameterize(
    mean: torch.Tensor,
    logvar: torch.Tensor,
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""A sample of $\mathcal N(\mu, \operatorname{diag}\sigma^2)$ that gradients flow through (Kingma & Welling eq. (10)).

    $$\begin{gathered}
    z = \mu + \sigma \odot \varepsilon, \qquad \sigma = e^{\frac12\log\sigma^2}, \\
    \varepsilon \sim \mathcal N(0, I)
    \end{gathered}$$

    The randomness is in $\varepsilon$ alone, which does not depend on $\mu$ or $\sigma$, so
    $\partial z / \partial\mu = 1$ and $\partial z / \partial\log\sigma^2 = \tfrac12\sigma\varepsilon$:
    the sample is a differentiable function of the encoder's outputs. This is Pre-Task 1's
    $\mu + L\varepsilon$, eq. (P1.4), with a diagonal $L$.

    Args:
        mean: The mean $\mu$, any shape.
        logvar: The log-variance $\log\sigma^2$, of the shape and dtype of ``mean``.
        generator: The source of $\varepsilon$, required when ``noise`` is ``None``.
        noise: The standard normal $\varepsilon$ to use, of the shape and dtype of ``mean``.

    Returns:
        $z$, of the shape and dtype of ``mean``.

    Raises:
        ValueError: if ``mean`` or ``logvar`` is not a finite float tensor or they do not match,
            ``noise`` does not match ``mean``, or neither ``noise`` nor a ``generator`` is given.

    Examples:
        >>> mean, logvar = torch.tensor([1.0]), torch.tensor([math.log(4.0)])
        >>> reparameterize(mean, logvar, noise=torch.tensor([0.5]))  # 1 + 2 * 0.5
        tensor([2.])
    """
    mean = validation.float_tensor(mean, "mean", min_dim=0)
    logvar = validation.same_shape(logvar, "logvar", mean, "mean")
    eps = validation.noise_or_draw(noise, generator, mean, "mean")

    # Exercise: eq. (P4.5) — shift the standard normal noise eps by the mean after scaling it by
    # the standard deviation, which is the exponential of half the log-variance. Keep it one
    # expression of mean and logvar, so that gradients reach both.

    # $z = \mu + e^{\frac12\log\sigma^2}\varepsilon$
    return mean + torch.exp(0.5 * logvar) * eps


def gaussian_log_likelihood(
    x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor
) -> torch.Tensor:
    r"""Log-density of $\mathcal N(\mu, \sigma^2)$ at ``x``, elementwise, in nats (Kingma & Welling, Appendix C.2).

    $$\log\mathcal N(x; \mu, \sigma^2) = -\tfrac12\Big[\log 2\pi + \log\sigma^2
    + \frac{(x - \mu)^2}{\sigma^2}\Big]$$

    Pre-Task 1's eq. (P1.1) in logs, one coordinate at a time. It serves as a Gaussian decoder's
    $\log p(x \mid z)$ (for real-valued data), and for the densities of codes, $\log q(z \mid x)$
    and $\log p(z)$ (with $\mu = 0$, $\log\sigma^2 = 0$).

    Args:
        x: The points, any shape.
        mean: The mean $\mu$, broadcastable with ``x``.
        logvar: The log-variance $\log\sigma^2$, broadcastable with ``x``.

    Returns:
        The log-density of each coordinate, of the three arguments' broadcast shape (sum it
        over the axes of one example for the density of the whole vector).

    Raises:
        ValueError: if ``x``, ``mean`` or ``logvar`` is not a finite float tensor of ``x``'s
            dtype, or their shapes do not broadcast together.

    Examples:
        >>> zero = torch.zeros(1)
        >>> gaussian_log_likelihood(zero, zero, zero)  # -log(2 pi) / 2
        tensor([-0.9189])
        >>> gaussian_log_likelihood(torch.tensor([2.0]), zero, torch.tensor([math.log(4.0)]))
        tensor([-2.1121])
    """
    x, mean, logvar = validation.broadcastable(x=x, mean=mean, logvar=logvar)

    # Exercise: eq. (P4.7) — the log of the Gaussian density at every entry of x: the log of
    # two pi and the log-variance, plus the squared distance to the mean in units of the
    # variance, all times minus one half.

    # $-\frac12\big[\log 2\pi + \log\sigma^2 + (x - \mu)^2 e^{-\log\sigma^2}\big]$
    return -0.5 * (math.log(2.0 * math.pi) + logvar + (x - mean) ** 2 * torch.exp(-logvar))


def bernoulli_log_likelihood(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    r"""Log-probability of pixels ``x`` under Bernoulli laws with the given logits, elementwise (Kingma & Welling, Appendix C.1).

    With $\pi = \operatorname{sigmoid}(\ell) = 1 / (1 + e^{-\ell})$ the probability that a pixel
    is 1,

    $$\log p(x \mid \ell) = x\log\pi + (1 - x)\log(1 - \pi) = x\,\ell - \log(1 + e^{\ell}),$$

    the second form computed with ``softplus``, which stays finite for any logit (the first
    gives $0 \cdot (-\infty)$ once $\pi$ rounds to 0 or 1). For 0/1 pixels this is a log
    probability; for grey levels in between it is the negative binary cross-entropy, which is
    not the log of a normalised density.

    Args:
        x: The pixels, 0 or 1 (values in $[0, 1]$ are accepted), any shape. Images on the
            model's scale $[-1, 1]$ must be mapped to $[0, 1]$ first.
        logits: The decoder's logits $\ell$, broadcastable with ``x``.

    Returns:
        The log-probability of each pixel, of the broadcast shape (sum it over the pixels of
        one image for $\log p(x \mid z)$).

    Raises:
        ValueError: if ``x`` is not a finite float tensor with values in $[0, 1]$, or ``logits``
            is not a finite float tensor of its dtype that broadcasts with it.

    Examples:
        >>> bernoulli_log_likelihood(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 0.0]))  # log 1/2
        tensor([-0.6931, -0.6931])
        >>> bernoulli_log_likelihood(torch.tensor([1.0]), torch.tensor([200.0]))  # pi = 1
        tensor([0.])
    """
    x, logits = validation.broadcastable(x=x, logits=logits)
    x = validation.probabilities(x, "x")

    # Exercise: eq. (P4.6), second form — x times the logit, minus the log of one plus the
    # exponential of the logit, computed stably with softplus (never through the sigmoid's
    # log, which is minus infinity once the sigmoid rounds to 0 or 1).

    # $x\ell - \log(1 + e^{\ell})$
    return x * logits - nn.functional.softplus(logits)


class VAE(nn.Module):
    r"""A variational autoencoder for small images: MLP encoder and decoder, Gaussian codes.

    The encoder maps an image to the mean and log-variance of $q_\phi(z \mid x) =
    \mathcal N(\mu_\phi(x), \operatorname{diag}\sigma^2_\phi(x))$: one network whose last layer
    has $2J$ outputs, read as $[\mu, \log\sigma^2]$. The decoder maps a code to the parameters of
    $p_\theta(x \mid z)$: the logit of every pixel (``"bernoulli"``, for 0/1 pixels) or its mean,
    with one learned log-variance shared by all pixels (``"gaussian"``, for real values). The
    prior is $p(z) = \mathcal N(0, I)$.

    Attributes:
        encoder: ``nn.Sequential`` from a flattened image to $2J$ numbers.
        decoder: ``nn.Sequential`` from a code to one number per pixel.
        decoder_logvar: The Gaussian decoder's log-variance (a scalar parameter), or ``None``.

    Args:
        image_shape: Shape of one image, e.g. ``(1, 8, 8)``.
        latent_dim: Dimension $J \ge 1$ of the code $z$.
        hidden: Width of the hidden layers.
        depth: Number of hidden layers of each network (0: linear maps).
        likelihood: ``"bernoulli"`` or ``"gaussian"``.
        generator: If given, the source of the initial weights (PyTorch's default
            initialisation, $\mathcal U(\pm 1/\sqrt{\text{fan-in}})$, drawn from it).

    Raises:
        ValueError: if ``image_shape`` is not a tuple of positive ints, ``latent_dim``,
            ``hidden`` or ``depth`` is not a valid count, ``likelihood`` is unknown or
            ``generator`` is not a ``torch.Generator``.

    Examples:
        >>> model = VAE((1, 8, 8), latent_dim=2, generator=torch.Generator().manual_seed(0))
        >>> mean, logvar = model.encode(torch.zeros(5, 1, 8, 8))
        >>> mean.shape, model.log_likelihood(torch.zeros(5, 1, 8, 8), mean).shape
        (torch.Size([5, 2]), torch.Size([5]))
        >>> VAE(latent_dim=0)
        Traceback (most recent call last):
        ValueError: latent_dim must be a positive integer, got 0
    """

    def __init__(
        self,
        image_shape: tuple[int, ...] = (1, 8, 8),
        latent_dim: int = 2,
        hidden: int = 256,
        depth: int = 2,
        likelihood: str = "bernoulli",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.image_shape = validation.shape_tuple(image_shape, "image_shape")
        self.latent_dim = validation.positive_int(latent_dim, "latent_dim")
        self.likelihood = validation.one_of(likelihood, LIKELIHOODS, "likelihood")
        hidden = validation.positive_int(hidden, "hidden")
        depth = validation.integer(depth, "depth", minimum=0)
        pixels = math.prod(self.image_shape)

        def mlp(n_in: int, n_out: int) -> nn.Sequential:
            layers: list[nn.Module] = []
            for _ in range(depth):
                layers += [nn.Linear(n_in, hidden), nn.SiLU()]
                n_in = hidden
            return nn.Sequential(*layers, nn.Linear(n_in, n_out))

        self.encoder = mlp(pixels, 2 * self.latent_dim)
        self.decoder = mlp(self.latent_dim, pixels)
        self.decoder_logvar = (
            nn.Parameter(torch.zeros(())) if self.likelihood == "gaussian" else None
        )
        if generator is not None:
            generator = validation.torch_generator(generator)
            with torch.no_grad():
                for layer in [*self.encoder, *self.decoder]:
                    if isinstance(layer, nn.Linear):
                        bound = 1.0 / math.sqrt(layer.in_features)
                        layer.weight.uniform_(-bound, bound, generator=generator)
                        layer.bias.uniform_(-bound, bound, generator=generator)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r"""The mean and log-variance of $q_\phi(z \mid x)$, each of shape ``(B, J)``, for images ``x`` of shape ``(B, *image_shape)``.

        Raises:
            ValueError: if ``x`` is not a finite float tensor of shape ``(B, *image_shape)``.
        """
        x = validation.batch_of(x, self.image_shape, "x")
        # $[\mu_\phi(x), \log\sigma^2_\phi(x)]$, the two halves of the encoder's output
        mean, logvar = self.encoder(x.flatten(1)).chunk(2, dim=-1)
        return mean, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        r"""The decoder's mean image $\mathbb E[x \mid z]$ for codes ``z`` of shape ``(..., J)``: shape ``(..., *image_shape)``.

        For a Bernoulli decoder this is the probability of each pixel, the sigmoid of its logit.

        Raises:
            ValueError: if ``z`` is not a finite float tensor whose last axis has ``latent_dim``
                entries.
        """
        z = validation.float_tensor(z, "z")
        if z.shape[-1] != self.latent_dim:
            raise ValueError(
                f"z must have {self.latent_dim} entries on its last axis, got shape {tuple(z.shape)}"
            )
        out = self.decoder(z).reshape(*z.shape[:-1], *self.image_shape)
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        r"""$\log p_\theta(x \mid z)$ summed over the pixels of each image, for ``z`` of shape ``(..., B, J)``: shape ``(..., B)``.

        The leading axes of ``z`` let one call score several codes per image (importance
        sampling draws $k$ of them).

        Raises:
            ValueError: if ``x`` is not a batch of images of ``image_shape`` (with values in
                $[0, 1]$ for a Bernoulli decoder), or ``z`` does not have shape ``(..., B, J)``.
        """
        x = validation.batch_of(x, self.image_shape, "x")
        z = validation.float_tensor(z, "z", min_dim=2)
        if tuple(z.shape[-2:]) != (x.shape[0], self.latent_dim):
            raise ValueError(
                f"z must have shape (..., {x.shape[0]}, {self.latent_dim}), one code per image "
                f"of x, got {tuple(z.shape)}"
            )
        out = self.decoder(z).reshape(*z.shape[:-1], *self.image_shape)
        if self.likelihood == "bernoulli":
            # $\sum_i x_i\ell_i - \log(1 + e^{\ell_i})$
            per_pixel = bernoulli_log_likelihood(x.expand_as(out), out)
        else:
            # $\sum_i \log\mathcal N(x_i; \mu_i, \sigma^2)$
            per_pixel = gaussian_log_likelihood(
                x.expand_as(out), out, self.decoder_logvar.expand_as(out)
            )
        return per_pixel.flatten(-len(self.image_shape)).sum(-1)


class PPCA:
    r"""Probabilistic PCA: a linear-Gaussian latent-variable model whose likelihood and posterior are exact (Tipping & Bishop).

    $$z \sim \mathcal N(0, I_d), \qquad x = Wz + \mu + \sigma\varepsilon, \quad
    \varepsilon \sim \mathcal N(0, I_D)$$

    Then $p(x) = \mathcal N(x; \mu, WW^\top + \sigma^2 I)$ and
    $p(z \mid x) = \mathcal N\big(M^{-1}W^\top(x - \mu), \sigma^2 M^{-1}\big)$ with
    $M = W^\top W + \sigma^2 I$. When the columns of $W$ are orthogonal, $M$ is diagonal and so is
    the posterior: a diagonal-Gaussian encoder can then be exact. It has the two methods the
    bounds need, ``encode`` and ``log_likelihood``, so it is a VAE whose decoder is linear and
    whose encoder is either the true posterior or the prior: the ground truth for
    [`elbo`][diffusion_path.foundations.vae.elbo],
    [`iwae_bound`][diffusion_path.foundations.vae.iwae_bound] and
    [`ais_log_likelihood`][diffusion_path.foundations.vae.ais_log_likelihood].

    Args:
        W: The loading matrix $W$, shape ``(d, J)``: data of $d$ dimensions, codes of $J$.
        mu: The mean $\mu$, shape ``(d,)``.
        sigma: The noise standard deviation $\sigma > 0$.
        posterior: Encode with the true posterior (``True``; needs orthogonal columns of
            ``W``) or with the prior $\mathcal N(0, I)$ (``False``).

    Raises:
        ValueError: if ``W`` is not a finite ``(d, J)`` float tensor, ``mu`` not a ``(d,)``
            tensor of its dtype, ``sigma`` not a number > 0, or ``W``'s columns are not
            orthogonal when ``posterior`` is asked for.

    Examples:
        >>> model = PPCA(torch.tensor([[2.0], [0.0]]), torch.zeros(2), 1.0)
        >>> x = torch.tensor([[1.0, 0.0]])
        >>> model.log_marginal(x)  # log N(1; 0, 5) + log N(0; 0, 1)
        tensor([-2.7426])
        >>> bound, _, _ = elbo(x, model, noise=torch.zeros(1, 1))
        >>> float(
        ...     model.log_marginal(x) - bound
        ... )  # the variance term tr(W S W^T) / (2 sigma^2) is missing
        -0.4
    """

    def __init__(
        self, W: torch.Tensor, mu: torch.Tensor, sigma: float, posterior: bool = True
    ) -> None:
        self.W = validation.float_tensor(W, "W", min_dim=2)
        if self.W.ndim != 2:
            raise ValueError(f"W must have shape (d, J), got {tuple(self.W.shape)}")
        self.mu = validation.same_shape(mu, "mu", self.W[:, 0], "a column of W")
        self.sigma = validation.positive_number(sigma, "sigma")
        self.posterior = bool(posterior)
        gram = self.W.T @ self.W
        if self.posterior and not torch.allclose(
            gram, torch.diag(torch.diagonal(gram)), atol=1e-6 * float(gram.abs().max())
        ):
            raise ValueError("W must have orthogonal columns for the posterior to be diagonal")
        # $M = W^\top W + \sigma^2 I$, diagonal
        self.M = torch.diagonal(gram) + self.sigma**2

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Mean and log-variance of $p(z \mid x)$ (or of the prior), each of shape ``(B, J)``."""
        x = validation.batch_of(x, tuple(self.mu.shape), "x")
        d = self.W.shape[1]
        if not self.posterior:
            zero = torch.zeros(x.shape[0], d, dtype=x.dtype)
            return zero, zero.clone()
        # $M^{-1}W^\top(x - \mu)$ and $\log(\sigma^2 / M_{jj})$
        mean = (x - self.mu) @ self.W / self.M
        logvar = torch.log(self.sigma**2 / self.M).expand(x.shape[0], d)
        return mean, logvar.to(x.dtype)

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        r"""$\log\mathcal N(x; Wz + \mu, \sigma^2 I)$ for ``z`` of shape ``(..., B, J)``: shape ``(..., B)``."""
        x = validation.batch_of(x, tuple(self.mu.shape), "x")
        # $\sum_i \log\mathcal N(x_i; (Wz + \mu)_i, \sigma^2)$
        residual = x - (z @ self.W.T + self.mu)
        D = x.shape[-1]
        return -0.5 * (
            (residual**2).sum(-1) / self.sigma**2 + D * math.log(2 * math.pi * self.sigma**2)
        )

    def log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        r"""The exact $\log p(x) = \log\mathcal N(x; \mu, WW^\top + \sigma^2 I)$, shape ``(B,)``."""
        x = validation.batch_of(x, tuple(self.mu.shape), "x")
        cov = self.W @ self.W.T + self.sigma**2 * torch.eye(x.shape[-1], dtype=self.W.dtype)
        return torch.distributions.MultivariateNormal(self.mu, cov).log_prob(x)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        r"""``n`` draws of $x = Wz + \mu + \sigma\varepsilon$, shape ``(n, D)``."""
        n = validation.positive_int(n, "n")
        generator = validation.torch_generator(generator)
        z = torch.randn(n, self.W.shape[1], generator=generator, dtype=self.W.dtype)
        eps = torch.randn(n, self.W.shape[0], generator=generator, dtype=self.W.dtype)
        return z @ self.W.T + self.mu + self.sigma * eps


def elbo(
    x: torch.Tensor,
    model: VAE,
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""One-sample estimate of the evidence lower bound of each example, and its two terms (Kingma & Welling eqs. (3), (10)).

    $$\begin{gathered}
    \mathcal L(x) = \log p_\theta(x \mid z) - D_{\mathrm{KL}}\big(q_\phi(z \mid x)\,\|\,p(z)\big), \\
    z = \mu_\phi(x) + \sigma_\phi(x) \odot \varepsilon
    \end{gathered}$$

    The reconstruction term is estimated with one reparameterised code per example; the KL term
    is exact ([`normal_kl`][diffusion_path.foundations.vae.normal_kl] summed over the code's
    coordinates). The estimate is unbiased
    for the ELBO, and the ELBO is at most $\log p_\theta(x)$, with equality exactly when
    $q_\phi(z \mid x)$ is the true posterior. Training maximises it: the loss is
    $-\mathcal L$ averaged over a batch.

    Args:
        x: A batch of examples, shape ``(B, ...)`` as ``model`` takes it.
        model: The model: ``model.encode(x)`` gives the mean and log-variance of
            $q_\phi(z \mid x)$, shape ``(B, J)`` each, and ``model.log_likelihood(x, z)`` gives
            $\log p_\theta(x \mid z)$, shape ``(B,)`` (a
            [`VAE`][diffusion_path.foundations.vae.VAE], or any object with these two methods).
        generator: The source of $\varepsilon$, required when ``noise`` is ``None``.
        noise: The standard normal $\varepsilon$, shape ``(B, J)``.

    Returns:
        ``(elbo, reconstruction, kl)``, each of shape ``(B,)``, in nats, with
        ``elbo = reconstruction - kl``.

    Raises:
        ValueError: if ``x`` is not a finite float tensor (of the shape ``model`` takes),
            ``model`` lacks ``encode`` or ``log_likelihood``, ``noise`` does not have the shape
            of the codes, or neither ``noise`` nor a ``generator`` is given.

    Examples:
        >>> model = VAE((1, 2, 2), latent_dim=1, generator=torch.Generator().manual_seed(0))
        >>> x = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]]])
        >>> bound, reconstruction, kl = elbo(x, model, generator=torch.Generator().manual_seed(0))
        >>> bound.shape, bool(kl >= 0), torch.allclose(bound, reconstruction - kl)
        (torch.Size([1]), True, True)
    """
    x = validation.float_tensor(x, "x")
    model = validation.latent_model(model, "model")

    # Exercise: eqs. (P4.8), (P4.3) — encode x into the mean and log-variance of the encoder's
    # Gaussian q; draw one code per example with your reparameterize (passing generator and
    # noise on); the reconstruction term is the model's log-likelihood of x given that code;
    # the KL term is your normal_kl from q to the standard normal prior, summed over the
    # code's coordinates. Return the ELBO (reconstruction minus KL) and the two terms, one
    # number per example each.

    # $\mu_\phi(x), \log\sigma^2_\phi(x)$
    mean, logvar = model.encode(x)
    # $z = \mu + \sigma \odot \varepsilon$
    z = reparameterize(mean, logvar, generator=generator, noise=noise)
    # $\log p_\theta(x \mid z)$
    reconstruction = model.log_likelihood(x, z)
    # $D_{\mathrm{KL}}(q_\phi(z \mid x) \,\|\, \mathcal N(0, I))$, summed over the code
    kl = normal_kl(mean, logvar, torch.zeros_like(mean), torch.zeros_like(logvar)).sum(-1)
    return reconstruction - kl, reconstruction, kl


def iwae_bound(
    x: torch.Tensor,
    model: VAE,
    k: int,
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""The importance-weighted bound $\mathcal L_k$ of each example, one estimate (Burda et al., Sec. 3).

    $$\begin{gathered}
    \mathcal L_k(x) = \log\frac1k\sum_{i=1}^k w_i, \\
    w_i = \frac{p_\theta(x \mid z_i)\,p(z_i)}{q_\phi(z_i \mid x)}, \\
    z_i = \mu_\phi(x) + \sigma_\phi(x) \odot \varepsilon_i
    \end{gathered}$$

    Pre-Task 2's importance sampling, eq. (P2.6), with $q_\phi(z \mid x)$ as the proposal and
    $p_\theta(x, z)$ as the unnormalised target: the mean weight is unbiased for $p_\theta(x)$,
    and its log is a stochastic lower bound (P2.13). In expectation
    $\mathcal L_1 = \text{ELBO} \le \mathcal L_k \le \mathcal L_{k+1} \le \log p_\theta(x)$
    (Burda et al., Theorem 1), and $\mathcal L_k \to \log p_\theta(x)$ as $k \to \infty$.

    Args:
        x: A batch of examples, shape ``(B, ...)`` as ``model`` takes it.
        model: The model, with ``encode`` and ``log_likelihood`` as in
            [`elbo`][diffusion_path.foundations.vae.elbo].
        k: Number of codes per example, $k \ge 1$.
        generator: The source of the $\varepsilon_i$, required when ``noise`` is ``None``.
        noise: The standard normal $\varepsilon_i$, shape ``(k, B, J)``.

    Returns:
        $\mathcal L_k$ of each example, shape ``(B,)``, in nats.

    Raises:
        ValueError: if ``x`` is not a finite float tensor (of the shape ``model`` takes),
            ``model`` lacks ``encode`` or ``log_likelihood``, ``k`` is not a positive int,
            ``noise`` does not have shape ``(k, B, J)``, or neither ``noise`` nor a
            ``generator`` is given.

    Examples:
        >>> model = VAE((1, 2, 2), latent_dim=1, generator=torch.Generator().manual_seed(0))
        >>> x = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]]])
        >>> iwae_bound(x, model, 50, generator=torch.Generator().manual_seed(0)).shape
        torch.Size([1])
    """
    x = validation.float_tensor(x, "x")
    model = validation.latent_model(model, "model")
    k = validation.positive_int(k, "k")

    # Exercise: eq. (P4.9) — encode x once; draw k codes per example with your reparameterize
    # (the mean and log-variance repeated along a new first axis of length k; noise, when
    # given, has that shape). The log-weight of each code is the model's log-likelihood of x
    # plus the log-density of the code under the standard normal prior minus its log-density
    # under the encoder's Gaussian q, both with your gaussian_log_likelihood summed over the
    # code's coordinates. Return the log of the mean weight over the k codes, computed stably.

    # $\mu_\phi(x), \log\sigma^2_\phi(x)$, repeated for the $k$ codes
    mean, logvar = model.encode(x)
    mean, logvar = mean.expand(k, *mean.shape), logvar.expand(k, *logvar.shape)
    # $z_i = \mu + \sigma \odot \varepsilon_i$, shape $(k, B, J)$
    z = reparameterize(mean, logvar, generator=generator, noise=noise)
    zero = torch.zeros_like(z)
    # $\log w_i = \log p_\theta(x \mid z_i) + \log p(z_i) - \log q_\phi(z_i \mid x)$
    log_w = (
        model.log_likelihood(x, z)
        + gaussian_log_likelihood(z, zero, zero).sum(-1)
        - gaussian_log_likelihood(z, mean, logvar).sum(-1)
    )
    # $\log \frac1k \sum_i w_i$
    return torch.logsumexp(log_w, dim=0) - math.log(k)


def ais_log_likelihood(
    x: torch.Tensor,
    model: VAE,
    inverse_temperatures: np.ndarray,
    n: int,
    generator: torch.Generator,
    *,
    proposal: str = "encoder",
    n_mcmc: int = 1,
    step_size: float = 0.5,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Estimate $\log p_\theta(x)$ of each example by annealed importance sampling (Wu et al., 2017).

    As a function of the code, the joint $f(z) = p_\theta(x \mid z)\,p(z)$ is an unnormalised
    density whose normaliser is the likelihood, $\int f(z)\,dz = p_\theta(x)$. Pre-Task 2's
    [`annealed_importance_sampling`][diffusion_path.foundations.sampling.annealed_importance_sampling]
    estimates it, one example at a time, from a start distribution
    $\mathcal N(m, \operatorname{diag}s^2)$: the prior ($m = 0$, $s = 1$, as Wu et al. do) or
    the encoder's $q_\phi(z \mid x)$, which starts the particles where the posterior is.

    The annealing runs in standardised coordinates $u = (z - m) / s$, where the start is
    $\mathcal N(0, I)$ and one Metropolis–Hastings step size fits every example and every
    coordinate. The change of variables multiplies the density by $\prod_j s_j$:

    $$\begin{gathered}
    f_u(u) = p_\theta(x \mid m + s \odot u)\,p(m + s \odot u)\prod_j s_j, \\
    \int f_u(u)\,du = p_\theta(x).
    \end{gathered}$$

    With ``inverse_temperatures = [0, 1]`` and the encoder's proposal this is the importance
    sampling of [`iwae_bound`][diffusion_path.foundations.vae.iwae_bound] with $k = n$; more
    temperatures balance the weights.

    Args:
        x: A batch of examples, shape ``(B, ...)`` as ``model`` takes it (keep ``B`` small: the
            examples are annealed one after the other).
        model: The model, with ``encode`` and ``log_likelihood`` as in
            [`elbo`][diffusion_path.foundations.vae.elbo].
        inverse_temperatures: The schedule $0 = \gamma_0 \le \dots \le \gamma_K = 1$.
        n: Number of particles per example.
        generator: The source of randomness (it seeds the NumPy generator that AIS uses).
        proposal: The start distribution, ``"encoder"`` or ``"prior"``.
        n_mcmc: Metropolis–Hastings steps per temperature.
        step_size: Their proposal's standard deviation, in standardised coordinates.

    Returns:
        ``(log_px, se)``: the estimate of $\log p_\theta(x)$ of each example and its standard
        error (Pre-Task 2's ``log_z_estimate``), each of shape ``(B,)`` and ``x``'s dtype.

    Raises:
        ValueError: if ``x`` is not a finite float tensor, ``model`` lacks ``encode`` or
            ``log_likelihood``, ``generator`` is not a ``torch.Generator``, ``proposal`` is
            unknown, or ``inverse_temperatures``, ``n``, ``n_mcmc`` or ``step_size`` is not
            valid for ``annealed_importance_sampling``.

    Examples:
        >>> model = VAE((1, 2, 2), latent_dim=1, generator=torch.Generator().manual_seed(0))
        >>> x = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]]])
        >>> log_px, se = ais_log_likelihood(
        ...     x, model, np.linspace(0, 1, 11), 100, torch.Generator().manual_seed(0)
        ... )
        >>> log_px.shape, bool(se[0] < 0.1)
        (torch.Size([1]), True)
    """
    x = validation.float_tensor(x, "x")
    model = validation.latent_model(model, "model")
    generator = validation.torch_generator(generator)
    proposal = validation.one_of(proposal, PROPOSALS, "proposal")
    n = validation.positive_int(n, "n")
    rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=generator)))
    with torch.no_grad():
        mean, logvar = model.encode(x)
    if proposal == "prior":
        mean, logvar = torch.zeros_like(mean), torch.zeros_like(logvar)
    m, s = mean.double(), torch.exp(0.5 * logvar.double())
    d = m.shape[-1]
    estimates, errors = [], []
    with _single_thread():  # many small tensors: more threads only wait for each other
        for b in range(x.shape[0]):
            x_b, m_b, s_b = x[b : b + 1], m[b], s[b]

            def log_f(u: np.ndarray, x_b=x_b, m_b=m_b, s_b=s_b) -> np.ndarray:
                # $\log f_u(u) = \log p(x \mid z) + \log p(z) + \sum_j \log s_j$, $z = m + s \odot u$
                z = m_b + s_b * torch.from_numpy(u)
                with torch.no_grad(), validation.trusted():  # x_b was checked, z is made here
                    log_px_z = model.log_likelihood(x_b, z[:, None].to(x.dtype))[:, 0].double()
                log_pz = -0.5 * (z**2).sum(-1) - 0.5 * d * math.log(2.0 * math.pi)
                return (log_px_z + log_pz + torch.log(s_b).sum()).numpy()

            def log_start(u: np.ndarray) -> np.ndarray:
                # $\log\mathcal N(u; 0, I)$
                return -0.5 * np.sum(u**2, axis=-1) - 0.5 * d * math.log(2.0 * math.pi)

            def sample_start(count: int, rng: np.random.Generator) -> np.ndarray:
                return rng.standard_normal((count, d))

            _, log_w = annealed_importance_sampling(
                log_f,
                log_start,
                sample_start,
                inverse_temperatures,
                n,
                rng,
                n_mcmc=n_mcmc,
                step_size=step_size,
            )
            log_px, se = log_z_estimate(log_w)
            estimates.append(log_px)
            errors.append(se)
    return (
        torch.tensor(estimates, dtype=x.dtype, device=x.device),
        torch.tensor(errors, dtype=x.dtype, device=x.device),
    )


def train_vae(
    model: VAE,
    data: torch.Tensor,
    generator: torch.Generator,
    steps: int = 3000,
    batch_size: int = 128,
    lr: float = 1e-3,
    beta: float = 1.0,
    progress: bool | None = None,
) -> list[float]:
    r"""Train a VAE by stochastic gradient ascent on the ELBO (Kingma & Welling, Algorithm 1).

    Each step draws a batch, one code per example
    ([`elbo`][diffusion_path.foundations.vae.elbo]), and takes an Adam step on

    $$-\frac1B\sum_{b}\Big[\log p_\theta(x_b \mid z_b)
    - \beta\,D_{\mathrm{KL}}\big(q_\phi(z \mid x_b)\,\|\,p(z)\big)\Big],$$

    the negative ELBO for $\beta = 1$; other values of $\beta$ give the β-VAE objective of
    Higgins et al. (Sec. 2). The learning rate decays to zero along a cosine.

    Args:
        model: The VAE, trained in place (left in eval mode): a
            [`VAE`][diffusion_path.foundations.vae.VAE], or any ``nn.Module`` with ``encode`` and
            ``log_likelihood`` as in [`elbo`][diffusion_path.foundations.vae.elbo].
        data: The training set, shape ``(N, *model.image_shape)``.
        generator: The source of randomness for batches and codes.
        steps: Number of optimisation steps.
        batch_size: Examples per step.
        lr: Peak learning rate.
        beta: Weight $\beta > 0$ of the KL term.
        progress: Show a progress bar (``None``: only in a terminal, for 2000 steps or more).

    Returns:
        The loss of every step: the batch's mean negative (β-weighted) ELBO, in nats per example.

    Raises:
        ValueError: if ``model`` is not such a module, ``data`` is not a batch of its images,
            ``generator`` is not a ``torch.Generator``, ``steps`` or ``batch_size`` is not a
            positive int, or ``lr`` or ``beta`` is not a number > 0.

    Examples:
        >>> gen = torch.Generator().manual_seed(0)
        >>> model = VAE((1, 2, 2), latent_dim=1, hidden=8, generator=gen)
        >>> data = (torch.rand(32, 1, 2, 2, generator=gen) > 0.5).float()
        >>> losses = train_vae(model, data, gen, steps=20, batch_size=8)
        >>> len(losses)
        20
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a VAE (a torch.nn.Module), got {type(model).__name__}")
    model = validation.latent_model(model, "model")
    data = validation.float_tensor(data, "data", min_dim=2)
    data = validation.batch_of(data, getattr(model, "image_shape", data.shape[1:]), "data")
    generator = validation.torch_generator(generator)
    steps = validation.positive_int(steps, "steps")
    batch_size = validation.positive_int(batch_size, "batch_size")
    lr = validation.positive_number(lr, "lr")
    beta = validation.positive_number(beta, "beta")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    losses = []
    model.train()
    with _single_thread(), validation.trusted():  # the batches are slices of checked data
        for _ in progress_bar(range(steps), show=progress, desc="training", min_items=2000):
            index = torch.randint(0, data.shape[0], (batch_size,), generator=generator)
            _, reconstruction, kl = elbo(data[index], model, generator=generator)
            # $-\frac1B \sum_b [\log p_\theta(x_b \mid z_b) - \beta D_{\mathrm{KL}}]$
            loss = -(reconstruction - beta * kl).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
    model.eval()
    return losses


@contextlib.contextmanager
def _single_thread() -> Iterator[None]:
    """Run the block on one CPU thread: for small matrices, more threads only wait for each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
