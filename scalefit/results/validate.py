"""Reading back the JSON result files scalefit wrote (fit, hyperparameter and scaling laws), refusing damage.

A result file may have been edited by hand, cut short, or written by something else. Its reader loads it with
:func:`load_json` and takes every value it uses through a :class:`Node`, so that a damaged file ends in one
:class:`~scalefit.errors.ResultFileError` line naming the file, the key and the rule, never in a traceback or in a
prediction made of NaN::

    fit.json: damaged fit result (key 'params.alpha.value'): -1.5 lies outside its bounds [0.01, 2]. Re-run ...

:func:`load_json` refuses, before any value is looked at: a missing file or one over :data:`MAX_BYTES` (a pipe is
read too, up to that size); bytes that
are not UTF-8 (a UTF-8 byte-order mark is skipped, with a warning); text that is not JSON; ``NaN``, ``Infinity``
and ``-Infinity`` (Python's json module accepts them, JSON does not, and scalefit never writes them); numbers that
overflow float64 (``1e999``); integers of more than :data:`MAX_INT_DIGITS` digits; a key given twice in one
object; nesting deeper than :data:`MAX_DEPTH`; another schema family, or a version the reader does not know. Those
found inside the document name their key.

:class:`Node` checks one value: present, of the JSON type expected (``true`` is not a number), finite, inside
bounds, of a length. Its methods return plain Python values and numpy arrays, ready for the result's constructor.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import warnings
from pathlib import Path
from typing import Any, Callable, Collection, Iterator

import numpy as np

from scalefit.errors import AssumptionWarning, ResultFileError

#: Largest result file read (bytes). A fit keeps at most 2,000 points of each run's curve, so this is ~1,000 runs.
MAX_BYTES = 256 * 2**20
#: Deepest nesting of objects and lists (scalefit writes at most 5 levels).
MAX_DEPTH = 32
#: Longest integer literal (scalefit's integers are steps, counts and seeds: at most 20 digits).
MAX_INT_DIGITS = 30
#: Longest key or text value shown in a message.
_SHOW = 60
_BOM = b"\xef\xbb\xbf"
_INT64 = (-(2**63), 2**63 - 1)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class _Bad:
    """A literal the parser met that is not a usable number (kept to name its key after parsing)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):  # JSON readers differ on which of two values wins: refuse the key
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                out[key] = _Bad("a key given twice (JSON readers disagree on which value counts)")
            seen.add(key)
    return out


def _parse_constant(name: str) -> _Bad:
    return _Bad(f"{name}, which is not JSON (scalefit writes a missing number as null)")


def _parse_int(text: str) -> int | _Bad:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        return _Bad(f"an integer of {digits} digits (at most {MAX_INT_DIGITS} are read)")
    return int(text)


def _parse_float(text: str) -> float | _Bad:
    value = float(text)
    if not math.isfinite(value):
        return _Bad(f"{show(text)}, which overflows a float64")
    return value


def _num(x: Any) -> str:
    return "" if x is None else str(x) if isinstance(x, int) else f"{x:g}"


def child_key(key: str, name: Any) -> str:
    """The key of ``name`` under ``key``: ``params.alpha``, ``covariance[2][3]``, ``metrics['runs/a.csv']``."""
    if isinstance(name, int):
        return f"{key}[{name}]"
    name = str(name)
    if _IDENT.match(name):
        return f"{key}.{name}" if key else name
    return f"{key}[{show(name)}]"


def show(value: Any) -> str:
    """A value as a message shows it: short, one line, control characters escaped."""
    if isinstance(value, _Bad):
        return value.text
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        text = repr(value)
        return text if len(text) <= _SHOW else text[:_SHOW] + "..."
    if isinstance(value, str):
        text = repr(value[: _SHOW + 1])
        return text if len(value) <= _SHOW else text[:-1] + "...'"
    if isinstance(value, dict):
        return f"an object of {len(value)} key(s)"
    if isinstance(value, list):
        return f"a list of {len(value)} item(s)"
    return type(value).__name__


class Doc:
    """One result file being read: where it is, what it is and how to get a good one (for the messages)."""

    def __init__(self, path: str | Path, what: str = "fit result", fix: str = "Re-run scalefit fit --out.") -> None:
        self.path, self.what, self.fix = str(path), what, fix

    def error(self, key: str, problem: str, value: Any = None) -> ResultFileError:
        """The one-line error for ``problem`` at ``key`` (``key`` and ``value`` also kept as fields)."""
        where = f" (key '{key}')" if key else ""  # its parts are identifiers or shown (escaped, cut) names
        stop = "" if problem.endswith((".", "?")) else "."
        err = ResultFileError(f"damaged {self.what}{where}: {problem}{stop} {self.fix}", path=self.path, value=value)
        err.key = key  # type: ignore[attr-defined]
        return err

    def root(self, data: Any) -> Node:
        return Node(data, "", self)


def load_json(path: str | Path, schema: str, versions: Collection[str] = ("1",), doc: Doc | None = None) -> Node:
    """The checked top-level object of a result file whose ``schema`` is ``"<schema>/<version>"``.

    Raises :class:`ResultFileError` for everything listed in the module docstring. ``doc`` names the file kind
    in messages (default: a fit result).
    """
    doc = doc or Doc(path)
    data = parse_file(path, doc)
    found = data.get("schema")
    family, _, version = found.rpartition("/") if isinstance(found, str) else ("", "", "")
    if family != schema:
        raise ResultFileError(f"schema is {show(found) if found is not None else 'missing'}, expected "
                              f"{schema}/N. Is this the right file?", path=str(path))
    if version not in versions:
        newer = version.isdigit() and all(v.isdigit() and int(version) > int(v) for v in versions)
        hint = "newer than this scalefit understands" if newer else "not a version scalefit writes"
        raise ResultFileError(f"schema version {show(version)} is {hint} ({', '.join(sorted(versions))}). "
                              + ("Upgrade scalefit." if newer else "Pass the JSON written by --out."),
                              path=str(path))
    return doc.root(data)


def parse_file(path: str | Path, doc: Doc | None = None) -> dict[str, Any]:
    """The top-level JSON object of ``path``, parsed and checked as the module docstring says (all but the
    schema): what :func:`scalefit.jsonio.read_json` returns."""
    doc = doc or Doc(path, "JSON file", "Pass the JSON written by --out.")
    raw = _read_bounded(Path(path))
    if raw.startswith(_BOM):
        raw = raw[len(_BOM):]
        warnings.warn(f"{path}: the file starts with a UTF-8 byte-order mark (an editor added it); skipped.",
                      AssumptionWarning, stacklevel=3)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ResultFileError(f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); scalefit "
                              "writes UTF-8 JSON. Pass the JSON written by --out.", path=str(path)) from None
    try:
        data = json.loads(text, parse_constant=_parse_constant, parse_int=_parse_int, parse_float=_parse_float,
                          object_pairs_hook=_pairs)
    except json.JSONDecodeError as exc:
        raise ResultFileError(f"not valid JSON ({exc.msg}: line {exc.lineno}, column {exc.colno}); was it cut short? "
                              "Pass the JSON written by --out.", path=str(path)) from None
    except RecursionError:
        line, col = _too_deep(text)
        raise ResultFileError(f"the JSON nests objects or lists deeper than {MAX_DEPTH} levels (at line {line}, "
                              f"column {col}); scalefit writes at most 5. Pass the JSON written by --out.",
                              path=str(path)) from None
    if not isinstance(data, dict):
        raise ResultFileError(f"expected a JSON object at the top level, found {show(data)}.", path=str(path))
    _check_tree(data, doc)
    return data


def _read_bounded(path: Path) -> bytes:
    """The bytes of ``path`` (a file, or a pipe such as ``<(cat fit.json)``), at most MAX_BYTES of them."""
    limit = (f"scalefit reads results of at most {MAX_BYTES:,} (none it writes is larger). Pass the JSON written "
             "by --out.")
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if stat.S_ISREG(os.fstat(fh.fileno()).st_mode) and size > MAX_BYTES:
                raise ResultFileError(f"the file has {size:,} bytes; {limit}", path=str(path))
            raw = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ResultFileError("file not found. Pass the JSON written by --out.", path=str(path)) from None
    except IsADirectoryError:
        raise ResultFileError("this is a folder. Pass the JSON file written by --out.", path=str(path)) from None
    except OSError as exc:
        raise ResultFileError(f"cannot be read ({exc.strerror or exc}). Pass the JSON written by --out.",
                              path=str(path)) from None
    if len(raw) > MAX_BYTES:
        raise ResultFileError(f"the input goes on past {MAX_BYTES:,} bytes; {limit}", path=str(path))
    return raw


def _check_tree(data: Any, doc: Doc) -> None:
    """Refuse a literal the parser kept as :class:`_Bad`, or nesting deeper than MAX_DEPTH, naming the key."""
    stack: list[tuple[Any, str, int]] = [(data, "", 1)]
    while stack:
        obj, key, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise doc.error(key, f"the JSON nests deeper than {MAX_DEPTH} levels here (scalefit writes at most 5)")
        for name, value in (obj.items() if type(obj) is dict else enumerate(obj)):
            kind = type(value)
            if kind is dict or kind is list:
                stack.append((value, child_key(key, name), depth + 1))
            elif kind is _Bad:
                raise doc.error(child_key(key, name), f"the file holds {value.text}")


def _too_deep(text: str) -> tuple[int, int]:
    """Line and column where the nesting of ``text`` passes MAX_DEPTH (strings skipped)."""
    depth = 0
    for m in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', text):
        tok = m.group()
        if tok in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                line = text.count("\n", 0, m.start()) + 1
                return line, m.start() - text.rfind("\n", 0, m.start())
        elif tok in "]}":
            depth -= 1
    return 1, 1


class Node:
    """One value of a loaded result file and its key; each method checks the value and returns it as Python data.

    A check that fails raises the file's :class:`ResultFileError` naming ``key``.
    """

    __slots__ = ("value", "key", "doc")

    def __init__(self, value: Any, key: str, doc: Doc) -> None:
        self.value, self.key, self.doc = value, key, doc

    def fail(self, problem: str) -> ResultFileError:
        """The error for ``problem`` at this key (raise it)."""
        return self.doc.error(self.key, problem, self.value)

    def _expected(self, what: str) -> ResultFileError:
        return self.fail(f"{show(self.value)} where {what} is expected")

    # ---- objects ------------------------------------------------------------------------------------------------
    def mapping(self) -> dict[str, Any]:
        """The value, which must be an object."""
        if type(self.value) is not dict:
            raise self._expected("an object")
        return self.value

    def has(self, name: str) -> bool:
        """Whether the object holds the key ``name`` (null or not)."""
        return name in self.mapping()

    def __getitem__(self, name: str) -> Node:
        """The value at ``name``, which must be present."""
        obj = self.mapping()
        if name not in obj:
            raise self.doc.error(child_key(self.key, name), "the key is missing")
        return Node(obj[name], child_key(self.key, name), self.doc)

    def get(self, name: str) -> Node | None:
        """The value at ``name``, or None when the key is absent or null (optional keys)."""
        obj = self.mapping()
        value = obj.get(name)
        return None if value is None else Node(value, child_key(self.key, name), self.doc)

    def entries(self, *, keys: Collection[str] | None = None, min_len: int = 0) -> Iterator[tuple[str, Node]]:
        """The (name, value) pairs of an object; with ``keys``, every name must be one of them."""
        obj = self.mapping()
        if len(obj) < min_len:
            raise self.fail(f"an object of {len(obj)} key(s), at least {min_len} expected")
        for name, value in obj.items():
            if keys is not None and name not in keys:
                raise self.doc.error(child_key(self.key, name), f"unexpected key (expected one of "
                                     f"{', '.join(map(str, keys)) or 'none'})")
            yield name, Node(value, child_key(self.key, name), self.doc)

    # ---- lists --------------------------------------------------------------------------------------------------
    def items(self, *, length: int | None = None, min_len: int = 0) -> list[Node]:
        """The items of a list (of ``length`` items, or at least ``min_len``)."""
        if type(self.value) is not list:
            raise self._expected("a list")
        n = len(self.value)
        if (length is not None and n != length) or n < min_len:
            want = f"{length}" if length is not None else f"at least {min_len}"
            raise self.fail(f"a list of {n} item(s), {want} expected")
        return [Node(v, child_key(self.key, i), self.doc) for i, v in enumerate(self.value)]

    def array(self, *, lo: float | None = None, hi: float | None = None, positive: bool = False,
              integer: bool = False, length: int | None = None, null: float | None = None) -> np.ndarray:
        """A list of numbers as float64 (int64 with ``integer``), every one checked as :meth:`number` does;
        ``null`` is what a JSON null reads as (refused when None)."""
        if type(self.value) is not list:
            raise self._expected("a list of numbers")
        values = self.value
        if length is not None and len(values) != length:
            raise self.fail(f"a list of {len(values)} number(s), {length} expected")
        ok = (int,) if integer else (int, float)
        fits = not integer or all(_INT64[0] <= v <= _INT64[1] for v in values if type(v) is int)
        if not (fits and all(type(v) in ok for v in values)):
            for i, v in enumerate(values):
                if not (type(v) in ok or (v is None and null is not None)):
                    raise Node(v, child_key(self.key, i), self.doc)._expected("an integer" if integer else "a number")
                if integer and not _INT64[0] <= v <= _INT64[1]:
                    raise Node(v, child_key(self.key, i), self.doc).fail(f"{show(v)}; it must fit in 64 bits")
            values = [null if v is None else v for v in values]
        arr = np.asarray(values, dtype=np.int64 if integer else np.float64) if values else \
            np.zeros(0, dtype=np.int64 if integer else np.float64)
        for cond, rule in ((lo is not None and arr < lo, f">= {_num(lo)}"),
                           (hi is not None and arr > hi, f"<= {_num(hi)}"), (positive and arr <= 0, "> 0")):
            if isinstance(cond, np.ndarray) and cond.any():
                i = int(np.flatnonzero(cond)[0])
                raise Node(values[i], child_key(self.key, i), self.doc).fail(f"{show(values[i])}; it must be {rule}")
        return arr

    # ---- scalars ------------------------------------------------------------------------------------------------
    def number(self, *, lo: float | None = None, hi: float | None = None, positive: bool = False,
               null: float | None = None, specials: Collection[str] = ()) -> float:
        """A finite number (an int is read as float) within [lo, hi] (> 0 with ``positive``). ``null``: what a JSON
        null reads as (refused when None); ``specials``: the strings scalefit writes for non-finite values that
        are allowed here (``"nan"``, ``"inf"``, ``"-inf"``)."""
        v = self.value
        if v is None and null is not None:
            return null
        if isinstance(v, str) and v in specials:
            return float(v)
        if type(v) not in (int, float):
            allowed = " or ".join(["a finite number", *(repr(s) for s in specials), *(["null"] if null is not None
                                                                                      else [])])
            raise self._expected(allowed)
        x = float(v)
        if (lo is not None and x < lo) or (hi is not None and x > hi) or (positive and x <= 0):
            rule = " and ".join(r for r in (f">= {_num(lo)}" if lo is not None else "", f"<= {_num(hi)}" if hi is not
                                            None else "", "> 0" if positive else "") if r)
            raise self.fail(f"{show(v)}; it must be {rule}")
        return x

    def integer(self, *, lo: int = _INT64[0], hi: int = _INT64[1]) -> int:
        """A whole number within [lo, hi] (default: 64-bit; ``3.0`` is read as 3; ``3.5`` and ``true`` are refused)."""
        v = self.value
        if type(v) is float and v.is_integer():
            v = int(v)
        if type(v) is not int:
            raise self._expected("an integer")
        if not lo <= v <= hi:
            raise self.fail(f"{show(v)}; it must be " + (f">= {lo}" if v < lo else f"<= {hi}"))
        return v

    def text(self, *, choices: Collection[str] | None = None, max_len: int = 100_000) -> str:
        """A string (one of ``choices`` when given)."""
        v = self.value
        if type(v) is not str:
            raise self._expected("a string")
        if len(v) > max_len:
            raise self.fail(f"a string of {len(v)} characters, at most {max_len} expected")
        if choices is not None and v not in choices:
            raise self.fail(f"{show(v)} is not one of: {', '.join(map(str, choices))}")
        return v

    def flag(self) -> bool:
        """``true`` or ``false``."""
        if type(self.value) is not bool:
            raise self._expected("true or false")
        return self.value

    def texts(self) -> tuple[str, ...]:
        """A list of strings."""
        return tuple(item.text() for item in self.items())

    def check(self, ok: bool, problem: str | Callable[[], str]) -> None:
        """Raise this key's error with ``problem`` unless ``ok``."""
        if not ok:
            raise self.fail(problem() if callable(problem) else problem)
