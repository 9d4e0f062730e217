"""Matplotlib figures used by the CLI and notebooks.

Every function takes an optional ``ax`` (or ``axes``) and returns it, so figures compose. matplotlib is
imported inside the functions: importing this module stays cheap. ``save(fig, path)`` writes a PNG atomically.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, path: str | os.PathLike[str], dpi: int = 120) -> Path:
    """Save ``fig`` as PNG to ``path`` atomically and close it."""
    import tempfile

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=target.suffix or ".png", dir=target.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
        _pyplot().close(fig)
    return target


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
    ax.set_ylabel("learning rate (absolute, as the optimizer sees it)")
    ax.set_xlim(-0.5, max(arr.size - 0.5, 0.5))
    ax.set_ylim(bottom=0)
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    ax.legend(loc="best", frameon=False)
    return ax
