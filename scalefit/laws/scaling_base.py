"""What every loss law of model size and data declares: its parameters as data and the sum-of-powers contract.

A scaling law here predicts the final loss of a run from its size N (non-embedding parameters) and its training
tokens D. Every law in this family is a sum of positive terms, each an amplitude times a power of N, D or
C = 6ND::

    L(N, D) = sum_j c_j * exp(g_j(theta; log N, log D)),   c_j >= 0

so the amplitudes ``c`` (the linear parameters, E among them with ``g = 0``) are solved by variable projection
for fixed exponents ``theta`` (the non-linear parameters), exactly as the loss-curve laws of
:mod:`scalefit.laws.base` are. The fitter (:mod:`scalefit.scaling.solve`) works in the log-sum-exp form of
Besiroglu et al. 2024 with ``u_j = log c_j``, which keeps every amplitude positive.

==================  ===========================================================================================
member              meaning
==================  ===========================================================================================
``params``          the :class:`~scalefit.laws.base.ParamSpec` table (amplitudes ``linear=True``, first)
``log_terms``       (k, n) ``g_j`` at each point, for theta in ``nonlinear_names`` order
``log_terms_jac``   (m, k, n) derivative of ``log_terms`` with respect to theta
``allocate``        compute-optimal N*(C), D*(C) under C = 6ND for rows of parameter values
``grid``            the exponent values the variable-projection start grid tries, per non-linear parameter
``min_sizes``       the fewest distinct N (and D) that identify the law
==================  ===========================================================================================

The laws are immutable and pure: no I/O, no fitting loop. :mod:`scalefit.scaling.registry` lists them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from scalefit.laws.base import ParamSpec, ParamTable

#: Compute per parameter per token of a training run (Kaplan et al. 2020): C = 6 N D.
FLOPS_PER_PARAM_TOKEN = 6.0
#: The irreducible loss, first amplitude of every loss law here (its term is the constant 1).
IRREDUCIBLE = ParamSpec("E", 0.0, np.inf, True, 1.8, "irreducible loss, nats/token")


class ScalingLaw(ParamTable):
    """Base class of a loss law ``L(N, D)``: a ParamSpec table (read through :class:`ParamTable`, as the loss-curve
    laws read theirs) and the sum-of-powers contract above. No parameter is ``fixed``."""

    name: str = ""
    citation: str = ""
    formula: str = ""
    params: tuple[ParamSpec, ...] = ()
    #: Fewest distinct model sizes (and token counts) that separate each term from E.
    min_sizes: int = 3

    def grid(self) -> dict[str, np.ndarray]:
        """Exponent values tried by the start grid, per non-linear parameter (30 per exponent by default)."""
        return {p.name: np.linspace(max(p.lower, 0.02), min(p.upper, 1.5), 30) for p in self.params
                if not p.linear}

    # ---- the contract ---------------------------------------------------------------------------------------
    def log_terms(self, theta: np.ndarray, lN: np.ndarray, lD: np.ndarray) -> np.ndarray:
        """``g_j(theta)`` at each point, shape (k, n); ``lN``, ``lD`` are natural logs of N and D, shape (n,)."""
        raise NotImplementedError

    def log_terms_jac(self, theta: np.ndarray, lN: np.ndarray, lD: np.ndarray) -> np.ndarray:
        """Derivative of :meth:`log_terms` with respect to ``theta``, shape (m, k, n)."""
        raise NotImplementedError

    def allocate(self, rows: np.ndarray, flops: float) -> tuple[np.ndarray, np.ndarray]:
        """Compute-optimal N* and D* = C / 6N* for each row of ``rows`` (shape (b, P), ``names`` order).

        The default minimises the law along the line C = 6ND numerically (NaN where the minimum lies at the edge
        of N in [C^(1/2) / 1e6, C^(1/2) * 1e6]); laws with a closed form override it.
        """
        rows = np.atleast_2d(np.asarray(rows, float))
        lc = np.log(flops / FLOPS_PER_PARAM_TOKEN)
        lN = np.linspace(lc / 2 - 14, lc / 2 + 14, 2001)  # (g,)
        out = np.full(rows.shape[0], np.nan)
        for i, row in enumerate(rows):
            L = self.loss(row, np.exp(lN), np.exp(lc - lN))
            j = int(np.nanargmin(L)) if np.isfinite(L).any() else 0
            if 0 < j < lN.size - 1:
                y0, y1, y2 = L[j - 1:j + 2]
                den = y0 - 2 * y1 + y2
                step = lN[1] - lN[0]
                out[i] = np.exp(lN[j] + (0.5 * step * (y0 - y2) / den if den > 0 else 0.0))
        return out, np.exp(lc) / out

    # ---- derived ----------------------------------------------------------------------------------------------
    def values_vector(self, values: Mapping[str, float] | Any) -> np.ndarray:
        """Parameter values as an array in ``names`` order (from a mapping or an array)."""
        if isinstance(values, Mapping):
            return np.array([float(values[k]) for k in self.names])
        return np.asarray(values, float)

    def loss(self, values: Mapping[str, float] | Any, N: Any, D: Any) -> np.ndarray:
        """The law at (N, D) (nats/token; N and D broadcast), for values as a mapping or an array in ``names`` order."""
        v = self.values_vector(values)
        k = len(self.linear_names)
        lN, lD = np.broadcast_arrays(np.log(np.asarray(N, float)), np.log(np.asarray(D, float)))
        terms = self.log_terms(v[k:], lN.ravel(), lD.ravel())  # (k, n)
        return (v[:k] @ np.exp(terms)).reshape(lN.shape)

    def loss_rows(self, rows: np.ndarray, N: Any, D: Any) -> np.ndarray:
        """The law for each parameter row of ``rows`` (shape (b, P)): N and D are scalars (one point for every
        row) or arrays of shape (b,) (one point per row). Returns shape (b,)."""
        rows = np.atleast_2d(np.asarray(rows, float))
        N, D = (np.broadcast_to(np.asarray(x, float), (rows.shape[0],)) for x in (N, D))
        return np.array([float(self.loss(r, n, d)) for r, n, d in zip(rows, N, D)])

    def optimal_exponents(self, values: Mapping[str, float] | Any) -> tuple[float, float]:
        """Exponents a, b of N* ~ C^a and D* ~ C^b (numerical, from the allocation at two budgets)."""
        row = self.values_vector(values)[None]
        c1, c2 = 1e20, 1e24
        n1, d1 = self.allocate(row, c1)
        n2, d2 = self.allocate(row, c2)
        span = np.log(c2 / c1)
        return float(np.log(n2[0] / n1[0]) / span), float(np.log(d2[0] / d1[0]) / span)
