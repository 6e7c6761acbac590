"""The grader's types: a contract is a list of checks, each about one function, each with a hint.

A check is a plain function of the implementation under test (a module, or any object with the
task's functions as attributes). It passes by returning, and fails by raising
[`Failure`][diffusion_path.contracts.base.Failure] (or any ``AssertionError``) with a reason. A
failure may carry a hint of its own, more specific than the check's: the sub-check that broke
says what to look at.

Besides the checks written for a task, every function gets the
[generic checks][diffusion_path.contracts.generic] derived from its reference's signature and
docstring: the promised return type and dtype, inputs left unmodified, randomness only from the
given generator, and each documented ``ValueError``. They need one valid call of the function,
which the contract declares with [`Contract.function`][diffusion_path.contracts.base.Contract.function].

Examples:
    >>> contract = Contract("demo")
    >>> @contract.check("double", hint="Multiply by two, not add two.")
    ... def double_of_three(impl):
    ...     '''double(3) is 6.'''
    ...     if impl.double(3) != 6:
    ...         raise Failure(f"double(3) is {impl.double(3)}, expected 6")
    >>> contract.functions
    ['double']
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

__all__ = ["Call", "Check", "Contract", "Failure", "FunctionSpec", "Invalid", "call"]


class Failure(AssertionError):
    """A check's verdict that the implementation is wrong: a reason, and optionally its own hint.

    Args:
        reason: What is wrong, in one sentence with the numbers that show it.
        hint: What to look at; overrides the check's hint when given.
    """

    def __init__(self, reason: str, hint: str | None = None) -> None:
        super().__init__(reason)
        self.hint = hint


@dataclass(frozen=True)
class Call:
    """The arguments of one call: ``Call(args, kwargs)(f)`` is ``f(*args, **kwargs)``."""

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)

    def __call__(self, function: Callable) -> Any:
        return function(*self.args, **self.kwargs)


def call(*args: Any, **kwargs: Any) -> Call:
    """The arguments of one call, written as the call itself: ``call(x, 0, schedule, noise=z)``.

    Examples:
        >>> call(2, 3)(pow)
        8
    """
    return Call(args, kwargs)


@dataclass(frozen=True)
class Invalid:
    """One documented bad input: replace ``argument`` by ``value``; a ``ValueError`` must name ``names``.

    Attributes:
        argument: The parameter to replace.
        value: The bad value, or a function of the valid call's arguments returning it (for a
            value that depends on them, such as a tensor of another shape).
        case: The bad input in words, for the verdict: "cov not symmetric".
        names: The name the error message must contain (default: ``argument``), or a tuple of
            names any one of which will do.
    """

    argument: str
    value: Any
    case: str
    names: str | tuple[str, ...] | None = None


@dataclass(frozen=True)
class FunctionSpec:
    """What the grader knows about one function besides its checks.

    Attributes:
        name: The function's name.
        example: A function returning one valid, small, fast [`Call`][diffusion_path.contracts.base.Call]
            of it: the generic checks run it, and variations of it.
        invalid: The documented bad inputs that the signature alone does not suggest.
        uses: Other functions of the task that this one calls: when one of them fails, the
            verdict on this one says so.
        hints: The function's hint ladder, from a nudge to the steps in words; the last rung,
            the code, comes from the reference solution itself.
        generic: Whether to run the generic checks (off for classes and for functions whose
            output cannot be compared, such as a figure).
    """

    name: str
    example: Callable[[], Call] | None = None
    invalid: tuple[Invalid, ...] = ()
    uses: tuple[str, ...] = ()
    hints: tuple[str, ...] = ()
    generic: bool = True


@dataclass(frozen=True)
class Check:
    """One property that one function of a task must have.

    Attributes:
        function: Name of the function under test.
        name: Name of the check (the name of the function that runs it).
        description: What the check verifies, in one sentence.
        hint: What to look at when the check fails (a failure may carry a more specific one).
        run: Callable taking the implementation; raises ``AssertionError`` on failure.
    """

    function: str
    name: str
    description: str
    hint: str
    run: Callable[[ModuleType], None]


@dataclass
class Contract:
    """The checks of one task in order, and what the grader knows about each function.

    ``@contract.check(function, hint)`` registers a check;
    [`function`][diffusion_path.contracts.base.Contract.function] declares a function's
    example call, its documented bad inputs, the functions it uses and its hints.
    [`all_checks`][diffusion_path.contracts.base.Contract.all_checks] adds the generic checks.
    """

    task_id: str
    checks: list[Check] = field(default_factory=list)
    specs: dict[str, FunctionSpec] = field(default_factory=dict)

    def check(
        self, function: str, hint: str, threads: int | None = None
    ) -> Callable[[Callable], Callable]:
        """Decorator registering ``run(impl)`` as a check of ``function``.

        ``threads``: run the check with PyTorch on that many CPU threads (``1`` for tiny tensors,
        where more threads only wait for each other), restoring the setting afterwards.
        """

        def register(run: Callable[[ModuleType], None]) -> Callable[[ModuleType], None]:
            doc = (run.__doc__ or run.__name__).strip().splitlines()[0]
            body = run if threads is None else _on_threads(run, threads)
            self.checks.append(Check(function, run.__name__, doc, hint, body))
            return run

        return register

    def function(
        self,
        name: str,
        example: Callable[[], Call] | None = None,
        *,
        invalid: tuple[Invalid, ...] | list[Invalid] = (),
        uses: tuple[str, ...] = (),
        hints: tuple[str, ...] = (),
        generic: bool = True,
    ) -> None:
        """Declare what the grader knows about ``name`` besides its checks."""
        self.specs[name] = FunctionSpec(name, example, tuple(invalid), uses, hints, generic)

    @property
    def functions(self) -> list[str]:
        """Names of the functions the contract covers, in order of first appearance."""
        return list(dict.fromkeys([check.function for check in self.checks] + list(self.specs)))

    def spec(self, function: str) -> FunctionSpec:
        """The declared spec of ``function`` (an empty one if none was declared)."""
        return self.specs.get(function, FunctionSpec(function))

    def all_checks(self, function: str, reference: object) -> list[Check]:
        """Every check of ``function``: the return type and unmodified inputs first, then the task's own.

        A function that returns the wrong type, or writes into its arguments, would make the
        task's checks fail for reasons that are not theirs; so those two come first, then the
        task's own checks, then the rest of the generic ones.

        Args:
            function: The function's name.
            reference: The reference implementation, whose signature and behaviour the generic
                checks are derived from.
        """
        from diffusion_path.contracts import generic

        own = [check for check in self.checks if check.function == function]
        spec = self.spec(function)
        derived = generic.checks_for(spec, getattr(reference, function)) if spec.generic else []
        first = [check for check in derived if check.name in generic.FIRST]
        rest = [check for check in derived if check.name not in generic.FIRST]
        return first + own + rest


def _on_threads(run: Callable[[ModuleType], None], threads: int) -> Callable[[ModuleType], None]:
    """``run`` with PyTorch on ``threads`` CPU threads, the setting restored afterwards."""

    @functools.wraps(run)
    def on_threads(impl: ModuleType) -> None:
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            run(impl)
        finally:
            torch.set_num_threads(before)

    return on_threads
