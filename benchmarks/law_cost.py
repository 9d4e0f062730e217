"""Cost of one design evaluation of each loss-curve law (and the MPL compression error bound).

Run: python benchmarks/law_cost.py [--repeats 5] [--skip-big]
Prints a table and writes benchmarks/results/law_cost.json. Cases (cosine schedules, peak 3e-4 -> 3e-5):
- ``ref``: the MPL reference shape, 24,000 steps, warmup 2,160, an observation every 128 steps (M = 171);
- ``dense34k``: 34,000 steps, no warmup, every step observed (M = 34,000);
- ``1M-5000`` / ``1M-500``: 1,000,000 steps, warmup 2,000, 5,000 / 500 evenly spaced observations: the rows the
  fitter uses for a dense 1M-step run (``max_points``) and for its start scoring and local searches
  (``SEARCH_POINTS``);
- ``dense1M``: 1,000,000 steps, every step observed (memory peak from tracemalloc; skipped with --skip-big).
MPL parameters: alpha 0.5, C 2, beta 0.6, gamma 0.6, B = 500 for the loss-error bound (B * ld_error_bound).

The machine is shared, so every time is the min and the median of ``--repeats`` calls, wall and CPU
(``time.process_time``); the table prints min / median / CPU min. Each call moves C by a relative 1e-12 so that no
call reuses the previous one (MPL keeps its last evaluation for a design_jac at the same point); ``design + jac``
is that pattern, the fitter's: a design, then design_jac at the same point. ``prepare`` is timed on a fresh law
object each time (up to 3 times; MPL keeps a schedule's prepare work on the law for its next prepare).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _machine import machine  # noqa: E402

from scalefit.laws import get_law  # noqa: E402
from scalefit.laws.multipower import ld_error_bound  # noqa: E402

THETA = {"alpha": 0.5, "C": 2.0, "beta": 0.6, "gamma": 0.6, "lam": 0.999}
B = 500.0


def cosine(T: int, W: int) -> np.ndarray:
    s = np.arange(T)
    lr = 3e-5 + (3e-4 - 3e-5) / 2 * (1 + np.cos(np.pi * (s - W) / (T - W)))
    lr[:W] = 3e-4 * (s[:W] + 1) / W
    return lr


def timed(fn, repeats: int) -> dict[str, float]:
    """``fn(i)`` for i = 0 (warm-up) .. repeats: min and median wall seconds, min CPU seconds."""
    fn(0)
    walls, cpus = [], []
    for i in range(1, repeats + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        fn(i)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return {"min": min(walls), "median": statistics.median(walls), "cpu_min": min(cpus)}


def run_case(label: str, law_name: str, opts: dict, lr: np.ndarray, W: int, at: np.ndarray, repeats: int,
             memory: bool = False) -> dict:
    # prepare on a fresh law object each time (MPL keeps a schedule's prepare work for the next prepare)
    t_prep = None if memory else timed(lambda i: get_law(law_name, **opts).prepare(lr, warmup=W, at=at),
                                       min(repeats, 3))
    law = get_law(law_name, **opts)
    if memory:
        tracemalloc.start()
    t0 = time.perf_counter()
    prep = law.prepare(lr, warmup=W, at=at)
    t_prep = t_prep or {"min": time.perf_counter() - t0, "median": time.perf_counter() - t0}
    names = law.nonlinear_names

    def theta(i: int) -> np.ndarray:  # a new point per call (C moved by 1e-12 relative)
        return np.array([THETA[k] * (1 + 1e-12 * i if k == "C" else 1) for k in names])

    design = timed(lambda i: law.design(theta(i), prep), 1 if memory else repeats)
    peak = None
    jac = both = {"min": float("nan"), "median": float("nan"), "cpu_min": float("nan")}
    if memory:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    else:
        jac = timed(lambda i: law.design_jac(theta(10**6 + i), prep), repeats)
        both = timed(lambda i: (law.design(theta(2 * 10**6 + i), prep), law.design_jac(theta(2 * 10**6 + i), prep)),
                     repeats)
    row = {"case": label, "law": law_name, "options": opts, "T": int(lr.size), "M": int(at.size),
           "prepare_s": t_prep["median"], "prepare_min_s": t_prep["min"],
           "design_s": design["median"], "design_min_s": design["min"], "design_cpu_s": design["cpu_min"],
           "design_jac_s": jac["median"], "design_jac_min_s": jac["min"],
           "design_jac_cpu_s": jac["cpu_min"], "design_then_jac_s": both["median"],
           "design_then_jac_min_s": both["min"], "design_then_jac_cpu_s": both["cpu_min"], "peak_mib": peak}
    if law_name == "mpl" and opts.get("compress", True):
        pairs = int(np.maximum(prep.near_hi - prep.near_lo, 0).sum())
        pairs += sum(int(np.maximum(h - lo, 0).sum()) for lo, h in zip(prep.block_lo, prep.block_hi))
        row["pairs_per_observation"] = pairs / max(at.size, 1)
        row["n_blocks_per_level"] = [int(lev.start.size) for lev in prep.levels]
        row["nonzero_decrements"] = int(prep.k.size)
        if not memory:
            row["loss_error_bound_B500"] = float(B * ld_error_bound(THETA, prep).max())
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--skip-big", action="store_true", help="skip the 1,000,000-step every-step case")
    args = ap.parse_args()
    ref_lr, dense_lr, big_lr = cosine(24_000, 2_160), cosine(34_000, 1), cosine(1_000_000, 2_000)
    ref_at, dense_at = np.arange(2_160, 24_000, 128), np.arange(34_000)
    big_at = {m: np.unique(np.linspace(2_000, big_lr.size - 1, m).round().astype(np.int64)) for m in (5_000, 500)}
    r = args.repeats
    rows = [
        run_case("ref", "mpl", {}, ref_lr, 2_160, ref_at, r),
        run_case("ref", "mpl", {"compress": False}, ref_lr, 2_160, ref_at, max(1, r // 2)),
        run_case("ref", "tissue", {}, ref_lr, 2_160, ref_at, r),
        run_case("ref", "tissue", {"fit_lam": True}, ref_lr, 2_160, ref_at, r),
        run_case("dense34k", "mpl", {}, dense_lr, 1, dense_at, max(1, r // 2)),
        run_case("dense34k", "mpl", {"variant": "official"}, dense_lr, 1, dense_at, 1),
        run_case("dense34k", "tissue", {}, dense_lr, 1, dense_at, r),
        run_case("dense34k", "tissue", {"fit_lam": True}, dense_lr, 1, dense_at, r),
        run_case("1M-5000", "mpl", {}, big_lr, 2_000, big_at[5_000], r),
        run_case("1M-500", "mpl", {}, big_lr, 2_000, big_at[500], r),
        run_case("1M-5000", "tissue", {}, big_lr, 2_000, big_at[5_000], r),
    ]
    if not args.skip_big:
        big = cosine(1_000_000, 1)
        rows.append(run_case("dense1M", "mpl", {}, big, 1, np.arange(big.size), 1, memory=True))
    vals = {"L0": 3.0, "A": 0.5, "B": B, **THETA}
    t_grad = timed(lambda i: get_law("mpl").final_loss_and_grad(vals, ref_lr, warmup=2_160), r)  # the optimizer's
    print(f"{'case':<10}{'law':<8}{'options':<18}{'T':>8}{'M':>8}{'prepare ms':>11}{'design ms':>28}"
          f"{'jac ms':>28}{'design+jac ms':>28}{'peak MiB':>9}{'B*bound':>9}{'pairs/M':>8}")
    print(f"{'':<63}{'(min / median / CPU min)':>84}")
    for row in rows:
        opts = ",".join(f"{k}={v}" for k, v in row["options"].items()) or "-"
        peak = f"{row['peak_mib']:.0f}" if row["peak_mib"] is not None else "-"
        bound = f"{row['loss_error_bound_B500']:.1e}" if "loss_error_bound_B500" in row else "-"
        pairs = f"{row['pairs_per_observation']:.0f}" if "pairs_per_observation" in row else "-"

        def ms(key: str) -> str:
            return f"{row[key + '_min_s'] * 1e3:.3g} / {row[key + '_s'] * 1e3:.3g} / {row[key + '_cpu_s'] * 1e3:.3g}"

        print(f"{row['case']:<10}{row['law']:<8}{opts:<18}{row['T']:>8}{row['M']:>8}{row['prepare_min_s'] * 1e3:>11.1f}"
              f"{ms('design'):>28}{ms('design_jac'):>28}{ms('design_then_jac'):>28}{peak:>9}{bound:>9}{pairs:>8}")
    print(f"final_loss_and_grad (mpl, T = 24,000, last step): {t_grad['min'] * 1e3:.2f} ms min, "
          f"{t_grad['median'] * 1e3:.2f} ms median")
    out = Path(__file__).parent / "results" / "law_cost.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "final_loss_and_grad_s": t_grad["median"],
                               "final_loss_and_grad_min_s": t_grad["min"], "theta": THETA, "B": B,
                               "repeats": args.repeats, "machine": machine(),
                               "time": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
