"""The GitHub Actions workflows: zizmor finds nothing in them, and they test every promised Python.

Learners fork this repository and publish their own copy of the site with these workflows, so the
workflows must be safe by default: actions pinned to a commit, least-privilege permissions, no
credentials left in the workspace. zizmor (pinned in the ``dev`` extra) checks all of that. Here it
runs offline, so the test needs no network; the tests workflow runs it once more with the audits
that ask GitHub.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"

# The strictest persona (every audit, every confidence); a file zizmor cannot read fails the run
# instead of being skipped; no configuration file can switch an audit off. Inline
# `# zizmor: ignore[...]` comments still count, so an ignore sits in the workflow, next to its reason.
ZIZMOR_ARGS = (
    "--offline",
    "--persona=auditor",
    "--strict-collection",
    "--no-config",
    "--no-progress",
    "--color=never",
)


def _zizmor_executable() -> str:
    """zizmor from this interpreter's environment, else from PATH; skip only where it cannot exist."""
    scripts = Path(sysconfig.get_path("scripts"))
    for candidate in (scripts / "zizmor", scripts / "zizmor.exe"):
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("zizmor")
    if found:
        return found
    if sys.version_info < (3, 11):
        pytest.skip(
            "zizmor needs Python 3.11 or newer; CI lints the workflows on the newer versions"
        )
    pytest.fail('zizmor is not installed: pip install -e ".[dev]"', pytrace=False)


def zizmor(root: Path) -> subprocess.CompletedProcess:
    """Run zizmor on ``root``'s workflows, offline, with nothing from the environment steering it."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ZIZMOR_")}
    for key in ("GH_TOKEN", "GITHUB_TOKEN", "GH_HOST"):
        env.pop(key, None)
    return subprocess.run(
        [_zizmor_executable(), *ZIZMOR_ARGS, ".github/workflows"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_zizmor_finds_nothing_in_the_workflows():
    result = zizmor(ROOT)
    report = result.stdout + result.stderr
    assert result.returncode == 0, f"zizmor reports findings (exit {result.returncode}):\n{report}"
    assert "No findings to report" in result.stdout, report
    for workflow in sorted(WORKFLOWS.glob("*.y*ml")):
        assert f"completed .github/workflows/{workflow.name}" in report, (
            f"zizmor did not audit {workflow.name}:\n{report}"
        )


CHECKOUT = "actions/checkout@11d5960a326750d5838078e36cf38b85af677262 # v4.4.0"

# (what a careless edit would do, the text it replaces, the replacement, the audit that must fire)
REGRESSIONS = [
    ("checkout by a moving tag", CHECKOUT, "actions/checkout@v4", "unpinned-uses"),
    (
        "credentials persisted by checkout",
        "persist-credentials: false",
        "persist-credentials: true",
        "artipacked",
    ),
    (
        "write permission for the whole workflow",
        "permissions: {}",
        "permissions:\n  contents: write",
        "excessive-permissions",
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "audit"), [r[1:] for r in REGRESSIONS], ids=[r[0] for r in REGRESSIONS]
)
def test_zizmor_fails_on_a_finding(tmp_path, old, new, audit):
    """The same check on a scratch copy of the workflows with one finding put in: it must fail."""
    copy = tmp_path / ".github" / "workflows"
    shutil.copytree(WORKFLOWS, copy)
    tests_workflow = copy / "tests.yml"
    text = tests_workflow.read_text(encoding="utf-8")
    assert old in text, f"tests.yml no longer contains {old!r}: update this test"
    tests_workflow.write_text(text.replace(old, new, 1), encoding="utf-8")
    result = zizmor(tmp_path)
    report = result.stdout + result.stderr
    assert result.returncode != 0, f"zizmor missed the {audit} finding:\n{report}"
    assert audit in report, report


def _tests_matrix() -> list[str]:
    workflow = yaml.safe_load((WORKFLOWS / "tests.yml").read_text(encoding="utf-8"))
    return workflow["jobs"]["test"]["strategy"]["matrix"]["python-version"]


def test_ci_tests_every_python_the_package_promises():
    """requires-python's floor, each 3.x classifier and the tests matrix name the same versions."""
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    floor = re.search(r'^requires-python = ">=(3\.\d+)"$', pyproject, re.MULTILINE)
    assert floor, "requires-python should read >=3.N"
    classifiers = re.findall(r'"Programming Language :: Python :: (3\.\d+)"', pyproject)
    matrix = _tests_matrix()

    def minor(version: str) -> int:
        return int(version.split(".")[1])

    assert sorted(matrix, key=minor) == sorted(classifiers, key=minor), (
        f"tests matrix {matrix} and classifiers {classifiers} differ"
    )
    minors = sorted(minor(v) for v in matrix)
    assert minors[0] == minor(floor.group(1)), f"the matrix starts above requires-python {floor[0]}"
    assert minors == list(range(minors[0], minors[-1] + 1)), f"the matrix skips a version: {matrix}"
