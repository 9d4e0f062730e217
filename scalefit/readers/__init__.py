"""Read training logs into :class:`~scalefit.runs.Run` objects, whatever wrote them.

Formats (detected from the content and the name; ``fmt=`` overrides):

========================  =====================================================================================
``csv``                   scalefit's run file (``step,lr,loss`` + ``# key: value`` metadata; :mod:`.csv`)
``wandb-history``         W&B history export (``_step`` + metric columns); read like ``csv`` with aliases
``wandb-chart``           W&B chart export (``Step`` + ``<run> - <metric>``): one Run per W&B run (:mod:`.wandb`)
``lightning``             Lightning ``metrics.csv``: rows merged by step (:mod:`.lightning`)
``hf``                    Hugging Face ``trainer_state.json`` (:mod:`.hf`)
``tensorboard``           a directory of ``events.out.tfevents.*`` files (extra ``[tensorboard]``; :mod:`.tensorboard`)
========================  =====================================================================================

A directory is read as TensorBoard when it holds event files (each sub-directory holding them is one run);
otherwise every ``*.csv`` and ``trainer_state.json`` directly in it is read, in name order.

The checks (every problem in a file is collected first, then one :class:`~scalefit.errors.RunFileError` names the
first one precisely and counts the others), the LR construction for sparse files, and the note and warning
conventions are described in :mod:`scalefit.readers._core`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from scalefit.errors import RunFileError
from scalefit.runs import Run

FORMATS = ("csv", "wandb-history", "wandb-chart", "lightning", "hf", "tensorboard")

PathLike = str | os.PathLike[str]


def detect_format(path: PathLike, text: str | None = None) -> str:
    """The format of ``path`` (one of :data:`FORMATS`), from the file's name and first lines."""
    from scalefit.readers import csv as csv_reader
    from scalefit.readers import hf, lightning, tensorboard, wandb

    p = Path(path)
    if p.is_dir():
        return "tensorboard" if tensorboard.event_dirs(p) else "dir"
    if p.name.startswith("events.out.tfevents"):
        return "tensorboard"
    if text is None:
        text = csv_reader.decode(csv_reader.read_bytes(p), str(path))
    if p.suffix.lower() == ".json" or hf.looks_like(text):
        return "hf"
    sniffed = csv_reader.sniff_header(text)
    if sniffed is None:
        return "csv"  # the csv reader reports an empty file or a missing header
    header = sniffed[0]
    if wandb.is_chart_export(header):
        return "wandb-chart"
    if "_step" in header:
        return "wandb-history"
    if lightning.looks_like(str(path), header):
        return "lightning"
    return "csv"


def expand(paths: Iterable[PathLike]) -> list[str]:
    """Files and event directories named by ``paths`` (a plain directory gives its CSV and JSON logs)."""
    from scalefit.readers import tensorboard

    out: list[str] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir() and not tensorboard.event_dirs(p):
            found = sorted([*p.glob("*.csv"), *p.glob("trainer_state.json")])
            if not found:
                raise RunFileError("this directory holds no *.csv, trainer_state.json or TensorBoard event files.",
                                   path=str(raw))
            out.extend(str(f) for f in found)
        else:
            out.append(str(raw))
    return out


def read_runs(
    paths: PathLike | Iterable[PathLike],
    *,
    target: str = "loss",
    warmup: int | None = None,
    schedule_file: PathLike | None = None,
    fmt: str = "auto",
    resumed: bool = False,
) -> list[Run]:
    """Read training logs into runs, validating each file fully before building its run.

    Parameters
    ----------
    paths
        Files or directories (see the module docstring). One path may give several runs (a W&B chart export, a
        TensorBoard log directory with several runs).
    target
        The loss column to fit (``loss``, ``val_loss`` or any column name). Aliases apply to ``loss`` and
        ``val_loss`` (``train/loss``, ``eval_loss``, ...).
    warmup
        Number of linear-warmup steps. Sets :attr:`Run.warmup`; when a sparse file starts after step 1, the
        steps before its first row are filled with the warmup ``peak * (s + 1) / warmup`` (then constant) up to the
        first row's LR.
    schedule_file
        A per-step ``step,lr`` CSV (steps 0..T-1) giving the LR of every step; it must cover the last step and
        agree with a logged lr column within 1e-6 (relative).
    fmt
        ``"auto"`` (detect) or one of :data:`FORMATS`.
    resumed
        The log may hold a resumed run appended after its earlier segment(s), or shards saved out of order: each
        step keeps its row from the latest segment that logged it (formats with one metric per row: each step and
        column its last value), the rows go in step order, and a warning names the lines left out. Off by
        default: a step that goes back is then an error, because it may also be two runs logged into one file.

    Returns
    -------
    list of Run
        In the order of ``paths``.

    Raises
    ------
    RunFileError
        The first problem of the first bad file, naming file, line, column, value, rule and fix.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if fmt != "auto" and fmt not in FORMATS:
        raise RunFileError(f"unknown format '{fmt}'. Use one of: auto, {', '.join(FORMATS)}.", column="fmt",
                           value=fmt)
    sched = None if schedule_file is None else str(schedule_file)
    runs: list[Run] = []
    for path in expand(paths):
        runs.extend(_read_one(path, target=target, warmup=warmup, schedule_file=sched, fmt=fmt, resumed=resumed))
    return runs


def read_run(
    path: PathLike,
    *,
    target: str = "loss",
    warmup: int | None = None,
    schedule_file: PathLike | None = None,
    fmt: str = "auto",
    resumed: bool = False,
) -> Run:
    """Read one run (see :func:`read_runs`); a file holding several runs is an error naming them."""
    runs = read_runs([path], target=target, warmup=warmup, schedule_file=schedule_file, fmt=fmt, resumed=resumed)
    if len(runs) != 1:
        names = ", ".join(r.name for r in runs[:5])
        raise RunFileError(f"holds {len(runs)} runs ({names}{', ...' if len(runs) > 5 else ''}); read_run reads "
                           "one. Use read_runs.", path=str(path))
    return runs[0]


def _read_one(path: str, *, target: str, warmup: int | None, schedule_file: str | None, fmt: str,
              resumed: bool = False) -> list[Run]:
    from scalefit.readers import csv as csv_reader
    from scalefit.readers import hf, lightning, tensorboard, wandb

    p = Path(path)
    if fmt == "tensorboard" or (fmt == "auto" and (p.is_dir() or p.name.startswith("events.out.tfevents"))):
        if not p.exists():
            raise RunFileError("not found. Check the path.", path=path)
        return tensorboard.read(p, target=target, warmup=warmup, schedule_file=schedule_file, resumed=resumed)
    text = csv_reader.decode(csv_reader.read_bytes(p), path)
    kind = detect_format(p, text) if fmt == "auto" else fmt
    kw = dict(target=target, warmup=warmup, schedule_file=schedule_file, text=text, resumed=resumed)
    if kind == "hf":
        return hf.read(path, **kw)
    if kind == "wandb-chart":
        return wandb.read_chart(path, **kw)
    if kind == "lightning":
        return lightning.read(path, **kw)
    return csv_reader.read(path, fmt=kind, **kw)


__all__ = ["FORMATS", "detect_format", "expand", "read_run", "read_runs"]
