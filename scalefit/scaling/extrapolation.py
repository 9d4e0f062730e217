"""The law's own error when it predicts runs bigger than those fitted, measured on the runs themselves.

The bootstrap over runs says how well the runs pin the law's parameters; it says nothing about whether the law's
form holds at sizes it never saw. That is measured here by forward folds over model sizes: fit on the smallest
sizes, predict every bigger run, and relate the relative error to how far the run lies outside the fitted range
(``d = ln`` of its extrapolation factor: the largest of N, D and C = 6ND over their fitted maxima, at least 1).
Errors are modelled as ``e^2 = s^2 + (sigma d)^2``: ``s`` is the fit's residual sd (the noise of one run) and
``sigma`` the law's own error per e-fold of extrapolation, estimated as ``sum(e^2 - s^2) / sum(d^2)`` (at least
0). The idea is the loss-curve laws' cross-validated law error (:mod:`scalefit.law_error`), with the distance
measured in size instead of steps.

Prediction intervals (:meth:`~scalefit.scaling.result.ScalingFit.prediction`) of a point ``d`` e-folds beyond
the data add a normal law error of sd ``sigma d`` to the run-to-run noise. The alternative ``sd = sigma' (1 + d)``
(sigma' from ``mean(e^2 / (1 + d)^2)``, in place of the noise) covered no more held-out runs on the reference
sets (``benchmarks/RESULTS.md``). The folds cost one fit each (the last :data:`MAX_FOLDS` cuts).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from scalefit.errors import ScalefitError, ScalefitWarning
from scalefit.laws.scaling_base import FLOPS_PER_PARAM_TOKEN, ScalingLaw

#: Fewest sizes a fold fits on, and the most folds (the cuts nearest the largest size).
MIN_FOLD_SIZES, MAX_FOLDS = 3, 4
#: Model sizes within this relative distance are one size (digitised points scatter by about 1%).
SIZE_TOLERANCE = 0.02


def size_groups(N: Any, tol: float = SIZE_TOLERANCE) -> np.ndarray:
    """Index of each run's model size (0 = smallest), sizes within ``tol`` of their neighbour merged."""
    lN = np.log(np.asarray(N, float))
    order = np.argsort(lN)
    gid = np.concatenate([[0], np.cumsum(np.diff(lN[order]) > np.log1p(tol))]).astype(int)
    out = np.empty(lN.size, int)
    out[order] = gid
    return out


@dataclass(frozen=True)
class ExtrapolationError:
    """``sigma``: relative law error per e-fold beyond the fitted range; ``residual_sd``: sd of the fit's log
    residuals; ``errors`` and ``distances``: the forward folds' relative errors and their ``d``."""

    sigma: float
    residual_sd: float
    n_folds: int
    errors: tuple[float, ...] = ()
    distances: tuple[float, ...] = ()

    def sd(self, distance: float) -> float:
        """Relative sd of the law's error ``distance`` e-folds beyond the data (0 inside it)."""
        return float(self.sigma * max(distance, 0.0))

    def to_dict(self) -> dict[str, Any]:
        return {"sigma": self.sigma, "residual_sd": self.residual_sd, "n_folds": self.n_folds,
                "errors": list(self.errors), "distances": list(self.distances)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ExtrapolationError:
        def num(x: Any) -> float:  # JSON writes NaN as null
            return float("nan") if x is None else float(x)

        return cls(num(d["sigma"]), num(d["residual_sd"]), int(d["n_folds"]),
                   tuple(map(float, d.get("errors", ()))), tuple(map(float, d.get("distances", ()))))


def distance(N: Any, D: Any, rng: dict[str, tuple[float, float]]) -> np.ndarray:
    """``ln`` of the largest factor by which N, D or C = 6ND exceed their fitted maxima (0 inside the range)."""
    N, D = np.asarray(N, float), np.asarray(D, float)
    ratios = [N / rng["params"][1], D / rng["tokens"][1], FLOPS_PER_PARAM_TOKEN * N * D / rng["flops"][1]]
    return np.maximum(np.log(np.maximum.reduce(ratios)), 0.0)


def measure(law: ScalingLaw, N: np.ndarray, D: np.ndarray, L: np.ndarray, residual_sd: float) -> ExtrapolationError:
    """Forward folds over sizes (see the module docstring). ``sigma`` is NaN when fewer than 4 sizes leave no
    fold."""
    from scalefit.scaling.solve import solve, to_natural

    g = size_groups(N)
    cuts = list(range(MIN_FOLD_SIZES, g.max() + 1))[-MAX_FOLDS:]
    errors: list[float] = []
    dists: list[float] = []
    for cut in cuts:
        tr, te = g < cut, g >= cut
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ScalefitWarning)
                x, _, _ = solve(law, N[tr], D[tr], L[tr], np.ones(int(tr.sum())), method="vp")
        except (ScalefitError, ArithmeticError, ValueError, np.linalg.LinAlgError):
            continue
        vals = to_natural(law, x)
        pred = law.loss(vals, N[te], D[te])
        C = FLOPS_PER_PARAM_TOKEN * N[tr] * D[tr]
        rng = {"params": (0.0, float(N[tr].max())), "tokens": (0.0, float(D[tr].max())), "flops": (0.0, float(C.max()))}
        errors += list(map(float, pred / L[te] - 1))
        dists += list(map(float, distance(N[te], D[te], rng)))
    if not errors:
        return ExtrapolationError(float("nan"), residual_sd, 0)
    e, d = np.array(errors), np.array(dists)
    sigma = float(np.sqrt(max(np.sum(e**2 - residual_sd**2), 0.0) / np.sum(d**2))) if np.sum(d**2) > 0 else 0.0
    return ExtrapolationError(sigma, residual_sd, len(cuts), tuple(errors), tuple(dists))
