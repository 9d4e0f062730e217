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
    assert res["settings"]
    for s in res["settings"]:
        for role, r in s["roles"].items():
            assert r["complete"], (s["setting"], role)
            assert r["realised"] == pytest.approx([_last_val(f) for f in r["files"]], abs=1e-9), (s["setting"], role)
            assert all(_read(f).meta["total_steps"] == s["steps"] for f in r["files"])
    for name, c in res["tournament"]["candidates"].items():
        assert c["realised"] == pytest.approx([_last_val(f) for f in c["files"]], abs=1e-9), name


def test_a_setting_is_left_out_only_while_some_of_its_runs_are_incomplete() -> None:
    """``--settings`` reports the complete settings while others train: each one left out names the runs it lacks,
    and at least one of them is still missing or incomplete here (else the result is stale: regenerate it)."""
    jobs = _jobs_module()
    reported = {s["setting"] for s in _result()["settings"]}
    for n in _result().get("not_reported", []):
        assert n["setting"] not in reported
        assert n["complete_runs"] + len(n["incomplete"]) == n["runs"] and n["incomplete"], n["setting"]
        assert any(not ((ROOT / f).is_file() and jobs.complete(ROOT / f)) for f in n["incomplete"]), n["setting"]


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
        wsd = [_last_val(f) for f in s["roles"]["best-wsd"]["files"]]
        assert acc["seed_se_of_best_wsd"] == pytest.approx(statistics.stdev(wsd) / math.sqrt(3))
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


# ---- cli/closed_loop_jobs.py: what is skipped and what is kept -----------------------------------------------
def _jobs_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("closed_loop_jobs", ROOT / "cli" / "closed_loop_jobs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def _write_run(path: Path, lr: np.ndarray, steps: int | None = None) -> None:
    rows = [f"{k},{v:.6g},{5 - k / 100:.6g},{'' if k % 50 and k != lr.size - 1 else f'{4.9 - k / 100:.6g}'},1024,0.5"
            for k, v in enumerate(lr[: steps or lr.size])]
    path.write_text(f"# total_steps: {lr.size}\n# seed: 0\nstep,lr,loss,val_loss,tokens,grad_norm\n"
                    + "\n".join(rows) + "\n")


def test_the_job_runner_keeps_the_val_rows_and_skips_only_complete_runs_of_the_same_schedule(tmp_path: Path) -> None:
    jobs = _jobs_module()
    lr = schedules.cosine(3e-3, 120, warmup=12)
    full, kept, ref = tmp_path / "full.csv", tmp_path / "kept" / "run.csv", tmp_path / "lr.csv"
    schedules.to_csv(ref, lr)
    job = {"name": "x", "kept": str(kept), "full": str(full), "lr": str(ref), "args": []}
    _write_run(full, lr, steps=80)
    assert not jobs.complete(full) and jobs.is_done(job) == ""
    _write_run(full, lr)
    assert jobs.complete(full)
    jobs.thin(full, kept)
    run = _read(str(kept))
    assert run.observed.sum() == 4 and run.steps.tolist() == [0, 50, 100, 119]  # the val rows, the last step
    assert _last_val(str(kept)) == pytest.approx(4.9 - 1.19)
    assert jobs.is_done(job) == "complete"
    schedules.to_csv(ref, schedules.linear(3e-3, 120, warmup=12))  # another schedule: trained again
    assert jobs.is_done(job) == ""

