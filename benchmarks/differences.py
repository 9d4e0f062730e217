"""Benchmark: do the intervals of *differences* between predictions (``scalefit.results.difference``) cover the
held-out truth, and how much narrower are they than the intervals of single predictions?

For each setting the law is fitted on training runs with ``law_error=True`` (default options, warnings suppressed);
every held-out run and the baseline (the training cosine) are predicted at their last observed step. The truth of
a difference is the observed final loss of the held-out run minus the baseline's observed final loss (a
de-noised final for the noisy Schaipp train loss, as in ``curve_fit.py``). Reported per law: coverage of the 90%
interval of the difference and of the single prediction, their mean half-widths and mean |errors|, and the law
error's unshared share ``f`` (``scalefit/results/difference.py``; the raw within-fold estimate and the shrunk one
the intervals use, medians over fits; and how many fits had no pair of runs in a fold to measure it, whose
differences carry both law errors in full).

Settings:
  1. MPL reference curves (``../shared/reference/curves/mpl``), 25M and 100M, protocol (a) of ``curve_fit.py``:
     train cosine_24000 + constant_24000, test the other 7; baseline cosine_24000.
  2. Schaipp train curves (groups and splits of ``curve_fit.run_schaipp``); baseline the training cosine (or the
     group's second training run).

Usage: python benchmarks/differences.py [--no-schaipp]   (writes benchmarks/results/differences.json)
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
from curve_fit import PROTOCOLS, SCHEDULES, load, schaipp_load, schaipp_split, smoothed_final  # noqa: E402

from scalefit.fitting import fit  # noqa: E402
from scalefit.jsonio import write_text  # noqa: E402
from scalefit.results.difference import PRIOR_DOF, difference, unshared_fraction  # noqa: E402

LAWS = ("mpl", "tissue")
INTERVAL = 0.9


def final_prediction(res: Any, run: Any) -> Any:
    """The prediction of ``run`` at its last observed step."""
    last = run.index[run.observed][-1:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return res.predict(run, at=last, interval=INTERVAL)


def setting(name: str, train: list[Any], test: list[Any], base: Any, truth: dict[int, float], law: str) -> dict:
    """Fit ``law`` on ``train``; for each test run, the single and the difference interval vs the truth."""
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit(train, law, law_error=True)
    seconds = time.perf_counter() - t0
    out: dict[str, Any] = {"setting": name, "law": law, "status": res.status.value, "seconds": seconds, "rows": []}
    if res.law_error is None:
        out["skipped"] = "no law error measured"
        return out
    f, dof = unshared_fraction(res)
    out["unshared"], out["dof"] = f, dof
    out["unshared_raw"] = None if dof == 0 else (f * dof - PRIOR_DOF) / (dof - PRIOR_DOF)
    pb = final_prediction(res, base)
    for run in test:
        pa = final_prediction(res, run)
        d = difference(res, pa, pb)
        true_d = truth[id(run)] - truth[id(base)]
        out["rows"].append({
            "run": run.path, "truth": truth[id(run)], "pred": pa.final_loss,
            "single_inside": bool(pa.lower[-1] <= truth[id(run)] <= pa.upper[-1]),
            "single_half": float(pa.upper[-1] - pa.lower[-1]) / 2,
            "diff_truth": true_d, "diff_pred": d.final,
            "diff_inside": bool(d.final_lower <= true_d <= d.final_upper),
            "diff_half": (d.final_upper - d.final_lower) / 2,
        })
    return out


def summary(records: list[dict]) -> dict[str, Any]:
    rows = [r for rec in records for r in rec["rows"]]
    if not rows:
        return {"n": 0}
    return {
        "n": len(rows),
        "single_inside": sum(r["single_inside"] for r in rows),
        "diff_inside": sum(r["diff_inside"] for r in rows),
        "single_half_mean": float(np.mean([r["single_half"] for r in rows])),
        "diff_half_mean": float(np.mean([r["diff_half"] for r in rows])),
        "diff_abs_err_mean": float(np.mean([abs(r["diff_pred"] - r["diff_truth"]) for r in rows])),
        "single_abs_err_mean": float(np.mean([abs(r["pred"] - r["truth"]) for r in rows])),
        "unshared_median": float(np.median([rec["unshared"] for rec in records if "unshared" in rec])),
        "raw_median": float(np.median([rec["unshared_raw"] for rec in records
                                       if rec.get("unshared_raw") is not None] or [np.nan])),
        "unmeasured": sum(1 for rec in records if rec.get("dof") == 0),
    }


def mpl_section() -> list[dict]:
    records = []
    for size in ("25M", "100M"):
        train_names = PROTOCOLS["a"]
        train = load(size, train_names)
        test = load(size, [s for s in SCHEDULES if s not in train_names])
        truth = {id(r): float(r.loss[r.observed][-1]) for r in train + test}
        for law in LAWS:
            records.append(setting(f"mpl {size} (a)", train, test, train[0], truth, law))
    return records


def schaipp_section() -> list[dict]:
    groups, _ = schaipp_load()
    records = []
    for key, members in sorted(groups.items()):
        train, test, rule = schaipp_split(members)
        if not train or not test:
            continue
        runs = [m["run"] for m in train + test]
        truth = {id(r): smoothed_final(r) for r in runs}
        base = train[1]["run"]  # the cosine (or the second training run)
        for law in LAWS:
            records.append(setting(f"schaipp {'/'.join(key)}", [m["run"] for m in train], [m["run"] for m in test],
                                   base, truth, law))
    return records


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-schaipp", action="store_true")
    args = ap.parse_args()
    sections = {"mpl": mpl_section()}
    if not args.no_schaipp:
        sections["schaipp"] = schaipp_section()
    result: dict[str, Any] = {"machine": machine(), "interval": INTERVAL, "sections": {}}
    print(f"{'section':<8} {'law':<7} {'n':>4} {'single in':>9} {'diff in':>8} {'single half':>11} "
          f"{'diff half':>9} {'|1 err|':>8} {'|d err|':>8} {'f raw':>6} {'f':>5} {'no f':>5}")
    for name, records in sections.items():
        result["sections"][name] = {"records": records, "summary": {}}
        for law in LAWS:
            s = summary([r for r in records if r["law"] == law])
            result["sections"][name]["summary"][law] = s
            if s["n"]:
                print(f"{name:<8} {law:<7} {s['n']:>4} {s['single_inside']:>9} {s['diff_inside']:>8} "
                      f"{s['single_half_mean']:>11.4f} {s['diff_half_mean']:>9.4f} {s['single_abs_err_mean']:>8.4f} "
                      f"{s['diff_abs_err_mean']:>8.4f} {s['raw_median']:>6.2f} {s['unshared_median']:>5.2f} "
                      f"{s['unmeasured']:>5}")
    path = HERE / "results" / "differences.json"
    write_text(path, json.dumps(result, indent=1, default=float) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
