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
    (["--target", "val_loss", "--max-step", "1500", "--schedule", "cosine:total=3000", "--steps", "3000"],
     "already sets total="),
    (["--target", "val_loss", "--max-step", "1500", "--schedule-file", "plan.csv", "--steps", "3000"],
     "--steps sets the total of a --schedule spec"),
    (["--target", "val_loss", "--max-step", "1500", "--schedule", "cosine", "--steps", "3000", "--fit", "f.json",
      "--like", COSINE], "not both"),
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


@pytest.fixture(scope="module")
def two_size_fit(tmp_path_factory) -> Path:
    """mpl-n on the xs and tiny constant and cosine runs (the law the two sizes choose), without the law error."""
    out = tmp_path_factory.mktemp("fit") / "fit.json"
    runs = [CURVES / f"{m}_{k}_lr0.003_bs16.csv" for m in ("xs", "tiny") for k in ("constant", "cosine")]
    res = invoke("fit", *runs, "--target", "val_loss", "--starts", "8", "--no-law-error", "--out", out)
    assert res.exit_code == 0 and "Fit of law mpl-n to 4 runs" in res.stdout, res.output
    return out


def test_a_size_aware_fit_lends_its_shape_at_the_runs_size_and_says_so(two_size_fit) -> None:
    s1 = CURVES / "s1_cosine_lr0.003_bs16.csv"  # 4.43e5 parameters, 4.5x the larger fitted size
    args = ["--target", "val_loss", "--max-step", "1500", "--schedule", "cosine", "--steps", "3000"]
    res = invoke("forecast", s1, *args, "--fit", two_size_fit)
    assert res.exit_code == 0, res.output
    assert "logged up to step 1500 of 2999 (50%); plan: cosine:total=3000" in res.stdout
    text = " ".join(res.stdout.split())
    assert (f"rests on: 25 logged rows up to step 1500 under law mpl; 3 folds on the run itself; shape prior from "
            f"{two_size_fit} (law mpl-n at model size 4.43e+05: model size 4.43e+05 is 4.5x the largest fitted "
            "(9.86e+04))") in text
    got = json.loads(invoke("forecast", s1, *args, "--fit", two_size_fit, "--json").stdout)
    assert got["law"] == "mpl" and got["rests_on"].startswith("25 logged rows")
    true = got["observed"]["final_loss"]
    assert got["lower"] <= true <= got["upper"]
    assert abs(got["final_loss"] - true) / true < 0.01  # measured: -0.19 % (alone: +0.75 %)
    # the same forecast without a prior for the drop: the note says the drop is left out
    alone = json.loads(invoke("forecast", s1, *args, "--json").stdout)
    assert "shape prior" not in alone["rests_on"] and alone["final_loss"] != got["final_loss"]


def test_a_size_aware_fit_with_another_law_or_without_a_size_is_refused(two_size_fit, tmp_path) -> None:
    s1 = CURVES / "s1_cosine_lr0.003_bs16.csv"
    args = ["--target", "val_loss", "--max-step", "1500", "--schedule", "cosine", "--steps", "3000"]
    res = invoke("forecast", s1, *args, "--fit", two_size_fit, "--law", "tissue")
    assert res.exit_code == 2 and "disagrees with the fit's law mpl-n" in res.stderr, res.output
    bare = tmp_path / "bare.csv"  # the run without its '# params:' line
    bare.write_text("".join(line for line in s1.read_text().splitlines(keepends=True) if "params" not in line))
    res = invoke("forecast", bare, *args, "--fit", two_size_fit)
    assert res.exit_code == 2 and "fitted at model sizes 2.47e+04, 9.86e+04" in res.stderr
    assert "--params" in res.stderr and "Traceback" not in res.output
    ok = invoke("forecast", bare, *args, "--fit", two_size_fit, "--params", "4.43e5", "--json")
    assert ok.exit_code == 0 and "4.5x the largest fitted" in json.loads(ok.stdout)["rests_on"]
