"""Summary tables: one row per finished run, the input of the hyperparameter and scaling laws.

A summary table is a CSV file with a header row (``#`` comment lines and blank lines are skipped but counted, so
every message names the line an editor shows). Columns, all positive and finite:

============================  =====================================================================================
``params``                    non-embedding parameter count N (a count, not millions)
``tokens``                    training tokens D (a count); may be omitted when ``flops`` is given (D = C / 6N)
``loss``                      final loss in nats/token (another column with ``loss_column=``, e.g. ``smooth_loss``)
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
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from scalefit.errors import AssumptionWarning, TableError
from scalefit.runs import stated_floor

#: Columns other than ``loss`` that hold a loss: used only to suggest ``--loss-column``.
_LOSS_LIKE = ("final_loss", "smooth_loss", "val_loss", "eval_loss", "train_loss")
#: Quantities a caller may require; "batch_size" means a batch size in tokens can be formed.
QUANTITIES = ("params", "tokens", "loss", "lr", "batch_size")
#: Below this a count looks like it was given in millions or billions.
_MIN_COUNT = 1e3


@dataclass(frozen=True, eq=False)
class Table:
    """Rows of finished runs, in base units. Arrays have shape (n,); NaN marks a quantity a row does not give.

    Attributes
    ----------
    params, tokens : ndarray
        N (non-embedding parameters) and D (training tokens).
    loss : ndarray
        Final loss, nats/token.
    lr : ndarray
        Peak learning rate (NaN when the table has none).
    batch_size : ndarray
        Batch size in tokens (NaN when the table has none).
    flops : ndarray
        Training compute C in FLOPs: the ``flops`` column when given, else 6 N D.
    source, line : tuple of str, ndarray of int
        File and 1-based line of every row (a run file's rows point at its last line).
    compute : str
        How ``flops`` was defined, in words ("6ND" or "flops column" or a mix).
    notes : tuple of str
        Every assumption the reader made.
    irreducible_loss : ndarray or None
        The data's known loss floor per row (run files' ``irreducible_loss`` metadata; NaN where a row does not
        state one), or None for tables that cannot state one (summary CSVs). :meth:`known_floor` turns it into one
        number.
    """

    params: np.ndarray
    tokens: np.ndarray
    loss: np.ndarray
    lr: np.ndarray
    batch_size: np.ndarray
    flops: np.ndarray
    source: tuple[str, ...]
    line: np.ndarray
    compute: str = "6ND"
    notes: tuple[str, ...] = field(default_factory=tuple)
    irreducible_loss: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.params.shape[0])

    def known_floor(self) -> float | None:
        """The smallest stated irreducible loss when every row states one (else None: the floor is not known)."""
        f = self.irreducible_loss
        if f is None or len(f) == 0 or not np.all(np.isfinite(f)):
            return None
        return float(np.min(f))

    def where(self, i: int) -> str:
        """``path:line`` of row ``i``, for messages."""
        return f"{self.source[i]}:{int(self.line[i])}"

    def select(self, mask: np.ndarray) -> Table:
        """The rows where ``mask`` is true (a boolean or index array)."""
        idx = np.arange(len(self))[mask]
        return Table(
            params=self.params[idx], tokens=self.tokens[idx], loss=self.loss[idx], lr=self.lr[idx],
            batch_size=self.batch_size[idx], flops=self.flops[idx],
            source=tuple(self.source[i] for i in idx), line=self.line[idx], compute=self.compute, notes=self.notes,
            irreducible_loss=None if self.irreducible_loss is None else self.irreducible_loss[idx],
        )

    def require(self, *quantities: str, purpose: str) -> None:
        """Raise :class:`TableError` unless every row gives each of ``quantities`` (names from QUANTITIES)."""
        for q in quantities:
            values = getattr(self, q)
            bad = np.flatnonzero(~np.isfinite(values))
            if bad.size:
                i = int(bad[0])
                column = "batch_size_tokens (or batch_size + seq_len)" if q == "batch_size" else q
                raise TableError(
                    f"{purpose} needs '{column}' on every row, but {bad.size} row(s) lack it (first here). "
                    f"Add the column to the table (or the metadata '{q}' to the run file).",
                    path=self.source[i], line=int(self.line[i]), column=q,
                )


def concat(tables: Sequence[Table]) -> Table:
    """Join tables row-wise; the compute definition becomes a mix when they differ."""
    if len(tables) == 1:
        return tables[0]
    kinds = sorted({t.compute for t in tables})
    notes: list[str] = []
    for t in tables:
        notes.extend(n for n in t.notes if n not in notes)
    return Table(
        params=np.concatenate([t.params for t in tables]),
        tokens=np.concatenate([t.tokens for t in tables]),
        loss=np.concatenate([t.loss for t in tables]),
        lr=np.concatenate([t.lr for t in tables]),
        batch_size=np.concatenate([t.batch_size for t in tables]),
        flops=np.concatenate([t.flops for t in tables]),
        source=tuple(s for t in tables for s in t.source),
        line=np.concatenate([t.line for t in tables]),
        irreducible_loss=None if all(t.irreducible_loss is None for t in tables) else np.concatenate(
            [np.full(len(t), np.nan) if t.irreducible_loss is None else t.irreducible_loss for t in tables]),
        compute=kinds[0] if len(kinds) == 1 else "mixed: " + ", ".join(kinds),
        notes=tuple(notes),
    )


# ---------------------------------------------------------------------------------------------------------------
# CSV summary tables


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


def read_table(
    path: str | os.PathLike[str],
    *,
    loss_column: str | None = None,
    batch_unit: str | None = None,
    seq_len: int | None = None,
    exclude_column: str | None = None,
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
        fix = f"Pass --loss-column {alts[0]}" if alts else "Add a 'loss' column (final loss in nats/token)"
        raise TableError(f"missing column '{lcol}' (found: {found}). {fix}.", path=path, line=1, column=lcol)
    if "params" not in cols:
        raise TableError(f"missing column 'params' (found: {found}). Add the non-embedding parameter count N "
                         "of each run.", path=path, line=1, column="params")
    if "tokens" not in cols and "flops" not in cols:
        raise TableError(f"missing column 'tokens' (found: {found}). Add the training tokens D of each run (or a "
                         "'flops' column, from which D = C / 6N).", path=path, line=1, column="tokens")

    def column(name: str, *, count: bool = False, upper: float | None = None) -> np.ndarray:
        j = cols[name]
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
                   f"{', '.join(map(str, dropped[:5]))}{', ...' if len(dropped) > 5 else ''}).")
            notes.append(msg)
            warnings.warn(msg, AssumptionWarning, stacklevel=2)
        rows = keep_rows
        if not rows:
            raise TableError(f"every row is marked {ecol}=1; nothing is left to fit.", path=path, column=ecol)

    params = column("params", count=True)
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
        notes.append(f"{path}: no 'flops' column; compute C = 6 N D (Kaplan et al. 2020).")
    warnings.warn(notes[-1], AssumptionWarning, stacklevel=2)

    return Table(
        params=params, tokens=tokens, loss=loss, lr=lr, batch_size=batch, flops=flops,
        source=(path,) * n, line=np.array([r[0] for r in rows], dtype=np.int64), compute=compute, notes=tuple(notes),
    )


# ---------------------------------------------------------------------------------------------------------------
# Run files as rows


def final_loss(run: object, k: int = 1) -> tuple[float, str]:
    """Final loss of a run and the rule used: the mean of the last ``k`` observed ``val_loss`` values when the
    run has that column, else of its target (``run.loss``).

    The default ``k=1`` takes the last observation: averaging over a decaying schedule's tail biases upward.
    """
    extra = getattr(run, "extra", {}) or {}
    if "val_loss" in extra and np.isfinite(extra["val_loss"]).any():
        values, name = np.asarray(extra["val_loss"], float), "val_loss"
    else:
        values, name = np.asarray(run.loss, float), str(getattr(run, "target", "loss"))  # type: ignore[attr-defined]
    observed = values[np.isfinite(values)]
    if observed.size == 0:
        raise TableError(f"has no observed '{name}' value; cannot take a final loss.", path=run.path)  # type: ignore
    meta = getattr(run, "meta", {}) or {}
    total = meta.get("total_steps")
    last = int(np.asarray(run.steps)[-1])  # type: ignore[attr-defined]
    if isinstance(total, (int, float)) and last < int(total) - 1:
        raise TableError(
            f"the run stopped at step {last} of its {int(total)} planned steps (metadata total_steps), so its last "
            "loss is not a final loss. Finish it (scalefit train --resume) or leave it out.",
            path=run.path, column="step", value=last)  # type: ignore[attr-defined]
    tail = observed[-k:]
    rule = f"last observed {name}" if k == 1 else f"mean of the last {tail.size} observed {name} values"
    return float(tail.mean()), rule


def table_from_runs(runs: Iterable[object], k: int = 1) -> Table:
    """Turn runs (``scalefit.runs.Run``) into table rows.

    Per run: loss from :func:`final_loss`; ``params`` from metadata; batch size in tokens from ``tokens_per_step``
    or ``batch_size`` (sequences) x ``seq_len``; tokens from the last ``tokens`` value if logged, else
    (last step + 1) x batch tokens; lr from ``peak_lr`` metadata, else the schedule's maximum.
    """
    rows = []
    notes: list[str] = []
    for run in runs:
        meta = dict(run.meta)  # type: ignore[attr-defined]
        path = str(run.path)  # type: ignore[attr-defined]
        last_line = int(run.line[-1]) if len(run.line) else 1  # type: ignore[attr-defined]
        loss, rule = final_loss(run, k)
        if "params" not in meta:
            raise TableError("has no 'params' metadata (non-embedding parameter count). Add a '# params: N' "
                             "header line.", path=path, line=1, column="params")
        params = float(meta["params"])
        if "tokens_per_step" in meta:
            batch = float(meta["tokens_per_step"])
        elif "batch_size" in meta and "seq_len" in meta:
            batch = float(meta["batch_size"]) * float(meta["seq_len"])
        else:
            batch = math.nan
        extra = getattr(run, "extra", {}) or {}
        last_step = int(run.steps[-1])  # type: ignore[attr-defined]
        if "tokens" in extra and np.isfinite(extra["tokens"]).any():
            tok = np.asarray(extra["tokens"], float)
            tokens = float(tok[np.isfinite(tok)][-1])
        elif math.isfinite(batch):
            tokens = (last_step + 1) * batch
        else:
            raise TableError("gives neither a 'tokens' column nor 'tokens_per_step' (or batch_size and seq_len) "
                             "metadata, so its training tokens are unknown. Add '# tokens_per_step: B'.",
                             path=path, line=1, column="tokens")
        lr = float(meta["peak_lr"]) if "peak_lr" in meta else float(np.max(run.lr))  # type: ignore[attr-defined]
        floor = stated_floor(meta)
        floor = math.nan if floor is None else floor
        rows.append((params, tokens, loss, lr, batch, path, last_line, floor))
        notes.append(f"{path}: final loss = {rule}.")
    if not rows:
        raise TableError("no runs given. Pass run files or a summary table.")
    arr = np.array([r[:5] for r in rows], dtype=float)
    notes.append("run files: compute C = 6 N D (Kaplan et al. 2020).")
    warnings.warn(f"{len(rows)} run file(s): final loss = {rule}; compute C = 6 N D.", AssumptionWarning,
                  stacklevel=2)
    return Table(
        params=arr[:, 0], tokens=arr[:, 1], loss=arr[:, 2], lr=arr[:, 3], batch_size=arr[:, 4],
        flops=6.0 * arr[:, 0] * arr[:, 1], source=tuple(r[5] for r in rows),
        line=np.array([r[6] for r in rows], dtype=np.int64), compute="6ND", notes=tuple(notes),
        irreducible_loss=np.array([r[7] for r in rows], dtype=float),
    )


def read_tables(
    paths: Sequence[str | os.PathLike[str]],
    *,
    loss_column: str | None = None,
    batch_unit: str | None = None,
    seq_len: int | None = None,
    exclude_column: str | None = None,
    k: int = 1,
    resumed: bool = False,
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
                                 exclude_column=exclude_column))
    if run_paths:
        try:
            from scalefit.readers import read_runs
        except ImportError:  # pragma: no cover - the readers package lands separately
            raise TableError("run files need scalefit.readers, which is not available in this build. Pass a "
                             "summary table instead.", path=run_paths[0]) from None
        tables.append(table_from_runs(read_runs(run_paths, resumed=resumed), k=k))
    return concat(tables)
