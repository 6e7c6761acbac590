"""The ``diffusion-path`` command: the path, exercises, the checker, figures and benchmarks.

Examples:
    >>> main(["tasks"])  # doctest: +ELLIPSIS
    task    title ...
    pre-1   Understanding Gaussian distributions ...
    0
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(f"{self.prog}: {message} (see --help)")


class _UsageError(Exception):
    pass


def _tasks(args: argparse.Namespace) -> int:
    from diffusion_path.tasks import TASKS

    print(f"{'task':<7} {'title':<42} {'do first':<14} {'time on a CPU':<14} status")
    for task in TASKS:
        status = "ready" if task.ready else "coming"
        needs = ", ".join(task.needs) or "—"
        print(f"{task.id:<7} {task.title:<42} {needs:<14} {task.duration:<14} {status}")
    return 0


def _exercises_init(args: argparse.Namespace) -> int:
    from diffusion_path.exercises import write_stubs
    from diffusion_path.tasks import TASKS, get_task

    tasks = [get_task(task_id) for task_id in args.task] if args.task else None
    for task in tasks or []:
        if not task.ready:
            raise ValueError(f"task {task.id!r} has no exercise yet: its page says what is coming")
    written, kept = write_stubs(args.directory, tasks)
    for path in written:
        print(f"wrote {path}")
    for path in kept:
        print(f"kept  {path} (already there; delete it to start over)")
    ready = [t.id for t in TASKS if t.ready]
    print(f"next: diffusion-path check {ready[0]} --impl {args.directory}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from diffusion_path.check import run_checks

    report = run_checks(args.task, args.impl)
    for line in report.lines():
        print(line)
    return 0 if report.passed else 1


def _figures(args: argparse.Namespace) -> int:
    from diffusion_path.figures import render
    from diffusion_path.tasks import TASKS, get_task

    tasks = [get_task(t) for t in args.task] if args.task else list(TASKS)
    for task in tasks:
        for path in render(task, args.out):
            print(f"wrote {path}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    import time

    from diffusion_path.figures import table, table_names

    names = table_names()
    if args.list:
        print("\n".join(names))
        return 0
    for name in args.name or names:
        if name not in names:
            raise ValueError(f"name must be one of {', '.join(names)}; got {name!r}")
        task_id, table_name = name.split("/")
        start = time.perf_counter()
        text = table(task_id, table_name)
        print(f"## {name}  ({time.perf_counter() - start:.1f} s)\n\n{text.strip()}\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``diffusion-path``."""
    parser = _Parser(
        prog="diffusion-path",
        description="Diffusion models in eleven tested tasks: exercises, checker and figures.",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    tasks = commands.add_parser("tasks", help="list the eleven tasks in learning order")
    tasks.set_defaults(run=_tasks)

    exercises = commands.add_parser("exercises", help="write exercise stubs to work on")
    actions = exercises.add_subparsers(dest="action", required=True, parser_class=_Parser)
    init = actions.add_parser("init", help="write the stubs into DIR (never overwrites)")
    init.add_argument("directory", metavar="DIR", help="folder for your implementations")
    init.add_argument("--task", action="append", help="only this task (repeatable)")
    init.set_defaults(run=_exercises_init)

    check = commands.add_parser("check", help="grade an implementation of a task")
    check.add_argument("task", metavar="TASK", help="task id, e.g. pre-1")
    check.add_argument(
        "--impl",
        metavar="PATH",
        help="folder with your stub files, or one .py file (default: the reference solution)",
    )
    check.set_defaults(run=_check)

    figures = commands.add_parser("figures", help="regenerate the figures the pages show")
    figures.add_argument("task", metavar="TASK", nargs="*", help="task ids (default: all)")
    figures.add_argument("--out", default="figures", metavar="DIR", help="output folder")
    figures.set_defaults(run=_figures)

    bench = commands.add_parser("bench", help="recompute the tables the pages show")
    bench.add_argument(
        "name", metavar="TASK/TABLE", nargs="*", help="e.g. pre-2/ais (default: all)"
    )
    bench.add_argument("--list", action="store_true", help="list the tables and exit")
    bench.set_defaults(run=_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 checks failed, 2 bad input)."""
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except _UsageError as error:
        print(error, file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"diffusion-path: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
