"""Contract of Pre-Task 4: the KL term, the reparameterisation trick, the likelihoods, the ELBO and the IWAE bound.

Ground truth: ``torch.distributions`` (an independent library) for the KL divergence and the
two likelihoods, and a linear-Gaussian model — probabilistic PCA — for the bounds. Its decoder is
$x = Wz + \\mu + \\sigma\\varepsilon$, so everything the bounds approximate is known in closed
form and computed here in NumPy: $\\log p(x) = \\log\\mathcal N(x; \\mu, WW^\\top + \\sigma^2 I)$,
the true posterior (diagonal, since the columns of $W$ are orthogonal), and the exact ELBO of
any diagonal Gaussian $q$. With the true posterior as the encoder the ELBO's mean is
$\\log p(x)$ and every importance weight equals $p(x)$; with the prior as the encoder the IWAE
bound must climb towards $\\log p(x)$ as $k$ grows. Statistical verdicts are stated in standard
errors (one false-alarm rate for all, ``FAILURE_RATE``).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from diffusion_path.contracts.asserts import (
    Z_BOUND,
    assert_close,
    assert_within_se,
    expect,
    to_numpy,
)
from diffusion_path.contracts.base import Contract, Failure, Invalid, call
from diffusion_path.contracts.inputs import seeded_randn as _randn

CONTRACT = Contract("pre-4")
check = CONTRACT.check


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------- the PPCA model
# x = W z + mu + sigma eps in D = 4 dimensions with a d = 2 code; W has orthogonal columns of
# lengths 1.5 and 0.8, so the true posterior is diagonal.
_Q = np.linalg.qr(np.random.default_rng(4).standard_normal((4, 2)))[0]
W = _Q * np.array([1.5, 0.8])
MU = np.array([0.5, -1.0, 0.2, 1.0])
SIGMA = 0.6
D, d = W.shape


def _data(seed: int, n: int = 5) -> np.ndarray:
    """n draws of the PPCA model."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)) @ W.T + MU + SIGMA * rng.standard_normal((n, D))


def _log_px(x: np.ndarray) -> np.ndarray:
    """Exact log p(x) = log N(x; mu, W W^T + sigma^2 I), by hand."""
    cov = W @ W.T + SIGMA**2 * np.eye(D)
    _, log_det = np.linalg.slogdet(cov)
    r = x - MU
    maha = np.einsum("bi,ij,bj->b", r, np.linalg.inv(cov), r)
    return -0.5 * (maha + log_det + D * math.log(2 * math.pi))


def _posterior(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of p(z | x): M^-1 W^T (x - mu) and sigma^2 M^-1, M = W^T W + sigma^2 I."""
    M = W.T @ W + SIGMA**2 * np.eye(d)
    mean = (x - MU) @ W @ np.linalg.inv(M).T
    return mean, np.tile(np.diag(SIGMA**2 * np.linalg.inv(M)), (x.shape[0], 1))


def _exact_elbo(x: np.ndarray, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    """The ELBO of q = N(mean, diag var) in closed form: E_q log p(x | z) - KL(q || N(0, I))."""
    residual = x - mean @ W.T - MU
    expected = -0.5 * (
        ((residual**2).sum(1) + var @ (W**2).sum(0)) / SIGMA**2
        + D * math.log(2 * math.pi * SIGMA**2)
    )
    kl = 0.5 * (var + mean**2 - 1 - np.log(var)).sum(1)
    return expected - kl


def _log_normal(x: np.ndarray, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    """log N(x; mean, var), elementwise, by hand."""
    return -0.5 * (np.log(2 * math.pi * var) + (x - mean) ** 2 / var)


class _PPCA:
    """The PPCA model with a chosen encoder, written here in torch (float64) independently of the task.

    encoder: "posterior" (exact), "prior" (N(0, I)) or "shifted" (the posterior with its mean
    moved by 0.3 and its log-variance by 0.5: a q that is wrong, with a known ELBO).
    """

    def __init__(self, encoder: str = "posterior") -> None:
        self.encoder = encoder

    def q(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of q(z | x), in NumPy."""
        if self.encoder == "prior":
            return np.zeros((x.shape[0], d)), np.ones((x.shape[0], d))
        mean, var = _posterior(x)
        if self.encoder == "shifted":
            return mean + 0.3, var * math.exp(0.5)
        return mean, var

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, var = self.q(to_numpy(x))
        return (
            torch.tensor(mean, dtype=x.dtype),
            torch.tensor(np.log(var), dtype=x.dtype),
        )

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        w = torch.tensor(W, dtype=z.dtype)
        mu = torch.tensor(MU, dtype=z.dtype)
        residual = x - (z @ w.T + mu)
        return -0.5 * ((residual**2).sum(-1) / SIGMA**2 + D * math.log(2 * math.pi * SIGMA**2))


def _log_likelihood(x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """log p(x | z) of the PPCA decoder, by hand, for z of shape (..., B, d)."""
    residual = x - (z @ W.T + MU)
    return -0.5 * ((residual**2).sum(-1) / SIGMA**2 + D * math.log(2 * math.pi * SIGMA**2))


# ----------------------------------------------------------------------------- normal_kl
def _kl_args(seed: int, shape=(4, 3)) -> tuple[torch.Tensor, ...]:
    return tuple(_randn(*shape, seed=seed + i) for i in range(4))


CONTRACT.function(
    "normal_kl",
    lambda: call(*_kl_args(0, (3, 2))),
    invalid=[
        Invalid("logvar2", lambda a: torch.zeros(4, dtype=torch.float64), "logvar2 of shape (4,)"),
        Invalid(
            "mean2", lambda a: a["mean2"].float(), "mean2 of another dtype", ("mean2", "dtype")
        ),
    ],
    hints=(
        "Eq. (P4.4): Pre-Task 1's KL of two Gaussians (P1.6) with diagonal covariances splits into "
        "one term per coordinate — a log-ratio of the variances, the first variance and the "
        "squared distance of the means over the second variance, minus one, all halved.",
        "With v = e^logvar for each side: one half of (logvar2 − logvar1 + v1/v2 + (mean1 − mean2)²/v2 "
        "− 1), entry by entry; compute v1/v2 as e^(logvar1 − logvar2) and 1/v2 as e^(−logvar2) so "
        "that no variance is formed on its own. Do not sum: the caller sums over the coordinates "
        "of one example.",
    ),
)
KL_HINT = (
    "KL(N(mu1, s1^2) || N(mu2, s2^2)) = 0.5 * [log(s2^2 / s1^2) + (s1^2 + (mu1 - mu2)^2) / s2^2 - 1] "
    "(P4.4): the first Gaussian's variance over the second's, not the other way round, and the "
    "squared mean difference divided by the SECOND variance."
)


@check("normal_kl", hint=KL_HINT)
def kl_matches_torch_distributions(impl):
    """normal_kl equals torch.distributions' KL of two Normals at every entry, and is 0 for equal Gaussians."""
    mean1, logvar1, mean2, logvar2 = _kl_args(10)
    got = impl.normal_kl(mean1, logvar1, mean2, logvar2)
    expect(
        isinstance(got, torch.Tensor) and tuple(got.shape) == (4, 3),
        f"normal_kl returned shape {tuple(getattr(got, 'shape', ()))}, expected (4, 3), one "
        "value per coordinate",
        "Return the KL of each coordinate, elementwise: do not sum or average over any axis.",
    )
    same = impl.normal_kl(mean1, logvar1, mean1, logvar1)
    assert_close(
        same,
        torch.zeros(4, 3),
        "the KL of a Gaussian from itself",
        hint="For equal Gaussians every term cancels: the log-ratio is 0, the variance ratio 1, "
        "and the '- 1' removes it. Missing '- 1' or a factor on the log-ratio leaves a "
        "constant.",
    )
    p = torch.distributions.Normal(mean1, torch.exp(0.5 * logvar1))
    q = torch.distributions.Normal(mean2, torch.exp(0.5 * logvar2))
    assert_close(got, torch.distributions.kl_divergence(p, q), "KL(p || q)", hint=KL_HINT)


@check("normal_kl", hint="Write it elementwise, so that torch broadcasts the shapes for you.")
def kl_broadcasts(impl):
    """normal_kl broadcasts: a (5, 3) Gaussian against the standard normal given as two scalars."""
    mean1, logvar1 = _randn(5, 3, seed=20), _randn(5, 3, seed=21)
    zero = torch.zeros((), dtype=torch.float64)
    got = impl.normal_kl(mean1, logvar1, zero, zero)
    expected = 0.5 * (torch.exp(logvar1) + mean1**2 - 1 - logvar1)
    assert_close(got, expected, "KL from the standard normal, -(1 + log s^2 - mu^2 - s^2) / 2")


# ----------------------------------------------------------------------------- reparameterize
CONTRACT.function(
    "reparameterize",
    lambda: call(_randn(3, 2, seed=1), _randn(3, 2, seed=2), generator=_gen(0)),
    invalid=[
        Invalid(
            "logvar", lambda a: torch.zeros(3, 3, dtype=torch.float64), "logvar of shape (3, 3)"
        ),
        Invalid("noise", lambda a: torch.zeros(3, 3, dtype=torch.float64), "noise of shape (3, 3)"),
    ],
    hints=(
        "Eq. (P4.5): a code is the mean plus the standard deviation times standard normal noise — "
        "the randomness sits in the noise, which does not depend on the parameters, so gradients "
        "reach mean and logvar.",
        "The standard deviation is e^(logvar / 2), not the variance; the noise is the one given, or "
        "standard normal noise of the mean's shape and dtype drawn from the generator; the code is "
        "mean plus standard deviation times noise — nothing detached, no sampling method of a "
        "distribution object, gradients left on.",
    ),
)
REPARAM_HINT = (
    "z = mean + exp(0.5 * logvar) * eps (P4.5): the standard deviation is the exponential of HALF "
    "the log-variance, and the noise you are given is eps itself."
)


@check("reparameterize", hint=REPARAM_HINT)
def sample_is_mean_plus_std_times_noise(impl):
    """With the noise given, z = mean + exp(logvar / 2) * noise exactly."""
    mean, logvar, eps = _randn(4, 3, seed=30), _randn(4, 3, seed=31), _randn(4, 3, seed=32)
    got = impl.reparameterize(mean, logvar, noise=eps)
    expected = to_numpy(mean) + np.exp(0.5 * to_numpy(logvar)) * to_numpy(eps)
    assert_close(got, expected, "z", hint=REPARAM_HINT)


@check("reparameterize", hint=REPARAM_HINT)
def samples_have_the_right_moments(impl):
    """Drawn from the generator, z has mean mu and variance exp(logvar) in every coordinate."""
    n = 20_000
    mean = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64).expand(n, 3)
    logvar = torch.tensor([0.0, math.log(4.0), math.log(0.25)], dtype=torch.float64).expand(n, 3)
    z = to_numpy(impl.reparameterize(mean, logvar, generator=_gen(5)))
    expect(z.shape == (n, 3), f"z has shape {z.shape}, expected ({n}, 3)")
    for j, (m, v) in enumerate(zip([1.0, -2.0, 0.5], [1.0, 4.0, 0.25], strict=True)):
        assert_within_se(float(z[:, j].mean()), m, math.sqrt(v / n), f"the mean of coordinate {j}")
        assert_within_se(
            float(z[:, j].var()),
            v,
            v * math.sqrt(2 / n),
            f"the variance of coordinate {j}",
            hint="The variance of z must be exp(logvar): scale standard normal noise by "
            "exp(0.5 * logvar), the standard deviation.",
        )


GRADIENT_HINT = (
    "z must be computed from mean and logvar by torch operations that autograd can follow: "
    "mean + exp(0.5 * logvar) * eps. Sampling with .sample() or torch.normal, .detach(), "
    "torch.no_grad() or a round trip through NumPy cuts the gradient."
)


@check("reparameterize", hint=GRADIENT_HINT)
def gradients_flow_through_the_sample(impl):
    """dz/dmean = 1 and dz/dlogvar = exp(logvar / 2) * eps / 2, with the noise given and drawn."""
    logvar0, eps = _randn(4, 3, seed=40), _randn(4, 3, seed=41)
    for given in (True, False):
        mean = _randn(4, 3, seed=42).requires_grad_(True)
        logvar = logvar0.clone().requires_grad_(True)
        if given:
            z = impl.reparameterize(mean, logvar, noise=eps)
            noise = eps
        else:
            z = impl.reparameterize(mean, logvar, generator=_gen(6))
            noise = (z.detach() - mean.detach()) / torch.exp(0.5 * logvar0)
        how = "with the noise given" if given else "with the noise drawn"
        expect(
            isinstance(z, torch.Tensor) and z.requires_grad,
            f"{how}, z does not depend on mean and logvar for autograd (requires_grad is False)",
            GRADIENT_HINT,
        )
        z.sum().backward()
        expect(
            mean.grad is not None and logvar.grad is not None,
            f"{how}, no gradient reached " + ("mean" if mean.grad is None else "logvar"),
            GRADIENT_HINT,
        )
        assert_close(mean.grad, torch.ones(4, 3), f"dz/dmean ({how})", hint=GRADIENT_HINT)
        assert_close(
            logvar.grad,
            0.5 * torch.exp(0.5 * logvar0) * noise,
            f"dz/dlogvar ({how})",
            hint=GRADIENT_HINT,
        )


# ----------------------------------------------------------------------------- gaussian_log_likelihood
CONTRACT.function(
    "gaussian_log_likelihood",
    lambda: call(_randn(3, 2, seed=1), _randn(2, seed=2), _randn(3, 2, seed=3)),
    invalid=[
        Invalid("mean", lambda a: torch.zeros(3, dtype=torch.float64), "mean of shape (3,)"),
    ],
    hints=(
        "Eq. (P4.7): Pre-Task 1's density (P1.1) in logs, one entry at a time: a normalising "
        "constant, half the log-variance, and half the squared distance to the mean in units of "
        "the variance — all with a minus sign.",
        "Minus one half of (log 2π + logvar + (x − mean)² e^(−logvar)), entry by entry; the "
        "variance is e^logvar, not e^(logvar / 2). Do not sum over any axis.",
    ),
)
GAUSSIAN_HINT = (
    "log N(x; mu, s^2) = -0.5 * [log(2 pi) + log s^2 + (x - mu)^2 / s^2] (P4.7): the constant "
    "log(2 pi), the log-VARIANCE once, and the squared distance divided by the variance "
    "exp(logvar), all times -1/2."
)


@check("gaussian_log_likelihood", hint=GAUSSIAN_HINT)
def gaussian_matches_torch_distributions(impl):
    """The log-density equals torch.distributions.Normal's at every entry, with broadcasting."""
    x, mean, logvar = _randn(4, 3, seed=50), _randn(3, seed=51), _randn(4, 1, seed=52)
    got = impl.gaussian_log_likelihood(x, mean, logvar)
    expect(
        isinstance(got, torch.Tensor) and tuple(got.shape) == (4, 3),
        f"the result has shape {tuple(getattr(got, 'shape', ()))}, expected the broadcast shape "
        "(4, 3)",
        "Work elementwise and let torch broadcast x, mean and logvar; do not sum over any axis.",
    )
    zero = torch.zeros(1, dtype=torch.float64)
    assert_close(
        impl.gaussian_log_likelihood(zero, zero, zero),
        [-0.5 * math.log(2 * math.pi)],
        "log N(0; 0, 1)",
        hint="At x = mean with variance 1 only the normalising constant is left: "
        "-0.5 * log(2 pi) = -0.919.",
    )
    assert_close(
        impl.gaussian_log_likelihood(zero, zero, zero + math.log(9.0)),
        [-0.5 * math.log(2 * math.pi * 9.0)],
        "log N(0; 0, 9) at the mean",
        hint="The log-variance enters once, with the factor -1/2: -0.5 * logvar, i.e. "
        "-log(sigma), not -logvar.",
    )
    expected = torch.distributions.Normal(mean, torch.exp(0.5 * logvar)).log_prob(x)
    assert_close(got, expected, "log N(x; mean, exp(logvar))", hint=GAUSSIAN_HINT)


# ----------------------------------------------------------------------------- bernoulli_log_likelihood
def _pixels(seed: int, shape=(4, 5)) -> torch.Tensor:
    return (torch.rand(*shape, generator=_gen(seed), dtype=torch.float64) > 0.5).double()


CONTRACT.function(
    "bernoulli_log_likelihood",
    lambda: call(_pixels(1, (3, 2)), _randn(3, 2, seed=2)),
    invalid=[
        Invalid("x", lambda a: 2 * a["x"] - 1, "x on the model's scale [-1, 1]"),
        Invalid(
            "logits", lambda a: torch.zeros(2, 3, dtype=torch.float64), "logits of shape (2, 3)"
        ),
    ],
    hints=(
        "Eq. (P4.6): a pixel is 1 with probability π = sigmoid(logit); the log-probability of x is "
        "x log π + (1 − x) log(1 − π), which simplifies to x·logit − log(1 + e^logit).",
        "Compute x times the logit minus the softplus of the logit, log(1 + e^logit), entry by "
        "entry, with the library's stable softplus: it holds for any logit, unlike the log of a "
        "sigmoid, which is −∞ once the sigmoid rounds to 0 or 1.",
    ),
)
BERNOULLI_HINT = (
    "log p(x | logit) = x log(pi) + (1 - x) log(1 - pi) with pi = sigmoid(logit) (P4.6): the "
    "logit is the log-odds of a 1, so a large positive logit makes x = 1 likely and x = 0 unlikely."
)
STABLE_HINT = (
    "Use the form x * logit - softplus(logit) (P4.6): log(1 - sigmoid(l)) is -inf once sigmoid(l) "
    "rounds to 1 (l above about 37 in float64, 17 in float32), log(sigmoid(l)) once it rounds to "
    "0, and 0 * (-inf) is NaN."
)


@check("bernoulli_log_likelihood", hint=BERNOULLI_HINT)
def bernoulli_matches_torch_distributions(impl):
    """For 0/1 pixels the result is torch.distributions.Bernoulli(logits).log_prob(x), elementwise."""
    x, logits = _pixels(60), 3 * _randn(4, 5, seed=61)
    got = impl.bernoulli_log_likelihood(x, logits)
    expect(
        isinstance(got, torch.Tensor) and tuple(got.shape) == (4, 5),
        f"the result has shape {tuple(getattr(got, 'shape', ()))}, expected (4, 5), one value "
        "per pixel",
        "Work elementwise; do not sum over the pixels (the caller does).",
    )
    expected = torch.distributions.Bernoulli(logits=logits).log_prob(x)
    assert_close(got, expected, "log p(x | logits)", hint=BERNOULLI_HINT)
    grey = torch.full((4, 5), 0.3, dtype=torch.float64)
    cross_entropy = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, grey, reduction="none"
    )
    assert_close(
        impl.bernoulli_log_likelihood(grey, logits),
        -cross_entropy,
        "the value at grey levels (x = 0.3)",
        hint="Keep the formula linear in x — x * logit - softplus(logit) — rather than choosing "
        "a case by x == 1: for grey levels it is then the negative binary cross-entropy.",
    )


@check("bernoulli_log_likelihood", hint=STABLE_HINT)
def bernoulli_is_stable_for_large_logits(impl):
    """Logits of +-30, +-100 and +-1000 give the exact, finite log-probabilities, in float32 and float64."""
    logits = [30.0, -30.0, 100.0, -100.0, 1000.0, -1000.0]
    for dtype in (torch.float64, torch.float32):
        for x_value in (0.0, 1.0):
            x = torch.full((6,), x_value, dtype=dtype)
            got = to_numpy(impl.bernoulli_log_likelihood(x, torch.tensor(logits, dtype=dtype)))
            # x l - softplus(l) with softplus(l) = max(l, 0) + log1p(exp(-|l|)), by hand
            exact = np.array(
                [x_value * v - (max(v, 0.0) + math.log1p(math.exp(-abs(v)))) for v in logits]
            )
            expect(
                np.all(np.isfinite(got)),
                f"with x = {x_value:g} and logits {logits} ({str(dtype)[6:]}) the result is "
                f"{got.tolist()}: not finite",
                STABLE_HINT,
            )
            assert_close(got, exact, f"log p(x = {x_value:g}) at large logits", rtol=1e-5)


# ----------------------------------------------------------------------------- elbo
CONTRACT.function(
    "elbo",
    lambda: call(torch.tensor(_data(0, 3)), _PPCA("shifted"), generator=_gen(0)),
    invalid=[
        Invalid("noise", lambda a: torch.zeros(3, 3, dtype=torch.float64), "noise of shape (3, 3)"),
        Invalid("model", lambda a: object(), "a model without encode and log_likelihood"),
    ],
    uses=("reparameterize", "normal_kl"),
    hints=(
        "Eqs. (P4.3), (P4.8): encode x into q(z | x); draw one code per example by the "
        "reparameterisation trick; the ELBO is the log-likelihood of x at that code minus the KL "
        "of q from the standard normal prior, computed exactly.",
        "Ask the model's encoder for the mean and log-variance of q(z | x); draw one code per example "
        "with your reparameterize, passing the generator and the noise on; the reconstruction term "
        "is the model's log-likelihood of x at that code; the KL is your normal_kl against mean 0 "
        "and log-variance 0, summed over the code's coordinates. Return the ELBO (their "
        "difference), the reconstruction and the KL, one of each per example.",
    ),
)
KL_TERM_HINT = (
    "The KL term is normal_kl(mean, logvar, 0, 0) — from q(z | x) to the prior N(0, I), whose "
    "mean and log-variance are both 0 — summed over the code's coordinates (the last axis): one "
    "number per example, never negative."
)
RECONSTRUCTION_HINT = (
    "The reconstruction term is model.log_likelihood(x, z) at the SAMPLED code z = mean + std * "
    "noise from your reparameterize, with the noise (or generator) passed on — not at the mean."
)


@check("elbo", hint="elbo returns (reconstruction - kl, reconstruction, kl), each of shape (B,).")
def elbo_terms_with_given_noise(impl):
    """With the noise given, the KL term, the reconstruction term and their difference are exact."""
    x = _data(70)
    model = _PPCA("shifted")
    eps = _randn(5, d, seed=71)
    try:
        out = impl.elbo(torch.tensor(x), model, noise=eps)
    except ValueError as error:
        raise Failure(
            f"elbo(x, model, noise=...) raised ValueError: {error}", RECONSTRUCTION_HINT
        ) from None
    expect(
        isinstance(out, tuple) and len(out) == 3,
        f"elbo returned {type(out).__name__}, not the tuple (elbo, reconstruction, kl)",
        "Return three tensors: (reconstruction - kl, reconstruction, kl).",
    )
    bound, reconstruction, kl = out
    for name, value in (("elbo", bound), ("reconstruction", reconstruction), ("kl", kl)):
        expect(
            isinstance(value, torch.Tensor) and tuple(value.shape) == (5,),
            f"the {name} term has shape {tuple(getattr(value, 'shape', ()))}, expected (5,): one "
            "number per example",
            "Sum the KL over the code's coordinates (the last axis) and do not average over the "
            "batch: return one number per example.",
        )
    mean, var = model.q(x)
    exact_kl = 0.5 * (var + mean**2 - 1 - np.log(var)).sum(1)
    assert_close(kl, exact_kl, "the KL term", hint=KL_TERM_HINT)
    z = mean + np.sqrt(var) * to_numpy(eps)
    assert_close(
        reconstruction, _log_likelihood(x, z), "the reconstruction term", hint=RECONSTRUCTION_HINT
    )
    assert_close(
        bound,
        _log_likelihood(x, z) - exact_kl,
        "the ELBO",
        hint="The ELBO is the reconstruction term MINUS the KL term (P4.3).",
    )


@check("elbo", hint=RECONSTRUCTION_HINT)
def elbo_averages_to_the_exact_bound(impl):
    """Over many draws the ELBO's mean is log p(x) with the true posterior, and the exact ELBO of a wrong q."""
    x = _data(80)
    repeats = 4000
    batch = torch.tensor(np.repeat(x, repeats, axis=0))
    for encoder in ("posterior", "shifted"):
        model = _PPCA(encoder)
        mean, var = model.q(x)
        exact = _log_px(x) if encoder == "posterior" else _exact_elbo(x, mean, var)
        draws = to_numpy(impl.elbo(batch, model, generator=_gen(8))[0]).reshape(5, repeats)
        for i in range(5):
            assert_within_se(
                float(draws[i].mean()),
                float(exact[i]),
                float(draws[i].std(ddof=1) / math.sqrt(repeats)),
                f"the mean ELBO of example {i} with q = {encoder}"
                + (" (log p(x), exactly)" if encoder == "posterior" else ""),
            )
    gap = _log_px(x) - _exact_elbo(x, *_PPCA("shifted").q(x))
    expect(bool(np.all(gap > 0)), "internal: a wrong q must have a gap")  # sanity of the truth


@check(
    "elbo",
    hint="Keep every step differentiable: no .detach(), no torch.no_grad(), no .item() or NumPy "
    "inside elbo — training follows the gradient of this number to the encoder.",
)
def elbo_gradient_reaches_the_encoder(impl):
    """With a differentiable encoder, the ELBO's gradient with respect to its mean and log-variance is exact."""
    x = _data(90, 3)
    eps = _randn(3, d, seed=91)
    mean0, var0 = _PPCA("shifted").q(x)
    shift = torch.zeros(d, dtype=torch.float64, requires_grad=True)
    log_scale = torch.zeros(d, dtype=torch.float64, requires_grad=True)

    class Encoder(_PPCA):
        def encode(self, x):
            mean = torch.tensor(mean0) + shift
            logvar = torch.tensor(np.log(var0)) + log_scale
            return mean, logvar

    bound, _, _ = impl.elbo(torch.tensor(x), Encoder("shifted"), noise=eps)
    expect(
        isinstance(bound, torch.Tensor) and bound.requires_grad,
        "the ELBO does not depend on the encoder's outputs for autograd",
        "Keep every step differentiable: no .detach(), no torch.no_grad(), no NumPy inside elbo.",
    )
    bound.sum().backward()
    # by hand: z = m + s eps; d/dm [log p(x | z)] = W^T (x - W z - mu) / sigma^2; d KL / dm = m
    m, s = mean0, np.sqrt(var0)
    z = m + s * to_numpy(eps)
    score = (x - z @ W.T - MU) @ W / SIGMA**2
    grad_shift = (score - m).sum(0)
    # d/d(log s^2): dz = s eps / 2; d KL = (s^2 - 1) / 2
    grad_log_scale = (score * s * to_numpy(eps) / 2 - (s**2 - 1) / 2).sum(0)
    expect(
        shift.grad is not None and log_scale.grad is not None,
        "no gradient reached the encoder's mean or log-variance",
        "Keep every step differentiable: no .detach(), no torch.no_grad(), no NumPy inside elbo.",
    )
    assert_close(shift.grad, grad_shift, "dELBO/dmean (summed over the batch)")
    assert_close(log_scale.grad, grad_log_scale, "dELBO/dlogvar (summed over the batch)")


# ----------------------------------------------------------------------------- iwae_bound
CONTRACT.function(
    "iwae_bound",
    lambda: call(torch.tensor(_data(0, 3)), _PPCA("shifted"), 4, generator=_gen(0)),
    invalid=[
        Invalid(
            "noise",
            lambda a: torch.zeros(3, 2, dtype=torch.float64),
            "noise of shape (B, d) instead of (k, B, d)",
        ),
    ],
    uses=("reparameterize", "gaussian_log_likelihood"),
    hints=(
        "Eq. (P4.9): importance sampling (P2.6) with q(z | x) as the proposal. Draw k codes per "
        "example; each weight is p(x | z) p(z) / q(z | x); the bound is the log of their MEAN, "
        "not the mean of their logs (that is the ELBO).",
        "Encode x once and repeat its mean and log-variance k times along a new first axis; draw the "
        "k codes with your reparameterize; each log-weight is the model's log-likelihood of x at the "
        "code, plus the standard normal prior's log-density of the code, minus q's log-density of it "
        "(your gaussian_log_likelihood, summed over the code's coordinates). The bound is the "
        "log-sum-exp of the k log-weights minus log k, computed stably.",
    ),
)
IWAE_HINT = (
    "log w_i = log p(x | z_i) + log p(z_i) - log q(z_i | x) with log p(z) the standard normal "
    "log-density and log q that of N(mean, exp(logvar)), each summed over the code's coordinates; "
    "the bound is logsumexp over the k codes (the first axis) minus log k (P4.9)."
)


def _iwae_by_hand(x: np.ndarray, model: _PPCA, eps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The log-weights (k, B) for given noise, and the bound, computed in NumPy."""
    mean, var = model.q(x)
    z = mean + np.sqrt(var) * eps
    log_w = (
        _log_likelihood(x, z) + _log_normal(z, 0.0, 1.0).sum(-1) - _log_normal(z, mean, var).sum(-1)
    )
    top = log_w.max(0)
    return log_w, top + np.log(np.mean(np.exp(log_w - top), axis=0))


@check("iwae_bound", hint=IWAE_HINT)
def iwae_with_given_noise_is_the_log_mean_weight(impl):
    """With the noise given, the bound is log (1/k) sum_i w_i of the exact weights."""
    x, k = _data(100), 7
    model = _PPCA("shifted")
    eps = _randn(k, 5, d, seed=101)
    got = impl.iwae_bound(torch.tensor(x), model, k, noise=eps)
    expect(
        isinstance(got, torch.Tensor) and tuple(got.shape) == (5,),
        f"the bound has shape {tuple(getattr(got, 'shape', ()))}, expected (5,): one number per "
        "example",
        "Reduce over the k codes (the first axis), not over the batch or the code's coordinates.",
    )
    log_w, expected = _iwae_by_hand(x, model, to_numpy(eps))
    value = to_numpy(got)
    expect(
        not np.allclose(value, log_w.mean(0), rtol=1e-6),
        "the result is the mean of the log-weights: that is the ELBO (k = 1 averaged), not the "
        "IWAE bound",
        "Average the weights, then take the log: logsumexp over the k codes minus log k — not the "
        "mean of the log-weights.",
    )
    expect(
        not np.allclose(value, expected + math.log(k), rtol=1e-6),
        "the result is log of the SUM of the weights: it misses - log k",
        "The bound is the log of the MEAN weight: torch.logsumexp(log_w, 0) - log(k).",
    )
    assert_close(got, expected, "the IWAE bound", hint=IWAE_HINT)


@check("iwae_bound", hint=IWAE_HINT)
def iwae_with_the_true_posterior_is_exact(impl):
    """With the true posterior as q every weight equals p(x), so the bound is log p(x) for any k."""
    x = _data(110)
    for k in (1, 5):
        got = impl.iwae_bound(torch.tensor(x), _PPCA("posterior"), k, generator=_gen(k))
        assert_close(
            got,
            _log_px(x),
            f"the bound with the true posterior, k = {k}",
            hint="With q the true posterior, p(x | z) p(z) / q(z | x) = p(x) for every z: check "
            "the log-density of the prior (mean 0, log-variance 0) and that of q (the encoder's "
            "mean and log-variance), each summed over the code's coordinates.",
        )


@check(
    "iwae_bound",
    hint="Compute the log of the mean weight from the log-weights with torch.logsumexp: "
    "exponentiating a log-weight below about -745 gives 0 in float64, and log(0) = -inf.",
)
def iwae_is_stable_for_tiny_weights(impl):
    """For data far from the model (log-weights in the thousands below zero) the bound stays finite and exact."""
    x = _data(120) + 40.0
    model = _PPCA("shifted")
    eps = _randn(6, 5, d, seed=121)
    got = to_numpy(impl.iwae_bound(torch.tensor(x), model, 6, noise=eps))
    _, expected = _iwae_by_hand(x, model, to_numpy(eps))
    expect(
        np.all(np.isfinite(got)),
        f"with log-weights near {expected.mean():.0f} the bound is {got.tolist()}: not finite",
    )
    assert_close(got, expected, "the bound for far-away data")


@check("iwae_bound", hint=IWAE_HINT)
def iwae_climbs_towards_log_px(impl):
    """With the prior as q: the mean of L_1 is E_p(z) log p(x | z), and L_k rises with k towards log p(x)."""
    x = _data(130, 2)
    model = _PPCA("prior")
    repeats = 400
    batch = torch.tensor(np.repeat(x, repeats, axis=0))
    means = {}
    for k in (1, 100):
        draws = to_numpy(impl.iwae_bound(batch, model, k, generator=_gen(13 + k)))
        draws = draws.reshape(2, repeats)
        means[k] = (draws.mean(1), draws.std(1, ddof=1) / math.sqrt(repeats))
    # k = 1: E_{z ~ N(0, I)} log p(x | z) = log N(x; mu, sigma^2 I) - tr(W W^T) / (2 sigma^2)
    exact_1 = _exact_elbo(x, np.zeros((2, d)), np.ones((2, d)))
    log_px = _log_px(x)
    for i in range(2):
        assert_within_se(
            float(means[1][0][i]),
            float(exact_1[i]),
            float(means[1][1][i]),
            f"the mean of L_1 (the ELBO of the prior) for example {i}",
        )
        low, se = float(means[100][0][i]), float(means[100][1][i])
        expect(
            low - Z_BOUND * se > float(means[1][0][i]) + Z_BOUND * float(means[1][1][i]),
            f"L_100 ({low:.3f} ± {se:.3f}) is not above L_1 ({means[1][0][i]:.3f}) for example "
            f"{i}: more codes must tighten the bound",
            "Draw k different codes per example (noise of shape (k, B, d)), not one code repeated.",
        )
        expect(
            low - Z_BOUND * se <= float(log_px[i]),
            f"L_100 ({low:.3f} ± {se:.3f}) is above log p(x) = {log_px[i]:.3f} for example {i}: "
            "the bound is not a lower bound",
        )


__all__ = ["CONTRACT"]
