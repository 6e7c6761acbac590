"""Figures of Core Task 5: a U-Net trained on the digits — its loss, its samples as it learns, EMA against raw.

Every figure here comes from one training run, made once per process with fixed seeds: a U-Net of
16 and 32 channels trained with the library's loop (``diffusion_path.diffusion.training.train``:
Adam with a warm-up and a cosine decay, gradients clipped, an EMA warmed up by eq. C5.5) on 80 %
of scikit-learn's 8×8 digits, $T = 1000$, cosine schedule. At a few steps of the run, copies of
the raw weights and of their average are kept, and samples drawn from both with DDIM (50 steps,
$\\eta = 0$, Core Task 6) from the same starting noise. The full run takes about a minute on one
CPU thread; quick runs (``DIFFUSION_PATH_QUICK``) train a few steps, which proves the code runs
and no more.

The page's table of the time and quality of ``diffusion-path train``'s own defaults is not made
here: it is the saved result of the ``recipe`` benchmark (``diffusion_path.bench.recipe``).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from matplotlib.figure import Figure

from diffusion_path.diffusion.ddim import ddim_sample
from diffusion_path.diffusion.forward import q_sample
from diffusion_path.diffusion.schedules import NoiseSchedule
from diffusion_path.diffusion.training import TrainConfig, train
from diffusion_path.diffusion.unet import UNet, UNetConfig
from diffusion_path.tools.budget import scaled
from diffusion_path.tools.data import load_digits, split, to_display_range
from diffusion_path.tools.metrics import digits_fd

#: The diffusion steps of the run, as in DDPM and ``diffusion-path train``.
T = 1000


def _fd_samples() -> int:
    """Samples per snapshot for the digits FD."""
    return scaled(500, quick=20)


def _ddim_steps() -> int:
    return scaled(50, quick=4)


@contextmanager
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _steps() -> int:
    return scaled(1500, quick=6)


def snapshot_steps() -> list[int]:
    """The steps at which the run keeps copies of its weights (the last step among them)."""
    total = _steps()
    return sorted({max(1, round(total * f)) for f in (0.04, 0.1, 0.2, 0.4, 0.7, 1.0)})


@functools.cache
def training_run() -> dict:
    """The run every figure shows: losses, and (raw, EMA) weights at ``snapshot_steps()``."""
    data = load_digits()
    kept, _ = split(len(data), 0.2, torch.Generator().manual_seed(0))
    schedule = NoiseSchedule.cosine(T)
    config = UNetConfig(base_channels=16, channel_mults=(1, 2), groups=4)
    model = UNet(config, generator=torch.Generator().manual_seed(1))
    total = _steps()
    settings = TrainConfig(
        steps=total,
        batch_size=64,
        lr=2e-3,
        warmup=min(100, total // 10),
        ema_decay=0.995,
        ema_warmup=True,
        log_every=1,
        checkpoint_every=total,
    )
    wanted = set(snapshot_steps())
    snapshots = {}

    def keep(state) -> None:
        if state.step in wanted:
            snapshots[state.step] = (
                copy.deepcopy(state.model).eval(),
                copy.deepcopy(state.ema).eval(),
            )

    with _one_thread():
        state = train(model, data[kept], schedule, settings, on_log=keep, progress=False)
    return {
        "schedule": schedule,
        "losses": np.array(state.losses),
        "seconds": state.seconds,
        "snapshots": snapshots,
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def _draw(model: torch.nn.Module, num: int, seed: int = 0) -> torch.Tensor:
    """``num`` samples with DDIM-50 from the noise of ``seed`` (the same for every model)."""
    schedule = training_run()["schedule"]
    x_T = torch.randn(num, 1, 8, 8, generator=torch.Generator().manual_seed(seed))
    with _one_thread():
        return ddim_sample(
            model,
            x_T.shape,
            schedule,
            num_steps=_ddim_steps(),
            clip_x0=True,
            generator=torch.Generator().manual_seed(seed + 1),
            x_T=x_T,
            progress=False,
        ).clamp(-1.0, 1.0)


@functools.cache
def quality() -> dict:
    """The digits FD of ``_fd_samples()`` samples of the raw and the EMA weights at every snapshot."""
    run = training_run()
    rows = []
    for step, (raw, ema) in sorted(run["snapshots"].items()):
        a, b = digits_fd(_draw(raw, _fd_samples())), digits_fd(_draw(ema, _fd_samples()))
        rows.append({"step": step, "raw": a.fd, "ema": b.fd, "floor": a.floor})
    return {"rows": rows}


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


def _image(ax, picture: np.ndarray, title: str | None = None) -> None:
    ax.imshow(picture, cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)


# ----------------------------------------------------------------------------- the figures


def loss_curve() -> Figure:
    """The simple loss of every step and its running mean, beside the trivial predictor's 1."""
    run = training_run()
    losses = run["losses"]
    steps = np.arange(1, len(losses) + 1)
    window = max(1, len(losses) // 30)
    smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
    figure = Figure(figsize=(6.5, 3.4), layout="constrained")
    ax = figure.subplots()
    ax.plot(steps, losses, lw=0.5, alpha=0.35, label="each step's batch")
    ax.plot(steps[window - 1 :], smooth, lw=1.8, label=f"mean of {window} steps")
    ax.axhline(1.0, color="gray", ls="--", lw=1, label=r"predicting $\varepsilon_\theta = 0$")
    ax.set(
        xlabel="step",
        ylabel=r"$L_{\mathrm{simple}}$ (C5.1)",
        yscale="log",
        title=f"training a U-Net of {run['parameters']:,} parameters on the digits "
        f"({run['seconds']:.0f} s, one CPU thread)",
    )
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8)
    return figure


def samples_over_training() -> Figure:
    """Samples of the EMA weights at six steps of the run, all from the same starting noise."""
    run = training_run()
    snapshots = sorted(run["snapshots"].items())
    figure = Figure(figsize=(1.9 * len(snapshots), 2.4), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(snapshots)))
    for ax, (step, (_, ema)) in zip(axes, snapshots, strict=True):
        _image(ax, _grid(_draw(ema, 16), 4), f"step {step:,}")
    figure.suptitle("samples of the EMA weights as training goes on (DDIM, 50 steps)", fontsize=10)
    return figure


def ema_vs_raw() -> Figure:
    """Digits FD of the raw and the averaged weights along the run, and samples of both early on."""
    rows = quality()["rows"]
    run = training_run()
    steps = [r["step"] for r in rows]
    figure = Figure(figsize=(10, 3.4), layout="constrained")
    left, middle, right = figure.subplots(1, 3, width_ratios=(2.2, 1, 1))
    left.plot(steps, [r["raw"] for r in rows], marker="o", label="raw weights")
    left.plot(steps, [r["ema"] for r in rows], marker="s", label="EMA (C5.4, C5.5)")
    left.axhline(rows[-1]["floor"], color="gray", ls="--", lw=1, label="real digits (floor)")
    left.axhline(2 * rows[-1]["floor"], color="crimson", ls=":", lw=1, label="2× the floor")
    left.set(
        xlabel="step",
        ylabel=f"digits FD of {_fd_samples()} samples",
        yscale="log",
        title="quality along the run",
    )
    left.legend(fontsize=8)
    step = steps[min(1, len(steps) - 1)]
    raw, ema = run["snapshots"][step]
    _image(middle, _grid(_draw(raw, 16), 4), f"raw weights, step {step:,}")
    _image(right, _grid(_draw(ema, 16), 4), f"EMA, step {step:,}")
    return figure


def hero() -> Figure:
    """The home page's picture: a digit noised step by step, and a digit drawn from noise by the U-Net."""
    run = training_run()
    schedule = run["schedule"]
    digits = load_digits()
    steps = [0, 100, 250, 450, 700, 1000]
    x0 = digits[[3]].expand(len(steps) - 1, 1, 8, 8)
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(2))
    noised = torch.cat(
        [digits[[3]], q_sample(x0, torch.tensor(steps[1:]) - 1, schedule, noise=eps)]
    )
    _, ema = run["snapshots"][max(run["snapshots"])]
    x_T = torch.randn(1, 1, 8, 8, generator=torch.Generator().manual_seed(11))
    with _one_thread():
        _, path = ddim_sample(
            ema,
            x_T.shape,
            schedule,
            num_steps=_ddim_steps(),
            clip_x0=True,
            generator=torch.Generator().manual_seed(12),
            x_T=x_T,
            return_trajectory=True,
            progress=False,
        )
    # the trajectory holds x_T first and the sample last: pick six states along it
    picks = np.linspace(0, path.shape[0] - 1, len(steps)).round().astype(int)
    generated = path[picks, 0].clamp(-1.0, 1.0)
    figure = Figure(figsize=(9, 3.3), layout="constrained")
    top, bottom = figure.subfigures(2, 1)
    for sub, images, labels, title in (
        (top, noised, [f"t = {t}" for t in steps], "forward: a digit becomes noise"),
        (
            bottom,
            generated,
            ["noise"] + [""] * (len(steps) - 2) + ["sample"],
            "reverse: the trained U-Net turns noise into a digit",
        ),
    ):
        axes = sub.subplots(1, len(steps))
        for ax, image, label in zip(axes, images, labels, strict=True):
            _image(ax, to_display_range(image.reshape(1, 8, 8))[0].numpy())
            ax.set_xlabel(label, fontsize=8)
        sub.suptitle(title, fontsize=9)
    return figure


FIGURES = {
    "loss-curve": loss_curve,
    "samples-over-training": samples_over_training,
    "ema-vs-raw": ema_vs_raw,
    "hero": hero,
}


# ----------------------------------------------------------------------------- tables


def quality_table() -> str:
    """The digits FD of the raw and averaged weights at each snapshot, beside the floor."""
    rows = quality()["rows"]
    run = training_run()
    lines = [
        "| step | loss (mean of the last 50 steps) | digits FD, raw weights | digits FD, EMA | floor |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        recent = run["losses"][max(0, row["step"] - 50) : row["step"]]
        lines.append(
            f"| {row['step']:,} | {recent.mean():.3f} | {row['raw']:.1f} | {row['ema']:.1f} "
            f"| {row['floor']:.1f} |"
        )
    return "\n".join(lines) + (
        f"\n\nDigits FD of {_fd_samples()} samples (DDIM, 50 steps, the same starting noise for every "
        f"cell; lower is better), against the floor that {_fd_samples()} real digits reach. The run: "
        f"a U-Net of {run['parameters']:,} parameters, {len(run['losses']):,} steps in "
        f"{run['seconds']:.0f} s on one CPU thread of the machine that built this page."
    )


TABLES = {"quality": quality_table}
