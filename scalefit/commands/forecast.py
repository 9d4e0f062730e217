"""``scalefit forecast``: the final loss and the rest of the curve of a run in flight, from its rows so far and its
planned schedule (:func:`scalefit.forecast.forecast`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from scalefit.commands._common import console, escape, fail, print_json, user_command
from scalefit.commands._read_options import MaxStep, MinStep, Resumed, RunNames, Target, Warmup
from scalefit.commands.fit import FAILED_EXIT, LogY

#: Rows of the remaining curve the text output shows (evenly spaced, the final step last).
SHOWN_ROWS = 6
FORECAST_SCHEMA = "scalefit.forecast/1"


@user_command
def forecast(
    run: Annotated[Path, typer.Argument(help="The run so far (any log scalefit reads). Example: runs/big.csv")],
    schedule: Annotated[Optional[str], typer.Option(
        "--schedule", help="The planned schedule of the whole run as a spec (its total= or --steps required; peak "
                           "defaults to the logged peak LR, warmup to the run's). Example: --schedule "
                           "cosine:total=24000")] = None,
    steps: Annotated[Optional[int], typer.Option(
        "--steps", help="The planned number of steps of the whole run (the spec's total). Example: --schedule cosine "
                        "--steps 24000")] = None,
    schedule_file: Annotated[Optional[Path], typer.Option(
        "--schedule-file", help="The planned schedule of the whole run, one row per step (step,lr). "
                                "Example: --schedule-file plan.csv")] = None,
    like: Annotated[Optional[list[Path]], typer.Option(
        help="Finished runs of the same setup (repeat, or list after one --like): their fitted shape becomes the "
             "forecast's prior. Example: --like a.csv b.csv")] = None,
    fit_json: Annotated[Optional[Path], typer.Option(
        "--fit", help="A saved fit (scalefit fit --out) of finished runs of the same setup: its shape becomes the "
                      "forecast's prior, as with --like but without refitting; a size-aware fit (mpl-n, tissue-n) "
                      "gives its shape at the run's model size. Example: --fit fit.json")] = None,
    n_params: Annotated[Optional[float], typer.Option(
        "--params", help="The run's model size for a size-aware --fit (default: the run's 'params'). Example: "
                         "--params 1.2e8")] = None,
    law: Annotated[Optional[str], typer.Option(help="A size-blind curve law: mpl or tissue (default mpl, or the "
                                                    "--fit's). Example: --law tissue")] = None,
    interval: Annotated[float, typer.Option(help="Nominal coverage of the interval. Example: --interval 0.95")]
    = 0.9,
    target: Target = "loss",
    warmup: Warmup = None,
    resumed: Resumed = False,
    min_step: MinStep = None,
    max_step: Annotated[Optional[int], typer.Option(
        "--max-step", help="Forecast as if the run stood at this step: later rows are held out (not fitted) and, "
                           "when the log reaches the planned end, compared with the forecast. "
                           "Example: --max-step 12000")] = None,
    run_name: RunNames = None,
    seed: Annotated[int, typer.Option(help="Seed of the fits' deterministic multi-start. Example: --seed 1")] = 0,
    out: Annotated[Optional[Path], typer.Option(help="Write the forecast as JSON (what --json prints, with a "
                                                     "schema). Example: --out forecast.json")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="Save the rows so far, the fit and the forecast with its band "
                                                      "as an image. Example: --plot forecast.png")] = None,
    log_y: LogY = False,
    json: Annotated[bool, typer.Option("--json", help="Print {final_step, final_loss, lower, upper, interval, method, "
                                                      "scale, last_observed, law, note, folds, rests_on, curve, "
                                                      "observed} as "
                                                      "JSON.")] = False,
) -> None:
    """Forecast a run in flight: its final loss with an interval, and the rest of its curve.

    The law is fitted to the rows so far with the whole planned schedule known; the interval comes from the run's
    own forward-chaining folds (refit on the first 40/55/70% of the rows, predict the rows it already has), grown
    with the log of the distance to the last row. --like borrows the shape of finished runs of the same setup (a
    run before its LR decay has not shown the drop of one; without --like that drop is left out, and a note says
    so). A forecast whose loss reaches 0 or below is refused.

    Exit codes: 0 done; 1 the forecast reaches a loss <= 0 (not a result); 2 bad input.

    Example: scalefit forecast runs/big.csv --schedule cosine:total=24000 --like runs/small_cosine.csv
    """
    import numpy as np

    from scalefit.errors import FitInputError
    from scalefit.forecast import ImpossibleForecastError
    from scalefit.forecast import forecast as forecast_run
    from scalefit.jsonio import check_out_path

    if out is not None:
        check_out_path(out, flag="--out")
    if plot is not None:
        from scalefit.plots import check_plot_path

        check_plot_path(plot, flag="--plot")
    if (schedule is None) == (schedule_file is None):
        raise FitInputError("pass the planned schedule of the whole run: --schedule SPEC or --schedule-file F (one "
                            "of them). Example: --schedule cosine --steps 24000")
    if like and fit_json is not None:
        raise FitInputError("pass finished runs (--like) or a saved fit of them (--fit), not both. Example: --fit "
                            "fit.json")
    schedule = _with_steps(schedule, steps)
    prior_fit = None
    if fit_json is not None:
        from scalefit.results import FitResult

        prior_fit = FitResult.from_json(fit_json)
    partial, held_out = _read(run, schedule, schedule_file, target=target, warmup=warmup, resumed=resumed,
                              runs=run_name, min_step=min_step, max_step=max_step)
    plan: Any = schedule
    if schedule_file is not None:
        from scalefit import schedules

        plan = schedules.from_file(schedule_file)
    like_runs = None
    if like:
        from scalefit.commands._read_options import load_runs

        like_runs = load_runs(like, target=target, warmup=warmup, resumed=resumed, what="--like runs")
    try:
        fc = forecast_run(partial, plan, like=like_runs, prior_fit=prior_fit, n_params=n_params, law=law,
                          interval=interval, seed=seed, source=None if fit_json is None else str(fit_json))
    except ImpossibleForecastError as exc:
        fail(str(exc), code=FAILED_EXIT)
    observed = _observed_final(held_out, fc.final_step)
    rests_on = (f"{int(np.count_nonzero(partial.fit_mask))} logged rows up to step {fc.last_observed} under law "
                f"{fc.fit.law}; {fc.note}")
    written = []
    if out is not None:
        from scalefit.jsonio import write_json

        written.append(write_json(out, {"schema": FORECAST_SCHEMA, **_summary(fc, observed, rests_on)}))
    if plot is not None:
        from scalefit import plots

        ax = fc.plot(held_out=held_out, ylabel=fc.fit.context.target_label)
        if log_y:
            ax.set_yscale("log")
        written.append(plots.save(ax.figure, plot))
    if json:
        print_json(_summary(fc, observed, rests_on))
        return
    _print(fc, partial.path, schedule or str(schedule_file), observed, np.asarray(fc.steps), written, rests_on)


def _with_steps(spec: Optional[str], steps: Optional[int]) -> Optional[str]:
    """The spec with ``--steps`` as its total (one of them, not both; ``--steps`` needs a spec)."""
    from scalefit.errors import FitInputError

    if steps is None:
        return spec
    if spec is None:
        raise FitInputError("--steps sets the total of a --schedule spec; a --schedule-file gives its own steps. "
                            "Example: --schedule cosine --steps 24000")
    if steps < 2:
        raise FitInputError(f"--steps must be at least 2, got {steps}. Example: --steps 24000")
    if "total=" in spec.replace(" ", ""):
        raise FitInputError(f"--schedule {spec} already sets total=: drop --steps or the total. Example: --schedule "
                            f"{spec.split(':')[0]} --steps {steps}")
    return f"{spec}{',' if ':' in spec else ':'}total={steps}"


def _read(path: Path, spec: Optional[str], schedule_file: Optional[Path], *, max_step: Optional[int],
          **read_kw: Any) -> tuple[Any, tuple[Any, Any] | None]:
    """The run so far (cut at ``max_step``: its LR too) and the rows held out after it (None without a cut).

    A log that prints no LR takes it from the plan (the reader checks a logged LR against a plan; here the plan's
    agreement with a logged LR is checked by :func:`scalefit.forecast.planned_run`)."""
    import dataclasses

    import numpy as np

    from scalefit.commands._read_options import load_runs
    from scalefit.errors import FitInputError, RunFileError
    from scalefit.fitting.extrapolation_folds import truncate

    try:
        runs = load_runs([path], **read_kw)
    except RunFileError as first:
        try:  # e.g. a log that prints no LR: the plan gives it
            runs = load_runs([path], schedule=spec, schedule_file=None if schedule_file is None else [schedule_file],
                             **read_kw)
        except RunFileError:
            raise first from None
    if len(runs) != 1:
        raise FitInputError(f"the log holds {len(runs)} runs; a forecast is of one. Pick it with --run NAME.",
                            path=str(path))
    full = runs[0]
    if max_step is None:
        return full, None
    part = truncate(full, max_step)
    if not part.observed.any():
        raise FitInputError(f"no {full.target!r} value at or before --max-step {max_step}. Pass a later step.",
                            path=full.path)
    last = int(part.steps[part.observed].max())
    keep = max(0, last - int(full.step0) + 1)
    after = full.observed & (full.steps > max_step)
    held = (full.steps[after], full.loss[after])
    return dataclasses.replace(part, lr=np.asarray(full.lr[:keep])), held


def _observed_final(held_out: tuple[Any, Any] | None, final_step: int) -> float | None:
    """The observed loss at the planned final step, when the held-out rows reach it."""
    if held_out is None or not len(held_out[0]) or int(held_out[0][-1]) != final_step:
        return None
    return float(held_out[1][-1])


def _summary(fc: Any, observed: float | None, rests_on: str) -> dict[str, Any]:
    lo, hi = fc.final_interval
    return {**fc.summary(), "rests_on": rests_on, "curve": fc.curve(),
            "observed": None if observed is None else {"final_loss": observed, "inside": bool(lo <= observed <= hi)}}


def _print(fc: Any, path: str, plan: str, observed: float | None, steps: Any, written: list[Path],
           rests_on: str) -> None:
    from scalefit.thinning import evenly_spaced

    pct = f"{fc.interval * 100:g}%"
    lo, hi = fc.final_interval
    done = (fc.last_observed + 1) / (fc.final_step + 1)
    lines = [f"Forecast of {path} under law {fc.fit.law} (interval {pct}: {fc.method})",
             f"  logged up to step {fc.last_observed} of {fc.final_step} ({done:.0%}); plan: {plan}",
             f"  final loss at step {fc.final_step}: {fc.final_loss:.4f}  [{lo:.4f}, {hi:.4f}]"]
    if observed is not None:
        where = "inside" if lo <= observed <= hi else "OUTSIDE"
        off = (fc.final_loss - observed) / observed
        lines.append(f"  observed at step {fc.final_step}: {observed:.4f} ({off:+.2%} "
                     f"off; {where} the interval)")
    lines += ["", f"  {'step':>8} {'loss':>8} {'lower':>8} {'upper':>8}"]
    for i in evenly_spaced(len(steps), min(SHOWN_ROWS, len(steps))):
        lines.append(f"  {int(fc.steps[i]):>8d} {fc.loss[i]:>8.4f} {fc.lower[i]:>8.4f} {fc.upper[i]:>8.4f}")
    lines += ["", f"  rests on: {rests_on}"]
    if fc.folds:
        lines.append("  folds (cut step: relative error at the last row): "
                     + ", ".join(f"{c}: {e:+.2%}" for c, _, e in fc.folds))
    con = console()
    con.print(escape("\n".join(lines)))
    for p in written:
        con.print(f"wrote {escape(str(p))}")
