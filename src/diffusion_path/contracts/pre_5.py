"""Contract of Pre-Task 5: corrupting with noise, the denoising loss, the best Gaussian denoiser, Tweedie's score.

Ground truth, computed here in NumPy and never by the reference:

- the corruption and the loss on hand-made inputs, with the noise given, so that every value is
  known exactly; the expected loss of a shrinking denoiser $a\\tilde x$ in closed form,
  $(1 - a)^2 x^2 + a^2\\sigma^2$ per entry, for the noise the function draws itself;
- for Gaussian data, the posterior mean $\\boldsymbol\\mu + \\Sigma(\\Sigma + \\sigma^2 I)^{-1}
  (\\tilde x - \\boldsymbol\\mu)$ by a linear solve, its error floor
  $\\operatorname{tr}(\\Sigma - \\Sigma(\\Sigma + \\sigma^2 I)^{-1}\\Sigma)/d$, a Monte-Carlo run in which the
  optimal denoiser's squared error must match that floor (in standard errors) and its error
  must be uncorrelated with the noisy input, and the exact score $-(\\Sigma + \\sigma^2 I)^{-1}(\\tilde x
  - \\boldsymbol\\mu)$ of the noisy data;
- for a 1-D mixture of Gaussians, $\\mathbb E[x \\mid \\tilde x]$ by numerical integration and the
  score of the blurred mixture by hand: Tweedie's formula must turn the one into the other.

The batches are chosen to make mistakes visible: a square batch (as many examples as entries)
lets a noise level applied along the wrong axis run silently and give wrong numbers, and a
correlated covariance separates its eigenvalues from its diagonal.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from diffusion_path.contracts.asserts import (
    assert_close,
    assert_ks,
    assert_within_se,
    expect,
    normal_cdf,
    to_numpy,
)
from diffusion_path.contracts.base import Contract, Invalid, call
from diffusion_path.contracts.inputs import seeded_randn as _randn

CONTRACT = Contract("pre-5")
check = CONTRACT.check

#: A Gaussian in 3-D with correlated coordinates: eigenvalues far from the diagonal entries.
MEAN = np.array([0.5, -1.0, 0.2])
COV = np.array([[1.0, 0.6, 0.2], [0.6, 0.8, -0.3], [0.2, -0.3, 0.5]])
#: One noise level per example of a batch of five.
SIGMAS = np.array([0.2, 0.5, 1.0, 2.0, 0.7])


def _t(array: np.ndarray) -> torch.Tensor:
    return torch.tensor(array, dtype=torch.float64)


def _which(got: object, mistakes: list[tuple[str, object]], default: str) -> str:
    """The hint of the first known mistake whose result ``got`` equals; ``default`` if none."""
    value = to_numpy(got)
    for hint, wrong in mistakes:
        wrong = np.asarray(wrong, dtype=np.float64)
        if value.shape == wrong.shape and np.allclose(value, wrong, rtol=1e-6, atol=1e-9):
            return hint
    return default


def _posterior_mean(x_noisy: np.ndarray, sigmas: np.ndarray, mean=MEAN, cov=COV) -> np.ndarray:
    """E[x | x_noisy] for x ~ N(mean, cov), row by row, by a linear solve of (cov + sigma^2 I)."""
    d = len(mean)
    out = np.empty_like(x_noisy)
    for i, (row, sigma) in enumerate(zip(x_noisy, sigmas, strict=True)):
        out[i] = mean + cov @ np.linalg.solve(cov + sigma**2 * np.eye(d), row - mean)
    return out


# ----------------------------------------------------------------------------- add_noise
ADD_HINT = (
    "Eq. (P5.1): the noisy batch is the clean one plus sigma times the standard normal noise eps "
    "that the input checks hand you — sigma the standard deviation, one level per example."
)
PER_EXAMPLE_HINT = (
    "sigma holds one level per example, shape (B,): per_example(sigma, x) shapes it to "
    "(B, 1, ..., 1) so that it multiplies each example's own entries — a bare (B,) vector, or "
    "one reshaped to (B, 1) for images, is multiplied along the wrong axis."
)
STD_HINT = (
    "sigma is the standard deviation of the noise, not its variance: scale eps by sigma, not by "
    "sigma squared (P5.1)."
)

CONTRACT.function(
    "add_noise",
    lambda: call(
        _randn(3, 3, seed=1), _t([0.5, 1.0, 2.0]), generator=torch.Generator().manual_seed(0)
    ),
    invalid=[
        Invalid("sigma", _t([0.5, -1.0, 1.0]), "a negative level"),
        Invalid("sigma", 0.0, "sigma = 0.0"),
        Invalid("sigma", _t([0.5, 1.0]), "2 levels for a batch of 3"),
        Invalid(
            "noise", lambda a: torch.zeros(3, 2, dtype=torch.float64), "noise of another shape"
        ),
    ],
    hints=(
        "Eq. (P5.1): shift each example by its own noise, scaled by its own sigma — the standard "
        "deviation, not the variance.",
        "Multiply eps (the noise the input checks give you) by each example's sigma — the given "
        "per_example tool shapes the (B,) levels to broadcast over an example's entries — and add "
        "it to x. Return a new tensor; leave x as it is.",
    ),
)


@check("add_noise", hint=ADD_HINT)
def adds_sigma_times_the_noise(impl):
    """With the noise given, add_noise returns x + sigma eps, one level per example, for vectors and images."""
    x, eps, sigma = _randn(3, 3, seed=10), _randn(3, 3, seed=11), np.array([0.5, 1.0, 2.0])
    x_, eps_ = to_numpy(x).copy(), to_numpy(eps).copy()
    got = impl.add_noise(x, _t(sigma), noise=eps)
    expect(
        np.array_equal(to_numpy(x), x_),
        "add_noise changed its argument x",
        "Return a new tensor — x + ..., not x += ... or x.add_(...), which change the caller's "
        "clean batch in place.",
    )
    hint = _which(
        got,
        [
            (PER_EXAMPLE_HINT, x_ + sigma[None, :] * eps_),
            (STD_HINT, x_ + sigma[:, None] ** 2 * eps_),
            (ADD_HINT + " The result does not depend on sigma at all.", x_ + eps_),
        ],
        ADD_HINT,
    )
    assert_close(got, x_ + sigma[:, None] * eps_, "x + sigma eps (3 examples of 3)", hint=hint)
    assert_close(
        impl.add_noise(x, 0.3, noise=eps),
        x_ + 0.3 * eps_,
        "x + sigma eps with one sigma",
        hint=hint,
    )
    images, noise = _randn(2, 1, 2, 2, seed=12), _randn(2, 1, 2, 2, seed=13)
    levels = np.array([0.25, 4.0])
    got = impl.add_noise(images, _t(levels), noise=noise)
    expected = to_numpy(images) + levels[:, None, None, None] * to_numpy(noise)
    assert_close(
        got, expected, "x + sigma eps for a batch of images (2, 1, 2, 2)", hint=PER_EXAMPLE_HINT
    )


@check("add_noise", hint=STD_HINT)
def draws_standard_normal_noise(impl):
    """Without noise, (x_noisy - x) / sigma is N(0, 1) (KS test), for examples at two levels."""
    n = 20_000
    x = torch.linspace(-1, 1, n, dtype=torch.float64).reshape(n, 1)
    sigma = np.where(np.arange(n) % 2 == 0, 0.5, 2.0)
    got = impl.add_noise(x, _t(sigma), generator=torch.Generator().manual_seed(5))
    z = (to_numpy(got)[:, 0] - to_numpy(x)[:, 0]) / sigma
    assert_ks(z, normal_cdf, "(x_noisy - x) / sigma", hint=STD_HINT)


# ----------------------------------------------------------------------------- denoising_loss
def _shrink(x_noisy: torch.Tensor, sigma: object = None) -> torch.Tensor:
    """A hand-made denoiser: 0.8 times the noisy input."""
    return 0.8 * x_noisy


class _Recorder:
    """A denoiser 0.7 x + 0.1 that keeps what it was called with."""

    def __init__(self) -> None:
        self.calls: list[tuple[torch.Tensor, object]] = []

    def __call__(self, x_noisy: torch.Tensor, sigma: object = None) -> torch.Tensor:
        seen = sigma.detach().clone() if isinstance(sigma, torch.Tensor) else sigma
        self.calls.append((x_noisy.detach().clone(), seen))
        return 0.7 * x_noisy + 0.1


LOSS_HINT = (
    "Eq. (P5.3): corrupt x with add_noise (passing on generator and noise), give the model the "
    "noisy batch and sigma, and average the squared error to the clean x over every entry."
)
CORRUPTED_HINT = (
    "The model must see the corrupted batch x + sigma eps, made by add_noise with the noise you "
    "were given — not the clean x, and not fresh noise of your own."
)
CLEAN_TARGET_HINT = (
    "A denoiser is scored against the clean batch x (P5.3): the squared error between the "
    "model's output and x — not the noisy batch, and not the noise."
)
AVERAGE_HINT = (
    "Average the squared error over every entry of the batch — examples and their d numbers "
    "alike (the mean, not a sum, and not a sum within each example)."
)

CONTRACT.function(
    "denoising_loss",
    lambda: call(_shrink, _randn(4, 3, seed=2), 0.5, generator=torch.Generator().manual_seed(0)),
    invalid=[
        Invalid("sigma", _t([0.5, 1.0]), "2 levels for a batch of 4"),
        Invalid("sigma", _t([0.5, 1.0, -1.0, 2.0]), "a negative level"),
        Invalid(
            "noise", lambda a: torch.zeros(4, 2, dtype=torch.float64), "noise of another shape"
        ),
    ],
    uses=("add_noise",),
    hints=(
        "Eq. (P5.3): the model sees a corrupted copy of the batch and is scored by how close its "
        "output comes to the clean batch — the mean of the squared error.",
        "Corrupt the batch with your add_noise, passing the generator and the noise on; ask the "
        "model for its output on the noisy batch and sigma; the loss is the mean, over all "
        "entries, of the squared difference between that output and the clean x, as a tensor.",
    ),
)


@check("denoising_loss", hint=LOSS_HINT)
def loss_is_the_squared_error_to_the_clean_batch(impl):
    """With the noise given, the model sees x + sigma eps and sigma, and the loss is mean((D - x)^2)."""
    x, eps = _randn(4, 3, seed=20), _randn(4, 3, seed=21)
    sigma = np.array([0.3, 0.6, 1.0, 1.5])
    model = _Recorder()
    loss = impl.denoising_loss(model, x, _t(sigma), noise=eps)
    x_, eps_ = to_numpy(x), to_numpy(eps)
    noisy = x_ + sigma[:, None] * eps_
    expect(len(model.calls) >= 1, "the model was never called", LOSS_HINT)
    seen_x, seen_sigma = model.calls[-1]
    assert_close(seen_x, noisy, "the batch the model was given", hint=CORRUPTED_HINT)
    expect(
        isinstance(seen_sigma, torch.Tensor) and tuple(seen_sigma.shape) == (4,),
        f"the model was given sigma = {seen_sigma!r}, not the levels of the 4 examples",
        "Call the model as model(x_noisy, sigma), with sigma as the input checks made it: one "
        "level per example, shape (B,). A conditional denoiser needs to know the noise level.",
    )
    assert_close(seen_sigma, sigma, "the noise levels the model was given")
    out = 0.7 * noisy + 0.1
    hint = _which(
        loss,
        [
            (AVERAGE_HINT, np.sum((out - x_) ** 2)),
            (AVERAGE_HINT, np.mean(np.sum((out - x_) ** 2, axis=1))),
            (CLEAN_TARGET_HINT, np.mean((out - noisy) ** 2)),
            (CLEAN_TARGET_HINT, np.mean((out - eps_) ** 2)),
            (CLEAN_TARGET_HINT, np.mean((out - sigma[:, None] * eps_) ** 2)),
        ],
        LOSS_HINT,
    )
    expect(
        isinstance(loss, torch.Tensor) and loss.ndim == 0,
        f"the loss has shape {tuple(getattr(loss, 'shape', ()))}, not a single number",
        AVERAGE_HINT,
    )
    assert_close(loss, np.mean((out - x_) ** 2), "the loss", hint=hint)


class _Scale(torch.nn.Module):
    """The denoiser a x + b, with parameters a and b."""

    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(0.6, dtype=torch.float64))
        self.b = torch.nn.Parameter(torch.tensor(0.1, dtype=torch.float64))

    def forward(self, x_noisy: torch.Tensor, sigma: object = None) -> torch.Tensor:
        return self.a * x_noisy + self.b


GRADIENT_HINT = (
    "Training needs the gradient of the loss: return the tensor itself — no .item(), "
    ".detach() or torch.no_grad() between the model's output and the loss."
)


@check("denoising_loss", hint=GRADIENT_HINT)
def gradients_flow_through_the_loss(impl):
    """The loss of the denoiser a x + b has the gradient in a and b that (P5.3) gives by hand."""
    x, eps = _randn(5, 2, seed=30), _randn(5, 2, seed=31)
    model = _Scale()
    loss = impl.denoising_loss(model, x, 0.8, noise=eps)
    expect(
        isinstance(loss, torch.Tensor) and loss.requires_grad,
        "the loss carries no gradient: it cannot train the model",
        GRADIENT_HINT,
    )
    loss.backward()
    noisy = to_numpy(x) + 0.8 * to_numpy(eps)
    error = 0.6 * noisy + 0.1 - to_numpy(x)
    for name, expected in (("a", np.mean(2 * error * noisy)), ("b", np.mean(2 * error))):
        grad = getattr(model, name).grad
        expect(grad is not None, f"the loss has no gradient in the parameter {name}", GRADIENT_HINT)
        assert_close(grad, expected, f"the gradient in {name}", hint=LOSS_HINT)


@check("denoising_loss", hint=LOSS_HINT)
def expected_loss_of_a_shrinking_denoiser(impl):
    """With noise from the generator, the loss of 0.8 x_noisy averages (0.2 x)^2 + 0.64 sigma^2 per entry."""
    n, a = 4000, 0.8
    x = torch.linspace(-2, 2, 2 * n, dtype=torch.float64).reshape(n, 2)
    sigma = np.where(np.arange(n) % 2 == 0, 0.5, 1.5)
    loss = impl.denoising_loss(_shrink, x, _t(sigma), generator=torch.Generator().manual_seed(7))
    m = (a - 1) * to_numpy(x)  # the error's mean, entry by entry
    s2 = (a * sigma[:, None]) ** 2 * np.ones_like(m)  # and its variance
    truth = float(np.mean(m**2 + s2))
    se = math.sqrt(float(np.sum(2 * s2**2 + 4 * m**2 * s2))) / m.size
    assert_within_se(float(to_numpy(loss)), truth, se, "the loss of 0.8 x_noisy", hint=LOSS_HINT)


# ----------------------------------------------------------------------------- optimal denoiser
SHRINK_HINT = (
    "Eq. (P5.5): E[x | x_noisy] = mu + cov (cov + sigma^2 I)^-1 (x_noisy - mu). In the "
    "eigenbasis of cov each component of the deviation from the mean is multiplied by "
    "lambda / (lambda + sigma^2): kept where the data varies much, shrunk where the noise wins."
)
OPTIMAL_HINTS = {
    "variance": "The noise adds sigma^2 to every variance: the factor is lambda / (lambda + "
    "sigma^2), with the variance sigma^2, not the standard deviation sigma.",
    "anchor": "The answer starts from the mean: mu plus the shrunk deviation. Without mu, every "
    "denoised point is pulled toward 0 instead of toward the data's mean.",
    "centre": "Shrink the deviation from the mean, x_noisy - mu, not x_noisy itself; then add mu back.",
    "complement": "The weight on the deviation is lambda / (lambda + sigma^2), which goes to 1 as "
    "the noise vanishes — sigma^2 / (lambda + sigma^2) is the share that is removed.",
    "diagonal": "Use the whole covariance — its eigenvalues and eigenvectors (torch.linalg.eigh) — "
    "not only its diagonal: correlated coordinates tell about each other.",
    "first": "Each example has its own noise level: use per_example(sigma, x_noisy), not one sigma "
    "for the whole batch.",
}

CONTRACT.function(
    "optimal_gaussian_denoiser",
    lambda: call(_randn(5, 3, seed=3), _t(MEAN), _t(COV), _t(SIGMAS)),
    invalid=[
        Invalid(
            "mean", lambda a: torch.zeros(2, dtype=torch.float64), "mean of length 2 for d = 3"
        ),
        Invalid("cov", _t(COV - np.diag([0.0, 0.0, 2.0])), "cov not positive definite"),
        Invalid("cov", _t(COV + np.triu(np.ones((3, 3)), 1)), "cov not symmetric"),
        Invalid("sigma", _t(-SIGMAS), "negative levels"),
        Invalid(
            "x_noisy",
            lambda a: torch.zeros(5, 1, 3, dtype=torch.float64),
            "x_noisy of shape (5, 1, 3)",
        ),
    ],
    hints=(
        "Eq. (P5.5): the posterior mean of a Gaussian prior and a Gaussian likelihood. It moves "
        "from the mean toward the noisy point — far where the data varies more than the noise, "
        "little where the noise dominates.",
        "Take the eigenvalues lambda_i and eigenvectors of cov (a symmetric eigendecomposition); "
        "rotate x_noisy minus the mean into that basis; multiply component i by "
        "lambda_i / (lambda_i + sigma^2), with each example's own sigma; rotate back and add the "
        "mean.",
    ),
)


@check("optimal_gaussian_denoiser", hint=SHRINK_HINT)
def is_the_gaussian_posterior_mean(impl):
    """optimal_gaussian_denoiser is mu + Sigma (Sigma + sigma^2 I)^-1 (x_noisy - mu), one sigma per example."""
    x_noisy = 2 * _randn(5, 3, seed=40)
    got = impl.optimal_gaussian_denoiser(x_noisy, _t(MEAN), _t(COV), _t(SIGMAS))
    x_ = to_numpy(x_noisy)
    d = len(MEAN)
    eye = np.eye(d)
    shrunk = np.array(
        [COV @ np.linalg.solve(COV + s**2 * eye, r - MEAN) for r, s in zip(x_, SIGMAS, strict=True)]
    )
    hint = _which(
        got,
        [
            (OPTIMAL_HINTS["variance"], _posterior_mean(x_, np.sqrt(SIGMAS))),
            (OPTIMAL_HINTS["anchor"], shrunk),
            (OPTIMAL_HINTS["centre"], _posterior_mean(x_ + MEAN, SIGMAS)),
            (OPTIMAL_HINTS["complement"], x_ - shrunk),
            (OPTIMAL_HINTS["diagonal"], _posterior_mean(x_, SIGMAS, cov=np.diag(np.diag(COV)))),
            (OPTIMAL_HINTS["first"], _posterior_mean(x_, np.full(5, SIGMAS[0]))),
        ],
        SHRINK_HINT,
    )
    assert_close(got, MEAN + shrunk, "E[x | x_noisy] (5 examples, 5 noise levels)", hint=hint)
    got = impl.optimal_gaussian_denoiser(x_noisy, _t(MEAN), _t(COV), 0.6)
    assert_close(
        got, _posterior_mean(x_, np.full(5, 0.6)), "E[x | x_noisy] with one sigma", hint=hint
    )


@check("optimal_gaussian_denoiser", hint=SHRINK_HINT)
def keeps_the_point_or_answers_the_mean(impl):
    """With almost no noise the noisy point is kept; with overwhelming noise the answer is the mean."""
    x_noisy = _randn(4, 3, seed=41)
    small = impl.optimal_gaussian_denoiser(x_noisy, _t(MEAN), _t(COV), 1e-4)
    assert_close(
        small,
        x_noisy,
        "E[x | x_noisy] at sigma = 1e-4",
        rtol=1e-4,
        hint=OPTIMAL_HINTS["complement"],
    )
    large = impl.optimal_gaussian_denoiser(x_noisy, _t(MEAN), _t(COV), 1e4)
    assert_close(
        large,
        np.tile(MEAN, (4, 1)),
        "E[x | x_noisy] at sigma = 1e4",
        rtol=1e-4,
        hint=OPTIMAL_HINTS["anchor"],
    )


@check("optimal_gaussian_denoiser", hint=SHRINK_HINT)
def reaches_the_error_floor(impl):
    """On samples of N(mu, Sigma), its squared error matches the floor of (P5.6), and its error is uncorrelated with x_noisy."""
    n, sigma, d = 20_000, 0.8, len(MEAN)
    rng = np.random.default_rng(8)
    x = MEAN + rng.standard_normal((n, d)) @ np.linalg.cholesky(COV).T
    x_noisy = x + sigma * rng.standard_normal((n, d))
    denoised = to_numpy(impl.optimal_gaussian_denoiser(_t(x_noisy), _t(MEAN), _t(COV), sigma))
    error = x - denoised
    # the error x - E[x | x_noisy] is N(0, P) with P = Sigma - Sigma (Sigma + sigma^2 I)^-1 Sigma
    P = COV - COV @ np.linalg.solve(COV + sigma**2 * np.eye(d), COV)
    se = math.sqrt(2 * np.trace(P @ P) / n) / d
    mse = float(np.mean(error**2))
    assert_within_se(mse, np.trace(P) / d, se, "the mean squared error", hint=SHRINK_HINT)
    # E[(x - D)_i (x_noisy - mu)_j] = 0: what is left cannot be predicted from the input
    centred = x_noisy - MEAN
    outer = COV + sigma**2 * np.eye(d)
    for i in range(d):
        for j in range(d):
            se = math.sqrt(P[i, i] * outer[j, j] / n)
            estimate = float(np.mean(error[:, i] * centred[:, j]))
            assert_within_se(estimate, 0.0, se, f"the error's correlation with x_noisy [{i}, {j}]")


# ----------------------------------------------------------------------------- gaussian_mmse
FLOOR_HINT = (
    "Eq. (P5.6): the floor is the posterior variance per coordinate — in the eigenbasis of cov, "
    "lambda sigma^2 / (lambda + sigma^2) for each eigenvalue lambda, averaged over the d directions."
)
FLOOR_HINTS = {
    "mean": "Per coordinate: average the d terms (divide the trace by d), do not add them up.",
    "variance": "The noise variance is sigma^2: each term is lambda sigma^2 / (lambda + sigma^2).",
    "kept": "lambda^2 / (lambda + sigma^2) is the variance the denoiser keeps; the error left is "
    "what it cannot recover, lambda sigma^2 / (lambda + sigma^2).",
    "diagonal": "Use the eigenvalues of cov (torch.linalg.eigvalsh), not its diagonal entries: "
    "correlated coordinates help each other.",
}

CONTRACT.function(
    "gaussian_mmse",
    lambda: call(_t(COV), 0.7),
    invalid=[Invalid("cov", _t(COV - np.diag([0.0, 0.0, 2.0])), "cov not positive definite")],
    hints=(
        "Eq. (P5.6): the error of the best denoiser is the variance that remains about x once "
        "x_noisy is seen, per coordinate. Along each principal axis the data's variance and the "
        "noise's combine like two resistors in parallel.",
        "With the eigenvalues lambda_i of cov (a symmetric eigendecomposition), the floor is the "
        "mean over i of lambda_i sigma^2 / (lambda_i + sigma^2), returned as a Python float.",
    ),
)


@check("gaussian_mmse", hint=FLOOR_HINT)
def is_the_posterior_variance_per_coordinate(impl):
    """gaussian_mmse is tr(Sigma - Sigma (Sigma + sigma^2 I)^-1 Sigma) / d, and s^2 sigma^2 / (s^2 + sigma^2) for s^2 I."""
    d, sigma, eye = len(MEAN), 0.7, np.eye(len(MEAN))
    got = impl.gaussian_mmse(_t(COV), sigma)
    kept = np.trace(COV @ np.linalg.solve(COV + sigma**2 * eye, COV))
    floor = np.trace(COV) - kept
    diagonal = np.diag(COV)
    hint = _which(
        got,
        [
            (FLOOR_HINTS["mean"], floor),
            (
                FLOOR_HINTS["variance"],
                np.trace(COV - COV @ np.linalg.solve(COV + sigma * eye, COV)) / d,
            ),
            (FLOOR_HINTS["kept"], kept / d),
            (FLOOR_HINTS["diagonal"], np.mean(diagonal * sigma**2 / (diagonal + sigma**2))),
        ],
        FLOOR_HINT,
    )
    assert_close(got, floor / d, "the floor for a correlated 3-D Gaussian", hint=hint)
    s2 = 2.0
    got = impl.gaussian_mmse(_t(s2 * np.eye(4)), 0.5)
    assert_close(got, s2 * 0.25 / (s2 + 0.25), "the floor for 2 I in 4-D at sigma = 0.5", hint=hint)


@check("gaussian_mmse", hint=FLOOR_HINT)
def lies_below_both_trivial_denoisers(impl):
    """The floor grows with sigma and stays below sigma^2 (keep x_noisy) and tr(Sigma) / d (answer the mean)."""
    floors = [impl.gaussian_mmse(_t(COV), s) for s in (0.1, 0.5, 1.0, 3.0)]
    for s, floor in zip((0.1, 0.5, 1.0, 3.0), floors, strict=True):
        expect(
            0 < floor < min(s**2, np.trace(COV) / len(MEAN)),
            f"at sigma = {s} the floor is {floor:.4g}; it must lie in (0, min(sigma^2, tr(cov) / d))"
            f" = (0, {min(s**2, np.trace(COV) / len(MEAN)):.4g})",
        )
    expect(floors == sorted(floors), f"the floor does not grow with sigma: {floors}")


# ----------------------------------------------------------------------------- tweedie_score
TWEEDIE_HINT = (
    "Eq. (P5.7): Tweedie's formula E[x | x_noisy] = x_noisy + sigma^2 score, solved for the "
    "score: (denoised - x_noisy) / sigma^2, each example by its own sigma."
)
TWEEDIE_HINTS = {
    "variance": "Divide by the noise variance sigma^2, not by sigma: the score of N(x, sigma^2) at "
    "x_noisy is (x - x_noisy) / sigma^2.",
    "sign": "The score points from the noisy point toward the data: denoised minus x_noisy, not "
    "the other way round.",
    "divide": "Solve (P5.7) for the score: divide the step by sigma^2, do not multiply.",
}

CONTRACT.function(
    "tweedie_score",
    lambda: call(_randn(3, 3, seed=4), _randn(3, 3, seed=5), _t([0.5, 1.0, 2.0])),
    invalid=[
        Invalid(
            "denoised",
            lambda a: torch.zeros(3, 2, dtype=torch.float64),
            "denoised of another shape",
        ),
        Invalid("sigma", _t([0.5, 0.0, 1.0]), "a zero level"),
    ],
    hints=(
        "Eq. (P5.7): Tweedie's formula says the best denoiser moves the noisy point by sigma^2 "
        "times the score. Read it backwards.",
        "The difference denoised minus x_noisy, divided by each example's sigma squared (the "
        "given per_example tool shapes sigma to broadcast).",
    ),
)


@check("tweedie_score", hint=TWEEDIE_HINT)
def is_tweedie_solved_for_the_score(impl):
    """tweedie_score is (denoised - x_noisy) / sigma^2, one sigma per example, for vectors and images."""
    denoised, x_noisy, sigma = (
        _randn(3, 3, seed=50),
        _randn(3, 3, seed=51),
        np.array([0.5, 1.0, 2.0]),
    )
    got = impl.tweedie_score(denoised, x_noisy, _t(sigma))
    step = to_numpy(denoised) - to_numpy(x_noisy)
    hint = _which(
        got,
        [
            (PER_EXAMPLE_HINT, step / sigma[None, :] ** 2),
            (TWEEDIE_HINTS["variance"], step / sigma[:, None]),
            (TWEEDIE_HINTS["sign"], -step / sigma[:, None] ** 2),
            (TWEEDIE_HINTS["divide"], step * sigma[:, None] ** 2),
        ],
        TWEEDIE_HINT,
    )
    assert_close(got, step / sigma[:, None] ** 2, "the score (3 examples of 3)", hint=hint)
    images, noisy = _randn(2, 1, 2, 2, seed=52), _randn(2, 1, 2, 2, seed=53)
    got = impl.tweedie_score(images, noisy, _t([0.5, 2.0]))
    expected = (to_numpy(images) - to_numpy(noisy)) / np.array([0.25, 4.0])[:, None, None, None]
    assert_close(
        got, expected, "the score for a batch of images (2, 1, 2, 2)", hint=PER_EXAMPLE_HINT
    )


@check("tweedie_score", hint=TWEEDIE_HINT)
def gives_the_exact_score_of_gaussian_data(impl):
    """From the exact denoiser of N(mu, Sigma), it gives the score of N(mu, Sigma + sigma^2 I): -(Sigma + sigma^2 I)^-1 (x_noisy - mu)."""
    x_noisy = 2 * to_numpy(_randn(5, 3, seed=54))
    denoised = _posterior_mean(x_noisy, SIGMAS)
    got = impl.tweedie_score(_t(denoised), _t(x_noisy), _t(SIGMAS))
    d = len(MEAN)
    exact = [
        -np.linalg.solve(COV + s**2 * np.eye(d), r - MEAN)
        for r, s in zip(x_noisy, SIGMAS, strict=True)
    ]
    assert_close(got, exact, "the score of the noisy Gaussian data")


#: A 1-D mixture: weights, means and standard deviations.
MIXTURE = (np.array([0.3, 0.5, 0.2]), np.array([-2.0, 0.5, 3.0]), np.array([0.4, 0.7, 0.3]))


def _mixture_denoiser(x_noisy: np.ndarray, sigma: float) -> np.ndarray:
    """E[x | x_noisy] for the 1-D mixture, by integrating x p(x) N(x_noisy; x, sigma^2) on a fine grid."""
    weights, means, stds = MIXTURE
    grid = np.linspace(-12.0, 14.0, 40_001)
    prior = sum(
        w * np.exp(-0.5 * ((grid - m) / s) ** 2) / s
        for w, m, s in zip(weights, means, stds, strict=True)
    )
    likelihood = np.exp(-0.5 * ((x_noisy[:, None] - grid[None, :]) / sigma) ** 2)
    joint = prior[None, :] * likelihood
    # a uniform grid, and an integrand that vanishes at both ends: the sum is the trapezoid rule
    return (joint * grid).sum(1) / joint.sum(1)


def _mixture_score(x_noisy: np.ndarray, sigma: float) -> np.ndarray:
    """d/dx log sum_k w_k N(x; m_k, s_k^2 + sigma^2), by hand."""
    weights, means, stds = MIXTURE
    variances = stds**2 + sigma**2
    density = (
        weights * np.exp(-0.5 * (x_noisy[:, None] - means) ** 2 / variances) / np.sqrt(variances)
    )
    slope = density * (-(x_noisy[:, None] - means) / variances)
    return slope.sum(1) / density.sum(1)


@check("tweedie_score", hint=TWEEDIE_HINT)
def gives_the_exact_score_of_a_mixture(impl):
    """From E[x | x_noisy] of a 1-D mixture (by integration), it gives the score of the blurred mixture."""
    x_noisy = np.linspace(-4.0, 5.0, 19)
    for sigma in (0.3, 1.2):
        denoised = _mixture_denoiser(x_noisy, sigma)
        got = impl.tweedie_score(_t(denoised[:, None]), _t(x_noisy[:, None]), sigma)
        assert_close(
            got, _mixture_score(x_noisy, sigma)[:, None], f"the score at sigma = {sigma}", rtol=1e-5
        )


__all__ = ["CONTRACT"]
