"""``scalefit schedule``: build a learning-rate schedule from a spec, summarise it, write CSV and PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from scalefit.commands._common import console, escape, print_json, user_command


@user_command
def schedule(
    spec: Annotated[str, typer.Argument(help="Schedule spec name:key=value,... (names: constant, cosine, linear, "
                                              "wsd, multistep, cyclic, inverse_sqrt, file). "
                                              "Example: wsd:peak=3e-4,total=24000,warmup=2160,decay=0.2")],
    out: Annotated[Optional[Path], typer.Option(help="Write the per-step schedule as CSV (step,lr). "
                                                     "Example: --out lr.csv")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="Save a plot of LR vs step (PNG, or the suffix's format). "
                                                      "Example: --plot lr.png")] = None,
    peak: Annotated[Optional[float], typer.Option(help="Peak LR when the spec has no peak=. "
                                                       "Example: --peak 3e-4")] = None,
    steps: Annotated[Optional[int], typer.Option(help="Total steps when the spec has no total=. "
                                                      "Example: --steps 24000")] = None,
    total: Annotated[Optional[int], typer.Option("--total", hidden=True, help="Old name of --steps.")] = None,
    warmup: Annotated[Optional[int], typer.Option(help="Warmup steps when the spec has no warmup=. "
                                                       "Example: --warmup 2160")] = None,
    json: Annotated[bool, typer.Option("--json", help="Print {spec, total, warmup, peak, final, out} as JSON "
                                                      "on stdout instead of the summary.")] = False,
) -> None:
    """Build an LR schedule from a spec; print a summary, and write it as a per-step CSV and/or a plot.

    Keys: peak, total, warmup (all); final (cosine, linear, cyclic, wsd); decay, shape (wsd);
    milestones, factor (multistep); cycles (cyclic); timescale (inverse_sqrt); path (file).
    Warmup is linear and reaches the peak on step warmup-1. Bad specs list the valid names and keys.

    Example: scalefit schedule wsd:peak=3e-4,total=24000,warmup=2160,decay=0.2,shape=1-sqrt --out lr.csv --plot lr.png
    """
    from scalefit import schedules
    from scalefit.errors import ScheduleSpecError

    if out is not None:
        from scalefit.jsonio import check_out_path

        check_out_path(out, flag="--out")
    if plot is not None:
        from scalefit.plots import check_plot_path

        check_plot_path(plot, flag="--plot")
    if steps is not None and total is not None and steps != total:
        raise ScheduleSpecError(f"--steps {steps} and --total {total} (its old name) disagree. Pass --steps only.")
    parsed = schedules.parse_spec(spec)
    lr = schedules.from_spec(parsed, peak=peak, total=steps if steps is not None else total, warmup=warmup)
    info = schedules.describe(lr)
    if out is not None:
        schedules.to_csv(out, lr)
    if plot is not None:
        from scalefit import plots

        ax = plots.plot_schedule(lr, label=parsed.name, warmup=info["warmup"], title=parsed.text)
        plots.save(ax.figure, plot)
    if json:
        print_json({"spec": parsed.text, "total": info["total"], "warmup": info["warmup"], "peak": info["peak"],
                    "final": info["final"], "out": None if out is None else str(out)})
        return
    from rich.table import Table

    table = Table(title=f"schedule {escape(parsed.text)}", show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    table.add_row("name", parsed.name)
    table.add_row("total", f"{info['total']} steps")
    table.add_row("warmup", f"{info['warmup']} steps (detected: steps up to the first at peak)")
    table.add_row("peak LR", f"{info['peak']:.6g}")
    table.add_row("final LR", f"{info['final']:.6g}")
    table.add_row("shape", info["shape"])
    table.add_row("LR sum", f"{info['sum']:.6g} (sum over steps)")
    table.add_row("csv", escape(str(out)) if out is not None else "not written (pass --out lr.csv)")
    if plot is not None:
        table.add_row("plot", escape(str(plot)))
    console().print(table)
