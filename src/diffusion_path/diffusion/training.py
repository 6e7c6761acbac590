r"""Core Task 5: training a noise predictor with DDPM's simple loss (Algorithm 1, eq. 14).

$$L_{\text{simple}} = \mathbb E_{t, x_0, \varepsilon}\big\lVert \varepsilon -
\varepsilon_\theta\big(\sqrt{\bar\alpha_t}x_0 + \sqrt{1-\bar\alpha_t}\varepsilon,\ t\big)\big\rVert^2.$$

Each step draws a batch of data, a step $t$ and noise $\varepsilon$ for every example, and takes
a gradient step on the squared error between the noise and its prediction.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator

import torch
from torch import nn

from diffusion_path.diffusion.forward import q_sample
from diffusion_path.diffusion.schedules import NoiseSchedule
from diffusion_path.tools import validation
from diffusion_path.tools.progress import progress_bar

__all__ = ["train_toy"]


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
) -> tuple[nn.Module, list[float]]:
    r"""Train a noise predictor on a fixed data set with DDPM's simple loss (Algorithm 1, eq. 14).

    Each step draws a batch $x_0$, a step $t \sim \mathcal U\{1, \dots, T\}$ for each example (its
    0-based index ``t - 1`` is what the model is given) and noise
    $\varepsilon$, and takes an Adam step on $\lVert\varepsilon - \varepsilon_\theta(x_t, t)\rVert^2$.
    The learning rate decays to zero along a cosine; an exponential moving average (EMA) of the
    weights, the copy used for sampling, smooths out the last steps' noise.

    Args:
        model: The network, called as ``model(x_t, t)``; trained in place.
        data: The training set, shape ``(N, d)``.
        schedule: The noise schedule.
        generator: The source of randomness for batches, steps and noise.
        steps: Number of optimisation steps.
        batch_size: Points per step.
        lr: Peak learning rate.
        ema_decay: Decay of the moving average of the weights, in $[0, 1)$ (0: no averaging).
        progress: Show a progress bar (``None``: only in a terminal, for 2000 steps or more).

    Returns:
        ``(ema_model, losses)``: the averaged copy of the model, in eval mode, and the loss of
        every step.

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
    data = validation.float_tensor(data, "data", min_dim=2)
    schedule = validation.noise_schedule(schedule)
    generator = validation.torch_generator(generator)
    steps = validation.positive_int(steps, "steps")
    batch_size = validation.positive_int(batch_size, "batch_size")
    if not 0.0 <= ema_decay < 1.0:
        raise ValueError(f"ema_decay must be in [0, 1), got {ema_decay!r}")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    ema = copy.deepcopy(model).eval()
    for parameter in ema.parameters():
        parameter.requires_grad_(False)
    losses = []
    model.train()
    with _single_thread():
        for _ in progress_bar(range(steps), show=progress, desc="training", min_items=2000):
            index = torch.randint(0, data.shape[0], (batch_size,), generator=generator)
            x0 = data[index]
            # $t \sim \mathcal U\{1, \dots, T\}$ (0-based indices), $\varepsilon \sim \mathcal N(0, I)$
            t = torch.randint(0, schedule.T, (batch_size,), generator=generator)
            eps = torch.randn(x0.shape, generator=generator)
            # $x_t = \sqrt{\bar\alpha_t} x_0 + \sqrt{1 - \bar\alpha_t}\varepsilon$
            x_t = q_sample(x0, t, schedule, noise=eps)
            # $\lVert \varepsilon - \varepsilon_\theta(x_t, t) \rVert^2$
            loss = torch.mean((eps - model(x_t, t)) ** 2)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            with torch.no_grad():
                # $\theta_{\text{EMA}} \leftarrow \gamma\,\theta_{\text{EMA}} + (1 - \gamma)\,\theta$
                for averaged, current in zip(ema.parameters(), model.parameters(), strict=True):
                    averaged.lerp_(current, 1.0 - ema_decay)
            losses.append(loss.item())
    model.eval()
    return ema, losses


@contextlib.contextmanager
def _single_thread() -> Iterator[None]:
    """Run the block on one CPU thread: for small matrices, more threads only wait for each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
