"""Training jobs of cli/closed_loop.sh (standard library only): run them two at a time, skip complete ones, and keep
a small copy of each finished run.

    python cli/closed_loop_jobs.py run JOBS.tsv [--lanes 2] [--dry]

JOBS.tsv: one job per line, tab-separated: ``name``, ``kept`` (the small run file written under data/runs/), ``full``
(the trainer's run file, in the scratch folder), ``lr`` (the job's schedule as a ``step,lr`` file), then the
``scalefit train`` arguments (one per field; ``--out`` is added). ``kept`` "-": the trainer writes the kept file
itself, in full, and skips it when complete. A job is skipped when its kept file is complete (last row at step
total_steps - 1) and its logged LRs equal the ``lr`` file's at the rows kept; otherwise the trainer runs with
``--resume`` (a partial full file resumes from its checkpoint; one trained with another schedule is removed first)
and the kept copy is rewritten.

The kept copy holds the metadata and the rows with a val_loss (every ``--eval-every`` steps and the last step): the
closed loop reads the last val_loss and plots val curves, and a 4,500-step run shrinks from ~180 kB to ~6 kB. The
schedule of a per-step run is kept beside it (``schedules/``, written by the caller). ``--dry``: run one job of each
kind (the same option names) through $SCALEFIT (a shim that only checks options), skip the checks and the copies.

Each training runs under ``nice -n 10`` with the command given by $SCALEFIT (default ``scalefit``).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path


def read_rows(path: str | Path) -> tuple[list[str], list[str], list[list[str]]]:
    """(metadata lines, header fields, rows as fields) of a run file."""
    meta, header, rows = [], [], []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if line.startswith("#"):
                meta.append(line)
            elif not header and line:
                header = line.split(",")
            elif line:
                rows.append(line.split(","))
    return meta, header, rows


def meta_value(meta: list[str], key: str) -> str | None:
    for line in meta:
        k, _, v = line[1:].partition(":")
        if k.strip() == key:
            return v.strip()
    return None


def complete(path: str | Path) -> bool:
    """The file exists and its last row is the last step of its ``total_steps``."""
    p = Path(path)
    if not p.is_file():
        return False
    try:
        meta, _, rows = read_rows(p)
        total = int(meta_value(meta, "total_steps") or -1)
        return bool(rows) and int(rows[-1][0]) == total - 1
    except (OSError, ValueError, IndexError):
        return False


def lrs_by_step(path: str | Path) -> dict[int, float]:
    """``{step: lr}`` of a run file or a ``step,lr`` schedule file."""
    _, header, rows = read_rows(path)
    i, j = header.index("step"), header.index("lr")
    return {int(r[i]): float(r[j]) for r in rows if len(r) > j and r[j]}


def same_lrs(kept: str | Path, reference: str | Path) -> bool:
    """The kept file's LRs equal the reference's at every step the kept file holds (6 significant digits)."""
    got, want = lrs_by_step(kept), lrs_by_step(reference)
    return all(s in want and abs(v - want[s]) <= 2e-5 * abs(want[s]) + 1e-12 for s, v in got.items())


def thin(full: str | Path, kept: str | Path) -> None:
    """Write the metadata and the rows with a val_loss of ``full`` to ``kept`` (atomically)."""
    meta, header, rows = read_rows(full)
    v = header.index("val_loss")
    keep = [r for r in rows if len(r) > v and r[v].strip()]
    Path(kept).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(f"{kept}.tmp")
    tmp.write_text("\n".join([*meta, ",".join(header), *(",".join(r) for r in keep)]) + "\n", encoding="utf-8")
    tmp.replace(kept)


def is_done(job: dict) -> str:
    """Why the job needs no training ("" when it does)."""
    if complete(job["kept"]) and Path(job["lr"]).is_file() and same_lrs(job["kept"], job["lr"]):
        return "complete"
    return ""


def run_job(job: dict, scalefit: list[str], dry: bool, lock: threading.Lock) -> int:
    why = "" if dry or job["kept"] == "-" else is_done(job)
    if why:
        with lock:
            print(f"skip {job['name']}: {why} ({job['kept']})", flush=True)
        return 0
    Path(job["full"]).parent.mkdir(parents=True, exist_ok=True)
    if not dry and Path(job["full"]).is_file() and not same_lrs(job["full"], job["lr"]):
        with lock:  # trained with another schedule than the current one: start again
            print(f"{job['full']}: trained with another schedule; retraining", flush=True)
        Path(job["full"]).unlink()
        Path(job["full"]).with_suffix(".ckpt").unlink(missing_ok=True)
    cmd = ["nice", "-n", "10", *scalefit, "train", *job["args"], "--out", job["full"]]
    t0 = time.time()
    with lock:
        print(f"train {job['name']}: {shlex.join(cmd)}", flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    with lock:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
        print(f"  {job['name']}: exit {proc.returncode} after {time.time() - t0:.0f} s" +
              "".join(f"\n    {line}" for line in tail), flush=True)
    if proc.returncode == 0 and not dry and job["kept"] != "-":
        thin(job["full"], job["kept"])
        Path(job["full"]).with_suffix(".ckpt").unlink(missing_ok=True)
    return proc.returncode


def run(jobs_file: str, lanes: int, dry: bool) -> int:
    jobs = []
    with open(jobs_file, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                name, kept, full, lr, *args = line.rstrip("\n").split("\t")
                jobs.append({"name": name, "kept": kept, "full": full, "lr": lr, "args": args})
    if dry:  # the options of one job of each kind (the same option names) are what a dry run checks
        kinds: dict[tuple[str, ...], dict] = {}
        for job in jobs:
            kinds.setdefault(tuple(a for a in job["args"] if a.startswith("--")), job)
        jobs = list(kinds.values())
    scalefit = shlex.split(os.environ.get("SCALEFIT", "scalefit"))
    lock, queue, failed = threading.Lock(), list(jobs), []

    def lane() -> None:
        while True:
            with lock:
                if not queue:
                    return
                job = queue.pop(0)
            if run_job(job, scalefit, dry, lock) != 0:
                failed.append(job["name"])

    threads = [threading.Thread(target=lane) for _ in range(max(1, lanes))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failed:
        print(f"{len(failed)} training(s) failed: {', '.join(failed)}", flush=True)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("jobs")
    r.add_argument("--lanes", type=int, default=2)
    r.add_argument("--dry", action="store_true")
    a = ap.parse_args(argv)
    return run(a.jobs, a.lanes, a.dry)


if __name__ == "__main__":
    sys.exit(main())
