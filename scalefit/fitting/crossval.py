"""Cross-validation of a law on its training runs: the procedure behind :class:`~scalefit.law_error.LawError`.

Folds (every one refits the law with the caller's options)
----------------------------------------------------------
* **Forward chaining** at 50 % and 70 %: fit every run's rows up to that fraction of its observed span after warmup
  (first to last row, so that a cooldown segment that starts mid-training keeps its first rows too; the whole LR
  schedule stays known, as it is before a run), predict each run's end.
* **Leave one run out** (with two or more runs): fit the others, predict the left-out run's end.

When a fold's fitted rows hold no LR decay, the runs it would predict that have one are skipped, and the result
says so: no law can learn the loss drop of an LR decay from runs without one (the MPL paper's protocol needs a
decaying training run for the same reason). A run "holds a decay" when at least :data:`DECAY_ROWS` of its observed
rows after warmup sit at an LR below :data:`DECAY_RATIO` x its peak: a constant-LR log whose last step falls to 0
(the Schaipp et al. files) holds none. A fold whose fit fails, or whose prediction is not finite, is skipped and
named the same way.

Each predicted end gives a relative error ``e = mean((L - Lhat) / Lhat)`` over the run's last 5 % of observed rows
(at least one, at most 500 evenly spaced; averaging keeps one noisy row from posing as the law's error) at horizon
``r = last step / the fold's last fitted step``; :mod:`scalefit.law_error` turns the errors into the law error.
Cost: 2 extra fits, plus one per run when there are several (fewer when folds are skipped).
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from scalefit.errors import (AssumptionWarning, FitFailedWarning, IllConditionedWarning, ParameterAtBoundWarning,
                             ScalefitError)
from scalefit.fitting.inputs import unique_labels
from scalefit.law_error import MIN_ERRORS, FoldError, LawError
from scalefit.results import Note
from scalefit.thinning import evenly_spaced

if TYPE_CHECKING:
    from scalefit.results import FitResult
    from scalefit.runs import Run

#: Forward-chaining cut points, as fractions of each run's observed span after warmup (first to last row).
FRACTIONS = (0.5, 0.7)
#: Share of a run's last observed rows whose mean relative error is the fold's error at that run's end (at most
#: TAIL_ROWS of them, evenly spaced).
TAIL_SHARE = 0.05
TAIL_ROWS = 500
#: A run "holds an LR decay" when DECAY_ROWS of its observed rows after warmup lie below DECAY_RATIO x its peak.
DECAY_RATIO = 0.9
DECAY_ROWS = 2


def cross_validate(runs: Sequence[Run], fit_one: Callable[[list[Run]], FitResult]) -> tuple[LawError | None, Note]:
    """Measure the law's error on ``runs`` by forward chaining and leave-one-run-out folds.

    ``fit_one(runs)`` fits the law with the caller's options and returns a FitResult. Returns the LawError, or
    None when fewer than :data:`MIN_ERRORS` fold errors could be measured; and a note for the fit (what was
    skipped and why; an AssumptionWarning saying why when no law error was measured).
    """
    t0 = time.perf_counter()
    runs = list(runs)
    labels = unique_labels([r.path for r in runs])
    label = {id(r): lab for r, lab in zip(runs, labels)}
    folds: list[tuple[str, list[Run], list[Run]]] = []
    for frac in FRACTIONS:
        pairs = [(r, head(r, frac)) for r in runs]
        fitted = [h for _, h in pairs if h.fit_mask.any()]
        # a run whose head is the whole run (one row after warmup) is fitted but not scored: its end is not held out
        scored = [r for r, h in pairs if not (h.fit_mask.any() and _last(h) >= _last(r))]
        folds.append((f"forward {frac:.0%}", fitted, scored))
    if len(runs) > 1:
        folds += [(f"leave out {labels[i]}", runs[:i] + runs[i + 1:], [r]) for i, r in enumerate(runs)]
    errors: list[FoldError] = []
    skipped: list[str] = []
    warned: dict[str, int] = {}
    no_decay = False
    for name, fitted, targets in folds:
        if not fitted or not targets:
            skipped.append(f"{name}: {'no rows to fit' if not fitted else 'no run end held out'}")
            continue
        if not any(holds_decay(r) for r in fitted):
            hopeless = [r for r in targets if holds_decay(r)]
            if hopeless:
                no_decay = True
                skipped.extend(f"{_target(name, label[id(r)])}: the fitted rows hold no LR decay, this run has one"
                               for r in hopeless)
                targets = [r for r in targets if not holds_decay(r)]
                if not targets:
                    continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a fold's warnings are counted from its notes below
            try:
                res = fit_one(fitted)
            except _FOLD_FAILURES as exc:
                why = str(exc) if isinstance(exc, ScalefitError) else f"{type(exc).__name__}: {exc}"
                skipped.append(f"{name}: {why}")
                continue
        for kind in sorted({_KINDS[n.warning] for n in getattr(res, "notes", ()) if n.warning in _KINDS}):
            warned[kind] = warned.get(kind, 0) + 1
        last = res.context.max_step  # the same fitted range predict() measures the horizon from
        for run in targets:
            try:
                e = end_error(res, run)
            except _FOLD_FAILURES as exc:
                skipped.append(f"{_target(name, label[id(run)])}: {type(exc).__name__}: {exc}")
                continue
            if math.isfinite(e):
                errors.append(FoldError(name, label[id(run)], e, _last(run) / max(last, 1)))
            else:
                skipped.append(f"{_target(name, label[id(run)])}: the prediction of its end is not finite")
    seconds = time.perf_counter() - t0
    if len(errors) < MIN_ERRORS:
        why = "; ".join(skipped) or "no fold could be fitted"
        fix = "Add a run with an LR decay." if no_decay else "Add runs, or log more rows."
        return None, Note("law_error", f"law error not measured: {len(errors)} fold error(s), at least {MIN_ERRORS} "
                          f"needed ({why}); intervals carry the noise only. {fix}", AssumptionWarning,
                          {"measured": False, "errors": len(errors), "skipped": skipped})
    e = np.array([f.rel_error for f in errors])
    r = np.array([f.horizon for f in errors])
    scale = float(np.sqrt(np.mean((e / (1.0 + np.log(np.maximum(r, 1.0)))) ** 2)))
    le = LawError(scale=scale, folds=tuple(errors), skipped=tuple(skipped), seconds=seconds)
    parts = [f"{len(errors)} errors from {le.dof} folds"] + [f"skipped {s}" for s in skipped]
    if warned:
        parts.append("fold fits that warned (" + ", ".join(f"{k}: {n}" for k, n in sorted(warned.items()))
                     + "); their errors are kept")
    return le, Note("law_error", "law error cross-validation: " + "; ".join(parts), None,
                    {"measured": True, "scale": scale, "errors": len(errors), "folds": le.dof, "skipped": skipped,
                     "warned": warned})


#: What a fold's fit or prediction may raise without ending the main fit: the fold is skipped and named instead.
_FOLD_FAILURES = (ScalefitError, ArithmeticError, ValueError, np.linalg.LinAlgError)
_KINDS = {ParameterAtBoundWarning: "a parameter at a bound", IllConditionedWarning: "ill-conditioned or not converged",
          FitFailedWarning: "failed to describe the fold's rows"}


def _target(fold: str, label: str) -> str:
    return fold if fold == f"leave out {label}" else f"{fold} -> {label}"


def _last(run: Run) -> int:
    return int(run.steps[run.fit_mask].max())


def head(run: Run, frac: float) -> Run:
    """The run's rows up to ``frac`` of its fitted span (first to last row after warmup in the fit window); the LR
    schedule stays whole."""
    steps = run.steps[run.fit_mask]
    first, last = int(steps.min()), int(steps.max())
    m = int(np.searchsorted(run.steps, first + frac * (last - first), side="right"))
    extra = {k: v[:m] for k, v in run.extra.items()}
    return dataclasses.replace(run, steps=run.steps[:m], loss=run.loss[:m], line=run.line[:m], extra=extra)


def holds_decay(run: Run) -> bool:
    """True when at least DECAY_ROWS fitted rows (observed, after warmup, in the window) sit at an LR below DECAY_RATIO x the run's peak
    after warmup (the rows that show a law what an LR decay does to the loss)."""
    post = np.asarray(run.lr[int(run.warmup):])
    if not post.size:
        return False
    lr_at_rows = run.lr[run.index[run.fit_mask]]
    return int(np.sum(lr_at_rows < DECAY_RATIO * post.max())) >= DECAY_ROWS


def end_error(result: FitResult, run: Run) -> float:
    """Mean relative error ``(L - Lhat) / Lhat`` of ``result`` over the last TAIL_SHARE of ``run``'s rows (at most
    TAIL_ROWS of them, evenly spaced) inside its fit window."""
    rows = np.flatnonzero(run.fit_mask)
    if rows.size == 0:
        return float("nan")
    rows = rows[-max(1, int(math.ceil(TAIL_SHARE * rows.size))):]
    if rows.size > TAIL_ROWS:  # a dense log: evenly spaced rows of the tail, the same mean at a fraction of the cost
        rows = rows[evenly_spaced(rows.size, TAIL_ROWS)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = result.predict(run, at=run.index[rows], method="covariance").loss
    y = run.loss[rows]
    with np.errstate(all="ignore"):
        return float(np.mean((y - pred) / pred))
