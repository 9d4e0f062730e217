"""``scalefit optimize``: the per-step LR schedule that minimises a fitted law's predicted final loss."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from scalefit.commands._common import console, escape, print_json, user_command


@user_command
def optimize(
    fit_json: Annotated[Path, typer.Argument(help="A fit written by scalefit fit --out (law mpl). Example: fit.json")],
    steps: Annotated[int, typer.Option(help="Total training steps, warmup included. Example: --steps 24000")],
    peak: Annotated[float, typer.Option(help="Peak LR, held at the end of the warmup. Example: --peak 3e-4")],
    warmup: Annotated[int, typer.Option(help="Linear warmup steps (held fixed). Example: --warmup 2160")],
    floor: Annotated[float, typer.Option(help="Lowest LR after the warmup. Example: --floor 3e-5")] = 0.0,
    objective: Annotated[str, typer.Option(help="What to minimise: final (loss at the last step) or last:K (mean "
                                                "over the last K steps). Example: --objective last:100")] = "final",
    non_monotone: Annotated[bool, typer.Option("--non-monotone", help="Allow the LR to rise again (each LR in "
                                                                      "between --floor and the peak).")] = False,
    interval: Annotated[float, typer.Option(help="Coverage of the predicted-loss interval. Example: --interval 0.9")]
    = 0.9,
    iterations: Annotated[int, typer.Option(help="Iteration cap of the knot stage (more: a little closer to the "
                                                 "law's optimum, slower). Example: --iterations 3000")] = 300,
    polish: Annotated[int, typer.Option(help="Iteration cap of the per-step polish (0: none). "
                                             "Example: --polish 2000")] = 30,
    under: Annotated[str, typer.Option(help="What to minimise: shapes (the mean predicted loss over refits at the "
                                            "loss-drop shapes the fitted runs cannot tell apart; needs the runs at "
                                            "the paths the fit names) or fit (the fit's own prediction). "
                                            "Example: --under fit")] = "shapes",
    n_params: Annotated[Optional[float], typer.Option(
        "--params", help="Model size to optimise for (non-embedding parameters): required with a size-aware fit "
                         "(mpl-n, tissue-n); beyond the fitted sizes the losses are extrapolated and their intervals "
                         "carry the size error. Example: --params 4.4e5")] = None,
    within_seen_decay: Annotated[bool, typer.Option(
        "--within-seen-decay", help="Cap the LR decrease per step of the per-step optimum at the fastest one in the "
                                    "fitted runs (no cooldown faster than the law was fitted on).")] = False,
    out: Annotated[Optional[Path], typer.Option(help="Write the RECOMMENDED schedule as CSV (step,lr), usable by "
                                                     "scalefit predict --schedule-file and scalefit train "
                                                     "--schedule-file. Example: --out lr.csv")] = None,
    out_optimum: Annotated[Optional[Path], typer.Option(help="Write the per-step optimum as CSV (step,lr), "
                                                             "whatever is recommended. Example: --out-optimum "
                                                             "opt.csv")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="Save LR vs step of the optimised schedule and the baselines "
                                                      "as PNG. Example: --plot schedules.png")] = None,
    json: Annotated[bool, typer.Option("--json", help="Print {seconds, recommended: {name, kind, spec, reason, "
                                                      "final_loss, lower, upper, ...}, optimized: {final_loss, "
                                                      "lower, upper}, baselines: [{schedule, final_loss}], "
                                                      "best_family: {spec, final_loss}, family: {name: {spec, "
                                                      "objective}}} as JSON.")] = False,
) -> None:
    """Recommend an LR schedule under a fitted law and compare it with the usual schedules.

    Searches the LR of every step after the warmup (non-increasing by default) for the lowest predicted loss,
    by default the mean over refits at the loss-drop shapes the fitted runs cannot tell apart (--under), starting
    from the best member of a family search (WSD shapes and lengths, cosine finals, one-step drops). Recommends
    that per-step optimum only when its advantage over the best family member exceeds the law's held-out error on
    cooldowns; else the family member (the 1-sqrt WSD when the law ranks another family above it by less than that
    error), as a spec you can pass to scalefit train. Prints the recommendation and
    a table: per-step optimum, best family member, cosine to the floor, linear to 0 and constant, with predicted
    final losses and intervals. The LR-annealing law (tissue) has a degenerate optimum, and so has MPL without
    the monotone constraint; both are optimised with a warning.

    Example: scalefit optimize fit.json --steps 24000 --peak 3e-4 --warmup 2160 --out lr.csv --plot lr.png
    """
    from scalefit.optimize import baselines
    from scalefit.optimize.recommend import recommend_schedule
    from scalefit.results import INTERVAL_METHODS, FitResult

    result = FitResult.from_json(fit_json)
    size_mark = model_size_mark(result, n_params)
    rec = recommend_schedule(result, steps=steps, peak=peak, warmup=warmup, floor=floor, under=under,
                             within_seen_decay=within_seen_decay, objective=objective, monotone=not non_monotone,
                             interval=interval, max_iter=iterations, polish=polish, n_params=n_params)
    opt = rec.optimum
    tie = rec.kind == "family" and rec.name != rec.law_best  # the recommendation is not the table's best family row
    compared = "recommended" if tie else "best family"  # the row of the recommended family member
    table = baselines(result, opt, n_params=n_params, extra=(("recommended", rec.spec, rec.lr),) if tie else ())
    written = []
    for path, write in ((out, rec.to_csv), (out_optimum, opt.to_csv)):
        if path is not None:
            write(path)
            written.append(path)
    if plot is not None:
        from scalefit import plots

        rows = [(f"recommended: {rec.name}", rec.lr, rec.final_loss)]
        rows += [("per-step optimum" if b.name == "optimized" else b.name, b.lr, b.final_loss) for b in table
                 if not (rec.kind == "family" and b.name == compared)
                 and not (rec.kind == "per-step" and b.name == "optimized")]
        ax = plots.plot_schedules_compare(rows)
        plots.save(ax.figure, plot)
        written.append(plot)
    best = opt.family.best if opt.family is not None else None
    best_row = next((b for b in table if b.name == "best family"), None)
    if json:
        print_json({
            "seconds": opt.seconds,
            "law": opt.law,
            "n_params": n_params,
            "extrapolated_size": size_mark or None,
            "objective": opt.objective,
            "objective_value": opt.objective_value,
            "constraints": opt.constraints,
            "optimized": {"final_loss": opt.final_loss, "lower": opt.lower, "upper": opt.upper,
                          "iterations": opt.iterations, "evaluations": opt.evaluations, "method": opt.method,
                          "message": opt.message},
            "baselines": [b.summary() for b in table],
            "best_family": None if best is None or best_row is None else
            {"spec": best.spec, "final_loss": best_row.final_loss, "lower": best_row.lower, "upper": best_row.upper},
            "family": {} if opt.family is None else
            {k: {"spec": m.spec, "objective": m.objective_value} for k, m in opt.family.best_by_family.items()},
            "recommended": rec.summary(),
            "ensemble": rec.ensemble.summary(),
            "out": None if out is None else str(out),
            "out_optimum": None if out_optimum is None else str(out_optimum),
        })
        return
    pct = f"{interval * 100:g}%"
    width = max(len(b.name) for b in table)
    lines = [f"Schedule optimisation under law {result.law} from {fit_json}: {steps} steps, peak {peak:g}, warmup "
             f"{warmup}, floor {floor:g}, {'non-monotone' if non_monotone else 'monotone'}, objective {objective}",
             f"  minimised: {opt.under}",
             *([f"  model size: {n_params:.3g} parameters" + (f" (extrapolated: {size_mark})" if size_mark else "")]
               if n_params is not None else []),
             f"  search: {opt.seconds:.2f} s, {opt.iterations} iterations, {opt.evaluations} evaluations "
             f"({opt.message})", "",
             f"  recommended: {rec.name}" + (f" ({rec.spec})" if rec.spec else " (per-step, --out)"),
             *textwrap.wrap(f"because {rec.reason}.", 112, initial_indent="    ", subsequent_indent="    "), "",
             f"  {'schedule':<{width}}  {'final loss':>10}  {'lower':>8}  {'upper':>8}  spec ({pct} interval: "
             f"{INTERVAL_METHODS[result.interval_method]})"]
    for b in table:
        spec = "(per-step, --out-optimum)" if b.name == "optimized" and rec.kind == "family" else b.spec
        lines.append(f"  {b.name:<{width}}  {b.final_loss:>10.4f}  {b.lower:>8.4f}  {b.upper:>8.4f}  {spec}")
    fam_row = next((b for b in table if b.name == compared), None)
    if fam_row is not None:
        vs = f"recommended {rec.name}" if tie else compared
        lines += ["", *textwrap.wrap(f"per-step optimum vs {vs}: {opt.final_loss - fam_row.final_loss:+.4f} nats "
                                     "predicted by the fit; trained for real, predicted gains realised a fraction of "
                                     "their size (benchmarks/RESULTS.md, closed loop)", 112, initial_indent="  ",
                                     subsequent_indent="  ")]
    con = console()
    con.print(escape("\n".join(lines)))
    for path in written:
        con.print(f"wrote {escape(str(path))}")


def model_size_mark(result: Any, n_params: Optional[float]) -> str:
    """Check ``--params`` against the fit and return its extrapolation mark ("" within the fitted sizes).

    A size-aware fit needs the size to optimise for (no silent default to one of its sizes); a fit of one size,
    or a size-blind law, cannot speak for another (:func:`scalefit.extrapolation.check_size_target`)."""
    from scalefit.errors import FitInputError
    from scalefit.extrapolation import size_flag
    from scalefit.results.prediction import check_target_size

    law = result.get_law()
    aware = bool(getattr(law, "size_aware", False))
    sizes = sorted(set(result.context.n_params))
    listed = ", ".join(f"{x:.3g}" for x in sizes)
    if aware and n_params is None:
        raise FitInputError(f"the fit is of law {result.law}, fitted at model sizes {listed}: pass the model size to "
                            f"optimise for. Example: --params {sizes[-1]:.3g}")
    if n_params is None:
        return ""
    if not n_params > 0:
        raise FitInputError(f"--params must be a positive number of parameters, got {n_params:g}. Example: "
                            "--params 1.2e8", value=n_params)
    if not aware and not sizes:
        raise FitInputError(f"law {result.law} ignores model size and its runs state none: drop --params, or fit runs "
                            "of several sizes with a size-aware law (mpl-n, tissue-n).", value=n_params)
    check_target_size(result, law, n_params)
    return size_flag(n_params, sizes) if aware else ""
