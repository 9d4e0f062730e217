"""Hoffmann et al.'s three approaches to the compute-optimal split, side by side (their Table 2, and
Besiroglu et al.'s): the exponents a of N* ~ C^a and b of D* ~ C^b with intervals.

1. the lower envelope of training curves over compute (:mod:`scalefit.scaling.envelope`; a summary table's
   points when no curves are given);
2. isoFLOP profiles (:mod:`scalefit.scaling.isoflop`);
3. the parametric loss law: Chinchilla's ``E + A/N^alpha + B/D^beta``, a = beta / (alpha + beta)
   (:mod:`scalefit.scaling.fit`). The over-training-aware law fixes a = b = 1/2, so it is not an estimate here.

An approach the data cannot support (too few budgets, too few sizes) gets its row with the reason instead.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from scalefit.errors import ScalefitError, ScalefitWarning
from scalefit.scaling.envelope import Curve, fit_envelope
from scalefit.scaling.fit import fit_scaling
from scalefit.scaling.isoflop import TOLERANCE, fit_isoflop
from scalefit.scaling.solve import Progress

NAMES = {1: "lower envelope (approach 1)", 2: "isoFLOP profiles (approach 2)", 3: "parametric law (approach 3)"}


@dataclass(frozen=True)
class ApproachRow:
    """One approach's exponents with their interval (NaN when it failed: ``error`` says why)."""

    approach: int
    a: float = float("nan")
    a_lower: float = float("nan")
    a_upper: float = float("nan")
    b: float = float("nan")
    b_lower: float = float("nan")
    b_upper: float = float("nan")
    detail: str = ""
    error: str = ""

    def summary(self) -> dict[str, Any]:
        return {"approach": self.approach, "name": NAMES[self.approach], "a": self.a, "a_lower": self.a_lower,
                "a_upper": self.a_upper, "b": self.b, "b_lower": self.b_lower, "b_upper": self.b_upper,
                "detail": self.detail, "error": self.error or None}


@dataclass(frozen=True)
class Approaches:
    """The three rows, the interval level, and the fits behind them (None where an approach failed)."""

    rows: tuple[ApproachRow, ...]
    level: float
    fits: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"method": "all", "interval": self.level, "approaches": [r.summary() for r in self.rows]}

    def report(self) -> str:
        pct = f"{self.level:.0%}"
        lines = [f"compute-optimal exponents, N* ~ C^a and D* ~ C^b ({pct} bootstrap intervals)",
                 f"  {'approach':<31} {'a':>7} {f'{pct} interval':>18} {'b':>7} {f'{pct} interval':>18}  detail"]
        for r in self.rows:
            if r.error:
                lines.append(f"  {NAMES[r.approach]:<31} {'-':>7} {'':>18} {'-':>7} {'':>18}  {r.error}")
                continue
            lines.append(f"  {NAMES[r.approach]:<31} {r.a:>7.4f} {f'[{r.a_lower:.4f}, {r.a_upper:.4f}]':>18} "
                         f"{r.b:>7.4f} {f'[{r.b_lower:.4f}, {r.b_upper:.4f}]':>18}  {r.detail}")
        return "\n".join(lines)


def compare(params: Any, tokens: Any, loss: Any, *, flops: Any = None, curves: Sequence[Curve] | None = None,
            bootstrap: int = 200, seed: int = 0, level: float = 0.9, tol: float = TOLERANCE, budgets: Any = None,
            progress: Progress = None) -> Approaches:
    """Run the three approaches on one set of runs (see the module docstring)."""
    N, D, L = (np.asarray(v, float).ravel() for v in (params, tokens, loss))

    def envelope() -> tuple[Any, dict[str, float], str]:
        env = fit_envelope(curves, params=N, tokens=D, loss=L, bootstrap=bootstrap, seed=seed, level=level)
        return env, _frontier(env), f"{env.source}, {np.unique(env.params).size} sizes on the frontier"

    def isoflop() -> tuple[Any, dict[str, float], str]:
        iso = fit_isoflop(N, D, L, flops=flops, tol=tol, budgets=budgets, bootstrap=bootstrap, seed=seed,
                          level=level)
        return iso, _frontier(iso), f"{sum(b.used for b in iso.budgets)} budgets, parabola in ln N"

    def parametric() -> tuple[Any, dict[str, float], str]:
        par = fit_scaling(N, D, L, law="chinchilla", bootstrap=bootstrap, seed=seed, flops=flops, law_error=False,
                          progress=progress)
        return par, par.optimal_exponents(level), "Chinchilla form, Huber on log L"

    rows, fits = [], {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalefitWarning)
        for approach, (key, run) in enumerate((("envelope", envelope), ("isoflop", isoflop),
                                               ("parametric", parametric)), start=1):
            try:
                fits[key], e, detail = run()
            except ScalefitError as exc:
                rows.append(ApproachRow(approach, error=str(exc)))
                continue
            rows.append(ApproachRow(approach, e["a"], e["a_lower"], e["a_upper"], e["b"], e["b_lower"],
                                    e["b_upper"], detail))
    return Approaches(tuple(rows), level, fits)


def _frontier(fit: Any) -> dict[str, float]:
    """The exponents of a fitted frontier (``n_opt``, ``d_opt`` power laws) in ``optimal_exponents`` form."""
    return {"a": fit.n_opt.exponent, "a_lower": fit.n_opt.lower, "a_upper": fit.n_opt.upper,
            "b": fit.d_opt.exponent, "b_lower": fit.d_opt.lower, "b_upper": fit.d_opt.upper}
