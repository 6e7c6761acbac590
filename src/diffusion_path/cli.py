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


def _threads(value: int | None) -> None:
    """Use ``value`` CPU threads (``None``: PyTorch's choice, one per core)."""
    if value is None:
        return
    import torch

    from diffusion_path.tools import validation

    torch.set_num_threads(validation.positive_int(value, "threads"))


def _unet_settings(text: str | None, data: str, size: int | None):
    """The U-Net of ``--unet`` (JSON settings over the data set's default), or None for the default."""
    if text is None:
        return None
    from diffusion_path.diffusion.training import default_unet
    from diffusion_path.diffusion.unet import UNetConfig

    try:
        settings = json.loads(text)
    except json.JSONDecodeError:
        settings = None
    if not isinstance(settings, dict) or not set(settings) <= set(UNetConfig.FIELDS):
        raise ValueError(
            f"unet must be a JSON object of UNetConfig settings ({', '.join(UNetConfig.FIELDS)}), "
            f"got {text!r}"
        )
    base = default_unet(data, size)
    merged = {name: getattr(base, name) for name in UNetConfig.FIELDS} | settings
    for name in ("channel_mults", "attention_resolutions"):
        merged[name] = tuple(merged[name])
    return UNetConfig(**merged)


def _ddim_grid(model, num, image_shape, schedule, generator):
    """The training run's sample grids: DDIM with 50 steps (Core Task 6), a twentieth of DDPM's time."""
    from diffusion_path.diffusion.ddim import ddim_sample

    return ddim_sample(
        model,
        (num, *image_shape),
        schedule,
        num_steps=min(50, schedule.T),
        clip_x0=True,
        generator=generator,
        progress=False,
    )


def _train(args: argparse.Namespace) -> int:
    import dataclasses

    import torch

    from diffusion_path.diffusion.training import (
        TrainingDiverged,
        default_config,
        train_images,
    )

    start = time.perf_counter()
    _threads(args.threads)
    defaults = default_config(args.data)
    steps = defaults.steps if args.steps is None else args.steps
    changes = {
        "steps": steps,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "ema_decay": args.ema_decay,
        "precision": args.precision,
        "seed": args.seed,
        "checkpoint_every": args.checkpoint_every,
    }
    config = dataclasses.replace(
        defaults, **{name: value for name, value in changes.items() if value is not None}
    )
    if isinstance(steps, int) and steps > 0:
        config = dataclasses.replace(
            config,
            warmup=min(config.warmup, steps // 10),
            log_every=min(config.log_every, steps),
            checkpoint_every=min(config.checkpoint_every, steps),
        )
    unet = _unet_settings(args.unet, args.data, args.size)
    rank = int(os.environ.get("RANK", "0"))
    try:
        path = train_images(
            args.out,
            args.data,
            config,
            unet=unet,
            T=args.T,
            schedule=args.schedule,
            size=args.size,
            device=args.device,
            root=args.root,
            download=args.download,
            resume=args.resume,
            sample_every=args.sample_every,
            grid=args.grid,
            sampler=_ddim_grid,
            progress=None if rank == 0 else False,
        )
    except TrainingDiverged as error:
        print(f"diffusion-path: training stopped: {error}", file=sys.stderr)
        return 1
    if rank != 0:
        return 0
    seconds = float(torch.load(path, weights_only=True)["seconds"])
    total = time.perf_counter() - start
    _print(
        f"trained {config.steps} steps on {args.data} in {total / 60:.1f} min in all "
        f"({seconds:.0f} s in the training loop, {config.steps / max(seconds, 1e-9):.1f} steps/s; "
        f"{torch.get_num_threads()} CPU thread(s))"
    )
    for name in ("model.pt", "samples.png", "loss.png", "checkpoint.pt"):
        _print(f"wrote {Path(args.out) / name}")
    _print(f"next: diffusion-path sample {path} --out {Path(args.out) / 'sampled'}")
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
    if args.steps is not None:
        validation.positive_int(args.steps, "steps")
    eta = validation.number(args.eta, "eta")
    if not 0.0 <= eta <= 1.0:
        raise ValueError(
            f"eta must be in [0, 1] (0: deterministic DDIM, 1: DDPM-like), got {eta:g}"
        )
    if args.sampler == "ddpm" and eta != 0.0:
        raise ValueError(f"eta is DDIM's: use it with --sampler ddim, got --eta {eta:g} with ddpm")
    _threads(args.threads)
    device = resolve_device(args.device)
    model, schedule, info = load_model(args.checkpoint, device)
    if args.sampler == "ddpm" and args.steps not in (None, schedule.T):
        raise ValueError(
            f"steps must be T = {schedule.T} for the DDPM sampler (or use --sampler ddim), got {args.steps}"
        )
    steps = schedule.T if args.sampler == "ddpm" else (args.steps or min(100, schedule.T))
    if steps > schedule.T:
        raise ValueError(f"steps must be at most T = {schedule.T}, the model's, got {steps}")
    shape = (model.config.in_channels, model.config.image_size, model.config.image_size)
    generator = torch.Generator(device=device).manual_seed(args.seed)
    start = time.perf_counter()
    batches = []
    for first in range(0, args.num, args.batch_size):
        size = min(args.batch_size, args.num - first)
        if args.sampler == "ddpm":
            x = ddpm_sample(model, (size, *shape), schedule, clip_x0=True, generator=generator)
        else:
            x = ddim_sample(
                model,
                (size, *shape),
                schedule,
                num_steps=steps,
                eta=eta,
                clip_x0=True,
                generator=generator,
            )
        batches.append(x.clamp(-1.0, 1.0).cpu())
    samples = torch.cat(batches)
    seconds = time.perf_counter() - start
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(samples, out / "samples.pt")
    label = f"{args.sampler.upper()}, {steps} steps" + (f", eta {eta:g}" if eta else "")
    image_grid(samples[:64], columns=8, title=f"{info['data']}: {label}").savefig(
        out / "samples.png", dpi=120
    )
    _print(
        f"{args.num} samples with {label} in {seconds:.1f} s ({seconds / args.num * 1000:.1f} ms each)"
    )
    if info["data"] == "digits" and 2 <= args.num <= 1258:
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


def _bench_options(chosen: list[str], pairs: list[str]) -> dict:
    """``--set KEY=VALUE`` as a benchmark's options, each value of the type of the option's default."""
    import inspect

    from diffusion_path import bench

    if len(chosen) != 1 or chosen[0] not in bench.names():
        raise ValueError(f"name must be one benchmark to take --set; got {', '.join(chosen)}")
    parameters = inspect.signature(bench.get(chosen[0]).run).parameters
    options: dict = {}
    for pair in pairs:
        key, equals, text = pair.partition("=")
        if not equals or key not in parameters or key == "echo":
            known = ", ".join(p for p in parameters if p != "echo")
            raise ValueError(f"set must be KEY=VALUE with KEY one of {known}; got {pair!r}")
        default = parameters[key].default
        try:
            if isinstance(default, bool):
                if text.lower() not in ("true", "false"):
                    raise ValueError(text)
                value: object = text.lower() == "true"
            elif isinstance(default, tuple | list):
                kind = type(default[0]) if default else float
                value = tuple(kind(item) for item in text.split(",") if item)
            elif isinstance(default, int | float):
                value = type(default)(text)
            elif default is None and key not in ("checkpoint", "work"):
                value = int(text) if text.lstrip("-").isdigit() else text
            else:
                value = text
        except ValueError:
            raise ValueError(
                f"set must give {key} a value like its default {default!r}; got {text!r}"
            ) from None
        options[key] = value
    return options


def _bench(args: argparse.Namespace) -> int:
    from diffusion_path import bench
    from diffusion_path.figures import table, table_names

    tables, benchmarks = table_names(), bench.names()
    if args.list:
        for name in benchmarks:
            _print(f"{name:<18} {bench.get(name).SUMMARY}")
        _print("\n".join(tables))
        return 0
    chosen = args.name or tables  # benchmarks take minutes: they run only when named
    for name in chosen:
        if name not in tables and name not in benchmarks:
            raise ValueError(f"name must be one of {', '.join(benchmarks + tables)}; got {name!r}")
    options = {"checkpoint": args.checkpoint, "num": args.num}
    if args.set:
        options.update(_bench_options(chosen, args.set))
    given = [f"--{key}" for key, value in options.items() if value is not None]
    given += ["--save"] if args.save else []
    if given and any(name in tables for name in chosen):
        raise ValueError(
            f"name must be a benchmark ({', '.join(benchmarks)}) to take {', '.join(given)}; "
            f"got {', '.join(n for n in chosen if n in tables)}"
        )
    if args.save:
        bench.check_root(".")
    for name in chosen:
        start = time.perf_counter()
        if name in benchmarks:
            result = bench.run(name, echo=_print, **options)
            text = bench.table(result)
        else:
            task_id, table_name = name.split("/")
            text = table(task_id, table_name)
        _print(f"## {name}  ({time.perf_counter() - start:.1f} s)\n\n{text.strip()}\n")
        if name in benchmarks and args.save:
            _print(f"wrote {bench.save(result)}")
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
    train.add_argument(
        "--root", default="data", metavar="DIR", help="where torchvision's files are (default data)"
    )
    train.add_argument("--download", action="store_true", help="fetch the torchvision data set")
    train.add_argument(
        "--size", type=int, metavar="PIXELS", help="upsample the digits (16, 32, ...; default 8)"
    )
    train.add_argument("--steps", type=int, help="optimisation steps (digits: 2500)")
    train.add_argument("--batch-size", type=int, help="examples per step (digits: 64)")
    train.add_argument("--lr", type=float, help="peak learning rate (digits: 1e-3)")
    train.add_argument(
        "--ema-decay", type=float, metavar="DECAY", help="decay of the weights' average (0.998)"
    )
    train.add_argument(
        "--schedule", default="cosine", choices=("cosine", "linear"), help="noise schedule"
    )
    train.add_argument("--T", type=int, default=1000, help="diffusion steps (default 1000)")
    train.add_argument(
        "--precision", default="fp32", choices=("fp32", "bf16"), help="bf16: mixed precision"
    )
    train.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default auto)")
    train.add_argument("--threads", type=int, help="CPU threads (default: one per core)")
    train.add_argument("--seed", type=int, default=0, help="seed of every random draw")
    train.add_argument("--checkpoint-every", type=int, metavar="STEPS", help="(digits: 500)")
    train.add_argument(
        "--sample-every", type=int, metavar="STEPS", help="a grid of samples (a quarter of the run)"
    )
    train.add_argument("--grid", type=int, default=64, help="samples per grid (default 64)")
    train.add_argument("--resume", metavar="CHECKPOINT", help="continue from DIR/checkpoint.pt")
    # the U-Net's settings as JSON over the default's (tests train a tiny one)
    train.add_argument("--unet", metavar="JSON", help=argparse.SUPPRESS)
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
        "--eta", type=float, default=0.0, help="DDIM's eta in [0, 1] (default 0: deterministic)"
    )
    sample.add_argument("--num", type=int, default=64, help="how many samples (default 64)")
    sample.add_argument(
        "--batch-size", type=int, default=500, help="samples per batch (default 500)"
    )
    sample.add_argument("--seed", type=int, default=0, help="seed of the noise")
    sample.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    sample.add_argument("--threads", type=int, help="CPU threads (default: one per core)")
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

    bench = commands.add_parser(
        "bench", help="rerun the benchmarks and recompute the tables the pages show"
    )
    bench.add_argument(
        "name",
        metavar="NAME",
        nargs="*",
        help="a benchmark (e.g. ddim) or a table TASK/TABLE (e.g. pre-2/ais); default: every table",
    )
    bench.add_argument("--list", action="store_true", help="list the benchmarks and tables")
    bench.add_argument(
        "--checkpoint", metavar="PATH", help="a benchmark's model (default: trained once, kept)"
    )
    bench.add_argument("--num", type=int, metavar="N", help="samples per setting (ddim: 500)")
    bench.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="a benchmark's option (repeatable), e.g. --set rounds=3 for bench train",
    )
    bench.add_argument(
        "--save",
        action="store_true",
        help="write the result to docs/_stored/bench/NAME.json, which the pages show",
    )
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
