"""``fit()``: the recipe of a fit, one stage per module of :mod:`scalefit.fitting`."""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import replace
from typing import Any, Mapping, Sequence

import numpy as np

from scalefit.errors import AssumptionWarning, FitInputError, IllConditionedWarning, ParameterAtBoundWarning
from scalefit.fitting import crossval, inputs, priors, search, uncertainty
from scalefit.metrics import RunMetrics, curve_metrics
from scalefit.results import FitResult, thin_curve

#: Default Huber threshold on log-loss residuals (0.1 % of the loss).
DEFAULT_DELTA = 1e-3
#: Default number of deterministic starts of the nonlinear search.
DEFAULT_STARTS = 64
#: How many of the best starts are searched locally.
DEFAULT_LOCAL = 3
#: Observed rows per run above which a run is thinned for the fit (dense 1e6-step logs).
DEFAULT_MAX_POINTS = 5000


def fit(
    runs: Sequence[Any],
    law: str | Any = "mpl",
    *,
    seed: int = 0,
    loss: str = "huber",
    delta: float = DEFAULT_DELTA,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    fixed: Mapping[str, float] | None = None,
    n_starts: int = DEFAULT_STARTS,
    n_local: int = DEFAULT_LOCAL,
    max_nfev: int = 2000,
    max_points: int | None = DEFAULT_MAX_POINTS,
    prior: Mapping[str, float | tuple[float, float]] | None = None,
    errors: str = "ar1",
    law_error: bool = True,
    **law_options: Any,
) -> FitResult:
    """Fit a loss-curve law jointly to several runs (the method: :mod:`scalefit.fitting`, ``docs/fitting.md``).

    Parameters
    ----------
    runs : sequence of Run
        Runs with a known LR from step 0 (``step0 == 0``) and observed losses.
    law : str or law object
        Registered law name (``"mpl"``, ``"tissue"``, ...; :data:`scalefit.laws.LAWS`) or a law instance.
    seed : int
        Seeds the Sobol starts; same inputs and seed give identical results.
    loss : {"huber", "mse"}
        Huber with threshold ``delta`` on log-loss residuals (default), or squared log residuals.
    bounds, fixed : dict, optional
        ``{name: (lower, upper)}`` overrides the law's bounds (bounds for a parameter the law holds fixed, such as
        Tissue's ``lam``, fit it); ``{name: value}`` holds parameters at values.
    n_starts, n_local, max_nfev : int
        Deterministic starts of the nonlinear search, how many of the best are searched locally, and the evaluation
        budget of each local search and of the polish (status MAX_EVALS when the polish hits it).
    max_points : int or None
        Runs with more observed rows are thinned to this many evenly spaced rows for the fit and its in-sample
        metrics (a message says so); None uses every row.
    prior : dict of name to sd or to (centre, sd), optional
        A Gaussian prior on ``log(parameter)`` of nonlinear parameters (``centre`` defaults to the law's
        ``ParamSpec.default``), i.e. the MAP estimate for log residuals of noise scale ``delta``. None: the law's
        default prior (MPL: C, beta, gamma held near 1, 0.5, 0.5); ``{}``: none. The ``objective`` names it.
    errors : {"ar1", "iid"}
        The residual model behind stderr and intervals: ``"ar1"`` widens the covariance by the residuals' measured
        lag-1 autocorrelation, ``"iid"`` assumes independence.
    law_error : bool
        Also measure the law's own error by cross-validation on these runs (:mod:`scalefit.fitting.crossval`), so
        that prediction intervals carry it besides the noise. Costs 2 extra fits, plus one per run when there are
        several; ``fit_seconds`` is the main fit's either way.
    **law_options
        Passed to ``get_law`` (e.g. ``fit_lam=True`` for Tissue).

    Raises
    ------
    FitInputError
        When the data cannot support the fit (one line: which run, what, the fix).
    ConvergenceError
        When no start gives a finite objective (``err.best`` holds the best point found, if any).
    """
    t_start = time.perf_counter()
    # the fold fits of the law error repeat this call with the caller's own options (before defaults resolve)
    fold_kw = dict(seed=seed, loss=loss, delta=delta, bounds=bounds, fixed=fixed, n_starts=n_starts, n_local=n_local,
                   max_nfev=max_nfev, max_points=max_points, prior=prior, errors=errors, law_error=False,
                   **law_options)
    law_arg = law
    law_obj, law_name, law_options = _resolve_law(law, law_options)
    _check_options(loss, errors, delta, n_starts)
    runs = list(runs)
    huber = loss == "huber"
    # ---- the problem: checked runs, thinned rows, bounds, fixed values, prior rows ----
    problem, messages = inputs.build_problem(law_obj, law_name, runs, bounds, fixed, huber, delta, max_points)
    default_prior = prior is None
    if default_prior:
        prior = priors.default_prior(problem, law_name, messages)
    prior_spec = priors.resolve_prior(problem, law_name, prior)
    n_free, n_points = int(problem.free.sum()), int(problem.loss.size)
    if n_points < n_free:
        raise FitInputError(
            f"{n_points} observed loss values across {len(runs)} run(s) cannot determine {n_free} free parameters "
            f"of law {law_name}. Log the loss more often, add runs, or fix parameters."
        )
    thinned = problem  # the search runs on at most SEARCH_POINTS rows per run
    if max(problem.sizes) > search.SEARCH_POINTS:
        thinned, _ = inputs.build_problem(law_obj, law_name, runs, bounds, fixed, huber, delta, search.SEARCH_POINTS,
                                          announce=False)
        thinned.prior_idx, thinned.prior_mu, thinned.prior_w = problem.prior_idx, problem.prior_mu, problem.prior_w
    # ---- search, polish ----
    theta, n_starts_used, n_evals = search.search(problem, thinned, n_starts=n_starts, n_local=n_local, seed=seed,
                                                  max_nfev=max_nfev, law_name=law_name, n_runs=len(runs))
    res, objective_value = search.polish(problem, theta, max_nfev, law_name)
    n_evals += int(res.nfev)
    p_final = problem.full(res.x)
    # ---- status, covariance, notes ----
    status, params, covariance, more, (rho, factor) = uncertainty.assess(problem, p_final, res, law_name, n_starts,
                                                                         errors=errors)
    messages.extend(more)
    for m in more:
        if "the prior holds them" in m:  # a note, not a problem: the prior is there for this
            continue
        cls = ParameterAtBoundWarning if "bound" in m else IllConditionedWarning
        warnings.warn(m, cls, stacklevel=2)
    if default_prior:  # the tool's assumption, so it says when the data disagree
        for m in priors.prior_pulls(problem, p_final, prior_spec, law_name):
            messages.append(m)
            warnings.warn(m, AssumptionWarning, stacklevel=2)
    context = inputs.fit_context(runs)
    for m in _below_floor(problem, p_final, context.irreducible_loss, law_name):
        messages.append(m)
        warnings.warn(m, AssumptionWarning, stacklevel=2)
    # ---- per-run metrics and curves, the result ----
    metrics, curves = _in_sample(problem, runs, p_final, max_points)
    from scalefit import __version__

    objective_text = f"huber(delta={delta:g}) on log loss" if huber else "half squared log-loss residuals"
    if prior_spec:
        objective_text += " + gaussian prior on log " + ", ".join(
            f"{n} (centre {c:g}, sd {sd:g})" for n, (c, sd) in prior_spec.items())
    result = FitResult(
        law=law_name, law_options=law_options, params=params, covariance=covariance, param_order=problem.names,
        status=status, messages=tuple(messages), metrics=metrics, objective=objective_text,
        objective_value=objective_value, n_points=n_points, n_starts=n_starts_used, n_evals=n_evals, seed=seed,
        data_hash=inputs.data_hash(runs), scalefit_version=__version__, fit_seconds=time.perf_counter() - t_start,
        context=context, curves=tuple(curves), errors=errors, residual_rho=rho, variance_factor=factor,
    )
    if not law_error:
        return result
    # ---- the law's own error, by refits on the training runs ----
    law_err, note = crossval.cross_validate(runs, lambda rs: fit(rs, law_arg, **fold_kw))
    if law_err is None:
        warnings.warn(note, AssumptionWarning, stacklevel=2)
    return replace(result, law_error=law_err, messages=result.messages + (note,))


def _resolve_law(law: Any, options: dict[str, Any]) -> tuple[Any, str, dict[str, Any]]:
    """(law object, its name, its options) from a registered name and options, or from a law object."""
    if isinstance(law, str):
        from scalefit.laws import get_law

        try:
            obj = get_law(law, **options)
        except (KeyError, TypeError) as exc:
            raise FitInputError(f"cannot build law {law!r} with options {options}: {exc}") from None
        return obj, law, dict(options)
    return law, str(getattr(law, "name", type(law).__name__)), dict(getattr(law, "options", {}) or {})


def _check_options(loss: str, errors: str, delta: float, n_starts: int) -> None:
    if loss not in ("huber", "mse"):
        raise FitInputError(f"loss must be 'huber' or 'mse', got {loss!r}.")
    if errors not in ("ar1", "iid"):
        raise FitInputError(f"errors must be 'ar1' or 'iid', got {errors!r}. Example: --errors iid")
    if not (delta > 0 and math.isfinite(delta)):
        raise FitInputError(f"delta must be a positive number, got {delta!r}.")
    if n_starts < 1:
        raise FitInputError(f"n_starts must be >= 1, got {n_starts}.")


def _below_floor(problem: Any, p: np.ndarray, floor: float | None, law_name: str) -> list[str]:
    """A message when the fitted L0 lies below the data's known irreducible loss (run metadata)."""
    if floor is None or "L0" not in problem.names:
        return []
    i = problem.names.index("L0")
    value = float(p[i])
    if value >= floor * (1 - 1e-9):  # a fit that stops on a --bounds at the floor is not below it
        return []
    head = (f"fit {law_name}: L0 = {value:.6g} lies below the data's irreducible loss {floor!r} (run "
            "metadata), the floor no model can go below")
    if problem.free[i]:
        return [head + f": the runs do not pin the asymptote. Fix it (--fix L0=...) or bound it "
                f"(--bounds L0={floor!r}:inf) if you trust the floor."]
    return [head + ": you fixed it there; predictions near the asymptote inherit that."]


def _in_sample(problem: Any, runs: Sequence[Any], p: np.ndarray,
               max_points: int | None) -> tuple[dict[str, RunMetrics], list[Any]]:
    """In-sample metrics per run (keyed by unique run labels) and the observed-vs-fitted curves kept for plots."""
    pred = p[problem.lin_idx] @ problem.design(p[problem.nonlin_idx])
    metrics: dict[str, RunMetrics] = {}
    curves = []
    start = 0
    for run, size, label in zip(runs, problem.sizes, inputs.unique_labels([r.path for r in runs])):
        rows = inputs.fit_rows(run, max_points)
        sl = slice(start, start + size)
        start += size
        metrics[label] = curve_metrics(problem.loss[sl], pred[sl])
        curves.append(thin_curve(run.path, run.steps[rows], problem.loss[sl], pred[sl]))
    return metrics, curves
