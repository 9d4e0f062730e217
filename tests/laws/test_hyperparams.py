"""Hyperparameter laws: recover a known lr*(N, D) and B*(D) from a simulated sweep; forms, refusals, JSON."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scalefit.errors import ExtrapolationWarning, FitInputError, ResultFileError
from scalefit.scaling.hparam_result import HparamFit
from scalefit.scaling.hparams import fit_hparams

LR = (50.0, -0.75, 0.2)  # lr* = 50 N^-0.75 D^0.2
BS = (0.3, 0.6)  # B* = 0.3 D^0.6 (tokens)


def sweep(seed: int = 0, noise: float = 2e-4, cells=None):
    """A grid over (lr, B) in each (N, D) cell; loss is a bowl in (log lr, log B) around the true optimum."""
    rng = np.random.default_rng(seed)
    cells = cells or [(n, d) for n in (1e8, 3e8, 1e9) for d in (2e9, 1e10, 5e10)]
    rows = []
    for n, d in cells:
        lr_opt = LR[0] * n ** LR[1] * d ** LR[2]
        b_opt = BS[0] * d ** BS[1]
        base = 2.0 + 400 / n**0.34 + 2000 / d**0.28
        for lr in lr_opt * 2.0 ** np.arange(-3, 3.5, 0.5):
            for b in b_opt * 2.0 ** np.arange(-2, 2.5, 0.5):
                x, y = np.log(lr / lr_opt), np.log(b / b_opt)
                loss = base * (1 + 0.02 * x * x + 0.01 * y * y + 0.004 * x * y) + rng.normal(0, noise)
                rows.append((n, d, lr, b, loss))
    return tuple(np.array(c) for c in zip(*rows))


def test_recovers_steplaw_truth() -> None:
    N, D, lr, b, loss = sweep()
    fit = fit_hparams(N, D, lr, b, loss, bootstrap=200, seed=0)
    assert fit.lr.exponents["N"] == pytest.approx(LR[1], abs=0.03)
    assert fit.lr.exponents["D"] == pytest.approx(LR[2], abs=0.03)
    assert fit.batch_size.exponents["D"] == pytest.approx(BS[1], abs=0.03)
    lo, hi = fit.lr.ci["N"]
    assert lo < fit.lr.exponents["N"] < hi
    p = fit.predict(N=3e8, D=1e10)
    truth = LR[0] * 3e8 ** LR[1] * 1e10 ** LR[2]
    assert p["lr"] == pytest.approx(truth, rel=0.1) and p["lr_lower"] < p["lr"] < p["lr_upper"]
    assert p["extrapolated"] == []
    assert fit.n_runs == N.size and 0 < fit.n_runs_used < N.size


def test_cell_quadratic_locates_optimum_with_interval() -> None:
    N, D, lr, b, loss = sweep(noise=1e-4)
    fit = fit_hparams(N, D, lr, b, loss, bootstrap=0, seed=0)
    for c in fit.cells:
        truth = LR[0] * c.params ** LR[1] * c.tokens ** LR[2]
        assert c.quad_dims == 2
        assert c.quad_lr == pytest.approx(truth, rel=0.15)
        assert c.quad_lr_ci[0] <= c.quad_lr <= c.quad_lr_ci[1]
        assert c.loss_at_law == pytest.approx(c.best_loss, rel=0.002)


def test_a_cell_whose_grid_does_not_bracket_the_optimum_says_why() -> None:
    """Cut every cell's grid below its optimal LR: no cell quadratic, and the fit says which way to sweep."""
    N, D, lr, b, loss = sweep()
    lr_opt = LR[0] * N ** LR[1] * D ** LR[2]
    below = lr < lr_opt / 1.9  # the grid stops short of the optimum
    fit = fit_hparams(N[below], D[below], lr[below], b[below], loss[below], bootstrap=0, seed=0)
    assert all(np.isnan(c.quad_lr) and c.quad_reason == "its optimum lies beyond the sampled learning rates"
               for c in fit.cells)
    assert any(m.startswith("no cell quadratic optimum ('-') in 9 of 9 cells: its optimum lies beyond the sampled "
                            "learning rates (9)") for m in fit.messages)
    full = fit_hparams(N, D, lr, b, loss, bootstrap=0, seed=0)
    assert all(c.quad_reason == "" for c in full.cells) and not any("quadratic" in m for m in full.messages)


def test_tolerance_selects_near_optimal_runs() -> None:
    N, D, lr, b, loss = sweep()
    tight = fit_hparams(N, D, lr, b, loss, tol=0.0, bootstrap=0)
    assert tight.n_runs_used == len(tight.cells) == 9  # only each cell's best run
    loose = fit_hparams(N, D, lr, b, loss, tol=0.01, bootstrap=0)
    assert loose.n_runs_used > fit_hparams(N, D, lr, b, loss, bootstrap=0).n_runs_used


def test_bootstrap_is_seeded() -> None:
    N, D, lr, b, loss = sweep()
    a = fit_hparams(N, D, lr, b, loss, bootstrap=20, seed=5)
    c = fit_hparams(N, D, lr, b, loss, bootstrap=20, seed=5)
    np.testing.assert_array_equal(a.lr.bootstrap, c.lr.bootstrap)
    assert a.lr.bootstrap.shape == (20, 3)


def test_deepseek_form_groups_by_compute() -> None:
    cells = [(1e8, 6e10), (3e8, 2e10), (1e9, 6e9), (1e8, 2e10), (1e9, 2e9)]
    N, D, lr, b, loss = sweep(cells=cells)
    fit = fit_hparams(N, D, lr, b, loss, form="deepseek", bootstrap=0)
    assert len(fit.cells) == 2  # C = 3.6e19 (three cells) and C = 1.2e19 (two)
    assert set(fit.lr.exponents) == {"C"} and set(fit.batch_size.exponents) == {"C"}
    with pytest.raises(FitInputError, match="pass --flops"):
        fit.predict()
    assert fit.predict(C=2e19)["lr"] > 0


def test_extrapolation_is_flagged() -> None:
    N, D, lr, b, loss = sweep()
    fit = fit_hparams(N, D, lr, b, loss, bootstrap=0)
    with pytest.warns(ExtrapolationWarning, match="params = 1e\\+10 lies outside"):
        p = fit.predict(N=1e10, D=1e10)
    assert p["extrapolated"] == ["params"]


def test_json_round_trip(tmp_path: Path) -> None:
    N, D, lr, b, loss = sweep()
    fit = fit_hparams(N, D, lr, b, loss, bootstrap=10, seed=1)
    fit.to_json(tmp_path / "hp.json")
    back = HparamFit.from_json(tmp_path / "hp.json")
    assert back.predict(N=3e8, D=1e10) == fit.predict(N=3e8, D=1e10)
    assert back.summary() == fit.summary()
    assert back.cells[0].quad_lr == fit.cells[0].quad_lr
    (tmp_path / "x.json").write_text('{"schema": "scalefit.hparams/1", "form": "steplaw"}')
    with pytest.raises(ResultFileError, match=r"damaged hyperparameter-law result \(key 'lr'\)"):
        HparamFit.from_json(tmp_path / "x.json")


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"form": "kaplan"}, "unknown form 'kaplan'"),
        ({"tol": 2.0}, "tolerance 2.0 must be a fraction"),
    ],
)
def test_bad_options(kwargs, pattern) -> None:
    N, D, lr, b, loss = sweep()
    with pytest.raises(FitInputError, match=pattern):
        fit_hparams(N, D, lr, b, loss, **kwargs)


def test_refuses_collinear_cells() -> None:
    N, D, lr, b, loss = sweep(cells=[(1e8, 2e9), (3e8, 6e9), (1e9, 2e10)])  # 20 tokens/param everywhere
    with pytest.raises(FitInputError, match="collinear.*--form deepseek"):
        fit_hparams(N, D, lr, b, loss)


def test_refuses_too_few_cells_and_fixed_lr() -> None:
    N, D, lr, b, loss = sweep(cells=[(1e8, 2e9), (3e8, 6e9)])
    with pytest.raises(FitInputError, match="only 2 cell"):
        fit_hparams(N, D, lr, b, loss)
    N, D, lr, b, loss = sweep()
    with pytest.raises(FitInputError, match="never varies within a cell"):
        fit_hparams(N, D, np.full_like(lr, 1e-3), b, loss)


@pytest.mark.reference
def test_reproduces_steplaw_released_data(reference_dir: Path) -> None:
    import warnings

    from scalefit.scaling.hparams import fit_table
    from scalefit.tables import read_table

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = read_table(reference_dir / "hparam" / "steplaw_dense.csv", loss_column="smooth_loss")
    fit = fit_table(t, bootstrap=0)
    assert fit.lr.coef == pytest.approx(77.7, rel=0.01)
    assert fit.lr.exponents["N"] == pytest.approx(-0.766, abs=0.002)
    assert fit.lr.exponents["D"] == pytest.approx(0.197, abs=0.002)
    assert fit.batch_size.coef == pytest.approx(0.209, rel=0.01)
    assert fit.batch_size.exponents["D"] == pytest.approx(0.613, abs=0.002)


def test_leave_one_cell_out_error_is_small_on_a_true_law() -> None:
    N, D, lr, b, loss = sweep()
    fit = fit_hparams(N, D, lr, b, loss, bootstrap=0)
    h = fit.holdout
    assert h["n_cells"] == 9 and len(h["cells_lr"]) == len(h["cells_batch_size"]) == 9
    assert h["lr"] < 0.3 and h["batch_size"] < 0.3  # the grid's step is half a factor 2 (0.5 in log2)
    assert "leave-one-cell-out: median |log2(predicted / best run)| lr" in fit.report()
    assert fit.summary()["holdout"] == {"lr": h["lr"], "batch_size": h["batch_size"], "n_cells": 9}


def test_a_narrow_n_range_is_named_and_the_fit_says_it_cannot_identify_it() -> None:
    """A mixture-of-experts grid: total parameters vary by 0.3%, so the N exponent is not identifiable."""
    from scalefit.errors import IllConditionedWarning
    from scalefit.results import FitStatus

    N, D, lr, b, loss = sweep(cells=[(n, d) for n in (1e9, 1.001e9, 1.003e9) for d in (2e9, 1e10, 5e10)])
    with pytest.warns(IllConditionedWarning, match=r"N spans only 1\.003x .*not identifiable.*--params-column"):
        fit = fit_hparams(N, D, lr, b, loss, bootstrap=10)
    assert fit.status is FitStatus.NO_COVARIANCE
    assert [n.data["variable"] for n in fit.notes] == ["N"] and fit.notes[0].kind == "ill_conditioned"
    good = fit_hparams(*sweep(), bootstrap=10)
    assert good.status is FitStatus.CONVERGED and good.notes == ()
    p = good.params
    assert set(p) == {"lr.coef", "lr.N", "lr.D", "batch_size.coef", "batch_size.D"}
    assert p["lr.N"].value == good.lr.exponents["N"] and p["lr.N"].stderr > 0
