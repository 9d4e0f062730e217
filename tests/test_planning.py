"""Compute planning: allocation from the scaling law, fixed N or D, hyperparameters, schedule, loss source."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from scalefit.errors import AssumptionWarning, ExtrapolationWarning, FitInputError
from scalefit.laws import chinchilla as ch
from scalefit.scaling.fit import fit_scaling
from scalefit.scaling.hparams import fit_hparams
from scalefit.scaling.result import ScalingFit
from scalefit.planning import plan


@pytest.fixture(scope="module")
def scaling() -> ScalingFit:
    rng = np.random.default_rng(0)
    N, D = (a.ravel() for a in np.meshgrid(np.geomspace(1e7, 1e10, 6), np.geomspace(1e8, 1e12, 6)))
    L = ch.loss({"E": 1.8, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.28}, N, D)
    return fit_scaling(N, D, L * np.exp(rng.normal(0, 0.002, N.size)), law="chinchilla", bootstrap=10, seed=0)


@pytest.fixture(scope="module")
def hparams():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent / "laws"))
    from test_hyperparams import sweep

    N, D, lr, b, loss = sweep()
    return fit_hparams(N, D, lr, b, loss, bootstrap=20, seed=0)


def test_compute_optimal_plan(scaling, hparams) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)
        p = plan(1e20, scaling=scaling, hparams=hparams)
    opt = scaling.optimal(1e20)
    assert p.params == pytest.approx(opt["params"]) and p.tokens == pytest.approx(opt["tokens"])
    assert p.batch_size == pytest.approx(hparams.predict(N=p.params, D=p.tokens, warn=False)["batch_size"])
    assert p.steps == int(np.ceil(p.tokens / p.batch_size))
    assert p.schedule.startswith("wsd:") and "decay=0.2" in p.schedule
    assert p.lr_schedule.shape == (p.steps,) and p.lr_schedule.max() == pytest.approx(p.peak_lr)
    assert p.loss_source.startswith("scaling law") and p.lower <= p.final_loss <= p.upper
    s = p.summary()
    assert set(s) >= {"params", "tokens", "steps", "batch_size", "peak_lr", "schedule", "final_loss", "lower",
                      "upper", "extrapolated"}


def test_fixed_params_derives_tokens(scaling) -> None:
    p = plan(1e20, scaling=scaling, params=1e9)
    assert p.tokens == pytest.approx(1e20 / 6e9)
    assert p.peak_lr is None and p.steps is None and p.schedule is None
    assert p.final_loss == pytest.approx(float(scaling.predict(1e9, 1e20 / 6e9)))


def test_fixed_tokens_derives_params(scaling) -> None:
    p = plan(1e20, scaling=scaling, tokens=1e10)
    assert p.params == pytest.approx(1e20 / 6e10)


def test_both_fixed_predicts_and_warns_on_budget_mismatch(scaling) -> None:
    with pytest.warns(AssumptionWarning, match="differs from --flops"):
        p = plan(1e20, scaling=scaling, params=1e9, tokens=1e10)
    assert p.flops == pytest.approx(6e19)
    p = plan(None, scaling=scaling, params=1e9, tokens=1e10)
    assert p.final_loss == pytest.approx(float(scaling.predict(1e9, 1e10)))


def test_extrapolation_listed(scaling, hparams) -> None:
    with pytest.warns(ExtrapolationWarning):
        p = plan(1e25, scaling=scaling, hparams=hparams)
    assert "scaling.flops" in p.extrapolated and "hparams.params" in p.extrapolated


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"flops": 1e20}, "pass --scaling"),
        ({}, "no budget"),
        ({"flops": -1.0}, "--flops is -1.0"),
    ],
)
def test_refusals(kwargs, pattern) -> None:
    with pytest.raises(FitInputError, match=pattern):
        plan(**kwargs)


class FakeCurve:
    """Duck-typed curve fit: final loss 2.5 +- 0.01 for any schedule (records what it was asked)."""

    def predict(self, lr, *, warmup, interval, n_params):
        from types import SimpleNamespace

        self.seen = (lr.size, warmup, n_params)
        return SimpleNamespace(loss=np.array([2.5]), lower=np.array([2.49]), upper=np.array([2.51]),
                               extrapolated=False)


def test_curve_law_gives_the_loss_when_given(scaling, hparams) -> None:
    curve = FakeCurve()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)
        p = plan(1e20, scaling=scaling, hparams=hparams, curve=curve)
    assert p.loss_source.startswith("curve law") and p.final_loss == 2.5 and p.lower == 2.49
    assert "scaling law" in p.losses and curve.seen == (p.steps, max(1, round(0.01 * p.steps)), p.params)


def test_curve_law_of_another_model_size_is_only_a_reference(scaling, hparams) -> None:
    """A curve law fitted on a 1e6-parameter model does not give the loss of a planned 1e9+ model."""
    from types import SimpleNamespace

    curve = FakeCurve()
    curve.context = SimpleNamespace(n_params=(1e6,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)
        p = plan(1e20, scaling=scaling, hparams=hparams, curve=curve)
    assert p.loss_source.startswith("scaling law") and p.final_loss != 2.5
    assert p.losses["curve law"]["loss"] == 2.5
    assert any("shown for reference" in n and "fitted at N = 1e+06" in n for n in p.notes)


def test_an_unusable_batch_size_is_a_clear_error(scaling) -> None:
    """A garbage batch-size law (e.g. from too few cells) must not reach the optimizer as 1e100 steps."""

    class WildHparams:
        form = "steplaw"

        def predict(self, **_: object) -> dict:
            return {"lr": 1e-3, "batch_size": 1e-90, "extrapolated": [], "lr_lower": 1e-3, "lr_upper": 1e-3}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)
        with pytest.raises(FitInputError, match="batch-size law predicts 1e-90 tokens per step"):
            plan(1e20, scaling=scaling, hparams=WildHparams())
