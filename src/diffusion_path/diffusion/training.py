r"""Core Task 5: training a noise predictor with DDPM's simple loss (Algorithm 1, eq. 14).

$$L_{\text{simple}} = \mathbb E_{t, x_0, \varepsilon}\big\lVert \varepsilon -
\varepsilon_\theta\big(\sqrt{\bar\alpha_t}x_0 + \sqrt{1-\bar\alpha_t}\varepsilon,\ t\big)\big\rVert^2.$$

Each step draws a batch of data, a step $t$ and noise $\varepsilon$ for every example, and takes
a gradient step on the squared error between the noise and its prediction. Around that one line
sits what makes training work in practice, each piece here in a few lines of its own:

- an exponential moving average (EMA) of the weights, the copy used for sampling;
- gradient clipping, a learning-rate warm-up and a cosine decay;
- optional bfloat16 mixed precision, with a guard that stops at the first non-finite loss and
  keeps the last good checkpoint;
- checkpoints written atomically (a temporary file, then a rename), loaded with
  ``torch.load(..., weights_only=True)``, that resume exactly where they stopped: the weights, the
  EMA, the optimiser, the step and every random state;
- several processes with ``torchrun`` (DistributedDataParallel; gloo on CPUs, NCCL on GPUs).
"""

from __future__ import annotations

import copy
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from diffusion_path.diffusion.forward import q_sample
from diffusion_path.diffusion.schedules import NoiseSchedule
from diffusion_path.tools import validation
from diffusion_path.tools.progress import progress_bar

__all__ = [
    "DATASETS",
    "TrainConfig",
    "TrainState",
    "TrainingDiverged",
    "ema_update",
    "image_data",
    "load_checkpoint",
    "load_model",
    "resolve_device",
    "save_checkpoint",
    "simple_loss",
    "train",
    "train_images",
    "train_toy",
]

PRECISIONS = ("fp32", "bf16")


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite: training stopped, and the last good checkpoint is kept."""


@dataclass
class TrainConfig:
    """How to train: the optimiser, the schedule of the learning rate, the EMA, and bookkeeping.

    Attributes:
        steps: Number of optimisation steps.
        batch_size: Examples per step (per process when training on several).
        lr: Peak learning rate of Adam.
        warmup: Steps over which the learning rate rises linearly from 0 to ``lr``; it then
            decays to 0 along a cosine.
        ema_decay: Decay $\\gamma$ of the moving average of the weights, in $[0, 1)$.
        grad_clip: Clip the gradient's global norm to this (``None``: no clipping).
        precision: ``"fp32"``, or ``"bf16"`` for bfloat16 autocast (mixed precision).
        seed: Seed of every random draw: batches, steps, noise, dropout.
        checkpoint_every: Write a checkpoint every this many steps (and at the end), when
            training with an output folder.
        log_every: Record the loss curve and call ``on_log`` every this many steps.
    """

    steps: int = 3000
    batch_size: int = 128
    lr: float = 2e-4
    warmup: int = 100
    ema_decay: float = 0.999
    grad_clip: float | None = 1.0
    precision: str = "fp32"
    seed: int = 0
    checkpoint_every: int = 500
    log_every: int = 50

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "checkpoint_every", "log_every"):
            validation.positive_int(getattr(self, name), name)
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, int) or self.warmup < 0:
            raise ValueError(f"warmup must be an int >= 0, got {self.warmup!r}")
        if validation.number(self.lr, "lr") <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if not 0.0 <= validation.number(self.ema_decay, "ema_decay") < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay!r}")
        if self.grad_clip is not None and validation.number(self.grad_clip, "grad_clip") <= 0:
            raise ValueError(f"grad_clip must be > 0 or None, got {self.grad_clip!r}")
        validation.one_of(self.precision, PRECISIONS, "precision")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an int, got {self.seed!r}")


@dataclass
class TrainState:
    """Where training stands: the model, its EMA, the optimiser and what has been recorded.

    Attributes:
        model: The network being trained.
        ema: The moving average of its weights: the copy to sample from.
        optimizer: Adam, with its moments.
        step: Steps taken so far.
        losses: The mean loss of every ``log_every`` steps.
        generator: The source of every random draw, so that a resumed run continues the stream.
    """

    model: nn.Module
    ema: nn.Module
    optimizer: torch.optim.Optimizer
    step: int = 0
    losses: list[float] = field(default_factory=list)
    generator: torch.Generator | None = None


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"``: CUDA if present, else Apple's MPS if present, else the CPU; or the device named.

    Examples:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}"
        ) from None


def simple_loss(
    model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    schedule: NoiseSchedule,
    generator: torch.Generator,
) -> torch.Tensor:
    r"""DDPM's simple loss on a batch (Algorithm 1, eq. 14): a step and noise for each example.

    $$L_{\text{simple}} = \frac1B\sum_b \frac1d\big\lVert \varepsilon_b -
    \varepsilon_\theta\big(\sqrt{\bar\alpha_{t_b}}x_{0,b} + \sqrt{1-\bar\alpha_{t_b}}\varepsilon_b,\ t_b\big)
    \big\rVert^2,\qquad t_b \sim \mathcal U\{1, \dots, T\},\ \varepsilon_b \sim \mathcal N(0, I)$$

    Args:
        model: The noise predictor, called as ``model(x_t, t)`` with 0-based indices ``t``.
        x0: A batch of data, shape ``(B, ...)``.
        schedule: The noise schedule.
        generator: The source of the steps and the noise.

    Returns:
        The mean squared error, a scalar tensor (with gradients).

    Raises:
        ValueError: if ``x0`` is not a finite float tensor, ``schedule`` is not a schedule or
            ``generator`` is not a ``torch.Generator``.

    Examples:
        >>> schedule = NoiseSchedule.linear(10)
        >>> zero = lambda x, t: torch.zeros_like(x)  # predicts no noise: the loss is E[eps^2] = 1
        >>> loss = simple_loss(
        ...     zero, torch.zeros(4096, 2), schedule, torch.Generator().manual_seed(0)
        ... )
        >>> round(loss.item(), 1)
        1.0
    """
    x0 = validation.float_tensor(x0, "x0")
    schedule = validation.noise_schedule(schedule)
    generator = validation.torch_generator(generator)

    # Exercise: eq. (C5.1) — draw one index per example and standard normal noise (both from
    # `generator`, on x0's device), noise the batch in one shot, and return the mean squared error
    # between the noise and the model's prediction of it.

    # $t \sim \mathcal U\{1, \dots, T\}$, as 0-based indices
    t = torch.randint(0, schedule.T, (x0.shape[0],), generator=generator, device=generator.device)
    # $\varepsilon \sim \mathcal N(0, I)$
    eps = torch.randn(x0.shape, generator=generator, device=generator.device, dtype=x0.dtype)
    t, eps = t.to(x0.device), eps.to(x0.device)
    # $x_t = \sqrt{\bar\alpha_t} x_0 + \sqrt{1 - \bar\alpha_t}\varepsilon$
    x_t = q_sample(x0, t, schedule, noise=eps)
    # $\lVert \varepsilon - \varepsilon_\theta(x_t, t) \rVert^2$, averaged
    return torch.mean((eps - model(x_t, t)) ** 2)


def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    r"""One step of the exponential moving average of the weights, in place.

    $$\theta_{\text{EMA}} \leftarrow \gamma\,\theta_{\text{EMA}} + (1 - \gamma)\,\theta$$

    Buffers (such as GroupNorm's running statistics, if any) are copied, not averaged.

    Args:
        ema: The averaged copy; updated in place.
        model: The network being trained, with the same parameters.
        decay: $\gamma \in [0, 1)$: how much of the average to keep per step.

    Raises:
        ValueError: if ``decay`` is outside $[0, 1)$ or the two models' parameters differ.

    Examples:
        >>> model, ema = nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False)
        >>> _ = model.weight.data.fill_(1.0), ema.weight.data.fill_(0.0)
        >>> ema_update(ema, model, 0.9)
        >>> round(ema.weight.item(), 6)
        0.1
    """
    decay = validation.number(decay, "decay")
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"decay must be in [0, 1), got {decay!r}")
    pairs = list(zip(ema.parameters(), model.parameters(), strict=False))
    if len(pairs) != len(list(model.parameters())) or any(a.shape != b.shape for a, b in pairs):
        raise ValueError("ema must be a copy of model: their parameters differ")

    # Exercise: eq. (C5.2) — move every averaged parameter a fraction 1 - decay of the way to the
    # model's, without recording gradients; copy the buffers.

    with torch.no_grad():
        for averaged, current in pairs:
            # $\theta_{\text{EMA}} \leftarrow \gamma\theta_{\text{EMA}} + (1 - \gamma)\theta$
            averaged.lerp_(current.detach().to(averaged.dtype), 1.0 - decay)
        for averaged, current in zip(ema.buffers(), model.buffers(), strict=False):
            averaged.copy_(current)


# ----------------------------------------------------------------------------- checkpoints


def save_checkpoint(path: str | Path, state: TrainState, extra: dict | None = None) -> Path:
    """Write ``state`` (and ``extra``: configurations, the schedule) to ``path`` atomically.

    The checkpoint is written to a temporary file in the same folder and renamed over ``path``, so
    a run stopped in the middle of writing leaves the previous checkpoint whole.

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = state.model.module if hasattr(state.model, "module") else state.model
    payload = {
        "step": state.step,
        "model": model.state_dict(),
        "ema": state.ema.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "losses": list(state.losses),
        "generator": state.generator.get_state() if state.generator is not None else None,
        "torch_rng": torch.get_rng_state(),
        **(extra or {}),
    }
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        torch.save(payload, temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by ``save_checkpoint``, safely (``weights_only=True``).

    Raises:
        ValueError: if ``path`` is not a file or is not such a checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"path must be a checkpoint file, got {str(path)!r} (no such file)")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # a file torch cannot read safely: say what it is
        raise ValueError(
            f"path must be a checkpoint written by diffusion-path train: {error}"
        ) from None
    if not isinstance(checkpoint, dict) or "ema" not in checkpoint or "step" not in checkpoint:
        raise ValueError(
            f"path must be a checkpoint written by diffusion-path train, got {str(path)!r}"
        )
    return checkpoint


# ----------------------------------------------------------------------------- the loop


def _learning_rate(step: int, config: TrainConfig) -> float:
    """Linear warm-up to ``lr``, then a cosine decay to 0 at the last step."""
    if config.warmup and step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return config.lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def _distributed() -> tuple[int, int]:
    """``(rank, world size)``; starts the process group when ``torchrun`` launched several processes."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), dist.get_world_size()


def train(
    model: nn.Module,
    data: torch.Tensor,
    schedule: NoiseSchedule,
    config: TrainConfig | None = None,
    *,
    device: str | torch.device = "cpu",
    out: str | Path | None = None,
    resume: str | Path | None = None,
    extra: dict | None = None,
    generator: torch.Generator | None = None,
    on_log: Callable[[TrainState], None] | None = None,
    progress: bool | None = None,
    loss_fn: Callable[..., torch.Tensor] | None = None,
) -> TrainState:
    r"""Train ``model`` on ``data`` with DDPM's simple loss (Algorithm 1), an EMA and checkpoints.

    Each step: a batch $x_0$ from ``data``, the loss of
    [`simple_loss`][diffusion_path.diffusion.training.simple_loss], a gradient step of Adam
    (clipped, with the learning rate of the warm-up and cosine schedule), and an update of the EMA
    ([`ema_update`][diffusion_path.diffusion.training.ema_update]).

    Under ``torchrun`` with several processes the model is wrapped in DistributedDataParallel:
    every process draws its own batches (the seed offset by its rank), the gradients are averaged,
    and only the first process writes files.

    Args:
        model: The network, called as ``model(x_t, t)``; trained in place.
        data: The training set, shape ``(N, ...)`` (kept on the CPU; batches move to ``device``).
        schedule: The noise schedule.
        config: How to train (default: ``TrainConfig()``).
        device: Where to train: ``"cpu"``, ``"cuda"``, ``"mps"`` or ``"auto"``.
        out: A folder for ``checkpoint.pt`` (written every ``checkpoint_every`` steps and at the
            end); nothing is written if ``None``.
        resume: A checkpoint to continue from: the run goes on exactly where it stopped.
        extra: Saved with every checkpoint (e.g. the model's configuration, to rebuild it).
        generator: The source of randomness; by default one seeded with ``config.seed``.
        on_log: Called with the state every ``log_every`` steps (e.g. to draw samples).
        progress: Show a progress bar (``None``: only in a terminal, for 500 steps or more).
        loss_fn: The loss of a batch, called as ``loss_fn(model, x0, schedule, generator)``,
            a scalar (default: ``simple_loss``; Core Task 4's objectives plug in here).

    Returns:
        The final [`TrainState`][diffusion_path.diffusion.training.TrainState]; its ``ema`` is the
        model to sample from.

    Raises:
        ValueError: if ``data`` is not a finite float tensor with a batch axis, the configuration
            or ``device`` is invalid, or ``resume`` is not a checkpoint of this model.
        TrainingDiverged: if the loss becomes NaN or infinite (the last good checkpoint is kept).

    Examples:
        >>> from diffusion_path.diffusion.networks import NoiseMLP
        >>> schedule = NoiseSchedule.linear(50, 1e-3, 0.2)
        >>> data = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
        >>> state = train(
        ...     NoiseMLP(2, hidden=16), data, schedule, TrainConfig(steps=20, log_every=10)
        ... )
        >>> state.step, len(state.losses)
        (20, 2)
    """
    config = config or TrainConfig()
    data = validation.float_tensor(data, "data", min_dim=2)
    schedule = validation.noise_schedule(schedule)
    device = resolve_device(device) if isinstance(device, str) else device
    rank, world = _distributed()
    if world > 1 and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    model = model.to(device)
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    if generator is None:
        generator = torch.Generator().manual_seed(config.seed + rank)
    state = TrainState(model, ema, optimizer, generator=validation.torch_generator(generator))
    if resume is not None:
        checkpoint = load_checkpoint(resume, map_location=device)
        try:
            model.load_state_dict(checkpoint["model"])
            ema.load_state_dict(checkpoint["ema"])
        except RuntimeError as error:
            raise ValueError(
                f"resume must be a checkpoint of this model: {str(error)[:200]}"
            ) from None
        optimizer.load_state_dict(checkpoint["optimizer"])
        state.step, state.losses = int(checkpoint["step"]), list(checkpoint["losses"])
        if checkpoint["generator"] is not None:
            generator.set_state(checkpoint["generator"])
        torch.set_rng_state(checkpoint["torch_rng"])
    trained = model
    if world > 1:
        trained = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    checkpoint_path = None if out is None or rank != 0 else Path(out) / "checkpoint.pt"
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16")
    logged = 0.0
    model.train()
    steps = range(state.step, config.steps)
    for step in progress_bar(steps, show=progress, desc="training", min_items=500):
        index = torch.randint(0, data.shape[0], (config.batch_size,), generator=generator)
        x0 = data[index].to(device)
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(step, config)
        with autocast:
            loss = (loss_fn or simple_loss)(trained, x0, schedule, generator)
        if not torch.isfinite(loss):
            where = (
                f"; the last good checkpoint is {checkpoint_path}"
                if checkpoint_path and checkpoint_path.exists()
                else ""
            )
            raise TrainingDiverged(
                f"the loss became {loss.item()} at step {step + 1}{where}. Lower the learning rate, "
                "clip the gradients, or train in fp32 instead of bf16."
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        ema_update(ema, model, config.ema_decay)
        state.step = step + 1
        logged += loss.item()
        if state.step % config.log_every == 0:
            state.losses.append(logged / config.log_every)
            logged = 0.0
        if checkpoint_path and (
            state.step % config.checkpoint_every == 0 or state.step == config.steps
        ):
            save_checkpoint(checkpoint_path, state, {"config": asdict(config), **(extra or {})})
        if on_log is not None and rank == 0 and state.step % config.log_every == 0:
            on_log(state)
    model.eval()
    return state


def train_toy(
    model: nn.Module,
    data: torch.Tensor,
    schedule: NoiseSchedule,
    generator: torch.Generator,
    steps: int = 3000,
    batch_size: int = 256,
    lr: float = 2e-3,
    ema_decay: float = 0.995,
    progress: bool | None = None,
    loss_fn: Callable[..., torch.Tensor] | None = None,
) -> tuple[nn.Module, list[float]]:
    r"""Train a small network on low-dimensional data: [`train`][diffusion_path.diffusion.training.train] with settings for it.

    A short warm-up, no gradient clipping, one CPU thread (for matrices this small, more threads
    only wait for each other), the loss recorded at every step.

    Args:
        model: The network, called as ``model(x_t, t)``; trained in place.
        data: The training set, shape ``(N, d)``.
        schedule: The noise schedule.
        generator: The source of randomness for batches, steps and noise.
        steps: Number of optimisation steps.
        batch_size: Points per step.
        lr: Peak learning rate.
        ema_decay: Decay of the moving average of the weights, in $[0, 1)$.
        progress: Show a progress bar (``None``: only in a terminal, for 500 steps or more).
        loss_fn: The loss of a batch, as in ``train`` (default: ``simple_loss``).

    Returns:
        ``(ema_model, losses)``: the averaged copy of the model, in eval mode, and the loss of
        every step.

    Raises:
        ValueError: as ``train``, for bad data or settings.

    Examples:
        >>> from diffusion_path.diffusion.networks import NoiseMLP
        >>> gen = torch.Generator().manual_seed(0)
        >>> schedule = NoiseSchedule.linear(50, 1e-3, 0.2)
        >>> ema, losses = train_toy(
        ...     NoiseMLP(2, hidden=16), torch.randn(64, 2, generator=gen), schedule, gen, steps=20
        ... )
        >>> len(losses)
        20
    """
    config = TrainConfig(
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        warmup=min(100, steps // 10),
        ema_decay=ema_decay,
        grad_clip=None,
        log_every=1,
        checkpoint_every=steps,
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        state = train(
            model, data, schedule, config, generator=generator, progress=progress, loss_fn=loss_fn
        )
    finally:
        torch.set_num_threads(threads)
    return state.ema, state.losses


# ----------------------------------------------------------------------------- images, end to end

#: The data sets ``train_images`` knows: the digits that ship with scikit-learn (offline), and
#: torchvision's (downloaded with internet, or read from ``root``).
DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10")


def image_data(
    name: str = "digits", root: str | Path | None = None, download: bool = False
) -> torch.Tensor:
    """Training images in $[-1, 1]$, shaped for the U-Net: ``(N, C, H, W)`` with H and W a power of 2.

    ``"digits"`` are scikit-learn's 8×8 digits (offline); the MNISTs are padded from 28×28 to
    32×32 with the background value, so that the U-Net can halve them three times; CIFAR-10 is
    32×32 already.

    Raises:
        ValueError: if ``name`` is unknown, or a torchvision set's files are not under ``root``
            and ``download`` is off.

    Examples:
        >>> image_data("digits").shape
        torch.Size([1797, 1, 8, 8])
    """
    from diffusion_path.tools.data import load_digits, load_torchvision

    validation.one_of(name, DATASETS, "name")
    if name == "digits":
        return load_digits()
    if root is None:
        raise ValueError(
            f"root must name the folder of the {name} files (or pass download=True with a root)"
        )
    images, _ = load_torchvision(name, root, train=True, download=download)
    if images.shape[-1] == 28:
        images = torch.nn.functional.pad(images, (2, 2, 2, 2), value=-1.0)
    return images


def _unet_for(images: torch.Tensor, name: str):
    """The U-Net configuration for a data set: the CPU default for the digits, presets for the rest."""
    from diffusion_path.diffusion.unet import UNetConfig

    if name == "cifar10":
        return UNetConfig.cifar10()
    if name in ("mnist", "fashion-mnist"):
        return UNetConfig.mnist()
    return UNetConfig(image_size=images.shape[-1], in_channels=images.shape[1])


def _settings(config) -> dict:
    return {name: getattr(config, name) for name in type(config).FIELDS}


def load_model(path: str | Path, device: str | torch.device = "cpu"):
    """The EMA network and noise schedule saved by ``train_images`` (``model.pt`` or a checkpoint).

    Returns:
        ``(model, schedule, info)``: the U-Net in eval mode with the EMA weights, its
        ``NoiseSchedule``, and a dict with the data set's name and the steps trained.

    Raises:
        ValueError: if ``path`` is not such a file.
    """
    from diffusion_path.diffusion.unet import UNet, UNetConfig

    checkpoint = load_checkpoint(path, map_location=device)
    if "unet" not in checkpoint or "betas" not in checkpoint:
        raise ValueError(f"path must be a model saved by diffusion-path train, got {str(path)!r}")
    model = UNet(UNetConfig(**checkpoint["unet"]))
    model.load_state_dict(checkpoint["ema"])
    schedule = NoiseSchedule(checkpoint["betas"].cpu())
    info = {"data": checkpoint.get("data"), "step": int(checkpoint["step"])}
    return model.to(device).eval(), schedule, info


def train_images(
    out: str | Path,
    data: str = "digits",
    config: TrainConfig | None = None,
    *,
    T: int = 1000,
    schedule: str = "cosine",
    device: str = "auto",
    root: str | Path | None = None,
    download: bool = False,
    resume: str | Path | None = None,
    sample_every: int | None = None,
    progress: bool | None = None,
) -> Path:
    """Train a U-Net diffusion model on images, end to end: what ``diffusion-path train`` runs.

    Writes into ``out``: ``checkpoint.pt`` (to resume), ``model.pt`` (the EMA weights with the
    U-Net's configuration and the schedule: all ``diffusion-path sample`` needs), ``samples.png``
    (64 samples of the final model, DDIM with 50 steps), ``loss.png`` (the loss curve) and, every
    ``sample_every`` steps, ``samples/step-NNNNNN.png``.

    Args:
        out: The output folder.
        data: One of ``DATASETS``.
        config: How to train (default: the digits' defaults, a few minutes on a laptop CPU).
        T: Number of diffusion steps.
        schedule: ``"cosine"`` or ``"linear"``.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"mps"``.
        root: The folder of a torchvision data set's files.
        download: Fetch a torchvision data set (needs internet).
        resume: A ``checkpoint.pt`` to continue from.
        sample_every: Draw a grid of samples this often (``None``: every quarter of the run).
        progress: Show a progress bar (``None``: in a terminal).

    Returns:
        The path of ``model.pt``.

    Raises:
        ValueError: for an unknown data set or schedule, or bad settings.
        TrainingDiverged: if the loss becomes NaN (the last good checkpoint is kept).
    """
    from diffusion_path.diffusion.ddim import ddim_sample
    from diffusion_path.diffusion.unet import UNet
    from diffusion_path.tools.plotting import image_grid

    config = config or TrainConfig(steps=4000, batch_size=64, lr=1e-3, warmup=200, ema_decay=0.998)
    schedule = validation.one_of(schedule, ("cosine", "linear"), "schedule")
    noise = NoiseSchedule.cosine(T) if schedule == "cosine" else NoiseSchedule.linear(T)
    images = image_data(data, root, download)
    unet = _unet_for(images, data)
    out = Path(out)
    (out / "samples").mkdir(parents=True, exist_ok=True)
    sample_every = sample_every or max(1, config.steps // 4)
    extra = {"unet": _settings(unet), "betas": noise.betas, "data": data}

    def grid(model: nn.Module, title: str):
        device_of = next(model.parameters()).device
        generator = torch.Generator(device=device_of).manual_seed(0)
        with torch.no_grad():
            x = ddim_sample(
                model,
                (64, *images.shape[1:]),
                noise,
                num_steps=50,
                clip_x0=True,
                generator=generator,
            )
        return image_grid(x, columns=8, title=title)

    def on_log(state: TrainState) -> None:
        if state.step % sample_every == 0:
            grid(state.ema, f"step {state.step}").savefig(
                out / "samples" / f"step-{state.step:06d}.png", dpi=120
            )

    model = UNet(unet, generator=torch.Generator().manual_seed(config.seed))
    state = train(
        model,
        images,
        noise,
        config,
        device=device,
        out=out,
        resume=resume,
        extra=extra,
        on_log=on_log,
        progress=progress,
    )
    final = out / "model.pt"
    payload = {"step": state.step, "ema": state.ema.state_dict(), **extra}
    handle, temporary = tempfile.mkstemp(dir=out, prefix=".model.pt.", suffix=".tmp")
    os.close(handle)
    torch.save(payload, temporary)
    os.replace(temporary, final)
    grid(state.ema, f"{data}: {state.step} steps, DDIM 50").savefig(out / "samples.png", dpi=120)
    _loss_figure(state.losses, config.log_every).savefig(out / "loss.png", dpi=120)
    return final


def _loss_figure(losses: list[float], every: int):
    from diffusion_path.tools.plotting import new_figure

    figure, (ax,) = new_figure(1, 1, size=4.5)
    ax.plot([every * (i + 1) for i in range(len(losses))], losses)
    ax.set(
        xlabel="step",
        ylabel="loss (mean of each log interval)",
        title="the simple loss while training",
    )
    return figure
