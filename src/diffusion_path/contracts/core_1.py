"""Contract of Core Task 1: noise schedules and the forward process.

Ground truth comes from closed forms written here with NumPy and ``math`` (the schedule's
products, the cosine formula, the Gaussian law of $x_t$), never from the code under test.
The checks of ``q_sample`` and ``q_step`` hand them the library's ``NoiseSchedule``, so each
function is graded on its own.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from diffusion_path.contracts.asserts import (
    assert_close,
    assert_ks,
    assert_raises_value_error,
    assert_within_se,
    expect,
    normal_cdf,
    to_numpy,
)
from diffusion_path.contracts.base import Contract, Invalid, call
from diffusion_path.contracts.inputs import alpha_bars_by_loop as _alpha_bars
from diffusion_path.contracts.inputs import seeded_randn as _randn
from diffusion_path.diffusion.schedules import NoiseSchedule

CONTRACT = Contract("core-1")
check = CONTRACT.check

BETAS = np.array([0.05, 0.1, 0.2, 0.3, 0.5])


_numpy = to_numpy


CONTRACT.function(
    "linear_beta_schedule",
    lambda: call(7, 0.01, 0.3),
    hints=(
        "Eq. (C1.4): T numbers in equal steps, the first beta_start and the last beta_end — both "
        "ends included. Schedules are float64.",
        "The gap between neighbours is (beta_end - beta_start) / (T - 1), and entry t, counting "
        "from 0, is beta_start + t times the gap, so the last entry is exactly beta_end (for T = 1 "
        "the only entry is beta_start). One library call spaces T points evenly between two ends, "
        "both included; ask it for float64 from the start rather than converting float32 values.",
    ),
)
CONTRACT.function(
    "cosine_beta_schedule",
    lambda: call(20, 0.05, 0.999),
    hints=(
        "Eq. (C1.5) defines abar directly through f(tau), for tau = 0, 1, ..., T: T + 1 points. "
        "Each beta is what one step loses: one minus the ratio of consecutive abar values, capped.",
        "In float64: evaluate f(tau) = cos^2(((tau / T + s) / (1 + s)) pi / 2) at the T + 1 points "
        "tau = 0, 1, ..., T; divide every value by f(0) to get abar(tau). For t = 1, ..., T, "
        "beta_t = 1 - abar(t) / abar(t - 1), each value over the one before it: T numbers. Finally "
        "cap every beta at max_beta (the last one would otherwise be 1).",
    ),
)
CONTRACT.function(
    "NoiseSchedule",
    hints=(
        "Everything follows from the betas: each alpha is 1 - beta, abar is a running product "
        "(C1.2), abar_prev is abar shifted by one step with abar_0 = 1 in front, then the two "
        "coefficients of (C1.2) and the SNR (C1.3); the posterior's variance and mean weights are "
        "Core Task 2's eq. (C2.2) at every index at once (the page's table lists them). All "
        "float64.",
        "Each attribute is a length-T float64 tensor whose entry t belongs to step t + 1. alphas: "
        "1 - beta. alpha_bars: the cumulative product of the alphas. alpha_bars_prev: a 1, then "
        "all but the last of alpha_bars. sqrt_alpha_bars and sqrt_one_minus_alpha_bars: sqrt(abar) "
        "and sqrt(1 - abar). snr: abar / (1 - abar). posterior_variance: (1 - abar_prev) / (1 - "
        "abar) times beta, exactly 0 at index 0. posterior_log_variance_clipped: its log, with "
        "entry 0 replaced by the log of entry 1 (by log beta_1 when T = 1) so that it stays "
        "finite. posterior_mean_coef1: sqrt(abar_prev) beta / (1 - abar). posterior_mean_coef2: "
        "sqrt(alpha) (1 - abar_prev) / (1 - abar).",
    ),
    generic=False,
)
CONTRACT.function(
    "q_sample",
    lambda: call(
        _randn(4, 3, seed=1),
        torch.tensor([0, 4, 2, 1]),
        NoiseSchedule(torch.tensor(BETAS)),
        generator=torch.Generator().manual_seed(0),
    ),
    invalid=[
        Invalid(
            "noise",
            lambda a: torch.zeros(4, 2, dtype=torch.float64),
            "noise of another shape than x0",
        ),
        Invalid("t", torch.tensor([0, 1]), "2 indices for a batch of 4"),
    ],
    hints=(
        "Eq. (C1.2): one jump from the data to step t + 1 — the data scaled down by sqrt(abar), "
        "plus noise scaled by sqrt(1 - abar), with abar at each example's own index.",
        "With gather, read two numbers per example at its own index t: sqrt(abar_(t+1)) from "
        "sqrt_alpha_bars and sqrt(1 - abar_(t+1)) from sqrt_one_minus_alpha_bars, each shaped to "
        "broadcast over the example's other axes. The result is the first times x0 plus the second "
        "times the noise eps that the input checks gave you (your noise, or one drawn from the "
        "generator): do not draw noise again.",
    ),
)
CONTRACT.function(
    "q_step",
    lambda: call(
        _randn(3, 4, seed=2),
        torch.tensor([4, 0, 1]),
        NoiseSchedule(torch.tensor(BETAS)),
        generator=torch.Generator().manual_seed(0),
    ),
    invalid=[
        Invalid(
            "noise",
            lambda a: torch.zeros(3, 2, dtype=torch.float64),
            "noise of another shape than x_prev",
        )
    ],
    hints=(
        "Eq. (C1.1): one step of the chain keeps sqrt(1 - beta) of the state and adds noise of "
        "variance beta — beta of this step, not the cumulative abar.",
        "With gather, read per example at its index t alpha_(t+1) from alphas and beta_(t+1) from "
        "betas (one step's values, not the cumulative abar). The new state is sqrt(alpha_(t+1)) "
        "times x_prev plus sqrt(beta_(t+1)) times the noise eps that the input checks gave you: "
        "square roots of both, since beta is a variance and the noise is scaled by its standard "
        "deviation.",
    ),
)


# ----------------------------------------------------------------------------- linear_beta_schedule
LINEAR_HINT = (
    "Eq. (C1.4) gives exactly T values in float64: the first is beta_start and the last is "
    "beta_end — both ends included, so not T + 1 values and not a range that stops one step short."
)


@check("linear_beta_schedule", hint=LINEAR_HINT)
def linear_matches_closed_form(impl):
    """linear_beta_schedule(T, b0, b1) is the float64 tensor b0 + t (b1 - b0) / (T - 1)."""
    for T, b0, b1 in [(1000, 1e-4, 0.02), (7, 0.01, 0.3)]:
        betas = impl.linear_beta_schedule(T, b0, b1)
        expect(
            isinstance(betas, torch.Tensor), f"expected a torch.Tensor, got {type(betas).__name__}"
        )
        expect(betas.dtype == torch.float64, f"schedules are float64, got {betas.dtype}")
        expected = [b0 + t * (b1 - b0) / (T - 1) for t in range(T)]
        assert_close(_numpy(betas), expected, f"linear_beta_schedule({T}, {b0}, {b1})")
    assert_close(_numpy(impl.linear_beta_schedule(1000))[[0, -1]], [1e-4, 0.02], "the defaults")


# ----------------------------------------------------------------------------- cosine_beta_schedule
COSINE_HINT = (
    "Eq. (C1.5): f is a squared cosine of (tau / T + s) / (1 + s) times pi / 2, evaluated at the "
    "T + 1 points tau = 0, ..., T; abar is f divided by f(0); each beta is one minus the ratio of "
    "an abar to the one before it."
)


@check("cosine_beta_schedule", hint=COSINE_HINT)
def cosine_reproduces_alpha_bar(impl):
    """The product of (1 - beta) over the cosine schedule is f(t + 1) / f(0) (Improved DDPM eq. 17)."""
    for T, s in [(1000, 0.008), (20, 0.05)]:
        raw = impl.cosine_beta_schedule(T, s)
        expect(
            isinstance(raw, torch.Tensor) and raw.dtype == torch.float64,
            f"schedules are float64, got {getattr(raw, 'dtype', type(raw).__name__)}",
            "Compute the schedule in float64 (torch.arange(..., dtype=torch.float64)): products of "
            "numbers close to one lose their digits in float32.",
        )
        betas = _numpy(raw)
        expect(
            betas.shape == (T,),
            f"cosine_beta_schedule({T}) has shape {betas.shape}, expected ({T},)",
        )

        def f(tau, T=T, s=s):
            return math.cos((tau / T + s) / (1 + s) * math.pi / 2) ** 2

        expected = np.array([f(t + 1) / f(0) for t in range(T)])
        # the last beta is clipped at max_beta, so compare the products before it
        assert_close(
            _numpy(_alpha_bars(betas))[:-1], expected[:-1], f"alpha_bar of cosine({T}, s={s})"
        )
        expect(
            abs(betas[-1] - 0.999) < 1e-12,
            f"the last beta should be clipped to 0.999, got {betas[-1]}",
            "Cap every beta at max_beta: near tau = T the cosine runs to 0 and beta to 1.",
        )


@check(
    "cosine_beta_schedule",
    hint="Cap every beta at max_beta: near tau = T the ratio of cosines runs to 0 and beta to 1.",
)
def cosine_clips_at_max_beta(impl):
    """cosine_beta_schedule never exceeds max_beta, and every beta is positive."""
    betas = _numpy(impl.cosine_beta_schedule(50, max_beta=0.5))
    expect(betas.max() <= 0.5 + 1e-12, f"max_beta=0.5 was exceeded: {betas.max()}")
    expect(betas.min() > 0, "every beta must be positive")


# ----------------------------------------------------------------------------- NoiseSchedule
SCHEDULE_HINT = (
    "From the betas (C1.2)–(C1.3): alpha is one minus beta, abar a running product of the alphas, "
    "abar_prev the same one step earlier with abar_0 = 1 in front (the data), then the square "
    "roots and the SNR. Keep float64."
)
POSTERIOR_HINT = (
    "The posterior's variance and mean weights are Core Task 2's eq. (C2.2) at every index: they "
    "use abar_prev, so the variance is 0 at index 0 (abar_0 = 1), and its log there is replaced "
    "by index 1's so that it stays finite."
)


@check("NoiseSchedule", hint=SCHEDULE_HINT)
def schedule_derived_quantities(impl):
    """NoiseSchedule exposes T, betas, alphas, alpha_bars, alpha_bars_prev (first = 1) and snr."""
    schedule = impl.NoiseSchedule(torch.tensor(BETAS))
    abar = _alpha_bars(BETAS)
    expect(schedule.T == len(BETAS), f"T is {schedule.T}, expected {len(BETAS)}")
    for name, expected in [
        ("betas", BETAS),
        ("alphas", 1 - BETAS),
        ("alpha_bars", abar),
        ("alpha_bars_prev", np.concatenate([[1.0], abar[:-1]])),
        ("sqrt_alpha_bars", np.sqrt(abar)),
        ("sqrt_one_minus_alpha_bars", np.sqrt(1 - abar)),
        ("snr", abar / (1 - abar)),
    ]:
        value = getattr(schedule, name, None)
        expect(isinstance(value, torch.Tensor), f"NoiseSchedule.{name} should be a tensor")
        expect(
            value.dtype == torch.float64,
            f"NoiseSchedule.{name} should be float64, got {value.dtype}",
        )
        assert_close(_numpy(value), expected, f"NoiseSchedule.{name}")


@check("NoiseSchedule", hint=POSTERIOR_HINT)
def schedule_posterior_coefficients(impl):
    """The posterior coefficients match Bayes' rule for q(x_{t-1} | x_t, x_0), with variance 0 at t = 0."""
    schedule = impl.NoiseSchedule(torch.tensor(BETAS))
    abar = _alpha_bars(BETAS)
    variance, coef1, coef2 = [], [], []
    for t, beta in enumerate(BETAS):
        prev = 1.0 if t == 0 else abar[t - 1]
        # prior x_{t-1} | x0 ~ N(sqrt(prev) x0, 1 - prev); likelihood x_t | x_{t-1} ~ N(sqrt(1 - beta) x_{t-1}, beta)
        if t == 0:
            variance.append(0.0)
            coef1.append(1.0)
            coef2.append(0.0)
            continue
        precision = 1 / (1 - prev) + (1 - beta) / beta
        variance.append(1 / precision)
        coef1.append(math.sqrt(prev) / (1 - prev) / precision)
        coef2.append(math.sqrt(1 - beta) / beta / precision)
    assert_close(_numpy(schedule.posterior_variance), variance, "NoiseSchedule.posterior_variance")
    assert_close(_numpy(schedule.posterior_mean_coef1), coef1, "NoiseSchedule.posterior_mean_coef1")
    assert_close(_numpy(schedule.posterior_mean_coef2), coef2, "NoiseSchedule.posterior_mean_coef2")
    log_var = _numpy(schedule.posterior_log_variance_clipped)
    assert_close(log_var[1:], np.log(variance[1:]), "NoiseSchedule.posterior_log_variance_clipped")
    expect(
        math.isfinite(log_var[0])
        and abs(log_var[0] - math.log(variance[1])) < 1e-6 * abs(math.log(variance[1])),
        f"posterior_log_variance_clipped[0] is {log_var[0]:.6g}; it is index 1's value, "
        f"log(beta_tilde_2) = {math.log(variance[1]):.6g}, so that it stays finite",
        "At index 0 the variance is 0: replace its log by index 1's value (as the DDPM code does), "
        "not by the log of a tiny number.",
    )


@check("NoiseSchedule", hint=SCHEDULE_HINT)
def schedule_keeps_float64_digits(impl):
    """1 - abar near the first step keeps its float64 digits: the products are taken in float64."""
    T = 1000
    betas = np.linspace(1e-4, 0.02, T)
    schedule = impl.NoiseSchedule(torch.tensor(betas))
    exact = 1.0 - _alpha_bars(betas)[:5]
    got = 1.0 - _numpy(schedule.alpha_bars)[:5]
    worst = float(np.max(np.abs(got - exact) / exact))
    expect(
        worst < 1e-9,
        f"1 - abar at the first steps is off by a relative {worst:.2g}: the schedule lost digits",
        "Compute alphas and their running product in float64 from float64 betas — a float32 "
        "cumprod, converted afterwards, keeps the float32 error.",
    )


@check(
    "NoiseSchedule",
    hint="Check betas is 1-D, non-empty and inside (0, 1); raise ValueError naming 'betas'.",
)
def schedule_rejects_bad_betas(impl):
    """NoiseSchedule rejects betas of 0, 1, 1.2, an empty tensor and a 2-D tensor."""
    for bad, case in [
        (torch.tensor([0.1, 0.0]), "a beta of 0"),
        (torch.tensor([0.1, 1.0]), "a beta of 1"),
        (torch.tensor([1.2]), "a beta of 1.2"),
        (torch.tensor([]), "no betas"),
        (torch.full((2, 2), 0.1), "a 2-D tensor"),
    ]:
        assert_raises_value_error(lambda b=bad: impl.NoiseSchedule(b), "betas", case)


# ----------------------------------------------------------------------------- q_sample
Q_SAMPLE_HINT = (
    "Eq. (C1.2): the square roots of abar and of 1 - abar (not abar itself), at each example's own "
    "index — gather picks them per example and casts them to x0's dtype. Use the noise you are given."
)


@check("q_sample", hint=Q_SAMPLE_HINT)
def q_sample_with_given_noise(impl):
    """q_sample with given noise is sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, per example t, dtype kept."""
    schedule = NoiseSchedule(torch.tensor(BETAS))
    abar = _alpha_bars(BETAS)
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(4, 3, 2, 2, generator=gen, dtype=torch.float64)
    eps = torch.randn(4, 3, 2, 2, generator=gen, dtype=torch.float64)
    t = torch.tensor([0, 4, 2, 0])
    expected = np.sqrt(abar[t.numpy()])[:, None, None, None] * _numpy(x0) + np.sqrt(
        1 - abar[t.numpy()]
    )[:, None, None, None] * _numpy(eps)
    assert_close(
        _numpy(impl.q_sample(x0, t, schedule, noise=eps)), expected, "q_sample(x0, t, noise=eps)"
    )
    expected3 = math.sqrt(abar[3]) * _numpy(x0) + math.sqrt(1 - abar[3]) * _numpy(eps)
    assert_close(
        _numpy(impl.q_sample(x0, 3, schedule, noise=eps)), expected3, "q_sample with t an int"
    )
    out = impl.q_sample(x0.float(), t, schedule, noise=eps.float())
    expect(out.dtype == torch.float32, f"float32 data should give float32 x_t, got {out.dtype}")


@check("q_sample", hint=Q_SAMPLE_HINT)
def q_sample_follows_the_marginal(impl):
    """q_sample with a generator follows N(sqrt(abar_t) x0, 1 - abar_t) and is reproducible."""
    schedule = NoiseSchedule(torch.tensor(BETAS))
    abar = _alpha_bars(BETAS)
    n, x0_value, t = 20_000, 1.5, 2
    x0 = torch.full((n, 1), x0_value)
    x_t = _numpy(impl.q_sample(x0, t, schedule, generator=torch.Generator().manual_seed(1)))[:, 0]
    mu, sigma = math.sqrt(abar[t]) * x0_value, math.sqrt(1 - abar[t])
    assert_within_se(x_t.mean(), mu, sigma / math.sqrt(n), "the mean of x_t")
    assert_ks(x_t, lambda v: normal_cdf(v, mu, sigma), f"x_t at t={t}")
    a = impl.q_sample(x0[:5], t, schedule, generator=torch.Generator().manual_seed(3))
    b = impl.q_sample(x0[:5], t, schedule, generator=torch.Generator().manual_seed(3))
    expect(torch.equal(a, b), "the same seed gave different samples: use the generator argument")


# ----------------------------------------------------------------------------- q_step
Q_STEP_HINT = (
    "Eq. (C1.1): one step uses this step's beta — not the cumulative abar — as a variance: the "
    "noise is scaled by its square root, the state by the square root of one minus it. Index 0 "
    "maps the data to x_1."
)


@check("q_step", hint=Q_STEP_HINT)
def q_step_with_given_noise(impl):
    """q_step with given noise is sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps, per example t."""
    schedule = NoiseSchedule(torch.tensor(BETAS))
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    eps = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    t = torch.tensor([4, 0, 1])
    b = BETAS[t.numpy()][:, None]
    expected = np.sqrt(1 - b) * _numpy(x) + np.sqrt(b) * _numpy(eps)
    assert_close(
        _numpy(impl.q_step(x, t, schedule, noise=eps)), expected, "q_step(x, t, noise=eps)"
    )


@check("q_step", hint=Q_STEP_HINT)
def iterated_steps_match_the_closed_form(impl):
    """q_step at indices 0..3 from x0 gives x_4 ~ N(sqrt(abar_4) x0, 1 - abar_4) (alpha_bars[3]; DDPM eq. 4)."""
    schedule = NoiseSchedule(torch.tensor(BETAS))
    abar = _alpha_bars(BETAS)
    n, x0_value = 20_000, -2.0
    x = torch.full((n, 1), x0_value)
    gen = torch.Generator().manual_seed(2)
    for t in range(4):
        x = impl.q_step(x, t, schedule, generator=gen)
    x = _numpy(x)[:, 0]
    mu, sigma = math.sqrt(abar[3]) * x0_value, math.sqrt(1 - abar[3])
    assert_within_se(x.mean(), mu, sigma / math.sqrt(n), "the mean after 4 steps")
    assert_within_se(
        x.var(ddof=1), sigma**2, sigma**2 * math.sqrt(2 / (n - 1)), "the variance after 4 steps"
    )
    assert_ks(x, lambda v: normal_cdf(v, mu, sigma), "x after 4 forward steps")


__all__ = ["CONTRACT"]
