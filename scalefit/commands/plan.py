"""``scalefit plan``: model size, tokens, batch size, peak LR, schedule and predicted loss for a compute budget."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from scalefit.commands._common import console, escape, print_json, user_command


@user_command
def plan(
    flops: Annotated[Optional[float], typer.Option(help="Compute budget C in FLOPs (C = 6ND). Example: --flops 1e21")]
    = None,
    hparams: Annotated[Optional[Path], typer.Option(help="Hyperparameter laws from scalefit hparams --out. "
                                                         "Example: --hparams hp.json")] = None,
    scaling: Annotated[Optional[Path], typer.Option(help="Scaling law from scalefit scaling --out. "
                                                         "Example: --scaling sc.json")] = None,
    curve: Annotated[Optional[Path], typer.Option(help="Curve-law fit from scalefit fit --out (loss of the planned "
                                                       "schedule). Example: --curve fit.json")] = None,
    params: Annotated[Optional[float], typer.Option(help="Fix the model size N (non-embedding). "
                                                         "Example: --params 1e9")] = None,
    tokens: Annotated[Optional[float], typer.Option(help="Fix the training tokens D. Example: --tokens 2e10")]
    = None,
    interval: Annotated[float, typer.Option(help="Coverage of the loss interval. Example: --interval 0.9")] = 0.9,
    json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON on stdout.")] = False,
) -> None:
    """Plan a training run for a compute budget from fitted laws.

    N and D come from the scaling law's compute-optimal allocation (or --params / --tokens with C = 6ND); batch
    size and peak LR from the hyperparameter law; the schedule from the optimizer when a curve fit is given (else
    WSD with a 20% linear cooldown); the loss from the curve law if given, else the scaling law.

    Example: scalefit plan --flops 1e21 --scaling sc.json --hparams hp.json
    """
    from scalefit.planning import plan as make_plan

    hp = sc = cv = None
    if hparams is not None:
        from scalefit.scaling.hparam_result import HparamFit

        hp = HparamFit.from_json(hparams)
    if scaling is not None:
        from scalefit.scaling.result import ScalingFit

        sc = ScalingFit.from_json(scaling)
    if curve is not None:
        from scalefit.results import FitResult

        cv = FitResult.from_json(curve)
    result = make_plan(flops, hparams=hp, scaling=sc, curve=cv, params=params, tokens=tokens, interval=interval)
    if json:
        print_json(result.summary())
        return
    console().print(escape(result.report()))
