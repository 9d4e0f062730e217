"""Every registered loss law fitted to the same runs, side by side (``scalefit scaling --law all``).

The table shows how each law fits the runs and, more to the point, how it extrapolated in its own forward folds
over sizes (:mod:`scalefit.scaling.extrapolation`): a law that fits best need not predict bigger runs best.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from scalefit.errors import ScalefitError, ScalefitWarning
from scalefit.scaling.fit import fit_scaling
from scalefit.scaling.registry import DEFAULT_LAW, LOSS_LAWS
from scalefit.scaling.result import ScalingFit


@dataclass(frozen=True)
class LawComparison:
    """The fits by law name (a string when the law could not be fitted: the reason)."""

    fits: dict[str, ScalingFit | str]

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for name, fit in self.fits.items():
            if isinstance(fit, str):
                out.append({"law": name, "error": fit})
                continue
            ext = fit.extrapolation
            folds = np.asarray(ext.errors if ext is not None else (), float)
            e = fit.optimal_exponents()
            out.append({"law": name, "k": len(fit.names), "objective": fit.objective,
                        "rmse_log": float(np.sqrt(np.mean(np.square(fit.residuals)))),
                        "fold_error": float(np.sqrt(np.mean(folds**2))) if folds.size else None,
                        "fold_predictions": int(folds.size), "a": e["a"], "b": e["b"], "status": fit.status.value,
                        "default": name == DEFAULT_LAW})
        return out

    def summary(self) -> dict[str, Any]:
        return {"laws": self.rows(), "fits": {k: (v if isinstance(v, str) else v.summary())
                                             for k, v in self.fits.items()}}

    def report(self) -> str:
        lines = [f"{'law':<12} {'k':>2} {'objective':>11} {'rmse(log)':>10} {'fold error':>11} {'a':>7} {'b':>7}  "
                 "status"]
        for r in self.rows():
            if "error" in r:
                lines.append(f"{r['law']:<12} not fitted: {r['error']}")
                continue
            fe = "-" if r["fold_error"] is None else f"{r['fold_error']:.2%}"
            lines.append(f"{r['law']:<12} {r['k']:>2} {r['objective']:>11.4e} {r['rmse_log']:>10.4f} {fe:>11} "
                         f"{r['a']:>7.3f} {r['b']:>7.3f}  {r['status']}{' (default)' if r['default'] else ''}")
        lines.append("fold error: rms relative error predicting the bigger runs from fits on the smaller sizes "
                     "(forward folds); the default law is the one that predicts held-out bigger runs best on the "
                     "reference data (benchmarks/RESULTS.md).")
        return "\n".join(lines)


def compare_laws(params: Any, tokens: Any, loss: Any, *, bootstrap: int = 100, seed: int = 0, method: str = "vp",
                 flops: Any = None) -> LawComparison:
    """Fit each law of :data:`~scalefit.scaling.registry.LOSS_LAWS` (see the module docstring)."""
    fits: dict[str, ScalingFit | str] = {}
    for name in LOSS_LAWS:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ScalefitWarning)
                fits[name] = fit_scaling(params, tokens, loss, law=name, bootstrap=bootstrap, seed=seed,
                                         method=method, flops=flops)
        except ScalefitError as exc:
            fits[name] = str(exc)
    return LawComparison(fits)
