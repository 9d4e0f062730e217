"""The search behind every loss-law fit: Huber on log residuals, a variable-projection start grid, a BFGS polish.

Objective (Besiroglu et al. 2024): ``sum_i w_i huber(log Lhat_i - log L_i)`` with delta = 1e-3 (the Huber loss of
:mod:`scalefit.fitting.loss`, shared with the curve fitter), where
``log Lhat = LSE_j(u_j + g_j(theta))`` for a :class:`~scalefit.laws.scaling_base.ScalingLaw`; ``u_j`` is the log
of amplitude j. ``w`` holds bootstrap multiplicities (1 for a plain fit).

Starts: for fixed exponents the law is linear in its amplitudes, so a grid over the exponents solves the
amplitudes by non-negative least squares on the relative residual (a cheap stand-in for the log-Huber inner
problem); the best cells start BFGS on all parameters with the exact gradient. On Epoch's 240 Chinchilla points
this reaches the objective of Epoch's 4,500-start L-BFGS-B grid about a hundred times faster
(``benchmarks/hparams.py``). ``method="grid"`` runs that start grid (generalised to any law: log amplitudes
0..25 by 5, log E -1..1 by 0.5, exponents 0..2 by 0.5) for comparison. BFGS leaves the exponents unbounded;
a solution outside the ParamSpec bounds is polished again by L-BFGS-B within them.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Optional

import numpy as np

from scalefit.errors import FitInputError
from scalefit.fitting.loss import huber
from scalefit.laws.scaling_base import ScalingLaw
from scalefit.results.options import DEFAULT_DELTA

#: The Huber delta on log loss: the curve fitter's default (Besiroglu et al. 2024 use the same 1e-3).
HUBER_DELTA = DEFAULT_DELTA
#: L-BFGS-B options of the grid method: the objective is ~1e-3, so the default tolerances stop early.
LBFGS_OPTIONS = {"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000}
_BFGS = {"gtol": 1e-10, "maxiter": 10_000}
#: Called after each start with (done, total): the CLI's progress bar.
Progress = Optional[Callable[[int, int], None]]


class Objective:
    """Summed Huber of log residuals in the log-sum-exp form x = (u_1 .. u_k, theta), with its gradient."""

    def __init__(self, law: ScalingLaw, lN: np.ndarray, lD: np.ndarray, lL: np.ndarray,
                 weights: np.ndarray | None = None):
        self.law, self.lN, self.lD, self.lL = law, lN, lD, lL  # (n,)
        self.k = len(law.linear_names)
        self.w = np.ones_like(lL) if weights is None else weights  # bootstrap multiplicities, (n,)

    def residuals(self, x: np.ndarray) -> np.ndarray:
        """``log Lhat - log L`` at each point, shape (n,)."""
        pre = x[:self.k, None] + self.law.log_terms(x[self.k:], self.lN, self.lD)  # (k, n)
        m = pre.max(axis=0)
        return m + np.log(np.exp(pre - m).sum(axis=0)) - self.lL

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        theta = x[self.k:]
        pre = x[:self.k, None] + self.law.log_terms(theta, self.lN, self.lD)  # (k, n)
        m = pre.max(axis=0)
        ex = np.exp(pre - m)
        s = ex.sum(axis=0)
        r = m + np.log(s) - self.lL
        dh = self.w * np.clip(r, -HUBER_DELTA, HUBER_DELTA)  # Huber derivative, (n,)
        soft = ex / s  # d lse / d pre, (k, n)
        g_u = (dh * soft).sum(axis=1)
        jac = self.law.log_terms_jac(theta, self.lN, self.lD)  # (m, k, n)
        g_t = np.einsum("n,kn,mkn->m", dh, soft, jac)
        return float((self.w * huber(r, HUBER_DELTA)).sum()), np.concatenate([g_u, g_t])


def to_natural(law: ScalingLaw, x: np.ndarray) -> np.ndarray:
    """Parameter values in ``law.names`` order from the log-sum-exp vector."""
    k = len(law.linear_names)
    return np.concatenate([np.exp(x[:k]), x[k:]])


def to_lse(law: ScalingLaw, values: np.ndarray, floor: float = 1e-12) -> np.ndarray:
    """The log-sum-exp vector of parameter values (amplitudes floored at ``floor`` before the log)."""
    k = len(law.linear_names)
    v = np.asarray(values, float)
    return np.concatenate([np.log(np.maximum(v[:k], floor)), v[k:]])


def vp_grid(law: ScalingLaw, N: np.ndarray, D: np.ndarray, L: np.ndarray, w: np.ndarray,
            size: int | None = None) -> list[tuple[float, np.ndarray]]:
    """For every exponent cell of the law's grid (thinned to ``size`` values per exponent): non-negative least
    squares for the amplitudes on the relative residual, scored by the log-Huber objective. Returns
    (objective, values in ``names`` order), best first."""
    from scipy.optimize import nnls

    axes = law.grid()
    if size is not None:
        axes = {k: np.linspace(v.min(), v.max(), size) for k, v in axes.items()}
    lN, lD = np.log(N), np.log(D)
    sw = np.sqrt(w)
    out = []
    for theta in itertools.product(*(axes[k] for k in law.nonlinear_names)):
        th = np.array(theta)
        M = np.exp(law.log_terms(th, lN, lD)).T / L[:, None]  # (n, k)
        coef, _ = nnls(M * sw[:, None], sw)
        pred = M @ coef * L
        if np.any(pred <= 0) or not np.all(np.isfinite(pred)):
            continue
        obj = float((w * huber(np.log(pred) - np.log(L), HUBER_DELTA)).sum())
        out.append((obj, np.concatenate([coef, th])))
    out.sort(key=lambda t: t[0])
    return out


def grid_starts(law: ScalingLaw) -> list[np.ndarray]:
    """Hoffmann/Epoch's start grid, for any law: log E in -1..1 by 0.5, other log amplitudes 0..25 by 5, exponents
    0..2 by 0.5. For Chinchilla it is Epoch's 6 x 6 x 5 x 5 x 5 = 4,500 starts."""
    axes = [np.arange(-1, 1.5, 0.5) if n == "E" else np.arange(0, 30, 5) for n in law.linear_names]
    axes += [np.arange(0, 2.5, 0.5) for _ in law.nonlinear_names]
    return [np.array(x, float) for x in itertools.product(*axes)]


def bounds(law: ScalingLaw) -> list[tuple[float | None, float | None]]:
    """L-BFGS-B bounds in the log-sum-exp form: log amplitudes free, exponents within their ParamSpec bounds."""
    k = len(law.linear_names)
    return [(None, None)] * k + [(p.lower, p.upper) for p in law.params[k:]]


def _inside(law: ScalingLaw, x: np.ndarray) -> bool:
    k = len(law.linear_names)
    return all(p.lower <= v <= p.upper for p, v in zip(law.params[k:], x[k:]))


def solve(law: ScalingLaw, N: np.ndarray, D: np.ndarray, L: np.ndarray, w: np.ndarray, *, method: str = "vp",
          extra_starts: Any = (), n_polish: int = 4, grid_size: int | None = None,
          progress: Progress = None) -> tuple[np.ndarray, float, int]:
    """The best fit: (x in log-sum-exp form, objective, number of starts)."""
    from scipy.optimize import minimize

    obj = Objective(law, np.log(N), np.log(D), np.log(L), w)
    if method == "vp":
        starts = [to_lse(law, v) for _, v in vp_grid(law, N, D, L, w, grid_size)[:n_polish]]
    elif method == "grid":
        starts = grid_starts(law)
    else:
        raise FitInputError(f"unknown method {method!r}; use 'vp' or 'grid'.", value=method)
    starts = list(extra_starts) + starts
    box = bounds(law)
    best = None
    for i, x0 in enumerate(starts):
        if method == "grid":  # Epoch's recipe, kept as the reference
            res = minimize(obj, x0, jac=True, method="L-BFGS-B", bounds=box, options=LBFGS_OPTIONS)
        else:  # BFGS: same optimum; L-BFGS-B's tiny BLAS calls cost ~10 ms each on a loaded multi-core host
            res = minimize(obj, x0, jac=True, method="BFGS", options=_BFGS)
            if not _inside(law, res.x):
                k = len(law.linear_names)
                x1 = np.concatenate([res.x[:k], np.clip(res.x[k:], [b[0] for b in box[k:]], [b[1] for b in box[k:]])])
                res = minimize(obj, x1, jac=True, method="L-BFGS-B", bounds=box, options=LBFGS_OPTIONS)
        if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
            best = res
        if progress is not None:
            progress(i + 1, len(starts))
    if best is None:
        raise FitInputError(f"no start gave a finite objective: the losses cannot be fitted by {law.formula}.")
    return best.x, float(best.fun), len(starts)
