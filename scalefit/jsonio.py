"""Atomic, versioned JSON files of plain types: how every scalefit result is saved.

Results are never pickled and never hold code: a law is stored by name. Each file carries a ``schema`` field
(``"scalefit.fit/1"``, ...) so that readers can refuse or migrate files they do not know.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from scalefit.errors import ResultFileError


def to_plain(obj: Any) -> Any:
    """Convert numpy scalars and arrays (recursively) into JSON-ready Python types; non-finite floats -> None."""
    if isinstance(obj, dict):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_plain(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def dumps(obj: Any) -> str:
    """Serialise ``obj`` as deterministic JSON (sorted keys are *not* used: field order is part of the report)."""
    return json.dumps(to_plain(obj), indent=2, allow_nan=False)


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically (temporary file in the same folder, then ``os.replace``)."""
    return write_text(path, dumps(obj) + "\n")


def file_mode() -> int:
    """Permissions of a new file under the current umask (``mkstemp`` would otherwise leave 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically, creating parent folders."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.chmod(tmp, file_mode())
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target


def read_json(path: str | os.PathLike[str], schema: str | None = None) -> dict[str, Any]:
    """Read a scalefit JSON file; with ``schema`` (e.g. ``"scalefit.fit"``) check its family and version."""
    p = Path(path)
    if not p.is_file():
        raise ResultFileError("file not found. Pass the JSON written by --out.", path=str(path))
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultFileError(f"not valid JSON ({exc}). Pass the JSON written by --out.", path=str(path)) from None
    if not isinstance(data, dict):
        raise ResultFileError("expected a JSON object at the top level.", path=str(path))
    if schema is not None:
        found = str(data.get("schema", ""))
        if found.split("/")[0] != schema:
            raise ResultFileError(
                f"schema is {found or 'missing'!r}, expected {schema}/N. Is this the right file?", path=str(path)
            )
    return data
