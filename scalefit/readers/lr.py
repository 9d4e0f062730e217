"""The per-step learning rate of a run, from its logged LR rows: where it starts, how gaps are filled, and which
rows lie outside what the file tells.

Where the LR array starts (``Run.step0``); the laws need it from step 0
---------------------------------------------------------------------
- A logged LR at step 0: ``step0 = 0``.
- ``--warmup W`` (or metadata ``warmup_steps``): steps before the first logged LR get a linear warmup of W steps,
  ``peak * min(s + 1, W) / W`` with ``peak`` chosen so the ramp meets the first logged LR; ``W = 0`` means no
  warmup: those steps keep the first logged LR.
- The logged LR rises from its first row (a warmup logged every k steps) and starts within one logging interval
  of step 0, or the line through its first rows reaches 0 within one interval of step 0: a linear warmup from 0
  at step 0 is inferred, said in a note and a warning.
- The log starts within its first logging interval (a dense log at step 1, the HF / Lightning convention that
  step 1 is the first optimizer step; a sparse log whose first row is at its interval) and its LR does not rise:
  the steps before it keep the first logged LR.
- Otherwise the LR before the first row is unknown: ``step0`` is the first logged step, a warning says what to
  pass (``--warmup`` or ``--schedule-file``), and the fitter refuses the run until then.
Between logged rows the LR is interpolated linearly (exact for a linear schedule). Rows after the last logged LR
are the rows of a final evaluation or test: those within one logging interval keep a run's end (the LR
extrapolated along its last two rows, never rising), later ones are left out with a note.

``--schedule-file F`` or ``--schedule SPEC`` (a spec such as ``cosine:peak=6e-4,warmup=2000``, whose ``total``
defaults to the run's last step + 1): ``step0 = 0`` and every step's LR comes from it; it must cover the last row
and agree with a logged lr column within :data:`SCHEDULE_RTOL` (relative), else an error names the first
disagreeing row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scalefit.errors import RunFileError
from scalefit.readers.table import Column, Table

#: Relative tolerance between a logged lr column and a --schedule-file.
SCHEDULE_RTOL = 1e-6


@dataclass
class Schedule:
    """The LR array of a run and how it was made."""

    lr: np.ndarray  # (T,) LR of steps step0 .. step0 + T - 1
    step0: int
    dense: bool
    keep: np.ndarray  # (n,) rows inside the LR's known range
    start: str  # how the steps before the first logged LR were filled: 'logged', 'option', 'metadata',
    #             'inferred ramp', 'first interval', 'unknown', 'schedule file'
    interval: int  # typical number of steps between logged LRs (1 for a dense log)


def build_lr(table: Table, steps: np.ndarray, loss: np.ndarray, lr_col: Column | None, warmup: int | None,
             meta_warmup: int | None, schedule_file: str | None, schedule: str | None = None) -> Schedule:
    """The per-step LR of the rows ``steps`` (sorted, unique); appends notes and warning texts to ``table``.
    ``schedule`` is a spec string (``--schedule``), used like a schedule file."""
    if schedule_file is not None or schedule is not None:
        lr = _from_schedule(table, steps, lr_col, schedule_file, schedule)
        gaps = np.diff(steps)
        return Schedule(lr, 0, bool(steps[0] == 0 and np.all(gaps == 1)), np.ones(steps.size, dtype=bool),
                        "schedule file", 1)
    assert lr_col is not None
    known = ~lr_col.empty
    if known.all():  # no copies for a log with an LR on every row
        ks, kv = steps, lr_col.values  # (m,) steps and LRs of the rows that log one
    else:
        ks, kv = steps[known], lr_col.values[known]
    if ks.size == 0:
        raise RunFileError(f"{table.what} '{lr_col.name}' is empty on every row. Log the learning rate, or pass "
                           "--schedule-file F with the per-step LR.", path=table.path, line=table.header_line,
                           column=lr_col.name)
    k0 = int(ks[0])
    interval = int(np.median(np.diff(ks))) if ks.size > 1 else 0
    keep = np.ones(steps.size, dtype=bool)
    step0, start, fill = _start(table, ks, kv, interval, warmup, meta_warmup)
    if step0 > 0:
        before = steps < step0
        _leave(table, keep, before, loss, f"before the first logged LR (step {step0}), where the LR is unknown",
               "before the LR is known")

    # rows after the last logged LR: a final eval / test, left out; a target value within one logging interval of
    # it is the run's end, kept with the LR extrapolated
    klast = int(ks[-1])
    has = np.isfinite(loss)
    reach = klast + max(interval, 1) if ks.size > 1 else klast
    _leave(table, keep, (steps > klast) & ~(has & (steps <= reach)), loss,
           f"after the last logged LR (step {klast}): final evaluation or test rows, whose LR is unknown",
           "after the last logged LR")
    # rows that log neither the LR nor the target: other metrics at their own steps (an evaluation's batch index)
    _leave(table, keep, lr_col.empty & ~has, loss, "that log neither the LR nor the target (other metrics at their "
                                                   "own steps)", "neither LR nor target")
    if not (keep & has).any():
        raise RunFileError(
            f"no row with a target value lies where the LR is known (steps {step0}..{reach}). Pass "
            "--schedule-file F with the per-step LR, or --warmup W when the LR before the first row is a warmup.",
            path=table.path, line=table.header_line, column=lr_col.name)
    last = int(steps[np.flatnonzero(keep)[-1]])
    lr = _per_step(ks, kv, step0, last)  # (T,) exact at the rows, linear between them
    if fill is not None:
        lead = np.arange(step0, k0, dtype=np.int64)
        lr[: lead.size] = fill(lead)
    if last > klast:
        after = np.arange(klast + 1, last + 1)
        slope = (kv[-1] - kv[-2]) / (ks[-1] - ks[-2]) if ks.size > 1 else 0.0
        lr[after - step0] = np.clip(kv[-1] + min(slope, 0.0) * (after - klast), 0.0, kv[-1])
        rows = np.flatnonzero(keep & (steps > klast))
        _say(table, f"LR of steps {klast + 1}..{last} (after the last logged LR, within one logging interval) "
                    f"extrapolated along the last two logged LRs, for {rows.size} row(s) with a target value "
                    f"({table.lines_text(rows)})", warn=True)
    missing = np.flatnonzero(lr_col.empty & keep & (steps > k0) & (steps < klast))
    if missing.size:
        _say(table, f"LR missing on {missing.size} rows with a target value ({table.lines_text(missing)}); "
                    "interpolated linearly from the neighbouring rows", warn=True)
    kept = steps if keep.all() else steps[keep]
    rows_dense = kept.size < 2 or int(np.diff(kept).max()) <= 1
    lr_gaps = np.diff(ks)
    if not rows_dense and lr_gaps.size and lr_gaps.max() > 1:  # (dense rows with missing cells: said above)
        at = int(np.argmax(lr_gaps)) + 1
        row = at if known.all() else int(np.flatnonzero(known)[at])
        _say(table, f"LR interpolated between rows; largest gap {int(lr_gaps.max())} steps at "
                    f"{table.lines_text(np.array([row]))}", warn=True)
    del lr_gaps
    first = int(kept[0])
    dense = bool(rows_dense and not missing.size and (first == step0 or (first == 1 and step0 == 0)))
    return Schedule(lr, step0, dense, keep, start, max(interval, 1))


def _per_step(ks: np.ndarray, kv: np.ndarray, step0: int, last: int) -> np.ndarray:
    """The LR of every step ``step0 .. last``: the logged values, linear between them, flat outside."""
    if ks[0] == step0 and ks[-1] == last and ks.size == last - step0 + 1:
        return np.array(kv, dtype=np.float64)  # a row every step: nothing to interpolate
    return np.interp(np.arange(step0, last + 1, dtype=np.int64), ks, kv)


def _start(table: Table, ks: np.ndarray, kv: np.ndarray, interval: int, warmup: int | None,
           meta_warmup: int | None):
    """(step0, how, fill) for the steps before the first logged LR; ``fill(s)`` gives their LR."""
    k0, v0 = int(ks[0]), float(kv[0])
    if k0 == 0:
        return 0, "logged", None
    w, how = (warmup, "option") if warmup is not None else (meta_warmup, "metadata")
    if w is not None:
        src = "--warmup" if how == "option" else "the metadata's warmup_steps"
        if w == 0:
            _say(table, f"LR of steps 0..{k0 - 1} (before the first logged LR) taken as the first logged LR "
                        f"{v0:.6g}: {src} is 0, no warmup", warn=True)
            return 0, how, lambda s: np.full(s.shape, v0)
        peak = v0 * w / min(k0 + 1, w)  # the ramp peak*(s+1)/W reaches the first logged LR at step k0
        _say(table, f"LR of steps 0..{k0 - 1} (before the first logged LR, step {k0}) filled with a linear warmup "
                    f"of {w} steps ({src}), peak*(s+1)/{w}, to the first row's LR {v0:.6g}", warn=True)
        return 0, how, lambda s: peak * np.minimum(s + 1, w) / w
    rising = ks.size > 1 and kv[1] > kv[0] * (1 + 1e-9) and kv[0] < kv.max()
    near_zero = False
    if rising:
        cross = k0 - v0 * (ks[1] - ks[0]) / (kv[1] - kv[0])  # where the line through the first two rows is 0
        near_zero = abs(cross) <= max(interval, 1)
    if rising and (k0 <= interval or near_zero):
        _say(table, f"the logged LR rises from {v0:.6g} at step {k0} (a warmup): LR of steps 0..{k0 - 1} filled "
                    f"with a linear ramp from 0 at step 0 (assumed)", warn=k0 > 1)
        return 0, "inferred ramp", lambda s: v0 * s / k0
    if ks.size > 1 and k0 <= interval:
        if k0 == 1 and interval == 1:
            what = ("steps start at 1: read as 1-based (step 1 is the first optimizer step, as HF and Lightning "
                    "count); the LR of step 0")
        else:
            what = f"the log starts at step {k0}, its first logging interval; the LR of steps 0..{k0 - 1}"
        _say(table, f"{what} taken as the first logged LR {v0:.6g} (assumed)", warn=k0 > 1)
        return 0, "first interval", lambda s: np.full(s.shape, v0)
    hint = f"--warmup {k0}" if not rising else f"--warmup W (the warmup's length; the LR rises until step " \
                                               f"{int(ks[int(np.argmax(kv))])})"
    _say(table, f"the LR before step {k0} (the first logged LR) is unknown, so S1 and the other schedule sums "
                f"start at step {k0}; curve laws need {hint} or --schedule-file F", warn=True)
    return k0, "unknown", None


def _leave(table: Table, keep: np.ndarray, rows: np.ndarray, loss: np.ndarray, where: str, reason: str) -> None:
    """Mark ``rows`` (a mask) as left out, counted under ``reason`` and said (a warning when some hold a target
    value)."""
    rows = rows & keep
    if not rows.any():
        return
    idx = np.flatnonzero(rows)
    n_target = int(np.isfinite(loss[idx]).sum())
    keep &= ~rows
    table.left_out[reason] = table.left_out.get(reason, 0) + idx.size
    held = f", {n_target} of them with a target value" if n_target else ", none with a target value"
    _say(table, f"left out {idx.size} {'row' if idx.size == 1 else 'rows'} {where} ({table.lines_text(idx)}"
                f"{held})", warn=bool(n_target))


def _say(table: Table, text: str, warn: bool) -> None:
    table.notes.append(text)
    if warn:
        table.warns.append(text)


def _from_schedule(table: Table, steps: np.ndarray, lr_col: Column | None, schedule_file: str | None,
                   spec: str | None = None) -> np.ndarray:
    from scalefit import schedules

    last = int(steps[-1])
    if spec is not None:
        sched, source = spec_lr(spec, last + 1), f"--schedule {spec}"
    else:
        assert schedule_file is not None
        sched = schedules.from_file(schedule_file)  # (T,) ScheduleSpecError names the schedule file
        source = f"the schedule file {schedule_file}"
    if sched.size <= last:
        i = int(np.flatnonzero(steps >= sched.size)[0])
        raise RunFileError(
            f"step {int(steps[i])} is past the end of {source} (steps 0..{sched.size - 1}). "
            "Pass a schedule that covers the whole run.", path=table.path, line=table.where(i)[0],
            column="step", value=int(steps[i]))
    lr = sched[: last + 1].copy()
    what = f"LR of every step from {source} (steps 0..{sched.size - 1})"
    if lr_col is None or not np.any(~lr_col.empty):
        table.notes.append(what + "; the run file logs no LR to compare")
        return lr
    rows = np.flatnonzero(~lr_col.empty)
    logged, want = lr_col.values[rows], lr[steps[rows]]
    rel = _rel(logged, want)
    jmax = int(np.argmax(rel))
    off = np.flatnonzero(rel > SCHEDULE_RTOL)
    if off.size:
        j = int(off[0])
        i = int(rows[j])
        hint = ""
        for shift in (1, -1):
            idx = steps[rows] + shift
            ok = (idx >= 0) & (idx < sched.size)
            if ok.all() and np.max(_rel(logged, sched[idx])) <= SCHEDULE_RTOL:
                hint = (f" The logged LR matches the schedule at step s{shift:+d}: an off-by-one between the "
                        "logger and the schedule.")
        raise RunFileError(
            f"{table.what} '{lr_col.name}' is {lr_col.show(i)} but {source} gives "
            f"{want[j]:.10g} at step {int(steps[i])} (relative difference {rel[j]:.2e} > {SCHEDULE_RTOL:g}; "
            f"{off.size} of {rows.size} rows disagree, the largest by {rel[jmax]:.2e} at "
            f"{table.lines_text(np.array([int(rows[jmax])]))}).{hint} Check that the schedule belongs to "
            "this run.", path=table.path, line=table.where(i)[0], column=lr_col.name, value=float(logged[j]))
    table.notes.append(f"{what}; it agrees with the logged '{lr_col.name}' column within {rel[jmax]:.1e} "
                       f"(relative, {rows.size} rows)")
    return lr


def spec_lr(spec: str, total: int) -> np.ndarray:
    """The per-step LR of a ``--schedule`` spec; ``total`` (the run's last step + 1) unless the spec gives one."""
    from scalefit import schedules
    from scalefit.errors import ScheduleSpecError

    try:
        return np.asarray(schedules.from_spec(spec, total=total), dtype=np.float64)
    except ScheduleSpecError as exc:
        raise ScheduleSpecError(f"--schedule {spec}: {exc.message}", column="schedule", value=spec) from None


def _rel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    scale = np.maximum(np.abs(a), np.abs(b))
    return np.divide(np.abs(a - b), scale, out=np.zeros_like(scale), where=scale > 0)
