"""Benchmark: do the prediction intervals cover the truth when the residuals are autocorrelated?

Loss curves are not independent draws around a law: validation loss on fixed batches and slow training drifts make
the residuals autocorrelated, and intervals that assume independence are then too narrow. ``fit(errors="ar1")``
(the default) measures the residuals' lag-1 autocorrelation, corrected for what the fit absorbs, and widens the
covariance by ``(1 + rho) / (1 - rho)``; ``errors="iid"`` does not.

Simulation: runs of a known law (Tissue at ``tests/test_fitting.py``'s truth; MPL at the same truth with its shape
at the default prior's centre, so the prior is not a bias here) on a constant and a cosine schedule, 2,000 steps,
a row every 10 steps, with stationary AR(1) log-noise (sd 2e-3, lag-1 correlation phi). Fit both, predict the
final loss of a held-out WSD schedule with a 90% interval, count how often it covers the truth. 40 seeded
repetitions per cell.

Real data: how often the 90% interval of each held-out MPL reference curve's final loss covers it; and the
measured rho of the default fit (and its L0 stderr over the ``errors="iid"`` one) on the bundled
runs (val_loss on fixed batches every 50 steps, and the per-step training loss) and on the MPL reference curves
(when ``../shared/reference`` is present).

Usage: python benchmarks/interval_coverage.py [--reps 40]   (writes benchmarks/results/interval_coverage.json)
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _machine import machine  # noqa: E402

from scalefit import schedules  # noqa: E402
from scalefit.fitting import fit  # noqa: E402
from scalefit.laws import get_law  # noqa: E402
from scalefit.runs import Run  # noqa: E402

T, WARMUP, PEAK, EVERY, SD = 2000, 100, 1e-3, 10, 2e-3
TRUTH = {
    "tissue": {"L0": 2.5, "A": 0.6, "alpha": 0.5, "C": 0.4},
    "mpl": {"L0": 2.6, "A": 0.5, "alpha": 0.45, "B": 400.0, "C": 1.0, "beta": 0.5, "gamma": 0.5},
}
PHIS = (0.0, 0.5, 0.9)


def ar1_noise(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    """Stationary AR(1) series of sd SD (lfilter: no Python loop over rows)."""
    from scipy.signal import lfilter

    z = rng.standard_normal(n) * SD * np.sqrt(1 - phi * phi)
    z[0] = rng.standard_normal() * SD
    return lfilter([1.0], [1.0, -phi], z)


def simulate(law: str, phi: float, seed: int) -> list[Run]:
    rng = np.random.default_rng(seed)
    runs = []
    for name, lr in (("constant", schedules.constant(PEAK, T, warmup=WARMUP)),
                     ("cosine", schedules.cosine(PEAK, T, warmup=WARMUP, final=PEAK / 10))):
        steps = np.arange(WARMUP, T, EVERY, dtype=np.int64)
        clean = get_law(law).predict(TRUTH[law], lr, warmup=WARMUP, at=steps)
        runs.append(Run(path=f"{name}.csv", steps=steps, loss=clean * np.exp(ar1_noise(rng, steps.size, phi)), lr=lr,
                        step0=0, warmup=WARMUP, line=np.arange(steps.size) + 2, meta={}))
    return runs


def coverage(law: str, phi: float, reps: int) -> list[dict]:
    held = schedules.wsd(PEAK, T, warmup=WARMUP, decay=0.2, final=0.0)
    truth = float(get_law(law).predict(TRUTH[law], held, warmup=WARMUP, at=[T - 1])[0])
    out = {e: {"hits": 0, "widths": [], "rhos": []} for e in ("iid", "ar1")}
    for r in range(reps):
        runs = simulate(law, phi, 10_000 * (law == "mpl") + 100 * int(phi * 10) + r)
        for errors, acc in out.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = fit(runs, law, seed=0, n_starts=16, errors=errors, law_error=False)
                pred = res.predict(held, warmup=WARMUP, at=np.array([T - 1]), interval=0.9)
            acc["hits"] += bool(pred.lower[0] <= truth <= pred.upper[0])
            acc["widths"].append(float(pred.upper[0] - pred.lower[0]))
            if res.residual_rho is not None:
                acc["rhos"].append(res.residual_rho)
    return [{"law": law, "phi": phi, "errors": e, "reps": reps, "coverage": a["hits"] / reps,
             "median_width": float(np.median(a["widths"])),
             "median_rho": float(np.median(a["rhos"])) if a["rhos"] else None} for e, a in out.items()]


def real_row(label: str, target: str, runs: list[Run]) -> dict:
    """The default MPL fit's measured rho, and its L0 stderr over the independent-residual one."""
    ar1, iid = fit(runs, "mpl", law_error=False), fit(runs, "mpl", errors="iid", law_error=False)
    return {"data": label, "target": target, "rho": ar1.residual_rho,
            "stderr_factor": ar1.params["L0"].stderr / iid.params["L0"].stderr}


def real_rhos() -> list[dict]:
    from scalefit.readers import read_runs

    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for size in ("xs", "tiny", "s1"):
            files = sorted(glob.glob(str(HERE.parent / "data" / "runs" / "curves" / f"{size}_co*.csv")))
            for target in ("val_loss", "loss"):
                runs = read_runs(files, target=target)
                rows.append(real_row(f"bundled {size} constant+cosine", target, runs))
        try:
            from curve_fit import PROTOCOLS, REF, load
        except ImportError:
            return rows
        if REF.is_dir():
            for size in ("25M", "100M"):
                rows.append(real_row(f"MPL reference {size}, protocol a training runs", "loss",
                                     load(size, PROTOCOLS["a"])))
    return rows


def reference_coverage() -> list[dict]:
    """Real data: how often the 90% interval of a held-out MPL reference curve's final loss covers it (fits on
    each protocol's training curves; 7 + 6 held-out curves per size), with either residual model."""
    try:
        from curve_fit import PROTOCOLS, REF, SCHEDULES, load
    except ImportError:
        return []
    if not REF.is_dir():
        return []
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for size in ("25M", "100M"):
            for proto, train_names in PROTOCOLS.items():
                train = load(size, train_names)
                test = load(size, [n for n in SCHEDULES if n not in train_names])
                for errors in ("iid", "ar1"):
                    res = fit(train, "mpl", errors=errors, law_error=False)
                    hits, half, err = 0, [], []
                    for run in test:
                        last = run.index[run.observed][-1:]
                        pred = res.predict(run, at=last, interval=0.9)
                        truth = float(run.loss[run.observed][-1])
                        hits += bool(pred.lower[-1] <= truth <= pred.upper[-1])
                        half.append(float(pred.upper[-1] - pred.loss[-1]))
                        err.append(abs(truth - float(pred.loss[-1])))
                    rows.append({"size": size, "protocol": proto, "errors": errors, "curves": len(test),
                                 "covered": hits, "median_half_width": float(np.median(half)),
                                 "median_abs_error": float(np.median(err))})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=40)
    args = ap.parse_args()
    t0 = time.perf_counter()
    rows = [row for law in ("tissue", "mpl") for phi in PHIS for row in coverage(law, phi, args.reps)]
    print(f"{'law':<7} {'phi':>4} {'errors':<6} {'coverage of 90%':>16} {'median width':>13} {'median rho':>11}")
    for r in rows:
        rho = "-" if r["median_rho"] is None else f"{r['median_rho']:.2f}"
        print(f"{r['law']:<7} {r['phi']:>4.1f} {r['errors']:<6} {r['coverage']:>16.0%} {r['median_width']:>13.4f} "
              f"{rho:>11}")
    real = real_rhos()
    print(f"\n{'data':<48} {'target':<9} {'rho':>5} {'stderr x':>9}")
    for r in real:
        print(f"{r['data']:<48} {r['target']:<9} {r['rho']:>5.2f} {r['stderr_factor']:>9.2f}")
    ref = reference_coverage()
    if ref:
        print(f"\n{'MPL reference':<14} {'errors':<6} {'final losses covered':>21} {'median half-width':>18} "
              f"{'median |error|':>15}")
    for r in ref:
        label, covered = f"{r['size']} ({r['protocol']})", f"{r['covered']} of {r['curves']}"
        print(f"{label:<14} {r['errors']:<6} {covered:>21} {r['median_half_width']:>18.4f} "
              f"{r['median_abs_error']:>15.4f}")
    out = {"benchmark": "interval_coverage", "machine": machine(), "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
           "setup": {"steps": T, "warmup": WARMUP, "peak": PEAK, "every": EVERY, "noise_sd": SD, "truth": TRUTH,
                     "held_out": "wsd decay 0.2 to 0", "interval": 0.9},
           "simulation": rows, "real_data": real, "reference_coverage": ref, "seconds": time.perf_counter() - t0}
    path = HERE / "results" / "interval_coverage.json"
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, indent=1) + "\n")
    tmp.replace(path)
    print(f"wrote {path} ({out['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
