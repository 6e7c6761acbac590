"""The installed package: the wheel carries the checks and the stubs, and the checker runs from it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from diffusion_path.tasks import TASKS

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("diffusion_path-*.whl")
    return path


def test_wheel_ships_contracts_stubs_and_figures(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for task in (t for t in TASKS if t.ready):
        assert f"diffusion_path/contracts/{task.exercise_file}" in names
        for module in task.modules:  # the stubs are generated from the reference's source
            assert module.replace(".", "/") + ".py" in names
    assert "diffusion_path/exercises/__init__.py" in names
    assert "diffusion_path/figures/__init__.py" in names
    assert not any(name.startswith(("tests/", "docs/")) for name in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert (
        "diffusion-path = diffusion_path.cli:main"
        in zipfile.ZipFile(wheel).read(entry_points).decode()
    )


def test_checker_runs_from_the_installed_package(wheel, tmp_path):
    """Unpacked away from the repository, the package alone grades stubs: no tests/ folder needed."""
    site = tmp_path / "site-packages"
    zipfile.ZipFile(wheel).extractall(site)
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "diffusion_path", *args],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    where = subprocess.run(
        [sys.executable, "-c", "import diffusion_path; print(diffusion_path.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(site)), where.stdout
    assert run("exercises", "init", "mine").returncode == 0
    assert (work / "mine" / "pre_1.py").is_file()
    graded = run("check", "pre-1", "--impl", "mine")
    assert graded.returncode == 1 and "not implemented" in graded.stdout, (
        graded.stdout + graded.stderr
    )
    assert run("check", "pre-1").returncode == 0
