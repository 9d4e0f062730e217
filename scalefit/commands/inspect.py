"""``scalefit inspect``: what scalefit reads from training logs, before any fitting.

For each run: its rows and steps, how the LR was built (dense, interpolated, where it starts and what was
assumed), the warmup and where it came from, the fit window, the target and its unit, the rows left out of the
file (by reason, the same counts as the notes) and every note. Then what a user needs to choose a fit window
(``--min-step``) for a long per-step log: where the loss settles (the first step from which it stays within 2x,
25% and 10% of its final level) and a short summary of the loss by step range (median, 10-90% spread, mean LR,
rows fitted), with ranges that grow 1-3-10 over the first quarter of the run and then split it in quarters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from scalefit.commands._common import user_command
from scalefit.commands._read_options import (MaxStep, MinStep, Resumed, RunNames, ScheduleDir, ScheduleFiles,
                                             ScheduleSpecOpt, Target, Warmup, load_runs)


@user_command
def inspect(
    files: Annotated[list[Path], typer.Argument(help="Run files or log directories (CSV, W&B export, HF "
                                                     "trainer_state.json, Lightning metrics.csv, JSON lines, "
                                                     "TensorBoard dir).")],
    target: Target = "loss",
    warmup: Warmup = None,
    schedule: ScheduleSpecOpt = None,
    schedule_file: ScheduleFiles = None,
    schedule_dir: ScheduleDir = None,
    resumed: Resumed = False,
    min_step: MinStep = None,
    max_step: MaxStep = None,
    run: RunNames = None,
    json: Annotated[bool, typer.Option("--json", help="Print a JSON list (one object per run) on stdout.")] = False,
) -> None:
    """Show what scalefit reads from each run: rows, steps, LR, warmup, fit window, target, rows left out, notes,
    where the loss settles and the loss by step range (to choose --min-step).

    Example: scalefit inspect runs/*.csv --warmup 2160
    """
    from scalefit.readers import expand

    paths = [Path(p) for p in expand(files)]
    runs = load_runs(paths, target=target, warmup=warmup, schedule_file=schedule_file, schedule_dir=schedule_dir,
                     what="files", resumed=resumed, runs=run, min_step=min_step, max_step=max_step,
                     schedule=schedule)
    facts = [run_facts(r) for r in runs]
    if json:
        from scalefit.commands._common import print_json

        print_json(facts)
        return
    _print_tables(facts)


def run_facts(run: Any, fmt: str | None = None) -> dict[str, Any]:
    """The facts `inspect` shows for one run, as plain JSON-ready values."""
    import numpy as np

    from scalefit import schedules

    steps = run.steps
    gaps = np.diff(steps)
    k = int(np.argmax(gaps)) if gaps.size else -1
    obs = run.observed
    loss = run.loss[obs]
    lo, hi = getattr(run, "window", (None, None))
    fitted = run.fit_mask if hasattr(run, "fit_mask") else run.after_warmup
    return {
        "path": run.path,
        "name": run.name,
        "format": fmt or getattr(run, "fmt", "csv"),
        "target": run.target,
        "target_unit": getattr(run, "target_unit", "unknown"),
        "rows": int(steps.size),
        "first_step": int(steps[0]),
        "last_step": int(steps[-1]),
        "step0": int(run.step0),
        "lr_steps": int(run.n_steps),
        "dense": bool(run.dense),
        "largest_gap": int(gaps[k]) if gaps.size else 0,
        "largest_gap_line": int(run.line[k + 1]) if gaps.size else None,
        "warmup": int(run.warmup),
        "warmup_from": getattr(run, "warmup_from", ""),
        "peak_lr": float(np.max(run.lr)),
        "final_lr": float(run.lr[-1]),
        "shape": schedules.guess_shape(run.lr, run.warmup) if run.step0 == 0 else "unknown (LR starts mid-run)",
        "schedule": schedules.describe(run.lr),
        "observed": int(obs.sum()),
        "window": [lo, hi],
        "fitted_rows": int(fitted.sum()),
        "left_out": dict(getattr(run, "left_out", {})),
        "loss_min": float(loss.min()) if loss.size else None,
        "loss_max": float(loss.max()) if loss.size else None,
        "loss_first": float(loss[0]) if loss.size else None,
        "loss_last": float(loss[-1]) if loss.size else None,
        "settles": settles(run.steps[obs], loss),
        "loss_by_steps": loss_by_steps(run),
        "extra_columns": sorted(run.extra),
        "meta": dict(run.meta),
        "notes": list(run.notes),
    }


#: How close to its final level the loss must stay for `settles` (fractions above it).
SETTLE_LEVELS = (1.0, 0.25, 0.1)


def settles(steps: Any, loss: Any) -> dict[str, Any] | None:
    """Where the loss settles: its final level (the median of the last 5% of observed values) and, for each of
    :data:`SETTLE_LEVELS`, the first step from which 3 of 5 consecutive values lie within that fraction above it
    (the readers' default-window rule at 2x); None for fewer than 20 observed values."""
    import numpy as np

    from scalefit.readers.caveats import TRANSIENT_FACTOR

    if loss.size < 20:
        return None
    final = float(np.median(loss[-max(5, loss.size // 20):]))
    out: dict[str, Any] = {"final": final}
    for frac in SETTLE_LEVELS:
        below = (loss < (1 + frac) * final).astype(np.int8)
        run = np.convolve(below, np.ones(5, dtype=np.int8), mode="valid") >= 3
        key = "2x" if frac == TRANSIENT_FACTOR - 1 else f"{round(frac * 100)}%"
        if run.any():
            k = int(np.argmax(run))
            k += int(np.argmax(below[k:]))
            out[key] = int(steps[k])
        else:
            out[key] = None
    return out


def step_ranges(first: int, last: int) -> list[tuple[int, int]]:
    """Inclusive step ranges covering first..last: 1-3-10 growing edges (10, 30, 100, ...) up to a quarter of the
    span, then quarters. Short early ranges show the initial transient; the quarters show the rest."""
    import numpy as np

    span = last - first + 1
    edges = [first]
    e = 10
    while first + span / 4 >= e * 4 / 3:  # (an edge just below the first quarter would make a sliver)
        if e > first:
            edges.append(e)
        e = e * 3 if str(e).startswith("1") else e * 10 // 3
    quarters = [int(first + span * q / 4) for q in (1, 2, 3)]
    edges += [q for q in quarters if q > edges[-1]]
    edges = sorted(set(edges))
    bounds = np.r_[edges, last + 1]
    return [(int(a), int(b) - 1) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def loss_by_steps(run: Any) -> list[dict[str, Any]]:
    """The observed loss summarised by step range (:func:`step_ranges`): rows, median, 10% and 90% quantiles,
    mean LR and rows fitted (observed, after warmup, in the window) of each range that holds an observed value."""
    import numpy as np

    obs = run.observed
    if not obs.any():
        return []
    fitted = run.fit_mask if hasattr(run, "fit_mask") else run.after_warmup
    steps, loss = run.steps, run.loss
    out = []
    for a, b in step_ranges(int(steps[obs][0]), int(steps[obs][-1])):
        rows = (steps >= a) & (steps <= b)
        v = loss[rows & obs]
        if not v.size:
            continue
        lo_i, hi_i = max(a, run.step0) - run.step0, min(b, run.step0 + run.n_steps - 1) - run.step0
        lr = float(np.mean(run.lr[lo_i:hi_i + 1])) if hi_i >= lo_i else None
        q10, q50, q90 = (float(x) for x in np.quantile(v, [0.1, 0.5, 0.9]))
        out.append({"from": a, "to": b, "rows": int(v.size), "median": q50, "p10": q10, "p90": q90, "lr": lr,
                    "fitted": int((rows & fitted).sum())})
    return out


_WARMUP_FROM = {"option": "--warmup", "metadata": "from the metadata", "lr": "from the LR", "": ""}


def _visible(text: str) -> str:
    """Control characters (an ANSI escape in a column or file name) shown as escapes, not sent to the terminal."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def _print_tables(facts: list[dict[str, Any]]) -> None:
    from rich.table import Table

    from scalefit.commands._common import console
    from scalefit.commands._common import escape as _escape

    def escape(text: str) -> str:
        return _escape(_visible(text))

    out = console()
    for f in facts:
        t = Table(title=escape(f"{f['name']}  ({f['path']}, {f['format']})"), show_header=False,
                  title_justify="left")
        t.add_column("fact", style="bold")
        t.add_column("value")
        spacing = "dense (a row every step)" if f["dense"] else (
            f"sparse: largest gap {f['largest_gap']} steps (line {f['largest_gap_line']})"
            if f["largest_gap"] > 1 else "rows every step; LR before the first row filled")
        lo, hi = f["window"]
        window = ("all rows" if lo is None and hi is None else
                  f"steps {lo if lo is not None else f['first_step']} .. {hi if hi is not None else f['last_step']}")
        left = f["left_out"]
        unit = f" ({f['target_unit']})" if f["target_unit"] != "unknown" else " (unit unknown)"
        rows = [
            ("rows", f"{f['rows']}"),
            ("steps", f"{f['first_step']} .. {f['last_step']}"),
            ("left out", (f"{sum(left.values())} rows: " + ", ".join(f"{n} {why}" for why, n in left.items()))
             if left else "none"),
            ("LR covers", f"steps {f['step0']} .. {f['step0'] + f['lr_steps'] - 1} ({f['lr_steps']} steps)"),
            ("spacing", spacing),
            ("warmup", f"{f['warmup']} steps {_WARMUP_FROM.get(f['warmup_from'], '')}".rstrip()
             if f["step0"] == 0 else
             f"unknown: the LR before step {f['step0']} is not in the file (pass --warmup or --schedule-file)"),
            ("LR", f"peak {f['peak_lr']:.4g}, final {f['final_lr']:.4g}"),
            ("schedule shape", f["shape"]),
            ("target", f["target"] + unit),
            ("loss", (f"{f['loss_min']:.4f} .. {f['loss_max']:.4f} (first {f['loss_first']:.4f}, last "
                      f"{f['loss_last']:.4f}); {f['observed']} of {f['rows']} rows observed")
             if f["observed"] else "no observed values"),
            ("fit window", f"{window}; {f['fitted_rows']} rows fitted (observed, after warmup, in the window)"),
            ("extra columns", ", ".join(f["extra_columns"]) or "none"),
            ("metadata", ", ".join(f"{k}={v}" for k, v in f["meta"].items()) or "none"),
        ]
        for key, value in rows:
            t.add_row(key, escape(str(value)))
        if f["settles"]:
            st = f["settles"]
            parts = [f"within {k} from step {v}" if v is not None else f"never within {k}"
                     for k, v in st.items() if k != "final"]
            t.add_row("loss settles", escape(f"final level {st['final']:.4g}; " + ", ".join(parts)
                                             + " (3 of 5 values in a row)"))
        for i, note in enumerate(f["notes"]):
            t.add_row("notes" if i == 0 else "", escape(note))
        out.print(t)
        if len(f["loss_by_steps"]) > 1:
            out.print(_ranges_table(f["loss_by_steps"]))


def _ranges_table(ranges: list[dict[str, Any]]) -> Any:
    """The loss by step range, for choosing --min-step."""
    from rich.table import Table

    t = Table(title="loss by steps (choose --min-step where the fast initial drop ends)", title_justify="left")
    for name in ("steps", "rows", "median loss", "10% .. 90%", "mean LR", "fitted"):
        t.add_column(name, justify="right")
    for r in ranges:
        t.add_row(f"{r['from']} .. {r['to']}", str(r["rows"]), f"{r['median']:.4f}",
                  f"{r['p10']:.4f} .. {r['p90']:.4f}", "-" if r["lr"] is None else f"{r['lr']:.3g}", str(r["fitted"]))
    return t
