"""Grading in a child process: every way the code under test can end is a verdict.

The parent starts a child (``multiprocessing``'s spawn method, the same on Linux, macOS and
Windows), which imports the learner's file and grades one function after another, sending each
verdict over a pipe as soon as it is known. The child ignores Ctrl-C (the parent handles it) and
sends what the learner's code prints to a file instead of the terminal.

- An exception of any kind, ``SystemExit`` and ``KeyboardInterrupt`` included, is a failed check.
- A function that runs past the time limit is stopped: a watchdog thread in the child reports the
  line it was stuck on and ends the child; if even that thread cannot run, the parent kills the
  child a few seconds later.
- A child that ends by itself (``os._exit``, a crash in native code) fails the function it was
  grading.

After a time-out or an ending the parent starts a new child for the functions still to grade.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from diffusion_path.check import (
    ENDED_HINT,
    FAILED,
    FunctionResult,
    ImportProblem,
    Report,
    grade_function,
    import_problem,
    load_contract,
    load_implementation,
    note_dependencies,
    plan,
    reference_namespace,
    wrong_file_message,
)
from diffusion_path.tasks import Task, get_task

__all__ = ["run_isolated"]

#: Seconds the parent waits beyond the time limit before killing a child that did not stop itself.
GRACE = 5.0
#: Seconds a child may take to start and import the file under test.
START_LIMIT = 120.0
#: Exit status of a child whose watchdog stopped it.
STUCK_STATUS = 124

TIMEOUT_HINT = (
    "Look for a loop whose condition never changes, a while loop waiting for a random event that "
    "cannot happen, or work far larger than the inputs need. If your code is just slow, raise the "
    "limit with --timeout SECONDS."
)


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name} (a crash in native code, or too much memory)"
    return f"ended with exit code {code}"


# ----------------------------------------------------------------------------- the child


def _where_stuck(frame, path: str | None) -> str:
    """``file.py:line: code`` for the deepest frame of ``path`` in the stack of ``frame``."""
    stack = traceback.extract_stack(frame)
    mine = [f for f in stack if path and Path(f.filename) == Path(path)]
    chosen = mine[-1] if mine else (stack[-1] if stack else None)
    if chosen is None:
        return ""
    return f"{Path(chosen.filename).name}:{chosen.lineno}: {(chosen.line or '').strip()}"


class _Watchdog:
    """Ends the child, after reporting where the main thread is, when a function runs too long."""

    def __init__(self, conn, timeout: float, path: str | None) -> None:
        self.conn, self.timeout, self.path = conn, timeout, path
        self.main = threading.main_thread().ident
        self.timer: threading.Timer | None = None

    def start(self, function: str) -> None:
        self.timer = threading.Timer(self.timeout, self._fire, (function,))
        self.timer.daemon = True
        self.timer.start()

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()

    def _fire(self, function: str) -> None:
        frame = sys._current_frames().get(self.main)
        try:
            self.conn.send(
                ("stuck", {"function": function, "where": _where_stuck(frame, self.path)})
            )
        finally:
            os._exit(STUCK_STATUS)


def _capture_output() -> tuple[object, Callable[[int], str]]:
    """Send this process's stdout and stderr to a file; return it and a reader of what came since."""
    sink = tempfile.TemporaryFile()
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(sink.fileno(), 1)
    os.dup2(sink.fileno(), 2)

    def since(offset: int) -> str:
        sys.stdout.flush()
        sys.stderr.flush()
        sink.seek(offset)
        text = sink.read().decode("utf-8", "replace")
        sink.seek(0, os.SEEK_END)
        return "\n".join(text.strip().splitlines()[-5:])

    return sink, since


def _child(
    task_id: str,
    path: str | None,
    functions: list[str] | None,
    timeout: float,
    earlier: dict[str, dict],
    conn,
) -> None:
    """Grade ``functions`` (None: the contract's, after sending the plan) one after another."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sink, since = _capture_output()
    task = get_task(task_id)
    contract = load_contract(task)
    if functions is None or not earlier:
        try:
            functions = plan(contract, task, functions)
        except ValueError as error:
            conn.send(("usage", str(error)))
            return
        uses = {f: list(contract.spec(f).uses) for f in contract.functions}
        conn.send(
            ("plan", {"functions": functions, "uses": uses, "total": len(contract.functions)})
        )
    reference = reference_namespace(task)
    watchdog = _Watchdog(conn, timeout, path)
    watchdog.start("(importing the file)")
    try:
        module = load_implementation(task, path)
    except BaseException as error:  # the file may do anything at import, exit included
        watchdog.stop()
        problem = (
            import_problem(error, Path(path)) if path else ImportProblem("", None, "", str(error))
        )
        conn.send(("import_error", problem.__dict__))
        return
    watchdog.stop()
    conn.send(("loaded", wrong_file_message(task, module) if path else ""))
    results = {name: FunctionResult(**values) for name, values in earlier.items()}
    for function in functions:
        conn.send(("start", function))
        offset = sink.seek(0, os.SEEK_END)
        watchdog.start(function)
        result = grade_function(contract, module, reference, function, results)
        watchdog.stop()
        if result.status == FAILED:
            result.output = since(offset)
        results[function] = result
        conn.send(("result", result.to_dict()))
    conn.send(("done", None))


# ----------------------------------------------------------------------------- the parent


def run_isolated(
    task: Task,
    path: Path | None,
    only: list[str] | None,
    timeout: float,
    on_result: Callable[[FunctionResult], None] | None,
    source: str,
) -> Report:
    """Grade the file at ``path`` (the reference if ``None``) in child processes.

    The parent never imports the contract (nor PyTorch): the first child sends the plan — the
    functions to grade and which of them each one calls — and every verdict after it.

    Raises:
        ValueError: if ``only`` names a function the task does not have.
    """
    context = multiprocessing.get_context("spawn")
    report = Report(task, source)
    done: dict[str, FunctionResult] = {}
    state: dict = {"functions": only, "uses": {}}

    def record(result: FunctionResult) -> None:
        result = note_dependencies(result, tuple(state["uses"].get(result.function, ())), done)
        done[result.function] = result
        if on_result:
            on_result(result)

    process = None
    try:
        while report.import_problem is None:
            planned = state["functions"]
            for function in [f for f in planned or [] if f not in done]:
                hung = [
                    used
                    for used in state["uses"].get(function, ())
                    if used in done and done[used].check == "finishes_in_time"
                ]
                if hung:  # it would hang in the same place: say so without waiting again
                    record(
                        FunctionResult(
                            function,
                            FAILED,
                            reason=f"depends on {hung[0]}, which did not finish: not run",
                            hint=f"Make {hung[0]} finish first; {function} calls it.",
                            check="finishes_in_time",
                        )
                    )
            remaining = None if planned is None else [f for f in planned if f not in done]
            if remaining == []:
                break
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(
                target=_child,
                args=(
                    task.id,
                    None if path is None else str(path),
                    remaining,
                    timeout,
                    {name: result.to_dict() for name, result in done.items()},
                    sender,
                ),
                daemon=True,
            )
            process.start()
            sender.close()
            _follow(process, receiver, report, timeout, record, path, state)
            process.join(timeout=5)
            if state.get("usage") or state["functions"] is None:  # no plan: nothing to go on with
                break
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        if process is not None and process.is_alive():
            process.kill()
            process.join(timeout=5)
    if state.get("usage"):
        raise ValueError(state["usage"])
    report.results = [done[f] for f in state["functions"] or [] if f in done]
    return report


def _follow(process, receiver, report: Report, timeout, record, path, state: dict) -> None:
    """Read one child's messages until it is done, stuck or gone; record the verdicts."""
    current: str | None = None
    deadline = time.monotonic() + START_LIMIT + timeout
    while True:
        if receiver.poll(0.05):
            try:
                kind, payload = receiver.recv()
            except (EOFError, OSError):
                kind, payload = "gone", None
        elif not process.is_alive() and not receiver.poll(0.2):
            kind, payload = "gone", None
        elif time.monotonic() > deadline:
            process.kill()
            process.join(timeout=5)
            kind, payload = "stuck", {"function": current, "where": ""}
        else:
            continue
        if kind == "plan":
            state["functions"], state["uses"] = payload["functions"], payload["uses"]
            report.total = payload["total"]
        elif kind == "usage":
            state["usage"] = payload
            return
        elif kind == "loaded":
            report.wrong_file = payload
        elif kind == "import_error":
            report.import_problem = ImportProblem(**payload)
            return
        elif kind == "start":
            current = payload
            deadline = time.monotonic() + timeout + GRACE
        elif kind == "result":
            record(FunctionResult(**payload))
            current = None
        elif kind == "done":
            return
        elif kind == "stuck":
            where = f", stuck at {payload['where']}" if payload.get("where") else ""
            if current is None:  # still importing the file
                report.import_problem = ImportProblem(
                    str(path), None, "", f"importing the file took longer than {timeout:g} s{where}"
                )
                return
            record(
                FunctionResult(
                    current,
                    FAILED,
                    reason=f"stopped after {timeout:g} s without finishing{where}",
                    hint=TIMEOUT_HINT,
                    duration=timeout,
                    check="finishes_in_time",
                )
            )
            process.join(timeout=5)
            return
        elif kind == "gone":
            process.join(timeout=5)
            ended = _describe_exit(process.exitcode)
            if current is None:
                report.import_problem = ImportProblem(
                    str(path), None, "", f"the Python process {ended} while importing the file"
                )
                return
            record(
                FunctionResult(
                    current,
                    FAILED,
                    reason=f"the Python process {ended} while {current} was being checked",
                    hint=ENDED_HINT,
                    check="keeps_the_process_running",
                )
            )
            return
