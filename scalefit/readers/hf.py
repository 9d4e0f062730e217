"""Hugging Face ``Trainer`` state files (``trainer_state.json``, saved in every checkpoint folder).

``log_history`` is a list of dicts. Training rows carry ``loss``, ``learning_rate``, ``step`` (and ``epoch``,
``grad_norm``); evaluation rows carry ``eval_loss`` (read as ``val_loss``, so ``--target val_loss`` fits it) and
other ``eval_*`` metrics. Rows sharing a step (a training and an evaluation row) are merged. Left out, each
counted in a note: the final summary entry (``train_runtime``, ``train_loss``, ...), entries without a step
(``predict_*``), and rows after the last logged LR (a final evaluation or test). Messages name the entry as
``trainer_state.json: log_history[12]: ...``; :attr:`Run.line` holds that index.

The state's ``max_steps``, ``logging_steps``, ``eval_steps``, ``train_batch_size`` (per device) and
``num_train_epochs`` go to :attr:`Run.meta` under those names. HF's ``loss`` is the mean over each logging
interval, rounded to 4 decimals: a warning says so.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from scalefit.errors import RunFileError
from scalefit.readers import records
from scalefit.readers.contract import ReadOptions
from scalefit.readers.multirun import build_runs
from scalefit.readers.source import Source
from scalefit.readers.table import Table
from scalefit.runs import Run

_SUMMARY_KEYS = ("train_runtime", "train_samples_per_second", "total_flos")
_STATE_META = ("max_steps", "logging_steps", "eval_steps", "train_batch_size", "num_train_epochs")


def looks_like(text: str) -> bool:
    """A JSON object with a ``log_history`` key."""
    return text.lstrip().startswith("{") and '"log_history"' in text


def load_json(text: str, path: str, what: str) -> Any:
    """``json.loads`` with every failure as one line naming the file (and the line for a syntax error)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RunFileError(f"not valid JSON ({exc.msg}, column {exc.colno}). Give the {what} unedited.", path=path,
                           line=exc.lineno) from None
    except (ValueError, RecursionError) as exc:  # a 5,000-digit integer, nesting too deep
        raise RunFileError(f"cannot read this JSON ({str(exc).split(';')[0][:80]}). Give the {what} unedited.",
                           path=path) from None


def read(src: Source, opts: ReadOptions) -> list[Run]:
    """Read a trainer_state.json into one Run."""
    path = src.path
    state = load_json(src.text(), path, "trainer_state.json the Trainer saved")
    if not isinstance(state, dict) or not isinstance(state.get("log_history"), list):
        raise RunFileError("no 'log_history' list; this is not a Hugging Face trainer_state.json.", path=path)
    history: list[Any] = state["log_history"]
    keep: list[int] = []
    skipped: list[int] = []
    for k, row in enumerate(history):
        if not isinstance(row, dict):
            raise RunFileError(f"log_history[{k}]: is {type(row).__name__}, expected an object of metrics. "
                               "Give the unedited trainer_state.json.", path=path, column="log_history",
                               value=str(row)[:40])
        if any(key in row for key in _SUMMARY_KEYS):
            skipped.append(k)
        else:
            keep.append(k)
    cols = records.columns([records.flatten(history[k]) for k in keep])
    keep_arr = np.asarray(keep, dtype=np.int64)
    notes: list[str] = []
    left: dict[str, int] = {}
    if skipped:
        shown = ", ".join(f"[{k}]" for k in skipped[:3]) + (", ..." if len(skipped) > 3 else "")
        notes.append(f"left out {len(skipped)} summary {'entry' if len(skipped) == 1 else 'entries'} of log_history "
                     f"({shown}: train_runtime, ...)")
        left["summary entries"] = len(skipped)
    meta = {k: state[k] for k in _STATE_META if records.number(state.get(k)) is not None}
    table = Table(path=path, columns=cols, line=keep_arr, fmt="hf", header_line=None, meta=meta, notes=notes,
                  has_lines=False, label=lambda i: f"log_history[{int(keep_arr[i])}]", merge_steps=True,
                  prefer={"lr": ("learning_rate",), "val_loss": ("eval_loss",)}, what="key", left_out=left)
    if not keep:
        raise RunFileError("log_history holds no training entries (only summaries). Give the trainer_state.json of "
                           "a run that logged its loss.", path=path, column="log_history")
    return build_runs(table, opts)
