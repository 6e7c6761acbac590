r"""Benchmark ``project``: how long the test suite and the site build take, timed in subprocesses.

The contributing page says how long ``pytest`` and ``mkdocs build`` take; this measures it, from
the repository's root, each command in a fresh process (``COMMANDS``): the whole suite as the
README runs it, the everyday suite without the site and browser tests, and the site built from
the stored results (no notebook or figure is recomputed). A command that fails is still timed;
its row says that it failed.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence

from matplotlib.figure import Figure

from diffusion_path.bench import check_fields
from diffusion_path.tools import validation

__all__ = ["COMMANDS", "SUMMARY", "figure", "run", "table", "validate"]

SUMMARY = "how long the test suite and the stored-mode site build take, each in a fresh process"
#: What is timed, by name: a label and the command (``{python}`` is this Python, ``{site}`` a
#: temporary folder for the built site).
COMMANDS = {
    "suite": ("the whole test suite (`pytest`)", ["{python}", "-m", "pytest", "-q"]),
    "fast": (
        'the suite without the site and the browser (`pytest -m "not site and not browser"`)',
        ["{python}", "-m", "pytest", "-q", "-m", "not site and not browser"],
    ),
    "site": (
        "the site, from stored results (`mkdocs build`)",
        ["{python}", "-m", "mkdocs", "build", "--site-dir", "{site}"],
    ),
}
ROW_FIELDS = ("name", "label", "command", "seconds", "returncode")


def run(
    *,
    only: Sequence[str] = tuple(COMMANDS),
    commands: Mapping[str, Sequence] | None = None,
    timeout: float = 7200.0,
    echo: Callable[[str], None] | None = None,
) -> dict:
    """Time each of ``only`` (names of ``commands``) once, in a subprocess, from the current folder.

    Args:
        only: The names to time, in order.
        commands: ``{name: (label, argv)}`` (default: ``COMMANDS``); a test passes a tiny fake.
        timeout: Seconds after which a command is stopped (its row then says so).
        echo: Called with a line of text per command (``None``: silent).

    Returns:
        ``{"settings", "rows"}``: one row per command with its seconds and exit status.

    Raises:
        ValueError: if ``only`` names a command that ``commands`` lacks, or is empty.
    """
    echo = echo or (lambda line: None)
    if commands is not None and not isinstance(commands, Mapping):
        raise ValueError(f"commands must map names to (label, argv), got {commands!r:.60}")
    commands = dict(COMMANDS if commands is None else commands)
    only = [only] if isinstance(only, str) else list(only)
    if not only or any(name not in commands for name in only):
        raise ValueError(f"only must name some of {', '.join(commands)}; got {only}")
    timeout = validation.positive_number(timeout, "timeout")
    rows = []
    for name in only:
        label, argv = commands[name]
        site = tempfile.mkdtemp(prefix="dp-bench-site-")
        argv = [str(a).format(python=sys.executable, site=site) for a in argv]
        env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
        echo(f"timing {name}: {' '.join(argv)}")
        start = time.perf_counter()
        try:
            done = subprocess.run(
                argv, env=env, capture_output=True, text=True, timeout=timeout, check=False
            )
            code = done.returncode
        except subprocess.TimeoutExpired:
            code = -1
        seconds = time.perf_counter() - start
        shutil.rmtree(site, ignore_errors=True)
        shown = [a.replace(sys.executable, "python").replace(site, "SITE") for a in argv]
        rows.append(
            {
                "name": name,
                "label": label,
                "command": " ".join(shown),
                "seconds": round(seconds, 2),
                "returncode": code,
            }
        )
        echo(f"{name}: {seconds:.1f} s (exit status {code})")
    return {
        "settings": {"only": only, "all": list(commands), "timeout": timeout},
        "rows": rows,
    }


def _fail(problem: str) -> None:
    raise ValueError(f"result must be a result of benchmark 'project': {problem}")


def validate(result: dict) -> None:
    """Raise ``ValueError`` unless ``result`` has the shape ``run`` gives it (with the registry's fields).

    Raises:
        ValueError: naming the field that is missing or wrong.
    """
    check_fields(result, "project", {"rows": list})
    if not result["rows"]:
        _fail("'rows' is empty")
    for row in result["rows"]:
        if not isinstance(row, dict) or any(k not in row for k in ROW_FIELDS):
            _fail(f"every row needs {', '.join(ROW_FIELDS)}; got {row!r:.80}")
        seconds, code = row["seconds"], row["returncode"]
        if not isinstance(seconds, int | float) or not math.isfinite(seconds) or seconds < 0:
            _fail(f"a row's seconds must be finite and >= 0, got {seconds!r}")
        if not isinstance(code, int) or isinstance(code, bool):
            _fail(f"a row's returncode must be an int, got {code!r}")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


def table(result: dict) -> str:
    """What was timed, how long it took, and whether it passed."""
    validate(result)
    machine = result["machine"]
    lines = ["| what | command | time | result |", "|---|---|---:|---|"]
    for row in result["rows"]:
        code = row["returncode"]
        verdict = "passed" if code == 0 else "stopped (timeout)" if code == -1 else f"exit {code}"
        lines.append(
            f"| {row['label']} | `{row['command']}` | {_duration(row['seconds'])} | {verdict} |"
        )
    missing = [n for n in result["settings"].get("all", []) if n not in result["settings"]["only"]]
    notes = [""]
    if missing:
        notes += [
            f"**A partial run**: {', '.join(missing)} not timed in it "
            f"(`diffusion-path bench project --save` times everything).",
            "",
        ]
    notes.append(
        f"Measured with `diffusion-path bench project` on {result['date'][:10]}: "
        f"{machine['cpu']}, {machine['cores']} cores, Python {machine.get('python', '?')}; "
        "each command in a fresh process from the repository's root."
    )
    return "\n".join(lines + notes)


def figure(result: dict) -> Figure:
    """A bar per command: its wall time in minutes."""
    from diffusion_path.tools.plotting import new_figure

    validate(result)
    rows = result["rows"]
    fig, (ax,) = new_figure(1, 1, size=4.5)
    ax.barh(
        range(len(rows)),
        [r["seconds"] / 60 for r in rows],
        color=["C0" if r["returncode"] == 0 else "C3" for r in rows],
    )
    ax.set_yticks(range(len(rows)), [r["name"] for r in rows])
    ax.invert_yaxis()
    ax.set(xlabel="minutes", title="test suite and site build")
    return fig
