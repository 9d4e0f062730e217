"""FitResult: golden reports, JSON round trip, predictions with intervals and extrapolation marks, lmfit view.

Golden files live in ``tests/golden/``; regenerate them only on purpose with ``SCALEFIT_REGEN_GOLDEN=1`` and
review the diff.
"""

from __future__ import annotations

import doctest
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

import scalefit.results.report  # noqa: F401 (doctests)
import scalefit.results as results_mod
from scalefit import schedules
from scalefit.errors import ExtrapolationWarning, FitInputError, ResultFileError
from scalefit.fitting import fit
from scalefit.metrics import RunMetrics
from scalefit.results import FitContext, FitResult, FitStatus, ParamEstimate, pdg_round

from test_fitting import TISSUE_TRUTH, sim_runs

GOLDEN = Path(__file__).parent / "golden"


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("SCALEFIT_REGEN_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def hand_result(status: FitStatus = FitStatus.CONVERGED) -> FitResult:
    """A FitResult with fixed numbers (no fit), so the report does not depend on the machine."""
    at_lower = status is FitStatus.AT_BOUND
    params = {
        "L0": ParamEstimate(2.90712, 0.00158, 0.0, math.inf, linear=True),
        "A": ParamEstimate(0.59291, 0.00154, 0.0, math.inf, linear=True),
        "alpha": ParamEstimate(0.01 if at_lower else 0.75912, math.nan if at_lower else 0.00412, 0.01, 2.0,
                               at_bound=-1 if at_lower else 0),
        "C": ParamEstimate(0.46871, 0.00148, 0.0, math.inf, linear=True),
        "lam": ParamEstimate(0.999, 0.0, 0.9, 0.99999, fixed=True),
    }
    sd = np.array([0.00158, 0.00154, 0.0 if at_lower else 0.00412, 0.00148, 0.0])
    corr = np.eye(5)
    corr[0, 1] = corr[1, 0] = -0.5
    messages = ()
    if at_lower:
        messages = ("fit tissue: alpha at its lower bound 0.01 after 64 starts; its stderr is unreliable. "
                    "Try --bounds alpha=0.001:2.",)
    return FitResult(
        law="tissue",
        params=params,
        covariance=corr * np.outer(sd, sd),
        param_order=tuple(params),
        status=status,
        messages=messages,
        metrics={
            "runs/100M_cosine_24000.csv": RunMetrics(0.99908, 0.0019, 0.00521, 0.00056, 0.01182, 171, 2.9791, 2.9798),
            "runs/100M_constant_24000.csv": RunMetrics(0.9989, 0.00285, 0.00503, 0.00087, 0.0107, 171, 3.0354, 3.04),
        },
        objective="huber(delta=0.001) on log loss",
        objective_value=1.35237e-4,
        n_points=342,
        n_starts=64,
        n_evals=21,
        seed=0,
        data_hash="0" * 64,
        scalefit_version="0.1.0",
        fit_seconds=0.07,
        context=FitContext(max_step=23936, max_s1=6.857, lr_max=3e-4, lr_min=3e-5, warmup=2160,
                           total_steps=(23937, 23937)),
    )


def test_doctests() -> None:
    failures, tried = doctest.testmod(results_mod.report)
    assert tried > 0 and failures == 0


@pytest.mark.parametrize("value, error, expected", [
    (1.0, 0.354, ("1.00", "0.35")),  # leading digits 354: two significant digits
    (1.0, 0.3549, ("1.00", "0.35")),  # the three highest-order digits are 354 (not rounded to 355)
    (1.0, 0.3551, ("1.0", "0.4")),  # 355..949: one digit
    (1.0, 0.96, ("1.0", "1.0")),    # 950+ rounds up to two digits of the next decade
    (-3.14159, 0.0271, ("-3.142", "0.027")),
    (5630.0, 140.0, ("5630", "140")),
])
def test_pdg_rounding(value: float, error: float, expected: tuple[str, str]) -> None:
    assert pdg_round(value, error) == expected


def test_report_golden_converged() -> None:
    golden("report_tissue.txt", hand_result().report())


def test_report_golden_at_bound() -> None:
    res = hand_result(FitStatus.AT_BOUND)
    text = res.report()
    assert "AT BOUND: alpha" in text and "AT LOWER BOUND" in text
    golden("report_at_bound.txt", text)


def test_status_views() -> None:
    ok, bad = hand_result(), hand_result(FitStatus.AT_BOUND)
    assert ok.is_valid and ok.has_covariance and not ok.has_parameters_at_bound
    assert bad.has_parameters_at_bound and bad.status == "AT_BOUND"
    corr = ok.correlation
    assert corr is not None and corr[0, 1] == pytest.approx(-0.5) and corr[4, 4] == 0.0


def test_summary_is_plain_json() -> None:
    summary = hand_result().summary()
    text = json.dumps(summary, allow_nan=True)
    assert json.loads(text)["params"]["alpha"]["value"] == 0.75912
    assert summary["status"] == "CONVERGED" and summary["law"] == "tissue"


def test_json_round_trip_of_a_real_fit(tmp_path: Path) -> None:
    res = fit(sim_runs("tissue", TISSUE_TRUTH), "tissue", n_starts=8)
    path = res.to_json(tmp_path / "fit.json")
    data = json.loads(path.read_text())
    assert data["schema"] == "scalefit.fit/1" and data["law"] == "tissue" and "code" not in data
    back = FitResult.from_json(path)
    assert back.report() == res.report()
    assert back.values == res.values and back.status is res.status
    np.testing.assert_array_equal(back.covariance, res.covariance)
    assert back.metrics == res.metrics and back.context == res.context
    for a, b in zip(back.curves, res.curves):
        np.testing.assert_array_equal(a.fitted, b.fitted)
    lr = schedules.wsd(1e-3, 2000, warmup=100, decay=0.2)
    p1, p2 = res.predict(lr, warmup=100), back.predict(lr, warmup=100)
    np.testing.assert_array_equal(p1.loss, p2.loss)
    np.testing.assert_array_equal(p1.upper, p2.upper)


def test_from_json_refuses_other_files(tmp_path: Path) -> None:
    other = tmp_path / "hp.json"
    other.write_text(json.dumps({"schema": "scalefit.hparams/1"}))
    with pytest.raises(ResultFileError, match=r"hp\.json: schema is 'scalefit\.hparams/1', expected scalefit\.fit"):
        FitResult.from_json(other)
    newer = tmp_path / "new.json"
    newer.write_text(json.dumps({"schema": "scalefit.fit/2"}))
    with pytest.raises(ResultFileError, match="newer than this scalefit understands"):
        FitResult.from_json(newer)
    damaged = tmp_path / "damaged.json"
    damaged.write_text(json.dumps({"schema": "scalefit.fit/1", "law": "tissue"}))
    with pytest.raises(ResultFileError, match=r"damaged\.json: damaged fit result .*Re-run scalefit fit --out"):
        FitResult.from_json(damaged)


def test_predict_curve_interval_and_spec_defaults() -> None:
    res = fit(sim_runs("tissue", TISSUE_TRUTH), "tissue", n_starts=8)
    pred = res.predict("cosine:final=1e-4", interval=0.9)
    assert pred.steps.shape == pred.loss.shape == (res.context.total_steps[0],)
    assert np.all(pred.lower <= pred.loss) and np.all(pred.loss <= pred.upper)
    assert pred.method == "covariance+cv" and not pred.extrapolated and pred.label == "cosine:final=1e-4"
    wider = res.predict("cosine:final=1e-4", interval=0.99)
    assert np.all(wider.upper - wider.lower >= pred.upper - pred.lower)
    truth = res.get_law().predict(TISSUE_TRUTH, schedules.cosine(1e-3, 2000, warmup=100, final=1e-4), warmup=100)
    assert np.max(np.abs(pred.loss - truth) / truth) < 3e-3
    summary = pred.summary()
    assert summary["final_loss"] == pred.final_loss and summary["extrapolated"] is False


def test_predict_far_outside_the_fitted_range_warns_and_marks() -> None:
    res = fit(sim_runs("tissue", TISSUE_TRUTH), "tissue", n_starts=8)
    with pytest.warns(ExtrapolationWarning, match=r"10000 steps > 2x the fitted 1991"):
        pred = res.predict(schedules.constant(1e-3, 10_000, warmup=100), warmup=100, at=np.array([9999]))
    assert pred.extrapolated and "S1" in pred.reason
    with pytest.raises(FitInputError, match="interval must lie in"):
        res.predict("constant", interval=1.5)


def test_lmfit_params_carry_values_bounds_and_stderr() -> None:
    params = hand_result().lmfit_params()
    assert params["alpha"].value == 0.75912 and params["alpha"].min == 0.01 and params["alpha"].stderr == 0.00412
    assert params["lam"].vary is False
    assert params["L0"].correl["A"] == pytest.approx(-0.5)


def test_plot_returns_axes() -> None:
    res = fit(sim_runs("tissue", TISSUE_TRUTH), "tissue", n_starts=4)
    ax = res.plot()
    assert ax.get_ylabel() == "loss"
    assert len(ax.figure.axes) == 2  # loss and residual panels
    import matplotlib.pyplot as plt

    plt.close(ax.figure)


def test_html_repr() -> None:
    assert hand_result()._repr_html_().startswith("<pre>Fit of law tissue")
