"""The one CSV text reader of the package: a comma- (or tab-, or ``;``-) separated file with a header line, into
a :class:`~scalefit.readers.table.Table` that keeps every row's editor line.

Lines as an editor shows them: metadata, blank, comment and header lines count; a row's ``line`` is 1-based.
``#`` lines before the header are metadata (``# key: value``); blank and ``#`` lines after it are comments. Tab-
and ``;``-separated files are read when the header uses that delimiter and holds no comma (a note says so).

Two parsers give the same table:

- a streaming one (pandas' C parser in chunks, after a vectorised scan of the bytes that finds blank, comment and
  ragged lines), for files whose rows are plain: it holds the file's bytes plus ~10 bytes per cell, and reads a
  cell's text back from the bytes only when a message needs it;
- an exact one (Python's ``csv`` module, a string per cell), for everything else: quoted delimiters or line
  breaks, ragged rows, unusual line endings. Its problems (ragged rows) are collected, never dropped.

A last line without its newline may be a row cut by a writer that died mid-line: when it has fewer cells than
the header, or a cell shorter than the row above's, it is left out with a note (:func:`_cut_last_line`).
"""

from __future__ import annotations

import csv as _csv
import re
import warnings
from pathlib import Path
from typing import Any, Callable, Type

import numpy as np

from scalefit.errors import RunFileError, ScalefitError
from scalefit.readers.source import Source
from scalefit.readers.table import Column, Problem, Table, parse_scalar

_META = re.compile(r"^#\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*:\s*(.*?)\s*$")
#: Header cells that are data, not names: a bare number (no header line), a decimal number or 'name: value'
#: inside a cell (a text log such as nanoGPT's 'step 0: train loss 10.98, val loss 10.99').
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_DATA = re.compile(r"[A-Za-z_]:\s*[-+]?\.?\d|\s\d+:|[A-Za-z]\s+[-+]?\d+\.\d+")
#: Rows per block of the C parser.
PARSE_ROWS = 1 << 19
#: Line breaks other than \n and \r\n that an editor (and str.splitlines) also breaks lines at.
_ODD_BREAKS = (b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e")
_ODD_BREAKS_UTF8 = (b"\xc2\x85", b"\xe2\x80\xa8", b"\xe2\x80\xa9")


def _odd_breaks(block: bytes) -> bool:
    """Whether ``block`` holds a line break other than \\n and \\r\\n (each test a C-speed search)."""
    if any(c in block for c in _ODD_BREAKS) or block.count(b"\r") != block.count(b"\r\n"):
        return True
    return not block.isascii() and any(c in block for c in _ODD_BREAKS_UTF8)


def sniff_header(text: str) -> tuple[list[str], int, str] | None:
    """(header cells, 1-based header line, delimiter) of a CSV text, or None when it has no header line."""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        delim = _delimiter(line)
        return [c.strip() for c in _split(line, delim)], number, delim
    return None


def _delimiter(header: str) -> str:
    for d in (",", "\t", ";"):
        if d in header:
            return d
    return ","


def parse_csv(path: str | Path | Source, fmt: str = "csv", error: Type[ScalefitError] = RunFileError) -> Table:
    """Parse a CSV file (a path, or a :class:`~scalefit.readers.source.Source`) into a :class:`Table`.

    Structure errors (binary data, no header, a duplicated column name, a whitespace-separated file) raise
    ``error`` with the line; ragged rows become problems of the table, raised with the others by the caller.
    Cells stay cells: the table says which are empty and which are text; the run-file rules come later.
    """
    src = path if isinstance(path, Source) else Source(path, error)
    name = src.path
    src.check_text()
    head = src.head()
    if head.count(b"\r") != head.count(b"\r\n"):  # old Mac line ends (a lone CR), as an editor breaks them
        src = Source(name, error, raw=src.read().replace(b"\r\n", b"\n").replace(b"\r", b"\n"))
    meta: dict[str, Any] = {}
    notes: list[str] = []
    header_text, header_line, body_start = _preamble(src, meta)
    delim = _delimiter(header_text)
    if delim != ",":
        notes.append(f"read as {'tab' if delim == chr(9) else repr(delim)}-separated (the header has no comma)")
    try:
        header = [c.strip() for c in next(_csv.reader([header_text], delimiter=delim))]
    except _csv.Error as exc:
        raise error(f"the header line cannot be read as CSV ({exc}). Save the file as CSV UTF-8 with a header "
                    "step,lr,loss.", path=name, line=header_line) from None
    if any(_NUMBER.fullmatch(c) for c in header):
        raise error(f"line {header_line} holds numbers, not column names ({header_text.strip()[:60]!r}): the file has "
                    "no header. Add the header line, e.g. step,lr,loss.", path=name, line=header_line)
    if any(_DATA.search(c) for c in header):
        raise error(f"line {header_line} is not a CSV header ({header_text.strip()[:60]!r}): this looks like a text "
                    "log. Convert it to a comma-separated CSV with a header, e.g. step,lr,loss.", path=name,
                    line=header_line)
    if len(header) == 1 and len(header_text.split()) > 1:
        raise error(f"the header {header_text.strip()!r} has no comma; the file looks whitespace-separated. Save it "
                    "as comma-separated (step,lr,loss).", path=name, line=header_line)
    seen: dict[str, int] = {}
    for j, col in enumerate(header):
        if not col:
            header[j] = col = f"(column {j + 1})"
        if col in seen:
            raise error(f"column '{col}' appears twice in the header (columns {seen[col] + 1} and {j + 1}); a column "
                        "name must be unique. Rename or delete one.", path=name, line=header_line, column=col,
                        value=col)
        seen[col] = j
    fast = _fast_body(src, body_start, header_line, delim, header)
    if fast is not None:
        columns, line_arr = fast
        problems: list[Problem] = []
    else:
        columns, line_arr, problems = _exact_body(src, body_start, header_line, delim, header, error)
    table = Table(path=name, columns=columns, line=line_arr, fmt=fmt, header_line=header_line, meta=meta,
                  notes=notes, problems=problems)
    return _cut_last_line(table, src, delim)


def _preamble(src: Source, meta: dict[str, Any]) -> tuple[str, int, int]:
    """(header text, its 1-based line, byte offset of the line after it); ``# key: value`` lines go to ``meta``."""
    number, seen_text = 0, False
    for pos, block in src.blocks():
        at = 3 if pos == 0 and block.startswith(b"\xef\xbb\xbf") else 0
        while at < len(block):
            end = block.find(b"\n", at)
            end = len(block) if end < 0 else end
            line = block[at:end].decode("utf-8").rstrip("\r")
            number += 1
            at = end + 1
            stripped = line.strip()
            if not stripped:
                continue
            seen_text = True
            if stripped.startswith("#"):
                m = _META.match(stripped)
                if m:
                    meta[m.group(1)] = parse_scalar(m.group(2))
                continue
            return line, number, min(pos + at, src.size)
    if not seen_text:
        raise src.error("the file is empty. A run file has a header 'step,lr,loss' and one row per logged step.",
                        path=src.path)
    raise src.error("no header line, only '#' metadata. Add the header 'step,lr,loss' and the rows.", path=src.path,
                    line=number)


# ---------------------------------------------------------------------------------------------------------------
# the streaming parser
# ---------------------------------------------------------------------------------------------------------------
def _fast_body(src: Source, start: int, header_line: int, delim: str,
               header: list[str]) -> tuple[list[Column], np.ndarray] | None:
    """Columns and editor lines of the rows after the header, or None when the body needs the exact parser."""
    width = len(header)
    if start >= src.size:
        return [Column.from_values(h, np.zeros(0)) for h in header], np.zeros(0, dtype=np.int64)
    keep = _scan(src, start, ord(delim), width)
    if keep is None:
        return None
    first = header_line + 1  # editor line of the first body line
    line_arr = np.flatnonzero(keep).astype(np.int64)
    line_arr += first
    n = line_arr.size
    skip = set(range(header_line)) | set((np.flatnonzero(~keep) + header_line).tolist())
    del keep
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        return None
    values = [np.empty(n, dtype=np.float64) for _ in header]
    empty = [np.zeros(n, dtype=bool) for _ in header]
    text = [np.zeros(n, dtype=bool) for _ in header]
    raws: list[list[np.ndarray] | None] = [[] for _ in header]
    row = 0
    fh = src.open()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = pd.read_csv(fh, sep=delim, header=None, names=list(range(width)), index_col=False,
                                 keep_default_na=False, na_values=[""], skip_blank_lines=False,
                                 skipinitialspace=True, skiprows=skip, engine="c", encoding="utf-8",
                                 chunksize=PARSE_ROWS, quotechar='"', comment=None)
            for chunk in reader:
                m = len(chunk)
                if row + m > n:
                    return None
                for j in range(width):
                    v, e, t, r = _convert(chunk[j])
                    values[j][row:row + m], empty[j][row:row + m], text[j][row:row + m] = v, e, t
                    parts = raws[j]
                    if parts is not None:
                        raws[j] = None if r is None else [*parts, r]
                row += m
    except (ValueError, OverflowError, MemoryError, UnicodeDecodeError, pd.errors.ParserError):
        return None
    finally:
        fh.close()
    if row != n:
        return None
    columns = []
    for j, h in enumerate(header):
        parts = raws[j]
        raw_j = np.concatenate(parts) if parts else None
        source = _cell_source(src, line_arr, j, delim)
        columns.append(Column(h, values[j], empty[j], text[j], raw_j, source))
    return columns, line_arr


def _cell_source(src: Source, line_arr: np.ndarray, j: int, delim: str) -> Callable[[int], str]:
    return lambda i: _cell(src.line(int(line_arr[i])), j, delim)


def _cell(line: str, j: int, delim: str) -> str:
    cells = _split(line, delim)
    return cells[j].strip() if j < len(cells) else ""


def _split(line: str, delim: str) -> list[str]:
    """The cells of one line (plain splitting when the csv module refuses it: a cell over its size limit)."""
    try:
        return next(_csv.reader([line], delimiter=delim), [])
    except _csv.Error:
        return line.split(delim)


def _scan(src: Source, start: int, delim: int, width: int) -> np.ndarray | None:
    """Per line after ``start``: True for a data row, False for a blank or ``#`` line. None when some line needs
    the exact parser (a ragged row, a quoted delimiter or line break, a line starting with white space, a line
    break other than \\n and \\r\\n)."""
    out = []
    for _, block in src.blocks(start):
        if _odd_breaks(block):
            return None
        a = np.frombuffer(block, np.uint8)  # (k,) one block of whole lines
        nl = np.flatnonzero(a == 10)
        if a[-1] == 10:
            starts, ends = np.r_[0, nl[:-1] + 1], nl
        else:
            starts, ends = np.r_[0, nl + 1], np.r_[nl, a.size]
        cr = (ends > starts) & (a[np.maximum(ends - 1, 0)] == 13)
        ends = ends - cr
        length = ends - starts
        first = a[np.minimum(starts, a.size - 1)]
        blank = length == 0
        comment = ~blank & (first == 35)
        if np.any(~blank & ((first == 32) | (first == 9))):
            return None
        data = ~blank & ~comment
        dp = np.flatnonzero(a == delim)
        cells = np.searchsorted(dp, ends) - np.searchsorted(dp, starts) + 1
        if np.any(data & (cells != width)):
            return None
        qp = np.flatnonzero(a == 34)
        if qp.size:
            quotes = np.searchsorted(qp, ends) - np.searchsorted(qp, starts)
            if np.any(quotes % 2):
                return None
            pairs = qp.reshape(-1, 2)
            if dp.size and np.any(np.searchsorted(dp, pairs[:, 1]) > np.searchsorted(dp, pairs[:, 0])):
                return None
        out.append(data)
    return np.concatenate(out) if out else np.zeros(0, dtype=bool)


def _convert(series: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """(values, empty, text, cell texts or None) of one parsed column block."""
    kind = series.dtype.kind
    if kind in "iuf":
        v = series.to_numpy(dtype=np.float64)
        e = np.isnan(v) if kind == "f" else np.zeros(v.shape, dtype=bool)
        return v, e, np.zeros(v.shape, dtype=bool), None
    obj = series.to_numpy(dtype=object)
    cells = np.array(["" if (x is None or (isinstance(x, float) and x != x)) else str(x) for x in obj.tolist()],
                     dtype=str)
    empty = cells == ""
    text = np.zeros(cells.shape, dtype=bool)
    try:
        values = np.where(empty, "nan", cells).astype(np.float64)
    except (ValueError, OverflowError):
        values = np.full(cells.shape, np.nan)
        for i, c in enumerate(cells.tolist()):
            if c:
                try:
                    values[i] = float(c)
                except (ValueError, OverflowError):
                    text[i] = True
    bools = np.array([type(x) is bool for x in obj.tolist()], dtype=bool)
    text |= bools
    values[bools] = np.nan
    return values, empty, text, cells


# ---------------------------------------------------------------------------------------------------------------
# the exact parser
# ---------------------------------------------------------------------------------------------------------------
def _exact_body(src: Source, start: int, header_line: int, delim: str, header: list[str],
                error: Type[ScalefitError]) -> tuple[list[Column], np.ndarray, list[Problem]]:
    """Columns, editor lines and ragged-row problems of the body, parsed with Python's csv module."""
    name = src.path
    text = src.read(start).decode("utf-8")
    rest = text.splitlines()
    width = len(header)
    keep = [k for k, s in enumerate(rest) if s.strip() and not s.lstrip().startswith("#")]
    body = [rest[k] for k in keep]
    numbers = np.asarray(keep, dtype=np.int64) + header_line + 1
    rows: list[list[str]] = []
    try:
        for r in _csv.reader(body, delimiter=delim, strict=False):
            rows.append(r)
    except _csv.Error as exc:
        at = int(numbers[len(rows)]) if len(rows) < numbers.size else header_line
        raise error(f"the row cannot be read as CSV ({exc}). Fix or delete that row.", path=name,
                    line=at) from None
    if len(rows) != len(body):
        raise error("a quoted cell spans several lines; a run file has one row per line. Remove the line break "
                    "inside the quotes.", path=name, line=header_line)
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    ragged = np.flatnonzero(lengths != width)
    problems: list[Problem] = []
    if ragged.size:
        def say(i: int) -> str:
            got = int(lengths[i])
            msg = (f"row has {got} {'cell' if got == 1 else 'cells'} but the header (line {header_line}) has "
                   f"{width} columns; every row needs one cell per column (empty cells are fine).")
            if delim == "," and got < width and any(";" in c or "\t" in c for c in rows[i]):
                return msg + " The row looks ';'- or tab-separated: save the file as comma-separated."
            return msg + " Fix or delete that row."
        problems.append(Problem(ragged, None, lambda i: delim.join(rows[i]), say))
        for i in ragged.tolist():
            rows[i] = (rows[i] + [""] * width)[:width]
    if rows:
        cols = [np.char.strip(np.asarray(c, dtype=str)) for c in zip(*rows)]
    else:
        cols = [np.zeros(0, dtype=str) for _ in header]
    return [Column.from_cells(h, c) for h, c in zip(header, cols)], numbers, problems


# ---------------------------------------------------------------------------------------------------------------
# a last line cut mid-write
# ---------------------------------------------------------------------------------------------------------------
def _cut_last_line(table: Table, src: Source, delim: str) -> Table:
    """Leave out the last row when the file does not end with a newline and that row may have been cut."""
    if table.n == 0 or src.ends_with_newline():
        return table
    last_line = int(table.line[-1])
    if last_line != src.line_starts().size:  # the file ends with a comment or blank line, not a row
        return table
    cells = [c.strip() for c in _split(src.line(last_line), delim)]
    width = len(table.columns)
    why = None
    if len(cells) < width:
        why = f"it has {len(cells)} of {width} cells"
    elif table.n > 1:
        above = [c.strip() for c in _split(src.line(int(table.line[-2])), delim)]
        short = [j for j in range(min(width, len(above))) if len(cells[j]) < len(above[j])]
        if short:
            j = short[0]
            why = (f"its '{table.columns[j].name}' cell {cells[j]!r} is shorter than the row above's "
                   f"{above[j]!r}")
    if why is None:
        return table
    # ragged-row problems of that row go with it
    keep = np.arange(table.n - 1)
    problems = []
    for p in table.problems:
        rows = p.rows[p.rows < table.n - 1]
        if rows.size:
            problems.append(Problem(rows, p.column, p.value, p.describe))
    note = (f"left out line {last_line}, the last line: it has no newline at its end and {why}, so the writer may "
            "have stopped mid-line. Add the newline if the line is complete")
    new = table.rows(keep, note)
    new.problems = problems
    new.warns.append(note)
    new.left_out["last line cut mid-write"] = new.left_out.get("last line cut mid-write", 0) + 1
    return new
