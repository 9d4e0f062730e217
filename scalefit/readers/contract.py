"""The run-file contract: the checks a table must pass (every problem collected first, then one error naming the
first precisely and counting the others) and the :class:`~scalefit.runs.Run` built from a table that passes.

Rules: steps are whole numbers in ``0 .. MAX_STEPS - 1`` that strictly increase (formats that log one metric per
row: never decrease, rows of one step merged); lr >= 0 and finite; the target > 0 and finite, or empty where it
was not measured. Rows that are not part of the training curve are left out, each kind counted in
:attr:`Run.left_out` and said in a note: entries without a step that log nothing to fit (summaries, predictions),
rows outside the LR's known range (:mod:`scalefit.readers.lr`), a last line cut mid-write
(:mod:`scalefit.readers.text`), rows a resumed segment logged again (:mod:`scalefit.readers.resume`).

Note and warning conventions: every assumption or repair becomes a sentence in :attr:`Run.notes` (no path
prefix). Those that change the numbers the laws see, or that the laws do not model (interpolated or filled LRs,
rows with target values left out, several epochs, an averaged loss), are also emitted as
:class:`~scalefit.errors.AssumptionWarning` with the path in front.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from scalefit.errors import AssumptionWarning, RunFileError
from scalefit.readers import caveats
from scalefit.readers.lr import build_lr
from scalefit.readers.meta import meta_and_extra, stated_warmup, target_unit
from scalefit.readers.resume import merge, rewind
from scalefit.readers.table import (ALIASES, Column, Problem, Table, exact_column, find_column, missing,
                                    raise_problems, target_hint)
from scalefit.runs import MAX_STEPS, Run


@dataclass(frozen=True)
class ReadOptions:
    """How to read runs (see :func:`scalefit.readers.read_runs`)."""

    target: str = "loss"
    warmup: int | None = None
    schedule_file: str | None = None
    schedule: str | None = None  # a schedule spec (--schedule), used like a schedule file
    resumed: bool = False
    min_step: int | None = None
    max_step: int | None = None
    runs: tuple[str, ...] = ()
    seen: set[str] = field(default_factory=set, compare=False)  # run names met while reading (for --run)


def columns(table: Table, opts: ReadOptions) -> tuple[Column, Column | None, Column]:
    """The step, lr and target columns of ``table`` (errors naming what was found when one is missing)."""
    step_col = find_column(table, "step")
    if step_col is None:
        raise missing(table, "step", "The step column may also be named Step, _step, global_step or iter.")
    lr_col = find_column(table, "lr")
    if lr_col is None and opts.schedule_file is None and opts.schedule is None:
        raise missing(table, "lr", "Log the learning rate, or pass the run's schedule: --schedule SPEC (e.g. "
                                   "cosine:peak=6e-4,warmup=2000) or --schedule-file F with the per-step LR "
                                   "(CSV step,lr).")
    target = opts.target
    tgt_col = find_column(table, target) if target in ALIASES else exact_column(table, target)
    if tgt_col is None:
        raise missing(table, target, target_hint(table, {c.name for c in (step_col, lr_col) if c is not None}))
    if tgt_col is step_col or tgt_col is lr_col:
        raise RunFileError(f"--target {target} names the {table.what} '{tgt_col.name}', which is the step or lr. "
                           "Pass the loss column.", path=table.path, line=table.header_line, column=target)
    return step_col, lr_col, tgt_col


def build_run(table: Table, opts: ReadOptions) -> Run:
    """Validate ``table`` against the run-file contract and build the :class:`Run` (see the module docstring)."""
    if table.n == 0:
        raise RunFileError(
            f"no data rows{' after the header' if table.has_lines else ''}. A run file needs one row per logged "
            "step: step,lr,loss.", path=table.path, line=table.header_line)
    w = opts.warmup
    if w is not None and (isinstance(w, bool) or int(w) != w or w < 0):
        raise RunFileError(f"--warmup is {w}; it must be a whole number of steps >= 0. E.g. --warmup 2000.",
                           path=table.path, column="warmup", value=w)
    cols = columns(table, opts)
    table, cols = _stepless(table, cols)
    rewound = None
    if opts.resumed:
        table, cols, rewound = rewind(table, cols)
    step_col, lr_col, tgt_col = cols
    problems = list(table.problems)
    problems += _check_steps(table, step_col)
    if lr_col is not None:
        problems += _check_lr(table, lr_col, opts.schedule_file)
    problems += _check_target(table, tgt_col)
    problems.append(_check_order(table, step_col))
    raise_problems(table, problems)
    if table.merge_steps and np.any(np.diff(step_col.values) == 0):
        table, (step_col, lr_col, tgt_col) = merge(table, (step_col, lr_col, tgt_col))
    if not np.any(~tgt_col.empty):
        used = {step_col.name, tgt_col.name} | ({lr_col.name} if lr_col else set())
        raise RunFileError(f"{table.what} '{tgt_col.name}' is empty on every row ({table.n} rows); nothing to fit. "
                           f"{target_hint(table, used)}", path=table.path, line=table.header_line,
                           column=tgt_col.name)

    steps = step_col.values.astype(np.int64)
    loss = tgt_col.values
    meta, extra = meta_and_extra(table, [c for c in (step_col, lr_col, tgt_col) if c is not None], opts.target)
    meta_w = stated_warmup(meta, table.notes)
    sched = build_lr(table, steps, loss, lr_col, opts.warmup, meta_w, opts.schedule_file, opts.schedule)
    keep = sched.keep
    if not keep.all():
        steps, loss = steps[keep], loss[keep]
        extra = {k: v[keep] for k, v in extra.items()}
    line = table.line[keep].astype(np.int64, copy=False) if not keep.all() else table.line.astype(np.int64)
    run_warmup, warmup_from = _warmup(table, sched, opts.warmup, meta_w)

    epoch = next((c for c in table.columns if c.name.strip().lower() in ("epoch", "epochs", "train/epoch")), None)
    caveats.epochs(table, steps, loss, None if epoch is None else epoch.take(np.flatnonzero(keep)))
    caveats.averaged(table, tgt_col, loss, sched.interval)
    caveats.rounded(table, tgt_col, loss)
    unit = target_unit(tgt_col.name if opts.target in ALIASES else opts.target, meta)
    caveats.unit(table, tgt_col, unit)
    window = _window(table, steps, loss, run_warmup, sched.step0, opts)

    if rewound is not None:
        table.warns.insert(0, rewound)
    for text in dict.fromkeys(table.warns):
        warnings.warn(f"{table.path}: {text}", AssumptionWarning, stacklevel=4)
    return Run(path=table.path, steps=steps, loss=np.asarray(loss, dtype=np.float64), lr=sched.lr,
               step0=int(sched.step0), warmup=run_warmup, line=line, target=opts.target, meta=meta,
               notes=tuple(dict.fromkeys(table.notes)), extra=extra, dense=sched.dense, fmt=table.fmt,
               window=window, target_unit=unit, left_out=dict(table.left_out), warmup_from=warmup_from)


def _warmup(table: Table, sched: Any, warmup: int | None, meta_w: int | None) -> tuple[int, str]:
    """The run's warmup and where it came from; a note names both values when the sources disagree."""
    from scalefit import schedules

    from_lr = int(schedules.detect_warmup(sched.lr)) if sched.step0 == 0 and sched.start != "unknown" else None
    tol = max(sched.interval, 1)

    def disagree(w: int) -> bool:  # the LR runs past both warmups and they differ by more than a logging interval
        return from_lr is not None and abs(from_lr - w) > tol and sched.lr.size > max(from_lr, w) + tol

    if warmup is not None:
        w, source = int(warmup), "option"
        if disagree(w):
            table.notes.append(f"--warmup {w} but the logged LR reaches its peak after {from_lr} steps; --warmup wins")
            table.warns.append(table.notes[-1])
        if meta_w is not None and meta_w != w:
            table.notes.append(f"--warmup {w} but the metadata says warmup_steps {meta_w}; --warmup wins")
        return w, source
    if meta_w is not None:
        if disagree(meta_w):
            table.notes.append(f"the metadata says warmup_steps {meta_w} but the logged LR reaches its peak after "
                               f"{from_lr} steps; the metadata wins")
            table.warns.append(table.notes[-1])
        else:
            table.notes.append(f"warmup {meta_w} steps from metadata warmup_steps")
        return meta_w, "metadata"
    if from_lr is not None:
        how = "inferred" if sched.start == "inferred ramp" else "detected"
        table.notes.append(f"warmup {from_lr} steps {how} from the LR (steps up to its first peak)")
        return from_lr, "lr"
    table.notes.append("warmup unknown (the LR before the first row is unknown); set to 0")
    return 0, "unknown"


def _window(table: Table, steps: np.ndarray, loss: np.ndarray, warmup: int, step0: int,
            opts: ReadOptions) -> tuple[int | None, int | None]:
    """The fit window (inclusive steps; None is open): the options', else the default (see ``caveats``)."""
    lo, hi = opts.min_step, opts.max_step
    if lo is None and hi is None:
        return caveats.default_window(table, steps, loss, warmup, step0)
    inside = np.isfinite(loss) & (steps >= (lo if lo is not None else -1)) & (steps <= (hi if hi is not None
                                                                                            else steps[-1]))
    if not inside.any():
        obs = steps[np.isfinite(loss)]
        raise RunFileError(f"the fit window steps {lo if lo is not None else ''}..{hi if hi is not None else ''} "
                           f"holds no observed values of this run (they lie at steps {int(obs[0])}..{int(obs[-1])}). "
                           "Widen --min-step / --max-step.", path=table.path, column="step")
    a = lo if lo is not None else int(steps[0])
    b = hi if hi is not None else int(steps[-1])
    table.notes.append(f"fit window: steps {a}..{b} ({int(inside.sum())} of {int(np.isfinite(loss).sum())} observed "
                       "rows)")
    return lo, hi


def _stepless(table: Table, cols: tuple[Column, Column | None, Column]):
    """Leave out entries with no step that log nothing to fit: summaries, predictions (every such entry in
    formats without lines; in text formats only those with neither an LR nor a target value)."""
    step_col, lr_col, tgt_col = cols
    nothing = step_col.empty & tgt_col.empty & (lr_col.empty if lr_col is not None else True)
    drop = step_col.empty if not table.has_lines else nothing
    if not drop.any():
        return table, cols
    idx = np.flatnonzero(drop)
    note = (f"left out {idx.size} {'entry' if idx.size == 1 else 'entries'} without a step ({table.lines_text(idx)})"
            + ("" if not (~nothing[idx]).any() else f", {int((~nothing[idx]).sum())} of them with a value") +
            ": summaries or predictions, not rows of the curve")
    pos = [next(k for k, c in enumerate(table.columns) if c is col) if col is not None else None for col in cols]
    new = table.leave_out(drop, "without a step", note, warn=bool((~nothing[idx]).any()))
    return new, tuple(None if k is None else new.columns[k] for k in pos)


def _text_rule(table: Table, col: Column) -> Callable[[int], str]:
    def say(i: int) -> str:
        hint = " Use '.' as the decimal mark." if "," in col.cell(i) else " Fix or delete that cell."
        return f"{table.what} '{col.name}' is {col.show(i)}; expected a number.{hint}"
    return say


def _check_steps(table: Table, col: Column) -> list[Problem]:
    v, name, show, w = col.values, col.name, col.show, table.what
    num = ~col.empty & ~col.text
    fin = num & np.isfinite(v)
    return [
        Problem(np.flatnonzero(col.empty), name, show,
                lambda i: f"{w} '{name}' is empty; every row needs its step. Fill it in or delete the row."),
        Problem(np.flatnonzero(col.text), name, show, _text_rule(table, col)),
        Problem(np.flatnonzero(num & ~np.isfinite(v)), name, show,
                lambda i: f"{w} '{name}' is {show(i)}; steps must be finite whole numbers. Fix or delete that row."),
        Problem(np.flatnonzero(fin & (v != np.round(v))), name, show,
                lambda i: f"{w} '{name}' is {show(i)}; steps must be whole numbers (optimizer steps). Log the "
                          "integer step, not an epoch fraction."),
        Problem(np.flatnonzero(fin & (v < 0)), name, show,
                lambda i: f"{w} '{name}' is {show(i)}; steps must be >= 0. Fix or delete that row."),
        Problem(np.flatnonzero(fin & (v >= MAX_STEPS) & (v == np.round(v))), name, show,
                lambda i: f"{w} '{name}' is {show(i)}; scalefit keeps the LR of every step and reads at most "
                          f"{MAX_STEPS:,} steps. Steps this large look like tokens or samples: log the optimizer "
                          "step (tokens / tokens per step)."),
    ]


def _check_order(table: Table, col: Column) -> Problem:
    """Steps strictly increase (merging formats: never decrease), compared between rows with valid steps."""
    v = col.values
    valid = ~col.empty & ~col.text & np.isfinite(v) & (v == np.round(v))
    if valid.all():  # the common case, without index arrays (a large log's memory)
        d = np.diff(v)
        hit = (d < 0) if table.merge_steps else (d <= 0)
        del d
        rows = np.flatnonzero(hit) + 1
        prev = rows - 1
        vals = v
    else:
        ok = np.flatnonzero(valid)
        vals = v[ok]
        d = np.diff(vals)
        hit = (d < 0) if table.merge_steps else (d <= 0)
        rows, prev = ok[1:][hit], ok[:-1][hit]
    prev_of = dict(zip(rows[:1000].tolist(), prev[:1000].tolist()))
    name = col.name
    reordered = rows.size and not table.merge_steps and np.unique(vals).size == vals.size
    resumed = "Was a resumed run appended to its earlier segment? Then pass --resumed to keep the later rows."
    fix = ("No step repeats, so the rows are only out of order (segments of a resumed run saved in the wrong "
           "order?): sort the file by step, or pass --resumed to read it in step order." if reordered else resumed)

    def say(i: int) -> str:
        j = prev_of[i]
        if v[i] == v[j]:
            return (f"'{name}' {col.show(i)} repeats the step of {table.lines_text(np.array([j]))}; steps must "
                    f"strictly increase. {resumed}")
        return f"'{name}' goes {col.show(j)} -> {col.show(i)}; steps must strictly increase. {fix}"
    return Problem(rows, name, col.show, say)


def _check_lr(table: Table, col: Column, schedule_file: str | None) -> list[Problem]:
    v, name, show, w = col.values, col.name, col.show, table.what
    fix = "Fix the log, or pass --schedule-file." if schedule_file is None else "Fix the log."
    num = ~col.empty & ~col.text
    return [
        Problem(np.flatnonzero(col.text), name, show, _text_rule(table, col)),
        Problem(np.flatnonzero(num & ~np.isfinite(v)), name, show,
                lambda i: f"{w} '{name}' is {show(i)}; learning rates must be finite. {fix}"),
        Problem(np.flatnonzero(num & np.isfinite(v) & (v < 0)), name, show,
                lambda i: f"{w} '{name}' is {show(i)}; learning rates must be >= 0. {fix}"),
    ]


def _check_target(table: Table, col: Column) -> list[Problem]:
    v, name, show, w = col.values, col.name, col.show, table.what
    num = ~col.empty & ~col.text
    return [
        Problem(np.flatnonzero(col.text), name, show, _text_rule(table, col)),
        Problem(np.flatnonzero(num & ~np.isfinite(v)), name, show,
                lambda i: f"{w} '{name}' is {show(i)}; losses must be finite. Leave the cell empty where the loss "
                          "was not measured (a diverged run: cut the file before it diverged)."),
        Problem(np.flatnonzero(num & np.isfinite(v) & (v <= 0)), name, show,
                lambda i: f"{w} '{name}' is {show(i)}; losses must be > 0 (cross-entropy in nats). Check that "
                          "this column is a loss, or pass --target with the right column."),
    ]
