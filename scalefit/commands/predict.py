"""``scalefit predict``: predict the loss of one or more LR schedules from a saved fit, ranked by final loss."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from scalefit.commands._common import console, escape, print_json, user_command
from scalefit.commands.fit import FAILED_EXIT, LogY

#: Curves written with --out / --plot hold every step up to this length, else this many evenly spaced steps.
MAX_CURVE_STEPS = 50_000


@user_command
def predict(
    fit_json: Annotated[Path, typer.Argument(help="A fit written by scalefit fit --out. Example: fit.json")],
    schedule: Annotated[
        Optional[list[str]],
        typer.Option(help="Schedule spec (repeatable); peak, total and warmup default to the fitted runs'. "
                          "Example: --schedule wsd:decay=0.2,shape=1-sqrt"),
    ] = None,
    schedule_file: Annotated[
        Optional[list[Path]],
        typer.Option(help="Per-step LR file, step,lr (repeatable). Example: --schedule-file lr.csv"),
    ] = None,
    steps: Annotated[Optional[int], typer.Option(help="Total steps for specs without total=. "
                                                      "Example: --steps 48000")] = None,
    peak: Annotated[Optional[float], typer.Option(help="Peak LR for specs without peak=. Example: --peak 6e-4")]
    = None,
    warmup: Annotated[Optional[int], typer.Option(help="Warmup steps for specs without warmup= (and for LR "
                                                       "files, instead of detecting it). Example: --warmup 2160")]
    = None,
    interval: Annotated[float, typer.Option(help="Nominal coverage of the interval. Example: --interval 0.95")]
    = 0.9,
    n_params: Annotated[Optional[float], typer.Option("--params", help="Model size for size-aware laws "
                                                                       "(tissue-n). Example: --params 1.2e8")]
    = None,
    out: Annotated[Optional[Path], typer.Option(help="Write the curves as CSV (schedule,step,loss,lower,upper). "
                                                     "Example: --out curve.csv")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="Save the predicted curves as an image, with a panel of "
                                                      "differences to the baseline below. Example: --plot p.png")]
    = None,
    baseline: Annotated[Optional[str], typer.Option(help="The schedule the others are compared with (the "
                                                         "differences column and panel); default the first given. "
                                                         "Example: --baseline cosine")] = None,
    log_y: LogY = False,
    json: Annotated[bool, typer.Option("--json", help="Print {baseline, predictions: [{schedule, final_loss, lower, "
                                                      "upper, interval, method, extrapolated, reason, impossible, "
                                                      "uninformative, difference}]} as JSON, ranked.")] = False,
) -> None:
    """Predict the final loss (with an interval) of each schedule from a saved fit; several are ranked.

    The interval is the delta-method band of the parameter covariance (not the noise of a single run) plus, when
    the fit measured it (scalefit fit --law-error, the default), the law's own error cross-validated on the
    training runs; it is symmetric in log loss. With several schedules each is also compared with the baseline
    (--baseline, default the first): the difference's interval is much narrower, since the law error that all
    schedules of one fit share cancels in it.
    Predictions far outside the fitted range (more than 2x the steps or the LR area, 1.5x the peak LR) are
    marked as extrapolated. A prediction that cannot be true (a loss <= 0, or below the runs' stated irreducible
    loss, or from a fit that FAILED) is marked NOT A RESULT and never ranked first.

    Exit codes: 0 done; 1 a prediction cannot be true (or the fit FAILED); 2 bad input.

    Example: scalefit predict fit.json --schedule cosine --schedule wsd:decay=0.2 --steps 48000 --out curves.csv
    """
    import numpy as np

    from scalefit import schedules
    from scalefit.errors import FitInputError
    from scalefit.jsonio import check_out_path
    from scalefit.results import FitResult
    from scalefit.results.difference import difference, differences, ranked
    from scalefit.thinning import evenly_spaced

    if out is not None:
        check_out_path(out, flag="--out")
    if plot is not None:
        from scalefit.plots import check_plot_path

        check_plot_path(plot, flag="--plot")
    result = FitResult.from_json(fit_json)
    items: list[tuple[str, Any, Optional[int]]] = []
    for spec in schedule or []:
        lr, w = result.schedule_from_spec(spec, peak=peak, total=steps, warmup=warmup)
        items.append((spec, lr, w))
    for f in schedule_file or []:
        lr = schedules.from_file(f)
        items.append((str(f), lr, warmup if warmup is not None else int(schedules.detect_warmup(lr))))
    if not items:
        raise FitInputError("no schedule to predict. Pass --schedule SPEC or --schedule-file F. "
                            "Example: --schedule cosine:total=48000")
    want_curve = out is not None or plot is not None
    preds = []
    for label, lr, w in items:
        t = int(np.asarray(lr).size)
        if want_curve:
            at = np.arange(t) if t <= MAX_CURVE_STEPS else evenly_spaced(t, 5000)
        else:
            at = np.array([t - 1])
        preds.append(result.predict(lr, warmup=w, interval=interval, n_params=n_params, at=at, label=label))
    order = ranked(preds)
    diffs = differences(result, preds, baseline) if len(preds) > 1 or baseline is not None else []
    base = _base(preds, baseline)
    vs = dict(zip([id(p) for p in preds if p is not base], diffs))  # each schedule's difference to the baseline
    written = []
    if out is not None:
        from scalefit.jsonio import write_text

        rows = ["schedule,step,loss,lower,upper"]
        for p in preds:
            name = '"' + p.label.replace('"', '""') + '"'
            rows.extend(f"{name},{s},{lo!r},{a!r},{b!r}" for s, lo, a, b in
                        zip(p.steps.tolist(), p.loss.tolist(), p.lower.tolist(), p.upper.tolist()))
        write_text(out, "\n".join(rows) + "\n")
        written.append(out)
    if plot is not None:
        from scalefit import plots

        ax = plots.plot_predictions(preds, differences=diffs, ylabel=result.context.target_label, log_y=log_y)
        written.append(plots.save(ax.figure, plot))
    gap = None
    if len(order) > 1 and not (order[0].impossible or order[1].impossible):
        gap = difference(result, order[1], order[0])
    if json:
        keys = ("schedule", "final_step", "final_loss", "lower", "upper", "interval", "method", "extrapolated",
                "reason", "impossible", "uninformative")
        rows_json = []
        for p in order:
            row = {k: p.summary()[k] for k in keys}
            d = vs.get(id(p))
            row["difference"] = None if d is None else {k: d.summary()[k] for k in ("difference", "lower", "upper")}
            rows_json.append(row)
        print_json({"baseline": base.label if diffs else None, "predictions": rows_json,
                    "best_gap": None if gap is None else {"best": gap.baseline, "next": gap.label,
                                                          "gap": gap.final, "lower": gap.final_lower,
                                                          "upper": gap.final_upper}})
    else:
        _print(result, fit_json, interval, order, vs, base if diffs else None, gap, written)
    if any(p.impossible for p in preds):
        raise typer.Exit(FAILED_EXIT)


def _base(preds: list[Any], baseline: Optional[str]) -> Any:
    """The baseline prediction: the one labelled ``baseline``, else the first."""
    return next((p for p in preds if p.label == baseline), preds[0]) if baseline is not None else preds[0]


def _print(result: Any, fit_json: Path, interval: float, order: list[Any], vs: dict[int, Any], base: Any,
           gap: Any, written: list[Path]) -> None:
    """The ranked table: final loss and interval, the difference to the baseline with its own interval, notes."""
    from scalefit.results import INTERVAL_METHODS
    from scalefit.results.report import NO_INFORMATION

    pct = f"{interval * 100:g}%"
    method = order[0].method
    if method == "covariance":
        lines = [f"Predictions of law {result.law} from {fit_json} (interval {pct}: parameter covariance, "
                 "delta method), ranked by final loss",
                 f"  stderr: {result.errors_text()}; the interval is the noise's, not the law's own error (refit "
                 "with --law-error to add it)"]
    else:
        lines = [f"Predictions of law {result.law} from {fit_json} (interval {pct}: {INTERVAL_METHODS[method]}), "
                 "ranked by final loss",
                 f"  stderr: {result.errors_text()}",
                 f"  law error: {result.law_error.text()}"]
        if result.law_error.scale >= 1:
            lines.append(f"  {NO_INFORMATION}")
    if result.failed:
        lines.append("  FAILED: this fit does not describe its runs (scalefit fit says why): no prediction below is "
                     "a result")
    width = max(len(p.label) for p in order)
    vs_head = f"vs {base.label} ({pct})" if base is not None else ""
    vs_width = max(len(vs_head), 26)
    lines += ["", f"  {'#':>2}  {'schedule':<{width}} {'steps':>8} {'final loss':>10} {'lower':>8} {'upper':>8}"
                  + (f"  {vs_head:<{vs_width}}" if base is not None else "") + "  note"]
    rank = 0
    for p in order:
        notes = []
        if p.impossible:
            notes.append("NOT A RESULT: " + p.impossible)
        if p.uninformative:
            notes.append("NO INFORMATION: the interval is wider than the loss itself")
        if p.extrapolated and not p.impossible:
            notes.append("EXTRAPOLATED: " + p.reason)
        rank += not p.impossible
        num = f"{rank:>2}" if not p.impossible else f"{'-':>2}"
        row = (f"  {num}  {p.label:<{width}} {int(p.steps[-1]) + 1:>8d} {p.final_loss:>10.4f} "
               f"{float(p.lower[-1]):>8.4f} {float(p.upper[-1]):>8.4f}")
        if base is not None:
            d = vs.get(id(p))
            cell = "baseline" if p is base else ("-" if d is None or d.impossible else
                                                f"{d.final:+.4f} [{d.final_lower:+.4f}, {d.final_upper:+.4f}]")
            row += f"  {cell:<{vs_width}}"
        lines.append((row + "  " + "; ".join(notes)).rstrip())
    if gap is not None:
        sure = ("the gap's interval excludes 0" if gap.final_lower > 0 or gap.final_upper < 0 else
                "the gap's interval includes 0: not a sure ranking")
        lines += ["", f"  best: {gap.baseline} ({gap.final:.4f} below the next, {pct} interval "
                      f"[{gap.final_lower:.4f}, {gap.final_upper:.4f}]: {sure})"]
    elif order and order[0].impossible:
        lines += ["", "  best: none: no prediction is a result"]
    con = console()
    con.print(escape("\n".join(lines)))
    for path in written:
        con.print(f"wrote {escape(str(path))}")
