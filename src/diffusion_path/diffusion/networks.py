r"""Core Task 3: networks that predict the noise, $\varepsilon_\theta(x_t, t)$.

A noise predictor sees a noisy point $x_t$ and the step $t$. The step enters through sinusoidal
features (the Transformer's position encoding, which DDPM borrowed): a network cannot read an
integer well, but it can read a few sines and cosines of it at different frequencies.

For 2-D data a multilayer perceptron on $[x_t, \mathrm{emb}(t)]$ is enough; images need the U-Net.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from diffusion_path.tools import validation

__all__ = ["NoiseMLP", "timestep_embedding"]


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
