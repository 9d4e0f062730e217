"""The committed closed-loop result (benchmarks/results/closed_loop.json) says what the committed runs show.

RESULTS.md and the README quote its verdicts (the recommendation against cosine, linear to 0 and the best WSD,
paired over seeds, at every setting) and its calibration of predicted against realised gains; this checks that
every realised loss, paired difference, verdict and the calibration slope in the JSON follow from the small run
files in data/runs/closed_loop (written by cli/closed_loop.sh), and that each recommended schedule is the one
trained, so neither can go stale without the other.
"""

from __future__ import annotations

import json
import math
import statistics
import warnings
from pathlib import Path

import numpy as np
import pytest

from scalefit import schedules
from scalefit.readers import read_run

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "closed_loop.json"


def _result() -> dict:
    if not RESULT.is_file():
        pytest.skip("no closed-loop result committed")
    res = json.loads(RESULT.read_text())
    if res.get("schema") != "scalefit.closed_loop/2":
        pytest.skip("closed-loop result of another schema")
    return res


def _read(path: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the kept files hold the val rows only: the LR is interpolated between
        return read_run(ROOT / path, target="val_loss")


def _last_val(path: str) -> float:
    run = _read(path)
    return float(run.loss[np.flatnonzero(run.observed)[-1]])


def test_realised_losses_are_the_run_files_last_val_loss() -> None:
    res = _result()
    assert len(res["settings"]) == 8
    for s in res["settings"]:
        for role, r in s["roles"].items():
            assert r["complete"], (s["setting"], role)
            assert r["realised"] == pytest.approx([_last_val(f) for f in r["files"]], abs=1e-9), (s["setting"], role)
            assert all(_read(f).meta["total_steps"] == s["steps"] for f in r["files"])
    for name, c in res["tournament"]["candidates"].items():
        assert c["realised"] == pytest.approx([_last_val(f) for f in c["files"]], abs=1e-9), name


def test_paired_differences_and_verdicts_follow_from_the_runs() -> None:
    res = _result()
    for s in res["settings"]:
        for key, p in s["paired"].items():
            a, b = key.split(" - ")
            d = [_last_val(x) - _last_val(y) for x, y in zip(s["roles"][a]["files"], s["roles"][b]["files"])]
            assert d == pytest.approx(p["differences"], abs=1e-9) and len(d) == 3
            assert p["mean"] == pytest.approx(statistics.fmean(d))
            assert p["se"] == pytest.approx(statistics.stdev(d) / math.sqrt(3))
        acc, rc, rw = s["acceptance"], s["paired"]["recommended - cosine"], s["paired"]["recommended - best-wsd"]
        assert acc["below_cosine"] == (rc["mean"] < 0)
        shared = s["roles"]["recommended"]["name"] == s["roles"]["best-wsd"]["name"]
        assert acc["within_one_se_of_best_family"] == (shared or rw["mean"] <= rw["se"])
        assert acc["met"] == (acc["below_cosine"] and acc["within_one_se_of_best_family"])
    assert res["all_met"] == all(s["acceptance"]["met"] for s in res["settings"])


def test_the_recommended_schedule_is_the_one_trained() -> None:
    res = _result()
    for s in res["settings"]:
        rec, role = s["recommended"], s["roles"]["recommended"]
        assert role["kind"] == ("spec" if rec["kind"] == "family" else "file")
        for f in role["files"]:
            run = _read(f)
            rows = run.index[run.observed]  # the kept rows hold the exact LR of their step
            if rec["kind"] == "family":
                assert role["schedule"] == rec["spec"]
                want = schedules.from_spec(rec["spec"])
            else:
                want = schedules.from_file(ROOT / Path(f).parent / "schedules" / "recommended.csv")
            np.testing.assert_allclose(run.lr[rows], want[rows], rtol=2e-5, atol=1e-12)


def test_the_calibration_slope_is_the_least_squares_line_through_its_points() -> None:
    cal = _result()["calibration"]
    x = np.array([p["predicted"] for p in cal["points"]])
    y = np.array([p["realised"] for p in cal["points"]])
    assert cal["slope_through_origin"] == pytest.approx(float(x @ y / (x @ x)))
    assert cal["sign_agreement"] == int(np.sum((x < 0) == (y < 0)))
