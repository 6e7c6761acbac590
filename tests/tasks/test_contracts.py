"""Every task's contract, run against the reference solution.

These are the very checks that ``diffusion-path check TASK --impl DIR`` runs on
a learner's file: a failure here means the reference and the checker disagree.
"""

from __future__ import annotations

import pytest

from diffusion_path.check import load_contract, load_implementation
from diffusion_path.tasks import TASKS

READY = [task for task in TASKS if task.ready]
CASES = [
    pytest.param(task, check, id=f"{task.id}::{check.function}::{check.name}")
    for task in READY
    for check in load_contract(task).checks
]


@pytest.mark.parametrize(("task", "check"), CASES)
def test_reference_passes(task, check):
    check.run(load_implementation(task))


@pytest.mark.parametrize("task", READY, ids=lambda task: task.id)
def test_every_public_function_is_checked(task):
    """The contract covers every function the reference module exports."""
    module = load_implementation(task)
    assert sorted(load_contract(task).functions) == sorted(module.__all__)
