"""The training loop: exact resumption, the NaN guard, atomic and safe checkpoints, EMA, several processes."""

from __future__ import annotations

import math
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from diffusion_path.diffusion.networks import NoiseMLP
from diffusion_path.diffusion.schedules import NoiseSchedule
from diffusion_path.diffusion.training import (
    TrainConfig,
    TrainingDiverged,
    _learning_rate,
    ema_update,
    load_checkpoint,
    save_checkpoint,
    simple_loss,
    train,
)

SCHEDULE = NoiseSchedule.linear(50, 1e-3, 0.2)


def _data(seed: int = 0) -> torch.Tensor:
    return torch.randn(256, 2, generator=torch.Generator().manual_seed(seed))


def _model() -> NoiseMLP:
    return NoiseMLP(2, hidden=16, generator=torch.Generator().manual_seed(1))


class _Stop(Exception):
    pass


def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path):
    config = TrainConfig(
        steps=40, batch_size=32, lr=1e-2, warmup=5, checkpoint_every=20, log_every=10
    )
    whole = train(_model(), _data(), SCHEDULE, config, out=tmp_path / "whole")

    def stop_at_20(state):
        if state.step == 20:
            raise _Stop

    with pytest.raises(_Stop):
        train(_model(), _data(), SCHEDULE, config, out=tmp_path / "cut", on_log=stop_at_20)
    assert load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["step"] == 20
    resumed = train(_model(), _data(), SCHEDULE, config, resume=tmp_path / "cut" / "checkpoint.pt")
    for a, b in zip(whole.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(whole.ema.parameters(), resumed.ema.parameters(), strict=True):
        assert torch.equal(a, b)
    assert whole.losses == resumed.losses


class _Poisoned(nn.Module):
    """A network that starts returning NaN after ``after`` calls."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.inner, self.after, self.calls = _model(), after, 0

    def forward(self, x, t):
        self.calls += 1
        out = self.inner(x, t)
        return out * float("nan") if self.calls > self.after else out


def test_a_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    config = TrainConfig(steps=50, batch_size=16, checkpoint_every=10, log_every=5)
    with pytest.raises(TrainingDiverged, match=r"at step 26.*checkpoint\.pt"):
        train(_Poisoned(after=25), _data(), SCHEDULE, config, out=tmp_path)
    kept = load_checkpoint(tmp_path / "checkpoint.pt")
    assert kept["step"] == 20
    assert all(torch.isfinite(v).all() for v in kept["model"].values())


def test_a_failed_write_leaves_the_previous_checkpoint_whole(tmp_path, monkeypatch):
    config = TrainConfig(steps=10, batch_size=16, checkpoint_every=10, log_every=5)
    state = train(_model(), _data(), SCHEDULE, config, out=tmp_path)
    path = tmp_path / "checkpoint.pt"
    before = path.read_bytes()

    def broken_save(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, state)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"], "no temporary file is left"


def test_checkpoints_are_loaded_safely(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"step": 1, "ema": {}, "payload": _Stop()}, path)  # an arbitrary object
    with pytest.raises(ValueError, match="path must be a checkpoint"):
        load_checkpoint(path)
    with pytest.raises(ValueError, match="no such file"):
        load_checkpoint(tmp_path / "missing.pt")


def test_resuming_another_model_is_refused(tmp_path):
    config = TrainConfig(steps=5, batch_size=8, checkpoint_every=5, log_every=5)
    train(_model(), _data(), SCHEDULE, config, out=tmp_path)
    with pytest.raises(ValueError, match="resume must be a checkpoint of this model"):
        train(NoiseMLP(2, hidden=8), _data(), SCHEDULE, config, resume=tmp_path / "checkpoint.pt")


def test_ema_is_the_closed_form_average():
    """After n updates toward a fixed target, theta_ema = target + decay^n (theta_0 - target)."""
    model, ema = nn.Linear(3, 1), nn.Linear(3, 1)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(2.0)
        for p in ema.parameters():
            p.fill_(-1.0)
    for _ in range(7):
        ema_update(ema, model, 0.8)
    expected = 2.0 + 0.8**7 * (-1.0 - 2.0)
    for p in ema.parameters():
        torch.testing.assert_close(p, torch.full_like(p, expected))


def test_learning_rate_warms_up_then_decays_to_zero():
    config = TrainConfig(steps=110, lr=1e-3, warmup=10)
    assert _learning_rate(0, config) == pytest.approx(1e-4)
    assert _learning_rate(9, config) == pytest.approx(1e-3)
    assert _learning_rate(60, config) == pytest.approx(0.5e-3)
    assert _learning_rate(110, config) == pytest.approx(0.0, abs=1e-12)


def test_simple_loss_of_the_zero_predictor_is_the_noise_variance():
    """A model that predicts 0 scores E||eps||^2 / d = 1: a Monte-Carlo check in standard errors."""
    n = 200_000
    loss = simple_loss(
        lambda x, t: torch.zeros_like(x),
        torch.zeros(n, 1),
        SCHEDULE,
        torch.Generator().manual_seed(0),
    )
    # eps^2 for eps ~ N(0, 1) has variance 2
    assert abs(loss.item() - 1.0) < 4.9 * math.sqrt(2 / n)


def test_bf16_mixed_precision_trains_on_a_cpu():
    config = TrainConfig(steps=10, batch_size=32, precision="bf16", log_every=5)
    state = train(_model(), _data(), SCHEDULE, config)
    assert all(math.isfinite(loss) for loss in state.losses)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("steps", 0),
        ("lr", -1.0),
        ("ema_decay", 1.0),
        ("grad_clip", 0.0),
        ("precision", "fp8"),
        ("warmup", -1),
    ],
)
def test_bad_configuration_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(
        {
            "RANK": str(rank),
            "WORLD_SIZE": str(world),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
        }
    )
    torch.set_num_threads(1)
    config = TrainConfig(steps=12, batch_size=16, checkpoint_every=12, log_every=4)
    state = train(_model(), _data(), SCHEDULE, config, out=out)
    torch.save(
        {k: v.clone() for k, v in state.model.state_dict().items()}, Path(out) / f"rank{rank}.pt"
    )
    import torch.distributed as dist

    dist.destroy_process_group()


def test_two_processes_with_gloo_stay_in_sync_and_one_writes(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    a = torch.load(tmp_path / "rank0.pt", weights_only=True)
    b = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for name in a:
        assert torch.equal(a[name], b[name]), f"{name} differs between the two processes"
    assert load_checkpoint(tmp_path / "checkpoint.pt")["step"] == 12
    single = train(_model(), _data(), SCHEDULE, TrainConfig(steps=12, batch_size=16, log_every=4))
    assert any(
        not torch.equal(p, q)
        for p, q in zip(single.model.parameters(), (a[k] for k in a), strict=False)
    ), "two processes see twice the data: their weights differ from one process's"


def test_a_tiny_unet_on_the_digits_beats_the_trivial_predictor():
    """Trained for a few hundred steps, the EMA's loss on held-out digits falls well below 1.

    The trivial predictor, 0, scores E||eps||^2 / d = 1 whatever the data; a network that has
    learnt nothing about the digits cannot do better than predicting 0 on average. Both are
    scored on the same held-out digits with the same steps and noise.
    """
    from diffusion_path.diffusion.unet import UNet, UNetConfig
    from diffusion_path.tools.data import load_digits, split

    digits = load_digits()
    kept, held = split(len(digits), 0.2, torch.Generator().manual_seed(0))
    schedule = NoiseSchedule.cosine(100)
    net = UNet(
        UNetConfig(base_channels=8, channel_mults=(1, 2), attention_resolutions=(), dropout=0.0),
        generator=torch.Generator().manual_seed(0),
    )
    config = TrainConfig(steps=150, batch_size=32, lr=3e-3, warmup=10, ema_decay=0.98)
    config.ema_warmup = True
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        state = train(net, digits[kept], schedule, config)
    finally:
        torch.set_num_threads(threads)
    with torch.no_grad():
        trained = simple_loss(state.ema, digits[held], schedule, torch.Generator().manual_seed(5))
        zero = simple_loss(
            lambda x, t: torch.zeros_like(x),
            digits[held],
            schedule,
            torch.Generator().manual_seed(5),
        )
    assert abs(zero.item() - 1.0) < 0.05  # the same draws: E[eps^2] over 359 x 64 values
    assert trained.item() < 0.6 * zero.item(), (trained.item(), zero.item())
    assert state.losses[-1] < 0.7 * state.losses[0]
