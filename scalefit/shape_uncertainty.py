"""Prediction intervals that carry the loss-drop shape the default prior holds.

Why
---
MPL's default prior holds its loss-drop shape (C, beta, gamma) within sd 0.01 (on the log) of (1, 0.5, 0.5). That
is a regulariser chosen for point predictions (``benchmarks/mpl_prior.py``), not a belief: published fits of the
same law sit at C ~2.1, beta ~0.59, gamma ~0.65, 15 to 75 prior sd away. The fit's stderr on the shape are the
prior's, so a band built from them says nothing about the shape: on runs simulated at the published shapes the
90 % covariance band held 15-43 % of the true final losses (``benchmarks/RESULTS.md``, "Intervals under the default
MPL shape prior").

What this adds
--------------
One refit of the same runs with a prior of the same centre and the shapes' *measured* spread (:data:`SHAPE_SPREAD`:
how far the published fits lie from the centre, on the log; the runs themselves cannot measure it: fits without a
prior run to the bounds on every reference data set). The prediction interval is the refit's band, stretched where
needed to hold the default fit's point (:func:`combine`), which stays the prediction: on the reference curves it
predicts held-out schedules better than the refit (Schaipp mean error 0.0119 against 0.0277, MPL PredE 0.00124
against 0.00177). Simulated at the prior's centre and at the published shapes (3 designs, 2 noise levels, AR(1)
noise), that interval covered 82-96 % of the true finals at a nominal 90 %. The price is one fit.

:func:`prior_shares` says, from a fit's covariance alone, how much of each parameter's precision the prior
supplies; above :data:`SET_BY_PRIOR` the prior, not the data, sets the parameter, and :func:`held_note` says so in
words for the status line.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np

from scalefit.errors import AssumptionWarning, ScalefitError
from scalefit.results.notes import Note

if TYPE_CHECKING:
    from scalefit.results import FitResult, Prediction

#: Measured spread of each law's loss-drop shape: sd of log(parameter) around the default prior's centre. MPL: the
#: RMS distance of the published fits (25M: C 2.066, beta 0.583, gamma 0.641; 100M: 2.132, 0.598, 0.655; the MPL
#: repository's README) from the centre (1, 0.5, 0.5): log C 0.726 and 0.757, log beta 0.154 and 0.179, log gamma
#: 0.248 and 0.270 (``benchmarks/mpl_prior.py --spread``).
SHAPE_SPREAD: dict[str, dict[str, float]] = {"mpl": {"C": 0.74, "beta": 0.17, "gamma": 0.26}}
#: A parameter whose prior supplies more than this share of its precision is "set by the prior".
SET_BY_PRIOR = 0.5
#: The kinds of the notes this module makes (for :data:`scalefit.results.notes.KINDS`).
NOTE_KINDS = {"shape_uncertainty": "the refit under the shapes' measured spread that widens the intervals, or why "
                                   "there is none",
              "set_by_prior": "parameters whose precision the default prior, not the data, supplies"}
#: What a refit may raise without ending the main fit: the shape part is then left out and the note says why.
_REFIT_FAILURES = (ScalefitError, ArithmeticError, ValueError, np.linalg.LinAlgError)


@dataclass(frozen=True)
class ShapeUncertainty:
    """The refit under the shapes' measured spread, kept to widen prediction intervals.

    Attributes
    ----------
    prior : dict of str to (centre, sd)
        The spread prior of the refit (Gaussian on log parameter).
    values : dict of str to float
        The refit's parameters (every parameter of the law, in the fit's ``param_order``).
    covariance : ndarray, shape (P, P), or None
        The refit's covariance over ``param_order`` (None when it had none, or not a finite one: its band is then
        its point).
    shares : dict of str to float
        The default fit's :func:`prior_shares` (share of each prior-held parameter's precision from the prior).
    seconds : float
        Wall time of the refit.
    """

    prior: dict[str, tuple[float, float]]
    values: dict[str, float]
    covariance: np.ndarray | None
    shares: dict[str, float]
    seconds: float = 0.0

    @property
    def set_by_prior(self) -> tuple[str, ...]:
        """Parameters whose precision the default prior supplies more than :data:`SET_BY_PRIOR` of."""
        return tuple(n for n, s in self.shares.items() if s > SET_BY_PRIOR)

    def apply_to(self, result: FitResult) -> FitResult:
        """``result`` with the refit's values and covariance (its own law error, context and the rest kept)."""
        params = {n: dataclasses.replace(p, value=float(self.values[n]),
                                         stderr=_stderr(self.covariance, result.param_order.index(n), p.fixed))
                  for n, p in result.params.items()}
        changes: dict[str, Any] = {"params": params, "covariance": self.covariance}
        if any(f.name == "shape_uncertainty" for f in dataclasses.fields(result)):
            changes["shape_uncertainty"] = None  # the refit carries no refit of its own
        return dataclasses.replace(result, **changes)

    def text(self) -> str:
        """One line for reports."""
        spread = ", ".join(f"{n} {sd:g}" for n, (_, sd) in self.prior.items())
        return (f"a refit's band under the shapes' measured spread (sd on log {spread}: "
                + ", ".join(f"{n} = {self.values[n]:.3g}" for n in self.prior) + ")")

    def to_dict(self) -> dict[str, Any]:
        """Plain types for the fit's JSON."""
        return {"prior": {n: [c, sd] for n, (c, sd) in self.prior.items()}, "values": dict(self.values),
                "covariance": None if self.covariance is None else self.covariance.tolist(),
                "shares": dict(self.shares), "seconds": self.seconds}

    @classmethod
    def from_dict(cls, data: Any, param_order: tuple[str, ...]) -> ShapeUncertainty:
        """Read :meth:`to_dict`'s output back; ValueError naming the key when it is not usable with ``param_order``."""
        if not isinstance(data, dict):
            raise ValueError("shape_uncertainty must be an object")
        prior, values, shares = data.get("prior"), data.get("values"), data.get("shares", {})
        if not isinstance(prior, dict) or not isinstance(values, dict) or not isinstance(shares, dict):
            raise ValueError("shape_uncertainty prior, values and shares must be objects")
        if set(values) != set(param_order):
            raise ValueError(f"shape_uncertainty values must name {', '.join(param_order)}")
        out_prior = {}
        for n, item in prior.items():
            if n not in param_order or not isinstance(item, list) or len(item) != 2:
                raise ValueError(f"shape_uncertainty prior {n!r} must be [centre, sd] of a parameter of the law")
            c, sd = float(item[0]), float(item[1])
            if not (c > 0 and sd > 0 and math.isfinite(c) and math.isfinite(sd)):
                raise ValueError(f"shape_uncertainty prior {n!r} needs a finite centre > 0 and sd > 0")
            out_prior[n] = (c, sd)
        vals = {n: float(values[n]) for n in param_order}
        bad = [n for n, v in vals.items() if not math.isfinite(v)]
        if bad:
            raise ValueError(f"shape_uncertainty value {bad[0]!r} is not finite")
        cov = data.get("covariance")
        covariance = None
        if cov is not None:
            covariance = np.asarray(cov, dtype=np.float64)
            if covariance.shape != (len(param_order),) * 2 or not np.all(np.isfinite(covariance)):
                raise ValueError(f"shape_uncertainty covariance must be a finite {len(param_order)} x "
                                 f"{len(param_order)} matrix")
        sh = {str(n): float(s) for n, s in shares.items()}
        if any(not 0.0 <= s <= 1.0 for s in sh.values()):
            raise ValueError("shape_uncertainty shares must lie in [0, 1]")
        return cls(prior=out_prior, values=vals, covariance=covariance, shares=sh,
                   seconds=float(data.get("seconds", 0.0)))


def spread_prior(law: str, prior: Mapping[str, tuple[float, float]],
                 spread: Mapping[str, float] | None = None) -> dict[str, tuple[float, float]]:
    """The default ``prior``'s centres with the measured spread (:data:`SHAPE_SPREAD`, or ``spread``) as sd; empty
    when the law has no measured spread for any of the prior's parameters."""
    sds = SHAPE_SPREAD.get(law, {}) if spread is None else spread
    return {n: (float(c), float(sds[n])) for n, (c, _) in prior.items() if n in sds}


def prior_shares(result: FitResult, prior: Mapping[str, tuple[float, float]]) -> dict[str, float]:
    """Share of each prior-held parameter's precision that the prior supplies, from the fit's covariance alone.

    The fit's covariance is ``(H_data / s2 + P)^-1`` with ``P = diag(1 / (sd^2 p^2))`` on the parameters of a
    Gaussian prior on ``log p`` (:mod:`scalefit.fitting`). The share is ``1 - var / var_data``: how much of the
    data-only variance ``(H_data / s2)^-1`` the prior removes. 1 when the data alone leave the parameter
    undetermined, 0 when the prior changes nothing. Empty without a covariance; parameters on a bound (no stderr)
    are left out.
    """
    cov = result.covariance
    if cov is None:
        return {}
    order = result.param_order
    est = np.flatnonzero(np.diag(cov) > 0)
    if not est.size:
        return {}
    sub = cov[np.ix_(est, est)]
    try:
        precision = np.linalg.inv(sub)
    except np.linalg.LinAlgError:
        return {}
    pos = {int(i): k for k, i in enumerate(est)}
    held = {n: pos[order.index(n)] for n in prior if n in order and order.index(n) in pos}
    data_prec = precision.copy()
    for n, k in held.items():
        data_prec[k, k] -= 1.0 / (prior[n][1] ** 2 * result.params[n].value ** 2)
    # data-only variance of each held parameter, sum_k V_ik^2 / lambda_k; a direction the data leave flat
    # (lambda_k ~ 0) that moves the parameter makes it infinite
    # (lambda_k ~ 0) that moves the parameter makes it infinite; scaled by the total precision's diagonal, since
    # amplitudes and exponents differ by orders of magnitude
    scale = np.sqrt(np.abs(np.diag(precision)))
    lam, vec = np.linalg.eigh((data_prec + data_prec.T) / 2.0 / np.outer(scale, scale))
    flat = lam <= 1e-10 * max(float(lam[-1]), 1e-300)
    var_data = np.sum(vec[:, ~flat] ** 2 / lam[~flat], axis=1) / scale**2
    var_data[np.any(vec[:, flat] ** 2 > 1e-6, axis=1)] = np.inf
    out = {}
    for n, k in held.items():
        v, vd = float(sub[k, k]), float(var_data[k])
        out[n] = 1.0 if not (math.isfinite(vd) and vd > 0) else float(min(max(1.0 - v / vd, 0.0), 1.0))
    return out


def held_note(law: str, shares: Mapping[str, float]) -> Note | None:
    """A note naming the parameters the prior sets (share above :data:`SET_BY_PRIOR`), for the notes and the status
    line; None when there are none."""
    held = [n for n, s in shares.items() if s > SET_BY_PRIOR]
    if not held:
        return None
    pct = ", ".join(f"{n} {shares[n]:.0%}" for n in held)
    return Note("set_by_prior", f"fit {law}: {', '.join(held)} set by the default prior, not by the data (share of "
                f"their precision from the prior: {pct}); their stderr are the prior's.", None,
                {"params": held, "shares": {n: float(shares[n]) for n in held}})


def measure(result: FitResult, prior: Mapping[str, tuple[float, float]],
            refit: Callable[[dict[str, tuple[float, float]]], FitResult],
            spread: Mapping[str, float] | None = None) -> tuple[ShapeUncertainty | None, Note | None]:
    """Refit under the shapes' measured spread, for intervals that carry the shape the default prior holds.

    ``prior`` is the default prior in effect in ``result`` (``{name: (centre, sd)}``: a prior the user gave is the
    user's belief, and a fit without a prior has nothing to widen: pass neither). ``refit(prior)`` fits the same
    runs with the same options and that prior instead (without the law error's cross-validation). Returns the
    ShapeUncertainty (None when the law has no measured spread or the refit fails) and a note for the fit (None when
    there is nothing to say; an :class:`~scalefit.errors.AssumptionWarning` when the refit failed).
    """
    wide = spread_prior(result.law, prior, spread)
    if not wide:
        return None, None
    shares = prior_shares(result, prior)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the refit's notes are about the refit; the main fit has said its own
        try:
            alt = refit(wide)
        except _REFIT_FAILURES as exc:
            why = str(exc) if isinstance(exc, ScalefitError) else f"{type(exc).__name__}: {exc}"
            return None, Note("shape_uncertainty", f"shape uncertainty not measured (the refit under the shapes' "
                              f"measured spread failed: {why}); intervals carry the default prior's stderr of "
                              f"{', '.join(wide)} only.", AssumptionWarning, {"error": why})
    cov = alt.covariance if alt.covariance is not None and np.all(np.isfinite(alt.covariance)) else None
    out = ShapeUncertainty(prior=wide, values=dict(alt.values), covariance=cov, shares=shares,
                           seconds=time.perf_counter() - t0)
    pull = ", ".join(f"{n} {result.params[n].value:.3g} (refit {out.values[n]:.3g})" for n in wide)
    text = (f"shape uncertainty: the default prior holds the loss-drop shape at {pull}; the intervals are a refit's "
            f"under the shapes' measured spread ({', '.join(f'sd {sd:g} on log {n}' for n, (_, sd) in wide.items())}"
            f"), stretched to hold this fit's point (interval part 'shape'; predict method='covariance+cv' leaves it "
            f"out)")
    return out, Note("shape_uncertainty", text, None, {"spread": {n: sd for n, (_, sd) in wide.items()},
                                                        "refit": {n: out.values[n] for n in wide},
                                                        "seconds": out.seconds})


#: Interval methods without the shape part, and with it.
_SHAPED = {"covariance": "covariance+shape", "covariance+cv": "covariance+shape+cv", "cv": "shape+cv"}


def shaped(method: str) -> str:
    """The interval method's name once the shape band is applied (``"covariance+cv"`` -> ``"covariance+shape+cv"``)."""
    return _SHAPED.get(method, method)


def unshaped(method: str) -> str:
    """The interval method without its shape part (``"covariance+shape+cv"`` -> ``"covariance+cv"``)."""
    return {v: k for k, v in _SHAPED.items()}.get(method, method)


def shaped_predict(result: FitResult, args: tuple, predict: Callable[..., Prediction]) -> Prediction:
    """:func:`scalefit.results.prediction.predict` (passed as ``predict``, with its ``args`` after the result:
    schedule, warmup, interval, method, n_params, at, label) for a shaped method: the unshaped method's prediction
    of ``result`` with the interval of its refit under the shapes' measured spread, stretched to hold its point
    (:func:`combine`). FitInputError when ``result`` holds no such refit."""
    from scalefit.errors import FitInputError

    schedule, warmup, interval, method, n_params, at, label = args
    shape = getattr(result, "shape_uncertainty", None)
    if shape is None:
        raise FitInputError(f"interval method {method!r} needs a fit that measured its shape uncertainty (a fit of "
                            f"mpl under its default prior); this one did not: use {unshaped(method)!r}.")
    base = unshaped(method)
    main = predict(result, schedule, warmup, interval, base, n_params, at, label)
    if main.method != base:  # no covariance: the refit's band says nothing the law error does not
        return main
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        alt = predict(shape.apply_to(result), schedule, warmup, interval, base, n_params, at, label)
    return combine(main, alt)


def shaped_difference(result: FitResult, a: Prediction, b: Prediction, difference: Callable[..., Any]) -> Any:
    """:func:`scalefit.results.difference.difference` (passed as ``difference``) of two shaped predictions: the
    difference under the unshaped method, its interval that of the refit under the shapes' measured spread
    stretched to hold this fit's difference (as :func:`combine` does for a prediction)."""
    base = unshaped(a.method)
    a0, b0 = dataclasses.replace(a, method=base), dataclasses.replace(b, method=base)
    main = difference(result, a0, b0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        alt = difference(result.shape_uncertainty.apply_to(result), a0, b0)

    def lo(x: Any, d: Any) -> Any:
        return np.minimum(np.where(np.isfinite(x), x, d), d)

    def hi(x: Any, d: Any) -> Any:
        return np.maximum(np.where(np.isfinite(x), x, d), d)

    return dataclasses.replace(main, lower=lo(alt.lower, main.diff), upper=hi(alt.upper, main.diff),
                               final_lower=float(lo(alt.final_lower, main.final)),
                               final_upper=float(hi(alt.final_upper, main.final)), method=a.method)


def combine(main: Prediction, alt: Prediction) -> Prediction:
    """``main``'s prediction with ``alt``'s band, stretched where needed to hold ``main``'s point (same steps).

    ``main`` is the default fit's (the point that predicts held-out schedules best), ``alt`` the refit's under the
    shapes' measured spread (the band that carries the shape). A band that is not finite (no covariance) counts as
    its point."""
    if main.steps.shape != alt.steps.shape or not np.array_equal(main.steps, alt.steps):
        raise ValueError("combine needs two predictions at the same steps")
    lo = np.where(np.isfinite(alt.lower), alt.lower, alt.loss)
    hi = np.where(np.isfinite(alt.upper), alt.upper, alt.loss)
    return dataclasses.replace(main, lower=np.minimum(lo, main.loss), upper=np.maximum(hi, main.loss),
                               method=shaped(main.method))


def predict(result: FitResult, shape: ShapeUncertainty, schedule: Any, **kw: Any) -> Prediction:
    """``result.predict(schedule, **kw)`` with the interval of the refit under the shapes' measured spread, stretched
    to hold ``result``'s point (:func:`combine`; the refit's warnings are left out: the main prediction gives the
    same ones)."""
    main = result.predict(schedule, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        alt = shape.apply_to(result).predict(schedule, **kw)
    return combine(main, alt)


def _stderr(cov: np.ndarray | None, i: int, fixed: bool) -> float:
    if fixed:
        return 0.0
    if cov is None or not cov[i, i] > 0:
        return math.nan
    return float(math.sqrt(cov[i, i]))
