"""``optimize_schedule``: the per-step LR that minimises a fitted law's predicted loss (the method: the package
docstring of :mod:`scalefit.optimize`)."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scalefit.errors import (ConvergenceError, DegenerateOptimumWarning, ExtrapolationWarning, FitInputError,
                             IllConditionedWarning)
from scalefit.optimize.box import _adam, _BoxResult, _lbfgs_box
from scalefit.optimize.family import FamilySearch, family_search
from scalefit.optimize.knots import _bends, _knots, _Param
from scalefit.optimize.objective import _LOW, _law_of, _predict_final, make_objective, parse_objective

METHODS = ("lbfgsb", "adam")
#: A stage that reaches its iteration cap while its last 10 iterations gained less than this (nats) has converged
#: for every purpose (seed-to-seed noise of a final loss is ~1e-3): its message says so instead of the cap.
NEGLIGIBLE = 1e-5


@dataclass(frozen=True)
class OptimizedSchedule:
    """An optimised per-step schedule and how it was found.

    Attributes
    ----------
    lr : ndarray, shape (T,)
        The LR of every step, warmup included (``schedules.to_csv`` / :meth:`to_csv` writes it).
    final_loss, lower, upper : float
        Predicted loss at the last step (nats per token) and its ``interval`` band, the fit's prediction interval
        (parameter covariance, plus the cross-validated law error when the fit measured it; NaN without a
        FitResult). This is the number ``scalefit predict --schedule-file`` prints.
    objective, objective_value : str, float
        What was minimised (``final``, ``last:K``, ``step:S``) and its exact value at ``lr``.
    start_spec, start_value : str, float
        The schedule the search started from (the best family member) and its objective value.
    seconds, iterations, evaluations : float, int, int
        Wall time of the whole search (family search included), optimiser iterations and objective evaluations.
    method, converged, message : str, bool, str
    law : str
    warmup, peak, floor, ceiling, monotone : the constraints (``ceiling`` None = the peak).
    family : FamilySearch or None
        The family search that gave the start (None when a start was given).
    under : str
        The law the objective was computed under: "the fit", or the ensemble's description (``objective_value``
        is then the ensemble mean; ``final_loss`` stays the fit's prediction).
    max_decrement : float or None
        The cap on the LR decrement per step, when one was set.
    """

    lr: np.ndarray = field(repr=False)
    final_loss: float
    lower: float
    upper: float
    interval: float
    objective: str
    objective_value: float
    start_spec: str
    start_value: float
    seconds: float
    iterations: int
    evaluations: int
    method: str
    converged: bool
    message: str
    law: str
    warmup: int
    peak: float
    floor: float
    ceiling: float | None
    monotone: bool
    family: FamilySearch | None = field(default=None, repr=False)
    under: str = "the fit"
    max_decrement: float | None = None

    @property
    def constraints(self) -> dict[str, Any]:
        """The constraints as plain data."""
        return {"steps": int(self.lr.size), "peak": self.peak, "warmup": self.warmup, "floor": self.floor,
                "ceiling": self.ceiling, "monotone": self.monotone, "max_decrement": self.max_decrement}

    def summary(self) -> dict[str, Any]:
        """Plain dict: losses, objective, timing, method and constraints (no arrays)."""
        return {"final_loss": self.final_loss, "lower": self.lower, "upper": self.upper, "interval": self.interval,
                "objective": self.objective, "objective_value": self.objective_value, "start": self.start_spec,
                "start_value": self.start_value, "seconds": self.seconds, "iterations": self.iterations,
                "evaluations": self.evaluations, "method": self.method, "converged": self.converged,
                "message": self.message, "law": self.law, "under": self.under, "constraints": self.constraints}

    def to_csv(self, path: Any) -> Any:
        """Write the schedule as ``step,lr`` (readable by ``scalefit predict --schedule-file``)."""
        from scalefit.schedules import to_csv

        return to_csv(path, self.lr)


def _near_bends(pos: np.ndarray, eta: np.ndarray, peak: float, n: int, level: int) -> np.ndarray:
    """The knots plus every step within ``8 * 2**level`` of the 16 steps where ``eta`` bends most: a refinement
    level sharpens the features the solution has and adds no knots elsewhere. Halving the spacing everywhere (the
    earlier refinement) let new small drops form in flat stretches, a staircase of the knots' making (at T = 1,000
    on the bundled tiny fit: 5 drops where the search over every step finds 3, and 5e-4 nats higher)."""
    b = _bends(eta, peak, k=16)
    near = (b[:, None] + np.arange(-8 * 2**level, 8 * 2**level + 1)[None, :]).ravel()
    return np.unique(np.clip(np.concatenate((pos, near)), 0, n - 1))


def _check(steps: Any, peak: Any, warmup: Any, floor: Any, ceiling: Any, method: str, max_iter: int | None = None,
           polish: int = 0, refine: int = 0) -> tuple[int, float, int]:
    try:
        T, W = int(steps), int(warmup)
    except (TypeError, ValueError):
        raise FitInputError(f"steps and warmup must be integers; got steps={steps!r}, warmup={warmup!r}.") from None
    if T != steps or W != warmup or W < 0 or T < max(W, 1) + 2:
        raise FitInputError(f"need integer steps >= warmup + 2 and warmup >= 0; got steps={steps!r}, "
                            f"warmup={warmup!r}. Example: --steps 24000 --warmup 2160", value=steps)
    pk = float(peak)
    if not (math.isfinite(pk) and pk > 0):
        raise FitInputError(f"peak LR must be finite and > 0; got {peak!r}. Example: --peak 3e-4", value=peak)
    fl = float(floor)
    if not (math.isfinite(fl) and 0 <= fl < pk):
        raise FitInputError(f"floor LR must satisfy 0 <= floor < peak ({pk:g}); got {floor!r}. "
                            "Example: --floor 3e-5", value=floor)
    if ceiling is not None and not (math.isfinite(float(ceiling)) and float(ceiling) > fl):
        raise FitInputError(f"ceiling LR must be finite and > floor ({fl:g}); got {ceiling!r}.", value=ceiling)
    if method not in METHODS:
        raise FitInputError(f"unknown method {method!r}; use one of {', '.join(METHODS)}.", value=method)
    if (max_iter is not None and max_iter < 1) or polish < 0 or refine < 0:
        raise FitInputError(f"--iterations must be >= 1, --polish and refine >= 0; got {max_iter}, {polish}, "
                            f"{refine}. Example: --iterations 3000 --polish 2000")
    return T, pk, W


def _warn_law(law_name: str, law_options: Mapping[str, Any], fit: Any, monotone: bool, method: str) -> None:
    """The law's own warnings about its optimum (declared on the law: ``degenerate_optimum``, ``drop_shape`` at a
    bound, ``non_monotone_warning``)."""
    from scalefit.laws import get_law, optimizable_laws

    try:
        law = get_law(law_name, **dict(law_options))
    except (KeyError, TypeError):
        return  # make_objective says what is wrong
    if law.degenerate_optimum:
        good = " or ".join(f"--law {n}" for n in optimizable_laws(degenerate=False)) or "another law"
        warnings.warn(
            f"optimising the {law.title} ({law_name}): {law.degenerate_optimum}. The schedule below is that optimum; "
            f"do not train with it. Fit {good} to optimise a schedule.", DegenerateOptimumWarning, stacklevel=3)
    stuck = [n for n in law.drop_shape if fit is not None and n in fit.params and fit.params[n].at_bound]
    if stuck:
        warnings.warn(
            f"the fit's loss-drop shape ({', '.join(stuck)}) sits at its bounds: the fitted runs do not "
            "determine how fast the loss follows an LR drop, and the optimum may be a drop in the last few "
            "steps that real training does not reward (measured: benchmarks/RESULTS.md, closed loop). Fit "
            "runs that contain cooldowns (WSD, step) before trusting this schedule.",
            IllConditionedWarning, stacklevel=3)
    if law.non_monotone_warning and not monotone and method != "adam":
        warnings.warn(law.non_monotone_warning, DegenerateOptimumWarning, stacklevel=3)


def optimize_schedule(
    fit_or_values: Any,
    *,
    steps: int,
    peak: float,
    warmup: int,
    floor: float = 0.0,
    ceiling: float | None = None,
    objective: str = "final",
    monotone: bool = True,
    method: str = "lbfgsb",
    seed: int = 0,
    law: str | None = None,
    n_params: float | None = None,
    interval: float = 0.9,
    resolution: float = 0.05,
    polish: int = 30,
    refine: int = 3,
    max_iter: int | None = None,
    n_starts: int = 1,
    start: np.ndarray | None = None,
    adam_lr: float = 0.01,
    max_decrement: float | None = None,
    ensemble: Any = None,
) -> OptimizedSchedule:
    """Minimise a fitted law's predicted loss over the per-step LR after the warmup.

    Parameters
    ----------
    fit_or_values : FitResult or mapping
        A fit (law "mpl", "tissue" or "tissue-n"), or parameter values by name (then ``law`` names the law,
        default "mpl", and no interval is available).
    steps, peak, warmup : int, float, int
        Total steps T (warmup included), the peak LR (held fixed at the last warmup step) and the warmup length
        W (the linear ramp of ``schedules.warmup_ramp``, held fixed).
    floor, ceiling : float
        Bounds on every post-warmup LR; ``ceiling`` defaults to the peak. The search itself stays at or above
        ``max(floor, 1e-9 peak)`` (module docstring, Constraints).
    objective : {"final", "last:K", "step:S"}
        Minimise the predicted loss at the last step, its mean over the last K steps, or at step index S.
        Cost O(K T) per evaluation for ``last:K``.
    monotone : bool
        Non-increasing LR after the peak (default), or any LR in [floor, ceiling].
    method : {"lbfgsb", "adam"}
        See the module docstring. ``adam`` is monotone only.
    seed : int
        Seeds the choice of extra starts (``n_starts > 1``: random other family members); same inputs and seed
        give the same schedule.
    n_params : float, optional
        Model size for "tissue-n" (default: the fit's).
    interval : float
        Coverage of the predicted-loss band.
    resolution : float
        Knot spacing relative to the distance to the last step (0 = every step is a variable from the start).
    polish : int
        Maximum iterations of the per-step L-BFGS polish after the knot stage (0 = none). The polish matters when
        the optimum has a sharp feature that the knots cannot place exactly.
    refine : int
        Refinement levels after the knot stage: each adds a knot at every step near the 16 steps where the
        solution bends most (within 16, 32, 64 steps at levels 1, 2, 3) and warm-starts L-BFGS there (an
        improvement is kept). They sharpen the drops the knots found and add no knots elsewhere, so they make no
        staircase of their own (``tests/test_optimize.py``).
    max_iter : int, optional
        Iterations of the knot stage (default 300) or of Adam (default 10,000). The L-BFGS stages stop earlier
        when an iteration gains less than 1e-13 (knots) or 1e-14 (polish) of the loss; the message says which,
        and at a cap how much the last 10 iterations still gained. With the refinement levels, more iterations
        change the optimum little (within 2e-4 nats at T = 24,000, ``benchmarks/RESULTS.md``).
    start : ndarray, shape (T,), optional
        Start schedule (default: the best family member under the same law).
    adam_lr : float
        Adam step size, in units of the decrement fractions ``d / (peak - floor)`` times the number of steps.
    max_decrement : float, optional
        Largest LR decrease from one step to the next (monotone L-BFGS only): no cooldown faster than a linear
        decay at that slope, and no drop in one step. ``recommend_schedule`` sets it to the fastest decay the
        fitted runs show when asked to stay within it.
    ensemble : LawEnsemble, optional
        Minimise the mean predicted loss over these parameter sets (:func:`~scalefit.optimize.shape_ensemble`)
        instead of the fit's; the family search too. ``final_loss`` and its interval stay the fit's prediction.

    Returns
    -------
    OptimizedSchedule

    Warns
    -----
    DegenerateOptimumWarning
        For the LR-annealing law ("tissue"): its optimum holds the peak, then drops to the floor at the end.
    IllConditionedWarning
        For an MPL fit whose loss-drop shape (C, beta, gamma) sits at its bounds: its optimum is not trustworthy.
    """
    from scalefit import schedules

    t0 = time.perf_counter()
    T, pk, W = _check(steps, peak, warmup, floor, ceiling, method, max_iter, polish, refine)
    fl = float(floor)
    law_name, values, law_options, fit = _law_of(fit_or_values, law)
    _warn_law(law_name, law_options, fit, monotone, method)
    if n_params is None and fit is not None and fit.context.n_params:
        n_params = float(fit.context.n_params[-1])
    if not monotone and method == "adam":
        raise FitInputError("method 'adam' optimises non-negative decrements (monotone only); use method "
                            "'lbfgsb' with monotone=False.", value=method)
    first = max(W, 1)
    index = parse_objective(objective, T, first)
    if ensemble is not None:
        from scalefit.optimize.ensemble import ensemble_objective

        f = ensemble_objective(ensemble, steps=T, warmup=W, index=index, n_params=n_params)
    else:
        f = make_objective(law_name, values, steps=T, warmup=W, index=index, law_options=law_options,
                           n_params=n_params)
    if max_decrement is not None and not (math.isfinite(float(max_decrement)) and float(max_decrement) > 0):
        raise FitInputError(f"max_decrement must be a finite LR step > 0; got {max_decrement!r}.", value=max_decrement)
    if max_decrement is not None and (method != "lbfgsb" or not monotone):
        raise FitInputError("max_decrement needs the monotone L-BFGS search (method 'lbfgsb', monotone=True).")
    top = pk if ceiling is None else min(pk, float(ceiling))  # start of a monotone decay
    cap = pk if ceiling is None else float(ceiling)  # upper bound of a non-monotone LR
    head = schedules.warmup_ramp(pk, W) if W > 0 else np.array([pk])  # (first,) fixed part
    n = T - first
    low = max(fl, _LOW * pk)  # lowest LR searched (see _LOW)

    def lr_of(eta: np.ndarray) -> np.ndarray:
        return np.concatenate((head, eta))

    family = None
    if start is None:
        family = family_search(f, steps=T, peak=pk, warmup=W, floor=fl)
        starts = [(family.best.spec, family.best.lr)]
        if n_starts > 1:
            rng = np.random.default_rng(seed)
            others = [s for s, _ in family.evaluated if s != family.best.spec]
            for j in rng.choice(len(others), size=min(n_starts - 1, len(others)), replace=False):
                starts.append((others[int(j)], schedules.from_spec(others[int(j)])))
    else:
        st = np.asarray(start, dtype=np.float64)
        if st.shape != (T,):
            raise FitInputError(f"start schedule has shape {st.shape}; expected ({T},).")
        starts = [("given", st)]
    if max_decrement is not None:  # the starts as close as the cap allows
        proj = _Param(n, np.arange(n), monotone=True, start=top, floor=low, ceiling=cap, rate=max_decrement)
        starts = [(spec, np.concatenate((head, proj.eta(proj.from_eta(lr0[first:]))))) for spec, lr0 in starts]
    start_spec, start_lr = starts[0]
    start_value = float(f(start_lr, False)[0])
    evals = 0
    iterations = 0

    def run_lbfgsb(eta0: np.ndarray, pos: np.ndarray, iters: int, tol: float) -> tuple[np.ndarray, _BoxResult]:
        par = _Param(n, pos, monotone=monotone, start=top if monotone else pk, floor=low, ceiling=cap,
                     rate=max_decrement)

        def fun(z: np.ndarray) -> tuple[float, np.ndarray]:
            nonlocal evals
            evals += 1
            loss, g = f(lr_of(par.eta(z)), True)
            return loss, par.grad(z, g)

        res = _lbfgs_box(fun, par.from_eta(eta0), par.lower, par.upper, maxiter=iters, ftol=tol,
                         negligible=NEGLIGIBLE)
        return par.eta(res.x), res

    best_eta, best_val, message, converged = None, np.inf, "", False
    if method == "lbfgsb":
        knot_iters = max_iter or 300  # the knot stage and each refinement level
        for _, lr0 in starts:
            pos = _knots(n, resolution, extra=_bends(lr0[first - 1:], pk) - 1)  # (bends index the peak too)
            eta, res = run_lbfgsb(lr0[first:], pos, knot_iters, 1e-13)
            iterations += res.nit
            msg, ok = f"knots ({pos.size}, {res.nit} iterations): {res.message}", res.success
            for level in range(1, refine + 1):  # finer knots where the solution bends, each level warm-started
                pos = _near_bends(pos, eta, pk, n, level)
                if pos.size >= n:
                    break
                eta_r, res_r = run_lbfgsb(eta, pos, knot_iters, 1e-13)
                iterations += res_r.nit
                if res_r.fun <= res.fun:
                    eta, res = eta_r, res_r
                msg += f"; knots ({pos.size}, {res_r.nit} iterations): {res_r.message}"
            if polish > 0 and pos.size < n:
                eta2, res2 = run_lbfgsb(eta, np.arange(n), polish, 1e-14)
                iterations += res2.nit
                if res2.fun <= res.fun:
                    eta = eta2
                msg += f"; polish ({res2.nit} iterations): {res2.message}"
                ok = bool(res2.success)  # the per-step problem is the one solved: its polish decides
            val = float(f(lr_of(eta), False)[0])
            if val < best_val:
                best_eta, best_val, message, converged = eta, val, msg, ok
    else:
        best_eta, iterations, e_adam = _adam(f, start_lr[first:], lr_of, top=top, floor=low,
                                             iters=max_iter or 10_000, step=adam_lr / n)
        evals += e_adam
        best_val = float(f(lr_of(best_eta), False)[0])
        message, converged = f"Adam, {iterations} iterations (fixed budget)", True
    lr = lr_of(best_eta)
    if monotone:  # exact feasibility after floating-point rounding
        lr[first:] = np.minimum.accumulate(np.clip(lr[first:], fl, top))
    else:
        lr[first:] = np.clip(lr[first:], fl, cap)
    if start_value < float(f(lr, False)[0]):  # never return worse than the start
        lr = np.array(start_lr, dtype=np.float64)
        message += "; the start was better and is returned"
    obj_value = float(f(lr, False)[0])
    lr_min = float(fit.context.lr_min) if fit is not None else 0.0
    low = float(lr[first:].min())
    if lr_min > 0 and low < lr_min / 10 and fl < lr_min / 10:
        warnings.warn(
            f"the optimised schedule goes down to LR {low:.3g}, {lr_min / max(low, 1e-300):.3g}x below the smallest "
            f"LR the fit saw ({lr_min:.3g}); the law's loss drop is extrapolated there and may reward vanishing LRs "
            f"(check exponents at their bounds). Pass --floor {lr_min:.3g} to stay within the fitted range.",
            ExtrapolationWarning, stacklevel=2)
    final_loss, lower, upper = _predict_final(fit, law_name, values, law_options, lr, W, interval, n_params,
                                              "optimized")
    if not final_loss > 0:
        raise ConvergenceError(
            f"law {law_name} predicts a loss of {final_loss:.4g} for the optimised schedule, which no run can reach: "
            f"its optimum is degenerate{' without the monotone constraint' if not monotone else ''}. Optimise with "
            "the default monotone search, a higher --floor, or a law fitted on runs like the target schedule.",
            best=lr)
    return OptimizedSchedule(
        lr=lr, final_loss=final_loss, lower=lower, upper=upper, interval=float(interval), objective=str(objective),
        objective_value=obj_value, start_spec=start_spec, start_value=start_value,
        seconds=time.perf_counter() - t0, iterations=iterations, evaluations=evals, method=method,
        converged=converged, message=message, law=law_name, warmup=W, peak=pk, floor=fl,
        ceiling=None if ceiling is None else float(ceiling), monotone=bool(monotone), family=family,
        under="the fit" if ensemble is None else ensemble.text(),
        max_decrement=None if max_decrement is None else float(max_decrement))
