"""The figures and tables the pages show, regenerated from the library on every site build.

Each task with experiments has a module ``diffusion_path.figures.<slug>`` (e.g.
``pre_1``) defining

- ``FIGURES``: a dict from a figure name to a function returning a
  ``matplotlib.figure.Figure``; the page embeds it as ``figures/<task-id>/<name>.png``. A figure
  drawn with the task's own functions takes them as one argument, ``impl`` (the reference
  solution, or a learner's file with ``diffusion-path figures TASK --impl DIR``), and calls
  ``impl.q_sample`` rather than importing it;
- ``TABLES`` (optional): a dict from a table name to a function returning a Markdown
  table; a page shows it where it writes ``<!-- table: <task-id>/<name> -->``;
- ``DATA`` (optional): a dict from a name to a function returning the JSON-ready data of an
  interactive figure, served as ``data/<task-id>/<name>.json`` and drawn in the browser by
  ``docs/javascripts/figures.js``.

The site build calls [`render`][diffusion_path.figures.render] and
[`table`][diffusion_path.figures.table]; ``diffusion-path figures --out DIR`` writes
the same PNG files for anyone to look at, and ``diffusion-path bench`` recomputes the
tables (the pages' benchmarks of accuracy and sample quality) on the reader's machine.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from diffusion_path.tasks import Task, get_task, reference_namespace

__all__ = [
    "data",
    "data_names",
    "figure_bytes",
    "figure_names",
    "render",
    "table",
    "table_names",
    "tables_of",
    "uses_impl",
    "write_figure",
]


def _module(task: Task) -> ModuleType | None:
    try:
        return importlib.import_module(f"{__name__}.{task.slug}")
    except ModuleNotFoundError as error:
        if error.name != f"{__name__}.{task.slug}":
            raise
        return None


def _recipes(task: Task, kind: str) -> dict[str, Callable]:
    module = _module(task)
    return dict(getattr(module, kind, {})) if module else {}


def figure_names(task: Task | str) -> list[str]:
    """Names of the figures of ``task`` (an empty list when it has none).

    Examples:
        >>> "histogram" in figure_names("pre-1")
        True
    """
    task = get_task(task) if isinstance(task, str) else task
    return list(_recipes(task, "FIGURES"))


def figure_bytes(task: Task | str, name: str, dpi: int = 110, impl: object | None = None) -> bytes:
    """Render one figure of ``task`` to PNG bytes, drawn with ``impl``'s functions (default: the reference)."""
    import io

    task = get_task(task) if isinstance(task, str) else task
    recipes = _recipes(task, "FIGURES")
    if name not in recipes:
        raise ValueError(f"name must be one of {sorted(recipes)} for {task.id}, got {name!r}")
    recipe = recipes[name]
    if inspect.signature(recipe).parameters:
        if impl is None:
            impl = reference_namespace(task)
        figure = recipe(impl)
    else:
        figure = recipe()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def uses_impl(task: Task | str, name: str) -> bool:
    """Whether figure ``name`` of ``task`` is drawn with the task's own functions.

    Examples:
        >>> uses_impl("core-1", "progressive-noising")
        True
    """
    task = get_task(task) if isinstance(task, str) else task
    return bool(inspect.signature(_recipes(task, "FIGURES")[name]).parameters)


def render(task: Task | str, out: str | Path, impl: object | None = None) -> list[Path]:
    """Write every figure of ``task`` as ``out/<task-id>/<name>.png``; return the paths.

    With ``impl`` (a learner's implementation), only the figures drawn with the task's own
    functions are written, drawn with ``impl``'s.
    """
    task = get_task(task) if isinstance(task, str) else task
    names = [n for n in figure_names(task) if impl is None or uses_impl(task, n)]
    return [write_figure(task, name, out, impl) for name in names]


def write_figure(task: Task | str, name: str, out: str | Path, impl: object | None = None) -> Path:
    """Write figure ``name`` of ``task`` as ``out/<task-id>/<name>.png``; return its path."""
    task = get_task(task) if isinstance(task, str) else task
    path = Path(out) / task.id / f"{name}.png"
    data = figure_bytes(task, name, impl=impl)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def tables_of(task: Task | str) -> list[str]:
    """Names of the tables of ``task`` (an empty list when it has none).

    Examples:
        >>> tables_of("pre-2")
        ['ais']
    """
    task = get_task(task) if isinstance(task, str) else task
    return list(_recipes(task, "TABLES"))


def data_names(task: Task | str) -> list[str]:
    """Names of the interactive figures' data of ``task`` (an empty list when it has none)."""
    task = get_task(task) if isinstance(task, str) else task
    return list(_recipes(task, "DATA"))


def data(task: Task | str, name: str) -> dict:
    """Compute the data of interactive figure ``name`` of ``task`` (JSON-ready)."""
    task = get_task(task) if isinstance(task, str) else task
    recipes = _recipes(task, "DATA")
    if name not in recipes:
        raise ValueError(f"name must be one of {sorted(recipes)} for {task.id}, got {name!r}")
    return recipes[name]()


def table_names() -> list[str]:
    """Every table of every task, as ``"<task-id>/<name>"``: the benchmarks ``diffusion-path bench`` runs.

    Examples:
        >>> "pre-2/ais" in table_names()
        True
    """
    from diffusion_path.tasks import TASKS

    return [f"{task.id}/{name}" for task in TASKS for name in _recipes(task, "TABLES")]


def table(task: Task | str, name: str) -> str:
    """Compute the Markdown table ``name`` of ``task``."""
    task = get_task(task) if isinstance(task, str) else task
    recipes = _recipes(task, "TABLES")
    if name not in recipes:
        raise ValueError(f"name must be one of {sorted(recipes)} for {task.id}, got {name!r}")
    return recipes[name]()
