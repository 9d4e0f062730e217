"""Loss of runs not yet trained, from a fitted loss law: a point, an interval, and how far each lies outside the
data the law saw.

The interval (:meth:`~scalefit.scaling.result.ScalingFit.prediction`) is a bootstrap over runs: the law refitted on
resampled runs (parameter uncertainty), times a fitted run's residual (the noise of one run), times, beyond the
fitted range, the law's own extrapolation error measured by forward folds over sizes
(:mod:`scalefit.scaling.extrapolation`). Each prediction is flagged with the factor by which N, D and C lie
outside the fitted range (1 inside it).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from scalefit.errors import ExtrapolationWarning, FitInputError
from scalefit.scaling.result import ScalingFit

#: The interval method, in words (printed and in the JSON).
METHOD = ("bootstrap over runs (law refits) x one run's residual noise x the law's extrapolation error from "
          "forward folds over sizes")


@dataclass(frozen=True)
class LossPrediction:
    """One predicted run: N, D, C, the loss with its interval, and the extrapolation factors (1 = inside)."""

    params: float
    tokens: float
    flops: float
    loss: float
    lower: float
    upper: float
    factors: dict[str, float]

    @property
    def extrapolated(self) -> list[str]:
        return [k for k, f in self.factors.items() if f > 1 + 1e-9]

    def summary(self) -> dict[str, Any]:
        return {"params": self.params, "tokens": self.tokens, "flops": self.flops, "loss": self.loss,
                "lower": self.lower, "upper": self.upper, "tokens_per_param": self.tokens / self.params,
                "extrapolation": dict(self.factors), "extrapolated": self.extrapolated}


def predict_losses(fit: ScalingFit, params: Any, tokens: Any, flops: Any = None, *, interval: float = 0.9,
                   warn: bool = True) -> list[LossPrediction]:
    """Predict the loss at each (N, D) (``flops`` defaults to 6ND; it only sets the C extrapolation factor).

    Emits one :class:`ExtrapolationWarning` naming the rows outside the fitted range and the largest factor.
    """
    N, D = (np.asarray(v, float).ravel() for v in (params, tokens))
    C = 6.0 * N * D if flops is None else np.asarray(flops, float).ravel()
    if N.shape != D.shape or C.shape != N.shape:
        raise FitInputError("params, tokens (and flops) must have one value per row.")
    if not 0 < interval < 1:
        raise FitInputError(f"interval {interval} must be a fraction in (0, 1), e.g. 0.9.", value=interval)
    out = []
    for n, d, c in zip(N, D, C):
        loss, lo, hi = fit.prediction(n, d, interval)
        out.append(LossPrediction(float(n), float(d), float(c), loss, lo, hi,
                                  fit.extrapolation_factors(params=n, tokens=d, flops=c)))
    outside = [(i, p) for i, p in enumerate(out) if p.extrapolated]
    if warn and outside:
        i, worst = max(outside, key=lambda t: max(t[1].factors.values()))
        name = max(worst.factors, key=worst.factors.get)
        warnings.warn(f"scaling law: {len(outside)} of {len(out)} prediction(s) lie outside the fitted range (the "
                      f"furthest, row {i + 1}: {name} {worst.factors[name]:.3g}x beyond it); their intervals include "
                      "the law's extrapolation error.", ExtrapolationWarning, stacklevel=2)
    return out


def predictions_report(preds: list[LossPrediction], interval: float, law: str) -> str:
    """A table: N, D, tokens per parameter, loss [interval], and the extrapolation factors of each row."""
    lines = [f"predicted loss ({law} law; {interval:.0%} interval: {METHOD})",
             f"  {'params':>10} {'tokens':>10} {'D/N':>7} {'loss':>8} {f'{interval:.0%} interval':>20}  "
             "outside the fitted range"]
    for p in preds:
        ext = ", ".join(f"{k} {p.factors[k]:.3g}x" for k in p.extrapolated) or "-"
        iv = f"[{p.lower:.4f}, {p.upper:.4f}]" if np.isfinite(p.lower) else "(no bootstrap)"
        lines.append(f"  {p.params:>10.3g} {p.tokens:>10.3g} {p.tokens / p.params:>7.3g} {p.loss:>8.4f} "
                     f"{iv:>20}  {ext}")
    return "\n".join(lines)
