"""Summary tables as CSV files: the strict, line-numbered reader of :func:`read_table` (columns in
:mod:`scalefit.tables`), and :func:`read_points` for tables of runs to predict."""

from __future__ import annotations

import csv
import math
import os
import warnings
from pathlib import Path

import numpy as np

from scalefit.errors import AssumptionWarning, TableError
from scalefit.tables.table import Points, Table
from scalefit.wording import listed

#: Columns other than ``loss`` that hold a loss: used only to suggest ``--target``.
_LOSS_LIKE = ("final_loss", "smooth_loss", "val_loss", "eval_loss", "train_loss")
#: Below this a count looks like it was given in millions or billions.
_MIN_COUNT = 1e3


def _read_csv(path: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and (line number, cells) of every data row; ``#`` and blank lines skipped but counted."""
    p = Path(path)
    if not p.is_file():
        raise TableError("file not found. Check the path.", path=path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise TableError("not UTF-8 text. Export the table as CSV.", path=path) from None
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        cells = next(csv.reader([raw]))
        if header is None:
            header = [c.strip() for c in cells]
            continue
        if len(cells) != len(header):
            raise TableError(
                f"has {len(cells)} cells but the header has {len(header)}. Fix the row (quote values with commas).",
                path=path, line=lineno,
            )
        rows.append((lineno, [c.strip() for c in cells]))
    if header is None:
        raise TableError("is empty: expected a header row and one row per run.", path=path)
    if not rows:
        raise TableError("has a header but no rows. Add one row per finished run.", path=path, line=1)
    return header, rows


def _column(path: str, rows: list[tuple[int, list[str]]], j: int, name: str, *, count: bool = False,
            upper: float | None = None) -> np.ndarray:
    """Column ``j`` as positive finite floats; any bad cell raises a :class:`TableError` naming its line."""
    out = np.empty(len(rows))
    for k, (lineno, cells) in enumerate(rows):
        text = cells[j]
        try:
            value = float(text)
        except ValueError:
            raise TableError(f"column '{name}' is {text!r}, not a number. Write a plain number such as 1.5e9.",
                             path=path, line=lineno, column=name, value=text) from None
        if not math.isfinite(value) or value <= 0:
            hint = " Give the absolute learning rate, not its log." if name == "lr" and value < 0 else ""
            raise TableError(f"column '{name}' is {text}; it must be positive and finite.{hint} Fix or drop "
                             "the row.", path=path, line=lineno, column=name, value=value)
        if count and value < _MIN_COUNT:
            raise TableError(f"column '{name}' is {text}, which looks scaled (millions or billions?). Give the "
                             f"raw count, e.g. 1.2e8 for 120M.", path=path, line=lineno, column=name, value=value)
        if upper is not None and value > upper:
            raise TableError(f"column '{name}' is {text} > {upper:g}, which is not a learning rate. Give the "
                             "absolute peak LR (e.g. 3e-4).", path=path, line=lineno, column=name, value=value)
        out[k] = value
    return out


def read_table(
    path: str | os.PathLike[str],
    *,
    loss_column: str | None = None,
    batch_unit: str | None = None,
    seq_len: int | None = None,
    exclude_column: str | None = None,
    params_column: str | None = None,
) -> Table:
    """Read a summary-table CSV (see the module docstring for its columns).

    Parameters
    ----------
    path
        The CSV file.
    loss_column
        Column holding the final loss (default ``loss``).
    batch_unit
        ``"tokens"`` or ``"sequences"``: what a bare ``batch_size`` column counts. Not needed with
        ``batch_size_tokens``, or with ``batch_size``/``batch_size_seqs`` next to ``seq_len``.
    seq_len
        Sequence length for every row when the table has no ``seq_len`` column.
    exclude_column
        A 0/1 column whose 1-rows are dropped (default: a column named ``exclude`` or ``*_excluded`` if present).
    params_column
        Column holding N (default ``params``): for a mixture-of-experts sweep, the active parameters per token.

    Raises
    ------
    TableError
        Missing or ambiguous columns, non-numeric or non-positive values, counts that look scaled, LR given as
        a log, inconsistent batch columns.
    """
    path = str(path)
    header, rows = _read_csv(path)
    cols = {name: i for i, name in enumerate(header)}
    if batch_unit is not None and batch_unit not in ("tokens", "sequences"):
        raise TableError(f"batch unit {batch_unit!r} is not 'tokens' or 'sequences'. Pass --batch-unit tokens "
                         "or --batch-unit sequences.", path=path, column="batch_size", value=batch_unit)
    found = ", ".join(header)
    # ---- the loss column
    lcol = loss_column or "loss"
    if lcol not in cols:
        alts = [c for c in header if c in _LOSS_LIKE or c.endswith("_loss")]
        fix = f"Pass --target {alts[0]}" if alts else "Add a 'loss' column (final loss in nats/token)"
        raise TableError(f"missing column '{lcol}' (found: {found}). {fix}.", path=path, line=1, column=lcol)
    pcol = params_column or "params"
    if pcol not in cols:
        fix = ("Check --params-column" if params_column else "Add the non-embedding parameter count N of each run")
        raise TableError(f"missing column '{pcol}' (found: {found}). {fix}.", path=path, line=1, column=pcol)
    if "tokens" not in cols and "flops" not in cols:
        raise TableError(f"missing column 'tokens' (found: {found}). Add the training tokens D of each run (or a "
                         "'flops' column, from which D = C / 6N).", path=path, line=1, column="tokens")

    def column(name: str, *, count: bool = False, upper: float | None = None) -> np.ndarray:
        return _column(path, rows, cols[name], name, count=count, upper=upper)

    notes: list[str] = []
    # ---- excluded rows (visible, never silent)
    ecol = exclude_column
    if ecol is None:
        auto = [c for c in header if c == "exclude" or c == "excluded" or c.endswith("_excluded")]
        ecol = auto[0] if auto else None
    elif ecol not in cols:
        raise TableError(f"missing column '{ecol}' given as the exclude column (found: {found}).", path=path,
                         line=1, column=ecol)
    if ecol is not None:
        keep_rows = []
        dropped = []
        for lineno, cells in rows:
            flag = cells[cols[ecol]].lower()
            if flag in ("1", "true", "yes", "1.0"):
                dropped.append(lineno)
            elif flag in ("0", "false", "no", "", "0.0"):
                keep_rows.append((lineno, cells))
            else:
                raise TableError(f"column '{ecol}' is {flag!r}; use 1 to exclude the row, 0 to keep it.",
                                 path=path, line=lineno, column=ecol, value=flag)
        if dropped:
            msg = (f"{path}: dropped {len(dropped)} row(s) marked {ecol}=1 (lines "
                   f"{listed(dropped, 5)}).")
            notes.append(msg)
            warnings.warn(msg, AssumptionWarning, stacklevel=2)
        rows = keep_rows
        if not rows:
            raise TableError(f"every row is marked {ecol}=1; nothing is left to fit.", path=path, column=ecol)

    params = column(pcol, count=True)
    if params_column:
        notes.append(f"{path}: N from column '{pcol}'.")
    loss = column(lcol)
    n = len(rows)
    nan = np.full(n, np.nan)
    flops = column("flops") if "flops" in cols else None
    if "tokens" in cols:
        tokens = column("tokens", count=True)
    else:
        assert flops is not None
        tokens = flops / (6.0 * params)
        notes.append(f"{path}: no 'tokens' column; D imputed as C / (6 N) from 'flops'.")
        warnings.warn(notes[-1], AssumptionWarning, stacklevel=2)
    lr = column("lr", upper=10.0) if "lr" in cols else nan.copy()

    # ---- batch size, in tokens, with explicit units
    seqs_name = "batch_size_seqs" if "batch_size_seqs" in cols else None
    seq = column("seq_len") if "seq_len" in cols else (np.full(n, float(seq_len)) if seq_len else None)
    batch = nan.copy()
    if "batch_size_tokens" in cols:
        batch = column("batch_size_tokens")
        other = seqs_name or ("batch_size" if "batch_size" in cols and batch_unit != "tokens" else None)
        if other is not None and seq is not None:
            implied = column(other) * seq
            bad = np.flatnonzero(np.abs(implied - batch) > 1e-6 * batch)
            if bad.size:
                i = int(bad[0])
                raise TableError(
                    f"batch_size_tokens is {batch[i]:g} but {other} x seq_len is {implied[i]:g}. Make them agree "
                    "or drop one of the columns.", path=path, line=rows[i][0], column="batch_size_tokens",
                    value=batch[i])
        notes.append(f"{path}: batch size in tokens from 'batch_size_tokens'.")
    elif seqs_name is not None or "batch_size" in cols:
        name = seqs_name or "batch_size"
        unit = "sequences" if seqs_name else batch_unit
        if unit is None:
            unit = "sequences" if seq is not None else None
        if unit is None:
            raise TableError(
                "column 'batch_size' has no unit: it could be sequences or tokens. Add a 'seq_len' column "
                "(batch_size then counts sequences), rename it 'batch_size_tokens', or pass --batch-unit tokens.",
                path=path, line=1, column="batch_size")
        raw = column(name)
        if unit == "tokens":
            batch = raw
            notes.append(f"{path}: '{name}' read as tokens per step (--batch-unit tokens).")
        else:
            if seq is None:
                raise TableError(
                    f"column '{name}' counts sequences but the table has no 'seq_len'. Add a 'seq_len' column or "
                    "pass --seq-len.", path=path, line=1, column="seq_len")
            batch = raw * seq
            notes.append(f"{path}: batch size in tokens = '{name}' (sequences) x seq_len.")
    if np.isfinite(batch).any() and np.nanmax(batch) < 64:
        i = int(np.nanargmax(batch))
        raise TableError(
            f"batch size is at most {batch[i]:g} tokens, which looks like a count of sequences. Add 'seq_len' or "
            "pass --batch-unit sequences --seq-len L.", path=path, line=rows[i][0], column="batch_size",
            value=batch[i])

    # ---- compute: stated, never implicit
    if flops is not None:
        compute = "flops column"
        ratio = flops / (6.0 * params * tokens)
        off = np.flatnonzero((ratio > 3) | (ratio < 1 / 3))
        if off.size and "tokens" in cols:
            i = int(off[0])
            warnings.warn(f"{path}:{rows[i][0]}: 'flops' is {ratio[i]:.2f} x 6ND; check its unit (FLOPs, not "
                          "PF-days).", AssumptionWarning, stacklevel=2)
        notes.append(f"{path}: compute C from the 'flops' column.")
    else:
        compute = "6ND"
        flops = 6.0 * params * tokens
        notes.append(f"{path}: no 'flops' column; compute C = 6 N D (Kaplan et al. 2020)"
                     + (f" with N from '{pcol}'." if params_column else "."))
    warnings.warn(notes[-1], AssumptionWarning, stacklevel=2)

    return Table(
        params=params, tokens=tokens, loss=loss, lr=lr, batch_size=batch, flops=flops,
        source=(path,) * n, line=np.array([r[0] for r in rows], dtype=np.int64), compute=compute, notes=tuple(notes),
    )


def read_points(path: str | os.PathLike[str]) -> Points:
    """Read a table of runs to predict: ``params`` and ``tokens`` (or ``flops``, then D = C / 6N), optional
    ``flops``; other columns are ignored. Raises :class:`TableError` naming the line and column of a bad cell."""
    path = str(path)
    header, rows = _read_csv(path)
    cols = {name: i for i, name in enumerate(header)}
    found = ", ".join(header)
    if "params" not in cols:
        raise TableError(f"missing column 'params' (found: {found}). Give the parameter count N of each run to "
                         "predict.", path=path, line=1, column="params")
    if "tokens" not in cols and "flops" not in cols:
        raise TableError(f"missing column 'tokens' (found: {found}). Give the training tokens D (or 'flops').",
                         path=path, line=1, column="tokens")
    params = _column(path, rows, cols["params"], "params", count=True)
    flops = _column(path, rows, cols["flops"], "flops") if "flops" in cols else None
    tokens = (_column(path, rows, cols["tokens"], "tokens", count=True) if "tokens" in cols
              else flops / (6.0 * params))  # type: ignore[operator]
    return Points(params=params, tokens=tokens, flops=flops, source=path,
                  line=np.array([r[0] for r in rows], dtype=np.int64))
