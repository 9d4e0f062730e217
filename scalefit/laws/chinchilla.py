"""Chinchilla loss law ``L(N, D) = E + A / N^alpha + B / D^beta`` and its compute-optimal allocation.

Hoffmann et al. 2022 (arXiv 2203.15556), eq. 2 (their approach 3), refitted by Besiroglu et al. 2024
("Chinchilla Scaling: A replication attempt", arXiv 2404.10102), whose objective the fitter uses: the summed
Huber loss (delta = 1e-3) of log residuals, in the log-sum-exp form ``log L = LSE(a - alpha log N,
b - beta log D, e)`` with ``A = e^a``, ``B = e^b``, ``E = e^e``.

============  ==========================================================  ================
symbol        meaning                                                     paper
============  ==========================================================  ================
E             irreducible loss (nats/token)                                Hoffmann eq. 2
A, alpha      amplitude and exponent of the model-size term (N params)     Hoffmann eq. 2
B, beta       amplitude and exponent of the data term (D tokens)           Hoffmann eq. 2
============  ==========================================================  ================

Compute-optimal allocation under C = 6 N D (Hoffmann eq. 4):
``N*(C) = G (C/6)^(beta/(alpha+beta))``, ``D*(C) = (C/6)^(alpha/(alpha+beta)) / G``,
``G = (alpha A / (beta B))^(1/(alpha+beta))``.

The fit, its bootstrap and its result live in :mod:`scalefit.scaling` (``fit_scaling(..., law="chinchilla")``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scalefit.laws.base import ParamSpec
from scalefit.laws.scaling_base import FLOPS_PER_PARAM_TOKEN, IRREDUCIBLE, ScalingLaw

CITATION = "Hoffmann et al. 2022 (arXiv 2203.15556); Besiroglu et al. 2024 (arXiv 2404.10102)"
PARAMS = (
    IRREDUCIBLE,
    ParamSpec("A", 0.0, np.inf, True, 400.0, "model-size amplitude"),
    ParamSpec("B", 0.0, np.inf, True, 2000.0, "data amplitude"),
    ParamSpec("alpha", 0.0, 3.0, False, 0.34, "model-size exponent"),
    ParamSpec("beta", 0.0, 3.0, False, 0.28, "data exponent"),
)
NAMES = tuple(p.name for p in PARAMS)


class ChinchillaLaw(ScalingLaw):
    """``E + A / N^alpha + B / D^beta`` (Hoffmann et al. 2022, eq. 2)."""

    name = "chinchilla"
    citation = CITATION
    formula = "L = E + A/N^alpha + B/D^beta"
    params = PARAMS

    def log_terms(self, theta: np.ndarray, lN: np.ndarray, lD: np.ndarray) -> np.ndarray:
        alpha, beta = theta
        return np.stack([np.zeros_like(lN), -alpha * lN, -beta * lD])  # (3, n)

    def log_terms_jac(self, theta: np.ndarray, lN: np.ndarray, lD: np.ndarray) -> np.ndarray:
        z = np.zeros_like(lN)
        return np.stack([np.stack([z, -lN, z]), np.stack([z, z, -lD])])  # (2, 3, n)

    def allocate(self, rows: np.ndarray, flops: float) -> tuple[np.ndarray, np.ndarray]:
        """Hoffmann eq. 4 per row; NaN where there is no interior optimum (an amplitude or exponent at 0)."""
        E, A, B, alpha, beta = np.atleast_2d(np.asarray(rows, float)).T
        c = flops / FLOPS_PER_PARAM_TOKEN
        with np.errstate(all="ignore"):
            s = alpha + beta
            G = (alpha * A / (beta * B)) ** (1 / s)
            N = G * c ** (beta / s)
            D = c / N
        bad = (alpha <= 0) | (beta <= 0) | (A <= 0) | (B <= 0) | ~np.isfinite(N) | (N <= 0)
        return np.where(bad, np.nan, N), np.where(bad, np.nan, D)

    def optimal_exponents(self, values: Any) -> tuple[float, float]:
        """``a = beta / (alpha + beta)`` and ``b = alpha / (alpha + beta)`` (Hoffmann eq. 4)."""
        v = dict(zip(self.names, self.values_vector(values)))
        s = v["alpha"] + v["beta"]
        return float(v["beta"] / s), float(v["alpha"] / s)


LAW = ChinchillaLaw()


def loss(params: dict[str, float] | np.ndarray, N: Any, D: Any) -> np.ndarray:
    """``E + A / N^alpha + B / D^beta`` for parameters given as a dict or an array in ``NAMES`` order.

    An array of shape (5, b) gives one value per column (bootstrap draws), broadcast against N and D.
    """
    if isinstance(params, dict):
        E, A, B, alpha, beta = (params[k] for k in NAMES)
    else:
        E, A, B, alpha, beta = np.asarray(params, float)
    N, D = np.asarray(N, float), np.asarray(D, float)
    return E + A / N**alpha + B / D**beta
