"""Figures of Core Task 1: the forward process on a real photograph and on digits (fixed seeds).

Titles count steps as the page does, from 1 to T, with $x_0$ the data: step $t$ is the schedule's
index ``t - 1``. The figures are drawn with the task's functions passed in as ``impl``; the data of
the interactive figure (``DATA``) with the library's own.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from matplotlib.figure import Figure

from diffusion_path.diffusion import forward
from diffusion_path.diffusion.schedules import NoiseSchedule
from diffusion_path.figures.timeline import points_layer, raster_layer
from diffusion_path.tools.data import load_digits, load_photo, to_display_range, two_moons
from diffusion_path.tools.plotting import new_figure

T = 1000
STEPS = [0, 50, 100, 200, 300, 500, 700, 999]


def _show(ax, image: torch.Tensor) -> None:
    """Draw one (C, H, W) image in [-1, 1]."""
    pixels = to_display_range(image).permute(1, 2, 0).numpy()
    if pixels.shape[2] == 1:
        ax.imshow(pixels[..., 0], cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(pixels)
    ax.set_xticks([])
    ax.set_yticks([])


def _noised(impl, x0: torch.Tensor, schedule, steps: list[int], seed: int) -> torch.Tensor:
    """``x0`` (1, C, H, W) at each step (0: the data), all with the same noise: (len(steps), C, H, W)."""
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    noisy = [s for s in steps if s > 0]
    batch = x0.expand(len(noisy), *x0.shape[1:])
    x_t = impl.q_sample(batch, torch.tensor(noisy) - 1, schedule, noise=eps.expand_as(batch))
    return torch.cat([x0.expand(len(steps) - len(noisy), *x0.shape[1:]), x_t])


def _alpha_bar(schedule, step: int) -> float:
    """$\bar\alpha$ at the page's step ``step`` (1 at step 0, the data)."""
    return 1.0 if step == 0 else float(schedule.alpha_bars[step - 1])


def progressive_noising(impl) -> Figure:
    """Part 1: a photograph and a digit under the linear schedule, from x_0 to pure noise."""
    schedule = impl.NoiseSchedule.linear(T)
    rows = [
        ("photograph", load_photo(96)),
        ("digit", load_digits()[[0]]),
    ]
    figure = Figure(figsize=(1.55 * len(STEPS), 1.7 * len(rows)), layout="constrained")
    axes = figure.subplots(len(rows), len(STEPS))
    for r, (label, x0) in enumerate(rows):
        images = _noised(impl, x0, schedule, STEPS, seed=r)
        for c, step in enumerate(STEPS):
            _show(axes[r, c], images[c])
            if r == 0:
                abar = _alpha_bar(schedule, step)
                axes[r, c].set_title(f"t = {step}\n" + rf"$\bar\alpha_t$ = {abar:.2g}", fontsize=9)
        axes[r, 0].set_ylabel(label)
    return figure


def linear_vs_cosine(impl) -> Figure:
    """Part 2: the same photograph and noise under the linear and the cosine schedule."""
    schedules = [("linear", impl.NoiseSchedule.linear(T)), ("cosine", impl.NoiseSchedule.cosine(T))]
    x0 = load_photo(96, grayscale=True)
    figure = Figure(figsize=(1.55 * len(STEPS), 1.9 * len(schedules)), layout="constrained")
    axes = figure.subplots(len(schedules), len(STEPS))
    for r, (label, schedule) in enumerate(schedules):
        images = _noised(impl, x0, schedule, STEPS, seed=0)
        for c, step in enumerate(STEPS):
            _show(axes[r, c], images[c])
            abar = _alpha_bar(schedule, step)
            title = f"t = {step}\n" if r == 0 else ""
            axes[r, c].set_title(title + rf"$\bar\alpha_t$ = {abar:.2g}", fontsize=9)
        axes[r, 0].set_ylabel(label)
    return figure


def alpha_bar_and_snr(impl) -> Figure:
    """Part 2: alpha_bar_t, beta_t and log SNR(t) for the linear and cosine schedules (T = 1000)."""
    schedules = [("linear", impl.NoiseSchedule.linear(T)), ("cosine", impl.NoiseSchedule.cosine(T))]
    figure, axes = new_figure(1, 3, size=3.6)
    t = np.arange(1, T + 1)
    for label, schedule in schedules:
        axes[0].plot(t, schedule.alpha_bars.numpy(), label=label)
        axes[1].plot(t, schedule.betas.numpy(), label=label)
        axes[2].plot(t, np.log(schedule.snr.numpy()), label=label)
    axes[0].set(title=r"$\bar\alpha_t$: signal kept", xlabel="t", ylim=(0, 1.02))
    axes[1].set(title=r"$\beta_t$: noise added per step", xlabel="t", yscale="log")
    axes[2].set(
        title=r"$\log \mathrm{SNR}(t) = \log \frac{\bar\alpha_t}{1-\bar\alpha_t}$", xlabel="t"
    )
    axes[2].axhline(0, color="gray", lw=0.8, ls=":")
    for ax in axes:
        ax.legend(fontsize=8)
    return figure


def chain_vs_closed_form(impl) -> Figure:
    """Iterating q_step (DDPM eq. 2) and sampling q_sample directly (eq. 4) give the same law."""
    schedule = impl.NoiseSchedule.linear(200, 1e-3, 0.05)
    n, x0_value = 20_000, 1.5
    x0 = torch.full((n, 1), x0_value)
    gen = torch.Generator().manual_seed(3)
    x = x0
    chain = {}
    for index in range(schedule.T):
        x = impl.q_step(x, index, schedule, generator=gen)
        if index + 1 in (10, 50, 200):
            chain[index + 1] = x[:, 0].numpy()
    figure, axes = new_figure(1, len(chain), size=3.4)
    for ax, (t, samples) in zip(axes, chain.items(), strict=True):
        direct = impl.q_sample(x0, t - 1, schedule, generator=gen)[:, 0].numpy()
        abar = float(schedule.alpha_bars[t - 1])
        mu, sigma = math.sqrt(abar) * x0_value, math.sqrt(1 - abar)
        bins = np.linspace(mu - 4.5 * sigma, mu + 4.5 * sigma, 50)
        ax.hist(samples, bins=bins, density=True, alpha=0.45, label=f"{t} steps of (C1.1)")
        ax.hist(
            direct, bins=bins, density=True, histtype="step", lw=1.5, label="(C1.2) in one shot"
        )
        grid = np.linspace(bins[0], bins[-1], 300)
        ax.plot(
            grid,
            np.exp(-0.5 * ((grid - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi)),
            "k",
            lw=1,
        )
        ax.set(title=f"t = {t}", xlabel="$x_t$")
        ax.legend(fontsize=7)
    return figure


def digits_grid(impl) -> Figure:
    """Sixteen digits at four steps of the cosine schedule: the structure goes, the scale stays."""
    schedule = impl.NoiseSchedule.cosine(T)
    digits = load_digits()[:16]
    steps = [0, 250, 500, 750]
    figure = Figure(figsize=(2.3 * len(steps), 2.5), layout="constrained")
    axes = figure.subplots(1, len(steps))
    eps = torch.randn(digits.shape, generator=torch.Generator().manual_seed(4))
    for ax, step in zip(axes, steps, strict=True):
        x_t = digits if step == 0 else impl.q_sample(digits, step - 1, schedule, noise=eps)
        tiles = to_display_range(x_t)[:, 0].reshape(4, 4, 8, 8).permute(0, 2, 1, 3).reshape(32, 32)
        ax.imshow(tiles.numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"t = {step}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    return figure


FIGURES = {
    "progressive-noising": progressive_noising,
    "linear-vs-cosine": linear_vs_cosine,
    "alpha-bar-snr": alpha_bar_and_snr,
    "chain-vs-closed-form": chain_vs_closed_form,
    "digits-grid": digits_grid,
}


# ----------------------------------------------------------------------------- interactive figures
#: The page's steps shown by the interactive figure: 0 (the data), 25, ..., T.
INTERACTIVE_STEPS = list(range(0, T + 1, 25))


def _digits(value: float) -> str:
    """A schedule value for a label: two decimals, or two significant digits when it is tiny."""
    return f"{value:.2f}" if value >= 0.005 else f"{value:.1e}"


def forward_data(
    steps: list[int] | None = None, n_points: int = 400, size: int = 64, seed: int = 0
) -> dict:
    """Core 1's interactive figure: q(x_t | x_0) for a photograph and for two moons, linear against cosine.

    The same photograph, the same points and the same noise under both schedules (T = 1000), at the
    page's ``steps`` (default: 0, 25, ..., T; step 0 is the data, step t the schedule's index t - 1).
    """
    steps = INTERACTIVE_STEPS if steps is None else list(steps)
    if not steps or any(not 0 <= s <= T for s in steps):
        raise ValueError(f"steps must be a non-empty list of steps in [0, {T}], got {steps!r}")
    image = load_photo(size, grayscale=True)  # (1, 1, size, size)
    points = two_moons(n_points, torch.Generator().manual_seed(seed))[None]  # (1, P, 2)
    limits = [-3.5, 3.5, -3.5, 3.5]
    schedules = [("linear", NoiseSchedule.linear(T)), ("cosine", NoiseSchedule.cosine(T))]
    image_panels, point_panels = [], []
    for name, schedule in schedules:
        abar = [_digits(_alpha_bar(schedule, s)) for s in steps]
        labels = [f"ᾱ = {a}" for a in abar]
        # the library's q_sample; the same seeds, so the same noise, for both schedules
        images = _noised(forward, image, schedule, steps, seed=seed + 1)
        clouds = _noised(forward, points, schedule, steps, seed=seed + 2)
        image_panels.append(
            {
                "title": f"photograph · {name}",
                "labels": labels,
                "layers": [raster_layer(to_display_range(images)[:, 0].numpy())],
            }
        )
        point_panels.append(
            {
                "title": f"two moons · {name}",
                "labels": labels,
                "limits": limits,
                "layers": [
                    points_layer(points.numpy(), style="faint"),
                    points_layer(clouds.numpy()),
                ],
            }
        )
    return {
        "format": "dp-timeline/1",
        "caption": "The forward process q(x_t | x_0) under the linear and the cosine schedule",
        "slider": "step t",
        "labels": [f"t = {s}" + (" (the data)" if s == 0 else "") for s in steps],
        "columns": 4,
        "panels": image_panels + point_panels,
    }


DATA = {"forward": forward_data}
