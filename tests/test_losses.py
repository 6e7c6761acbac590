"""The variational bound and the losses against ground truth: the entropy of Gaussian data, closed-form KL
divergences, scipy's and mpmath's normal CDF, and the exact floor of the simple loss.

Monte-Carlo checks use fixed seeds and bounds of ``Z_BOUND`` standard errors, computed from the
samples: a correct implementation fails each less than once in a million runs.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch
from scipy import stats

from diffusion_path.contracts.asserts import Z_BOUND, assert_within_se
from diffusion_path.diffusion.forward import q_sample
from diffusion_path.diffusion.losses import (
    ImportanceSampler,
    bits_per_dim,
    discretized_gaussian_log_likelihood,
    prior_kl,
    training_losses,
    vlb_term,
    vlb_terms,
)
from diffusion_path.diffusion.schedules import NoiseSchedule
from diffusion_path.foundations.vae import normal_kl
from diffusion_path.tools.oracle import GaussianOracle

ENTROPY = 0.5 * math.log(2 * math.pi * math.e)  # of N(0, 1), nats


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _levels(levels: int) -> torch.Tensor:
    return torch.linspace(-1.0, 1.0, levels, dtype=torch.float64)


# ----------------------------------------------------------------------------- the KL divergence
def test_normal_kl_is_torch_distributions_kl():
    gen = _gen(0)
    m1, m2 = (
        torch.randn(50, generator=gen, dtype=torch.float64),
        torch.randn(50, generator=gen, dtype=torch.float64),
    )
    lv1, lv2 = (
        torch.randn(50, generator=gen, dtype=torch.float64),
        torch.randn(50, generator=gen, dtype=torch.float64),
    )
    expected = torch.distributions.kl_divergence(
        torch.distributions.Normal(m1, (0.5 * lv1).exp()),
        torch.distributions.Normal(m2, (0.5 * lv2).exp()),
    )
    torch.testing.assert_close(normal_kl(m1, lv1, m2, lv2), expected, rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- the discretized decoder
@pytest.mark.parametrize("levels", [256, 17, 2])
@pytest.mark.parametrize(
    ("mean", "scale"), [(0.0, 0.3), (0.37, 0.01), (-0.9, 2.0), (1.4, 0.05), (0.0, 1e-4)]
)
def test_discretized_probabilities_sum_to_one(levels, mean, scale):
    x = _levels(levels)
    log_p = discretized_gaussian_log_likelihood(
        x,
        torch.tensor(mean, dtype=torch.float64),
        torch.tensor(math.log(scale), dtype=torch.float64),
        levels,
    )
    assert torch.isfinite(log_p).all()
    assert abs(float(log_p.exp().sum()) - 1.0) < 1e-10


@pytest.mark.parametrize("levels", [256, 17])
def test_discretized_matches_scipy_cdf_differences(levels):
    x = _levels(levels)
    half = 1.0 / (levels - 1)
    for mean, scale in [(0.0, 0.3), (0.37, 0.05), (-0.5, 1.0), (0.9, 0.2)]:
        got = discretized_gaussian_log_likelihood(
            x,
            torch.tensor(mean, dtype=torch.float64),
            torch.tensor(math.log(scale), dtype=torch.float64),
            levels,
        ).numpy()
        grid = x.numpy()
        below = stats.norm.cdf(grid + half, mean, scale) - stats.norm.cdf(grid - half, mean, scale)
        above = stats.norm.sf(grid - half, mean, scale) - stats.norm.sf(grid + half, mean, scale)
        p = np.where(grid > mean, above, below)  # subtract where scipy's values do not cancel
        p[0] = stats.norm.cdf(grid[0] + half, mean, scale)  # the open bins at the ends
        p[-1] = stats.norm.sf(grid[-1] - half, mean, scale)
        fine = p > 1e-200  # where the differences of scipy's CDF are themselves accurate
        np.testing.assert_allclose(np.exp(got[fine]), p[fine], rtol=1e-8, atol=1e-300)


def _exact_log_p(x: float, mean: float, scale: float, levels: int) -> float:
    """log P(bin of x) with 60 digits (mpmath), for the far tails where float64 CDFs underflow."""
    mpmath.mp.dps = 60
    half = mpmath.mpf(1) / (levels - 1)
    cdf = lambda z: mpmath.ncdf((mpmath.mpf(z) - mpmath.mpf(mean)) / mpmath.mpf(scale))  # noqa: E731
    if x < -1 + 1e-9:
        return float(mpmath.log(cdf(mpmath.mpf(x) + half)))
    if x > 1 - 1e-9:
        return float(mpmath.log(1 - cdf(mpmath.mpf(x) - half)))
    # 1 - Phi on the upper side, so that 60 digits are plenty
    if x - float(half) > mean:
        hi = 1 - cdf(mpmath.mpf(x) - half)
        lo = 1 - cdf(mpmath.mpf(x) + half)
        return float(mpmath.log(hi - lo))
    return float(mpmath.log(cdf(mpmath.mpf(x) + half) - cdf(mpmath.mpf(x) - half)))


@pytest.mark.parametrize(
    ("level", "mean", "scale", "levels"),
    [
        (0, 1.0, 0.01, 256),  # the first (open) bin, 200 standard deviations below the mean
        (255, -1.0, 0.01, 256),  # the last (open) bin, 200 above
        (40, 0.8, 0.001, 256),  # a middle bin far below the mean
        (220, -0.6, 0.002, 256),  # a middle bin far above the mean
        (8, 0.0, 1e-5, 17),  # the bin of the mean, a tiny scale: probability 1 - 1e-(huge)
        (9, 0.0, 0.004, 17),  # the neighbour of the mean's bin, 15 and 46 standard deviations
        (128, 0.0, 30.0, 256),  # a tiny bin under a very wide Gaussian
    ],
)
def test_discretized_is_exact_in_the_far_tails(level, mean, scale, levels):
    x = _levels(levels)[level]
    got = discretized_gaussian_log_likelihood(
        x.reshape(1),
        torch.tensor([mean], dtype=torch.float64),
        torch.tensor([math.log(scale)], dtype=torch.float64),
        levels,
    ).item()
    expected = _exact_log_p(float(x), mean, scale, levels)
    assert math.isfinite(got)
    assert abs(got - expected) <= 1e-9 * max(1.0, abs(expected)), (got, expected)


def test_discretized_gradients_are_finite_in_the_tails():
    x = _levels(256)[[0, 40, 128, 220, 255]]
    mean = torch.tensor([1.0, 0.8, 0.0, -0.6, -1.0], dtype=torch.float64, requires_grad=True)
    log_scale = torch.log(
        torch.tensor([0.01, 0.001, 30.0, 0.002, 0.01], dtype=torch.float64)
    ).requires_grad_()
    discretized_gaussian_log_likelihood(x, mean, log_scale).sum().backward()
    assert torch.isfinite(mean.grad).all() and torch.isfinite(log_scale.grad).all()


def test_discretized_refuses_data_off_the_levels():
    digits = torch.tensor([-1.0, -0.875, 0.5, 1.0])  # 2p/16 - 1
    discretized_gaussian_log_likelihood(digits, torch.zeros(4), torch.zeros(4), levels=17)
    with pytest.raises(ValueError, match="levels"):
        discretized_gaussian_log_likelihood(digits, torch.zeros(4), torch.zeros(4), levels=256)


# ----------------------------------------------------------------------------- the bound
def _normal_data(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(n, d, generator=_gen(seed), dtype=torch.float64)


def _expected_terms(betas: np.ndarray) -> np.ndarray:
    """E[L_0], ..., E[L_T] for N(0, I) data, the exact noise predictor and sigma_t^2 = beta_t, in closed form.

    With x_t ~ N(0, 1) at every step, Var(x0 | x_t) = 1 - abar_t, so the model's mean misses the
    posterior's by coef1 (x0 - E[x0 | x_t]), of mean square coef1^2 (1 - abar_t); L_0 is the Gaussian
    log-density at x0 of N(E[x0 | x_1], beta_1), and L_T = -log(1 - abar_T) / 2 on average.
    """
    abar = np.cumprod(1 - betas)
    prev = np.concatenate([[1.0], abar[:-1]])
    tilde = (1 - prev) / (1 - abar) * betas
    coef1 = np.sqrt(prev) * betas / (1 - abar)
    kl = 0.5 * (
        np.log(betas[1:] / tilde[1:])
        + tilde[1:] / betas[1:]
        - 1
        + coef1[1:] ** 2 * (1 - abar[1:]) / betas[1:]
    )
    l0 = 0.5 * np.log(2 * np.pi * betas[0]) + 0.5
    return np.concatenate([[l0], kl, [-0.5 * np.log(1 - abar[-1])]])


def test_the_bound_of_gaussian_data_is_its_entropy():
    """N(0, I) data, the exact noise predictor and sigma_t^2 = beta_t: the model's chain is the true reverse
    chain, so the bound is tight and its expectation is the entropy, log(2 pi e) / 2 nats per dimension."""
    schedule = NoiseSchedule.linear(1000)  # DDPM's
    d, n = 8, 4000
    oracle = GaussianOracle(np.zeros(d), torch.eye(d, dtype=torch.float64), schedule)
    x0 = _normal_data(n, d, seed=1)
    terms = vlb_terms(oracle, x0, schedule, _gen(2), variance="beta", decoder="continuous")
    expected = _expected_terms(schedule.betas.numpy())
    assert abs(expected.sum() - ENTROPY) < 1e-9  # the closed forms add up to the entropy
    parts = {
        "L_T": (terms[:, -1], expected[-1]),
        "sum of L_{t-1}": (terms[:, 1:-1].sum(dim=1), expected[1:-1].sum()),
        "L_0": (terms[:, 0], expected[0]),
        "the bound": (terms.sum(dim=1), ENTROPY),
    }
    lines = []
    for what, (values, truth) in parts.items():
        se = float(values.std() / math.sqrt(n))
        lines.append(f"{what}: {float(values.mean()):.5f} ± {se:.5f} (exact {truth:.5f})")
        assert_within_se(float(values.mean()), float(truth), se, what)
    print("\n" + "; ".join(lines) + " nats per dimension")


def test_prior_kl_is_the_closed_form_for_gaussian_data():
    schedule = NoiseSchedule.cosine(50)
    mu, sigma = 0.4, 0.7
    x0 = mu + sigma * _normal_data(20_000, 3, seed=3)
    kl = prior_kl(x0, schedule)
    abar = float(schedule.alpha_bars[-1])
    # per example: torch.distributions' KL of N(sqrt(abar) x0, 1 - abar) from N(0, 1), averaged
    exact = torch.distributions.kl_divergence(
        torch.distributions.Normal(math.sqrt(abar) * x0, math.sqrt(1 - abar)),
        torch.distributions.Normal(0.0, 1.0),
    ).mean(dim=1)
    torch.testing.assert_close(kl, exact, rtol=1e-10, atol=1e-12)
    # in expectation over the data: (abar (mu^2 + sigma^2) - abar - log(1 - abar)) / 2
    expected = 0.5 * (abar * (mu**2 + sigma**2) - abar - math.log(1 - abar))
    assert_within_se(float(kl.mean()), expected, float(kl.std() / math.sqrt(len(kl))), "E[L_T]")


@pytest.mark.parametrize("variance", ["beta", "beta_tilde"])
def test_every_kl_term_with_the_oracle_is_the_kl_of_the_two_gaussians(variance):
    """Each L_t (t >= 1) with the exact noise predictor equals KL(q(x_t | x_{t+1}, x_0) || p(x_t | x_{t+1})),
    the two Gaussians computed here by Bayes' rule and the Gaussian conditional mean."""
    schedule = NoiseSchedule.linear(20, 1e-3, 0.3)
    mean = torch.tensor([0.5, -1.0], dtype=torch.float64)
    cov = torch.tensor([[0.3, 0.1], [0.1, 0.2]], dtype=torch.float64)
    oracle = GaussianOracle(mean, cov, schedule)
    x0 = mean + _normal_data(64, 2, seed=4) @ torch.linalg.cholesky(cov).T
    abar = torch.cumprod(1 - schedule.betas, 0)
    for step in (1, 2, 7, 19):
        x_t = q_sample(x0, step, schedule, generator=_gen(10 + step))
        got = vlb_term(
            oracle(x_t, step), x0, x_t, step, schedule, variance=variance, decoder="continuous"
        )
        a, prev, beta = abar[step], abar[step - 1], schedule.betas[step]
        # E[x0 | x_t] for Gaussian data (the oracle's clean-data estimate), by the Gaussian conditional
        cov_t = a * cov + (1 - a) * torch.eye(2, dtype=torch.float64)
        x0_hat = (
            mean + (math.sqrt(a) * cov @ torch.linalg.inv(cov_t) @ (x_t - math.sqrt(a) * mean).T).T
        )
        # q(x_{t-1} | x_t, x0) by Bayes' rule: prior N(sqrt(prev) x0, 1 - prev), likelihood N(sqrt(1 - beta) x, beta)
        precision = 1 / (1 - prev) + (1 - beta) / beta
        post_var = 1 / precision

        def post_mean(clean, prev=prev, beta=beta, x_t=x_t, precision=precision):
            return (
                math.sqrt(prev) * clean / (1 - prev) + math.sqrt(1 - beta) * x_t / beta
            ) / precision

        model_var = beta if variance == "beta" else post_var
        expected = torch.distributions.kl_divergence(
            torch.distributions.Normal(post_mean(x0), post_var.sqrt()),
            torch.distributions.Normal(post_mean(x0_hat), torch.as_tensor(model_var).sqrt()),
        ).mean(dim=1)
        torch.testing.assert_close(got, expected, rtol=1e-8, atol=1e-12)


def test_the_decoder_term_is_the_likelihood_of_the_data():
    """L_0 for a model that knows a single-point data set: continuous, the Gaussian density at x0; discretized,
    the probability of x0's bin, which is 1 when the model's scale is far below the bin's width."""
    schedule = NoiseSchedule.linear(10, 1e-4, 0.2)
    # on the levels of 17 (and of 9); the model predicts the exact noise
    c = torch.tensor([[-1.0, 0.5, 0.75, 1.0]], dtype=torch.float64).repeat(8, 1)
    x1 = q_sample(c, 0, schedule, generator=_gen(5))
    eps = (x1 - schedule.sqrt_alpha_bars[0] * c) / schedule.sqrt_one_minus_alpha_bars[0]
    continuous = vlb_term(eps, c, x1, 0, schedule, variance="beta", decoder="continuous")
    density = stats.norm.logpdf(c.numpy(), loc=c.numpy(), scale=math.sqrt(1e-4)).mean(axis=1)
    np.testing.assert_allclose(continuous.numpy(), -density, rtol=1e-10)
    discretized = vlb_term(
        eps, c, x1, 0, schedule, variance="beta", decoder="discretized", levels=17
    )
    # sigma 0.01 and half a bin 1/16: each bin holds all but Phi(-6.25) on each closed side
    tail = stats.norm.cdf(-6.25)
    expected = -np.mean(
        [np.log1p(-tail), np.log1p(-2 * tail), np.log1p(-2 * tail), np.log1p(-tail)]
    )
    np.testing.assert_allclose(discretized.numpy(), expected, rtol=1e-8)


def test_a_learned_variance_interpolates_the_log_variances():
    schedule = NoiseSchedule.linear(10, 1e-3, 0.3)
    x0 = _normal_data(6, 3, seed=6)
    x_t = q_sample(x0, 4, schedule, generator=_gen(7))
    eps = torch.randn(x0.shape, generator=_gen(8), dtype=torch.float64)
    for v, named in ((0.0, "beta_tilde"), (1.0, "beta")):
        learned = vlb_term(
            torch.cat([eps, torch.full_like(eps, v)], 1),
            x0,
            x_t,
            4,
            schedule,
            variance="learned",
            decoder="continuous",
        )
        fixed = vlb_term(eps, x0, x_t, 4, schedule, variance=named, decoder="continuous")
        torch.testing.assert_close(learned, fixed, rtol=1e-12, atol=1e-12)
    # v = 0.3: sigma^2 = beta^0.3 beta_tilde^0.7; the KL of the same means with that variance
    beta, tilde = schedule.betas[4], schedule.posterior_variance[4]
    sigma2 = beta**0.3 * tilde**0.7
    both = vlb_term(
        torch.cat([eps, torch.full_like(eps, 0.3)], 1),
        x0,
        x_t,
        4,
        schedule,
        variance="learned",
        decoder="continuous",
    )
    base = vlb_term(
        eps, x0, x_t, 4, schedule, variance="beta_tilde", decoder="continuous"
    )  # mean part / tilde
    # KL(N(m, tilde) || N(m', s2)) = (log(s2/tilde) + tilde/s2 - 1)/2 + tilde/s2 * (m - m')^2/(2 tilde)
    mean_part = base  # (m - m')^2 / (2 tilde), averaged
    expected = 0.5 * (torch.log(sigma2 / tilde) + tilde / sigma2 - 1) + tilde / sigma2 * mean_part
    torch.testing.assert_close(both, expected, rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- the losses
def test_the_simple_loss_at_the_oracle_is_the_floor():
    """L_simple of the exact predictor is the mean over t of the floor (C3.8), tr(I - (1 - abar) Sigma_t^-1) / d."""
    schedule = NoiseSchedule.cosine(40)
    mean = torch.tensor([0.5, -1.0], dtype=torch.float64)
    cov = torch.tensor([[0.3, 0.1], [0.1, 0.2]], dtype=torch.float64)
    oracle = GaussianOracle(mean, cov, schedule)
    x0 = mean + _normal_data(40_000, 2, seed=9) @ torch.linalg.cholesky(cov).T
    losses, _, _ = training_losses(oracle, x0, schedule, _gen(10), decoder="continuous")
    floors = []
    for abar in schedule.alpha_bars:
        sigma_t = abar * cov + (1 - abar) * torch.eye(2, dtype=torch.float64)
        floors.append(
            float(
                torch.trace(
                    torch.eye(2, dtype=torch.float64) - (1 - abar) * torch.linalg.inv(sigma_t)
                )
            )
            / 2
        )
    se = float(losses.std() / math.sqrt(len(losses)))
    assert_within_se(
        float(losses.mean()), float(np.mean(floors)), se, "L_simple of the exact predictor"
    )


def _offset_model(c: torch.Tensor, schedule: NoiseSchedule, offsets: torch.Tensor):
    """The exact noise for single-point data c, plus offsets[t]: every L_t is then a known constant."""

    def model(x_t, t):
        a = schedule.alpha_bars[t].to(x_t.dtype).reshape(-1, 1)
        return (x_t - a.sqrt() * c) / (1 - a).sqrt() + offsets[t].reshape(-1, 1)

    return model


def _offset_terms(c: torch.Tensor, schedule: NoiseSchedule, offsets: torch.Tensor) -> torch.Tensor:
    """L_0, ..., L_{T-1} of the offset model with sigma^2 = beta_tilde and the continuous decoder, by hand.

    The mean is off by coef1 * sqrt(1 - abar)/sqrt(abar) * delta = beta / (sqrt(alpha) sqrt(1 - abar)) * delta
    (DDPM eq. 11); with equal variances the KL is its square over 2 beta_tilde. L_0: the decoder's variance is
    the clipped beta_tilde_2 and the mean is x0_hat = c - sqrt(1 - abar_1)/sqrt(abar_1) delta_0.
    """
    betas, abar = schedule.betas, schedule.alpha_bars
    shift = betas / ((1 - betas).sqrt() * (1 - abar).sqrt()) * offsets
    kl = shift**2 / (2 * schedule.posterior_variance.clamp(min=1e-300))
    var0 = schedule.posterior_variance[1]
    err0 = (1 - abar[0]).sqrt() / abar[0].sqrt() * offsets[0]
    kl[0] = 0.5 * torch.log(2 * math.pi * var0) + err0**2 / (2 * var0)
    return kl


def test_importance_sampling_gives_an_unbiased_bound():
    schedule = NoiseSchedule.linear(12, 1e-3, 0.3)
    offsets = torch.linspace(0.05, 0.6, 12, dtype=torch.float64)
    c = torch.tensor([0.3], dtype=torch.float64)
    model = _offset_model(c, schedule, offsets)
    exact = _offset_terms(c, schedule, offsets)
    prior = prior_kl(c.reshape(1, 1), schedule)
    bound = float(exact.sum() + prior)
    sampler = ImportanceSampler(12, history=3, uniform=0.05)
    sampler.update(
        torch.arange(12).repeat(3),
        torch.rand(36, generator=_gen(11), dtype=torch.float64) * torch.arange(1, 13).repeat(3),
    )
    p = sampler.probabilities()
    assert float((p - 1 / 12).abs().max()) > 0.02  # not uniform
    # exactly: sum over t of p_t (L_t / p_t) is the sum of the terms
    assert abs(float((p * exact / p).sum()) - float(exact.sum())) < 1e-12
    x0 = c.repeat(20_000, 1)
    for chosen in (None, sampler):
        losses, t, terms = training_losses(
            model,
            x0,
            schedule,
            _gen(12),
            objective="vlb",
            variance="beta_tilde",
            sampler=chosen,
            decoder="continuous",
        )
        torch.testing.assert_close(
            terms, exact[t], rtol=1e-8, atol=1e-10
        )  # every term is the known constant
        se = float(losses.std() / math.sqrt(len(losses)))
        assert_within_se(float(losses.mean()), bound, se, "the importance-weighted bound")


def test_the_hybrid_stops_the_gradient_of_the_bound_at_the_mean():
    schedule = NoiseSchedule.linear(10, 1e-3, 0.3)
    x0 = _normal_data(32, 2, seed=13)
    scale = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    v = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)

    def model(x_t, t):
        return torch.cat([scale * x_t, v * torch.ones_like(x_t)], dim=1)

    losses, t, _ = training_losses(
        model, x0, schedule, _gen(14), objective="hybrid", variance="learned", decoder="continuous"
    )
    losses.mean().backward()
    # the same draws by hand: the gradient with respect to the noise prediction's weight is the mse's alone
    gen = _gen(14)
    t_hand = torch.randint(0, 10, (32,), generator=gen)
    eps = torch.randn(x0.shape, generator=gen, dtype=torch.float64)
    assert torch.equal(t, t_hand)
    x_t = q_sample(x0, t_hand, schedule, noise=eps)
    expected = torch.autograd.grad(((eps - scale * x_t) ** 2).mean(), scale)[0]
    torch.testing.assert_close(scale.grad, expected, rtol=1e-10, atol=1e-14)
    assert float(v.grad.abs()) > 0  # the bound trains the variance


def test_bits_per_dim():
    torch.testing.assert_close(
        bits_per_dim(torch.tensor([math.log(2.0), 3.0])), torch.tensor([1.0, 3.0 / math.log(2.0)])
    )
    # a density of data in [-1, 1] with 256 levels: the bin of a level is 2/255 wide
    assert (
        abs(
            float(bits_per_dim(torch.tensor(0.0, dtype=torch.float64), levels=256))
            - math.log2(127.5)
        )
        < 1e-12
    )


def test_the_importance_sampler_waits_for_a_full_history_then_follows_the_root_mean_square():
    sampler = ImportanceSampler(4, history=2, uniform=0.1)
    sampler.update(
        torch.tensor([0, 1, 2, 3, 0, 1, 2]), torch.tensor([1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0])
    )
    torch.testing.assert_close(sampler.probabilities(), torch.full((4,), 0.25, dtype=torch.float64))
    sampler.update(
        torch.tensor([3, 0]), torch.tensor([2.0, 7.0])
    )  # 0 now holds (1, 7): the oldest 1 is kept
    sampler.update(torch.tensor([0]), torch.tensor([5.0]))  # 0 holds (7, 5): the 1 dropped
    rms = torch.tensor(
        [math.sqrt((49 + 25) / 2), 2.0, 3.0, math.sqrt((16 + 4) / 2)], dtype=torch.float64
    )
    torch.testing.assert_close(sampler.probabilities(), 0.9 * rms / rms.sum() + 0.1 / 4)
    t, p = sampler.sample(100_000, _gen(15))
    counts = torch.bincount(t, minlength=4).double() / 100_000
    expected = sampler.probabilities()
    torch.testing.assert_close(p, expected[t])
    assert float((counts - expected).abs().max()) < Z_BOUND * math.sqrt(0.25 / 100_000)


# ----------------------------------------------------------------------------- figures
def test_figures_and_tables_are_drawn_with_the_implementation_they_are_given(monkeypatch):
    """Each figure calls the functions of the ``impl`` it is given (the reference, recorded), quickly."""
    from types import SimpleNamespace

    from matplotlib.figure import Figure

    from diffusion_path.diffusion import losses
    from diffusion_path.figures import core_4

    monkeypatch.setenv("DIFFUSION_PATH_QUICK", "true")
    called = set()

    def recording(name):
        def wrapper(*args, **kwargs):
            called.add(name)
            return getattr(losses, name)(*args, **kwargs)

        return wrapper

    impl = SimpleNamespace(**{name: recording(name) for name in losses.__all__})
    for name, make in core_4.FIGURES.items():
        assert isinstance(make(impl), Figure), name
    assert called == {
        "ImportanceSampler",
        "bits_per_dim",
        "prior_kl",
        "training_losses",
        "vlb_term",
        "vlb_terms",
    }
    for name, make in core_4.TABLES.items():
        assert make().count("\n|") >= 4, name


def test_the_level_posterior_network_is_exact_where_the_noise_is_small():
    """At the first step the likelihood picks each pixel's level: the noise is predicted exactly."""
    from diffusion_path.figures import core_4

    schedule = core_4.digit_schedule()
    model = core_4.LevelPosteriorMLP(schedule, dim=64, generator=torch.Generator().manual_seed(0))
    _, held = core_4._digits()
    x0 = held[:50]
    t = torch.zeros(len(x0), dtype=torch.long)
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(1)).clamp(
        -2.0, 2.0
    )  # within half a level's gap
    x_t = (
        schedule.sqrt_alpha_bars[0].float() * x0
        + schedule.sqrt_one_minus_alpha_bars[0].float() * eps
    )
    with torch.no_grad():
        assert torch.allclose(model(x_t, t), eps, atol=1e-3)
    learned = core_4.LevelPosteriorMLP(schedule, dim=64, learned_variance=True)
    assert learned(x_t, t).shape == (50, 128)


def test_the_histogram_baseline_is_between_zero_and_the_uniform_model():
    from diffusion_path.figures import core_4

    assert 0.0 < core_4.histogram_bits() < math.log2(core_4.LEVELS)
