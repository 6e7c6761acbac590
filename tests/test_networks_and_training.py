"""The 2-D noise predictor of Core Task 2: its time features, and training against the exact oracle."""

from __future__ import annotations

import math

import pytest
import torch

from diffusion_path.diffusion.forward import q_sample
from diffusion_path.diffusion.networks import NoiseMLP, timestep_embedding
from diffusion_path.diffusion.schedules import NoiseSchedule
from diffusion_path.diffusion.training import train_toy
from diffusion_path.tools.oracle import GaussianOracle


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
