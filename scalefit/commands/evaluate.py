"""``scalefit evaluate``: fit a law on training runs, predict held-out runs from their schedules, print metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from scalefit.commands._common import console, escape, print_json, user_command
from scalefit.commands._fit_options import (Bounds, Errors, Fix, Law, LawErrorOpt, Prior, Resumed, ScheduleDir, Seed,
                                            Starts, Warmup)
from scalefit.commands._read_options import MaxStep, MinStep, RunNames, ScheduleSpecOpt
from scalefit.commands.fit import FAILED_EXIT, LogY


@user_command
def evaluate(
    train: Annotated[list[Path], typer.Option(help="Runs to fit (repeat, or list after one --train). "
                                                   "Example: --train a.csv --train b.csv")],
    test: Annotated[list[Path], typer.Option(help="Held-out runs to predict from their LR schedules alone. "
                                                  "Example: --test c.csv")],
    law: Law = "mpl",
    target: Annotated[str, typer.Option(help="Column to fit and predict. Example: --target val_loss")] = "loss",
    warmup: Warmup = None,
    schedule_file: Annotated[
        Optional[list[Path]],
        typer.Option(help="Per-step LR file(s): one for all runs, or one per run in the order train then test. "
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
    out: Annotated[Optional[Path], typer.Option(help="Write the evaluation as JSON (what --json prints, with a "
                                                     "schema; with --law all: one file per law, <stem>_<law>.json). "
                                                     "Example: --out eval.json")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="Save the held-out runs, observed and predicted with their "
                                                      "bands, as an image (with --law all: one per law). "
                                                      "Example: --plot eval.png")] = None,
    log_y: LogY = False,
    json: Annotated[bool, typer.Option("--json", help="Print {law, fit_seconds, mean, runs, params, status, coverage} "
                                                      "as JSON; each run has its metrics, final losses, interval "
                                                      "(lower, upper, interval, method) and whether its final loss "
                                                      "fell inside (inside).")]
    = False,
) -> None:
    """Fit on --train runs and score the predictions of held-out --test runs from their LR schedules alone.

    Prints the MPL paper's metrics (R2, MAE, RMSE, PredE, WorstE) per held-out curve and averaged over curves,
    and how many held-out final losses fall inside their 90% prediction intervals.

    Exit codes: 0 done; 1 the fit ran but FAILED, or a held-out prediction cannot be true (a loss <= 0; with
    --law all: for every law); 2 bad input (nothing fitted).

    Example: scalefit evaluate --train cos.csv --train const.csv --test wsd.csv --schedule-dir schedules --law mpl
    """
    from scalefit import fitting
    from scalefit.commands._fit_parsers import law_names, parse_bounds, parse_fixed, parse_prior
    from scalefit.commands.fit import load_runs, per_law_paths
    from scalefit.errors import FitInputError
    from scalefit.fitting.comparison import options_for

    laws = law_names(law)
    out_paths = per_law_paths(out, laws, ".json", "--out")  # checked before any work
    plot_paths = per_law_paths(plot, laws, ".png", "--plot")
    files = list(schedule_file or [])
    n_train, n_test = len(train), len(test)
    if len(files) > 1 and len(files) != n_train + n_test:
        raise FitInputError(
            f"{len(files)} --schedule-file values for {n_train + n_test} runs: give one for all, or one per run "
            "in the order --train runs then --test runs, or use --schedule-dir."
        )
    train_files = files[:n_train] if len(files) > 1 else files
    test_files = files[n_train:] if len(files) > 1 else files
    train_runs = load_runs(train, target=target, warmup=warmup, schedule_file=train_files,
                           schedule_dir=schedule_dir, what="--train runs", resumed=resumed,
                           runs=run, min_step=min_step, max_step=max_step, schedule=schedule)
    test_runs = load_runs(test, target=target, warmup=warmup, schedule_file=test_files,
                          schedule_dir=schedule_dir, what="--test runs", resumed=resumed,
                          runs=run, min_step=min_step, max_step=max_step, schedule=schedule)
    kw: dict[str, Any] = {"seed": seed, "n_starts": starts, "bounds": parse_bounds(bounds),
                          "fixed": parse_fixed(fix), "prior": parse_prior(prior), "errors": errors,
                          "law_error": law_error}
    evaluations = [fitting.evaluate(train_runs, test_runs, name, **options_for(name, laws, kw)) for name in laws]
    written = [ev.to_json(path) for ev, path in zip(evaluations, out_paths)]
    if plot_paths:
        from scalefit import plots

        written += [plots.save(ev.plot(log_y=log_y).figure, path) for ev, path in zip(evaluations, plot_paths)]
    if json:
        print_json(evaluations[0].summary() if len(evaluations) == 1
                   else {"evaluations": [e.summary() for e in evaluations]})
    else:
        _print(evaluations, written)
    if all(ev.fit.failed or any(p.impossible for p in ev.predictions.values()) for ev in evaluations):
        raise typer.Exit(FAILED_EXIT)


def _print(evaluations: list[Any], written: list[Path]) -> None:
    """Each evaluation's report, a table of the laws' held-out means when there are several, the files written."""
    con = console()
    for ev in evaluations:
        con.print(escape(ev.report()))
    if len(evaluations) > 1:
        lines = [f"{'law':<10} {'R2':>8} {'MAE':>8} {'RMSE':>8} {'PredE':>8} {'WorstE':>8} {'seconds':>8}"]
        for ev in sorted(evaluations, key=lambda e: e.mean["pred_e"]):
            m = ev.mean
            lines.append(f"{ev.fit.law:<10} {m['r2']:>8.5f} {m['mae']:>8.5f} {m['rmse']:>8.5f} "
                         f"{m['pred_e']:>8.5f} {m['worst_e']:>8.5f} {ev.fit.fit_seconds:>8.2f}")
        con.print("held-out means (sorted by PredE)\n" + escape("\n".join(lines)))
    for path in written:
        con.print(f"wrote {escape(str(path))}")
