"""Faults a user can throw at ``scalefit train`` and ``scalefit sweep`` (issue 14.3-14.5, 14.9, 13): each ends in a
result or one clear line, before any work where it can be known before, and never costs a run file its rows.

Tiny preset, 16-token sequences, few steps; the two tests with real subprocesses wait for events, not times.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from typer.testing import CliRunner  # noqa: E402

from scalefit.cli import app  # noqa: E402
from scalefit.errors import ScalefitError  # noqa: E402
from scalefit.jsonio import OutputFileError  # noqa: E402
from scalefit.readers import read_run  # noqa: E402
from scalefit.train import runlock  # noqa: E402
from scalefit.train.runlock import RunLock, RunLockedError, lock_path  # noqa: E402
from scalefit.train.trainer import TrainConfig, train  # noqa: E402

pytestmark = pytest.mark.torch
runner = CliRunner()
SMALL = dict(model="tiny", batch_size=4, seq_len=16, eval_every=0, eval_batches=1, progress="none",
             data="synthetic:vocab=16,order=2", lr=1e-2, warmup=2, threads=1, device="cpu")
FLAGS = ["--model", "tiny", "--batch-size", "4", "--seq-len", "16", "--eval-every", "0", "--data",
         "synthetic:vocab=16,order=2", "--threads", "1", "--device", "cpu", "--progress", "none"]
CLI = [sys.executable, "-c", "from scalefit.cli import app; app()"]


def _cfg(tmp_path: Path, name: str = "run.csv", **kw) -> TrainConfig:
    return TrainConfig(out=str(tmp_path / name), **{**SMALL, "steps": 8, **kw})


def _one_line(r) -> str:
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and len(r.stderr.strip().splitlines()) == 1, r.stderr
    return r.stderr


def _complete_lines(path: Path) -> bool:
    raw = path.read_bytes()
    return raw.endswith(b"\n")


# ---- 14.3: the run file, its checkpoint, its lock and its inputs are different files ----------------------------
def test_out_equal_to_its_checkpoint_is_refused_before_any_work(tmp_path) -> None:
    ckpt = tmp_path / "run.ckpt"
    ckpt.write_bytes(b"an earlier checkpoint")
    err = _one_line(runner.invoke(app, ["train", *FLAGS, "--steps", "3", "--out", str(ckpt)]))
    assert "the run file (--out) and its checkpoint are the same file" in err and "Name the run file run.csv" in err
    assert ckpt.read_bytes() == b"an earlier checkpoint" and sorted(os.listdir(tmp_path)) == ["run.ckpt"]


def test_out_equal_to_an_input_or_a_checkpoint_on_the_lock_is_refused(tmp_path) -> None:
    from scalefit import schedules

    lr_file = tmp_path / "lr.csv"
    schedules.to_csv(lr_file, schedules.cosine(1e-3, 8))
    before = lr_file.read_bytes()
    err = _one_line(runner.invoke(app, ["train", *FLAGS, "--steps", "8", "--schedule-file", str(lr_file),
                                        "--out", str(lr_file)]))
    assert "the run file (--out) and the schedule file (--schedule-file) are the same file" in err
    assert lr_file.read_bytes() == before
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("to be or not to be " * 50)
    with pytest.raises(ScalefitError, match=r"the run file \(--out\) and the text corpus \(--data\) are the same"):
        train(_cfg(tmp_path, "corpus.txt", data=str(corpus)))
    with pytest.raises(ScalefitError, match="its checkpoint and its lock file are the same file"):
        train(_cfg(tmp_path, checkpoint=str(tmp_path / "run.csv.lock")))
    # through a symbolic link too: the checkpoint is a link to the run file
    (tmp_path / "other.ckpt").symlink_to(tmp_path / "other.csv")
    with pytest.raises(ScalefitError, match="the run file .* and its checkpoint are the same file"):
        train(_cfg(tmp_path, "other.csv", checkpoint=str(tmp_path / "other.ckpt")))


# ---- 14.5: special --out targets ----------------------------------------------------------------------------
@pytest.mark.skipif(os.name != "posix", reason="devices and FIFOs are POSIX")
@pytest.mark.parametrize("kind", ["/dev/null", "fifo", "folder", "file in the way", "unwritable folder"])
def test_special_out_targets_are_one_line_before_any_work(tmp_path, kind) -> None:
    if kind == "/dev/null":
        out, words = "/dev/null", "/dev/null: --out is a character device, not a regular file"
    elif kind == "fifo":
        out, words = str(tmp_path / "pipe.csv"), "pipe.csv: --out is a FIFO, not a regular file"
        os.mkfifo(out)
    elif kind == "folder":
        out, words = str(tmp_path / "d"), "d: --out is a folder, not a file"
        os.mkdir(out)
    elif kind == "file in the way":
        (tmp_path / "afile").write_text("x")
        out, words = str(tmp_path / "afile" / "run.csv"), "afile is a file, so the folder"
    else:
        if not os.path.isdir("/sys"):
            pytest.skip("needs Linux's /sys, where no user may create files")
        out, words = "/sys/run.csv", "/sys/run.csv: --out: cannot create files in /sys"
    before = sorted(os.listdir(tmp_path))
    err = _one_line(runner.invoke(app, ["train", *FLAGS, "--steps", "3", "--out", out]))
    assert words in err
    assert sorted(os.listdir(tmp_path)) == before  # nothing written, no lock, no checkpoint
    if kind == "/dev/null":
        assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    if kind == "fifo":
        assert stat.S_ISFIFO(os.stat(out).st_mode)


def test_a_symlinked_out_writes_its_target_and_stays_a_link(tmp_path) -> None:
    (tmp_path / "store").mkdir()
    link = tmp_path / "run.csv"
    link.symlink_to(Path("store") / "run.csv")
    r = train(_cfg(tmp_path, steps=4))
    assert link.is_symlink() and read_run(link).steps.tolist() == [0, 1, 2, 3]
    assert (tmp_path / "store" / "run.csv").is_file()
    assert train(replace(_cfg(tmp_path, steps=4), resume=True)).skipped  # resumable through the link
    assert r.out == str(link)
    assert not lock_path(tmp_path / "store" / "run.csv").exists()  # the lock is gone after the run


def test_sweep_out_dir_that_is_a_file_is_one_line(tmp_path) -> None:
    (tmp_path / "grid").write_text("x")
    err = _one_line(runner.invoke(app, ["sweep", "--steps", "2", "--seq-len", "16", "--threads", "1",
                                        "--out-dir", str(tmp_path / "grid")]))
    assert "--out-dir: " in err and "grid is a file" in err


# ---- 14.4: one writer per run file --------------------------------------------------------------------------
def test_a_held_lock_stops_train_before_it_touches_the_file(tmp_path) -> None:
    cfg = _cfg(tmp_path)
    with RunLock(cfg.out):
        with pytest.raises(RunLockedError, match=rf"run\.csv: another process \(pid {os.getpid()}\) is writing this "
                                                 r"run file \(lock run\.csv\.lock\)"):
            train(cfg)
        assert not Path(cfg.out).exists() and not cfg.checkpoint_path.exists()
    assert not lock_path(cfg.out).exists()
    train(cfg)  # free again


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path) -> None:
    cfg = _cfg(tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock_path(cfg.out).write_text(f"{dead.stdout.strip()} {socket.gethostname()}\n")  # left by a killed writer
    (tmp_path / ".run.csv.abcd1234.tmp").write_text("half a header")  # and its temporary file
    assert read_run(train(cfg).out).steps.size == 8
    assert sorted(os.listdir(tmp_path)) == ["run.ckpt", "run.csv"]


def test_without_fcntl_the_lock_is_an_exclusive_file_with_a_pid(tmp_path, monkeypatch) -> None:
    """The fallback where flock is missing (Windows): O_EXCL, and a dead pid's file is stale."""
    monkeypatch.setattr(runlock, "fcntl", None)
    out = tmp_path / "a.csv"
    with RunLock(out):
        with pytest.raises(RunLockedError, match=rf"pid {os.getpid()}"):
            RunLock(out).acquire()
    assert not lock_path(out).exists()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock_path(out).write_text(f"{dead.stdout.strip()} {socket.gethostname()}\n")
    with RunLock(out) as lock:
        assert lock.held


def _wait_for(predicate, what: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def _rows(path: Path) -> int:
    try:
        return sum(1 for line in path.read_text().splitlines() if line[:1].isdigit())
    except FileNotFoundError:
        return 0


def _owner(out: Path) -> int | None:
    try:
        text = lock_path(out).read_text().split()
    except FileNotFoundError:
        return None
    return int(text[0]) if text and text[0].isdigit() else None


def _gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for its reaper counts as gone: it runs no code)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False


def test_two_writers_on_one_run_file_is_a_one_line_error_and_no_row_is_lost(tmp_path) -> None:
    """A `train` is writing; a second `train`, a `train --resume` and a sweep that maps to the same file all stop
    at once with the first writer's pid, and the first writer's file keeps every row."""
    name = "tiny_cosine_lr0.01_bs4_steps100000.csv"  # the name the sweep below gives its one run
    out = tmp_path / name
    first = subprocess.Popen([*CLI, "train", *FLAGS, "--steps", "100000", "--lr", "1e-2", "--out", str(out)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: _owner(out) == first.pid and _rows(out) >= 3 or first.poll() is not None,
                  "the first writer")
        assert first.poll() is None, "the first train ended early"
        for extra in ([], ["--resume"]):
            err = _one_line(runner.invoke(app, ["train", *FLAGS, "--steps", "100000", "--lr", "1e-2", *extra,
                                                "--out", str(out)]))
            assert f"another process (pid {first.pid}) is writing this run file" in err
        err = _one_line(runner.invoke(app, ["sweep", "--models", "tiny", "--lrs", "1e-2", "--batch-sizes", "4",
                                            "--steps", "100000", "--seq-len", "16", "--eval-every", "0", "--data",
                                            "synthetic:vocab=16,order=2", "--threads", "1", "--out-dir",
                                            str(tmp_path)]))
        assert (f"1 of the sweep's 1 run files are being written by another process (pid {first.pid} holds {name})"
                in err)
        rows = _rows(out)
    finally:
        first.kill()
        first.wait()
    run = read_run(out)
    assert run.steps.tolist() == list(range(run.steps.size)) and run.steps.size >= rows  # contiguous, none lost


# ---- 14.4: workers die with the sweep -------------------------------------------------------------------------
@pytest.mark.skipif(os.name != "posix", reason="SIGKILL and re-parenting are POSIX")
def test_killing_a_sweep_kills_its_workers(tmp_path) -> None:
    """A real sweep of two long tiny runs on two workers: SIGKILL the sweep, and both workers are gone soon after
    (the parent-death signal on Linux, polling elsewhere); a sweep started again finds no live writer."""
    from scalefit.train import sweep as sw

    args = ["--models", "tiny", "--lrs", "1e-3,1e-2", "--batch-sizes", "4", "--schedules", "cosine", "--steps",
            "100000", "--seq-len", "16", "--eval-every", "0", "--data", "synthetic:vocab=16,order=2",
            "--threads", "1", "--device", "cpu", "--jobs", "2", "--out-dir", str(tmp_path)]
    parent = subprocess.Popen([*CLI, "sweep", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    outs = [tmp_path / f"tiny_cosine_lr{lr}_bs4_steps100000.csv" for lr in ("0.001", "0.01")]
    workers: list[int] = []
    try:
        _wait_for(lambda: all(_owner(o) and _rows(o) >= 2 for o in outs) or parent.poll() is not None,
                  "both workers to train")
        assert parent.poll() is None, "the sweep ended early"
        workers = [_owner(o) for o in outs]
        assert parent.pid not in workers and len(set(workers)) == 2
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        _wait_for(lambda: all(_gone(pid) for pid in workers), "the workers to die", timeout=30)
    finally:
        parent.kill()
        for pid in workers:  # never leave an orphan behind, even when the test fails
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)
    sizes = [o.stat().st_size for o in outs]
    assert all(_complete_lines(o) for o in outs)
    configs = sw.grid(["tiny"], [1e-3, 1e-2], [4], ["cosine"], tmp_path, steps=100000, seq_len=16, eval_every=0,
                      data="synthetic:vocab=16,order=2", threads=1, device="cpu")
    assert [a for _, a in sw.plan(configs)] in (["resume", "resume"], ["resume", "new"], ["new", "resume"],
                                                ["new", "new"])
    assert [o.stat().st_size for o in outs] == sizes  # nobody is writing any more


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL and re-parenting are POSIX")
@pytest.mark.parametrize("use_prctl", [False, True], ids=["polling", "parent-death signal"])
def test_die_with_parent_by_each_means(use_prctl) -> None:
    child_code = ("import sys, time; from scalefit.train.parent_watch import die_with_parent; "
                  f"print(die_with_parent(int(sys.argv[1]), use_prctl={use_prctl}, poll_s=0.05), flush=True); "
                  "time.sleep(120)")
    parent_code = ("import os, subprocess, sys, time; "
                   f"c = subprocess.Popen([sys.executable, '-c', {child_code!r}, str(os.getpid())]); "
                   "print(c.pid, flush=True); time.sleep(120)")
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    means = parent.stdout.readline().strip()
    try:
        assert means == ("prctl+poll" if use_prctl and sys.platform.startswith("linux") else "poll")
        assert not _gone(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        _wait_for(lambda: _gone(child), "the child to die", timeout=30)
    finally:
        parent.kill()
        parent.stdout.close()
        if not _gone(child):
            os.kill(child, signal.SIGKILL)


# ---- 14.9: disk full during a run ------------------------------------------------------------------------------
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


def _bytes_written(monkeypatch, fn) -> int:
    real, total = os.write, [0]

    def write(fd: int, data) -> int:
        n = real(fd, data)
        total[0] += n
        return n

    monkeypatch.setattr(os, "write", write)
    try:
        fn()
    finally:
        monkeypatch.setattr(os, "write", real)
    return total[0]


def test_disk_full_at_a_checkpoint_is_one_line_and_the_run_resumes_to_the_same_file(tmp_path, monkeypatch) -> None:
    full = Path(train(_cfg(tmp_path, "full.csv", steps=12)).out).read_bytes()
    cfg = _cfg(tmp_path, steps=12, ckpt_every=4)
    first = _bytes_written(monkeypatch, lambda: train(cfg, stop_after=3))  # header, rows 0..3, checkpoint 3
    Path(cfg.out).unlink()
    cfg.checkpoint_path.unlink()
    fill_disk(monkeypatch, first + 200)  # room for rows 4..7 (~40 bytes each), not for the checkpoint of step 7
    with pytest.raises(OutputFileError, match=r"run\.ckpt: cannot write the checkpoint of step 7 .*no space left"):
        train(cfg)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["full.ckpt", "full.csv", "run.ckpt", "run.csv"]  # no temporary, no lock
    assert read_run(cfg.out).steps.tolist() == list(range(8))
    assert train(replace(cfg, resume=True)).resumed_from == 3  # the checkpoint of step 3 survived
    assert Path(cfg.out).read_bytes() == full


def test_disk_full_in_a_row_cuts_the_file_back_to_its_last_complete_line(tmp_path, monkeypatch) -> None:
    cfg = _cfg(tmp_path, steps=60, ckpt_every=0)
    fill_disk(monkeypatch, 1500)  # the metadata (~700 bytes), then rows of ~40 bytes until one is cut
    words = (r"run\.csv: cannot write the row of step (\d+): no space left on the device \(ENOSPC\)\. .*"
             r"The file keeps every row up to step \d+\.$")
    with pytest.raises(OutputFileError, match=words) as info:
        train(cfg)
    monkeypatch.undo()
    step = int(info.value.message.split("row of step ")[1].split(":")[0])
    assert _complete_lines(Path(cfg.out))  # no partial last line
    assert read_run(cfg.out).steps.tolist() == list(range(step))
    assert sorted(os.listdir(tmp_path)) == ["run.csv"]


@pytest.mark.parametrize("code", [errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EROFS, errno.EACCES])
def test_cli_train_on_a_refusing_disk_is_one_line(tmp_path, monkeypatch, code) -> None:
    fill_disk(monkeypatch, 0, code)
    err = _one_line(runner.invoke(app, ["train", *FLAGS, "--steps", "3", "--out", str(tmp_path / "r.csv")]))
    assert "r.csv: cannot write: " in err and f"({errno.errorcode[code]})" in err
    assert os.listdir(tmp_path) == []


# ---- issue 13: sweeps of another length share a folder; a failed run is an exit code, not a lost record --------
def test_a_sweep_of_another_length_into_the_same_folder_trains_new_files(tmp_path) -> None:
    common = ["--models", "tiny", "--lrs", "1e-2", "--batch-sizes", "4", "--seq-len", "16", "--threads", "1",
              "--data", "synthetic:vocab=16,order=2", "--eval-every", "0", "--out-dir", str(tmp_path)]
    assert runner.invoke(app, ["sweep", *common, "--steps", "4"]).exit_code == 0
    r = runner.invoke(app, ["sweep", *common, "--steps", "6"])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in tmp_path.glob("*.csv")) == ["tiny_cosine_lr0.01_bs4_steps4.csv",
                                                             "tiny_cosine_lr0.01_bs4_steps6.csv"]
    runs = {x["name"]: x for x in json.loads((tmp_path / "sweep.json").read_text())["runs"]}
    assert {k: v["status"] for k, v in runs.items()} == {"tiny_cosine_lr0.01_bs4_steps4": "done",
                                                         "tiny_cosine_lr0.01_bs4_steps6": "done"}
    assert runs["tiny_cosine_lr0.01_bs4_steps6"]["steps"] == 6


def test_a_sweep_with_a_failed_run_exits_1_and_keeps_the_completed_record(tmp_path) -> None:
    from scalefit.train.sweep import SweepRun, write_summary

    common = ["--models", "tiny", "--lrs", "1e-2", "--batch-sizes", "4", "--seq-len", "16", "--threads", "1",
              "--data", "synthetic:vocab=16,order=2", "--eval-every", "0", "--steps", "4", "--out-dir", str(tmp_path)]
    assert runner.invoke(app, ["sweep", *common]).exit_code == 0
    done = json.loads((tmp_path / "sweep.json").read_text())["runs"][0]
    # a failure of the same run (as a mismatched resume gives) never replaces its completed record
    write_summary(tmp_path / "sweep.json", [SweepRun(name=done["name"], out=done["out"], model="tiny", lr=1e-2,
                                                     batch_size=4, schedule="cosine", status="failed", error="x")])
    assert json.loads((tmp_path / "sweep.json").read_text())["runs"][0] == done
    # a run that diverges: the sweep says so and exits 1
    r = runner.invoke(app, ["sweep", *common[:3], "1e6", *common[4:]])
    assert r.exit_code == 1, r.output
    assert "1 failed or diverged" in r.output and "diverged tiny_cosine_lr1e+06_bs4_steps4.csv" in r.output
