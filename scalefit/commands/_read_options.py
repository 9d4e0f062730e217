"""What every command that reads run files shares: the reading options (declared once: same names, help and
examples) and :func:`load_runs`, which reads runs with their per-run schedule files.

Logs that print no LR take the schedule as a spec, ``--schedule cosine:peak=6e-4,warmup=2000`` (its ``total``
defaults to each run's last step + 1), or as per-step files. Per-run schedules: ``--schedule-file F`` may be
repeated. One file applies to every run; otherwise give one per
run, matched by order. ``--schedule-dir DIR`` instead matches each run to the file in DIR whose name is the
longest suffix of the run's file name (``curves/mpl/100M_cosine_24000.csv`` <- ``schedules/cosine_24000.csv``).

The fit window (``--min-step`` / ``--max-step``) is recorded on each run (:attr:`scalefit.runs.Run.window`); the
rows a fit uses are :attr:`scalefit.runs.Run.fit_mask` (observed, after warmup, inside the window), while the LR
history the laws integrate stays whole.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

Target = Annotated[str, typer.Option("--target", help="Column to fit (aliases: train/loss, eval_loss, ...). "
                                                      "Example: --target val_loss")]
Warmup = Annotated[
    Optional[int],
    typer.Option(help="Warmup steps (0: no warmup). Without it the warmup comes from the metadata or the logged LR "
                      "(a rising LR implies a linear warmup from 0); a sparse log's steps before its first row get "
                      "a linear warmup to the first logged LR. Example: --warmup 2160"),
]
ScheduleFiles = Annotated[
    Optional[list[Path]],
    typer.Option("--schedule-file", help="Per-step LR file (step,lr; steps 0..T-1); repeat to give one per run, "
                                         "in order. Example: --schedule-file lr.csv"),
]
ScheduleSpecOpt = Annotated[
    Optional[str],
    typer.Option("--schedule", help="The LR schedule as a spec, for logs that print no LR (name:key=value,...; total "
                                    "defaults to the run's last step + 1; checked against a logged LR). "
                                    "Example: --schedule cosine:peak=6e-4"),
]
ScheduleDir = Annotated[
    Optional[Path],
    typer.Option(help="Folder of per-step LR files matched to runs by file-name suffix. "
                      "Example: --schedule-dir curves/mpl/schedules"),
]
Resumed = Annotated[
    bool,
    typer.Option("--resumed", help="The logs may hold resumed runs or shards out of order: each step keeps its row "
                                   "from the latest segment that logged it, in step order (the rows left out are "
                                   "named). Without it a step that goes back is an error."),
]
MinStep = Annotated[
    Optional[int],
    typer.Option("--min-step", help="First step of the fit window: rows before it are shown but not fitted (the LR "
                                    "history stays whole). Without it an obvious initial transient is left out "
                                    "(said); --min-step 0 fits every row. Example: --min-step 200"),
]
MaxStep = Annotated[
    Optional[int],
    typer.Option("--max-step", help="Last step of the fit window (e.g. the end of the first epoch). "
                                    "Example: --max-step 5000"),
]
RunNames = Annotated[
    Optional[list[str]],
    typer.Option("--run", help="From files that hold several runs (a run column, a W&B chart, TensorBoard, "
                               "restarts), read only the runs of this name (repeatable). Example: --run baseline"),
]


def load_runs(
    paths: list[Path],
    *,
    target: str = "loss",
    warmup: Optional[int] = None,
    schedule_file: Optional[list[Path]] = None,
    schedule_dir: Optional[Path] = None,
    what: str = "runs",
    resumed: bool = False,
    runs: Optional[list[str]] = None,
    min_step: Optional[int] = None,
    max_step: Optional[int] = None,
    schedule: Optional[str] = None,
) -> list[Any]:
    """Read runs, giving each its schedule file (one for all, one per run in order, or matched in a folder)."""
    from scalefit.errors import FitInputError
    from scalefit.readers import read_runs

    if not paths:
        raise FitInputError(f"no {what} given. Example: scalefit fit runs/a.csv runs/b.csv")
    files = list(schedule_file or [])
    if files and schedule_dir is not None:
        raise FitInputError("pass either --schedule-file or --schedule-dir, not both.")
    if schedule_dir is not None:
        files = [match_schedule(p, schedule_dir) for p in paths]
    elif len(files) == 1:
        files = files * len(paths)
    elif files and len(files) != len(paths):
        raise FitInputError(
            f"{len(files)} --schedule-file values for {len(paths)} {what}: give one for all runs or one per run "
            "(in the same order), or use --schedule-dir."
        )
    kw: dict[str, Any] = {"target": target, "warmup": warmup, "resumed": resumed, "runs": runs,
                          "min_step": min_step, "max_step": max_step, "schedule": schedule}
    return list(read_runs([str(p) for p in paths], schedule_file=[str(f) for f in files] or None, **kw))


def match_schedule(run_path: Path, folder: Path) -> Path:
    """The file in ``folder`` whose name is the longest suffix of ``run_path``'s name (same extension)."""
    from scalefit.errors import FitInputError

    if not folder.is_dir():
        raise FitInputError("schedule folder not found. Pass --schedule-dir DIR.", path=str(folder))
    name = run_path.name
    best = None
    for cand in folder.iterdir():
        if cand.is_file() and name.endswith(cand.name) and (best is None or len(cand.name) > len(best.name)):
            best = cand
    if best is None:
        raise FitInputError(
            f"no schedule file in {folder} matches the end of {name!r} (e.g. {folder}/cosine_24000.csv for "
            "100M_cosine_24000.csv). Add it or pass --schedule-file.",
            path=str(run_path),
        )
    return best
