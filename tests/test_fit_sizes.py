"""Model sizes in fits and predictions (issue 16): the data choose the law, a size-blind law refuses runs of several
sizes unless allowed, a size-aware fit says what its size terms rest on and measures its error at another size,
and a prediction at another size is refused, or flagged with its factor and widened."""

from __future__ import annotations

import dataclasses
import json
import math
import warnings

import numpy as np
import pytest
from scipy.stats import norm

from scalefit.errors import AssumptionWarning, ExtrapolationWarning, FitInputError, ResultFileError
from scalefit.extrapolation import REFERENCE_SCALE, ExtrapolationError
from scalefit.fitting import compare, evaluate, fit
from scalefit.laws import get_law
from scalefit.results import FitResult
from size_runs import TRUTH, size_runs

T, W = 1500, 100
FAST = {"n_starts": 16, "law_error": False}


def _runs(sizes, seed=0):
    """A constant and a cosine run per size, simulated from mpl-n with 0.05 % log noise."""
    return size_runs(sizes, T=T, W=W, seed=seed)


def _quiet(fn, *a, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **kw)


def _warned(fn, *a, **kw):
    """``fn(*a, **kw)`` and the ``(class, message)`` of every warning it emitted."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*a, **kw)
    return out, [(w.category, str(w.message)) for w in caught]


def _kinds(result):
    return [n.kind for n in result.notes]


@pytest.fixture(scope="module")
def three_sizes():
    """mpl-n on three sizes with the law error, so with measured size folds (one fit per size)."""
    return _quiet(fit, _runs((2e7, 5e7, 1.2e8)), n_starts=16)


# ---- the data choose the law ---------------------------------------------------------------------------------
def test_runs_of_several_sizes_default_to_the_size_aware_law_and_say_why():
    res = _quiet(fit, _runs((3e7, 1e8)), **FAST)
    assert res.law == "mpl-n"
    note = next(n for n in res.notes if n.kind == "law_choice")
    assert "2 model sizes (3e+07, 1e+08)" in note.message and note.data["law"] == "mpl-n"
    one = _quiet(fit, _runs((3e7,)), **FAST)
    assert one.law == "mpl" and "law_choice" not in _kinds(one)  # one size: the long-standing default, no note
    sizeless = [dataclasses.replace(r, meta={}) for r in _runs((3e7, 1e8))]
    assert _quiet(fit, sizeless, **FAST).law == "mpl"  # runs that do not state their size


def test_a_size_blind_law_on_several_sizes_is_refused_unless_allowed():
    runs = _runs((3e7, 1e8))
    with pytest.raises(FitInputError, match=r"law 'mpl' ignores model size.*2 sizes.*--mixed-sizes"):
        fit(runs, "mpl", **FAST)
    res, warned = _warned(fit, runs, "mpl", allow_mixed_sizes=True, **FAST)
    assert any(c is AssumptionWarning and "fitted as one model as asked" in m for c, m in warned)
    assert "mixed_sizes" in _kinds(res) and res.options.allow_mixed_sizes
    with warnings.catch_warnings():  # the fit mixed them as asked: its predictions are not refused
        warnings.simplefilter("ignore")
        assert np.isfinite(res.predict("cosine", n_params=1e8).final_loss)


def test_compare_and_evaluate_follow_the_sizes():
    runs = _runs((3e7, 1e8))
    cmp = _quiet(compare, runs, **FAST)
    assert [r.law for r in cmp.fits] == ["tissue-n", "mpl-n"] or [r.law for r in cmp.fits] == ["mpl-n", "tissue-n"]
    assert "comparing the size-aware laws" in cmp.note and "note: the runs have 2 model sizes" in cmp.table()
    ev = _quiet(evaluate, runs[:3], runs[3:], **FAST)  # trained on 3e7 and 1e8, held out: a 1e8 run
    assert ev.fit.law == "mpl-n" and ev.summary()["runs"][0]["size_interval"] is None  # inside the fitted sizes


# ---- what the size terms rest on -----------------------------------------------------------------------------
def test_two_sizes_warn_that_the_prior_sets_the_exponent():
    res, warned = _warned(fit, _runs((3e7, 1e8)), "mpl-n", **FAST)
    assert any(c is AssumptionWarning and "set by the prior" in m and "not by the data" in m for c, m in warned)
    note = next(n for n in res.notes if n.kind == "size_terms")
    assert note.warning is AssumptionWarning and note.data["prior"] == ["a", "rA", "rB"]
    no_prior = _quiet(fit, _runs((3e7, 1e8)), "mpl-n", prior={}, **FAST)
    assert "no prior on the size exponent" in next(n for n in no_prior.notes if n.kind == "size_terms").message


def test_one_size_needs_the_size_terms_fixed():
    runs = _runs((3e7,))
    with pytest.raises(FitInputError, match="one size cannot separate"):
        fit(runs, "mpl-n", **FAST)
    fixed = {"K": 0.6, "a": 0.35, "rA": 1.05, "rB": 1.1}
    res, warned = _warned(fit, runs, "mpl-n", fixed=fixed, **FAST)
    assert any(c is AssumptionWarning and "held at the values given" in m
               and "every prediction at another size rests on them" in m for c, m in warned)
    # the size terms were given, so another size may be predicted (and is flagged)
    pred, warned = _warned(res.predict, "cosine", n_params=1.2e8)
    assert any(c is ExtrapolationWarning and "model size 1.2e+08 is 4x the largest fitted (3e+07)" in m
               for c, m in warned)
    true = get_law("mpl-n").predict(TRUTH, pred.lr, warmup=pred.warmup, at=[pred.lr.size - 1], n_params=1.2e8)[0]
    assert abs(pred.final_loss - true) / true < 0.01


# ---- predictions at another size -----------------------------------------------------------------------------
def test_a_fit_of_one_size_refuses_another_size():
    res = _quiet(fit, _runs((3e7,)), "mpl", **FAST)
    with pytest.raises(FitInputError, match=r"one model size \(3e\+07 parameters\).*at least two sizes"):
        res.predict("cosine", n_params=1e8)
    assert np.isfinite(_quiet(res.predict, "cosine", n_params=3e7).final_loss)  # its own size
    other = dataclasses.replace(_runs((1e8,))[1])
    with pytest.raises(FitInputError, match="one model size"):  # a Run's own params count as asked
        res.predict(other)
    with pytest.raises(FitInputError, match="this held-out run cannot be predicted"):
        evaluate(_runs((3e7,)), _runs((1e8,)), "mpl", **FAST)


def test_beyond_two_sizes_the_interval_takes_the_reference_rule_and_says_so():
    res = _quiet(fit, _runs((3e7, 1e8)), "mpl-n", n_starts=16)
    assert res.size_error is not None and not res.size_error.measured
    assert res.size_error.scale == REFERENCE_SCALE["size"] and "2 model sizes" in res.size_error.note
    p, warned = _warned(res.predict, "cosine", n_params=4e8)
    assert any(c is ExtrapolationWarning and "is 4x the largest fitted" in m
               and "carries its size error not measured" in m for c, m in warned)
    assert "not measured" in p.size_interval and "reference rule" in p.size_interval
    assert p.summary()["size_interval"] == p.size_interval and p.summary()["n_params"] == 4e8
    h = math.log(p.upper[-1] / p.loss[-1])
    assert h >= norm.ppf(0.95) * REFERENCE_SCALE["size"] * (1 + 2.0) * (1 - 1e-9)  # 2 doublings beyond 1e8
    cov = _quiet(res.predict, "cosine", n_params=4e8, method="covariance")  # the noise band only, when asked
    assert cov.size_interval == "" and math.log(cov.upper[-1] / cov.loss[-1]) < h
    inside = _quiet(res.predict, "cosine", n_params=5e7)
    assert inside.size_interval == "" and not inside.extrapolated
    # a fit without the law error still widens beyond its sizes, with the reference rule, and says why
    bare = _quiet(fit, _runs((3e7, 1e8)), "mpl-n", **FAST)
    assert bare.size_error is None
    q = _quiet(bare.predict, "cosine", n_params=4e8)
    assert "law_error=False" in q.size_interval and math.log(q.upper[-1] / q.loss[-1]) >= h * 0.99


def test_three_sizes_measure_the_size_error_by_leaving_each_out(three_sizes, tmp_path):
    res = three_sizes
    assert res.law == "mpl-n" and res.size_error.measured and res.size_error.dof == 3
    assert res.size_error.scale < 0.003  # the law is exact; noise and the 2-size fold fits are what is left
    assert "size_error" in _kinds(res) and "cross-validated by size folds" in res.report()
    p = _quiet(res.predict, "cosine", n_params=4.8e8)  # 2 doublings beyond 1.2e8
    assert "cross-validated by size folds" in p.size_interval and "2 doublings out" in p.size_interval
    path = res.to_json(tmp_path / "fit.json")
    back = FitResult.from_json(path)
    assert back.size_error == res.size_error
    assert _quiet(back.predict, "cosine", n_params=4.8e8).upper[-1] == pytest.approx(p.upper[-1], rel=1e-12)


@pytest.mark.parametrize("edit,key", [
    (lambda d: d["size_error"].update(scale=d["size_error"]["scale"] * 2), "is not the RMS of the folds"),
    (lambda d: d["size_error"].update(kind="horizon"), "is not one of: size"),
    (lambda d: d["size_error"].update(dof=7), "dof 7 disagrees"),
    (lambda d: d["size_error"]["folds"][0].update(distance=-1.0), "must be >= 0"),
    (lambda d: d["size_error"].update(measured=False), "not the reference rule"),
    (lambda d: d["size_error"].update(folds=d["size_error"]["folds"][:1], dof=1,
                                      bias=d["size_error"]["folds"][0]["rel_error"]), "at least 2 are needed"),
    (lambda d: d["options"].update(law_error=False), "measured only with it"),
])
def test_a_damaged_size_error_is_refused_naming_the_key(three_sizes, tmp_path, edit, key):
    data = json.loads(three_sizes.to_json(tmp_path / "fit.json").read_text())
    edit(data)
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(ResultFileError, match="size_error") as exc:
        FitResult.from_json(tmp_path / "bad.json")
    assert key in str(exc.value)


def test_a_size_blind_fit_holds_no_size_error(tmp_path):
    res = _quiet(fit, _runs((3e7,)), "mpl", n_starts=16)
    assert res.size_error is None
    data = json.loads(res.to_json(tmp_path / "fit.json").read_text())
    data["size_error"] = ExtrapolationError.reference("size", "edited in").to_dict()
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(ResultFileError, match="only a size-aware law's fit has a size error"):
        FitResult.from_json(tmp_path / "bad.json")


def test_extrapolation_error_round_trips_and_refuses_nonsense():
    err = ExtrapolationError.reference("size", "two sizes")
    assert ExtrapolationError.from_dict(err.to_dict()) == err
    with pytest.raises(ValueError, match="must be an object"):
        ExtrapolationError.from_dict([1, 2])
    bad = {**err.to_dict(), "scale": float("nan")}
    with pytest.raises(ValueError):
        ExtrapolationError.from_dict(bad)
