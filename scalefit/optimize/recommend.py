"""What ``scalefit optimize`` recommends: one schedule, the per-step optimum or the best family member, with why.

The per-step optimum of a fitted law beats the best member of the schedule families (WSD shapes, cosine, one-step
drops) under that law by a few thousandths of a nat. Whether that advantage is real depends on how well the law
knows the loss after a cooldown, and the law's own held-out errors measure that: the cross-validation fold errors
(:mod:`scalefit.fitting.crossval`) at the ends of the fitted runs that hold an LR decay, carried to the target
horizon by the law-error model (:mod:`scalefit.law_error`), and, with a shape ensemble, how much the ensemble's
members disagree about the advantage. When the advantage is smaller than that margin, the family member is
recommended and the reason says so: a schedule from a family is what the fitted runs resemble, and its spec can be
passed to ``scalefit train`` as is.

The same margin decides between family members. When the law ranks another family's best member (typically a
linear cooldown) above the best WSD with a 1-sqrt cooldown by less than its held-out error on cooldowns, the law
cannot tell them apart, and the tie goes to the 1-sqrt cooldown: the shape with the published evidence (Hägele et
al. 2024, arXiv 2405.18392: a 1-sqrt cooldown consistently beats a linear one). The law's own
choice stays in the result (``law_best``). Measured on real training: ``benchmarks/RESULTS.md``, "Closed loop".
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scalefit.errors import AssumptionWarning
from scalefit.optimize.ensemble import LawEnsemble, member_losses, shape_ensemble, single
from scalefit.optimize.family import FamilyMember
from scalefit.optimize.objective import _predict_final
from scalefit.optimize.optimizer import OptimizedSchedule, optimize_schedule

#: What the optimizer minimises by default: the mean over the loss-drop shapes the fitted runs cannot tell apart
#: ("shapes"), or the fit's own prediction ("fit"). Chosen by the closed loop (benchmarks/RESULTS.md).
UNDER = ("shapes", "fit")
DEFAULT_UNDER = "shapes"

#: The family member a tie goes to (see the module docstring).
PREFERRED_FAMILY = "wsd-1-sqrt"


@dataclass(frozen=True)
class Recommendation:
    """The schedule to train, and why.

    Attributes
    ----------
    name, kind : str
        ``"per-step optimum"`` / ``"per-step"``, or the family's name (``"wsd-1-sqrt"``, ``"step"``, ...) /
        ``"family"``.
    spec : str or None
        The family member's spec (None for the per-step optimum: write it with ``--out``).
    lr : ndarray, shape (T,)
    reason : str
        Why this one, in one sentence with the numbers.
    final_loss, lower, upper : float
        The fit's predicted final loss and interval (what ``scalefit predict`` prints for ``lr``).
    expected_loss : float
        The objective minimised, at ``lr`` (the ensemble mean under ``under="shapes"``).
    advantage : float
        Objective of the best family member minus that of the per-step optimum (>= 0, nats).
    margin : float or None
        What the law's held-out errors on cooldowns can explain at this horizon (nats); None when unmeasured.
    cooldown_error, ensemble_spread : float or None
        The two parts of ``margin`` (the larger one is used): the cross-validated error at the ends of decaying
        fitted runs, carried to this horizon; the sd over the ensemble's members of the advantage.
    optimum : OptimizedSchedule
        The per-step optimum (its ``family`` holds every family's best member).
    family : FamilyMember
        The family member compared with the per-step optimum: the best one under the objective, or the 1-sqrt
        WSD when the law ranks the best one above it by less than ``cooldown_error`` (a tie).
    law_best : str
        The family whose member the law ranks best (equal to the family of ``family`` unless a tie was broken).
    ensemble : LawEnsemble
    """

    name: str
    kind: str
    spec: str | None
    lr: np.ndarray = field(repr=False)
    reason: str
    final_loss: float
    lower: float
    upper: float
    expected_loss: float
    advantage: float
    margin: float | None
    cooldown_error: float | None
    ensemble_spread: float | None
    under: str
    optimum: OptimizedSchedule = field(repr=False)
    family: FamilyMember = field(repr=False)
    law_best: str
    ensemble: LawEnsemble = field(repr=False)

    def summary(self) -> dict[str, Any]:
        """Plain dict (no arrays)."""
        return {"name": self.name, "kind": self.kind, "spec": self.spec, "reason": self.reason,
                "final_loss": self.final_loss, "lower": self.lower, "upper": self.upper,
                "expected_loss": self.expected_loss, "advantage": self.advantage, "margin": self.margin,
                "cooldown_error": self.cooldown_error, "ensemble_spread": self.ensemble_spread,
                "under": self.under, "objective": self.optimum.under, "law_best": self.law_best,
                "law_best_spec": self.optimum.family.best.spec if self.optimum.family is not None else None,
                "schedule": self.spec if self.spec is not None else "per-step (--out)"}

    def to_csv(self, path: Any) -> Any:
        """Write the recommended schedule as ``step,lr``."""
        from scalefit.schedules import to_csv

        return to_csv(path, self.lr)


def cooldown_error(fit: Any, runs: Any, steps: int) -> float | None:
    """Relative sd of the law's held-out error at the end of a decaying run, carried to ``steps``: the RMS of
    ``e / (1 + ln r)`` over the fit's cross-validation fold errors whose run holds an LR decay (all folds when the
    runs are unknown), times ``1 + ln(steps / last fitted step)``. None without a measured law error."""
    from scalefit.fitting.crossval import holds_decay
    from scalefit.fitting.inputs import unique_labels

    le = getattr(fit, "law_error", None)
    if le is None:
        return None
    folds = list(le.folds)
    if runs is not None:
        decays = {lab for lab, r in zip(unique_labels([r.path for r in runs]), runs) if holds_decay(r)}
        picked = [f for f in folds if f.path in decays]
        folds = picked or folds
    e = np.array([f.rel_error / (1.0 + math.log(max(f.horizon, 1.0))) for f in folds])
    growth = 1.0 + math.log(max(steps / max(float(fit.context.max_step), 1.0), 1.0))
    return float(np.sqrt(np.mean(e**2)) * growth)


def fastest_decay(runs: Any) -> float | None:
    """The largest LR decrease from one step to the next after warmup in ``runs`` (None without runs)."""
    if not runs:
        return None
    return max(float(np.max(-np.diff(r.lr[max(int(r.warmup), 1) - 1:]), initial=0.0)) for r in runs)


def break_tie(best_by_family: dict[str, FamilyMember], tolerance: float | None) -> tuple[str, FamilyMember, str]:
    """``(name, member, note)``: the best family member under the objective, or the :data:`PREFERRED_FAMILY`
    member when the law ranks the best one above it by no more than ``tolerance`` (nats; None: no tie is broken).
    ``note`` says which tie was broken ("" when none)."""
    name, best = min(best_by_family.items(), key=lambda kv: kv[1].objective_value)
    pref = best_by_family.get(PREFERRED_FAMILY)
    if tolerance is None or pref is None or name == PREFERRED_FAMILY:
        return name, best, ""
    gap = float(pref.objective_value - best.objective_value)
    if gap > tolerance:
        return name, best, ""
    return PREFERRED_FAMILY, pref, (f"the law ranks {name} only {gap:.4f} nats above {PREFERRED_FAMILY}, less than "
                                    f"its held-out error on cooldowns ({tolerance:.4f}), so the tie goes to the 1-sqrt "
                                    "cooldown (Hägele et al. 2024)")


def decide(advantage: float, margin: float | None, family: str, steps: int) -> tuple[str, str]:
    """``("per-step" | "family", reason)``: the per-step optimum only when its advantage over the best family
    member (nats, under the objective) exceeds ``margin``, what the law's held-out errors explain."""
    if not advantage > 0:
        return "family", f"the per-step search gained nothing over the best family member ({family})"
    if margin is None:
        return "family", (f"the per-step optimum gains {advantage:.4f} nats over {family} under the law, and the fit "
                          "has no measured law error to tell whether that is real (fit with --law-error)")
    if advantage > margin:
        return "per-step", (f"the per-step optimum gains {advantage:.4f} nats over {family}, more than the law's "
                            f"held-out error on cooldowns explains ({margin:.4f} nats at {steps} steps)")
    return "family", (f"the per-step optimum gains only {advantage:.4f} nats over {family}, less than the law's "
                      f"held-out error on cooldowns explains ({margin:.4f} nats at {steps} steps)")


def recommend_schedule(fit: Any, *, steps: int, peak: float, warmup: int, floor: float = 0.0,
                       under: str = DEFAULT_UNDER, runs: Any = None, within_seen_decay: bool = False,
                       interval: float = 0.9, n_params: float | None = None,
                       **optimize_options: Any) -> Recommendation:
    """The schedule to train under ``fit`` (a FitResult): the per-step optimum of the objective (``under``:
    "shapes", the mean over :func:`~scalefit.optimize.shape_ensemble`; "fit", the fit alone) when its advantage
    over the best family member exceeds what the law's held-out errors on cooldowns explain, else that member.

    ``runs`` are the fitted runs (default: read again from the paths the fit names; without them the ensemble is
    the fit alone and the cooldown error uses every fold). ``within_seen_decay`` caps the LR decrease per step at
    the fastest one in the fitted runs (the optimum then stays within the decays the law was fitted on).
    ``n_params``: the model size a size-aware fit optimises for (default: the last fitted run's). Other
    options go to :func:`~scalefit.optimize.optimize_schedule` (``objective``, ``max_iter``, ``polish``, ...).
    """
    from scalefit.errors import FitInputError
    from scalefit.optimize.ensemble import fitted_runs

    if under not in UNDER:
        raise FitInputError(f"--under must be one of {', '.join(UNDER)}; got {under!r}.", value=under)
    why_no_runs = ""
    if runs is None:
        runs, why_no_runs = fitted_runs(fit)
    if under == "shapes":
        ens = shape_ensemble(fit, runs) if runs is not None else single(fit, why_no_runs)
        if ens.size == 1:
            warnings.warn(f"--under shapes: no ensemble ({ens.note}); the fit's own prediction is minimised",
                          AssumptionWarning, stacklevel=2)
    else:
        ens = single(fit)
    cap = fastest_decay(runs) if within_seen_decay else None
    if within_seen_decay and cap is None:
        raise FitInputError(f"within_seen_decay needs the fitted runs: {why_no_runs}.")
    opt = optimize_schedule(fit, steps=steps, peak=peak, warmup=warmup, floor=floor, interval=interval,
                            ensemble=None if ens.size == 1 else ens, max_decrement=cap, n_params=n_params,
                            **optimize_options)
    if opt.family is None:
        raise FitInputError("recommend_schedule needs the family search (do not pass a start schedule).")
    law_best = next(k for k, m in opt.family.best_by_family.items() if m.spec == opt.family.best.spec)
    rel = cooldown_error(fit, runs, steps)
    cool = None if rel is None else rel * float(opt.family.best.objective_value)
    fam_name, fam, tie = break_tie(opt.family.best_by_family, cool)
    advantage = float(fam.objective_value - opt.objective_value)
    if n_params is None and fit.context.n_params:
        n_params = float(fit.context.n_params[-1])
    spread = None
    if ens.size > 1:
        d = member_losses(ens, fam.lr, warmup=warmup, n_params=n_params) - member_losses(ens, opt.lr, warmup=warmup,
                                                                                         n_params=n_params)
        spread = float(np.sqrt(np.sum(ens.weights * (d - np.sum(ens.weights * d)) ** 2)))
    parts = [x for x in (cool, spread) if x is not None]
    margin = max(parts) if parts else None
    pick, reason = decide(advantage, margin, fam_name, steps)
    if tie and pick == "family":
        reason = f"{reason}; {tie}"
    if pick == "per-step":
        name, kind, spec, lr, exp_loss = "per-step optimum", "per-step", None, opt.lr, opt.objective_value
        loss, lo, hi = opt.final_loss, opt.lower, opt.upper
    else:
        name, kind, spec, lr, exp_loss = fam_name, "family", fam.spec, fam.lr, fam.objective_value
        loss, lo, hi = _predict_final(fit, fit.law, fit.values, fit.law_options, fam.lr, warmup, interval, n_params,
                                      fam_name)
    return Recommendation(name=name, kind=kind, spec=spec, lr=np.array(lr, dtype=np.float64), reason=reason,
                          final_loss=loss, lower=lo, upper=hi, expected_loss=float(exp_loss), advantage=advantage,
                          margin=margin, cooldown_error=cool, ensemble_spread=spread, under=under, optimum=opt,
                          family=fam, law_best=law_best, ensemble=ens)
