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
        cpu_minutes: Honest time for the page's experiments on a 2-core laptop CPU.
        modules: Dotted paths of the reference modules; empty while the task is planned.
    """

    id: str
    title: str
    page: str
    needs: tuple[str, ...]
    cpu_minutes: int
    modules: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        """Whether the reference solution, exercise stub and contract exist."""
        return bool(self.modules)

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
        5,
        ("diffusion_path.foundations.gaussians",),
    ),
    Task(
        "pre-2",
        "Sampling from probability distributions",
        "pre/2-sampling.md",
        ("pre-1",),
        10,
        ("diffusion_path.foundations.sampling",),
    ),
    Task(
        "pre-3",
        "Markov chains and stochastic processes",
        "pre/3-markov-chains.md",
        ("pre-2",),
        5,
        ("diffusion_path.foundations.markov",),
    ),
    Task("pre-4", "Variational autoencoders", "pre/4-vae.md", ("pre-1", "pre-2"), 15),
    Task("pre-5", "Denoising autoencoders", "pre/5-denoising-autoencoders.md", ("pre-4",), 10),
    Task(
        "core-1",
        "Forward diffusion process",
        "core/1-forward-diffusion.md",
        ("pre-3",),
        5,
        ("diffusion_path.diffusion.schedules", "diffusion_path.diffusion.forward"),
    ),
    Task(
        "core-2",
        "Reverse diffusion process",
        "core/2-reverse-diffusion.md",
        ("core-1",),
        10,
        ("diffusion_path.diffusion.reverse",),
    ),
    Task(
        "core-3",
        "Noise prediction with a neural network",
        "core/3-noise-prediction.md",
        ("core-2", "pre-5"),
        15,
    ),
    Task(
        "core-4",
        "Variational lower bound and loss",
        "core/4-variational-bound.md",
        ("core-3", "pre-4"),
        10,
    ),
    Task("core-5", "Training a basic diffusion model", "core/5-training.md", ("core-4",), 30),
    Task("core-6", "Efficient sampling with DDIM", "core/6-ddim.md", ("core-5",), 10),
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
