"""Benchmark: fit loss-curve laws on the MPL paper's published curves, predict held-out schedules, and time a
simulated 1,000,000-step dense run.

Data: ``<repo>/../shared/reference/curves/mpl`` (Luo et al. 2025; sparse files, a row every 128 steps after
warmup, with exact per-step schedules in ``schedules/``). Read through ``scalefit.read_runs`` with one
``schedule_file`` per run, as ``scalefit evaluate --schedule-dir`` does.

Protocols (the paper's and the reference README's):
  (a) train cosine_24000 + constant_24000, test the other 7 curves;
  (b) train cosine_24000 + constant_24000 + wsdcon_9, test the other 6.
Metrics are the paper's (R2, MAE, RMSE, PredE, WorstE per test curve, then averaged over curves).

Usage: python benchmarks/curve_fit.py [--quick] [--variants]   (writes benchmarks/results/curve_fit.json)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REF = (HERE.parent / ".." / "shared" / "reference" / "curves" / "mpl").resolve()
SCHEDULES = ["cosine_24000", "constant_24000", "cosine_72000", "constant_72000", "wsd_20000_24000",
             "wsdld_20000_24000", "wsdcon_3", "wsdcon_9", "wsdcon_18"]
PROTOCOLS = {
    "a": ["cosine_24000", "constant_24000"],
    "b": ["cosine_24000", "constant_24000", "wsdcon_9"],
}
#: The official MPL code on a 2-core CPU (reference README, protocol a) and the paper's table (protocol b).
TARGETS = {
    ("a", "100M"): {"r2": 0.99700, "mae": 0.00730, "rmse": 0.00827, "pred_e": 0.00229, "worst_e": 0.00620,
                    "seconds": 42.0},
    ("a", "25M"): {"r2": 0.99890, "mae": 0.00367, "rmse": 0.00469, "pred_e": 0.00106, "worst_e": 0.00387,
                   "seconds": 62.0},
    ("b", "100M"): {"r2": 0.9983, "pred_e": 0.00142, "worst_e": 0.00583},
    ("b", "25M"): {"r2": 0.9988, "pred_e": 0.00110, "worst_e": 0.00409},
}


def machine() -> dict[str, object]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"node": platform.node(), "cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "platform": platform.platform()}


def load(size: str, names: list[str]) -> list:
    from scalefit.readers import read_runs

    runs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the reader's notes (sparse LR from the schedule file) are expected
        for name in names:
            runs.extend(read_runs([str(REF / f"{size}_{name}.csv")],
                                  schedule_file=str(REF / "schedules" / f"{name}.csv")))
    return runs


def run_protocols(laws: list[tuple[str, dict]], sizes: list[str], protocols: list[str]) -> list[dict]:
    from scalefit.fitting import evaluate

    rows = []
    for size in sizes:
        for proto in protocols:
            train_names = PROTOCOLS[proto]
            test_names = [s for s in SCHEDULES if s not in train_names]
            train, test = load(size, train_names), load(size, test_names)
            for law, kw in laws:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    t0 = time.perf_counter()
                    ev = evaluate(train, test, law, **kw)
                    wall = time.perf_counter() - t0
                label = law + ("" if not kw else "(" + ",".join(f"{k}={v}" for k, v in kw.items()) + ")")
                rows.append({
                    "size": size, "protocol": proto, "law": label, **{k: v for k, v in ev.mean.items()},
                    "fit_seconds": ev.fit.fit_seconds, "evaluate_seconds": wall, "status": ev.fit.status.value,
                    "params": ev.fit.values,
                    "at_bound": [n for n, p in ev.fit.params.items() if p.at_bound],
                    "per_run": {Path(k).stem: {"r2": m.r2, "pred_e": m.pred_e, "worst_e": m.worst_e}
                                for k, m in ev.test.items()},
                    "warnings": sorted({str(w.message) for w in caught}),
                    "target": TARGETS.get((proto, size)),
                })
                print_row(rows[-1])
    return rows


def print_row(r: dict) -> None:
    t = r["target"] or {}
    tgt = f"  target R2 {t.get('r2', float('nan')):.5f} PredE {t.get('pred_e', float('nan')):.5f} " \
          f"WorstE {t.get('worst_e', float('nan')):.5f}" if t else ""
    print(f"{r['size']:>5} ({r['protocol']}) {r['law']:<28} R2 {r['r2']:.5f}  MAE {r['mae']:.5f}  RMSE {r['rmse']:.5f}"
          f"  PredE {r['pred_e']:.5f}  WorstE {r['worst_e']:.5f}  fit {r['fit_seconds']:6.2f} s  "
          f"{r['status']}{' ' + ','.join(r['at_bound']) if r['at_bound'] else ''}{tgt}", flush=True)


def dense_million(law: str, total: int = 1_000_000, seed: int = 0) -> dict:
    """Simulate a dense run (every step logged, seeded log-normal noise 2e-3) and fit it; time and peak memory."""
    from scalefit import schedules
    from scalefit.fitting import fit
    from scalefit.laws import get_law
    from scalefit.runs import Run

    truth = {"tissue": {"L0": 2.5, "A": 0.6, "alpha": 0.5, "C": 0.4},
             "mpl": {"L0": 2.6, "A": 0.5, "alpha": 0.45, "B": 400.0, "C": 2.0, "beta": 0.5, "gamma": 0.6}}[law]
    warmup = 2000
    lr = schedules.cosine(3e-4, total, warmup=warmup, final=3e-5)  # (T,)
    steps = np.arange(1, total, dtype=np.int64)  # every step logged (step 0 has no LR area yet)
    # the clean curve at 20,000 points, interpolated in log: the exact MPL design at 1e6 points is the slow part
    # of *simulating*, not of fitting
    grid = np.unique(np.linspace(1, total - 1, 20_000).astype(np.int64))
    clean_grid = get_law(law).predict(truth, lr, warmup=warmup, at=grid)
    clean = np.exp(np.interp(steps, grid, np.log(clean_grid)))
    loss = clean * np.exp(2e-3 * np.random.default_rng(seed).standard_normal(steps.size))
    run = Run(path=f"dense_{law}_1M.csv", steps=steps, loss=loss, lr=lr[: steps[-1] + 1], step0=0, warmup=warmup,
              line=np.arange(steps.size) + 2, meta={})
    tracemalloc.start()
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = fit([run], law, seed=seed)
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rel = {k: abs(res.params[k].value - v) / abs(v) for k, v in truth.items()}
    # one schedule does not identify MPL's C, beta, gamma (they trade off); the curve is what must be right
    # after the warmup: the laws (and so the fit, see Run.after_warmup) describe the loss after it
    keep = (grid >= warmup) & (grid <= steps[-1])
    fitted = res.predict(lr[: steps[-1] + 1], warmup=warmup, at=grid[keep]).loss
    curve_err = float(np.max(np.abs(fitted - clean_grid[keep]) / clean_grid[keep]))
    out = {"law": law, "steps": total, "rows": int(steps.size), "fit_seconds": seconds,
           "peak_traced_mib": peak / 2**20, "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "status": res.status.value, "max_rel_curve_error": curve_err, "rel_param_error": rel,
           "params": res.values, "messages": list(res.messages), "warnings": sorted({str(w.message) for w in caught})}
    print(f"dense 1M {law:<7} fit {seconds:6.2f} s  peak traced {out['peak_traced_mib']:.0f} MiB  "
          f"max RSS {out['max_rss_mib']:.0f} MiB  {res.status.value}  max rel. error of the fitted curve vs the "
          f"noise-free one after warmup {curve_err:.1e}", flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="100M, protocol a only; no dense run")
    ap.add_argument("--variants", action="store_true", help="also compare MPL objective/bound variants")
    ap.add_argument("--no-dense", action="store_true", help="skip the 1M-step dense timing")
    args = ap.parse_args()
    if not REF.is_dir():
        print(f"reference data not found at {REF}; nothing to benchmark", file=sys.stderr)
        return 1
    laws: list[tuple[str, dict]] = [("mpl", {}), ("tissue", {})]
    if args.variants:
        laws += [("mpl", {"loss": "mse"}), ("tissue", {"fit_lam": True})]
    sizes = ["100M"] if args.quick else ["25M", "100M"]
    protocols = ["a"] if args.quick else ["a", "b"]
    print(f"machine: {machine()}")
    rows = run_protocols(laws, sizes, protocols)
    dense = [] if (args.quick or args.no_dense) else [dense_million("tissue"), dense_million("mpl")]
    out = {"benchmark": "curve_fit", "machine": machine(), "time": time.strftime("%Y-%m-%d %H:%M:%S"),
           "reference": str(REF), "protocols": PROTOCOLS, "results": rows, "dense": dense}
    (HERE / "results").mkdir(exist_ok=True)
    path = HERE / "results" / ("curve_fit_quick.json" if args.quick else "curve_fit.json")
    path.write_text(json.dumps(out, indent=2, default=float) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
