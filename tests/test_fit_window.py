"""The fit window (--min-step / --max-step): it selects the rows a fit uses, never the LR history."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from typer.testing import CliRunner

import scalefit
from scalefit.cli import app
from scalefit.readers import read_runs

RUN = "data/runs/curves/tiny_cosine_lr0.003_bs16.csv"


def test_the_window_changes_the_fitted_rows_not_the_lr_history() -> None:
    whole = read_runs([RUN], target="val_loss")[0]
    cut = read_runs([RUN], target="val_loss", min_step=1000, max_step=2000)[0]
    assert np.array_equal(whole.lr, cut.lr)
    assert cut.fit_mask.sum() < whole.fit_mask.sum()
    assert cut.steps[cut.fit_mask].min() >= 1000 and cut.steps[cut.fit_mask].max() <= 2000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a 1,000-step slice of one cosine leaves L0 at its bound: not the point here
        res = scalefit.fit([cut], law="tissue", law_error=False)
    assert res.n_points == int(cut.fit_mask.sum())
    assert res.context.max_step <= 2000
    kinds = [n.kind for n in res.notes]
    assert "window" in kinds
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = scalefit.fit([whole], law="tissue", law_error=False)
    assert full.data_hash != res.data_hash
    assert "window" not in [n.kind for n in full.notes]


def test_cli_fit_window_is_reported_and_an_empty_window_is_one_line(tmp_path) -> None:
    runner = CliRunner()
    out = tmp_path / "fit.json"
    res = runner.invoke(app, ["fit", RUN, "--target", "val_loss", "--law", "tissue", "--no-law-error",
                              "--max-step", "1500", "--out", str(out)])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    window = [n for n in data["notes"] if n["kind"] == "window"]
    assert window and window[0]["data"]["max_step"] == 1500
    bad = runner.invoke(app, ["fit", RUN, "--target", "val_loss", "--law", "tissue", "--no-law-error",
                              "--min-step", "5000"])
    assert bad.exit_code == 2
    assert "fit window" in bad.output and RUN in bad.output
    assert "Traceback" not in bad.output


@pytest.mark.parametrize("args", [["--min-step", "500"], ["--max-step", "2500"]])
def test_evaluate_scores_held_out_runs_inside_their_window(args: list[str]) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["evaluate", "--train", RUN, "--test", RUN.replace("cosine", "constant"),
                              "--target", "val_loss", "--law", "tissue", "--no-law-error", "--json", *args])
    assert res.exit_code == 0, res.output
