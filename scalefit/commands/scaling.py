"""``scalefit scaling``: fit the Chinchilla law L(N, D) = E + A/N^alpha + B/D^beta to finished runs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from scalefit.commands._common import console, escape, print_json, user_command
from scalefit.commands._fit_options import Resumed
from scalefit.commands.hparams import BatchUnitOpt, ExcludeOpt, InputsArg, LossColumnOpt, SeqLenOpt, load_table

if TYPE_CHECKING:
    from scalefit.laws.chinchilla import ScalingFit


@user_command
def scaling(
    inputs: InputsArg,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap refits over runs for the standard errors (0: none). "
                                                "Example: --bootstrap 200")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of every bootstrap draw. Example: --seed 1")] = 0,
    method: Annotated[str, typer.Option(help="vp (exponent grid + BFGS polish, default) or grid (Epoch's 4,500 "
                                             "L-BFGS-B starts, slow). Example: --method grid")] = "vp",
    flops: Annotated[Optional[float], typer.Option(help="Also print the compute-optimal N, D and loss at this "
                                                        "budget. Example: --flops 1e21")] = None,
    loss_column: LossColumnOpt = None,
    batch_unit: BatchUnitOpt = None,
    seq_len: SeqLenOpt = None,
    exclude_column: ExcludeOpt = None,
    resumed: Resumed = False,
    out: Annotated[Optional[Path], typer.Option(help="Write the fit as JSON. Example: --out sc.json")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="Save iso-loss contours with the efficient frontier. "
                                                      "Example: --plot sc.png")] = None,
    json: Annotated[bool, typer.Option("--json", help="Print E, A, B, alpha, beta, stderr as JSON on stdout.")]
    = False,
) -> None:
    """Fit the Chinchilla scaling law to the final losses of runs of several sizes.

    Objective: summed Huber (delta 1e-3) on log residuals, as Besiroglu et al. 2024; intervals from a seeded
    bootstrap over runs. Needs at least 8 runs over 3 model sizes and 3 token counts.

    Example: scalefit scaling runs.csv --bootstrap 200 --out sc.json --plot sc.png
    """
    from scalefit.laws.chinchilla import fit_scaling

    table = load_table(inputs, loss_column, batch_unit, seq_len, exclude_column, resumed)
    result = fit_scaling(table.params, table.tokens, table.loss, bootstrap=bootstrap, seed=seed, method=method,
                         flops=table.flops)
    floor_check = _floor_check(result, table.known_floor())
    if out is not None:
        result.to_json(out)
    if plot is not None:
        from scalefit import plots

        ax = plots.scaling_contours(result, table)
        plots.save(ax.figure, plot)
    if json:
        summary = result.summary()
        if flops is not None:
            summary["optimal"] = result.optimal(flops)
        if floor_check is not None:
            summary["irreducible_loss_check"] = floor_check
        print_json(summary)
        return
    con = console()
    con.print(escape(result.report()))
    if floor_check is not None:
        con.print(f"  note: {escape(str(floor_check['message']))}")
    con.print(f"  compute: {escape(table.compute)}")
    if flops is not None:
        o = result.optimal(flops)
        con.print(f"  at C = {flops:.3g}: N* = {o['params']:.3g} [{o['params_lower']:.3g}, {o['params_upper']:.3g}], "
                  f"D* = {o['tokens']:.3g} [{o['tokens_lower']:.3g}, {o['tokens_upper']:.3g}], loss "
                  f"{o['loss']:.4f} (90% bootstrap intervals)")
    for path in (out, plot):
        if path is not None:
            con.print(f"wrote {escape(str(path))}")


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
