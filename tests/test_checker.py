"""The checker as a learner meets it: ``diffusion-path check`` never lies, never hangs, says what is wrong.

Each test runs the real command in a subprocess on a learner's file: the generated stub with the
solutions written in, and then broken on purpose.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from diffusion_path.exercises import exercises, stub_source
from diffusion_path.tasks import get_task

TASK = get_task("pre-1")
LIMIT = 6  # seconds per function in the tests that time out


def solved(task=TASK, unsolved: tuple[str, ...] = ()) -> str:
    """The stub of ``task`` with every solution but those of ``unsolved`` written where its TODO stands."""
    source = stub_source(task)
    for exercise in exercises(task):
        if exercise.function in unsolved:
            continue
        todo = f"{exercise.indent}# TODO: {exercise.todo.splitlines()[0]}"
        start = source.index(todo)
        end = source.index("raise NotImplementedError", start) + len("raise NotImplementedError")
        body = "\n".join(
            exercise.indent + line if line.strip() else ""
            for line in exercise.solution.splitlines()
        )
        source = source[:start] + body.rstrip() + source[end:]
    return source


def with_first_line(source: str, function: str, line: str) -> str:
    """``source`` with ``line`` inserted as the first statement after ``function``'s input checks."""
    exercise = next(e for e in exercises(TASK) if e.function == function)
    first = next(text for text in exercise.solution.splitlines() if text.strip())
    anchor = f"{exercise.indent}{first}"
    at = source.index(anchor, source.index(f"def {function}("))
    return source[:at] + f"{exercise.indent}{line}\n" + source[at:]


def cli(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "diffusion_path", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        timeout=timeout,
    )


def lines_of(result: subprocess.CompletedProcess, function: str) -> list[str]:
    """The verdict line of ``function`` and its why/hint lines."""
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if f" {function} " in line)
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith("      "):
            break
        block.append(line)
    return block


@pytest.fixture
def work(tmp_path) -> Path:
    return tmp_path


def test_every_way_out_is_a_verdict_and_the_others_are_graded(work):
    """sys.exit, exit(), os._exit, KeyboardInterrupt and an endless loop each fail one function."""
    source = solved()
    source = with_first_line(source, "gaussian_pdf", "import sys; sys.exit(0)")
    source = with_first_line(source, "gaussian_affine", "exit()")
    source = with_first_line(source, "gaussian_sum", "import os; os._exit(0)")
    source = with_first_line(source, "kl_gaussians", "raise KeyboardInterrupt")
    source = with_first_line(source, "sample_gaussian", "while True: pass")
    (work / TASK.exercise_file).write_text(source)
    start = time.monotonic()
    result = cli("check", TASK.id, "--impl", str(work), "--timeout", str(LIMIT))
    elapsed = time.monotonic() - start
    assert result.returncode == 1, result.stdout + result.stderr
    assert elapsed < LIMIT + 30 + 15, f"took {elapsed:.0f} s"
    expected = {
        "gaussian_pdf": "called sys.exit(0)",
        "gaussian_affine": "called sys.exit(None)",
        "gaussian_sum": "the Python process ended with exit code 0",
        "kl_gaussians": "raised KeyboardInterrupt",
        "sample_gaussian": f"stopped after {LIMIT} s without finishing, stuck at pre_1.py:",
    }
    for function, reason in expected.items():
        block = lines_of(result, function)
        assert "✘" in block[0], block
        assert reason in block[1], block
    assert "while True: pass" in lines_of(result, "sample_gaussian")[1]
    for function in ("mvn_log_pdf", "mvn_pdf", "sample_mvn", "kl_monte_carlo"):
        assert "✔" in lines_of(result, function)[0], result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_functions_that_call_a_hung_one_are_not_run_again(work):
    """mvn_pdf and kl_monte_carlo call mvn_log_pdf, which never returns: one wait, not three."""
    (work / TASK.exercise_file).write_text(
        with_first_line(solved(), "mvn_log_pdf", "while True: pass")
    )
    start = time.monotonic()
    result = cli("check", TASK.id, "--impl", str(work), "--timeout", str(LIMIT))
    elapsed = time.monotonic() - start
    assert "stopped after" in lines_of(result, "mvn_log_pdf")[1], result.stdout
    for function in ("mvn_pdf", "kl_monte_carlo"):
        block = lines_of(result, function)
        assert "depends on mvn_log_pdf, which did not finish: not run" in block[1], block
    assert elapsed < 2 * LIMIT + 45, f"took {elapsed:.0f} s: a dependent waited again"


def test_replacing_a_library_function_is_caught_and_undone(work):
    """A file that swaps numpy.allclose for a yes-man fails, and the functions after it are judged truly."""
    from diffusion_path.check import grade, load_implementation

    source = with_first_line(
        solved(), "gaussian_pdf", "import numpy; numpy.allclose = lambda *a, **k: True"
    )
    (work / TASK.exercise_file).write_text(source)
    impl = load_implementation(TASK, work / TASK.exercise_file)
    verdicts = {r.function: r for r in grade(TASK, impl)}
    assert verdicts["gaussian_pdf"].check == "leaves_the_libraries_alone"
    assert "replaced numpy.allclose" in verdicts["gaussian_pdf"].reason
    assert all(r.status == "passed" for f, r in verdicts.items() if f != "gaussian_pdf"), verdicts
    import numpy

    assert numpy.allclose(0.0, 1.0) is False  # put back

    (work / TASK.exercise_file).write_text(
        solved() + "\nimport torch\n\ntorch.allclose = lambda *a, **k: True\n"
    )
    result = cli("check", TASK.id, "--impl", str(work))
    assert result.returncode != 0
    assert "replaces torch.allclose when imported" in result.stdout + result.stderr


def test_a_class_waiting_for_another_unwritten_class_is_told_which(work):
    """UNet calls ResidualBlock.forward: the verdict names the class, not its method."""
    from diffusion_path.check import grade, load_implementation

    task = get_task("core-3")
    (work / task.exercise_file).write_text(solved(task, unsolved=("ResidualBlock",)))
    impl = load_implementation(task, work / task.exercise_file)
    verdicts = {r.function: r for r in grade(task, impl, functions=["ResidualBlock", "UNet"])}
    assert verdicts["ResidualBlock"].status == "not implemented", verdicts["ResidualBlock"]
    assert verdicts["UNet"].reason == "waits for ResidualBlock, which is not implemented yet"


def test_a_failure_that_follows_a_failing_dependency_shows_no_hint_of_its_own(work):
    """simple_loss draws the noise twice: training_step fails with it, and names it, not its own part."""
    from diffusion_path.check import grade, load_implementation

    task = get_task("core-5")
    source = solved(task)
    right = "x_t = q_sample(x0, t, schedule, noise=eps)"
    assert source.count(right) == 1
    (work / task.exercise_file).write_text(
        source.replace(right, "x_t = q_sample(x0, t, schedule, generator=generator)")
    )
    impl = load_implementation(task, work / task.exercise_file)
    verdicts = {
        r.function: r for r in grade(task, impl, functions=["simple_loss", "training_step"])
    }
    assert verdicts["simple_loss"].status == "failed" and verdicts["simple_loss"].hint
    step = verdicts["training_step"]
    assert step.status == "failed", step
    assert step.reason.startswith("depends on simple_loss, which fails: fix it first"), step
    assert step.hint == "", step


def test_a_crash_gets_the_errors_message_not_the_sub_checks_description(work):
    """A ValueError raised by the learner's code: the hint is about the error, not about return types."""
    from diffusion_path.check import grade, load_implementation

    task = get_task("core-5")
    source = solved(task)
    right = "clip_x0=True, generator=generator,"
    assert source.count(right) == 1
    (work / task.exercise_file).write_text(source.replace(right, "clip_x0=True, generator=None,"))
    impl = load_implementation(task, work / task.exercise_file)
    (verdict,) = grade(task, impl, functions=["sample_images"])
    assert verdict.status == "failed", verdict
    assert "raised ValueError: generator" in verdict.reason, verdict
    assert verdict.hint.startswith("Your code raised ValueError: read its message"), verdict
    description = next(
        c.description
        for c in load_contract_checks(task, "sample_images")
        if c.name == verdict.check
    )
    assert description.rstrip(".") not in verdict.hint, verdict


def load_contract_checks(task, function: str) -> list:
    from diffusion_path.check import load_contract
    from diffusion_path.tasks import reference_namespace

    return load_contract(task).all_checks(function, reference_namespace(task))


def test_a_file_that_exits_or_fails_at_import_is_named_with_its_line(work):
    (work / TASK.exercise_file).write_text("import sys\n\nsys.exit(0)\n")
    result = cli("check", TASK.id, "--impl", str(work))
    assert result.returncode == 1
    assert "line 3" in result.stdout and "sys.exit(0)" in result.stdout, result.stdout
    (work / TASK.exercise_file).write_text("x = 1\n\nraise ValueError('boom')\n")
    result = cli("check", TASK.id, "--impl", str(work))
    assert result.returncode == 1, "a ValueError at import is the file's problem, not a usage error"
    assert "line 3" in result.stdout and "ValueError: boom" in result.stdout, result.stdout


def test_a_syntax_error_is_at_most_five_lines_naming_file_and_line(work):
    (work / TASK.exercise_file).write_text("def gaussian_pdf(x):\n    return x +\n")
    result = cli("check", TASK.id, "--impl", str(work))
    assert result.returncode == 1
    problem = [line for line in result.stdout.splitlines() if line.strip()][1:]
    assert len(problem) <= 5, result.stdout
    assert f"{TASK.exercise_file}, line 2" in result.stdout and "return x +" in result.stdout
    assert "SyntaxError" in result.stdout and "Traceback" not in result.stdout + result.stderr


def test_another_tasks_file_is_called_what_it_is(work):
    (work / "pre_2.py").write_text(solved())
    result = cli("check", "pre-2", "--impl", str(work / "pre_2.py"))
    assert result.returncode == 1
    assert "defines none of pre-2's functions" in result.stdout
    assert "looks like pre-1's file" in result.stdout, result.stdout


def test_only_json_and_results_kept_for_progress(work):
    source = with_first_line(solved(), "sample_mvn", "cov = cov * 2")
    (work / TASK.exercise_file).write_text(source)
    result = cli(
        "check", TASK.id, "--impl", str(work), "--json", "--only", "sample_mvn", "--only", "mvn_pdf"
    )
    report = json.loads(result.stdout)
    assert result.returncode == 1
    assert [f["function"] for f in report["functions"]] == ["sample_mvn", "mvn_pdf"]
    failed = report["functions"][0]
    assert failed["status"] == "failed" and failed["check"] and failed["hint"] and failed["reason"]
    assert set(failed) >= {
        "function",
        "status",
        "passed_checks",
        "total_checks",
        "check",
        "reason",
        "hint",
        "duration",
        "output",
    }
    progress = cli("progress", "--impl", str(work))
    assert progress.returncode == 0
    row = next(line for line in progress.stdout.splitlines() if line.strip().startswith(TASK.id))
    assert "failing" in row and "1/9 functions" in row, "two of nine checked: not a pass"
    assert "no pre_2.py" in progress.stdout
    (work / TASK.exercise_file).write_text(source + "\n# edited\n")
    assert "changed since" in cli("progress", "--impl", str(work)).stdout
    (work / TASK.exercise_file).write_text("def broken(:\n")
    cli("check", TASK.id, "--impl", str(work))
    assert "does not import" in cli("progress", "--impl", str(work)).stdout


def test_hint_levels_end_with_the_code():
    first = cli("hint", "core-2", "ddpm_step")
    assert first.returncode == 0 and "hint 1 of 3" in first.stdout
    assert "predict_x0_from_eps(" not in first.stdout, "the first level gives no code"
    last = cli("hint", "core-2", "ddpm_step", "--level", "3")
    assert (
        last.returncode == 0
        and "predict_x0_from_eps(x_t, t, model_output, schedule)" in last.stdout
    )
    wrong = cli("hint", "core-2", "ddpm_step", "--level", "9")
    assert wrong.returncode == 2 and len(wrong.stderr.strip().splitlines()) == 1


def test_output_is_safe_with_a_closed_pipe(work):
    (work / TASK.exercise_file).write_text(solved())
    result = subprocess.run(
        f"{sys.executable} -m diffusion_path check {TASK.id} --impl {work} | head -n 1",
        shell=True,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stdout.startswith(TASK.id)
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr


def _read_until(process: subprocess.Popen, needle: str, limit: float = 120) -> str:
    seen = ""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen += line
        if needle in line:
            return seen
    raise AssertionError(f"{needle!r} never came; got:\n{seen}")


def test_watch_rechecks_on_save_failing_first_and_ctrl_c_exits_130(work):
    path = work / TASK.exercise_file
    path.write_text(with_first_line(solved(), "kl_gaussians", "mean_p = mean_p + 1"))
    process = subprocess.Popen(
        [sys.executable, "-m", "diffusion_path", "check", TASK.id, "--impl", str(work), "--watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        first = _read_until(process, "watching")
        assert "✘ kl_gaussians" in first
        time.sleep(0.05)
        path.write_text(solved())
        second = _read_until(process, "watching")
        verdicts = [
            line for line in second.splitlines() if line.startswith("  ✔") or line.startswith("  ✘")
        ]
        assert verdicts[0].split()[1] == "kl_gaussians", "the function that failed is checked first"
        assert "9 of 9 functions pass" in second
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=30) == 130
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()


def test_ctrl_c_keeps_the_verdicts_so_far_and_exits_130(work):
    (work / TASK.exercise_file).write_text(with_first_line(solved(), "mvn_pdf", "while True: pass"))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "diffusion_path",
            "check",
            TASK.id,
            "--impl",
            str(work),
            "--timeout",
            "60",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        seen = _read_until(process, "mvn_log_pdf")
        time.sleep(0.5)
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=30) == 130
        rest = process.stdout.read()
        assert "✔ gaussian_pdf" in seen and "interrupted" in rest, seen + rest
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()


def test_figures_are_drawn_with_the_learners_functions(work):
    core = get_task("core-1")
    (work / core.exercise_file).write_text(solved(core))
    result = cli(
        "figures", core.id, "--impl", str(work), "--out", str(work / "out"), "--quick", timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert f"drawing {core.id}/progressive-noising with your functions" in result.stdout
    written = sorted(p.name for p in (work / "out" / core.id).glob("*.png"))
    assert "progressive-noising.png" in written and "chain-vs-closed-form.png" in written
