"""Input checks shared by every task: clear ``ValueError`` messages at the public boundary.

Each helper names the argument, says what was expected and shows what came, so
that a learner reading the error knows which call to fix.
"""

from __future__ import annotations

import numpy as np


def _describe(value: object) -> str:
    """Short description of ``value`` for an error message."""
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"an array of shape {tuple(shape)}"
    return repr(value)


def as_float_array(value: object, name: str) -> np.ndarray:
    """Return ``value`` as a float64 array, rejecting non-numeric or non-finite input."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numeric, got {value!r}") from None
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got {_describe(value)} with NaN or inf entries")
    return array


def positive(value: object, name: str) -> np.ndarray:
    """Return ``value`` as a float array whose entries are all strictly positive."""
    array = as_float_array(value, name)
    if np.any(array <= 0):
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return array


def positive_int(value: object, name: str) -> int:
    """Return ``value`` as an ``int`` >= 1."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def mean_vector(value: object, name: str) -> np.ndarray:
    """Return ``value`` as a 1-D float array (a mean vector of length d >= 1)."""
    array = as_float_array(value, name)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a 1-D vector of length d >= 1, got {_describe(array)}")
    return array


def covariance(value: object, name: str, dim: int | None = None) -> np.ndarray:
    """Return ``value`` as a symmetric positive-definite ``(d, d)`` matrix.

    Raises:
        ValueError: if the matrix is not square, not of size ``dim``, not
            symmetric, or not positive definite.
    """
    array = as_float_array(value, name)
    if array.ndim != 2 or array.shape[0] != array.shape[1]:
        raise ValueError(f"{name} must be a square (d, d) matrix, got {_describe(array)}")
    if dim is not None and array.shape[0] != dim:
        raise ValueError(
            f"{name} must have shape ({dim}, {dim}) to match the mean, got {array.shape}"
        )
    scale = max(1.0, float(np.max(np.abs(array))))
    if not np.allclose(array, array.T, rtol=0.0, atol=1e-10 * scale):
        raise ValueError(f"{name} must be symmetric, got {array.tolist()}")
    try:
        np.linalg.cholesky(array)
    except np.linalg.LinAlgError:
        raise ValueError(
            f"{name} must be positive definite, got eigenvalues {np.linalg.eigvalsh(array).tolist()}"
        ) from None
    return array


def generator(rng: object, name: str = "rng") -> np.random.Generator:
    """Return ``rng`` if it is a NumPy ``Generator``; ``None`` is not accepted on purpose."""
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"{name} must be a numpy.random.Generator (e.g. np.random.default_rng(0)), "
            f"got {type(rng).__name__}"
        )
    return rng
