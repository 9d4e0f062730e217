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

A fold error is not the law's error alone: it also holds the noise of the fold's fit (its parameters, whose spread
at the target is the fold's own covariance band) and the noise of the target's tail rows it is read on (the mean
of AR(1) noise of the fit's residual variance and lag-1 autocorrelation). Both are noise the covariance band of the
main fit already carries, or that is no part of the law; counted again, they made the intervals over-cover when the
law is exact (100% at a nominal 90%). So each error carries that noise's relative sd ``n``
(:attr:`FoldError.noise`), and the excess of the errors over it is, by moments,
``max(0, mean((e^2 - n^2) / (1 + ln(max(r, 1)))^2))`` (:func:`excess_scale`), floored at 0 where the errors are no
larger than their noise. ``scale`` is that excess only with :data:`SUBTRACT_NOISE`; by default it is the RMS of the
errors with their noise left in (:attr:`LawError.raw_scale`), because on real curves the excess under-covers:
held-out 90% intervals of the Schaipp curves covered 69% of the finals with it against 90% without, the MPL
reference curves 81% against 85% (``benchmarks/RESULTS.md``, issue 14.2), while it helps only where the law is
exact (simulations). The fold noise is measured and reported either way. The errors of one fold share its fit,
so the scale's degrees of freedom ``dof`` are the number of folds that gave an error, not the number of errors.
The interval adds the covariance band and the law error in quadrature, with a Student t quantile whose degrees of
freedom are Welch-Satterthwaite's for that sum (``dof * (1 + var_cov / var_law)^2``: ``dof`` when the law error
dominates, the normal quantile when the noise does), and never narrower than either part's own interval.
:attr:`LawError.raw_scale` is the RMS of the errors as they are (files written before the noise was measured hold
that as their scale, and their folds a noise of 0).

Measured coverage on held-out schedules (MPL reference and Schaipp curves): ``benchmarks/law_error.py`` and
``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

#: The fewest fold errors the scale is estimated from; with fewer, no law error is attached.
MIN_ERRORS = 2
#: The error model, stored with every LawError; a file holding another one is refused on reading.
MODEL = "relative sd = scale * (1 + ln(max(1, step / fitted last step)))"


#: Take the fold errors' own noise out of the law error's scale (:func:`excess_scale`)? Off: measured on real
#: curves, the excess under-covers (module docstring).
SUBTRACT_NOISE = False


@dataclass(frozen=True)
class FoldError:
    """One predicted run end of one fold: the relative error there and how far beyond the fitted steps it lay."""

    fold: str  # "forward 50%", "leave out <path>"
    path: str
    rel_error: float
    horizon: float
    noise: float = 0.0  # relative sd of the noise in rel_error (fold fit's band + tail rows' mean); 0: not measured


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
    def raw_scale(self) -> float:
        """RMS of the fold errors over their log growth, their noise left in (the scale of files written before the
        noise was taken out)."""
        return excess_scale([dataclasses.replace(f, noise=0.0) for f in self.folds])

    @property
    def noise_scale(self) -> float:
        """RMS of the fold errors' noise over their log growth: what the noise alone would make of the scale."""
        g = [1.0 + math.log(max(f.horizon, 1.0)) for f in self.folds]
        return float(np.sqrt(np.mean([(f.noise / gi) ** 2 for f, gi in zip(self.folds, g)]))) if self.folds else 0.0

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
        noise = self.noise_scale
        left_in = noise > 0 and math.isclose(self.scale, self.raw_scale, rel_tol=1e-9)
        if left_in:
            head = (f"{self.scale * 100:.2g}% of the loss within the fitted steps, x(1 + ln(step / last fitted step)) "
                    f"beyond (the fold errors' RMS, their own noise of {noise * 100:.2g}% left in)")
        elif noise > 0 and self.scale == 0:
            head = (f"0: the fold errors (RMS {self.raw_scale * 100:.2g}% of the loss) lie within their own noise "
                    f"({noise * 100:.2g}%)")
        else:
            head = (f"{self.scale * 100:.2g}% of the loss within the fitted steps, x(1 + ln(step / last fitted step)) "
                    "beyond")
            if noise > 0:
                head += f" (fold errors {self.raw_scale * 100:.2g}% RMS, less their noise {noise * 100:.2g}%)"
        out = (f"{head}; cross-validated on the training runs ({len(self.folds)} errors from {self.dof} folds, "
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
                                        horizon=float(f["horizon"]), noise=float(f.get("noise", 0.0)))
                              for f in data["folds"]))
        if not isinstance(data.get("skipped", []), list):
            raise ValueError("law_error skipped must be a list")
        bad = [f for f in out.folds if not (math.isfinite(f.rel_error) and math.isfinite(f.horizon) and f.horizon > 0)]
        if bad:
            raise ValueError(f"law_error fold {bad[0].fold!r} has a non-finite error or a horizon <= 0")
        bad = [f for f in out.folds if not (math.isfinite(f.noise) and f.noise >= 0)]
        if bad:
            raise ValueError(f"law_error fold {bad[0].fold!r} has a noise that is not a finite number >= 0")
        if out.model != MODEL:
            raise ValueError(f"law_error model {out.model!r} is not this scalefit's ({MODEL!r})")
        if not (math.isfinite(out.scale) and out.scale >= 0):
            raise ValueError(f"law_error scale {out.scale!r} is not a finite number >= 0")
        if len(out.folds) < MIN_ERRORS:
            raise ValueError(f"law_error holds {len(out.folds)} fold error(s), at least {MIN_ERRORS} are needed")
        return out


def excess_scale(folds: Sequence[FoldError]) -> float:
    """The law error's scale from fold errors: ``sqrt(max(0, mean((e^2 - noise^2) / g^2)))`` with ``g = 1 + ln(max(r,
    1))`` (the module docstring); the RMS of ``e / g`` when no error carries a noise."""
    if not folds:
        return 0.0
    e = np.array([f.rel_error for f in folds])
    n = np.array([f.noise for f in folds])
    g = 1.0 + np.log(np.maximum([f.horizon for f in folds], 1.0))
    return float(np.sqrt(max(float(np.mean((e * e - n * n) / (g * g))), 0.0)))


def law_scale(folds: Sequence[FoldError]) -> float:
    """The scale a fit takes from its fold errors: :func:`excess_scale` with :data:`SUBTRACT_NOISE`, else the RMS of
    ``e / g`` with the errors' noise left in."""
    return excess_scale(folds if SUBTRACT_NOISE else [dataclasses.replace(f, noise=0.0) for f in folds])
