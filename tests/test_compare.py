"""scalefit.compare: several laws on the same runs, the table `--law all` prints, per-law option entries."""

from __future__ import annotations

import warnings

import pytest
from typer.testing import CliRunner

import scalefit
from scalefit.cli import app
from scalefit.errors import FitInputError

from test_cli_fit import write_run
from test_fitting import TISSUE_TRUTH, sim_runs


def _runs():
    return sim_runs("tissue", TISSUE_TRUTH)


def test_compare_fits_every_comparable_law_and_splits_options_by_parameter() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cmp = scalefit.compare(_runs(), n_starts=4, law_error=False, fixed={"lam": 0.99})
    assert [r.law for r in cmp.fits] == ["mpl", "tissue"]  # registry order; tissue-n needs model sizes
    tissue = cmp.fits[1]
    assert tissue.params["lam"].fixed and tissue.params["lam"].value == 0.99 and tissue.options.fixed == {"lam": 0.99}
    assert cmp.fits[0].options.fixed == {}  # MPL has no lam
    lines = cmp.table().splitlines()
    assert lines[0].split()[:3] == ["law", "status", "objective"] and len(lines) == 3
    assert cmp.summary() == {"fits": [r.summary() for r in cmp.fits]}


def test_a_parameter_no_law_has_is_refused_before_any_fit(monkeypatch) -> None:
    from scalefit.fitting import comparison

    monkeypatch.setattr(comparison, "fit", lambda *a, **k: pytest.fail("fitted"))
    with pytest.raises(FitInputError, match="--bounds zzz: no selected law has that parameter"):
        scalefit.compare(_runs(), laws=["mpl", "tissue"], bounds={"zzz": (1, 2)})


def test_the_cli_prints_the_library_table(tmp_path) -> None:
    files = [write_run(tmp_path / f"{r.path}", r) for r in _runs()]
    res = CliRunner().invoke(app, ["fit", *map(str, files), "--law", "all", "--starts", "4", "--no-law-error"])
    assert res.exit_code == 0, res.output
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from scalefit.readers import read_runs

        cmp = scalefit.compare(read_runs([str(f) for f in files]), n_starts=4, law_error=False)
    table = [line.rsplit(None, 2)[0] for line in cmp.table().splitlines()[1:]]  # seconds and law error aside
    printed = [line.rsplit(None, 2)[0] for line in res.stdout.splitlines() if line.startswith(("mpl ", "tissue "))]
    assert printed == table
