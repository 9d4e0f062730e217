"""Compute-budget planning: model size, tokens, batch size, peak LR, schedule, the whole loss curve and the final
loss of a run for a budget, each with its interval and the law it came from.

``plan(C, scaling=..., frontier=..., hparams=..., curve=...)`` combines the fitted laws:

1. N and D (:mod:`~scalefit.planning.allocation`): given, or compute-optimal on an isoFLOP (or lower-envelope)
   frontier N*(C), D*(C), or under the loss law (C = 6ND), with a bootstrap interval.
2. Batch size (tokens) and peak LR: the hyperparameter laws at (N, D) (Step Law) or at C (DeepSeek form), with
   their bootstrap intervals. Steps = ceil(D / batch size).
3. Schedule: with a curve fit and ``scalefit.optimize`` available, the optimizer's schedule for those steps and
   peak LR; otherwise warmup-stable-decay with a linear cooldown over the last 20% of steps (Hägele et al. 2024,
   arXiv 2405.18392) and a warmup of 1% of the steps. The plan says which.
4. Final loss: the loss law's prediction of a new run at (N, D) (:meth:`~scalefit.scaling.result.ScalingFit.
   prediction`: bootstrap over runs x one run's noise x the law's extrapolation error).
5. The whole curve of the planned run from the curve law (:mod:`~scalefit.planning.curve`; a size-aware law
   predicts at the planned N), and its last step checked against the loss law's final loss: when they disagree by
   more than their intervals allow, one line says so and which to trust. Without a loss law the curve law gives
   the final loss.

Every quantity predicted outside the range its law was fitted on is listed in ``Plan.extrapolated`` with the
factor (``Plan.factors``) and warned about in one line (:class:`~scalefit.errors.ExtrapolationWarning`).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from scalefit.errors import AssumptionWarning, ExtrapolationWarning, FitInputError
from scalefit.planning.allocation import Frontier, allocate, hparam_factors
from scalefit.planning.curve import CURVE_SIZE_TOLERANCE, compare, optimized_schedule, predict_curve
from scalefit.planning.result import Plan

__all__ = ["Frontier", "Plan", "plan"]

#: Default WSD cooldown fraction and warmup fraction of the planned steps.
DECAY_FRACTION = 0.2
WARMUP_FRACTION = 0.01


def _finite(x: float | None) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def plan(
    flops: float | None = None,
    *,
    hparams: Any = None,
    scaling: Any = None,
    curve: Any = None,
    frontier: Frontier | Any = None,
    params: float | None = None,
    tokens: float | None = None,
    interval: float = 0.9,
    decay: float = DECAY_FRACTION,
) -> Plan:
    """Plan a training run for a compute budget (see the module docstring for the rules).

    Parameters
    ----------
    flops
        Budget C in FLOPs (C = 6ND). May be omitted when both ``params`` and ``tokens`` are given.
    hparams, scaling, curve
        Fitted :class:`~scalefit.scaling.hparam_result.HparamFit`, :class:`~scalefit.scaling.result.ScalingFit` and
        curve-law ``FitResult`` (each optional).
    frontier
        A compute-optimal frontier: a :class:`Frontier`, or an isoFLOP / envelope fit
        (:func:`scalefit.scaling.isoflop.fit_isoflop`, :func:`scalefit.scaling.envelope.fit_envelope`).
    params, tokens
        Fix N and/or D instead of taking the compute-optimal allocation.
    interval
        Nominal coverage of every interval.
    decay
        Cooldown fraction of the default WSD schedule.

    Raises
    ------
    FitInputError
        A budget or size that is not positive, N and D that cannot be determined from what was given, or a
        batch-size law that predicts an unusable batch.
    """
    if frontier is not None and not isinstance(frontier, Frontier):
        frontier = Frontier.from_fit(frontier)
    alloc = allocate(flops, params=params, tokens=tokens, frontier=frontier, scaling=scaling, interval=interval)
    N, D, C = alloc.params, alloc.tokens, alloc.flops
    notes = [alloc.note]
    factors: dict[str, float] = {}
    if frontier is not None and alloc.source == frontier.name:
        factors[f"{frontier.method}.flops"] = alloc.factor
    if flops is not None and params is not None and tokens is not None and abs(C / flops - 1) > 0.01:
        msg = f"--params and --tokens fix the run; its compute 6ND = {C:.3g} differs from --flops {flops:.3g}."
        warnings.warn(msg, AssumptionWarning, stacklevel=2)
        notes.append(msg)

    # ---- batch size, LR, steps
    batch = lr = None
    lr_iv = bs_iv = (float("nan"), float("nan"))
    steps: int | None = None
    hp_source = ""
    if hparams is not None:
        hp = hparams.predict(N=N, D=D, C=C, interval=interval, warn=False)
        lr, batch = _finite(hp["lr"]), _finite(hp["batch_size"])
        lr_iv = (hp["lr_lower"], hp["lr_upper"])
        bs_iv = (hp.get("batch_size_lower", float("nan")), hp.get("batch_size_upper", float("nan")))
        hp_source = f"{hparams.form} law"
        if hasattr(hparams, "variables"):
            factors.update(hparam_factors(hparams, N, D, C))
        else:  # a duck-typed fit: names only
            factors.update({f"hparams.{q}": float("nan") for q in hp.get("extrapolated", ())})
        if batch is not None:
            if not 1.0 <= batch <= D:
                raise FitInputError(
                    f"the batch-size law predicts {batch:.3g} tokens per step for D = {D:.3g} tokens, which is not a "
                    "usable plan (it must lie in [1, D]). The hyperparameter fit is too poorly determined here: "
                    "check its intervals (scalefit hparams), sweep more (N, D) cells, or fix --tokens.",
                    column="batch_size", value=batch)
            steps = int(math.ceil(D / batch))
        else:
            notes.append("the hyperparameter fit has no batch-size law: steps are unknown.")
    else:
        notes.append("no --hparams: peak LR, batch size, steps and schedule are not planned.")

    # ---- schedule
    schedule = None
    lr_sched = None
    source = "none (needs --hparams)"
    warmup = 0
    if steps is not None and lr is not None:
        warmup = max(1, int(round(WARMUP_FRACTION * steps)))
        got, why = optimized_schedule(curve, steps, lr, warmup, N) if curve is not None else (None, "")
        if got is not None:
            lr_sched, source = got, why
            schedule = f"optimized ({steps} steps, warmup {warmup})"
        else:
            from scalefit import schedules

            schedule = f"wsd:peak={lr:.4g},total={steps},warmup={warmup},decay={decay:g}"
            source = (f"default WSD, linear cooldown over the last {decay:.0%} of steps, warmup {WARMUP_FRACTION:.0%}"
                      + (f"; {why}" if why else ""))
            lr_sched = schedules.wsd(lr, steps, warmup=warmup, decay=decay)

    # ---- the loss law's final loss
    losses: dict[str, dict[str, Any]] = {}
    law_factor = float("nan")
    if scaling is not None:
        from scalefit.scaling.predict import METHOD

        point, lo, hi = scaling.prediction(N, D, interval=interval)
        losses["loss law"] = {"loss": point, "lower": lo, "upper": hi, "law": scaling.law,
                              "method": METHOD if math.isfinite(lo) else "no bootstrap: no interval"}
        f = scaling.extrapolation_factors(params=N, tokens=D, flops=C)
        factors.update({f"scaling.{k}": v for k, v in f.items()})
        law_factor = max(f.values(), default=float("nan"))

    # ---- the curve law's whole curve, and its last step against the loss law
    planned = agreement = None
    if curve is not None:
        if lr_sched is None:
            notes.append("curve law given but no schedule could be planned (needs --hparams): not used.")
        else:
            planned = predict_curve(curve, lr_sched, warmup, N, interval)
            if planned.size_factor > 1.0 + CURVE_SIZE_TOLERANCE:  # N outside the curve fit's model sizes
                factors["curve.params"] = planned.size_factor
            c, clo, chi = planned.final
            losses["curve law"] = {"loss": c, "lower": clo, "upper": chi, "law": planned.law,
                                   "method": planned.interval_method}
            if "loss law" in losses:
                d = losses["loss law"]
                agreement = compare(planned, (d["loss"], d["lower"], d["upper"]), law_factor, interval)

    # ---- headline loss
    if "loss law" in losses and (agreement is None or agreement.trust == "loss law"):
        chosen = losses["loss law"]
        how = "bootstrap over runs x run noise x extrapolation error" if math.isfinite(chosen["lower"]) else \
            "no bootstrap, no interval"
        loss_source = f"loss law {scaling.law}: {how}"
    elif "curve law" in losses:
        chosen = losses["curve law"]
        loss_source = f"curve law {planned.law}: {planned.interval_method or 'interval'}"
        if planned.doubts and "loss law" not in losses:
            notes.append("curve law's loss with doubts: " + "; ".join(planned.doubts) + ". Pass --scaling for the "
                         "loss law's final loss.")
    else:
        chosen, loss_source = {}, "none (needs --scaling or --curve)"

    extrapolated = [k for k, v in factors.items() if not math.isfinite(v) or v > 1 + 1e-9]
    if planned is not None and planned.extrapolated:
        extrapolated.append("curve.schedule")
    if extrapolated:
        warnings.warn("plan: extrapolated beyond the data their laws were fitted on: " + ", ".join(
            f"{k} {factors[k]:.3g}x" if math.isfinite(factors.get(k, math.nan)) else k for k in extrapolated) + ".",
            ExtrapolationWarning, stacklevel=2)
    return Plan(
        flops=C, params=N, tokens=D, steps=steps, batch_size=batch, peak_lr=lr, schedule=schedule,
        schedule_source=source, final_loss=_finite(chosen.get("loss")), lower=_finite(chosen.get("lower")),
        upper=_finite(chosen.get("upper")), loss_source=loss_source, interval=interval, losses=losses,
        extrapolated=tuple(extrapolated), notes=tuple(notes), lr_schedule=lr_sched, allocation=alloc,
        peak_lr_interval=lr_iv, batch_size_interval=bs_iv, hparams_source=hp_source, factors=factors,
        curve=planned, agreement=agreement,
    )
