"""The noise predictors: time features, the MLP trained against the exact oracle, the per-step error.

The U-Net has its own file, tests/test_unet.py.
"""

from __future__ import annotations

import math

import pytest
import torch

from diffusion_path.diffusion.forward import q_sample
from diffusion_path.diffusion.networks import (
    NoiseMLP,
    noise_prediction_mse,
    timestep_embedding,
    weights_from,
)
from diffusion_path.diffusion.schedules import NoiseSchedule
from diffusion_path.diffusion.training import train_toy
from diffusion_path.tools.oracle import GaussianMixtureOracle, GaussianOracle


def test_timestep_embedding_is_the_sinusoid_of_its_formula():
    t = torch.tensor([0, 1, 7, 999])
    emb = timestep_embedding(t, 8, max_period=10_000.0)
    assert emb.shape == (4, 8)
    for row, step in enumerate(t.tolist()):
        for i in range(4):
            omega = 10_000.0 ** (-i / 4)
            assert emb[row, i].item() == pytest.approx(math.cos(step * omega), abs=1e-5)
            assert emb[row, 4 + i].item() == pytest.approx(math.sin(step * omega), abs=1e-5)


def test_mlp_depends_on_the_step_and_is_seeded_by_its_generator():
    a = NoiseMLP(2, hidden=16, generator=torch.Generator().manual_seed(3))
    b = NoiseMLP(2, hidden=16, generator=torch.Generator().manual_seed(3))
    x = torch.randn(4, 2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(
        a(x, torch.zeros(4, dtype=torch.long)), b(x, torch.zeros(4, dtype=torch.long))
    )
    assert not torch.allclose(a(x, torch.zeros(4, dtype=torch.long)), a(x, torch.full((4,), 40)))


def test_training_approaches_the_exact_noise_predictor():
    """On Gaussian data the best ε-predictor is known in closed form: training must get close to it.

    The error is measured against the oracle on fresh (x_t, t); an untrained network and the
    zero predictor are the baselines. The threshold leaves a wide margin over what 1500 steps reach.
    """
    gen = torch.Generator().manual_seed(0)
    schedule = NoiseSchedule.linear(50, 1e-3, 0.2)
    mean, cov = torch.tensor([1.0, -0.5]), torch.tensor([[0.30, 0.10], [0.10, 0.20]])
    oracle = GaussianOracle(mean, cov, schedule)
    chol = torch.linalg.cholesky(cov)
    data = mean + torch.randn(4000, 2, generator=gen) @ chol.T
    model = NoiseMLP(2, hidden=64, depth=2, generator=gen)

    x0 = mean + torch.randn(2000, 2, generator=gen) @ chol.T
    t = torch.randint(0, schedule.T, (2000,), generator=gen)
    x_t = q_sample(x0, t, schedule, generator=gen)
    target = torch.stack([oracle(x_t[i : i + 1], int(t[i]))[0] for i in range(0, 2000, 10)])
    probe = x_t[::10], t[::10]

    def error(predictor) -> float:
        with torch.no_grad():
            return torch.mean((predictor(*probe) - target) ** 2).item()

    before = error(model)
    ema, losses = train_toy(model, data, schedule, gen, steps=1500, batch_size=256, lr=3e-3)
    after = error(ema)
    zero = torch.mean(target**2).item()
    print(f"error to the oracle: untrained {before:.4f}, zero {zero:.4f}, trained {after:.5f}")
    assert len(losses) == 1500
    assert after < 0.1 * min(before, zero), (
        f"error to the oracle {after:.4f} (untrained {before:.4f}, zero {zero:.4f})"
    )


def test_progress_bar_is_shown_when_asked(capsys):
    gen = torch.Generator().manual_seed(0)
    train_toy(
        NoiseMLP(2, hidden=8),
        torch.randn(32, 2),
        NoiseSchedule.linear(10, 1e-3, 0.2),
        gen,
        steps=3,
        progress=True,
    )
    assert "training" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"ema_decay": 1.0}, "ema_decay"),
        ({"steps": 0}, "steps"),
        ({"batch_size": -1}, "batch_size"),
        ({"data": torch.randn(10)}, "data"),
        ({"generator": 0}, "generator"),
    ],
)
def test_bad_input_names_the_argument(kwargs, argument):
    args = {
        "model": NoiseMLP(2, hidden=8),
        "data": torch.randn(16, 2),
        "schedule": NoiseSchedule.linear(10, 1e-3, 0.2),
        "generator": torch.Generator().manual_seed(0),
        **kwargs,
    }
    with pytest.raises(ValueError, match=argument):
        train_toy(**args)
    with pytest.raises(ValueError, match="dim"):
        timestep_embedding(torch.arange(3), 5)


# ----------------------------------------------------------------------------- the embedding
def test_embedding_tells_every_step_of_a_long_chain_apart():
    """Injective over 0..T-1 with room to spare: every two of the T rows are more than 1 apart."""
    for dim in (16, 128):
        emb = timestep_embedding(torch.arange(1000), dim).double()
        distances = torch.cdist(emb, emb)
        distances.fill_diagonal_(math.inf)
        assert distances.min() > 1.0, dim


def test_a_shift_in_time_rotates_each_cosine_sine_pair():
    """(C3.2): emb(t + s) is emb(t) with the pair of frequency omega_i rotated by the angle omega_i s."""
    k, s = 8, 37
    t = torch.tensor([3, 250, 901])
    now, later = timestep_embedding(t, 2 * k).double(), timestep_embedding(t + s, 2 * k).double()
    omega = 10_000.0 ** (-torch.arange(k, dtype=torch.float64) / k)
    cos, sin = torch.cos(omega * s), torch.sin(omega * s)
    assert torch.allclose(later[:, :k], cos * now[:, :k] - sin * now[:, k:], atol=1e-4)
    assert torch.allclose(later[:, k:], sin * now[:, :k] + cos * now[:, k:], atol=1e-4)


def test_embedding_rows_depend_only_on_their_own_step():
    t = torch.tensor([5, 5, 700, 0])
    emb = timestep_embedding(t, 32)
    assert torch.equal(emb[0], emb[1])
    assert torch.equal(emb[2], timestep_embedding(torch.tensor([700]), 32)[0])
    assert torch.equal(emb[3], torch.cat([torch.ones(16), torch.zeros(16)]))
    assert (
        timestep_embedding(torch.tensor([1.5, 2.0], dtype=torch.float64), 4).dtype == torch.float32
    )


@pytest.mark.parametrize(
    ("args", "argument"),
    [
        ((torch.tensor([[1, 2]]), 8), "t"),
        ((torch.tensor([1, -1]), 8), "t"),
        ((torch.tensor([1.0, math.nan]), 8), "t"),
        (([1, 2], 8), "t"),
        ((torch.tensor([1, 2]), 7), "dim"),
        ((torch.tensor([1, 2]), 0), "dim"),
        ((torch.tensor([1, 2]), 8, 0.0), "max_period"),
    ],
)
def test_embedding_rejects_bad_input_naming_the_argument(args, argument):
    with pytest.raises(ValueError, match=argument):
        timestep_embedding(*args)


def test_weights_from_a_seed_leave_the_global_generator_alone():
    state = torch.random.get_rng_state()
    with weights_from(torch.Generator().manual_seed(0)):
        a = torch.nn.Linear(4, 4)
    with weights_from(torch.Generator().manual_seed(0)):
        b = torch.nn.Linear(4, 4)
    assert torch.equal(a.weight, b.weight)
    assert torch.equal(state, torch.random.get_rng_state())
    with pytest.raises(ValueError, match="generator"):
        with weights_from(0):
            pass


# ----------------------------------------------------------------------------- the per-step error
def test_the_exact_predictor_of_gaussian_data_scores_its_closed_form_floor():
    """For N(mu, Sigma) data, eps - E[eps | x_t] ~ N(0, I - (1 - abar) Sigma_t^{-1}), whatever x_t is.

    So the per-step error of the oracle is tr(I - (1 - abar) Sigma_t^{-1}) / d, with
    Sigma_t = abar Sigma + (1 - abar) I (C3.8), and the mean of n d squared Gaussians has a known
    standard error: a bound of 5 standard errors fails a correct measure once in 3 million runs.
    """
    schedule = NoiseSchedule.cosine(50)
    mean = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    A = torch.tensor([[1.0, 0.0, 0.0], [0.6, 0.5, 0.0], [-0.3, 0.2, 0.2]], dtype=torch.float64)
    cov = A @ A.T
    oracle = GaussianOracle(mean, cov, schedule)
    gen = torch.Generator().manual_seed(0)
    n, d = 20_000, 3
    x0 = mean + torch.randn(n, d, generator=gen, dtype=torch.float64) @ A.T
    steps = [0, 5, 20, 35, 49]
    got = noise_prediction_mse(oracle, x0, steps, schedule, gen)
    for value, step in zip(got.tolist(), steps, strict=True):
        abar = float(schedule.alpha_bars[step])
        C = torch.eye(d, dtype=torch.float64) - (1 - abar) * torch.linalg.inv(
            abar * cov + (1 - abar) * torch.eye(d, dtype=torch.float64)
        )
        floor = float(torch.trace(C)) / d
        se = math.sqrt(2 * float(torch.trace(C @ C)) / (n * d * d))
        assert abs(value - floor) < 5 * se, (step, value, floor, se)


def test_the_zero_predictor_scores_one_and_the_oracle_beats_every_network():
    schedule = NoiseSchedule.cosine(100)
    oracle = GaussianMixtureOracle([0.5, 0.5], [[-1.5, 0.0], [1.5, 0.5]], 0.05, schedule)
    gen = torch.Generator().manual_seed(1)
    x0, _ = oracle.sample(5000, gen)
    steps = [0, 30, 60, 99]
    zero = noise_prediction_mse(lambda x, t: torch.zeros_like(x), x0, steps, schedule, gen)
    assert torch.allclose(zero, torch.ones(4), atol=5 * math.sqrt(2 / (5000 * 2)))
    model = NoiseMLP(2, hidden=32, generator=gen)
    ema, _ = train_toy(model, x0, schedule, gen, steps=300)
    floor = noise_prediction_mse(oracle, x0, steps, schedule, torch.Generator().manual_seed(2))
    trained = noise_prediction_mse(ema, x0, steps, schedule, torch.Generator().manual_seed(2))
    assert bool((floor <= trained + 1e-3).all()), (floor, trained)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"t": []}, "t"),
        ({"t": [0, 100]}, "t"),
        ({"t": 2.5}, "t"),
        ({"t": torch.tensor([1.0])}, "t"),
        ({"x0": torch.zeros(10)}, "x0"),
        ({"x0": torch.full((4, 2), math.nan)}, "x0"),
        ({"schedule": [0.1]}, "schedule"),
        ({"generator": None}, "generator"),
        ({"model": "mlp"}, "model"),
        ({"model": lambda x, t: x[:, :1]}, "model"),
        ({"model": lambda x, t: x / 0.0}, "model"),
    ],
)
def test_the_error_measure_rejects_bad_input_naming_the_argument(kwargs, argument):
    args = {
        "model": lambda x, t: torch.zeros_like(x),
        "x0": torch.ones(4, 2),
        "t": [0, 5],
        "schedule": NoiseSchedule.linear(100),
        "generator": torch.Generator().manual_seed(0),
        **kwargs,
    }
    with pytest.raises(ValueError, match=argument):
        noise_prediction_mse(**args)
