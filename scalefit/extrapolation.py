"""How wrong a fit is outside what it saw: cross-validated errors across model sizes and horizons, grown with the
distance, for intervals that say how far out a prediction is.

Why
---
A fit's cross-validated law error (:mod:`scalefit.law_error`) is measured on held-out *schedules* of the fitted
sizes, within about twice the fitted steps. A prediction for a bigger model, or for a run several times longer,
lies outside both; its error there is measured on the training runs, by holding out what the prediction will lack.
The folds (refits) run in :mod:`scalefit.fitting.extrapolation_folds`; this module holds what they measure, as plain
data, and the rules a prediction applies, so that :mod:`scalefit.results` uses them without importing the fitter
(as :mod:`scalefit.law_error` sits beside :mod:`scalefit.fitting.crossval`):

* **Size folds** (three or more model sizes): fit every size but one (with the prior the law uses for that many
  sizes) and predict the held-out size's run ends. The distance of a fold is ``|log2(N / nearest fitted N)|`` (0
  inside the fitted sizes).
* **Horizon folds**: cut every run at a common step (``HORIZON_CUTS`` of the longest run's last step), fit the rows
  up to the cut (the runs' LR schedules stay whole, as they are known before a run) and predict each run's end
  beyond it. The distance is ``ln(end step / cut step)``. As in the law error's folds, a run whose rows hold an LR
  decay is not predicted from fitted rows that hold none (no law can learn the drop from them); it is named in
  ``skipped``.

Error model (the same as the law error's, with the distance in place of ``ln r``)
-------------------------------------------------------------------------------
The relative error of a fold's prediction, ``e = mean((L - Lhat) / Lhat)`` over a run's last 5 % of rows
(:func:`scalefit.fitting.crossval.end_error`), has sd ``scale * (1 + d)``; ``scale`` is the RMS of ``e / (1 + d)`` over the
folds (the bias is part of it: a prediction that is always too high widens the interval rather than being ignored),
with one degree of freedom per fold fit. A prediction at distance ``d*`` gets the half-width
``t(dof) * scale * (1 + d*)`` in log-loss space, ``[Lhat exp(-h), Lhat exp(h)]``: never a loss <= 0.

With fewer than ``MIN_FOLDS`` fold fits the error is not measured (``ExtrapolationError.measured`` is False and
``note`` says what is missing): an interval then uses :data:`REFERENCE_SCALE`, the scale measured on the reference
runs (``benchmarks/extrapolation.py``), and says so; it is never a narrow noise-only band.

Where a prediction uses it (:mod:`scalefit.results.prediction`)
----------------------------------------------------------------
A size-aware fit (``mpl-n``, ``tissue-n``) stores its size error (``FitResult.size_error``): measured by the size
folds with three or more sizes, the reference rule with two. A prediction at a size outside the fitted ones
(:func:`size_flag`) takes the larger of its law-error half-width and :meth:`ExtrapolationError.half_width` at its
distance (with the covariance band in quadrature). Horizons keep the law error, which already covers them on the
reference runs (``benchmarks/RESULTS.md``, "Beyond the fitted runs"); :func:`horizon_distance` is for the folds.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from scalefit.errors import FitInputError
from scalefit.laws.size_terms import SAME_SIZE_RTOL, distinct_sizes

#: Common cut steps of the horizon folds, as fractions of the longest run's last observed step.
HORIZON_CUTS = (0.35, 0.5, 0.7)
#: The fewest fold fits an extrapolation error is measured from.
MIN_FOLDS = 2
#: Relative sd per unit (1 + distance) when the runs' own folds are too few, measured on the reference runs
#: (``benchmarks/extrapolation.py``, section "rule"): size 0.004, the median of the scales measured by the size
#: folds of the 11 Schaipp size setups (mpl-n 0.0038; tissue-n 0.0067), which matches the RMS of e / (1 + d) of
#: the two-size predictions themselves (mpl-n 0.0039 over 26 runs); horizon 0.004, the median of the horizon-fold
#: scales of the 58 horizon cases (mpl 0.0036, tissue 0.0049).
REFERENCE_SCALE = {"size": 0.004, "horizon": 0.004}
#: How the distance of each kind is counted, in words (reports).
DISTANCE = {"size": "doublings of N beyond the fitted sizes", "horizon": "ln(step / last fitted step)"}


@dataclass(frozen=True)
class Fold:
    """One held-out run end of one fold fit."""

    fold: str  # "size 3.15e+07", "horizon cut 12000"
    path: str
    rel_error: float  # (L - Lhat) / Lhat, mean over the run's last rows
    distance: float  # |log2 N ratio| (size) or ln(step ratio) (horizon)


@dataclass(frozen=True)
class ExtrapolationError:
    """The relative error of predictions outside the fitted sizes or horizons (see the module docstring)."""

    kind: str  # "size" or "horizon"
    scale: float
    folds: tuple[Fold, ...]
    skipped: tuple[str, ...] = ()
    measured: bool = True
    note: str = ""
    seconds: float = 0.0

    @property
    def dof(self) -> int:
        """Degrees of freedom of ``scale``: the number of fold fits that gave an error."""
        return len({f.fold for f in self.folds})

    @property
    def bias(self) -> float:
        """Mean relative error ``(L - Lhat) / Lhat`` of the folds (> 0: the law predicted too low)."""
        return float(np.mean([f.rel_error for f in self.folds])) if self.folds else float("nan")

    def relative_sd(self, distance: Any) -> np.ndarray:
        """Relative sd of a prediction at ``distance`` (array-like)."""
        return self.scale * (1.0 + np.maximum(np.asarray(distance, dtype=np.float64), 0.0))

    def quantile(self, interval: float = 0.9) -> float:
        """Two-sided quantile of the central ``interval``: Student t on ``dof`` when measured, else the normal one
        (the reference rule's scale is taken as known)."""
        from scipy.stats import norm, t

        return float(t.ppf(0.5 + interval / 2.0, self.dof) if self.measured else norm.ppf(0.5 + interval / 2.0))

    def half_width(self, distance: Any, interval: float = 0.9) -> np.ndarray:
        """Half-width in log-loss of the central ``interval`` at ``distance``."""
        return self.quantile(interval) * self.relative_sd(distance)

    def log_half_width(self, cov_rel: Any, distance: Any, interval: float = 0.9) -> np.ndarray:
        """Half-width in log loss at ``distance`` of a prediction whose parameter-covariance band has relative sd
        ``cov_rel`` (NaN = none): the two relative sds add in quadrature."""
        rel = np.nan_to_num(np.asarray(cov_rel, dtype=np.float64), nan=0.0)
        return self.quantile(interval) * np.sqrt(self.relative_sd(distance) ** 2 + rel ** 2)

    def bounds(self, loss: Any, cov_sd: Any, distance: Any, interval: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        """``(lower, upper)`` of the predicted ``loss`` whose parameter-covariance sd is ``cov_sd`` (nats; NaN = none)
        at ``distance``: the relative sds add in quadrature; ``loss * exp(-+h)``, never <= 0."""
        loss = np.asarray(loss, dtype=np.float64)
        h = self.log_half_width(np.asarray(cov_sd, dtype=np.float64) / loss, distance, interval)
        return loss * np.exp(-h), loss * np.exp(h)

    def text(self) -> str:
        """One line for reports: the scale and how it grows, and whether the folds measured it or, not measured,
        the reference rule stands in (and why)."""
        grown = f"x (1 + {DISTANCE[self.kind]})"
        if not self.measured:
            return (f"{self.kind} error not measured ({self.note}): reference rule, {self.scale * 100:.2g}% of the "
                    f"loss {grown}")
        return (f"{self.kind} error {self.scale * 100:.2g}% of the loss {grown}; cross-validated by {self.kind} "
                f"folds ({len(self.folds)} errors from {self.dof} folds, bias {self.bias * 100:+.2g}%)")

    def to_dict(self) -> dict[str, Any]:
        """Plain types for JSON (``dof`` and ``bias`` are derived: :meth:`from_dict` checks them)."""
        return {"kind": self.kind, "scale": self.scale, "measured": self.measured, "note": self.note,
                "dof": self.dof, "bias": self.bias if self.folds else None, "seconds": self.seconds,
                "skipped": list(self.skipped), "folds": [dataclasses.asdict(f) for f in self.folds]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExtrapolationError:
        """Read :meth:`to_dict`'s output back; ValueError (naming the rule) when it is not one this scalefit
        writes: an unknown kind, a non-finite or negative number, a measured error from fewer than
        :data:`MIN_FOLDS` folds or whose scale is not the RMS of its folds' ``e / (1 + d)``, an unmeasured one
        whose scale is not the reference rule's, a ``dof`` or ``bias`` that disagrees with the folds."""
        if not isinstance(data, dict) or not isinstance(data.get("folds"), list):
            raise ValueError("an extrapolation error must be an object with a list of folds")
        kind = data.get("kind")
        if kind not in REFERENCE_SCALE:
            raise ValueError(f"kind {kind!r} is not one of {', '.join(REFERENCE_SCALE)}")
        if not isinstance(data.get("skipped", []), list) or not isinstance(data.get("measured"), bool):
            raise ValueError("'skipped' must be a list and 'measured' true or false")
        folds = tuple(Fold(fold=str(f["fold"]), path=str(f["path"]), rel_error=float(f["rel_error"]),
                           distance=float(f["distance"])) for f in data["folds"])
        out = cls(kind=str(kind), scale=float(data["scale"]), folds=folds,
                  skipped=tuple(str(s) for s in data.get("skipped", ())), measured=data["measured"],
                  note=str(data.get("note", "")), seconds=float(data.get("seconds", 0.0)))
        bad = [f for f in folds if not (math.isfinite(f.rel_error) and math.isfinite(f.distance) and f.distance >= 0)]
        if bad:
            raise ValueError(f"fold {bad[0].fold!r} has a non-finite error or a distance that is not >= 0")
        if not (math.isfinite(out.scale) and out.scale >= 0 and math.isfinite(out.seconds) and out.seconds >= 0):
            raise ValueError(f"scale {out.scale!r} and seconds {out.seconds!r} must be finite numbers >= 0")
        if data.get("dof", out.dof) != out.dof:
            raise ValueError(f"dof {data.get('dof')!r} disagrees with the folds ({out.dof} fold fits)")
        bias = data.get("bias")
        if folds and (not isinstance(bias, (int, float)) or abs(bias - out.bias) > 1e-9 * max(1.0, abs(out.bias))):
            raise ValueError(f"bias {bias!r} disagrees with the folds' mean error {out.bias!r}")
        if out.measured:
            if out.dof < MIN_FOLDS:
                raise ValueError(f"measured from {out.dof} fold fit(s), at least {MIN_FOLDS} are needed")
            want = _rms_scale(folds)
            if abs(out.scale - want) > 1e-9 * max(want, 1e-12):
                raise ValueError(f"scale {out.scale!r} is not the RMS of the folds' e / (1 + d) ({want!r})")
        elif out.scale != REFERENCE_SCALE[out.kind]:
            raise ValueError(f"not measured, but its scale {out.scale!r} is not the reference rule's "
                             f"{REFERENCE_SCALE[out.kind]!r}")
        return out

    @classmethod
    def from_folds(cls, kind: str, errors: Sequence[Fold], skipped: Sequence[str] = (),
                   seconds: float = 0.0) -> ExtrapolationError:
        """The error the fold ``errors`` measure (the RMS of ``e / (1 + d)``), or, from fewer than
        :data:`MIN_FOLDS` fold fits, the reference rule with a note saying why."""
        n_fits = len({f.fold for f in errors})
        if n_fits < MIN_FOLDS:
            why = (f"too few folds: {n_fits} fold fit(s) gave an error, at least {MIN_FOLDS} are needed"
                   + (f" ({'; '.join(skipped)})" if skipped else ""))
            return cls(kind=kind, scale=REFERENCE_SCALE[kind], folds=tuple(errors), skipped=tuple(skipped),
                       measured=False, note=why, seconds=seconds)
        return cls(kind=kind, scale=_rms_scale(errors), folds=tuple(errors), skipped=tuple(skipped),
                   seconds=seconds, note=f"{len(errors)} errors from {n_fits} folds")

    @classmethod
    def reference(cls, kind: str, why: str) -> ExtrapolationError:
        """The reference rule, not measured because of ``why`` (e.g. "two model sizes")."""
        return cls(kind=kind, scale=REFERENCE_SCALE[kind], folds=(), measured=False, note=why)


def _rms_scale(errors: Sequence[Fold]) -> float:
    e = np.array([f.rel_error for f in errors])
    d = np.array([f.distance for f in errors])
    return float(np.sqrt(np.mean((e / (1.0 + d)) ** 2)))


# ---------------------------------------------------------------------------------------------------------------
def size_distance(n_params: float, fitted: Sequence[float]) -> float:
    """``|log2(N / nearest fitted size)|`` outside the fitted sizes' range, 0 inside it."""
    lo, hi = min(fitted), max(fitted)
    if n_params > hi:
        return math.log2(n_params / hi)
    if n_params < lo:
        return math.log2(lo / n_params)
    return 0.0


def size_flag(n_params: float, fitted: Sequence[float]) -> str:
    """The extrapolation mark of a prediction at ``n_params`` ("" inside the fitted sizes, within
    :data:`~scalefit.laws.size_terms.SAME_SIZE_RTOL`), with its factor."""
    lo, hi = min(fitted), max(fitted)
    if n_params > hi * (1.0 + SAME_SIZE_RTOL):
        return f"model size {n_params:.3g} is {n_params / hi:.2g}x the largest fitted ({hi:.3g})"
    if n_params < lo / (1.0 + SAME_SIZE_RTOL):
        return f"model size {n_params:.3g} is 1/{lo / n_params:.2g} of the smallest fitted ({lo:.3g})"
    return ""


def horizon_distance(step: int, fitted_last_step: int) -> float:
    """``ln(step / fitted last step)`` beyond the fitted steps, 0 within them."""
    return max(0.0, math.log(max(step, 1) / max(fitted_last_step, 1)))


def check_size_target(fitted_sizes: Sequence[float], n_params: float | None, law_name: str, size_aware: bool,
                      size_terms_given: bool = False, mixed_allowed: bool = False) -> None:
    """Refuse a prediction at a model size the fit cannot speak for (one line naming what is needed).

    A fit of one size cannot predict another (unless its size terms were given: ``size_terms_given``); a size-blind
    law fitted on several sizes cannot predict any size, unless the fit was asked to treat them as one model
    (``mixed_allowed``: ``fit(..., allow_mixed_sizes=True)``).
    """
    sizes = distinct_sizes(list(fitted_sizes))
    if n_params is None or not sizes:
        return
    if len(sizes) == 1:
        if abs(n_params / sizes[0] - 1.0) <= SAME_SIZE_RTOL or (size_aware and size_terms_given):
            return
        raise FitInputError(f"the fit saw one model size ({sizes[0]:.3g} parameters), and the target has "
                            f"{n_params:.3g}: one size says nothing about how the loss changes with size. Fit runs of "
                            "at least two sizes with a size-aware law (mpl-n, tissue-n), or fix its size terms "
                            "explicitly (e.g. --fix K=0.80 --fix a=0.347 --fix rA=1 --fix rB=1: Chinchilla's size "
                            "term as refitted by Besiroglu et al. 2024); the prediction then rests on them.",
                            value=n_params)
    if not size_aware and not mixed_allowed:
        raise FitInputError(f"law {law_name!r} ignores model size, but the fitted runs have {len(sizes)} sizes "
                            f"({', '.join(f'{s:.3g}' for s in sizes)}). Use a size-aware law (mpl-n, tissue-n), or fit "
                            "the runs of one size.", value=n_params)
