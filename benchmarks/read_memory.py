"""Peak memory of reading run files: bounded by the data, not by the step numbers (issue 14.6).

Generates files into a temporary folder, reads each with ``scalefit.readers.read_runs`` in a fresh subprocess,
and reports the subprocess's peak resident memory (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) next to its
baseline (the same process after importing numpy, pandas and scalefit.readers, before reading):

- ``dense``: a valid per-step log, ``--rows`` rows (default 4.9M, ~244 MB: step, lr, loss, grad_norm, and a
  val_loss every 100 steps). Target: peak - baseline under 3x the file size.
- ``sparse-3e8``, ``sparse-1e15``: 7 KB sparse logs whose last step is 3e8 or 1e15 (steps that are tokens): a
  one-line error in constant memory (they asked for 6.9 GB and 7 PiB before).
- ``text-column``: a 20 MB log with a text column (the exact parser for that column's blocks).

Run: ``OMP_NUM_THREADS=1 python benchmarks/read_memory.py [--rows 4900000]``
``[--json benchmarks/results/read_memory.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_CHILD = r"""
import json, resource, sys, time
import numpy, pandas
import scalefit.readers as R
from scalefit.errors import ScalefitError
import warnings
warnings.simplefilter("ignore")
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
try:
    runs = R.read_runs([sys.argv[1]])
    out = {"runs": len(runs), "rows": int(sum(r.steps.size for r in runs)), "error": None,
           "last_loss": float(runs[0].loss[-1])}
except ScalefitError as exc:
    out = {"runs": 0, "rows": 0, "error": str(exc)}
out["seconds"] = time.perf_counter() - t
out["baseline_kib"] = base
out["peak_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(out))
"""


def write_dense(path: Path, rows: int) -> None:
    rng = np.random.default_rng(0)
    with open(path, "w") as fh:
        fh.write("step,lr,loss,grad_norm,val_loss\n")
        block = 200_000
        for lo in range(0, rows, block):
            s = np.arange(lo, min(rows, lo + block))
            lr = 3e-4 * 0.5 * (1 + np.cos(np.pi * s / rows)) + 3e-5
            loss = 2.5 + 8.0 * (s + 10.0) ** -0.3 + rng.normal(0, 0.01, s.size)
            gn = rng.lognormal(0, 0.3, s.size)
            val = np.where(s % 100 == 0, loss + 0.05, np.nan)
            fh.write("".join(f"{a},{b!r},{c:.8f},{d:.5f},{'' if e != e else f'{e:.5f}'}\n"
                             for a, b, c, d, e in zip(s.tolist(), lr.tolist(), loss.tolist(), gn.tolist(),
                                                      val.tolist())))


def write_sparse(path: Path, last: float) -> None:
    steps = np.unique(np.r_[np.linspace(0, 1e4, 400), last]).astype(np.int64)
    path.write_text("step,lr,loss\n" + "".join(f"{s},3e-4,{3 - 0.1 * k / steps.size:.5f}\n"
                                               for k, s in enumerate(steps.tolist())))


def write_text_column(path: Path, rows: int) -> None:
    with open(path, "w") as fh:
        fh.write("step,lr,loss,phase\n")
        fh.write("".join(f"{s},3e-4,{3 - s / rows:.6f},{'warm' if s < 100 else 'main'}\n" for s in range(rows)))


def measure(path: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"crash": proc.stderr.strip().splitlines()[-1:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=4_900_000)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        cases = {"dense": lambda p: write_dense(p, args.rows), "sparse-3e8": lambda p: write_sparse(p, 3e8),
                 "sparse-1e15": lambda p: write_sparse(p, 1e15),
                 "text-column": lambda p: write_text_column(p, 500_000)}
        for name, make in cases.items():
            path = d / f"{name}.csv"
            t = time.perf_counter()
            make(path)
            size = path.stat().st_size
            res = measure(path)
            res.update(case=name, file_bytes=size, write_seconds=round(time.perf_counter() - t, 1))
            if "peak_kib" in res:
                extra = (res["peak_kib"] - res["baseline_kib"]) * 1024
                res["peak_minus_baseline_over_file"] = round(extra / size, 2)
            results.append(res)
            ratio = res.get("peak_minus_baseline_over_file", float("nan"))
            what = f"rows {res.get('rows')}" if not res.get("error") else "error: " + res["error"][:90]
            print(f"{name:12s} file {size / 1e6:9.3f} MB  baseline {res.get('baseline_kib', 0) / 1024:7.0f} MiB  "
                  f"peak {res.get('peak_kib', 0) / 1024:7.0f} MiB  (peak-baseline)/file {ratio:6.2f}  "
                  f"read {res.get('seconds', 0):6.2f} s  {what}", flush=True)
    if args.json:
        from scalefit.jsonio import write_text

        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _machine import machine

        info = machine()
        write_text(args.json, json.dumps({"machine": info, "command": " ".join(sys.argv), "results": results},
                                         indent=2) + "\n")


if __name__ == "__main__":
    main()
