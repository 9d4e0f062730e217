"""Intervals that carry the loss-drop shape the default MPL prior holds (scalefit.shape_uncertainty)."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from scalefit import schedules
from scalefit import shape_uncertainty as su
from scalefit.errors import AssumptionWarning, ConvergenceError
from scalefit.fitting import DEFAULT_PRIORS, fit
from scalefit.laws import get_law
from scalefit.results import Prediction
from scalefit.runs import Run

T, WARMUP, PEAK = 2000, 100, 1e-3
#: MPL at the published 100M shape (the MPL repository's fit), amplitudes of tests/test_fitting.py
PUBLISHED = {"L0": 2.6, "A": 0.5, "alpha": 0.45, "B": 400.0, "C": 2.132, "beta": 0.598, "gamma": 0.655}
PRIOR = DEFAULT_PRIORS["mpl"]


def sim_runs(truth: dict[str, float], seed: int = 0) -> list[Run]:
    """Constant, cosine and a two-step decay, a row every 10 steps, log-noise sd 1e-3."""
    rng = np.random.default_rng(seed)
    out = []
    for name, lr in (("constant", schedules.constant(PEAK, T, warmup=WARMUP)),
                     ("cosine", schedules.cosine(PEAK, T, warmup=WARMUP, final=PEAK / 10)),
                     ("multistep", schedules.multistep(PEAK, T, warmup=WARMUP, milestones=(0.5, 0.75)))):
        steps = np.arange(WARMUP, T, 10, dtype=np.int64)
        clean = get_law("mpl").predict(truth, lr, warmup=WARMUP, at=steps)
        out.append(Run(path=f"{name}.csv", steps=steps, loss=clean * np.exp(1e-3 * rng.standard_normal(steps.size)),
                       lr=lr, step0=0, warmup=WARMUP, line=np.arange(steps.size) + 2, meta={}))
    return out


@pytest.fixture(scope="module")
def published_fit():
    runs = sim_runs(PUBLISHED)
    with pytest.warns(AssumptionWarning, match="the data pull"):  # the fit says the runs disagree with the prior
        main = fit(runs, "mpl", n_starts=8, law_error=False)
    shape, note = su.measure(main, PRIOR, lambda p: fit(runs, "mpl", prior=p, n_starts=8, law_error=False))
    return runs, main, shape, note


def fake_result(cov: np.ndarray, values: dict[str, float]) -> SimpleNamespace:
    return SimpleNamespace(covariance=np.asarray(cov, dtype=float), param_order=tuple(values),
                           params={n: SimpleNamespace(value=v) for n, v in values.items()})


def test_prior_shares_match_the_precision_algebra_by_hand() -> None:
    # data precision H = [[2, 1], [1, 1]]; prior on log c with sd 0.5 at c = 2 adds 1 / (0.25 * 4) = 1 to H[c, c]:
    # var(c) = inv([[2, 1], [1, 2]])[1, 1] = 2/3 with the prior, inv(H)[1, 1] = 2 without: share 1 - (2/3) / 2
    cov = np.linalg.inv([[2.0, 1.0], [1.0, 2.0]])
    shares = su.prior_shares(fake_result(cov, {"a": 1.0, "c": 2.0}), {"c": (1.0, 0.5)})
    assert shares == {"c": pytest.approx(2.0 / 3.0, rel=1e-9)}
    # independent: H = diag(4, 1), prior precision 1 -> var 1/2 against 1: half of it from the prior
    cov = np.diag([1 / 4, 1 / 2])
    assert su.prior_shares(fake_result(cov, {"a": 1.0, "c": 2.0}), {"c": (1.0, 0.5)})["c"] == pytest.approx(0.5)


def test_prior_shares_are_one_where_the_data_leave_the_parameter_undetermined() -> None:
    # H = [[1, 1], [1, 1]] is singular along (1, -1), which moves c: only the prior determines it
    cov = np.linalg.inv([[1.0, 1.0], [1.0, 2.0]])
    assert su.prior_shares(fake_result(cov, {"a": 1.0, "c": 2.0}), {"c": (1.0, 0.5)}) == {"c": 1.0}
    assert su.prior_shares(SimpleNamespace(covariance=None), {"c": (1.0, 0.5)}) == {}


def test_the_default_prior_sets_the_shape_and_the_note_says_so(published_fit) -> None:
    _, main, shape, _ = published_fit
    shares = su.prior_shares(main, PRIOR)
    assert set(shares) == {"C", "beta", "gamma"}
    assert all(s > su.SET_BY_PRIOR for s in shares.values()), shares
    note = su.held_note("mpl", shares)
    assert note.kind == "set_by_prior" and note.warning is None and note.data["params"] == ["C", "beta", "gamma"]
    assert "C, beta, gamma set by the default prior" in note.message and "stderr are the prior's" in note.message
    assert shape.set_by_prior == ("C", "beta", "gamma")
    assert su.held_note("mpl", {"C": 0.2}) is None
    assert set(su.NOTE_KINDS) == {"shape_uncertainty", "set_by_prior"}


def test_shape_interval_covers_the_published_shape_where_the_default_band_misses(published_fit) -> None:
    _, main, shape, note = published_fit
    held = schedules.wsd(PEAK, T, warmup=WARMUP, decay=0.1, shape="exp")
    at = np.array([T - 1])
    truth = float(get_law("mpl").predict(PUBLISHED, held, warmup=WARMUP, at=at)[0])
    default = main.predict(held, warmup=WARMUP, at=at, method="covariance")
    widened = su.predict(main, shape, held, warmup=WARMUP, at=at, method="covariance")
    # the default prior holds C near 1: its prediction misses by ~0.03 nats, far outside its own band
    assert not default.lower[0] <= truth <= default.upper[0]
    assert abs(default.loss[0] - truth) > 0.01
    assert widened.lower[0] <= truth <= widened.upper[0]
    assert widened.loss[0] == default.loss[0]  # the point stays the default fit's
    assert widened.method == "covariance+shape"
    assert set(shape.prior) == {"C", "beta", "gamma"} and shape.prior["C"] == (1.0, su.SHAPE_SPREAD["mpl"]["C"])
    assert note.kind == "shape_uncertainty" and note.warning is None
    assert "stretched to hold this fit's point" in note.message and "sd 0.74 on log C" in note.message
    assert note.data["spread"] == su.SHAPE_SPREAD["mpl"] and note.data["refit"]["C"] == shape.values["C"]


def test_same_inputs_same_shape_uncertainty(published_fit) -> None:
    runs, main, shape, _ = published_fit
    again, _ = su.measure(main, PRIOR, lambda p: fit(runs, "mpl", prior=p, n_starts=8, law_error=False))
    assert again.values == shape.values and again.shares == shape.shares
    assert np.array_equal(again.covariance, shape.covariance)


def test_apply_to_swaps_values_and_covariance_and_keeps_the_rest(published_fit) -> None:
    _, main, shape, _ = published_fit
    alt = shape.apply_to(main)
    assert alt.values == shape.values and alt.covariance is shape.covariance
    i = main.param_order.index("C")
    assert alt.params["C"].stderr == pytest.approx(math.sqrt(shape.covariance[i, i]))
    assert alt.context == main.context and alt.law_error is main.law_error and alt.law == main.law


def test_json_round_trip_and_damaged_entries_name_the_key(published_fit) -> None:
    _, main, shape, _ = published_fit
    data = json.loads(json.dumps(shape.to_dict()))
    back = su.ShapeUncertainty.from_dict(data, main.param_order)
    assert back.values == shape.values and back.prior == shape.prior and back.shares == shape.shares
    assert np.array_equal(back.covariance, shape.covariance)
    for key, bad, words in (("values", {**data["values"], "C": float("nan")}, "value 'C' is not finite"),
                            ("values", {"C": 1.0}, "values must name"),
                            ("covariance", [[1.0]], "covariance must be a finite"),
                            ("prior", {"C": [1.0, -0.1]}, "prior 'C' needs"),
                            ("prior", {"zeta": [1.0, 0.1]}, "prior 'zeta' must be"),
                            ("shares", {"C": 1.5}, "shares must lie")):
        with pytest.raises(ValueError, match=words):
            su.ShapeUncertainty.from_dict({**data, key: bad}, main.param_order)
    with pytest.raises(ValueError, match="must be an object"):
        su.ShapeUncertainty.from_dict([], main.param_order)


def pred(loss: float, lower: float, upper: float, method: str = "covariance+cv") -> Prediction:
    return Prediction(steps=np.array([10]), loss=np.array([loss]), lower=np.array([lower]), upper=np.array([upper]),
                      interval=0.9, method=method)


def test_combine_takes_the_refit_band_stretched_to_the_default_point() -> None:
    out = su.combine(pred(2.5, 2.4, 2.6), pred(1.5, 1.0, 2.0))
    assert (out.loss[0], out.lower[0], out.upper[0]) == (2.5, 1.0, 2.5)
    assert out.method == "covariance+shape+cv"
    inside = su.combine(pred(1.2, 1.1, 1.3), pred(1.5, 1.0, 2.0))
    assert (inside.lower[0], inside.upper[0]) == (1.0, 2.0)
    no_band = su.combine(pred(1.2, 1.1, 1.3), pred(1.5, np.nan, np.nan))  # a refit without covariance: its point
    assert (no_band.lower[0], no_band.upper[0]) == (1.2, 1.5)
    with pytest.raises(ValueError, match="same steps"):
        su.combine(pred(1.0, 0.9, 1.1), Prediction(steps=np.array([11]), loss=np.ones(1), lower=np.ones(1),
                                                    upper=np.ones(1), interval=0.9, method="covariance"))
    assert [su.shaped(m) for m in ("covariance", "covariance+cv", "cv")] == [
        "covariance+shape", "covariance+shape+cv", "shape+cv"]


def test_nothing_to_widen_without_a_measured_spread_and_a_failed_refit_is_named(published_fit) -> None:
    _, main, _, _ = published_fit
    assert su.measure(main, {}, lambda p: pytest.fail("no refit without a prior")) == (None, None)
    tissue = SimpleNamespace(law="tissue")
    assert su.measure(tissue, {"C": (1.0, 0.01)}, lambda p: pytest.fail("no spread for tissue")) == (None, None)

    def broken(prior):
        raise ConvergenceError("law mpl: none of 8 starts gives a finite objective", best=None)

    shape, note = su.measure(main, PRIOR, broken)
    assert shape is None
    assert note.kind == "shape_uncertainty" and note.warning is AssumptionWarning
    assert note.message.startswith("shape uncertainty not measured") and "none of 8 starts" in note.message
