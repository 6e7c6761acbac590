"""Figures and tables of Core Task 4: the bound's terms, the bound of Gaussian data, and the three objectives.

Figures drawn with the task's own functions take them as ``impl``: the terms of the bound
(``impl.vlb_terms``), bits per dimension (``impl.bits_per_dim``), the training losses
(``impl.training_losses``) and the step sampler (``impl.ImportanceSampler``). Networks are trained
here with fixed seeds and kept for the process (``functools.cache``), so the figure and the table
that show the same network train it once. Quick runs (``DIFFUSION_PATH_QUICK``) train for a few
steps only: they prove the code runs, not that the network learns.

Steps are counted as on the page, from 1 to T: step ``t`` is the schedule's index ``t - 1``, and
column ``t`` of ``vlb_terms`` is $L_t$ (column 0 the decoder's $L_0$, column T the prior's $L_T$).
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import Iterator

import numpy as np
import torch
from matplotlib.figure import Figure

from diffusion_path.diffusion.networks import NoiseMLP
from diffusion_path.diffusion.reverse import ddpm_sample, predict_x0_from_eps, q_posterior
from diffusion_path.diffusion.schedules import NoiseSchedule, gather
from diffusion_path.diffusion.training import TrainConfig, train
from diffusion_path.tools.budget import scaled
from diffusion_path.tools.data import load_digits, split, to_display_range
from diffusion_path.tools.oracle import GaussianOracle
from diffusion_path.tools.plotting import new_figure

#: Steps of the digit experiments (cosine schedule, as in Core Task 3), and the digits' grey levels.
T_DIGITS, LEVELS = 200, 17
#: Dimension and sample size of the Gaussian test of the bound.
D_GAUSS = 4
#: The entropy of N(0, 1), nats: the bound of N(0, I) data per dimension when it is tight.
ENTROPY = 0.5 * math.log(2 * math.pi * math.e)
#: The three models of Part 3: name, objective, variance, importance-sampled steps.
OBJECTIVES = (
    ("simple", "simple", "beta_tilde", False),
    ("hybrid", "hybrid", "learned", False),
    ("vlb", "vlb", "learned", True),
)
LABELS = {
    "simple": r"$L_{\mathrm{simple}}$, $\sigma_t^2 = \tilde\beta_t$",
    "hybrid": r"$L_{\mathrm{hybrid}}$, learned $\sigma_t^2$",
    "vlb": r"$L_{\mathrm{vlb}}$, learned $\sigma_t^2$, importance-sampled $t$",
}
COLORS = {"simple": "C0", "hybrid": "C1", "vlb": "C2"}


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Small tensors: a second thread mostly waits (and on a shared machine, much longer)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def digit_schedule() -> NoiseSchedule:
    """The cosine schedule of the digit experiments."""
    return NoiseSchedule.cosine(T_DIGITS)


@functools.cache
def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    """The 8×8 digits as 64 pixels each (17 grey levels in [-1, 1]), split 80 / 20 (as in Core Task 3)."""
    data = load_digits().flatten(1)
    train_part, held = split(len(data), 0.2, torch.Generator().manual_seed(0))
    return data[train_part], data[held]


class LearnedVarianceMLP(torch.nn.Module):
    r"""Two MLPs side by side: $\varepsilon_\theta$ and the variance's $v$, stacked along axis 1."""

    def __init__(self, dim: int, generator: torch.Generator) -> None:
        super().__init__()
        self.eps = NoiseMLP(dim, hidden=256, depth=3, generator=generator)
        self.v = NoiseMLP(dim, hidden=128, depth=2, generator=generator)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.eps(x_t, t), self.v(x_t, t)], dim=1)


def _gaussian_terms(vlb_terms, schedule: NoiseSchedule, variance: str) -> torch.Tensor:
    """The bound's terms of N(0, I) data in D_GAUSS dimensions with the exact oracle, continuous decoder."""
    eye = torch.eye(D_GAUSS, dtype=torch.float64)
    oracle = GaussianOracle(torch.zeros(D_GAUSS, dtype=torch.float64), eye, schedule)
    n = scaled(10_000, quick=500)
    x0 = torch.randn(n, D_GAUSS, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with _one_thread():
        return vlb_terms(
            oracle,
            x0,
            schedule,
            torch.Generator().manual_seed(1),
            variance=variance,
            decoder="continuous",
            progress=False,
        )


def gaussian_bound(impl) -> dict[str, dict[str, torch.Tensor]]:
    """The terms for N(0, I) data, per schedule and variance: {"linear-1000/beta": terms, ...}."""
    return _gaussian_bound(impl.vlb_terms)


@functools.cache
def _gaussian_bound(vlb_terms) -> dict[str, torch.Tensor]:
    schedules = {
        f"linear, T = {scaled(1000, quick=50)}": NoiseSchedule.linear(scaled(1000, quick=50)),
        f"cosine, T = {T_DIGITS}": NoiseSchedule.cosine(T_DIGITS),
    }
    return {
        (name, variance): _gaussian_terms(vlb_terms, schedule, variance)
        for name, schedule in schedules.items()
        for variance in ("beta", "beta_tilde")
    }


def trained(impl, name: str) -> dict[str, object]:
    """The digits model trained with objective ``name``: its EMA, the held-out bound over training, CPU seconds."""
    return _trained(
        impl.training_losses, impl.ImportanceSampler, impl.vlb_terms, impl.bits_per_dim, name
    )


def _held_out_terms(vlb_terms, model, variance: str) -> torch.Tensor:
    _, held = _digits()
    held = held[: scaled(len(held), quick=40)]
    with torch.no_grad():
        return vlb_terms(
            model,
            held,
            digit_schedule(),
            torch.Generator().manual_seed(5),
            variance=variance,
            levels=LEVELS,
            progress=False,
        )


@functools.cache
def _trained(training_losses, sampler_class, vlb_terms, bits_per_dim, name: str) -> dict:
    _, objective, variance, importance = next(o for o in OBJECTIVES if o[0] == name)
    train_part, _ = _digits()
    schedule = digit_schedule()
    gen = torch.Generator().manual_seed(2)
    dim = train_part.shape[1]
    model = NoiseMLP(dim, hidden=256, depth=3, generator=gen)
    if variance == "learned":
        model = LearnedVarianceMLP(dim, gen)
    sampler = sampler_class(T_DIGITS) if importance else None
    steps = scaled(1500, quick=6)
    every = scaled(250, quick=3)

    def loss_fn(network, x0, schedule, generator) -> torch.Tensor:
        losses, t, terms = training_losses(
            network,
            x0,
            schedule,
            generator,
            objective=objective,
            variance=variance,
            sampler=sampler,
            levels=LEVELS,
        )
        if sampler is not None:
            sampler.update(t, terms)
        return losses.mean()

    curve: list[tuple[int, float]] = []
    seconds = [0.0]

    def on_log(state) -> None:
        start = time.process_time()
        terms = _held_out_terms(vlb_terms, state.ema, variance)
        curve.append((state.step, bits_per_dim(terms.sum(dim=1).mean()).item()))
        seconds[0] += time.process_time() - start

    config = TrainConfig(
        steps=steps,
        batch_size=128,
        lr=1e-3,
        warmup=min(100, steps // 10),
        ema_decay=0.995,
        grad_clip=None,
        log_every=every,
        checkpoint_every=steps,
    )
    start = time.process_time()
    with _one_thread():
        state = train(
            model,
            train_part,
            schedule,
            config,
            generator=gen,
            on_log=on_log,
            progress=False,
            loss_fn=loss_fn,
        )
        terms = _held_out_terms(vlb_terms, state.ema, variance)
    return {
        "ema": state.ema,
        "variance": variance,
        "losses": state.losses,
        "curve": curve,
        "terms": terms,
        "steps": steps,
        "seconds": time.process_time() - start - seconds[0],
    }


def sample(model, variance: str, n: int, generator: torch.Generator) -> torch.Tensor:
    r"""``n`` digits from ``model`` by ancestral sampling, $\hat x_0$ clipped to $[-1, 1]$, as ``(n, 1, 8, 8)``.

    A fixed variance samples with Core Task 2's ``ddpm_step``; a learned one with
    $\sigma_t^2 = \exp(v\log\beta_t + (1 - v)\log\tilde\beta_t)$ (Improved DDPM eq. (15)).
    """
    schedule = digit_schedule()
    shape = (n, 64)
    with torch.no_grad(), _one_thread():
        if variance != "learned":
            x = ddpm_sample(
                model,
                shape,
                schedule,
                variance=variance,
                clip_x0=True,
                generator=generator,
                progress=False,
            )
            return x.reshape(n, 1, 8, 8)
        x = torch.randn(shape, generator=generator)
        for step in reversed(range(schedule.T)):
            t = torch.full((n,), step, dtype=torch.long)
            eps, v = model(x, t).chunk(2, dim=1)
            x0_hat = predict_x0_from_eps(x, t, eps, schedule).clamp(-1.0, 1.0)
            mean, _, _ = q_posterior(x0_hat, x, t, schedule)
            if step == 0:
                x = mean
                break
            log_beta = torch.log(gather(schedule.betas, t, x))
            log_beta_tilde = gather(schedule.posterior_log_variance_clipped, t, x)
            log_variance = v * log_beta + (1.0 - v) * log_beta_tilde
            x = mean + torch.exp(0.5 * log_variance) * torch.randn(shape, generator=generator)
    return x.clamp(-1.0, 1.0).reshape(n, 1, 8, 8)


def _grid(images: torch.Tensor, cols: int) -> np.ndarray:
    """Images ``(N, 1, H, W)`` in the model's range as one picture, a grey line between them."""
    padded = torch.nn.functional.pad(to_display_range(images), (1, 1, 1, 1), value=0.5)
    n, _, h, w = padded.shape
    rows = n // cols
    return (
        padded[: rows * cols, 0]
        .reshape(rows, cols, h, w)
        .permute(0, 2, 1, 3)
        .reshape(rows * h, cols * w)
        .numpy()
    )


# ----------------------------------------------------------------------------- figures
def vlb_terms_figure(impl) -> Figure:
    """The bound's terms over t: N(0, I) data with the exact oracle, and trained digit models."""
    figure, axes = new_figure(1, 2, size=4.4)
    results = gaussian_bound(impl)
    name = f"cosine, T = {T_DIGITS}"
    steps = np.arange(1, T_DIGITS)
    ax = axes[0]
    for variance, color, label in (
        ("beta", "C3", r"$\sigma_t^2 = \beta_t$"),
        ("beta_tilde", "C4", r"$\sigma_t^2 = \tilde\beta_t$"),
    ):
        mean = results[(name, variance)].mean(dim=0).numpy()
        ax.plot(
            steps,
            mean[1:-1],
            color=color,
            label=f"$L_{{t-1}}$, {label}; $L_0$ = {mean[0]:.2f}, $L_T$ = {mean[-1]:.0e}",
        )
    ax.set(
        xlabel="step t (the term $L_{t-1}$)",
        ylabel="nats per dimension",
        title=r"$x_0 \sim \mathcal{N}(0, I)$, exact $\varepsilon^*$, " + name,
        yscale="log",
    )
    ax.legend(fontsize=7)
    ax = axes[1]
    for key, _, _, _ in OBJECTIVES:
        result = trained(impl, key)
        mean = result["terms"].mean(dim=0).numpy()
        ax.plot(np.arange(1, T_DIGITS), mean[1:-1], color=COLORS[key], label=LABELS[key])
        ax.scatter([0], [mean[0]], color=COLORS[key], marker="o", zorder=3)
    ax.set(
        xlabel="step t (the term $L_{t-1}$; $L_0$ at t = 0)",
        ylabel="nats per dimension",
        title="8×8 digits, held out, trained MLPs",
        yscale="log",
    )
    ax.legend(fontsize=7)
    return figure


def objectives(impl) -> Figure:
    """The held-out bound during training with each objective, and samples of each model."""
    figure = Figure(figsize=(13.2, 3.6), layout="constrained")
    axes = figure.subplots(1, 4, width_ratios=(1.6, 1, 1, 1))
    for key, _, _, _ in OBJECTIVES:
        result = trained(impl, key)
        steps, bits = zip(*result["curve"], strict=True)
        axes[0].plot(steps, bits, "o-", color=COLORS[key], label=LABELS[key])
    axes[0].axhline(math.log2(LEVELS), color="gray", ls=":", label=f"uniform on {LEVELS} levels")
    axes[0].set(
        xlabel="training step",
        ylabel="bits per dimension (bound)",
        title="held-out bound during training",
        yscale="log",
    )
    axes[0].legend(fontsize=7)
    for ax, (key, _, _, _) in zip(axes[1:], OBJECTIVES, strict=True):
        result = trained(impl, key)
        digits = sample(result["ema"], result["variance"], 36, torch.Generator().manual_seed(7))
        ax.imshow(_grid(digits, 6), cmap="gray", vmin=0, vmax=1)
        ax.set(title=f"samples, {key}", xticks=[], yticks=[])
    return figure


FIGURES = {"vlb-terms": vlb_terms_figure, "objectives": objectives}


# ----------------------------------------------------------------------------- tables
def _reference():
    from diffusion_path.tasks import get_task, reference_namespace

    return reference_namespace(get_task("core-4"))


def gaussian_table() -> str:
    """The bound of N(0, I) data with the exact oracle, by its three parts, against the entropy."""
    results = gaussian_bound(_reference())
    rows = [
        "| schedule | $\\sigma_t^2$ | $L_T$ | $\\sum_{t=2}^T L_{t-1}$ | $L_0$ | total $\\pm$ s.e. "
        "| total − $\\frac12\\log 2\\pi e$ |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for (name, variance), terms in results.items():
        total = terms.sum(dim=1)
        se = total.std().item() / math.sqrt(len(total))
        gap = total.mean().item() - ENTROPY
        symbol = "$\\beta_t$" if variance == "beta" else "$\\tilde\\beta_t$"
        rows.append(
            f"| {name} | {symbol} | {terms[:, -1].mean().item():.2e} "
            f"| {terms[:, 1:-1].sum(dim=1).mean().item():.4f} | {terms[:, 0].mean().item():.4f} "
            f"| {total.mean().item():.4f} $\\pm$ {se:.4f} | {gap:+.4f} ({gap / se:+.1f} s.e.) |"
        )
    n = len(next(iter(results.values())))
    return "\n".join(rows) + (
        f"\n\nNats per dimension, the mean over {n:,} points of $\\mathcal N(0, I)$ in "
        f"{D_GAUSS} dimensions, one draw of $x_t$ per point and step; the continuous decoder "
        f"$\\mathcal N(\\mu_\\theta, \\sigma_1^2)$. The entropy $\\frac12\\log 2\\pi e$ is "
        f"{ENTROPY:.4f}."
    )


def bits_table() -> str:
    """Bits per dimension of the held-out digits under each trained model, with its parts and time."""
    impl = _reference()
    rows = [
        "| objective | $\\sigma_t^2$ | steps $t$ | training | bits/dim (bound) | $L_0$ | "
        "$\\sum L_{t-1}$ | $L_T$ |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for key, objective, variance, importance in OBJECTIVES:
        result = trained(impl, key)
        mean = result["terms"].mean(dim=0)
        bits = impl.bits_per_dim(result["terms"].sum(dim=1).mean()).item()
        symbol = "learned" if variance == "learned" else "$\\tilde\\beta_t$"
        rows.append(
            f"| {objective} | {symbol} | {'importance-sampled' if importance else 'uniform'} "
            f"| {result['steps']:,} steps, {result['seconds']:.0f} s | {bits:.2f} "
            f"| {mean[0].item():.4f} | {mean[1:-1].sum().item():.2f} | {mean[-1].item():.1e} |"
        )
    return "\n".join(rows) + (
        f"\n\nThe terms in nats per dimension, the bound in bits per dimension, on the "
        f"{len(result['terms'])} held-out digits (one draw of $x_t$ per digit and step). A model that "
        f"puts the same probability on each of the {LEVELS} grey levels scores "
        f"$\\log_2 {LEVELS}$ = {math.log2(LEVELS):.2f} bits. Each network is an MLP on the 64 "
        "pixels, trained with batches of 128 and Adam; the time is the CPU time of one thread "
        "on the machine that built this page."
    )


TABLES = {"gaussian-bound": gaussian_table, "bits-per-dim": bits_table}
