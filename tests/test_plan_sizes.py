"""Planning with a size-aware curve fit (issue 16): mpl-n fitted on the bundled xs and tiny runs plans the larger
s1 model (4.43e5 parameters, 4.5x the larger fitted size) at its own size, marked as extrapolated."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

import scalefit
from scalefit.planning import plan
from scalefit.planning.curve import predict_curve

CURVES = Path(__file__).resolve().parents[1] / "data" / "runs" / "curves"
FLAG = "model size 4.43e+05 is 4.5x the largest fitted (9.86e+04)"


class FixedHparams:
    """The s1 runs' own LR and batch (1024 tokens per step): the plan's curve part is under test, not the hparams."""

    form = "fixed"

    def predict(self, **_: object) -> dict:
        return {"lr": 3e-3, "batch_size": 1024.0, "extrapolated": [], "lr_lower": 3e-3, "lr_upper": 3e-3}


@pytest.fixture(scope="module")
def two_sizes():
    runs = scalefit.read_runs([str(CURVES / f"{m}_{k}_lr0.003_bs16.csv") for m in ("xs", "tiny")
                               for k in ("constant", "cosine")], target="val_loss")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return scalefit.fit(runs, n_starts=8, law_error=False)  # law None: the two sizes choose mpl-n


@pytest.fixture(scope="module")
def s1():
    return scalefit.read_runs([str(CURVES / "s1_cosine_lr0.003_bs16.csv")], target="val_loss")[0]


def test_the_curve_of_a_bigger_model_is_predicted_at_its_size_and_marked(two_sizes, s1) -> None:
    assert two_sizes.law == "mpl-n"
    N = float(s1.meta["params"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pc = predict_curve(two_sizes, s1.lr, int(s1.warmup), N, 0.9)
        tiny = predict_curve(two_sizes, s1.lr, int(s1.warmup), 9.86e4, 0.9)
    loss, lo, hi = pc.final
    observed = float(s1.loss[s1.observed][-1])
    assert pc.extrapolated and pc.doubts == (f"the planned run extrapolates it ({FLAG})",)
    assert lo <= observed <= hi  # measured: 4.1589 [4.0201, 4.3025] against 4.2458 observed (-2.0 %)
    assert abs(loss - observed) / observed < 0.05
    assert loss < tiny.final[0] - 0.05 and not tiny.extrapolated  # the size terms act; the fitted size is no doubt
    assert hi - lo > 2 * (tiny.final[2] - tiny.final[1])  # the size error widens the interval beyond the fitted sizes


def test_plan_optimises_and_predicts_at_the_planned_size(two_sizes, s1) -> None:
    N = float(s1.meta["params"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = plan(params=N, tokens=3000 * 1024, hparams=FixedHparams(), curve=two_sizes)
    assert p.steps == 3000 and p.schedule.startswith("optimized")
    assert f"across model sizes at N = {N:.3g} for 3000 steps" in p.schedule_source
    assert p.curve.law == "mpl-n" and p.curve.extrapolated and FLAG in p.curve.doubts[0]
    assert p.loss_source.startswith("curve law mpl-n") and np.isfinite(p.final_loss) and p.final_loss > 0
    report = p.report()
    assert "at N = 4.43e+05" in report and FLAG in report
    # the size step is a quantity of the plan's extrapolation like any other: factor, list, JSON
    assert p.factors["curve.params"] == pytest.approx(N / 9.8624e4, rel=1e-3) and "curve.params" in p.extrapolated
    assert p.summary()["extrapolation"]["curve.params"] == pytest.approx(4.49, abs=0.01)
    assert p.summary()["curve"]["size_factor"] == pytest.approx(4.49, abs=0.01)


def test_a_size_blind_curve_of_one_size_is_doubted_not_refused_at_another(s1) -> None:
    """predict() refuses another size for a fit of one size; the plan uses that curve at its own size, doubted."""
    runs = scalefit.read_runs([str(CURVES / f"tiny_{k}_lr0.003_bs16.csv") for k in ("constant", "cosine")],
                              target="val_loss")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tiny = scalefit.fit(runs, "mpl", n_starts=8, law_error=False)
        p = plan(params=float(s1.meta["params"]), tokens=3000 * 1024, hparams=FixedHparams(), curve=tiny)
    assert p.curve.law == "mpl" and any("fitted at N = 9.86e+04 only" in d for d in p.curve.doubts)
    assert "curve.params" in p.extrapolated and p.factors["curve.params"] == pytest.approx(4.49, abs=0.01)
    assert "across model sizes" not in p.schedule_source and np.isfinite(p.curve.final[0])


def test_a_plan_inside_the_fitted_sizes_has_no_size_factor(two_sizes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = plan(params=9.8624e4, tokens=3000 * 1024, hparams=FixedHparams(), curve=two_sizes)
    assert p.curve.size_factor == pytest.approx(1.0) and "curve.params" not in p.factors
