"""Sample-quality measures against closed forms and scipy: sliced Wasserstein, Fréchet, digits FD."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import linalg, stats

from diffusion_path.contracts.asserts import assert_within_se
from diffusion_path.tools.data import load_digits
from diffusion_path.tools.metrics import (
    DigitsFD,
    DigitsFeatures,
    digits_fd,
    digits_features,
    frechet_distance,
    gaussian_frechet_distance,
    sliced_wasserstein,
    wasserstein_1d,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """The tensors here are small: one thread is fastest, and on a busy machine far faster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_w1_matches_scipy_for_unequal_sizes():
    rng = np.random.default_rng(0)
    for n, m in [(7, 13), (100, 37), (50, 50)]:
        x, y = rng.normal(size=n), rng.normal(1.0, 2.0, size=m)
        assert wasserstein_1d(torch.tensor(x), torch.tensor(y), p=1) == pytest.approx(
            stats.wasserstein_distance(x, y), rel=1e-10
        )


def test_w2_between_two_gaussians_closed_form():
    """W_2(N(a, s^2), N(b, r^2)) = sqrt((a - b)^2 + (s - r)^2); quantile points stand in for the laws."""
    n = 200_000
    u = (np.arange(n) + 0.5) / n
    a, s, b, r = 1.0, 0.5, -0.5, 2.0
    x, y = stats.norm.ppf(u, a, s), stats.norm.ppf(u[::2], b, r)  # different sizes
    got = wasserstein_1d(torch.tensor(x), torch.tensor(y))
    assert got == pytest.approx(math.sqrt((a - b) ** 2 + (s - r) ** 2), abs=2e-3)
    # in 1-D the sliced distance is the distance itself
    assert sliced_wasserstein(x[:, None], y[:, None], _gen(), n_projections=3) == pytest.approx(
        got, rel=1e-9
    )


def test_shifted_point_sets():
    """SW_2(x, x + c)^2 = |c|^2 E[cos^2] = |c|^2 / d over uniform directions (d = 2: variance |c|^4 / 8)."""
    x = torch.randn(300, 2, generator=_gen(1))
    c = torch.tensor([0.6, -0.8]) * 2.0  # |c| = 2
    L = 4096
    sw2 = sliced_wasserstein(x, x + c, _gen(2), n_projections=L) ** 2
    assert abs(sw2 - 4.0 / 2) < 4.892 * math.sqrt(16.0 / 8 / L)


def test_zero_for_the_same_cloud_and_symmetric():
    x = torch.randn(100, 3, generator=_gen(3))
    y = torch.randn(80, 3, generator=_gen(4))
    assert sliced_wasserstein(
        x, x[torch.randperm(100, generator=_gen(5))], _gen()
    ) == pytest.approx(0.0, abs=1e-12)
    assert sliced_wasserstein(x, y, _gen(6)) == pytest.approx(
        sliced_wasserstein(y, x, _gen(6)), rel=1e-12
    )


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: sliced_wasserstein(torch.zeros(3, 2), torch.zeros(3, 3), _gen()), "y"),
        (lambda: sliced_wasserstein(torch.zeros(0, 2), torch.zeros(3, 2), _gen()), "x"),
        (lambda: sliced_wasserstein(torch.zeros(3, 2), torch.zeros(3, 2), None), "generator"),
        (
            lambda: sliced_wasserstein(
                torch.zeros(3, 2), torch.zeros(3, 2), _gen(), n_projections=0
            ),
            "n_projections",
        ),
        (lambda: sliced_wasserstein(torch.zeros(3, 2), torch.zeros(3, 2), _gen(), p=0.5), "p"),
        (lambda: wasserstein_1d(torch.zeros(3, 2), torch.zeros(3)), "1-D"),
        (lambda: wasserstein_1d(torch.tensor([float("nan")]), torch.zeros(3)), "finite"),
    ],
)
def test_bad_input(call, argument):
    with pytest.raises(ValueError, match=argument):
        call()


# ----------------------------------------------------------------------------- Fréchet distance
def _spd(d: int, rng: np.random.Generator, condition: float = 100.0) -> np.ndarray:
    """A random symmetric positive-definite matrix with eigenvalues in [1 / condition, 1] * d."""
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    eigenvalues = d * np.exp(rng.uniform(-math.log(condition), 0.0, size=d))
    return (q * eigenvalues) @ q.T


def _with_moments(mean: np.ndarray, cov: np.ndarray, n: int, rng: np.random.Generator):
    """n points whose sample mean and sample covariance (divisor n - 1) are exactly ``mean``, ``cov``."""
    z = rng.normal(size=(n, len(mean)))
    z -= z.mean(axis=0)
    # whiten: sample covariance exactly I, then colour it with a square root of cov
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False)).T)
    return mean + z @ np.linalg.cholesky(cov).T


def test_gaussian_fd_in_one_dimension_is_the_mean_and_spread_gap():
    """d_F^2(N(a, s^2), N(b, r^2)) = (a - b)^2 + (s - r)^2."""
    for a, s, b, r in [(0.0, 1.0, 3.0, 2.0), (-1.5, 0.3, 2.0, 0.3), (0.2, 5.0, 0.2, 0.1)]:
        assert gaussian_frechet_distance([a], [[s**2]], [b], [[r**2]]) == pytest.approx(
            (a - b) ** 2 + (s - r) ** 2, rel=1e-12
        )


def test_gaussian_fd_with_commuting_covariances():
    """Diagonal covariances: sum of (mu_a - mu_b)^2 + (sqrt(a_i) - sqrt(b_i))^2 over coordinates."""
    rng = np.random.default_rng(0)
    mu_a, mu_b = rng.normal(size=5), rng.normal(size=5)
    var_a, var_b = rng.uniform(0.1, 3.0, size=5), rng.uniform(0.1, 3.0, size=5)
    expected = np.sum((mu_a - mu_b) ** 2) + np.sum((np.sqrt(var_a) - np.sqrt(var_b)) ** 2)
    got = gaussian_frechet_distance(mu_a, np.diag(var_a), mu_b, np.diag(var_b))
    assert got == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("d", [2, 10, 64])
def test_gaussian_fd_matches_scipy_sqrtm(d):
    """Against scipy.linalg.sqrtm, both in the symmetric form and in FID's sqrtm(A B) form."""
    rng = np.random.default_rng(d)
    a, b = _spd(d, rng), _spd(d, rng)
    mu_a, mu_b = rng.normal(size=d), rng.normal(size=d)
    root_a = linalg.sqrtm(a).real
    symmetric = np.trace(linalg.sqrtm(root_a @ b @ root_a).real)
    product = np.trace(linalg.sqrtm(a @ b).real)  # same eigenvalues: the form FID code uses
    assert symmetric == pytest.approx(product, rel=1e-8)
    expected = np.sum((mu_a - mu_b) ** 2) + np.trace(a) + np.trace(b) - 2 * symmetric
    got = gaussian_frechet_distance(mu_a, a, mu_b, b)
    assert got == pytest.approx(expected, rel=1e-8)
    assert gaussian_frechet_distance(mu_b, b, mu_a, a) == pytest.approx(got, rel=1e-10)


def test_gaussian_fd_allows_singular_covariances():
    """A coordinate constant in both: its squared gap adds to the distance of the others."""
    cov = np.diag([2.0, 0.0])
    got = gaussian_frechet_distance([0.0, 1.0], cov, [0.0, 4.0], np.diag([8.0, 0.0]))
    assert got == pytest.approx(9.0 + (math.sqrt(2) - math.sqrt(8)) ** 2, rel=1e-12)


def test_fd_of_features_with_given_moments_is_the_gaussian_fd():
    """Features whose sample moments are the population moments give the closed form exactly."""
    rng = np.random.default_rng(1)
    d = 6
    mu_a, mu_b, cov_a, cov_b = rng.normal(size=d), rng.normal(size=d), _spd(d, rng), _spd(d, rng)
    xa, xb = _with_moments(mu_a, cov_a, 50, rng), _with_moments(mu_b, cov_b, 80, rng)
    assert frechet_distance(xa, xb) == pytest.approx(
        gaussian_frechet_distance(mu_a, cov_a, mu_b, cov_b), rel=1e-9
    )
    assert frechet_distance(torch.tensor(xa), torch.tensor(xb)) == pytest.approx(
        frechet_distance(xa, xb), rel=1e-12
    )


def test_fd_of_samples_converges_to_the_gaussian_fd():
    """The mean of 25 estimates from 20,000 Gaussian samples each, within 4.9 standard errors.

    The estimate's bias is O(1/n): tr(Sigma_a + Sigma_b) / n = 3e-4 in the mean term, a tenth of
    the standard error here.
    """
    rng = np.random.default_rng(2)
    mu_a, mu_b = np.array([0.0, 1.0, -0.5]), np.array([0.5, 0.0, 0.0])
    cov_a = np.array([[1.0, 0.5, 0.0], [0.5, 2.0, 0.3], [0.0, 0.3, 0.5]])
    cov_b = np.array([[0.5, -0.2, 0.0], [-0.2, 1.0, 0.0], [0.0, 0.0, 1.5]])
    truth = gaussian_frechet_distance(mu_a, cov_a, mu_b, cov_b)
    root_a, root_b = np.linalg.cholesky(cov_a), np.linalg.cholesky(cov_b)
    estimates = [
        frechet_distance(
            mu_a + rng.standard_normal((20_000, 3)) @ root_a.T,
            mu_b + rng.standard_normal((20_000, 3)) @ root_b.T,
        )
        for _ in range(25)
    ]
    se = np.std(estimates, ddof=1) / math.sqrt(len(estimates))
    assert_within_se(float(np.mean(estimates)), truth, se, "the mean Fréchet distance")


def test_fd_is_zero_for_the_same_set_and_symmetric():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(200, 8)) @ rng.normal(size=(8, 8)), rng.normal(size=(150, 8))
    assert frechet_distance(x, x[rng.permutation(200)]) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(x, y) == pytest.approx(frechet_distance(y, x), rel=1e-10)
    # fewer points than dimensions: singular covariances, still symmetric and zero on itself
    few = rng.normal(size=(5, 8))
    assert frechet_distance(few, few) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(few, y) == pytest.approx(frechet_distance(y, few), rel=1e-10)


def test_fd_in_one_dimension_uses_the_sample_moments():
    """(m_a - m_b)^2 + (s_a - s_b)^2 with sample standard deviations (divisor n - 1)."""
    rng = np.random.default_rng(4)
    x, y = rng.normal(1.0, 2.0, size=40), rng.normal(-1.0, 0.5, size=25)
    expected = (x.mean() - y.mean()) ** 2 + (x.std(ddof=1) - y.std(ddof=1)) ** 2
    assert frechet_distance(x, y) == pytest.approx(expected, rel=1e-10)
    assert frechet_distance(x[:, None], y[:, None]) == pytest.approx(expected, rel=1e-10)


# ----------------------------------------------------------------------------- digits FD
def _blur(images: torch.Tensor) -> torch.Tensor:
    kernel = torch.tensor([1.0, 2.0, 1.0])
    kernel = (kernel[:, None] * kernel[None]) / 16
    return F.conv2d(F.pad(images, (1, 1, 1, 1), mode="replicate"), kernel[None, None])


@functools.cache
def _digits() -> torch.Tensor:
    return load_digits()


def _real(n: int, seed: int) -> torch.Tensor:
    """n training digits, a random draw."""
    train = digits_features().train_indices
    return _digits()[train[torch.randperm(len(train), generator=_gen(seed))[:n]]]


def test_classifier_split_and_accuracy():
    extractor = digits_features()
    images, labels = load_digits(labels=True)
    train, held = extractor.train_indices, extractor.held_out_indices
    assert (len(train), len(held)) == (1258, 539)
    assert sorted(torch.cat([train, held]).tolist()) == list(range(1797))
    correct = (extractor.classify(images[held]) == labels[held]).double().mean().item()
    assert correct >= 0.95
    assert correct == pytest.approx(extractor.accuracy)
    assert extractor(images[:5]).shape == (5, DigitsFeatures.dim)


def test_features_are_deterministic_and_leave_the_global_rng_alone():
    """The same features twice, from the cached network and from one trained afresh."""
    extractor = digits_features()
    assert digits_features(0) is extractor
    images = load_digits()[:100]
    first = extractor(images)
    assert torch.equal(extractor(images), first)
    state = torch.get_rng_state()
    fresh = DigitsFeatures(0)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(fresh(images), first)


def test_upsampled_images_are_averaged_back_to_8x8():
    """Average pooling undoes nearest-neighbour upsampling exactly."""
    extractor = digits_features()
    images = load_digits()[:50]
    for k in (2, 4):
        big = images.repeat_interleave(k, dim=2).repeat_interleave(k, dim=3)
        assert torch.allclose(extractor(big), extractor(images), atol=1e-6)
    assert extractor(torch.zeros(2, 1, 28, 20)).shape == (2, 64)


def test_real_digits_score_near_the_floor():
    """Real training digits as samples: ratio near 1.

    Over 200 draws for each of five classifier seeds, single draws at n = 1000 landed between
    0.67 and 1.71 times the floor (standard deviation at most 0.15). Each of ten draws must be
    within [0.5, 2] (real digits pass "within 2x"), and their mean within 1 +- 0.25, five
    standard errors of a mean of ten.
    """
    ratios = []
    for seed in range(10):
        result = digits_fd(_real(1000, seed))
        assert isinstance(result, DigitsFD)
        assert 0.5 <= result.ratio <= 2.0 and result.within(2.0)
        assert result.ratio == pytest.approx(result.fd / result.floor)
        ratios.append(result.ratio)
    assert abs(np.mean(ratios) - 1.0) <= 0.25
    assert digits_features().floor(1000) == pytest.approx(result.floor)


def test_held_out_digits_score_like_training_digits():
    """The floor's real digits come from the classifier's training part: is that fair?

    Halve the held-out digits into A (250) and B (289) and compare FD(A, B) with FD(T, B) for
    250 training digits T, over 50 halvings. If the classifier's features told training digits
    apart from unseen ones, the second would be larger. Across five classifier seeds the ratio
    of the means was between 0.80 and 1.14 (standard error about 0.05); the band is [2/3, 3/2].
    """
    extractor = digits_features()
    held, train = extractor.held_out_features, extractor.train_features
    generator = _gen(11)
    unseen, seen = [], []
    for _ in range(50):
        order = torch.randperm(len(held), generator=generator)
        a, b = held[order[:250]], held[order[250:]]
        t = train[torch.randperm(len(train), generator=generator)[:250]]
        unseen.append(frechet_distance(a, b))
        seen.append(frechet_distance(t, b))
    assert 2 / 3 <= np.mean(unseen) / np.mean(seen) <= 3 / 2


def test_bad_samples_score_far_above_the_floor():
    """The metric can fail: noise, blank images, blurred digits, one class missing."""
    n = 500
    real = _real(n, 20)
    bad = {
        "uniform noise": torch.rand(n, 1, 8, 8, generator=_gen(21)) * 2 - 1,
        "all black": -torch.ones(n, 1, 8, 8),
        "blurred digits": _blur(real),
        "shifted by a pixel": torch.roll(real, 1, dims=3),
    }
    for what, samples in bad.items():
        result = digits_fd(samples)
        assert result.ratio > 10, (what, str(result))
    images, labels = load_digits(labels=True)
    train = digits_features().train_indices
    no_nines = images[train[labels[train] != 9][:1000]]
    assert not digits_fd(no_nines).within(2.0)


def test_a_transform_compares_upsampled_samples_like_with_like():
    """Bilinear upsampling blurs after the averaging back; the transform makes the floor fair."""

    def upsample(x):
        return F.interpolate(x, size=16, mode="bilinear", align_corners=False)

    samples = upsample(_real(500, 30))
    assert digits_fd(samples).ratio > 5
    result = digits_fd(samples, transform=upsample)
    assert 0.4 <= result.ratio <= 2.0
    assert result.floor == pytest.approx(digits_features().floor(500, transform=upsample))


def test_str_prints_the_floor_beside_the_distance():
    text = str(DigitsFD(fd=12.0, floor=4.0, ratio=3.0, n=1000))
    assert "12" in text and "4" in text and "n = 1000" in text and "3.00" in text


def _ok() -> torch.Tensor:
    return torch.zeros(4, 1, 8, 8)


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: frechet_distance(np.zeros((3, 2)), np.zeros((3, 3))), "features_b"),
        (lambda: frechet_distance(np.zeros((1, 2)), np.zeros((3, 2))), "features_a"),
        (lambda: frechet_distance(np.zeros((3, 2)), np.full((3, 2), np.nan)), "features_b"),
        (lambda: frechet_distance(np.zeros((3, 2, 1)), np.zeros((3, 2))), "features_a"),
        (lambda: gaussian_frechet_distance([[0.0]], [[1.0]], [0.0], [[1.0]]), "mean_a"),
        (lambda: gaussian_frechet_distance([0.0], [[1.0]], [0.0, 1.0], np.eye(2)), "mean_b"),
        (lambda: gaussian_frechet_distance([0.0, 0.0], np.eye(3), [0.0, 0.0], np.eye(2)), "cov_a"),
        (
            lambda: gaussian_frechet_distance([0.0, 0.0], np.eye(2), [0.0, 0.0], [[1, 1], [0, 1]]),
            "cov_b",
        ),
        (lambda: gaussian_frechet_distance([0.0], [[-1.0]], [0.0], [[1.0]]), "cov_a"),
        (lambda: digits_features()(torch.zeros(4, 8, 8)), "images"),
        (lambda: digits_features()(torch.zeros(4, 3, 8, 8)), "images"),
        (lambda: digits_features()(torch.zeros(4, 1, 4, 4)), "images"),
        (lambda: digits_features()(torch.full((4, 1, 8, 8), 1.5)), "images"),
        (lambda: digits_features()(torch.full((4, 1, 8, 8), float("nan"))), "images"),
        (lambda: digits_features()(torch.zeros(4, 1, 8, 8, dtype=torch.long)), "images"),
        (lambda: digits_features()(np.zeros((4, 1, 8, 8))), "images"),
        (lambda: digits_features().classify(torch.zeros(4, 1, 8)), "images"),
        (lambda: digits_features(seed=-1), "seed"),
        (lambda: digits_features(seed=0.5), "seed"),
        (lambda: digits_features().floor(1), "n"),
        (lambda: digits_features().floor(1259), "n"),
        (lambda: digits_fd(torch.zeros(1, 1, 8, 8)), "samples"),
        (lambda: digits_fd(torch.zeros(1259, 1, 8, 8)), "samples"),
        (lambda: digits_fd(_ok() - 1.01), "samples"),
        (lambda: digits_fd(_ok().squeeze(1)), "samples"),
        (lambda: digits_fd(_ok(), extractor="digits"), "extractor"),
        (lambda: DigitsFD(fd=1.0, floor=1.0, ratio=1.0, n=2).within(-1.0), "factor"),
        (lambda: digits_fd(_ok(), transform="bilinear"), "transform"),
        (lambda: digits_fd(_ok(), transform=lambda x: x[:10]), "transform"),
        (lambda: digits_fd(_ok(), transform=lambda x: 2 * x), "transform"),
    ],
)
def test_fd_bad_input(call, argument):
    with pytest.raises(ValueError, match=argument):
        call()
