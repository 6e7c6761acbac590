"""Contracts: the checks each task's functions must pass, with tools shared by them.

The checks use only the library's runtime dependencies (NumPy, PyTorch), so
``diffusion-path check`` works after a plain ``pip install``. Statistical checks
use a fixed seed and bounds that a correct implementation fails less than once
in a million runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

__all__ = [
    "FAILURE_RATE",
    "Z_BOUND",
    "assert_close",
    "assert_ks",
    "assert_raises_value_error",
    "assert_within_se",
    "normal_cdf",
]

#: Largest chance that a correct implementation fails one statistical check.
FAILURE_RATE = 1e-6
#: Two-sided Gaussian quantile for ``FAILURE_RATE``: P(|Z| > 4.892) = 1e-6.
Z_BOUND = 4.892


def normal_cdf(x: np.ndarray, mu: float = 0.0, sigma: float = 1.0) -> np.ndarray:
    """CDF of N(mu, sigma^2), from ``math.erf`` (independent of the code under test)."""
    z = (np.asarray(x, dtype=np.float64) - mu) / (sigma * math.sqrt(2.0))
    return 0.5 * (1.0 + np.vectorize(math.erf)(z))


def assert_ks(samples: np.ndarray, cdf: Callable[[np.ndarray], np.ndarray], what: str) -> None:
    """Kolmogorov–Smirnov test of ``samples`` against ``cdf`` at level ``FAILURE_RATE``.

    Uses the Dvoretzky–Kiefer–Wolfowitz bound P(D_n > c) <= 2 exp(-2 n c^2), which
    holds for every n, so the critical value is c = sqrt(log(2 / rate) / (2 n)).
    """
    x = np.sort(np.asarray(samples, dtype=np.float64).ravel())
    n = x.size
    f = cdf(x)
    d = max(np.max(np.arange(1, n + 1) / n - f), np.max(f - np.arange(n) / n))
    critical = math.sqrt(math.log(2.0 / FAILURE_RATE) / (2.0 * n))
    assert d <= critical, (
        f"{what}: the samples do not follow the expected distribution "
        f"(KS distance {d:.4f} > {critical:.4f} allowed for {n} samples)"
    )


def assert_within_se(estimate: float, truth: float, se: float, what: str) -> None:
    """Assert ``|estimate - truth| <= Z_BOUND * se``: a Monte-Carlo error bound."""
    assert abs(estimate - truth) <= Z_BOUND * se, (
        f"{what} is {estimate:.5g}, expected {truth:.5g} ± {Z_BOUND * se:.2g}"
    )


def assert_close(actual: object, expected: object, what: str, rtol: float = 1e-6) -> None:
    """Assert two arrays agree in shape and value (relative tolerance ``rtol``)."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (
        f"{what} has shape {actual.shape}, expected {expected.shape}"
    )
    if not np.allclose(actual, expected, rtol=rtol, atol=rtol * 1e-3):
        worst = np.unravel_index(np.argmax(np.abs(actual - expected)), actual.shape)
        raise AssertionError(
            f"{what} is wrong: got {actual[worst]:.6g} where {expected[worst]:.6g} is expected"
            + (f" (at index {tuple(int(i) for i in worst)})" if actual.ndim else "")
        )


def assert_raises_value_error(call: Callable[[], object], argument: str, case: str) -> None:
    """Assert ``call()`` raises a ``ValueError`` whose message names ``argument``."""
    try:
        call()
    except NotImplementedError:
        raise
    except ValueError as error:
        assert argument in str(error), (
            f"for {case} the ValueError should name {argument!r}, but says {str(error)!r}"
        )
        return
    except Exception as error:
        raise AssertionError(
            f"for {case} expected a ValueError naming {argument!r}, got {type(error).__name__}"
        ) from error
    raise AssertionError(
        f"for {case} expected a ValueError naming {argument!r}, but none was raised"
    )
