"""TensorBoard event directories (needs the optional extra: ``pip install 'scalefit-lm[tensorboard]'``).

A directory that directly holds ``events.out.tfevents.*`` files is one run; its scalar tags (``train/loss``,
``lr``, ``learning_rate``, ``val/loss``, ... see the aliases in ``_core.ALIASES``) are merged by step. Both classic
``simple_value`` scalars and TF2 scalar tensors are read. Several event files in one directory (a resumed run)
are read in order by TensorBoard's own loader; two different values of one tag on one step are an error.
Messages name the step (``runs/a: step 1200: ...``); :attr:`Run.line` holds the 1-based row of the merged table.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from scalefit.errors import AssumptionWarning, RunFileError, require
from scalefit.readers._core import Column, Table, build_run
from scalefit.runs import Run

EVENT_GLOB = "events.out.tfevents*"


def event_dirs(path: Path) -> list[Path]:
    """Directories under ``path`` (itself included) that directly hold event files, sorted."""
    if path.is_file():
        return [path.parent]
    found = sorted({p.parent for p in path.rglob(EVENT_GLOB) if p.is_file()})
    return found


def read(path: str | Path, *, target: str = "loss", warmup: int | None = None,
         schedule_file: str | None = None, resumed: bool = False) -> list[Run]:
    """One Run per event directory under ``path`` (a directory, or an event file for its directory)."""
    dirs = event_dirs(Path(path))
    if not dirs:
        raise RunFileError(f"no TensorBoard event files ({EVENT_GLOB}) in this directory.", path=str(path))
    return [_read_dir(d, target=target, warmup=warmup, schedule_file=schedule_file, resumed=resumed) for d in dirs]


def _read_dir(d: Path, *, target: str, warmup: int | None, schedule_file: str | None, resumed: bool = False) -> Run:
    ea = require("tensorboard.backend.event_processing.event_accumulator", "tensorboard",
                 "Reading TensorBoard event files")
    name = str(d)
    acc = ea.EventAccumulator(name, size_guidance={ea.SCALARS: 0, ea.TENSORS: 0})
    try:
        acc.Reload()
    except Exception as exc:  # corrupt event files surface as various protobuf / IO errors
        raise RunFileError(f"cannot read the event files ({exc.__class__.__name__}: {exc}).", path=name) from None
    series: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    tags = acc.Tags()
    for tag in tags.get("scalars", []):
        events = acc.Scalars(tag)
        series[tag] = (np.array([e.step for e in events], dtype=np.int64),
                       np.array([e.value for e in events], dtype=np.float64))
    if tags.get("tensors"):
        from tensorboard.util import tensor_util

        for tag in tags["tensors"]:
            if tag in series:
                continue
            events = acc.Tensors(tag)
            vals = [tensor_util.make_ndarray(e.tensor_proto) for e in events]
            if not all(np.size(v) == 1 for v in vals):
                continue  # not a scalar (histograms, text)
            series[tag] = (np.array([e.step for e in events], dtype=np.int64),
                           np.array([float(np.reshape(v, ())) for v in vals], dtype=np.float64))
    if not series:
        raise RunFileError("the event files hold no scalar tags. Log the loss and the learning rate with "
                           "add_scalar.", path=name)
    all_steps = np.unique(np.concatenate([s for s, _ in series.values()]))  # (n,) sorted union
    columns = [Column.from_values("step", all_steps.astype(np.float64))]
    conflicts: list[str] = []
    for tag, (steps, values) in series.items():
        out = np.full(all_steps.size, np.nan)
        pos = np.searchsorted(all_steps, steps)
        order = np.argsort(pos, kind="stable")
        pos, vals = pos[order], values[order]
        dup = np.flatnonzero(np.diff(pos) == 0)
        if dup.size and np.any(vals[dup] != vals[dup + 1]):
            j = int(dup[np.flatnonzero(vals[dup] != vals[dup + 1])[0]])
            conflicts.append(f"tag '{tag}' has {vals[j]:.6g} and {vals[j + 1]:.6g} at step {int(all_steps[pos[j]])}")
        out[pos] = vals  # the last value of a repeated step
        col = Column.from_values(tag, out)
        col.empty = ~np.isin(np.arange(all_steps.size), pos)
        columns.append(col)
    notes = [f"TensorBoard tags: {', '.join(series)}"]
    if conflicts and not resumed:
        raise RunFileError(f"{conflicts[0]}; a step may hold one value per tag. Was a resumed run logged twice "
                           "into this directory? Pass --resumed to keep each step's last value, or delete the "
                           "stale event file.", path=name)
    if conflicts:
        text = (f"--resumed: {len(conflicts)} tag(s) hold two values at a step ({conflicts[0]}); kept the last "
                "one the event files give")
        notes.append(text)
        warnings.warn(f"{name}: {text}", AssumptionWarning, stacklevel=3)
    table = Table(path=name, columns=columns, line=np.arange(1, all_steps.size + 1), fmt="tensorboard",
                  header_line=None, notes=notes, has_lines=False,
                  label=lambda i: f"step {int(all_steps[i])}", what="tag")
    return build_run(table, target=target, warmup=warmup, schedule_file=schedule_file, resumed=resumed)
