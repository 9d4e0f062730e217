"""Differences between predictions of one fit (``scalefit.results.difference``): the covariance part from the joint
gradient, the law-error part with its measured unshared share, 0 where two LR histories are identical."""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest
from scipy.stats import norm, t

from scalefit.errors import FitInputError
from scalefit.fitting import fit
from scalefit.law_error import FoldError, LawError
from scalefit.laws.base import prediction_with_gradient
from scalefit.results.difference import PRIOR_DOF, difference, differences, unshared_fraction

from test_fitting import TISSUE_TRUTH, sim_runs
from test_results import hand_result


@pytest.fixture(scope="module")
def res():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(sim_runs("tissue", TISSUE_TRUTH), "tissue", n_starts=8)


def folds(*errors: tuple[str, float, float]) -> LawError:
    e = tuple(FoldError(fold, f"{i}.csv", rel, horizon) for i, (fold, rel, horizon) in enumerate(errors))
    return LawError(scale=float(np.sqrt(np.mean([(f.rel_error / (1 + math.log(max(f.horizon, 1)))) ** 2
                                                 for f in e]))), folds=e)


def test_the_covariance_part_is_the_joint_gradient_band() -> None:
    h = hand_result()  # no law error: the covariance band alone
    a, b = h.predict("wsd:decay=0.2"), h.predict("cosine")
    d = difference(h, a, b)
    last = np.array([a.steps[-1]])
    values = np.array([h.params[n].value for n in h.param_order])
    pa, ga = prediction_with_gradient(h.get_law(), h.param_order, values, a.lr, a.warmup, last, None)
    pb, gb = prediction_with_gradient(h.get_law(), h.param_order, values, b.lr, b.warmup, last, None)
    g = (ga - gb)[:, 0]
    sd = math.sqrt(g @ h.covariance @ g)
    assert d.final == pytest.approx(float(pa[0] - pb[0]), rel=1e-12)
    assert d.final_upper - d.final == pytest.approx(norm.ppf(0.95) * sd, rel=1e-9)
    # the parameter noise that moves both curves together cancels: narrower than either prediction's band
    assert d.final_upper - d.final < min(a.upper[-1] - a.loss[-1], b.upper[-1] - b.loss[-1])
    assert d.method == "covariance" and d.unshared is None


def test_the_unshared_share_is_the_pooled_within_fold_spread_shrunk_toward_independence() -> None:
    le = folds(("forward 50%", 0.010, 1.0), ("forward 50%", 0.006, 1.0),
               ("forward 70%", 0.008, 1.0), ("forward 70%", 0.004, 1.0), ("leave out 0.csv", 0.009, 1.0))
    ss = 2 * 0.002 ** 2 + 2 * 0.002 ** 2  # within each fold: deviations +-0.002 from its mean
    f, dof = unshared_fraction(dataclasses.replace(hand_result(), law_error=le))
    assert dof == 2 + PRIOR_DOF
    assert f == pytest.approx((ss / le.scale ** 2 + PRIOR_DOF) / (2 + PRIOR_DOF), rel=1e-12)
    lone = folds(("leave out a.csv", 0.01, 1.0), ("leave out b.csv", -0.01, 1.0))  # no fold scored two runs
    assert unshared_fraction(dataclasses.replace(hand_result(), law_error=lone)) == (1.0, 0)
    assert unshared_fraction(hand_result()) == (1.0, 0)  # no law error at all


def test_the_law_part_follows_the_shared_and_own_errors(res) -> None:
    a, b = res.predict("wsd:decay=0.2"), res.predict("constant")
    d = difference(res, a, b)
    le = res.law_error
    f, dof_u = unshared_fraction(res)
    assert 0 < f < 1 and d.unshared == f and d.method == "covariance+cv"
    ra = a.loss[-1] * le.relative_sd(a.steps[-1:], res.context.max_step)[0]
    rb = b.loss[-1] * le.relative_sd(b.steps[-1:], res.context.max_step)[0]
    law = math.sqrt((1 - f) * (ra - rb) ** 2 + f * (ra ** 2 + rb ** 2))
    # the covariance part, recomputed as above
    values = np.array([res.params[n].value for n in res.param_order])
    last = np.array([a.steps[-1]])
    _, ga = prediction_with_gradient(res.get_law(), res.param_order, values, a.lr, a.warmup, last, None)
    _, gb = prediction_with_gradient(res.get_law(), res.param_order, values, b.lr, b.warmup, last, None)
    g = (ga - gb)[:, 0]
    cov = math.sqrt(g @ res.covariance @ g)
    dof = min(le.dof, dof_u)
    nu = dof * (1 + (cov / law) ** 2) ** 2
    half = max(t.ppf(0.95, nu) * math.hypot(cov, law), t.ppf(0.95, dof) * law, norm.ppf(0.95) * cov)
    assert d.final_upper - d.final == pytest.approx(half, rel=1e-9)
    assert d.final_lower == pytest.approx(d.final - half, rel=1e-9)


def test_identical_histories_differ_by_exactly_nothing(res) -> None:
    const, wsd = res.predict("constant"), res.predict("wsd:decay=0.2")  # the same LR until the cooldown
    d = difference(res, wsd, const)
    parted = int(np.flatnonzero(wsd.lr != const.lr)[0])
    before = d.steps < parted
    assert before.sum() > 1000
    np.testing.assert_array_equal(d.diff[before], 0.0)
    np.testing.assert_array_equal(d.upper[before], 0.0)
    np.testing.assert_array_equal(d.lower[before], 0.0)
    assert np.all(d.upper[~before] > d.diff[~before]) and d.final < 0
    same = difference(res, const, res.predict("constant"))
    assert same.final == 0.0 and same.final_lower == same.final_upper == 0.0


def test_a_schedule_of_another_length_is_compared_final_to_final(res) -> None:
    short, long = res.predict("cosine:total=1500"), res.predict("cosine")
    d = difference(res, short, long)
    assert d.final == pytest.approx(short.final_loss - long.final_loss, rel=1e-12)
    assert d.steps[-1] == short.steps[-1] and d.final_lower < d.final < d.final_upper


def test_differences_to_a_named_baseline(res) -> None:
    preds = [res.predict(s) for s in ("cosine", "constant", "wsd:decay=0.2")]
    out = differences(res, preds, "constant")
    assert [(d.label, d.baseline) for d in out] == [("cosine", "constant"), ("wsd:decay=0.2", "constant")]
    assert [d.label for d in differences(res, preds)] == ["constant", "wsd:decay=0.2"]  # the first by default
    with pytest.raises(FitInputError, match=r"--baseline 'linear' is none of the predicted schedules"):
        differences(res, preds, "linear")
    summary = out[0].summary()
    assert summary["schedule"] == "cosine" and summary["baseline"] == "constant"
    assert summary["lower"] < summary["difference"] < summary["upper"]
