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
kink, a drop), linear in between; box-constrained L-BFGS (``box.lbfgs_box``, at most ``max_iter`` iterations).
(3) Refinement (``refine`` levels, default 3): add a knot at every step near the steps where the solution bends
most (16, 32, 64 steps on either side), warm-start L-BFGS again. This sharpens a cooldown the first knots cannot
place, and adds no knots in flat stretches, where new small drops would be the knots' staircase, not the law's.
(4) Per-step polish: the same over every post-warmup step (T - W variables), at most ``polish`` iterations.
Each evaluation is the exact predicted loss and its analytic gradient with respect to every LR, O(T) (MPL: suffix
sums of the LR; Tissue: S2 is linear in the LR), the law's ``final_loss_and_grad``. The L-BFGS is our own (numpy,
no BLAS): scipy's L-BFGS-B calls threaded BLAS every iteration, which on a loaded machine cost more than the
objective itself. Timings and the losses reached on the MPL reference fits: ``benchmarks/RESULTS.md``, "Schedule
optimizer".
``method="adam"``: Adam over the per-step decrements ``d_k / (peak - low)`` (projected onto ``d >= 0``,
``sum d <= 1``), as the MPL repository does (10,000 iterations by default); monotone only. Kept for comparison
(``benchmarks/optimize.py``).

The LR-annealing law ("tissue", Tissue et al. 2024) is linear in the LR decrements through S2, so its optimum is
degenerate: hold the peak, then drop to the floor within one or two steps (Luo et al. 2025, Theorem 2); where
the drop falls depends on the horizon and on ``lam``. Optimising it works and emits a
:class:`~scalefit.errors.DegenerateOptimumWarning`.

What to train (:func:`recommend_schedule`, what ``scalefit optimize`` prints and writes)
-----------------------------------------------------------------------------------------
A fitted law over-credits sharp cooldowns: trained for real, its per-step optimum realised a fraction of the
predicted gain and lost to the smoother best family member (``benchmarks/RESULTS.md``, "Closed loop on real
training"). So the optimizer minimises, by default, the mean predicted loss over refits of the law at the loss-drop
shapes the fitted runs cannot tell apart (:func:`shape_ensemble`; ``under="fit"``: the fit alone), and the
recommendation is the per-step optimum only when its advantage over the best family member exceeds what the law's
held-out errors on cooldowns explain (the cross-validation fold errors at the ends of decaying runs, carried to the
horizon, or the ensemble's disagreement, whichever is larger); else that family member, named, with its spec.
``within_seen_decay`` caps the LR decrease per step at the fastest one in the fitted runs (``max_decrement``).

One module per part: ``objective`` (what is minimised), ``family`` (the family search), ``knots`` (the knot
parametrisation), ``box`` (box L-BFGS, projected Adam), ``optimizer`` (:func:`optimize_schedule`), ``comparison``
(:func:`baselines`), ``ensemble`` (the shape ensemble), ``recommend`` (:func:`recommend_schedule`). Which law can be optimised, and the warnings of a degenerate optimum, are declared by the law
(:mod:`scalefit.laws.base`).

References: Luo et al. 2025, A Multi-Power Law for Loss Curve Prediction Across Learning Rate Schedules
(arXiv 2503.12811), Sec. 5 (schedule optimisation); Tissue et al. 2024 (arXiv 2408.11029); Hägele et al. 2024
(arXiv 2405.18392) for WSD and the 1-sqrt cooldown.
"""

from scalefit.optimize.comparison import Baseline, baselines
from scalefit.optimize.ensemble import LawEnsemble, ensemble_objective, shape_ensemble
from scalefit.optimize.family import FamilyMember, FamilySearch, family_search
from scalefit.optimize.objective import make_objective, parse_objective
from scalefit.optimize.optimizer import METHODS, OptimizedSchedule, optimize_schedule
from scalefit.optimize.recommend import Recommendation, recommend_schedule

__all__ = [
    "METHODS",
    "Baseline",
    "FamilyMember",
    "FamilySearch",
    "LawEnsemble",
    "OptimizedSchedule",
    "Recommendation",
    "baselines",
    "ensemble_objective",
    "family_search",
    "make_objective",
    "optimize_schedule",
    "parse_objective",
    "recommend_schedule",
    "shape_ensemble",
]
