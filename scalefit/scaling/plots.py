"""Figures of the compute-optimal analysis: isoFLOP curves with their minima, and the fitted frontier.

Matplotlib is imported inside the functions (through :func:`scalefit.plots._pyplot`, which selects a non-GUI
backend when there is no display).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def isoflop_figure(iso: Any, params: Any, loss: Any, approaches: Any = None) -> Any:
    """Two panels: loss against N for each budget with its parabola and minimum (its interval as a bar; budgets
    left out of the frontier grey, hollow, without a bar), and N*(C), D*(C) against C with the fitted power laws.

    ``approaches`` (a :class:`~scalefit.scaling.approaches.Approaches`) adds the other approaches' N*(C) lines.
    Returns the Figure.
    """
    from scalefit.plots import _pyplot

    plt = _pyplot()
    N, L = np.asarray(params, float), np.asarray(loss, float)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.8))
    cmap = plt.get_cmap("viridis")
    lc = np.log([b.flops for b in iso.budgets])
    span = max(float(np.ptp(lc)), 1e-9)
    for b in iso.budgets:
        colour = cmap(0.9 * (np.log(b.flops) - lc.min()) / span) if b.used else "0.6"
        rows = np.asarray(b.rows)
        ax.scatter(N[rows], L[rows], s=14, color=colour, alpha=0.8, zorder=3)
        if np.all(np.isfinite(b.coef)):
            x = np.linspace(np.log(b.n_range[0]), np.log(b.n_range[1]), 100)
            c0, c1, c2 = b.coef
            ax.plot(np.exp(x), c0 + c1 * x + c2 * x * x, color=colour, lw=1.2, ls="-" if b.used else ":")
        xerr = None if not (b.used and np.isfinite(b.lower)) else [[b.n_opt - b.lower], [b.upper - b.n_opt]]
        ax.errorbar([b.n_opt], [b.loss_opt], xerr=xerr, fmt="o", ms=6, mfc=colour if b.used else "none",
                    mec="black", ecolor="black", capsize=2, zorder=5)
    ax.scatter([], [], color="0.6", s=14, label="left out (minimum at the edge)")
    ax.errorbar([], [], xerr=[[0], [0]], fmt="o", mfc="white", mec="black", ecolor="black", label="minimum (90%)")
    ax.set_xscale("log")
    ax.set_xlabel("parameters N (non-embedding)")
    ax.set_ylabel("final loss (nats/token)")
    ax.set_title("isoFLOP profiles: parabola in ln N per budget (colour: budget)", fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    used = [b for b in iso.budgets if b.used]
    C = np.array([b.flops for b in used])
    Cg = np.geomspace(C.min() / 1.5, C.max() * 1.5, 50)
    for name, law, pts, colour in (("N*", iso.n_opt, [b.n_opt for b in used], "tab:blue"),
                                   ("D*", iso.d_opt, [b.d_opt for b in used], "tab:orange")):
        bx.scatter(C, pts, color=colour, zorder=4)
        bx.plot(Cg, law(Cg), color=colour, label=f"{name} = {law.coef:.3g} C^{law.exponent:.3f} "
                                                 f"[{law.lower:.3f}, {law.upper:.3f}]")
        band = np.array([law.interval(c, iso.level) for c in Cg])
        if np.isfinite(band).all():
            bx.fill_between(Cg, band[:, 0], band[:, 1], color=colour, alpha=0.15, lw=0)
    if approaches is not None:
        for key, ls in (("envelope", "--"), ("parametric", ":")):
            fit = approaches.fits.get(key)
            if fit is None:
                continue
            if key == "parametric":
                Ng = np.array([fit.optimal(c)["params"] for c in Cg])
                bx.plot(Cg, Ng, color="tab:blue", ls=ls, lw=1, label="N*, approach 3 (parametric)")
            else:
                bx.plot(Cg, fit.n_opt(Cg), color="tab:blue", ls=ls, lw=1, label="N*, approach 1 (envelope)")
    bx.set_xscale("log")
    bx.set_yscale("log")
    bx.set_xlabel("compute C (FLOPs)")
    bx.set_ylabel("compute-optimal N* and D*")
    bx.set_title("the frontier (isoFLOP minima, power laws with 90% bands)", fontsize=9)
    bx.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig
