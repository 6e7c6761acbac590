"""Pre-Task 5 against ground truth: the Gaussian error floor, Tweedie's formula, the network and its training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from diffusion_path.contracts.asserts import assert_ks, assert_within_se
from diffusion_path.diffusion.schedules import NoiseSchedule
from diffusion_path.foundations.denoising import (
    DenoisingAutoencoder,
    add_noise,
    denoising_loss,
    gaussian_mmse,
    optimal_gaussian_denoiser,
    train_denoiser,
    tweedie_score,
)
from diffusion_path.tools.oracle import GaussianMixtureOracle


def _floor(s2: float, sigma: float) -> float:
    """The error floor of denoising N(mu, s^2 I), per coordinate: s^2 sigma^2 / (s^2 + sigma^2)."""
    return s2 * sigma**2 / (s2 + sigma**2)


@pytest.mark.parametrize(("d", "s", "sigma"), [(1, 1.0, 0.5), (4, 0.8, 0.6), (8, 1.0, 1.0)])
def test_a_trained_linear_dae_reaches_the_gaussian_floor(d, s, sigma):
    """The library's loop trains a linear DAE to within 2 % of s^2 sigma^2 / (s^2 + sigma^2)."""
    gen = torch.Generator().manual_seed(0)
    mu = torch.linspace(-1.0, 1.0, d)
    data = mu + s * torch.randn(20_000, d, generator=gen)
    model = DenoisingAutoencoder(dim=d, latent=d, hidden=(), generator=gen)
    train_denoiser(model, data, sigma, gen, steps=300, batch_size=512, lr=0.02, progress=False)
    test = mu + s * torch.randn(100_000, d, generator=gen)
    with torch.no_grad():
        mse = denoising_loss(model, test, sigma, generator=gen).item()
        # the map it learned: the shrinkage s^2 / (s^2 + sigma^2) toward the mean
        weight = torch.autograd.functional.jacobian(lambda x: model(x)[0], test[:1])[:, 0]
    floor = _floor(s**2, sigma)
    assert abs(mse / floor - 1) < 0.02, (mse, floor)
    shrink = s**2 / (s**2 + sigma**2)
    assert torch.allclose(weight, shrink * torch.eye(d), atol=0.03), weight


def test_the_exact_denoiser_reaches_the_floor_and_leaves_uncorrelated_errors():
    """On samples of N(mu, Sigma), E[x | x_noisy] has the floor's MSE (in s.e.) and errors orthogonal to the input."""
    gen = torch.Generator().manual_seed(1)
    mean = torch.tensor([1.0, -0.5, 0.0, 2.0], dtype=torch.float64)
    A = torch.randn(4, 4, generator=gen, dtype=torch.float64)
    cov = A @ A.T / 4 + 0.2 * torch.eye(4, dtype=torch.float64)
    n, sigma = 50_000, 0.7
    # x = mu + L z with L L^T = Sigma (P1.4)
    z = torch.randn(n, 4, generator=gen, dtype=torch.float64)
    x = mean + z @ torch.linalg.cholesky(cov).T
    x_noisy = add_noise(x, sigma, generator=gen)
    error = x - optimal_gaussian_denoiser(x_noisy, mean, cov, sigma)
    posterior = cov - cov @ torch.linalg.solve(
        cov + sigma**2 * torch.eye(4, dtype=torch.float64), cov
    )
    se = math.sqrt(2 * torch.trace(posterior @ posterior).item() / n) / 4
    assert_within_se(error.pow(2).mean().item(), gaussian_mmse(cov, sigma), se, "the MSE")
    assert math.isclose(gaussian_mmse(cov, sigma), torch.trace(posterior).item() / 4, rel_tol=1e-9)
    correlation = error.T @ (x_noisy - mean) / n
    outer = torch.diagonal(cov) + sigma**2
    bound = 5 * torch.sqrt(torch.diagonal(posterior)[:, None] * outer[None, :] / n)
    assert bool((correlation.abs() < bound).all()), correlation


@pytest.mark.parametrize("sigma", [0.1, 0.5, 2.0])
def test_isotropic_floor_is_the_closed_form(sigma):
    s2 = 0.64
    assert math.isclose(gaussian_mmse(s2 * torch.eye(5), sigma), _floor(s2, sigma), rel_tol=1e-6)


def test_tweedie_on_gaussian_data_is_the_exact_score():
    """(E[x | x_noisy] - x_noisy) / sigma^2 equals the gradient of log N(x_noisy; mu, Sigma + sigma^2 I), by autograd."""
    gen = torch.Generator().manual_seed(2)
    mean = torch.tensor([0.3, -1.0, 0.5], dtype=torch.float64)
    cov = torch.tensor([[1.0, 0.4, 0.0], [0.4, 0.5, 0.1], [0.0, 0.1, 0.3]], dtype=torch.float64)
    sigma = torch.tensor([0.2, 0.8, 1.5, 3.0], dtype=torch.float64)
    x_noisy = torch.randn(4, 3, generator=gen, dtype=torch.float64).requires_grad_(True)
    eye = torch.eye(3, dtype=torch.float64)
    blurred = torch.distributions.MultivariateNormal(mean, cov + sigma[:, None, None] ** 2 * eye)
    (exact,) = torch.autograd.grad(blurred.log_prob(x_noisy).sum(), x_noisy)
    x_noisy = x_noisy.detach()
    denoised = optimal_gaussian_denoiser(x_noisy, mean, cov, sigma)
    assert torch.allclose(tweedie_score(denoised, x_noisy, sigma), exact, rtol=1e-9, atol=1e-12)


def _mixture_denoiser(x_noisy, weights, means, variance, sigma):
    """E[x | x_noisy] for sum_k w_k N(m_k, v I): responsibilities times each component's shrinkage."""
    total = variance + sigma**2
    log_r = torch.log(weights) - ((x_noisy[:, None, :] - means) ** 2).sum(-1) / (2 * total)
    r = torch.softmax(log_r, dim=1)
    component = means + variance / total * (x_noisy[:, None, :] - means)
    return (r[..., None] * component).sum(1)


@pytest.mark.parametrize("sigma", [0.2, 0.7, 2.0])
def test_tweedie_on_a_mixture_matches_the_oracle_and_autograd(sigma):
    """For a 2-D mixture, Tweedie's score of the exact denoiser equals -eps*/sigma of the oracle and the autograd score."""
    weights = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
    means = torch.tensor([[-2.0, 0.0], [1.0, 1.0], [0.5, -2.0]], dtype=torch.float64)
    variance = 0.1
    gen = torch.Generator().manual_seed(3)
    x_noisy = 2 * torch.randn(50, 2, generator=gen, dtype=torch.float64)
    score = tweedie_score(
        _mixture_denoiser(x_noisy, weights, means, variance, sigma), x_noisy, sigma
    )
    # x_t = sqrt(abar) x0 + sqrt(1 - abar) eps is sqrt(abar) (x0 + sigma eps) when abar = 1 / (1 + sigma^2)
    abar = 1 / (1 + sigma**2)
    oracle = GaussianMixtureOracle(
        weights, means, variance, NoiseSchedule(torch.tensor([1 - abar]))
    )
    assert torch.allclose(score, -oracle(math.sqrt(abar) * x_noisy, 0) / sigma, atol=1e-10)
    mixture = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(weights),
        torch.distributions.Independent(
            torch.distributions.Normal(means, math.sqrt(variance + sigma**2)), 1
        ),
    )
    x = x_noisy.clone().requires_grad_(True)
    (exact,) = torch.autograd.grad(mixture.log_prob(x).sum(), x)
    assert torch.allclose(score, exact, atol=1e-10)


def test_the_autoencoder_squeezes_through_its_latent():
    """The Jacobian of D at any input has rank at most `latent`; the output has the input's shape."""
    model = DenoisingAutoencoder(
        dim=64, latent=5, hidden=(32,), generator=torch.Generator().manual_seed(0)
    )
    x = torch.randn(1, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    assert model(x).shape == (1, 1, 8, 8) and model.encode(x).shape == (1, 5)
    jacobian = torch.autograd.functional.jacobian(
        lambda v: model(v.reshape(1, 64)), x.reshape(1, 64)
    )
    assert torch.linalg.matrix_rank(jacobian.reshape(64, 64)).item() <= 5


def test_the_conditional_autoencoder_reads_sigma_and_the_plain_one_ignores_it():
    x = torch.randn(3, 64, generator=torch.Generator().manual_seed(0))
    plain = DenoisingAutoencoder(generator=torch.Generator().manual_seed(1))
    assert torch.equal(plain(x, 0.1), plain(x, 2.0)) and torch.equal(plain(x), plain(x, 0.5))
    conditional = DenoisingAutoencoder(conditional=True, generator=torch.Generator().manual_seed(1))
    assert not torch.allclose(conditional(x, 0.1), conditional(x, 2.0))
    per_example = conditional(x, torch.tensor([0.1, 0.5, 2.0]))
    assert torch.allclose(per_example[1], conditional(x[1:2], 0.5)[0])


def test_the_same_seed_gives_the_same_network():
    a = DenoisingAutoencoder(generator=torch.Generator().manual_seed(4))
    b = DenoisingAutoencoder(generator=torch.Generator().manual_seed(4))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


@pytest.mark.parametrize(
    ("make", "argument"),
    [
        (lambda: DenoisingAutoencoder(latent=0), "latent"),
        (lambda: DenoisingAutoencoder(dim=-1), "dim"),
        (lambda: DenoisingAutoencoder(hidden=128), "hidden"),
        (lambda: DenoisingAutoencoder(hidden=(128, 0)), "hidden"),
        (lambda: DenoisingAutoencoder()(torch.zeros(2, 1, 7, 7)), "x"),
        (lambda: DenoisingAutoencoder(conditional=True)(torch.zeros(2, 64)), "sigma"),
        (lambda: DenoisingAutoencoder(conditional=True)(torch.zeros(2, 64), -0.5), "sigma"),
        (lambda: add_noise(torch.zeros(2, 3), 0.0, generator=torch.Generator()), "sigma"),
        (
            lambda: add_noise(
                torch.zeros(2, 3), torch.tensor([1.0, -1.0]), generator=torch.Generator()
            ),
            "sigma",
        ),
        (lambda: add_noise(torch.zeros(2, 3), torch.ones(3), generator=torch.Generator()), "sigma"),
        (lambda: add_noise(torch.zeros(2, 3), 1.0), "generator"),
        (
            lambda: denoising_loss(
                lambda x, s: x, torch.zeros(2, 3), True, generator=torch.Generator()
            ),
            "sigma",
        ),
        (lambda: tweedie_score(torch.zeros(2, 3), torch.zeros(2, 4), 1.0), "denoised"),
        (
            lambda: optimal_gaussian_denoiser(torch.zeros(2, 3), torch.zeros(2), torch.eye(3), 1.0),
            "mean",
        ),
        (
            lambda: optimal_gaussian_denoiser(
                torch.zeros(2, 3), torch.zeros(3), -torch.eye(3), 1.0
            ),
            "cov",
        ),
        (
            lambda: optimal_gaussian_denoiser(
                torch.zeros(2, 1, 3), torch.zeros(3), torch.eye(3), 1.0
            ),
            "x_noisy",
        ),
        (lambda: gaussian_mmse(torch.eye(3), -1.0), "sigma"),
        (
            lambda: train_denoiser(
                torch.nn.Linear(2, 2), torch.zeros(4, 2), (1.0, 0.5), torch.Generator()
            ),
            "sigma",
        ),
        (
            lambda: train_denoiser(
                torch.nn.Linear(2, 2), torch.zeros(4, 2), 0.5, torch.Generator(), steps=0
            ),
            "steps",
        ),
    ],
)
def test_bad_input_is_a_value_error_naming_the_argument(make, argument):
    with pytest.raises(ValueError, match=argument):
        make()


class _Levels(torch.nn.Module):
    """A denoiser a x that keeps the noise levels it is trained at."""

    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(0.5))
        self.levels: list[torch.Tensor] = []

    def forward(self, x, sigma):
        self.levels.append(sigma.detach().clone())
        return self.a * x


def test_training_draws_log_uniform_levels_for_a_conditional_model():
    """With sigma = (low, high), log sigma is uniform on [log low, log high] (KS test)."""
    model = _Levels()
    low, high = 0.05, 2.0
    train_denoiser(
        model,
        torch.zeros(100, 2),
        (low, high),
        torch.Generator().manual_seed(0),
        steps=40,
        batch_size=250,
    )
    log_sigma = torch.cat(model.levels).log().double().numpy()
    uniform = lambda v: np.clip((v - math.log(low)) / math.log(high / low), 0.0, 1.0)  # noqa: E731
    assert_ks(log_sigma, uniform, "log sigma")
    model = _Levels()
    train_denoiser(model, torch.zeros(100, 2), 0.3, torch.Generator().manual_seed(0), steps=3)
    assert torch.allclose(torch.cat(model.levels), torch.tensor(0.3))
    assert not model.training
