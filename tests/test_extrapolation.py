"""Cross-validated errors beyond the fitted sizes and horizons (scalefit.extrapolation)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scalefit.errors import FitInputError
from scalefit.extrapolation import (
    MIN_FOLDS,
    REFERENCE_SCALE,
    ExtrapolationError,
    Fold,
    check_size_target,
    horizon_distance,
    size_distance,
)
from scalefit.fitting.driver import fit_one_for
from scalefit.fitting.extrapolation_folds import horizon_folds, size_folds, truncate
from scalefit.laws import get_law
from size_runs import size_runs


def _err(scale=0.01, measured=True, n=4):
    folds = tuple(Fold(f"f{i}", "x.csv", 0.01 * (-1) ** i, 0.5) for i in range(n))
    return ExtrapolationError(kind="size", scale=scale, folds=folds, measured=measured)


def test_distances():
    assert size_distance(4e8, [2.5e7, 1e8]) == pytest.approx(2.0)
    assert size_distance(1e7, [2e7, 1e8]) == pytest.approx(1.0)
    assert size_distance(5e7, [2e7, 1e8]) == 0.0
    assert horizon_distance(72000, 24000) == pytest.approx(math.log(3))
    assert horizon_distance(12000, 24000) == 0.0


def test_intervals_grow_with_distance_and_never_reach_zero():
    err = _err()
    lo0, hi0 = err.bounds(3.0, 0.0, 0.0)
    lo2, hi2 = err.bounds(3.0, 0.0, 2.0)
    assert 0 < lo2 < lo0 < 3.0 < hi0 < hi2
    from scipy.stats import t

    # half-width: t(dof = 4 fold fits) * scale * (1 + d) in log loss
    assert math.log(hi2 / 3.0) == pytest.approx(t.ppf(0.95, 4) * 0.01 * 3.0)
    # a covariance sd adds in quadrature
    lo, hi = err.bounds(3.0, 0.03, 0.0)
    assert math.log(hi / 3.0) == pytest.approx(t.ppf(0.95, 4) * math.hypot(0.01, 0.01))
    # a huge relative error still gives a positive lower bound
    assert ExtrapolationError("size", 5.0, (), measured=False).bounds(3.0, np.nan, 3.0)[0] > 0


def test_unmeasured_error_uses_the_reference_rule_and_says_so():
    runs = _runs(sizes=(3e7, 1e8))
    err = size_folds(runs, fit_one_for("mpl-n"))
    assert not err.measured and err.scale == REFERENCE_SCALE["size"]
    assert "too few folds" in err.note and "fewer than two to fit" in err.note
    assert "not measured" in err.text()
    from scipy.stats import norm

    assert err.quantile(0.9) == pytest.approx(norm.ppf(0.95))


def _runs(sizes=(3e7,), T=1500, W=100, every=25, seed=0):
    """Constant and cosine runs simulated from mpl-n (MPL at one size) with 0.05 % log noise."""
    return size_runs(sizes, T=T, W=W, every=every, seed=seed)


def test_size_folds_on_an_exact_law_measure_a_small_error():
    runs = _runs(sizes=(2e7, 5e7, 1.2e8))
    err = size_folds(runs, fit_one_for("mpl-n"))
    assert err.measured and err.dof == 3 >= MIN_FOLDS
    assert len(err.folds) == 6
    assert {round(f.distance, 3) for f in err.folds} == {0.0, round(math.log2(5e7 / 2e7), 3),
                                                          round(math.log2(1.2e8 / 5e7), 3)}
    assert err.scale < 0.003  # the law is exact; what is left is noise and the 2-size prior's exponent


def test_horizon_folds_cut_every_run_at_a_common_step():
    runs = _runs()
    err = horizon_folds(runs, fit_one_for("mpl"))
    assert err.measured and err.dof == 3
    assert all(f.distance > 0 for f in err.folds)
    assert err.scale < 0.003
    assert {f.fold for f in err.folds} == {f"horizon cut {int(100 + c * (1475 - 100))}" for c in (0.35, 0.5, 0.7)}


def test_truncate_keeps_the_schedule():
    run = _runs()[1]
    t = truncate(run, 700)
    assert t.steps[-1] == 700 and t.lr.size == run.lr.size and t.loss.size == t.steps.size


def test_size_targets_the_fit_cannot_speak_for_are_refused():
    check_size_target([1e8], 1e8, "mpl", size_aware=False)  # the fitted size: fine
    check_size_target([3e7, 1e8], 4e8, "mpl-n", size_aware=True)  # two sizes, size-aware: fine (flagged elsewhere)
    check_size_target([1e8], 4e8, "mpl-n", size_aware=True, size_terms_given=True)
    with pytest.raises(FitInputError, match=r"one model size \(1e\+08 parameters\).*at least two sizes"):
        check_size_target([1e8], 4e8, "mpl", size_aware=False)
    with pytest.raises(FitInputError, match="ignores model size.*2 sizes"):
        check_size_target([3e7, 1e8], 1e8, "mpl", size_aware=False)


def test_size_flag_and_prior_note_say_how_far_and_who_decides():
    from scalefit.extrapolation import size_flag
    from scalefit.laws.size_terms import prior_note

    assert size_flag(4e8, [2.5e7, 1e8]) == "model size 4e+08 is 4x the largest fitted (1e+08)"
    assert size_flag(5e6, [2.5e7, 1e8]) == "model size 5e+06 is 1/5 of the smallest fitted (2.5e+07)"
    assert size_flag(5e7, [2.5e7, 1e8]) == ""
    law = get_law("mpl-n")
    assert "set by the prior" in prior_note(law, [2.5e7, 1e8]) and "not by the data" in prior_note(law, [2.5e7, 1e8])
    assert "are fitted" in prior_note(law, [2.5e7, 5e7, 1e8])
