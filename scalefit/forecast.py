"""Forecast a run in flight: its final loss and the rest of its curve from the rows logged so far and the planned
schedule, with an interval measured on the run itself.

Method
------
1. The law is fitted to the partial run's rows, with the whole planned LR schedule known (as it is in flight).
   ``like=[finished runs of the same setup]`` first fits the law to those runs and centres a prior on their shape
   (every nonlinear parameter: MPL's ``alpha, C, beta, gamma``; Tissue's ``alpha``) with log sd :data:`LIKE_SD`:
   a run in flight has not yet shown the loss drop of its LR decay, finished runs of the same model and data have.
   When the rows so far hold no LR decay at all (a WSD run before its cooldown), the drop amplitude and the shape
   are held at the like fit's values (the partial run sets only its level); without ``like`` the drop amplitude is
   held at 0 (such rows do not determine it) and the note says that a planned decay's drop is left out.
2. **Forward-chaining folds on the run itself**: cut the partial run at :data:`FRACTIONS` of its observed span after
   warmup, refit, and predict the rows it already has at its end; each fold gives a relative error ``e`` at distance
   ``d = ln(last observed step / cut step)``.
3. The relative error grows linearly in ``ln(step / last observed step)`` from zero at the last observed row (the fit
   passes through the data there): ``sd(d) = scale * d`` with ``scale`` the RMS of ``e / d`` over the folds, added in
   quadrature to the parameter-covariance band, with a Student t quantile on ``len(folds)`` degrees of freedom.
   The interval is built on log loss, ``[Lhat exp(-h), Lhat exp(h)]``: it never reaches 0.
4. A forecast whose loss reaches 0 or below anywhere is refused (the rows so far do not determine the law); so is a
   planned schedule that disagrees with the logged LR.

Measured on the reference runs (``benchmarks/extrapolation.py``, section "in flight").
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from scalefit.errors import FitInputError, ScalefitError
from scalefit.fitting.crossval import end_error, holds_decay
from scalefit.fitting.extrapolation_folds import truncate
from scalefit.laws import get_law

#: Forward-chaining cut points of the partial run, as fractions of its observed span after warmup.
FRACTIONS = (0.4, 0.55, 0.7)
#: Log sd of the prior centred on the shape of ``like`` runs (delta-scaled, as every fitter prior).
LIKE_SD = 0.05
#: Largest disagreement between the logged LR and the planned schedule, relative to the peak LR.
LR_TOLERANCE = 1e-3
#: Points of the remaining curve kept in the result (evenly spaced, the final step included).
CURVE_POINTS = 500


@dataclass(frozen=True)
class Forecast:
    """The forecast of a partial run: remaining curve and final loss with an interval.

    Attributes
    ----------
    steps, loss, lower, upper : ndarray, shape (M,)
        The remaining curve (steps after the last observed row up to the planned end, thinned to
        :data:`CURVE_POINTS`) and its central ``interval`` band.
    final_step : int
    interval : float
    method : str
        ``"forward-chaining"`` (the run's own folds) or ``"covariance"`` (no fold could be measured: noise only,
        and ``note`` says so).
    scale : float
        Relative error per unit ``ln(step / last observed step)`` measured by the folds.
    folds : tuple of (cut step, distance, relative error)
    last_observed : int
        The partial run's last observed step.
    fit : FitResult
        The law fitted to the partial run.
    note : str
    """

    steps: np.ndarray
    loss: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    final_step: int
    interval: float
    method: str
    scale: float
    folds: tuple[tuple[int, float, float], ...]
    last_observed: int
    fit: Any
    note: str = ""

    @property
    def final_loss(self) -> float:
        return float(self.loss[-1])

    @property
    def final_interval(self) -> tuple[float, float]:
        return float(self.lower[-1]), float(self.upper[-1])

    def summary(self) -> dict[str, Any]:
        """Plain types for JSON."""
        return {"final_step": self.final_step, "final_loss": self.final_loss, "lower": float(self.lower[-1]),
                "upper": float(self.upper[-1]), "interval": self.interval, "method": self.method,
                "scale": self.scale, "last_observed": self.last_observed, "law": self.fit.law, "note": self.note,
                "folds": [{"cut": c, "distance": d, "rel_error": e} for c, d, e in self.folds]}


def planned_run(partial: Any, schedule: Any) -> Any:
    """``partial`` with its LR replaced by the planned schedule (a per-step array from step 0, a spec string, or a
    Run whose LR is the plan); FitInputError when the plan disagrees with the logged LR or ends before the rows."""
    from scalefit.runs import Run

    if int(partial.step0) != 0:
        raise FitInputError(f"the partial run starts at step {int(partial.step0)}; a forecast needs its LR from step "
                            "0. Pass --warmup or a per-step schedule file.", path=partial.path)
    if schedule is None:
        raise FitInputError("a forecast needs the planned schedule of the whole run (--schedule SPEC or "
                            "--schedule-file F).", path=partial.path)
    if isinstance(schedule, Run):
        lr = np.asarray(schedule.lr, dtype=np.float64)
    elif isinstance(schedule, str):
        from scalefit import schedules

        lr = np.asarray(schedules.from_spec(schedules.parse_spec(schedule), peak=float(np.max(partial.lr)),
                                            total=None, warmup=int(partial.warmup)), dtype=np.float64)
    else:
        lr = np.asarray(schedule, dtype=np.float64)
    if lr.ndim != 1 or not np.all(np.isfinite(lr)) or np.any(lr < 0):
        raise FitInputError("the planned schedule must be a 1-D array of finite LRs >= 0.", path=partial.path)
    last = int(partial.steps[partial.observed].max())
    if lr.size <= last + 1:
        raise FitInputError(f"the planned schedule has {lr.size} steps, but the run already logged step {last}: "
                            "nothing is left to forecast. Give the whole planned schedule.", path=partial.path)
    n = min(partial.lr.size, lr.size)
    bad = np.flatnonzero(np.abs(lr[:n] - partial.lr[:n]) > LR_TOLERANCE * float(np.max(lr)))
    if bad.size:
        i = int(bad[0])
        raise FitInputError(f"the planned schedule gives LR {lr[i]:.4g} at step {i}, the log {partial.lr[i]:.4g}: "
                            "the plan must match what already ran. Check --schedule.", path=partial.path)
    return dataclasses.replace(partial, lr=lr)


def _borrow(like: Sequence[Any], law: str, fit_kw: dict[str, Any], run: Any) -> tuple[dict, dict, str]:
    """What a partial run borrows from finished runs of its setup: ``(prior, fixed, note)``.

    The like runs are fitted without the default shape prior (finished runs with LR decays determine their own
    shape: on the Schaipp cosines forecast from 50 %, 0.50 % median error against 0.71 % with the default prior's
    shape); their shape (every free nonlinear parameter) becomes a prior (log sd :data:`LIKE_SD`). When the partial
    run's rows hold no LR decay (:func:`scalefit.fitting.crossval.holds_decay`), they say nothing about the drop of one, so
    the drop amplitude (MPL's B, Tissue's C) and the shape are held at the like fit's values instead; the partial run
    still sets its own level (L0, A).
    """
    from scalefit.fitting.driver import fit_one_for

    like_kw = dict(fit_kw)
    like_kw.setdefault("prior", {})  # their own shape, not the default prior's centre (runs with decays fix it)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_one_for(law, **like_kw)(list(like))
    shape = {n: res.params[n].value for n in res.param_order
             if not res.params[n].linear and not res.params[n].fixed and res.params[n].value > 0}
    if holds_decay(run):
        return {n: (v, LIKE_SD) for n, v in shape.items()}, {}, f"shape prior from {len(like)} finished run(s)"
    drop = [n for n in res.param_order if res.params[n].linear and n not in ("L0", "A")]
    fixed = {**shape, **{n: res.params[n].value for n in drop}}
    return {}, fixed, (f"the rows so far hold no LR decay: {', '.join(fixed)} held at the fit of {len(like)} "
                       "finished run(s)")


def forecast(partial: Any, schedule: Any = None, *, like: Sequence[Any] | None = None, law: str = "mpl",
             interval: float = 0.9, fractions: Sequence[float] = FRACTIONS, **fit_kw: Any) -> Forecast:
    """Forecast the rest of ``partial`` under ``schedule`` (see the module docstring).

    Parameters
    ----------
    partial : Run
        The rows logged so far (LR known from step 0).
    schedule : array, str or Run
        The planned per-step LR of the whole run (from step 0); it must agree with the logged LR.
    like : sequence of Run, optional
        Finished runs of the same setup: their fitted shape becomes the prior of the partial run's fit.
    law : str
        A size-blind curve law (``"mpl"``, ``"tissue"``).
    interval : float
        Nominal coverage of the band.
    **fit_kw
        Passed to :func:`scalefit.fit` (``seed``, ``bounds``, law options, ...).
    """
    from scalefit.fitting import fit

    if not 0.0 < interval < 1.0:
        raise FitInputError(f"interval must lie in (0, 1), got {interval}.")
    run = planned_run(partial, schedule)
    kw = dict(fit_kw, law_error=False)
    borrowed = ""
    drops = [n for n in get_law(law).linear_names if n not in ("L0", "A")]
    if not like and not holds_decay(run) and not (fit_kw.get("fixed") or {}):
        # rows without an LR decay say nothing about the drop amplitude; fitted anyway it follows noise-level LR
        # wiggles (B of 1e7 on a constant-LR log whose LR varies by 1e-12): hold it at 0
        kw["fixed"] = {n: 0.0 for n in drops}
        borrowed = ("the rows so far hold no LR decay: the drop amplitude is held at 0, so the forecast leaves out "
                    "any drop of a planned decay (pass like= finished runs of the same setup)")
    if like:
        prior, fixed, borrowed = _borrow(like, law, fit_kw, run)
        kw["prior"] = {**prior, **dict(fit_kw.get("prior") or {})}
        kw["fixed"] = {**fixed, **dict(fit_kw.get("fixed") or {})}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit([run], law, **kw)
    last = int(run.steps[run.fit_mask].max())
    first = int(run.steps[run.fit_mask].min())
    T = run.lr.size
    idx = np.unique(np.linspace(last + 1, T - 1, min(CURVE_POINTS, T - 1 - last)).astype(np.int64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = res.predict(run.lr, warmup=int(run.warmup), at=idx, method="covariance", interval=0.6827)
    if not np.all(np.isfinite(pred.loss)) or np.any(pred.loss <= 0):
        i = int(np.flatnonzero(~(pred.loss > 0))[0])
        raise FitInputError(f"the forecast reaches a loss <= 0 (at step {int(idx[i])}): the {int(run.fit_mask.sum())} "
                            "rows so far do not determine the law. Wait for more rows, or pass --like with finished "
                            "runs of the same setup.", path=partial.path)
    cov_rel = np.where(np.isfinite(pred.upper), (pred.upper - pred.loss) / pred.loss, 0.0)  # 1-sd relative band
    folds = []
    for frac in fractions:
        cut = int(first + frac * (last - first))
        head = truncate(run, cut)
        if head.fit_mask.sum() < 3 or cut >= last:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                e = end_error(fit([head], law, **kw), run)
            except (ScalefitError, ArithmeticError, ValueError, np.linalg.LinAlgError):
                continue
        if math.isfinite(e):
            folds.append((cut, math.log(last / max(cut, 1)), e))
    dist = np.log((idx + 1.0) / (last + 1.0))
    if len(folds) >= 2:
        from scipy.stats import t

        scale = float(np.sqrt(np.mean([(e / d) ** 2 for _, d, e in folds])))
        q = float(t.ppf(0.5 + interval / 2.0, len(folds)))
        method, note = "forward-chaining", f"{len(folds)} folds on the run itself"
    else:
        from scipy.stats import norm

        scale, q = 0.0, float(norm.ppf(0.5 + interval / 2.0))
        method = "covariance"
        note = f"too few folds ({len(folds)}): the interval carries the parameter covariance only"
    h = q * np.sqrt((scale * dist) ** 2 + cov_rel ** 2)
    return Forecast(steps=idx.astype(np.int64), loss=pred.loss, lower=pred.loss * np.exp(-h),
                    upper=pred.loss * np.exp(h), final_step=int(T - 1), interval=float(interval), method=method,
                    scale=scale, folds=tuple(folds), last_observed=last, fit=res,
                    note=note + (f"; {borrowed}" if borrowed else ""))

