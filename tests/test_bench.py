"""The benchmarks: the saved result the Core 6 page shows, a quick run of the code path, the command.

Speed is measured, never asserted: the quick run checks what a result holds, not how fast it came.
The saved result is checked against the page's claim, so a page can never say more than its
numbers do.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from diffusion_path import bench
from diffusion_path.bench import ddim as bench_ddim
from diffusion_path.cli import main

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "core" / "6-ddim.md"


# ----------------------------------------------------------------------------- the saved result


@pytest.fixture(scope="module")
def saved() -> dict:
    return bench.load("ddim", ROOT)


def test_the_saved_result_has_its_schema(saved):
    bench_ddim.validate(saved)
    assert saved["benchmark"] == "ddim"
    for key in ("cpu", "cores", "threads", "torch"):
        assert saved["machine"][key], key
    assert saved["date"][:2] == "20" and "T" in saved["date"]
    json.dumps(saved, allow_nan=False)


def test_the_saved_result_is_the_full_benchmark(saved):
    """The page's table is DDIM Table 1's shape at full size: every row with the same 1000 samples."""
    settings, model = saved["settings"], saved["model"]
    assert settings["num"] == 1000
    assert settings["steps"] == list(bench_ddim.STEPS)
    assert settings["etas"] == list(bench_ddim.ETAS)
    assert model["T"] == 1000 and model["data"] == "digits"
    assert len(saved["rows"]) == 1 + len(bench_ddim.STEPS) * len(bench_ddim.ETAS)
    floors = {row["floor"] for row in saved["rows"]}
    assert len(floors) == 1, "every row must be read against the floor of the same sample size"
    for row in saved["rows"]:
        assert row["fd"] > 0 and row["ms_per_image"] > 0
        assert row["ms_per_image"] == pytest.approx(1000 * row["seconds"] / 1000, rel=1e-3)


def test_the_saved_result_supports_the_pages_claim(saved):
    """DDIM (η = 0, 50 steps) within 10 % of DDPM-1000's digits FD, at 15 times less time or better."""
    verdict = bench_ddim.claim(saved)
    assert verdict["quality_gap"] <= bench_ddim.CLAIM["quality"], verdict
    assert verdict["speedup"] >= bench_ddim.CLAIM["speedup"], verdict
    assert verdict["holds"]
    text = PAGE.read_text(encoding="utf-8")
    assert "<!-- bench: ddim -->" in text
    assert "within 10 %" in text and "15×" in text


# ----------------------------------------------------------------------------- a quick run


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A digits model trained for two steps with T = 50: the code path, in seconds."""
    from diffusion_path.diffusion.training import TrainConfig, train_images

    out = tmp_path_factory.mktemp("tiny")
    config = TrainConfig(steps=2, batch_size=8, warmup=0, checkpoint_every=2, log_every=1)
    return train_images(out, "digits", config, T=50, device="cpu", sample_every=10, progress=False)


@pytest.fixture(scope="module")
def quick(tiny_checkpoint) -> dict:
    return bench.run("ddim", checkpoint=tiny_checkpoint, num=16, steps=(2, 5), etas=(0.0, 1.0))


def test_a_quick_run_gives_a_valid_result(quick):
    bench_ddim.validate(quick)
    assert quick["settings"]["num"] == 16 and quick["model"]["T"] == 50
    assert quick["model"]["trained_steps"] == 2
    samplers = sorted((r["sampler"], r["eta"], r["steps"]) for r in quick["rows"])
    assert samplers == [
        ("ddim", 0.0, 2),
        ("ddim", 0.0, 5),
        ("ddim", 1.0, 2),
        ("ddim", 1.0, 5),
        ("ddpm", 1.0, 50),
    ]
    assert all(r["fd"] > 0 and r["seconds"] > 0 for r in quick["rows"])
    assert set(bench.machine()) <= set(quick["machine"])


def test_a_result_draws_its_table_and_figure(quick, tmp_path):
    text = bench.table(quick)
    lines = text.splitlines()
    assert lines[0].startswith("| | $S = 2$ | $S = 5$ | DDPM, $T = 50$ |")
    assert sum(line.startswith("| digits FD, $\\eta") for line in lines) == 2
    assert "time per image" in text and quick["machine"]["cpu"] in text
    assert isinstance(bench.figure(quick), Figure)
    # saved and loaded back unchanged, under a repository root
    (tmp_path / "docs" / "_stored").mkdir(parents=True)
    path = bench.save(quick, tmp_path)
    assert path == tmp_path / "docs" / "_stored" / "bench" / "ddim.json"
    assert bench.load("ddim", tmp_path) == quick


def test_a_result_missing_a_row_is_refused(quick):
    broken = {**quick, "rows": quick["rows"][1:]}
    with pytest.raises(ValueError, match="rows"):
        bench_ddim.validate(broken)
    with pytest.raises(ValueError, match="machine"):
        bench_ddim.validate({**quick, "machine": "a laptop"})


def test_the_claim_reads_the_rows_it_names(quick):
    """The claim is computed from the rows by hand: FD ratio minus one and the ratio of times."""
    fake = json.loads(json.dumps(quick))
    fake["settings"]["steps"] = [50]
    fake["rows"] = [
        {**fake["rows"][0], "sampler": "ddpm", "eta": 1.0, "steps": 50, "fd": 8.0, "floor": 4.0},
        {**fake["rows"][0], "sampler": "ddim", "eta": 0.0, "steps": 50, "fd": 8.6, "floor": 4.0},
        {**fake["rows"][0], "sampler": "ddim", "eta": 1.0, "steps": 50, "fd": 9.0, "floor": 4.0},
    ]
    fake["rows"][0]["ms_per_image"], fake["rows"][1]["ms_per_image"] = 100.0, 5.0
    verdict = bench_ddim.claim(fake)
    assert verdict["quality_gap"] == pytest.approx(0.075)
    assert verdict["excess_gap"] == pytest.approx(4.6 / 4.0 - 1)
    assert verdict["speedup"] == pytest.approx(20.0)
    assert verdict["holds"]
    fake["rows"][1]["fd"] = 8.9
    assert not bench_ddim.claim(fake)["holds"]


# ----------------------------------------------------------------------------- the registry, the command


def test_the_registry_refuses_an_option_the_benchmark_does_not_take():
    with pytest.raises(ValueError, match="colour is not an option of benchmark 'ddim'"):
        bench.run("ddim", colour="red")
    with pytest.raises(ValueError, match="name must be one of ddim"):
        bench.get("nope")


def test_bench_list_names_the_benchmarks_and_the_tables(capsys):
    assert main(["bench", "--list"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ddim ") and "\npre-2/ais\n" in out


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["bench", "ddim", "--num", "0"], "num"),
        (["bench", "ddim", "--num", "2000"], "num"),
        (["bench", "ddim", "--checkpoint", "/no/such/model.pt"], "checkpoint"),
        (["bench", "pre-2/ais", "--save"], "name"),
        (["bench", "pre-2/ais", "--num", "10"], "name"),
        (["bench", "no-such-thing"], "name"),
    ],
)
def test_bad_bench_arguments_are_one_line_and_exit_2(argv, named, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and named in err, err


def test_save_outside_the_repository_is_refused_before_running(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "ddim", "--save", "--checkpoint", "/no/such/model.pt"]) == 2
    assert "root must be the repository's root" in capsys.readouterr().err


def test_bench_runs_a_benchmark_from_the_command_line(tiny_checkpoint, capsys):
    argv = ["bench", "ddim", "--checkpoint", str(tiny_checkpoint), "--num", "8"]
    # the default steps go beyond the tiny model's T = 50: refused, naming steps, in one line
    assert main(argv) == 2
    assert "steps must be at most the model's T = 50" in capsys.readouterr().err
