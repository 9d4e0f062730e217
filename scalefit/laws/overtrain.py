"""Over-training-aware loss law ``L(C, M) = E + (a M^eta + b M^-eta) C^-eta`` of Gadre et al. 2024.

Gadre et al. 2024, "Language models scale reliably with over-training and on downstream tasks"
(arXiv 2403.08540), eq. 4: with compute C = 6 N D and the token multiplier M = D / N (tokens per parameter),
the loss at a fixed multiplier falls as a power of compute with one exponent ``eta`` for every M, and the
multiplier moves the curve up and down (the reducible loss scales as ``a M^eta + b M^-eta``).

============  ===============================================================  ==================
symbol        meaning                                                          paper
============  ===============================================================  ==================
E             irreducible loss (nats/token)                                     Gadre eq. 4
a             amplitude of the over-training (large M) term                     Gadre eq. 4
b             amplitude of the under-training (small M) term                    Gadre eq. 4
eta           compute exponent of the reducible loss, the same for every M      Gadre eq. 4
============  ===============================================================  ==================

The paper derives the form from Chinchilla's ``E + A N^-alpha + B D^-beta`` with alpha = beta: written in N and
D it is ``E + a 6^-eta N^-2eta + b 6^-eta D^-2eta``. One exponent instead of two is what lets it predict runs
far beyond the fitted ones (the paper's 1.4B and 6.9B runs from a sweep up to 411M), at the price of fixing the
compute-optimal split at N* ~ C^0.5, D* ~ C^0.5, and of M* = (b / a)^(1 / (2 eta)) tokens per parameter.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scalefit.laws.base import ParamSpec
from scalefit.laws.scaling_base import FLOPS_PER_PARAM_TOKEN, IRREDUCIBLE, ScalingLaw

CITATION = "Gadre et al. 2024 (arXiv 2403.08540), eq. 4"
PARAMS = (
    IRREDUCIBLE,
    ParamSpec("a", 0.0, np.inf, True, 100.0, "over-training amplitude (multiplies M^eta C^-eta)"),
    ParamSpec("b", 0.0, np.inf, True, 100.0, "under-training amplitude (multiplies M^-eta C^-eta)"),
    ParamSpec("eta", 0.0, 1.5, False, 0.15, "compute exponent of the reducible loss"),
)
_LOG6 = float(np.log(FLOPS_PER_PARAM_TOKEN))


class OvertrainLaw(ScalingLaw):
    """``E + (a M^eta + b M^-eta) C^-eta`` with C = 6ND and M = D/N (Gadre et al. 2024, eq. 4)."""

    name = "overtrain"
    citation = CITATION
    formula = "L = E + (a M^eta + b M^-eta) C^-eta, C = 6ND, M = D/N"
    params = PARAMS
    #: One exponent for N and D: two sizes and two token counts identify it (the fit still needs 7 runs).
    min_sizes = 2

    def grid(self) -> dict[str, np.ndarray]:
        return {"eta": np.linspace(0.01, 0.75, 75)}

    def log_terms(self, theta: np.ndarray, lN: np.ndarray, lD: np.ndarray) -> np.ndarray:
        (eta,) = theta
        lM, lC = lD - lN, _LOG6 + lN + lD
        return np.stack([np.zeros_like(lN), eta * (lM - lC), -eta * (lM + lC)])  # (3, n)

    def log_terms_jac(self, theta: np.ndarray, lN: np.ndarray, lD: np.ndarray) -> np.ndarray:
        lM, lC = lD - lN, _LOG6 + lN + lD
        return np.stack([np.zeros_like(lN), lM - lC, -(lM + lC)])[None]  # (1, 3, n)

    def allocate(self, rows: np.ndarray, flops: float) -> tuple[np.ndarray, np.ndarray]:
        """At fixed C the law is minimal at M* = (b / a)^(1 / (2 eta)): N* = (C / (6 M*))^(1/2), D* = M* N*."""
        E, a, b, eta = np.atleast_2d(np.asarray(rows, float)).T
        with np.errstate(all="ignore"):
            M = (b / a) ** (1 / (2 * eta))
            N = np.sqrt(flops / (FLOPS_PER_PARAM_TOKEN * M))
            D = M * N
        bad = (a <= 0) | (b <= 0) | (eta <= 0) | ~np.isfinite(N) | (N <= 0)
        return np.where(bad, np.nan, N), np.where(bad, np.nan, D)

    def optimal_exponents(self, values: Any) -> tuple[float, float]:
        """Always 1/2 and 1/2: the form fixes the tokens per parameter of the optimum."""
        return 0.5, 0.5


LAW = OvertrainLaw()
