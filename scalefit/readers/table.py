"""The table every format adapter produces: named columns of cells with their file locations, and the problems
found in them.

A :class:`Table` is one run's rows before validation. Its columns hold numbers (NaN where a cell is empty or
text) and masks of the empty and text cells; the text of a cell, for messages, is kept (``raw``) or read back on
demand from the file (``source``), so that a large numeric file needs no string per cell.

Column names are resolved through :data:`ALIASES`: an exact name wins over a case-folded one, and two columns
that differ only in case, both matching, are an error rather than a silent choice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Type

import numpy as np

from scalefit.errors import RunFileError, ScalefitError

# column aliases: data, not code. Exact names first, then case-insensitive; the first name found in the list wins.
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
                              "schedule", "seed", "model", "loss_unit")


def parse_scalar(text: str) -> Any:
    """A metadata value: int when it looks like an integer, float when numeric, else the stripped text."""
    s = text.strip()
    try:
        if len(s) <= 40:
            return int(s)
    except ValueError:
        pass
    try:
        x = float(s)
    except ValueError:
        return s
    if np.isfinite(x) and abs(x) < 2**63 and x == int(x) and ("e" in s.lower()):
        return int(x)  # 1.2e8 parameters is an integer count
    return x


@dataclass
class Column:
    """One column: its name in the file, values (NaN where empty or text), and masks of empty and text cells.

    ``raw`` holds each cell's text when the reader kept it; otherwise ``source(i)`` reads row ``i``'s cell back
    from the file (text formats), and formats without text show the number.
    """

    name: str
    values: np.ndarray  # (n,) float64
    empty: np.ndarray  # (n,) bool
    text: np.ndarray  # (n,) bool
    raw: np.ndarray | None = None  # (n,) str
    source: Callable[[int], str] | None = None

    @classmethod
    def from_cells(cls, name: str, raw: np.ndarray) -> "Column":
        """Parse stripped cell strings (vectorised; a per-cell loop only when some cell is not a number)."""
        raw = np.asarray(raw, dtype=str)
        empty = raw == ""
        text = np.zeros(raw.shape, dtype=bool)
        filled = np.where(empty, "nan", raw)
        try:
            values = filled.astype(np.float64)
        except (ValueError, OverflowError):
            values = np.full(raw.shape, np.nan)
            for i, cell in enumerate(filled.tolist()):
                try:
                    values[i] = float(cell)
                except (ValueError, OverflowError):
                    text[i] = True
        return cls(name, values, empty, text, raw)

    @classmethod
    def from_values(cls, name: str, values: np.ndarray) -> "Column":
        """A numeric column from floats (NaN = not logged)."""
        values = np.asarray(values, dtype=np.float64)
        return cls(name, values, np.isnan(values), np.zeros(values.shape, dtype=bool), None)

    def cell(self, i: int) -> str:
        """The cell's text as written ('' when empty)."""
        if self.raw is not None:
            return str(self.raw[i])
        if self.source is not None:
            return self.source(i)
        return "" if self.empty[i] else f"{self.values[i]:.10g}"

    def show(self, i: int) -> str:
        """The cell for a message: numbers bare, text quoted, 'empty' for a number-less format's empty cell."""
        if self.raw is None and self.source is None and self.empty[i]:
            return "empty"
        cell = self.cell(i)
        return repr(cell) if self.text[i] else cell

    def take(self, idx: np.ndarray) -> "Column":
        src = self.source
        return Column(self.name, self.values[idx], self.empty[idx], self.text[idx],
                      None if self.raw is None else self.raw[idx],
                      None if src is None else (lambda i, s=src, idx=idx: s(int(idx[i]))))

    def is_constant(self) -> bool:
        """Every cell filled with the same text (or the same number)."""
        if self.empty.any() or self.values.size == 0:
            return False
        if self.text.any():
            return self.raw is not None and bool(np.all(self.raw == self.raw[0]))
        if self.raw is not None:
            return bool(np.all(self.raw == self.raw[0]))
        return bool(np.all(self.values == self.values[0]))


@dataclass
class Table:
    """Rows of one run before validation.

    ``line[i]`` is the 1-based file line of row ``i`` for text formats; for JSON / event formats it is the
    position the adapter uses in messages (``label(i)``), and ``has_lines`` is False. ``left_out`` counts the rows
    left out so far, by reason (the same counts are in ``notes``).
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
    left_out: dict[str, int] = field(default_factory=dict)
    warns: list[str] = field(default_factory=list)  # texts to emit as AssumptionWarning when the run is built

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
        idx = np.asarray(idx)
        shown = idx[:limit]
        if self.has_lines:
            body = ", ".join(str(int(self.line[i])) for i in shown)
            word = "line" if idx.size == 1 else "lines"
        else:
            body = ", ".join(self.where(int(i))[1].rstrip(": ") for i in shown)
            word = ""
        more = ", ..." if idx.size > limit else ""
        return f"{word} {body}{more}".strip()

    def rows(self, idx: np.ndarray, note: str | None = None) -> "Table":
        """The table of rows ``idx`` (in that order), every column taken; ``note`` added to its notes."""
        idx = np.asarray(idx, dtype=np.int64)
        label = None if self.label is None else (lambda i, f=self.label, idx=idx: f(int(idx[i])))
        return Table(path=self.path, columns=[c.take(idx) for c in self.columns], line=self.line[idx], fmt=self.fmt,
                     header_line=self.header_line, meta=dict(self.meta),
                     notes=[*self.notes, *([note] if note else [])], problems=[], has_lines=self.has_lines,
                     label=label, merge_steps=self.merge_steps, prefer=self.prefer, what=self.what,
                     left_out=dict(self.left_out), warns=list(self.warns))

    def leave_out(self, drop: np.ndarray, reason: str, note: str, warn: bool = False) -> "Table":
        """The table without rows ``drop`` (a mask), counted under ``reason`` and said in ``note``."""
        drop = np.asarray(drop, dtype=bool)
        if not drop.any():
            return self
        new = self.rows(np.flatnonzero(~drop), note)
        new.left_out[reason] = new.left_out.get(reason, 0) + int(drop.sum())
        if warn:
            new.warns.append(note)
        return new


@dataclass
class Problem:
    """Rows ``rows`` break one rule; ``describe(i)`` is the precise text for row ``i`` (no location)."""

    rows: np.ndarray
    column: str | None
    value: Callable[[int], Any]
    describe: Callable[[int], str]


def raise_problems(table: Table, problems: list[Problem], error: Type[ScalefitError] = RunFileError) -> None:
    """Raise one error (a RunFileError unless ``error`` says) naming the first problem (by row) and counting the
    other rows with problems."""
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
    err = error(message, path=table.path, line=line, column=prob.column, value=prob.value(first_row))
    err.n_rows = int(others.size) + 1  # type: ignore[attr-defined]
    rows = [first_row, *others[:1000].tolist()]
    #: rows with a problem (the first 1001), as file lines (text formats) or labels like 'log_history[12]'
    err.lines = [int(table.line[i]) if table.has_lines else table.where(i)[1].rstrip(": ")  # type: ignore
                 for i in rows]
    raise err


# ---------------------------------------------------------------------------------------------------------------
# column resolution
# ---------------------------------------------------------------------------------------------------------------
def find_column(table: Table, canonical: str) -> Column | None:
    """The column for ``canonical``: format-preferred names, then the name itself, then its aliases; each name
    matched exactly first, then case-insensitively. Notes an alias when used."""
    candidates = (*table.prefer.get(canonical, ()), canonical, *ALIASES.get(canonical, ()))
    for name in candidates:
        col = _match(table, name)
        if col is not None:
            if col.name != canonical:
                table.notes.append(f"{table.what} '{col.name}' read as '{canonical}'")
            return col
    return None


def exact_column(table: Table, name: str) -> Column | None:
    """The column named ``name`` (a --target that is not a known alias): exact, else the one case-folded match."""
    col = _match(table, name)
    if col is not None and col.name != name:
        table.notes.append(f"{table.what} '{col.name}' read as '{name}'")
    return col


def _match(table: Table, name: str) -> Column | None:
    """Exact (stripped) name first; else the one column equal case-insensitively; two such columns: an error."""
    for c in table.columns:
        if c.name.strip() == name:
            return c
    folded = [c for c in table.columns if c.name.strip().lower() == name.lower()]
    if len(folded) > 1:
        both = " and ".join(f"'{c.name}'" for c in folded)
        raise RunFileError(f"{table.what}s {both} differ only in case, so '{name}' is ambiguous. Rename one, or "
                           f"pass --target with the exact name.", path=table.path, line=table.header_line,
                           column=name)
    return folded[0] if folded else None


def missing(table: Table, name: str, hint: str) -> RunFileError:
    """The error for a required column that is not there, listing what was found."""
    names = table.names()
    found = ", ".join(names[:12]) + (f", ... ({len(names)} in all)" if len(names) > 12 else "") if names else "none"
    return RunFileError(f"missing {table.what} '{name}' (found: {found}). {hint}", path=table.path,
                        line=table.header_line, column=name)


def target_hint(table: Table, used: set[str]) -> str:
    """Advice for a missing or empty target column: a loss-like column to pass as --target, if there is one."""
    lossy = [c.name for c in table.columns if "loss" in c.name.lower() and c.name not in used]
    if lossy:
        return f"Pass --target {lossy[0]}."
    return f"Pass --target with the {table.what} that holds the loss."
