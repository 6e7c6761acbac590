"""Exercise stubs: one file per task, with the reference's signatures and docstrings.

``diffusion-path exercises init DIR`` copies them into ``DIR`` (never over a
file that is already there); ``diffusion-path check TASK --impl DIR`` grades them.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from diffusion_path.tasks import TASKS, Task

__all__ = ["stub_source", "write_stubs"]


def stub_source(task: Task) -> str:
    """The text of the exercise stub of ``task``.

    Examples:
        >>> from diffusion_path.tasks import get_task
        >>> "def gaussian_pdf(" in stub_source(get_task("pre-1"))
        True
    """
    if not task.ready:
        raise ValueError(f"task {task.id!r} has no exercise yet: its page says what is coming")
    return resources.files(__package__).joinpath(task.exercise_file).read_text(encoding="utf-8")


def write_stubs(
    directory: str | Path, tasks: list[Task] | None = None
) -> tuple[list[Path], list[Path]]:
    """Write the stubs of ``tasks`` (default: every ready task) into ``directory``.

    Returns:
        ``(written, kept)``: the files created, and those left alone because they exist.
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"directory must be a folder, got the file {str(directory)!r}")
    directory.mkdir(parents=True, exist_ok=True)
    written, kept = [], []
    for task in tasks if tasks is not None else [t for t in TASKS if t.ready]:
        path = directory / task.exercise_file
        if path.exists():
            kept.append(path)
            continue
        path.write_text(stub_source(task), encoding="utf-8")
        written.append(path)
    return written, kept
