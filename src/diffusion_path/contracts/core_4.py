"""Contract of Core Task 4: the discretized decoder, the terms of the bound, bits per dimension and the losses.

Ground truth, all computed here in NumPy: the normal CDF from ``math.erfc``, and in the far tails
the probability of a bin by Gauss–Legendre quadrature of the density (where every CDF value
underflows); Bayes' rule for the forward posterior and DDPM eq. (11) for the model's mean, whose
KL divergence and Gaussian log-densities are written out by hand; the entropy of Gaussian data,
which the bound of the exact noise predictor reaches in expectation (a Monte-Carlo check stated in
standard errors); and "offset" predictors — the exact noise of single-point data plus a known
error at each step — whose every term is a known constant, so that the losses' weights can be
checked exactly, draw by draw.

No network is trained: every check runs a few small tensors through the functions once.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from diffusion_path.contracts.asserts import (
    assert_close,
    assert_within_se,
    expect,
    to_numpy,
)
from diffusion_path.contracts.base import Contract, Invalid, call
from diffusion_path.contracts.inputs import seeded_randn as _randn
from diffusion_path.diffusion.schedules import NoiseSchedule
from diffusion_path.tools.oracle import GaussianOracle

CONTRACT = Contract("core-4")


#: ``CONTRACT.check`` on one CPU thread: the tensors here are tiny.
check = functools.partial(CONTRACT.check, threads=1)


#: A short schedule whose steps are easy to tell apart.
BETAS = np.array([0.05, 0.1, 0.2, 0.3, 0.5])
T = len(BETAS)


def _schedule(betas: np.ndarray = BETAS) -> NoiseSchedule:
    return NoiseSchedule(torch.tensor(betas))


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _levels(levels: int) -> np.ndarray:
    return -1.0 + 2.0 * np.arange(levels) / (levels - 1)


def _on_levels(shape: tuple[int, ...], levels: int, seed: int) -> torch.Tensor:
    """Data on the levels, at random."""
    rng = np.random.default_rng(seed)
    return torch.tensor(_levels(levels)[rng.integers(0, levels, size=shape)])


def _steps(betas: np.ndarray) -> dict[str, np.ndarray]:
    """Everything about the steps, by hand: abar by a loop, the posterior by its definition (DDPM eq. 7)."""
    abar, running = [], 1.0
    for beta in betas:
        running *= 1.0 - beta
        abar.append(running)
    abar = np.array(abar)
    prev = np.concatenate([[1.0], abar[:-1]])
    tilde = (1.0 - prev) / (1.0 - abar) * betas
    return {"abar": abar, "prev": prev, "beta": betas, "tilde": tilde}


# ----------------------------------------------------------------------------- the normal law
def _cdf(z: float) -> float:
    """Phi(z) from erfc: accurate relative to its own size for z < 0."""
    if z == math.inf:
        return 1.0
    if z == -math.inf:
        return 0.0
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(200)


def _log_interval(lower: float, upper: float) -> float:
    """log(Phi(upper) - Phi(lower)) for standard-unit edges lower < upper (either may be infinite).

    In the far tail, by quadrature: with u the edge nearer the mean, |u| > 3, the probability is
    phi(u) / |u| times the integral of exp(-y - y^2 / (2 u^2)) over y from 0 to |u| (u - l), which
    Gauss–Legendre on [0, min(that, 80)] gives to full precision (e^-80 is far below it).
    """
    if lower >= 0:  # on the upper side: mirror it
        lower, upper = -upper, -lower
    if upper > -3.0:
        return math.log(_cdf(upper) - _cdf(lower))
    a = abs(upper)
    length = 80.0 if lower == -math.inf else min(a * (upper - lower), 80.0)
    y = (_NODES + 1.0) * length / 2.0
    integral = float(np.sum(_WEIGHTS * length / 2.0 * np.exp(-y - y**2 / (2.0 * a * a))))
    return -0.5 * a * a - 0.5 * math.log(2.0 * math.pi) - math.log(a) + math.log(integral)


def _log_bin(x: float, mean: float, scale: float, levels: int, variant: str = "") -> float:
    """log P(bin of x) under N(mean, scale^2) (DDPM eq. 13), or what a common mistake computes."""
    half = 1.0 / (levels - 1)
    if variant == "half-width":
        half = half / 2
    if variant == "full-width":
        half = half * 2
    if variant == "log-variance":
        scale = math.sqrt(scale)  # exp(log_scale / 2): log_scale read as a log-variance
    closed = variant == "closed-edges"
    lower = -math.inf if x < -1 + half and not closed else (x - half - mean) / scale
    upper = math.inf if x > 1 - half and not closed else (x + half - mean) / scale
    return _log_interval(lower, upper)


# ----------------------------------------------------------------------------- discretized decoder
CONTRACT.function(
    "discretized_gaussian_log_likelihood",
    lambda: call(
        torch.tensor(_levels(17)),
        0.3 * _randn(17, seed=1),
        torch.full((17,), math.log(0.2), dtype=torch.float64),
        17,
    ),
    invalid=[
        Invalid("x", lambda a: a["x"] + 0.01, "x between two levels"),
        Invalid("levels", 256, "levels = 256 for data on 17 levels", ("x", "levels")),
    ],
    hints=(
        "Eq. (C4.5): each level owns a bin of half-width 1 / (levels - 1) around it, the first "
        "open to minus infinity and the last to plus infinity; the probability of a bin is a "
        "difference of two values of the normal CDF. Work with their logarithms, so that bins many "
        "standard deviations away keep an exact, finite log-probability.",
        "With delta one over (levels - 1) and sigma the exponential of log_scale, the edges in "
        "standard units are (x - mu + delta) / sigma and (x - mu - delta) / sigma. The log normal "
        "CDF of torch's special functions gives log Phi of the upper edge (the whole answer for the "
        "first level) and, by symmetry, log(1 - Phi) of the lower edge as log Phi of minus it (the "
        "whole answer for the last level). In between, take the two log Phi values on the side of "
        "the mean where both are small (mirror the edges above the mean), and write the log of "
        "their difference as the larger log plus log(1 - exp(smaller log minus larger log)), with "
        "expm1 or log1p. Select per entry; every branch must stay finite everywhere.",
    ),
)
EDGES_HINT = (
    "The first level's bin reaches down to minus infinity and the last level's up to plus infinity "
    "(DDPM eq. 13): for x = -1 the probability is Phi of the upper edge alone, for x = 1 it is one "
    "minus Phi of the lower edge — otherwise the mass beyond +-1 is lost."
)
WIDTH_HINT = (
    "Each bin reaches half a bin, delta = 1 / (levels - 1), on each side of its level: the levels "
    "are 2 / (levels - 1) apart (2/255 for 8-bit data), so the bins tile the line without gaps."
)
SCALE_HINT = (
    "log_scale is log sigma, the log of the standard deviation: sigma = exp(log_scale), not "
    "exp(log_scale / 2). And use the levels argument for the bin width."
)
OVERLAP_HINT = (
    "The probabilities sum to more than one, so neighbouring bins overlap: each bin reaches "
    "delta = 1 / (levels - 1) on each side of its level — half the gap of 2 / (levels - 1) between "
    "two levels, not the whole gap."
)
#: The mistakes in the decoder that the checks recognise, in words.
BIN_MISTAKES = {
    "closed-edges": "the first and the last bin closed at -1 - delta and 1 + delta instead of open "
    "to minus and plus infinity",
    "half-width": "bins half as wide as they should be, reaching 1 / (2 (levels - 1)) on each side",
    "full-width": "bins twice as wide as they should be, reaching 2 / (levels - 1) on each side",
    "log-variance": "sigma = exp(log_scale / 2), log_scale read as a log-variance",
}
TAIL_HINT = (
    "Far from the mean both CDF values round to 0 (or to 1) and their difference to 0: take the "
    "logs first with torch.special.log_ndtr, and subtract in logs on the side of the mean where "
    "both are small: log(a - b) = log a + log1p(-exp(log b - log a)). Clamping the probability at "
    "1e-12 (as some code does) is not exact."
)


@check("discretized_gaussian_log_likelihood", hint=EDGES_HINT)
def probabilities_of_all_levels_sum_to_one(impl):
    """The probabilities of all the levels sum to one, for 17, 256 and 4 levels and several Gaussians."""
    for levels in (17, 256, 4):
        x = torch.tensor(_levels(levels))
        for mean, scale in ((0.0, 0.3), (0.45, 0.05), (-0.8, 1.0)):
            got = to_numpy(
                impl.discretized_gaussian_log_likelihood(
                    x,
                    torch.full_like(x, mean),
                    torch.full_like(x, math.log(scale)),
                    levels,
                )
            )
            total = float(np.exp(got).sum())
            if abs(total - 1.0) <= 1e-6:
                continue
            where = f"for {levels} levels and N({mean}, {scale}^2)"
            if total > 1.0:  # too much mass: the bins overlap
                variants, fallback = (("full-width", OVERLAP_HINT),), OVERLAP_HINT
            else:  # mass lost: beyond the outer bins, or in gaps between the bins
                variants = (("closed-edges", EDGES_HINT), ("half-width", WIDTH_HINT))
                fallback = EDGES_HINT + " " + WIDTH_HINT
            for variant, hint in variants:
                guess = sum(math.exp(_log_bin(v, mean, scale, levels, variant)) for v in x.tolist())
                if abs(total - guess) <= 1e-6:
                    expect(
                        False,
                        f"{where} the probabilities of the levels sum to {total:.6f}, not 1: they "
                        f"match {BIN_MISTAKES[variant]}",
                        hint,
                    )
            expect(
                False,
                f"{where} the probabilities of the levels sum to {total:.6f}, not 1",
                fallback,
            )


@check("discretized_gaussian_log_likelihood", hint=SCALE_HINT)
def log_probability_is_the_normal_cdf_difference(impl):
    """Within a few standard deviations of the mean, log P(x) is the log of the CDF difference over x's bin."""
    for levels, mean, scale in ((17, 0.1, 0.2), (256, -0.3, 0.02), (17, 0.9, 0.5)):
        grid = _levels(levels)
        keep = np.abs(grid - mean) < 4 * scale + 1.0 / (levels - 1)
        x = torch.tensor(grid[keep])
        got = to_numpy(
            impl.discretized_gaussian_log_likelihood(
                x,
                torch.full_like(x, mean),
                torch.full_like(x, math.log(scale)),
                levels,
            )
        )
        expected = np.array([_log_bin(v, mean, scale, levels) for v in x.tolist()])
        if np.allclose(got, expected, rtol=1e-6, atol=1e-9):
            continue
        where = f"for {levels} levels and N({mean}, {scale}^2)"
        for variant, hint in (
            ("log-variance", SCALE_HINT),
            ("half-width", WIDTH_HINT),
            ("closed-edges", EDGES_HINT),
        ):
            guess = np.array([_log_bin(v, mean, scale, levels, variant) for v in x.tolist()])
            if np.allclose(got, guess, rtol=1e-6, atol=1e-9):
                expect(False, f"{where} the log-probabilities match {BIN_MISTAKES[variant]}", hint)
        assert_close(got, expected, f"{where} log P(x)", rtol=1e-6, hint=SCALE_HINT)


@check("discretized_gaussian_log_likelihood", hint=TAIL_HINT)
def log_probability_is_exact_in_the_far_tails(impl):
    """Bins 15 to 300 standard deviations from the mean get their exact, finite log-probability."""
    cases = [  # (level, levels, mean, scale): where the bin lies
        (0, 256, 1.0, 0.01),  # the first (open) bin, 200 standard deviations below the mean
        (255, 256, -1.0, 0.01),  # the last (open) bin, 200 above
        (40, 256, 0.8, 0.003),  # a middle bin far below the mean
        (220, 256, -0.6, 0.005),  # a middle bin far above the mean
        (9, 17, 0.0, 0.004),  # the neighbour of the mean's bin, 15 and 47 standard deviations
        (16, 17, 0.5, 0.02),  # the last bin, 22 above: 1 - Phi rounds to 0, Phi to 1
    ]
    for level, levels, mean, scale in cases:
        x = torch.tensor([_levels(levels)[level]])
        got = float(
            impl.discretized_gaussian_log_likelihood(
                x,
                torch.tensor([mean], dtype=torch.float64),
                torch.tensor([math.log(scale)], dtype=torch.float64),
                levels,
            )
        )
        expected = _log_bin(float(x), mean, scale, levels)
        where = f"level {level} of {levels} under N({mean}, {scale}^2)"
        expect(
            math.isfinite(got),
            f"for {where} log P is {got}, expected {expected:.6g}: the probability underflowed",
            TAIL_HINT,
        )
        if abs(got - math.log(1e-12)) < 1e-6 or abs(got - math.log(1e-12)) < 1e-3 * abs(expected):
            expect(
                False,
                f"for {where} log P is {got:.6g} = log(1e-12), expected {expected:.6g}: the "
                "probability is clamped",
                TAIL_HINT,
            )
        expect(
            abs(got - expected) <= 1e-6 * max(1.0, abs(expected)),
            f"for {where} log P is {got:.8g}, expected {expected:.8g}",
            TAIL_HINT,
        )


NO_GRAPH_HINT = (
    "Compute with torch operations on the tensors given — no torch.tensor(...) around them, no "
    ".item(), no NumPy or SciPy — so that training can differentiate the decoder."
)


@check(
    "discretized_gaussian_log_likelihood",
    hint="torch.where computes every branch for every entry, and a branch that is -inf or NaN where "
    "it is not selected still sends NaN into the gradient: make each branch finite everywhere (take "
    "differences in logs, as for the far tails).",
)
def gradients_are_finite_everywhere(impl):
    """The gradients with respect to the mean and log_scale are finite, at the edges and in the far tails."""
    x = torch.tensor(_levels(256)[[0, 40, 128, 220, 255, 1, 254]])
    mean = torch.tensor([1.0, 0.8, 0.0, -0.6, -1.0, -1.0, 1.0], dtype=torch.float64)
    scale = torch.tensor([0.01, 0.003, 30.0, 0.005, 0.01, 0.001, 0.001], dtype=torch.float64)
    mean.requires_grad_(True)
    log_scale = torch.log(scale).requires_grad_(True)
    out = impl.discretized_gaussian_log_likelihood(x, mean, log_scale)
    expect(
        out.requires_grad,
        "the log-probability does not require grad: it is cut off from the graph",
        NO_GRAPH_HINT,
    )
    out.sum().backward()
    for name, grad in (("mean", mean.grad), ("log_scale", log_scale.grad)):
        expect(
            grad is not None,
            f"no gradient reaches {name}: the log-probability is cut off from the graph",
            NO_GRAPH_HINT,
        )
        expect(
            bool(torch.isfinite(grad).all()),
            f"the gradient with respect to {name} is "
            f"{np.array2string(to_numpy(grad), precision=3)}: not finite",
        )


# ----------------------------------------------------------------------------- prior_kl
def _prior(x0: np.ndarray, betas: np.ndarray, variant: str = "") -> np.ndarray:
    """L_T per example (eq. C4.6), or what a common mistake computes."""
    abar = _steps(betas)["abar"][-2 if variant == "index" else -1]
    variance = math.sqrt(1 - abar) if variant == "std" else 1 - abar
    kl = 0.5 * (abar * x0**2 + variance - 1 - math.log(variance))
    kl = kl.reshape(len(x0), -1)
    return kl.sum(axis=1) if variant == "sum" else kl.mean(axis=1)


CONTRACT.function(
    "prior_kl",
    lambda: call(_randn(4, 3, seed=2), _schedule()),
    hints=(
        "Eq. (C4.6): the last noisy state given the data is Gaussian — Core Task 1's q(x_T | x_0) — "
        "and its KL divergence from the standard normal prior is Pre-Task 4's, one coordinate at a "
        "time; average an example's coordinates.",
        "At the last index (T - 1 in code) read with gather the square root of abar_T and of "
        "1 - abar_T: the mean is the first times x0, the log-variance twice the log of the second. "
        "Take normal_kl of that mean and log-variance against a zero mean and a zero log-variance, "
        "then the mean over all axes but the batch.",
    ),
)
PRIOR_HINT = (
    "L_T compares q(x_T | x_0) = N(sqrt(abar_T) x0, (1 - abar_T) I) with N(0, I), at the last "
    "index T - 1: the log-variance is log(1 - abar_T), and the result is the mean over an "
    "example's coordinates (nats per dimension)."
)


@check("prior_kl", hint=PRIOR_HINT)
def prior_kl_is_the_closed_form(impl):
    """L_T per example is (abar_T x0^2 - abar_T - log(1 - abar_T)) / 2, averaged over the coordinates."""
    for betas in (BETAS, np.array([0.2, 0.4, 0.6])):
        x0 = _randn(4, 3, seed=3)
        got = to_numpy(impl.prior_kl(x0, _schedule(betas)))
        expected = _prior(to_numpy(x0), betas)
        expect(
            got.shape == (4,),
            f"the result has shape {got.shape}, expected one value per example: (4,)",
            PRIOR_HINT,
        )
        if np.allclose(got, expected, rtol=1e-6):
            continue
        for variant, what, hint in (
            (
                "sum",
                "the sum over an example's coordinates instead of their mean",
                "Average over an example's coordinates, nats per dimension: not their sum.",
            ),
            (
                "index",
                "abar_{T-1}, read one index too early, instead of abar_T",
                "The prior term is at the last index, T - 1: abar_T, not abar_{T-1}.",
            ),
            (
                "std",
                "the standard deviation sqrt(1 - abar_T) used as the variance",
                "The log-variance is log(1 - abar_T): the variance, not the standard deviation.",
            ),
        ):
            if np.allclose(got, _prior(to_numpy(x0), betas, variant), rtol=1e-6):
                expect(False, f"L_T matches {what}", hint)
        assert_close(got, expected, "L_T", hint=PRIOR_HINT)


# ----------------------------------------------------------------------------- vlb_term
def _model_mean(x_t: np.ndarray, eps: np.ndarray, step: int, betas: np.ndarray) -> np.ndarray:
    """DDPM eq. (11): the posterior mean at the x0 that eps implies (at index 0, that x0 itself)."""
    s = _steps(betas)
    if step == 0:
        return (x_t - math.sqrt(1 - s["abar"][0]) * eps) / math.sqrt(s["abar"][0])
    beta = betas[step]
    return (x_t - beta / math.sqrt(1 - s["abar"][step]) * eps) / math.sqrt(1 - beta)


def _true_mean(x0: np.ndarray, x_t: np.ndarray, step: int, betas: np.ndarray) -> np.ndarray:
    """The posterior mean by Bayes' rule: prior N(sqrt(prev) x0, 1 - prev), likelihood N(sqrt(alpha) x, beta)."""
    s = _steps(betas)
    prev, beta = s["prev"][step], betas[step]
    precision = 1 / (1 - prev) + (1 - beta) / beta
    return (math.sqrt(prev) * x0 / (1 - prev) + math.sqrt(1 - beta) * x_t / beta) / precision


def _log_variance(step: int, betas: np.ndarray, variance: str, v=None, variant: str = ""):
    """The model's log sigma^2 at an index: beta, beta_tilde (index 1's at index 0), or their mix."""
    s = _steps(betas)
    log_beta = math.log(betas[step])
    log_tilde = math.log(s["tilde"][step if step > 0 else 1])
    if variant == "swapped" and variance != "learned":
        variance = "beta" if variance == "beta_tilde" else "beta_tilde"
    if variance == "beta":
        return log_beta
    if variance == "beta_tilde":
        return log_tilde
    if variant == "linear":  # the variances mixed, not their logs
        return np.log(v * betas[step] + (1 - v) * math.exp(log_tilde))
    if variant == "swapped":
        return (1 - v) * log_beta + v * log_tilde
    return v * log_beta + (1 - v) * log_tilde


def _kl_term(x0, x_t, eps, step, betas, variance, v=None, variant=""):
    """L_t for t >= 1 by hand: the KL of N(true mean, beta_tilde) from N(model mean, sigma^2)."""
    s = _steps(betas)
    true_var = s["tilde"][step]
    log_var = _log_variance(step, betas, variance, v, variant)
    m_true, m_model = _true_mean(x0, x_t, step, betas), _model_mean(x_t, eps, step, betas)
    if variant == "reversed":  # KL(p || q) instead of KL(q || p)
        m_true, m_model = m_model, m_true
        kl = 0.5 * (
            math.log(true_var)
            - log_var
            + np.exp(log_var) / true_var
            + (m_true - m_model) ** 2 / true_var
            - 1
        )
    else:
        kl = 0.5 * (
            log_var
            - math.log(true_var)
            + true_var / np.exp(log_var)
            + (m_true - m_model) ** 2 / np.exp(log_var)
            - 1
        )
    kl = kl.reshape(len(x0), -1)
    return kl.sum(axis=1) if variant == "sum" else kl.mean(axis=1)


def _decoder_term(x0, x_t, eps, betas, variance, decoder, levels=17, v=None, variant=""):
    """L_0 by hand: minus the log-likelihood of x0 under N(x0_hat, sigma_1^2), density or bin."""
    mean = _model_mean(x_t, eps, 0, betas)
    log_var = _log_variance(0, betas, variance, v) * np.ones_like(mean)
    if decoder == "continuous":
        nll = 0.5 * (np.log(2 * np.pi) + log_var + (x0 - mean) ** 2 / np.exp(log_var))
    else:
        scale = np.exp(log_var if variant == "log-variance" else 0.5 * log_var)
        nll = -np.vectorize(lambda a, m, s: _log_bin(a, m, s, levels))(x0, mean, scale)
    if variant == "sign":
        nll = -nll
    return nll.reshape(len(x0), -1).mean(axis=1)


def _vlb_example():
    x0 = _on_levels((4, 2), 17, seed=4)
    x_t = _randn(4, 2, seed=5)
    return call(
        _randn(4, 2, seed=6),
        x0,
        x_t,
        torch.tensor([0, 1, 2, 4]),
        _schedule(),
        variance="beta",
        decoder="discretized",
        levels=17,
    )


CONTRACT.function(
    "vlb_term",
    _vlb_example,
    invalid=[
        Invalid(
            "model_output",
            lambda a: torch.zeros(4, 3, dtype=torch.float64),
            "an output of 3 columns",
        ),
        Invalid("x0", lambda a: a["x0"] + 0.01, "x0 between two levels"),
        Invalid(
            "variance",
            "learned",
            "a learned variance with an output of x_t's shape",
            ("model_output",),
        ),
    ],
    uses=("discretized_gaussian_log_likelihood",),
    hints=(
        "Eqs. (C4.3)–(C4.5): the model's step from x_{t+1} is Gaussian with the posterior mean at "
        "the clean data its noise prediction implies (Core Task 2) and a variance the argument "
        "chooses. For t >= 1 the term is the KL divergence of the true posterior from it; at t = 0 "
        "it is minus the decoder's log-likelihood of x0. Average an example's coordinates.",
        "With a learned variance, split the output in two along axis 1: the noise and v. Predict "
        "x0 from the noise and take the posterior mean there (your Core Task 2 functions): that is "
        "the model's mean; the first and third results of the posterior at the true x0 are the "
        "true mean and log-variance. The model's log-variance is log beta (gathered from the betas "
        "and logged), the clipped log beta-tilde of the schedule, or v times the first plus 1 - v "
        "times the second (C4.9). The KL of each coordinate is normal_kl with the true Gaussian "
        "first; the decoder's is the discretized log-likelihood with half the log-variance (a log "
        "standard deviation) or the Gaussian log-density with the log-variance, negated. Average "
        "over all axes but the batch, and pick the decoder's value where the index is 0.",
    ),
)
KL_HINT = (
    "For t >= 1: the KL divergence of q(x_t | x_{t+1}, x0) = N(mu_tilde, beta_tilde) from the "
    "model's N(mu_theta, sigma^2) (C4.3), with mu_theta the posterior mean at the x0 that the noise "
    "prediction implies — the true Gaussian first, its log-variance the posterior's log-variance "
    "(not its variance) — averaged over the coordinates."
)
VARIANCE_HINT = (
    'variance = "beta" means sigma^2 = beta_{t+1} (the schedule\'s betas at index t); '
    '"beta_tilde" means the posterior variance, whose log is posterior_log_variance_clipped[t].'
)
FIXED_LARGE_HINT = (
    ' At index 0, "beta" is log beta_1, the log of the schedule\'s first beta, like every other '
    'index — not beta_tilde_2, which Improved DDPM\'s "fixedlarge" puts there.'
)
DECODER_HINT = (
    "At index 0 the term is L_0 = -log p(x0 | x1) (C4.5), a negative log-likelihood: the decoder's "
    "mean is x0_hat, its log-variance that of index 0, and the discretized decoder takes "
    "log_scale = half the log-variance (log sigma), the Gaussian density the log-variance itself."
)


def _exact_eps(x0: torch.Tensor, x_t: torch.Tensor, step: int, betas: np.ndarray) -> torch.Tensor:
    abar = _steps(betas)["abar"][step]
    return (x_t - math.sqrt(abar) * x0) / math.sqrt(1 - abar)


@check("vlb_term", hint=KL_HINT)
def the_exact_noise_costs_nothing(impl):
    """With the exact noise and sigma^2 = beta_tilde the model's step is the posterior: every L_t (t >= 1) is 0."""
    x0 = _randn(3, 2, seed=7)
    for step in (1, 2, 4):
        x_t = _randn(3, 2, seed=8 + step)
        eps = _exact_eps(x0, x_t, step, BETAS)
        got = to_numpy(
            impl.vlb_term(
                eps, x0, x_t, step, _schedule(), variance="beta_tilde", decoder="continuous"
            )
        )
        expect(
            got.shape == (3,),
            f"the result has shape {got.shape}, expected one value per example: (3,)",
            "Average over all axes but the batch: one term per example.",
        )
        expect(
            np.allclose(got, 0.0, atol=1e-9),
            f"at index {step}, with the exact noise and sigma^2 = beta_tilde, L_t is "
            f"{np.array2string(got, precision=4)}; expected 0 (the two Gaussians are equal)",
            "With the exact noise the clean-data guess is x0 itself, so the model's mean must be the "
            "posterior mean (C2.1) at it — predict x0 from the noise, then take the posterior's mean; "
            "and sigma^2 = beta_tilde is the posterior's variance.",
        )


@check("vlb_term", hint=KL_HINT)
def kl_terms_are_the_kl_of_the_two_gaussians(impl):
    """For t >= 1 and both fixed variances, L_t is KL(N(mu_tilde, beta_tilde) || N(mu_theta, sigma^2)), by hand."""
    x0, eps = _randn(4, 3, seed=20), _randn(4, 3, seed=21)
    for variance in ("beta", "beta_tilde"):
        for step in (1, 3, 4):
            x_t = _randn(4, 3, seed=22 + step)
            got = to_numpy(
                impl.vlb_term(
                    eps, x0, x_t, step, _schedule(), variance=variance, decoder="continuous"
                )
            )
            a = (to_numpy(x0), to_numpy(x_t), to_numpy(eps), step, BETAS, variance)
            expected = _kl_term(*a)
            if np.allclose(got, expected, rtol=1e-6, atol=1e-12):
                continue
            where = f"index {step}, variance {variance!r}"
            for variant, what, hint in (
                (
                    "swapped",
                    "the other fixed variance: beta and beta_tilde swapped",
                    VARIANCE_HINT,
                ),
                (
                    "reversed",
                    "KL(p_theta || q), the divergence with its two arguments swapped",
                    "The KL divergence in the bound is D(q || p_theta): the true posterior "
                    "first, the model second — the divergence is not symmetric.",
                ),
                (
                    "sum",
                    "the sum over an example's coordinates instead of their mean",
                    "Average over an example's coordinates (nats per dimension): not their sum.",
                ),
            ):
                if np.allclose(got, _kl_term(*a, variant=variant), rtol=1e-6, atol=1e-12):
                    expect(False, f"at {where} L_t matches {what}", hint)
            assert_close(got, expected, f"L_t at {where}", rtol=1e-6, hint=KL_HINT)


@check("vlb_term", hint=DECODER_HINT)
def the_decoder_term_is_minus_the_log_likelihood(impl):
    """At index 0, L_0 is -log N(x0; x0_hat, sigma_1^2) (continuous) or -log P(bin of x0) (discretized)."""
    x0 = _on_levels((5, 4), 17, seed=30)
    x_t = 0.95 * x0 + 0.1 * _randn(5, 4, seed=31)
    eps = _exact_eps(x0, x_t, 0, BETAS) + 0.3 * _randn(5, 4, seed=32)
    for variance in ("beta", "beta_tilde"):
        for decoder in ("continuous", "discretized"):
            got = to_numpy(
                impl.vlb_term(
                    eps, x0, x_t, 0, _schedule(), variance=variance, decoder=decoder, levels=17
                )
            )
            a = (to_numpy(x0), to_numpy(x_t), to_numpy(eps), BETAS, variance, decoder)
            expected = _decoder_term(*a)
            if np.allclose(got, expected, rtol=1e-6, atol=1e-10):
                continue
            where = f"index 0, variance {variance!r}, decoder {decoder!r}"
            for variant, what, hint in (
                (
                    "sign",
                    "+log p(x0 | x1), the log-likelihood itself instead of minus it",
                    "L_0 = -log p(x0 | x1): minus the log-likelihood, a cost, not the "
                    "log-likelihood itself.",
                ),
                (
                    "log-variance",
                    "the whole log-variance passed as log_scale instead of half of it",
                    "The discretized likelihood takes log sigma: pass half the "
                    "log-variance as log_scale, not the log-variance.",
                ),
            ):
                if np.allclose(got, _decoder_term(*a, variant=variant), rtol=1e-6, atol=1e-10):
                    expect(False, f"at {where} L_0 matches {what}", hint)
            other = "beta" if variance == "beta_tilde" else "beta_tilde"
            if np.allclose(got, _decoder_term(*a[:4], other, decoder), rtol=1e-6, atol=1e-10):
                expect(
                    False,
                    f"at {where} L_0 matches the other variance, {other!r}",
                    VARIANCE_HINT + (FIXED_LARGE_HINT if variance == "beta" else ""),
                )
            assert_close(got, expected, f"L_0 at {where}", rtol=1e-6, hint=DECODER_HINT)


@check(
    "vlb_term",
    hint="Eq. (C4.9): log sigma^2 = v log beta + (1 - v) log beta_tilde, the log-variances mixed "
    "with the network's v (the second half of the output along axis 1).",
)
def a_learned_variance_mixes_the_log_variances(impl):
    """With variance = "learned", sigma^2 = exp(v log beta + (1 - v) log beta_tilde), v from the output's second half."""
    x0, eps = _on_levels((3, 2), 17, seed=40), _randn(3, 2, seed=41)
    v = torch.tensor([[0.3, 0.8], [0.1, 0.5], [0.9, 0.0]], dtype=torch.float64)
    output = torch.cat([eps, v], dim=1)
    for step in (2, 4, 0):
        x_t = _randn(3, 2, seed=42 + step)
        got = to_numpy(
            impl.vlb_term(
                output, x0, x_t, step, _schedule(), variance="learned", decoder="continuous"
            )
        )
        a = (to_numpy(x0), to_numpy(x_t), to_numpy(eps))

        def by_hand(variant: str = "", a=a, step=step) -> np.ndarray:
            if step == 0:
                return _decoder_term(*a, BETAS, "learned", "continuous", v=to_numpy(v))
            return _kl_term(*a, step, BETAS, "learned", v=to_numpy(v), variant=variant)

        if np.allclose(got, by_hand(), rtol=1e-6, atol=1e-12):
            continue
        for variant, what, hint in (
            (
                "linear",
                "the variances mixed, log(v beta + (1 - v) beta_tilde), instead of their logs",
                "Mix the log-variances, not the variances: log sigma^2 = v log beta + "
                "(1 - v) log beta_tilde.",
            ),
            (
                "swapped",
                "v weighing log beta_tilde and 1 - v weighing log beta, the weights swapped",
                "v weighs log beta and 1 - v weighs log beta_tilde: v = 1 is sigma^2 = beta.",
            ),
        ):
            if step > 0 and np.allclose(got, by_hand(variant), rtol=1e-6, atol=1e-12):
                expect(False, f"at index {step} the learned variance matches {what}", hint)
        assert_close(got, by_hand(), f"L_t at index {step} with a learned variance", rtol=1e-6)


@check(
    "vlb_term",
    hint="Compute everything per example, at its own index (gather), and choose the decoder's term "
    "only for the examples whose index is 0: a mask per example, not one test for the batch.",
)
def each_example_at_its_own_index(impl):
    """In a batch of mixed indices, each example's term is the one it gets alone."""
    x0, x_t, eps = _on_levels((4, 2), 17, seed=50), _randn(4, 2, seed=51), _randn(4, 2, seed=52)
    t = torch.tensor([3, 0, 4, 1])
    kwargs = {"variance": "beta", "decoder": "discretized", "levels": 17}
    batch = to_numpy(impl.vlb_term(eps, x0, x_t, t, _schedule(), **kwargs))
    for i, step in enumerate(t.tolist()):
        alone = to_numpy(
            impl.vlb_term(
                eps[i : i + 1], x0[i : i + 1], x_t[i : i + 1], step, _schedule(), **kwargs
            )
        )
        assert_close(batch[i], alone[0], f"example {i} (index {step}) in the batch and alone")


# ----------------------------------------------------------------------------- vlb_terms
def _offsets(betas: np.ndarray) -> np.ndarray:
    return np.linspace(0.1, 0.6, len(betas))


class _Offset:
    """The exact noise for data that is the single point c, plus offsets[t] at index t.

    Every term of the bound is then a constant: the model's mean misses the posterior's by a known
    amount whatever the noise (DDPM eq. 11), and with sigma^2 = beta_tilde the KL is its square over
    twice beta_tilde.
    """

    def __init__(self, c: float, betas: np.ndarray, offsets: np.ndarray, learned_v=None) -> None:
        self.c, self.abar = c, torch.tensor(_steps(betas)["abar"])
        self.offsets, self.v = torch.tensor(offsets), learned_v
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls.append((x_t.detach().clone(), t.clone()))
        a = self.abar[t].to(x_t.dtype).reshape(-1, *[1] * (x_t.ndim - 1))
        eps = (x_t - a.sqrt() * self.c) / (1 - a).sqrt()
        eps = eps + self.offsets[t].to(x_t.dtype).reshape(a.shape)
        if self.v is None:
            return eps
        return torch.cat([eps, torch.full_like(eps, self.v)], dim=1)


def _offset_terms(c: float, betas: np.ndarray, offsets: np.ndarray, v: float | None = None):
    """L_0, ..., L_{T-1} of the offset model (continuous decoder), by hand.

    The variance is beta_tilde (beta_tilde_2 at index 0, the clipped value), or with a learned
    v = ``v`` the mix exp(v log beta + (1 - v) log beta_tilde) of eq. (C4.9).
    """
    s = _steps(betas)
    terms = np.empty(len(betas))
    for step, delta in enumerate(offsets):
        log_tilde = math.log(s["tilde"][step if step > 0 else 1])
        log_var = log_tilde if v is None else v * math.log(betas[step]) + (1 - v) * log_tilde
        var = math.exp(log_var)
        if step == 0:  # x0_hat = c - sqrt(1 - abar_1) / sqrt(abar_1) delta
            miss = math.sqrt(1 - s["abar"][0]) / math.sqrt(s["abar"][0]) * delta
            terms[0] = 0.5 * (math.log(2 * math.pi) + log_var + miss**2 / var)
        else:  # the mean misses by beta / (sqrt(alpha) sqrt(1 - abar)) delta
            miss = (
                betas[step] / (math.sqrt(1 - betas[step]) * math.sqrt(1 - s["abar"][step])) * delta
            )
            true_var = s["tilde"][step]
            terms[step] = 0.5 * (log_var - math.log(true_var) + (true_var + miss**2) / var - 1.0)
    return terms


CONTRACT.function(
    "vlb_terms",
    lambda: call(
        _Offset(0.5, BETAS, _offsets(BETAS)),
        torch.full((3, 2), 0.5, dtype=torch.float64),
        _schedule(),
        _gen(0),
        variance="beta",
        decoder="continuous",
    ),
    uses=("vlb_term", "prior_kl"),
    hints=(
        "Eq. (C4.2): the bound is the sum of T + 1 terms, L_0 to L_T. Estimate each L_t for t < T "
        "with one noisy state at index t, fresh noise for each t, and add the prior term: one "
        "column per term, in the order of their subscripts.",
        "For each index from 0 to T - 1: a LongTensor holding it once per example, noise from the "
        "generator of x0's shape and dtype, the noisy data from q_sample, the model's output at it "
        "and that index, and your vlb_term of it. After the loop, prior_kl of x0 is the last "
        "column. Stack the columns along axis 1; no gradients are needed.",
    ),
)
COLUMNS_HINT = (
    "Return one column per term, L_0 first and L_T last: T + 1 columns. Column t (t < T) is "
    "vlb_term at index t — the model called with that same index t — and column T is prior_kl."
)


@check("vlb_terms", hint=COLUMNS_HINT)
def one_column_per_term_in_order(impl):
    """With an offset model every term is a known constant: column t is L_t, column T is L_T."""
    c, offsets = 0.5, _offsets(BETAS)
    x0 = torch.full((3, 2), c, dtype=torch.float64)
    model = _Offset(c, BETAS, offsets)
    got = to_numpy(
        impl.vlb_terms(model, x0, _schedule(), _gen(1), variance="beta_tilde", decoder="continuous")
    )
    expect(
        got.shape == (3, T + 1),
        f"the result has shape {got.shape}; expected (3, {T + 1}): one row per example, one column "
        f"per term L_0, ..., L_{T}",
        COLUMNS_HINT,
    )
    steps = sorted({int(s) for _, t in model.calls for s in t.tolist()})
    expect(
        steps == list(range(T)),
        f"the model was called at the indices {steps}; expected every index 0, ..., {T - 1}",
        COLUMNS_HINT,
    )
    expected = np.concatenate([_offset_terms(c, BETAS, offsets), _prior(to_numpy(x0), BETAS)[:1]])
    for column in range(T + 1):
        assert_close(
            got[:, column],
            np.full(3, expected[column]),
            f"column {column}" + (" (L_T)" if column == T else f" (L_{column})"),
            rtol=1e-6,
            hint=COLUMNS_HINT,
        )


@check(
    "vlb_terms",
    hint="Give every term its own fresh noise, drawn from the generator, and the model the noisy "
    "data of that same index: each column is then an unbiased estimate of its term.",
)
def the_bound_of_gaussian_data_is_its_entropy(impl):
    """N(0, I) data, the exact predictor, sigma^2 = beta: the mean bound is log(2 pi e) / 2 per dimension."""
    n, d = 3000, 2
    schedule = _schedule()
    oracle = GaussianOracle(np.zeros(d), np.eye(d), schedule)
    x0 = _randn(n, d, seed=60)
    terms = to_numpy(
        impl.vlb_terms(oracle, x0, schedule, _gen(61), variance="beta", decoder="continuous")
    )
    expect(terms.shape == (n, T + 1), f"the result has shape {terms.shape}", COLUMNS_HINT)
    s = _steps(BETAS)
    coef1 = np.sqrt(s["prev"]) * BETAS / (1 - s["abar"])
    expected = np.empty(T + 1)
    expected[0] = 0.5 * math.log(2 * math.pi * math.e * BETAS[0])
    expected[1:T] = 0.5 * (
        np.log(BETAS[1:] / s["tilde"][1:])
        + s["tilde"][1:] / BETAS[1:]
        - 1
        + coef1[1:] ** 2 * (1 - s["abar"][1:]) / BETAS[1:]
    )
    expected[T] = -0.5 * math.log(1 - s["abar"][-1])
    total = terms.sum(axis=1)
    assert_within_se(
        float(total.mean()),
        0.5 * math.log(2 * math.pi * math.e),
        float(total.std(ddof=1) / math.sqrt(n)),
        "the mean bound (the entropy of N(0, 1), log(2 pi e) / 2)",
    )
    for column in range(T + 1):
        assert_within_se(
            float(terms[:, column].mean()),
            float(expected[column]),
            float(terms[:, column].std(ddof=1) / math.sqrt(n)),
            f"the mean of column {column}",
        )


NOISE_HINT = (
    "Draw new noise for every index, inside the loop over t, from the generator given: with one "
    "draw reused, the terms of an example all move together, so a row holds T readings of one "
    "random draw instead of T independent estimates, and the spread of its sum grows."
)


@check("vlb_terms", hint=NOISE_HINT)
def every_term_gets_its_own_noise(impl):
    """The columns L_0, ..., L_{T-1} of an example use independent noise: their correlations are 0 within a Monte-Carlo bound."""
    n, d = 4000, 4
    x0 = torch.zeros(n, d, dtype=torch.float64)
    # For data at 0 a model that predicts no noise misses by the whole noise: every column is
    # a + b mean(eps_t^2) with b > 0, so reused noise makes the columns' correlation 1.
    terms = to_numpy(
        impl.vlb_terms(
            lambda x, t: torch.zeros_like(x),
            x0,
            _schedule(),
            _gen(62),
            variance="beta_tilde",
            decoder="continuous",
        )
    )
    expect(terms.shape == (n, T + 1), f"the result has shape {terms.shape}", COLUMNS_HINT)
    expect(
        bool(np.all(terms[:, :T].std(axis=0) > 0)),
        "a column L_t (t < T) is the same for every example: the noise does not vary",
        NOISE_HINT,
    )
    r = np.corrcoef(terms[:, :T], rowvar=False)
    pairs = r[np.triu_indices(T, k=1)]
    # independent columns: each correlation has standard error 1 / sqrt(n), and the pairs'
    # correlations are uncorrelated, so their mean has 1 / sqrt(n * pairs)
    assert_within_se(
        float(pairs.mean()),
        0.0,
        1.0 / math.sqrt(n * len(pairs)),
        f"the mean correlation between the columns L_0, ..., L_{T - 1} of an example",
        hint=NOISE_HINT,
    )


# ----------------------------------------------------------------------------- bits_per_dim
CONTRACT.function(
    "bits_per_dim",
    lambda: call(torch.tensor([0.5, 1.0, 2.0]), levels=256),
    hints=(
        "Eq. (C4.7): a bit is ln 2 nats. A density of data scaled to [-1, 1] becomes a probability "
        "of the levels by the width of one level's bin, which adds a constant.",
        "Divide by the natural log of 2. When levels is given, add the base-2 log of "
        "(levels - 1) / 2: the levels are 2 / (levels - 1) apart in [-1, 1], and their integer "
        "scale has them 1 apart.",
    ),
)
BITS_HINT = "One bit is ln 2 nats: bits = nats / ln 2 — divide by math.log(2), the natural log."
OFFSET_HINT = (
    "A density of data in [-1, 1] is put on the scale of the integer levels by adding "
    "log2((levels - 1) / 2): the levels are 2 / (levels - 1) apart (2/255 for 8-bit data)."
)


@check("bits_per_dim", hint=BITS_HINT)
def bits_are_nats_over_ln_2(impl):
    """bits_per_dim(nats) = nats / ln 2."""
    nats = torch.tensor([0.0, math.log(2.0), 1.0, 3.5], dtype=torch.float64)
    got = to_numpy(impl.bits_per_dim(nats))
    expect(
        not np.allclose(got, to_numpy(nats) * math.log(2.0), rtol=1e-9) or got[2] == 1.0,
        f"1 nat gives {got[2]:.4f} bits: multiplied by ln 2 instead of divided",
        BITS_HINT,
    )
    assert_close(got, to_numpy(nats) / math.log(2.0), "bits per dimension", rtol=1e-9)


@check("bits_per_dim", hint=OFFSET_HINT)
def a_density_on_the_levels_gets_the_bin_width(impl):
    """With levels, the offset is log2((levels - 1) / 2): 6.994 bits for 256 levels, 3 for 17."""
    nats = torch.tensor([0.0, 1.0], dtype=torch.float64)
    for levels in (256, 17):
        got = to_numpy(impl.bits_per_dim(nats, levels=levels))
        expected = to_numpy(nats) / math.log(2.0) + math.log2((levels - 1) / 2)
        for wrong, hint in (
            (
                math.log2(levels / 2),
                "The levels are 2 / (levels - 1) apart, not 2 / levels: the "
                "offset is log2((levels - 1) / 2) (127.5 for 8-bit data, not 128).",
            ),
            (
                math.log2(levels - 1),
                "Data in [-1, 1]: the levels are 2 / (levels - 1) apart, so the "
                "offset is log2((levels - 1) / 2), not log2(levels - 1).",
            ),
            (
                -math.log2((levels - 1) / 2),
                OFFSET_HINT + " Add it: a probability is smaller than "
                "the density times nothing — the bin is narrower than one unit.",
            ),
        ):
            if np.allclose(got, to_numpy(nats) / math.log(2.0) + wrong, rtol=1e-9):
                expect(False, f"for {levels} levels the offset is {got[0]:.4f} bits", hint)
        assert_close(got, expected, f"bits per dimension of a density, {levels} levels", rtol=1e-9)


# ----------------------------------------------------------------------------- ImportanceSampler
CONTRACT.function(
    "ImportanceSampler",
    hints=(
        "Eq. (C4.11): keep the last few values of each step's term; while some step has fewer, "
        "draw uniformly; then draw each step with probability proportional to the root mean "
        "square of its values, with a little of the uniform law mixed in.",
        "update: for each pair of an index and its value, write the value after those the index "
        "holds, or — once it holds history values — shift them one place towards the oldest, "
        "dropping it, and write the value last. probabilities: uniform 1 / T while any count is "
        "below history; else the square root of the mean of the squared values of each index, "
        "divided by their total (uniform again if that total is 0), times 1 - uniform, plus "
        "uniform / T. sample: draw batch indices "
        "with replacement from those probabilities with the generator (torch's multinomial) and "
        "return them with their probabilities.",
    ),
    generic=False,
)
RMS_HINT = (
    "p_t is proportional to sqrt(E[L_t^2]): the root mean square of the last history values of "
    "index t — not their mean, not the mean of their squares — normalised to sum to one, then "
    "(1 - uniform) p_t + uniform / T."
)


@check("ImportanceSampler", hint="Draw uniformly until every index holds history values.")
def uniform_until_every_index_has_its_history(impl):
    """The probabilities are uniform until every index holds `history` values, and not after."""
    sampler = impl.ImportanceSampler(4, history=3, uniform=0.0)
    uniform = np.full(4, 0.25)
    assert_close(to_numpy(sampler.probabilities()), uniform, "the probabilities of a new sampler")
    sampler.update(torch.tensor([0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2]), torch.arange(1.0, 12.0))
    expect(
        np.allclose(to_numpy(sampler.probabilities()), uniform),
        "index 3 holds 2 of its 3 values, and the probabilities are no longer uniform",
        "Wait until every index holds history values: until then the estimate of E[L_t^2] of some "
        "index rests on too few values, so draw uniformly (Improved DDPM's warm-up).",
    )
    sampler.update(torch.tensor([3]), torch.tensor([12.0]))
    p = to_numpy(sampler.probabilities())
    expect(
        not np.allclose(p, uniform),
        "every index holds its 3 values, but the probabilities are still uniform",
        RMS_HINT,
    )
    expect(
        abs(p.sum() - 1.0) < 1e-9 and p.dtype == np.float64,
        f"the probabilities sum to {p.sum():.6f}",
        RMS_HINT,
    )


@check("ImportanceSampler", hint=RMS_HINT)
def probabilities_follow_the_root_mean_square_of_the_last_values(impl):
    """After more values than fit, p_t = (1 - u) rms_t / sum(rms) + u / T over the last `history` values."""
    sampler = impl.ImportanceSampler(3, history=2, uniform=0.1)
    sampler.update(torch.tensor([0, 1, 2, 0, 1, 2]), torch.tensor([9.0, 1.0, 2.0, 3.0, 1.0, 2.0]))
    sampler.update(torch.tensor([0, 0]), torch.tensor([1.0, 5.0]))  # index 0 now holds (1, 5)
    got = to_numpy(sampler.probabilities())
    values = {0: [1.0, 5.0], 1: [1.0, 1.0], 2: [2.0, 2.0]}

    def law(statistic, u: float = 0.1) -> np.ndarray:
        w = np.array([statistic(np.array(values[k])) for k in range(3)])
        return (1 - u) * w / w.sum() + u / 3

    expected = law(lambda a: math.sqrt(np.mean(a**2)))
    if np.allclose(got, expected, rtol=1e-9):
        return
    kept_all = {0: [9.0, 3.0, 1.0, 5.0], 1: [1.0, 1.0], 2: [2.0, 2.0]}
    kept_first = {0: [9.0, 3.0], 1: [1.0, 1.0], 2: [2.0, 2.0]}
    for variant, guess, hint in (
        ("weights proportional to the mean of the last values", law(np.mean), RMS_HINT),
        (
            "weights proportional to the mean of the squares, without the square root",
            law(lambda a: np.mean(a**2)),
            RMS_HINT,
        ),
        (
            "the root mean squares normalised, with no uniform part mixed in",
            law(lambda a: math.sqrt(np.mean(a**2)), 0.0),
            "Mix in the uniform law: "
            "(1 - uniform) p_t + uniform / T, so that no step's probability is 0.",
        ),
    ):
        if np.allclose(got, guess, rtol=1e-9):
            expect(False, f"the probabilities are {np.round(got, 4)}: they match {variant}", hint)
    for kept, what in ((kept_all, "every value seen"), (kept_first, "the first values")):
        w = np.array([math.sqrt(np.mean(np.array(kept[k]) ** 2)) for k in range(3)])
        if np.allclose(got, 0.9 * w / w.sum() + 0.1 / 3, rtol=1e-9):
            expect(
                False,
                f"the probabilities use {what} of index 0, not its last 2",
                "Keep only the last history values of each index: once it is full, drop the oldest "
                "to make room for the newest.",
            )
    assert_close(got, expected, "the probabilities", rtol=1e-9, hint=RMS_HINT)


ZERO_HINT = (
    "When every stored value is 0 the root mean squares sum to 0 and cannot be normalised (0 / 0 "
    "is NaN): no step stands out, so return the uniform law, 1 / T for every index."
)


@check("ImportanceSampler", hint=ZERO_HINT)
def all_zero_values_give_the_uniform_law(impl):
    """With a full history of zeros at every index, p_t is uniform (not NaN), and sampling works."""
    for uniform in (0.0, 0.1):
        sampler = impl.ImportanceSampler(3, history=2, uniform=uniform)
        sampler.update(torch.tensor([0, 1, 2, 0, 1, 2]), torch.zeros(6, dtype=torch.float64))
        p = to_numpy(sampler.probabilities())
        expect(
            bool(np.all(np.isfinite(p))),
            f"with every stored value 0 (uniform = {uniform}) the probabilities are {p}",
            ZERO_HINT,
        )
        assert_close(
            p,
            np.full(3, 1 / 3),
            f"the probabilities with every stored value 0 (uniform = {uniform})",
            rtol=1e-9,
            hint=ZERO_HINT,
        )
        _, probs = sampler.sample(50, _gen(71))
        assert_close(
            to_numpy(probs),
            np.full(50, 1 / 3),
            "the probabilities returned with the draws",
            rtol=1e-9,
            hint=ZERO_HINT,
        )


@check(
    "ImportanceSampler",
    hint="Draw with replacement from probabilities() with the generator given, and return each "
    "index's own probability beside it.",
)
def sample_draws_from_the_probabilities(impl):
    """sample(n, generator) draws t ~ p_t (counts within a Monte-Carlo bound) and returns p_t of each draw."""
    sampler = impl.ImportanceSampler(4, history=1, uniform=0.0)
    sampler.update(torch.tensor([0, 1, 2, 3]), torch.tensor([1.0, 2.0, 3.0, 4.0]))
    p = np.array([0.1, 0.2, 0.3, 0.4])
    n = 20_000
    t, probs = sampler.sample(n, _gen(70))
    t, probs = to_numpy(t).astype(int), to_numpy(probs)
    expect(
        t.shape == (n,) and probs.shape == (n,), f"sample returned shapes {t.shape}, {probs.shape}"
    )
    expect(t.min() >= 0 and t.max() <= 3, f"the indices run from {t.min()} to {t.max()}")
    assert_close(probs, p[t], "the probabilities returned with the draws")
    counts = np.bincount(t, minlength=4) / n
    for k in range(4):
        assert_within_se(
            float(counts[k]),
            float(p[k]),
            math.sqrt(p[k] * (1 - p[k]) / n),
            f"the share of index {k}",
        )
    again, _ = sampler.sample(n, _gen(70))
    expect(
        np.array_equal(to_numpy(again).astype(int), t),
        "the same seed gave different draws: draw from the generator given",
    )


# ----------------------------------------------------------------------------- training_losses
class _FixedSampler:
    """A step sampler with known probabilities (not the learner's ImportanceSampler)."""

    def __init__(self, p: np.ndarray) -> None:
        self.p = torch.tensor(p)
        self.T = len(p)

    def sample(self, batch: int, generator: torch.Generator):
        t = torch.multinomial(self.p, batch, replacement=True, generator=generator)
        return t, self.p[t]

    def update(self, t: torch.Tensor, losses: torch.Tensor) -> None:
        pass


P_STEPS = np.array([0.35, 0.05, 0.1, 0.2, 0.3])


def _recover(model: _Offset, x0: torch.Tensor):
    """The indices and the noise behind the batch the model saw: eps from x_t = sqrt(abar) x0 + ..."""
    ((x_t, t),) = model.calls
    abar = _steps(BETAS)["abar"][to_numpy(t).astype(int)].reshape(-1, *[1] * (x0.ndim - 1))
    eps = (to_numpy(x_t) - np.sqrt(abar) * to_numpy(x0)) / np.sqrt(1 - abar)
    return to_numpy(t).astype(int), eps, to_numpy(x_t)


CONTRACT.function(
    "training_losses",
    lambda: call(
        _Offset(0.5, BETAS, _offsets(BETAS)),
        torch.full((6, 2), 0.5, dtype=torch.float64),
        _schedule(),
        _gen(0),
        objective="vlb",
        variance="beta_tilde",
        decoder="continuous",
    ),
    invalid=[
        Invalid("objective", "hybrid", "the hybrid with a fixed variance"),
        Invalid("sampler", "uniform", "a sampler that is a string"),
        Invalid("sampler", lambda a: _FixedSampler(np.full(3, 1 / 3)), "a sampler for T = 3"),
    ],
    uses=("vlb_term", "prior_kl"),
    hints=(
        "Eqs. (C4.8)–(C4.11): one step and one noise per example, one forward pass; the simple "
        "loss is the noise's squared error, the bound's part is the term L_t of that step. Weight "
        "each part by one over its step's probability — divided by T for the simple loss, a mean "
        "over steps — so that its average over draws is the objective.",
        "Draw the indices uniformly from 0 to T - 1 (probability 1 / T each) or from the sampler, "
        "then standard normal noise with the generator; noise x0 with q_sample; call the model. "
        "The mse is the mean over an example's coordinates of the squared difference between the "
        "noise and the prediction (the first half of the output with a learned variance). The term "
        "is your vlb_term; in the hybrid, give it the prediction detached, joined again with v. "
        "Simple: mse over T times p. Bound: the term over p plus prior_kl. Hybrid: the simple part "
        "plus the weight times the bound's part. Return the losses, the indices and the detached "
        "terms L_t (for every objective, the simple one included).",
    ),
)
LOSS_HINT = (
    "The simple loss of an example is the mean over its coordinates of (eps - eps_theta)^2, where "
    "eps is the noise that made the x_t the model saw (pass it to q_sample) — weighted by "
    "1 / (T p_t), which is 1 for uniform steps."
)
WEIGHT_HINT = (
    "Each example's bound is L_t / p_t + L_T (C4.11): its term divided by the probability of its "
    "step (1 / T for uniform steps, so T L_t), plus the prior term — an unbiased estimate of the "
    "whole sum L_0 + ... + L_T."
)
UNIFORM_HINT = (
    "Draw the indices uniformly from 0 to T - 1, every one of them: torch.randint(0, T, ...) "
    "(the upper bound is excluded); code index t is the paper's step t + 1, so index 0 (L_0) "
    "must be drawn too."
)


@check("training_losses", hint=LOSS_HINT)
def the_simple_loss_is_the_squared_error_of_the_noise(impl):
    """Objective "simple": each loss is the mean squared error between the noise that made x_t and the prediction."""
    x0 = _randn(8, 3, seed=80)
    model = _Offset(0.0, BETAS, _offsets(BETAS))
    losses, t, _ = impl.training_losses(model, x0, _schedule(), _gen(81), decoder="continuous")
    expect(len(model.calls) == 1, f"the model was called {len(model.calls)} times; expected once")
    steps, eps, x_t = _recover(model, x0)
    expect(
        np.array_equal(to_numpy(t).astype(int), steps),
        "the indices returned are not those the model was called with",
        LOSS_HINT,
    )
    a = _steps(BETAS)["abar"][steps][:, None]
    prediction = (x_t - 0.0) / np.sqrt(1 - a) + _offsets(BETAS)[steps][:, None]
    expected = np.mean((eps - prediction) ** 2, axis=1)
    got = to_numpy(losses)
    if np.allclose(got, 3 * expected, rtol=1e-6):
        expect(False, "the losses are 3 times too large: summed over the coordinates", LOSS_HINT)
    assert_close(got, expected, "the simple losses", rtol=1e-6, hint=LOSS_HINT)


@check("training_losses", hint=UNIFORM_HINT)
def every_index_is_drawn_uniformly(impl):
    """Without a sampler the indices are uniform on 0, ..., T-1 (shares within a Monte-Carlo bound)."""
    n = 20_000
    x0 = torch.zeros(n, 1, dtype=torch.float64)
    _, t, _ = impl.training_losses(
        lambda x, s: torch.zeros_like(x), x0, _schedule(), _gen(82), decoder="continuous"
    )
    t = to_numpy(t).astype(int)
    expect(
        t.min() >= 0 and t.max() <= T - 1,
        f"the indices run from {t.min()} to {t.max()}, outside 0, ..., {T - 1}",
        UNIFORM_HINT,
    )
    counts = np.bincount(t, minlength=T) / n
    for k in range(T):
        expect(
            counts[k] > 0,
            f"index {k} was never drawn in {n} draws",
            UNIFORM_HINT,
        )
        assert_within_se(
            float(counts[k]),
            1 / T,
            math.sqrt((1 / T) * (1 - 1 / T) / n),
            f"the share of index {k}",
            hint=UNIFORM_HINT,
        )


@check("training_losses", hint=WEIGHT_HINT)
def the_bound_is_weighted_by_the_probability_of_its_step(impl):
    """Objective "vlb": each loss is L_t / p_t + L_T, exactly, with uniform steps and with a known sampler."""
    c = 0.5
    x0 = torch.full((400, 1), c, dtype=torch.float64)
    exact = _offset_terms(c, BETAS, _offsets(BETAS))
    prior = float(_prior(to_numpy(x0[:1]), BETAS)[0])
    for sampler, p in ((_FixedSampler(P_STEPS), P_STEPS), (None, np.full(T, 1 / T))):
        model = _Offset(c, BETAS, _offsets(BETAS))
        losses, t, terms = impl.training_losses(
            model,
            x0,
            _schedule(),
            _gen(83),
            objective="vlb",
            variance="beta_tilde",
            sampler=sampler,
            decoder="continuous",
        )
        t = to_numpy(t).astype(int)
        what = "uniform steps" if sampler is None else f"steps drawn with p = {P_STEPS.tolist()}"
        assert_close(to_numpy(terms), exact[t], f"the terms L_t ({what})", rtol=1e-6)
        got, expected = to_numpy(losses), exact[t] / p[t] + prior
        for wrong, why, hint in (
            (
                exact[t] + prior,
                "L_t + L_T: the terms are not divided by the probabilities of their steps",
                "Divide each term by the probability of its step: L_t / p_t (with "
                "uniform steps, T L_t) — without it the loss estimates the mean of the terms, and "
                "with a sampler a biased one.",
            ),
            (
                exact[t] / (T * p[t]) + prior,
                "L_t / (T p_t) + L_T: the mean of the terms, not their sum",
                "The bound is the sum of the terms, not their mean: L_t / p_t, not L_t / (T p_t).",
            ),
            (
                exact[t] / p[t],
                "L_t / p_t alone: the prior term L_T is left out",
                "Add the prior term L_T (prior_kl): it is part of the bound.",
            ),
        ):
            if np.allclose(got, wrong, rtol=1e-6):
                expect(False, f"the losses ({what}) are {why}", hint)
        assert_close(got, expected, f"the losses ({what})", rtol=1e-6, hint=WEIGHT_HINT)
        assert_within_se(
            float(got.mean()),
            float(exact.sum() + prior),
            float(got.std(ddof=1) / math.sqrt(len(got))),
            f"the mean loss ({what}), the bound L_0 + ... + L_T",
            hint=WEIGHT_HINT,
        )


TERMS_HINT = (
    "The third result is the term L_t of each example's step — your vlb_term of the model's output "
    "with the variance given — for every objective, the simple loss included: it is what "
    "sampler.update(t, terms) records, not the squared error of the noise."
)
SIMPLE_WEIGHT_HINT = (
    "Weight the simple loss by 1 / (T p_t), with p_t the probability of the example's step: with "
    "uniform steps that is 1, but with a sampler the plain mse over-counts the steps it draws "
    "often, and its mean is no longer the simple loss."
)


def _terms_are_l_t(got: np.ndarray, expected: np.ndarray, mse: np.ndarray, what: str) -> None:
    """The terms returned are L_t, not the squared error of the noise."""
    if not np.allclose(expected, mse, rtol=1e-6) and np.allclose(got, mse, rtol=1e-6):
        expect(
            False, f"the terms ({what}) are the squared errors of the noise, not L_t", TERMS_HINT
        )
    assert_close(got, expected, f"the terms L_t ({what})", rtol=1e-6, hint=TERMS_HINT)


@check("training_losses", hint=SIMPLE_WEIGHT_HINT)
def the_simple_loss_is_weighted_by_the_probability_of_its_step(impl):
    """Objective "simple" with a known sampler: each loss is mse / (T p_t), exactly, and the terms are L_t."""
    c, offsets = 0.5, _offsets(BETAS)
    x0 = torch.full((400, 1), c, dtype=torch.float64)
    exact = _offset_terms(c, BETAS, offsets)
    model = _Offset(c, BETAS, offsets)
    losses, t, terms = impl.training_losses(
        model,
        x0,
        _schedule(),
        _gen(86),
        objective="simple",
        variance="beta_tilde",
        sampler=_FixedSampler(P_STEPS),
        decoder="continuous",
    )
    t = to_numpy(t).astype(int)
    what = f"objective 'simple', steps drawn with p = {P_STEPS.tolist()}"
    mse = offsets[t] ** 2  # the offset model misses the noise by offsets[t] in every coordinate
    _terms_are_l_t(to_numpy(terms), exact[t], mse, what)
    got, expected = to_numpy(losses), mse / (T * P_STEPS[t])
    for wrong, why in (
        (mse, "the plain mse, not divided by T p_t"),
        (mse / P_STEPS[t], "mse / p_t, without the 1 / T"),
    ):
        if np.allclose(got, wrong, rtol=1e-6):
            expect(False, f"the losses ({what}) are {why}", SIMPLE_WEIGHT_HINT)
    assert_close(got, expected, f"the losses ({what})", rtol=1e-6, hint=SIMPLE_WEIGHT_HINT)
    assert_within_se(
        float(got.mean()),
        float(np.mean(offsets**2)),
        float(got.std(ddof=1) / math.sqrt(len(got))),
        f"the mean loss ({what}), the mse averaged over uniform steps",
        hint=SIMPLE_WEIGHT_HINT,
    )


@check(
    "training_losses",
    hint="In the hybrid the bound's term must see the noise prediction through a stop-gradient "
    "(detach it, keep v): it trains the variance only, and the simple loss alone trains the mean.",
)
def the_hybrid_trains_the_mean_with_the_simple_loss_only(impl):
    """Objective "hybrid": the loss is mse + lambda (L_t / p_t + L_T), and its gradient reaches the mean only through mse."""
    x0 = _randn(16, 2, seed=84)
    scale = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    v = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    seen = []

    def model(x_t, t):
        seen.append((x_t.detach().clone(), t.clone()))
        return torch.cat([scale * x_t, v * torch.ones_like(x_t)], dim=1)

    losses, _, terms = impl.training_losses(
        model,
        x0,
        _schedule(),
        _gen(85),
        objective="hybrid",
        variance="learned",
        decoder="continuous",
        vlb_weight=0.5,
    )
    ((x_t, steps),) = seen
    a = _steps(BETAS)["abar"][to_numpy(steps).astype(int)][:, None]
    eps = (to_numpy(x_t) - np.sqrt(a) * to_numpy(x0)) / np.sqrt(1 - a)
    mse = np.mean((eps - 0.7 * to_numpy(x_t)) ** 2, axis=1)
    prior = _prior(to_numpy(x0), BETAS)
    expected = mse + 0.5 * (T * to_numpy(terms) + prior)
    assert_close(
        to_numpy(losses),
        expected,
        "the hybrid losses",
        rtol=1e-6,
        hint="The hybrid is mse + vlb_weight (L_t / p_t + L_T), with p_t = 1 / T for uniform steps.",
    )
    losses.mean().backward()
    x_t64 = x_t.clone()
    w = scale.detach().clone().requires_grad_(True)
    reference = ((torch.tensor(eps) - w * x_t64) ** 2).mean(dim=1).mean()
    (expected_grad,) = torch.autograd.grad(reference, w)
    expect(
        scale.grad is not None and abs(float(scale.grad) - float(expected_grad)) < 1e-9,
        f"the gradient reaching the noise prediction is {float(scale.grad or 0):.6g}; the simple "
        f"loss alone gives {float(expected_grad):.6g}: the bound's term trains the mean too",
    )
    expect(
        v.grad is not None and abs(float(v.grad)) > 0,
        "no gradient reaches v: the bound's term must train the learned variance",
        "Keep v in the graph: detach only the noise prediction before vlb_term.",
    )


HYBRID_WEIGHT_HINT = (
    "The hybrid is mse / (T p_t) + vlb_weight (L_t / p_t + L_T): both parts weighted by the "
    "probability of the example's step, each as it is in its own objective."
)


@check("training_losses", hint=HYBRID_WEIGHT_HINT)
def the_hybrid_is_weighted_by_the_probability_of_its_step(impl):
    """Objective "hybrid" with a known sampler: each loss is mse / (T p_t) + lambda (L_t / p_t + L_T), exactly."""
    c, offsets, v, weight = 0.5, _offsets(BETAS), 0.3, 0.5
    x0 = torch.full((400, 1), c, dtype=torch.float64)
    exact = _offset_terms(c, BETAS, offsets, v=v)
    prior = float(_prior(to_numpy(x0[:1]), BETAS)[0])
    model = _Offset(c, BETAS, offsets, learned_v=v)
    losses, t, terms = impl.training_losses(
        model,
        x0,
        _schedule(),
        _gen(87),
        objective="hybrid",
        variance="learned",
        sampler=_FixedSampler(P_STEPS),
        decoder="continuous",
        vlb_weight=weight,
    )
    t = to_numpy(t).astype(int)
    p = P_STEPS[t]
    what = f"objective 'hybrid', steps drawn with p = {P_STEPS.tolist()}"
    mse = offsets[t] ** 2
    _terms_are_l_t(to_numpy(terms), exact[t], mse, what)
    got = to_numpy(losses)
    bound = exact[t] / p + prior
    for wrong, why, hint in (
        (
            mse + weight * bound,
            "mse + lambda (L_t / p_t + L_T): the simple part is not divided by T p_t",
            SIMPLE_WEIGHT_HINT,
        ),
        (
            mse / (T * p) + weight * (exact[t] + prior),
            "mse / (T p_t) + lambda (L_t + L_T): the bound's term is not divided by p_t",
            WEIGHT_HINT,
        ),
        (
            mse / (T * p) + weight * exact[t] / p,
            "mse / (T p_t) + lambda L_t / p_t: the prior term L_T is left out",
            "Add the prior term L_T (prior_kl) to the bound's part: it is part of the bound.",
        ),
    ):
        if np.allclose(got, wrong, rtol=1e-6):
            expect(False, f"the losses ({what}) are {why}", hint)
    assert_close(
        got,
        mse / (T * p) + weight * bound,
        f"the losses ({what})",
        rtol=1e-6,
        hint=HYBRID_WEIGHT_HINT,
    )
    assert_within_se(
        float(got.mean()),
        float(np.mean(offsets**2) + weight * (exact.sum() + prior)),
        float(got.std(ddof=1) / math.sqrt(len(got))),
        f"the mean loss ({what}), the mse plus lambda times the bound",
        hint=HYBRID_WEIGHT_HINT,
    )


__all__ = ["CONTRACT"]
