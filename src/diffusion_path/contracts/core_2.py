"""Contract of Core Task 2: the forward posterior, the ε/x₀/v conversions and ancestral sampling.

Ground truth: Bayes' rule for two Gaussians written out here in NumPy, DDPM eq. (4) solved by
hand, and — for the sampler — the exact oracle of ``diffusion_path.tools.oracle``. With
Gaussian data the oracle's noise prediction is linear in $x_t$, so every ancestral step is a
linear-Gaussian map and the law of the samples can be propagated exactly (mean and covariance,
in NumPy); with a mixture, the fraction of samples near each mode must match its weight.

The schedules are chosen to make mistakes visible: the first variance of ``BETAS`` is large, so
noise added at the last reverse step (index 0), or a loop that stops one step early, moves the
samples' covariance by many standard errors.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from diffusion_path.contracts.asserts import (
    assert_close,
    assert_ks,
    assert_within_se,
    expect,
    normal_cdf,
    to_numpy,
)
from diffusion_path.contracts.base import Contract, Invalid, call
from diffusion_path.contracts.inputs import alpha_bars_by_loop as _alpha_bars
from diffusion_path.contracts.inputs import seeded_randn as _randn
from diffusion_path.diffusion.schedules import NoiseSchedule
from diffusion_path.tools.oracle import GaussianMixtureOracle, GaussianOracle

CONTRACT = Contract("core-2")
check = CONTRACT.check

#: A short schedule with a large first variance: mistakes at index 0 cannot hide.
BETAS = np.array([0.3, 0.1, 0.2, 0.3, 0.5])


def _schedule(betas: np.ndarray = BETAS) -> NoiseSchedule:
    return NoiseSchedule(torch.tensor(betas))


def _bayes_posterior(x0: np.ndarray, x_t: np.ndarray, t: int, betas: np.ndarray) -> tuple:
    """Mean and variance of the posterior at index t by Bayes' rule, prior times likelihood.

    Index t is step t + 1: the prior is q(x_t | x_0) = N(sqrt(abar_t) x0, 1 - abar_t) (with
    abar_0 = 1 at index 0, a point mass at x0) and the likelihood q(x_{t+1} | x_t).
    """
    abar = _alpha_bars(betas)
    if t == 0:  # the state before the first step is x0 itself
        return x0, 0.0
    prev, beta = abar[t - 1], betas[t]
    precision = 1.0 / (1.0 - prev) + (1.0 - beta) / beta
    mean = (math.sqrt(prev) * x0 / (1.0 - prev) + math.sqrt(1.0 - beta) * x_t / beta) / precision
    return mean, 1.0 / precision


# ----------------------------------------------------------------------------- q_posterior
CONTRACT.function(
    "q_posterior",
    lambda: call(_randn(3, 2, seed=1), _randn(3, 2, seed=2), torch.tensor([0, 2, 4]), _schedule()),
    invalid=[
        Invalid(
            "x_t", lambda a: a["x0"][:, :1].clone(), "x_t of another shape than x0", ("x_t", "x0")
        ),
    ],
    hints=(
        "Bayes' rule for two Gaussians in the earlier state gives a Gaussian (page eqs. "
        "C2.1–C2.2): its mean weighs x0 and x_t by two numbers that depend only on the step, and "
        "its variance depends only on the step. The schedule holds all three, precomputed.",
        "With gather, read at each example's index t four schedule arrays: posterior_mean_coef1 "
        "and posterior_mean_coef2, the weights of x0 and x_t, so that the mean is coef1 x0 + coef2 "
        "x_t; posterior_variance, the variance; posterior_log_variance_clipped, its log (finite at "
        "index 0). gather shapes each to broadcast over an example's other axes; expand the "
        "variance and the log-variance to the full shape of x_t, since all three results have that "
        "shape.",
    ),
)
MEAN_HINT = (
    "The mean weighs x0 by sqrt(abar_{t-1}) beta_t / (1 - abar_t) and x_t by "
    "sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t), in the paper's steps (C2.2): at index t these "
    "are posterior_mean_coef1[t] and posterior_mean_coef2[t]. Pick them per example."
)
VARIANCE_HINT = (
    "The variance is beta_tilde = (1 - abar_{t-1}) / (1 - abar_t) beta_t (C2.2), the schedule's "
    "posterior_variance — not beta_t, and exactly 0 at index 0, where the earlier state is x0."
)


@check("q_posterior", hint=MEAN_HINT)
def posterior_is_bayes_rule(impl):
    """q_posterior's mean and variance equal Bayes' rule at every index, 0 included, in one batch."""
    x0, x_t = _randn(5, 3, seed=0), _randn(5, 3, seed=1)
    t = torch.tensor([0, 1, 2, 3, 4])
    mean, variance, log_variance = impl.q_posterior(x0, x_t, t, _schedule())
    for name, value in [("mean", mean), ("variance", variance), ("log_variance", log_variance)]:
        expect(
            tuple(value.shape) == (5, 3),
            f"the {name} has shape {tuple(value.shape)}, expected x_t's (5, 3)",
            "Return three tensors of x_t's shape: a per-example value from gather has shape "
            "(B, 1, ...); expand it with .expand_as(x_t).",
        )
    for i, step in enumerate(t.tolist()):
        m, v = _bayes_posterior(to_numpy(x0)[i], to_numpy(x_t)[i], step, BETAS)
        assert_close(to_numpy(mean)[i], m, f"the posterior mean at index {step}", hint=MEAN_HINT)
        assert_close(
            to_numpy(variance)[i],
            np.full(3, v),
            f"the posterior variance at index {step}",
            hint=VARIANCE_HINT,
        )


@check("q_posterior", hint="The log-variance is the schedule's posterior_log_variance_clipped[t].")
def posterior_log_variance_is_clipped(impl):
    """The log-variance is log(variance) for index >= 1 and finite (index 1's value) at index 0."""
    x = _randn(5, 2, seed=3)
    _, variance, log_variance = impl.q_posterior(x, x, torch.arange(5), _schedule())
    log_variance = to_numpy(log_variance)
    expect(
        np.all(np.isfinite(log_variance)),
        "the log-variance is not finite at index 0, where the variance is 0",
        "At index 0 the variance is 0 and its log is -inf: use posterior_log_variance_clipped, "
        "which holds index 1's value there.",
    )
    assert_close(
        log_variance[1:], np.log(to_numpy(variance))[1:], "the log-variance for index >= 1"
    )
    assert_close(
        log_variance[0], log_variance[1], "the log-variance at index 0 (clipped to index 1's)"
    )


@check("q_posterior", hint=VARIANCE_HINT)
def posterior_variance_keeps_float64_accuracy(impl):
    """With float32 data, the variance is the float64 value rounded once, even where it is tiny."""
    for T in (1000, 10_000):
        betas = np.clip(
            1
            - np.cos((np.arange(1, T + 1) / T) * math.pi / 2) ** 2
            / np.cos((np.arange(T) / T) * math.pi / 2) ** 2,
            None,
            0.999,
        )
        abar = np.cumprod(1 - betas)
        prev = np.concatenate([[1.0], abar[:-1]])
        exact = (1 - prev) / (1 - abar) * betas
        t = torch.tensor([0, 1, 2, T // 2, T - 1])
        x = torch.zeros(5, 1)
        _, variance, _ = impl.q_posterior(x, x, t, NoiseSchedule(torch.tensor(betas)))
        got = to_numpy(variance)[:, 0]
        expected = exact[t.numpy()]
        expect(
            np.all(np.isfinite(got)) and np.allclose(got, expected, rtol=1e-6, atol=0),
            f"at T = {T} (cosine, s = 0) the variance at indices {t.tolist()} is "
            f"{np.array2string(got, precision=6)}; exactly {np.array2string(expected, precision=6)}",
            "Do not recompute the variance from float32 copies of alpha_bars: 1 - abar is a small "
            "difference of numbers near one. Read the float64 posterior_variance and cast the "
            "gathered values once.",
        )


# ----------------------------------------------------------------------------- conversions
def _forward(seed: int):
    """x0, eps, t and x_t = sqrt(abar) x0 + sqrt(1 - abar) eps, written out by hand."""
    x0, eps = _randn(4, 2, seed=seed), _randn(4, 2, seed=seed + 1)
    t = torch.tensor([0, 2, 4, 1])
    abar = _alpha_bars(BETAS)[t.numpy()][:, None]
    x_t = np.sqrt(abar) * to_numpy(x0) + np.sqrt(1 - abar) * to_numpy(eps)
    v = np.sqrt(abar) * to_numpy(eps) - np.sqrt(1 - abar) * to_numpy(x0)
    return x0, eps, t, torch.tensor(x_t), torch.tensor(v)


CONVERSION_HINT = (
    "Solve x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps for the unknown (C2.3): square roots of "
    "abar_t and of 1 - abar_t, not abar_t itself, picked per example at its own index (not alpha_t,"
    " not abar_{t-1}, not the schedule's last value)."
)
V_HINT = (
    "v = sqrt(abar_t) eps - sqrt(1 - abar_t) x0 (C2.4): (x_t, v) is (x0, eps) rotated by an angle "
    "phi with cos(phi) = sqrt(abar_t), and the inverse rotation gives x0 and eps back."
)


def _conversion(name: str, args: str, other: str, hints: tuple[str, str]) -> None:
    """Declare a conversion: its example call (arguments by name), a mismatched ``other``, hints."""
    names = [a.strip() for a in args.split(",")]

    def example():
        x0, eps, t, x_t, v = _forward(7)
        values = {"x_t": x_t, "x0": x0, "eps": eps, "v": v, "t": t, "schedule": _schedule()}
        return call(*(values[a] for a in names))

    CONTRACT.function(
        name,
        example,
        invalid=[
            Invalid(
                other, lambda a: torch.zeros(4, 3, dtype=torch.float64), f"{other} of another shape"
            )
        ],
        hints=hints,
    )


_conversion(
    "predict_x0_from_eps",
    "x_t, t, eps, schedule",
    "eps",
    (
        "Eq. (C2.3), first line: the forward equation x_t = sqrt(abar) x0 + sqrt(1 - abar) eps, "
        "solved for x0.",
        "With gather, read sqrt(1 - abar) from sqrt_one_minus_alpha_bars and sqrt(abar) from "
        "sqrt_alpha_bars at each example's own index t. Subtract sqrt(1 - abar) times eps from "
        "x_t, then divide by sqrt(abar). Square roots, not abar itself; abar at the example's "
        "index (not alpha, not the previous step's abar).",
    ),
)
_conversion(
    "predict_eps_from_x0",
    "x_t, t, x0, schedule",
    "x0",
    (
        "Eq. (C2.3), second line: the forward equation solved for the noise.",
        "With gather, read sqrt(abar) from sqrt_alpha_bars and sqrt(1 - abar) from "
        "sqrt_one_minus_alpha_bars at each example's own index t. Subtract sqrt(abar) times x0 "
        "from x_t, then divide by sqrt(1 - abar).",
    ),
)
_conversion(
    "v_from_x0_eps",
    "x0, eps, t, schedule",
    "eps",
    (
        "Eq. (C2.4): the velocity mixes the noise and the data with the forward equation's two "
        "weights — swapped, and with a minus sign.",
        "With gather, read sqrt(abar) and sqrt(1 - abar) at each example's index t, shaped like "
        "x0. The velocity is sqrt(abar) times eps minus sqrt(1 - abar) times x0: the data's weight "
        "in the forward equation now multiplies the noise, and the noise's weight, negated, the "
        "data.",
    ),
)
_conversion(
    "predict_x0_from_v",
    "x_t, t, v, schedule",
    "v",
    (
        "Eq. (C2.4) and the lines below it: with cos(phi) = sqrt(abar), the pair (x_t, v) is (x0, "
        "eps) rotated by the angle phi. Rotate back to get x0.",
        "With gather, read sqrt(abar) and sqrt(1 - abar) at each example's index t. The estimate "
        "of x0 is sqrt(abar) times x_t minus sqrt(1 - abar) times v. (Check: put in x_t from "
        "(C1.2) and v from (C2.4); the eps terms cancel and abar + (1 - abar) = 1 is left in front "
        "of x0.)",
    ),
)
_conversion(
    "predict_eps_from_v",
    "x_t, t, v, schedule",
    "v",
    (
        "Eq. (C2.4) and the lines below it: with cos(phi) = sqrt(abar), the pair (x_t, v) is (x0, "
        "eps) rotated by the angle phi. Rotate back to get eps.",
        "With gather, read sqrt(abar) and sqrt(1 - abar) at each example's index t. The estimate "
        "of the noise is sqrt(1 - abar) times x_t plus sqrt(abar) times v: the other row of the "
        "inverse rotation. (Check: put in x_t and v; the x0 terms cancel.)",
    ),
)


@check("predict_x0_from_eps", hint=CONVERSION_HINT)
def x0_from_eps_inverts_the_forward_process(impl):
    """predict_x0_from_eps(x_t, t, eps) recovers the x0 that made x_t, for a batch of mixed indices."""
    x0, eps, t, x_t, _ = _forward(10)
    assert_close(impl.predict_x0_from_eps(x_t, t, eps, _schedule()), x0, "x0 from eps")


@check("predict_eps_from_x0", hint=CONVERSION_HINT)
def eps_from_x0_inverts_the_forward_process(impl):
    """predict_eps_from_x0(x_t, t, x0) recovers the eps that made x_t, for a batch of mixed indices."""
    x0, eps, t, x_t, _ = _forward(20)
    assert_close(impl.predict_eps_from_x0(x_t, t, x0, _schedule()), eps, "eps from x0")


@check("v_from_x0_eps", hint=V_HINT)
def v_matches_its_definition(impl):
    """v_from_x0_eps is sqrt(abar) eps - sqrt(1 - abar) x0, and x_t^2 + v^2 = x0^2 + eps^2."""
    x0, eps, t, x_t, v = _forward(30)
    got = to_numpy(impl.v_from_x0_eps(x0, eps, t, _schedule()))
    assert_close(got, v, "v")
    assert_close(
        to_numpy(x_t) ** 2 + got**2,
        to_numpy(x0) ** 2 + to_numpy(eps) ** 2,
        "x_t^2 + v^2 (a rotation)",
    )


@check("predict_x0_from_v", hint=V_HINT)
def x0_from_v(impl):
    """predict_x0_from_v(x_t, t, v) recovers x0."""
    x0, _, t, x_t, v = _forward(40)
    assert_close(impl.predict_x0_from_v(x_t, t, v, _schedule()), x0, "x0 from v")


@check("predict_eps_from_v", hint=V_HINT)
def eps_from_v(impl):
    """predict_eps_from_v(x_t, t, v) recovers eps."""
    _, eps, t, x_t, v = _forward(50)
    assert_close(impl.predict_eps_from_v(x_t, t, v, _schedule()), eps, "eps from v")


# ----------------------------------------------------------------------------- ddpm_step
CONTRACT.function(
    "ddpm_step",
    lambda: call(
        _randn(3, 2, seed=4),
        _randn(3, 2, seed=5),
        torch.tensor([0, 2, 4]),
        _schedule(),
        variance="beta",
        generator=torch.Generator().manual_seed(0),
    ),
    invalid=[
        Invalid(
            "model_output",
            lambda a: torch.zeros(3, 3, dtype=torch.float64),
            "model_output of another shape than x_t",
        ),
        Invalid(
            "noise",
            lambda a: torch.zeros(3, 3, dtype=torch.float64),
            "noise of another shape than x_t",
        ),
    ],
    uses=("predict_x0_from_eps", "q_posterior"),
    hints=(
        "One reverse step (C2.5)–(C2.6): guess x0 from the noise prediction, take the posterior "
        "mean at that guess, then add fresh noise of the chosen variance — except for examples at "
        "index 0, whose step returns the data.",
        "In order: the guess of x0 from model_output with your predict_x0_from_eps, clipped to "
        "[-1, 1] when clip_x0 is set; the mean, the first of the three results of your q_posterior "
        "at that guess and x_t; if no example has an index above 0, return the mean. Otherwise "
        "take z from noise when it is given, else draw it from generator (validation's "
        "noise_or_draw does both and checks the generator); sigma^2 is read with gather from "
        'posterior_variance (variance "beta_tilde") or from betas ("beta"), and sigma is its '
        "square root; the result is the mean plus sigma z, the noise kept only for the examples "
        "whose own index is above 0 (a mask per example, not one test for the batch).",
    ),
)
STEP_MEAN_HINT = (
    "The mean of the step is the posterior mean at x0_hat = (x_t - sqrt(1 - abar_t) eps) / "
    "sqrt(abar_t): DDPM eq. (11), (1/sqrt(alpha_t)) (x_t - beta_t / sqrt(1 - abar_t) eps). Use "
    "q_posterior and predict_x0_from_eps."
)
STEP_SIGMA_HINT = (
    "Add sigma_t z with sigma_t the square root of the variance `variance` names: "
    "posterior_variance[t] for 'beta_tilde', betas[t] for 'beta' — a standard deviation, so take "
    "the square root; and use the z you are given as it is."
)
STEP_LAST_HINT = (
    "At index 0 the step returns the data: no noise there. A batch may mix indices, so mask per "
    "example — multiply the noise term by (t > 0) — rather than testing t once for the batch."
)


def _mean_eq_11(eps: np.ndarray, x_t: np.ndarray, t: list[int], clip: bool = False) -> np.ndarray:
    """DDPM eq. (11) for each row (or Bayes' rule at the clipped x0_hat)."""
    abar = _alpha_bars(BETAS)
    out = np.empty_like(x_t)
    for i, step in enumerate(t):
        if clip:
            x0_hat = (x_t[i] - math.sqrt(1 - abar[step]) * eps[i]) / math.sqrt(abar[step])
            out[i], _ = _bayes_posterior(np.clip(x0_hat, -1, 1), x_t[i], step, BETAS)
        else:
            beta = BETAS[step]
            out[i] = (x_t[i] - beta / math.sqrt(1 - abar[step]) * eps[i]) / math.sqrt(1 - beta)
    return out


def _sigma(step: int, variance: str) -> float:
    if step == 0:
        return 0.0
    _, tilde = _bayes_posterior(np.zeros(1), np.zeros(1), step, BETAS)
    return math.sqrt(tilde if variance == "beta_tilde" else BETAS[step])


@check("ddpm_step", hint=STEP_MEAN_HINT)
def step_mean_is_eq_11(impl):
    """With z = 0 the step is DDPM eq. (11)'s mean, at every index of a mixed batch."""
    eps, x_t = _randn(5, 2, seed=60), _randn(5, 2, seed=61)
    t = torch.tensor([4, 0, 2, 1, 3])
    zero = torch.zeros_like(x_t)
    runs = [
        impl.ddpm_step(
            eps, x_t, t, _schedule(), noise=zero, generator=torch.Generator().manual_seed(s)
        )
        for s in (1, 2)
    ]
    expect(
        torch.equal(runs[0], runs[1]),
        "with noise given, the result still changes with the generator: the noise given is not used",
        "Use the z you are given (`noise`) when it is not None; draw from `generator` only when it "
        "is None.",
    )
    for variance in ("beta_tilde", "beta"):
        got = impl.ddpm_step(
            eps, x_t, t, _schedule(), variance=variance, noise=torch.zeros_like(x_t)
        )
        assert_close(
            got, _mean_eq_11(to_numpy(eps), to_numpy(x_t), t.tolist()), f"the mean ({variance})"
        )


@check("ddpm_step", hint=STEP_SIGMA_HINT)
def step_adds_sigma_z(impl):
    """The step adds sigma_t z with the given z, for both variances; nothing at index 0."""
    eps, x_t, z = _randn(5, 2, seed=62), _randn(5, 2, seed=63), _randn(5, 2, seed=64)
    t = torch.tensor([4, 1, 2, 3, 0])
    mean = _mean_eq_11(to_numpy(eps), to_numpy(x_t), t.tolist())
    for variance in ("beta_tilde", "beta"):
        got = to_numpy(impl.ddpm_step(eps, x_t, t, _schedule(), variance=variance, noise=z))
        sigma = np.array([_sigma(s, variance) for s in t.tolist()])[:, None]
        expect(
            np.allclose(got[4], mean[4], rtol=1e-6, atol=1e-9),
            f"at index 0 the step returned {got[4].round(4)}, not the mean {mean[4].round(4)}: "
            "noise was added at the last step",
            STEP_LAST_HINT,
        )
        noisy = np.array(t.tolist()) > 0
        expect(
            not np.allclose(got[noisy], mean[noisy], rtol=1e-9, atol=1e-12),
            f"no noise was added at indices {t[noisy].tolist()} ({variance})",
            "Examples at an index above 0 get sigma z. A batch may mix indices: mask per example "
            "with (t > 0), instead of testing t once for the whole batch.",
        )
        assert_close(got, mean + sigma * to_numpy(z), f"mean + sigma z ({variance})")


@check("ddpm_step", hint=STEP_LAST_HINT)
def step_adds_no_noise_at_index_0(impl):
    """A batch all at index 0 returns the mean whatever the noise; no generator is needed there."""
    eps, x_t = _randn(4, 2, seed=65), _randn(4, 2, seed=66)
    mean = _mean_eq_11(to_numpy(eps), to_numpy(x_t), [0] * 4)
    for variance in ("beta_tilde", "beta"):
        got = impl.ddpm_step(
            eps, x_t, 0, _schedule(), variance=variance, noise=5 + _randn(4, 2, seed=67)
        )
        assert_close(got, mean, f"the last step ({variance}) with noise given")
    assert_close(
        impl.ddpm_step(eps, x_t, 0, _schedule()), mean, "the last step with no noise source"
    )


@check("ddpm_step", hint=STEP_SIGMA_HINT)
def step_draws_standard_normal_z(impl):
    """Without noise, z comes from the generator: (step - mean) / sigma is N(0, 1) (KS test)."""
    n = 20_000
    eps, x_t = torch.zeros(n, 1, dtype=torch.float64), torch.ones(n, 1, dtype=torch.float64)
    for step, variance in ((3, "beta"), (2, "beta_tilde")):
        got = impl.ddpm_step(
            eps,
            x_t,
            step,
            _schedule(),
            variance=variance,
            generator=torch.Generator().manual_seed(step),
        )
        mean = _mean_eq_11(np.zeros((1, 1)), np.ones((1, 1)), [step])[0, 0]
        z = (to_numpy(got)[:, 0] - mean) / _sigma(step, variance)
        assert_ks(z, normal_cdf, f"(step - mean) / sigma at index {step} ({variance})")


@check(
    "ddpm_step",
    hint="With clip_x0, clamp x0_hat to [-1, 1] before the posterior mean (the first form of C2.5).",
)
def step_clips_x0(impl):
    """With clip_x0=True the posterior mean is taken at x0_hat clipped to [-1, 1]."""
    eps, x_t, z = _randn(4, 3, seed=70), 3 * _randn(4, 3, seed=71), _randn(4, 3, seed=72)
    t = torch.tensor([1, 2, 4, 0])
    got = impl.ddpm_step(eps, x_t, t, _schedule(), clip_x0=True, noise=z)
    mean = _mean_eq_11(to_numpy(eps), to_numpy(x_t), t.tolist(), clip=True)
    sigma = np.array([_sigma(s, "beta_tilde") for s in t.tolist()])[:, None]
    assert_close(got, mean + sigma * to_numpy(z), "ddpm_step with clip_x0=True")


# ----------------------------------------------------------------------------- ddpm_sample
def _zero_model(x, t):
    return torch.zeros_like(x)


CONTRACT.function(
    "ddpm_sample",
    lambda: call(
        _zero_model,
        (3, 2),
        _schedule(),
        variance="beta",
        generator=torch.Generator().manual_seed(0),
        x_T=_randn(3, 2, seed=9),
        trajectory_every=1,
    ),
    invalid=[
        Invalid(
            "x_T",
            lambda a: torch.zeros(4, 2, dtype=torch.float64),
            "x_T of another shape than shape",
        )
    ],
    uses=("ddpm_step",),
    hints=(
        "DDPM's Algorithm 2, that is (C2.6) for t = T, ..., 1: start from pure noise and apply one "
        "reverse step per index, from the last (T - 1) down to 0 — exactly T model calls, each "
        "with the index of the state the model sees. The last step returns the samples.",
        "Start from x_T when it is given, else from standard normal numbers of the requested shape "
        "drawn from generator. For each index from T - 1 down to 0: make a long (int64) tensor "
        "holding the index once per example; ask the model for the noise at the current state and "
        "that tensor (in the state's dtype); replace the state by the result of your ddpm_step, "
        "passing variance, clip_x0 and generator on. With return_trajectory, keep x_T and every "
        "state reached by a step whose index is a multiple of trajectory_every, stacked, noise "
        "first. No gradients are needed: run the loop without them.",
    ),
)
SAMPLE_HINT = (
    "Start from x_T (or torch.randn(shape, generator=generator)), then for t = T-1 down to 0: "
    "eps = model(x, t_batch); x = ddpm_step(eps, x, t_batch, ...). Exactly T steps — the last at "
    "index 0, with no noise — and pass variance and clip_x0 on to every step."
)
GAUSS_MEAN, GAUSS_COV = np.array([0.5, -0.3]), np.array([[0.3, 0.1], [0.1, 0.2]])


def _propagated_moments(betas: np.ndarray, variance: str) -> tuple[np.ndarray, np.ndarray]:
    """Exact mean and covariance of ddpm_sample's output with the Gaussian oracle, from x_T ~ N(0, I).

    Each step is x <- A_t x + b_t + sigma_t z with A_t, b_t from the oracle's linear eps*(x) and
    DDPM eq. (11); a linear-Gaussian map sends N(m, S) to N(A m + b, A S A^T + sigma^2 I).
    """
    abar, d = _alpha_bars(betas), len(GAUSS_MEAN)
    eye = np.eye(d)
    m, S = np.zeros(d), eye.copy()
    for t in range(len(betas) - 1, -1, -1):
        # eps*(x) = M x + c with M = sqrt(1 - abar) (abar Sigma + (1 - abar) I)^-1
        M = math.sqrt(1 - abar[t]) * np.linalg.inv(abar[t] * GAUSS_COV + (1 - abar[t]) * eye)
        c = -math.sqrt(abar[t]) * M @ GAUSS_MEAN
        # eq. (11): x <- (x - beta / sqrt(1 - abar) eps) / sqrt(alpha) + sigma z
        k = betas[t] / math.sqrt(1 - abar[t])
        A = (eye - k * M) / math.sqrt(1 - betas[t])
        b = -k * c / math.sqrt(1 - betas[t])
        prev = abar[t - 1] if t > 0 else 1.0
        tilde = (1 - prev) / (1 - abar[t]) * betas[t]
        sigma2 = 0.0 if t == 0 else (tilde if variance == "beta_tilde" else betas[t])
        m, S = A @ m + b, A @ S @ A.T + sigma2 * eye
    return m, S


@check("ddpm_sample", hint=SAMPLE_HINT)
def sampler_calls_the_model_at_every_index(impl):
    """ddpm_sample calls the model at indices T-1, ..., 0 (LongTensor (B,)), starts at x_T and returns the trajectory."""
    calls = []

    def model(x_t, t):
        calls.append(t.clone())
        return torch.zeros_like(x_t)

    x_T = _randn(3, 2, seed=80)
    x0, path = impl.ddpm_sample(
        model,
        (3, 2),
        _schedule(),
        x_T=x_T,
        generator=torch.Generator().manual_seed(0),
        return_trajectory=True,
    )
    steps = [c.tolist() for c in calls]
    expect(
        steps == [[t] * 3 for t in range(4, -1, -1)],
        f"the model was called with t = {steps}; expected T-1 = 4 down to 0, once each",
        "Loop over range(T - 1, -1, -1): T calls, from index T-1 to index 0 inclusive.",
    )
    expect(
        all(c.dtype == torch.long for c in calls),
        f"t was passed to the model as {calls[0].dtype}, not a LongTensor",
        "Pass t to the model as torch.full((B,), t, dtype=torch.long).",
    )
    trajectory_hint = (
        "With return_trajectory, keep x_T first, then the state after each step (every "
        "trajectory_every-th index), ending with the samples: torch.stack of T + 1 states here."
    )
    expect(
        tuple(path.shape) == (6, 3, 2),
        f"the trajectory has shape {tuple(path.shape)}, expected (T + 1, 3, 2)",
        trajectory_hint,
    )
    expect(torch.equal(path[0], x_T), "the trajectory does not start at x_T", trajectory_hint)
    expect(
        torch.equal(path[-1], x0),
        "the trajectory does not end at the returned samples",
        trajectory_hint,
    )
    _, every_other = impl.ddpm_sample(
        model,
        (3, 2),
        _schedule(),
        x_T=x_T,
        generator=torch.Generator().manual_seed(0),
        return_trajectory=True,
        trajectory_every=2,
    )
    expect(
        tuple(every_other.shape) == (4, 3, 2),
        f"with trajectory_every=2 the trajectory has {every_other.shape[0]} states, expected 4 "
        "(x_T, then the states after indices 4, 2 and 0)",
        trajectory_hint,
    )


@check("ddpm_sample", hint=SAMPLE_HINT)
def sampler_matches_propagated_moments(impl):
    """With the exact oracle for N(mu, Sigma) data, sample moments match the exactly propagated ones (both variances)."""
    schedule = _schedule()
    oracle = GaussianOracle(GAUSS_MEAN, GAUSS_COV, schedule)
    n = 4000
    for seed, variance in enumerate(("beta_tilde", "beta")):
        m, S = _propagated_moments(BETAS, variance)
        x = to_numpy(
            impl.ddpm_sample(
                oracle,
                (n, 2),
                schedule,
                variance=variance,
                generator=torch.Generator().manual_seed(seed),
            )
        )
        expect(x.shape == (n, 2), f"samples of shape {x.shape}, expected ({n}, 2)")
        for i in range(2):
            assert_within_se(
                x[:, i].mean(), m[i], math.sqrt(S[i, i] / n), f"the sample mean [{i}] ({variance})"
            )
        centred = x - m
        for i in range(2):
            for j in range(i, 2):
                se = math.sqrt((S[i, i] * S[j, j] + S[i, j] ** 2) / n)
                estimate = float(np.mean(centred[:, i] * centred[:, j]))
                assert_within_se(
                    estimate,
                    S[i, j],
                    se,
                    f"the sample covariance [{i}, {j}] ({variance})",
                    hint=SAMPLE_HINT + " Too large a variance often means noise at index 0, or "
                    "sigma^2 of the other kind.",
                )


@check("ddpm_sample", hint=SAMPLE_HINT)
def sampler_finds_the_mixture_weights(impl):
    """With the exact oracle for a 3-mode mixture, the fraction of samples at each mode matches its weight."""
    schedule = NoiseSchedule.cosine(100)
    weights, means = np.array([0.5, 0.3, 0.2]), np.array([[-2.0, 0.0], [2.0, 1.0], [0.5, -2.0]])
    oracle = GaussianMixtureOracle(weights, means, 0.05, schedule)
    n = 3000
    x = to_numpy(
        impl.ddpm_sample(oracle, (n, 2), schedule, generator=torch.Generator().manual_seed(5))
    )
    distance2 = ((x[:, None, :] - means[None]) ** 2).sum(-1)
    nearest = distance2.argmin(1)
    # |x - mu_k|^2 / 0.05 is chi^2 with 2 degrees of freedom: P(> 50) = exp(-25), so a correct
    # sampler puts no sample that far from every mode, except once in 10^7 runs of 3000 samples.
    far = int((distance2.min(1) > 0.05 * 50).sum())
    expect(
        far == 0,
        f"{far} of {n} samples are far from every mode: the sampler does not reach the data",
    )
    for k, w in enumerate(weights):
        share = float(np.mean(nearest == k))
        assert_within_se(share, w, math.sqrt(w * (1 - w) / n), f"the share of mode {k}")


@check("ddpm_sample", hint=SAMPLE_HINT)
def sampler_draws_from_its_generator_and_passes_its_options_on(impl):
    """Without x_T the samples come from the generator alone; clip_x0 reaches every step; no gradients."""
    state = torch.random.get_rng_state()
    a, b = (
        impl.ddpm_sample(
            _zero_model, (4, 2), _schedule(), generator=torch.Generator().manual_seed(7)
        )
        for _ in range(2)
    )
    rng_hint = (
        "Draw x_T from the generator you are given: torch.randn(shape, generator=generator) — "
        "not torch.randn(shape), which uses (and moves) PyTorch's global random state."
    )
    expect(torch.equal(a, b), "the same generator seed gave different samples", rng_hint)
    expect(
        torch.equal(state, torch.random.get_rng_state()),
        "the global random state was used",
        rng_hint,
    )
    far = impl.ddpm_sample(
        lambda x, t: -10 * torch.ones_like(x),
        (4, 2),
        _schedule(),
        clip_x0=True,
        generator=torch.Generator().manual_seed(0),
    )
    expect(
        float(far.abs().max()) <= 1.0 + 1e-6,
        f"with clip_x0=True and a model that puts x0_hat far outside [-1, 1], the samples reach "
        f"{float(far.abs().max()):.3g}",
        "Pass clip_x0 on to every ddpm_step: the last step returns x0_hat, clipped.",
    )
    weight = torch.nn.Parameter(torch.ones(1))
    out = impl.ddpm_sample(
        lambda x, t: x * 0 * weight, (4, 2), _schedule(), generator=torch.Generator().manual_seed(0)
    )
    expect(
        not out.requires_grad,
        "the samples carry a gradient graph through every step",
        "Sampling needs no gradients: run the loop under torch.no_grad(), or memory grows with T.",
    )


__all__ = ["CONTRACT"]
