"""Weights & Biases CSV exports.

Two shapes exist:

- **chart export** (the "Download CSV" button of a chart): a ``Step`` column and one ``<run> - <metric>`` column
  per run, with ``<run> - <metric>__MIN`` / ``__MAX`` band columns (ignored; a note says so). Each W&B run becomes
  one :class:`~scalefit.runs.Run` (``meta['run_name']`` holds its name). A chart holds the metrics it plots: export a
  chart with both the loss and the learning rate, or pass ``--schedule-file``. Rows where a run has no value
  belong to other runs and are not that run's rows.
- **history export** (``run.history()`` / the run's "Export as CSV"): a ``_step`` column and metric columns
  (``train/loss``, ``lr`` / ``learning_rate``, ...). It is read like a native run file with column aliases.
"""

from __future__ import annotations

import numpy as np

from scalefit.errors import RunFileError
from scalefit.readers.contract import ReadOptions, build_run
from scalefit.readers.multirun import select
from scalefit.readers.table import Table, raise_problems
from scalefit.readers.source import Source
from scalefit.readers.text import parse_csv
from scalefit.runs import Run
from scalefit.wording import listed

SEP = " - "


def is_chart_export(header: list[str]) -> bool:
    """A chart export has a 'Step' column and '<run> - <metric>' columns."""
    return bool(header) and any(h == "Step" for h in header) and any(SEP in h for h in header)


def read_chart(src: Source, opts: ReadOptions) -> list[Run]:
    """One Run per W&B run in a chart-export CSV (those named in ``opts.runs`` when given)."""
    table = parse_csv(src, fmt="wandb-chart")
    raise_problems(table, table.problems)  # ragged rows are problems of the whole file
    step_col = next(c for c in table.columns if c.name == "Step")
    groups: dict[str, list] = {}
    skipped: list[str] = []
    other: list[str] = []
    for col in table.columns:
        if col is step_col:
            continue
        if col.name.endswith(("__MIN", "__MAX")):
            skipped.append(col.name)
            continue
        if SEP not in col.name:
            other.append(col.name)
            continue
        run_name, metric = col.name.rsplit(SEP, 1)
        groups.setdefault(run_name, []).append((metric, col))
    if not groups:
        raise RunFileError("a W&B chart export with no '<run> - <metric>' columns. Export the chart again.",
                           path=table.path, line=table.header_line)
    runs = []
    names = list(groups)
    for run_name in [names[k] for k in select(names, opts.runs, opts.seen)]:
        cols = groups[run_name]
        filled = np.zeros(table.n, dtype=bool)
        for _, c in cols:
            filled |= ~c.empty
        rows = np.flatnonzero(filled)
        sub_cols = [step_col.take(rows)]
        for metric, c in cols:
            new = c.take(rows)
            new.name = metric
            sub_cols.append(new)
        notes = [f"W&B chart export: run '{run_name}' ({rows.size} of {table.n} rows have its values)"]
        if skipped:
            notes.append(f"skipped {len(skipped)} min/max band columns ({listed(skipped, 3)})")
        if other:
            notes.append(f"skipped columns without a run name: {', '.join(other)}")
        sub = Table(path=table.path, columns=sub_cols, line=table.line[rows], fmt="wandb-chart",
                    header_line=table.header_line, meta={**table.meta, "run_name": run_name},
                    notes=[*table.notes, *notes], problems=[], left_out=dict(table.left_out),
                    warns=list(table.warns))
        try:
            runs.append(build_run(sub, opts))
        except RunFileError as exc:
            if exc.message.startswith("missing"):
                exc.message = f"run '{run_name}': {exc.message}"
                if exc.column == "lr":
                    exc.message += (" A W&B chart export holds only the charted metrics: export a chart that "
                                    "plots the learning rate too.")
                exc.args = (str(exc),)
            raise
    return runs
