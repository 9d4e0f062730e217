"""Helper of cli/closed_loop.sh (standard library only): floor choice, best-WSD spec, stale-run check, report.

    python cli/closed_loop_report.py choose-floor OPT_FLOOR0.json OPT_SMALL.json SMALL   -> prints "0" or SMALL
    python cli/closed_loop_report.py best-spec OPT.json                                  -> best_family.spec
    python cli/closed_loop_report.py stale RUN.csv LR.csv         -> "missing", "ok" or "stale" (exit 0)
    python cli/closed_loop_report.py report --out-dir OUT --json RESULT.json ...          -> table + JSON

Realised loss: the last val_loss point of a run (step T-1, measured before that step's update), the quantity the
optimiser minimises (objective "final") and that ``scalefit predict`` reports; the mean of the last three val
points is given too (it favours schedules that anneal early over ones that drop the LR in the last steps).
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import math
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load(path: str | Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def choose_floor(zero_json: str, small_json: str, small: str) -> str:
    """Keep the small floor unless floor 0 predicts a lower final loss by more than its 90% half-width."""
    z, s = _load(zero_json)["optimized"], _load(small_json)["optimized"]
    half = (z["upper"] - z["lower"]) / 2.0
    return "0" if s["final_loss"] - z["final_loss"] > half else small


def read_run(path: str | Path) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Metadata and rows (dicts of strings) of a scalefit run file."""
    meta: dict[str, str] = {}
    lines = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("#"):
                key, _, value = line[1:].partition(":")
                meta[key.strip()] = value.strip()
            elif line.strip():
                lines.append(line)
    return meta, list(csv.DictReader(lines))


def read_lr(path: str | Path) -> list[float]:
    return [float(r["lr"]) for r in read_run(path)[1]]


def stale(run: str, lr_file: str) -> str:
    """"stale" if the run file's LRs (rows present) differ from the schedule file's (6 significant digits)."""
    if not Path(run).exists():
        return "missing"
    got, want = read_lr(run), read_lr(lr_file)
    if len(got) > len(want):
        return "stale"
    for a, b in zip(got, want):
        if abs(a - b) > 1e-5 * abs(b) + 1e-300:
            return "stale"
    return "ok"


def val_points(rows: list[dict[str, str]]) -> list[tuple[int, float, float]]:
    """(step, lr, val_loss) of every row with a val_loss."""
    return [(int(r["step"]), float(r["lr"]), float(r["val_loss"])) for r in rows if r.get("val_loss", "").strip()]


def diff_noise(values: list[float]) -> float | None:
    """Per-point noise of a slowly drifting series: sd of successive differences / sqrt(2)."""
    if len(values) < 5:
        return None
    d = [b - a for a, b in zip(values, values[1:])]
    return statistics.stdev(d) / math.sqrt(2.0)


def schedule_summary(lrs: list[float], peak: float) -> dict:
    def first_below(frac: float) -> int | None:
        start = max(range(len(lrs)), key=lambda i: lrs[i])
        return next((i for i in range(start, len(lrs)) if lrs[i] < frac * peak), None)

    return {"first_step_below_half_peak": first_below(0.5), "first_step_below_tenth_peak": first_below(0.1),
            "final_lr": lrs[-1], "lr_area": sum(lrs)}


def machine() -> dict:
    spec = importlib.util.spec_from_file_location("_machine", ROOT / "benchmarks" / "_machine.py")
    try:
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)  # type: ignore[union-attr]
        return mod.machine()
    except Exception as exc:  # numpy missing in this python: name what we can
        import os
        import platform

        return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                "platform": platform.platform(), "note": f"benchmarks/_machine.py failed: {exc}"}


def _preds(path: Path) -> dict[str, dict]:
    return {p["schedule"]: p for p in _load(path)["predictions"]}


def _fit_summary(path: Path) -> dict:
    fit = _load(path)
    params = {k: v["value"] for k, v in fit["params"].items()}
    stderr = {k: v.get("stderr") for k, v in fit["params"].items()}
    at_bound = [k for k, v in fit["params"].items() if v.get("at_bound")]
    return {"file": str(path), "runs": list(fit["metrics"]), "status": fit["status"], "params": params,
            "stderr": stderr, "at_bound": at_bound, "in_sample_rmse": fit["mean_metrics"]["rmse"]}


def report(args: argparse.Namespace) -> None:
    out = Path(args.out_dir)
    preds = {arm: _preds(out / f"predict_{arm}.json") for arm in ("fit2", "fit4")}
    held = {arm: _preds(out / f"heldout_{arm}.json") for arm in ("fit2", "fit4")}
    small = args.small_floor

    arms = {}
    for arm, fit_file in (("fit2", out / "fit_mpl.json"), ("fit4", out / "fit_mpl_fit4.json")):
        floors = {}
        for fl in ("0", small):
            o = _load(out / f"optimize_{arm}_floor{fl}.json")
            base = {b["schedule"] if "schedule" in b else b.get("name"): b for b in o["baselines"]}
            floors[fl] = {"optimized": o["optimized"], "best_family": o["best_family"], "baselines": o["baselines"]}
            floors[fl]["_base"] = base
        chosen = (out / f"floor_{arm}.txt").read_text().strip()
        half = (floors["0"]["optimized"]["upper"] - floors["0"]["optimized"]["lower"]) / 2
        gain0 = floors[small]["optimized"]["final_loss"] - floors["0"]["optimized"]["final_loss"]
        for f in floors.values():
            f.pop("_base")
        arms[arm] = {"fit": _fit_summary(fit_file), "optimize": floors, "chosen_floor": float(chosen),
                     "floor_rule_applied": f"floor 0 predicts {gain0:+.4f} vs floor {small} (lower is better for "
                                           f"floor 0 if positive); half-width of its 90% interval {half:.4f}: "
                                           f"chose floor {chosen}"}

    runs, metas = [], {}
    with open(out / "manifest.tsv", encoding="utf-8") as fh:
        for line in fh:
            name, role, arm, schedule, path = line.rstrip("\n").split("\t")
            meta, rows = read_run(path)
            metas[name] = meta
            vp = val_points(rows)
            last = vp[-1]
            steps = int(meta.get("total_steps", args.steps))
            complete = int(rows[-1]["step"]) == steps - 1
            peak_noise = diff_noise([v for s, lr, v in vp if s >= 1000 and lr >= 0.99 * args.peak])
            entry = {"name": name, "role": role, "arm": None if arm == "-" else arm, "schedule": schedule,
                     "file": path, "complete": complete, "realised_last": last[2], "realised_last_step": last[0],
                     "realised_mean_last3": statistics.fmean(v for _, _, v in vp[-3:]),
                     "last3_steps": [s for s, _, _ in vp[-3:]],
                     "schedule_summary": schedule_summary([float(r["lr"]) for r in rows], args.peak),
                     "val_noise_at_peak_lr": peak_noise, "predicted": {}}
            for parm in ("fit2", "fit4"):
                p = preds[parm][path]
                entry["predicted"][parm] = {"final_loss": p["final_loss"], "lower": p["lower"], "upper": p["upper"],
                                            "extrapolated": p["extrapolated"],
                                            "error_last": last[2] - p["final_loss"],
                                            "inside_interval": p["lower"] <= last[2] <= p["upper"]}
            runs.append(entry)

    by_name = {r["name"]: r for r in runs}
    cos = by_name["cosine"]
    cos_meta = metas["cosine"]
    seeds = [r for r in runs if r["role"] in ("cosine", "seed-check")]
    seed_last = [r["realised_last"] for r in seeds]
    seed_sd = statistics.stdev(seed_last) if len(seed_last) >= 2 else None
    seed_spread = {"runs": [r["name"] for r in seeds], "realised_last": seed_last,
                   "realised_mean_last3": [r["realised_mean_last3"] for r in seeds], "sd_last": seed_sd,
                   "rule": "a difference to cosine counts as resolved when it exceeds 2 x sd_last (the sd of cosine's "
                           "final val_loss over seeds 0, 1, 2; 3 seeds give a rough sd)"}
    verdict = {}
    for arm in ("fit2", "fit4"):
        for role in ("optimized", "best-wsd"):
            r = next(x for x in runs if x["arm"] == arm and x["role"] == role)
            verdict[r["name"]] = {
                "realised_minus_cosine_last": r["realised_last"] - cos["realised_last"],
                "realised_minus_cosine_mean_last3": r["realised_mean_last3"] - cos["realised_mean_last3"],
                "predicted_minus_cosine": r["predicted"][arm]["final_loss"] - cos["predicted"][arm]["final_loss"],
                "beats_cosine_last": r["realised_last"] < cos["realised_last"],
                "resolved_vs_seed_spread": None if not seed_sd else
                abs(r["realised_last"] - cos["realised_last"]) > 2 * seed_sd,
            }

    # paired over seeds: fit2's optimum minus cosine at the same seed (same initial weights and batches)
    pairs = [("cosine", "optimized-fit2")] + [(f"cosine-seed{k}", f"optimized-fit2-seed{k}") for k in (1, 2)]
    diffs = [by_name[o]["realised_last"] - by_name[c]["realised_last"] for c, o in pairs
             if c in by_name and o in by_name]
    paired = {"pairs": [list(p) for p in pairs if p[0] in by_name and p[1] in by_name], "differences_last": diffs}
    if len(diffs) >= 2:
        mean = statistics.fmean(diffs)
        se = statistics.stdev(diffs) / len(diffs) ** 0.5
        paired.update({"mean": mean, "se": se, "all_negative": all(d < 0 for d in diffs),
                       "beats_cosine": mean < 0 and mean < -2 * se,
                       "rule": "beats cosine when the mean paired difference is below zero by more than 2 standard "
                               "errors (n = 3 seeds)"})

    const_meta, const_rows = read_run(args.constant_run)
    cvals = [(s, v) for s, _, v in val_points(const_rows) if s >= 1000]
    noise = {"constant_run": args.constant_run, "steps": f"{cvals[0][0]}..{cvals[-1][0]}", "points": len(cvals),
             "sd_per_point": diff_noise([v for _, v in cvals]),
             "method": "sd of successive val_loss differences / sqrt(2) (removes the slow trend), val points at "
                       "steps >= 1000 of the bundled 3,000-step constant-LR run. It is the fluctuation of the "
                       f"model at peak LR on the {const_meta.get('eval_batches', 4)} fixed val batches; annealed "
                       "runs fluctuate far less at the end, and seed-to-seed spread (seed_spread) adds to it."}

    held_rows = []
    for f, p2 in held["fit2"].items():
        _, rows = read_run(f)
        last = val_points(rows)[-1][2]
        p4 = held["fit4"][f]
        held_rows.append({"run": f, "realised_last": last,
                          "fit2": {"final_loss": p2["final_loss"], "lower": p2["lower"], "upper": p2["upper"],
                                   "error_last": last - p2["final_loss"]},
                          "fit4": {"final_loss": p4["final_loss"], "lower": p4["lower"], "upper": p4["upper"],
                                   "error_last": last - p4["final_loss"]}})

    result = {
        "schema": "scalefit.closed_loop/1",
        "machine": machine(),
        "command": "bash cli/closed_loop.sh",
        "design": {"model": "tiny", "data": cos_meta.get("data", "?"), "eval_batches": cos_meta.get("eval_batches"),
                   "seq_len": 64, "batch_size": 16, "seed": 0,
                   "steps": args.steps, "peak": args.peak, "warmup": args.warmup, "eval_every": 50,
                   "fitted_horizon": 3000, "target": "val_loss", "objective": "final",
                   "floors_tried": [0.0, float(small)],
                   "floor_rule": f"optimise at floor 0 and {small}; keep {small} unless floor 0 predicts a final "
                                 "loss lower by more than the half-width of its 90% interval (predicted losses "
                                 "only)",
                   "realised": "last val_loss point (step T-1, before that step's update); mean of the last 3 "
                               "val points also given",
                   "predicted": "scalefit predict FIT --schedule-file RUN.csv (the LRs actually trained), 90% "
                                "interval from the parameter covariance"},
        "arms": arms,
        "runs": runs,
        "verdict": verdict,
        "noise": noise,
        "seed_spread": seed_spread,
        "paired_over_seeds": paired,
        "held_out_3000_steps": held_rows,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(args.json).with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    tmp.replace(args.json)
    print_table(result)
    print(f"wrote {args.json}")


def print_table(res: dict) -> None:
    p = print
    d = res["design"]
    p(f"Closed loop: tiny on {d['data']}, {d['steps']} steps (fits saw {d['fitted_horizon']}), peak {d['peak']:g}, "
      f"warmup {d['warmup']}, seed {d['seed']}")
    for arm, a in res["arms"].items():
        f = a["fit"]
        vals = ", ".join(f"{k}={v:.4g}" for k, v in f["params"].items())
        p(f"  {arm}: MPL on {len(f['runs'])} runs ({', '.join(Path(r).stem for r in f['runs'])}); {vals}; "
          f"at bound: {', '.join(f['at_bound']) or 'none'}; {a['floor_rule_applied']}")
    p("")
    p("  realised = last val_loss (step 4499); mean3 = mean of the val points at the last 3 evals; "
      "predicted [90% interval]")
    hdr = (f"  {'run':<16} {'realised':>8} {'mean3':>7}  {'pred fit2 [90%]':>26} {'err':>7}  "
           f"{'pred fit4 [90%]':>26} {'err':>7}  schedule")
    p(hdr)
    for r in res["runs"]:
        cells = []
        for arm in ("fit2", "fit4"):
            q = r["predicted"][arm]
            mark = "" if q["inside_interval"] else "*"
            cells.append(f"{q['final_loss']:.4f} [{q['lower']:.4f}, {q['upper']:.4f}]{mark:1} {q['error_last']:+.4f}")
        sched = r["schedule"] if not r["schedule"].endswith(".csv") else "per-step (optimised)"
        p(f"  {r['name']:<16} {r['realised_last']:>8.4f} {r['realised_mean_last3']:>7.4f}  "
          f"{cells[0]:>34}  {cells[1]:>34}  {sched}")
    p("  (* realised outside the interval; err = realised - predicted)")
    p("")
    for name, v in res["verdict"].items():
        res_txt = {None: "", True: ", resolved", False: ", within 2 seed sd"}[v["resolved_vs_seed_spread"]]
        p(f"  {name:<16} vs cosine: realised {v['realised_minus_cosine_last']:+.4f} (last), "
          f"{v['realised_minus_cosine_mean_last3']:+.4f} (mean3); predicted {v['predicted_minus_cosine']:+.4f}; "
          f"{'beats' if v['beats_cosine_last'] else 'does not beat'} cosine{res_txt}")
    n = res["noise"]
    p(f"  val_loss noise at peak LR (constant run, {n['steps']}): {n['sd_per_point']:.4f} per point")
    sp = res["seed_spread"]
    if sp["sd_last"] is not None:
        vals = ", ".join(f"{v:.4f}" for v in sp["realised_last"])
        p(f"  cosine final val_loss over seeds ({', '.join(sp['runs'])}): {vals}; sd {sp['sd_last']:.4f}")
    pa = res.get("paired_over_seeds", {})
    if "mean" in pa:
        ds = ", ".join(f"{x:+.4f}" for x in pa["differences_last"])
        p(f"  optimized-fit2 - cosine, paired by seed: {ds}; mean {pa['mean']:+.4f} +- {pa['se']:.4f} (se): "
          f"{'beats' if pa['beats_cosine'] else 'does not resolve a win over'} cosine")
    p("")
    p("  held-out check at 3,000 steps (bundled runs): realised last val vs predicted")
    for h in res["held_out_3000_steps"]:
        p(f"    {Path(h['run']).stem:<32} {h['realised_last']:.4f}   fit2 {h['fit2']['final_loss']:.4f} "
          f"({h['fit2']['error_last']:+.4f})   fit4 {h['fit4']['final_loss']:.4f} ({h['fit4']['error_last']:+.4f})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("choose-floor")
    c.add_argument("zero_json")
    c.add_argument("small_json")
    c.add_argument("small")
    b = sub.add_parser("best-spec")
    b.add_argument("opt_json")
    s = sub.add_parser("stale")
    s.add_argument("run")
    s.add_argument("lr_file")
    r = sub.add_parser("report")
    r.add_argument("--out-dir", required=True)
    r.add_argument("--json", required=True)
    r.add_argument("--steps", type=int, required=True)
    r.add_argument("--peak", type=float, required=True)
    r.add_argument("--warmup", type=int, required=True)
    r.add_argument("--small-floor", required=True)
    r.add_argument("--constant-run", required=True)
    a = ap.parse_args(argv)
    if a.cmd == "choose-floor":
        print(choose_floor(a.zero_json, a.small_json, a.small))
    elif a.cmd == "best-spec":
        print(_load(a.opt_json)["best_family"]["spec"])
    elif a.cmd == "stale":
        print(stale(a.run, a.lr_file))
    else:
        report(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
