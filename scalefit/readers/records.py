"""Logs made of JSON records (one dict of metrics per entry): Hugging Face ``log_history`` and JSON lines files.
Each key is a column; numbers are values, ``null`` or a missing key is an empty cell, anything else is text.
Nested objects are flattened with ``/`` (``{"train": {"loss": 2}}`` is ``train/loss``)."""

from __future__ import annotations

import json
import math
from typing import Any, Mapping, Sequence

import numpy as np

from scalefit.readers.table import Column


def flatten(record: Mapping[str, Any], prefix: str = "", depth: int = 0) -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a/b": 1}`` (up to 8 levels; deeper objects stay as values, read as text)."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and depth < 8:
            out.update(flatten(value, name + "/", depth + 1))
        else:
            out[name] = value
    return out


def number(v: Any) -> float | None:
    """The float of a JSON number (None for anything else); an integer too large for a float is +-inf."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        return float(v)
    except OverflowError:
        return math.copysign(math.inf, v)


def columns(records: Sequence[Mapping[str, Any]]) -> list[Column]:
    """One column per key, in the order keys first appear."""
    keys: dict[str, None] = {}
    for r in records:
        for key in r:
            keys.setdefault(key, None)
    n = len(records)
    out = []
    for key in keys:
        vals = np.full(n, np.nan)
        empty = np.ones(n, dtype=bool)
        text = np.zeros(n, dtype=bool)
        raw = np.full(n, "", dtype=object)
        for j, r in enumerate(records):
            v = r.get(key)
            if v is None:
                continue
            empty[j] = False
            try:
                raw[j] = json.dumps(v) if not isinstance(v, str) else v
            except (ValueError, TypeError, RecursionError):
                raw[j] = "<unprintable>"
            x = number(v)
            if x is None:
                text[j] = True
            else:
                vals[j] = x
        out.append(Column(key, vals, empty, text, raw.astype(str)))
    return out
