"""The text of a fit: iminuit-style status lines, the parameter table with values rounded to their error (PDG
rules), metrics per run and every message; golden files in ``tests/golden/`` pin it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from scalefit.metrics import RunMetrics, mean_metrics
from scalefit.results.parts import FitStatus

#: Said wherever the law error reaches the loss itself (relative sd >= 1): such an interval excludes nothing.
NO_INFORMATION = ("the law error is larger than the loss itself: prediction intervals carry no information (the "
                  "law does not predict these runs; see the fit's notes)")

if TYPE_CHECKING:
    from scalefit.results.fit_result import FitResult


def errors_text(result: FitResult) -> str:
    """The residual model behind the stderr and intervals, in words."""
    if result.errors == "ar1" and result.residual_rho is not None:
        rho = result.residual_rho
        factor = result.variance_factor if result.variance_factor is not None else (1 + rho) / (1 - rho)
        return (f"AR(1) residuals, lag-1 autocorrelation {rho:.2f} (variances x{factor:.2g} over independent "
                "ones)")
    return "independent residuals (--errors iid)"


def fit_report(result: FitResult) -> str:
    """iminuit-style status lines, the parameter table (PDG rounding), metrics per run, and messages."""
    lines = []
    opts = ", ".join(f"{k}={v}" for k, v in result.law_options.items())
    law = result.law + (f" ({opts})" if opts else "")
    n_runs = len(result.metrics)
    lines.append(
        f"Fit of law {law} to {n_runs} run{'s' if n_runs != 1 else ''}, {result.n_points} points: "
        f"{result.status.value}"
    )
    bound_names = [n for n in result.param_order if result.params[n].at_bound and not result.params[n].fixed]
    lines.append(
        "  "
        + " | ".join(
            [
                "valid minimum" if result.is_valid else "INVALID minimum (max evaluations)",
                "no parameter at bound" if not bound_names else "AT BOUND: " + ", ".join(bound_names),
                "covariance ok" if result.has_covariance else "NO covariance",
            ]
        )
    )
    lines.append(
        f"  objective {result.objective} = {result.objective_value:.6g} | starts {result.n_starts} (seed {result.seed})"
        f" | evaluations {result.n_evals} | {result.fit_seconds:.2f} s"
    )
    if result.status is FitStatus.FAILED:
        lines.append("  FAILED: the law does not describe these runs; its parameters and predictions are not results "
                     "(the notes below say why and what to try)")
    lines.append(f"  stderr: {result.errors_text()}")
    if result.law_error is not None:
        lines.append(f"  law error: {result.law_error.text()}")
        if result.law_error.scale >= 1:
            lines.append(f"  {NO_INFORMATION}")
    if result.size_error is not None:  # size-aware laws: the error of a prediction at another model size
        lines.append(f"  {result.size_error.text()}")
    lines.append("")
    header = f"  {'name':<8} {'value':>12} {'stderr':>10} {'lower':>9} {'upper':>9}  note"
    lines.append(header)
    for name in result.param_order:
        p = result.params[name]
        if p.fixed:
            v, e = f"{p.value:.6g}", "fixed"
        else:
            v, e = pdg_round(p.value, p.stderr)
        notes = []
        if p.linear:
            notes.append("linear")
        if p.at_bound == -1:
            notes.append("AT LOWER BOUND")
        elif p.at_bound == 1:
            notes.append("AT UPPER BOUND")
        lines.append(
            f"  {name:<8} {v:>12} {e:>10} {_fmt_bound(p.lower):>9} {_fmt_bound(p.upper):>9}  "
            + ", ".join(notes)
        )
        lines[-1] = lines[-1].rstrip()
    lines.append("")
    lines.extend(metrics_table(result.metrics, title="in-sample"))
    if result.messages:
        lines.append("")
        lines.extend(f"  note: {m}" for m in result.messages)
    return "\n".join(lines) + "\n"


def metrics_table(metrics: Mapping[str, RunMetrics], title: str) -> list[str]:
    """Lines of a per-run metrics table with a mean row (averaged over curves)."""
    names = [Path(p).stem for p in metrics]
    width = max([len(n) for n in names] + [len("mean"), 12])
    lines = [
        f"  {title + ' run':<{width}} {'n':>6} {'R2':>8} {'MAE':>8} {'RMSE':>8} {'PredE':>8} {'WorstE':>8}"
        f" {'final':>8} {'fitted':>8}"
    ]
    for name, m in zip(names, metrics.values()):
        lines.append(
            f"  {name:<{width}} {m.n:>6d} {_f(m.r2, 5)} {_f(m.mae, 5)} {_f(m.rmse, 5)} {_f(m.pred_e, 5)} "
            f"{_f(m.worst_e, 5)} {_f(m.final_true, 4)} {_f(m.final_pred, 4)}"
        )
    if len(metrics) > 1:
        mean = mean_metrics(metrics.values())
        lines.append(
            f"  {'mean':<{width}} {'':>6} {_f(mean['r2'], 5)} {_f(mean['mae'], 5)} {_f(mean['rmse'], 5)} "
            f"{_f(mean['pred_e'], 5)} {_f(mean['worst_e'], 5)}"
        )
    return lines


def _f(x: float, digits: int) -> str:
    return f"{x:>8.{digits}f}" if math.isfinite(x) else f"{'nan':>8}"


def _fmt_bound(x: float) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.6g}"


def pdg_round(value: float, error: float) -> tuple[str, str]:
    """Round ``value`` and ``error`` to the precision of the error, by the Particle Data Group rule.

    The error keeps two significant digits when its three highest-order digits are 100-354, one digit for 355-949,
    and is rounded up to two digits of the next power of ten from 950 (PDG, "Introduction", sec. 5.3).
    The value is rounded to the same decimal place. Without a finite positive error, 6 significant digits.

    >>> pdg_round(3.21534, 0.01234)
    ('3.215', '0.012')
    >>> pdg_round(0.5012, 0.0456)
    ('0.50', '0.05')
    >>> pdg_round(412.7, 0.97)
    ('412.7', '1.0')
    >>> pdg_round(523.0, 48.0)
    ('520', '50')
    >>> pdg_round(1.23456e-9, 3.1e-11)
    ('1.235e-09', '0.031e-09')
    >>> pdg_round(2.5, float("nan"))
    ('2.5', 'nan')
    """
    if not (math.isfinite(error) and error > 0) or not math.isfinite(value):
        return f"{value:.6g}", ("nan" if not math.isfinite(error) else f"{error:.3g}")
    exp = math.floor(math.log10(error))
    lead = int(error / 10 ** (exp - 2) * (1 + 1e-12))  # the three highest-order digits, 100..999
    if lead >= 1000:  # float round-off at a power of ten
        exp, lead = exp + 1, 100
    if lead < 355:
        nsig = 2
    elif lead < 950:
        nsig = 1
    else:
        exp, nsig, error = exp + 1, 2, 10.0 ** (exp + 1)
    decimals = nsig - 1 - exp  # decimal places of the last significant digit
    if decimals <= 6 and abs(value) < 1e7:
        d = max(decimals, 0)
        return f"{round(value, decimals):.{d}f}", f"{round(error, decimals):.{d}f}"
    # tiny numbers: share the exponent of the value
    shift = math.floor(math.log10(abs(value))) if value != 0 else exp
    d = max(decimals + shift, 0)
    return (
        f"{round(value / 10**shift, decimals + shift):.{d}f}e{shift:+03d}",
        f"{round(error / 10**shift, decimals + shift):.{d}f}e{shift:+03d}",
    )
