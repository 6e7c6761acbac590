"""Contract of Pre-Task 1: Gaussian distributions.

Ground truth comes from closed forms worked out here (the peak of a density, moments of affine
images by hand, KL divergences whose terms vanish one at a time) and from
``torch.distributions``, a library independent of the NumPy code under test (imported when a
check first needs it, so that listing the contract's functions stays quick). Samplers are
checked by their moments, in standard errors, and by Kolmogorov–Smirnov tests that a correct
sampler fails less than once in a million runs.

The cases are chosen so that each term of a formula can be wrong on its own: a standard
deviation other than 1 (σ and σ² differ), a covariance whose determinant is not 1 (the factor 2
of the log-determinant shows), a diagonal covariance (its Cholesky factor is not the matrix
itself) and a correlated one (its Cholesky factor is not symmetric).
"""

from __future__ import annotations

import math

import numpy as np

from diffusion_path.contracts.asserts import (
    Z_BOUND,
    assert_close,
    assert_ks,
    assert_within_se,
    expect,
    normal_cdf,
    to_numpy,
)
from diffusion_path.contracts.base import Contract, Invalid, call

CONTRACT = Contract("pre-1")
check = CONTRACT.check


def _frozen(values: list) -> np.ndarray:
    array = np.array(values, dtype=np.float64)
    array.setflags(write=False)  # the checks pass copies; nothing may write into these
    return array


# A correlated 3-D Gaussian used throughout: symmetric positive definite, det 0.578.
MEAN = _frozen([1.0, -2.0, 0.5])
COV = _frozen([[2.0, 0.6, -0.3], [0.6, 1.0, 0.2], [-0.3, 0.2, 0.5]])
# A second one, for q in the KL divergences.
MEAN_Q = _frozen([0.0, -1.0, 1.0])
COV_Q = _frozen([[1.0, 0.3, 0.0], [0.3, 2.0, 0.4], [0.0, 0.4, 1.5]])
NOT_SYMMETRIC = _frozen([[2.0, 0.6, -0.3], [0.0, 1.0, 0.2], [-0.3, 0.2, 0.5]])
NOT_POSITIVE = _frozen([[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]])  # eigenvalue -1
COVARIANCE_INVALID = [
    Invalid("cov", lambda a: NOT_SYMMETRIC.copy(), "a covariance that is not symmetric"),
    Invalid("cov", lambda a: NOT_POSITIVE.copy(), "a covariance with a negative eigenvalue"),
    Invalid("cov", lambda a: np.eye(2), "a (2, 2) covariance for a 3-D mean"),
    Invalid("mean", lambda a: np.zeros((1, 3)), "a mean of shape (1, 3)"),
]


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _torch_mvn(mean: np.ndarray, cov: np.ndarray):
    """``torch.distributions.MultivariateNormal`` (torch is imported when a check first needs it)."""
    import torch

    return torch.distributions.MultivariateNormal(
        torch.tensor(mean, dtype=torch.float64), torch.tensor(cov, dtype=torch.float64)
    )


def _mvn_log_prob(mean: np.ndarray, cov: np.ndarray, x: np.ndarray) -> np.ndarray:
    import torch

    return _torch_mvn(mean, cov).log_prob(torch.tensor(x, dtype=torch.float64)).numpy()


def _normal_pdf(x: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    import torch

    return torch.distributions.Normal(mu, sigma).log_prob(torch.tensor(x)).exp().numpy()


def _torch_kl(mean_p, cov_p, mean_q, cov_q) -> float:
    import torch

    return float(
        torch.distributions.kl_divergence(_torch_mvn(mean_p, cov_p), _torch_mvn(mean_q, cov_q))
    )


def _assert_covariance(x: np.ndarray, mean: np.ndarray, cov: np.ndarray, what: str, hint: str):
    """Each entry of the sample covariance (about the true mean) within its standard error.

    For Gaussian data the product of two centred coordinates has variance
    S_ii S_jj + S_ij^2, so the entry's standard error is sqrt((S_ii S_jj + S_ij^2) / n).
    """
    n, d = x.shape
    centred = x - mean
    for i in range(d):
        for j in range(i, d):
            se = math.sqrt((cov[i, i] * cov[j, j] + cov[i, j] ** 2) / n)
            estimate = float(np.mean(centred[:, i] * centred[:, j]))
            assert_within_se(estimate, cov[i, j], se, f"{what} [{i}, {j}]", hint=hint)


# ----------------------------------------------------------------------------- gaussian_pdf
CONTRACT.function(
    "gaussian_pdf",
    lambda: call(np.linspace(-2.0, 3.0, 7), 0.5, 1.5),
    hints=(
        "Eq. (P1.1): measure how far each x lies from mu in units of sigma, put minus half its "
        "square in an exponential, and divide by the constant that makes the area one. sigma is a "
        "standard deviation, not a variance.",
        "Element by element, first the standardised distance z = (x - mu) / sigma, then the "
        "density e^(-z^2 / 2) / (sigma sqrt(2 pi)). sigma appears once in the constant and, "
        "through z^2, squared in the exponent; the result has the shape of x.",
    ),
)
PDF_HINT = (
    "p(x) = exp(-(x - mu)^2 / (2 sigma^2)) / (sigma sqrt(2 pi)) (P1.1), elementwise: sigma is the "
    "standard deviation, squared in the exponent only."
)
CENTRE_HINT = (
    "The density depends on x only through its distance from mu: it peaks at x = mu and is "
    "symmetric about it. Standardise with x - mu."
)
NORMALISER_HINT = (
    "At x = mu the exponential is 1, so the density there is the normalising constant "
    "1 / (sigma sqrt(2 pi)): sigma, the standard deviation — not sigma^2, not sqrt(sigma)."
)
EXPONENT_HINT = (
    "Relative to its peak the density falls as exp(-(x - mu)^2 / (2 sigma^2)): the squared "
    "distance over twice the variance sigma^2 — mind the factor 1/2, and square sigma here."
)


@check("gaussian_pdf", hint=PDF_HINT)
def pdf_matches_the_closed_form(impl):
    """gaussian_pdf has x's shape, peaks at mu with height 1/(sigma sqrt(2 pi)) and the bell's shape."""
    grid = np.linspace(-4.0, 4.0, 123).reshape(3, 41)
    density = to_numpy(impl.gaussian_pdf(grid.copy(), 0.0, 1.0))
    expect(
        density.shape == grid.shape,
        f"for x of shape {grid.shape} the density has shape {density.shape}",
        "Return one density per point, in the shape of x: work elementwise on the array.",
    )
    d = np.array([0.3, 1.0, 2.5])
    for mu, sigma in [(1.5, 0.5), (-2.0, 3.0)]:
        up, down = (to_numpy(impl.gaussian_pdf(mu + s * d, mu, sigma)) for s in (1, -1))
        peak = float(to_numpy(impl.gaussian_pdf(np.array([mu]), mu, sigma))[0])
        expect(
            np.allclose(up, down, rtol=1e-9, atol=0) and peak > float(np.max(up)),
            f"N({mu}, {sigma}^2) is not symmetric about mu = {mu}: p(mu + d) = "
            f"{np.round(up, 5).tolist()}, p(mu - d) = {np.round(down, 5).tolist()} for d = "
            f"{d.tolist()}, and p(mu) = {peak:.5g}",
            CENTRE_HINT,
        )
        assert_close(
            peak,
            1.0 / (sigma * math.sqrt(2.0 * math.pi)),
            f"the peak p(mu) of N({mu}, {sigma}^2)",
            rtol=1e-9,
            hint=NORMALISER_HINT,
        )
        assert_close(
            up / peak,
            np.exp(-(d**2) / (2.0 * sigma**2)),
            f"p(mu + d) / p(mu) for N({mu}, {sigma}^2) at d = {d.tolist()}",
            rtol=1e-9,
            hint=EXPONENT_HINT,
        )
    x = np.linspace(-6.0, 6.0, 41)
    for mu, sigma in [(0.0, 1.0), (1.5, 0.5), (-2.0, 3.0)]:
        expected = _normal_pdf(x, mu, sigma)
        assert_close(impl.gaussian_pdf(x.copy(), mu, sigma), expected, f"N({mu}, {sigma}^2)")


@check("gaussian_pdf", hint=PDF_HINT)
def pdf_integrates_to_one(impl):
    """gaussian_pdf(x, 3, 0.7) integrates to 1 over mu ± 12 sigma."""
    grid = np.linspace(3.0 - 12 * 0.7, 3.0 + 12 * 0.7, 20_001)
    area = float(np.sum(to_numpy(impl.gaussian_pdf(grid, 3.0, 0.7))) * (grid[1] - grid[0]))
    expect(abs(area - 1.0) < 1e-6, f"the density of N(3, 0.7^2) integrates to {area:.6f}, not 1")


# ----------------------------------------------------------------------------- sample_gaussian
CONTRACT.function(
    "sample_gaussian",
    lambda: call(1.0, 2.0, (3, 4), _rng(0)),
    hints=(
        "Eq. (P1.2): all you need is standard normal noise from rng, in the shape asked for; a "
        "shift and a scale turn it into N(mu, sigma^2).",
        "Draw standard normal numbers eps from rng, in one call, in the shape the input checks "
        "made of size (an int n means n numbers, a tuple is the shape itself). The sample is mu + "
        "sigma eps, with sigma the standard deviation, not sigma^2.",
    ),
)
SAMPLE_HINT = (
    "x = mu + sigma eps with eps standard normal noise from rng, of the requested shape (P1.2)."
)
SIZE_HINT = (
    "size is an int (n samples, shape (n,)) or a tuple (the shape itself): draw the noise in "
    "exactly that shape — the input checks turn size into a shape tuple for you."
)
SAMPLE_MEAN_HINT = "Shift by mu and scale by sigma: x = mu + sigma eps has mean mu."
SAMPLE_VARIANCE_HINT = (
    "Scale the noise by sigma, the standard deviation — not sigma^2, the variance: the samples' "
    "variance must be sigma^2."
)


@check("sample_gaussian", hint=SAMPLE_HINT)
def samples_follow_the_gaussian(impl):
    """sample_gaussian returns size's shape (int or tuple) and follows N(mu, sigma^2): moments and KS."""
    for size, shape in [(7, (7,)), ((3, 4), (3, 4)), ((2, 1, 5), (2, 1, 5))]:
        x = np.asarray(impl.sample_gaussian(0.0, 1.0, size, _rng(0)))
        expect(
            x.shape == shape,
            f"sample_gaussian(..., size={size}) has shape {x.shape}, expected {shape}",
            SIZE_HINT,
        )
    for seed, (mu, sigma) in enumerate([(2.0, 0.5), (-1.0, 3.0)]):
        x = to_numpy(impl.sample_gaussian(mu, sigma, (250, 200), _rng(seed + 1))).ravel()
        n = x.size
        assert_within_se(
            x.mean(),
            mu,
            sigma / math.sqrt(n),
            f"the sample mean of N({mu}, {sigma}^2)",
            hint=SAMPLE_MEAN_HINT,
        )
        # The sample variance of Gaussian data has standard error sigma^2 sqrt(2 / (n - 1)).
        assert_within_se(
            x.var(ddof=1),
            sigma**2,
            sigma**2 * math.sqrt(2 / (n - 1)),
            f"the sample variance of N({mu}, {sigma}^2)",
            hint=SAMPLE_VARIANCE_HINT,
        )
        assert_ks(x, lambda t, m=mu, s=sigma: normal_cdf(t, m, s), f"N({mu}, {sigma}^2)")


# ----------------------------------------------------------------------------- mvn_log_pdf
def _points(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return MEAN + 1.5 * _rng(seed).standard_normal((*shape, 3))


CONTRACT.function(
    "mvn_log_pdf",
    lambda: call(_points(0, (2, 4)), MEAN.copy(), COV.copy()),
    invalid=[
        Invalid("x", lambda a: np.zeros((4, 2)), "points of dimension 2 for a 3-D mean"),
        *COVARIANCE_INVALID,
    ],
    hints=(
        "Eq. (P1.3) through the Cholesky factor L of cov (cov = L L^T, the page's (P1.4)): a "
        "triangular solve whitens x - mean, so the quadratic form is a squared length, and the "
        "log-determinant comes from L's diagonal. Never invert cov.",
        "In order: the Cholesky factor L of cov; the points flattened to rows of length d and "
        "centred at the mean; for each row, the solution z of L z = x - mean; the squared "
        "Mahalanobis distance, the sum of z^2 over the coordinates; log det cov, twice the sum of "
        "the logs of L's diagonal. Then log p is minus one half of (Mahalanobis distance + log det "
        "cov + d log 2 pi), one number per point, in the shape of x without its last axis.",
    ),
)
LOGPDF_HINT = (
    "log p(x) = -(1/2) (x - mean)^T cov^-1 (x - mean) - (1/2) log det(2 pi cov) (P1.3), for each "
    "point on the last axis of x."
)
LOGPDF_SHAPE_HINT = (
    "One value per point: the last axis of x holds a point's d coordinates and the leading axes "
    "stay, so x of shape (..., d) gives (...). Flatten to (N, d) to compute, then reshape back."
)
LOGPDF_NORMALISER_HINT = (
    "At x = mean the quadratic term is 0 and log p is -(1/2)(log det cov + d log 2 pi): "
    "log det cov = 2 · sum log L_ii (L is a square root of cov, hence the 2), and d log 2 pi, "
    "one log 2 pi per dimension."
)
LOGPDF_QUADRATIC_HINT = (
    "The quadratic term is the squared Mahalanobis distance (x - mean)^T cov^-1 (x - mean) = |z|^2 "
    "with L z = x - mean: solve with the Cholesky factor L itself (lower-triangular) — not with "
    "cov, and not with L^T."
)


@check("mvn_log_pdf", hint=LOGPDF_HINT)
def log_pdf_matches_the_closed_form(impl):
    """mvn_log_pdf keeps x's leading shape, has the right value at the mean and the right quadratic form."""
    x = _points(3, (4, 5))
    expected = _mvn_log_prob(MEAN, COV, x)
    got = to_numpy(impl.mvn_log_pdf(x.copy(), MEAN.copy(), COV.copy()))
    expect(
        got.shape == (4, 5),
        f"for x of shape (4, 5, 3) the log-density has shape {got.shape}, expected (4, 5)",
        LOGPDF_SHAPE_HINT,
    )
    log_det = math.log(float(np.linalg.det(COV)))
    at_mean = float(to_numpy(impl.mvn_log_pdf(MEAN.copy()[None], MEAN.copy(), COV.copy()))[0])
    assert_close(
        at_mean,
        -0.5 * (log_det + 3 * math.log(2 * math.pi)),
        "log p(mean) for a 3-D Gaussian with det cov = 0.578",
        rtol=1e-9,
        hint=LOGPDF_NORMALISER_HINT,
    )
    diff = x - MEAN
    maha = np.einsum("...i,ij,...j->...", diff, np.linalg.inv(COV), diff)
    assert_close(
        got - at_mean, -0.5 * maha, "log p(x) - log p(mean)", rtol=1e-8, hint=LOGPDF_QUADRATIC_HINT
    )
    assert_close(got, expected, "mvn_log_pdf on a (4, 5, 3) batch")
    mean2, cov2 = np.array([0.5, -0.5]), np.array([[1.0, 0.6], [0.6, 0.8]])
    y = _rng(4).standard_normal((6, 2))
    expected = _mvn_log_prob(mean2, cov2, y)
    assert_close(impl.mvn_log_pdf(y.copy(), mean2, cov2.copy()), expected, "a 2-D Gaussian")


# ----------------------------------------------------------------------------- mvn_pdf
CONTRACT.function(
    "mvn_pdf",
    lambda: call(_points(1, (3,)), MEAN.copy(), COV.copy()),
    invalid=COVARIANCE_INVALID[:1],
    uses=("mvn_log_pdf",),
    hints=(
        "The density is the exponential of the log-density (P1.3), which you have written.",
        "Call your mvn_log_pdf with the same three arguments and return the exponential of what it "
        "gives. It checks the inputs too, so nothing else is needed.",
    ),
)


@check("mvn_pdf", hint="mvn_pdf is the exponential of mvn_log_pdf(x, mean, cov).")
def pdf_is_exp_log_pdf_and_normalised(impl):
    """mvn_pdf agrees with torch on a (401, 401, 2) grid and integrates to 1 over the plane."""
    mean, cov = np.array([0.5, -0.5]), np.array([[1.0, 0.6], [0.6, 0.8]])
    axis = np.linspace(-8.0, 8.0, 401)
    grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1)
    expected = np.exp(_mvn_log_prob(mean, cov, grid))
    density = to_numpy(impl.mvn_pdf(grid, mean, cov))
    assert_close(density, expected, "mvn_pdf on a (401, 401, 2) grid")
    area = float(density.sum() * (axis[1] - axis[0]) ** 2)
    expect(abs(area - 1.0) < 1e-4, f"the 2-D density integrates to {area:.5f}, not 1")


# ----------------------------------------------------------------------------- sample_mvn
CONTRACT.function(
    "sample_mvn",
    lambda: call(MEAN.copy(), COV.copy(), 7, _rng(0)),
    invalid=COVARIANCE_INVALID,
    hints=(
        "Eq. (P1.4), the reparameterisation trick: standard normal noise, coloured by a square "
        "root of cov — its Cholesky factor L, with cov = L L^T — and shifted by the mean.",
        "In order: the Cholesky factor L of cov (lower triangular); an n-by-d array of standard "
        "normal numbers eps from rng, one sample per row; each sample is mean + L eps. With "
        "samples as rows that is the row eps times L^T (L transposed, on the right), plus the mean "
        "in every row.",
    ),
)
SAMPLE_MVN_HINT = (
    "x = mean + L eps with cov = L L^T (L lower-triangular) and eps standard normal, one sample "
    "per row (P1.4)."
)
MVN_MEAN_HINT = "Shift the coloured noise by the mean: x = mean + L eps has mean `mean`."
MVN_COLOUR_HINT = (
    "For a diagonal cov, the Cholesky factor L is the diagonal of standard deviations: colour "
    "the noise with the Cholesky factor of cov — a square root of it — not with cov itself."
)
MVN_TRANSPOSE_HINT = (
    "The samples' covariance must be L L^T = cov. With one sample per row, x = mean + L eps reads "
    "mean + eps L^T: multiplying the rows by L (not L^T) on the right gives covariance L^T L "
    "instead."
)


@check("sample_mvn", hint=SAMPLE_MVN_HINT)
def mvn_samples_have_the_right_moments(impl):
    """sample_mvn has shape (n, d), the mean, and the covariance: a diagonal one and a correlated one."""
    n = 20_000
    diagonal = np.diag([4.0, 0.25, 1.0])
    x = to_numpy(impl.sample_mvn(MEAN.copy(), diagonal.copy(), n, _rng(2)))
    expect(
        x.shape == (n, 3),
        f"sample_mvn(..., n={n}) for d = 3 has shape {x.shape}, expected ({n}, 3)",
        "Return one sample per row: an (n, d) array.",
    )
    for i in range(3):
        assert_within_se(
            x[:, i].mean(),
            MEAN[i],
            math.sqrt(diagonal[i, i] / n),
            f"the mean of coordinate {i}",
            hint=MVN_MEAN_HINT,
        )
    _assert_covariance(
        x, MEAN, diagonal, "with cov = diag(4, 0.25, 1), the sample covariance", MVN_COLOUR_HINT
    )
    x = to_numpy(impl.sample_mvn(MEAN.copy(), COV.copy(), n, _rng(3)))
    _assert_covariance(
        x, MEAN, COV, "with a correlated cov, the sample covariance", MVN_TRANSPOSE_HINT
    )


@check("sample_mvn", hint=SAMPLE_MVN_HINT)
def mvn_samples_whiten_to_standard_normals(impl):
    """Whitened samples L^-1 (x - mean) are standard normal along several directions (KS test)."""
    n = 20_000
    x = to_numpy(impl.sample_mvn(MEAN.copy(), COV.copy(), n, _rng(4)))
    z = np.linalg.solve(np.linalg.cholesky(COV), (x - MEAN).T).T
    for direction in (np.array([1.0, 0, 0]), np.array([0, 0, 1.0]), np.ones(3) / math.sqrt(3)):
        assert_ks(z @ direction, normal_cdf, "whitened samples projected on a unit vector")


# ----------------------------------------------------------------------------- gaussian_affine
CONTRACT.function(
    "gaussian_affine",
    lambda: call(
        MEAN.copy(),
        COV.copy(),
        np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -1.0], [0.0, 3.0, 1.0]]),
        np.array([1.0, 2.0, -1.0]),
    ),
    invalid=[
        Invalid("A", lambda a: np.eye(2), "A of shape (2, 2) for a 3-D mean"),
        Invalid("b", lambda a: np.zeros(2), "b of length 2 for an A with 3 rows"),
        COVARIANCE_INVALID[0],
    ],
    hints=(
        "Eq. (P1.5): an affine map of a Gaussian is Gaussian; its mean is the map applied to the "
        "mean, and its covariance is cov sandwiched between A and A's transpose.",
        "Two matrix products. The mean is A mean + b, a vector of length k (b is the zero vector "
        "when omitted: the input checks made it so); the covariance is A cov A^T, a k-by-k matrix. "
        "Return the pair, mean first. b shifts the mean only.",
    ),
)
AFFINE_HINT = "The image of N(mean, cov) under x -> A x + b is N(A mean + b, A cov A^T) (P1.5)."
AFFINE_MEAN_HINT = (
    "The mean of A x + b is A mean + b: apply A to the mean, then add the offset b (zero when it "
    "is omitted)."
)
AFFINE_COV_HINT = (
    "The covariance of A x + b is A cov A^T — A on the left, its transpose on the right; b does "
    "not change it."
)


@check("gaussian_affine", hint=AFFINE_HINT)
def affine_moments_by_hand(impl):
    """gaussian_affine gives the moments worked out by hand for a 2-D map that is not symmetric."""
    mean, cov = np.array([1.0, 2.0]), np.array([[2.0, 0.5], [0.5, 1.0]])
    A, b = np.array([[1.0, 2.0], [0.0, -1.0]]), np.array([0.5, -0.5])
    # y1 = x1 + 2 x2 + 0.5: mean 5.5, variance 2 + 4 (1) + 4 (0.5) = 8; y2 = -x2 - 0.5: mean -2.5,
    # variance 1; Cov(y1, y2) = -(Cov(x1, x2) + 2 Var x2) = -2.5.
    m, c = impl.gaussian_affine(mean, cov, A, b)
    assert_close(m, [5.5, -2.5], "the mean of A x + b", hint=AFFINE_MEAN_HINT)
    assert_close(c, [[8.0, -2.5], [-2.5, 1.0]], "the covariance of A x + b", hint=AFFINE_COV_HINT)
    m0, c0 = impl.gaussian_affine(mean, cov, A)
    assert_close(m0, [5.0, -2.0], "the mean of A x when b is omitted", hint=AFFINE_MEAN_HINT)
    assert_close(c0, [[8.0, -2.5], [-2.5, 1.0]], "the covariance of A x", hint=AFFINE_COV_HINT)


@check("gaussian_affine", hint=AFFINE_HINT)
def affine_moments_match_simulation(impl):
    """gaussian_affine agrees with the moments of simulated A x + b for a map from 3-D to 2-D."""
    A, b = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -1.0]]), np.array([1.0, 2.0])
    m, c = impl.gaussian_affine(MEAN.copy(), COV.copy(), A, b)
    m, c = to_numpy(m), to_numpy(c)
    expect(
        m.shape == (2,) and c.shape == (2, 2),
        f"for A of shape (2, 3) the moments have shapes {m.shape} and {c.shape}, expected (2,) "
        "and (2, 2)",
        AFFINE_COV_HINT,
    )
    n = 200_000
    y = _rng(5).multivariate_normal(MEAN, COV, size=n) @ A.T + b
    sample_cov = np.cov(y.T)
    for i in range(2):
        assert_within_se(
            float(m[i]),
            y[:, i].mean(),
            math.sqrt(sample_cov[i, i] / n),
            f"the mean [{i}]",
            hint=AFFINE_MEAN_HINT,
        )
        for j in range(2):
            se = math.sqrt((sample_cov[i, i] * sample_cov[j, j] + sample_cov[i, j] ** 2) / n)
            assert_within_se(
                float(c[i, j]),
                sample_cov[i, j],
                se,
                f"the covariance [{i}, {j}]",
                hint=AFFINE_COV_HINT,
            )


# ----------------------------------------------------------------------------- gaussian_sum
CONTRACT.function(
    "gaussian_sum",
    lambda: call(MEAN.copy(), COV.copy(), MEAN_Q.copy(), COV_Q.copy()),
    invalid=[
        Invalid("mean2", lambda a: np.zeros(2), "mean2 of length 2 for a 3-D mean1"),
        Invalid("cov2", lambda a: NOT_POSITIVE.copy(), "cov2 with a negative eigenvalue"),
    ],
    hints=(
        "The second half of (P1.5): for independent Gaussian vectors, the sum is Gaussian, and "
        "both of its moments are sums.",
        "The mean of the sum is mean1 + mean2 and its covariance cov1 + cov2: for independent "
        "terms variances add (standard deviations do not), and no cross term appears. Return the "
        "pair, mean first.",
    ),
)
SUM_MEAN_HINT = "The mean of a sum is the sum of the means: mean1 + mean2."
SUM_COV_HINT = (
    "For independent terms the covariances add: cov1 + cov2. Variances add, standard deviations "
    "do not, and a sum is not an average: sqrt(abar) x0 + sqrt(1 - abar) eps has variance "
    "abar + (1 - abar) = 1."
)


@check("gaussian_sum", hint=SUM_COV_HINT)
def sum_moments(impl):
    """gaussian_sum adds means and covariances: by hand in 3-D, and DDPM eq. (4)'s variance of 1 in 1-D."""
    m, c = impl.gaussian_sum(MEAN.copy(), COV.copy(), -MEAN, 0.5 * np.eye(3))
    assert_close(m, np.zeros(3), "the mean of the sum", hint=SUM_MEAN_HINT)
    abar = 0.3
    _, c1 = impl.gaussian_sum(np.zeros(1), np.array([[abar]]), np.ones(1), np.array([[1 - abar]]))
    assert_close(
        c1, [[1.0]], "the variance of sqrt(abar) x0 + sqrt(1 - abar) eps", hint=SUM_COV_HINT
    )
    assert_close(c, COV + 0.5 * np.eye(3), "the covariance of the sum", hint=SUM_COV_HINT)


# ----------------------------------------------------------------------------- kl_gaussians
CONTRACT.function(
    "kl_gaussians",
    lambda: call(MEAN.copy(), COV.copy(), MEAN_Q.copy(), COV_Q.copy()),
    invalid=[
        Invalid("mean_q", lambda a: np.zeros(2), "mean_q of length 2 for a 3-D mean_p"),
        Invalid("cov_p", lambda a: NOT_POSITIVE.copy(), "cov_p with a negative eigenvalue"),
        Invalid("cov_q", lambda a: NOT_SYMMETRIC.copy(), "cov_q that is not symmetric"),
    ],
    hints=(
        "Eq. (P1.6) has four terms: a trace, a Mahalanobis distance between the means, the "
        "dimension d, and a log-determinant ratio. Each goes through Cholesky factors; the order "
        "of p and q matters.",
        "With the Cholesky factors L_p of cov_p and L_q of cov_q: the trace tr(cov_q^-1 cov_p) is "
        "the sum of the squared entries of the matrix Y that solves L_q Y = L_p; the Mahalanobis "
        "term is the squared length of the vector z that solves L_q z = mean_q - mean_p; the "
        "log-determinant ratio is 2 (sum of log diag L_q - sum of log diag L_p). The divergence is "
        "half of (trace + Mahalanobis - d + log-determinant ratio), a float.",
    ),
)
KL_HINT = (
    "KL(p || q) = (1/2) [tr(cov_q^-1 cov_p) + (mean_q - mean_p)^T cov_q^-1 (mean_q - mean_p) - d "
    "+ log(det cov_q / det cov_p)] (P1.6). It is not symmetric in p and q."
)
KL_ZERO_HINT = (
    "KL(p || p) = 0: then tr(cov_q^-1 cov_p) = d, cancelled by the - d term; the mean term and "
    "the log-determinant ratio vanish. Is the - d there, and the factor 1/2 on everything?"
)
KL_MEAN_HINT = (
    "With equal covariances only the mean term is left: half the squared Mahalanobis distance of "
    "mean_q - mean_p under cov_q — |z|^2 with L_q z = mean_q - mean_p, L_q lower-triangular (not "
    "its transpose)."
)
KL_TRACE_HINT = (
    "The trace term is tr(cov_q^-1 cov_p) — q's inverse, p's covariance: |L_q^-1 L_p|^2. KL(p || q) "
    "is not symmetric: swapping p and q gives another number."
)
KL_LOGDET_HINT = (
    "The last term is log(det cov_q / det cov_p) — q's over p's — with log det = 2 · sum log L_ii "
    "(L is a square root of the covariance, hence the 2)."
)


@check("kl_gaussians", hint=KL_HINT)
def kl_terms_one_at_a_time(impl):
    """kl_gaussians is 0 for p = q; then each term alone: the means, the trace, the determinants."""
    got = float(impl.kl_gaussians(MEAN.copy(), COV.copy(), MEAN.copy(), COV.copy()))
    expect(abs(got) < 1e-10, f"KL(p || p) is {got:.6g}, expected 0", KL_ZERO_HINT)
    delta = MEAN_Q - MEAN
    maha = float(delta @ np.linalg.solve(COV, delta))
    got = impl.kl_gaussians(MEAN.copy(), COV.copy(), MEAN_Q.copy(), COV.copy())
    assert_close(
        got, 0.5 * maha, "KL between two Gaussians with the same covariance", hint=KL_MEAN_HINT
    )
    # equal determinants (1 and 1): only the trace term is left, 4.25 against d = 3
    cov_p, cov_q = np.diag([2.0, 4.0, 0.125]), np.diag([1.0, 2.0, 0.5])
    got = impl.kl_gaussians(np.zeros(3), cov_p, np.zeros(3), cov_q)
    assert_close(
        got,
        0.5 * (4.25 - 3),
        "KL between N(0, diag(2, 4, 1/8)) and N(0, diag(1, 2, 1/2))",
        hint=KL_TRACE_HINT,
    )
    # N(0, a I) against N(0, b I) in d = 3: (d / 2) (a / b - 1 - log(a / b))
    for a, b in [(2.0, 0.5), (0.3, 1.2)]:
        got = impl.kl_gaussians(np.zeros(3), a * np.eye(3), np.zeros(3), b * np.eye(3))
        expected = 1.5 * (a / b - 1 - math.log(a / b))
        assert_close(
            got, expected, f"KL between N(0, {a} I) and N(0, {b} I) in 3-D", hint=KL_LOGDET_HINT
        )


@check("kl_gaussians", hint=KL_HINT)
def kl_matches_torch(impl):
    """kl_gaussians matches torch.distributions.kl_divergence both ways round, and the 1-D formula."""
    for (mp, cp), (mq, cq) in [((MEAN, COV), (MEAN_Q, COV_Q)), ((MEAN_Q, COV_Q), (MEAN, COV))]:
        got = impl.kl_gaussians(mp.copy(), cp.copy(), mq.copy(), cq.copy())
        assert_close(got, _torch_kl(mp, cp, mq, cq), "KL(p || q) for two 3-D Gaussians")
    mp, sp, mq, sq = 0.3, 0.5, -1.0, 2.0
    expected = math.log(sq / sp) + (sp**2 + (mp - mq) ** 2) / (2 * sq**2) - 0.5
    got = impl.kl_gaussians(
        np.array([mp]), np.array([[sp**2]]), np.array([mq]), np.array([[sq**2]])
    )
    assert_close(got, expected, "KL between N(0.3, 0.5^2) and N(-1, 2^2)")


# ----------------------------------------------------------------------------- kl_monte_carlo
CONTRACT.function(
    "kl_monte_carlo",
    lambda: call(MEAN.copy(), COV.copy(), MEAN_Q.copy(), COV_Q.copy(), 50, _rng(0)),
    invalid=[
        Invalid("n", 1, "n = 1 (no standard error from one sample)"),
        Invalid("mean_q", lambda a: np.zeros(2), "mean_q of length 2 for a 3-D mean_p"),
        Invalid("cov_q", lambda a: NOT_POSITIVE.copy(), "cov_q with a negative eigenvalue"),
    ],
    uses=("sample_mvn", "mvn_log_pdf"),
    hints=(
        "Eq. (P1.7): the KL divergence is an average over p of the log-density ratio, so draw "
        "samples of p and average the ratio; its standard error is that of a sample mean.",
        "Draw n samples of p with your sample_mvn, passing rng on. At each sample evaluate log "
        "p(x_i) - log q(x_i) with your mvn_log_pdf, once with p's mean and covariance and once "
        "with q's. Return the mean of these n numbers and its standard error s / sqrt(n), with s "
        "their sample standard deviation (n - 1 in its denominator), both as floats.",
    ),
)
KL_MC_HINT = (
    "Average log p(x) - log q(x) over samples x drawn from p (P1.7); the standard error is the "
    "sample standard deviation of those terms over sqrt(n)."
)
KL_MC_ESTIMATE_HINT = (
    "Average log p(x) - log q(x) — p's log-density minus q's, in that order — over samples x drawn "
    "from p, not from q."
)
KL_MC_SQRT_HINT = (
    "The standard error of a mean of n terms is their standard deviation over sqrt(n): 100 times "
    "more samples, 10 times smaller."
)
KL_MC_DDOF_HINT = (
    "Use the sample standard deviation with n - 1 in its denominator (ddof=1): dividing by n "
    "underestimates the spread, and with few samples the error bar comes out too small."
)


@check("kl_monte_carlo", hint=KL_MC_HINT)
def kl_estimate_is_unbiased(impl):
    """kl_monte_carlo's error bar shrinks like 1/sqrt(n), and its estimate lies within it of the exact KL."""
    mean_q, cov_q = np.zeros(3), np.eye(3)
    exact = _torch_kl(MEAN, COV, mean_q, cov_q)
    estimate, se = impl.kl_monte_carlo(MEAN.copy(), COV.copy(), mean_q, cov_q, 40_000, _rng(6))
    expect(se > 0, f"the standard error is {se}, expected a positive number", KL_MC_SQRT_HINT)
    _, se_small = impl.kl_monte_carlo(MEAN.copy(), COV.copy(), mean_q, cov_q, 400, _rng(7))
    ratio = se_small / se
    expect(
        10 / 1.5 < ratio < 10 * 1.5,
        f"100 times more samples shrank the standard error {ratio:.3g} times, expected about 10",
        KL_MC_SQRT_HINT,
    )
    # The bound widens by 1 % to allow for the error of the estimated standard error.
    assert_within_se(estimate, exact, 1.01 * se, "the Monte-Carlo KL", hint=KL_MC_ESTIMATE_HINT)


@check("kl_monte_carlo", hint=KL_MC_DDOF_HINT)
def kl_standard_error_is_calibrated(impl):
    """With n = 4, n se^2 averages to the variance of log p - log q over 1200 runs (a chi-square test).

    With equal covariances the log-ratio is linear in x, hence Gaussian with variance
    v = delta^T cov^-1 delta. Then (n - 1) n se^2 / v is chi-square with n - 1 degrees of freedom
    for every run, and their sum over R runs is chi-square with R (n - 1): compared through the
    Wilson–Hilferty transform, a standard normal to within 1e-3 at this size.
    """
    runs, n = 1200, 4
    mean_q = MEAN + np.array([0.6, -0.4, 0.3])
    delta = MEAN - mean_q
    variance = float(delta @ np.linalg.solve(COV, delta))
    rng = _rng(8)
    total = 0.0
    for _ in range(runs):
        _, se = impl.kl_monte_carlo(MEAN.copy(), COV.copy(), mean_q.copy(), COV.copy(), n, rng)
        total += (n - 1) * n * float(se) ** 2 / variance
    k = runs * (n - 1)
    z = ((total / k) ** (1 / 3) - (1 - 2 / (9 * k))) / math.sqrt(2 / (9 * k))
    expect(
        abs(z) <= Z_BOUND,
        f"over {runs} runs with n = {n}, n se^2 averages {total / k:.4f} times the variance of "
        f"log p - log q, expected 1: {abs(z):.1f} standard errors away, where a correct "
        f"implementation stays within {Z_BOUND:.1f} but once in a million runs",
    )


__all__ = ["CONTRACT"]
