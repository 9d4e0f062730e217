"""The runs as a fit problem: checks that a run can be fitted, the rows the fit uses, the stacked problem with the
user's bounds and fixed values, and what a result records about its data (hash, fitted range, run labels)."""

from __future__ import annotations

import hashlib
from typing import Any, Mapping, Sequence

import numpy as np

from scalefit.errors import AssumptionWarning, FitInputError
from scalefit.fitting.problem import Problem
from scalefit.results import FitContext, Note
from scalefit.thinning import evenly_spaced


def check_runs(runs: Sequence[Any], law_name: str, needs_loss: bool = True) -> None:
    """Raise FitInputError (naming the run and the fix) when a run cannot be fitted."""
    if not runs:
        raise FitInputError(f"no runs to fit law {law_name}. Pass one or more run files.")
    for run in runs:
        lr = np.asarray(run.lr, dtype=np.float64)
        if lr.size == 0 or not np.all(np.isfinite(lr)):
            raise FitInputError("the LR schedule is empty or not finite. Fix the 'lr' column.", path=run.path)
        if not np.any(lr > 0):
            raise FitInputError(
                "the learning rate is 0 at every step, so no law can use it. Fix the 'lr' column or pass "
                "--schedule-file.",
                path=run.path,
            )
        if int(run.step0) > 0:
            raise FitInputError(
                f"the run starts at step {int(run.step0)} and its LR before that is unknown; law {law_name} needs "
                f"the LR from step 0 (S1 sums it). Pass --warmup {int(run.step0)} (linear warmup) or "
                "--schedule-file F with the per-step LR.",
                path=run.path,
            )
        if needs_loss:
            obs = run.observed
            if not obs.any():
                raise FitInputError(
                    f"no {run.target!r} values to fit (every row is empty). Check --target.", path=run.path
                )
            if not run.after_warmup.any():
                raise FitInputError(
                    f"every {run.target!r} value lies inside the {int(run.warmup)}-step warmup, where the laws do "
                    "not apply. Log the loss after warmup, or check --warmup.", path=run.path
                )
            if not run.fit_mask.any():
                lo, hi = run.window
                span = run.steps[run.after_warmup]
                raise FitInputError(
                    f"no {run.target!r} value after warmup lies inside the fit window (steps "
                    f"{'start' if lo is None else lo}..{'end' if hi is None else hi}); the rows after warmup span "
                    f"steps {int(span.min())}..{int(span.max())}. Widen --min-step / --max-step.", path=run.path
                )
            if np.any(run.loss[obs] <= 0):
                raise FitInputError(f"{run.target!r} must be > 0 to fit on log loss.", path=run.path)
            idx = run.index[obs]
            if idx.min() < 0 or idx.max() >= lr.size:
                raise FitInputError("observed steps fall outside the LR schedule. Check --schedule-file.",
                                    path=run.path)


def build_problem(
    law: Any,
    law_name: str,
    runs: list[Any],
    bounds: Mapping[str, tuple[float, float]] | None,
    fixed: Mapping[str, float] | None,
    huber: bool,
    delta: float,
    max_points: int | None = None,
) -> tuple[Problem, list[Note]]:
    """The runs as a fit :class:`Problem` (checked, thinned to ``max_points`` rows per run, the law prepared on each)
    with ``bounds`` and ``fixed`` applied, and the notes on what was assumed or repaired."""
    check_runs(runs, law_name)
    specs = {p.name: p for p in law.params}
    names = tuple(specs)
    notes: list[Note] = []
    lower = np.array([specs[n].lower for n in names], dtype=np.float64)
    upper = np.array([specs[n].upper for n in names], dtype=np.float64)
    free = np.array([not specs[n].fixed for n in names])
    values = np.array([specs[n].default for n in names], dtype=np.float64)
    for name, (lo, hi) in (bounds or {}).items():
        if name not in specs:
            raise FitInputError(f"unknown parameter {name!r} in bounds; law {law_name} has {', '.join(names)}.")
        lo, hi = float(lo), float(hi)
        if not lo < hi:
            raise FitInputError(f"bounds of {name!r} must satisfy lower < upper, got {lo:g}:{hi:g}.")
        i = names.index(name)
        lower[i], upper[i] = lo, hi
        if not free[i]:
            free[i] = True
            notes.append(Note("freed", f"{name} is fitted within {lo:g}:{hi:g} (law {law_name} holds it fixed by "
                              "default).", data={"param": name, "lower": lo, "upper": hi}))
        values[i] = min(max(values[i], lo), hi)
    for name, value in (fixed or {}).items():
        if name not in specs:
            raise FitInputError(f"unknown parameter {name!r} to fix; law {law_name} has {', '.join(names)}.")
        i = names.index(name)
        free[i] = False
        values[i] = float(value)
    preps, sizes, losses = [], [], []
    for run in runs:
        rows = fit_rows(run, max_points)
        n_fit = int(run.fit_mask.sum())
        n_warm = int(run.observed.sum() - run.after_warmup.sum())
        if n_warm:
            notes.append(Note(
                "warmup_rows", f"{run.path}: {n_warm} observed row(s) inside the {int(run.warmup)}-step warmup are not "
                "fitted; the laws describe the loss after warmup.", AssumptionWarning,
                {"path": run.path, "rows": n_warm, "warmup": int(run.warmup)}))
        n_out = int(run.after_warmup.sum()) - n_fit
        if tuple(run.window) != (None, None):
            lo, hi = run.window
            notes.append(Note(
                "window", f"{run.path}: fit window steps {'start' if lo is None else lo}..{'end' if hi is None else hi}"
                f": {n_fit} observed rows after warmup are fitted, {n_out} outside the window are not (the LR history "
                "the law integrates stays whole).", None,
                {"path": run.path, "min_step": lo, "max_step": hi, "fitted": n_fit, "outside": n_out}))
        if rows.size < n_fit:
            notes.append(Note(
                "thinned", f"{run.path}: {n_fit} observed rows to fit; the fit and its "
                f"in-sample metrics use {rows.size} evenly spaced ones (max_points={max_points}).", AssumptionWarning,
                {"path": run.path, "rows": n_fit, "used": int(rows.size), "max_points": max_points}))
        at = np.asarray(run.index[rows], dtype=np.int64)
        n_params = run.meta.get("params") if isinstance(run.meta, Mapping) else None
        try:
            preps.append(
                law.prepare(
                    np.asarray(run.lr, dtype=np.float64),
                    warmup=int(run.warmup),
                    at=at,
                    n_params=None if n_params is None else float(n_params),
                )
            )
        except (ValueError, KeyError) as exc:
            raise FitInputError(f"law {law_name} cannot use this run: {exc}", path=run.path) from None
        sizes.append(int(at.size))
        losses.append(np.asarray(run.loss[rows], dtype=np.float64))
    loss = np.concatenate(losses)
    problem = Problem(
        law=law,
        names=names,
        lin=tuple(law.linear_names),
        nonlin=tuple(n for n in names if not specs[n].linear),
        preps=preps,
        sizes=sizes,
        loss=loss,
        logloss=np.log(loss),
        lower=lower,
        upper=upper,
        free=free,
        fixed_values=values,
        huber=huber,
        delta=delta,
    )
    return problem, notes


def fit_rows(run: Any, max_points: int | None) -> np.ndarray:
    """Row indices of ``run`` the fit uses: every observed row after the warmup and inside the fit window
    (:attr:`~scalefit.runs.Run.fit_mask`; rows inside the warmup are outside the laws' domain), or ``max_points``
    evenly spaced ones."""
    rows = np.flatnonzero(run.fit_mask)
    if max_points is not None and rows.size > max_points:
        rows = rows[evenly_spaced(rows.size, max(int(max_points), 2))]
    return rows


def data_hash(runs: Sequence[Any]) -> str:
    """sha256 over each run's steps (int64), lr and loss (float64) bytes, in run order, and its fit window when it
    has one (so the hash of a run without a window is what it always was)."""
    h = hashlib.sha256()
    for run in runs:
        h.update(np.ascontiguousarray(run.steps, dtype=np.int64).tobytes())
        h.update(np.ascontiguousarray(run.lr, dtype=np.float64).tobytes())
        h.update(np.ascontiguousarray(run.loss, dtype=np.float64).tobytes())
        window = tuple(getattr(run, "window", (None, None)))
        if window != (None, None):
            h.update(repr(window).encode())
    return h.hexdigest()


def fit_context(runs: Sequence[Any]) -> FitContext:
    """The range of the data the fit saw (what predictions default to, what marks an extrapolation)."""
    last_idx = [int(run.index[run.fit_mask].max()) for run in runs]
    s1 = [float(np.sum(run.lr[: i + 1])) for run, i in zip(runs, last_idx)]
    lr_min = []
    for run in runs:
        post = np.asarray(run.lr[int(run.warmup):])
        post = post[post > 0]
        if post.size:
            lr_min.append(float(post.min()))
    n_params = tuple(float(r.meta["params"]) for r in runs if r.meta.get("params") is not None)
    floors = [r.irreducible_loss for r in runs]
    known = all(f is not None for f in floors)
    targets = {str(getattr(r, "target", "loss")) for r in runs}
    units = {getattr(r, "target_unit", None) for r in runs}  # the readers' unit when they know it
    unit = units.pop() if len(units) == 1 else None
    return FitContext(
        max_step=max(int(run.steps[run.fit_mask].max()) for run in runs),
        max_s1=max(s1),
        lr_max=max(float(np.max(run.lr)) for run in runs),
        lr_min=min(lr_min) if lr_min else 0.0,
        warmup=max(int(run.warmup) for run in runs),
        n_params=n_params,
        total_steps=tuple(int(run.step0) + int(run.n_steps) for run in runs),
        irreducible_loss=float(min(floors)) if known and floors else None,
        target=targets.pop() if len(targets) == 1 else " / ".join(sorted(targets)),
        target_unit=None if unit in (None, "unknown") else str(unit),
    )


def unique_labels(paths: Sequence[str]) -> list[str]:
    """Each run's path, made unique in order: a path seen before becomes ``path#2``, ``path#3``, ... (the keys of
    a fit's metrics, of held-out runs and of law-error folds)."""
    out: list[str] = []
    used: set[str] = set()
    for path in paths:
        label, i = path, 2
        while label in used:
            label, i = f"{path}#{i}", i + 1
        used.add(label)
        out.append(label)
    return out
