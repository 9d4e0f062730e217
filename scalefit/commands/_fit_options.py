"""Options shared by ``scalefit fit`` and ``scalefit evaluate`` (declared once: same names, help and examples)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from scalefit.commands._read_options import Resumed, ScheduleDir, Warmup  # noqa: F401 - re-exported

from scalefit.laws import LAWS

PRIOR_HELP = ("Gaussian prior on log(parameter) as name=sd (centred on the law's typical value) or "
              "name=centre:sd (repeatable); 'none' drops the law's default prior. Example: --prior beta=1")
LAWS_HELP = (f"Law: {LAWS.help_text()}, or all (fit each and compare: the size-blind laws, or the size-aware ones "
             "for runs of several model sizes). Default: mpl, or mpl-n when the runs differ in model size "
             "('params').")

Law = Annotated[Optional[str], typer.Option(help=LAWS_HELP + " Example: --law tissue")]
AllowMixedSizes = Annotated[
    bool,
    typer.Option("--mixed-sizes",
                 help="Let a size-blind law (mpl, tissue) fit runs of several model sizes as one model (otherwise an "
                      "error: their differences in loss would count as misfit). Example: --law mpl "
                      "--mixed-sizes"),
]
Errors = Annotated[
    str,
    typer.Option(help="Residual model behind stderr and intervals: ar1 (widened by the residuals' measured lag-1 "
                      "autocorrelation; loss curves are autocorrelated) or iid (independent). Example: --errors iid"),
]
LawErrorOpt = Annotated[
    bool,
    typer.Option("--law-error/--no-law-error",
                 help="Measure the law's own error by cross-validation on the runs (forward chaining at 50%/70% "
                      "and leave-one-run-out: 2 extra fits, plus one per run when there are several) and add it to "
                      "prediction intervals; without it intervals carry the noise only."),
]
Seed = Annotated[int, typer.Option(help="Seed of the deterministic multi-start. Example: --seed 1")]
Starts = Annotated[int, typer.Option(help="Number of starts of the nonlinear search. Example: --starts 128")]
Bounds = Annotated[
    Optional[list[str]],
    typer.Option(help="Override a parameter's bounds as name=lo:hi (repeatable). Example: --bounds alpha=0.1:1"),
]
Fix = Annotated[
    Optional[list[str]],
    typer.Option(help="Hold a parameter at a value as name=value (repeatable). Example: --fix lam=0.999"),
]
Prior = Annotated[Optional[list[str]], typer.Option(help=PRIOR_HELP)]
