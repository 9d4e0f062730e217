"""Rows that share a step: merged (formats that log one metric per row), or, with ``--resumed``, the rows of a
resumed or shard-concatenated log put in step order with each step from the latest segment that logged it.

Nothing is lost that was not logged again: a row is left out only when a later segment logged its step, and the
warning names the lines left out and those that differ from their replacement.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from scalefit.readers.table import Column, Problem, Table, raise_problems
from scalefit.wording import listed


def same_cells(c: Column, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether column ``c`` holds the same cell in rows ``a`` and rows ``b`` (as written, or both empty)."""
    if c.raw is not None:
        return c.raw[a] == c.raw[b]
    return (c.values[a] == c.values[b]) | (np.isnan(c.values[a]) & np.isnan(c.values[b]))


def _position(table: Table, col: Column | None) -> int | None:
    return None if col is None else next(k for k, c in enumerate(table.columns) if c is col)


def _mapped(old: Table, new: Table, cols: Sequence[Column | None]) -> tuple[Column | None, ...]:
    """``cols`` of ``old`` as the columns at the same positions of ``new``."""
    return tuple(None if (k := _position(old, c)) is None else new.columns[k] for c in cols)


def merge(table: Table, cols: Sequence[Column | None]) -> tuple[Table, tuple[Column | None, ...]]:
    """Merge rows sharing a step (formats that log each metric on its own row).

    ``cols`` are the step column and the columns the run uses (lr, target), mapped into the merged table on
    return. Two values of a used column on one step are an error; in any other column (an evaluation's runtime
    logged again by a final evaluate()) the last value is kept and a note counts the steps.
    """
    steps = cols[0].values  # type: ignore[union-attr]
    new_group = np.r_[True, steps[1:] != steps[:-1]]
    start = np.flatnonzero(new_group)  # first row of each group
    group = np.cumsum(new_group) - 1  # (n,) group id per row
    ngroups = start.size
    problems: list[Problem] = []
    merged: list[Column] = []
    used = {id(c) for c in cols if c is not None}
    relogged: list[str] = []
    for col in table.columns:
        rows = np.flatnonzero(~col.empty)
        g = group[rows]
        ug, first_pos = np.unique(g, return_index=True)
        pick = np.full(ngroups, -1, dtype=np.int64)  # first filled row per group
        pick[ug] = rows[first_pos]
        ref = pick[g]
        bad = rows[~same_cells(col, rows, ref)]
        if bad.size and id(col) not in used:
            _, last_pos = np.unique(g[::-1], return_index=True)
            pick[ug] = rows[::-1][last_pos]  # the last filled row per group
            relogged.append(f"'{col.name}' ({np.unique(group[bad]).size})")
        elif bad.size:
            def say(i: int, col: Column = col, ref_of=dict(zip(rows.tolist(), ref.tolist()))) -> str:
                j = ref_of[i]
                step = cols[0].show(i)  # type: ignore[union-attr]
                return (f"{table.what} '{col.name}' is {col.show(i)} but {table.lines_text(np.array([j]))} has "
                        f"{col.show(j)} for the same step {step}; a step may hold one value per {table.what}. Was a "
                        "resumed run appended twice? Then pass --resumed.")
            problems.append(Problem(bad, col.name, lambda i, col=col: col.show(i), say))
        new = col.take(np.where(pick >= 0, pick, start))
        new.empty = pick < 0
        if new.raw is not None:
            new.raw = np.where(new.empty, "", new.raw)
        new.values = np.where(new.empty, np.nan, new.values)
        new.text = new.text & ~new.empty
        merged.append(new)
    raise_problems(table, problems)
    table.notes.append(f"merged {table.n - ngroups} rows that share a step with another row (one metric per row)")
    if relogged:
        table.notes.append(f"{table.what}s logged twice with different values on some steps, the last value kept: "
                           f"{listed(relogged, 5)} (steps)")
    label = None if table.label is None else (lambda i, f=table.label, s=start: f(int(s[i])))
    out = Table(path=table.path, columns=merged, line=table.line[start], fmt=table.fmt, header_line=table.header_line,
                meta=table.meta, notes=table.notes, has_lines=table.has_lines, label=label, merge_steps=True,
                prefer=table.prefer, what=table.what, left_out=table.left_out, warns=table.warns)
    return out, _mapped(table, out, cols)


def rewind(table: Table, cols: Sequence[Column | None]) -> tuple[Table, tuple[Column | None, ...], str | None]:
    """Put the rows of a resumed or shard-concatenated log in step order, each step from the latest segment.

    A segment is a stretch of rows whose steps increase; a new one starts wherever the step goes back (or, outside
    formats that log one metric per row, repeats). Rows kept from an earlier segment inside a later segment's step
    range (a restart that did not re-log them) are named, for the user to check. Returns the new table, ``cols``
    mapped into it, and the warning that says what changed (None when nothing did). Tables with other problems
    are returned unchanged: those errors come first.
    """
    step_col = cols[0]
    v = step_col.values  # type: ignore[union-attr]
    valid = ~step_col.empty & ~step_col.text & np.isfinite(v) & (v == np.round(v))  # type: ignore[union-attr]
    if table.problems or table.n < 2 or not valid.all():
        return table, tuple(cols), None
    if table.merge_steps:
        return _rewind_cells(table, cols)
    boundary = np.diff(v) <= 0
    if not boundary.any():
        return table, tuple(cols), None
    seg = np.r_[0, np.cumsum(boundary)]  # (n,) segment of each row
    uniq, inv = np.unique(v, return_inverse=True)
    latest = np.zeros(uniq.size, dtype=np.int64)
    np.maximum.at(latest, inv, seg)
    keep = seg == latest[inv]
    idx = np.flatnonzero(keep)
    idx = idx[np.argsort(v[idx], kind="stable")]
    gone = np.flatnonzero(~keep)
    first = np.r_[0, np.flatnonzero(boundary) + 1]
    last = np.r_[first[1:] - 1, table.n - 1]
    inside = np.zeros(table.n, dtype=bool)  # kept rows a later segment's range covers without re-logging them
    for k in range(1, first.size):
        inside |= keep & (seg < k) & (v >= v[first[k]]) & (v <= v[last[k]])
    parts = [f"--resumed: {first.size} segments (the steps go back at {table.lines_text(first[1:])})"]
    same = np.ones(gone.size, dtype=bool)  # left-out rows that equal their replacement, cell by cell
    if gone.size:
        rep = idx[np.searchsorted(v[idx], v[gone])]
        for c in table.columns:
            same &= same_cells(c, gone, rep)
        parts.append(f"left out {gone.size} row(s) logged again by a later segment ({table.lines_text(gone)}), "
                     f"{int(same.sum())} of them identical to the later row")
    parts.append("rows put in step order")
    msg = "; ".join(parts)
    if inside.any():
        msg += (f"; {int(inside.sum())} kept row(s) from an earlier segment lie inside a later one's steps but were "
                f"not logged again ({table.lines_text(np.flatnonzero(inside))}): check them")
    if gone.size and np.any(np.diff(v[first]) < 0) and not np.all(same):
        msg += ("; a segment starts before the one above it (shards saved out of order?), so the row later in the "
                "file, which was kept, may not be the later one in time: check the rows that differ")
    new = table.rows(idx, msg)
    if gone.size:
        new.left_out["logged again by a later segment"] = int(gone.size)
    return new, _mapped(table, new, cols), msg


def _rewind_cells(table: Table, cols: Sequence[Column | None]) -> tuple[Table, tuple[Column | None, ...],
                                                                        str | None]:
    """``rewind`` for formats that log one metric per row (Lightning, HF): each (step, column) keeps the value of
    the last row that filled it, rows left empty by that go, and the rest are put in step order. A restart that
    re-logs the step it crashed at (no step goes back) is caught too: its second value differs from the first."""
    step_col = cols[0]
    v = step_col.values  # type: ignore[union-attr]
    went_back = int(np.sum(np.diff(v) < 0))
    gone_cells = 0
    differed: list[np.ndarray] = []
    emptied = np.zeros(table.n, dtype=bool)
    new_cols: list[Column] = []
    for c in table.columns:
        rows = np.flatnonzero(~c.empty)
        if c is step_col or rows.size < 2:
            new_cols.append(c)
            continue
        rev = rows[::-1]
        _, first = np.unique(v[rev], return_index=True)
        kept = rev[first]  # the last filled row of each step, in step order
        gone = np.setdiff1d(rows, kept)
        if not gone.size:
            new_cols.append(c)
            continue
        rep = kept[np.searchsorted(v[kept], v[gone])]
        differed.append(gone[~same_cells(c, gone, rep)])
        gone_cells += gone.size
        nc = Column(c.name, c.values.copy(), c.empty.copy(), c.text.copy(), None if c.raw is None else c.raw.copy(),
                    c.source)
        nc.values[gone], nc.empty[gone], nc.text[gone] = np.nan, True, False
        if nc.raw is not None:
            nc.raw[gone] = ""
        new_cols.append(nc)
        emptied[gone] = True
    diff_rows = np.unique(np.concatenate(differed)) if differed else np.zeros(0, dtype=np.int64)
    if not went_back and not diff_rows.size:
        return table, tuple(cols), None  # plain merge rows: nothing was logged twice with another value
    others = [c for c, old in zip(new_cols, table.columns) if old is not step_col]
    now_empty = np.all([c.empty for c in others], axis=0) if others else np.zeros(table.n, dtype=bool)
    keep = ~(emptied & now_empty)  # rows whose every value was logged again later
    idx = np.flatnonzero(keep)
    idx = idx[np.argsort(v[idx], kind="stable")]
    msg = (f"--resumed: left out {gone_cells} earlier value(s) of steps logged again later, "
           f"{diff_rows.size} row(s) with a different value ({table.lines_text(diff_rows)})"
           if diff_rows.size else f"--resumed: left out {gone_cells} earlier value(s) of steps logged again later, "
           "all equal to the later ones")
    msg += f"; the steps go back {went_back} time(s); rows put in step order"
    edited = Table(path=table.path, columns=new_cols, line=table.line, fmt=table.fmt, header_line=table.header_line,
                   meta=table.meta, notes=table.notes, has_lines=table.has_lines, label=table.label,
                   merge_steps=table.merge_steps, prefer=table.prefer, what=table.what, left_out=table.left_out,
                   warns=table.warns)
    new = edited.rows(idx, msg)
    if (~keep).any():
        new.left_out["logged again by a later segment"] = int((~keep).sum())
    return new, _mapped(table, new, cols), msg
