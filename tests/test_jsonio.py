"""Atomic JSON writing, plain-type conversion and schema checks."""

from __future__ import annotations

import errno
import json
import os
import stat
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from scalefit.errors import ResultFileError
from scalefit.jsonio import (OutputFileError, check_out_dir, check_out_path, open_atomic, read_json, to_plain,
                             write_json, write_text)


def test_to_plain_converts_numpy_and_nonfinite() -> None:
    obj = {"a": np.float64(1.5), "b": np.arange(3), "c": float("nan"), "d": (np.int64(2), np.bool_(True))}
    assert to_plain(obj) == {"a": 1.5, "b": [0, 1, 2], "c": None, "d": [2, True]}


def test_write_is_atomic_and_round_trips(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "fit.json"
    write_json(target, {"schema": "scalefit.fit/1", "x": np.array([1.0, 2.0])})
    assert json.loads(target.read_text()) == {"schema": "scalefit.fit/1", "x": [1.0, 2.0]}
    assert [p.name for p in target.parent.iterdir()] == ["fit.json"]  # no temporary file left behind
    assert read_json(target, schema="scalefit.fit")["x"] == [1.0, 2.0]


def test_read_json_errors(tmp_path: Path) -> None:
    with pytest.raises(ResultFileError, match="missing.json: file not found"):
        read_json(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ResultFileError, match="bad.json: not valid JSON"):
        read_json(bad)
    other = tmp_path / "other.json"
    write_json(other, {"schema": "scalefit.hparams/1"})
    with pytest.raises(ResultFileError, match="expected scalefit.fit/N"):
        read_json(other, schema="scalefit.fit")


def test_written_files_get_normal_permissions(tmp_path: Path) -> None:
    """Atomic writes go through mkstemp (0600); the result must follow the umask like any new file."""
    old = os.umask(0o022)
    try:
        target = write_json(tmp_path / "fit.json", {"a": 1})
    finally:
        os.umask(old)
    assert target.stat().st_mode & 0o777 == 0o644


# ---- output targets: what --out may name (issue 14.5) ------------------------------------------------------
posix_only = pytest.mark.skipif(os.name != "posix", reason="devices, FIFOs and /dev/stdout are POSIX")


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp") or p.name.startswith(".scalefit"))


@posix_only
def test_dev_null_is_written_in_place_never_replaced() -> None:
    assert check_out_path("/dev/null") == Path("/dev/null")
    write_json("/dev/null", {"a": 1})
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)  # still the device (as root, a rename would replace it)
    with pytest.raises(OutputFileError, match=r"/dev/null: --out is a character device, not a regular file"):
        check_out_path("/dev/null", special=False)


@posix_only
def test_a_fifo_gets_the_bytes_and_stays_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    write_json(fifo, {"a": 1})
    reader.join(timeout=30)
    assert json.loads(got[0]) == {"a": 1}
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    with pytest.raises(OutputFileError, match="is a FIFO, not a regular file"):
        check_out_path(fifo, special=False)


@posix_only
def test_dev_stdout_writes_to_the_stream(capfd) -> None:
    write_json("/dev/stdout", {"to": "stdout"})
    assert json.loads(capfd.readouterr().out) == {"to": "stdout"}
    assert os.path.islink("/dev/stdout")
    with pytest.raises(OutputFileError, match="is a stream of this process"):
        check_out_path("/dev/stdout", special=False)


def test_a_symlink_keeps_being_a_link_and_its_target_is_replaced_atomically(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "fit.json"
    target.write_text("old")
    link = tmp_path / "fit.json"
    link.symlink_to(Path("real") / "fit.json")  # relative, as `ln -s` makes it
    assert check_out_path(link) == tmp_path / "real" / "fit.json"
    write_json(link, {"a": 2})
    assert link.is_symlink() and json.loads(target.read_text()) == {"a": 2}
    assert _leftovers(tmp_path / "real") == [] and _leftovers(tmp_path) == []
    loop = tmp_path / "loop.json"
    loop.symlink_to(loop)
    with pytest.raises(OutputFileError, match="loop of symbolic links"):
        check_out_path(loop)


def test_folders_and_paths_through_files_are_one_line_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputFileError, match=r"d: --out is a folder, not a file\. Give a file name inside it"):
        check_out_path(tmp_path / "d")
    with pytest.raises(OutputFileError, match="names a folder"):
        check_out_path(f"{tmp_path}/new/")
    with pytest.raises(OutputFileError, match=r"afile is a file, so the folder .* cannot be created"):
        check_out_path(tmp_path / "afile" / "sub" / "fit.json")
    with pytest.raises(OutputFileError, match=r"--out-dir: .*afile is a file"):
        check_out_dir(tmp_path / "afile")
    # a missing folder is fine (the write creates it), and the check creates nothing
    assert check_out_path(tmp_path / "new" / "sub" / "fit.json") == tmp_path / "new" / "sub" / "fit.json"
    assert check_out_dir(tmp_path / "grid") == tmp_path / "grid"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "d"]
    with pytest.raises(OutputFileError, match="cannot write: it is a folder"):
        write_json(tmp_path / "d", {"a": 1})
    assert _leftovers(tmp_path) == []


@pytest.mark.skipif(not (sys.platform.startswith("linux") and os.path.isdir("/sys")),
                    reason="needs Linux's /sys, where no user, root included, may create files")
def test_a_folder_no_one_may_write_is_one_line() -> None:
    with pytest.raises(OutputFileError, match=r"/sys/fit\.json: --out: cannot create files in /sys: "):
        check_out_path("/sys/fit.json")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write into a read-only folder")
def test_a_read_only_folder_is_one_line(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(OutputFileError, match=r"cannot create files in .*ro: permission denied \(EACCES\)"):
            check_out_path(ro / "fit.json")
    finally:
        ro.chmod(0o755)


# ---- disk full and other refused writes (issue 14.9), with os.write patched: no root, no quota needed -------
def fill_disk(monkeypatch: pytest.MonkeyPatch, budget: int, code: int = errno.ENOSPC) -> None:
    """Let os.write write ``budget`` more bytes in all (a short write at the boundary), then raise ``code``."""
    real = os.write
    left = [budget]

    def write(fd: int, data) -> int:
        data = bytes(data)
        if left[0] <= 0:
            raise OSError(code, os.strerror(code))
        n = real(fd, data[: left[0]])
        left[0] -= n
        return n

    monkeypatch.setattr(os, "write", write)


@pytest.mark.parametrize(("code", "words"), [
    (errno.ENOSPC, r"no space left on the device \(ENOSPC\)\. Free some space"),
    (getattr(errno, "EDQUOT", errno.ENOSPC), r"(disk quota exceeded \(EDQUOT\)|no space left)"),
    (errno.EROFS, r"the file system is read-only \(EROFS\)"),
    (errno.EACCES, r"permission denied \(EACCES\)"),
])
def test_a_refused_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch, code, words) -> None:
    target = tmp_path / "fit.json"
    write_json(target, {"old": True})
    fill_disk(monkeypatch, budget=10, code=code)
    with pytest.raises(OutputFileError, match=rf"fit\.json: cannot write: {words}") as info:
        write_json(target, {"new": list(range(100))})
    assert len(str(info.value).splitlines()) == 1
    monkeypatch.undo()
    assert json.loads(target.read_text()) == {"old": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.json"]


def test_a_library_that_wraps_the_os_error_still_gives_the_one_line(tmp_path, monkeypatch) -> None:
    """torch.save turns its writer's OSError into a RuntimeError; open_atomic reports the OSError it saw."""
    fill_disk(monkeypatch, budget=100)
    with pytest.raises(OutputFileError, match="ckpt: cannot save: no space left"):
        with open_atomic(tmp_path / "a.ckpt", action="cannot save") as fh:
            try:
                fh.write(b"x" * 1000)
            except OSError:
                raise RuntimeError("[enforce fail at inline_container.cc:672] unexpected pos") from None
    assert list(tmp_path.iterdir()) == []


def test_other_os_errors_are_not_disguised(tmp_path, monkeypatch) -> None:
    """An errno a user cannot fix (a bad descriptor is a bug) keeps its traceback."""
    fill_disk(monkeypatch, budget=0, code=errno.EBADF)
    with pytest.raises(OSError) as info:
        write_text(tmp_path / "a.txt", "hello")
    assert not isinstance(info.value, OutputFileError) and info.value.errno == errno.EBADF
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_open_atomic_takes_a_matplotlib_figure(tmp_path, fmt) -> None:
    """plots.save can write through open_atomic: every backend matplotlib picks by suffix accepts its file."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    with open_atomic(tmp_path / f"fig.{fmt}") as fh:
        fig.savefig(fh, format=fmt)
    plt.close(fig)
    head = (tmp_path / f"fig.{fmt}").read_bytes()[:5]
    assert head == {"png": b"\x89PNG\r", "svg": b"<?xml", "pdf": b"%PDF-"}[fmt]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"fig.{fmt}"]
