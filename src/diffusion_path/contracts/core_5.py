"""Contract of Core Task 5: the simple loss, one training step, the moving average, and sampling.

Ground truth, computed here and never by the reference:

- the **simple loss** of a model that knows the data (all of it one point $c$) is exactly 0,
  since it recovers the noise from $x_t$ (eq. C1.2 solved for $\\varepsilon$); the loss of the
  model $\\varepsilon_\\theta(x_t, t) = k\\,x_t$ on a fixed $x_0$ has a closed-form mean and
  variance over the step and the noise, so a Monte-Carlo verdict in standard errors; the steps
  the model is asked about are counted against the uniform law;
- **one training step** of a model linear in its parameters, on that one-point data: from the
  inputs the model was called with, the contract recovers the noise, and so the exact gradient,
  its clipped version and the parameters after an SGD step;
- the **moving average** in closed form, $\\theta + \\gamma^n(\\theta_{\\text{EMA}} - \\theta)$ after
  $n$ updates toward a fixed $\\theta$, with the buffers copied;
- **sampling** with the exact predictor of one-point data returns that point; the zero
  predictor, whose $\\hat x_0 = x_t / \\sqrt{\\bar\\alpha_t}$ explodes at the end of the chain,
  stays bounded only if $\\hat x_0$ is clipped; every call of the network is recorded: its mode,
  its step.

No network is trained: every check runs a tiny module once or a few times.
"""

from __future__ import annotations

import copy
import functools
import math
from statistics import NormalDist

import numpy as np
import torch
from torch import nn

from diffusion_path.contracts.asserts import (
    FAILURE_RATE,
    assert_close,
    assert_within_se,
    expect,
    to_numpy,
)
from diffusion_path.contracts.base import Contract, Failure, Invalid, call
from diffusion_path.contracts.inputs import alpha_bars_by_loop as _alpha_bars
from diffusion_path.contracts.inputs import seeded_randn as _randn
from diffusion_path.diffusion.schedules import NoiseSchedule

CONTRACT = Contract("core-5")


#: ``CONTRACT.check`` on one CPU thread: the tensors here are tiny.
check = functools.partial(CONTRACT.check, threads=1)


#: A short schedule: five indices, easy to tell apart, with very different noise levels.
BETAS = np.array([0.05, 0.1, 0.2, 0.3, 0.5])


def _schedule() -> NoiseSchedule:
    return NoiseSchedule(torch.tensor(BETAS))


ABAR = _alpha_bars(BETAS)


def _index(t: torch.Tensor, T: int, batch: int, hint: str) -> np.ndarray:
    """The steps a model was called with, as integers, after checking that they can be steps."""
    if not isinstance(t, torch.Tensor) or t.dtype != torch.long or tuple(t.shape) != (batch,):
        got = f"{t.dtype} of shape {tuple(t.shape)}" if isinstance(t, torch.Tensor) else repr(t)
        raise Failure(
            f"the model was called with t = {got}; expected a LongTensor of shape ({batch},), "
            "one 0-based index per example",
            hint,
        )
    steps = t.detach().cpu().numpy()
    if steps.min() < 0 or steps.max() > T - 1:
        raise Failure(
            f"the model was called with the index {int(steps.max() if steps.max() > T - 1 else steps.min())}, "
            f"but the schedule's indices run from 0 to {T - 1}",
            hint,
        )
    return steps


# ----------------------------------------------------------------------------- models
STEP_HINT = (
    "Give the model the very index t (0-based, one per example) that made x_t: the index drawn "
    "from 0 to T - 1, not the paper's step t + 1."
)


class _Knowing(nn.Module):
    """The exact noise predictor when the data is the single point ``c``: it recovers the noise.

    $\\varepsilon = (x_t - \\sqrt{\\bar\\alpha_t}\\,c) / \\sqrt{1 - \\bar\\alpha_t}$ at the index it is
    given (eq. C1.2 solved for $\\varepsilon$), with ``abar`` computed by a loop. Records every call.
    """

    def __init__(self, c: torch.Tensor, abar: np.ndarray = ABAR) -> None:
        super().__init__()
        self.c, self.abar, self.calls = c, torch.tensor(abar), []

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        steps = _index(t, len(self.abar), x_t.shape[0], STEP_HINT)
        self.calls.append((self.training, torch.is_grad_enabled(), steps, x_t.detach().clone()))
        a = self.abar[steps].to(x_t.dtype).reshape(-1, *([1] * (x_t.ndim - 1)))
        return (x_t - a.sqrt() * self.c.to(x_t.dtype)) / (1 - a).sqrt()


class _Recorder(nn.Module):
    """Predicts ``scale * x_t`` (0 by default) and records the steps and states it is called with."""

    def __init__(self, T: int, scale: float = 0.0) -> None:
        super().__init__()
        self.T, self.scale, self.calls = T, scale, []

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        steps = _index(t, self.T, x_t.shape[0], STEP_HINT)
        self.calls.append((self.training, steps, float(x_t.detach().abs().max())))
        return self.scale * x_t


# ----------------------------------------------------------------------------- simple_loss
class _Scale(nn.Module):
    """$\\varepsilon_\\theta(x_t, t) = w\\,x_t$ with one parameter $w$."""

    def __init__(self, w: float) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w, dtype=torch.float64))

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.w.to(x_t.dtype) * x_t


CONTRACT.function(
    "simple_loss",
    lambda: call(
        _Scale(0.5),
        _randn(16, 3, seed=1),
        _schedule(),
        torch.Generator().manual_seed(0),
    ),
    hints=(
        "Eq. (C5.1), DDPM's Algorithm 1 for a whole batch: every example gets its own step and "
        "its own noise; the model is asked for that noise, and the loss is the mean squared error.",
        "Draw one 0-based index per example, uniformly from 0 to T - 1, and standard normal noise "
        "of the batch's shape, both from the generator (on x0's device). Noise the batch with "
        "q_sample, passing that same noise. Call the model on the noisy batch and the indices; "
        "return the mean, over the examples and the coordinates, of the squared difference "
        "between the noise and the prediction — a scalar tensor that keeps its gradient.",
    ),
)
LOSS_HINT = (
    "Follow eq. (C5.1): t ~ U{0, ..., T-1} and eps ~ N(0, I) per example from the generator, "
    "x_t = q_sample(x0, t, schedule, noise=eps), and the mean of (eps - model(x_t, t))^2 over "
    "every example and coordinate."
)


@check(
    "simple_loss",
    hint="Return one number for the whole batch, with its gradient: no .item(), no .detach().",
)
def loss_is_a_scalar_that_carries_gradients(impl):
    """The loss is a 0-dimensional tensor through which gradients reach the model's parameters."""
    model = _Scale(0.3)
    loss = impl.simple_loss(
        model, _randn(32, 3, seed=2), _schedule(), torch.Generator().manual_seed(1)
    )
    expect(
        isinstance(loss, torch.Tensor) and loss.ndim == 0,
        f"the loss has shape {tuple(getattr(loss, 'shape', ()))}, expected a scalar (shape ())",
        "Average over every axis — the examples and the coordinates — so that the loss is one "
        "number: torch.mean of the squared error, with no dim argument.",
    )
    expect(
        loss.requires_grad,
        "the loss does not require grad: the optimiser would get no gradient from it",
        "Keep the model's prediction in the autograd graph: no .detach(), no torch.no_grad(), no "
        ".item() inside the loss.",
    )
    loss.backward()
    expect(
        model.w.grad is not None
        and math.isfinite(float(model.w.grad))
        and float(model.w.grad) != 0,
        f"the gradient of the loss with respect to the model's parameter is {model.w.grad}",
        "The loss must depend on the model's output: compare the noise with model(x_t, t).",
    )


@check("simple_loss", hint=LOSS_HINT)
def a_model_that_knows_the_data_scores_zero(impl):
    """With all data at one point, the model that knows it recovers the noise exactly: the loss is 0."""
    c = _randn(3, seed=3)
    x0 = c.repeat(4096, 1)
    model = _Knowing(c)
    loss = float(impl.simple_loss(model, x0, _schedule(), torch.Generator().manual_seed(2)))
    if loss < 1e-16:
        return
    expect(model.calls, "the model was never called", LOSS_HINT)
    # noise drawn twice: the target eps' is independent of the eps that made x_t, so each squared
    # error is (eps' - eps)^2 = 2 chi^2_1, of mean 2 and variance 8
    se = math.sqrt(8 / x0.numel())
    if abs(loss - 2.0) < 6 * se:
        expect(
            False,
            f"the loss of a model that predicts the noise exactly is {loss:.4g}, about 2 = "
            "E[(eps' - eps)^2] for two independent noises: the noise was drawn twice, once for "
            "x_t and once for the target",
            "The noise drawn twice: draw eps once and pass it to q_sample (noise=eps) rather "
            "than letting q_sample draw its own, and compare that same eps with model(x_t, t).",
        )
    target_x0 = float((c**2).mean()) + 1.0  # E (c - eps)^2 per coordinate
    if abs(loss - target_x0) < 0.35 * target_x0:
        expect(
            False,
            f"the loss of a model that predicts the noise exactly is {loss:.4g}, about "
            f"E[(x0 - eps)^2] = {target_x0:.3g}: the target is x0",
            "The target is the noise eps that made x_t, not the data x0: compare eps with "
            "model(x_t, t).",
        )
    expect(
        False,
        f"the loss of a model that predicts the noise exactly is {loss:.4g}, expected 0",
        "The noise you compare with must be the noise that made x_t, at the step the model is "
        "told: noise with sqrt(abar_t) and sqrt(1 - abar_t) (q_sample does), passing "
        "q_sample that eps and those t.",
    )


@check(
    "simple_loss",
    hint="Draw t with torch.randint(0, schedule.T, (B,), generator=...): one index per example, every index from 0 to T - 1.",
)
def steps_are_uniform_over_every_index(impl):
    """Every example gets its own step, uniform over the indices 0, ..., T - 1 (counts within a Bonferroni bound)."""
    n, T = 20_000, len(BETAS)
    model = _Recorder(T)
    impl.simple_loss(
        model, torch.zeros(n, 1, dtype=torch.float64), _schedule(), torch.Generator().manual_seed(3)
    )
    expect(model.calls, "the model was never called")
    steps = model.calls[0][1]
    counts = np.bincount(steps, minlength=T)
    expect(
        (counts > 0).sum() > 1,
        f"all {n} examples got the same step {int(steps[0])}",
        "Draw one index per example — a tensor of shape (B,) — not one index for the whole batch.",
    )
    p = 1.0 / T
    se = math.sqrt(n * p * (1 - p))
    # one verdict over the T counts: a Bonferroni bound keeps the false-alarm rate at FAILURE_RATE
    bound = NormalDist().inv_cdf(1 - FAILURE_RATE / (2 * T))
    for index, count in enumerate(counts):
        z = abs(count - n * p) / se
        expect(
            z <= bound,
            f"index {index} was drawn for {count} of {n} examples, expected {n * p:.0f} ± {se:.0f} "
            f"(1 s.e.): {z:.1f} standard errors away (a correct sampler stays within {bound:.1f} "
            "but once in a million runs)",
            "The steps are uniform over the 0-based indices 0, 1, ..., T - 1: "
            "torch.randint(0, schedule.T, ...) — its upper end is excluded, and index 0 (the paper's "
            "t = 1) is a step like the others.",
        )


@check("simple_loss", hint=LOSS_HINT)
def loss_is_the_mean_over_examples_and_coordinates(impl):
    """With eps_theta = k x_t on a fixed x0, the loss matches its closed-form mean over t and eps (in standard errors)."""
    k, n = 0.5, 20_000
    c = np.array([1.5, -1.0, 0.5])
    d = len(c)
    x0 = torch.tensor(c).repeat(n, 1)
    got = float(
        impl.simple_loss(lambda x, t: k * x, x0, _schedule(), torch.Generator().manual_seed(4))
    )
    # given t: e_j = (1 - k s) eps_j - k a c_j, with a = sqrt(abar), s = sqrt(1 - abar)
    a, s = np.sqrt(ABAR), np.sqrt(1 - ABAR)
    sigma2 = (1 - k * s) ** 2
    mu2 = (k * a[:, None] * c[None, :]) ** 2  # (T, d)
    mean_t = (mu2 + sigma2[:, None]).mean(axis=1)  # E[m | t], m the mean over the coordinates
    var_t = (2 * sigma2[:, None] ** 2 + 4 * mu2 * sigma2[:, None]).sum(axis=1) / d**2
    expected = mean_t.mean()
    variance = var_t.mean() + mean_t.var()
    se = math.sqrt(variance / n)
    for factor, hint in (
        (
            d,
            "Average over the coordinates too, not only over the examples: the mean of all B × d squared errors.",
        ),
        (n * d, "Take the mean of the squared errors, not their sum."),
    ):
        if abs(got - factor * expected) < 10 * factor * se:
            expect(
                False, f"the loss is {got:.5g}, {factor} times the expected {expected:.5g}", hint
            )
    assert_within_se(
        got,
        expected,
        se,
        "the loss of eps_theta = 0.5 x_t",
        hint="The loss is the mean of the squared error (eps - prediction)^2 — squared, not its "
        "absolute value or its root — with no weight per step.",
    )


# ----------------------------------------------------------------------------- training_step
class _Linear(nn.Module):
    """$\\varepsilon_\\theta(x_t) = w \\odot x_t + b$, float64, recording the inputs of every call."""

    def __init__(self, w: list[float], b: list[float], poison: bool = False) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w, dtype=torch.float64))
        self.b = nn.Parameter(torch.tensor(b, dtype=torch.float64))
        self.poison, self.calls = poison, []

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        steps = _index(t, len(BETAS), x_t.shape[0], STEP_HINT)
        self.calls.append((steps, x_t.detach().to(torch.float64).clone(), _autocast_on()))
        out = self.w * x_t.to(torch.float64) + self.b
        return out * float("nan") if self.poison else out


def _autocast_on() -> bool:
    try:
        return bool(torch.is_autocast_enabled("cpu"))
    except TypeError:  # an older PyTorch
        return bool(torch.is_autocast_cpu_enabled())


C_POINT = np.array([0.8, -0.3, 0.5])


def _step_example() -> object:
    model = _Linear([0.2, -0.1, 0.4], [0.0, 0.5, -0.5])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # called again on the same model
    data = torch.tensor(C_POINT).repeat(8, 1).float()
    return call(model, optimizer, data, _schedule(), torch.Generator().manual_seed(0), 1.0)


CONTRACT.function(
    "training_step",
    _step_example,
    uses=("simple_loss",),
    hints=(
        "Eq. (C5.2): one step of gradient descent on the loss of this batch (loss_fn, or the "
        "simple loss when none is given) — the "
        "gradient of this batch only, its norm clipped, then the optimiser's update.",
        "Clear the gradients left in the parameters; compute the loss inside the autocast block — "
        "with loss_fn when it is given, with simple_loss when it is None; if the loss is not finite, return it at once, taking no step. Otherwise "
        "back-propagate, clip the global norm of the gradient when grad_clip is given (before the "
        "update, which uses the gradient), take the optimiser's step, and return the loss as a "
        "Python float.",
    ),
)
STEP_TRAINING_HINT = (
    "Follow eq. (C5.2) in order: optimizer.zero_grad(), the loss (loss_fn(...) when given, else "
    "simple_loss(...)), loss.backward(), "
    "clip the gradient's norm (when grad_clip is given), optimizer.step(), return loss.item()."
)


def _expected_step(
    model: _Linear, before: dict[str, np.ndarray], lr: float, clip: float | None
) -> tuple[dict[str, np.ndarray], float, dict[str, np.ndarray]]:
    """Parameters after an SGD step on the recorded batch, the batch's loss and the raw gradient.

    The data is the single point ``C_POINT``, so the noise is recovered from each recorded x_t.
    """
    steps, x_t, _ = model.calls[0]
    x = x_t.numpy()
    a = ABAR[steps][:, None]
    eps = (x - np.sqrt(a) * C_POINT) / np.sqrt(1 - a)
    error = eps - (before["w"] * x + before["b"])
    count = error.size
    loss = float((error**2).mean())
    grad = {"w": -2 * (error * x).sum(axis=0) / count, "b": -2 * error.sum(axis=0) / count}
    norm = math.sqrt(sum(float((g**2).sum()) for g in grad.values()))
    scale = min(1.0, clip / (norm + 1e-6)) if clip is not None else 1.0
    return {n: before[n] - lr * scale * grad[n] for n in grad}, loss, grad


def _run_step(impl, clip: float | None, lr: float = 0.1, stale: float | None = None):
    model = _Linear([0.0, 0.0, 0.0], [3.0, 3.0, 3.0])  # errs by about 3: a gradient of norm ~10
    before = {n: to_numpy(p).copy() for n, p in model.named_parameters()}
    if stale is not None:
        for p in model.parameters():
            p.grad = torch.full_like(p, stale)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    data = torch.tensor(C_POINT).repeat(16, 1)
    loss = impl.training_step(
        model, optimizer, data, _schedule(), torch.Generator().manual_seed(5), clip
    )
    expect(
        model.calls,
        "the model was never called",
        "Compute the loss with simple_loss when loss_fn is None: it calls the model.",
    )
    after = {n: to_numpy(p).copy() for n, p in model.named_parameters()}
    return model, before, after, loss


def _unchanged(before: dict, after: dict) -> bool:
    return all(np.array_equal(before[n], after[n]) for n in before)


@check("training_step", hint=STEP_TRAINING_HINT)
def the_step_follows_the_gradient_of_the_batch(impl):
    """One SGD step moves the parameters by -lr times the exact gradient of the batch's loss, and returns that loss."""
    model, before, after, loss = _run_step(impl, clip=None)
    expected, expected_loss, _ = _expected_step(model, before, 0.1, None)
    expect(
        not _unchanged(before, after),
        "the parameters did not move",
        "Back-propagate with loss.backward() and then call optimizer.step(), in that order, and "
        "clear the gradients before the backward pass, not between it and the step.",
    )
    for name in expected:
        assert_close(
            after[name],
            expected[name],
            f"parameter {name} after one step (no clipping asked)",
            rtol=1e-9,
            hint="The update uses the gradient of this batch's loss as it is: without grad_clip, "
            "do not clip.",
        )
    expect(
        isinstance(loss, float) and math.isclose(loss, expected_loss, rel_tol=1e-9),
        f"training_step returned {loss!r}; the loss of the batch before the step is {expected_loss:.6g}",
        "Return loss.item(): the loss computed before the step, as a Python float.",
    )


@check(
    "training_step",
    hint="When loss_fn is given, it is the loss of the step: call it as "
    "loss_fn(model, x0, schedule, generator) where the simple loss is called otherwise.",
)
def the_loss_it_is_given_is_the_one_minimised(impl):
    """With ``loss_fn`` given, the step descends that loss (here the squared norm of w) and returns it."""
    model = _Linear([0.5, -1.0, 2.0], [0.0, 0.0, 0.0])
    before = to_numpy(model.w).copy()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    data = torch.tensor(C_POINT).repeat(4, 1)

    def weight_norm(network, x0, schedule, generator):
        return (network.w**2).sum()

    loss = impl.training_step(
        model,
        optimizer,
        data,
        _schedule(),
        torch.Generator().manual_seed(1),
        None,
        "fp32",
        weight_norm,
    )
    # d/dw |w|^2 = 2 w, and b has no gradient: SGD leaves it where it was
    assert_close(
        to_numpy(model.w),
        before - 0.1 * 2 * before,
        "w after one step on loss_fn = |w|^2",
        rtol=1e-9,
        hint="The step must descend the loss it is given: compute the loss with loss_fn when it "
        "is not None, and with simple_loss only when it is.",
    )
    expect(
        isinstance(loss, float) and math.isclose(loss, float((before**2).sum()), rel_tol=1e-9),
        f"training_step returned {loss!r}; loss_fn's value before the step is {float((before**2).sum()):.6g}",
        "Return the value of the loss that was minimised — loss_fn's, when it is given.",
    )


@check(
    "training_step",
    hint="Clear the gradients first (optimizer.zero_grad()): backward adds to what is already there.",
)
def stale_gradients_are_cleared_first(impl):
    """Gradients left in the parameters before the call do not enter the step."""
    model, before, after, _ = _run_step(impl, clip=None, stale=5.0)
    expected, _, grad = _expected_step(model, before, 0.1, None)
    stale = {n: before[n] - 0.1 * (grad[n] + 5.0) for n in grad}
    if all(np.allclose(after[n], stale[n], rtol=1e-9) for n in grad):
        expect(
            False,
            "the step used the gradient of the batch plus the gradient left in the parameters",
            "loss.backward() adds to the .grad already there: call optimizer.zero_grad() before "
            "the backward pass, so that the step uses this batch's gradient alone.",
        )
    for name in expected:
        assert_close(
            after[name],
            expected[name],
            f"parameter {name} after a step that started with old gradients",
            rtol=1e-9,
            hint="Clear the gradients at the start (optimizer.zero_grad()), then backward, then step.",
        )


@check(
    "training_step",
    hint="Clip with torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip) after backward and before optimizer.step().",
)
def the_gradient_norm_is_clipped_before_the_step(impl):
    """With grad_clip = 0.5, the step uses the gradient scaled to global norm 0.5 (all parameters together)."""
    model, before, after, _ = _run_step(impl, clip=0.5)
    expected, _, grad = _expected_step(model, before, 0.1, 0.5)
    unclipped = {n: before[n] - 0.1 * grad[n] for n in grad}
    if all(np.allclose(after[n], unclipped[n], rtol=1e-9) for n in grad):
        expect(
            False,
            "the step used the unclipped gradient",
            "Clip between loss.backward() and optimizer.step(): clipping after the step changes "
            "nothing that step used.",
        )
    for name in expected:
        assert_close(
            after[name],
            expected[name],
            f"parameter {name} after a step with grad_clip = 0.5",
            rtol=1e-6,
            hint="Clip the global norm of the gradient — over all parameters together "
            "(clip_grad_norm_), not each parameter on its own, and not each entry (clip_grad_value_).",
        )


@check(
    "training_step",
    hint="If the loss is NaN or infinite, return it before backward: no step with a poisoned gradient.",
)
def a_loss_that_is_not_finite_takes_no_step(impl):
    """When the loss is NaN, the parameters are left as they were and NaN is returned."""
    model = _Linear([0.1, 0.2, 0.3], [0.0, 0.0, 0.0], poison=True)
    before = {n: to_numpy(p).copy() for n, p in model.named_parameters()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    data = torch.tensor(C_POINT).repeat(8, 1)
    loss = impl.training_step(model, optimizer, data, _schedule(), torch.Generator().manual_seed(6))
    after = {n: to_numpy(p).copy() for n, p in model.named_parameters()}
    expect(
        _unchanged(before, after),
        "a NaN loss changed the parameters",
        "Check torch.isfinite(loss) before loss.backward(): when it fails, return the loss "
        "without a step, so that the weights stay as they were and the caller can stop.",
    )
    expect(
        isinstance(loss, float) and math.isnan(loss),
        f"for a NaN loss training_step returned {loss!r}, expected nan",
        "Return the loss itself, NaN or not (loss.item()): the caller decides to stop.",
    )


@check(
    "training_step",
    hint="Compute the loss inside `with autocast:`: with precision 'bf16' the model runs under bfloat16 autocast.",
)
def bf16_runs_the_model_under_autocast(impl):
    """With precision 'bf16' the model is called under autocast; with 'fp32', not."""
    for precision, wanted in (("bf16", True), ("fp32", False)):
        model = _Linear([0.1, 0.2, 0.3], [0.0, 0.0, 0.0])
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
        data = torch.tensor(C_POINT).repeat(8, 1).float()
        impl.training_step(
            model, optimizer, data, _schedule(), torch.Generator().manual_seed(7), None, precision
        )
        expect(model.calls, "the model was never called")
        expect(
            model.calls[0][2] == wanted,
            f"with precision {precision!r} the model ran with autocast {'off' if wanted else 'on'}",
            "Compute the loss inside the block `with autocast:` — the context made above the "
            "exercise, enabled only for 'bf16'.",
        )


# ----------------------------------------------------------------------------- ema_update
class _WithBuffer(nn.Module):
    """Two linear layers and a float buffer (like a norm layer's running statistics)."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.first = nn.Linear(3, 4).double()
        self.second = nn.Linear(4, 2).double()
        self.register_buffer("running", torch.zeros(4, dtype=torch.float64))
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=generator, dtype=torch.float64))
            self.running.copy_(torch.randn(4, generator=generator, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(self.first(x))


def _ema_pair() -> tuple[nn.Module, nn.Module]:
    ema = _WithBuffer(10).requires_grad_(False)
    return ema, _WithBuffer(11)


CONTRACT.function(
    "ema_update",
    lambda: call(*_ema_pair(), 0.9),
    invalid=[
        Invalid(
            "ema", lambda args: nn.Linear(2, 2).double(), "ema with other parameters than model"
        )
    ],
    hints=(
        "Eq. (C5.4): every averaged weight keeps a share decay of itself and takes the share "
        "1 - decay of the model's weight, in place; buffers are copied as they are.",
        "Without recording gradients, go through the EMA's parameters and the model's side by "
        "side; replace each averaged one, in place, by decay times itself plus (1 - decay) times "
        "the model's. Then copy each of the model's buffers into the EMA's buffer of the same "
        "place. The model is only read.",
    ),
)
EMA_HINT = (
    "theta_ema <- decay * theta_ema + (1 - decay) * theta, in place, for every parameter "
    "(averaged.lerp_(current, 1 - decay) under torch.no_grad()); buffers copied."
)


def _params(module: nn.Module) -> list[np.ndarray]:
    return [to_numpy(p).copy() for p in module.parameters()]


@check(
    "ema_update",
    hint="Write into the EMA's own tensors only; read the model's.",
)
def the_model_is_left_alone_and_nothing_is_shared(impl):
    """The model's parameters do not change, and the EMA keeps tensors of its own."""
    ema, model = _ema_pair()
    target = _params(model)
    impl.ema_update(ema, model, 0.9)
    expect(
        all(np.array_equal(a, b) for a, b in zip(_params(model), target, strict=True)),
        "the update changed the model's parameters",
        "Update the EMA toward the model, not the model toward the EMA: write into the EMA's "
        "parameters only.",
    )
    shared = [
        n
        for (n, a), b in zip(ema.named_parameters(), model.parameters(), strict=True)
        if a.data_ptr() == b.data_ptr()
    ]
    expect(
        not shared,
        f"the EMA's {', '.join(shared)} share memory with the model's: training the model would change the average",
        "Copy values into the EMA's own tensors (in place); do not make them point to the model's "
        "(averaged.data = current.data).",
    )


@check("ema_update", hint=EMA_HINT)
def ema_moves_a_share_one_minus_decay_toward_the_model(impl):
    """One update gives decay * ema + (1 - decay) * model; n updates toward a fixed model, its closed form."""
    ema, model = _ema_pair()
    start, target = _params(ema), _params(model)
    impl.ema_update(ema, model, 0.9)
    got = _params(ema)
    if all(np.allclose(g, s) for g, s in zip(got, start, strict=True)):
        expect(
            False,
            "the EMA's parameters did not change",
            "Update the EMA's parameters in place (averaged.lerp_(...), or .mul_().add_()); "
            "assigning a new tensor to the loop variable changes nothing in the module.",
        )
    if all(np.allclose(g, m) for g, m in zip(got, target, strict=True)):
        expect(
            False,
            "after one update the EMA equals the model: its average was dropped",
            "Move only a share 1 - decay of the way toward the model; the average keeps decay of itself.",
        )
    swapped = [0.1 * s + 0.9 * m for s, m in zip(start, target, strict=True)]
    if all(np.allclose(g, w) for g, w in zip(got, swapped, strict=True)):
        expect(
            False,
            "the update kept 0.1 of the average and took 0.9 of the model: decay is inverted",
            "decay is the share of the average that is kept: decay * theta_ema + (1 - decay) * "
            "theta — lerp_(current, weight) moves a share weight toward current, so weight = 1 - decay.",
        )
    for g, s, m in zip(got, start, target, strict=True):
        assert_close(g, 0.9 * s + 0.1 * m, "an averaged parameter after one update", hint=EMA_HINT)
    for _ in range(4):
        impl.ema_update(ema, model, 0.9)
    for g, s, m in zip(_params(ema), start, target, strict=True):
        assert_close(
            g,
            m + 0.9**5 * (s - m),
            "an averaged parameter after five updates (theta + decay^5 (theta_ema - theta))",
            hint=EMA_HINT,
        )


@check(
    "ema_update",
    hint="After the parameters, copy every buffer of the model into the EMA's: averaged.copy_(current).",
)
def buffers_are_copied_not_averaged(impl):
    """The EMA's buffers equal the model's after an update (statistics are copied, not averaged)."""
    ema, model = _ema_pair()
    before = to_numpy(ema.running).copy()
    impl.ema_update(ema, model, 0.9)
    got, wanted = to_numpy(ema.running), to_numpy(model.running)
    expect(
        not np.allclose(got, before),
        "the EMA's buffer was left as it was",
        "Buffers (a norm layer's running statistics) are not parameters: copy each of the "
        "model's buffers into the EMA's (for averaged, current in zip(ema.buffers(), model.buffers())).",
    )
    assert_close(
        got,
        wanted,
        "the EMA's buffer after an update",
        hint="Copy the buffers (averaged.copy_(current)); do not average them like the weights.",
    )


@check(
    "ema_update",
    hint="Update under torch.no_grad(): the average is not part of any gradient computation.",
)
def the_update_records_no_gradients(impl):
    """The update works on a deep copy whose parameters require grad, and leaves no autograd history."""
    model = _WithBuffer(12)
    ema = copy.deepcopy(model)  # a copy of a model being trained: its parameters require grad
    with torch.no_grad():
        for p in ema.parameters():
            p.mul_(0.5)
    no_grad = (
        "Wrap the update in with torch.no_grad(): otherwise every update adds to a graph "
        "that is never freed."
    )
    try:
        impl.ema_update(ema, model, 0.99)
    except RuntimeError as error:  # in-place on a leaf that requires grad, outside no_grad
        expect("requires grad" not in str(error), f"the update raised {error}", no_grad)
        raise
    tracked = [n for n, p in ema.named_parameters() if p.grad_fn is not None]
    expect(
        not tracked,
        f"the EMA's {', '.join(tracked)} now carry autograd history",
        no_grad,
    )


# ----------------------------------------------------------------------------- sample_images
def _sample_example() -> object:
    return call(
        _Recorder(len(BETAS), 0.1), 3, (1, 2, 2), _schedule(), torch.Generator().manual_seed(0)
    )


CONTRACT.function(
    "sample_images",
    _sample_example,
    invalid=[Invalid("model", lambda args: lambda x, t: x, "a plain function, not an nn.Module")],
    hints=(
        "Eq. (C5.6): DDPM's Algorithm 2 is written already (ddpm_sample, Core Task 2); what is "
        "left is to run the network the way sampling needs it, and leave it as it was found.",
        "Remember whether the network is in training mode; switch it to evaluation mode; call "
        "ddpm_sample for num images of image_shape — the batch shape is num followed by the image's "
        "shape — with the generator and with the estimate of x0 clipped at every step; whatever "
        "happens, put the network back in the mode it was in; return the images.",
    ),
)
SAMPLE_HINT = (
    "Run ddpm_sample(model, (num, *image_shape), schedule, clip_x0=True, generator=generator) "
    "with the model in eval mode, then restore the mode it had."
)


@check("sample_images", hint=SAMPLE_HINT)
def images_have_the_shape_asked(impl):
    """num images of image_shape come back: (num, C, H, W), for two channels and a non-square shape."""
    model = _Recorder(len(BETAS), 0.1)
    images = impl.sample_images(model, 5, (2, 3, 4), _schedule(), torch.Generator().manual_seed(1))
    expect(
        isinstance(images, torch.Tensor) and tuple(images.shape) == (5, 2, 3, 4),
        f"the images have shape {tuple(getattr(images, 'shape', ()))}, expected (5, 2, 3, 4)",
        "The batch's shape is num followed by the shape of one image: (num, *image_shape).",
    )


@check("sample_images", hint=SAMPLE_HINT)
def a_model_that_knows_the_data_returns_it(impl):
    """With the exact predictor of one-point data, every image is that point, after T calls at T-1, ..., 0."""
    c = torch.tensor([[[0.7, -0.2], [0.1, -0.9]]], dtype=torch.float64)
    model = _Knowing(c)
    images = impl.sample_images(model, 4, (1, 2, 2), _schedule(), torch.Generator().manual_seed(2))
    order = [int(call_[2][0]) for call_ in model.calls]
    expect(
        order == list(range(len(BETAS) - 1, -1, -1)),
        f"the model was called at the indices {order}, expected {list(range(len(BETAS) - 1, -1, -1))}",
        "Use ddpm_sample: DDPM's reverse process visits every index from T - 1 down to 0.",
    )
    assert_close(
        images,
        c.expand(4, 1, 2, 2),
        "the images drawn with the exact predictor of one-point data",
        rtol=1e-3,
        hint=SAMPLE_HINT,
    )


@check(
    "sample_images",
    hint="Call model.eval() before sampling: in training mode dropout thins every prediction at random.",
)
def the_model_samples_in_evaluation_mode(impl):
    """Every call of the network during sampling happens in evaluation mode."""
    model = _Recorder(len(BETAS), 0.1).train()
    impl.sample_images(model, 2, (1, 2, 2), _schedule(), torch.Generator().manual_seed(3))
    modes = {training for training, _, _ in model.calls}
    expect(model.calls, "the model was never called", SAMPLE_HINT)
    expect(
        modes == {False},
        "the network was called in training mode while sampling",
        "Switch the network to evaluation mode (model.eval()) before sampling: dropout and other "
        "training-only behaviour must be off.",
    )


@check(
    "sample_images",
    hint="Remember model.training before switching, and restore it with model.train(was_training) at the end.",
)
def the_model_is_put_back_in_its_mode(impl):
    """A network in training mode is left in training mode, and one in evaluation mode in evaluation mode."""
    for mode in (True, False):
        model = _Recorder(len(BETAS), 0.1).train(mode)
        impl.sample_images(model, 2, (1, 2, 2), _schedule(), torch.Generator().manual_seed(4))
        expect(
            model.training == mode,
            f"a network in {'training' if mode else 'evaluation'} mode came back in "
            f"{'training' if model.training else 'evaluation'} mode",
            "Keep was_training = model.training before model.eval(), and finish with "
            "model.train(was_training): the caller (a training loop) goes on as before — not "
            "model.train() whatever the mode was.",
        )


class _Failing(_Recorder):
    """A network that raises :class:`_Broken` at its third call, as a real one might (out of memory)."""

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if len(self.calls) == 2:
            raise _Broken("the network failed at its third call (raised by the check on purpose)")
        return super().forward(x_t, t)


class _Broken(RuntimeError):
    """The error :class:`_Failing` raises: the check tells it from the learner's own errors."""


@check(
    "sample_images",
    hint="Restore the mode in a finally block: the caller may catch the error and train on.",
)
def the_mode_is_restored_even_if_sampling_fails(impl):
    """A network in training mode that raises partway through sampling is back in training mode after."""
    model = _Failing(len(BETAS), 0.1).train()
    raised = False
    try:
        impl.sample_images(model, 2, (1, 2, 2), _schedule(), torch.Generator().manual_seed(6))
    except _Broken:
        raised = True
    expect(
        raised,
        "the network raised an error partway through sampling, but sample_images did not let it out",
        "Let the network's errors through: no except that swallows them; only restore the mode "
        "on the way out.",
    )
    expect(
        model.training,
        "the network raised an error partway through sampling, and came back in evaluation mode",
        "Switch back in a finally block (try: sample finally: model.train(was_training)): "
        "the caller may catch the error and go on training, in training mode.",
    )


@check(
    "sample_images",
    hint="Pass clip_x0=True to ddpm_sample: the estimate of x0 is clipped to [-1, 1] at every step.",
)
def x0_is_clipped_at_every_step(impl):
    """With the zero predictor on a 50-step cosine schedule, the states stay bounded and the images in [-1, 1]."""
    schedule = NoiseSchedule.cosine(50)
    model = _Recorder(50, 0.0)
    images = impl.sample_images(model, 16, (1, 3, 3), schedule, torch.Generator().manual_seed(5))
    largest = max(m for _, _, m in model.calls)
    # with x0_hat in [-1, 1], every state is sqrt(abar) x0_hat plus noise of standard deviation
    # below 1: beyond 10 is a 9-sigma event for one of 7 200 normal draws
    expect(
        largest < 10 and float(images.abs().max()) <= 1.0,
        f"the network was called with states up to {largest:.3g} and returned images up to "
        f"{float(images.abs().max()):.3g}: x0_hat = x_t / sqrt(abar_t) exploded",
        "Ask ddpm_sample to clip the estimate of x0 (clip_x0=True): at the end of the chain "
        "x_t / sqrt(abar_t) is huge, and the data lies in [-1, 1].",
    )


__all__ = ["CONTRACT"]
