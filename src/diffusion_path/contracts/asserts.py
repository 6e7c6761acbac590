"""Assertions the contracts share: exact values, Monte-Carlo bounds in standard errors, errors.

Every statistical check in every contract uses the one false-alarm rate declared here,
[`FAILURE_RATE`][diffusion_path.contracts.asserts.FAILURE_RATE]: a correct implementation fails
any one such check less than once in a million runs. Verdicts of statistical checks are stated in
standard errors, so a learner can tell a near miss from a wrong formula.

Each helper takes an optional ``hint``: the sub-check's own advice, shown instead of the
check's when this assertion is the one that fails.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from statistics import NormalDist

import numpy as np

from diffusion_path.contracts.base import Failure

__all__ = [
    "FAILURE_RATE",
    "Z_BOUND",
    "assert_close",
    "assert_ks",
    "assert_raises_value_error",
    "assert_within_se",
    "expect",
    "normal_cdf",
    "to_numpy",
]

#: Largest chance that a correct implementation fails one statistical check.
FAILURE_RATE = 1e-6
#: Two-sided Gaussian quantile for ``FAILURE_RATE``: P(|Z| > Z_BOUND) = FAILURE_RATE (4.89).
Z_BOUND = NormalDist().inv_cdf(1 - FAILURE_RATE / 2)


def expect(condition: object, reason: str, hint: str | None = None) -> None:
    """Fail with ``reason`` (and ``hint``) unless ``condition`` holds.

    Examples:
        >>> expect(1 + 1 == 2, "arithmetic")
        >>> expect(False, "x must be positive", hint="Take the absolute value.")
        Traceback (most recent call last):
        diffusion_path.contracts.base.Failure: x must be positive
    """
    if not condition:
        raise Failure(reason, hint)


def to_numpy(value: object) -> np.ndarray:
    """``value`` (tensor, array, list or number) as a float64 NumPy array, for comparisons."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().double().numpy()
    return np.asarray(value, dtype=np.float64)


def normal_cdf(x: np.ndarray, mu: float = 0.0, sigma: float = 1.0) -> np.ndarray:
    """CDF of N(mu, sigma^2), from ``math.erf`` (independent of the code under test)."""
    z = (np.asarray(x, dtype=np.float64) - mu) / (sigma * math.sqrt(2.0))
    return 0.5 * (1.0 + np.vectorize(math.erf)(z))


def assert_ks(
    samples: np.ndarray,
    cdf: Callable[[np.ndarray], np.ndarray],
    what: str,
    hint: str | None = None,
) -> None:
    """Kolmogorov–Smirnov test of ``samples`` against ``cdf`` at level ``FAILURE_RATE``.

    Uses the Dvoretzky–Kiefer–Wolfowitz bound P(D_n > c) <= 2 exp(-2 n c^2), which
    holds for every n, so the critical value is c = sqrt(log(2 / rate) / (2 n)).
    """
    x = np.sort(to_numpy(samples).ravel())
    n = x.size
    f = cdf(x)
    d = max(np.max(np.arange(1, n + 1) / n - f), np.max(f - np.arange(n) / n))
    critical = math.sqrt(math.log(2.0 / FAILURE_RATE) / (2.0 * n))
    expect(
        d <= critical,
        f"{what}: the samples do not follow the expected distribution "
        f"(KS distance {d:.4f}, more than the {critical:.4f} a correct sampler reaches "
        f"once in a million runs of {n} samples)",
        hint,
    )


def assert_within_se(
    estimate: float, truth: float, se: float, what: str, hint: str | None = None
) -> None:
    """Assert ``|estimate - truth| <= Z_BOUND * se``: a Monte-Carlo bound, stated in standard errors.

    Examples:
        >>> assert_within_se(0.61, 0.5, 0.02, "the sample mean")
        Traceback (most recent call last):
        diffusion_path.contracts.base.Failure: the sample mean is 0.61, expected 0.5 ± 0.02 (1 s.e.): 5.5 standard errors away, where a correct implementation stays within 4.9 but once in a million runs
    """
    z = abs(estimate - truth) / se if se > 0 else (0.0 if estimate == truth else math.inf)
    expect(
        z <= Z_BOUND,
        f"{what} is {estimate:.5g}, expected {truth:.5g} ± {se:.2g} (1 s.e.): {z:.1f} standard "
        f"errors away, where a correct implementation stays within {Z_BOUND:.1f} but once in a "
        "million runs",
        hint,
    )


def assert_close(
    actual: object, expected: object, what: str, rtol: float = 1e-6, hint: str | None = None
) -> None:
    """Assert two arrays agree in shape and value (relative tolerance ``rtol``)."""
    actual_array, expected_array = to_numpy(actual), to_numpy(expected)
    expect(
        actual_array.shape == expected_array.shape,
        f"{what} has shape {actual_array.shape}, expected {expected_array.shape}",
        hint,
    )
    if not np.allclose(actual_array, expected_array, rtol=rtol, atol=rtol * 1e-3):
        difference = np.abs(actual_array - expected_array)
        difference = np.where(np.isnan(difference), np.inf, difference)
        worst = np.unravel_index(np.argmax(difference), actual_array.shape)
        raise Failure(
            f"{what} is wrong: got {actual_array[worst]:.6g} where {expected_array[worst]:.6g} "
            "is expected"
            + (f" (at position {tuple(int(i) for i in worst)})" if actual_array.ndim else ""),
            hint,
        )


def assert_raises_value_error(
    call: Callable[[], object], argument: str, case: str, hint: str | None = None
) -> None:
    """Assert ``call()`` raises a ``ValueError`` whose message names ``argument``."""
    hint = hint or (
        f"Check {argument} where the function starts and raise ValueError with a message that "
        f"names it, e.g. ValueError(f'{argument} must ..., got {{{argument}!r}}')."
    )
    try:
        call()
    except NotImplementedError:
        raise
    except ValueError as error:
        expect(
            argument in str(error),
            f"for {case} the ValueError should name {argument!r}, but says {str(error)!r}",
            hint,
        )
        return
    except Exception as error:
        raise Failure(
            f"for {case} expected a ValueError naming {argument!r}, got "
            f"{type(error).__name__}: {str(error).strip()[:120]}",
            hint,
        ) from error
    raise Failure(
        f"for {case} expected a ValueError naming {argument!r}, but none was raised", hint
    )
