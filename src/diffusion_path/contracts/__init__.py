"""Contracts: the checks each task's functions must pass, and the grader's types.

``diffusion_path.contracts.<task>`` (``pre_1``, ``core_2``, ...) holds one task's
``CONTRACT``. The checks use only the library's runtime dependencies (NumPy, PyTorch), so
``diffusion-path check`` works after a plain ``pip install``; they compare with ground truth
computed independently of the code under test (closed forms, Bayes' rule by hand,
``torch.distributions``, exact oracles). Statistical checks use fixed seeds and bounds that a
correct implementation fails less than once in a million runs.

The grader that runs them, in a child process with a time limit, is ``diffusion_path.check``: it
imports the contracts, never the other way round.
"""

from __future__ import annotations

from diffusion_path.contracts.asserts import (
    FAILURE_RATE,
    Z_BOUND,
    assert_close,
    assert_ks,
    assert_raises_value_error,
    assert_within_se,
    expect,
    normal_cdf,
    to_numpy,
)
from diffusion_path.contracts.base import (
    Call,
    Check,
    Contract,
    Failure,
    FunctionSpec,
    Invalid,
    call,
)

__all__ = [
    "FAILURE_RATE",
    "Z_BOUND",
    "Call",
    "Check",
    "Contract",
    "Failure",
    "FunctionSpec",
    "Invalid",
    "assert_close",
    "assert_ks",
    "assert_raises_value_error",
    "assert_within_se",
    "call",
    "expect",
    "normal_cdf",
    "to_numpy",
]
