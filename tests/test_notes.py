"""Typed notes and recorded options: every fact a fit reports is a Note (kind, warning class, message, data), the
warning emitted is the note's class (never guessed from its words), and notes, options and prior survive JSON."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from scalefit.errors import AssumptionWarning, IllConditionedWarning, ParameterAtBoundWarning
from scalefit.fitting import fit
from scalefit.readers import read_runs
from scalefit.results import FitOptions, FitResult, Note
from scalefit.results.notes import KINDS

from test_fitting import TISSUE_TRUTH, sim_runs

BUNDLED = sorted((Path(__file__).resolve().parents[1] / "data" / "runs" / "curves").glob("tiny_*.csv"))[:3]


def _fit(*args, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = fit(*args, **kw)
    return res, caught


def test_each_warning_is_its_note_and_a_bound_note_carries_the_numbers() -> None:
    res, caught = _fit(sim_runs("tissue", TISSUE_TRUTH), "tissue", bounds={"alpha": (0.7, 0.9)}, n_starts=8)
    assert [(w.category, str(w.message)) for w in caught] == [(n.warning, n.message) for n in res.notes if n.warning]
    (bound,) = [n for n in res.notes if n.kind == "at_bound"]
    assert bound.warning is ParameterAtBoundWarning
    assert bound.data == {"param": "alpha", "side": "lower", "bound": 0.7, "suggest": "0.07:0.9"}
    assert res.messages == tuple(n.message for n in res.notes)
    assert {n.kind for n in res.notes} <= set(KINDS)


def test_a_poorly_determined_parameter_is_ill_conditioned_even_when_its_fix_names_bounds() -> None:
    """The message suggests '--bounds C=...'; matching the text once made it a ParameterAtBoundWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runs = read_runs([str(p) for p in BUNDLED])
    res, caught = _fit(runs, "mpl", prior={"beta": 1.0, "gamma": (0.6, 0.5)}, law_error=False, n_starts=16)
    (ill,) = [n for n in res.notes if n.kind == "ill_conditioned"]
    assert "--bounds C=" in ill.message and ill.warning is IllConditionedWarning
    assert ill.data["params"] == ["C"] and ill.data["condition"] > 1
    assert not any(issubclass(w.category, ParameterAtBoundWarning) for w in caught)
    assert any(w.category is IllConditionedWarning and str(w.message) == ill.message for w in caught)


def test_notes_without_a_warning_class_are_recorded_not_warned() -> None:
    res, caught = _fit(sim_runs("tissue", TISSUE_TRUTH), "tissue", bounds={"lam": (0.99, 0.9999)}, n_starts=4,
                       law_error=False)
    (freed,) = [n for n in res.notes if n.kind == "freed"]
    assert freed.warning is None and freed.data == {"param": "lam", "lower": 0.99, "upper": 0.9999}
    assert freed.message in res.messages and not any(str(w.message) == freed.message for w in caught)


def test_options_prior_and_notes_are_data_and_survive_json(tmp_path: Path) -> None:
    runs = sim_runs("tissue", TISSUE_TRUTH)
    res, _ = _fit(runs, "tissue", bounds={"alpha": (0.1, np.inf)}, fixed={"lam": 0.999}, prior={"alpha": (0.5, 2.0)},
                  n_starts=8, errors="iid", seed=3, max_points=None)
    assert res.options == FitOptions(seed=3, bounds={"alpha": (0.1, np.inf)}, fixed={"lam": 0.999},
                                     prior={"alpha": (0.5, 2.0)}, errors="iid", n_starts=8, max_points=None)
    assert res.prior == {"alpha": (0.5, 2.0)}
    assert res.notes[-1].kind == "law_error" and res.notes[-1].data["measured"] is True
    back = FitResult.from_json(res.to_json(tmp_path / "fit.json"))
    assert back.options == res.options and back.prior == res.prior and back.notes == res.notes
    # the options repeat the fit
    again, _ = _fit(runs, back.law, **back.options.kwargs(law_error=False), **back.law_options)
    assert again.objective_value == res.objective_value and again.values == res.values


def test_a_fit_file_written_before_notes_and_options_still_loads(tmp_path: Path) -> None:
    res, _ = _fit(sim_runs("tissue", TISSUE_TRUTH), "tissue", n_starts=4, law_error=False)
    data = json.loads(res.to_json(tmp_path / "new.json").read_text())
    for key in ("notes", "options", "prior"):
        del data[key]
    (tmp_path / "old.json").write_text(json.dumps(data))
    old = FitResult.from_json(tmp_path / "old.json")
    assert old.notes == () and old.options is None and old.prior is None
    assert old.messages == res.messages and old.values == res.values
    assert old.predict("cosine").final_loss == res.predict("cosine").final_loss


def test_a_note_names_only_scalefit_warnings() -> None:
    note = Note("prior_pull", "m", AssumptionWarning, {"z": 4.0})
    assert Note.from_dict(note.to_dict()) == note
    with pytest.raises(ValueError, match="not a scalefit warning"):
        Note.from_dict({**note.to_dict(), "warning": "UserWarning"})
