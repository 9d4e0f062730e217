"""One writer per run file: an advisory lock file ``OUT.lock`` next to the run file.

Two processes writing one run file (two ``scalefit train --out x.csv``, or a sweep started again while the first
still runs) would interleave or lose rows, and fight over one checkpoint. So a writer takes the lock first, and a
second writer gets a one-line :class:`RunLockedError` naming the holder (its pid and host, which the lock file
holds) before it touches anything.

The lock is ``fcntl.flock`` on the lock file: the kernel releases it when its process dies, however it dies, so a
lock file left by a killed process (a stale lock) is simply taken over. The holder removes the file when done.
Where ``fcntl`` is missing (Windows) the lock is the file's existence (``O_CREAT | O_EXCL``), and a file whose pid
is no longer running on this host is stale and taken over.
"""

from __future__ import annotations

import errno
import os
import socket
import time
from pathlib import Path

from scalefit.errors import ScalefitError
from scalefit.jsonio import output_error

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


#: Seconds to wait for the kernel to release the lock of a writer that has died.
STALE_GRACE_S = 10.0


class RunLockedError(ScalefitError):
    """Another live process holds the lock of this run file."""


def lock_path(out: str | os.PathLike[str]) -> Path:
    """The lock file of run file ``out``: ``OUT.lock`` in the same folder."""
    p = Path(out)
    return p.with_name(p.name + ".lock")


class RunLock:
    """Hold the lock of run file ``out`` (``with RunLock(out): ...``).

    ``wait_s`` > 0 retries for that long before giving up (for short critical sections such as a sweep's
    summary file); the default fails at once, since a run file is held for a whole training run.
    """

    def __init__(self, out: str | os.PathLike[str], *, wait_s: float = 0.0, what: str = "run file") -> None:
        self.out = Path(out)
        self.path = lock_path(out)
        self.wait_s = wait_s
        self.what = what
        self._fd: int | None = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "RunLock":
        """Take the lock or raise :class:`RunLockedError`; a refused lock file is an ``OutputFileError``."""
        deadline = time.monotonic() + self.wait_s
        grace = False
        while True:
            try:
                got = self._try_flock() if fcntl is not None else self._try_exclusive()
            except OSError as exc:
                raise (output_error(exc, self.path, "cannot create the lock file of the run") or exc) from None
            if got:
                return self
            if not grace and self._holder_died():
                # the kernel releases a killed process's locks a moment after it dies (its files are closed
                # asynchronously): a sweep started again at once waits for that instead of failing
                grace = True
                deadline = max(deadline, time.monotonic() + STALE_GRACE_S)
            if time.monotonic() >= deadline:
                raise RunLockedError(
                    f"another process ({self.holder_text()}) is writing this {self.what} (lock {self.path.name}). "
                    "Wait for it to finish or stop it, or write to another file.", path=str(self.out))
            time.sleep(0.05)

    def release(self) -> None:
        """Remove the lock file and release the lock. Safe to call twice."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.unlink(self.path)  # while still holding the lock: see _try_flock for why this is safe
        except OSError:
            pass
        os.close(fd)

    def _holder_died(self) -> bool:
        pid, host = _read_owner(self.path)
        return pid is not None and host == socket.gethostname() and not _alive(pid)

    def holder_text(self) -> str:
        """``pid N`` (``on HOST`` when another host) of the lock's holder, from the lock file."""
        pid, host = _read_owner(self.path)
        if pid is None:
            return "pid unknown"
        return f"pid {pid}" + (f" on {host}" if host and host != socket.gethostname() else "")

    # -- the two mechanisms ---------------------------------------------------------------------------------
    def _try_flock(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise
        # the previous holder removes the file before it unlocks; if it did so between our open and our flock,
        # we hold a lock on a file no one else will open: start again on the file now at the path
        try:
            same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            return self._try_flock()
        self._fd = fd
        _write_owner(fd)
        return True

    def _try_exclusive(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            pid, host = _read_owner(self.path)
            if pid is not None and host == socket.gethostname() and not _alive(pid):
                try:  # stale: its writer died without removing it
                    os.unlink(self.path)
                except FileNotFoundError:
                    pass
                return self._try_exclusive()
            return False
        self._fd = fd
        _write_owner(fd)
        return True


def held_by_another(out: str | os.PathLike[str]) -> str | None:
    """``None`` when run file ``out`` is free (or its lock is stale), else who holds it (``pid N``)."""
    lock = RunLock(out)
    if not lock.path.exists():
        return None
    try:
        lock.acquire()
    except RunLockedError:
        return lock.holder_text()
    lock.release()
    return None


def _write_owner(fd: int) -> None:
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
    except OSError:  # a full disk: the lock holds without its note
        pass


def _read_owner(path: Path) -> tuple[int | None, str | None]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").split()
    except OSError:
        return None, None
    pid = int(text[0]) if text and text[0].isdigit() else None
    return pid, (text[1] if len(text) > 1 else None)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` (on this host) still runs; a zombie (dead, not yet reaped) does not."""
    if os.name != "posix":  # pragma: no cover - no safe liveness probe: treat as running
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[:1] not in (["Z"], ["X"])
    except OSError:  # no /proc (macOS): os.kill said it exists
        return True
