"""The law's own error, measured by cross-validation on the training runs, for prediction intervals that cover.

Why
---
The covariance band of :meth:`~scalefit.results.FitResult.predict` is what the *noise* allows: it shrinks with
more logged rows, while the law's misfit on a schedule it never saw does not. On the MPL reference curves the
covariance band held 2 of 26 held-out final losses (``benchmarks/interval_coverage.py``); the errors were the law's.
This module measures that error on the training runs themselves, the only honest place to measure it, and turns
it into a second, independent term of the interval.

Folds (every one refits the law with the caller's options)
----------------------------------------------------------
* **Forward chaining** at 50 % and 70 %: fit every run's rows up to that fraction of its observed span after warmup
  (first to last row, so that a cooldown segment that starts mid-training keeps its first rows too; the whole LR
  schedule stays known, as it is before a run), predict each run's end.
* **Leave one run out** (with two or more runs): fit the others, predict the left-out run's end.

A fold is skipped, and the result says so, when its fitted rows hold no LR decay but a predicted run has one: no
law can learn the loss drop of an LR decay from runs without one (the MPL paper's protocol needs a decaying
training run for the same reason). A run "holds a decay" when at least :data:`DECAY_ROWS` of its observed rows after
warmup sit at an LR below :data:`DECAY_RATIO` x its peak: a constant-LR log whose last step or two fall to 0 (the
Schaipp et al. files) holds none. A fold whose fit fails (too few rows) is skipped the same way.

Error model
-----------
Each predicted end gives a relative error ``e = mean((L - Lhat) / Lhat)`` over the run's last 5 % of observed rows
(at least one row; averaging keeps one noisy row from posing as the law's error) at horizon
``r = last step / the fold's last fitted step``. The relative law error is modelled as
``sd(r) = scale * (1 + ln(max(r, 1)))``: constant within the fitted steps, growing with the log of the
extrapolation (a power law mis-fitted in log-log space drifts linearly in ``ln r``). ``scale`` is the RMS of
``e / (1 + ln(max(r, 1)))`` over the ``k`` fold errors, and the interval uses a Student t quantile with ``k``
degrees of freedom, since the scale is itself estimated from ``k`` numbers.

Cost: ``2 + number of runs`` extra fits (fewer when folds are skipped). Measured coverage on held-out schedules
(MPL reference and Schaipp curves): ``benchmarks/law_error.py`` and ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from scalefit.errors import ScalefitError

#: Forward-chaining cut points, as fractions of each run's last observed step.
FRACTIONS = (0.5, 0.7)
#: Share of a run's last observed rows whose mean relative error is the fold's error at that run's end.
TAIL_SHARE = 0.05
#: A run "holds an LR decay" when DECAY_ROWS of its observed rows after warmup lie below this fraction of its peak.
DECAY_RATIO = 0.9
DECAY_ROWS = 3
#: The fewest fold errors the scale is estimated from; with fewer, no law error is attached.
MIN_ERRORS = 2
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
        Folds left out, each with its reason.
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
        return len(self.folds)

    def relative_sd(self, steps: np.ndarray, fitted_last_step: int) -> np.ndarray:
        """Relative sd of the law's error at each step (``steps`` are optimizer steps)."""
        r = np.asarray(steps, dtype=np.float64) / max(float(fitted_last_step), 1.0)
        return self.scale * (1.0 + np.log(np.maximum(r, 1.0)))

    def quantile(self, interval: float) -> float:
        """Two-sided quantile of the central ``interval`` under a Student t with ``dof`` degrees of freedom."""
        from scipy.stats import t

        return float(t.ppf(0.5 + interval / 2.0, self.dof))

    def text(self) -> str:
        """One line for reports."""
        out = (f"{self.scale * 100:.2g}% of the loss within the fitted steps, x(1 + ln(step / last fitted step)) "
               f"beyond; cross-validated on the training runs ({self.dof} fold errors, t quantile")
        if self.skipped:
            out += f"; {len(self.skipped)} fold(s) skipped"
        return out + ")"

    def to_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "model": self.model, "seconds": self.seconds, "skipped": list(self.skipped),
                "folds": [dataclasses.asdict(f) for f in self.folds]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LawError:
        return cls(scale=float(data["scale"]), model=str(data.get("model", MODEL)),
                   seconds=float(data.get("seconds", 0.0)), skipped=tuple(str(s) for s in data.get("skipped", ())),
                   folds=tuple(FoldError(fold=str(f["fold"]), path=str(f["path"]), rel_error=float(f["rel_error"]),
                                         horizon=float(f["horizon"])) for f in data["folds"]))


def cross_validate(runs: Sequence[Any], fit_one: Callable[[list[Any]], Any]) -> tuple[LawError | None, str]:
    """Measure the law's error on ``runs`` by forward chaining and leave-one-run-out folds.

    ``fit_one(runs)`` fits the law with the caller's options and returns a FitResult. Returns the LawError, or
    None with the reason when fewer than :data:`MIN_ERRORS` fold errors could be measured; and a note for the
    fit's messages.
    """
    t0 = time.perf_counter()
    runs = list(runs)
    folds: list[tuple[str, list[Any], list[Any]]] = [
        (f"forward {frac:.0%}", [h for h in (head(r, frac) for r in runs) if h.after_warmup.any()], runs)
        for frac in FRACTIONS]
    if len(runs) > 1:
        folds += [(f"leave out {r.path}", runs[:i] + runs[i + 1:], [r]) for i, r in enumerate(runs)]
    errors: list[FoldError] = []
    skipped: list[str] = []
    n_warned = 0
    for name, fitted, targets in folds:
        if not fitted:
            skipped.append(f"{name}: no rows to fit")
            continue
        if not any(holds_decay(r) for r in fitted) and any(holds_decay(r) for r in targets):
            skipped.append(f"{name}: its fitted rows hold no LR decay, a run it predicts has one")
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                res = fit_one(fitted)
            except ScalefitError as exc:
                skipped.append(f"{name}: {exc}")
                continue
        n_warned += bool(caught)
        last = max(int(r.steps[r.after_warmup].max()) for r in fitted)
        for run in targets:
            e = end_error(res, run)
            if math.isfinite(e):
                errors.append(FoldError(name, run.path, e, int(run.steps[run.after_warmup].max()) / max(last, 1)))
    seconds = time.perf_counter() - t0
    if len(errors) < MIN_ERRORS:
        why = "; ".join(skipped) or "no fold could be fitted"
        return None, (f"law error not measured: {len(errors)} fold error(s), at least {MIN_ERRORS} needed ({why}); "
                      "intervals carry the noise only. Add runs, or log more rows.")
    e = np.array([f.rel_error for f in errors])
    r = np.array([f.horizon for f in errors])
    scale = float(np.sqrt(np.mean((e / (1.0 + np.log(np.maximum(r, 1.0)))) ** 2)))
    le = LawError(scale=scale, folds=tuple(errors), skipped=tuple(skipped), seconds=seconds)
    parts = [f"{le.dof} fold errors in {seconds:.1f} s"] + [f"skipped {s}" for s in skipped]
    if n_warned:
        parts.append(f"{n_warned} fold fit(s) warned (bounds or conditioning), their errors are kept")
    return le, "law error cross-validation: " + "; ".join(parts)


def head(run: Any, frac: float) -> Any:
    """The run's rows up to ``frac`` of its observed span after warmup (first to last row); the LR schedule stays
    whole."""
    steps = run.steps[run.after_warmup]
    first, last = int(steps.min()), int(steps.max())
    m = int(np.searchsorted(run.steps, first + frac * (last - first), side="right"))
    extra = {k: v[:m] for k, v in run.extra.items()}
    return dataclasses.replace(run, steps=run.steps[:m], loss=run.loss[:m], line=run.line[:m], extra=extra)


def holds_decay(run: Any) -> bool:
    """True when at least DECAY_ROWS observed rows after warmup sit at an LR below DECAY_RATIO x the run's peak
    after warmup (the rows that show a law what an LR decay does to the loss)."""
    post = np.asarray(run.lr[int(run.warmup):])
    if not post.size:
        return False
    lr_at_rows = run.lr[run.index[run.after_warmup]]
    return int(np.sum(lr_at_rows < DECAY_RATIO * post.max())) >= DECAY_ROWS


def end_error(result: Any, run: Any) -> float:
    """Mean relative error ``(L - Lhat) / Lhat`` of ``result`` over the last TAIL_SHARE of ``run``'s rows."""
    rows = np.flatnonzero(run.after_warmup)
    if rows.size == 0:
        return float("nan")
    rows = rows[-max(1, int(math.ceil(TAIL_SHARE * rows.size))):]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = result.predict(run, at=run.index[rows]).loss
    y = run.loss[rows]
    return float(np.mean((y - pred) / pred))
