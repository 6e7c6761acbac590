"""The task checker: grade an implementation of a task against its contract.

A task's *contract* is a list of checks, each about one function of the task
and each with a hint. The same checks guard the reference solution in the test
suite (``tests/tasks/``) and grade a learner's file through
``diffusion-path check TASK --impl DIR``. A check passes, fails with a reason,
or finds the function not implemented (missing, or raising
``NotImplementedError``).

Examples:
    >>> report = run_checks(get_task("pre-1"))  # the reference solution
    >>> report.passed
    True
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from diffusion_path.tasks import Task, get_task

__all__ = [
    "Check",
    "Contract",
    "FunctionResult",
    "Report",
    "load_implementation",
    "reference_namespace",
    "run_checks",
]

PASSED, FAILED, NOT_IMPLEMENTED = "passed", "failed", "not implemented"


@dataclass(frozen=True)
class Check:
    """One property that one function of a task must have.

    Attributes:
        function: Name of the function under test.
        name: Name of the check (the name of the function that runs it).
        description: What the check verifies, in one sentence.
        hint: What to look at when the check fails.
        run: Callable taking the implementation module; raises ``AssertionError`` on failure.
    """

    function: str
    name: str
    description: str
    hint: str
    run: Callable[[ModuleType], None]


@dataclass
class Contract:
    """The ordered checks of one task; ``@contract.check(function, hint)`` registers one.

    Examples:
        >>> contract = Contract("demo")
        >>> @contract.check("double", hint="Multiply by two, not add two.")
        ... def double_of_three(impl):
        ...     '''double(3) is 6.'''
        ...     assert impl.double(3) == 6
        >>> contract.functions
        ['double']
    """

    task_id: str
    checks: list[Check] = field(default_factory=list)

    def check(self, function: str, hint: str) -> Callable[[Callable], Callable]:
        """Decorator registering ``run(impl)`` as a check of ``function``."""

        def register(run: Callable[[ModuleType], None]) -> Callable[[ModuleType], None]:
            doc = (run.__doc__ or run.__name__).strip().splitlines()[0]
            self.checks.append(Check(function, run.__name__, doc, hint, run))
            return run

        return register

    @property
    def functions(self) -> list[str]:
        """Names of the functions the contract covers, in order of first appearance."""
        return list(dict.fromkeys(check.function for check in self.checks))


@dataclass
class FunctionResult:
    """The verdict on one function: its status, and the first failure's reason and hint."""

    function: str
    status: str
    passed_checks: int
    total_checks: int
    reason: str = ""
    hint: str = ""


@dataclass
class Report:
    """The result of checking one implementation of one task."""

    task: Task
    source: str
    results: list[FunctionResult]

    @property
    def passed(self) -> bool:
        """True when every function passes every check."""
        return all(result.status == PASSED for result in self.results)

    def lines(self) -> Iterator[str]:
        """The checklist, one line per function plus reason and hint lines, as printed by the CLI."""
        yield f"{self.task.id} · {self.task.title} — checking {self.source}"
        marks = {PASSED: "✔", FAILED: "✘", NOT_IMPLEMENTED: "○"}
        width = max(len(result.function) for result in self.results)
        for result in self.results:
            detail = f"{result.passed_checks}/{result.total_checks} checks"
            if result.status != PASSED:
                detail = result.status
            yield f"  {marks[result.status]} {result.function:<{width}}  {detail}"
            if result.status == FAILED:
                yield f"      why:  {result.reason}"
                yield f"      hint: {result.hint}"
        done = sum(result.status == PASSED for result in self.results)
        yield f"{done} of {len(self.results)} functions pass."


def load_contract(task: Task) -> Contract:
    """Import the contract of ``task`` (``diffusion_path.contracts.<slug>``)."""
    if not task.ready:
        raise ValueError(f"task {task.id!r} has no checks yet: its page says what is coming")
    return importlib.import_module(task.contract).CONTRACT


def load_implementation(task: Task, impl: str | Path | None = None) -> ModuleType:
    """Import the implementation to check: the reference, or a learner's file.

    Args:
        task: The task.
        impl: ``None`` for the reference solution; a directory holding the task's
            exercise file (e.g. ``pre_1.py``, as written by ``diffusion-path
            exercises init``); or the path of a ``.py`` file.

    Raises:
        ValueError: if ``impl`` names no such file.
    """
    if impl is None:
        if not task.ready:
            raise ValueError(f"task {task.id!r} has no reference solution yet")
        return reference_namespace(task)
    path = Path(impl)
    if path.is_dir():
        path = path / task.exercise_file
    if not path.is_file() or path.suffix != ".py":
        raise ValueError(
            f"impl must be a directory holding {task.exercise_file} or a .py file; got {str(impl)!r}"
        )
    name = f"_learner_{task.slug}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def reference_namespace(task: Task) -> ModuleType:
    """The reference solution of ``task`` as one module: its modules' public names together.

    A task may span several modules (Core Task 1 has ``schedules`` and ``forward``);
    a learner writes them all in one file, so the reference is checked the same way.
    """
    if len(task.modules) == 1:
        return importlib.import_module(task.modules[0])
    namespace = ModuleType(f"reference_{task.slug}")
    names: list[str] = []
    for dotted in task.modules:
        module = importlib.import_module(dotted)
        for name in module.__all__:
            setattr(namespace, name, getattr(module, name))
            names.append(name)
    namespace.__all__ = names
    return namespace


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    if not isinstance(error, AssertionError):
        text = f"{type(error).__name__}: {text}"
    return text.splitlines()[0]


def _where(error: BaseException, source: str | None) -> str:
    """`` (at file.py:line)`` for the deepest traceback frame in the checked file, if any."""
    if source is None:
        return ""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == source]
    return f" (at {Path(source).name}:{frames[-1].lineno})" if frames else ""


def run_checks(task: Task | str, impl: str | Path | None = None) -> Report:
    """Run every check of ``task`` against an implementation and collect the verdicts.

    Args:
        task: The task, or its id such as ``"pre-1"``.
        impl: Where the implementation is; see
            [`load_implementation`][diffusion_path.check.load_implementation].

    Returns:
        A [`Report`][diffusion_path.check.Report] with one result per function.
    """
    task = get_task(task) if isinstance(task, str) else task
    contract = load_contract(task)
    module = load_implementation(task, impl)
    source = "the reference solution" if impl is None else str(module.__file__)
    results = []
    for function in contract.functions:
        checks = [check for check in contract.checks if check.function == function]
        result = FunctionResult(function, PASSED, 0, len(checks))
        if not callable(getattr(module, function, None)):
            result.status = NOT_IMPLEMENTED
            results.append(result)
            continue
        for check in checks:
            try:
                check.run(module)
            except NotImplementedError:
                result.status = NOT_IMPLEMENTED
                break
            except Exception as error:  # a learner's code may raise anything
                if result.status == PASSED:
                    result.status = FAILED
                    where = _where(error, getattr(module, "__file__", None))
                    what = check.description.rstrip(".")
                    result.reason = f"{what}: {_first_line(error)}{where}"
                    result.hint = check.hint
            else:
                result.passed_checks += 1
        results.append(result)
    return Report(task, source, results)
