"""Contract of Core Task 3: the time embedding, the U-Net's blocks and wiring, and the per-step error.

Ground truth: the embedding's formula evaluated in NumPy; the residual and attention blocks
computed by hand in NumPy (group normalisation, 3×3 convolutions as sums of nine shifted
products, a softmax) from the very weights of the block under test, set at random; the U-Net's
wiring as the page's eq. (C3.5) states it, applied to the network's own stages; and, for the
error measure, predictors whose error is known exactly — one that knows the data (error 0), one
that is off by a known amount in one coordinate, and the zero predictor (error 1, within a
Monte-Carlo bound).

No network is trained here: every check builds a few tiny blocks or networks and runs them
once or twice.
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
from diffusion_path.contracts.inputs import alpha_bars_by_loop as _alpha_bars
from diffusion_path.contracts.inputs import seeded_randn as _randn
from diffusion_path.diffusion.schedules import NoiseSchedule

CONTRACT = Contract("core-3")


#: ``CONTRACT.check`` on one CPU thread: the tensors here are tiny.
check = functools.partial(CONTRACT.check, threads=1)


#: A short schedule for the error measure: its indices are easy to tell apart.
BETAS = np.array([0.05, 0.1, 0.2, 0.3, 0.5])


def _schedule() -> NoiseSchedule:
    return NoiseSchedule(torch.tensor(BETAS))


def _randomise(
    module: torch.nn.Module, seed: int, scale: float = 0.3, dtype: torch.dtype = torch.float64
) -> torch.nn.Module:
    """Set every parameter of ``module`` to noise (so that no zero-initialised layer hides a mistake)."""
    module.to(dtype)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(scale * torch.randn(parameter.shape, generator=generator, dtype=dtype))
    return module


# ----------------------------------------------------------------------------- timestep_embedding
def _embedding(
    t: np.ndarray, dim: int, max_period: float = 10_000.0, variant: str = ""
) -> np.ndarray:
    """Eq. (C3.1) in NumPy: k cosines then k sines of t times omega_i = max_period^(-i/k).

    ``variant`` gives what common mistakes compute instead, to tell the learner which one it is.
    """
    k = dim // 2
    i = np.arange(k)
    omega = max_period ** (-i / (k - 1 if variant == "k-1" and k > 1 else k))
    angles = np.outer(np.asarray(t, dtype=np.float64), omega)
    if variant == "interleaved":
        return np.stack([np.cos(angles), np.sin(angles)], axis=2).reshape(len(angles), dim)
    if variant == "sin-first":
        return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)
    return np.concatenate([np.cos(angles), np.sin(angles)], axis=1)


CONTRACT.function(
    "timestep_embedding",
    lambda: call(torch.tensor([0, 3, 999]), 16),
    hints=(
        "Eq. (C3.1): each step t becomes the cosines and sines of t times k = dim / 2 frequencies "
        "that fall geometrically from 1 to about 1 / max_period. One row per example, computed "
        "from that example's own step only.",
        "With k = dim / 2, frequency i (counting from 0 to k - 1) is max_period to the power "
        "-i / k. Multiply every step (as a float) by every frequency, a (B, k) table of angles; "
        "the result is the k cosines of a row's angles followed by its k sines.",
    ),
)
ORDER_HINT = (
    "All k cosines first, then all k sines, side by side along the feature axis (C3.1): row t = 0 "
    "is k ones followed by k zeros — not the sines first, and not cosine and sine interleaved."
)
OWN_STEP_HINT = (
    "Each row is a function of its own example's step only (C3.1): multiply the steps t — not "
    "the positions 0, 1, ..., B-1 of the examples in the batch — by the frequencies, and do not "
    "rescale t by anything computed over the batch (its largest value, its mean)."
)
FREQUENCY_HINT = (
    "The frequencies are omega_i = max_period ** (-i / k) for i = 0, ..., k-1 with k = dim / 2 "
    "(C3.1): the first is 1, each next one smaller by the same factor — i / k, not i / (k - 1), "
    "a minus sign in the exponent, and max_period as given, not a fixed 10000."
)


@check("timestep_embedding", hint=ORDER_HINT)
def embedding_has_one_row_per_step(impl):
    """The embedding of B steps has shape (B, dim) and dtype float32, and row t = 0 is k ones then k zeros."""
    emb = impl.timestep_embedding(torch.tensor([0, 17, 256]), 8)
    expect(
        isinstance(emb, torch.Tensor) and tuple(emb.shape) == (3, 8),
        f"for 3 steps and dim = 8 the embedding has shape {tuple(getattr(emb, 'shape', ()))}, "
        "expected (3, 8)",
        "One row per example, dim columns: build the angles as (B, k) — the steps along the rows, "
        "the frequencies along the columns — and join cosines and sines along axis 1.",
    )
    for steps in (torch.tensor([0, 17, 256]), torch.tensor([0.5, 2.0], dtype=torch.float64)):
        dtype = emb.dtype if steps.dtype == torch.long else impl.timestep_embedding(steps, 8).dtype
        expect(
            dtype == torch.float32,
            f"for steps of dtype {steps.dtype} the embedding has dtype {dtype}, expected float32 "
            "(the network's dtype, whatever the steps')",
            "Compute in float32: convert the steps with t.float() (or .to(torch.float32)) and make "
            "the frequencies float32 too.",
        )
    first = to_numpy(emb)[0]
    expect(
        not np.allclose(first, _embedding(np.array([1.0]), 8)[0], atol=1e-6),
        f"row t = 0 is {np.round(first, 3).tolist()}, the features of step 1",
        "Embed the index t as it comes (0-based, as the network is called): not t + 1.",
    )
    expect(
        np.allclose(first, [1, 1, 1, 1, 0, 0, 0, 0], atol=1e-6),
        f"row t = 0 is {np.round(first, 3).tolist()}; expected [1, 1, 1, 1, 0, 0, 0, 0]",
        ORDER_HINT,
    )


@check("timestep_embedding", hint=OWN_STEP_HINT)
def embedding_varies_along_time_not_batch(impl):
    """Each row depends only on its own step: equal steps give equal rows, in any batch, in any order."""
    same = to_numpy(impl.timestep_embedding(torch.full((4,), 42), 16))
    expect(
        np.allclose(same, same[0], atol=1e-6),
        "four examples at the same step t = 42 got different rows: the embedding changes along "
        "the batch axis",
        OWN_STEP_HINT,
    )
    t = torch.tensor([3, 900, 17, 250])
    batch = to_numpy(impl.timestep_embedding(t, 16))
    for i, step in enumerate(t.tolist()):
        alone = to_numpy(impl.timestep_embedding(torch.tensor([step]), 16))[0]
        expect(
            np.allclose(batch[i], alone, atol=1e-5),
            f"the row of t = {step} differs when it is embedded alone and in the batch {t.tolist()}",
            OWN_STEP_HINT,
        )
    order = torch.tensor([2, 0, 3, 1])
    shuffled = to_numpy(impl.timestep_embedding(t[order], 16))
    expect(
        np.allclose(shuffled, batch[order.numpy()], atol=1e-5),
        "reordering the steps of a batch does not reorder the rows the same way",
        OWN_STEP_HINT,
    )


@check(
    "timestep_embedding",
    hint="Different steps must get clearly different rows: use k different frequencies (C3.1).",
)
def embedding_tells_every_step_apart(impl):
    """Over the steps 0, ..., 999 every two rows of a 16-feature embedding are at least 0.1 apart."""
    emb = to_numpy(impl.timestep_embedding(torch.arange(1000), 16))
    expect(emb.shape == (1000, 16), f"the embedding of 1000 steps has shape {emb.shape}")
    squared = (emb**2).sum(1)
    distance2 = squared[:, None] + squared[None, :] - 2 * emb @ emb.T
    np.fill_diagonal(distance2, np.inf)
    i, j = np.unravel_index(np.argmin(distance2), distance2.shape)
    closest = math.sqrt(max(float(distance2[i, j]), 0.0))
    # eq. (C3.1) keeps every two of these rows more than 1.0 apart (the closest: 642 and 643)
    expect(
        closest >= 0.1,
        f"the rows of t = {min(i, j)} and t = {max(i, j)} are only {closest:.2g} apart: the "
        "network could hardly tell these steps apart",
        "The frequencies must differ from each other (C3.1): omega_i = max_period ** (-i / k) for "
        "i = 0, ..., k-1. Equal frequencies, or angles that are multiples of 2 pi at every "
        "integer step, make far-apart steps look alike.",
    )


@check("timestep_embedding", hint=FREQUENCY_HINT)
def embedding_matches_eq_C3_1(impl):
    """The embedding equals eq. (C3.1) for integer and float steps, several dims and max_period = 100."""
    cases = [
        (np.array([0, 1, 7, 123, 999]), 8, 10_000.0),
        (np.array([5, 40, 640]), 32, 10_000.0),
        (np.array([0.5, 2.25, 30.0]), 6, 10_000.0),
        (np.array([2, 9, 50]), 8, 100.0),
    ]
    for steps, dim, max_period in cases:
        t = torch.tensor(steps)
        if max_period == 10_000.0:
            got = to_numpy(impl.timestep_embedding(t, dim))
        else:
            got = to_numpy(impl.timestep_embedding(t, dim, max_period=max_period))
        expected = _embedding(steps, dim, max_period)
        where = f"t = {steps.tolist()}, dim = {dim}, max_period = {max_period:g}"
        expect(got.shape == expected.shape, f"for {where} the shape is {got.shape}")
        if np.allclose(got, expected, atol=2e-4):
            continue
        for variant, hint in [
            ("sin-first", ORDER_HINT),
            ("interleaved", ORDER_HINT),
            ("k-1", FREQUENCY_HINT + " Your frequencies use i / (k - 1)."),
        ]:
            if np.allclose(got, _embedding(steps, dim, max_period, variant), atol=2e-4):
                expect(
                    False, f"for {where} the embedding is the {variant!r} variant of (C3.1)", hint
                )
        worst = np.unravel_index(np.argmax(np.abs(got - expected)), got.shape)
        expect(
            False,
            f"for {where} feature {worst[1]} of row {worst[0]} is {got[worst]:.5f}, eq. (C3.1) "
            f"gives {expected[worst]:.5f}",
            FREQUENCY_HINT,
        )


# ----------------------------------------------------------------------------- noise_prediction_mse
def _half(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return 0.5 * x_t


def _zero(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(x_t)


CONTRACT.function(
    "noise_prediction_mse",
    lambda: call(
        _half, _randn(50, 3, seed=100), [0, 2, 4], _schedule(), torch.Generator().manual_seed(0)
    ),
    invalid=[Invalid("t", [], "an empty list of indices")],
    hints=(
        "Eq. (C3.6) is the training loss at one step: noise the data with known noise, ask the "
        "model for it, and average the squared error — once for each index asked for.",
        "For each index asked for: draw fresh noise of the data's shape from the generator; put "
        "every example at that index (a LongTensor with one entry per example); noise the data "
        "with q_sample and that same noise; the error is the mean over examples and coordinates "
        "of the squared difference between the noise and the model's prediction. No gradients "
        "are needed; return the errors as one tensor, one entry per index.",
    ),
)
MSE_HINT = (
    "For each index: draw eps, make x_t = q_sample(x0, index, schedule, noise=eps) with that same "
    "eps, call model(x_t, index) with the index (a LongTensor, one entry per example), and average "
    "(eps - prediction)^2 over the examples and the coordinates."
)


def _knowing(c: np.ndarray, offsets: dict[int, float] | None = None):
    """A model that knows the data is the single point c: it recovers the noise exactly (plus offsets).

    ε = (x_t - sqrt(abar) c) / sqrt(1 - abar) at the index it is given (eq. C1.2 solved for ε);
    ``offsets[t]`` is added to the first coordinate of the prediction at index t.
    """
    abar = torch.tensor(_alpha_bars(BETAS))
    centre = torch.tensor(c)

    def model(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = abar[t].to(x_t.dtype).reshape(-1, 1)
        eps = (x_t - a.sqrt() * centre.to(x_t.dtype)) / (1 - a).sqrt()
        if offsets:
            shift = torch.tensor([offsets.get(int(s), 0.0) for s in t], dtype=x_t.dtype)
            eps = eps.clone()
            eps[:, 0] += shift
        return eps

    return model


@check("noise_prediction_mse", hint=MSE_HINT)
def a_model_that_knows_the_data_scores_zero(impl):
    """When the data is one point, a model that knows it predicts the noise exactly: error 0 at every index."""
    c = np.array([1.5, -2.0, 0.5])
    x0 = torch.tensor(c).repeat(200, 1)
    t = [0, 1, 2, 3, 4]
    got = to_numpy(
        impl.noise_prediction_mse(_knowing(c), x0, t, _schedule(), torch.Generator().manual_seed(1))
    )
    expect(
        got.shape == (5,),
        f"the result has shape {got.shape}, expected one error per index: (5,)",
        MSE_HINT,
    )
    expect(
        np.all(got < 1e-12),
        f"a model that predicts the noise exactly scored {np.array2string(got, precision=3)} at the "
        "indices 0..4, expected 0 everywhere",
        "The noise that makes x_t is the target: draw eps once per index and pass it to q_sample "
        "(noise=eps), rather than letting q_sample draw its own; and give the model the index at "
        "which x_t was made.",
    )


@check("noise_prediction_mse", hint=MSE_HINT)
def error_is_per_coordinate_in_the_order_asked(impl):
    """A model off by delta_t in one of d = 3 coordinates scores delta_t^2 / 3 at each index, in the order of t."""
    c = np.array([0.3, 0.7, -1.0])
    offsets = {4: 0.6, 0: 0.3, 2: 1.2}
    x0 = torch.tensor(c).repeat(100, 1)
    got = to_numpy(
        impl.noise_prediction_mse(
            _knowing(c, offsets), x0, [4, 0, 2], _schedule(), torch.Generator().manual_seed(2)
        )
    )
    expected = np.array([0.6**2, 0.3**2, 1.2**2]) / 3
    if np.allclose(got, expected * 3, rtol=1e-6):
        expect(
            False,
            "the errors are 3 times too large",
            "Average over the coordinates too, as the "
            "training loss does: the mean of the squared error, not its sum over a row.",
        )
    if np.allclose(got, np.sqrt(expected), rtol=1e-6):
        expect(
            False,
            "the errors are square roots of the expected ones",
            "Return the mean squared error itself, not its square root.",
        )
    assert_close(
        got,
        expected,
        "the result for the indices [4, 0, 2]",
        hint="Return one mean squared error per entry of t, in the order given; average over examples "
        "and coordinates. Make x_t and call the model at the same index, the one asked for "
        "(0-based): no + 1 or - 1.",
    )


@check("noise_prediction_mse", hint=MSE_HINT)
def zero_predictor_scores_one(impl):
    """The zero predictor's error is 1 at every index (the noise's variance), within a Monte-Carlo bound."""
    n, d = 2000, 2
    x0 = 3.0 + _randn(n, d, seed=3)
    got = to_numpy(
        impl.noise_prediction_mse(_zero, x0, [0, 3], _schedule(), torch.Generator().manual_seed(4))
    )
    for value, step in zip(got, (0, 3), strict=True):
        # the mean of n d squares of standard normals: variance 2 / (n d)
        assert_within_se(
            float(value),
            1.0,
            math.sqrt(2.0 / (n * d)),
            f"the zero predictor's error at index {step}",
            hint="The target is the noise eps, not x_t or x0: a model that always says 0 errs by "
            "E[eps^2] = 1 per coordinate.",
        )


@check(
    "noise_prediction_mse",
    hint="Measure under torch.no_grad(): the result is a number, not part of a graph.",
)
def measures_without_gradients(impl):
    """With a network that has parameters, the result carries no gradient graph."""
    layer = torch.nn.Linear(2, 2).double()
    out = impl.noise_prediction_mse(
        lambda x, t: layer(x),
        _randn(20, 2, seed=5),
        [1],
        _schedule(),
        torch.Generator().manual_seed(6),
    )
    expect(
        not out.requires_grad,
        "the result requires grad: the measurement built an autograd graph",
        "Call the model inside with torch.no_grad(): measuring needs no gradients, and without "
        "it every call keeps the network's activations in memory.",
    )


class _TimedLinear(torch.nn.Module):
    """A noise predictor with weights, a dropout layer, and the signature model(x_t, t)."""

    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.0))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


@check(
    "noise_prediction_mse",
    hint="Call the model as it comes: no model.eval() or model.train() inside the measurement.",
)
def leaves_the_model_as_it_was(impl):
    """The measurement leaves the model in the mode it came in, its weights untouched."""
    layer = _TimedLinear().double()
    before = [p.detach().clone() for p in layer.parameters()]
    for mode in (True, False):
        layer.train(mode)
        impl.noise_prediction_mse(
            layer,
            _randn(20, 2, seed=7),
            [1],
            _schedule(),
            torch.Generator().manual_seed(8),
        )
        expect(
            layer.training == mode and all(m.training == mode for m in layer.modules()),
            f"a model in {'train' if mode else 'eval'} mode came back in "
            f"{'train' if layer.training else 'eval'} mode",
            "Measure the model as it is given: switching its mode is the caller's choice (the "
            "docstring: the model is called as it is). Leave model.eval() out.",
        )
    expect(
        all(torch.equal(a, b) for a, b in zip(before, layer.parameters(), strict=True)),
        "the model's weights changed during the measurement",
        "Only call the model: no optimiser step, no in-place change of its parameters.",
    )


def _leaves_inputs_alone(name: str, call, *inputs: torch.Tensor) -> None:
    """Run ``call(*inputs)`` and fail if it changed any of ``inputs`` in place."""
    copies = [x.detach().clone() for x in inputs]
    with torch.no_grad():
        call(*inputs)
    for i, (x, copy) in enumerate(zip(inputs, copies, strict=True)):
        expect(
            torch.equal(x, copy),
            f"{name} changed its {'first' if i == 0 else 'second'} input in place",
            "Build new tensors instead of changing the input: out = self.skip(x) + h, not "
            "out += h or x += ... (with an identity skip, out is x itself).",
        )


# ----------------------------------------------------------------------------- NumPy layers
def _group_norm(x: np.ndarray, groups: int, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    B, C, H, W = x.shape
    g = x.reshape(B, groups, C // groups * H * W)
    g = (g - g.mean(axis=2, keepdims=True)) / np.sqrt(g.var(axis=2, keepdims=True) + 1e-5)
    return g.reshape(B, C, H, W) * weight[None, :, None, None] + bias[None, :, None, None]


def _silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


def _conv3x3(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """A 3×3 convolution with zero padding: a sum of nine shifted copies of x, each mixed by W[:, :, u, v]."""
    B, C, H, W = x.shape
    padded = np.zeros((B, C, H + 2, W + 2))
    padded[:, :, 1:-1, 1:-1] = x
    out = np.zeros((B, weight.shape[0], H, W)) + bias[None, :, None, None]
    for u in range(3):
        for v in range(3):
            out += np.einsum(
                "oc,bchw->bohw", weight[:, :, u, v], padded[:, :, u : u + H, v : v + W]
            )
    return out


def _conv1x1(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    return np.einsum("oc,bchw->bohw", weight[:, :, 0, 0], x) + bias[None, :, None, None]


def _p(module) -> dict[str, np.ndarray]:
    return {name: to_numpy(value) for name, value in module.named_parameters()}


def _residual_numpy(
    block,
    x: np.ndarray,
    emb: np.ndarray,
    groups: int,
    variant: str = "",
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Eq. (C3.3) from the block's own weights, in NumPy; ``mask``: dropout's (scaled) mask, if any."""
    p = _p(block)
    groups = 1 if variant == "one-group" else groups
    act = (lambda a: np.maximum(a, 0.0)) if variant == "relu" else _silu
    if variant == "conv-first":
        h = _group_norm(
            _conv3x3(x, p["conv1.weight"], p["conv1.bias"]),
            groups,
            p["norm1.weight"],
            p["norm1.bias"],
        )
        h = act(h)
    else:
        h = _conv3x3(
            act(_group_norm(x, groups, p["norm1.weight"], p["norm1.bias"])),
            p["conv1.weight"],
            p["conv1.bias"],
        )
    e = (act(emb) if variant != "raw-emb" else emb) @ p["embedding.weight"].T + p["embedding.bias"]
    if variant == "emb-batch-mean":
        e = np.broadcast_to(e.mean(axis=0, keepdims=True), e.shape)
    if variant not in ("emb-late", "emb-after-norm"):
        h = h + e[:, :, None, None]
    normed = _group_norm(h, groups, p["norm2.weight"], p["norm2.bias"])
    if variant == "emb-after-norm":
        normed = normed + e[:, :, None, None]
    h = _conv3x3(
        act(normed) * (1.0 if mask is None else mask),
        p["conv2.weight"],
        p["conv2.bias"],
    )
    if variant == "emb-late":
        h = h + e[:, :, None, None]
    skip = x if "skip.weight" not in p else _conv1x1(x, p["skip.weight"], p["skip.bias"])
    return skip + h


# ----------------------------------------------------------------------------- ResidualBlock
CONTRACT.function(
    "ResidualBlock",
    hints=(
        "Eq. (C3.3): a residual branch — normalise, activate, convolve; add the time embedding "
        "once per channel; normalise, activate, drop out, convolve — added to the input, which "
        "goes through the skip connection.",
        "First half: the first normalisation, SiLU, the first convolution. Then the embedding, "
        "passed through SiLU and its linear layer, one number per channel, added at every pixel. "
        "Second half: the second normalisation, SiLU, dropout, the second convolution. The "
        "block's output is the skip connection applied to the input plus this branch.",
    ),
    generic=False,
)
BLOCK_HINT = (
    "Follow eq. (C3.3) in order: norm1, SiLU, conv1; add the projected embedding, indexed "
    "[:, :, None, None] so that each channel gets its own number at every pixel; norm2, SiLU, "
    "dropout, conv2; add self.skip(x). SiLU is x · sigmoid(x) (torch.nn.functional.silu)."
)
EMBEDDING_HINT = (
    "The time embedding enters between the two convolutions: self.embedding(silu(emb)) has one "
    "number per example and channel, shape (B, C); index it as [:, :, None, None] so that it is "
    "added at every pixel."
)
LAYER_HINT = (
    "Use each layer where eq. (C3.3) puts it: norm1 and then conv1 on x (in_channels in, "
    "out_channels out); the projected embedding, (B, C), indexed [:, :, None, None]; norm2 and "
    "conv2 on the out_channels features; self.skip on x."
)
SKIP_HINT = (
    "The block returns self.skip(x) + h: the input, through the skip path (the identity, or a 1×1 "
    "convolution when the widths differ), plus the residual branch."
)


def _block(impl, c_in: int, c_out: int, dropout: float = 0.0, groups: int = 2):
    return impl.ResidualBlock(c_in, c_out, 6, dropout=dropout, groups=groups)


SHAPE_HINT = (
    "The output has out_channels channels at the input's resolution: the residual branch ends in "
    "conv2 (out_channels), the input reaches the sum through self.skip (a 1×1 convolution when "
    "the widths differ), and the projected embedding, shape (B, C), is indexed [:, :, None, None]."
)


@check("ResidualBlock", hint=SHAPE_HINT)
def block_has_the_output_width(impl):
    """A block maps (B, in, H, W) to (B, out, H, W), for equal and different widths."""
    for c_in, c_out in ((4, 4), (4, 6)):
        block = _block(impl, c_in, c_out)
        try:
            out = block(torch.randn(3, c_in, 5, 4), torch.randn(3, 6))
        except NotImplementedError:
            raise
        except RuntimeError as error:
            expect(
                False,
                f"ResidualBlock({c_in}, {c_out}) on (3, {c_in}, 5, 4) raised: {str(error).splitlines()[0]}",
                LAYER_HINT,
            )
        expect(
            tuple(out.shape) == (3, c_out, 5, 4),
            f"ResidualBlock({c_in}, {c_out}) returned shape {tuple(out.shape)} for input "
            f"(3, {c_in}, 5, 4); expected (3, {c_out}, 5, 4)",
            SHAPE_HINT,
        )
        expect(
            out.dtype == torch.float32,
            f"ResidualBlock({c_in}, {c_out}) returned dtype {out.dtype} for a float32 input",
            "Keep the input's dtype: no .double(), .half() or float64 constants in forward.",
        )


@check("ResidualBlock", hint=SKIP_HINT)
def block_leaves_its_input_alone(impl):
    """The block does not change x or emb in place (with an identity skip and with a 1×1 one)."""
    for c_in, c_out in ((4, 4), (4, 6)):
        block = _randomise(_block(impl, c_in, c_out), seed=9)
        _leaves_inputs_alone(
            f"ResidualBlock({c_in}, {c_out})",
            block,
            _randn(2, c_in, 3, 3, seed=8),
            _randn(2, 6, seed=9),
        )


@check("ResidualBlock", hint=SKIP_HINT)
def new_block_is_its_skip_path(impl):
    """A new block (its second convolution zero) returns its skip path: x itself, or the 1×1 convolution of x."""
    for c_in, c_out in ((4, 4), (4, 6)):
        block = _block(impl, c_in, c_out).double()
        x, emb = _randn(2, c_in, 4, 4, seed=1), _randn(2, 6, seed=2)
        with torch.no_grad():
            expected = x if c_in == c_out else block.skip(x)
            got = block(x, emb)
        difference = got - expected
        flat = difference - difference.mean(dim=(2, 3), keepdim=True)
        expect(
            not (bool(difference.abs().max() > 1e-6) and bool(flat.abs().max() < 1e-9)),
            f"a new ResidualBlock({c_in}, {c_out}) adds one number per channel to its skip path: "
            "the embedding reaches the output after the second convolution",
            "Add the embedding between the two convolutions, before norm2 — not at the end, where "
            "it bypasses conv2.",
        )
        assert_close(got, expected, f"a new ResidualBlock({c_in}, {c_out})", hint=SKIP_HINT)


@check("ResidualBlock", hint=EMBEDDING_HINT)
def block_is_conditioned_on_time(impl):
    """With every weight set, changing the time embedding changes the output, and gradients reach it."""
    block = _randomise(_block(impl, 4, 4), seed=3)
    x = _randn(2, 4, 4, 4, seed=4)
    emb = _randn(2, 6, seed=5).requires_grad_(True)
    out = block(x, emb)
    other = block(x, _randn(2, 6, seed=6))
    expect(
        not torch.allclose(out, other),
        "the output is the same for two different time embeddings: the block ignores emb",
        EMBEDDING_HINT,
    )
    out.sum().backward()
    expect(
        emb.grad is not None and bool(emb.grad.abs().sum() > 0),
        "no gradient flows back to the time embedding",
        EMBEDDING_HINT,
    )


@check(
    "ResidualBlock",
    hint="Drop out with self.dropout (an nn.Dropout, active in train mode only), after the second SiLU.",
)
def block_drops_out_in_training_only(impl):
    """With dropout 0.5, two calls in train mode differ; in eval mode they agree."""
    block = _randomise(_block(impl, 4, 4, dropout=0.5), seed=20)
    x, emb = _randn(2, 4, 4, 4, seed=21), _randn(2, 6, seed=22)
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(0)
        block.train()
        first, second = block(x, emb), block(x, emb)
        block.eval()
        third, fourth = block(x, emb), block(x, emb)
    expect(
        not torch.allclose(first, second),
        "in train mode with dropout 0.5 two calls gave the same output: nothing was dropped",
        "Pass the activated features through self.dropout before conv2 (C3.3).",
    )
    expect(
        torch.equal(third, fourth),
        "in eval mode two calls gave different outputs: dropout is still active",
        "Use the module self.dropout, which drops only in train mode — not "
        "torch.nn.functional.dropout, which drops whenever its training flag is True, its default.",
    )


DROPOUT_PLACE_HINT = (
    "Dropout acts on the activated features just before conv2, Dropout(SiLU(norm2(h))) as in "
    "(C3.3): not before the SiLU, not on the skip path, not on the block's output."
)


@check("ResidualBlock", hint=BLOCK_HINT)
def block_matches_eq_C3_3(impl):
    """With every weight set at random, the block equals eq. (C3.3) computed by hand in NumPy."""
    for c_in, c_out, seed in ((4, 4, 10), (4, 6, 11)):
        block = _randomise(_block(impl, c_in, c_out, dropout=0.5), seed=seed).eval()
        x, emb = _randn(2, c_in, 4, 3, seed=seed + 1), _randn(2, 6, seed=seed + 2)
        with torch.no_grad():
            got = to_numpy(block(x, emb))
        expected = _residual_numpy(block, to_numpy(x), to_numpy(emb), 2)
        if np.allclose(got, expected, rtol=1e-6, atol=1e-9):
            continue
        for variant, hint in [
            ("raw-emb", "Activate the embedding before projecting it: self.embedding(silu(emb))."),
            (
                "emb-late",
                "Add the embedding between the two convolutions, before norm2 — not at the end.",
            ),
            (
                "emb-after-norm",
                "Add the embedding to the output of conv1, before norm2 normalises it — not after.",
            ),
            (
                "conv-first",
                "Each half of the branch is normalise, activate, then convolve (C3.3): GroupNorm comes first.",
            ),
            ("relu", "The activation is SiLU, x · sigmoid(x), not ReLU."),
            (
                "one-group",
                "Normalise with the block's own GroupNorm layers (self.norm1, self.norm2), which "
                "have `groups` groups — not a GroupNorm of one group (a LayerNorm over channels).",
            ),
            (
                "emb-batch-mean",
                "Each example gets its own projected embedding, shape (B, C): do not average it "
                "over the batch.",
            ),
        ]:
            if np.allclose(
                got,
                _residual_numpy(block, to_numpy(x), to_numpy(emb), 2, variant),
                rtol=1e-6,
                atol=1e-9,
            ):
                expect(
                    False,
                    f"ResidualBlock({c_in}, {c_out}) computes the {variant!r} variant of (C3.3)",
                    hint,
                )
        assert_close(got, expected, f"ResidualBlock({c_in}, {c_out})'s output", hint=BLOCK_HINT)


@check("ResidualBlock", hint=DROPOUT_PLACE_HINT)
def block_drops_out_where_eq_C3_3_says(impl):
    """In train mode with dropout 0.5, the block equals (C3.3) with the dropout mask before conv2."""
    for c_in, c_out, seed in ((4, 4, 23), (4, 6, 24)):
        block = _randomise(_block(impl, c_in, c_out, dropout=0.5), seed=seed).train()
        x, emb = _randn(2, c_in, 4, 3, seed=seed + 1), _randn(2, 6, seed=seed + 2)
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(seed)
            got = to_numpy(block(x, emb))
            torch.manual_seed(seed)  # the same draw: dropout's mask depends only on the shape
            mask = torch.nn.functional.dropout(
                torch.ones(2, c_out, 4, 3, dtype=torch.float64), 0.5, training=True
            )
        expected = _residual_numpy(block, to_numpy(x), to_numpy(emb), 2, mask=to_numpy(mask))
        assert_close(
            got,
            expected,
            f"ResidualBlock({c_in}, {c_out})'s output in train mode",
            rtol=1e-6,
            hint=DROPOUT_PLACE_HINT,
        )


@check(
    "ResidualBlock",
    hint="Keep the computation in the graph: no .detach(), no torch.no_grad() in forward.",
)
def gradients_reach_every_block_parameter(impl):
    """Every parameter of a block (widths 4 -> 6) gets a gradient."""
    block = _randomise(_block(impl, 4, 6), seed=30)
    block(_randn(2, 4, 4, 4, seed=31), _randn(2, 6, seed=32)).square().sum().backward()
    missing = [
        n for n, p in block.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)
    ]
    expect(
        not missing,
        f"no gradient reaches {', '.join(missing)}",
        "Every layer the constructor made is used once in forward, and the result stays in the "
        "autograd graph: no .detach(), .data or torch.no_grad() inside forward.",
    )


# ----------------------------------------------------------------------------- AttentionBlock
def _attention_numpy(
    block, x: np.ndarray, heads: int, groups: int, variant: str = ""
) -> np.ndarray:
    """Eq. (C3.4) from the block's own weights, in NumPy."""
    p = _p(block)
    B, C, H, W = x.shape
    d = C // heads
    xn = x if variant == "no-norm" else _group_norm(x, groups, p["norm.weight"], p["norm.bias"])
    qkv = _conv1x1(xn, p["qkv.weight"], p["qkv.bias"]).reshape(B, 3 * C, H * W)
    if variant == "heads-first":
        qkv = qkv.reshape(B, heads, 3, d, H * W).transpose(0, 2, 1, 3, 4)
    else:
        qkv = qkv.reshape(B, 3, heads, d, H * W)
    q, k, v = qkv[:, 0], qkv[:, 1], qkv[:, 1 if variant == "v-is-k" else 2]
    scale = {"no-scale": 1.0, "scale-d": 1.0 / d, "scale-C": 1.0 / math.sqrt(C)}.get(
        variant, 1.0 / math.sqrt(d)
    )
    logits = np.einsum("bhdi,bhdj->bhij", q, k) * scale  # query i, key j
    axis = -2 if variant == "softmax-queries" else -1
    weights = np.exp(logits - logits.max(axis=axis, keepdims=True))
    weights /= weights.sum(axis=axis, keepdims=True)
    out = np.einsum("bhij,bhdj->bhdi", weights, v).reshape(B, C, H, W)
    return x + _conv1x1(out, p["proj.weight"], p["proj.bias"])


CONTRACT.function(
    "AttentionBlock",
    hints=(
        "Eq. (C3.4): every pixel is a token. Normalise, make queries, keys and values with one "
        "1×1 convolution, let every query take a softmax-weighted average of the values of all "
        "pixels, project with the output convolution and add the input.",
        "Each head has d = C / heads channels. The 1×1 convolution of the normalised input gives "
        "three times C channels: per head, a query, a key and a value for each of the H·W pixels. "
        "A pixel's weights are the softmax, over all pixels, of its query's dot products with the "
        "keys divided by the square root of d; its output is the weighted sum of the values. Put "
        "the heads back together as C channels of an H × W image, project, add the input.",
    ),
    generic=False,
)
ATTENTION_HINT = (
    "Follow eq. (C3.4): qkv(norm(x)) reshaped to (B, 3, heads, d, H·W) gives Q, K and V; the "
    "weights are softmax(Kᵀ Q / sqrt(d)) over the keys; each pixel's output is the weighted sum "
    "of the values; back to (B, C, H, W), then x + proj(·)."
)


def _attention(impl, channels: int = 4, heads: int = 1):
    return impl.AttentionBlock(channels, heads=heads, groups=2)


@check("AttentionBlock", hint=ATTENTION_HINT)
def attention_keeps_the_shape(impl):
    """Attention maps (B, C, H, W) to the same shape and dtype, for one and two heads, on a non-square map."""
    for heads in (1, 2):
        out = _attention(impl, 4, heads)(torch.randn(2, 4, 2, 3))
        expect(
            tuple(out.shape) == (2, 4, 2, 3),
            f"with {heads} head(s) the output has shape {tuple(out.shape)}, expected (2, 4, 2, 3)",
            "The output has the input's shape: after the weighted sum, put the heads back together "
            "and reshape to (B, C, H, W) with the H and W of x.",
        )
        expect(
            out.dtype == torch.float32,
            f"with {heads} head(s) the output has dtype {out.dtype} for a float32 input",
            "Keep the input's dtype: no .double(), .half() or float64 constants in forward.",
        )


@check(
    "AttentionBlock",
    hint="Return x + self.proj(out), a new tensor: not x += ..., which changes the caller's x.",
)
def attention_leaves_its_input_alone(impl):
    """The block does not change x in place."""
    block = _randomise(_attention(impl, 4, 2), seed=41)
    x = _randn(2, 4, 3, 3, seed=42)
    copy = x.clone()
    with torch.no_grad():
        block(x)
    expect(
        torch.equal(x, copy),
        "AttentionBlock changed its input in place",
        "Return x + self.proj(out), a new tensor: not x += ..., which changes the caller's x.",
    )


@check("AttentionBlock", hint="Return x + proj(out): the block is residual.")
def new_attention_block_is_the_identity(impl):
    """A new block (its projection zero) returns its input unchanged."""
    x = _randn(2, 4, 3, 3, seed=40)
    block = _attention(impl, 4, 2).double()
    with torch.no_grad():
        assert_close(
            block(x),
            x,
            "a new AttentionBlock's output",
            hint="Return x + self.proj(out): the block is residual.",
        )


@check(
    "AttentionBlock",
    hint="Reshape, do not transpose: (B, 3C, H, W) -> (B, 3, heads, d, H·W) keeps each pixel's channels together.",
)
def attention_treats_pixels_alike(impl):
    """Permuting the pixels permutes the output the same way: attention has no notion of position."""
    block = _randomise(_attention(impl, 4, 2), seed=43)
    x = _randn(1, 4, 3, 3, seed=44)
    order = torch.tensor([4, 7, 0, 2, 8, 1, 5, 3, 6])
    shuffled = x.reshape(1, 4, 9)[:, :, order].reshape(1, 4, 3, 3)
    with torch.no_grad():
        a = block(x).reshape(1, 4, 9)[:, :, order]
        b = block(shuffled).reshape(1, 4, 9)
    assert_close(
        b,
        a,
        "the output for the shuffled pixels",
        hint="Every pixel is one token with C channels: reshape (B, 3C, H, W) to (B, 3, heads, d, "
        "H·W) and keep the pixel axis last; reshaping to (..., H·W, d) mixes channels and pixels.",
    )


@check(
    "AttentionBlock",
    hint="Each pixel is a token: per head, the weights form an (H·W) × (H·W) matrix of (query, key) pairs; take the softmax over its key axis, so each pixel's weights sum to one.",
)
def attention_weights_sum_to_one(impl):
    """With values equal at every pixel, every pixel's output is that value (its weights sum to one)."""
    block = _randomise(_attention(impl, 4, 1), seed=41)
    with torch.no_grad():
        block.qkv.weight[8:] = 0.0  # the value rows: V = the bias, the same at every pixel
    x = _randn(2, 4, 3, 3, seed=42)
    with torch.no_grad():
        got = block(x)
    expect(
        not np.allclose(to_numpy(got), _attention_numpy(block, to_numpy(x), 1, 2, "v-is-k")),
        "the output is a weighted sum of the keys, not of the values",
        "The values are the third part of qkv's output, after the queries and the keys: "
        "[Q; K; V] in that order (C3.4).",
    )
    p = _p(block)
    value = p["qkv.bias"][8:]
    expected = (
        to_numpy(x) + (p["proj.weight"][:, :, 0, 0] @ value + p["proj.bias"])[None, :, None, None]
    )
    assert_close(
        got,
        expected,
        "the output when every pixel has the same value vector",
        hint="The tokens are the H·W pixels, each with d channels per head: the weights form an "
        "(H·W) × (H·W) matrix per head, and the softmax runs over the keys — for each query "
        "pixel, over the pixels it looks at — so that its weights sum to one. Not a softmax over "
        "the queries, and not attention among the channels.",
    )


@check("AttentionBlock", hint=ATTENTION_HINT)
def attention_matches_eq_C3_4(impl):
    """With every weight set at random, the block equals eq. (C3.4) computed by hand in NumPy (1 and 2 heads)."""
    for heads, seed in ((1, 50), (2, 51)):
        block = _randomise(_attention(impl, 8, heads), seed=seed, scale=0.6)
        x = _randn(2, 8, 2, 3, seed=seed + 1)
        with torch.no_grad():
            got = to_numpy(block(x))
        expected = _attention_numpy(block, to_numpy(x), heads, 2)
        if np.allclose(got, expected, rtol=1e-6, atol=1e-9):
            continue
        for variant, hint in [
            ("no-scale", "Divide the query-key products by sqrt(d) before the softmax."),
            ("scale-d", "Divide the query-key products by sqrt(d), not by d."),
            (
                "scale-C",
                "Divide by sqrt(d) with d = C / heads, the channels of one head — not sqrt(C).",
            ),
            (
                "softmax-queries",
                "Take the softmax over the keys (the pixels each query looks at), not over the queries.",
            ),
            ("no-norm", "Normalise x with self.norm before making the queries, keys and values."),
            (
                "heads-first",
                "Split qkv's channels into Q, K and V first, then each into heads: (B, 3, heads, d, H·W).",
            ),
        ]:
            if np.allclose(
                got, _attention_numpy(block, to_numpy(x), heads, 2, variant), rtol=1e-6, atol=1e-9
            ):
                expect(
                    False,
                    f"with {heads} head(s) the block computes the {variant!r} variant of (C3.4)",
                    hint,
                )
        assert_close(got, expected, f"AttentionBlock with {heads} head(s)", hint=ATTENTION_HINT)


@check(
    "AttentionBlock",
    hint="Keep the computation in the graph: no .detach(), no torch.no_grad() in forward.",
)
def gradients_reach_every_attention_parameter(impl):
    """Every parameter of an attention block gets a gradient."""
    block = _randomise(_attention(impl, 4, 2), seed=60)
    block(_randn(2, 4, 3, 3, seed=61)).square().sum().backward()
    missing = [
        n for n, p in block.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)
    ]
    expect(
        not missing,
        f"no gradient reaches {', '.join(missing)}",
        "Use norm, qkv and proj once each, and keep the result in the autograd graph.",
    )


# ----------------------------------------------------------------------------- UNet
CONTRACT.function(
    "UNet",
    uses=("timestep_embedding", "ResidualBlock", "AttentionBlock"),
    hints=(
        "Eq. (C3.5): embed the steps; go down through the stages, keeping each stage's output; "
        "through the middle; then up, each stage taking the current features together with the "
        "latest kept output of the same resolution; end with the output layers.",
        "The embedding is the sinusoidal embedding of t with base_channels features, through the "
        "time MLP. Every down stage takes the features and the embedding, and its output is kept "
        "on a stack. After the middle, every up stage takes the features concatenated along the "
        "channels with the skip on top of the stack (last in, first out), removing it. The output "
        "layers make the prediction.",
    ),
    generic=False,
)
UNET_HINT = (
    "Follow eq. (C3.5): emb = self.time_embed(timestep_embedding(t, base_channels)); every down "
    "stage's output is kept as a skip; the middle; every up stage gets torch.cat([h, skip], dim=1) "
    "with the most recent skip not yet used (skips.pop()); finally self.out(h)."
)
#: Small configurations that exercise every path: one level, several, attention, two heads, colour.
CONFIGS = [
    {
        "image_size": 4,
        "base_channels": 4,
        "channel_mults": (1,),
        "num_res_blocks": 2,
        "attention_resolutions": (),
        "groups": 2,
    },
    {
        "image_size": 8,
        "base_channels": 4,
        "channel_mults": (1, 2),
        "num_res_blocks": 1,
        "attention_resolutions": (4,),
        "groups": 2,
    },
    {
        "image_size": 8,
        "in_channels": 3,
        "base_channels": 4,
        "channel_mults": (1, 1, 2),
        "num_res_blocks": 1,
        "attention_resolutions": (8, 2),
        "groups": 2,
        "heads": 2,
    },
]


def _unet(impl, settings: dict, seed: int | None = None):
    """A network of ``settings`` in float32, the dtype of its time features; weights set when ``seed`` is given."""
    model = impl.UNet(impl.UNetConfig(**settings))
    return _randomise(model, seed, scale=0.2, dtype=torch.float32) if seed is not None else model


def _images(settings: dict, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    size, channels = settings["image_size"], settings.get("in_channels", 1)
    t = torch.randint(0, 1000, (n,), generator=torch.Generator().manual_seed(seed))
    return _randn(n, channels, size, size, seed=seed).float(), t


def _wired(impl, model, x: torch.Tensor, t: torch.Tensor, variant: str = "") -> torch.Tensor:
    """Eq. (C3.5) on the network's own stages (or a common mistake's wiring, for the verdict)."""
    steps = t / 1000 if variant == "scaled-t" else t
    emb = model.time_embed(impl.timestep_embedding(steps, model.config.base_channels).to(x.dtype))
    h, skips = x, []
    for stage in model.down:
        h = stage(h, emb)
        skips.append(h)
    if variant != "no-middle":
        h = model.middle(h, emb)
    for stage in model.up:
        skip = skips.pop(0) if variant == "first-skip" else skips.pop()
        h = stage(torch.cat([skip, h] if variant == "skip-first" else [h, skip], dim=1), emb)
    return model.out(h)


@check("UNet", hint=UNET_HINT)
def unet_keeps_the_shape(impl):
    """The U-Net's output has the input's shape, for one level, two, three with attention, and colour."""
    for settings in CONFIGS:
        model = _unet(impl, settings)
        x, t = _images(settings, 2, seed=70)
        copy = x.clone()
        try:
            with torch.no_grad():
                out = model(x, t)
        except NotImplementedError:
            raise
        except RuntimeError as error:  # widths that do not meet: the stages are wired wrongly
            message = (str(error).splitlines() or [type(error).__name__])[0]
            expect(False, f"for {settings} the network raised: {message}", UNET_HINT)
        expect(
            tuple(out.shape) == tuple(x.shape),
            f"for {settings} the output has shape {tuple(out.shape)}, expected {tuple(x.shape)}",
            UNET_HINT,
        )
        expect(
            out.dtype == x.dtype,
            f"for {settings} the output has dtype {out.dtype}, expected the input's {x.dtype}",
            "Keep the input's dtype: the time features are float32, like the network.",
        )
        expect(
            torch.equal(x, copy),
            "the network changed its input x in place",
            "Start from h = x and build new tensors; never change x itself.",
        )


@check(
    "UNet",
    hint="End with self.out(h): its last convolution starts at zero, so a new network predicts 0.",
)
def new_unet_predicts_zero(impl):
    """A new U-Net predicts exactly zero noise: its last convolution starts at zero."""
    settings = CONFIGS[1]
    x, t = _images(settings, 2, seed=71)
    with torch.no_grad():
        out = _unet(impl, settings)(x, t)
    expect(
        bool((out == 0).all()),
        f"a new U-Net's output reaches {float(out.abs().max()):.3g}, expected exactly 0",
        "End with self.out(h), and apply nothing after it.",
    )


@check(
    "UNet",
    hint="Pass every example's own step to timestep_embedding: the whole tensor t, one entry per example.",
)
def unet_treats_examples_independently(impl):
    """Each example's output depends only on its own image and step: the same alone as in a batch."""
    settings = CONFIGS[1]
    model = _unet(impl, settings, seed=72)
    x, t = _images(settings, 3, seed=73)
    t = torch.tensor([5, 600, 250])
    with torch.no_grad():
        batch = model(x, t)
        for i in range(3):
            alone = model(x[i : i + 1], t[i : i + 1])
            assert_close(
                batch[i],
                alone[0],
                f"example {i}'s output (t = {int(t[i])}), alone and in the batch",
                hint="Embed the whole tensor t — every example's own step — and keep the batch axis "
                "first throughout; nothing may mix the examples.",
            )
        other = model(x, torch.tensor([900, 20, 700]))
    expect(
        not torch.allclose(batch, other),
        "the output does not change with the steps t",
        "Feed the embedded steps (self.time_embed of timestep_embedding) to every stage.",
    )


@check("UNet", hint="Use every stage once: all of `down`, the `middle`, all of `up`, then `out`.")
def gradients_reach_every_unet_parameter(impl):
    """Every parameter of the network gets a gradient: every stage is used."""
    for settings in CONFIGS[:2]:
        model = _unet(impl, settings, seed=74)
        x, t = _images(settings, 2, seed=75)
        model(x, t).square().sum().backward()
        missing = sorted(
            {
                n.split(".")[0] + ("." + n.split(".")[1] if n.split(".")[1].isdigit() else "")
                for n, p in model.named_parameters()
                if p.grad is None or not bool(p.grad.abs().sum() > 0)
            }
        )
        expect(
            not missing,
            f"no gradient reaches {', '.join(missing)} (config {settings})",
            "Use every stage once: all of self.down, self.middle, all of self.up, then self.out — "
            "and the time embedding through self.time_embed.",
        )


@check("UNet", hint=UNET_HINT)
def unet_matches_eq_C3_5(impl):
    """With every weight set at random, the output is eq. (C3.5) applied to the network's own stages."""
    for number, settings in enumerate(CONFIGS):
        model = _unet(impl, settings, seed=80 + number)
        x, t = _images(settings, 2, seed=90 + number)
        with torch.no_grad():
            got = model(x, t)
            expected = _wired(impl, model, x, t)
            if torch.allclose(got, expected, rtol=1e-5, atol=1e-6):
                continue
            for variant, hint in [
                (
                    "first-skip",
                    "Use the skips last-in, first-out: skips.pop() takes the most recent "
                    "one, which has the resolution of the current features.",
                ),
                (
                    "skip-first",
                    "Concatenate the current features first and the skip second, "
                    "torch.cat([h, skip], dim=1), as the up stages' weights expect.",
                ),
                ("no-middle", "Run the middle stage between the way down and the way up."),
                (
                    "scaled-t",
                    "Embed the steps as they come, the integer indices 0..T-1: not t / T — the "
                    "embedding's frequencies are made for whole steps.",
                ),
            ]:
                try:
                    variant_out = _wired(impl, model, x, t, variant)
                except NotImplementedError:
                    raise
                except RuntimeError:
                    continue
                if torch.allclose(got, variant_out, rtol=1e-5, atol=1e-6):
                    expect(False, f"for {settings} the network is wired as {variant!r}", hint)
        assert_close(got, expected, f"the output for {settings}", rtol=1e-5, hint=UNET_HINT)


@check(
    "UNet",
    hint="Keep the skips in the graph: append h itself, not h.detach(), so gradients flow through them.",
)
def gradients_flow_through_the_skips(impl):
    """The gradient with respect to the input equals that of eq. (C3.5): nothing is cut from the graph."""
    settings = CONFIGS[1]
    model = _unet(impl, settings, seed=76)
    x, t = _images(settings, 2, seed=77)
    weights = _randn(*x.shape, seed=78).float()
    grads = []
    for forward in (lambda x: model(x, t), lambda x: _wired(impl, model, x, t)):
        x_in = x.clone().requires_grad_(True)
        (forward(x_in) * weights).sum().backward()
        grads.append(x_in.grad)
    assert_close(
        grads[0],
        grads[1],
        "the gradient of the output with respect to x",
        rtol=1e-4,
        hint="Keep every skip in the autograd graph: skips.append(h), not h.detach(); no "
        "torch.no_grad() in forward.",
    )


__all__ = ["CONTRACT"]
