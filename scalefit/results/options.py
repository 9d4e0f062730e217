"""The options of a fit as data: what :func:`scalefit.fitting.fit` was called with, recorded in the result and its
JSON so that a fit can be read, compared and repeated (``fit(runs, r.law, **r.options.kwargs(), **r.law_options)``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Mapping

from scalefit.errors import FitInputError

#: Default Huber threshold on log-loss residuals (0.1 % of the loss).
DEFAULT_DELTA = 1e-3
#: Default number of deterministic starts of the nonlinear search.
DEFAULT_STARTS = 64
#: How many of the best starts are searched locally.
DEFAULT_LOCAL = 3
#: Observed rows per run above which a run is thinned for the fit (dense 1e6-step logs).
DEFAULT_MAX_POINTS = 5000
#: Evaluation budget of each local search and of the polish.
DEFAULT_MAX_NFEV = 2000
#: The robust losses and residual models a fit knows.
LOSSES = ("huber", "mse")
ERRORS = ("ar1", "iid")


@dataclass(frozen=True)
class FitOptions:
    """The caller's options of one fit (``fit()``'s keyword arguments but the law's own options).

    ``prior`` is as given: None means the law's default prior (``FitResult.prior`` holds the prior applied),
    ``{}`` none. ``bounds`` and ``fixed`` are by parameter name. ``allow_mixed_sizes``: a size-blind law may fit
    runs of several model sizes as one model (:mod:`scalefit.fitting.sizes`); files written before it read as False.
    """

    seed: int = 0
    loss: str = "huber"
    delta: float = DEFAULT_DELTA
    bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    fixed: Mapping[str, float] = field(default_factory=dict)
    prior: Mapping[str, Any] | None = None
    errors: str = "ar1"
    n_starts: int = DEFAULT_STARTS
    n_local: int = DEFAULT_LOCAL
    max_nfev: int = DEFAULT_MAX_NFEV
    max_points: int | None = DEFAULT_MAX_POINTS
    law_error: bool = True
    allow_mixed_sizes: bool = False

    def check(self) -> None:
        """Raise FitInputError (one line, the value and what to pass) for an option no fit can use."""
        if self.loss not in LOSSES:
            raise FitInputError(f"loss must be 'huber' or 'mse', got {self.loss!r}.")
        if self.errors not in ERRORS:
            raise FitInputError(f"errors must be 'ar1' or 'iid', got {self.errors!r}. Example: --errors iid")
        if not (self.delta > 0 and math.isfinite(self.delta)):
            raise FitInputError(f"delta must be a positive number, got {self.delta!r}.")
        if self.n_starts < 1:
            raise FitInputError(f"n_starts must be >= 1, got {self.n_starts}.")

    def kwargs(self, **changes: Any) -> dict[str, Any]:
        """The options as ``fit()`` keyword arguments (``changes`` replace some, e.g. ``law_error=False``)."""
        opts = replace(self, **changes) if changes else self
        return {name: getattr(opts, name) for name in self.__dataclass_fields__}

    def to_dict(self) -> dict[str, Any]:
        """Plain types for JSON: bounds as [lower, upper] (infinite ones as "inf"/"-inf"), a prior entry as sd or
        [centre, sd]."""
        out = asdict(self)
        out["bounds"] = {k: [_num_out(lo), _num_out(hi)] for k, (lo, hi) in self.bounds.items()}
        out["fixed"] = {k: float(v) for k, v in self.fixed.items()}
        if self.prior is not None:
            out["prior"] = {k: (list(map(float, v)) if isinstance(v, (tuple, list)) else float(v))
                            for k, v in self.prior.items()}
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FitOptions:
        """Read :meth:`to_dict`'s output (TypeError/ValueError/KeyError on a damaged one)."""
        prior = data.get("prior")
        return cls(
            seed=int(data["seed"]), loss=str(data["loss"]), delta=float(data["delta"]),
            bounds={str(k): (float(v[0]), float(v[1])) for k, v in dict(data.get("bounds") or {}).items()},
            fixed={str(k): float(v) for k, v in dict(data.get("fixed") or {}).items()},
            prior=None if prior is None else {str(k): (tuple(map(float, v)) if isinstance(v, list) else float(v))
                                              for k, v in dict(prior).items()},
            errors=str(data["errors"]), n_starts=int(data["n_starts"]), n_local=int(data["n_local"]),
            max_nfev=int(data["max_nfev"]),
            max_points=None if data.get("max_points") is None else int(data["max_points"]),
            law_error=bool(data["law_error"]), allow_mixed_sizes=bool(data.get("allow_mixed_sizes", False)),
        )


def _num_out(x: float) -> float | str:
    x = float(x)
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf" if x < 0 else "nan")
