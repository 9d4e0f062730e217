"""How lists of names, lines and values are written into one-line notes and errors, the same way everywhere."""

from __future__ import annotations

from collections.abc import Iterable


def listed(items: Iterable[object], most: int) -> str:
    """``items`` joined by commas, the first ``most`` of them, with ``, ...`` when there are more: a note names
    examples of what it counts without growing with the data."""
    items = list(items)
    return ", ".join(map(str, items[:most])) + (", ..." if len(items) > most else "")
