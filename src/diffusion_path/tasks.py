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

import importlib
import importlib.util
from dataclasses import dataclass
from types import ModuleType

__all__ = ["TASKS", "Task", "get_task", "reference_namespace"]


@dataclass(frozen=True)
class Task:
    """One step of the path.

    Attributes:
        id: Short name used on the command line, e.g. ``"pre-1"``.
        title: Title of the task's page.
        short: The title as the navigation and the path map show it.
        page: Path of the page under ``docs/``.
        needs: Ids of the tasks to do first.
        minutes: Honest time for the whole task on a 2-core laptop CPU: reading, writing the
            functions, and running the page's experiments.
        summary: What the learner builds, in a line of the path map.
        modules: Dotted paths of the task's library modules, in reading order.
    """

    id: str
    title: str
    short: str
    page: str
    needs: tuple[str, ...]
    minutes: int
    summary: str
    modules: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        """Whether the task can be attempted: its contract (the checks) exists.

        Examples:
            >>> get_task("pre-1").ready
            True
        """
        return bool(self.modules) and importlib.util.find_spec(self.contract) is not None

    @property
    def kind(self) -> str:
        """``"Pre-Task"`` or ``"Core Task"``."""
        return "Pre-Task" if self.id.startswith("pre-") else "Core Task"

    @property
    def number(self) -> int:
        """The task's number within its kind: ``3`` for ``"core-3"``."""
        return int(self.id.split("-")[1])

    @property
    def label(self) -> str:
        """``"Pre-Task 1"``, ``"Core Task 6"``."""
        return f"{self.kind} {self.number}"

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

    @property
    def notebook(self) -> str:
        """Path of the task's companion notebook under ``docs/``.

        Examples:
            >>> get_task("core-2").notebook
            'notebooks/core-2-reverse-diffusion.ipynb'
        """
        return "notebooks/" + self.page.replace("/", "-").removesuffix(".md") + ".ipynb"


TASKS: tuple[Task, ...] = (
    Task(
        "pre-1",
        "Understanding Gaussian distributions",
        "Gaussian distributions",
        "pre/1-gaussians.md",
        (),
        45,
        r"densities, sampling by $\mu + L\varepsilon$, affine maps, KL in closed form",
        ("diffusion_path.foundations.gaussians",),
    ),
    Task(
        "pre-2",
        "Sampling from probability distributions",
        "Sampling from distributions",
        "pre/2-sampling.md",
        ("pre-1",),
        90,
        "inverse CDF, rejection, importance sampling, MCMC, Langevin, annealed importance sampling",
        ("diffusion_path.foundations.sampling",),
    ),
    Task(
        "pre-3",
        "Markov chains and stochastic processes",
        "Markov chains",
        "pre/3-markov-chains.md",
        ("pre-2",),
        60,
        "transition matrices, stationary distributions, the Gaussian AR(1) chain",
        ("diffusion_path.foundations.markov",),
    ),
    Task(
        "pre-4",
        "Variational autoencoders",
        "Variational autoencoders",
        "pre/4-vae.md",
        ("pre-1", "pre-2"),
        90,
        "the ELBO, the reparameterisation trick in PyTorch",
        ("diffusion_path.foundations.vae",),
    ),
    Task(
        "pre-5",
        "Denoising autoencoders",
        "Denoising autoencoders",
        "pre/5-denoising-autoencoders.md",
        ("pre-4",),
        60,
        "learning to remove Gaussian noise; denoising and the score",
        ("diffusion_path.foundations.denoising",),
    ),
    Task(
        "core-1",
        "Forward diffusion process",
        "Forward diffusion",
        "core/1-forward-diffusion.md",
        ("pre-3",),
        60,
        r"noise schedules, $q(x_t \mid x_0)$ in closed form",
        ("diffusion_path.diffusion.schedules", "diffusion_path.diffusion.forward"),
    ),
    Task(
        "core-2",
        "Reverse diffusion process",
        "Reverse diffusion",
        "core/2-reverse-diffusion.md",
        ("core-1",),
        90,
        "the posterior, ancestral sampling checked against an exact oracle",
        ("diffusion_path.diffusion.reverse",),
    ),
    Task(
        "core-3",
        "Noise prediction with a neural network",
        "Noise prediction",
        "core/3-noise-prediction.md",
        ("core-2", "pre-5"),
        90,
        r"a U-Net that predicts $\varepsilon$; $\varepsilon$, $x_0$ and $v$",
        ("diffusion_path.diffusion.networks", "diffusion_path.diffusion.unet"),
    ),
    Task(
        "core-4",
        "Variational lower bound and loss",
        "Variational bound and loss",
        "core/4-variational-bound.md",
        ("core-3", "pre-4"),
        90,
        "the DDPM bound in bits per dimension, the simple and hybrid losses",
        ("diffusion_path.diffusion.losses",),
    ),
    Task(
        "core-5",
        "Training a basic diffusion model",
        "Training a diffusion model",
        "core/5-training.md",
        ("core-4",),
        120,
        "training loop, EMA, checkpoints, sampling images",
        ("diffusion_path.diffusion.training",),
    ),
    Task(
        "core-6",
        "Efficient sampling with DDIM",
        "Sampling with DDIM",
        "core/6-ddim.md",
        ("core-5",),
        60,
        "deterministic sampling in few steps, inversion",
        ("diffusion_path.diffusion.ddim",),
    ),
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


def reference_namespace(task: Task) -> ModuleType:
    """The reference solution of ``task`` as one module: its modules' public names together.

    A task may span several modules (Core Task 1 has ``schedules`` and ``forward``);
    a learner writes them all in one file, so the reference is checked the same way.
    """
    if len(task.modules) == 1:
        return importlib.import_module(task.modules[0])
    namespace = ModuleType(f"reference_{task.slug}")
    names: list[str] = []
    for dotted in task.modules:
        module = importlib.import_module(dotted)
        for name in module.__all__:
            setattr(namespace, name, getattr(module, name))
            names.append(name)
    namespace.__all__ = names
    return namespace
