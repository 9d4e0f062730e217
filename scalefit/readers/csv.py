"""scalefit's native run file: CSV with ``step,lr,loss`` (+ any columns) and optional ``# key: value`` metadata.

The text layer here (:func:`parse_csv`) is shared with the W&B and Lightning readers: it keeps every row's
1-based editor line (metadata, blank and header lines count), finds binary or undecodable bytes, a wrong
delimiter, duplicated column names and ragged rows, and never drops a row.

Format
------
::

    # params: 98624          <- optional metadata, before the header; values read as int/float when numeric
    # warmup_steps: 100
    step,lr,loss,val_loss
    0,1e-05,4.85,4.86
    1,2e-05,4.84,            <- an empty cell is "not measured on this step"

Blank lines and lines starting with ``#`` after the header are comments. Tab- and ``;``-separated files are
read when the header uses that delimiter and holds no comma (a note says so). Quoted cells follow RFC 4180.
"""

from __future__ import annotations

import csv as _csv
import re
from pathlib import Path
from typing import Any

import numpy as np

from scalefit.errors import RunFileError
from scalefit.readers._core import Column, Problem, Table, build_run, parse_scalar
from scalefit.runs import Run

_META = re.compile(r"^#\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*:\s*(.*?)\s*$")


def read_bytes(path: str | Path) -> bytes:
    """The file's bytes, or a RunFileError naming the path."""
    name = str(path)
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise RunFileError("file not found. Check the path.", path=name) from None
    except IsADirectoryError:
        raise RunFileError("is a directory, expected a file.", path=name) from None
    except OSError as exc:
        raise RunFileError(f"cannot read the file ({exc.strerror}).", path=name) from None


def decode(raw: bytes, path: str) -> str:
    """UTF-8 text of a run file; binary or undecodable bytes raise a RunFileError with the line."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise RunFileError("the file is UTF-16 text (e.g. Excel's 'Unicode text'). Save it as CSV UTF-8.",
                           path=path, line=1)
    nul = raw.find(b"\x00")
    if nul >= 0:
        line = raw.count(b"\n", 0, nul) + 1
        raise RunFileError(
            f"binary data (a NUL byte at byte {nul}); this is not a text CSV. Give the CSV run file (a "
            "TensorBoard event file goes in as its directory).", path=path, line=line)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        byte = raw[exc.start: exc.start + 1].hex()
        raise RunFileError(
            f"byte 0x{byte} (at byte {exc.start}) is not valid UTF-8; the file is binary or in another encoding. "
            "Save it as CSV UTF-8.", path=path, line=line) from None


def sniff_header(text: str) -> tuple[list[str], int, str] | None:
    """(header cells, 1-based header line, delimiter) of a CSV text, or None when it has no header line."""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        delim = _delimiter(line)
        cells = next(_csv.reader([line], delimiter=delim))
        return [c.strip() for c in cells], number, delim
    return None


def _delimiter(header: str) -> str:
    if "," in header:
        return ","
    if "\t" in header:
        return "\t"
    if ";" in header:
        return ";"
    return ","


def parse_csv(path: str | Path, fmt: str = "csv", text: str | None = None) -> Table:
    """Parse a CSV run file into a :class:`Table` (cells as text, lines kept), checking its structure."""
    name = str(path)
    if text is None:
        text = decode(read_bytes(path), name)
    if not text.strip():
        raise RunFileError("the file is empty. A run file has a header 'step,lr,loss' and one row per logged "
                           "step.", path=name)
    lines = text.splitlines()
    meta: dict[str, Any] = {}
    notes: list[str] = []
    header_idx = -1
    for k, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            m = _META.match(stripped)
            if m:
                meta[m.group(1)] = parse_scalar(m.group(2))
            continue
        header_idx = k
        break
    if header_idx < 0:
        raise RunFileError("no header line, only '#' metadata. Add the header 'step,lr,loss' and the rows.",
                           path=name, line=len(lines))
    header_line = header_idx + 1
    header_text = lines[header_idx]
    delim = _delimiter(header_text)
    if delim != ",":
        notes.append(f"read as {'tab' if delim == chr(9) else repr(delim)}-separated (the header has no comma)")
    elif " " in header_text.strip() and len(header_text.split(",")) == 1:
        pass  # a one-column header: the missing-column error lists what was found
    header = [c.strip() for c in next(_csv.reader([header_text], delimiter=delim))]
    if len(header) == 1 and len(header_text.split()) > 1:
        raise RunFileError(
            f"the header {header_text.strip()!r} has no comma; the file looks whitespace-separated. Save it as "
            "comma-separated (step,lr,loss).", path=name, line=header_line)
    seen: dict[str, int] = {}
    for j, col in enumerate(header):
        if not col:
            header[j] = col = f"(column {j + 1})"
        if col in seen:
            raise RunFileError(
                f"column '{col}' appears twice in the header (columns {seen[col] + 1} and {j + 1}); a column name "
                "must be unique. Rename or delete one.", path=name, line=header_line, column=col, value=col)
        seen[col] = j
    width = len(header)

    # data lines: skip blank and '#' comment lines, keep the editor line of every row
    rest = lines[header_idx + 1:]
    keep = [k for k, s in enumerate(rest) if s.strip() and not s.lstrip().startswith("#")]
    if len(keep) == len(rest):  # the common case: no blank or comment lines among the rows
        body, numbers = rest, np.arange(header_idx + 2, header_idx + 2 + len(rest))
    else:
        body, numbers = [rest[k] for k in keep], np.asarray(keep, dtype=np.int64) + header_idx + 2
    reader = _csv.reader(body, delimiter=delim, strict=False)
    rows = list(reader)
    if len(rows) != len(body):
        raise RunFileError("a quoted cell spans several lines; a run file has one row per line. Remove the "
                           "line break inside the quotes.", path=name, line=header_line)
    line_arr = np.asarray(numbers, dtype=np.int64)
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    ragged = np.flatnonzero(lengths != width)
    problems: list[Problem] = []
    if ragged.size:
        last_partial = not text.endswith(("\n", "\r"))
        n_rows = len(rows)

        def say(i: int) -> str:
            got = int(lengths[i])
            msg = (f"row has {got} {'cell' if got == 1 else 'cells'} but the header (line {header_line}) has "
                   f"{width} columns; every row needs one cell per column (empty cells are fine).")
            if i == n_rows - 1 and last_partial and got < width:
                msg += " The last line looks cut off (a run killed mid-write?): delete it."
            elif delim == "," and got < width and any(";" in c or "\t" in c for c in rows[i]):
                msg += " The row looks ';'- or tab-separated: save the file as comma-separated."
            else:
                msg += " Fix or delete that row."
            return msg
        problems.append(Problem(ragged, None, lambda i: delim.join(rows[i]), say))
        for i in ragged.tolist():
            r = rows[i]
            rows[i] = (r + [""] * width)[:width]
    if rows:
        cols = [np.char.strip(np.asarray(c, dtype=str)) for c in zip(*rows)]
    else:
        cols = [np.zeros(0, dtype=str) for _ in header]
    columns = [Column.from_cells(h, c) for h, c in zip(header, cols)]
    return Table(path=name, columns=columns, line=line_arr, fmt=fmt, header_line=header_line, meta=meta,
                 notes=notes, problems=problems)


def read(path: str | Path, *, target: str = "loss", warmup: int | None = None, schedule_file: str | None = None,
         text: str | None = None, resumed: bool = False, fmt: str = "csv") -> list[Run]:
    """Read a native run-file CSV (also W&B history exports, which are the same shape) into one Run."""
    table = parse_csv(path, fmt=fmt, text=text)
    return [build_run(table, target=target, warmup=warmup, schedule_file=schedule_file, resumed=resumed)]
