r"""Core Task 1, part 2: the forward process, one step at a time and in closed form.

[DDPM](https://arxiv.org/abs/2006.11239) corrupts a data point $x_0$ with a Markov chain of
Gaussian steps (eq. 2)

$$q(x_t \mid x_{t-1}) = \mathcal N\big(\sqrt{1-\beta_t}\,x_{t-1},\ \beta_t I\big),$$

and, because affine maps and sums of independent Gaussians stay Gaussian (Pre-Task 1),
$t$ steps collapse into one (eq. 4):

$$q(x_t \mid x_0) = \mathcal N\big(\sqrt{\bar\alpha_t}\,x_0,\ (1-\bar\alpha_t) I\big),
\qquad x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon.$$

Timesteps are 0-based: ``t = 0`` is the first noisy step (the paper's $x_1$), and
``t = T - 1`` the last. Data tensors are float32 (or float64) with the batch first; schedule
coefficients are taken from the float64 schedule and cast to the data's dtype.
"""

from __future__ import annotations

import torch

from diffusion_path import validation
from diffusion_path.diffusion.schedules import NoiseSchedule

__all__ = ["q_sample", "q_step"]


def _gather(values: torch.Tensor, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``values[t]`` in the dtype and device of ``x``, shaped ``(B, 1, ..., 1)`` to broadcast."""
    out = values.to(x.device)[t.to(x.device)].to(x.dtype)
    return out.reshape(-1, *([1] * (x.ndim - 1)))


def _noise(
    noise: torch.Tensor | None, generator: torch.Generator | None, like: torch.Tensor, name: str
) -> torch.Tensor:
    """The noise to use: ``noise`` if given (checked against ``like``), else a draw from ``generator``."""
    if noise is not None:
        return validation.same_shape(noise, "noise", like, name)
    generator = validation.torch_generator(generator)
    return torch.randn(like.shape, generator=generator, dtype=like.dtype, device=like.device)


def q_sample(
    x0: torch.Tensor,
    t: int | torch.Tensor,
    schedule: NoiseSchedule,
    noise: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Sample $x_t \sim q(x_t \mid x_0)$ in one shot (DDPM eq. 4).

    $$x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon,
    \qquad \varepsilon \sim \mathcal N(0, I)$$

    Args:
        x0: Clean data of shape ``(B, ...)``, e.g. images ``(B, C, H, W)`` in $[-1, 1]$.
        t: 0-based step, an int for the whole batch or a LongTensor of shape ``(B,)``
            with entries in ``[0, T-1]``.
        schedule: The noise schedule.
        noise: The $\varepsilon$ to use, of the shape of ``x0``; drawn from ``generator`` if ``None``.
            Training passes it so the loss can compare the prediction with it.
        generator: The source of randomness, required when ``noise`` is ``None``.

    Returns:
        $x_t$, a tensor of the shape and dtype of ``x0``.

    Raises:
        ValueError: if ``t`` is out of range or of the wrong shape, ``noise`` does not match
            ``x0``, or neither ``noise`` nor a ``torch.Generator`` is given.

    Examples:
        >>> schedule = NoiseSchedule(torch.tensor([0.19, 0.36]))  # alpha_bars 0.81, 0.5184
        >>> x0, eps = torch.ones(1, 2), torch.tensor([[1.0, -1.0]])
        >>> q_sample(x0, 0, schedule, noise=eps)  # 0.9 * 1 +/- sqrt(0.19) * 1
        tensor([[1.3359, 0.4641]])
        >>> q_sample(
        ...     torch.zeros(4, 3, 8, 8), 1, schedule, generator=torch.Generator().manual_seed(0)
        ... ).shape
        torch.Size([4, 3, 8, 8])
    """
    x0 = validation.float_tensor(x0, "x0")
    schedule = validation.noise_schedule(schedule)
    t = validation.timesteps(t, schedule.T, x0.shape[0])
    eps = _noise(noise, generator, x0, "x0")
    # $\sqrt{\bar\alpha_t}$ and $\sqrt{1 - \bar\alpha_t}$, one per batch element
    sqrt_alpha_bar = _gather(torch.sqrt(schedule.alpha_bars), t, x0)
    sqrt_one_minus_alpha_bar = _gather(torch.sqrt(1.0 - schedule.alpha_bars), t, x0)
    # $x_t = \sqrt{\bar\alpha_t} x_0 + \sqrt{1 - \bar\alpha_t} \varepsilon$
    return sqrt_alpha_bar * x0 + sqrt_one_minus_alpha_bar * eps


def q_step(
    x_prev: torch.Tensor,
    t: int | torch.Tensor,
    schedule: NoiseSchedule,
    noise: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""One step of the forward Markov chain, $x_t \sim q(x_t \mid x_{t-1})$ (DDPM eq. 2).

    $$x_t = \sqrt{1-\beta_t}\,x_{t-1} + \sqrt{\beta_t}\,\varepsilon,
    \qquad \varepsilon \sim \mathcal N(0, I)$$

    With 0-based steps, ``q_step(x0, 0, ...)`` gives the first noisy point, and applying
    ``q_step`` for ``t = 0, 1, ..., k`` gives a draw of ``q_sample(x0, k, ...)``.

    Args:
        x_prev: $x_{t-1}$ of shape ``(B, ...)`` ($x_0$, the data, when ``t = 0``).
        t: 0-based step, an int or a LongTensor of shape ``(B,)`` in ``[0, T-1]``.
        schedule: The noise schedule.
        noise: The $\varepsilon$ to use, of the shape of ``x_prev``; drawn from ``generator`` if ``None``.
        generator: The source of randomness, required when ``noise`` is ``None``.

    Returns:
        $x_t$, a tensor of the shape and dtype of ``x_prev``.

    Raises:
        ValueError: if ``t`` is out of range or of the wrong shape, ``noise`` does not match
            ``x_prev``, or neither ``noise`` nor a ``torch.Generator`` is given.

    Examples:
        >>> schedule = NoiseSchedule(torch.tensor([0.19, 0.36]))
        >>> q_step(torch.ones(1, 2), 1, schedule, noise=torch.tensor([[1.0, -1.0]]))  # 0.8 +/- 0.6
        tensor([[1.4000, 0.2000]])
    """
    x_prev = validation.float_tensor(x_prev, "x_prev")
    schedule = validation.noise_schedule(schedule)
    t = validation.timesteps(t, schedule.T, x_prev.shape[0])
    eps = _noise(noise, generator, x_prev, "x_prev")
    # $\sqrt{1 - \beta_t}$ and $\sqrt{\beta_t}$, one per batch element
    sqrt_alpha = _gather(torch.sqrt(1.0 - schedule.betas), t, x_prev)
    sqrt_beta = _gather(torch.sqrt(schedule.betas), t, x_prev)
    # $x_t = \sqrt{1 - \beta_t}\, x_{t-1} + \sqrt{\beta_t}\, \varepsilon$
    return sqrt_alpha * x_prev + sqrt_beta * eps
