"""``compare()``: several laws fitted to the same runs with the same options, and the table ``--law all`` prints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from scalefit.errors import FitInputError
from scalefit.fitting.driver import fit
from scalefit.results import FitResult

#: The fit options given by parameter name; with several laws each law gets the entries of its own parameters.
BY_PARAMETER = {"bounds": "--bounds", "fixed": "--fix", "prior": "--prior"}


@dataclass(frozen=True)
class Comparison:
    """Fits of several laws to the same runs (in the order the laws were given)."""

    fits: tuple[FitResult, ...]

    def table(self) -> str:
        """One line per law, best objective first: status, objective, free parameters, mean in-sample metrics, fit
        seconds and the cross-validated law error (``-`` when not measured). No law is recommended: a lower
        in-sample objective is not a better prediction of an unseen schedule (``benchmarks/RESULTS.md``)."""
        lines = [f"{'law':<10} {'status':<14} {'objective':>11} {'k':>3} {'R2':>8} {'PredE':>8} {'WorstE':>8} "
                 f"{'seconds':>8} {'law error':>9}"]
        for r in sorted(self.fits, key=lambda r: r.objective_value):
            m = r.mean_metrics
            k = sum(not p.fixed for p in r.params.values())
            law_err = "-" if r.law_error is None else f"{r.law_error.scale * 100:.2g}%"
            if r.law_error is not None and r.law_error.scale >= 1:
                law_err = f"{r.law_error.scale * 100:.0f}%!"
            lines.append(f"{r.law:<10} {r.status.value:<14} {r.objective_value:>11.4e} {k:>3} {m['r2']:>8.5f} "
                         f"{m['pred_e']:>8.5f} {m['worst_e']:>8.5f} {r.fit_seconds:>8.2f} {law_err:>9}")
        if any(r.law_error is not None and r.law_error.scale >= 1 for r in self.fits):
            lines.append("!: the law error is larger than the loss itself: that law's prediction intervals carry no "
                         "information")
        failed = [r.law for r in self.fits if r.failed]
        if failed:
            lines.append(f"FAILED: {', '.join(failed)} do{'es' if len(failed) == 1 else ''} not describe these runs "
                         "(the reports above say why and what to try)")
        return "\n".join(lines)

    def summary(self) -> dict[str, Any]:
        """``{"fits": [each fit's summary]}`` (plain types)."""
        return {"fits": [r.summary() for r in self.fits]}


def options_for(law: str, laws: Sequence[str], options: dict[str, Any]) -> dict[str, Any]:
    """``options`` for ``law`` when ``laws`` are fitted together: the ``bounds``, ``fixed`` and ``prior`` entries of
    the parameters that law has (a prior only on its nonlinear ones). A name no law in ``laws`` has is an error,
    raised before any fit runs. With one law, ``options`` unchanged."""
    if len(laws) == 1:
        return options
    from scalefit.laws import get_law

    out = dict(options)
    for key, flag in BY_PARAMETER.items():
        given = options.get(key)
        if not given:
            continue
        # a prior is on log(parameter) of a nonlinear parameter: Tissue's C is an amplitude, MPL's C is not
        params = {name: {p.name for p in get_law(name).params if key != "prior" or not p.linear} for name in laws}
        unknown = [n for n in given if not any(n in ps for ps in params.values())]
        if unknown:
            raise FitInputError(f"{flag} {unknown[0]}: no selected law has that parameter ({', '.join(laws)}: "
                                f"{'; '.join(', '.join(sorted(ps)) for ps in params.values())}).", value=unknown[0])
        out[key] = {n: v for n, v in given.items() if n in params[law]}
    return out


def compare(runs: Sequence[Any], laws: Sequence[str] | None = None, **options: Any) -> Comparison:
    """Fit each of ``laws`` (default: :func:`scalefit.laws.comparable_laws`, what ``--law all`` fits) to ``runs``
    with ``options`` (:func:`~scalefit.fitting.fit`'s keywords; ``bounds``, ``fixed`` and ``prior`` entries go to
    the laws that have the parameter, :func:`options_for`). ``Comparison.table()`` is what ``--law all`` prints."""
    from scalefit.laws import comparable_laws

    names = list(laws) if laws is not None else comparable_laws()
    if not names:
        raise FitInputError("no law to compare. Pass laws, e.g. laws=['mpl', 'tissue'].")
    for name in names:  # every law's options are checked before the first fit runs
        options_for(name, names, options)
    runs = list(runs)
    return Comparison(tuple(fit(runs, name, **options_for(name, names, options)) for name in names))
