"""Shared fixtures: the site is built once per test session, strictly, with every result made afresh.

``DIFFUSION_PATH_EXECUTE=true`` makes the build execute every notebook and remake every figure,
table and interactive figure instead of showing the stored copies (see ``docs/_hooks/store.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> Path:
    """Build the site with ``mkdocs build --strict``, everything made afresh; return the output folder."""
    out = tmp_path_factory.mktemp("site")
    env = {
        **os.environ,
        "DIFFUSION_PATH_EXECUTE": "true",
        "DIFFUSION_PATH_QUICK": "true",
        "NO_MKDOCS_2_WARNING": "1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    log = result.stdout + result.stderr
    if result.returncode != 0:
        pytest.fail(f"mkdocs build --strict failed:\n{log[-6000:]}", pytrace=False)
    warnings = [line for line in log.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert not warnings, "\n".join(warnings)
    return out
