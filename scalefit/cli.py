"""The ``scalefit`` command line: parse, call the library, print with rich, write JSON and PNG.

Each command lives in its own module under ``scalefit/commands/`` (typer's one-file-per-command layout), so
that the commands can grow independently; this file only assembles the app. Startup stays fast because the
command modules import the library inside their functions.
"""

from __future__ import annotations

from typing import Annotated

import typer

from scalefit import __version__
from scalefit.commands._common import multi_value_command

app = typer.Typer(
    name="scalefit",
    help="Predict language-model training loss from a few short runs: fit loss-curve laws, predict "
    "unseen schedules, optimise the schedule and plan a compute budget.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"scalefit {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", callback=_version, is_eager=True)
    ] = False,
) -> None:
    """Predict language-model training loss from a few short runs.

    Example: scalefit fit data/runs/tiny_*.csv --law mpl
    """


# ---- commands: one module each (keep this list in the order of the README tour) ----
from scalefit.commands.schedule import schedule  # noqa: E402

app.command()(schedule)
from scalefit.commands.hparams import hparams, hparams_predict  # noqa: E402

app.command()(hparams)
app.command("hparams-predict")(hparams_predict)
from scalefit.commands.scaling import scaling  # noqa: E402

app.command()(scaling)
from scalefit.commands.plan import plan  # noqa: E402

app.command()(plan)
from scalefit.commands.train import train  # noqa: E402
app.command()(train)
from scalefit.commands.sweep import sweep  # noqa: E402
app.command()(sweep)
from scalefit.commands.fit import fit  # noqa: E402

app.command()(fit)
from scalefit.commands.evaluate import evaluate  # noqa: E402

app.command(cls=multi_value_command("--train", "--test"))(evaluate)
from scalefit.commands.predict import predict  # noqa: E402

app.command()(predict)
from scalefit.commands.forecast import forecast  # noqa: E402

app.command(cls=multi_value_command("--like"))(forecast)
from scalefit.commands.inspect import inspect  # noqa: E402

app.command()(inspect)
from scalefit.commands.optimize import optimize  # noqa: E402

app.command()(optimize)
