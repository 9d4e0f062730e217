"""IsoFLOP profiles (Hoffmann et al. 2022, approach 2): the loss-optimal model size at each compute budget.

Runs are grouped by compute budget (the ``flops`` column, or C = 6ND) within a stated relative tolerance. In each
budget the loss is fitted by a parabola in ln N (Hoffmann et al.'s choice, also Llama 3's); its vertex is the
budget's optimum N*, and D* = C / (k N*) with k the budget's median C / (N D) (6 when C = 6ND), so that
a + b = 1 when every budget counts compute alike. N*(C) and D*(C) are then power laws fitted by least squares on
the logs over the budgets. Intervals: a seeded bootstrap that resamples runs within each budget, refits every
parabola and the two power laws (percentile intervals).

Why a parabola: on simulated isoFLOP sweeps from Chinchilla-form laws (symmetric and asymmetric exponents, sweeps
centred up to a factor 2 off the optimum, 9 budgets of 9 runs over 10x to 100x in N, 0.2-0.5% noise) the
parabola's N*(C) exponent had bias below 0.003 and the smallest spread, against a parabola in log loss, parabolas
through the runs within 1-2% of the best loss (larger spread), and a per-budget ``e + a N^-alpha + b N^beta``
with shared exponents (no better); see ``benchmarks/RESULTS.md``.

A budget whose minimum is not bracketed by its runs (the vertex outside the sampled sizes, the best run at the
smallest or largest size, or a loss that is not convex in ln N) is named and left out of the frontier fit.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scalefit.errors import AssumptionWarning, FitInputError
from scalefit.scaling.solve import Progress

#: Relative half-width of a budget: runs within this factor of the budget's centre belong to it.
TOLERANCE = 0.1
#: Fewest runs (with at least 3 distinct sizes) that make a budget.
MIN_RUNS = 5
#: Fewest budgets the frontier fit needs.
MIN_BUDGETS = 3


@dataclass(frozen=True)
class PowerLawFit:
    """``y = coef * C^exponent`` with the bootstrap percentile interval ``[lower, upper]`` of the exponent."""

    coef: float
    exponent: float
    lower: float
    upper: float
    draws: np.ndarray = field(default_factory=lambda: np.empty((0, 2)), repr=False)  # (n_boot, 2): ln coef, exp.

    def __call__(self, C: Any) -> np.ndarray:
        return self.coef * np.asarray(C, float) ** self.exponent

    def interval(self, C: float, level: float = 0.9) -> tuple[float, float]:
        """Bootstrap interval of the power law's value at C (NaN without draws)."""
        if self.draws.shape[0] < 2:
            return float("nan"), float("nan")
        v = self.draws[:, 0] + self.draws[:, 1] * np.log(C)
        q = (1 - level) / 2
        return float(np.exp(np.quantile(v, q))), float(np.exp(np.quantile(v, 1 - q)))

    def summary(self) -> dict[str, float]:
        return {"coef": self.coef, "exponent": self.exponent, "lower": self.lower, "upper": self.upper}


def frontier_optimal(n_opt: PowerLawFit, d_opt: PowerLawFit, flops: float, interval: float = 0.9) -> dict[str, float]:
    """``params``, ``tokens`` at C from a fitted frontier, with ``*_lower`` / ``*_upper`` bootstrap bounds."""
    out = {"params": float(n_opt(flops)), "tokens": float(d_opt(flops))}
    out["params_lower"], out["params_upper"] = n_opt.interval(flops, interval)
    out["tokens_lower"], out["tokens_upper"] = d_opt.interval(flops, interval)
    return out


@dataclass(frozen=True)
class Budget:
    """One compute budget: its runs (row indices), the parabola ``loss = c0 + c1 x + c2 x^2`` in x = ln N, and its
    optimum with a bootstrap interval. ``excluded`` says why it is left out of the frontier ("" when used)."""

    flops: float
    rows: tuple[int, ...]
    coef: tuple[float, float, float]
    n_opt: float
    lower: float
    upper: float
    d_opt: float
    loss_opt: float
    n_range: tuple[float, float]
    excluded: str = ""

    @property
    def used(self) -> bool:
        return not self.excluded

    def summary(self) -> dict[str, Any]:
        return {"flops": self.flops, "n_opt": self.n_opt, "d_opt": self.d_opt, "loss_opt": self.loss_opt,
                "lower": self.lower, "upper": self.upper, "runs": len(self.rows), "used": self.used,
                "excluded": self.excluded or None}


def group_budgets(flops: Any, tol: float = TOLERANCE, budgets: Any = None) -> list[np.ndarray]:
    """Row indices of each compute budget, largest group first.

    With ``budgets`` (the sweep's nominal budgets) each run joins the nearest one within ``tol``; otherwise
    budgets are found greedily: the window of relative half-width ``tol`` holding the most runs, re-centred on
    its median, then the same among the runs left. Runs in no budget are in no group.
    """
    lc = np.log(np.asarray(flops, float))
    w = np.log1p(tol)
    if budgets is not None:
        lb = np.log(np.asarray(budgets, float))
        dist = np.abs(lc[:, None] - lb[None])  # (n, b)
        near = dist.argmin(axis=1)
        ok = dist.min(axis=1) <= w
        groups = [np.flatnonzero(ok & (near == j)) for j in range(lb.size)]
        return sorted((g for g in groups if g.size), key=len, reverse=True)
    left = np.ones(lc.size, bool)
    groups = []
    while left.any():
        idx = np.flatnonzero(left)
        counts = (np.abs(lc[idx, None] - lc[None, idx]) <= w).sum(axis=1)  # runs within the window around each
        centre = np.median(lc[idx][np.abs(lc[idx] - lc[idx[np.argmax(counts)]]) <= w])
        member = left & (np.abs(lc - centre) <= w)
        if not member.any():
            member = left & (lc == lc[idx[np.argmax(counts)]])
        groups.append(np.flatnonzero(member))
        left &= ~member
    return groups


def _vertex(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Parabola coefficients (c0, c1, c2) and its vertex in x, or None when it is not convex."""
    if np.unique(x).size < 3:
        return None
    M = np.stack([np.ones_like(x), x, x * x], axis=1)  # (n, 3)
    c, *_ = np.linalg.lstsq(M, y, rcond=None)
    if c[2] <= 0:
        return None
    return c, float(-c[1] / (2 * c[2]))


def _frontier(lc: np.ndarray, ly: np.ndarray) -> tuple[float, float]:
    """Least squares of ly on lc: (intercept, slope)."""
    slope, intercept = np.polyfit(lc, ly, 1)
    return float(intercept), float(slope)


@dataclass(frozen=True, eq=False)
class IsoflopFit:
    """IsoFLOP profiles: the budgets and the fitted N*(C) and D*(C) power laws (see the module docstring)."""

    budgets: tuple[Budget, ...]
    n_opt: PowerLawFit
    d_opt: PowerLawFit
    tolerance: float
    n_bootstrap: int
    seed: int
    level: float
    compute: str = "6ND"
    messages: tuple[str, ...] = ()

    method = "isoflop"

    def optimal(self, flops: float, interval: float = 0.9) -> dict[str, float]:
        """N* and D* at C from the fitted power laws, with bootstrap intervals."""
        return frontier_optimal(self.n_opt, self.d_opt, flops, interval)

    def summary(self) -> dict[str, Any]:
        """The ``--json`` object of ``scalefit scaling --method isoflop``."""
        return {"method": "isoflop", "n_opt": self.n_opt.summary(), "d_opt": self.d_opt.summary(),
                "budgets": [b.summary() for b in self.budgets], "tolerance": self.tolerance,
                "interval": self.level, "n_bootstrap": self.n_bootstrap, "compute": self.compute,
                "messages": list(self.messages)}

    def report(self) -> str:
        """Budgets table, the two power laws with intervals, then the notes."""
        pct = f"{self.level:.0%}"
        lines = [f"isoFLOP profiles (Hoffmann et al. 2022, approach 2): parabola in ln N per budget, "
                 f"{sum(b.used for b in self.budgets)} of {len(self.budgets)} budgets used, budget tolerance "
                 f"+-{self.tolerance:.0%}, compute {self.compute}",
                 f"  {'budget C':>10} {'runs':>5} {'N*':>10} {f'N* {pct} interval':>24} {'D*':>10} {'loss*':>8}  note"]
        for b in self.budgets:
            lines.append(f"  {b.flops:>10.3g} {len(b.rows):>5} {b.n_opt:>10.3g} "
                         f"{f'[{b.lower:.3g}, {b.upper:.3g}]':>24} {b.d_opt:>10.3g} {b.loss_opt:>8.4f}  "
                         f"{'left out: ' + b.excluded if b.excluded else ''}")
        for name, p in (("N*", self.n_opt), ("D*", self.d_opt)):
            lines.append(f"  {name}(C) = {p.coef:.4g} C^{p.exponent:.4f}  ({pct} interval of the exponent "
                         f"[{p.lower:.4f}, {p.upper:.4f}])")
        lines.extend(f"  note: {m}" for m in self.messages)
        return "\n".join(lines)


def fit_isoflop(params: Any, tokens: Any, loss: Any, *, flops: Any = None, tol: float = TOLERANCE,
                budgets: Any = None, bootstrap: int = 200, seed: int = 0, level: float = 0.9,
                compute: str = "6ND", progress: Progress = None) -> IsoflopFit:
    """IsoFLOP analysis of finished runs (see the module docstring).

    Parameters
    ----------
    params, tokens, loss : array-like, shape (n,)
        N, D and final loss of each run.
    flops
        Compute of each run (default 6ND); defines the budgets.
    tol, budgets
        Relative half-width of a budget, and optionally the sweep's nominal budgets (see :func:`group_budgets`).
    bootstrap, seed, level
        Bootstrap resamples within each budget, their seed, and the interval level.

    Raises
    ------
    FitInputError
        Fewer than 3 budgets whose optimum lies inside their sampled sizes.
    """
    N, D, L = (np.asarray(v, float).ravel() for v in (params, tokens, loss))
    C = 6.0 * N * D if flops is None else np.asarray(flops, float).ravel()
    for name, v in (("params", N), ("tokens", D), ("loss", L), ("flops", C)):
        if v.shape != N.shape or not np.all(np.isfinite(v)) or np.any(v <= 0):
            raise FitInputError(f"'{name}' must be positive and finite on every row, of one length.", column=name)
    if not 0 < tol < 1:
        raise FitInputError(f"budget tolerance {tol} must be a fraction in (0, 1), e.g. 0.1 for +-10%.", value=tol)
    messages: list[str] = []
    groups, small = [], []
    for g in group_budgets(C, tol, budgets):
        (groups if g.size >= MIN_RUNS and np.unique(N[g]).size >= 3 else small).append(g)
    if small:
        messages.append(f"{sum(g.size for g in small)} run(s) in {len(small)} group(s) near "
                        f"{', '.join(f'{np.median(C[g]):.3g}' for g in small[:6])}{' ...' if len(small) > 6 else ''}"
                        f" form no budget (fewer than {MIN_RUNS} runs or 3 sizes) and are not used.")
    groups.sort(key=lambda g: float(np.median(C[g])))
    x, lD = np.log(N), np.log(D)
    rng = np.random.default_rng(seed)
    out: list[Budget] = []
    boot_x = np.full((bootstrap, len(groups)), np.nan)  # (n_boot, budgets): ln N* of each resample
    boot_d = np.full((bootstrap, len(groups)), np.nan)
    for j, g in enumerate(groups):
        xs, ys = x[g], L[g]
        lcb = float(np.median(np.log(C[g])))  # the budget's C
        lk = float(np.median(np.log(C[g]) - xs - lD[g]))  # ln of C / (N D): ln 6 when C = 6ND
        fit = _vertex(xs, ys)
        why = ""
        if fit is None:
            why = "the loss is not convex in ln N over its runs"
            c, xv = np.full(3, np.nan), float(xs[np.argmin(ys)])
        else:
            c, xv = fit
            best = xs[np.argmin(ys)]
            if not xs.min() <= xv <= xs.max():
                why = "its parabola's minimum lies outside the sampled sizes"
            elif best in (xs.min(), xs.max()):
                why = f"its best run is at the {'smallest' if best == xs.min() else 'largest'} sampled size"
        for b in range(bootstrap):
            pick = rng.integers(0, g.size, g.size)
            r = _vertex(xs[pick], ys[pick])
            if r is not None:
                boot_x[b, j] = r[1]
                boot_d[b, j] = lcb - lk - r[1]
        q = (1 - level) / 2
        ok = np.isfinite(boot_x[:, j])
        lo, hi = (np.exp(np.quantile(boot_x[ok, j], [q, 1 - q])) if ok.sum() >= 10 else (np.nan, np.nan))
        loss_opt = float(c[0] + c[1] * xv + c[2] * xv * xv) if fit is not None else float(ys.min())
        out.append(Budget(flops=float(np.exp(lcb)), rows=tuple(map(int, g)),
                          coef=tuple(map(float, c)), n_opt=float(np.exp(xv)), lower=float(lo), upper=float(hi),
                          d_opt=float(np.exp(lcb - lk - xv)), loss_opt=loss_opt,
                          n_range=(float(N[g].min()), float(N[g].max())), excluded=why))
        if progress is not None:
            progress(j + 1, len(groups))
    left_out = [b for b in out if b.excluded]
    if left_out:
        msg = (f"{len(left_out)} budget(s) left out of the frontier fit, their minimum at the edge of the sampled "
               f"sizes: " + "; ".join(f"C = {b.flops:.3g} ({b.excluded})" for b in left_out)
               + ". Sweep sizes on both sides of their best run.")
        messages.append(msg)
        warnings.warn(msg, AssumptionWarning, stacklevel=2)
    used = np.array([b.used for b in out], bool)
    if used.sum() < MIN_BUDGETS:
        raise FitInputError(f"only {int(used.sum())} compute budget(s) with a bracketed minimum ({len(out)} budget(s) "
                            f"of {MIN_RUNS}+ runs within +-{tol:.0%}); the isoFLOP frontier needs at least "
                            f"{MIN_BUDGETS}. Add budgets, "
                            "or sweep sizes on both sides of each budget's best run (or widen --flops-tolerance).")
    lc = np.log([b.flops for b in out])[used]
    laws = []
    for y, draws in ((np.log([b.n_opt for b in out])[used], boot_x[:, used]),
                     (np.log([b.d_opt for b in out])[used], boot_d[:, used])):
        a0, a1 = _frontier(lc, y)
        bd = []
        for row in draws:
            ok = np.isfinite(row)
            if ok.sum() >= 2:
                bd.append(_frontier(lc[ok], row[ok]))
        bd_arr = np.array(bd).reshape(-1, 2)
        q = (1 - level) / 2
        lo, hi = (np.quantile(bd_arr[:, 1], [q, 1 - q]) if bd_arr.shape[0] >= 10 else (np.nan, np.nan))
        laws.append(PowerLawFit(float(np.exp(a0)), a1, float(lo), float(hi), bd_arr))
    messages.append(f"intervals: {level:.0%} bootstrap percentile intervals, {bootstrap} resamples of the runs "
                    f"within each budget, seed {seed}.")
    return IsoflopFit(budgets=tuple(out), n_opt=laws[0], d_opt=laws[1], tolerance=tol, n_bootstrap=bootstrap,
                      seed=seed, level=level, compute=compute, messages=tuple(messages))
