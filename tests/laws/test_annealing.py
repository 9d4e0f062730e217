"""Tissue et al. 2024 LR-annealing law: O(T) features vs naive sums, hand values, derivatives."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from scalefit.errors import FitInputError
from scalefit.laws import get_law
from scalefit.laws.annealing import s1_s2


def naive_s1_s2(lr: np.ndarray, warmup: int, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """The paper's definitions written as the O(T^2) double sum."""
    eta = lr.copy()
    if warmup:
        eta[:warmup] = lr[warmup - 1]
    T = lr.size
    s1 = np.array([eta[: i + 1].sum() for i in range(T)])
    # m_i = sum_{j<=i} lam^(i-j) (eta_{j-1} - eta_j)
    m = np.array([sum(lam ** (i - j) * (eta[j - 1] - eta[j]) for j in range(1, i + 1)) for i in range(T)])
    s2 = np.array([m[: i + 1].sum() for i in range(T)])
    return s1, s2


schedules = arrays(np.float64, st.integers(1, 40), elements=st.floats(0.0, 1.0, allow_nan=False))


@settings(derandomize=True, max_examples=60, deadline=None)
@given(lr=schedules, warmup_frac=st.floats(0.0, 0.99), lam=st.floats(0.5, 0.99999))
def test_o_t_features_equal_naive_sums(lr, warmup_frac, lam):
    warmup = int(warmup_frac * lr.size)
    s1, s2 = s1_s2(lr, warmup, lam)
    n1, n2 = naive_s1_s2(lr, warmup, lam)
    np.testing.assert_allclose(s1, n1, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(s2, n2, rtol=1e-9, atol=1e-9)
    assert np.all(np.diff(s1) >= 0)  # S1 nondecreasing


@settings(derandomize=True, max_examples=30, deadline=None)
@given(peak=st.floats(1e-6, 1.0), T=st.integers(1, 300), lam=st.floats(0.9, 0.99999))
def test_constant_schedule_has_no_annealing_area(peak, T, lam):
    _, s2 = s1_s2(np.full(T, peak), 0, lam)
    assert np.all(s2 == 0.0)


def test_hand_computed_t5():
    lr = np.array([0.5, 1.0, 1.0, 0.5, 0.25])
    # warmup=2: eta = [1, 1, 1, 0.5, 0.25]; decrements [0, 0, 0, 0.5, 0.25]
    s1, s2 = s1_s2(lr, 2, lam=0.5)
    np.testing.assert_allclose(s1, [1, 2, 3, 3.5, 3.75])
    np.testing.assert_allclose(s2, [0, 0, 0, 0.5, 1.0])  # m = [0, 0, 0, 0.5, 0.5*0.5 + 0.25]
    law = get_law("tissue")  # lam = 0.999: m4 = 0.4995 + 0.25, S2 = [0, 0, 0, 0.5, 1.2495]
    pred = law.predict({"L0": 2.0, "A": 1.0, "alpha": 1.0, "C": 1.0}, lr, warmup=2)
    np.testing.assert_allclose(pred, [3.0, 2.5, 2 + 1 / 3, 2 + 1 / 3.5 - 0.5, 2 + 1 / 3.75 - 1.2495], rtol=1e-14)
    law_n = get_law("tissue-n")  # N = 4e8 = 4 N_REF: L0 = E + K 4^-a, A rA^2, C rC^2
    vals = {"E": 2.0, "K": 0.3, "A": 1.0, "C": 1.0, "a": 0.5, "rA": 1.5, "rC": 2.0, "alpha": 1.0}
    pred_n = law_n.predict(vals, lr, warmup=2, at=[4], n_params=4e8)
    np.testing.assert_allclose(pred_n, [2 + 0.3 / 2 + 2.25 / 3.75 - 1.2495 * 4], rtol=1e-14)


def test_tissue_n_needs_model_size():
    with pytest.raises(FitInputError, match="n_params"):
        get_law("tissue-n").prepare(np.ones(10), warmup=0)


def test_zero_area_observation_is_an_error():
    with pytest.raises(FitInputError, match="S1 = 0"):
        get_law("tissue").prepare(np.array([0.0, 1.0, 1.0]), warmup=0)


@pytest.mark.parametrize("name,opts,n", [("tissue", {}, None), ("tissue", {"fit_lam": True}, None),
                                         ("tissue-n", {"fit_lam": True}, 3e7)])
def test_design_jac_matches_finite_differences(name, opts, n):
    rng = np.random.default_rng(0)
    lr = np.concatenate([np.linspace(0, 1e-3, 50),
                         1e-3 * np.cos(np.linspace(0, 1.5, 400)) ** 2 + rng.uniform(0, 1e-5, 400)])
    law = get_law(name, **opts)
    prep = law.prepare(lr, warmup=50, at=np.arange(60, 450, 7), n_params=n)
    theta = np.array([{"alpha": 0.6, "a": 0.3, "rA": 1.2, "rC": 0.8, "lam": 0.99}[k] for k in law.nonlinear_names])
    jac = law.design_jac(theta, prep)
    for j in range(theta.size):
        h = 1e-6 * abs(theta[j])
        tp, tm = theta.copy(), theta.copy()
        tp[j] += h
        tm[j] -= h
        fd = (law.design(tp, prep) - law.design(tm, prep)) / (2 * h)
        np.testing.assert_allclose(jac[j], fd, rtol=1e-5, atol=1e-9 * np.abs(fd).max())
