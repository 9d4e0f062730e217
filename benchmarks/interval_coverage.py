"""Benchmark: do the prediction intervals cover the truth when the residuals are autocorrelated?

Loss curves are not independent draws around a law: validation loss on fixed batches and slow training drifts make
the residuals autocorrelated, and intervals that assume independence are then too narrow. ``fit(errors="ar1")``
(the default) measures the residuals' lag-1 autocorrelation, corrected for what the fit absorbs, and widens the
covariance by ``(1 + rho) / (1 - rho)``; ``errors="iid"`` does not.

Simulation: runs of a known law (Tissue at ``tests/test_fitting.py``'s truth; MPL at the same truth with its shape
at the default prior's centre, so the prior is not a bias here) on a constant and a cosine schedule, 2,000 steps,
a row every 10 steps, with stationary AR(1) log-noise (sd 2e-3, lag-1 correlation phi). Fit both, predict the
final loss of a held-out WSD schedule with a 90% interval, count how often it covers the truth. 40 seeded
repetitions per cell.

Real data: how often the 90% interval of each held-out MPL reference curve's final loss covers it; and the
measured rho of the default fit (and its L0 stderr over the ``errors="iid"`` one) on the bundled
runs (val_loss on fixed batches every 50 steps, and the per-step training loss) and on the MPL reference curves
(when ``../shared/reference`` is present).

Intervals under the default MPL shape prior (issue 14, item 2; each section optional, merged into the JSON):
  ``--shape``: runs simulated from the MPL law at the default prior's centre (C, beta, gamma = 1, 0.5, 0.5) and at
  the published shapes (the MPL repository's 25M / 100M fits, alternating), three designs (the MPL reference
  schedules with protocol a's and b's training runs, 24,000 steps, a row every 128, every other schedule held out;
  a 2,000-step design with sharp LR drops), two AR(1) noise levels (the reference curves' and 3x), 30 replicates;
  how often each candidate's 90% interval holds the true final loss of each held-out schedule (the candidates are
  listed in ``shape_bands``; "shape" is :mod:`scalefit.shape_uncertainty`'s).
  ``--shape-real``: the same candidates on the MPL reference curves' 26 held-out finals and the Schaipp curves' 111.
  ``--profile``: a profile-likelihood prediction interval over the shape, our own profile against lmfit's
  ``conf_interval`` (issue 15, item 6).

Usage: python benchmarks/interval_coverage.py [--reps 40] [--no-ar1] [--shape [--shape-reps 30]] [--shape-real]
       [--profile [--profile-reps 20] [--lmfit-reps 1]]   (writes benchmarks/results/interval_coverage.json)
"""

from __future__ import annotations

import argparse
import glob
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

from scalefit import schedules  # noqa: E402
from scalefit.fitting import fit  # noqa: E402
from scalefit.laws import get_law  # noqa: E402
from scalefit.runs import Run  # noqa: E402

T, WARMUP, PEAK, EVERY, SD = 2000, 100, 1e-3, 10, 2e-3
TRUTH = {
    "tissue": {"L0": 2.5, "A": 0.6, "alpha": 0.5, "C": 0.4},
    "mpl": {"L0": 2.6, "A": 0.5, "alpha": 0.45, "B": 400.0, "C": 1.0, "beta": 0.5, "gamma": 0.5},
}
PHIS = (0.0, 0.5, 0.9)


def ar1_noise(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    """Stationary AR(1) series of sd SD (lfilter: no Python loop over rows)."""
    from scipy.signal import lfilter

    z = rng.standard_normal(n) * SD * np.sqrt(1 - phi * phi)
    z[0] = rng.standard_normal() * SD
    return lfilter([1.0], [1.0, -phi], z)


def simulate(law: str, phi: float, seed: int) -> list[Run]:
    rng = np.random.default_rng(seed)
    runs = []
    for name, lr in (("constant", schedules.constant(PEAK, T, warmup=WARMUP)),
                     ("cosine", schedules.cosine(PEAK, T, warmup=WARMUP, final=PEAK / 10))):
        steps = np.arange(WARMUP, T, EVERY, dtype=np.int64)
        clean = get_law(law).predict(TRUTH[law], lr, warmup=WARMUP, at=steps)
        runs.append(Run(path=f"{name}.csv", steps=steps, loss=clean * np.exp(ar1_noise(rng, steps.size, phi)), lr=lr,
                        step0=0, warmup=WARMUP, line=np.arange(steps.size) + 2, meta={}))
    return runs


def coverage(law: str, phi: float, reps: int) -> list[dict]:
    held = schedules.wsd(PEAK, T, warmup=WARMUP, decay=0.2, final=0.0)
    truth = float(get_law(law).predict(TRUTH[law], held, warmup=WARMUP, at=[T - 1])[0])
    out = {e: {"hits": 0, "widths": [], "rhos": []} for e in ("iid", "ar1")}
    for r in range(reps):
        runs = simulate(law, phi, 10_000 * (law == "mpl") + 100 * int(phi * 10) + r)
        for errors, acc in out.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = fit(runs, law, seed=0, n_starts=16, errors=errors, law_error=False)
                pred = res.predict(held, warmup=WARMUP, at=np.array([T - 1]), interval=0.9)
            acc["hits"] += bool(pred.lower[0] <= truth <= pred.upper[0])
            acc["widths"].append(float(pred.upper[0] - pred.lower[0]))
            if res.residual_rho is not None:
                acc["rhos"].append(res.residual_rho)
    return [{"law": law, "phi": phi, "errors": e, "reps": reps, "coverage": a["hits"] / reps,
             "median_width": float(np.median(a["widths"])),
             "median_rho": float(np.median(a["rhos"])) if a["rhos"] else None} for e, a in out.items()]


def real_row(label: str, target: str, runs: list[Run]) -> dict:
    """The default MPL fit's measured rho, and its L0 stderr over the independent-residual one."""
    ar1, iid = fit(runs, "mpl", law_error=False), fit(runs, "mpl", errors="iid", law_error=False)
    return {"data": label, "target": target, "rho": ar1.residual_rho,
            "stderr_factor": ar1.params["L0"].stderr / iid.params["L0"].stderr}


def real_rhos() -> list[dict]:
    from scalefit.readers import read_runs

    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for size in ("xs", "tiny", "s1"):
            files = sorted(glob.glob(str(HERE.parent / "data" / "runs" / "curves" / f"{size}_co*.csv")))
            for target in ("val_loss", "loss"):
                runs = read_runs(files, target=target)
                rows.append(real_row(f"bundled {size} constant+cosine", target, runs))
        try:
            from curve_fit import PROTOCOLS, REF, load
        except ImportError:
            return rows
        if REF.is_dir():
            for size in ("25M", "100M"):
                rows.append(real_row(f"MPL reference {size}, protocol a training runs", "loss",
                                     load(size, PROTOCOLS["a"])))
    return rows


def reference_coverage() -> list[dict]:
    """Real data: how often the 90% interval of a held-out MPL reference curve's final loss covers it (fits on
    each protocol's training curves; 7 + 6 held-out curves per size), with either residual model."""
    try:
        from curve_fit import PROTOCOLS, REF, SCHEDULES, load
    except ImportError:
        return []
    if not REF.is_dir():
        return []
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for size in ("25M", "100M"):
            for proto, train_names in PROTOCOLS.items():
                train = load(size, train_names)
                test = load(size, [n for n in SCHEDULES if n not in train_names])
                for errors in ("iid", "ar1"):
                    res = fit(train, "mpl", errors=errors, law_error=False)
                    hits, half, err = 0, [], []
                    for run in test:
                        last = run.index[run.observed][-1:]
                        pred = res.predict(run, at=last, interval=0.9)
                        truth = float(run.loss[run.observed][-1])
                        hits += bool(pred.lower[-1] <= truth <= pred.upper[-1])
                        half.append(float(pred.upper[-1] - pred.loss[-1]))
                        err.append(abs(truth - float(pred.loss[-1])))
                    rows.append({"size": size, "protocol": proto, "errors": errors, "curves": len(test),
                                 "covered": hits, "median_half_width": float(np.median(half)),
                                 "median_abs_error": float(np.median(err))})
    return rows


# ---------------------------------------------------------------------------------------------------------------
# Intervals under the default MPL shape prior (issue 14, item 2; ``--shape``, ``--shape-real``)
# ---------------------------------------------------------------------------------------------------------------
#: Published MPL fits (the MPL repository's README: all nine curves of a size). The simulated truths use their
#: amplitudes with either their own shape ("published") or the default prior's centre ("centre").
PUBLISHED = {"25M": {"L0": 3.040, "A": 0.525, "alpha": 0.508, "B": 363.788, "C": 2.066, "beta": 0.583, "gamma": 0.641},
             "100M": {"L0": 2.651, "A": 0.601, "alpha": 0.453, "B": 437.946, "C": 2.132, "beta": 0.598,
                      "gamma": 0.655}}
CENTRE_SHAPE = {"C": 1.0, "beta": 0.5, "gamma": 0.5}
#: AR(1) log-noise of the simulated curves, (sd, lag-1 autocorrelation). "val-like": what the MPL reference curves'
#: residuals around the default fit of all nine curves of a size show (per curve sd 5e-4 to 2e-3, lag-1
#: autocorrelation 0.59-0.98; ``shape.noise`` in the JSON); "noisier": 3x the sd, less memory.
SHAPE_NOISES = {"val-like": (1e-3, 0.8), "noisier": (3e-3, 0.5)}
#: The 2,000-step design's amplitudes (``tests/test_fitting.py``'s MPL truth, peak LR 1e-3).
SHORT_AMPLITUDES = {"L0": 2.6, "A": 0.5, "alpha": 0.45, "B": 400.0}
SPREAD_SCALES = (0.5, 1.0, 2.0)
CANDIDATES = ("default", "default+cv", "no prior", "pull as variance", "spread prior", "spread prior+cv", "hull",
              "hull+cv", "shape x0.5", "shape", "shape x2", "shape+cv")


def shape_designs() -> dict[str, dict[str, Any]]:
    """Training and held-out schedules of each simulated design: the MPL reference schedules (24,000-step runs, a
    row every 128 steps, protocols a and b of ``curve_fit.py``; held out: every other schedule, the 72,000-step ones
    included) and a 2,000-step design with sharp LR drops (a row every 10 steps)."""
    from curve_fit import PROTOCOLS, REF, SCHEDULES

    out: dict[str, dict[str, Any]] = {}
    if REF.is_dir():
        lrs = {n: schedules.from_file(REF / "schedules" / f"{n}.csv") for n in SCHEDULES}
        for proto, train in PROTOCOLS.items():
            out[f"mpl-{proto}"] = {"warmup": 2160, "every": 128, "amplitudes": "published",
                                   "train": {n: lrs[n] for n in train},
                                   "held": {n: lr for n, lr in lrs.items() if n not in train}}
    t, w, peak = 2000, 100, 1e-3
    out["short"] = {"warmup": w, "every": 10, "amplitudes": SHORT_AMPLITUDES, "train": {
        "constant": schedules.constant(peak, t, warmup=w),
        "cosine": schedules.cosine(peak, t, warmup=w, final=peak / 10),
        "multistep 0.5/0.75": schedules.multistep(peak, t, warmup=w, milestones=(0.5, 0.75))}, "held": {
        "wsd 0.2 linear": schedules.wsd(peak, t, warmup=w, decay=0.2),
        "wsd 0.1 exp": schedules.wsd(peak, t, warmup=w, decay=0.1, shape="exp"),
        "linear": schedules.linear(peak, t, warmup=w),
        "cyclic 2": schedules.cyclic(peak, t, warmup=w, cycles=2),
        "cosine 2x": schedules.cosine(peak, 2 * t, warmup=w)}}
    return out


def shape_truth(design: dict[str, Any], size: str, shape: str) -> dict[str, float]:
    amps = PUBLISHED[size] if design["amplitudes"] == "published" else design["amplitudes"]
    truth = {k: amps[k] for k in ("L0", "A", "alpha", "B")}
    truth.update({k: PUBLISHED[size][k] for k in CENTRE_SHAPE} if shape == "published" else CENTRE_SHAPE)
    return truth


def sim_run(name: str, lr: np.ndarray, truth: dict[str, float], warmup: int, every: int, sd: float, phi: float,
            rng: np.random.Generator) -> Run:
    from scipy.signal import lfilter

    steps = np.arange(warmup, lr.size, every, dtype=np.int64)
    z = rng.standard_normal(steps.size) * sd * np.sqrt(1 - phi * phi)
    z[0] = rng.standard_normal() * sd
    clean = get_law("mpl").predict(truth, lr, warmup=warmup, at=steps)
    return Run(path=f"{name}.csv", steps=steps, loss=clean * np.exp(lfilter([1.0], [1.0, -phi], z)), lr=lr,
               step0=0, warmup=warmup, line=np.arange(steps.size) + 2, meta={})


def replicate(design: dict[str, Any], shape: str, rep: int, sd: float, phi: float) -> tuple[str, dict, list[Run]]:
    """Replicate ``rep`` of a cell: the published fit it takes its amplitudes (and shape) from, the truth, and the
    training runs (seeded by the replicate, the noise and the truth, so that every candidate sees the same runs)."""
    size = ("25M", "100M")[rep % 2]
    truth = shape_truth(design, size, shape)
    rng = np.random.default_rng([rep, int(sd * 1e6), int(phi * 10), shape == "published"])
    return size, truth, [sim_run(n, lr, truth, design["warmup"], design["every"], sd, phi, rng)
                         for n, lr in design["train"].items()]


def pull_as_variance(res: Any, prior: dict[str, tuple[float, float]], spread: dict[str, float]) -> Any:
    """The candidate without a refit: the default fit's point, its covariance with the prior's information swapped
    for the spread prior's (``Cov^-1 = H_data / s2 + diag(1 / (sd^2 p^2))``, so only the diagonal terms change)."""
    import dataclasses

    cov = res.covariance
    est = np.flatnonzero(np.diag(cov) > 0)
    prec = np.linalg.inv(cov[np.ix_(est, est)])
    for name, (_, sd) in prior.items():
        k = int(np.flatnonzero(est == res.param_order.index(name))[0])
        prec[k, k] += (1.0 / spread[name] ** 2 - 1.0 / sd ** 2) / res.params[name].value ** 2
    out = np.zeros_like(cov)
    out[np.ix_(est, est)] = np.linalg.inv(prec)
    return dataclasses.replace(res, covariance=out)


def shape_bands(runs: list[Run], held: dict[str, np.ndarray], warmup: int) -> dict[str, dict[str, tuple]]:
    """Every candidate's (point, lower, upper) of each held-out schedule's final loss at 90%, from one default fit
    (with its law error), one fit without a prior, and one refit per spread scale. "shape" is the library's
    (:func:`scalefit.shape_uncertainty.predict`: the spread refit's band stretched to hold the default point)."""
    import dataclasses

    from scalefit import shape_uncertainty as su
    from scalefit.fitting import DEFAULT_PRIORS

    prior = DEFAULT_PRIORS["mpl"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        main = fit(runs, "mpl")
        plain = dataclasses.replace(fit(runs, "mpl", prior={}, law_error=False), law_error=None)
        shapes = {k: su.measure(main, prior, lambda p: fit(runs, "mpl", prior=p, law_error=False),
                                spread={n: k * s for n, s in su.SHAPE_SPREAD["mpl"].items()})[0]
                  for k in SPREAD_SCALES}
        pull = pull_as_variance(main, prior, su.SHAPE_SPREAD["mpl"])
        out: dict[str, dict[str, tuple]] = {}
        for name, lr in held.items():
            kw = {"warmup": warmup, "at": np.array([lr.size - 1]), "interval": 0.9}

            def band(r: Any, method: str = "covariance") -> tuple[float, float, float]:
                p = r.predict(lr, method=method, **kw)
                return float(p.loss[0]), float(p.lower[0]), float(p.upper[0])

            b = {"default": band(main), "default+cv": band(main, "covariance+cv"), "no prior": band(plain),
                 "pull as variance": band(pull), "spread prior+cv": band(shapes[1.0].apply_to(main), "covariance+cv")}
            for k in SPREAD_SCALES:
                b[f"spread prior{scale_label(k)}"] = band(shapes[k].apply_to(main))
            for k in SPREAD_SCALES:  # the recommended interval, derived from the two bands
                b[f"shape{scale_label(k)}"] = stretch(b["default"], b[f"spread prior{scale_label(k)}"])
            b["shape+cv"] = stretch(b["default+cv"], b["spread prior+cv"])
            b["hull"] = hull_of(b["default"], b["spread prior"])
            b["hull+cv"] = hull_of(b["default+cv"], b["spread prior+cv"])
            for method, key in (("covariance", "shape"), ("covariance+cv", "shape+cv")):  # the library gives the same
                p = su.predict(main, shapes[1.0], lr, method=method, **kw)
                assert np.allclose(b[key], (p.loss[0], p.lower[0], p.upper[0]), rtol=0, atol=1e-12), (b[key], p)
            out[name] = b
    return out


def scale_label(k: float) -> str:
    return "" if k == 1.0 else f" x{k:g}"


def stretch(main: tuple, alt: tuple) -> tuple[float, float, float]:
    """``alt``'s band stretched to hold ``main``'s point; the point is ``main``'s."""
    return main[0], min(alt[1], main[0]), max(alt[2], main[0])


def hull_of(main: tuple, alt: tuple) -> tuple[float, float, float]:
    """Both bands' hull; the point is ``main``'s."""
    return main[0], min(main[1], alt[1]), max(main[2], alt[2])


def shape_simulation(reps: int, designs: list[str] | None = None) -> dict[str, Any]:
    """Coverage of the true final losses of held-out schedules by each candidate's 90% interval, simulated from the
    MPL law at the default prior's centre and at the published shapes (alternating the 25M and 100M fits)."""
    rows, per_final = [], []
    all_designs = shape_designs()
    for dname, design in all_designs.items():
        if designs and dname not in designs:
            continue
        for noise, (sd, phi) in SHAPE_NOISES.items():
            for shape in ("centre", "published"):
                t0 = time.perf_counter()
                recs = []
                for rep in range(reps):
                    size, truth, runs = replicate(design, shape, rep, sd, phi)
                    bands = shape_bands(runs, design["held"], design["warmup"])
                    for held_name, cands in bands.items():
                        lr = design["held"][held_name]
                        true_final = float(get_law("mpl").predict(truth, lr, warmup=design["warmup"],
                                                                  at=[lr.size - 1])[0])
                        recs.append({"design": dname, "noise": noise, "truth": shape, "rep": rep, "size": size,
                                     "held": held_name, "true_final": true_final,
                                     "bands": {c: list(b) for c, b in cands.items()}})
                per_final.extend(recs)
                for c in CANDIDATES:
                    rows.append({"design": dname, "noise": noise, "truth": shape, "candidate": c,
                                 **coverage_summary(recs, c), "seconds": time.perf_counter() - t0})
                print_shape_rows(rows[-len(CANDIDATES):])
    return {"setup": {"designs": {k: {"train": list(v["train"]), "held": list(v["held"]), "warmup": v["warmup"],
                                      "every": v["every"], "amplitudes": v["amplitudes"]}
                                  for k, v in all_designs.items()},
                      "noises": SHAPE_NOISES, "published": PUBLISHED, "centre": CENTRE_SHAPE, "reps": reps,
                      "interval": 0.9, "spread_scales": SPREAD_SCALES},
            "rows": rows, "per_final": per_final}


def coverage_summary(recs: list[dict[str, Any]], cand: str) -> dict[str, Any]:
    """Coverage of ``cand``'s intervals over ``recs``, its standard error clustered by replicate (the finals of one
    fit are not independent), median half-width and mean absolute error of its point."""
    hit = np.array([r["bands"][cand][1] <= r["true_final"] <= r["bands"][cand][2] for r in recs], dtype=float)
    reps = np.array([r["rep"] for r in recs])
    per_rep = np.array([hit[reps == k].mean() for k in np.unique(reps)])
    return {"finals": int(hit.size), "reps": int(per_rep.size), "coverage": float(hit.mean()),
            "coverage_se": float(per_rep.std(ddof=1) / np.sqrt(per_rep.size)) if per_rep.size > 1 else None,
            "median_half_width": float(np.median([(r["bands"][cand][2] - r["bands"][cand][1]) / 2 for r in recs])),
            "mean_abs_error": float(np.mean([abs(r["bands"][cand][0] - r["true_final"]) for r in recs]))}


def print_shape_rows(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        se = "" if r.get("coverage_se") is None else f" +- {r['coverage_se'] * 100:.0f}"
        print(f"{r['design']:<7} {r['noise']:<9} {r['truth']:<10} {r['candidate']:<17} {r['finals']:>4} "
              f"{r['coverage'] * 100:>5.0f}%{se:<6} {r['median_half_width']:>9.4f} {r['mean_abs_error']:>9.4f}",
              flush=True)


def real_noise() -> list[dict[str, Any]]:
    """The MPL reference curves' residuals around the default fit of all nine curves of a size: relative sd and
    lag-1 autocorrelation per curve (what ``SHAPE_NOISES["val-like"]`` imitates)."""
    from curve_fit import REF, SCHEDULES, load

    if not REF.is_dir():
        return []
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for size in ("25M", "100M"):
            runs = load(size, SCHEDULES)
            res = fit(runs, "mpl", law_error=False)
            for run in runs:
                ok = run.observed & run.after_warmup
                e = np.log(run.loss[ok]) - np.log(res.predict(run, at=run.index[ok], method="covariance").loss)
                rows.append({"size": size, "run": Path(run.path).stem, "sd": float(e.std()),
                             "rho": float(np.corrcoef(e[1:], e[:-1])[0, 1])})
    return rows


REAL_CANDIDATES = ("default", "default+cv", "spread prior", "spread prior+cv", "shape", "shape+cv", "hull+cv")


def shape_real() -> dict[str, Any]:
    """Held-out finals of the real curves (MPL reference: both sizes and protocols, 26 finals; Schaipp: 111, as
    ``benchmarks/law_error.py`` reads them): coverage and width of the default interval and the shape candidates, with
    and without the law error, and the point error of the default fit against the spread-prior refit's (the shape
    candidates keep the default point)."""
    from curve_fit import SCHAIPP, schaipp_load, schaipp_split, smoothed_final
    from mpl_prior import reference_data

    from scalefit import shape_uncertainty as su
    from scalefit.fitting import DEFAULT_PRIORS

    prior = DEFAULT_PRIORS["mpl"]
    sets: list[tuple[str, list[Run], list[tuple[Run, float]]]] = []
    for (size, proto), (train, test) in reference_data().items():
        sets.append((f"MPL {size} ({proto})", train, [(r, float(r.loss[r.observed][-1])) for r in test]))
    if SCHAIPP.is_dir():
        groups, _ = schaipp_load()
        for key, members in sorted(groups.items()):
            train, test, _ = schaipp_split(members)
            if test:
                sets.append((f"Schaipp {key[0]} L{key[1]} lr{key[6]}", [m["run"] for m in train],
                             [(m["run"], smoothed_final(m["run"])) for m in test]))
    recs = []
    t0 = time.perf_counter()
    for label, train, test in sets:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            main = fit(train, "mpl")
            shape, _ = su.measure(main, prior, lambda p: fit(train, "mpl", prior=p, law_error=False))
            wide = shape.apply_to(main)
            for run, truth in test:
                last = run.index[run.observed][-1:]
                rec = {"set": label, "run": Path(run.path).stem, "truth": truth}
                for cand, (res, method) in {"default": (main, "covariance"), "default+cv": (main, "covariance+cv"),
                                            "spread prior": (wide, "covariance"),
                                            "spread prior+cv": (wide, "covariance+cv")}.items():
                    p = res.predict(run, at=last, method=method)
                    rec[cand] = [float(p.loss[-1]), float(p.lower[-1]), float(p.upper[-1])]
                for method, key in (("covariance", "shape"), ("covariance+cv", "shape+cv")):
                    p = su.predict(main, shape, run, at=last, method=method)
                    rec[key] = [float(p.loss[-1]), float(p.lower[-1]), float(p.upper[-1])]
                rec["hull+cv"] = list(hull_of(rec["default+cv"], rec["spread prior+cv"]))
                recs.append(rec)
    rows = []
    for source in ("MPL", "Schaipp"):
        mine = [r for r in recs if r["set"].startswith(source)]
        if not mine:
            continue
        for cand in REAL_CANDIDATES:
            hit = [r[cand][1] <= r["truth"] <= r[cand][2] for r in mine]
            rows.append({"source": source, "candidate": cand, "finals": len(mine), "covered": int(sum(hit)),
                         "mean_half_width": float(np.mean([(r[cand][2] - r[cand][1]) / 2 for r in mine])),
                         "mean_abs_error": float(np.mean([abs(r[cand][0] - r["truth"]) for r in mine]))})
            print(f"{source:<8} {cand:<16} {rows[-1]['covered']:>4} of {len(mine):<4} half-width "
                  f"{rows[-1]['mean_half_width']:.4f}  mean |error| {rows[-1]['mean_abs_error']:.4f}", flush=True)
    return {"rows": rows, "per_final": recs, "seconds": time.perf_counter() - t0}


# ---------------------------------------------------------------------------------------------------------------
# Acceptance of issue 14, item 2 (``--accept``): the DEFAULT fit and its default interval
# ---------------------------------------------------------------------------------------------------------------
def accept_variants(res: Any) -> dict[str, tuple[Any, str]]:
    """The (result, method) pairs whose 90% intervals the acceptance compares, all from one default
    ``fit(runs, "mpl")``: "before" (main before issue 14.2: covariance band + law error, no shape part), "excess cv"
    (the law error less its fold errors' noise, ``law_error.excess_scale``), "shape+raw cv" (the shape part with the
    law error as it is), "shape+excess cv", "default" (what ``predict`` gives: ``method="auto"``; since
    ``law_error.SUBTRACT_NOISE`` is off, the same as "shape+raw cv") and "noise+shape" (no law error).

    The run recorded in ``results/interval_coverage.json`` (key ``accept``) was made while the default subtracted the
    noise: its "default" rows are "shape+excess cv", and its "shape+raw cv" rows are today's default."""
    import dataclasses

    from scalefit.law_error import excess_scale

    raw, excess = res, res
    if res.law_error is not None:
        le = res.law_error
        raw = dataclasses.replace(res, law_error=dataclasses.replace(le, scale=le.raw_scale))
        excess = dataclasses.replace(res, law_error=dataclasses.replace(le, scale=excess_scale(le.folds)))
    shaped = res.shape_uncertainty is not None
    with_shape = "covariance+shape+cv" if shaped else "covariance+cv"
    return {"before": (raw, "covariance+cv"), "excess cv": (excess, "covariance+cv"),
            "shape+raw cv": (raw, with_shape), "shape+excess cv": (excess, with_shape), "default": (res, "auto"),
            "noise+shape": (res, "covariance+shape" if shaped else "covariance")}


def accept_bands(res: Any, held: dict[str, np.ndarray], warmup: int) -> dict[str, dict[str, Any]]:
    """Every variant's (point, lower, upper, method) of each held-out schedule's final loss at 90%."""
    out: dict[str, dict[str, Any]] = {}
    variants = accept_variants(res)
    for name, lr in held.items():
        b = {}
        for v, (r, method) in variants.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                p = r.predict(lr, warmup=warmup, at=np.array([lr.size - 1]), interval=0.9, method=method)
            b[v] = [float(p.loss[0]), float(p.lower[0]), float(p.upper[0]), p.method]
        out[name] = b
    return out


def acceptance(reps: int, designs: list[str] | None = None) -> dict[str, Any]:
    """Coverage of the true final losses of held-out schedules by the DEFAULT fit's default 90% interval, simulated
    from the MPL law at the default prior's centre and at the published shapes (the ``--shape`` designs and noises;
    fits with every default, ``fit(runs, "mpl")``)."""
    rows, per_final = [], []
    all_designs = shape_designs()
    print(f"\n{'design':<7} {'noise':<9} {'truth':<10} {'variant':<15} {'n':>4} {'cover 90%':>12} {'half-width':>10} "
          f"{'|error|':>8}  method")
    for dname, design in all_designs.items():
        if designs and dname not in designs:
            continue
        for noise, (sd, phi) in SHAPE_NOISES.items():
            for shape in ("centre", "published"):
                t0 = time.perf_counter()
                recs, fit_s = [], []
                for rep in range(reps):
                    size, truth, runs = replicate(design, shape, rep, sd, phi)
                    t1 = time.perf_counter()
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        res = fit(runs, "mpl")
                    fit_s.append(time.perf_counter() - t1)
                    for held_name, cands in accept_bands(res, design["held"], design["warmup"]).items():
                        lr = design["held"][held_name]
                        true_final = float(get_law("mpl").predict(truth, lr, warmup=design["warmup"],
                                                                  at=[lr.size - 1])[0])
                        recs.append({"design": dname, "noise": noise, "truth": shape, "rep": rep, "size": size,
                                     "held": held_name, "true_final": true_final, "bands": cands,
                                     "law_error_scale": None if res.law_error is None else res.law_error.scale})
                per_final.extend(recs)
                for v in recs[0]["bands"]:
                    methods = sorted({r["bands"][v][3] for r in recs})
                    rows.append({"design": dname, "noise": noise, "truth": shape, "variant": v, "methods": methods,
                                 **coverage_summary(recs, v), "fit_seconds_median": float(np.median(fit_s)),
                                 "seconds": time.perf_counter() - t0})
                    r = rows[-1]
                    se = "" if r["coverage_se"] is None else f" +- {r['coverage_se'] * 100:.0f}"
                    print(f"{dname:<7} {noise:<9} {shape:<10} {v:<15} {r['finals']:>4} {r['coverage'] * 100:>5.0f}%"
                          f"{se:<6} {r['median_half_width']:>10.4f} {r['mean_abs_error']:>8.4f}  {','.join(methods)}",
                          flush=True)
    return {"setup": {"designs": list(d for d in all_designs if not designs or d in designs), "noises": SHAPE_NOISES,
                      "published": PUBLISHED, "centre": CENTRE_SHAPE, "reps": reps, "interval": 0.9,
                      "fit": "fit(runs, 'mpl'), every default"},
            "rows": rows, "per_final": per_final}


# ---------------------------------------------------------------------------------------------------------------
# Profile likelihood of the shape, our own against lmfit's conf_interval (issue 15, item 6; ``--profile``)
# ---------------------------------------------------------------------------------------------------------------
PROFILE_POINTS = 7  # grid points per shape parameter (log-spaced, +-2.5 spread sd around the spread refit)
CHI2_90 = 2.705543454095404  # chi-square quantile, 1 degree of freedom, 0.9


class Deviance:
    """``D(theta) = 2 huber(theta) / s2 + sum z^2``: the data's Huber objective scaled by the fit's noise variance
    (Huber's factor times the AR(1) factor, as the covariance uses) plus the spread prior's squared z-scores; a
    difference of D is a likelihood-ratio statistic that respects the residuals' autocorrelation."""

    def __init__(self, runs: list[Run], warmup: int, ref: Any, prior: dict[str, tuple[float, float]]) -> None:
        from scalefit.fitting import DEFAULT_DELTA
        from scalefit.fitting.uncertainty import scale2

        self.law, self.warmup, self.prior, self.delta = get_law("mpl"), warmup, prior, DEFAULT_DELTA
        self.obs = [(r.lr, r.index[r.observed & r.after_warmup], np.log(r.loss[r.observed & r.after_warmup]))
                    for r in runs]
        r = self.residuals(ref.values)
        n_free = sum(not p.fixed for p in ref.params.values())
        self.s2 = scale2(r, True, self.delta, n_free) * (ref.variance_factor or 1.0)

    def residuals(self, values: dict[str, float]) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.concatenate([np.log(self.law.predict(values, lr, warmup=self.warmup, at=at)) - y
                                   for lr, at, y in self.obs])

    def huber(self, r: np.ndarray) -> float:
        a, d = np.abs(r), self.delta
        return float(np.sum(np.where(a <= d, 0.5 * r * r, d * (a - 0.5 * d))))

    def __call__(self, values: dict[str, float]) -> float:
        z = [(math.log(values[n]) - math.log(c)) / sd for n, (c, sd) in self.prior.items()]
        r = self.residuals(values)
        return 2.0 * self.huber(r) / self.s2 + float(np.dot(z, z)) if np.all(np.isfinite(r)) else math.inf


def own_profile(runs: list[Run], warmup: int, ref: Any, prior: dict[str, tuple[float, float]]) -> list[dict]:
    """Profile of each shape parameter on a log grid (+-2.5 spread sd around ``ref``): at each point the other
    parameters are refitted (the spread prior on the other shape parameters), and the point's deviance recorded."""
    dev = Deviance(runs, warmup, ref, prior)
    d0 = dev(ref.values)
    points = []
    for name, (_, sd) in prior.items():
        rest = {n: v for n, v in prior.items() if n != name}
        for u in np.linspace(-2.5, 2.5, PROFILE_POINTS):
            value = ref.values[name] * math.exp(u * sd)
            lo, hi = ref.params[name].lower, ref.params[name].upper
            if not lo < value < hi:
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    res = fit(runs, "mpl", prior=rest, fixed={name: value}, law_error=False, n_starts=8)
            except Exception:  # noqa: BLE001 - a profile point that cannot be fitted is left out
                continue
            points.append({"name": name, "value": value, "values": res.values, "d": dev(res.values) - d0})
    return points, dev


def lmfit_profile(runs: list[Run], warmup: int, ref: Any, prior: dict[str, tuple[float, float]],
                  ar1_aware: bool) -> tuple[dict, dict, float]:
    """lmfit's ``conf_interval`` on C, beta, gamma at 90%, from our fit as the start. Residuals ``sign(r)
    sqrt(2 huber(r))`` (their sum of squares is twice our objective) and the spread prior's rows. Its default
    F-test assumes independent residuals; ``ar1_aware`` passes a ``prob_func`` with our deviance's scale instead."""
    import lmfit
    from scipy.stats import chi2

    dev = Deviance(runs, warmup, ref, prior)

    def resid(params: Any) -> np.ndarray:
        v = params.valuesdict()
        r = dev.residuals(v)
        a = np.abs(r)
        rho = np.where(a <= dev.delta, 0.5 * r * r, dev.delta * (a - 0.5 * dev.delta))
        pr = [dev.delta * (math.log(v[n]) - math.log(c)) / sd for n, (c, sd) in prior.items()]
        out = np.concatenate([np.sign(r) * np.sqrt(2 * rho), pr])
        return np.where(np.isfinite(out), out, 1e3)

    params = ref.lmfit_params()
    for p in params.values():
        p.stderr, p.correl = None, None
    t0 = time.perf_counter()
    mini = lmfit.Minimizer(resid, params)
    best = mini.minimize(method="leastsq")
    kw = {}
    if ar1_aware:
        # lmfit's chi-square is 2 huber + delta^2 sum z^2; the statistic is D's difference (data part over s2)
        def prob(best: Any, new: Any) -> float:
            def d(res: Any) -> float:
                z2 = sum(((math.log(res.params[n].value) - math.log(c)) / sd) ** 2 for n, (c, sd) in prior.items())
                return (res.chisqr - dev.delta ** 2 * z2) / dev.s2 + z2

            return float(chi2.cdf(max(d(new) - d(best), 0.0), best.nvarys - new.nvarys))

        kw["prob_func"] = prob
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ci, trace = lmfit.conf_interval(mini, best, p_names=list(prior), sigmas=[0.9], trace=True, **kw)
    return ci, trace, time.perf_counter() - t0


def json_float(x: float) -> float | str:
    """JSON has no infinity: an open end of a confidence interval is written "inf" or "-inf"."""
    return float(x) if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def lmfit_row(runs: list[Run], warmup: int, ref: Any, wide: dict[str, tuple[float, float]], points: list[dict],
              own_seconds: float, truth: dict[str, float]) -> dict[str, Any]:
    """90% intervals of the shape parameters from our profile points and from lmfit's conf_interval (F-test, and
    AR(1)-aware), with the seconds each took."""
    lm: dict[str, Any] = {"own_seconds": own_seconds, "own_points": len(points), "own_ci": {},
                          "truth_shape": {n: truth[n] for n in wide}}
    for name in wide:
        ok = [p["value"] for p in points if p["name"] == name and p["d"] <= CHI2_90] + [ref.values[name]]
        lm["own_ci"][name] = [min(ok), max(ok)]
    for aware in (False, True):
        key = f"lmfit_{'ar1' if aware else 'ftest'}"
        try:
            ci, _, secs = lmfit_profile(runs, warmup, ref, wide, aware)
            lm[key] = {"seconds": secs, "ci": {n: [json_float(ci[n][0][1]), json_float(ci[n][-1][1])] for n in wide}}
        except Exception as exc:  # noqa: BLE001 - lmfit's failure is a result here
            lm[key] = {"error": f"{type(exc).__name__}: {exc}"}
    return lm


def print_lmfit_row(label: str, lm: dict[str, Any]) -> None:
    def ci(v: list) -> str:
        return "-".join(f"{x:.3f}" if isinstance(x, float) else x for x in v)

    others = [(k[6:], v) for k, v in lm.items() if k.startswith("lmfit_")]
    print(f"lmfit vs own [{label}]: own {lm['own_seconds']:.1f} s, lmfit "
          + ", ".join(f"{k} {v.get('seconds', float('nan')):.1f} s" for k, v in others)
          + f"; 90% CI of gamma: own {ci(lm['own_ci']['gamma'])}, "
          + ", ".join(f"{k} " + (ci(v["ci"]["gamma"]) if "ci" in v else v["error"][:60]) for k, v in others)
          + f" (truth {lm['truth_shape']['gamma']})", flush=True)


def profile_section(reps: int, lmfit_reps: int) -> dict[str, Any]:
    """Coverage of a profile-likelihood prediction interval (the range of the final loss over our profile points
    with deviance <= chi2(1, 0.9)) against the recommended shape interval, and lmfit's conf_interval against our
    profile in time and in the shape intervals they give."""
    from scalefit import shape_uncertainty as su
    from scalefit.fitting import DEFAULT_PRIORS

    prior = DEFAULT_PRIORS["mpl"]
    wide = su.spread_prior("mpl", prior)
    designs = shape_designs()
    rows, lm_rows = [], []
    for dname in ("mpl-b", "short"):
        if dname not in designs:
            continue
        design = designs[dname]
        sd, phi = SHAPE_NOISES["val-like"]
        for shape in ("centre", "published"):
            recs, t_own = [], []
            for rep in range(reps):
                _, truth, runs = replicate(design, shape, rep, sd, phi)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    main = fit(runs, "mpl", law_error=False)
                    t0 = time.perf_counter()
                    shp, _ = su.measure(main, prior, lambda p: fit(runs, "mpl", prior=p, law_error=False))
                    ref = shp.apply_to(main)
                    points, _ = own_profile(runs, design["warmup"], ref, wide)
                    t_own.append(time.perf_counter() - t0)
                    inside = [p for p in points if p["d"] <= CHI2_90] + [{"values": ref.values}]
                    for held, lr in design["held"].items():
                        at = np.array([lr.size - 1])
                        true_final = float(get_law("mpl").predict(truth, lr, warmup=design["warmup"], at=at)[0])
                        finals = [float(get_law("mpl").predict(p["values"], lr, warmup=design["warmup"], at=at)[0])
                                  for p in inside]
                        rec_shape = su.predict(main, shp, lr, warmup=design["warmup"], at=at, method="covariance")
                        band = ref.predict(lr, warmup=design["warmup"], at=at, method="covariance")
                        point = float(rec_shape.loss[0])
                        prof = (point, min(finals + [point, float(band.lower[0])]),
                                max(finals + [point, float(band.upper[0])]))
                        recs.append({"rep": rep, "held": held, "true_final": true_final, "bands": {
                            "shape interval": [point, float(rec_shape.lower[0]), float(rec_shape.upper[0])],
                            "profile": list(prof)}})
                if rep < lmfit_reps and shape == "published":
                    lm_rows.append({"design": dname, "truth": shape, "rep": rep,
                                    **lmfit_row(runs, design["warmup"], ref, wide, points, t_own[-1], truth)})
                    print_lmfit_row(f"{dname} {shape} rep {rep}", lm_rows[-1])
            for cand in ("shape interval", "profile"):
                rows.append({"design": dname, "noise": "val-like", "truth": shape, "candidate": cand,
                             **coverage_summary(recs, cand), "own_profile_seconds_median": float(np.median(t_own))})
            print_shape_rows(rows[-2:])
    return {"rows": rows, "lmfit": lm_rows, "points_per_parameter": PROFILE_POINTS, "reps": reps}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=40, help="repetitions per cell of the AR(1) section")
    ap.add_argument("--no-ar1", action="store_true", help="skip the AR(1) sections (simulation, real rho, reference)")
    ap.add_argument("--shape", action="store_true", help="the shape-prior simulation (key 'shape')")
    ap.add_argument("--shape-reps", type=int, default=30, help="replicates per cell of --shape (default 30)")
    ap.add_argument("--shape-designs", default="", help="comma-separated subset of the --shape designs")
    ap.add_argument("--shape-real", action="store_true",
                    help="the shape interval on the real curves (key 'shape_real')")
    ap.add_argument("--accept", action="store_true",
                    help="issue 14.2's acceptance: the default fit's default interval, simulated (key 'accept')")
    ap.add_argument("--accept-reps", type=int, default=20, help="replicates per cell of --accept (default 20)")
    ap.add_argument("--profile", action="store_true", help="profile likelihood, ours and lmfit's (key 'profile')")
    ap.add_argument("--profile-reps", type=int, default=20, help="replicates per cell of --profile (default 20)")
    ap.add_argument("--lmfit-reps", type=int, default=1,
                    help="replicates at the published shape where lmfit's conf_interval also runs (default 1)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    path = HERE / "results" / "interval_coverage.json"
    out: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    out.update({"benchmark": "interval_coverage", "machine": machine(), "time": time.strftime("%Y-%m-%dT%H:%M:%S")})
    if not args.no_ar1:
        out.update(ar1_sections(args.reps))
    if args.shape:
        print(f"\n{'design':<7} {'noise':<9} {'truth':<10} {'candidate':<17} {'n':>4} {'cover 90%':>12} "
              f"{'half-width':>9} {'|error|':>9}")
        t1 = time.perf_counter()
        out["shape"] = {"command": "python benchmarks/interval_coverage.py " + " ".join(sys.argv[1:]),
                        "noise": real_noise(),
                        **shape_simulation(args.shape_reps, [d for d in args.shape_designs.split(",") if d])}
        out["shape"]["seconds"] = time.perf_counter() - t1
    if args.shape_real:
        out["shape_real"] = {"command": "python benchmarks/interval_coverage.py " + " ".join(sys.argv[1:]),
                             **shape_real()}
    if args.accept:
        t1 = time.perf_counter()
        out["accept"] = {"command": "OMP_NUM_THREADS=1 python benchmarks/interval_coverage.py "
                                    + " ".join(sys.argv[1:]),
                         "machine": machine(), "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                         **acceptance(args.accept_reps, [d for d in args.shape_designs.split(",") if d])}
        out["accept"]["seconds"] = time.perf_counter() - t1
    if args.profile:
        out["profile"] = {"command": "python benchmarks/interval_coverage.py " + " ".join(sys.argv[1:]),
                          **profile_section(args.profile_reps, args.lmfit_reps)}
    from scalefit.jsonio import write_text

    write_text(path, json.dumps(out, indent=1, default=float) + "\n")
    print(f"wrote {path} ({time.perf_counter() - t0:.0f} s)")
    return 0


def ar1_sections(reps: int) -> dict[str, Any]:
    """The AR(1) sections: simulation table, measured rho on real curves, MPL reference coverage."""
    t0 = time.perf_counter()
    rows = [row for law in ("tissue", "mpl") for phi in PHIS for row in coverage(law, phi, reps)]
    print(f"{'law':<7} {'phi':>4} {'errors':<6} {'coverage of 90%':>16} {'median width':>13} {'median rho':>11}")
    for r in rows:
        rho = "-" if r["median_rho"] is None else f"{r['median_rho']:.2f}"
        print(f"{r['law']:<7} {r['phi']:>4.1f} {r['errors']:<6} {r['coverage']:>16.0%} {r['median_width']:>13.4f} "
              f"{rho:>11}")
    real = real_rhos()
    print(f"\n{'data':<48} {'target':<9} {'rho':>5} {'stderr x':>9}")
    for r in real:
        print(f"{r['data']:<48} {r['target']:<9} {r['rho']:>5.2f} {r['stderr_factor']:>9.2f}")
    ref = reference_coverage()
    if ref:
        print(f"\n{'MPL reference':<14} {'errors':<6} {'final losses covered':>21} {'median half-width':>18} "
              f"{'median |error|':>15}")
    for r in ref:
        label, covered = f"{r['size']} ({r['protocol']})", f"{r['covered']} of {r['curves']}"
        print(f"{label:<14} {r['errors']:<6} {covered:>21} {r['median_half_width']:>18.4f} "
              f"{r['median_abs_error']:>15.4f}")
    return {"setup": {"steps": T, "warmup": WARMUP, "peak": PEAK, "every": EVERY, "noise_sd": SD, "truth": TRUTH,
                      "held_out": "wsd decay 0.2 to 0", "interval": 0.9},
            "simulation": rows, "real_data": real, "reference_coverage": ref, "seconds": time.perf_counter() - t0}


if __name__ == "__main__":
    raise SystemExit(main())
