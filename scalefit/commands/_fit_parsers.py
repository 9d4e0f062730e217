"""The values of the fit options (``--law``, ``--bounds``, ``--fix``, ``--prior``) parsed into the library's
arguments, shared by ``scalefit fit`` and ``scalefit evaluate``; each malformed value is one FitInputError line."""

from __future__ import annotations

from typing import Any, Optional


def law_names(law: Optional[str], runs: Any = None) -> list[str]:
    """The laws ``--law`` names: one registered law, or ``all`` (the size-blind laws, or with ``runs`` of several
    model sizes the size-aware ones); with no ``--law``, the law the runs' sizes choose (mpl, or mpl-n)."""
    from scalefit.errors import FitInputError
    from scalefit.fitting.comparison import default_laws
    from scalefit.fitting.sizes import choose_law
    from scalefit.laws import LAWS, get_law

    if law is None:
        return [choose_law(runs or [])[0]]
    name = law.strip().lower()
    if name == "all":
        return default_laws(runs or [])[0]
    try:
        get_law(name)
    except (KeyError, ValueError, TypeError):
        raise FitInputError(f"unknown law {law!r}. Use {', '.join(LAWS)} or all. Example: --law mpl") from None
    return [name]


def parse_bounds(items: Optional[list[str]]) -> dict[str, tuple[float, float]]:
    """``["alpha=0.1:1", ...]`` -> ``{"alpha": (0.1, 1.0)}``; one-line FitInputError on a malformed item."""
    from scalefit.errors import FitInputError

    out: dict[str, tuple[float, float]] = {}
    for item in items or []:
        name, eq, rng = item.partition("=")
        lo, colon, hi = rng.partition(":")
        try:
            if not (eq and colon and name.strip()):
                raise ValueError
            out[name.strip()] = (_num(lo), _num(hi))
        except ValueError:
            raise FitInputError(f"--bounds {item!r} is not name=lo:hi. Example: --bounds alpha=0.001:1") from None
    return out


def parse_fixed(items: Optional[list[str]]) -> dict[str, float]:
    """``["lam=0.999"]`` -> ``{"lam": 0.999}``."""
    from scalefit.errors import FitInputError

    out: dict[str, float] = {}
    for item in items or []:
        name, eq, value = item.partition("=")
        try:
            if not (eq and name.strip()):
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise FitInputError(f"--fix {item!r} is not name=value. Example: --fix lam=0.999") from None
    return out


def parse_prior(items: Optional[list[str]]) -> dict[str, Any] | None:
    """``["beta=1", "C=2:0.5"]`` -> ``{"beta": 1.0, "C": (2.0, 0.5)}``; ``["none"]`` -> ``{}``; nothing -> None
    (the law's default prior)."""
    from scalefit.errors import FitInputError

    if not items:
        return None
    out: dict[str, Any] = {}
    for item in items:
        if item.strip().lower() == "none":
            continue
        name, eq, rest = item.partition("=")
        centre, colon, sd = rest.partition(":")
        try:
            if not (eq and name.strip()):
                raise ValueError
            out[name.strip()] = (float(centre), float(sd)) if colon else float(rest)
        except ValueError:
            raise FitInputError(f"--prior {item!r} is not name=sd or name=centre:sd. Example: --prior beta=1") \
                from None
    return out


def _num(text: str) -> float:
    t = text.strip().lower()
    if t in ("inf", "+inf"):
        return float("inf")
    if t == "-inf":
        return float("-inf")
    return float(t)
