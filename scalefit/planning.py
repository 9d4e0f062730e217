"""Compute-budget planning: model size, tokens, batch size, peak LR, schedule and predicted loss for a budget.

``plan(C, scaling=..., hparams=..., curve=...)`` combines the fitted laws:

1. N and D: the Chinchilla law's compute-optimal allocation at C = 6ND (Hoffmann et al. 2022, eq. 4); with N or
   D fixed (the over-trained case) the other follows from C = 6ND; with both fixed the plan only predicts.
2. Batch size (tokens) and peak LR: the hyperparameter law at (N, D) (Step Law) or at C (DeepSeek form).
   Steps = ceil(D / batch size).
3. Schedule: with a curve fit and ``scalefit.optimize`` available, the optimizer's schedule for those steps and
   peak LR; otherwise warmup-stable-decay with a linear cooldown over the last 20% of steps (Hägele et al. 2024,
   arXiv 2405.18392) and a warmup of 1% of the steps. The plan says which.
4. Final loss: from the curve law when a curve fit is given (its prediction interval; note it was fitted at one
   model size), else from the scaling law (its bootstrap interval). Both are kept in ``Plan.losses``.

Every quantity predicted outside the range its law was fitted on is listed in ``Plan.extrapolated`` and warned
about (:class:`~scalefit.errors.ExtrapolationWarning`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scalefit.errors import AssumptionWarning, ExtrapolationWarning, FitInputError

#: Default WSD cooldown fraction and warmup fraction of the planned steps.
DECAY_FRACTION = 0.2
WARMUP_FRACTION = 0.01
#: The curve law's loss is the plan's loss only when the planned N is within this relative distance of the
#: size it was fitted at (and its schedule does not extrapolate); otherwise the scaling law's loss is used.
CURVE_SIZE_TOLERANCE = 0.1
#: The optimized schedule's LR floor, as a fraction of the peak LR.
OPTIMIZER_FLOOR_FRACTION = 0.01


@dataclass(frozen=True)
class Plan:
    """A training plan for a compute budget. ``None`` marks what the given laws cannot say."""

    flops: float
    params: float
    tokens: float
    steps: int | None
    batch_size: float | None  # tokens per step
    peak_lr: float | None
    schedule: str | None  # a schedule spec string (or a description of the optimizer's schedule)
    schedule_source: str
    final_loss: float | None
    lower: float | None
    upper: float | None
    loss_source: str
    interval: float = 0.9
    losses: dict[str, dict[str, float]] = field(default_factory=dict)
    extrapolated: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    lr_schedule: np.ndarray | None = field(default=None, repr=False)  # per-step LR, shape (steps,)

    def summary(self) -> dict[str, Any]:
        """Plain dict: the ``--json`` output of ``scalefit plan``."""
        return {
            "flops": self.flops, "params": self.params, "tokens": self.tokens, "steps": self.steps,
            "batch_size": self.batch_size, "peak_lr": self.peak_lr, "schedule": self.schedule,
            "schedule_source": self.schedule_source, "final_loss": self.final_loss, "lower": self.lower,
            "upper": self.upper, "interval": self.interval, "loss_source": self.loss_source,
            "losses": self.losses, "extrapolated": list(self.extrapolated), "notes": list(self.notes),
        }

    def report(self) -> str:
        """Text report."""

        def f(v: Any, fmt: str = ".4g") -> str:
            return "-" if v is None else format(v, fmt)

        lines = [
            f"compute      {self.flops:.4g} FLOPs",
            f"params N     {self.params:.4g}",
            f"tokens D     {self.tokens:.4g}  ({self.tokens / self.params:.1f} tokens/param)",
            f"batch size   {f(self.batch_size)} tokens",
            f"steps        {f(self.steps, 'd') if self.steps is not None else '-'}",
            f"peak LR      {f(self.peak_lr)}",
            f"schedule     {self.schedule or '-'}  ({self.schedule_source})",
        ]
        if self.final_loss is not None:
            lo = "" if self.lower is None else f"  [{self.lower:.4f}, {self.upper:.4f}] {self.interval:.0%}"
            lines.append(f"final loss   {self.final_loss:.4f}{lo}  ({self.loss_source})")
        else:
            lines.append(f"final loss   -  ({self.loss_source})")
        for src, d in self.losses.items():
            if src not in self.loss_source:
                lines.append(f"  also {src}: {d['loss']:.4f} [{d['lower']:.4f}, {d['upper']:.4f}]")
        if self.extrapolated:
            lines.append("extrapolated " + ", ".join(self.extrapolated))
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


def _size_aware(curve: Any) -> bool:
    """Whether the curve fit's law uses the model size (``Law.size_aware``)."""
    from scalefit.laws import LAWS

    name = getattr(curve, "law", None)
    return name in LAWS and bool(LAWS[name].size_aware)


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def _optimized_schedule(curve: Any, steps: int, peak: float, warmup: int) -> tuple[np.ndarray | None, str]:
    """The curve law's optimal schedule for the planned run and where it came from, or ``(None, why not)`` when the
    law cannot be optimised or its optimum is degenerate (declared by the law; e.g. Tissue, Luo et al. 2025,
    Theorem 2), or the optimum predicts an impossible loss.

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
        res = optimize_schedule(curve, steps=steps, peak=peak, warmup=warmup, floor=floor)
    except ConvergenceError as exc:
        return None, f"the curve law's optimum was refused ({exc})"
    return np.asarray(res.lr, dtype=np.float64), (
        f"optimized under the curve fit's {law.title} for {steps} steps at peak {peak:.3g}, warmup {warmup}, "
        f"floor {floor:.3g}"
    )


def plan(
    flops: float | None = None,
    *,
    hparams: Any = None,
    scaling: Any = None,
    curve: Any = None,
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
    params, tokens
        Fix N and/or D instead of taking the compute-optimal allocation.
    interval
        Nominal coverage of the loss interval.
    decay
        Cooldown fraction of the default WSD schedule.

    Raises
    ------
    FitInputError
        A budget or size that is not positive, or N and D that cannot be determined from what was given.
    """
    notes: list[str] = []
    extrapolated: list[str] = []
    for name, v in (("flops", flops), ("params", params), ("tokens", tokens)):
        if v is not None and not (math.isfinite(v) and v > 0):
            raise FitInputError(f"--{name} is {v}; it must be a positive number such as 1e21.", column=name,
                                value=v)
    # ---- N and D
    if params is not None and tokens is not None:
        C = 6.0 * params * tokens
        if flops is not None and abs(C / flops - 1) > 0.01:
            msg = f"--params and --tokens fix the run; its compute 6ND = {C:.3g} differs from --flops {flops:.3g}."
            warnings.warn(msg, AssumptionWarning, stacklevel=2)
            notes.append(msg)
        N, D = float(params), float(tokens)
        notes.append("N and D given: prediction only.")
    elif flops is None:
        raise FitInputError("no budget: pass --flops C (or both --params and --tokens).", column="flops")
    elif params is not None:
        N, D, C = float(params), flops / (6.0 * params), float(flops)
        notes.append("N fixed: D = C / 6N.")
    elif tokens is not None:
        N, D, C = flops / (6.0 * tokens), float(tokens), float(flops)
        notes.append("D fixed: N = C / 6D.")
    elif scaling is not None:
        C = float(flops)
        opt = scaling.optimal(C, interval=interval)
        N, D = opt["params"], opt["tokens"]
        if not (math.isfinite(N) and math.isfinite(D)):
            raise FitInputError("the scaling law has no interior compute-optimal allocation; pass --params or "
                                "--tokens.")
        notes.append(f"N, D compute-optimal under the scaling law (N in [{opt['params_lower']:.3g}, "
                     f"{opt['params_upper']:.3g}] at {interval:.0%}).")
    else:
        raise FitInputError("cannot choose N and D from a budget alone: pass --scaling sc.json (from scalefit "
                            "scaling), or fix --params or --tokens.", column="scaling")

    # ---- batch size, LR, steps
    batch = lr = None
    steps: int | None = None
    if hparams is not None:
        hp = hparams.predict(N=N, D=D, C=C, interval=interval, warn=False)
        lr = _finite(hp["lr"])
        batch = _finite(hp["batch_size"])
        extrapolated += [f"hparams.{q}" for q in hp["extrapolated"]]
        if batch is not None:
            if not 1.0 <= batch <= D:
                raise FitInputError(
                    f"the batch-size law predicts {batch:.3g} tokens per step for D = {D:.3g} tokens, which is not a "
                    "usable plan (it must lie in [1, D]). The hyperparameter fit is too poorly determined here: "
                    "check its intervals (scalefit hparams), sweep more (N, D) cells, or fix --tokens.",
                    column="batch_size", value=batch)
            steps = int(math.ceil(D / batch))
        notes.append(f"peak LR and batch size from the {hparams.form} law ({interval:.0%} LR interval "
                     f"[{hp['lr_lower']:.3g}, {hp['lr_upper']:.3g}]).")
        if batch is None:
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
        got, why = _optimized_schedule(curve, steps, lr, warmup) if curve is not None else (None, "")
        if got is not None:
            lr_sched, source = got, why
            schedule = f"optimized ({steps} steps, warmup {warmup})"
        else:
            schedule = f"wsd:peak={lr:.4g},total={steps},warmup={warmup},decay={decay:g}"
            source = (f"default WSD, linear cooldown over the last {decay:.0%} of steps, warmup {WARMUP_FRACTION:.0%}"
                      + (f"; {why}" if why else ""))
            try:
                from scalefit import schedules

                lr_sched = schedules.wsd(lr, steps, warmup=warmup, decay=decay)
            except ImportError:  # pragma: no cover - schedules lands separately
                lr_sched = None

    # ---- loss
    losses: dict[str, dict[str, float]] = {}
    if scaling is not None:
        point, lo, hi = scaling.loss_interval(N, D, interval=interval)
        losses["scaling law"] = {"loss": point, "lower": lo, "upper": hi}
        extrapolated += [f"scaling.{q}" for q in scaling.extrapolated(params=N, tokens=D, flops=C)]
    curve_headline = False
    if curve is not None:
        if lr_sched is None:
            notes.append("curve law given but no schedule could be planned (needs --hparams): not used.")
        else:
            pred = curve.predict(lr_sched, warmup=warmup, interval=interval, n_params=N)
            losses["curve law"] = {"loss": float(pred.loss[-1]), "lower": float(pred.lower[-1]),
                                   "upper": float(pred.upper[-1])}
            if getattr(pred, "extrapolated", False):
                extrapolated.append("curve.schedule")
            fitted_n = tuple(getattr(getattr(curve, "context", None), "n_params", ()) or ())
            # a size-aware law predicts at the planned N itself (its prediction marks a size beyond the fitted ones)
            same_size = (not fitted_n or _size_aware(curve)
                         or abs(N / float(fitted_n[-1]) - 1.0) <= CURVE_SIZE_TOLERANCE)
            curve_headline = same_size and not getattr(pred, "extrapolated", False)
            if curve_headline:
                notes.append("curve law: fitted at its own model size and batch; its loss assumes the planned run "
                             "matches them.")
            else:
                why = [] if same_size else [f"it was fitted at N = {float(fitted_n[-1]):.3g}, the plan has N = {N:.3g}"]
                if getattr(pred, "extrapolated", False):
                    why.append(f"the planned schedule extrapolates it ({pred.reason})")
                notes.append("curve law's loss is shown for reference, not as the plan's loss: " + "; ".join(why)
                             + ".")
    if "curve law" in losses and (curve_headline or "scaling law" not in losses):
        source_name = "curve law"
        loss_source = {"covariance": "curve law (covariance interval)",
                       "cv": "curve law (cross-validated law error interval)",
                       "covariance+cv": "curve law (covariance + cross-validated law error interval)",
                       }[getattr(curve, "interval_method", "covariance")]
    elif "scaling law" in losses:
        source_name = "scaling law"
        loss_source = "scaling law (bootstrap interval)" if np.isfinite(losses["scaling law"]["lower"]) else \
            "scaling law (no bootstrap: no interval)"
    else:
        source_name, loss_source = "", "none (needs --scaling or --curve)"
    chosen = losses.get(source_name, {})
    for name in extrapolated:
        warnings.warn(f"plan: {name} is extrapolated beyond the data its law was fitted on.",
                      ExtrapolationWarning, stacklevel=2)
    return Plan(
        flops=C, params=N, tokens=D, steps=steps, batch_size=batch, peak_lr=lr, schedule=schedule,
        schedule_source=source, final_loss=_finite(chosen.get("loss")) if chosen else None,
        lower=_finite(chosen.get("lower")) if chosen else None, upper=_finite(chosen.get("upper")) if chosen else None,
        loss_source=loss_source, interval=interval, losses=losses, extrapolated=tuple(extrapolated),
        notes=tuple(notes), lr_schedule=lr_sched,
    )

