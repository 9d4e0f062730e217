"""Rows inside the warmup are outside the laws' domain: they are not fitted, and the fit says so."""

from __future__ import annotations

import numpy as np
import pytest

from scalefit import schedules
from scalefit.errors import AssumptionWarning, FitInputError
from scalefit.fitting import fit
from scalefit.laws import get_law
from scalefit.runs import Run


def _run(name: str, lr: np.ndarray, warmup: int, every: int = 10) -> Run:
    law = get_law("tissue")
    steps = np.arange(0, lr.size, every, dtype=np.int64)
    truth = {"L0": 2.0, "A": 0.8, "alpha": 0.5, "C": 2.0}
    loss = np.full(steps.size, np.nan)
    post = steps >= warmup
    loss[post] = law.predict(truth, lr, warmup=warmup, at=steps[post])
    loss[~post] = 9.0  # the warmup spike a real logger records; no law describes it
    return Run(path=name, steps=steps, loss=loss, lr=lr, step0=0, warmup=warmup, line=steps + 2)


def test_warmup_rows_are_not_fitted_and_are_reported() -> None:
    runs = [_run("cos.csv", schedules.cosine(1e-3, 1000, warmup=100), 100),
            _run("const.csv", schedules.constant(1e-3, 1000, warmup=100), 100)]
    assert int(runs[0].observed.sum() - runs[0].after_warmup.sum()) == 10
    with pytest.warns(AssumptionWarning, match=r"(cos|const)\.csv: 10 observed row\(s\) inside the 100-step warmup"):
        result = fit(runs, law="tissue", seed=0)
    assert result.n_points == int(sum(r.after_warmup.sum() for r in runs))
    assert result.params["L0"].value == pytest.approx(2.0, abs=1e-3)  # the spike did not pull the fit


def test_only_warmup_rows_is_a_clear_error() -> None:
    lr = schedules.cosine(1e-3, 200, warmup=100)
    run = _run("short.csv", lr, 100)
    run = Run(path="short.csv", steps=run.steps, loss=np.where(run.steps < 100, 3.0, np.nan), lr=lr, step0=0,
              warmup=100, line=run.line)
    with pytest.raises(FitInputError, match=r"short\.csv: every 'loss' value lies inside the 100-step warmup"):
        fit([run, run], law="tissue")
