"""The :class:`Run` type: one training run as the laws see it.

A run is a dense per-step learning-rate array plus loss observations at some of those steps. Readers
(``scalefit/readers/``) validate files and build runs; they never drop a row silently and record every
assumption they make in :attr:`Run.notes`.

Indexing convention
-------------------
``lr[i]`` is the learning rate of optimizer step ``step0 + i``; it covers every step from ``step0`` to the
last row's step, inclusive. The loss observed on a row with step ``s`` sits at ``lr`` index ``s - step0``
(:attr:`Run.index`). ``step0`` is 0 when the schedule is known from the start (a file that starts at step 0, a
warmup stated or inferred, ``--warmup`` / ``--schedule-file``), otherwise the first logged step, and the curve
laws refuse the run.

Which rows a fit uses
---------------------
:attr:`Run.fit_mask` = observed, after the warmup (:attr:`Run.after_warmup`) and inside the fit window
(:attr:`Run.in_window`). The window (``--min-step`` / ``--max-step``, or a default that leaves out an initial
transient) selects rows only: the LR history the laws integrate is the whole of :attr:`Run.lr` either way.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

#: The most steps a run's per-step LR array may cover (80 MB of float64): steps beyond it are refused by the
#: readers with a one-line error, since a log whose "steps" are tokens or samples would otherwise ask for
#: gigabytes (a 7 KB file whose last step is 3e8 asked for 6.9 GB).
MAX_STEPS = 10_000_000

#: What a target can measure (:attr:`Run.target_unit`).
TARGET_UNITS = ("nats", "bits", "perplexity", "WER", "unknown")


@dataclass(frozen=True, eq=False)
class Run:
    """One training run: a dense LR schedule and the observed loss.

    Attributes
    ----------
    path : str
        The file the run came from, as the user gave it (used in every message).
    steps : ndarray of int64, shape (n,)
        Step of each row, strictly increasing.
    loss : ndarray of float64, shape (n,)
        The target column (``target``) on each row; NaN where it was not measured.
    lr : ndarray of float64, shape (T,)
        Learning rate of every step from ``step0`` to ``steps[-1]``.
    step0 : int
        The step of ``lr[0]``.
    warmup : int
        Number of warmup steps at the start of ``lr`` (0 if none): from metadata ``warmup_steps``, from
        ``--warmup``, or detected as the steps before the LR first reaches its peak (that step included).
    line : ndarray of int64, shape (n,)
        1-based file line of each row, for messages.
    target : str
        Name of the column used as loss.
    meta : dict
        Constant metadata (``params``, ``batch_size``, ``seq_len``, ``tokens_per_step``, ``peak_lr``, ...).
    notes : tuple of str
        Every assumption or repair the reader made, in words.
    extra : dict of str to ndarray, shape (n,)
        Other numeric columns (``val_loss``, ``tokens``, ``grad_norm``, ...), kept but ignored by the laws.
    dense : bool
        True when the file has a row for every step.
    fmt : str
        The format the run was read from (``csv``, ``hf``, ``lightning``, ``tensorboard``, ``wandb-chart``, ...).
    window : tuple of (int or None, int or None)
        The fit window, inclusive steps (None: open). Rows outside it are kept, shown and predicted, but not
        fitted (:attr:`fit_mask`).
    target_unit : str
        What the target measures, one of :data:`TARGET_UNITS`: stated in the metadata (``loss_unit``), read from
        the column's name (``ppl``, ``bpb``, ``wer``), or nats for a loss written by scalefit's trainer; else
        'unknown'. Plots label the y-axis with :attr:`target_label`.
    left_out : dict of str to int
        Rows of the file left out of the run, counted by reason (the notes say which lines).
    warmup_from : str
        Where :attr:`warmup` came from: 'option' (``--warmup``), 'metadata', 'lr' (the logged or inferred LR),
        'unknown' (0 because the LR before the first row is unknown), or '' for runs not built by a reader.
    """

    path: str
    steps: np.ndarray
    loss: np.ndarray
    lr: np.ndarray
    step0: int
    warmup: int
    line: np.ndarray
    target: str = "loss"
    meta: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    dense: bool = True
    fmt: str = "csv"
    window: tuple[int | None, int | None] = (None, None)
    target_unit: str = "unknown"
    left_out: dict[str, int] = field(default_factory=dict)
    warmup_from: str = ""

    @property
    def name(self) -> str:
        """Short name of the run: the file stem (the W&B run name for chart exports)."""
        return str(self.meta.get("run_name") or Path(self.path).stem)

    @property
    def index(self) -> np.ndarray:
        """Index into :attr:`lr` of each row, shape (n,)."""
        return self.steps - self.step0

    @property
    def observed(self) -> np.ndarray:
        """Mask of rows where the target was measured, shape (n,)."""
        return np.isfinite(self.loss)

    @property
    def after_warmup(self) -> np.ndarray:
        """Mask of observed rows after the warmup, shape (n,): the rows the curve laws describe, fit and score.

        Both papers describe the loss after warmup (MPL: t = 1 is the first step after it); inside the warmup
        the laws' S1 is near zero and their prediction is not meaningful.
        """
        return self.observed & (self.index >= self.warmup)

    @property
    def in_window(self) -> np.ndarray:
        """Mask of rows inside the fit window :attr:`window`, shape (n,)."""
        lo, hi = self.window
        mask = np.ones(self.steps.shape, dtype=bool)
        if lo is not None:
            mask &= self.steps >= lo
        if hi is not None:
            mask &= self.steps <= hi
        return mask

    @property
    def fit_mask(self) -> np.ndarray:
        """Mask of the rows a fit uses, shape (n,): observed, after the warmup, inside the fit window."""
        return self.after_warmup & self.in_window

    @property
    def target_label(self) -> str:
        """The y-axis label of the target: its name, with the unit when known (``val_loss (nats)``)."""
        unit = {"nats": "nats", "bits": "bits"}.get(self.target_unit)
        return f"{self.target} ({unit})" if unit else self.target

    @property
    def n_left_out(self) -> int:
        """Number of rows of the file left out of the run (:attr:`left_out`)."""
        return int(sum(self.left_out.values()))

    @property
    def irreducible_loss(self) -> float | None:
        """The data's known loss floor stated in the metadata (:func:`stated_floor`), or None."""
        return stated_floor(self.meta)

    @property
    def n_steps(self) -> int:
        """Number of steps the LR array covers."""
        return int(self.lr.shape[0])

    def __repr__(self) -> str:
        return (
            f"Run({self.path!r}, rows={self.steps.size}, steps={int(self.steps[0])}..{int(self.steps[-1])}, "
            f"target={self.target!r}, observed={int(self.observed.sum())}, warmup={self.warmup}"
            + (f", window={self.window}" if self.window != (None, None) else "") + ")"
        )


def unique_labels(runs: Sequence[Run]) -> list[str]:
    """A label per run, unique within ``runs``: its path, then ``path#2``, ``path#3``, ... for further runs of one
    file (a W&B chart, a run column, restarts). The one helper for keys of per-run results (metrics, folds)."""
    seen: dict[str, int] = {}
    out = []
    for r in runs:
        seen[r.path] = seen.get(r.path, 0) + 1
        out.append(r.path if seen[r.path] == 1 else f"{r.path}#{seen[r.path]}")
    return out


def stated_floor(meta: Mapping[str, Any]) -> float | None:
    """The data's known loss floor from a run's ``irreducible_loss`` metadata (``scalefit train`` records it for
    its synthetic source); None when the metadata state no finite number."""
    f = meta.get("irreducible_loss")
    if isinstance(f, numbers.Real) and not isinstance(f, bool) and math.isfinite(f):
        return float(f)
    return None
