r"""Benchmark ``train``: our U-Net against diffusers' ``UNet2DModel`` at the same size, on the digits.

Both networks are trained the same way in one process — the digits of ``diffusion-path train``,
its batch size, Adam at its learning rate with its warm-up, gradient clipping and EMA, and the
same seed for the batches, the steps and the noise — **alternately**: a round of ``round_seconds``
of ours, then one of diffusers', and so on, so that whatever else the machine is doing hits both
alike. Measured:

- **train steps per second**: each round's steps over its seconds; the median and the range
  over the rounds;
- **forward images per second** (inference, no gradients) at a small and at a large batch,
  also alternately;
- **sample quality after the same wall time**: each network's EMA weights after all its rounds,
  sampled the same way (our DDIM, ``sample_steps`` steps, $\hat x_0$ clipped, from the same
  starting noise), scored by the digits FD beside its floor
  (``diffusion_path.tools.metrics.digits_fd``).

The learning rate warms up over ``warmup`` steps and then stays at ``lr``: with a budget of wall
time instead of steps, the number of steps is not known in advance, so there is no cosine decay
to its end (the one difference from ``diffusion-path train``).

diffusers' network mirrors ours level by level (a plain and an attention block at the levels
where ours has attention, one head, the same GroupNorm groups); ``match_diffusers`` chooses its
``block_out_channels`` and ``layers_per_block`` so that the parameter counts agree within
``tolerance``. diffusers is an optional extra (``pip install -e ".[bench]"``), imported only when
the benchmark runs.
"""

from __future__ import annotations

import copy
import math
import statistics
import time
from collections.abc import Callable

import torch
from matplotlib.figure import Figure
from torch import nn

from diffusion_path.bench import check_fields
from diffusion_path.tools import validation

__all__ = [
    "NETWORKS",
    "SUMMARY",
    "diffusers_config",
    "figure",
    "match_diffusers",
    "our_config",
    "parameters",
    "require_diffusers",
    "run",
    "table",
    "validate",
    "verdict",
]

SUMMARY = (
    "our U-Net against diffusers' UNet2DModel at matched size, trained alternately on the "
    "digits: train steps/s, forward images/s, digits FD after the same wall time"
)
#: The two networks, in the order every row and round takes them.
NETWORKS = ("ours", "diffusers")
ROW_FIELDS = (
    "network",
    "parameters",
    "steps_per_s",
    "median_steps_per_s",
    "steps",
    "train_seconds",
    "forward_small",
    "forward_large",
    "fd",
    "floor",
    "sample_seconds",
)
INSTALL = 'pip install -e ".[bench]"'


def require_diffusers(benchmark: str = "train"):
    """The ``diffusers`` module, imported now; a one-line ``ValueError`` naming the extra if it is absent.

    Raises:
        ValueError: if diffusers is not installed (the command line exits with status 2).
    """
    try:
        import diffusers
    except ImportError:
        raise ValueError(
            f"benchmark {benchmark!r} needs diffusers, which is not installed: {INSTALL}"
        ) from None
    return diffusers


def our_config(images: torch.Tensor):
    """The U-Net configuration that ``diffusion-path train`` gives the digits: the CPU default.

    Examples:
        >>> our_config(torch.zeros(2, 1, 8, 8)).widths
        (32, 64)
    """
    from diffusion_path.diffusion.training import default_unet

    return default_unet("digits", images.shape[-1])


def diffusers_config(config, width: int, layers: int) -> dict:
    """The keyword arguments of a ``UNet2DModel`` that mirrors ``config`` at ``width`` and ``layers``.

    Level $\\ell$ gets ``width * config.channel_mults[l]`` channels and ``layers`` residual blocks
    (one more on the way up, as in ours); a level whose resolution is one of
    ``config.attention_resolutions`` gets attention blocks, with one head
    (``attention_head_dim=None``) as ours has with ``heads=1``.

    Examples:
        >>> from diffusion_path.diffusion.unet import UNetConfig
        >>> kwargs = diffusers_config(UNetConfig(), 32, 1)
        >>> kwargs["block_out_channels"], kwargs["down_block_types"]
        ((32, 64), ('DownBlock2D', 'AttnDownBlock2D'))
    """
    attention = [r in config.attention_resolutions for r in config.resolutions]
    down = tuple("AttnDownBlock2D" if a else "DownBlock2D" for a in attention)
    up = tuple("AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attention))
    return {
        "sample_size": config.image_size,
        "in_channels": config.in_channels,
        "out_channels": config.in_channels,
        "block_out_channels": tuple(width * m for m in config.channel_mults),
        "layers_per_block": layers,
        "down_block_types": down,
        "up_block_types": up,
        "norm_num_groups": config.groups,
        "attention_head_dim": None if config.heads == 1 else width // config.heads,
        "dropout": config.dropout,
    }


def parameters(module: nn.Module) -> int:
    """The number of parameters of ``module``."""
    return sum(p.numel() for p in module.parameters())


def match_diffusers(config, tolerance: float = 0.05) -> tuple[dict, int]:
    """diffusers' ``UNet2DModel`` with a parameter count closest to our U-Net's of ``config``.

    Tries every width that is a multiple of ``config.groups`` up to four times ours and one or two
    layers per block (models made on the ``meta`` device: no memory, no time).

    Returns:
        ``(kwargs, count)``: the ``UNet2DModel`` keyword arguments and its parameter count.

    Raises:
        ValueError: if diffusers is absent, or no candidate lies within ``tolerance`` (relative).
    """
    from diffusion_path.diffusion.unet import UNet

    diffusers = require_diffusers()
    with torch.device("meta"):
        target = parameters(UNet(config))
        best = None
        for layers in (1, 2):
            for width in range(config.groups, 4 * config.base_channels + 1, config.groups):
                kwargs = diffusers_config(config, width, layers)
                try:
                    count = parameters(diffusers.UNet2DModel(**kwargs))
                except (ValueError, RuntimeError):  # a width the blocks cannot take
                    continue
                if best is None or abs(count - target) < abs(best[1] - target):
                    best = (kwargs, count)
    if best is None or abs(best[1] - target) > tolerance * target:
        found = "none" if best is None else f"{best[1]:,}"
        raise ValueError(
            f"tolerance {tolerance} is not met: ours has {target:,} parameters, the closest "
            f"UNet2DModel {found}"
        )
    return best


class _Trainer:
    """One network's training: Adam, warm-up, clipping, EMA, its own seeded stream of batches."""

    def __init__(self, net: nn.Module, call, data, schedule, options: dict) -> None:
        self.net, self.call, self.data, self.schedule = net, call, data, schedule
        self.options = options
        self.ema = copy.deepcopy(net).eval().requires_grad_(False)
        self.optimizer = torch.optim.Adam(net.parameters(), lr=options["lr"])
        self.generator = torch.Generator().manual_seed(options["seed"])
        self.steps, self.seconds, self.rates = 0, 0.0, []

    def step(self) -> None:
        from diffusion_path.diffusion.training import ema_update, simple_loss

        o = self.options
        index = torch.randint(0, self.data.shape[0], (o["batch_size"],), generator=self.generator)
        lr = o["lr"] * min(1.0, (self.steps + 1) / o["warmup"]) if o["warmup"] else o["lr"]
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        loss = simple_loss(self.call(self.net), self.data[index], self.schedule, self.generator)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.net.parameters(), o["grad_clip"])
        self.optimizer.step()
        ema_update(self.ema, self.net, o["ema_decay"])
        self.steps += 1

    def round(self, seconds: float) -> float:
        """Train for ``seconds`` of wall time (at least one step); the steps per second."""
        self.net.train()
        start, done = time.perf_counter(), 0
        while True:
            self.step()
            done += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
        self.seconds += elapsed
        self.rates.append(done / elapsed)
        return self.rates[-1]


def _forward_rate(call, batch: int, seconds: float, generator: torch.Generator) -> float:
    """Images per second of ``call`` on batches of ``batch`` for about ``seconds`` (no gradients)."""
    x = torch.randn(batch, 1, 8, 8, generator=generator)
    t = torch.randint(0, 1000, (batch,), generator=generator)
    with torch.no_grad():
        call(x, t)  # set up once, untimed
        start, calls = time.perf_counter(), 0
        while True:
            call(x, t)
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                return calls * batch / elapsed


def _ours(net):
    return net


def _theirs(net):
    return lambda x, t: net(x, t, return_dict=False)[0]


def run(
    *,
    rounds: int = 6,
    round_seconds: float = 20.0,
    batch_size: int = 64,
    lr: float = 1e-3,
    warmup: int = 200,
    ema_decay: float = 0.998,
    grad_clip: float = 1.0,
    seed: int = 0,
    T: int = 1000,
    small_batch: int = 16,
    large_batch: int = 500,
    forward_seconds: float = 2.0,
    num: int = 500,
    sample_steps: int = 100,
    tolerance: float = 0.05,
    base_channels: int | None = None,
    echo: Callable[[str], None] | None = None,
) -> dict:
    r"""Train ours and diffusers' network alternately for ``rounds`` rounds, then measure and sample.

    The defaults take about 6 minutes on 2 quiet CPU cores (7 on a loaded one): 2 × 6 × 20 s
    of training, 2 × 2 × 3 × 2 s of forward passes, and 2 × 500 samples of DDIM with 100 steps.

    Args:
        rounds: Rounds of training, each network once per round, $\ge 1$.
        round_seconds: Wall time of each network's round, $> 0$.
        batch_size: Training batch size (``diffusion-path train``'s for the digits: 64).
        lr: Adam's learning rate after the warm-up.
        warmup: Steps of linear warm-up of the learning rate, $\ge 0$.
        ema_decay: The EMA's decay, in $[0, 1)$.
        grad_clip: The gradients' global norm is clipped to this, $> 0$.
        seed: Seed of both networks' initial weights, batches, steps and noise, and of sampling.
        T: Diffusion steps of the cosine schedule.
        small_batch: The small batch of the forward timing.
        large_batch: The large batch of the forward timing.
        forward_seconds: Wall time of each forward timing (three alternating rounds per batch).
        num: Samples per network for the digits FD, $2 \le$ ``num`` $\le 1258$.
        sample_steps: DDIM steps of the sampling, at most ``T``.
        tolerance: How far (relative) diffusers' parameter count may be from ours.
        base_channels: Our U-Net's width (``None``: ``diffusion-path train``'s, 32); a smaller
            one makes a quick run.
        echo: Called with a line of text at each stage (``None``: silent).

    Returns:
        ``{"settings", "networks", "versions", "rows"}``: one row per network with its steps per
        second of every round and their median, the steps and seconds trained, the forward
        images per second at both batches, and the digits FD with its floor.

    Raises:
        ValueError: if an option is out of range, diffusers is absent, or no diffusers network
            matches ours within ``tolerance``.
    """
    from diffusion_path.diffusion.ddim import ddim_sample
    from diffusion_path.diffusion.schedules import NoiseSchedule
    from diffusion_path.diffusion.training import image_data
    from diffusion_path.diffusion.unet import UNet, UNetConfig
    from diffusion_path.tools.metrics import digits_fd
    from diffusion_path.tools.progress import progress_bar

    echo = echo or (lambda line: None)
    rounds = validation.positive_int(rounds, "rounds")
    round_seconds = validation.positive_number(round_seconds, "round_seconds")
    forward_seconds = validation.positive_number(forward_seconds, "forward_seconds")
    for value, name in (
        (batch_size, "batch_size"),
        (T, "T"),
        (small_batch, "small_batch"),
        (large_batch, "large_batch"),
        (sample_steps, "sample_steps"),
    ):
        validation.positive_int(value, name)
    warmup = validation.integer(warmup, "warmup", minimum=0)
    seed = validation.integer(seed, "seed", minimum=0)
    lr = validation.positive_number(lr, "lr")
    grad_clip = validation.positive_number(grad_clip, "grad_clip")
    if not 0.0 <= validation.number(ema_decay, "ema_decay") < 1.0:
        raise ValueError(f"ema_decay must be in [0, 1), got {ema_decay!r}")
    num = validation.positive_int(num, "num")
    if not 2 <= num <= 1258:
        raise ValueError(f"num must be between 2 and 1258 (the digits FD's limit), got {num}")
    if sample_steps > T:
        raise ValueError(f"sample_steps must be at most T = {T}, got {sample_steps}")
    tolerance = validation.positive_number(tolerance, "tolerance")
    diffusers = require_diffusers()

    data = image_data("digits")
    config = our_config(data)
    if base_channels is not None:
        config = UNetConfig(
            image_size=config.image_size,
            in_channels=config.in_channels,
            base_channels=validation.positive_int(base_channels, "base_channels"),
            groups=min(config.groups, base_channels),
        )
    kwargs, count = match_diffusers(config, tolerance)
    with torch.random.fork_rng(devices=[]):  # the global random state is left as it was
        ours = UNet(config, generator=torch.Generator().manual_seed(seed))
        torch.manual_seed(seed)
        theirs = diffusers.UNet2DModel(**kwargs)
    ours_count, theirs_count = parameters(ours), parameters(theirs)
    assert theirs_count == count
    echo(f"ours: UNet {config.widths}, {ours_count:,} parameters")
    echo(
        f"diffusers: UNet2DModel(block_out_channels={kwargs['block_out_channels']}, "
        f"layers_per_block={kwargs['layers_per_block']}), {theirs_count:,} parameters "
        f"({100 * (theirs_count / ours_count - 1):+.1f} %)"
    )
    schedule = NoiseSchedule.cosine(T)
    options = {
        "batch_size": batch_size,
        "lr": lr,
        "warmup": warmup,
        "ema_decay": ema_decay,
        "grad_clip": grad_clip,
        "seed": seed,
    }
    trainers = {
        "ours": _Trainer(ours, _ours, data, schedule, options),
        "diffusers": _Trainer(theirs, _theirs, data, schedule, options),
    }
    calls = {"ours": _ours, "diffusers": _theirs}

    # training, alternately: A, B, A, B, ...
    turns = [(r, name) for r in range(rounds) for name in NETWORKS]
    for r, name in progress_bar(turns, show=None, desc="training, alternately", min_items=2):
        trainers[name].round(round_seconds)
        if name == NETWORKS[-1]:
            echo(
                f"round {r + 1}/{rounds}: "
                + ", ".join(f"{n} {trainers[n].rates[-1]:.2f} steps/s" for n in NETWORKS)
            )

    # forward images per second, alternately, three rounds per batch size
    forward = {name: {small_batch: [], large_batch: []} for name in NETWORKS}
    generator = torch.Generator().manual_seed(seed)
    for _ in range(3):
        for batch in (small_batch, large_batch):
            for name in NETWORKS:
                call = calls[name](trainers[name].ema)
                rate = _forward_rate(call, batch, forward_seconds, generator)
                forward[name][batch].append(rate)
    for name in NETWORKS:
        echo(
            f"{name}: forward "
            + ", ".join(
                f"{statistics.median(forward[name][b]):.0f} images/s at batch {b}"
                for b in (small_batch, large_batch)
            )
        )

    # sampling after the same wall time, the same way, from the same noise
    x_T = torch.randn((num, 1, config.image_size, config.image_size), generator=generator)
    rows = []
    for name in NETWORKS:
        trainer = trainers[name]
        start = time.perf_counter()
        samples = ddim_sample(
            calls[name](trainer.ema),
            x_T.shape,
            schedule,
            num_steps=sample_steps,
            clip_x0=True,
            generator=torch.Generator().manual_seed(seed + 1),
            x_T=x_T,
        )
        seconds = time.perf_counter() - start
        fd = digits_fd(samples.clamp(-1.0, 1.0))
        echo(f"{name}: {trainer.steps} steps in {trainer.seconds:.0f} s; {fd}")
        rows.append(
            {
                "network": name,
                "parameters": parameters(trainer.net),
                "steps_per_s": [round(v, 4) for v in trainer.rates],
                "median_steps_per_s": round(statistics.median(trainer.rates), 4),
                "steps": trainer.steps,
                "train_seconds": round(trainer.seconds, 3),
                "forward_small": round(statistics.median(forward[name][small_batch]), 2),
                "forward_large": round(statistics.median(forward[name][large_batch]), 2),
                "fd": round(fd.fd, 4),
                "floor": round(fd.floor, 4),
                "sample_seconds": round(seconds, 3),
            }
        )
    return {
        "settings": {
            "rounds": rounds,
            "round_seconds": round_seconds,
            "data": "digits",
            **options,
            "T": T,
            "schedule": "cosine",
            "small_batch": small_batch,
            "large_batch": large_batch,
            "forward_seconds": forward_seconds,
            "num": num,
            "sampler": f"DDIM, {sample_steps} steps, eta 0, x0 clipped (ours)",
            "sample_steps": sample_steps,
            "tolerance": tolerance,
            "quick": base_channels is not None,
        },
        "networks": {
            "ours": {"class": "diffusion_path UNet", "config": _plain(config.__dict__)},
            "diffusers": {"class": "diffusers UNet2DModel", "config": _plain(kwargs)},
        },
        "versions": {"torch": torch.__version__, "diffusers": diffusers.__version__},
        "rows": rows,
    }


def _plain(values: dict) -> dict:
    """JSON-ready: tuples to lists, private fields left out."""
    return {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in values.items()
        if not key.startswith("_")
    }


# ----------------------------------------------------------------------------- reading a result


def _fail(problem: str) -> None:
    raise ValueError(f"result must be a result of benchmark 'train': {problem}")


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def validate(result: dict) -> None:
    """Raise ``ValueError`` unless ``result`` has the shape ``run`` gives it (with the registry's fields).

    Raises:
        ValueError: naming the field that is missing or wrong.
    """
    check_fields(
        result,
        "train",
        {"networks": dict, "versions": dict, "rows": list},
        keys={
            "settings": (
                "rounds",
                "round_seconds",
                "batch_size",
                "num",
                "small_batch",
                "large_batch",
            ),
            "versions": ("diffusers",),
        },
    )
    networks = [row.get("network") if isinstance(row, dict) else None for row in result["rows"]]
    if networks != list(NETWORKS):
        _fail(f"the rows must be {', '.join(NETWORKS)}, in that order; got {networks}")
    for row in result["rows"]:
        if any(k not in row for k in ROW_FIELDS):
            _fail(f"every row needs {', '.join(ROW_FIELDS)}; got {sorted(row)}")
        rates = row["steps_per_s"]
        if not isinstance(rates, list) or len(rates) != result["settings"]["rounds"]:
            _fail(f"'steps_per_s' must hold one rate per round, got {rates!r:.60}")
        numbers = [*rates] + [row[k] for k in ROW_FIELDS if k not in ("network", "steps_per_s")]
        if not all(_number(v) and v >= 0 for v in numbers):
            _fail(f"a row's numbers must be finite and >= 0, got {row!r:.80}")


def _rows(result: dict) -> tuple[dict, dict]:
    validate(result)
    return result["rows"][0], result["rows"][1]


def verdict(result: dict) -> str:
    """The sentence the page prints about speed: ours against diffusers' in train steps per second."""
    ours, theirs = _rows(result)
    ratio = ours["median_steps_per_s"] / max(theirs["median_steps_per_s"], 1e-12)
    if ratio >= 1:
        return (
            f"Our U-Net trained {ratio:.2f}× as many steps per second as diffusers' UNet2DModel "
            "of the same size, in the same process and the same rounds."
        )
    small = ours["forward_small"] / max(theirs["forward_small"], 1e-12)
    large = ours["forward_large"] / max(theirs["forward_large"], 1e-12)
    if small < large:
        where = (
            f"the gap is widest at the small batch (forward {small:.2f}× diffusers' rate at batch "
            f"{result['settings']['small_batch']}, {large:.2f}× at "
            f"{result['settings']['large_batch']}): it lies in the cost of each call, not in the "
            "arithmetic"
        )
    else:
        where = (
            f"the gap is widest at the large batch (forward {large:.2f}× diffusers' rate at batch "
            f"{result['settings']['large_batch']}, {small:.2f}× at "
            f"{result['settings']['small_batch']}): it lies in the arithmetic kernels"
        )
    return (
        f"Our U-Net trained **{100 * (1 - ratio):.0f} % fewer steps per second** than diffusers' "
        f"UNet2DModel of the same size ({ratio:.2f}× its rate, median over "
        f"{result['settings']['rounds']} alternating rounds). Why: both do the same arithmetic — "
        "the same layers, widths and parameter count — but dispatch it differently: ours writes "
        "attention out as two einsums and a softmax, as Core Task 3 derives it, where diffusers "
        f"calls PyTorch's fused `scaled_dot_product_attention`; and {where}."
    )


def _quick_label(result: dict) -> str:
    if result["settings"].get("quick"):
        return (
            "**A small run** (a narrower U-Net, a short budget): it shows the page's shape, not "
            "the numbers of the default benchmark. "
        )
    return ""


def table(result: dict) -> str:
    """The two networks side by side: size, speed of training and of the forward pass, and quality."""
    ours, theirs = _rows(result)
    s, machine = result["settings"], result["machine"]
    kw = result["networks"]["diffusers"]["config"]
    total = s["rounds"] * s["round_seconds"]

    def rate(row: dict) -> str:
        r = row["steps_per_s"]
        return f"{row['median_steps_per_s']:.2f} ({min(r):.2f}–{max(r):.2f})"

    lines = [
        "| | ours: `UNet` | diffusers: `UNet2DModel` |",
        "|---|---:|---:|",
        f"| parameters | {ours['parameters']:,} | {theirs['parameters']:,} |",
        f"| train steps/s, median (range over {s['rounds']} rounds) | {rate(ours)} | "
        f"{rate(theirs)} |",
        f"| forward images/s, batch {s['small_batch']} | {ours['forward_small']:,.0f} | "
        f"{theirs['forward_small']:,.0f} |",
        f"| forward images/s, batch {s['large_batch']} | {ours['forward_large']:,.0f} | "
        f"{theirs['forward_large']:,.0f} |",
        f"| steps trained in {total:g} s | {ours['steps']:,} | {theirs['steps']:,} |",
        f"| digits FD after {total:g} s (floor {ours['floor']:.2f}) | {ours['fd']:.2f} | "
        f"{theirs['fd']:.2f} |",
    ]
    notes = [
        "",
        _quick_label(result)
        + f"Trained on the digits with batch {s['batch_size']}, Adam at {s['lr']:g} "
        f"(warm-up {s['warmup']} steps), gradients clipped to {s['grad_clip']:g}, EMA "
        f"{s['ema_decay']:g}, seed {s['seed']}, $T = {s['T']}$ (cosine), alternating rounds of "
        f"{s['round_seconds']:g} s. diffusers' network: `block_out_channels="
        f"{tuple(kw['block_out_channels'])}`, `layers_per_block={kw['layers_per_block']}`. "
        f"Digits FD of {s['num']:,} samples of each EMA network ({s['sampler']}; lower is "
        "better), beside the floor that as many real digits reach.",
        "",
        verdict(result),
        "",
        f"Measured with `diffusion-path bench train` on {result['date'][:10]}: {machine['cpu']}, "
        f"{machine['threads']} PyTorch thread(s) of {machine['cores']} cores, PyTorch "
        f"{result['versions']['torch']}, diffusers {result['versions']['diffusers']}.",
    ]
    return "\n".join(lines + notes)


def figure(result: dict) -> Figure:
    """Steps per second in every round; forward images per second; the digits FD beside the floor."""
    from diffusion_path.tools.plotting import new_figure

    ours, theirs = _rows(result)
    s = result["settings"]
    fig, (speed, forward, quality) = new_figure(1, 3, size=3.6)
    rounds = range(1, s["rounds"] + 1)
    for row, marker in ((ours, "o"), (theirs, "s")):
        speed.plot(rounds, row["steps_per_s"], marker=marker, label=row["network"])
    speed.set_xticks(list(rounds))
    speed.set_ylim(bottom=0)
    speed.set(xlabel="round", ylabel="train steps per second", title="training, alternately")
    speed.legend(fontsize=8)
    labels = [f"batch {s['small_batch']}", f"batch {s['large_batch']}"]
    for k, row in enumerate((ours, theirs)):
        xs = [i + (k - 0.5) * 0.38 for i in range(2)]
        forward.bar(xs, [row["forward_small"], row["forward_large"]], 0.38, label=row["network"])
    forward.set_xticks(range(2), labels)
    forward.set(ylabel="images per second", title="forward pass (no gradients)")
    forward.legend(fontsize=8)
    quality.bar([0, 1], [ours["fd"], theirs["fd"]], 0.6, color=["C0", "C1"])
    quality.axhline(ours["floor"], color="gray", ls="--", lw=1, label="real digits (floor)")
    quality.set_xticks([0, 1], [r["network"] for r in (ours, theirs)])
    quality.set(
        ylabel="digits FD",
        title=f"after {s['rounds'] * s['round_seconds']:g} s of training each",
    )
    quality.legend(fontsize=8)
    return fig
