"""The planned run's schedule and whole loss curve from a curve-law fit, and whether that curve's end agrees with
the loss law's final loss.

The curve law (``scalefit fit``) describes one model's loss against its LR schedule; a size-aware law (``mpl-n``,
``tissue-n``: ``Law.size_aware``, what ``scalefit fit`` chooses for runs of several sizes) also takes the model size,
so it predicts, and optimises the schedule for, the planned N itself; beyond its fitted sizes the curve is marked
extrapolated with the factor and its interval carries the size error. The loss law L(N, D)
(``scalefit scaling``) is fitted on the final losses of whole runs at their own tuned hyperparameters. The two
answer the same question at the last step, so the plan compares them: when the gap is larger than their intervals
allow, it says so in one line and names the one to trust, with the reason (:func:`compare`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: A law that is not size-aware predicts only the size it was fitted at, within this relative distance.
CURVE_SIZE_TOLERANCE = 0.1
#: The optimized schedule's LR floor, as a fraction of the peak LR.
OPTIMIZER_FLOOR_FRACTION = 0.01
#: Points of the planned curve kept in the JSON (evenly spaced in steps, the last step included).
CURVE_POINTS = 101


def size_aware(curve: Any) -> bool:
    """Whether the curve fit's law uses the model size (``Law.size_aware``)."""
    from scalefit.laws import LAWS

    name = getattr(curve, "law", None)
    return name in LAWS and bool(LAWS[name].size_aware)


def fitted_sizes(curve: Any) -> tuple[float, ...]:
    """The model sizes the curve law was fitted on (empty when the runs did not say)."""
    return tuple(float(n) for n in (getattr(getattr(curve, "context", None), "n_params", ()) or ()) if n)


def optimized_schedule(curve: Any, steps: int, peak: float, warmup: int,
                       n_params: float | None = None) -> tuple[np.ndarray | None, str]:
    """The curve law's optimal schedule for the planned run and where it came from, or ``(None, why not)`` when the
    law cannot be optimised or its optimum is degenerate (declared by the law; e.g. Tissue, Luo et al. 2025,
    Theorem 2), or the optimum was refused. ``n_params``: the planned model size, which a size-aware law optimises
    for (a size-blind law ignores it).

    The optimizer's shape comes from the curve fit's exponents, which were fitted on smaller runs: the plan
    states where its schedule came from, and the curve prediction is marked when it extrapolates.
    """
    from scalefit.errors import ConvergenceError
    from scalefit.laws import LAWS, get_law
    from scalefit.optimize import optimize_schedule

    name = getattr(curve, "law", None)
    law = get_law(name, **dict(getattr(curve, "law_options", {}) or {})) if name in LAWS else None
    if law is None or not law.optimizable:
        return None, "the curve law has no schedule optimizer objective"
    if law.degenerate_optimum:
        return None, f"the curve law ({law.title}) is not optimised: {law.degenerate_optimum}"
    # A floor at 1% of the peak: a planned run's final LR is a choice, and the law's loss drop is never fitted on
    # LRs far below what the small runs saw (floor 0 drives the optimum towards vanishing LRs it extrapolates).
    floor = OPTIMIZER_FLOOR_FRACTION * peak
    try:
        res = optimize_schedule(curve, steps=steps, peak=peak, warmup=warmup, floor=floor,
                                n_params=n_params if law.size_aware else None)
    except ConvergenceError as exc:
        return None, f"the curve law's optimum was refused ({exc})"
    at = f" at N = {n_params:.3g}" if law.size_aware and n_params is not None else ""
    return np.asarray(res.lr, dtype=np.float64), (
        f"optimized under the curve fit's {law.title}{at} for {steps} steps at peak {peak:.3g}, warmup {warmup}, "
        f"floor {floor:.3g}"
    )


@dataclass(frozen=True)
class PlannedCurve:
    """The curve law's prediction of the planned run: every step's loss with its interval, and why it may not
    hold (``doubts``: the law was fitted at another size, or the schedule extrapolates it)."""

    law: str
    steps: np.ndarray = field(repr=False)  # (T,)
    loss: np.ndarray = field(repr=False)
    lower: np.ndarray = field(repr=False)
    upper: np.ndarray = field(repr=False)
    interval_method: str = ""
    doubts: tuple[str, ...] = ()
    extrapolated: bool = False
    #: how far the planned N lies outside the curve fit's model sizes (N / largest, or smallest / N; 1 inside)
    size_factor: float = 1.0

    @property
    def final(self) -> tuple[float, float, float]:
        return float(self.loss[-1]), float(self.lower[-1]), float(self.upper[-1])

    def summary(self) -> dict[str, Any]:
        from scalefit.thinning import evenly_spaced

        i = evenly_spaced(self.steps.size, CURVE_POINTS)
        return {"law": self.law, "interval_method": self.interval_method, "doubts": list(self.doubts),
                "extrapolated": self.extrapolated, "size_factor": self.size_factor, "steps": self.steps[i].tolist(), "loss": self.loss[i].tolist(),
                "lower": self.lower[i].tolist(), "upper": self.upper[i].tolist()}


def predict_curve(curve: Any, lr: np.ndarray, warmup: int, N: float, interval: float) -> PlannedCurve:
    """The curve law's whole curve for the planned schedule at model size N, and its doubts.

    A size-aware law predicts at N (beyond its fitted sizes marked, its interval carrying the size error); a
    size-blind one cannot take N (``predict`` would refuse another size), so it predicts the size it was fitted at
    and the doubt says that the plan's N differs."""
    aware = size_aware(curve)
    sizes = fitted_sizes(curve)
    pred = curve.predict(lr, warmup=warmup, interval=interval, n_params=N if aware or not sizes else None)
    doubts = []
    if sizes and not aware and abs(N / sizes[-1] - 1.0) > CURVE_SIZE_TOLERANCE:
        doubts.append(f"it was fitted at N = {sizes[-1]:.3g} only (law {getattr(curve, 'law', '?')} does not take "
                      f"the size), the plan has N = {N:.3g}")
    extrapolated = bool(getattr(pred, "extrapolated", False))
    if extrapolated:
        doubts.append(f"the planned run extrapolates it ({getattr(pred, 'reason', '') or 'outside its fitted range'})")
    steps = np.asarray(getattr(pred, "steps", np.arange(np.asarray(pred.loss).size)), dtype=np.int64)
    factor = max(N / max(sizes), min(sizes) / N, 1.0) if sizes and N > 0 else 1.0
    return PlannedCurve(str(getattr(curve, "law", "?")), steps, np.asarray(pred.loss, float),
                        np.asarray(pred.lower, float), np.asarray(pred.upper, float),
                        str(getattr(pred, "method", getattr(curve, "interval_method", ""))), tuple(doubts),
                        extrapolated, factor)


@dataclass(frozen=True)
class Agreement:
    """The curve law's final loss against the loss law's: the gap, the gap their intervals allow, the verdict and
    which to trust (``"loss law"`` or ``"curve law"``), with the one-line ``message``."""

    gap: float  # curve minus loss law, nats
    allowed: float  # sqrt of the two half-widths facing each other, squared and summed (NaN: no intervals)
    agree: bool
    trust: str
    message: str

    def summary(self) -> dict[str, Any]:
        return {"gap": self.gap, "allowed": _json(self.allowed), "agree": self.agree, "trust": self.trust,
                "message": self.message}


def _json(x: float) -> float | None:
    return x if math.isfinite(x) else None


def compare(curve: PlannedCurve, law: tuple[float, float, float], law_factor: float, interval: float) -> Agreement:
    """Do the curve law's and the loss law's final losses agree within their intervals, and which to trust.

    ``law`` is the loss law's (loss, lower, upper); ``law_factor`` the largest factor by which the planned N, D or
    C lies outside the runs it was fitted on (1 inside). The loss law is trusted unless it extrapolates and the
    curve law does not: it is fitted on final losses of whole runs at their tuned hyperparameters over the sizes
    and token counts around the plan, while a curve law fitted on other runs carries their LR, batch size and size.
    """
    c, clo, chi = curve.final
    m, mlo, mhi = law
    gap = c - m
    # each interval's half-width on the side facing the other value
    hc = (c - clo) if gap > 0 else (chi - c)
    hm = (mhi - m) if gap > 0 else (m - mlo)
    parts = [h for h in (hc, hm) if math.isfinite(h)]
    allowed = math.sqrt(sum(h * h for h in parts)) if parts else float("nan")
    agree = math.isfinite(allowed) and abs(gap) <= allowed
    extrap = math.isfinite(law_factor) and law_factor > 1 + 1e-9
    if curve.doubts or not extrap:
        trust = "loss law"
        why = ("the curve law's doubts: " + "; ".join(curve.doubts)) if curve.doubts else (
            "it is fitted on the final losses of whole runs around the planned N and D, at their tuned "
            "hyperparameters")
    else:
        trust = "curve law"
        why = f"the planned run lies {law_factor:.3g}x outside the loss law's runs and inside the curve law's"
    if agree:
        message = (f"curve law ({curve.law}) and loss law agree at the last step: {c:.4f} against {m:.4f} "
                   f"(gap {gap:+.4f} within the {interval:.0%} intervals' {allowed:.4f}).")
    else:
        limit = f"more than their {interval:.0%} intervals allow ({allowed:.4f})" if math.isfinite(allowed) else \
            "and neither has an interval"
        message = (f"curve law ({curve.law}) and loss law disagree at the last step: {c:.4f} against {m:.4f}, "
                   f"{abs(gap):.3f} nats apart, {limit}; trust the {trust}: {why}.")
    return Agreement(float(gap), float(allowed), bool(agree), trust, message)
