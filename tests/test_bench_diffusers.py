"""The benchmarks against diffusers (train, sample) and the project's own timings (project).

diffusers is an independent implementation of the same samplers: configured identically, its
schedulers must visit the states ours visit, to float rounding — ground truth that does not come
from this library. Speed is measured, never asserted: quick runs check what a result holds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from matplotlib.figure import Figure

from diffusion_path import bench
from diffusion_path.bench import project as bench_project
from diffusion_path.bench import sample as bench_sample
from diffusion_path.bench import train as bench_train
from diffusion_path.cli import main
from diffusion_path.diffusion.ddim import ddim_sample
from diffusion_path.diffusion.reverse import ddpm_sample
from diffusion_path.diffusion.schedules import NoiseSchedule
from diffusion_path.diffusion.unet import UNetConfig

pytest.importorskip("diffusers")

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- ours against diffusers


def _model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A fixed, nonlinear 'noise predictor' whose x0-hat leaves [-1, 1], so clipping matters."""
    return 0.8 * torch.tanh(x) + 0.01 * t.to(x.dtype).reshape(-1, 1, 1, 1)


@pytest.fixture(scope="module")
def setup():
    schedule = NoiseSchedule.cosine(60)
    x_T = torch.randn(6, 1, 4, 4, generator=torch.Generator().manual_seed(3))
    return schedule, x_T


def _gaussian(schedule: NoiseSchedule):
    """The exact noise predictor for data ~ N(0, I): E[eps | x_t] = sqrt(1 - alpha-bar_t) x_t."""
    scale = (1 - schedule.alpha_bars).sqrt().float()
    return lambda x, t: scale[t].reshape(-1, 1, 1, 1) * x


def _ours(sampler, schedule, x_T, model=_model, **options):
    generator = torch.Generator().manual_seed(11)
    if sampler == "ddpm":
        return ddpm_sample(
            model,
            x_T.shape,
            schedule,
            generator=generator,
            x_T=x_T,
            return_trajectory=True,
            **options,
        )[1]
    return ddim_sample(
        model,
        x_T.shape,
        schedule,
        generator=generator,
        x_T=x_T,
        return_trajectory=True,
        **options,
    )[1]


def _theirs(scheduler, steps, x_T, model=_model, **options):
    generator = torch.Generator().manual_seed(11)
    return bench_sample.diffusers_trajectory(
        model, scheduler, steps, x_T, generator, progress=False, **options
    )


@pytest.mark.parametrize("clip", [True, False])
def test_diffusers_ddpm_configured_identically_follows_ours(setup, clip):
    import diffusers

    schedule, x_T = setup
    scheduler, options = bench_sample.diffusers_schedulers(schedule.betas, "identical")["ddpm"]
    if not clip:
        scheduler = diffusers.DDPMScheduler.from_config(scheduler.config, clip_sample=False)
    # clipped: a poor model whose x0-hat leaves [-1, 1]; unclipped: the exact model of N(0, I)
    model = _model if clip else _gaussian(schedule)
    ours = _ours("ddpm", schedule, x_T, model, clip_x0=clip)
    theirs = _theirs(scheduler, schedule.T, x_T, model, **options)
    assert theirs.shape == ours.shape
    # float rounding: diffusers' step coefficients are float32, ours come from float64
    assert (theirs - ours).abs().max() < 1e-4
    assert (ours[-1] - ours[0]).abs().max() > 0.5  # the trajectory goes somewhere


@pytest.mark.parametrize(
    ("eta", "spacing"), [(0.0, "leading"), (1.0, "leading"), (0.0, "trailing")]
)
def test_diffusers_ddim_configured_identically_follows_ours(setup, eta, spacing):
    import diffusers

    schedule, x_T = setup
    scheduler, options = bench_sample.diffusers_schedulers(schedule.betas, "identical")["ddim"]
    scheduler = diffusers.DDIMScheduler.from_config(scheduler.config, timestep_spacing=spacing)
    ours = _ours("ddim", schedule, x_T, num_steps=10, eta=eta, spacing=spacing, clip_x0=True)
    theirs = _theirs(scheduler, 10, x_T, **{**options, "eta": eta})
    assert (theirs - ours).abs().max() < 1e-5


def test_diffusers_ddim_at_its_defaults_keeps_the_raw_noise_and_parts_from_ours(setup):
    """Its defaults clip x0-hat but keep the raw epsilon-hat: the same as ours only without clipping."""
    schedule, x_T = setup
    scheduler, options = bench_sample.diffusers_schedulers(schedule.betas, "defaults")["ddim"]
    assert options == {"eta": 0.0} and scheduler.config.clip_sample
    ours = _ours("ddim", schedule, x_T, num_steps=10, clip_x0=True)
    theirs = _theirs(scheduler, 10, x_T, **options)
    assert (theirs - ours).abs().max() > 0.05
    # by hand: the first step of diffusers' default from x_T, clipped x0 with the raw eps
    t = int(scheduler.timesteps[0])
    a, a_prev = schedule.alpha_bars[t].float(), schedule.alpha_bars[t - 6].float()
    eps = _model(x_T, torch.full((6,), t))
    x0 = ((x_T - (1 - a).sqrt() * eps) / a.sqrt()).clamp(-1, 1)
    assert torch.allclose(theirs[1], a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps, atol=1e-5)


def test_diffusers_ddpm_defaults_are_the_identical_configuration():
    schedule = NoiseSchedule.cosine(20)
    both = [
        bench_sample.diffusers_schedulers(schedule.betas, s)["ddpm"][0]
        for s in ("identical", "defaults")
    ]
    assert bench_sample._settings(both[0]) == bench_sample._settings(both[1])
    with pytest.raises(ValueError, match="setting"):
        bench_sample.diffusers_schedulers(schedule.betas, "fast")


# ----------------------------------------------------------------------------- matched size


def test_the_digits_unet_is_what_diffusion_path_train_builds():
    from diffusion_path.diffusion.training import default_unet, image_data

    images = image_data("digits")
    assert bench_train.our_config(images) == default_unet("digits")


@pytest.mark.parametrize(
    "config",
    [
        UNetConfig(),
        UNetConfig(base_channels=16),
        UNetConfig(
            base_channels=16, channel_mults=(1, 2, 2), image_size=8, attention_resolutions=()
        ),
    ],
)
def test_diffusers_network_matches_our_parameter_count(config):
    from diffusion_path.diffusion.unet import UNet

    kwargs, count = bench_train.match_diffusers(config, tolerance=0.03)
    ours = bench_train.parameters(UNet(config))
    assert abs(count - ours) <= 0.03 * ours, (kwargs, count, ours)
    assert len(kwargs["block_out_channels"]) == len(config.channel_mults)


# ----------------------------------------------------------------------------- quick runs


@pytest.fixture(scope="module")
def quick_train() -> dict:
    return bench.run(
        "train",
        rounds=2,
        round_seconds=0.05,
        forward_seconds=0.02,
        small_batch=2,
        large_batch=8,
        num=8,
        T=20,
        sample_steps=2,
        base_channels=8,
    )


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    from diffusion_path.diffusion.training import TrainConfig, train_images

    out = tmp_path_factory.mktemp("tiny")
    config = TrainConfig(steps=1, batch_size=4, warmup=0, checkpoint_every=1, log_every=1)
    return train_images(out, "digits", config, T=50, device="cpu", sample_every=10, progress=False)


@pytest.fixture(scope="module")
def quick_sample(tiny_checkpoint) -> dict:
    return bench.run("sample", checkpoint=tiny_checkpoint, num=6, steps=3)


def test_a_quick_train_run_gives_a_valid_result(quick_train):
    bench_train.validate(quick_train)
    ours, theirs = quick_train["rows"]
    assert (ours["network"], theirs["network"]) == ("ours", "diffusers")
    assert ours["parameters"] == theirs["parameters"]  # the mirror is exact at equal width
    for row in (ours, theirs):
        assert len(row["steps_per_s"]) == 2 and row["steps"] >= 2
        assert row["fd"] > 0 and row["forward_small"] > 0 and row["forward_large"] > 0
    assert quick_train["settings"]["quick"] is True
    assert quick_train["versions"]["diffusers"]
    json.dumps(quick_train, allow_nan=False)


def test_a_train_result_draws_its_table_and_figure(quick_train):
    text = bench.table(quick_train)
    assert text.startswith("| | ours: `UNet` | diffusers: `UNet2DModel` |")
    assert "A small run" in text and quick_train["machine"]["cpu"] in text
    assert "diffusers " + quick_train["versions"]["diffusers"] in text
    assert isinstance(bench.figure(quick_train), Figure)


def test_the_verdict_says_by_how_much_ours_is_slower(quick_train):
    fake = json.loads(json.dumps(quick_train))
    fake["rows"][0]["median_steps_per_s"], fake["rows"][1]["median_steps_per_s"] = 8.0, 10.0
    assert "20 % fewer steps per second" in bench_train.verdict(fake)
    fake["rows"][0]["median_steps_per_s"] = 12.0
    assert "1.20× as many steps per second" in bench_train.verdict(fake)


def test_a_quick_sample_run_agrees_where_configured_identically(quick_sample):
    bench_sample.validate(quick_sample)
    rows = {(r["sampler"], r["library"], r["setting"]): r for r in quick_sample["rows"]}
    assert rows[("ddpm", "diffusers", "identical")]["max_diff"] < 1e-4
    assert rows[("ddim", "diffusers", "identical")]["max_diff"] < 1e-5
    assert rows[("ddpm", "ours", "reference")]["steps"] == 50
    assert quick_sample["settings"]["ddpm_defaults_identical"] is True
    text = bench.table(quick_sample)
    assert "use_clipped_model_output=True" in text and "raw $\\hat\\varepsilon$" in text
    assert "A small run" in text and quick_sample["machine"]["cpu"] in text
    assert "the sampler's own work took" in text
    for row in quick_sample["rows"]:  # the network's time is part of the whole
        assert 0 < row["network_seconds"] <= row["seconds"]
    assert isinstance(bench.figure(quick_sample), Figure)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda r: r.update(rows=r["rows"][:1]), "rows"),
        (lambda r: r["rows"][0].update(fd=float("nan")), "finite"),
        (lambda r: r.pop("versions"), "versions"),
        (lambda r: r.update(machine="a laptop"), "machine"),
        (lambda r: r.update(benchmark="ddim"), "benchmark"),
    ],
)
def test_validate_refuses_malformed_results(quick_train, quick_sample, change, named):
    for module, result in ((bench_train, quick_train), (bench_sample, quick_sample)):
        broken = json.loads(json.dumps(result))
        change(broken)
        with pytest.raises(ValueError, match=named):
            module.validate(broken)
    with pytest.raises(ValueError, match="steps_per_s"):
        broken = json.loads(json.dumps(quick_train))
        broken["rows"][1]["steps_per_s"] = [1.0]
        bench_train.validate(broken)
    with pytest.raises(ValueError, match="max_diff"):
        broken = json.loads(json.dumps(quick_sample))
        broken["rows"][0]["max_diff"] = 0.1
        bench_sample.validate(broken)


# ----------------------------------------------------------------------------- bench project


def test_bench_project_times_a_command_in_a_subprocess(tmp_path):
    """A tiny fake command stands in for the suite: the suite is never run from inside itself."""
    fake = {
        "ok": ("a command that passes", ["{python}", "-c", "import time; time.sleep(0.2)"]),
        "bad": ("a command that fails", ["{python}", "-c", "raise SystemExit(3)"]),
    }
    result = bench.run("project", commands=fake, only=["ok", "bad"])
    bench_project.validate(result)
    ok, bad = result["rows"]
    assert ok["returncode"] == 0 and ok["seconds"] >= 0.2
    assert bad["returncode"] == 3
    assert ok["command"].startswith("python -c")
    text = bench.table(result)
    assert "passed" in text and "exit 3" in text
    assert isinstance(bench.figure(result), Figure)
    with pytest.raises(ValueError, match="only"):
        bench.run("project", commands=fake, only=["suite"])
    with pytest.raises(ValueError, match="rows"):
        bench_project.validate({**result, "rows": []})
    partial = bench.run("project", commands=fake, only=["ok"])
    assert "A partial run" in bench.table(partial)


def test_the_contributing_page_shows_the_project_timings():
    names = set(bench_project.COMMANDS)
    assert names == {"suite", "fast", "site"}
    text = (ROOT / "docs" / "contributing.md").read_text(encoding="utf-8")
    assert "<!-- bench: project -->" in text


# ----------------------------------------------------------------------------- the command, the extra


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["bench", "train", "--set", "rounds=0"], "rounds"),
        (["bench", "train", "--set", "rounds=two"], "rounds"),
        (["bench", "train", "--set", "colour=red"], "colour"),
        (["bench", "train", "--set", "tolerance=-1"], "tolerance"),
        (["bench", "train", "--set", "num=5000"], "num"),
        (["bench", "sample", "--num", "0"], "num"),
        (["bench", "sample", "--checkpoint", "/no/such/model.pt"], "checkpoint"),
        (["bench", "sample", "--set", "steps=0"], "steps"),
        (["bench", "project", "--set", "only=nothing"], "only"),
        (["bench", "pre-2/ais", "--set", "num=3"], "name"),
    ],
)
def test_bad_bench_options_are_one_line_and_exit_2(argv, named, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and named in err, err


@pytest.mark.parametrize("name", ["train", "sample"])
def test_without_diffusers_the_command_names_the_extra(name, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "diffusers", None)  # `import diffusers` now fails
    assert main(["bench", name, "--set", "seed=0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install -e ".[bench]"' in err, err


def test_nothing_but_the_two_benchmarks_imports_diffusers():
    """Import every module of the package in a fresh process: diffusers stays out of sys.modules."""
    code = (
        "import importlib, pkgutil, sys, diffusion_path\n"
        "names = [m.name for m in pkgutil.walk_packages(diffusion_path.__path__, 'diffusion_path.')]\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "assert len(names) > 20, names\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'diffusers'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]", done.stdout
    sources = ROOT / "src" / "diffusion_path"
    importers = sorted(
        path.relative_to(sources).as_posix()
        for path in sources.rglob("*.py")
        if "import diffusers" in path.read_text(encoding="utf-8")
        or "from diffusers" in path.read_text(encoding="utf-8")
    )
    assert importers and set(importers) <= {"bench/sample.py", "bench/train.py"}, importers


def test_diffusers_is_the_optional_bench_extra_and_part_of_dev():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert not any("diffusers" in d for d in project["dependencies"])
    extras = project["optional-dependencies"]
    assert [d for d in extras["bench"] if d.startswith("diffusers")]
    assert any("bench" in d and d.startswith("diffusion-path[") for d in extras["dev"])
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert 'pip install -e ".[dev]" && pytest' in readme
