"""Priors: a Gaussian on log(parameter) for nonlinear parameters, as extra residual rows of the fit problem.

A law's default prior holds what its data rarely determine (MPL: the loss-drop shape C, beta, gamma near the
official code's start 1, 0.5, 0.5); ``docs/fitting.md`` has the evidence for the default and its sd. The fit says
when it leaves a default entry out (the user's bounds exclude its centre) and when the data pull a parameter far
from the default's centre; a prior the user gave is the user's choice and is not second-guessed.
"""

from __future__ import annotations

import math
from typing import Iterator, Mapping

import numpy as np

from scalefit.errors import AssumptionWarning, FitInputError
from scalefit.fitting.problem import Problem
from scalefit.results import Note


class _DefaultPriors(Mapping):
    """``{law name: its default prior}`` for the registered laws that declare one (``Law.default_prior``), read from
    the registry on access."""

    def __getitem__(self, name: str) -> dict[str, tuple[float, float]]:
        from scalefit.laws import LAWS

        prior = dict(LAWS[name].default_prior)
        if not prior:
            raise KeyError(name)
        return prior

    def __iter__(self) -> Iterator[str]:
        from scalefit.laws import LAWS

        return (name for name in list(LAWS) if LAWS[name].default_prior)

    def __len__(self) -> int:
        return sum(1 for _ in self)


#: The default prior of each law that declares one, ``{law: {name: (centre, sd)}}`` of a Gaussian on log(parameter)
#: (MPL: its loss-drop shape held near the official code's start; evidence: ``docs/fitting.md``).
DEFAULT_PRIORS: Mapping[str, dict[str, tuple[float, float]]] = _DefaultPriors()


def default_prior(problem: Problem, law_name: str, notes: list[Note]) -> dict[str, tuple[float, float]]:
    """The law's default prior (``Law.default_prior``) on the parameters the user left free; an entry whose bounds
    exclude its centre, or do not keep the parameter positive (the prior is on its log), is left out with a message."""
    out = {}
    for name, (centre, sd) in dict(problem.law.default_prior).items():
        if name not in problem.names or not problem.free[problem.names.index(name)]:
            continue  # a parameter the user fixed needs no prior
        i = problem.names.index(name)
        lo, hi = float(problem.lower[i]), float(problem.upper[i])
        if 0 < lo <= centre <= hi:
            out[name] = (centre, sd)
            continue
        why = (f"its lower bound {lo:g} is not positive" if lo <= 0 else
               f"your bounds {lo:g}:{hi:g} exclude its centre {centre:g}")
        notes.append(Note("prior_dropped", f"fit {law_name}: the default prior on log {name} is left out: {why}. Pass "
                          "--prior to set one that fits your bounds.", AssumptionWarning,
                          {"param": name, "centre": centre, "lower": lo, "upper": hi}))
    return out


def resolve_prior(problem: Problem, law_name: str,
                   prior: Mapping[str, float | tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """Validate ``prior`` and attach it to ``problem``; returns ``{name: (centre, sd)}`` in law order."""
    specs = {p.name: p for p in problem.law.params}
    out: dict[str, tuple[float, float]] = {}
    for name, item in (prior or {}).items():
        if name not in specs:
            raise FitInputError(f"unknown parameter {name!r} in the prior; law {law_name} has "
                                f"{', '.join(problem.names)}.", value=name)
        if isinstance(item, (tuple, list)):
            if len(item) != 2:
                raise FitInputError(f"prior of {name!r} must be sd or (centre, sd); got {item!r}.", value=item)
            centre, sd = float(item[0]), float(item[1])
        else:
            centre, sd = float(specs[name].default), float(item)
        i = problem.names.index(name)
        if specs[name].linear or not problem.free[i]:
            raise FitInputError(f"a prior applies to free nonlinear parameters; {name!r} is "
                                f"{'an amplitude' if specs[name].linear else 'fixed'} in law {law_name}.", value=name)
        if not (sd > 0 and math.isfinite(sd)) or not (centre > 0 and math.isfinite(centre)) \
                or not problem.lower[i] > 0:
            raise FitInputError(f"prior of {name!r}: needs centre > 0, 0 < sd < inf and a positive lower bound "
                                f"(it is a Gaussian on log {name}); got centre {centre:g}, sd {sd:g}. "
                                f"Example: --prior {name}=0.5", value=item)
        out[name] = (centre, sd)
    out = {n: out[n] for n in problem.names if n in out}
    problem.prior_idx = np.array([problem.names.index(n) for n in out], dtype=np.int64)
    problem.prior_mu = np.log(np.array([c for c, _ in out.values()], dtype=np.float64))
    problem.prior_w = np.array([problem.delta / sd for _, sd in out.values()], dtype=np.float64)
    return out


#: Prior sd's beyond which a fitted parameter is reported as pulled away from its prior's centre.
PRIOR_PULL = 3.0


def prior_pulls(problem: Problem, p: np.ndarray, prior_spec: Mapping[str, tuple[float, float]],
                law_name: str) -> list[Note]:
    """Notes for parameters the data pull more than :data:`PRIOR_PULL` prior sd from the default prior's centre:
    the runs then say something the prior overrides (for MPL, a loss-drop shape of their own). A prior the user
    gave is the user's choice and is not second-guessed."""
    out = []
    for name, (centre, sd) in prior_spec.items():
        value = float(p[problem.names.index(name)])
        z = math.log(value / centre) / sd
        if abs(z) > PRIOR_PULL:
            out.append(Note(
                "prior_pull", f"fit {law_name}: the data pull {name} to {value:.4g}, {abs(z):.0f} sd from the default "
                f"prior's centre {centre:g}: the runs carry information the prior overrides. Compare with --prior "
                "none (or a wider --prior) on held-out runs.", AssumptionWarning,
                {"param": name, "value": value, "centre": centre, "sd": sd, "z": z}))
    return out
