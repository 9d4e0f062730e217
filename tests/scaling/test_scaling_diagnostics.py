"""When the runs cannot pin the law: one typed warning each (E at a bound, collinear N and D, bootstrap spreads as
large as the values), and none on a well-designed sweep."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sweeps import TRUTH, grid

from scalefit.errors import IllConditionedWarning, ParameterAtBoundWarning
from scalefit.laws import chinchilla as ch
from scalefit.results import FitStatus
from scalefit.scaling.diagnostics import COLLINEAR_CORR, collinearity
from scalefit.scaling.fit import fit_scaling


def problems(fit) -> set[str]:
    return {n.data["problem"] for n in fit.notes}


def test_a_good_sweep_draws_no_warning() -> None:
    N, D, L = grid(noise=0.001)
    with warnings.catch_warnings():
        warnings.simplefilter("error", IllConditionedWarning)
        warnings.simplefilter("error", ParameterAtBoundWarning)
        fit = fit_scaling(N, D, L, law="chinchilla", bootstrap=20, seed=0)
    assert fit.notes == () and fit.status is FitStatus.CONVERGED


def test_e_at_its_bound_is_named_with_what_to_add() -> None:
    """Loss with no floor (E = 0): the fit drives E to 0 and says the runs never show the loss levelling off."""
    N, D, L = grid(law=lambda n, d: ch.loss({**TRUTH, "E": 0.0}, n, d), noise=0.0)
    with pytest.warns(ParameterAtBoundWarning, match=r"E sits at its lower bound 0 .*Add runs at larger N and D"):
        fit = fit_scaling(N, D, L, law="chinchilla", law_error=False)
    assert "at_bound" in problems(fit) and fit.status is FitStatus.AT_BOUND
    assert fit.params["E"].at_bound == -1
    assert any(m.startswith("E sits at its lower bound 0") for m in fit.messages)


def test_nearly_collinear_n_and_d_are_named_with_the_correlation() -> None:
    """Every run at 5-20 tokens per parameter over a 100x range of sizes: log N and log D move together."""
    N, D, L = grid(ratios=(5, 10, 20))
    r, cond, spread = collinearity(N, D)
    assert spread == pytest.approx(4.0) and r >= COLLINEAR_CORR and cond == pytest.approx((1 + r) / (1 - r))
    with pytest.warns(IllConditionedWarning, match=r"log N and log D are nearly collinear \(correlation 0\.\d+, "
                                                   r"condition number .*D varies only 4x \(tokens per parameter 5 "
                                                   r"\.\. 20\).*4x shorter"):
        fit = fit_scaling(N, D, L, law="chinchilla", law_error=False)
    d = next(n for n in fit.notes if n.data["problem"] == "collinear")
    assert d.kind == "ill_conditioned" and d.warning is IllConditionedWarning
    assert d.data["correlation"] == pytest.approx(r) and d.data["tokens_per_param"] == [5.0, 20.0]
    # one ratio per size (small models short, large ones long) is collinear too, whatever the ratios' range;
    # a full grid of sizes x token counts is not, however narrow
    N1 = np.geomspace(1e7, 1e9, 9)
    assert collinearity(N1, N1 * np.geomspace(5, 80, 9))[0] == pytest.approx(1.0)
    Ng, Dg = (a.ravel() for a in np.meshgrid([1e7, 2e7, 4e7], [1e9, 2e9, 4e9]))
    assert collinearity(Ng, Dg)[0] == pytest.approx(0.0, abs=1e-12)


def test_bootstrap_spread_as_large_as_the_value_is_named() -> None:
    """Three sizes, two ratios and 2% noise: the exponents are not pinned."""
    N, D, L = grid(sizes=(1e7, 2e7, 4e7), ratios=(10, 20, 40), noise=0.02, seed=3)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        fit = fit_scaling(N, D, L, law="chinchilla", bootstrap=30, seed=1, law_error=False)
    assert any(r.category is IllConditionedWarning and "the runs do not pin" in str(r.message) for r in rec)
    bad = [n for n in fit.notes if n.data["problem"] == "unconstrained"]
    assert bad and all(d.data["ratio"] >= 0.5 and d.data["parameter"] not in ("A", "B") for d in bad)


def test_notes_survive_the_json_round_trip(tmp_path) -> None:
    from scalefit.scaling.result import ScalingFit

    N, D, L = grid(ratios=(5, 10, 20))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_scaling(N, D, L, law="chinchilla", bootstrap=5, seed=0)
    fit.to_json(tmp_path / "sc.json")
    back = ScalingFit.from_json(tmp_path / "sc.json")
    assert back.notes == fit.notes and back.notes[0].warning is IllConditionedWarning
    assert np.allclose(back.residuals, fit.residuals) and back.extrapolation == fit.extrapolation
