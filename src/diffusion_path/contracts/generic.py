"""Checks every function gets, derived once from its reference's signature and behaviour.

They need only one valid example call per function (declared in the contract) and compare the
implementation under test with the reference on variations of it:

- **returns**: the type the signature promises (a tensor, an array, a float, a tuple of them);
- **dtype**: the reference's dtype rule — float32 in, float32 out for tensors; float64 out for
  the NumPy tasks — holds for the implementation too;
- **unmodified**: the arguments are left as they were;
- **randomness**: with an ``rng`` or ``generator`` argument, the same seed gives the same result,
  different seeds give different results (where the reference's do), and the global random state
  is left alone;
- **errors**: each bad input that makes the reference raise a ``ValueError`` naming the argument
  (candidates come from the argument's kind: NaN in an array, a zero count, an unknown option, a
  missing generator, a step out of range, ...) and each bad input the contract declares, makes
  the implementation raise one too.
"""

from __future__ import annotations

import copy
import inspect
import math
import random
import typing
from collections.abc import Callable, Iterator
from types import NoneType, UnionType

import numpy as np

from diffusion_path.contracts.base import Call, Check, Failure, FunctionSpec

__all__ = ["FIRST", "RETURNS", "UNMODIFIED", "checks_for", "invalid_cases", "outputs_equal"]

RETURNS = "returns_the_promised_type"
UNMODIFIED = "leaves_its_inputs_alone"
#: The generic checks that run before a task's own checks.
FIRST = (RETURNS, UNMODIFIED)

RETURNS_HINT = (
    "Return what the docstring's Returns section promises: a torch.Tensor, not a list or a NumPy "
    "array; a NumPy array, not a list; a Python float, not an array; a tuple where a pair is promised."
)
DTYPE_HINT = (
    "Keep the dtype the docstring promises. For tensors: float32 in, float32 out; float64 in, "
    "float64 out — tensors you create (torch.randn, torch.zeros, torch.full) need dtype=x.dtype, "
    "and float64 values such as the schedule's must be cast, not mixed in. For NumPy: work and "
    "return in float64."
)
UNMODIFIED_HINT = (
    "Do not change the arrays and tensors you are given: x += ... or x[...] = ... writes into the "
    "caller's data. Write x = x + ..., or work on a copy."
)
RNG_HINT = (
    "Draw every random number from the generator you are given — rng.standard_normal(...), "
    "rng.random(...) for NumPy; torch.randn(..., generator=generator) for PyTorch — never from "
    "np.random.*, torch.randn without generator=, the random module, or a new default_rng()."
)
GLOBAL_STATE_HINT = (
    "This function needs no randomness: no torch.manual_seed, np.random.seed or random draws "
    "inside it — they change the random numbers of everything the caller runs next."
)
ERROR_HINT = (
    "Check {argument} and raise ValueError(f'{argument} must ..., got {{{argument}!r}}') when it "
    "is not valid — where the function starts, or where the value is first needed — so that the "
    "message names {argument}."
)


# ----------------------------------------------------------------------------- values


def _leaves(value: object) -> Iterator[object]:
    if isinstance(value, tuple | list):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def _is_tensor(value: object) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "dtype")


def _array(value: object) -> np.ndarray | None:
    """``value`` as a NumPy array for comparison, or None if it is not numeric data."""
    if _is_tensor(value):
        return value.detach().cpu().numpy()
    if isinstance(value, np.ndarray | np.generic | float | int) and not isinstance(value, bool):
        return np.asarray(value)
    return None


def outputs_equal(a: object, b: object) -> bool:
    """Whether two outputs (tensors, arrays, numbers, tuples of them) are equal, NaN equal to NaN."""
    leaves_a, leaves_b = list(_leaves(a)), list(_leaves(b))
    if len(leaves_a) != len(leaves_b):
        return False
    for x, y in zip(leaves_a, leaves_b, strict=True):
        ax, ay = _array(x), _array(y)
        if ax is None or ay is None:
            if ax is not ay and x != y:
                return False
        elif ax.shape != ay.shape or not np.array_equal(
            ax, ay, equal_nan=ax.dtype.kind in "fc" and ay.dtype.kind in "fc"
        ):
            return False
    return True


def _float_dtypes(value: object) -> list[str]:
    """The dtypes of the floating-point tensors and arrays in an output, in order."""
    dtypes = []
    for leaf in _leaves(value):
        if _is_tensor(leaf) and leaf.is_floating_point():
            dtypes.append(str(leaf.dtype).replace("torch.", ""))
        elif isinstance(leaf, np.ndarray) and leaf.dtype.kind == "f":
            dtypes.append(str(leaf.dtype))
    return dtypes


def _cast(value: object, torch_dtype: str | None, numpy_dtype: str | None) -> object:
    """``value`` with its floating-point tensors (or arrays) cast to another dtype."""
    if _is_tensor(value) and value.is_floating_point() and torch_dtype:
        import torch

        return value.to(getattr(torch, torch_dtype))
    if isinstance(value, np.ndarray) and value.dtype.kind == "f" and numpy_dtype:
        return value.astype(numpy_dtype)
    return value


def _with(example: Call, argument: str, value: object, signature: inspect.Signature) -> Call:
    """``example`` with ``argument`` replaced by ``value`` (positional or keyword, as given)."""
    names = list(signature.parameters)
    index = names.index(argument)
    if argument in example.kwargs or index >= len(example.args):
        return Call(example.args, {**example.kwargs, argument: value})
    args = list(example.args)
    args[index] = value
    return Call(tuple(args), dict(example.kwargs))


def _arguments(example: Call, signature: inspect.Signature) -> dict[str, object]:
    """The example's arguments by name."""
    return dict(signature.bind_partial(*example.args, **example.kwargs).arguments)


def _returns(reference: Callable) -> object | None:
    try:
        return typing.get_type_hints(reference).get("return")
    except Exception:  # an annotation that cannot be resolved: nothing to check
        return None


def _type_matches(value: object, annotation: object) -> bool:
    import torch

    origin = typing.get_origin(annotation)
    if annotation is None or annotation is NoneType:
        return value is None
    if origin in (UnionType, typing.Union):
        return any(_type_matches(value, option) for option in typing.get_args(annotation))
    if origin is tuple:
        options = typing.get_args(annotation)
        if not isinstance(value, tuple):
            return False
        if len(options) == 2 and options[1] is Ellipsis:
            return all(_type_matches(item, options[0]) for item in value)
        return len(value) == len(options) and all(
            _type_matches(item, option) for item, option in zip(value, options, strict=True)
        )
    if annotation is torch.Tensor:
        return isinstance(value, torch.Tensor)
    if annotation is np.ndarray:
        return isinstance(value, np.ndarray)
    if annotation is float:
        return isinstance(value, float | np.floating) and not isinstance(value, np.ndarray)
    if annotation is int:
        return isinstance(value, int | np.integer) and not isinstance(value, bool)
    if annotation is bool:
        return isinstance(value, bool | np.bool_)
    return True  # a type the generic check does not know: leave it to the task's own checks


def _describe_type(value: object) -> str:
    if isinstance(value, tuple):
        return "a tuple (" + ", ".join(_describe_type(item) for item in value) + ")"
    if _is_tensor(value):
        return "a torch.Tensor"
    return f"a {type(value).__module__.replace('builtins', '').strip('.') + '.' if type(value).__module__ != 'builtins' else ''}{type(value).__name__}"


def _annotation_text(annotation: object) -> str:
    return str(annotation).replace("typing.", "").replace("<class '", "").replace("'>", "")


# ----------------------------------------------------------------------------- bad inputs


def _schedule_length(arguments: dict[str, object]) -> int | None:
    for value in arguments.values():
        if hasattr(value, "alpha_bars") and hasattr(value, "T"):
            return int(value.T)
    return None


def _candidates(name: str, value: object, arguments: dict[str, object]) -> list[tuple[object, str]]:
    """Bad values for one argument, suggested by what kind of value it is: (value, case)."""
    import torch

    if value is None or (callable(value) and not _is_tensor(value)):
        return []
    if name == "t":
        T = _schedule_length(arguments)
        out: list[tuple[object, str]] = [(1.5, "a float")]
        if T is not None:
            out += [(T, f"T = {T}, one past the last index"), (-1, "-1")]
        return out
    if isinstance(value, torch.Generator):
        return [(None, "None"), (0, "the int 0 instead of a torch.Generator")]
    if isinstance(value, np.random.Generator):
        return [(None, "None"), (0, "the int 0 instead of a numpy Generator")]
    if _is_tensor(value) and value.is_floating_point() and value.numel() > 0:
        nan = value.clone()
        nan.view(-1)[0] = float("nan")
        inf = value.clone()
        inf.view(-1)[-1] = float("inf")
        return [
            (nan, "a tensor with a NaN entry"),
            (inf, "a tensor with an inf entry"),
            (value.tolist(), "a list instead of a tensor"),
        ]
    if isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.size > 0:
        nan = value.copy()
        nan.flat[0] = np.nan
        return [(nan, "an array with a NaN entry")]
    if isinstance(value, bool):
        return []
    if isinstance(value, int | np.integer):
        return [(0, "0"), (-1, "-1"), (2.5, "2.5")]
    if isinstance(value, float):
        return [(math.nan, "NaN"), (0.0, "0.0"), (-1.0, "-1.0")]
    if isinstance(value, str):
        return [("no-such-option", "'no-such-option'")]
    if isinstance(value, tuple) and value and all(isinstance(n, int) for n in value):
        return [((0, *value[1:]), f"{(0, *value[1:])}"), ((), "()")]
    if hasattr(value, "alpha_bars") and hasattr(value, "T"):
        return [([0.1, 0.2], "a list instead of a NoiseSchedule")]
    return []


def _raises_naming(function: Callable, example: Call, argument: str) -> bool:
    try:
        example(function)
    except ValueError as error:
        return argument in str(error)
    except Exception:
        return False
    return False


# ----------------------------------------------------------------------------- the checks


def checks_for(spec: FunctionSpec, reference: Callable) -> list[Check]:
    """The generic checks of one function, derived from its reference ``reference``."""
    name = spec.name
    signature = inspect.signature(reference)
    checks: list[Check] = []
    annotation = _returns(reference)

    def function_of(impl: object) -> Callable:
        return getattr(impl, name)

    if annotation is not None and spec.example is not None:

        def returns(impl: object) -> None:
            out = spec.example()(function_of(impl))
            if not _type_matches(out, annotation):
                raise Failure(
                    f"{name} returned {_describe_type(out)}; its signature promises "
                    f"{_annotation_text(annotation)}",
                    RETURNS_HINT,
                )

        checks.append(
            Check(
                name,
                RETURNS,
                f"{name} returns the type its signature promises",
                RETURNS_HINT,
                returns,
            )
        )
    if spec.example is None:
        return checks + _declared_errors(spec, reference, signature)

    def dtype(impl: object) -> None:
        variants = [("as given", None, None), ("float32", "float32", "float32")]
        variants.append(("float64", "float64", "float64"))
        for label, torch_dtype, numpy_dtype in variants:
            example = spec.example()
            cast = Call(
                tuple(_cast(a, torch_dtype, numpy_dtype) for a in example.args),
                {k: _cast(v, torch_dtype, numpy_dtype) for k, v in example.kwargs.items()},
            )
            try:
                expected = _float_dtypes(cast(reference))
            except ValueError:
                continue  # the reference refuses these inputs: nothing to compare
            got = _float_dtypes(cast(function_of(impl)))
            if got != expected:
                raise Failure(
                    f"with the inputs {label}, {name} returned dtype {', '.join(got) or 'none'}; "
                    f"expected {', '.join(expected)}",
                    DTYPE_HINT,
                )

    checks.append(
        Check(name, "keeps_the_dtype_rule", f"{name} keeps the dtype rule", DTYPE_HINT, dtype)
    )

    def unmodified(impl: object) -> None:
        example = spec.example()
        before = {key: copy.deepcopy(v) for key, v in _arguments(example, signature).items()}
        example(function_of(impl))
        after = _arguments(example, signature)
        for key, value in before.items():
            if _array(value) is not None and not outputs_equal(value, after[key]):
                raise Failure(f"{name} changed its argument {key} in place", UNMODIFIED_HINT)

    checks.append(
        Check(
            name,
            "leaves_its_inputs_alone",
            f"{name} leaves its inputs unmodified",
            UNMODIFIED_HINT,
            unmodified,
        )
    )

    source = next((p for p in ("rng", "generator") if p in signature.parameters), None)
    if source is not None:
        checks.append(_randomness_check(spec, reference, signature, source))
    else:
        checks.append(_global_state_check(spec, reference))
    return checks + _error_checks(spec, reference, signature)


def _global_states() -> tuple:
    import torch

    return (_numpy_global_state(), torch.random.get_rng_state(), random.getstate())


def _same_states(a: tuple, b: tuple) -> bool:
    import torch

    return np.array_equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[2] == b[2]


def _global_state_check(spec: FunctionSpec, reference: Callable) -> Check:
    """A function without a random source leaves the global random state alone, as its reference does."""
    name = spec.name

    def untouched(impl: object) -> None:
        before = _global_states()
        spec.example()(reference)
        if not _same_states(before, _global_states()):
            return  # the reference itself draws from it (a network's initial weights): no rule
        import torch

        saved = (np.random.get_state(), torch.random.get_rng_state(), random.getstate())  # noqa: NPY002
        try:  # from a state no seed inside the function would give back
            np.random.seed(20_231_129)  # noqa: NPY002
            torch.manual_seed(20_231_129)
            random.seed(20_231_129)
            before = _global_states()
            spec.example()(getattr(impl, name))
            changed = not _same_states(before, _global_states())
        finally:
            np.random.set_state(saved[0])  # noqa: NPY002
            torch.random.set_rng_state(saved[1])
            random.setstate(saved[2])
        if changed:
            raise Failure(
                f"{name} changed the global random state (a seed set or a number drawn)",
                GLOBAL_STATE_HINT,
            )

    return Check(
        name,
        "leaves_the_global_random_state_alone",
        f"{name} leaves the global random state alone",
        GLOBAL_STATE_HINT,
        untouched,
    )


def _numpy_global_state() -> np.ndarray:
    """The key of NumPy's legacy global generator, the one ``np.random.normal`` and friends use."""
    return np.random.get_state()[1].copy()  # noqa: NPY002 (reading it is the point)


def _seeded(kind: object, seed: int) -> object:
    import torch

    if isinstance(kind, torch.Generator):
        return torch.Generator(device=kind.device).manual_seed(seed)
    return np.random.default_rng(seed)


def _randomness_check(
    spec: FunctionSpec, reference: Callable, signature: inspect.Signature, source: str
) -> Check:
    name = spec.name

    def randomness(impl: object) -> None:
        import torch

        example = spec.example()
        given = _arguments(example, signature).get(source)
        if given is None:
            return  # the example needs no randomness
        function = getattr(impl, name)
        runs = {}
        states = (_numpy_global_state(), torch.random.get_rng_state(), random.getstate())
        for label, seed in (("first", 1234), ("again", 1234), ("other", 4321)):
            runs[label] = _with(example, source, _seeded(given, seed), signature)(function)
        after = (_numpy_global_state(), torch.random.get_rng_state(), random.getstate())
        if not (
            np.array_equal(states[0], after[0])
            and torch.equal(states[1], after[1])
            and states[2] == after[2]
        ):
            raise Failure(f"{name} used the global random state instead of its {source}", RNG_HINT)
        if not outputs_equal(runs["first"], runs["again"]):
            raise Failure(f"{name} gave different results for the same seed of {source}", RNG_HINT)
        ref = [
            _with(example, source, _seeded(given, seed), signature)(reference)
            for seed in (1234, 4321)
        ]
        if not outputs_equal(ref[0], ref[1]) and outputs_equal(runs["first"], runs["other"]):
            raise Failure(
                f"{name} gave the same result for different seeds of {source}: its randomness "
                f"does not come from {source}",
                RNG_HINT,
            )

    return Check(
        name,
        "draws_only_from_its_generator",
        f"{name} draws its randomness from {source} only",
        RNG_HINT,
        randomness,
    )


def _error_checks(
    spec: FunctionSpec, reference: Callable, signature: inspect.Signature
) -> list[Check]:
    name = spec.name

    def documented_errors(impl: object) -> None:
        example = spec.example()
        arguments = _arguments(example, signature)
        for argument, value in arguments.items():
            for bad, case in _candidates(argument, value, arguments):
                variant = _with(spec.example(), argument, bad, signature)
                if not _raises_naming(reference, variant, argument):
                    continue
                _expect_value_error(impl, name, variant, argument, f"{argument} = {case}")

    checks = [
        Check(
            name,
            "rejects_bad_input",
            f"{name} raises a ValueError naming the argument for each bad input its reference rejects",
            ERROR_HINT.format(argument="the argument"),
            documented_errors,
        )
    ]
    return checks + _declared_errors(spec, reference, signature)


def _declared_errors(
    spec: FunctionSpec, reference: Callable, signature: inspect.Signature
) -> list[Check]:
    if not spec.invalid or spec.example is None:
        return []
    name = spec.name

    def declared(impl: object) -> None:
        for invalid in spec.invalid:
            example = spec.example()
            value = invalid.value
            if callable(value) and not _is_tensor(value):
                value = value(_arguments(example, signature))
            variant = _with(example, invalid.argument, value, signature)
            _expect_value_error(
                impl, name, variant, invalid.names or invalid.argument, invalid.case
            )

    return [
        Check(
            name,
            "rejects_documented_bad_input",
            f"{name} raises the ValueErrors its docstring documents",
            ERROR_HINT.format(argument="the argument"),
            declared,
        )
    ]


def _expect_value_error(
    impl: object, name: str, variant: Call, argument: str | tuple[str, ...], case: str
) -> None:
    options = (argument,) if isinstance(argument, str) else argument
    argument = " or ".join(options)
    hint = ERROR_HINT.format(argument=options[0])
    try:
        variant(getattr(impl, name))
    except NotImplementedError:
        raise
    except ValueError as error:
        if not any(option in str(error) for option in options):
            raise Failure(
                f"for {case}, {name} raised a ValueError that does not name {argument!r}: "
                f"{str(error)[:160]!r}",
                hint,
            ) from None
        return
    except Exception as error:
        raise Failure(
            f"for {case}, {name} raised {type(error).__name__} ({str(error).strip()[:100]}) "
            f"instead of a ValueError naming {argument!r}",
            hint,
        ) from None
    raise Failure(
        f"for {case}, {name} raised no error; expected a ValueError naming {argument!r}", hint
    )


def invalid_cases(spec: FunctionSpec, reference: Callable) -> list[tuple[str, str]]:
    """The (argument, case) pairs the reference rejects: what the error checks require."""
    if spec.example is None:
        return []
    signature = inspect.signature(reference)
    arguments = _arguments(spec.example(), signature)
    found = []
    for argument, value in arguments.items():
        for bad, case in _candidates(argument, value, arguments):
            if _raises_naming(reference, _with(spec.example(), argument, bad, signature), argument):
                found.append((argument, case))
    return found + [(i.argument, i.case) for i in spec.invalid]
