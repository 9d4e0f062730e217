"""Per-step schedule files: CSV with columns ``step,lr``, written so that reading gives back the same floats."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import numpy as np

from scalefit.errors import ScheduleSpecError


def to_csv(path: str | os.PathLike[str], lr: np.ndarray) -> Path:
    """Write a per-step schedule as CSV with columns ``step,lr`` (steps 0..T-1), atomically.

    Values are written in the shortest form that reads back as the same float (numpy's repr), so
    :func:`from_file` returns exactly ``lr``.
    """
    from scalefit.jsonio import write_text

    arr = _check_array(lr, "lr")
    rows = np.char.add(np.char.add(np.arange(arr.size).astype(str), ","), arr.astype(str))  # (T,) "s,lr"
    return write_text(path, "step,lr\n" + "".join(row + "\n" for row in rows.tolist()))


def from_file(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a per-step schedule CSV: columns ``step`` and ``lr``, one row per step ``0 .. T-1``.

    Accepted: a header row naming ``step`` and ``lr`` (any order, any case, other columns ignored, so a dense
    run file works too); blank lines and lines starting with ``#`` are skipped. Steps must be the integers
    ``0, 1, ..., T-1`` in order; ``lr`` must be finite and >= 0.

    Raises
    ------
    ScheduleSpecError
        Naming the file, the 1-based line, the column, the value and the fix.
    """
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScheduleSpecError("schedule file not found. Check the path, or write one with "
                                "'scalefit schedule SPEC --out lr.csv'.", path=name) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScheduleSpecError(f"cannot read schedule file ({exc.__class__.__name__}: {exc}). "
                                "Give a UTF-8 CSV with columns step,lr.", path=name) from None
    rows: list[list[str]] = []
    lines: list[int] = []
    header: list[str] | None = None
    header_line = 0
    for lineno, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or all(not cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
            continue
        if header is None:
            header, header_line = [cell.strip().lower() for cell in row], lineno
            continue
        rows.append(row)
        lines.append(lineno)
    if header is None:
        raise ScheduleSpecError("schedule file is empty. Give a CSV with header 'step,lr' and one row per step.",
                                path=name, line=1)
    for col in ("step", "lr"):
        if col not in header:
            raise ScheduleSpecError(
                f"missing column '{col}' (found: {', '.join(header)}). The header must name 'step' and 'lr'.",
                path=name, line=header_line, column=col)
    if not rows:
        raise ScheduleSpecError("schedule file has a header but no rows. Add one row per step: 0,<lr>.",
                                path=name, line=header_line)
    i_step, i_lr = header.index("step"), header.index("lr")
    width = len(header)
    for row, lineno in zip(rows, lines):
        if len(row) < width:
            raise ScheduleSpecError(f"row has {len(row)} cells, the header has {width}. Fill every column.",
                                    path=name, line=lineno, value=",".join(row))
    steps_txt = [row[i_step] for row in rows]
    lr_txt = [row[i_lr] for row in rows]
    steps = _parse_column(steps_txt, lines, name, "step")
    lr = _parse_column(lr_txt, lines, name, "lr")
    bad = np.flatnonzero(steps != np.arange(steps.size))
    if bad.size:
        j = int(bad[0])
        raise ScheduleSpecError(
            f"column 'step' is {steps_txt[j].strip()} but {j} was expected; steps must be 0, 1, ..., T-1 with "
            "one row per step. Write the schedule densely (e.g. 'scalefit schedule SPEC --out lr.csv').",
            path=name, line=lines[j], column="step", value=steps_txt[j].strip())
    bad = np.flatnonzero(~np.isfinite(lr) | (lr < 0))
    if bad.size:
        j = int(bad[0])
        raise ScheduleSpecError(
            f"column 'lr' is {lr_txt[j].strip()}; learning rates must be finite and >= 0. Fix that row.",
            path=name, line=lines[j], column="lr", value=lr_txt[j].strip())
    return lr


def _parse_column(cells: list[str], lines: list[int], path: str, column: str) -> np.ndarray:
    try:
        return np.array(cells, dtype=np.float64)  # fast path; numpy parses the strings
    except ValueError:
        pass
    for cell, lineno in zip(cells, lines):  # slow path only to locate the bad cell
        try:
            float(cell)
        except ValueError:
            what = "empty" if not cell.strip() else f"{cell.strip()!r}, not a number"
            raise ScheduleSpecError(f"column '{column}' is {what}. Give a number on every row.",
                                    path=path, line=lineno, column=column, value=cell) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _check_array(lr: Any, what: str) -> np.ndarray:
    arr = np.asarray(lr, dtype=np.float64)
    if arr.ndim != 1:
        raise ScheduleSpecError(f"{what} must be a 1-D per-step array; got shape {arr.shape}.")
    if arr.size and not (np.all(np.isfinite(arr)) and np.all(arr >= 0)):
        j = int(np.flatnonzero(~np.isfinite(arr) | (arr < 0))[0])
        raise ScheduleSpecError(f"{what}[{j}] is {float(arr[j])!r}; learning rates must be finite and >= 0.",
                                value=float(arr[j]))
    return arr
