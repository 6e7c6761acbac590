"""Exercise stubs: they match the reference, start out unimplemented, and the checker grades them."""

from __future__ import annotations

import ast
import inspect
import re
import shutil
import subprocess
import sys

import pytest

from diffusion_path.check import load_contract, load_implementation, run_checks
from diffusion_path.exercises import stub_source, write_stubs
from diffusion_path.tasks import TASKS

READY = [task for task in TASKS if task.ready]
PLANNED = [task for task in TASKS if not task.ready]


def _functions(source: str) -> dict[str, ast.FunctionDef | ast.ClassDef]:
    """Public top-level functions and classes (a class such as NoiseSchedule is part of a task too)."""
    return {
        node.name: node
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_")
    }


def _signature(node: ast.FunctionDef | ast.ClassDef) -> str:
    """The arguments of a function, or of a class's ``__init__``."""
    if isinstance(node, ast.ClassDef):
        inits = [n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"]
        return ast.dump(inits[0].args) if inits else ""
    return ast.dump(node.args)


@pytest.mark.parametrize("task", READY, ids=lambda task: task.id)
def test_stub_has_reference_signatures_and_docstrings(task):
    reference = load_implementation(task)
    stub = _functions(stub_source(task))
    assert sorted(stub) == sorted(reference.__all__)
    for name, node in stub.items():
        ref = getattr(reference, name)
        ref_node = _functions(inspect.getsource(ref))[name]
        assert _signature(node) == _signature(ref_node), f"{name}: signature differs"
        assert ast.get_docstring(node) == inspect.getdoc(ref), f"{name}: docstring differs"


@pytest.mark.parametrize("task", READY, ids=lambda task: task.id)
def test_fresh_stubs_are_all_not_implemented(task, tmp_path):
    write_stubs(tmp_path, [task])
    report = run_checks(task, tmp_path)
    assert not report.passed
    assert {r.status for r in report.results} == {"not implemented"}
    assert [r.function for r in report.results] == load_contract(task).functions


@pytest.mark.parametrize(
    "task", [t for t in READY if len(t.modules) == 1], ids=lambda task: task.id
)
def test_copy_of_reference_passes(task, tmp_path):
    """A learner who writes exactly the reference code passes every check."""
    shutil.copy(inspect.getsourcefile(load_implementation(task)), tmp_path / task.exercise_file)
    assert run_checks(task, tmp_path).passed


def test_init_never_overwrites(tmp_path):
    task = READY[0]
    mine = tmp_path / task.exercise_file
    mine.write_text("# my work\n")
    written, kept = write_stubs(tmp_path, [task])
    assert written == [] and kept == [mine]
    assert mine.read_text() == "# my work\n"


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "diffusion_path", *args], capture_output=True, text=True, check=False
    )


def test_cli_on_stubs_lists_every_function_and_exits_1(tmp_path):
    result = _cli("exercises", "init", str(tmp_path))
    assert result.returncode == 0, result.stderr
    result = _cli("check", "pre-1", "--impl", str(tmp_path))
    assert result.returncode == 1
    for function in load_contract(READY[0]).functions:
        assert re.search(rf"○ {function}\s+not implemented", result.stdout), result.stdout


def test_cli_names_the_buggy_function_and_its_hint(tmp_path):
    """One deliberate bug (sigma squared in the normaliser) fails exactly that function."""
    task = READY[0]
    source = inspect.getsource(load_implementation(task))
    buggy = source.replace(
        "(sigma * math.sqrt(2.0 * math.pi))", "(sigma**2 * math.sqrt(2.0 * math.pi))"
    )
    assert buggy != source
    (tmp_path / task.exercise_file).write_text(buggy)
    result = _cli("check", "pre-1", "--impl", str(tmp_path))
    assert result.returncode == 1
    assert re.search(r"✘ gaussian_pdf\s+failed", result.stdout), result.stdout
    hint = next(c.hint for c in load_contract(task).checks if c.function == "gaussian_pdf")
    assert f"hint: {hint}" in result.stdout
    assert result.stdout.count("✘") == 1, "only the buggy function should fail"


def test_cli_on_reference_exits_0():
    result = _cli("check", "pre-1")
    assert result.returncode == 0, result.stdout + result.stderr
    n = len(load_contract(READY[0]).functions)
    assert f"{n} of {n} functions pass." in result.stdout


def test_cli_bench_lists_and_recomputes_a_pages_table():
    listed = _cli("bench", "--list")
    assert listed.returncode == 0 and "pre-2/ais" in listed.stdout.split()
    result = _cli("bench", "pre-2/ais")
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("|")]
    assert len(rows) >= 2 + 4, "a header, a rule and one row per number of temperatures"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["check", "pre-9"], "task must be one of"),
        (["check", "pre-1", "--impl", "/nonexistent/place"], "impl must be"),
        *([(["check", PLANNED[0].id], "has no checks yet")] if PLANNED else []),
        (["frobnicate"], "invalid choice"),
        (["bench", "pre-2/nope"], "name must be one of"),
    ],
)
def test_cli_bad_input_is_one_line_and_status_2(args, needle):
    result = _cli(*args)
    assert result.returncode == 2
    assert needle in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
