"""The law's own error, cross-validated on the training runs: folds, skip rule, error model, intervals, JSON, CLI."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm, t

from scalefit.errors import AssumptionWarning, FitInputError
from scalefit.fitting import fit
from scalefit.law_error import LawError, cross_validate, head, holds_decay
from scalefit.results import FitResult

from test_cli_fit import invoke, write_run
from test_fitting import MPL_TRUTH, TISSUE_TRUTH, sim_run, three_schedules


def _pair(law: str, truth: dict[str, float]) -> list:
    sch = three_schedules()
    return [sim_run(law, truth, sch[name], seed=i, name=name) for i, name in enumerate(("constant", "cosine"))]


def _fit(runs, law: str = "tissue", **kw) -> FitResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(runs, law, n_starts=16, law_error=True, **kw)


@pytest.fixture(scope="module")
def exact() -> FitResult:
    """Tissue fitted to curves simulated from Tissue: the law is right, only the noise (1e-3) errs."""
    return _fit(_pair("tissue", TISSUE_TRUTH))


def test_folds_are_forward_chaining_and_leave_one_out_and_the_hopeless_one_is_skipped(exact) -> None:
    le = exact.law_error
    assert [f.fold for f in le.folds] == ["forward 50%"] * 2 + ["forward 70%"] * 2 + ["leave out constant.csv"]
    assert le.dof == 5
    # the constant run alone holds no LR decay: it cannot predict the cosine run's drop, so that fold is skipped
    assert len(le.skipped) == 1 and le.skipped[0].startswith("leave out cosine.csv: its fitted rows hold no LR decay, a run")
    # horizon: each run's last step over the fold's last fitted step (rows every 10 steps from 100 to 1990: the
    # 50% head ends at the last row <= 100 + 0.5 * 1890)
    assert [f.horizon for f in le.folds[:2]] == pytest.approx([1990 / 1040] * 2, rel=1e-12)
    assert le.folds[-1].horizon == pytest.approx(1.0)
    assert any("law error cross-validation: 5 fold errors" in m for m in exact.messages)
    assert "law error:" in exact.report()


def test_scale_is_the_rms_of_the_fold_errors_over_the_growth_factor(exact) -> None:
    le = exact.law_error
    e = np.array([f.rel_error for f in le.folds])
    g = 1 + np.log(np.maximum([f.horizon for f in le.folds], 1.0))
    assert le.scale == pytest.approx(math.sqrt(np.mean((e / g) ** 2)), rel=1e-12)
    assert le.relative_sd(np.array([500, 1990, 3980]), 1990) == pytest.approx(
        le.scale * np.array([1.0, 1.0, 1 + math.log(2)]), rel=1e-12)
    assert le.quantile(0.9) == pytest.approx(t.ppf(0.95, 5))


def test_the_law_error_is_small_when_the_law_is_right_and_large_when_it_is_wrong(exact) -> None:
    wrong = _fit(_pair("mpl", MPL_TRUTH), "tissue")  # MPL's saturating drop, fitted with Tissue's linear one
    assert exact.law_error.scale < 2e-3  # the noise is 1e-3 per row, the tail means average it down
    assert wrong.law_error.scale > 10 * exact.law_error.scale


def test_interval_adds_the_law_error_to_the_covariance_band_in_quadrature(exact) -> None:
    lr = three_schedules()["wsd"]
    at = np.array([500, 1999])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cov = exact.predict(lr, at=at, interval=0.9, method="covariance")
        both = exact.predict(lr, at=at, interval=0.9)
    assert both.method == "covariance+cv" and cov.method == "covariance"
    assert both.loss == pytest.approx(cov.loss, rel=0, abs=0)
    sd_cov = (cov.upper - cov.lower) / 2 / norm.ppf(0.95)
    sd_law = exact.law_error.relative_sd(at, exact.context.max_step) * both.loss
    half = exact.law_error.quantile(0.9) * np.sqrt(sd_cov ** 2 + sd_law ** 2)
    assert (both.upper - both.lower) / 2 == pytest.approx(half, rel=1e-9)
    assert np.all(both.upper - both.lower > cov.upper - cov.lower)


def test_method_must_be_known_and_cv_needs_a_measured_law_error(exact) -> None:
    lr = three_schedules()["wsd"]
    plain = fit(_pair("tissue", TISSUE_TRUTH), "tissue", n_starts=8)
    assert plain.law_error is None and plain.predict(lr).method == "covariance"
    with pytest.raises(FitInputError, match="no measured law error"):
        plain.predict(lr, method="covariance+cv")
    with pytest.raises(FitInputError, match="unknown interval method"):
        exact.predict(lr, method="bootstrap")


def test_law_error_round_trips_through_json_and_is_deterministic(exact, tmp_path: Path) -> None:
    path = exact.to_json(tmp_path / "fit.json")
    back = FitResult.from_json(path)
    assert back.law_error == exact.law_error
    lr = three_schedules()["cosine"]
    a, b = exact.predict(lr, at=np.array([1999])), back.predict(lr, at=np.array([1999]))
    assert (a.lower[0], a.upper[0]) == (b.lower[0], b.upper[0])
    again = _fit(_pair("tissue", TISSUE_TRUTH))
    assert again.law_error.to_dict() == {**exact.law_error.to_dict(), "seconds": again.law_error.seconds}


def test_old_fit_files_without_a_law_error_read_back_as_none(exact, tmp_path: Path) -> None:
    path = exact.to_json(tmp_path / "fit.json")
    data = json.loads(path.read_text())
    del data["law_error"]
    path.write_text(json.dumps(data))
    assert FitResult.from_json(path).law_error is None


def test_too_few_fold_errors_attach_none_and_say_why() -> None:
    few = sim_run("tissue", TISSUE_TRUTH, three_schedules()["constant"], every=380, name="few")  # 5 rows
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = fit([few], "tissue", n_starts=8, law_error=True)
    assert res.law_error is None
    said = [str(w.message) for w in caught if issubclass(w.category, AssumptionWarning)]
    assert any(s.startswith("law error not measured: 0 fold error(s)") and "cannot determine" in s for s in said)
    assert res.predict(three_schedules()["constant"]).method == "covariance"


def test_head_keeps_the_whole_schedule_and_a_decay_needs_rows_in_it() -> None:
    run = sim_run("tissue", TISSUE_TRUTH, three_schedules()["wsd"], name="wsd")  # decay in the last 20 %
    h = head(run, 0.5)
    first, last = run.steps[run.after_warmup].min(), run.steps[run.after_warmup].max()
    assert h.lr is run.lr and h.steps.max() <= first + 0.5 * (last - first) < h.steps.max() + 10
    assert not holds_decay(h) and holds_decay(run)
    # a constant-LR log whose last steps fall to 0 (as the Schaipp et al. files do) holds no decay
    lr = three_schedules()["constant"].copy()
    lr[-15:] = np.linspace(lr[-16], 0.0, 15)
    assert not holds_decay(sim_run("tissue", TISSUE_TRUTH, lr, name="const"))


def test_head_of_a_segment_that_starts_mid_run_keeps_its_first_rows() -> None:
    run = sim_run("tissue", TISSUE_TRUTH, three_schedules()["cosine"], name="seg", warmup=100)
    seg = head(run, 1.0)
    late = seg.__class__(**{**seg.__dict__, "steps": run.steps[150:], "loss": run.loss[150:],
                            "line": run.line[150:]})  # rows from step 1600 on only
    h = head(late, 0.5)
    assert h.steps.size > 0 and h.steps.min() == late.steps.min() and h.steps.size < late.steps.size


def test_cross_validate_reports_failing_folds_without_raising() -> None:
    runs = _pair("tissue", TISSUE_TRUTH)

    def fails(rs):
        raise FitInputError("nope")

    le, note = cross_validate(runs, fails)
    assert le is None and "law error not measured" in note and "forward 50%: nope" in note


def test_law_error_from_dict_inverts_to_dict(exact) -> None:
    assert LawError.from_dict(json.loads(json.dumps(exact.law_error.to_dict()))) == exact.law_error


def test_cli_fit_measures_it_by_default_and_predict_says_so(tmp_path: Path) -> None:
    sch = three_schedules()
    files = [write_run(tmp_path / f"{n}.csv", sim_run("tissue", TISSUE_TRUTH, sch[n], seed=i, name=n))
             for i, n in enumerate(("constant", "cosine"))]
    out, bare = tmp_path / "fit.json", tmp_path / "bare.json"
    res = invoke("fit", *files, "--law", "tissue", "--starts", "8", "--out", out)
    assert res.exit_code == 0, res.output
    assert "law error:" in res.stdout
    assert json.loads(out.read_text())["law_error"]["scale"] > 0
    res = invoke("fit", *files, "--law", "tissue", "--starts", "8", "--no-law-error", "--out", bare)
    assert res.exit_code == 0 and "law error:" not in res.stdout
    assert json.loads(bare.read_text())["law_error"] is None
    with_cv = invoke("predict", out, "--schedule", "wsd:decay=0.2")
    assert with_cv.exit_code == 0, with_cv.output
    assert "plus the law's cross-validated error" in with_cv.stdout and "law error:" in with_cv.stdout
    noise = invoke("predict", bare, "--schedule", "wsd:decay=0.2")
    assert "the interval is the noise's, not the law's own error" in noise.stdout


def test_evaluate_reports_how_many_held_out_finals_the_intervals_hold() -> None:
    from scalefit.fitting import evaluate

    sch = three_schedules()
    train = _pair("mpl", MPL_TRUTH)
    test = [sim_run("mpl", MPL_TRUTH, sch["wsd"], seed=7, name="wsd")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wide = evaluate(train, test, "tissue", n_starts=16, law_error=True)  # the wrong law, but it knows it
        narrow = evaluate(train, test, "tissue", n_starts=16)
    final = wide.test["wsd.csv"].final_true
    p, q = wide.predictions["wsd.csv"], narrow.predictions["wsd.csv"]
    assert wide.final_inside() == {"wsd.csv": bool(p.lower[-1] <= final <= p.upper[-1])}
    assert wide.final_inside() == {"wsd.csv": True} and narrow.final_inside() == {"wsd.csv": False}
    assert "inside the 90% interval (covariance + cross-validated law error): 1 of 1" in wide.report()
    assert "(covariance only): 0 of 1" in narrow.report() and "outside: wsd.csv: observed" in narrow.report()
