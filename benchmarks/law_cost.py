"""Cost of one design evaluation of each loss-curve law (and the MPL compression error bound).

Run: python benchmarks/law_cost.py [--repeats 5] [--skip-big]
Prints a table and writes benchmarks/results/law_cost.json. Cases (cosine schedules, peak 3e-4 -> 3e-5):
- ``ref``: the MPL reference shape, 24,000 steps, warmup 2,160, an observation every 128 steps (M = 171);
- ``dense34k``: 34,000 steps, no warmup, every step observed (M = 34,000);
- ``dense1M``: 1,000,000 steps, every step observed (memory peak from tracemalloc; skipped with --skip-big).
MPL parameters: alpha 0.5, C 2, beta 0.6, gamma 0.6, B = 500 for the loss-error bound (B * ld_error_bound).
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
from scalefit.laws.multipower import final_loss_and_grad, ld_error_bound  # noqa: E402

THETA = {"alpha": 0.5, "C": 2.0, "beta": 0.6, "gamma": 0.6, "lam": 0.999}
B = 500.0


def cosine(T: int, W: int) -> np.ndarray:
    s = np.arange(T)
    lr = 3e-5 + (3e-4 - 3e-5) / 2 * (1 + np.cos(np.pi * (s - W) / (T - W)))
    lr[:W] = 3e-4 * (s[:W] + 1) / W
    return lr


def timed(fn, repeats: int) -> float:
    fn()  # warm caches
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def run_case(label: str, law_name: str, opts: dict, lr: np.ndarray, W: int, at: np.ndarray, repeats: int,
             memory: bool = False) -> dict:
    law = get_law(law_name, **opts)
    if memory:
        tracemalloc.start()
    t0 = time.perf_counter()
    prep = law.prepare(lr, warmup=W, at=at)
    t_prep = time.perf_counter() - t0
    theta = np.array([THETA[k] for k in law.nonlinear_names])
    t_design = timed(lambda: law.design(theta, prep), repeats)
    peak = None
    if memory:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        t_jac = float("nan")
    else:
        t_jac = timed(lambda: law.design_jac(theta, prep), repeats)
    row = {"case": label, "law": law_name, "options": opts, "T": int(lr.size), "M": int(at.size),
           "prepare_s": t_prep, "design_s": t_design, "design_jac_s": t_jac, "peak_mib": peak}
    if law_name == "mpl" and opts.get("compress", True) and not memory:
        row["loss_error_bound_B500"] = float(B * ld_error_bound(THETA, prep).max())
        row["n_blocks_per_level"] = [int(lev.start.size) for lev in prep.levels]
        row["nonzero_decrements"] = int(prep.k.size)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--skip-big", action="store_true", help="skip the 1,000,000-step case")
    args = ap.parse_args()
    ref_lr, dense_lr = cosine(24_000, 2_160), cosine(34_000, 1)
    ref_at, dense_at = np.arange(2_160, 24_000, 128), np.arange(34_000)
    rows = [
        run_case("ref", "mpl", {}, ref_lr, 2_160, ref_at, args.repeats),
        run_case("ref", "mpl", {"compress": False}, ref_lr, 2_160, ref_at, max(1, args.repeats // 2)),
        run_case("ref", "tissue", {}, ref_lr, 2_160, ref_at, args.repeats),
        run_case("ref", "tissue", {"fit_lam": True}, ref_lr, 2_160, ref_at, args.repeats),
        run_case("dense34k", "mpl", {}, dense_lr, 1, dense_at, max(1, args.repeats // 2)),
        run_case("dense34k", "mpl", {"variant": "official"}, dense_lr, 1, dense_at, 1),
        run_case("dense34k", "tissue", {}, dense_lr, 1, dense_at, args.repeats),
        run_case("dense34k", "tissue", {"fit_lam": True}, dense_lr, 1, dense_at, args.repeats),
    ]
    if not args.skip_big:
        big = cosine(1_000_000, 1)
        rows.append(run_case("dense1M", "mpl", {}, big, 1, np.arange(big.size), 1, memory=True))
    vals = {"L0": 3.0, "A": 0.5, "B": B, **THETA}
    t_grad = timed(lambda: final_loss_and_grad(vals, ref_lr, warmup=2_160), args.repeats)
    print(f"{'case':<10}{'law':<8}{'options':<24}{'T':>9}{'M':>9}{'prepare ms':>12}{'design ms':>11}"
          f"{'jac ms':>9}{'peak MiB':>10}{'B*bound':>10}")
    for r in rows:
        opts = ",".join(f"{k}={v}" for k, v in r["options"].items()) or "-"
        peak = f"{r['peak_mib']:.0f}" if r["peak_mib"] is not None else "-"
        bound = f"{r['loss_error_bound_B500']:.1e}" if "loss_error_bound_B500" in r else "-"
        print(f"{r['case']:<10}{r['law']:<8}{opts:<24}{r['T']:>9}{r['M']:>9}{r['prepare_s'] * 1e3:>12.1f}"
              f"{r['design_s'] * 1e3:>11.2f}{r['design_jac_s'] * 1e3:>9.2f}{peak:>10}{bound:>10}")
    print(f"final_loss_and_grad (mpl, T = 24,000, last step): {t_grad * 1e3:.2f} ms")
    out = Path(__file__).parent / "results" / "law_cost.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "final_loss_and_grad_s": t_grad, "theta": THETA, "B": B,
                               "repeats": args.repeats, "machine": machine()}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
