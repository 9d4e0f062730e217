"""Matplotlib figures used by the CLI and notebooks.

Every function takes an optional ``ax`` (or ``axes``) and returns it, so figures compose. matplotlib is
imported inside the functions: importing this module stays cheap. ``save(fig, path)`` writes the image atomically
(its format from the suffix); commands call ``check_plot_path`` on a ``--plot`` before any work. Panels drawn on
given Axes (differences, held-out runs) are in :mod:`scalefit.plot_panels`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def _pyplot() -> Any:
    import sys

    import matplotlib

    # Agg for the CLI, but never override a backend already chosen (a notebook's inline backend via MPLBACKEND,
    # or pyplot imported by the user): switching it made every figure after the first vanish in notebooks.
    if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _main_and_lower(lower: bool, size: tuple[float, float], size_with_lower: tuple[float, float],
                    ratios: tuple[int, int]) -> tuple[Any, Any]:
    """A new figure's main Axes and, when ``lower``, a second panel below it sharing its x-axis (else None)."""
    if not lower:
        return _pyplot().subplots(figsize=size)[1], None
    _, (ax, low) = _pyplot().subplots(2, 1, figsize=size_with_lower, sharex=True,
                                      gridspec_kw={"height_ratios": list(ratios)})
    return ax, low


def save(fig: Any, path: str | os.PathLike[str], dpi: int = 120) -> Path:
    """Save ``fig`` to ``path`` atomically (:func:`scalefit.jsonio.open_atomic`: a kill leaves the old file or the
    new one; a refused write is one ``OutputFileError`` line) and close it. The format follows the suffix (PNG
    without one)."""
    from scalefit.jsonio import open_atomic

    target = Path(path)
    try:
        with open_atomic(target) as fh:
            fig.savefig(fh, format=plot_format(target), dpi=dpi, bbox_inches="tight")
    finally:
        _pyplot().close(fig)
    return target


def plot_format(path: str | os.PathLike[str]) -> str:
    """The image format a plot path asks for: its suffix, ``png`` without one."""
    return Path(path).suffix.lstrip(".").lower() or "png"


def check_plot_path(path: str | os.PathLike[str], flag: str = "--plot") -> Path:
    """Before any work: ``path`` can be written (:func:`scalefit.jsonio.check_out_path`) and its suffix is an image
    format matplotlib writes; ``OutputFileError`` (one line) otherwise."""
    from matplotlib.backend_bases import FigureCanvasBase

    from scalefit.jsonio import OutputFileError, check_out_path

    formats = FigureCanvasBase.get_supported_filetypes()
    if plot_format(path) not in formats:
        raise OutputFileError(f"{flag}: matplotlib cannot write a {Path(path).suffix!r} image. Use one of "
                              + ", ".join(f".{f}" for f in sorted(formats)) + ", e.g. plot.png.", path=str(path))
    return check_out_path(path, flag=flag)


# ---- figures (add new ones below, one function each, each taking ax=None and returning the Axes) ----


def plot_schedule(
    lr: Any,
    ax: Any = None,
    *,
    label: str | None = None,
    warmup: int | None = None,
    title: str | None = None,
) -> Any:
    """Plot a per-step learning-rate schedule: LR vs optimizer step, with the warmup shaded.

    Parameters
    ----------
    lr : array of shape (T,)
        Learning rate of steps 0..T-1 (see ``scalefit.schedules``).
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure is made when omitted.
    label : str, optional
        Legend label of the curve (default ``"schedule"``).
    warmup : int, optional
        Warmup steps to shade; detected with ``schedules.detect_warmup`` when omitted. 0 draws no shading.
    title : str, optional
        Axes title.

    Returns
    -------
    The Axes.
    """
    import numpy as np

    from scalefit.schedules import detect_warmup

    arr = np.asarray(lr, dtype=np.float64)
    if ax is None:
        _, ax = _pyplot().subplots(figsize=(7, 3.5))
    steps = np.arange(arr.size)
    ax.plot(steps, arr, lw=1.6, label=label or "schedule")
    w = detect_warmup(arr) if warmup is None else int(warmup)
    if w > 0:
        ax.axvspan(-0.5, w - 0.5, color="tab:orange", alpha=0.15, lw=0, label=f"warmup ({w} steps)")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("learning rate")
    ax.set_xlim(-0.5, max(arr.size - 0.5, 0.5))
    ax.set_ylim(bottom=0)
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    ax.legend(loc="best", frameon=False)
    return ax


def plot_fit(result: Any, ax: Any = None, *, residuals: bool = True, log_y: bool = False) -> Any:
    """Observed loss (dots) and the fitted law (lines) per run; relative residuals in a panel below.

    Parameters
    ----------
    result : FitResult
        A fit (its saved curves are used: no run files needed).
    ax : matplotlib Axes, optional
        Axes for the loss panel. When omitted, a new figure is made with a residual panel below it; when
        given, only the loss panel is drawn on it.
    residuals : bool
        Draw the residual panel (new figures only).
    log_y : bool
        Log scale on the loss axis.

    Returns
    -------
    The loss Axes; its y-axis is labelled with the fitted target (``FitContext.target_label``).
    """
    from scalefit.plot_panels import draw_fit

    res_ax = None
    if ax is None:
        ax, res_ax = _main_and_lower(residuals, (8, 4.5), (8, 6), (3, 1))
    draw_fit(ax, result, res_ax, log_y=log_y)
    return ax


def plot_predictions(predictions: Any, ax: Any = None, *, data: Any = None, show_lr: bool = True,
                     differences: Any = None, ylabel: str = "loss", log_y: bool = False) -> Any:
    """Predicted loss curves with their interval bands, each schedule's LR on a twin axis, and optionally a panel
    of differences to a baseline schedule below.

    Only steps after the warmup are drawn: the curve laws describe the loss after warmup (inside it their
    prediction is not meaningful and would swamp the scale). A prediction that cannot be true (``impossible``) is
    drawn dotted and named so in the legend.

    Parameters
    ----------
    predictions : sequence of Prediction
        From ``FitResult.predict``; each drawn as a line with its ``interval`` band.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure is made when omitted (with the differences panel below when given).
    data : sequence of Run, optional
        Observed runs to overlay (black dots).
    show_lr : bool
        Draw each prediction's LR schedule (dashed, same colour) on a right-hand axis.
    differences : sequence of Difference, optional
        From :func:`scalefit.results.difference.differences`: each schedule minus the baseline, drawn in a panel
        below (new figures only) with the difference's own, narrower interval (the law error shared by both
        schedules cancels).
    ylabel : str
        The y-axis label: the fitted target (``FitContext.target_label``; "nats" only when known).
    log_y : bool
        Log scale on the loss axis.

    Returns
    -------
    The loss Axes.
    """
    from scalefit.plot_panels import draw_differences, draw_predictions

    diff_ax = None
    if ax is None:
        ax, diff_ax = _main_and_lower(differences, (8, 4.8), (8, 7.2), (3, 2))
    colors = draw_predictions(ax, predictions, data=data, show_lr=show_lr, ylabel=ylabel, log_y=log_y)
    if diff_ax is not None:
        draw_differences(diff_ax, differences, colors)
    (diff_ax if diff_ax is not None else ax).set_xlabel("optimizer step")
    # below the axes: never on top of a curve
    below = diff_ax if diff_ax is not None else ax
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14 if diff_ax is None else -0.2),
              bbox_transform=below.transAxes, ncol=2, frameon=False, fontsize="small")
    return ax


def plot_evaluation(evaluation: Any, ax: Any = None, *, log_y: bool = False) -> Any:
    """Held-out runs of an evaluation: observed loss (dots), the prediction from the schedule alone (line) with its
    interval band, and whether each final loss fell inside it (in the legend and the title).

    Parameters
    ----------
    evaluation : Evaluation
        From :func:`scalefit.evaluate`.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure is made when omitted.
    log_y : bool
        Log scale on the loss axis.

    Returns
    -------
    The Axes.
    """
    from scalefit.plot_panels import draw_evaluation

    if ax is None:
        _, ax = _pyplot().subplots(figsize=(8, 4.8))
    draw_evaluation(ax, evaluation)
    if log_y:
        ax.set_yscale("log")
    return ax


def hparam_heatmap(table: Any, fit: Any, cell: int = 0, ax: Any = None, span: float = 0.05) -> Any:
    """Loss over (peak LR, batch size) for one cell of a sweep, with the best run, the cell's quadratic optimum
    and the fitted law's optimum.

    Parameters
    ----------
    table : scalefit.tables.Table
        The sweep (rows with lr, batch size in tokens, loss).
    fit : scalefit.scaling.hparam_result.HparamFit
        The fitted law; ``fit.cells[cell]`` picks the cell.
    span : float
        Colour scale covers best loss .. best * (1 + span); worse runs saturate.
    """
    import numpy as np
    from matplotlib.ticker import NullLocator

    c = fit.cells[cell]
    if fit.form == "steplaw":
        mask = np.isclose(table.params, c.params, rtol=1e-6) & np.isclose(table.tokens, c.tokens, rtol=1e-6)
    else:
        mask = np.isclose(np.log(table.flops), np.log(c.flops), atol=1e-3)
    lr, bs, loss = table.lr[mask], table.batch_size[mask], table.loss[mask]
    if ax is None:
        _, ax = _pyplot().subplots(figsize=(5, 4))
    sc = ax.scatter(lr, bs, c=loss, cmap="viridis_r", vmin=c.best_loss, vmax=c.best_loss * (1 + span), s=380,
                    marker="s", edgecolors="none")
    if lr.size <= 30:  # few runs: print each run's loss in its cell (the colour scale saturates above span)
        for x, y, v in zip(lr, bs, loss):
            ax.annotate(f"{v:.3f}", (x, y), xytext=(0, -15), textcoords="offset points", ha="center", va="top",
                        fontsize=7)
    ax.figure.colorbar(sc, ax=ax, label="final loss (nats/token)")
    ax.scatter([c.best_lr], [c.best_batch_size], marker="x", color="red", s=80, label="best run", zorder=6)
    if c.quad_lr == c.quad_lr and c.quad_batch_size == c.quad_batch_size:
        lo, hi = c.quad_lr_ci
        xerr = None if lo != lo else [[c.quad_lr - lo], [hi - c.quad_lr]]
        ax.errorbar([c.quad_lr], [c.quad_batch_size], xerr=xerr, fmt="o", color="white", mec="black",
                    label="cell quadratic optimum (95%)")
    if c.law_batch_size == c.law_batch_size:
        ax.scatter([c.law_lr], [c.law_batch_size], marker="*", s=220, color="orange", edgecolors="black",
                   label=f"{fit.form} law optimum", zorder=5)
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis, values in ((ax.xaxis, np.unique(lr)), (ax.yaxis, np.unique(bs))):
        if values.size <= 8:  # a small grid: tick exactly the swept values
            axis.set_ticks(values, labels=[f"{v:g}" for v in values])
            axis.set_minor_locator(NullLocator())
    ax.margins(0.15)
    ax.set_xlabel("peak learning rate")
    ax.set_ylabel("batch size (tokens)")
    ax.set_title(f"N={c.params:.3g}, D={c.tokens:.3g} ({c.n_runs} runs)", fontsize=9)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=7, frameon=False)
    return ax


def hparam_heatmaps(table: Any, fit: Any, max_cells: int = 12) -> Any:
    """A grid of :func:`hparam_heatmap` panels, one per cell (the first ``max_cells``); returns the Figure."""
    import math

    n = min(len(fit.cells), max_cells)
    cols = min(4, math.ceil(math.sqrt(n)))  # 4 cells: 2 x 2, not one wide row
    rows = math.ceil(n / cols)
    fig, axes = _pyplot().subplots(rows, cols, figsize=(4.6 * cols, 3.8 * rows), squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        if k < n:
            hparam_heatmap(table, fit, cell=k, ax=ax)
            if k:
                ax.legend().remove()
        else:
            ax.set_visible(False)
    fig.suptitle(f"loss over (LR, batch size) per cell; {fit.form} law: " + fit.lr.formula("lr"))
    fig.tight_layout()
    return fig


def scaling_contours(fit: Any, table: Any = None, ax: Any = None, levels: int = 14) -> Any:
    """Iso-loss contours of a fitted loss law (:class:`scalefit.scaling.result.ScalingFit`) over (N, D), lines of constant compute C = 6ND, the
    compute-optimal frontier N*(C), D*(C), and the data points (coloured by loss)."""
    import numpy as np

    if ax is None:
        _, ax = _pyplot().subplots(figsize=(6.5, 5))
    (n_lo, n_hi), (d_lo, d_hi) = fit.range["params"], fit.range["tokens"]
    N = np.geomspace(n_lo / 3, n_hi * 3, 200)
    D = np.geomspace(d_lo / 3, d_hi * 3, 200)
    NN, DD = np.meshgrid(N, D)  # (200, 200)
    L = fit.predict(NN, DD)
    cs = ax.contour(NN, DD, L, levels=levels, cmap="viridis_r", linewidths=1)
    ax.clabel(cs, fontsize=7, fmt="%.2f", colors="0.15")
    c_lo, c_hi = 6 * N[0] * D[0], 6 * N[-1] * D[-1]
    for C in np.geomspace(c_lo, c_hi, 9)[1:-1]:
        ax.plot(N, C / (6 * N), color="0.75", lw=0.7, ls="--")
    Cs = np.geomspace(c_lo, c_hi, 100)
    front = [fit.optimal(C, interval=0.9) for C in Cs]
    ax.plot([f["params"] for f in front], [f["tokens"] for f in front], color="red", lw=2,
            label="compute-optimal frontier (C = 6ND)")
    if table is not None:
        sc = ax.scatter(table.params, table.tokens, c=table.loss, cmap="viridis_r", s=36, edgecolors="black",
                        linewidths=0.3, label="runs", zorder=4)
        ax.figure.colorbar(sc, ax=ax, label="final loss (nats/token)")
    ax.plot([], [], color="0.75", ls="--", label="constant compute")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(N[0], N[-1])
    ax.set_ylim(D[0], D[-1])
    ax.set_xlabel("parameters N (non-embedding)")
    ax.set_ylabel("training tokens D")
    ax.set_title(f"{fit.formula()} (nats/token; contours: iso-loss)", fontsize=9)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, fontsize=7, frameon=False)
    return ax


def plot_schedules_compare(
    rows: Any,
    ax: Any = None,
    *,
    title: str | None = None,
) -> Any:
    """Plot an optimised schedule against baselines: LR vs optimizer step, each labelled with its predicted loss.

    Parameters
    ----------
    rows : sequence of (label, lr) or (label, lr, final_loss), or of objects with ``name``, ``lr``, ``final_loss``
        The schedules; the first one named ``"optimized"`` (or the first row) is drawn on top, thicker.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure is made when omitted.
    title : str, optional

    Returns
    -------
    The Axes.
    """
    import numpy as np

    if ax is None:
        _, ax = _pyplot().subplots(figsize=(8, 4))
    items = []
    for row in rows:
        if hasattr(row, "lr"):
            items.append((str(row.name), np.asarray(row.lr, dtype=np.float64), getattr(row, "final_loss", None)))
        else:
            items.append((str(row[0]), np.asarray(row[1], dtype=np.float64), row[2] if len(row) > 2 else None))
    main = next((i for i, it in enumerate(items) if it[0] == "optimized"), 0)
    for i, (label, lr, loss) in enumerate(items):
        text = label if loss is None else f"{label} (predicted {float(loss):.4f})"
        # baselines dashed ON TOP of the thick optimised line, so one that coincides with it stays visible
        ax.plot(np.arange(lr.size), lr, lw=3.0 if i == main else 1.3, zorder=2 if i == main else 3,
                ls="-" if i == main else "--", alpha=0.75 if i == main else 1.0, label=text)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("learning rate (absolute)")
    ax.set_ylim(bottom=0)
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    ax.grid(alpha=0.3)
    ax.set_title(title or "optimised schedule vs baselines (predicted final loss, nats/token)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False, fontsize=8)
    return ax
