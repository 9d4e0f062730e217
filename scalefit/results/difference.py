"""Differences between predictions of one fit, with their own interval: how surely one schedule beats another.

Why
---
The interval of one prediction is mostly the law's own error (:mod:`scalefit.law_error`), and that error is largely
an error of the *level* that every schedule of one fit shares: when the law is 0.5 % high on one schedule it is
about 0.5 % high on the next. Overlapping bands then hide a ranking the fit is sure of. The difference of two
predictions has its own, much narrower interval.

Covariance part
---------------
``D(t) = La(t) - Lb(t)`` is a function of the same parameters, so its delta-method variance is
``(ga - gb)^T Cov (ga - gb)`` with ``ga``, ``gb`` the gradients of the two predictions (the joint gradient): the
parameter noise that moves both curves together cancels.

Law-error part
--------------
Model: the relative law error of schedule ``x`` is ``R_x (u + u_x) / s``, with ``R_x`` the law error's relative sd
at its horizon (``LawError.relative_sd``, scale ``s``), ``u`` shared by every schedule of the fit (variance
``s^2 - s_u^2``) and ``u_x`` its own (variance ``s_u^2``). The error of ``La - Lb`` is then of variance
``(1 - f) (La Ra - Lb Rb)^2 + f (La^2 Ra^2 + Lb^2 Rb^2)`` with ``f = s_u^2 / s^2`` the unshared share: for two
schedules of one length the shared part scales with the difference itself, the own parts add. Where the two LR
histories are identical up to a step (same warmup), the two losses there are one and the same, and the
difference and its interval are 0.

``f`` is *measured*, on the cross-validation's own predictions of differences: a forward fold predicts the ends of
several training runs from one fit, so the spread of their (horizon-normalised) relative errors within the fold is
the part the errors of two schedules do not share: the pooled within-fold variance ``ss`` with ``sum(k - 1)``
degrees of freedom over folds of ``k`` errors. A fit of two runs gives two to four such contrasts, so the raw share
is often near 0 by chance; it is shrunk toward independence by one pseudo-degree of freedom,
``f = (ss / s^2 + 1) / (dof + 1)`` (our choice; without it 11 of 14 MPL-curve differences were covered below, with
it 14 of 14). It also holds the run ends' own noise, so it errs wide. When no fold predicted two runs (one training
run), nothing measures it: ``f = 1``, the errors are taken as independent and the difference carries both
schedules' full law error. The quantile is Student t (Welch-Satterthwaite between the covariance and the law
part, as for one prediction), with the smaller of the law error's and the share's degrees of freedom, and never
narrower than either part.

Measured (``benchmarks/differences.py``: held-out final losses minus the training cosine's, 90 % intervals): on
the MPL reference curves (25M, 100M; 14 differences per law) the difference intervals cover 14 of 14 (MPL and
Tissue) at 0.87x and 0.90x the mean half-width of one prediction's; on the Schaipp curves (111) 105 (MPL) and 92
(Tissue), against 101 and 93 for one prediction, at 1.26x and 1.21x its half-width. So the premise that the law
error is mostly shared does not hold on these data: the raw unshared share has median 0.25 (MPL curves) and 0.87
(Schaipp), and a predicted difference errs as much as one prediction (mean |error| 0.0081 vs 0.0066 nats on the MPL
curves, 0.052 vs 0.054 on Schaipp's train loss): a held-out schedule's error is its own, and the baseline, a fitted
run, has little. Also measured there, and rejected: the law error as relative to the difference (``c |La - Lb|``,
``c`` from the same fold pairs) covers 12 of 14 and 97 of 111, and fails where two different schedules are
predicted nearly equal; the own parts scaled by ``|La - Lb|`` over the training runs' fitted difference (capped
at 1) cover 13 and 14 of 14, 101 and 89 of 111. Weakness of the model kept: two nearly identical schedules that
part late (two WSD cooldown shapes) get the full unshared error once they part, so their gap is called unsure
(conservative).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from scalefit.errors import FitInputError
from scalefit.laws.base import prediction_with_gradient

#: Pseudo-degrees of freedom of independence (f = 1) the measured unshared share is shrunk toward (module docstring).
PRIOR_DOF = 1

if TYPE_CHECKING:
    from scalefit.results.fit_result import FitResult
    from scalefit.results.prediction import Prediction


@dataclass(frozen=True)
class Difference:
    """``label``'s predicted loss minus ``baseline``'s, with the interval of the difference.

    Attributes
    ----------
    steps : ndarray of int64, shape (M,)
        Steps both predictions cover after both warmups.
    diff, lower, upper : ndarray of float64, shape (M,)
        The difference there and its central ``interval`` band.
    final, final_lower, final_upper : float
        The difference of the two final losses (each at its own last step) and its interval.
    method : str
        The predictions' interval method (``"covariance"``, ``"covariance+cv"``, ``"cv"``).
    unshared : float or None
        ``f = s_u^2 / s^2``, the share of the law error's variance the two schedules do not share (measured and
        shrunk; 1 when it could not be measured); None without a law error in the interval.
    impossible : str
        Non-empty when either prediction cannot be true (then the difference means nothing either).
    """

    label: str
    baseline: str
    steps: np.ndarray
    diff: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    final: float
    final_lower: float
    final_upper: float
    interval: float
    method: str
    unshared: float | None = None
    impossible: str = ""

    def summary(self) -> dict[str, Any]:
        """Plain dict: the two labels, the final difference and its interval."""
        return {"schedule": self.label, "baseline": self.baseline, "difference": self.final,
                "lower": self.final_lower, "upper": self.final_upper, "interval": self.interval,
                "method": self.method, "unshared": self.unshared, "impossible": self.impossible or None}


def ranked(predictions: Sequence[Prediction]) -> list[Prediction]:
    """Predictions by final loss, lowest first; a prediction that cannot be true (``impossible``) or whose final
    loss is not finite always comes after every one that can."""
    def key(p: Prediction) -> tuple[bool, float]:
        bad = bool(p.impossible) or not math.isfinite(p.final_loss)
        return bad, (p.final_loss if math.isfinite(p.final_loss) else math.inf)

    return sorted(predictions, key=key)


def unshared_fraction(result: FitResult) -> tuple[float, int]:
    """``(f, degrees of freedom)``: the unshared share ``s_u^2 / s^2`` of the law error from the within-fold spread
    of the fold errors, shrunk toward independence (module docstring); ``(1.0, 0)`` (independent, assumed) when no
    fold scored two runs, the scale is 0, or the fit has no law error."""
    le = result.law_error
    if le is None or le.scale <= 0:
        return 1.0, 0
    groups: dict[str, list[float]] = {}
    for f in le.folds:
        growth = float(le.relative_sd(np.array([f.horizon]), 1)[0]) / le.scale
        groups.setdefault(f.fold, []).append(f.rel_error / growth)
    ss, dof = 0.0, 0
    for errs in groups.values():
        if len(errs) > 1:
            e = np.asarray(errs)
            ss += float(np.sum((e - e.mean()) ** 2))
            dof += e.size - 1
    if dof == 0:
        return 1.0, 0
    return min((ss / le.scale ** 2 + PRIOR_DOF) / (dof + PRIOR_DOF), 1.0), dof + PRIOR_DOF


def same_history(a: Prediction, b: Prediction, at_a: np.ndarray, at_b: np.ndarray) -> np.ndarray:
    """Where the two schedules' LR histories (and warmups, sizes) are identical up to the predicted step: there the
    two losses are one and the same."""
    same = np.zeros(at_a.shape, dtype=bool)
    if a.lr_step0 != b.lr_step0 or a.warmup != b.warmup or a.n_params != b.n_params:
        return same
    n = min(a.lr.size, b.lr.size)
    parted = np.flatnonzero(a.lr[:n] != b.lr[:n])
    first = int(parted[0]) if parted.size else n  # the first LR index where they differ
    return (at_a == at_b) & (at_a < first)


def difference(result: FitResult, a: Prediction, b: Prediction) -> Difference:
    """``a`` minus ``b`` (two predictions of ``result``, made by :meth:`FitResult.predict`), with its interval:
    the covariance part from the joint gradient, the law-error part with its shared share (module docstring)."""
    if a.lr is None or b.lr is None:
        raise FitInputError("a difference needs predictions made by FitResult.predict (they carry their LR).")
    first = max(a.lr_step0 + a.warmup, b.lr_step0 + b.warmup)
    common = np.intersect1d(a.steps, b.steps)
    common = common[common >= first]
    at_a = np.r_[a.steps[np.searchsorted(a.steps, common)], a.steps[-1]] - a.lr_step0
    at_b = np.r_[b.steps[np.searchsorted(b.steps, common)], b.steps[-1]] - b.lr_step0
    law = result.get_law()
    order = result.param_order
    values = np.array([result.params[n].value for n in order])
    fd = [n for n in order if not result.params[n].fixed and math.isfinite(result.params[n].stderr)]
    pa, ga = prediction_with_gradient(law, order, values, a.lr, a.warmup, at_a, a.n_params, fd)
    pb, gb = prediction_with_gradient(law, order, values, b.lr, b.warmup, at_b, b.n_params, fd)
    d = pa - pb
    method = a.method
    g = ga - gb
    if method == "cv":
        cov_sd = np.zeros_like(d)
    elif result.covariance is not None:
        cov_sd = np.sqrt(np.clip(np.einsum("pm,pq,qm->m", g, result.covariance, g), 0.0, None))
    else:
        cov_sd = np.full(d.shape, np.nan)
    from scipy.stats import norm, t

    z = float(norm.ppf(0.5 + a.interval / 2.0))
    half = z * cov_sd
    unshared = None
    if method in ("covariance+cv", "cv") and result.law_error is not None:
        le = result.law_error
        unshared, dof_u = unshared_fraction(result)
        ra = pa * le.relative_sd(at_a + a.lr_step0, result.context.max_step)  # absolute law sd of each
        rb = pb * le.relative_sd(at_b + b.lr_step0, result.context.max_step)
        law_sd = np.sqrt((1.0 - unshared) * (ra - rb) ** 2 + unshared * (ra ** 2 + rb ** 2))
        law_sd[same_history(a, b, at_a, at_b)] = 0.0
        dof = min(le.dof, dof_u) if dof_u else le.dof
        with np.errstate(divide="ignore", invalid="ignore"):
            nu = np.where(law_sd > 0, dof * (1.0 + (cov_sd / np.where(law_sd > 0, law_sd, 1.0)) ** 2) ** 2, np.inf)
        total = np.sqrt(cov_sd ** 2 + law_sd ** 2)
        half = np.maximum.reduce([t.ppf(0.5 + a.interval / 2.0, nu) * total,
                                  t.ppf(0.5 + a.interval / 2.0, dof) * law_sd, z * cov_sd])
    lower, upper = d - half, d + half
    return Difference(
        label=a.label, baseline=b.label, steps=np.asarray(common, dtype=np.int64), diff=d[:-1], lower=lower[:-1],
        upper=upper[:-1], final=float(d[-1]), final_lower=float(lower[-1]), final_upper=float(upper[-1]),
        interval=a.interval, method=method, unshared=unshared,
        impossible="; ".join(f"{p.label}: {p.impossible}" for p in (a, b) if p.impossible),
    )


def differences(result: FitResult, predictions: Sequence[Prediction], baseline: str | None = None
                ) -> list[Difference]:
    """Each prediction minus the baseline (the one labelled ``baseline``; default the first), the baseline left out.
    ``FitInputError`` when no prediction has that label."""
    if not predictions:
        return []
    if baseline is None:
        base = predictions[0]
    else:
        matches = [p for p in predictions if p.label == baseline]
        if not matches:
            raise FitInputError(f"--baseline {baseline!r} is none of the predicted schedules ("
                                + ", ".join(repr(p.label) for p in predictions) + ").", value=baseline)
        base = matches[0]
    return [difference(result, p, base) for p in predictions if p is not base]
