"""Every task's contract, run against the reference solution, and what each contract must declare.

These are the very checks that ``diffusion-path check TASK --impl DIR`` runs on a learner's file:
a failure here means the reference and the checker disagree.
"""

from __future__ import annotations

import inspect
import re

import pytest

from diffusion_path.check import load_contract, reference_namespace
from diffusion_path.contracts.generic import invalid_cases
from diffusion_path.exercises import exercises
from diffusion_path.tasks import TASKS

READY = [task for task in TASKS if task.ready]
CASES = [
    pytest.param(task, function, check, id=f"{task.id}::{function}::{check.name}")
    for task in READY
    for function in load_contract(task).functions
    for check in load_contract(task).all_checks(function, reference_namespace(task))
]
FUNCTIONS = [
    pytest.param(task, function, id=f"{task.id}::{function}")
    for task in READY
    for function in load_contract(task).functions
]


@pytest.mark.parametrize(("task", "function", "check"), CASES)
def test_reference_passes(task, function, check):
    check.run(reference_namespace(task))


@pytest.mark.parametrize("task", READY, ids=lambda task: task.id)
def test_the_contract_covers_every_exercise(task):
    """The functions graded are exactly those with a learner's part (a ``# Exercise:`` block)."""
    assert load_contract(task).functions == list(dict.fromkeys(e.function for e in exercises(task)))


@pytest.mark.parametrize(("task", "function"), FUNCTIONS)
def test_every_function_has_a_hint_ladder_and_an_example(task, function):
    spec = load_contract(task).spec(function)
    assert len(spec.hints) >= 2, f"{function}: give at least two hint levels before the code"
    if spec.generic:
        assert spec.example is not None, (
            f"{function}: declare an example call for the generic checks"
        )


@pytest.mark.parametrize(("task", "function"), FUNCTIONS)
def test_every_rejected_input_is_documented(task, function):
    """Each argument the generic and declared error checks require a ValueError for is in Raises."""
    reference = getattr(reference_namespace(task), function)
    doc = inspect.getdoc(reference) or ""
    raises = doc.split("Raises:", 1)[1] if "Raises:" in doc else ""
    for argument, case in invalid_cases(load_contract(task).spec(function), reference):
        assert re.search(rf"\b{re.escape(argument)}\b", raises), (
            f"{function} rejects {argument} = {case}, but its docstring's Raises section does not say so"
        )


# Code in a hint rung before the last: the last rung is the reference code itself, so a rung
# before it that already shows code makes the ladder collapse. Maths is welcome: sqrt(1 − ᾱ_t),
# N(μ, σ²), e^(−λx), log u ≤ log f − log q, P[i, j], "with z = (x − μ)/σ".
CODE_IN_A_HINT = re.compile(
    "|".join(
        [
            # a library call, or an attribute of an argument: torch.linspace, rng.random, np.where
            r"\b(?:torch|np|numpy|math|rng|schedule|validation|impl)\.\w",
            # any other attribute or method, `x.shape`, `chol.T` (but "e.g.", "i.e." and (P2.1) pass)
            r"\b(?!e\.g\b|i\.e\b)[A-Za-z_]\w*\.[A-Za-z_]",
            # a method on a call's result: `).sqrt()`, `).T`
            r"\)\.[A-Za-z_]",
            # a statement assigning names, `x = `, `mean, var = `, `log_w += ` (but not "ᾱ_t = ...",
            # nor an equation inside a sentence)
            r"(?:^|[;:]\s*)[A-Za-z_]\w*(?:, [A-Za-z_]\w*)* \+?= ",
            # a keyword argument: `dtype=torch.float64`, `axis=-1`, `ddof=1`
            r"\b[A-Za-z_]\w*=[^=\s]",
            # a call with the solution's argument list, `mvn_log_pdf(x, mean, cov)` (but not the
            # laws N(mu, sigma^2), U(a, b), Binomial(t, p))
            r"\b[a-z_]\w+\((?:[A-Za-z_]\w*, )+[A-Za-z_]\w*\)",
            # a slice: `abar[1:]`, `x.shape[:-1]`, `w_bar[:, None]`
            r"\[[^\][()]*:[^\][()]*\]",
            # Python operators and keywords: `**`, `a * b`, `+=`, `==`, `lambda y:` (not the rate lambda)
            r"\*\*|\s\*\s|\+=|==|\blambda \w+:",
        ]
    )
)


@pytest.mark.parametrize(("task", "function"), FUNCTIONS)
def test_hint_rungs_before_the_code_show_no_code(task, function):
    """Level 1 is a nudge and level 2 the steps in words and maths: neither shows code."""
    for level, rung in enumerate(load_contract(task).spec(function).hints, start=1):
        found = CODE_IN_A_HINT.search(rung)
        assert found is None, (
            f"{function}, hint level {level}, shows code ({found.group()!r}): say the step in "
            f"words or maths; the last level is the code\n{rung}"
        )
