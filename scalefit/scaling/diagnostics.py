"""When the runs cannot pin a loss law: one typed line per problem, each saying what to add to the sweep.

* a parameter on a bound (E at 0: the runs never show the loss levelling off; an exponent at its limit);
* log N and log D nearly collinear (|correlation| >= 0.85: every run near one tokens-per-parameter ratio, or
  ratios that grow with size): the N term and the D term cannot be told apart, and an over-trained or
  under-trained run is an extrapolation in a direction never seen. The line gives the correlation, the condition
  number of their correlation matrix, and how much D varies at a given N (``exp`` of the range of the residuals of
  log D regressed on log N);
* bootstrap spreads as large as the values (E or an exponent whose bootstrap sd is at least half its value): the
  fit is unconstrained whatever its point estimate says. Amplitudes are exempt: they trade off with their
  exponents even in well-determined fits (Epoch's B has sd 0.6 B on Chinchilla's own points).

Each is a :class:`~scalefit.results.Note` (the curve fitter's typed notes): kind ``at_bound`` or
``ill_conditioned``, its warning class, its line, and its numbers in ``data`` (``problem``: ``"at_bound"``,
``"collinear"`` or ``"unconstrained"``), so callers test ``kind`` and ``data`` rather than message text.
"""

from __future__ import annotations

import numpy as np

from scalefit.errors import IllConditionedWarning, ParameterAtBoundWarning
from scalefit.laws.scaling_base import ScalingLaw
from scalefit.results import Note

#: |corr(log N, log D)| at or above this is "nearly collinear" (a sweep at 5, 10 and 20 tokens per parameter over
#: a 30x range of sizes has 0.89; Epoch's Chinchilla points 0.34; the Step Law grid 0.22; a full N x D grid 0).
COLLINEAR_CORR = 0.85
#: E below this fraction of the smallest loss is "at its lower bound 0".
E_AT_ZERO = 1e-3
#: Bootstrap sd at or above this fraction of |value| (E and exponents) is "as large as the value".
SPREAD_RATIO = 0.5


def collinearity(N: np.ndarray, D: np.ndarray) -> tuple[float, float, float]:
    """Correlation of log N and log D, the condition number of their correlation matrix ((1+|r|)/(1-|r|)), and
    the factor by which D varies at a given N (exp of the range of log D's residuals regressed on log N)."""
    lN, lD = np.log(N), np.log(D)
    if np.ptp(lN) == 0 or np.ptp(lD) == 0:
        return 1.0, float("inf"), float(np.exp(np.ptp(lD)))
    r = float(np.corrcoef(lN, lD)[0, 1])
    slope, intercept = np.polyfit(lN, lD, 1)
    spread = float(np.exp(np.ptp(lD - (slope * lN + intercept))))
    return r, float((1 + abs(r)) / (1 - abs(r))) if abs(r) < 1 else float("inf"), spread


def assess(law: ScalingLaw, values: np.ndarray, bootstrap: np.ndarray, N: np.ndarray, D: np.ndarray,
           L: np.ndarray) -> list[Note]:
    """Every problem of a fit of ``law`` (values in ``law.names`` order) to the runs (N, D, L)."""
    out: list[Note] = []
    v = dict(zip(law.names, map(float, values)))
    if "E" in v and v["E"] < E_AT_ZERO * float(L.min()):
        out.append(Note(
            "at_bound", f"E sits at its lower bound 0 (E = {v['E']:.3g}): the runs never show the loss levelling off, "
            "so E and the exponents trade off. Add runs at larger N and D (or train the largest model longer).",
            ParameterAtBoundWarning, {"problem": "at_bound", "parameter": "E", "value": v["E"], "bound": 0.0}))
    for p in law.params:
        if p.linear:
            continue
        for side, b in (("lower", p.lower), ("upper", p.upper)):
            if np.isfinite(b) and abs(v[p.name] - b) <= 1e-6 * max(1.0, abs(b)):
                out.append(Note(
                    "at_bound", f"{p.name} sits at its {side} bound {b:g}; its interval is unreliable. Add runs "
                    "over a wider range of sizes and token counts.", ParameterAtBoundWarning,
                    {"problem": "at_bound", "parameter": p.name, "value": v[p.name], "bound": b}))
    r, cond, spread = collinearity(N, D)
    if abs(r) >= COLLINEAR_CORR:
        M = D / N
        out.append(Note(
            "ill_conditioned", f"log N and log D are nearly collinear (correlation {r:.3f}, condition number "
            f"{cond:.3g}): at a given N, D varies only {spread:.3g}x (tokens per parameter {M.min():.3g} .. "
            f"{M.max():.3g}), so the N and D terms cannot be told apart. Add runs off that line: the same sizes "
            "trained 4x shorter and 4x longer.", IllConditionedWarning,
            {"problem": "collinear", "correlation": r, "condition_number": cond, "d_spread": spread,
             "tokens_per_param": [float(M.min()), float(M.max())]}))
    if bootstrap.shape[0] >= 2:
        sd = bootstrap.std(axis=0, ddof=1)
        for name, s in zip(law.names, sd):
            if law.spec(name).linear and name != "E":
                continue
            ratio = float(s / abs(v[name])) if v[name] else float("inf")
            if ratio >= SPREAD_RATIO:
                out.append(Note(
                    "ill_conditioned", f"{name}'s bootstrap sd {s:.3g} is {ratio:.2g} x its value {v[name]:.3g}: the "
                    f"runs do not pin {name}. Add runs at more sizes and token counts (a wider range of both).",
                    IllConditionedWarning,
                    {"problem": "unconstrained", "parameter": name, "value": v[name], "sd": float(s), "ratio": ratio}))
    return out
