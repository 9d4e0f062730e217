"""Benchmark: schedule optimisation under MPL fitted to the MPL paper's 25M and 100M curves, against the schedules
the MPL repository ships as its optimiser's output.

Protocol: fit MPL (``scalefit.fitting.fit``, default settings) on cosine_24000 + constant_24000 of one model size
(``<repo>/../shared/reference/curves/mpl``, exact per-step schedules from ``schedules/``); optimise T = 24,000,
W = 2,160, peak 3e-4, floor 0, objective final; evaluate ``schedules/mpl_optimized_{size}_24000.csv`` under the
same fitted law (as shipped, and with our warmup ramp in front so that only the post-warmup part differs); compare
with Adam over per-step decrements (the MPL repository's method, 10,000 iterations, same start) and with the
best WSD / cosine family member. Times are wall and CPU seconds of ``optimize_schedule`` (family search
included). The MPL repository's optimiser takes ~26 s (reference README).

Usage: python benchmarks/optimize.py [--quick]   (writes benchmarks/results/optimize.json)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
REF = (HERE.parent / ".." / "shared" / "reference" / "curves" / "mpl").resolve()
T, W, PEAK = 24_000, 2_160, 3e-4


def load(size: str, names: list[str]) -> list:
    from scalefit.readers import read_runs

    runs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sparse-file notes are expected
        for name in names:
            runs.extend(read_runs([str(REF / f"{size}_{name}.csv")], schedule_file=str(REF / "schedules" / f"{name}.csv")))
    return runs


def timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="100M only, Adam 1,000 iterations")
    args = ap.parse_args()
    from _machine import machine

    from scalefit import schedules
    from scalefit.fitting import fit
    from scalefit.optimize import make_objective, optimize_schedule

    sizes = ["100M"] if args.quick else ["25M", "100M"]
    adam_iters = 1_000 if args.quick else 10_000
    rows = []
    for size in sizes:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # parameters at bounds are reported in the JSON below
            result = fit(load(size, ["cosine_24000", "constant_24000"]), "mpl")
        f = make_objective("mpl", result.values, steps=T, warmup=W, index=np.array([T - 1]))
        shipped = schedules.from_file(REF / "schedules" / f"mpl_optimized_{size}_24000.csv")
        shipped_ours = shipped.copy()
        shipped_ours[:W] = schedules.warmup_ramp(PEAK, W)
        row = {"size": size, "params": result.values, "messages": list(result.messages),
               "shipped": f(shipped, False)[0], "shipped_with_our_warmup": f(shipped_ours, False)[0]}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name, kw in (("lbfgsb", {}), ("lbfgsb_floor3e-5", {"floor": 3e-5}),
                             ("adam", {"method": "adam", "max_iter": adam_iters})):
                o, wall, cpu = timed(lambda: optimize_schedule(result, steps=T, peak=PEAK, warmup=W, **kw))
                row[name] = {"objective": o.objective_value, "final_loss": o.final_loss, "lower": o.lower,
                             "upper": o.upper, "wall_s": wall, "cpu_s": cpu, "iterations": o.iterations,
                             "evaluations": o.evaluations, "message": o.message, "start": o.start_spec,
                             "start_value": o.start_value, "last_lr": float(o.lr[-1]),
                             "min_post_warmup_lr": float(o.lr[W:].min())}
        rows.append(row)
    print(f"{'size':>5} {'method':>17} {'pred. final loss':>16} {'vs shipped':>11} {'wall s':>7} {'cpu s':>6} "
          f"{'iters':>6}  start")
    for r in rows:
        print(f"{r['size']:>5} {'shipped (file)':>17} {r['shipped']:>16.5f}")
        print(f"{r['size']:>5} {'shipped+our warm':>17} {r['shipped_with_our_warmup']:>16.5f}")
        for name in ("lbfgsb", "adam", "lbfgsb_floor3e-5"):
            x = r[name]
            print(f"{r['size']:>5} {name:>17} {x['objective']:>16.5f} {x['objective'] - r['shipped']:>+11.5f} "
                  f"{x['wall_s']:>7.2f} {x['cpu_s']:>6.2f} {x['iterations']:>6d}  {x['start']} "
                  f"({x['start_value']:.5f})")
    out = {"schema": "scalefit.benchmark/1", "benchmark": "optimize", "machine": machine(),
           "protocol": "MPL fit on cosine_24000 + constant_24000; T=24000, W=2160, peak 3e-4, objective final",
           "reference_seconds_mpl_repo": 26.0, "adam_iterations": adam_iters, "rows": rows}
    (HERE / "results").mkdir(exist_ok=True)
    path = HERE / "results" / "optimize.json"
    path.write_text(json.dumps(out, indent=2, default=float) + "\n")
    print(f"machine: {out['machine']['cpu']} ({out['machine']['cores']} cores); wrote {path}")


if __name__ == "__main__":
    main()
