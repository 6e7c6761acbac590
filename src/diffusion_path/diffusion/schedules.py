r"""Core Task 1, part 1: noise schedules, the numbers that say how fast the forward process forgets.

The forward process of [DDPM](https://arxiv.org/abs/2006.11239) adds Gaussian noise of
variance $\beta_t$ at each step $t = 1, \dots, T$. Everything else follows from that sequence:

$$\begin{gathered}
\alpha_t = 1 - \beta_t, \qquad \bar\alpha_t = \prod_{s=1}^{t} \alpha_s, \\
\mathrm{SNR}(t) = \frac{\bar\alpha_t}{1 - \bar\alpha_t}.
\end{gathered}$$

The math counts steps from 1, as the paper does; arrays count from 0. Index ``t`` of every
array holds step $t + 1$: ``betas[t]`` is $\beta_{t+1}$ and ``alpha_bars[t]`` is
$\bar\alpha_{t+1}$, so ``alpha_bars[0]`` $= \bar\alpha_1 = 1 - \beta_1$ describes the first noisy
point $x_1$, and the data $x_0$ has no entry (its $\bar\alpha_0 = 1$).

Two schedules are in common use: DDPM's linear $\beta_t$ (Sec. 4 of the paper) and the cosine
schedule of [Nichol & Dhariwal](https://arxiv.org/abs/2102.09672) (eq. 17), which defines
$\bar\alpha_t$ directly and destroys information more evenly over the steps.

Schedules are computed in float64: $\bar\alpha_t$ is a product of up to a thousand numbers close
to one, and $1 - \bar\alpha_t$ near $t = 1$ is a small difference of numbers close to one.
Functions read them with [`gather`][diffusion_path.diffusion.schedules.gather], which picks
the entries of a batch's steps and casts them, once, to the data's dtype.
"""

from __future__ import annotations

import math

import torch

from diffusion_path.tools import validation

__all__ = ["NoiseSchedule", "cosine_beta_schedule", "gather", "linear_beta_schedule"]


def linear_beta_schedule(T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    r"""DDPM's linear schedule: $T$ variances evenly spaced from ``beta_start`` to ``beta_end``.

    $$\begin{gathered}
    \beta_t = \beta_{\text{start}} + \frac{t-1}{T-1}\,(\beta_{\text{end}} - \beta_{\text{start}}), \\
    t = 1, \dots, T
    \end{gathered}$$

    DDPM (Sec. 4) uses $T = 1000$, $\beta_1 = 10^{-4}$, $\beta_T = 0.02$. With far fewer steps
    the same end points leave much of the signal at $t = T$: raise ``beta_end`` then.

    Args:
        T: Number of diffusion steps, $T \ge 1$.
        beta_start: The first variance $\beta_1$, in $(0, 1)$.
        beta_end: The last variance $\beta_T$, in $(0, 1)$.

    Returns:
        A float64 tensor of shape ``(T,)``; entry ``t`` is $\beta_{t+1}$.

    Raises:
        ValueError: if ``T`` is not a positive int, or ``beta_start`` or ``beta_end`` is not a
            number in $(0, 1)$.

    Examples:
        >>> linear_beta_schedule(5, 0.1, 0.5)
        tensor([0.1000, 0.2000, 0.3000, 0.4000, 0.5000], dtype=torch.float64)
    """
    T = validation.positive_int(T, "T")
    beta_start = validation.in_open_unit_interval(beta_start, "beta_start")
    beta_end = validation.in_open_unit_interval(beta_end, "beta_end")

    # Exercise: the T variances of eq. (C1.4), from beta_start to beta_end in equal steps, as a
    # float64 tensor.

    # $\beta_t$ evenly spaced from $\beta_{\text{start}}$ to $\beta_{\text{end}}$
    return torch.linspace(beta_start, beta_end, T, dtype=torch.float64)


def cosine_beta_schedule(T: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    r"""The cosine schedule of Nichol & Dhariwal (2021), eq. (17), turned into variances $\beta_t$.

    $$\begin{aligned}
    \bar\alpha(\tau) &= \frac{f(\tau)}{f(0)},\quad
    f(\tau) = \cos^2\!\Big(\frac{\tau/T + s}{1+s}\cdot\frac{\pi}{2}\Big), \\
    \beta_t &= \min\Big(1 - \frac{\bar\alpha(t)}{\bar\alpha(t-1)},\ \beta_{\max}\Big),
    \quad t = 1, \dots, T
    \end{aligned}$$

    The offset $s$ keeps $\beta$ from being vanishingly small near $t = 1$; the clip at
    $\beta_{\max}$ avoids the singularity at $\tau = T$ (Improved DDPM, Sec. 3.2).

    Args:
        T: Number of diffusion steps, $T \ge 1$.
        s: Small offset $s \ge 0$.
        max_beta: Largest allowed $\beta_t$, in $(0, 1)$.

    Returns:
        A float64 tensor of shape ``(T,)``; entry ``t`` is $\beta_{t+1}$.

    Raises:
        ValueError: if ``T`` is not a positive int, ``s < 0`` or ``max_beta`` is outside $(0, 1)$.

    Examples:
        >>> betas = cosine_beta_schedule(1000)
        >>> round(float(betas[0]), 6), float(betas[-1])
        (4.1e-05, 0.999)
    """
    T = validation.positive_int(T, "T")
    s = validation.non_negative(s, "s")
    max_beta = validation.in_open_unit_interval(max_beta, "max_beta")

    # Exercise: eq. (C1.5) — the cosine curve f at the T + 1 points from tau at 0 to T, normalised
    # so that it starts at 1; each beta is one minus the ratio of consecutive values, capped at
    # max_beta.

    tau = torch.arange(T + 1, dtype=torch.float64)
    # $f(\tau) = \cos^2\big(\frac{\tau/T + s}{1 + s} \frac{\pi}{2}\big)$
    f = torch.cos((tau / T + s) / (1 + s) * math.pi / 2) ** 2
    # $\bar\alpha(\tau) = f(\tau) / f(0)$
    alpha_bar = f / f[0]
    # $\beta_t = \min(1 - \bar\alpha(t) / \bar\alpha(t - 1), \beta_{\max})$
    return torch.clamp(1 - alpha_bar[1:] / alpha_bar[:-1], max=max_beta)


class NoiseSchedule:
    r"""A noise schedule $\beta_1, \dots, \beta_T$ and every quantity derived from it (float64).

    $$\begin{aligned}
    \alpha_t &= 1 - \beta_t,\quad \bar\alpha_t = \prod_{s=1}^{t}\alpha_s,\quad \bar\alpha_0 = 1, \\
    \tilde\beta_t &= \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\beta_t
    \end{aligned}$$

    Attributes are float64 tensors of shape ``(T,)``; entry ``t`` belongs to step $t + 1$:

    - ``betas`` $\beta_{t+1}$, ``alphas`` $\alpha_{t+1}$, ``alpha_bars`` $\bar\alpha_{t+1}$ (DDPM eq. 4);
    - ``alpha_bars_prev`` $\bar\alpha_t$, one step earlier: ``alpha_bars_prev[0]`` is
      $\bar\alpha_0 = 1$, the data;
    - ``sqrt_alpha_bars`` $\sqrt{\bar\alpha_{t+1}}$ and ``sqrt_one_minus_alpha_bars``
      $\sqrt{1-\bar\alpha_{t+1}}$, the two coefficients of $q(x_{t+1} \mid x_0)$;
    - ``snr`` $\bar\alpha_{t+1} / (1-\bar\alpha_{t+1})$, the signal-to-noise ratio of $x_{t+1}$;
    - ``posterior_variance`` $\tilde\beta_{t+1}$ (DDPM eq. 7), exactly ``0`` at index 0
      ($\tilde\beta_1 = 0$: given $x_1$ and $x_0$, nothing about $x_0$ is uncertain);
    - ``posterior_log_variance_clipped``: $\log\tilde\beta_{t+1}$ with index 0 replaced by
      index 1 (by $\log\beta_1$ when $T = 1$), so that it stays finite;
    - ``posterior_mean_coef1`` $\frac{\sqrt{\bar\alpha_t}\,\beta_{t+1}}{1-\bar\alpha_{t+1}}$ and
      ``posterior_mean_coef2`` $\frac{\sqrt{\alpha_{t+1}}\,(1-\bar\alpha_t)}{1-\bar\alpha_{t+1}}$,
      the weights of $x_0$ and $x_{t+1}$ in the posterior mean $\tilde\mu_{t+1}$ (DDPM eq. 7);

    and ``T``, the number of steps. Read them with
    [`gather`][diffusion_path.diffusion.schedules.gather].

    Args:
        betas: The variances $\beta_1, \dots, \beta_T$, a 1-D tensor (or sequence) in $(0, 1)$.

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
        betas = validation.variances(betas, "betas")
        self.T = int(betas.numel())
        self.betas = betas

        # Exercise: every quantity listed above, from the betas, in float64: eq. (C1.2)'s
        # cumulative product and its square roots, the SNR of eq. (C1.3), and the posterior's
        # variance and mean weights of Core Task 2 (DDPM eq. 7), with the two special cases at
        # index 0 that the list describes.

        # $\alpha_t = 1 - \beta_t$
        self.alphas = 1.0 - betas
        # $\bar\alpha_t = \prod_{s=1}^{t} \alpha_s$
        self.alpha_bars = torch.cumprod(self.alphas, dim=0)
        # $\bar\alpha_{t-1}$, with $\bar\alpha_0 = 1$: nothing has been forgotten before step 1
        self.alpha_bars_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.alpha_bars[:-1]])
        # $\sqrt{\bar\alpha_t}$ and $\sqrt{1 - \bar\alpha_t}$, the coefficients of DDPM eq. (4)
        self.sqrt_alpha_bars = torch.sqrt(self.alpha_bars)
        self.sqrt_one_minus_alpha_bars = torch.sqrt(1.0 - self.alpha_bars)
        # $\mathrm{SNR}(t) = \bar\alpha_t / (1 - \bar\alpha_t)$
        self.snr = self.alpha_bars / (1.0 - self.alpha_bars)
        # $\tilde\beta_t = \frac{1 - \bar\alpha_{t-1}}{1 - \bar\alpha_t}\beta_t$ (DDPM eq. 7)
        self.posterior_variance = (1.0 - self.alpha_bars_prev) / (1.0 - self.alpha_bars) * betas
        # $\log\tilde\beta_t$, with $\tilde\beta_1 = 0$ replaced by $\tilde\beta_2$ to stay finite
        clipped = self.posterior_variance.clone()
        clipped[0] = self.posterior_variance[1] if self.T > 1 else betas[0]
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
            f"to {float(self.betas[-1]):.3g}, alpha_bar_T={float(self.alpha_bars[-1]):.3g})"
        )


def gather(values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    r"""``values[t]`` for a batch, shaped ``(B, 1, ..., 1)`` to broadcast against ``like``.

    Every function that reads the schedule does it through this one: it picks the entry of each
    example's step from the float64 array, then casts the ``B`` numbers to the dtype and device of
    the data, once. (Casting the whole schedule to float32 first and computing with it loses the
    digits that make $1 - \bar\alpha_t$ accurate near $t = 1$.)

    Args:
        values: A 1-D schedule array such as ``schedule.alpha_bars``, shape ``(T,)``.
        t: 0-based steps, a LongTensor of shape ``(B,)``, already checked to lie in ``[0, T-1]``.
        like: The batch the values will multiply, shape ``(B, ...)``.

    Returns:
        A tensor of shape ``(B, 1, ..., 1)`` with ``like.ndim`` axes, in ``like``'s dtype and device.

    Examples:
        >>> schedule = NoiseSchedule(torch.tensor([0.1, 0.2, 0.5]))
        >>> gather(schedule.alpha_bars, torch.tensor([2, 0]), torch.zeros(2, 3, 4, 4)).flatten()
        tensor([0.3600, 0.9000])
        >>> gather(schedule.alpha_bars, torch.tensor([2, 0]), torch.zeros(2, 3, 4, 4)).shape
        torch.Size([2, 1, 1, 1])
    """
    picked = values[t if t.device == values.device else t.to(values.device)]
    picked = picked.to(device=like.device, dtype=like.dtype)
    return picked.view((-1,) + (1,) * (like.ndim - 1))
