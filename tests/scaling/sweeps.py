"""Simulated sweeps with a known loss law, shared by the compute-optimal tests (seeded, small, fast).

Imported by the tests of this folder as ``from sweeps import ...`` (pytest puts the folder on ``sys.path``)."""

from __future__ import annotations

from typing import Callable

import numpy as np
from scalefit.laws import chinchilla as ch

#: A Chinchilla law with a = beta / (alpha + beta) = 0.45 (asymmetric, like Hoffmann's approach-3 fit).
TRUTH = {"E": 1.7, "A": 400.0, "B": 1200.0, "alpha": 0.33, "beta": 0.27}


def n_opt(C: float | np.ndarray) -> np.ndarray:
    """The truth's compute-optimal N at C = 6ND (Hoffmann eq. 4)."""
    a, b = TRUTH["alpha"], TRUTH["beta"]
    G = (a * TRUTH["A"] / (b * TRUTH["B"])) ** (1 / (a + b))
    return G * (np.asarray(C, float) / 6) ** (b / (a + b))


def isoflop(budgets=(1e17, 3e17, 1e18, 3e18, 1e19, 3e19), per: int = 9, span: float = 16.0, noise: float = 0.002,
            seed: int = 0, offsets=None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(N, D, loss, C): at each budget ``per`` sizes over a ``span``-fold range around N* (shifted by ``offsets``,
    a factor per budget), D = C / 6N, loss from TRUTH times log-normal noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for j, C in enumerate(budgets):
        centre = float(n_opt(C)) * (1.0 if offsets is None else offsets[j])
        for N in centre * np.geomspace(1 / np.sqrt(span), np.sqrt(span), per):
            D = C / (6 * N)
            rows.append((N, D, float(ch.loss(TRUTH, N, D)) * np.exp(rng.normal(0, noise)), C))
    return tuple(np.array(c) for c in zip(*rows))  # type: ignore[return-value]


def grid(sizes=(1e7, 3e7, 1e8, 3e8, 1e9), ratios=(4, 16, 64, 256, 1024), noise: float = 0.002, seed: int = 0,
         law: Callable | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, D, loss) on sizes x tokens-per-parameter ratios, loss from TRUTH (or ``law(N, D)``) with noise."""
    rng = np.random.default_rng(seed)
    N, M = (a.ravel() for a in np.meshgrid(np.asarray(sizes, float), np.asarray(ratios, float)))
    D = N * M
    L = (ch.loss(TRUTH, N, D) if law is None else law(N, D)) * np.exp(rng.normal(0, noise, N.size))
    return N, D, L

