"""The search: deterministic starts of the nonlinear parameters scored with the amplitudes projected out, TRF local
searches from the best of them (Kaufman's variable-projection Jacobian), then a joint polish of every free
parameter on the stated objective. The starts and local searches see at most :data:`SEARCH_POINTS` rows per run;
the best point is refined on every fitted row before the polish (``docs/fitting.md`` has the measurements).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from scalefit.errors import ConvergenceError
from scalefit.fitting.problem import Problem

#: Rows per run used by the start scoring and the local searches (the polish uses every fitted row).
SEARCH_POINTS = 500


def search(problem: Problem, thinned: Problem, *, n_starts: int, n_local: int, seed: int, max_nfev: int,
           law_name: str, n_runs: int) -> tuple[np.ndarray, int, int]:
    """The best nonlinear parameters ``theta`` (every nonlinear parameter, ``problem.nonlin`` order) from
    ``n_starts`` starts and ``n_local`` local searches on ``thinned`` (``problem`` itself when the runs are small),
    refined on ``problem``; and the number of starts and of objective evaluations. ConvergenceError when no start
    gives a finite objective."""
    points = starts(thinned, n_starts, seed)  # (n_starts, q)
    scores = np.empty(len(points))
    for i, theta in enumerate(points):
        scores[i] = thinned.project(theta)[0]
    finite = np.isfinite(scores)
    if not finite.any():
        raise ConvergenceError(
            f"law {law_name}: none of {len(points)} starts gives a finite objective on {n_runs} run(s). "
            "Check that the runs' LR and loss columns are right, or widen --bounds.",
            best=None,
        )
    order = [i for i in np.argsort(np.where(finite, scores, np.inf), kind="stable")[: max(1, n_local)] if finite[i]]
    n_evals = len(points)
    candidates = []
    for i in order:
        # on a thinned search problem a loose tolerance finds the basin; the refinement below converges
        theta, nfev = local_search(thinned, points[i], max_nfev, tol=1e-10 if thinned is problem else 1e-6)
        n_evals += nfev
        score = thinned.project(theta)[0]
        candidates.append((score, theta) if math.isfinite(score) else (scores[i], points[i]))
    _, theta = min(candidates, key=lambda c: c[0])
    if thinned is not problem:  # refine on every fitted row before the polish (cheap: few iterations)
        refined, nfev = local_search(problem, theta, max_nfev)
        n_evals += nfev
        if math.isfinite(problem.project(refined)[0]):
            theta = refined
    return theta, len(points), n_evals


def polish(problem: Problem, theta: np.ndarray, max_nfev: int, law_name: str) -> tuple[Any, float]:
    """TRF on the log residuals over every free parameter jointly, within bounds, from ``theta`` and its projected
    amplitudes: scipy's result and the objective at its end point (ConvergenceError when not finite)."""
    from scipy.optimize import least_squares

    nl_idx, lin_idx = problem.nonlin_idx, problem.lin_idx
    score, values = problem.project(theta)
    p0 = problem.fixed_values.copy()
    p0[nl_idx] = theta
    p0[lin_idx] = values
    lo_free, hi_free = problem.lower[problem.free], problem.upper[problem.free]
    res = least_squares(
        problem.residuals,
        inside(p0[problem.free], lo_free, hi_free),
        jac=problem.jacobian,
        bounds=(lo_free, hi_free),
        method="trf",
        loss=problem.lsq_loss(),
        f_scale=problem.delta,
        x_scale="jac",
        max_nfev=max_nfev,
        xtol=1e-12,
        ftol=1e-12,
        gtol=1e-10,
    )
    objective_value = problem.objective(problem.residuals(res.x))
    if not math.isfinite(objective_value):
        raise ConvergenceError(
            f"law {law_name}: the polish ended at a non-finite objective. Check the data or widen --bounds.",
            best=res.x,
        )
    return res, objective_value


def starts(problem: Problem, n_starts: int, seed: int) -> np.ndarray:
    """Deterministic starts of the nonlinear parameters, shape (n_starts, q): the defaults, then scrambled Sobol."""
    idx = problem.nonlin_idx
    q = idx.size
    base = problem.fixed_values[idx].copy()
    if q == 0:
        return base[None, :]
    free = problem.free[idx]
    lo, hi = problem.lower[idx], problem.upper[idx]
    out = np.repeat(base[None, :], n_starts, axis=0)
    nf = int(free.sum())
    if nf == 0 or n_starts == 1:
        return out[:1]
    from scipy.stats import qmc

    m = int(math.ceil(math.log2(max(n_starts - 1, 1))))
    u = qmc.Sobol(d=nf, scramble=True, seed=seed).random_base2(m)[: n_starts - 1]  # (n_starts-1, nf)
    flo, fhi = lo[free], hi[free]
    # finite search box: unbounded sides get the default +- a decade
    fdef = base[free]
    flo = np.where(np.isfinite(flo), flo, np.minimum(fdef, 0) - 10 * np.maximum(np.abs(fdef), 1))
    fhi = np.where(np.isfinite(fhi), fhi, np.maximum(fdef, 0) + 10 * np.maximum(np.abs(fdef), 1))
    logscale = (flo > 0) & (fhi / np.where(flo > 0, flo, 1) > 100)
    pts = np.where(
        logscale,
        np.exp(np.log(np.where(flo > 0, flo, 1)) + u * np.log(np.where(logscale, fhi / np.where(flo > 0, flo, 1), 1))),
        flo + u * (fhi - flo),
    )
    out[1:, free] = pts
    return out


def inside(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Move ``x`` strictly inside the bounds (least_squares needs a feasible start)."""
    span = np.where(np.isfinite(hi - lo), hi - lo, np.maximum(np.abs(x), 1.0))
    eps = 1e-9 * span
    return np.clip(x, lo + eps, hi - eps)


def local_search(problem: Problem, theta: np.ndarray, max_nfev: int, tol: float = 1e-10) -> tuple[np.ndarray, int]:
    """TRF on the projected log residuals over the free nonlinear parameters (Kaufman Jacobian)."""
    from scipy.optimize import least_squares

    free_nl = problem.free[problem.nonlin_idx]
    theta = np.asarray(theta, dtype=np.float64).copy()
    if not free_nl.any():
        return theta, 0
    lo, hi = problem.lower[problem.nonlin_idx][free_nl], problem.upper[problem.nonlin_idx][free_nl]
    theta0 = theta.copy()
    res = least_squares(
        lambda t: problem.projected_residuals(t, free_nl, theta0),
        inside(theta[free_nl], lo, hi),
        jac=lambda t: problem.projected_jacobian(t, free_nl, theta0),
        bounds=(lo, hi),
        method="trf",
        loss=problem.lsq_loss(),
        f_scale=problem.delta,
        max_nfev=max_nfev,
        xtol=tol,
        ftol=tol,
        gtol=tol,
    )
    theta[free_nl] = res.x
    return theta, int(res.nfev)
