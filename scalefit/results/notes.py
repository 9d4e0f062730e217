"""Typed notes: everything a fit reports (a repair, an assumption, a problem of the optimum) as data.

A :class:`Note` has a ``kind`` (one of :data:`KINDS`), the message in words, the warning class it is emitted as
(None: recorded, not warned) and the numbers behind it (``data``). The fit's stages return notes; the driver emits
the warnings from them, so a warning's class is chosen where the fact is known, never from the message's text.
``FitResult.notes`` keeps them and the JSON stores them (``FitResult.messages`` keeps the words alone).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping

from scalefit import errors as errors_mod
from scalefit.errors import ScalefitWarning

#: Every kind of note a fit records, with its meaning.
KINDS = {
    "freed": "a parameter the law holds fixed is fitted because the caller gave it bounds",
    "warmup_rows": "observed rows inside the warmup are not fitted",
    "thinned": "a dense run is thinned to max_points evenly spaced rows",
    "window": "a run's fit window (--min-step / --max-step, or a default one) leaves rows out of the fit",
    "prior_dropped": "an entry of the law's default prior is left out (the caller's bounds exclude its centre)",
    "autocorrelation_cap": "the residuals' lag-1 autocorrelation is at its 0.99 cap",
    "at_bound": "a parameter sits on a bound",
    "no_covariance": "the Jacobian at the optimum is singular: no stderr",
    "ill_conditioned": "parameters (or a combination of them) are poorly determined",
    "max_evals": "the polish ran out of evaluations",
    "prior_holds": "the data alone leave parameters undetermined; the prior holds them",
    "prior_pull": "the data pull a parameter far from the default prior's centre",
    "below_floor": "the fitted L0 lies below the data's known irreducible loss",
    "law_error": "the cross-validation of the law's own error: what it measured, or why it could not",
    "failed": "the fit does not describe its runs (mean in-sample R2 < 0, or a fitted loss <= 0): status FAILED",
    "poor_run": "the fit does worse than the mean loss on one run (its in-sample R2 < 0), though not on average",
    "law_choice": "no law was given, and the runs' model sizes chose one (mpl-n for several sizes)",
    "mixed_sizes": "a size-blind law fits runs of several model sizes as one model, as the caller allowed",
    "size_terms": "what a size-aware law's size terms rest on: the caller's values, the prior (two sizes), the data",
    "size_error": "the error of a prediction at another model size: size folds (>= 3 sizes) or the reference rule",
}


@dataclass(frozen=True)
class Note:
    """One fact a fit reports: ``kind`` (:data:`KINDS`), ``message`` (one line), ``warning`` (the
    :class:`~scalefit.errors.ScalefitWarning` subclass it is emitted as, or None) and ``data`` (plain values)."""

    kind: str
    message: str
    warning: type[ScalefitWarning] | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def emit(self, stacklevel: int = 2) -> None:
        """Warn with ``warning`` (nothing for a note without one); ``stacklevel`` as for ``warnings.warn``, counted
        from the caller of this method."""
        if self.warning is not None:
            warnings.warn(self.message, self.warning, stacklevel=stacklevel + 1)

    def to_dict(self) -> dict[str, Any]:
        """Plain types for JSON (the warning by class name)."""
        return {"kind": self.kind, "warning": None if self.warning is None else self.warning.__name__,
                "message": self.message, "data": dict(self.data)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Note:
        """Read :meth:`to_dict`'s output; ValueError for an unknown warning class."""
        name = data.get("warning")
        warning = None
        if name is not None:
            warning = getattr(errors_mod, str(name), None)
            if not (isinstance(warning, type) and issubclass(warning, ScalefitWarning)):
                raise ValueError(f"note warning {name!r} is not a scalefit warning class")
        return cls(kind=str(data["kind"]), message=str(data["message"]), warning=warning,
                   data=dict(data.get("data") or {}))
