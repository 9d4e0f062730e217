"""Hyperparameter and scaling laws against published fits on the reference data (never copied).

(a) Chinchilla law on Epoch's 240 digitised points (``epoch_chinchilla_fig4.csv``, ``epoch_excluded==1`` dropped):
    values vs Epoch's (A 477.8, B 2143.4, E 1.8172, alpha 0.3473, beta 0.3672), bootstrap stderr vs Epoch's
    (A 124.5, B 1293, E 0.0257, alpha 0.0154, beta 0.0206), fit time of our method (vp) and of Epoch's L-BFGS-B
    start grid (``--grid-starts``; all 4,500 with --grid-starts 4500).
(b) Step Law on the released dense sweep (``steplaw_dense.csv``): the released-data fit lr = 77.7 N^-0.766 D^0.197,
    B = 0.209 D^0.613, with ``smooth_loss`` and with ``final_loss``; per cell, the best loss vs the loss at the law's
    predicted optimum (the cell's quadratic there, and the nearest run on the grid).

Run: python benchmarks/hparams.py [--bootstrap 1000] [--grid-starts 500]
Writes benchmarks/results/hparams.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _machine import machine  # noqa: E402

REF = Path(__file__).resolve().parents[1] / ".." / "shared" / "reference" / "hparam"
EPOCH = {"A": 477.8, "B": 2143.4, "E": 1.8172, "alpha": 0.3473, "beta": 0.3672}
EPOCH_SE = {"A": 124.5, "B": 1293.0, "E": 0.0257, "alpha": 0.0154, "beta": 0.0206}
STEPLAW = {"lr_coef": 77.7, "lr_N": -0.766, "lr_D": 0.197, "bs_coef": 0.209, "bs_D": 0.613}


def chinchilla(bootstrap: int, grid_starts: int) -> dict:
    from scipy.optimize import minimize

    from scalefit.laws import chinchilla as ch
    from scalefit.scaling import solve as sv
    from scalefit.scaling.fit import fit_scaling
    from scalefit.tables import read_table

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = read_table(REF / "epoch_chinchilla_fig4.csv")
    fit_scaling(t.params, t.tokens, t.loss, law="chinchilla", law_error=False)  # warm imports
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        fit = fit_scaling(t.params, t.tokens, t.loss, law="chinchilla", law_error=False)
        times.append(time.perf_counter() - t0)
    # Epoch's recipe: L-BFGS-B from the Hoffmann start grid (a subset when grid_starts < 4500)
    obj = sv.Objective(ch.LAW, np.log(t.params), np.log(t.tokens), np.log(t.loss))
    starts = sv.grid_starts(ch.LAW)
    pick = np.linspace(0, len(starts) - 1, min(grid_starts, len(starts))).astype(int)
    t0 = time.perf_counter()
    best = None
    for i in pick:
        r = minimize(obj, starts[i], jac=True, method="L-BFGS-B", bounds=sv.bounds(ch.LAW), options=sv.LBFGS_OPTIONS)
        if best is None or r.fun < best.fun:
            best = r
    grid_s = time.perf_counter() - t0
    grid_vals = dict(zip(ch.NAMES, map(float, sv.to_natural(ch.LAW, best.x))))
    t0 = time.perf_counter()
    bfit = fit_scaling(t.params, t.tokens, t.loss, law="chinchilla", bootstrap=bootstrap, seed=0, law_error=False)
    boot_s = time.perf_counter() - t0
    return {
        "n_points": len(t), "values": fit.values, "epoch": EPOCH,
        "rel_err": {k: fit.values[k] / v - 1 for k, v in EPOCH.items()},
        "objective": fit.objective, "vp_seconds_median": float(np.median(times)),
        "grid_starts": int(pick.size), "grid_seconds": grid_s, "grid_objective": float(best.fun),
        "grid_values": grid_vals, "bootstrap": bootstrap, "bootstrap_seconds": boot_s,
        "stderr": bfit.stderr, "epoch_stderr": EPOCH_SE,
        "optimal_at_5.76e23": bfit.optimal(5.76e23),
    }


def steplaw(bootstrap: int) -> dict:
    from scalefit.scaling.hparams import fit_table
    from scalefit.tables import read_table

    out = {}
    for col in ("smooth_loss", "final_loss"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = read_table(REF / "steplaw_dense.csv", loss_column=col)
        t0 = time.perf_counter()
        fit = fit_table(t, bootstrap=bootstrap, seed=0)
        secs = time.perf_counter() - t0
        got = {"lr_coef": fit.lr.coef, "lr_N": fit.lr.exponents["N"], "lr_D": fit.lr.exponents["D"],
               "bs_coef": fit.batch_size.coef, "bs_D": fit.batch_size.exponents["D"]}
        cells = [{"params": c.params, "tokens": c.tokens, "n_runs": c.n_runs, "n_kept": c.n_kept,
                  "best_loss": c.best_loss, "best_lr": c.best_lr, "best_batch_size": c.best_batch_size,
                  "law_lr": c.law_lr, "law_batch_size": c.law_batch_size, "quad_lr": c.quad_lr,
                  "quad_lr_ci": list(c.quad_lr_ci), "loss_at_law_quadratic": c.loss_at_law,
                  "loss_nearest_run_to_law": c.nearest_loss} for c in fit.cells]
        out[col] = {"fit": got, "ci": {"lr": fit.lr.ci, "batch_size": fit.batch_size.ci},
                    "n_runs_used": fit.n_runs_used, "seconds": secs, "cells": cells,
                    "max_exponent_error": max(abs(got[k] - STEPLAW[k]) for k in ("lr_N", "lr_D", "bs_D"))}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--grid-starts", type=int, default=500)
    args = ap.parse_args()
    if not REF.is_dir():
        sys.exit(f"reference data not found at {REF}")
    a = chinchilla(args.bootstrap, args.grid_starts)
    b = steplaw(args.bootstrap)
    print("(a) Chinchilla law on Epoch's 240 points")
    print(f"{'param':<7}{'ours':>11}{'Epoch':>11}{'rel err':>9}{'stderr':>10}{'Epoch se':>10}")
    for k in EPOCH:
        print(f"{k:<7}{a['values'][k]:>11.5g}{EPOCH[k]:>11.5g}{a['rel_err'][k]:>+9.2%}{a['stderr'][k]:>10.4g}"
              f"{EPOCH_SE[k]:>10.4g}")
    print(f"fit time (vp, median of 5): {a['vp_seconds_median']:.3f} s; Epoch grid L-BFGS-B, {a['grid_starts']} "
          f"starts: {a['grid_seconds']:.1f} s (objective {a['grid_objective']:.10g} vs ours {a['objective']:.10g}); "
          f"bootstrap x{a['bootstrap']}: {a['bootstrap_seconds']:.1f} s")
    print("\n(b) Step Law, released dense data (target lr = 77.7 N^-0.766 D^0.197, B = 0.209 D^0.613)")
    for col, r in b.items():
        f = r["fit"]
        print(f"{col:<12} lr = {f['lr_coef']:.4g} N^{f['lr_N']:.3f} D^{f['lr_D']:.3f}   B = {f['bs_coef']:.4g} "
              f"D^{f['bs_D']:.3f}   kept {r['n_runs_used']}   max |exponent err| {r['max_exponent_error']:.3f}")
    print("\ncells (smooth_loss): best loss vs loss at the law's optimum")
    print(f"{'N':>9}{'D':>10}{'best':>9}{'quad@law':>10}{'gap':>8}{'nearest':>9}{'gap':>8}")
    for c in b["smooth_loss"]["cells"]:
        q, nn = c["loss_at_law_quadratic"], c["loss_nearest_run_to_law"]
        print(f"{c['params']:>9.3g}{c['tokens']:>10.3g}{c['best_loss']:>9.4f}{q:>10.4f}{q / c['best_loss'] - 1:>+8.2%}"
              f"{nn:>9.4f}{nn / c['best_loss'] - 1:>+8.2%}")
    result = {"chinchilla": a, "steplaw": b, "args": vars(args), "machine": machine()}
    out = Path(__file__).parent / "results" / "hparams.json"
    out.parent.mkdir(exist_ok=True)
    from scalefit.jsonio import dumps

    out.write_text(dumps(result) + "\n")
    print(f"\nmachine: {result['machine']['cpu']} ({result['machine']['cores']} cores)\nwrote {out}")


if __name__ == "__main__":
    main()
