"""Exercise stubs: generated from the reference, they ask without answering, and the checker grades them."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import subprocess
import sys

import pytest

from diffusion_path.check import run_checks
from diffusion_path.exercises import exercises, solution_code, stub_source, write_stubs
from diffusion_path.tasks import TASKS

READY = [task for task in TASKS if task.ready]
PLANNED = [task for task in TASKS if not task.ready]
# What a line of code looks like, as opposed to a sentence: a call, a power, an index, a library.
CODE = re.compile(r"\w\(|\*\*|\w\[|\b(?:torch|np|math)\.|\s=\s|\+=")


def _normal(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize("task", READY, ids=lambda task: task.id)
def test_stub_compiles_and_uses_no_undefined_or_private_name(task, tmp_path):
    source = stub_source(task)
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            private = [a.name for a in node.names if a.name.startswith("_")]
            assert not private, f"the stub imports private names {private} from {node.module}"
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            raise AssertionError(f"the stub uses a private attribute .{node.attr}")
    path = tmp_path / task.exercise_file
    path.write_text(source)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--no-cache",
            "--isolated",
            "--select",
            "F821,E9",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("task", READY, ids=lambda task: task.id)
def test_given_signatures_parse_as_python(task):
    """Each line of the "Given" comment is ``name(parameters): summary``, the parameters valid Python.

    Annotations such as ``Callable[[torch.Tensor], torch.Tensor]`` or ``tuple[A, B]`` once came out
    garbled (``load_model(path, device, NoiseSchedule, dict])``).
    """
    source = stub_source(task)
    block = source.partition("# Given (imported above, not yours to write):\n")[2]
    given = [line for line in block.split("\n\n")[0].splitlines() if "(" in line.split(":")[0]]
    for line in given:
        head = line.removeprefix("#   ").partition("): ")[0] + ")"
        name = head.partition("(")[0]
        tree = ast.parse(f"def {head}: pass")  # raises SyntaxError on a garbled signature
        function = tree.body[0]
        module = next(
            node.module
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.ImportFrom) and name in {a.name for a in node.names}
        )
        expected = list(
            inspect.signature(getattr(importlib.import_module(module), name)).parameters
        )
        arguments = function.args
        names = [a.arg for a in arguments.posonlyargs + arguments.args]
        names += [arguments.vararg.arg] if arguments.vararg else []
        names += [a.arg for a in arguments.kwonlyargs]
        names += [arguments.kwarg.arg] if arguments.kwarg else []
        assert names == expected, f"{task.id}: {line}"


@pytest.mark.parametrize("task", READY, ids=lambda task: task.id)
def test_todos_ask_without_answering(task):
    """No TODO is code, and none repeats a right-hand side of the reference's solution."""
    for exercise in exercises(task):
        todo = exercise.todo
        assert not CODE.search(todo), f"{exercise.qualname}: the TODO reads like code: {todo!r}"
        for node in ast.walk(ast.parse(exercise.solution)):
            value = getattr(node, "value", None)
            if isinstance(node, ast.Assign | ast.AugAssign | ast.Return) and value is not None:
                right = _normal(ast.unparse(value))
                assert len(right) < 6 or right not in _normal(todo), (
                    f"{exercise.qualname}: the TODO contains the solution's {ast.unparse(value)!r}"
                )


@pytest.mark.parametrize("task", READY, ids=lambda task: task.id)
def test_fresh_stubs_are_all_not_implemented(task, tmp_path):
    write_stubs(tmp_path, [task])
    report = run_checks(task, tmp_path, isolate=False)
    assert not report.passed and report.import_problem is None
    assert {r.status for r in report.results} == {"not implemented"}, [
        (r.function, r.status, r.reason) for r in report.results
    ]


@pytest.mark.parametrize("task", READY, ids=lambda task: task.id)
def test_stub_with_the_solutions_filled_in_passes(task, tmp_path):
    """Writing each solution where its TODO stands gives a file that passes every check."""
    source = stub_source(task)
    for exercise in exercises(task):
        todo = f"{exercise.indent}# TODO: {exercise.todo.splitlines()[0]}"
        start = source.index(todo)
        end = source.index("raise NotImplementedError", start) + len("raise NotImplementedError")
        body = "\n".join(
            exercise.indent + line if line.strip() else ""
            for line in exercise.solution.splitlines()
        )
        source = source[:start] + body.rstrip() + source[end:]
    (tmp_path / task.exercise_file).write_text(source)
    report = run_checks(task, tmp_path, isolate=False)
    assert report.passed, [(r.function, r.reason) for r in report.results if r.status != "passed"]


@pytest.mark.parametrize("task", READY, ids=lambda task: task.id)
def test_the_last_hint_is_the_solution_code(task):
    for function in {e.function for e in exercises(task)}:
        code = solution_code(task, function)
        assert code.strip() and "raise NotImplementedError" not in code
        ast.parse(code.replace("# in ", "# in "))


def test_init_never_overwrites(tmp_path):
    task = READY[0]
    mine = tmp_path / task.exercise_file
    mine.write_text("# my work\n")
    written, kept = write_stubs(tmp_path, [task])
    assert written == [] and kept == [mine]
    assert mine.read_text() == "# my work\n"


def test_planned_tasks_have_no_stub():
    for task in PLANNED:
        with pytest.raises(ValueError, match="no exercise yet"):
            stub_source(task)
