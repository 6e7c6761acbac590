"""Contract of Pre-Task 2: sampling from probability distributions, up to AIS.

Ground truth, computed here and never by the code under test:

- closed-form CDFs and moments (from ``math.erf`` and ``math.exp``) and densities from
  ``torch.distributions``, a library independent of the NumPy code under test; every sampler is
  checked by a Kolmogorov–Smirnov test (DKW bound) and by its moments in standard errors;
- the samplers' own inputs, recorded: the proposals a learner's ``sample_q`` returned must be the
  ones weighted or kept;
- for Metropolis–Hastings, the exact law of one step from a fixed point on a Gaussian target
  (the rejection probability and the law of the accepted moves in closed form, with ``math.erf``);
  and the exact invariance of the target: chains started at the target stay there;
- for Langevin dynamics, the exact Gaussian law of the discretised chain (eq. P2.9) on a
  Gaussian target, and of pure noise when the score is zero;
- for annealed importance sampling, a Gaussian prior and target with a short schedule, where the
  law of the particles after every Metropolis–Hastings move is propagated numerically on a fine
  grid (error below 1e-5): the final particles' law and the expected log-weight are known, so
  moving before weighting, moving with the previous temperature's kernel, or ignoring
  ``n_mcmc`` or ``step_size`` are each many standard errors away; and a target proportional to
  the prior, where every log-weight is exactly the log of the constant, whatever the moves.

Every statistical verdict uses the project's false-alarm rate: a correct implementation fails
it less than once in a million runs.

The schedule of ``annealed_importance_sampling`` and the inverse temperature of
``annealed_log_density`` are always passed by position, so files written when they were called
``betas`` and ``beta`` still run; a bad schedule's ValueError may name either ``betas`` or
``inverse_temperatures``, while a bad inverse temperature's must name ``inverse_temperature``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from diffusion_path.contracts.asserts import (
    Z_BOUND,
    assert_close,
    assert_ks,
    assert_raises_value_error,
    assert_within_se,
    expect,
    normal_cdf,
)
from diffusion_path.contracts.base import Contract, Failure, Invalid, call

CONTRACT = Contract("pre-2")
check = CONTRACT.check


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


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


def _normal_log_pdf(s: float):
    return lambda x: -0.5 * (x / s) ** 2 - math.log(s * math.sqrt(2 * math.pi))


class _Recorder:
    """A sampler that remembers what it returned: the proposals the code under test was given."""

    def __init__(self, draw):
        self.draw = draw
        self.outputs: list[np.ndarray] = []

    def __call__(self, m, rng):
        out = np.asarray(self.draw(m, rng), dtype=np.float64)
        self.outputs.append(out.copy())
        return out


# ----------------------------------------------------------------------------- uniform
CONTRACT.function(
    "uniform_pdf",
    lambda: call(np.linspace(-2.0, 3.0, 11), -1.0, 2.0),
    hints=(
        "The uniform law on [a, b] (the one eq. P2.1 stretches U(0, 1) onto) has a flat density: "
        "the same height everywhere on the interval, chosen so that the area is 1, and 0 outside.",
        "Element by element: the height 1 / (b - a) where a <= x <= b (both ends included) and 0 "
        "elsewhere. Choose between the two values entry by entry with the condition, so that the "
        "result has the shape of x.",
    ),
)
UNIFORM_HEIGHT_HINT = (
    "Inside [a, b] the density is 1 / (b - a): height times width must be 1, so the height is one "
    "over the interval's length (not its length, not 1 / b)."
)


@check("uniform_pdf", hint=UNIFORM_HEIGHT_HINT)
def uniform_pdf_matches_torch(impl):
    """uniform_pdf is 1/(b - a) inside [a, b] (torch.distributions.Uniform) and 0 outside."""
    x = np.linspace(-3.0, 3.0, 61)
    got = np.asarray(impl.uniform_pdf(x, -1.0, 2.0), dtype=np.float64)
    expect(
        got.shape == x.shape,
        f"uniform_pdf of 61 points has shape {got.shape}",
        "Return one density value per point: an array of the shape of x.",
    )
    inside = (x > -1.0) & (x < 2.0)
    expected = _torch_density(torch.distributions.Uniform(-1.0, 2.0), x[inside])
    assert_close(got[inside], expected, "uniform_pdf(x, -1, 2) inside", hint=UNIFORM_HEIGHT_HINT)
    outside = (x < -1.0) | (x > 2.0)  # the value at the two end points is a convention
    assert_close(
        got[outside],
        np.zeros(int(outside.sum())),
        "uniform_pdf(x, -1, 2) outside [-1, 2]",
        hint="Outside [a, b] the density is 0: a uniform variable never lands there.",
    )


# ----------------------------------------------------------------------------- sample_uniform
CONTRACT.function(
    "sample_uniform",
    lambda: call(-1.0, 3.0, 5, _rng()),
    hints=(
        "Eq. (P2.1): the inverse CDF of U(a, b) is F^-1(u) = a + (b - a) u. Draw standard uniform "
        "numbers from rng and map each one.",
        "Draw standard uniform numbers u from rng in one call, in the shape size (an int or a "
        "shape tuple, passed on as it is); stretch them by the width b - a and shift them by a: "
        "each sample is a + (b - a) u.",
    ),
)
UNIFORM_STRETCH_HINT = (
    "Stretch U(0, 1) by the interval's width b - a, then shift by a: the samples' mean is "
    "(a + b) / 2 and their variance (b - a)^2 / 12."
)


@check("sample_uniform", hint=UNIFORM_STRETCH_HINT)
def uniform_samples_follow_the_law(impl):
    """sample_uniform(a, b, n, rng) follows U(a, b): shape, mean, variance and a KS test."""
    shape = np.asarray(impl.sample_uniform(0.0, 1.0, (3, 4), _rng(0))).shape
    expect(
        shape == (3, 4),
        f"size=(3, 4) gave shape {shape}",
        "size is an int or a shape tuple: pass it on to rng.random as it is.",
    )
    n, a, b = 50_000, -1.0, 3.0
    x = np.asarray(impl.sample_uniform(a, b, n, _rng(1)), dtype=np.float64)
    expect(x.shape == (n,), f"size={n} gave shape {x.shape}")
    width = b - a
    assert_within_se(
        x.mean(), (a + b) / 2, width / math.sqrt(12 * n), "the sample mean of U(-1, 3)"
    )
    # Var of (x - m)^2 for a uniform: width^4 (1/80 - 1/144)
    se_var = width**2 * math.sqrt((1 / 80 - 1 / 144) / n)
    assert_within_se(np.mean((x - 1.0) ** 2), width**2 / 12, se_var, "the sample variance")
    assert_ks(x, _uniform_cdf(a, b), "U(-1, 3)")


# ----------------------------------------------------------------------------- exponential
CONTRACT.function(
    "exponential_pdf",
    lambda: call(np.linspace(-1.0, 4.0, 11), 2.0),
    hints=(
        "Eq. (P2.2), left: the rate lambda times e^(-lambda x) for x >= 0, and 0 for negative x. "
        "lambda is a rate: the mean is 1 / lambda.",
        "Element by element: lambda e^(-lambda x) where x >= 0 and 0 where x < 0, with lambda the "
        "argument rate. Evaluate the exponential at max(x, 0) rather than at x: for very negative "
        "x, e^(-lambda x) would overflow before the 0 replaces it.",
    ),
)


@check(
    "exponential_pdf",
    hint="p(x) = lambda e^(-lambda x) with lambda the RATE: p(0) = lambda and the mean is "
    "1 / lambda — multiply x by the rate, do not divide by it.",
)
def exponential_pdf_matches_torch(impl):
    """exponential_pdf matches torch.distributions.Exponential and is 0 for x < 0."""
    x = np.linspace(0.01, 6.0, 40)
    for rate in (0.5, 1.0, 3.0):
        expected = _torch_density(torch.distributions.Exponential(rate), x)
        assert_close(impl.exponential_pdf(x, rate), expected, f"exponential_pdf(x, {rate})")
    assert_close(
        impl.exponential_pdf(np.array([-1.0, -0.1]), 2.0),
        [0.0, 0.0],
        "exponential_pdf at x < 0",
        hint="An exponential variable is never negative: the density is 0 for x < 0.",
    )


# ----------------------------------------------------------------------------- sample_exponential
CONTRACT.function(
    "sample_exponential",
    lambda: call(2.0, 5, _rng()),
    hints=(
        "Inverse-CDF sampling (P2.1): solve u = F(x) = 1 - e^(-lambda x) for x (eq. P2.2, right) "
        "and feed the inverse standard uniform numbers from rng.",
        "Draw standard uniform numbers u from rng in the shape size, in one call; each sample is "
        "-log(1 - u) / lambda (lambda is the argument rate). The uniforms lie in [0, 1), so 1 - u "
        "> 0 and the log is finite; the log1p function computes log(1 - u) accurately when u is "
        "small.",
    ),
)
EXP_INVERSE_HINT = (
    "Inverse CDF: F(x) = 1 - e^(-lambda x) gives x = -log(1 - u) / lambda for u uniform on "
    "[0, 1): invert F, do not use the density."
)


@check("sample_exponential", hint=EXP_INVERSE_HINT)
def exponential_samples_follow_the_law(impl):
    """sample_exponential(rate, n, rng) follows Exp(rate): non-negative, mean 1/rate, KS test."""
    n = 50_000
    for rate in (0.5, 4.0):
        x = np.asarray(impl.sample_exponential(rate, n, _rng(2)), dtype=np.float64)
        expect(x.shape == (n,), f"size={n} gave shape {x.shape}")
        expect(
            np.all(x >= 0),
            f"{np.mean(x < 0):.0%} of the samples for rate={rate} are negative; an exponential "
            "variable never is",
            "Inverse CDF: log(1 - u) is negative for u in (0, 1), so the minus sign in "
            "x = -log(1 - u) / lambda is what makes the samples >= 0.",
        )
        assert_within_se(
            x.mean(),
            1 / rate,
            1 / (rate * math.sqrt(n)),
            f"the sample mean for rate={rate}",
            hint="The mean of Exp(lambda) is 1 / lambda: divide the inverse CDF's -log(1 - u) by "
            "the rate, do not multiply.",
        )
        assert_ks(x, _exponential_cdf(rate), f"Exp({rate})")


# ----------------------------------------------------------------------------- laplace
CONTRACT.function(
    "laplace_pdf",
    lambda: call(np.linspace(-3.0, 3.0, 13), 0.5, 1.5),
    hints=(
        "Eq. (P2.3), first line: two exponential tails glued at mu, decaying with the distance |x "
        "- mu| in units of b; each tail holds half the mass.",
        "Element by element: e^(-|x - mu| / b) / (2 b). The absolute value makes the two tails, "
        "and the 2 in front of b makes the area 1; b is a scale (the mean distance from mu), not a "
        "variance.",
    ),
)


@check(
    "laplace_pdf",
    hint="p(x) = e^(-|x - mu| / b) / (2 b): the distance to mu divided by b in the exponent, and "
    "2 b in the normaliser (the two tails share the mass).",
)
def laplace_pdf_matches_torch(impl):
    """laplace_pdf matches torch.distributions.Laplace for three (mu, b)."""
    x = np.linspace(-5.0, 5.0, 41)
    for mu, b in [(0.0, 1.0), (1.0, 0.5), (-2.0, 2.0)]:
        expected = _torch_density(torch.distributions.Laplace(mu, b), x)
        assert_close(impl.laplace_pdf(x, mu, b), expected, f"laplace_pdf(x, {mu}, {b})")


# ----------------------------------------------------------------------------- sample_laplace
CONTRACT.function(
    "sample_laplace",
    lambda: call(0.5, 1.5, 5, _rng()),
    hints=(
        "Eq. (P2.3), second line: inverse-CDF sampling with a uniform u on [-1/2, 1/2): the sign "
        "of u picks the side of mu, its size how far out.",
        "Draw standard uniform numbers from rng in the shape size and subtract 1/2, so that u lies "
        "in [-1/2, 1/2). Each sample is mu - b sign(u) log(1 - 2 |u|): sign(u) picks the side, and "
        "-log(1 - 2 |u|) is an exponential distance with mean 1 (log1p computes log(1 - 2 |u|) "
        "accurately).",
    ),
)
LAPLACE_SCALE_HINT = (
    "The distance from mu is -b log(1 - 2|u|): scale b, not 2 b or b^2; the variance of "
    "Laplace(mu, b) is 2 b^2."
)


@check("sample_laplace", hint=LAPLACE_SCALE_HINT)
def laplace_samples_follow_the_law(impl):
    """sample_laplace(mu, b, n, rng) follows Laplace(mu, b): both sides, mean, variance, KS test."""
    n = 50_000
    for mu, b in [(0.0, 1.0), (2.0, 0.5)]:
        x = np.asarray(impl.sample_laplace(mu, b, n, _rng(3)), dtype=np.float64)
        expect(x.shape == (n,), f"size={n} gave shape {x.shape}")
        assert_within_se(
            float(np.mean(x < mu)),
            0.5,
            math.sqrt(0.25 / n),
            f"the fraction of samples below mu={mu}",
            hint="Half the samples fall on each side of mu: the sign of u = U - 1/2 must stay in "
            "the formula, x = mu - b sign(u) log(1 - 2|u|).",
        )
        assert_within_se(x.mean(), mu, b * math.sqrt(2 / n), f"the sample mean for mu={mu}")
        # E (x - mu)^2 = 2 b^2 and E (x - mu)^4 = 24 b^4
        se_var = b**2 * math.sqrt(20 / n)
        assert_within_se(np.mean((x - mu) ** 2), 2 * b**2, se_var, f"the variance for b={b}")
        assert_ks(x, _laplace_cdf(mu, b), f"Laplace({mu}, {b})")


# ----------------------------------------------------------------------------- box-muller
CONTRACT.function(
    "box_muller",
    lambda: call(5, _rng()),
    hints=(
        "Eq. (P2.4): two independent uniforms make a radius and an angle; r^2 = -2 log u1 is "
        "exponential with mean 2 and the angle 2 pi u2 is uniform, so (r cos, r sin) are two "
        "independent standard normals.",
        "With n the number of normals asked for (the product of the entries of size), make ceil(n "
        "/ 2) pairs: first all the u1, each one minus a standard uniform from rng so that it lies "
        "in (0, 1] and log u1 is finite, then all the u2, standard uniforms. The radius is r = "
        "sqrt(-2 log u1) and the angle theta = 2 pi u2. Put all the r cos(theta) first and all the "
        "r sin(theta) after them, keep the first n and give them the shape size.",
    ),
)
BOX_MULLER_HINT = (
    "Radius r = sqrt(-2 log u1) (mind the 2 and the square root), angle theta = 2 pi u2 (a full "
    "turn); z1 = r cos(theta), z2 = r sin(theta)."
)


@check("box_muller", hint=BOX_MULLER_HINT)
def box_muller_gives_standard_normals(impl):
    """box_muller(n, rng) gives N(0, 1) samples (moments, KS test), for odd n and tuple shapes."""
    shape_hint = (
        "Make enough pairs for the count asked for — one more when it is odd — keep exactly "
        "prod(size) values and reshape them to size."
    )
    for size, shape in ((7, (7,)), ((3, 5), (3, 5))):
        got = np.asarray(impl.box_muller(size, _rng(0))).shape
        expect(got == shape, f"box_muller({size}) has shape {got}, expected {shape}", shape_hint)
    n = 50_001
    z = np.asarray(impl.box_muller(n, _rng(4)), dtype=np.float64)
    expect(z.shape == (n,), f"box_muller({n}) has shape {z.shape}", shape_hint)
    assert_within_se(z.mean(), 0.0, 1 / math.sqrt(n), "the sample mean")
    assert_within_se(
        np.mean(z**2),
        1.0,
        math.sqrt(2 / n),
        "the sample variance",
        hint="The radius: r^2 = -2 log u1 is exponential with mean 2, so that z1^2 + z2^2 has "
        "mean 2 and each z variance 1 — the factor 2 and the square root both matter.",
    )
    assert_ks(z, normal_cdf, "Box–Muller samples")


@check(
    "box_muller",
    hint="Each pair (u1, u2) gives two values, r cos(theta) and r sin(theta) with the same r and "
    "theta; every pair has new uniforms. Return each value once.",
)
def box_muller_pairs_are_independent(impl):
    """box_muller samples are all different and independent: |z|^2 ~ Exp(1/2), (z1 ± z2)/sqrt 2 ~ N(0, 1)."""
    z = np.asarray(impl.box_muller((25_000, 2), _rng(5)), dtype=np.float64)
    expect(
        np.unique(z).size == z.size,
        f"only {np.unique(z).size} of the {z.size} samples are different",
    )
    assert_ks(np.sum(z**2, axis=1), _exponential_cdf(0.5), "z1^2 + z2^2 (chi-square, 2 dof)")
    assert_ks((z[:, 0] + z[:, 1]) / math.sqrt(2), normal_cdf, "(z1 + z2) / sqrt(2)")
    assert_ks((z[:, 0] - z[:, 1]) / math.sqrt(2), normal_cdf, "(z1 - z2) / sqrt(2)")


# ----------------------------------------------------------------------------- 2-D uniform
CONTRACT.function(
    "uniform_box_pdf",
    lambda: call(
        np.array([[0.5, 0.2], [3.0, 0.0], [-0.5, 0.9]]), np.array([-1.0, 0.0]), np.array([1.0, 1.0])
    ),
    invalid=[
        Invalid("high", np.array([1.0, -1.0]), "high < low in one coordinate"),
        Invalid("high", np.array([1.0, 1.0, 1.0]), "high of another length than low"),
        Invalid("x", np.zeros((3, 3)), "points of dimension 3 for a 2-D box"),
    ],
    hints=(
        "The uniform law on a box is flat: one over the box's volume (the product of its side "
        "lengths) inside, 0 outside. A point is inside when every coordinate is.",
        "A point x is inside when low_i <= x_i <= high_i for every coordinate i: compare "
        "coordinate by coordinate, then require all of them along the last axis. Inside, the "
        "density is 1 / prod_i (high_i - low_i); outside, 0. One value per point: the shape of x "
        "without its last axis.",
    ),
)


@check(
    "uniform_box_pdf",
    hint="Inside the box the density is 1 / prod(high - low), the volume's inverse; outside, 0.",
)
def uniform_box_pdf_values(impl):
    """uniform_box_pdf is 1/area inside the box, 0 outside (also when one coordinate is inside), on a grid."""
    low, high = np.array([-1.0, 0.0]), np.array([1.0, 0.5])
    got = np.asarray(impl.uniform_box_pdf(np.array([[0.0, 0.25], [1.5, 0.75]]), low, high))
    assert_close(got, [1.0, 0.0], "uniform_box_pdf inside and outside [-1, 1] x [0, 0.5]")
    half = np.asarray(impl.uniform_box_pdf(np.array([[0.0, 0.75], [1.5, 0.25]]), low, high))
    assert_close(
        half,
        [0.0, 0.0],
        "uniform_box_pdf at points with one coordinate inside and one outside",
        hint="A point is inside the box only when EVERY coordinate is within its bounds: "
        "combine the coordinates of the last axis with all, not any.",
    )
    axis = np.linspace(-2.0, 2.0, 401) + 0.005
    grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1)
    density = np.asarray(impl.uniform_box_pdf(grid, low, high))
    expect(
        density.shape == (401, 401),
        f"a (401, 401, 2) grid gave shape {density.shape}",
        "Return one value per point: reduce over the last axis only, shape x.shape[:-1].",
    )
    area = float(density.sum() * (axis[1] - axis[0]) ** 2)
    expect(abs(area - 1.0) < 0.02, f"the density integrates to {area:.4f}, not 1")


CONTRACT.function(
    "sample_uniform_box",
    lambda: call(np.array([-1.0, 2.0]), np.array([3.0, 2.5]), 5, _rng()),
    invalid=[
        Invalid("high", np.array([3.0, 1.0]), "high < low in one coordinate"),
        Invalid("high", np.array([3.0]), "high of another length than low"),
    ],
    hints=(
        "Eq. (P2.1) in each coordinate: independent standard uniforms, one per point and "
        "coordinate, each stretched to its side of the box and shifted to its lower corner.",
        "Draw an n-by-d array of standard uniform numbers u from rng in one call (d is the box's "
        "dimension). Each row becomes low + (high - low) u, the side lengths multiplying "
        "coordinate by coordinate, the same box for every row.",
    ),
)


@check(
    "sample_uniform_box",
    hint="Coordinate i of each point is low_i + (high_i - low_i) u with u ~ U(0, 1): the "
    "width of that coordinate, shifted by its lower corner.",
)
def uniform_box_samples(impl):
    """sample_uniform_box has shape (n, d), uniform coordinates (KS) that are independent."""
    n = 40_000
    low, high = np.array([-1.0, 2.0]), np.array([3.0, 2.5])
    x = np.asarray(impl.sample_uniform_box(low, high, n, _rng(6)), dtype=np.float64)
    expect(x.shape == (n, 2), f"shape {x.shape}, expected ({n}, 2)", "Return n rows of d numbers.")
    for i in range(2):
        assert_ks(x[:, i], _uniform_cdf(low[i], high[i]), f"coordinate {i}")
    u = (x - low) / (high - low)
    # for independent U(0, 1) coordinates, E[u1 u2] = 1/4 with sd 7/144 per sample
    assert_within_se(
        np.mean(u[:, 0] * u[:, 1]),
        0.25,
        math.sqrt(7 / 144 / n),
        "E[u1 u2] (1/4 for independent coordinates)",
        hint="The coordinates must be independent: draw one uniform per point AND per "
        "coordinate, shape (n, d), not one per point shared by all coordinates.",
    )


# ----------------------------------------------------------------------------- rejection
def _half_normal():
    """f(x) = e^(-x^2/2) on x >= 0 under M q with q = Exp(1): max log f - log q = 1/2 at x = 1."""
    return (
        lambda x: -0.5 * x**2,
        lambda m, rng: rng.exponential(size=m),
        lambda x: -x,
        0.5,
    )


CONTRACT.function(
    "rejection_sample",
    lambda: call(*_half_normal(), 5, _rng()),
    hints=(
        "Eq. (P2.5): propose x from q and u uniform, keep x when u <= f(x) / (M q(x)) — in logs, "
        "log u <= log f(x) - log q(x) - log M — and repeat until n are kept. The acceptance rate "
        "is what fraction of all proposals was kept.",
        "Repeat in batches until n proposals are kept. For each batch of m (twice the number still "
        "missing, and at least 100): draw m proposals with sample_q, passing rng; evaluate log f - "
        "log q at them; if any exceeds log M, the envelope does not cover f, so raise a ValueError "
        "naming log_M; draw m uniforms u from rng (one minus a standard uniform, so that log u is "
        "finite) and keep the proposals with log u <= log f - log q - log M; count the kept and "
        "the proposed. Return the first n kept proposals and the rate kept / proposed.",
    ),
)
REJECTION_RULE_HINT = (
    "Keep a proposal when u <= f(x) / (M q(x)): in logs, log u <= log f(x) - log q(x) - log M, "
    "all three terms, with a fresh uniform for each proposal."
)


@check("rejection_sample", hint=REJECTION_RULE_HINT)
def rejection_samples_follow_the_target(impl):
    """rejection_sample gives a half-normal from an exponential envelope and Beta(2, 2) from U(0, 1)."""
    n = 20_000
    log_f, draw, log_q, log_M = _half_normal()
    sample_q = _Recorder(draw)
    x, rate = impl.rejection_sample(log_f, sample_q, log_q, log_M, n, _rng(7))
    x = np.asarray(x, dtype=np.float64)
    expect(x.shape == (n,), f"{x.shape} samples, expected ({n},)", "Return exactly n samples.")
    proposed = np.concatenate([o.ravel() for o in sample_q.outputs])
    expect(
        np.all(np.isin(x, proposed)),
        "some returned samples are not proposals that sample_q returned",
        "Return the accepted proposals themselves, as sample_q(m, rng) returned them.",
    )
    assert_ks(x, lambda t: np.vectorize(math.erf)(np.maximum(t, 0) / math.sqrt(2)), "half-normal")
    # acceptance rate Z / M = sqrt(pi / 2) / e^{1/2}; the number of proposals is at least n
    truth = math.sqrt(math.pi / 2) / math.exp(0.5)
    rate_hint = (
        "The acceptance rate is the number of proposals accepted divided by the number of all "
        "proposals made, over every batch (Z / M on average)."
    )
    assert_within_se(
        rate, truth, math.sqrt(truth * (1 - truth) / n), "the acceptance rate", hint=rate_hint
    )
    # f(x) = x (1 - x) on [0, 1] under M q = 1/4 U(0, 1): Beta(2, 2) with CDF 3x^2 - 2x^3
    y, rate = impl.rejection_sample(
        lambda t: np.log(np.clip(t * (1 - t), 1e-300, None)),
        lambda m, rng: rng.random(m),
        lambda t: np.zeros_like(t),
        math.log(0.25),
        n,
        _rng(8),
    )
    assert_ks(np.asarray(y), lambda t: np.clip(3 * t**2 - 2 * t**3, 0, 1), "Beta(2, 2)")
    assert_within_se(
        rate, 2 / 3, math.sqrt(2 / 9 / n), "the acceptance rate for Beta(2, 2)", hint=rate_hint
    )


@check(
    "rejection_sample",
    hint="Look at every proposal before accepting: if some log f(x) - log q(x) exceeds log M, M q "
    "does not cover f and the samples would be wrong — raise a ValueError naming log_M.",
)
def rejection_rejects_a_bad_envelope(impl):
    """rejection_sample raises a ValueError naming log_M when M q does not cover f."""
    log_f, sample_q, log_q, _ = _half_normal()
    assert_raises_value_error(
        lambda: impl.rejection_sample(log_f, sample_q, log_q, 0.2, 1000, _rng(0)),
        "log_M",
        "log_M = 0.2 < max(log f - log q) = 0.5",
        hint="Look at every proposal before accepting: if some log f(x) - log q(x) exceeds log M, "
        "M q does not cover f and the samples would be wrong — raise a ValueError naming log_M.",
    )


# ----------------------------------------------------------------------------- weights
_BAD_LOG_WEIGHTS = [
    Invalid("log_w", np.array([]), "no log-weights"),
    Invalid("log_w", np.full(3, -np.inf), "every weight zero (all -inf)"),
    Invalid("log_w", np.zeros((2, 2)), "a 2-D array"),
]
CONTRACT.function(
    "log_mean_exp",
    lambda: call(np.array([0.0, -1.0, 2.0])),
    invalid=_BAD_LOG_WEIGHTS,
    hints=(
        "log-mean-exp (under eq. P2.6): log((1/n) sum_i e^(l_i)) overflows for l_i near 1000. "
        "Factor out the largest, m = max_i l_i: the log of the mean is m plus the log of the mean "
        "of e^(l_i - m), whose terms are at most 1.",
        "With m the largest entry of log_w, the result is m + log((1/n) sum_i e^(l_i - m)), a "
        "float. Every exponential is at most 1 and the largest is exactly 1, so nothing overflows "
        "and the sum is never 0. An entry of -inf is a zero weight: it adds nothing to the sum but "
        "still counts in n.",
    ),
)
LSE_STABLE_HINT = (
    "Factor out the largest log-weight m first: m + log(mean(exp(log_w - m))). Then no e^l "
    "overflows for log-weights near 1000, nor underflows to log(0) near -1000."
)


@check("log_mean_exp", hint=LSE_STABLE_HINT)
def log_mean_exp_is_stable(impl):
    """log_mean_exp is torch.logsumexp - log n, with -inf entries, and near +-1000."""
    rng = _rng(9)
    small = rng.normal(size=50)
    expected = float(torch.logsumexp(torch.tensor(small), 0)) - math.log(50)
    assert_close(
        float(impl.log_mean_exp(small)),
        expected,
        "log_mean_exp of 50 log-weights",
        rtol=1e-9,
        hint="The log of the MEAN weight: log-sum-exp minus log n (n counts every weight).",
    )
    assert_close(
        float(impl.log_mean_exp(np.array([0.0, -np.inf]))),
        math.log(0.5),
        "log_mean_exp of [0, -inf] (weights 1 and 0)",
        rtol=1e-9,
        hint="A log-weight of -inf is a weight of 0: it adds nothing to the sum but counts in n.",
    )
    for shift in (1000.0, -1000.0):
        log_w = rng.normal(size=50) * 3 + shift
        expected = float(torch.logsumexp(torch.tensor(log_w), 0)) - math.log(50)
        got = float(impl.log_mean_exp(log_w))
        expect(math.isfinite(got), f"log_mean_exp is {got} for log-weights near {shift}")
        assert_close(got, expected, f"log_mean_exp near {shift}", rtol=1e-9)


CONTRACT.function(
    "effective_sample_size",
    lambda: call(np.array([0.0, -1.0, 2.0])),
    invalid=_BAD_LOG_WEIGHTS,
    hints=(
        "Eq. (P2.7): Kish's ESS is (sum w)^2 / sum w^2, or 1 / sum of the squared normalised "
        "weights: n for equal weights, 1 when one weight carries everything. It does not change "
        "when every weight is scaled, so compute the weights relative to the largest.",
        "In order: the weights relative to the largest, w_i = e^(l_i - max_j l_j) for the "
        "log-weights l_i; the normalised weights, each w_i divided by the sum of all of them; the "
        "ESS, 1 / (sum of the squared normalised weights), as a float.",
    ),
)


@check(
    "effective_sample_size",
    hint="ESS = (sum w)^2 / sum w^2 = 1 / sum(w_bar^2) with w_bar = w / sum(w), the weights "
    "normalised to sum to 1: n for n equal weights, whatever their common value.",
)
def ess_closed_forms(impl):
    """effective_sample_size is n for equal weights, 16/6 for (1, 1, 2), ~1 for one dominant weight."""
    assert_close(impl.effective_sample_size(np.full(7, -3.0)), 7.0, "ESS of 7 equal weights")
    assert_close(impl.effective_sample_size(np.log([1.0, 1.0, 2.0])), 16 / 6, "ESS of (1, 1, 2)")
    assert_close(
        impl.effective_sample_size(np.log([1.0, 1.0, 2.0]) + 800.0),
        16 / 6,
        "ESS of (1, 1, 2) e^800",
        hint="Compute the weights from log_w - max(log_w): e^800 overflows, and the ESS does not "
        "change when every weight is scaled.",
    )
    got = float(impl.effective_sample_size(np.array([0.0, -50.0, -60.0])))
    expect(abs(got - 1.0) < 1e-9, f"ESS with one dominant weight is {got}, expected 1")


CONTRACT.function(
    "log_z_estimate",
    lambda: call(np.array([0.0, -1.0, 2.0, 0.5])),
    invalid=[*_BAD_LOG_WEIGHTS[:2], Invalid("log_w", np.array([0.0]), "a single log-weight")],
    uses=("log_mean_exp",),
    hints=(
        "Eq. (P2.12): log Z-hat is the log of the mean weight (log_mean_exp). Its standard error, "
        "by the delta method, is se(Z-hat) / Z-hat: the spread of the weights relative to their "
        "mean, divided by sqrt(n).",
        "The first number is your log_mean_exp of the log-weights. For the second, take the "
        "weights relative to the largest, w_i = e^(l_i - max_j l_j) (the common factor cancels in "
        "the ratio that follows); the standard error is sd(w) / (sqrt(n) mean(w)), with sd the "
        "sample standard deviation (n - 1 in its denominator). Return the pair of floats.",
    ),
)


@check(
    "log_z_estimate",
    hint="log Z-hat = log_mean_exp(log_w); se = sd(w) / (sqrt(n) mean(w)) with the n - 1 "
    "standard deviation: relative to the mean, so the same for w and 10 w.",
)
def log_z_closed_form(impl):
    """log_z_estimate of weights (1, 2, 3, 4) e^-500 is (log 2.5 - 500, sd / (2 * 2.5))."""
    log_z, se = impl.log_z_estimate(np.log([1.0, 2.0, 3.0, 4.0]) - 500.0)
    sd = math.sqrt(sum((w - 2.5) ** 2 for w in (1, 2, 3, 4)) / 3)
    assert_close(
        log_z,
        math.log(2.5) - 500.0,
        "log Z of weights (1, 2, 3, 4) e^-500",
        rtol=1e-9,
        hint="log Z-hat is the log of the MEAN weight, computed stably: your log_mean_exp.",
    )
    assert_close(
        se,
        sd / (2 * 2.5),
        "the standard error of log Z",
        hint="se(log Z-hat) = sd(w) / (sqrt(n) mean(w)): the sample standard deviation with the "
        "n - 1 divisor (ddof=1), divided by the mean weight — the ratio does not depend on the "
        "weights' scale — and by sqrt(n).",
    )


# ----------------------------------------------------------------------------- importance sampling
def _is_problem():
    """Target 3 e^(-(x - 1)^2 / (2 0.5^2)) (log Z = log(3 * 0.5 sqrt(2 pi))), proposals N(0, 2^2)."""
    return (
        lambda x: math.log(3.0) - 0.5 * ((x - 1.0) / 0.5) ** 2,
        lambda m, rng: 2.0 * rng.standard_normal(m),
        _normal_log_pdf(2.0),
    )


CONTRACT.function(
    "importance_sampling",
    lambda: call(*_is_problem(), 5, _rng()),
    hints=(
        "Eq. (P2.6), first line: keep every proposal from q and weight it by w = f / q, the target "
        "over the proposal — in logs, a difference.",
        "Call sample_q once for all n proposals, passing rng; evaluate log f - log q at the "
        "proposals, one log-weight each. Return the proposals and their log-weights, in that "
        "order: no normalising, no exponentiating, no resampling.",
    ),
)


@check(
    "importance_sampling",
    hint="log w_i = log f(x_i) - log q(x_i): the target over the proposal, at each proposal.",
)
def importance_sampling_weights_its_proposals(impl):
    """importance_sampling returns sample_q's proposals and log w = log f - log q at each."""
    log_f, draw, log_q = _is_problem()
    sample_q = _Recorder(draw)
    x, log_w = impl.importance_sampling(log_f, sample_q, log_q, 2000, _rng(10))
    x, log_w = np.asarray(x, dtype=np.float64), np.asarray(log_w, dtype=np.float64)
    expect(
        len(sample_q.outputs) == 1 and np.array_equal(x, sample_q.outputs[0]),
        f"x is not what sample_q(n, rng) returned ({len(sample_q.outputs)} calls to sample_q)",
        "Draw the proposals with one call, sample_q(n, rng), and return them as they are.",
    )
    expect(log_w.shape == (2000,), f"log_w has shape {log_w.shape}, expected (2000,)")
    assert_close(log_w, log_f(x) - log_q(x), "log_w")


CONTRACT.function(
    "self_normalised_mean",
    lambda: call(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), np.log([1.0, 2.0, 1.0])),
    invalid=[Invalid("values", np.zeros(2), "2 values for 3 weights")],
    hints=(
        "Eq. (P2.6), last two lines: a weighted average of the values, with the weights normalised "
        "to sum to one — so the unknown normaliser of f cancels.",
        "In order: the weights relative to the largest, w_i = e^(l_i - max_j l_j); the normalised "
        "weights, each divided by their sum; the estimate sum_i wbar_i h(x_i), a weighted sum over "
        "the first axis of values. values may hold a vector or an array per weight, whose shape "
        "the sum keeps; return a float when it holds one number per weight.",
    ),
)


@check(
    "self_normalised_mean",
    hint="sum_i w_bar_i h(x_i) with w_bar = w / sum(w): divide by the sum of the weights, and "
    "average over the first axis (one row per weight).",
)
def self_normalised_mean_closed_form(impl):
    """self_normalised_mean weights rows by w / sum(w), for scalar and vector values, near e^700."""
    got = impl.self_normalised_mean(np.array([0.0, 10.0]), np.log([3.0, 1.0]))
    assert_close(got, 2.5, "the weighted mean of (0, 10) with weights (3, 1)")
    values = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    got = impl.self_normalised_mean(values, np.log([1.0, 2.0, 1.0]))
    assert_close(got, [0.5, 0.75], "the weighted mean of 2-D values")
    got = impl.self_normalised_mean(np.array([0.0, 10.0]), np.log([3.0, 1.0]) + 800)
    assert_close(
        got,
        2.5,
        "the weighted mean with weights (3, 1) e^800",
        hint="Compute the weights from log_w - max(log_w): e^800 overflows, and the normalised "
        "weights do not change when every weight is scaled.",
    )


# ----------------------------------------------------------------------------- MCMC
def _exponential_target(x):
    return np.where(x > 0, -x, -np.inf)


CONTRACT.function(
    "metropolis_hastings",
    lambda: call(_exponential_target, np.array([0.5, 1.0, 2.0]), 4, 0.7, _rng()),
    invalid=[
        Invalid("x0", 0.5, "a scalar x0, without an axis of chains"),
        Invalid("x0", np.array([-1.0, 1.0, 2.0]), "x0 where the target is 0 (log_f = -inf)"),
    ],
    hints=(
        "Eq. (P2.8): every chain proposes a Gaussian step of standard deviation step_size and "
        "accepts it with probability min(1, f(x') / f(x)) — compare the log of a uniform with the "
        "difference of log-densities. A rejected chain stays put (and counts as a step).",
        "The path has n_steps + 1 rows, the first the start. Keep log f of every chain's current "
        "state. At each step: propose x' as x plus step_size times standard normal noise from rng, "
        "of the states' shape; evaluate log f at the proposals; draw one uniform u per chain (one "
        "minus a standard uniform, so that log u is finite) and accept where log u <= log f(x') - "
        "log f(x); accepted chains move to x' and keep its log f, the others stay; count the "
        "acceptances and store the states as the next row. When a state is a vector, one decision "
        "moves the whole row. The rate is the number accepted over n_steps times the number of "
        "chains.",
    ),
)
MH_ACCEPT_HINT = (
    "Accept when u <= f(x') / f(x): in logs, log u <= log f(x') - log f(x) — the log of the "
    "uniform on the left, the new point's log-density first — each chain with its own uniform."
)
MH_PROPOSAL_HINT = (
    "Propose x' = x + step_size * eps: step_size is the standard deviation (not the variance), "
    "and eps is fresh standard normal noise from rng for every chain, coordinate and step."
)
MH_REJECT_HINT = (
    "A rejected proposal leaves the chain where it was: keep x (and its log f) for those chains, "
    "and still store the state at that step. Each chain decides with its own uniform number."
)
MH_RATE_HINT = (
    "The acceptance rate is the number of accepted proposals divided by all proposals, n_steps * c."
)
MH_INVARIANT_HINT = (
    "The log-density of the current states must follow the chains: after an acceptance it is the "
    "proposal's, after a rejection the old one. Compare each proposal with where its chain is now."
)


def _flat(x):
    return np.zeros(len(x))


@check("metropolis_hastings", hint=MH_PROPOSAL_HINT)
def mh_proposes_gaussian_steps(impl):
    """On a flat target every proposal is accepted: the moves are N(0, s^2 I), fresh at every step."""
    c, s, steps = 20_000, 1.5, 4
    x0 = np.full(c, 0.5)
    path, rate = impl.metropolis_hastings(_flat, x0, steps, s, _rng(11))
    path = np.asarray(path, dtype=np.float64)
    expect(
        path.shape == (steps + 1, c),
        f"the path of {steps} steps of {c} chains has shape {path.shape}",
        "Return every state, x0 first: shape (n_steps + 1, *x0.shape).",
    )
    expect(np.array_equal(path[0], x0), "path[0] is not x0", "Store x0 as the path's first row.")
    moved = path[1] != path[0]
    expect(
        moved.all(),
        f"on a flat target (f(x') / f(x) = 1) only {moved.mean():.1%} of the proposals were "
        "accepted, not all",
        MH_ACCEPT_HINT,
    )
    expect(
        abs(float(rate) - 1.0) < 1e-12,
        f"the acceptance rate is {rate}, but every proposal was accepted",
        MH_RATE_HINT,
    )
    assert_ks((path[1] - x0) / s, normal_cdf, "the first move / step_size")
    assert_ks(
        (path[steps] - x0) / (s * math.sqrt(steps)),
        normal_cdf,
        f"the sum of {steps} moves / (step_size sqrt({steps}))",
    )
    rows_hint = (
        "For states of shape (c, d), one chain is one row: draw the proposal's noise of x's "
        "shape, one uniform per chain, and accept or reject whole rows — reshape the (c,) mask "
        "to (c, 1) before np.where."
    )
    x2 = np.tile([0.5, -1.0], (c, 1))
    try:
        path, _ = impl.metropolis_hastings(_flat, x2, 1, s, _rng(12))
    except (ValueError, IndexError) as error:
        raise Failure(
            f"chains of shape ({c}, 2) raised {type(error).__name__}: {str(error)[:120]}", rows_hint
        ) from None
    path = np.asarray(path, dtype=np.float64)
    expect(path.shape == (2, c, 2), f"chains of shape ({c}, 2) gave a path {path.shape}", rows_hint)
    step = (path[1] - path[0]) / s
    for i in range(2):
        assert_ks(step[:, i], normal_cdf, f"coordinate {i} of a 2-D move / step_size")
    assert_ks((step[:, 0] - step[:, 1]) / math.sqrt(2), normal_cdf, "(move_1 - move_2) / sqrt(2)")


def _mh_accepted_mass(x0: float, s: float, t: np.ndarray) -> np.ndarray:
    """P(one MH step from x0 is accepted and lands at or below t), target N(0, 1), proposal sd s.

    Where |x'| <= |x0| the move is always accepted: mass of N(x0, s^2) there. Elsewhere the
    density N(x'; x0, s^2) f(x') / f(x0) is C N(x'; m, v) with m = x0 / (1 + s^2),
    v = s^2 / (1 + s^2) and C = e^(x0^2 / 2) N(x0; 0, 1 + s^2) sqrt(2 pi), the product of two
    Gaussians written out.
    """
    t = np.asarray(t, dtype=np.float64)
    r = abs(x0)

    def mass(mean, sd, lo, hi):
        return normal_cdf(hi, mean, sd) - normal_cdf(lo, mean, sd)

    inside = mass(x0, s, -r, np.clip(t, -r, r))
    var = 1 + s * s
    C = math.exp(0.5 * x0 * x0 - 0.5 * x0 * x0 / var) / math.sqrt(var)
    m, sd = x0 / var, s / math.sqrt(var)
    outside = mass(m, sd, -np.inf, np.minimum(t, -r)) + mass(m, sd, r, np.maximum(t, r))
    return inside + C * outside


@check("metropolis_hastings", hint=MH_ACCEPT_HINT)
def mh_one_step_matches_the_exact_kernel(impl):
    """One step from x0 = 1 on N(0, 1): the rejection rate and the law of accepted moves are exact."""
    c, x0, s = 20_000, 1.0, 1.5
    path, rate = impl.metropolis_hastings(
        lambda x: 3.0 - 0.5 * x**2, np.full(c, x0), 1, s, _rng(112)
    )
    path = np.asarray(path, dtype=np.float64)
    expect(path.shape == (2, c), f"one step of {c} chains gave a path of shape {path.shape}")
    stayed = path[1] == x0
    accept = float(_mh_accepted_mass(x0, s, np.inf))
    expect(
        stayed.any(),
        "no chain stayed at x0, yet a move away from the mode is rejected with probability "
        f"{1 - accept:.3f}",
        MH_REJECT_HINT,
    )
    assert_within_se(
        float(stayed.mean()),
        1 - accept,
        math.sqrt(accept * (1 - accept) / c),
        "the fraction of rejected proposals",
    )
    expect(
        abs(float(rate) - (1 - float(stayed.mean()))) < 1e-12,
        f"the acceptance rate is {rate}, but {1 - stayed.mean():.4f} of the chains moved",
        MH_RATE_HINT,
    )
    assert_ks(
        path[1][~stayed],
        lambda t: _mh_accepted_mass(x0, s, t) / accept,
        "the accepted moves (exact law of min(1, f(x') / f(x)) times the proposal)",
    )


def _mixture_sample(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal(n) + np.where(rng.random(n) < 0.5, 2.0, -2.0)


@check("metropolis_hastings", hint=MH_INVARIANT_HINT)
def mh_keeps_the_target_invariant(impl):
    """Chains started at the target stay there (KS): N(0, 1), a two-mode mixture, U(0, 1), N(0, I_2)."""
    c = 10_000
    path, _ = impl.metropolis_hastings(
        lambda x: -0.5 * x**2, _rng(13).standard_normal(c), 20, 2.0, _rng(14)
    )
    path = np.asarray(path, dtype=np.float64)
    for k in (1, 20):
        assert_ks(path[k], normal_cdf, f"N(0, 1) chains started at N(0, 1), after {k} steps")
    mixture = lambda x: np.logaddexp(-0.5 * (x - 2.0) ** 2, -0.5 * (x + 2.0) ** 2)  # noqa: E731
    path, _ = impl.metropolis_hastings(mixture, _mixture_sample(c, _rng(15)), 20, 2.5, _rng(16))
    cdf = lambda t: 0.5 * normal_cdf(t, 2.0, 1.0) + 0.5 * normal_cdf(t, -2.0, 1.0)  # noqa: E731
    assert_ks(np.asarray(path)[-1], cdf, "two-mode chains started at the mixture, after 20 steps")
    uniform = lambda x: np.where((x > 0) & (x < 1), 0.0, -np.inf)  # noqa: E731
    path, _ = impl.metropolis_hastings(uniform, _rng(17).random(c), 20, 0.3, _rng(18))
    last = np.asarray(path)[-1]
    expect(
        np.all((last > 0) & (last < 1)),
        "a chain on a U(0, 1) target left (0, 1)",
        "A proposal where log f = -inf must be rejected: log u <= -inf never holds.",
    )
    assert_ks(last, _uniform_cdf(0.0, 1.0), "U(0, 1) chains after 20 steps")
    path, _ = impl.metropolis_hastings(
        lambda x: -0.5 * np.sum(x**2, axis=-1), _rng(19).standard_normal((c, 2)), 20, 1.5, _rng(20)
    )
    last = np.asarray(path)[-1]
    expect(
        last.shape == (c, 2),
        f"(c, 2) chains ended with shape {last.shape}",
        "For states of shape (c, d), accept or reject whole rows: reshape the (c,) mask to "
        "(c, 1) before np.where.",
    )
    assert_ks(last @ np.array([0.6, 0.8]), normal_cdf, "2-D chains projected on a unit vector")


# ----------------------------------------------------------------------------- Langevin
CONTRACT.function(
    "langevin_dynamics",
    lambda: call(lambda x: -x, np.array([0.5, -1.0, 2.0]), 3, 0.1, _rng()),
    invalid=[
        Invalid("x0", 0.5, "a scalar x0, without an axis of chains"),
        Invalid("score", lambda a: lambda x: x[:1], "a score returning another shape than x"),
    ],
    hints=(
        "Eq. (P2.9): each step climbs the score by half the step size tau and adds fresh Gaussian "
        "noise of variance tau (standard deviation sqrt(tau)).",
        "The path has n_steps + 1 rows, the first the start. At each step: evaluate score at the "
        "current states (if what it returns has another shape than the states, raise a ValueError "
        "naming score); draw standard normal z of the states' shape from rng; move to x + (tau / "
        "2) score(x) + sqrt(tau) z, with tau the argument step_size; store the states as the next "
        "row.",
    ),
)
LANGEVIN_NOISE_HINT = (
    "With the page's convention (eq. P2.9) the noise is sqrt(tau) z: variance tau per step (not "
    "2 tau, not tau^2), with a fresh z from rng at every step."
)
LANGEVIN_DRIFT_HINT = (
    "The drift is (tau / 2) times the score at the current state (eq. P2.9): half the step size, "
    "added to x."
)


@check("langevin_dynamics", hint=LANGEVIN_NOISE_HINT)
def langevin_adds_noise_of_variance_tau(impl):
    """With a zero score the chain is a Gaussian random walk: x_k - x0 ~ N(0, k tau) (k = 1, 4)."""
    n, tau, steps = 20_000, 0.3, 4
    x0 = np.full(n, 1.0)
    path = np.asarray(
        impl.langevin_dynamics(np.zeros_like, x0, steps, tau, _rng(21)), dtype=np.float64
    )
    expect(
        path.shape == (steps + 1, n),
        f"the path of {steps} steps has shape {path.shape}, expected ({steps + 1}, {n})",
        "Return every state, x0 first: shape (n_steps + 1, *x0.shape).",
    )
    expect(np.array_equal(path[0], x0), "path[0] is not x0", "Store x0 as the path's first row.")
    for k in (1, steps):
        var = k * tau
        assert_within_se(
            float(np.mean((path[k] - 1.0) ** 2)),
            var,
            var * math.sqrt(2 / n),
            f"the variance of x_{k} - x0 with a zero score",
        )
    assert_ks(path[steps], lambda t: normal_cdf(t, 1.0, math.sqrt(steps * tau)), f"x_{steps}")


@check("langevin_dynamics", hint=LANGEVIN_DRIFT_HINT)
def langevin_matches_exact_marginal(impl):
    """On N(1, 0.5^2) from x0 = 3 the chain has the exact Gaussian law of eq. (P2.9) after 30 steps."""
    mu, sigma, tau, t, n = 1.0, 0.5, 0.05, 30, 20_000
    path = np.asarray(
        impl.langevin_dynamics(lambda x: -(x - mu) / sigma**2, np.full(n, 3.0), t, tau, _rng(22)),
        dtype=np.float64,
    )
    # x_k - mu = (1 - a)(x_{k-1} - mu) + sqrt(tau) z with a = tau / (2 sigma^2): a Gaussian AR(1)
    a = tau / (2 * sigma**2)
    mean = mu + (1 - a) ** t * (3.0 - mu)
    var = tau * (1 - (1 - a) ** (2 * t)) / (1 - (1 - a) ** 2)
    assert_within_se(float(path[-1].mean()), mean, math.sqrt(var / n), f"the mean after {t} steps")
    assert_within_se(
        float(np.mean((path[-1] - mean) ** 2)),
        var,
        var * math.sqrt(2 / n),
        f"the variance after {t} steps",
        hint=LANGEVIN_NOISE_HINT,
    )
    assert_ks(path[-1], lambda x: normal_cdf(x, mean, math.sqrt(var)), "the Langevin samples")


# ----------------------------------------------------------------------------- AIS
def _gaussian_target(m: float, s: float):
    """Unnormalised target e^(-(x - m)^2 / (2 s^2)), with log Z = log(s sqrt(2 pi))."""
    return lambda x: -0.5 * ((x - m) / s) ** 2


_STANDARD_PRIOR = _normal_log_pdf(1.0)

CONTRACT.function(
    "annealed_log_density",
    lambda: call(np.linspace(-2.0, 2.0, 5), _gaussian_target(1.0, 1.0), _STANDARD_PRIOR, 0.3),
    invalid=[Invalid("x", 0.5, "a scalar x, without an axis of points")],
    hints=(
        "Eq. (P2.10), in logs: the path's log-density is a weighted sum of the two log-densities — "
        "the inverse temperature on the target, one minus it on the prior.",
        "With gamma the inverse temperature: gamma log f(x) + (1 - gamma) log p0(x), one value per "
        "point, from log_target and log_prior — but leave out a term entirely when its weight is "
        "0. log_target may be -inf where the prior is not, and 0 times -inf is NaN, not 0.",
    ),
)


@check(
    "annealed_log_density",
    hint="log f_gamma = gamma log f + (1 - gamma) log p0: gamma on the TARGET, so that gamma = 0 "
    "is the prior and gamma = 1 the target.",
)
def annealed_log_density_interpolates(impl):
    """annealed_log_density is the prior at 0, the target at 1, linear in between; 0 * -inf is 0."""
    x = np.linspace(-2.0, 2.0, 9)
    log_target = _gaussian_target(1.0, 1.0)
    log_prior = _normal_log_pdf(2.0)
    for gamma in (0.0, 0.3, 1.0):
        expected = gamma * log_target(x) + (1 - gamma) * log_prior(x)
        got = impl.annealed_log_density(x, log_target, log_prior, gamma)
        assert_close(got, expected, f"log f_gamma at inverse temperature {gamma}")
    uniform = lambda y: np.where((y > 0) & (y < 1), 0.0, -np.inf)  # noqa: E731
    y = np.array([-0.5, 0.5, 2.0])
    zero_hint = (
        "A weight of 0 switches its term off: at inverse temperature 1 the prior does not count "
        "(and at 0 the target does not), even where its log-density is -inf — in NumPy "
        "0 * -inf is NaN, so leave the term out there."
    )
    got = np.asarray(impl.annealed_log_density(y, log_prior, uniform, 1.0), dtype=np.float64)
    assert_close(got, log_prior(y), "log f_1 with a prior that is 0 somewhere", hint=zero_hint)
    got = np.asarray(impl.annealed_log_density(y, uniform, log_prior, 0.0), dtype=np.float64)
    assert_close(got, log_prior(y), "log f_0 with a target that is 0 somewhere", hint=zero_hint)


def _standard_prior_sample(m, rng):
    return rng.standard_normal(m)


_BAD_SCHEDULES = [
    ([0.1, 0.5, 1.0], "a schedule starting at 0.1"),
    ([0.0, 0.5, 0.9], "a schedule ending at 0.9"),
    ([0.0, 0.6, 0.4, 1.0], "a decreasing schedule"),
    ([1.0, 0.5, 0.0], "Neal's order, 1 down to 0"),
    ([0.0, float("nan"), 1.0], "a schedule with NaN"),
]
CONTRACT.function(
    "annealed_importance_sampling",
    lambda: call(
        _gaussian_target(1.0, 0.8),
        _STANDARD_PRIOR,
        _standard_prior_sample,
        [0.0, 0.5, 1.0],
        6,
        _rng(),
        2,
        0.8,
    ),
    invalid=[
        *[
            Invalid("inverse_temperatures", schedule, case, ("inverse_temperatures", "betas"))
            for schedule, case in _BAD_SCHEDULES
        ],
        Invalid(
            "sample_prior",
            lambda a: lambda m, rng: rng.standard_normal(m + 1),
            "a sample_prior returning n + 1 samples",
        ),
    ],
    uses=("metropolis_hastings", "annealed_log_density"),
    hints=(
        "Eq. (P2.11): carry n particles from the prior to the target. At each inverse temperature "
        "in turn, FIRST add to the log-weights the change of the path's log-density at the "
        "particles as they are, THEN (except after the last) move them with Metropolis–Hastings "
        "steps that leave the new path density invariant.",
        "Draw n particles with sample_prior, passing rng (if it does not return n samples along "
        "the first axis, raise a ValueError naming sample_prior), and start every log-weight at 0. "
        "For k = 1, ..., K, with gamma_k the inverse temperatures: first add (gamma_k - "
        "gamma_(k-1)) (log f(x) - log p0(x)) to each log-weight, at the particles as they are; "
        "then, for k < K only, run your metropolis_hastings from the particles for n_mcmc steps of "
        "size step_size with rng, its log-density your annealed_log_density at gamma_k, and keep "
        "its last state as the new particles. Return the particles and the log-weights.",
    ),
)
AIS_INCREMENT_HINT = (
    "Each increment is the CHANGE of the path's log-density from the previous inverse "
    "temperature to the new one, (γ_k - γ_(k-1)) (log_target(x) - log_prior(x)): the increments "
    "add up along the schedule to log f - log p0, not to a sum of the γ_k."
)
AIS_MOVE_HINT = (
    "After the weight update of step k (for k < K), move every particle with n_mcmc "
    "Metropolis–Hastings steps of size step_size that target annealed_log_density at γ_k — the "
    "inverse temperature just weighted, not γ_(k-1) — and pass n_mcmc and step_size on; no move "
    "after the last weight."
)
AIS_ORDER_HINT = (
    "Weight first, then move: the increment of step k is evaluated at the particles BEFORE the "
    "move that targets γ_k. Moving first weights particles that already drifted towards the "
    "target, and the weights come out too large — the order the page warns about."
)


@check("annealed_importance_sampling", hint=AIS_INCREMENT_HINT)
def ais_with_two_temperatures_is_importance_sampling(impl):
    """With the schedule [0, 1], AIS returns the prior's samples with log w = log f(x) - log p0(x)."""
    log_f = _gaussian_target(1.0, 0.7)
    sample_prior = _Recorder(_standard_prior_sample)
    x, log_w = impl.annealed_importance_sampling(
        log_f, _STANDARD_PRIOR, sample_prior, [0.0, 1.0], 50, _rng(23)
    )
    x, log_w = np.asarray(x, dtype=np.float64), np.asarray(log_w, dtype=np.float64)
    expect(
        len(sample_prior.outputs) == 1 and np.array_equal(x, sample_prior.outputs[0]),
        "with the schedule [0, 1] the particles returned are not the ones sample_prior(n, rng) "
        f"drew ({len(sample_prior.outputs)} calls to sample_prior)",
        "Draw the particles once, with sample_prior(n, rng); with the schedule [0, 1] there is "
        "one weight update and no move, so they come back as drawn.",
    )
    assert_close(log_w, log_f(x) - _STANDARD_PRIOR(x), "log w for the schedule [0, 1]")


@check("annealed_importance_sampling", hint=AIS_INCREMENT_HINT)
def ais_weights_telescope(impl):
    """With a target 5 times the prior, every log-weight is exactly log 5, whatever the moves."""
    log_f = lambda x: math.log(5.0) + _STANDARD_PRIOR(x)  # noqa: E731
    x, log_w = impl.annealed_importance_sampling(
        log_f,
        _STANDARD_PRIOR,
        _standard_prior_sample,
        [0.0, 0.2, 0.2, 0.7, 1.0],
        200,
        _rng(24),
        2,
        0.8,
    )
    expect(np.asarray(x).shape == (200,), f"the particles have shape {np.asarray(x).shape}")
    assert_close(log_w, np.full(200, math.log(5.0)), "log w for the target 5 p0", rtol=1e-9)


# The exact AIS experiment: prior N(0, 1), target e^(-(x - 1.5)^2 / (2 0.8^2)), a short schedule
# with an uneven step, several Metropolis–Hastings steps of a size that is not the default.
AIS_MEAN, AIS_SD = 1.5, 0.8
AIS_SCHEDULE = (0.0, 0.25, 0.5, 1.0)
AIS_N_MCMC, AIS_STEP, AIS_PARTICLES = 3, 1.2, 20_000


def _ais_exact() -> tuple[float, np.ndarray, np.ndarray]:
    """E[log w] and the law (grid, CDF) of the final particles of the exact AIS experiment.

    The law of the particles is propagated on a grid of step 0.02 over [-10, 12]: one
    Metropolis–Hastings step maps a density p to  p'(x) = sum_y p(y) h q(x | y) a(y, x) + p(x) r(x)
    with q the Gaussian proposal, a = min(1, f_g(x) / f_g(y)) and r the probability of rejection
    (what the sum leaves of each column). The numerical error is below 1e-5 in E[log w] and in
    the CDF, far below the Monte-Carlo error.
    """
    h = 0.02
    grid = np.arange(-10.0, 12.0 + h / 2, h)
    log_p0 = -0.5 * grid**2 - 0.5 * math.log(2 * math.pi)
    log_f = -0.5 * ((grid - AIS_MEAN) / AIS_SD) ** 2
    p = np.exp(log_p0)
    proposal = (
        h
        * np.exp(-0.5 * ((grid[:, None] - grid[None, :]) / AIS_STEP) ** 2)
        / (AIS_STEP * math.sqrt(2 * math.pi))
    )
    expected_log_w = 0.0
    for k in range(1, len(AIS_SCHEDULE)):
        expected_log_w += (AIS_SCHEDULE[k] - AIS_SCHEDULE[k - 1]) * float(
            np.sum(p * (log_f - log_p0)) * h
        )
        if k < len(AIS_SCHEDULE) - 1:
            g = AIS_SCHEDULE[k]
            log_fg = g * log_f + (1 - g) * log_p0
            kernel = proposal * np.exp(np.minimum(0.0, log_fg[:, None] - log_fg[None, :]))
            stay = 1.0 - kernel.sum(axis=0)
            for _ in range(AIS_N_MCMC):
                p = kernel @ p + stay * p
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (p[1:] + p[:-1]) * h)])
    return expected_log_w, grid, cdf


def _ais_experiment(impl) -> tuple[np.ndarray, np.ndarray]:
    x, log_w = impl.annealed_importance_sampling(
        _gaussian_target(AIS_MEAN, AIS_SD),
        _STANDARD_PRIOR,
        _standard_prior_sample,
        list(AIS_SCHEDULE),
        AIS_PARTICLES,
        _rng(25),
        AIS_N_MCMC,
        AIS_STEP,
    )
    return np.asarray(x, dtype=np.float64), np.asarray(log_w, dtype=np.float64)


@check("annealed_importance_sampling", hint=AIS_MOVE_HINT)
def ais_moves_follow_the_exact_kernels(impl):
    """The final particles follow the exact law of 3 MH steps at 0.25, then 3 at 0.5 (step 1.2)."""
    x, _ = _ais_experiment(impl)
    expect(x.shape == (AIS_PARTICLES,), f"the particles have shape {x.shape}")
    _, grid, cdf = _ais_exact()
    assert_ks(
        x,
        lambda t: np.interp(t, grid, cdf),
        "the final particles (prior N(0, 1), schedule [0, 0.25, 0.5, 1], n_mcmc=3, step_size=1.2)",
    )


@check("annealed_importance_sampling", hint=AIS_ORDER_HINT)
def ais_mean_log_weight_is_exact(impl):
    """The mean log-weight of the exact experiment matches E[log w] on the propagated laws."""
    _, log_w = _ais_experiment(impl)
    expected, _, _ = _ais_exact()
    se = float(np.std(log_w, ddof=1)) / math.sqrt(log_w.size)
    assert_within_se(float(log_w.mean()), expected, se, "the mean log-weight")


def _two_mode_log_target(x):
    a = np.array([2.0, 2.0])
    return np.logaddexp(-np.sum((x - a) ** 2, axis=-1) / 0.5, -np.sum((x + a) ** 2, axis=-1) / 0.5)


def _prior_2d(x):
    return -0.5 * np.sum((x / 3.0) ** 2, axis=-1) - 2 * math.log(3.0 * math.sqrt(2 * math.pi))


@check(
    "annealed_importance_sampling",
    hint="Particles of shape (n, d) work like (n,): the callables take the whole batch, and "
    "metropolis_hastings moves whole rows.",
)
def ais_two_mode_log_z(impl):
    """AIS from N(0, 3^2 I) to a 2-D two-mode target: unbiased log Z, and mean log w below it."""
    x, log_w = impl.annealed_importance_sampling(
        _two_mode_log_target,
        _prior_2d,
        lambda m, rng: 3.0 * rng.standard_normal((m, 2)),
        np.linspace(0.0, 1.0, 101),
        1000,
        _rng(26),
        1,
        0.5,
    )
    expect(np.asarray(x).shape == (1000, 2), f"the particles have shape {np.asarray(x).shape}")
    log_w = np.asarray(log_w, dtype=np.float64)
    truth = math.log(2 * 2 * math.pi * 0.25)
    w = np.exp(log_w - log_w.max())
    se = float(np.std(w, ddof=1) / (math.sqrt(w.size) * w.mean()))
    assert_within_se(float(np.log(w.mean()) + log_w.max()), truth, se, "log Z of the target")
    # Jensen: E[log w] <= log Z; the sample mean exceeds it only by Monte-Carlo error
    bound = truth + Z_BOUND * float(np.std(log_w, ddof=1)) / math.sqrt(w.size)
    expect(
        log_w.mean() <= bound,
        f"the mean log w = {log_w.mean():.4g} exceeds log Z = {truth:.4g}; by eq. (P2.13) it is a "
        "stochastic lower bound",
        AIS_ORDER_HINT,
    )


__all__ = ["CONTRACT"]
