"""What every reader shares: a table of cells with file locations, the checks of the run-file contract, and the
construction of a :class:`~scalefit.runs.Run` (dense per-step LR, loss observations, notes, warmup).

Each format adapter (``csv.py``, ``wandb.py``, ``hf.py``, ``lightning.py``, ``tensorboard.py``) turns its file into
a :class:`Table`; :func:`build_run` validates it (collecting every problem first) and builds the run.

Where the LR array starts (``Run.step0``)
-----------------------------------------
- First row at step 0: ``step0 = 0``. First row at step 1: the steps are read as 1-based (step 1 is the first
  optimizer step), ``step0 = 1``, the schedule is known from the start; a note says so.
- First row later, no option: ``step0`` = the first step; a note and a warning say that the LR before it is
  unknown and that curve laws need ``--warmup W`` or ``--schedule-file F``; ``Run.warmup`` is 0.
- ``warmup=W``: ``step0 = 0``; steps before the first logged LR get ``peak * (min(s + 1, W)) / W`` with ``peak``
  chosen so that the ramp meets the first logged LR (``peak`` = that LR when the first row is at or after ``W``).
- ``schedule_file``: ``step0 = 0`` and every step's LR comes from the file; it must cover the last row and agree
  with a logged lr column within ``SCHEDULE_RTOL`` (relative), else an error names the first disagreeing row.
Between rows the LR is interpolated linearly (``np.interp``, exact for a linear schedule); empty lr cells between
logged ones are interpolated the same way; empty lr cells before the first or after the last logged LR are errors.

Note and warning conventions
----------------------------
Every assumption or repair becomes a sentence in :attr:`Run.notes` (no path prefix; the run has one). Those that
change numbers the laws see (LR interpolated between rows, LR filled before the first row, the LR before the first
row unknown, missing LR cells filled) are also emitted as :class:`~scalefit.errors.AssumptionWarning` with the
path in front (``"runs/a.csv: LR interpolated between rows; ..."``). Facts that change no number (which alias was
used, the delimiter, skipped columns or rows, detected warmup) are notes only.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from scalefit.errors import AssumptionWarning, RunFileError
from scalefit.runs import Run

# ---------------------------------------------------------------------------------------------------------------
# column aliases: data, not code. Matching is case-insensitive; the first name found in the list wins.
# ---------------------------------------------------------------------------------------------------------------
ALIASES: dict[str, tuple[str, ...]] = {
    "step": ("step", "_step", "global_step", "trainer/global_step", "train/global_step", "iter", "iteration",
             "iterations", "steps", "Step"),
    "lr": ("lr", "learning_rate", "train/learning_rate", "train/lr", "learning-rate", "lr-adamw", "lr-adam",
           "lr-sgd", "lr-adamw/pg1", "lr-adam/pg1", "lr-sgd/pg1", "optimizer/lr", "trainer/lr", "lr/train",
           "learning_rate/train"),
    "loss": ("loss", "train/loss", "train_loss", "loss/train", "train_loss_step", "train/loss_step",
             "training_loss", "train/train_loss", "trainer/loss", "loss_step"),
    "val_loss": ("val_loss", "eval_loss", "eval/loss", "val/loss", "loss/val", "valid_loss", "valid/loss",
                 "validation_loss", "validation/loss", "loss/validation", "loss/valid", "val_loss_epoch"),
}

#: Metadata keys the run-file contract names; constant columns with these names become metadata.
META_KEYS: tuple[str, ...] = ("params", "batch_size", "seq_len", "tokens_per_step", "peak_lr", "warmup_steps",
                              "schedule", "seed", "model")

#: Relative tolerance between a logged lr column and a --schedule-file.
SCHEDULE_RTOL = 1e-6


def parse_scalar(text: str) -> Any:
    """A metadata value: int when it looks like an integer, float when numeric, else the stripped text."""
    s = text.strip()
    try:
        return int(s)
    except ValueError:
        pass
    try:
        x = float(s)
    except ValueError:
        return s
    if np.isfinite(x) and x == int(x) and ("e" in s.lower()) and abs(x) < 2**63:
        return int(x)  # 1.2e8 parameters is an integer count
    return x


# ---------------------------------------------------------------------------------------------------------------
# the table every adapter produces
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class Column:
    """One column: its name in the file, values (NaN where empty or text), and masks of empty and text cells.

    ``raw`` holds the cell text (for messages); ``None`` for formats without text cells.
    """

    name: str
    values: np.ndarray
    empty: np.ndarray
    text: np.ndarray
    raw: np.ndarray | None = None

    @classmethod
    def from_cells(cls, name: str, raw: np.ndarray) -> "Column":
        """Parse stripped cell strings (vectorised; a per-cell loop only when some cell is not a number)."""
        raw = np.asarray(raw, dtype=str)
        empty = raw == ""
        text = np.zeros(raw.shape, dtype=bool)
        filled = np.where(empty, "nan", raw)
        try:
            values = filled.astype(np.float64)
        except ValueError:
            values = np.full(raw.shape, np.nan)
            for i, cell in enumerate(filled.tolist()):
                try:
                    values[i] = float(cell)
                except ValueError:
                    text[i] = True
        return cls(name, values, empty, text, raw)

    @classmethod
    def from_values(cls, name: str, values: np.ndarray) -> "Column":
        """A numeric column from floats (NaN = not logged)."""
        values = np.asarray(values, dtype=np.float64)
        return cls(name, values, np.isnan(values), np.zeros(values.shape, dtype=bool), None)

    def show(self, i: int) -> str:
        """The cell as the user wrote it: numbers bare, text quoted."""
        if self.raw is not None:
            cell = str(self.raw[i])
            return repr(cell) if self.text[i] else cell
        return "empty" if self.empty[i] else f"{self.values[i]:.10g}"

    def take(self, idx: np.ndarray) -> "Column":
        return Column(self.name, self.values[idx], self.empty[idx], self.text[idx],
                      None if self.raw is None else self.raw[idx])

    def is_constant(self) -> bool:
        """Every cell filled with the same text (or the same number)."""
        if self.empty.any() or self.values.size == 0:
            return False
        if self.raw is not None:
            return bool(np.all(self.raw == self.raw[0]))
        return bool(np.all(self.values == self.values[0]))


@dataclass
class Table:
    """Rows of one run before validation.

    ``line[i]`` is the 1-based file line of row ``i`` for text formats; for JSON / event formats it is the
    position the adapter uses in messages (``label(i)``), and ``has_lines`` is False.
    """

    path: str
    columns: list[Column]
    line: np.ndarray
    fmt: str
    header_line: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    problems: list["Problem"] = field(default_factory=list)  # row problems found while parsing (ragged rows)
    has_lines: bool = True
    label: Callable[[int], str] | None = None  # row -> "log_history[12]" for formats without lines
    merge_steps: bool = False  # rows sharing a step are merged (Lightning, HF, TensorBoard) instead of an error
    prefer: dict[str, tuple[str, ...]] = field(default_factory=dict)  # format-specific aliases, tried first
    what: str = "column"  # the word for a field in messages ('column', 'key', 'tag')

    @property
    def n(self) -> int:
        return int(self.line.size)

    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def where(self, i: int) -> tuple[int | None, str]:
        """(line for the error field, text prefix for the message) of row ``i``."""
        if self.has_lines:
            return int(self.line[i]), ""
        return None, (self.label(i) if self.label else f"row {i + 1}") + ": "

    def lines_text(self, idx: np.ndarray, limit: int = 5) -> str:
        """'lines 40, 41, 97, ...' (or labels) for rows ``idx``."""
        shown = idx[:limit]
        if self.has_lines:
            body = ", ".join(str(int(self.line[i])) for i in shown)
            word = "line" if idx.size == 1 else "lines"
        else:
            body = ", ".join(self.where(int(i))[1].rstrip(": ") for i in shown)
            word = ""
        more = ", ..." if idx.size > limit else ""
        return f"{word} {body}{more}".strip()


@dataclass
class Problem:
    """Rows ``rows`` break one rule; ``describe(i)`` is the precise text for row ``i`` (no location)."""

    rows: np.ndarray
    column: str | None
    value: Callable[[int], Any]
    describe: Callable[[int], str]


def raise_problems(table: Table, problems: list[Problem]) -> None:
    """Raise one RunFileError naming the first problem (by row) and counting the other rows with problems."""
    problems = [p for p in problems if p.rows.size]
    if not problems:
        return
    firsts = [int(p.rows[0]) for p in problems]
    k = int(np.argmin(firsts))
    first_row = firsts[k]
    prob = problems[k]
    line, prefix = table.where(first_row)
    message = prefix + prob.describe(first_row)
    others = np.unique(np.concatenate([p.rows for p in problems]))
    others = others[others != first_row]
    if others.size:
        n = others.size
        listed = table.lines_text(others)
        end = "" if listed.endswith(".") else "."
        message += f" And {n} more {'row' if n == 1 else 'rows'} with problems: {listed}{end}"
    err = RunFileError(message, path=table.path, line=line, column=prob.column, value=prob.value(first_row))
    err.n_rows = int(others.size) + 1  # type: ignore[attr-defined]
    rows = [first_row, *others.tolist()]
    #: every row with a problem, as file lines (text formats) or labels like 'log_history[12]'
    err.lines = [int(table.line[i]) if table.has_lines else table.where(i)[1].rstrip(": ")  # type: ignore
                 for i in rows]
    raise err


# ---------------------------------------------------------------------------------------------------------------
# column resolution
# ---------------------------------------------------------------------------------------------------------------
def find_column(table: Table, canonical: str) -> Column | None:
    """The column for ``canonical`` (exact name, then aliases, case-insensitive); notes an alias when used."""
    by_lower: dict[str, Column] = {}
    for c in table.columns:
        by_lower.setdefault(c.name.strip().lower(), c)
    candidates = (*table.prefer.get(canonical, ()), canonical, *ALIASES.get(canonical, ()))
    for name in candidates:
        col = by_lower.get(name.lower())
        if col is not None:
            if col.name != canonical:
                table.notes.append(f"{table.what} '{col.name}' read as '{canonical}'")
            return col
    return None


def _missing(table: Table, name: str, hint: str) -> RunFileError:
    found = ", ".join(table.names()) or "none"
    return RunFileError(f"missing {table.what} '{name}' (found: {found}). {hint}", path=table.path,
                        line=table.header_line, column=name)


def _target_hint(table: Table, target: str, used: set[str]) -> str:
    lossy = [c.name for c in table.columns if "loss" in c.name.lower() and c.name not in used]
    if lossy:
        return f"Pass --target {lossy[0]}."
    return f"Pass --target with the {table.what} that holds the loss."


# ---------------------------------------------------------------------------------------------------------------
# the checks and the run
# ---------------------------------------------------------------------------------------------------------------
def build_run(
    table: Table,
    *,
    target: str = "loss",
    warmup: int | None = None,
    schedule_file: str | None = None,
    resumed: bool = False,
) -> Run:
    """Validate ``table`` against the run-file contract and build the :class:`Run` (see the module docstring).

    ``resumed``: rows superseded by a later segment of a resumed run are left out first (:func:`_rewind`).
    """
    if table.n == 0:
        raise RunFileError(
            f"no data rows{' after the header' if table.has_lines else ''}. A run file needs one row per logged "
            "step: step,lr,loss.", path=table.path, line=table.header_line)
    if warmup is not None and (int(warmup) != warmup or warmup < 0):
        raise RunFileError(f"--warmup is {warmup}; it must be a whole number of steps >= 0. E.g. --warmup 2000.",
                           path=table.path, column="warmup", value=warmup)

    step_col = find_column(table, "step")
    if step_col is None:
        raise _missing(table, "step", "The step column may also be named Step, _step, global_step or iter.")
    lr_col = find_column(table, "lr")
    if lr_col is None and schedule_file is None:
        raise _missing(table, "lr", "Log the learning rate, or pass --schedule-file F with the per-step LR "
                                    "(CSV step,lr).")
    tgt_col = find_column(table, target) if target in ALIASES else _exact(table, target)
    if tgt_col is None:
        used = {c.name for c in (step_col, lr_col) if c is not None}
        raise _missing(table, target, _target_hint(table, target, used))
    if tgt_col is step_col or tgt_col is lr_col:
        raise RunFileError(f"--target {target} names the {table.what} '{tgt_col.name}', which is the step or lr. "
                           "Pass the loss column.", path=table.path, line=table.header_line, column=target)

    rewound = None
    if resumed:
        table, (step_col, lr_col, tgt_col), rewound = _rewind(table, (step_col, lr_col, tgt_col))

    problems = list(table.problems)
    problems += _check_steps(table, step_col)
    if lr_col is not None:
        problems += _check_lr(table, lr_col, schedule_file)
    problems += _check_target(table, tgt_col)
    problems.append(_check_order(table, step_col))
    raise_problems(table, problems)

    steps_f = step_col.values
    d = np.diff(steps_f)
    if table.merge_steps and np.any(d == 0):
        table, step_col, lr_col, tgt_col = _merge(table, step_col, lr_col, tgt_col)
        steps_f = step_col.values

    if not np.any(~tgt_col.empty):
        raise RunFileError(
            f"{table.what} '{tgt_col.name}' is empty on every row ({table.n} rows); nothing to fit. "
            f"{_target_hint(table, target, {step_col.name, tgt_col.name} | ({lr_col.name} if lr_col else set()))}",
            path=table.path, line=table.header_line, column=tgt_col.name)

    steps = steps_f.astype(np.int64)
    loss = tgt_col.values.copy()
    warns: list[str] = [] if rewound is None else [rewound]
    lr, step0, dense = _build_lr(table, steps, lr_col, warmup, schedule_file, warns)

    meta, extra = _meta_and_extra(table, {id(step_col), id(tgt_col)} | ({id(lr_col)} if lr_col else set()),
                                  target)

    # warmup: --warmup, else metadata, else detected when the schedule is known from the start
    from scalefit import schedules

    if warmup is not None:
        run_warmup = int(warmup)
    elif isinstance(meta.get("warmup_steps"), (int, np.integer)) and meta["warmup_steps"] >= 0:
        run_warmup = int(meta["warmup_steps"])
        table.notes.append(f"warmup {run_warmup} steps from metadata warmup_steps")
    elif step0 <= 1:
        run_warmup = int(schedules.detect_warmup(lr))
        table.notes.append(f"warmup {run_warmup} steps detected from the LR (steps up to its first peak)")
    else:
        run_warmup = 0
        table.notes.append("warmup unknown (the LR before the first row is unknown); set to 0")

    notes = tuple(dict.fromkeys(table.notes))  # keep order, drop repeats
    for text in warns:
        warnings.warn(f"{table.path}: {text}", AssumptionWarning, stacklevel=3)
    return Run(
        path=table.path,
        steps=steps,
        loss=loss,
        lr=lr,
        step0=int(step0),
        warmup=run_warmup,
        line=table.line.astype(np.int64),
        target=target,
        meta=meta,
        notes=notes,
        extra=extra,
        dense=dense,
    )


def _rewind(table: Table, cols: tuple[Column | None, ...]) -> tuple[Table, tuple[Column | None, ...], str | None]:
    """Put the rows of a resumed or shard-concatenated log in step order, each step from the latest segment.

    A segment is a stretch of rows whose steps increase; a new one starts wherever the step goes back (or, outside
    formats that log one metric per row, repeats). Each step keeps its rows from the latest segment that logged
    it, so every row left out has a replacement at its step and nothing is lost that was not logged again. Rows
    kept from an earlier segment inside a later segment's step range (a restart that did not re-log them) are
    named, for the user to check. Returns the new table, the given columns mapped into it, and the warning that
    says what changed (None when nothing did). Tables with other problems are returned unchanged: those errors
    come first.
    """
    step_col = cols[0]
    v = step_col.values
    valid = ~step_col.empty & ~step_col.text & np.isfinite(v) & (v == np.round(v))
    if table.problems or table.n < 2 or not valid.all():
        return table, cols, None
    if table.merge_steps:
        return _rewind_cells(table, cols)
    d = np.diff(v)
    boundary = d <= 0
    if not boundary.any():
        return table, cols, None
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
    n_seg = first.size
    inside = np.zeros(table.n, dtype=bool)  # kept rows a later segment's range covers without re-logging them
    for k in range(1, n_seg):
        lo, hi = v[first[k]], v[last[k]]
        inside |= keep & (seg < k) & (v >= lo) & (v <= hi)
    parts = [f"--resumed: {n_seg} segments (the steps go back at {table.lines_text(first[1:])})"]
    same_as_later = np.ones(gone.size, dtype=bool)  # left-out rows that equal their replacement, cell by cell
    if gone.size:
        rep = idx[np.searchsorted(v[idx], v[gone])]
        for c in table.columns:
            same_as_later &= _same_cells(c, gone, rep)
        parts.append(f"left out {gone.size} row(s) logged again by a later segment ({table.lines_text(gone)}), "
                     f"{int(same_as_later.sum())} of them identical to the later row")
    parts.append("rows put in step order")
    msg = "; ".join(parts)
    if inside.any():
        msg += (f"; {int(inside.sum())} kept row(s) from an earlier segment lie inside a later one's steps but were "
                f"not logged again ({table.lines_text(np.flatnonzero(inside))}): check them")
    if gone.size and np.any(np.diff(v[first]) < 0) and not np.all(same_as_later):
        msg += ("; a segment starts before the one above it (shards saved out of order?), so the row later in the "
                "file, which was kept, may not be the later one in time: check the rows that differ")
    return _rows_of(table, idx, {id(c): c for c in table.columns}, cols, msg)


def _same_cells(c: Column, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether column ``c`` holds the same cell in rows ``a`` and rows ``b`` (as written, or both empty)."""
    if c.raw is not None:
        return c.raw[a] == c.raw[b]
    return (c.values[a] == c.values[b]) | (np.isnan(c.values[a]) & np.isnan(c.values[b]))


def _rows_of(table: Table, idx: np.ndarray, columns: dict[int, Column], cols: tuple[Column | None, ...],
             msg: str) -> tuple[Table, tuple[Column | None, ...], str]:
    """The table made of rows ``idx`` (in that order) of ``columns`` (the table's columns by id, possibly
    edited), with ``msg`` as a note; and ``cols`` mapped into it."""
    mapping = {id(c): columns[id(c)].take(idx) for c in table.columns}
    new = Table(path=table.path, columns=[mapping[id(c)] for c in table.columns], line=table.line[idx],
                fmt=table.fmt, header_line=table.header_line, meta=table.meta, notes=[*table.notes, msg],
                problems=[], has_lines=table.has_lines,
                label=None if table.label is None else (lambda i, f=table.label, idx=idx: f(int(idx[i]))),
                merge_steps=table.merge_steps, prefer=table.prefer, what=table.what)
    return new, tuple(None if c is None else mapping[id(c)] for c in cols), msg


def _rewind_cells(table: Table, cols: tuple[Column | None, ...]) -> tuple[Table, tuple[Column | None, ...],
                                                                         str | None]:
    """``_rewind`` for formats that log one metric per row (Lightning, HF): each (step, column) keeps the value of
    the last row that filled it, rows left empty by that go, and the rest are put in step order. A restart that
    re-logs the step it crashed at (no step goes back) is caught too: its second value differs from the first."""
    step_col = cols[0]
    v = step_col.values
    went_back = int(np.sum(np.diff(v) < 0))
    gone_cells = 0
    differed: list[np.ndarray] = []
    emptied = np.zeros(table.n, dtype=bool)
    new_cols: dict[int, Column] = {}
    for c in table.columns:
        rows = np.flatnonzero(~c.empty)
        if c is step_col or rows.size < 2:
            new_cols[id(c)] = c
            continue
        rev = rows[::-1]
        _, first = np.unique(v[rev], return_index=True)
        kept = rev[first]  # the last filled row of each step, in step order
        gone = np.setdiff1d(rows, kept)
        if not gone.size:
            new_cols[id(c)] = c
            continue
        rep = kept[np.searchsorted(v[kept], v[gone])]
        differed.append(gone[~_same_cells(c, gone, rep)])
        gone_cells += gone.size
        nc = Column(c.name, c.values.copy(), c.empty.copy(), c.text.copy(), None if c.raw is None else c.raw.copy())
        nc.values[gone], nc.empty[gone], nc.text[gone] = np.nan, True, False
        if nc.raw is not None:
            nc.raw[gone] = ""
        new_cols[id(c)] = nc
        emptied[gone] = True
    diff_rows = np.unique(np.concatenate(differed)) if differed else np.zeros(0, dtype=np.int64)
    if not went_back and not diff_rows.size:
        return table, cols, None  # plain merge rows: nothing was logged twice with another value
    others = [new_cols[id(c)] for c in table.columns if c is not step_col]
    now_empty = np.all([c.empty for c in others], axis=0) if others else np.zeros(table.n, dtype=bool)
    keep = ~(emptied & now_empty)  # rows whose every value was logged again later
    idx = np.flatnonzero(keep)
    idx = idx[np.argsort(v[idx], kind="stable")]
    msg = (f"--resumed: left out {gone_cells} earlier value(s) of steps logged again later, "
           f"{diff_rows.size} row(s) with a different value ({table.lines_text(diff_rows)})"
           if diff_rows.size else f"--resumed: left out {gone_cells} earlier value(s) of steps logged again later, "
           "all equal to the later ones")
    msg += f"; the steps go back {went_back} time(s); rows put in step order"
    return _rows_of(table, idx, new_cols, cols, msg)


def _exact(table: Table, name: str) -> Column | None:
    for c in table.columns:
        if c.name == name:
            return c
    for c in table.columns:
        if c.name.strip().lower() == name.strip().lower():
            table.notes.append(f"{table.what} '{c.name}' read as '{name}'")
            return c
    return None


def _text_rule(table: Table, col: Column) -> Callable[[int], str]:
    def say(i: int) -> str:
        cell = str(col.raw[i]) if col.raw is not None else ""
        hint = " Use '.' as the decimal mark." if "," in cell else " Fix or delete that cell."
        return f"{table.what} '{col.name}' is {col.show(i)}; expected a number.{hint}"
    return say


def _check_steps(table: Table, col: Column) -> list[Problem]:
    v = col.values
    name = col.name
    show = col.show
    w = table.what
    out = [
        Problem(np.flatnonzero(col.empty), name, show,
                lambda i: f"{w} '{name}' is empty; every row needs its step. Fill it in or delete the row."),
        Problem(np.flatnonzero(col.text), name, show, _text_rule(table, col)),
    ]
    num = ~col.empty & ~col.text
    out.append(Problem(np.flatnonzero(num & ~np.isfinite(v)), name, show,
                       lambda i: f"{w} '{name}' is {show(i)}; steps must be finite whole numbers. "
                                 "Fix or delete that row."))
    fin = num & np.isfinite(v)
    out.append(Problem(np.flatnonzero(fin & (v != np.round(v))), name, show,
                       lambda i: f"{w} '{name}' is {show(i)}; steps must be whole numbers (optimizer steps). "
                                 "Log the integer step, not an epoch fraction."))
    out.append(Problem(np.flatnonzero(fin & (v < 0)), name, show,
                       lambda i: f"{w} '{name}' is {show(i)}; steps must be >= 0. Fix or delete that row."))
    return out


def _check_order(table: Table, col: Column) -> Problem:
    """Steps strictly increase (merging formats: never decrease), compared between rows with valid steps."""
    v = col.values
    ok = np.flatnonzero(~col.empty & ~col.text & np.isfinite(v) & (v == np.round(v)))
    d = np.diff(v[ok])
    hit = (d < 0) if table.merge_steps else (d <= 0)
    rows, prev = ok[1:][hit], ok[:-1][hit]
    prev_of = dict(zip(rows.tolist(), prev.tolist()))
    name = col.name
    vals = v[ok]
    reordered = rows.size and not table.merge_steps and np.unique(vals).size == vals.size
    resumed = "Was a resumed run appended to its earlier segment? Then pass --resumed to keep the later rows."
    fix = ("No step repeats, so the rows are only out of order (segments of a resumed run saved in the wrong "
           "order?): sort the file by step, or pass --resumed to read it in step order." if reordered else resumed)

    def say(i: int) -> str:
        j = prev_of[i]
        if v[i] == v[j]:
            return (f"'{name}' {col.show(i)} repeats the step of {table.lines_text(np.array([j]))}; steps must "
                    f"strictly increase. {resumed}")
        return f"'{name}' goes {col.show(j)} -> {col.show(i)}; steps must strictly increase. {fix}"
    return Problem(rows, name, col.show, say)


def _check_lr(table: Table, col: Column, schedule_file: str | None) -> list[Problem]:
    v = col.values
    name = col.name
    show = col.show
    w = table.what
    fix = "Fix the log, or pass --schedule-file." if schedule_file is None else "Fix the log."
    num = ~col.empty & ~col.text
    return [
        Problem(np.flatnonzero(col.text), name, show, _text_rule(table, col)),
        Problem(np.flatnonzero(num & ~np.isfinite(v)), name, show,
                lambda i: f"{w} '{name}' is {show(i)}; learning rates must be finite. {fix}"),
        Problem(np.flatnonzero(num & np.isfinite(v) & (v < 0)), name, show,
                lambda i: f"{w} '{name}' is {show(i)}; learning rates must be >= 0. {fix}"),
    ]


def _check_target(table: Table, col: Column) -> list[Problem]:
    v = col.values
    name = col.name
    show = col.show
    w = table.what
    num = ~col.empty & ~col.text
    return [
        Problem(np.flatnonzero(col.text), name, show, _text_rule(table, col)),
        Problem(np.flatnonzero(num & ~np.isfinite(v)), name, show,
                lambda i: f"{w} '{name}' is {show(i)}; losses must be finite. Leave the cell empty where "
                          "the loss was not measured (a diverged run: cut the file before it diverged)."),
        Problem(np.flatnonzero(num & np.isfinite(v) & (v <= 0)), name, show,
                lambda i: f"{w} '{name}' is {show(i)}; losses must be > 0 (cross-entropy in nats). Check that "
                          "this column is a loss, or pass --target with the right column."),
    ]


def _merge(table: Table, step_col: Column, lr_col: Column | None, tgt_col: Column | None):
    """Merge rows sharing a step (formats that log each metric on its own row). Conflicting values -> error."""
    steps = step_col.values
    start = np.flatnonzero(np.r_[True, steps[1:] != steps[:-1]])  # first row of each group
    group = np.cumsum(np.r_[True, steps[1:] != steps[:-1]]) - 1  # (n,) group id per row
    ngroups = start.size
    problems: list[Problem] = []
    merged: list[Column] = []
    mapping: dict[int, Column] = {}
    for col in table.columns:
        filled = ~col.empty
        rows = np.flatnonzero(filled)
        g = group[rows]
        # first filled row per group
        ug, first_pos = np.unique(g, return_index=True)
        pick = np.full(ngroups, -1, dtype=np.int64)
        pick[ug] = rows[first_pos]
        # conflicts: a filled row whose value differs from its group's first filled value
        ref = pick[g]
        if col.raw is not None:
            diff = col.raw[rows] != col.raw[ref]
        else:
            diff = col.values[rows] != col.values[ref]
        bad = rows[diff]
        if bad.size:
            def say(i: int, col: Column = col, ref_of=dict(zip(rows.tolist(), ref.tolist()))) -> str:
                j = ref_of[i]
                return (f"{table.what} '{col.name}' is {col.show(i)} but {table.lines_text(np.array([j]))} has "
                        f"{col.show(j)} for the same step {step_col.show(i)}; a step may hold one value per "
                        f"{table.what}. Was a resumed run appended twice?")
            problems.append(Problem(bad, col.name, lambda i, col=col: col.show(i), say))
        take = np.where(pick >= 0, pick, start)
        new = col.take(take)
        new.empty = pick < 0
        if new.raw is not None:
            new.raw = np.where(new.empty, "", new.raw)
        new.values = np.where(new.empty, np.nan, new.values)
        new.text = new.text & ~new.empty
        merged.append(new)
        mapping[id(col)] = new
    raise_problems(table, problems)
    n_merged = table.n - ngroups
    table.notes.append(f"merged {n_merged} rows that share a step with another row (one metric per row)")
    new_table = Table(
        path=table.path, columns=merged, line=table.line[start], fmt=table.fmt, header_line=table.header_line,
        meta=table.meta, notes=table.notes, has_lines=table.has_lines,
        label=(lambda i, f=table.label, s=start: f(int(s[i]))) if table.label else None,
        merge_steps=True, prefer=table.prefer, what=table.what,
    )
    return (new_table, mapping[id(step_col)], mapping[id(lr_col)] if lr_col is not None else None,
            mapping[id(tgt_col)] if tgt_col is not None else None)


def _build_lr(
    table: Table,
    steps: np.ndarray,
    lr_col: Column | None,
    warmup: int | None,
    schedule_file: str | None,
    warns: list[str],
) -> tuple[np.ndarray, int, bool]:
    """The dense per-step LR, ``step0`` and ``dense``; appends notes and warning texts."""
    first, last = int(steps[0]), int(steps[-1])
    gaps = np.diff(steps)
    gap_at = int(np.argmax(gaps)) + 1 if gaps.size else 0
    gap = int(gaps[gap_at - 1]) if gaps.size else 1
    where_gap = table.lines_text(np.array([gap_at])) if gaps.size else ""
    rows_dense = gap <= 1

    if schedule_file is not None:
        return _lr_from_schedule(table, steps, lr_col, schedule_file, warns) + (rows_dense and first == 0,)

    assert lr_col is not None
    known = ~lr_col.empty
    ks, kv = steps[known], lr_col.values[known]
    if ks.size == 0:
        raise RunFileError(f"{table.what} '{lr_col.name}' is empty on every row. Log the learning rate, or pass "
                           "--schedule-file F with the per-step LR.", path=table.path, line=table.header_line,
                           column=lr_col.name)
    # start of the LR array
    if first <= 1:
        step0 = first
        if first == 1:
            table.notes.append("steps start at 1: read as 1-based (step 1 is the first optimizer step), so the "
                               "schedule is known from the start")
    elif warmup is not None:
        step0 = 0
    else:
        step0 = first
        text = (f"the LR before step {first} (the first row) is unknown, so S1 and the other schedule sums start "
                f"at step {first}; curve laws need --warmup W or --schedule-file F")
        table.notes.append(text)
        warns.append(text)

    # trailing rows after the last logged LR: the LR there is unknown
    after = np.flatnonzero(steps > ks[-1])
    if after.size:
        raise RunFileError(
            f"{table.what} '{lr_col.name}' is empty from here to the end ({after.size} rows, "
            f"{table.lines_text(after)}), after the last logged LR; the LR of those steps is unknown. Pass "
            "--schedule-file F with the per-step LR.", path=table.path, line=table.where(int(after[0]))[0],
            column=lr_col.name, value="")
    grid = np.arange(step0, last + 1, dtype=np.int64)  # (T,)
    lr = np.interp(grid, ks, kv)  # exact at the rows, linear between them
    lead = grid < ks[0]
    if lead.any():
        if warmup is None or warmup == 0:
            i = int(np.flatnonzero(steps < ks[0])[0]) if np.any(steps < ks[0]) else 0
            raise RunFileError(
                f"{table.what} '{lr_col.name}' is empty at step {int(steps[i])} and no earlier row gives the LR. Pass "
                "--warmup W (a linear warmup) or --schedule-file F.", path=table.path, line=table.where(i)[0],
                column=lr_col.name, value="")
        k0, peak_first = int(ks[0]), float(kv[0])
        w = int(warmup)
        peak = peak_first * w / min(k0 + 1, w)  # the ramp peak*(s+1)/W reaches the first logged LR at step k0
        s = grid[lead]
        lr[lead] = peak * np.minimum(s + 1, w) / w
        text = (f"LR of steps {int(s[0])}..{int(s[-1])} (before the first logged LR, step {k0}) filled with a "
                f"linear warmup of {w} steps, peak*(s+1)/{w}, to the first row's LR {peak_first:.6g}")
        table.notes.append(text)
        warns.append(text)
    missing = np.flatnonzero(lr_col.empty & (steps > ks[0]))
    if missing.size:
        text = (f"LR missing on {missing.size} rows ({table.lines_text(missing)}); interpolated linearly from "
                "the neighbouring rows")
        table.notes.append(text)
        warns.append(text)
    if not rows_dense:
        text = f"LR interpolated between rows; largest gap {gap} steps at {where_gap}"
        table.notes.append(text)
        warns.append(text)
    dense = rows_dense and step0 == first and not missing.size
    return lr, step0, dense


def _lr_from_schedule(
    table: Table, steps: np.ndarray, lr_col: Column | None, schedule_file: str, warns: list[str]
) -> tuple[np.ndarray, int]:
    from scalefit import schedules

    sched = schedules.from_file(schedule_file)  # (T,) ScheduleSpecError names the schedule file
    last = int(steps[-1])
    if sched.size <= last:
        i = int(np.flatnonzero(steps >= sched.size)[0])
        raise RunFileError(
            f"step {int(steps[i])} is past the end of the schedule file {schedule_file} (steps 0..{sched.size - 1}). "
            "Pass a schedule that covers the whole run.", path=table.path, line=table.where(i)[0],
            column="step", value=int(steps[i]))
    lr = sched[: last + 1].copy()
    what = f"LR of every step from the schedule file {schedule_file} (steps 0..{sched.size - 1})"
    if lr_col is None or not np.any(~lr_col.empty):
        table.notes.append(what + "; the run file logs no LR to compare")
        return lr, 0
    rows = np.flatnonzero(~lr_col.empty)
    logged, want = lr_col.values[rows], lr[steps[rows]]
    rel = _rel(logged, want)
    jmax = int(np.argmax(rel))
    off = np.flatnonzero(rel > SCHEDULE_RTOL)
    if off.size:
        j = int(off[0])
        i = int(rows[j])
        hint = ""
        for shift in (1, -1):
            idx = steps[rows] + shift
            ok = (idx >= 0) & (idx < sched.size)
            if ok.all() and np.max(_rel(logged, sched[idx])) <= SCHEDULE_RTOL:
                hint = (f" The logged LR matches the schedule at step s{shift:+d}: an off-by-one between the "
                        "logger and the schedule file.")
        raise RunFileError(
            f"{table.what} '{lr_col.name}' is {lr_col.show(i)} but the schedule file {schedule_file} gives "
            f"{want[j]:.10g} at step {int(steps[i])} (relative difference {rel[j]:.2e} > {SCHEDULE_RTOL:g}; "
            f"{off.size} of {rows.size} rows disagree, the largest by {rel[jmax]:.2e} at "
            f"{table.lines_text(np.array([int(rows[jmax])]))}).{hint} Check that the schedule file belongs to "
            "this run.", path=table.path, line=table.where(i)[0], column=lr_col.name, value=float(logged[j]))
    j = jmax
    table.notes.append(f"{what}; it agrees with the logged '{lr_col.name}' column within {rel[j]:.1e} (relative, "
                       f"{rows.size} rows)")
    return lr, 0


def _rel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    scale = np.maximum(np.abs(a), np.abs(b))
    return np.divide(np.abs(a - b), scale, out=np.zeros_like(scale), where=scale > 0)


def _meta_and_extra(table: Table, used: set[int], target: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Metadata from ``# key: value`` lines and constant known-metadata columns; other numeric columns as extra."""
    meta = dict(table.meta)
    extra: dict[str, np.ndarray] = {}
    canonical: dict[int, str] = {}
    if target != "val_loss":
        val = find_column(table, "val_loss")
        if val is not None:
            canonical[id(val)] = "val_loss"
    if target != "loss":
        trn = find_column(table, "loss")
        if trn is not None and id(trn) not in used:
            canonical[id(trn)] = "loss"
    for col in table.columns:
        if id(col) in used:
            continue
        name = canonical.get(id(col), col.name)
        key = name.strip().lower()
        if key in META_KEYS and col.is_constant():
            value = parse_scalar(str(col.raw[0])) if col.raw is not None else parse_scalar(f"{col.values[0]!r}")
            if key in meta and meta[key] != value:
                table.notes.append(f"metadata '{key}' is {meta[key]!r} in the header but the column says "
                                   f"{value!r}; the header wins")
            else:
                meta.setdefault(key, value)
                table.notes.append(f"metadata '{key}' = {value!r} from a constant column")
            continue
        if col.text.any():
            if col.is_constant():
                meta.setdefault(key, str(col.raw[0]) if col.raw is not None else col.values[0])
                table.notes.append(f"metadata '{key}' from a constant text column")
            else:
                i = int(np.flatnonzero(col.text)[0])
                table.notes.append(f"{table.what} '{col.name}' ignored: it holds text ({col.show(i)} at "
                                   f"{table.lines_text(np.array([i]))})")
            continue
        extra[name] = col.values.astype(np.float64)
    return meta, extra
