"""Predictions of a fit: the loss curve of any schedule with an interval, and the marks of an extrapolation or of a
prediction that cannot be true.

The interval reflects the *parameter* uncertainty (the band of the mean curve, like lmfit's ``eval_uncertainty``),
by the delta method: ``var Lhat(t) = g(t)^T Cov g(t)`` with ``g`` the exact gradient of the prediction with respect
to the parameters (analytic from the law's design matrix and its Jacobian), and a normal quantile. It is
deterministic (no sampling) and costs one evaluation of the law. Residual noise of a single run is *not* added:
measured curves scatter around the band by about the fit's RMSE. That band is what the noise allows, not the law's
own error on an unseen schedule. A fit made with ``law_error=True`` also carries that error, measured by
cross-validation on its training runs (:mod:`scalefit.law_error`), and its intervals add it in quadrature with a
Student t quantile.

Intervals are symmetric in log loss: ``[Lhat exp(-h), Lhat exp(h)]`` with ``h`` the quantile times the *relative*
sd (``sd(Lhat) / Lhat`` for the covariance part, the law error's relative sd for the other). The law error is
measured and modelled as a relative (multiplicative) error, and the fit itself works on log loss (Huber on log
residuals), so log space is where both parts are what they claim. For a half-width ``h`` of a few percent the
bounds differ from the linear band's ``Lhat (1 -+ h)`` by about ``h^2 / 2`` of the loss (0.001 % at h = 0.45 %);
however wide the band grows, its lower bound stays > 0.

A prediction at a model size outside the fitted ones (a size-aware law, ``mpl-n`` / ``tissue-n``) is marked with its
factor (:func:`~scalefit.extrapolation.size_flag`), and its interval takes the larger of the half-width above and
the fit's size error at that distance (``FitResult.size_error``: size folds with three or more fitted sizes, else
the reference rule, said in ``Prediction.size_interval``). A fit of one model size refuses a prediction at another
(:func:`check_target_size`), as does a size-blind law fitted on several sizes unless it was allowed to mix them.

A prediction that cannot be true is flagged, never silently returned as a result (``Prediction.impossible`` says
why, with a :class:`~scalefit.errors.FitFailedWarning`): a loss <= 0 after warmup (its band is then NaN), a loss
below the data's stated irreducible loss, or any prediction of a fit whose status is FAILED. An interval whose
relative sd reaches 1 (an error as large as the loss itself) carries no information (``Prediction.uninformative``).
:func:`~scalefit.results.difference.ranked` never ranks such a row first.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from scalefit.errors import AssumptionWarning, ExtrapolationWarning, FitFailedWarning, FitInputError
from scalefit.extrapolation import ExtrapolationError, check_size_target, size_distance, size_flag
from scalefit.laws.base import prediction_with_gradient

if TYPE_CHECKING:
    from scalefit.results.fit_result import FitResult

#: Prediction interval methods, and what each carries in words (reports and CLI headers).
INTERVAL_METHODS = {
    "covariance": "parameter covariance",
    "covariance+cv": "parameter covariance + cross-validated law error",
    "cv": "cross-validated law error only (no parameter covariance)",
}

#: A prediction is marked extrapolated beyond these multiples of the fitted range (steps, S1 = sum of LR, peak LR).
EXTRAPOLATION_FACTOR = {"steps": 2.0, "s1": 2.0, "lr": 1.5}


@dataclass(frozen=True)
class Prediction:
    """A predicted loss curve with its interval.

    Attributes
    ----------
    steps : ndarray of int64, shape (M,)
        Optimizer steps of the prediction.
    loss, lower, upper : ndarray of float64, shape (M,)
        Predicted loss (the fitted target) and the central ``interval`` band, symmetric in log loss (NaN where the
        predicted loss is <= 0).
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
    impossible : str
        Why this prediction cannot be true (a loss <= 0 after warmup, a loss below the data's stated irreducible
        loss, a fit that FAILED), ``"; "``-joined; empty when it can be. Such a prediction is not a result.
    uninformative : bool
        The relative sd at the last step is >= 1: an error as large as the loss itself, an interval that excludes
        nothing.
    n_params : float or None
        Model size the prediction was made for (size-aware laws).
    size_interval : str
        At a model size outside the fitted ones (size-aware laws): the size error the interval carries
        (:mod:`scalefit.extrapolation`: measured by size folds, or the reference rule, and at what distance); ""
        otherwise.
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
    impossible: str = ""
    uninformative: bool = False
    n_params: float | None = None
    size_interval: str = ""

    @property
    def final_loss(self) -> float:
        """Predicted loss at the last step."""
        return float(self.loss[-1])

    def summary(self) -> dict[str, Any]:
        """Plain dict: the label, final loss with its interval, the extrapolation mark, why the prediction cannot be
        true (``impossible``: None when it can), whether its interval carries no information, the model size and
        the size error its interval carries (``size_interval``: None inside the fitted sizes)."""
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
            "impossible": self.impossible or None,
            "uninformative": self.uninformative,
            "n_params": self.n_params,
            "size_interval": self.size_interval or None,
        }


def predict(result: FitResult, schedule: Any, warmup: int | None, interval: float, method: str, n_params: float | None,
            at: np.ndarray | None, label: str | None) -> Prediction:
    """The work of :meth:`FitResult.predict <scalefit.results.FitResult.predict>` (its docstring has the parameters)."""
    if not 0.0 < interval < 1.0:
        raise FitInputError(f"interval must lie in (0, 1), got {interval}. Example: --interval 0.9")
    requested = method
    if method == "auto":
        method = result.interval_method
    if method not in INTERVAL_METHODS:
        raise FitInputError(f"unknown interval method {method!r}; use 'auto', "
                            + ", ".join(repr(m) for m in INTERVAL_METHODS) + ".")
    if method in ("covariance+cv", "cv") and result.law_error is None:
        raise FitInputError("this fit has no measured law error: refit with law_error=True (CLI: scalefit fit "
                            "--law-error), or use method='covariance'.")
    asked_size = n_params if n_params is not None else _run_size(schedule)
    lr, warmup, at, n_params, step0, label = resolve_schedule(result, schedule, warmup, at, n_params, label)
    law = result.get_law()
    check_target_size(result, law, asked_size)
    values = np.array([result.params[n].value for n in result.param_order])
    fd = [n for n in result.param_order if not result.params[n].fixed and math.isfinite(result.params[n].stderr)]
    pred, grad = prediction_with_gradient(law, result.param_order, values, lr, warmup, at, n_params, fd)
    # grad: (P, M); variance of the mean curve by the delta method, then relative to the loss (log space)
    if result.covariance is not None:
        var = np.einsum("pm,pq,qm->m", grad, result.covariance, grad)
        sd = np.sqrt(np.clip(var, 0.0, None))
    else:
        sd = np.full(pred.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(pred > 0, sd / pred, np.nan)
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + interval / 2.0))
    half = z * rel  # half-width in log loss
    if method != "covariance" and result.covariance is None and requested != "cv":
        warnings.warn(
            f"prediction for {label}: no parameter covariance (status {result.status.value}), so the interval "
            "carries the cross-validated law error only.",
            AssumptionWarning,
            stacklevel=2,
        )
        method = "cv"
    cov_rel = rel
    if method in ("covariance+cv", "cv"):
        law_rel = result.law_error.relative_sd(np.asarray(at) + step0, result.context.max_step)
        if method == "cv":
            rel = np.zeros_like(pred)
        # Welch-Satterthwaite can narrow the band when a known part joins the estimated one; never let the sum
        # be narrower than either part alone
        law_q = result.law_error.quantile(interval)
        total = np.sqrt(rel ** 2 + law_rel ** 2)
        half = np.maximum.reduce([result.law_error.quantile(interval, rel, law_rel) * total, law_q * law_rel, z * rel])
        rel = total
    size_err, distance = size_error_at(result, law, n_params, requested)
    size_interval = ""
    if size_err is not None:  # outside the fitted sizes: the larger of the two half-widths, grown with the distance
        half = np.maximum(half, size_err.log_half_width(cov_rel, distance, interval))
        rel = np.maximum(rel, size_err.relative_sd(distance))
        size_interval = f"{size_err.text()}; here {distance:.2g} doublings out"
    extrapolated, reason = extrapolation(result, lr, at, n_params)
    if extrapolated:
        if method == "covariance" and size_err is None:
            tail = "so the interval understates the error"
        elif "peak LR" in reason or ("model size" in reason and size_err is None):
            tail = ("and the law error was measured at the fitted peak LRs and model sizes only, so the interval "
                    "understates the error")
        elif size_err is not None and "steps" not in reason and "S1" not in reason:
            tail = f"the interval carries its {size_err.text()}"
        elif method == "covariance":
            tail = "so the interval understates the error"
        else:
            far = max(f.horizon for f in result.law_error.folds)
            tail = (f"the law error was measured up to {far:.2g}x the fitted steps, so the interval beyond that "
                    "rests on its assumed growth")
        warnings.warn(
            f"prediction for {label} extrapolates: {reason}; the law's fit did not see this range, {tail}.",
            ExtrapolationWarning,
            stacklevel=2,
        )
    steps = np.asarray(at, dtype=np.int64) + step0
    after = np.asarray(at) >= warmup  # the laws describe the loss after warmup
    if not after.any():
        after = np.ones(pred.shape, dtype=bool)
    impossible = []
    floor = result.context.irreducible_loss
    if floor is not None and np.any(pred[after] < floor):
        i = int(np.flatnonzero(after)[np.nanargmin(pred[after])])
        below = f"{float(pred[i]):.6g} at step {int(steps[i])} is below the data's irreducible loss {floor!r}"
        extrapolated, reason = True, "; ".join(r for r in (reason, below) if r)
        impossible.append(f"loss {below}")
        warnings.warn(
            f"prediction for {label} falls below the data's irreducible loss {floor!r} (run metadata): "
            f"{float(pred[i]):.6g} at step {int(steps[i])}. No model can go below that floor; the law is "
            "extrapolating past what it can describe.",
            ExtrapolationWarning,
            stacklevel=2,
        )
    if np.any(~(pred[after] > 0)):
        i = int(np.flatnonzero(after)[np.argmin(np.where(np.isnan(pred[after]), -np.inf, pred[after]))])
        impossible.insert(0, f"loss {float(pred[i]):.4g} <= 0 at step {int(steps[i])}")
        warnings.warn(
            f"prediction for {label} is not a result: the law predicts a loss of {float(pred[i]):.4g} at step "
            f"{int(steps[i])}, and no loss is <= 0. The law does not extrapolate to this schedule (fitted up to step "
            f"{result.context.max_step}): fit more of the run, or predict schedules closer to the fitted ones.",
            FitFailedWarning,
            stacklevel=2,
        )
    if result.failed:
        impossible.append("the fit FAILED")
        warnings.warn("the fit FAILED (the law does not describe its runs; its notes say why): its predictions are "
                      "not results.", FitFailedWarning, stacklevel=2)
    with np.errstate(invalid="ignore", over="ignore"):
        lower = np.where(pred > 0, pred * np.exp(-half), np.nan)
        upper = np.where(pred > 0, pred * np.exp(half), np.nan)
    return Prediction(
        steps=steps,
        loss=pred,
        lower=lower,
        upper=upper,
        interval=float(interval),
        method=method,
        extrapolated=extrapolated,
        reason=reason,
        label=label,
        lr=lr,
        warmup=int(warmup),
        lr_step0=int(step0),
        impossible="; ".join(impossible),
        uninformative=bool(rel.size and rel[-1] >= 1.0),
        n_params=n_params,
        size_interval=size_interval,
    )


def resolve_schedule(
    result: FitResult, schedule: Any, warmup: int | None, at: Any, n_params: float | None, label: str | None
) -> tuple[np.ndarray, int, np.ndarray, float | None, int, str]:
    """(lr, warmup, at, n_params, step0, label) of a schedule given as an array, a spec or a Run."""
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
        lr, spec_warmup = schedule_from_spec(result, schedule)
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
    if n_params is None and result.context.n_params:
        n_params = float(result.context.n_params[-1])
    return lr, int(warmup), at, n_params, step0, label


def schedule_from_spec(
    result: FitResult, spec: str, *, peak: float | None = None, total: int | None = None, warmup: int | None = None
) -> tuple[np.ndarray, int]:
    """The LR array of a spec and its warmup; ``peak``/``total``/``warmup`` default to the fitted runs'.

    Keys given in the spec win over these defaults; a ``file:`` spec's warmup is detected from its LR.
    """
    from scalefit import schedules

    ctx = result.context
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


def extrapolation(result: FitResult, lr: np.ndarray, at: np.ndarray, n_params: float | None) -> tuple[bool, str]:
    """Whether a prediction at ``at`` lies far outside the fitted range, and how (the reasons, joined)."""
    ctx = result.context
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
        flag = size_flag(n_params, ctx.n_params)  # with its factor: "model size 4e+08 is 4x the largest fitted"
        if flag:
            reasons.append(flag)
    return bool(reasons), "; ".join(reasons)


def _run_size(schedule: Any) -> float | None:
    """The model size a Run states (its ``params`` metadata), else None."""
    meta = getattr(schedule, "meta", None)
    value = meta.get("params") if isinstance(meta, dict) else None
    return None if value is None else float(value)


def check_target_size(result: FitResult, law: Any, n_params: float | None) -> None:
    """Refuse a prediction at a model size the fit cannot speak for (:func:`scalefit.extrapolation.check_size_target`):
    a size-blind law fitted on one size asked for another, a size-aware law fitted on one size without its size
    terms given. ``n_params`` is the size asked for (the argument or the Run's), None when not asked."""
    aware = bool(getattr(law, "size_aware", False))
    given = aware and all(result.params[n].fixed for n in ("K", *law.size_names()) if n in result.params)
    mixed = result.options is not None and result.options.allow_mixed_sizes
    check_size_target(result.context.n_params, n_params, result.law, aware, size_terms_given=given,
                      mixed_allowed=mixed)


def size_error_at(result: FitResult, law: Any, n_params: float | None,
                  method: str) -> tuple[ExtrapolationError | None, float]:
    """The size error a prediction at ``n_params`` carries, and its distance (doublings beyond the fitted sizes):
    ``(None, 0)`` inside the fitted sizes, for a size-blind law, or when only the covariance band was asked for.
    A fit without a measured size error (``law_error=False``) takes the reference rule and says so."""
    ctx = result.context
    if method == "covariance" or not getattr(law, "size_aware", False) or n_params is None or not ctx.n_params:
        return None, 0.0
    if not size_flag(n_params, ctx.n_params):
        return None, 0.0
    err = result.size_error or ExtrapolationError.reference("size", "the fit measured no errors: law_error=False")
    return err, size_distance(n_params, ctx.n_params)
