"""How well the curve laws predict held-out schedules of the bundled runs (data/runs/curves).

Protocol: for each model size, fit on the constant and cosine runs, predict every other schedule of that size
from its LR alone; target ``val_loss`` (fixed validation batches every 50 steps) and ``loss`` (per-step training
loss). Metrics as the MPL paper (R2, MAE, RMSE, PredE, WorstE per curve, averaged over the held-out curves).

Run: python benchmarks/bundled_fit.py
Prints a table and writes benchmarks/results/bundled_fit.json.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _machine import machine  # noqa: E402

from scalefit.errors import ScalefitWarning  # noqa: E402
from scalefit.fitting import evaluate  # noqa: E402
from scalefit.readers import read_runs  # noqa: E402

CURVES = Path(__file__).resolve().parents[1] / "data" / "runs" / "curves"


def curve_sets() -> list[tuple[str, list[Path], list[Path]]]:
    """``(size, train files, test files)`` per model size: constant + cosine to fit, the other schedules to predict."""
    out = []
    for size in sorted({p.name.split("_")[0] for p in CURVES.glob("*.csv")}):
        files = sorted(CURVES.glob(f"{size}_*.csv"))
        train = [p for p in files if "_constant_" in p.name or "_cosine_" in p.name]
        test = [p for p in files if p not in train]
        if len(train) >= 2 and test:
            out.append((size, train, test))
    return out


def main() -> None:
    rows = []
    for size, train, test in curve_sets():
        for target in ("val_loss", "loss"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ScalefitWarning)
                tr = read_runs([str(p) for p in train], target=target)
                te = read_runs([str(p) for p in test], target=target)
                for law in ("mpl", "tissue"):
                    t0 = time.perf_counter()
                    ev = evaluate(tr, te, law=law, law_error=False)
                    seconds = time.perf_counter() - t0
                    summary = ev.summary()
                    rows.append({"size": size, "target": target, "law": law, "train": [p.name for p in train],
                                 "test": [p.name for p in test], "seconds": seconds, "mean": summary["mean"],
                                 "runs": summary["runs"], "params": summary["params"], "status": ev.fit.status})
    print(f"{'size':<6}{'target':<10}{'law':<8}{'R2':>9}{'PredE':>9}{'WorstE':>9}{'s':>7}  test runs")
    for r in rows:
        m = r["mean"]
        print(f"{r['size']:<6}{r['target']:<10}{r['law']:<8}{m['r2']:>9.4f}{m['pred_e']:>9.4f}{m['worst_e']:>9.4f}"
              f"{r['seconds']:>7.2f}  {len(r['test'])}")
    out = Path(__file__).parent / "results" / "bundled_fit.json"
    out.write_text(json.dumps({"benchmark": "bundled_fit", "machine": machine(), "rows": rows}, indent=2,
                              default=float) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
