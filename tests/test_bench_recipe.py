"""Benchmark ``recipe``: a tiny run of its code path, what it writes where, and what its result says.

The real measurement (``diffusion-path bench recipe --save``: the defaults of ``diffusion-path
train``, minutes of CPU) is not run here; a tiny U-Net trained for a few steps on a short chain
goes through the same code.
"""

from __future__ import annotations

import copy
import json

import pytest
from matplotlib.figure import Figure

from diffusion_path import bench
from diffusion_path.bench import ddim as bench_ddim
from diffusion_path.bench import recipe
from diffusion_path.cli import main
from diffusion_path.diffusion.training import TrainConfig
from diffusion_path.diffusion.unet import UNetConfig

TINY = UNetConfig(base_channels=8, channel_mults=(1,), attention_resolutions=(), dropout=0.0)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("recipe")


@pytest.fixture(scope="module")
def quick(work) -> dict:
    config = TrainConfig(steps=4, batch_size=8, warmup=0, checkpoint_every=4, log_every=1)
    return bench.run(
        "recipe", work=work, config=config, unet=TINY, T=20, num=16, sample_steps=5, batch_size=10
    )


def test_a_quick_run_gives_a_valid_result(quick):
    recipe.validate(quick)
    assert quick["benchmark"] == "recipe" and set(bench.machine()) <= set(quick["machine"])
    assert quick["settings"]["steps"] == 4 and quick["settings"]["T"] == 20
    assert quick["settings"]["num"] == 16 and quick["settings"]["sample_steps"] == 5
    assert quick["model"]["trained_steps"] == 4 and len(quick["losses"]) == 4
    row = quick["rows"][0]
    assert row["train_seconds"] > 0 and row["sample_seconds"] > 0
    # both rounded for the file: the training time to 10 ms
    assert row["steps_per_second"] == pytest.approx(4 / row["train_seconds"], rel=0.1)
    assert row["ratio"] == pytest.approx(row["fd"] / row["floor"], rel=1e-3)
    json.dumps(quick, allow_nan=False)


def test_the_model_is_left_where_bench_ddim_looks_for_it(quick, work, monkeypatch):
    assert (work / "model.pt").is_file() and (work / "checkpoint.pt").is_file()

    def no_training(*args, **kwargs):
        raise AssertionError("bench ddim trained a model although one was there")

    monkeypatch.setattr("diffusion_path.diffusion.training.train_images", no_training)
    model, schedule, info = bench_ddim._model(None, work, lambda line: None)
    assert schedule.T == 20 and info["step"] == 4 and model.config.base_channels == 8


def test_the_default_folder_is_bench_ddims(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    seen = []

    def record(out, *args, **kwargs):
        seen.append(out)
        raise KeyboardInterrupt  # stop before any training

    monkeypatch.setattr("diffusion_path.diffusion.training.train_images", record)
    with pytest.raises(KeyboardInterrupt):
        recipe.run(num=10)
    assert seen == [bench_ddim.default_work()]
    assert str(seen[0]).startswith(str(tmp_path))


def test_a_result_draws_its_table_and_figure(quick):
    text = bench.table(quick)
    assert text.startswith("| training | steps/s |")
    row = quick["rows"][0]
    assert f"{row['fd']:.2f}" in text and f"{row['floor']:.2f}" in text
    assert "`diffusion-path bench recipe`" in text and quick["machine"]["cpu"] in text
    assert isinstance(bench.figure(quick), Figure)


def test_the_claim_reads_the_time_and_the_ratio(quick):
    result = copy.deepcopy(quick)
    result["rows"][0].update(train_seconds=240.0, ratio=1.9)
    assert recipe.claim(result) == {"minutes": 4.0, "ratio": 1.9, "holds": True}
    result["rows"][0].update(train_seconds=301.0)
    assert not recipe.claim(result)["holds"]
    result["rows"][0].update(train_seconds=240.0, ratio=2.1)
    assert not recipe.claim(result)["holds"]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda r: r.pop("losses"), "'losses' must be a list"),
        (lambda r: r["rows"].append(dict(r["rows"][0])), "'rows' must hold one row"),
        (lambda r: r["rows"][0].update(fd=float("nan")), "'fd' must be a finite number"),
        (lambda r: r["settings"].pop("sample_steps"), "'settings' lacks 'sample_steps'"),
        (lambda r: r.update(benchmark="ddim"), "'benchmark' is 'ddim'"),
    ],
)
def test_a_broken_result_is_refused(quick, change, says):
    result = copy.deepcopy(quick)
    change(result)
    with pytest.raises(ValueError, match=says):
        recipe.validate(result)


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"num": 1}, "num must be between 2 and 1258"),
        ({"num": 2000}, "num must be between 2 and 1258"),
        ({"sample_steps": 0}, "sample_steps must be a positive integer"),
        ({"sample_steps": 30, "T": 20}, "sample_steps must be at most T = 20"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
    ],
)
def test_bad_options_are_refused_before_training(options, says, monkeypatch):
    monkeypatch.setattr(
        "diffusion_path.diffusion.training.train_images",
        lambda *a, **k: pytest.fail("trained despite a bad option"),
    )
    with pytest.raises(ValueError, match=says):
        recipe.run(**options)


def test_the_command_line_names_what_the_benchmark_does_not_take(capsys):
    assert main(["bench", "recipe", "--checkpoint", "model.pt"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "checkpoint is not an option of benchmark 'recipe'" in err


def test_bench_list_names_the_recipe(capsys):
    assert main(["bench", "--list"]) == 0
    assert "recipe" in capsys.readouterr().out
