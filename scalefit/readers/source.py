"""A run file's bytes, read without holding more than the data needs.

A regular file is read in blocks when a reader asks (its size does not count against memory: a 244 MB log is
parsed block by block and never held whole); a pipe or FIFO (``scalefit inspect <(cat run.csv)``) is read once,
to its end, and kept. Text checks that need no parsing live here too: binary data (a NUL byte), UTF-16, invalid
UTF-8, each reported with the editor line where it starts.
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import BinaryIO, Iterator, Type

import numpy as np

from scalefit.errors import RunFileError, ScalefitError

#: Bytes of a file's start decoded for format detection (the header, metadata lines, the first rows).
HEAD_BYTES = 1 << 16
#: Bytes per block when a file is scanned.
BLOCK_BYTES = 1 << 23


class Source:
    """The bytes of one run file: ``raw`` when held in memory (pipes, small files read whole), else read from
    ``path`` in blocks."""

    def __init__(self, path: str | os.PathLike[str], error: Type[ScalefitError] = RunFileError,
                 raw: bytes | None = None) -> None:
        self.path = str(path)
        self.error = error
        self.raw = raw
        if raw is None:
            try:
                st = os.stat(path)
            except FileNotFoundError:
                raise error("file not found. Check the path.", path=self.path) from None
            except OSError as exc:
                raise error(f"cannot read the file ({exc.strerror or exc}).", path=self.path) from None
            if stat.S_ISDIR(st.st_mode):
                raise error("is a directory, expected a file.", path=self.path)
            if not stat.S_ISREG(st.st_mode):
                self.raw = read_bytes(path, error)  # a pipe or FIFO: read once, from its start
        self._starts: np.ndarray | None = None

    @property
    def size(self) -> int:
        if self.raw is not None:
            return len(self.raw)
        try:
            return os.path.getsize(self.path)
        except OSError as exc:
            raise self.error(f"cannot read the file ({exc.strerror or exc}).", path=self.path) from None

    def open(self) -> BinaryIO:
        """A binary file object from the start (for pandas' parser)."""
        if self.raw is not None:
            return io.BytesIO(self.raw)
        try:
            return open(self.path, "rb")
        except OSError as exc:
            raise self.error(f"cannot read the file ({exc.strerror or exc}).", path=self.path) from None

    def read(self, start: int = 0, n: int = -1) -> bytes:
        """``n`` bytes from offset ``start`` (all to the end when ``n`` < 0)."""
        if self.raw is not None:
            return self.raw[start:] if n < 0 else self.raw[start:start + n]
        with self.open() as fh:
            fh.seek(start)
            try:
                return fh.read(n)
            except MemoryError:
                raise self.error("the file does not fit in memory. Pass a smaller log or an excerpt.",
                                 path=self.path) from None

    def head(self) -> bytes:
        return self.read(0, HEAD_BYTES)

    def blocks(self, start: int = 0) -> Iterator[tuple[int, bytes]]:
        """(offset, bytes) of consecutive blocks from ``start``, each ending at a newline (the last: at the end)."""
        if self.raw is not None:
            pos, total = start, len(self.raw)
            while pos < total:
                end = min(total, pos + BLOCK_BYTES)
                if end < total:
                    cut = self.raw.rfind(b"\n", pos, end)
                    if cut < 0:
                        cut = self.raw.find(b"\n", end)
                    end = total if cut < 0 else cut + 1
                yield pos, self.raw[pos:end]
                pos = end
            return
        with self.open() as fh:
            fh.seek(start)
            pos, carry = start, b""
            while True:
                chunk = fh.read(BLOCK_BYTES)
                if not chunk:
                    if carry:
                        yield pos, carry
                    return
                data = carry + chunk
                cut = data.rfind(b"\n")
                if cut < 0:
                    carry = data
                    continue
                yield pos, data[:cut + 1]
                pos += cut + 1
                carry = data[cut + 1:]

    def ends_with_newline(self) -> bool:
        size = self.size
        return size == 0 or self.read(size - 1, 1) in (b"\n", b"\r")

    def line_starts(self) -> np.ndarray:
        """Byte offset of the start of every line (found once, when first asked), shape (lines,)."""
        if self._starts is None:
            parts = [np.zeros(1, dtype=np.int64)]
            for pos, block in self.blocks():
                a = np.frombuffer(block, np.uint8)
                parts.append(np.flatnonzero(a == 10).astype(np.int64) + pos + 1)
            starts = np.concatenate(parts)
            self._starts = starts[starts < self.size] if starts.size > 1 else starts
        return self._starts

    def line(self, number: int) -> str:
        """The text of 1-based line ``number`` (without its line break), '' past the end."""
        s = self.line_starts()
        if number < 1 or number > s.size:
            return ""
        lo = int(s[number - 1])
        hi = int(s[number]) - 1 if number < s.size else self.size
        return self.read(lo, hi - lo).decode("utf-8", errors="replace").rstrip("\r\n").lstrip("\ufeff")

    def check_text(self) -> None:
        """Raise when the file is not UTF-8 text: UTF-16, a NUL byte (binary data), an invalid UTF-8 sequence."""
        path, error = self.path, self.error
        if self.head().startswith((b"\xff\xfe", b"\xfe\xff")):
            raise error("the file is UTF-16 text (e.g. Excel's 'Unicode text'). Save it as CSV UTF-8.", path=path,
                        line=1)
        lines = 0
        bad_utf8: ScalefitError | None = None  # a NUL byte anywhere says more (binary data): look on for one
        for pos, block in self.blocks():  # blocks end at newlines, so no character is cut between two
            nul = block.find(b"\x00")
            if nul >= 0:
                raise error(f"binary data (a NUL byte at byte {pos + nul}); this is not a text log. Give the CSV or "
                            "JSON run file (a TensorBoard event file goes in as its directory).", path=path,
                            line=lines + block.count(b"\n", 0, nul) + 1)
            if bad_utf8 is None and not block.isascii():
                try:
                    block.decode("utf-8")
                except UnicodeDecodeError as exc:
                    at = exc.start
                    bad_utf8 = error(f"byte 0x{block[at:at + 1].hex()} (at byte {pos + at}) is not valid UTF-8; the "
                                     "file is binary or in another encoding. Save it as CSV UTF-8.", path=path,
                                     line=lines + block.count(b"\n", 0, at) + 1)
            lines += block.count(b"\n")
        if bad_utf8 is not None:
            raise bad_utf8

    def text(self) -> str:
        """The whole file as text (a BOM dropped), checked first."""
        self.check_text()
        return self.read().decode("utf-8-sig")


#: The most bytes read from a pipe, FIFO or device (a regular file has no such limit: it is read in blocks).
PIPE_LIMIT = 1 << 31


def read_bytes(path: str | Path, error: Type[ScalefitError] = RunFileError) -> bytes:
    """The bytes of a pipe, FIFO or device, read once from the start in blocks: binary data (a NUL byte, as
    ``/dev/zero`` gives) and more than :data:`PIPE_LIMIT` bytes stop the read with an error naming it."""
    name = str(path)
    parts: list[bytes] = []
    total = 0
    try:
        with open(path, "rb") as fh:
            while True:
                block = fh.read(1 << 20)
                if not block:
                    return b"".join(parts)
                nul = block.find(b"\x00")
                if nul >= 0:
                    raise error(f"binary data (a NUL byte at byte {total + nul}); this is not a text log. Give the "
                                "CSV or JSON run file.", path=name,
                                line=sum(p.count(b"\n") for p in parts) + block.count(b"\n", 0, nul) + 1)
                total += len(block)
                if total > PIPE_LIMIT:
                    raise error(f"more than {PIPE_LIMIT >> 30} GiB from a pipe or device; write the log to a file "
                                "and pass its path.", path=name)
                parts.append(block)
    except FileNotFoundError:
        raise error("file not found. Check the path.", path=name) from None
    except IsADirectoryError:
        raise error("is a directory, expected a file.", path=name) from None
    except MemoryError:
        raise error("the file does not fit in memory. Pass a smaller log or an excerpt.", path=name) from None
    except OSError as exc:
        raise error(f"cannot read the file ({exc.strerror or exc}).", path=name) from None


def head_text(head: bytes) -> str:
    """The start of the file as text, for format detection (a cut multi-byte character is replaced)."""
    return head.decode("utf-8-sig", errors="replace")
