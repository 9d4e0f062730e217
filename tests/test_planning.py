"""Compute planning: the allocation (loss law, isoFLOP frontier, fixed N or D) with its interval, hyperparameters
with intervals, schedule, the loss law's prediction interval, the curve law's whole curve and its agreement with
the loss law, extrapolation factors, and the frontier file that ``scalefit scaling --out`` writes."""

from __future__ import annotations

import json
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

from scalefit.errors import AssumptionWarning, ExtrapolationWarning, FitInputError, ResultFileError
from scalefit.laws import chinchilla as ch
from scalefit.planning import Frontier, plan
from scalefit.planning.allocation import factor, frontier_records
from scalefit.scaling.fit import fit_scaling
from scalefit.scaling.hparams import fit_hparams
from scalefit.scaling.isoflop import fit_isoflop
from scalefit.scaling.result import ScalingFit

TRUTH = {"E": 1.8, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.28}


@pytest.fixture(scope="module")
def scaling() -> ScalingFit:
    rng = np.random.default_rng(0)
    N, D = (a.ravel() for a in np.meshgrid(np.geomspace(1e7, 1e10, 6), np.geomspace(1e8, 1e12, 6)))
    L = ch.loss(TRUTH, N, D)
    return fit_scaling(N, D, L * np.exp(rng.normal(0, 0.002, N.size)), law="chinchilla", bootstrap=10, seed=0)


@pytest.fixture(scope="module")
def isoflop():
    """IsoFLOP profiles of the same law: 4 budgets x 7 sizes around each optimum."""
    rng = np.random.default_rng(1)
    a, b = TRUTH["alpha"], TRUTH["beta"]
    G = (a * TRUTH["A"] / (b * TRUTH["B"])) ** (1 / (a + b))
    rows = []
    for C in (1e18, 1e19, 1e20, 1e21):
        for N in G * (C / 6) ** (b / (a + b)) * np.geomspace(0.25, 4, 7):
            rows.append((N, C / (6 * N), float(ch.loss(TRUTH, N, C / (6 * N))) * np.exp(rng.normal(0, 0.001))))
    N, D, L = (np.array(c) for c in zip(*rows))
    return fit_isoflop(N, D, L, bootstrap=50, seed=0)


@pytest.fixture(scope="module")
def hparams():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent / "laws"))
    from test_hyperparams import sweep

    N, D, lr, b, loss = sweep()
    return fit_hparams(N, D, lr, b, loss, bootstrap=20, seed=0)


def quiet(**kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)
        return plan(**kw)


def test_compute_optimal_plan_under_the_loss_law(scaling, hparams) -> None:
    p = quiet(flops=1e20, scaling=scaling, hparams=hparams)
    opt = scaling.optimal(1e20)
    assert p.params == pytest.approx(opt["params"]) and p.tokens == pytest.approx(opt["tokens"])
    assert (p.allocation.params_lower, p.allocation.params_upper) == (opt["params_lower"], opt["params_upper"])
    hp = hparams.predict(N=p.params, D=p.tokens, warn=False)
    assert p.batch_size == pytest.approx(hp["batch_size"]) and p.peak_lr == pytest.approx(hp["lr"])
    assert p.peak_lr_interval == (hp["lr_lower"], hp["lr_upper"])
    assert p.batch_size_interval == (hp["batch_size_lower"], hp["batch_size_upper"])
    assert p.steps == int(np.ceil(p.tokens / p.batch_size))
    assert p.schedule.startswith("wsd:") and "decay=0.2" in p.schedule
    assert p.lr_schedule.shape == (p.steps,) and p.lr_schedule.max() == pytest.approx(p.peak_lr)
    # the final loss is the loss law's prediction of a new run (run noise included), not the band of the mean
    assert p.loss_source.startswith("loss law chinchilla")
    assert (p.final_loss, p.lower, p.upper) == scaling.prediction(p.params, p.tokens, 0.9)
    assert p.lower < p.final_loss < p.upper
    s = p.summary()
    assert set(s) >= {"params", "tokens", "steps", "batch_size", "peak_lr", "peak_lr_lower", "peak_lr_upper",
                      "batch_size_lower", "batch_size_upper", "schedule", "final_loss", "lower", "upper",
                      "allocation", "extrapolation", "extrapolated", "curve", "agreement"}
    json.dumps(s)  # plain types only
    text = p.report()
    assert "peak LR" in text and "90%" in text.split("peak LR", 1)[1].splitlines()[0]


def test_the_isoflop_frontier_sets_n_and_d_and_is_flagged_beyond_its_budgets(scaling, isoflop) -> None:
    p = quiet(flops=1e20, scaling=scaling, frontier=isoflop)
    o = isoflop.optimal(1e20)
    assert p.params == pytest.approx(o["params"]) and p.allocation.source.startswith("isoFLOP profiles")
    assert p.allocation.params_lower < p.params < p.allocation.params_upper
    assert p.factors["isoflop.flops"] == 1.0 and "isoflop.flops" not in p.extrapolated
    with pytest.warns(ExtrapolationWarning, match=r"isoflop\.flops 10x"):
        far = plan(1e22, scaling=scaling, frontier=isoflop)
    assert far.factors["isoflop.flops"] == pytest.approx(10.0)
    assert "C is 10x beyond its budgets" in far.notes[0]


def test_the_frontier_file_round_trips_with_its_intervals(tmp_path, isoflop) -> None:
    from scalefit.jsonio import write_json

    write_json(tmp_path / "iso.json", {"schema": "scalefit.isoflop/1", **isoflop.summary(),
                                       "frontiers": frontier_records(isoflop)})
    back = Frontier.from_json(tmp_path / "iso.json")
    assert back.optimal(3e19) == Frontier.from_fit(isoflop).optimal(3e19)
    assert back.flops_range == pytest.approx((1e18, 1e21)) and back.detail == "4 budgets"


def test_frontier_files_that_hold_none_are_one_clear_error(tmp_path, scaling) -> None:
    scaling.to_json(tmp_path / "sc.json")
    with pytest.raises(ResultFileError, match="not a compute-optimal frontier"):
        Frontier.from_json(tmp_path / "sc.json")
    (tmp_path / "all.json").write_text(json.dumps({"schema": "scalefit.all/1", "approaches": [
        {"name": "isoFLOP profiles (approach 2)", "error": "only 1 compute budget(s)"}]}))
    with pytest.raises(ResultFileError, match="no fitted frontier.*only 1 compute budget"):
        Frontier.from_json(tmp_path / "all.json")


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


def test_extrapolation_is_listed_with_its_factor(scaling, hparams) -> None:
    with pytest.warns(ExtrapolationWarning, match=r"scaling\.flops [0-9.e+]+x"):
        p = plan(1e25, scaling=scaling, hparams=hparams)
    assert "scaling.flops" in p.extrapolated and "hparams.params" in p.extrapolated
    lo, hi = scaling.range["flops"]
    assert p.factors["scaling.flops"] == pytest.approx(factor(1e25, lo, hi)) and p.factors["scaling.flops"] > 1
    assert p.factors["hparams.params"] == pytest.approx(factor(p.params, *hparams.range["params"]))
    assert f"scaling.flops {p.factors['scaling.flops']:.3g}x" in p.report().split("extrapolated ", 1)[1]
    assert factor(5.0, 1.0, 10.0) == 1.0 and factor(30.0, 1.0, 10.0) == 3.0 and factor(0.5, 1.0, 10.0) == 2.0


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
    """Duck-typed curve fit: a curve falling to ``final`` +- 0.01 for any schedule (records what it was asked).
    Its law is not a registered one (no schedule optimizer) unless ``law`` names one."""

    interval_method = "covariance"

    def __init__(self, final: float, law: str = "fake", sizes: tuple[float, ...] = (), extrapolated: bool = False):
        self.final, self.law, self.context, self.extrapolated = final, law, SimpleNamespace(n_params=sizes), \
            extrapolated

    def predict(self, lr, *, warmup, interval, n_params):
        self.seen = (lr.size, warmup, n_params)
        loss = self.final + 1.0 / np.sqrt(np.arange(1, lr.size + 1)) - 1.0 / np.sqrt(lr.size)  # (T,), ends at final
        return SimpleNamespace(steps=np.arange(lr.size), loss=loss, lower=loss - 0.01, upper=loss + 0.01,
                               extrapolated=self.extrapolated, reason="peak LR 0.02 > 1.5x the fitted 0.003",
                               method="covariance")


def test_the_curve_law_gives_the_whole_curve_and_agrees_with_the_loss_law(scaling, hparams) -> None:
    law = quiet(flops=1e20, scaling=scaling, hparams=hparams).final_loss
    curve = FakeCurve(law + 0.002)
    p = quiet(flops=1e20, scaling=scaling, hparams=hparams, curve=curve)
    assert curve.seen == (p.steps, max(1, round(0.01 * p.steps)), p.params)
    assert p.curve.loss.shape == (p.steps,) and p.curve.final[0] == pytest.approx(p.losses["curve law"]["loss"])
    assert p.agreement.agree and "agree" in p.agreement.message and p.loss_source.startswith("loss law")
    js = p.summary()["curve"]
    assert len(js["steps"]) == 101 and js["steps"][-1] == p.steps - 1 and js["loss"][-1] == p.curve.final[0]


def test_a_curve_law_of_another_size_that_disagrees_is_named_and_the_loss_law_trusted(scaling, hparams) -> None:
    """Today's bundled plan: MPL fitted on one 1e5-parameter model, asked about another size, 0.65 nats low."""
    law = quiet(flops=1e20, scaling=scaling, hparams=hparams).final_loss
    p = quiet(flops=1e20, scaling=scaling, hparams=hparams, curve=FakeCurve(law - 0.65, sizes=(1e6,)))
    a = p.agreement
    assert not a.agree and a.trust == "loss law" and a.gap == pytest.approx(-0.65, abs=0.01)
    assert "disagree" in a.message and "0.650 nats apart" in a.message and "trust the loss law" in a.message
    assert "fitted at N = 1e+06 only" in a.message
    assert p.final_loss == pytest.approx(law) and p.losses["curve law"]["loss"] == pytest.approx(law - 0.65, abs=0.01)
    assert len([line for line in p.report().splitlines() if "disagree" in line]) == 1


def test_a_size_aware_curve_law_is_not_doubted_for_the_size(scaling, hparams) -> None:
    law = quiet(flops=1e20, scaling=scaling, hparams=hparams).final_loss
    p = quiet(flops=1e20, scaling=scaling, hparams=hparams, curve=FakeCurve(law - 0.65, "tissue-n", sizes=(1e6,)))
    assert p.curve.doubts == () and p.curve.law == "tissue-n"


def test_the_curve_law_is_trusted_where_only_the_loss_law_extrapolates(scaling, hparams) -> None:
    far = quiet(flops=1e25, scaling=scaling, hparams=hparams)
    p = quiet(flops=1e25, scaling=scaling, hparams=hparams, curve=FakeCurve(far.final_loss - 0.5, "tissue-n"))
    assert p.agreement.trust == "curve law" and "outside the loss law's runs" in p.agreement.message
    assert p.loss_source.startswith("curve law") and p.final_loss == pytest.approx(p.losses["curve law"]["loss"])
    doubted = quiet(flops=1e25, scaling=scaling, hparams=hparams,
                    curve=FakeCurve(far.final_loss - 0.5, "tissue-n", extrapolated=True))
    assert doubted.agreement.trust == "loss law" and "curve.schedule" in doubted.extrapolated
    assert "extrapolates it (peak LR 0.02" in doubted.agreement.message


def test_without_a_loss_law_the_curve_law_gives_the_loss(hparams) -> None:
    p = quiet(flops=1e20, params=1e8, hparams=hparams, curve=FakeCurve(2.5, sizes=(1e6,)))
    assert p.loss_source.startswith("curve law fake") and p.final_loss == pytest.approx(2.5, abs=0.01)
    assert p.agreement is None and any("with doubts" in n for n in p.notes)


def test_an_unusable_batch_size_is_a_clear_error(scaling) -> None:
    """A garbage batch-size law (e.g. from too few cells) must not reach the optimizer as 1e100 steps."""

    class WildHparams:
        form = "steplaw"

        def predict(self, **_: object) -> dict:
            return {"lr": 1e-3, "batch_size": 1e-90, "extrapolated": [], "lr_lower": 1e-3, "lr_upper": 1e-3}

    with pytest.raises(FitInputError, match="batch-size law predicts 1e-90 tokens per step"):
        quiet(flops=1e20, scaling=scaling, hparams=WildHparams())


def test_cli_plan_takes_the_frontier_that_scaling_writes(tmp_path) -> None:
    """scalefit scaling --method isoflop --out -> scalefit plan --isoflop: N* with its interval, in text and JSON;
    a loss-law file passed as --isoflop is one line, exit 2."""
    from typer.testing import CliRunner

    from scalefit.cli import app

    runner = CliRunner()
    rng = np.random.default_rng(2)
    a, b = TRUTH["alpha"], TRUTH["beta"]
    G = (a * TRUTH["A"] / (b * TRUTH["B"])) ** (1 / (a + b))
    lines = ["params,tokens,final_loss"]
    for C in (1e18, 1e19, 1e20):
        for N in G * (C / 6) ** (b / (a + b)) * np.geomspace(0.25, 4, 7):
            L = float(ch.loss(TRUTH, N, C / (6 * N))) * np.exp(rng.normal(0, 0.001))
            lines.append(f"{N:.8g},{C / (6 * N):.8g},{L:.6f}")
    (tmp_path / "iso.csv").write_text("\n".join(lines) + "\n")
    r = runner.invoke(app, ["scaling", str(tmp_path / "iso.csv"), "--target", "final_loss", "--method", "isoflop",
                            "--bootstrap", "50", "--out", str(tmp_path / "iso.json")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["plan", "--flops", "3e19", "--isoflop", str(tmp_path / "iso.json"), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    al = d["allocation"]
    assert al["source"] == "isoFLOP profiles (approach 2), 3 budgets"
    assert al["params_lower"] < d["params"] < al["params_upper"] and d["final_loss"] is None
    text = runner.invoke(app, ["plan", "--flops", "3e19", "--isoflop", str(tmp_path / "iso.json")]).stdout
    assert "(isoFLOP profiles (approach 2), 3 budgets)" in text.splitlines()[1] and "90%" in text.splitlines()[1]
    r = runner.invoke(app, ["scaling", str(tmp_path / "iso.csv"), "--target", "final_loss", "--bootstrap", "0",
                            "--out", str(tmp_path / "sc.json")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["plan", "--flops", "3e19", "--isoflop", str(tmp_path / "sc.json")])
    assert r.exit_code == 2 and "not a compute-optimal frontier" in r.stderr and "Traceback" not in r.output
