r"""Core Task 2: the reverse process — the forward posterior, and ancestral sampling from noise.

Given $x_0$, the forward process can be run backwards exactly: Bayes' rule on two Gaussians
gives the posterior of [DDPM](https://arxiv.org/abs/2006.11239) eqs. (6)–(7),

$$\begin{aligned}
q(x_{t-1} \mid x_t, x_0) &= \mathcal N\big(\tilde\mu_t(x_t, x_0),\ \tilde\beta_t I\big), \\
\tilde\mu_t &= \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1-\bar\alpha_t}\,x_0
 + \frac{\sqrt{\alpha_t}\,(1-\bar\alpha_{t-1})}{1-\bar\alpha_t}\,x_t, \\
\tilde\beta_t &= \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\,\beta_t.
\end{aligned}$$

A generative model does not know $x_0$, so it predicts it — or, equivalently, the noise
$\varepsilon$ that was added (eq. 4 turns one into the other) — and plugs the prediction into
$\tilde\mu_t$. One reverse step (Algorithm 2) is

$$\begin{aligned}
x_{t-1} &= \tilde\mu_t\big(x_t, \hat x_0(x_t, \varepsilon_\theta(x_t, t))\big) + \sigma_t z, \\
z &\sim \mathcal N(0, I),\quad \sigma_t^2 \in \{\tilde\beta_t, \beta_t\},
\end{aligned}$$

with no noise at the last step, $t = 1$, which returns the data $x_0$. The fresh noise of a
reverse step is $z$; the noise $\varepsilon$ is the one the forward process added.

In code the step is a 0-based index ``t`` into the schedule's arrays, standing for step $t + 1$:
``ddpm_step(eps, x, t, ...)`` takes $x_{t+1}$ to $x_t$, so index ``0`` returns $x_0$, and the
model is called with the index of the state it sees. Schedules are float64; results have the
data's dtype.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from diffusion_path.diffusion.schedules import NoiseSchedule, gather
from diffusion_path.tools import validation
from diffusion_path.tools.progress import progress_bar

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

#: The two choices of the reverse step's variance $\sigma_t^2$ (DDPM Sec. 3.2).
VARIANCES = ("beta_tilde", "beta")


def q_posterior(
    x0: torch.Tensor, x_t: torch.Tensor, t: int | torch.Tensor, schedule: NoiseSchedule
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Mean, variance and log-variance of the forward posterior $q(x_t \mid x_{t+1}, x_0)$ (DDPM eqs. 6–7).

    For the 0-based index ``t`` (the paper's step $t + 1$):

    $$\begin{aligned}
    \tilde\mu_{t+1} &= \frac{\sqrt{\bar\alpha_t}\,\beta_{t+1}}{1-\bar\alpha_{t+1}}\,x_0
    + \frac{\sqrt{\alpha_{t+1}}\,(1-\bar\alpha_t)}{1-\bar\alpha_{t+1}}\,x_{t+1}, \\
    \tilde\beta_{t+1} &= \frac{1-\bar\alpha_t}{1-\bar\alpha_{t+1}}\,\beta_{t+1}
    \end{aligned}$$

    The two weights and the variance are the schedule's ``posterior_mean_coef1[t]``,
    ``posterior_mean_coef2[t]`` and ``posterior_variance[t]``, computed once in float64. At
    ``t = 0`` the posterior of $x_0$ given $x_1$ and $x_0$ is a point mass: the mean is ``x0`` and
    the variance exactly ``0``; the log-variance there is that of index 1 (the schedule's
    ``posterior_log_variance_clipped``, as in the DDPM code), so that it stays finite.

    Args:
        x0: The clean data $x_0$ (or a prediction of it), shape ``(B, ...)``.
        x_t: The noisy batch at index ``t``, $x_{t+1}$, of the shape and dtype of ``x0``.
        t: 0-based index, an int or a LongTensor of shape ``(B,)`` in ``[0, T-1]``.
        schedule: The noise schedule.

    Returns:
        ``(mean, variance, log_variance)``, each of the shape and dtype of ``x_t``.

    Raises:
        ValueError: if ``x0`` or ``x_t`` is not a finite float tensor, their shapes or dtypes
            differ, or ``t`` is out of range.

    Examples:
        >>> schedule = NoiseSchedule(torch.tensor([0.5, 0.5]))  # alpha_bars 0.5, 0.25
        >>> mean, var, _ = q_posterior(torch.zeros(1, 1), torch.ones(1, 1), 1, schedule)
        >>> round(mean.item(), 4), round(var.item(), 4)  # sqrt(0.5) * 0.5 / 0.75, 0.5 * 0.5 / 0.75
        (0.4714, 0.3333)
        >>> q_posterior(torch.zeros(1, 1), torch.ones(1, 1), 0, schedule)[1].item()
        0.0
    """
    x0, x_t, t = validation.batch_at_step(t, schedule, x0=x0, x_t=x_t)

    # Exercise: eqs. (C2.1)-(C2.2) — the posterior's mean weighs x0 and x_t by two numbers of the
    # schedule at index t; its variance and clipped log-variance are schedule entries too. Return
    # all three in the shape of x_t.

    # $\tilde\mu_{t+1} = \frac{\sqrt{\bar\alpha_t}\beta_{t+1}}{1 - \bar\alpha_{t+1}} x_0
    #   + \frac{\sqrt{\alpha_t}(1 - \bar\alpha_{t-1})}{1 - \bar\alpha_t} x_t$
    mean = (
        gather(schedule.posterior_mean_coef1, t, x_t) * x0
        + gather(schedule.posterior_mean_coef2, t, x_t) * x_t
    )
    # $\tilde\beta_{t+1} = \frac{1 - \bar\alpha_t}{1 - \bar\alpha_{t+1}}\beta_{t+1}$, and its clipped log
    variance = gather(schedule.posterior_variance, t, x_t).expand_as(x_t)
    log_variance = gather(schedule.posterior_log_variance_clipped, t, x_t).expand_as(x_t)
    return mean, variance, log_variance


def predict_x0_from_eps(
    x_t: torch.Tensor, t: int | torch.Tensor, eps: torch.Tensor, schedule: NoiseSchedule
) -> torch.Tensor:
    r"""The $x_0$ that, with noise ``eps``, gives ``x_t``: DDPM eq. (4) solved for $x_0$.

    For the 0-based index ``t``, with $\bar\alpha_{t+1}$ = ``schedule.alpha_bars[t]``:

    $$\hat x_0 = \frac{x_{t+1} - \sqrt{1-\bar\alpha_{t+1}}\,\varepsilon}{\sqrt{\bar\alpha_{t+1}}}$$

    Args:
        x_t: The noisy batch at index ``t``, $x_{t+1}$, shape ``(B, ...)``.
        t: 0-based index, an int or a LongTensor of shape ``(B,)``.
        eps: A noise prediction $\varepsilon_\theta$, of the shape and dtype of ``x_t``.
        schedule: The noise schedule.

    Returns:
        $\hat x_0$, of the shape and dtype of ``x_t``.

    Raises:
        ValueError: if ``x_t`` or ``eps`` is not a finite float tensor, they do not match, or
            ``t`` is out of range.

    Examples:
        >>> schedule = NoiseSchedule(torch.tensor([0.36]))  # alpha_bar 0.64
        >>> predict_x0_from_eps(torch.tensor([[1.4]]), 0, torch.tensor([[1.0]]), schedule)
        tensor([[1.]])
    """
    x_t, eps, t = validation.batch_at_step(t, schedule, x_t=x_t, eps=eps)

    # Exercise: eq. (C2.3), first line — solve the forward equation for the clean data.

    # $\hat x_0 = (x_{t+1} - \sqrt{1 - \bar\alpha_{t+1}}\varepsilon) / \sqrt{\bar\alpha_{t+1}}$
    return (x_t - gather(schedule.sqrt_one_minus_alpha_bars, t, x_t) * eps) / gather(
        schedule.sqrt_alpha_bars, t, x_t
    )


def predict_eps_from_x0(
    x_t: torch.Tensor, t: int | torch.Tensor, x0: torch.Tensor, schedule: NoiseSchedule
) -> torch.Tensor:
    r"""The noise that turns ``x0`` into ``x_t``: DDPM eq. (4) solved for $\varepsilon$.

    For the 0-based index ``t``, with $\bar\alpha_{t+1}$ = ``schedule.alpha_bars[t]``:

    $$\hat\varepsilon = \frac{x_{t+1} - \sqrt{\bar\alpha_{t+1}}\,\hat x_0}{\sqrt{1-\bar\alpha_{t+1}}}$$

    Args:
        x_t: The noisy batch at index ``t``, $x_{t+1}$, shape ``(B, ...)``.
        t: 0-based index, an int or a LongTensor of shape ``(B,)``.
        x0: A prediction of the clean data, of the shape and dtype of ``x_t``.
        schedule: The noise schedule.

    Returns:
        $\hat\varepsilon$, of the shape and dtype of ``x_t``.

    Raises:
        ValueError: if ``x_t`` or ``x0`` is not a finite float tensor, they do not match, or
            ``t`` is out of range.

    Examples:
        >>> schedule = NoiseSchedule(torch.tensor([0.36]))  # alpha_bar 0.64
        >>> predict_eps_from_x0(torch.tensor([[1.4]]), 0, torch.tensor([[1.0]]), schedule)
        tensor([[1.]])
    """
    x_t, x0, t = validation.batch_at_step(t, schedule, x_t=x_t, x0=x0)

    # Exercise: eq. (C2.3), second line — solve the forward equation for the noise.

    # $\hat\varepsilon = (x_{t+1} - \sqrt{\bar\alpha_{t+1}} x_0) / \sqrt{1 - \bar\alpha_{t+1}}$
    return (x_t - gather(schedule.sqrt_alpha_bars, t, x_t) * x0) / gather(
        schedule.sqrt_one_minus_alpha_bars, t, x_t
    )


def v_from_x0_eps(
    x0: torch.Tensor, eps: torch.Tensor, t: int | torch.Tensor, schedule: NoiseSchedule
) -> torch.Tensor:
    r"""The velocity target of Salimans & Ho (2022, Sec. 4), for the 0-based index ``t``.

    $$v_{t+1} = \sqrt{\bar\alpha_{t+1}}\,\varepsilon - \sqrt{1-\bar\alpha_{t+1}}\,x_0$$

    With $x_{t+1} = \sqrt{\bar\alpha_{t+1}}x_0 + \sqrt{1-\bar\alpha_{t+1}}\varepsilon$, the pair
    $(x_{t+1}, v_{t+1})$ is a rotation of $(x_0, \varepsilon)$ by the angle $\phi$ with
    $\cos\phi = \sqrt{\bar\alpha_{t+1}}$.

    Args:
        x0: Clean data, shape ``(B, ...)``.
        eps: The noise, of the shape and dtype of ``x0``.
        t: 0-based index, an int or a LongTensor of shape ``(B,)``.
        schedule: The noise schedule.

    Returns:
        $v_{t+1}$, of the shape and dtype of ``x0``.

    Raises:
        ValueError: if ``x0`` or ``eps`` is not a finite float tensor, they do not match, or
            ``t`` is out of range.

    Examples:
        >>> schedule = NoiseSchedule(
        ...     torch.tensor([0.36])
        ... )  # sqrt(alpha_bar) 0.8, sqrt(1 - alpha_bar) 0.6
        >>> v_from_x0_eps(torch.tensor([[1.0]]), torch.tensor([[1.0]]), 0, schedule)
        tensor([[0.2000]])
    """
    x0, eps, t = validation.batch_at_step(t, schedule, x0=x0, eps=eps)

    # Exercise: eq. (C2.4) — the velocity, a signed mix of the noise and the data.

    # $v = \sqrt{\bar\alpha_{t+1}}\varepsilon - \sqrt{1 - \bar\alpha_{t+1}} x_0$
    return (
        gather(schedule.sqrt_alpha_bars, t, x0) * eps
        - gather(schedule.sqrt_one_minus_alpha_bars, t, x0) * x0
    )


def predict_x0_from_v(
    x_t: torch.Tensor, t: int | torch.Tensor, v: torch.Tensor, schedule: NoiseSchedule
) -> torch.Tensor:
    r"""Clean data from a velocity prediction, for the 0-based index ``t``.

    $$\hat x_0 = \sqrt{\bar\alpha_{t+1}}\,x_{t+1} - \sqrt{1-\bar\alpha_{t+1}}\,\hat v$$

    Args:
        x_t: The noisy batch at index ``t``, $x_{t+1}$, shape ``(B, ...)``.
        t: 0-based index, an int or a LongTensor of shape ``(B,)``.
        v: A velocity prediction, of the shape and dtype of ``x_t``.
        schedule: The noise schedule.

    Returns:
        $\hat x_0$, of the shape and dtype of ``x_t``.

    Raises:
        ValueError: if ``x_t`` or ``v`` is not a finite float tensor, they do not match, or
            ``t`` is out of range.

    Examples:
        >>> schedule = NoiseSchedule(torch.tensor([0.36]))
        >>> predict_x0_from_v(torch.tensor([[1.4]]), 0, torch.tensor([[0.2]]), schedule)
        tensor([[1.]])
    """
    x_t, v, t = validation.batch_at_step(t, schedule, x_t=x_t, v=v)

    # Exercise: the inverse rotation of eq. (C2.4), solved for the clean data.

    # $\hat x_0 = \sqrt{\bar\alpha_{t+1}} x_{t+1} - \sqrt{1 - \bar\alpha_{t+1}} v$
    return (
        gather(schedule.sqrt_alpha_bars, t, x_t) * x_t
        - gather(schedule.sqrt_one_minus_alpha_bars, t, x_t) * v
    )


def predict_eps_from_v(
    x_t: torch.Tensor, t: int | torch.Tensor, v: torch.Tensor, schedule: NoiseSchedule
) -> torch.Tensor:
    r"""Noise from a velocity prediction, for the 0-based index ``t``.

    $$\hat\varepsilon = \sqrt{1-\bar\alpha_{t+1}}\,x_{t+1} + \sqrt{\bar\alpha_{t+1}}\,\hat v$$

    Args:
        x_t: The noisy batch at index ``t``, $x_{t+1}$, shape ``(B, ...)``.
        t: 0-based index, an int or a LongTensor of shape ``(B,)``.
        v: A velocity prediction, of the shape and dtype of ``x_t``.
        schedule: The noise schedule.

    Returns:
        $\hat\varepsilon$, of the shape and dtype of ``x_t``.

    Raises:
        ValueError: if ``x_t`` or ``v`` is not a finite float tensor, they do not match, or
            ``t`` is out of range.

    Examples:
        >>> schedule = NoiseSchedule(torch.tensor([0.36]))
        >>> predict_eps_from_v(torch.tensor([[1.4]]), 0, torch.tensor([[0.2]]), schedule)
        tensor([[1.]])
    """
    x_t, v, t = validation.batch_at_step(t, schedule, x_t=x_t, v=v)

    # Exercise: the inverse rotation of eq. (C2.4), solved for the noise.

    # $\hat\varepsilon = \sqrt{1 - \bar\alpha_{t+1}} x_{t+1} + \sqrt{\bar\alpha_{t+1}} v$
    return (
        gather(schedule.sqrt_one_minus_alpha_bars, t, x_t) * x_t
        + gather(schedule.sqrt_alpha_bars, t, x_t) * v
    )


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
    r"""One ancestral step $x_{t+1} \to x_t \sim p_\theta(x_t \mid x_{t+1})$ (DDPM Algorithm 2, eq. 11).

    For the 0-based index ``t`` (the paper's step $t + 1$):

    $$\begin{aligned}
    x_t &= \tilde\mu_{t+1}\big(x_{t+1}, \hat x_0\big) + \sigma_{t+1} z, \\
    \hat x_0 &= \frac{x_{t+1} - \sqrt{1-\bar\alpha_{t+1}}\,\varepsilon_\theta}{\sqrt{\bar\alpha_{t+1}}}, \\
    z &\sim \mathcal N(0, I)\ \text{for } t > 0,\quad z = 0 \text{ at } t = 0
    \end{aligned}$$

    Without clipping, $\tilde\mu_{t+1}(x_{t+1}, \hat x_0)$ equals DDPM eq. (11),
    $\frac{1}{\sqrt{\alpha_{t+1}}}\big(x_{t+1} - \frac{\beta_{t+1}}{\sqrt{1-\bar\alpha_{t+1}}}\varepsilon_\theta\big)$.

    Args:
        model_output: The noise prediction $\varepsilon_\theta(x_{t+1}, t+1)$ (the model called with the index ``t``), of the shape and
            dtype of ``x_t``.
        x_t: The current state at index ``t``, $x_{t+1}$, shape ``(B, ...)``.
        t: 0-based index, an int or a LongTensor of shape ``(B,)``; at ``t = 0`` the step returns
            the data $x_0$ and adds no noise.
        schedule: The noise schedule.
        variance: $\sigma_{t+1}^2$: ``"beta_tilde"`` for $\tilde\beta_{t+1}$ (the posterior
            variance, right when the data is a single point) or ``"beta"`` for $\beta_{t+1}$
            (right for data $\sim \mathcal N(0, I)$); DDPM Sec. 3.2 found both work.
        clip_x0: Clip $\hat x_0$ to $[-1, 1]$ before taking the posterior mean (for images).
        noise: The fresh noise $z$ to use, of the shape and dtype of ``x_t``; drawn from
            ``generator`` if ``None``.
        generator: The source of randomness, required when ``noise`` is ``None`` and some ``t > 0``.

    Returns:
        $x_t$, of the shape and dtype of ``x_t`` (the generated data where ``t = 0``).

    Raises:
        ValueError: if ``variance`` is not one of the two names, ``model_output`` or ``x_t`` is
            not a finite float tensor or they do not match, ``t`` is out of range, ``noise`` does
            not match ``x_t``, or neither ``noise`` nor a ``generator`` is given where some
            ``t > 0`` needs noise.

    Examples:
        >>> schedule = NoiseSchedule(torch.tensor([0.36]))
        >>> x_t, eps = torch.tensor([[1.4]]), torch.tensor([[1.0]])
        >>> ddpm_step(eps, x_t, 0, schedule)  # the last step returns x0_hat, without noise
        tensor([[1.]])
        >>> ddpm_step(eps, x_t, 0, schedule, clip_x0=True, noise=torch.tensor([[5.0]]))
        tensor([[1.]])
    """
    variance = validation.one_of(variance, VARIANCES, "variance")
    x_t, model_output, t = validation.batch_at_step(t, schedule, x_t=x_t, model_output=model_output)
    if noise is not None:
        noise = validation.same_shape(noise, "noise", x_t, "x_t")

    # Exercise: eqs. (C2.5)-(C2.6) — predict the clean data from the noise prediction (clipped
    # when asked), take the posterior mean there, and add sigma times fresh noise z, with sigma^2
    # as `variance` names it — but only for the examples whose index is not 0. Use `noise` as z
    # when it is given; otherwise draw z from `generator` with validation.noise_or_draw, which
    # also checks the generator — only when some example needs noise.

    with validation.trusted():  # checked above
        # $\hat x_0 = (x_{t+1} - \sqrt{1 - \bar\alpha_{t+1}}\varepsilon_\theta) / \sqrt{\bar\alpha_{t+1}}$
        x0_hat = predict_x0_from_eps(x_t, t, model_output, schedule)
        if clip_x0:
            x0_hat = x0_hat.clamp(-1.0, 1.0)
        # $\tilde\mu_{t+1}(x_{t+1}, \hat x_0)$, the mean of the reverse step
        mean, _, _ = q_posterior(x0_hat, x_t, t, schedule)
    if not bool((t > 0).any()):
        return mean
    z = validation.noise_or_draw(noise, generator, x_t, "x_t")
    # $\sigma_{t+1}^2 = \tilde\beta_{t+1}$ or $\beta_{t+1}$; no noise at index 0 (the step to the data)
    sigma2 = schedule.posterior_variance if variance == "beta_tilde" else schedule.betas
    nonzero = (t > 0).to(x_t.dtype).reshape(-1, *([1] * (x_t.ndim - 1)))
    # $x_t = \tilde\mu_{t+1} + \sigma_{t+1} z$
    return mean + nonzero * gather(sigma2, t, x_t).sqrt() * z


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

    $$\begin{aligned}
    &x_T \sim \mathcal N(0, I); \quad \text{for } t = T, \dots, 1: \\
    &\quad x_{t-1} = \tilde\mu_t\big(x_t, \hat x_0(x_t, \varepsilon_\theta(x_t, t))\big) + \sigma_t z
    \end{aligned}$$

    In 0-based indices the loop runs ``t = T-1, ..., 0``; each step is
    [`ddpm_step`][diffusion_path.diffusion.reverse.ddpm_step], and the last one adds no noise.

    Args:
        model: The noise predictor, called as ``model(x, t)`` with ``t`` a LongTensor of shape
            ``(B,)`` holding the 0-based index of the state ``x`` (all entries equal); returns
            $\varepsilon_\theta$ of the shape of ``x``. A trained network or an exact oracle
            (``diffusion_path.tools.oracle``).
        shape: Shape of the batch to generate, ``(B, ...)``.
        schedule: The noise schedule.
        variance: ``"beta_tilde"`` or ``"beta"``, as in ``ddpm_step``.
        clip_x0: Clip $\hat x_0$ to $[-1, 1]$ at every step (for images).
        generator: The source of randomness for $x_T$ and every $z$ (required).
        x_T: The starting noise $x_T$ (the state at index ``T-1``) of shape ``shape``; drawn from
            ``generator`` if ``None``.
        return_trajectory: Also return the states visited, noise first and data last.
        trajectory_every: Keep the state reached by every step whose index ``t`` is a multiple of
            ``trajectory_every`` (the last step, index 0, always is).
        progress: Show a progress bar (``None``: only in a terminal, and only when ``T >= 500``).

    Returns:
        The samples $x_0$ of shape ``shape``; with ``return_trajectory``, also a tensor of shape
        ``(K, *shape)`` whose first entry is $x_T$ and whose last is the returned samples.

    Raises:
        ValueError: if ``shape`` is not a tuple of positive ints, ``x_T`` does not have that
            shape or is not finite, ``variance`` is unknown, ``generator`` is not a
            ``torch.Generator``, ``trajectory_every`` is not a positive int, or the model returns
            the wrong shape, NaN or inf (the error names the step).

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
    variance = validation.one_of(variance, VARIANCES, "variance")
    schedule = validation.noise_schedule(schedule)
    shape = validation.shape_tuple(shape)
    generator = validation.torch_generator(generator)
    trajectory_every = validation.positive_int(trajectory_every, "trajectory_every")
    if x_T is not None:
        x_T = validation.float_tensor(x_T, "x_T")
        if tuple(x_T.shape) != shape:
            raise ValueError(f"x_T must have shape {shape}, got {tuple(x_T.shape)}")
    model = validation.checked_model(model, shape)

    # Exercise: Algorithm 2 — start from x_T (or standard normal noise drawn from `generator`),
    # then take one ddpm_step for every index from T-1 down to 0, asking the model for its noise
    # prediction at each. Keep the trajectory when asked; no gradients are needed.

    # $x_T \sim \mathcal N(0, I)$
    x = torch.randn(shape, generator=generator, device=generator.device) if x_T is None else x_T
    trajectory = [x]
    steps = range(schedule.T - 1, -1, -1)
    with torch.no_grad(), validation.trusted():  # the loop's inputs are made here
        for t in progress_bar(steps, show=progress, desc="sampling", min_items=500):
            t_batch = torch.full((shape[0],), t, dtype=torch.long, device=x.device)
            # $\varepsilon_\theta(x_{t+1}, t+1)$: the model sees the state with its index t
            eps = model(x, t_batch).to(x.dtype)
            # $x_t \sim p_\theta(x_t \mid x_{t+1})$
            x = ddpm_step(
                eps, x, t_batch, schedule, variance=variance, clip_x0=clip_x0, generator=generator
            )
            if return_trajectory and t % trajectory_every == 0:
                trajectory.append(x)
    if return_trajectory:
        return x, torch.stack(trajectory)
    return x
