"""Benchmark: schedule optimisation under MPL fitted to the MPL paper's 25M and 100M curves, against the schedules
the MPL repository ships as its optimiser's output.

Protocol: fit MPL (``scalefit.fitting.fit``, default settings) on cosine_24000 + constant_24000 of one model size
(``<repo>/../shared/reference/curves/mpl``, exact per-step schedules from ``schedules/``); optimise T = 24,000,
W = 2,160, peak 3e-4, objective final, at floor 0 and at floor 3e-5; evaluate
``schedules/mpl_optimized_{size}_24000.csv`` under the same fitted law (as shipped, and with our warmup ramp in
front so that only the post-warmup part differs); compare our L-BFGS (default) with Adam over per-step decrements
(the MPL repository's method, 10,000 iterations, same start). Times are wall and CPU seconds of
``optimize_schedule`` (family search included), each configuration run ``--reps`` times (Adam ``--adam-reps``):
min and median, after one untimed call that pays the imports (its wall time is reported as ``first_call_wall_s``).
The machine is shared, so the median says what a loaded box gives. The MPL repository's optimiser takes ~26 s
(reference README).

The recommendation rows (``recommend_schedule``, what ``scalefit optimize`` prints and writes with ``--out``): the
same fit, its refits at the 9 loss-drop shapes (``--under shapes``, the default), the per-step optimum of their
mean and the best family member under it, and which one is recommended and why; timed ``--rec-reps`` times (the
refits included). Every loss in the table is the fit's prediction, so the rows compare with the shipped schedule.

The candidate objectives on held-out schedules (``held_out`` in the JSON): MPL fitted on the bundled tiny constant +
cosine runs (val_loss, 3,000 steps), and what each candidate objective of the optimizer would predict for the
three bundled runs it did not see (WSD with a 20% cooldown, a step drop at 80%, linear to 0), as a gain over cosine,
against the realised gain (last val_loss): the fit itself, its cross-validation fold refits (forward 50% and 70%,
the cosine run alone), the LR-annealing law (Tissue) on the same runs, and the mean of the shape ensemble.

Usage: python benchmarks/optimize.py [--quick] [--reps 5] [--adam-reps 3] [--rec-reps 2]
(writes benchmarks/results/optimize.json)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
REF = (HERE.parent / ".." / "shared" / "reference" / "curves" / "mpl").resolve()
T, W, PEAK = 24_000, 2_160, 3e-4
# (name, options, start): start "smooth" = the best WSD / cosine / constant member of the default run's family
# search at the same floor (no family search then: the time is the local search alone)
CASES = (("lbfgsb", {}, None), ("lbfgsb_floor3e-5", {"floor": 3e-5}, None), ("adam", {"method": "adam"}, None),
         ("adam_floor3e-5", {"method": "adam", "floor": 3e-5}, None),
         ("lbfgsb_smooth", {}, "smooth"), ("lbfgsb_smooth_floor3e-5", {"floor": 3e-5}, "smooth"),
         ("adam_smooth", {"method": "adam"}, "smooth"),
         ("adam_smooth_floor3e-5", {"method": "adam", "floor": 3e-5}, "smooth"),
         ("lbfgsb_long", {"max_iter": 3000, "polish": 2000}, None),
         ("lbfgsb_long_floor3e-5", {"max_iter": 3000, "polish": 2000, "floor": 3e-5}, None))


def load(size: str, names: list[str]) -> list:
    from scalefit.readers import read_runs

    runs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sparse-file notes are expected
        for name in names:
            runs.extend(read_runs([str(REF / f"{size}_{name}.csv")],
                                  schedule_file=str(REF / "schedules" / f"{name}.csv")))
    return runs


def held_out() -> dict:
    """Predicted and realised gains over cosine of the bundled tiny runs no candidate objective was fitted on."""
    from scalefit.fitting import fit
    from scalefit.fitting.crossval import head
    from scalefit.laws import get_law
    from scalefit.optimize import shape_ensemble
    from scalefit.readers import read_runs

    curves = HERE.parent / "data" / "runs" / "curves"
    names = ["constant", "cosine", "wsd-decay0.2", "multistep", "linear"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runs = dict(zip(names, read_runs([str(curves / f"tiny_{n}_lr0.003_bs16.csv") for n in names],
                                         target="val_loss")))
        base = [runs["constant"], runs["cosine"]]
        main = fit(base, "mpl")
        fits = {"the fit (point)": main, "fold: forward 50%": fit([head(r, 0.5) for r in base], "mpl",
                                                                   law_error=False),
                "fold: forward 70%": fit([head(r, 0.7) for r in base], "mpl", law_error=False),
                "fold: cosine alone": fit([runs["cosine"]], "mpl", law_error=False),
                "Tissue (same runs)": fit(base, "tissue", law_error=False)}
        ens = shape_ensemble(main, base)

    def final(law, values, run):
        return float(law.predict(values, run.lr, warmup=300, at=np.array([2999]))[0])

    real = {n: float(r.loss[np.flatnonzero(r.observed)[-1]]) for n, r in runs.items()}
    out = {"realised_minus_cosine": {n: real[n] - real["cosine"] for n in names[2:]}, "predicted_minus_cosine": {}}
    for label, res in fits.items():
        law = get_law(res.law, **res.law_options)
        p = {n: final(law, res.values, runs[n]) for n in names}
        out["predicted_minus_cosine"][label] = {n: p[n] - p["cosine"] for n in names[2:]}
    law = get_law("mpl")
    p = {n: float(np.dot(ens.weights, [final(law, m, runs[n]) for m in ens.members])) for n in names}
    out["predicted_minus_cosine"]["shape ensemble (mean)"] = {n: p[n] - p["cosine"] for n in names[2:]}
    out["ensemble"] = ens.summary()
    return out


def timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="100M only, Adam 1,000 iterations, 2 repeats")
    ap.add_argument("--reps", type=int, default=5, help="timed runs of each L-BFGS configuration")
    ap.add_argument("--adam-reps", type=int, default=3, help="timed runs of each Adam configuration")
    ap.add_argument("--rec-reps", type=int, default=2, help="timed runs of each recommendation")
    args = ap.parse_args()
    from _machine import machine

    from scalefit import schedules
    from scalefit.fitting import fit
    from scalefit.optimize import make_objective, optimize_schedule, recommend_schedule

    sizes = ["100M"] if args.quick else ["25M", "100M"]
    adam_iters = 1_000 if args.quick else 10_000
    reps = {"lbfgsb": 2 if args.quick else args.reps, "adam": 2 if args.quick else args.adam_reps}
    rows = []
    first_call = None
    for size in sizes:
        runs = load(size, ["cosine_24000", "constant_24000"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # parameters at bounds are reported in the JSON below
            result = fit(runs, "mpl")  # with its cross-validated law error, as `scalefit fit` makes it
        f = make_objective("mpl", result.values, steps=T, warmup=W, index=np.array([T - 1]))
        shipped = schedules.from_file(REF / "schedules" / f"mpl_optimized_{size}_24000.csv")
        shipped_ours = shipped.copy()
        shipped_ours[:W] = schedules.warmup_ramp(PEAK, W)
        row = {"size": size, "params": result.values, "messages": list(result.messages),
               "shipped": f(shipped, False)[0], "shipped_with_our_warmup": f(shipped_ours, False)[0],
               "shipped_min_lr": float(shipped[W:].min())}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if first_call is None:
                first_call = timed(lambda: optimize_schedule(result, steps=T, peak=PEAK, warmup=W))[1]
            smooth = {}  # floor -> (spec, lr) of the best smooth family member
            for name, kw, start in CASES:
                kind = "adam" if kw.get("method") == "adam" else "lbfgsb"
                extra = {"max_iter": adam_iters} if kind == "adam" else {}
                if start == "smooth":
                    extra["start"] = smooth[kw.get("floor", 0.0)][1]
                walls, cpus = [], []
                for _ in range(reps[kind]):
                    o, wall, cpu = timed(lambda: optimize_schedule(result, steps=T, peak=PEAK, warmup=W, **kw,
                                                                   **extra))
                    walls.append(wall)
                    cpus.append(cpu)
                row[name] = {"objective": o.objective_value, "final_loss": o.final_loss, "lower": o.lower,
                             "upper": o.upper, "wall_s": walls, "cpu_s": cpus, "wall_s_min": min(walls),
                             "wall_s_median": statistics.median(walls), "cpu_s_min": min(cpus),
                             "iterations": o.iterations, "evaluations": o.evaluations, "message": o.message,
                             "start": o.start_spec, "start_value": o.start_value,
                             "family_seconds": None if o.family is None else o.family.seconds,
                             "last_lr": float(o.lr[-1]), "min_post_warmup_lr": float(o.lr[W:].min())}
                if start == "smooth":
                    row[name]["start"] = smooth[kw.get("floor", 0.0)][0]
                if o.family is not None and kind == "lbfgsb":
                    best = min((m for k, m in o.family.best_by_family.items() if k != "step"),
                               key=lambda m: m.objective_value)
                    smooth.setdefault(kw.get("floor", 0.0), (best.spec, best.lr))
            for fl in (0.0, 3e-5):  # what `scalefit optimize` recommends (default --under shapes)
                walls = []
                for _ in range(1 if args.quick else args.rec_reps):
                    rec, wall, _ = timed(lambda: recommend_schedule(result, runs=runs, steps=T, peak=PEAK, warmup=W,
                                                                    floor=fl))
                    walls.append(wall)
                fam_pred = f(rec.family.lr, False)[0]
                row[f"recommend_floor{fl:g}"] = {
                    **rec.summary(), "wall_s": walls, "wall_s_min": min(walls),
                    "optimum_under_fit": f(rec.optimum.lr, False)[0], "family_under_fit": fam_pred,
                    "optimum_objective": rec.optimum.objective_value, "family_objective": rec.family.objective_value,
                    "optimum_message": rec.optimum.message, "ensemble": rec.ensemble.summary(),
                    "min_post_warmup_lr": float(rec.lr[W:].min())}
        rows.append(row)
    print(f"{'size':>5} {'method':>17} {'pred. final loss':>16} {'vs shipped':>11} {'wall min':>8} {'median':>7} "
          f"{'cpu min':>7} {'iters':>6}  start")
    for r in rows:
        print(f"{r['size']:>5} {'shipped (file)':>17} {r['shipped']:>16.5f}")
        print(f"{r['size']:>5} {'shipped+our warm':>17} {r['shipped_with_our_warmup']:>16.5f}")
        for name, _, _ in CASES:
            x = r[name]
            print(f"{r['size']:>5} {name:>17} {x['objective']:>16.5f} {x['objective'] - r['shipped']:>+11.5f} "
                  f"{x['wall_s_min']:>8.2f} {x['wall_s_median']:>7.2f} {x['cpu_s_min']:>7.2f} {x['iterations']:>6d}  "
                  f"{x['start']} ({x['start_value']:.5f})")
        for fl in ("0", "3e-05"):
            x = r[f"recommend_floor{fl}"]
            print(f"{r['size']:>5} {'recommend fl ' + fl:>17} {x['final_loss']:>16.5f} "
                  f"{x['final_loss'] - r['shipped']:>+11.5f} {x['wall_s_min']:>8.2f}  {x['name']}: {x['reason']}")
            print(f"{'':>23} per-step optimum under the shapes: {x['optimum_under_fit']:.5f} under the fit "
                  f"({x['optimum_under_fit'] - r['shipped']:+.5f} vs shipped)")
    held = held_out()
    print("\nheld-out gains over cosine at 3,000 steps (bundled tiny runs, val_loss): predicted by each candidate, "
          "realised")
    print(f"  {'':<24}" + "".join(f"{n:>14}" for n in held["realised_minus_cosine"]))
    for label, p in held["predicted_minus_cosine"].items():
        print(f"  {label:<24}" + "".join(f"{v:>+14.4f}" for v in p.values()))
    print(f"  {'realised':<24}" + "".join(f"{v:>+14.4f}" for v in held["realised_minus_cosine"].values()))
    out = {"schema": "scalefit.benchmark/1", "benchmark": "optimize", "machine": machine(), "held_out": held,
           "protocol": "MPL fit on cosine_24000 + constant_24000; T=24000, W=2160, peak 3e-4, objective final; "
                       "floor 0 and 3e-5",
           "command": "python benchmarks/optimize.py" + (" --quick" if args.quick else
                                                         f" --reps {args.reps} --adam-reps {args.adam_reps} "
                                                         f"--rec-reps {args.rec_reps}"),
           "reference_seconds_mpl_repo": 26.0, "adam_iterations": adam_iters, "repeats": reps,
           "first_call_wall_s": first_call, "rows": rows}
    (HERE / "results").mkdir(exist_ok=True)
    path = HERE / "results" / "optimize.json"
    path.write_text(json.dumps(out, indent=2, default=float) + "\n")
    print(f"first call (imports included): {first_call:.2f} s wall")
    print(f"machine: {out['machine']['cpu']} ({out['machine']['cores']} cores); wrote {path}")


if __name__ == "__main__":
    main()
