"""Multi-Power Law (Luo et al. 2025): compressed drop vs the naive sum and its bound, hand values, derivatives."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from scalefit.errors import FitInputError
from scalefit.laws import get_law
from scalefit.laws import mpl_drop
from scalefit.laws.multipower import ld_error_bound, ld_naive

THETA = {"alpha": 0.5, "C": 2.0, "beta": 0.6, "gamma": 0.6}
VALUES = {"L0": 3.0, "A": 0.5, "B": 500.0, **THETA}


def _cosine(T: int, warmup: int, peak: float = 3e-4, end: float = 3e-5) -> np.ndarray:
    s = np.arange(T)
    lr = end + (peak - end) / 2 * (1 + np.cos(np.pi * (s - warmup) / (T - warmup)))
    lr[:warmup] = peak * s[:warmup] / max(warmup - 1, 1)
    return lr


def test_hand_computed_t5():
    # lr = [0.5, 1, 1, 0.5, 0.25], warmup 2: P = [0.5, 1.5, 2.5, 3, 3.25]; post-warmup decrements d3 = 0.5, d4 = 0.25.
    # C = beta = gamma = 1: G(x) = x / (1 + x). x3(3) = 2 * 0.5 = 1; x3(4) = 2 * 0.75 = 1.5, x4(4) = 4 * 0.25 = 1.
    lr = np.array([0.5, 1.0, 1.0, 0.5, 0.25])
    vals = {"L0": 2.0, "A": 1.0, "B": 1.0, "alpha": 1.0, "C": 1.0, "beta": 1.0, "gamma": 1.0}
    pred = get_law("mpl").predict(vals, lr, warmup=2)
    expect = [2 + 1 / 0.5, 2 + 1 / 1.5, 2 + 1 / 2.5, 2 + 1 / 3 - 0.5 * 0.5, 2 + 1 / 3.25 - (0.5 * 0.6 + 0.25 * 0.5)]
    np.testing.assert_allclose(pred, expect, rtol=1e-14)
    # official: also d1 = 0.5 - 1 = -0.5 with x1(n) = 1 * (P_n - 0.5): n = 1 -> G = 1/2, n = 2 -> G = 2/3
    off = get_law("mpl", variant="official").predict(vals, lr, warmup=2, at=[1, 2])
    np.testing.assert_allclose(off, [2 + 1 / 1.5 + 0.25, 2 + 1 / 2.5 + 1 / 3], rtol=1e-14)


schedules = arrays(np.float64, st.integers(2, 120), elements=st.floats(0.0, 1e-3, allow_nan=False))


@settings(derandomize=True, max_examples=60, deadline=None)
@given(lr=schedules, wfrac=st.floats(0, 0.5), C=st.floats(1e-3, 1e3), beta=st.floats(0.01, 1.0),
       gamma=st.floats(0.01, 1.0), variant=st.sampled_from(["paper", "official"]))
def test_compressed_drop_within_stated_bound(lr, wfrac, C, beta, gamma, variant):
    lr = lr + 1e-6  # nonzero area everywhere
    warmup = int(wfrac * lr.size)
    theta = {"alpha": 0.5, "C": C, "beta": beta, "gamma": gamma}
    law = get_law("mpl", variant=variant, near=3, block=4, eta_tol=0.5)  # tiny windows: many blocks, many levels
    prep = law.prepare(lr, warmup=warmup)
    U = -law.design(theta, prep)[2]
    exact = ld_naive(theta, lr, warmup=warmup, variant=variant)
    bound = ld_error_bound(theta, prep)
    # + float rounding: S_k(t) = P_t - P_{k-1} from cumulative sums loses ~1e-16 P_t / S_k(t) relative
    assert np.all(np.abs(U - exact) <= bound + 1e-9 * np.abs(np.diff(lr)).sum())


def test_compression_error_on_a_long_cosine_is_tiny_and_bounded():
    lr = _cosine(3000, 200)
    at = np.arange(200, 3000, 37)
    law = get_law("mpl")
    prep = law.prepare(lr, warmup=200, at=at)
    assert len(prep.levels) >= 2
    U = -law.design(THETA, prep)[2]
    exact = ld_naive(THETA, lr, warmup=200, at=at)
    bound = ld_error_bound(THETA, prep)
    assert np.all(np.abs(U - exact) <= bound + 1e-12 * np.abs(exact).max())  # + float rounding
    assert 500 * bound.max() < 5e-5  # the loss error B * bound is below the data's 4-decimal rounding


@settings(derandomize=True, max_examples=20, deadline=None)
@given(peak=st.floats(1e-6, 1e-2), T=st.integers(2, 400), warmup=st.integers(0, 50))
def test_constant_schedule_has_no_drop(peak, T, warmup):
    lr = np.full(T, peak)
    prep = get_law("mpl").prepare(lr, warmup=min(warmup, T - 1))
    assert prep.k.size == 0
    assert np.all(get_law("mpl").design(THETA, prep)[2] == 0.0)


def test_block_sums_by_series_equal_the_exact_sums():
    # the series in gamma is truncated below float rounding: it must agree with the direct sums over decrements
    rng = np.random.default_rng(3)
    lr = _cosine(3000, 300) * (1 + 0.01 * rng.standard_normal(3000))
    for eta_tol in (0.02, 0.5):
        law = get_law("mpl", near=8, block=4, eta_tol=eta_tol)
        prep = law.prepare(lr, warmup=300, at=np.arange(300, 3000, 13))
        exact = dataclasses.replace(prep, series=None, _flat={})
        assert prep.series is not None
        for gamma in (0.01, 0.6, 1.0):
            np.testing.assert_allclose(mpl_drop.block_sums(gamma, prep, True), mpl_drop.block_sums(gamma, exact, True),
                                       rtol=1e-12, atol=0)
            U, U_exact = law.design({**THETA, "gamma": gamma}, prep)[2], law.design({**THETA, "gamma": gamma}, exact)[2]
            np.testing.assert_allclose(U, U_exact, rtol=1e-13, atol=1e-14 * np.abs(U_exact).max())


def test_gamma_beyond_the_series_uses_the_exact_sums_within_the_bound():
    lr = _cosine(400, 20)
    theta = {**THETA, "gamma": 3.0}  # gamma * spread beyond the stored series order with eta_tol 0.5
    law = get_law("mpl", near=3, block=4, eta_tol=0.5)
    prep = law.prepare(lr, warmup=20, at=np.arange(20, 400))
    U = -law.design(theta, prep)[2]
    exact = ld_naive(theta, lr, warmup=20, at=np.arange(20, 400))
    assert np.all(np.abs(U - exact) <= ld_error_bound(theta, prep) + 1e-12 * np.abs(exact).max())


def test_cached_evaluations_equal_fresh_ones():
    # the last evaluation is kept on the prepared run (design -> design_jac at the same point reuses it); any order of
    # calls must give exactly what a freshly prepared run gives, and returned arrays must not change afterwards
    lr = _cosine(3000, 100)
    at = np.arange(100, 3000, 11)
    law = get_law("mpl")
    prep = law.prepare(lr, warmup=100, at=at)
    t1, t2 = dict(THETA), {**THETA, "C": 0.3, "gamma": 0.9}
    first = law.design(t1, prep)
    kept = first.copy()
    for theta, jac in ((t1, True), (t2, False), (t1, True), (t2, True), (t2, False), (t1, False)):
        fresh = law.prepare(lr, warmup=100, at=at)
        if jac:
            np.testing.assert_array_equal(law.design_jac(theta, prep), law.design_jac(theta, fresh))
        else:
            np.testing.assert_array_equal(law.design(theta, prep), law.design(theta, fresh))
    np.testing.assert_array_equal(first, kept)


def test_chunked_pairs_give_the_same_drop(monkeypatch):
    lr = _cosine(2000, 50)
    law = get_law("mpl", near=8, block=4)
    whole = law.prepare(lr, warmup=50, at=np.arange(50, 2000))
    d, j = law.design(THETA, whole), law.design_jac(THETA, whole)
    monkeypatch.setattr(mpl_drop, "_PAIRS_PER_CHUNK", 500)  # many chunks: nothing cached between calls
    chunked = law.prepare(lr, warmup=50, at=np.arange(50, 2000))
    np.testing.assert_array_equal(law.design(THETA, chunked), d)
    np.testing.assert_array_equal(law.design_jac(THETA, chunked), j)
    assert "chunks" not in chunked._flat


def test_schedule_work_is_shared_between_preparations_and_checked_by_content():
    lr = _cosine(5000, 100)
    law = get_law("mpl")
    a = law.prepare(lr, warmup=100, at=np.arange(4999, 99, -50)[::-1])
    b = law.prepare(lr.copy(), warmup=100, at=np.arange(100, 5000, 3))  # same schedule, other rows: shared
    assert b.k is a.k and b.levels is not None and b.levels[0] is a.levels[0]
    other = lr.copy()
    other[3000] *= 0.5  # another schedule of the same length: recomputed, and equal to a fresh law's
    c = law.prepare(other, warmup=100, at=np.arange(100, 5000, 3))
    fresh = get_law("mpl").prepare(other, warmup=100, at=np.arange(100, 5000, 3))
    assert c.k is not a.k
    np.testing.assert_array_equal(law.design(THETA, c), get_law("mpl").design(THETA, fresh))
    with pytest.raises(ValueError):
        a.u[0] = 1.0  # shared arrays are read-only


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("variant", ["paper", "official"])
def test_design_jac_matches_finite_differences(compress, variant):
    rng = np.random.default_rng(1)
    lr = _cosine(1500, 100) * (1 + 0.01 * rng.standard_normal(1500))
    lr[:100] = np.linspace(0, lr[100], 100)
    law = get_law("mpl", variant=variant, compress=compress, near=8, block=4)
    prep = law.prepare(lr, warmup=100, at=np.arange(100, 1500, 13))
    theta = np.array([THETA[k] for k in law.nonlinear_names])
    jac = law.design_jac(theta, prep)
    for j in range(theta.size):
        h = 1e-6 * theta[j]
        tp, tm = theta.copy(), theta.copy()
        tp[j] += h
        tm[j] -= h
        fd = (law.design(tp, prep) - law.design(tm, prep)) / (2 * h)
        np.testing.assert_allclose(jac[j], fd, rtol=1e-5, atol=1e-7 * np.abs(fd).max())


@pytest.mark.parametrize("warmup", [0, 30])
@pytest.mark.parametrize("variant", ["paper", "official"])
def test_final_loss_and_grad_matches_the_law_and_finite_differences(warmup, variant):
    rng = np.random.default_rng(2)
    lr = _cosine(200, warmup) * (1 + 0.05 * rng.standard_normal(200))
    lr = np.abs(lr)
    law = get_law("mpl", variant=variant)
    loss, grad = law.final_loss_and_grad(VALUES, lr, warmup=warmup)
    exact = get_law("mpl", variant=variant, compress=False).predict(VALUES, lr, warmup=warmup, at=[199])[0]
    assert loss == pytest.approx(exact, rel=1e-13)
    first = max(warmup, 1)
    assert grad.shape == (200 - first,)
    fd = np.empty_like(grad)
    for j in range(grad.size):
        h = 1e-9
        up, dn = lr.copy(), lr.copy()
        up[first + j] += h
        dn[first + j] -= h
        fd[j] = (law.final_loss_and_grad(VALUES, up, warmup=warmup, grad=False)[0]
                 - law.final_loss_and_grad(VALUES, dn, warmup=warmup, grad=False)[0]) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-4, atol=1e-4 * np.abs(fd).max())


@pytest.mark.parametrize("index", [None, [60, 99, 199]])
def test_the_naive_reference_gradient_is_the_law_averaged_over_indices(index):
    """tests/mpl_reference.py (the definition, per objective index) against the law's predictions."""
    from mpl_reference import final_loss_and_grad

    lr = np.abs(_cosine(200, 30) * (1 + 0.05 * np.random.default_rng(3).standard_normal(200)))
    loss, grad = final_loss_and_grad(VALUES, lr, warmup=30, objective_index=index)
    at = [199] if index is None else index
    assert loss == pytest.approx(get_law("mpl", compress=False).predict(VALUES, lr, warmup=30, at=at).mean(),
                                 rel=1e-13)
    assert grad.shape == (170,)
    with pytest.raises(FitInputError, match="objective_index"):
        final_loss_and_grad(VALUES, np.ones(10), warmup=5, objective_index=2)


def test_bad_options_and_inputs():
    with pytest.raises(FitInputError, match="variant"):
        get_law("mpl", variant="nope")
    with pytest.raises(FitInputError, match="LR area 0"):
        get_law("mpl").prepare(np.array([0.0, 1.0]), warmup=0)


# ---- reference: the MPL paper's own curves (Luo et al. 2025, 25M and 100M) ---------------------------------------
# We do not know the paper's fitted parameter values with confidence, so nothing published is hard-coded. Instead
# the exponents beta = 0.59 and gamma = 0.63 (the paper's typical fits) are fixed, (alpha, C) come from a coarse
# 5 x 7 grid, and the amplitudes L0, A, B from ordinary least squares on the two training curves of the paper's
# simple protocol (cosine_24000 + constant_24000). The held-out curves must then be predicted about as well as the
# official code's full fit does (README: PredE 0.0011 at 25M, 0.0023 at 100M, WorstE <= 0.0062): we require
# PredE < 0.003 per 24k-step curve and < 0.008 for the 3x longer 72k curves (an extrapolation), and the WSD
# cooldown drop (loss at step 20000 minus final loss) within 25% of the measured drop.
GRID_ALPHA = (0.3, 0.4, 0.5, 0.6, 0.7)
GRID_C = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


def _load(ref, model: str, schedule: str):
    import pandas as pd

    lr = pd.read_csv(ref / "curves" / "mpl" / "schedules" / f"{schedule}.csv")["lr"].to_numpy()
    d = pd.read_csv(ref / "curves" / "mpl" / f"{model}_{schedule}.csv")
    return lr, d["step"].to_numpy(), d["loss"].to_numpy()


def _quick_fit(ref, model: str, variant: str) -> dict[str, float]:
    law = get_law("mpl", variant=variant)
    train = [_load(ref, model, s) for s in ("cosine_24000", "constant_24000")]
    preps = [law.prepare(lr, warmup=2160, at=steps) for lr, steps, _ in train]
    y = np.concatenate([loss for _, _, loss in train])
    best = None
    for alpha in GRID_ALPHA:
        for C in GRID_C:
            theta = {"alpha": alpha, "C": C, "beta": 0.59, "gamma": 0.63}
            X = np.concatenate([law.design(theta, p) for p in preps], axis=1)  # (3, n)
            coef = np.linalg.lstsq(X.T, y, rcond=None)[0]
            sse = float(np.sum((X.T @ coef - y) ** 2))
            if best is None or sse < best[0]:
                best = (sse, {**theta, "L0": coef[0], "A": coef[1], "B": coef[2]})
    return best[1]


@pytest.mark.reference
@pytest.mark.parametrize("model", ["25M", "100M"])
def test_reference_curves_predicted_from_two_training_runs(reference_dir, model):
    vals = _quick_fit(reference_dir, model, "paper")
    assert vals["A"] > 0 and vals["B"] > 0
    law = get_law("mpl")
    for schedule in ("wsd_20000_24000", "wsdld_20000_24000", "wsdcon_3", "wsdcon_9", "wsdcon_18",
                     "cosine_72000", "constant_72000"):
        lr, steps, loss = _load(reference_dir, model, schedule)
        pred = law.predict(vals, lr, warmup=2160, at=steps)
        pred_e = np.mean(np.abs(pred - loss) / loss)
        assert pred_e < (0.008 if "72000" in schedule else 0.003), (schedule, pred_e)
        if schedule.startswith("wsd_"):
            i = np.searchsorted(steps, 20000)
            drop_obs, drop_pred = loss[i] - loss[-1], pred[i] - pred[-1]
            assert abs(drop_pred - drop_obs) < 0.25 * drop_obs, (drop_obs, drop_pred)


@pytest.mark.reference
def test_reference_official_variant_shifts_l0_down(reference_dir):
    paper = _quick_fit(reference_dir, "100M", "paper")
    official = _quick_fit(reference_dir, "100M", "official")
    # README: about -0.16 at 400M (full fits); these coarse fits give -0.12 (25M) and -0.05 (100M)
    assert 0.02 < paper["L0"] - official["L0"] < 0.3
