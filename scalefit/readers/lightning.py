"""PyTorch Lightning ``CSVLogger`` files (``metrics.csv``).

Lightning writes one row per logging call, so a step's LR (``lr-AdamW`` from ``LearningRateMonitor``), training
loss (``train_loss`` or ``train_loss_step``) and validation loss (``val_loss``) often sit on different rows with the
same ``step``. Rows sharing a step are merged (a note counts them); two different values of one column on the same
step are an error. Epoch aggregates (``*_epoch``) are kept as extra columns; test rows after the last logged LR
are left out with a note.
"""

from __future__ import annotations

import re
from pathlib import Path

from scalefit.readers.contract import ReadOptions
from scalefit.readers.multirun import build_runs
from scalefit.readers.source import Source
from scalefit.readers.text import parse_csv
from scalefit.runs import Run

_LR = re.compile(r"^lr-[A-Za-z]+(/pg\d+)?$")

#: Lightning names, tried before the generic aliases.
PREFER = {"loss": ("train_loss_step", "train_loss", "loss_step"), "val_loss": ("val_loss", "val_loss_epoch")}


def looks_like(name: str, header: list[str]) -> bool:
    """``metrics.csv`` with ``step``, or a header with ``epoch`` and Lightning-style columns."""
    lower = [h.lower() for h in header]
    if "step" not in lower:
        return False
    if Path(name).name == "metrics.csv":
        return True
    return "epoch" in lower and any(_LR.match(h) or h.endswith(("_step", "_epoch")) for h in header)


def read(src: Source, opts: ReadOptions) -> list[Run]:
    """Read a Lightning metrics.csv (rows merged by step) into one Run."""
    table = parse_csv(src, fmt="lightning")
    table.merge_steps = True
    lr_cols = tuple(c.name for c in table.columns if _LR.match(c.name))
    table.prefer = {**PREFER, "lr": lr_cols}
    if len(lr_cols) > 1:
        table.notes.append(f"several LR columns ({', '.join(lr_cols)}); using '{lr_cols[0]}'")
    return build_runs(table, opts)
