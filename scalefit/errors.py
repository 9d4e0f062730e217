"""Errors and warnings for user mistakes and for everything scalefit assumes.

A :class:`ScalefitError` is a user's mistake or an impossible request: its message is one line that names
the file, the line or column, the value, the rule and the fix. The CLI prints it in red and exits with code 2;
it never shows a traceback for one. Structured fields (``path``, ``line``, ``column``, ``value``) let tests
and callers match facts rather than text.

A :class:`ScalefitWarning` reports an assumption or a repair (interpolated LRs, a parameter at its bound, an
extrapolated prediction). Nothing is repaired silently: every repair is such a warning.

This module imports nothing from scalefit, so every other module may import it.
"""

from __future__ import annotations

from typing import Any


class ScalefitError(Exception):
    """A user's mistake or an impossible request, described in one line.

    Parameters
    ----------
    message
        The problem, the rule and the fix, without the location prefix.
    path, line, column, value
        Where the problem is and what was found there. ``line`` is the 1-based line of the file as an editor
        shows it (header and ``#`` metadata lines count).
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: str | None = None,
        value: Any = None,
    ) -> None:
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        self.column = column
        self.value = value
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path + (f":{self.line}" if self.line is not None else "") + ": "
        return where + " ".join(self.message.split())  # always one line


class RunFileError(ScalefitError):
    """A run file (CSV, JSON log, event directory) breaks the run-file contract."""


class TableError(ScalefitError):
    """A summary table (one row per run) has a bad column, unit or value."""


class ScheduleSpecError(ScalefitError):
    """A schedule spec string or schedule file is invalid."""


class FitInputError(ScalefitError):
    """The data cannot support the requested fit (too few points, no LR, no loss values)."""


class ConvergenceError(ScalefitError):
    """A fit failed to converge. ``best`` holds the best result found, so a caller can inspect it."""

    def __init__(self, message: str, *, best: Any = None, **kwargs: Any) -> None:
        self.best = best
        super().__init__(message, **kwargs)


class ResultFileError(ScalefitError):
    """A saved result (fit.json, hp.json, ...) is missing, malformed or of an unknown schema."""


class MissingDependencyError(ScalefitError):
    """An optional dependency is needed; the message names the extra to install."""


class ScalefitWarning(UserWarning):
    """Base class of every warning scalefit emits."""


class AssumptionWarning(ScalefitWarning):
    """scalefit assumed or repaired something in the input (interpolation, detected warmup, ...)."""


class ParameterAtBoundWarning(ScalefitWarning):
    """A fitted parameter sits on a bound; its stderr is unreliable."""


class IllConditionedWarning(ScalefitWarning):
    """The objective is flat in some direction: parameters are poorly determined by the data."""


class ExtrapolationWarning(ScalefitWarning):
    """A prediction lies far outside the range of the fitted data."""


class FitFailedWarning(ScalefitWarning):
    """A result cannot be true: the law does not describe the fitted runs (in-sample R2 < 0, a fitted loss <= 0),
    or a prediction is a loss <= 0 or below the data's stated floor. It is flagged, never a result to use."""


class DegenerateOptimumWarning(ScalefitWarning):
    """The law's optimum is known to be degenerate (e.g. optimising a schedule under the LR-annealing law)."""


def require(module: str, extra: str, purpose: str) -> Any:
    """Import an optional module or raise :class:`MissingDependencyError` naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised by hiding modules in tests
        raise MissingDependencyError(
            f"{purpose} needs the '{module}' package, which is not installed. "
            f"Install it with: pip install 'scalefit-lm[{extra}]'"
        ) from exc
