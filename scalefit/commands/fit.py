"""``scalefit fit``: fit a loss-curve law jointly to runs; print the report, write JSON and a plot.

Also home of what ``fit`` and ``evaluate`` share: parsing ``--bounds`` / ``--fix``. Reading runs with per-run
schedule files (``load_runs``, ``match_schedule``) lives in :mod:`scalefit.commands._read_options`, re-exported here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from scalefit.commands._common import console, escape, print_json, user_command
from scalefit.commands._fit_options import (Bounds, Errors, Fix, Law, LawErrorOpt, Prior, Resumed, ScheduleDir, Seed,
                                            Starts, Warmup)
from scalefit.commands._read_options import load_runs, match_schedule  # noqa: F401 - re-exported for evaluate


@user_command
def fit(
    runs: Annotated[list[Path], typer.Argument(help="Run files (CSV, ...). Example: runs/a.csv runs/b.csv")],
    law: Law = "mpl",
    target: Annotated[str, typer.Option(help="Column to fit. Example: --target val_loss")] = "loss",
    warmup: Warmup = None,
    schedule_file: Annotated[
        Optional[list[Path]],
        typer.Option(help="Per-step LR file (step,lr); repeat to give one per run, in order. "
                          "Example: --schedule-file lr.csv"),
    ] = None,
    schedule_dir: ScheduleDir = None,
    resumed: Resumed = False,
    seed: Seed = 0,
    starts: Starts = 64,
    bounds: Bounds = None,
    fix: Fix = None,
    prior: Prior = None,
    errors: Errors = "ar1",
    law_error: LawErrorOpt = True,
    out: Annotated[Optional[Path], typer.Option(help="Write the fit as JSON (with --law all: one file per law, "
                                                     "named <stem>_<law>.json). Example: --out fit.json")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="Save fit vs data with residuals as PNG. "
                                                      "Example: --plot fit.png")] = None,
    json: Annotated[bool, typer.Option("--json", help="Print the fit summary as JSON on stdout.")] = False,
) -> None:
    """Fit a loss-curve law jointly to runs: Huber on log loss, amplitudes projected out, many starts.

    Prints status lines, the parameters (rounded to their errors) and metrics per run, and measures the law's own
    error by cross-validation on the runs for later prediction intervals. Sparse runs need the LR from step 0:
    pass --warmup or a per-step --schedule-file / --schedule-dir.

    Example: scalefit fit runs/cosine.csv runs/constant.csv --law mpl --out fit.json --plot fit.png
    """
    from scalefit import fitting

    run_list = load_runs(runs, target=target, warmup=warmup, schedule_file=schedule_file, schedule_dir=schedule_dir,
                         resumed=resumed)
    laws = _law_names(law)
    fit_kw: dict[str, Any] = {"seed": seed, "n_starts": starts, "bounds": parse_bounds(bounds),
                              "fixed": parse_fixed(fix), "prior": parse_prior(prior),
                              "errors": errors, "law_error": law_error}
    results = [fitting.fit(run_list, name, **per_law(fit_kw, name, laws)) for name in laws]
    written = []
    if out is not None:
        for res in results:
            path = out if len(results) == 1 else out.with_name(f"{out.stem}_{res.law}{out.suffix or '.json'}")
            res.to_json(path)
            written.append(path)
    if plot is not None:
        from scalefit import plots

        for res in results:
            path = plot if len(results) == 1 else plot.with_name(f"{plot.stem}_{res.law}{plot.suffix or '.png'}")
            ax = res.plot()
            plots.save(ax.figure, path)
            written.append(path)
    if json:
        if len(results) == 1:
            print_json(results[0].summary())
        else:
            print_json({"fits": [r.summary() for r in results]})
        return
    con = console()
    for res in results:
        con.print(escape(res.report()))
    if len(results) > 1:
        con.print(escape(comparison_table(results)))
    for path in written:
        con.print(f"wrote {escape(str(path))}")


def per_law(fit_kw: dict[str, Any], name: str, laws: list[str]) -> dict[str, Any]:
    """``fit_kw`` for law ``name``: with several laws (``--law all``), the ``--bounds``, ``--fix`` and ``--prior``
    entries of the parameters that law has (a name no selected law has is an error, before any fit runs)."""
    if len(laws) == 1:
        return fit_kw
    from scalefit.errors import FitInputError
    from scalefit.laws import get_law

    out = dict(fit_kw)
    for key, flag in (("bounds", "--bounds"), ("fixed", "--fix"), ("prior", "--prior")):
        given = fit_kw.get(key)
        if not given:
            continue
        # a prior is on log(parameter) of a nonlinear parameter: Tissue's C is an amplitude, MPL's C is not
        params = {law: {p.name for p in get_law(law).params if key != "prior" or not p.linear} for law in laws}
        unknown = [n for n in given if not any(n in ps for ps in params.values())]
        if unknown:
            raise FitInputError(f"{flag} {unknown[0]}: no selected law has that parameter ({', '.join(laws)}: "
                                f"{'; '.join(', '.join(sorted(ps)) for ps in params.values())}).", value=unknown[0])
        out[key] = {n: v for n, v in given.items() if n in params[name]}
    return out


def comparison_table(results: list[Any]) -> str:
    """One line per law: status, objective, free parameters, mean in-sample metrics and the cross-validated law
    error (``-`` when not measured)."""
    lines = [f"{'law':<10} {'status':<14} {'objective':>11} {'k':>3} {'R2':>8} {'PredE':>8} {'WorstE':>8} "
             f"{'seconds':>8} {'law error':>9}"]
    for r in sorted(results, key=lambda r: r.objective_value):
        m = r.mean_metrics
        k = sum(not p.fixed for p in r.params.values())
        law_err = "-" if r.law_error is None else f"{r.law_error.scale * 100:.2g}%"
        lines.append(f"{r.law:<10} {r.status.value:<14} {r.objective_value:>11.4e} {k:>3} {m['r2']:>8.5f} "
                     f"{m['pred_e']:>8.5f} {m['worst_e']:>8.5f} {r.fit_seconds:>8.2f} {law_err:>9}")
    return "\n".join(lines)


def _law_names(law: str) -> list[str]:
    from scalefit.errors import FitInputError

    name = law.strip().lower()
    if name == "all":
        return ["mpl", "tissue"]
    from scalefit.laws import get_law

    try:
        get_law(name)
    except (KeyError, ValueError, TypeError):
        raise FitInputError(f"unknown law {law!r}. Use mpl, tissue, tissue-n or all. Example: --law mpl") from None
    return [name]


def parse_bounds(items: Optional[list[str]]) -> dict[str, tuple[float, float]]:
    """``["alpha=0.1:1", ...]`` -> ``{"alpha": (0.1, 1.0)}``; one-line FitInputError on a malformed item."""
    from scalefit.errors import FitInputError

    out: dict[str, tuple[float, float]] = {}
    for item in items or []:
        name, eq, rng = item.partition("=")
        lo, colon, hi = rng.partition(":")
        try:
            if not (eq and colon and name.strip()):
                raise ValueError
            out[name.strip()] = (_num(lo), _num(hi))
        except ValueError:
            raise FitInputError(f"--bounds {item!r} is not name=lo:hi. Example: --bounds alpha=0.001:1") from None
    return out


def parse_fixed(items: Optional[list[str]]) -> dict[str, float]:
    """``["lam=0.999"]`` -> ``{"lam": 0.999}``."""
    from scalefit.errors import FitInputError

    out: dict[str, float] = {}
    for item in items or []:
        name, eq, value = item.partition("=")
        try:
            if not (eq and name.strip()):
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise FitInputError(f"--fix {item!r} is not name=value. Example: --fix lam=0.999") from None
    return out


def parse_prior(items: Optional[list[str]]) -> dict[str, Any] | None:
    """``["beta=1", "C=2:0.5"]`` -> ``{"beta": 1.0, "C": (2.0, 0.5)}``; ``["none"]`` -> ``{}``; nothing -> None
    (the law's default prior)."""
    from scalefit.errors import FitInputError

    if not items:
        return None
    out: dict[str, Any] = {}
    for item in items:
        if item.strip().lower() == "none":
            continue
        name, eq, rest = item.partition("=")
        centre, colon, sd = rest.partition(":")
        try:
            if not (eq and name.strip()):
                raise ValueError
            out[name.strip()] = (float(centre), float(sd)) if colon else float(rest)
        except ValueError:
            raise FitInputError(f"--prior {item!r} is not name=sd or name=centre:sd. Example: --prior beta=1") \
                from None
    return out


def _num(text: str) -> float:
    t = text.strip().lower()
    if t in ("inf", "+inf"):
        return float("inf")
    if t == "-inf":
        return float("-inf")
    return float(t)
