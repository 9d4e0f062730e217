"""The loss laws' contract: closed forms against hand values and the numeric default, the fitter's gradient, the
over-training law's recovery, and the registry."""

from __future__ import annotations

import numpy as np
import pytest
from sweeps import TRUTH, grid

from scalefit.errors import FitInputError
from scalefit.laws import chinchilla as ch
from scalefit.laws.overtrain import OvertrainLaw
from scalefit.laws.scaling_base import ScalingLaw
from scalefit.scaling import solve as sv
from scalefit.scaling.fit import fit_scaling
from scalefit.scaling.registry import DEFAULT_LAW, LOSS_LAWS, get_loss_law

OT = {"E": 1.9, "a": 300.0, "b": 900.0, "eta": 0.16}


def test_overtrain_by_hand_and_as_chinchilla_with_equal_exponents() -> None:
    law = OvertrainLaw()
    N, D = 1e8, 4e9
    M, C = D / N, 6 * N * D
    by_hand = 1.9 + (300 * M**0.16 + 900 * M**-0.16) * C**-0.16
    assert law.loss(OT, N, D) == pytest.approx(by_hand, rel=1e-12)
    # Gadre et al.'s derivation: alpha = beta = 2 eta, A = a 6^-eta, B = b 6^-eta
    as_ch = {"E": 1.9, "A": 300 * 6**-0.16, "B": 900 * 6**-0.16, "alpha": 0.32, "beta": 0.32}
    assert ch.LAW.loss(as_ch, N, D) == pytest.approx(by_hand, rel=1e-12)


@pytest.mark.parametrize("law, values", [(ch.LAW, TRUTH), (OvertrainLaw(), OT)], ids=["chinchilla", "overtrain"])
def test_closed_form_allocation_matches_the_numeric_minimum(law: ScalingLaw, values: dict) -> None:
    row = law.values_vector(values)[None]
    for C in (1e19, 1e23):
        N, D = law.allocate(row, C)
        Nn, Dn = ScalingLaw.allocate(law, row, C)  # the base class's numeric minimisation along C = 6ND
        assert N[0] == pytest.approx(Nn[0], rel=1e-3) and 6 * N[0] * D[0] == pytest.approx(C)
    a, b = law.optimal_exponents(values)
    assert a + b == pytest.approx(1.0)


def test_objective_gradient_matches_finite_differences() -> None:
    N, D, L = grid()
    for law in LOSS_LAWS.values():
        obj = sv.Objective(law, np.log(N), np.log(D), np.log(L))
        x = sv.to_lse(law, law.values_vector(TRUTH if law.name == "chinchilla" else OT)) + 0.01
        f, g = obj(x)
        h = 1e-7
        fd = np.array([(obj(x + h * e)[0] - obj(x - h * e)[0]) / (2 * h) for e in np.eye(x.size)])
        np.testing.assert_allclose(g, fd, rtol=1e-4, atol=1e-9)


def test_overtrain_fit_recovers_its_truth() -> None:
    law = OvertrainLaw()
    N, D, L = grid(law=lambda n, d: law.loss(OT, n, d), noise=0.0)
    fit = fit_scaling(N, D, L, law="overtrain", law_error=False)
    for k, v in OT.items():
        assert fit.values[k] == pytest.approx(v, rel=1e-3), k
    assert fit.optimal_exponents()["a"] == 0.5


def test_more_polished_starts_find_no_better_optimum() -> None:
    N, D, L = grid(sizes=(1e7, 1e8, 1e9), ratios=(4, 32, 256), noise=0.003, seed=2)
    for name in LOSS_LAWS:
        vp = fit_scaling(N, D, L, law=name, law_error=False)
        assert vp.objective <= sv.solve(get_loss_law(name), N, D, L, np.ones_like(L), method="vp",
                                        n_polish=12)[1] * (1 + 1e-9)


def test_registry() -> None:
    assert DEFAULT_LAW in LOSS_LAWS and get_loss_law(None).name == DEFAULT_LAW
    assert get_loss_law(ch.LAW) is ch.LAW
    with pytest.raises(FitInputError, match="unknown loss law 'kaplan'; use one of chinchilla, overtrain"):
        get_loss_law("kaplan")
    for law in LOSS_LAWS.values():  # parameters declared as data, amplitudes first, with a citation
        assert law.citation and law.formula
        k = len(law.linear_names)
        assert all(p.linear for p in law.params[:k]) and not any(p.linear for p in law.params[k:])
