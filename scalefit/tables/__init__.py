"""Summary tables: one row per finished run, the input of the hyperparameter and scaling laws.

A summary table is a CSV file with a header row (``#`` comment lines and blank lines are skipped but counted, so
every message names the line an editor shows). Columns, all positive and finite:

============================  =====================================================================================
``params``                    non-embedding parameter count N (a count, not millions; another column with
                              ``params_column=``, e.g. the active parameters of a mixture-of-experts model)
``tokens``                    training tokens D (a count); may be omitted when ``flops`` is given (D = C / 6N)
``loss``                      final loss in nats/token (another column with ``loss_column=``, the CLI's ``--target``)
``lr``                        peak learning rate (absolute, not log)
``batch_size_tokens``         batch size in tokens, or
``batch_size`` + ``seq_len``  batch size in sequences and the sequence length (``batch_size_seqs`` is an alias);
                              ``batch_unit="tokens"|"sequences"`` says what a bare ``batch_size`` counts
``flops``                     optional training compute C in FLOPs; otherwise C = 6 N D (Kaplan et al. 2020)
``exclude``                   optional 0/1 column (or any column named ``*_excluded``): rows with 1 are dropped,
                              visibly (an :class:`AssumptionWarning` names the column and the count)
============================  =====================================================================================

The table states which compute definition it used (``Table.compute``, a note and an
:class:`~scalefit.errors.AssumptionWarning`). Run files (the native per-step CSV from ``scalefit train``, read with
``scalefit.readers.read_runs``) become rows too: see :func:`table_from_runs` for how their final loss is taken.
Every problem raises :class:`~scalefit.errors.TableError` with one line naming the file, line, column, value
and the fix.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Sequence

from scalefit.errors import TableError
from scalefit.tables.csv_table import read_points, read_table
from scalefit.tables.from_runs import final_loss, table_from_runs
from scalefit.tables.table import QUANTITIES, Points, Table, concat

__all__ = ["QUANTITIES", "Points", "Table", "concat", "final_loss", "is_run_file", "read_points", "read_table",
           "read_tables", "table_from_runs"]


def is_run_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` looks like a per-step run file (has a ``step`` column) rather than a summary table."""
    p = Path(path)
    if p.is_dir() or p.suffix.lower() not in (".csv", ".tsv", ""):
        return True  # event directories, JSON logs: readers know them
    try:
        with p.open(encoding="utf-8-sig") as fh:
            for raw in fh:
                if raw.strip() and not raw.lstrip().startswith("#"):
                    return "step" in [c.strip() for c in next(csv.reader([raw]))]
    except (OSError, UnicodeDecodeError):
        return False
    return False


def read_tables(
    paths: Sequence[str | os.PathLike[str]],
    *,
    loss_column: str | None = None,
    batch_unit: str | None = None,
    seq_len: int | None = None,
    exclude_column: str | None = None,
    k: int = 1,
    resumed: bool = False,
    params_column: str | None = None,
) -> Table:
    """Read summary tables and run files (told apart by a ``step`` column) into one :class:`Table`.

    ``resumed`` reads the run files as :func:`scalefit.readers.read_runs` does with ``resumed=True``.
    """
    if not paths:
        raise TableError("no input given. Pass a summary table (CSV) or run files.")
    tables: list[Table] = []
    run_paths = [str(p) for p in paths if is_run_file(p) and Path(p).exists()]
    for p in paths:
        if str(p) in run_paths:
            continue
        tables.append(read_table(p, loss_column=loss_column, batch_unit=batch_unit, seq_len=seq_len,
                                 exclude_column=exclude_column, params_column=params_column))
    if run_paths:
        try:
            from scalefit.readers import read_runs
        except ImportError:  # pragma: no cover - the readers package lands separately
            raise TableError("run files need scalefit.readers, which is not available in this build. Pass a "
                             "summary table instead.", path=run_paths[0]) from None
        tables.append(table_from_runs(read_runs(run_paths, resumed=resumed), k=k, params_key=params_column or "params"))
    return concat(tables)
