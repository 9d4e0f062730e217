"""Benchmark: fit loss-curve laws on the MPL paper's published curves, predict held-out schedules, and time a
simulated 1,000,000-step dense run.

Data: ``<repo>/../shared/reference/curves/mpl`` (Luo et al. 2025; sparse files, a row every 128 steps after
warmup, with exact per-step schedules in ``schedules/``). Read through ``scalefit.read_runs`` with one
``schedule_file`` per run, as ``scalefit evaluate --schedule-dir`` does.

Protocols (the paper's and the reference README's):
  (a) train cosine_24000 + constant_24000, test the other 7 curves;
  (b) train cosine_24000 + constant_24000 + wsdcon_9, test the other 6.
Metrics are the paper's (R2, MAE, RMSE, PredE, WorstE per test curve, then averaged over curves).

Schaipp section (``--schaipp``, on by default; ``--schaipp-only`` keeps the other keys of the JSON): the noisy
training curves of Schaipp et al. 2025 (``<repo>/../shared/reference/curves/schaipp/main/train``, a row every 50
steps). Per config group (dataset, model, batch, base LR) both laws are fitted on the train loss of the constant-LR
run + the shortest cosine (else + the longest cooldown; else the two shortest cosines) and predict every other run
of the group (WSD with other decay fractions/shapes/lengths, other cosines); reported per held-out run: R2/PredE on
its train curve, predicted vs smoothed final train loss, and predicted vs measured final validation loss
(``index.csv`` ``final_val_loss``) with the val-minus-train offset measured on the group's training runs only. Files
the strict reader rejects (repeated / out-of-order steps) and 10-step files are excluded and listed; cooldown-only
segments (``ann...``) are held-out runs whose LR before the checkpoint is the constant-LR parent's
(:data:`SCHAIPP_METHOD` has the details).

``--schaipp-resumed`` repeats that section reading the files with ``--resumed`` (each step from the latest segment
that logged it), which turns most of the files the strict reader rejects into usable runs.

Usage: python benchmarks/curve_fit.py [--quick] [--variants] [--no-schaipp | --schaipp-only | --dense-only]
       [--dense-repeats N]
(writes benchmarks/results/curve_fit.json)
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
                    ev = evaluate(train, test, law, law_error=False, **kw)
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


def dense_million(law: str, total: int = 1_000_000, seed: int = 0, repeats: int = 1) -> dict:
    """Simulate a dense run (every step logged, seeded log-normal noise 2e-3) and fit it ``repeats`` times: wall and
    CPU time (min and median: the machine is shared), then once more under tracemalloc for the peak memory (that
    fit's time is reported too, as ``fit_seconds_traced``); accuracy of the fitted curve and parameters. The timed
    fits skip the law error (``law_error=False``); one more fit with it (the default) gives
    ``fit_with_law_error_seconds``."""
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

    def one_fit(traced: bool) -> tuple:
        if traced:
            tracemalloc.start()
        t0, c0 = time.perf_counter(), time.process_time()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = fit([run], law, seed=seed, law_error=False)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        peak = tracemalloc.get_traced_memory()[1] / 2**20 if traced else None
        if traced:
            tracemalloc.stop()
        return res, caught, wall, cpu, peak

    # timed fits without tracemalloc (it slows allocation-heavy code by ~15 %), then one traced fit for the peak
    fits = [one_fit(False) for _ in range(max(1, int(repeats)))]
    res, caught, wall_traced, _, peak = one_fit(True)
    # what `scalefit fit` does by default on top: the law error's cross-validation (2 forward-chaining refits here)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with_le = fit([run], law, seed=seed)
    wall_le = time.perf_counter() - t0
    walls, cpus = [f[2] for f in fits], [f[3] for f in fits]
    same = all(f[0].objective_value == res.objective_value for f in fits)  # deterministic
    rel = {k: abs(res.params[k].value - v) / abs(v) for k, v in truth.items()}
    # one schedule does not identify MPL's C, beta, gamma (they trade off); the curve is what must be right
    # after the warmup: the laws (and so the fit, see Run.after_warmup) describe the loss after it
    keep = (grid >= warmup) & (grid <= steps[-1])
    fitted = res.predict(lr[: steps[-1] + 1], warmup=warmup, at=grid[keep]).loss
    curve_err = float(np.max(np.abs(fitted - clean_grid[keep]) / clean_grid[keep]))
    out = {"law": law, "steps": total, "rows": int(steps.size), "repeats": len(walls),
           "fit_seconds": min(walls), "fit_seconds_median": float(np.median(walls)), "fit_seconds_all": walls,
           "fit_cpu_seconds": min(cpus), "fit_cpu_seconds_median": float(np.median(cpus)),
           "fit_seconds_traced": wall_traced, "deterministic": same,
           "fit_with_law_error_seconds": wall_le,
           "law_error_scale": None if with_le.law_error is None else with_le.law_error.scale,
           "n_evals": res.n_evals, "objective_value": res.objective_value,
           "peak_traced_mib": peak, "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "status": res.status.value, "max_rel_curve_error": curve_err, "rel_param_error": rel,
           "params": res.values, "messages": list(res.messages), "warnings": sorted({str(w.message) for w in caught}),
           "machine": machine(), "time": time.strftime("%Y-%m-%d %H:%M:%S")}
    print(f"dense 1M {law:<7} fit {min(walls):6.2f} s (median {np.median(walls):.2f} of {len(walls)}; CPU "
          f"{min(cpus):.2f} s; {wall_traced:.2f} s traced)  {res.n_evals} evaluations  peak traced {peak:.0f} MiB  "
          f"max RSS {out['max_rss_mib']:.0f} MiB  {res.status.value}  max rel. error of the fitted curve vs the "
          f"noise-free one after warmup {curve_err:.2e}; with the law error's cross-validation {wall_le:.2f} s",
          flush=True)
    return out


# ---------------------------------------------------------------------------------------------------------------
# Schaipp et al. 2025: noisy training curves (a row every 50 steps), held-out schedules of the same config
# ---------------------------------------------------------------------------------------------------------------
SCHAIPP = (HERE.parent / ".." / "shared" / "reference" / "curves" / "schaipp").resolve()
SCHAIPP_WARMUP = 300  # every Schaipp run (reference README; index.csv warmup_steps)
SMOOTH_ROWS = 10  # the measured final train loss: a line through the last 10 rows (500 steps), read at the end


def schaipp_index() -> list[dict[str, str]]:
    import csv

    with open(SCHAIPP / "index.csv", newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["subset"] == "main"]


def schaipp_label(row: dict[str, str]) -> str:
    prefix = row["name"].split("_")[0]
    prefix = "" if prefix in ("openwebtext2", "slimpajama", "nlayers10", "nlayers12") else prefix + " "
    shape = row["scheduler"] + (f"/{row['decay_type']}" if row["decay_type"] else "")
    if row["scheduler"] == "wsd":
        shape += f" decay {row['wsd_fract_decay']}" if float(row["wsd_fract_decay"] or 0) > 0 else " (constant)"
    return f"{prefix}{shape} T={row['iterations']}"


def schaipp_load(resumed: bool = False) -> tuple[dict[tuple, list[dict]], list[dict]]:
    """Read every 50-step main/train file; group the readable ones by config (data, model, batch, base LR).

    ``resumed`` reads the files as ``scalefit fit --resumed`` does (each step from the latest segment that logged
    it, in step order) instead of excluding those the strict reader rejects.

    Returns (groups, excluded): each group member is ``{"row": index row, "run": Run, "kind": "full"|"segment",
    "checkpoint": step or None}``; ``excluded`` lists every file left out and why (never silent).
    """
    import dataclasses

    from scalefit.errors import RunFileError
    from scalefit.readers import read_runs

    groups: dict[tuple, list[dict]] = {}
    excluded: list[dict] = []
    for row in schaipp_index():
        name = row["name"]
        path = SCHAIPP / "main" / "train" / f"{name}.csv"
        if row["log_interval"] != "50":
            excluded.append({"name": name, "reason": f"train loss logged every {row['log_interval']} steps; the "
                             "benchmark uses the 50-step files (the issue's data)"})
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the reader's notes (LR interpolated between rows) are expected
                run = read_runs([str(path)], warmup=SCHAIPP_WARMUP, resumed=resumed)[0]
        except RunFileError as exc:  # repeated / out-of-order steps (resumed runs appended): listed, not repaired
            excluded.append({"name": name, "reason": "rejected by the strict reader: " + str(exc).split(": ", 1)[-1]})
            continue
        peak = float(row["lr"])
        first = int(run.steps[0])
        kind, ckpt = "full", None
        if first > SCHAIPP_WARMUP:
            # a cooldown-only segment (name 'ann...'), resumed from a checkpoint of the constant-LR run of the same
            # config: before the checkpoint its LR was that run's (linear warmup, then the peak); the reader could
            # only guess it from the first logged LR, so rebuild it. Only the segment's own rows are observed.
            kind, ckpt = "segment", first - int(row["log_interval"])
            lr = run.lr.copy()
            s = np.arange(ckpt + 1)
            lr[: ckpt + 1] = np.where(s < SCHAIPP_WARMUP, peak * (s + 1) / SCHAIPP_WARMUP, peak)
            lr[ckpt: first + 1] = np.linspace(peak, run.lr[first - run.step0], first - ckpt + 1)
            run = dataclasses.replace(run, lr=lr, notes=run.notes + (
                f"LR of steps 0..{ckpt} set to the constant-LR parent run's (warmup {SCHAIPP_WARMUP}, then {peak:g})",))
        key = (row["dataset"], row["n_layer"], row["n_embd"], row["n_head"], row["batch_size"], row["acc_steps"],
               row["lr"])
        groups.setdefault(key, []).append({"row": row, "run": run, "kind": kind, "checkpoint": ckpt})
    return groups, excluded


def _is_constant(m: dict) -> bool:
    r = m["run"]
    # the logged LR on the rows after the warmup, but the last (this code base logs the last step's LR as 0)
    post = r.lr[r.index[r.index >= SCHAIPP_WARMUP][:-1]]
    return m["kind"] == "full" and post.size > 0 and bool(np.all(post == post[0]))


def schaipp_split(members: list[dict]) -> tuple[list[dict], list[dict], str]:
    """Training runs (the constant-LR run + the shortest cosine; else + the longest cooldown; else two cosines)
    and the held-out rest of the group, with the rule used."""
    def iters(m: dict) -> int:
        return int(m["row"]["iterations"])

    const = sorted([m for m in members if _is_constant(m)], key=lambda m: (-iters(m), m["row"]["name"]))
    cos = sorted([m for m in members if m["kind"] == "full" and m["row"]["scheduler"] == "cos"],
                 key=lambda m: (iters(m), m["row"]["name"]))
    cool = sorted([m for m in members if m["row"]["scheduler"] == "wsd" and not _is_constant(m)],
                  key=lambda m: (-iters(m), -float(m["row"]["wsd_fract_decay"] or 0), m["row"]["name"]))
    if const and cos:
        train, rule = [const[0], cos[0]], "constant + shortest cosine"
    elif const and cool:
        train, rule = [const[0], cool[0]], "constant + longest cooldown"
    elif len(cos) >= 2:
        train, rule = cos[:2], "two shortest cosines (no readable constant-LR run)"
    else:
        return [], [], "fewer than two usable training schedules"
    test = [m for m in members if all(m is not t for t in train)]
    return train, test, rule


def smoothed_final(run) -> float:
    """The measured final train loss, de-noised: a least-squares line through the last SMOOTH_ROWS observed rows,
    evaluated at the last row's step."""
    ok = run.observed
    x, y = run.steps[ok][-SMOOTH_ROWS:].astype(float), run.loss[ok][-SMOOTH_ROWS:]
    slope, icpt = np.polyfit(x - x[-1], y, 1)
    return float(icpt)


def run_schaipp(laws: list[str], fit_kw: dict | None = None, resumed: bool = False) -> dict:
    """Fit each law on each group's training runs' noisy train loss; predict the group's held-out schedules.
    ``fit_kw`` goes to every fit (e.g. ``{"prior": {...}}``); ``resumed`` as in :func:`schaipp_load`."""
    from scalefit.fitting import evaluate

    t_all = time.perf_counter()
    groups, excluded = schaipp_load(resumed)
    rows: list[dict] = []
    group_out: list[dict] = []
    for key, members in sorted(groups.items()):
        gname = f"{key[0]} L{key[1]} d{key[2]} h{key[3]} bs{key[4]}x{key[5]} lr{key[6]}"
        train, test, rule = schaipp_split(members)
        if not test:
            for m in members:
                excluded.append({"name": m["row"]["name"], "reason": f"group {gname}: {rule or 'nothing to hold out'}"
                                 f" ({len(members)} readable run(s) in the group)"})
            continue
        g = {"group": gname, "rule": rule, "train": [m["row"]["name"] for m in train],
             "test": [m["row"]["name"] for m in test], "laws": {}}
        per_run: dict[str, dict] = {m["row"]["name"]: {
            "group": gname, "run": m["row"]["name"], "label": schaipp_label(m["row"]), "kind": m["kind"],
            "checkpoint": m["checkpoint"], "iterations": int(m["row"]["iterations"]),
            "rows": int(m["run"].observed.sum()),
            "final_val": float(m["row"]["final_val_loss"]) if m["row"]["final_val_loss"] else float("nan"),
            "smoothed_final_train": smoothed_final(m["run"]), "laws": {}} for m in test}
        for law in laws:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                t0 = time.perf_counter()
                ev = evaluate([m["run"] for m in train], [m["run"] for m in test], law, law_error=False,
                              **(fit_kw or {}))
                wall = time.perf_counter() - t0
                # train-to-val offset, measured on the training runs only: final val minus the fitted train curve
                gaps = [float(m["row"]["final_val_loss"]) - float(ev.fit.predict(m["run"]).loss[-1])
                        for m in train if m["row"]["final_val_loss"]]
            gap = float(np.mean(gaps)) if gaps else float("nan")
            g["laws"][law] = {"fit_seconds": ev.fit.fit_seconds, "evaluate_seconds": wall,
                              "status": ev.fit.status.value, "params": ev.fit.values, "val_minus_train_gap": gap,
                              "gaps": gaps, "at_bound": [n for n, p in ev.fit.params.items() if p.at_bound],
                              "warnings": sorted({str(w.message) for w in caught})}
            for m, (k, met) in zip(test, ev.test.items()):
                pred = ev.predictions[k]
                assert int(pred.steps[-1]) == int(m["row"]["iterations"]), (k, pred.steps[-1])
                rec = per_run[m["row"]["name"]]
                p_train = float(pred.loss[-1])
                p_val = p_train + gap
                rec["laws"][law] = {
                    "r2": met.r2, "pred_e": met.pred_e, "worst_e": met.worst_e, "rmse": met.rmse,
                    "pred_final_train": p_train, "train_err": p_train - rec["smoothed_final_train"],
                    "pred_final_val": p_val, "val_err": p_val - rec["final_val"],
                    "val_rel_err": abs(p_val - rec["final_val"]) / rec["final_val"]}
        rows.extend(per_run.values())
        group_out.append(g)
        print_schaipp_group(g, list(per_run.values()), laws)
    summary = {}
    for law in laws:
        summary[law] = schaipp_summary(rows, law, group_out)
        summary[law]["by_kind"] = {kind: schaipp_summary([r for r in rows if r["kind"] == kind], law)
                                   for kind in ("full", "segment")}
    wall = time.perf_counter() - t_all
    print(f"\nSchaipp summary over {len(rows)} held-out runs in {len(group_out)} groups "
          f"({len(excluded)} files excluded, listed in the JSON and below); section wall {wall:.1f} s")
    print(f"{'law':<7} {'runs':<13} {'|dVal| mean':>11} {'median':>8} {'max':>7} {'rel mean':>9} "
          f"{'|dTrain| mean':>13} {'PredE':>8} {'R2 med':>7} {'fit s':>7}")
    for law, s in summary.items():
        for label, t in [(f"all {s['held_out_runs']}", s)] + [
                (f"{k} {v['held_out_runs']}", v) for k, v in s["by_kind"].items()]:
            print(f"{law:<7} {label:<13} {t['val_abs_err_mean']:11.4f} {t['val_abs_err_median']:8.4f} "
                  f"{t['val_abs_err_max']:7.4f} {t['val_rel_err_mean']:9.4f} {t['train_abs_err_mean']:13.4f} "
                  f"{t['pred_e_mean']:8.4f} {t['r2_median']:7.3f} {s['fit_seconds_total']:7.2f}")
    print("excluded:")
    for e in excluded:
        print(f"  {e['name']}: {e['reason']}")
    return {"reference": str(SCHAIPP), "warmup": SCHAIPP_WARMUP, "laws": laws, "method": SCHAIPP_METHOD,
            "summary": summary, "section_seconds": wall, "groups": group_out, "runs": rows, "excluded": excluded}


def schaipp_summary(rows: list[dict], law: str, group_out: list[dict] | None = None) -> dict:
    """Mean / median / max of the held-out errors of one law over ``rows``."""
    ve = np.array([abs(r["laws"][law]["val_err"]) for r in rows])
    vr = np.array([r["laws"][law]["val_rel_err"] for r in rows])
    te = np.array([abs(r["laws"][law]["train_err"]) for r in rows])
    pe = np.array([r["laws"][law]["pred_e"] for r in rows])
    r2 = np.array([r["laws"][law]["r2"] for r in rows])
    ok = np.isfinite(ve)
    out = {
        "held_out_runs": len(rows), "with_final_val": int(ok.sum()),
        "val_abs_err_mean": float(ve[ok].mean()), "val_abs_err_median": float(np.median(ve[ok])),
        "val_abs_err_max": float(ve[ok].max()), "val_rel_err_mean": float(vr[ok].mean()),
        "val_rel_err_max": float(vr[ok].max()), "train_abs_err_mean": float(te.mean()),
        "pred_e_mean": float(pe.mean()), "r2_mean": float(np.nanmean(r2)), "r2_median": float(np.nanmedian(r2)),
    }
    if group_out is not None:
        out["fit_seconds_total"] = float(sum(g["laws"][law]["fit_seconds"] for g in group_out))
        out["evaluate_seconds_total"] = float(sum(g["laws"][law]["evaluate_seconds"] for g in group_out))
    return out


def print_schaipp_group(g: dict, rows: list[dict], laws: list[str]) -> None:
    fit = "  ".join(f"{law} fit {g['laws'][law]['fit_seconds']:.2f} s {g['laws'][law]['status']} gap "
                    f"{g['laws'][law]['val_minus_train_gap']:+.4f}" for law in laws)
    print(f"\n[{g['group']}] train: {', '.join(g['train'])[:200]}\n  rule: {g['rule']}; {fit}")
    head = "".join(f" | {law + ' R2':>9} {'PredE':>6} {'dTrain':>7} {'predVal':>7} {'dVal':>7} {'rel':>6}"
                   for law in laws)
    print(f"  {'held-out run':<44} {'kind':<13} {'val':>6} {'trainSm':>7}{head}")
    for r in rows:
        kind = r["kind"] if r["checkpoint"] is None else f"seg@{r['checkpoint']}"
        cells = "".join(
            f" | {r['laws'][law]['r2']:9.3f} {r['laws'][law]['pred_e']:6.4f} {r['laws'][law]['train_err']:+7.4f} "
            f"{r['laws'][law]['pred_final_val']:7.4f} {r['laws'][law]['val_err']:+7.4f} "
            f"{r['laws'][law]['val_rel_err']:6.4f}" for law in laws)
        print(f"  {r['label'][:44]:<44} {kind:<13} {r['final_val']:6.4f} {r['smoothed_final_train']:7.4f}{cells}",
              flush=True)


SCHAIPP_METHOD = (
    "Data: main/train/*.csv with a row every 50 steps (noisy train loss; lr on every row), read with warmup=300. "
    "Files the strict reader rejects (repeated or out-of-order steps from resumed runs) and 10-step files are "
    "excluded and listed. Runs are grouped by config (dataset, layers, width, heads, batch, base LR). Cooldown-only "
    "segments (names 'ann...' whose first row is after the warmup) are kept as held-out runs: their LR before the "
    "checkpoint is the constant-LR parent's (warmup 300, then the base LR), only their own rows are observed and "
    "scored. Per group the laws are fitted (scalefit.fitting.evaluate, defaults) on the train loss after warmup of "
    "the constant-LR run + the shortest cosine (else + the longest cooldown; else the two shortest cosines) and "
    "predict every other run of the group from its LR schedule. Held-out train curve: R2/PredE on all its observed "
    "rows after warmup. Final train loss: prediction at the last step vs a line through the last 10 rows read at "
    "the last step (dTrain). Final val loss (index.csv final_val_loss): predicted final train loss + the group's "
    "val-minus-train offset, measured on its training runs only as final_val_loss minus the fitted train curve at "
    "their last step (dVal = predicted - measured; rel = |dVal| / measured)."
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="100M, protocol a only; no dense run")
    ap.add_argument("--variants", action="store_true", help="also compare MPL objective/bound variants")
    ap.add_argument("--no-dense", action="store_true", help="skip the 1M-step dense timing")
    ap.add_argument("--dense-only", action="store_true",
                    help="run only the 1M-step dense timing; rewrite only the 'dense' key of the existing JSON")
    ap.add_argument("--dense-repeats", type=int, default=3, metavar="N",
                    help="fits per law in the dense timing (min and median reported; default 3)")
    ap.add_argument("--schaipp", action=argparse.BooleanOptionalAction, default=True,
                    help="fit the Schaipp noisy train curves and predict held-out final val losses (default: on)")
    ap.add_argument("--schaipp-only", action="store_true",
                    help="run only the Schaipp section; keep the other keys of the existing JSON")
    ap.add_argument("--schaipp-resumed", action="store_true",
                    help="also run the Schaipp section reading the files with --resumed (key 'schaipp_resumed')")
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
    (HERE / "results").mkdir(exist_ok=True)
    path = HERE / "results" / ("curve_fit_quick.json" if args.quick else "curve_fit.json")
    if args.schaipp_only or args.dense_only:
        out = json.loads(path.read_text()) if path.is_file() else {"benchmark": "curve_fit"}
        if args.dense_only:
            out["dense"] = [dense_million(law, repeats=args.dense_repeats) for law in ("tissue", "mpl")]
    else:
        rows = run_protocols(laws, sizes, protocols)
        dense = [] if (args.quick or args.no_dense) else [dense_million(law, repeats=args.dense_repeats)
                                                           for law in ("tissue", "mpl")]
        out = {"benchmark": "curve_fit", "machine": machine(), "time": time.strftime("%Y-%m-%d %H:%M:%S"),
               "reference": str(REF), "protocols": PROTOCOLS, "results": rows, "dense": dense}
    if (args.schaipp or args.schaipp_only) and not args.dense_only:
        if SCHAIPP.is_dir():
            out["schaipp"] = {"machine": machine(), "time": time.strftime("%Y-%m-%d %H:%M:%S"),
                              **run_schaipp(["mpl", "tissue"])}
            if args.schaipp_resumed:
                out["schaipp_resumed"] = {"machine": machine(), "time": time.strftime("%Y-%m-%d %H:%M:%S"),
                                          **run_schaipp(["mpl", "tissue"], resumed=True)}
        else:
            print(f"Schaipp reference data not found at {SCHAIPP}; section skipped", file=sys.stderr)
    path.write_text(json.dumps(out, indent=2, default=float) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
