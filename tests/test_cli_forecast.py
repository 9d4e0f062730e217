"""CLI: scalefit forecast (a run in flight: final loss and the rest of the curve, with an interval)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import scalefit
from scalefit.cli import app

CURVES = Path(__file__).resolve().parents[1] / "data" / "runs" / "curves"
COSINE = CURVES / "tiny_cosine_lr0.003_bs16.csv"
LIKE = [CURVES / "tiny_constant_lr0.003_bs16.csv", CURVES / "tiny_wsd-decay0.2_lr0.003_bs16.csv"]
HALF = ["--target", "val_loss", "--max-step", "1500", "--schedule", "cosine:total=3000"]

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_forecast_from_half_a_run_prints_the_final_loss_its_interval_and_the_check(tmp_path) -> None:
    out, png = tmp_path / "fc.json", tmp_path / "fc.png"
    res = invoke("forecast", COSINE, *HALF, "--out", out, "--plot", png)
    assert res.exit_code == 0, res.output
    assert "logged up to step 1500 of 2999 (50%)" in res.stdout
    assert "final loss at step 2999:" in res.stdout and "interval 90%: forward-chaining" in res.stdout
    assert "observed at step 2999: 4.3239" in res.stdout and "folds (cut step" in res.stdout
    saved = json.loads(out.read_text())
    assert saved["schema"] == "scalefit.forecast/1" and saved["last_observed"] == 1500
    true = saved["observed"]["final_loss"]
    assert abs(saved["final_loss"] - true) / true < 0.01  # measured: +0.14 %
    assert saved["lower"] < saved["final_loss"] < saved["upper"] and saved["lower"] > 0
    curve = saved["curve"]
    assert curve["steps"][0] > 1500 and curve["steps"][-1] == 2999 and len(curve["loss"]) == len(curve["steps"])
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_json_is_the_library_forecast(tmp_path) -> None:
    res = invoke("forecast", COSINE, *HALF, "--json")
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)
    run = scalefit.read_runs([str(COSINE)], target="val_loss")[0]
    from scalefit.fitting.extrapolation_folds import truncate

    part = truncate(run, 1500)
    import dataclasses

    part = dataclasses.replace(part, lr=run.lr[:1501])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fc = scalefit.forecast.forecast(part, "cosine:total=3000")
    assert got["final_loss"] == pytest.approx(fc.final_loss, rel=1e-12)
    assert got["upper"] == pytest.approx(fc.final_interval[1], rel=1e-12)
    assert {"final_step", "method", "scale", "folds", "note", "curve", "observed", "law"} <= set(got)


def test_like_runs_and_a_schedule_file(tmp_path) -> None:
    plan = tmp_path / "plan.csv"
    lr = scalefit.read_runs([str(COSINE)], target="val_loss")[0].lr
    plan.write_text("step,lr\n" + "\n".join(f"{i},{v!r}" for i, v in enumerate(lr.tolist())) + "\n")
    res = invoke("forecast", COSINE, "--target", "val_loss", "--max-step", "1500", "--schedule-file", plan,
                 "--like", *LIKE, "--json")
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)
    assert "shape prior from 2 finished run(s)" in got["note"] and np.isfinite(got["final_loss"])


@pytest.mark.parametrize("args,msg", [
    (["--target", "val_loss", "--max-step", "1500"], "--schedule SPEC or --schedule-file F"),
    (["--target", "val_loss", "--max-step", "1500", "--schedule", "cosine:total=3000", "--schedule-file", "x.csv"],
     "one of them"),
    (["--target", "val_loss", "--max-step", "1500", "--schedule", "cosine:total=3000", "--law", "mpl-n"],
     "use a size-blind law"),
    (["--target", "val_loss", "--schedule", "cosine:total=3000"], "nothing is left to forecast"),
    (["--target", "val_loss", "--max-step", "1500", "--schedule", "cosine:total=3000", "--interval", "1.5"],
     "interval must lie in (0, 1)"),
])
def test_bad_requests_are_one_line_and_exit_2(args, msg) -> None:
    res = invoke("forecast", COSINE, *args)
    assert res.exit_code == 2, res.output
    assert msg in res.stderr and "Traceback" not in res.output


def test_an_unwritable_out_is_refused_before_any_work(tmp_path) -> None:
    (tmp_path / "dir.json").mkdir()
    res = invoke("forecast", tmp_path / "missing.csv", *HALF, "--out", tmp_path / "dir.json")
    assert res.exit_code == 2 and "--out" in res.stderr and "missing.csv" not in res.stderr


def test_a_forecast_at_or_below_zero_is_not_a_result(monkeypatch) -> None:
    from scalefit import forecast as forecast_mod

    def impossible(*a, **kw):
        raise forecast_mod.ImpossibleForecastError("the forecast reaches a loss <= 0 (at step 2000): ...")

    monkeypatch.setattr(forecast_mod, "forecast", impossible)
    res = invoke("forecast", COSINE, *HALF)
    assert res.exit_code == 1 and "reaches a loss <= 0" in res.stderr
