"""Inputs the contracts build: seeded float64 noise, and $\bar\alpha$ computed by hand.

Examples:
    >>> import numpy as np
    >>> alpha_bars_by_loop(np.array([0.5, 0.5])).tolist()
    [0.5, 0.25]
    >>> seeded_randn(2, 3, seed=0).dtype
    torch.float64
"""

from __future__ import annotations

import numpy as np


def seeded_randn(*shape: int, seed: int):
    """Standard normal float64 noise of ``shape`` from a generator seeded with ``seed``."""
    import torch

    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def alpha_bars_by_loop(betas: np.ndarray) -> np.ndarray:
    r"""$\bar\alpha_t = \prod_{s \le t} (1 - \beta_s)$ by an explicit loop, independent of any
    cumprod in the code under test."""
    out, running = [], 1.0
    for beta in betas:
        running *= 1.0 - beta
        out.append(running)
    return np.array(out)
