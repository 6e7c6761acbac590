"""The ``diffusion-path`` command: the path, exercises, the checker, hints, figures and benchmarks.

Examples:
    >>> main(["tasks"])  # doctest: +ELLIPSIS
    task    title ...
    pre-1   Understanding Gaussian distributions ...
    0
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["build_parser", "main"]

MARKS = {"passed": "✔", "failed": "✘", "not implemented": "○"}
#: Width of the function-name column: the longest function name of any task.
NAME_WIDTH = 28


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(f"{self.prog}: {message} (see --help)")


class _UsageError(Exception):
    pass


def _print(line: str = "") -> None:
    print(line, flush=True)


# ----------------------------------------------------------------------------- tasks, exercises


def _tasks(args: argparse.Namespace) -> int:
    from diffusion_path.tasks import TASKS

    _print(f"{'task':<7} {'title':<42} {'do first':<14} {'time on a CPU':<14} status")
    for task in TASKS:
        status = "ready" if task.ready else "coming"
        needs = ", ".join(task.needs) or "—"
        _print(f"{task.id:<7} {task.title:<42} {needs:<14} {task.duration:<14} {status}")
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
        _print(f"wrote {path}")
    for path in kept:
        _print(f"kept  {path} (already there; delete it to start over)")
    ready = [t.id for t in (tasks or TASKS) if t.ready]
    _print(f"next: diffusion-path check {ready[0]} --impl {args.directory}")
    return 0


# ----------------------------------------------------------------------------- check


def _result_lines(result) -> list[str]:
    mark = MARKS[result.status]
    if result.status == "passed":
        detail = f"{result.passed_checks}/{result.total_checks} checks"
    else:
        detail = result.status
    lines = [f"  {mark} {result.function:<{NAME_WIDTH}} {detail:<16} {result.duration:5.1f} s"]
    if result.reason:
        lines.append(f"      why:  {result.reason}")
    if result.hint and result.status == "failed":
        lines.append(f"      hint: {result.hint}")
    if result.output:
        lines.append("      it printed:")
        lines += [f"        {line}" for line in result.output.splitlines()]
    return lines


def _report_footer(report, elapsed: float) -> list[str]:
    lines = []
    if report.import_problem is not None:
        problem = report.import_problem.lines()
        lines += [f"  ✘ {problem[0]}"] + [f"    {line}" for line in problem[1:]]
        return lines
    if report.wrong_file:
        lines.append(f"  note: {report.wrong_file}")
    if report.interrupted:
        lines.append("interrupted: the functions above were graded; the others were not.")
    done = sum(result.status == "passed" for result in report.results)
    lines.append(f"{done} of {len(report.results)} functions pass ({elapsed:.1f} s).")
    if not report.passed and not report.interrupted:
        failing = next((r for r in report.results if r.status != "passed"), None)
        if failing is not None:
            lines.append(
                f"next: diffusion-path hint {report.task.id} {failing.function}   (more help, a level at a time)"
            )
    return lines


def _check_once(args: argparse.Namespace, task, order: list[str] | None) -> object:
    from diffusion_path.check import run_checks

    start = time.perf_counter()
    if not args.json:
        where = "the reference solution" if args.impl is None else args.impl
        _print(f"{task.id} · {task.title} — checking {where}")
    on_result = None if args.json else (lambda r: [_print(line) for line in _result_lines(r)])
    report = run_checks(
        task, args.impl, only=order or args.only, timeout=args.timeout, on_result=on_result
    )
    if args.json:
        _print(json.dumps(report.to_dict(), indent=1))
    else:
        for line in _report_footer(report, time.perf_counter() - start):
            _print(line)
    if args.impl is not None:
        from diffusion_path.check import implementation_path
        from diffusion_path.check.store import save

        save(report, implementation_path(task, args.impl), total=report.total or None)
    return report


def _check(args: argparse.Namespace) -> int:
    from diffusion_path.tasks import get_task

    task = get_task(args.task)
    if not task.ready:
        raise ValueError(f"task {task.id!r} has no checks yet: its page says what is coming")
    if args.timeout is not None and not args.timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {args.timeout}")
    args.timeout = args.timeout or 60.0
    if args.watch:
        if args.impl is None or args.json:
            raise ValueError("--watch needs --impl (your file) and cannot be combined with --json")
        return _watch(args, task)
    report = _check_once(args, task, None)
    if report.interrupted:
        return 130
    return 0 if report.passed else 1


def _watch(args: argparse.Namespace, task) -> int:
    """Check, then check again whenever the learner's file is saved; failing functions first."""
    from diffusion_path.check import implementation_path

    path = implementation_path(task, args.impl)
    order = args.only
    while True:
        stamp = path.stat().st_mtime_ns
        report = _check_once(args, task, order)
        if report.interrupted:
            return 130
        functions = [r.function for r in report.results] or order
        failing = [r.function for r in report.results if r.status != "passed"]
        order = failing + [f for f in functions or [] if f not in failing] or None
        _print(f"watching {path} for changes (Ctrl-C to stop)")
        try:
            while path.stat().st_mtime_ns == stamp:
                time.sleep(0.3)
        except KeyboardInterrupt:
            return 130
        except FileNotFoundError:
            time.sleep(0.3)
        _print()


# ----------------------------------------------------------------------------- progress, hint


def _ago(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"


def _progress(args: argparse.Namespace) -> int:
    from diffusion_path.check.store import fingerprint, load
    from diffusion_path.tasks import TASKS

    folder = Path(args.impl)
    if not folder.is_dir():
        raise ValueError(f"impl must be the folder of your exercise files; got {args.impl!r}")
    results = load(folder)
    _print(f"progress in {folder} (from your last checks)")
    now = time.time()
    for task in TASKS:
        if not task.ready:
            continue
        path = folder / task.exercise_file
        kept = results.get(task.id)
        if not path.is_file():
            state = f"○ not started     (no {task.exercise_file})"
        elif kept is None:
            state = f"· not checked yet (diffusion-path check {task.id} --impl {args.impl})"
        else:
            statuses = list(kept["functions"].values())
            passed, total = statuses.count("passed"), max(kept.get("total", 0), len(statuses))
            if kept["import_error"]:
                state = "✘ does not import"
            elif passed == total:
                state = f"✔ passed          {passed}/{total} functions"
            elif passed == 0 and all(s == "not implemented" for s in statuses):
                state = f"○ not started     0/{total} functions"
            else:
                state = f"✘ failing         {passed}/{total} functions"
            state += f", checked {_ago(now - kept['checked_at'])}"
            if fingerprint(path) != kept["sha256"]:
                state += "; changed since"
        _print(f"  {task.id:<7} {task.title:<42} {state}")
    return 0


def _hint(args: argparse.Namespace) -> int:
    from diffusion_path.check import load_contract
    from diffusion_path.exercises import solution_code
    from diffusion_path.tasks import get_task

    task = get_task(args.task)
    if not task.ready:
        raise ValueError(f"task {task.id!r} has no exercise yet: its page says what is coming")
    contract = load_contract(task)
    if args.function not in contract.functions:
        raise ValueError(
            f"function must be one of {', '.join(contract.functions)} for {task.id}; got {args.function!r}"
        )
    rungs = list(contract.spec(args.function).hints)
    levels = len(rungs) + 1
    level = args.level
    if not 1 <= level <= levels:
        raise ValueError(f"level must be between 1 and {levels} for {args.function}; got {level}")
    _print(f"{args.function} · hint {level} of {levels}")
    if level <= len(rungs):
        _print(f"  {rungs[level - 1]}")
        _print(f"(more: diffusion-path hint {task.id} {args.function} --level {level + 1})")
    else:
        _print("  The reference solution's code for this part:\n")
        for line in solution_code(task, args.function).rstrip().splitlines():
            _print(f"    {line}")
    return 0


# ----------------------------------------------------------------------------- train, sample


def _train(args: argparse.Namespace) -> int:
    from diffusion_path.diffusion.training import TrainConfig, TrainingDiverged, train_images

    defaults = TrainConfig(steps=4000, batch_size=64, lr=1e-3, warmup=200, ema_decay=0.998)
    config = TrainConfig(
        steps=args.steps or defaults.steps,
        batch_size=args.batch_size or defaults.batch_size,
        lr=args.lr or defaults.lr,
        warmup=min(defaults.warmup, (args.steps or defaults.steps) // 10),
        ema_decay=defaults.ema_decay,
        precision=args.precision,
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
    )
    start = time.perf_counter()
    try:
        path = train_images(
            args.out,
            args.data,
            config,
            device=args.device,
            root=args.root,
            download=args.download,
            resume=args.resume,
            progress=None,
        )
    except TrainingDiverged as error:
        print(f"diffusion-path: training stopped: {error}", file=sys.stderr)
        return 1
    minutes = (time.perf_counter() - start) / 60
    _print(f"trained {config.steps} steps on {args.data} in {minutes:.1f} min")
    for name in ("model.pt", "samples.png", "loss.png", "checkpoint.pt"):
        _print(f"wrote {Path(args.out) / name}")
    _print(f"next: diffusion-path sample {path} --out {Path(args.out) / 'samples'}")
    return 0


def _sample(args: argparse.Namespace) -> int:
    import torch

    from diffusion_path.diffusion.ddim import ddim_sample
    from diffusion_path.diffusion.reverse import ddpm_sample
    from diffusion_path.diffusion.training import load_model, resolve_device
    from diffusion_path.tools import validation
    from diffusion_path.tools.plotting import image_grid

    validation.positive_int(args.num, "num")
    validation.positive_int(args.batch_size, "batch_size")
    device = resolve_device(args.device)
    model, schedule, info = load_model(args.checkpoint, device)
    shape = (args.num, model.config.in_channels, model.config.image_size, model.config.image_size)
    if args.sampler == "ddpm" and args.steps not in (None, schedule.T):
        raise ValueError(
            f"steps must be T = {schedule.T} for the DDPM sampler (or use --sampler ddim), got {args.steps}"
        )
    generator = torch.Generator(device=device).manual_seed(args.seed)
    start = time.perf_counter()
    batches = []
    for first in range(0, args.num, args.batch_size):
        size = min(args.batch_size, args.num - first)
        if args.sampler == "ddpm":
            x = ddpm_sample(model, (size, *shape[1:]), schedule, clip_x0=True, generator=generator)
        else:
            x = ddim_sample(
                model,
                (size, *shape[1:]),
                schedule,
                num_steps=args.steps or 100,
                eta=args.eta,
                clip_x0=True,
                generator=generator,
            )
        batches.append(x.cpu())
    samples = torch.cat(batches)
    seconds = time.perf_counter() - start
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(samples, out / "samples.pt")
    label = f"{args.sampler.upper()} {args.steps or (schedule.T if args.sampler == 'ddpm' else 100)} steps"
    image_grid(samples[:64], columns=8, title=f"{info['data']}: {label}").savefig(
        out / "samples.png", dpi=120
    )
    _print(
        f"{args.num} samples with {label} in {seconds:.1f} s ({seconds / args.num * 1000:.1f} ms each)"
    )
    if info["data"] == "digits":
        from diffusion_path.tools.metrics import digits_fd

        _print(str(digits_fd(samples)))
    _print(f"wrote {out / 'samples.pt'} and {out / 'samples.png'}")
    return 0


# ----------------------------------------------------------------------------- figures, bench


def _figures(args: argparse.Namespace) -> int:
    if args.quick:
        from diffusion_path.tools.budget import QUICK

        os.environ[QUICK] = "true"
    from diffusion_path.figures import figure_names, render, uses_impl, write_figure
    from diffusion_path.tasks import TASKS, get_task

    tasks = [get_task(t) for t in args.task] if args.task else list(TASKS)
    if args.impl is None:
        for task in tasks:
            for path in render(task, args.out):
                _print(f"wrote {path}")
        return 0
    from diffusion_path.check import implementation_path, load_implementation

    failed = 0
    for task in tasks:
        if not task.ready:
            raise ValueError(f"task {task.id!r} has no exercise yet: nothing to draw with yours")
        path = implementation_path(task, args.impl)
        try:
            impl = load_implementation(task, path)
        except Exception as error:  # the learner's file: say what is wrong, in one line
            _print(f"{task.id}: could not import {path}: {type(error).__name__}: {error}")
            failed += 1
            continue
        names = [name for name in figure_names(task) if uses_impl(task, name)]
        if not names:
            _print(f"{task.id}: no figure of this task uses your functions")
        for name in names:
            _print(f"drawing {task.id}/{name} with your functions ...")
            try:
                _print(f"wrote {write_figure(task, name, args.out, impl)}")
            except NotImplementedError:
                _print(f"skipped {task.id}/{name}: it needs a function you have not written yet")
            except Exception as error:
                message = f"{type(error).__name__}: {error}".splitlines()[0]
                _print(f"could not draw {task.id}/{name} with your functions: {message}")
                failed += 1
    return 1 if failed else 0


def _bench(args: argparse.Namespace) -> int:
    from diffusion_path.figures import table, table_names

    names = table_names()
    if args.list:
        _print("\n".join(names))
        return 0
    for name in args.name or names:
        if name not in names:
            raise ValueError(f"name must be one of {', '.join(names)}; got {name!r}")
        task_id, table_name = name.split("/")
        start = time.perf_counter()
        text = table(task_id, table_name)
        _print(f"## {name}  ({time.perf_counter() - start:.1f} s)\n\n{text.strip()}\n")
    return 0


# ----------------------------------------------------------------------------- the parser


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
    check.add_argument(
        "--only", metavar="FUNCTION", action="append", help="check only this function (repeatable)"
    )
    check.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="time limit per function (default 60)"
    )
    check.add_argument("--watch", action="store_true", help="check again on every save of the file")
    check.add_argument("--json", action="store_true", help="print the results as JSON")
    check.set_defaults(run=_check)

    progress = commands.add_parser("progress", help="where each task stands in your folder")
    progress.add_argument("--impl", metavar="DIR", default=".", help="your folder (default: .)")
    progress.set_defaults(run=_progress)

    hint = commands.add_parser("hint", help="a hint for one function, one level at a time")
    hint.add_argument("task", metavar="TASK", help="task id, e.g. core-2")
    hint.add_argument("function", metavar="FUNCTION", help="the function you are writing")
    hint.add_argument("--level", type=int, default=1, help="1: a nudge ... last: the code")
    hint.set_defaults(run=_hint)

    train = commands.add_parser("train", help="train a diffusion model on images (Core Task 5)")
    train.add_argument(
        "--out", required=True, metavar="DIR", help="folder for the model, samples and curves"
    )
    train.add_argument(
        "--data",
        default="digits",
        choices=("digits", "mnist", "fashion-mnist", "cifar10"),
        help="digits: scikit-learn's 8x8 digits, offline (default); the others through torchvision",
    )
    train.add_argument("--root", metavar="DIR", help="where torchvision's files are (or go)")
    train.add_argument("--download", action="store_true", help="fetch the torchvision data set")
    train.add_argument("--steps", type=int, help="optimisation steps (default 4000)")
    train.add_argument("--batch-size", type=int, help="examples per step (default 64)")
    train.add_argument("--lr", type=float, help="peak learning rate (default 1e-3)")
    train.add_argument(
        "--precision", default="fp32", choices=("fp32", "bf16"), help="bf16: mixed precision"
    )
    train.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default auto)")
    train.add_argument("--seed", type=int, default=0, help="seed of every random draw")
    train.add_argument(
        "--checkpoint-every", type=int, default=500, metavar="STEPS", help="(default 500)"
    )
    train.add_argument("--resume", metavar="CHECKPOINT", help="continue from DIR/checkpoint.pt")
    train.set_defaults(run=_train)

    sample = commands.add_parser(
        "sample", help="draw samples from a trained model (Core Tasks 5-6)"
    )
    sample.add_argument(
        "checkpoint", metavar="CHECKPOINT", help="model.pt written by diffusion-path train"
    )
    sample.add_argument(
        "--sampler", default="ddim", choices=("ddpm", "ddim"), help="(default ddim)"
    )
    sample.add_argument("--steps", type=int, help="DDIM steps (default 100); DDPM always takes T")
    sample.add_argument(
        "--eta", type=float, default=0.0, help="DDIM's eta (default 0: deterministic)"
    )
    sample.add_argument("--num", type=int, default=64, help="how many samples (default 64)")
    sample.add_argument(
        "--batch-size", type=int, default=500, help="samples per batch (default 500)"
    )
    sample.add_argument("--seed", type=int, default=0, help="seed of the noise")
    sample.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    sample.add_argument(
        "--out", default="samples", metavar="DIR", help="output folder (default samples)"
    )
    sample.set_defaults(run=_sample)

    figures = commands.add_parser("figures", help="regenerate the figures the pages show")
    figures.add_argument("task", metavar="TASK", nargs="*", help="task ids (default: all)")
    figures.add_argument("--out", default="figures", metavar="DIR", help="output folder")
    figures.add_argument(
        "--impl", metavar="PATH", help="draw with your functions (the figures that use them)"
    )
    figures.add_argument(
        "--quick",
        action="store_true",
        help="train for a few steps only: rough figures in seconds, to see that yours draw",
    )
    figures.set_defaults(run=_figures)

    bench = commands.add_parser("bench", help="recompute the tables the pages show")
    bench.add_argument(
        "name", metavar="TASK/TABLE", nargs="*", help="e.g. pre-2/ais (default: all)"
    )
    bench.add_argument("--list", action="store_true", help="list the tables and exit")
    bench.set_defaults(run=_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 checks failed, 2 bad input, 130 Ctrl-C)."""
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except _UsageError as error:
        print(error, file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"diffusion-path: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``diffusion-path check ... | head``): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
