"""TensorBoard event directories (needs the optional extra: ``pip install 'scalefit-lm[tensorboard]'``).

A directory that directly holds ``events.out.tfevents.*`` files is one run; its scalar tags (``train/loss``,
``lr``, ``learning_rate``, ``val/loss``, ... see the aliases in ``table.ALIASES``) are merged by step. Both classic
``simple_value`` scalars and TF2 scalar tensors are read; other summaries (text, histograms, images) are ignored
with a note, except the Hugging Face Trainer's text summary of its arguments (``args/text_summary``), whose
``warmup_steps``, ``warmup_ratio``, ``max_steps``, ``learning_rate`` and ``lr_scheduler_type`` become metadata.
Several event files in one directory (a resumed run) are read in order by TensorBoard's own loader; two different
values of one tag on one step are an error. Messages name the step (``runs/a: step 1200: ...``); :attr:`Run.line`
holds the 1-based row of the merged table.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from scalefit.errors import RunFileError, require
from scalefit.readers.contract import ReadOptions, build_run
from scalefit.readers.contract import columns as contract_columns
from scalefit.readers.multirun import select
from scalefit.readers.table import Column, Table
from scalefit.runs import Run
from scalefit.wording import listed

EVENT_GLOB = "events.out.tfevents*"


def event_dirs(path: Path) -> list[Path]:
    """Directories under ``path`` (itself included) that directly hold event files, sorted."""
    if path.is_file():
        return [path.parent]
    found = sorted({p.parent for p in path.rglob(EVENT_GLOB) if p.is_file()})
    return found


def read(path: str | Path, opts: ReadOptions) -> list[Run]:
    """One Run per event directory under ``path`` (a directory, or an event file for its directory)."""
    dirs = event_dirs(Path(path))
    if not dirs:
        raise RunFileError(f"no TensorBoard event files ({EVENT_GLOB}) in this directory.", path=str(path))
    keep = select([d.name for d in dirs], opts.runs, opts.seen)
    return [_read_dir(dirs[k], opts) for k in keep]


def _read_dir(d: Path, opts: ReadOptions) -> Run:
    ea = require("tensorboard.backend.event_processing.event_accumulator", "tensorboard",
                 "Reading TensorBoard event files")
    name = str(d)
    acc = ea.EventAccumulator(name, size_guidance={ea.SCALARS: 0, ea.TENSORS: 0})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            acc.Reload()
    except Exception as exc:  # corrupt event files surface as various protobuf / IO errors
        raise RunFileError(f"cannot read the event files ({exc.__class__.__name__}: {str(exc)[:120]}).",
                           path=name) from None
    series, meta, ignored = _series(acc)
    if not series:
        raise RunFileError("the event files hold no scalar tags. Log the loss and the learning rate with "
                           "add_scalar.", path=name)
    all_steps = np.unique(np.concatenate([s for s, _ in series.values()]))  # (n,) sorted union
    columns = [Column.from_values("step", all_steps.astype(np.float64))]
    conflicts: dict[str, str] = {}
    for tag, (steps, values) in series.items():
        out = np.full(all_steps.size, np.nan)
        pos = np.searchsorted(all_steps, steps)
        order = np.argsort(pos, kind="stable")
        pos, vals = pos[order], values[order]
        dup = np.flatnonzero(np.diff(pos) == 0)
        if dup.size and np.any(vals[dup] != vals[dup + 1]):
            j = int(dup[np.flatnonzero(vals[dup] != vals[dup + 1])[0]])
            conflicts[tag] = f"tag '{tag}' has {vals[j]:.6g} and {vals[j + 1]:.6g} at step {int(all_steps[pos[j]])}"
        out[pos] = vals  # the last value of a repeated step
        col = Column.from_values(tag, out)
        col.empty = ~np.isin(np.arange(all_steps.size), pos)
        columns.append(col)
    notes = [f"TensorBoard tags: {', '.join(series)}"]
    if ignored:
        notes.append(f"ignored {len(ignored)} non-scalar summaries ({listed(ignored, 4)})")
    if meta:
        notes.append("metadata from the Trainer's arguments (text summary 'args'): "
                     + ", ".join(f"{k}={v}" for k, v in meta.items()))
    table = Table(path=name, columns=columns, line=np.arange(1, all_steps.size + 1), fmt="tensorboard",
                  header_line=None, meta=meta, notes=notes, has_lines=False,
                  label=lambda i: f"step {int(all_steps[i])}", what="tag")
    used = [c.name for c in contract_columns(table, opts) if c is not None]
    clash = [conflicts[t] for t in used if t in conflicts]
    if clash and not opts.resumed:
        raise RunFileError(f"{clash[0]}; a step may hold one value per tag. Was a resumed run logged twice into this "
                           "directory? Pass --resumed to keep each step's last value, or delete the stale event "
                           "file.", path=name)
    if clash:
        table.warns.append(f"--resumed: {len(clash)} tag(s) hold two values at a step ({clash[0]}); kept the last "
                           "one the event files give")
        notes.append(table.warns[-1])
    others = [t for t in conflicts if t not in used]
    if others:
        notes.append(f"tags logged twice with different values at a step, the last kept: {listed(others, 5)}")
    return build_run(table, opts)


#: Keys of the HF Trainer's arguments kept as metadata, and the name each gets.
_HF_ARGS = {"warmup_steps": "warmup_steps", "warmup_ratio": "warmup_ratio", "max_steps": "max_steps",
            "learning_rate": "peak_lr", "lr_scheduler_type": "schedule", "num_train_epochs": "num_train_epochs",
            "logging_steps": "logging_steps", "per_device_train_batch_size": "train_batch_size", "seed": "seed"}


def _series(acc: Any) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, Any], list[str]]:
    """(scalar series by tag, metadata from an HF arguments text summary, the other tags ignored)."""
    series: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    meta: dict[str, Any] = {}
    ignored: list[str] = []
    tags = acc.Tags()
    for tag in tags.get("scalars", []):
        events = acc.Scalars(tag)
        series[tag] = (np.array([e.step for e in events], dtype=np.int64),
                       np.array([e.value for e in events], dtype=np.float64))
    for tag in tags.get("tensors", []):
        if tag in series:
            continue
        try:
            plugin = acc.SummaryMetadata(tag).plugin_data.plugin_name
            events = acc.Tensors(tag)
            if plugin == "text":
                meta.update(_hf_args(tag, events))
                ignored.append(f"text '{tag}'")
                continue
            from tensorboard.util import tensor_util

            vals = [tensor_util.make_ndarray(e.tensor_proto) for e in events]
            if plugin not in ("scalars", "") or not all(np.size(v) == 1 and v.dtype.kind in "iuf" for v in vals):
                ignored.append(f"{plugin or 'tensor'} '{tag}'")
                continue
            series[tag] = (np.array([e.step for e in events], dtype=np.int64),
                           np.array([float(np.reshape(v, ())) for v in vals], dtype=np.float64))
        except Exception:  # a summary kind this reader does not know: not a scalar curve
            ignored.append(f"'{tag}'")
    for kind in ("histograms", "images", "audio", "distributions", "graph", "meta_graph", "run_metadata"):
        got = tags.get(kind)
        if isinstance(got, list) and got:
            ignored.extend(f"{kind} '{t}'" for t in got)
        elif got is True:
            ignored.append(kind)
    return series, meta, ignored


def _hf_args(tag: str, events: list[Any]) -> dict[str, Any]:
    """Metadata from the HF Trainer's ``args`` text summary (its TrainingArguments as JSON); {} otherwise."""
    if not tag.startswith("args") or not events:
        return {}
    try:
        from tensorboard.util import tensor_util

        value = tensor_util.make_ndarray(events[-1].tensor_proto).reshape(-1)[0]
        args = json.loads(value.decode("utf-8") if isinstance(value, bytes) else str(value))
    except Exception:
        return {}
    if not isinstance(args, dict):
        return {}
    out = {}
    for key, name in _HF_ARGS.items():
        v = args.get(key)
        if isinstance(v, (int, float, str)) and not isinstance(v, bool) and v != "":
            if key == "max_steps" and isinstance(v, (int, float)) and v <= 0:
                continue  # -1: set by epochs
            out[name] = v
    return out
