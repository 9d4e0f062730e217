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
4. A forecast whose loss reaches 0 or below anywhere is refused (:class:`ImpossibleForecastError`: the rows so far
   do not determine the law); so is a planned schedule that disagrees with the logged LR. ``scalefit forecast``
   (:mod:`scalefit.commands.forecast`) is the command line of :func:`forecast`.

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


class ImpossibleForecastError(FitInputError):
    """The law fitted to the rows so far forecasts a loss <= 0: no forecast is given (the CLI exits 1, as for any
    prediction that cannot be true)."""


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

    def curve(self) -> dict[str, list]:
        """The remaining curve as plain lists: ``{"steps", "loss", "lower", "upper"}``."""
        return {"steps": self.steps.tolist(), "loss": self.loss.tolist(), "lower": self.lower.tolist(),
                "upper": self.upper.tolist()}

    def plot(self, ax: Any = None, *, held_out: Any = None, ylabel: str = "loss") -> Any:
        """The rows so far and the law's fit to them, the forecast with its band, and (``held_out``: a pair of
        arrays ``(steps, loss)``) rows logged after the forecast's last one, for a check; returns the Axes."""
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(8, 4.5))
        for c in self.fit.curves:
            ax.plot(c.steps, c.loss, ".", ms=3, color="k", alpha=0.6, label="rows so far")
            ax.plot(c.steps, c.fitted, "-", lw=1, color="C0", alpha=0.7, label=f"{self.fit.law} fitted to them")
        ax.plot(self.steps, self.loss, "-", lw=1.8, color="C1",
                label=f"forecast: final {self.final_loss:.4f} [{self.lower[-1]:.4f}, {self.upper[-1]:.4f}]")
        ax.fill_between(self.steps, self.lower, self.upper, color="C1", alpha=0.2, lw=0,
                        label=f"{self.interval:.0%} band ({self.method})")
        if held_out is not None and len(held_out[0]):
            ax.plot(held_out[0], held_out[1], ".", ms=3, color="0.55", label="rows after (not used)")
        ax.axvline(self.last_observed, color="0.4", lw=0.8, ls=":")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(ylabel)
        ax.set_title(f"forecast from step {self.last_observed} to {self.final_step}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        return ax


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


def _borrow(like: Sequence[Any], law: Any, fit_kw: dict[str, Any], run: Any) -> tuple[dict, dict, str]:
    """What a partial run borrows from finished runs of its setup: ``(prior, fixed, note)``.

    The like runs are fitted without the default shape prior (finished runs with LR decays determine their own
    shape: on the Schaipp cosines forecast from 50 %, 0.50 % median error against 0.71 % with the default prior's
    shape); their shape (every free nonlinear parameter) becomes a prior (log sd :data:`LIKE_SD`). When the partial
    run's rows hold no LR decay (:func:`scalefit.fitting.crossval.holds_decay`), they say nothing about the drop of
    one, so
    the drop amplitude (MPL's B, Tissue's C) and the shape are held at the like fit's values instead; the partial run
    still sets its own level (L0, A).
    """
    from scalefit.fitting.driver import fit_one_for

    like_kw = dict(fit_kw)
    like_kw.setdefault("prior", {})  # their own shape, not the default prior's centre (runs with decays fix it)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_one_for(law, **like_kw)(list(like))
    free = [n for n in res.param_order if not res.params[n].fixed]
    return _borrow_values(res.values, free, law, run, f"{len(like)} finished run(s)", "the fit of ")


def _borrow_values(values: dict[str, float], free: Sequence[str], law: Any, run: Any, source: str,
                   held: str = "") -> tuple[dict, dict, str]:
    """``(prior, fixed, note)`` from a size-blind ``law``'s fitted ``values`` (``free``: the names the fit set):
    a shape prior when the partial run holds an LR decay, else shape and drop amplitude held (see :func:`_borrow`)."""
    shape = {n: float(values[n]) for n in law.nonlinear_names if n in free and values.get(n, 0.0) > 0}
    if holds_decay(run):
        return {n: (v, LIKE_SD) for n, v in shape.items()}, {}, f"shape prior from {source}"
    drop = [n for n in law.linear_names if n not in ("L0", "A") and n in values]
    fixed = {**shape, **{n: float(values[n]) for n in drop}}
    return {}, fixed, f"the rows so far hold no LR decay: {', '.join(fixed)} held at {held}{source}"


def _from_fit(prior_fit: Any, run: Any, n_params: float | None, source: str) -> tuple[Any, dict, list[str], str]:
    """A saved fit as the forecast's prior: ``(size-blind law, its values, the free names, what they rest on)``.

    A size-aware fit (mpl-n, tissue-n) gives its inner law at the run's model size (``n_params``, default the run's
    ``params``); outside its fitted sizes that is an extrapolation, and the note says by what factor."""
    law = prior_fit.get_law()
    free = [n for n in prior_fit.param_order if not prior_fit.params[n].fixed]
    if not getattr(law, "size_aware", False):
        return law, prior_fit.values, free, source
    size = n_params if n_params is not None else (run.meta or {}).get("params")
    sizes = sorted(set(prior_fit.context.n_params))
    listed = ", ".join(f"{x:.3g}" for x in sizes)
    if size is None:
        raise FitInputError(f"the fit is of law {prior_fit.law}, fitted at model sizes {listed}: give the run's model "
                            "size. Example: --params 1.2e8", path=run.path)
    from scalefit.extrapolation import check_size_target, size_flag

    given = all(prior_fit.params[n].fixed for n in law.size_names())
    check_size_target(sizes, float(size), prior_fit.law, True, size_terms_given=given)
    values = law.at_size(prior_fit.values, float(size))
    shared = [n for n in law.inner.nonlinear_names if n in free] + list(law.inner.linear_names)
    flag = size_flag(float(size), sizes)
    where = f": {flag}" if flag else ""
    return law.inner, values, shared, f"{source} (law {prior_fit.law} at model size {float(size):.3g}{where})"


def forecast(partial: Any, schedule: Any = None, *, like: Sequence[Any] | None = None, prior_fit: Any = None,
             n_params: float | None = None, law: str | None = None, interval: float = 0.9,
             fractions: Sequence[float] = FRACTIONS, source: str = "", **fit_kw: Any) -> Forecast:
    """Forecast the rest of ``partial`` under ``schedule`` (see the module docstring).

    Parameters
    ----------
    partial : Run
        The rows logged so far (LR known from step 0).
    schedule : array, str or Run
        The planned per-step LR of the whole run (from step 0); it must agree with the logged LR.
    like : sequence of Run, optional
        Finished runs of the same setup: their fitted shape becomes the prior of the partial run's fit.
    prior_fit : FitResult, optional
        Instead of ``like``: a saved fit of finished runs of the same setup, whose shape becomes the prior (a
        size-aware fit's at the run's model size, ``n_params`` or the run's ``params``). ``source`` names it in the
        note (e.g. its file).
    law : str, optional
        A size-blind curve law (``"mpl"``, ``"tissue"``); default ``"mpl"``, or with ``prior_fit`` its law.
    interval : float
        Nominal coverage of the band.
    **fit_kw
        Passed to :func:`scalefit.fit` (``seed``, ``bounds``, law options, ...).
    """
    from scalefit.fitting import fit

    if not 0.0 < interval < 1.0:
        raise FitInputError(f"interval must lie in (0, 1), got {interval}. Example: --interval 0.9")
    if like and prior_fit is not None:
        raise FitInputError("pass finished runs (--like) or a saved fit of them (--fit), not both.")
    borrowed_values = None
    if prior_fit is not None:
        law_obj, values, free, source = _from_fit(prior_fit, partial, n_params, source or "a saved fit")
        if law is not None and law.strip().lower() != law_obj.name:
            raise FitInputError(f"--law {law} disagrees with the fit's law {prior_fit.law}: leave --law out with "
                                "--fit. Example: --fit fit.json")
        borrowed_values = (values, free, source)
    else:
        try:
            law_obj = get_law(law or "mpl")
        except KeyError as exc:
            raise FitInputError(f"{exc.args[0]}. Example: --law mpl") from None
    law = law_obj
    if law_obj.size_aware:
        raise FitInputError(f"law {law_obj.name!r} learns how the loss changes with model size, and a forecast fits "
                            "one run of one size: use a size-blind law (mpl, tissue), or --fit with a size-aware fit "
                            "as its prior. Example: --law mpl")
    run = planned_run(partial, schedule)
    kw = dict(fit_kw, law_error=False)
    borrowed = ""
    drops = [n for n in law_obj.linear_names if n not in ("L0", "A")]
    if not like and borrowed_values is None and not holds_decay(run) and not (fit_kw.get("fixed") or {}):
        # rows without an LR decay say nothing about the drop amplitude; fitted anyway it follows noise-level LR
        # wiggles (B of 1e7 on a constant-LR log whose LR varies by 1e-12): hold it at 0
        kw["fixed"] = {n: 0.0 for n in drops}
        borrowed = ("the rows so far hold no LR decay: the drop amplitude is held at 0, so the forecast leaves out "
                    "any drop of a planned decay (pass like= finished runs of the same setup)")
    if like or borrowed_values is not None:
        if like:
            prior, fixed, borrowed = _borrow(like, law, fit_kw, run)
        else:
            prior, fixed, borrowed = _borrow_values(*borrowed_values[:2], law, run, borrowed_values[2])
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
        raise ImpossibleForecastError(f"the forecast reaches a loss <= 0 (at step {int(idx[i])}): the "
                                      f"{int(run.fit_mask.sum())} rows so far do not determine the law. Wait for more "
                                      "rows, or pass --like with finished runs of the same setup.", path=partial.path)
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

