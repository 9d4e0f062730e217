"""Acceptance test of the law registry: a law written in one file (``toy_law.py``) plus one registry line is
fitted, predicted, optimised, saved and read back, and used from the CLI, with no other change."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from scalefit.cli import app
from scalefit.fitting import fit
from scalefit.laws import LAWS
from scalefit.optimize import baselines, optimize_schedule
from scalefit.results import FitResult, FitStatus

from test_cli_fit import write_run
from test_fitting import sim_run, three_schedules
from toy_law import ToyLaw

TRUTH = {"L0": 2.5, "A": 0.6, "alpha": 0.5}


@pytest.fixture()
def toy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(LAWS, "toy", ToyLaw)  # the one registry line (scalefit/laws/__init__.py: _REGISTRY)


def _runs() -> list:
    return [sim_run("toy", TRUTH, lr, seed=i, name=name) for i, (name, lr) in enumerate(three_schedules().items())]


def test_a_registered_law_is_fitted_predicted_optimised_and_saved(toy, tmp_path: Path) -> None:
    res = fit(_runs(), "toy", n_starts=8)
    assert res.law == "toy" and res.status is FitStatus.CONVERGED
    for name, value in TRUTH.items():
        assert res.values[name] == pytest.approx(value, rel=0.03), name
    assert "gaussian prior on log alpha (centre 0.5, sd 1)" in res.objective  # the law's declared default prior
    assert res.law_error is not None  # cross-validated like any law
    back = FitResult.from_json(res.to_json(tmp_path / "toy.json"))
    a, b = res.predict("cosine"), back.predict("cosine")
    np.testing.assert_array_equal(a.loss, b.loss)
    np.testing.assert_array_equal(a.upper, b.upper)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the schedule may extrapolate the fitted range
        opt = optimize_schedule(back, steps=1000, peak=1e-3, warmup=50)
        table = baselines(back, opt)
    assert opt.law == "toy"
    np.testing.assert_allclose(opt.lr[50:], 1e-3)  # the LR area alone is best served by holding the peak
    assert opt.final_loss <= min(row.final_loss for row in table) + 1e-12


def test_a_registered_law_works_from_the_cli(toy, tmp_path: Path) -> None:
    files = [write_run(tmp_path / f"{name}.csv", sim_run("toy", TRUTH, lr, seed=i, name=name))
             for i, (name, lr) in enumerate(three_schedules().items())]
    runner = CliRunner()

    def invoke(*args: object):
        res = runner.invoke(app, [str(a) for a in args])
        assert res.exit_code == 0, res.output
        return res

    out = tmp_path / "toy.json"
    assert "Fit of law toy to 3 runs" in invoke("fit", *files, "--law", "toy", "--starts", "8", "--out", out).stdout
    assert json.loads(out.read_text())["law"] == "toy"
    table = invoke("fit", *files, "--law", "all", "--starts", "8", "--no-law-error").stdout
    assert any(line.startswith("toy ") for line in table.splitlines())  # --law all fits every registered law
    pred = json.loads(invoke("predict", out, "--schedule", "cosine", "--json").stdout)["predictions"][0]
    assert np.isfinite(pred["final_loss"]) and pred["lower"] < pred["final_loss"] < pred["upper"]
    opt = json.loads(invoke("optimize", out, "--steps", "1000", "--peak", "1e-3", "--warmup", "50", "--json").stdout)
    assert opt["law"] == "toy" and np.isfinite(opt["optimized"]["final_loss"])
