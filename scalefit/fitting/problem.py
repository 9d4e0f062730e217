"""The fit problem: every fitted row of every run stacked, the law's design, and the residuals and Jacobians of
variable projection (amplitudes solved for fixed exponents) and of the joint polish, with the prior rows."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from scalefit.fitting.loss import huber, least_squares_loss
from scalefit.laws.base import fd_row


@dataclass
class Problem:
    """Everything the objective needs, stacked over runs (built once per fit)."""

    law: Any
    names: tuple[str, ...]  # all parameters, law order
    lin: tuple[str, ...]  # linear names (law order)
    nonlin: tuple[str, ...]  # every nonlinear name, fixed ones included (law order)
    preps: list[Any]  # one law.prepare per run
    sizes: list[int]  # observed points per run
    loss: np.ndarray  # (n,) observed loss
    logloss: np.ndarray  # (n,)
    lower: np.ndarray  # (P,) bounds, law order
    upper: np.ndarray  # (P,)
    free: np.ndarray  # (P,) bool: fitted (not fixed)
    fixed_values: np.ndarray  # (P,) value used where not free
    huber: bool
    delta: float
    cache: Any = None  # (theta bytes, values, design, IRLS weights) of the last projection
    # Gaussian prior on log parameters, as extra residual rows ``w (log p - mu)`` (:mod:`.priors`)
    prior_idx: np.ndarray = None  # (k,) indices into ``names``
    prior_mu: np.ndarray = None  # (k,) log centres
    prior_w: np.ndarray = None  # (k,) delta / sd

    def __post_init__(self) -> None:
        if self.prior_idx is None:
            self.prior_idx = np.zeros(0, dtype=np.int64)
            self.prior_mu = np.zeros(0)
            self.prior_w = np.zeros(0)

    @property
    def n_data(self) -> int:
        return int(self.loss.size)

    def prior_rows(self, p: np.ndarray) -> np.ndarray:
        """Prior residual rows ``w (log p - mu)`` for a full parameter vector ``p`` (law order), shape (k,)."""
        with np.errstate(all="ignore"):
            return self.prior_w * (np.log(p[self.prior_idx]) - self.prior_mu)

    def prior_jac(self, p: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """d prior rows / d p[cols], shape (k, len(cols)) (``cols`` index ``names``)."""
        out = np.zeros((self.prior_idx.size, len(cols)))
        for r, i in enumerate(self.prior_idx):
            hit = np.flatnonzero(np.asarray(cols) == i)
            if hit.size:
                out[r, hit[0]] = self.prior_w[r] / p[i]
        return out

    def lsq_loss(self) -> Any:
        """The ``loss`` argument of ``least_squares``: Huber on data rows, plain squares on prior rows."""
        return least_squares_loss(self.huber, self.n_data, int(self.prior_idx.size))

    @property
    def lin_idx(self) -> np.ndarray:
        return np.array([self.names.index(n) for n in self.lin], dtype=np.int64)

    @property
    def nonlin_idx(self) -> np.ndarray:
        return np.array([self.names.index(n) for n in self.nonlin], dtype=np.int64)

    # ---- model ----
    def _theta(self, theta: np.ndarray) -> dict[str, float]:
        return dict(zip(self.nonlin, map(float, theta)))

    def design(self, theta: np.ndarray) -> np.ndarray:
        """Stacked design, shape (n_linear, n); ``theta`` holds every nonlinear parameter (``nonlin`` order)."""
        t = self._theta(theta)
        return np.concatenate([np.asarray(self.law.design(t, p), dtype=np.float64) for p in self.preps], axis=1)

    def design_jac(self, theta: np.ndarray, design: np.ndarray) -> np.ndarray:
        """Stacked d design / d theta, shape (n_nonlinear, n_linear, n), rows in ``nonlin`` order.

        Rows come from ``law.design_jac`` (in the law's ``nonlinear_names`` order); rows of free parameters the
        law does not differentiate (a parameter the law holds fixed but the user freed, or a law without
        ``design_jac``) come from finite differences of the design; rows of fixed parameters are 0.
        """
        out = np.zeros((len(self.nonlin),) + design.shape)
        t = self._theta(theta)
        law_rows = tuple(self.law.nonlinear_names)
        parts = [self.law.design_jac(t, p) for p in self.preps]
        have: set[str] = set()
        if law_rows and all(j is not None for j in parts):
            stacked = np.concatenate([np.asarray(j, dtype=np.float64) for j in parts], axis=2)
            for r, name in enumerate(law_rows):
                out[self.nonlin.index(name)] = stacked[r]
            have = set(law_rows)
        free_nl = self.free[self.nonlin_idx]
        for j, name in enumerate(self.nonlin):
            if free_nl[j] and name not in have:
                out[j] = fd_row(self.design, theta, j, self.lower[self.nonlin_idx[j]],
                                 self.upper[self.nonlin_idx[j]])
        return out

    def objective(self, r: np.ndarray) -> float:
        """Huber (or half squared) loss summed over the data residuals ``r[:n_data]``, plus half the sum of
        squares of the prior rows ``r[n_data:]`` (if any)."""
        n = self.n_data
        rd, rp = r[:n], r[n:]
        pen = float(0.5 * np.dot(rp, rp))
        if not self.huber:
            return float(0.5 * np.dot(rd, rd)) + pen
        return float(np.sum(huber(rd, self.delta))) + pen

    def _theta_full(self, theta: np.ndarray) -> np.ndarray:
        p = self.fixed_values.copy()
        p[self.nonlin_idx] = theta
        return p

    # ---- variable projection ----
    def project(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Best amplitudes for fixed nonlinear ``theta`` and the resulting objective (inf if not finite)."""
        try:
            with np.errstate(all="ignore"):
                design = self.design(theta)  # (k, n)
        except (FloatingPointError, ValueError, ZeroDivisionError, OverflowError):
            return math.inf, np.full(len(self.lin), np.nan)
        if not np.all(np.isfinite(design)):
            return math.inf, np.full(len(self.lin), np.nan)
        lin_idx = self.lin_idx
        free_lin = self.free[lin_idx]
        fixed_part = self.fixed_values[lin_idx][~free_lin] @ design[~free_lin] if (~free_lin).any() else 0.0
        x = (design[free_lin] / self.loss).T  # (n, k_free): relative residual design
        target = 1.0 - fixed_part / self.loss  # (n,)
        lo, hi = self.lower[lin_idx][free_lin], self.upper[lin_idx][free_lin]
        w = np.ones_like(target)
        coef = np.zeros(x.shape[1])
        for _ in range(3 if self.huber else 1):
            coef = _bounded_wls(x, target, w, lo, hi)
            rel = x @ coef - target
            if not self.huber:
                break
            w = np.minimum(1.0, self.delta / np.maximum(np.abs(rel), 1e-300))
        values = self.fixed_values[lin_idx].copy()
        values[free_lin] = coef
        pred = values @ design
        self.cache = (np.asarray(theta, dtype=np.float64).tobytes(), values, design, w)
        if not np.all(pred > 0):
            return math.inf, values
        r = np.log(pred) - self.logloss
        if self.prior_idx.size:
            r = np.concatenate([r, self.prior_rows(self._theta_full(np.asarray(theta, dtype=np.float64)))])
        return self.objective(r), values

    def _projection(self, theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        key = np.asarray(theta, dtype=np.float64).tobytes()
        if self.cache is None or self.cache[0] != key:
            self.project(theta)
        _, values, design, w = self.cache
        return 0.0, values, design, w

    def projected_residuals(self, t_free: np.ndarray, free_nl: np.ndarray, theta0: np.ndarray) -> np.ndarray:
        """Log residuals at the projected amplitudes, as a function of the free nonlinear parameters only."""
        theta = theta0.copy()
        theta[free_nl] = t_free
        _, values, design, _ = self._projection(theta)
        with np.errstate(all="ignore"):
            r = np.log(values @ design) - self.logloss
        if self.prior_idx.size:
            r = np.concatenate([r, self.prior_rows(self._theta_full(theta))])
        return np.where(np.isfinite(r), r, 1e3)

    def projected_jacobian(self, t_free: np.ndarray, free_nl: np.ndarray, theta0: np.ndarray) -> np.ndarray:
        """Kaufman's variable-projection Jacobian of :meth:`projected_residuals`, shape (n, n_free_nonlinear).

        ``d r / d theta_j = (values @ d design_j) / Lhat`` with its component along the amplitude directions
        ``design_k / Lhat`` (weighted by the projection's IRLS weights) removed: the amplitudes absorb that part
        when theta moves. Amplitudes on a bound do not absorb anything and are not projected out.
        """
        theta = theta0.copy()
        theta[free_nl] = t_free
        _, values, design, w = self._projection(theta)
        with np.errstate(all="ignore"):
            pred = values @ design  # (n,)
            djac = self.design_jac(theta, design)[free_nl]  # (q_free, k, n)
            g = (np.einsum("k,qkn->nq", values, djac)) / pred[:, None]  # (n, q_free)
            lin_idx = self.lin_idx
            lo, hi = self.lower[lin_idx], self.upper[lin_idx]
            absorb = self.free[lin_idx] & (values > lo) & (values < hi)
            if absorb.any():
                x = (design[absorb] / pred).T  # (n, k_absorb)
                sw = np.sqrt(w)[:, None]
                coef, *_ = np.linalg.lstsq(x * sw, g * sw, rcond=None)
                g = g - x @ coef
        if self.prior_idx.size:  # prior rows depend on theta only: nothing to project out
            g = np.vstack([g, self.prior_jac(self._theta_full(theta), self.nonlin_idx[free_nl])])
        return np.where(np.isfinite(g), g, 0.0)

    # ---- full parameter vector ----
    def full(self, x_free: np.ndarray) -> np.ndarray:
        out = self.fixed_values.copy()
        out[self.free] = x_free
        return out

    def residuals(self, x_free: np.ndarray) -> np.ndarray:
        """Log residuals on every fitted row, then the prior rows (if any)."""
        p = self.full(x_free)
        with np.errstate(all="ignore"):
            pred = p[self.lin_idx] @ self.design(p[self.nonlin_idx])
            r = np.log(pred) - self.logloss
        if self.prior_idx.size:
            r = np.concatenate([r, self.prior_rows(p)])
        return np.where(np.isfinite(r), r, 1e3)

    def jacobian(self, x_free: np.ndarray) -> np.ndarray:
        """d r / d x_free, shape (n, n_free)."""
        p = self.full(x_free)
        theta, values = p[self.nonlin_idx], p[self.lin_idx]
        with np.errstate(all="ignore"):
            design = self.design(theta)  # (k, n)
            pred = values @ design  # (n,)
            jac = np.empty((len(self.names), pred.size))
            jac[self.lin_idx] = design / pred
            if len(self.nonlin):
                djac = self.design_jac(theta, design)  # (q, k, n)
                jac[self.nonlin_idx] = np.einsum("k,qkn->qn", values, djac) / pred
        jac = jac[self.free].T
        if self.prior_idx.size:
            jac = np.vstack([jac, self.prior_jac(p, np.flatnonzero(self.free))])
        return np.where(np.isfinite(jac), jac, 0.0)


def _bounded_wls(x: np.ndarray, y: np.ndarray, w: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """argmin sum w (x c - y)^2 subject to lo <= c <= hi (closed form first, BVLS when a bound is active)."""
    sw = np.sqrt(w)
    xw, yw = x * sw[:, None], y * sw
    # column scaling: amplitudes differ by orders of magnitude
    scale = np.linalg.norm(xw, axis=0)
    scale[scale == 0] = 1.0
    xs = xw / scale
    coef, *_ = np.linalg.lstsq(xs, yw, rcond=None)
    coef = coef / scale
    if np.all(coef >= lo) and np.all(coef <= hi):
        return coef
    from scipy.optimize import lsq_linear

    res = lsq_linear(xs, yw, bounds=(lo * scale, hi * scale), method="bvls")
    return np.clip(res.x / scale, lo, hi)
