"""The reverse process: the posterior by another route, the conversions, and sampling with the oracle."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from diffusion_path.diffusion.forward import q_sample
from diffusion_path.diffusion.reverse import (
    ddpm_sample,
    ddpm_step,
    predict_eps_from_v,
    predict_eps_from_x0,
    predict_x0_from_eps,
    predict_x0_from_v,
    q_posterior,
    v_from_x0_eps,
)
from diffusion_path.diffusion.schedules import NoiseSchedule
from diffusion_path.tools.oracle import GaussianOracle

ALPHA = 1e-6


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_posterior_by_gaussian_conditioning():
    """(x_{t-1}, x_t) given x0 is jointly Gaussian; conditioning with the Schur complement gives eq. (7)."""
    schedule = NoiseSchedule.cosine(30)
    abar = schedule.alpha_bars.numpy()
    x0 = torch.randn(30, 2, generator=_gen(0), dtype=torch.float64)
    x_t = torch.randn(30, 2, generator=_gen(1), dtype=torch.float64)
    t = torch.arange(30)
    mean, variance, _ = q_posterior(x0, x_t, t, schedule)
    for i in range(30):
        prev = 1.0 if i == 0 else abar[i - 1]
        alpha = abar[i] / prev
        cov_joint = math.sqrt(alpha) * (1 - prev)  # Cov(x_{t-1}, x_t | x0)
        gain = cov_joint / (1 - abar[i])
        expected_mean = math.sqrt(prev) * x0[i].numpy() + gain * (
            x_t[i].numpy() - math.sqrt(abar[i]) * x0[i].numpy()
        )
        expected_var = (1 - prev) - gain * cov_joint
        np.testing.assert_allclose(mean[i].numpy(), expected_mean, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(variance[i].numpy(), expected_var, rtol=1e-9, atol=1e-15)


def test_posterior_samples_have_the_forward_marginal():
    """x_t ~ q(x_t | x0), then x_{t-1} ~ q(x_{t-1} | x_t, x0): x_{t-1} has the law q(x_{t-1} | x0)."""
    schedule = NoiseSchedule.linear(20, 0.01, 0.3)
    t, value, n = 12, -1.3, 20_000
    x0 = torch.full((n, 1), value, dtype=torch.float64)
    x_t = q_sample(x0, t, schedule, generator=_gen(3))
    mean, variance, _ = q_posterior(x0, x_t, t, schedule)
    x_prev = mean + variance.sqrt() * torch.randn(n, 1, generator=_gen(4), dtype=torch.float64)
    abar = float(schedule.alpha_bars[t - 1])
    dist = stats.norm(math.sqrt(abar) * value, math.sqrt(1 - abar))
    assert stats.kstest(x_prev[:, 0].numpy(), dist.cdf).pvalue > ALPHA


def test_conversions_are_inverse_to_each_other():
    schedule = NoiseSchedule.cosine(40)
    x0 = torch.randn(40, 3, generator=_gen(5), dtype=torch.float64)
    eps = torch.randn(40, 3, generator=_gen(6), dtype=torch.float64)
    t = torch.arange(40)
    x_t = q_sample(x0, t, schedule, noise=eps)
    v = v_from_x0_eps(x0, eps, t, schedule)
    torch.testing.assert_close(predict_x0_from_eps(x_t, t, eps, schedule), x0)
    torch.testing.assert_close(predict_eps_from_x0(x_t, t, x0, schedule), eps)
    torch.testing.assert_close(predict_x0_from_v(x_t, t, v, schedule), x0)
    torch.testing.assert_close(predict_eps_from_v(x_t, t, v, schedule), eps)
    # (x_t, v) is a rotation of (x0, eps): norms are preserved
    torch.testing.assert_close(x_t**2 + v**2, x0**2 + eps**2)


def test_step_mean_is_ddpm_eq_11():
    schedule = NoiseSchedule.linear(10, 0.01, 0.4)
    x_t = torch.randn(10, 2, generator=_gen(7), dtype=torch.float64)
    eps = torch.randn(10, 2, generator=_gen(8), dtype=torch.float64)
    t = torch.arange(10)
    out = ddpm_step(eps, x_t, t, schedule, noise=torch.zeros_like(x_t))
    beta, alpha, abar = (
        schedule.betas[:, None],
        schedule.alphas[:, None],
        schedule.alpha_bars[:, None],
    )
    expected = (x_t - beta / torch.sqrt(1 - abar) * eps) / torch.sqrt(alpha)
    torch.testing.assert_close(out, expected)


def test_step_adds_noise_only_where_t_is_positive():
    schedule = NoiseSchedule.linear(10, 0.01, 0.4)
    x_t, eps = torch.randn(4, 2, generator=_gen(9)), torch.randn(4, 2, generator=_gen(10))
    t = torch.tensor([0, 3, 0, 7])
    quiet = ddpm_step(eps, x_t, t, schedule, noise=torch.zeros(4, 2))
    noisy = ddpm_step(eps, x_t, t, schedule, noise=torch.ones(4, 2))
    assert torch.equal(noisy[[0, 2]], quiet[[0, 2]])
    for variance, sigma2 in (("beta_tilde", schedule.posterior_variance), ("beta", schedule.betas)):
        noisy = ddpm_step(eps, x_t, t, schedule, variance=variance, noise=torch.ones(4, 2))
        torch.testing.assert_close(
            noisy[[1, 3]] - quiet[[1, 3]], torch.sqrt(sigma2[[3, 7]]).float()[:, None].expand(2, 2)
        )
    # t = 0 everywhere needs no noise source at all
    ddpm_step(eps, x_t, 0, schedule)


def _propagate_1d(
    schedule: NoiseSchedule, mu: float, var: float, variance: str
) -> tuple[float, float]:
    """Mean and variance of ddpm_sample's output for 1-D N(mu, var) data with the exact oracle."""
    betas, abar = schedule.betas.numpy(), schedule.alpha_bars.numpy()
    m, s = 0.0, 1.0
    for t in range(len(betas) - 1, -1, -1):
        prev = 1.0 if t == 0 else abar[t - 1]
        gain = math.sqrt(1 - abar[t]) / (
            abar[t] * var + 1 - abar[t]
        )  # eps* = gain (x - sqrt(abar) mu)
        # x0_hat = (x - sqrt(1 - abar) eps*) / sqrt(abar), then the posterior mean (eq. 7)
        a0 = (1 - math.sqrt(1 - abar[t]) * gain) / math.sqrt(abar[t])
        b0 = math.sqrt(1 - abar[t]) * gain * math.sqrt(abar[t]) * mu / math.sqrt(abar[t])
        c1 = math.sqrt(prev) * betas[t] / (1 - abar[t])
        c2 = math.sqrt(1 - betas[t]) * (1 - prev) / (1 - abar[t])
        a, b = c1 * a0 + c2, c1 * b0
        sigma2 = (
            0.0
            if t == 0
            else ((1 - prev) / (1 - abar[t]) * betas[t] if variance == "beta_tilde" else betas[t])
        )
        m, s = a * m + b, a * a * s + sigma2
    return m, s


@pytest.mark.parametrize("variance", ["beta_tilde", "beta"])
def test_sampler_law_with_gaussian_oracle_is_exact(variance):
    """For 1-D Gaussian data the samples follow the exactly propagated normal law (KS test)."""
    schedule = NoiseSchedule.cosine(40)
    mu, var, n = 0.8, 0.25, 3000
    oracle = GaussianOracle([mu], [[var]], schedule)
    x = ddpm_sample(oracle, (n, 1), schedule, variance=variance, generator=_gen(11))
    m, s = _propagate_1d(schedule, mu, var, variance)
    assert stats.kstest(x[:, 0].double().numpy(), stats.norm(m, math.sqrt(s)).cdf).pvalue > ALPHA
    # and with enough steps the sampler's law is close to the data's
    assert abs(m - mu) < 0.01 and abs(s - var) < 0.05


def test_sampler_options():
    schedule = NoiseSchedule.linear(12, 0.01, 0.3)
    model = lambda x_t, t: torch.zeros_like(x_t)  # noqa: E731
    x0, path = ddpm_sample(
        model, (5, 2), schedule, generator=_gen(0), return_trajectory=True, trajectory_every=4
    )
    # x_T, then the states after t = 8, 4, 0
    assert path.shape == (4, 5, 2) and torch.equal(path[-1], x0)
    clipped = ddpm_sample(
        lambda x, t: -10 * torch.ones_like(x), (5, 2), schedule, generator=_gen(0), clip_x0=True
    )
    assert clipped.abs().max() <= 1.0 + 1e-6, "with clip_x0 the last step returns x0_hat in [-1, 1]"


def test_progress_bar(capsys):
    schedule = NoiseSchedule.linear(5, 0.01, 0.3)
    ddpm_sample(
        lambda x, t: torch.zeros_like(x), (2, 1), schedule, generator=_gen(0), progress=True
    )
    assert "sampling" in capsys.readouterr().err
    ddpm_sample(lambda x, t: torch.zeros_like(x), (2, 1), schedule, generator=_gen(0))
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda s: q_posterior(torch.zeros(2, 2), torch.zeros(3, 2), 1, s), "x0"),
        (lambda s: predict_x0_from_eps(torch.zeros(2, 2), 1, torch.zeros(2), s), "eps"),
        (lambda s: predict_x0_from_v(torch.zeros(2, 2), 10, torch.zeros(2, 2), s), "t"),
        (
            lambda s: ddpm_step(torch.zeros(2, 2), torch.zeros(2, 2), 1, s, variance="small"),
            "variance",
        ),
        (lambda s: ddpm_step(torch.zeros(2, 2), torch.zeros(2, 2), 1, s), "generator"),
        (
            lambda s: ddpm_step(
                torch.zeros(2, 2), torch.zeros(2, 2), 1, s, noise=torch.zeros(1, 2)
            ),
            "noise",
        ),
        (lambda s: ddpm_sample(lambda x, t: x, (2, 2), s), "generator"),
        (lambda s: ddpm_sample(lambda x, t: x, (2, 0), s, generator=_gen(0)), "shape"),
        (lambda s: ddpm_sample(lambda x, t: x, 4, s, generator=_gen(0)), "shape"),
        (lambda s: ddpm_sample(lambda x, t: x[:, :1], (2, 2), s, generator=_gen(0)), "model"),
        (
            lambda s: ddpm_sample(
                lambda x, t: x, (2, 2), s, generator=_gen(0), x_T=torch.zeros(2, 3)
            ),
            "x_T",
        ),
        (
            lambda s: ddpm_sample(lambda x, t: x, (2, 2), s, generator=_gen(0), trajectory_every=0),
            "trajectory_every",
        ),
    ],
)
def test_bad_input_names_the_argument(call, argument):
    with pytest.raises(ValueError, match=argument):
        call(NoiseSchedule.linear(10))


# ----------------------------------------------------------------------------- one way to read the schedule
@pytest.mark.parametrize("T", [1000, 4000, 10_000])
@pytest.mark.parametrize(
    "make",
    [NoiseSchedule.linear, NoiseSchedule.cosine, lambda T: NoiseSchedule.cosine(T, s=0.0)],
    ids=["linear", "cosine", "cosine-s0"],
)
def test_posterior_variance_is_the_schedules_float64_value_rounded_once(make, T):
    """For float32 data the variance is the float64 posterior variance cast once: no float32 recomputation."""
    schedule = make(T)
    t = torch.arange(T)
    x = torch.zeros(T, 1)
    _, variance, log_variance = q_posterior(x, x, t, schedule)
    exact = schedule.posterior_variance.to(torch.float32)
    assert torch.equal(variance[:, 0], exact)
    assert variance[0, 0].item() == 0.0
    assert torch.isfinite(variance).all() and torch.isfinite(log_variance).all()


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda s, bad: q_posterior(bad, torch.zeros(2, 2), 1, s), "x0"),
        (lambda s, bad: q_posterior(torch.zeros(2, 2), bad, 1, s), "x_t"),
        (lambda s, bad: ddpm_step(bad, torch.zeros(2, 2), 1, s, generator=_gen(0)), "model_output"),
        (lambda s, bad: ddpm_step(torch.zeros(2, 2), bad, 1, s, generator=_gen(0)), "x_t"),
        (lambda s, bad: ddpm_step(torch.zeros(2, 2), torch.zeros(2, 2), 1, s, noise=bad), "noise"),
        (lambda s, bad: predict_x0_from_eps(torch.zeros(2, 2), 1, bad, s), "eps"),
        (lambda s, bad: ddpm_sample(lambda x, t: x, (2, 2), s, generator=_gen(0), x_T=bad), "x_T"),
    ],
)
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_input_is_rejected(call, argument, value):
    bad = torch.zeros(2, 2)
    bad[0, 1] = value
    with pytest.raises(ValueError, match=rf"{argument} must be finite"):
        call(NoiseSchedule.linear(10), bad)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_model_that_returns_nan_stops_the_sampler_at_its_step(value):
    def model(x, t):
        eps = torch.zeros_like(x)
        if int(t[0]) == 3:
            eps[0, 0] = value
        return eps

    with pytest.raises(ValueError, match=r"model returned NaN or inf at step t = 3"):
        ddpm_sample(model, (4, 2), NoiseSchedule.linear(10), generator=_gen(0))
