"""Input checks shared by every task: clear ``ValueError`` messages at the public boundary.

Each helper names the argument, says what was expected and shows what came, so
that a learner reading the error knows which call to fix.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

import numpy as np

# True inside ``trusted()``: the tensor checks below return their input unchecked.
_TRUSTED: ContextVar[bool] = ContextVar("trusted", default=False)


@contextlib.contextmanager
def trusted() -> Iterator[None]:
    """Skip the tensor checks inside the block: its caller has checked the inputs once, already.

    A sampler checks its arguments at the door, then calls ``ddpm_step`` a thousand times with
    tensors it made itself; checking them again at every step would double the cost of a step.
    Inside ``with validation.trusted():`` the tensor helpers below only convert (an int ``t``
    still becomes a tensor) and do not look for NaN, shapes or ranges. The model's outputs are
    still checked (``finite_output``): they come from outside.

    Examples:
        >>> import torch
        >>> with trusted():
        ...     float_tensor(torch.tensor([float("nan")]), "x")  # not looked at
        tensor([nan])
    """
    token = _TRUSTED.set(True)
    try:
        yield
    finally:
        _TRUSTED.reset(token)


def _describe(value: object) -> str:
    """Short description of ``value`` for an error message."""
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"an array of shape {tuple(shape)}"
    return repr(value)


def as_float_array(value: object, name: str) -> np.ndarray:
    """Return ``value`` as a float64 array, rejecting non-numeric or non-finite input.

    Examples:
        >>> as_float_array([1, 2], "x")
        array([1., 2.])
        >>> as_float_array([1.0, float("nan")], "x")
        Traceback (most recent call last):
        ValueError: x must be finite, got [1.0, nan] with NaN or inf entries
    """
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numeric, got {value!r}") from None
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got {_describe(value)} with NaN or inf entries")
    return array


def positive(value: object, name: str) -> np.ndarray:
    """Return ``value`` as a float array whose entries are all strictly positive.

    Examples:
        >>> positive(-1.0, "sigma")
        Traceback (most recent call last):
        ValueError: sigma must be > 0, got -1.0
    """
    array = as_float_array(value, name)
    if np.any(array <= 0):
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return array


def positive_int(value: object, name: str) -> int:
    """Return ``value`` as an ``int`` >= 1.

    Examples:
        >>> positive_int(3, "n")
        3
        >>> positive_int(2.5, "n")
        Traceback (most recent call last):
        ValueError: n must be a positive integer, got 2.5
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def mean_vector(value: object, name: str) -> np.ndarray:
    """Return ``value`` as a 1-D float array (a mean vector of length d >= 1).

    Examples:
        >>> mean_vector([[0.0, 1.0]], "mean")
        Traceback (most recent call last):
        ValueError: mean must be a 1-D vector of length d >= 1, got an array of shape (1, 2)
    """
    array = as_float_array(value, name)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a 1-D vector of length d >= 1, got {_describe(array)}")
    return array


def covariance(value: object, name: str, dim: int | None = None) -> np.ndarray:
    """Return ``value`` as a symmetric positive-definite ``(d, d)`` matrix.

    Raises:
        ValueError: if the matrix is not square, not of size ``dim``, not
            symmetric, or not positive definite.

    Examples:
        >>> covariance([[1.0, 0.0], [0.0, -1.0]], "cov")
        Traceback (most recent call last):
        ValueError: cov must be positive definite, got eigenvalues [-1.0, 1.0]
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


def number(value: object, name: str) -> float:
    """Return ``value`` as a finite Python float; bools, strings and arrays are rejected.

    Examples:
        >>> number(2, "s")
        2.0
        >>> number("2", "s")
        Traceback (most recent call last):
        ValueError: s must be a number, got '2'
    """
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


def in_open_unit_interval(value: object, name: str) -> float:
    """Return ``value`` as a float strictly between 0 and 1 (a variance, a probability).

    Examples:
        >>> in_open_unit_interval(1.0, "beta_end")
        Traceback (most recent call last):
        ValueError: beta_end must be a number in (0, 1), got 1.0
    """
    value = number(value, name)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be a number in (0, 1), got {value!r}")
    return value


def non_negative(value: object, name: str) -> float:
    """Return ``value`` as a float >= 0.

    Examples:
        >>> non_negative(-0.1, "s")
        Traceback (most recent call last):
        ValueError: s must be a number >= 0, got -0.1
    """
    value = number(value, name)
    if value < 0.0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    return value


def generator(rng: object, name: str = "rng") -> np.random.Generator:
    """Return ``rng`` if it is a NumPy ``Generator``; ``None`` is not accepted on purpose.

    Examples:
        >>> generator(None)
        Traceback (most recent call last):
        ValueError: rng must be a numpy.random.Generator (e.g. np.random.default_rng(0)), got NoneType
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"{name} must be a numpy.random.Generator (e.g. np.random.default_rng(0)), "
            f"got {type(rng).__name__}"
        )
    return rng


def size_shape(size: object, name: str = "size") -> tuple[int, ...]:
    """Return a sample ``size`` (an int or a tuple of ints, as NumPy takes it) as a shape tuple.

    Examples:
        >>> size_shape(3), size_shape((2, 4))
        ((3,), (2, 4))
        >>> size_shape((2, 0))
        Traceback (most recent call last):
        ValueError: size must be a positive integer, got 0
    """
    if isinstance(size, int | np.integer) and not isinstance(size, bool):
        shape: tuple = (size,)
    elif isinstance(size, tuple | list):
        shape = tuple(size)
    else:
        raise ValueError(f"{name} must be a positive int or a tuple of them, got {size!r}")
    for n in shape:
        positive_int(n, name)
    return tuple(int(n) for n in shape)


def log_weights(log_w: object, name: str = "log_w") -> np.ndarray:
    """Return log-weights as a 1-D float array: no NaN, no ``+inf``, at least one finite entry.

    ``-inf`` is allowed: a weight of zero.

    Examples:
        >>> log_weights([0.0, -np.inf])
        array([  0., -inf])
        >>> log_weights([-np.inf, -np.inf])
        Traceback (most recent call last):
        ValueError: log_w must have at least one finite entry (every weight is zero)
    """
    try:
        log_w = np.asarray(log_w, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a 1-D array of log-weights, got {log_w!r}") from None
    if log_w.ndim != 1 or log_w.size == 0:
        raise ValueError(f"{name} must be a 1-D array of log-weights, got shape {log_w.shape}")
    if np.any(np.isnan(log_w)) or np.any(log_w == np.inf):
        raise ValueError(f"{name} must not contain NaN or +inf")
    if np.all(log_w == -np.inf):
        raise ValueError(f"{name} must have at least one finite entry (every weight is zero)")
    return log_w


def log_density_values(values: object, n: int, name: str) -> np.ndarray:
    """Check what a log-density callable returned for ``n`` points: ``n`` values, no NaN or ``+inf``.

    Samplers call the user's ``log_f``; this names ``log_f`` when its output is unusable.

    Examples:
        >>> log_density_values([0.0, 1.0, 2.0], 2, "log_f")
        Traceback (most recent call last):
        ValueError: log_f must return one value per sample, shape (2,); got (3,)
    """
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (n,):
        raise ValueError(
            f"{name} must return one value per sample, shape ({n},); got {values.shape}"
        )
    if np.any(np.isnan(values)) or np.any(values == np.inf):
        raise ValueError(f"{name} returned NaN or +inf")
    return values


def box(low: object, high: object) -> tuple[np.ndarray, np.ndarray]:
    """Return the corners of a box, ``low < high`` in every coordinate.

    Examples:
        >>> box([0.0, 0.0], [1.0, 0.0])
        Traceback (most recent call last):
        ValueError: high must be > low in every coordinate, got low=[0. 0.], high=[1. 0.]
    """
    low = mean_vector(low, "low")
    high = mean_vector(high, "high")
    if high.shape != low.shape:
        raise ValueError(f"high must have shape {low.shape} like low, got {high.shape}")
    if np.any(high <= low):
        raise ValueError(f"high must be > low in every coordinate, got low={low}, high={high}")
    return low, high


def annealing_schedule(values: object, name: str) -> np.ndarray:
    """Return an annealing schedule: 1-D, non-decreasing, from exactly 0 to exactly 1.

    Examples:
        >>> annealing_schedule([0.0, 0.5, 1.0], "inverse_temperatures")
        array([0. , 0.5, 1. ])
        >>> annealing_schedule([0.0, 0.7, 0.5, 1.0], "inverse_temperatures")
        Traceback (most recent call last):
        ValueError: inverse_temperatures must be non-decreasing (an increasing schedule 0 -> 1)
    """
    values = as_float_array(values, name)
    if values.ndim != 1 or values.size < 2:
        raise ValueError(
            f"{name} must be a 1-D schedule of at least 2 values from 0 to 1, got shape {values.shape}"
        )
    if values[0] != 0.0 or values[-1] != 1.0:
        raise ValueError(
            f"{name} must run from 0 (the prior) to 1 (the target), "
            f"got {values[0]:g} first and {values[-1]:g} last"
        )
    if np.any(np.diff(values) < 0):
        raise ValueError(f"{name} must be non-decreasing (an increasing schedule 0 -> 1)")
    return values


#: Tolerance for "sums to one" in probability vectors and transition matrices.
PROBABILITY_ATOL = 1e-9


def transition_matrix(P: object, name: str = "P") -> np.ndarray:
    """Return ``P`` as a square matrix of non-negative entries whose rows sum to 1.

    Examples:
        >>> transition_matrix([[0.5, 0.5], [0.2, 0.7]])
        Traceback (most recent call last):
        ValueError: P must have rows summing to 1, got row sums [1.0, 0.8999999999999999]
    """
    P = as_float_array(P, name)
    if P.ndim != 2 or P.shape[0] != P.shape[1] or P.shape[0] == 0:
        raise ValueError(f"{name} must be a square (S, S) transition matrix, got shape {P.shape}")
    if np.any(P < 0):
        raise ValueError(
            f"{name} must have non-negative entries (probabilities), got min {P.min():g}"
        )
    sums = P.sum(axis=1)
    if not np.allclose(sums, 1.0, rtol=0.0, atol=PROBABILITY_ATOL):
        raise ValueError(f"{name} must have rows summing to 1, got row sums {sums.tolist()}")
    return P


def distribution(p: object, name: str, size: int) -> np.ndarray:
    """Return ``p`` as a probability vector of length ``size``.

    Examples:
        >>> distribution([0.5, 0.6], "p0", 2)
        Traceback (most recent call last):
        ValueError: p0 must sum to 1, got 1.1
    """
    p = as_float_array(p, name)
    if p.shape != (size,):
        raise ValueError(f"{name} must be a vector of {size} probabilities, got shape {p.shape}")
    if np.any(p < 0):
        raise ValueError(f"{name} must have non-negative entries, got {p.tolist()}")
    if abs(p.sum() - 1.0) > PROBABILITY_ATOL:
        raise ValueError(f"{name} must sum to 1, got {p.sum():g}")
    return p


def variance_schedule(beta: object, name: str = "beta") -> np.ndarray:
    """Return ``beta`` as a number or a 1-D array of noise variances, each in (0, 1).

    Examples:
        >>> variance_schedule([0.1, 1.5])
        Traceback (most recent call last):
        ValueError: beta must lie in (0, 1), got [0.1, 1.5]
    """
    beta = as_float_array(beta, name)
    if beta.ndim > 1 or beta.size == 0:
        raise ValueError(f"{name} must be a number or a 1-D schedule, got shape {beta.shape}")
    if np.any(beta <= 0) or np.any(beta >= 1):
        raise ValueError(f"{name} must lie in (0, 1), got {beta.tolist()}")
    return beta


def positive_number(value: object, name: str) -> float:
    """Return ``value`` as a finite Python float > 0 (a standard deviation, a tolerance).

    Examples:
        >>> positive_number(0.5, "sigma")
        0.5
        >>> positive_number(0.0, "sigma")
        Traceback (most recent call last):
        ValueError: sigma must be a number > 0, got 0.0
    """
    value = number(value, name)
    if value <= 0.0:
        raise ValueError(f"{name} must be a number > 0, got {value!r}")
    return value


def integer(value: object, name: str, minimum: int | None = None) -> int:
    """Return ``value`` as an ``int`` (no bools, no floats), at least ``minimum`` when given.

    Examples:
        >>> integer(-3, "x0")
        -3
        >>> integer(0.5, "x0")
        Traceback (most recent call last):
        ValueError: x0 must be an integer, got 0.5
        >>> integer(-1, "t", minimum=0)
        Traceback (most recent call last):
        ValueError: t must be an integer >= 0, got -1
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def gaussian_parameters(
    mean: object,
    cov: object,
    mean_name: str = "mean",
    cov_name: str = "cov",
    dim: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the mean vector and the symmetric positive-definite covariance of one Gaussian.

    With ``dim``, the mean must have that length (to match another Gaussian's); the covariance
    must always match the mean.

    Raises:
        ValueError: naming ``mean_name`` if the mean is not a finite vector (of length ``dim``),
            or ``cov_name`` if the covariance is not a symmetric positive-definite matrix of
            the mean's size.

    Examples:
        >>> mean, cov = gaussian_parameters([0.0, 1.0], [[1.0, 0.5], [0.5, 1.0]])
        >>> mean.shape, cov.shape
        ((2,), (2, 2))
        >>> gaussian_parameters([0.0], [[1.0]], "mean_q", "cov_q", dim=2)
        Traceback (most recent call last):
        ValueError: mean_q must be a vector of length 2 to match the other Gaussian, got shape (1,)
    """
    mean = mean_vector(mean, mean_name)
    if dim is not None and mean.shape != (dim,):
        raise ValueError(
            f"{mean_name} must be a vector of length {dim} to match the other Gaussian, "
            f"got shape {mean.shape}"
        )
    return mean, covariance(cov, cov_name, dim=mean.shape[0])


def points(x: object, dim: int, name: str = "x") -> np.ndarray:
    """Return ``x`` as a finite float array of points of shape ``(..., dim)``: one per last axis.

    Examples:
        >>> points([[0.0, 1.0], [2.0, 3.0]], 2).shape
        (2, 2)
        >>> points([0.0, 1.0, 2.0], 2)
        Traceback (most recent call last):
        ValueError: x must have shape (..., 2) to match the mean, got (3,)
    """
    x = as_float_array(x, name)
    if x.ndim == 0 or x.shape[-1] != dim:
        raise ValueError(f"{name} must have shape (..., {dim}) to match the mean, got {x.shape}")
    return x


def states(x0: object, n_states: int, name: str = "x0") -> np.ndarray:
    """Return ``x0`` (an int or an array of ints) as an int64 array of states in ``[0, n_states)``.

    Examples:
        >>> states([0, 2], 3)
        array([0, 2])
        >>> states(3, 3)
        Traceback (most recent call last):
        ValueError: x0 must be integer states in [0, 3), got 3
    """
    array = np.asarray(x0)
    if not np.issubdtype(array.dtype, np.integer) or np.any(array < 0) or np.any(array >= n_states):
        raise ValueError(f"{name} must be integer states in [0, {n_states}), got {x0!r}")
    return array.astype(np.int64)


def interval(a: object, b: object, names: tuple[str, str] = ("a", "b")) -> tuple[float, float]:
    """Return the ends of an interval ``[a, b]`` as finite floats with ``b > a``.

    Examples:
        >>> interval(0, 2.5)
        (0.0, 2.5)
        >>> interval(1.0, 1.0)
        Traceback (most recent call last):
        ValueError: b must be > a, got a=1.0, b=1.0
    """
    low, high = number(a, names[0]), number(b, names[1])
    if high <= low:
        raise ValueError(
            f"{names[1]} must be > {names[0]}, got {names[0]}={low}, {names[1]}={high}"
        )
    return low, high


def leading_axis(value: object, name: str) -> np.ndarray:
    """Return ``value`` as a finite float array with a leading axis: one row per chain or point.

    Examples:
        >>> leading_axis([0.5, 1.0], "x0").shape
        (2,)
        >>> leading_axis(0.5, "x0")
        Traceback (most recent call last):
        ValueError: x0 must have a leading axis, one row per chain or point (shape (n, ...)), got a scalar
    """
    array = as_float_array(value, name)
    if array.ndim == 0:
        raise ValueError(
            f"{name} must have a leading axis, one row per chain or point (shape (n, ...)), "
            "got a scalar"
        )
    if array.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one row, got shape {array.shape}")
    return array


def unit_interval(value: object, name: str) -> float:
    """Return ``value`` as a float in the closed interval [0, 1] (an inverse temperature, a weight).

    Examples:
        >>> unit_interval(1, "inverse_temperature")
        1.0
        >>> unit_interval(1.5, "inverse_temperature")
        Traceback (most recent call last):
        ValueError: inverse_temperature must be a number in [0, 1], got 1.5
    """
    value = number(value, name)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return value


# ----------------------------------------------------------------------------- PyTorch tensors
# The helpers below serve the tasks written in PyTorch (Pre-Task 4 on); they import torch lazily,
# so that the NumPy tasks do not pay for it.


def torch_generator(value: object, name: str = "generator"):
    """Return ``value`` if it is a ``torch.Generator``; ``None`` is not accepted on purpose.

    Examples:
        >>> torch_generator(0)
        Traceback (most recent call last):
        ValueError: generator must be a torch.Generator (e.g. torch.Generator().manual_seed(0)), got int
    """
    import torch

    if not isinstance(value, torch.Generator):
        raise ValueError(
            f"{name} must be a torch.Generator (e.g. torch.Generator().manual_seed(0)), "
            f"got {type(value).__name__}"
        )
    return value


def float_tensor(value: object, name: str, min_dim: int = 1):
    """Return ``value`` if it is a finite floating-point ``torch.Tensor`` with ``min_dim`` axes or more.

    Examples:
        >>> import torch
        >>> float_tensor(torch.arange(3), "x0")
        Traceback (most recent call last):
        ValueError: x0 must be a floating-point torch.Tensor, got Tensor of dtype torch.int64
        >>> float_tensor(torch.tensor([1.0, float("inf")]), "x0")
        Traceback (most recent call last):
        ValueError: x0 must be finite, got a tensor of shape (2,) with 1 NaN or inf entries
    """
    import torch

    if _TRUSTED.get():
        return value
    if not isinstance(value, torch.Tensor) or not value.is_floating_point():
        raise ValueError(
            f"{name} must be a floating-point torch.Tensor, got {type(value).__name__}"
            + (f" of dtype {value.dtype}" if isinstance(value, torch.Tensor) else "")
        )
    if value.ndim < min_dim:
        raise ValueError(
            f"{name} must have at least {min_dim} dimension(s) (batch first), got shape {tuple(value.shape)}"
        )
    finite = torch.isfinite(value)
    if not bool(finite.all()):
        bad = int((~finite).sum())
        raise ValueError(
            f"{name} must be finite, got a tensor of shape {tuple(value.shape)} with {bad} NaN or inf entries"
        )
    return value


def same_shape(value: object, name: str, like: object, like_name: str):
    """Return ``value`` if it is a finite float tensor with the shape and dtype of ``like``.

    Examples:
        >>> import torch
        >>> same_shape(torch.zeros(2, 3), "noise", torch.zeros(2, 2), "x0")
        Traceback (most recent call last):
        ValueError: noise must have the shape of x0, (2, 2); got (2, 3)
    """
    if _TRUSTED.get():
        return value
    value = float_tensor(value, name)
    if tuple(value.shape) != tuple(like.shape):
        raise ValueError(
            f"{name} must have the shape of {like_name}, {tuple(like.shape)}; got {tuple(value.shape)}"
        )
    if value.dtype != like.dtype:
        raise ValueError(
            f"{name} must have the dtype of {like_name}, {like.dtype}; got {value.dtype}"
        )
    return value


def variances(value: object, name: str = "betas"):
    """Return ``value`` as a non-empty 1-D float64 tensor with every entry in (0, 1).

    Examples:
        >>> variances([0.1, 0.2])
        tensor([0.1000, 0.2000], dtype=torch.float64)
        >>> variances([0.1, 1.0])
        Traceback (most recent call last):
        ValueError: betas must lie in (0, 1), got values from 0.1 to 1
    """
    import torch

    try:
        value = torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{name} must be a 1-D tensor of numbers, got {value!r}") from None
    if value.ndim != 1 or value.numel() == 0:
        raise ValueError(f"{name} must be a non-empty 1-D tensor, got shape {tuple(value.shape)}")
    if not bool(torch.all((value > 0) & (value < 1))):
        raise ValueError(
            f"{name} must lie in (0, 1), got values from {float(value.min()):g} to {float(value.max()):g}"
        )
    return value


def noise_schedule(value: object, name: str = "schedule"):
    """Return ``value`` if it looks like a noise schedule: it has ``T``, ``betas`` and ``alpha_bars``.

    Examples:
        >>> noise_schedule([0.1, 0.2])
        Traceback (most recent call last):
        ValueError: schedule must be a NoiseSchedule (with T, betas, alpha_bars, alpha_bars_prev), got list
    """
    if _TRUSTED.get():
        return value
    if not all(hasattr(value, attr) for attr in ("T", "betas", "alpha_bars", "alpha_bars_prev")):
        raise ValueError(
            f"{name} must be a NoiseSchedule (with T, betas, alpha_bars, alpha_bars_prev), "
            f"got {type(value).__name__}"
        )
    return value


def timesteps(value: object, T: int, batch: int, name: str = "t"):
    """Return 0-based timesteps as a ``LongTensor`` of shape ``(batch,)``, each in ``[0, T-1]``.

    Accepts a Python int (the same step for the whole batch) or an integer tensor of
    shape ``()`` or ``(batch,)``.

    Examples:
        >>> timesteps(3, T=10, batch=2)
        tensor([3, 3])
        >>> timesteps(10, T=10, batch=2)
        Traceback (most recent call last):
        ValueError: t must lie in [0, 9] (0-based, T = 10), got 10
    """
    import torch

    if _TRUSTED.get() and isinstance(value, torch.Tensor):
        return value
    if isinstance(value, bool):
        raise ValueError(
            f"{name} must be an int or a LongTensor of shape ({batch},), got {value!r}"
        )
    if isinstance(value, int | np.integer):
        if not 0 <= value <= T - 1:
            raise ValueError(
                f"{name} must lie in [0, {T - 1}] (0-based, T = {T}), got {int(value)}"
            )
        return torch.full((batch,), int(value), dtype=torch.long)
    if not isinstance(value, torch.Tensor):
        raise ValueError(
            f"{name} must be an int or a LongTensor of shape ({batch},), got {type(value).__name__}"
        )
    if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
        raise ValueError(f"{name} must hold integers, got a tensor of dtype {value.dtype}")
    if value.ndim == 0:
        value = value.reshape(1).expand(batch)
    elif tuple(value.shape) != (batch,):
        raise ValueError(
            f"{name} must have shape ({batch},) to match the batch, got {tuple(value.shape)}"
        )
    value = value.long()
    low, high = torch.aminmax(value)
    if int(low) < 0 or int(high) > T - 1:
        raise ValueError(
            f"{name} must lie in [0, {T - 1}] (0-based, T = {T}), got values from "
            f"{int(low)} to {int(high)}"
        )
    return value


def batch_at_step(t: object, schedule: object, **tensors: object) -> tuple:
    """Check tensors that describe one batch at 0-based step ``t``; return them and ``t``.

    The first keyword argument is the reference: a finite float tensor with a batch axis. Every
    other one must be a finite float tensor of its shape and dtype. ``t`` becomes a LongTensor of
    shape ``(B,)`` with entries in ``[0, T-1]``. The keywords are the argument names that error
    messages use, so a call reads ``batch_at_step(t, schedule, x_t=x_t, eps=eps)``.

    Returns:
        The tensors in the order given, then ``t``.

    Raises:
        ValueError: naming the first argument that is not as described.

    Examples:
        >>> import torch
        >>> from diffusion_path.diffusion.schedules import NoiseSchedule
        >>> schedule = NoiseSchedule.linear(10)
        >>> x_t, eps, t = batch_at_step(3, schedule, x_t=torch.zeros(2, 5), eps=torch.ones(2, 5))
        >>> t
        tensor([3, 3])
        >>> batch_at_step(3, schedule, x_t=torch.zeros(2, 5), eps=torch.ones(2, 4))
        Traceback (most recent call last):
        ValueError: eps must have the shape of x_t, (2, 5); got (2, 4)
    """
    schedule = noise_schedule(schedule)
    (first_name, first), *others = tensors.items()
    first = float_tensor(first, first_name)
    checked = [first] + [same_shape(value, name, first, first_name) for name, value in others]
    return (*checked, timesteps(t, schedule.T, first.shape[0]))


def noise_or_draw(noise: object, generator: object, like: object, like_name: str):
    """The noise to use: ``noise`` if given (checked against ``like``), else a draw from ``generator``.

    A function that adds Gaussian noise takes either the noise itself (so that a caller, such as a
    training loop, knows what was added) or a ``torch.Generator`` to draw it from.

    Examples:
        >>> import torch
        >>> noise_or_draw(None, torch.Generator().manual_seed(0), torch.zeros(2), "x0").shape
        torch.Size([2])
        >>> noise_or_draw(None, None, torch.zeros(2), "x0")
        Traceback (most recent call last):
        ValueError: generator must be a torch.Generator (e.g. torch.Generator().manual_seed(0)), got NoneType
    """
    import torch

    if noise is not None:
        return same_shape(noise, "noise", like, like_name)
    generator = generator if _TRUSTED.get() else torch_generator(generator)
    return torch.randn(like.shape, generator=generator, dtype=like.dtype, device=like.device)


def finite_output(value: object, name: str, shape: tuple, where: str):
    """Return ``value`` if a callable's output is a finite tensor of ``shape``; name ``where`` if not.

    For samplers: a model that returns the wrong shape, NaN or inf at some step stops the loop
    with an error that says which step, rather than filling the samples with NaN.

    Examples:
        >>> import torch
        >>> finite_output(torch.tensor([float("nan")]), "model", (1,), "at step t = 7")
        Traceback (most recent call last):
        ValueError: model returned NaN or inf at step t = 7 (1 of 1 entries)
    """
    import torch

    if not isinstance(value, torch.Tensor) or tuple(value.shape) != tuple(shape):
        got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise ValueError(f"{name} must return a tensor of shape {tuple(shape)} {where}, got {got}")
    finite = torch.isfinite(value)
    if not bool(finite.all()):
        raise ValueError(
            f"{name} returned NaN or inf {where} ({int((~finite).sum())} of {value.numel()} entries)"
        )
    return value


def checked_model(model: object, shape: tuple[int, ...], name: str = "model"):
    """Wrap a noise predictor so that every output is checked: a tensor of ``shape``, finite.

    Samplers call the wrapped model exactly as they would the model; a bad output stops the
    loop with an error naming the 0-based step index ``t`` it came from.

    Examples:
        >>> import torch
        >>> broken = checked_model(lambda x, t: x / 0.0, (2, 1))
        >>> broken(torch.ones(2, 1), torch.tensor([7, 7]))
        Traceback (most recent call last):
        ValueError: model returned NaN or inf at step t = 7 (2 of 2 entries)
        >>> broken(torch.ones(2, 1), 3)
        Traceback (most recent call last):
        ValueError: model returned NaN or inf at step t = 3 (2 of 2 entries)
    """
    if not callable(model):
        raise ValueError(f"{name} must be callable as {name}(x_t, t), got {type(model).__name__}")

    def checked(x, t):
        step = int(t.reshape(-1)[0]) if hasattr(t, "reshape") else int(t)
        return finite_output(model(x, t), name, shape, f"at step t = {step}")

    return checked


def shape_tuple(value: object, name: str = "shape") -> tuple[int, ...]:
    """Return ``value`` as a non-empty tuple of positive ints, such as a batch shape ``(64, 2)``.

    Examples:
        >>> shape_tuple([4, 2])
        (4, 2)
        >>> shape_tuple(4)
        Traceback (most recent call last):
        ValueError: shape must be a tuple of positive ints such as (64, 2), got 4
    """
    if not isinstance(value, tuple | list) or len(value) == 0:
        raise ValueError(f"{name} must be a tuple of positive ints such as (64, 2), got {value!r}")
    return tuple(positive_int(n, name) for n in value)


def one_of(value: object, choices: tuple[str, ...], name: str) -> str:
    """Return ``value`` if it is one of the strings ``choices``.

    Examples:
        >>> one_of("beta", ("beta_tilde", "beta"), "variance")
        'beta'
        >>> one_of("large", ("beta_tilde", "beta"), "variance")
        Traceback (most recent call last):
        ValueError: variance must be one of 'beta_tilde', 'beta'; got 'large'
    """
    if _TRUSTED.get():
        return value
    if not isinstance(value, str) or value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}; got {value!r}")
    return value


def earlier_timesteps(value: object, t, name: str = "t_prev"):
    """Return 0-based indices to step to, each in ``[-1, t - 1]`` for the batch's indices ``t``.

    ``-1`` stands for the data. Accepts an int (for the whole batch) or an integer tensor of shape
    ``()`` or ``(B,)``, like ``timesteps``.

    Examples:
        >>> import torch
        >>> earlier_timesteps(-1, torch.tensor([3, 0]))
        tensor([-1, -1])
        >>> earlier_timesteps(3, torch.tensor([3, 5]))
        Traceback (most recent call last):
        ValueError: t_prev must be below t and at least -1 (the data), got t_prev 3 for t 3
    """
    import torch

    if _TRUSTED.get() and isinstance(value, torch.Tensor):
        return value
    batch = t.shape[0]
    if isinstance(value, bool) or not isinstance(value, int | np.integer | torch.Tensor):
        raise ValueError(
            f"{name} must be an int or a LongTensor of shape ({batch},), got {type(value).__name__}"
        )
    if isinstance(value, torch.Tensor):
        if value.is_floating_point() or value.dtype == torch.bool:
            raise ValueError(f"{name} must hold integers, got a tensor of dtype {value.dtype}")
        if value.ndim == 0:
            value = value.reshape(1)
        if tuple(value.shape) not in ((1,), (batch,)):
            raise ValueError(f"{name} must have shape ({batch},), got {tuple(value.shape)}")
        value = value.long().expand(batch).to(t.device)
    else:
        value = torch.full((batch,), int(value), dtype=torch.long, device=t.device)
    bad = (value < -1) | (value >= t)
    if bool(bad.any()):
        i = int(bad.nonzero()[0])
        raise ValueError(
            f"{name} must be below t and at least -1 (the data), got {name} {int(value[i])} "
            f"for t {int(t[i])}"
        )
    return value


def broadcastable(**tensors: object) -> tuple:
    """Check finite float tensors that an elementwise formula combines; return them in order.

    Each must be a finite floating-point tensor (of any number of axes) with the dtype of the
    first, and all their shapes must broadcast together. The keywords are the argument names that
    error messages use: ``broadcastable(mean1=mean1, logvar1=logvar1)``.

    Raises:
        ValueError: naming the first argument that is not as described.

    Examples:
        >>> import torch
        >>> x, mean = broadcastable(x=torch.zeros(2, 3), mean=torch.zeros(3))
        >>> broadcastable(x=torch.zeros(2, 3), mean=torch.zeros(2))
        Traceback (most recent call last):
        ValueError: mean must broadcast with the shapes before it, (2, 3); got (2,)
        >>> broadcastable(x=torch.zeros(2), mean=torch.zeros(2, dtype=torch.float64))
        Traceback (most recent call last):
        ValueError: mean must have the dtype of x, torch.float32; got torch.float64
    """
    import torch

    if _TRUSTED.get():
        return tuple(tensors.values())
    (first_name, first), *others = tensors.items()
    first = float_tensor(first, first_name, min_dim=0)
    shape = tuple(first.shape)
    checked = [first]
    for name, value in others:
        value = float_tensor(value, name, min_dim=0)
        if value.dtype != first.dtype:
            raise ValueError(
                f"{name} must have the dtype of {first_name}, {first.dtype}; got {value.dtype}"
            )
        try:
            shape = tuple(torch.broadcast_shapes(shape, tuple(value.shape)))
        except RuntimeError:
            raise ValueError(
                f"{name} must broadcast with the shapes before it, {shape}; got {tuple(value.shape)}"
            ) from None
        checked.append(value)
    return tuple(checked)


def probabilities(value: object, name: str = "x"):
    """Return ``value`` if it is a finite float tensor with every entry in [0, 1].

    Bernoulli data are 0 or 1 (grey levels in between are accepted); images on the model's
    scale, $[-1, 1]$, must be mapped to $[0, 1]$ first.

    Examples:
        >>> import torch
        >>> probabilities(torch.tensor([0.0, 0.5, 1.0]))
        tensor([0.0000, 0.5000, 1.0000])
        >>> probabilities(torch.tensor([-1.0, 1.0]))
        Traceback (most recent call last):
        ValueError: x must lie in [0, 1] (map images in [-1, 1] with (x + 1) / 2), got values from -1 to 1
    """
    if _TRUSTED.get():
        return value
    value = float_tensor(value, name, min_dim=0)
    low, high = float(value.min()), float(value.max())
    if low < 0.0 or high > 1.0:
        raise ValueError(
            f"{name} must lie in [0, 1] (map images in [-1, 1] with (x + 1) / 2), "
            f"got values from {low:g} to {high:g}"
        )
    return value


def weights(value: object, name: str):
    """Return ``value`` if it is a finite number or a finite float tensor (an interpolation weight).

    Examples:
        >>> weights(0.25, "weight")
        0.25
        >>> weights(float("nan"), "weight")
        Traceback (most recent call last):
        ValueError: weight must be finite, got nan
    """
    import torch

    if isinstance(value, torch.Tensor):
        return float_tensor(
            value.to(torch.float64) if not value.is_floating_point() else value, name, min_dim=0
        )
    return number(value, name)


def noise_level(sigma: object, like: object, name: str = "sigma"):
    """Return noise levels as a tensor of shape ``(B,)``: one positive $\\sigma$ per example of ``like``.

    A function that adds Gaussian noise of standard deviation $\\sigma$ takes either one number
    for the whole batch or one level per example (a training batch mixes levels). The result has
    the dtype and device of ``like``, whose first axis is the batch.

    Examples:
        >>> import torch
        >>> noise_level(0.5, torch.zeros(3, 2))
        tensor([0.5000, 0.5000, 0.5000])
        >>> noise_level(0.0, torch.zeros(3, 2))
        Traceback (most recent call last):
        ValueError: sigma must be > 0, got 0.0
        >>> noise_level(torch.ones(2), torch.zeros(3, 2))
        Traceback (most recent call last):
        ValueError: sigma must be a number or a tensor of shape (3,), one level per example; got shape (2,)
    """
    import torch

    batch = like.shape[0]
    if isinstance(sigma, torch.Tensor):
        if _TRUSTED.get():
            return sigma.to(like.dtype).expand(batch) if sigma.ndim == 0 else sigma
        if not sigma.is_floating_point():
            raise ValueError(f"{name} must be a float tensor, got dtype {sigma.dtype}")
        if sigma.ndim == 0:
            sigma = sigma.expand(batch)
        if tuple(sigma.shape) != (batch,):
            raise ValueError(
                f"{name} must be a number or a tensor of shape ({batch},), one level per "
                f"example; got shape {tuple(sigma.shape)}"
            )
        if not bool(torch.isfinite(sigma).all()) or not bool((sigma > 0).all()):
            raise ValueError(f"{name} must be finite and > 0, got {sigma.tolist()}")
        return sigma.to(dtype=like.dtype, device=like.device)
    if isinstance(sigma, bool) or not isinstance(sigma, int | float | np.integer | np.floating):
        raise ValueError(
            f"{name} must be a number or a tensor of shape ({batch},), got {type(sigma).__name__}"
        )
    if not np.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"{name} must be > 0, got {sigma!r}")
    return torch.full((batch,), float(sigma), dtype=like.dtype, device=like.device)


def covariance_tensor(cov: object, name: str = "cov", dim: int | None = None):
    """Return a symmetric positive-definite ``(d, d)`` matrix (tensor, array or nested list) as a float64 tensor.

    The checks are those of [`covariance`][diffusion_path.tools.validation.covariance].

    Examples:
        >>> covariance_tensor([[2.0, 0.5], [0.5, 1.0]])
        tensor([[2.0000, 0.5000],
                [0.5000, 1.0000]], dtype=torch.float64)
        >>> covariance_tensor([[1.0, 2.0], [2.0, 1.0]])
        Traceback (most recent call last):
        ValueError: cov must be positive definite, got eigenvalues [-1.0, 3.0]
    """
    import torch

    if isinstance(cov, torch.Tensor):
        cov = cov.detach().cpu().double().numpy()
    return torch.as_tensor(covariance(cov, name, dim=dim), dtype=torch.float64)


def gaussian_law(mean: object, cov: object, like: object, like_name: str) -> tuple:
    """Check the law $\\mathcal N(\\boldsymbol\\mu, \\Sigma)$ of data whose examples are the rows of ``like``.

    ``like`` must be a finite float tensor of shape ``(B, d)``; ``mean`` a vector of length ``d``
    and ``cov`` a symmetric positive-definite ``(d, d)`` matrix (tensors, arrays or lists).

    Returns:
        ``(like, mean, cov)``, the last two as tensors of the dtype and device of ``like``.

    Examples:
        >>> import torch
        >>> _, mean, cov = gaussian_law([0.0, 1.0], torch.eye(2), torch.zeros(5, 2), "x")
        >>> mean, cov.dtype
        (tensor([0., 1.]), torch.float32)
        >>> gaussian_law([0.0], torch.eye(2), torch.zeros(5, 2), "x")
        Traceback (most recent call last):
        ValueError: mean must have length 2, the size of an example of x, got 1
    """
    import torch

    like = float_tensor(like, like_name, min_dim=2)
    if like.ndim != 2:
        raise ValueError(
            f"{like_name} must have shape (B, d), one example per row, got {tuple(like.shape)}"
        )
    d = like.shape[1]
    if isinstance(mean, torch.Tensor):
        mean = mean.detach().cpu().double().numpy()
    mean = mean_vector(mean, "mean")
    if mean.shape[0] != d:
        raise ValueError(
            f"mean must have length {d}, the size of an example of {like_name}, got {mean.shape[0]}"
        )
    cov = covariance_tensor(cov, "cov", dim=d)
    as_like = {"dtype": like.dtype, "device": like.device}
    return like, torch.as_tensor(mean, **as_like), cov.to(**as_like)


def example_size(x: object, size: int, name: str = "x"):
    """Return ``x`` if it is a finite float batch ``(B, ...)`` whose examples each hold ``size`` numbers.

    A network on flattened examples accepts ``(B, 64)`` and ``(B, 1, 8, 8)`` alike; an image of
    another size is refused with the shape that came.

    Examples:
        >>> import torch
        >>> example_size(torch.zeros(2, 1, 8, 8), 64).shape
        torch.Size([2, 1, 8, 8])
        >>> example_size(torch.zeros(2, 1, 7, 7), 64)
        Traceback (most recent call last):
        ValueError: x must hold 64 numbers per example, such as (B, 64) or (B, 1, 8, 8); got shape (2, 1, 7, 7)
    """
    x = float_tensor(x, name, min_dim=2)
    if _TRUSTED.get():
        return x
    per_example = int(np.prod(x.shape[1:]))
    if per_example != size:
        side = round(size**0.5)
        image = f" or (B, 1, {side}, {side})" if side * side == size else ""
        raise ValueError(
            f"{name} must hold {size} numbers per example, such as (B, {size}){image}; "
            f"got shape {tuple(x.shape)}"
        )
    return x


def batch_of(value: object, shape: tuple[int, ...], name: str = "x"):
    """Return ``value`` if it is a finite float tensor of shape ``(B, *shape)``: a batch of examples.

    Examples:
        >>> import torch
        >>> batch_of(torch.zeros(5, 1, 8, 8), (1, 8, 8)).shape
        torch.Size([5, 1, 8, 8])
        >>> batch_of(torch.zeros(5, 64), (1, 8, 8))
        Traceback (most recent call last):
        ValueError: x must have shape (B, 1, 8, 8), a batch of examples of shape (1, 8, 8); got (5, 64)
    """
    value = float_tensor(value, name)
    if _TRUSTED.get():
        return value
    shape = tuple(shape)
    if value.ndim != len(shape) + 1 or tuple(value.shape[1:]) != shape:
        wanted = ", ".join(["B", *(str(n) for n in shape)])
        raise ValueError(
            f"{name} must have shape ({wanted}), a batch of examples of shape {shape}; "
            f"got {tuple(value.shape)}"
        )
    return value


def latent_model(value: object, name: str = "model"):
    """Return ``value`` if it is a latent-variable model: it has ``encode`` and ``log_likelihood``.

    ``model.encode(x)`` returns the mean and the log-variance of $q(z \\mid x)$, each of shape
    ``(B, d)``; ``model.log_likelihood(x, z)`` returns $\\log p(x \\mid z)$ for ``z`` of shape
    ``(..., B, d)``, one number per example, of shape ``(..., B)``.

    Examples:
        >>> latent_model(lambda x: x)
        Traceback (most recent call last):
        ValueError: model must have the methods encode(x) and log_likelihood(x, z) (such as a VAE), got function
    """
    if not all(callable(getattr(value, method, None)) for method in ("encode", "log_likelihood")):
        raise ValueError(
            f"{name} must have the methods encode(x) and log_likelihood(x, z) (such as a VAE), "
            f"got {type(value).__name__}"
        )
    return value


def even_int(value: object, name: str, minimum: int = 2) -> int:
    """Return ``value`` as an even ``int`` of at least ``minimum`` (a number of sine-cosine pairs times two).

    Examples:
        >>> even_int(32, "dim")
        32
        >>> even_int(5, "dim")
        Traceback (most recent call last):
        ValueError: dim must be an even integer >= 2, got 5
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or value < minimum
        or value % 2
    ):
        raise ValueError(f"{name} must be an even integer >= {minimum}, got {value!r}")
    return int(value)


def step_values(value: object, name: str = "t", batch: int | None = None):
    """Return the steps of a batch as a 1-D tensor: integer or float, finite and >= 0.

    A network is called with one step per example. With ``batch`` given, the tensor must have
    that many entries, and a Python int stands for the same step for the whole batch.

    Examples:
        >>> import torch
        >>> step_values(torch.tensor([0, 5, 999]))
        tensor([  0,   5, 999])
        >>> step_values(3, batch=2)
        tensor([3, 3])
        >>> step_values(torch.tensor([[1, 2]]))
        Traceback (most recent call last):
        ValueError: t must be a 1-D tensor of steps, one per example, got shape (1, 2)
        >>> step_values(torch.tensor([1, 2]), batch=3)
        Traceback (most recent call last):
        ValueError: t must have 3 entries, one per example, got 2
    """
    import torch

    if _TRUSTED.get() and isinstance(value, torch.Tensor):
        return value
    if batch is not None and isinstance(value, int | np.integer) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {int(value)}")
        return torch.full((batch,), int(value), dtype=torch.long)
    if not isinstance(value, torch.Tensor) or value.dtype == torch.bool or value.is_complex():
        got = (
            f"a tensor of dtype {value.dtype}"
            if isinstance(value, torch.Tensor)
            else _describe(value)
        )
        raise ValueError(f"{name} must be a tensor of steps (integer or float), got {got}")
    if value.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D tensor of steps, one per example, got shape {tuple(value.shape)}"
        )
    if batch is not None and value.shape[0] != batch:
        raise ValueError(f"{name} must have {batch} entries, one per example, got {value.shape[0]}")
    if value.is_floating_point() and not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} must be finite, got NaN or inf")
    if value.numel() and float(value.min()) < 0:
        raise ValueError(f"{name} must be >= 0, got a smallest value of {float(value.min()):g}")
    return value


def step_indices(value: object, T: int, name: str = "t"):
    """Return 0-based step indices to evaluate at as a non-empty 1-D ``LongTensor``, each in ``[0, T-1]``.

    Accepts an int, a sequence of ints or a 1-D integer tensor.

    Examples:
        >>> step_indices([0, 10, 99], T=100)
        tensor([ 0, 10, 99])
        >>> step_indices(5, T=10)
        tensor([5])
        >>> step_indices([0, 100], T=100)
        Traceback (most recent call last):
        ValueError: t must lie in [0, 99] (0-based, T = 100), got values from 0 to 100
    """
    import torch

    if isinstance(value, bool):
        raise ValueError(f"{name} must be step indices (ints), got {value!r}")
    if isinstance(value, int | np.integer):
        value = [int(value)]
    if isinstance(value, list | tuple):
        if not all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in value):
            raise ValueError(f"{name} must hold ints only, got {value!r}")
        value = torch.tensor([int(v) for v in value], dtype=torch.long)
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{name} must be step indices (ints), got {type(value).__name__}")
    if value.is_floating_point() or value.is_complex():
        raise ValueError(f"{name} must be step indices (ints), got a tensor of dtype {value.dtype}")
    if value.dtype == torch.bool or value.ndim != 1 or value.numel() == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D sequence of ints, got shape {tuple(value.shape)}"
        )
    value = value.long()
    low, high = int(value.min()), int(value.max())
    if low < 0 or high > T - 1:
        raise ValueError(
            f"{name} must lie in [0, {T - 1}] (0-based, T = {T}), got values from {low} to {high}"
        )
    return value


def image_batch(value: object, name: str, channels: int, size: int):
    """Return ``value`` if it is a finite float batch of images of shape ``(B, channels, size, size)``.

    Examples:
        >>> import torch
        >>> image_batch(torch.zeros(2, 1, 8, 8), "x", channels=1, size=8).shape
        torch.Size([2, 1, 8, 8])
        >>> image_batch(torch.zeros(2, 1, 28, 28), "x", channels=1, size=32)
        Traceback (most recent call last):
        ValueError: x must have shape (B, 1, 32, 32), got (2, 1, 28, 28)
    """
    if _TRUSTED.get():
        return value
    value = float_tensor(value, name)
    if value.ndim != 4 or tuple(value.shape[1:]) != (channels, size, size):
        raise ValueError(
            f"{name} must have shape (B, {channels}, {size}, {size}), got {tuple(value.shape)}"
        )
    return value


def checked_predictor(model: object, shape: tuple[int, ...], name: str = "model"):
    """Wrap a noise predictor called on whole batches: ``t`` must be one index per example, the output finite.

    Like [`checked_model`][diffusion_path.tools.validation.checked_model], and the wrapper also
    says so when it is called with ``t`` as anything but a LongTensor of shape ``(B,)`` — the one
    form every network of the path accepts.

    Examples:
        >>> import torch
        >>> model = checked_predictor(lambda x, t: x, (2, 1))
        >>> model(torch.ones(2, 1), torch.tensor([3, 3])).shape
        torch.Size([2, 1])
        >>> model(torch.ones(2, 1), 3)
        Traceback (most recent call last):
        ValueError: model must be called with t as a LongTensor of shape (2,), one index per example, got int
    """
    import torch

    if not callable(model):
        raise ValueError(f"{name} must be callable as {name}(x_t, t), got {type(model).__name__}")

    def checked(x, t):
        if (
            not isinstance(t, torch.Tensor)
            or t.dtype != torch.long
            or tuple(t.shape) != (shape[0],)
        ):
            got = (
                f"{t.dtype} of shape {tuple(t.shape)}"
                if isinstance(t, torch.Tensor)
                else type(t).__name__
            )
            raise ValueError(
                f"{name} must be called with t as a LongTensor of shape ({shape[0]},), one index "
                f"per example, got {got}"
            )
        return finite_output(model(x, t), name, shape, f"at step t = {int(t[0])}")

    return checked


def on_levels(value: object, levels: int, name: str = "x"):
    """Return ``value`` if it is a finite float tensor whose entries sit on ``levels`` evenly spaced levels in [-1, 1].

    Data with ``levels`` grey levels, scaled to the model's range, take the values
    $-1 + 2k/(\\text{levels} - 1)$, $k = 0, \\dots, \\text{levels} - 1$: 256 levels for 8-bit
    images, 17 for scikit-learn's digits. A discretized likelihood gives each level its own bin,
    so a value between two levels (or the wrong number of levels) is refused. Rounding errors of
    a thousandth of a level are accepted.

    Examples:
        >>> import torch
        >>> on_levels(torch.tensor([-1.0, 0.0, 0.125, 1.0]), 17)  # the digits' 2p/16 - 1
        tensor([-1.0000,  0.0000,  0.1250,  1.0000])
        >>> on_levels(torch.tensor([-1.0, 0.0]), 256)
        Traceback (most recent call last):
        ValueError: x must lie on the 256 levels -1 + 2k/255 of data scaled to [-1, 1], got 0 (level 127.5); is levels the data's number of levels?
    """
    import torch

    value = float_tensor(value, name, min_dim=0)
    if _TRUSTED.get():
        return value
    level = (value.detach().to(torch.float64) + 1.0) * (levels - 1) / 2.0
    off = (level - level.round()).abs() > 1e-3
    outside = (level < -1e-3) | (level > levels - 1 + 1e-3)
    bad = off | outside
    if bool(bad.any()):
        i = int(bad.flatten().nonzero()[0])
        got, where = float(value.flatten()[i]), float(level.flatten()[i])
        raise ValueError(
            f"{name} must lie on the {levels} levels -1 + 2k/{levels - 1} of data scaled to "
            f"[-1, 1], got {got:.6g} (level {where:.6g}); is levels the data's number of levels?"
        )
    return value


def prediction(value: object, like: object, learned: bool = False, name: str = "model_output"):
    """Return a network's output if it is a finite float tensor of the shape and dtype of ``like``.

    With a learned variance (Improved DDPM eq. (15)) the network returns two tensors stacked
    along axis 1, the noise and the interpolation weight $v$: twice the channels of ``like``
    (twice the coordinates of a point).

    Examples:
        >>> import torch
        >>> prediction(torch.zeros(2, 4), torch.zeros(2, 2), learned=True).shape
        torch.Size([2, 4])
        >>> prediction(torch.zeros(2, 2), torch.zeros(2, 2), learned=True)
        Traceback (most recent call last):
        ValueError: model_output must have shape (2, 4) (the noise and v along axis 1, for a learned variance), got (2, 2)
    """
    value = float_tensor(value, name)
    if _TRUSTED.get():
        return value
    shape = tuple(like.shape)
    if learned:
        shape = (shape[0], 2 * shape[1], *shape[2:])
    if tuple(value.shape) != shape:
        what = " (the noise and v along axis 1, for a learned variance)" if learned else ""
        raise ValueError(f"{name} must have shape {shape}{what}, got {tuple(value.shape)}")
    if value.dtype != like.dtype:
        raise ValueError(f"{name} must have the dtype {like.dtype}, got {value.dtype}")
    return value


def step_sampler(value: object, T: int, name: str = "sampler"):
    """Return ``value`` if it is ``None`` or samples steps for a schedule of ``T`` steps.

    A step sampler has ``T``, ``sample(batch, generator)`` (returning the indices and their
    probabilities) and ``update(t, losses)``.

    Examples:
        >>> step_sampler(None, 10) is None
        True
        >>> step_sampler("uniform", 10)
        Traceback (most recent call last):
        ValueError: sampler must be None or a step sampler with T, sample(batch, generator) and update(t, losses) (such as ImportanceSampler(T)), got str
    """
    if value is None:
        return None
    if not all(callable(getattr(value, method, None)) for method in ("sample", "update")) or (
        not hasattr(value, "T")
    ):
        raise ValueError(
            f"{name} must be None or a step sampler with T, sample(batch, generator) and "
            f"update(t, losses) (such as ImportanceSampler(T)), got {type(value).__name__}"
        )
    if value.T != T:
        raise ValueError(f"{name} must sample the schedule's {T} steps, got one for {value.T}")
    return value
