r"""Core Task 6: DDIM — the same trained network, sampled in a fraction of the steps.

[DDIM](https://arxiv.org/abs/2010.02502) keeps DDPM's training and its marginals
$q(x_t \mid x_0) = \mathcal N(\sqrt{\bar\alpha_t}x_0, (1-\bar\alpha_t)I)$, but replaces the Markov
reverse chain by a family of processes indexed by $\eta$. One step from $x_t$ to an earlier
$x_s$ (DDIM eq. 12, written with DDPM's $\bar\alpha$ — DDIM's $\alpha$ is DDPM's $\bar\alpha$):

$$x_s = \sqrt{\bar\alpha_s}\,\hat x_0
+ \sqrt{1-\bar\alpha_s-\sigma^2}\;\hat\varepsilon + \sigma z,\qquad
\hat x_0 = \frac{x_t - \sqrt{1-\bar\alpha_t}\,\hat\varepsilon}{\sqrt{\bar\alpha_t}},$$

$$\sigma = \eta\,\sqrt{\frac{1-\bar\alpha_s}{1-\bar\alpha_t}}\,
\sqrt{1-\frac{\bar\alpha_t}{\bar\alpha_s}}\qquad\text{(DDIM eq. 16)}.$$

With $\eta = 1$ and $s = t - 1$ it is DDPM's ancestral step with $\sigma_t^2 = \tilde\beta_t$; with
$\eta = 0$ it is deterministic — an ODE solver — so a sample can be run backwards to its noise
(inversion), and $s$ can skip many steps at once.

In code, steps are 0-based indices into the schedule's arrays (index ``t`` is step $t + 1$): a
step goes from index ``t`` to index ``t_prev < t``, and ``t_prev = -1`` stands for the data
($\bar\alpha_0 = 1$). The functions' formulas write the paper's steps as $\tau = $ ``t`` $+ 1$
and $\tau' = $ ``t_prev`` $+ 1$.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from diffusion_path.diffusion.schedules import NoiseSchedule, gather
from diffusion_path.tools import validation
from diffusion_path.tools.progress import progress_bar

__all__ = ["ddim_invert", "ddim_sample", "ddim_step", "ddim_timesteps", "slerp"]

#: How ``ddim_timesteps`` spreads the steps over ``0 .. T-1``.
SPACINGS = ("leading", "trailing", "linspace", "quadratic")


def ddim_timesteps(T: int, num_steps: int, spacing: str = "leading") -> torch.Tensor:
    r"""The 0-based indices a DDIM sampler visits, in descending order.

    - ``"leading"``: $0, k, 2k, \dots$ with $k = \lfloor T / n \rfloor$ (the DDIM code and
      diffusers' default); the last index visited is 0, the first $(n-1)k$, which may be well below
      $T - 1$.
    - ``"trailing"``: $T - 1, T - 1 - T/n, \dots$, rounded (Lin et al. 2024, Table 2): starts at the
      noisiest step.
    - ``"linspace"``: $n$ indices evenly spaced from $0$ to $T - 1$, rounded.
    - ``"quadratic"``: $\lfloor (i\sqrt{0.8T}/(n-1))^2 \rfloor$ — DDIM's choice for CIFAR-10
      (Appendix D.2), dense near the data.

    Args:
        T: Number of diffusion steps of the schedule.
        num_steps: How many steps to visit, $1 \le n \le T$.
        spacing: One of ``"leading"``, ``"trailing"``, ``"linspace"``, ``"quadratic"``.

    Returns:
        A LongTensor of ``num_steps`` distinct indices in ``[0, T-1]``, largest first.

    Raises:
        ValueError: if ``T`` or ``num_steps`` is not a positive int, ``num_steps > T``, ``spacing``
            is unknown, or the spacing gives repeated indices (too many steps for "quadratic").

    Examples:
        >>> ddim_timesteps(1000, 5)
        tensor([800, 600, 400, 200,   0])
        >>> ddim_timesteps(1000, 5, "trailing")
        tensor([999, 799, 599, 399, 199])
        >>> ddim_timesteps(10, 10, "linspace").tolist() == list(range(9, -1, -1))
        True
    """
    T = validation.positive_int(T, "T")
    num_steps = validation.positive_int(num_steps, "num_steps")
    spacing = validation.one_of(spacing, SPACINGS, "spacing")
    if num_steps > T:
        raise ValueError(f"num_steps must be at most T = {T}, got {num_steps}")

    # Exercise: eq. (C6.4) — the indices the chosen spacing visits, largest first, as a LongTensor.

    i = torch.arange(num_steps, dtype=torch.float64)
    if spacing == "leading":
        steps = i * (T // num_steps)
    elif spacing == "trailing":
        steps = torch.round(T - i * T / num_steps) - 1
    elif spacing == "linspace":
        steps = torch.round(torch.linspace(0, T - 1, num_steps, dtype=torch.float64))
    else:
        last = num_steps - 1 if num_steps > 1 else 1
        steps = torch.floor((i * math.sqrt(0.8 * T) / last) ** 2)
    steps = torch.sort(steps.long(), descending=True).values
    if len(torch.unique(steps)) != num_steps:
        raise ValueError(
            f"spacing {spacing!r} gives repeated indices for num_steps={num_steps} of T={T}"
        )
    return steps


def ddim_step(
    model_output: torch.Tensor,
    x_t: torch.Tensor,
    t: int | torch.Tensor,
    t_prev: int | torch.Tensor,
    schedule: NoiseSchedule,
    *,
    eta: float = 0.0,
    clip_x0: bool = False,
    noise: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""One DDIM step from index ``t`` to the earlier index ``t_prev`` (DDIM eqs. 12 and 16).

    With the paper's steps $\tau$ = ``t + 1`` and $\tau'$ = ``t_prev + 1`` — so
    $\bar\alpha_\tau$ = ``alpha_bars[t]``, $\bar\alpha_{\tau'}$ = ``alpha_bars[t_prev]``, and
    $\bar\alpha_{\tau'} = 1$ where ``t_prev = -1`` (the data):

    $$x_{\tau'} = \sqrt{\bar\alpha_{\tau'}}\,\hat x_0
    + \sqrt{1-\bar\alpha_{\tau'}-\sigma^2}\,\hat\varepsilon + \sigma z,\qquad
    \sigma = \eta\sqrt{\tfrac{1-\bar\alpha_{\tau'}}{1-\bar\alpha_\tau}}
    \sqrt{1-\tfrac{\bar\alpha_\tau}{\bar\alpha_{\tau'}}}$$

    With ``clip_x0``, $\hat x_0$ is clipped to $[-1, 1]$ and $\hat\varepsilon$ recomputed from the
    clipped $\hat x_0$, so that the two stay consistent with $x_t$ (eq. C2.3).

    Args:
        model_output: The noise prediction $\varepsilon_\theta(x_\tau, \tau)$ (the model called
            with the index ``t``), of the shape and dtype of ``x_t``.
        x_t: The current state at index ``t``, the paper's $x_\tau$, shape ``(B, ...)``.
        t: 0-based index, an int or a LongTensor of shape ``(B,)`` in ``[0, T-1]``.
        t_prev: The index to step to, an int or a LongTensor of shape ``(B,)``, each in
            ``[-1, t - 1]``; ``-1`` is the data.
        schedule: The noise schedule.
        eta: $\eta \ge 0$: 0 is deterministic DDIM, 1 has DDPM's posterior variance.
        clip_x0: Clip $\hat x_0$ to $[-1, 1]$ (for images) and recompute $\hat\varepsilon$.
        noise: The fresh noise $z$, of the shape and dtype of ``x_t``; drawn from ``generator``
            if ``None`` and $\eta > 0$.
        generator: The source of randomness, required when ``eta > 0`` and ``noise`` is ``None``.

    Returns:
        $x_{\tau'}$, of the shape and dtype of ``x_t``.

    Raises:
        ValueError: if ``model_output`` or ``x_t`` is not a finite float tensor or they do not
            match, ``t`` or ``t_prev`` is out of range or ``t_prev >= t``, ``eta < 0``, ``noise``
            does not match ``x_t``, ``generator`` is given but is not a ``torch.Generator``, or
            ``eta > 0`` with neither ``noise`` nor a ``generator``.

    Examples:
        >>> schedule = NoiseSchedule(torch.tensor([0.36, 0.5]))  # alpha_bars 0.64, 0.32
        >>> x_t, eps = torch.tensor([[1.4]]), torch.tensor([[1.0]])
        >>> ddim_step(eps, x_t, 0, -1, schedule)  # to the data: x0_hat = (1.4 - 0.6) / 0.8
        tensor([[1.]])
    """
    x_t, model_output, t = validation.batch_at_step(t, schedule, x_t=x_t, model_output=model_output)
    t_prev = validation.earlier_timesteps(t_prev, t, "t_prev")
    eta = validation.non_negative(eta, "eta")
    if noise is not None:
        noise = validation.same_shape(noise, "noise", x_t, "x_t")
    if generator is not None:
        generator = validation.torch_generator(generator)

    # Exercise: eqs. (C6.2)-(C6.3) — predict the clean data and keep the noise prediction
    # consistent with it (recompute it when clipping); then rebuild the state at t_prev from the
    # two with the weights of that step, plus σ of eq. (C6.3) times fresh noise z when eta > 0.

    # $\bar\alpha_\tau$ and $\bar\alpha_{\tau'}$, with $\bar\alpha_{\tau'} = 1$ where $\tau'$ is the data
    alpha_bar = gather(schedule.alpha_bars, t, x_t)
    ones = torch.ones(1, dtype=schedule.alpha_bars.dtype, device=schedule.alpha_bars.device)
    alpha_bar_prev = gather(torch.cat([ones, schedule.alpha_bars]), t_prev + 1, x_t)
    # $\hat x_0 = (x_\tau - \sqrt{1 - \bar\alpha_\tau}\hat\varepsilon) / \sqrt{\bar\alpha_\tau}$
    eps = model_output
    x0_hat = (x_t - (1 - alpha_bar).sqrt() * eps) / alpha_bar.sqrt()
    if clip_x0:
        x0_hat = x0_hat.clamp(-1.0, 1.0)
        # $\hat\varepsilon = (x_\tau - \sqrt{\bar\alpha_\tau}\hat x_0) / \sqrt{1 - \bar\alpha_\tau}$
        eps = (x_t - alpha_bar.sqrt() * x0_hat) / (1 - alpha_bar).sqrt()
    # $\sigma = \eta \sqrt{(1 - \bar\alpha_{\tau'})/(1 - \bar\alpha_\tau)} \sqrt{1 - \bar\alpha_\tau/\bar\alpha_{\tau'}}$
    sigma = eta * ((1 - alpha_bar_prev) / (1 - alpha_bar) * (1 - alpha_bar / alpha_bar_prev)).sqrt()
    # $x_{\tau'} = \sqrt{\bar\alpha_{\tau'}}\hat x_0 + \sqrt{1 - \bar\alpha_{\tau'} - \sigma^2}\hat\varepsilon$
    x_prev = (
        alpha_bar_prev.sqrt() * x0_hat + (1 - alpha_bar_prev - sigma**2).clamp(min=0).sqrt() * eps
    )
    if eta == 0:
        return x_prev
    z = validation.noise_or_draw(noise, generator, x_t, "x_t")
    # $+ \sigma z$
    return x_prev + sigma * z


def ddim_sample(
    model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    shape: tuple[int, ...],
    schedule: NoiseSchedule,
    *,
    num_steps: int = 50,
    eta: float = 0.0,
    spacing: str = "leading",
    clip_x0: bool = False,
    generator: torch.Generator | None = None,
    x_T: torch.Tensor | None = None,
    return_trajectory: bool = False,
    progress: bool | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    r"""Generate samples with DDIM in ``num_steps`` steps (DDIM Algorithm, eqs. 12 and 16).

    $$x_T \sim \mathcal N(0, I);\quad \text{for } (t, s) \text{ in consecutive pairs of }
    \tau_n > \dots > \tau_1 > -1:\quad x_s = \mathrm{DDIM}(x_t, \varepsilon_\theta(x_t, t))$$

    The indices $\tau$ come from [`ddim_timesteps`][diffusion_path.diffusion.ddim.ddim_timesteps];
    the last step goes to the data (index ``-1``).

    Args:
        model: The noise predictor, called as ``model(x, t)`` with ``t`` a LongTensor of shape
            ``(B,)`` holding the 0-based index of ``x``.
        shape: Shape of the batch to generate, ``(B, ...)``.
        schedule: The noise schedule the model was trained with.
        num_steps: Number of model calls, $1 \le n \le T$.
        eta: $\eta \ge 0$ (0: deterministic).
        spacing: How the steps are spread, as in ``ddim_timesteps``.
        clip_x0: Clip $\hat x_0$ at every step (for images).
        generator: The source of randomness for $x_T$ and, when $\eta > 0$, every $z$ (required).
        x_T: The starting noise, of shape ``shape``; drawn from ``generator`` if ``None``.
        return_trajectory: Also return the states visited, noise first, samples last.
        progress: Show a progress bar (``None``: only in a terminal, and only for 500 steps or more).

    Returns:
        The samples of shape ``shape``; with ``return_trajectory``, also a tensor of shape
        ``(num_steps + 1, *shape)``.

    Raises:
        ValueError: if ``shape`` is not a tuple of positive ints, ``num_steps`` or ``spacing`` is
            invalid, ``eta < 0``, ``generator`` is not a ``torch.Generator``, ``x_T`` does not have
            the shape ``shape`` or is not finite, or the model returns the wrong shape, NaN or inf.

    Examples:
        >>> schedule = NoiseSchedule.linear(100, 1e-3, 0.1)
        >>> x0, path = ddim_sample(
        ...     lambda x, t: torch.zeros_like(x),
        ...     (4, 2),
        ...     schedule,
        ...     num_steps=10,
        ...     generator=torch.Generator().manual_seed(0),
        ...     return_trajectory=True,
        ... )
        >>> path.shape
        torch.Size([11, 4, 2])
    """
    schedule = validation.noise_schedule(schedule)
    shape = validation.shape_tuple(shape)
    steps = ddim_timesteps(schedule.T, num_steps, spacing)
    eta = validation.non_negative(eta, "eta")
    generator = validation.torch_generator(generator)
    if x_T is not None:
        x_T = validation.float_tensor(x_T, "x_T")
        if tuple(x_T.shape) != shape:
            raise ValueError(f"x_T must have shape {shape}, got {tuple(x_T.shape)}")
    model = validation.checked_model(model, shape)

    # Exercise: DDIM's sampling loop — start from x_T (or standard normal noise from `generator`)
    # and take one ddim_step for each consecutive pair of the visited indices, the last one to
    # index -1 (the data). Keep the trajectory when asked; no gradients are needed.

    x = torch.randn(shape, generator=generator, device=generator.device) if x_T is None else x_T
    trajectory = [x]
    visited = steps.tolist()
    pairs = list(zip(visited, [*visited[1:], -1], strict=True))  # the last step goes to the data
    with torch.no_grad(), validation.trusted():  # the loop's inputs are made here
        for t, t_prev in progress_bar(pairs, show=progress, desc="DDIM", min_items=500):
            t_batch = torch.full((shape[0],), t, dtype=torch.long, device=x.device)
            prev_batch = torch.full((shape[0],), t_prev, dtype=torch.long, device=x.device)
            eps = model(x, t_batch).to(x.dtype)
            x = ddim_step(
                eps, x, t_batch, prev_batch, schedule, eta=eta, clip_x0=clip_x0, generator=generator
            )
            if return_trajectory:
                trajectory.append(x)
    if return_trajectory:
        return x, torch.stack(trajectory)
    return x


def ddim_invert(
    model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    schedule: NoiseSchedule,
    *,
    num_steps: int = 50,
    spacing: str = "leading",
) -> torch.Tensor:
    r"""Run deterministic DDIM backwards: the noise $x_T$ that ``ddim_sample`` (η = 0) maps to ``x0``.

    Each step goes from index $s$ to the later index $t$ with the update sampling uses in the other
    direction, the noise predicted at the current point for the index it moves to (DDIM Sec. 4.3,
    eq. 13 integrated backwards):

    $$x_t = \sqrt{\bar\alpha_t}\,\hat x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon_\theta(x_s, t),
    \qquad \hat x_0 = \frac{x_s - \sqrt{1-\bar\alpha_s}\,\varepsilon_\theta(x_s, t)}{\sqrt{\bar\alpha_s}}$$

    The round trip ``ddim_sample(x_T=ddim_invert(x0))`` returns ``x0`` up to the discretisation
    error of the ODE, which shrinks as ``num_steps`` grows.

    Args:
        model: The noise predictor, as in ``ddim_sample``.
        x0: The data to invert, shape ``(B, ...)``.
        schedule: The noise schedule.
        num_steps: Number of model calls.
        spacing: As in ``ddim_timesteps``; use the same as for sampling.

    Returns:
        $x_T$, of the shape and dtype of ``x0``.

    Raises:
        ValueError: if ``x0`` is not a finite float tensor, ``num_steps`` or ``spacing`` is
            invalid, or the model returns the wrong shape, NaN or inf.

    Examples:
        >>> schedule = NoiseSchedule.linear(100, 1e-3, 0.1)
        >>> x_T = ddim_invert(
        ...     lambda x, t: torch.zeros_like(x), torch.ones(1, 2), schedule, num_steps=10
        ... )
        >>> x_T.shape
        torch.Size([1, 2])
    """
    x0 = validation.float_tensor(x0, "x0")
    schedule = validation.noise_schedule(schedule)
    steps = ddim_timesteps(schedule.T, num_steps, spacing).flip(0).tolist()
    model = validation.checked_model(model, tuple(x0.shape))

    # Exercise: DDIM inversion, eq. (C6.5) — visit the indices from the data upwards; at each,
    # predict the noise at the current point and move to the next index with the deterministic
    # update, as sampling does in the other direction.

    x = x0
    # $\bar\alpha$ by index, with index -1 (the data) first: $\bar\alpha = 1$
    alpha_bars = torch.cat([torch.ones(1, dtype=torch.float64), schedule.alpha_bars.cpu()]).tolist()
    with torch.no_grad(), validation.trusted():  # the loop's inputs are made here
        for s, t in zip([-1, *steps[:-1]], steps, strict=True):
            # the noise predicted at the current point, for the index it moves to
            eps = model(x, torch.full((x.shape[0],), t, dtype=torch.long, device=x.device))
            eps = eps.to(x.dtype)
            # $\hat x_0 = (x_s - \sqrt{1 - \bar\alpha_s}\varepsilon_\theta) / \sqrt{\bar\alpha_s}$
            x0_hat = (x - math.sqrt(1 - alpha_bars[s + 1]) * eps) / math.sqrt(alpha_bars[s + 1])
            # $x_t = \sqrt{\bar\alpha_t}\hat x_0 + \sqrt{1 - \bar\alpha_t}\varepsilon_\theta$
            x = math.sqrt(alpha_bars[t + 1]) * x0_hat + math.sqrt(1 - alpha_bars[t + 1]) * eps
    return x


def slerp(z0: torch.Tensor, z1: torch.Tensor, weight: float | torch.Tensor) -> torch.Tensor:
    r"""Spherical interpolation between two noises: it keeps the norm a Gaussian sample has.

    $$\mathrm{slerp}(z_0, z_1; w) = \frac{\sin((1-w)\theta)}{\sin\theta}z_0
    + \frac{\sin(w\theta)}{\sin\theta}z_1,\qquad \cos\theta = \frac{\langle z_0, z_1\rangle}{\|z_0\|\|z_1\|}$$

    Linear interpolation between two draws of $\mathcal N(0, I)$ in high dimension passes through
    points of unusually small norm, which a sampler never saw; slerp does not (DDIM Sec. 5.3).
    Norms are taken over all axes but the first (one angle per example).

    Args:
        z0: The first noise, shape ``(B, ...)``.
        z1: The second, of the shape and dtype of ``z0``.
        weight: $w$: 0 gives ``z0``, 1 gives ``z1``; a number, or a tensor of shape ``(B,)``.

    Returns:
        The interpolated noise, of the shape and dtype of ``z0``.

    Raises:
        ValueError: if ``z0`` or ``z1`` is not a finite float tensor or they do not match, or
            ``weight`` is not finite.

    Examples:
        >>> z0, z1 = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
        >>> slerp(z0, z1, 0.5)  # halfway along the quarter circle
        tensor([[0.7071, 0.7071]])
    """
    z0 = validation.float_tensor(z0, "z0")
    z1 = validation.same_shape(z1, "z1", z0, "z0")
    weight = torch.as_tensor(validation.weights(weight, "weight"), dtype=z0.dtype, device=z0.device)

    # Exercise: eq. (C6.6) — the angle between the two noises (per example), then the two sine
    # weights of spherical interpolation.

    flat0, flat1 = z0.flatten(1), z1.flatten(1)
    # $\cos\theta = \langle z_0, z_1 \rangle / (\|z_0\| \|z_1\|)$
    cos = (flat0 * flat1).sum(1) / (flat0.norm(dim=1) * flat1.norm(dim=1))
    theta = torch.arccos(cos.clamp(-1.0, 1.0))
    w = weight.reshape(-1) if weight.ndim else weight.expand(len(theta))
    # $\sin((1-w)\theta) / \sin\theta$ and $\sin(w\theta) / \sin\theta$ (linear where $\theta \to 0$)
    small = theta < 1e-6
    sin = torch.where(small, torch.ones_like(theta), torch.sin(theta))
    a = torch.where(small, 1 - w, torch.sin((1 - w) * theta) / sin)
    b = torch.where(small, w, torch.sin(w * theta) / sin)
    shape = (-1,) + (1,) * (z0.ndim - 1)
    return a.view(shape) * z0 + b.view(shape) * z1
