"""Benchmark: choose the strength of MPL's default shape prior on data that is not the MPL test curves.

Why: two training curves (constant + cosine) leave MPL's loss-drop shape (C, beta, gamma) undetermined
(``benchmarks/identifiability.py``): the minimiser of the fit objective runs to the bounds (beta -> 0.01,
gamma -> 1) and predicts long or unseen schedules badly. The official MPL code does better only because its
AdamW stops after ~90 steps near its starting point C = 1, beta = gamma = 0.5, and early stopping of gradient
descent acts like a quadratic penalty towards the start (Sjoeberg & Ljung 1995; Bishop 1995). scalefit makes
that regulariser explicit and deterministic: a Gaussian prior on log C, log beta, log gamma centred on the
official starting point (:data:`CENTRE`), with one standard deviation ``sd`` for all three.

Protocol (no MPL test curve chooses anything):
  1. **Selection on the Schaipp curves** (``../shared/reference/curves/schaipp``, 124M-class GPTs, another code
     base, other LRs and lengths): for each sd in :data:`SDS`, the Schaipp section of ``curve_fit.py`` (per config
     group: fit the constant + shortest cosine, predict the final validation loss of 111 held-out runs). The
     chosen sd is the *weakest* prior (largest sd) whose mean absolute error is within one paired standard error
     of the lowest.
  2. **Out-of-sample check on the MPL reference curves** (25M, 100M; protocols a and b of ``curve_fit.py``)
     and on the bundled runs (``data/runs/curves``: fit constant + cosine per size, predict the others), with the
     same sds, reported next to the official code's figures. Also a cross-size selection on the MPL curves
     (choose the sd on one size's test curves, read the other size), which must agree with step 1.

Diagnosis only (``--shape-grid``, not used to choose anything): the MPL reference metrics with (C, beta, gamma)
*fixed* on a 5 x 3 x 4 grid, to see how far any shape could take them.

Also (``--centres``): the prior's centre, chosen on the Schaipp curves like the sd: the official start against the
paper's fitted beta ~0.59, gamma ~0.63.

``--spread`` measures the real spread of the shape (issue 14, item 2): the published fits' log distance from the
centre, and fits without a prior on every reference data set (do the data themselves determine the shape?); then
the held-out accuracy of a prior with that spread as a point predictor (:mod:`scalefit.shape_uncertainty`).

``--schaipp-resumed`` repeats step 1 on the Schaipp files read with ``--resumed`` (137 held-out runs, not 111).

Usage: python benchmarks/mpl_prior.py [--no-schaipp] [--no-mpl] [--no-bundled] [--shape-grid] [--centres]
       [--spread] [--schaipp-resumed]
(writes benchmarks/results/mpl_prior.json)
"""

from __future__ import annotations

import argparse
import contextlib
import io
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

#: The official MPL code's starting point (the issue's measurement: its AdamW stops ~90 steps from here).
CENTRE = {"C": 1.0, "beta": 0.5, "gamma": 0.5}
#: Centres compared by ``--centres``: the official start, and the paper's fitted beta and gamma.
CANDIDATE_CENTRES = {"official start": CENTRE, "paper fits": {"C": 1.0, "beta": 0.59, "gamma": 0.63}}
#: Prior standard deviations on log C, log beta, log gamma; None = no prior.
SDS: list[float | None] = [None, 1.0, 0.3, 0.1, 0.03, 0.01]


def prior_of(sd: float | None) -> dict[str, tuple[float, float]]:
    return {} if sd is None else {n: (c, sd) for n, c in CENTRE.items()}


def label(sd: float | None) -> str:
    return "none" if sd is None else f"sd {sd:g}"


def schaipp(sds: list[float | None], resumed: bool = False) -> dict[str, Any]:
    """Step 1: the Schaipp selection (``resumed``: the files read as ``--resumed`` does, 137 held-out runs)."""
    import curve_fit

    out: dict[str, Any] = {"rows": [], "per_run": {}}
    for sd in sds:
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            res = curve_fit.run_schaipp(["mpl"], {"prior": prior_of(sd)}, resumed=resumed)
        errs = {r["run"]: abs(r["laws"]["mpl"]["val_err"]) for r in res["runs"]
                if np.isfinite(r["laws"]["mpl"]["val_err"])}
        s = res["summary"]["mpl"]
        out["per_run"][label(sd)] = errs
        out["rows"].append({"sd": sd, "held_out_runs": s["held_out_runs"], "val_abs_err_mean": s["val_abs_err_mean"],
                            "val_abs_err_median": s["val_abs_err_median"], "val_abs_err_max": s["val_abs_err_max"],
                            "fit_seconds_total": s["fit_seconds_total"], "wall": time.perf_counter() - t0})
        print(f"schaipp{'-resumed' if resumed else ''}  {label(sd):<8} runs {s['held_out_runs']}  "
              f"|dVal| mean {s['val_abs_err_mean']:.4f}  median "
              f"{s['val_abs_err_median']:.4f}  max {s['val_abs_err_max']:.4f}  fits {s['fit_seconds_total']:.1f} s",
              flush=True)
    # selection: the largest sd within one paired SE of the best mean
    means = {r["sd"]: r["val_abs_err_mean"] for r in out["rows"]}
    best = min(means, key=lambda k: means[k])
    runs = sorted(out["per_run"][label(best)])
    b = np.array([out["per_run"][label(best)][r] for r in runs])
    within = []
    for r in out["rows"]:
        e = np.array([out["per_run"][label(r["sd"])].get(k, np.nan) for k in runs])
        d = e - b
        se = float(np.nanstd(d, ddof=1) / np.sqrt(np.isfinite(d).sum())) if r["sd"] != best else 0.0
        r["diff_vs_best"], r["paired_se"] = float(np.nanmean(d)), se
        if r["sd"] is not None and r["diff_vs_best"] <= se:
            within.append(r["sd"])
    out["best_sd"] = best
    out["chosen_sd"] = max(within) if within else best
    print(f"schaipp: lowest mean at {label(best)}; chosen (largest sd within one paired SE): "
          f"{label(out['chosen_sd'])}", flush=True)
    return out


def centres() -> list[dict[str, Any]]:
    """The prior's centre, chosen the same way as its sd: on the Schaipp curves; the MPL curves read out of sample.

    Candidates: the official code's start (:data:`CENTRE`) and the paper's fitted shape (beta ~0.59, gamma ~0.63 at
    every size, C kept at 1: the paper's C is not given), each at sd 0.01 and 0.03.
    """
    data = reference_data()
    rows = []
    for name, centre in CANDIDATE_CENTRES.items():
        for sd in (0.01, 0.03):
            prior = {n: (c, sd) for n, c in centre.items()}
            row: dict[str, Any] = {"centre": name, "values": centre, "sd": sd, **prior_accuracy(prior, data)}
            rows.append(row)
            ref = "  ".join(f"{k} {v['r2']:.5f}/{v['pred_e']:.5f}" for k, v in row["mpl_reference"].items())
            print(f"centre {name:<15} sd {sd:<5g} schaipp |dVal| {row['schaipp_val_abs_err_mean']:.4f} "
                  f"(n={row['schaipp_runs']})  mpl-ref R2/PredE {ref}", flush=True)
    return rows


def prior_accuracy(prior: dict[str, tuple[float, float]], data: dict) -> dict[str, Any]:
    """Held-out accuracy of MPL fits with ``prior``: the Schaipp selection's mean abs error of the final val loss, and
    R2 / PredE / WorstE on each MPL reference setting of ``data`` (:func:`reference_data`)."""
    import curve_fit

    from scalefit.fitting import evaluate

    with contextlib.redirect_stdout(io.StringIO()):
        res = curve_fit.run_schaipp(["mpl"], {"prior": prior})
    errs = [abs(r["laws"]["mpl"]["val_err"]) for r in res["runs"] if np.isfinite(r["laws"]["mpl"]["val_err"])]
    out: dict[str, Any] = {"schaipp_runs": len(errs), "schaipp_val_abs_err_mean": float(np.mean(errs)),
                           "mpl_reference": {}}
    for (size, proto), (train, test) in data.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = evaluate(train, test, "mpl", prior=prior, law_error=False).mean
        out["mpl_reference"][f"{size} {proto}"] = {k: m[k] for k in ("r2", "pred_e", "worst_e")}
    return out


def reference_data() -> dict[tuple[str, str], tuple[list, list]]:
    """``(size, protocol) -> (train runs, test runs)`` of the MPL reference curves (``curve_fit.py``'s protocols)."""
    from curve_fit import PROTOCOLS, SCHEDULES, load

    def split(size: str, proto: str) -> tuple[list, list]:
        train = PROTOCOLS[proto]
        return load(size, train), load(size, [s for s in SCHEDULES if s not in train])

    return {(size, proto): split(size, proto) for size in ("25M", "100M") for proto in ("a", "b")}


def mpl_reference(sds: list[float | None]) -> list[dict[str, Any]]:
    from curve_fit import TARGETS

    from scalefit.fitting import evaluate

    rows = []
    data = reference_data()
    for sd in sds:
        for (size, proto), (train, test) in data.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ev = evaluate(train, test, "mpl", prior=prior_of(sd), law_error=False)
            m = ev.mean
            t = TARGETS[(proto, size)]
            rows.append({"sd": sd, "size": size, "protocol": proto, **m, "fit_seconds": ev.fit.fit_seconds,
                         "status": ev.fit.status.value, "params": ev.fit.values, "official": t,
                         "beats_official": {k: (m[k] > t[k]) if k == "r2" else (m[k] < t[k])
                                            for k in ("r2", "pred_e", "worst_e")}})
            print(f"mpl-ref  {label(sd):<8} {size:>4} ({proto})  R2 {m['r2']:.5f}  PredE {m['pred_e']:.5f}  WorstE "
                  f"{m['worst_e']:.5f}  fit {ev.fit.fit_seconds:.2f} s  official {t['r2']:.5f} / {t['pred_e']:.5f} / "
                  f"{t['worst_e']:.5f}", flush=True)
    return rows


def cross_size(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Choose the sd on one size's test curves (mean PredE over both protocols), report the other size."""
    out = {}
    for pick, other in (("100M", "25M"), ("25M", "100M")):
        score = {}
        for r in rows:
            if r["size"] == pick:
                score.setdefault(label(r["sd"]), []).append(r["pred_e"])
        best = min(score, key=lambda k: np.mean(score[k]))
        got = [r for r in rows if r["size"] == other and label(r["sd"]) == best]
        out[f"chosen_on_{pick}"] = {"sd": best, "report_on": other,
                                    "pred_e": {r["protocol"]: r["pred_e"] for r in got},
                                    "r2": {r["protocol"]: r["r2"] for r in got}}
        print(f"cross-size: chosen on {pick} -> {best}; on {other}: " + ", ".join(
            f"({r['protocol']}) R2 {r['r2']:.5f} PredE {r['pred_e']:.5f}" for r in got), flush=True)
    return out


def bundled(sds: list[float | None]) -> list[dict[str, Any]]:
    from scalefit.fitting import evaluate
    from scalefit.readers import read_runs

    from bundled_fit import curve_sets

    rows = []
    for size, train, test in curve_sets():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tr = read_runs([str(p) for p in train], target="val_loss")
            te = read_runs([str(p) for p in test], target="val_loss")
            for sd in sds:
                ev = evaluate(tr, te, "mpl", prior=prior_of(sd), law_error=False)
                m = ev.mean
                rows.append({"sd": sd, "size": size, **m, "fit_seconds": ev.fit.fit_seconds,
                             "params": ev.fit.values, "test": [p.name for p in test]})
                print(f"bundled  {label(sd):<8} {size:>4}  held-out R2 {m['r2']:.4f}  PredE {m['pred_e']:.4f}  "
                      f"WorstE {m['worst_e']:.4f}", flush=True)
    return rows


def shape_grid() -> dict[str, Any]:
    """Diagnosis: MPL reference metrics with the shape fixed on a grid (never used to choose the default)."""
    import itertools

    from scalefit.fitting import evaluate

    data = {f"{size}{proto}": runs for (size, proto), runs in reference_data().items()}
    rows = []
    for C, beta, gamma in itertools.product([0.5, 1, 2, 4, 8], [0.3, 0.5, 0.7], [0.4, 0.5, 0.6, 0.7]):
        row: dict[str, Any] = {"C": C, "beta": beta, "gamma": gamma}
        for key, (train, test) in data.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ev = evaluate(train, test, "mpl", fixed={"C": C, "beta": beta, "gamma": gamma}, n_starts=8,
                              law_error=False)
            row[key] = {k: ev.mean[k] for k in ("r2", "pred_e", "worst_e")}
        rows.append(row)
    best = {key: {"max_r2": max(r[key]["r2"] for r in rows), "min_pred_e": min(r[key]["pred_e"] for r in rows)}
            for key in data}
    for key, b in best.items():
        print(f"shape grid {key}: best R2 {b['max_r2']:.5f}, best PredE {b['min_pred_e']:.5f} over {len(rows)} shapes")
    # the ceiling: the default fit on all nine curves of a size (test curves included), scored on protocol a's test
    oracle = {}
    for size in ("25M", "100M"):
        train, test = reference_data()[(size, "a")]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ev = evaluate(train + test, test, "mpl", law_error=False)
        oracle[size] = {"metrics": {k: ev.mean[k] for k in ("r2", "pred_e", "worst_e")}, "params": ev.fit.values}
        print(f"oracle {size} (fit on all 9 curves, default prior): R2 {ev.mean['r2']:.5f}  PredE "
              f"{ev.mean['pred_e']:.5f}  B {ev.fit.values['B']:.0f}  gamma {ev.fit.values['gamma']:.3f}")
    return {"rows": rows, "best": best, "oracle": oracle}


#: The published MPL fits (the MPL repository's README, "Best Parameters", all nine curves of a size).
PUBLISHED_SHAPES = {"25M": {"C": 2.066, "beta": 0.583, "gamma": 0.641}, "100M": {"C": 2.132, "beta": 0.598,
                                                                                 "gamma": 0.655}}


def shape_row(label: str, res: Any) -> dict[str, Any]:
    """A data-only fit's shape: values, stderr, bounds hit, and whether the data determine it (every shape
    parameter inside its bounds with a relative stderr under 0.5)."""
    row: dict[str, Any] = {"data": label, "status": res.status.value}
    for n in CENTRE:
        p = res.params[n]
        row[n] = {"value": p.value, "stderr": p.stderr, "at_bound": p.at_bound, "log_dev": float(np.log(p.value
                                                                                                     / CENTRE[n]))}
    row["determined"] = all(res.params[n].at_bound == 0 and np.isfinite(res.params[n].stderr)
                            and res.params[n].rel_stderr < 0.5 for n in CENTRE)
    print(f"{label:<44} " + "  ".join(f"{n} {row[n]['value']:8.3g} +- {row[n]['stderr']:<8.2g}"
                                      f"{'(bound)' if row[n]['at_bound'] else '       '}" for n in CENTRE)
          + f"  {'determined' if row['determined'] else 'not determined'}", flush=True)
    return row


def spread() -> dict[str, Any]:
    """The real spread of MPL's shape: the published fits' distance from the prior's centre, and data-only fits
    (``prior={}``) on every reference data set, to see whether the data themselves can measure it."""
    import curve_fit
    from bundled_fit import curve_sets

    from scalefit.fitting import fit
    from scalefit.readers import read_runs

    t0 = time.perf_counter()
    published = {size: {n: {"value": v, "log_dev": float(np.log(v / CENTRE[n]))} for n, v in s.items()}
                 for size, s in PUBLISHED_SHAPES.items()}
    rms = {n: float(np.sqrt(np.mean([published[s][n]["log_dev"] ** 2 for s in published]))) for n in CENTRE}
    for size, s in published.items():
        print(f"published {size:<34} " + "  ".join(f"{n} {s[n]['value']:.3f} (log dev {s[n]['log_dev']:+.3f})"
                                                   for n in CENTRE))
    print("RMS log distance from the centre (the measured spread): "
          + ", ".join(f"{n} {v:.3f}" for n, v in rms.items()), flush=True)
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for size in ("25M", "100M"):
            rows.append(shape_row(f"MPL {size} all nine curves", fit(curve_fit.load(size, curve_fit.SCHEDULES),
                                                                       "mpl", prior={}, law_error=False)))
            for proto, names in curve_fit.PROTOCOLS.items():
                rows.append(shape_row(f"MPL {size} protocol {proto} training curves",
                                      fit(curve_fit.load(size, names), "mpl", prior={}, law_error=False)))
        if curve_fit.SCHAIPP.is_dir():
            groups, _ = curve_fit.schaipp_load()
            for key, members in sorted(groups.items()):
                if len(members) >= 3:
                    rows.append(shape_row(f"Schaipp {key[0][:10]} L{key[1]} lr{key[6]} ({len(members)} runs)",
                                          fit([m["run"] for m in members], "mpl", prior={}, law_error=False)))
        for size, train, test in curve_sets():
            runs = read_runs([str(p) for p in train + test], target="val_loss")
            rows.append(shape_row(f"bundled {size} val_loss ({len(runs)} runs)",
                                  fit(runs, "mpl", prior={}, law_error=False)))
    determined = [r for r in rows if r["determined"]]
    print(f"data-only fits that determine the shape: {len(determined)} of {len(rows)}")
    return {"centre": CENTRE, "published": published, "published_rms_log_dev": rms, "data_only_fits": rows,
            "determined": len(determined), "seconds": time.perf_counter() - t0}


def spread_accuracy() -> dict[str, Any]:
    """Held-out accuracy of the spread prior (:data:`scalefit.shape_uncertainty.SHAPE_SPREAD`) as a point
    predictor, against the default prior: the Schaipp selection's error and the MPL reference PredE, as above."""
    from scalefit.fitting import DEFAULT_PRIORS
    from scalefit.shape_uncertainty import spread_prior

    priors = {"default (sd 0.01)": DEFAULT_PRIORS["mpl"], "spread": spread_prior("mpl", DEFAULT_PRIORS["mpl"])}
    data = reference_data()
    out = []
    for name, prior in priors.items():
        row: dict[str, Any] = {"prior": name, "values": prior, **prior_accuracy(prior, data)}
        row["mpl_reference_mean_pred_e"] = float(np.mean([v["pred_e"] for v in row["mpl_reference"].values()]))
        out.append(row)
        print(f"prior {name:<18} Schaipp |dVal| {row['schaipp_val_abs_err_mean']:.4f} (n={row['schaipp_runs']})  MPL ref "
              f"mean PredE {row['mpl_reference_mean_pred_e']:.5f}  "
              + "  ".join(f"{k} {v['pred_e']:.5f}" for k, v in row["mpl_reference"].items()), flush=True)
    return {"rows": out}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-schaipp", action="store_true")
    ap.add_argument("--no-mpl", action="store_true")
    ap.add_argument("--no-bundled", action="store_true")
    ap.add_argument("--shape-grid", action="store_true")
    ap.add_argument("--centres", action="store_true", help="also compare prior centres (official start, paper fits)")
    ap.add_argument("--spread", action="store_true",
                    help="the measured spread of the shape, and the spread prior's held-out accuracy (key 'spread')")
    ap.add_argument("--schaipp-resumed", action="store_true",
                    help="also run the Schaipp selection on the files read with --resumed (key 'schaipp_resumed')")
    args = ap.parse_args()
    out: dict[str, Any] = {"benchmark": "mpl_prior", "machine": machine(), "centre": CENTRE, "sds": SDS,
                           "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if not args.no_schaipp:
        out["schaipp"] = schaipp(SDS)
    if not args.no_mpl:
        out["mpl_reference"] = mpl_reference(SDS)
        out["cross_size"] = cross_size(out["mpl_reference"])
    if not args.no_bundled:
        out["bundled"] = bundled(SDS)
    if args.shape_grid:
        out["shape_grid"] = shape_grid()
    if args.centres:
        out["centres"] = centres()
    if args.spread:
        out["spread"] = {"command": "python benchmarks/mpl_prior.py " + " ".join(sys.argv[1:]), **spread(),
                         "accuracy": spread_accuracy()}
    if args.schaipp_resumed:
        out["schaipp_resumed"] = schaipp(SDS, resumed=True)
    path = HERE / "results" / "mpl_prior.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    old.update(out)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(old, indent=1, default=float) + "\n")
    tmp.replace(path)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
