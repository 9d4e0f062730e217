"""Uncertainty and status of a fit at its optimum: which parameters sit on a bound, the Gauss-Newton covariance
(Huber's variance factor, times AR(1) noise's long-run variance for autocorrelated residuals), how well the data
determine each parameter, and the status. ``docs/fitting.md`` explains the choices and their measured coverage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from scalefit.errors import IllConditionedWarning, ParameterAtBoundWarning
from scalefit.fitting.problem import Problem
from scalefit.results import FitStatus, Note, ParamEstimate

#: Condition number of the correlation matrix above which the fit is called ill-conditioned.
ILL_CONDITION = 1e10


@dataclass(frozen=True)
class Assessment:
    """What :func:`assess` finds at the optimum."""

    status: FitStatus
    params: dict[str, ParamEstimate]
    covariance: np.ndarray | None  # (P, P) over all parameters; None when singular
    notes: tuple[Note, ...]
    rho: float | None  # the residuals' lag-1 autocorrelation (errors="ar1"), else None
    factor: float | None  # the AR(1) factor on the residual variance (errors="ar1"), else None


def assess(problem: Problem, p: np.ndarray, res: Any, law_name: str, n_starts: int,
           errors: str = "ar1") -> Assessment:
    """Status, parameter estimates with stderr, covariance over all parameters, the notes on the optimum (bounds
    hit, conditioning, the prior's role), and for ``errors="ar1"`` the residuals' lag-1 autocorrelation and the
    factor it puts on the residual variance (:func:`ar1_rho`)."""
    names = problem.names
    lo, hi = problem.lower, problem.upper
    span = np.where(np.isfinite(hi - lo), hi - lo, np.maximum(np.abs(p), 1.0))
    tol = 1e-6 * span
    at_bound = np.zeros(len(names), dtype=np.int64)
    active = np.zeros(len(names), dtype=np.int64)
    active[problem.free] = res.active_mask
    at_bound[(p - lo <= tol) | (active == -1)] = -1
    at_bound[(hi - p <= tol) | (active == 1)] = 1
    at_bound[~problem.free] = 0
    est = problem.free & (at_bound == 0)  # the covariance is over the free parameters not on a bound
    cov = _covariance(problem, p, est, errors)
    notes = list(cov.notes(law_name))
    for i, name in enumerate(names):
        if at_bound[i]:
            side, bound = ("lower", lo[i]) if at_bound[i] < 0 else ("upper", hi[i])
            fix = suggest(lo[i], hi[i], side)
            notes.append(Note(
                "at_bound", f"fit {law_name}: {name} at its {side} bound {bound:g} after {n_starts} starts; its stderr "
                f"is unreliable. Try --bounds {name}={fix}.", ParameterAtBoundWarning,
                {"param": name, "side": side, "bound": float(bound), "suggest": fix}))
    notes.extend(_conditioning(problem, p, est, cov, law_name))
    if res.status == 0:
        status = FitStatus.MAX_EVALS
        notes.append(Note("max_evals", f"fit {law_name}: the polish stopped after {res.nfev} evaluations before "
                          "converging.", IllConditionedWarning, {"nfev": int(res.nfev)}))
    elif cov.covariance is None and est.any():
        status = FitStatus.NO_COVARIANCE
    elif at_bound.any():
        status = FitStatus.AT_BOUND
    else:
        status = FitStatus.CONVERGED
    if cov.held:  # a note, not a problem: the prior is there for this
        held = [names[i] for i in cov.held]
        notes.append(Note("prior_holds", f"fit {law_name}: the data alone leave {', '.join(held)} poorly determined "
                          "(stderr larger than the value without the prior); the prior holds them, and their stderr "
                          "include it.", None, {"params": held}))
    specs = {s.name: s for s in problem.law.params}
    params = {
        name: ParamEstimate(
            value=float(p[i]),
            stderr=float(cov.stderr[i]),
            lower=float(lo[i]),
            upper=float(hi[i]),
            at_bound=int(at_bound[i]),
            linear=bool(specs[name].linear),
            fixed=not bool(problem.free[i]),
        )
        for i, name in enumerate(names)
    }
    return Assessment(status, params, cov.covariance, tuple(notes), cov.rho, cov.factor)


@dataclass
class _Covariance:
    covariance: np.ndarray | None
    stderr: np.ndarray  # (P,) NaN where unknown, 0 for fixed parameters
    rho: float | None
    factor: float | None
    cond: float  # condition number of the correlation-scaled Hessian (NaN when not computed)
    flat: str  # its flattest direction in words
    held: list[int]  # parameters the data alone leave poorly determined but the prior holds

    def notes(self, law_name: str) -> list[Note]:
        if self.rho is None or self.rho < 0.99:
            return []
        return [Note("autocorrelation_cap", f"fit {law_name}: the residuals' lag-1 autocorrelation is at its 0.99 "
                     f"cap, so stderr are x{math.sqrt(199):.0f} those of independent residuals: the law misses the "
                     "curves systematically (look at the residual plot, --plot), not only by noise.",
                     IllConditionedWarning, {"rho": self.rho})]


def _covariance(problem: Problem, p: np.ndarray, est: np.ndarray, errors: str) -> _Covariance:
    """Gauss-Newton covariance over the parameters ``est`` with Huber's variance factor (times the AR(1) factor
    for ``errors="ar1"``), the prior's information included; and the conditioning of the problem."""
    names = problem.names
    P = len(names)
    n = problem.n_data
    r = problem.residuals(p[problem.free])[:n]  # data rows (prior rows follow)
    covariance = None
    rho = 0.0 if errors == "ar1" else None
    factor = 1.0 if errors == "ar1" else None  # the residual variance's total AR(1) factor
    stderr = np.full(P, np.nan)
    stderr[~problem.free] = 0.0
    cond = math.nan
    flat = ""
    held: list[int] = []
    if est.any():
        jac_all = problem.jacobian(p[problem.free])[:, est[problem.free]]  # (n + k, n_est)
        jac, jac_p = jac_all[:n], jac_all[n:]
        s2 = scale2(r, problem.huber, problem.delta, n_par=int(est.sum()))
        h_data = jac.T @ jac
        if errors == "ar1":
            # the fit's own (Gauss-Newton) matrix: prior rows enter the objective with weight 1
            h_fit = h_data + jac_p.T @ jac_p if jac_p.size else h_data
            rho, shrink = ar1_rho(r, jac, h_fit, problem.sizes, problem.huber, problem.delta)
            # unbiased noise variance under AR(1) (the residuals' sum of squares is sigma^2 tr A(rho), not
            # sigma^2 tr A(0)), then its long-run variance
            factor = shrink * (1.0 + rho) / (1.0 - rho)
            s2 *= factor
        # a prior row w (log p - mu) with w = delta / sd adds the information 1/sd^2 of that parameter
        h = h_data + (s2 / problem.delta**2) * (jac_p.T @ jac_p) if jac_p.size else h_data
        d = np.sqrt(np.diag(h))
        if not np.all(d > 0):
            flat = ", ".join(names[i] for i, di in zip(np.flatnonzero(est), d) if not di > 0) + " (no effect on "\
                "the fitted loss)"
        if np.all(d > 0) and np.all(np.isfinite(h)):
            hs = h / np.outer(d, d)  # correlation-scaled Hessian
            eig, vec = np.linalg.eigh(hs)
            cond = float(eig[-1] / eig[0]) if eig[0] > 0 else math.inf
            flat = direction(vec[:, 0], [names[i] for i in np.flatnonzero(est)])
            if eig[0] > 1e-14 * eig[-1]:
                cov_est = s2 * np.linalg.inv(hs) / np.outer(d, d)
                covariance = np.zeros((P, P))
                sel = np.flatnonzero(est)
                covariance[np.ix_(sel, sel)] = cov_est
                stderr[sel] = np.sqrt(np.clip(np.diag(cov_est), 0.0, None))
        if jac_p.size:
            with np.errstate(all="ignore"):
                sd_data = np.sqrt(s2 * np.clip(np.diag(np.linalg.pinv(h_data)), 0.0, None))
            sel = np.flatnonzero(est)
            held = [int(sel[j]) for j in range(sel.size) if int(sel[j]) in set(problem.prior_idx.tolist())
                    and not sd_data[j] <= abs(p[sel[j]])]
    return _Covariance(covariance, stderr, rho, factor, cond, flat, held)


def _conditioning(problem: Problem, p: np.ndarray, est: np.ndarray, cov: _Covariance, law_name: str) -> list[Note]:
    """A note when the covariance is singular, or when parameters (or a combination) are poorly determined."""
    names, lo, hi = problem.names, problem.lower, problem.upper
    if cov.covariance is None and est.any():
        return [Note("no_covariance", f"fit {law_name}: the Jacobian at the optimum is singular, so parameters are not "
                     f"separately determined and no stderr is reported (flattest direction {cov.flat}). Fix a "
                     "parameter (e.g. --fix) or add runs with other schedules.", IllConditionedWarning,
                     {"direction": cov.flat})]
    if cov.covariance is None:
        return []
    poor = [int(i) for i in np.flatnonzero(est) if p[i] != 0 and cov.stderr[i] > abs(p[i])]
    if not (cov.cond > ILL_CONDITION or poor):
        return []
    if poor:
        i = poor[0]
        which = ", ".join(names[j] for j in poor) + " poorly determined (stderr larger than the value"
        fix = f"narrow the range, e.g. --bounds {names[i]}={suggest(lo[i], hi[i], 'narrow', p[i])}"
    else:
        which = "a combination of parameters poorly determined ("
        fix = "fix a parameter"
    return [Note("ill_conditioned", f"fit {law_name}: {which}{', ' if poor else ''}condition number {cov.cond:.2g}; "
                 f"flattest direction {cov.flat}). Add runs with different schedules, or {fix}.", IllConditionedWarning,
                 {"params": [names[j] for j in poor], "condition": cov.cond, "direction": cov.flat})]


def direction(v: np.ndarray, names: Sequence[str]) -> str:
    """A unit eigenvector in words, largest components first: ``"+0.71 beta -0.69 gamma"`` (|component| >= 0.2)."""
    v = v / (np.abs(v).max() if np.abs(v).max() > 0 else 1.0) * (1 if v[np.argmax(np.abs(v))] > 0 else -1)
    v = v / np.linalg.norm(v)
    order = np.argsort(-np.abs(v), kind="stable")
    return " ".join(f"{v[i]:+.2f} {names[i]}" for i in order if abs(v[i]) >= 0.2) or "none"


def ar1_rho(r: np.ndarray, jac: np.ndarray, h: np.ndarray, sizes: Sequence[int], huber: bool,
             delta: float) -> tuple[float, float]:
    """Lag-1 autocorrelation ``rho`` of the noise behind the residuals, for the covariance factor
    ``(1 + rho) / (1 - rho)`` (the long-run variance of AR(1) noise over its variance), and the factor
    ``tr A(0) / tr A(rho)`` that makes the residual variance an unbiased estimate of the noise's under AR(1).

    The raw lag-1 autocorrelation of residuals underestimates the noise's: the fit absorbs the slow part of the
    noise. So ``rho`` is matched by moments: residuals are ``M e`` with ``M = I - J h^-1 J^T`` (the fit's
    linearised, prior-regularised hat matrix) and ``e`` stationary AR(1) within each run, independent across runs;
    ``rho`` solves ``E[sum r_t r_(t-1)] / E[sum r_t^2] =`` the observed ratio (pairs within runs, Huber-clipped
    residuals; Huber's down-weighting of outliers is left out of ``M``). Each evaluation costs O(n p^2). Clipped to
    [0, 0.99]: negative autocorrelation does not narrow the intervals.
    """
    from scipy.optimize import brentq
    from scipy.signal import lfilter

    psi = np.clip(r, -delta, delta) if huber else r
    n = psi.size
    ends = np.cumsum(np.asarray(sizes, dtype=np.int64))
    pair = np.ones(n, dtype=bool)  # pair[t]: rows t-1 and t belong to the same run
    pair[np.r_[0, ends[:-1]]] = False
    t = np.flatnonzero(pair)
    u = t - 1
    den = float(psi @ psi)
    if den <= 1e-14 * n or t.size < 2:  # an exact fit (residuals at rounding level): nothing to measure
        return 0.0, 1.0
    target = float(psi[t] @ psi[u]) / den
    try:
        hinv = np.linalg.inv(h)
    except np.linalg.LinAlgError:
        return float(min(max(target, 0.0), 0.99)), 1.0
    jtj = jac.T @ jac

    def sigma_times(v: np.ndarray, rho: float) -> np.ndarray:
        """Sigma(rho) @ v, Sigma the AR(1) correlation within each run (a forward and a backward filter)."""
        out = np.empty_like(v)
        start = 0
        for end in ends:  # one pass per run, not per row
            x = v[start:end]
            fwd = lfilter([1.0], [1.0, -rho], x, axis=0)
            bwd = lfilter([1.0], [1.0, -rho], x[::-1], axis=0)[::-1]
            out[start:end] = fwd + bwd - x
            start = end
        return out

    def moments(rho: float) -> tuple[float, float]:
        """E[sum over pairs of r_t r_(t-1)] / E[sum r_t^2], and E[sum r_t^2] = tr A, for AR(1) noise of
        correlation rho and unit variance."""
        sj = sigma_times(jac, rho)  # Sigma J
        jsj = jac.T @ sj
        k = hinv @ jsj @ hinv
        # E[r r^T] = A = Sigma - H Sigma - Sigma H + H Sigma H, with H = J h^-1 J^T
        tr_a = n - 2.0 * float(np.sum(hinv * jsj)) + float(np.sum(k * jtj))
        hs = np.sum(jac[t] * (sj[u] @ hinv), axis=1)  # (H Sigma)[t, t-1]
        sh = np.sum((sj[t] @ hinv) * jac[u], axis=1)  # (Sigma H)[t, t-1]
        hsh = np.sum((jac[t] @ k) * jac[u], axis=1)  # (H Sigma H)[t, t-1]
        return (rho * t.size - float(hs.sum()) - float(sh.sum()) + float(hsh.sum())) / tr_a, tr_a

    hi = 0.99
    at0, tr0 = moments(0.0)
    if target <= at0:
        return 0.0, 1.0
    at_hi, tr_hi = moments(hi)
    if target >= at_hi:
        return hi, tr0 / tr_hi
    rho = float(brentq(lambda x: moments(x)[0] - target, 0.0, hi, xtol=1e-4))
    return rho, tr0 / moments(rho)[1]


def scale2(r: np.ndarray, huber: bool, delta: float, n_par: int) -> float:
    """Variance factor of the Gauss-Newton covariance ``s2 * (J^T J)^-1`` of an M-estimate.

    Least squares: ``s2 = sum(r^2) / (n - p)``. Huber: the asymptotic formula of Huber (1981, eq. 7.6.10),
    ``s2 = K^2 [sum psi(r)^2 / (n - p)] / m^2`` with ``psi(r) = clip(r, -delta, delta)``, ``m`` the fraction of
    residuals inside ``delta`` (the mean of ``psi'``) and ``K = 1 + (p / n) var(psi') / m^2``. When fewer than 10 %
    of the residuals lie inside ``delta`` that formula is unstable, and the least-squares factor is used (a mild
    underestimate, about 1/1.25 in stderr for Gaussian residuals).
    """
    n = r.size
    dof = max(n - n_par, 1)
    if huber:
        inside = np.abs(r) <= delta
        m = float(inside.mean())
        if m >= 0.1:
            psi = np.clip(r, -delta, delta)
            k = 1.0 + (n_par / n) * (m * (1.0 - m)) / (m * m)
            return float(k * k * np.sum(psi * psi) / dof / (m * m))
    return float(np.sum(r * r) / dof)


def suggest(lo: float, hi: float, side: str, value: float | None = None) -> str:
    """A wider (or, for 'narrow', tighter) bound pair to suggest in a message."""
    if side == "lower":
        new_lo = lo / 10 if lo > 0 else lo - max(hi - lo, 1.0)
        return f"{new_lo:g}:{hi:g}"
    if side == "upper":
        new_hi = hi * 10 if hi > 0 and math.isfinite(hi) else hi + max(hi - lo, 1.0)
        return f"{lo:g}:{new_hi:g}"
    v = abs(value or 1.0)
    return f"{max(lo, v / 3):.3g}:{min(hi, v * 3):.3g}"
