"""``scalefit hparams``: fit optimal-LR and optimal-batch-size laws to a sweep (Step Law or DeepSeek form), and
``scalefit hparams-predict``: query a saved fit at a new (N, D).

Input: summary tables (one row per run; see ``scalefit/tables``) and/or run files (a ``step`` column), whose
final loss is their last observed ``val_loss`` (else the target). ``--target``, ``--batch-unit``, ``--seq-len``
and ``--exclude-column`` are shared with ``scalefit scaling`` (``scalefit/commands/_table_options.py``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from scalefit.commands._common import console, escape, print_json, user_command
from scalefit.commands._fit_options import Resumed
from scalefit.commands._table_options import (BatchUnitOpt, ExcludeOpt, InputsArg, LossColumnAlias, SeqLenOpt,
                                              TargetOpt, load_table, resolve_target)

ParamsColumnOpt = Annotated[Optional[str], typer.Option(
    help="Table column (or run metadata key) holding N. For a mixture-of-experts grid give the ACTIVE parameters "
         "per token (total parameters barely vary across such a grid, so their exponent is not identifiable). "
         "Example: --params-column active_params")]
PredictOpt = Annotated[Optional[list[str]], typer.Option(
    help="Also print lr* and B* with intervals at N,D (repeatable; C for --form deepseek). "
         "Example: --predict 1e9,2e10")]


@user_command
def hparams(
    inputs: InputsArg,
    form: Annotated[str, typer.Option(help="Law form: steplaw (lr = a N^b D^c, B = d D^e; Li et al. 2025) or "
                                           "deepseek (lr = a C^b, B = d C^e). Example: --form deepseek")] = "steplaw",
    tol: Annotated[float, typer.Option(help="Keep runs within this relative loss of their cell's best as "
                                            "near-optimal. Example: --tol 0.0025")] = 0.0025,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap refits for the intervals (0: none). "
                                                "Example: --bootstrap 1000")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of every bootstrap draw. Example: --seed 1")] = 0,
    params_column: ParamsColumnOpt = None,
    predict: PredictOpt = None,
    interval: Annotated[float, typer.Option(help="Coverage of the --predict intervals. Example: --interval 0.8")]
    = 0.9,
    target: TargetOpt = None,
    loss_column: LossColumnAlias = None,
    batch_unit: BatchUnitOpt = None,
    seq_len: SeqLenOpt = None,
    exclude_column: ExcludeOpt = None,
    resumed: Resumed = False,
    out: Annotated[Optional[Path], typer.Option(help="Write the fit as JSON. Example: --out hp.json")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="Save loss heatmaps over (lr, batch size) per cell with the "
                                                      "fitted optimum. Example: --plot hp.png")] = None,
    json: Annotated[bool, typer.Option("--json", help="Print the laws as JSON on stdout.")] = False,
) -> None:
    """Fit the optimal peak-LR and batch-size laws to an LR x batch-size sweep.

    Per cell (one (N, D) pair, or one compute budget for --form deepseek) the runs within --tol of the best loss
    are kept; log lr and log B of those runs are regressed on log N, log D (or log C); a seeded bootstrap gives
    the intervals. Each cell's optimum is also located by a quadratic in (log lr, log B), and each cell is
    predicted from the others (leave-one-cell-out error, printed with the fit).

    Example: scalefit hparams sweep.csv --target smooth_loss --predict 1e9,2e10 --out hp.json
    """
    from scalefit.scaling.hparams import fit_table

    table = load_table(inputs, resolve_target(target, loss_column), batch_unit, seq_len, exclude_column, resumed,
                       params_column)
    result = fit_table(table, form=form, tol=tol, bootstrap=bootstrap, seed=seed)
    queries = [_query(result, text, interval) for text in predict or ()]
    if out is not None:
        result.to_json(out)
    if plot is not None:
        from scalefit import plots

        fig = plots.hparam_heatmaps(table, result)
        plots.save(fig, plot)
    if json:
        summary = result.summary()
        if queries:
            summary["predictions"] = queries
        print_json(summary)
        return
    con = console()
    con.print(escape(result.report()))
    con.print(f"  compute: {escape(table.compute)}")
    con.print("cells (best run; cell quadratic optimum with 95% CI; law optimum; cell loss at the law optimum):")
    con.print(f"{'N':>9} {'D':>9} {'runs':>5} {'kept':>4} {'best loss':>9} {'best lr':>9} {'best B':>9} "
              f"{'quad lr* [95% CI]':>28} {'law lr':>9} {'law B':>9} {'loss@law':>17}")
    for c in result.cells:
        q = "-" if c.quad_lr != c.quad_lr else f"{c.quad_lr:.3g} [{c.quad_lr_ci[0]:.3g}, {c.quad_lr_ci[1]:.3g}]"
        gap = "-" if c.loss_at_law != c.loss_at_law else f"{c.loss_at_law:.4f} ({c.loss_at_law / c.best_loss - 1:+.2%})"
        con.print(f"{c.params:>9.3g} {c.tokens:>9.3g} {c.n_runs:>5} {c.n_kept:>4} {c.best_loss:>9.4f} "
                  f"{c.best_lr:>9.3g} {c.best_batch_size:>9.3g} {q:>28} {c.law_lr:>9.3g} {c.law_batch_size:>9.3g} "
                  f"{gap:>17}")
    for q in queries:
        con.print(escape(_query_line(q, interval)))
    for path in (out, plot):
        if path is not None:
            con.print(f"wrote {escape(str(path))}")


@user_command
def hparams_predict(
    fit: Annotated[Path, typer.Argument(help="A fit written by scalefit hparams --out. Example: hp.json")],
    params: Annotated[Optional[float], typer.Option(help="Model size N. Example: --params 1e9")] = None,
    tokens: Annotated[Optional[float], typer.Option(help="Training tokens D. Example: --tokens 2e10")] = None,
    flops: Annotated[Optional[float], typer.Option(help="Compute C (the deepseek form, or with one of N, D). "
                                                        "Example: --flops 1e20")] = None,
    interval: Annotated[float, typer.Option(help="Coverage of the intervals. Example: --interval 0.8")] = 0.9,
    json: Annotated[bool, typer.Option("--json", help="Print lr*, B* and their intervals as JSON.")] = False,
) -> None:
    """Optimal peak LR and batch size (tokens) at a new (N, D) from a saved hyperparameter fit, with bootstrap
    intervals, flagged when N, D or C lies outside the fitted range.

    Example: scalefit hparams-predict hp.json --params 1e9 --tokens 2e10
    """
    from scalefit.scaling.hparam_result import HparamFit

    result = HparamFit.from_json(fit)
    q = _predict(result, params, tokens, flops, interval)
    if json:
        print_json(q)
        return
    console().print(escape(_query_line(q, interval)))


def _predict(result: Any, N: Optional[float], D: Optional[float], C: Optional[float], interval: float) -> dict:
    from scalefit.errors import FitInputError

    for name, v in (("params", N), ("tokens", D), ("flops", C)):
        if v is not None and not (math.isfinite(v) and v > 0):
            raise FitInputError(f"--{name} is {v}; it must be a positive number such as 1e9.", value=v)
    if not 0 < interval < 1:
        raise FitInputError(f"--interval {interval} must be a fraction in (0, 1), e.g. 0.9.", value=interval)
    p = result.predict(N=N, D=D, C=C, interval=interval)
    return {"params": N, "tokens": D, "flops": C if C is not None else (6.0 * N * D if N and D else None), **p,
            "interval": interval}


def _query(result: Any, text: str, interval: float) -> dict:
    """``--predict N,D`` (or ``C`` for the deepseek form)."""
    from scalefit.errors import FitInputError

    try:
        values = [float(x) for x in text.split(",")]
    except ValueError:
        values = []
    if result.form == "deepseek" and len(values) == 1:
        return _predict(result, None, None, values[0], interval)
    if len(values) != 2:
        raise FitInputError(f"--predict {text!r}: give N,D such as 1e9,2e10 (or C alone for --form deepseek).",
                            value=text)
    return _predict(result, values[0], values[1], None, interval)


def _query_line(q: dict, interval: float) -> str:
    where = ", ".join(f"{k} = {q[k]:.3g}" for k in ("params", "tokens", "flops") if q.get(k) is not None)
    bs = ("-" if not math.isfinite(q["batch_size"]) else
          f"{q['batch_size']:.4g} [{q['batch_size_lower']:.4g}, {q['batch_size_upper']:.4g}]")
    ext = f"; extrapolated in {', '.join(q['extrapolated'])}" if q["extrapolated"] else ""
    return (f"at {where}: lr* = {q['lr']:.4g} [{q['lr_lower']:.4g}, {q['lr_upper']:.4g}], B* = {bs} tokens "
            f"({interval:.0%} bootstrap intervals{ext})")
