"""What a run file says besides its curve: constant metadata, the other numeric columns, the warmup stated in
metadata, and what the fitted target measures (its unit, for the labels of plots)."""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

import numpy as np

from scalefit.readers.table import META_KEYS, Column, Table, find_column, parse_scalar
from scalefit.runs import TARGET_UNITS
_PPL = re.compile(r"(^|[^a-z])(ppl|perplexity)([^a-z]|$)")
_BITS = re.compile(r"(^|[^a-z])(bpb|bpc|bpt|bits?)([^a-z]|$)")
_WER = re.compile(r"(^|[^a-z])wer([^a-z]|$)")


def meta_and_extra(table: Table, used: list[Column], target: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Metadata from ``# key: value`` lines and constant known-metadata columns; other numeric columns as extra."""
    meta = dict(table.meta)
    extra: dict[str, np.ndarray] = {}
    used_ids = {id(c) for c in used}
    canonical: dict[int, str] = {}
    if target != "val_loss":
        val = find_column(table, "val_loss")
        if val is not None and id(val) not in used_ids:
            canonical[id(val)] = "val_loss"
    if target != "loss":
        trn = find_column(table, "loss")
        if trn is not None and id(trn) not in used_ids:
            canonical[id(trn)] = "loss"
    for col in table.columns:
        if id(col) in used_ids:
            continue
        name = canonical.get(id(col), col.name)
        key = name.strip().lower()
        if key in META_KEYS and col.is_constant():
            value = parse_scalar(col.cell(0))
            if key in meta and meta[key] != value:
                table.notes.append(f"metadata '{key}' is {meta[key]!r} in the header but the column says "
                                   f"{value!r}; the header wins")
            else:
                meta.setdefault(key, value)
                table.notes.append(f"metadata '{key}' = {value!r} from a constant column")
            continue
        if col.text.any():
            if col.is_constant():
                meta.setdefault(key, col.cell(0))
                table.notes.append(f"metadata '{key}' from a constant text column")
            else:
                i = int(np.flatnonzero(col.text)[0])
                table.notes.append(f"{table.what} '{col.name}' ignored: it holds text ({col.show(i)} at "
                                   f"{table.lines_text(np.array([i]))})")
            continue
        if name in extra:
            name = col.name
        extra[name] = col.values.astype(np.float64, copy=False)
    return meta, extra


def stated_warmup(meta: Mapping[str, Any], notes: list[str]) -> int | None:
    """The warmup in steps that the metadata states (``warmup_steps``; HF's ``warmup_ratio`` of ``max_steps``),
    or None. A fraction below 1 in ``warmup_steps`` is a ratio, as in recent Hugging Face versions."""
    w = meta.get("warmup_steps")
    ratio = meta.get("warmup_ratio")
    total = meta.get("max_steps")
    if _number(w) and 0 < float(w) < 1:
        ratio, w = w, None
    if _number(w) and float(w) >= 0 and float(w) == int(w) and (w > 0 or not (_number(ratio) and ratio > 0)):
        return int(w)
    if _number(ratio) and 0 < float(ratio) < 1:
        if _number(total) and total > 0:
            steps = int(math.ceil(float(ratio) * float(total)))
            notes.append(f"warmup {steps} steps from the metadata's warmup_ratio {ratio:g} of max_steps {total}")
            return steps
        notes.append(f"the metadata gives warmup_ratio {ratio:g} but no max_steps; the warmup is taken from the LR")
        return None
    return 0 if _number(w) and w == 0 else None


def _number(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool) and math.isfinite(x)


def target_unit(name: str, meta: Mapping[str, Any]) -> str:
    """What the target measures: a unit the metadata states (``loss_unit``), else one its name says (``ppl``,
    ``bpb``, ``wer``), else nats for a loss written by scalefit's own trainer (cross-entropy in nats), else
    'unknown' (a loss column from another logger: most are nats, but nothing says so)."""
    stated = str(meta.get("loss_unit", "")).strip().lower()
    for unit in TARGET_UNITS:
        if stated == unit.lower():
            return unit
    n = name.strip().lower()
    if _PPL.search(n):
        return "perplexity"
    if _WER.search(n):
        return "WER"
    if _BITS.search(n):
        return "bits"
    if "scalefit_version" in meta and "loss" in n:
        return "nats"
    return "unknown"
