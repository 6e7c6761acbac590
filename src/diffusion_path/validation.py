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


# ----------------------------------------------------------------------------- PyTorch tensors
# The helpers below serve the diffusion tasks (Core 1 on); they import torch lazily, so
# that the NumPy tasks do not pay for it.


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
    """Return ``value`` if it is a floating-point ``torch.Tensor`` with at least ``min_dim`` axes.

    Examples:
        >>> import torch
        >>> float_tensor(torch.arange(3), "x0")
        Traceback (most recent call last):
        ValueError: x0 must be a floating-point torch.Tensor, got Tensor of dtype torch.int64
    """
    import torch

    if not isinstance(value, torch.Tensor) or not value.is_floating_point():
        raise ValueError(
            f"{name} must be a floating-point torch.Tensor, got {type(value).__name__}"
            + (f" of dtype {value.dtype}" if isinstance(value, torch.Tensor) else "")
        )
    if value.ndim < min_dim:
        raise ValueError(
            f"{name} must have at least {min_dim} dimension(s) (batch first), got shape {tuple(value.shape)}"
        )
    return value


def same_shape(value: object, name: str, like: object, like_name: str):
    """Return ``value`` as a float tensor if its shape equals ``like``'s.

    Examples:
        >>> import torch
        >>> same_shape(torch.zeros(2, 3), "noise", torch.zeros(2, 2), "x0")
        Traceback (most recent call last):
        ValueError: noise must have the shape of x0, (2, 2); got (2, 3)
    """
    value = float_tensor(value, name)
    if tuple(value.shape) != tuple(like.shape):
        raise ValueError(
            f"{name} must have the shape of {like_name}, {tuple(like.shape)}; got {tuple(value.shape)}"
        )
    return value


def noise_schedule(value: object, name: str = "schedule"):
    """Return ``value`` if it looks like a noise schedule: it has ``T``, ``betas`` and ``alpha_bars``.

    Examples:
        >>> noise_schedule([0.1, 0.2])
        Traceback (most recent call last):
        ValueError: schedule must be a NoiseSchedule (with T, betas, alpha_bars, alpha_bars_prev), got list
    """
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
        ValueError: t must lie in [0, 9] (0-based, T = 10), got values from 10 to 10
    """
    import torch

    if isinstance(value, bool):
        raise ValueError(
            f"{name} must be an int or a LongTensor of shape ({batch},), got {value!r}"
        )
    if isinstance(value, int | np.integer):
        value = torch.full((batch,), int(value), dtype=torch.long)
    elif isinstance(value, torch.Tensor):
        if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
            raise ValueError(f"{name} must hold integers, got a tensor of dtype {value.dtype}")
        if value.ndim == 0:
            value = value.reshape(1).expand(batch)
        elif tuple(value.shape) != (batch,):
            raise ValueError(
                f"{name} must have shape ({batch},) to match the batch, got {tuple(value.shape)}"
            )
        value = value.long()
    else:
        raise ValueError(
            f"{name} must be an int or a LongTensor of shape ({batch},), got {type(value).__name__}"
        )
    if value.numel() and (int(value.min()) < 0 or int(value.max()) > T - 1):
        raise ValueError(
            f"{name} must lie in [0, {T - 1}] (0-based, T = {T}), got values from "
            f"{int(value.min())} to {int(value.max())}"
        )
    return value
