"""The bug bank: plausible learner mistakes, each of which the checker must catch at the right place.

A bug is an edit of the reference source (``old`` -> ``new``) in the learner's part of one
function. Grading the edited code must fail that function at the sub-check ``check``, and the
hint shown must be that sub-check's own: a learner who makes the mistake is pointed at it.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from dataclasses import dataclass
from types import ModuleType

from diffusion_path.check import FAILED, grade_function, load_contract, reference_namespace
from diffusion_path.tasks import get_task


@dataclass(frozen=True)
class Bug:
    """One plausible mistake.

    Attributes:
        why: The mistake in words (the test's id).
        function: The function it is in, which must fail.
        old: Text of the reference module, unique in it.
        new: What the learner wrote instead.
        check: The sub-check that must catch it first.
        hint: A phrase the hint shown must contain: the sub-check's own advice.
    """

    why: str
    function: str
    old: str
    new: str
    check: str
    hint: str


def mutant(task_id: str, bug: Bug) -> ModuleType:
    """The task's reference namespace with ``bug`` written into the module that holds ``old``."""
    task = get_task(task_id)
    holders = [m for m in task.modules if bug.old in inspect.getsource(importlib.import_module(m))]
    assert len(holders) == 1, (
        f"{bug.why}: {bug.old!r} must occur in exactly one module, got {holders}"
    )
    module = importlib.import_module(holders[0])
    source = inspect.getsource(module)
    assert source.count(bug.old) == 1, (
        f"{bug.why}: {bug.old!r} occurs {source.count(bug.old)} times"
    )
    edited = ModuleType(f"_bug_{module.__name__.rsplit('.', 1)[-1]}")
    namespace: dict = edited.__dict__
    # registered while it runs, as an imported module is: dataclasses look their module up
    sys.modules[edited.__name__] = edited
    try:
        exec(compile(source.replace(bug.old, bug.new), edited.__name__, "exec"), namespace)
    finally:
        del sys.modules[edited.__name__]
    merged = ModuleType(namespace["__name__"])
    reference = reference_namespace(task)
    for name in reference.__all__:
        setattr(merged, name, namespace.get(name, getattr(reference, name)))
    merged.__all__ = list(reference.__all__)
    return merged


def verdict(task_id: str, bug: Bug):
    """Grade the function ``bug`` is in, with ``bug`` written into the reference."""
    task = get_task(task_id)
    return grade_function(
        load_contract(task), mutant(task_id, bug), reference_namespace(task), bug.function
    )


__all__ = ["FAILED", "Bug", "mutant", "verdict"]
