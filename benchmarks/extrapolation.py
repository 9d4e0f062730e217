"""Benchmark: predictions beyond the fitted runs (issue 16), on ``../shared/reference`` data only.

Sections (``--sections``, default all; each run updates its part of ``benchmarks/results/extrapolation.json``):

* ``published``: MPL's published 25M/100M parameters in the official convention on all nine curves of a size (R2
  pooled over the rows at or after step 2160), and scalefit's own fit of the nine curves against them (in stderr).
* ``sizes``: across model sizes. Schaipp et al. runs (validation loss, ``_extrap_data.py``), the scaling set (the
  runs without a decay-type suffix: per size a cosine group at 3 horizons and a constant run with cooldowns), in
  setups of one dataset, batch and base LRs: leave one size out (every fold; "up" = the held-out size is larger
  than every fitted one, "down" smaller, "inside" between) and the two smallest sizes predicting the third ("2
  sizes": the prior sets the size exponents). The reference row of a target size is its in-size fit: each of its
  runs predicted by ``mpl`` fitted on the other runs of that size. Then the size steps that also change the base LR
  (stress rows), and MPL 25M -> 100M from the 25M constant + cosine curves. Laws: ``mpl`` (size-blind, the default
  before issue 16, fitted with ``allow_mixed_sizes=True``; intervals = its cross-validated law error) and the
  size-aware ``mpl-n`` / ``tissue-n`` (intervals from size folds, :mod:`scalefit.extrapolation`). The earlier
  ``tissue-n`` (``L0 + A S1^-alpha + B N^-beta - C S2 N^gamma``) is gone from the code; its figures stay in
  ``benchmarks/RESULTS.md`` as history.
* ``horizons``: fit the shortest horizon of each Schaipp model/LR group (a cosine alone; or the constant run up to
  the shortest cooldown's end plus that cooldown), predict the longer ones; MPL 24K -> 72K (constant + cosine 24K
  predicting both 72K curves). Today's laws with their law-error intervals, and with horizon-fold intervals.
* ``inflight``: forecasts of every full run (18 MPL curves, the Schaipp full runs) from 30 %, 50 % and 70 % of its
  observed span (:func:`scalefit.forecast.forecast`, alone and with ``like`` = the other runs of its setup), against
  today's way (``fit`` of the partial run, its ``predict`` interval).
* ``rule``: every size and horizon fold error of the sections above against its distance: does the error grow as
  ``scale * (1 + d)``? and the reference scales (medians) behind ``scalefit.extrapolation.REFERENCE_SCALE``.

Errors are ``pred - true`` at a run's last observed row (> 0: the law predicted too high, i.e. under-credited);
relative errors divide by the true loss; coverage is of the central 90 % interval at that row.

Usage: OMP_NUM_THREADS=1 python benchmarks/extrapolation.py [--sections sizes horizons ...] [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _extrap_data import MPL_SCHEDULES, mpl_runs, schaipp_runs, truth  # noqa: E402
from _machine import machine  # noqa: E402

from scalefit.extrapolation import ExtrapolationError, horizon_distance, size_distance  # noqa: E402
from scalefit.fitting.driver import fit_one_for  # noqa: E402
from scalefit.fitting.extrapolation_folds import horizon_folds, size_folds, truncate  # noqa: E402
from scalefit.fitting import fit  # noqa: E402
from scalefit.jsonio import write_text  # noqa: E402
from scalefit.laws.size_terms import distinct_sizes, run_sizes  # noqa: E402
from scalefit.metrics import curve_metrics  # noqa: E402

OUT = HERE / "results" / "extrapolation.json"
LEVEL = 0.9
#: Chinchilla's size term as Besiroglu et al. 2024 refit it (the reference README: A 477.8, a 0.3473, N raw), at
#: N_REF = 1e8: K = 477.8 * 1e8^-0.3473. The one-size "prior" of MPL 25M -> 100M fixes the size terms to it.
CHINCHILLA_K = 477.8 * 1e8 ** -0.3473
CHINCHILLA_A = 0.3473


def quiet(fn: Callable[[], Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()


# ---------------------------------------------------------------------------------------------------------------
# scoring
# ---------------------------------------------------------------------------------------------------------------
def score(pred: np.ndarray, lower: float, upper: float, run: Any) -> dict[str, Any]:
    """Metrics of one predicted curve (at the run's rows after warmup) and its final row's interval."""
    y = run.loss[run.after_warmup]
    m = curve_metrics(y, pred)
    step, true = truth(run)
    p = float(pred[-1])
    return {"r2": m.r2, "pred_e": m.pred_e, "final_true": true, "final_pred": p, "err": p - true,
            "rel_err": (p - true) / true, "lower": float(lower), "upper": float(upper),
            "covered": bool(lower <= true <= upper), "step": step}


def summary(recs: list[dict[str, Any]]) -> dict[str, Any]:
    if not recs:
        return {"n": 0}
    e = np.array([r["err"] for r in recs])
    rel = np.array([r["rel_err"] for r in recs])
    return {"n": len(recs), "r2": float(np.nanmean([r["r2"] for r in recs])),
            "pred_e": float(np.mean([r["pred_e"] for r in recs])), "mean_abs_err": float(np.mean(np.abs(e))),
            "bias": float(np.mean(e)), "median_abs_rel": float(np.median(np.abs(rel))),
            "covered": int(sum(r["covered"] for r in recs)),
            "coverage": float(np.mean([r["covered"] for r in recs]))}


def today_predict(res: Any, run: Any, blind: bool = False) -> tuple[np.ndarray, float, float]:
    """The default prediction of ``run`` and its interval at the last row (``blind``: from its LR alone, so at the
    fitted size: how a size-blind law predicts another size when asked to)."""
    if blind:
        p = quiet(lambda: res.predict(run.lr, warmup=int(run.warmup), at=run.index[run.after_warmup],
                                      interval=LEVEL))
    else:
        p = quiet(lambda: res.predict(run, interval=LEVEL))
    return p.loss, float(p.lower[-1]), float(p.upper[-1])


def extrap_predict(res: Any, run: Any, err: ExtrapolationError, distance: float) -> tuple[np.ndarray, float, float]:
    """A prediction with the covariance band and the extrapolation error at ``distance`` (in quadrature)."""
    p = quiet(lambda: res.predict(run, interval=0.6827, method="covariance"))
    cov_sd = float(p.upper[-1] - p.loss[-1])
    lo, hi = err.bounds(p.loss[-1], cov_sd, distance, LEVEL)
    return p.loss, float(lo), float(hi)


# ---------------------------------------------------------------------------------------------------------------
# published parameters
# ---------------------------------------------------------------------------------------------------------------
PUBLISHED = {"25M": {"L0": 3.040, "A": 0.525, "alpha": 0.508, "B": 363.788, "C": 2.066, "beta": 0.583, "gamma": 0.641},
             "100M": {"L0": 2.651, "A": 0.601, "alpha": 0.453, "B": 437.946, "C": 2.132, "beta": 0.598,
                      "gamma": 0.655}}
PUBLISHED_R2 = {"25M": 0.99883, "100M": 0.99856}


def published() -> dict[str, Any]:
    """R2 of the published parameters (official convention) and scalefit's own fit of the nine curves."""
    from scalefit.laws import get_law

    out: dict[str, Any] = {}
    law = get_law("mpl", variant="official")
    for size, vals in PUBLISHED.items():
        runs = mpl_runs(size)
        y, p = [], []
        for run in runs:
            ok = run.after_warmup & (run.steps >= 2160)
            y.append(run.loss[ok])
            p.append(law.predict(vals, run.lr, warmup=int(run.warmup), at=run.index[ok]))
        yy, pp = np.concatenate(y), np.concatenate(p)
        r2 = 1.0 - float(np.sum((yy - pp) ** 2) / np.sum((yy - yy.mean()) ** 2))
        per_curve = [1.0 - float(np.sum((a - b) ** 2) / np.sum((a - a.mean()) ** 2)) for a, b in zip(y, p)]
        rec: dict[str, Any] = {"r2_pooled": r2, "r2_published": PUBLISHED_R2[size], "r2_mean_per_curve":
                               float(np.mean(per_curve)), "pred_e": [float(np.mean(np.abs(a - b) / a))
                                                                     for a, b in zip(y, p)], "fits": {}}
        for label, prior in (("default prior", None), ("no prior", {})):
            t0 = time.perf_counter()
            res = quiet(lambda: fit(runs, "mpl", variant="official", prior=prior, law_error=False))
            rec["fits"][label] = {
                "seconds": time.perf_counter() - t0, "status": res.status.value,
                "objective": res.objective_value,
                "params": {n: {"value": res.params[n].value, "stderr": res.params[n].stderr, "published": vals[n],
                               "z": (vals[n] - res.params[n].value) / res.params[n].stderr
                               if res.params[n].stderr > 0 else None} for n in res.param_order},
                "residual_rho": res.residual_rho}
        out[size] = rec
        print(f"published {size}: pooled R2 {r2:.5f} (README {PUBLISHED_R2[size]}), mean per-curve R2 "
              f"{np.mean(per_curve):.5f}; PredE {min(rec['pred_e']):.4f}-{max(rec['pred_e']):.4f}")
        for label, f in rec["fits"].items():
            zs = ", ".join(f"{n} {d['z']:+.1f}" if d["z"] is not None else f"{n} (bound)"
                           for n, d in f["params"].items())
            print(f"  own fit ({label}, {f['seconds']:.1f} s, {f['status']}): (published - fit) / stderr: {zs}")
    return out


# ---------------------------------------------------------------------------------------------------------------
# across sizes
# ---------------------------------------------------------------------------------------------------------------
NEW_LAWS = ("mpl-n", "tissue-n")


def size_setups(members: list[dict]) -> list[dict[str, Any]]:
    """Scaling-set runs grouped by (dataset, batch, accumulation, base LR): a law's LR area makes runs at different
    base LRs disagree by ~0.1 nats however it is fitted (their loss hardly depends on the base LR, their LR area
    doubles), so a setup never mixes them."""
    by: dict[tuple, dict[float, list]] = {}
    for m in members:
        if m["row"]["decay_type"] == "":
            by.setdefault(m["family"] + (m["lr"],), {}).setdefault(m["N"], []).append(m)
    return [{"name": f"{k[0]} bs{k[1]}x{k[2]} lr{k[3]:g}", "family": k, "sizes": v} for k, v in sorted(by.items())]


def in_size_reference(ms: list[dict]) -> dict[str, dict[str, Any]]:
    """Each run of one size predicted by ``mpl`` fitted on the other runs of that size (leave one run out)."""
    out = {}
    for i, m in enumerate(ms):
        rest = [x["run"] for j, x in enumerate(ms) if j != i]
        res = quiet(lambda: fit(rest, "mpl", law_error=False))
        pred, lo, hi = today_predict(res, m["run"])
        out[m["run"].path] = score(pred, lo, hi, m["run"])
    return out


def size_fold(train: list, targets: list[dict], quick: bool) -> dict[str, Any]:
    """Every law fitted on ``train`` and scored on the ``targets`` (members of one size)."""
    fitted = distinct_sizes(run_sizes(train))
    N = targets[0]["N"]
    d = size_distance(N, fitted)
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    res = quiet(lambda: fit(train, "mpl", law_error=not quick, allow_mixed_sizes=True))
    out["mpl"] = {"recs": [score(*_arr3(today_predict(res, m["run"])), m["run"]) for m in targets],
                  "seconds": time.perf_counter() - t0, "interval": res.interval_method}
    for law in NEW_LAWS:
        t0 = time.perf_counter()
        fit_one = fit_one_for(law)
        res = quiet(lambda: fit_one(train))
        err = size_folds(train, fit_one)
        out[law] = {"recs": [score(*_arr3(extrap_predict(res, m["run"], err, d)), m["run"]) for m in targets],
                    "seconds": time.perf_counter() - t0, "interval": "size folds" if err.measured else
                    "reference rule", "size_error": err.to_dict(),
                    "size_params": {k: res.values[k] for k in ("E", "K", "a", "rA", "rB", "rC", "alpha")
                                    if k in res.values}}
    for v in out.values():
        v["summary"] = summary(v["recs"])
    return out


def _arr3(t: tuple) -> tuple:
    pred, lo, hi = t
    return np.asarray(pred), lo, hi


def sizes(quick: bool = False) -> dict[str, Any]:
    members, excluded = schaipp_runs()
    setups = size_setups(members)
    folds = []  # (setup name, fold label, kind, train sizes, target size, setup)
    for st in setups:
        ns = sorted(st["sizes"])
        if len(ns) >= 3:
            for N in ns:
                kind = "up" if N == ns[-1] else "down" if N == ns[0] else "inside"
                if len(ns) == 3:
                    kind += ", 2 sizes"
                folds.append((st["name"], f"leave out {N:.3g}", kind, [x for x in ns if x != N], N, st))
            if len(ns) >= 4:
                folds.append((st["name"], f"{ns[0]:.3g}+{ns[1]:.3g} -> {ns[2]:.3g}", "up, 2 sizes", ns[:2], ns[2],
                              st))
    refs: dict[tuple, dict] = {}
    rows = []
    for setup, label, kind, train_sizes, N, st in folds:
        train = [m["run"] for n in train_sizes for m in st["sizes"][n]]
        targets = st["sizes"][N]
        if (setup, N) not in refs:
            refs[(setup, N)] = in_size_reference(targets)
        ref = [refs[(setup, N)][m["run"].path] for m in targets]
        t0 = time.perf_counter()
        laws = size_fold(train, targets, quick)
        row = {"setup": setup, "fold": label, "kind": kind, "train_sizes": train_sizes, "target_size": N,
               "distance_doublings": size_distance(N, train_sizes), "targets": [m["label"] for m in targets],
               "reference": {"recs": ref, "summary": summary(ref)}, "laws": laws,
               "seconds": time.perf_counter() - t0}
        rows.append(row)
        print_size_row(row)
    mpl = mpl_size_step(quick)
    return {"excluded": excluded, "n_runs": len(members), "rows": rows, "mpl_25m_to_100m": mpl,
            "overall": size_overall(rows)}


def print_size_row(row: dict[str, Any]) -> None:
    ref = row["reference"]["summary"]
    print(f"\n[{row['setup']}] {row['fold']} ({row['kind']}, {row['distance_doublings']:.2f} doublings out), "
          f"{ref['n']} runs; in-size reference: mean |err| {ref['mean_abs_err']:.4f}, R2 {ref['r2']:.3f}", flush=True)
    print(f"  {'law':<13} {'R2':>7} {'PredE':>7} {'|err|':>7} {'bias':>8} {'x ref':>6} {'cov90':>6}  interval")
    for law, v in row["laws"].items():
        s = v["summary"]
        if not s["n"]:
            print(f"  {law:<13} failed: {v.get('error', '')[:100]}")
            continue
        ratio = s["mean_abs_err"] / ref["mean_abs_err"] if ref["mean_abs_err"] > 0 else float("nan")
        print(f"  {law:<13} {s['r2']:7.3f} {s['pred_e']:7.4f} {s['mean_abs_err']:7.4f} {s['bias']:+8.4f} "
              f"{ratio:6.2f} {s['covered']:>2}/{s['n']:<3}  {v.get('interval', '')}", flush=True)


def size_overall(rows: list[dict]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in sorted({r["kind"] for r in rows}):
        sel = [r for r in rows if r["kind"] == kind]
        out[kind] = {"reference": summary([x for r in sel for x in r["reference"]["recs"]])}
        for law in ("mpl",) + NEW_LAWS:
            out[kind][law] = summary([x for r in sel for x in r["laws"][law]["recs"]])
    return out


def mpl_size_step(quick: bool) -> dict[str, Any]:
    """MPL 25M -> 100M from the 25M constant + cosine 24K curves (one size: the size terms come from Chinchilla)."""
    from scalefit.extrapolation import REFERENCE_SCALE

    train = mpl_runs("25M", ["constant_24000", "cosine_24000"])
    targets = mpl_runs("100M")
    out: dict[str, Any] = {}
    ref_fit = quiet(lambda: fit(mpl_runs("100M", ["constant_24000", "cosine_24000"]), "mpl", law_error=not quick))
    out["reference (100M const+cos fit)"] = [score(*_arr3(today_predict(ref_fit, r)), r) for r in targets]
    res = quiet(lambda: fit(train, "mpl", law_error=not quick))
    try:
        today_predict(res, targets[0])
        out["mpl at 100M"] = "accepted (unexpected)"
    except Exception as exc:  # noqa: BLE001 - the message is the result
        out["mpl at 100M"] = f"{type(exc).__name__}: {exc}"
    out["mpl (size-blind)"] = [score(*_arr3(today_predict(res, r, blind=True)), r) for r in targets]
    from scalefit.laws.size_terms import check_sizes

    try:
        check_sizes(train, "mpl-n")
        out["mpl-n, no size terms given"] = "accepted (unexpected)"
    except Exception as exc:  # noqa: BLE001 - the message is the result
        out["mpl-n, no size terms given"] = f"{type(exc).__name__}: {exc}"
    fixed = {"K": CHINCHILLA_K, "a": CHINCHILLA_A, "rA": 1.0, "rB": 1.0}
    res_n = quiet(lambda: fit(train, "mpl-n", fixed=fixed, law_error=False))
    err = ExtrapolationError(kind="size", scale=REFERENCE_SCALE["size"], folds=(), measured=False,
                             note="one size: the reference rule")
    out["mpl-n, Chinchilla size terms"] = [score(*_arr3(extrap_predict(res_n, r, err, 2.0)), r) for r in targets]
    out["fixed"] = fixed
    print("\nMPL 25M -> 100M (fit: 25M constant + cosine 24K; targets: all nine 100M curves)")
    print(f"  {'law':<32} {'R2':>7} {'PredE':>7} {'|err|':>7} {'bias':>8} {'cov90':>6}")
    for k, v in out.items():
        if isinstance(v, list):
            s = summary(v)
            out[k] = {"recs": v, "summary": s}
            print(f"  {k:<32} {s['r2']:7.3f} {s['pred_e']:7.4f} {s['mean_abs_err']:7.4f} {s['bias']:+8.4f} "
                  f"{s['covered']:>2}/{s['n']}")
        elif isinstance(v, str):
            print(f"  {k:<32} {v[:150]}")
    return out


# ---------------------------------------------------------------------------------------------------------------
# across horizons
# ---------------------------------------------------------------------------------------------------------------
HORIZON_LAWS = ("mpl", "tissue")


def is_constant(m: dict) -> bool:
    return m["kind"] == "full" and m["row"]["scheduler"] == "wsd" and float(m["row"]["wsd_fract_decay"] or 0) == 0


def horizon_cases(members: list[dict]) -> list[dict[str, Any]]:
    """Per (dataset, batch, size, base LR) group: the shortest cosine predicting the longer cosines of its decay
    type; the constant run up to the shortest cooldown's end plus that cooldown predicting the longer cooldowns of
    the same shape. MPL: constant + cosine 24K predicting the 72K curves."""
    groups: dict[tuple, list[dict]] = {}
    for m in members:
        groups.setdefault(m["family"] + (m["N"], m["lr"]), []).append(m)
    cases = []
    for key, g in sorted(groups.items()):
        gname = f"{key[0]} L{g[0]['row']['n_layer']}d{g[0]['row']['n_embd']} lr{key[4]:g}"
        cos = [m for m in g if m["kind"] == "full" and m["row"]["scheduler"] == "cos"]
        for dt in sorted({m["row"]["decay_type"] for m in cos}):
            c = sorted([m for m in cos if m["row"]["decay_type"] == dt], key=lambda m: (m["horizon"], m["label"]))
            longer = [m for m in c if m["horizon"] > c[0]["horizon"]]
            if longer:
                cases.append({"group": gname, "kind": "cosine" + (f"-{dt}" if dt else ""), "train": [c[0]["run"]],
                              "targets": [(m["label"], m["run"]) for m in longer], "source": "schaipp"})
        const = [m for m in g if is_constant(m)]
        if not const:
            continue
        cst = max(const, key=lambda m: m["horizon"])
        segs = [m for m in g if m["row"]["scheduler"] == "wsd" and not is_constant(m)]
        for shape in sorted({(m["row"]["decay_type"], m["row"]["wsd_fract_decay"]) for m in segs}):
            sg = sorted([m for m in segs if (m["row"]["decay_type"], m["row"]["wsd_fract_decay"]) == shape],
                        key=lambda m: (m["horizon"], m["label"]))
            longer = [m for m in sg if m["horizon"] > sg[0]["horizon"]]
            if longer:
                cases.append({"group": gname, "kind": f"wsd-{shape[0] or 'linear'}-{shape[1]}",
                              "train": [truncate(cst["run"], sg[0]["horizon"]), sg[0]["run"]],
                              "targets": [(m["label"], m["run"]) for m in longer], "source": "schaipp"})
    for size in ("25M", "100M"):
        cases.append({"group": f"MPL {size}", "kind": "24K -> 72K", "source": "mpl",
                      "train": mpl_runs(size, ["constant_24000", "cosine_24000"]),
                      "targets": [(f"{size} {n}", r) for n, r in zip(("constant_72000", "cosine_72000"),
                                                                        mpl_runs(size, ["constant_72000",
                                                                                        "cosine_72000"]))]})
    return cases


def horizons(quick: bool = False) -> dict[str, Any]:
    members, _ = schaipp_runs()
    cases = horizon_cases(members)
    print(f"{len(cases)} cases, {sum(len(c['targets']) for c in cases)} held-out runs")
    recs = []
    for c in cases:
        last = max(int(r.steps[r.after_warmup].max()) for r in c["train"])
        for law in HORIZON_LAWS:
            t0 = time.perf_counter()
            res = quiet(lambda: fit(c["train"], law, law_error=not quick))
            err = horizon_folds(c["train"], fit_one_for(law))
            for label, run in c["targets"]:
                step, _ = truth(run)
                d = horizon_distance(step, last)
                base = {"group": c["group"], "kind": c["kind"], "source": c["source"], "law": law, "run": label,
                        "ratio": step / last, "distance": d}
                recs.append({**base, "method": "today", **score(*_arr3(today_predict(res, run)), run),
                             "interval": res.interval_method})
                recs.append({**base, "method": "horizon folds", **score(*_arr3(extrap_predict(res, run, err, d)), run),
                             "interval": "horizon folds" if err.measured else "reference rule",
                             "scale": err.scale, "fold_bias": err.bias if err.folds else None,
                             "folds": [dataclass_dict(f) for f in err.folds]})
            print(f"[{c['group']}] {c['kind']:<18} {law:<7} " + "  ".join(
                f"{r['run'].split(' T=')[-1]}: {r['err']:+.4f}{'' if r['covered'] else '*'}"
                for r in recs[-2 * len(c["targets"]):] if r["method"] == "horizon folds")
                + f"  ({time.perf_counter() - t0:.1f} s)", flush=True)
    out: dict[str, Any] = {"recs": recs, "summary": {}}
    print(f"\n{'law':<7} {'interval':<14} {'set':<16} {'n':>4} {'|err|':>7} {'bias':>8} {'>0':>5} {'cov90':>7}")
    for law in HORIZON_LAWS:
        for method in ("today", "horizon folds"):
            for sel, f in (("all", lambda r: True), ("schaipp cosine", lambda r: r["kind"].startswith("cosine")),
                           ("schaipp wsd", lambda r: r["kind"].startswith("wsd")),
                           ("mpl 24K->72K", lambda r: r["source"] == "mpl")):
                rs = [r for r in recs if r["law"] == law and r["method"] == method and f(r)]
                sm = summary(rs)
                sm["positive"] = float(np.mean([r["err"] > 0 for r in rs]))
                out["summary"][f"{law} | {method} | {sel}"] = sm
                print(f"{law:<7} {method:<14} {sel:<16} {sm['n']:>4} {sm['mean_abs_err']:7.4f} {sm['bias']:+8.4f} "
                      f"{sm['positive']:5.2f} {sm['covered']:>3}/{sm['n']:<3}")
    return out


def dataclass_dict(x: Any) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(x)


# ---------------------------------------------------------------------------------------------------------------
# in flight
# ---------------------------------------------------------------------------------------------------------------
FRACTIONS_IN_FLIGHT = (0.3, 0.5, 0.7)


def inflight_targets(members: list[dict]) -> list[dict[str, Any]]:
    """Every full run: the MPL curves (like = the other schedules of the size) and the Schaipp full runs (like =
    the other runs of the same dataset, batch, size and base LR)."""
    out = []
    for size in ("25M", "100M"):
        runs = mpl_runs(size)
        for i, (name, run) in enumerate(zip(MPL_SCHEDULES, runs)):
            out.append({"label": f"MPL {size} {name}", "run": run, "source": "mpl",
                        "kind": name.split("_")[0], "like": [r for j, r in enumerate(runs) if j != i]})
    groups: dict[tuple, list[dict]] = {}
    for m in members:
        groups.setdefault(m["family"] + (m["N"], m["lr"]), []).append(m)
    for g in groups.values():
        for m in g:
            if m["kind"] != "full":
                continue
            kind = "constant" if is_constant(m) else m["row"]["scheduler"]
            out.append({"label": m["label"], "run": m["run"], "source": "schaipp", "kind": kind,
                        "like": [x["run"] for x in g if x is not m]})
    return out


def head_at(run: Any, frac: float) -> Any:
    """The rows up to ``frac`` of the observed span after warmup, as a partial run (LR up to its last row)."""
    import dataclasses

    steps = run.steps[run.after_warmup]
    cut = int(steps[0] + frac * (steps[-1] - steps[0]))
    h = truncate(run, cut)
    return dataclasses.replace(h, lr=run.lr[: int(h.steps[-1]) - int(run.step0) + 1])


def inflight(quick: bool = False) -> dict[str, Any]:
    from scalefit.forecast import forecast

    members, _ = schaipp_runs()
    targets = inflight_targets(members)
    print(f"{len(targets)} runs x {len(FRACTIONS_IN_FLIGHT)} fractions")
    recs = []
    for tg in targets:
        run = tg["run"]
        step, true = truth(run)
        line = []
        for frac in FRACTIONS_IN_FLIGHT:
            part = head_at(run, frac)
            base = {"run": tg["label"], "source": tg["source"], "kind": tg["kind"], "fraction": frac, "true": true}
            # today: fit the partial run (with its law error), predict the final row from the whole schedule
            try:
                res = quiet(lambda: fit([part], "mpl", law_error=not quick))
                p = quiet(lambda: res.predict(run.lr, warmup=int(run.warmup), at=[step - int(run.step0)],
                                              interval=LEVEL))
                lo, hi, pr = float(p.lower[-1]), float(p.upper[-1]), float(p.loss[-1])
                recs.append({**base, "method": "today", "pred": pr, "lower": lo, "upper": hi,
                             "interval": res.interval_method})
            except Exception as exc:  # noqa: BLE001 - recorded
                recs.append({**base, "method": "today", "error": f"{type(exc).__name__}: {exc}"})
            for method, like in (("forecast", None), ("forecast+like", tg["like"])):
                try:
                    fc = quiet(lambda: forecast(part, run.lr, like=like, law="mpl", interval=LEVEL))
                    i = int(np.searchsorted(fc.steps, step - int(run.step0)))
                    i = min(i, fc.steps.size - 1)
                    recs.append({**base, "method": method, "pred": float(fc.loss[i]), "lower": float(fc.lower[i]),
                                 "upper": float(fc.upper[i]), "interval": fc.method, "scale": fc.scale,
                                 "at_step": int(fc.steps[i]) + int(run.step0)})
                except Exception as exc:  # noqa: BLE001 - recorded
                    recs.append({**base, "method": method, "error": f"{type(exc).__name__}: {exc}"})
            for r in recs[-3:]:
                if "pred" in r:
                    r["rel_err"] = (r["pred"] - true) / true
                    r["covered"] = bool(r["lower"] <= true <= r["upper"])
            line.append(" ".join(f"{r['rel_err'] * 100:+.2f}%{'' if r['covered'] else '*'}" if "pred" in r else "fail"
                                 for r in recs[-3:]))
        print(f"{tg['label'][:52]:<52} " + " | ".join(line), flush=True)
    out: dict[str, Any] = {"recs": recs, "summary": {}}
    print(f"\n{'method':<14} {'set':<10} {'frac':>4} {'n':>4} {'med|rel|':>9} {'mean|rel|':>9} {'cov90':>8} "
          f"{'fail':>4}")
    for method in ("today", "forecast", "forecast+like"):
        for src in ("mpl", "schaipp"):
            for frac in FRACTIONS_IN_FLIGHT:
                rs = [r for r in recs if r["method"] == method and r["source"] == src and r["fraction"] == frac]
                ok = [r for r in rs if "pred" in r]
                rel = np.abs([r["rel_err"] for r in ok])
                sm = {"n": len(ok), "failed": len(rs) - len(ok), "median_abs_rel": float(np.median(rel)),
                      "mean_abs_rel": float(np.mean(rel)), "covered": int(sum(r["covered"] for r in ok)),
                      "coverage": float(np.mean([r["covered"] for r in ok]))}
                out["summary"][f"{method} | {src} | {frac}"] = sm
                print(f"{method:<14} {src:<10} {frac:4.1f} {sm['n']:>4} {sm['median_abs_rel'] * 100:8.2f}% "
                      f"{sm['mean_abs_rel'] * 100:8.2f}% {sm['covered']:>3}/{sm['n']:<4} {sm['failed']:>4}")
    return out


# ---------------------------------------------------------------------------------------------------------------
# the growth rule, from the folds and held-out errors above (no new fits)
# ---------------------------------------------------------------------------------------------------------------
def rule(quick: bool = False) -> dict[str, Any]:
    """Does the relative error grow as ``scale * (1 + d)``? Binned RMS of the fold errors and of the held-out errors
    by distance, and the scales the reference rule uses (medians over setups)."""
    data = json.loads(OUT.read_text()) if OUT.exists() else {}
    out: dict[str, Any] = {}
    for kind, law in (("size", "mpl-n"), ("size", "tissue-n"), ("horizon", "mpl"), ("horizon", "tissue")):
        folds, held, scales = [], [], []
        if kind == "size" and "sizes" in data:
            for r in data["sizes"]["rows"]:
                v = r["laws"][law]
                if v["size_error"]["measured"]:
                    scales.append(v["size_error"]["scale"])
                folds += [(f["distance"], f["rel_error"]) for f in v["size_error"]["folds"]]
                held += [(r["distance_doublings"], -x["rel_err"] / (1 + x["rel_err"])) for x in v["recs"]]
        if kind == "horizon" and "horizons" in data:
            seen = set()
            for x in data["horizons"]["recs"]:
                if x["law"] != law or x["method"] != "horizon folds":
                    continue
                held.append((x["distance"], -x["rel_err"] / (1 + x["rel_err"])))
                key = (x["group"], x["kind"])
                if key not in seen and x["interval"] == "horizon folds":
                    seen.add(key)
                    scales.append(x["scale"])
                    folds += [(f["distance"], f["rel_error"]) for f in x["folds"]]
        if not folds and not held:
            continue
        rec: dict[str, Any] = {"median_scale": float(np.median(scales)) if scales else None,
                               "n_setups_measured": len(scales)}
        for name, pts in (("folds", folds), ("held_out", held)):
            d = np.array([p[0] for p in pts])
            e = np.array([p[1] for p in pts])
            edges = np.quantile(d, [0, 1 / 3, 2 / 3, 1]) if d.size >= 6 else np.array([d.min(), d.max()])
            bins = []
            for lo, hi in zip(edges[:-1], edges[1:]):
                sel = (d >= lo) & (d <= hi)
                if sel.any():
                    bins.append({"distance": [float(lo), float(hi)], "n": int(sel.sum()),
                                 "rms": float(np.sqrt(np.mean(e[sel] ** 2))), "mean": float(np.mean(e[sel])),
                                 "rms_over_1pd": float(np.sqrt(np.mean((e[sel] / (1 + d[sel])) ** 2)))})
            # least squares of |e| on (1 + d): intercept and slope, against the rule's 1:1
            A = np.stack([np.ones_like(d), d], axis=1)
            coef = np.linalg.lstsq(A, np.abs(e), rcond=None)[0] if d.size >= 2 else np.array([np.nan, np.nan])
            rec[name] = {"n": int(d.size), "bins": bins, "abs_err_intercept": float(coef[0]),
                         "abs_err_slope": float(coef[1]),
                         "scale": float(np.sqrt(np.mean((e / (1 + d)) ** 2))) if d.size else None}
        out[f"{kind} | {law}"] = rec
        print(f"{kind:<8} {law:<9} median measured scale {rec['median_scale'] or float('nan'):.4f} "
              f"({len(scales)} setups)")
        for name in ("folds", "held_out"):
            r = rec[name]
            print(f"   {name:<9} n {r['n']:>4}  |e| = {r['abs_err_intercept']:.4f} + {r['abs_err_slope']:.4f} d   "
                  + "  ".join(f"d {b['distance'][0]:.2f}-{b['distance'][1]:.2f}: rms {b['rms']:.4f} "
                              f"(/(1+d) {b['rms_over_1pd']:.4f})" for b in r["bins"]))
    return out


# ---------------------------------------------------------------------------------------------------------------
SECTIONS = {"published": lambda q: published(), "sizes": sizes, "horizons": horizons, "inflight": inflight,
            "rule": rule}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=list(SECTIONS))
    ap.add_argument("--quick", action="store_true", help="skip today's law-error intervals (the slowest part)")
    args = ap.parse_args()
    out: dict[str, Any] = json.loads(OUT.read_text()) if OUT.exists() else {}
    out.update({"benchmark": "extrapolation", "machine": machine(), "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "command": "OMP_NUM_THREADS=1 python benchmarks/extrapolation.py " + " ".join(sys.argv[1:])})
    for name in args.sections:
        t0 = time.perf_counter()
        print(f"\n=== {name} ===", flush=True)
        out[name] = SECTIONS[name](args.quick)
        out[name + "_seconds"] = time.perf_counter() - t0
        out[name + "_quick"] = bool(args.quick)
        write_text(OUT, json.dumps(out, indent=1, default=_plain) + "\n")
        print(f"({name}: {out[name + '_seconds']:.0f} s; wrote {OUT})", flush=True)
    return 0


def _plain(x: Any) -> Any:
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, tuple):
        return list(x)
    return str(x)


if __name__ == "__main__":
    raise SystemExit(main())
