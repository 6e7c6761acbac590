"""The forward process: one-shot sampling against the iterated chain and the closed-form marginal."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from diffusion_path.diffusion.forward import q_sample, q_step
from diffusion_path.diffusion.schedules import NoiseSchedule

ALPHA = 1e-6  # a correct implementation fails each statistical test at most this often


def test_iterated_chain_matches_closed_form_in_distribution():
    """DDPM eq. (2) iterated t + 1 times has the law of eq. (4): two-sample KS test at every 5th step."""
    schedule = NoiseSchedule.linear(20, 0.02, 0.3)
    n = 4000
    x0 = torch.tensor([[1.0, -0.5]]).expand(n, 2)
    chain_gen, direct_gen = torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)
    x = x0
    for t in range(schedule.T):
        x = q_step(x, t, schedule, generator=chain_gen)
        if t % 5 == 4:
            direct = q_sample(x0, t, schedule, generator=direct_gen)
            for axis in range(2):
                result = stats.ks_2samp(x[:, axis].numpy(), direct[:, axis].numpy())
                assert result.pvalue > ALPHA, f"t={t}, axis {axis}: KS p-value {result.pvalue:.2g}"


def test_q_sample_matches_scipy_normal():
    schedule = NoiseSchedule.cosine(50)
    t, value, n = 30, 0.7, 20_000
    x = q_sample(torch.full((n, 1), value), t, schedule, generator=torch.Generator().manual_seed(2))
    abar = float(schedule.alpha_bars[t])
    dist = stats.norm(math.sqrt(abar) * value, math.sqrt(1 - abar))
    assert stats.kstest(x[:, 0].numpy(), dist.cdf).pvalue > ALPHA


def test_q_sample_per_example_steps_on_images():
    schedule = NoiseSchedule.linear(10, 0.05, 0.5)
    x0 = torch.rand(3, 1, 4, 4) * 2 - 1
    eps = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([9, 0, 4])
    out = q_sample(x0, t, schedule, noise=eps)
    for i, step in enumerate(t.tolist()):
        alone = q_sample(x0[i : i + 1], step, schedule, noise=eps[i : i + 1])
        torch.testing.assert_close(out[i : i + 1], alone)


def test_q_step_at_zero_starts_from_data():
    schedule = NoiseSchedule(torch.tensor([0.36, 0.5]))
    out = q_step(torch.ones(1, 1), 0, schedule, noise=torch.zeros(1, 1))
    assert out.item() == pytest.approx(0.8)


def test_generator_drives_the_noise():
    schedule = NoiseSchedule.linear(10)
    x0 = torch.zeros(4, 2)
    a = q_sample(x0, 5, schedule, generator=torch.Generator().manual_seed(0))
    b = q_sample(x0, 5, schedule, generator=torch.Generator().manual_seed(0))
    c = q_sample(x0, 5, schedule, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda s: q_sample(torch.zeros(2, 2), 10, s, generator=torch.Generator()), "t"),
        (
            lambda s: q_sample(
                torch.zeros(2, 2), torch.tensor([1, 2, 3]), s, generator=torch.Generator()
            ),
            "t",
        ),
        (lambda s: q_sample(torch.zeros(2, 2), 1, s, noise=torch.zeros(2, 1)), "noise"),
        (lambda s: q_sample(torch.zeros(2, 2), 1, s), "generator"),
        (
            lambda s: q_sample(torch.zeros(2, 2), 1, s, generator=np.random.default_rng(0)),
            "generator",
        ),
        (lambda s: q_sample(np.zeros((2, 2)), 1, s, generator=torch.Generator()), "x0"),
        (
            lambda s: q_sample(
                torch.zeros(2, 2, dtype=torch.long), 1, s, generator=torch.Generator()
            ),
            "x0",
        ),
        (
            lambda s: q_sample(torch.zeros(2, 2), 1, "linear", generator=torch.Generator()),
            "schedule",
        ),
        (lambda s: q_step(torch.zeros(2, 2), -1, s, generator=torch.Generator()), "t"),
        (lambda s: q_step(torch.zeros(2, 2), 0, s, noise=torch.zeros(3, 2)), "noise"),
    ],
)
def test_bad_input_names_the_argument(call, argument):
    with pytest.raises(ValueError, match=argument):
        call(NoiseSchedule.linear(10))


def test_reference_code_in_one_learner_file_passes(tmp_path):
    """A learner who writes both reference modules into one core_1.py passes every check."""
    import inspect

    from diffusion_path.check import run_checks
    from diffusion_path.diffusion import forward, schedules

    second = inspect.getsource(forward)
    for line in (
        "from __future__ import annotations\n",
        "from diffusion_path.diffusion.schedules import NoiseSchedule, gather\n",
    ):
        assert line in second
        second = second.replace(line, "")
    (tmp_path / "core_1.py").write_text(inspect.getsource(schedules) + "\n" + second)
    report = run_checks("core-1", tmp_path, isolate=False)
    assert report.passed, [(r.function, r.reason) for r in report.results if r.status != "passed"]


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda s, bad: q_sample(bad, 1, s, generator=torch.Generator()), "x0"),
        (lambda s, bad: q_sample(torch.zeros(2, 2), 1, s, noise=bad), "noise"),
        (lambda s, bad: q_step(bad, 1, s, generator=torch.Generator()), "x_prev"),
    ],
)
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_input_is_rejected(call, argument, value):
    bad = torch.zeros(2, 2)
    bad[1, 0] = value
    with pytest.raises(ValueError, match=rf"{argument} must be finite"):
        call(NoiseSchedule.linear(10), bad)
