"""Schedule search: the per-step learning rate that minimises a fitted law's predicted loss.

Given a fitted curve law (a :class:`~scalefit.results.FitResult` or a mapping of parameter values), a step
budget ``T``, a peak LR and a warmup length ``W``, :func:`optimize_schedule` searches the LR of every step after
the warmup, ``lr[max(W, 1):]``, for the lowest predicted loss at the end of training (or the mean over the last K
steps, or at one step). The warmup is the fixed linear ramp of :func:`scalefit.schedules.warmup_ramp`, so
``lr[W-1]`` is the peak (``lr[0]`` when ``W = 0``).

Constraints
-----------
monotone (default)
    Non-increasing after the peak and never below ``floor``. Parameterised by box-bounded log-decays at knots,
    ``lr_knot = max(low, start * exp(-cumsum(s)))`` with ``0 <= s <= log(start / low)`` (``start = min(peak,
    ceiling)``, ``low = max(floor, 1e-9 peak)``), linear between knots. Exactly monotone, every feasible schedule
    reachable, flat stretches and drops to the floor at a bound rather than at infinity, and well scaled over the
    orders of magnitude an optimum spans at its end. With ``floor = 0`` LRs below ``1e-9 peak`` are not searched:
    the law's suffix sums ``S_k = P_n - P_{k-1}`` lose their digits there (absolute rounding error ~1e-16 P_n), and
    a search that went lower fitted rounding error (on the MPL 25M reference fit it found a drop to 1e-15 that the
    law scores 0.004 nats below the best drop to 1e-9 peak; with exact suffix sums that schedule is 0.01 worse).
    A start schedule with exact zeros (cosine to 0) is still returned when it scores best.
non-monotone (``monotone=False``)
    Each LR in ``[floor, ceiling]`` (``ceiling`` defaults to the peak), searched directly.

Method
------
``method="lbfgsb"`` (default), in three stages.
(1) Family search (:func:`family_search`): WSD cooldown length x shape x final LR, cosine x final LR, constant, and
a step drop x position x level (300-1,000 cheap evaluations). The objective is not convex. Fits whose loss-drop
shape sits at a bound (MPL with beta 0.01, gamma 1: the reference 25M and 100M fits without the default prior) are
minimised by a drop in one step followed by a long hold; others by a smooth cooldown, or, above a floor, again by a
drop to the floor (seen with beta 0.5, gamma 0.6 and floor = peak/10). A local search does not cross from one basin
to the other, so it starts from the best member of all families.
(2) Knot stage: the schedule at ~300 knots with geometric spacing towards the end (spacing ``resolution`` times
the distance to the last step, at least one step, at most n/200) plus the steps where the start bends (a WSD's
kink, a drop), linear in between; box-constrained L-BFGS (:func:`_lbfgs_box`, at most ``max_iter`` iterations).
(3) Refinement (``refine`` levels, default 3): halve the knot spacing and its cap, add knots where the solution
bends most, warm-start L-BFGS again; this places a sharp cooldown the first knots cannot (the per-step polish
alone needed ~1,000 iterations, 5-6 s, for the same 0.001 nats at T = 24,000).
(4) Per-step polish: the same over every post-warmup step (T - W variables), at most ``polish`` iterations.
Each evaluation is the exact predicted loss and its analytic gradient with respect to every LR, O(T) (MPL: suffix
sums of the LR, see :func:`mpl_loss_and_grad`; Tissue: S2 is linear in the LR). The L-BFGS is our own (numpy, no
BLAS): scipy's L-BFGS-B calls threaded BLAS every iteration, which on a loaded 2-core machine cost more than the
objective itself. Measured on the MPL reference fits (``benchmarks/optimize.py``, quiet 2-core Xeon): 0.5-2.2 s
per optimisation under the default fits (before the refinement levels 0.31-0.72 s and 0.001 nats higher at floor
0; scipy L-BFGS-B with softplus log-decays took 4-15 s under the plain fits).
``method="adam"``: Adam over the per-step decrements ``d_k / (peak - low)`` (projected onto ``d >= 0``,
``sum d <= 1``), as the MPL repository does (10,000 iterations by default); monotone only. Kept for comparison
(``benchmarks/optimize.py``).

The LR-annealing law ("tissue", Tissue et al. 2024) is linear in the LR decrements through S2, so its optimum is
degenerate: hold the peak, then drop to the floor within one or two steps (Luo et al. 2025, Theorem 2); where
the drop falls depends on the horizon and on ``lam``. Optimising it works and emits a
:class:`~scalefit.errors.DegenerateOptimumWarning`.

References: Luo et al. 2025, A Multi-Power Law for Loss Curve Prediction Across Learning Rate Schedules
(arXiv 2503.12811), Sec. 5 (schedule optimisation); Tissue et al. 2024 (arXiv 2408.11029); Hägele et al. 2024
(arXiv 2405.18392) for WSD and the 1-sqrt cooldown.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scalefit.errors import (
    ConvergenceError,
    DegenerateOptimumWarning,
    ExtrapolationWarning,
    FitInputError,
    IllConditionedWarning,
)

__all__ = [
    "Baseline",
    "FamilyMember",
    "FamilySearch",
    "OptimizedSchedule",
    "baselines",
    "family_search",
    "make_objective",
    "optimize_schedule",
    "parse_objective",
]

METHODS = ("lbfgsb", "adam")
_LOW = 1e-9  # lowest LR searched, relative to the peak (with floor 0). Below it the law's suffix sums
# S_k = P_n - P_{k-1} keep too few digits (absolute rounding error ~1e-16 P_n, P_n ~ T peak): a search that goes
# lower fits rounding error (measured: a drop to 1e-15 "gained" 0.004 nats that an exact sum does not give).


# ---------------------------------------------------------------------------------------------------------------
# objectives: exact predicted loss and its gradient w.r.t. every LR, O(T)
# ---------------------------------------------------------------------------------------------------------------
def parse_objective(objective: str, steps: int, first: int) -> np.ndarray:
    """Indices (into ``lr``) whose predicted losses are averaged: ``"final"`` (the last step), ``"last:K"`` (the
    last K steps) or ``"step:S"`` (step index S, 0-based). Raises FitInputError naming the rule and an example."""
    text = str(objective).strip().lower()
    name, _, arg = text.partition(":")
    try:
        if name == "final" and not arg:
            return np.array([steps - 1], dtype=np.int64)
        if name == "last":
            k = int(arg)
            if not 1 <= k <= steps - first:
                raise ValueError
            return np.arange(steps - k, steps, dtype=np.int64)
        if name == "step":
            s = int(arg)
            if not first <= s <= steps - 1:
                raise ValueError
            return np.array([s], dtype=np.int64)
    except ValueError:
        pass
    raise FitInputError(f"objective {objective!r} is not one of final, last:K (1 <= K <= {steps - first}) or "
                        f"step:S ({first} <= S <= {steps - 1}, after the warmup). Example: --objective last:100",
                        value=objective)


def make_objective(law: str, values: Mapping[str, float], *, steps: int, warmup: int, index: np.ndarray,
                   law_options: Mapping[str, Any] | None = None,
                   n_params: float | None = None) -> Callable[[np.ndarray, bool], tuple[float, np.ndarray | None]]:
    """``f(lr, grad) -> (mean predicted loss over index, gradient w.r.t. lr[max(W, 1):])`` for a registered law
    (its ``final_loss_and_grad``).

    Cost O(len(index) * T). Raises FitInputError for laws without an optimiser objective.
    """
    from scalefit.laws import get_law, optimizable_laws

    first = max(int(warmup), 1)
    try:
        law_obj = get_law(law, **dict(law_options or {}))
    except KeyError:
        law_obj = None
    if law_obj is None or not law_obj.optimizable:
        good = optimizable_laws(degenerate=False)
        raise FitInputError(f"schedule optimisation supports the laws {', '.join(optimizable_laws())}; got {law!r}. "
                            f"Fit with --law {good[0] if good else 'mpl'}.", value=law)

    def single(lr: np.ndarray, grad: bool) -> tuple[float, np.ndarray | None]:
        return law_obj.final_loss_and_grad(values, lr, warmup=warmup, n_params=n_params, grad=grad)

    idx = np.asarray(index, dtype=np.int64)
    n_var = steps - first

    def f(lr: np.ndarray, grad: bool = True) -> tuple[float, np.ndarray | None]:
        if idx.size == 1 and idx[0] == steps - 1:
            return single(lr, grad)
        total, g = 0.0, (np.zeros(n_var) if grad else None)
        for i in idx:  # O(T) each
            li, gi = single(lr[: i + 1], grad)
            total += li
            if g is not None:
                g[: i + 1 - first] += gi
        return total / idx.size, (None if g is None else g / idx.size)

    return f


# ---------------------------------------------------------------------------------------------------------------
# schedule families (WSD x cooldown shape, cosine x final LR, a step drop x its position and level)
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FamilyMember:
    """One evaluated member of a schedule family: its spec (reproduces ``lr`` through ``schedules.from_spec``),
    the per-step LR and the objective (predicted loss, exact)."""

    spec: str
    lr: np.ndarray = field(repr=False)
    objective_value: float


@dataclass(frozen=True)
class FamilySearch:
    """The best member of each family and every member evaluated (spec, objective), best first."""

    best: FamilyMember
    best_by_family: dict[str, FamilyMember]
    evaluated: tuple[tuple[str, float], ...]
    seconds: float


def _shortest(exact: float, ok: Callable[[float], bool]) -> str:
    """The shortest ``%g`` text of ``exact`` (increasing precision) whose value passes ``ok``; else ``repr``."""
    for p in range(1, 18):
        s = f"{exact:.{p}g}"
        if ok(float(s)):
            return s
    return repr(exact)


def _fmt(x: float) -> str:
    """Shortest decimal text of x that reads back as exactly x."""
    return _shortest(x, lambda v: v == x)


def _decay_text(n_cool: int, total: int) -> str:
    """A short decay fraction that gives exactly ``n_cool`` cooldown steps in ``schedules.wsd``."""
    return _shortest(n_cool / total, lambda v: max(1, int(math.floor(v * total + 0.5))) == n_cool and v <= 1.0)


def _milestone_text(step: int, total: int) -> str:
    """A short fraction m in (0, 1) that puts a ``schedules.multistep`` milestone exactly at ``step``."""
    return _shortest(step / total, lambda v: 0.0 < v < 1.0 and int(math.floor(v * total + 0.5)) == step)


def _factor_text(level: float, peak: float, floor: float) -> str:
    """A short factor f in (0, 1] with ``peak * f`` within 0.1% of ``level`` and never below ``floor``."""
    exact = level / peak
    return _shortest(exact, lambda f: 0.0 < f <= 1.0 and peak * f >= floor and abs(f - exact) <= 1e-3 * exact)


def _search_int(ev: Callable[[int], float], lo: int, hi: int, n_grid: int) -> int:
    """Minimise ``ev`` over the integers in [lo, hi]: ``n_grid`` evenly spaced points, then golden-section search
    between the neighbours of the best one (the objective is assumed unimodal there)."""
    grid = np.unique(np.round(np.linspace(lo, hi, n_grid)).astype(np.int64))
    vals = [ev(int(k)) for k in grid]
    i = int(np.argmin(vals))
    a, b = int(grid[max(i - 1, 0)]), int(grid[min(i + 1, grid.size - 1)])
    while b - a > 3:
        m1 = a + int(round((b - a) * 0.381966))
        m2 = b - int(round((b - a) * 0.381966))
        if m1 == m2:
            m2 += 1
        if ev(m1) <= ev(m2):
            b = m2
        else:
            a = m1
    return min([*range(a, b + 1), int(grid[i])], key=ev)


def family_search(
    objective: Callable[[np.ndarray, bool], tuple[float, np.ndarray | None]],
    *,
    steps: int,
    peak: float,
    warmup: int,
    floor: float = 0.0,
    shapes: tuple[str, ...] = ("linear", "cosine", "1-sqrt", "exp"),
    n_grid: int = 40,
) -> FamilySearch:
    """Search WSD cooldown fraction x shape, the final LR of a cosine and a step drop under ``objective``.

    WSD members end at ``floor``, ``peak/100`` or ``peak/10`` (the latter two raised to the floor; ``exp`` only at
    a final LR > 0, since an exponential never reaches 0); for each, the cooldown length is searched on ``n_grid``
    lengths in [1, T - W], then refined step by step around the best one by golden-section search over the integer
    cooldown length. The cosine's final LR is searched in ``[floor, peak/2]`` (bounded Brent). The step family
    (``multistep`` with one milestone) holds the peak, then drops in one step to a level held to the end: the
    lowest LR searched (``max(floor, 1e-9 peak)``, see :func:`optimize_schedule`), ``peak/100`` or ``peak/10``,
    its position searched like a cooldown length. Laws fitted with a saturating loss drop (MPL with beta or gamma
    at a bound) are minimised by such a drop, which no smooth family nor a local search from one reaches. The
    constant schedule is a member too. Every member is built from its spec string, so the reported spec
    reproduces the evaluated schedule. Cost: ~60 objective evaluations per family, each cheap (only nonzero
    decrements are evaluated).
    """
    from scipy.optimize import minimize_scalar

    from scalefit import schedules

    t0 = time.perf_counter()
    evaluated: dict[str, tuple[float, np.ndarray]] = {}
    finals = sorted({floor, max(floor, peak / 100.0), max(floor, peak / 10.0)})

    def ev(spec: str) -> float:
        if spec not in evaluated:
            lr = schedules.from_spec(spec)
            evaluated[spec] = (float(objective(lr, False)[0]), lr)
        return evaluated[spec][0]

    def keep(name: str, spec: str) -> None:
        if name not in best or evaluated[spec][0] < best[name].objective_value:
            best[name] = FamilyMember(spec, evaluated[spec][1], evaluated[spec][0])

    head = f"peak={_fmt(peak)},total={steps},warmup={warmup}"
    best: dict[str, FamilyMember] = {}
    n_max = steps - warmup  # longest cooldown after the warmup
    for shape, final in ((sh, fv) for sh in shapes for fv in finals):
        if shape == "exp" and final <= 0:
            continue
        tail = f",shape={shape}" + (f",final={_fmt(final)}" if final > 0 else "")

        def wsd_spec(n_cool: int, tail: str = tail) -> str:
            return f"wsd:{head},decay={_decay_text(int(n_cool), steps)}{tail}"

        n_cool = _search_int(lambda k, spec_of=wsd_spec: ev(spec_of(k)), 1, n_max, n_grid)
        keep(f"wsd-{shape}", wsd_spec(n_cool))
    # step drop: peak until step k (>= max(W, 1)), then `level` to the end
    low = max(floor, _LOW * peak)
    for level in sorted({low, max(low, peak / 100.0), max(low, peak / 10.0)}):
        factor = _factor_text(level, peak, floor)

        def step_spec(k: int, factor: str = factor) -> str:
            return f"multistep:{head},milestones={_milestone_text(int(k), steps)},factor={factor}"

        k = _search_int(lambda k, spec_of=step_spec: ev(spec_of(k)), max(warmup, 1), steps - 1, n_grid)
        keep("step", step_spec(k))
    # cosine with a searched final LR
    hi_final = peak / 2.0
    cos_spec = lambda fin: f"cosine:{head},final={_fmt(float(fin))}"  # noqa: E731
    grid_f = [floor] + [floor + (hi_final - floor) * q for q in (0.01, 0.03, 0.1, 0.2, 0.4, 0.7, 1.0)]
    vals = [ev(cos_spec(fv)) for fv in grid_f]
    i = int(np.argmin(vals))
    a, b = grid_f[max(i - 1, 0)], grid_f[min(i + 1, len(grid_f) - 1)]
    if b > a:
        r = minimize_scalar(lambda fv: ev(cos_spec(float(np.format_float_positional(fv, 3, fractional=False)))),
                            bounds=(a, b), method="bounded", options={"xatol": peak * 1e-4, "maxiter": 40})
        cands = [cos_spec(float(np.format_float_positional(r.x, 3, fractional=False))), cos_spec(grid_f[i])]
    else:
        cands = [cos_spec(grid_f[i])]
    keep("cosine", min(cands, key=ev))
    spec = f"constant:{head}"
    ev(spec)
    keep("constant", spec)
    overall = min(best.values(), key=lambda m: m.objective_value)
    ranked = tuple(sorted(((s, v[0]) for s, v in evaluated.items()), key=lambda t: t[1]))
    return FamilySearch(best=overall, best_by_family=best, evaluated=ranked, seconds=time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------------------------------
# parameterisations: vector -> per-step LR after the warmup, and the chain rule back
# ---------------------------------------------------------------------------------------------------------------
def _knots(n: int, resolution: float, extra: Any = (), cap_knots: float = 200.0) -> np.ndarray:
    """Knot positions in 0..n-1: geometric spacing towards the end (``resolution`` x distance to the last step,
    at least 1 and at most n/cap_knots), always including 0, n-1 and the positions in ``extra``."""
    if resolution <= 0:
        return np.arange(n, dtype=np.int64)
    dist = [0.0]
    cap = max(1.0, n / cap_knots)  # at most cap_knots knots' worth of spacing anywhere (a drop is placed within)
    while dist[-1] < n - 1:
        dist.append(dist[-1] + min(cap, max(1.0, resolution * dist[-1])))
    pos = np.round(n - 1 - np.asarray(dist))
    pos = np.concatenate(([0.0, n - 1.0], pos, np.asarray(extra, dtype=np.float64).ravel()))
    return np.unique(np.clip(pos, 0, n - 1).astype(np.int64))


def _bends(eta: np.ndarray, scale: float, k: int = 8) -> np.ndarray:
    """The steps (and their neighbours) where ``eta`` bends most: the ``k`` largest ``|second difference|`` above
    ``1e-6 scale``. Knots there let the knot stage represent its start exactly (a WSD's kink, a step drop)."""
    if eta.size < 3:
        return np.zeros(0, dtype=np.int64)
    d2 = np.abs(np.diff(eta, 2))  # (n-2,) at steps 1..n-2
    top = np.argsort(d2)[::-1][:k]
    top = top[d2[top] > 1e-6 * scale] + 1
    return np.concatenate((top - 1, top, top + 1))


class _Param:
    """Map between a parameter vector z (one entry per knot, box-bounded) and the post-warmup LR ``eta`` (n,),
    linear between knots.

    Monotone: log-decays ``z = s >= 0`` from the start LR, ``eta_knot = max(low, start exp(-cumsum(s)))``. Every
    non-increasing schedule in ``[low, start]`` is reachable, with exactly one box-feasible z per schedule: a flat
    stretch is ``s = 0`` and a step down to ``low`` is one ``s`` at its bound ``log(start / low)``. Box bounds, not a
    smooth reparameterisation (softplus): there the gradient vanishes on flat stretches (``d softplus / dz -> 0``),
    so the search could not start a decay where its start held the LR. The log scale keeps the search well scaled
    over the orders of magnitude an optimum spans at its end. Otherwise ``z = eta_knot / start`` in the box
    ``[low, ceiling] / start``.
    """

    def __init__(self, n: int, pos: np.ndarray, *, monotone: bool, start: float, floor: float, ceiling: float):
        self.n, self.pos, self.monotone = n, pos, monotone
        self.start, self.low, self.ceiling = start, floor, ceiling
        self.full = pos.size == n
        if not self.full:
            self.steps = np.arange(n, dtype=np.float64)
            self.cuts = pos[:-1]  # segment j = steps pos[j] .. pos[j+1]-1 (the last one includes n-1)
            left = np.repeat(np.arange(pos.size - 1), np.diff(np.append(pos[:-1], n)))  # (n,) knot at or before
            self.w = (np.arange(n) - pos[left]) / (pos[left + 1] - pos[left])  # (n,) weight of the next knot
        m = pos.size
        if monotone:
            self.lower = np.zeros(m)
            self.upper = np.full(m, math.log(start / floor) if floor > 0 else 745.0)
        else:
            self.lower = np.full(m, floor / start)
            self.upper = np.full(m, ceiling / start)

    def _free_level(self, z: np.ndarray) -> np.ndarray:
        return self.start * np.exp(-np.cumsum(z))  # (m,) the knot LRs before the clip at `low`

    def knot_values(self, z: np.ndarray) -> np.ndarray:
        if self.monotone:
            return np.maximum(self._free_level(z), self.low)
        return np.clip(z * self.start, self.low, self.ceiling)

    def eta(self, z: np.ndarray) -> np.ndarray:
        ek = self.knot_values(z)
        if self.full:
            return ek
        return np.interp(self.steps, self.pos, ek)

    def grad(self, z: np.ndarray, g_eta: np.ndarray) -> np.ndarray:
        """Chain rule: d objective / d z from d objective / d eta (n,)."""
        if self.full:
            gk = g_eta
        else:
            gk = np.zeros(self.pos.size)
            gk[:-1] += np.add.reduceat((1.0 - self.w) * g_eta, self.cuts)
            gk[1:] += np.add.reduceat(self.w * g_eta, self.cuts)
        if self.monotone:
            v = self._free_level(z)
            return -np.cumsum((gk * np.where(v > self.low, v, 0.0))[::-1])[::-1]
        return gk * self.start

    def from_eta(self, eta: np.ndarray) -> np.ndarray:
        """Parameters whose knot values are ``eta`` at the knots (clipped into the feasible set)."""
        ek = np.asarray(eta, dtype=np.float64)[self.pos]
        if self.monotone:
            ek = np.minimum.accumulate(np.clip(ek, self.low, self.start))
            r = np.log(ek / self.start)  # (m,) <= 0
            return np.clip(-np.diff(np.concatenate(([0.0], r))), self.lower, self.upper)
        return np.clip(ek, self.low, self.ceiling) / self.start


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
               maxls: int = 20) -> _BoxResult:
    """Minimise ``fun`` (value, gradient) over the box [lower, upper]: projected L-BFGS (Bertsekas' two-metric
    projection with an L-BFGS metric on the free variables).

    Each iteration fixes the variables at a bound whose gradient points outwards, takes the L-BFGS direction
    (memory ``m``) on the others, and backtracks along the projected path ``clip(x + t d)`` until the Armijo
    condition holds. It stops when the relative reduction of f in one iteration is at most ``ftol`` (scipy's
    ``ftol``; only after a quasi-Newton step), when the projected gradient is at most ``gtol``, or after ``maxiter``
    iterations. This replaces scipy's L-BFGS-B here: that one calls BLAS on every iteration, and threaded BLAS on
    a loaded 2-core machine made one iteration cost 0.7-10 ms for 170 variables (0.03-0.15 ms with one BLAS
    thread), more than the whole objective. Pure numpy, no BLAS: O(m n) per iteration.
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
        message = (f"STOP: ITERATION LIMIT {maxiter}, the last {k} iterations gained {history[-k - 1] - f:.1e}"
                   if k else f"STOP: ITERATION LIMIT {maxiter}")
    return _BoxResult(x=x, fun=float(f), nit=nit, nfev=nfev, message=message, success=success)


# ---------------------------------------------------------------------------------------------------------------
# the result
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OptimizedSchedule:
    """An optimised per-step schedule and how it was found.

    Attributes
    ----------
    lr : ndarray, shape (T,)
        The LR of every step, warmup included (``schedules.to_csv`` / :meth:`to_csv` writes it).
    final_loss, lower, upper : float
        Predicted loss at the last step (nats per token) and its ``interval`` band, the fit's prediction interval
        (parameter covariance, plus the cross-validated law error when the fit measured it; NaN without a
        FitResult). This is the number ``scalefit predict --schedule-file`` prints.
    objective, objective_value : str, float
        What was minimised (``final``, ``last:K``, ``step:S``) and its exact value at ``lr``.
    start_spec, start_value : str, float
        The schedule the search started from (the best family member) and its objective value.
    seconds, iterations, evaluations : float, int, int
        Wall time of the whole search (family search included), optimiser iterations and objective evaluations.
    method, converged, message : str, bool, str
    law : str
    warmup, peak, floor, ceiling, monotone : the constraints (``ceiling`` None = the peak).
    family : FamilySearch or None
        The family search that gave the start (None when a start was given).
    """

    lr: np.ndarray = field(repr=False)
    final_loss: float
    lower: float
    upper: float
    interval: float
    objective: str
    objective_value: float
    start_spec: str
    start_value: float
    seconds: float
    iterations: int
    evaluations: int
    method: str
    converged: bool
    message: str
    law: str
    warmup: int
    peak: float
    floor: float
    ceiling: float | None
    monotone: bool
    family: FamilySearch | None = field(default=None, repr=False)

    @property
    def constraints(self) -> dict[str, Any]:
        """The constraints as plain data."""
        return {"steps": int(self.lr.size), "peak": self.peak, "warmup": self.warmup, "floor": self.floor,
                "ceiling": self.ceiling, "monotone": self.monotone}

    def summary(self) -> dict[str, Any]:
        """Plain dict: losses, objective, timing, method and constraints (no arrays)."""
        return {"final_loss": self.final_loss, "lower": self.lower, "upper": self.upper, "interval": self.interval,
                "objective": self.objective, "objective_value": self.objective_value, "start": self.start_spec,
                "start_value": self.start_value, "seconds": self.seconds, "iterations": self.iterations,
                "evaluations": self.evaluations, "method": self.method, "converged": self.converged,
                "message": self.message, "law": self.law, "constraints": self.constraints}

    def to_csv(self, path: Any) -> Any:
        """Write the schedule as ``step,lr`` (readable by ``scalefit predict --schedule-file``)."""
        from scalefit.schedules import to_csv

        return to_csv(path, self.lr)


# ---------------------------------------------------------------------------------------------------------------
# the optimiser
# ---------------------------------------------------------------------------------------------------------------
def _law_of(fit_or_values: Any, law: str | None) -> tuple[str, dict[str, float], dict[str, Any], Any]:
    """(law name, parameter values, law options, FitResult or None)."""
    from scalefit.results import FitResult

    if isinstance(fit_or_values, FitResult):
        return fit_or_values.law, dict(fit_or_values.values), dict(fit_or_values.law_options), fit_or_values
    if isinstance(fit_or_values, Mapping):
        return law or "mpl", {k: float(v) for k, v in fit_or_values.items()}, {}, None
    raise FitInputError(f"optimize_schedule needs a FitResult or a mapping of parameter values; got "
                        f"{type(fit_or_values).__name__}.")


def _check(steps: Any, peak: Any, warmup: Any, floor: Any, ceiling: Any, method: str, max_iter: int | None = None,
           polish: int = 0, refine: int = 0) -> tuple[int, float, int]:
    try:
        T, W = int(steps), int(warmup)
    except (TypeError, ValueError):
        raise FitInputError(f"steps and warmup must be integers; got steps={steps!r}, warmup={warmup!r}.") from None
    if T != steps or W != warmup or W < 0 or T < max(W, 1) + 2:
        raise FitInputError(f"need integer steps >= warmup + 2 and warmup >= 0; got steps={steps!r}, "
                            f"warmup={warmup!r}. Example: --steps 24000 --warmup 2160", value=steps)
    pk = float(peak)
    if not (math.isfinite(pk) and pk > 0):
        raise FitInputError(f"peak LR must be finite and > 0; got {peak!r}. Example: --peak 3e-4", value=peak)
    fl = float(floor)
    if not (math.isfinite(fl) and 0 <= fl < pk):
        raise FitInputError(f"floor LR must satisfy 0 <= floor < peak ({pk:g}); got {floor!r}. "
                            "Example: --floor 3e-5", value=floor)
    if ceiling is not None and not (math.isfinite(float(ceiling)) and float(ceiling) > fl):
        raise FitInputError(f"ceiling LR must be finite and > floor ({fl:g}); got {ceiling!r}.", value=ceiling)
    if method not in METHODS:
        raise FitInputError(f"unknown method {method!r}; use one of {', '.join(METHODS)}.", value=method)
    if (max_iter is not None and max_iter < 1) or polish < 0 or refine < 0:
        raise FitInputError(f"--iterations must be >= 1, --polish and refine >= 0; got {max_iter}, {polish}, "
                            f"{refine}. Example: --iterations 3000 --polish 2000")
    return T, pk, W


def _warn_law(law_name: str, law_options: Mapping[str, Any], fit: Any, monotone: bool, method: str) -> None:
    """The law's own warnings about its optimum (declared on the law: ``degenerate_optimum``, ``drop_shape`` at a
    bound, ``non_monotone_warning``)."""
    from scalefit.laws import get_law, optimizable_laws

    try:
        law = get_law(law_name, **dict(law_options))
    except (KeyError, TypeError):
        return  # make_objective says what is wrong
    if law.degenerate_optimum:
        good = " or ".join(f"--law {n}" for n in optimizable_laws(degenerate=False)) or "another law"
        warnings.warn(
            f"optimising the {law.title} ({law_name}): {law.degenerate_optimum}. The schedule below is that optimum; "
            f"do not train with it. Fit {good} to optimise a schedule.", DegenerateOptimumWarning, stacklevel=3)
    stuck = [n for n in law.drop_shape if fit is not None and n in fit.params and fit.params[n].at_bound]
    if stuck:
        warnings.warn(
            f"the fit's loss-drop shape ({', '.join(stuck)}) sits at its bounds: the fitted runs do not "
            "determine how fast the loss follows an LR drop, and the optimum may be a drop in the last few "
            "steps that real training does not reward (measured: benchmarks/RESULTS.md, closed loop). Fit "
            "runs that contain cooldowns (WSD, step) before trusting this schedule.",
            IllConditionedWarning, stacklevel=3)
    if law.non_monotone_warning and not monotone and method != "adam":
        warnings.warn(law.non_monotone_warning, DegenerateOptimumWarning, stacklevel=3)


def optimize_schedule(
    fit_or_values: Any,
    *,
    steps: int,
    peak: float,
    warmup: int,
    floor: float = 0.0,
    ceiling: float | None = None,
    objective: str = "final",
    monotone: bool = True,
    method: str = "lbfgsb",
    seed: int = 0,
    law: str | None = None,
    n_params: float | None = None,
    interval: float = 0.9,
    resolution: float = 0.05,
    polish: int = 30,
    refine: int = 3,
    max_iter: int | None = None,
    n_starts: int = 1,
    start: np.ndarray | None = None,
    adam_lr: float = 0.01,
) -> OptimizedSchedule:
    """Minimise a fitted law's predicted loss over the per-step LR after the warmup.

    Parameters
    ----------
    fit_or_values : FitResult or mapping
        A fit (law "mpl", "tissue" or "tissue-n"), or parameter values by name (then ``law`` names the law,
        default "mpl", and no interval is available).
    steps, peak, warmup : int, float, int
        Total steps T (warmup included), the peak LR (held fixed at the last warmup step) and the warmup length
        W (the linear ramp of ``schedules.warmup_ramp``, held fixed).
    floor, ceiling : float
        Bounds on every post-warmup LR; ``ceiling`` defaults to the peak. The search itself stays at or above
        ``max(floor, 1e-9 peak)`` (module docstring, Constraints).
    objective : {"final", "last:K", "step:S"}
        Minimise the predicted loss at the last step, its mean over the last K steps, or at step index S.
        Cost O(K T) per evaluation for ``last:K``.
    monotone : bool
        Non-increasing LR after the peak (default), or any LR in [floor, ceiling].
    method : {"lbfgsb", "adam"}
        See the module docstring. ``adam`` is monotone only.
    seed : int
        Seeds the choice of extra starts (``n_starts > 1``: random other family members); same inputs and seed
        give the same schedule.
    n_params : float, optional
        Model size for "tissue-n" (default: the fit's).
    interval : float
        Coverage of the predicted-loss band.
    resolution : float
        Knot spacing relative to the distance to the last step (0 = every step is a variable from the start).
    polish : int
        Maximum iterations of the per-step L-BFGS polish after the knot stage (0 = none). The polish matters when
        the optimum has a sharp feature that the knots cannot place exactly.
    refine : int
        Refinement levels after the knot stage: each halves the knot spacing (and its cap), adds knots where the
        solution bends most, and warm-starts L-BFGS there (an improvement is kept). They place a sharp cooldown
        the first knots cannot: at T = 24,000, 0.001 nats lower predicted loss in ~1.3 s more.
    max_iter : int, optional
        Iterations of the knot stage (default 300) or of Adam (default 10,000). The L-BFGS stages stop earlier
        when an iteration gains less than 1e-13 (knots) or 1e-14 (polish) of the loss; the message says which,
        and at a cap how much the last 10 iterations still gained. With the refinement levels, more iterations
        change the optimum little (within 2e-4 nats at T = 24,000, ``benchmarks/RESULTS.md``).
    start : ndarray, shape (T,), optional
        Start schedule (default: the best family member under the same law).
    adam_lr : float
        Adam step size, in units of the decrement fractions ``d / (peak - floor)`` times the number of steps.

    Returns
    -------
    OptimizedSchedule

    Warns
    -----
    DegenerateOptimumWarning
        For the LR-annealing law ("tissue"): its optimum holds the peak, then drops to the floor at the end.
    IllConditionedWarning
        For an MPL fit whose loss-drop shape (C, beta, gamma) sits at its bounds: its optimum is not trustworthy.
    """
    from scalefit import schedules

    t0 = time.perf_counter()
    T, pk, W = _check(steps, peak, warmup, floor, ceiling, method, max_iter, polish, refine)
    fl = float(floor)
    law_name, values, law_options, fit = _law_of(fit_or_values, law)
    _warn_law(law_name, law_options, fit, monotone, method)
    if n_params is None and fit is not None and fit.context.n_params:
        n_params = float(fit.context.n_params[-1])
    if not monotone and method == "adam":
        raise FitInputError("method 'adam' optimises non-negative decrements (monotone only); use method "
                            "'lbfgsb' with monotone=False.", value=method)
    first = max(W, 1)
    index = parse_objective(objective, T, first)
    f = make_objective(law_name, values, steps=T, warmup=W, index=index, law_options=law_options,
                       n_params=n_params)
    top = pk if ceiling is None else min(pk, float(ceiling))  # start of a monotone decay
    cap = pk if ceiling is None else float(ceiling)  # upper bound of a non-monotone LR
    head = schedules.warmup_ramp(pk, W) if W > 0 else np.array([pk])  # (first,) fixed part
    n = T - first
    low = max(fl, _LOW * pk)  # lowest LR searched (see _LOW)

    def lr_of(eta: np.ndarray) -> np.ndarray:
        return np.concatenate((head, eta))

    family = None
    if start is None:
        family = family_search(f, steps=T, peak=pk, warmup=W, floor=fl)
        starts = [(family.best.spec, family.best.lr)]
        if n_starts > 1:
            rng = np.random.default_rng(seed)
            others = [s for s, _ in family.evaluated if s != family.best.spec]
            for j in rng.choice(len(others), size=min(n_starts - 1, len(others)), replace=False):
                starts.append((others[int(j)], schedules.from_spec(others[int(j)])))
    else:
        st = np.asarray(start, dtype=np.float64)
        if st.shape != (T,):
            raise FitInputError(f"start schedule has shape {st.shape}; expected ({T},).")
        starts = [("given", st)]
    start_spec, start_lr = starts[0]
    start_value = float(f(start_lr, False)[0])
    evals = 0
    iterations = 0

    def run_lbfgsb(eta0: np.ndarray, pos: np.ndarray, iters: int, tol: float) -> tuple[np.ndarray, _BoxResult]:
        par = _Param(n, pos, monotone=monotone, start=top if monotone else pk, floor=low, ceiling=cap)

        def fun(z: np.ndarray) -> tuple[float, np.ndarray]:
            nonlocal evals
            evals += 1
            loss, g = f(lr_of(par.eta(z)), True)
            return loss, par.grad(z, g)

        res = _lbfgs_box(fun, par.from_eta(eta0), par.lower, par.upper, maxiter=iters, ftol=tol)
        return par.eta(res.x), res

    best_eta, best_val, message, converged = None, np.inf, "", False
    if method == "lbfgsb":
        knot_iters = max_iter or 300  # the knot stage and each refinement level
        for _, lr0 in starts:
            pos = _knots(n, resolution, extra=_bends(lr0[first - 1:], pk) - 1)  # (bends index the peak too)
            eta, res = run_lbfgsb(lr0[first:], pos, knot_iters, 1e-13)
            iterations += res.nit
            msg, ok = f"knots ({pos.size}, {res.nit} iterations): {res.message}", res.success
            for level in range(1, refine + 1):  # finer knots where the solution bends, each level warm-started
                scale = 2.0 ** level
                pos = _knots(n, resolution / scale, extra=np.concatenate((pos, _bends(eta, pk, k=16))),
                             cap_knots=200.0 * scale)
                if pos.size >= n:
                    break
                eta_r, res_r = run_lbfgsb(eta, pos, knot_iters, 1e-13)
                iterations += res_r.nit
                if res_r.fun <= res.fun:
                    eta, res = eta_r, res_r
                msg += f"; knots ({pos.size}, {res_r.nit} iterations): {res_r.message}"
            if polish > 0 and pos.size < n:
                eta2, res2 = run_lbfgsb(eta, np.arange(n), polish, 1e-14)
                iterations += res2.nit
                if res2.fun <= res.fun:
                    eta = eta2
                msg += f"; polish ({res2.nit} iterations): {res2.message}"
                ok = bool(res2.success)  # the per-step problem is the one solved: its polish decides
            val = float(f(lr_of(eta), False)[0])
            if val < best_val:
                best_eta, best_val, message, converged = eta, val, msg, ok
    else:
        best_eta, iterations, e_adam = _adam(f, start_lr[first:], lr_of, top=top, floor=low,
                                             iters=max_iter or 10_000, step=adam_lr / n)
        evals += e_adam
        best_val = float(f(lr_of(best_eta), False)[0])
        message, converged = f"Adam, {iterations} iterations (fixed budget)", True
    lr = lr_of(best_eta)
    if monotone:  # exact feasibility after floating-point rounding
        lr[first:] = np.minimum.accumulate(np.clip(lr[first:], fl, top))
    else:
        lr[first:] = np.clip(lr[first:], fl, cap)
    if start_value < float(f(lr, False)[0]):  # never return worse than the start
        lr = np.array(start_lr, dtype=np.float64)
        message += "; the start was better and is returned"
    obj_value = float(f(lr, False)[0])
    lr_min = float(fit.context.lr_min) if fit is not None else 0.0
    low = float(lr[first:].min())
    if lr_min > 0 and low < lr_min / 10 and fl < lr_min / 10:
        warnings.warn(
            f"the optimised schedule goes down to LR {low:.3g}, {lr_min / max(low, 1e-300):.3g}x below the smallest "
            f"LR the fit saw ({lr_min:.3g}); the law's loss drop is extrapolated there and may reward vanishing LRs "
            f"(check exponents at their bounds). Pass --floor {lr_min:.3g} to stay within the fitted range.",
            ExtrapolationWarning, stacklevel=2)
    final_loss, lower, upper = _predict_final(fit, law_name, values, law_options, lr, W, interval, n_params,
                                              "optimized")
    if not final_loss > 0:
        raise ConvergenceError(
            f"law {law_name} predicts a loss of {final_loss:.4g} for the optimised schedule, which no run can reach: "
            f"its optimum is degenerate{' without the monotone constraint' if not monotone else ''}. Optimise with "
            "the default monotone search, a higher --floor, or a law fitted on runs like the target schedule.",
            best=lr)
    return OptimizedSchedule(
        lr=lr, final_loss=final_loss, lower=lower, upper=upper, interval=float(interval), objective=str(objective),
        objective_value=obj_value, start_spec=start_spec, start_value=start_value,
        seconds=time.perf_counter() - t0, iterations=iterations, evaluations=evals, method=method,
        converged=converged, message=message, law=law_name, warmup=W, peak=pk, floor=fl,
        ceiling=None if ceiling is None else float(ceiling), monotone=bool(monotone), family=family)


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


def _predict_final(fit: Any, law_name: str, values: Mapping[str, float], law_options: Mapping[str, Any],
                   lr: np.ndarray, warmup: int, interval: float, n_params: float | None,
                   label: str) -> tuple[float, float, float]:
    """Final loss with interval through ``FitResult.predict`` (the number ``scalefit predict`` prints); the law's
    own prediction and NaN bounds without a FitResult."""
    if fit is not None:
        p = fit.predict(lr, warmup=warmup, interval=interval, n_params=n_params, at=np.array([lr.size - 1]),
                        label=label)
        return p.final_loss, float(p.lower[-1]), float(p.upper[-1])
    from scalefit.laws import get_law

    law = get_law(law_name, **dict(law_options))
    loss = float(law.predict(values, lr, warmup=warmup, at=np.array([lr.size - 1]), n_params=n_params)[0])
    return loss, math.nan, math.nan


# ---------------------------------------------------------------------------------------------------------------
# baselines
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Baseline:
    """One row of the comparison table: a named schedule, its spec, LR and predicted final loss with interval."""

    name: str
    spec: str
    lr: np.ndarray = field(repr=False)
    final_loss: float
    lower: float
    upper: float

    def summary(self) -> dict[str, Any]:
        return {"schedule": self.name, "spec": self.spec, "final_loss": self.final_loss, "lower": self.lower,
                "upper": self.upper}


def baselines(fit_or_values: Any, opt: OptimizedSchedule, *, law: str | None = None,
              n_params: float | None = None) -> list[Baseline]:
    """The optimised schedule against the best family member, cosine to the floor, linear to zero and constant,
    each with its predicted final loss and interval (same law, steps, peak and warmup), best first.

    An extrapolation warning (schedule beyond the fitted range) is emitted once for the whole table.
    """
    from scalefit import schedules

    law_name, values, law_options, fit = _law_of(fit_or_values, law)
    if n_params is None and fit is not None and fit.context.n_params:
        n_params = float(fit.context.n_params[-1])
    T, W, pk, fl = opt.lr.size, opt.warmup, opt.peak, opt.floor
    head = f"peak={_fmt(pk)},total={T},warmup={W}"
    rows: list[tuple[str, str, np.ndarray]] = [("optimized", "(per-step, --out)", opt.lr)]
    if opt.family is not None:
        rows.append(("best family", opt.family.best.spec, opt.family.best.lr))
    for name, spec in ((f"cosine to {_fmt(fl)}", f"cosine:{head},final={_fmt(fl)}"),
                       ("linear to 0", f"linear:{head},final=0"),
                       ("constant", f"constant:{head}")):
        rows.append((name, spec, schedules.from_spec(spec)))
    out = []
    caught_msgs: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ExtrapolationWarning)
        for name, spec, lr in rows:
            loss, lo, hi = _predict_final(fit, law_name, values, law_options, lr, W, opt.interval, n_params, name)
            out.append(Baseline(name, spec, lr, loss, lo, hi))
    for w in caught:
        if issubclass(w.category, ExtrapolationWarning):
            caught_msgs.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if caught_msgs:
        first_msg = caught_msgs[0]
        reason = first_msg.split("extrapolates: ", 1)[-1].split(";", 1)[0]
        warnings.warn(f"{len(caught_msgs)} of {len(rows)} schedules in the comparison extrapolate beyond the fit "
                      f"({reason}); their intervals understate the error.", ExtrapolationWarning, stacklevel=2)
    return sorted(out, key=lambda b: b.final_loss)
