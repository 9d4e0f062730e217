"""``scalefit predict``: predict the loss of one or more LR schedules from a saved fit, ranked by final loss."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from scalefit.commands._common import console, escape, print_json, user_command

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
    plot: Annotated[Optional[Path], typer.Option(help="Save the predicted curves as PNG. Example: --plot p.png")]
    = None,
    json: Annotated[bool, typer.Option("--json", help="Print {predictions: [{schedule, final_loss, lower, upper, "
                                                      "interval, method, extrapolated}]} as JSON.")] = False,
) -> None:
    """Predict the final loss (with an interval) of each schedule from a saved fit; several are ranked.

    The interval is the delta-method band of the parameter covariance (not the noise of a single run) plus, when
    the fit measured it (scalefit fit --law-error, the default), the law's own error cross-validated on the
    training runs.
    Predictions far outside the fitted range (more than 2x the steps or the LR area, 1.5x the peak LR) are
    marked as extrapolated.

    Example: scalefit predict fit.json --schedule cosine --schedule wsd:decay=0.2 --steps 48000 --out curves.csv
    """
    import numpy as np

    from scalefit import schedules
    from scalefit.errors import FitInputError
    from scalefit.results import FitResult
    from scalefit.thinning import evenly_spaced

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
    ranked = sorted(preds, key=lambda p: p.final_loss)
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

        ax = plots.plot_predictions(preds)
        plots.save(ax.figure, plot)
        written.append(plot)
    if json:
        print_json({"predictions": [{k: p.summary()[k] for k in
                                     ("schedule", "final_step", "final_loss", "lower", "upper", "interval",
                                      "method", "extrapolated", "reason")} for p in ranked]})
        return
    width = max(len(p.label) for p in preds)
    pct = f"{interval * 100:g}%"
    from scalefit.results import INTERVAL_METHODS

    method = preds[0].method
    if method == "covariance":
        what = [f"Predictions of law {result.law} from {fit_json} (interval {pct}: parameter covariance, "
                "delta method), ranked by final loss",
                f"  stderr: {result.errors_text()}; the interval is the noise's, not the law's own error (refit "
                "with --law-error to add it)"]
    else:
        what = [f"Predictions of law {result.law} from {fit_json} (interval {pct}: {INTERVAL_METHODS[method]}), "
                "ranked by final loss",
                f"  stderr: {result.errors_text()}",
                f"  law error: {result.law_error.text()}"]
    lines = what + ["",
             f"  {'#':>2}  {'schedule':<{width}} {'steps':>8} {'final loss':>10} {'lower':>8} {'upper':>8}  note"]
    for i, p in enumerate(ranked, 1):
        note = "EXTRAPOLATED: " + p.reason if p.extrapolated else ""
        lines.append(f"  {i:>2}  {p.label:<{width}} {int(p.steps[-1]) + 1:>8d} {p.final_loss:>10.4f} "
                     f"{float(p.lower[-1]):>8.4f} {float(p.upper[-1]):>8.4f}  {note}".rstrip())
    if len(ranked) > 1:
        gap = ranked[1].final_loss - ranked[0].final_loss
        lines.append("")
        lines.append(f"  best: {ranked[0].label} ({gap:.4f} below the next)")
    con = console()
    con.print(escape("\n".join(lines)))
    for path in written:
        con.print(f"wrote {escape(str(path))}")
