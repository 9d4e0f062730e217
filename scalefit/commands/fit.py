"""``scalefit fit``: fit a loss-curve law jointly to runs; print the report, write JSON and a plot.

The option values are parsed in :mod:`scalefit.commands._fit_parsers`. Reading runs with per-run schedule files
(``load_runs``, ``match_schedule``) lives in :mod:`scalefit.commands._read_options`, re-exported here for
``evaluate``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from scalefit.commands._common import console, escape, print_json, user_command
from scalefit.commands._fit_options import (Bounds, Errors, Fix, Law, LawErrorOpt, Prior, Resumed, ScheduleDir, Seed,
                                            Starts, Warmup)
from scalefit.commands._read_options import MaxStep, MinStep, RunNames
from scalefit.commands._read_options import load_runs, match_schedule  # noqa: F401 - re-exported for evaluate


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
    min_step: MinStep = None,
    max_step: MaxStep = None,
    run: RunNames = None,
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
                         resumed=resumed, runs=run, min_step=min_step, max_step=max_step)
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
