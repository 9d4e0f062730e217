"""Benchmark: do the prediction intervals that carry the law's own error cover held-out truth?

``fit(runs, law, law_error=True)`` measures the law's relative error by cross-validation on the training runs
(``scalefit/fitting/crossval.py``: forward chaining at 50% / 70% and leave-one-run-out refits), and
``FitResult.predict(run, interval=q)`` then adds it to the parameter-covariance band (``method ==
"covariance+cv"``, Student t quantile). ``method="covariance"`` is the noise-only band, for comparison. Nothing
here is tuned: default fit options for both laws (``mpl``, ``tissue``), warnings suppressed.

Sections:
  1. **MPL reference curves** (``../shared/reference/curves/mpl``; 25M and 100M, protocols a and b of
     ``curve_fit.py``): fit the training runs with ``law_error=True``; for each held-out run (7 + 6 per size, 26
     in all) the central interval at its final observed step vs the observed final loss, at nominal 0.5, 0.8
     and 0.9, with either method. Also mean half-width, mean |error|, the law-error scale, fold errors, skipped
     folds and fit + CV seconds.
  2. **Schaipp curves** (``../shared/reference/curves/schaipp``, read and split per config group exactly as
     ``curve_fit.run_schaipp``: train on the constant-LR run + the shortest cosine, etc.): for each held-out run
     (~111) the interval of the predicted *train* loss at its last step vs ``curve_fit.smoothed_final`` (a line
     through its last 10 rows), by kind ("full" runs and cooldown-only "segment" runs).
  3. **Simulation, the law exact**: constant + cosine runs simulated from each law itself with iid log-noise
     (``interval_coverage.simulate`` at phi 0, sd 2e-3, 2,000 steps, a row every 10), 20 seeds; the interval of
     a held-out WSD run's noise-free final loss. The cv term should be small and coverage at or above nominal;
     the half-width over the noise-only one is the price of the cv term when the law is right.

Usage: python benchmarks/law_error.py [--seeds 20] [--no-mpl] [--no-schaipp] [--no-sim]
(writes benchmarks/results/law_error.json)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _machine import machine  # noqa: E402

from scalefit.fitting import fit  # noqa: E402
from scalefit.jsonio import write_text  # noqa: E402

LAWS = ("mpl", "tissue")
LEVELS = (0.5, 0.8, 0.9)
#: "auto": predict's default (with the shape part for an MPL fit under its default prior, issue 14.2); "... raw":
#: the law error with its fold errors' noise left in (the rule before issue 14.2)
METHODS = ("auto", "auto raw", "covariance+cv", "covariance+cv raw", "covariance")
SHORT = {"auto": "default", "auto raw": "defraw", "covariance+cv": "cv", "covariance+cv raw": "raw",
         "covariance": "noise"}


def raw_law_error(res: Any) -> Any:
    """``res`` with the law error's scale the fold errors' RMS, their noise left in (``LawError.raw_scale``: the
    default, since ``law_error.SUBTRACT_NOISE`` is off). The run recorded in ``results/law_error.json`` was made while
    the default took the noise out: its "cv" and "default" columns are that excess, its "raw" and "dfraw" columns
    today's default (a rerun gives equal pairs)."""
    import dataclasses

    if res.law_error is None:
        return res
    return dataclasses.replace(res, law_error=dataclasses.replace(res.law_error, scale=res.law_error.raw_scale))


def interval_record(res: Any, target: Any, truth: float, at: np.ndarray | None = None,
                    **kw: Any) -> dict[str, Any]:
    """The intervals of ``res`` at the final element of ``res.predict(target, ...)`` for every level and method."""
    rec: dict[str, Any] = {"truth": truth}
    raw = raw_law_error(res)
    for method in METHODS:
        for q in LEVELS:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pred = (raw if method.endswith(" raw") else res).predict(
                    target, interval=q, method=method.split()[0], **({} if at is None else {"at": at}), **kw)
            lo, hi, mid = float(pred.lower[-1]), float(pred.upper[-1]), float(pred.loss[-1])
            rec[f"{SHORT[method]}_{q:g}"] = {"lower": lo, "upper": hi, "covered": bool(lo <= truth <= hi),
                                             "half_width": (hi - lo) / 2.0}
        rec["pred"], rec["step"], rec["extrapolated"] = mid, int(pred.steps[-1]), bool(pred.extrapolated)
    rec["abs_error"] = abs(truth - rec["pred"])
    return rec


def summarize(recs: list[dict[str, Any]]) -> dict[str, Any]:
    """Coverage per level and method, mean half-width of the 90% intervals, mean |error| over ``recs``."""
    out: dict[str, Any] = {"n": len(recs)}
    if not recs:
        return out
    for method in METHODS:
        m = SHORT[method]
        for q in LEVELS:
            out[f"{m}_covered_{q:g}"] = int(sum(r[f"{m}_{q:g}"]["covered"] for r in recs))
            out[f"{m}_coverage_{q:g}"] = out[f"{m}_covered_{q:g}"] / len(recs)
        hw = np.array([r[f"{m}_0.9"]["half_width"] for r in recs])
        out[f"{m}_half_width_mean"] = float(hw.mean())
        out[f"{m}_half_width_median"] = float(np.median(hw))
    err = np.array([r["abs_error"] for r in recs])
    out["abs_error_mean"], out["abs_error_median"] = float(err.mean()), float(np.median(err))
    out["extrapolated"] = int(sum(r["extrapolated"] for r in recs))
    return out


def fit_with_cv(runs: list, law: str) -> tuple[Any, float]:
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit(runs, law, law_error=True)
    return res, time.perf_counter() - t0


def law_error_info(res: Any) -> dict[str, Any]:
    le = res.law_error
    if le is None:
        return {"scale": None, "raw_scale": None, "fold_errors": 0, "skipped": [], "cv_seconds": 0.0, "dof": 0}
    return {"scale": le.scale, "raw_scale": le.raw_scale, "noise_scale": le.noise_scale,
            "fold_errors": len(le.folds), "skipped": list(le.skipped), "cv_seconds": le.seconds, "dof": le.dof,
            "folds": [{"fold": f.fold, "path": Path(f.path).name, "rel_error": f.rel_error, "horizon": f.horizon,
                       "noise": f.noise} for f in le.folds]}


def mpl_reference() -> dict[str, Any]:
    """Section 1: the MPL reference curves, both sizes and protocols, both laws."""
    from mpl_prior import reference_data

    data = reference_data()
    rows, per_run = [], []
    for law in LAWS:
        for (size, proto), (train, test) in data.items():
            res, wall = fit_with_cv(train, law)
            recs = []
            for run in test:
                truth = float(run.loss[run.observed][-1])
                rec = interval_record(res, run, truth)
                assert rec["step"] == int(run.steps[run.observed][-1]), (run.path, rec["step"])
                recs.append({"law": law, "size": size, "protocol": proto, "run": Path(run.path).stem, **rec})
            per_run.extend(recs)
            info = law_error_info(res)
            rows.append({"law": law, "size": size, "protocol": proto, **summarize(recs),
                         **{k: v for k, v in info.items() if k != "folds"}, "folds": info.get("folds", []),
                         "fit_seconds": wall})
            print_row(f"{law} {size} ({proto})", rows[-1], flush=True)
    overall = {law: summarize([r for r in per_run if r["law"] == law]) for law in LAWS}
    for law in LAWS:
        overall[law]["fit_seconds"] = float(sum(r["fit_seconds"] for r in rows if r["law"] == law))
        print_row(f"{law} all", overall[law])
    return {"rows": rows, "overall": overall, "per_run": per_run}


HEADER = (f"{'setting':<18} {'n':>4} {'dflt 50/80/90%':>13} {'dfraw 50/80/90':>13} {'cv 50/80/90%':>13} "
          f"{'raw 50/80/90%':>13} {'noise 50/80/90%':>15} {'hw dflt':>7} {'hw cv':>7} {'(med)':>7} {'hw raw':>7} "
          f"{'hw noise':>8} {'|err|':>7} {'scale':>7} {'raw':>7} {'err/fold':>8} {'skip':>4} {'s':>6}")


def print_row(label: str, r: dict[str, Any], flush: bool = False) -> None:
    def cov(m: str) -> str:
        return "/".join(f"{r[f'{m}_coverage_{q:g}'] * 100:.0f}" for q in LEVELS)

    scale = "-" if r.get("scale") is None else f"{r['scale']:.4f}"
    raw = "-" if r.get("raw_scale") is None else f"{r['raw_scale']:.4f}"
    folds = f"{r['fold_errors']}/{r['dof']}" if "dof" in r else str(r.get("fold_errors", "-"))
    skip = str(len(r["skipped"])) if "skipped" in r else "-"
    secs = f"{r['fit_seconds']:.1f}" if "fit_seconds" in r else "-"
    print(f"{label:<18} {r['n']:>4} {cov('default'):>13} {cov('defraw'):>13} {cov('cv'):>13} {cov('raw'):>13} "
          f"{cov('noise'):>15} {r['default_half_width_mean']:7.4f} "
          f"{r['cv_half_width_mean']:7.4f} {r['cv_half_width_median']:7.4f} {r['raw_half_width_mean']:7.4f} "
          f"{r['noise_half_width_mean']:8.4f} "
          f"{r['abs_error_mean']:7.4f} {scale:>7} {raw:>7} {folds:>8} {skip:>4} {secs:>6}", flush=flush)


#: Short labels of ``curve_fit.schaipp_split``'s rules, for the table.
RULE_LABEL = {"constant + shortest cosine": "const+cos", "constant + longest cooldown": "const+cool",
              "two shortest cosines": "two cos"}


def schaipp() -> dict[str, Any]:
    """Section 2: the Schaipp curves, split per group as ``curve_fit.run_schaipp``; predicted final train loss vs
    the smoothed measured one."""
    from curve_fit import SCHAIPP, schaipp_load, schaipp_split, smoothed_final

    if not SCHAIPP.is_dir():
        print(f"Schaipp reference data not found at {SCHAIPP}; section skipped", file=sys.stderr)
        return {}
    t_all = time.perf_counter()
    groups, excluded = schaipp_load()
    per_run, group_rows = [], []
    for key, members in sorted(groups.items()):
        gname = f"{key[0]} L{key[1]} d{key[2]} h{key[3]} bs{key[4]}x{key[5]} lr{key[6]}"
        train, test, rule = schaipp_split(members)
        if not test:
            continue
        for law in LAWS:
            res, wall = fit_with_cv([m["run"] for m in train], law)
            recs = []
            for m in test:
                run = m["run"]
                rec = interval_record(res, run, smoothed_final(run))
                assert rec["step"] == int(run.steps[run.observed][-1]), (run.path, rec["step"])
                recs.append({"law": law, "group": gname, "run": m["row"]["name"], "kind": m["kind"], **rec})
            per_run.extend(recs)
            info = law_error_info(res)
            s = summarize(recs)
            group_rows.append({"law": law, "group": gname, "rule": rule, "train": [m["row"]["name"] for m in train],
                               "n": len(recs), "default_covered_0.9": s["default_covered_0.9"],
                               "defraw_covered_0.9": s["defraw_covered_0.9"], "cv_covered_0.9": s["cv_covered_0.9"],
                               "raw_covered_0.9": s["raw_covered_0.9"],
                               "noise_covered_0.9": s["noise_covered_0.9"], **info, "fit_seconds": wall})
            scale = "-" if info["scale"] is None else f"{info['scale']:.4f}"
            print(f"[{gname}] {law:<6} {len(recs):>3} held out  default 90% {s['default_covered_0.9']:>3}  cv 90% "
                  f"{s['cv_covered_0.9']:>3}  raw 90% "
                  f"{s['raw_covered_0.9']:>3}  noise 90% {s['noise_covered_0.9']:>3}  scale {scale}  folds "
                  f"{info['fold_errors']} skipped "
                  f"{len(info['skipped'])}  {wall:.1f} s", flush=True)
    summary: dict[str, Any] = {}
    print(f"\nSchaipp: {HEADER}")
    for law in LAWS:
        mine = [r for r in per_run if r["law"] == law]
        g = [r for r in group_rows if r["law"] == law]
        summary[law] = {**summarize(mine), "fit_seconds": float(sum(r["fit_seconds"] for r in g)),
                        "groups": len(g), "groups_without_law_error": sum(r["scale"] is None for r in g),
                        "scale_median": float(np.median([r["scale"] for r in g if r["scale"] is not None])),
                        "by_kind": {}}
        print_row(f"{law} all", summary[law])
        for kind in ("full", "segment"):
            sk = summarize([r for r in mine if r["kind"] == kind])
            summary[law]["by_kind"][kind] = sk
            if sk["n"]:
                print_row(f"{law} {kind}", sk)
        rule_of = {r["group"]: r["rule"] for r in g}
        summary[law]["by_rule"] = {}
        for rule in sorted(set(rule_of.values())):
            sr = summarize([r for r in mine if rule_of[r["group"]] == rule])
            summary[law]["by_rule"][rule] = sr
            print_row(f"{law} {RULE_LABEL.get(rule.split(' (')[0], rule)}", sr)
    # does the smaller law-error scale pick the better law per group? (mean abs error of the final train loss)
    scale = {(r["group"], r["law"]): r["scale"] for r in group_rows}
    errs: dict[tuple[str, str], dict[str, float]] = {}
    for r in per_run:
        errs.setdefault((r["group"], r["run"]), {})[r["law"]] = r["abs_error"]
    both = {k: v for k, v in errs.items() if len(v) == len(LAWS) and all(scale[(k[0], law)] is not None
                                                                            for law in LAWS)}
    pick = {k: min(LAWS, key=lambda law: scale[(k[0], law)]) for k in both}
    selection = {"runs": len(both), "by_smaller_scale": float(np.mean([both[k][pick[k]] for k in both])),
                 **{f"always_{law}": float(np.mean([v[law] for v in both.values()])) for law in LAWS},
                 "oracle": float(np.mean([min(v.values()) for v in both.values()]))}
    print("choosing the law per group by the smaller law-error scale: mean abs error "
          f"{selection['by_smaller_scale']:.4f} over {selection['runs']} runs ("
          + ", ".join(f"always {law} {selection[f'always_{law}']:.4f}" for law in LAWS)
          + f", per-run oracle {selection['oracle']:.4f})")
    wall = time.perf_counter() - t_all
    print(f"Schaipp section {wall:.0f} s ({len(excluded)} files excluded, as in curve_fit.py)")
    return {"summary": summary, "groups": group_rows, "per_run": per_run, "excluded": excluded,
            "law_choice": selection, "section_seconds": wall}


def simulation(seeds: int) -> dict[str, Any]:
    """Section 3: curves simulated from the law itself (iid noise), held-out WSD final."""
    from interval_coverage import PEAK, SD, TRUTH, WARMUP, T, simulate

    from scalefit import schedules
    from scalefit.laws import get_law

    held = schedules.wsd(PEAK, T, warmup=WARMUP, decay=0.2, final=0.0)
    rows = []
    print(f"\nSimulation: {HEADER}")
    for law in LAWS:
        truth = float(get_law(law).predict(TRUTH[law], held, warmup=WARMUP, at=[T - 1])[0])
        recs, scales, raws, walls, nfolds = [], [], [], [], []
        for r in range(seeds):
            runs = simulate(law, 0.0, 10_000 * (law == "mpl") + r)
            res, wall = fit_with_cv(runs, law)
            walls.append(wall)
            info = law_error_info(res)
            scales.append(info["scale"])
            raws.append(info["raw_scale"])
            nfolds.append(info["fold_errors"])
            recs.append({"seed": r, **interval_record(res, held, truth, at=np.array([T - 1]), warmup=WARMUP)})
        ok = [s for s in scales if s is not None]
        hw_cv = np.array([x["cv_0.9"]["half_width"] for x in recs])
        hw_n = np.array([x["noise_0.9"]["half_width"] for x in recs])
        row = {"law": law, **summarize(recs), "scale_median": float(np.median(ok)) if ok else None,
               "raw_scale_median": float(np.median([x for x in raws if x is not None])) if ok else None,
               "scale_zero": sum(x == 0 for x in ok),
               "scale_max": float(max(ok)) if ok else None, "without_law_error": len(scales) - len(ok),
               "half_width_ratio_median": float(np.median(hw_cv / hw_n)), "fit_seconds": float(sum(walls)),
               "truth": truth, "per_seed": recs, "scales": scales, "fold_errors": nfolds}
        rows.append(row)
        print_row(f"{law} sim", {**row, "scale": row["scale_median"], "raw_scale": row["raw_scale_median"],
                                 "fold_errors": int(np.median(nfolds))})
    for row in rows:
        print(f"  {row['law']}: cv half-width / noise-only half-width, median {row['half_width_ratio_median']:.2f}; "
              f"law-error scale median {row['scale_median']:.4f} (raw {row['raw_scale_median']:.4f}; 0 in "
              f"{row['scale_zero']} of {len(row['scales'])} seeds; noise sd {SD:g} per row)")
    return {"setup": {"steps": T, "warmup": WARMUP, "peak": PEAK, "noise_sd": SD, "noise": "iid log-normal",
                      "train": ["constant", "cosine to peak/10"], "held_out": "wsd decay 0.2 to 0, final step",
                      "truth": TRUTH, "seeds": seeds}, "rows": rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=20, help="simulated repetitions per law (default 20)")
    ap.add_argument("--no-mpl", action="store_true", help="skip the MPL reference section")
    ap.add_argument("--no-schaipp", action="store_true", help="skip the Schaipp section")
    ap.add_argument("--no-sim", action="store_true", help="skip the simulation section")
    args = ap.parse_args()
    t0 = time.perf_counter()
    print(f"nominal levels {', '.join(f'{q:.0%}' for q in LEVELS)}; hw = mean (and median) half-width of the "
          f"90% interval; scale = relative law error (cv)")
    out: dict[str, Any] = {"benchmark": "law_error", "machine": machine(), "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                           "command": "python benchmarks/law_error.py " + " ".join(sys.argv[1:]),
                           "levels": list(LEVELS), "laws": list(LAWS)}
    if not args.no_mpl:
        from curve_fit import REF

        if REF.is_dir():
            print(f"\nMPL reference: {HEADER}")
            out["mpl_reference"] = mpl_reference()
        else:
            print(f"MPL reference data not found at {REF}; section skipped", file=sys.stderr)
    if not args.no_schaipp:
        out["schaipp"] = schaipp()
    if not args.no_sim:
        out["simulation"] = simulation(args.seeds)
    out["seconds"] = time.perf_counter() - t0
    path = write_text(HERE / "results" / "law_error.json", json.dumps(out, indent=1, default=float) + "\n")
    print(f"wrote {path} ({out['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
