r"""Benchmark ``ddim``: DDPM's 1000 steps against DDIM's 10 to 100, on the digits — DDIM's Table 1 in small.

[DDIM](https://arxiv.org/abs/2010.02502) Table 1 measures FID on CIFAR-10 and CelebA for
$\eta \in \{0, 0.2, 0.5, 1\}$ and $S \in \{10, 20, 50, 100, 1000\}$ sampling steps, all with one
trained network. Here the network is a U-Net trained on scikit-learn's 8×8 digits with the
defaults of ``diffusion-path train`` ($T = 1000$, cosine schedule), and quality is the digits FD
(``diffusion_path.tools.metrics.digits_fd``), read beside its floor: the distance that as many
*real* digits reach. Every row draws the same number of samples from the same starting noise
$x_T$, with $\hat x_0$ clipped to $[-1, 1]$ at every step, and is timed from the first model call
to the last sample, per image.

The cost is the network's evaluations: $T + |\text{etas}| \sum \text{steps}$ per sample, with
the defaults $1000 + 3 \times 180 = 1540$ — for the default 500 samples, 1540 calls of the network
on one batch of 500, a few minutes on two CPU cores for the default U-Net, two thirds of it in
DDPM's row. A run with no
``checkpoint`` first trains the model with the defaults of ``diffusion-path train`` (once; the next
run finds it in ``work``).

The page's claim (``CLAIM``): DDIM with $\eta = 0$ and 50 steps comes within 10 % of DDPM's
digits FD (1000 steps) and takes at least 15 times less time per image. ``claim`` reads it
from a result.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from matplotlib.figure import Figure

from diffusion_path.bench import check_fields
from diffusion_path.tools import validation

__all__ = [
    "CLAIM",
    "ETAS",
    "STEPS",
    "SUMMARY",
    "claim",
    "default_work",
    "figure",
    "run",
    "table",
    "validate",
]

SUMMARY = (
    "DDPM (T steps) against DDIM (10-100 steps, eta 0, 0.5, 1) on the digits: "
    "digits FD beside its floor, and sampling time per image"
)
#: DDIM's step counts, and its values of eta (DDIM Table 1's columns and rows).
STEPS = (10, 20, 50, 100)
ETAS = (0.0, 0.5, 1.0)
#: What the page claims: DDIM with ``eta`` and ``steps`` is within ``quality`` (relative) of
#: DDPM's digits FD, at ``speedup`` times less sampling time per image, or more.
CLAIM = {"steps": 50, "eta": 0.0, "quality": 0.10, "speedup": 15.0}
ROW_FIELDS = ("sampler", "eta", "steps", "fd", "floor", "seconds", "ms_per_image")


def default_work() -> Path:
    """Where the benchmark keeps the model it trains: ``$XDG_CACHE_HOME/diffusion-path/bench-ddim/<code>``.

    ``<code>`` is a digest of the training code (``diffusion_path.diffusion.training``, ``unet``
    and ``schedules``), so a model is reused only while ``diffusion-path train`` would train the
    same one: a change to its defaults trains afresh.
    """
    from diffusion_path.diffusion import schedules, training, unet

    digest = hashlib.sha256()
    for module in (training, unet, schedules):
        digest.update(Path(module.__file__).read_bytes())
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "diffusion-path" / "bench-ddim" / digest.hexdigest()[:12]


def _model(checkpoint: str | Path | None, work: str | Path | None, echo: Callable[[str], None]):
    """The network to sample from: the checkpoint given, or one trained (once) into ``work``."""
    from diffusion_path.diffusion.training import load_model, train_images

    if checkpoint is None:
        work = Path(work) if work is not None else default_work()
        checkpoint = work / "model.pt"
        if not checkpoint.is_file():
            echo(
                f"training a digits model with the defaults of diffusion-path train into {work} "
                "(once: the next run reuses it)"
            )
            # config=None: the defaults of `diffusion-path train` for the digits
            train_images(work, "digits", None, progress=None)
        source = "trained with the defaults of diffusion-path train"
    else:
        if not Path(checkpoint).is_file():
            raise ValueError(
                f"checkpoint must be a model.pt written by diffusion-path train, got {str(checkpoint)!r}"
            )
        source = Path(checkpoint).name
    model, schedule, info = load_model(checkpoint, "cpu")
    if info["data"] != "digits":
        raise ValueError(
            f"checkpoint must be a model of the digits (the digits FD measures only those), "
            f"got one of {info['data']!r}"
        )
    return model, schedule, {"source": source, **info}


def _sample(
    model, schedule, x_T: torch.Tensor, batch_size: int, seed: int, sampler: str, **options
) -> tuple[torch.Tensor, float]:
    """Samples from the starting noise ``x_T``, in batches; and the seconds they took."""
    from diffusion_path.diffusion.ddim import ddim_sample
    from diffusion_path.diffusion.reverse import ddpm_sample

    generator = torch.Generator().manual_seed(seed + 1)  # the fresh noise z of every step
    out = []
    start = time.perf_counter()
    for x in x_T.split(batch_size):
        if sampler == "ddpm":
            out.append(
                ddpm_sample(model, x.shape, schedule, clip_x0=True, generator=generator, x_T=x)
            )
        else:
            out.append(
                ddim_sample(
                    model, x.shape, schedule, clip_x0=True, generator=generator, x_T=x, **options
                )
            )
    seconds = time.perf_counter() - start
    return torch.cat(out).clamp(-1.0, 1.0), seconds


def run(
    *,
    checkpoint: str | Path | None = None,
    num: int = 500,
    steps: Sequence[int] = STEPS,
    etas: Sequence[float] = ETAS,
    seed: int = 0,
    batch_size: int = 500,
    work: str | Path | None = None,
    echo: Callable[[str], None] | None = None,
) -> dict:
    r"""Sample ``num`` digits with DDPM (all $T$ steps) and with DDIM for every ``steps`` × ``etas``.

    Args:
        checkpoint: A ``model.pt`` of the digits written by ``diffusion-path train``; ``None``
            trains one with that command's defaults into ``work`` (a few minutes, once).
        num: Samples per row, $2 \le$ ``num`` $\le 1258$ (the digits FD's limit).
        steps: DDIM's step counts, each at most the model's $T$.
        etas: DDIM's values of $\eta \ge 0$.
        seed: The seed of the starting noise (the same for every row) and of the fresh noise.
        batch_size: Samples drawn at once.
        work: Where a model trained here is kept (default: ``default_work()``).
        echo: Called with a line of text at each stage (``None``: silent).

    Returns:
        ``{"settings": ..., "model": ..., "rows": [...]}``: one row per sampler and setting, with
        the digits FD, its floor, the seconds and the milliseconds per image.

    Raises:
        ValueError: if ``checkpoint`` is not a model of the digits, ``num`` is out of range,
            ``steps`` or ``etas`` hold a bad value, or ``batch_size`` is not a positive int.
    """
    from diffusion_path.tools.metrics import digits_fd

    echo = echo or (lambda line: None)
    num = validation.positive_int(num, "num")
    if not 2 <= num <= 1258:
        raise ValueError(f"num must be between 2 and 1258 (the digits FD's limit), got {num}")
    steps = [validation.positive_int(s, "steps") for s in steps]
    etas = [validation.non_negative(e, "etas") for e in etas]
    if not steps or not etas:
        raise ValueError(f"steps and etas must not be empty, got {steps} and {etas}")
    batch_size = validation.positive_int(batch_size, "batch_size")
    seed = validation.integer(seed, "seed", minimum=0)
    model, schedule, info = _model(checkpoint, work, echo)
    if max(steps) > schedule.T:
        raise ValueError(f"steps must be at most the model's T = {schedule.T}, got {max(steps)}")
    shape = (num, model.config.in_channels, model.config.image_size, model.config.image_size)
    x_T = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():  # a first call, untimed: memory and kernels set up once
        model(x_T[:batch_size], torch.zeros(min(num, batch_size), dtype=torch.long))

    settings = [("ddpm", 1.0, schedule.T)] + [("ddim", e, s) for e in etas for s in steps]
    rows = []
    for sampler, eta, n in settings:
        options = {} if sampler == "ddpm" else {"num_steps": n, "eta": eta}
        samples, seconds = _sample(model, schedule, x_T, batch_size, seed, sampler, **options)
        fd = digits_fd(samples)
        rows.append(
            {
                "sampler": sampler,
                "eta": eta,
                "steps": n,
                "fd": round(fd.fd, 4),
                "floor": round(fd.floor, 4),
                "seconds": round(seconds, 3),
                "ms_per_image": round(1000 * seconds / num, 4),
            }
        )
        label = "DDPM" if sampler == "ddpm" else f"DDIM eta = {eta:g}"
        echo(f"{label:<16} {n:>5} steps: {fd}; {1000 * seconds / num:.2f} ms per image")
    return {
        "settings": {
            "num": num,
            "steps": steps,
            "etas": etas,
            "seed": seed,
            "batch_size": batch_size,
            "spacing": "leading",
            "clip_x0": True,
            "device": "cpu",
        },
        "model": {
            "source": info["source"],
            "data": info["data"],
            "trained_steps": info["step"],
            "T": schedule.T,
            "parameters": sum(p.numel() for p in model.parameters()),
        },
        "rows": rows,
    }


# ----------------------------------------------------------------------------- reading a result


def _fail(problem: str) -> None:
    raise ValueError(f"result must be a result of benchmark 'ddim': {problem}")


def validate(result: dict) -> None:
    """Raise ``ValueError`` unless ``result`` has the shape ``run`` gives it (with the registry's fields).

    Raises:
        ValueError: naming the field that is missing or wrong.
    """
    check_fields(
        result,
        "ddim",
        {"model": dict, "rows": list},
        keys={
            "settings": ("num", "steps", "etas", "seed"),
            "model": ("T", "trained_steps", "source", "parameters", "data"),
        },
    )
    settings = result["settings"]
    for row in result["rows"]:
        if not isinstance(row, dict) or any(k not in row for k in ROW_FIELDS):
            _fail(f"every row needs {', '.join(ROW_FIELDS)}; got {row!r:.80}")
        if row["sampler"] not in ("ddpm", "ddim"):
            _fail(f"a row's sampler must be 'ddpm' or 'ddim', got {row['sampler']!r}")
        numbers = [row[k] for k in ("eta", "steps", "fd", "floor", "seconds", "ms_per_image")]
        if not all(isinstance(v, int | float) and math.isfinite(v) and v >= 0 for v in numbers):
            _fail(f"a row's numbers must be finite and >= 0, got {row!r:.80}")
    wanted = {("ddpm", 1.0, result["model"]["T"])} | {
        ("ddim", float(e), s) for e in settings["etas"] for s in settings["steps"]
    }
    got = {(r["sampler"], float(r["eta"]), r["steps"]) for r in result["rows"]}
    if got != wanted:
        _fail(
            f"the rows must be DDPM and DDIM at every eta and steps of 'settings'; got {sorted(got)}"
        )


def _row(result: dict, sampler: str, eta: float, steps: int) -> dict:
    return next(
        r
        for r in result["rows"]
        if r["sampler"] == sampler and float(r["eta"]) == eta and r["steps"] == steps
    )


def claim(result: dict) -> dict:
    r"""What a result says about the page's claim (``CLAIM``).

    Quality is compared on the digits FD itself, as DDIM Table 1 compares FID: DDIM's FD at most
    $(1 + 0.1)$ times DDPM's. Both FDs hold the same floor (real digits' own distance at the same
    number of samples); ``excess_gap`` compares what lies above it, $(\text{FD} - \text{floor})$,
    a stricter reading that the page shows beside it.

    Returns:
        A dict: ``ddim`` and ``ddpm`` (their rows), ``quality_gap`` (DDIM's FD / DDPM's − 1),
        ``excess_gap`` (the same for FD − floor; ``None`` when DDPM's FD is at or below the
        floor, where no excess is left to compare), ``speedup`` (DDPM's time per image / DDIM's)
        and ``holds`` (quality within ``CLAIM["quality"]`` and speed-up at least
        ``CLAIM["speedup"]``).

    Raises:
        ValueError: if ``result`` is not a valid result, or has no row for the claim's setting.
    """
    validate(result)
    ddpm = _row(result, "ddpm", 1.0, result["model"]["T"])
    try:
        ddim = _row(result, "ddim", CLAIM["eta"], CLAIM["steps"])
    except StopIteration:
        raise ValueError(
            f"result must hold DDIM with eta = {CLAIM['eta']} and {CLAIM['steps']} steps"
        ) from None
    quality_gap = ddim["fd"] / ddpm["fd"] - 1
    above = ddpm["fd"] - ddpm["floor"]
    # what lies above the floor compares only when DDPM's FD lies above it
    excess = (ddim["fd"] - ddim["floor"]) / above - 1 if above > 0 else None
    speedup = ddpm["ms_per_image"] / max(ddim["ms_per_image"], 1e-12)
    return {
        "ddim": ddim,
        "ddpm": ddpm,
        "quality_gap": quality_gap,
        "excess_gap": excess,
        "speedup": speedup,
        "holds": quality_gap <= CLAIM["quality"] and speedup >= CLAIM["speedup"],
    }


def _ms(value: float) -> str:
    return f"{value:.3g} ms" if value < 1000 else f"{value / 1000:.3g} s"


def table(result: dict) -> str:
    """DDIM Table 1's shape: digits FD by η (rows) and steps (columns), the times per image below."""
    validate(result)
    settings, model = result["settings"], result["model"]
    steps, etas, T = settings["steps"], settings["etas"], model["T"]
    ddpm = _row(result, "ddpm", 1.0, T)
    floor = ddpm["floor"]
    header = "| | " + " | ".join(f"$S = {s}$" for s in steps) + f" | DDPM, $T = {T}$ |"
    lines = [header, "|---|" + "---:|" * (len(steps) + 1)]
    for eta in etas:
        cells = [f"{_row(result, 'ddim', float(eta), s)['fd']:.2f}" for s in steps]
        last = f"{ddpm['fd']:.2f}" if float(eta) == 1.0 else "—"
        lines.append(f"| digits FD, $\\eta = {eta:g}$ | " + " | ".join([*cells, last]) + " |")
    times = [
        sum(_row(result, "ddim", float(e), s)["ms_per_image"] for e in etas) / len(etas)
        for s in steps
    ]
    lines.append(
        "| time per image | " + " | ".join(_ms(t) for t in [*times, ddpm["ms_per_image"]]) + " |"
    )
    machine = result["machine"]
    notes = [
        "",
        f"Digits FD of {settings['num']:,} samples per cell (lower is better); {settings['num']:,} "
        f"real digits score {floor:.2f} (the floor). DDPM is the ancestral sampler of Core Task 2 "
        "with $\\sigma_t^2 = \\tilde\\beta_t$, which is DDIM with $\\eta = 1$ over every step. "
        "The time row is the mean over the values of $\\eta$.",
    ]
    if CLAIM["steps"] in steps and CLAIM["eta"] in [float(e) for e in etas]:
        verdict = claim(result)
        sign = "above" if verdict["quality_gap"] >= 0 else "below"
        notes += [
            "",
            f"DDIM with $\\eta = {CLAIM['eta']:g}$ and {CLAIM['steps']} steps: digits FD "
            f"{verdict['ddim']['fd']:.2f} against DDPM's {verdict['ddpm']['fd']:.2f}, "
            f"{100 * abs(verdict['quality_gap']):.0f} % {sign} it "
            + (
                f"({100 * verdict['excess_gap']:+.0f} % in FD − floor), in "
                if verdict["excess_gap"] is not None
                else "(DDPM's FD at or below the floor, so no excess to compare), in "
            )
            + f"{verdict['speedup']:.0f}× less time per image: the claim "
            + ("holds" if verdict["holds"] else "does not hold")
            + f" (within {100 * CLAIM['quality']:.0f} %, {CLAIM['speedup']:.0f}× or more).",
        ]
    load = machine.get("load")
    busy = (
        f" (load average {load:g} when it started: the times of a busy machine)"
        if isinstance(load, int | float) and load > machine["cores"]
        else ""
    )
    notes += [
        "",
        f"Measured with `diffusion-path bench ddim` on {result['date'][:10]}: {machine['cpu']}, "
        f"{machine['threads']} PyTorch thread(s) of {machine['cores']} cores, PyTorch "
        f"{machine['torch']}{busy}; a U-Net of {model['parameters']:,} parameters trained for "
        f"{model['trained_steps']:,} steps ({model['source']}).",
    ]
    return "\n".join(lines + notes)


def figure(result: dict) -> Figure:
    """Digits FD against the number of steps for each η, with DDPM and the floor; and the time per image."""
    from diffusion_path.tools.plotting import new_figure

    validate(result)
    settings, T = result["settings"], result["model"]["T"]
    steps = settings["steps"]
    ddpm = _row(result, "ddpm", 1.0, T)
    fig, (quality, speed) = new_figure(1, 2, size=4.0)
    for eta, marker in zip(settings["etas"], "osd^v<>", strict=False):
        rows = [_row(result, "ddim", float(eta), s) for s in steps]
        quality.plot(steps, [r["fd"] for r in rows], marker=marker, label=f"DDIM, η = {eta:g}")
        speed.plot(steps, [r["ms_per_image"] for r in rows], marker=marker, alpha=0.7)
    for ax, value in ((quality, ddpm["fd"]), (speed, ddpm["ms_per_image"])):
        ax.plot([T], [value], marker="*", markersize=12, color="crimson", ls="none")
        ax.axhline(value, color="crimson", lw=0.8, ls=":", label=f"DDPM, {T} steps")
    quality.axhline(ddpm["floor"], color="gray", lw=1, ls="--", label="real digits (floor)")
    quality.set(
        xscale="log",
        yscale="log",
        xlabel="sampling steps S",
        ylabel="digits FD",
        title=f"quality ({settings['num']:,} samples each)",
    )
    speed.set(
        xscale="log",
        yscale="log",
        xlabel="sampling steps S",
        ylabel="ms per image",
        title="sampling time per image",
    )
    quality.legend(fontsize=8)
    return fig
