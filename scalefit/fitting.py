"""The one generic fitter of scalefit: any registered law, fitted jointly to several runs.

Objective
---------
The Huber loss (``delta = 1e-3``) of the log-loss residuals ``r = log Lhat - log L`` on every observed row,
summed over all runs fitted jointly (``loss="mse"``: half the sum of squares instead). With ``delta = 1e-3``
residuals above 0.1 % of the loss count linearly, so spikes and a mis-logged row do not steer the fit.

Algorithm (variable projection, then a joint polish)
----------------------------------------------------
Every curve law here is linear in its amplitudes for fixed exponents (``L0, A, C`` for Tissue; ``L0, A, B`` for
MPL): ``Lhat = values @ law.design(theta)``. So

1. **Projection.** For a fixed nonlinear ``theta`` the amplitudes are solved, not searched: a weighted linear
   least-squares problem on relative residuals ``(Lhat - L) / L`` (a first-order match of the log residual),
   with Huber weights by three IRLS passes. The small problem is solved in closed form (column-scaled lstsq)
   and falls back to ``scipy.optimize.lsq_linear`` (BVLS) only when the solution leaves the amplitude bounds.
2. **Starts.** ``n_starts`` deterministic points of ``theta`` (the law's defaults, then a scrambled Sobol sequence
   seeded by ``seed``, log-spaced for parameters whose bounds span more than two decades) are scored by the
   projected objective.
3. **Local search.** From the best ``n_local`` starts, TRF (``least_squares``, ``loss="huber"``,
   ``f_scale=delta``) over ``theta`` alone on the projected log residuals, with Kaufman's variable-projection
   Jacobian (the law's ``design_jac`` with the amplitude directions projected out). The best end point wins.
4. **Polish.** TRF on the log residuals over *all* free parameters jointly, within bounds, with the analytic
   Jacobian from ``design`` and ``design_jac`` (finite differences only for parameters a law does not
   differentiate). This makes the final point an optimum of the stated objective (the projection's relative
   residual is only first-order in the log residual), which the covariance below needs.

Dense logs: a run with more than ``max_points`` (5000) observed rows is thinned to that many evenly spaced rows
(a message and an :class:`AssumptionWarning` say so); steps 2-3 use at most ``SEARCH_POINTS`` (500) rows per run
with a loose tolerance, then step 3 is repeated once on all fitted rows before the polish.

What we measured (2-core AMD EPYC, ``benchmarks/curve_fit.py``, MPL reference curves, protocol a, 100M):

===========================================  =======  ==========  ==============================================
variant                                      fit (s)  objective   note
===========================================  =======  ==========  ==============================================
starts + joint TRF polish of 3 (no step 3)    14.4    1.70682e-5  TRF crawls ~700 iterations into the beta/gamma
                                                                  bounds (dogbox and L-BFGS-B were worse)
+ VarPro local search, finite-diff. Jacobian   0.36   1.70656e-5  13-21 iterations, then a 3-4 iteration polish
+ Kaufman Jacobian (the default)               0.20   1.70656e-5  same optimum
===========================================  =======  ==========  ==============================================

A 1,000,000-step dense simulated cosine run (every step logged; shared 2-core Intel Xeon): Tissue 0.2 s; MPL with
its default shape prior 0.95 s wall, 1.07 s CPU (107 evaluations; quiet machine), and without the prior 2.0-2.9 s
wall, 2.0 s CPU (about 125 evaluations: ~95 designs and ~20 design_jacs on the 500 search rows, then ~35 of each on
the 5,000 rows of the refinement and the polish; load average ~3); peak traced memory 38 / 183 MiB.
The MPL fit took 14 s on the same machine before its design calls stopped summing over every decrement of the
schedule (``scalefit/laws/multipower.py``, "Cost and compression"), and 92 s before the thinned search and the
loose search tolerance.

Which objective predicts held-out schedules best (chosen without the test curves)
---------------------------------------------------------------------------------
On the reference curves the minimiser of the stated objective sits on the MPL paper's theory bounds (``beta`` ->
0.01, ``gamma`` -> 1 in protocol a): the data prefer a nearly logarithmic, non-saturating loss drop. For small
beta, ``B G(x) ~ (B beta) log(1 + C x)``, so only ``B * beta`` is determined: the flattest direction of the
scaled Gauss-Newton Hessian at the optimum is ``-0.70 B + 0.71 beta`` (eigenvalue 1.4e-10 of a largest 5.3,
protocol a, both sizes; ``benchmarks/identifiability.py``). The valley is not flat towards the paper's exponents:
moving (beta, gamma) to (0.59, 0.63) raises the objective by 3 % (25M a), 9 % (100M a), 14 % (25M b), 80 %
(100M b). The fitter names such directions in its :class:`IllConditionedWarning` ("flattest direction ...").

Training-run cross-validation (forward chaining at 50 % / 70 % of each training run, and leave-one-run-out where the
rest still has an LR decay; ``benchmarks/identifiability.py``) could not choose well: the weak priors' gains are
about 2 standard errors (sd 4: +0.00008, sd 2: +0.00012 in PredE), the rest within one, and its single-size pick (sd
1) predicts the held-out schedules worse than no prior (test PredE 0.00164 vs 0.00155). What it cannot see is the
long or unseen schedule: 24,000-step training runs say nothing about how the drop saturates over 72,000 steps. The
official MPL code predicts better only because its AdamW stops after ~90 steps near its start,
``C = 1, beta = gamma = 0.5``, and early stopping acts like a quadratic penalty towards the start (Sjoeberg & Ljung
1995). The default makes that regulariser explicit and deterministic (:data:`DEFAULT_PRIORS`): a Gaussian prior on
``log C``, ``log beta``, ``log gamma`` centred on that start (the law's ``ParamSpec.default``), sd 0.01. The sd was
chosen on *other* data, the noisy Schaipp et al. curves (``benchmarks/mpl_prior.py``: the largest sd within one
paired standard error of the best mean error of 111 held-out final validation losses; 0.01 is also the smallest sd
tried, and 0.03 is as good within the noise, so the choice says "hold the shape", not "exactly 0.01"):

=======  ===================  ===========================================================================
sd       Schaipp mean |dVal|  MPL reference (not used to choose): mean PredE over 25M/100M x protocols a/b
=======  ===================  ===========================================================================
none     0.0443               0.00155
1        0.0271               0.00164
0.3      0.0145               0.00181
0.1      0.0145               0.00145
0.03     0.0120               0.00126
0.01     0.0119 (chosen)      0.00124 (official code: 0.00147)
=======  ===================  ===========================================================================

Choosing the sd on one MPL model size's test curves and reading the other size gives the same sd both ways. The
prior rows ``delta (log p - log centre) / sd`` join the least-squares problem. In effect **the default holds the
shape near (1, 0.5, 0.5) and fits L0, A, B, alpha**: on runs that do determine a different shape (simulated with
C 2, gamma 0.6 on five schedules with sharp drops) C stays near 1 and gamma moves to compensate (0.63-0.66). The fit
says when the data pull a parameter more than 3 prior sd from its centre (a message and an
:class:`AssumptionWarning`: compare with ``--prior none`` on held-out runs), and "the prior holds them" when the
data alone leave it undetermined. Stderr (and so prediction intervals) include the prior, i.e. they do not carry the
shape's real uncertainty. The same prior applies to ``variant="official"`` (the sd was chosen with the paper form).
``prior={}`` (CLI ``--prior none``) fits the plain objective; a user-given ``prior`` replaces the default; an entry
is left out, with a message, when the user fixes its parameter or gives bounds that exclude its centre or zero.

Uncertainties and status
------------------------
The covariance is Gauss-Newton at the optimum, ``Cov = s^2 (J^T J)^-1`` with ``J`` the Jacobian of the log
residuals over the free parameters not on a bound and ``s^2`` Huber's (1981) asymptotic variance factor of an
M-estimate (:func:`_scale2`; the plain residual variance for ``loss="mse"``). We measured the alternative the
brief suggested, ``s^2 = sum(W r^2)/(n-p)`` with IRLS weights ``W = min(1, delta/|r|)`` in ``(J^T W J)^-1``: on
simulated Tissue curves with Gaussian noise 3x delta its 90 % intervals covered only 63-68 %, against 91-92 % for
Huber's factor (``tests/test_fitting.py`` checks coverage). Loss-curve residuals of real runs are autocorrelated
(validation loss on fixed batches, slow drifts): lag-1 autocorrelation 0.6-0.8 on the bundled val_loss curves and
0.67-0.84 on the MPL reference curves, ~0 on per-step training loss. Intervals that assume independence then cover
far less than nominal (32 % for a nominal 90 % at autocorrelation 0.9). ``errors="ar1"`` (the default) multiplies
``s^2`` by AR(1) noise's long-run variance factor ``(1 + rho) / (1 - rho)``, with ``rho`` matched by moments to the
residuals' lag-1 autocorrelation through the fit's hat matrix (:func:`_ar1_rho`: a fit absorbs the slow part of the
noise, so the raw residual autocorrelation is too low, and so is the residual variance, which it also corrects);
that brings the coverage back to 82-98 % (``benchmarks/interval_coverage.py``). ``errors="iid"`` keeps the
independent-residual covariance. Either way the covariance carries noise only, not the law's error on a schedule
it never saw: ``law_error=True`` (the default, as in the CLI) measures that error by refits on the training runs
(:mod:`scalefit.law_error`) and prediction intervals add it. Parameters on a bound
(scipy's ``active_mask`` idea) get no stderr, a :class:`ParameterAtBoundWarning` and status AT_BOUND; a singular
``J^T J`` gives NO_COVARIANCE; a condition number above ``1e10`` of the correlation matrix, or a relative stderr
above 1, gives an :class:`IllConditionedWarning` naming the parameter and a fix.
"""

from __future__ import annotations

import hashlib
import math
import time
import warnings
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

import numpy as np

from scalefit.errors import (
    AssumptionWarning,
    ConvergenceError,
    FitInputError,
    IllConditionedWarning,
    ParameterAtBoundWarning,
)
from scalefit.metrics import RunMetrics, curve_metrics
from scalefit.results import (
    Evaluation,
    FitContext,
    FitResult,
    FitStatus,
    ParamEstimate,
    Prediction,
    thin_curve,
)

#: Default Huber threshold on log-loss residuals (0.1 % of the loss).
DEFAULT_DELTA = 1e-3
#: Default number of deterministic starts of the nonlinear search.
DEFAULT_STARTS = 64
#: How many of the best starts are polished jointly.
DEFAULT_LOCAL = 3
#: Observed rows per run above which a run is thinned for the fit (dense 1e6-step logs; see ``fit``).
DEFAULT_MAX_POINTS = 5000
#: Rows per run used by the start scoring and the local searches (the polish uses up to ``max_points``).
SEARCH_POINTS = 500
#: Condition number of the correlation matrix above which the fit is called ill-conditioned.
ILL_CONDITION = 1e10
#: Default prior per law, ``{name: (centre, sd)}`` of a Gaussian on log(parameter): MPL's loss-drop shape held near
#: the official code's starting point (see the module docstring for the evidence; ``benchmarks/mpl_prior.py``).
DEFAULT_PRIORS: dict[str, dict[str, tuple[float, float]]] = {
    "mpl": {"C": (1.0, 0.01), "beta": (0.5, 0.01), "gamma": (0.5, 0.01)},
}


@dataclass
class _Problem:
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
    # Gaussian prior on log parameters, as extra residual rows ``w (log p - mu)`` (see :func:`fit`)
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
        if not self.huber:
            return "linear"
        if not self.prior_idx.size:
            return "huber"
        n = self.n_data

        def rho(z: np.ndarray) -> np.ndarray:
            out = np.empty((3, z.size))
            zd = z[:n]
            big = zd > 1.0
            sq = np.sqrt(np.where(big, zd, 1.0))
            out[0, :n] = np.where(big, 2.0 * sq - 1.0, zd)
            out[1, :n] = np.where(big, 1.0 / sq, 1.0)
            out[2, :n] = np.where(big, -0.5 / (sq * np.where(big, zd, 1.0)), 0.0)
            out[0, n:], out[1, n:], out[2, n:] = z[n:], 1.0, 0.0
            return out

        return rho

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
                out[j] = _fd_row(self.design, theta, j, self.lower[self.nonlin_idx[j]],
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
        a = np.abs(rd)
        d = self.delta
        return float(np.sum(np.where(a <= d, 0.5 * rd * rd, d * (a - 0.5 * d)))) + pen

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


def _fd_row(func: Any, theta: np.ndarray, j: int, lo: float, hi: float) -> np.ndarray:
    """Finite-difference derivative of ``func(theta)`` w.r.t. ``theta[j]`` (central, one-sided at a bound)."""
    h = 1e-6 * max(abs(theta[j]), 1e-3)
    tp, tm = theta.copy(), theta.copy()
    tp[j] = min(theta[j] + h, hi)
    tm[j] = max(theta[j] - h, lo)
    return (np.asarray(func(tp)) - np.asarray(func(tm))) / (tp[j] - tm[j])


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


# ---------------------------------------------------------------------------------------------------------------
def fit(
    runs: Sequence[Any],
    law: str | Any = "mpl",
    *,
    seed: int = 0,
    loss: str = "huber",
    delta: float = DEFAULT_DELTA,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    fixed: Mapping[str, float] | None = None,
    n_starts: int = DEFAULT_STARTS,
    n_local: int = DEFAULT_LOCAL,
    max_nfev: int = 2000,
    max_points: int | None = DEFAULT_MAX_POINTS,
    prior: Mapping[str, float | tuple[float, float]] | None = None,
    errors: str = "ar1",
    law_error: bool = True,
    **law_options: Any,
) -> FitResult:
    """Fit a loss-curve law jointly to several runs (see the module docstring for the method).

    Parameters
    ----------
    runs : sequence of Run
        Runs with a known LR from step 0 (``step0 == 0``) and observed losses.
    law : str or law object
        Registered law name (``"mpl"``, ``"tissue"``, ``"tissue-n"``) or a law instance.
    seed : int
        Seeds the Sobol starts; same inputs and seed give identical results.
    loss : {"huber", "mse"}
        Huber with threshold ``delta`` on log-loss residuals (default), or squared log residuals.
    bounds : dict of name to (lower, upper), optional
        Override the law's bounds. Giving bounds for a parameter the law holds fixed (Tissue's ``lam``) fits it.
    fixed : dict of name to value, optional
        Hold parameters at these values.
    n_starts, n_local : int
        Number of deterministic starts of the nonlinear search, and how many of the best are searched locally.
    max_nfev : int
        Evaluation budget of each local search and of the polish (status MAX_EVALS when the polish hits it).
    max_points : int or None
        Runs with more observed rows are thinned to this many evenly spaced rows (first and last kept) for the
        fit and its in-sample metrics; the result's messages say so. None uses every row.
    errors : {"ar1", "iid"}
        The residual model behind stderr and prediction intervals (see the module docstring): ``"ar1"`` (default)
        widens the covariance by the residuals' measured lag-1 autocorrelation, ``"iid"`` assumes independence.
    prior : dict of name to sd or to (centre, sd), optional
        A Gaussian prior on ``log(parameter)`` for nonlinear parameters: the objective gains
        ``0.5 * (delta * (log p - log centre) / sd)^2`` per parameter, i.e. the MAP estimate for log residuals of
        noise scale ``delta`` (the Huber threshold). ``centre`` defaults to the law's ``ParamSpec.default``.
        None uses :data:`DEFAULT_PRIORS` for the law (MPL: C, beta, gamma held near 1, 0.5, 0.5; entries for
        parameters that ``fixed`` holds, or whose ``bounds`` exclude the centre or zero, are left out with a
        message); ``{}`` fits without a prior. The result's ``objective`` names the prior.
    law_error : bool
        Also measure the law's own error by cross-validation on these runs (:mod:`scalefit.law_error`: forward
        chaining at 50 % / 70 % and leave-one-run-out, each a refit with these options), so that prediction
        intervals carry it besides the noise (default, as ``scalefit fit``). Costs 2 extra fits, plus one per run
        when there are several; ``False`` skips them (``fit_seconds`` is the main fit's either way).
    **law_options
        Passed to ``get_law`` (e.g. ``lam=0.99`` for Tissue).

    Returns
    -------
    FitResult

    Raises
    ------
    FitInputError
        When the data cannot support the fit (one line: which run, what, the fix).
    ConvergenceError
        When no start gives a finite objective (``err.best`` holds the best point found, if any).
    """
    t_start = time.perf_counter()
    # the fold fits of the law error repeat this call with the caller's own options (before defaults resolve)
    fold_kw = dict(seed=seed, loss=loss, delta=delta, bounds=bounds, fixed=fixed, n_starts=n_starts, n_local=n_local,
                   max_nfev=max_nfev, max_points=max_points, prior=prior, errors=errors, law_error=False,
                   **law_options)
    law_arg = law
    law_obj, law_name, law_options = _resolve_law(law, law_options)
    if loss not in ("huber", "mse"):
        raise FitInputError(f"loss must be 'huber' or 'mse', got {loss!r}.")
    if errors not in ("ar1", "iid"):
        raise FitInputError(f"errors must be 'ar1' or 'iid', got {errors!r}. Example: --errors iid")
    if not (delta > 0 and math.isfinite(delta)):
        raise FitInputError(f"delta must be a positive number, got {delta!r}.")
    if n_starts < 1:
        raise FitInputError(f"n_starts must be >= 1, got {n_starts}.")
    runs = list(runs)
    problem, messages = _build_problem(law_obj, law_name, runs, bounds, fixed, loss == "huber", delta, max_points)
    default_prior = prior is None
    if default_prior:
        prior = _default_prior(problem, law_name, messages)
    prior_spec = _resolve_prior(problem, law_name, prior)
    n_free = int(problem.free.sum())
    n_points = int(problem.loss.size)
    if n_points < n_free:
        raise FitInputError(
            f"{n_points} observed loss values across {len(runs)} run(s) cannot determine {n_free} free parameters "
            f"of law {law_name}. Log the loss more often, add runs, or fix parameters."
        )
    # the search runs on at most SEARCH_POINTS rows per run (the same problem when the runs are that small)
    if max(problem.sizes) > SEARCH_POINTS:
        search, _ = _build_problem(law_obj, law_name, runs, bounds, fixed, loss == "huber", delta, SEARCH_POINTS,
                                   announce=False)
        search.prior_idx, search.prior_mu, search.prior_w = problem.prior_idx, problem.prior_mu, problem.prior_w
    else:
        search = problem

    # ---- 1+2: score deterministic starts of theta with the amplitudes projected out ----
    starts = _starts(search, n_starts, seed)  # (n_starts, q)
    scores = np.empty(len(starts))
    for i, theta in enumerate(starts):
        scores[i] = search.project(theta)[0]
    finite = np.isfinite(scores)
    if not finite.any():
        raise ConvergenceError(
            f"law {law_name}: none of {len(starts)} starts gives a finite objective on {len(runs)} run(s). "
            "Check that the runs' LR and loss columns are right, or widen --bounds.",
            best=None,
        )
    order = [i for i in np.argsort(np.where(finite, scores, np.inf), kind="stable")[: max(1, n_local)] if finite[i]]

    # ---- 3: local search of theta (amplitudes projected out) from the best starts ----
    from scipy.optimize import least_squares

    nl_idx, lin_idx = problem.nonlin_idx, problem.lin_idx
    n_evals = len(starts)
    candidates = []
    for i in order:
        # on a thinned search problem a loose tolerance finds the basin; the refinement below converges
        theta, nfev = _local_search(search, starts[i], max_nfev, tol=1e-10 if search is problem else 1e-6)
        n_evals += nfev
        score = search.project(theta)[0]
        candidates.append((score, theta) if math.isfinite(score) else (scores[i], starts[i]))
    _, theta = min(candidates, key=lambda c: c[0])
    if search is not problem:  # refine on every fitted row before the polish (cheap: few iterations)
        refined, nfev = _local_search(problem, theta, max_nfev)
        n_evals += nfev
        if math.isfinite(problem.project(refined)[0]):
            theta = refined

    # ---- 4: joint polish of every free parameter on the true objective, on all fitted rows ----
    score, values = problem.project(theta)
    p0 = problem.fixed_values.copy()
    p0[nl_idx] = theta
    p0[lin_idx] = values
    lo_free, hi_free = problem.lower[problem.free], problem.upper[problem.free]
    res = least_squares(
        problem.residuals,
        _inside(p0[problem.free], lo_free, hi_free),
        jac=problem.jacobian,
        bounds=(lo_free, hi_free),
        method="trf",
        loss=problem.lsq_loss(),
        f_scale=delta,
        x_scale="jac",
        max_nfev=max_nfev,
        xtol=1e-12,
        ftol=1e-12,
        gtol=1e-10,
    )
    n_evals += int(res.nfev)
    best = (problem.objective(problem.residuals(res.x)), res)
    assert best is not None
    objective_value, res = best
    if not math.isfinite(objective_value):
        raise ConvergenceError(
            f"law {law_name}: the polish ended at a non-finite objective. Check the data or widen --bounds.",
            best=res.x,
        )
    p_final = problem.full(res.x)

    # ---- status, covariance, warnings ----
    status, params, covariance, more, (rho, factor) = _assess(problem, p_final, res, law_name, n_starts,
                                                              errors=errors)
    messages.extend(more)
    for m in more:
        if "the prior holds them" in m:  # a note, not a problem: the prior is there for this
            continue
        cls = ParameterAtBoundWarning if "bound" in m else IllConditionedWarning
        warnings.warn(m, cls, stacklevel=2)
    if default_prior:  # the tool's assumption, so it says when the data disagree
        for m in _prior_pulls(problem, p_final, prior_spec, law_name):
            messages.append(m)
            warnings.warn(m, AssumptionWarning, stacklevel=2)

    context = _context(runs)
    floor = context.irreducible_loss
    if floor is not None and "L0" in problem.names:
        i = problem.names.index("L0")
        value = float(p_final[i])
        if value < floor * (1 - 1e-9):  # a fit that stops on a --bounds at the floor is not below it
            head = (f"fit {law_name}: L0 = {value:.6g} lies below the data's irreducible loss {floor!r} (run "
                    "metadata), the floor no model can go below")
            if problem.free[i]:
                m = (head + f": the runs do not pin the asymptote. Fix it (--fix L0=...) or bound it "
                     f"(--bounds L0={floor!r}:inf) if you trust the floor.")
            else:
                m = head + ": you fixed it there; predictions near the asymptote inherit that."
            messages.append(m)
            warnings.warn(m, AssumptionWarning, stacklevel=2)

    # ---- per-run metrics, curves, context ----
    pred = p_final[lin_idx] @ problem.design(p_final[nl_idx])
    metrics: dict[str, RunMetrics] = {}
    curves = []
    start = 0
    for run, size in zip(runs, problem.sizes):
        rows = fit_rows(run, max_points)
        sl = slice(start, start + size)
        start += size
        metrics[_unique_key(metrics, run.path)] = curve_metrics(problem.loss[sl], pred[sl])
        curves.append(thin_curve(run.path, run.steps[rows], problem.loss[sl], pred[sl]))

    from scalefit import __version__

    objective_text = f"huber(delta={delta:g}) on log loss" if problem.huber else "half squared log-loss residuals"
    if prior_spec:
        objective_text += " + gaussian prior on log " + ", ".join(
            f"{n} (centre {c:g}, sd {sd:g})" for n, (c, sd) in prior_spec.items())
    result = FitResult(
        law=law_name,
        law_options=law_options,
        params=params,
        covariance=covariance,
        param_order=problem.names,
        status=status,
        messages=tuple(messages),
        metrics=metrics,
        objective=objective_text,
        objective_value=objective_value,
        n_points=n_points,
        n_starts=len(starts),
        n_evals=n_evals,
        seed=seed,
        data_hash=data_hash(runs),
        scalefit_version=__version__,
        fit_seconds=time.perf_counter() - t_start,
        context=context,
        curves=tuple(curves),
        errors=errors,
        residual_rho=rho,
        variance_factor=factor,
    )
    if law_error:
        from scalefit.law_error import cross_validate

        law_err, note = cross_validate(runs, lambda rs: fit(rs, law_arg, **fold_kw))
        if law_err is None:
            warnings.warn(note, AssumptionWarning, stacklevel=2)
        result = replace(result, law_error=law_err, messages=result.messages + (note,))
    return result


def evaluate(
    train_runs: Sequence[Any], test_runs: Sequence[Any], law: str | Any = "mpl", **kw: Any
) -> Evaluation:
    """Fit on ``train_runs`` and predict each of ``test_runs`` from its LR schedule alone.

    Metrics (R2, MAE, RMSE, PredE, WorstE) are computed per held-out run on its observed steps and averaged over
    runs, as in the MPL paper. Keyword arguments go to :func:`fit`.
    """
    test_runs = list(test_runs)
    if not test_runs:
        raise FitInputError("no test runs to evaluate. Pass --test RUNS...")
    _check_runs(test_runs, law if isinstance(law, str) else getattr(law, "name", "law"), needs_loss=True)
    result = fit(train_runs, law, **kw)
    test: dict[str, RunMetrics] = {}
    predictions: dict[str, Prediction] = {}
    with warnings.catch_warnings():
        # held-out runs are expected to lie outside the training range: that is the point of evaluating
        from scalefit.errors import ExtrapolationWarning

        warnings.simplefilter("ignore", ExtrapolationWarning)
        for run in test_runs:
            pred = result.predict(run)
            key = _unique_key(test, run.path)
            test[key] = curve_metrics(run.loss[run.after_warmup], pred.loss)
            predictions[key] = pred
    return Evaluation(fit=result, test=test, predictions=predictions)


# ---------------------------------------------------------------------------------------------------------------
def prediction_with_gradient(
    law: Any,
    param_order: Sequence[str],
    values: np.ndarray,
    lr: np.ndarray,
    warmup: int,
    at: np.ndarray,
    n_params: float | None,
    fd_names: Sequence[str] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted loss at ``at`` and its gradient with respect to every parameter (rows in ``param_order``).

    Returns ``(pred, grad)`` with shapes (M,) and (P, M); used for the delta-method interval. Gradients of
    nonlinear parameters the law does not differentiate (held fixed by the law) are finite differences when
    named in ``fd_names``, else 0.
    """
    prep = law.prepare(lr, warmup=warmup, at=np.asarray(at, dtype=np.int64), n_params=n_params)
    order = list(param_order)
    vals = np.asarray(values, dtype=np.float64)
    specs = {p.name: p for p in law.params}
    nonlin_all = [n for n in order if not specs[n].linear]
    lin = [order.index(n) for n in law.linear_names]
    theta_all = np.array([vals[order.index(n)] for n in nonlin_all])
    amps = vals[lin]

    def design(theta: np.ndarray) -> np.ndarray:
        return np.asarray(law.design(dict(zip(nonlin_all, map(float, theta))), prep), dtype=np.float64)

    dmat = design(theta_all)  # (k, M)
    pred = amps @ dmat
    grad = np.zeros((len(order), pred.size))
    grad[lin] = dmat
    law_rows = tuple(law.nonlinear_names)
    djac = law.design_jac(dict(zip(nonlin_all, map(float, theta_all))), prep) if law_rows else None
    for j, name in enumerate(nonlin_all):
        if djac is not None and name in law_rows:
            row = np.asarray(djac[law_rows.index(name)], dtype=np.float64)
        elif name in fd_names or (djac is None and name in law_rows):
            s = specs[name]
            row = _fd_row(design, theta_all, j, s.lower, s.upper)
        else:
            continue
        grad[order.index(name)] = amps @ row
    return pred, grad


def data_hash(runs: Sequence[Any]) -> str:
    """sha256 over each run's steps (int64), lr and loss (float64) bytes, in run order."""
    h = hashlib.sha256()
    for run in runs:
        h.update(np.ascontiguousarray(run.steps, dtype=np.int64).tobytes())
        h.update(np.ascontiguousarray(run.lr, dtype=np.float64).tobytes())
        h.update(np.ascontiguousarray(run.loss, dtype=np.float64).tobytes())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------------------------
def _resolve_law(law: Any, options: dict[str, Any]) -> tuple[Any, str, dict[str, Any]]:
    if isinstance(law, str):
        from scalefit.laws import get_law

        try:
            obj = get_law(law, **options)
        except (KeyError, TypeError) as exc:
            raise FitInputError(f"cannot build law {law!r} with options {options}: {exc}") from None
        return obj, law, dict(options)
    return law, str(getattr(law, "name", type(law).__name__)), dict(getattr(law, "options", {}) or {})


def _default_prior(problem: _Problem, law_name: str, messages: list[str]) -> dict[str, tuple[float, float]]:
    """The law's :data:`DEFAULT_PRIORS` on the parameters the user left free; an entry whose bounds exclude its
    centre, or do not keep the parameter positive (the prior is on its log), is left out with a message."""
    out = {}
    for name, (centre, sd) in DEFAULT_PRIORS.get(law_name, {}).items():
        if name not in problem.names or not problem.free[problem.names.index(name)]:
            continue  # a parameter the user fixed needs no prior
        i = problem.names.index(name)
        lo, hi = float(problem.lower[i]), float(problem.upper[i])
        if 0 < lo <= centre <= hi:
            out[name] = (centre, sd)
            continue
        why = (f"its lower bound {lo:g} is not positive" if lo <= 0 else
               f"your bounds {lo:g}:{hi:g} exclude its centre {centre:g}")
        messages.append(f"fit {law_name}: the default prior on log {name} is left out: {why}. Pass --prior to set one "
                        "that fits your bounds.")
        warnings.warn(messages[-1], AssumptionWarning, stacklevel=3)
    return out


def _resolve_prior(problem: _Problem, law_name: str,
                   prior: Mapping[str, float | tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """Validate ``prior`` and attach it to ``problem``; returns ``{name: (centre, sd)}`` in law order."""
    specs = {p.name: p for p in problem.law.params}
    out: dict[str, tuple[float, float]] = {}
    for name, item in (prior or {}).items():
        if name not in specs:
            raise FitInputError(f"unknown parameter {name!r} in the prior; law {law_name} has "
                                f"{', '.join(problem.names)}.", value=name)
        if isinstance(item, (tuple, list)):
            if len(item) != 2:
                raise FitInputError(f"prior of {name!r} must be sd or (centre, sd); got {item!r}.", value=item)
            centre, sd = float(item[0]), float(item[1])
        else:
            centre, sd = float(specs[name].default), float(item)
        i = problem.names.index(name)
        if specs[name].linear or not problem.free[i]:
            raise FitInputError(f"a prior applies to free nonlinear parameters; {name!r} is "
                                f"{'an amplitude' if specs[name].linear else 'fixed'} in law {law_name}.", value=name)
        if not (sd > 0 and math.isfinite(sd)) or not (centre > 0 and math.isfinite(centre)) \
                or not problem.lower[i] > 0:
            raise FitInputError(f"prior of {name!r}: needs centre > 0, 0 < sd < inf and a positive lower bound "
                                f"(it is a Gaussian on log {name}); got centre {centre:g}, sd {sd:g}. "
                                f"Example: --prior {name}=0.5", value=item)
        out[name] = (centre, sd)
    out = {n: out[n] for n in problem.names if n in out}
    problem.prior_idx = np.array([problem.names.index(n) for n in out], dtype=np.int64)
    problem.prior_mu = np.log(np.array([c for c, _ in out.values()], dtype=np.float64))
    problem.prior_w = np.array([problem.delta / sd for _, sd in out.values()], dtype=np.float64)
    return out


#: Prior sd's beyond which a fitted parameter is reported as pulled away from its prior's centre.
PRIOR_PULL = 3.0


def _prior_pulls(problem: _Problem, p: np.ndarray, prior_spec: Mapping[str, tuple[float, float]],
                 law_name: str) -> list[str]:
    """Messages for parameters the data pull more than :data:`PRIOR_PULL` prior sd from the default prior's centre:
    the runs then say something the prior overrides (for MPL, a loss-drop shape of their own). A prior the user
    gave is the user's choice and is not second-guessed."""
    out = []
    for name, (centre, sd) in prior_spec.items():
        value = float(p[problem.names.index(name)])
        z = math.log(value / centre) / sd
        if abs(z) > PRIOR_PULL:
            out.append(f"fit {law_name}: the data pull {name} to {value:.4g}, {abs(z):.0f} sd from the default prior's "
                       f"centre {centre:g}: the runs carry information the prior overrides. Compare with --prior "
                       "none (or a wider --prior) on held-out runs.")
    return out


def _check_runs(runs: Sequence[Any], law_name: str, needs_loss: bool = True) -> None:
    if not runs:
        raise FitInputError(f"no runs to fit law {law_name}. Pass one or more run files.")
    for run in runs:
        lr = np.asarray(run.lr, dtype=np.float64)
        if lr.size == 0 or not np.all(np.isfinite(lr)):
            raise FitInputError("the LR schedule is empty or not finite. Fix the 'lr' column.", path=run.path)
        if not np.any(lr > 0):
            raise FitInputError(
                "the learning rate is 0 at every step, so no law can use it. Fix the 'lr' column or pass "
                "--schedule-file.",
                path=run.path,
            )
        if int(run.step0) > 0:
            raise FitInputError(
                f"the run starts at step {int(run.step0)} and its LR before that is unknown; law {law_name} needs "
                f"the LR from step 0 (S1 sums it). Pass --warmup {int(run.step0)} (linear warmup) or "
                "--schedule-file F with the per-step LR.",
                path=run.path,
            )
        if needs_loss:
            obs = run.observed
            if not obs.any():
                raise FitInputError(
                    f"no {run.target!r} values to fit (every row is empty). Check --target.", path=run.path
                )
            if not run.after_warmup.any():
                raise FitInputError(
                    f"every {run.target!r} value lies inside the {int(run.warmup)}-step warmup, where the laws do "
                    "not apply. Log the loss after warmup, or check --warmup.", path=run.path
                )
            if np.any(run.loss[obs] <= 0):
                raise FitInputError(f"{run.target!r} must be > 0 to fit on log loss.", path=run.path)
            idx = run.index[obs]
            if idx.min() < 0 or idx.max() >= lr.size:
                raise FitInputError("observed steps fall outside the LR schedule. Check --schedule-file.",
                                    path=run.path)


def _build_problem(
    law: Any,
    law_name: str,
    runs: list[Any],
    bounds: Mapping[str, tuple[float, float]] | None,
    fixed: Mapping[str, float] | None,
    huber: bool,
    delta: float,
    max_points: int | None = None,
    announce: bool = True,
) -> tuple[_Problem, list[str]]:
    _check_runs(runs, law_name)
    specs = {p.name: p for p in law.params}
    names = tuple(specs)
    messages: list[str] = []
    lower = np.array([specs[n].lower for n in names], dtype=np.float64)
    upper = np.array([specs[n].upper for n in names], dtype=np.float64)
    free = np.array([not specs[n].fixed for n in names])
    values = np.array([specs[n].default for n in names], dtype=np.float64)
    for name, (lo, hi) in (bounds or {}).items():
        if name not in specs:
            raise FitInputError(f"unknown parameter {name!r} in bounds; law {law_name} has {', '.join(names)}.")
        lo, hi = float(lo), float(hi)
        if not lo < hi:
            raise FitInputError(f"bounds of {name!r} must satisfy lower < upper, got {lo:g}:{hi:g}.")
        i = names.index(name)
        lower[i], upper[i] = lo, hi
        if not free[i]:
            free[i] = True
            messages.append(f"{name} is fitted within {lo:g}:{hi:g} (law {law_name} holds it fixed by default).")
        values[i] = min(max(values[i], lo), hi)
    for name, value in (fixed or {}).items():
        if name not in specs:
            raise FitInputError(f"unknown parameter {name!r} to fix; law {law_name} has {', '.join(names)}.")
        i = names.index(name)
        free[i] = False
        values[i] = float(value)
    preps, sizes, losses = [], [], []
    for run in runs:
        rows = fit_rows(run, max_points)
        n_warm = int(run.observed.sum() - run.after_warmup.sum())
        if n_warm:
            messages.append(
                f"{run.path}: {n_warm} observed row(s) inside the {int(run.warmup)}-step warmup are not fitted; "
                "the laws describe the loss after warmup."
            )
            if announce:
                warnings.warn(messages[-1], AssumptionWarning, stacklevel=3)
        if rows.size < int(run.after_warmup.sum()):
            messages.append(
                f"{run.path}: {int(run.after_warmup.sum())} observed rows after warmup; the fit and its in-sample "
                f"metrics use {rows.size} evenly spaced ones (max_points={max_points})."
            )
            if announce:
                warnings.warn(messages[-1], AssumptionWarning, stacklevel=3)
        at = np.asarray(run.index[rows], dtype=np.int64)
        n_params = run.meta.get("params") if isinstance(run.meta, Mapping) else None
        try:
            preps.append(
                law.prepare(
                    np.asarray(run.lr, dtype=np.float64),
                    warmup=int(run.warmup),
                    at=at,
                    n_params=None if n_params is None else float(n_params),
                )
            )
        except (ValueError, KeyError) as exc:
            raise FitInputError(f"law {law_name} cannot use this run: {exc}", path=run.path) from None
        sizes.append(int(at.size))
        losses.append(np.asarray(run.loss[rows], dtype=np.float64))
    loss = np.concatenate(losses)
    problem = _Problem(
        law=law,
        names=names,
        lin=tuple(law.linear_names),
        nonlin=tuple(n for n in names if not specs[n].linear),
        preps=preps,
        sizes=sizes,
        loss=loss,
        logloss=np.log(loss),
        lower=lower,
        upper=upper,
        free=free,
        fixed_values=values,
        huber=huber,
        delta=delta,
    )
    return problem, messages


def _local_search(problem: _Problem, theta: np.ndarray, max_nfev: int, tol: float = 1e-10) -> tuple[np.ndarray, int]:
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
        _inside(theta[free_nl], lo, hi),
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


def fit_rows(run: Any, max_points: int | None) -> np.ndarray:
    """Row indices of ``run`` the fit uses: every observed row after the warmup, or ``max_points`` evenly spaced
    ones (rows inside the warmup are outside the laws' domain: see :attr:`~scalefit.runs.Run.after_warmup`)."""
    rows = np.flatnonzero(run.after_warmup)
    if max_points is not None and rows.size > max_points:
        pick = np.unique(np.linspace(0, rows.size - 1, max(int(max_points), 2)).round().astype(np.int64))
        rows = rows[pick]
    return rows


def _starts(problem: _Problem, n_starts: int, seed: int) -> np.ndarray:
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


def _inside(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Move ``x`` strictly inside the bounds (least_squares needs a feasible start)."""
    span = np.where(np.isfinite(hi - lo), hi - lo, np.maximum(np.abs(x), 1.0))
    eps = 1e-9 * span
    return np.clip(x, lo + eps, hi - eps)


def _assess(
    problem: _Problem, p: np.ndarray, res: Any, law_name: str, n_starts: int, errors: str = "ar1"
) -> tuple[FitStatus, dict[str, ParamEstimate], np.ndarray | None, list[str], tuple[float | None, float | None]]:
    """Status, parameter estimates with stderr, covariance over all parameters, messages, and (the residuals'
    lag-1 autocorrelation, the factor it puts on the residual variance) for ``errors="ar1"`` (:func:`_ar1_rho`;
    (None, None) for ``"iid"``)."""
    names = problem.names
    P = len(names)
    lo, hi = problem.lower, problem.upper
    span = np.where(np.isfinite(hi - lo), hi - lo, np.maximum(np.abs(p), 1.0))
    tol = 1e-6 * span
    at_bound = np.zeros(P, dtype=np.int64)
    active = np.zeros(P, dtype=np.int64)
    active[problem.free] = res.active_mask
    at_bound[(p - lo <= tol) | (active == -1)] = -1
    at_bound[(hi - p <= tol) | (active == 1)] = 1
    at_bound[~problem.free] = 0
    messages: list[str] = []
    # covariance over the free parameters that are not on a bound
    est = problem.free & (at_bound == 0)
    n = problem.n_data
    r = problem.residuals(p[problem.free])[:n]  # data rows (prior rows follow)
    covariance = None
    rho = 0.0 if errors == "ar1" else None
    factor = 1.0 if errors == "ar1" else None  # the residual variance's total AR(1) factor
    stderr = np.full(P, np.nan)
    stderr[~problem.free] = 0.0
    cond = math.nan
    flat = ""
    held: list[int] = []  # parameters the data alone leave poorly determined but the prior holds
    if est.any():
        jac_all = problem.jacobian(p[problem.free])[:, est[problem.free]]  # (n + k, n_est)
        jac, jac_p = jac_all[:n], jac_all[n:]
        s2 = _scale2(r, problem.huber, problem.delta, n_par=int(est.sum()))
        h_data = jac.T @ jac
        if errors == "ar1":
            # the fit's own (Gauss-Newton) matrix: prior rows enter the objective with weight 1
            h_fit = h_data + jac_p.T @ jac_p if jac_p.size else h_data
            rho, shrink = _ar1_rho(r, jac, h_fit, problem.sizes, problem.huber, problem.delta)
            # unbiased noise variance under AR(1) (the residuals' sum of squares is sigma^2 tr A(rho), not
            # sigma^2 tr A(0)), then its long-run variance
            factor = shrink * (1.0 + rho) / (1.0 - rho)
            s2 *= factor
            if rho >= 0.99:
                messages.append(
                    f"fit {law_name}: the residuals' lag-1 autocorrelation is at its 0.99 cap, so stderr are "
                    f"x{math.sqrt(199):.0f} those of independent residuals: the law misses the curves "
                    "systematically (look at the residual plot, --plot), not only by noise.")
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
            flat = _direction(vec[:, 0], [names[i] for i in np.flatnonzero(est)])
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
    # messages
    for i, name in enumerate(names):
        if at_bound[i]:
            side, bound = ("lower", lo[i]) if at_bound[i] < 0 else ("upper", hi[i])
            messages.append(
                f"fit {law_name}: {name} at its {side} bound {bound:g} after {n_starts} starts; its stderr is "
                f"unreliable. Try --bounds {name}={_suggest(lo[i], hi[i], side)}."
            )
    if covariance is None and est.any():
        messages.append(
            f"fit {law_name}: the Jacobian at the optimum is singular, so parameters are not separately "
            f"determined and no stderr is reported (flattest direction {flat}). Fix a parameter (e.g. --fix) or "
            "add runs with other schedules."
        )
    elif covariance is not None:
        poor = [i for i in np.flatnonzero(est) if p[i] != 0 and stderr[i] > abs(p[i])]
        if cond > ILL_CONDITION or poor:
            if poor:
                i = poor[0]
                which = ", ".join(names[j] for j in poor) + " poorly determined (stderr larger than the value"
                fix = f"narrow the range, e.g. --bounds {names[i]}={_suggest(lo[i], hi[i], 'narrow', p[i])}"
            else:
                which = "a combination of parameters poorly determined ("
                fix = "fix a parameter"
            messages.append(
                f"fit {law_name}: {which}{', ' if poor else ''}condition number {cond:.2g}; flattest direction "
                f"{flat}). Add runs with different schedules, or {fix}."
            )
    notes: list[str] = []
    if held:
        notes.append(f"fit {law_name}: the data alone leave {', '.join(names[i] for i in held)} poorly determined "
                     "(stderr larger than the value without the prior); the prior holds them, and their stderr "
                     "include it.")
    if res.status == 0:
        status = FitStatus.MAX_EVALS
        messages.append(f"fit {law_name}: the polish stopped after {res.nfev} evaluations before converging.")
    elif covariance is None and est.any():
        status = FitStatus.NO_COVARIANCE
    elif at_bound.any():
        status = FitStatus.AT_BOUND
    else:
        status = FitStatus.CONVERGED
    specs = {s.name: s for s in problem.law.params}
    params = {
        name: ParamEstimate(
            value=float(p[i]),
            stderr=float(stderr[i]),
            lower=float(lo[i]),
            upper=float(hi[i]),
            at_bound=int(at_bound[i]),
            linear=bool(specs[name].linear),
            fixed=not bool(problem.free[i]),
        )
        for i, name in enumerate(names)
    }
    return status, params, covariance, messages + notes, (rho, factor)


def _direction(v: np.ndarray, names: Sequence[str]) -> str:
    """A unit eigenvector in words, largest components first: ``"+0.71 beta -0.69 gamma"`` (|component| >= 0.2)."""
    v = v / (np.abs(v).max() if np.abs(v).max() > 0 else 1.0) * (1 if v[np.argmax(np.abs(v))] > 0 else -1)
    v = v / np.linalg.norm(v)
    order = np.argsort(-np.abs(v), kind="stable")
    return " ".join(f"{v[i]:+.2f} {names[i]}" for i in order if abs(v[i]) >= 0.2) or "none"


def _ar1_rho(r: np.ndarray, jac: np.ndarray, h: np.ndarray, sizes: Sequence[int], huber: bool,
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


def _scale2(r: np.ndarray, huber: bool, delta: float, n_par: int) -> float:
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


def _suggest(lo: float, hi: float, side: str, value: float | None = None) -> str:
    """A wider (or, for 'narrow', tighter) bound pair to suggest in a message."""
    if side == "lower":
        new_lo = lo / 10 if lo > 0 else lo - max(hi - lo, 1.0)
        return f"{new_lo:g}:{hi:g}"
    if side == "upper":
        new_hi = hi * 10 if hi > 0 and math.isfinite(hi) else hi + max(hi - lo, 1.0)
        return f"{lo:g}:{new_hi:g}"
    v = abs(value or 1.0)
    return f"{max(lo, v / 3):.3g}:{min(hi, v * 3):.3g}"


def _unique_key(existing: Mapping[str, Any], key: str) -> str:
    if key not in existing:
        return key
    i = 2
    while f"{key}#{i}" in existing:
        i += 1
    return f"{key}#{i}"


def _context(runs: Sequence[Any]) -> FitContext:
    last_idx = [int(run.index[run.observed].max()) for run in runs]
    s1 = [float(np.sum(run.lr[: i + 1])) for run, i in zip(runs, last_idx)]
    lr_min = []
    for run in runs:
        post = np.asarray(run.lr[int(run.warmup):])
        post = post[post > 0]
        if post.size:
            lr_min.append(float(post.min()))
    n_params = tuple(float(r.meta["params"]) for r in runs if r.meta.get("params") is not None)
    floors = [r.irreducible_loss for r in runs]
    known = all(f is not None for f in floors)
    return FitContext(
        max_step=max(int(run.steps[run.observed].max()) for run in runs),
        max_s1=max(s1),
        lr_max=max(float(np.max(run.lr)) for run in runs),
        lr_min=min(lr_min) if lr_min else 0.0,
        warmup=max(int(run.warmup) for run in runs),
        n_params=n_params,
        total_steps=tuple(int(run.step0) + int(run.n_steps) for run in runs),
        irreducible_loss=float(min(floors)) if known and floors else None,
    )
