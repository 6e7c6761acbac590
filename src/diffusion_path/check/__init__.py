"""The task checker: grade an implementation of a task against its contract.

A task's *contract* (``diffusion_path.contracts.<task>``) is a list of checks, each about one
function and each with a hint, plus the generic checks every function gets. The same checks
guard the reference solution in the test suite (``tests/tasks/``) and grade a learner's file
through ``diffusion-path check TASK --impl DIR``.

A learner's code runs in a child process with a time limit per function
([`run_checks`][diffusion_path.check.run_checks]), so that nothing it does — raise anything, call
``sys.exit``, end the process, loop forever, crash — can stop the grading or pass for a success:
every way out is a verdict, and the other functions are still graded. Each function's verdict is
reported as soon as it is known.

Verdicts: ``passed``; ``failed``, with the reason, the sub-check that broke and its hint; or
``not implemented`` (missing, or raising ``NotImplementedError``).

Examples:
    >>> report = run_checks("pre-1", isolate=False)  # the reference solution, in this process
    >>> report.passed
    True
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType

from diffusion_path.contracts import Contract
from diffusion_path.tasks import TASKS, Task, get_task, reference_namespace

__all__ = [
    "FAILED",
    "NOT_IMPLEMENTED",
    "PASSED",
    "FunctionResult",
    "ImportProblem",
    "Report",
    "grade",
    "load_contract",
    "load_implementation",
    "reference_namespace",
    "run_checks",
]

PASSED, FAILED, NOT_IMPLEMENTED = "passed", "failed", "not implemented"
#: The module name a learner's file is imported under starts with this.
LEARNER_PREFIX = "_learner_"
#: Seconds a function may take for all its checks before it is stopped (``--timeout``).
DEFAULT_TIMEOUT = 60.0
ENDED_HINT = (
    "Do not end the program from a function: no sys.exit(), exit(), quit() or os._exit(), and no "
    "raise KeyboardInterrupt. Return the value, or raise ValueError for bad input."
)


@dataclass
class FunctionResult:
    """The verdict on one function.

    Attributes:
        function: The function's name.
        status: ``"passed"``, ``"failed"`` or ``"not implemented"``.
        passed_checks: How many of its checks passed.
        total_checks: How many checks it has.
        check: The name of the first check that failed (empty if none did).
        reason: Why it failed: the sub-check's message, with the learner's file and line.
        hint: What to look at: the hint of the sub-check that failed.
        duration: Seconds spent on its checks.
        output: The last lines the function printed while it failed, if any.
    """

    function: str
    status: str
    passed_checks: int = 0
    total_checks: int = 0
    check: str = ""
    reason: str = ""
    hint: str = ""
    duration: float = 0.0
    output: str = ""

    def to_dict(self) -> dict:
        """The result as a JSON-ready dict (the schema of ``check --json``)."""
        return asdict(self)


@dataclass
class ImportProblem:
    """Why a learner's file could not be imported: where, the offending line, and what went wrong."""

    path: str
    line: int | None
    text: str
    message: str

    def lines(self) -> list[str]:
        """At most four lines: where, the line itself, what went wrong."""
        where = f"{self.path}, line {self.line}" if self.line else self.path
        out = [f"could not import {where}:"]
        if self.text:
            out.append(f"    {self.text.strip()}")
        out.append(self.message)
        return out


@dataclass
class Report:
    """The result of checking one implementation of one task."""

    task: Task
    source: str
    results: list[FunctionResult] = field(default_factory=list)
    import_problem: ImportProblem | None = None
    wrong_file: str = ""
    interrupted: bool = False
    total: int = 0

    @property
    def passed(self) -> bool:
        """True when every function passes every check."""
        return (
            self.import_problem is None
            and not self.interrupted
            and bool(self.results)
            and all(result.status == PASSED for result in self.results)
        )

    def to_dict(self) -> dict:
        """The report as a JSON-ready dict (the schema of ``check --json``)."""
        return {
            "task": self.task.id,
            "title": self.task.title,
            "source": self.source,
            "passed": self.passed,
            "import_error": None if self.import_problem is None else asdict(self.import_problem),
            "wrong_file": self.wrong_file or None,
            "interrupted": self.interrupted,
            "functions": [result.to_dict() for result in self.results],
        }


def load_contract(task: Task) -> Contract:
    """Import the contract of ``task`` (``diffusion_path.contracts.<slug>``)."""
    if not task.ready:
        raise ValueError(f"task {task.id!r} has no checks yet: its page says what is coming")
    return importlib.import_module(task.contract).CONTRACT


def implementation_path(task: Task, impl: str | Path) -> Path:
    """The learner's file for ``task``: ``impl`` itself, or ``impl/<slug>.py`` for a folder.

    Raises:
        ValueError: if there is no such file.
    """
    path = Path(impl)
    if path.is_dir():
        path = path / task.exercise_file
    if not path.is_file() or path.suffix != ".py":
        raise ValueError(
            f"impl must be a directory holding {task.exercise_file} or a .py file; got {str(impl)!r}"
        )
    return path


def load_implementation(task: Task, impl: str | Path | None = None) -> ModuleType:
    """Import the implementation to check: the reference, or a learner's file, in this process.

    Args:
        task: The task.
        impl: ``None`` for the reference solution; a directory holding the task's exercise file
            (e.g. ``pre_1.py``, as written by ``diffusion-path exercises init``); or the path of a
            ``.py`` file.

    Raises:
        ValueError: if ``impl`` names no such file.
    """
    if impl is None:
        if not task.ready:
            raise ValueError(f"task {task.id!r} has no reference solution yet")
        return reference_namespace(task)
    path = implementation_path(task, impl)
    name = f"{LEARNER_PREFIX}{task.slug}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    guard = LibraryGuard()
    spec.loader.exec_module(module)
    changed = guard.restore()
    if changed:
        raise LibraryChanged(
            f"the file replaces {', '.join(changed[:3])} when imported; the checks compare with "
            "these, so leave the libraries as they are"
        )
    _GUARDS[name] = guard
    return module


class LibraryChanged(RuntimeError):
    """A learner's code replaced a function of a library that the checks use."""


#: The modules (and the class) whose functions the checks compare results with.
GUARDED = ("builtins", "math", "numpy", "numpy.testing", "torch", "torch.testing")


class LibraryGuard:
    """What the guarded libraries hold now, to find and undo any replacement made later."""

    def __init__(self) -> None:
        import torch

        self.owners = [sys.modules[name] for name in GUARDED if name in sys.modules]
        self.owners += [torch.Tensor, torch.nn.functional]
        self.saved = [dict(vars(owner)) for owner in self.owners]

    def restore(self) -> list[str]:
        """Put back every replaced attribute; return their names (empty when nothing changed)."""
        changed = []
        for owner, saved in zip(self.owners, self.saved, strict=True):
            current = vars(owner)
            for key, value in saved.items():
                now = current.get(key, value)
                if getattr(now, "__wrapped__", None) is value and _torch_wrapper(now):
                    continue  # PyTorch's own wrapper (below), not a replacement
                if now is not value:
                    changed.append(f"{getattr(owner, '__name__', owner)}.{key}")
                    setattr(owner, key, value)
        return changed


def _torch_wrapper(function: object) -> bool:
    """Whether ``function`` is PyTorch's own wrapper of one of its functions.

    The first optimiser made imports ``torch._dynamo``, which wraps ``torch.manual_seed`` (and
    keeps the original as ``__wrapped__``): a change the library makes to itself, not the
    learner's replacement.
    """
    import torch

    code = getattr(function, "__code__", None)
    home = Path(torch.__file__).parent
    return code is not None and Path(code.co_filename).is_relative_to(home)


#: The guard of each learner's module, by module name.
_GUARDS: dict[str, LibraryGuard] = {}


def _run_guarded(check: object, impl: object, guard: LibraryGuard | None) -> None:
    """Run ``check``; afterwards undo any replacement of a library function, and say so."""
    try:
        check.run(impl)
    finally:
        changed = guard.restore() if guard else []
        if changed:
            raise LibraryChanged(f"replaced {', '.join(changed[:3])}")


def import_problem(error: BaseException, path: Path) -> ImportProblem:
    """Describe an exception raised while importing the learner's file ``path``."""
    if isinstance(error, SyntaxError) and error.filename and Path(error.filename) == path:
        message = f"SyntaxError: {error.msg}"
        return ImportProblem(str(path), error.lineno, error.text or "", message)
    frames = [f for f in traceback.extract_tb(error.__traceback__) if Path(f.filename) == path]
    line, text = (frames[-1].lineno, frames[-1].line or "") if frames else (None, "")
    if isinstance(error, SystemExit):
        message = f"the file called sys.exit({error.code!r}) while being imported"
    else:
        message = f"{type(error).__name__}: {str(error).strip()}".rstrip(": ")
    return ImportProblem(str(path), line, text, message.splitlines()[0] if message else "")


def wrong_file_message(task: Task, module: object) -> str:
    """A message when ``module`` defines none of ``task``'s functions ("" when it defines some)."""
    contract = load_contract(task)
    if any(callable(getattr(module, f, None)) for f in contract.functions):
        return ""
    message = f"this file defines none of {task.id}'s functions ({', '.join(contract.functions[:4])}, ...)"
    for other in TASKS:
        if other.id == task.id or not other.ready:
            continue
        found = [f for f in load_contract(other).functions if callable(getattr(module, f, None))]
        if found:
            return f"{message}; it looks like {other.id}'s file (it defines {', '.join(found[:3])}): check it with `diffusion-path check {other.id} --impl ...`"
    return message


def _first_line(error: BaseException) -> str:
    if isinstance(error, SystemExit):
        return f"called sys.exit({error.code!r}) (or exit(), quit()), which ends the program"
    if isinstance(error, KeyboardInterrupt):
        return "raised KeyboardInterrupt"
    text = str(error).strip()
    if not isinstance(error, AssertionError):
        text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return (text or type(error).__name__).splitlines()[0]


def _where(error: BaseException, source: str | None) -> str:
    """`` (at file.py:line)`` for the deepest traceback frame in the checked file, if any."""
    if source is None:
        return ""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == source]
    return f" (at {Path(source).name}:{frames[-1].lineno})" if frames else ""


def grade_function(
    contract: Contract,
    impl: object,
    reference: object,
    function: str,
    earlier: dict[str, FunctionResult] | None = None,
) -> FunctionResult:
    """Run every check of one function in this process and return its verdict.

    Args:
        contract: The task's contract.
        impl: The implementation under test.
        reference: The reference solution (the generic checks compare with it).
        function: The function's name.
        earlier: Verdicts on the task's other functions so far: a failure here that follows a
            failure of a function this one uses says so.
    """
    checks = contract.all_checks(function, reference)
    result = FunctionResult(function, PASSED, 0, len(checks))
    start = time.perf_counter()
    written = getattr(impl, function, None)
    if not callable(written):
        result.status = NOT_IMPLEMENTED
        return result
    learner = getattr(impl, "__name__", "").startswith(LEARNER_PREFIX)
    home = getattr(written, "__module__", None)
    if learner and home != impl.__name__:  # imported, not written: the library's, or another file's
        result.status = NOT_IMPLEMENTED
        result.reason = f"{function} is imported from {home}, not written in this file"
        return result
    source = getattr(impl, "__file__", None)
    guard = _GUARDS.get(getattr(impl, "__name__", ""))
    for check in checks:
        try:
            _run_guarded(check, impl, guard)
        except LibraryChanged as error:  # whatever the check said, it compared with a fake
            result.status = FAILED
            result.check = "leaves_the_libraries_alone"
            result.reason = f"{function} {error}"
            result.hint = (
                "Leave the libraries' functions as they are: the checks compare your results "
                "with them."
            )
            break
        except NotImplementedError as error:
            result.status = NOT_IMPLEMENTED
            raised_in = _raising_function(error, source)
            if raised_in in contract.functions and raised_in != function:
                result.reason = f"waits for {raised_in}, which is not implemented yet"
            break
        except (SystemExit, KeyboardInterrupt) as error:  # ways out of a program, not answers
            result.status = FAILED
            result.check = "keeps_the_process_running"
            result.reason = f"{function} {_first_line(error)}{_where(error, source)}"
            result.hint = ENDED_HINT
            break
        except AssertionError as error:  # the check's verdict: the answer is wrong
            result.status = FAILED
            result.check = check.name
            what = check.description.rstrip(".")
            result.reason = f"{what}: {_first_line(error)}{_where(error, source)}"
            result.hint = getattr(error, "hint", None) or check.hint
            break
        except BaseException as error:  # the code under test crashed while the check ran it
            result.status = FAILED
            result.check = check.name
            result.reason = f"{function} raised {_first_line(error)}{_where(error, source)}"
            # the error's own message (in the reason) is the clue: the sub-check's description
            # would point at a property the crash has nothing to do with
            result.hint = (
                f"Your code raised {type(error).__name__}: read its message and the line it "
                "names, and try the same call yourself."
            )
            break
        result.passed_checks += 1
    result.duration = time.perf_counter() - start
    return note_dependencies(result, contract.spec(function).uses, earlier or {})


def note_dependencies(
    result: FunctionResult, uses: tuple[str, ...], earlier: dict[str, FunctionResult]
) -> FunctionResult:
    """Say so in a failed verdict when a function it calls failed first.

    The verdict then keeps no hint of its own: the failure most likely comes from the function it
    calls, and a hint about this one's own part (say, "without grad_clip, do not clip") would send
    the learner to code that may be right.
    """
    failing = [used for used in uses if used in earlier and earlier[used].status == FAILED]
    if failing and result.status == FAILED and not result.reason.startswith("depends on"):
        note = f"depends on {failing[0]}, which fails: fix it first"
        result.reason = f"{note} ({result.reason})"
        result.hint = ""
    return result


def _raising_function(error: BaseException, source: str | None) -> str | None:
    """The name of the learner's function whose code raised ``error`` (None if not theirs)."""
    if source is None:
        return None
    name = None
    for frame, _ in traceback.walk_tb(error.__traceback__):
        if frame.f_code.co_filename == source:
            owner = frame.f_locals.get("self")  # a method: name its class, as the contract does
            name = type(owner).__name__ if owner is not None else frame.f_code.co_name
    return name


def grade(
    task: Task | str,
    impl: object,
    functions: Iterable[str] | None = None,
    on_result: Callable[[FunctionResult], None] | None = None,
) -> list[FunctionResult]:
    """Grade ``impl`` in this process: no time limit, no protection (the test suite's way).

    Args:
        task: The task, or its id.
        impl: The implementation: a module or any object with the task's functions.
        functions: Only these functions (default: all, in the contract's order).
        on_result: Called with each verdict as soon as it is known.
    """
    task = get_task(task) if isinstance(task, str) else task
    contract = load_contract(task)
    reference = reference_namespace(task)
    results: dict[str, FunctionResult] = {}
    for function in functions if functions is not None else contract.functions:
        result = grade_function(contract, impl, reference, function, results)
        results[function] = result
        if on_result:
            on_result(result)
    return list(results.values())


def run_checks(
    task: Task | str,
    impl: str | Path | None = None,
    *,
    only: Iterable[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    isolate: bool = True,
    on_result: Callable[[FunctionResult], None] | None = None,
) -> Report:
    """Run the checks of ``task`` against an implementation and collect the verdicts.

    Args:
        task: The task, or its id such as ``"pre-1"``.
        impl: Where the implementation is; see
            [`load_implementation`][diffusion_path.check.load_implementation].
        only: Grade only these functions, in this order.
        timeout: Seconds each function may take, all its checks together.
        isolate: Run the code under test in a child process (the default); ``False`` runs it here.
        on_result: Called with each function's verdict as soon as it is known.

    Returns:
        A [`Report`][diffusion_path.check.Report] with one result per function.

    Raises:
        ValueError: if the task has no checks, ``impl`` names no file, ``only`` names a function
            the task does not have, or ``timeout`` is not positive.
    """
    task = get_task(task) if isinstance(task, str) else task
    if not task.ready:
        raise ValueError(f"task {task.id!r} has no checks yet: its page says what is coming")
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    path = None if impl is None else implementation_path(task, impl)
    source = "the reference solution" if path is None else str(path)
    only = list(dict.fromkeys(only)) if only else None
    if isolate:
        from diffusion_path.check.isolated import run_isolated

        return run_isolated(task, path, only, timeout, on_result, source)
    contract = load_contract(task)
    functions = plan(contract, task, only)
    report = Report(task, source, total=len(contract.functions))
    try:
        module = load_implementation(task, path)
    except Exception as error:
        report.import_problem = import_problem(error, path)
        return report
    report.wrong_file = wrong_file_message(task, module) if path else ""
    report.results = grade(task, module, functions, on_result)
    return report


def plan(contract: Contract, task: Task, only: list[str] | None) -> list[str]:
    """The functions to grade: ``only`` (in its order), or every function of the contract.

    Raises:
        ValueError: if ``only`` names a function the task does not have.
    """
    functions = list(contract.functions)
    if not only:
        return functions
    unknown = [f for f in only if f not in functions]
    if unknown:
        raise ValueError(
            f"only must name functions of {task.id} ({', '.join(functions)}); got {unknown[0]!r}"
        )
    return list(only)
