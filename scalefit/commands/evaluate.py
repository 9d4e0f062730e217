"""``scalefit evaluate``: fit a law on training runs, predict held-out runs from their schedules, print metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from scalefit.commands._common import console, escape, print_json, user_command
from scalefit.commands._fit_options import (Bounds, Errors, Fix, Law, LawErrorOpt, Prior, Resumed, ScheduleDir, Seed,
                                            Starts, Warmup)
from scalefit.commands._read_options import MaxStep, MinStep, RunNames


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
    json: Annotated[bool, typer.Option("--json", help="Print {law, fit_seconds, mean, runs, params} as JSON.")]
    = False,
) -> None:
    """Fit on --train runs and score the predictions of held-out --test runs from their LR schedules alone.

    Prints the MPL paper's metrics (R2, MAE, RMSE, PredE, WorstE) per held-out curve and averaged over curves,
    and how many held-out final losses fall inside their 90% prediction intervals.

    Example: scalefit evaluate --train cos.csv --train const.csv --test wsd.csv --schedule-dir schedules --law mpl
    """
    from scalefit import fitting
    from scalefit.commands._fit_parsers import law_names, parse_bounds, parse_fixed, parse_prior
    from scalefit.commands.fit import load_runs
    from scalefit.errors import FitInputError
    from scalefit.fitting.comparison import options_for

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
                           runs=run, min_step=min_step, max_step=max_step)
    test_runs = load_runs(test, target=target, warmup=warmup, schedule_file=test_files,
                          schedule_dir=schedule_dir, what="--test runs", resumed=resumed,
                          runs=run, min_step=min_step, max_step=max_step)
    kw: dict[str, Any] = {"seed": seed, "n_starts": starts, "bounds": parse_bounds(bounds),
                          "fixed": parse_fixed(fix), "prior": parse_prior(prior), "errors": errors,
                          "law_error": law_error}
    laws = law_names(law)
    evaluations = [fitting.evaluate(train_runs, test_runs, name, **options_for(name, laws, kw)) for name in laws]
    if json:
        if len(evaluations) == 1:
            print_json(evaluations[0].summary())
        else:
            print_json({"evaluations": [e.summary() for e in evaluations]})
        return
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
