"""How much work an experiment does: the full amount, or a quick run that proves the code works.

The pages show experiments run in full (stored results, see the contributing guide). The test
suite runs every notebook and figure again to prove they still work, and it has minutes, not
hours: with ``DIFFUSION_PATH_QUICK=true`` an experiment trains for a few steps instead of
thousands. Claims about quality are checked in full runs only (``budget.full()``).

Examples:
    >>> steps = scaled(3000, quick=50)
    >>> steps in (3000, 50)
    True
"""

from __future__ import annotations

import os

__all__ = ["QUICK", "full", "scaled"]

#: The environment variable that asks for quick runs.
QUICK = "DIFFUSION_PATH_QUICK"


def full() -> bool:
    """Whether experiments run in full (the default), rather than quickly."""
    return os.environ.get(QUICK, "").strip().lower() not in ("1", "true", "yes")


def scaled(amount: int, quick: int) -> int:
    """``amount`` in a full run, ``quick`` in a quick one (a number of steps, samples, epochs)."""
    return amount if full() else quick
