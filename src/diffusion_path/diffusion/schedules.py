r"""Core Task 1, part 1: noise schedules, the numbers that say how fast the forward process forgets.

The forward process of [DDPM](https://arxiv.org/abs/2006.11239) adds Gaussian noise of
variance $\beta_t$ at each step. Everything else follows from the sequence
$\beta_0, \dots, \beta_{T-1}$ (0-based: index $t$ is the paper's step $t+1$):

$$\alpha_t = 1 - \beta_t, \qquad \bar\alpha_t = \prod_{s=0}^{t} \alpha_s, \qquad
\mathrm{SNR}(t) = \frac{\bar\alpha_t}{1 - \bar\alpha_t}.$$

Two schedules are in common use: DDPM's linear $\beta_t$ (Sec. 4 of the paper) and the cosine
schedule of [Nichol & Dhariwal](https://arxiv.org/abs/2102.09672) (eq. 17), which defines
$\bar\alpha_t$ directly and destroys information more evenly over the steps.

Schedules are computed in float64: $\bar\alpha_t$ is a product of up to a thousand numbers close
to one, and $1 - \bar\alpha_t$ near $t = 0$ is a small difference of numbers close to one.
"""

from __future__ import annotations

import math

import torch

from diffusion_path import validation

__all__ = ["NoiseSchedule", "cosine_beta_schedule", "linear_beta_schedule"]


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
    # $\beta_t$ evenly spaced from $\beta_{\text{start}}$ to $\beta_{\text{end}}$
    return torch.linspace(beta_start, beta_end, T, dtype=torch.float64)


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
    tau = torch.arange(T + 1, dtype=torch.float64)
    # $f(\tau) = \cos^2\big(\frac{\tau/T + s}{1 + s} \frac{\pi}{2}\big)$
    f = torch.cos((tau / T + s) / (1 + s) * math.pi / 2) ** 2
    # $\bar\alpha(\tau) = f(\tau) / f(0)$
    alpha_bar = f / f[0]
    # $\beta_t = \min(1 - \bar\alpha(t+1) / \bar\alpha(t), \beta_{\max})$
    return torch.clamp(1 - alpha_bar[1:] / alpha_bar[:-1], max=max_beta)


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
        # $\alpha_t = 1 - \beta_t$
        self.alphas = 1.0 - betas
        # $\bar\alpha_t = \prod_{s=0}^{t} \alpha_s$
        self.alpha_bars = torch.cumprod(self.alphas, dim=0)
        # $\bar\alpha_{t-1}$, with $\bar\alpha_{-1} = 1$: nothing has been forgotten before step 0
        self.alpha_bars_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.alpha_bars[:-1]])
        # $\sqrt{\bar\alpha_t}$ and $\sqrt{1 - \bar\alpha_t}$, the coefficients of DDPM eq. (4)
        self.sqrt_alpha_bars = torch.sqrt(self.alpha_bars)
        self.sqrt_one_minus_alpha_bars = torch.sqrt(1.0 - self.alpha_bars)
        # $\mathrm{SNR}(t) = \bar\alpha_t / (1 - \bar\alpha_t)$
        self.snr = self.alpha_bars / (1.0 - self.alpha_bars)
        # $\tilde\beta_t = \frac{1 - \bar\alpha_{t-1}}{1 - \bar\alpha_t}\beta_t$ (DDPM eq. 7)
        self.posterior_variance = (1.0 - self.alpha_bars_prev) / (1.0 - self.alpha_bars) * betas
        # $\log\tilde\beta_t$, with $\tilde\beta_0 = 0$ replaced by $\tilde\beta_1$ to stay finite
        clipped = self.posterior_variance.clone()
        if self.T > 1:
            clipped[0] = self.posterior_variance[1]
        else:
            clipped[0] = betas[0]
        self.posterior_log_variance_clipped = torch.log(clipped)
        # $\tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\beta_t}{1 - \bar\alpha_t} x_0
        #   + \frac{\sqrt{\alpha_t}(1 - \bar\alpha_{t-1})}{1 - \bar\alpha_t} x_t$ (DDPM eq. 7)
        self.posterior_mean_coef1 = (
            torch.sqrt(self.alpha_bars_prev) * betas / (1.0 - self.alpha_bars)
        )
        self.posterior_mean_coef2 = (
            torch.sqrt(self.alphas) * (1.0 - self.alpha_bars_prev) / (1.0 - self.alpha_bars)
        )

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
