"""Evenly spaced subsets: the one thinner behind the fitted rows of a dense log, the curves a fit keeps for plots,
the tail rows of the law error and the steps of a printed prediction curve."""

from __future__ import annotations

import numpy as np


def evenly_spaced(n: int, k: int) -> np.ndarray:
    """Indices of at most ``k`` evenly spaced items of ``n`` (the first and the last included), shape (<= k,).

    ``round(linspace(0, n - 1, k))`` without repeats; every index when ``n <= k``.

    >>> evenly_spaced(10, 4).tolist()
    [0, 3, 6, 9]
    >>> evenly_spaced(3, 5).tolist()
    [0, 1, 2]
    """
    if n <= k:
        return np.arange(n, dtype=np.int64)
    return np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))
