"""DDIM against DDPM, against exact answers with the oracle, and its inversion."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from diffusion_path.diffusion.ddim import ddim_invert, ddim_sample, ddim_step, ddim_timesteps, slerp
from diffusion_path.diffusion.reverse import ddpm_sample, ddpm_step
from diffusion_path.diffusion.schedules import NoiseSchedule
from diffusion_path.tools.oracle import GaussianOracle


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class PointMass:
    """The exact noise predictor when all the data is one point mu: eps* = (x - sqrt(abar) mu) / sqrt(1 - abar)."""

    def __init__(self, mu: torch.Tensor, schedule: NoiseSchedule) -> None:
        self.mu, self.abar = mu.double(), schedule.alpha_bars

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        abar = self.abar[t].reshape(-1, 1)
        return ((x.double() - abar.sqrt() * self.mu) / (1 - abar).sqrt()).to(x.dtype)


@pytest.mark.parametrize(
    ("spacing", "expected"),
    [
        ("leading", [8, 6, 4, 2, 0]),
        ("trailing", [9, 7, 5, 3, 1]),
        ("linspace", [9, 7, 4, 2, 0]),  # 6.75, 4.5, 2.25 rounded half to even
    ],
)
def test_timesteps_by_hand(spacing, expected):
    assert ddim_timesteps(10, 5, spacing).tolist() == expected


def test_quadratic_timesteps_follow_ddim_appendix():
    steps = ddim_timesteps(1000, 10, "quadratic").tolist()
    expected = sorted({int((i * math.sqrt(800) / 9) ** 2) for i in range(10)}, reverse=True)
    assert steps == expected


def test_eta_one_step_by_step_is_ddpm_with_the_posterior_variance():
    schedule = NoiseSchedule.cosine(20)
    x, eps, z = (torch.randn(6, 3, generator=_gen(s), dtype=torch.float64) for s in range(3))
    for t in range(20):
        ddim = ddim_step(eps, x, t, t - 1, schedule, eta=1.0, noise=z)
        ddpm = ddpm_step(eps, x, t, schedule, variance="beta_tilde", noise=z)
        torch.testing.assert_close(ddim, ddpm, rtol=1e-10, atol=1e-12)


def test_eta_one_over_every_step_samples_as_ddpm_does():
    schedule = NoiseSchedule.cosine(30)
    oracle = GaussianOracle([0.5, -0.3], [[0.3, 0.1], [0.1, 0.2]], schedule)
    x_T = torch.randn(50, 2, generator=_gen(9), dtype=torch.float64)
    ddim = ddim_sample(oracle, (50, 2), schedule, num_steps=30, eta=1.0, generator=_gen(1), x_T=x_T)
    ddpm = ddpm_sample(oracle, (50, 2), schedule, variance="beta_tilde", generator=_gen(1), x_T=x_T)
    torch.testing.assert_close(ddim, ddpm, rtol=1e-9, atol=1e-10)


def test_eta_zero_is_deterministic():
    schedule = NoiseSchedule.linear(50, 1e-3, 0.2)
    oracle = GaussianOracle([0.2], [[0.5]], schedule)
    x_T = torch.randn(8, 1, generator=_gen(0))
    a = ddim_sample(oracle, (8, 1), schedule, num_steps=10, generator=_gen(1), x_T=x_T)
    b = ddim_sample(oracle, (8, 1), schedule, num_steps=10, generator=_gen(2), x_T=x_T)
    assert torch.equal(a, b)


@pytest.mark.parametrize("sampler", ["ddpm", "ddim-0", "ddim-0.5", "ddim-1", "ddim-few"])
def test_a_point_mass_is_returned_exactly_by_every_sampler(sampler):
    schedule = NoiseSchedule.cosine(40)
    mu = torch.tensor([0.7, -1.2], dtype=torch.float64)
    oracle = PointMass(mu, schedule)
    shape, gen = (16, 2), _gen(3)
    if sampler == "ddpm":
        x = ddpm_sample(oracle, shape, schedule, generator=gen)
    elif sampler == "ddim-few":
        x = ddim_sample(oracle, shape, schedule, num_steps=3, generator=gen)
    else:
        eta = float(sampler.split("-")[1])
        x = ddim_sample(oracle, shape, schedule, num_steps=40, eta=eta, generator=gen)
    torch.testing.assert_close(x.double(), mu.expand(shape), rtol=0, atol=1e-5)


def _cos_product(schedule: NoiseSchedule, steps: list[int]) -> float:
    """The output std of deterministic DDIM for N(0, 1) data: a product of cos(phi_s - phi_t).

    For N(0, 1) data x_t ~ N(0, 1) at every step and eps* = sqrt(1 - abar) x, so a DDIM step
    multiplies x by sqrt(abar_s abar_t) + sqrt((1 - abar_s)(1 - abar_t)) = cos(phi_s - phi_t),
    with cos(phi) = sqrt(abar); from x_T ~ N(0, 1) the output std is the product.
    """
    abar = [1.0, *schedule.alpha_bars.tolist()]
    phi = [math.acos(math.sqrt(a)) for a in abar]
    out = 1.0
    for t, s in zip(steps, [*steps[1:], -1], strict=True):
        out *= math.cos(phi[t + 1] - phi[s + 1])
    return out


def test_deterministic_ddim_on_gaussian_data_has_the_std_its_update_implies():
    schedule = NoiseSchedule.cosine(200)
    oracle = GaussianOracle([0.0], [[1.0]], schedule)
    n = 20_000
    errors = []
    for num_steps in (5, 20, 100):
        x = ddim_sample(oracle, (n, 1), schedule, num_steps=num_steps, generator=_gen(num_steps))
        expected = _cos_product(schedule, ddim_timesteps(200, num_steps).tolist())
        std = float(x.double().std())
        # the sample std of n normals has standard error std / sqrt(2 (n - 1))
        assert abs(std - expected) < 4.9 * expected / math.sqrt(2 * (n - 1)), (
            num_steps,
            std,
            expected,
        )
        errors.append(1 - expected)
    assert errors[0] > errors[1] > errors[2] > 0, "the first-order error shrinks with more steps"


def test_inversion_reconstructs_the_input():
    schedule = NoiseSchedule.cosine(200)
    oracle = GaussianOracle([0.3, -0.2], [[0.4, 0.1], [0.1, 0.3]], schedule)
    x0 = oracle.sample(32, _gen(0))[0].double()
    gaps = []
    for num_steps in (20, 100):
        x_T = ddim_invert(oracle, x0, schedule, num_steps=num_steps)
        back = ddim_sample(
            oracle, x0.shape, schedule, num_steps=num_steps, generator=_gen(1), x_T=x_T
        )
        gaps.append(float((back - x0).abs().max()))
    # the round trip's error is first order in the step: five times the steps, a few times smaller
    assert gaps[1] < 0.05 and gaps[1] < gaps[0] / 3, gaps


def test_slerp_keeps_the_norm_of_orthogonal_unit_vectors_and_hits_the_ends():
    z0 = torch.randn(4, 50, generator=_gen(0), dtype=torch.float64)
    z1 = torch.randn(4, 50, generator=_gen(1), dtype=torch.float64)
    torch.testing.assert_close(slerp(z0, z1, 0.0), z0)
    torch.testing.assert_close(slerp(z0, z1, 1.0), z1)
    a, b = torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[0.0, 1.0, 0.0]])
    for w in np.linspace(0, 1, 7):
        assert abs(float(slerp(a, b, float(w)).norm()) - 1) < 1e-6


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda s: ddim_timesteps(10, 11), "num_steps"),
        (lambda s: ddim_timesteps(10, 5, "cubic"), "spacing"),
        (lambda s: ddim_step(torch.zeros(2, 1), torch.zeros(2, 1), 3, 3, s), "t_prev"),
        (lambda s: ddim_step(torch.zeros(2, 1), torch.zeros(2, 1), 3, 1, s, eta=-0.1), "eta"),
        (lambda s: ddim_step(torch.zeros(2, 1), torch.zeros(2, 1), 3, 1, s, eta=0.5), "generator"),
        (
            lambda s: ddim_sample(lambda x, t: x, (2, 1), s, num_steps=0, generator=_gen(0)),
            "num_steps",
        ),
        (
            lambda s: ddim_sample(
                lambda x, t: x * float("nan"), (2, 1), s, num_steps=5, generator=_gen(0)
            ),
            "model",
        ),
    ],
)
def test_bad_input_names_the_argument(call, argument):
    with pytest.raises(ValueError, match=argument):
        call(NoiseSchedule.linear(10))
