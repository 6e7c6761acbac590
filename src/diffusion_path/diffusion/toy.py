r"""A small noise predictor for 2-D data, and the few lines that train it (Core Task 2, Part 1).

The network takes a noisy point $x_t$ and the step $t$ and predicts the noise $\varepsilon$ that
was added. Training is DDPM's Algorithm 1 with the simple loss, eq. (14):

$$L_{\text{simple}} = \mathbb E_{t, x_0, \varepsilon}\big\lVert \varepsilon -
\varepsilon_\theta\big(\sqrt{\bar\alpha_t}x_0 + \sqrt{1-\bar\alpha_t}\varepsilon,\ t\big)\big\rVert^2.$$

For 2-D data a multilayer perceptron is enough; images need the U-Net of Core Tasks 3 and 5,
which also treat the loss and the training loop in depth.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Iterator

import torch
from torch import nn
from tqdm import tqdm

from diffusion_path import validation
from diffusion_path.diffusion.forward import q_sample
from diffusion_path.diffusion.schedules import NoiseSchedule

__all__ = ["NoiseMLP", "timestep_embedding", "train_toy"]


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    r"""Sinusoidal features of the step $t$ (the Transformer's position encoding, used by DDPM).

    $$\mathrm{emb}(t) = \big[\cos(t\,\omega_0), \dots, \cos(t\,\omega_{k-1}), \sin(t\,\omega_0), \dots,
    \sin(t\,\omega_{k-1})\big],\qquad \omega_i = \text{max\_period}^{-i/k},\ k = \text{dim}/2$$

    Args:
        t: Steps, a tensor of shape ``(B,)``.
        dim: Number of features (even).
        max_period: The longest period.

    Returns:
        A float32 tensor of shape ``(B, dim)``.

    Examples:
        >>> timestep_embedding(torch.tensor([0, 5]), 4)[0]  # cos(0) = 1, sin(0) = 0
        tensor([1., 1., 0., 0.])
    """
    if not isinstance(dim, int) or dim < 2 or dim % 2:
        raise ValueError(f"dim must be an even int >= 2, got {dim!r}")
    half = dim // 2
    # $\omega_i = \text{max\_period}^{-i/k}$
    omega = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    angles = t.to(torch.float32)[:, None] * omega.to(t.device)[None]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)


class NoiseMLP(nn.Module):
    r"""$\varepsilon_\theta(x_t, t)$ for low-dimensional data: an MLP on $[x_t, \mathrm{emb}(t)]$.

    Args:
        dim: Dimension $d$ of the data.
        hidden: Width of the hidden layers.
        depth: Number of hidden layers.
        embedding_dim: Number of sinusoidal features of $t$.
        generator: If given, the source of the initial weights (PyTorch's default
            initialisation, $\mathcal U(\pm 1/\sqrt{\text{fan-in}})$, drawn from it), so that
            the same seed gives the same network.

    Examples:
        >>> model = NoiseMLP(2)
        >>> model(torch.zeros(5, 2), torch.arange(5)).shape
        torch.Size([5, 2])
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
        self.embedding_dim = embedding_dim
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


def train_toy(
    model: nn.Module,
    data: torch.Tensor,
    schedule: NoiseSchedule,
    generator: torch.Generator,
    steps: int = 3000,
    batch_size: int = 256,
    lr: float = 2e-3,
    ema_decay: float = 0.995,
    progress: bool | None = None,
) -> tuple[nn.Module, list[float]]:
    r"""Train a noise predictor on a fixed data set with DDPM's simple loss (Algorithm 1, eq. 14).

    Each step draws a batch $x_0$, steps $t \sim \mathcal U\{0, \dots, T-1\}$ and noise
    $\varepsilon$, and takes an Adam step on $\lVert\varepsilon - \varepsilon_\theta(x_t, t)\rVert^2$.
    The learning rate decays to zero along a cosine; an exponential moving average (EMA) of the
    weights, the copy used for sampling, smooths out the last steps' noise.

    Args:
        model: The network, called as ``model(x_t, t)``; trained in place.
        data: The training set, shape ``(N, d)``.
        schedule: The noise schedule.
        generator: The source of randomness for batches, steps and noise.
        steps: Number of optimisation steps.
        batch_size: Points per step.
        lr: Peak learning rate.
        ema_decay: Decay of the moving average of the weights, in $[0, 1)$ (0: no averaging).
        progress: Show a progress bar (``None``: only for 2000 steps or more).

    Returns:
        ``(ema_model, losses)``: the averaged copy of the model, in eval mode, and the loss of
        every step.

    Examples:
        >>> gen = torch.Generator().manual_seed(0)
        >>> schedule = NoiseSchedule.linear(50, 1e-3, 0.2)
        >>> ema, losses = train_toy(
        ...     NoiseMLP(2, hidden=16), torch.randn(64, 2, generator=gen), schedule, gen, steps=20
        ... )
        >>> len(losses)
        20
    """
    data = validation.float_tensor(data, "data", min_dim=2)
    schedule = validation.noise_schedule(schedule)
    generator = validation.torch_generator(generator)
    steps = validation.positive_int(steps, "steps")
    batch_size = validation.positive_int(batch_size, "batch_size")
    if not 0.0 <= ema_decay < 1.0:
        raise ValueError(f"ema_decay must be in [0, 1), got {ema_decay!r}")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    ema = copy.deepcopy(model).eval()
    for parameter in ema.parameters():
        parameter.requires_grad_(False)
    losses = []
    model.train()
    show = steps >= 2000 if progress is None else bool(progress)
    with _single_thread():
        for _ in tqdm(range(steps), disable=not show, desc="training"):
            index = torch.randint(0, data.shape[0], (batch_size,), generator=generator)
            x0 = data[index]
            # $t \sim \mathcal U\{0, \dots, T-1\}$, $\varepsilon \sim \mathcal N(0, I)$
            t = torch.randint(0, schedule.T, (batch_size,), generator=generator)
            eps = torch.randn(x0.shape, generator=generator)
            # $x_t = \sqrt{\bar\alpha_t} x_0 + \sqrt{1 - \bar\alpha_t}\varepsilon$
            x_t = q_sample(x0, t, schedule, noise=eps)
            # $\lVert \varepsilon - \varepsilon_\theta(x_t, t) \rVert^2$
            loss = torch.mean((eps - model(x_t, t)) ** 2)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            with torch.no_grad():
                # $\theta_{\text{EMA}} \leftarrow \gamma\,\theta_{\text{EMA}} + (1 - \gamma)\,\theta$
                for averaged, current in zip(ema.parameters(), model.parameters(), strict=True):
                    averaged.lerp_(current, 1.0 - ema_decay)
            losses.append(loss.item())
    model.eval()
    return ema, losses


@contextlib.contextmanager
def _single_thread() -> Iterator[None]:
    """Run the block on one CPU thread: for small matrices, more threads only wait for each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
