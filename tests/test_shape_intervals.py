"""The shape part of the default interval (issue 14.2): fit() keeps its refit under the shapes' measured spread,
predict() and differences carry it by default and name it, it can be turned off, and the fit JSON keeps it."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from scalefit import schedules
from scalefit import shape_uncertainty as su
from scalefit.errors import FitInputError, ResultFileError
from scalefit.fitting import fit
from scalefit.laws import get_law
from scalefit.results import INTERVAL_METHODS, FitResult
from scalefit.results.difference import difference

from test_cli_fit import invoke
from test_shape_uncertainty import PEAK, PUBLISHED, T, WARMUP, sim_runs

HELD = schedules.wsd(PEAK, T, warmup=WARMUP, decay=0.1, shape="exp")
AT = np.array([T - 1])


@pytest.fixture(scope="module")
def runs():
    return sim_runs(PUBLISHED)


@pytest.fixture(scope="module")
def shaped(runs) -> FitResult:
    """A default-prior MPL fit at the published shape, with its shape refit (no law error: two fits, not seven)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(runs, "mpl", n_starts=8, law_error=False, shape_uncertainty=True)


def _quiet(res: FitResult, schedule, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return res.predict(schedule, **kw)


def test_the_fit_keeps_its_refit_and_the_note_names_the_prior_s_pull(shaped) -> None:
    su_ = shaped.shape_uncertainty
    assert su_ is not None and set(su_.prior) == {"C", "beta", "gamma"}
    assert shaped.interval_method == "covariance+shape"
    note = [n for n in shaped.notes if n.kind == "shape_uncertainty"]
    assert len(note) == 1 and note[0].warning is None
    c = shaped.params["C"].value
    assert f"holds the loss-drop shape at C {c:.3g} (refit {su_.values['C']:.3g})" in note[0].message
    assert "method='covariance+cv' leaves it out" in note[0].message
    # the default prior pulls C to ~1; under the measured spread the data take it well away
    assert abs(c - 1.0) < 0.1 and su_.values["C"] > 1.5


def test_by_default_the_interval_is_the_refit_band_stretched_to_the_point(shaped) -> None:
    truth = float(get_law("mpl").predict(PUBLISHED, HELD, warmup=WARMUP, at=AT)[0])
    p = _quiet(shaped, HELD, warmup=WARMUP, at=AT)
    cov = _quiet(shaped, HELD, warmup=WARMUP, at=AT, method="covariance")
    alt = _quiet(shaped.shape_uncertainty.apply_to(shaped), HELD, warmup=WARMUP, at=AT, method="covariance")
    assert p.method == "covariance+shape" and p.summary()["method"] == "covariance+shape"
    assert p.loss[0] == cov.loss[0]  # the point is the default fit's
    assert p.lower[0] == pytest.approx(min(alt.lower[0], cov.loss[0]), rel=1e-12)
    assert p.upper[0] == pytest.approx(max(alt.upper[0], cov.loss[0]), rel=1e-12)
    assert not cov.lower[0] <= truth <= cov.upper[0]  # the default prior's band misses the published shape
    assert p.lower[0] <= truth <= p.upper[0]
    assert "shape the default prior holds" in INTERVAL_METHODS[p.method]


def test_differences_carry_the_shape_part_too(shaped) -> None:
    other = schedules.cosine(PEAK, T, warmup=WARMUP, final=PEAK / 10)
    law = get_law("mpl")
    true_d = float(law.predict(PUBLISHED, HELD, warmup=WARMUP, at=AT)[0] - law.predict(PUBLISHED, other,
                                                                                         warmup=WARMUP, at=AT)[0])
    a, b = _quiet(shaped, HELD, warmup=WARMUP, at=AT), _quiet(shaped, other, warmup=WARMUP, at=AT)
    d = difference(shaped, a, b)
    plain = difference(shaped, *(_quiet(shaped, s, warmup=WARMUP, at=AT, method="covariance") for s in (HELD, other)))
    assert d.method == "covariance+shape" and d.final == pytest.approx(plain.final, rel=1e-12)
    assert d.final_lower <= d.final <= d.final_upper
    assert d.final_lower <= true_d <= d.final_upper
    assert not plain.final_lower <= true_d <= plain.final_upper


def test_the_shape_part_is_off_by_asking_and_absent_without_the_default_prior(runs, shaped) -> None:
    assert _quiet(shaped, HELD, warmup=WARMUP, at=AT, method="covariance").method == "covariance"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bare = fit(runs, "mpl", n_starts=8, law_error=False)  # default: as law_error (fold refits do none)
        own = fit(runs, "mpl", n_starts=8, law_error=False, shape_uncertainty=True, prior={"C": 0.5})
    assert bare.shape_uncertainty is None and bare.interval_method == "covariance"
    assert own.shape_uncertainty is None  # the caller's prior is the caller's belief: nothing to widen
    with pytest.raises(FitInputError, match="needs a fit that measured its shape uncertainty"):
        bare.predict(HELD, warmup=WARMUP, at=AT, method="covariance+shape")
    assert su.unshaped("covariance+shape+cv") == "covariance+cv" and su.unshaped("covariance") == "covariance"


def test_the_fit_json_keeps_it_and_refuses_it_damaged(shaped, tmp_path) -> None:
    path = shaped.to_json(tmp_path / "fit.json")
    back = FitResult.from_json(path)
    assert back.shape_uncertainty.values == shaped.shape_uncertainty.values
    assert np.array_equal(back.shape_uncertainty.covariance, shaped.shape_uncertainty.covariance)
    a, b = _quiet(shaped, HELD, warmup=WARMUP, at=AT), _quiet(back, HELD, warmup=WARMUP, at=AT)
    assert (a.lower[0], a.upper[0]) == (b.lower[0], b.upper[0])
    data = json.loads(path.read_text())
    old = {k: v for k, v in data.items() if k != "shape_uncertainty"}  # a file written before it: loads, no part
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert FitResult.from_json(tmp_path / "old.json").interval_method == "covariance"
    good = data["shape_uncertainty"]
    for damage, key in ((lambda s: s["values"].update(C="x"), "shape_uncertainty.values.C"),
                        (lambda s: s["prior"].update(C=[1.0, -1.0]), "shape_uncertainty.prior.C"),
                        (lambda s: s["shares"].update(C=2.0), "shape_uncertainty.shares.C"),
                        (lambda s: s.update(covariance=[[1.0]]), "shape_uncertainty.covariance"),
                        (lambda s: s["values"].pop("beta"), "shape_uncertainty")):
        bad = json.loads(json.dumps(good))
        damage(bad)
        (tmp_path / "bad.json").write_text(json.dumps({**data, "shape_uncertainty": bad}))
        with pytest.raises(ResultFileError, match=f"key '{key}"):
            FitResult.from_json(tmp_path / "bad.json")


def test_cli_predict_names_the_shape_part_and_no_shape_leaves_it_out(shaped, tmp_path) -> None:
    path = shaped.to_json(tmp_path / "fit.json")
    res = invoke("predict", path, "--schedule", "wsd:decay=0.2", "--schedule", "cosine")
    assert res.exit_code == 0, res.output
    assert "interval 90%: parameter covariance + shape the default prior holds" in res.stdout
    assert "  shape: a refit's band under the shapes' measured spread" in res.stdout
    got = json.loads(invoke("predict", path, "--schedule", "cosine", "--json").stdout)["predictions"][0]
    off = json.loads(invoke("predict", path, "--schedule", "cosine", "--json", "--no-shape").stdout)["predictions"][0]
    assert got["method"] == "covariance+shape" and off["method"] == "covariance"
    assert got["final_loss"] == off["final_loss"] and got["upper"] - got["lower"] > off["upper"] - off["lower"]
