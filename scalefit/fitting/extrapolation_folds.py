"""The refits behind :class:`~scalefit.extrapolation.ExtrapolationError`: leave-one-size-out folds across model sizes
and forward chaining in horizon (what each measures, the error model and the reference rule:
:mod:`scalefit.extrapolation`). ``fit_one(runs)`` refits the law with the caller's options, e.g.
:func:`scalefit.fitting.driver.fit_one_for`.

A fold's fit or prediction that fails is skipped and named in ``skipped``, never the whole measurement; with
fewer than :data:`~scalefit.extrapolation.MIN_FOLDS` fold fits the result is the reference rule, not measured.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from typing import Any, Callable, Sequence

import numpy as np

from scalefit.errors import ScalefitError
from scalefit.extrapolation import HORIZON_CUTS, ExtrapolationError, Fold, size_distance
from scalefit.fitting.crossval import end_error, holds_decay
from scalefit.fitting.inputs import unique_labels
from scalefit.laws.size_terms import SAME_SIZE_RTOL, distinct_sizes, run_sizes

#: Failures that skip a fold (named in ``skipped``) instead of ending the whole measurement.
_FOLD_FAILURES = (ScalefitError, ArithmeticError, ValueError, np.linalg.LinAlgError)


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


def size_folds(runs: Sequence[Any], fit_one: Callable[[list], Any]) -> ExtrapolationError:
    """Leave-one-size-out folds over ``runs`` (:mod:`scalefit.extrapolation`); ``fit_one(runs)`` refits the law.

    Needs three or more distinct sizes (each fold keeps at least two); with fewer the result is not measured and
    costs no fit.
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
        return ExtrapolationError.from_folds("size", errors, skipped, time.perf_counter() - t0)
    for s in distinct:
        held = [i for i, n in enumerate(sizes) if n is not None and abs(n / s - 1.0) <= SAME_SIZE_RTOL]
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
    return ExtrapolationError.from_folds("size", errors, skipped, time.perf_counter() - t0)


def truncate(run: Any, last_step: int) -> Any:
    """``run`` with its rows after ``last_step`` removed (its LR schedule stays whole)."""
    m = int(np.searchsorted(run.steps, last_step, side="right"))
    extra = {k: v[:m] for k, v in run.extra.items()}
    return dataclasses.replace(run, steps=run.steps[:m], loss=run.loss[:m], line=run.line[:m], extra=extra)


def _last(run: Any) -> int:
    return int(run.steps[run.fit_mask].max())


def horizon_folds(runs: Sequence[Any], fit_one: Callable[[list], Any],
                  cuts: Sequence[float] = HORIZON_CUTS) -> ExtrapolationError:
    """Forward chaining in horizon over ``runs`` (:mod:`scalefit.extrapolation`); ``fit_one(runs)`` refits the law."""
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
    return ExtrapolationError.from_folds("horizon", errors, skipped, time.perf_counter() - t0)
