"""Grids of runs: models x peak LRs x batch sizes x schedules, one run file each, resumable.

A sweep is a list of :class:`~scalefit.train.config.TrainConfig`. :func:`grid` builds it with file names that
say what each run is (``s1_cosine_lr0.003_bs16_steps500.csv``: model, schedule, peak LR, batch size, steps, and
the seed and warmup when given), so sweeps of other lengths can share a folder; :func:`run_sweep` runs it on a
local process pool (default) or as a Slurm job array through submitit (``pip install 'scalefit-lm[slurm]'``).

Resuming is the default: a run whose file already holds every step is skipped, a partial one continues from
its checkpoint (``NAME.ckpt``), and one without a checkpoint starts again. So re-running the same sweep command
after a crash, a preemption or a Ctrl-C finishes what is missing and nothing else. Files named before the step
count was part of the name (``s1_cosine_lr0.003_bs16.csv``) are still found when their metadata says they are
the run.

Faults: a local pool's workers die with the sweep process (:mod:`~scalefit.train.parent_watch`), each run file
has one writer at a time (:mod:`~scalefit.train.runlock`; a sweep whose files another live process is writing
stops before any work), and ``sweep.json`` never replaces a completed run's record with a failure.

This module imports torch only inside the workers, so building and checking a grid is cheap.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from scalefit.errors import ScalefitError
from scalefit.train.logger import last_step, read_meta

SCHEMA = "scalefit.sweep/1"


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep and what happened to it."""

    name: str
    out: str
    model: str
    lr: float
    batch_size: int
    schedule: str
    status: str  # "done" | "skipped" (already complete) | "resumed" | "diverged" | "failed"
    final_loss: float | None = None
    final_val_loss: float | None = None
    seconds: float | None = None
    error: str | None = None
    steps: int | None = None  # the run's total steps (absent from records of older versions)


#: Statuses of a run whose file holds every step; a later failure never replaces such a record.
COMPLETE = ("done", "resumed", "skipped")


def _slug(text: str) -> str:
    """File-name-safe form of a schedule spec: ``wsd:decay=0.2`` -> ``wsd-decay0.2``."""
    name, _, opts = text.partition(":")
    parts = [name] + [re.sub(r"[^A-Za-z0-9.]+", "", o) for o in opts.split(",") if o]
    return "-".join(p for p in parts if p)


def run_name(model: str, schedule: str, lr: float, batch_size: int, steps: int | None = None, *, seed: int = 0,
             warmup: int | None = None) -> str:
    """The file stem of a grid point, e.g. ``s1_cosine_lr0.003_bs16_steps500`` (``_seed1``, ``_wu50`` added when
    the seed is not 0 or a warmup is given). Without ``steps``: the name older versions gave."""
    name = f"{model}_{_slug(schedule)}_lr{lr:g}_bs{batch_size}"
    if steps is None:
        return name
    return name + f"_steps{steps}" + (f"_seed{seed}" if seed else "") + ("" if warmup is None else f"_wu{warmup}")


def _meta_differs(meta: dict[str, str], cfg: Any) -> str:
    """Why the metadata of a run file says it is not run ``cfg`` (``""`` when it agrees or says nothing)."""
    mine = {"model": cfg.model, "batch_size": cfg.batch_size, "seq_len": cfg.seq_len, "seed": cfg.seed,
            "total_steps": cfg.steps}
    if cfg.warmup is not None and "warmup=" not in cfg.schedule:  # a spec's own warmup wins over --warmup
        mine["warmup_steps"] = cfg.warmup
    for key, value in mine.items():
        if key in meta and meta[key] != str(value):
            return f"{key}={meta[key]} (this run: {value})"
    return ""  # the learning rates are compared when the file is complete, and by the checkpoint when resuming


def _older_file(out: Path, legacy: Path, cfg: Any) -> Path:
    """``legacy`` (the name an older version gave this run) when that file is this run and ``out`` is not there
    yet; else ``out``. Keeps folders of earlier sweeps (and the bundled data) resumable without renaming."""
    if out.exists() or out.with_suffix(".ckpt").exists() or not legacy.exists():
        return out
    meta = read_meta(legacy)
    if "total_steps" in meta and not _meta_differs(meta, cfg):
        return legacy
    return out


def grid(
    models: Sequence[str],
    lrs: Sequence[float],
    batch_sizes: Sequence[int],
    schedules: Sequence[str],
    out_dir: str | os.PathLike[str],
    **common: Any,
) -> list[Any]:
    """The configs of the full grid (models outermost), validated before anything runs.

    ``common`` holds the other :class:`TrainConfig` fields (``steps``, ``seq_len``, ``warmup``, ``data``, ...).
    Raises :class:`ScalefitError` for an unknown preset, a bad schedule spec or an empty axis.
    """
    from scalefit import schedules as sched_mod
    from scalefit.train.model import PRESETS
    from scalefit.train.config import TrainConfig

    for axis, values in (("--models", models), ("--lrs", lrs), ("--batch-sizes", batch_sizes),
                         ("--schedules", schedules)):
        if not values:
            raise ScalefitError(f"{axis} is empty; give at least one value.")
    for m in models:
        if m not in PRESETS:
            raise ScalefitError(f"--models: {m!r} is not a preset. Choose from: {', '.join(PRESETS)}.")
    steps = common.get("steps", 200)
    for s in schedules:
        sched_mod.from_spec(s, peak=max(lrs), total=steps, warmup=common.get("warmup"))  # raises ScheduleSpecError
    out = Path(out_dir)
    configs = []
    seed, warmup = common.get("seed", 0), common.get("warmup")
    for m, s, lr, bs in itertools.product(models, schedules, lrs, batch_sizes):
        cfg = TrainConfig(out=str(out / f"{run_name(m, s, lr, bs, steps, seed=seed, warmup=warmup)}.csv"), model=m,
                          schedule=s, lr=float(lr), batch_size=int(bs), resume=True, **common)
        path = _older_file(Path(cfg.out), out / f"{run_name(m, s, lr, bs)}.csv", cfg)
        configs.append(replace(cfg, out=str(path)))
    names = [c.out for c in configs]
    if len(set(names)) != len(names):
        raise ScalefitError("two grid points map to the same file name; remove repeated values from the axes.")
    return configs


def plan(configs: Sequence[Any]) -> list[tuple[Any, str]]:
    """Each config with what the sweep will do: ``skip`` (complete), ``resume`` (checkpoint) or ``new``.

    Errors before anything starts: a run file another live process is writing (is the same sweep still
    running?), and a file of another run (its metadata, or for a complete file its logged LRs, differ). A
    complete file is skipped only if it is this run."""
    from scalefit.train.resume import complete_run_differs
    from scalefit.train.runlock import held_by_another

    busy = [(c, who) for c in configs if (who := held_by_another(c.out))]
    if busy:
        raise ScalefitError(
            f"{len(busy)} of the sweep's {len(configs)} run files are being written by another process "
            f"({busy[0][1]} holds {Path(busy[0][0].out).name}). Is this sweep still running? Wait for it or stop "
            "it, or use another --out-dir.", path=str(Path(busy[0][0].out).parent))
    out = []
    for c in configs:
        differs = _meta_differs(read_meta(c.out), c)
        if differs:
            raise ScalefitError(f"the file holds another run, made with {differs}. Use another --out-dir, or "
                                "delete the file to train this run.", path=str(c.out))
        done = last_step(c.out)
        if done is not None and done >= c.steps - 1:
            differs = complete_run_differs(c)
            if differs:
                raise ScalefitError(f"cannot skip: the file is complete but was made with {differs}. Use another "
                                    "--out-dir, or delete the file to train this run.", path=str(c.out))
            out.append((c, "skip"))
        elif c.checkpoint_path.exists():
            out.append((c, "resume"))
        else:
            out.append((c, "new"))
    return out


def _run_one(cfg_fields: dict[str, Any], threads: int | None) -> dict[str, Any]:
    """Worker: train one config (in this or a child process) and return a plain-dict summary."""
    from scalefit.train.config import TrainConfig, TrainingDiverged
    from scalefit.train.trainer import train

    cfg = TrainConfig(**cfg_fields)
    if threads and not cfg.threads:
        cfg = replace(cfg, threads=threads)
    t0 = time.perf_counter()
    try:
        r = train(cfg)
    except TrainingDiverged as exc:
        return {"status": "diverged", "error": str(exc), "seconds": time.perf_counter() - t0}
    except ScalefitError as exc:
        return {"status": "failed", "error": str(exc), "seconds": time.perf_counter() - t0}
    status = "skipped" if r.skipped else ("resumed" if r.resumed_from is not None else "done")
    return {"status": status, "final_loss": r.final_loss, "final_val_loss": r.final_val_loss,
            "seconds": time.perf_counter() - t0}


def _fields(cfg: Any) -> dict[str, Any]:
    d = asdict(cfg)
    d.pop("lr_values", None)
    d["progress"] = "none"
    return d


def run_sweep(
    configs: Sequence[Any],
    *,
    jobs: int = 1,
    executor: str = "local",
    slurm: dict[str, Any] | None = None,
    on_result: Callable[[SweepRun, int, int], None] | None = None,
) -> list[SweepRun]:
    """Run every config that is not complete yet; return one :class:`SweepRun` per config, in order.

    Parameters
    ----------
    jobs
        Local: runs at the same time (each gets ``cpu_count // jobs`` torch threads). ``1`` runs in this
        process. Slurm: the job array's parallelism.
    executor
        ``"local"`` or ``"slurm"`` (submitit; ``slurm`` holds its parameters, e.g. ``{"slurm_partition": "gpu",
        "timeout_min": 60, "gpus_per_node": 1}``).
    on_result
        Called as ``(run, done_count, total)`` when a run finishes (progress display).
    """
    if jobs < 1:
        raise ScalefitError(f"--jobs must be >= 1, got {jobs}.")
    if executor not in ("local", "slurm"):
        raise ScalefitError(f"--executor {executor!r} must be 'local' or 'slurm'.")
    todo = plan(configs)
    results: dict[int, SweepRun] = {}
    total = len(todo)
    count = 0

    def record(i: int, summary: dict[str, Any]) -> None:
        nonlocal count
        c = configs[i]
        run = SweepRun(name=Path(c.out).stem, out=c.out, model=c.model, lr=c.lr, batch_size=c.batch_size,
                       schedule=c.schedule, steps=c.steps, **summary)
        results[i] = run
        count += 1
        if on_result is not None:
            on_result(run, count, total)

    pending = []
    for i, (c, action) in enumerate(todo):
        if action == "skip":
            record(i, {"status": "skipped"})
        else:
            pending.append(i)

    if executor == "slurm" and pending:
        from scalefit.errors import require

        submitit = require("submitit", "slurm", "scalefit sweep --executor slurm")
        folder = Path(configs[0].out).parent / ".submitit"
        ex = submitit.AutoExecutor(folder=str(folder))
        ex.update_parameters(slurm_array_parallelism=jobs, **(slurm or {}))
        submitted = ex.map_array(_run_one, [_fields(configs[i]) for i in pending], [None] * len(pending))
        for i, job in zip(pending, submitted):
            try:
                record(i, job.result())
            except Exception as exc:  # noqa: BLE001 - a failed job is reported, the others continue
                record(i, {"status": "failed", "error": f"{type(exc).__name__}: {exc}".splitlines()[0]})
    elif jobs == 1 or len(pending) <= 1:
        for i in pending:
            record(i, _run_one(_fields(configs[i]), None))
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        from scalefit.train.parent_watch import die_with_parent

        threads = max(1, (os.cpu_count() or 1) // jobs)
        # spawn, not fork: forking a process that has started torch's thread pools can deadlock;
        # die_with_parent: a killed sweep leaves no worker training on
        with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"), initializer=die_with_parent,
                                 initargs=(os.getpid(),)) as pool:
            futures = {pool.submit(_run_one, _fields(configs[i]), threads): i for i in pending}
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    record(i, fut.result())
                except Exception as exc:  # noqa: BLE001 - a crashed worker is reported, the others continue
                    record(i, {"status": "failed", "error": f"{type(exc).__name__}: {exc}".splitlines()[0]})
    return [results[i] for i in range(total)]


def write_summary(path: str | os.PathLike[str], runs: Sequence[SweepRun]) -> None:
    """Write the sweep's outcome as JSON (``"schema": "scalefit.sweep/1"``), atomically, merged with the file's
    earlier records.

    Several sweeps often share one folder (``cli/make_data.sh`` runs two or three into each), so the file keeps
    every run it knows: records of runs outside this sweep stay, a run this sweep skipped keeps its earlier
    record (its timing and losses), since "skipped" says nothing new, and a completed run's record is never
    replaced by a failure (the failed attempt did not touch its file). Runs are listed by name. The file is
    locked while it is merged, so two sweeps finishing together into one folder lose nothing.
    """
    import json

    from scalefit.jsonio import write_json
    from scalefit.train.runlock import RunLock

    with RunLock(path, wait_s=30.0, what="sweep summary"):
        merged: dict[str, dict[str, Any]] = {}
        try:
            old = json.loads(Path(path).read_text(encoding="utf-8"))
            if old.get("schema") == SCHEMA:
                merged = {r["name"]: r for r in old.get("runs", []) if isinstance(r, dict) and "name" in r}
        except (OSError, ValueError, AttributeError):
            pass  # no file yet, or not one of ours: start afresh
        for r in runs:
            earlier = merged.get(r.name)
            if earlier is not None and (r.status == "skipped" or (r.status not in COMPLETE
                                                                 and earlier.get("status") in COMPLETE)):
                continue
            merged[r.name] = asdict(r)
        write_json(path, {"schema": SCHEMA, "runs": [merged[k] for k in sorted(merged)]})
