"""MkDocs hooks: the site's lists come from the task registry, its figures and tables from the library.

- the navigation, the path map on the home page, the task lists of the Pre-Task and Core Task
  indexes, the notebooks index and the API reference (one generated page per module) are all
  made from ``diffusion_path.tasks.TASKS``: a task is typed in one place;
- every figure of every task (``diffusion_path.figures``) is added to the site as
  ``figures/<task-id>/<name>.png``, the data of its interactive figures as
  ``data/<task-id>/<name>.json``, and a line ``<!-- table: <task-id>/<name> -->`` in a page is
  replaced by the table; ``<!-- registry: <list> -->`` is replaced by a list made from the registry;
- a line ``<!-- bench: <name> -->`` is replaced by the table and the figure of the benchmark's saved
  result, ``docs/_stored/bench/<name>.json`` (``diffusion-path bench <name> --save`` writes it; no
  build reruns a benchmark: its numbers are a measurement on the machine the file names);
- results are the stored copies of ``docs/_stored/`` (see ``store.py``), executed notebooks
  included, unless ``DIFFUSION_PATH_EXECUTE=true`` asks for everything to be made afresh, as the
  test suite and the Pages workflow do;
- notebook pages lose the script tags that the notebook converter points at a CDN or at
  nothing (MathJax, Mermaid): KaTeX, shipped with the site, typesets their math instead.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import re
import sys
import tempfile
from pathlib import Path

from mkdocs.structure.files import File, Files

from diffusion_path import bench, figures
from diffusion_path.tasks import TASKS, Task

sys.path.insert(0, str(Path(__file__).parent))
import store

log = logging.getLogger("mkdocs.hooks.site")

DOCS = Path(__file__).resolve().parents[1]
TABLE = re.compile(r"^<!--\s*table:\s*([\w-]+)/([\w-]+)\s*-->[ \t]*$", re.MULTILINE)
BENCH = re.compile(r"^<!--\s*bench:\s*([\w-]+)\s*-->[ \t]*$", re.MULTILINE)
REGISTRY = re.compile(r"^<!--\s*registry:\s*([\w-]+)\s*-->[ \t]*$", re.MULTILINE)
# A script loaded from another host, or with an empty ``src`` (which re-requests the page).
REMOTE_SCRIPT = re.compile(
    r"<script[^>]*\ssrc=[\"'](?:https?:)?(?://[^\"']*)?[\"'][^>]*>\s*</script>", re.IGNORECASE
)
#: Modules of the library that are not a task's, in the order the API index lists them.
INFRASTRUCTURE = (
    "diffusion_path.tasks",
    "diffusion_path.check",
    "diffusion_path.contracts",
    "diffusion_path.exercises",
    "diffusion_path.figures",
)


# ----------------------------------------------------------------------------- the registry's lists


def _title(module: str) -> str:
    """The first line of a module's docstring, without its trailing full stop."""
    doc = (importlib.import_module(module).__doc__ or module).strip().splitlines()[0]
    return doc.rstrip(".")


def _tools() -> list[str]:
    package = importlib.import_module("diffusion_path.tools")
    return [f"diffusion_path.tools.{m.name}" for m in pkgutil.iter_modules(package.__path__)]


def api_pages() -> list[tuple[str, str, str]]:
    """``(uri, nav title, module)`` of every generated API page, tasks first, in learning order."""
    pages = []
    for task in TASKS:
        for module in task.modules:
            short = module.rsplit(".", 1)[1]
            pages.append((f"reference/api/{short}.md", f"{task.label} · {short}", module))
    for module in _tools() + list(INFRASTRUCTURE):
        short = module.rsplit(".", 1)[1]
        pages.append(
            (
                f"reference/api/{short}.md",
                f"{'Tool' if '.tools.' in module else 'Site and checker'} · {short}",
                module,
            )
        )
    return pages


def _notebook_tasks() -> list[Task]:
    return [task for task in TASKS if (DOCS / task.notebook).is_file()]


def navigation() -> list:
    """The site's navigation, made from the registry."""
    pre = [t for t in TASKS if t.kind == "Pre-Task"]
    core = [t for t in TASKS if t.kind == "Core Task"]
    return [
        {"Home": "index.md"},
        {"Pre-Tasks": ["pre/index.md", *({f"{t.number} · {t.short}": t.page} for t in pre)]},
        {"Core Tasks": ["core/index.md", *({f"{t.number} · {t.short}": t.page} for t in core)]},
        {
            "Notebooks": [
                "notebooks/index.md",
                *({f"{t.label} · {t.short}": t.notebook} for t in _notebook_tasks()),
            ]
        },
        {
            "Reference": [
                {"Notation": "reference/notation.md"},
                {"Bibliography": "reference/bibliography.md"},
                {"Command line": "reference/cli.md"},
                {"Performance": "reference/performance.md"},
                {
                    "API": [
                        "reference/api/index.md",
                        *({title: uri} for uri, title, _ in api_pages()),
                    ]
                },
            ]
        },
        {"Contributing": "contributing.md"},
    ]


def _relative(from_page: str, to_page: str) -> str:
    depth = from_page.count("/")
    return "../" * depth + to_page


def registry_list(name: str, page: str) -> str:
    """The Markdown that ``<!-- registry: name -->`` stands for on ``page``."""
    if name == "path":
        rows = ["| task | what you build | do first | time |", "|---|---|---|---|"]
        for task in TASKS:
            link = f"[{task.label} · {task.short}]({_relative(page, task.page)})"
            coming = "" if task.ready else " *(coming)*"
            needs = ", ".join(_label(n) for n in task.needs) or "—"
            rows.append(f"| {link}{coming} | {task.summary} | {needs} | {task.duration} |")
        return "\n".join(rows)
    if name in ("pre", "core"):
        kind = "Pre-Task" if name == "pre" else "Core Task"
        return "\n".join(
            f"{t.number}. [{t.short}]({_relative(page, t.page)}) — {t.summary}"
            + ("" if t.ready else " *(coming)*")
            for t in TASKS
            if t.kind == kind
        )
    if name == "notebooks":
        return "\n".join(
            f"- [{t.label} · {t.title}]({_relative(page, t.notebook)})" for t in _notebook_tasks()
        )
    if name == "api":
        lines = []
        for uri, title, module in api_pages():
            lines.append(f"- [{title}]({_relative(page, uri)}) — {_title(module)}")
        return "\n".join(lines)
    raise ValueError(f"registry list must be path, pre, core, notebooks or api; got {name!r}")


def _label(task_id: str) -> str:
    return next(t.label for t in TASKS if t.id == task_id)


# ----------------------------------------------------------------------------- the hooks


def on_config(config):
    config["nav"] = navigation()
    return config


def _stored_or_fresh(name: str, make) -> bytes:
    """The stored copy of result ``name``, or (when executing, or if there is none) a fresh one."""
    path = store.STORE / name
    if store.executing() or not path.is_file():
        return make()
    return path.read_bytes()


def on_files(files: Files, config) -> Files:
    if not store.executing():
        stale = store.stale()
        if stale:
            log.warning(
                "%d stored result(s) are stale or missing (%s); run `%s` to remake them",
                len(stale),
                ", ".join(stale[:3]) + (", ..." if len(stale) > 3 else ""),
                store.REFRESH,
            )
    task_modules = {module for task in TASKS for module in task.modules}
    for uri, _, module in api_pages():
        content = f"# `{module.removeprefix('diffusion_path.')}`\n\n::: {module}\n"
        if module in task_modules:
            # a task's code is its solution: it stays folded on the task's page, not shown here
            content += "    options:\n      show_source: false\n"
        files.append(File.generated(config, uri, content=content))
    for task in TASKS:
        for name in figures.figure_names(task):
            uri = f"figures/{task.id}/{name}.png"
            content = _stored_or_fresh(uri, lambda t=task, n=name: figures.figure_bytes(t, n))
            files.append(File.generated(config, uri, content=content))
        for name in figures.data_names(task):
            uri = f"data/{task.id}/{name}.json"
            result = store.Result(uri, "data", task.id, name)
            content = _stored_or_fresh(uri, lambda r=result: store.make(r))
            files.append(File.generated(config, uri, content=content))
        stored = store.STORE / task.notebook
        notebook = files.get_file_from_path(task.notebook)
        if notebook is not None and not store.executing() and stored.is_file():
            # the page is made from the notebook with its stored outputs put back
            out = Path(tempfile.mkdtemp(prefix="dp-notebooks-")) / task.notebook
            notebook.abs_src_path = str(
                store.with_stored_outputs(Path(notebook.abs_src_path), stored, out)
            )
    for name in bench.names():
        if bench.stored_path(name, DOCS.parent).is_file():
            content = _bench_figure(name)
            files.append(File.generated(config, f"figures/bench/{name}.png", content=content))
    return files


def _bench_figure(name: str) -> bytes:
    import io

    buffer = io.BytesIO()
    bench.figure(bench.load(name, DOCS.parent)).savefig(
        buffer, format="png", dpi=110, bbox_inches="tight"
    )
    return buffer.getvalue()


def bench_section(name: str, page: str) -> str:
    """The Markdown that ``<!-- bench: name -->`` stands for on ``page``: the table and the figure."""
    if not bench.stored_path(name, DOCS.parent).is_file():
        # not a warning: a page may go out before its benchmark is measured, and says so
        log.info("%s shows benchmark %r, which has no saved result yet", page, name)
        return (
            f'!!! note "Not yet measured"\n    This benchmark has no saved result yet: '
            f"`diffusion-path bench {name} --save`, run from the repository's root, measures it "
            f"and writes `docs/_stored/bench/{name}.json`, which this page then shows.\n"
        )
    result = bench.load(name, DOCS.parent)
    image = _relative(page, f"figures/bench/{name}.png")
    return (
        bench.table(result)
        + f"\n\n![The {name} benchmark, drawn from its saved result]({image}){{ .figure }}\n"
    )


def on_page_markdown(markdown: str, page, config, files) -> str:
    def table(match: re.Match) -> str:
        task, name = match.group(1), match.group(2)
        uri = f"tables/{task}/{name}.md"
        return _stored_or_fresh(uri, lambda: figures.table(task, name).encode()).decode()

    markdown = TABLE.sub(table, markdown)
    markdown = BENCH.sub(lambda match: bench_section(match.group(1), page.file.src_uri), markdown)
    return REGISTRY.sub(lambda match: registry_list(match.group(1), page.file.src_uri), markdown)


def on_post_page(output: str, page, config) -> str:
    return REMOTE_SCRIPT.sub("", output)
