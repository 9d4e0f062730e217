"""Hugging Face ``Trainer`` state files (``trainer_state.json``, saved in every checkpoint folder).

``log_history`` is a list of dicts. Training rows carry ``loss``, ``learning_rate``, ``step`` (and ``epoch``,
``grad_norm``); evaluation rows carry ``eval_loss`` (read as ``val_loss``, so ``--target val_loss`` fits it) and
other ``eval_*`` metrics; the final summary row (``train_runtime``, ``train_loss``, ...) is skipped with a note.
Rows sharing a step (a training and an evaluation row) are merged. Messages name the row as
``trainer_state.json: log_history[12]: ...``; :attr:`Run.line` holds that index.

The state's ``max_steps``, ``logging_steps``, ``eval_steps``, ``train_batch_size`` (per device) and
``num_train_epochs`` go to :attr:`Run.meta` under those names.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from scalefit.errors import RunFileError
from scalefit.readers._core import Column, Table, build_run
from scalefit.readers.csv import decode, read_bytes
from scalefit.runs import Run

_SUMMARY_KEYS = ("train_runtime", "train_samples_per_second", "total_flos")
_STATE_META = ("max_steps", "logging_steps", "eval_steps", "train_batch_size", "num_train_epochs")
_RENAME = {"learning_rate": "lr", "eval_loss": "val_loss"}


def looks_like(text: str) -> bool:
    """A JSON object with a ``log_history`` key."""
    return text.lstrip().startswith("{") and '"log_history"' in text


def read(path: str | Path, *, target: str = "loss", warmup: int | None = None,
         schedule_file: str | None = None, text: str | None = None, resumed: bool = False) -> list[Run]:
    """Read a trainer_state.json into one Run."""
    name = str(path)
    if text is None:
        text = decode(read_bytes(path), name)
    try:
        state = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RunFileError(f"not valid JSON ({exc.msg}, column {exc.colno}). Give the trainer_state.json that "
                           "the Trainer saved, unedited.", path=name, line=exc.lineno) from None
    if not isinstance(state, dict) or not isinstance(state.get("log_history"), list):
        raise RunFileError("no 'log_history' list; this is not a Hugging Face trainer_state.json.", path=name)
    history: list[Any] = state["log_history"]
    keep: list[int] = []
    skipped: list[int] = []
    keys: dict[str, None] = {}
    for k, row in enumerate(history):
        if not isinstance(row, dict):
            raise RunFileError(f"log_history[{k}]: is {type(row).__name__}, expected an object of metrics. "
                               "Give the unedited trainer_state.json.", path=name, column="log_history", value=row)
        if any(key in row for key in _SUMMARY_KEYS):
            skipped.append(k)
            continue
        keep.append(k)
        for key in row:
            keys.setdefault(key, None)
    columns: list[Column] = []
    for key in keys:
        vals = np.full(len(keep), np.nan)
        empty = np.ones(len(keep), dtype=bool)
        text_mask = np.zeros(len(keep), dtype=bool)
        raw = np.full(len(keep), "", dtype=object)
        for j, k in enumerate(keep):
            if key not in history[k] or history[k][key] is None:
                continue
            v = history[k][key]
            empty[j] = False
            raw[j] = json.dumps(v)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                text_mask[j] = True
            else:
                vals[j] = float(v) if not (isinstance(v, float) and math.isnan(v)) else np.nan
        col = Column(_RENAME.get(key, key), vals, empty, text_mask, raw.astype(str))
        col.name = key  # messages use the file's key; aliases map learning_rate -> lr, eval_loss -> val_loss
        columns.append(col)
    keep_arr = np.asarray(keep, dtype=np.int64)
    notes = []
    if skipped:
        notes.append(f"skipped {len(skipped)} summary rows of log_history "
                     f"({', '.join(f'[{k}]' for k in skipped[:3])}{', ...' if len(skipped) > 3 else ''}: "
                     "train_runtime, ...)")
    meta = {k: state[k] for k in _STATE_META if isinstance(state.get(k), (int, float))}
    table = Table(path=name, columns=columns, line=keep_arr, fmt="hf", header_line=None, meta=meta, notes=notes,
                  has_lines=False, label=lambda i: f"log_history[{int(keep_arr[i])}]", merge_steps=True,
                  what="key")
    return [build_run(table, target=target, warmup=warmup, schedule_file=schedule_file, resumed=resumed)]
