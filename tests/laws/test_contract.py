"""One battery of contract checks run on every registered loss-curve law (scikit-learn's common-checks habit)."""

from __future__ import annotations

import numpy as np
import pytest

from scalefit.errors import FitInputError
from scalefit.laws import LAWS, get_law

N_PARAMS = 3e7
CASES = [pytest.param(name, opts, id=f"{name}{'-' + '-'.join(opts) if opts else ''}")
         for name in sorted(LAWS) for opts in ({},)]
CASES += [pytest.param("tissue", {"fit_lam": True}, id="tissue-fit_lam"),
          pytest.param("mpl", {"variant": "official"}, id="mpl-official"),
          pytest.param("mpl", {"compress": False}, id="mpl-exact")]


def _schedule() -> tuple[np.ndarray, int]:
    W, T = 100, 2000
    s = np.arange(T)
    lr = 3e-5 + (3e-4 - 3e-5) / 2 * (1 + np.cos(np.pi * (s - W) / (T - W)))
    lr[:W] = 3e-4 * s[:W] / (W - 1)
    return lr, W


def _values(law) -> dict[str, float]:
    return law.defaults()


@pytest.mark.parametrize("name,opts", CASES)
def test_param_table(name, opts):
    law = get_law(name, **opts)
    assert law.name == name and law.citation
    assert len(set(law.names)) == len(law.names)
    for p in law.params:
        assert p.doc, p.name
        assert p.lower < p.default < p.upper, p.name
        if not p.linear:
            assert np.isfinite(p.lower) and np.isfinite(p.upper), p.name
    assert set(law.linear_names) | set(law.nonlinear_names) | set(law.fixed_names) == set(law.names)
    assert not set(law.nonlinear_names) & set(law.fixed_names)


@pytest.mark.parametrize("name,opts", CASES)
def test_design_shapes_and_predict(name, opts):
    law = get_law(name, **opts)
    lr, W = _schedule()
    at = np.arange(W, lr.size, 17)
    prep = law.prepare(lr, warmup=W, at=at, n_params=N_PARAMS)
    vals = _values(law)
    theta = np.array([vals[k] for k in law.nonlinear_names])
    X = law.design(theta, prep)
    assert X.shape == (len(law.linear_names), at.size)
    assert np.all(np.isfinite(X))
    np.testing.assert_allclose(law.design(vals, prep), X)  # mapping and array theta agree
    pred = law.predict(vals, lr, warmup=W, at=at, n_params=N_PARAMS)
    assert pred.shape == (at.size,)
    np.testing.assert_allclose(law.linear_values(vals) @ X, pred)
    jac = law.design_jac(theta, prep)
    assert jac is None or (jac.shape == (theta.size,) + X.shape and np.all(np.isfinite(jac)))
    full = law.predict(vals, lr[1:], warmup=W - 1, n_params=N_PARAMS)  # default: every step (lr[0] = 0 dropped)
    assert full.shape == (lr.size - 1,) and np.all(np.isfinite(full))


@pytest.mark.parametrize("name,opts", CASES)
def test_constant_schedule_gives_a_smooth_decreasing_curve(name, opts):
    law = get_law(name, **opts)
    lr = np.full(5000, 3e-4)
    pred = law.predict(_values(law), lr, warmup=0, n_params=N_PARAMS)
    assert np.all(np.isfinite(pred))
    assert np.all(np.diff(pred) < 0)
    assert np.all(np.diff(pred, 2) > 0)  # convex: a power law in the LR area, no annealing term


@pytest.mark.parametrize("name,opts", CASES)
def test_bad_inputs_name_the_value(name, opts):
    law = get_law(name, **opts)
    with pytest.raises(FitInputError, match=r"lr\[2\]"):
        law.prepare(np.array([1e-3, 1e-3, -1.0]), warmup=0, n_params=N_PARAMS)
    with pytest.raises(FitInputError, match="warmup"):
        law.prepare(np.full(10, 1e-3), warmup=10, n_params=N_PARAMS)
    with pytest.raises(FitInputError, match="outside the schedule"):
        law.prepare(np.full(10, 1e-3), warmup=0, at=[3, 10], n_params=N_PARAMS)
    with pytest.raises(FitInputError, match="theta has"):
        law.design(np.zeros(len(law.nonlinear_names) + 1),
                   law.prepare(np.full(10, 1e-3), warmup=0, n_params=N_PARAMS))


def test_unknown_law_lists_the_known_ones():
    with pytest.raises(KeyError, match="known laws: mpl, mpl-n, tissue, tissue-n"):
        get_law("nope")


@pytest.mark.parametrize("name,opts", CASES)
def test_declarations_are_consistent(name, opts):
    """What a law declares for the fitter, optimizer, planner and CLI (scalefit.laws.base) refers to its own table."""
    law = get_law(name, **opts)
    assert law.title and law.citation.startswith(LAWS.reference(name))
    for p, (centre, sd) in law.default_prior.items():  # a prior on log(p): a positive nonlinear parameter
        spec = law.spec(p)
        assert not spec.linear and 0 < spec.lower <= centre <= spec.upper and sd > 0, p
    assert set(law.drop_shape) <= set(law.nonlinear_names)
    assert isinstance(law.size_aware, bool)
    if law.optimizable:
        lr = np.concatenate((np.linspace(3e-5, 3e-4, 100), np.full(400, 3e-4)))
        lr[300:] = np.linspace(3e-4, 3e-5, 200)
        loss, grad = law.final_loss_and_grad(_values(law), lr, warmup=100, n_params=N_PARAMS)
        assert grad.shape == (400,) and np.all(np.isfinite(grad))
        assert loss == pytest.approx(law.predict(_values(law), lr, warmup=100, at=[499], n_params=N_PARAMS)[0],
                                     rel=1e-6)  # (the MPL design is compressed, error bound ~1e-7)


def test_the_registry_imports_a_law_only_when_asked() -> None:
    """`scalefit --help` lists the laws without importing them (no numpy at startup)."""
    import subprocess
    import sys

    probe = ("import sys; from scalefit.laws import LAWS; names = list(LAWS); help = LAWS.help_text(); "
             "print(names, 'scalefit.laws.multipower' in sys.modules, 'numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['mpl', 'tissue', 'tissue-n', 'mpl-n'] False False"
