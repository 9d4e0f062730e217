"""Results that cannot be true are flagged, never passed off as results (issue 13): a fit whose law does not
describe its runs (status FAILED), a predicted loss <= 0 or below the data's floor, a law error larger than the
loss; prediction intervals are symmetric in log loss."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from scalefit.errors import FitFailedWarning
from scalefit.fitting import fit
from scalefit.fitting.sanity import verdict
from scalefit.law_error import FoldError, LawError
from scalefit.laws import get_law
from scalefit.metrics import RunMetrics
from scalefit.results import FitResult, FitStatus
from scalefit.results.difference import ranked
from scalefit.results.report import NO_INFORMATION
from scalefit.runs import Run

from test_fitting import WARMUP, three_schedules
from test_results import golden, hand_result


def rising_run() -> Run:
    """A loss that rises under a constant LR: no curve law follows it (each is non-increasing there)."""
    lr = three_schedules()["constant"]
    steps = np.arange(WARMUP, lr.size, 10, dtype=np.int64)
    loss = 2.0 + 0.5 * np.exp((steps - steps[-1]) / 300.0)
    return Run(path="rising.csv", steps=steps, loss=loss, lr=lr, step0=0, warmup=WARMUP,
               line=np.arange(steps.size) + 2, meta={})


def diving(c: float = 12.0) -> FitResult:
    """The hand-made Tissue fit with an annealing amplitude so large that a cosine to 0 ends below 0 (-0.45, like
    the Mistral fine-tune of issue 13) while a WSD stays above it (0.20)."""
    h = hand_result()
    params = dict(h.params)
    params["C"] = dataclasses.replace(params["C"], value=c)
    return dataclasses.replace(h, params=params)


@pytest.fixture(scope="module")
def failed() -> FitResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit([rising_run()], "tissue", n_starts=8)


def test_a_negative_r2_fails_the_fit_says_what_to_try_and_warns() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = fit([rising_run()], "tissue", n_starts=8)
    said = [str(w.message) for w in caught if w.category is FitFailedWarning]
    assert len(said) == 1 and re.search(r"FAILED: the law does not describe these runs: in-sample R2 -0\.\d+ < 0",
                                        said[0]), said
    assert res.status is FitStatus.FAILED and res.failed and res.mean_metrics["r2"] < 0
    note = next(n for n in res.notes if n.kind == "failed")
    assert note.warning is FitFailedWarning and note.data["reason"] == "negative_r2"
    for what in ("--min-step", "--warmup", "--target", "--schedule-file"):
        assert what in note.message
    assert res.law_error is None and any("law error not measured: the fit of tissue FAILED" in m for m in res.messages)
    text = res.report()
    assert text.splitlines()[0].endswith(": FAILED")
    assert "  FAILED: the law does not describe these runs" in text


def test_failed_round_trips_and_old_files_still_load(failed, tmp_path: Path) -> None:
    back = FitResult.from_json(failed.to_json(tmp_path / "failed.json"))
    assert back.status is FitStatus.FAILED and back.failed and back.report() == failed.report()
    assert json.loads((tmp_path / "failed.json").read_text())["status"] == "FAILED"
    # a file written before the target keys existed reads back with the defaults
    ok = hand_result()
    data = json.loads(ok.to_json(tmp_path / "ok.json").read_text())
    del data["context"]["target"], data["context"]["target_unit"]
    (tmp_path / "old.json").write_text(json.dumps(data))
    old = FitResult.from_json(tmp_path / "old.json")
    assert old.context.target == "loss" and old.context.target_unit is None and old.status is FitStatus.CONVERGED


def test_report_golden_failed() -> None:
    m = {"runs/100M_cosine_24000.csv": RunMetrics(-0.25, 0.05, 0.06, 0.01, 0.03, 171, 2.9791, 3.05)}
    notes = verdict(get_law("tissue"), "tissue", (), np.array([]), [], m)
    h = dataclasses.replace(hand_result(), status=FitStatus.FAILED, metrics=m, messages=(notes[0].message,))
    golden("report_failed.txt", h.report())


def test_one_run_below_zero_r2_is_a_note_when_the_mean_is_not() -> None:
    law = get_law("tissue")
    m = {"a.csv": RunMetrics(0.99, 0, 0, 0, 0, 10, 3.0, 3.0), "b.csv": RunMetrics(-0.2, 0, 0, 0, 0, 10, 3.0, 3.0)}
    notes = verdict(law, "tissue", (), np.array([]), [], m)
    assert [n.kind for n in notes] == ["poor_run"] and "b.csv (in-sample R2 -0.2 < 0)" in notes[0].message


def test_a_fitted_curve_that_reaches_zero_on_its_own_schedule_fails() -> None:
    h = diving()
    lr = three_schedules(24_000)["cosine"]
    run = Run(path="long.csv", steps=np.array([23_000]), loss=np.array([3.0]), lr=lr, step0=0, warmup=WARMUP,
              line=np.array([2]), meta={})
    values = np.array([h.params[n].value for n in h.param_order])
    m = {"long.csv": RunMetrics(0.9, 0, 0, 0, 0, 10, 3.0, 3.0)}
    notes = verdict(h.get_law(), "tissue", h.param_order, values, [run], m)
    assert [n.kind for n in notes] == ["failed"] and notes[0].data["reason"] == "loss_not_positive"
    assert notes[0].data["loss"] <= 0 and "long.csv's own schedule" in notes[0].message
    safe = np.array([hand_result().params[n].value for n in h.param_order])
    assert verdict(h.get_law(), "tissue", h.param_order, safe, [run], m) == []


def test_a_prediction_at_or_below_zero_is_flagged_never_ranked_first() -> None:
    h = diving()
    with pytest.warns(FitFailedWarning, match=r"prediction for cosine is not a result: .* loss of -0\.4458 at step"):
        cos = h.predict("cosine")
    assert cos.final_loss < 0 and cos.impossible == "loss -0.4458 <= 0 at step 23936"
    assert math.isnan(cos.lower[-1]) and math.isnan(cos.upper[-1])  # no band in log space below 0
    assert cos.summary()["impossible"] == cos.impossible
    wsd, const = h.predict("wsd:decay=0.2"), h.predict("constant")
    assert 0 < wsd.final_loss < const.final_loss and not wsd.impossible
    assert [p.label for p in ranked([cos, const, wsd])] == ["wsd:decay=0.2", "constant", "cosine"]
    assert wsd.summary()["impossible"] is None


def test_a_prediction_below_the_floor_is_not_ranked_first() -> None:
    h = dataclasses.replace(hand_result(), context=dataclasses.replace(hand_result().context, irreducible_loss=3.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        low, high = h.predict("cosine"), h.predict("constant:peak=1e-5")
    assert low.final_loss < 3.0 < high.final_loss and "below the data's irreducible loss 3.0" in low.impossible
    assert ranked([low, high])[0] is high


def test_every_prediction_of_a_failed_fit_is_flagged(failed) -> None:
    with pytest.warns(FitFailedWarning, match="the fit FAILED"):
        p = failed.predict("constant")
    assert "the fit FAILED" in p.impossible


def test_intervals_are_symmetric_in_log_loss_and_stay_positive() -> None:
    h = hand_result()
    le = LawError(scale=1.5, folds=(FoldError("forward 50%", "a.csv", 1.5, 1.0),
                                    FoldError("forward 70%", "a.csv", -1.5, 1.0)))
    wild = dataclasses.replace(h, law_error=le)
    p = wild.predict("cosine")
    assert p.method == "covariance+cv" and p.uninformative and p.summary()["uninformative"] is True
    assert np.all(p.lower > 0) and np.all(p.lower < p.loss) and np.all(p.loss < p.upper)
    np.testing.assert_allclose(np.sqrt(p.lower * p.upper), p.loss, rtol=1e-12)
    assert NO_INFORMATION in wild.report()
    calm = h.predict("cosine")  # covariance only, ~0.1 % wide at the end: the log band is the linear one there
    half = math.log(calm.upper[-1] / calm.loss[-1])
    assert not calm.uninformative and NO_INFORMATION not in h.report() and half < 2e-3
    assert abs((calm.upper[-1] + calm.lower[-1]) / 2 / calm.loss[-1] - 1) <= half ** 2


def test_the_comparison_table_marks_failed_laws_and_a_law_error_beyond_the_loss(failed) -> None:
    from scalefit.fitting.comparison import Comparison

    le = LawError(scale=8.7, folds=(FoldError("forward 50%", "a.csv", 8.7, 1.0),
                                    FoldError("forward 70%", "a.csv", -8.7, 1.0)))
    wild = dataclasses.replace(hand_result(), law_error=le)
    table = Comparison((wild, failed)).table()
    assert "870%!" in table and "!: the law error is larger than the loss itself" in table
    assert "FAILED: tissue does not describe these runs" in table
    assert "FAILED" not in Comparison((hand_result(),)).table()
