"""Loss-curve and scaling laws: pure functions of schedules and sizes, with their parameters declared as data.

:data:`LAWS` is the registry of loss-curve laws: the CLI's ``--law`` names, in the order ``--law all`` fits them.
:func:`get_law` builds one with options, e.g. ``get_law("tissue", fit_lam=True)`` or
``get_law("mpl", variant="official")``. What a law declares (prior, optimizer objective, size-awareness, ...) is
listed in :mod:`scalefit.laws.base`. Adding a law: write its module, then add one line to ``_REGISTRY`` below.

The registry imports a law's module on first use, so that ``scalefit --help`` (which lists the names) loads no
numpy; ``Law``, ``ParamSpec``, ``Prepared`` and the law classes below are imported the same way.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from typing import Any

#: name -> (where the law class lives, "module:Class"; the short reference the CLI help shows). One line per law.
_REGISTRY: dict[str, tuple[Any, str]] = {
    "mpl": ("scalefit.laws.multipower:MultiPowerLaw", "Luo et al. 2025"),
    "tissue": ("scalefit.laws.annealing:AnnealingLaw", "Tissue et al. 2024"),
    "tissue-n": ("scalefit.laws.annealing_size:AnnealingSizeLaw", "Tissue et al. 2024"),
    "mpl-n": ("scalefit.laws.multipower_size:MultiPowerSizeLaw", "Luo et al. 2025"),
}


def _load(target: Any) -> Any:
    if not isinstance(target, str):
        return target
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


class LawRegistry(MutableMapping):
    """Registered name -> law class, imported on first access. A value set is a class, a ``"module:Class"`` string
    or a pair of either with the short reference the CLI help shows."""

    def __init__(self, entries: dict[str, tuple[Any, str]]) -> None:
        self._entries = dict(entries)

    def __getitem__(self, name: str) -> Any:
        target, ref = self._entries[name]
        if isinstance(target, str):
            target = _load(target)
            self._entries[name] = (target, ref)
        return target

    def __setitem__(self, name: str, value: Any) -> None:
        target, ref = value if isinstance(value, tuple) else (value, "")
        self._entries[name] = (target, str(ref))

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def reference(self, name: str) -> str:
        """The short reference of law ``name`` (the first part of its citation), or ""."""
        return self._entries[name][1]

    def help_text(self) -> str:
        """``"mpl (Luo et al. 2025), tissue (Tissue et al. 2024), tissue-n"``: the names with their references."""
        return ", ".join(f"{n} ({self.reference(n)})" if self.reference(n) else n for n in self)


LAWS = LawRegistry(_REGISTRY)


def get_law(name: str, **options: Any) -> Any:
    """The law registered as ``name``, built with ``options``.

    Raises ``KeyError`` (listing the known names) for an unknown name and ``TypeError`` for an unknown option.
    """
    try:
        cls = LAWS[name]
    except KeyError:
        raise KeyError(f"unknown law {name!r}; known laws: {', '.join(sorted(LAWS))}") from None
    return cls(**options)


def comparable_laws() -> list[str]:
    """The laws ``--law all`` and :func:`scalefit.compare` fit by default: every registered law that needs no model
    size (size-aware laws need runs of several sizes), in registry order."""
    return [name for name in LAWS if not LAWS[name].size_aware]


def optimizable_laws(*, degenerate: bool = True) -> list[str]:
    """The registered laws the schedule optimizer can use (with ``degenerate=False``: whose optimum is not
    degenerate, i.e. worth training with)."""
    return [name for name in LAWS
            if LAWS[name].final_loss_and_grad is not _load("scalefit.laws.base:Law").final_loss_and_grad
            and (degenerate or not LAWS[name].degenerate_optimum)]


_LAZY = {
    "Law": "scalefit.laws.base:Law",
    "ParamSpec": "scalefit.laws.base:ParamSpec",
    "Prepared": "scalefit.laws.base:Prepared",
    "AnnealingLaw": "scalefit.laws.annealing:AnnealingLaw",
    "AnnealingSizeLaw": "scalefit.laws.annealing_size:AnnealingSizeLaw",
    "MultiPowerLaw": "scalefit.laws.multipower:MultiPowerLaw",
    "MultiPowerSizeLaw": "scalefit.laws.multipower_size:MultiPowerSizeLaw",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return _load(_LAZY[name])
    raise AttributeError(f"module 'scalefit.laws' has no attribute {name!r}")


__all__ = ["LAWS", "LawRegistry", "comparable_laws", "get_law", "optimizable_laws", *_LAZY]
