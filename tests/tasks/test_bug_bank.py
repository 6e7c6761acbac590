"""Every bug in the bank fails its function at the sub-check that should catch it, with that hint."""

from __future__ import annotations

import importlib

import pytest
from bugbank import FAILED, verdict

from diffusion_path.tasks import TASKS

READY = [task for task in TASKS if task.ready]
BANKS = {task.id: importlib.import_module(f"bugs_{task.slug}").BUGS for task in READY}
CASES = [
    pytest.param(task_id, bug, id=f"{task_id}::{bug.function}::{bug.why}")
    for task_id, bugs in BANKS.items()
    for bug in bugs
]


@pytest.mark.parametrize("task", READY, ids=lambda task: task.id)
def test_every_ready_task_has_a_bug_bank_of_at_least_15(task):
    assert len(BANKS[task.id]) >= 15, f"{task.id} has {len(BANKS[task.id])} bugs in its bank"


@pytest.mark.parametrize(("task_id", "bug"), CASES)
def test_bug_fails_at_its_own_sub_check(task_id, bug):
    result = verdict(task_id, bug)
    assert result.status == FAILED, f"{bug.why}: {bug.function} was {result.status}, not failed"
    assert result.check == bug.check, (
        f"{bug.why}: caught by {result.check!r}, expected {bug.check!r} — {result.reason}"
    )
    assert bug.hint in result.hint, f"{bug.why}: the hint shown was {result.hint!r}"
