"""Deliberately buggy copies of reference code: the checker must catch each common mistake."""

from __future__ import annotations

import inspect
from types import ModuleType

from diffusion_path.check import load_contract, load_implementation
from diffusion_path.tasks import get_task


def mutant(task_id: str, module: ModuleType, old: str, new: str) -> ModuleType:
    """The reference namespace of ``task_id`` with ``module``'s source edited (``old`` -> ``new``)."""
    source = inspect.getsource(module)
    assert old in source, f"the mutation target is gone from {module.__name__}: {old!r}"
    namespace: dict = {"__name__": f"_mutant_{module.__name__.rsplit('.', 1)[-1]}"}
    exec(compile(source.replace(old, new), namespace["__name__"], "exec"), namespace)
    reference = load_implementation(get_task(task_id))
    merged = ModuleType(namespace["__name__"])
    for name in reference.__all__:
        setattr(merged, name, namespace.get(name, getattr(reference, name)))
    merged.__all__ = list(reference.__all__)
    return merged


def failing_checks(task_id: str, impl: ModuleType, function: str) -> list[str]:
    """Names of the contract checks of ``function`` that ``impl`` fails (stops at the first)."""
    failed = []
    for check in load_contract(get_task(task_id)).checks:
        if check.function != function:
            continue
        try:
            check.run(impl)
        except AssertionError:
            failed.append(check.name)
            break
    return failed
