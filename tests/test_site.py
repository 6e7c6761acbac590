"""The built site: strict build, notebooks executed, links and anchors resolve, nothing off the machine."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from diffusion_path.tasks import TASKS

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs" / "_hooks"))
import store  # noqa: E402  (the stored results: docs/_hooks/store.py)

NOTEBOOKS = sorted((ROOT / "docs" / "notebooks").glob("*.ipynb"))

pytestmark = pytest.mark.site


class _Page(HTMLParser):
    """Collects ids and the URLs a page links to or loads."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []  # <a href>: may leave the site
        self.loads: list[tuple[str, str]] = []  # what the browser fetches by itself

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name"):
            if attrs.get(key):
                self.ids.add(attrs[key])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        elif tag in ("script", "img", "iframe", "source", "audio", "video") and attrs.get("src"):
            self.loads.append((tag, attrs["src"]))
        elif tag == "link" and attrs.get("href"):
            self.loads.append((tag, attrs["href"]))


@functools.cache
def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if p.name != "404.html")


def _target(site: Path, page: Path, url: str) -> tuple[Path, str] | None:
    """The file and fragment a same-site URL points to, or None for other hosts and schemes."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return None
    path = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
    if parts.path.endswith("/") or path.is_dir():
        path = path / "index.html"
    return path, unquote(parts.fragment)


def test_every_task_page_and_notebook_is_built(built_site):
    for task in TASKS:
        page = built_site / task.page.removesuffix(".md") / "index.html"
        assert page.is_file(), f"{task.id}: {page} missing"
    for notebook in NOTEBOOKS:
        html = built_site / "notebooks" / notebook.stem / "index.html"
        assert html.is_file(), f"{notebook.name} was not rendered"


def test_notebooks_were_executed_by_the_build(built_site):
    """Notebooks are stored without outputs, so outputs on the site prove the build ran them."""
    for notebook in NOTEBOOKS:
        html = (built_site / "notebooks" / notebook.stem / "index.html").read_text(encoding="utf-8")
        assert "jp-OutputArea-output" in html, f"{notebook.name} shows no outputs"
        assert "Traceback" not in html, f"{notebook.name} shows an error"


def test_links_and_anchors_resolve(built_site):
    broken = []
    for page in _pages(built_site):
        parsed = _parse(page)
        urls = parsed.links + [url for _, url in parsed.loads]
        for url in urls:
            target = _target(built_site, page, url)
            if target is None:
                continue
            path, fragment = target
            where = f"{page.relative_to(built_site)} -> {url}"
            if not path.exists():
                broken.append(f"{where} (no file)")
            elif fragment and path.suffix == ".html" and fragment not in _parse(path).ids:
                broken.append(f"{where} (no anchor #{fragment})")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_no_script_stylesheet_or_image_comes_from_off_the_machine(built_site):
    remote = []
    for page in _pages(built_site):
        for tag, url in _parse(page).loads:
            if urlsplit(url).scheme in ("http", "https") or url.startswith("//") or url == "":
                remote.append(f"{page.relative_to(built_site)}: <{tag}> {url!r}")
    for css in built_site.rglob("*.css"):
        text = css.read_text(encoding="utf-8", errors="replace")
        for marker in (
            "url(http",
            "url('http",
            'url("http',
            "@import url(http",
            "fonts.googleapis",
        ):
            if marker in text:
                remote.append(f"{css.relative_to(built_site)}: {marker}")
    assert not remote, "\n".join(remote)


def test_katex_fonts_ship_in_every_format_the_stylesheet_names(built_site):
    css = (built_site / "assets" / "katex" / "katex.min.css").read_text(encoding="utf-8")
    for name in {part.split(")")[0] for part in css.split("url(")[1:]}:
        assert (built_site / "assets" / "katex" / name.strip("'\"")).is_file(), name


def test_stored_results_are_fresh():
    """Every result the site shows by default was made from the code and notebooks as they are now."""
    stale = store.stale()
    assert not stale, (
        f"{len(stale)} stored result(s) are stale or missing: {', '.join(stale)}. "
        f"Run `{store.REFRESH}` to remake them."
    )


def test_a_change_to_a_figures_code_makes_its_stored_result_stale(tmp_path):
    """In a scratch copy, editing one figure module marks that task's figures stale, and no others."""
    for part in ("src", "docs/notebooks", "docs/_stored"):
        shutil.copytree(ROOT / part, tmp_path / part)
    kept = store.manifest()
    assert store.stale(tmp_path, kept) == [], "the scratch copy starts fresh"
    module = tmp_path / "src/diffusion_path/figures/pre_3.py"
    original = module.read_text(encoding="utf-8")
    module.write_text(original.replace("size=3.4", "size=3.5"), encoding="utf-8")
    stale = store.stale(tmp_path, kept)
    assert stale and all(name.startswith("figures/pre-3/") for name in stale), stale
    module.write_text(original, encoding="utf-8")
    library = tmp_path / "src/diffusion_path/diffusion/reverse.py"
    library.write_text(library.read_text(encoding="utf-8") + "\n# a change\n", encoding="utf-8")
    stale = set(store.stale(tmp_path, kept))
    assert "notebooks/core-2-reverse-diffusion.ipynb" in stale
    assert "figures/core-2/reverse-trajectory.png" in stale
    assert not any(name.startswith(("figures/pre-", "notebooks/pre-")) for name in stale)


def test_no_page_shows_a_wall_of_progress_output(built_site):
    bar = re.compile(r"\d+%\|[^|]*\|\s*\d+/\d+|it/s\]|s/it\]")
    for page in _pages(built_site):
        text = page.read_text(encoding="utf-8")
        lines = sum(1 for line in text.splitlines() if bar.search(line))
        assert lines <= 5, f"{page.relative_to(built_site)} shows {lines} lines of progress output"


def test_the_default_build_shows_stored_results_strictly(tmp_path):
    """Without DIFFUSION_PATH_EXECUTE the build executes nothing and passes --strict."""
    env = {k: v for k, v in os.environ.items() if k != store.EXECUTE}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env={**env, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    assert "Converting notebook (execute=False)" in log and "execute=True" not in log
    page = (tmp_path / "site/notebooks/core-2-reverse-diffusion/index.html").read_text(
        encoding="utf-8"
    )
    assert "jp-OutputArea-output" in page, "the stored outputs are shown"


def test_notebooks_are_stored_without_outputs():
    for notebook in NOTEBOOKS:
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        for cell in cells:
            if cell["cell_type"] == "code":
                assert not cell["outputs"] and cell["execution_count"] is None, notebook.name


def test_a_failing_notebook_fails_the_build(tmp_path):
    """The guarantee the suite relies on: a cell that raises stops `mkdocs build --strict`."""
    import nbformat

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# Home\n")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("raise RuntimeError('broken cell')")]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(notebook, docs / "broken.ipynb")
    (tmp_path / "mkdocs.yml").write_text(
        textwrap.dedent(
            """\
            site_name: broken
            plugins:
              - mkdocs-jupyter:
                  execute: true
                  allow_errors: false
                  cache: false
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict"],
        cwd=tmp_path,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "broken cell" in result.stdout + result.stderr
