"""Core Task 1 exercise: noise schedules and the forward process.

Fill in each part marked TODO, then run

    diffusion-path check core-1 --impl .

from this folder. The input checks are written for you; the math is yours. The checker
grades ``q_sample`` and ``q_step`` with the library's own ``NoiseSchedule``, so each
function is graded on its own. The page explains the theory: docs/core/1-forward-diffusion.md
on the site.
"""

from __future__ import annotations

import math  # noqa: F401  (you may need it)

import torch

from diffusion_path import validation
from diffusion_path.diffusion.forward import (
    _gather,  # noqa: F401  (values[t], shaped to broadcast)
    _noise,  # input checks, shared with the reference
)


def linear_beta_schedule(T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    r"""DDPM's linear schedule: $T$ variances evenly spaced from ``beta_start`` to ``beta_end``.

    $$\beta_t = \beta_{\text{start}} + \frac{t}{T-1}\,(\beta_{\text{end}} - \beta_{\text{start}}),
    \qquad t = 0, \dots, T-1$$

    DDPM (Sec. 4) uses $T = 1000$, $\beta_1 = 10^{-4}$, $\beta_T = 0.02$. With far fewer steps
    the same end points leave much of the signal at $t = T-1$: raise ``beta_end`` then.

    Args:
        T: Number of diffusion steps, $T \ge 1$.
        beta_start: The first variance $\beta_0$ (the paper's $\beta_1$), in $(0, 1)$.
        beta_end: The last variance $\beta_{T-1}$ (the paper's $\beta_T$), in $(0, 1)$.

    Returns:
        A float64 tensor of shape ``(T,)``.

    Raises:
        ValueError: if ``T`` is not a positive int or a beta is outside $(0, 1)$.

    Examples:
        >>> linear_beta_schedule(5, 0.1, 0.5)
        tensor([0.1000, 0.2000, 0.3000, 0.4000, 0.5000], dtype=torch.float64)
    """
    T = validation.positive_int(T, "T")
    for value, name in ((beta_start, "beta_start"), (beta_end, "beta_end")):
        if not isinstance(value, int | float) or not 0.0 < value < 1.0:
            raise ValueError(f"{name} must be a number in (0, 1), got {value!r}")
    # TODO: T values evenly spaced from beta_start to beta_end, float64 (torch.linspace).
    raise NotImplementedError


def cosine_beta_schedule(T: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    r"""The cosine schedule of Nichol & Dhariwal (2021), eq. (17), turned into variances $\beta_t$.

    $$\bar\alpha(\tau) = \frac{f(\tau)}{f(0)},\quad f(\tau) = \cos^2\!\Big(\frac{\tau/T + s}{1+s}\cdot
    \frac{\pi}{2}\Big),\qquad \beta_t = \min\Big(1 - \frac{\bar\alpha(t+1)}{\bar\alpha(t)},\ \beta_{\max}\Big)$$

    The offset $s$ keeps $\beta$ from being vanishingly small near $t = 0$; the clip at
    $\beta_{\max}$ avoids the singularity at $\tau = T$ (Improved DDPM, Sec. 3.2).

    Args:
        T: Number of diffusion steps, $T \ge 1$.
        s: Small offset $s \ge 0$.
        max_beta: Largest allowed $\beta_t$, in $(0, 1)$.

    Returns:
        A float64 tensor of shape ``(T,)``.

    Raises:
        ValueError: if ``T`` is not a positive int, ``s < 0`` or ``max_beta`` is outside $(0, 1)$.

    Examples:
        >>> betas = cosine_beta_schedule(1000)
        >>> round(float(betas[0]), 6), float(betas[-1])
        (4.1e-05, 0.999)
    """
    T = validation.positive_int(T, "T")
    if not isinstance(s, int | float) or not s >= 0.0:
        raise ValueError(f"s must be a number >= 0, got {s!r}")
    if not isinstance(max_beta, int | float) or not 0.0 < max_beta < 1.0:
        raise ValueError(f"max_beta must be a number in (0, 1), got {max_beta!r}")
    # TODO: f(tau) = cos^2(((tau / T + s) / (1 + s)) pi / 2) for tau = 0..T, alpha_bar = f / f[0],
    # beta_t = 1 - alpha_bar[t + 1] / alpha_bar[t], clipped at max_beta.
    raise NotImplementedError


class NoiseSchedule:
    r"""A noise schedule $\beta_0, \dots, \beta_{T-1}$ and every quantity derived from it (float64).

    $$\alpha_t = 1 - \beta_t,\quad \bar\alpha_t = \prod_{s\le t}\alpha_s,\quad
    \bar\alpha_{t-1}\ (\text{with } \bar\alpha_{-1} = 1),\quad
    \tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\beta_t$$

    Attributes (all float64 tensors of shape ``(T,)``, indexed by the 0-based step $t$):

    - ``betas`` $\beta_t$, ``alphas`` $\alpha_t$, ``alpha_bars`` $\bar\alpha_t$ (DDPM eq. 4);
    - ``alpha_bars_prev`` $\bar\alpha_{t-1}$, with ``alpha_bars_prev[0] = 1``;
    - ``sqrt_alpha_bars`` $\sqrt{\bar\alpha_t}$ and ``sqrt_one_minus_alpha_bars``
      $\sqrt{1-\bar\alpha_t}$, the two coefficients of $q(x_t \mid x_0)$;
    - ``snr`` $\bar\alpha_t / (1-\bar\alpha_t)$, the signal-to-noise ratio of $x_t$;
    - ``posterior_variance`` $\tilde\beta_t$ (DDPM eq. 7), which is exactly ``0`` at ``t = 0``;
    - ``posterior_log_variance_clipped``: $\log\tilde\beta_t$ with the ``t = 0`` entry replaced by
      the ``t = 1`` one, so that it stays finite;
    - ``posterior_mean_coef1`` $\frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1-\bar\alpha_t}$ and
      ``posterior_mean_coef2`` $\frac{\sqrt{\alpha_t}\,(1-\bar\alpha_{t-1})}{1-\bar\alpha_t}$, the
      weights of $x_0$ and $x_t$ in the posterior mean $\tilde\mu_t$ (DDPM eq. 7).

    and ``T``, the number of steps.

    Args:
        betas: The variances $\beta_t$, a 1-D tensor (or sequence) with entries in $(0, 1)$.

    Raises:
        ValueError: if ``betas`` is not 1-D, is empty, or has an entry outside $(0, 1)$.

    Examples:
        >>> schedule = NoiseSchedule(torch.tensor([0.1, 0.2, 0.5]))
        >>> schedule.T
        3
        >>> schedule.alpha_bars  # 0.9, 0.9 * 0.8, 0.9 * 0.8 * 0.5
        tensor([0.9000, 0.7200, 0.3600], dtype=torch.float64)
        >>> schedule.alpha_bars_prev
        tensor([1.0000, 0.9000, 0.7200], dtype=torch.float64)
        >>> schedule.posterior_variance[0].item()
        0.0
    """

    def __init__(self, betas: torch.Tensor) -> None:
        betas = torch.as_tensor(betas, dtype=torch.float64)
        if betas.ndim != 1 or betas.numel() == 0:
            raise ValueError(
                f"betas must be a non-empty 1-D tensor, got shape {tuple(betas.shape)}"
            )
        if not bool(torch.all((betas > 0) & (betas < 1))):
            raise ValueError(
                f"betas must lie in (0, 1), got values from {float(betas.min()):g} to {float(betas.max()):g}"
            )
        self.T = int(betas.numel())
        self.betas = betas
        # TODO: compute, as float64 tensors of shape (T,):
        #   self.alphas, self.alpha_bars, self.alpha_bars_prev (with alpha_bars_prev[0] = 1),
        #   self.sqrt_alpha_bars, self.sqrt_one_minus_alpha_bars, self.snr,
        #   self.posterior_variance (0 at t = 0), self.posterior_log_variance_clipped
        #   (its t = 0 entry replaced by the t = 1 one), self.posterior_mean_coef1 and
        #   self.posterior_mean_coef2 (DDPM eq. 7).
        raise NotImplementedError

    @classmethod
    def linear(cls, T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> NoiseSchedule:
        """The schedule of [`linear_beta_schedule`][diffusion_path.diffusion.schedules.linear_beta_schedule]."""
        return cls(linear_beta_schedule(T, beta_start, beta_end))

    @classmethod
    def cosine(cls, T: int, s: float = 0.008, max_beta: float = 0.999) -> NoiseSchedule:
        """The schedule of [`cosine_beta_schedule`][diffusion_path.diffusion.schedules.cosine_beta_schedule]."""
        return cls(cosine_beta_schedule(T, s, max_beta))

    def __len__(self) -> int:
        return self.T

    def __repr__(self) -> str:
        return (
            f"NoiseSchedule(T={self.T}, betas from {float(self.betas[0]):.3g} "
            f"to {float(self.betas[-1]):.3g}, alpha_bar_(T-1)={float(self.alpha_bars[-1]):.3g})"
        )


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
    eps = _noise(noise, generator, x0, "x0")  # noqa: F841  (your eps)
    # TODO: pick sqrt(alpha_bars[t]) and sqrt(1 - alpha_bars[t]) per example (the _gather helper),
    # then return sqrt(abar) * x0 + sqrt(1 - abar) * eps.
    raise NotImplementedError


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
    eps = _noise(noise, generator, x_prev, "x_prev")  # noqa: F841  (your eps)
    # TODO: pick sqrt(1 - betas[t]) and sqrt(betas[t]) per example, then
    # return sqrt(1 - beta) * x_prev + sqrt(beta) * eps.
    raise NotImplementedError
