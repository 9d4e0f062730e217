"""IsoFLOP profiles (approach 2): budgets found within a tolerance, parabola minima with intervals, the frontier's
exponents against a known law, edge budgets named and left out, refusals, and the lower envelope (approach 1)."""

from __future__ import annotations

import numpy as np
import pytest
from sweeps import TRUTH, isoflop, n_opt

from scalefit.errors import AssumptionWarning, FitInputError
from scalefit.scaling.envelope import Curve, fit_envelope
from scalefit.scaling.isoflop import fit_isoflop, group_budgets

A_TRUE = TRUTH["beta"] / (TRUTH["alpha"] + TRUTH["beta"])  # 0.45


def test_group_budgets_greedy_and_nominal() -> None:
    C = np.array([1e18, 1.04e18, 0.97e18, 3e18, 3.1e18, 2.9e18, 1e19, 1.5e19])
    groups = group_budgets(C, tol=0.1)
    assert sorted(map(len, groups)) == [1, 1, 3, 3]  # 1e19 and 1.5e19 are 50% apart: two groups
    nominal = group_budgets(C, tol=0.1, budgets=[1e18, 3e18, 1e19])
    assert sorted(map(len, nominal)) == [1, 3, 3]  # 1.5e19 is within 10% of no budget


def test_recovers_the_true_frontier_with_intervals() -> None:
    N, D, L, C = isoflop(noise=0.002)
    fit = fit_isoflop(N, D, L, bootstrap=200, seed=0)
    assert len(fit.budgets) == 6 and all(b.used for b in fit.budgets)
    assert fit.n_opt.exponent == pytest.approx(A_TRUE, abs=0.02)
    assert fit.n_opt.lower <= A_TRUE <= fit.n_opt.upper
    assert fit.n_opt.exponent + fit.d_opt.exponent == pytest.approx(1.0, abs=1e-9)  # C = 6ND in every budget
    for b in fit.budgets:
        assert b.n_opt == pytest.approx(float(n_opt(b.flops)), rel=0.1)
        assert b.lower <= b.n_opt <= b.upper and len(b.rows) == 9
        assert b.d_opt == pytest.approx(b.flops / (6 * b.n_opt))
    o = fit.optimal(1e21)
    assert o["params_lower"] <= o["params"] <= o["params_upper"]
    assert o["params"] == pytest.approx(float(n_opt(1e21)), rel=0.25)


def test_is_seeded_and_the_json_has_the_documented_keys() -> None:
    N, D, L, C = isoflop()
    a, b = fit_isoflop(N, D, L, bootstrap=30, seed=4), fit_isoflop(N, D, L, bootstrap=30, seed=4)
    assert a.summary() == b.summary()
    s = a.summary()
    assert s["method"] == "isoflop"
    assert set(s["n_opt"]) == set(s["d_opt"]) == {"coef", "exponent", "lower", "upper"}
    assert {"flops", "n_opt", "d_opt", "loss_opt", "lower", "upper", "runs"} <= set(s["budgets"][0])


def test_a_budget_whose_minimum_is_at_the_edge_is_named_and_left_out() -> None:
    """The 1e19 budget sweeps only sizes above its optimum: its best run is its smallest."""
    budgets = (1e17, 3e17, 1e18, 3e18, 1e19)
    offsets = [1, 1, 1, 1, 8.0]
    N, D, L, C = isoflop(budgets=budgets, offsets=offsets)
    with pytest.warns(AssumptionWarning, match=r"1 budget\(s\) left out of the frontier fit.*C = 1e\+19"):
        fit = fit_isoflop(N, D, L, bootstrap=20)
    left = [b for b in fit.budgets if not b.used]
    assert len(left) == 1 and left[0].flops == pytest.approx(1e19)
    assert "smallest sampled size" in left[0].excluded or "outside the sampled sizes" in left[0].excluded
    assert fit.summary()["budgets"][-1]["used"] is False
    assert fit.n_opt.exponent == pytest.approx(A_TRUE, abs=0.03)  # the edge budget does not bias the frontier


def test_refuses_too_few_budgets() -> None:
    N, D, L, C = isoflop(budgets=(1e18, 1e19))
    with pytest.raises(FitInputError, match=r"only 2 compute budget\(s\).*at least 3"):
        fit_isoflop(N, D, L, bootstrap=0)
    with pytest.raises(FitInputError, match="tolerance 2 must be a fraction"):
        fit_isoflop(N, D, L, tol=2)


def test_small_groups_are_named_not_silently_used() -> None:
    N, D, L, C = isoflop()
    extra = (np.array([5e9, 6e9]), np.array([1e11, 1e11]), np.array([3.0, 3.0]))  # C ~ 3e21: near no budget
    fit = fit_isoflop(np.r_[N, extra[0]], np.r_[D, extra[1]], np.r_[L, extra[2]], bootstrap=0)
    assert any("form no budget" in m for m in fit.messages)


def test_envelope_of_curves_follows_the_true_optimum() -> None:
    """Curves that follow the law as tokens grow (a schedule that is always 'finished'): the envelope's N*(C)
    tracks the truth's compute-optimal size."""
    from scalefit.laws import chinchilla as ch

    curves = []
    for N in np.geomspace(3e6, 3e9, 16):
        tokens = np.geomspace(1e8, 3e11, 60)
        curves.append(Curve(f"n{N:.0e}", float(N), tokens, ch.loss(TRUTH, N, tokens)))
    env = fit_envelope(curves, bootstrap=50, seed=0)
    assert env.source == "curves" and env.n_opt.exponent == pytest.approx(A_TRUE, abs=0.05)
    assert env.n_opt.exponent + env.d_opt.exponent == pytest.approx(1.0)
    assert env.n_opt.lower <= env.n_opt.exponent <= env.n_opt.upper


def test_envelope_of_points_is_their_pareto_front() -> None:
    N = np.array([1e8, 2e8, 4e8, 8e8, 1e8])
    D = np.array([1e9, 1e9, 1e9, 1e9, 1e10])
    L = np.array([3.0, 2.9, 2.95, 2.7, 2.8])  # C: 6e17, 1.2e18, 2.4e18, 4.8e18, 6e18
    env = fit_envelope(params=N, tokens=D, loss=L, bootstrap=0)
    assert env.params.tolist() == [1e8, 2e8, 8e8]  # 4e8 (2.95 > 2.9) and the last (2.8 > 2.7) are dominated
