"""Figures and tables of Core Task 2: the reverse process, with the exact oracle and a small trained MLP.

The sampler is the task's own ``ddpm_sample``, passed in as ``impl``; the interactive figure's
data (``DATA``) uses the library's.

The oracle figures need no training: the noise predictor is exact for a mixture of Gaussians.
The MLP figure trains a small network on two moons for a few seconds (fixed seeds).
"""

from __future__ import annotations

import torch
from matplotlib.figure import Figure

from diffusion_path.diffusion.networks import NoiseMLP
from diffusion_path.diffusion.reverse import ddpm_sample
from diffusion_path.diffusion.schedules import NoiseSchedule
from diffusion_path.diffusion.training import train_toy
from diffusion_path.figures.timeline import points_layer, raster_layer
from diffusion_path.tools.data import ring_of_gaussians, two_moons
from diffusion_path.tools.oracle import GaussianMixtureOracle
from diffusion_path.tools.plotting import new_figure

T = 100
LIMITS = (-3.2, 3.2)


def _ring_oracle(schedule: NoiseSchedule) -> GaussianMixtureOracle:
    weights, means, variance = ring_of_gaussians()
    return GaussianMixtureOracle(weights, means, variance, schedule)


def _scatter(ax, x: torch.Tensor, title: str, **kwargs) -> None:
    ax.scatter(x[:, 0].numpy(), x[:, 1].numpy(), s=2, alpha=0.4, **kwargs)
    ax.set(xlim=LIMITS, ylim=LIMITS, aspect="equal", title=title)
    ax.set_xticks([])
    ax.set_yticks([])


def reverse_trajectory(impl) -> Figure:
    """Part 2: 2 000 points carried from pure noise (t = T-1) to the data by DDPM sampling with the oracle."""
    schedule = NoiseSchedule.cosine(T)
    oracle = _ring_oracle(schedule)
    _, path = impl.ddpm_sample(
        oracle,
        (2000, 2),
        schedule,
        generator=torch.Generator().manual_seed(0),
        return_trajectory=True,
    )
    # path[k] is the state after k reverse steps: path[0] = x_T, path[T] = the samples
    shown = [0, 40, 70, 85, 95, T]
    figure, axes = new_figure(1, len(shown), size=2.6)
    for ax, k in zip(axes, shown, strict=True):
        label = "$x_T$ (noise)" if k == 0 else ("samples" if k == T else f"after {k} of {T} steps")
        _scatter(ax, path[k], label)
    return figure


def particle_paths(impl) -> Figure:
    """Part 2: the paths of 12 points through the reverse process, over the data they end in."""
    schedule = NoiseSchedule.cosine(T)
    oracle = _ring_oracle(schedule)
    gen = torch.Generator().manual_seed(1)
    data, _ = oracle.sample(3000, gen)
    _, path = impl.ddpm_sample(oracle, (12, 2), schedule, generator=gen, return_trajectory=True)
    figure, (ax,) = new_figure(1, 1, size=5.0)
    ax.scatter(data[:, 0].numpy(), data[:, 1].numpy(), s=2, alpha=0.15, color="gray", label="data")
    for i in range(path.shape[1]):
        ax.plot(path[:, i, 0].numpy(), path[:, i, 1].numpy(), lw=0.7, alpha=0.8)
    ax.scatter(
        path[0, :, 0].numpy(), path[0, :, 1].numpy(), s=10, marker="x", color="k", label="$x_T$"
    )
    ax.scatter(
        path[-1, :, 0].numpy(), path[-1, :, 1].numpy(), s=14, color="crimson", label="sample"
    )
    ax.set(xlim=LIMITS, ylim=LIMITS, aspect="equal", title="reverse paths, noise to data")
    ax.legend(fontsize=8, loc="lower right")
    return figure


def samples_vs_data(impl) -> Figure:
    """Part 3: oracle samples against the data, for both variance choices and two step counts."""
    figure, axes = new_figure(1, 4, size=2.9)
    gen = torch.Generator().manual_seed(2)
    data, _ = _ring_oracle(NoiseSchedule.cosine(T)).sample(2000, gen)
    _scatter(axes[0], data, "data", color="gray")
    for ax, (steps, variance) in zip(
        axes[1:], [(T, "beta_tilde"), (T, "beta"), (10, "beta_tilde")], strict=True
    ):
        schedule = NoiseSchedule.cosine(steps)
        x = impl.ddpm_sample(
            _ring_oracle(schedule), (2000, 2), schedule, variance=variance, generator=gen
        )
        _scatter(ax, x, f"T = {steps}, variance {variance!r}")
    return figure


def mlp_on_moons(impl) -> Figure:
    """Parts 1 and 3: a small MLP trained for 4 000 steps (about 7 s) on two moons, its loss and its samples."""
    gen = torch.Generator().manual_seed(3)
    data = two_moons(10_000, gen)
    schedule = NoiseSchedule.cosine(T)
    model = NoiseMLP(2, hidden=128, generator=gen)
    ema, losses = train_toy(
        model, data, schedule, gen, steps=4000, batch_size=256, lr=2e-3, progress=False
    )
    x = impl.ddpm_sample(ema, (2000, 2), schedule, generator=gen)
    figure, axes = new_figure(1, 3, size=3.3)
    losses = torch.tensor(losses)
    window = 50
    smooth = torch.nn.functional.avg_pool1d(losses[None, None], window, stride=1)[0, 0]
    axes[0].plot(losses.numpy(), lw=0.5, alpha=0.4, label="per step")
    axes[0].plot(range(window - 1, len(losses)), smooth.numpy(), label=f"mean of {window}")
    axes[0].set(
        title=r"loss $\|\varepsilon - \varepsilon_\theta\|^2$", xlabel="step", ylim=(0.2, 1.1)
    )
    axes[0].legend(fontsize=8)
    _scatter(axes[1], data[:2000], "data (two moons)", color="gray")
    _scatter(axes[2], x, "MLP samples")
    return figure


FIGURES = {
    "reverse-trajectory": reverse_trajectory,
    "particle-paths": particle_paths,
    "samples-vs-data": samples_vs_data,
    "mlp-on-moons": mlp_on_moons,
}


def off_mode_table() -> str:
    """Share of oracle samples far from every mode of the ring, by number of steps and variance choice."""
    n = 4000
    _, means, variance = ring_of_gaussians()
    # |x - mu|^2 / sigma^2 is chi^2 with 2 degrees of freedom: P(> 13.8) = exp(-6.9) = 0.001
    threshold = 13.8 * variance
    rows = []
    for steps in (5, 10, 25, 100):
        schedule = NoiseSchedule.cosine(steps)
        oracle = _ring_oracle(schedule)
        cells = []
        for variance_name in ("beta_tilde", "beta"):
            gen = torch.Generator().manual_seed(steps)
            x = ddpm_sample(
                oracle, (n, 2), schedule, variance=variance_name, generator=gen, progress=False
            )
            distance2 = ((x.double()[:, None, :] - means[None]) ** 2).sum(-1).min(dim=1).values
            cells.append(f"{100 * float((distance2 > threshold).double().mean()):.1f} %")
        rows.append(f"| {steps} | {cells[0]} | {cells[1]} |")
    header = (
        "| steps $T$ | off the modes, $\\sigma_t^2 = \\tilde\\beta_t$ | off the modes, $\\sigma_t^2 = \\beta_t$ |\n"
        "|---:|---:|---:|"
    )
    return header + "\n" + "\n".join(rows) + "\n\nFor the data itself the share is 0.1 %."


TABLES = {"off-mode": off_mode_table}


# ----------------------------------------------------------------------------- interactive figure


def reverse_data(
    n_points: int = 300, grid: int = 64, seed: int = 0, paths: int = 6, trail: int = 8
) -> dict:
    """Core 2's interactive figure: particles carried from x_T to the data over the exact density of x_t.

    ``ddpm_sample`` with the exact oracle of the ring of eight Gaussians (cosine schedule, T = 100)
    moves ``n_points`` particles; frame ``k`` shows them after ``k`` reverse steps, at the page's
    step ``t = T - k``, over $q_t$, the exact density of $x_t$ (the oracle's ``log_prob`` at the
    index ``t - 1``; the data's density at ``t = 0``) on a ``grid`` × ``grid`` raster of ``LIMITS``.
    """
    schedule = NoiseSchedule.cosine(T)
    oracle = _ring_oracle(schedule)
    _, path = ddpm_sample(
        oracle,
        (n_points, 2),
        schedule,
        generator=torch.Generator().manual_seed(seed),
        return_trajectory=True,
        progress=False,
    )
    # cell centres; the raster's first row is the top of the picture, the largest y
    low, high = LIMITS
    centres = low + (torch.arange(grid, dtype=torch.float64) + 0.5) * (high - low) / grid
    ys, xs = torch.meshgrid(centres.flip(0), centres, indexing="ij")
    cells = torch.stack([xs, ys], dim=-1)  # (grid, grid, 2)
    densities = []
    for k in range(T + 1):
        t = T - k
        log_q = oracle.log_prob(cells) if t == 0 else oracle.log_prob(cells, t - 1)
        densities.append(torch.exp(log_q))
    density = torch.stack(densities)  # (T + 1, grid, grid)
    peak = density.flatten(1).max(dim=1).values
    labels = [f"t = {T - k}" for k in range(T + 1)]
    labels[0] += " (pure noise)"
    labels[-1] += " (the samples)"
    return {
        "format": "dp-timeline/1",
        "caption": "DDPM sampling with the exact noise predictor, over the exact density of x_t",
        "slider": "reverse step",
        "labels": labels,
        "columns": 1,
        "play": {"fps": 12},
        "panels": [
            {
                "title": f"{n_points} particles over the density of xₜ",
                "limits": [low, high, low, high],
                "layers": [
                    raster_layer(
                        (density / peak[:, None, None]).numpy(),
                        colormap="density",
                        scale=peak.tolist(),
                    ),
                    points_layer(path.numpy(), paths=paths, trail=trail),
                ],
            }
        ],
    }


DATA = {"reverse": reverse_data}
