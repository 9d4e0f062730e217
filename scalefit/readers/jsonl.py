"""JSON lines logs (``metrics.jsonl``, ``log.jsonl``): one JSON object of metrics per line, as many custom training
loops write them (``{"step": 100, "loss": 3.2, "lr": 0.0003}``).

Keys are columns (nested objects flattened with ``/``), rows sharing a step are merged (evaluation lines), and
messages name the file's line. Blank lines are skipped; a last line without its newline that is not valid JSON
is a line cut mid-write and is left out with a note.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from scalefit.errors import RunFileError
from scalefit.readers import records
from scalefit.readers.contract import ReadOptions
from scalefit.readers.multirun import build_runs
from scalefit.readers.source import Source
from scalefit.readers.table import Table
from scalefit.runs import Run


def looks_like(name: str, text: str) -> bool:
    """A ``.jsonl`` / ``.ndjson`` name, or a start of two lines that are each a whole JSON object."""
    if name.lower().endswith((".jsonl", ".ndjson")):
        return True
    first = [ln.strip() for ln in text.splitlines() if ln.strip()][:2]
    if len(first) < 2:
        return False
    try:
        return all(ln.startswith("{") and ln.endswith("}") and isinstance(json.loads(ln), dict) for ln in first)
    except (ValueError, RecursionError):
        return False


def read(src: Source, opts: ReadOptions) -> list[Run]:
    """Read a JSON lines log into runs."""
    path = src.path
    text = src.text()
    lines = text.splitlines()
    rows: list[dict[str, Any]] = []
    numbers: list[int] = []
    notes: list[str] = []
    left: dict[str, int] = {}
    cut = not text.endswith(("\n", "\r"))
    for k, line in enumerate(lines, start=1):
        s = line.strip()
        if not s:
            continue
        try:
            obj = json.loads(s)
        except (ValueError, RecursionError) as exc:
            if cut and k == len(lines):
                notes.append(f"left out line {k}, the last line: it has no newline at its end and is not valid JSON, "
                             "so the writer stopped mid-line")
                left["last line cut mid-write"] = 1
                break
            msg = exc.msg if isinstance(exc, json.JSONDecodeError) else "cannot be read"
            raise RunFileError(f"not valid JSON ({msg}); a JSON lines log has one object per line. Fix or delete "
                               "that line.", path=path, line=k) from None
        if not isinstance(obj, dict):
            raise RunFileError(f"is {type(obj).__name__}, expected an object of metrics per line.", path=path, line=k)
        rows.append(records.flatten(obj))
        numbers.append(k)
    if not rows:
        raise RunFileError("the file is empty. A JSON lines log has one object per line: "
                           '{"step": 0, "lr": 0.001, "loss": 3.2}.', path=path)
    table = Table(path=path, columns=records.columns(rows), line=np.asarray(numbers, dtype=np.int64), fmt="jsonl",
                  header_line=None, notes=notes, merge_steps=True, what="key", left_out=left,
                  warns=list(notes))
    return build_runs(table, opts)
