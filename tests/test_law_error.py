"""The law's own error, cross-validated on the training runs: folds, skip rule, error model, intervals, JSON, CLI."""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm, t

from scalefit.fitting import driver
from scalefit.errors import AssumptionWarning, ConvergenceError, FitInputError, ResultFileError
from scalefit.fitting import evaluate, fit
from scalefit.fitting.crossval import cross_validate, head, holds_decay
from scalefit import law_error
from scalefit.law_error import FoldError, LawError, excess_scale
from scalefit.results import FitResult

from test_cli_fit import invoke, write_run
from test_fitting import MPL_TRUTH, TISSUE_TRUTH, sim_run, three_schedules


def _runs(law: str, truth: dict[str, float], names=("constant", "cosine")) -> list:
    sch = three_schedules()
    return [sim_run(law, truth, sch[name], seed=i, name=name) for i, name in enumerate(names)]


def _fit(runs, law: str = "tissue", **kw) -> FitResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(runs, law, n_starts=16, **kw)


@pytest.fixture(scope="module")
def exact() -> FitResult:
    """Tissue fitted to curves simulated from Tissue: the law is right, only the noise (1e-3) errs."""
    return _fit(_runs("tissue", TISSUE_TRUTH))


@pytest.fixture(scope="module")
def raw(exact) -> FitResult:
    """``exact`` with the law error's scale before its noise is taken out (about 0.02%; the taken-out one is 0
    there): a law part to add to the covariance band."""
    le = exact.law_error
    assert le.raw_scale > 0
    return dataclasses.replace(exact, law_error=dataclasses.replace(le, scale=le.raw_scale))


def _half(p) -> np.ndarray:
    """Half-width of the band in log loss (the bands are symmetric there: [L exp(-h), L exp(h)])."""
    return (np.log(p.upper) - np.log(p.lower)) / 2


def test_the_library_measures_it_by_default_like_the_cli(exact) -> None:
    assert exact.law_error is not None
    assert _fit(_runs("tissue", TISSUE_TRUTH), law_error=False).law_error is None


def test_folds_are_forward_chaining_and_leave_one_out_and_the_hopeless_target_is_skipped(exact) -> None:
    le = exact.law_error
    assert [f.fold for f in le.folds] == ["forward 50%"] * 2 + ["forward 70%"] * 2 + ["leave out constant.csv"]
    assert le.dof == 3  # errors of one fold share its fit: three fits, five errors
    # the constant run alone holds no LR decay: it cannot predict the cosine run's drop
    assert le.skipped == ("leave out cosine.csv: the fitted rows hold no LR decay, this run has one",)
    # horizon: each run's last step over the fold's last fitted step (rows every 10 steps from 100 to 1990: the
    # 50% head ends at the last row <= 100 + 0.5 * 1890)
    assert [f.horizon for f in le.folds[:2]] == pytest.approx([1990 / 1040] * 2, rel=1e-12)
    assert le.folds[-1].horizon == pytest.approx(1.0)
    note = [m for m in exact.messages if m.startswith("law error cross-validation")]
    assert note == [f"law error cross-validation: 5 errors from 3 folds (RMS {le.raw_scale:.2%}, their noise "
                    f"{le.noise_scale:.2%}); skipped " + le.skipped[0]]
    assert "law error: " in exact.report() and "(5 errors from 3 folds, t quantile; 1 skipped)" in exact.report()


def test_scale_is_the_excess_of_the_fold_errors_over_their_noise_by_hand() -> None:
    # g = 1 + ln r: 1 within the fitted steps, 1 + ln 2 at twice them
    g2 = 1 + math.log(2)
    le = LawError(scale=0.0, folds=(FoldError("forward 50%", "a", 0.005, 2.0, 0.003),
                                    FoldError("forward 50%", "b", -0.004, 1.0, 0.001),
                                    FoldError("leave out a", "a", 0.002, 0.5, 0.002)))
    want = ((0.005 ** 2 - 0.003 ** 2) / g2 ** 2 + (0.004 ** 2 - 0.001 ** 2) + 0.0) / 3
    assert excess_scale(le.folds) == pytest.approx(math.sqrt(want), rel=1e-12)
    assert le.raw_scale == pytest.approx(math.sqrt((0.005 ** 2 / g2 ** 2 + 0.004 ** 2 + 0.002 ** 2) / 3), rel=1e-12)
    assert le.noise_scale == pytest.approx(math.sqrt((0.003 ** 2 / g2 ** 2 + 0.001 ** 2 + 0.002 ** 2) / 3), rel=1e-12)
    # errors no larger than their noise: floored at 0
    assert excess_scale([FoldError("f", "a", 0.001, 1.0, 0.002), FoldError("f", "b", 0.0, 1.0, 0.0)]) == 0.0
    assert excess_scale([]) == 0.0


def test_the_fit_takes_the_rms_of_its_fold_errors_and_measures_their_noise(exact, monkeypatch) -> None:
    le = exact.law_error
    assert all(f.noise > 0 for f in le.folds)
    e = np.array([f.rel_error for f in le.folds])
    g = 1 + np.log([max(f.horizon, 1.0) for f in le.folds])
    assert le.scale == pytest.approx(math.sqrt(np.mean((e / g) ** 2)), rel=1e-12) == pytest.approx(le.raw_scale)
    assert law_error.law_scale(le.folds) == pytest.approx(le.scale, rel=1e-12)
    assert "their own noise of" in le.text() and "left in" in le.text()
    # with SUBTRACT_NOISE the scale is the excess over the noise (off by default: it under-covers real curves)
    monkeypatch.setattr(law_error, "SUBTRACT_NOISE", True)
    assert law_error.law_scale(le.folds) == pytest.approx(excess_scale(le.folds), rel=1e-12)
    assert excess_scale(le.folds) < le.raw_scale


def test_without_covariance_the_band_is_the_law_error_alone_growing_with_log_steps(raw) -> None:
    """Behaviour, from constants only: at the fitted last step the law sd is scale * |loss|, at twice the steps
    scale * (1 + ln 2) * |loss|, with the t quantile of the folds' degrees of freedom."""
    bare = dataclasses.replace(raw, covariance=None)
    lr = three_schedules()["constant"]
    long = np.concatenate([lr, np.full(lr.size, lr[-1])])
    last = raw.context.max_step
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p = bare.predict(long, at=np.array([last, 2 * last]), warmup=100)
    assert any(issubclass(w.category, AssumptionWarning) and "no parameter covariance" in str(w.message)
               for w in caught)
    assert p.method == "cv"
    q = t.ppf(0.95, raw.law_error.dof)
    s = raw.law_error.scale
    assert _half(p) == pytest.approx(q * s * np.array([1.0, 1 + math.log(2)]), rel=1e-9)
    assert np.sqrt(p.lower * p.upper) == pytest.approx(p.loss, rel=1e-12)  # symmetric in log loss


def test_with_covariance_the_parts_add_in_quadrature_with_welch_satterthwaite_dof(raw) -> None:
    lr = three_schedules()["wsd"]
    at = np.array([500, 1999])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cov = raw.predict(lr, at=at, interval=0.9, method="covariance")
        both = raw.predict(lr, at=at, interval=0.9)
        law_only = dataclasses.replace(raw, covariance=None).predict(lr, at=at, interval=0.9)
    assert both.method == "covariance+cv" and cov.method == "covariance"
    assert np.array_equal(both.loss, cov.loss)
    sc = _half(cov) / norm.ppf(0.95)
    sl = _half(law_only) / t.ppf(0.95, raw.law_error.dof)
    nu = raw.law_error.dof * (1 + sc ** 2 / sl ** 2) ** 2
    ws = t.ppf(0.95, nu) * np.sqrt(sc ** 2 + sl ** 2)
    # never narrower than either part alone (Welch-Satterthwaite's quantile falls as the known part grows)
    assert _half(both) == pytest.approx(np.maximum.reduce([ws, _half(law_only), _half(cov)]), rel=1e-9)
    assert np.all(_half(both) >= _half(cov)) and np.all(_half(both) >= _half(law_only))
    # with the noise part as large as the law part, the sum is wider than the law part alone
    assert raw.law_error.quantile(0.9, 1.0, 1.0) * math.sqrt(2) > raw.law_error.quantile(0.9)


def test_the_law_error_is_small_when_the_law_is_right_and_large_when_it_is_wrong(exact) -> None:
    wrong = _fit(_runs("mpl", MPL_TRUTH), "tissue")  # MPL's saturating drop, fitted with Tissue's linear one
    # the law is exact: the fold errors are noise (1e-3 per row), which their noise model explains
    assert excess_scale(exact.law_error.folds) < 0.5 * exact.law_error.raw_scale + 1e-12
    assert exact.law_error.raw_scale < 2e-3
    assert excess_scale(wrong.law_error.folds) > 0.9 * wrong.law_error.raw_scale > 0.02  # percents are not noise
    assert wrong.law_error.scale == pytest.approx(wrong.law_error.raw_scale, rel=1e-12)
    excess = dataclasses.replace(wrong.law_error, scale=excess_scale(wrong.law_error.folds))
    assert "less their noise" in excess.text()


def test_end_noise_adds_the_fold_band_and_the_ar1_variance_of_the_tail_mean_by_hand() -> None:
    from scalefit.fitting.crossval import ResidualModel, end_noise
    from scalefit.results import Prediction

    z = norm.ppf(0.95)
    loss = np.array([2.0, 2.0, 2.0])
    rel = np.array([0.001, 0.002, 0.003])  # the fold's band: relative sd 0.001..0.003, mean 0.002
    pred = Prediction(steps=np.array([10, 11, 12]), loss=loss, lower=loss * np.exp(-z * rel),
                      upper=loss * np.exp(z * rel), interval=0.9, method="covariance")
    pos = np.array([7, 8, 9])
    # AR(1) rho 0.5 on rows 7, 8, 9: mean of rho^|i - j| over the 3 x 3 pairs = (3 + 4 * 0.5 + 2 * 0.25) / 9
    got = end_noise(pred, pos, 10, ResidualModel(variance=4e-6, rho=0.5, max_points=None))
    assert got == pytest.approx(math.sqrt(0.002 ** 2 + 4e-6 * 5.5 / 9), rel=1e-9)
    # independent rows: variance / n; a fit that thinned the run to every 2nd row counts lags in its rows
    assert end_noise(pred, pos, 10, ResidualModel(4e-6, 0.0, None)) == pytest.approx(
        math.sqrt(0.002 ** 2 + 4e-6 / 3), rel=1e-9)
    thinned = (3 + 4 * 0.5 ** 0.5 + 2 * 0.5) / 9
    assert end_noise(pred, pos, 10, ResidualModel(4e-6, 0.5, 5)) == pytest.approx(
        math.sqrt(0.002 ** 2 + 4e-6 * thinned), rel=1e-9)
    nan_band = dataclasses.replace(pred, upper=np.full(3, np.nan), lower=np.full(3, np.nan))
    assert end_noise(nan_band, pos, 10, ResidualModel(4e-6, 0.0, None)) == pytest.approx(math.sqrt(4e-6 / 3))


def test_residual_model_is_the_fits_residual_variance_with_its_ar1_correction(exact) -> None:
    from scalefit.fitting.crossval import residual_model

    model = residual_model(exact)
    r = np.concatenate([np.log(c.loss) - np.log(c.fitted) for c in exact.curves])
    rho = exact.residual_rho
    n_free = sum(not p.fixed for p in exact.params.values())
    want = np.sum(r * r) / (r.size - n_free) * exact.variance_factor * (1 - rho) / (1 + rho)
    assert model.variance == pytest.approx(want, rel=1e-12) and model.rho == rho
    assert model.max_points == exact.options.max_points
    assert 0.5e-6 < model.variance < 2e-6  # the simulated noise: sd 1e-3 per row
    assert residual_model(dataclasses.replace(exact, curves=())) is None


def test_constant_plus_wsd_keeps_the_folds_that_can_score_the_constant_run() -> None:
    res = _fit(_runs("tissue", TISSUE_TRUTH, names=("constant", "wsd")))  # the WSD heads hold no decay
    le = res.law_error
    assert [(f.fold, f.path) for f in le.folds] == [("forward 50%", "constant.csv"), ("forward 70%", "constant.csv"),
                                                   ("leave out constant.csv", "constant.csv")]
    assert [s.split(":")[0] for s in le.skipped] == ["forward 50% -> wsd.csv", "forward 70% -> wsd.csv",
                                                      "leave out wsd.csv"]


def test_runs_without_any_decay_are_scored_on_each_other() -> None:
    sch = three_schedules()
    runs = [sim_run("tissue", TISSUE_TRUTH, sch["constant"], seed=i, name=f"c{i}") for i in range(2)]
    le = _fit(runs, fixed={"C": 0.4}).law_error
    assert le.dof == 4 and len(le.folds) == 6 and le.skipped == ()


def test_a_fold_that_fails_or_predicts_no_finite_end_is_named_not_dropped() -> None:
    runs = _runs("tissue", TISSUE_TRUTH)

    class InfOnCosine:
        def __init__(self, res: FitResult) -> None:
            self.res, self.context = res, res.context

        def predict(self, run, **kw):
            p = self.res.predict(run, **kw)
            return dataclasses.replace(p, loss=np.full_like(p.loss, np.inf)) if run.path == "cosine.csv" else p

    le, note = cross_validate(runs, lambda rs: InfOnCosine(_fit(rs, law_error=False)))
    assert [f.path for f in le.folds] == ["constant.csv"] * 3
    assert "forward 50% -> cosine.csv: the prediction of its end is not finite" in le.skipped

    def diverges(rs):
        raise ConvergenceError("law tissue: the polish ended at a non-finite objective.", best=None)

    le, note = cross_validate(runs, diverges)
    assert le is None and "forward 50%: law tissue: the polish ended at a non-finite objective." in note.message
    assert note.kind == "law_error" and note.warning is AssumptionWarning and note.data["measured"] is False


def test_too_few_fold_errors_attach_none_and_say_why() -> None:
    few = sim_run("tissue", TISSUE_TRUTH, three_schedules()["constant"], every=380, name="few")  # 5 rows
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = fit([few], "tissue", n_starts=8)
    assert res.law_error is None
    said = [str(w.message) for w in caught if issubclass(w.category, AssumptionWarning)]
    assert any(s.startswith("law error not measured: 0 fold error(s)") and "cannot determine" in s for s in said)
    assert res.predict(three_schedules()["constant"]).method == "covariance"


def test_every_fit_option_reaches_the_fold_fits(monkeypatch) -> None:
    calls = []
    real = driver.fit

    def spy(runs, law="mpl", **kw):
        calls.append(kw)
        return real(runs, law, **kw)

    monkeypatch.setattr(driver, "fit", spy)
    opts = dict(seed=3, n_starts=8, n_local=2, max_nfev=500, loss="mse", delta=2e-3, fixed={"lam": 0.99},
                bounds={"alpha": (0.1, 1.5)}, prior={}, errors="iid", max_points=400)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spy(_runs("tissue", TISSUE_TRUTH), "tissue", **opts)
    assert len(calls) == 1 + 3  # the call (the main fit), three fold fits
    for kw in calls[1:]:
        assert kw["law_error"] is False and {k: kw[k] for k in opts} == opts


def test_method_must_be_known_and_cv_needs_a_measured_law_error(exact) -> None:
    lr = three_schedules()["wsd"]
    plain = _fit(_runs("tissue", TISSUE_TRUTH), law_error=False)
    assert plain.predict(lr).method == "covariance"
    with pytest.raises(FitInputError, match="no measured law error"):
        plain.predict(lr, method="covariance+cv")
    with pytest.raises(FitInputError, match="unknown interval method"):
        exact.predict(lr, method="bootstrap")


def test_json_round_trip_keeps_it_and_the_whole_file_is_deterministic(exact, tmp_path: Path) -> None:
    back = FitResult.from_json(exact.to_json(tmp_path / "a.json"))
    assert back.law_error == exact.law_error
    lr = three_schedules()["cosine"]
    a, b = exact.predict(lr, at=np.array([1999])), back.predict(lr, at=np.array([1999]))
    assert (a.lower[0], a.upper[0]) == (b.lower[0], b.upper[0])
    again = json.loads(_fit(_runs("tissue", TISSUE_TRUTH)).to_json(tmp_path / "b.json").read_text())
    first = json.loads((tmp_path / "a.json").read_text())
    for d in (first, again):
        d.pop("fit_seconds")
        d["law_error"].pop("seconds")
    assert first == again


def test_old_files_read_back_without_it_and_a_damaged_one_is_refused(exact, tmp_path: Path) -> None:
    path = exact.to_json(tmp_path / "fit.json")
    data = json.loads(path.read_text())

    def written_before_law_error(d: dict) -> None:  # those versions wrote no notes, options or prior either
        for key in ("law_error", "notes", "options", "prior"):
            d.pop(key)

    old = json.loads(json.dumps(data))
    for f in old["law_error"]["folds"]:
        f.pop("noise")  # written before the noise was measured: its scale is the raw one, read as stored
    old["law_error"]["scale"] = 0.0123
    path.write_text(json.dumps(old))
    back = FitResult.from_json(path).law_error
    assert back.scale == 0.0123 and all(f.noise == 0.0 for f in back.folds)
    for damage, words in ((written_before_law_error, None),
                          (lambda d: d["law_error"].update(folds=[]), "at least 2"),
                          (lambda d: d["law_error"].update(scale=-1.0),
                           r"'law_error\.scale'\): -1\.0; it must be >= 0"),
                          (lambda d: d["law_error"].update(model="relative sd = scale"), "not this scalefit's")):
        broken = json.loads(json.dumps(data))
        damage(broken)
        path.write_text(json.dumps(broken))
        if words is None:
            assert FitResult.from_json(path).law_error is None
        else:
            with pytest.raises(ResultFileError, match=words):
                FitResult.from_json(path)


def test_head_keeps_the_whole_schedule_and_a_decay_needs_rows_in_it() -> None:
    run = sim_run("tissue", TISSUE_TRUTH, three_schedules()["wsd"], name="wsd")  # decay in the last 20 %
    h = head(run, 0.5)
    first, last = run.steps[run.after_warmup].min(), run.steps[run.after_warmup].max()
    assert h.lr is run.lr and h.steps.max() <= first + 0.5 * (last - first) < h.steps.max() + 10
    assert not holds_decay(h) and holds_decay(run)
    # a constant-LR log whose last step falls to 0 (as the Schaipp et al. files do) holds no decay
    lr = three_schedules()["constant"].copy()
    lr[-10:] = np.linspace(lr[-11], 0.0, 10)  # one row (step 1990) sits in it
    assert not holds_decay(sim_run("tissue", TISSUE_TRUTH, lr, name="const"))


def test_head_of_a_segment_that_starts_mid_run_keeps_its_first_rows() -> None:
    run = sim_run("tissue", TISSUE_TRUTH, three_schedules()["cosine"], name="seg")
    late = dataclasses.replace(run, steps=run.steps[150:], loss=run.loss[150:], line=run.line[150:])
    h = head(late, 0.5)  # rows from step 1600 on only
    assert h.steps.size > 0 and h.steps.min() == late.steps.min() and h.steps.size < late.steps.size


def test_evaluate_reports_how_many_held_out_finals_the_intervals_hold() -> None:
    test = [sim_run("mpl", MPL_TRUTH, three_schedules()["wsd"], seed=7, name="wsd")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wide = evaluate(_runs("mpl", MPL_TRUTH), test, "tissue", n_starts=16)  # the wrong law, but it knows it
        narrow = evaluate(_runs("mpl", MPL_TRUTH), test, "tissue", n_starts=16, law_error=False)
    assert wide.final_inside() == {"wsd.csv": True} and narrow.final_inside() == {"wsd.csv": False}
    assert "inside the 90% interval (parameter covariance + cross-validated law error): 1 of 1" in wide.report()
    assert "(parameter covariance): 0 of 1" in narrow.report() and "outside: wsd.csv: observed" in narrow.report()


def test_cli_fit_measures_it_and_predict_says_which_interval_it_prints(tmp_path: Path) -> None:
    sch = three_schedules()
    files = [write_run(tmp_path / f"{n}.csv", sim_run("tissue", TISSUE_TRUTH, sch[n], seed=i, name=n))
             for i, n in enumerate(("constant", "cosine"))]
    out, bare = tmp_path / "fit.json", tmp_path / "bare.json"
    res = invoke("fit", *files, "--law", "tissue", "--starts", "8", "--out", out)
    assert res.exit_code == 0, res.output
    assert "law error:" in res.stdout
    written = json.loads(out.read_text())["law_error"]
    assert written["scale"] >= 0 and written["folds"] and all(f["noise"] > 0 for f in written["folds"])
    res = invoke("fit", *files, "--law", "tissue", "--starts", "8", "--no-law-error", "--out", bare)
    assert res.exit_code == 0 and "law error:" not in res.stdout
    assert json.loads(bare.read_text())["law_error"] is None
    with_cv = invoke("predict", out, "--schedule", "wsd:decay=0.2")
    assert with_cv.exit_code == 0, with_cv.output
    assert "(interval 90%: parameter covariance + cross-validated law error)" in with_cv.stdout
    assert "law error:" in with_cv.stdout
    noise = invoke("predict", bare, "--schedule", "wsd:decay=0.2")
    assert "the interval is the noise's, not the law's own error" in noise.stdout
    for path, method in ((out, "covariance+cv"), (bare, "covariance")):
        got = json.loads(invoke("predict", path, "--schedule", "cosine", "--json").stdout)["predictions"][0]
        assert got["method"] == method and got["interval"] == 0.9
    opt = invoke("optimize", out, "--steps", "2000", "--peak", "1e-3", "--warmup", "100")
    assert opt.exit_code == 0, opt.output
    assert "(90% interval: parameter covariance + cross-validated law error)" in opt.stdout
    assert "per-step optimum vs best family" in opt.stdout and "closed loop" in opt.stdout  # what training showed


def test_runs_of_one_file_get_their_own_folds_and_labels() -> None:
    sch = three_schedules()
    runs = [dataclasses.replace(sim_run("tissue", TISSUE_TRUTH, sch[n], seed=i, name=n), path="chart.csv")
            for i, n in enumerate(("constant", "cosine", "wsd"))]  # e.g. one W&B chart export
    le = _fit(runs).law_error
    assert le.dof == 2 + 3  # two forward folds, three leave-one-out folds
    assert {f.path for f in le.folds} == {"chart.csv", "chart.csv#2", "chart.csv#3"}
    assert "leave out chart.csv#3" in {f.fold for f in le.folds}


def test_a_run_with_one_row_after_warmup_is_fitted_but_not_scored_by_forward_folds() -> None:
    sch = three_schedules()
    one = sim_run("tissue", TISSUE_TRUTH, sch["wsd"], name="one")
    one = dataclasses.replace(one, steps=one.steps[-1:], loss=one.loss[-1:], line=one.line[-1:])
    runs = _runs("tissue", TISSUE_TRUTH) + [one]
    le = _fit(runs).law_error
    assert not any(f.path == "one.csv" and f.fold.startswith("forward") for f in le.folds)


def test_welch_satterthwaite_wins_when_the_noise_part_dominates(raw) -> None:
    le = raw.law_error
    assert le.quantile(0.9, 1.0, 1.0) == pytest.approx(t.ppf(0.95, 4 * le.dof))
    assert le.quantile(0.9, 0.0, 0.0) == pytest.approx(norm.ppf(0.95))  # no law part: the normal quantile
    noisy = dataclasses.replace(raw, covariance=raw.covariance * 400.0)  # the covariance sd x20
    lr, at = three_schedules()["wsd"], np.array([1999])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cov, both = noisy.predict(lr, at=at, method="covariance"), noisy.predict(lr, at=at)
        law = dataclasses.replace(raw, covariance=None).predict(lr, at=at)
    sc, sl = _half(cov) / norm.ppf(0.95), _half(law) / t.ppf(0.95, le.dof)
    ws = t.ppf(0.95, le.dof * (1 + sc ** 2 / sl ** 2) ** 2) * np.sqrt(sc ** 2 + sl ** 2)
    assert np.all(ws > _half(cov)) and np.all(ws > _half(law))
    assert _half(both) == pytest.approx(ws, rel=1e-9)


def test_a_zero_law_error_leaves_the_covariance_band(exact) -> None:
    zero = dataclasses.replace(exact, law_error=dataclasses.replace(exact.law_error, scale=0.0))
    lr = three_schedules()["wsd"]
    a, b = zero.predict(lr, method="covariance"), zero.predict(lr)
    assert b.method == "covariance+cv" and np.allclose(b.upper, a.upper, rtol=0, atol=1e-12)


def test_the_end_error_of_a_dense_run_is_read_on_at_most_500_rows() -> None:
    from scalefit.fitting.crossval import TAIL_ROWS, end_error

    lr = three_schedules()["cosine"]
    run = sim_run("tissue", TISSUE_TRUTH, np.concatenate([lr] * 10), every=1, name="dense", warmup=100)
    seen = []

    class Spy:
        def predict(self, r, at, **kw):
            seen.append(len(at))
            return dataclasses.replace(_fit([run], law_error=False).predict(r, at=at, **kw))

    end_error(Spy(), run)
    assert seen == [TAIL_ROWS] and int(np.ceil(0.05 * run.after_warmup.sum())) > TAIL_ROWS


@pytest.mark.parametrize("damage, words", [
    (lambda d: d["law_error"]["folds"][0].update(rel_error=float("nan")),
     r"key 'law_error\.folds\[0\]\.rel_error'\): the file holds NaN"),
    (lambda d: d["law_error"]["folds"][0].update(horizon=0.0),
     r"key 'law_error\.folds\[0\]\.horizon'\): 0\.0; it must be > 0"),
    (lambda d: d["law_error"]["folds"][0].update(noise=-1.0),
     r"key 'law_error\.folds\[0\]\.noise'\): -1\.0; it must be >= 0"),
    (lambda d: d["law_error"].update(skipped="abc"), r"key 'law_error\.skipped'\): 'abc' where a list is expected"),
    (lambda d: d["law_error"].pop("folds"), r"key 'law_error\.folds'\): the key is missing"),
    (lambda d: d.pop("law_error"), r"key 'law_error'\): the key is missing, though the file has 'notes'"),
])
def test_more_damage_to_the_law_error_is_refused(exact, tmp_path: Path, damage, words) -> None:
    path = exact.to_json(tmp_path / "fit.json")
    data = json.loads(path.read_text())
    damage(data)
    path.write_text(json.dumps(data))
    with pytest.raises(ResultFileError, match=words):
        FitResult.from_json(path)


def test_the_main_fits_warnings_point_at_the_callers_line() -> None:
    runs = _runs("tissue", TISSUE_TRUTH)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(runs, "tissue", n_starts=8, bounds={"alpha": (0.6, 2.0)})  # truth 0.5: alpha ends on its bound
    at_bound = [w for w in caught if "alpha" in str(w.message) and "bound" in str(w.message)]
    assert at_bound and all(w.filename == __file__ for w in at_bound[:1])


def test_cv_only_intervals_say_so_in_evaluate_and_the_cli(exact, tmp_path: Path) -> None:
    bare = dataclasses.replace(exact, covariance=None)
    assert bare.interval_method == "cv"
    path = bare.to_json(tmp_path / "nocov.json")
    res = invoke("predict", path, "--schedule", "wsd:decay=0.2")
    assert res.exit_code == 0, res.output
    assert "(interval 90%: cross-validated law error only (no parameter covariance))" in res.stdout
    got = json.loads(invoke("predict", path, "--schedule", "wsd:decay=0.2", "--json").stdout)["predictions"][0]
    assert got["method"] == "cv"
    opt = invoke("optimize", path, "--steps", "2000", "--peak", "1e-3", "--warmup", "100")
    assert "(90% interval: cross-validated law error only (no parameter covariance))" in opt.stdout
