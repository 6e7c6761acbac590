"""The pages: every ```python block runs, and every ready task page has the task page shape."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from diffusion_path.tasks import TASKS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if not {"_hooks", "_stored"} & set(p.parts))

# A fence opens with ``` or ~~~ (any indent, as inside admonitions and tabs) and closes with the same.
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL,
)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """The ```python blocks of a page, dedented, with their line numbers."""
    blocks = []
    for match in FENCE.finditer(text):
        if match.group("lang") in ("python", "py"):
            line = text.count("\n", 0, match.start()) + 1
            blocks.append((line, textwrap.dedent(match.group("body"))))
    return blocks


def test_fence_finder_sees_indented_blocks():
    text = "??? note\n    ```python\n    x = 1\n    ```\n\n```bash\nls\n```\n"
    assert python_blocks(text) == [(2, "x = 1\n")]


PAGES_WITH_CODE = [p for p in PAGES if python_blocks(p.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=lambda p: str(p.relative_to(DOCS)))
def test_python_blocks_on_page_run(page, tmp_path, monkeypatch):
    """The blocks of a page run in order in one namespace, as a reader would paste them."""
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__page__"}
    for line, code in python_blocks(page.read_text(encoding="utf-8")):
        try:
            exec(compile(code, f"{page.relative_to(DOCS)}:{line}", "exec"), namespace)
        except Exception as error:
            raise AssertionError(
                f"{page.relative_to(DOCS)}, block at line {line}: {error!r}"
            ) from error


SHAPE = [
    "## Why this matters",
    "## Theory",
    "## Your task",
    "## Check your work",
    "## Reference solution",
    "## Experiments",
    "## Summary",
    "## Exercises",
    "## What comes next",
]


@pytest.mark.parametrize("task", [t for t in TASKS if t.ready], ids=lambda t: t.id)
def test_ready_task_page_has_the_task_page_shape(task):
    text = (DOCS / task.page).read_text(encoding="utf-8")
    positions = [text.find(heading + "\n") for heading in SHAPE]
    missing = [h for h, pos in zip(SHAPE, positions, strict=True) if pos < 0]
    assert not missing, f"{task.page} lacks {missing}"
    assert positions == sorted(positions), f"{task.page}: sections out of order"
    assert f"diffusion-path check {task.id} --impl" in text
    assert '??? success "Reference solution' in text
    for module in task.modules:
        assert f"::: {module}" in text, f"{task.page} does not pull {module} with :::"
    assert re.search(r"\\tag\{(?:[PC]\d+\.)?\d+\}", text), f"{task.page} numbers no equation"
    assert "arxiv.org/abs/" in text or "bibliography.md#" in text, f"{task.page} cites no paper"


def _hook():
    """The site hook, imported as MkDocs imports it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("site_hook", DOCS / "_hooks" / "site.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _flatten(nav) -> list[str]:
    out = []
    for item in nav:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict):
            for value in item.values():
                out += _flatten(value) if isinstance(value, list) else [value]
    return out


def test_the_path_map_comes_from_the_registry_in_order_with_times():
    assert "<!-- registry: path -->" in (DOCS / "index.md").read_text(encoding="utf-8")
    table = _hook().registry_list("path", "index.md")
    rows = table.splitlines()[2:]
    assert len(rows) == len(TASKS)
    for task, row in zip(TASKS, rows, strict=True):
        assert f"]({task.page})" in row and f"| {task.duration} |" in row
        assert ("*(coming)*" in row) != task.ready, f"{task.id}: ready is {task.ready}"


def test_every_page_and_notebook_is_in_the_navigation():
    hook = _hook()
    nav = _flatten(hook.navigation())
    generated = {uri for uri, _, _ in hook.api_pages()}
    for page in PAGES:
        assert str(page.relative_to(DOCS)) in nav, f"{page} is not in the navigation"
    for notebook in (DOCS / "notebooks").glob("*.ipynb"):
        assert f"notebooks/{notebook.name}" in nav, f"{notebook.name} matches no task's notebook"
    assert generated <= set(nav)
    for task in TASKS:
        assert task.page in nav


def test_readme_path_table_matches_the_registry():
    """README's table of the path lists the registry's tasks, in order, with their titles and prerequisites."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if re.match(r"\| (Pre|Core)-? ?Task \d", line)]
    assert len(rows) == len(TASKS), rows
    for task, row in zip(TASKS, rows, strict=True):
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        needs = ", ".join(next(t.label for t in TASKS if t.id == n) for n in task.needs) or "—"
        assert cells == [task.label, task.title, needs], (
            f"README row {cells} disagrees with {task.id}"
        )


def test_task_pages_are_titled_as_the_registry_says():
    for task in TASKS:
        first = (DOCS / task.page).read_text(encoding="utf-8").splitlines()[0]
        assert first == f"# {task.label} · {task.title}", f"{task.page}: {first!r}"
