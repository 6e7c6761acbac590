"""Lint and format with ruff, configured in pyproject.toml: CI and contributors see the same verdict.

The package promises Python 3.10 (``requires-python``). ruff, with ``target-version = "py310"``,
rejects syntax newer than that; vermin rejects newer standard-library modules, functions and
arguments, which ruff does not look for.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from test_docs import PAGES, python_blocks

ROOT = Path(__file__).resolve().parents[1]
OLDEST_PYTHON = "3.10"


def _ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_ruff_check():
    result = _ruff("check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format():
    result = _ruff("format", "--check", "--no-cache", ".")
    assert result.returncode == 0, "run `ruff format .`\n" + result.stdout + result.stderr


def test_ruff_targets_the_oldest_python():
    """ruff's syntax check follows the target; it must be the oldest version the package promises."""
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert f'requires-python = ">={OLDEST_PYTHON}"' in pyproject
    assert f'target-version = "py{OLDEST_PYTHON.replace(".", "")}"' in pyproject


def _vermin(*args: str) -> subprocess.CompletedProcess:
    # vermin parses with the interpreter that runs it, so it runs under this one.
    code = "import sys; from vermin import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


# Fail on anything newer than the target; a file that does not parse counts against it
# (--pessimistic); annotations are judged as if evaluated (--eval-annotations), the stricter
# reading; "# novm" comments cannot exempt code (--no-parse-comments); no config file applies.
VERMIN_ARGS = (
    f"--target={OLDEST_PYTHON}-",
    "--violations",
    "--pessimistic",
    "--eval-annotations",
    "--no-parse-comments",
    "--no-tips",
    "--no-config-file",
    "--no-make-paths-absolute",
)


def _site_code(folder: Path) -> list[str]:
    """The code that the site runs, written to files: each page's python blocks, each notebook."""
    files = []
    for page in PAGES:
        for line, code in python_blocks(page.read_text(encoding="utf-8")):
            name = "__".join(page.relative_to(ROOT / "docs").with_suffix("").parts)
            path = folder / f"{name}__line{line}.py"
            path.write_text(code, encoding="utf-8")
            files.append(str(path))
    for notebook in sorted((ROOT / "docs" / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        code = "\n\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
        path = folder / f"{notebook.stem}.py"
        path.write_text(code + "\n", encoding="utf-8")
        files.append(str(path))
    return files


def test_code_needs_no_python_newer_than_the_oldest_promised(tmp_path):
    """vermin: the library, tests, site hooks, page examples and notebooks all run on 3.10."""
    site_code = _site_code(tmp_path)
    assert site_code, "found no page or notebook code to check"
    result = _vermin(*VERMIN_ARGS, "src", "tests", "docs/_hooks", *site_code)
    report = result.stdout + result.stderr
    assert result.returncode == 0, f"code needs a Python newer than {OLDEST_PYTHON}:\n{report}"
    assert "Minimum required versions:" in report, report


def test_vermin_catches_newer_calls(tmp_path):
    """The check is not vacuous: 3.11 and 3.12 library calls under `from __future__` fail it."""
    sample = tmp_path / "newer.py"
    sample.write_text(
        "from __future__ import annotations\n\n"
        "import itertools\nimport tomllib\n\n\n"
        "def pairs(x: list[int] | None) -> list[tuple[int, ...]]:\n"
        "    return list(itertools.batched(x or [], 2))\n",
        encoding="utf-8",
    )
    result = _vermin(*VERMIN_ARGS, str(sample))
    report = result.stdout + result.stderr
    assert result.returncode != 0, report
    assert "'tomllib' module requires !2, 3.11" in report, report
    assert "'itertools.batched' member requires !2, 3.12" in report, report
