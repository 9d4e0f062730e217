"""Metrics by hand, as the MPL paper defines them (per curve on observed steps, then averaged over curves)."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

import scalefit.metrics as metrics
from scalefit.metrics import RunMetrics, curve_metrics, mean_metrics


def test_doctests() -> None:
    failures, tried = doctest.testmod(metrics)
    assert tried > 0 and failures == 0


def test_curve_metrics_by_hand() -> None:
    loss = np.array([4.0, 3.0, 2.0, 1.0])
    pred = np.array([4.0, 3.5, 2.0, 0.5])
    m = curve_metrics(loss, pred)
    # SS_res = 0.25 + 0.25 = 0.5; mean 2.5, SS_tot = 2.25 + 0.25 + 0.25 + 2.25 = 5
    assert m.r2 == pytest.approx(1 - 0.5 / 5)
    assert m.mae == pytest.approx(1.0 / 4)
    assert m.rmse == pytest.approx(math.sqrt(0.5 / 4))
    assert m.pred_e == pytest.approx((0.5 / 3 + 0.5 / 1) / 4)
    assert m.worst_e == pytest.approx(0.5)
    assert (m.n, m.final_true, m.final_pred) == (4, 1.0, 0.5)


def test_unobserved_rows_are_left_out() -> None:
    m = curve_metrics(np.array([np.nan, 2.0, 4.0]), np.array([100.0, 2.0, 4.0]))
    assert m.n == 2 and m.mae == 0.0 and m.r2 == 1.0


def test_flat_curve_has_undefined_r2_and_mean_ignores_it() -> None:
    flat = curve_metrics(np.array([2.0, 2.0]), np.array([2.0, 2.2]))
    assert math.isnan(flat.r2)
    good = RunMetrics(0.5, 0.1, 0.1, 0.1, 0.1, 2, 1.0, 1.0)
    assert mean_metrics([flat, good])["r2"] == 0.5


def test_mean_is_per_curve_not_pooled() -> None:
    short = curve_metrics(np.array([1.0, 2.0]), np.array([1.0, 3.0]))  # mae 0.5
    long = curve_metrics(np.ones(1000) * 2, np.ones(1000) * 2)  # mae 0
    assert mean_metrics([short, long])["mae"] == pytest.approx(0.25)


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="shape"):
        metrics.mae(np.ones(3), np.ones(2))
