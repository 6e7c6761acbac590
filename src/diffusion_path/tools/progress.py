"""Progress bars that show in a terminal and stay out of notebooks and the site.

Long loops (sampling, training) report progress with tqdm. A bar is worth having when a person
watches a terminal; in an executed notebook or a log it becomes a wall of lines. So by default a
bar is shown only when standard error is a terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

__all__ = ["progress_bar"]

T = TypeVar("T")


def progress_bar(
    items: Iterable[T], *, show: bool | None = None, desc: str = "", min_items: int = 0
) -> Iterator[T]:
    """Iterate over ``items`` with a tqdm bar when ``show`` says so.

    Args:
        items: What to iterate over (a ``range``, a data loader).
        show: ``True`` or ``False`` to force the bar on or off; ``None`` shows it only when
            standard error is a terminal and there are at least ``min_items`` items.
        desc: The bar's label.
        min_items: With ``show=None``, loops shorter than this get no bar.

    Examples:
        >>> list(progress_bar(range(3), show=False))
        [0, 1, 2]
    """
    if show is None:
        count = len(items) if hasattr(items, "__len__") else min_items
        show = sys.stderr.isatty() and count >= min_items
    if not show:  # no tqdm object at all: it would take a process-wide lock for nothing
        return iter(items)
    return iter(tqdm(items, desc=desc, leave=False))
