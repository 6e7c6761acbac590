r"""Benchmark ``sample``: one trained network sampled by our DDPM and DDIM and by diffusers' schedulers.

The network is our digits U-Net (the model ``diffusion-path bench ddim`` trains once and keeps,
with the defaults of ``diffusion-path train``; or a checkpoint given). It is sampled

- by our ``ddpm_sample`` ($T$ steps, $\sigma_t^2 = \tilde\beta_t$, $\hat x_0$ clipped) and by
  diffusers' ``DDPMScheduler`` configured identically — which, given the same betas, are its
  defaults: ``variance_type="fixed_small"``, ``clip_sample=True``, ``timestep_spacing="leading"``,
  ``steps_offset=0``, ``prediction_type="epsilon"``;
- by our ``ddim_sample`` ($S$ steps, $\eta = 0$, leading spacing, $\hat x_0$ clipped and
  $\hat\varepsilon$ recomputed from it) and by diffusers' ``DDIMScheduler`` configured
  identically (``set_alpha_to_one=True``, ``steps_offset=0``, ``timestep_spacing="leading"``,
  ``clip_sample=True`` and ``use_clipped_model_output=True`` in ``step``), and at its defaults
  (the same, except ``use_clipped_model_output=False``: the clipped $\hat x_0$ with the *raw*
  $\hat\varepsilon$, which no longer agree with $x_t$).

Every sampler starts from the same $x_T$ and draws its fresh noise from a generator seeded the
same, in the same order, so identically configured samplers visit the same states up to float
rounding (ours reads each step's coefficients from the float64 schedule; diffusers computes them
in float32, $\beta_t$ as $1 - \bar\alpha_t / \bar\alpha_{t-1}$). Measured: time per image,
the digits FD beside its floor, and the largest difference between each diffusers trajectory
and ours, over every state and pixel.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
from matplotlib.figure import Figure

from diffusion_path.bench import check_fields
from diffusion_path.bench.train import require_diffusers
from diffusion_path.tools import validation

__all__ = [
    "DEFAULT_NUM",
    "SETTINGS",
    "SUMMARY",
    "diffusers_schedulers",
    "diffusers_trajectory",
    "figure",
    "run",
    "table",
    "validate",
]

SUMMARY = (
    "one trained U-Net sampled by our DDPM/DDIM and by diffusers' schedulers, identically "
    "configured and at diffusers' defaults: time, digits FD, largest trajectory difference"
)
#: The rows, in order: (sampler, library, setting).
SETTINGS = (
    ("ddpm", "ours", "reference"),
    ("ddpm", "diffusers", "identical"),
    ("ddim", "ours", "reference"),
    ("ddim", "diffusers", "identical"),
    ("ddim", "diffusers", "defaults"),
)
#: Samples per row by default: DDPM's 1000 steps twice dominate the run's time.
DEFAULT_NUM = 256
ROW_FIELDS = (
    "sampler",
    "library",
    "setting",
    "steps",
    "fd",
    "floor",
    "seconds",
    "network_seconds",
    "ms_per_image",
    "max_diff",
)


def diffusers_schedulers(betas: torch.Tensor, setting: str) -> dict:
    """diffusers' DDPM and DDIM schedulers for ``betas``: ``"identical"`` to ours, or at ``"defaults"``.

    Returns:
        ``{"ddpm": (scheduler, step_options), "ddim": (scheduler, step_options)}``, where
        ``step_options`` are the keyword arguments ``step`` takes besides the model's output.

    Raises:
        ValueError: if ``setting`` is neither, or diffusers is absent.
    """
    setting = validation.one_of(setting, ("identical", "defaults"), "setting")
    diffusers = require_diffusers("sample")
    base = {"num_train_timesteps": len(betas), "trained_betas": betas.float().numpy()}
    if setting == "defaults":
        return {
            "ddpm": (diffusers.DDPMScheduler(**base), {}),
            "ddim": (diffusers.DDIMScheduler(**base), {"eta": 0.0}),
        }
    same = {
        "clip_sample": True,
        "clip_sample_range": 1.0,
        "prediction_type": "epsilon",
        "timestep_spacing": "leading",
        "steps_offset": 0,
        "thresholding": False,
    }
    ddpm = diffusers.DDPMScheduler(**base, **same, variance_type="fixed_small")
    ddim = diffusers.DDIMScheduler(**base, **same, set_alpha_to_one=True)
    return {"ddpm": (ddpm, {}), "ddim": (ddim, {"eta": 0.0, "use_clipped_model_output": True})}


def diffusers_trajectory(
    model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    scheduler,
    steps: int,
    x_T: torch.Tensor,
    generator: torch.Generator,
    progress: bool | None = None,
    **step_options: object,
) -> torch.Tensor:
    """The states a diffusers scheduler visits from ``x_T`` in ``steps`` steps, ``x_T`` first.

    Args:
        model: Our noise predictor, called as ``model(x, t)`` with diffusers' timestep, which is
            our 0-based index.
        scheduler: A diffusers ``DDPMScheduler`` or ``DDIMScheduler``.
        steps: ``num_inference_steps``.
        x_T: The starting noise.
        generator: The source of the fresh noise ``step`` draws.
        progress: Show a progress bar (``None``: in a terminal, for 500 steps or more).
        **step_options: Passed to ``scheduler.step``.

    Returns:
        A tensor of shape ``(steps + 1, *x_T.shape)``.
    """
    from diffusion_path.tools.progress import progress_bar

    scheduler.set_timesteps(steps)
    x, states = x_T, [x_T]
    with torch.no_grad():
        for t in progress_bar(scheduler.timesteps, show=progress, desc="diffusers", min_items=500):
            eps = model(x, torch.full((x.shape[0],), int(t), dtype=torch.long))
            x = scheduler.step(eps, t, x, generator=generator, return_dict=False, **step_options)[0]
            states.append(x)
    return torch.stack(states)


class _Timed:
    """The network, called as it is, adding up the seconds spent inside it."""

    def __init__(self, model) -> None:
        self.model, self.seconds = model, 0.0

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        start = time.perf_counter()
        out = self.model(x, t)
        self.seconds += time.perf_counter() - start
        return out


def _model(checkpoint: str | Path | None, work: str | Path | None, echo: Callable[[str], None]):
    """The network: the checkpoint given, or the one ``bench ddim`` keeps (trained here if absent)."""
    from diffusion_path.bench.ddim import default_work
    from diffusion_path.diffusion.training import load_model, train_images

    if checkpoint is None:
        work = Path(work) if work is not None else default_work()
        checkpoint = work / "model.pt"
        if not checkpoint.is_file():
            echo(
                f"training a digits model with the defaults of diffusion-path train into {work} "
                "(once: the next run, and bench ddim, reuse it)"
            )
            train_images(work, "digits", None, device="cpu", progress=None)
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


def _settings(scheduler) -> dict:
    """A scheduler's configuration, JSON-ready, without its betas (the model's, for every one)."""
    ignored = ("trained_betas", "beta_start", "beta_end", "beta_schedule")  # trained_betas rule
    settings = {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in dict(scheduler.config).items()
        if key not in ignored and not key.startswith("_")
    }
    return {"trained_betas": "the model's", **settings}


def run(
    *,
    checkpoint: str | Path | None = None,
    num: int = DEFAULT_NUM,
    steps: int = 100,
    seed: int = 0,
    work: str | Path | None = None,
    echo: Callable[[str], None] | None = None,
) -> dict:
    r"""Sample ``num`` digits with each of ``SETTINGS`` from the same noise; time, FD, differences.

    The defaults take about 5 minutes on 2 quiet CPU cores with the model that ``bench ddim``
    keeps (two runs of DDPM's 1000 steps and three of DDIM's 100, on 256 images each: 2300
    calls of the network at about 0.1 s each); where
    there is none yet, training it first (``diffusion-path train``'s 4000 steps) takes longer
    than the sampling.

    Args:
        checkpoint: A ``model.pt`` of the digits written by ``diffusion-path train``; ``None``
            uses (or trains, once) the model ``bench ddim`` keeps in ``work``.
        num: Samples per row, $2 \le$ ``num`` $\le 1258$, drawn in one batch.
        steps: DDIM's steps, at most the model's $T$ (DDPM takes all $T$).
        seed: The seed of the starting noise and of the fresh noise.
        work: Where a model trained here is kept (default: ``bench ddim``'s).
        echo: Called with a line of text at each stage (``None``: silent).

    Returns:
        ``{"settings", "model", "versions", "schedulers", "rows"}``: one row per entry of
        ``SETTINGS``, with the digits FD, its floor, the seconds, the milliseconds per image,
        and (for diffusers' rows) the largest absolute difference from our trajectory.

    Raises:
        ValueError: if ``checkpoint`` is not a model of the digits, ``num`` or ``steps`` is out
            of range, or diffusers is absent.
    """
    from diffusion_path.diffusion.ddim import ddim_sample
    from diffusion_path.diffusion.reverse import ddpm_sample
    from diffusion_path.tools.metrics import digits_fd

    echo = echo or (lambda line: None)
    num = validation.positive_int(num, "num")
    if not 2 <= num <= 1258:
        raise ValueError(f"num must be between 2 and 1258 (the digits FD's limit), got {num}")
    steps = validation.positive_int(steps, "steps")
    seed = validation.integer(seed, "seed", minimum=0)
    diffusers = require_diffusers("sample")
    model, schedule, info = _model(checkpoint, work, echo)
    T = schedule.T
    if steps > T:
        raise ValueError(f"steps must be at most the model's T = {T}, got {steps}")
    shape = (num, model.config.in_channels, model.config.image_size, model.config.image_size)
    x_T = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():  # a first call, untimed: memory and kernels set up once
        model(x_T, torch.zeros(num, dtype=torch.long))
    schedulers = {
        setting: diffusers_schedulers(schedule.betas, setting)
        for setting in ("identical", "defaults")
    }
    ddpm_defaults_identical = _settings(schedulers["defaults"]["ddpm"][0]) == _settings(
        schedulers["identical"]["ddpm"][0]
    )

    def ours(sampler: str, model: _Timed) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed + 1)
        if sampler == "ddpm":
            return ddpm_sample(
                model,
                shape,
                schedule,
                clip_x0=True,
                generator=generator,
                x_T=x_T,
                return_trajectory=True,
            )[1]
        return ddim_sample(
            model,
            shape,
            schedule,
            num_steps=steps,
            clip_x0=True,
            generator=generator,
            x_T=x_T,
            return_trajectory=True,
        )[1]

    rows, reference = [], {}
    for sampler, library, setting in SETTINGS:
        n = T if sampler == "ddpm" else steps
        timed = _Timed(model)
        start = time.perf_counter()
        if library == "ours":
            path = ours(sampler, timed)
        else:
            scheduler, options = schedulers[setting][sampler]
            generator = torch.Generator().manual_seed(seed + 1)
            path = diffusers_trajectory(timed, scheduler, n, x_T, generator, **options)
        seconds = time.perf_counter() - start
        if library == "ours":
            reference[sampler], max_diff = path, None
        else:
            max_diff = float((path - reference[sampler]).abs().max())
        fd = digits_fd(path[-1].clamp(-1.0, 1.0))
        rows.append(
            {
                "sampler": sampler,
                "library": library,
                "setting": setting,
                "steps": n,
                "fd": round(fd.fd, 4),
                "floor": round(fd.floor, 4),
                "seconds": round(seconds, 3),
                "network_seconds": round(timed.seconds, 3),
                "ms_per_image": round(1000 * seconds / num, 4),
                "max_diff": None if max_diff is None else float(f"{max_diff:.3e}"),
            }
        )
        difference = "" if max_diff is None else f"; largest difference from ours {max_diff:.2e}"
        echo(
            f"{sampler.upper()} {library:<9} {setting:<9} {n:>5} steps: {fd}; "
            f"{1000 * seconds / num:.2f} ms per image{difference}"
        )
    return {
        "settings": {
            "num": num,
            "steps": steps,
            "seed": seed,
            "batch_size": num,
            "clip_x0": True,
            "eta": 0.0,
            "spacing": "leading",
            "device": "cpu",
            "ddpm_defaults_identical": ddpm_defaults_identical,
        },
        "schedulers": {
            setting: {
                sampler: {
                    **_settings(scheduler),
                    **{f"step: {k}": v for k, v in options.items()},
                }
                for sampler, (scheduler, options) in pair.items()
            }
            for setting, pair in schedulers.items()
        },
        "model": {
            "source": info["source"],
            "data": info["data"],
            "trained_steps": info["step"],
            "T": T,
            "parameters": sum(p.numel() for p in model.parameters()),
        },
        "versions": {"torch": torch.__version__, "diffusers": diffusers.__version__},
        "rows": rows,
    }


# ----------------------------------------------------------------------------- reading a result


def _fail(problem: str) -> None:
    raise ValueError(f"result must be a result of benchmark 'sample': {problem}")


def validate(result: dict) -> None:
    """Raise ``ValueError`` unless ``result`` has the shape ``run`` gives it (with the registry's fields).

    Raises:
        ValueError: naming the field that is missing or wrong.
    """
    check_fields(
        result,
        "sample",
        {"model": dict, "versions": dict, "rows": list},
        keys={
            "settings": ("num", "steps", "seed"),
            "model": ("T", "trained_steps", "source"),
            "versions": ("diffusers",),
        },
    )
    got = []
    for row in result["rows"]:
        if not isinstance(row, dict) or any(k not in row for k in ROW_FIELDS):
            _fail(f"every row needs {', '.join(ROW_FIELDS)}; got {row!r:.80}")
        got.append((row["sampler"], row["library"], row["setting"]))
        numbers = [
            row[k] for k in ("steps", "fd", "floor", "seconds", "network_seconds", "ms_per_image")
        ]
        if row["library"] != "ours":
            numbers.append(row["max_diff"])
        elif row["max_diff"] is not None:
            _fail(f"our rows are the reference: their max_diff must be null, got {row!r:.80}")
        if not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
            for v in numbers
        ):
            _fail(f"a row's numbers must be finite and >= 0, got {row!r:.80}")
    if got != list(SETTINGS):
        _fail(f"the rows must be {list(SETTINGS)}, in that order; got {got}")


def _row(result: dict, sampler: str, library: str, setting: str) -> dict:
    return next(
        r
        for r in result["rows"]
        if (r["sampler"], r["library"], r["setting"]) == (sampler, library, setting)
    )


_LABELS = {
    ("ddpm", "ours", "reference"): "ours: `ddpm_sample`, $\\hat x_0$ clipped",
    ("ddpm", "diffusers", "identical"): "diffusers: `DDPMScheduler`, identical",
    ("ddim", "ours", "reference"): "ours: `ddim_sample`, $\\hat x_0$ clipped, $\\hat\\varepsilon$ "
    "recomputed",
    ("ddim", "diffusers", "identical"): "diffusers: `DDIMScheduler`, identical "
    "(`use_clipped_model_output=True`)",
    ("ddim", "diffusers", "defaults"): "diffusers: `DDIMScheduler`, defaults (raw "
    "$\\hat\\varepsilon$)",
}


def _overhead(row: dict) -> float:
    """Milliseconds per step spent outside the network: the sampler's own work."""
    return 1000 * max(row["seconds"] - row["network_seconds"], 0.0) / row["steps"]


def _ms(value: float) -> str:
    return f"{value:.3g} ms" if value < 1000 else f"{value / 1000:.3g} s"


def _overhead_note(result: dict) -> str:
    """What the time outside the network says: ours against diffusers', per step, for DDPM."""
    rows = _row(result, "ddpm", "ours", "reference"), _row(result, "ddpm", "diffusers", "identical")
    ours, theirs = (_overhead(r) for r in rows)
    inside = [1000 * r["network_seconds"] / r["steps"] for r in rows]
    text = (
        f"Per DDPM step, the network took {_ms(inside[0])} under ours and {_ms(inside[1])} under "
        f"diffusers' scheduler; the sampler's own work took {_ms(ours)} in ours and "
        f"{_ms(theirs)} in diffusers'."
    )
    if ours > theirs:
        text += (
            " Ours does more there: it checks the network's output at every step (its shape, "
            "and that it holds no NaN or inf, so that a broken model is stopped at the step it "
            "breaks) and reads its coefficients from the float64 schedule; diffusers' `step` "
            "does no such check. That cost is per step, not per image: it matters at small "
            "batches and fades at large ones."
        )
    return text


def table(result: dict) -> str:
    """One row per sampler: steps, digits FD, time per image, largest difference from ours."""
    validate(result)
    s, model, machine = result["settings"], result["model"], result["machine"]
    lines = [
        "| sampler | steps | digits FD | time per image | outside the network, per step "
        "| largest difference from ours |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key in SETTINGS:
        row = _row(result, *key)
        diff = "—" if row["max_diff"] is None else f"{row['max_diff']:.1e}"
        lines.append(
            f"| {_LABELS[key]} | {row['steps']:,} | {row['fd']:.2f} | "
            f"{_ms(row['ms_per_image'])} | {_ms(_overhead(row))} | {diff} |"
        )
    ddim = _row(result, "ddim", "ours", "reference")
    default = _row(result, "ddim", "diffusers", "defaults")
    identical = max(
        _row(result, "ddpm", "diffusers", "identical")["max_diff"],
        _row(result, "ddim", "diffusers", "identical")["max_diff"],
    )
    same = "equal" if s.get("ddpm_defaults_identical") else "close to"
    small = (
        f"**A small run** ({s['num']} samples per row; the default is {DEFAULT_NUM}): it shows "
        "the page's shape, not the numbers of the default benchmark. "
        if s["num"] < DEFAULT_NUM
        else ""
    )
    notes = [
        "",
        small
        + f"{s['num']:,} samples per row from the same $x_T$ and the same fresh noise (lower FD is "
        f"better; {s['num']:,} real digits score {ddim['floor']:.2f}, the floor). Differences are "
        "the largest absolute difference between the states diffusers' scheduler visits and "
        "ours, over every step and pixel (images lie in $[-1, 1]$).",
        "",
        f"Configured identically, diffusers' schedulers follow ours to within {identical:.0e}: "
        "float rounding. diffusers computes each step's coefficients in float32 (with "
        "$\\beta_t$ recomputed as $1 - \\bar\\alpha_t / \\bar\\alpha_{t-1}$, which loses "
        "digits where $\\beta_t$ is smallest, near the data), ours reads them from the float64 "
        "schedule; the network carries the difference from step to step. For DDPM, identical "
        f"settings {same} diffusers' defaults. At its defaults diffusers' DDIM clips "
        "$\\hat x_0$ but keeps the network's raw $\\hat\\varepsilon$, so the two no longer "
        "describe the same $x_t$ (eq. C2.3); ours recomputes $\\hat\\varepsilon$ from the clipped "
        f"$\\hat x_0$. The trajectories part by up to {default['max_diff']:.2f}, and the digits FD "
        f"is {default['fd']:.2f} at diffusers' defaults against {ddim['fd']:.2f} with the "
        "recomputed noise.",
        "",
        _overhead_note(result),
        "",
        f"Measured with `diffusion-path bench sample` on {result['date'][:10]}: {machine['cpu']}, "
        f"{machine['threads']} PyTorch thread(s) of {machine['cores']} cores, PyTorch "
        f"{result['versions']['torch']}, diffusers {result['versions']['diffusers']}; a U-Net "
        f"of {model['parameters']:,} parameters trained for {model['trained_steps']:,} steps "
        f"({model['source']}), $T = {model['T']}$.",
    ]
    return "\n".join(lines + notes)


def figure(result: dict) -> Figure:
    """Digits FD and time per image of every sampler; the largest difference from ours."""
    from diffusion_path.tools.plotting import new_figure

    validate(result)
    rows = [_row(result, *key) for key in SETTINGS]
    names = [
        f"{r['library']}\n{r['sampler'].upper()} {r['setting'] if r['library'] != 'ours' else ''}"
        for r in rows
    ]
    colours = ["C0" if r["library"] == "ours" else "C1" for r in rows]
    fig, (quality, speed, diff) = new_figure(1, 3, size=3.8)
    xs = range(len(rows))
    quality.bar(xs, [r["fd"] for r in rows], color=colours)
    quality.axhline(rows[0]["floor"], color="gray", ls="--", lw=1, label="real digits (floor)")
    quality.set(ylabel="digits FD", title=f"quality ({result['settings']['num']} samples)")
    quality.legend(fontsize=8)
    speed.bar(xs, [r["ms_per_image"] for r in rows], color=colours)
    speed.set(ylabel="ms per image", yscale="log", title="sampling time per image")
    theirs = [(i, r) for i, r in enumerate(rows) if r["max_diff"] is not None]
    diff.bar([i for i, _ in theirs], [max(r["max_diff"], 1e-12) for _, r in theirs], color="C1")
    diff.set(yscale="log", ylabel="largest |diffusers − ours|", title="trajectory difference")
    for ax in (quality, speed, diff):
        ax.set_xticks(list(xs), names, fontsize=7, rotation=30, ha="right")
    return fig
