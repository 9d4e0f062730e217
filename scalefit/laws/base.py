"""What every law declares: its parameters as data (:class:`ParamSpec`) and a registry by name.

The ParamSpec table is the single source for fit bounds, for validating user ``--bounds``, for the report, and
for tests that feed out-of-range values (scikit-learn's constraint tables play the same role).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ParamSpec:
    """One law parameter.

    Attributes
    ----------
    name : str
        Name as used in reports, JSON and ``--bounds`` (the paper's symbol, ASCII: ``L0``, ``alpha``, ``lam``).
    lower, upper : float
        Fit bounds (inclusive); ``-inf``/``inf`` when unbounded.
    linear : bool
        True when the law is linear in this parameter for fixed non-linear ones (solved by variable projection).
    default : float
        A typical value: the centre of the start grid, or the value used when the parameter is fixed.
    doc : str
        Meaning in the paper's words and equation numbers.
    fixed : bool
        True when the parameter is held at ``default`` unless the user asks to fit it (e.g. Tissue's ``lam``).
    """

    name: str
    lower: float
    upper: float
    linear: bool
    default: float
    doc: str
    fixed: bool = False

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies inside the bounds."""
        return self.lower <= value <= self.upper
