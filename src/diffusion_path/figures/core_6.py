"""Figures of Core Task 6: DDIM against DDPM with the exact oracle, and inversion and slerp on the digits.

The figures drawn with the task's own functions take them as ``impl`` (``impl.ddim_sample``,
``impl.ddim_invert``, ``impl.slerp``); the interactive figure's data (``DATA``) uses the
library's. The 2-D figures need no training: the noise predictor is the exact one of a ring of
eight Gaussians, so what they show is the sampler's own error. The digit figures share one small
U-Net, trained here once per process with fixed seeds (about a minute on one CPU thread); quick
runs (``DIFFUSION_PATH_QUICK``) train it for a few steps, which proves the code runs and no more.

The page's table of quality and time on the digits is not made here: it is the saved result of
the ``ddim`` benchmark (``diffusion_path.bench.ddim``), shown with ``<!-- bench: ddim -->``.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from matplotlib.figure import Figure

from diffusion_path.diffusion.ddim import ddim_sample
from diffusion_path.diffusion.reverse import ddpm_sample
from diffusion_path.diffusion.schedules import NoiseSchedule
from diffusion_path.diffusion.training import train_toy
from diffusion_path.diffusion.unet import UNet, UNetConfig
from diffusion_path.figures.timeline import points_layer, raster_layer
from diffusion_path.tools.budget import full, scaled
from diffusion_path.tools.data import load_digits, ring_of_gaussians, split, to_display_range
from diffusion_path.tools.metrics import sliced_wasserstein
from diffusion_path.tools.oracle import GaussianMixtureOracle
from diffusion_path.tools.plotting import new_figure

#: The diffusion steps of every experiment here, as in DDPM and ``diffusion-path train``.
T = 1000
LIMITS = (-3.2, 3.2)
ETAS = (0.0, 0.5, 1.0)


def _ring_oracle(schedule: NoiseSchedule) -> GaussianMixtureOracle:
    weights, means, variance = ring_of_gaussians()
    return GaussianMixtureOracle(weights, means, variance, schedule)


def _scatter(ax, x: torch.Tensor, title: str, **kwargs) -> None:
    ax.scatter(x[:, 0].numpy(), x[:, 1].numpy(), s=2, alpha=0.4, **kwargs)
    ax.set(xlim=LIMITS, ylim=LIMITS, aspect="equal", title=title)
    ax.set_xticks([])
    ax.set_yticks([])


# ----------------------------------------------------------------------------- the exact oracle


def oracle_samples(impl) -> Figure:
    """2 000 samples of the ring with the exact noise predictor: DDPM's 1000 steps, DDIM's 10 for η = 0 and 1."""
    schedule = NoiseSchedule.cosine(T)
    oracle = _ring_oracle(schedule)
    n = scaled(2000, quick=200)
    gen = torch.Generator().manual_seed(0)
    data, _ = oracle.sample(n, gen)
    x_T = torch.randn(n, 2, generator=gen)
    figure, axes = new_figure(1, 4, size=2.9)
    _scatter(axes[0], data, "data", color="gray")
    ddpm = ddpm_sample(oracle, (n, 2), schedule, generator=gen, x_T=x_T, progress=False)
    _scatter(axes[1], ddpm, f"DDPM, {T} steps")
    for ax, eta in zip(axes[2:], (0.0, 1.0), strict=True):
        x = impl.ddim_sample(
            oracle, (n, 2), schedule, num_steps=10, eta=eta, generator=gen, x_T=x_T
        )
        _scatter(ax, x, f"DDIM, 10 steps, η = {eta:g}")
    return figure


def _off_modes(x: torch.Tensor) -> float:
    """The share of points, in %, beyond the radius that holds 99.9 % of their nearest mode."""
    _, means, variance = ring_of_gaussians()
    distance2 = ((x.double()[:, None, :] - means[None]) ** 2).sum(-1).min(dim=1).values
    # |x - mu|^2 / sigma^2 is chi^2 with 2 degrees of freedom: P(> 13.8) = exp(-6.9) = 0.001
    return 100 * float((distance2 > 13.8 * variance).double().mean())


def oracle_steps(impl) -> Figure:
    """Samples off the modes, and the sliced Wasserstein distance to the data, against the steps, for three η."""
    schedule = NoiseSchedule.cosine(T)
    oracle = _ring_oracle(schedule)
    n = scaled(10_000, quick=300)
    steps = (5, 10, 20, 50, 100, 200) if full() else (5, 10)
    gen = torch.Generator().manual_seed(1)
    data, _ = oracle.sample(n, gen)
    other, _ = oracle.sample(n, gen)
    x_T = torch.randn(n, 2, generator=gen)

    def distance(x: torch.Tensor) -> float:
        return sliced_wasserstein(x, data, torch.Generator().manual_seed(2))

    figure, (off, sw) = new_figure(1, 2, size=4.4)
    for eta, marker in zip(ETAS, "osd", strict=True):
        samples = [
            impl.ddim_sample(oracle, (n, 2), schedule, num_steps=s, eta=eta, generator=gen, x_T=x_T)
            for s in steps
        ]
        off.plot(steps, [_off_modes(x) for x in samples], marker=marker, label=f"DDIM, η = {eta:g}")
        sw.plot(steps, [distance(x) for x in samples], marker=marker, label=f"DDIM, η = {eta:g}")
    ddpm = ddpm_sample(oracle, (n, 2), schedule, generator=gen, x_T=x_T, progress=False)
    for ax, value, reference in (
        (off, _off_modes(ddpm), _off_modes(data)),
        (sw, distance(ddpm), distance(other)),
    ):
        ax.plot([T], [value], marker="*", markersize=12, color="crimson", ls="none")
        ax.axhline(value, color="crimson", lw=0.8, ls=":", label=f"DDPM, {T} steps")
        ax.axhline(reference, color="gray", lw=1, ls="--", label="the data itself")
        ax.set(xscale="log", yscale="log", xlabel="sampling steps S")
    off.set(ylabel="% of samples off the modes", title="between the modes")
    sw.set(ylabel="sliced Wasserstein distance", title=f"distance to {n:,} data points")
    off.legend(fontsize=8)
    return figure


# ----------------------------------------------------------------------------- the digits


@functools.cache
def digits_model() -> tuple[torch.nn.Module, NoiseSchedule, torch.Tensor]:
    """A small U-Net trained on 80 % of the digits (T = 1000, cosine): (EMA copy, schedule, held-out digits)."""
    data = load_digits()
    train, held = split(len(data), 0.2, torch.Generator().manual_seed(0))
    schedule = NoiseSchedule.cosine(T)
    gen = torch.Generator().manual_seed(3)
    model = UNet(UNetConfig(base_channels=16, groups=4), generator=gen)
    ema, _ = train_toy(
        model,
        data[train],
        schedule,
        gen,
        steps=scaled(1500, quick=5),
        batch_size=64,
        lr=2e-3,
        progress=False,
    )
    return ema.eval(), schedule, data[held]


def _show_rows(ax, rows: list[torch.Tensor], labels: list[str]) -> None:
    """Rows of 8×8 images in [-1, 1], one row per tensor, labelled on the left."""
    tiles = []
    for row in rows:
        pictures = to_display_range(row[:, 0]).numpy()
        pad = np.ones((pictures.shape[0], 8, 1))
        tiles.append(
            np.concatenate(
                [np.concatenate([p, q], axis=1) for p, q in zip(pictures, pad, strict=True)], axis=1
            )
        )
        tiles.append(np.ones((1, tiles[-1].shape[1])))
    ax.imshow(np.concatenate(tiles[:-1]), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_yticks([4 + 9 * i for i in range(len(rows))], labels, fontsize=8)
    ax.set_xticks([])
    for side in ax.spines.values():
        side.set_visible(False)


def inversion(impl) -> Figure:
    """Held-out digits, the noise ``ddim_invert`` finds for them, and ``ddim_sample`` of that noise, by steps."""
    model, schedule, held = digits_model()
    digits = held[:8]
    steps = (10, 20, 50, 100) if full() else (5, 10)
    probe = held[: scaled(64, quick=8)]
    errors, rows, labels = [], [digits], ["digits"]
    with torch.no_grad():
        for s in steps:
            noise = impl.ddim_invert(model, probe, schedule, num_steps=s)
            back = impl.ddim_sample(
                model,
                tuple(probe.shape),
                schedule,
                num_steps=s,
                x_T=noise,
                generator=torch.Generator().manual_seed(0),
            )
            errors.append(float(((back - probe) ** 2).mean().sqrt()))
            if s == steps[-1]:
                rows.append((noise[:8] / 3).clamp(-1, 1))
                labels.append(f"$x_T$ ({s} steps) / 3")
            rows.append(back[:8].clamp(-1, 1))
            labels.append(f"back, {s} steps")
    figure, (grid, curve) = new_figure(1, 2, size=4.2)
    _show_rows(grid, rows, labels)
    grid.set_title("invert, then sample with η = 0")
    curve.plot(steps, errors, marker="o")
    curve.set(
        xscale="log",
        yscale="log",
        xlabel="steps S (each way)",
        ylabel="root-mean-square error per pixel",
        title=f"round trip of {len(probe)} held-out digits",
    )
    return figure


def interpolation(impl) -> Figure:
    """Digits sampled (η = 0, 50 steps) along slerp and along a straight line between two noises."""
    model, schedule, _ = digits_model()
    gen = torch.Generator().manual_seed(4)
    pairs = 3
    z0, z1 = torch.randn(pairs, 1, 8, 8, generator=gen), torch.randn(pairs, 1, 8, 8, generator=gen)
    weights = torch.linspace(0, 1, 9)
    rows, labels = [], []
    for p in range(pairs):
        for name in ("slerp", "straight line"):
            if name == "slerp":
                z = torch.cat([impl.slerp(z0[p : p + 1], z1[p : p + 1], float(w)) for w in weights])
            else:
                z = torch.stack([(1 - w) * z0[p] + w * z1[p] for w in weights])
            x = impl.ddim_sample(
                model,
                tuple(z.shape),
                schedule,
                num_steps=50,
                x_T=z,
                clip_x0=True,
                generator=torch.Generator().manual_seed(0),
            )
            rows.append(x)
            labels.append(name)
    # the norms along the first pair's two paths, over the norm's typical size sqrt(64)
    norms = {
        "slerp": torch.cat([impl.slerp(z0[:1], z1[:1], float(w)) for w in weights]),
        "straight line": torch.stack([(1 - w) * z0[0] + w * z1[0] for w in weights]),
    }
    norms = {name: z.flatten(1).norm(dim=1) / 8 for name, z in norms.items()}
    figure, (grid, curve) = new_figure(1, 2, size=4.2)
    _show_rows(grid, rows, labels)
    grid.set_title("from $z_0$ (left) to $z_1$ (right)")
    for name, norm in norms.items():
        curve.plot(weights.numpy(), norm.numpy(), marker="o", label=name)
    curve.axhline(1.0, color="gray", lw=1, ls="--", label="typical of N(0, I)")
    curve.set(xlabel="weight w", ylabel=r"$\|z\| / \sqrt{64}$", title="the norm along the way")
    curve.legend(fontsize=8)
    return figure


FIGURES = {
    "oracle-samples": oracle_samples,
    "oracle-steps": oracle_steps,
    "inversion": inversion,
    "interpolation": interpolation,
}


# ----------------------------------------------------------------------------- interactive figure


def ddpm_vs_ddim_data(
    n_points: int = 300, grid: int = 48, seed: int = 0, every: int = 20, paths: int = 6
) -> dict:
    """DDPM's 1000 steps beside DDIM's 50 (η = 0), from the same noise, over the exact density of x_t.

    Both samplers start from the same ``n_points`` draws of $x_T$ and use the exact noise
    predictor of the ring of eight Gaussians (cosine schedule, $T = 1000$). DDIM visits the
    indices of the ``"trailing"`` spacing, $999, 979, \\dots, 19$, so that after $k$ of its steps
    it stands at the page's step $t = T - 20k$, where DDPM stands after $20k$ of its steps: frame
    $k$ shows both there, over $q_t$, the exact density of $x_t$, on a ``grid`` × ``grid`` raster
    of ``LIMITS``.
    """
    schedule = NoiseSchedule.cosine(T)
    oracle = _ring_oracle(schedule)
    gen = torch.Generator().manual_seed(seed)
    x_T = torch.randn(n_points, 2, generator=gen)
    _, ddpm = ddpm_sample(
        oracle,
        (n_points, 2),
        schedule,
        generator=gen,
        x_T=x_T,
        return_trajectory=True,
        progress=False,
    )
    num_steps = T // every
    _, ddim = ddim_sample(
        oracle,
        (n_points, 2),
        schedule,
        num_steps=num_steps,
        spacing="trailing",
        x_T=x_T,
        generator=gen,
        return_trajectory=True,
    )
    ddpm = ddpm[::every]  # after 0, 20, 40, ... of DDPM's steps
    low, high = LIMITS
    centres = low + (torch.arange(grid, dtype=torch.float64) + 0.5) * (high - low) / grid
    ys, xs = torch.meshgrid(centres.flip(0), centres, indexing="ij")
    cells = torch.stack([xs, ys], dim=-1)
    steps = [T - every * k for k in range(num_steps + 1)]
    density = torch.stack(
        [
            torch.exp(oracle.log_prob(cells) if t == 0 else oracle.log_prob(cells, t - 1))
            for t in steps
        ]
    )
    peak = density.flatten(1).max(dim=1).values
    shading = raster_layer(
        (density / peak[:, None, None]).numpy(), colormap="density", scale=peak.tolist()
    )
    labels = [f"t = {t}" for t in steps]
    labels[0] += " (pure noise)"
    labels[-1] += " (the samples)"
    panel = {"limits": [low, high, low, high]}
    return {
        "format": "dp-timeline/1",
        "caption": "DDPM with 1000 steps and DDIM with 50, from the same noise, over the exact density of x_t",
        "slider": "step",
        "labels": labels,
        "columns": 2,
        "play": {"fps": 8},
        "panels": [
            {
                **panel,
                "title": f"DDPM, {T} steps",
                "labels": [f"{every * k} model calls" for k in range(num_steps + 1)],
                "layers": [shading, points_layer(ddpm.numpy(), paths=paths)],
            },
            {
                **panel,
                "title": f"DDIM, {num_steps} steps, η = 0",
                "labels": [f"{k} model calls" for k in range(num_steps + 1)],
                "layers": [shading, points_layer(ddim.numpy(), paths=paths)],
            },
        ],
    }


DATA = {"ddpm-vs-ddim": ddpm_vs_ddim_data}
