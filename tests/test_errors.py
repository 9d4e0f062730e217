"""ScalefitError messages: one line, location first, structured fields kept."""

from __future__ import annotations

import pytest

from scalefit.errors import ConvergenceError, RunFileError, ScalefitError


def test_message_names_file_and_line_on_one_line() -> None:
    err = RunFileError("column 'lr' is -3e-05;\n learning rates must be >= 0.", path="runs/a.csv", line=412,
                       column="lr", value=-3e-05)
    assert str(err) == "runs/a.csv:412: column 'lr' is -3e-05; learning rates must be >= 0."
    assert (err.path, err.line, err.column, err.value) == ("runs/a.csv", 412, "lr", -3e-05)
    assert isinstance(err, ScalefitError)


def test_message_without_location() -> None:
    assert str(ScalefitError("no runs given.")) == "no runs given."
    assert str(ScalefitError("empty file.", path="x.csv")) == "x.csv: empty file."


def test_convergence_error_carries_best() -> None:
    best = object()
    with pytest.raises(ConvergenceError) as info:
        raise ConvergenceError("no start converged.", best=best)
    assert info.value.best is best
