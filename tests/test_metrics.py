"""The sliced Wasserstein distance against closed forms and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from diffusion_path.tools.metrics import sliced_wasserstein, wasserstein_1d


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
