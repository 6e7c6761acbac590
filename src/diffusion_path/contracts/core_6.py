"""Contract of Core Task 6: DDIM — its timesteps, its step, sampling, inversion and slerp.

Ground truth: DDIM eqs. (12) and (16) written out here in NumPy; DDPM's posterior (Core Task 2)
for η = 1; exact answers with exact noise predictors: data that is a single point comes back
exactly from any sampler, and for N(0, 1) data deterministic DDIM multiplies
the state by cos(φ_s − φ_t) at each step (cos φ = √ᾱ), so the output's spread is known exactly.
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
from diffusion_path.diffusion.schedules import NoiseSchedule

CONTRACT = Contract("core-6")
check = CONTRACT.check

BETAS = np.array([0.3, 0.1, 0.2, 0.3, 0.5, 0.2, 0.4, 0.1])


def _schedule(betas: np.ndarray = BETAS) -> NoiseSchedule:
    return NoiseSchedule(torch.tensor(betas))


def _abar(betas: np.ndarray = BETAS) -> np.ndarray:
    """abar by index, with index -1 (the data) first: abar[0] = 1, abar[t + 1] = alpha_bars[t]."""
    out, running = [1.0], 1.0
    for beta in betas:
        running *= 1.0 - beta
        out.append(running)
    return np.array(out)


def _ddim_by_hand(eps, x, t, s, eta, z=None, clip=False, mistake=None, nan=False):
    """DDIM eqs. (12) and (16), row by row, in NumPy: index t to index s (-1: the data).

    ``mistake`` computes instead a known wrong answer, to tell the learner which one was made:
    ``"alpha"`` (the one-step α where ᾱ is meant; ``"alpha-t"``: at ``t`` only), ``"landing"`` (ᾱ_s
    of the index after the one stepped to), ``"wrap"`` (ᾱ_s read as ``alpha_bars[t_prev]``, which
    Python wraps to the last entry at ``t_prev = -1``), ``"early-s"`` (the table with a 1 in front
    read at ``t_prev``: one index too early, and its last entry at ``-1``), ``"early-t"`` /
    ``"far-t"`` (ᾱ_t one index too early / too far), ``"x0"`` (x̂₀ with 1 − ᾱ where its square
    root is meant), ``"variance"`` (σ² where σ is meant: η times the radicand),
    ``"variance-squared"`` (σ squared in both places), ``"variance-z"`` (σ² multiplying z),
    ``"sigma-weight"`` (σ, not σ², taken out of the weight), ``"weight"`` (σ not taken out of the
    predicted noise's weight), ``"raw-eps"`` (x̂₀ clipped but ε̂ not recomputed from it).

    A wrong ᾱ can make σ's radicand negative: with ``nan=True`` σ is then NaN, even times η = 0,
    as in code that computes it without a guard; otherwise it is 0, as in code that skips it.
    """
    abar = _abar()
    alphas = np.concatenate([[1.0], 1.0 - BETAS])
    out = np.empty_like(x)
    with np.errstate(all="ignore"):
        for i, (ti, si) in enumerate(zip(t, s, strict=True)):
            a_t, a_s = abar[ti + 1], abar[si + 1]
            if mistake == "alpha":
                a_t, a_s = alphas[ti + 1], alphas[si + 1]
            elif mistake == "alpha-t":
                a_t = alphas[ti + 1]
            elif mistake == "landing":
                a_s = abar[si + 2]
            elif mistake == "wrap":
                a_s = abar[si + 1] if si >= 0 else abar[-1]
            elif mistake == "early-s":
                a_s = abar[si]  # index -1 wraps to the last entry, as in the learner's code
            elif mistake == "early-t":
                a_t = abar[ti]
            elif mistake == "far-t":
                a_t = abar[ti + 2]
            a_t, a_s = np.float64(a_t), np.float64(a_s)
            noise_scale = (1 - a_t) if mistake == "x0" else np.sqrt(1 - a_t)
            x0 = (x[i] - noise_scale * eps[i]) / np.sqrt(a_t)
            e = eps[i]
            if clip:
                x0 = np.clip(x0, -1, 1)
                if mistake != "raw-eps":
                    e = (x[i] - np.sqrt(a_t) * x0) / np.sqrt(1 - a_t)
            radicand = (1 - a_s) / (1 - a_t) * (1 - a_t / a_s)
            if nan:
                sigma = eta * np.sqrt(radicand)
            else:
                sigma = eta * np.sqrt(max(0.0, radicand)) if eta else 0.0
            if mistake == "variance":
                sigma = sigma**2 / eta if eta else 0.0
            elif mistake == "variance-squared":
                sigma = sigma**2
            taken = {"weight": 0.0, "sigma-weight": sigma}.get(mistake, sigma**2)
            weight = 1 - a_s - taken
            out[i] = np.sqrt(a_s) * x0 + np.sqrt(np.maximum(0.0, weight)) * e
            if z is not None:
                out[i] += (sigma**2 if mistake == "variance-z" else sigma) * z[i]
    return out


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.allclose(a, b, rtol=1e-6, atol=1e-9, equal_nan=True))


def _not_a_known_mistake(got: np.ndarray, expected: np.ndarray, what: str, known: list) -> None:
    """If ``got`` is wrong and equals one of the ``known`` wrong answers, fail with its own advice."""
    if _close(got, expected):
        return
    for wrong, mistake, hint in known:
        expect(
            not _close(got, wrong), f"{what} is wrong: it matches a known mistake, {mistake}", hint
        )


class PointMass:
    """The exact noise predictor when the data is one point mu: eps* = (x - sqrt(abar) mu) / sqrt(1 - abar)."""

    def __init__(self, mu, schedule: NoiseSchedule) -> None:
        self.mu = torch.as_tensor(mu, dtype=torch.float64)
        self.abar = schedule.alpha_bars

    def __call__(self, x, t):
        abar = self.abar[t].reshape(-1, *([1] * (x.ndim - 1)))
        return ((x.double() - abar.sqrt() * self.mu) / (1 - abar).sqrt()).to(x.dtype)


def _standard_normal_oracle(schedule: NoiseSchedule):
    """For N(0, 1) data, x_t ~ N(0, 1) and eps*(x_t) = sqrt(1 - abar_t) x_t."""

    def model(x, t):
        abar = schedule.alpha_bars[t].reshape(-1, *([1] * (x.ndim - 1)))
        return ((1 - abar).sqrt() * x.double()).to(x.dtype)

    return model


# ----------------------------------------------------------------------------- ddim_timesteps
CONTRACT.function(
    "ddim_timesteps",
    lambda: call(100, 7, "leading"),
    hints=(
        "The sampler visits num_steps of the T indices, largest first (C6.4). Each spacing is a "
        "rule for which ones: equal strides from 0 ('leading'), equal strides ending at T - 1 "
        "('trailing'), evenly spaced over 0..T-1 and rounded ('linspace'), or squares "
        "('quadratic').",
        "leading: i · ⌊T/n⌋ for i = 0..n−1; trailing: round(T − i·T/n) − 1, rounded half to "
        "even; linspace: n points from 0 to T − 1, rounded half to even; quadratic: ⌊(i·√(0.8T)/(n − 1))²⌋. Sort them "
        "largest first, as integers, and refuse a spacing that repeats an index.",
    ),
)
SPACING_HINTS = {
    "leading": "'leading' (C6.4) takes equal strides of ⌊T/n⌋ starting at index 0: the last index "
    "visited is 0 and the first (n − 1)·⌊T/n⌋, not T − 1.",
    "trailing": "'trailing' (C6.4) takes equal strides of T/n that end at the noisiest index, "
    "T − 1: round T − i·T/n (half to even), then subtract one, since indices are 0-based and T "
    "is not one of them.",
    "linspace": "'linspace' (C6.4) spreads n indices evenly from 0 to T − 1 inclusive and rounds "
    "each to the nearest integer (half to even) rather than cutting off its fraction.",
    "quadratic": "'quadratic' (C6.4) squares n evenly spaced numbers from 0 to √(0.8T) — steps of "
    "√(0.8T)/(n − 1), so that the last one is √(0.8T) itself — and rounds down.",
}
ORDER_HINT = "Return the indices largest first: the sampler walks from the noise to the data."
ROUND_HINT = (
    "Round half to even (C6.4), as Python's round and torch.round do: 2.5 → 2 and 7.5 → 8. "
    "Adding 0.5 and rounding down rounds every half up."
)


def _spacing_by_hand(T: int, n: int, spacing: str, half_up: bool = False) -> list[int]:
    """The spacing's rule (C6.4); ``half_up`` rounds halves up instead of to even (a mistake)."""

    def rounded(v: float) -> int:
        return math.floor(v + 0.5) if half_up else round(v)

    if spacing == "leading":
        steps = [i * (T // n) for i in range(n)]
    elif spacing == "trailing":
        steps = [rounded(T - i * T / n) - 1 for i in range(n)]
    elif spacing == "linspace":
        steps = [rounded(float(v)) for v in np.linspace(0, T - 1, n)]
    else:
        steps = [math.floor((i * math.sqrt(0.8 * T) / (n - 1)) ** 2) for i in range(n)]
    return sorted(steps, reverse=True)


@check("ddim_timesteps", hint=SPACING_HINTS["leading"])
def timesteps_follow_each_spacing(impl):
    """ddim_timesteps gives, for each spacing, the indices its rule says, largest first."""
    for T, n in ((1000, 10), (1000, 50), (100, 7), (10, 10), (999, 8), (10, 4)):
        for spacing in ("leading", "trailing", "linspace", "quadratic"):
            if spacing == "quadratic" and n > math.sqrt(0.8 * T):
                continue
            got = impl.ddim_timesteps(T, n, spacing)
            expect(
                isinstance(got, torch.Tensor) and got.dtype == torch.long,
                f"ddim_timesteps returned {type(got).__name__} {getattr(got, 'dtype', '')}, expected a LongTensor",
                "Return the indices as a LongTensor (integers), largest first.",
            )
            expected = _spacing_by_hand(T, n, spacing)
            seen = got.tolist()
            expect(
                seen == expected or sorted(seen, reverse=True) != expected,
                f"ddim_timesteps({T}, {n}, {spacing!r}) gives the right indices in the wrong "
                f"order: {seen[:4]}...",
                ORDER_HINT,
            )
            if spacing in ("trailing", "linspace"):
                half_up = _spacing_by_hand(T, n, spacing, half_up=True)
                expect(
                    seen == expected or seen != half_up,
                    f"ddim_timesteps({T}, {n}, {spacing!r}) is {seen[:6]}..., expected "
                    f"{expected[:6]}...: halves rounded up, not to even",
                    ROUND_HINT,
                )
            expect(
                seen == expected,
                f"ddim_timesteps({T}, {n}, {spacing!r}) is {seen[:6]}..., expected {expected[:6]}...",
                SPACING_HINTS[spacing],
            )


REPEAT_HINT = (
    "A spacing can repeat an index when num_steps is large — 'quadratic' with n = 5 of T = 10 "
    "rounds both 0 and 0.5 down to 0. Refuse it with a ValueError naming spacing or num_steps, "
    "as the docstring's Raises says, instead of visiting an index twice."
)


@check("ddim_timesteps", hint=REPEAT_HINT)
def timesteps_refuse_repeated_indices(impl):
    """ddim_timesteps raises a ValueError when the spacing's rule repeats an index."""
    for T, n in ((10, 5), (50, 10)):
        try:
            got = impl.ddim_timesteps(T, n, "quadratic")
        except ValueError as error:
            expect(
                "num_steps" in str(error) or "spacing" in str(error),
                f"ddim_timesteps({T}, {n}, 'quadratic') raised a ValueError that names neither "
                f"num_steps nor spacing: {str(error)[:120]!r}",
                REPEAT_HINT,
            )
            continue
        seen = got.tolist() if isinstance(got, torch.Tensor) else got
        expect(
            False,
            f"ddim_timesteps({T}, {n}, 'quadratic') returned {seen}, which repeats an index, "
            "instead of raising a ValueError",
            REPEAT_HINT,
        )


# ----------------------------------------------------------------------------- ddim_step
CONTRACT.function(
    "ddim_step",
    lambda: call(
        _randn(3, 2, seed=1),
        _randn(3, 2, seed=2),
        torch.tensor([7, 4, 2]),
        torch.tensor([5, 1, -1]),
        _schedule(),
        eta=0.5,
        generator=torch.Generator().manual_seed(0),
    ),
    invalid=[
        Invalid("t_prev", torch.tensor([7, 4, 2]), "t_prev equal to t"),
        Invalid(
            "model_output",
            lambda a: torch.zeros(3, 3, dtype=torch.float64),
            "model_output of another shape than x_t",
        ),
        Invalid(
            "noise",
            lambda a: torch.zeros(3, 3, dtype=torch.float64),
            "noise of another shape than x_t",
        ),
    ],
    hints=(
        "DDIM rebuilds the earlier state from two predictions (C6.2)–(C6.3): the clean data x̂₀ "
        "and the noise ε̂, weighted for the step it lands on; η only sets how much of the noise "
        "is fresh instead of predicted. Index −1 means the data, where ᾱ = 1.",
        "Read ᾱ_t at t and ᾱ_s at t_prev (1 where t_prev is −1); x̂₀ from ε̂ as in Core 2; with "
        "clipping, clip x̂₀ and recompute ε̂ from it; σ = η·√((1−ᾱ_s)/(1−ᾱ_t))·√(1−ᾱ_t/ᾱ_s); the "
        "result is √ᾱ_s·x̂₀ + √(1−ᾱ_s−σ²)·ε̂ + σ·z, with z drawn only when η > 0.",
    ),
)
STEP_HINT = (
    "DDIM eq. (12), (C6.2): √ᾱ_s x̂₀ + √(1 − ᾱ_s − σ²) ε̂ (+ σ z), with ᾱ_s of the index stepped "
    "to (1 at index −1) and x̂₀ from ε̂ as in (C2.3)."
)
ALPHA_HINT = (
    "Use the cumulative ᾱ, not the one-step α: DDIM writes α for what DDPM calls ᾱ, the product "
    "of all the α up to that step (the schedule's alpha_bars)."
)
LANDING_HINT = (
    "Read ᾱ_s at the index stepped to, t_prev itself; with index −1 for the data standing first "
    "(ᾱ = 1), index t_prev sits one place further along."
)
WRAP_HINT = (
    "At the last step, t_prev = −1 stands for the data, where ᾱ = 1; alpha_bars[-1] reads the "
    "schedule's last entry (≈ 0) instead, since Python counts −1 from the end. Use 1 there: for "
    "instance a table with a 1 in front, read at t_prev + 1."
)
EARLY_S_HINT = (
    "ᾱ_s was read one index too early, at t_prev − 1 — and, at the last step (t_prev = −1), from "
    "the table's last entry, since Python counts −1 from the end. In a table with a 1 in front, "
    "index t_prev sits one place further along: read it at t_prev + 1."
)
EARLY_T_HINT = (
    "ᾱ_t was read one index too early, at t − 1: ᾱ_t is alpha_bars[t] itself, at the index of "
    "the state x_t (in a table with a 1 in front, at t + 1)."
)
FAR_T_HINT = (
    "ᾱ_t was read one index too far, at t + 1: ᾱ_t is alpha_bars[t] itself — index t already is "
    "the paper's step t + 1."
)
X0_HINT = (
    "x̂₀ from ε̂ as in (C2.3): subtract √(1 − ᾱ_t) times ε̂ — the noise's standard deviation, "
    "not its variance — then divide by √ᾱ_t."
)
SIGMA_HINT = (
    "σ(η) of DDIM eq. (16), (C6.3): η·√((1−ᾱ_s)/(1−ᾱ_t))·√(1−ᾱ_t/ᾱ_s) — it scales the fresh "
    "noise z, and σ² is taken out of the predicted noise's weight."
)
STD_HINT = (
    "σ(η) of (C6.3) is a standard deviation, η times the product of two square roots: it "
    "multiplies z as it is, and only its square comes out of the noise's weight."
)
WEIGHT_HINT = (
    "The predicted noise's weight is √(1 − ᾱ_s − σ²): the fresh noise σ z takes σ² of the "
    "variance 1 − ᾱ_s that the state at s must carry, so σ² is taken out of the predicted noise's weight."
)
FRESH_HINT = (
    "With η > 0 the step adds fresh noise: σ(η) of (C6.3) scales the fresh noise z you are given "
    "(or draw from the generator when it is None)."
)


@check("ddim_step", hint=STEP_HINT)
def deterministic_step_is_eq_12(impl):
    """With η = 0 the step is DDIM eq. (12) without noise, for a batch of mixed indices, to the data too."""
    eps, x = _randn(5, 3, seed=10), _randn(5, 3, seed=11)
    t, s = torch.tensor([6, 5, 3, 1, 0]), torch.tensor([2, 4, -1, 0, -1])
    got = to_numpy(impl.ddim_step(eps, x, t, s, _schedule()))
    args = (to_numpy(eps), to_numpy(x), t.tolist(), s.tolist(), 0.0)
    expected = _ddim_by_hand(*args)
    known = [
        ("alpha", "the one-step α", ALPHA_HINT),
        ("alpha-t", "the one-step α at t", ALPHA_HINT),
        ("wrap", "alpha_bars[-1] (≈ 0) for the data's ᾱ = 1 at t_prev = −1", WRAP_HINT),
        ("early-s", "ᾱ_s read one index too early, at t_prev − 1", EARLY_S_HINT),
        ("landing", "ᾱ_s read one index too far, at t_prev + 1", LANDING_HINT),
        ("early-t", "ᾱ_t read one index too early, at t − 1", EARLY_T_HINT),
        ("far-t", "ᾱ_t read one index too far, at t + 1", FAR_T_HINT),
        ("x0", "x̂₀ with 1 − ᾱ_t", X0_HINT),
    ]
    _not_a_known_mistake(
        got,
        expected,
        "the η = 0 step",
        [
            (_ddim_by_hand(*args, mistake=mistake, nan=nan), words, hint)
            for mistake, words, hint in known
            for nan in (False, True)
        ],
    )
    expect(
        np.isfinite(got).all(),
        "the η = 0 step returned NaN or inf: a square root of a negative number, such as "
        "1 − ᾱ_t/ᾱ_s with ᾱ_t above ᾱ_s, or a division by 1 − ᾱ_t = 0",
        "ᾱ falls as the index grows, so ᾱ_t < ᾱ_s for t > s; a NaN here means a wrong entry "
        "stood for ᾱ_t or ᾱ_s. Read ᾱ_t at t and ᾱ_s at t_prev, with 1 where t_prev is −1 "
        "(alpha_bars[-1] is the schedule's last entry, not the data's 1), from the cumulative ᾱ.",
    )
    assert_close(got, expected, "the η = 0 step")


@check("ddim_step", hint=SIGMA_HINT)
def stochastic_step_uses_sigma_of_eta(impl):
    """With η > 0 and z given, the step adds σ(η) z and shrinks the predicted noise's weight (eq. 16)."""
    eps, x, z = _randn(4, 2, seed=20), _randn(4, 2, seed=21), _randn(4, 2, seed=22)
    t, s = torch.tensor([7, 5, 3, 2]), torch.tensor([6, 1, 2, -1])
    for eta in (0.5, 1.0):
        got = to_numpy(impl.ddim_step(eps, x, t, s, _schedule(), eta=eta, noise=z))
        args = (to_numpy(eps), to_numpy(x), t.tolist(), s.tolist(), eta)
        other = to_numpy(impl.ddim_step(eps, x, t, s, _schedule(), eta=eta, noise=2 * z))
        expect(
            not _close(got[:3], other[:3]),
            f"with η = {eta} the step does not change when the noise z does: no fresh noise is added",
            FRESH_HINT,
        )
        expected = _ddim_by_hand(*args, z=to_numpy(z))
        _not_a_known_mistake(
            got,
            expected,
            f"the η = {eta} step",
            [
                (_ddim_by_hand(*args, z=to_numpy(z), mistake="variance"), "σ² as σ", STD_HINT),
                (
                    _ddim_by_hand(*args, z=to_numpy(z), mistake="variance-squared"),
                    "σ² as σ (σ squared in both places)",
                    STD_HINT,
                ),
                (
                    _ddim_by_hand(*args, z=to_numpy(z), mistake="variance-z"),
                    "σ² as the fresh noise's scale",
                    STD_HINT,
                ),
                (
                    _ddim_by_hand(*args, z=to_numpy(z), mistake="sigma-weight"),
                    "σ, not σ², taken out of the noise's weight",
                    STD_HINT,
                ),
                (
                    _ddim_by_hand(*args, z=to_numpy(z), mistake="weight"),
                    "√(1 − ᾱ_s) as the noise's weight",
                    WEIGHT_HINT,
                ),
            ],
        )
        assert_close(got, expected, f"the η = {eta} step")


@check(
    "ddim_step",
    hint="With η = 1 and one step back, DDIM's σ² is DDPM's posterior variance β̃: the step is DDPM's (C2.6).",
)
def eta_one_is_ddpm(impl):
    """With η = 1 and t_prev = t - 1, the step equals DDPM's ancestral step with σ² = β̃ (DDIM Sec. 4.1)."""
    eps, x, z = _randn(8, 2, seed=30), _randn(8, 2, seed=31), _randn(8, 2, seed=32)
    t = torch.arange(8)
    got = to_numpy(impl.ddim_step(eps, x, t, t - 1, _schedule(), eta=1.0, noise=z))
    abar = _abar()
    for i in range(8):
        a_t, a_s, beta = abar[i + 1], abar[i], BETAS[i]
        x0 = (to_numpy(x)[i] - math.sqrt(1 - a_t) * to_numpy(eps)[i]) / math.sqrt(a_t)
        mean = (math.sqrt(a_s) * beta * x0 + math.sqrt(1 - beta) * (1 - a_s) * to_numpy(x)[i]) / (
            1 - a_t
        )
        tilde = (1 - a_s) / (1 - a_t) * beta
        assert_close(
            got[i], mean + math.sqrt(tilde) * to_numpy(z)[i], f"the η = 1 step at index {i}"
        )


@check(
    "ddim_step",
    hint="With clip_x0, clip x̂₀ to [-1, 1] and recompute ε̂ from the clipped x̂₀, so the two stay consistent with x_t.",
)
def clipping_recomputes_the_noise(impl):
    """With clip_x0 the step uses x̂₀ clipped to [-1, 1] and the noise recomputed from it."""
    eps, x = _randn(4, 3, seed=40), 3 * _randn(4, 3, seed=41)
    t, s = torch.tensor([7, 5, 3, 1]), torch.tensor([3, 2, 0, -1])
    got = to_numpy(impl.ddim_step(eps, x, t, s, _schedule(), clip_x0=True))
    args = (to_numpy(eps), to_numpy(x), t.tolist(), s.tolist(), 0.0)
    expected = _ddim_by_hand(*args, clip=True)
    _not_a_known_mistake(
        got,
        expected,
        "the clipped step",
        [
            (
                _ddim_by_hand(*args),
                "no clipping",
                "With clip_x0=True, clip x̂₀ to [-1, 1] before it is used; the step must change "
                "wherever x̂₀ lies outside.",
            ),
            (
                _ddim_by_hand(*args, clip=True, mistake="raw-eps"),
                "the model's ε̂ kept with a clipped x̂₀",
                "After clipping x̂₀, recompute ε̂ from the clipped x̂₀ as in (C2.3), so that the "
                "two stay consistent with x_t.",
            ),
        ],
    )
    assert_close(got, expected, "the clipped step")


@check(
    "ddim_step", hint=SIGMA_HINT + " Draw z from the generator you are given when noise is None."
)
def fresh_noise_is_standard_normal(impl):
    """Without noise, (step − deterministic part) / σ is N(0, 1) (KS test)."""
    n = 20_000
    eps, x = torch.zeros(n, 1, dtype=torch.float64), torch.ones(n, 1, dtype=torch.float64)
    got = to_numpy(
        impl.ddim_step(
            eps, x, 6, 2, _schedule(), eta=0.7, generator=torch.Generator().manual_seed(3)
        )
    )
    abar = _abar()
    a_t, a_s = abar[7], abar[3]
    sigma = 0.7 * math.sqrt((1 - a_s) / (1 - a_t) * (1 - a_t / a_s))
    base = math.sqrt(a_s) / math.sqrt(a_t)
    assert_ks((got[:, 0] - base) / sigma, normal_cdf, "the fresh noise of a step with η = 0.7")


# ----------------------------------------------------------------------------- ddim_sample
def _zero_model(x, t):
    return torch.zeros_like(x)


CONTRACT.function(
    "ddim_sample",
    lambda: call(
        _zero_model,
        (3, 2),
        _schedule(),
        num_steps=4,
        eta=0.5,
        generator=torch.Generator().manual_seed(0),
    ),
    invalid=[
        Invalid(
            "x_T",
            lambda a: torch.zeros(4, 2, dtype=torch.float64),
            "x_T of another shape than shape",
        )
    ],
    uses=("ddim_timesteps", "ddim_step"),
    hints=(
        "DDIM's sampler walks the visited indices from the largest down, one DDIM step between "
        "consecutive ones, the last to the data (index −1): num_steps model calls in all.",
        "x starts at x_T or standard normal noise from the generator; for each visited index t, "
        "paired with the next smaller one (−1 after the last): ask the model for ε̂ at (x, t) and "
        "take one ddim_step to the pair's smaller index, with η and clipping passed on; no "
        "gradients are needed.",
    ),
)
SAMPLE_HINT = (
    "One model call per visited index, largest first, each followed by a ddim_step to the next "
    "visited index — and to −1 (the data) after the last. Pass eta and clip_x0 on."
)


@check("ddim_sample", hint=SAMPLE_HINT)
def sampler_visits_the_indices_of_its_spacing(impl):
    """ddim_sample calls the model at the spacing's indices, largest first, once each, as LongTensors."""
    calls = []

    def model(x, t):
        calls.append(t.clone())
        return torch.zeros_like(x)

    x_T = _randn(3, 2, seed=5)
    impl.ddim_sample(
        model,
        (3, 2),
        _schedule(),
        num_steps=3,
        spacing="trailing",
        x_T=x_T,
        generator=torch.Generator().manual_seed(0),
    )
    seen = [c.tolist() for c in calls]
    expected = [[t] * 3 for t in _spacing_by_hand(8, 3, "trailing")]
    expect(
        len(seen) == len(expected),
        f"the model was called {len(seen)} times for num_steps=3: t = {seen}",
        "One model call per visited index, num_steps in all: after the last visited index comes "
        "one more step, to index −1 (the data).",
    )
    expect(
        seen == expected,
        f"the model was called with t = {seen}; expected {expected}",
        "Ask the model at the index of the state it sees — the larger index of each pair, largest "
        "first — not at the index the step goes to.",
    )
    expect(
        all(c.dtype == torch.long for c in calls),
        "t was not passed to the model as a LongTensor",
        "Pass t to the model as a LongTensor with one entry per example.",
    )


def _deterministic_factors(abar: np.ndarray, steps: list[int]) -> list[float]:
    """For N(0, 1) data and η = 0, each step multiplies the state by cos(φ_s − φ_t), cos φ = √ᾱ."""
    return [
        math.sqrt(abar[s + 1] * abar[t + 1]) + math.sqrt((1 - abar[s + 1]) * (1 - abar[t + 1]))
        for t, s in zip(steps, [*steps[1:], -1], strict=True)
    ]


X_T_HINT = (
    "Start from the x_T you are given: draw standard normal noise from the generator only when "
    "x_T is None. With η = 0 the samples are then a function of x_T alone."
)


@check("ddim_sample", hint=X_T_HINT)
def sampler_starts_from_the_given_x_T(impl):
    """With η = 0, x_T given and N(0, 1) data, the samples are x_T times a known factor, for any seed."""
    x_T = _randn(4, 2, seed=6)
    factor = math.prod(_deterministic_factors(_abar(), _spacing_by_hand(8, 4, "leading")))
    for seed in (0, 1):
        x = impl.ddim_sample(
            _standard_normal_oracle(_schedule()),
            (4, 2),
            _schedule(),
            num_steps=4,
            x_T=x_T,
            generator=torch.Generator().manual_seed(seed),
        )
        assert_close(
            x,
            factor * x_T,
            f"the η = 0 samples from a given x_T (generator seed {seed}), which must be "
            f"{factor:.4f} · x_T for N(0, 1) data",
            hint=X_T_HINT,
        )


TRAJECTORY_HINT = (
    "With return_trajectory, return the samples and the states in the order visited: x_T first "
    "(the noise, before any step), then the state after each step, the samples last — "
    "num_steps + 1 entries stacked on a new first axis."
)


@check("ddim_sample", hint=TRAJECTORY_HINT)
def trajectory_runs_from_x_T_to_the_samples(impl):
    """The trajectory is x_T, then each step's state (known exactly for N(0, 1) data), the samples last."""
    x_T = _randn(3, 2, seed=8)
    out = impl.ddim_sample(
        _standard_normal_oracle(_schedule()),
        (3, 2),
        _schedule(),
        num_steps=3,
        x_T=x_T,
        return_trajectory=True,
        generator=torch.Generator().manual_seed(0),
    )
    expect(
        isinstance(out, tuple) and len(out) == 2,
        f"with return_trajectory=True, ddim_sample returned {type(out).__name__}, not the pair "
        "(samples, trajectory)",
        TRAJECTORY_HINT,
    )
    samples, path = to_numpy(out[0]), to_numpy(out[1])
    expect(
        path.shape == (4, 3, 2),
        f"the trajectory of 3 steps for shape (3, 2) has shape {path.shape}, expected (4, 3, 2)",
        "One entry per state: x_T, then the state after each of the num_steps steps — "
        "num_steps + 1 in all, stacked on a new first axis.",
    )
    expect(
        _close(path[0], to_numpy(x_T)),
        "the trajectory's first entry is not x_T"
        + (" (it is the samples: the trajectory is reversed)" if _close(path[0], samples) else ""),
        "The trajectory runs noise first: its first entry is x_T itself, before any step, and "
        "its last the samples.",
    )
    expect(
        _close(path[-1], samples),
        "the trajectory's last entry is not the samples returned",
        "The trajectory ends with the samples: its last entry is the state after the last step, "
        "the same tensor the sampler returns.",
    )
    state = to_numpy(x_T)
    for k, a in enumerate(_deterministic_factors(_abar(), _spacing_by_hand(8, 3, "leading"))):
        state = a * state
        assert_close(
            path[k + 1],
            state,
            f"the trajectory's entry {k + 1}, the state after step {k + 1}",
            hint="Entry k of the trajectory is the state after k steps: append the state after "
            "each step, in order.",
        )


@check("ddim_sample", hint=SAMPLE_HINT + " The last step must land on the data: ᾱ = 1 there.")
def point_mass_data_comes_back_exactly(impl):
    """When the data is one point, every DDIM sampler — any η, any number of steps — returns it."""
    mu = torch.tensor([0.7, -1.2], dtype=torch.float64)
    for num_steps, eta in ((8, 0.0), (3, 0.0), (5, 1.0), (2, 0.5)):
        x = impl.ddim_sample(
            PointMass(mu, _schedule()),
            (6, 2),
            _schedule(),
            num_steps=num_steps,
            eta=eta,
            generator=torch.Generator().manual_seed(1),
        )
        assert_close(
            x,
            mu.expand(6, 2),
            f"the samples of a point mass ({num_steps} steps, η = {eta})",
            rtol=1e-6,
        )


def _spread(abar: np.ndarray, steps: list[int], eta: float) -> float:
    """The exact standard deviation of DDIM's output for N(0, 1) data, from x_T ~ N(0, 1).

    For N(0, 1) data x_t ~ N(0, 1) at every step and eps*(x) = sqrt(1 - abar_t) x, so
    x0_hat = sqrt(abar_t) x and a step maps x to a x + sigma z with
    a = sqrt(abar_s abar_t) + sqrt(1 - abar_s - sigma^2) sqrt(1 - abar_t): the variance goes
    v -> a^2 v + sigma^2. (With eta = 0, a = cos(phi_s - phi_t) for cos(phi) = sqrt(abar).)
    """
    variance = 1.0
    for t, s in zip(steps, [*steps[1:], -1], strict=True):
        a_t, a_s = abar[t + 1], abar[s + 1]
        sigma2 = eta**2 * (1 - a_s) / (1 - a_t) * (1 - a_t / a_s)
        a = math.sqrt(a_s * a_t) + math.sqrt(max(0.0, 1 - a_s - sigma2)) * math.sqrt(1 - a_t)
        variance = a * a * variance + sigma2
    return math.sqrt(variance)


@check("ddim_sample", hint=SAMPLE_HINT)
def sampling_gaussian_data_has_its_exact_spread(impl):
    """For N(0, 1) data the output's spread is known exactly for every η: each step is linear-Gaussian."""
    schedule = NoiseSchedule.cosine(50)
    abar = np.concatenate([[1.0], schedule.alpha_bars.numpy()])
    n = 20_000
    for num_steps, eta in ((3, 0.0), (10, 0.0), (5, 1.0)):
        x = to_numpy(
            impl.ddim_sample(
                _standard_normal_oracle(schedule),
                (n, 1),
                schedule,
                num_steps=num_steps,
                eta=eta,
                generator=torch.Generator().manual_seed(num_steps),
            )
        )
        expected = _spread(abar, _spacing_by_hand(50, num_steps, "leading"), eta)
        assert_within_se(
            float(x.std()),
            expected,
            expected / math.sqrt(2 * (n - 1)),
            f"the spread after {num_steps} steps with η = {eta}",
        )


@check("ddim_sample", hint="Pass clip_x0 on to every ddim_step: it is the step that clips x̂₀.")
def sampler_passes_clipping_on(impl):
    """With clip_x0, data that is one point outside [-1, 1] comes back clipped to the box."""
    mu = torch.tensor([2.5, -0.4], dtype=torch.float64)
    for clip in (True, False):
        x = impl.ddim_sample(
            PointMass(mu, _schedule()),
            (3, 2),
            _schedule(),
            num_steps=4,
            clip_x0=clip,
            generator=torch.Generator().manual_seed(2),
        )
        target = mu.clamp(-1, 1) if clip else mu
        assert_close(
            x, target.expand(3, 2), f"the samples of a point mass at (2.5, −0.4), clip_x0={clip}"
        )


@check(
    "ddim_sample",
    hint="Draw x_T from the generator you are given; the same seed must give the same samples.",
)
def sampler_is_reproducible_from_its_generator(impl):
    """The same generator seed gives the same samples; the global random state is left alone."""
    state = torch.random.get_rng_state()
    a, b = (
        impl.ddim_sample(
            _zero_model,
            (4, 2),
            _schedule(),
            num_steps=4,
            eta=1.0,
            generator=torch.Generator().manual_seed(7),
        )
        for _ in range(2)
    )
    expect(torch.equal(a, b), "the same seed gave different samples")
    expect(torch.equal(state, torch.random.get_rng_state()), "the global random state was used")


# ----------------------------------------------------------------------------- ddim_invert
CONTRACT.function(
    "ddim_invert",
    lambda: call(_zero_model, _randn(3, 2, seed=3), _schedule(), num_steps=4),
    uses=("ddim_timesteps",),
    hints=(
        "Inversion runs deterministic DDIM the other way (C6.5): from the data up through the "
        "visited indices, each step predicting x̂₀ and rebuilding the next, noisier state.",
        "Visit the indices smallest first, starting from the data (index −1, ᾱ = 1); at each: "
        "ask the model for ε̂ at the current point with the index you move to, form x̂₀ with the "
        "current ᾱ, and set the state to √ᾱ_t·x̂₀ + √(1−ᾱ_t)·ε̂ with the new ᾱ.",
    ),
)
INVERT_HINT = (
    "Each inversion step (C6.5) forms x̂₀ with the ᾱ of the current point (1 at the data) and "
    "rebuilds the state with the ᾱ of the index it moves to, from the noise predicted at the "
    "current point."
)


@check("ddim_invert", hint=INVERT_HINT)
def inversion_follows_the_deterministic_update(impl):
    """Each inversion step is √ᾱ_t x̂₀ + √(1 − ᾱ_t) ε̂ with ε̂ predicted at the current point for the index moved to."""
    calls = []

    def model(x, t):
        calls.append(int(t[0]))
        return 0.3 * x + 0.1

    x0 = _randn(4, 2, seed=9)
    got = to_numpy(impl.ddim_invert(model, x0, _schedule(), num_steps=3, spacing="trailing"))
    visited = sorted(_spacing_by_hand(8, 3, "trailing"))
    expect(
        calls == visited or sorted(calls) != visited,
        f"the model was called with t = {calls}; expected {visited}, smallest first",
        "Invert from the data upwards: visit the indices smallest first, the reverse of sampling.",
    )
    expect(
        calls == visited,
        f"the model was called with t = {calls}; expected {visited}",
        "Ask the model for the noise at the current point with the index it moves to: the "
        "first call is at the smallest visited index, from the data itself.",
    )
    abar, x = _abar(), to_numpy(x0)
    for s, t in zip([-1, *visited[:-1]], visited, strict=True):
        eps = 0.3 * x + 0.1
        x0_hat = (x - math.sqrt(1 - abar[s + 1]) * eps) / math.sqrt(abar[s + 1])
        x = math.sqrt(abar[t + 1]) * x0_hat + math.sqrt(1 - abar[t + 1]) * eps
    assert_close(got, x, "the inverted noise")


# ----------------------------------------------------------------------------- slerp
CONTRACT.function(
    "slerp",
    lambda: call(_randn(3, 4, seed=1), _randn(3, 4, seed=2), 0.3),
    invalid=[
        Invalid(
            "z1", lambda a: torch.zeros(3, 5, dtype=torch.float64), "z1 of another shape than z0"
        )
    ],
    hints=(
        "Spherical interpolation (C6.6) moves along the great circle between the two noises: "
        "the angle θ between them, per example, and two sine weights that sum the ends.",
        "cos θ is the inner product of the flattened noises over the product of their norms; "
        "the weights are sin((1−w)θ)/sin θ and sin(wθ)/sin θ — linear weights where θ is tiny.",
    ),
)
SLERP_HINT = (
    "Slerp (C6.6): weights sin((1−w)θ)/sin θ for z0 and sin(wθ)/sin θ for z1, with θ the angle "
    "between the two (one per example): not a straight line, and w = 0 gives z0."
)


@check("slerp", hint=SLERP_HINT)
def slerp_follows_the_great_circle(impl):
    """slerp hits both ends, keeps unit norms on the circle, and matches the formula per example."""
    z0, z1 = _randn(5, 6, seed=11), _randn(5, 6, seed=12)
    for w, end in ((0.0, z0), (1.0, z1)):
        assert_close(
            impl.slerp(z0, z1, w),
            end,
            f"slerp at w = {w:g}",
            hint="The weights give the ends: w = 0 gives z0 and w = 1 gives z1, so z0's weight "
            "is sin((1 − w)θ)/sin θ and z1's is sin(wθ)/sin θ.",
        )
    u, v = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    mid = to_numpy(impl.slerp(u, v, 0.5))
    assert_close(
        np.linalg.norm(mid),
        1.0,
        "the norm halfway between two orthogonal unit vectors",
        hint="Slerp moves along the great circle, not a straight line: halfway between two "
        "orthogonal unit vectors it is still at norm 1, where the straight line is at 0.71.",
    )
    a, b = to_numpy(z0), to_numpy(z1)
    for w in (0.25, 0.6):
        theta = np.arccos(
            np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        )
        expected = (np.sin((1 - w) * theta) / np.sin(theta))[:, None] * a + (
            np.sin(w * theta) / np.sin(theta)
        )[:, None] * b
        assert_close(impl.slerp(z0, z1, w), expected, f"slerp at w = {w}")


PARALLEL_HINT = (
    "When the two noises point the same way (θ = 0), sin θ = 0 and (C6.6) is 0/0: use its limit "
    "there, the straight line with weights 1 − w and w — and clamp cos θ to [−1, 1] before "
    "arccos, since rounding can push it just past 1."
)


@check("slerp", hint=PARALLEL_HINT)
def slerp_of_parallel_noises_is_the_straight_line(impl):
    """With z1 a positive multiple of z0 (θ = 0), slerp is finite: (1 − w) z0 + w z1, its limit."""
    z0 = torch.tensor([[3.0, 4.0], [1.0, 0.0], [0.0, -2.0]], dtype=torch.float64)
    z1 = torch.tensor([[3.0, 4.0], [2.0, 0.0], [0.0, -1.0]], dtype=torch.float64)
    noise = _randn(4, 6, seed=13)
    for a, b in ((z0, z1), (z0, z0), (noise, 3 * noise)):
        for w in (0.0, 0.3, 1.0):
            got = to_numpy(impl.slerp(a, b, w))
            expect(
                np.isfinite(got).all(),
                f"slerp of two parallel noises (θ = 0) at w = {w:g} gave NaN or inf",
                PARALLEL_HINT,
            )
            assert_close(
                got,
                (1 - w) * to_numpy(a) + w * to_numpy(b),
                f"slerp of two parallel noises (θ = 0) at w = {w:g}",
                hint=PARALLEL_HINT,
            )


__all__ = ["CONTRACT"]
