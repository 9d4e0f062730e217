"""Chinchilla law: recover a known L(N, D), bootstrap coverage, compute-optimal allocation, refusals, JSON."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scalefit.errors import FitInputError, ResultFileError
from scalefit.laws import chinchilla as ch
from scalefit.scaling import solve as sv
from scalefit.scaling.fit import fit_scaling
from scalefit.scaling.result import ScalingFit


def fit_ch(*args, **kwargs) -> ScalingFit:
    """The Chinchilla law's fit (the default law may differ)."""
    return fit_scaling(*args, law="chinchilla", **kwargs)


TRUTH = {"E": 1.8, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.28}


def simulate(seed: int, noise: float = 0.004, k: int = 6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    N, D = (a.ravel() for a in np.meshgrid(np.geomspace(1e7, 1e9, k), np.geomspace(1e8, 1e11, k)))
    L = ch.loss(TRUTH, N, D) * np.exp(rng.normal(0, noise, N.size))
    return N, D, L


def test_loss_formula_by_hand() -> None:
    assert ch.loss(TRUTH, 1e8, 1e10) == pytest.approx(1.8 + 400 / 1e8**0.34 + 2000 / 1e10**0.28)


def test_recovers_noiseless_truth() -> None:
    N, D, L = simulate(0, noise=0.0)
    fit = fit_ch(N, D, L)
    for k, v in TRUTH.items():
        assert fit.values[k] == pytest.approx(v, rel=1e-3), k
    assert fit.objective < 1e-10


def test_recovers_noisy_truth_and_grid_method_agrees() -> None:
    N, D, L = simulate(1)
    fit = fit_ch(N, D, L)
    assert fit.values["alpha"] == pytest.approx(0.34, abs=0.06)
    assert fit.values["beta"] == pytest.approx(0.28, abs=0.06)
    assert fit.values["E"] == pytest.approx(1.8, abs=0.1)
    # the cheap VP start reaches the objective of many L-BFGS-B starts (subset of Epoch's grid, for speed)
    x, fun, _ = sv.solve(ch.LAW, N, D, L, np.ones_like(L), method="vp")
    assert fun == pytest.approx(fit.objective, rel=1e-9)
    assert fun <= sv.solve(ch.LAW, N, D, L, np.ones_like(L), method="vp", n_polish=12)[1] * (1 + 1e-9)


def test_bootstrap_is_seeded_and_covers_truth() -> None:
    N, D, L = simulate(2)
    a = fit_ch(N, D, L, bootstrap=10, seed=3)
    b = fit_ch(N, D, L, bootstrap=10, seed=3)
    np.testing.assert_array_equal(a.bootstrap, b.bootstrap)
    assert a.bootstrap.shape == (10, 5) and np.isfinite(a.stderr["alpha"])


def test_bootstrap_interval_coverage_cheap() -> None:
    """90% bootstrap intervals of alpha cover the truth in most of 10 seeded replications (binomial: P(<7) ~ 1%)."""
    hits = 0
    for rep in range(10):
        N, D, L = simulate(100 + rep, k=5)
        fit = fit_ch(N, D, L, bootstrap=20, seed=rep)
        lo, hi = np.quantile(fit.bootstrap[:, 3], [0.05, 0.95])
        hits += lo <= TRUTH["alpha"] <= hi
    assert hits >= 7


def test_optimal_allocation_is_the_constrained_minimum() -> None:
    N, D, L = simulate(0, noise=0.0)
    fit = fit_ch(N, D, L, bootstrap=5, seed=0)
    C = 1e21
    opt = fit.optimal(C)
    assert 6 * opt["params"] * opt["tokens"] == pytest.approx(C)
    grid = np.geomspace(opt["params"] / 10, opt["params"] * 10, 20001)
    best = grid[np.argmin(fit.predict(grid, C / (6 * grid)))]
    assert best == pytest.approx(opt["params"], rel=1e-3)
    assert opt["params_lower"] <= opt["params"] <= opt["params_upper"]
    a, b = TRUTH["alpha"], TRUTH["beta"]
    ratio = fit.optimal(100 * C)["params"] / opt["params"]
    assert ratio == pytest.approx(100 ** (b / (a + b)), rel=1e-3)


def test_extrapolation_flags() -> None:
    N, D, L = simulate(0, noise=0.0)
    fit = fit_ch(N, D, L)
    assert fit.extrapolated(params=1e8, tokens=1e10) == []
    assert fit.extrapolated(params=1e11, tokens=1e10, flops=6e21) == ["params", "flops"]


def test_json_round_trip(tmp_path: Path) -> None:
    N, D, L = simulate(0)
    fit = fit_ch(N, D, L, bootstrap=4, seed=1)
    fit.to_json(tmp_path / "sc.json")
    back = ScalingFit.from_json(tmp_path / "sc.json")
    assert back.values == fit.values and back.stderr == fit.stderr
    np.testing.assert_array_equal(back.bootstrap, fit.bootstrap)
    assert back.optimal(1e21) == fit.optimal(1e21)
    (tmp_path / "bad.json").write_text('{"schema": "scalefit.fit/1"}')
    with pytest.raises(ResultFileError, match="expected scalefit.scaling"):
        ScalingFit.from_json(tmp_path / "bad.json")


def test_refuses_too_few_points() -> None:
    N, D, L = simulate(0)
    with pytest.raises(FitInputError, match=r"only 5 runs.*at least 8"):
        fit_ch(N[:5], D[:5], L[:5])


def test_refuses_too_few_sizes() -> None:
    N, D, L = simulate(0)
    keep = np.isin(N, np.unique(N)[:2])
    with pytest.raises(FitInputError, match=r"only 2 distinct value\(s\) of 'params'.*model sizes"):
        fit_ch(N[keep], D[keep], L[keep])


def test_refuses_no_interior_optimum() -> None:
    """Loss that does not depend on N: the model-size term vanishes, so no compute-optimal N exists."""
    N, D, _ = simulate(0)
    L = 1.8 + 2000 / D**0.28
    with pytest.raises(FitInputError, match="no interior optimum"):
        fit_ch(N, D, L)


def test_refuses_bad_values() -> None:
    N, D, L = simulate(0)
    L[3] = -1
    with pytest.raises(FitInputError, match="'loss' must be positive"):
        fit_ch(N, D, L)


@pytest.mark.reference
def test_reproduces_epoch(reference_dir: Path) -> None:
    import warnings

    from scalefit.tables import read_table

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = read_table(reference_dir / "hparam" / "epoch_chinchilla_fig4.csv")
    assert len(t) == 240
    fit = fit_ch(t.params, t.tokens, t.loss)
    expect = {"A": 477.8, "B": 2143.4, "E": 1.8172, "alpha": 0.3473, "beta": 0.3672}
    for k, v in expect.items():
        assert fit.values[k] == pytest.approx(v, rel=0.01), k
