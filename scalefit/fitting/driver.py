"""``fit()``: the recipe of a fit, one stage per module of :mod:`scalefit.fitting`."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from scalefit.errors import AssumptionWarning, FitInputError
from scalefit.extrapolation import ExtrapolationError
from scalefit.fitting import crossval, extrapolation_folds, inputs, priors, sanity, search, sizes, uncertainty
from scalefit.metrics import RunMetrics, curve_metrics
from scalefit.results import FitResult, FitStatus, Note, thin_curve
from scalefit.results.options import (DEFAULT_DELTA, DEFAULT_LOCAL, DEFAULT_MAX_NFEV, DEFAULT_MAX_POINTS,
                                      DEFAULT_STARTS, FitOptions)



def fit(
    runs: Sequence[Any],
    law: str | Any | None = None,
    *,
    seed: int = 0,
    loss: str = "huber",
    delta: float = DEFAULT_DELTA,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    fixed: Mapping[str, float] | None = None,
    n_starts: int = DEFAULT_STARTS,
    n_local: int = DEFAULT_LOCAL,
    max_nfev: int = DEFAULT_MAX_NFEV,
    max_points: int | None = DEFAULT_MAX_POINTS,
    prior: Mapping[str, float | tuple[float, float]] | None = None,
    errors: str = "ar1",
    law_error: bool = True,
    allow_mixed_sizes: bool = False,
    shape_uncertainty: bool | None = None,
    **law_options: Any,
) -> FitResult:
    """Fit a loss-curve law jointly to several runs (the method: :mod:`scalefit.fitting`, ``docs/fitting.md``).

    Parameters
    ----------
    runs : sequence of Run
        Runs with a known LR from step 0 (``step0 == 0``) and observed losses.
    law : str or law object, optional
        Registered law name (``"mpl"``, ``"tissue"``, ``"mpl-n"``, ...; :data:`scalefit.laws.LAWS`) or a law
        instance. None (default): the data choose (:mod:`scalefit.fitting.sizes`): ``"mpl-n"`` when the runs have
        two or more model sizes (``params`` metadata; a note says so), else ``"mpl"``.
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
    shape_uncertainty : bool or None
        Under the law's default shape prior (MPL's C, beta, gamma; ``prior=None``), refit once under the shapes'
        measured spread and keep that refit, so that intervals carry the shape the prior holds
        (:mod:`scalefit.shape_uncertainty`; the interval part "shape"). None (default): as ``law_error`` (the
        refits that measure a law error need none of their own).
    law_error : bool
        Also measure the law's own error by cross-validation on these runs (:mod:`scalefit.fitting.crossval`), so
        that prediction intervals carry it besides the noise. Costs 2 extra fits, plus one per run when there are
        several; ``fit_seconds`` is the main fit's either way. For a size-aware law it also measures the error at
        another model size (``size_error``): one more fit per size with three or more sizes
        (:func:`~scalefit.fitting.extrapolation_folds.size_folds`), the reference rule with two.
    allow_mixed_sizes : bool
        Let a size-blind law fit runs of several model sizes as one model (an error otherwise; a note says so).
    **law_options
        Passed to ``get_law`` (e.g. ``fit_lam=True`` for Tissue).

    Raises
    ------
    FitInputError
        When the data cannot support the fit (one line: which run, what, the fix): among others, a size-blind law
        on runs of several sizes (without ``allow_mixed_sizes``), a size-aware law on runs of one size (unless
        ``fixed`` sets its size terms) or on runs that do not state their size.
    ConvergenceError
        When no start gives a finite objective (``err.best`` holds the best point found, if any).

    Warns
    -----
    FitFailedWarning
        When the optimum does not describe the runs (mean in-sample R2 < 0, or a fitted loss <= 0 on a run's own
        schedule: :mod:`scalefit.fitting.sanity`); the result's status is then ``FitStatus.FAILED``, it says what
        to try, and no law error is measured.
    """
    t_start = time.perf_counter()
    options = FitOptions(seed=seed, loss=loss, delta=delta, bounds=dict(bounds or {}), fixed=dict(fixed or {}),
                         prior=None if prior is None else dict(prior), errors=errors, n_starts=n_starts,
                         n_local=n_local, max_nfev=max_nfev, max_points=max_points, law_error=law_error,
                         allow_mixed_sizes=allow_mixed_sizes)
    runs = list(runs)
    notes: list[Note] = []
    if law is None:  # the data choose: mpl-n for runs of several model sizes
        law, choice = sizes.choose_law(runs)
        notes += [choice] if choice is not None else []
    caller_law, caller_law_options = law, dict(law_options)  # what the law error's fold fits repeat
    law_obj, law_name, law_options = _resolve_law(law, law_options)
    options.check()
    fitted_sizes = _check_sizes(law_obj, law_name, runs, options, notes)
    # ---- the problem: checked runs, fitted rows, bounds, fixed values, prior rows ----
    problem, problem_notes = _problem(law_obj, law_name, runs, options, options.max_points)
    notes += problem_notes
    _emit(notes, 0)
    done = len(notes)
    prior_spec = priors.default_prior(problem, law_name, notes) if options.prior is None else options.prior
    _emit(notes, done)
    prior_spec = priors.resolve_prior(problem, law_name, prior_spec)
    if fitted_sizes:  # what the size terms rest on: the caller's values, the prior (two sizes) or the data
        notes.append(sizes.size_note(law_obj, law_name, fitted_sizes, options.fixed, prior_spec))
        _emit(notes, len(notes) - 1)
    n_points = _check_enough(problem, runs, law_name)
    thinned = problem  # the starts and local searches see at most SEARCH_POINTS rows per run
    if max(problem.sizes) > search.SEARCH_POINTS:
        thinned, _ = _problem(law_obj, law_name, runs, options, search.SEARCH_POINTS)
        thinned.prior_idx, thinned.prior_mu, thinned.prior_w = problem.prior_idx, problem.prior_mu, problem.prior_w
    # ---- search, polish ----
    theta, n_starts_used, n_evals = search.search(problem, thinned, n_starts=n_starts, n_local=n_local, seed=seed,
                                                  max_nfev=max_nfev, law_name=law_name, n_runs=len(runs))
    res, objective_value = search.polish(problem, theta, max_nfev, law_name)
    n_evals += int(res.nfev)
    p_final = problem.full(res.x)
    # ---- status, covariance, notes ----
    found = uncertainty.assess(problem, p_final, res, law_name, n_starts, errors=errors)
    done = len(notes)
    notes.extend(found.notes)
    if options.prior is None:  # the tool's assumption, so it says when the data disagree
        notes.extend(priors.prior_pulls(problem, p_final, prior_spec, law_name))
    context = inputs.fit_context(runs)
    notes.extend(_below_floor(problem, p_final, context.irreducible_loss, law_name))
    # ---- per-run metrics and curves; whether the law describes the runs at all ----
    metrics, curves = _in_sample(problem, runs, p_final, options.max_points)
    failed = sanity.verdict(law_obj, law_name, problem.names, p_final, runs, metrics)
    notes.extend(failed)
    status = FitStatus.FAILED if any(n.kind == "failed" for n in failed) else found.status
    _emit(notes, done)
    # ---- the result ----
    from scalefit import __version__

    result = FitResult(
        law=law_name, law_options=law_options, params=found.params, covariance=found.covariance,
        param_order=problem.names, status=status, messages=tuple(n.message for n in notes), metrics=metrics,
        objective=_objective_text(problem, delta, prior_spec), objective_value=objective_value, n_points=n_points, n_starts=n_starts_used,
        n_evals=n_evals, seed=seed, data_hash=inputs.data_hash(runs), scalefit_version=__version__,
        fit_seconds=time.perf_counter() - t_start, context=context, curves=tuple(curves), errors=errors,
        residual_rho=found.rho, variance_factor=found.factor, notes=tuple(notes), options=options,
        prior=dict(prior_spec),
    )
    if (law_error if shape_uncertainty is None else shape_uncertainty) and options.prior is None and prior_spec \
            and status is not FitStatus.FAILED:
        result = _with_shape(result, prior_spec, lambda pr: fit(runs, caller_law, **{
            **options.kwargs(law_error=False, prior=pr), **caller_law_options, "shape_uncertainty": False}))
    if not law_error:
        return result
    fold_kw = {**options.kwargs(law_error=False), **caller_law_options}  # the caller's options, repeated
    return _with_law_error(result, runs, fitted_sizes, lambda rs: fit(rs, caller_law, **fold_kw))


def _check_sizes(law_obj: Any, law_name: str, runs: list[Any], options: FitOptions, notes: list[Note]) -> list[float]:
    """The fitted model sizes of a size-aware law (checked: at least two, each stated), else []; a size-blind law on
    runs of several sizes is refused unless the caller allows it (then ``notes`` gets the note)."""
    if runs and getattr(law_obj, "size_aware", False):
        return sizes.check_size_aware(law_obj, law_name, runs, options.fixed)
    if runs:
        mixed = sizes.check_mixed(law_obj, law_name, runs, options.allow_mixed_sizes)
        notes += [mixed] if mixed is not None else []
    return []


def _check_enough(problem: Any, runs: list[Any], law_name: str) -> int:
    """The number of fitted points, or a FitInputError when they are fewer than the free parameters."""
    n_free, n_points = int(problem.free.sum()), int(problem.loss.size)
    if n_points < n_free:
        raise FitInputError(
            f"{n_points} observed loss values across {len(runs)} run(s) cannot determine {n_free} free parameters "
            f"of law {law_name}. Log the loss more often, add runs, or fix parameters.",
            path=runs[0].path if len(runs) == 1 else ", ".join(r.path for r in runs),
        )
    return n_points


def _objective_text(problem: Any, delta: float, prior_spec: Mapping[str, tuple[float, float]]) -> str:
    """What the fit minimised, in words (FitResult.objective)."""
    text = f"huber(delta={delta:g}) on log loss" if problem.huber else "half squared log-loss residuals"
    if prior_spec:
        text += " + gaussian prior on log " + ", ".join(
            f"{n} (centre {c:g}, sd {sd:g})" for n, (c, sd) in prior_spec.items())
    return text


def _with_law_error(result: FitResult, runs: list[Any], fitted_sizes: list[float],
                    refit: Callable[[list], FitResult]) -> FitResult:
    """``result`` with the law's own error (refits on the training runs: :mod:`~scalefit.fitting.crossval`) and, for
    a size-aware law, its error at another model size; a FAILED fit gets a note instead (its folds measure nothing)."""
    if result.status is FitStatus.FAILED:
        note = Note("law_error", f"law error not measured: the fit of {result.law} FAILED.", None, {"failed": True})
        return replace(result, messages=result.messages + (note.message,), notes=result.notes + (note,))
    law_err, note = crossval.cross_validate(runs, refit)
    _emit([note], 0)
    added = [note]
    size_err = None
    if fitted_sizes:  # size folds with >= 3 sizes, the reference rule below
        size_err, size_note = _size_error(runs, fitted_sizes, refit)
        _emit([size_note], 0)
        added.append(size_note)
    return replace(result, law_error=law_err, size_error=size_err,
                   messages=result.messages + tuple(n.message for n in added), notes=result.notes + tuple(added))


def _with_shape(result: FitResult, prior_spec: dict, refit: Callable[[dict], FitResult]) -> FitResult:
    """``result`` with its refit under the shapes' measured spread, and the note saying the prior's pull."""
    from scalefit import shape_uncertainty

    shape, note = shape_uncertainty.measure(result, prior_spec, refit)
    if note is None:
        return result
    _emit([note], 0)
    return replace(result, shape_uncertainty=shape, messages=result.messages + (note.message,),
                   notes=result.notes + (note,))


def _size_error(runs: list[Any], fitted_sizes: list[float], fit_one: Callable[[list], FitResult]) -> tuple[Any, Note]:
    """The fit's error at another model size (:mod:`scalefit.extrapolation`) and the note that says what it is."""
    if len(fitted_sizes) < 3:
        n = len(fitted_sizes)
        err = ExtrapolationError.reference("size", f"{n} model size{'' if n == 1 else 's'}: size folds need three")
        warning = None  # the size note has already warned that the prior sets the extrapolation
    else:
        err = extrapolation_folds.size_folds(runs, fit_one)
        warning = None if err.measured else AssumptionWarning
    data = {"measured": err.measured, "scale": err.scale, "folds": err.dof, "skipped": list(err.skipped)}
    return err, Note("size_error", err.text(), warning, data)


def fit_one_for(law: str | Any, **fit_kw: Any) -> Callable[[list], FitResult]:
    """A ``fit_one(runs)`` for fold refits (:mod:`~scalefit.fitting.extrapolation_folds`, forecasts): :func:`fit`
    with ``fit_kw`` and no law error (the law's default prior applies unless ``fit_kw`` gives one)."""

    def fit_one(runs: list) -> FitResult:
        return fit(runs, law, **{**fit_kw, "law_error": False})

    return fit_one


def _problem(law: Any, law_name: str, runs: list[Any], options: FitOptions, max_points: int | None) -> Any:
    """The fit problem on at most ``max_points`` rows per run, and its notes."""
    return inputs.build_problem(law, law_name, runs, options.bounds, options.fixed, options.loss == "huber",
                                options.delta, max_points)


def _emit(notes: Sequence[Note], start: int) -> None:
    """Warn the notes from ``start`` on (those that carry a warning class), pointing at ``fit``'s caller."""
    for note in notes[start:]:
        note.emit(stacklevel=3)


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


def _below_floor(problem: Any, p: np.ndarray, floor: float | None, law_name: str) -> list[Note]:
    """A note when the fitted L0 lies below the data's known irreducible loss (run metadata)."""
    if floor is None or "L0" not in problem.names:
        return []
    i = problem.names.index("L0")
    value = float(p[i])
    if value >= floor * (1 - 1e-9):  # a fit that stops on a --bounds at the floor is not below it
        return []
    head = (f"fit {law_name}: L0 = {value:.6g} lies below the data's irreducible loss {floor!r} (run "
            "metadata), the floor no model can go below")
    if problem.free[i]:
        text = (head + f": the runs do not pin the asymptote. Fix it (--fix L0=...) or bound it "
                f"(--bounds L0={floor!r}:inf) if you trust the floor.")
    else:
        text = head + ": you fixed it there; predictions near the asymptote inherit that."
    return [Note("below_floor", text, AssumptionWarning, {"L0": value, "floor": floor, "fixed": not problem.free[i]})]


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
