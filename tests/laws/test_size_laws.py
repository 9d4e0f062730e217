"""The size-aware curve laws (mpl-n, tissue-n): design contract, the size-blind law at one size, identifiability
rules, and simulate-then-fit across three sizes."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

from scalefit.errors import ExtrapolationWarning, FitInputError
from scalefit.laws import get_law
from scalefit.laws.size_terms import N_REF, check_sizes, distinct_sizes, size_prior
from scalefit.runs import Run

THETA = {"a": 0.3, "rA": 1.2, "rB": 0.8, "rC": 1.3, "alpha": 0.6, "C": 1.5, "beta": 0.4, "gamma": 0.6, "lam": 0.99}


def _schedule(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([np.linspace(0, 1e-3, 50),
                           1e-3 * np.cos(np.linspace(0, 1.5, 400)) ** 2 + rng.uniform(0, 1e-5, 400)])


@pytest.mark.parametrize("name,opts", [("mpl-n", {}), ("mpl-n", {"variant": "official"}), ("tissue-n", {}),
                                       ("tissue-n", {"fit_lam": True})])
@pytest.mark.parametrize("n", [3e7, 4e8])
def test_design_jac_matches_finite_differences(name, opts, n):
    law = get_law(name, **opts)
    prep = law.prepare(_schedule(), warmup=50, at=np.arange(60, 450, 7), n_params=n)
    theta = np.array([THETA[k] for k in law.nonlinear_names])
    jac = law.design_jac(theta, prep)
    assert jac.shape == (theta.size, 4, prep.at.size)
    for j in range(theta.size):
        h = 1e-6 * abs(theta[j])
        tp, tm = theta.copy(), theta.copy()
        tp[j] += h
        tm[j] -= h
        fd = (law.design(tp, prep) - law.design(tm, prep)) / (2 * h)
        np.testing.assert_allclose(jac[j], fd, rtol=1e-5, atol=1e-9 * np.abs(fd).max())


@pytest.mark.parametrize("name", ["mpl-n", "tissue-n"])
def test_at_one_size_the_law_is_the_size_blind_law(name):
    law = get_law(name)
    lr, at = _schedule(), np.arange(60, 450, 5)
    values = {**THETA, "E": 2.0, "K": 0.5, "A": 0.6, "B": 300.0}
    values["C"] = 1.5 if name == "mpl-n" else 0.4
    for n in (2.5e7, N_REF, 1.6e9):
        inner = law.at_size(values, n)
        np.testing.assert_allclose(law.predict(values, lr, warmup=50, at=at, n_params=n),
                                   law.inner.predict(inner, lr, warmup=50, at=at), rtol=1e-13)
    # by hand at N = 4 N_REF (log2 n = 2): L0 = E + K 4^-a, A rA^2, drop rX^2
    inner = law.at_size(values, 4 * N_REF)
    drop = "B" if name == "mpl-n" else "C"
    assert inner["L0"] == pytest.approx(2.0 + 0.5 * 4 ** -0.3)
    assert inner["A"] == pytest.approx(0.6 * 1.2 ** 2)
    assert inner[drop] == pytest.approx(values[drop] * values["r" + drop] ** 2)


def test_size_law_needs_the_model_size():
    with pytest.raises(FitInputError, match="params"):
        get_law("mpl-n").prepare(_schedule(), warmup=50, at=[100])
    with pytest.raises(FitInputError, match="positive parameter count"):
        get_law("mpl-n").prepare(_schedule(), warmup=50, at=[100], n_params=-1.0)


def _run(path, lr, warmup, n, loss_at, every=20):
    steps = np.arange(warmup, lr.size, every, dtype=np.int64)
    return Run(path=path, steps=steps, loss=loss_at(lr, steps), lr=lr, step0=0, warmup=warmup,
               line=np.arange(steps.size, dtype=np.int64) + 2, meta={"params": float(n)})


def _cosine(T=2000, W=100, peak=1e-3):
    s = np.arange(T)
    lr = 1e-5 + (peak - 1e-5) / 2 * (1 + np.cos(np.pi * (s - W) / (T - W)))
    lr[:W] = peak * s[:W] / (W - 1)
    return lr


def _constant(T=2000, W=100, peak=1e-3):
    lr = np.full(T, peak)
    lr[:W] = peak * np.arange(W) / (W - 1)
    return lr


TRUTH = {"E": 2.0, "K": 0.6, "A": 0.5, "B": 400.0, "a": 0.35, "rA": 1.05, "rB": 1.1, "alpha": 0.5, "C": 1.0,
         "beta": 0.5, "gamma": 0.5}


def _simulated(sizes, seed=0):
    law = get_law("mpl-n")
    rng = np.random.default_rng(seed)
    runs = []
    for n in sizes:
        for kind, lr in (("cos", _cosine()), ("const", _constant())):
            def loss_at(lr, steps, n=n):
                clean = law.predict(TRUTH, lr, warmup=100, at=steps, n_params=n)
                return clean * np.exp(rng.normal(0, 5e-4, steps.size))
            runs.append(_run(f"{kind}_{n:.0e}.csv", lr, 100, n, loss_at))
    return runs


def test_three_sizes_fit_the_size_terms_and_predict_a_bigger_model():
    from scalefit.fitting import fit

    law = get_law("mpl-n")
    runs = _simulated([2e7, 5e7, 1.2e8])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit(runs, "mpl-n", law_error=False)  # the law's default prior
    assert res.values["a"] == pytest.approx(TRUTH["a"], rel=0.25)
    assert res.values["rA"] == pytest.approx(TRUTH["rA"], rel=0.05)
    big = 4e8
    lr = _cosine()
    at = np.arange(100, 2000, 20)
    # flagged with its factor
    with pytest.warns(ExtrapolationWarning, match=r"model size 4e\+08 is 3.3x the largest fitted \(1.2e\+08\)"):
        pred = res.predict(lr, warmup=100, at=at, n_params=big, method="covariance").loss
    true = law.predict(TRUTH, lr, warmup=100, at=at, n_params=big)
    assert np.max(np.abs(pred - true) / true) < 0.005


def test_two_sizes_take_the_exponent_from_the_prior():
    from scalefit.fitting import fit

    law = get_law("mpl-n")
    runs = _simulated([3e7, 1e8])
    assert law.default_prior["a"] == (0.34, 1.0) and law.default_prior["C"] == (1.0, 0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit(runs, "mpl-n", law_error=False)
    assert res.values["a"] == pytest.approx(0.34, abs=1e-3)  # the data leave a flat: a weak prior still sets it
    assert res.params["a"].stderr > 0.1  # and its stderr says the data do not know it
    # E and K are then set through the two sizes' L0: the fitted L0 of each size is right
    for n in (3e7, 1e8):
        fitted = law.at_size(res.values, n)["L0"]
        assert fitted == pytest.approx(law.at_size(TRUTH, n)["L0"], abs=0.03)


def test_sizes_rules():
    runs = _simulated([3e7])
    with pytest.raises(FitInputError, match="one size cannot separate"):
        check_sizes(runs, "mpl-n")
    no_size = [dataclasses.replace(runs[0], meta={})]
    with pytest.raises(FitInputError, match=r"no 'params'"):
        check_sizes(no_size, "mpl-n")
    assert check_sizes(_simulated([3e7, 3.03e7, 9e7]), "mpl-n") == [3e7, 9e7]  # within 2 %: one size
    assert distinct_sizes([1e8, None, 5e7, 1e8]) == [5e7, 1e8]
    assert size_prior("C") == {"a": (0.34, 1.0), "rA": (1.0, 1.0), "rC": (1.0, 1.0)}
    assert dict(get_law("tissue-n").default_prior) == size_prior("C")


@pytest.mark.parametrize("name", ["mpl-n", "tissue-n"])
def test_final_loss_gradient_is_the_size_blind_law_at_that_size(name):
    law = get_law(name)
    values = {**TRUTH, "C": TRUTH["C"] if name == "mpl-n" else 0.4, "rC": 1.1, "lam": 0.999}
    lr = _cosine()
    loss, grad = law.final_loss_and_grad(values, lr, warmup=100, n_params=3e8)
    inner_loss, inner_grad = law.inner.final_loss_and_grad(law.at_size(values, 3e8), lr, warmup=100)
    assert loss == pytest.approx(inner_loss, rel=1e-12)
    np.testing.assert_allclose(grad, inner_grad, rtol=1e-12)
    # (the MPL design is compressed: here 1.4e-6 of the loss from the exact sum, within its error bound)
    assert loss == pytest.approx(law.predict(values, lr, warmup=100, at=[lr.size - 1], n_params=3e8)[0], rel=1e-5)
    with pytest.raises(FitInputError, match="params"):
        law.final_loss_and_grad(values, lr, warmup=100)
