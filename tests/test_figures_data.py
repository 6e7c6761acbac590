"""The interactive figures' data (``DATA`` of ``diffusion_path.figures.core_1``, ``core_2``, ``core_6``) against
ground truth: the schedules' $\\bar\\alpha_t$ and the exact densities computed here by hand in NumPy,
the closed-form law of $x_t$ given $x_0$, and the mixture the reverse process must reach.

Numbers in the data are rounded (points to 2 decimals, rasters to 256 levels): every comparison
allows for that rounding, and no more.
"""

from __future__ import annotations

import base64
import json
import math

import numpy as np
import pytest
import torch

from diffusion_path import figures
from diffusion_path.contracts.asserts import assert_ks, assert_within_se, normal_cdf
from diffusion_path.figures import core_1, core_2, core_6
from diffusion_path.tools.data import load_photo, two_moons

T1, T2 = 1000, 100
MAX_BYTES = 1_500_000
POINT_ROUNDING = 0.005  # points are sent with 2 decimals


def linear_alpha_bars(T: int) -> np.ndarray:
    """DDPM's linear schedule, beta from 1e-4 to 0.02, by hand."""
    return np.cumprod(1 - np.linspace(1e-4, 0.02, T))


def cosine_alpha_bars(T: int, s: float = 0.008) -> np.ndarray:
    """Improved DDPM's cosine schedule (eq. 17), betas clipped at 0.999, by hand."""
    f = np.cos((np.arange(T + 1) / T + s) / (1 + s) * math.pi / 2) ** 2
    betas = np.minimum(1 - f[1:] / f[:-1], 0.999)
    return np.cumprod(1 - betas)


def pixels(layer: dict, frame: int) -> np.ndarray:
    """One raster frame as a (height, width) array of 0..255."""
    raw = np.frombuffer(base64.b64decode(layer["frames"][frame]), dtype=np.uint8)
    return raw.reshape(layer["height"], layer["width"]).astype(np.float64)


def timeline_checks(data: dict) -> None:
    """What figures.js needs: the format, one label per frame, one entry per frame or one for all."""
    assert data["format"] == "dp-timeline/1"
    frames = len(data["labels"])
    for panel in data["panels"]:
        assert len(panel.get("labels", data["labels"])) == frames
        for layer in panel["layers"]:
            if layer["type"] == "raster":
                assert len(layer["frames"]) in (1, frames)
                size = layer["width"] * layer["height"] * layer["channels"]
                assert all(len(base64.b64decode(f)) == size for f in layer["frames"])
            else:
                assert layer["type"] == "points"
                assert len(layer["x"]) in (1, frames) and len(layer["y"]) == len(layer["x"])
                assert {len(x) for x in layer["x"] + layer["y"]} == {len(layer["x"][0])}
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    assert len(text) < MAX_BYTES, f"{len(text)} bytes"


# ----------------------------------------------------------------------------- Core 1: forward


@pytest.fixture(scope="module")
def forward():
    return figures.data("core-1", "forward")


def _schedule_panels(data: dict, kind: str) -> dict[str, dict]:
    return {p["title"].split(" · ")[1]: p for p in data["panels"] if p["title"].startswith(kind)}


def test_forward_format_steps_and_labels(forward):
    timeline_checks(forward)
    steps = core_1.INTERACTIVE_STEPS
    assert steps[0] == 0 and steps[-1] == T1 and 40 <= len(steps) <= 50
    assert forward["labels"] == [f"t = {s}" + (" (the data)" if s == 0 else "") for s in steps]
    truth = {"linear": linear_alpha_bars(T1), "cosine": cosine_alpha_bars(T1)}
    for kind in ("photograph", "two moons"):
        panels = _schedule_panels(forward, kind)
        assert set(panels) == {"linear", "cosine"}
        for name, panel in panels.items():
            for step, label in zip(steps, panel["labels"], strict=True):
                shown = float(label.removeprefix("ᾱ = "))
                # step t is index t - 1; the data (t = 0) has alpha-bar 1
                expected = 1.0 if step == 0 else truth[name][step - 1]
                assert shown == pytest.approx(expected, rel=0.05, abs=0.005), (name, step)


def test_forward_frame_0_is_the_data(forward):
    photo = load_photo(64, grayscale=True)[0, 0].numpy()  # float32, as the figure computes it
    expected = np.rint(
        np.clip((photo + np.float32(1)) / np.float32(2), 0, 1).astype(np.float64) * 255
    )
    moons = two_moons(400, torch.Generator().manual_seed(0)).numpy()
    for name, panel in _schedule_panels(forward, "photograph").items():
        assert np.array_equal(pixels(panel["layers"][0], 0), expected), name
    for name, panel in _schedule_panels(forward, "two moons").items():
        data, noised = panel["layers"]
        assert data["style"] == "faint" and len(data["x"]) == 1
        for layer in (data, noised):
            got = np.stack([layer["x"][0], layer["y"][0]], axis=1)
            assert np.abs(got - moons).max() <= POINT_ROUNDING + 1e-9, name


def _implied_noise(panel: dict, alpha_bars: np.ndarray, steps: list[int]):
    """(x_t - sqrt(abar) x_0) / sqrt(1 - abar) for every shown step t >= 1, and its rounding bound."""
    data, noised = panel["layers"]
    x0 = np.stack([data["x"][0], data["y"][0]], axis=1)
    out = {}
    for frame, step in enumerate(steps):
        if step == 0:
            continue
        abar = alpha_bars[step - 1]
        x_t = np.stack([noised["x"][frame], noised["y"][frame]], axis=1)
        bound = POINT_ROUNDING * (1 + math.sqrt(abar)) / math.sqrt(1 - abar)
        out[step] = ((x_t - math.sqrt(abar) * x0) / math.sqrt(1 - abar), bound)
    return out


def test_forward_points_share_one_noise(forward):
    """x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps with one eps for every step and both schedules."""
    steps = core_1.INTERACTIVE_STEPS
    panels = _schedule_panels(forward, "two moons")
    linear = _implied_noise(panels["linear"], linear_alpha_bars(T1), steps)
    cosine = _implied_noise(panels["cosine"], cosine_alpha_bars(T1), steps)
    reference, reference_bound = linear[T1]
    for name, implied in (("linear", linear), ("cosine", cosine)):
        for step, (eps, bound) in implied.items():
            gap = np.abs(eps - reference).max()
            assert gap <= bound + reference_bound + 1e-6, (name, step, gap)


def test_forward_points_have_the_closed_form_law():
    """Over 4 000 points, x_t - sqrt(abar_t) x_0 has mean 0 and variance 1 - abar_t, and is normal."""
    steps = [0, 100, 300, 600, T1]
    data = core_1.forward_data(steps=steps, n_points=4000)
    timeline_checks(data)
    truth = {"linear": linear_alpha_bars(T1), "cosine": cosine_alpha_bars(T1)}
    for name, panel in _schedule_panels(data, "two moons").items():
        x0 = np.stack([panel["layers"][0]["x"][0], panel["layers"][0]["y"][0]], axis=1)
        for frame, step in enumerate(steps[1:], start=1):
            abar = truth[name][step - 1]
            layer = panel["layers"][1]
            x_t = np.stack([layer["x"][frame], layer["y"][frame]], axis=1)
            residual = (x_t - math.sqrt(abar) * x0).ravel()
            n = residual.size
            # rounding both x_t and x_0 to 0.01 adds (1 + abar) 0.01^2 / 12 of variance
            variance = (1 - abar) + (1 + abar) * 0.01**2 / 12
            what = f"{name}, t = {step}: "
            assert_within_se(residual.mean(), 0.0, math.sqrt(variance / n), what + "mean")
            assert_within_se(
                (residual**2).mean(), variance, variance * math.sqrt(2 / n), what + "variance"
            )
            if 1 - abar > 0.5:  # there the rounding moves the normal CDF by under 0.006
                assert_ks(residual / math.sqrt(1 - abar), normal_cdf, what + "x_t given x_0")


def test_forward_image_is_noised_by_the_closed_form(forward):
    """The photograph's pixels: the same noise under both schedules where neither is clipped, and
    at t = T the share of clipped pixels that standard normal noise gives."""
    steps = core_1.INTERACTIVE_STEPS
    panels = _schedule_panels(forward, "photograph")
    truth = {"linear": linear_alpha_bars(T1), "cosine": cosine_alpha_bars(T1)}
    x0 = pixels(panels["linear"]["layers"][0], 0) / 255 * 2 - 1
    step = 400  # about two thirds of the pixels are clipped under neither schedule
    implied, bounds, unclipped = {}, {}, True
    for name, panel in panels.items():
        u = pixels(panel["layers"][0], steps.index(step))
        abar = truth[name][step - 1]
        implied[name] = (u / 255 * 2 - 1 - math.sqrt(abar) * x0) / math.sqrt(1 - abar)
        bounds[name] = (1 / 255) * (1 + math.sqrt(abar)) / math.sqrt(1 - abar)
        unclipped = unclipped & (u > 0) & (u < 255)
    assert unclipped.mean() > 0.5
    gap = np.abs(implied["linear"] - implied["cosine"])[unclipped].max()
    assert gap <= bounds["linear"] + bounds["cosine"] + 1e-6, gap
    # at t = T a pixel is clipped when |sqrt(abar) x_0 + sqrt(1 - abar) eps| passes 254.5 / 255
    edge = 2 * 254.5 / 255 - 1
    for name, panel in panels.items():
        abar = truth[name][T1 - 1]
        u = pixels(panel["layers"][0], steps.index(T1))
        mean, sd = math.sqrt(abar) * x0.ravel(), math.sqrt(1 - abar)
        p = 1 - (normal_cdf(edge - mean, 0, sd) - normal_cdf(-edge - mean, 0, sd))
        clipped = ((u == 0) | (u == 255)).ravel()
        assert_within_se(
            clipped.mean(),
            p.mean(),
            math.sqrt((p * (1 - p)).sum()) / p.size,
            f"{name}: clipped share",
        )


# ----------------------------------------------------------------------------- Core 2: reverse


RING_K, RING_RADIUS, RING_STD = 8, 1.5, 0.15


def ring_means() -> np.ndarray:
    angles = 2 * math.pi * np.arange(RING_K) / RING_K
    return RING_RADIUS * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def ring_density(points: np.ndarray, abar: float) -> np.ndarray:
    """q_t: (1/8) sum_k N(x; sqrt(abar) mu_k, (abar std^2 + 1 - abar) I), by hand."""
    variance = abar * RING_STD**2 + 1 - abar
    d2 = ((points[..., None, :] - math.sqrt(abar) * ring_means()) ** 2).sum(-1)
    return (np.exp(-d2 / (2 * variance)) / (2 * math.pi * variance)).mean(-1)


@pytest.fixture(scope="module")
def reverse():
    return figures.data("core-2", "reverse")


def _cloud(layer: dict, frame: int) -> np.ndarray:
    return np.stack([layer["x"][frame], layer["y"][frame]], axis=1)


def test_reverse_format_and_labels(reverse):
    timeline_checks(reverse)
    assert len(reverse["labels"]) == T2 + 1 and reverse["play"]["fps"] > 0
    assert reverse["labels"][0] == f"t = {T2} (pure noise)"
    assert reverse["labels"][-1] == "t = 0 (the samples)"
    assert reverse["labels"][1:-1] == [f"t = {t}" for t in range(T2 - 1, 0, -1)]
    (panel,) = reverse["panels"]
    density, particles = panel["layers"]
    assert density["colormap"] == "density" and len(density["frames"]) == T2 + 1
    assert len(particles["x"]) == T2 + 1 and len(particles["x"][0]) == 300


def test_reverse_density_is_the_exact_one(reverse):
    """Every frame's raster is q_t on the cell centres, to the rounding of 256 levels, and
    integrates to one over the panel (which holds all but a sliver of the mass)."""
    (panel,) = reverse["panels"]
    layer = panel["layers"][0]
    low, high, _, _ = panel["limits"]
    grid = layer["width"]
    centres = low + (np.arange(grid) + 0.5) * (high - low) / grid
    xs, ys = np.meshgrid(centres, centres[::-1])  # the first row is the top
    cells = np.stack([xs, ys], axis=-1)
    alpha_bars = cosine_alpha_bars(T2)
    area = ((high - low) / grid) ** 2
    for frame in range(T2 + 1):
        t = T2 - frame
        exact = ring_density(cells, 1.0 if t == 0 else alpha_bars[t - 1])
        scale = layer["scale"][frame]
        assert scale == pytest.approx(exact.max(), rel=1e-5)
        shown = pixels(layer, frame) / 255 * scale
        # 256 levels, and the scale sent with 6 significant digits
        assert np.abs(shown - exact).max() <= (0.5 / 255 + 1e-5) * scale, t
        assert abs(shown.sum() * area - 1) < 0.01, (t, shown.sum() * area)


def test_reverse_starts_from_standard_normal_noise(reverse):
    x_T = _cloud(reverse["panels"][0]["layers"][1], 0).ravel()
    n = x_T.size
    assert_within_se(x_T.mean(), 0.0, math.sqrt(1 / n), "mean of x_T")
    assert_within_se((x_T**2).mean(), 1.0, math.sqrt(2 / n), "second moment of x_T")
    assert_ks(x_T, normal_cdf, "x_T")


def test_reverse_ends_on_the_modes(reverse):
    """The samples lie on the ring's modes: their squared distance to the nearest mode averages
    2 std^2, as for the data, and hardly any lie beyond the radius that holds 99.9 % of a mode."""
    samples = _cloud(reverse["panels"][0]["layers"][1], T2)
    d2 = ((samples[:, None, :] - ring_means()) ** 2).sum(-1).min(axis=1)
    n = d2.size
    # rounding to 0.01 adds 2 * 0.01^2 / 12 per point; for the data d2 / std^2 is chi-square(2)
    expected = 2 * RING_STD**2 + 2 * 0.01**2 / 12
    assert_within_se(d2.mean(), expected, 2 * RING_STD**2 / math.sqrt(n), "mean squared distance")
    assert (d2 > 13.8 * RING_STD**2).mean() <= 0.03
    # each mode holds about an eighth of the samples
    nearest = ((samples[:, None, :] - ring_means()) ** 2).sum(-1).argmin(axis=1)
    counts = np.bincount(nearest, minlength=RING_K)
    se = math.sqrt(n * (1 / RING_K) * (1 - 1 / RING_K))
    for k in range(RING_K):
        assert_within_se(counts[k], n / RING_K, se, f"samples at mode {k}")


def test_reverse_cloud_follows_the_density(reverse):
    """Halfway, the particles' second moment is that of q_t: the cloud is a sample of the shading."""
    alpha_bars = cosine_alpha_bars(T2)
    layer = reverse["panels"][0]["layers"][1]
    for frame in (25, 50, 75, 90):
        t = T2 - frame
        abar = alpha_bars[t - 1]
        r2 = (_cloud(layer, frame) ** 2).sum(axis=1)
        # E|x_t|^2 = abar (radius^2 + 2 std^2) + 2 (1 - abar)
        expected = abar * (RING_RADIUS**2 + 2 * RING_STD**2) + 2 * (1 - abar)
        se = r2.std(ddof=1) / math.sqrt(r2.size)
        assert_within_se(r2.mean(), expected, se, f"E|x_t|^2 at t = {t}")


# ----------------------------------------------------------------------------- Core 6: DDPM and DDIM

T6, EVERY = 1000, 20


@pytest.fixture(scope="module")
def side_by_side():
    return figures.data("core-6", "ddpm-vs-ddim")


def test_side_by_side_format_and_labels(side_by_side):
    timeline_checks(side_by_side)
    frames = T6 // EVERY + 1
    steps = [T6 - EVERY * k for k in range(frames)]
    assert side_by_side["labels"][0] == f"t = {T6} (pure noise)"
    assert side_by_side["labels"][-1] == "t = 0 (the samples)"
    assert side_by_side["labels"][1:-1] == [f"t = {t}" for t in steps[1:-1]]
    ddpm, ddim = side_by_side["panels"]
    assert ddpm["title"] == "DDPM, 1000 steps" and ddim["title"] == "DDIM, 50 steps, η = 0"
    assert ddpm["labels"][-1] == "1000 model calls" and ddim["labels"][-1] == "50 model calls"
    assert ddpm["labels"][1] == "20 model calls" and ddim["labels"][1] == "1 model calls"
    for panel in (ddpm, ddim):
        assert len(panel["layers"][1]["x"]) == frames and len(panel["layers"][1]["x"][0]) == 300


def test_side_by_side_density_is_the_exact_one(side_by_side):
    """The shading is q_t at the frame's step t = 1000 - 20 k, by hand, to 256 levels."""
    panel = side_by_side["panels"][0]
    layer = panel["layers"][0]
    assert side_by_side["panels"][1]["layers"][0] == layer
    low, high, _, _ = panel["limits"]
    grid = layer["width"]
    centres = low + (np.arange(grid) + 0.5) * (high - low) / grid
    xs, ys = np.meshgrid(centres, centres[::-1])
    cells = np.stack([xs, ys], axis=-1)
    alpha_bars = cosine_alpha_bars(T6)
    for frame in range(0, len(side_by_side["labels"]), 5):
        t = T6 - EVERY * frame
        exact = ring_density(cells, 1.0 if t == 0 else alpha_bars[t - 1])
        scale = layer["scale"][frame]
        assert scale == pytest.approx(exact.max(), rel=1e-5)
        shown = pixels(layer, frame) / 255 * scale
        assert np.abs(shown - exact).max() <= (0.5 / 255 + 1e-5) * scale, t


def test_both_samplers_start_from_the_same_standard_normal_noise(side_by_side):
    ddpm, ddim = (_cloud(p["layers"][1], 0) for p in side_by_side["panels"])
    np.testing.assert_array_equal(ddpm, ddim)
    x_T = ddpm.ravel()
    assert_ks(x_T, normal_cdf, "x_T")


def test_both_samplers_end_on_the_modes(side_by_side):
    """Both clouds end on the ring's modes: squared distances to the nearest mode average 2 std^2."""
    for panel in side_by_side["panels"]:
        samples = _cloud(panel["layers"][1], -1)
        d2 = ((samples[:, None, :] - ring_means()) ** 2).sum(-1).min(axis=1)
        expected = 2 * RING_STD**2 + 2 * 0.01**2 / 12
        se = 2 * RING_STD**2 / math.sqrt(d2.size)
        assert_within_se(d2.mean(), expected, se, f"{panel['title']}: mean squared distance")
        assert (d2 > 13.8 * RING_STD**2).mean() <= 0.03, panel["title"]


def test_both_clouds_follow_the_density_on_the_way(side_by_side):
    """At every shown step, each cloud's second moment is that of q_t: both samplers keep the marginals."""
    alpha_bars = cosine_alpha_bars(T6)
    for panel in side_by_side["panels"]:
        layer = panel["layers"][1]
        for frame in (10, 25, 40, 45):
            abar = alpha_bars[T6 - EVERY * frame - 1]
            r2 = (_cloud(layer, frame) ** 2).sum(axis=1)
            expected = abar * (RING_RADIUS**2 + 2 * RING_STD**2) + 2 * (1 - abar)
            se = r2.std(ddof=1) / math.sqrt(r2.size)
            assert_within_se(r2.mean(), expected, se, f"{panel['title']}, frame {frame}")


def test_ddim_glides_where_ddpm_jitters(side_by_side):
    """An ODE moves a point by O(Δt) per step; DDPM adds fresh noise of size O(√Δt) as well, so its
    tracks, sampled at the same steps, are many times longer."""
    lengths = []
    for panel in side_by_side["panels"]:
        layer = panel["layers"][1]
        x, y = np.array(layer["x"]), np.array(layer["y"])
        lengths.append(np.hypot(np.diff(x, axis=0), np.diff(y, axis=0)).sum(axis=0).mean())
    ddpm, ddim = lengths
    assert ddim < ddpm / 5, lengths


# ----------------------------------------------------------------------------- the helpers


def test_helpers_reject_bad_shapes():
    with pytest.raises(ValueError, match="frames"):
        core_1.raster_layer(np.zeros((2, 4, 4, 2)))
    with pytest.raises(ValueError, match="points"):
        core_1.points_layer(np.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match="steps"):
        core_1.forward_data(steps=[0, 1001])
    assert core_2.DATA == {"reverse": core_2.reverse_data}
    assert core_6.DATA == {"ddpm-vs-ddim": core_6.ddpm_vs_ddim_data}
