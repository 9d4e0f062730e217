"""Benchmark: the MPL flat valley in (C, beta, gamma) on the MPL reference curves, and remedies chosen WITHOUT the
test curves.

Issue: with cosine_24000 + constant_24000 as training runs, the minimiser of the stated objective (Huber
delta 1e-3 on log loss) drives beta to its lower bound and gamma to its upper bound; the objective is nearly flat
in (C, beta, gamma). This script

1. diagnoses the flatness at the unregularised optimum: eigenvalues / eigenvectors of the correlation-scaled
   Gauss-Newton Hessian over the free parameters, and the profile of the objective when (beta, gamma) are held
   at points between the optimum and the paper's typical values (0.59, 0.63);
2. scores every candidate remedy on each size (25M, 100M) x protocol (a, b) by
   - a cross-validation score computed on the TRAINING runs only (what could select a remedy), and
   - the held-out test curves (what the issue measures; never used to choose);
3. writes ``benchmarks/results/identifiability.json`` and names the machine.

Cross-validation on the training runs (mean PredE over folds, each fold's PredE averaged over its held-out runs):
  * forward chaining: fit on the rows with step <= 50 % (70 %) of each training run's last step, predict the rest
    of every training run;
  * leave one run out: fit on the other training runs, predict the left-out one -- only where the remaining
    runs still contain an LR decay (otherwise the drop term B, C, beta, gamma is not in the data at all).

Candidates: no prior (the plain objective); a Gaussian prior on log C, log beta, log gamma centred on the law's
typical values (C 1, beta 0.5, gamma 0.5: the official code's start) with sd in SDS (the CV curve over strengths);
the prior sd chosen per data set by the same CV (nested: no test curve involved); exponents fixed at the paper's
fits; the official variant; and (C, beta, gamma) shared across the two model sizes in one joint fit (each size its
own L0, A, B, alpha), without and with the prior.

Usage: python benchmarks/identifiability.py [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _machine import machine  # noqa: E402
from curve_fit import PROTOCOLS, REF, SCHEDULES, TARGETS, load  # noqa: E402

SIZES = ["25M", "100M"]
N_PARAMS = {"25M": 25e6, "100M": 100e6}
SDS = [4.0, 2.0, 1.0, 0.5, 0.25, 0.1]
SHAPE = ("C", "beta", "gamma")
FRACS = (0.5, 0.7)


# ---- data helpers ---------------------------------------------------------------------------------------------
def cut(run: Any, frac: float) -> tuple[Any, Any]:
    """(head, tail) of a run: rows with step <= frac * last step, and the rest (same LR schedule)."""
    last = int(run.steps[run.observed].max())
    m = int(np.searchsorted(run.steps, frac * last, side="right"))

    def part(sl: slice) -> Any:
        extra = {k: v[sl] for k, v in run.extra.items()}
        return dataclasses.replace(run, steps=run.steps[sl], loss=run.loss[sl], line=run.line[sl], extra=extra)

    return part(slice(0, m)), part(slice(m, None))


def has_decay(run: Any) -> bool:
    post = np.asarray(run.lr[int(run.warmup):])
    return bool(post.size and post.min() < 0.9 * post.max())


def tagged(runs: list[Any], size: str) -> list[Any]:
    """Runs with ``meta['params']`` set to the model size (the joint fit groups by it)."""
    return [dataclasses.replace(r, meta={**r.meta, "params": N_PARAMS[size]}) for r in runs]


def pred_metrics(pred: np.ndarray, run: Any) -> dict[str, float]:
    from scalefit.metrics import curve_metrics

    m = curve_metrics(run.loss[run.observed], pred)
    return {"r2": m.r2, "pred_e": m.pred_e, "worst_e": m.worst_e}


def mean_of(ms: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.mean([m[k] for m in ms])) for k in ms[0]}


# ---- the joint fit with shared shape parameters ---------------------------------------------------------------
class SharedLaw:
    """Prototype: a law whose parameters in ``share`` are common to every group and the others per group
    (``name@group``); runs are grouped by their model size ``n_params``. Wraps a base law's design contract."""

    def __init__(self, base: Any, groups: list[float], share: tuple[str, ...]) -> None:
        from scalefit.laws.base import ParamSpec

        self.base, self.groups, self.share = base, list(groups), tuple(share)
        self.name, self.citation = base.name, base.citation
        self.options = {}
        params = []
        for p in base.params:
            if p.name in share:
                params.append(p)
            else:
                params += [ParamSpec(f"{p.name}@{g:g}", p.lower, p.upper, p.linear, p.default, p.doc, p.fixed)
                           for g in self.groups]
        self.params = tuple(params)
        self.names = tuple(p.name for p in params)
        self.linear_names = tuple(p.name for p in params if p.linear)
        self.nonlinear_names = tuple(p.name for p in params if not p.linear and not p.fixed)

    def _name(self, base_name: str, g: float) -> str:
        return base_name if base_name in self.share else f"{base_name}@{g:g}"

    def prepare(self, lr: Any, *, warmup: int, at: Any = None, n_params: float | None = None) -> Any:
        if n_params not in self.groups:
            raise ValueError(f"run of size {n_params} is in no group {self.groups}")
        return (float(n_params), self.base.prepare(lr, warmup=warmup, at=at, n_params=n_params))

    def _theta(self, theta: Any, g: float) -> dict[str, float]:
        t = theta if isinstance(theta, dict) else dict(zip(self.nonlinear_names, map(float, theta)))
        return {n: t[self._name(n, g)] for n in self.base.nonlinear_names}

    def design(self, theta: Any, prep: Any) -> np.ndarray:
        g, bp = prep
        d = self.base.design(self._theta(theta, g), bp)
        out = np.zeros((len(self.linear_names), d.shape[1]))
        for r, n in enumerate(self.base.linear_names):
            out[self.linear_names.index(self._name(n, g))] += d[r]
        return out

    def design_jac(self, theta: Any, prep: Any) -> np.ndarray:
        g, bp = prep
        j = self.base.design_jac(self._theta(theta, g), bp)
        out = np.zeros((len(self.nonlinear_names), len(self.linear_names), j.shape[2]))
        for q, nq in enumerate(self.base.nonlinear_names):
            for r, nr in enumerate(self.base.linear_names):
                out[self.nonlinear_names.index(self._name(nq, g)),
                    self.linear_names.index(self._name(nr, g))] += j[q, r]
        return out

    def values_for(self, values: dict[str, float], g: float) -> dict[str, float]:
        return {n: values[self._name(n, g)] for n in self.base.names}


# ---- one candidate: fit on training runs, predict runs ---------------------------------------------------------
def fit_predict(cand: dict, train: dict[str, list[Any]], targets: dict[str, list[Any]]) -> tuple[dict, dict, float]:
    """Fit candidate ``cand`` on ``train`` (size -> runs) and predict ``targets`` (size -> runs).

    Returns (per-size list of metrics dicts, per-size fitted values, fit seconds per size)."""
    from scalefit.fitting import fit
    from scalefit.laws import get_law

    kw = dict(cand.get("kw", {}))
    law_opts = dict(cand.get("law", {}))
    out, vals, secs = {}, {}, []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if cand.get("shared"):
            sizes = list(train)
            base = get_law("mpl", **law_opts)
            law = SharedLaw(base, [N_PARAMS[s] for s in sizes], SHAPE)
            runs = [r for s in sizes for r in tagged(train[s], s)]
            res = fit(runs, law, law_error=False, **kw)
            secs.append(res.fit_seconds / len(sizes))
            for s in sizes:
                v = law.values_for(res.values, N_PARAMS[s])
                vals[s] = v
                out[s] = [pred_metrics(base.predict(v, r.lr, warmup=r.warmup, at=r.index[r.observed]), r)
                          for r in targets[s]]
        else:
            for s, runs in train.items():
                res = fit(runs, "mpl", law_error=False, **kw, **law_opts)
                secs.append(res.fit_seconds)
                vals[s] = res.values
                out[s] = [pred_metrics(res.predict(r).loss, r) for r in targets[s]]
    return out, vals, float(np.mean(secs))


def cv_score(cand: dict, train: dict[str, list[Any]]) -> dict[str, Any]:
    """Mean PredE (and WorstE) over forward-chaining and leave-one-run-out folds on the training runs, per size."""
    folds: dict[str, list[dict[str, float]]] = {s: [] for s in train}
    for frac in FRACS:
        heads = {s: [cut(r, frac)[0] for r in runs] for s, runs in train.items()}
        tails = {s: [cut(r, frac)[1] for r in runs] for s, runs in train.items()}
        res, _, _ = fit_predict(cand, heads, tails)
        for s in train:
            folds[s].append(mean_of(res[s]))
    names = [Path(r.path).stem for r in next(iter(train.values()))]
    for i in range(len(names)):
        rest = {s: [r for j, r in enumerate(runs) if j != i] for s, runs in train.items()}
        if not all(any(has_decay(r) for r in runs) for runs in rest.values()):
            continue
        res, _, _ = fit_predict(cand, rest, {s: [runs[i]] for s, runs in train.items()})
        for s in train:
            folds[s].append(mean_of(res[s]))
    return {s: {"pred_e": float(np.mean([f["pred_e"] for f in fs])),
                "worst_e": float(np.mean([f["worst_e"] for f in fs])), "folds": len(fs),
                "fold_pred_e": [f["pred_e"] for f in fs]} for s, fs in folds.items()}


def candidates(quick: bool) -> list[dict]:
    prior = lambda sd: {"C": sd, "beta": sd, "gamma": sd}  # noqa: E731
    out = [{"name": "no prior", "kw": {"prior": {}}}]
    out += [{"name": f"prior sd {sd:g}", "kw": {"prior": prior(sd)}, "sd": sd} for sd in SDS]
    out += [
        {"name": "paper exponents fixed", "kw": {"prior": {}, "fixed": {"beta": 0.59, "gamma": 0.63}}},
        {"name": "official variant", "kw": {"prior": {}}, "law": {"variant": "official"}},
        {"name": "shared C,beta,gamma", "kw": {"prior": {}}, "shared": True},
    ]
    out += [{"name": f"shared + prior sd {sd:g}", "kw": {"prior": prior(sd)}, "shared": True, "sd": sd}
            for sd in ([1.0] if quick else [2.0, 1.0, 0.5, 0.25])]
    return out


# ---- flatness diagnosis ---------------------------------------------------------------------------------------
def diagnose(size: str, proto: str) -> dict[str, Any]:
    """Eigen-decomposition of the scaled Gauss-Newton Hessian at the unregularised optimum (bounds released so
    that beta, gamma are interior if the data allow it) and the objective profile towards the paper's exponents."""
    from scalefit.fitting import fit
    from scalefit.fitting.inputs import build_problem
    from scalefit.laws import get_law

    runs = load(size, PROTOCOLS[proto])
    law = get_law("mpl")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit(runs, "mpl", prior={}, law_error=False)
    problem, _ = build_problem(law, "mpl", runs, None, None, True, 1e-3)
    p = np.array([res.values[n] for n in problem.names])
    jac = problem.jacobian(p[problem.free])
    h = jac.T @ jac
    d = np.sqrt(np.diag(h))
    eig, vec = np.linalg.eigh(h / np.outer(d, d))
    names = [n for n, f in zip(problem.names, problem.free) if f]
    profile = []
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):  # (beta, gamma) on the segment from the optimum to the paper's fits
        b = math.exp((1 - t) * math.log(res.values["beta"]) + t * math.log(0.59))
        g = math.exp((1 - t) * math.log(res.values["gamma"]) + t * math.log(0.63))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r2 = fit(runs, "mpl", prior={}, fixed={"beta": b, "gamma": g}, law_error=False)
        profile.append({"t": t, "beta": b, "gamma": g, "C": r2.values["C"], "objective": r2.objective_value,
                        "rel_increase": r2.objective_value / res.objective_value - 1.0})
    return {"size": size, "protocol": proto, "values": res.values, "objective": res.objective_value,
            "status": res.status.value, "eigenvalues": eig.tolist(),
            "flattest": {n: float(v) for n, v in zip(names, vec[:, 0])},
            "second_flattest": {n: float(v) for n, v in zip(names, vec[:, 1])},
            "condition_number": float(eig[-1] / eig[0]), "profile": profile}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer candidates, no diagnosis")
    args = ap.parse_args()
    if not REF.is_dir():
        print(f"reference data not found at {REF}; nothing to benchmark", file=sys.stderr)
        return 1
    mach = machine()
    print(f"machine: {mach}")
    diag = [] if args.quick else [diagnose(s, p) for s in SIZES for p in PROTOCOLS]
    for dg in diag:
        print(f"{dg['size']:>5} ({dg['protocol']}) optimum beta {dg['values']['beta']:.3g} gamma "
              f"{dg['values']['gamma']:.3g} C {dg['values']['C']:.3g}; scaled Hessian eigenvalues "
              + " ".join(f"{e:.1e}" for e in dg["eigenvalues"]) + "; flattest "
              + " ".join(f"{v:+.2f} {n}" for n, v in dg["flattest"].items() if abs(v) >= 0.2)
              + "; objective +% towards the paper's exponents "
              + " ".join(f"{100 * q['rel_increase']:.2f}" for q in dg["profile"]), flush=True)
    rows = []
    for proto in PROTOCOLS:
        train = {s: load(s, PROTOCOLS[proto]) for s in SIZES}
        test = {s: load(s, [n for n in SCHEDULES if n not in PROTOCOLS[proto]]) for s in SIZES}
        for cand in candidates(args.quick):
            t0 = time.perf_counter()
            cv = cv_score(cand, train)
            res, vals, secs = fit_predict(cand, train, test)
            for s in SIZES:
                rows.append({"candidate": cand["name"], "sd": cand.get("sd"), "size": s, "protocol": proto,
                             **mean_of(res[s]), "fit_seconds": secs, "cv_pred_e": cv[s]["pred_e"],
                             "cv_worst_e": cv[s]["worst_e"], "cv_folds": cv[s]["folds"],
                             "cv_fold_pred_e": cv[s]["fold_pred_e"],
                             "params": vals[s], "target": TARGETS.get((proto, s))})
                r = rows[-1]
                print(f"{s:>5} ({proto}) {cand['name']:<24} CV PredE {r['cv_pred_e']:.5f}  |  test R2 {r['r2']:.5f} "
                      f"PredE {r['pred_e']:.5f} WorstE {r['worst_e']:.5f}  fit {secs:5.2f} s  beta "
                      f"{vals[s]['beta']:.3f} gamma {vals[s]['gamma']:.3f} C {vals[s]['C']:.3g}  "
                      f"({time.perf_counter() - t0:.0f} s)", flush=True)
    # selection by the CV score alone: mean over sizes and protocols
    names = list(dict.fromkeys(r["candidate"] for r in rows))
    summary = []
    for n in names:
        rs = [r for r in rows if r["candidate"] == n]
        summary.append({"candidate": n, "cv_pred_e": float(np.mean([r["cv_pred_e"] for r in rs])),
                        "test_pred_e": float(np.mean([r["pred_e"] for r in rs])),
                        "test_worst_e": float(np.mean([r["worst_e"] for r in rs])),
                        "test_r2": float(np.mean([r["r2"] for r in rs]))})
    # nested: per (size, protocol), the prior sd with the best CV score on that data set's training runs
    nested = []
    for proto in PROTOCOLS:
        for s in SIZES:
            pri = [r for r in rows if r["size"] == s and r["protocol"] == proto and r["candidate"].startswith("prior")]
            best = min(pri, key=lambda r: r["cv_pred_e"])
            nested.append({**best, "candidate": "prior sd by CV per data set", "chosen_sd": best["sd"]})
    summary.append({"candidate": "prior sd by CV per data set",
                    "cv_pred_e": float(np.mean([r["cv_pred_e"] for r in nested])),
                    "test_pred_e": float(np.mean([r["pred_e"] for r in nested])),
                    "test_worst_e": float(np.mean([r["worst_e"] for r in nested])),
                    "test_r2": float(np.mean([r["r2"] for r in nested]))})
    rows += nested
    # paired comparison with the unregularised fit over all CV folds (16: 2 sizes x (3 + 5) folds)
    base_folds = np.concatenate([r["cv_fold_pred_e"] for r in rows if r["candidate"] == names[0]])
    for sm in summary[:-1]:
        diff = base_folds - np.concatenate([r["cv_fold_pred_e"] for r in rows if r["candidate"] == sm["candidate"]])
        sm["cv_gain"] = float(diff.mean())
        sm["cv_gain_se"] = float(diff.std(ddof=1) / math.sqrt(diff.size)) if diff.size > 1 else math.nan
        sm["cv_folds_better"] = f"{int((diff > 0).sum())}/{diff.size}"
        sm["single_size"] = not sm["candidate"].startswith("shared")
    chosen = min(summary[:-1], key=lambda r: r["cv_pred_e"])
    chosen_single = min([r for r in summary[:-1] if r["single_size"]], key=lambda r: r["cv_pred_e"])
    print("\nselection by CV on training runs (mean over 2 sizes x 2 protocols); test columns for information only")
    print(f"{'candidate':<28} {'CV PredE':>9} {'CV gain vs none (SE)':>21} {'folds':>6} | {'test R2':>8} "
          f"{'PredE':>8} {'WorstE':>8}")
    for r in summary:
        gain = f"{r['cv_gain']:+.5f} ({r['cv_gain_se']:.5f})" if "cv_gain" in r else ""
        mark = "   <- lowest CV" if r is chosen else ("   <- lowest CV, one size" if r is chosen_single else "")
        print(f"{r['candidate']:<28} {r['cv_pred_e']:>9.5f} {gain:>21} {r.get('cv_folds_better', ''):>6} | "
              f"{r['test_r2']:>8.5f} {r['test_pred_e']:>8.5f} {r['test_worst_e']:>8.5f}{mark}")
    out = {"benchmark": "identifiability", "machine": mach, "time": time.strftime("%Y-%m-%d %H:%M:%S"),
           "reference": str(REF), "protocols": PROTOCOLS, "cv": {"forward_chaining_fracs": FRACS,
                                                                  "leave_one_run_out": "where the rest has a decay"},
           "diagnosis": diag, "results": rows, "summary": summary, "chosen_by_cv": chosen["candidate"],
           "chosen_by_cv_single_size": chosen_single["candidate"]}
    (HERE / "results").mkdir(exist_ok=True)
    path = HERE / "results" / ("identifiability_quick.json" if args.quick else "identifiability.json")
    path.write_text(json.dumps(out, indent=2, default=float) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
