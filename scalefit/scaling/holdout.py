"""How well a loss law predicts runs bigger than those it was fitted on: leave the largest size out, predict it.

This is the check the labs publish (Hoffmann et al. predict Chinchilla from smaller runs; Gadre et al. predict
1.4B and 6.9B runs from a sweep up to 411M) and the criterion that picks the default law
(:data:`scalefit.scaling.registry.DEFAULT_LAW`): the error on held-out bigger runs, not the fit to the training
runs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from scalefit.errors import FitInputError, ScalefitWarning
from scalefit.laws.scaling_base import ScalingLaw
from scalefit.scaling.extrapolation import size_groups
from scalefit.scaling.fit import fit_scaling
from scalefit.scaling.registry import get_loss_law
from scalefit.scaling.solve import Progress

@dataclass(frozen=True)
class Holdout:
    """Predictions of the held-out runs (the largest size) from a fit on the others.

    ``loss``, ``predicted``, ``lower``, ``upper`` have one entry per held-out run; ``rel_error`` is
    ``predicted / loss - 1``.
    """

    law: str
    n_train: int
    params: np.ndarray
    tokens: np.ndarray
    loss: np.ndarray
    predicted: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    interval: float
    train_max_params: float

    @property
    def rel_error(self) -> np.ndarray:
        return self.predicted / self.loss - 1

    @property
    def mean_abs_rel_error(self) -> float:
        return float(np.mean(np.abs(self.rel_error)))

    @property
    def coverage(self) -> float:
        """Fraction of held-out losses inside their interval (NaN without intervals)."""
        if not np.isfinite(self.lower).all():
            return float("nan")
        return float(np.mean((self.lower <= self.loss) & (self.loss <= self.upper)))

    def summary(self) -> dict[str, Any]:
        return {"law": self.law, "n_train": self.n_train, "n_test": int(self.loss.size),
                "train_max_params": self.train_max_params, "test_params": sorted(set(map(float, self.params))),
                "mean_abs_rel_error": self.mean_abs_rel_error, "mean_rel_error": float(np.mean(self.rel_error)),
                "coverage": self.coverage, "interval": self.interval}


def leave_largest_out(params: Any, tokens: Any, loss: Any, *, law: str | ScalingLaw | None = None,
                      bootstrap: int = 100, seed: int = 0, interval: float = 0.9, n_largest: int = 1,
                      progress: Progress = None) -> Holdout:
    """Fit ``law`` on every run but those of the ``n_largest`` largest sizes; predict those, with intervals.

    Raises :class:`FitInputError` when fewer sizes than the law needs would be left to fit.
    """
    N, D, L = (np.asarray(v, float).ravel() for v in (params, tokens, loss))
    spec = get_loss_law(law)
    g = size_groups(N)
    cut = g.max() - n_largest + 1
    if cut < spec.min_sizes:
        raise FitInputError(f"only {g.max() + 1} model sizes: leaving {n_largest} out leaves fewer than "
                            f"{spec.min_sizes} to fit the {spec.name} law. Add runs at more sizes.")
    train, test = g < cut, g >= cut
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalefitWarning)
        fit = fit_scaling(N[train], D[train], L[train], law=law, bootstrap=bootstrap, seed=seed, progress=progress)
    rows = [fit.prediction(n, d, interval) for n, d in zip(N[test], D[test])]
    pred, lo, hi = (np.array(c) for c in zip(*rows))
    return Holdout(law=fit.law, n_train=int(train.sum()), params=N[test], tokens=D[test], loss=L[test],
                   predicted=pred, lower=lo, upper=hi, interval=interval, train_max_params=float(N[train].max()))
