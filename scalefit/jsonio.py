"""Atomic, versioned JSON files of plain types, and the one safe way every scalefit command writes a file.

Results are never pickled and never hold code: a law is stored by name. Each file carries a ``schema`` field
(``"scalefit.fit/1"``, ...) so that readers can refuse or migrate files they do not know.

Writing (:func:`write_text`, :func:`write_json`, :func:`write_bytes`, :func:`open_atomic`):

- a regular file (or a new one) is written to a temporary file in the same folder and renamed over the target
  (``os.replace``), so a kill leaves the old file or the new one, never half of one;
- a symbolic link is followed: its final target is replaced atomically and the link stays a link;
- a character device or FIFO (``/dev/null``, a named pipe) and the process's own streams (``/dev/stdout``,
  ``/dev/fd/N``, ``/proc/self/fd/N``) are written in place, appending, never replaced by a regular file;
- a folder, a block device or a socket is refused.

A write the file system refuses (disk full, quota, read-only, permission) raises :class:`OutputFileError`, one
line naming the file, after the temporary file is removed. Commands call :func:`check_out_path` (or
:func:`check_out_dir`) on every output path *before* their work, so that a bad ``--out`` costs nothing.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import stat
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Iterator

import numpy as np

from scalefit.errors import ResultFileError, ScalefitError


class OutputFileError(ScalefitError):
    """An output file or folder cannot be written (disk full, read-only, permission, a folder or a device)."""


#: errno -> (what happened, what to do) for the write failures a user can fix; any other OSError is a bug.
_REASONS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("no space left on the device", "Free some space, or write to another disk."),
    errno.EROFS: ("the file system is read-only", "Write to another folder."),
    errno.EACCES: ("permission denied", "Write to a folder you may write to."),
    errno.EPERM: ("operation not permitted", "Write to a folder you may write to."),
    errno.EFBIG: ("the file is too large for this file system", "Write to another disk."),
    errno.EIO: ("input/output error from the device", "Check the disk, or write to another one."),
    errno.ENAMETOOLONG: ("the file name is too long", "Use a shorter name."),
    errno.EISDIR: ("it is a folder", "Give a file name."),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "Fix the path."),
    errno.ENOENT: ("a folder on the path does not exist (was it removed?)", "Fix the path."),
    errno.ELOOP: ("the path has a loop of symbolic links", "Fix the link."),
    errno.EPIPE: ("the reading end of the pipe was closed", "Keep the reader open until scalefit ends."),
    errno.ENXIO: ("no such device or address", "Write to a regular file."),
    errno.ETXTBSY: ("the file is a running program", "Write to another file."),
}
if hasattr(errno, "EDQUOT"):  # not on every platform
    _REASONS[errno.EDQUOT] = ("disk quota exceeded", "Free some of your quota, or write to another disk.")


def output_error(
    exc: BaseException, path: str | os.PathLike[str], action: str = "cannot write"
) -> OutputFileError | None:
    """The one-line :class:`OutputFileError` for an ``OSError`` the user can fix, or None for any other error."""
    if not isinstance(exc, OSError) or exc.errno not in _REASONS:
        return None
    what, fix = _REASONS[exc.errno]
    name = errno.errorcode.get(exc.errno, str(exc.errno))
    err = OutputFileError(f"{action}: {what} ({name}). {fix}", path=os.fspath(path))
    err.errno = exc.errno  # type: ignore[attr-defined]
    return err


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


def file_mode() -> int:
    """Permissions of a new file under the current umask (``mkstemp`` would otherwise leave 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


# ---------------------------------------------------------------------------------------------------------
# where a write goes
# ---------------------------------------------------------------------------------------------------------
_STREAM_DIRS = ("/proc/", "/dev/fd/")  # magic links to a process's open files: write through them, in place


def _is_stream(path: Path) -> bool:
    text = str(path)
    return text.startswith(_STREAM_DIRS) or text in ("/dev/stdout", "/dev/stderr")


def resolve_out(path: str | os.PathLike[str]) -> tuple[Path, bool]:
    """``(file, in_place)``: the file a write to ``path`` reaches (the final target of a symbolic link), and
    whether it is written in place (a device, a FIFO, a process's stream) rather than replaced atomically."""
    p = Path(path)
    for _ in range(40):  # the kernel's own limit on links followed
        if _is_stream(p):
            return p, True
        if not p.is_symlink():
            break
        link = Path(os.readlink(p))
        p = link if link.is_absolute() else p.parent / link
    else:
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(path))
    try:
        mode = os.stat(p).st_mode
    except (FileNotFoundError, NotADirectoryError):  # a new file (check_out_path says why its folder cannot be)
        return p, False
    return p, not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a regular file" if stat.S_ISREG(mode) else "a special file"


def check_out_path(path: str | os.PathLike[str], *, special: bool = True, flag: str = "--out") -> Path:
    """Check, before any work, that an output file can be written; return the file the write will reach.

    Call it on every ``--out``/``--plot`` path at the start of a command. It creates nothing (a temporary probe
    file in the folder is removed at once) and raises :class:`OutputFileError` (one line, exit 2 at the CLI) for:
    a path that names a folder; a block device or socket; with ``special=False``, any target that is not a
    regular file (a device, FIFO or stream, for files that are appended to or resumed, like run files); a folder
    that cannot be created (a file is in the way) or written (permission, read-only file system, full disk).

    Returns the path itself, or the final target of a symbolic link (which the atomic write replaces, keeping
    the link). For a device, FIFO or stream (``/dev/null``, a named pipe, ``/dev/stdout``) with ``special=True``
    it returns the path: writes go there in place.
    """
    raw = os.fspath(path)
    if not raw or raw.endswith(("/", os.sep)):
        folder = raw.rstrip("/" + os.sep) or "."
        raise OutputFileError(f"{flag} names a folder. Give a file name, e.g. {folder}/out.json.", path=raw or ".")
    try:
        target, in_place = resolve_out(raw)
    except OSError as exc:
        raise (output_error(exc, raw, f"{flag} cannot be followed") or exc) from None
    if in_place and os.path.exists(target):
        kind = "a stream of this process" if _is_stream(target) else _kind(os.stat(target).st_mode)
        if kind in ("a block device", "a socket", "a special file"):
            raise OutputFileError(f"{flag} is {kind}; scalefit writes only files. Give a file name.", path=raw)
        if not special:
            raise OutputFileError(f"{flag} is {kind}, not a regular file; this file is appended to and resumed, "
                                  "so it must be one. Give a file name.", path=raw)
        return target
    if target.exists() and not target.is_file():
        kind = _kind(os.stat(target).st_mode)
        hint = f" Give a file name inside it, e.g. {raw.rstrip('/')}/out.json." if kind == "a folder" else ""
        raise OutputFileError(f"{flag} is {kind}, not a file.{hint}", path=raw)
    _check_folder(target.parent, flag, raw)
    return target


def check_out_dir(path: str | os.PathLike[str], *, flag: str = "--out-dir") -> Path:
    """Check, before any work, that files can be written in folder ``path`` (created if missing); return it.

    Raises :class:`OutputFileError` when ``path`` is a file, or when the folder (or the nearest existing folder
    above it) cannot be written. Creates nothing.
    """
    raw = os.fspath(path) or "."
    _check_folder(Path(raw), flag, raw)
    return Path(raw)


def _check_folder(folder: Path, flag: str, raw: str) -> None:
    """The nearest existing folder at or above ``folder`` must be a folder we can create files in."""
    existing = folder
    while not existing.exists():
        if existing.is_symlink():  # a dangling link where a folder should be
            raise OutputFileError(f"{flag}: {existing} is a broken symbolic link. Fix it or give another path.",
                                  path=raw)
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise OutputFileError(f"{flag}: {existing} is a file, so the folder {folder} cannot be created. "
                              "Give another path.", path=raw)
    try:  # a real probe: permissions, ACLs, read-only mounts, a full inode table all show up here
        fd, probe = tempfile.mkstemp(prefix=".scalefit-probe-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        err = output_error(exc, raw, f"{flag}: cannot create files in {existing}")
        if err is None:
            raise
        raise err from None


# ---------------------------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------------------------
def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd`` with ``os.write`` (a short write continues; an error raises)."""
    n = os.write(fd, data)  # one call for the whole buffer in the normal case
    view = memoryview(data)[n:]
    while view:
        n = os.write(fd, view)
        view = view[n:]


class _Sink:
    """A binary file object over a raw descriptor that remembers the OSError a write hit (libraries such as
    torch wrap their writer's exceptions in their own)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.error: OSError | None = None
        self._pos = 0

    def write(self, data: Any) -> int:
        data = bytes(data)
        try:
            write_all(self.fd, data)
        except OSError as exc:
            self.error = exc
            raise
        self._pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self._pos

    def seekable(self) -> bool:
        return False

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Only a no-op seek (some writers, such as matplotlib's SVG and PDF backends, ask where they are)."""
        if (whence == os.SEEK_CUR and offset == 0) or (whence == os.SEEK_SET and offset == self._pos):
            return self._pos
        import io

        raise io.UnsupportedOperation("an atomic output file is written front to back")

    def flush(self) -> None:
        return None

    def writable(self) -> bool:
        return True


@contextlib.contextmanager
def open_atomic(path: str | os.PathLike[str], *, action: str = "cannot write") -> Iterator[BinaryIO]:
    """A binary file object whose content replaces ``path`` atomically when the block ends without error.

    For writers that want a file object (``torch.save``, ``fig.savefig``). See the module docstring for
    links, devices and streams. On an error the temporary file is removed and the target is untouched; a write
    the file system refuses becomes :class:`OutputFileError` (``action`` starts its message), whatever the
    writing library turned the ``OSError`` into.
    """
    target, in_place = resolve_out(path)
    if in_place:
        try:
            fd = os.open(target, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            raise (output_error(exc, target, action) or exc) from None
        sink = _Sink(fd)
        try:
            yield sink  # type: ignore[misc]
        except BaseException as exc:
            raise (_as_output_error(exc, sink, target, action) or exc) from None
        finally:
            os.close(fd)
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise (output_error(exc, target, action) or exc) from None
    sink = _Sink(fd)
    closed = False
    try:
        os.fchmod(fd, file_mode())
        yield sink  # type: ignore[misc]
        os.fsync(fd)  # a full disk may only say so here (delayed allocation)
        os.close(fd)
        closed = True
        os.replace(tmp, target)
    except BaseException as exc:
        if not closed:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise (_as_output_error(exc, sink, target, action) or exc) from None


def _as_output_error(exc: BaseException, sink: _Sink, target: Path, action: str) -> OutputFileError | None:
    if isinstance(exc, OutputFileError):
        return exc
    return output_error(sink.error if sink.error is not None else exc, target, action)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically, creating parent folders; see the module docstring."""
    with open_atomic(path) as fh:
        fh.write(data)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically, creating parent folders; see the module docstring."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically (temporary file in the same folder, then ``os.replace``)."""
    return write_text(path, dumps(obj) + "\n")


def read_json(path: str | os.PathLike[str], schema: str | None = None) -> dict[str, Any]:
    """Read a scalefit JSON file (:func:`scalefit.results.validate.parse_file` checks it); with ``schema`` (e.g.
    ``"scalefit.fit"``) check its family."""
    from scalefit.results.validate import parse_file  # refuses NaN, huge integers, deep nesting, huge files

    data = parse_file(path)
    if schema is not None:
        found = str(data.get("schema", ""))
        if found.split("/")[0] != schema:
            raise ResultFileError(
                f"schema is {found or 'missing'!r}, expected {schema}/N. Is this the right file?", path=str(path)
            )
    return data
