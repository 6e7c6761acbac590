"""Variational autoencoders against ground truth: torch.distributions, Pre-Task 1's closed forms, and PPCA."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from diffusion_path.contracts.asserts import Z_BOUND
from diffusion_path.foundations.gaussians import kl_gaussians, mvn_log_pdf
from diffusion_path.foundations.vae import (
    PPCA,
    VAE,
    ais_log_likelihood,
    bernoulli_log_likelihood,
    elbo,
    gaussian_log_likelihood,
    iwae_bound,
    normal_kl,
    reparameterize,
    train_vae,
)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(*shape, generator=_gen(seed), dtype=dtype)


# ----------------------------------------------------------------------------- the formulas


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_normal_kl_is_torch_distributions_kl(dtype):
    m1, v1, m2, v2 = (_randn(6, 4, seed=i, dtype=dtype) for i in range(4))
    got = normal_kl(m1, v1, m2, v2)
    p = torch.distributions.Normal(m1, torch.exp(0.5 * v1))
    q = torch.distributions.Normal(m2, torch.exp(0.5 * v2))
    assert got.dtype == dtype
    torch.testing.assert_close(got, torch.distributions.kl_divergence(p, q))


def test_normal_kl_summed_is_pre_task_1_kl_for_diagonal_covariances():
    """Summed over the coordinates, it is Pre-Task 1's (P1.6) with diagonal covariances."""
    m1, v1, m2, v2 = (_randn(5, seed=10 + i) for i in range(4))
    expected = kl_gaussians(
        m1.numpy(), np.diag(v1.exp().numpy()), m2.numpy(), np.diag(v2.exp().numpy())
    )
    assert float(normal_kl(m1, v1, m2, v2).sum()) == pytest.approx(expected, rel=1e-12)


def test_normal_kl_against_the_prior_is_kingma_wellings_form():
    mean, logvar = _randn(3, 2, seed=20), _randn(3, 2, seed=21)
    zero = torch.zeros(())
    got = normal_kl(mean, logvar, zero.double(), zero.double())
    torch.testing.assert_close(got, -0.5 * (1 + logvar - mean**2 - logvar.exp()))


def test_gaussian_log_likelihood_is_pre_task_1_density():
    x, mean, logvar = _randn(7, 3, seed=30), _randn(3, seed=31), _randn(3, seed=32)
    got = gaussian_log_likelihood(x, mean, logvar).sum(-1)
    expected = mvn_log_pdf(x.numpy(), mean.numpy(), np.diag(logvar.exp().numpy()))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)


def test_bernoulli_log_likelihood_is_torch_distributions_and_stable():
    x = (torch.rand(5, 6, generator=_gen(40)) > 0.5).float()
    logits = 4 * _randn(5, 6, seed=41, dtype=torch.float32)
    torch.testing.assert_close(
        bernoulli_log_likelihood(x, logits),
        torch.distributions.Bernoulli(logits=logits).log_prob(x),
    )
    big = torch.tensor([1e4, -1e4])
    assert bernoulli_log_likelihood(torch.tensor([1.0, 1.0]), big).tolist() == [0.0, -1e4]


def test_bernoulli_rejects_data_on_the_model_scale():
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\]"):
        bernoulli_log_likelihood(torch.tensor([-1.0, 1.0]), torch.zeros(2))


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (
            lambda: normal_kl(torch.zeros(2), torch.zeros(3), torch.zeros(2), torch.zeros(2)),
            "logvar1",
        ),
        (lambda: normal_kl(torch.zeros(2), torch.zeros(2), [0.0], torch.zeros(2)), "mean2"),
        (
            lambda: gaussian_log_likelihood(
                torch.zeros(2), torch.zeros(2), torch.tensor([1.0, math.inf])
            ),
            "logvar",
        ),
        (lambda: reparameterize(torch.zeros(2), torch.zeros(3), noise=torch.zeros(2)), "logvar"),
        (lambda: reparameterize(torch.zeros(2), torch.zeros(2)), "generator"),
        (lambda: reparameterize(torch.zeros(2), torch.zeros(2), noise=torch.zeros(3)), "noise"),
    ],
)
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


# ----------------------------------------------------------------------------- reparameterisation


def test_reparameterised_samples_have_the_right_mean_and_variance():
    n = 200_000
    mean = torch.tensor([0.5, -1.0], dtype=torch.float64)
    logvar = torch.tensor([math.log(0.04), math.log(9.0)], dtype=torch.float64)
    z = reparameterize(mean.expand(n, 2), logvar.expand(n, 2), generator=_gen(50))
    var = logvar.exp()
    for j in range(2):
        assert abs(float(z[:, j].mean()) - float(mean[j])) < Z_BOUND * math.sqrt(var[j] / n)
        se = float(var[j]) * math.sqrt(2 / n)
        assert abs(float(z[:, j].var()) - float(var[j])) < Z_BOUND * se


def test_gradients_flow_through_reparameterised_samples():
    """torch.autograd.gradcheck: z is a differentiable function of mean and logvar for fixed noise."""
    eps = _randn(3, 2, seed=60)
    mean = _randn(3, 2, seed=61).requires_grad_(True)
    logvar = _randn(3, 2, seed=62).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda m, v: reparameterize(m, v, noise=eps), (mean, logvar))
    z = reparameterize(mean, logvar, generator=_gen(63))
    z.sum().backward()
    torch.testing.assert_close(mean.grad, torch.ones(3, 2, dtype=torch.float64))
    noise = (z.detach() - mean.detach()) / torch.exp(0.5 * logvar.detach())
    torch.testing.assert_close(logvar.grad, 0.5 * torch.exp(0.5 * logvar.detach()) * noise)


# ----------------------------------------------------------------------------- PPCA ground truth


def _ppca(posterior: bool = True) -> PPCA:
    """x = W z + mu + sigma eps in 6-D with a 3-D code; W's columns orthogonal."""
    q, _ = torch.linalg.qr(_randn(6, 3, seed=70))
    W = q * torch.tensor([2.0, 1.2, 0.6], dtype=torch.float64)
    return PPCA(W, _randn(6, seed=71), 0.5, posterior=posterior)


def _truth(model: PPCA, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """log p(x), and the posterior mean and covariance, by Gaussian conditioning in NumPy."""
    W, mu, s2 = model.W.numpy(), model.mu.numpy(), model.sigma**2
    cov_x = W @ W.T + s2 * np.eye(W.shape[0])
    log_px = mvn_log_pdf(x.numpy(), mu, cov_x)
    gain = W.T @ np.linalg.inv(cov_x)  # Cov(z, x) Cov(x)^-1
    mean = (x.numpy() - mu) @ gain.T
    cov = np.eye(W.shape[1]) - gain @ W
    return log_px, mean, cov


def test_ppca_marginal_and_posterior_are_gaussian_conditioning():
    model = _ppca()
    x = model.sample(8, _gen(72))
    log_px, mean, cov = _truth(model, x)
    np.testing.assert_allclose(model.log_marginal(x).numpy(), log_px, rtol=1e-12)
    got_mean, got_logvar = model.encode(x)
    np.testing.assert_allclose(got_mean.numpy(), mean, rtol=1e-10, atol=1e-12)
    assert np.allclose(cov, np.diag(np.diag(cov)), atol=1e-12)  # orthogonal columns: diagonal
    np.testing.assert_allclose(got_logvar.exp().numpy(), np.tile(np.diag(cov), (8, 1)), rtol=1e-10)


def test_elbo_with_the_true_posterior_is_log_px_exactly():
    """ELBO = E_q log p(x | z) - KL: at z = mean plus the closed-form variance term it is log p(x)."""
    model = _ppca()
    x = model.sample(8, _gen(73))
    log_px, _, cov = _truth(model, x)
    at_mean, _, _ = elbo(x, model, noise=torch.zeros(8, 3, dtype=torch.float64))
    # E_q log p(x | z) = log p(x | mean) - tr(W S W^T) / (2 sigma^2)
    W = model.W.numpy()
    variance_term = np.trace(W @ cov @ W.T) / (2 * model.sigma**2)
    np.testing.assert_allclose(at_mean.numpy() - variance_term, log_px, rtol=1e-12)


def test_elbo_estimates_average_to_log_px_with_the_true_posterior():
    model = _ppca()
    x = model.sample(3, _gen(74))
    log_px, _, _ = _truth(model, x)
    repeats = 20_000
    draws, reconstruction, kl = elbo(x.repeat(repeats, 1), model, generator=_gen(75))
    torch.testing.assert_close(draws, reconstruction - kl)
    draws = draws.reshape(repeats, 3)
    se = draws.std(0) / math.sqrt(repeats)
    assert torch.all((draws.mean(0) - torch.tensor(log_px)).abs() < Z_BOUND * se)


def test_iwae_with_the_true_posterior_is_log_px_for_every_k():
    model = _ppca()
    x = model.sample(5, _gen(76))
    log_px, _, _ = _truth(model, x)
    for k in (1, 7, 100):
        np.testing.assert_allclose(
            iwae_bound(x, model, k, generator=_gen(k)).numpy(), log_px, rtol=1e-12
        )


def test_iwae_bound_increases_with_k_towards_log_px():
    """With the prior as q (Burda et al., Theorem 1): E L_1 <= E L_10 <= E L_100 <= E L_1000 <= log p(x)."""
    model = _ppca(posterior=False)
    x = model.sample(1, _gen(77))
    log_px = float(_truth(model, x)[0][0])
    repeats, previous = 400, -math.inf
    for k in (1, 10, 100, 1000):
        draws = iwae_bound(x.expand(repeats, 6), model, k, generator=_gen(78 + k))
        mean, se = float(draws.mean()), float(draws.std() / math.sqrt(repeats))
        assert mean - Z_BOUND * se <= log_px
        assert mean + Z_BOUND * se > previous
        previous = mean - Z_BOUND * se
    assert previous > log_px - 1.0  # L_1000 is within a nat of log p(x)


@pytest.mark.parametrize("temperatures", [2, 51])
def test_importance_sampling_and_ais_from_the_prior_converge_to_log_px(temperatures):
    """temperatures = 2 is plain importance sampling from the prior; 51 is AIS (Pre-Task 2)."""
    model = _ppca(posterior=False)
    x = model.sample(3, _gen(80))
    log_px, _, _ = _truth(model, x)
    estimate, se = ais_log_likelihood(
        x, model, np.linspace(0, 1, temperatures), 20_000, _gen(81), proposal="prior"
    )
    assert torch.all((estimate - torch.tensor(log_px)).abs() < Z_BOUND * se)
    assert torch.all(se < 0.2)


def test_ais_started_at_the_true_posterior_is_exact():
    """From the true posterior every path density is proportional to the start: each weight is p(x).

    This tests the change of variables into standardised coordinates: without the Jacobian
    prod_j s_j the estimate would be off by sum_j log s_j.
    """
    model = _ppca()
    x = model.sample(4, _gen(82))
    log_px, _, _ = _truth(model, x)
    estimate, se = ais_log_likelihood(x, model, np.linspace(0, 1, 6), 50, _gen(83))
    np.testing.assert_allclose(estimate.numpy(), log_px, rtol=1e-10)
    assert float(se.max()) < 1e-9


def test_ais_is_reproducible_and_rejects_bad_input():
    model = _ppca()
    x = model.sample(2, _gen(84))
    a = ais_log_likelihood(x, model, np.linspace(0, 1, 3), 10, _gen(5), proposal="prior")
    b = ais_log_likelihood(x, model, np.linspace(0, 1, 3), 10, _gen(5), proposal="prior")
    assert torch.equal(a[0], b[0])
    with pytest.raises(ValueError, match="proposal"):
        ais_log_likelihood(x, model, np.linspace(0, 1, 3), 10, _gen(5), proposal="posterior")
    with pytest.raises(ValueError, match="inverse_temperatures"):
        ais_log_likelihood(x, model, np.linspace(1, 0, 3), 10, _gen(5))
    with pytest.raises(ValueError, match="generator"):
        ais_log_likelihood(x, model, np.linspace(0, 1, 3), 10, np.random.default_rng(0))


def test_ppca_rejects_non_orthogonal_columns_for_the_posterior():
    W = torch.tensor([[1.0, 1.0], [0.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    with pytest.raises(ValueError, match="W must have orthogonal columns"):
        PPCA(W, torch.zeros(3, dtype=torch.float64), 1.0)
    PPCA(W, torch.zeros(3, dtype=torch.float64), 1.0, posterior=False)  # the prior needs nothing


# ----------------------------------------------------------------------------- the VAE


def test_vae_shapes_and_leading_axes():
    model = VAE((1, 8, 8), latent_dim=3, hidden=16, generator=_gen(90))
    x = (torch.rand(5, 1, 8, 8, generator=_gen(91)) > 0.5).float()
    mean, logvar = model.encode(x)
    assert mean.shape == logvar.shape == (5, 3)
    z = torch.randn(7, 5, 3, generator=_gen(92))
    assert model.log_likelihood(x, z).shape == (7, 5)
    assert model.decode(z).shape == (7, 5, 1, 8, 8)
    # leading axes: each slice is the log-likelihood of its own codes
    torch.testing.assert_close(model.log_likelihood(x, z)[2], model.log_likelihood(x, z[2]))


def test_vae_log_likelihood_is_the_bernoulli_sum_over_pixels():
    model = VAE((1, 2, 3), latent_dim=2, hidden=8, generator=_gen(93))
    x = (torch.rand(4, 1, 2, 3, generator=_gen(94)) > 0.5).float()
    z = torch.randn(4, 2, generator=_gen(95))
    logits = model.decoder(z).reshape(4, 1, 2, 3)
    expected = torch.distributions.Bernoulli(logits=logits).log_prob(x).sum((1, 2, 3))
    torch.testing.assert_close(model.log_likelihood(x, z), expected)
    torch.testing.assert_close(model.decode(z), torch.sigmoid(logits))


def test_gaussian_vae_uses_its_learned_variance():
    model = VAE((4,), latent_dim=1, hidden=8, likelihood="gaussian", generator=_gen(96))
    with torch.no_grad():
        model.decoder_logvar.fill_(math.log(0.25))
    x, z = torch.randn(3, 4, generator=_gen(97)), torch.randn(3, 1, generator=_gen(98))
    expected = torch.distributions.Normal(model.decoder(z), 0.5).log_prob(x).sum(-1)
    torch.testing.assert_close(model.log_likelihood(x, z), expected)


def test_same_seed_same_vae():
    a, b = VAE(generator=_gen(1)), VAE(generator=_gen(1))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: VAE(latent_dim=0), "latent_dim"),
        (lambda: VAE(image_shape=(1, 0, 8)), "image_shape"),
        (lambda: VAE(likelihood="poisson"), "likelihood"),
        (lambda: VAE(depth=-1), "depth"),
        (lambda: VAE().encode(torch.zeros(5, 64)), "x"),
        (lambda: VAE().encode(torch.zeros(5, 1, 28, 28)), "x"),
        (lambda: VAE().log_likelihood(torch.zeros(5, 1, 8, 8), torch.zeros(4, 2)), "z"),
        (lambda: VAE().log_likelihood(torch.zeros(5, 1, 8, 8), torch.zeros(5, 3)), "z"),
        (lambda: VAE().log_likelihood(-torch.ones(5, 1, 8, 8), torch.zeros(5, 2)), "x"),
        (lambda: VAE().decode(torch.zeros(5, 3)), "z"),
        (lambda: elbo(torch.zeros(2, 1, 8, 8), object(), _gen(0)), "model"),
        (lambda: iwae_bound(torch.zeros(2, 1, 8, 8), VAE(), 0, _gen(0)), "k"),
        (lambda: train_vae(VAE(), torch.zeros(4, 64), _gen(0)), "data"),
        (lambda: train_vae(VAE(), torch.zeros(4, 1, 8, 8), _gen(0), beta=0.0), "beta"),
        (lambda: train_vae(object(), torch.zeros(4, 1, 8, 8), _gen(0)), "model"),
    ],
)
def test_vae_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_training_raises_the_elbo_and_is_reproducible():
    """Twenty binary 4-pixel patterns: 300 steps raise the ELBO by far more than its noise."""
    patterns = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]])
    data = patterns[torch.arange(20) % 2].reshape(20, 1, 2, 2)
    losses = {}
    for run in range(2):
        gen = _gen(99)
        model = VAE((1, 2, 2), latent_dim=1, hidden=16, generator=gen)
        losses[run] = train_vae(model, data, gen, steps=300, batch_size=20, lr=1e-2)
    assert losses[0] == losses[1]
    # 4 pixels at chance cost 4 log 2 = 2.77 nats; two patterns need at most log 2 = 0.69
    assert sum(losses[0][:10]) / 10 > 2.0 and sum(losses[0][-10:]) / 10 < 1.2
