"""Stored results: what the site shows without running anything, and proof that it is not stale.

Every figure, table, interactive figure's data and executed notebook the site shows is made by the
library. Making them all takes minutes (notebooks train networks), so a normal ``mkdocs serve`` or
``mkdocs build`` shows copies stored under ``docs/_stored/``, and the test suite and the Pages
workflow make them afresh (``DIFFUSION_PATH_EXECUTE=true``) to prove that they still can be made.

A stored result cannot silently go stale: its entry in ``docs/_stored/manifest.json`` holds a key,
the SHA-256 of everything it was made from — the source files of the library modules it uses
(found by following ``diffusion_path`` imports, statically) and, for a notebook, its code cells.
``tests/test_site.py`` recomputes every key, which takes no time, and fails when one differs,
naming this script, which remakes what is stale::

    python docs/_hooks/store.py            # remake every stale or missing result
    python docs/_hooks/store.py --all      # remake everything
    python docs/_hooks/store.py --check    # only say what is stale (exit 1 if anything is)

A notebook's stored copy keeps only its outputs: the page is made from the notebook in
``docs/notebooks/`` with the stored outputs put back into its code cells, so editing a Markdown
cell needs no remaking.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SRC = ROOT / "src"
STORE = DOCS / "_stored"
MANIFEST = STORE / "manifest.json"
#: The one command that remakes stale results (printed when a check fails).
REFRESH = "python docs/_hooks/store.py"
#: Set to 1 to make every result afresh during the build instead of showing the stored copies.
EXECUTE = "DIFFUSION_PATH_EXECUTE"


def executing() -> bool:
    """Whether this build makes every result afresh (the test suite, the Pages workflow)."""
    return os.environ.get(EXECUTE, "").strip().lower() in ("1", "true", "yes")


# ----------------------------------------------------------------------------- keys


def _module_file(module: str, root: Path = ROOT) -> Path | None:
    base = root / "src" / Path(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(source: str, package: str) -> set[str]:
    """The ``diffusion_path`` modules a piece of source imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("diffusion_path")}
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: resolve against the importing package
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(parts + ([module] if module else []))
            if module.startswith("diffusion_path"):
                found.add(module)
                found |= {f"{module}.{a.name}" for a in node.names}
    return found


@functools.cache
def _file_imports(path: Path, stamp: tuple[int, int], package: str) -> frozenset[str]:
    """``_imports`` of a file, parsed once per version of it (``stamp``: its mtime and size)."""
    return frozenset(_imports(path.read_text(encoding="utf-8"), package))


def closure(modules: set[str], root: Path = ROOT) -> list[Path]:
    """Source files of ``modules`` and of every ``diffusion_path`` module they import, recursively."""
    seen: dict[str, Path] = {}
    todo = list(modules)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        path = _module_file(module, root)
        if path is None:  # a name imported from a module, not a module
            continue
        seen[module] = path
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        parents = [".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)]
        stat = path.stat()
        todo += parents + sorted(_file_imports(path, (stat.st_mtime_ns, stat.st_size), package))
    return sorted(set(seen.values()))


def _code_cells(notebook: dict) -> list[str]:
    return ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]


@dataclass(frozen=True)
class Result:
    """One stored result: what it is, where it is kept, and what it is made from."""

    name: str  # e.g. "figures/core-2/reverse-trajectory.png"
    kind: str  # "figure", "table", "data" or "notebook"
    task: str
    item: str  # the figure's, table's or data's name; the notebook's file name

    @property
    def path(self) -> Path:
        return STORE / self.name

    def sources(self, root: Path = ROOT) -> list[Path]:
        if self.kind == "notebook":
            notebook = json.loads(
                (root / "docs" / "notebooks" / self.item).read_text(encoding="utf-8")
            )
            modules = set().union(*(_imports(c, "") for c in _code_cells(notebook) if _parses(c)))
            return closure(modules, root)
        from diffusion_path.tasks import get_task

        task = get_task(self.task)
        modules = {f"diffusion_path.figures.{task.slug}", "diffusion_path.figures", *task.modules}
        return closure(modules, root)

    def key(self, root: Path = ROOT) -> str:
        digest = hashlib.sha256(self.name.encode())
        for path in self.sources(root):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
        if self.kind == "notebook":
            notebook = json.loads(
                (root / "docs" / "notebooks" / self.item).read_text(encoding="utf-8")
            )
            for cell in _code_cells(notebook):
                digest.update(cell.encode())
        return digest.hexdigest()


def _parses(source: str) -> bool:
    try:
        ast.parse(source)
    except SyntaxError:  # a cell with IPython magics
        return False
    return True


def results() -> list[Result]:
    """Every result the site shows, in the registry's order."""
    from diffusion_path import figures
    from diffusion_path.tasks import TASKS

    out = []
    for task in TASKS:
        out += [
            Result(f"figures/{task.id}/{n}.png", "figure", task.id, n)
            for n in figures.figure_names(task)
        ]
        out += [
            Result(f"tables/{task.id}/{n}.md", "table", task.id, n) for n in figures.tables_of(task)
        ]
        out += [
            Result(f"data/{task.id}/{n}.json", "data", task.id, n) for n in figures.data_names(task)
        ]
        if (DOCS / task.notebook).is_file():
            out.append(Result(task.notebook, "notebook", task.id, Path(task.notebook).name))
    return out


def manifest() -> dict:
    try:
        return json.loads(MANIFEST.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def stale(root: Path = ROOT, kept: dict | None = None) -> list[str]:
    """Names of the results that are missing from the store or whose key has changed."""
    kept = manifest() if kept is None else kept
    out = []
    for result in results():
        entry = kept.get(result.name)
        stored = root / "docs" / "_stored" / result.name
        if entry is None or not stored.is_file() or entry["key"] != result.key(root):
            out.append(result.name)
    return out


# ----------------------------------------------------------------------------- making results


def make(result: Result) -> bytes:
    """Make ``result`` afresh and return the bytes to store."""
    from diffusion_path import figures

    if result.kind == "figure":
        return figures.figure_bytes(result.task, result.item)
    if result.kind == "table":
        return figures.table(result.task, result.item).encode()
    if result.kind == "data":
        return json.dumps(figures.data(result.task, result.item), separators=(",", ":")).encode()
    return _executed_outputs(DOCS / "notebooks" / result.item)


def _executed_outputs(path: Path) -> bytes:
    """Execute a notebook top to bottom; keep only its code cells' sources and outputs."""
    import nbclient
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(
        notebook,
        timeout=1800,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    cells = [
        {"source": cell.source, "outputs": cell.outputs, "execution_count": cell.execution_count}
        for cell in notebook.cells
        if cell.cell_type == "code"
    ]
    return json.dumps({"cells": cells}, indent=0).encode()


def with_stored_outputs(source: Path, stored: Path, out: Path) -> Path:
    """Write ``source`` with the stored outputs put back into its code cells; return ``out``."""
    notebook = json.loads(source.read_text(encoding="utf-8"))
    kept = json.loads(stored.read_text(encoding="utf-8"))["cells"]
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    for cell, done in zip(code, kept, strict=False):
        if "".join(cell["source"]) == done["source"]:
            cell["outputs"], cell["execution_count"] = done["outputs"], done["execution_count"]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(notebook, indent=1), encoding="utf-8")
    return out


def refresh(names: list[str] | None = None, everything: bool = False) -> list[str]:
    """Remake ``names`` (default: every stale result, or all with ``everything``); update the manifest."""
    kept = manifest()
    todo = names or ([r.name for r in results()] if everything else stale(ROOT, kept))
    by_name = {r.name: r for r in results()}
    for name in todo:
        result = by_name[name]
        start = time.perf_counter()
        data = make(result)
        result.path.parent.mkdir(parents=True, exist_ok=True)
        result.path.write_bytes(data)
        kept[name] = {"key": result.key(), "seconds": round(time.perf_counter() - start, 1)}
        print(f"made {name} ({kept[name]['seconds']} s)", flush=True)
    for name in list(kept):
        if name not in by_name:
            del kept[name]
    MANIFEST.parent.mkdir(parents=True, exist_ok=True)
    MANIFEST.write_text(json.dumps(kept, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return todo


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(SRC))
    os.environ.pop("DIFFUSION_PATH_QUICK", None)  # stored results are full runs
    if "--check" in argv:
        names = stale()
        for name in names:
            print(f"stale: {name}")
        return 1 if names else 0
    named = [a for a in argv if not a.startswith("--")]
    done = refresh(named or None, everything="--all" in argv)
    print(f"{len(done)} result(s) made; the store is up to date." if done else "Nothing was stale.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
