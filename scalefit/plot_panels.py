"""Panels of the curve-law figures, each drawn on given matplotlib Axes: a fit against its runs, predicted curves
with their bands, their differences to a baseline schedule, held-out runs of an evaluation. :mod:`scalefit.plots`
makes the figures and documents them; this module imports neither matplotlib nor pyplot (it only calls the Axes
it is given).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def draw_fit(ax: Any, result: Any, res_ax: Any = None, *, log_y: bool = False) -> None:
    """Observed (dots) and fitted (lines) loss of each run of a fit; with ``res_ax``, relative residuals there."""
    for i, curve in enumerate(result.curves):
        color = f"C{i % 10}"
        ax.plot(curve.steps, curve.loss, ".", ms=2.5, color=color, alpha=0.6, label=f"{curve.name} (data)")
        ax.plot(curve.steps, curve.fitted, "-", lw=1.4, color=color, label=f"{curve.name} ({result.law} fit)")
        if res_ax is not None:
            rel = (curve.fitted - curve.loss) / curve.loss * 100.0
            res_ax.plot(curve.steps, rel, ".", ms=2.0, color=color)
    ax.set_ylabel(result.context.target_label)
    if log_y:
        ax.set_yscale("log")
    ax.set_title(f"{result.law} fit, {result.status.value}, mean R2 {result.mean_metrics['r2']:.5f}")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", frameon=False, fontsize="small")
    if res_ax is None:
        ax.set_xlabel("optimizer step")
        return
    res_ax.axhline(0.0, color="k", lw=0.8)
    res_ax.set_ylabel("fit - data (% of loss)")
    res_ax.set_xlabel("optimizer step")
    res_ax.grid(alpha=0.3)
    lim = max((float(np.max(np.abs((c.fitted - c.loss) / c.loss))) for c in result.curves), default=0.0)
    res_ax.set_ylim(-1.1 * lim * 100 - 1e-6, 1.1 * lim * 100 + 1e-6)


def draw_predictions(ax: Any, predictions: Sequence[Any], *, data: Any = None, show_lr: bool = True,
                     ylabel: str = "loss", log_y: bool = False) -> dict[str, str]:
    """Each prediction after its warmup as a line with its band (dotted and named when it cannot be true), the
    observed runs as black dots, each LR on a twin axis; y-limits that ignore the first post-warmup spike. Returns
    the colour of each label."""
    lows, highs = [], []
    lr_ax = ax.twinx() if show_lr and any(p.lr is not None for p in predictions) else None
    colors: dict[str, str] = {}
    for i, p in enumerate(predictions):
        color = colors.setdefault(p.label, f"C{i % 10}")
        keep = p.steps >= p.lr_step0 + p.warmup
        mark = " (extrapolated)" if p.extrapolated else ""
        if p.impossible:
            mark = f" (NOT A RESULT: {p.impossible})"
        ax.plot(p.steps[keep], p.loss[keep], ":" if p.impossible else "-", lw=1.5, color=color,
                label=f"{p.label}: final {p.final_loss:.4f}{mark}")
        ax.fill_between(p.steps[keep], p.lower[keep], p.upper[keep], color=color, alpha=0.2, lw=0)
        loss = p.loss[keep]
        shown = loss[np.isfinite(loss) & ((loss > 0) | (not log_y))]
        if shown.size:
            band = p.lower[keep][np.isfinite(p.lower[keep])]
            lows.append(min(float(np.min(shown)), float(np.min(band)) if band.size else np.inf))
            highs.append(float(np.percentile(shown, 98)))  # robust top: ignore the first post-warmup spike
        if lr_ax is not None and p.lr is not None:
            lr_ax.plot(np.arange(p.lr.size) + p.lr_step0, p.lr, "--", lw=0.9, color=color, alpha=0.6)
    for run in data or []:
        obs = run.observed & (run.index >= run.warmup)
        ax.plot(run.steps[obs], run.loss[obs], ".", ms=2.5, color="k", alpha=0.5)
    if log_y:
        ax.set_yscale("log")
    _limits(ax, lows, highs, log_y)
    if predictions:
        ax.set_title(f"predicted {ylabel} after warmup, {predictions[0].interval * 100:g}% band "
                     f"({predictions[0].method})")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if lr_ax is not None:
        lr_ax.set_ylabel("learning rate (dashed)")
        lr_ax.set_ylim(0, 1.08 * lr_ax.get_ylim()[1])
    return colors


def draw_differences(ax: Any, differences: Sequence[Any], colors: dict[str, str] | None = None) -> None:
    """Each schedule minus the baseline with the difference's own band; the baseline is the zero line."""
    colors = colors or {}
    for i, d in enumerate(differences):
        color = colors.get(d.label, f"C{(i + 1) % 10}")
        ax.plot(d.steps, d.diff, ":" if d.impossible else "-", lw=1.4, color=color,
                label=f"{d.label}: {d.final:+.4f} [{d.final_lower:+.4f}, {d.final_upper:+.4f}]")
        ax.fill_between(d.steps, d.lower, d.upper, color=color, alpha=0.2, lw=0)
    if differences:
        base = differences[0].baseline
        ax.axhline(0.0, color=colors.get(base, "k"), lw=1.2, label=f"{base} (baseline)")
        f = differences[0].unshared
        how = "" if f is None else f", {1 - f:.0%} of the law error's variance shared"
        ax.set_title(f"difference to {base} ({differences[0].interval * 100:g}% band of the difference{how})",
                     fontsize="medium")
        tails = [np.percentile(np.abs(np.r_[d.lower, d.upper][np.isfinite(np.r_[d.lower, d.upper])]), 98)
                 for d in differences if np.isfinite(np.r_[d.lower, d.upper]).any()]
        if tails:  # the first post-warmup steps can differ wildly; scale to the rest
            lim = 1.1 * max(tails)
            ax.set_ylim(-lim, lim)
    ax.set_ylabel(f"minus {differences[0].baseline}" if differences else "difference")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", frameon=False, fontsize="x-small")


def draw_evaluation(ax: Any, evaluation: Any, ylabel: str | None = None) -> None:
    """Each held-out run: observed loss (dots), its prediction from the schedule alone with the band, and whether
    its final loss fell inside (legend and title)."""
    inside = evaluation.final_inside()
    lows, highs = [], []
    for i, (path, p) in enumerate(evaluation.predictions.items()):
        color = f"C{i % 10}"
        name = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        obs = evaluation.observed.get(path)
        if obs is not None and len(obs) == p.steps.size:
            ax.plot(p.steps, obs, ".", ms=2.5, color=color, alpha=0.6)
            highs.append(float(np.nanpercentile(obs, 98)))
            lows.append(float(np.nanmin(obs)))
        ok = "inside" if inside.get(path) else "OUTSIDE"
        if p.impossible:
            ok = f"NOT A RESULT: {p.impossible}"
        ax.plot(p.steps, p.loss, "-", lw=1.4, color=color, label=f"{name}: final {ok} the band")
        ax.fill_between(p.steps, p.lower, p.upper, color=color, alpha=0.2, lw=0)
        if np.isfinite(p.lower).any():
            lows.append(float(np.nanmin(p.lower)))
    _limits(ax, lows, highs, False)
    n_in, n = sum(inside.values()), len(inside)
    first = next(iter(evaluation.predictions.values()), None)
    band = "" if first is None else f"{first.interval * 100:g}% band ({first.method}), "
    ax.set_title(f"{evaluation.fit.law} fit on the training runs, held-out runs predicted: {band}{n_in} of {n} "
                 "finals inside", fontsize="medium")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(ylabel or evaluation.fit.context.target_label)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", frameon=False, fontsize="small")


def _limits(ax: Any, lows: list[float], highs: list[float], log_y: bool) -> None:
    """y-limits from the lowest and highest values shown, padded (multiplicatively on a log axis)."""
    if not (lows and highs):
        return
    lo, hi = min(lows), max(highs)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return
    if log_y and lo > 0:
        ax.set_ylim(lo / 1.02, hi * 1.02)
    elif not log_y:
        pad = 0.05 * (hi - lo if hi > lo else abs(hi) * 0.01 + 1e-9)
        ax.set_ylim(lo - pad, hi + pad)
