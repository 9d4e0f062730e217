"""Box-constrained minimisers: projected L-BFGS (ours: numpy, no BLAS) and the MPL repository's projected Adam."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.einsum("i,i->", a, b))  # no BLAS (threaded BLAS stalls on a loaded machine)


@dataclass
class _BoxResult:
    x: np.ndarray
    fun: float
    nit: int
    nfev: int
    message: str
    success: bool


def _lbfgs_box(fun: Callable[[np.ndarray], tuple[float, np.ndarray]], x0: np.ndarray, lower: np.ndarray,
               upper: np.ndarray, *, maxiter: int, ftol: float, gtol: float = 1e-12, m: int = 10,
               maxls: int = 20, negligible: float = 0.0) -> _BoxResult:
    """Minimise ``fun`` (value, gradient) over the box [lower, upper]: projected L-BFGS (Bertsekas' two-metric
    projection with an L-BFGS metric on the free variables).

    Each iteration fixes the variables at a bound whose gradient points outwards, takes the L-BFGS direction
    (memory ``m``) on the others, and backtracks along the projected path ``clip(x + t d)`` until the Armijo
    condition holds. It stops when the relative reduction of f in one iteration is at most ``ftol`` (scipy's
    ``ftol``; only after a quasi-Newton step), when the projected gradient is at most ``gtol``, or after ``maxiter``
    iterations (when the last 10 then gained less than ``negligible``, it counts as converged and says so). This
    replaces scipy's L-BFGS-B here: that one calls BLAS on every iteration, and threaded BLAS on
    a loaded machine made one iteration cost more than the whole objective (``benchmarks/RESULTS.md``, "Schedule
    optimizer"). Pure numpy, no BLAS: O(m n) per iteration.
    """
    x = np.clip(np.asarray(x0, dtype=np.float64), lower, upper)
    f, g = fun(x)
    nfev, nit, mem = 1, 0, []  # mem: (s, y, 1 / s.y), oldest first
    history = [f]  # f after each iteration, to say how much the last ones still gained at the cap
    message, success = "", False
    while nit < maxiter:
        nit += 1
        bound = ((x <= lower) & (g > 0)) | ((x >= upper) & (g < 0))  # held at a bound this iteration
        gf = np.where(bound, 0.0, g)
        if not np.max(np.abs(gf)) > gtol:
            message, success = "CONVERGENCE: NORM OF PROJECTED GRADIENT <= PGTOL", True
            break
        d = -gf  # two-loop recursion: d = -H gf
        alphas = []
        for s, y, rho in reversed(mem):
            a = rho * _dot(s, d)
            alphas.append(a)
            d -= a * y
        if mem:
            s, y, rho = mem[-1]
            d *= 1.0 / (rho * _dot(y, y))
        for (s, y, rho), a in zip(mem, reversed(alphas)):
            d += (a - rho * _dot(y, d)) * s
        d[bound] = 0.0
        t, newton = 1.0, True
        if not mem or _dot(gf, d) >= 0:  # no memory, or not a descent direction: steepest descent
            mem, newton = [], False
            d = -gf
            t = 1.0 / math.sqrt(_dot(gf, gf))
        for k in range(maxls):
            xt = np.clip(x + t * d, lower, upper)
            ft, gt = fun(xt)
            nfev += 1
            if ft <= f + 1e-4 * _dot(g, xt - x):
                break
            t *= 0.5 if k < 2 else 0.1
        else:
            if mem:  # retry once from steepest descent
                mem = []
                continue
            message = "ABNORMAL: LINE SEARCH FAILED"
            break
        s, y = xt - x, gt - g
        sy = _dot(s, y)
        if sy > 1e-12 * _dot(y, y):  # curvature condition; skip the update otherwise
            mem.append((s, y, 1.0 / sy))
            if len(mem) > m:
                mem.pop(0)
        reduction = f - ft
        x, f, g = xt, ft, gt
        history.append(f)
        if newton and reduction <= ftol * max(abs(f), 1.0):  # (a short steepest-descent step proves nothing)
            message, success = "CONVERGENCE: RELATIVE REDUCTION OF F <= FTOL", True
            break
    if not message:
        k = min(10, len(history) - 1)
        gain = history[-k - 1] - f if k else math.inf
        if k == 10 and gain < negligible:
            message, success = f"CONVERGED: the last 10 iterations gained {gain:.1e} < {negligible:.0e}", True
        else:
            message = (f"STOP: ITERATION LIMIT {maxiter}, the last {k} iterations gained {gain:.1e}"
                       if k else f"STOP: ITERATION LIMIT {maxiter}")
    return _BoxResult(x=x, fun=float(f), nit=nit, nfev=nfev, message=message, success=success)


def _project_capped_simplex(x: np.ndarray) -> np.ndarray:
    """Euclidean projection onto ``{x >= 0, sum x <= 1}`` (sort-based, O(n log n))."""
    y = np.maximum(x, 0.0)
    if y.sum() <= 1.0:
        return y
    u = np.sort(x)[::-1]
    css = np.cumsum(u)
    k = np.arange(1, x.size + 1)
    rho = int(np.flatnonzero(u - (css - 1.0) / k > 0)[-1])
    theta = (css[rho] - 1.0) / (rho + 1)
    return np.maximum(x - theta, 0.0)


def _adam(f: Callable, eta0: np.ndarray, lr_of: Callable, *, top: float, floor: float, iters: int,
          step: float) -> tuple[np.ndarray, int, int]:
    """Projected Adam over per-step decrement fractions ``x = d / (top - floor)`` (the MPL repository's method)."""
    R = top - floor
    eta0 = np.minimum.accumulate(np.clip(eta0, floor, top))
    x = np.maximum(-np.diff(np.concatenate(([top], eta0))), 0.0) / R
    m = np.zeros_like(x)
    v = np.zeros_like(x)
    b1, b2, eps = 0.9, 0.999, 1e-12
    best_x, best_val = x.copy(), np.inf
    for it in range(1, iters + 1):
        eta = np.maximum(top - R * np.cumsum(x), floor)  # rounding may leave sum(x) a hair above 1
        loss, g = f(lr_of(eta), True)
        if loss < best_val:
            best_x, best_val = x.copy(), loss
        gx = -R * np.cumsum(g[::-1])[::-1]
        m = b1 * m + (1 - b1) * gx
        v = b2 * v + (1 - b2) * gx * gx
        x = _project_capped_simplex(x - step * (m / (1 - b1**it)) / (np.sqrt(v / (1 - b2**it)) + eps))
    eta = np.maximum(top - R * np.cumsum(x), floor)
    if f(lr_of(eta), False)[0] < best_val:
        best_x = x
    return np.maximum(top - R * np.cumsum(best_x), floor), iters, iters + 1
