"""Loss-curve and scaling laws: pure functions of schedules and sizes, with their parameters declared as data.

``LAWS`` maps a law name (the CLI's ``--law``) to its class; :func:`get_law` builds one with options, e.g.
``get_law("tissue", fit_lam=True)`` or ``get_law("mpl", variant="official")``.
"""

from __future__ import annotations

from typing import Any

from scalefit.laws.annealing import AnnealingLaw
from scalefit.laws.annealing_size import AnnealingSizeLaw
from scalefit.laws.base import Law, ParamSpec, Prepared
from scalefit.laws.multipower import MultiPowerLaw
from scalefit.laws.multipower_size import MultiPowerSizeLaw

LAWS: dict[str, type[Law]] = {
    "tissue": AnnealingLaw,
    "tissue-n": AnnealingSizeLaw,
    "mpl": MultiPowerLaw,
    "mpl-n": MultiPowerSizeLaw,
}


def get_law(name: str, **options: Any) -> Law:
    """The law registered as ``name``, built with ``options``.

    Raises ``KeyError`` (listing the known names) for an unknown name and ``TypeError`` for an unknown option.
    """
    try:
        cls = LAWS[name]
    except KeyError:
        raise KeyError(f"unknown law {name!r}; known laws: {', '.join(sorted(LAWS))}") from None
    return cls(**options)


__all__ = ["LAWS", "Law", "ParamSpec", "Prepared", "get_law", "AnnealingLaw", "AnnealingSizeLaw", "MultiPowerLaw",
           "MultiPowerSizeLaw"]
