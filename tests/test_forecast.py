"""Forecasting a run in flight (scalefit.forecast)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from scalefit.errors import FitInputError
from scalefit.forecast import forecast, planned_run
from scalefit.laws import get_law
from scalefit.runs import Run

TRUTH = {"L0": 2.8, "A": 0.5, "B": 400.0, "alpha": 0.5, "C": 1.0, "beta": 0.5, "gamma": 0.5}
T, W = 3000, 100


def _cosine():
    s = np.arange(T)
    lr = 1e-5 + (1e-3 - 1e-5) / 2 * (1 + np.cos(np.pi * (s - W) / (T - W)))
    lr[:W] = 1e-3 * s[:W] / (W - 1)
    return lr


def _run(lr, upto, seed=0, path="cos.csv"):
    rng = np.random.default_rng(seed)
    steps = np.arange(W, upto + 1, 20, dtype=np.int64)
    loss = get_law("mpl").predict(TRUTH, lr, warmup=W, at=steps) * np.exp(rng.normal(0, 5e-4, steps.size))
    return Run(path=path, steps=steps, loss=loss, lr=lr[: upto + 1], step0=0, warmup=W,
               line=np.arange(steps.size) + 2)


def test_forecast_from_half_a_run_lands_near_the_truth_with_an_interval_that_holds_it():
    lr = _cosine()
    fc = forecast(_run(lr, 1500), lr)
    true = float(get_law("mpl").predict(TRUTH, lr, warmup=W, at=[T - 1])[0])
    assert fc.final_step == T - 1 and fc.steps[-1] == T - 1 and fc.steps[0] > 1500
    assert abs(fc.final_loss - true) / true < 0.01
    lo, hi = fc.final_interval
    assert 0 < lo < true < hi
    assert fc.method == "forward-chaining" and len(fc.folds) == 3
    assert np.all(fc.lower > 0) and np.all(np.diff(fc.upper - fc.lower) >= -1e-12)  # widens towards the end
    s = fc.summary()
    assert s["final_loss"] == fc.final_loss and len(s["folds"]) == 3


def test_like_runs_lend_their_shape_as_a_prior():
    lr = _cosine()
    like = [_run(lr, T - 1, seed=1, path="done.csv")]
    fc = forecast(_run(lr, 900), lr, like=like)
    assert "shape prior from 1 finished run" in fc.note
    assert "gaussian prior on log alpha" in fc.fit.objective
    true = float(get_law("mpl").predict(TRUTH, lr, warmup=W, at=[T - 1])[0])
    assert abs(fc.final_loss - true) / true < 0.01


def test_plan_must_match_the_logged_lr_and_extend_it():
    lr = _cosine()
    part = _run(lr, 1500)
    bad = lr.copy()
    bad[700] *= 1.5
    with pytest.raises(FitInputError, match="step 700"):
        planned_run(part, bad)
    with pytest.raises(FitInputError, match="nothing is left to forecast"):
        planned_run(part, lr[:1200])
    with pytest.raises(FitInputError, match="planned schedule"):
        planned_run(part, None)
    assert planned_run(part, lr).lr.size == T


def test_a_forecast_below_zero_is_refused(monkeypatch):
    # a law whose fitted drop would carry the loss below 0 by the end of the plan: refused, not printed
    lr = _cosine()
    part = _run(lr, 1500)
    from scalefit.results import FitResult

    real = FitResult.predict

    def negative(self, *a, **k):
        p = real(self, *a, **k)
        return dataclasses.replace(p, loss=p.loss - 10.0)

    monkeypatch.setattr(FitResult, "predict", negative)
    with pytest.raises(FitInputError, match="loss <= 0"):
        forecast(part, lr)


def _wsd():
    lr = np.full(T, 1e-3)
    lr[:W] = 1e-3 * np.arange(W) / (W - 1)
    lr[2400:] = np.linspace(1e-3, 1e-5, T - 2400)
    return lr


def test_rows_without_a_decay_hold_the_drop_unless_finished_runs_lend_it():
    lr = _wsd()
    part = _run(lr, 1800)  # constant phase only
    alone = forecast(part, lr)
    assert alone.fit.params["B"].fixed and alone.fit.params["B"].value == 0.0
    assert "held at 0" in alone.note
    true = float(get_law("mpl").predict(TRUTH, lr, warmup=W, at=[T - 1])[0])
    assert alone.final_loss > true * 1.01  # the planned cooldown's drop is left out, as the note says
    helped = forecast(part, lr, like=[_run(_cosine(), T - 1, seed=2, path="done.csv")])
    assert helped.fit.params["B"].fixed and helped.fit.params["B"].value > 0
    assert "hold no LR decay" in helped.note and "held at the fit of 1 finished run" in helped.note
    assert abs(helped.final_loss - true) / true < 0.01
