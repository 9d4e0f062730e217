"""Whether a fit describes its runs at all: the checks that turn a converged optimum into status FAILED.

A least-squares optimum always exists; it need not describe anything. A law fitted to a curve it cannot follow (an
initial transient the fit window should have left out, a warmup the reader did not know, a target that is not a
loss curve) converges happily to parameters that do worse than each run's mean, or to a curve that crosses zero
on the run's own schedule. Neither is a result, so the fit says FAILED and what to try, and the CLI exits 1.

Checks, in order:

* the mean in-sample R2 over runs (the report's ``mean`` row, the MPL paper's average over curves) is negative:
  FAILED. One run below 0 while the mean is not gets its own note (a noise-dominated flat run can sit near 0);
* the law at the fitted parameters reaches a loss <= 0 on a fitted run's schedule after warmup (every step its LR
  covers, not only the logged rows): FAILED. No loss in nats, bits or perplexity is <= 0.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from scalefit.errors import FitFailedWarning
from scalefit.metrics import RunMetrics
from scalefit.results import Note

#: What a user can change when the law does not describe the curve (the CLI's options).
ADVICE = ("Try a fit window that leaves out an initial transient (--min-step), the warmup the run really had "
          "(--warmup), another --target, or the per-step LR the run really used (--schedule-file).")


def verdict(law: Any, law_name: str, names: Sequence[str], p: np.ndarray, runs: Sequence[Any],
            metrics: Mapping[str, RunMetrics]) -> list[Note]:
    """The notes of the checks above: kind ``"failed"`` (status FAILED) or ``"poor_run"``; empty when the fit
    describes its runs."""
    notes: list[Note] = []
    r2 = {label: float(m.r2) for label, m in metrics.items() if math.isfinite(m.r2)}
    if r2:
        mean = float(np.mean(list(r2.values())))
        worst = min(r2, key=r2.__getitem__)
        if mean < 0:
            what = (f"in-sample R2 {mean:.3g}" if len(r2) == 1 else
                    f"mean in-sample R2 {mean:.3g} (worst {worst}: {r2[worst]:.3g})")
            notes.append(Note(
                "failed", f"fit {law_name} FAILED: the law does not describe these runs: {what} < 0, worse than "
                f"each run's mean loss (or the curve is flat within its noise: nothing for a law to extrapolate). "
                f"{ADVICE}", FitFailedWarning,
                {"reason": "negative_r2", "r2": mean, "runs": r2}))
        else:
            for label, value in r2.items():
                if value < 0:
                    notes.append(Note(
                        "poor_run", f"fit {law_name}: the law does worse than the mean loss on {label} (in-sample R2 "
                        f"{value:.3g} < 0): it does not describe that run. {ADVICE}", FitFailedWarning,
                        {"run": label, "r2": value}))
    low = _lowest(law, names, p, runs)
    if low is not None and low[2] <= 0:
        path, step, value = low
        notes.append(Note(
            "failed", f"fit {law_name} FAILED: the fitted curve reaches a loss of {value:.4g} at step {step} of "
            f"{path}'s own schedule; no loss is <= 0, so the law does not describe this run. {ADVICE}",
            FitFailedWarning, {"reason": "loss_not_positive", "run": path, "step": step, "loss": value}))
    return notes


def _lowest(law: Any, names: Sequence[str], p: np.ndarray, runs: Sequence[Any]) -> tuple[str, int, float] | None:
    """(path, step, loss) of the lowest loss the fitted law gives on any run's schedule after warmup (O(T) each)."""
    values = dict(zip(names, map(float, p)))
    out: tuple[str, int, float] | None = None
    for run in runs:
        lr = np.asarray(run.lr, dtype=np.float64)
        warmup = int(run.warmup)
        if lr.size <= warmup:
            continue
        n_params = run.meta.get("params") if isinstance(run.meta, Mapping) else None
        try:
            curve = law.predict(values, lr, warmup=warmup, at=np.arange(warmup, lr.size),
                                n_params=None if n_params is None else float(n_params))
        except (ValueError, KeyError, FloatingPointError):  # the fit used these runs; a law that cannot is no verdict
            continue
        curve = np.asarray(curve, dtype=np.float64)
        finite = np.isfinite(curve)
        if not finite.any():
            continue
        i = int(np.argmin(np.where(finite, curve, np.inf)))
        if out is None or curve[i] < out[2]:
            out = (str(run.path), int(run.step0) + warmup + i, float(curve[i]))
    return out
