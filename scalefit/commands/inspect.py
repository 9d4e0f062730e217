"""``scalefit inspect``: what scalefit reads from training logs, before any fitting."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from scalefit.commands._common import user_command
from scalefit.commands._fit_options import Resumed


@user_command
def inspect(
    files: Annotated[list[Path], typer.Argument(help="Run files or log directories (CSV, W&B export, HF "
                                                     "trainer_state.json, Lightning metrics.csv, TensorBoard dir).")],
    target: Annotated[str, typer.Option(help="Loss column to fit. Example: --target val_loss")] = "loss",
    warmup: Annotated[Optional[int], typer.Option(help="Linear warmup steps, used to fill the LR before a sparse "
                                                       "file's first row. Example: --warmup 2160")] = None,
    schedule_file: Annotated[Optional[Path], typer.Option(help="Per-step LR CSV (step,lr; steps 0..T-1) giving "
                                                               "the exact schedule. Example: --schedule-file lr.csv")]
    = None,
    resumed: Resumed = False,
    json: Annotated[bool, typer.Option("--json", help="Print a JSON list (one object per run) on stdout.")] = False,
) -> None:
    """Show what scalefit reads from each run: rows, step range, dense or sparse, warmup, LR, loss and notes.

    Example: scalefit inspect runs/*.csv --warmup 2160
    """
    from scalefit.readers import detect_format, expand, read_runs

    facts: list[dict[str, Any]] = []
    for path in expand(files):
        fmt = detect_format(path)
        for run in read_runs([path], target=target, warmup=warmup, schedule_file=schedule_file, resumed=resumed):
            facts.append(run_facts(run, fmt))
    if json:
        from scalefit.commands._common import print_json

        print_json(facts)
        return
    _print_tables(facts)


def run_facts(run: Any, fmt: str) -> dict[str, Any]:
    """The facts `inspect` shows for one run, as plain JSON-ready values."""
    import numpy as np

    from scalefit import schedules

    steps = run.steps
    gaps = np.diff(steps)
    k = int(np.argmax(gaps)) if gaps.size else -1
    obs = run.observed
    loss = run.loss[obs]
    desc = schedules.describe(run.lr)
    return {
        "path": run.path,
        "name": run.name,
        "format": fmt,
        "target": run.target,
        "rows": int(steps.size),
        "first_step": int(steps[0]),
        "last_step": int(steps[-1]),
        "step0": int(run.step0),
        "lr_steps": int(run.n_steps),
        "dense": bool(run.dense),
        "largest_gap": int(gaps[k]) if gaps.size else 0,
        "largest_gap_line": int(run.line[k + 1]) if gaps.size else None,
        "warmup": int(run.warmup),
        "peak_lr": float(np.max(run.lr)),
        "final_lr": float(run.lr[-1]),
        "shape": schedules.guess_shape(run.lr, run.warmup) if run.step0 <= 1 else "unknown (LR starts mid-run)",
        "schedule": desc,
        "observed": int(obs.sum()),
        "loss_min": float(loss.min()) if loss.size else None,
        "loss_max": float(loss.max()) if loss.size else None,
        "loss_first": float(loss[0]) if loss.size else None,
        "loss_last": float(loss[-1]) if loss.size else None,
        "extra_columns": sorted(run.extra),
        "meta": dict(run.meta),
        "notes": list(run.notes),
    }


def _print_tables(facts: list[dict[str, Any]]) -> None:
    from rich.table import Table

    from scalefit.commands._common import console, escape

    out = console()
    for f in facts:
        t = Table(title=escape(f"{f['name']}  ({f['path']}, {f['format']})"), show_header=False,
                  title_justify="left")
        t.add_column("fact", style="bold")
        t.add_column("value")
        spacing = "dense (a row every step)" if f["dense"] else (
            f"sparse: largest gap {f['largest_gap']} steps (line {f['largest_gap_line']})"
            if f["largest_gap"] > 1 else "rows every step; LR before the first row filled")
        rows = [
            ("rows", f"{f['rows']}"),
            ("steps", f"{f['first_step']} .. {f['last_step']}"),
            ("LR covers", f"steps {f['step0']} .. {f['step0'] + f['lr_steps'] - 1} ({f['lr_steps']} steps)"),
            ("spacing", spacing),
            ("warmup", f"{f['warmup']} steps" if f["step0"] <= 1 else
             f"unknown: the LR before step {f['step0']} is not in the file (pass --warmup or --schedule-file)"),
            ("LR", f"peak {f['peak_lr']:.4g}, final {f['final_lr']:.4g}"),
            ("schedule shape", f["shape"]),
            ("target", f["target"]),
            ("loss", (f"{f['loss_min']:.4f} .. {f['loss_max']:.4f} (first {f['loss_first']:.4f}, last "
                      f"{f['loss_last']:.4f}); {f['observed']} of {f['rows']} rows observed")
             if f["observed"] else "no observed values"),
            ("extra columns", ", ".join(f["extra_columns"]) or "none"),
            ("metadata", ", ".join(f"{k}={v}" for k, v in f["meta"].items()) or "none"),
        ]
        for key, value in rows:
            t.add_row(key, escape(str(value)))
        for i, note in enumerate(f["notes"]):
            t.add_row("notes" if i == 0 else "", escape(note))
        out.print(t)
