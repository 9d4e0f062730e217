"""Files that hold several runs: a column naming the run (``run``, ``run_name``, ``run_id``, ``name``), restarts
from scratch appended to one file, and summary tables that hold one row per run (not curves at all).

- A run column with several values: each value is a run, in the order it first appears (``Run.name`` is the
  value); ``runs=`` / ``--run NAME`` picks some.
- Steps that go back to the file's first step while the loss jumps back up to its starting level: a fresh run
  appended after the first (a restart, not a resume): each stretch is its own run, named ``<stem>#1``, ``#2``, ...
  A step that goes back without that jump is left to the contract's check, whose advice (``--resumed``) fits a
  resume.
- A W&B runs-table export (``Name``, ``State``, ``Created``, ... one summary row per run), or a run column whose
  runs each have one row: an error that says what the file is and where such a table goes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from scalefit.errors import RunFileError
from scalefit.readers.table import Column, Table, find_column

if TYPE_CHECKING:
    from scalefit.readers.contract import ReadOptions
    from scalefit.runs import Run

RUN_COLUMNS = ("run", "run_name", "run_id", "name")
_WANDB_TABLE = ("Created", "Runtime", "User", "Tags", "Notes", "Sweep", "ID", "Group")


def split(table: Table, target: str, resumed: bool) -> list[Table]:
    """The runs of ``table``: itself, or one table per run (``meta['run_name']`` names each)."""
    names = table.names()
    if "Name" in names and "State" in names and any(k in names for k in _WANDB_TABLE):
        col = next(c for c in table.columns if c.name == "Name")
        raise _runs_table(table, col, "a W&B runs table")
    col = _run_column(table)
    if col is not None:
        return _by_column(table, col)
    if not resumed:
        return _restarts(table, target)
    return [table]


def select(names: Sequence[str], wanted: Sequence[str], seen: set[str] | None = None) -> list[int]:
    """Indices of the runs named in ``wanted`` (all when it is empty, or when the file holds one run); the names
    go to ``seen`` so that the caller can say which wanted names no file holds."""
    if seen is not None:
        seen.update(names)
    if not wanted or len(names) <= 1:
        return list(range(len(names)))
    return [k for k, n in enumerate(names) if n in set(wanted)]


def _run_column(table: Table) -> Column | None:
    for want in RUN_COLUMNS:
        col = next((c for c in table.columns if c.name.strip().lower() == want), None)
        if col is None or col.empty.all():
            continue
        cells = _cells(col)
        if np.unique(cells[~col.empty]).size > 1:
            return col
    return None


def _cells(col: Column) -> np.ndarray:
    """Each cell's text: as written when kept, else the number (and the few text cells read back)."""
    if col.raw is not None:
        return np.asarray(col.raw, dtype=str)
    out = np.array([f"{v:.10g}" for v in col.values.tolist()], dtype=object)
    out[col.empty] = ""
    for i in np.flatnonzero(col.text).tolist():
        out[i] = col.cell(i)
    return out.astype(str)


def _by_column(table: Table, col: Column) -> list[Table]:
    cells = _cells(col)
    filled = np.flatnonzero(~col.empty)
    if filled.size < table.n:
        idx = np.flatnonzero(col.empty)
        raise RunFileError(f"{table.what} '{col.name}' names the run of each row, but it is empty on "
                           f"{idx.size} rows ({table.lines_text(idx)}). Fill in the run of every row.",
                           path=table.path, line=table.where(int(idx[0]))[0], column=col.name, value="")
    order, first = np.unique(cells, return_index=True)
    names = [str(n) for n in order[np.argsort(first)]]
    counts = {n: int(np.sum(cells == n)) for n in names}
    if all(c == 1 for c in counts.values()):
        raise _runs_table(table, col, f"one row per run ({table.what} '{col.name}')")
    out = []
    k = next(i for i, c in enumerate(table.columns) if c is col)
    for name in names:
        rows = np.flatnonzero(cells == name)
        sub = table.rows(rows, f"run '{name}' of {len(names)} in this file ({table.what} '{col.name}'; "
                               f"{rows.size} of {table.n} rows)")
        sub.columns.pop(k)
        sub.meta["run_name"] = name
        out.append(sub)
    return out


def _runs_table(table: Table, col: Column, what: str) -> RunFileError:
    cells = [c for c in _cells(col).tolist() if c][:4]
    return RunFileError(
        f"{what}: a summary of {table.n} runs ({', '.join(cells)}{', ...' if table.n > 4 else ''}), one row each, "
        "not a training curve (a row per logged step). Give each run's logged history, a step column with the loss "
        "and the LR (W&B: the run's history export, or a chart of the loss and the LR); a table of final losses "
        "goes to scalefit scaling or scalefit hparams.",
        path=table.path, line=table.header_line)


def _restarts(table: Table, target: str) -> list[Table]:
    """Split where the steps go back to the start and the loss jumps back up to its starting level."""
    step = find_column(table, "step")
    loss = find_column(table, target) if target in ("loss", "val_loss") else \
        next((c for c in table.columns if c.name == target), None)
    if step is None or loss is None or table.n < 4:
        return [table]
    v = step.values
    ok = np.isfinite(v) & ~step.text
    if not ok.all():
        return [table]
    back = np.flatnonzero(np.diff(v) < 0) + 1  # first row of each later segment
    if not back.size:
        return [table]
    bounds = np.r_[0, back, table.n]
    gaps = np.diff(v)
    interval = float(np.median(gaps[gaps > 0])) if np.any(gaps > 0) else 1.0
    start0 = v[0]
    if start0 > interval:  # the file does not start at the run's start: shards or segments, not restarts
        return [table]
    level0 = _level(loss.values[bounds[0]:bounds[1]], head=True)
    cuts = []
    for k in range(1, bounds.size - 1):
        seg = slice(bounds[k], bounds[k + 1])
        prev = loss.values[bounds[k - 1]:bounds[k]]
        if v[bounds[k]] > start0 + interval:
            continue
        end_prev, begin = _level(prev, head=False), _level(loss.values[seg], head=True)
        if None in (level0, end_prev, begin) or not level0 > end_prev:  # type: ignore[operator]
            continue
        if begin - end_prev >= 0.5 * (level0 - end_prev):  # type: ignore[operator]
            cuts.append(int(bounds[k]))
    if not cuts:
        return [table]
    edges = [0, *cuts, table.n]
    stem = table.meta.get("run_name") or Path(table.path).stem
    n = len(edges) - 1
    at = table.lines_text(np.asarray(cuts))
    out = []
    for k in range(n):
        rows = np.arange(edges[k], edges[k + 1])
        sub = table.rows(rows, f"restart {k + 1} of {n}: the steps go back to the start at {at} and the loss jumps "
                               f"back up to its starting level, so each stretch is a fresh run (not a resume), "
                               f"read as its own run ({rows.size} rows)")
        sub.meta["run_name"] = f"{stem}#{k + 1}"
        out.append(sub)
    return out


def _level(values: np.ndarray, head: bool) -> float | None:
    """The median of the first (``head``) or last three observed values, or None."""
    obs = values[np.isfinite(values)]
    if not obs.size:
        return None
    part = obs[:3] if head else obs[-3:]
    return float(np.median(part))


def build_runs(table: Table, opts: "ReadOptions") -> list["Run"]:
    """The runs of one parsed file: split (see the module docstring), picked by ``opts.runs``, each built."""
    from scalefit.readers.contract import build_run

    parts = split(table, opts.target, opts.resumed)
    names = [str(p.meta.get("run_name") or Path(p.path).stem) for p in parts]
    return [build_run(parts[k], opts) for k in select(names, opts.runs, opts.seen)]
