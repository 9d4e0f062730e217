"""``scalefit fit``: fit a loss-curve law jointly to runs; print the report, write JSON and a plot.

Also home of reading runs with per-run schedule files (``load_runs``), which ``evaluate`` shares; the option
values are parsed in :mod:`scalefit.commands._fit_parsers`.

Per-run schedules: ``--schedule-file F`` may be repeated. One file applies to every run; otherwise give one per
run, matched by order. ``--schedule-dir DIR`` instead matches each run to the file in DIR whose name is the
longest suffix of the run's file name (``curves/mpl/100M_cosine_24000.csv`` <- ``schedules/cosine_24000.csv``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from scalefit.commands._common import console, escape, print_json, user_command
from scalefit.commands._fit_options import (Bounds, Errors, Fix, Law, LawErrorOpt, Prior, Resumed, ScheduleDir, Seed,
                                            Starts, Warmup)


@user_command
def fit(
    runs: Annotated[list[Path], typer.Argument(help="Run files (CSV, ...). Example: runs/a.csv runs/b.csv")],
    law: Law = "mpl",
    target: Annotated[str, typer.Option(help="Column to fit. Example: --target val_loss")] = "loss",
    warmup: Warmup = None,
    schedule_file: Annotated[
        Optional[list[Path]],
        typer.Option(help="Per-step LR file (step,lr); repeat to give one per run, in order. "
                          "Example: --schedule-file lr.csv"),
    ] = None,
    schedule_dir: ScheduleDir = None,
    resumed: Resumed = False,
    seed: Seed = 0,
    starts: Starts = 64,
    bounds: Bounds = None,
    fix: Fix = None,
    prior: Prior = None,
    errors: Errors = "ar1",
    law_error: LawErrorOpt = True,
    out: Annotated[Optional[Path], typer.Option(help="Write the fit as JSON (with --law all: one file per law, "
                                                     "named <stem>_<law>.json). Example: --out fit.json")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="Save fit vs data with residuals as PNG. "
                                                      "Example: --plot fit.png")] = None,
    json: Annotated[bool, typer.Option("--json", help="Print the fit summary as JSON on stdout.")] = False,
) -> None:
    """Fit a loss-curve law jointly to runs: Huber on log loss, amplitudes projected out, many starts.

    Prints status lines, the parameters (rounded to their errors) and metrics per run, and measures the law's own
    error by cross-validation on the runs for later prediction intervals. Sparse runs need the LR from step 0:
    pass --warmup or a per-step --schedule-file / --schedule-dir.

    Example: scalefit fit runs/cosine.csv runs/constant.csv --law mpl --out fit.json --plot fit.png
    """
    from scalefit.commands._fit_parsers import law_names, parse_bounds, parse_fixed, parse_prior
    from scalefit.fitting import compare

    run_list = load_runs(runs, target=target, warmup=warmup, schedule_file=schedule_file, schedule_dir=schedule_dir,
                         resumed=resumed)
    fit_kw: dict[str, Any] = {"seed": seed, "n_starts": starts, "bounds": parse_bounds(bounds),
                              "fixed": parse_fixed(fix), "prior": parse_prior(prior),
                              "errors": errors, "law_error": law_error}
    comparison = compare(run_list, laws=law_names(law), **fit_kw)
    results = list(comparison.fits)
    written = []
    if out is not None:
        for res in results:
            path = out if len(results) == 1 else out.with_name(f"{out.stem}_{res.law}{out.suffix or '.json'}")
            res.to_json(path)
            written.append(path)
    if plot is not None:
        from scalefit import plots

        for res in results:
            path = plot if len(results) == 1 else plot.with_name(f"{plot.stem}_{res.law}{plot.suffix or '.png'}")
            ax = res.plot()
            plots.save(ax.figure, path)
            written.append(path)
    if json:
        print_json(results[0].summary() if len(results) == 1 else comparison.summary())
        return
    con = console()
    for res in results:
        con.print(escape(res.report()))
    if len(results) > 1:
        con.print(escape(comparison.table()))
    for path in written:
        con.print(f"wrote {escape(str(path))}")


def load_runs(
    paths: list[Path],
    *,
    target: str = "loss",
    warmup: Optional[int] = None,
    schedule_file: Optional[list[Path]] = None,
    schedule_dir: Optional[Path] = None,
    what: str = "runs",
    resumed: bool = False,
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
    if not files:
        return list(read_runs([str(p) for p in paths], target=target, warmup=warmup, resumed=resumed))
    out = []
    for path, sched in zip(paths, files):
        out.extend(read_runs([str(path)], target=target, warmup=warmup, schedule_file=str(sched), resumed=resumed))
    return out


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
