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
    scaling: Annotated[Optional[Path], typer.Option(help="Loss law L(N, D) from scalefit scaling --out: the final "
                                                         "loss and its interval. Example: --scaling sc.json")] = None,
    isoflop: Annotated[Optional[Path], typer.Option(help="Compute-optimal frontier from scalefit scaling --method "
                                                         "isoflop (or all, or envelope) --out: N* and D*. "
                                                         "Example: --isoflop iso.json")] = None,
    curve: Annotated[Optional[Path], typer.Option(help="Curve-law fit from scalefit fit --out: the schedule and the "
                                                       "whole loss curve of the planned run (a size-aware law, such as "
                                                       "tissue-n, at the planned N). Example: --curve fit.json")]
    = None,
    params: Annotated[Optional[float], typer.Option(help="Fix the model size N (non-embedding). "
                                                         "Example: --params 1e9")] = None,
    tokens: Annotated[Optional[float], typer.Option(help="Fix the training tokens D. Example: --tokens 2e10")]
    = None,
    interval: Annotated[float, typer.Option(help="Coverage of the loss interval. Example: --interval 0.9")] = 0.9,
    json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON on stdout.")] = False,
) -> None:
    """Plan a training run for a compute budget from fitted laws.

    N and D come from the isoFLOP frontier (--isoflop) or the loss law's compute-optimal allocation (or --params /
    --tokens with C = 6ND); batch size and peak LR from the hyperparameter laws; the schedule from the optimizer
    when a curve fit is given (else WSD with a 20% linear cooldown); the final loss from the loss law (a new run's
    interval), and the whole curve from the curve law, checked against it. Every interval, and the factor by which
    each law is extrapolated, is printed.

    Exit codes: 0 done; 1 the curve fit FAILED or predicts a loss <= 0 for the planned run (the warning says
    which); 2 bad input.

    Example: scalefit plan --flops 1e21 --isoflop iso.json --scaling sc.json --hparams hp.json
    """
    import warnings

    from scalefit.commands.fit import FAILED_EXIT
    from scalefit.errors import FitFailedWarning, ScalefitWarning
    from scalefit.planning import Frontier
    from scalefit.planning import plan as make_plan

    hp = sc = cv = fr = None
    if hparams is not None:
        from scalefit.scaling.hparam_result import HparamFit

        hp = HparamFit.from_json(hparams)
    if scaling is not None:
        from scalefit.scaling.result import ScalingFit

        sc = ScalingFit.from_json(scaling)
    if isoflop is not None:
        fr = Frontier.from_json(isoflop)
    if curve is not None:
        from scalefit.results import FitResult

        cv = FitResult.from_json(curve)
    with warnings.catch_warnings(record=True) as caught:  # re-warned below: the CLI prints each once
        warnings.simplefilter("always", ScalefitWarning)
        result = make_plan(flops, hparams=hp, scaling=sc, curve=cv, frontier=fr, params=params, tokens=tokens,
                           interval=interval)
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    bad = [str(w.message) for w in caught if issubclass(w.category, FitFailedWarning)]  # a loss that is no result
    if json:
        print_json({**result.summary(), "not_a_result": bad} if bad else result.summary())
    else:
        console().print(escape(result.report()))
        if bad:
            console().print("NOT A RESULT: the curve law's loss cannot be true (a loss <= 0, or a fit that FAILED; "
                            "the warnings say which): do not plan on it.")
    if bad:
        raise typer.Exit(FAILED_EXIT)
