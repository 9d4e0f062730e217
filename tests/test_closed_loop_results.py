"""The committed closed-loop result (benchmarks/results/closed_loop.json) says what the committed runs show.

RESULTS.md and the README quote its verdict (the optimised schedule beats cosine, paired over seeds); this checks
that every realised loss and paired difference in the JSON is read off the bundled run files in
data/runs/closed_loop, so neither can go stale without the other.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import numpy as np
import pytest

from scalefit.readers import read_run

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "closed_loop.json"

pytestmark = pytest.mark.skipif(not RESULT.is_file(), reason="no closed-loop result committed")


def _last_val(path: str) -> float:
    run = read_run(ROOT / path, target="val_loss")
    return float(run.loss[np.flatnonzero(run.observed)[-1]])


def test_realised_losses_are_the_run_files_last_val_loss() -> None:
    res = json.loads(RESULT.read_text())
    assert res["runs"], "no runs in the closed-loop result"
    for r in res["runs"]:
        assert r["complete"], r["name"]
        assert r["realised_last"] == pytest.approx(_last_val(r["file"]), abs=1e-9), r["name"]


def test_paired_verdict_follows_from_the_differences() -> None:
    res = json.loads(RESULT.read_text())
    runs = {r["name"]: r for r in res["runs"]}
    paired = res["paired_over_seeds"]
    diffs = [_last_val(runs[o]["file"]) - _last_val(runs[c]["file"]) for c, o in paired["pairs"]]
    assert len(diffs) == 3
    assert diffs == pytest.approx(paired["differences_last"], abs=1e-9)
    mean, se = statistics.fmean(diffs), statistics.stdev(diffs) / math.sqrt(len(diffs))
    assert mean == pytest.approx(paired["mean"]) and se == pytest.approx(paired["se"])
    assert paired["beats_cosine"] == (mean < -2 * se)
