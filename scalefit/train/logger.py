"""Write a run file in scalefit's native CSV format, one row per optimizer step, crash-safe.

The file looks like this (``scalefit inspect`` and ``scalefit.readers.read_run`` read it)::

    # params: 98624
    # batch_size: 16
    # ...
    step,lr,loss,val_loss,tokens,grad_norm
    0,1e-05,4.85324,4.85211,1024,1.20315
    1,2e-05,4.84102,,2048,1.19002

Crash safety: every row goes to the file with ONE ``os.write`` of the whole line on an unbuffered file
descriptor opened with ``O_APPEND``. A process killed with SIGKILL therefore leaves whole lines (the kernel
has the bytes once ``write`` returns; only a power cut before the page cache is flushed can lose the tail,
which ``fsync=True`` guards against at a cost per step). Resuming truncates the rows after the checkpoint
step and any partial last line, so the resumed run appends without duplicates or gaps.

A write the file system refuses (disk full, quota, read-only) truncates the file back to its last complete
row and raises :class:`~scalefit.jsonio.OutputFileError`, one line naming the file: never a partial last line.

The logger knows nothing of torch: use it from your own training loop::

    from scalefit.train.logger import RunLogger
    with RunLogger("runs/a.csv", {"params": 1.2e8, "batch_size": 256, "seq_len": 1024}) as log:
        for step in range(total):
            ...
            log.step(step, lr=lr, loss=loss.item(), val_loss=val if step % 100 == 0 else None)
"""

from __future__ import annotations

import errno
import math
import numbers
import os
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from scalefit.errors import RunFileError
from scalefit.jsonio import output_error, write_all, write_text

#: The columns the bundled trainer writes, in order.
COLUMNS: tuple[str, ...] = ("step", "lr", "loss", "val_loss", "tokens", "grad_norm")

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def format_value(value: Any, digits: int = 6) -> str:
    """One CSV cell: integers as integers, floats to ``digits`` significant digits, None / NaN as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, numbers.Integral):  # Python and numpy integers
        return str(int(value))
    try:
        x = float(value)  # floats, numpy and 0-d torch scalars
    except (TypeError, ValueError):
        raise TypeError(f"run-file cells must be numbers or None, got {value!r}") from None
    if math.isnan(x):
        return ""
    return f"{x:.{digits}g}"


def format_meta(meta: Mapping[str, Any]) -> str:
    """The ``# key: value`` lines for ``meta`` (one line each, in the mapping's order)."""
    lines = []
    for key, value in meta.items():
        if not _KEY.match(str(key)):
            raise ValueError(f"metadata key {key!r} must be letters, digits, '_', '.' or '-'")
        if value is None:
            continue
        text = value if isinstance(value, str) else format_value(value, digits=10)
        if "\n" in text or "\r" in text:
            raise ValueError(f"metadata value of {key!r} must be one line, got {text!r}")
        lines.append(f"# {key}: {text}\n")
    return "".join(lines)


class RunLogger:
    """Append one row per optimizer step to a run file; crash-safe and resumable.

    Parameters
    ----------
    path
        The CSV file to write. Parent folders are created.
    meta
        Constant metadata written as ``# key: value`` lines above the header (``params``, ``batch_size``,
        ``seq_len``, ``tokens_per_step``, ``peak_lr``, ``warmup_steps``, ``schedule``, ...). ``None`` values
        are left out.
    columns
        Header columns; must start with ``step, lr, loss``. Default :data:`COLUMNS`.
    resume_from
        ``None`` starts a new file (an existing one is replaced). An integer ``k`` continues an existing
        file after step ``k`` (``-1``: no step was completed): rows with step > ``k`` and a partial last
        line are removed first, atomically (temporary file + ``os.replace``). The existing metadata and
        header are kept.
    fsync
        ``True`` calls ``os.fsync`` after every row (survives power loss; slower). Default ``False``.
    digits
        Significant digits of float cells (6 keeps a 4-byte float's precision and the files small).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        meta: Mapping[str, Any] | None = None,
        *,
        columns: Sequence[str] = COLUMNS,
        resume_from: int | None = None,
        fsync: bool = False,
        digits: int = 6,
    ) -> None:
        self.path = Path(path)
        self.columns = tuple(columns)
        if self.columns[:3] != ("step", "lr", "loss"):
            raise ValueError(f"columns must start with step, lr, loss; got {self.columns}")
        self.fsync = fsync
        self.digits = digits
        self.last_step: int | None = None
        self._fd: int | None = None
        header = ",".join(self.columns) + "\n"
        if resume_from is None:
            write_text(self.path, format_meta(meta or {}) + header)  # atomic; creates the folders
        else:
            self.last_step = self._truncate_after(resume_from, header)
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
            self._size = os.fstat(self._fd).st_size  # bytes of complete lines: where a failed row is cut back to
        except OSError as exc:
            raise (output_error(exc, self.path, "cannot open the run file") or exc) from None

    # -- resuming ---------------------------------------------------------------------------------------
    def _truncate_after(self, resume_from: int, header: str) -> int | None:
        """Keep the metadata, the header and the rows with step <= ``resume_from``; return the last step kept."""
        if not self.path.exists():
            raise RunFileError(
                "cannot resume: the run file does not exist. Start the run without --resume.", path=str(self.path)
            )
        raw = self.path.read_bytes()
        complete = raw[: raw.rfind(b"\n") + 1]  # a partial last line (killed mid-write) is dropped
        lines = complete.decode("utf-8").splitlines(keepends=True)
        kept: list[str] = []
        last: int | None = None
        seen_header = False
        for number, line in enumerate(lines, start=1):
            if not seen_header:
                kept.append(line)
                if not line.startswith("#"):
                    if line != header:
                        raise RunFileError(
                            f"cannot resume: header is {line.strip()!r} but this run writes {header.strip()!r}. "
                            "Write to a new --out file.",
                            path=str(self.path),
                            line=number,
                        )
                    seen_header = True
                continue
            cell = line.split(",", 1)[0]
            try:
                step = int(cell)
            except ValueError:
                raise RunFileError(
                    f"cannot resume: step {cell!r} is not an integer. Fix the line or start a new --out file.",
                    path=str(self.path),
                    line=number,
                    column="step",
                    value=cell,
                ) from None
            if step > resume_from:
                break
            kept.append(line)
            last = step
        if not seen_header:
            raise RunFileError(
                "cannot resume: the file has no header line. Start the run without --resume.", path=str(self.path)
            )
        if resume_from >= 0 and last != resume_from:
            raise RunFileError(
                f"cannot resume after step {resume_from}: the file's last complete row is step {last}. "
                "The run file and the checkpoint disagree; start the run again without --resume.",
                path=str(self.path),
            )
        write_text(self.path, "".join(kept))
        return last

    # -- writing ----------------------------------------------------------------------------------------
    def step(self, step: int, lr: float, loss: float | None, **extra: Any) -> None:
        """Write the row of optimizer step ``step`` (0-based): the LR used for its update and its batch loss.

        ``extra`` fills the other columns by name (``val_loss=``, ``tokens=``, ``grad_norm=``); missing ones
        stay empty. Steps must strictly increase.
        """
        if self._fd is None:
            raise ValueError(f"RunLogger for {self.path} is closed")
        step = int(step)
        if self.last_step is not None and step <= self.last_step:
            raise ValueError(f"steps must strictly increase: got {step} after {self.last_step}")
        unknown = set(extra) - set(self.columns)
        if unknown:
            raise ValueError(f"unknown columns {sorted(unknown)}; this file has {list(self.columns)}")
        values = {"step": step, "lr": lr, "loss": loss, **extra}
        line = ",".join(format_value(values.get(c), self.digits) for c in self.columns) + "\n"
        data = line.encode("utf-8")
        try:
            write_all(self._fd, data)  # ONE os.write of the whole line: a kill cannot split it in practice
            if self.fsync:
                os.fsync(self._fd)
        except OSError as exc:
            err = output_error(exc, self.path, f"cannot write the row of step {step}")
            self._cut_back()
            if err is None:
                raise
            kept = "no rows" if self.last_step is None else f"every row up to step {self.last_step}"
            err.message += f" The file keeps {kept}."
            raise err from None
        self._size += len(data)
        self.last_step = step

    def _cut_back(self) -> None:
        """Remove a partly written row: truncate to the last complete line (best effort on special files)."""
        try:
            if os.fstat(self._fd).st_size > self._size:
                os.ftruncate(self._fd, self._size)
        except OSError:
            pass

    def flush(self) -> None:
        """Force the rows written so far to disk (``os.fsync``)."""
        if self._fd is not None:
            os.fsync(self._fd)

    def close(self) -> None:
        """Sync and close the file. Safe to call twice."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.fsync(fd)
            except OSError as exc:
                if exc.errno in (errno.EINVAL, errno.EROFS):  # devices and pipes cannot be synced: nothing lost
                    return
                raise (output_error(exc, self.path, "cannot save the run file to disk") or exc) from None
            finally:
                os.close(fd)

    def __enter__(self) -> "RunLogger":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        fd = getattr(self, "_fd", None)
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass


def last_step(path: str | os.PathLike[str]) -> int | None:
    """The step of the last complete row of a run file, or None when it has no rows (or does not exist).

    Reads only the tail of the file, so it is cheap on long runs (the sweep uses it to skip finished runs).
    """
    p = Path(path)
    if not p.exists():
        return None
    with open(p, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 4096))
        tail = fh.read()
    tail = tail[: tail.rfind(b"\n") + 1]
    for line in reversed(tail.decode("utf-8", errors="replace").splitlines()):
        cell = line.split(",", 1)[0]
        if cell.isdigit():
            return int(cell)
        if line.startswith("#") or cell == "step":
            return None
    return None


def read_meta(path: str | os.PathLike[str]) -> dict[str, str]:
    """The ``# key: value`` metadata at the top of a run file, as text (empty when there is none or no file).

    Reads only the lines above the header, so a sweep can tell whose file it is without parsing the rows."""
    meta: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if not line.startswith("#"):
                    break
                key, sep, value = line[1:].partition(":")
                if sep:
                    meta[key.strip()] = value.strip()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        pass
    return meta
