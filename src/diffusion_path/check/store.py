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


def save(report, path: Path) -> None:
    """Record ``report`` (of the file at ``path``) in the results of ``path``'s folder, atomically."""
    folder = Path(path).parent
    data = load(folder)
    data[report.task.id] = {
        "file": Path(path).name,
        "sha256": fingerprint(path),
        "checked_at": time.time(),
        "passed": report.passed,
        "import_error": report.import_problem is not None,
        "functions": {r.function: r.status for r in report.results},
    }
    target = folder / RESULTS
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        json.dump(data, stream, indent=1, sort_keys=True)
    os.replace(temporary, target)
