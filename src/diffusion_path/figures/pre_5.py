r"""Figures and tables of Pre-Task 5: denoising digits, the noise level as a knob, Tweedie's score.

The networks are trained here, from fixed seeds, on the 8×8 digits that ship with scikit-learn
(1 438 for training, 359 held out) and on a 2-D mixture of Gaussians. Each is trained once per
process (``functools.cache``), so the figures and tables that share a model share its training;
quick runs (``DIFFUSION_PATH_QUICK=true``) train for a few dozen steps only. A figure drawn with
the task's own functions takes them as ``impl`` (the reference, or a learner's file with
``diffusion-path figures pre-5 --impl DIR``); the trained networks use the library's
``train_denoiser``.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from matplotlib.figure import Figure

from diffusion_path.diffusion.schedules import NoiseSchedule
from diffusion_path.foundations.denoising import (
    DenoisingAutoencoder,
    denoising_loss,
    gaussian_mmse,
    optimal_gaussian_denoiser,
    train_denoiser,
)
from diffusion_path.tools.budget import scaled
from diffusion_path.tools.data import load_digits, ring_of_gaussians, split, to_display_range
from diffusion_path.tools.oracle import GaussianMixtureOracle
from diffusion_path.tools.plotting import grid_2d, new_figure

#: The noise level of the denoised-digits figure, and the levels that get a network each.
DIGIT_SIGMA = 0.5
SIGMAS = (0.1, 0.2, 0.5, 1.0)
#: The range the conditional network is trained on (log-uniform).
SIGMA_RANGE = (0.02, 2.0)
#: The digits' network: 64 -> 256 -> 32 -> 256 -> 64.
LATENT, HIDDEN = 32, (256,)
#: The 2-D experiment: eight Gaussians on a ring, blurred by noise of this level.
TOY_SIGMA = 0.5
TOY_LIMITS = (-2.8, 2.8)


# ----------------------------------------------------------------------------- trained models
@functools.cache
def _digits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The training digits, the held-out digits and the held-out labels (a fixed split)."""
    images, labels = load_digits(labels=True)
    train, held = split(len(images), 0.2, torch.Generator().manual_seed(0))
    return images[train], images[held], labels[held]


@functools.cache
def _gaussian_fit() -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance of the training digits, as 64-vectors (float64).

    A few corner pixels are blank in every training image; 1e-4 on the diagonal keeps the
    covariance positive definite.
    """
    train, _, _ = _digits()
    flat = train.reshape(len(train), 64).double()
    return flat.mean(0), torch.cov(flat.T) + 1e-4 * torch.eye(64, dtype=torch.float64)


@functools.cache
def _denoiser(sigma: float) -> DenoisingAutoencoder:
    """A network trained at one noise level (3000 steps of 128 digits)."""
    train, _, _ = _digits()
    gen = torch.Generator().manual_seed(1)
    model = DenoisingAutoencoder(64, LATENT, HIDDEN, generator=gen)
    train_denoiser(model, train, sigma, gen, steps=scaled(3000, quick=30), progress=False)
    return model


@functools.cache
def _conditional() -> DenoisingAutoencoder:
    """One network told the noise level, trained on levels drawn log-uniformly from SIGMA_RANGE."""
    train, _, _ = _digits()
    gen = torch.Generator().manual_seed(2)
    model = DenoisingAutoencoder(64, LATENT, HIDDEN, conditional=True, generator=gen)
    train_denoiser(model, train, SIGMA_RANGE, gen, steps=scaled(6000, quick=60), progress=False)
    return model


@functools.cache
def _toy() -> tuple[GaussianMixtureOracle, DenoisingAutoencoder, torch.Tensor]:
    """The ring of eight Gaussians, the oracle that knows its blurred score, and a network trained at TOY_SIGMA."""
    weights, means, variance = ring_of_gaussians()
    # x_t = sqrt(abar) x0 + sqrt(1 - abar) eps is sqrt(abar) (x0 + sigma eps) when abar = 1 / (1 + sigma^2)
    abar = 1.0 / (1.0 + TOY_SIGMA**2)
    oracle = GaussianMixtureOracle(
        weights, means, variance, NoiseSchedule(torch.tensor([1 - abar]))
    )
    gen = torch.Generator().manual_seed(3)
    data, _ = oracle.sample(20_000, gen)
    model = DenoisingAutoencoder(2, 32, (128, 128), generator=gen)
    train_denoiser(
        model,
        data,
        TOY_SIGMA,
        gen,
        steps=scaled(3000, quick=30),
        batch_size=256,
        lr=3e-3,
        progress=False,
    )
    return oracle, model, data


def _exact_toy_score(oracle: GaussianMixtureOracle, x_noisy: torch.Tensor) -> torch.Tensor:
    r"""$\nabla\log p_\sigma$ of the blurred ring: $-\varepsilon^*(\sqrt{\bar\alpha}\,\tilde x)/\sigma$ (Core Task 2's oracle)."""
    abar = 1.0 / (1.0 + TOY_SIGMA**2)
    return -oracle(math.sqrt(abar) * x_noisy.double(), 0) / TOY_SIGMA


def _held_out_mse(denoise, sigma: float, repeats: int = 3) -> float:
    """Mean squared error per pixel of ``denoise(x_noisy, sigma)`` on the held-out digits, over fresh noise."""
    _, held, _ = _digits()
    with torch.no_grad():
        return float(
            np.mean(
                [
                    denoising_loss(
                        denoise, held, sigma, generator=torch.Generator().manual_seed(k)
                    ).item()
                    for k in range(repeats)
                ]
            )
        )


def _linear(x_noisy: torch.Tensor, sigma: object) -> torch.Tensor:
    """The best linear denoiser of the digits: the Gaussian one for their mean and covariance."""
    mean, cov = _gaussian_fit()
    flat = x_noisy.reshape(len(x_noisy), 64).double()
    return optimal_gaussian_denoiser(flat, mean, cov, sigma).float().reshape(x_noisy.shape)


def _show(ax, image: torch.Tensor) -> None:
    ax.imshow(to_display_range(image.reshape(8, 8)).numpy(), cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])


# ----------------------------------------------------------------------------- figures
def denoised_digits(impl) -> Figure:
    """Part 2: ten held-out digits, noisy at sigma = 0.5, denoised by the network and by the best linear denoiser."""
    _, held, labels = _digits()
    index = [int((labels == digit).nonzero()[0]) for digit in range(10)]
    clean = held[index]
    noisy = impl.add_noise(clean, DIGIT_SIGMA, generator=torch.Generator().manual_seed(4))
    mean, cov = _gaussian_fit()
    with torch.no_grad():
        network = _denoiser(DIGIT_SIGMA)(noisy)
    flat = noisy.reshape(10, 64).double()
    linear = impl.optimal_gaussian_denoiser(flat, mean, cov, DIGIT_SIGMA).float()
    rows = [
        (f"noisy, $\\sigma$ = {DIGIT_SIGMA}", noisy),
        ("denoising\nautoencoder", network),
        ("best linear\ndenoiser", linear),
        ("clean", clean),
    ]
    figure = Figure(figsize=(10, 4.6), layout="constrained")
    axes = figure.subplots(len(rows), 10)
    for r, (label, images) in enumerate(rows):
        for c in range(10):
            _show(axes[r, c], images[c])
        axes[r, 0].set_ylabel(label, fontsize=9)
    return figure


def noise_level(impl) -> Figure:
    """Beyond the seed: held-out error against sigma for one network per level, one told the level, and the Gaussian floor."""
    _, cov = _gaussian_fit()
    conditional = _conditional()
    grid = np.geomspace(0.05, 2.0, 16)
    figure = Figure(figsize=(11, 4.4), layout="constrained")
    left, right = figure.subfigures(1, 2, width_ratios=[1.25, 1])
    ax = left.subplots()
    ax.loglog(grid, grid**2, "k:", label=r"keep the noisy input, $\sigma^2$")
    ax.axhline(float(torch.trace(cov)) / 64, color="gray", ls="--", lw=1, label="answer the mean")
    floors = [impl.gaussian_mmse(cov, float(s)) for s in grid]
    ax.loglog(grid, floors, color="C2", label="best linear denoiser (Gaussian floor)")
    told = [_held_out_mse(conditional, float(s), repeats=1) for s in grid]
    ax.loglog(grid, told, color="C1", label=r"one network told $\sigma$")
    own = [_held_out_mse(_denoiser(s), s) for s in SIGMAS]
    ax.loglog(SIGMAS, own, "o", color="C0", ms=7, label=r"one network per $\sigma$")
    ax.set(
        xlabel=r"noise level $\sigma$", ylabel="held-out squared error per pixel", ylim=(1e-3, 2)
    )
    ax.legend(fontsize=8, loc="upper left")
    # one held-out digit at each level: noisy, denoised by its own network, by the network told sigma
    _, held, _ = _digits()
    digit = held[:1].expand(len(SIGMAS), -1, -1, -1)
    levels = torch.tensor(SIGMAS)
    noisy = impl.add_noise(digit, levels, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        by_own = torch.cat([_denoiser(s)(noisy[i : i + 1]) for i, s in enumerate(SIGMAS)])
        by_told = conditional(noisy, levels)
    axes = right.subplots(4, len(SIGMAS))
    for c, s in enumerate(SIGMAS):
        for r, images in enumerate((noisy, by_own, by_told, digit)):
            _show(axes[r, c], images[c])
        axes[0, c].set_title(rf"$\sigma$ = {s}", fontsize=9)
    for r, label in enumerate(("noisy", "own network", r"told $\sigma$", "clean")):
        axes[r, 0].set_ylabel(label, fontsize=9)
    return figure


def tweedie_field(impl) -> Figure:
    """Beyond the seed: the score of blurred 2-D data, exact (the oracle) and from a trained denoiser by Tweedie's formula."""
    oracle, model, data = _toy()
    noisy = impl.add_noise(data[:2000], TOY_SIGMA, generator=torch.Generator().manual_seed(6))
    grid = torch.tensor(grid_2d(TOY_LIMITS, TOY_LIMITS, n=13).reshape(-1, 2), dtype=torch.float32)
    with torch.no_grad():
        learned = impl.tweedie_score(model(grid), grid, TOY_SIGMA)
        at_samples = impl.tweedie_score(model(noisy), noisy, TOY_SIGMA).double()
    exact = _exact_toy_score(oracle, grid).float()
    exact_at_samples = _exact_toy_score(oracle, noisy)
    error = float(
        ((at_samples - exact_at_samples) ** 2).sum(1).mean().sqrt()
        / (exact_at_samples**2).sum(1).mean().sqrt()
    )
    # the density of the noisy data: p_sigma(x) is proportional to q_t(sqrt(abar) x)
    dense = torch.tensor(grid_2d(TOY_LIMITS, TOY_LIMITS, n=120), dtype=torch.float64)
    with torch.no_grad():
        log_p = oracle.log_prob(dense.reshape(-1, 2) / math.sqrt(1 + TOY_SIGMA**2), 0)
    figure, axes = new_figure(1, 3, size=3.8)
    for ax, field, title in (
        (axes[0], exact, r"exact score $\nabla\log p_\sigma$ (oracle)"),
        (axes[1], learned, "from the trained denoiser,\n$(D(\\tilde x) - \\tilde x)/\\sigma^2$"),
    ):
        ax.contourf(
            dense[..., 0].numpy(),
            dense[..., 1].numpy(),
            log_p.exp().reshape(120, 120).numpy(),
            levels=10,
            cmap="Blues",
        )
        ax.scatter(data[:1500, 0].numpy(), data[:1500, 1].numpy(), s=0.5, color="k", alpha=0.5)
        # arrows of sigma^2 times the score, at half length: half of E[x | x_noisy] - x_noisy
        step = TOY_SIGMA**2 * field
        ax.quiver(
            grid[:, 0].numpy(),
            grid[:, 1].numpy(),
            step[:, 0].numpy(),
            step[:, 1].numpy(),
            color="C3",
            angles="xy",
            scale_units="xy",
            scale=2.0,
            width=0.006,
        )
        ax.set(xlim=TOY_LIMITS, ylim=TOY_LIMITS, aspect="equal", title=title)
        ax.set_xticks([])
        ax.set_yticks([])
    # the first coordinate of both fields along the horizontal line through the ring's centre
    line = torch.zeros(200, 2)
    line[:, 0] = torch.linspace(*TOY_LIMITS, 200)
    with torch.no_grad():
        along = impl.tweedie_score(model(line), line, TOY_SIGMA)[:, 0]
    axes[2].plot(
        line[:, 0].numpy(), _exact_toy_score(oracle, line)[:, 0].numpy(), "k", label="exact"
    )
    axes[2].plot(line[:, 0].numpy(), along.numpy(), "C3--", label="from the denoiser")
    axes[2].axhline(0, color="gray", lw=0.5)
    axes[2].set(
        xlabel=r"$\tilde x_1$ (with $\tilde x_2 = 0$)",
        title=f"first coordinate of the score\n(relative error {100 * error:.0f} % at noisy data)",
    )
    axes[2].legend(fontsize=8)
    return figure


def denoising_in_steps(impl) -> Figure:
    """A preview of diffusion: from pure noise to digits, by denoising a little and re-noising less, forty times."""
    train, _, _ = _digits()
    model = _conditional()
    low, high = SIGMA_RANGE
    levels = np.geomspace(high, low, 40)
    gen = torch.Generator().manual_seed(7)
    n = 40
    x = train.mean(0) + high * torch.randn(n, 1, 8, 8, generator=gen)
    snapshots = [x]
    with torch.no_grad():
        for k, sigma in enumerate(levels):
            denoised = model(x, float(sigma))
            if k + 1 == len(levels):
                x = denoised
                break
            score = impl.tweedie_score(denoised, x, float(sigma))
            below = float(levels[k + 1])
            # x <- x + (sigma_k^2 - sigma_{k+1}^2) score + sigma_{k+1} sqrt(1 - sigma_{k+1}^2 / sigma_k^2) z
            z = torch.randn(x.shape, generator=gen)
            x = x + (sigma**2 - below**2) * score + below * math.sqrt(1 - below**2 / sigma**2) * z
            if k in (9, 19, 29):
                snapshots.append(x)
    snapshots.append(x)
    figure = Figure(figsize=(11, 4.2), layout="constrained")
    left, right = figure.subfigures(1, 2, width_ratios=[1, 1.25])
    stages = (
        [f"noise\n$\\sigma$ = {high}"]
        + [f"$\\sigma$ = {levels[k + 1]:.2f}" for k in (9, 19, 29)]
        + ["result"]
    )
    axes = left.subplots(5, len(stages))
    for c, (label, images) in enumerate(zip(stages, snapshots, strict=True)):
        for r in range(5):
            _show(axes[r, c], images[r])
        axes[0, c].set_title(label, fontsize=8)
    left.suptitle("five samples on their way", fontsize=10)
    axes = right.subplots(5, 7)
    for i, ax in enumerate(axes.ravel()):
        _show(ax, x[5 + i])
    right.suptitle("35 more results", fontsize=10)
    return figure


FIGURES = {
    "denoised-digits": denoised_digits,
    "noise-level": noise_level,
    "tweedie-field": tweedie_field,
    "denoising-in-steps": denoising_in_steps,
}


# ----------------------------------------------------------------------------- tables
def noise_level_table() -> str:
    """Held-out squared error per pixel at each level: noisy input, best linear denoiser, the two kinds of network."""
    _, cov = _gaussian_fit()
    rows = []
    for s in SIGMAS:
        rows.append(
            f"| {s} | {s**2:.4f} | {gaussian_mmse(cov, s):.4f} | {_held_out_mse(_linear, s):.4f} | "
            f"{_held_out_mse(_denoiser(s), s):.4f} | {_held_out_mse(_conditional(), s):.4f} |"
        )
    header = (
        "| $\\sigma$ | noisy input, $\\sigma^2$ | Gaussian floor (P5.6) | best linear denoiser, held out | "
        "network for this $\\sigma$ | network told $\\sigma$ |\n|---:|---:|---:|---:|---:|---:|"
    )
    return header + "\n" + "\n".join(rows)


def linear_floor_table() -> str:
    """A linear autoencoder trained on Gaussian data against the error floor s^2 sigma^2 / (s^2 + sigma^2)."""
    rows = []
    for d, s, sigma in ((1, 1.0, 0.5), (8, 1.0, 1.0), (8, 0.5, 1.0), (64, 0.8, 0.3)):
        gen = torch.Generator().manual_seed(d)
        mu = torch.linspace(-1.0, 1.0, d)
        data = mu + s * torch.randn(20_000, d, generator=gen)
        model = DenoisingAutoencoder(dim=d, latent=d, hidden=(), generator=gen)
        train_denoiser(
            model,
            data,
            sigma,
            gen,
            steps=scaled(300, quick=20),
            batch_size=512,
            lr=0.02,
            progress=False,
        )
        test = mu + s * torch.randn(50_000, d, generator=gen)
        with torch.no_grad():
            mse = denoising_loss(model, test, sigma, generator=gen).item()
        floor = s**2 * sigma**2 / (s**2 + sigma**2)
        rows.append(
            f"| {d} | {s} | {sigma} | {mse:.4f} | {floor:.4f} | {100 * (mse / floor - 1):+.1f} % |"
        )
    header = (
        "| $d$ | $s$ | $\\sigma$ | trained linear DAE, held-out MSE | floor $s^2\\sigma^2/(s^2+\\sigma^2)$ | "
        "difference |\n|---:|---:|---:|---:|---:|---:|"
    )
    return header + "\n" + "\n".join(rows)


TABLES = {"noise-level": noise_level_table, "linear-floor": linear_floor_table}
