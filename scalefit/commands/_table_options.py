"""Options of the commands that read summary tables (``scalefit scaling`` and ``scalefit hparams``), declared once,
and the table loader they share.

``--target`` names the column holding the final loss; ``--loss-column`` is its former name, kept as a hidden alias.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

InputsArg = Annotated[list[Path], typer.Argument(help="Summary tables (CSV) and/or run files. "
                                                      "Example: sweep.csv")]
TargetOpt = Annotated[Optional[str], typer.Option(help="Table column holding the final loss (default 'loss'). "
                                                       "Example: --target smooth_loss")]
LossColumnAlias = Annotated[Optional[str], typer.Option("--loss-column", hidden=True,
                                                        help="Former name of --target.")]
BatchUnitOpt = Annotated[Optional[str], typer.Option(help="Unit of a bare 'batch_size' column: tokens or sequences. "
                                                          "Example: --batch-unit tokens")]
SeqLenOpt = Annotated[Optional[int], typer.Option(help="Sequence length when the table has no seq_len column. "
                                                       "Example: --seq-len 2048")]
ExcludeOpt = Annotated[Optional[str], typer.Option(help="0/1 column whose 1-rows are dropped (default: a column "
                                                        "named 'exclude' or '*_excluded'). Example: --exclude-column "
                                                        "bad")]


def resolve_target(target: Optional[str], loss_column: Optional[str]) -> Optional[str]:
    """``--target``, or its hidden alias ``--loss-column``; both with different values is a user error."""
    from scalefit.errors import FitInputError

    if target is not None and loss_column is not None and target != loss_column:
        raise FitInputError(f"--target {target} and --loss-column {loss_column} disagree; pass only --target.")
    return target if target is not None else loss_column


def load_table(inputs: list[Path], target: Optional[str], batch_unit: Optional[str], seq_len: Optional[int],
               exclude_column: Optional[str], resumed: bool = False, params_column: Optional[str] = None) -> Any:
    """Read every input into one :class:`~scalefit.tables.Table` (shared by hparams and scaling)."""
    from scalefit.tables import read_tables

    return read_tables(inputs, loss_column=target, batch_unit=batch_unit, seq_len=seq_len,
                       exclude_column=exclude_column, resumed=resumed, params_column=params_column)
