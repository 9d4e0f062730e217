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
from scalefit.commands._read_options import MaxStep, MinStep, RunNames, ScheduleSpecOpt
from scalefit.commands._read_options import load_runs, match_schedule  # noqa: F401 - re-exported for evaluate

#: Exit code of a command whose fit ran but FAILED, or whose predictions cannot be true (bad input exits 2).
FAILED_EXIT = 1

#: The --log-y option of fit, evaluate and predict (declared once here: same name and help).
LogY = Annotated[bool, typer.Option("--log-y", help="Log scale on the loss axis of the --plot.")]


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
    schedule: ScheduleSpecOpt = None,
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
    plot: Annotated[Optional[Path], typer.Option(help="Save fit vs data with residuals as an image (PNG, or the "
                                                      "suffix's format; with --law all: one per law). "
                                                      "Example: --plot fit.png")] = None,
    log_y: LogY = False,
    json: Annotated[bool, typer.Option("--json", help="Print the fit summary as JSON on stdout.")] = False,
) -> None:
    """Fit a loss-curve law jointly to runs: Huber on log loss, amplitudes projected out, many starts.

    Prints status lines, the parameters (rounded to their errors) and metrics per run, and measures the law's own
    error by cross-validation on the runs for later prediction intervals. Sparse runs need the LR from step 0:
    pass --warmup or a per-step --schedule-file / --schedule-dir. A fit whose law does not describe the runs
    (mean in-sample R2 < 0, or a fitted loss <= 0) has status FAILED and says what to try.

    Exit codes: 0 done; 1 the fit ran but FAILED (with --law all: every law did); 2 bad input (nothing fitted).

    Example: scalefit fit runs/cosine.csv runs/constant.csv --law mpl --out fit.json --plot fit.png
    """
    from scalefit.commands._fit_parsers import law_names, parse_bounds, parse_fixed, parse_prior
    from scalefit.fitting import compare

    names = law_names(law)
    out_paths = per_law_paths(out, names, ".json", "--out")
    plot_paths = per_law_paths(plot, names, ".png", "--plot")
    run_list = load_runs(runs, target=target, warmup=warmup, schedule_file=schedule_file, schedule_dir=schedule_dir,
                         resumed=resumed, runs=run, min_step=min_step, max_step=max_step, schedule=schedule)
    fit_kw: dict[str, Any] = {"seed": seed, "n_starts": starts, "bounds": parse_bounds(bounds),
                              "fixed": parse_fixed(fix), "prior": parse_prior(prior),
                              "errors": errors, "law_error": law_error}
    comparison = compare(run_list, laws=names, **fit_kw)
    results = list(comparison.fits)
    written = []
    for res, path in zip(results, out_paths):
        res.to_json(path)
        written.append(path)
    if plot_paths:
        from scalefit import plots

        for res, path in zip(results, plot_paths):
            plots.save(res.plot(log_y=log_y).figure, path)
            written.append(path)
    if json:
        print_json(results[0].summary() if len(results) == 1 else comparison.summary())
    else:
        con = console()
        for res in results:
            con.print(escape(res.report()))
        if len(results) > 1:
            con.print(escape(comparison.table()))
        for path in written:
            con.print(f"wrote {escape(str(path))}")
    if all(res.failed for res in results):
        raise typer.Exit(FAILED_EXIT)


def per_law_paths(path: Optional[Path], laws: list[str], suffix: str, flag: str) -> list[Path]:
    """The file of each law for an --out or --plot (``<stem>_<law><suffix>`` with several laws), each checked
    before any work (:func:`scalefit.jsonio.check_out_path`; an image format for --plot); [] without ``path``."""
    if path is None:
        return []
    from scalefit.jsonio import check_out_path
    from scalefit.plots import check_plot_path

    paths = [path] if len(laws) == 1 else [path.with_name(f"{path.stem}_{name}{path.suffix or suffix}")
                                           for name in laws]
    for p in paths:
        (check_plot_path(p, flag=flag) if flag == "--plot" else check_out_path(p, flag=flag))
    return paths

