"""The law's own error, measured by cross-validation on the training runs, for prediction intervals that cover.

Why
---
The covariance band of :meth:`~scalefit.results.FitResult.predict` is what the *noise* allows: it shrinks with
more logged rows, while the law's misfit on a schedule it never saw does not. On the MPL reference curves the
covariance band held 2 of 26 held-out final losses (``benchmarks/interval_coverage.py``); the errors were the law's.
:mod:`scalefit.fitting.crossval` measures that error on the training runs themselves, the only honest place to
measure it; this module holds the result (plain data) and turns it into a second, independent term of the interval.

Error model
-----------
The cross-validation (:mod:`scalefit.fitting.crossval`: forward chaining and leave-one-run-out refits) gives
relative errors ``e`` of predicted run ends at horizons ``r = last step / the fold's last fitted step``. The
relative law error is modelled as ``sd(r) = scale * (1 + ln(max(r, 1)))``: constant within the fitted steps,
growing with the log of the extrapolation (a power law mis-fitted in log-log space drifts linearly in ``ln r``).
``scale`` is the RMS of ``e / (1 + ln(max(r, 1)))`` over the fold errors. The errors of one fold share its fit,
so the scale's degrees of freedom ``dof`` are the number of folds that gave an error, not the number of errors.
The interval adds the covariance band and the law error in quadrature, with a Student t quantile whose degrees of
freedom are Welch-Satterthwaite's for that sum (``dof * (1 + var_cov / var_law)^2``: ``dof`` when the law error
dominates, the normal quantile when the noise does), and never narrower than either part's own interval. The fold
errors also hold the fold fits' own noise, which the covariance band counts again: when the law is exact the intervals
over-cover (``benchmarks/RESULTS.md``).

Measured coverage on held-out schedules (MPL reference and Schaipp curves): ``benchmarks/law_error.py`` and
``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

#: The fewest fold errors the scale is estimated from; with fewer, no law error is attached.
MIN_ERRORS = 2
#: The error model, stored with every LawError; a file holding another one is refused on reading.
MODEL = "relative sd = scale * (1 + ln(max(1, step / fitted last step)))"


@dataclass(frozen=True)
class FoldError:
    """One predicted run end of one fold: the relative error there and how far beyond the fitted steps it lay."""

    fold: str  # "forward 50%", "leave out <path>"
    path: str
    rel_error: float
    horizon: float


@dataclass(frozen=True)
class LawError:
    """The law's relative error measured by cross-validation on the training runs (see the module docstring).

    Attributes
    ----------
    scale : float
        Relative sd of the law's error within the fitted steps (0.005 = 0.5 % of the loss).
    folds : tuple of FoldError
        Every fold error the scale was estimated from.
    skipped : tuple of str
        Folds (or fold targets) left out, each with its reason.
    seconds : float
        Wall time of the fold fits.
    """

    scale: float
    folds: tuple[FoldError, ...]
    skipped: tuple[str, ...] = ()
    seconds: float = 0.0
    model: str = MODEL

    @property
    def dof(self) -> int:
        """Degrees of freedom of ``scale``: the number of folds (fits) that gave an error."""
        return len({f.fold for f in self.folds})

    def relative_sd(self, steps: np.ndarray, fitted_last_step: int) -> np.ndarray:
        """Relative sd of the law's error at each step (``steps`` are optimizer steps)."""
        r = np.asarray(steps, dtype=np.float64) / max(float(fitted_last_step), 1.0)
        return self.scale * (1.0 + np.log(np.maximum(r, 1.0)))

    def quantile(self, interval: float, noise_sd: Any = 0.0, law_sd: Any = 1.0) -> np.ndarray:
        """Two-sided Student t quantile of the central ``interval`` for the sum of a noise part (sd ``noise_sd``,
        known) and the law part (sd ``law_sd``, estimated with ``dof``): Welch-Satterthwaite's degrees of freedom."""
        from scipy.stats import t

        noise, law = np.asarray(noise_sd, dtype=np.float64), np.asarray(law_sd, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            nu = np.where(law > 0, self.dof * (1.0 + (noise / np.where(law > 0, law, 1.0)) ** 2) ** 2, np.inf)
        return t.ppf(0.5 + interval / 2.0, nu)

    def text(self) -> str:
        """One line for reports."""
        out = (f"{self.scale * 100:.2g}% of the loss within the fitted steps, x(1 + ln(step / last fitted step)) "
               f"beyond; cross-validated on the training runs ({len(self.folds)} errors from {self.dof} folds, "
               "t quantile")
        if self.skipped:
            out += f"; {len(self.skipped)} skipped"
        return out + ")"

    def to_dict(self) -> dict[str, Any]:
        """Plain types for the fit's JSON."""
        return {"scale": self.scale, "model": self.model, "seconds": self.seconds, "skipped": list(self.skipped),
                "folds": [dataclasses.asdict(f) for f in self.folds]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LawError:
        """Read :meth:`to_dict`'s output back; ValueError when it is not a usable law error of this model."""
        if not isinstance(data, dict) or not isinstance(data.get("folds"), list):
            raise ValueError("law_error must be an object with a list of folds")
        out = cls(scale=float(data["scale"]), model=str(data.get("model", MODEL)),
                  seconds=float(data.get("seconds", 0.0)), skipped=tuple(str(s) for s in data.get("skipped", ())),
                  folds=tuple(FoldError(fold=str(f["fold"]), path=str(f["path"]), rel_error=float(f["rel_error"]),
                                        horizon=float(f["horizon"])) for f in data["folds"]))
        if not isinstance(data.get("skipped", []), list):
            raise ValueError("law_error skipped must be a list")
        bad = [f for f in out.folds if not (math.isfinite(f.rel_error) and math.isfinite(f.horizon) and f.horizon > 0)]
        if bad:
            raise ValueError(f"law_error fold {bad[0].fold!r} has a non-finite error or a horizon <= 0")
        if out.model != MODEL:
            raise ValueError(f"law_error model {out.model!r} is not this scalefit's ({MODEL!r})")
        if not (math.isfinite(out.scale) and out.scale >= 0):
            raise ValueError(f"law_error scale {out.scale!r} is not a finite number >= 0")
        if len(out.folds) < MIN_ERRORS:
            raise ValueError(f"law_error holds {len(out.folds)} fold error(s), at least {MIN_ERRORS} are needed")
        return out
