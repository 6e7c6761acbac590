r"""Core Task 2: the reverse process — the forward posterior, and ancestral sampling from noise.

Given $x_0$, the forward process can be run backwards exactly: Bayes' rule on two Gaussians
gives the posterior of [DDPM](https://arxiv.org/abs/2006.11239) eqs. (6)–(7),

$$q(x_{t-1} \mid x_t, x_0) = \mathcal N\big(\tilde\mu_t(x_t, x_0),\ \tilde\beta_t I\big),\quad
\tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1-\bar\alpha_t}\,x_0
 + \frac{\sqrt{\alpha_t}\,(1-\bar\alpha_{t-1})}{1-\bar\alpha_t}\,x_t,\quad
\tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\,\beta_t.$$

A generative model does not know $x_0$, so it predicts it — or, equivalently, the noise
$\varepsilon$ that was added (eq. 4 turns one into the other) — and plugs the prediction into
$\tilde\mu_t$. One reverse step (Algorithm 2) is

$$x_{t-1} = \tilde\mu_t\big(x_t, \hat x_0(x_t, \varepsilon_\theta(x_t, t))\big) + \sigma_t z,
\qquad z \sim \mathcal N(0, I),\quad \sigma_t^2 \in \{\tilde\beta_t, \beta_t\},$$

with no noise at the last step. Timesteps are 0-based: step ``t`` maps $x_t$ to $x_{t-1}$, and
``t = 0`` returns the generated data. Schedules are float64; data float32.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from tqdm import tqdm

from diffusion_path import validation
from diffusion_path.diffusion.forward import _gather
from diffusion_path.diffusion.schedules import NoiseSchedule

__all__ = [
    "ddpm_sample",
    "ddpm_step",
    "predict_eps_from_v",
    "predict_eps_from_x0",
    "predict_x0_from_eps",
    "predict_x0_from_v",
    "q_posterior",
    "v_from_x0_eps",
]

VARIANCES = ("beta_tilde", "beta")


def _pair(x_t: torch.Tensor, other: torch.Tensor, other_name: str, t, schedule) -> tuple:
    """Validate ``x_t``, a tensor of its shape, ``t`` and ``schedule``; return them."""
    x_t = validation.float_tensor(x_t, "x_t")
    other = validation.same_shape(other, other_name, x_t, "x_t")
    schedule = validation.noise_schedule(schedule)
    t = validation.timesteps(t, schedule.T, x_t.shape[0])
    return x_t, other, t, schedule


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
    beta = _gather(schedule.betas, t, x_t)
    alpha_bar = _gather(schedule.alpha_bars, t, x_t)
    alpha_bar_prev = _gather(schedule.alpha_bars_prev, t, x_t)
    # $\frac{\sqrt{\bar\alpha_{t-1}}\beta_t}{1 - \bar\alpha_t}$, the weight of $x_0$
    coef_x0 = _gather(
        torch.sqrt(schedule.alpha_bars_prev) * schedule.betas / (1.0 - schedule.alpha_bars), t, x_t
    )
    # $\frac{\sqrt{\alpha_t}(1 - \bar\alpha_{t-1})}{1 - \bar\alpha_t}$, the weight of $x_t$
    coef_xt = _gather(
        torch.sqrt(1.0 - schedule.betas)
        * (1.0 - schedule.alpha_bars_prev)
        / (1.0 - schedule.alpha_bars),
        t,
        x_t,
    )
    # $\tilde\mu_t(x_t, x_0)$ (DDPM eq. 7)
    mean = coef_x0 * x0 + coef_xt * x_t
    # $\tilde\beta_t = \frac{1 - \bar\alpha_{t-1}}{1 - \bar\alpha_t}\beta_t$ (DDPM eq. 7)
    variance = ((1.0 - alpha_bar_prev) / (1.0 - alpha_bar) * beta).expand_as(x_t)
    log_variance = _gather(schedule.posterior_log_variance_clipped, t, x_t).expand_as(x_t)
    return mean, variance, log_variance


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
    sqrt_alpha_bar = _gather(schedule.sqrt_alpha_bars, t, x_t)
    sqrt_one_minus_alpha_bar = _gather(schedule.sqrt_one_minus_alpha_bars, t, x_t)
    # $\hat x_0 = (x_t - \sqrt{1 - \bar\alpha_t}\varepsilon) / \sqrt{\bar\alpha_t}$
    return (x_t - sqrt_one_minus_alpha_bar * eps) / sqrt_alpha_bar


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
    sqrt_alpha_bar = _gather(schedule.sqrt_alpha_bars, t, x_t)
    sqrt_one_minus_alpha_bar = _gather(schedule.sqrt_one_minus_alpha_bars, t, x_t)
    # $\hat\varepsilon = (x_t - \sqrt{\bar\alpha_t} x_0) / \sqrt{1 - \bar\alpha_t}$
    return (x_t - sqrt_alpha_bar * x0) / sqrt_one_minus_alpha_bar


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
    sqrt_alpha_bar = _gather(schedule.sqrt_alpha_bars, t, x0)
    sqrt_one_minus_alpha_bar = _gather(schedule.sqrt_one_minus_alpha_bars, t, x0)
    # $v = \sqrt{\bar\alpha_t}\varepsilon - \sqrt{1 - \bar\alpha_t} x_0$
    return sqrt_alpha_bar * eps - sqrt_one_minus_alpha_bar * x0


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
    sqrt_alpha_bar = _gather(schedule.sqrt_alpha_bars, t, x_t)
    sqrt_one_minus_alpha_bar = _gather(schedule.sqrt_one_minus_alpha_bars, t, x_t)
    # $\hat x_0 = \sqrt{\bar\alpha_t} x_t - \sqrt{1 - \bar\alpha_t} v$
    return sqrt_alpha_bar * x_t - sqrt_one_minus_alpha_bar * v


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
    sqrt_alpha_bar = _gather(schedule.sqrt_alpha_bars, t, x_t)
    sqrt_one_minus_alpha_bar = _gather(schedule.sqrt_one_minus_alpha_bars, t, x_t)
    # $\hat\varepsilon = \sqrt{1 - \bar\alpha_t} x_t + \sqrt{\bar\alpha_t} v$
    return sqrt_one_minus_alpha_bar * x_t + sqrt_alpha_bar * v


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
    # $\hat x_0 = (x_t - \sqrt{1 - \bar\alpha_t}\varepsilon_\theta) / \sqrt{\bar\alpha_t}$
    x0_hat = predict_x0_from_eps(x_t, t, model_output, schedule)
    if clip_x0:
        x0_hat = x0_hat.clamp(-1.0, 1.0)
    # $\tilde\mu_t(x_t, \hat x_0)$, the mean of the reverse step
    mean, _, _ = q_posterior(x0_hat, x_t, t, schedule)
    # $\sigma_t^2 = \tilde\beta_t$ or $\beta_t$
    sigma2 = schedule.posterior_variance if variance == "beta_tilde" else schedule.betas
    sigma = _gather(torch.sqrt(sigma2), t, x_t)
    # no noise at the last step: $z = 0$ where $t = 0$
    nonzero = (t > 0).to(device=x_t.device, dtype=x_t.dtype).reshape(-1, *([1] * (x_t.ndim - 1)))
    if not bool(torch.any(t > 0)):
        return mean
    if noise is None:
        generator = validation.torch_generator(generator)
        z = torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype, device=x_t.device)
    else:
        z = validation.same_shape(noise, "noise", x_t, "x_t")
    # $x_{t-1} = \tilde\mu_t + \sigma_t z$
    return mean + nonzero * sigma * z


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
    if x_T is None:
        # $x_T \sim \mathcal N(0, I)$
        x = torch.randn(shape, generator=generator, device=generator.device)
    else:
        x = validation.float_tensor(x_T, "x_T")
        if tuple(x.shape) != shape:
            raise ValueError(f"x_T must have shape {shape}, got {tuple(x.shape)}")
        x = x.clone()
    trajectory = [x]
    show = schedule.T >= 500 if progress is None else bool(progress)
    with torch.no_grad():
        for t in tqdm(range(schedule.T - 1, -1, -1), disable=not show, desc="sampling"):
            t_batch = torch.full((shape[0],), t, dtype=torch.long, device=x.device)
            # $\varepsilon_\theta(x_t, t)$
            eps = model(x, t_batch)
            if not isinstance(eps, torch.Tensor) or tuple(eps.shape) != shape:
                got = tuple(eps.shape) if isinstance(eps, torch.Tensor) else type(eps).__name__
                raise ValueError(f"model must return a tensor of shape {shape}, got {got}")
            # $x_{t-1} \sim p_\theta(x_{t-1} \mid x_t)$
            x = ddpm_step(
                eps.to(x.dtype),
                x,
                t_batch,
                schedule,
                variance=variance,
                clip_x0=clip_x0,
                generator=generator,
            )
            if return_trajectory and t % trajectory_every == 0:
                trajectory.append(x)
    if return_trajectory:
        return x, torch.stack(trajectory)
    return x
