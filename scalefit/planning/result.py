"""A training plan: what to train for a compute budget, each quantity with its interval and its source, how far
each law is stretched to say so, a text report and the ``--json`` object of ``scalefit plan``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scalefit.planning.allocation import Allocation
from scalefit.planning.curve import Agreement, PlannedCurve


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


@dataclass(frozen=True)
class Plan:
    """A training plan for a compute budget. ``None`` (or NaN bounds) marks what the given laws cannot say.

    ``factors`` maps each extrapolated quantity (``scaling.tokens``, ``hparams.params``, ``isoflop.flops``, ...)
    to the factor by which the plan lies outside the data its law was fitted on (1 inside); ``extrapolated``
    names those beyond it (and ``curve.schedule`` when the curve law extrapolates). ``curve`` is the curve law's
    whole curve of the planned run and ``agreement`` its last step against the loss law's final loss.
    """

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
    losses: dict[str, dict[str, Any]] = field(default_factory=dict)
    extrapolated: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    lr_schedule: np.ndarray | None = field(default=None, repr=False)  # per-step LR, shape (steps,)
    allocation: Allocation | None = None
    peak_lr_interval: tuple[float, float] = (float("nan"), float("nan"))
    batch_size_interval: tuple[float, float] = (float("nan"), float("nan"))
    hparams_source: str = ""
    factors: dict[str, float] = field(default_factory=dict)
    curve: PlannedCurve | None = None
    agreement: Agreement | None = None

    def summary(self) -> dict[str, Any]:
        """Plain dict: the ``--json`` output of ``scalefit plan``."""
        a = self.allocation
        return {
            "flops": self.flops, "params": self.params, "tokens": self.tokens, "steps": self.steps,
            "batch_size": self.batch_size, "peak_lr": self.peak_lr, "schedule": self.schedule,
            "schedule_source": self.schedule_source, "final_loss": self.final_loss, "lower": self.lower,
            "upper": self.upper, "interval": self.interval, "loss_source": self.loss_source,
            "allocation": None if a is None else {
                "source": a.source, "params_lower": _num(a.params_lower), "params_upper": _num(a.params_upper),
                "tokens_lower": _num(a.tokens_lower), "tokens_upper": _num(a.tokens_upper)},
            "peak_lr_lower": _num(self.peak_lr_interval[0]), "peak_lr_upper": _num(self.peak_lr_interval[1]),
            "batch_size_lower": _num(self.batch_size_interval[0]),
            "batch_size_upper": _num(self.batch_size_interval[1]), "hparams_source": self.hparams_source,
            "losses": self.losses, "extrapolation": {k: _num(v) for k, v in self.factors.items()},
            "extrapolated": list(self.extrapolated), "curve": None if self.curve is None else self.curve.summary(),
            "agreement": None if self.agreement is None else self.agreement.summary(), "notes": list(self.notes),
        }

    def report(self) -> str:
        """Text report: one line per quantity with its interval and source, then the checks and notes."""
        pct = f"{self.interval:.0%}"

        def f(v: Any, fmt: str = ".4g") -> str:
            return "-" if v is None else format(v, fmt)

        def iv(lo: float | None, hi: float | None, fmt: str = ".3g") -> str:
            return f"  [{lo:{fmt}}, {hi:{fmt}}] {pct}" if _num(lo) is not None and _num(hi) is not None else ""

        a = self.allocation
        src = f"  ({a.source})" if a is not None and a.source != "given" else ""
        lines = [
            f"compute      {self.flops:.4g} FLOPs",
            f"params N     {self.params:.4g}{iv(a.params_lower, a.params_upper) if a else ''}{src}",
            f"tokens D     {self.tokens:.4g}{iv(a.tokens_lower, a.tokens_upper) if a else ''}  "
            f"({self.tokens / self.params:.1f} tokens/param)",
            f"batch size   {f(self.batch_size)} tokens{iv(*self.batch_size_interval)}",
            f"steps        {f(self.steps, 'd') if self.steps is not None else '-'}",
            f"peak LR      {f(self.peak_lr)}{iv(*self.peak_lr_interval)}"
            + (f"  ({self.hparams_source})" if self.hparams_source else ""),
            f"schedule     {self.schedule or '-'}  ({self.schedule_source})",
        ]
        if self.final_loss is not None:
            lines.append(f"final loss   {self.final_loss:.4f}{iv(self.lower, self.upper, '.4f')}  ({self.loss_source})")
        else:
            lines.append(f"final loss   -  ({self.loss_source})")
        for src_name, d in self.losses.items():
            if not self.loss_source.startswith(src_name):
                lines.append(f"  also {src_name}: {d['loss']:.4f}{iv(d['lower'], d['upper'], '.4f')}")
        if self.curve is not None:
            c = self.curve
            idx = sorted({int(round(q * (c.steps.size - 1))) for q in (0.1, 0.25, 0.5, 1.0)})
            pts = ", ".join(f"{c.loss[i]:.4f} at step {int(c.steps[i]) + 1}" for i in idx)
            lines.append(f"curve        {c.law}: {pts}{iv(c.lower[-1], c.upper[-1], '.4f')}  (every step in --json)")
        if self.agreement is not None:
            lines.append(f"agreement    {self.agreement.message}")
        if self.extrapolated:
            lines.append("extrapolated " + ", ".join(
                f"{k} {self.factors[k]:.3g}x" if math.isfinite(self.factors.get(k, math.nan)) else k
                for k in self.extrapolated))
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)
