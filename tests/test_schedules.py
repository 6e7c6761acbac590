"""Noise schedules against their closed forms, and the ValueErrors of bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from diffusion_path.diffusion.schedules import (
    NoiseSchedule,
    cosine_beta_schedule,
    linear_beta_schedule,
)
from diffusion_path.tools import validation


def test_linear_schedule_is_numpy_linspace():
    betas = linear_beta_schedule(1000)
    assert betas.dtype == torch.float64 and betas.shape == (1000,)
    np.testing.assert_allclose(betas.numpy(), np.linspace(1e-4, 0.02, 1000), rtol=1e-12)


def test_cosine_schedule_follows_improved_ddpm_eq_17():
    T, s = 200, 0.008
    betas = cosine_beta_schedule(T, s=s).numpy()
    tau = np.arange(T + 1)
    f = np.cos((tau / T + s) / (1 + s) * np.pi / 2) ** 2
    alpha_bar = f / f[0]
    np.testing.assert_allclose(np.cumprod(1 - betas)[:-1], alpha_bar[1:-1], rtol=1e-10)
    assert betas[-1] == pytest.approx(0.999)
    assert np.all(np.diff(betas) > 0), "cosine betas grow with t"


def test_cosine_destroys_information_more_evenly_than_linear():
    """Improved DDPM Sec. 3.2: the linear schedule's last quarter is almost pure noise; the cosine's is not."""
    linear, cosine = NoiseSchedule.linear(1000), NoiseSchedule.cosine(1000)
    assert float(linear.alpha_bars[750]) < 0.01
    assert float(cosine.alpha_bars[750]) > 0.1
    # the cosine's alpha_bar is close to linear in t in the middle: about 0.5 at t = T/2
    assert float(cosine.alpha_bars[499]) == pytest.approx(0.5, abs=0.02)


def test_schedule_quantities_match_numpy():
    betas = np.array([0.01, 0.05, 0.2, 0.4])
    s = NoiseSchedule(torch.tensor(betas))
    abar = np.cumprod(1 - betas)
    prev = np.concatenate([[1.0], abar[:-1]])
    np.testing.assert_allclose(s.alphas.numpy(), 1 - betas)
    np.testing.assert_allclose(s.alpha_bars.numpy(), abar)
    np.testing.assert_allclose(s.alpha_bars_prev.numpy(), prev)
    np.testing.assert_allclose(s.snr.numpy(), abar / (1 - abar))
    np.testing.assert_allclose(s.posterior_variance.numpy(), (1 - prev) / (1 - abar) * betas)
    assert s.posterior_variance[0].item() == 0.0
    assert np.all(s.posterior_variance.numpy() <= betas), "beta_tilde <= beta"
    np.testing.assert_allclose(
        s.posterior_log_variance_clipped.numpy(),
        np.log(
            np.concatenate([[s.posterior_variance[1].item()], s.posterior_variance[1:].numpy()])
        ),
    )
    assert len(s) == s.T == 4
    assert "T=4" in repr(s)


def test_single_step_schedule_is_finite():
    s = NoiseSchedule(torch.tensor([0.3]))
    assert s.alpha_bars_prev.tolist() == [1.0]
    assert math.isfinite(s.posterior_log_variance_clipped.item())


def test_snr_decreases():
    for s in (NoiseSchedule.linear(100), NoiseSchedule.cosine(100)):
        assert torch.all(torch.diff(s.snr) < 0)


def test_schedule_accepts_a_list():
    assert NoiseSchedule([0.1, 0.2]).betas.dtype == torch.float64


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: linear_beta_schedule(0), "T"),
        (lambda: linear_beta_schedule(10.0), "T"),
        (lambda: linear_beta_schedule(10, 0.0), "beta_start"),
        (lambda: linear_beta_schedule(10, 1e-4, 1.0), "beta_end"),
        (lambda: cosine_beta_schedule(-3), "T"),
        (lambda: cosine_beta_schedule(10, s=-1.0), "s"),
        (lambda: cosine_beta_schedule(10, max_beta=0.0), "max_beta"),
        (lambda: NoiseSchedule(torch.tensor([0.5, 1.5])), "betas"),
        (lambda: NoiseSchedule(torch.tensor([-0.1])), "betas"),
        (lambda: NoiseSchedule(torch.tensor(0.1)), "betas"),
    ],
)
def test_bad_input_names_the_argument(call, argument):
    with pytest.raises(ValueError, match=argument):
        call()


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        (True, "int or a LongTensor"),
        (2.0, "int or a LongTensor"),
        (torch.tensor([0.5, 1.0]), "integers"),
        (torch.tensor([0, 1, 2]), "shape"),
        (torch.tensor([0, 10]), r"\[0, 9\]"),
        (-1, r"\[0, 9\]"),
    ],
)
def test_timesteps_validation(value, needle):
    with pytest.raises(ValueError, match=needle):
        validation.timesteps(value, 10, 2)


def test_timesteps_broadcast():
    assert validation.timesteps(3, 10, 4).tolist() == [3, 3, 3, 3]
    assert validation.timesteps(torch.tensor(2), 10, 3).tolist() == [2, 2, 2]
    assert validation.timesteps(torch.tensor([1, 2], dtype=torch.int32), 10, 2).dtype == torch.long
