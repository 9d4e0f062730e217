"""A run file's bytes, read once: regular files, pipes and FIFOs (``scalefit inspect <(cat run.csv)``) alike.

Text checks that need no parsing live here too: binary data (a NUL byte), UTF-16, invalid UTF-8, each reported
with the editor line where it starts. A large ASCII file is checked without making a second copy of it.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Type

from scalefit.errors import RunFileError, ScalefitError

#: Bytes of a file's start decoded for format detection (the header, metadata lines, the first rows).
HEAD_BYTES = 1 << 16


def read_bytes(path: str | Path, error: Type[ScalefitError] = RunFileError) -> bytes:
    """The file's bytes, read once from the start (a pipe or FIFO is read to its end), or an error naming it."""
    name = str(path)
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise error("file not found. Check the path.", path=name) from None
    except IsADirectoryError:
        raise error("is a directory, expected a file.", path=name) from None
    except MemoryError:
        raise error("the file does not fit in memory. Pass a smaller log or an excerpt.", path=name) from None
    except OSError as exc:
        raise error(f"cannot read the file ({exc.strerror or exc}).", path=name) from None


def check_text(raw: bytes, path: str, error: Type[ScalefitError] = RunFileError) -> None:
    """Raise when ``raw`` is not UTF-8 text: UTF-16, a NUL byte (binary data), or an invalid UTF-8 sequence."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise error("the file is UTF-16 text (e.g. Excel's 'Unicode text'). Save it as CSV UTF-8.", path=path, line=1)
    nul = raw.find(b"\x00")
    if nul >= 0:
        line = raw.count(b"\n", 0, nul) + 1
        raise error(f"binary data (a NUL byte at byte {nul}); this is not a text log. Give the CSV or JSON run "
                    "file (a TensorBoard event file goes in as its directory).", path=path, line=line)
    if raw.isascii():
        return
    dec = codecs.getincrementaldecoder("utf-8")()
    step = 1 << 22
    for start in range(0, len(raw), step):
        pending = len(dec.getstate()[0])  # bytes of a character cut by the previous chunk
        try:
            dec.decode(raw[start:start + step], final=start + step >= len(raw))
        except UnicodeDecodeError as exc:
            at = max(0, min(start - pending + exc.start, len(raw) - 1))
            line = raw.count(b"\n", 0, at) + 1
            byte = raw[at: at + 1].hex()
            raise error(f"byte 0x{byte} (at byte {at}) is not valid UTF-8; the file is binary or in another "
                        "encoding. Save it as CSV UTF-8.", path=path, line=line) from None


def decode(raw: bytes, path: str, error: Type[ScalefitError] = RunFileError) -> str:
    """UTF-8 text of a run file (a BOM dropped); binary or undecodable bytes raise an error with the line."""
    check_text(raw, path, error)
    return raw.decode("utf-8-sig")


def head_text(raw: bytes) -> str:
    """The start of the file as text, for format detection (a cut multi-byte character is replaced)."""
    return raw[:HEAD_BYTES].decode("utf-8-sig", errors="replace")
