"""How wrong a fit is outside what it saw: cross-validated errors across model sizes and horizons, grown with the
distance, for intervals that say how far out a prediction is.

Why
---
A fit's cross-validated law error (:mod:`scalefit.law_error`) is measured on held-out *schedules* of the fitted
sizes, within about twice the fitted steps. A prediction for a bigger model, or for a run several times longer,
lies outside both; its error there is measured here, on the training runs, by holding out what the prediction
will lack:

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
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from scalefit.errors import FitInputError, ScalefitError
from scalefit.fitting.crossval import end_error, holds_decay
from scalefit.fitting.inputs import unique_labels
from scalefit.laws.size_terms import distinct_sizes, run_sizes

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
#: Failures that skip a fold (named in ``skipped``) instead of ending the whole measurement.
_FOLD_FAILURES = (ScalefitError, ArithmeticError, ValueError, np.linalg.LinAlgError)


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

    def bounds(self, loss: Any, cov_sd: Any, distance: Any, interval: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        """``(lower, upper)`` of the predicted ``loss`` whose parameter-covariance sd is ``cov_sd`` (nats; NaN = none)
        at ``distance``: the relative sds add in quadrature; ``loss * exp(-+h)``, never <= 0."""
        loss = np.asarray(loss, dtype=np.float64)
        rel = np.nan_to_num(np.asarray(cov_sd, dtype=np.float64) / loss, nan=0.0)
        h = self.quantile(interval) * np.sqrt(self.relative_sd(distance) ** 2 + rel ** 2)
        return loss * np.exp(-h), loss * np.exp(h)

    def text(self) -> str:
        """One line for reports."""
        unit = "per doubling of N beyond the fitted sizes" if self.kind == "size" else "x (1 + ln step ratio)"
        if not self.measured:
            return (f"{self.kind} extrapolation error not measured ({self.note}); intervals use the reference "
                    f"rule {self.scale * 100:.2g}% of the loss x (1 + distance)")
        return (f"{self.kind} extrapolation error {self.scale * 100:.2g}% of the loss, grown {unit}; "
                f"cross-validated ({len(self.folds)} errors from {self.dof} folds, bias {self.bias * 100:+.2g}%)")

    def to_dict(self) -> dict[str, Any]:
        """Plain types for JSON."""
        return {"kind": self.kind, "scale": self.scale, "measured": self.measured, "note": self.note,
                "dof": self.dof, "bias": self.bias if self.folds else None, "seconds": self.seconds,
                "skipped": list(self.skipped), "folds": [dataclasses.asdict(f) for f in self.folds]}


def _summarise(kind: str, errors: list[Fold], skipped: list[str], t0: float) -> ExtrapolationError:
    seconds = time.perf_counter() - t0
    n_fits = len({f.fold for f in errors})
    if n_fits < MIN_FOLDS:
        why = (f"too few folds: {n_fits} fold fit(s) gave an error, at least {MIN_FOLDS} are needed"
               + (f" ({'; '.join(skipped)})" if skipped else ""))
        return ExtrapolationError(kind=kind, scale=REFERENCE_SCALE[kind], folds=tuple(errors), skipped=tuple(skipped),
                                  measured=False, note=why, seconds=seconds)
    e = np.array([f.rel_error for f in errors])
    d = np.array([f.distance for f in errors])
    scale = float(np.sqrt(np.mean((e / (1.0 + d)) ** 2)))
    return ExtrapolationError(kind=kind, scale=scale, folds=tuple(errors), skipped=tuple(skipped), seconds=seconds,
                              note=f"{len(errors)} errors from {n_fits} folds")


def _fold_fit(fit_one: Callable[[list], Any], runs: list, name: str, skipped: list[str]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fit_one(runs)
        except _FOLD_FAILURES as exc:
            skipped.append(f"{name}: {exc}")
            return None


def _end(result: Any, run: Any) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return end_error(result, run)


# ---------------------------------------------------------------------------------------------------------------
def size_distance(n_params: float, fitted: Sequence[float]) -> float:
    """``|log2(N / nearest fitted size)|`` outside the fitted sizes' range, 0 inside it."""
    lo, hi = min(fitted), max(fitted)
    if n_params > hi:
        return math.log2(n_params / hi)
    if n_params < lo:
        return math.log2(lo / n_params)
    return 0.0


def size_folds(runs: Sequence[Any], fit_one: Callable[[list], Any]) -> ExtrapolationError:
    """Leave-one-size-out folds over ``runs`` (see the module docstring); ``fit_one(runs)`` refits the law.

    Needs three or more distinct sizes (each fold keeps at least two); with fewer the result is not measured.
    """
    t0 = time.perf_counter()
    runs = list(runs)
    sizes = run_sizes(runs)
    distinct = distinct_sizes(sizes)
    labels = unique_labels([r.path for r in runs])
    errors: list[Fold] = []
    skipped: list[str] = []
    if len(distinct) < 3:
        skipped.append(f"{len(distinct)} model size(s): leaving one out leaves fewer than two to fit")
        return _summarise("size", errors, skipped, t0)
    for s in distinct:
        held = [i for i, n in enumerate(sizes) if n is not None and abs(n / s - 1.0) <= 0.02]
        rest = [r for i, r in enumerate(runs) if i not in held]
        name = f"size {s:.3g}"
        res = _fold_fit(fit_one, rest, name, skipped)
        if res is None:
            continue
        fitted = [n for n in distinct if n != s]
        for i in held:
            try:
                e = _end(res, runs[i])
            except _FOLD_FAILURES as exc:
                skipped.append(f"{name} -> {labels[i]}: {exc}")
                continue
            if math.isfinite(e):
                errors.append(Fold(name, labels[i], e, size_distance(s, fitted)))
    return _summarise("size", errors, skipped, t0)


def truncate(run: Any, last_step: int) -> Any:
    """``run`` with its rows after ``last_step`` removed (its LR schedule stays whole)."""
    m = int(np.searchsorted(run.steps, last_step, side="right"))
    extra = {k: v[:m] for k, v in run.extra.items()}
    return dataclasses.replace(run, steps=run.steps[:m], loss=run.loss[:m], line=run.line[:m], extra=extra)


def _last(run: Any) -> int:
    return int(run.steps[run.fit_mask].max())


def horizon_folds(runs: Sequence[Any], fit_one: Callable[[list], Any],
                  cuts: Sequence[float] = HORIZON_CUTS) -> ExtrapolationError:
    """Forward chaining in horizon over ``runs`` (see the module docstring); ``fit_one(runs)`` refits the law."""
    t0 = time.perf_counter()
    runs = list(runs)
    labels = unique_labels([r.path for r in runs])
    longest = max(_last(r) for r in runs)
    first = min(int(r.steps[r.fit_mask].min()) for r in runs)
    errors: list[Fold] = []
    skipped: list[str] = []
    for frac in cuts:
        cut = int(first + frac * (longest - first))
        heads = [truncate(r, cut) for r in runs]
        fitted = [h for h in heads if h.fit_mask.sum() >= 2]
        targets = [(i, r) for i, r in enumerate(runs) if r.fit_mask.any() and _last(r) > cut]
        name = f"horizon cut {cut}"
        if not fitted or not targets:
            skipped.append(f"{name}: {'no rows to fit' if not fitted else 'no run end beyond the cut'}")
            continue
        if not any(holds_decay(h) for h in fitted):  # no law can learn an LR decay's drop from rows without one
            skipped.extend(f"{name} -> {labels[i]}: the fitted rows hold no LR decay, this run has one"
                           for i, r in targets if holds_decay(r))
            targets = [(i, r) for i, r in targets if not holds_decay(r)]
            if not targets:
                continue
        res = _fold_fit(fit_one, fitted, name, skipped)
        if res is None:
            continue
        for i, r in targets:
            try:
                e = _end(res, r)
            except _FOLD_FAILURES as exc:
                skipped.append(f"{name} -> {labels[i]}: {exc}")
                continue
            if math.isfinite(e):
                errors.append(Fold(name, labels[i], e, math.log(_last(r) / max(cut, 1))))
    return _summarise("horizon", errors, skipped, t0)


def size_flag(n_params: float, fitted: Sequence[float]) -> str:
    """The extrapolation mark of a prediction at ``n_params`` ("" inside the fitted sizes), with its factor."""
    lo, hi = min(fitted), max(fitted)
    if n_params > hi * 1.02:
        return f"model size {n_params:.3g} is {n_params / hi:.2g}x the largest fitted ({hi:.3g})"
    if n_params < lo / 1.02:
        return f"model size {n_params:.3g} is 1/{lo / n_params:.2g} of the smallest fitted ({lo:.3g})"
    return ""


def horizon_distance(step: int, fitted_last_step: int) -> float:
    """``ln(step / fitted last step)`` beyond the fitted steps, 0 within them."""
    return max(0.0, math.log(max(step, 1) / max(fitted_last_step, 1)))


def check_size_target(fitted_sizes: Sequence[float], n_params: float | None, law_name: str, size_aware: bool,
                      size_terms_given: bool = False) -> None:
    """Refuse a prediction at a model size the fit cannot speak for (one line naming what is needed).

    A fit of one size cannot predict another (unless its size terms were given: ``size_terms_given``); a size-blind
    law fitted on several sizes cannot predict any size.
    """
    sizes = distinct_sizes(list(fitted_sizes))
    if n_params is None or not sizes:
        return
    if len(sizes) == 1:
        if abs(n_params / sizes[0] - 1.0) <= 0.02 or (size_aware and size_terms_given):
            return
        raise FitInputError(f"the fit saw one model size ({sizes[0]:.3g} parameters), and the target has "
                            f"{n_params:.3g}: one size says nothing about how the loss changes with size. Fit runs of "
                            "at least two sizes with a size-aware law (mpl-n, tissue-n), or fix its size terms "
                            "explicitly (e.g. --fix K=0.80,a=0.347,rA=1,rB=1: Chinchilla's size term as refitted by "
                            "Besiroglu et al. 2024); the prediction then rests on them.", value=n_params)
    if not size_aware:
        raise FitInputError(f"law {law_name!r} ignores model size, but the fitted runs have {len(sizes)} sizes "
                            f"({', '.join(f'{s:.3g}' for s in sizes)}). Use a size-aware law (mpl-n, tissue-n), or fit "
                            "the runs of one size.", value=n_params)


def fit_one_for(law: str, **fit_kw: Any) -> Callable[[list], Any]:
    """A ``fit_one(runs)`` for the folds: :func:`scalefit.fit` with ``fit_kw`` and no law error (the law's default
    prior applies unless ``fit_kw`` gives one)."""
    from scalefit.fitting import fit

    def fit_one(runs: list) -> Any:
        return fit(runs, law, **{**fit_kw, "law_error": False})

    return fit_one
