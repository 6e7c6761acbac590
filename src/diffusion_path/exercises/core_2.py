"""Core Task 2 exercise: the reverse process and ancestral sampling.

Fill in each function marked TODO, then run

    diffusion-path check core-2 --impl .

from this folder. The input checks are written for you; the math is yours. The sampler is
graded with an exact noise predictor (no training needed): for Gaussian data your samples must
have the mean and covariance that the sampler's equations imply, and for a mixture each mode
must get its share of samples. The page explains the theory: docs/core/2-reverse-diffusion.md
on the site.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from tqdm import tqdm  # noqa: F401  (for a progress bar in ddpm_sample)

from diffusion_path import validation
from diffusion_path.diffusion.forward import _gather  # noqa: F401  (values[t], shaped to broadcast)
from diffusion_path.diffusion.reverse import (  # input checks, shared with the reference
    VARIANCES,
    _pair,
)
from diffusion_path.diffusion.schedules import NoiseSchedule


def q_posterior(
    x0: torch.Tensor, x_t: torch.Tensor, t: int | torch.Tensor, schedule: NoiseSchedule
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Mean, variance and log-variance of the forward posterior $q(x_{t-1} \mid x_t, x_0)$ (DDPM eqs. 6–7).

    $$\tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1-\bar\alpha_t}x_0
    + \frac{\sqrt{\alpha_t}(1-\bar\alpha_{t-1})}{1-\bar\alpha_t}x_t,\qquad
    \tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\beta_t$$

    At ``t = 0`` the posterior is a point mass at $x_0$: the mean is ``x0`` and the variance is
    exactly ``0``. The log-variance is then replaced by that of ``t = 1`` (as in the DDPM code),
    so that it stays finite.

    Args:
        x0: The clean data $x_0$ (or a prediction of it), shape ``(B, ...)``.
        x_t: The noisy data at step ``t``, same shape.
        t: 0-based step, an int or a LongTensor of shape ``(B,)`` in ``[0, T-1]``.
        schedule: The noise schedule.

    Returns:
        ``(mean, variance, log_variance)``, each of the shape of ``x_t``.

    Raises:
        ValueError: if the shapes differ or ``t`` is out of range.

    Examples:
        >>> schedule = NoiseSchedule(torch.tensor([0.5, 0.5]))  # alpha_bars 0.5, 0.25
        >>> mean, var, _ = q_posterior(torch.zeros(1, 1), torch.ones(1, 1), 1, schedule)
        >>> round(mean.item(), 4), round(var.item(), 4)  # sqrt(0.5) * 0.5 / 0.75, 0.5 * 0.5 / 0.75
        (0.4714, 0.3333)
        >>> q_posterior(torch.zeros(1, 1), torch.ones(1, 1), 0, schedule)[1].item()
        0.0
    """
    x_t, x0, t, schedule = _pair(x_t, x0, "x0", t, schedule)
    # TODO: mean = coef1 * x0 + coef2 * x_t (DDPM eq. 7), variance = (1 - abar_prev) / (1 - abar) * beta,
    # log_variance from schedule.posterior_log_variance_clipped; all three of x_t's shape.
    raise NotImplementedError


def predict_x0_from_eps(
    x_t: torch.Tensor, t: int | torch.Tensor, eps: torch.Tensor, schedule: NoiseSchedule
) -> torch.Tensor:
    r"""The $x_0$ that, with noise ``eps``, gives ``x_t``: DDPM eq. (4) solved for $x_0$.

    $$\hat x_0 = \frac{x_t - \sqrt{1-\bar\alpha_t}\,\varepsilon}{\sqrt{\bar\alpha_t}}$$

    Args:
        x_t: Noisy data at step ``t``, shape ``(B, ...)``.
        t: 0-based step, an int or a LongTensor of shape ``(B,)``.
        eps: A noise prediction $\varepsilon_\theta(x_t, t)$, same shape as ``x_t``.
        schedule: The noise schedule.

    Returns:
        $\hat x_0$, of the shape of ``x_t``.

    Raises:
        ValueError: if the shapes differ or ``t`` is out of range.

    Examples:
        >>> schedule = NoiseSchedule(torch.tensor([0.36]))  # alpha_bar 0.64
        >>> predict_x0_from_eps(torch.tensor([[1.4]]), 0, torch.tensor([[1.0]]), schedule)
        tensor([[1.]])
    """
    x_t, eps, t, schedule = _pair(x_t, eps, "eps", t, schedule)
    # TODO: x0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t).
    raise NotImplementedError


def predict_eps_from_x0(
    x_t: torch.Tensor, t: int | torch.Tensor, x0: torch.Tensor, schedule: NoiseSchedule
) -> torch.Tensor:
    r"""The noise that turns ``x0`` into ``x_t``: DDPM eq. (4) solved for $\varepsilon$.

    $$\hat\varepsilon = \frac{x_t - \sqrt{\bar\alpha_t}\,x_0}{\sqrt{1-\bar\alpha_t}}$$

    Args:
        x_t: Noisy data at step ``t``, shape ``(B, ...)``.
        t: 0-based step, an int or a LongTensor of shape ``(B,)``.
        x0: A prediction of the clean data, same shape as ``x_t``.
        schedule: The noise schedule.

    Returns:
        $\hat\varepsilon$, of the shape of ``x_t``.

    Raises:
        ValueError: if the shapes differ or ``t`` is out of range.

    Examples:
        >>> schedule = NoiseSchedule(torch.tensor([0.36]))  # alpha_bar 0.64
        >>> predict_eps_from_x0(torch.tensor([[1.4]]), 0, torch.tensor([[1.0]]), schedule)
        tensor([[1.]])
    """
    x_t, x0, t, schedule = _pair(x_t, x0, "x0", t, schedule)
    # TODO: eps = (x_t - sqrt(abar_t) x0) / sqrt(1 - abar_t).
    raise NotImplementedError


def v_from_x0_eps(
    x0: torch.Tensor, eps: torch.Tensor, t: int | torch.Tensor, schedule: NoiseSchedule
) -> torch.Tensor:
    r"""The velocity target of Salimans & Ho (2022, Sec. 4): $v = \sqrt{\bar\alpha_t}\,\varepsilon - \sqrt{1-\bar\alpha_t}\,x_0$.

    $$v_t = \sqrt{\bar\alpha_t}\,\varepsilon - \sqrt{1-\bar\alpha_t}\,x_0$$

    With $x_t = \sqrt{\bar\alpha_t}x_0 + \sqrt{1-\bar\alpha_t}\varepsilon$, the pair $(x_t, v_t)$ is a
    rotation of $(x_0, \varepsilon)$ by the angle $\phi_t$ with $\cos\phi_t = \sqrt{\bar\alpha_t}$.

    Args:
        x0: Clean data, shape ``(B, ...)``.
        eps: The noise, same shape.
        t: 0-based step, an int or a LongTensor of shape ``(B,)``.
        schedule: The noise schedule.

    Returns:
        $v_t$, of the shape of ``x0``.

    Raises:
        ValueError: if the shapes differ or ``t`` is out of range.

    Examples:
        >>> schedule = NoiseSchedule(
        ...     torch.tensor([0.36])
        ... )  # sqrt(alpha_bar) 0.8, sqrt(1 - alpha_bar) 0.6
        >>> v_from_x0_eps(torch.tensor([[1.0]]), torch.tensor([[1.0]]), 0, schedule)
        tensor([[0.2000]])
    """
    x0, eps, t, schedule = _pair(x0, eps, "eps", t, schedule)
    # TODO: v = sqrt(abar_t) eps - sqrt(1 - abar_t) x0.
    raise NotImplementedError


def predict_x0_from_v(
    x_t: torch.Tensor, t: int | torch.Tensor, v: torch.Tensor, schedule: NoiseSchedule
) -> torch.Tensor:
    r"""Clean data from a velocity prediction: $\hat x_0 = \sqrt{\bar\alpha_t}\,x_t - \sqrt{1-\bar\alpha_t}\,v$.

    $$\hat x_0 = \sqrt{\bar\alpha_t}\,x_t - \sqrt{1-\bar\alpha_t}\,v_t$$

    Args:
        x_t: Noisy data at step ``t``, shape ``(B, ...)``.
        t: 0-based step, an int or a LongTensor of shape ``(B,)``.
        v: A velocity prediction, same shape as ``x_t``.
        schedule: The noise schedule.

    Returns:
        $\hat x_0$, of the shape of ``x_t``.

    Raises:
        ValueError: if the shapes differ or ``t`` is out of range.

    Examples:
        >>> schedule = NoiseSchedule(torch.tensor([0.36]))
        >>> predict_x0_from_v(torch.tensor([[1.4]]), 0, torch.tensor([[0.2]]), schedule)
        tensor([[1.]])
    """
    x_t, v, t, schedule = _pair(x_t, v, "v", t, schedule)
    # TODO: x0 = sqrt(abar_t) x_t - sqrt(1 - abar_t) v.
    raise NotImplementedError


def predict_eps_from_v(
    x_t: torch.Tensor, t: int | torch.Tensor, v: torch.Tensor, schedule: NoiseSchedule
) -> torch.Tensor:
    r"""Noise from a velocity prediction: $\hat\varepsilon = \sqrt{1-\bar\alpha_t}\,x_t + \sqrt{\bar\alpha_t}\,v$.

    $$\hat\varepsilon = \sqrt{1-\bar\alpha_t}\,x_t + \sqrt{\bar\alpha_t}\,v_t$$

    Args:
        x_t: Noisy data at step ``t``, shape ``(B, ...)``.
        t: 0-based step, an int or a LongTensor of shape ``(B,)``.
        v: A velocity prediction, same shape as ``x_t``.
        schedule: The noise schedule.

    Returns:
        $\hat\varepsilon$, of the shape of ``x_t``.

    Raises:
        ValueError: if the shapes differ or ``t`` is out of range.

    Examples:
        >>> schedule = NoiseSchedule(torch.tensor([0.36]))
        >>> predict_eps_from_v(torch.tensor([[1.4]]), 0, torch.tensor([[0.2]]), schedule)
        tensor([[1.]])
    """
    x_t, v, t, schedule = _pair(x_t, v, "v", t, schedule)
    # TODO: eps = sqrt(1 - abar_t) x_t + sqrt(abar_t) v.
    raise NotImplementedError


def ddpm_step(
    model_output: torch.Tensor,
    x_t: torch.Tensor,
    t: int | torch.Tensor,
    schedule: NoiseSchedule,
    *,
    variance: str = "beta_tilde",
    clip_x0: bool = False,
    noise: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""One ancestral step $x_t \to x_{t-1} \sim p_\theta(x_{t-1} \mid x_t)$ (DDPM Algorithm 2, eq. 11).

    $$x_{t-1} = \tilde\mu_t\big(x_t, \hat x_0\big) + \sigma_t z,\qquad
    \hat x_0 = \frac{x_t - \sqrt{1-\bar\alpha_t}\,\varepsilon_\theta}{\sqrt{\bar\alpha_t}},\qquad
    z \sim \mathcal N(0, I)\ \text{if } t > 0,\ z = 0 \text{ at } t = 0$$

    Without clipping, $\tilde\mu_t(x_t, \hat x_0)$ equals DDPM eq. (11),
    $\frac{1}{\sqrt{\alpha_t}}\big(x_t - \frac{\beta_t}{\sqrt{1-\bar\alpha_t}}\varepsilon_\theta\big)$.

    Args:
        model_output: The noise prediction $\varepsilon_\theta(x_t, t)$, of the shape of ``x_t``.
        x_t: The current point, shape ``(B, ...)``.
        t: 0-based step, an int or a LongTensor of shape ``(B,)``; at ``t = 0`` no noise is added.
        schedule: The noise schedule.
        variance: $\sigma_t^2$: ``"beta_tilde"`` for $\tilde\beta_t$ (the posterior variance,
            right when the data is a single point) or ``"beta"`` for $\beta_t$ (right for
            data $\sim \mathcal N(0, I)$); DDPM Sec. 3.2 found both work.
        clip_x0: Clip $\hat x_0$ to $[-1, 1]$ before taking the posterior mean (for images).
        noise: The $z$ to use, of the shape of ``x_t``; drawn from ``generator`` if ``None``.
        generator: The source of randomness, required when ``noise`` is ``None`` and some ``t > 0``.

    Returns:
        $x_{t-1}$, of the shape of ``x_t`` (the generated data when ``t = 0``).

    Raises:
        ValueError: if ``variance`` is not one of the two names, the shapes differ, ``t`` is out
            of range, or no noise source is given.

    Examples:
        >>> schedule = NoiseSchedule(torch.tensor([0.36]))
        >>> x_t, eps = torch.tensor([[1.4]]), torch.tensor([[1.0]])
        >>> ddpm_step(eps, x_t, 0, schedule)  # the last step returns x0_hat, without noise
        tensor([[1.]])
        >>> ddpm_step(eps, x_t, 0, schedule, clip_x0=True, noise=torch.tensor([[5.0]]))
        tensor([[1.]])
    """
    if variance not in VARIANCES:
        raise ValueError(f"variance must be 'beta_tilde' or 'beta', got {variance!r}")
    x_t, model_output, t, schedule = _pair(x_t, model_output, "model_output", t, schedule)
    # TODO: x0_hat from eps (clamped to [-1, 1] if clip_x0), mean from q_posterior(x0_hat, x_t, t),
    # sigma^2 = posterior_variance[t] or betas[t]; add sigma * z only where t > 0
    # (z = noise if given, else drawn from generator).
    raise NotImplementedError


def ddpm_sample(
    model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    shape: tuple[int, ...],
    schedule: NoiseSchedule,
    *,
    variance: str = "beta_tilde",
    clip_x0: bool = False,
    generator: torch.Generator | None = None,
    x_T: torch.Tensor | None = None,
    return_trajectory: bool = False,
    trajectory_every: int = 1,
    progress: bool | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    r"""Generate samples by ancestral sampling from pure noise (DDPM Algorithm 2).

    $$x_T \sim \mathcal N(0, I);\quad \text{for } t = T-1, \dots, 0:\quad
    x_{t-1} = \tilde\mu_t\big(x_t, \hat x_0(x_t, \varepsilon_\theta(x_t, t))\big) + \sigma_t z$$

    Each step is [`ddpm_step`][diffusion_path.diffusion.reverse.ddpm_step]; the last one adds no noise.

    Args:
        model: The noise predictor, called as ``model(x_t, t)`` with ``t`` a LongTensor of shape
            ``(B,)`` (all entries equal); returns $\varepsilon_\theta$ of the shape of ``x_t``.
            A trained network or an exact oracle (``diffusion_path.diffusion.oracle``).
        shape: Shape of the batch to generate, ``(B, ...)``.
        schedule: The noise schedule.
        variance: ``"beta_tilde"`` or ``"beta"``, as in ``ddpm_step``.
        clip_x0: Clip $\hat x_0$ to $[-1, 1]$ at every step (for images).
        generator: The source of randomness for $x_T$ and every $z$ (required).
        x_T: The starting noise (the paper's $x_T$, the state at ``t = T-1``) of shape ``shape``;
            drawn from ``generator`` if ``None``.
        return_trajectory: Also return the states visited, noise first and data last.
        trajectory_every: Keep the state after every step ``t`` with ``t % trajectory_every == 0``
            (the final data always has ``t = 0``).
        progress: Show a progress bar (``None``: only when ``T >= 500``).

    Returns:
        The samples $x_0$ of shape ``shape``; with ``return_trajectory``, also a tensor of shape
        ``(K, *shape)`` whose first entry is $x_T$ and whose last is the returned samples.

    Raises:
        ValueError: if ``shape`` is not a tuple of positive ints, ``x_T`` does not have that
            shape, ``variance`` is unknown, ``generator`` is not a ``torch.Generator``, or the
            model returns the wrong shape.

    Examples:
        >>> schedule = NoiseSchedule.linear(50, 1e-3, 0.2)
        >>> model = lambda x_t, t: torch.zeros_like(x_t)  # a poor model: "there is no noise"
        >>> x0, path = ddpm_sample(
        ...     model,
        ...     (8, 2),
        ...     schedule,
        ...     generator=torch.Generator().manual_seed(0),
        ...     return_trajectory=True,
        ... )
        >>> x0.shape, path.shape  # x_T and the 50 states after it
        (torch.Size([8, 2]), torch.Size([51, 8, 2]))
    """
    if variance not in VARIANCES:
        raise ValueError(f"variance must be 'beta_tilde' or 'beta', got {variance!r}")
    schedule = validation.noise_schedule(schedule)
    if not isinstance(shape, tuple | list | torch.Size) or len(shape) == 0:
        raise ValueError(f"shape must be a tuple of positive ints such as (64, 2), got {shape!r}")
    shape = tuple(validation.positive_int(n, "shape") for n in shape)
    generator = validation.torch_generator(generator)
    trajectory_every = validation.positive_int(trajectory_every, "trajectory_every")
    if x_T is not None:
        x_T = validation.float_tensor(x_T, "x_T")
        if tuple(x_T.shape) != shape:
            raise ValueError(f"x_T must have shape {shape}, got {tuple(x_T.shape)}")
    # TODO: x = x_T (or torch.randn(shape, generator=generator)); then, inside torch.no_grad(),
    # for t = T-1 down to 0: t_batch = torch.full((B,), t, dtype=torch.long),
    # eps = model(x, t_batch), x = ddpm_step(eps, x, t_batch, schedule, ...).
    # With return_trajectory keep x_T and the state after each step with t % trajectory_every == 0,
    # and return (x, torch.stack(states)); otherwise return x.
    # tqdm(range(...), disable=not progress) gives a progress bar.
    raise NotImplementedError
