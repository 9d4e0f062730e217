"""The result of a fit, and what it answers: predictions with intervals, a report, a plot and JSON.

One result object per question (lmfit's ``ModelResult``, iminuit's ``FMin``): :class:`FitResult` is frozen, is
built only by :func:`scalefit.fitting.fit` (or read back with :meth:`FitResult.from_json`), and is never a tuple.

* :class:`FitStatus` says what happened as data (CONVERGED, AT_BOUND, NO_COVARIANCE, MAX_EVALS);
  :attr:`ParamEstimate.at_bound` is scipy's ``active_mask`` per parameter.
* :meth:`FitResult.predict` gives a :class:`Prediction` (loss curve plus interval) for any schedule.
  The interval reflects the *parameter* uncertainty only (the band of the mean curve, like lmfit's
  ``eval_uncertainty``), by the delta method: ``var Lhat(t) = g(t)^T Cov g(t)`` with ``g`` the exact gradient
  of the prediction with respect to the parameters (analytic from the law's design matrix and its Jacobian),
  and a normal quantile. It is deterministic (no sampling) and costs one evaluation of the law. Residual
  noise of a single run is *not* added: measured curves scatter around the band by about the fit's RMSE.
  That band is what the noise allows, not the law's own error on an unseen schedule. A fit made with
  ``law_error=True`` also carries that error, measured by cross-validation on its training runs
  (:mod:`scalefit.law_error`), and its intervals add it in quadrature with a Student t quantile.
* :meth:`FitResult.report` prints iminuit-style status lines, a parameter table with values rounded to their
  error (PDG rules, :func:`pdg_round`), and metrics per run; golden files in ``tests/golden/`` pin it.
* :meth:`FitResult.to_json` / :meth:`FitResult.from_json` use ``"schema": "scalefit.fit/1"`` and store the law
  by *name* and options, never code.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from scalefit.errors import AssumptionWarning, ExtrapolationWarning, FitInputError, ResultFileError
from scalefit.law_error import LawError
from scalefit.metrics import METRIC_NAMES, RunMetrics, mean_metrics

SCHEMA = "scalefit.fit/1"
EVAL_SCHEMA = "scalefit.evaluation/1"

#: Prediction interval methods, and what each carries in words (reports and CLI headers).
INTERVAL_METHODS = {
    "covariance": "parameter covariance",
    "covariance+cv": "parameter covariance + cross-validated law error",
    "cv": "cross-validated law error only (no parameter covariance)",
}

#: A prediction is marked extrapolated beyond these multiples of the fitted range (steps, S1 = sum of LR, peak LR).
EXTRAPOLATION_FACTOR = {"steps": 2.0, "s1": 2.0, "lr": 1.5}


class FitStatus(str, enum.Enum):
    """What a fit ended with. Test it in an ``if``; the report prints it.

    CONVERGED: the optimiser met its tolerance, no parameter on a bound, covariance available.
    AT_BOUND: some parameter sits on a bound; its stderr is unreliable (it is a constraint, not an estimate).
    NO_COVARIANCE: the Jacobian at the optimum is singular; parameters are not separately determined.
    MAX_EVALS: the polish ran out of function evaluations before meeting its tolerance.

    When several apply, the most severe is reported (MAX_EVALS > NO_COVARIANCE > AT_BOUND); ``messages`` lists all.
    """

    CONVERGED = "CONVERGED"
    AT_BOUND = "AT_BOUND"
    NO_COVARIANCE = "NO_COVARIANCE"
    MAX_EVALS = "MAX_EVALS"


@dataclass(frozen=True)
class ParamEstimate:
    """One fitted parameter.

    Attributes
    ----------
    value, stderr : float
        Estimate and its standard error (NaN when there is no covariance; 0 for a fixed parameter).
    lower, upper : float
        The bounds the fit used.
    at_bound : int
        -1 on the lower bound, +1 on the upper, 0 inside (scipy's ``active_mask``).
    linear : bool
        Solved by variable projection (an amplitude) rather than searched.
    fixed : bool
        Held at ``value``, not fitted.
    """

    value: float
    stderr: float
    lower: float
    upper: float
    at_bound: int = 0
    linear: bool = False
    fixed: bool = False

    @property
    def rel_stderr(self) -> float:
        """``stderr / |value|`` (inf when the value is 0)."""
        return self.stderr / abs(self.value) if self.value != 0 else math.inf


@dataclass(frozen=True)
class FitContext:
    """The range of the data a fit saw: what predictions default to and what marks an extrapolation.

    Attributes
    ----------
    max_step : int
        Largest step observed (the last loss row of the longest run).
    max_s1 : float
        Largest ``S1 = sum(lr)`` over the fitted runs, up to their last observed step (LR * steps).
    lr_max, lr_min : float
        Largest learning rate in any run, and smallest positive one after warmup.
    warmup : int
        Warmup steps of the fitted runs (the largest, if they differ).
    n_params : tuple of float
        Model sizes (``params`` metadata) of the fitted runs, when known.
    total_steps : tuple of int
        Schedule length of each fitted run (``step0 + len(lr)``).
    irreducible_loss : float or None
        The data's known loss floor (the ``irreducible_loss`` metadata ``scalefit train`` records for its synthetic
        source, the smallest over the runs), when every fitted run states one. No model reaches it, so a
        prediction below it is an artefact of the law, and :meth:`FitResult.predict` says so.
    """

    max_step: int
    max_s1: float
    lr_max: float
    lr_min: float
    warmup: int
    n_params: tuple[float, ...] = ()
    total_steps: tuple[int, ...] = ()
    irreducible_loss: float | None = None


@dataclass(frozen=True)
class Curve:
    """Observed and fitted loss of one run at its observed steps (kept for plots; at most ``MAX_CURVE_POINTS``)."""

    path: str
    steps: np.ndarray  # (m,) int64
    loss: np.ndarray  # (m,) observed loss
    fitted: np.ndarray  # (m,) law at the fitted parameters

    @property
    def name(self) -> str:
        return Path(self.path).stem


#: Curves saved in a result are thinned to this many evenly spaced points per run (plots only; metrics use all).
MAX_CURVE_POINTS = 2000


@dataclass(frozen=True)
class Prediction:
    """A predicted loss curve with its interval.

    Attributes
    ----------
    steps : ndarray of int64, shape (M,)
        Optimizer steps of the prediction.
    loss, lower, upper : ndarray of float64, shape (M,)
        Predicted loss (nats per token) and the central ``interval`` band from the parameter uncertainty.
    interval : float
        Nominal coverage of ``lower..upper`` (e.g. 0.9).
    method : str
        ``"covariance"`` (delta method on the parameter covariance; see the module docstring),
        ``"covariance+cv"`` (plus the law's cross-validated error, :mod:`scalefit.law_error`), or ``"cv"`` (the law
        error alone, when the fit has no covariance; a warning says so).
    extrapolated : bool
        True when the schedule lies far outside the fitted range; ``reason`` says how.
    label : str
        The schedule as the user named it (spec, file or run).
    lr : ndarray of float64, shape (T,), optional
        The per-step LR the prediction was made for (``lr[i]`` is the LR of step ``lr_step0 + i``), for plots.
    warmup : int
        Warmup steps at the start of ``lr``; the laws describe the loss after it.
    lr_step0 : int
        Step of ``lr[0]``.
    """

    steps: np.ndarray
    loss: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    interval: float
    method: str
    extrapolated: bool = False
    reason: str = ""
    label: str = ""
    lr: np.ndarray | None = None
    warmup: int = 0
    lr_step0: int = 0

    @property
    def final_loss(self) -> float:
        """Predicted loss at the last step."""
        return float(self.loss[-1])

    def summary(self) -> dict[str, Any]:
        """Plain dict: the label, final loss with its interval, and the extrapolation mark."""
        return {
            "schedule": self.label,
            "final_step": int(self.steps[-1]),
            "final_loss": self.final_loss,
            "lower": float(self.lower[-1]),
            "upper": float(self.upper[-1]),
            "interval": self.interval,
            "method": self.method,
            "extrapolated": self.extrapolated,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class FitResult:
    """A fitted loss-curve law: parameters with uncertainties, status, metrics per run, provenance.

    Build it with :func:`scalefit.fit`; read it back with :meth:`from_json`.

    Attributes
    ----------
    law : str
        Registered law name (``"mpl"``, ``"tissue"``, ...); ``law_options`` are the keyword options it was built with.
    params : dict of str to ParamEstimate
        In ``param_order`` (the law's declaration order).
    covariance : ndarray, shape (P, P), or None
        Over ``param_order``; rows and columns of fixed parameters are 0. None when singular (NO_COVARIANCE).
    status : FitStatus
    messages : tuple of str
        Every warning and repair of the fit, in words.
    metrics : dict of str to RunMetrics
        In-sample metrics per run path.
    objective : str
        The objective in words, e.g. ``"huber(delta=0.001) on log loss"``; ``objective_value`` its minimum.
    n_points, n_starts, seed : int
    data_hash : str
        sha256 over each run's steps, lr and loss arrays (float64/int64 bytes, in run order).
    context : FitContext
        The fitted range (defaults for predictions, extrapolation marks).
    curves : tuple of Curve
        Observed vs fitted loss per run, for plots.
    errors : {"ar1", "iid"}
        The residual model behind the covariance: ``"ar1"`` scales it by ``(1 + rho) / (1 - rho)`` with
        ``residual_rho`` the residuals' lag-1 autocorrelation (see :mod:`scalefit.fitting`), times a small
        correction of the residual variance; ``variance_factor`` is the product applied; ``"iid"`` assumes
        independent residuals (results written before the option existed read back as ``"iid"``).
    law_error : LawError or None
        The law's own error, cross-validated on the training runs (``fit(..., law_error=True)``,
        :mod:`scalefit.law_error`); when present, prediction intervals add it to the covariance band.
    """

    law: str
    params: dict[str, ParamEstimate]
    covariance: np.ndarray | None
    param_order: tuple[str, ...]
    status: FitStatus
    messages: tuple[str, ...]
    metrics: dict[str, RunMetrics]
    objective: str
    objective_value: float
    n_points: int
    n_starts: int
    seed: int
    data_hash: str
    scalefit_version: str
    fit_seconds: float
    context: FitContext
    law_options: dict[str, Any] = field(default_factory=dict)
    curves: tuple[Curve, ...] = ()
    n_evals: int = 0
    errors: str = "iid"
    residual_rho: float | None = None
    variance_factor: float | None = None
    law_error: LawError | None = None

    # ---- views ----
    @property
    def values(self) -> dict[str, float]:
        """``{name: value}`` in ``param_order``."""
        return {name: self.params[name].value for name in self.param_order}

    @property
    def is_valid(self) -> bool:
        """True unless the polish ran out of evaluations."""
        return self.status is not FitStatus.MAX_EVALS

    @property
    def has_covariance(self) -> bool:
        return self.covariance is not None

    @property
    def interval_method(self) -> str:
        """What :meth:`predict`'s intervals carry by default: ``"covariance+cv"`` with a measured law error and a
        covariance, ``"cv"`` with the law error only, ``"covariance"`` without a law error."""
        if self.law_error is None:
            return "covariance"
        return "cv" if self.covariance is None else "covariance+cv"

    @property
    def has_parameters_at_bound(self) -> bool:
        return any(p.at_bound != 0 for p in self.params.values() if not p.fixed)

    @property
    def correlation(self) -> np.ndarray | None:
        """Correlation matrix over ``param_order`` (None without covariance; fixed parameters give 0 rows)."""
        if self.covariance is None:
            return None
        sd = np.sqrt(np.clip(np.diag(self.covariance), 0.0, None))
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = self.covariance / np.outer(sd, sd)
        corr[~np.isfinite(corr)] = 0.0
        np.fill_diagonal(corr, np.where(sd > 0, 1.0, 0.0))
        return corr

    @property
    def mean_metrics(self) -> dict[str, float]:
        """In-sample metrics averaged over runs (the MPL paper's convention)."""
        return mean_metrics(self.metrics.values())

    def lmfit_params(self) -> Any:
        """The parameters as ``lmfit.Parameters`` (value, bounds, vary, stderr, correlations)."""
        import lmfit

        out = lmfit.Parameters()
        for name in self.param_order:
            p = self.params[name]
            out.add(name, value=p.value, min=p.lower, max=p.upper, vary=not p.fixed)
            out[name].stderr = None if not math.isfinite(p.stderr) else p.stderr
        corr = self.correlation
        if corr is not None:
            for i, a in enumerate(self.param_order):
                if self.params[a].fixed:
                    continue
                out[a].correl = {
                    b: float(corr[i, j])
                    for j, b in enumerate(self.param_order)
                    if b != a and not self.params[b].fixed
                }
        return out

    def get_law(self) -> Any:
        """The law object this result was fitted with (rebuilt from its name and options)."""
        from scalefit.laws import get_law

        return get_law(self.law, **self.law_options)

    # ---- prediction ----
    def predict(
        self,
        schedule: Any,
        *,
        warmup: int | None = None,
        interval: float = 0.9,
        method: str = "auto",
        n_params: float | None = None,
        at: np.ndarray | None = None,
        label: str | None = None,
    ) -> Prediction:
        """Predict the loss curve of a schedule, with an interval from the parameter covariance.

        Parameters
        ----------
        schedule : ndarray, str or Run
            A per-step LR array (``lr[i]`` is the LR of step ``i``), a schedule spec such as
            ``"cosine:peak=3e-4,total=24000,warmup=2160"`` (``peak``, ``total`` and ``warmup`` default to the
            fitted runs'), or a :class:`~scalefit.runs.Run` (its LR and observed steps).
        warmup : int, optional
            Warmup steps at the start of the array; default: the spec's, the run's, or the fitted runs'.
        interval : float
            Nominal coverage of the band (0 < interval < 1).
        method : {"auto", "covariance", "covariance+cv", "cv"}
            ``"covariance"``: the delta-method band of the parameter covariance only (what the noise allows).
            ``"covariance+cv"``: that band plus the law's own error measured by cross-validation on the training
            runs (``law_error``), added in quadrature, with a Student t quantile (Welch-Satterthwaite degrees of
            freedom). ``"cv"``: the law error alone. ``"auto"`` (default): :attr:`interval_method` (``"cv"`` when
            the fit has a law error but no covariance, with a warning).
        n_params : float, optional
            Model size, for laws that use it (``tissue-n``); default: the run's metadata or the fitted size.
        at : ndarray of int, optional
            Indices into the LR array to predict at; default every step.

        Returns
        -------
        Prediction
            Curve, interval and an extrapolation mark; an :class:`~scalefit.errors.ExtrapolationWarning` is
            emitted when the schedule lies beyond ``EXTRAPOLATION_FACTOR`` times the fitted range.
        """
        import warnings

        from scalefit.laws.base import prediction_with_gradient

        if not 0.0 < interval < 1.0:
            raise FitInputError(f"interval must lie in (0, 1), got {interval}. Example: --interval 0.9")
        requested = method
        if method == "auto":
            method = self.interval_method
        if method not in INTERVAL_METHODS:
            raise FitInputError(f"unknown interval method {method!r}; use 'auto', "
                                + ", ".join(repr(m) for m in INTERVAL_METHODS) + ".")
        if method in ("covariance+cv", "cv") and self.law_error is None:
            raise FitInputError("this fit has no measured law error: refit with law_error=True (CLI: scalefit fit "
                                "--law-error), or use method='covariance'.")
        lr, warmup, at, n_params, step0, label = self._resolve_schedule(schedule, warmup, at, n_params, label)
        law = self.get_law()
        values = np.array([self.params[n].value for n in self.param_order])
        fd = [n for n in self.param_order if not self.params[n].fixed and math.isfinite(self.params[n].stderr)]
        pred, grad = prediction_with_gradient(law, self.param_order, values, lr, warmup, at, n_params, fd)
        # grad: (P, M); variance of the mean curve by the delta method
        if self.covariance is not None:
            var = np.einsum("pm,pq,qm->m", grad, self.covariance, grad)
            sd = np.sqrt(np.clip(var, 0.0, None))
        else:
            sd = np.full(pred.shape, np.nan)
        from scipy.stats import norm

        z: Any = float(norm.ppf(0.5 + interval / 2.0))
        if method != "covariance" and self.covariance is None and requested != "cv":
            warnings.warn(
                f"prediction for {label}: no parameter covariance (status {self.status.value}), so the interval "
                "carries the cross-validated law error only.",
                AssumptionWarning,
                stacklevel=2,
            )
            method = "cv"
        if method in ("covariance+cv", "cv"):
            law_sd = self.law_error.relative_sd(np.asarray(at) + step0, self.context.max_step) * np.abs(pred)
            if method == "cv":
                sd = np.zeros_like(pred)
            # Welch-Satterthwaite can narrow the band when a known part joins the estimated one; never let the sum
            # be narrower than either part alone
            law_q = self.law_error.quantile(interval)
            total = np.sqrt(sd ** 2 + law_sd ** 2)
            half = np.maximum.reduce([self.law_error.quantile(interval, sd, law_sd) * total, law_q * law_sd, z * sd])
            z, sd = 1.0, half
        extrapolated, reason = self._extrapolation(lr, at, n_params)
        if extrapolated:
            if method == "covariance":
                tail = "so the interval understates the error"
            elif "peak LR" in reason or "model size" in reason:
                tail = ("and the law error was measured at the fitted peak LRs and model sizes only, so the interval "
                        "understates the error")
            else:
                far = max(f.horizon for f in self.law_error.folds)
                tail = (f"the law error was measured up to {far:.2g}x the fitted steps, so the interval beyond that "
                        "rests on its assumed growth")
            warnings.warn(
                f"prediction for {label} extrapolates: {reason}; the law's fit did not see this range, {tail}.",
                ExtrapolationWarning,
                stacklevel=2,
            )
        floor = self.context.irreducible_loss
        if floor is not None and np.any(pred < floor):
            i = int(np.nanargmin(pred))
            below = f"{float(pred[i]):.6g} at step {int(at[i]) + step0} is below the data's irreducible loss {floor!r}"
            extrapolated, reason = True, "; ".join(r for r in (reason, below) if r)
            warnings.warn(
                f"prediction for {label} falls below the data's irreducible loss {floor!r} (run metadata): "
                f"{float(pred[i]):.6g} at step {int(at[i]) + step0}. No model can go below that floor; the law is "
                "extrapolating past what it can describe.",
                ExtrapolationWarning,
                stacklevel=2,
            )
        return Prediction(
            steps=(np.asarray(at, dtype=np.int64) + step0),
            loss=pred,
            lower=pred - z * sd,
            upper=pred + z * sd,
            interval=float(interval),
            method=method,
            extrapolated=extrapolated,
            reason=reason,
            label=label,
            lr=lr,
            warmup=int(warmup),
            lr_step0=int(step0),
        )

    def _resolve_schedule(
        self, schedule: Any, warmup: int | None, at: Any, n_params: float | None, label: str | None
    ) -> tuple[np.ndarray, int, np.ndarray, float | None, int, str]:
        from scalefit.runs import Run

        step0 = 0
        if isinstance(schedule, Run):
            lr = np.asarray(schedule.lr, dtype=np.float64)
            warmup = schedule.warmup if warmup is None else warmup
            at = schedule.index[schedule.after_warmup] if at is None else at
            if n_params is None and schedule.meta.get("params") is not None:
                n_params = float(schedule.meta["params"])
            step0 = int(schedule.step0)
            label = label or schedule.path
        elif isinstance(schedule, str):
            lr, spec_warmup = self.schedule_from_spec(schedule)
            warmup = spec_warmup if warmup is None else warmup
            label = label or schedule
        else:
            lr = np.asarray(schedule, dtype=np.float64)
            if lr.ndim != 1 or lr.size == 0:
                raise FitInputError(f"a schedule must be a 1-D array of per-step LRs, got shape {lr.shape}.")
            if warmup is None:
                from scalefit.schedules import detect_warmup

                warmup = int(detect_warmup(lr))
            label = label or f"schedule of {lr.size} steps"
        if not np.all(np.isfinite(lr)) or np.any(lr < 0):
            raise FitInputError(f"{label}: learning rates must be finite and >= 0.")
        at = np.arange(lr.size) if at is None else np.asarray(at, dtype=np.int64)
        if n_params is None and self.context.n_params:
            n_params = float(self.context.n_params[-1])
        return lr, int(warmup), at, n_params, step0, label

    def schedule_from_spec(
        self, spec: str, *, peak: float | None = None, total: int | None = None, warmup: int | None = None
    ) -> tuple[np.ndarray, int]:
        """The LR array of a spec and its warmup; ``peak``/``total``/``warmup`` default to the fitted runs'.

        Keys given in the spec win over these defaults; a ``file:`` spec's warmup is detected from its LR.
        """
        from scalefit import schedules

        ctx = self.context
        parsed = schedules.parse_spec(spec)
        has_warmup_key = "warmup" in schedules.SCHEDULES[parsed.name].keys
        default_warmup = ctx.warmup if warmup is None else warmup
        lr = np.asarray(
            schedules.from_spec(
                parsed,
                peak=ctx.lr_max if peak is None else peak,
                total=(max(ctx.total_steps) if ctx.total_steps else ctx.max_step + 1) if total is None else total,
                warmup=default_warmup,
            ),
            dtype=np.float64,
        )
        if "warmup" in parsed.params:
            w = int(parsed.params["warmup"])
        elif has_warmup_key:
            w = int(default_warmup)
        else:
            w = int(schedules.detect_warmup(lr)) if warmup is None else int(warmup)
        return lr, w

    def _extrapolation(self, lr: np.ndarray, at: np.ndarray, n_params: float | None) -> tuple[bool, str]:
        ctx = self.context
        reasons = []
        last = int(at[-1]) if len(at) else lr.size - 1
        s1 = float(lr[: last + 1].sum())
        f = EXTRAPOLATION_FACTOR
        if last + 1 > f["steps"] * (ctx.max_step + 1):
            reasons.append(f"{last + 1} steps > {f['steps']:g}x the fitted {ctx.max_step + 1}")
        if ctx.max_s1 > 0 and s1 > f["s1"] * ctx.max_s1:
            reasons.append(f"S1 = {s1:.4g} > {f['s1']:g}x the fitted {ctx.max_s1:.4g}")
        if ctx.lr_max > 0 and float(lr.max()) > f["lr"] * ctx.lr_max:
            reasons.append(f"peak LR {float(lr.max()):.3g} > {f['lr']:g}x the fitted {ctx.lr_max:.3g}")
        if n_params is not None and ctx.n_params:
            lo, hi = min(ctx.n_params), max(ctx.n_params)
            if n_params > 2 * hi or n_params < lo / 2:
                reasons.append(f"model size {n_params:.3g} outside 0.5x..2x the fitted {lo:.3g}..{hi:.3g}")
        return bool(reasons), "; ".join(reasons)

    # ---- report ----
    def errors_text(self) -> str:
        """The residual model behind the stderr and intervals, in words."""
        if self.errors == "ar1" and self.residual_rho is not None:
            rho = self.residual_rho
            factor = self.variance_factor if self.variance_factor is not None else (1 + rho) / (1 - rho)
            return (f"AR(1) residuals, lag-1 autocorrelation {rho:.2f} (variances x{factor:.2g} over independent "
                    "ones)")
        return "independent residuals (--errors iid)"

    def report(self) -> str:
        """iminuit-style status lines, the parameter table (PDG rounding), metrics per run, and messages."""
        lines = []
        opts = ", ".join(f"{k}={v}" for k, v in self.law_options.items())
        law = self.law + (f" ({opts})" if opts else "")
        n_runs = len(self.metrics)
        lines.append(
            f"Fit of law {law} to {n_runs} run{'s' if n_runs != 1 else ''}, {self.n_points} points: "
            f"{self.status.value}"
        )
        bound_names = [n for n in self.param_order if self.params[n].at_bound and not self.params[n].fixed]
        lines.append(
            "  "
            + " | ".join(
                [
                    "valid minimum" if self.is_valid else "INVALID minimum (max evaluations)",
                    "no parameter at bound" if not bound_names else "AT BOUND: " + ", ".join(bound_names),
                    "covariance ok" if self.has_covariance else "NO covariance",
                ]
            )
        )
        lines.append(
            f"  objective {self.objective} = {self.objective_value:.6g} | starts {self.n_starts} (seed {self.seed})"
            f" | evaluations {self.n_evals} | {self.fit_seconds:.2f} s"
        )
        lines.append(f"  stderr: {self.errors_text()}")
        if self.law_error is not None:
            lines.append(f"  law error: {self.law_error.text()}")
        lines.append("")
        header = f"  {'name':<8} {'value':>12} {'stderr':>10} {'lower':>9} {'upper':>9}  note"
        lines.append(header)
        for name in self.param_order:
            p = self.params[name]
            if p.fixed:
                v, e = f"{p.value:.6g}", "fixed"
            else:
                v, e = pdg_round(p.value, p.stderr)
            notes = []
            if p.linear:
                notes.append("linear")
            if p.at_bound == -1:
                notes.append("AT LOWER BOUND")
            elif p.at_bound == 1:
                notes.append("AT UPPER BOUND")
            lines.append(
                f"  {name:<8} {v:>12} {e:>10} {_fmt_bound(p.lower):>9} {_fmt_bound(p.upper):>9}  "
                + ", ".join(notes)
            )
            lines[-1] = lines[-1].rstrip()
        lines.append("")
        lines.extend(metrics_table(self.metrics, title="in-sample"))
        if self.messages:
            lines.append("")
            lines.extend(f"  note: {m}" for m in self.messages)
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.report()

    def _repr_html_(self) -> str:
        import html

        return "<pre>" + html.escape(self.report()) + "</pre>"

    # ---- plain dict / JSON ----
    def summary(self) -> dict[str, Any]:
        """Everything but the covariance and curves, as plain Python types (lmfit's ``summary()``)."""
        return {
            "law": self.law,
            "law_options": dict(self.law_options),
            "status": self.status.value,
            "params": {
                name: {
                    "value": p.value,
                    "stderr": p.stderr,
                    "lower": p.lower,
                    "upper": p.upper,
                    "at_bound": p.at_bound,
                    "linear": p.linear,
                    "fixed": p.fixed,
                }
                for name, p in ((n, self.params[n]) for n in self.param_order)
            },
            "param_order": list(self.param_order),
            "messages": list(self.messages),
            "metrics": {path: m.as_dict() for path, m in self.metrics.items()},
            "mean_metrics": self.mean_metrics,
            "objective": self.objective,
            "objective_value": self.objective_value,
            "n_points": self.n_points,
            "n_starts": self.n_starts,
            "n_evals": self.n_evals,
            "seed": self.seed,
            "data_hash": self.data_hash,
            "scalefit_version": self.scalefit_version,
            "fit_seconds": self.fit_seconds,
            "errors": self.errors,
            "residual_rho": self.residual_rho,
            "variance_factor": self.variance_factor,
            "law_error": None if self.law_error is None else self.law_error.to_dict(),
            "context": {
                "max_step": self.context.max_step,
                "max_s1": self.context.max_s1,
                "lr_max": self.context.lr_max,
                "lr_min": self.context.lr_min,
                "warmup": self.context.warmup,
                "n_params": list(self.context.n_params),
                "total_steps": list(self.context.total_steps),
                "irreducible_loss": self.context.irreducible_loss,
            },
        }

    def to_json(self, path: str | Path) -> Path:
        """Write the result as ``"schema": "scalefit.fit/1"`` JSON (atomic); :meth:`from_json` reads it back."""
        from scalefit.jsonio import write_json

        obj = {"schema": SCHEMA, **self.summary()}
        obj["covariance"] = None if self.covariance is None else _finite_or_str(self.covariance)
        obj["curves"] = [
            {"path": c.path, "steps": c.steps, "loss": c.loss, "fitted": c.fitted} for c in self.curves
        ]
        for p in obj["params"].values():  # JSON has no inf: bounds become strings
            for key in ("lower", "upper", "stderr"):
                p[key] = _float_to_json(p[key])
        return write_json(path, obj)

    @classmethod
    def from_json(cls, path: str | Path) -> FitResult:
        """Read a result written by :meth:`to_json`; raises ResultFileError on a wrong or damaged file."""
        from scalefit.jsonio import read_json

        data = read_json(path, schema="scalefit.fit")
        version = str(data["schema"]).split("/")[-1]
        if version != "1":
            raise ResultFileError(
                f"schema version {version} is newer than this scalefit understands (1). Upgrade scalefit.",
                path=str(path),
            )
        try:
            order = tuple(data["param_order"])
            params = {
                name: ParamEstimate(
                    value=float(p["value"]),
                    stderr=_float_from_json(p["stderr"]),
                    lower=_float_from_json(p["lower"]),
                    upper=_float_from_json(p["upper"]),
                    at_bound=int(p["at_bound"]),
                    linear=bool(p["linear"]),
                    fixed=bool(p["fixed"]),
                )
                for name, p in ((n, data["params"][n]) for n in order)
            }
            cov = data.get("covariance")
            covariance = None if cov is None else np.array(
                [[_float_from_json(x) for x in row] for row in cov], dtype=np.float64
            )
            ctx = data["context"]
            context = FitContext(
                max_step=int(ctx["max_step"]),
                max_s1=float(ctx["max_s1"]),
                lr_max=float(ctx["lr_max"]),
                lr_min=float(ctx["lr_min"]),
                warmup=int(ctx["warmup"]),
                n_params=tuple(float(x) for x in ctx.get("n_params", ())),
                total_steps=tuple(int(x) for x in ctx.get("total_steps", ())),
                irreducible_loss=None if ctx.get("irreducible_loss") is None else float(ctx["irreducible_loss"]),
            )
            metrics = {
                k: RunMetrics(**{f: (int(v[f]) if f == "n" else _float_from_json(v[f])) for f in v})
                for k, v in data["metrics"].items()
            }
            curves = tuple(
                Curve(
                    path=c["path"],
                    steps=np.asarray(c["steps"], dtype=np.int64),
                    loss=np.asarray([_float_from_json(x) for x in c["loss"]], dtype=np.float64),
                    fitted=np.asarray([_float_from_json(x) for x in c["fitted"]], dtype=np.float64),
                )
                for c in data.get("curves", [])
            )
            return cls(
                law=str(data["law"]),
                law_options=dict(data.get("law_options", {})),
                params=params,
                covariance=covariance,
                param_order=order,
                status=FitStatus(data["status"]),
                messages=tuple(data.get("messages", ())),
                metrics=metrics,
                objective=str(data["objective"]),
                objective_value=_float_from_json(data["objective_value"]),
                n_points=int(data["n_points"]),
                n_starts=int(data["n_starts"]),
                n_evals=int(data.get("n_evals", 0)),
                seed=int(data["seed"]),
                data_hash=str(data["data_hash"]),
                scalefit_version=str(data["scalefit_version"]),
                fit_seconds=float(data["fit_seconds"]),
                context=context,
                curves=curves,
                errors=str(data.get("errors", "iid")),
                residual_rho=None if data.get("residual_rho") is None else float(data["residual_rho"]),
                variance_factor=None if data.get("variance_factor") is None else float(data["variance_factor"]),
                law_error=None if data.get("law_error") is None else LawError.from_dict(data["law_error"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ResultFileError(
                f"damaged fit result ({type(exc).__name__}: {exc}). Re-run scalefit fit --out.", path=str(path)
            ) from None

    # ---- plot ----
    def plot(self, ax: Any = None) -> Any:
        """Observed vs fitted loss per run, with relative residuals below (see :func:`scalefit.plots.plot_fit`)."""
        from scalefit.plots import plot_fit

        return plot_fit(self, ax=ax)

    def with_messages(self, *extra: str) -> FitResult:
        """A copy with more messages appended."""
        return replace(self, messages=self.messages + tuple(extra))


@dataclass(frozen=True)
class Evaluation:
    """A fit on training runs and the metrics of its predictions on held-out runs.

    Attributes
    ----------
    fit : FitResult
        The fit on the training runs.
    test : dict of str to RunMetrics
        Metrics of each held-out run (by path), predicted from its LR schedule alone.
    predictions : dict of str to Prediction
        The predicted curve of each held-out run at its observed steps.
    """

    fit: FitResult
    test: dict[str, RunMetrics]
    predictions: dict[str, Prediction] = field(default_factory=dict)

    @property
    def mean(self) -> dict[str, float]:
        """Held-out metrics averaged over test curves (the MPL paper's convention)."""
        return mean_metrics(self.test.values())

    def summary(self) -> dict[str, Any]:
        """The ``scalefit evaluate --json`` object (plain types)."""
        return {
            "law": self.fit.law,
            "fit_seconds": self.fit.fit_seconds,
            "mean": self.mean,
            "runs": [
                {
                    "path": path,
                    **{k: getattr(m, k) for k in METRIC_NAMES},
                    "final_true": m.final_true,
                    "final_pred": m.final_pred,
                }
                for path, m in self.test.items()
            ],
            "params": self.fit.values,
        }

    def final_inside(self) -> dict[str, bool]:
        """Whether each held-out run's final observed loss lies inside its prediction interval there."""
        return {path: bool(p.lower[-1] <= self.test[path].final_true <= p.upper[-1])
                for path, p in self.predictions.items() if path in self.test}

    def report(self) -> str:
        """The fit's report, then held-out metrics per run and their mean, and how often the intervals held."""
        lines = metrics_table(self.test, title="held-out")
        inside = self.final_inside()
        if inside:
            p = next(iter(self.predictions.values()))
            what = INTERVAL_METHODS.get(p.method, p.method)
            lines += ["", f"  final loss inside the {p.interval:.0%} interval ({what}): {sum(inside.values())} of "
                          f"{len(inside)} held-out runs"]
            for path, ok in inside.items():
                if not ok:
                    q = self.predictions[path]
                    lines.append(f"    outside: {path}: observed {self.test[path].final_true:.4f}, interval "
                                 f"[{float(q.lower[-1]):.4f}, {float(q.upper[-1]):.4f}]")
        return self.fit.report() + "\n" + "\n".join(lines) + "\n"


# ---- formatting helpers ----
def metrics_table(metrics: Mapping[str, RunMetrics], title: str) -> list[str]:
    """Lines of a per-run metrics table with a mean row (averaged over curves)."""
    names = [Path(p).stem for p in metrics]
    width = max([len(n) for n in names] + [len("mean"), 12])
    lines = [
        f"  {title + ' run':<{width}} {'n':>6} {'R2':>8} {'MAE':>8} {'RMSE':>8} {'PredE':>8} {'WorstE':>8}"
        f" {'final':>8} {'fitted':>8}"
    ]
    for name, m in zip(names, metrics.values()):
        lines.append(
            f"  {name:<{width}} {m.n:>6d} {_f(m.r2, 5)} {_f(m.mae, 5)} {_f(m.rmse, 5)} {_f(m.pred_e, 5)} "
            f"{_f(m.worst_e, 5)} {_f(m.final_true, 4)} {_f(m.final_pred, 4)}"
        )
    if len(metrics) > 1:
        mean = mean_metrics(metrics.values())
        lines.append(
            f"  {'mean':<{width}} {'':>6} {_f(mean['r2'], 5)} {_f(mean['mae'], 5)} {_f(mean['rmse'], 5)} "
            f"{_f(mean['pred_e'], 5)} {_f(mean['worst_e'], 5)}"
        )
    return lines


def _f(x: float, digits: int) -> str:
    return f"{x:>8.{digits}f}" if math.isfinite(x) else f"{'nan':>8}"


def _fmt_bound(x: float) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.6g}"


def pdg_round(value: float, error: float) -> tuple[str, str]:
    """Round ``value`` and ``error`` to the precision of the error, by the Particle Data Group rule.

    The error keeps two significant digits when its three highest-order digits are 100-354, one digit for 355-949,
    and is rounded up to two digits of the next power of ten from 950 (PDG, "Introduction", sec. 5.3).
    The value is rounded to the same decimal place. Without a finite positive error, 6 significant digits.

    >>> pdg_round(3.21534, 0.01234)
    ('3.215', '0.012')
    >>> pdg_round(0.5012, 0.0456)
    ('0.50', '0.05')
    >>> pdg_round(412.7, 0.97)
    ('412.7', '1.0')
    >>> pdg_round(523.0, 48.0)
    ('520', '50')
    >>> pdg_round(1.23456e-9, 3.1e-11)
    ('1.235e-09', '0.031e-09')
    >>> pdg_round(2.5, float("nan"))
    ('2.5', 'nan')
    """
    if not (math.isfinite(error) and error > 0) or not math.isfinite(value):
        return f"{value:.6g}", ("nan" if not math.isfinite(error) else f"{error:.3g}")
    exp = math.floor(math.log10(error))
    lead = int(error / 10 ** (exp - 2) * (1 + 1e-12))  # the three highest-order digits, 100..999
    if lead >= 1000:  # float round-off at a power of ten
        exp, lead = exp + 1, 100
    if lead < 355:
        nsig = 2
    elif lead < 950:
        nsig = 1
    else:
        exp, nsig, error = exp + 1, 2, 10.0 ** (exp + 1)
    decimals = nsig - 1 - exp  # decimal places of the last significant digit
    if decimals <= 6 and abs(value) < 1e7:
        d = max(decimals, 0)
        return f"{round(value, decimals):.{d}f}", f"{round(error, decimals):.{d}f}"
    # tiny numbers: share the exponent of the value
    shift = math.floor(math.log10(abs(value))) if value != 0 else exp
    d = max(decimals + shift, 0)
    return (
        f"{round(value / 10**shift, decimals + shift):.{d}f}e{shift:+03d}",
        f"{round(error / 10**shift, decimals + shift):.{d}f}e{shift:+03d}",
    )


def _float_to_json(x: float) -> float | str:
    x = float(x)
    if math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def _float_from_json(x: Any) -> float:
    if x is None:
        return float("nan")
    return float(x)


def _finite_or_str(arr: np.ndarray) -> list[list[float | str]]:
    return [[_float_to_json(x) for x in row] for row in np.asarray(arr, dtype=np.float64)]


def thin_curve(path: str, steps: np.ndarray, loss: np.ndarray, fitted: np.ndarray) -> Curve:
    """A :class:`Curve` with at most ``MAX_CURVE_POINTS`` evenly spaced points (the last one always kept)."""
    m = steps.size
    if m > MAX_CURVE_POINTS:
        keep = np.unique(np.linspace(0, m - 1, MAX_CURVE_POINTS).round().astype(np.int64))
        steps, loss, fitted = steps[keep], loss[keep], fitted[keep]
    return Curve(path=path, steps=np.asarray(steps, np.int64), loss=np.asarray(loss), fitted=np.asarray(fitted))
