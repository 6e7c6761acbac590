"""Figures and tables of Core Task 3: the time embedding, per-step errors against the exact floor, the U-Net.

Figures drawn with the task's own functions take them as ``impl``: the embedding, the networks
(the U-Net that trains is ``impl.UNet``) and the error measure ``impl.noise_prediction_mse``.
Networks are trained here, with fixed seeds, and kept for the process (``functools.cache``), so
the figures that show the same network train it once. Quick runs (``DIFFUSION_PATH_QUICK``)
train for a few steps only: they prove the code runs, not that the network learns.

Steps are counted as on the page, from 1 to T: step ``t`` is the schedule's index ``t - 1``.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterator
from types import SimpleNamespace

import numpy as np
import torch
from matplotlib.figure import Figure

from diffusion_path.diffusion.forward import q_sample
from diffusion_path.diffusion.reverse import ddpm_sample, predict_x0_from_eps
from diffusion_path.diffusion.schedules import NoiseSchedule
from diffusion_path.diffusion.training import train_toy
from diffusion_path.tools.budget import scaled
from diffusion_path.tools.data import load_digits, ring_of_gaussians, split, to_display_range
from diffusion_path.tools.oracle import GaussianMixtureOracle
from diffusion_path.tools.plotting import new_figure, outlined_grid

#: Steps of the digit experiments, and of the 2-D one (as in Core Task 2).
T_DIGITS, T_2D = 200, 100
#: The variance of the mixture of tiny Gaussians on the training digits: exact for that set.
DELTA = 1e-8


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Small tensors: a second thread mostly waits (and on a shared machine, much longer)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def schedule_named(name: str, T: int = T_DIGITS) -> NoiseSchedule:
    """The cosine schedule, or DDPM's linear one with its end points scaled by 1000 / T (improved DDPM's rule)."""
    if name == "cosine":
        return NoiseSchedule.cosine(T)
    return NoiseSchedule.linear(T, 1e-4 * 1000 / T, 0.02 * 1000 / T)


@functools.cache
def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    """The 8×8 digits split 80 / 20 into a training and a held-out part (fixed seed)."""
    data = load_digits()
    train, held = split(len(data), 0.2, torch.Generator().manual_seed(0))
    return data[train], data[held]


class Flattened(torch.nn.Module):
    """An MLP on the 64 pixels of a digit, called like an image network: (B, 1, 8, 8) in and out."""

    def __init__(self, mlp: torch.nn.Module) -> None:
        super().__init__()
        self.mlp = mlp

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(x.flatten(1), t).reshape(x.shape)


def trained_unet(impl, schedule: str = "cosine") -> tuple[torch.nn.Module, list[float], float]:
    """``impl.UNet`` with its default config, trained on the training digits: (EMA copy, losses, CPU seconds).

    ``train_toy`` runs on one thread, so its CPU time is the time it takes on an idle machine,
    whatever else the machine is doing. Kept for the process, by the classes it is made from
    (the reference's namespace is made afresh for each figure; its classes are not).
    """
    return _trained_unet(impl.UNet, impl.UNetConfig, schedule)


@functools.cache
def _trained_unet(
    unet: type, config: type, schedule: str
) -> tuple[torch.nn.Module, list[float], float]:
    train, _ = _digits()
    gen = torch.Generator().manual_seed(1)
    model = unet(config(), generator=gen)
    start = time.process_time()
    ema, losses = train_toy(
        model,
        train,
        schedule_named(schedule),
        gen,
        steps=scaled(1000, quick=5),
        batch_size=64,
        lr=2e-3,
        progress=False,
    )
    return ema, losses, time.process_time() - start


def trained_mlp(impl) -> tuple[torch.nn.Module, list[float], float]:
    """``impl.NoiseMLP`` on the 64 pixels of the training digits, cosine schedule: (EMA copy, losses, CPU seconds)."""
    return _trained_mlp(impl.NoiseMLP)


@functools.cache
def _trained_mlp(mlp: type) -> tuple[torch.nn.Module, list[float], float]:
    train, _ = _digits()
    gen = torch.Generator().manual_seed(2)
    model = mlp(64, hidden=256, depth=3, generator=gen)
    start = time.process_time()
    ema, losses = train_toy(
        model,
        train.flatten(1),
        schedule_named("cosine"),
        gen,
        steps=scaled(3000, quick=5),
        batch_size=128,
        lr=1e-3,
        progress=False,
    )
    return Flattened(ema).eval(), losses, time.process_time() - start


def _indices(T: int, every: int) -> list[int]:
    return list(range(0, T, every)) + ([T - 1] if (T - 1) % every else [])


def digit_errors(impl) -> dict[str, np.ndarray]:
    """Per-step errors on the digits: MLP and U-Net on held-out and training digits, and the floor."""
    return _digit_errors(impl.UNet, impl.UNetConfig, impl.NoiseMLP, impl.noise_prediction_mse)


@functools.cache
def _digit_errors(unet: type, config: type, mlp_class: type, measure) -> dict[str, np.ndarray]:
    impl = SimpleNamespace(
        UNet=unet, UNetConfig=config, NoiseMLP=mlp_class, noise_prediction_mse=measure
    )
    train, held = _digits()
    schedule = schedule_named("cosine")
    steps = _indices(T_DIGITS, scaled(5, quick=50))
    unet, _, _ = trained_unet(impl)
    mlp, _, _ = trained_mlp(impl)
    out = {"t": np.array(steps) + 1}
    with _one_thread():
        for name, model in (("mlp", mlp), ("unet", unet)):
            for part, x0 in (("held", held), ("train", train[: len(held)])):
                gen = torch.Generator().manual_seed(10)
                out[f"{name}-{part}"] = impl.noise_prediction_mse(
                    model, x0, steps, schedule, gen
                ).numpy()
        # the exact noise predictor for the training digits: a mixture of tiny Gaussians on them
        oracle = GaussianMixtureOracle(
            torch.ones(len(train)), train.flatten(1).double(), DELTA, schedule
        )
        floor_steps = _indices(T_DIGITS, scaled(10, quick=100))
        gen = torch.Generator().manual_seed(11)
        probe = train[: scaled(200, quick=20)]
        out["floor-t"] = np.array(floor_steps) + 1
        out["floor"] = impl.noise_prediction_mse(
            lambda x, t: oracle(x.flatten(1), t).reshape(x.shape), probe, floor_steps, schedule, gen
        ).numpy()
    return out


# ----------------------------------------------------------------------------- the embedding
def time_embedding(impl) -> Figure:
    """The 128 features of steps 0 to 999 as an image, and how alike two steps' features are."""
    T, dim = 1000, 128
    emb = impl.timestep_embedding(torch.arange(T), dim).numpy()
    figure, axes = new_figure(1, 2, size=4.4)
    image = axes[0].imshow(
        emb.T, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest"
    )
    axes[0].set(
        xlabel="step index t",
        ylabel="feature (cosines 0–63, sines 64–127)",
        title=r"$\mathrm{emb}(t)$: fast features on top, slow below",
    )
    figure.colorbar(image, ax=axes[0], shrink=0.8)
    for step in (100, 500, 900):
        similarity = emb @ emb[step] / (dim / 2)
        axes[1].plot(similarity, lw=0.9, label=f"t = {step}")
    axes[1].set(
        xlabel="step index s",
        ylabel=r"$\mathrm{emb}(t) \cdot \mathrm{emb}(s) / k$",
        title="near steps alike, far steps not",
        ylim=(-0.2, 1.05),
    )
    axes[1].legend(fontsize=8)
    return figure


# ----------------------------------------------------------------------------- the floor, in 2-D
def ring_experiment(impl) -> dict[str, object]:
    """The MLP on the ring of eight Gaussians and the exact oracle's per-step error: the floor."""
    return _ring_experiment(impl.NoiseMLP, impl.noise_prediction_mse)


@functools.cache
def _ring_experiment(mlp_class: type, measure) -> dict[str, object]:
    impl = SimpleNamespace(NoiseMLP=mlp_class, noise_prediction_mse=measure)
    schedule = NoiseSchedule.cosine(T_2D)
    weights, means, variance = ring_of_gaussians()
    oracle = GaussianMixtureOracle(weights, means, variance, schedule)
    gen = torch.Generator().manual_seed(3)
    data, _ = oracle.sample(20_000, gen)
    model = impl.NoiseMLP(2, hidden=128, generator=gen)
    ema, losses = train_toy(
        model, data, schedule, gen, steps=scaled(4000, quick=20), batch_size=256, progress=False
    )
    probe, _ = oracle.sample(scaled(20_000, quick=500), gen)
    steps = _indices(T_2D, 1)
    with _one_thread():
        gen = torch.Generator().manual_seed(4)
        mlp = impl.noise_prediction_mse(ema, probe, steps, schedule, gen).numpy()
        gen = torch.Generator().manual_seed(4)  # the same noise: a paired comparison
        floor = impl.noise_prediction_mse(oracle, probe, steps, schedule, gen).numpy()
    return {"t": np.array(steps) + 1, "mlp": mlp, "floor": floor, "losses": np.array(losses)}


def floor_2d(impl) -> Figure:
    """Per-step error of an MLP trained on the ring of Gaussians against the exact oracle's: what 'done' means."""
    result = ring_experiment(impl)
    t, mlp, floor, losses = result["t"], result["mlp"], result["floor"], result["losses"]
    figure, axes = new_figure(1, 2, size=4.2)
    axes[0].plot(t, mlp, label="MLP, trained")
    axes[0].plot(
        t, floor, color="k", ls="--", label=r"exact $\mathbb{E}[\varepsilon \mid x_t]$: the floor"
    )
    axes[0].axhline(1.0, color="gray", lw=0.8, ls=":", label=r"$\varepsilon_\theta = 0$")
    axes[0].set(
        xlabel="step t",
        ylabel="MSE per coordinate",
        title="error at each step (C3.6)",
        ylim=(0, 1.05),
    )
    axes[0].legend(fontsize=8)
    window = max(1, min(100, len(losses) // 5))
    smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
    axes[1].plot(losses, lw=0.4, alpha=0.35, label="loss per step")
    axes[1].plot(np.arange(window - 1, len(losses)), smooth, label=f"mean of {window}")
    axes[1].axhline(
        floor.mean(), color="k", ls="--", label=f"floor, mean over t: {floor.mean():.3f}"
    )
    axes[1].set(
        xlabel="training step", title="the training loss levels off at the floor", ylim=(0, 1.05)
    )
    axes[1].legend(fontsize=8)
    return figure


# ----------------------------------------------------------------------------- digits
def mlp_vs_unet(impl) -> Figure:
    """Per-step error on the digits: MLP vs U-Net, held-out and training digits, and the memorising floor."""
    errors = digit_errors(impl)
    figure, axes = new_figure(1, 2, size=4.4)
    for ax, scale in zip(axes, ("linear", "log"), strict=True):
        for name, label, color in (("mlp", "MLP", "C0"), ("unet", "U-Net", "C1")):
            ax.plot(
                errors["t"], errors[f"{name}-held"], color=color, label=f"{label}, held-out digits"
            )
            ax.plot(
                errors["t"],
                errors[f"{name}-train"],
                color=color,
                ls=":",
                label=f"{label}, training digits",
            )
        ax.plot(
            errors["floor-t"],
            errors["floor"],
            "k--",
            label="exact predictor of the training set (memorises)",
        )
        ax.set(xlabel="step t", ylabel="MSE per coordinate", yscale=scale)
    axes[0].set(title="error at each step, 8×8 digits", ylim=(0, 1.05))
    axes[1].set(title="the same, log scale", ylim=(1e-4, 1.5))
    axes[0].legend(fontsize=7)
    return figure


def _show(ax, image: torch.Tensor, signed: bool = False) -> None:
    pixels = image[0].numpy()
    if signed:
        ax.imshow(pixels, cmap="RdBu_r", vmin=-2.5, vmax=2.5)
    else:
        ax.imshow(to_display_range(image)[0].numpy(), cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])


def noisy_digits(impl) -> Figure:
    """A held-out digit at five steps: the noisy input, the true noise, the U-Net's prediction and its x0 guess."""
    _, held = _digits()
    schedule = schedule_named("cosine")
    unet, _, _ = trained_unet(impl)
    steps = [10, 50, 100, 140, 180]
    x0 = held[[3]].expand(len(steps), 1, 8, 8)
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(5))
    index = torch.tensor(steps) - 1
    x_t = q_sample(x0, index, schedule, noise=eps)
    with torch.no_grad(), _one_thread():
        predicted = unet(x_t, index)
    x0_hat = predict_x0_from_eps(x_t, index, predicted, schedule).clamp(-1, 1)
    columns = [
        ("data $x_0$", x0, False),
        ("input $x_t$", x_t, False),
        (r"noise $\varepsilon$", eps, True),
        (r"prediction $\varepsilon_\theta$", predicted, True),
        (r"error $\varepsilon - \varepsilon_\theta$", eps - predicted, True),
        (r"$\hat x_0$ from it (C2.3)", x0_hat, False),
    ]
    figure = Figure(figsize=(1.45 * len(columns), 1.5 * len(steps)), layout="constrained")
    axes = figure.subplots(len(steps), len(columns))
    for r, step in enumerate(steps):
        for c, (title, images, signed) in enumerate(columns):
            _show(axes[r, c], images[r], signed)
            if r == 0:
                axes[r, c].set_title(title, fontsize=8)
        abar = float(schedule.alpha_bars[step - 1])
        axes[r, 0].set_ylabel(f"t = {step}\n" + rf"$\bar\alpha_t$ = {abar:.2f}", fontsize=8)
    return figure


def schedules(impl) -> Figure:
    """Linear against cosine schedule: log SNR per step, the U-Net's error against the noise level, samples."""
    _, held = _digits()
    figure, axes = new_figure(1, 4, size=3.3)
    gen = torch.Generator().manual_seed(6)
    for name, color in (("linear", "C2"), ("cosine", "C1")):
        schedule = schedule_named(name)
        log_snr = np.log(schedule.snr.numpy())
        axes[0].plot(np.arange(1, T_DIGITS + 1), log_snr, color=color, label=name)
        unet, _, _ = trained_unet(impl, name)
        steps = _indices(T_DIGITS, scaled(5, quick=50))
        with _one_thread():
            errors = impl.noise_prediction_mse(
                unet, held, steps, schedule, torch.Generator().manual_seed(7)
            ).numpy()
            samples = ddpm_sample(
                unet, (36, 1, 8, 8), schedule, clip_x0=True, generator=gen, progress=False
            )
        axes[1].plot(log_snr[steps], errors, color=color, label=f"trained with the {name} schedule")
        ax = axes[2 if name == "linear" else 3]
        ax.imshow(outlined_grid(samples, 6), cmap="gray", vmin=0, vmax=1)
        ax.set(title=f"samples, {name} schedule", xticks=[], yticks=[])
    axes[0].axhline(-4, color="gray", lw=0.6, ls=":")
    axes[0].set(xlabel="step t", title=r"$\log \mathrm{SNR}(t)$, $T$ = 200")
    axes[0].legend(fontsize=8)
    axes[1].set(
        xlabel=r"noise level $\log \mathrm{SNR}(t)$ (noisier to the left)",
        title="U-Net error, held-out digits",
        yscale="log",
        xlim=(-12, 9),
    )
    axes[1].legend(fontsize=7)
    return figure


FIGURES = {
    "time-embedding": time_embedding,
    "floor-2d": floor_2d,
    "mlp-vs-unet": mlp_vs_unet,
    "noisy-digits": noisy_digits,
    "schedules": schedules,
}


# ----------------------------------------------------------------------------- tables
def _reference():
    from diffusion_path.tasks import get_task, reference_namespace

    return reference_namespace(get_task("core-3"))


def loss_table() -> str:
    """The losses (per-step errors averaged over t) of each predictor, against the floor, with sizes and times."""
    impl = _reference()
    ring = ring_experiment(impl)
    errors = digit_errors(impl)
    unet, unet_losses, unet_seconds = trained_unet(impl)
    mlp, mlp_losses, mlp_seconds = trained_mlp(impl)
    floor = np.interp(errors["t"], errors["floor-t"], errors["floor"])

    def count(model) -> str:
        return f"{sum(p.numel() for p in model.parameters()):,}"

    rows = [
        "| data | predictor | parameters | training | loss, held-out | loss, training data |",
        "|---|---|---:|---:|---:|---:|",
        f"| ring of 8 Gaussians | MLP | {count(impl.NoiseMLP(2))} | {len(ring['losses']):,} steps | {ring['mlp'].mean():.3f} | — |",
        f"| ring of 8 Gaussians | exact $\\mathbb E[\\varepsilon \\mid x_t]$ (floor) | — | — | {ring['floor'].mean():.3f} | — |",
        f"| 8×8 digits | MLP | {count(mlp)} | {len(mlp_losses):,} steps, {mlp_seconds:.0f} s | {errors['mlp-held'].mean():.3f} | {errors['mlp-train'].mean():.3f} |",
        f"| 8×8 digits | U-Net | {count(unet)} | {len(unet_losses):,} steps, {unet_seconds:.0f} s | {errors['unet-held'].mean():.3f} | {errors['unet-train'].mean():.3f} |",
        f"| 8×8 digits | exact predictor of the training set | — | — | — | {floor.mean():.3f} |",
    ]
    return "\n".join(rows) + (
        "\n\nThe loss is the per-step error (C3.6) averaged over the steps: the training loss, measured on"
        " fresh noise. Training times are the CPU time of one thread on the machine that built"
        " this page: about the time it takes on an idle laptop."
    )


TABLES = {"losses": loss_table}
