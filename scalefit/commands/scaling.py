"""``scalefit scaling``: compute-optimal analysis of finished runs: a loss law L(N, D) (approach 3), isoFLOP
profiles (approach 2), the lower envelope (approach 1), all three side by side, and predictions of new runs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from scalefit.commands._common import console, escape, print_json, user_command
from scalefit.commands._fit_options import Resumed
from scalefit.commands._progress import progress_bar
from scalefit.commands._table_options import (BatchUnitOpt, ExcludeOpt, InputsArg, LossColumnAlias, SeqLenOpt,
                                              TargetOpt, load_table, resolve_target)

if TYPE_CHECKING:
    from scalefit.scaling.result import ScalingFit

METHODS = ("vp", "grid", "isoflop", "envelope", "all")


@user_command
def scaling(
    inputs: InputsArg,
    method: Annotated[str, typer.Option(help="vp: fit the loss law (approach 3; exponent grid + BFGS, default); grid: "
                                             "the same from Epoch's 4,500 L-BFGS-B starts (slow); isoflop: isoFLOP "
                                             "profiles (approach 2); envelope: lower envelope over compute (approach "
                                             "1); all: the three approaches' exponents side by side. "
                                             "Example: --method isoflop")] = "vp",
    law: Annotated[Optional[str], typer.Option(help="Loss law: overtrain (Gadre et al. 2024, the default: best on "
                                                    "held-out bigger runs), chinchilla (Hoffmann et al. 2022), or all "
                                                    "(fit each and compare). Example: --law chinchilla")] = None,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples of the runs for every interval (0: none). "
                                                "Example: --bootstrap 200")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of every bootstrap draw. Example: --seed 1")] = 0,
    flops: Annotated[Optional[float], typer.Option(help="Also print the compute-optimal N, D (and loss) at this "
                                                        "budget. Example: --flops 1e21")] = None,
    predict: Annotated[Optional[Path], typer.Option(help="Predict the loss of the runs in this table (columns params, "
                                                         "tokens, optional flops), with intervals. "
                                                         "Example: --predict big.csv")] = None,
    interval: Annotated[float, typer.Option(help="Coverage of prediction and allocation intervals. "
                                                 "Example: --interval 0.8")] = 0.9,
    flops_tolerance: Annotated[float, typer.Option(help="isoFLOP: runs within this relative distance of a budget's "
                                                        "compute belong to it. Example: --flops-tolerance 0.05")] = 0.1,
    budgets: Annotated[Optional[str], typer.Option(help="isoFLOP: the sweep's nominal budgets (comma-separated "
                                                        "FLOPs); each run joins the nearest. Example: --budgets "
                                                        "6e18,1e19,3e19")] = None,
    target: TargetOpt = None,
    loss_column: LossColumnAlias = None,
    batch_unit: BatchUnitOpt = None,
    seq_len: SeqLenOpt = None,
    exclude_column: ExcludeOpt = None,
    resumed: Resumed = False,
    out: Annotated[Optional[Path], typer.Option(help="Write the result as JSON. Example: --out sc.json")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="Save a figure: iso-loss contours of the law, or the isoFLOP "
                                                      "curves with their minima and the frontier. "
                                                      "Example: --plot sc.png")] = None,
    json: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")] = False,
) -> None:
    """Compute-optimal analysis of the final losses of runs of several sizes.

    The loss law (--method vp) is fitted by summed Huber (delta 1e-3) on log residuals (Besiroglu et al. 2024);
    intervals come from a seeded bootstrap over runs, and predictions beyond the runs also carry the law's own
    extrapolation error, measured by refitting on the smaller sizes. The fit says when the runs cannot pin the law
    (E at a bound, log N and log D nearly collinear, bootstrap spreads as large as the values).

    Example: scalefit scaling runs.csv --method all --plot iso.png
    """
    if method not in METHODS:
        from scalefit.errors import FitInputError

        raise FitInputError(f"unknown method {method!r}; use one of {', '.join(METHODS)}.", value=method)
    table = load_table(inputs, resolve_target(target, loss_column), batch_unit, seq_len, exclude_column, resumed)
    nominal = _budgets(budgets)
    if method in ("isoflop", "envelope", "all"):
        _approaches(method, inputs, table, bootstrap, seed, interval, flops_tolerance, nominal, flops, out, plot,
                    json)
        return
    if law == "all":
        _compare_laws(table, bootstrap, seed, method, json)
        return
    from scalefit.scaling.fit import fit_scaling

    with progress_bar(f"scaling {method}") as bar:
        result = fit_scaling(table.params, table.tokens, table.loss, law=law, bootstrap=bootstrap, seed=seed,
                             method=method, flops=table.flops, progress=bar)
    preds = None
    if predict is not None:
        preds = _predictions(result, predict, interval)
    floor_check = _floor_check(result, table.known_floor())
    if out is not None:
        result.to_json(out)
    if plot is not None:
        from scalefit import plots

        ax = plots.scaling_contours(result, table)
        plots.save(ax.figure, plot)
    if json:
        summary: dict[str, Any] = result.summary()
        if flops is not None:
            summary["optimal"] = result.optimal(flops, interval)
        if floor_check is not None:
            summary["irreducible_loss_check"] = floor_check
        if preds is not None:
            from scalefit.scaling.predict import METHOD

            summary = {"predictions": [p.summary() for p in preds], "law": result.law, "interval": interval,
                       "interval_method": METHOD, "fit": summary}
        print_json(summary)
        return
    con = console()
    con.print(escape(result.report()))
    if floor_check is not None:
        con.print(f"  note: {escape(str(floor_check['message']))}")
    con.print(f"  compute: {escape(table.compute)}")
    if flops is not None:
        o = result.optimal(flops, interval)
        con.print(f"  at C = {flops:.3g}: N* = {o['params']:.3g} [{o['params_lower']:.3g}, {o['params_upper']:.3g}], "
                  f"D* = {o['tokens']:.3g} [{o['tokens_lower']:.3g}, {o['tokens_upper']:.3g}], loss "
                  f"{o['loss']:.4f} ({interval:.0%} bootstrap intervals)")
    if preds is not None:
        from scalefit.scaling.predict import predictions_report

        con.print(escape(predictions_report(preds, interval, result.law)))
    for path in (out, plot):
        if path is not None:
            con.print(f"wrote {escape(str(path))}")


def _budgets(text: Optional[str]) -> Optional[list[float]]:
    if text is None:
        return None
    from scalefit.errors import FitInputError

    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise FitInputError(f"--budgets {text!r} is not a comma-separated list of FLOPs such as 6e18,1e19.",
                            value=text) from None
    if not values or any(not (math.isfinite(v) and v > 0) for v in values):
        raise FitInputError(f"--budgets {text!r}: every budget must be a positive number of FLOPs.", value=text)
    return values


def _predictions(result: ScalingFit, path: Path, interval: float) -> list[Any]:
    from scalefit.scaling.predict import predict_losses
    from scalefit.tables import read_points

    pts = read_points(path)
    return predict_losses(result, pts.params, pts.tokens, pts.flops, interval=interval)


def _curves(inputs: list[Path]) -> Any:
    """Loss curves of the run files among the inputs (None when every input is a summary table)."""
    from scalefit.tables import is_run_file

    runs = [str(p) for p in inputs if is_run_file(p) and Path(p).exists()]
    if not runs:
        return None
    from scalefit.readers import read_runs
    from scalefit.scaling.envelope import curves_from_runs

    return curves_from_runs(read_runs(runs))


def _approaches(method: str, inputs: list[Path], table: Any, bootstrap: int, seed: int, interval: float,
                tol: float, nominal: Any, flops: Optional[float], out: Optional[Path], plot: Optional[Path],
                json: bool) -> None:
    from scalefit.jsonio import write_json

    result: Any
    iso = None
    if method == "isoflop":
        from scalefit.scaling.isoflop import fit_isoflop

        result = iso = fit_isoflop(table.params, table.tokens, table.loss, flops=table.flops, tol=tol,
                                   budgets=nominal, bootstrap=bootstrap, seed=seed, level=interval,
                                   compute=table.compute)
    elif method == "envelope":
        from scalefit.scaling.envelope import fit_envelope

        result = fit_envelope(_curves(inputs), params=table.params, tokens=table.tokens, loss=table.loss,
                              bootstrap=bootstrap, seed=seed, level=interval)
    else:
        from scalefit.scaling.approaches import compare

        with progress_bar("three approaches") as bar:
            result = compare(table.params, table.tokens, table.loss, flops=table.flops, curves=_curves(inputs),
                             bootstrap=bootstrap, seed=seed, level=interval, tol=tol, budgets=nominal, progress=bar)
        iso = result.fits.get("isoflop")
    summary = result.summary()
    if flops is not None and hasattr(result, "optimal"):
        summary["optimal"] = result.optimal(flops, interval)
    if out is not None:
        from scalefit.planning.allocation import frontier_records

        # the frontiers with their bootstrap draws, so that `scalefit plan --isoflop` keeps their intervals
        write_json(out, {"schema": f"scalefit.{method}/1", **summary, "frontiers": frontier_records(result)})
    if plot is not None and iso is None:
        import warnings

        from scalefit.errors import AssumptionWarning

        warnings.warn("no plot written: --plot draws the isoFLOP profiles, and these runs form no compute budgets "
                      "(see the isoFLOP row).", AssumptionWarning, stacklevel=2)
        plot = None
    if plot is not None:
        from scalefit import plots
        from scalefit.scaling.plots import isoflop_figure

        plots.save(isoflop_figure(iso, table.params, table.loss, result if method == "all" else None), plot)
    if json:
        print_json(summary)
        return
    con = console()
    con.print(escape(result.report()))
    if method == "all":
        for fit in result.fits.values():
            con.print(escape(fit.report()))
    if "optimal" in summary:
        o = summary["optimal"]
        con.print(f"  at C = {flops:.3g}: N* = {o['params']:.3g} [{o['params_lower']:.3g}, {o['params_upper']:.3g}], "
                  f"D* = {o['tokens']:.3g} [{o['tokens_lower']:.3g}, {o['tokens_upper']:.3g}] "
                  f"({interval:.0%} intervals)")
    for path in (out, plot):
        if path is not None:
            con.print(f"wrote {escape(str(path))}")


def _compare_laws(table: Any, bootstrap: int, seed: int, method: str, json: bool) -> None:
    """--law all: fit every registered law and show how each extrapolated in its own forward folds."""
    from scalefit.scaling.compare_laws import compare_laws

    cmp = compare_laws(table.params, table.tokens, table.loss, bootstrap=bootstrap, seed=seed, method=method,
                       flops=table.flops)
    if json:
        print_json(cmp.summary())
        return
    console().print(escape(cmp.report()))


def _floor_check(result: ScalingFit, floor: float | None) -> dict[str, object] | None:
    """When the runs state their data's irreducible loss, compare the fitted E (the law's own floor) with it.

    Returns None without a stated floor, else ``E``, ``E_stderr``, ``floor``, a ``verdict`` (``consistent``,
    ``below_within_2sd``, ``below``, ``below_no_bootstrap``) and the ``message`` the report prints.
    """
    if floor is None:
        return None
    e, se = float(result.values["E"]), float(result.stderr.get("E", math.nan))
    err = "" if math.isnan(se) else f" +- {se:.3g}"
    head = (f"E = {e:.4g}{err} lies below the data's irreducible loss {floor!r} (run metadata), the floor no model "
            "can go below; ")
    if e >= floor:
        verdict = "consistent"
        message = f"E = {e:.4g}{err} against the data's irreducible loss {floor!r} (run metadata): consistent."
    elif math.isnan(se):
        verdict, message = "below_no_bootstrap", head + "pass --bootstrap to see whether the runs pin E."
    elif floor - e <= 2 * se:
        verdict, message = "below_within_2sd", head + "within 2 bootstrap sd, so the runs do not pin E."
    else:
        verdict = "below"
        message = head + "more than 2 bootstrap sd below: the runs do not support the law's asymptote."
    return {"E": e, "E_stderr": None if math.isnan(se) else se, "floor": floor, "verdict": verdict,
            "message": message}
