r"""Core Task 3, part 1: the time features of a noise predictor, a network for 2-D data, and its error.

A noise predictor $\varepsilon_\theta(x_t, t)$ sees a noisy point $x_t$ and the step $t$. The step
enters through sinusoidal features — the position encoding of the Transformer
([Vaswani et al.](https://arxiv.org/abs/1706.03762), Sec. 3.5), which
[DDPM](https://arxiv.org/abs/2006.11239) (Sec. 4) borrowed: a network reads a few sines and
cosines of $t$ at different frequencies far more easily than the integer itself. For 2-D data a
multilayer perceptron on $[x_t, \mathrm{emb}(t)]$ is enough; images need the U-Net of
[`unet`][diffusion_path.diffusion.unet].

How good is a noise predictor? [`noise_prediction_mse`][diffusion_path.diffusion.networks.noise_prediction_mse]
measures its error at each step separately: the training loss of DDPM eq. (14), split by $t$.
No network reaches zero — the best possible one, $\mathbb E[\varepsilon \mid x_t]$, still errs
by the noise that $x_t$ does not reveal — and for data whose law is known, that floor is exact.

As everywhere in the library, the step a network is given is the 0-based index ``t`` of the
schedule, standing for the paper's step $t + 1$.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator

import torch
from torch import nn

from diffusion_path.diffusion.forward import q_sample
from diffusion_path.diffusion.schedules import NoiseSchedule
from diffusion_path.tools import validation

__all__ = ["NoiseMLP", "noise_prediction_mse", "timestep_embedding", "weights_from"]


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    r"""Sinusoidal features of the steps $t$: $k = \text{dim}/2$ cosines, then $k$ sines (Transformer Sec. 3.5).

    $$\begin{gathered}
    \mathrm{emb}(t) = \big[\cos(\omega_0 t), \dots, \cos(\omega_{k-1} t),\
    \sin(\omega_0 t), \dots, \sin(\omega_{k-1} t)\big], \\
    \omega_i = \text{max\_period}^{-i/k}
    \end{gathered}$$

    The convention is that of the improved-DDPM code of Nichol & Dhariwal: frequencies from
    $\omega_0 = 1$ down to $\omega_{k-1} = \text{max\_period}^{-(k-1)/k}$, geometrically spaced
    with the frequency constant $10^4$ by default; all cosines first, then all sines. (The
    Transformer interleaves sine and cosine, and DDPM's code puts the sines first and uses
    $i/(k-1)$: the same features, in another order and with slightly other frequencies.) Each row
    depends only on its own $t$; row $t = 0$ is $k$ ones followed by $k$ zeros.

    Args:
        t: The steps, one per example: a 1-D tensor of shape ``(B,)``, integer (the 0-based
            index) or float, all $\ge 0$.
        dim: Number of features, even.
        max_period: The frequency constant: the slowest feature has a period of about
            $2\pi\cdot\text{max\_period}$ steps.

    Returns:
        A float32 tensor of shape ``(B, dim)``.

    Raises:
        ValueError: if ``t`` is not a 1-D tensor of finite steps $\ge 0$, ``dim`` is not an even
            integer $\ge 2$, or ``max_period`` is not a positive number.

    Examples:
        >>> timestep_embedding(torch.tensor([0, 5]), 4)[0]  # cos(0) = 1, sin(0) = 0
        tensor([1., 1., 0., 0.])
        >>> timestep_embedding(torch.arange(1000), 128).shape
        torch.Size([1000, 128])
    """
    t = validation.step_values(t, "t")
    dim = validation.even_int(dim, "dim")
    max_period = validation.positive_number(max_period, "max_period")

    # Exercise: eq. (C3.1) — half as many frequencies as features, geometrically spaced from 1 down
    # as the page says; multiply every example's step by every frequency (one row per example,
    # one column per frequency), then put the cosines of these angles first and the sines
    # after, in float32.

    k = dim // 2
    # $\omega_i = \text{max\_period}^{-i/k}$, $i = 0, \dots, k-1$
    omega = torch.exp(-math.log(max_period) * torch.arange(k, dtype=torch.float32) / k)
    # $\omega_i t$, shape (B, k): the steps along the rows, the frequencies along the columns
    angles = t.to(torch.float32)[:, None] * omega.to(t.device)[None, :]
    # $[\cos(\omega_i t), \sin(\omega_i t)]$
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)


@contextlib.contextmanager
def weights_from(generator: torch.Generator | None) -> Iterator[None]:
    """Build networks inside the block with initial weights drawn from ``generator``.

    PyTorch's layers draw their initial weights from its global generator. Inside the block that
    generator is seeded from ``generator`` and afterwards put back as it was, so the same seed
    gives the same network and nothing else's randomness is disturbed. With ``None`` the block
    does nothing.

    Raises:
        ValueError: if ``generator`` is neither ``None`` nor a ``torch.Generator``.

    Examples:
        >>> with weights_from(torch.Generator().manual_seed(0)):
        ...     a = nn.Linear(3, 2)
        >>> with weights_from(torch.Generator().manual_seed(0)):
        ...     b = nn.Linear(3, 2)
        >>> torch.equal(a.weight, b.weight)
        True
    """
    if generator is None:
        yield
        return
    generator = validation.torch_generator(generator)
    seed = int(torch.randint(0, 2**62, (), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


class NoiseMLP(nn.Module):
    r"""$\varepsilon_\theta(x_t, t)$ for low-dimensional data: an MLP on $[x_t, \mathrm{emb}(t)]$.

    Args:
        dim: Dimension $d$ of the data.
        hidden: Width of the hidden layers.
        depth: Number of hidden layers.
        embedding_dim: Number of sinusoidal features of $t$
            ([`timestep_embedding`][diffusion_path.diffusion.networks.timestep_embedding]).
        generator: If given, the source of the initial weights (PyTorch's default
            initialisation, $\mathcal U(\pm 1/\sqrt{\text{fan-in}})$, drawn from it), so that
            the same seed gives the same network.

    Raises:
        ValueError: if ``dim``, ``hidden`` or ``depth`` is not a positive int, or
            ``embedding_dim`` is not an even int.

    Examples:
        >>> model = NoiseMLP(2)
        >>> model(torch.zeros(5, 2), torch.arange(5)).shape
        torch.Size([5, 2])
        >>> sum(p.numel() for p in model.parameters())  # 35 * 128 + 2 * 129 * 128 + 129 * 2
        37762
    """

    def __init__(
        self,
        dim: int = 2,
        hidden: int = 128,
        depth: int = 3,
        embedding_dim: int = 32,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.dim = validation.positive_int(dim, "dim")
        self.embedding_dim = validation.even_int(embedding_dim, "embedding_dim")
        hidden = validation.positive_int(hidden, "hidden")
        layers: list[nn.Module] = []
        width = dim + embedding_dim
        for _ in range(validation.positive_int(depth, "depth")):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        layers.append(nn.Linear(width, dim))
        self.net = nn.Sequential(*layers)
        if generator is not None:
            generator = validation.torch_generator(generator)
            with torch.no_grad():
                for layer in self.net:
                    if isinstance(layer, nn.Linear):
                        bound = 1.0 / math.sqrt(layer.in_features)
                        layer.weight.uniform_(-bound, bound, generator=generator)
                        layer.bias.uniform_(-bound, bound, generator=generator)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Predict the noise in ``x_t`` (shape ``(B, dim)``) at steps ``t`` (LongTensor ``(B,)``)."""
        features = torch.cat([x_t, timestep_embedding(t, self.embedding_dim)], dim=1)
        return self.net(features)


def noise_prediction_mse(
    model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    t: int | list[int] | torch.Tensor,
    schedule: NoiseSchedule,
    generator: torch.Generator,
) -> torch.Tensor:
    r"""The error of a noise predictor at each step: DDPM's loss (eq. 14) split by $t$, per coordinate.

    For each 0-based index ``t`` (the paper's step $t + 1$), with fresh noise for every example:

    $$\mathrm{MSE}_{t+1} = \frac1{N d}\sum_{n=1}^{N}\big\lVert \varepsilon_n -
    \varepsilon_\theta(\sqrt{\bar\alpha_{t+1}}\,x_0^{(n)} + \sqrt{1-\bar\alpha_{t+1}}\,\varepsilon_n,\ t)
    \big\rVert^2,\qquad \varepsilon_n \sim \mathcal N(0, I)$$

    an unbiased estimate of $\frac1d\mathbb E\lVert\varepsilon - \varepsilon_\theta(x_{t+1}, t)\rVert^2$.
    The average over $t$ is the training loss; the zero predictor scores 1 at every step, and
    the exact $\mathbb E[\varepsilon \mid x_{t+1}]$ scores the lowest value possible.

    The model is called as it is, without gradients, on the whole batch at once: put a network
    with dropout in eval mode first (``train_toy`` returns its average in eval mode).

    Args:
        model: The noise predictor, called as ``model(x_t, t)`` with ``t`` a LongTensor of
            shape ``(N,)`` holding the index; returns a tensor of the shape of ``x_t``.
        x0: Clean data, shape ``(N, ...)``: points ``(N, d)`` or images ``(N, C, H, W)``.
        t: The indices to measure at: an int, a list of ints or a 1-D LongTensor, each in
            ``[0, T-1]``.
        schedule: The noise schedule.
        generator: The source of the noise.

    Returns:
        A tensor of shape ``(K,)``, one mean squared error per entry of ``t``, in ``x0``'s dtype.

    Raises:
        ValueError: if ``x0`` is not a finite float tensor with a batch axis, ``t`` holds no
            index or one outside ``[0, T-1]``, ``schedule`` is not a noise schedule, ``model``
            is not callable or returns the wrong shape or NaN, or ``generator`` is not a
            ``torch.Generator``.

    Examples:
        >>> schedule = NoiseSchedule.cosine(100)
        >>> zero = lambda x_t, t: torch.zeros_like(x_t)  # "there is no noise": error 1 everywhere
        >>> mse = noise_prediction_mse(
        ...     zero, torch.zeros(4000, 2), [0, 50, 99], schedule, torch.Generator().manual_seed(0)
        ... )
        >>> mse.round(decimals=1)
        tensor([1., 1., 1.])
    """
    x0 = validation.float_tensor(x0, "x0", min_dim=2)
    schedule = validation.noise_schedule(schedule)
    steps = validation.step_indices(t, schedule.T, "t")
    generator = validation.torch_generator(generator)
    model = validation.checked_predictor(model, tuple(x0.shape))

    # Exercise: eq. (C3.6) — for each index in `steps`, draw fresh noise for every example from
    # `generator`, make the noisy batch at that index with q_sample (Core Task 1), ask the
    # model for its noise prediction (given the index once per example, with no gradients),
    # and average the squared error over the examples and the coordinates: one number per
    # index.

    errors = []
    with torch.no_grad():
        for step in steps.tolist():
            # $\varepsilon \sim \mathcal N(0, I)$, one draw per example
            eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
            index = torch.full((x0.shape[0],), step, dtype=torch.long, device=x0.device)
            # $x_t = \sqrt{\bar\alpha_t} x_0 + \sqrt{1 - \bar\alpha_t}\varepsilon$
            x_t = q_sample(x0, index, schedule, noise=eps)
            # $\frac1{Nd}\sum_n \lVert \varepsilon_n - \varepsilon_\theta(x_t^{(n)}, t) \rVert^2$
            errors.append(torch.mean((eps - model(x_t, index)) ** 2))
    return torch.stack(errors).to(x0.dtype)
