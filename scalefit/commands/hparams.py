"""``scalefit hparams``: fit optimal-LR and optimal-batch-size laws to a sweep (Step Law or DeepSeek form).

Input: summary tables (one row per run; see ``scalefit/tables.py``) and/or run files (a ``step`` column), whose
final loss is their last observed ``val_loss`` (else the target). ``--loss-column``, ``--batch-unit``,
``--seq-len`` and ``--exclude-column`` are shared with ``scalefit scaling``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from scalefit.commands._common import console, escape, print_json, user_command
from scalefit.commands._fit_options import Resumed

InputsArg = Annotated[list[Path], typer.Argument(help="Summary tables (CSV) and/or run files. "
                                                      "Example: sweep.csv")]
LossColumnOpt = Annotated[Optional[str], typer.Option(help="Table column holding the final loss (default 'loss'). "
                                                           "Example: --loss-column smooth_loss")]
BatchUnitOpt = Annotated[Optional[str], typer.Option(help="Unit of a bare 'batch_size' column: tokens or sequences. "
                                                          "Example: --batch-unit tokens")]
SeqLenOpt = Annotated[Optional[int], typer.Option(help="Sequence length when the table has no seq_len column. "
                                                       "Example: --seq-len 2048")]
ExcludeOpt = Annotated[Optional[str], typer.Option(help="0/1 column whose 1-rows are dropped (default: a column "
                                                        "named 'exclude' or '*_excluded'). Example: --exclude-column "
                                                        "bad")]


def load_table(inputs: list[Path], loss_column: Optional[str], batch_unit: Optional[str], seq_len: Optional[int],
               exclude_column: Optional[str], resumed: bool = False) -> Any:
    """Read every input into one Table (shared by hparams and scaling)."""
    from scalefit.tables import read_tables

    return read_tables(inputs, loss_column=loss_column, batch_unit=batch_unit, seq_len=seq_len,
                       exclude_column=exclude_column, resumed=resumed)


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
    loss_column: LossColumnOpt = None,
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
    the intervals. Each cell's optimum is also located by a quadratic in (log lr, log B).

    Example: scalefit hparams sweep.csv --loss-column smooth_loss --out hp.json --plot hp.png
    """
    from scalefit.laws.hyperparams import fit_table

    table = load_table(inputs, loss_column, batch_unit, seq_len, exclude_column, resumed)
    result = fit_table(table, form=form, tol=tol, bootstrap=bootstrap, seed=seed)
    if out is not None:
        result.to_json(out)
    if plot is not None:
        from scalefit import plots

        fig = plots.hparam_heatmaps(table, result)
        plots.save(fig, plot)
    if json:
        print_json(result.summary())
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
    for path in (out, plot):
        if path is not None:
            con.print(f"wrote {escape(str(path))}")
