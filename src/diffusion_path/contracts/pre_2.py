"""Contract of Pre-Task 2: sampling from probability distributions, up to AIS.

Ground truth: closed-form CDFs (from ``math.erf`` and ``math.exp``), densities from
``torch.distributions`` (a library independent of the NumPy code under test), and
normalising constants known exactly. Every sampler is checked with a
Kolmogorov–Smirnov test (DKW bound) and moment checks that a correct sampler fails
less than once in a million runs.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from diffusion_path.contracts import (
    Z_BOUND,
    assert_close,
    assert_ks,
    assert_raises_value_error,
    assert_within_se,
    normal_cdf,
)
from diffusion_path.contracts.base import Contract

CONTRACT = Contract("pre-2")
check = CONTRACT.check


def _torch_density(distribution: torch.distributions.Distribution, x: np.ndarray) -> np.ndarray:
    return distribution.log_prob(torch.tensor(x, dtype=torch.float64)).exp().numpy()


def _uniform_cdf(a: float, b: float):
    return lambda t: np.clip((t - a) / (b - a), 0.0, 1.0)


def _exponential_cdf(rate: float):
    return lambda t: np.where(t > 0, -np.expm1(-rate * np.maximum(t, 0.0)), 0.0)


def _laplace_cdf(mu: float, b: float):
    def cdf(t):
        z = (t - mu) / b
        return np.where(z < 0, 0.5 * np.exp(np.minimum(z, 0.0)), 1 - 0.5 * np.exp(-np.abs(z)))

    return cdf


def _same_seed_same_samples(draw, what: str) -> None:
    a, b = draw(np.random.default_rng(7)), draw(np.random.default_rng(7))
    c = draw(np.random.default_rng(8))
    assert np.array_equal(a, b), f"{what}: the same seed gave different samples; use rng"
    assert not np.array_equal(a, c), f"{what}: different seeds gave the same samples; use rng"


# ----------------------------------------------------------------------------- uniform
@check("uniform_pdf", hint="p(x) = 1 / (b - a) for a <= x <= b and 0 outside.")
def uniform_pdf_matches_torch(impl):
    """uniform_pdf is 1/(b - a) inside [a, b], 0 outside, and rejects b <= a."""
    x = np.linspace(-3.0, 3.0, 61)
    got = np.asarray(impl.uniform_pdf(x, -1.0, 2.0))
    inside = (x > -1.0) & (x < 2.0)
    expected = np.zeros_like(x)
    expected[inside] = _torch_density(torch.distributions.Uniform(-1.0, 2.0), x[inside])
    edges = (x == -1.0) | (x == 2.0)  # the value at the two end points is a convention
    assert_close(got[~edges], expected[~edges], "uniform_pdf(x, -1, 2)")
    assert_raises_value_error(lambda: impl.uniform_pdf(0.0, 1.0, 1.0), "b", "a = b = 1")


SAMPLE_UNIFORM_HINT = "Return a + (b - a) * rng.random(size): stretch U(0, 1) onto [a, b]."


@check("sample_uniform", hint=SAMPLE_UNIFORM_HINT)
def uniform_samples_follow_the_law(impl):
    """sample_uniform(a, b, n, rng) follows U(a, b): KS test, mean and variance."""
    n, a, b = 50_000, -1.0, 3.0
    x = np.asarray(impl.sample_uniform(a, b, n, np.random.default_rng(1)))
    assert x.shape == (n,), f"shape {x.shape}, expected ({n},)"
    width = b - a
    assert_within_se(x.mean(), (a + b) / 2, width / math.sqrt(12 * n), "the sample mean")
    # Var of (x - m)^2 for a uniform: width^4 (1/80 - 1/144)
    se_var = width**2 * math.sqrt((1 / 80 - 1 / 144) / n)
    assert_within_se(np.mean((x - 1.0) ** 2), width**2 / 12, se_var, "the sample variance")
    assert_ks(x, _uniform_cdf(a, b), "U(-1, 3)")


@check("sample_uniform", hint=SAMPLE_UNIFORM_HINT)
def uniform_samples_shape_seed_and_errors(impl):
    """sample_uniform keeps the shape asked for, follows its rng, and rejects b <= a."""
    x = np.asarray(impl.sample_uniform(0.0, 1.0, (3, 4), np.random.default_rng(0)))
    assert x.shape == (3, 4), f"size=(3, 4) gave shape {x.shape}"
    _same_seed_same_samples(lambda r: impl.sample_uniform(0.0, 1.0, 10, r), "sample_uniform")
    rng = np.random.default_rng(0)
    assert_raises_value_error(lambda: impl.sample_uniform(2.0, 1.0, 5, rng), "b", "b < a")


# ----------------------------------------------------------------------------- exponential
@check("exponential_pdf", hint="p(x) = rate * exp(-rate * x) for x >= 0, and 0 for x < 0.")
def exponential_pdf_matches_torch(impl):
    """exponential_pdf matches torch.distributions.Exponential and is 0 for x < 0."""
    x = np.linspace(0.01, 6.0, 40)
    for rate in (0.5, 1.0, 3.0):
        expected = _torch_density(torch.distributions.Exponential(rate), x)
        assert_close(impl.exponential_pdf(x, rate), expected, f"exponential_pdf(x, {rate})")
    assert_close(impl.exponential_pdf(np.array([-1.0, -0.1]), 2.0), [0.0, 0.0], "p(x < 0)")
    assert_raises_value_error(lambda: impl.exponential_pdf(1.0, 0.0), "rate", "rate=0")


SAMPLE_EXP_HINT = (
    "Inverse CDF: F(x) = 1 - exp(-rate x), so x = -log(1 - u) / rate with u = rng.random(size). "
    "Divide by the rate (the mean is 1 / rate), do not multiply."
)


@check("sample_exponential", hint=SAMPLE_EXP_HINT)
def exponential_samples_follow_the_law(impl):
    """sample_exponential(rate, n, rng) follows Exp(rate): KS test and mean."""
    n = 50_000
    for rate in (0.5, 4.0):
        x = np.asarray(impl.sample_exponential(rate, n, np.random.default_rng(2)))
        assert x.shape == (n,), f"shape {x.shape}, expected ({n},)"
        assert_within_se(x.mean(), 1 / rate, 1 / (rate * math.sqrt(n)), f"the mean for rate={rate}")
        assert_ks(x, _exponential_cdf(rate), f"Exp({rate})")


@check("sample_exponential", hint="Reject rate <= 0 with a ValueError naming rate.")
def exponential_samples_seed_and_errors(impl):
    """sample_exponential follows its rng and rejects a non-positive rate."""
    _same_seed_same_samples(lambda r: impl.sample_exponential(1.0, 10, r), "sample_exponential")
    rng = np.random.default_rng(0)
    assert_raises_value_error(lambda: impl.sample_exponential(-1.0, 5, rng), "rate", "rate=-1")


# ----------------------------------------------------------------------------- laplace
@check("laplace_pdf", hint="p(x) = exp(-|x - mu| / b) / (2 b).")
def laplace_pdf_matches_torch(impl):
    """laplace_pdf matches torch.distributions.Laplace and rejects b <= 0."""
    x = np.linspace(-5.0, 5.0, 41)
    for mu, b in [(0.0, 1.0), (1.0, 0.5), (-2.0, 2.0)]:
        expected = _torch_density(torch.distributions.Laplace(mu, b), x)
        assert_close(impl.laplace_pdf(x, mu, b), expected, f"laplace_pdf(x, {mu}, {b})")
    assert_raises_value_error(lambda: impl.laplace_pdf(0.0, 0.0, 0.0), "b", "b=0")


SAMPLE_LAPLACE_HINT = (
    "Inverse CDF: with u = rng.random(size) - 0.5 in [-1/2, 1/2), "
    "x = mu - b * sign(u) * log(1 - 2 |u|)."
)


@check("sample_laplace", hint=SAMPLE_LAPLACE_HINT)
def laplace_samples_follow_the_law(impl):
    """sample_laplace(mu, b, n, rng) follows Laplace(mu, b): KS test, mean and variance."""
    n = 50_000
    for mu, b in [(0.0, 1.0), (2.0, 0.5)]:
        x = np.asarray(impl.sample_laplace(mu, b, n, np.random.default_rng(3)))
        assert x.shape == (n,), f"shape {x.shape}, expected ({n},)"
        assert_within_se(x.mean(), mu, b * math.sqrt(2 / n), f"the mean for mu={mu}")
        # E (x - mu)^2 = 2 b^2 and E (x - mu)^4 = 24 b^4
        se_var = b**2 * math.sqrt(20 / n)
        assert_within_se(np.mean((x - mu) ** 2), 2 * b**2, se_var, f"the variance for b={b}")
        assert_ks(x, _laplace_cdf(mu, b), f"Laplace({mu}, {b})")


@check("sample_laplace", hint="Reject b <= 0 with a ValueError naming b.")
def laplace_samples_seed_and_errors(impl):
    """sample_laplace follows its rng and rejects a non-positive scale."""
    _same_seed_same_samples(lambda r: impl.sample_laplace(0.0, 1.0, 10, r), "sample_laplace")
    rng = np.random.default_rng(0)
    assert_raises_value_error(lambda: impl.sample_laplace(0.0, -1.0, 5, rng), "b", "b=-1")


# ----------------------------------------------------------------------------- box-muller
BOX_MULLER_HINT = (
    "r = sqrt(-2 log u1) with u1 in (0, 1] (use 1 - rng.random()), theta = 2 pi u2; "
    "z1 = r cos(theta) and z2 = r sin(theta) are two independent N(0, 1). Make ceil(n / 2) pairs."
)


@check("box_muller", hint=BOX_MULLER_HINT)
def box_muller_gives_standard_normals(impl):
    """box_muller(n, rng) gives N(0, 1) samples (KS test), for odd n and tuple shapes."""
    n = 50_001
    z = np.asarray(impl.box_muller(n, np.random.default_rng(4)))
    assert z.shape == (n,), f"box_muller({n}) has shape {z.shape}"
    assert_within_se(z.mean(), 0.0, 1 / math.sqrt(n), "the sample mean")
    assert_within_se(np.mean(z**2), 1.0, math.sqrt(2 / n), "the sample variance")
    assert_ks(z, normal_cdf, "Box–Muller samples")
    assert np.asarray(impl.box_muller((3, 5), np.random.default_rng(0))).shape == (3, 5)
    _same_seed_same_samples(lambda r: impl.box_muller(10, r), "box_muller")


@check("box_muller", hint=BOX_MULLER_HINT)
def box_muller_pairs_are_independent(impl):
    """Pairs of box_muller samples are independent: |z|^2 ~ Exp(1/2) and (z1 + z2)/sqrt 2 ~ N(0, 1)."""
    z = np.asarray(impl.box_muller((25_000, 2), np.random.default_rng(5)))
    assert_ks(np.sum(z**2, axis=1), _exponential_cdf(0.5), "z1^2 + z2^2 (chi-square, 2 dof)")
    assert_ks((z[:, 0] + z[:, 1]) / math.sqrt(2), normal_cdf, "(z1 + z2) / sqrt(2)")
    assert_ks((z[:, 0] - z[:, 1]) / math.sqrt(2), normal_cdf, "(z1 - z2) / sqrt(2)")


# ----------------------------------------------------------------------------- 2-D uniform
@check("uniform_box_pdf", hint="p(x) = 1 / prod(high - low) inside the box, 0 outside.")
def uniform_box_pdf_values(impl):
    """uniform_box_pdf is 1/area inside the box, 0 outside, on a (H, W, 2) grid; bad box raises."""
    low, high = np.array([-1.0, 0.0]), np.array([1.0, 0.5])
    got = np.asarray(impl.uniform_box_pdf(np.array([[0.0, 0.25], [1.5, 0.25]]), low, high))
    assert_close(got, [1.0, 0.0], "uniform_box_pdf inside and outside [-1, 1] x [0, 0.5]")
    axis = np.linspace(-2.0, 2.0, 401) + 0.005
    grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1)
    density = np.asarray(impl.uniform_box_pdf(grid, low, high))
    assert density.shape == (401, 401), f"a (401, 401, 2) grid gave shape {density.shape}"
    area = float(density.sum() * (axis[1] - axis[0]) ** 2)
    assert abs(area - 1.0) < 0.02, f"the density integrates to {area:.4f}, not 1"
    assert_raises_value_error(
        lambda: impl.uniform_box_pdf(np.zeros(2), low, np.array([1.0, -1.0])), "high", "high < low"
    )


@check("sample_uniform_box", hint="low + (high - low) * rng.random((n, d)).")
def uniform_box_samples(impl):
    """sample_uniform_box has shape (n, d), uniform independent coordinates (KS), and checks the box."""
    n = 40_000
    low, high = np.array([-1.0, 2.0]), np.array([3.0, 2.5])
    x = np.asarray(impl.sample_uniform_box(low, high, n, np.random.default_rng(6)))
    assert x.shape == (n, 2), f"shape {x.shape}, expected ({n}, 2)"
    for i in range(2):
        assert_ks(x[:, i], _uniform_cdf(low[i], high[i]), f"coordinate {i}")
    u = (x - low) / (high - low)
    # for independent U(0, 1) coordinates, E[u1 u2] = 1/4 with sd 7/144 per sample
    assert_within_se(np.mean(u[:, 0] * u[:, 1]), 0.25, math.sqrt(7 / 144 / n), "E[u1 u2]")
    rng = np.random.default_rng(0)
    assert_raises_value_error(
        lambda: impl.sample_uniform_box(low, np.array([3.0, 1.0]), 5, rng), "high", "high < low"
    )


# ----------------------------------------------------------------------------- rejection
REJECTION_HINT = (
    "Propose x ~ q, draw u ~ U(0, 1) and keep x when log u <= log f(x) - log q(x) - log M. "
    "Repeat until n are kept; the acceptance rate is kept / proposed. Raise ValueError naming "
    "log_M if some log f(x) - log q(x) > log M."
)


def _half_normal():
    return (
        lambda x: -0.5 * x**2,
        lambda m, rng: rng.exponential(size=m),
        lambda x: -x,
        0.5,  # max of -x^2/2 + x is 1/2, at x = 1
    )


@check("rejection_sample", hint=REJECTION_HINT)
def rejection_samples_follow_the_target(impl):
    """rejection_sample gives a half-normal from an exponential envelope and Beta(2, 2) from U(0, 1)."""
    n = 20_000
    log_f, sample_q, log_q, log_M = _half_normal()
    x, rate = impl.rejection_sample(log_f, sample_q, log_q, log_M, n, np.random.default_rng(7))
    x = np.asarray(x)
    assert x.shape == (n,), f"shape {x.shape}, expected ({n},)"
    assert_ks(x, lambda t: np.vectorize(math.erf)(np.maximum(t, 0) / math.sqrt(2)), "half-normal")
    # acceptance rate Z / M = sqrt(pi / 2) / e^{1/2}; se from at least n proposals
    truth = math.sqrt(math.pi / 2) / math.exp(0.5)
    assert_within_se(rate, truth, math.sqrt(truth * (1 - truth) / n), "the acceptance rate")
    # f(x) = x (1 - x) on [0, 1] under M q = 1/4 U(0, 1): Beta(2, 2) with CDF 3x^2 - 2x^3
    y, rate = impl.rejection_sample(
        lambda t: np.log(np.clip(t * (1 - t), 1e-300, None)),
        lambda m, rng: rng.random(m),
        lambda t: np.zeros_like(t),
        math.log(0.25),
        n,
        np.random.default_rng(8),
    )
    assert_ks(np.asarray(y), lambda t: np.clip(3 * t**2 - 2 * t**3, 0, 1), "Beta(2, 2)")
    assert_within_se(rate, 2 / 3, math.sqrt(2 / 9 / n), "the acceptance rate for Beta(2, 2)")


@check("rejection_sample", hint=REJECTION_HINT)
def rejection_rejects_a_bad_envelope(impl):
    """rejection_sample raises a ValueError naming log_M when M q does not cover f."""
    log_f, sample_q, log_q, _ = _half_normal()
    rng = np.random.default_rng(0)
    assert_raises_value_error(
        lambda: impl.rejection_sample(log_f, sample_q, log_q, 0.0, 1000, rng),
        "log_M",
        "log_M = 0 < max(log f - log q) = 0.5",
    )


# ----------------------------------------------------------------------------- weights
@check("log_mean_exp", hint="Subtract the maximum m first: m + log(mean(exp(log_w - m))).")
def log_mean_exp_is_stable(impl):
    """log_mean_exp matches torch.logsumexp - log n, even for log-weights near 1000 or -1000."""
    rng = np.random.default_rng(9)
    for shift in (0.0, 1000.0, -1000.0):
        log_w = rng.normal(size=50) * 3 + shift
        expected = float(torch.logsumexp(torch.tensor(log_w), 0)) - math.log(50)
        got = float(impl.log_mean_exp(log_w))
        assert math.isfinite(got), f"log_mean_exp overflowed for log-weights near {shift}"
        assert_close(got, expected, f"log_mean_exp near {shift}", rtol=1e-9)
    assert_raises_value_error(lambda: impl.log_mean_exp(np.array([])), "log_w", "no weights")


@check("effective_sample_size", hint="ESS = (sum w)^2 / sum w^2 = 1 / sum(w_bar^2).")
def ess_closed_forms(impl):
    """effective_sample_size is n for equal weights, ~1 for one dominant weight, 16/6 for (1, 1, 2)."""
    assert_close(impl.effective_sample_size(np.full(7, -3.0)), 7.0, "ESS of equal weights")
    assert_close(impl.effective_sample_size(np.log([1.0, 1.0, 2.0])), 16 / 6, "ESS of (1, 1, 2)")
    assert_close(
        impl.effective_sample_size(np.log([1.0, 1.0, 2.0]) + 800.0), 16 / 6, "ESS of shifted log-w"
    )
    got = float(impl.effective_sample_size(np.array([0.0, -50.0, -60.0])))
    assert abs(got - 1.0) < 1e-9, f"ESS with one dominant weight is {got}, expected 1"


@check(
    "log_z_estimate", hint="log Z = log_mean_exp(log_w); se = std(w, ddof=1) / (sqrt(n) mean(w))."
)
def log_z_closed_form(impl):
    """log_z_estimate of weights (1, 2, 3, 4) is (log 2.5, sd / (2 * 2.5)); needs two weights."""
    log_z, se = impl.log_z_estimate(np.log([1.0, 2.0, 3.0, 4.0]) - 500.0)
    sd = math.sqrt(sum((w - 2.5) ** 2 for w in (1, 2, 3, 4)) / 3)
    assert_close(log_z, math.log(2.5) - 500.0, "log Z of weights (1, 2, 3, 4) e^-500", rtol=1e-9)
    assert_close(se, sd / (2 * 2.5), "the standard error of log Z")
    assert_raises_value_error(lambda: impl.log_z_estimate(np.array([0.0])), "log_w", "one weight")


# ----------------------------------------------------------------------------- importance sampling
def _gaussian_target(m: float, s: float, c: float):
    """Unnormalised target c exp(-(x - m)^2 / (2 s^2)) and its exact log Z."""
    return (lambda x: math.log(c) - 0.5 * ((x - m) / s) ** 2), math.log(
        c * s * math.sqrt(2 * math.pi)
    )


def _normal_log_pdf(s: float):
    return lambda x: -0.5 * (x / s) ** 2 - math.log(s * math.sqrt(2 * math.pi))


@check("importance_sampling", hint="x = sample_q(n, rng); log_w = log_f(x) - log_q(x).")
def importance_sampling_estimates_log_z(impl):
    """importance_sampling's weights estimate log Z of a Gaussian target within Monte-Carlo error."""
    log_f, truth = _gaussian_target(1.0, 0.5, 3.0)
    log_q = _normal_log_pdf(2.0)
    x, log_w = impl.importance_sampling(
        log_f, lambda m, rng: 2.0 * rng.standard_normal(m), log_q, 20_000, np.random.default_rng(10)
    )
    x, log_w = np.asarray(x), np.asarray(log_w)
    assert x.shape == (20_000,) and log_w.shape == (20_000,), f"shapes {x.shape}, {log_w.shape}"
    assert_close(log_w, log_f(x) - log_q(x), "log_w = log f(x) - log q(x)")
    w = np.exp(log_w - log_w.max())
    se = float(np.std(w, ddof=1) / (math.sqrt(w.size) * w.mean()))
    estimate = float(np.log(np.mean(w)) + log_w.max())
    assert_within_se(estimate, truth, se, "log Z from the importance weights")


@check("self_normalised_mean", hint="sum_i w_bar_i h(x_i) with w_bar = w / sum(w), over axis 0.")
def self_normalised_mean_closed_form(impl):
    """self_normalised_mean weights rows by w / sum(w), for scalar and vector values."""
    got = impl.self_normalised_mean(np.array([0.0, 10.0]), np.log([3.0, 1.0]) + 700)
    assert_close(got, 2.5, "the weighted mean of (0, 10) with weights (3, 1)")
    values = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    got = impl.self_normalised_mean(values, np.log([1.0, 2.0, 1.0]))
    assert_close(got, [0.5, 0.75], "the weighted mean of 2-D values")
    assert_raises_value_error(
        lambda: impl.self_normalised_mean(np.zeros(3), np.zeros(2)), "values", "3 values, 2 weights"
    )


# ----------------------------------------------------------------------------- MCMC
MH_HINT = (
    "Propose x' = x + step_size * rng.standard_normal(x.shape); accept each chain where "
    "log u <= log_f(x') - log_f(x), with u = rng.random(c); keep x otherwise. Store every state."
)


def _mixture():
    log_f = lambda x: np.logaddexp(-0.5 * (x - 2.0) ** 2, -0.5 * (x + 2.0) ** 2)  # noqa: E731
    cdf = lambda t: 0.5 * normal_cdf(t, 2.0, 1.0) + 0.5 * normal_cdf(t, -2.0, 1.0)  # noqa: E731
    return log_f, cdf


@check("metropolis_hastings", hint=MH_HINT)
def mh_chains_reach_the_target(impl):
    """4000 Metropolis–Hastings chains end distributed as a two-mode mixture (KS test)."""
    log_f, cdf = _mixture()
    rng = np.random.default_rng(11)
    x0 = 2.0 * rng.standard_normal(4000)
    path, rate = impl.metropolis_hastings(log_f, x0, 200, 2.5, rng)
    path = np.asarray(path)
    assert path.shape == (201, 4000), f"path shape {path.shape}, expected (201, 4000)"
    assert np.array_equal(path[0], x0), "path[0] must be x0"
    assert 0.3 < rate < 0.9, f"acceptance rate {rate:.3f} is implausible for this target"
    assert_ks(path[-1], cdf, "the chains' final states")


@check("metropolis_hastings", hint=MH_HINT)
def mh_respects_support_and_dimension(impl):
    """MH never leaves the support of a uniform target, works for (c, 2) chains, and checks step_size."""
    log_f = lambda x: np.where((x > 0) & (x < 1), 0.0, -np.inf)  # noqa: E731
    path, _ = impl.metropolis_hastings(
        log_f, np.full(2000, 0.5), 100, 0.3, np.random.default_rng(12)
    )
    last = np.asarray(path)[-1]
    assert np.all((last > 0) & (last < 1)), "a proposal outside the support was accepted"
    assert_ks(last, _uniform_cdf(0.0, 1.0), "chains on a U(0, 1) target")
    path2, _ = impl.metropolis_hastings(
        lambda x: -0.5 * np.sum(x**2, axis=-1),
        np.zeros((3000, 2)),
        100,
        1.5,
        np.random.default_rng(13),
    )
    last2 = np.asarray(path2)[-1]
    assert last2.shape == (3000, 2), f"(c, 2) chains gave final shape {last2.shape}"
    assert_ks(last2 @ np.array([0.6, 0.8]), normal_cdf, "2-D chains projected on a unit vector")
    rng = np.random.default_rng(0)
    assert_raises_value_error(
        lambda: impl.metropolis_hastings(log_f, np.full(3, 0.5), 5, 0.0, rng), "step_size", "0"
    )


LANGEVIN_HINT = (
    "x <- x + (step_size / 2) * score(x) + sqrt(step_size) * rng.standard_normal(x.shape); "
    "mind the 1/2 on the drift and the square root on the noise."
)


@check("langevin_dynamics", hint=LANGEVIN_HINT)
def langevin_matches_exact_marginal(impl):
    """Langevin on N(1, 0.5^2) from x0 = 3 has the exact Gaussian t-step law of its discrete chain."""
    mu, sigma, eps, t, n = 1.0, 0.5, 0.05, 30, 20_000
    path = np.asarray(
        impl.langevin_dynamics(
            lambda x: -(x - mu) / sigma**2, np.full(n, 3.0), t, eps, np.random.default_rng(14)
        )
    )
    assert path.shape == (t + 1, n), f"path shape {path.shape}, expected ({t + 1}, {n})"
    # x_k - mu = (1 - a)(x_{k-1} - mu) + sqrt(eps) z with a = eps / (2 sigma^2): a Gaussian AR(1)
    a = eps / (2 * sigma**2)
    mean = mu + (1 - a) ** t * (3.0 - mu)
    var = eps * (1 - (1 - a) ** (2 * t)) / (1 - (1 - a) ** 2)
    assert_ks(path[-1], lambda x: normal_cdf(x, mean, math.sqrt(var)), "the Langevin samples")
    rng = np.random.default_rng(0)
    assert_raises_value_error(
        lambda: impl.langevin_dynamics(lambda x: -x, np.zeros(3), 5, -0.1, rng), "step_size", "-0.1"
    )


# ----------------------------------------------------------------------------- AIS
@check("annealed_log_density", hint="beta * log_target(x) + (1 - beta) * log_prior(x).")
def annealed_log_density_interpolates(impl):
    """annealed_log_density is the prior at beta = 0, the target at 1, linear in between."""
    x = np.linspace(-2.0, 2.0, 9)
    log_target = lambda y: -0.5 * (y - 1.0) ** 2  # noqa: E731
    log_prior = _normal_log_pdf(2.0)
    for beta in (0.0, 0.3, 1.0):
        expected = beta * log_target(x) + (1 - beta) * log_prior(x)
        got = impl.annealed_log_density(x, log_target, log_prior, beta)
        assert_close(got, expected, f"log f_beta at beta={beta}")
    assert_raises_value_error(
        lambda: impl.annealed_log_density(x, log_target, log_prior, 1.5), "beta", "beta=1.5"
    )


AIS_HINT = (
    "x = sample_prior(n, rng), log_w = 0. For k = 1..K: log_w += (betas[k] - betas[k-1]) * "
    "(log_target(x) - log_prior(x)); then, if k < K, move x with n_mcmc Metropolis–Hastings "
    "steps on annealed_log_density(., betas[k]). The weight update uses x BEFORE the move."
)


def _gaussian_prior(d: int, s: float):
    def log_prior(x):
        x = np.asarray(x).reshape(len(x), d)
        return -0.5 * np.sum((x / s) ** 2, axis=-1) - d * math.log(s * math.sqrt(2 * math.pi))

    return log_prior


def _assert_log_z(log_w: np.ndarray, truth: float, what: str) -> None:
    log_w = np.asarray(log_w, dtype=np.float64)
    w = np.exp(log_w - log_w.max())
    se = float(np.std(w, ddof=1) / (math.sqrt(w.size) * w.mean()))
    assert_within_se(float(np.log(w.mean()) + log_w.max()), truth, se, what)
    # Jensen: E[log w] <= log Z; the sample mean exceeds it only by Monte-Carlo error
    bound = truth + Z_BOUND * float(np.std(log_w, ddof=1)) / math.sqrt(w.size)
    assert log_w.mean() <= bound, (
        f"{what}: mean log w = {log_w.mean():.4g} exceeds log Z = {truth:.4g}; "
        "it should be a stochastic lower bound"
    )


@check("annealed_importance_sampling", hint=AIS_HINT)
def ais_gaussian_log_z(impl):
    """AIS from N(0, 1) to 2 exp(-(x - 3)^2 / (2 0.5^2)) estimates log Z within Monte-Carlo error."""
    log_f, truth = _gaussian_target(3.0, 0.5, 2.0)
    x, log_w = impl.annealed_importance_sampling(
        log_f,
        _gaussian_prior(1, 1.0),
        lambda m, rng: rng.standard_normal(m),
        np.linspace(0.0, 1.0, 101),
        2000,
        np.random.default_rng(15),
    )
    x, log_w = np.asarray(x), np.asarray(log_w)
    assert x.shape == (2000,) and log_w.shape == (2000,), f"shapes {x.shape}, {log_w.shape}"
    _assert_log_z(log_w, truth, "log Z of the Gaussian target")
    # the weighted particles have the target's mean, 3
    w = np.exp(log_w - log_w.max())
    ess = w.sum() ** 2 / np.sum(w**2)
    assert_within_se(float(np.sum(w * x) / w.sum()), 3.0, 0.5 / math.sqrt(ess), "the weighted mean")


@check("annealed_importance_sampling", hint=AIS_HINT)
def ais_two_mode_log_z(impl):
    """AIS from N(0, 3^2 I) to a 2-D two-mode target estimates log Z = log(4 pi 0.5^2)."""
    a = np.array([2.0, 2.0])

    def log_f(x):
        return np.logaddexp(
            -np.sum((x - a) ** 2, axis=-1) / 0.5, -np.sum((x + a) ** 2, axis=-1) / 0.5
        )

    x, log_w = impl.annealed_importance_sampling(
        log_f,
        _gaussian_prior(2, 3.0),
        lambda m, rng: 3.0 * rng.standard_normal((m, 2)),
        np.linspace(0.0, 1.0, 201),
        1000,
        np.random.default_rng(16),
        n_mcmc=1,
        step_size=0.5,
    )
    assert np.asarray(x).shape == (1000, 2), f"final particles have shape {np.asarray(x).shape}"
    _assert_log_z(log_w, math.log(2 * 2 * math.pi * 0.25), "log Z of the two-mode target")


@check("annealed_importance_sampling", hint=AIS_HINT)
def ais_one_step_is_importance_sampling(impl):
    """With betas = [0, 1], AIS is importance sampling from the prior: log w = log f(x) - log p0(x)."""
    log_f, _ = _gaussian_target(1.0, 0.7, 1.0)
    log_prior = _gaussian_prior(1, 1.0)
    x, log_w = impl.annealed_importance_sampling(
        log_f,
        log_prior,
        lambda m, rng: rng.standard_normal(m),
        [0.0, 1.0],
        50,
        np.random.default_rng(0),
    )
    x = np.asarray(x)
    assert_close(log_w, log_f(x) - log_prior(x), "log w for betas = [0, 1]")


@check(
    "annealed_importance_sampling",
    hint="Validate betas: 1-D, betas[0] == 0, betas[-1] == 1, never decreasing; ValueError naming betas.",
)
def ais_rejects_bad_schedules(impl):
    """AIS rejects a schedule that does not start at 0, end at 1, or that decreases."""
    log_f, _ = _gaussian_target(0.0, 1.0, 1.0)
    prior = _gaussian_prior(1, 1.0)
    draw = lambda m, rng: rng.standard_normal(m)  # noqa: E731
    rng = np.random.default_rng(0)
    for betas, case in [
        ([0.1, 0.5, 1.0], "betas starting at 0.1"),
        ([0.0, 0.5, 0.9], "betas ending at 0.9"),
        ([0.0, 0.6, 0.4, 1.0], "decreasing betas"),
        ([1.0, 0.5, 0.0], "Neal's order 1 -> 0 passed as is"),
    ]:
        assert_raises_value_error(
            lambda b=betas: impl.annealed_importance_sampling(log_f, prior, draw, b, 10, rng),
            "betas",
            case,
        )
