r"""Core Task 1, part 2: the forward process, one step at a time and in closed form.

[DDPM](https://arxiv.org/abs/2006.11239) corrupts a data point $x_0$ with a Markov chain of
Gaussian steps $t = 1, \dots, T$ (eq. 2)

$$q(x_t \mid x_{t-1}) = \mathcal N\big(\sqrt{1-\beta_t}\,x_{t-1},\ \beta_t I\big),$$

and, because affine maps and sums of independent Gaussians stay Gaussian (Pre-Task 1),
$t$ steps collapse into one (eq. 4):

$$\begin{gathered}
q(x_t \mid x_0) = \mathcal N\big(\sqrt{\bar\alpha_t}\,x_0,\ (1-\bar\alpha_t) I\big), \\
x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon.
\end{gathered}$$

In code the step is a 0-based index ``t`` into the schedule's arrays: ``t`` means step $t + 1$,
so ``q_sample(x0, t, ...)`` draws $x_{t+1}$ and ``q_step(x, t, ...)`` takes $x_t$ to $x_{t+1}$
(``q_step(x0, 0, ...)`` makes $x_1$ from the data). Data tensors are float32 (or float64) with the
batch first; the result has the data's dtype.
"""

from __future__ import annotations

import torch

from diffusion_path.diffusion.schedules import NoiseSchedule, gather
from diffusion_path.tools import validation

__all__ = ["q_sample", "q_step"]


def q_sample(
    x0: torch.Tensor,
    t: int | torch.Tensor,
    schedule: NoiseSchedule,
    noise: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Sample $x_{t+1} \sim q(x_{t+1} \mid x_0)$ in one shot (DDPM eq. 4), for the 0-based index ``t``.

    $$\begin{gathered}
    x_{t+1} = \sqrt{\bar\alpha_{t+1}}\,x_0 + \sqrt{1-\bar\alpha_{t+1}}\,\varepsilon, \\
    \varepsilon \sim \mathcal N(0, I),
    \end{gathered}$$

    with $\sqrt{\bar\alpha_{t+1}}$ = ``schedule.sqrt_alpha_bars[t]``.

    Args:
        x0: Clean data of shape ``(B, ...)``, e.g. images ``(B, C, H, W)`` in $[-1, 1]$.
        t: 0-based index, an int for the whole batch or a LongTensor of shape ``(B,)``
            with entries in ``[0, T-1]``.
        schedule: The noise schedule.
        noise: The $\varepsilon$ to use, of the shape and dtype of ``x0``; drawn from ``generator``
            if ``None``. Training passes it so the loss can compare the prediction with it.
        generator: The source of randomness, required when ``noise`` is ``None``.

    Returns:
        $x_{t+1}$, a tensor of the shape and dtype of ``x0``.

    Raises:
        ValueError: if ``x0`` is not a finite float tensor, ``t`` is out of range or of the wrong
            shape, ``noise`` does not match ``x0``, or neither ``noise`` nor a ``generator`` is given.

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
    x0, t = validation.batch_at_step(t, schedule, x0=x0)
    eps = validation.noise_or_draw(noise, generator, x0, "x0")

    # Exercise: eq. (C1.2) — scale the data and the noise by the two coefficients of step t + 1,
    # one pair per example, read from the schedule with gather.

    # $x_{t+1} = \sqrt{\bar\alpha_{t+1}} x_0 + \sqrt{1 - \bar\alpha_{t+1}} \varepsilon$
    return (
        gather(schedule.sqrt_alpha_bars, t, x0) * x0
        + gather(schedule.sqrt_one_minus_alpha_bars, t, x0) * eps
    )


def q_step(
    x_prev: torch.Tensor,
    t: int | torch.Tensor,
    schedule: NoiseSchedule,
    noise: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""One step of the forward Markov chain, $x_{t+1} \sim q(x_{t+1} \mid x_t)$ (DDPM eq. 2).

    $$\begin{gathered}
    x_{t+1} = \sqrt{1-\beta_{t+1}}\,x_t + \sqrt{\beta_{t+1}}\,\varepsilon, \\
    \varepsilon \sim \mathcal N(0, I),
    \end{gathered}$$

    with $\beta_{t+1}$ = ``schedule.betas[t]``. ``q_step(x0, 0, ...)`` makes $x_1$ from the data,
    and applying ``q_step`` for ``t = 0, 1, ..., k`` gives a draw of ``q_sample(x0, k, ...)``.

    Args:
        x_prev: $x_t$, the state before the step, shape ``(B, ...)`` (the data $x_0$ when
            ``t = 0``).
        t: 0-based index, an int or a LongTensor of shape ``(B,)`` in ``[0, T-1]``.
        schedule: The noise schedule.
        noise: The $\varepsilon$ to use, of the shape and dtype of ``x_prev``; drawn from
            ``generator`` if ``None``.
        generator: The source of randomness, required when ``noise`` is ``None``.

    Returns:
        $x_{t+1}$, a tensor of the shape and dtype of ``x_prev``.

    Raises:
        ValueError: if ``x_prev`` is not a finite float tensor, ``t`` is out of range or of the
            wrong shape, ``noise`` does not match ``x_prev``, or neither ``noise`` nor a
            ``generator`` is given.

    Examples:
        >>> schedule = NoiseSchedule(torch.tensor([0.19, 0.36]))
        >>> q_step(torch.ones(1, 2), 1, schedule, noise=torch.tensor([[1.0, -1.0]]))  # 0.8 +/- 0.6
        tensor([[1.4000, 0.2000]])
    """
    x_prev, t = validation.batch_at_step(t, schedule, x_prev=x_prev)
    eps = validation.noise_or_draw(noise, generator, x_prev, "x_prev")

    # Exercise: eq. (C1.1) — shrink the state by the signal kept in one step and add noise of
    # that step's variance, read from the schedule with gather.

    # $x_{t+1} = \sqrt{\alpha_{t+1}} x_t + \sqrt{\beta_{t+1}} \varepsilon$, with $\alpha = 1 - \beta$
    return (
        gather(schedule.alphas, t, x_prev).sqrt() * x_prev
        + gather(schedule.betas, t, x_prev).sqrt() * eps
    )
