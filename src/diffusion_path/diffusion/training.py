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

The learner writes four functions: the loss (eq. C5.1), one optimisation step (eq. C5.2), the
moving average (eq. C5.4) and sampling images from a trained network (eq. C5.6). The loop,
the checkpoints and the command line around them are given.
"""

from __future__ import annotations

import copy
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from diffusion_path.diffusion.forward import q_sample
from diffusion_path.diffusion.reverse import ddpm_sample
from diffusion_path.diffusion.schedules import NoiseSchedule
from diffusion_path.tools import validation
from diffusion_path.tools.progress import progress_bar

if TYPE_CHECKING:  # the U-Net is imported where it is built, not with this module
    from diffusion_path.diffusion.unet import UNetConfig

__all__ = [
    "DATASETS",
    "TrainConfig",
    "TrainState",
    "TrainingDiverged",
    "check_precision",
    "default_config",
    "default_unet",
    "ema_update",
    "image_data",
    "load_checkpoint",
    "load_model",
    "resolve_device",
    "sample_images",
    "save_checkpoint",
    "schedule_named",
    "simple_loss",
    "train",
    "train_images",
    "train_toy",
    "training_step",
]

#: The precisions training knows: float32, or bfloat16 autocast (mixed precision).
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
        ema_warmup: Let the decay rise from 0.1 towards ``ema_decay`` over the first steps, as
            $\\min(\\gamma, (1 + n) / (10 + n))$ at step $n$ (eq. C5.5): the average then forgets
            the random initial weights within a few hundred steps, which a short run needs.
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
    ema_warmup: bool = False
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
        if not isinstance(self.ema_warmup, bool):
            raise ValueError(f"ema_warmup must be True or False, got {self.ema_warmup!r}")
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
        seconds: Wall-clock seconds spent in the training loop so far (resumed runs included;
            the time of ``on_log``, e.g. drawing sample grids, left out).
    """

    model: nn.Module
    ema: nn.Module
    optimizer: torch.optim.Optimizer
    step: int = 0
    losses: list[float] = field(default_factory=list)
    generator: torch.Generator | None = None
    seconds: float = 0.0


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"``: CUDA if present, else Apple's MPS if present, else the CPU; or the device named.

    Raises:
        ValueError: if ``device`` is not a device name, or names one this machine does not have.

    Examples:
        >>> resolve_device("cpu")
        device(type='cpu')
        >>> resolve_device("gpu")
        Traceback (most recent call last):
        ValueError: device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got 'gpu'
    """
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        resolved = None
    if resolved is None or resolved.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device must be one this machine has: {device!r} needs a CUDA GPU")
    if resolved.type == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise ValueError(f"device must be one this machine has: {device!r} needs Apple's MPS")
    return resolved


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


def training_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x0: torch.Tensor,
    schedule: NoiseSchedule,
    generator: torch.Generator,
    grad_clip: float | None = None,
    precision: str = "fp32",
    loss_fn: Callable[..., torch.Tensor] | None = None,
) -> float:
    r"""One optimisation step of DDPM's Algorithm 1: the simple loss of a batch, its gradient, a step.

    $$g = \nabla_\theta L_{\text{simple}}(\theta),\qquad
    g \leftarrow g \min\big(1, c / \lVert g \rVert\big),\qquad \theta \leftarrow \mathrm{step}(\theta, g)$$

    The gradient is that of this batch alone: what the previous step left is cleared first. Its
    global norm (over all parameters together) is clipped to $c$ = ``grad_clip`` before the
    optimiser uses it. A loss that is NaN or infinite takes no step: it is returned as it is, and
    the caller stops (``train`` raises ``TrainingDiverged``).

    Args:
        model: The noise predictor being trained, called as ``model(x_t, t)``.
        optimizer: The optimiser of ``model``'s parameters, with its learning rate set.
        x0: A batch of data, shape ``(B, ...)``.
        schedule: The noise schedule.
        generator: The source of the loss's steps and noise.
        grad_clip: The largest global norm of the gradient, $c > 0$ (``None``: no clipping).
        precision: ``"fp32"``, or ``"bf16"`` for the model and the loss under bfloat16 autocast.
        loss_fn: The loss to minimise instead of the simple loss, called as
            ``loss_fn(model, x0, schedule, generator)`` (``None``: ``simple_loss``; Core Task 4's
            bounds are such losses).

    Returns:
        The batch's loss before the step, as a Python float.

    Raises:
        ValueError: if ``x0`` is not a finite float tensor, ``schedule`` is not a schedule,
            ``generator`` is not a ``torch.Generator``, ``grad_clip`` is neither ``None`` nor a
            number > 0, ``precision`` is not ``"fp32"`` or ``"bf16"``, or ``loss_fn`` is
            neither ``None`` nor callable.

    Examples:
        >>> from diffusion_path.diffusion.networks import NoiseMLP
        >>> gen = torch.Generator().manual_seed(0)
        >>> schedule = NoiseSchedule.linear(50, 1e-3, 0.2)
        >>> model = NoiseMLP(2, hidden=32, generator=gen)
        >>> optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        >>> data = torch.randn(256, 2, generator=gen) * 0.1 + 1.0
        >>> losses = [training_step(model, optimizer, data, schedule, gen, 1.0) for _ in range(100)]
        >>> sum(losses[-20:]) < sum(losses[:20])  # the loss goes down
        True
    """
    x0 = validation.float_tensor(x0, "x0")
    schedule = validation.noise_schedule(schedule)
    generator = validation.torch_generator(generator)
    if grad_clip is not None:
        grad_clip = validation.positive_number(grad_clip, "grad_clip")
    precision = validation.one_of(precision, PRECISIONS, "precision")
    if loss_fn is not None and not callable(loss_fn):
        raise ValueError(f"loss_fn must be None or callable, got {type(loss_fn).__name__}")
    # mixed precision when asked: the model and the loss run under bfloat16 autocast
    autocast = torch.autocast(x0.device.type, dtype=torch.bfloat16, enabled=precision == "bf16")

    # Exercise: eq. (C5.2) — clear the gradients the previous step left, compute the batch's loss
    # (loss_fn when given, else the simple loss) under `autocast`, and, if it is finite,
    # back-propagate, clip the global norm of the gradient to grad_clip (when given) and let the
    # optimiser take its step. Return the loss as a Python float, finite or not.

    optimizer.zero_grad(set_to_none=True)
    with autocast:
        loss = (loss_fn or simple_loss)(model, x0, schedule, generator)
    if not torch.isfinite(loss):  # diverged: no step, the caller stops
        return loss.item()
    loss.backward()
    if grad_clip is not None:
        # $g \leftarrow g \min(1, c / \lVert g \rVert)$, the norm over all parameters together
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    # $\theta \leftarrow \mathrm{step}(\theta, g)$
    optimizer.step()
    return loss.item()


def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    r"""One step of the exponential moving average of the weights, in place (eq. C5.4).

    $$\theta_{\text{EMA}} \leftarrow \gamma\,\theta_{\text{EMA}} + (1 - \gamma)\,\theta$$

    The average is what a diffusion model samples with: DDPM (Appendix B) keeps one with
    $\gamma = 0.9999$. Buffers (a normalisation layer's running statistics, if any) are copied,
    not averaged; nothing of the update is recorded for gradients.

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

    # Exercise: eq. (C5.4) — move every averaged parameter a fraction 1 - decay of the way to the
    # model's, without recording gradients; copy the buffers.

    with torch.no_grad():
        for averaged, current in pairs:
            # $\theta_{\text{EMA}} \leftarrow \gamma\theta_{\text{EMA}} + (1 - \gamma)\theta$
            averaged.lerp_(current.detach().to(averaged.dtype), 1.0 - decay)
        for averaged, current in zip(ema.buffers(), model.buffers(), strict=False):
            averaged.copy_(current)


def sample_images(
    model: nn.Module,
    num: int,
    image_shape: tuple[int, ...],
    schedule: NoiseSchedule,
    generator: torch.Generator,
) -> torch.Tensor:
    r"""Images from pure noise: DDPM's reverse process (Algorithm 2) with a trained noise predictor.

    $$x_T \sim \mathcal N(0, I),\qquad x_{t-1} = \tilde\mu_t\big(x_t,\
    \mathrm{clip}(\hat x_0(x_t, \varepsilon_\theta(x_t, t)))\big) + \sigma_t z,\quad t = T, \dots, 1$$

    The network runs in evaluation mode — dropout off, so every call gives its best prediction
    rather than a random thinning of it — and is put back in the mode it was in. $\hat x_0$ is
    clipped to $[-1, 1]$, the range of the data, at every step; the last step returns it, so the
    images lie in $[-1, 1]$. In a training run, sample from the moving average of the weights
    (``TrainState.ema``), not from the weights being trained.

    Args:
        model: The trained noise predictor, called as ``model(x_t, t)``.
        num: How many images.
        image_shape: ``(C, H, W)``, the shape of one image.
        schedule: The noise schedule the model was trained with.
        generator: The source of $x_T$ and of every step's noise (on the model's device).

    Returns:
        The images, shape ``(num, C, H, W)``, in $[-1, 1]$.

    Raises:
        ValueError: if ``model`` is not a ``torch.nn.Module``, ``num`` is not a positive int,
            ``image_shape`` is not a tuple of positive ints, ``schedule`` is not a schedule or
            ``generator`` is not a ``torch.Generator``.

    Examples:
        >>> from diffusion_path.diffusion.unet import UNet, UNetConfig
        >>> model = UNet(UNetConfig(base_channels=8, channel_mults=(1,), attention_resolutions=()))
        >>> schedule = NoiseSchedule.cosine(20)
        >>> images = sample_images(model, 4, (1, 8, 8), schedule, torch.Generator().manual_seed(0))
        >>> images.shape, bool(images.abs().max() <= 1.0), model.training
        (torch.Size([4, 1, 8, 8]), True, True)
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    num = validation.positive_int(num, "num")
    image_shape = validation.shape_tuple(image_shape, "image_shape")
    schedule = validation.noise_schedule(schedule)
    generator = validation.torch_generator(generator)

    # Exercise: eq. (C5.6) — switch the model to evaluation mode, run DDPM's sampler (ddpm_sample)
    # for num images of image_shape with x0_hat clipped to the data's range, then put the model
    # back in the mode it was in (training or not), and return the images.

    was_training = model.training
    model.eval()
    try:
        # $x_T \sim \mathcal N(0, I)$, then T reverse steps with $\hat x_0$ clipped
        samples = ddpm_sample(
            model, (num, *image_shape), schedule, clip_x0=True, generator=generator, progress=False
        )
    finally:
        model.train(was_training)
    return samples


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
        "seconds": state.seconds,
        "generator": state.generator.get_state() if state.generator is not None else None,
        "torch_rng": torch.get_rng_state(),
        **(extra or {}),
    }
    _atomic_save(payload, path)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by ``save_checkpoint``, safely (``weights_only=True``).

    Raises:
        ValueError: if ``path`` is not a file or is not such a checkpoint.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"path must be a checkpoint file, got the folder {str(path)!r}")
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


def _ema_decay(step: int, config: TrainConfig) -> float:
    """The EMA's decay at the 0-based ``step``: ``ema_decay``, or min(γ, (1 + n) / (10 + n)) with its warm-up."""
    if not config.ema_warmup:
        return config.ema_decay
    return min(config.ema_decay, (1 + step) / (10 + step))


def check_precision(precision: str, device: torch.device) -> str:
    """``precision`` if ``device`` can train in it: bf16 needs a CPU, a GPU with bfloat16, or MPS with it.

    Raises:
        ValueError: if ``precision`` is unknown, or is ``"bf16"`` on a device without bfloat16.

    Examples:
        >>> check_precision("bf16", torch.device("cpu"))
        'bf16'
    """
    precision = validation.one_of(precision, PRECISIONS, "precision")
    if precision == "bf16":
        supported = True
        if device.type == "cuda":
            supported = torch.cuda.is_bf16_supported()
        elif device.type == "mps":
            try:
                torch.zeros(1, device=device, dtype=torch.bfloat16)
            except (RuntimeError, TypeError):
                supported = False
        if not supported:
            raise ValueError(
                f"precision 'bf16' needs bfloat16 support, which this {device.type} device lacks; "
                "use --precision fp32"
            )
    return precision


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

    Each step: a batch $x_0$ from ``data``, the learning rate of the warm-up and cosine schedule
    (eq. C5.3), one [`training_step`][diffusion_path.diffusion.training.training_step] of Adam
    (the simple loss, its gradient clipped), and an update of the EMA
    ([`ema_update`][diffusion_path.diffusion.training.ema_update], with the decay of eq. C5.5
    when ``config.ema_warmup`` is on).

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
            or ``device`` is invalid, ``config.precision`` is ``"bf16"`` on a device without
            bfloat16, or ``resume`` is not a checkpoint of this model.
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
    check_precision(config.precision, device)
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
        _resume(state, resume, device)
    trained = model
    if world > 1:
        trained = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    checkpoint_path = None if out is None or rank != 0 else Path(out) / "checkpoint.pt"
    logged = 0.0
    model.train()
    steps = range(state.step, config.steps)
    bar = progress_bar(steps, show=progress, desc="training", min_items=500)
    started = time.perf_counter() - state.seconds
    with validation.trusted():  # every input was checked above; the batches are made here
        for step in bar:
            index = torch.randint(0, data.shape[0], (config.batch_size,), generator=generator)
            x0 = data[index].to(device, non_blocking=True)
            for group in optimizer.param_groups:
                group["lr"] = _learning_rate(step, config)
            loss = training_step(
                trained,
                optimizer,
                x0,
                schedule,
                generator,
                config.grad_clip,
                config.precision,
                loss_fn,
            )
            if not math.isfinite(loss):
                where = (
                    f"; the last good checkpoint is {checkpoint_path}"
                    if checkpoint_path and checkpoint_path.exists()
                    else ""
                )
                raise TrainingDiverged(
                    f"the loss became {loss} at step {step + 1}{where}. Lower the learning rate, "
                    "clip the gradients, or train in fp32 instead of bf16."
                )
            ema_update(ema, model, _ema_decay(step, config))
            state.step = step + 1
            state.seconds = time.perf_counter() - started
            logged += loss
            if state.step % config.log_every == 0:
                state.losses.append(logged / config.log_every)
                logged = 0.0
                if hasattr(bar, "set_postfix"):
                    bar.set_postfix(loss=f"{state.losses[-1]:.4f}", refresh=False)
            if checkpoint_path and (
                state.step % config.checkpoint_every == 0 or state.step == config.steps
            ):
                save_checkpoint(checkpoint_path, state, {"config": asdict(config), **(extra or {})})
            if on_log is not None and rank == 0 and state.step % config.log_every == 0:
                called = time.perf_counter()
                on_log(state)
                started += time.perf_counter() - called  # the training's time, not the grids'
    model.eval()
    return state


def _resume(state: TrainState, path: str | Path, device: torch.device) -> None:
    """Put the weights, the EMA, the optimiser, the step and every random state of ``path`` into ``state``."""
    checkpoint = load_checkpoint(path, map_location=device)
    try:
        state.model.load_state_dict(checkpoint["model"])
        state.ema.load_state_dict(checkpoint["ema"])
    except (RuntimeError, KeyError) as error:
        raise ValueError(f"resume must be a checkpoint of this model: {str(error)[:200]}") from None
    state.optimizer.load_state_dict(checkpoint["optimizer"])
    state.step, state.losses = int(checkpoint["step"]), list(checkpoint["losses"])
    state.seconds = float(checkpoint.get("seconds", 0.0))
    if checkpoint["generator"] is not None:
        state.generator.set_state(checkpoint["generator"])
    torch.set_rng_state(checkpoint["torch_rng"])


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
#: The noise schedules ``train_images`` knows.
SCHEDULES = ("cosine", "linear")


def image_data(
    name: str = "digits",
    root: str | Path | None = None,
    download: bool = False,
    size: int | None = None,
) -> torch.Tensor:
    """Training images in $[-1, 1]$, shaped for the U-Net: ``(N, C, H, W)``.

    ``"digits"`` are scikit-learn's 8×8 digits (offline), upsampled to ``size`` × ``size`` when
    asked (nearest neighbour: each pixel becomes a block, which the digits FD averages back
    exactly). MNIST and Fashion-MNIST are 28×28 (the preset U-Net halves them twice), CIFAR-10
    32×32; their files are read from ``root`` (``download=True`` fetches them first).

    Args:
        name: One of ``DATASETS``.
        root: The folder of a torchvision data set's files.
        download: Fetch a torchvision data set's files (needs internet).
        size: The digits' height and width, a multiple of 8 (``None``: 8).

    Raises:
        ValueError: if ``name`` is unknown, ``size`` is not a multiple of 8 or is given for
            another data set, or a torchvision set's files are not under ``root`` and
            ``download`` is off.

    Examples:
        >>> image_data("digits").shape
        torch.Size([1797, 1, 8, 8])
        >>> image_data("digits", size=16).shape
        torch.Size([1797, 1, 16, 16])
    """
    from diffusion_path.tools.data import load_digits, load_torchvision

    validation.one_of(name, DATASETS, "name")
    if size is not None:
        size = validation.positive_int(size, "size")
        if name != "digits" or size % 8:
            raise ValueError(
                f"size must be a multiple of 8 and is for the digits only, got {size} for {name}"
            )
    if name == "digits":
        images = load_digits()
        if size is not None and size != 8:
            images = nn.functional.interpolate(images, scale_factor=size // 8, mode="nearest")
        return images
    if root is None:
        raise ValueError(
            f"root must name the folder of the {name} files (and download=True fetches them there)"
        )
    try:
        images, _ = load_torchvision(name, root, train=True, download=download)
    except ValueError:
        raise ValueError(
            f"root {str(root)!r} does not hold the {name} files: pass download=True "
            "(--download on the command line) to fetch them, which needs internet"
        ) from None
    return images


def default_unet(data: str = "digits", image_size: int | None = None) -> UNetConfig:
    """The U-Net ``diffusion-path train`` builds for a data set: small for the digits, presets for the rest.

    The digits get [`UNetConfig`][diffusion_path.diffusion.unet.UNetConfig]'s default — two
    levels, 32 and 64 channels, attention at the lower resolution, 0.7 M parameters — sized to
    ``image_size`` (8, or the upsampled size); MNIST and Fashion-MNIST get ``UNetConfig.mnist()``
    and CIFAR-10 ``UNetConfig.cifar10()``, networks for a GPU.

    Raises:
        ValueError: if ``data`` is not one of ``DATASETS``.

    Examples:
        >>> default_unet("digits").widths, default_unet("digits", 16).resolutions
        ((32, 64), (16, 8))
    """
    from diffusion_path.diffusion.unet import UNetConfig

    validation.one_of(data, DATASETS, "data")
    if data == "cifar10":
        return UNetConfig.cifar10()
    if data in ("mnist", "fashion-mnist"):
        return UNetConfig.mnist()
    size = 8 if image_size is None else image_size
    return UNetConfig(image_size=size, in_channels=1, attention_resolutions=(size // 2,))


def default_config(data: str = "digits") -> TrainConfig:
    """The training settings ``diffusion-path train`` uses for a data set.

    For the digits, settings tuned to finish in a few minutes on two CPU cores with samples as
    good as real digits by the digits FD (the table on Core Task 5's page has the time
    measured): a large learning rate and a short average of the weights, warmed up. For the
    torchvision sets, a starting point for a GPU in the spirit of DDPM's (Appendix B: Adam at
    2e-4, batches of 128, an average with decay 0.9999) with far fewer steps.

    Raises:
        ValueError: if ``data`` is not one of ``DATASETS``.

    Examples:
        >>> default_config("digits").batch_size
        64
    """
    validation.one_of(data, DATASETS, "data")
    if data == "digits":
        return TrainConfig(
            steps=2500,
            batch_size=64,
            lr=1e-3,
            warmup=100,
            ema_decay=0.998,
            ema_warmup=True,
            checkpoint_every=500,
            log_every=25,
        )
    return TrainConfig(
        steps=50_000 if data == "cifar10" else 20_000,
        batch_size=128,
        lr=2e-4,
        warmup=1000,
        ema_decay=0.9995,
        ema_warmup=True,
        checkpoint_every=2000,
        log_every=100,
    )


def _settings(config) -> dict:
    return {name: getattr(config, name) for name in type(config).FIELDS}


def load_model(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[nn.Module, NoiseSchedule, dict]:
    """The EMA network and noise schedule saved by ``train_images`` (``model.pt`` or a checkpoint).

    Args:
        path: ``model.pt`` or ``checkpoint.pt`` written by ``train_images``.
        device: Where to put the network.

    Returns:
        ``(model, schedule, info)``: the U-Net in eval mode with the EMA weights, its
        ``NoiseSchedule``, and a dict with the data set's name (``data``), the steps trained
        (``step``) and the seconds they took (``seconds``).

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
    info = {
        "data": checkpoint.get("data"),
        "step": int(checkpoint["step"]),
        "seconds": float(checkpoint.get("seconds", 0.0)),
    }
    return model.to(device).eval(), schedule, info


#: ``sampler(model, num, image_shape, schedule, generator)``: how ``train_images`` draws its grids.
Sampler = Callable[[nn.Module, int, tuple[int, ...], NoiseSchedule, torch.Generator], torch.Tensor]


def train_images(
    out: str | Path,
    data: str = "digits",
    config: TrainConfig | None = None,
    *,
    unet: UNetConfig | None = None,
    T: int = 1000,
    schedule: str = "cosine",
    size: int | None = None,
    device: str = "auto",
    root: str | Path | None = None,
    download: bool = False,
    resume: str | Path | None = None,
    sample_every: int | None = None,
    grid: int = 64,
    sampler: Sampler | None = None,
    progress: bool | None = None,
) -> Path:
    """Train a U-Net diffusion model on images, end to end: what ``diffusion-path train`` runs.

    Writes into ``out``: ``checkpoint.pt`` (to resume), ``model.pt`` (the EMA weights with the
    U-Net's configuration and the schedule: all ``diffusion-path sample`` needs), ``samples.png``
    (``grid`` samples of the final model), ``loss.png`` (the loss curve) and, every
    ``sample_every`` steps, ``samples/step-NNNNNN.png``. Under ``torchrun`` every process
    trains and the first one writes.

    Args:
        out: The output folder.
        data: One of ``DATASETS``.
        config: How to train (default: ``default_config(data)``).
        unet: The network's ``UNetConfig`` (default: ``default_unet(data)``).
        T: Number of diffusion steps.
        schedule: ``"cosine"`` or ``"linear"`` (DDPM's, with its end points scaled by 1000 / T).
        size: Upsample the digits to this size (a multiple of 8).
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"mps"``.
        root: The folder of a torchvision data set's files.
        download: Fetch a torchvision data set (needs internet).
        resume: A ``checkpoint.pt`` to continue from.
        sample_every: Draw a grid of samples this often (``None``: every quarter of the run).
        grid: How many samples each grid shows.
        sampler: How to draw the grids (default: ``sample_images``, DDPM's $T$ steps).
        progress: Show a progress bar (``None``: in a terminal).

    Returns:
        The path of ``model.pt``.

    Raises:
        ValueError: for an unknown data set or schedule, or bad settings.
        TrainingDiverged: if the loss becomes NaN (the last good checkpoint is kept).
    """
    from diffusion_path.diffusion.unet import UNet, UNetConfig
    from diffusion_path.tools.plotting import image_grid

    config = config or default_config(data)
    T = validation.positive_int(T, "T")
    schedule = validation.one_of(schedule, SCHEDULES, "schedule")
    grid = validation.positive_int(grid, "grid")
    noise = schedule_named(schedule, T)
    device = resolve_device(device)
    check_precision(config.precision, device)
    images = image_data(data, root, download, size)
    unet = unet or default_unet(data, images.shape[-1])
    if not isinstance(unet, UNetConfig):
        raise ValueError(f"unet must be a UNetConfig, got {type(unet).__name__}")
    if (unet.in_channels, unet.image_size, unet.image_size) != tuple(images.shape[1:]):
        raise ValueError(
            f"unet must fit the images {tuple(images.shape[1:])}, got image_size "
            f"{unet.image_size} with {unet.in_channels} channel(s)"
        )
    sampler = sampler or sample_images
    out = Path(out)
    rank = int(os.environ.get("RANK", "0"))
    if rank == 0:
        (out / "samples").mkdir(parents=True, exist_ok=True)
    every = validation.positive_int(sample_every or max(1, config.steps // 4), "sample_every")
    # the grids are drawn when the loss is logged: log at least as often as they come
    config = replace(config, log_every=math.gcd(config.log_every, every))
    extra = {
        "unet": _settings(unet),
        "betas": noise.betas,
        "data": data,
        "schedule": schedule,
    }

    def draw(model: nn.Module, title: str):
        device_of = next(model.parameters()).device
        generator = torch.Generator(device=device_of).manual_seed(0)
        x = sampler(model, grid, tuple(images.shape[1:]), noise, generator)
        return image_grid(x, columns=math.ceil(math.sqrt(grid)), title=title)

    def on_log(state: TrainState) -> None:
        if state.step % every == 0 and state.step < config.steps:
            draw(state.ema, f"step {state.step}").savefig(
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
    if rank == 0:
        payload = {
            "step": state.step,
            "seconds": state.seconds,
            "ema": state.ema.state_dict(),
            "config": asdict(config),
            **extra,
        }
        _atomic_save(payload, final)
        figure = draw(state.ema, f"{data}: {state.step} steps")
        figure.savefig(out / "samples" / f"step-{state.step:06d}.png", dpi=120)
        figure.savefig(out / "samples.png", dpi=120)
        _loss_figure(state.losses, config.log_every).savefig(out / "loss.png", dpi=120)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return final


def schedule_named(name: str, T: int) -> NoiseSchedule:
    """The schedule ``train_images`` trains with: cosine, or DDPM's linear one scaled to ``T`` steps.

    DDPM's linear schedule runs from $10^{-4}$ to $0.02$ over 1000 steps; for another $T$ both
    ends are multiplied by $1000 / T$ (the rule of the Improved DDPM code), so that the data is
    destroyed as much at the end of the chain whatever its length.

    Raises:
        ValueError: if ``name`` is not ``"cosine"`` or ``"linear"``, or ``T`` is too small for
            the scaled linear schedule (its last variance would reach 1).

    Examples:
        >>> float(schedule_named("linear", 1000).betas[-1])
        0.02
    """
    name = validation.one_of(name, SCHEDULES, "schedule")
    T = validation.positive_int(T, "T")
    if name == "cosine":
        return NoiseSchedule.cosine(T)
    if T <= 20:
        raise ValueError(f"T must be more than 20 for the linear schedule, got {T}")
    return NoiseSchedule.linear(T, 1e-4 * 1000 / T, 0.02 * 1000 / T)


def _atomic_save(payload: dict, path: Path) -> None:
    """``torch.save`` to a temporary file in ``path``'s folder, then a rename over ``path``."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        torch.save(payload, temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _loss_figure(losses: list[float], every: int):
    from diffusion_path.tools.plotting import new_figure

    figure, (ax,) = new_figure(1, 1, size=4.5)
    ax.plot([every * (i + 1) for i in range(len(losses))], losses)
    ax.set(
        xlabel="step",
        ylabel=f"loss (mean of every {every} steps)",
        yscale="log",
        title="the simple loss while training",
    )
    return figure
