r"""Benchmark ``recipe``: ``diffusion-path train``'s defaults on the digits, timed, then judged by the digits FD.

The question every tutorial leaves open — *how long does it take, and how good is it then?* —
answered for the recipe of Core Task 5 on the machine that runs it: the command's default U-Net
and settings (``default_unet("digits")``, ``default_config("digits")``, $T = 1000$, cosine
schedule) are trained on scikit-learn's 8×8 digits on the CPU, and the training loop's time and
steps per second are recorded. Then ``num`` samples are drawn from the EMA weights with DDIM
(100 steps, $\eta = 0$, $\hat x_0$ clipped; Core Task 6) and scored by the digits FD
(``diffusion_path.tools.metrics.digits_fd``) beside its floor, the distance that as many *real*
digits reach. The recipe's promise (``CLAIM``): at most 5 minutes of training on two CPU cores,
and a digits FD within 2× the floor.

The model is written where the ``ddim`` benchmark looks for its own
(``diffusion_path.bench.ddim.default_work()``), so ``diffusion-path bench ddim`` run afterwards
samples from it instead of training another.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
from matplotlib.figure import Figure

from diffusion_path.bench import check_fields
from diffusion_path.tools import validation

__all__ = ["CLAIM", "SUMMARY", "claim", "figure", "run", "table", "validate"]

SUMMARY = (
    "diffusion-path train's defaults on the digits: training time and steps/s, then the digits "
    "FD of 1,000 DDIM-100 samples beside its floor"
)
#: What Core Task 5's page claims: training within ``minutes``, and digits FD / floor within ``ratio``.
CLAIM = {"minutes": 5.0, "ratio": 2.0}
ROW_FIELDS = (
    "train_seconds",
    "steps_per_second",
    "sample_seconds",
    "ms_per_image",
    "fd",
    "floor",
    "ratio",
)


def run(
    *,
    num: int = 1000,
    sample_steps: int = 100,
    seed: int = 0,
    batch_size: int = 500,
    work: str | Path | None = None,
    config=None,
    unet=None,
    T: int = 1000,
    echo: Callable[[str], None] | None = None,
) -> dict:
    r"""Train with ``diffusion-path train``'s defaults, then score ``num`` DDIM samples by the digits FD.

    Args:
        num: Samples to score, $2 \le$ ``num`` $\le 1258$ (the digits FD's limit).
        sample_steps: DDIM's steps ($\eta = 0$), at most $T$.
        seed: The seed of the samples' noise.
        batch_size: Samples drawn at once.
        work: The folder of the run (default: ``diffusion_path.bench.ddim.default_work()``, where
            ``bench ddim`` finds the model); its ``model.pt`` is replaced.
        config: A ``TrainConfig`` in place of the defaults (tests train a few steps).
        unet: A ``UNetConfig`` in place of the default U-Net.
        T: Diffusion steps of the model.
        echo: Called with a line of text at each stage (``None``: silent).

    Returns:
        ``{"settings": ..., "model": ..., "losses": [...], "rows": [row]}``: the training's
        settings, the network's size, the loss curve, and one row with the training time, steps
        per second, sampling time, digits FD, its floor and their ratio.

    Raises:
        ValueError: if ``num``, ``sample_steps``, ``batch_size`` or ``T`` is out of range.
    """
    from diffusion_path.bench.ddim import default_work
    from diffusion_path.cli import _ddim_grid
    from diffusion_path.diffusion.ddim import ddim_sample
    from diffusion_path.diffusion.training import default_config, load_model, train_images
    from diffusion_path.tools.metrics import digits_fd

    echo = echo or (lambda line: None)
    num = validation.positive_int(num, "num")
    if not 2 <= num <= 1258:
        raise ValueError(f"num must be between 2 and 1258 (the digits FD's limit), got {num}")
    sample_steps = validation.positive_int(sample_steps, "sample_steps")
    T = validation.positive_int(T, "T")
    if sample_steps > T:
        raise ValueError(f"sample_steps must be at most T = {T}, got {sample_steps}")
    batch_size = validation.positive_int(batch_size, "batch_size")
    seed = validation.integer(seed, "seed", minimum=0)
    config = config or default_config("digits")
    work = Path(work) if work is not None else default_work()

    echo(
        f"training {config.steps:,} steps on the digits with the defaults of diffusion-path "
        f"train into {work} ({torch.get_num_threads()} CPU thread(s))"
    )
    start = time.perf_counter()
    # as the command runs it: its grids during training drawn with DDIM-50, not DDPM's T steps
    path = train_images(
        work,
        "digits",
        config,
        unet=unet,
        T=T,
        device="cpu",
        sampler=_ddim_grid,
        progress=None,
    )
    wall = time.perf_counter() - start
    model, schedule, info = load_model(path, "cpu")
    train_seconds = info["seconds"]
    echo(
        f"trained in {train_seconds:.0f} s ({config.steps / train_seconds:.1f} steps/s; "
        f"{wall:.0f} s with the grids and files)"
    )

    shape = (model.config.in_channels, model.config.image_size, model.config.image_size)
    x_T = torch.randn((num, *shape), generator=torch.Generator().manual_seed(seed))
    generator = torch.Generator().manual_seed(seed + 1)
    start = time.perf_counter()
    batches = [
        ddim_sample(
            model,
            x.shape,
            schedule,
            num_steps=sample_steps,
            eta=0.0,
            clip_x0=True,
            generator=generator,
            x_T=x,
            progress=False,
        )
        for x in x_T.split(batch_size)
    ]
    sample_seconds = time.perf_counter() - start
    fd = digits_fd(torch.cat(batches).clamp(-1.0, 1.0))
    echo(f"{num:,} samples with DDIM-{sample_steps} in {sample_seconds:.1f} s: {fd}")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    return {
        "settings": {
            "data": "digits",
            "steps": config.steps,
            "batch_size": config.batch_size,
            "lr": config.lr,
            "warmup": config.warmup,
            "ema_decay": config.ema_decay,
            "ema_warmup": config.ema_warmup,
            "grad_clip": config.grad_clip,
            "precision": config.precision,
            "T": schedule.T,
            "schedule": str(checkpoint.get("schedule", "cosine")),
            "num": num,
            "sample_steps": sample_steps,
            "eta": 0.0,
            "seed": seed,
            "device": "cpu",
            "work": str(work),
        },
        "model": {
            "parameters": sum(p.numel() for p in model.parameters()),
            "trained_steps": info["step"],
            "widths": list(model.config.widths),
        },
        "log_every": int(checkpoint["config"]["log_every"]),
        "losses": [round(float(v), 5) for v in load_losses(work)],
        "rows": [
            {
                "train_seconds": round(train_seconds, 2),
                "wall_seconds": round(wall, 2),
                "steps_per_second": round(config.steps / max(train_seconds, 1e-9), 3),
                "sample_seconds": round(sample_seconds, 3),
                "ms_per_image": round(1000 * sample_seconds / num, 4),
                "fd": round(fd.fd, 4),
                "floor": round(fd.floor, 4),
                "ratio": round(fd.ratio, 4),
            }
        ],
    }


def load_losses(work: Path) -> list[float]:
    """The loss curve the run's ``checkpoint.pt`` recorded (a mean every ``log_every`` steps)."""
    from diffusion_path.diffusion.training import load_checkpoint

    return list(load_checkpoint(Path(work) / "checkpoint.pt")["losses"])


# ----------------------------------------------------------------------------- reading a result


def _fail(problem: str) -> None:
    raise ValueError(f"result must be a result of benchmark 'recipe': {problem}")


def validate(result: dict) -> None:
    """Raise ``ValueError`` unless ``result`` has the shape ``run`` gives it (with the registry's fields).

    Raises:
        ValueError: naming the field that is missing or wrong.
    """
    check_fields(
        result,
        "recipe",
        {"model": dict, "losses": list, "rows": list},
        keys={
            "settings": ("steps", "batch_size", "lr", "T", "num", "sample_steps"),
            "model": ("parameters", "trained_steps"),
        },
    )
    if len(result["rows"]) != 1 or not isinstance(result["rows"][0], dict):
        _fail(f"'rows' must hold one row, got {result['rows']!r:.80}")
    row = result["rows"][0]
    for key in ROW_FIELDS:
        value = row.get(key)
        if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            _fail(f"the row's {key!r} must be a finite number >= 0, got {value!r}")
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in result["losses"]):
        _fail("'losses' must be finite numbers")


def claim(result: dict) -> dict:
    """What a result says about the page's claim (``CLAIM``).

    Returns:
        A dict: ``minutes`` (the training loop's time), ``ratio`` (digits FD / floor), and
        ``holds`` (both within ``CLAIM``).

    Raises:
        ValueError: if ``result`` is not a valid result.
    """
    validate(result)
    row = result["rows"][0]
    minutes = row["train_seconds"] / 60
    return {
        "minutes": minutes,
        "ratio": row["ratio"],
        "holds": minutes <= CLAIM["minutes"] and row["ratio"] <= CLAIM["ratio"],
    }


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def table(result: dict) -> str:
    """The recipe, its training time and the quality of its samples, as a Markdown table."""
    validate(result)
    settings, model, machine = result["settings"], result["model"], result["machine"]
    row = result["rows"][0]
    lines = [
        "| training | steps/s | sampling (DDIM, "
        f"{settings['sample_steps']} steps) | digits FD | floor (real digits) | FD / floor |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {settings['steps']:,} steps in {_duration(row['train_seconds'])} "
        f"| {row['steps_per_second']:.1f} "
        f"| {settings['num']:,} samples in {_duration(row['sample_seconds'])} "
        f"| {row['fd']:.2f} | {row['floor']:.2f} | {row['ratio']:.2f}× |",
        "",
        f"The recipe: a U-Net of {model['parameters']:,} parameters, batches of "
        f"{settings['batch_size']}, Adam at a peak learning rate of {settings['lr']:g} "
        f"(warm-up {settings['warmup']} steps, then a cosine decay), an EMA with decay "
        f"{settings['ema_decay']:g}"
        + (" (warmed up, eq. C5.5)" if settings.get("ema_warmup") else "")
        + f", $T = {settings['T']}$, {settings.get('schedule', 'cosine')} schedule, "
        f"{settings.get('precision', 'fp32')}. The digits FD of {settings['num']:,} samples "
        "(lower is better) is read against the floor: the distance that as many real digits reach.",
        "",
        f"Measured with `diffusion-path bench recipe` on {result['date'][:10]}: {machine['cpu']}, "
        f"{machine['threads']} PyTorch thread(s) of {machine['cores']} cores, PyTorch "
        f"{machine['torch']}. The training time is the loop's; the grids drawn during the run "
        f"and the files bring it to {_duration(row.get('wall_seconds', row['train_seconds']))}.",
    ]
    return "\n".join(lines)


def figure(result: dict) -> Figure:
    """The loss curve of the run, and the digits FD against its floor and the 2× line."""
    from diffusion_path.tools.plotting import new_figure

    validate(result)
    row, losses = result["rows"][0], result["losses"]
    every = int(result.get("log_every", 1))
    fig, (curve, quality) = new_figure(1, 2, size=4.0)
    curve.plot([every * (i + 1) for i in range(len(losses))], losses)
    curve.set(
        xlabel="step",
        ylabel=f"loss (mean of every {every} steps)",
        yscale="log",
        title=f"training: {_duration(row['train_seconds'])}",
    )
    quality.bar(
        ["real digits\n(floor)", "samples"], [row["floor"], row["fd"]], color=["gray", "C0"]
    )
    quality.axhline(
        CLAIM["ratio"] * row["floor"], color="crimson", ls=":", label=f"{CLAIM['ratio']:g}× floor"
    )
    quality.set_ylim(0, 1.25 * max(CLAIM["ratio"] * row["floor"], row["fd"]))
    quality.set(
        ylabel="digits FD",
        title=f"{result['settings']['num']:,} samples, DDIM-{result['settings']['sample_steps']}",
    )
    quality.legend(fontsize=8)
    return fig
