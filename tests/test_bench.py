"""The benchmarks: the saved result the Core 6 page shows, a quick run of the code path, the command.

Speed is measured, never asserted: the quick run checks what a result holds, not how fast it came.
The saved result is checked against the page's claim, so a page can never say more than its
numbers do.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from diffusion_path import bench
from diffusion_path.bench import ddim as bench_ddim
from diffusion_path.cli import main

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "core" / "6-ddim.md"


def _hook():
    """The site hook, imported as MkDocs imports it."""
    spec = importlib.util.spec_from_file_location("site_hook", ROOT / "docs" / "_hooks" / "site.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def test_the_saved_result_is_the_default_benchmark(saved):
    """The page's table is DDIM Table 1's shape with the defaults: every row with the same samples."""
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(bench_ddim.run).parameters.items()
    }
    settings, model = saved["settings"], saved["model"]
    assert settings["num"] == defaults["num"]
    assert settings["seed"] == defaults["seed"]
    assert settings["steps"] == list(bench_ddim.STEPS)
    assert settings["etas"] == list(bench_ddim.ETAS)
    assert model["T"] == 1000 and model["data"] == "digits"
    assert len(saved["rows"]) == 1 + len(bench_ddim.STEPS) * len(bench_ddim.ETAS)
    floors = {row["floor"] for row in saved["rows"]}
    assert len(floors) == 1, "every row must be read against the floor of the same sample size"
    for row in saved["rows"]:
        assert row["fd"] > 0 and row["ms_per_image"] > 0
        assert row["ms_per_image"] == pytest.approx(
            1000 * row["seconds"] / settings["num"], abs=1 / settings["num"]
        )


def test_the_page_shows_the_saved_numbers_with_machine_and_date(saved):
    section = _hook().bench_section("ddim", "core/6-ddim.md")
    assert section.startswith(bench.table(saved))
    assert saved["date"][:10] in section and saved["machine"]["cpu"] in section
    ddpm = next(row for row in saved["rows"] if row["sampler"] == "ddpm")
    assert f"{ddpm['fd']:.2f}" in section
    assert "](../figures/bench/ddim.png)" in section


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
    """A digits model trained for two steps with T = 100: the code path in seconds, with room for
    the default step counts (10 to 100)."""
    from diffusion_path.diffusion.training import TrainConfig, train_images

    out = tmp_path_factory.mktemp("tiny")
    config = TrainConfig(steps=2, batch_size=8, warmup=0, checkpoint_every=2, log_every=1)
    return train_images(out, "digits", config, T=100, device="cpu", sample_every=10, progress=False)


@pytest.fixture(scope="module")
def quick(tiny_checkpoint) -> dict:
    return bench.run("ddim", checkpoint=tiny_checkpoint, num=16, steps=(2, 5), etas=(0.0, 1.0))


def test_a_quick_run_gives_a_valid_result(quick):
    bench_ddim.validate(quick)
    assert quick["settings"]["num"] == 16 and quick["model"]["T"] == 100
    assert quick["model"]["trained_steps"] == 2 and quick["model"]["data"] == "digits"
    samplers = sorted((r["sampler"], r["eta"], r["steps"]) for r in quick["rows"])
    assert samplers == [
        ("ddim", 0.0, 2),
        ("ddim", 0.0, 5),
        ("ddim", 1.0, 2),
        ("ddim", 1.0, 5),
        ("ddpm", 1.0, 100),
    ]
    assert all(r["fd"] > 0 and r["seconds"] > 0 for r in quick["rows"])
    for row in quick["rows"]:
        # seconds are kept to the millisecond
        assert row["ms_per_image"] == pytest.approx(1000 * row["seconds"] / 16, abs=1 / 16)
    assert set(bench.machine()) <= set(quick["machine"])
    json.dumps(quick, allow_nan=False)


def test_a_quick_run_measures_what_the_metric_says(tiny_checkpoint, quick):
    """A row's FD is the digits FD of the samples drawn as the row says: redrawn here with the
    library's samplers from the same noise, and measured again."""
    import torch

    from diffusion_path.diffusion.ddim import ddim_sample
    from diffusion_path.diffusion.training import load_model
    from diffusion_path.tools.metrics import digits_fd

    model, schedule, _ = load_model(tiny_checkpoint)
    x_T = torch.randn((16, 1, 8, 8), generator=torch.Generator().manual_seed(0))
    samples = ddim_sample(
        model,
        (16, 1, 8, 8),
        schedule,
        num_steps=5,
        eta=0.0,
        clip_x0=True,
        generator=torch.Generator().manual_seed(1),
        x_T=x_T,
    )
    row = next(
        r for r in quick["rows"] if r["sampler"] == "ddim" and r["eta"] == 0.0 and r["steps"] == 5
    )
    measured = digits_fd(samples.clamp(-1, 1))
    assert row["fd"] == pytest.approx(measured.fd, abs=1e-3)
    assert row["floor"] == pytest.approx(measured.floor, abs=1e-3)


def test_a_result_draws_its_table_and_figure(quick, tmp_path):
    text = bench.table(quick)
    lines = text.splitlines()
    assert lines[0].startswith("| | $S = 2$ | $S = 5$ | DDPM, $T = 100$ |")
    assert sum(line.startswith("| digits FD, $\\eta") for line in lines) == 2
    assert "time per image" in text and quick["machine"]["cpu"] in text
    assert quick["date"][:10] in text
    assert isinstance(bench.figure(quick), Figure)
    # saved and loaded back unchanged, under a repository root
    (tmp_path / "docs" / "_stored").mkdir(parents=True)
    path = bench.save(quick, tmp_path)
    assert path == tmp_path / "docs" / "_stored" / "bench" / "ddim.json"
    assert bench.load("ddim", tmp_path) == quick


def _fake(quick: dict, rows: list[tuple]) -> dict:
    """A result with hand-made rows (sampler, eta, steps, fd, ms per image), floor 4 and T = 50."""
    fake = json.loads(json.dumps(quick))
    fake["model"]["T"] = 50
    fake["settings"]["steps"] = sorted({r[2] for r in rows if r[0] == "ddim"})
    fake["settings"]["etas"] = sorted({r[1] for r in rows if r[0] == "ddim"})
    fake["settings"]["num"] = 100
    fake["machine"]["load"] = 0.5
    fake["rows"] = [
        {
            "sampler": sampler,
            "eta": eta,
            "steps": steps,
            "fd": fd,
            "floor": 4.0,
            "seconds": ms / 10,
            "ms_per_image": ms,
        }
        for sampler, eta, steps, fd, ms in rows
    ]
    return fake


def test_the_table_holds_the_rows_numbers(quick):
    """Every cell of the table is the number of its row, by hand: FD to two decimals, the time row the
    mean over eta of the milliseconds per image."""
    fake = _fake(
        quick,
        [
            ("ddpm", 1.0, 50, 8.0, 100.0),
            ("ddim", 0.0, 10, 9.125, 2.0),
            ("ddim", 0.0, 50, 8.5, 5.0),
            ("ddim", 1.0, 10, 30.0, 4.0),
            ("ddim", 1.0, 50, 11.0, 7.0),
        ],
    )
    lines = bench.table(fake).splitlines()
    assert lines[0] == "| | $S = 10$ | $S = 50$ | DDPM, $T = 50$ |"
    assert lines[2] == "| digits FD, $\\eta = 0$ | 9.12 | 8.50 | — |"
    assert lines[3] == "| digits FD, $\\eta = 1$ | 30.00 | 11.00 | 8.00 |"
    assert lines[4] == "| time per image | 3 ms | 6 ms | 100 ms |"
    text = "\n".join(lines)
    assert "100 real digits score 4.00" in text
    assert "digits FD 8.50 against DDPM's 8.00, 6 % above it (+12 % in FD − floor)" in text
    assert "in 20× less time per image" in text and "the claim holds" in text
    assert "busy machine" not in text
    fake["machine"].update(cores=2, load=8.5)
    assert "(load average 8.5 when it started: the times of a busy machine)" in bench.table(fake)
    # the figure draws the same rows: FD and time against the steps, one line per eta
    quality, speed = bench.figure(fake).axes
    drawn = {line.get_label(): list(line.get_ydata()) for line in quality.lines}
    assert drawn["DDIM, η = 0"] == [9.125, 8.5] and drawn["DDIM, η = 1"] == [30.0, 11.0]
    assert [list(line.get_ydata()) for line in speed.lines[:2]] == [[2.0, 5.0], [4.0, 7.0]]
    assert [8.0] in [list(line.get_ydata()) for line in quality.lines]


def test_a_malformed_result_is_refused(quick):
    def refused(broken: dict, field: str) -> None:
        with pytest.raises(ValueError, match=field):
            bench_ddim.validate(broken)

    refused({**quick, "rows": quick["rows"][1:]}, "rows")
    refused({**quick, "machine": "a laptop"}, "machine")
    refused({**quick, "benchmark": "recipe"}, "benchmark")
    refused({key: value for key, value in quick.items() if key != "date"}, "date")
    refused({**quick, "settings": {"num": 16}}, "settings")
    refused({**quick, "model": {"T": 100}}, "model")
    for field, value in (
        ("fd", float("nan")),
        ("seconds", -1.0),
        ("steps", "5"),
        ("sampler", "pndm"),
    ):
        rows = json.loads(json.dumps(quick["rows"]))
        rows[1][field] = value
        refused({**quick, "rows": rows}, "row")
    rows = json.loads(json.dumps(quick["rows"]))
    del rows[2]["ms_per_image"]
    refused({**quick, "rows": rows}, "ms_per_image")
    with pytest.raises(ValueError, match="result must be a result"):
        bench_ddim.validate([])
    with pytest.raises(ValueError, match="result must be a result"):
        bench.save({**quick, "rows": []}, ROOT)


def test_the_claim_reads_the_rows_it_names(quick):
    """The claim is computed from the rows by hand: FD ratio minus one and the ratio of times."""
    fake = _fake(
        quick,
        [
            ("ddpm", 1.0, 50, 8.0, 100.0),
            ("ddim", 0.0, 50, 8.6, 5.0),
            ("ddim", 1.0, 50, 9.0, 5.0),
        ],
    )
    verdict = bench_ddim.claim(fake)
    assert verdict["quality_gap"] == pytest.approx(0.075)
    assert verdict["excess_gap"] == pytest.approx(4.6 / 4.0 - 1)
    assert verdict["speedup"] == pytest.approx(20.0)
    assert verdict["holds"]
    fake["rows"][1]["fd"] = 8.9  # 11 % above DDPM's
    assert not bench_ddim.claim(fake)["holds"]
    assert "the claim does not hold" in bench.table(fake)
    fake["rows"][1]["fd"], fake["rows"][1]["ms_per_image"] = 8.6, 10.0  # 10x only
    assert not bench_ddim.claim(fake)["holds"]
    # both below the floor (real digits' own scatter allows it): no excess to compare
    fake["rows"][0]["fd"], fake["rows"][1]["fd"], fake["rows"][1]["ms_per_image"] = 3.8, 3.5, 5.0
    verdict = bench_ddim.claim(fake)
    assert verdict["excess_gap"] is None and verdict["holds"]
    assert verdict["quality_gap"] == pytest.approx(3.5 / 3.8 - 1)
    assert "8 % below it (DDPM's FD at or below the floor" in bench.table(fake)


# ----------------------------------------------------------------------------- the page's hook


def test_the_page_hook_renders_a_saved_result_or_says_it_is_not_measured(
    quick, tmp_path, monkeypatch
):
    hook = _hook()
    (tmp_path / "docs" / "_stored").mkdir(parents=True)
    monkeypatch.setattr(hook, "DOCS", tmp_path / "docs")
    missing = hook.bench_section("ddim", "core/6-ddim.md")
    assert "Not yet measured" in missing and "diffusion-path bench ddim --save" in missing
    bench.save(quick, tmp_path)
    section = hook.bench_section("ddim", "core/6-ddim.md")
    assert section.startswith(bench.table(quick))
    assert (
        "![The ddim benchmark, drawn from its saved result](../figures/bench/ddim.png)" in section
    )
    assert hook._bench_figure("ddim")[:8] == b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------------------- the registry, the command


def test_the_registry_refuses_an_option_the_benchmark_does_not_take():
    with pytest.raises(ValueError, match="colour is not an option of benchmark 'ddim'"):
        bench.run("ddim", colour="red")
    with pytest.raises(ValueError, match="name must be one of ddim"):
        bench.get("nope")


def test_the_benchmark_refuses_bad_options_before_any_work(tiny_checkpoint):
    for options, named in (
        ({"num": 1}, "num"),
        ({"steps": (0,)}, "steps"),
        ({"steps": ()}, "steps"),
        ({"etas": (-0.5,)}, "etas"),
        ({"batch_size": 0}, "batch_size"),
        ({"seed": -1}, "seed"),
        (
            {"checkpoint": tiny_checkpoint, "steps": (200,)},
            "steps must be at most the model's T = 100",
        ),
    ):
        with pytest.raises(ValueError, match=named):
            bench_ddim.run(**options)


def test_the_default_run_trains_once_into_its_folder_then_reuses_it(
    tiny_checkpoint, tmp_path, monkeypatch
):
    """With no checkpoint the benchmark trains with the defaults of `diffusion-path train` (here a
    stand-in that copies the tiny model), once: the second run finds the model and trains nothing."""
    import shutil

    from diffusion_path.diffusion import training

    calls = []

    def train_images(out, data, config, **options):
        calls.append((Path(out), data, config))
        Path(out).mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy(tiny_checkpoint, Path(out) / "model.pt"))

    monkeypatch.setattr(training, "train_images", train_images)
    said = []
    options = {
        "num": 4,
        "steps": (2,),
        "etas": (0.0,),
        "work": tmp_path / "work",
        "echo": said.append,
    }
    first = bench_ddim.run(**options)
    assert calls == [(tmp_path / "work", "digits", None)]
    assert any("training a digits model" in line for line in said)
    second = bench_ddim.run(**options)
    assert len(calls) == 1
    assert first["model"]["source"] == second["model"]["source"]
    assert [r["fd"] for r in first["rows"]] == [r["fd"] for r in second["rows"]]
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    work = bench_ddim.default_work()
    assert work.parent == tmp_path / "cache" / "diffusion-path" / "bench-ddim"
    assert len(work.name) == 12 and int(work.name, 16) >= 0  # one folder per training code


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


def test_bench_runs_and_saves_from_the_command_line(tiny_checkpoint, tmp_path, monkeypatch, capsys):
    """The default step counts and etas, 8 samples each, saved under a repository root that the
    page's hook then renders."""
    (tmp_path / "docs" / "_stored").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    argv = ["bench", "ddim", "--checkpoint", str(tiny_checkpoint), "--num", "8", "--save"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "## ddim" in out and "| digits FD, $\\eta = 0.5$ |" in out
    assert "wrote docs/_stored/bench/ddim.json" in out
    saved = bench.load("ddim", tmp_path)
    assert saved["settings"]["steps"] == list(bench_ddim.STEPS)
    assert saved["settings"]["etas"] == list(bench_ddim.ETAS)
    assert len(saved["rows"]) == 13 and saved["settings"]["num"] == 8
