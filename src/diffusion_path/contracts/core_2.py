"""Contract of Core Task 2: the forward posterior, the ε/x₀/v conversions and ancestral sampling.

Ground truth: Bayes' rule for two Gaussians written out here in NumPy, DDPM eq. (4) solved by
hand, and — for the sampler — the exact oracle of ``diffusion_path.diffusion.oracle``. With
Gaussian data the oracle's noise prediction is linear in $x_t$, so every ancestral step is a
linear-Gaussian map and the law of the samples can be propagated exactly (mean and covariance,
in NumPy); with a mixture, the fraction of samples near each mode must match its weight.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from diffusion_path.check import Contract
from diffusion_path.contracts import (
    assert_close,
    assert_raises_value_error,
    assert_within_se,
)
from diffusion_path.diffusion.oracle import GaussianMixtureOracle, GaussianOracle
from diffusion_path.diffusion.schedules import NoiseSchedule

CONTRACT = Contract("core-2")
check = CONTRACT.check

BETAS = np.array([0.05, 0.1, 0.2, 0.3, 0.5])


def _schedule(betas: np.ndarray = BETAS) -> NoiseSchedule:
    return NoiseSchedule(torch.tensor(betas))


def _alpha_bars(betas: np.ndarray) -> np.ndarray:
    return np.cumprod(1.0 - np.asarray(betas))


def _numpy(x: object) -> np.ndarray:
    return x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _bayes_posterior(x0: np.ndarray, x_t: np.ndarray, t: int, betas: np.ndarray) -> tuple:
    """Mean and variance of q(x_{t-1} | x_t, x0) by Bayes' rule: prior q(x_{t-1} | x0) times q(x_t | x_{t-1})."""
    abar = _alpha_bars(betas)
    if t == 0:  # x_{t-1} is x0 itself
        return x0, 0.0
    prev, beta = abar[t - 1], betas[t]
    precision = 1.0 / (1.0 - prev) + (1.0 - beta) / beta
    mean = (math.sqrt(prev) * x0 / (1.0 - prev) + math.sqrt(1.0 - beta) * x_t / beta) / precision
    return mean, 1.0 / precision


# ----------------------------------------------------------------------------- q_posterior
POSTERIOR_HINT = (
    "mean = coef1[t] x0 + coef2[t] x_t with coef1 = sqrt(abar_{t-1}) beta_t / (1 - abar_t) and "
    "coef2 = sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t); variance = (1 - abar_{t-1}) / (1 - abar_t) beta_t. "
    "abar_{t-1} at t = 0 is 1 (alpha_bars_prev), so the variance there is 0 and the mean is x0."
)


@check("q_posterior", hint=POSTERIOR_HINT)
def posterior_is_bayes_rule(impl):
    """q_posterior's mean and variance equal Bayes' rule for every t, including 0, in one batch."""
    x0, x_t = _randn(5, 3, seed=0), _randn(5, 3, seed=1)
    t = torch.tensor([0, 1, 2, 3, 4])
    mean, variance, log_variance = impl.q_posterior(x0, x_t, t, _schedule())
    for name, value in [("mean", mean), ("variance", variance), ("log_variance", log_variance)]:
        assert tuple(value.shape) == (5, 3), (
            f"the {name} has shape {tuple(value.shape)}, expected (5, 3)"
        )
    for i, step in enumerate(t.tolist()):
        m, v = _bayes_posterior(_numpy(x0)[i], _numpy(x_t)[i], step, BETAS)
        assert_close(_numpy(mean)[i], m, f"the posterior mean at t={step}")
        assert_close(_numpy(variance)[i], np.full(3, v), f"the posterior variance at t={step}")
        if step > 0:
            assert_close(
                _numpy(log_variance)[i], np.full(3, math.log(v)), f"the log-variance at t={step}"
            )
    assert np.all(np.isfinite(_numpy(log_variance))), "the log-variance must stay finite at t = 0"


@check(
    "q_posterior",
    hint="Check x0 and x_t have the same shape and t is in [0, T-1]; name the argument.",
)
def posterior_rejects_bad_input(impl):
    """q_posterior rejects mismatched shapes and t out of range."""
    schedule = _schedule()
    assert_raises_value_error(
        lambda: impl.q_posterior(torch.zeros(2, 3), torch.zeros(2, 4), 1, schedule),
        "x0",
        "x0 (2, 3), x_t (2, 4)",
    )
    assert_raises_value_error(
        lambda: impl.q_posterior(torch.zeros(2, 3), torch.zeros(2, 3), 5, schedule), "t", "t=T"
    )


# ----------------------------------------------------------------------------- conversions
def _forward(seed: int):
    """x0, eps, t and x_t = sqrt(abar) x0 + sqrt(1 - abar) eps, written out by hand."""
    x0, eps = _randn(4, 2, seed=seed), _randn(4, 2, seed=seed + 1)
    t = torch.tensor([0, 2, 4, 1])
    abar = _alpha_bars(BETAS)[t.numpy()][:, None]
    x_t = np.sqrt(abar) * _numpy(x0) + np.sqrt(1 - abar) * _numpy(eps)
    v = np.sqrt(abar) * _numpy(eps) - np.sqrt(1 - abar) * _numpy(x0)
    return x0, eps, t, torch.tensor(x_t), torch.tensor(v)


CONVERSION_HINT = (
    "Solve x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps for the unknown, with abar_t picked per "
    "batch element (not the schedule's last value, not alpha_t)."
)
V_HINT = (
    "v = sqrt(abar_t) eps - sqrt(1 - abar_t) x0. (x_t, v) is (x0, eps) rotated by an angle phi "
    "with cos(phi) = sqrt(abar_t): x0 = sqrt(abar_t) x_t - sqrt(1 - abar_t) v and "
    "eps = sqrt(1 - abar_t) x_t + sqrt(abar_t) v."
)


@check("predict_x0_from_eps", hint=CONVERSION_HINT)
def x0_from_eps_inverts_the_forward_process(impl):
    """predict_x0_from_eps(x_t, t, eps) recovers the x0 that made x_t."""
    x0, eps, t, x_t, _ = _forward(10)
    assert_close(
        _numpy(impl.predict_x0_from_eps(x_t, t, eps, _schedule())), _numpy(x0), "x0 from eps"
    )
    assert_raises_value_error(
        lambda: impl.predict_x0_from_eps(x_t, t, eps[:, :1], _schedule()),
        "eps",
        "eps of another shape",
    )


@check("predict_eps_from_x0", hint=CONVERSION_HINT)
def eps_from_x0_inverts_the_forward_process(impl):
    """predict_eps_from_x0(x_t, t, x0) recovers the eps that made x_t."""
    x0, eps, t, x_t, _ = _forward(20)
    assert_close(
        _numpy(impl.predict_eps_from_x0(x_t, t, x0, _schedule())), _numpy(eps), "eps from x0"
    )
    assert_raises_value_error(lambda: impl.predict_eps_from_x0(x_t, 5, x0, _schedule()), "t", "t=T")


@check("v_from_x0_eps", hint=V_HINT)
def v_matches_its_definition(impl):
    """v_from_x0_eps is sqrt(abar) eps - sqrt(1 - abar) x0, and x_t^2 + v^2 = x0^2 + eps^2."""
    x0, eps, t, x_t, v = _forward(30)
    got = _numpy(impl.v_from_x0_eps(x0, eps, t, _schedule()))
    assert_close(got, _numpy(v), "v")
    assert_close(
        _numpy(x_t) ** 2 + got**2, _numpy(x0) ** 2 + _numpy(eps) ** 2, "x_t^2 + v^2 (a rotation)"
    )


@check("predict_x0_from_v", hint=V_HINT)
def x0_from_v(impl):
    """predict_x0_from_v(x_t, t, v) recovers x0."""
    x0, _, t, x_t, v = _forward(40)
    assert_close(_numpy(impl.predict_x0_from_v(x_t, t, v, _schedule())), _numpy(x0), "x0 from v")


@check("predict_eps_from_v", hint=V_HINT)
def eps_from_v(impl):
    """predict_eps_from_v(x_t, t, v) recovers eps."""
    _, eps, t, x_t, v = _forward(50)
    assert_close(_numpy(impl.predict_eps_from_v(x_t, t, v, _schedule())), _numpy(eps), "eps from v")


# ----------------------------------------------------------------------------- ddpm_step
STEP_HINT = (
    "x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t) (clamped to [-1, 1] if clip_x0); mean = "
    "the posterior mean of q(x_{t-1} | x_t, x0_hat); then add sigma_t * noise with sigma_t^2 = "
    "posterior_variance[t] ('beta_tilde') or betas[t] ('beta') — but only where t > 0."
)


def _expected_step(eps, x_t, t, variance, z, clip=False):
    """DDPM eq. (11) for the mean (or Bayes' rule with a clipped x0), plus sigma z where t > 0."""
    abar = _alpha_bars(BETAS)
    out = np.empty_like(x_t)
    for i, step in enumerate(t):
        if clip:
            x0_hat = (x_t[i] - math.sqrt(1 - abar[step]) * eps[i]) / math.sqrt(abar[step])
            mean, _ = _bayes_posterior(np.clip(x0_hat, -1, 1), x_t[i], step, BETAS)
        else:
            beta = BETAS[step]
            mean = (x_t[i] - beta / math.sqrt(1 - abar[step]) * eps[i]) / math.sqrt(1 - beta)
        _, tilde = _bayes_posterior(x_t[i], x_t[i], step, BETAS)
        sigma2 = 0.0 if step == 0 else (tilde if variance == "beta_tilde" else BETAS[step])
        out[i] = mean + math.sqrt(sigma2) * z[i]
    return out


@check("ddpm_step", hint=STEP_HINT)
def step_matches_algorithm_2(impl):
    """ddpm_step = DDPM eq. (11) mean + sigma_t z for both variances; no noise at t = 0; noise used as given."""
    eps, x_t, z = _randn(5, 2, seed=60), _randn(5, 2, seed=61), _randn(5, 2, seed=62)
    t = torch.tensor([4, 0, 2, 1, 3])
    for variance in ("beta_tilde", "beta"):
        got = impl.ddpm_step(eps, x_t, t, _schedule(), variance=variance, noise=z)
        expected = _expected_step(_numpy(eps), _numpy(x_t), t.tolist(), variance, _numpy(z))
        assert_close(_numpy(got), expected, f"ddpm_step with variance={variance!r}")
    last = impl.ddpm_step(eps, x_t, 0, _schedule(), noise=z)
    expected = _expected_step(_numpy(eps), _numpy(x_t), [0] * 5, "beta_tilde", _numpy(z))
    assert_close(_numpy(last), expected, "ddpm_step at t = 0 (the noise must not be added)")


@check("ddpm_step", hint=STEP_HINT)
def step_clips_x0(impl):
    """With clip_x0=True the posterior mean is taken at x0_hat clipped to [-1, 1]."""
    eps, x_t, z = _randn(4, 3, seed=70), 3 * _randn(4, 3, seed=71), _randn(4, 3, seed=72)
    t = torch.tensor([1, 2, 4, 0])
    got = impl.ddpm_step(eps, x_t, t, _schedule(), clip_x0=True, noise=z)
    expected = _expected_step(
        _numpy(eps), _numpy(x_t), t.tolist(), "beta_tilde", _numpy(z), clip=True
    )
    assert_close(_numpy(got), expected, "ddpm_step with clip_x0=True")


@check(
    "ddpm_step", hint="Accept only variance='beta_tilde' or 'beta'; check model_output matches x_t."
)
def step_rejects_bad_input(impl):
    """ddpm_step rejects an unknown variance name and a model_output of the wrong shape."""
    x, gen = torch.zeros(2, 2), torch.Generator().manual_seed(0)
    assert_raises_value_error(
        lambda: impl.ddpm_step(x, x, 1, _schedule(), variance="fixed_large", generator=gen),
        "variance",
        "variance='fixed_large'",
    )
    assert_raises_value_error(
        lambda: impl.ddpm_step(torch.zeros(2, 3), x, 1, _schedule(), generator=gen),
        "model_output",
        "model_output of shape (2, 3) for x_t of shape (2, 2)",
    )


# ----------------------------------------------------------------------------- ddpm_sample
SAMPLE_HINT = (
    "Start from x_T (or torch.randn(shape, generator=generator)), then for t = T-1 down to 0: "
    "eps = model(x, torch.full((B,), t)); x = ddpm_step(eps, x, t, ...). Exactly T model calls, "
    "the last with t = 0 and no noise. Pass variance and clip_x0 on to every step."
)
GAUSS_MEAN, GAUSS_COV = np.array([0.5, -0.3]), np.array([[0.3, 0.1], [0.1, 0.2]])


def _propagated_moments(schedule: NoiseSchedule, variance: str) -> tuple[np.ndarray, np.ndarray]:
    """Exact mean and covariance of ddpm_sample's output with the Gaussian oracle, from x_T ~ N(0, I).

    Each step is x <- A_t x + b_t + sigma_t z with A_t, b_t from the oracle's linear eps*(x) and
    DDPM eq. (11); a linear-Gaussian map sends N(m, S) to N(A m + b, A S A^T + sigma^2 I).
    """
    betas = schedule.betas.numpy()
    abar, d = np.cumprod(1 - betas), len(GAUSS_MEAN)
    eye = np.eye(d)
    m, S = np.zeros(d), eye.copy()
    for t in range(len(betas) - 1, -1, -1):
        # eps*(x) = M x + c with M = sqrt(1 - abar) (abar Sigma + (1 - abar) I)^-1
        M = math.sqrt(1 - abar[t]) * np.linalg.inv(abar[t] * GAUSS_COV + (1 - abar[t]) * eye)
        c = -math.sqrt(abar[t]) * M @ GAUSS_MEAN
        # eq. (11): x_{t-1} = (x - beta / sqrt(1 - abar) eps) / sqrt(alpha) + sigma z
        k = betas[t] / math.sqrt(1 - abar[t])
        A = (eye - k * M) / math.sqrt(1 - betas[t])
        b = -k * c / math.sqrt(1 - betas[t])
        prev = abar[t - 1] if t > 0 else 1.0
        sigma2 = (
            0.0
            if t == 0
            else ((1 - prev) / (1 - abar[t]) * betas[t] if variance == "beta_tilde" else betas[t])
        )
        m, S = A @ m + b, A @ S @ A.T + sigma2 * eye
    return m, S


@check("ddpm_sample", hint=SAMPLE_HINT)
def sampler_calls_and_trajectory(impl):
    """ddpm_sample calls the model at t = T-1, ..., 0 (LongTensor (B,)), starts at x_T and returns the trajectory."""
    schedule = _schedule()
    calls = []

    def model(x_t, t):
        calls.append(t.clone())
        return torch.zeros_like(x_t)

    x_T = _randn(3, 2, seed=80).float()
    x0, path = impl.ddpm_sample(
        model,
        (3, 2),
        schedule,
        x_T=x_T,
        generator=torch.Generator().manual_seed(0),
        return_trajectory=True,
    )
    steps = [c.tolist() for c in calls]
    assert steps == [[t] * 3 for t in range(4, -1, -1)], f"the model was called with t = {steps}"
    assert all(c.dtype == torch.long for c in calls), (
        "t must be passed to the model as a LongTensor"
    )
    assert tuple(path.shape) == (6, 3, 2), (
        f"trajectory of shape {tuple(path.shape)}, expected (T + 1, 3, 2)"
    )
    assert torch.equal(path[0], x_T), "the trajectory must start at x_T"
    assert torch.equal(path[-1], x0), "the trajectory must end at the returned samples"
    same = impl.ddpm_sample(
        model, (3, 2), schedule, x_T=x_T, generator=torch.Generator().manual_seed(0)
    )
    assert torch.equal(same, x0), "the same x_T and seed gave different samples"
    assert_raises_value_error(
        lambda: impl.ddpm_sample(
            model,
            (3, 2),
            schedule,
            x_T=torch.zeros(4, 2),
            generator=torch.Generator().manual_seed(0),
        ),
        "x_T",
        "x_T of shape (4, 2) for shape (3, 2)",
    )
    assert_raises_value_error(
        lambda: impl.ddpm_sample(
            model, (3, 2), schedule, variance="large", generator=torch.Generator().manual_seed(0)
        ),
        "variance",
        "variance='large'",
    )


@check("ddpm_sample", hint=SAMPLE_HINT)
def sampler_matches_propagated_moments(impl):
    """With the exact oracle for N(mu, Sigma) data, sample moments match the exactly propagated ones, for both variances."""
    schedule = NoiseSchedule.cosine(40)
    oracle = GaussianOracle(GAUSS_MEAN, GAUSS_COV, schedule)
    n = 3000
    for seed, variance in enumerate(("beta_tilde", "beta")):
        m, S = _propagated_moments(schedule, variance)
        x = impl.ddpm_sample(
            oracle,
            (n, 2),
            schedule,
            variance=variance,
            generator=torch.Generator().manual_seed(seed),
        )
        x = _numpy(x)
        assert x.shape == (n, 2), f"samples of shape {x.shape}, expected ({n}, 2)"
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
                    estimate, S[i, j], se, f"the sample covariance [{i}, {j}] ({variance})"
                )


@check("ddpm_sample", hint=SAMPLE_HINT)
def sampler_finds_the_mixture_weights(impl):
    """With the exact oracle for a 3-mode mixture, the fraction of samples at each mode matches its weight."""
    schedule = NoiseSchedule.cosine(100)
    weights, means = np.array([0.5, 0.3, 0.2]), np.array([[-2.0, 0.0], [2.0, 1.0], [0.5, -2.0]])
    oracle = GaussianMixtureOracle(weights, means, 0.05, schedule)
    n = 3000
    x = _numpy(
        impl.ddpm_sample(oracle, (n, 2), schedule, generator=torch.Generator().manual_seed(5))
    )
    distance2 = ((x[:, None, :] - means[None]) ** 2).sum(-1)
    nearest = distance2.argmin(1)
    # |x - mu_k|^2 / 0.05 is chi^2 with 2 degrees of freedom: P(> 50) = exp(-25), so a correct
    # sampler puts no sample that far from every mode, except once in 10^7 runs of 3000 samples.
    far = int((distance2.min(1) > 0.05 * 50).sum())
    assert far == 0, (
        f"{far} of {n} samples are far from every mode: the sampler does not reach the data"
    )
    for k, w in enumerate(weights):
        share = float(np.mean(nearest == k))
        assert_within_se(share, w, math.sqrt(w * (1 - w) / n), f"the share of mode {k}")


__all__ = ["CONTRACT"]
