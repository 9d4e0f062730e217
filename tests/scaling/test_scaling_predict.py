"""Scale-up predictions: intervals from the bootstrap over runs plus the measured extrapolation error, the factors
by which a run lies outside the fitted range, leave-the-largest-size-out, and the three approaches side by side."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sweeps import TRUTH, grid, isoflop

from scalefit.errors import ExtrapolationWarning, FitInputError
from scalefit.laws import chinchilla as ch
from scalefit.scaling.approaches import compare
from scalefit.scaling.extrapolation import distance, size_groups
from scalefit.scaling.fit import fit_scaling
from scalefit.scaling.holdout import leave_largest_out
from scalefit.scaling.predict import predict_losses


@pytest.fixture(scope="module")
def fit():
    N, D, L = grid(noise=0.003)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_scaling(N, D, L, law="chinchilla", bootstrap=40, seed=0)


def test_size_groups_merge_near_sizes() -> None:
    assert size_groups([1e8, 1.01e8, 3e8, 1e9, 0.995e8]).tolist() == [0, 0, 1, 2, 0]


def test_extrapolation_factors_and_distance(fit) -> None:
    f = fit.extrapolation_factors(params=1e10, tokens=1e10, flops=6e20)
    assert f["params"] == pytest.approx(10.0) and f["tokens"] == 1.0
    assert fit.extrapolation_factors(params=1e6)["params"] == pytest.approx(10.0)  # 10x below the smallest
    assert fit.extrapolated(params=1e8, tokens=1e10) == []
    assert float(distance(1e10, 1e10, fit.range)) == pytest.approx(np.log(10.0))  # N 10x; C 1.25x; D inside
    assert float(distance(1e8, 2e9, fit.range)) == 0.0


def test_the_extrapolation_error_is_measured_by_forward_folds(fit) -> None:
    ext = fit.extrapolation
    assert ext is not None and ext.n_folds == 2  # 5 sizes: fits on the 3 and 4 smallest
    assert len(ext.errors) == len(ext.distances) == 10 + 5  # fold 1 predicts 2 sizes x 5 ratios, fold 2 one size
    assert all(d > 0 for d in ext.distances) and ext.sigma >= 0
    assert ext.sd(0.0) == 0.0 and ext.sd(2.0) == pytest.approx(2 * ext.sigma)


def test_predictions_widen_beyond_the_data_and_cover_the_truth(fit) -> None:
    with pytest.warns(ExtrapolationWarning, match=r"1 of 2 prediction\(s\) lie outside the fitted range.*row 2: "
                                                  r"params 30x beyond it"):
        inside, far = predict_losses(fit, [1e8, 3e10], [2e9, 6e11])
    assert inside.extrapolated == [] and inside.factors["params"] == 1.0
    assert far.factors["params"] == pytest.approx(30.0) and "params" in far.extrapolated
    for p in (inside, far):
        truth = float(ch.loss(TRUTH, p.params, p.tokens))
        assert p.lower < p.loss < p.upper and p.lower <= truth <= p.upper
    assert (far.upper - far.lower) / far.loss > (inside.upper - inside.lower) / inside.loss
    s = far.summary()
    assert {"params", "tokens", "loss", "lower", "upper", "extrapolation"} <= set(s)


def test_predictions_need_a_bootstrap_for_intervals() -> None:
    N, D, L = grid()
    bare = fit_scaling(N, D, L, law="chinchilla", law_error=False)
    (p,) = predict_losses(bare, [1e8], [2e9])
    assert np.isnan(p.lower) and p.loss == pytest.approx(float(ch.loss(TRUTH, 1e8, 2e9)), rel=0.01)
    with pytest.raises(FitInputError, match="interval 1.5"):
        predict_losses(bare, [1e8], [2e9], interval=1.5)


def test_leave_largest_out_predicts_the_biggest_size() -> None:
    N, D, L = grid(noise=0.002)
    h = leave_largest_out(N, D, L, law="chinchilla", bootstrap=20, seed=0)
    assert h.n_train == 20 and set(h.params) == {1e9} and h.train_max_params == 3e8
    assert h.mean_abs_rel_error < 0.01 and h.coverage >= 0.8
    s = h.summary()
    assert s["n_test"] == 5 and s["test_params"] == [1e9]
    with pytest.raises(FitInputError, match="leaves fewer than 3 to fit the chinchilla law"):
        leave_largest_out(N, D, L, law="chinchilla", n_largest=3)
    with pytest.raises(FitInputError, match="leaves fewer than 2 to fit the overtrain law"):
        leave_largest_out(N, D, L, law="overtrain", n_largest=4)


def test_three_approaches_side_by_side() -> None:
    N, D, L, C = isoflop(noise=0.002)
    res = compare(N, D, L, bootstrap=20, seed=0)
    rows = {r.approach: r for r in res.rows}
    assert set(rows) == {1, 2, 3} and not any(r.error for r in rows.values())
    assert rows[2].a == pytest.approx(0.45, abs=0.02) and rows[3].a == pytest.approx(0.45, abs=0.02)
    assert rows[2].a_lower <= rows[2].a <= rows[2].a_upper
    text = res.report()
    assert "isoFLOP profiles (approach 2)" in text and "parametric law (approach 3)" in text
    s = res.summary()
    assert s["method"] == "all" and [r["approach"] for r in s["approaches"]] == [1, 2, 3]


def test_an_approach_the_data_cannot_support_gets_its_reason() -> None:
    N, D, L = grid()  # sizes x ratios: no compute budgets
    res = compare(N, D, L, bootstrap=0)
    iso = next(r for r in res.rows if r.approach == 2)
    assert iso.error.startswith("only") and np.isnan(iso.a)
    assert "only" in res.report()


def test_json_round_trip_and_older_files(tmp_path) -> None:
    """A fit with no forward fold (3 sizes: sigma NaN, written as null) reads back; a file without a 'law' key (the
    format before the loss-law registry) is a Chinchilla fit."""
    import json

    from scalefit.scaling.result import ScalingFit

    N, D, L = grid(sizes=(1e7, 1e8, 1e9), ratios=(4, 32, 256))
    fit = fit_scaling(N, D, L, law="overtrain", bootstrap=5, seed=0)
    assert fit.extrapolation.n_folds == 0 and np.isnan(fit.extrapolation.sigma)
    fit.to_json(tmp_path / "ot.json")
    back = ScalingFit.from_json(tmp_path / "ot.json")
    assert back.law == "overtrain" and back.values == fit.values and np.isnan(back.extrapolation.sigma)
    assert back.prediction(3e9, 3e11) == fit.prediction(3e9, 3e11)
    old = json.loads((tmp_path / "ot.json").read_text())
    for k in ("law", "residuals", "extrapolation", "notes", "a", "b", "eta"):
        old.pop(k)
    old.update({"A": 400.0, "B": 1200.0, "alpha": 0.33, "beta": 0.27, "bootstrap": []})
    (tmp_path / "old.json").write_text(json.dumps(old))
    older = ScalingFit.from_json(tmp_path / "old.json")
    assert older.law == "chinchilla" and older.extrapolation is None
    assert float(older.predict(1e8, 2e9)) == pytest.approx(float(ch.loss({**older.values}, 1e8, 2e9)))


def test_plan_uses_the_default_law() -> None:
    """scalefit.plan takes any loss law's fit: the over-training law allocates at its M* tokens per parameter."""
    from scalefit.planning import plan

    N, D, L = grid(noise=0.002)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_scaling(N, D, L, bootstrap=10, seed=0)
        p = plan(1e21, scaling=fit)
    assert fit.law == "overtrain"
    v = fit.values
    M = (v["b"] / v["a"]) ** (1 / (2 * v["eta"]))
    assert p.tokens / p.params == pytest.approx(M) and 6 * p.params * p.tokens == pytest.approx(1e21)
    assert p.lower <= p.final_loss <= p.upper
