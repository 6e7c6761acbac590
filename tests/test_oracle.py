"""The exact noise predictors: eps* = -sqrt(1 - abar) * score of q_t, checked with autograd and torch.distributions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from diffusion_path.diffusion.forward import q_sample
from diffusion_path.diffusion.schedules import NoiseSchedule
from diffusion_path.tools.oracle import GaussianMixtureOracle, GaussianOracle

SCHEDULE = NoiseSchedule.cosine(50)
WEIGHTS = [0.2, 0.5, 0.3]
MEANS = [[-1.5, 0.0], [1.0, 1.0], [0.5, -1.5]]
COVS = [[[0.2, 0.05], [0.05, 0.1]], [[0.1, 0.0], [0.0, 0.3]], [[0.15, -0.05], [-0.05, 0.15]]]


def _score_eps(log_density, x: torch.Tensor, t: int) -> torch.Tensor:
    """-sqrt(1 - abar_t) * grad log q_t(x), by autograd on an independent density."""
    x = x.detach().double().requires_grad_(True)
    (grad,) = torch.autograd.grad(log_density(x).sum(), x)
    return -math.sqrt(1 - float(SCHEDULE.alpha_bars[t])) * grad


def _mixture_q_t(t: int) -> torch.distributions.Distribution:
    abar = float(SCHEDULE.alpha_bars[t])
    means = math.sqrt(abar) * torch.tensor(MEANS, dtype=torch.float64)
    covs = abar * torch.tensor(COVS, dtype=torch.float64) + (1 - abar) * torch.eye(
        2, dtype=torch.float64
    )
    return torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(torch.tensor(WEIGHTS, dtype=torch.float64)),
        torch.distributions.MultivariateNormal(means, covariance_matrix=covs),
    )


@pytest.mark.parametrize("t", [0, 10, 30, 49])
def test_mixture_oracle_is_the_scaled_score(t):
    oracle = GaussianMixtureOracle(WEIGHTS, MEANS, COVS, SCHEDULE)
    x = 1.5 * torch.randn(64, 2, generator=torch.Generator().manual_seed(t), dtype=torch.float64)
    expected = _score_eps(_mixture_q_t(t).log_prob, x, t)
    torch.testing.assert_close(oracle(x, t), expected)
    torch.testing.assert_close(oracle.log_prob(x, t), _mixture_q_t(t).log_prob(x))


def test_gaussian_oracle_is_the_scaled_score_and_affine():
    mean, cov = [0.3, -0.7], [[0.5, 0.2], [0.2, 0.4]]
    oracle = GaussianOracle(mean, cov, SCHEDULE)
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    t = torch.arange(16) * 3
    out = oracle(x, t)
    for i, step in enumerate(t.tolist()):
        abar = float(SCHEDULE.alpha_bars[step])
        q_t = torch.distributions.MultivariateNormal(
            math.sqrt(abar) * torch.tensor(mean, dtype=torch.float64),
            abar * torch.tensor(cov, dtype=torch.float64)
            + (1 - abar) * torch.eye(2, dtype=torch.float64),
        )
        torch.testing.assert_close(out[i : i + 1], _score_eps(q_t.log_prob, x[i : i + 1], step))
        M, c = oracle.affine(step)
        torch.testing.assert_close(out[i], M @ x[i] + c)


def test_oracle_is_the_conditional_mean_of_the_noise():
    """E[eps | x_t] by regression: in 1-D Gaussian data, eps on x_t has slope sqrt(1 - abar) / (abar var + 1 - abar)."""
    t, mu, var, n = 20, 0.5, 0.3, 50_000
    oracle = GaussianOracle([mu], [[var]], SCHEDULE)
    gen = torch.Generator().manual_seed(1)
    x0 = mu + math.sqrt(var) * torch.randn(n, 1, generator=gen, dtype=torch.float64)
    eps = torch.randn(n, 1, generator=gen, dtype=torch.float64)
    x_t = q_sample(x0, t, SCHEDULE, noise=eps)
    slope, _, _, _, stderr = stats.linregress(x_t[:, 0].numpy(), eps[:, 0].numpy())
    M, _ = oracle.affine(t)
    assert abs(slope - M.item()) < 4.892 * stderr


def test_reverse_chain_with_many_steps_recovers_the_data_law():
    """With T = 1000 the exactly propagated law of DDPM sampling with the oracle is close to N(mu, Sigma)."""
    schedule = NoiseSchedule.linear(1000)
    mean, cov = np.array([0.3, -0.7]), np.array([[0.5, 0.2], [0.2, 0.4]])
    oracle = GaussianOracle(mean, cov, schedule)
    m, S = np.zeros(2), np.eye(2)
    betas, abar = schedule.betas.numpy(), schedule.alpha_bars.numpy()
    for t in range(999, -1, -1):
        M, c = (a.numpy() for a in oracle.affine(t))
        k = betas[t] / math.sqrt(1 - abar[t])
        A, b = (np.eye(2) - k * M) / math.sqrt(1 - betas[t]), -k * c / math.sqrt(1 - betas[t])
        sigma2 = 0.0 if t == 0 else float(schedule.posterior_variance[t])
        m, S = A @ m + b, A @ S @ A.T + sigma2 * np.eye(2)
    np.testing.assert_allclose(m, mean, atol=0.01)
    np.testing.assert_allclose(S, cov, atol=0.01)


def test_sample_and_marginal():
    oracle = GaussianMixtureOracle(WEIGHTS, MEANS, COVS, SCHEDULE)
    n = 20_000
    x0, component = oracle.sample(n, torch.Generator().manual_seed(2))
    assert x0.dtype == torch.float32 and x0.shape == (n, 2)
    for k, w in enumerate(WEIGHTS):
        share = (component == k).double().mean().item()
        assert abs(share - w) < 4.892 * math.sqrt(w * (1 - w) / n)
        points = x0[component == k].double()
        assert np.allclose(points.mean(0).numpy(), MEANS[k], atol=0.05)
    _, _, covs = oracle.marginal(49)
    assert float(SCHEDULE.alpha_bars[49]) < 1e-6
    np.testing.assert_allclose(covs.numpy(), np.broadcast_to(np.eye(2), (3, 2, 2)), atol=1e-5)
    data = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(torch.tensor(WEIGHTS, dtype=torch.float64)),
        torch.distributions.MultivariateNormal(
            torch.tensor(MEANS, dtype=torch.float64),
            covariance_matrix=torch.tensor(COVS, dtype=torch.float64),
        ),
    )
    torch.testing.assert_close(oracle.log_prob(x0[:50]), data.log_prob(x0[:50].double()))


def test_isotropic_covariance_shorthand():
    a = GaussianMixtureOracle([1, 1], [[0.0, 0.0], [1.0, 1.0]], 0.1, SCHEDULE)
    b = GaussianMixtureOracle([1, 1], [[0.0, 0.0], [1.0, 1.0]], [np.eye(2) * 0.1] * 2, SCHEDULE)
    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(a(x, 5), b(x, 5))


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: GaussianMixtureOracle([0.5, -0.5], [[0.0], [1.0]], 0.1, SCHEDULE), "weights"),
        (lambda: GaussianMixtureOracle([0.5, 0.5], [[0.0], [1.0], [2.0]], 0.1, SCHEDULE), "means"),
        (lambda: GaussianMixtureOracle([1.0], [[0.0, 0.0]], np.ones((1, 3, 3)), SCHEDULE), "covs"),
        (lambda: GaussianMixtureOracle([1.0], [[0.0, 0.0]], -1.0, SCHEDULE), "covs"),
        (lambda: GaussianMixtureOracle([1.0], [[0.0]], 0.1, "cosine"), "schedule"),
        (lambda: GaussianOracle([0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]], SCHEDULE), "cov"),
        (lambda: GaussianOracle([0.0], [[1.0]], SCHEDULE)(torch.zeros(3, 2), 0), "x_t"),
        (lambda: GaussianOracle([0.0], [[1.0]], SCHEDULE)(torch.zeros(3, 1), 50), "t"),
    ],
)
def test_bad_input_names_the_argument(call, argument):
    with pytest.raises(ValueError, match=argument):
        call()
