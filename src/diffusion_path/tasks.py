"""The path: the eleven tasks in learning order, with what each needs first.

This registry is the single source of truth for the site's path map, the
``diffusion-path`` command and the task checker.

Examples:
    >>> [task.id for task in TASKS][:3]
    ['pre-1', 'pre-2', 'pre-3']
    >>> get_task("pre-1").title
    'Understanding Gaussian distributions'
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TASKS", "Task", "get_task"]


@dataclass(frozen=True)
class Task:
    """One step of the path.

    Attributes:
        id: Short name used on the command line, e.g. ``"pre-1"``.
        title: Title of the task's page.
        page: Path of the page under ``docs/``.
        needs: Ids of the tasks to do first.
        minutes: Honest time for the whole task on a 2-core laptop CPU: reading, writing the
            functions, and running the page's experiments.
        modules: Dotted paths of the reference modules; empty while the task is planned.
    """

    id: str
    title: str
    page: str
    needs: tuple[str, ...]
    minutes: int
    modules: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        """Whether the reference solution, exercise stub and contract exist."""
        return bool(self.modules)

    @property
    def duration(self) -> str:
        """``minutes`` as a person says it: ``"45 min"``, ``"2 h"``, ``"1 h 30 min"``.

        Examples:
            >>> get_task("core-5").duration
            '2 h'
        """
        hours, minutes = divmod(self.minutes, 60)
        if not hours:
            return f"{minutes} min"
        return f"{hours} h" + (f" {minutes} min" if minutes else "")

    @property
    def slug(self) -> str:
        """The id as a Python identifier, e.g. ``"pre_1"``: names the stub and contract files."""
        return self.id.replace("-", "_")

    @property
    def exercise_file(self) -> str:
        """File name of the learner's implementation, e.g. ``"pre_1.py"``."""
        return f"{self.slug}.py"

    @property
    def contract(self) -> str:
        """Dotted path of the module holding this task's contract checks."""
        return f"diffusion_path.contracts.{self.slug}"


TASKS: tuple[Task, ...] = (
    Task(
        "pre-1",
        "Understanding Gaussian distributions",
        "pre/1-gaussians.md",
        (),
        45,
        ("diffusion_path.foundations.gaussians",),
    ),
    Task(
        "pre-2",
        "Sampling from probability distributions",
        "pre/2-sampling.md",
        ("pre-1",),
        90,
        ("diffusion_path.foundations.sampling",),
    ),
    Task(
        "pre-3",
        "Markov chains and stochastic processes",
        "pre/3-markov-chains.md",
        ("pre-2",),
        60,
        ("diffusion_path.foundations.markov",),
    ),
    Task("pre-4", "Variational autoencoders", "pre/4-vae.md", ("pre-1", "pre-2"), 90),
    Task("pre-5", "Denoising autoencoders", "pre/5-denoising-autoencoders.md", ("pre-4",), 60),
    Task(
        "core-1",
        "Forward diffusion process",
        "core/1-forward-diffusion.md",
        ("pre-3",),
        60,
        ("diffusion_path.diffusion.schedules", "diffusion_path.diffusion.forward"),
    ),
    Task(
        "core-2",
        "Reverse diffusion process",
        "core/2-reverse-diffusion.md",
        ("core-1",),
        90,
        ("diffusion_path.diffusion.reverse",),
    ),
    Task(
        "core-3",
        "Noise prediction with a neural network",
        "core/3-noise-prediction.md",
        ("core-2", "pre-5"),
        90,
    ),
    Task(
        "core-4",
        "Variational lower bound and loss",
        "core/4-variational-bound.md",
        ("core-3", "pre-4"),
        60,
    ),
    Task("core-5", "Training a basic diffusion model", "core/5-training.md", ("core-4",), 120),
    Task("core-6", "Efficient sampling with DDIM", "core/6-ddim.md", ("core-5",), 60),
)


def get_task(task_id: str) -> Task:
    """Return the task called ``task_id``.

    Raises:
        ValueError: if no task has that id; the message lists the valid ids.

    Examples:
        >>> get_task("core-6").page
        'core/6-ddim.md'
    """
    for task in TASKS:
        if task.id == task_id:
            return task
    valid = ", ".join(task.id for task in TASKS)
    raise ValueError(f"task must be one of {valid}; got {task_id!r}")
