"""The learner's results, kept in their own folder: what ``diffusion-path progress`` reads.

Each ``diffusion-path check TASK --impl DIR`` writes the verdicts into
``DIR/.diffusion-path/results.json``, with a fingerprint of the file it graded, so that
``progress`` can say at once, without running anything, where every task stands and whether a
file changed since it was last checked.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

__all__ = ["RESULTS", "fingerprint", "load", "save"]

#: Where the results live, relative to the learner's folder.
RESULTS = Path(".diffusion-path") / "results.json"


def fingerprint(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load(folder: str | Path) -> dict:
    """The results kept in ``folder`` (an empty dict if none, or if the file is unreadable)."""
    path = Path(folder) / RESULTS
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def save(report, path: Path, total: int | None = None) -> None:
    """Record ``report`` (of the file at ``path``) in the results of ``path``'s folder, atomically.

    Verdicts are merged into what was kept: checking some functions (``--only``, or a run stopped
    with Ctrl-C) updates those and keeps the others' last verdicts. A file that does not import is
    recorded as such; a file that is another task's is not recorded at all.

    Args:
        report: The checker's report.
        path: The file it graded.
        total: How many functions the task has (to tell "all passed" from "those checked passed").
    """
    if report.wrong_file:
        return
    folder = Path(path).parent
    data = load(folder)
    kept = data.get(report.task.id, {})
    functions = dict(kept.get("functions", {})) if kept.get("sha256") else {}
    functions.update({r.function: r.status for r in report.results})
    data[report.task.id] = {
        "file": Path(path).name,
        "sha256": fingerprint(path),
        "checked_at": time.time(),
        "import_error": report.import_problem is not None,
        "total": total or kept.get("total") or len(functions),
        "functions": functions,
    }
    target = folder / RESULTS
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        json.dump(data, stream, indent=1, sort_keys=True)
    os.replace(temporary, target)
