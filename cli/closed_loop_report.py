"""Helper of cli/closed_loop.sh (standard library only): fields of optimize's JSON, and the closed-loop report.

    python cli/closed_loop_report.py field OPT.json KEY [KEY ...]     -> the value (empty for null)
    python cli/closed_loop_report.py report --out-dir OUT --runs RUNS --json RESULT.json --tournament SETTING \
        --seeds "0 1 2" [--settings "S1 S2"]                         -> table + JSON
    python cli/closed_loop_report.py markdown RESULT.json             -> the tables of benchmarks/RESULTS.md

Realised loss: the last val_loss point of a run (step T-1, before that step's update), the quantity optimize
minimises (objective "final") and ``scalefit predict`` reports. Differences are paired by seed (same seed: same
initial weights and batches): mean and standard error (sd / sqrt(n)) of the per-seed differences.

``--settings`` reports only the named settings of the manifest (those whose runs are all complete, while the rest
still train); the others are listed in the JSON's ``not_reported`` with how many of their runs are complete. The
candidates are reported only with the tournament setting (they are paired with its cosine, linear and WSD runs).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import statistics
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The comparisons every setting reports: (first role, second role), realised first - second, paired by seed.
PAIRS = (("recommended", "cosine"), ("recommended", "linear"), ("recommended", "best-wsd"),
         ("best-wsd", "cosine"), ("linear", "cosine"), ("law-best", "best-wsd"), ("law-best", "cosine"))


def _load(path: str | Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def field(path: str, keys: list[str]) -> str:
    value = _load(path)
    for k in keys:
        value = value[k]
    return "" if value is None else str(value)


def read_run(path: str | Path) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Metadata and rows (dicts of strings) of a scalefit run file."""
    meta: dict[str, str] = {}
    header: list[str] = []
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if line.startswith("#"):
                key, _, value = line[1:].partition(":")
                meta[key.strip()] = value.strip()
            elif not header and line:
                header = line.split(",")
            elif line:
                rows.append(dict(zip(header, line.split(","))))
    return meta, rows


def last_val(path: str | Path) -> tuple[int, float, bool]:
    """(step, val_loss) of the last row with a val_loss, and whether the run is complete."""
    meta, rows = read_run(path)
    vals = [(int(r["step"]), float(r["val_loss"])) for r in rows if r.get("val_loss", "").strip()]
    total = int(meta.get("total_steps", -1))
    return vals[-1][0], vals[-1][1], bool(rows) and int(rows[-1]["step"]) == total - 1


def paired(a: list[float], b: list[float]) -> dict:
    """Per-seed differences a - b, their mean and standard error."""
    d = [x - y for x, y in zip(a, b)]
    se = statistics.stdev(d) / math.sqrt(len(d)) if len(d) >= 2 else None
    return {"differences": d, "mean": statistics.fmean(d), "se": se, "n": len(d)}


def machine() -> dict:
    spec = importlib.util.spec_from_file_location("_machine", ROOT / "benchmarks" / "_machine.py")
    try:
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)  # type: ignore[union-attr]
        return mod.machine()
    except Exception as exc:  # noqa: BLE001 - numpy missing in this python: name what we can
        import os
        import platform

        return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                "platform": platform.platform(), "note": f"benchmarks/_machine.py failed: {exc}"}


def _fit_summary(path: Path) -> dict:
    fit = _load(path)
    le = fit.get("law_error") or {}
    params = {k: v["value"] for k, v in fit["params"].items()}
    return {"file": str(path), "runs": list(fit["metrics"]), "params": params,
            "at_bound": [k for k, v in fit["params"].items() if v.get("at_bound")],
            "law_error_scale": le.get("scale"), "in_sample_rmse": fit["mean_metrics"]["rmse"]}


def setting_result(out: Path, runs_dir: Path, setting: str, lines: list[list[str]], seeds: list[int]) -> dict:
    source, size, steps = setting.split("-")
    opt = _load(out / f"optimize_{setting}.json")
    roles = {}
    preds = {p["schedule"]: p for p in _load(out / f"predict_{setting}.json")["predictions"]}
    for _, role, name, kind, schedule, lr in lines:
        files = [str(runs_dir / setting / f"{name}-seed{k}.csv") for k in seeds]
        got = [last_val(f) for f in files]
        pred = preds[lr]
        roles[role] = {"name": name, "kind": kind, "schedule": schedule, "files": files,
                       "complete": all(c for _, _, c in got), "realised": [v for _, v, _ in got],
                       "realised_step": [s for s, _, _ in got], "realised_mean": statistics.fmean(v for _, v, _ in got),
                       "predicted": {k: pred[k] for k in ("final_loss", "lower", "upper", "extrapolated")}}
    cmp = {}
    for a, b in PAIRS:
        if a in roles and b in roles:
            p = paired(roles[a]["realised"], roles[b]["realised"])
            p["predicted"] = roles[a]["predicted"]["final_loss"] - roles[b]["predicted"]["final_loss"]
            cmp[f"{a} - {b}"] = p
    rc, rw = cmp["recommended - cosine"], cmp["recommended - best-wsd"]
    shared = roles["recommended"]["name"] == roles["best-wsd"]["name"]
    accept = {"below_cosine": rc["mean"] < 0,
              "within_one_se_of_best_family": shared or rw["mean"] <= (rw["se"] or 0.0),
              "rule": "recommended - cosine < 0 (paired mean), and recommended - best WSD <= one standard error of "
                      "the paired differences (0 when the recommendation is the best WSD itself)"}
    accept["met"] = accept["below_cosine"] and accept["within_one_se_of_best_family"]
    # context, not the rule: the seed-to-seed standard error of the best WSD's own realised loss (unpaired)
    wsd = roles["best-wsd"]["realised"]
    accept["seed_se_of_best_wsd"] = statistics.stdev(wsd) / math.sqrt(len(wsd)) if len(wsd) >= 2 else None
    return {"setting": setting, "source": source, "size": size, "steps": int(steps),
            "fit": _fit_summary(out / f"fit_{source}-{size}.json"), "recommended": opt["recommended"],
            "ensemble": {"note": opt["ensemble"]["note"], "shapes": opt["ensemble"]["shapes"]},
            "optimum_message": opt["optimized"]["message"], "roles": roles, "paired": cmp, "acceptance": accept}


def calibration(settings: list[dict], tournament: dict) -> dict:
    """Realised against predicted gains over cosine: per comparison, and the slope through the origin."""
    points = []
    for s in settings:
        for role in ("linear", "best-wsd", "recommended"):
            if role == "recommended" and s["roles"]["recommended"]["name"] == s["roles"]["best-wsd"]["name"]:
                continue
            p = s["paired"][f"{role} - cosine"] if role != "linear" else s["paired"]["linear - cosine"]
            points.append({"setting": s["setting"], "schedule": s["roles"][role]["name"], "predicted": p["predicted"],
                           "realised": p["mean"], "se": p["se"]})
    for name, c in tournament.get("candidates", {}).items():
        p = c["vs_cosine"]
        points.append({"setting": tournament["setting"], "schedule": f"candidate {name}", "predicted": p["predicted"],
                       "realised": p["mean"], "se": p["se"]})
    sxy = sum(p["predicted"] * p["realised"] for p in points)
    sxx = sum(p["predicted"] ** 2 for p in points)
    slope = sxy / sxx if sxx > 0 else None
    ratios = [p["realised"] / p["predicted"] for p in points if p["predicted"] < -1e-4]
    return {"points": points, "slope_through_origin": slope,
            "ratio_median": statistics.median(ratios) if ratios else None,
            "ratio_range": [min(ratios), max(ratios)] if ratios else None,
            "sign_agreement": sum((p["predicted"] < 0) == (p["realised"] < 0) for p in points),
            "n": len(points),
            "method": "realised gain over cosine (paired mean over seeds) against the fit's predicted gain for the "
                      "same schedules; slope of a least-squares line through the origin, and the ratio realised / "
                      "predicted where the prediction is a gain of more than 1e-4"}


def _runs_complete(runs_dir: Path, setting: str, lines: list[list[str]], seeds: list[int]) -> dict:
    """How many of a setting's runs (every manifest line at every seed) are complete."""
    files = sorted({runs_dir / setting / f"{name}-seed{k}.csv" for _, _, name, *_ in lines for k in seeds})
    missing = [str(f) for f in files if not (f.is_file() and last_val(f)[2])]
    return {"setting": setting, "complete_runs": len(files) - len(missing), "runs": len(files), "incomplete": missing}


def report(args: argparse.Namespace) -> None:
    out, runs_dir = Path(args.out_dir), Path(args.runs)
    seeds = [int(s) for s in args.seeds.split()]
    by_setting: dict[str, list[list[str]]] = {}
    with open(out / "manifest.tsv", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                f = line.rstrip("\n").split("\t")
                by_setting.setdefault(f[0], []).append(f)
    chosen = args.settings.split() if args.settings else list(by_setting)
    unknown = [s for s in chosen if s not in by_setting]
    if unknown:
        sys.exit(f"{out / 'manifest.tsv'}: no setting {', '.join(unknown)}; it has {', '.join(by_setting)}")
    settings = [setting_result(out, runs_dir, s, [x for x in by_setting[s] if not x[1].startswith("candidate-")],
                               seeds) for s in chosen]
    not_reported = [_runs_complete(runs_dir, s, lines, seeds) for s, lines in by_setting.items() if s not in chosen]
    tour: dict = {"setting": args.tournament, "candidates": {}}
    t = next((s for s in settings if s["setting"] == args.tournament), None)
    if t is None:
        tour["note"] = "the tournament setting is not reported, so neither are its candidates"
        candidates = []
    else:
        candidates = [x for x in by_setting[args.tournament] if x[1].startswith("candidate-")]
        preds = {p["schedule"]: p for p in _load(out / f"predict_{args.tournament}.json")["predictions"]}
    for _, role, name, _, schedule, lr in candidates:
        files = [str(runs_dir / args.tournament / f"{name}-seed{k}.csv") for k in seeds]
        realised = [last_val(f)[1] for f in files]
        pred = preds[lr]["final_loss"]
        cand = _load(runs_dir / args.tournament / "schedules" / f"{name}.json")
        entry = {"schedule": schedule, "files": files, "realised": realised, "predicted": pred,
                 "objective": cand["optimized"]["message"], "under": cand["recommended"]["objective"],
                 "recommended_by_it": cand["recommended"]["name"]}
        for other in ("cosine", "best-wsd", "linear"):
            p = paired(realised, t["roles"][other]["realised"])
            p["predicted"] = pred - t["roles"][other]["predicted"]["final_loss"]
            entry[f"vs_{other.replace('-', '_')}"] = p
        tour["candidates"][role[len("candidate-"):]] = entry
    result = {
        "schema": "scalefit.closed_loop/2", "machine": machine(), "command": "bash cli/closed_loop.sh",
        "design": {"sources": sorted({s["source"] for s in settings}), "sizes": sorted({s["size"] for s in settings}),
                   "steps": sorted({s["steps"] for s in settings}), "fitted_horizon": 3000, "seeds": seeds,
                   "peak": 3e-3, "warmup": "10% of the steps", "target": "val_loss", "objective": "final",
                   "fit": "MPL (default options) on the 3,000-step constant and cosine runs of the source and size",
                   "realised": "last val_loss point (step T-1) of each run; 16 fixed val batches",
                   "predicted": "scalefit predict FIT --schedule-file (the schedule trained), 90% interval",
                   "acceptance": settings[0]["acceptance"]["rule"]},
        "settings": settings, "not_reported": not_reported, "tournament": tour,
        "calibration": calibration(settings, tour), "all_met": all(s["acceptance"]["met"] for s in settings),
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(args.json).with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    tmp.replace(args.json)
    print_table(result)
    print(f"wrote {args.json}")


def _pm(p: dict) -> str:
    se = "" if p["se"] is None else f" +- {p['se']:.4f}"
    return f"{p['mean']:+.4f}{se}"


def _ties(res: dict) -> list[dict]:
    """The settings whose law's own family pick was trained beside the recommended 1-sqrt WSD (a tie broken)."""
    return [s for s in res["settings"] if "law-best - best-wsd" in s["paired"]]


def print_table(res: dict) -> None:
    p = print
    p("Closed loop: realised final val_loss, paired by seed (mean +- standard error over seeds "
      f"{', '.join(map(str, res['design']['seeds']))}); predicted = the fit's")
    p(f"  {'setting':<22} {'recommended':<12} {'rec - cosine':>16} {'rec - linear':>16} {'rec - best WSD':>16}  "
      f"{'predicted rec - cos':>19}  met")
    for s in res["settings"]:
        c = s["paired"]
        rec = s["recommended"]["name"] if s["recommended"]["kind"] == "family" else "per-step"
        p(f"  {s['setting']:<22} {rec:<12} {_pm(c['recommended - cosine']):>16} {_pm(c['recommended - linear']):>16} "
          f"{_pm(c['recommended - best-wsd']):>16}  {c['recommended - cosine']['predicted']:>+19.4f}  "
          f"{'yes' if s['acceptance']['met'] else 'NO'}")
    ties = _ties(res)
    if ties:
        p("")
        p("  ties broken (the law's best family member within its cooldown error of the 1-sqrt WSD, which is "
          "recommended):")
        for s in ties:
            c = s["paired"]["law-best - best-wsd"]
            p(f"    {s['setting']:<22} {s['recommended'].get('law_best', '?'):<12} - best WSD {_pm(c)} "
              f"(predicted {c['predicted']:+.4f})")
    t = res["tournament"]
    p("")
    p(f"  candidates at {t['setting']} (per-step optima of what optimize can minimise):")
    for name, c in t["candidates"].items():
        p(f"    {name:<10} vs cosine {_pm(c['vs_cosine'])} (predicted {c['vs_cosine']['predicted']:+.4f}), "
          f"vs best WSD {_pm(c['vs_best_wsd'])}, vs linear {_pm(c['vs_linear'])}")
    cal = res["calibration"]
    if cal["slope_through_origin"] is not None:
        p("")
        p(f"  realised gain over cosine = {cal['slope_through_origin']:.2f} x predicted (least squares through 0, "
          f"{cal['n']} schedules); realised/predicted median {cal['ratio_median']:.2f}; sign agrees "
          f"{cal['sign_agreement']} of {cal['n']}")
    for n in res.get("not_reported", []):
        p(f"  not reported: {n['setting']} ({n['complete_runs']} of {n['runs']} runs complete)")
    p(f"  acceptance met in every reported setting: {'yes' if res['all_met'] else 'NO'}")


def markdown(res: dict) -> None:
    """The tables of benchmarks/RESULTS.md, "Closed loop on real training", from the result JSON."""
    p = print
    p("| setting | recommended | rec - cosine | predicted | rec - best WSD (1-sqrt) | predicted | rec - linear to 0 "
      "| predicted | met |")
    p("|---|---|---|---|---|---|---|---|---|")
    for s in res["settings"]:
        c, r = s["paired"], s["recommended"]
        name = f"`{r['spec'].split(',', 3)[-1]}`" if r["kind"] == "family" else "per-step optimum"
        rc, rw, rl = c["recommended - cosine"], c["recommended - best-wsd"], c["recommended - linear"]
        p(f"| {s['source']} {s['size']} {s['steps']} | {r['name']} {name} | {_pm(rc)} | {rc['predicted']:+.4f} | "
          f"{_pm(rw)} | {rw['predicted']:+.4f} | {_pm(rl)} | {rl['predicted']:+.4f} | "
          f"{'yes' if s['acceptance']['met'] else '**no**'} |")
    p("")
    p("| setting | best WSD - cosine | predicted | linear - cosine | predicted | cosine realised (seeds) "
      "| cosine predicted [90%] |")
    p("|---|---|---|---|---|---|---|")
    for s in res["settings"]:
        c, cos = s["paired"], s["roles"]["cosine"]
        pr = cos["predicted"]
        p(f"| {s['source']} {s['size']} {s['steps']} | {_pm(c['best-wsd - cosine'])} | "
          f"{c['best-wsd - cosine']['predicted']:+.4f} | {_pm(c['linear - cosine'])} | "
          f"{c['linear - cosine']['predicted']:+.4f} | {' / '.join(f'{v:.4f}' for v in cos['realised'])} | "
          f"{pr['final_loss']:.4f} [{pr['lower']:.4f}, {pr['upper']:.4f}] |")
    ties = _ties(res)
    if ties:
        p("")
        p("| setting | the law's best family member | it - best WSD (1-sqrt, recommended) | predicted | it - cosine |")
        p("|---|---|---|---|---|")
        for s in ties:
            c, lc = s["paired"]["law-best - best-wsd"], s["paired"]["law-best - cosine"]
            spec = s["roles"]["law-best"]["schedule"].split(",", 3)[-1]
            p(f"| {s['source']} {s['size']} {s['steps']} | {s['recommended'].get('law_best', '?')} `{spec}` | "
              f"{_pm(c)} | {c['predicted']:+.4f} | {_pm(lc)} |")
    t = res["tournament"]
    if t["candidates"]:
        p("")
        p("| candidate (per-step optimum) | - cosine | predicted | - best WSD | - linear to 0 |")
        p("|---|---|---|---|---|")
        for name, c in t["candidates"].items():
            p(f"| {name} ({c['schedule'].split('optimize ')[-1].rstrip(')')}) | {_pm(c['vs_cosine'])} | "
              f"{c['vs_cosine']['predicted']:+.4f} | {_pm(c['vs_best_wsd'])} | {_pm(c['vs_linear'])} |")
    cal = res["calibration"]
    if cal["slope_through_origin"] is not None:
        ratio = ("" if cal["ratio_median"] is None else f"; realised / predicted median {cal['ratio_median']:.2f}, "
                 f"range {cal['ratio_range'][0]:.2f} to {cal['ratio_range'][1]:.2f}")
        p("")
        p(textwrap.fill(f"Realised gain over cosine = {cal['slope_through_origin']:.2f} x predicted (least squares "
                        f"through 0, {cal['n']} schedules){ratio}; the sign agrees for {cal['sign_agreement']} of "
                        f"{cal['n']}.", 117))
    for n in res.get("not_reported", []):
        p(f"- not reported: {n['setting']} ({n['complete_runs']} of {n['runs']} runs complete)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("field")
    f.add_argument("json")
    f.add_argument("keys", nargs="+")
    r = sub.add_parser("report")
    r.add_argument("--out-dir", required=True)
    r.add_argument("--runs", required=True)
    r.add_argument("--json", required=True)
    r.add_argument("--tournament", required=True)
    r.add_argument("--seeds", default="0 1 2")
    r.add_argument("--settings", default="", help="only these settings of the manifest (space-separated)")
    m = sub.add_parser("markdown")
    m.add_argument("json")
    a = ap.parse_args(argv)
    if a.cmd == "field":
        print(field(a.json, a.keys))
    elif a.cmd == "markdown":
        markdown(_load(a.json))
    else:
        report(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
