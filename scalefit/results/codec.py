"""The JSON of a fit result: ``"schema": "scalefit.fit/1"``, plain types only, the law stored by *name* and options
(never code); :func:`fields` reads a file back into the keyword arguments of a FitResult, and refuses a damaged one.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scalefit.errors import ResultFileError
from scalefit.law_error import LawError
from scalefit.metrics import RunMetrics
from scalefit.results.notes import Note
from scalefit.results.options import FitOptions
from scalefit.results.parts import Curve, FitContext, FitStatus, ParamEstimate

if TYPE_CHECKING:
    from scalefit.results.fit_result import FitResult

SCHEMA = "scalefit.fit/1"


def summary(result: FitResult) -> dict[str, Any]:
    """Everything but the covariance and curves, as plain Python types (lmfit's ``summary()``)."""
    return {
        "law": result.law,
        "law_options": dict(result.law_options),
        "status": result.status.value,
        "params": {
            name: {
                "value": p.value,
                "stderr": p.stderr,
                "lower": p.lower,
                "upper": p.upper,
                "at_bound": p.at_bound,
                "linear": p.linear,
                "fixed": p.fixed,
            }
            for name, p in ((n, result.params[n]) for n in result.param_order)
        },
        "param_order": list(result.param_order),
        "messages": list(result.messages),
        "metrics": {path: m.as_dict() for path, m in result.metrics.items()},
        "mean_metrics": result.mean_metrics,
        "objective": result.objective,
        "objective_value": result.objective_value,
        "n_points": result.n_points,
        "n_starts": result.n_starts,
        "n_evals": result.n_evals,
        "seed": result.seed,
        "data_hash": result.data_hash,
        "scalefit_version": result.scalefit_version,
        "fit_seconds": result.fit_seconds,
        "errors": result.errors,
        "residual_rho": result.residual_rho,
        "variance_factor": result.variance_factor,
        "law_error": None if result.law_error is None else result.law_error.to_dict(),
        "notes": [n.to_dict() for n in result.notes],
        "options": None if result.options is None else result.options.to_dict(),
        "prior": None if result.prior is None else {k: [c, sd] for k, (c, sd) in result.prior.items()},
        "context": {
            "max_step": result.context.max_step,
            "max_s1": result.context.max_s1,
            "lr_max": result.context.lr_max,
            "lr_min": result.context.lr_min,
            "warmup": result.context.warmup,
            "n_params": list(result.context.n_params),
            "total_steps": list(result.context.total_steps),
            "irreducible_loss": result.context.irreducible_loss,
            "target": result.context.target,
            "target_unit": result.context.target_unit,
        },
    }


def write(result: FitResult, path: str | Path) -> Path:
    """Write the result as ``"schema": "scalefit.fit/1"`` JSON (atomic); :meth:`from_json` reads it back."""
    from scalefit.jsonio import write_json

    obj = {"schema": SCHEMA, **summary(result)}
    obj["covariance"] = None if result.covariance is None else _finite_or_str(result.covariance)
    obj["curves"] = [
        {"path": c.path, "steps": c.steps, "loss": c.loss, "fitted": c.fitted} for c in result.curves
    ]
    for p in obj["params"].values():  # JSON has no inf: bounds become strings
        for key in ("lower", "upper", "stderr"):
            p[key] = _float_to_json(p[key])
    return write_json(path, obj)


def fields(path: str | Path) -> dict[str, Any]:
    """The keyword arguments of the FitResult a file written by :func:`write` holds; ResultFileError on a wrong or
    damaged file."""
    from scalefit.jsonio import read_json

    data = read_json(path, schema="scalefit.fit")
    version = str(data["schema"]).split("/")[-1]
    if version != "1":
        raise ResultFileError(
            f"schema version {version} is newer than this scalefit understands (1). Upgrade scalefit.",
            path=str(path),
        )
    try:
        order = tuple(data["param_order"])
        params = {
            name: ParamEstimate(
                value=float(p["value"]),
                stderr=_float_from_json(p["stderr"]),
                lower=_float_from_json(p["lower"]),
                upper=_float_from_json(p["upper"]),
                at_bound=int(p["at_bound"]),
                linear=bool(p["linear"]),
                fixed=bool(p["fixed"]),
            )
            for name, p in ((n, data["params"][n]) for n in order)
        }
        cov = data.get("covariance")
        covariance = None if cov is None else np.array(
            [[_float_from_json(x) for x in row] for row in cov], dtype=np.float64
        )
        ctx = data["context"]
        context = FitContext(
            max_step=int(ctx["max_step"]),
            max_s1=float(ctx["max_s1"]),
            lr_max=float(ctx["lr_max"]),
            lr_min=float(ctx["lr_min"]),
            warmup=int(ctx["warmup"]),
            n_params=tuple(float(x) for x in ctx.get("n_params", ())),
            total_steps=tuple(int(x) for x in ctx.get("total_steps", ())),
            irreducible_loss=None if ctx.get("irreducible_loss") is None else float(ctx["irreducible_loss"]),
            target=str(ctx.get("target", "loss")),
            target_unit=None if ctx.get("target_unit") is None else str(ctx["target_unit"]),
        )
        metrics = {
            k: RunMetrics(**{f: (int(v[f]) if f == "n" else _float_from_json(v[f])) for f in v})
            for k, v in data["metrics"].items()
        }
        curves = tuple(
            Curve(
                path=c["path"],
                steps=np.asarray(c["steps"], dtype=np.int64),
                loss=np.asarray([_float_from_json(x) for x in c["loss"]], dtype=np.float64),
                fitted=np.asarray([_float_from_json(x) for x in c["fitted"]], dtype=np.float64),
            )
            for c in data.get("curves", [])
        )
        return dict(
            law=str(data["law"]),
            law_options=dict(data.get("law_options", {})),
            params=params,
            covariance=covariance,
            param_order=order,
            status=FitStatus(data["status"]),
            messages=tuple(data.get("messages", ())),
            metrics=metrics,
            objective=str(data["objective"]),
            objective_value=_float_from_json(data["objective_value"]),
            n_points=int(data["n_points"]),
            n_starts=int(data["n_starts"]),
            n_evals=int(data.get("n_evals", 0)),
            seed=int(data["seed"]),
            data_hash=str(data["data_hash"]),
            scalefit_version=str(data["scalefit_version"]),
            fit_seconds=float(data["fit_seconds"]),
            context=context,
            curves=curves,
            errors=str(data.get("errors", "iid")),
            residual_rho=None if data.get("residual_rho") is None else float(data["residual_rho"]),
            variance_factor=None if data.get("variance_factor") is None else float(data["variance_factor"]),
            law_error=None if data.get("law_error") is None else LawError.from_dict(data["law_error"]),
            notes=tuple(Note.from_dict(n) for n in data.get("notes", ())),
            options=None if data.get("options") is None else FitOptions.from_dict(data["options"]),
            prior=None if data.get("prior") is None else {str(k): (float(v[0]), float(v[1]))
                                                          for k, v in data["prior"].items()},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ResultFileError(
            f"damaged fit result ({type(exc).__name__}: {exc}). Re-run scalefit fit --out.", path=str(path)
        ) from None


def _float_to_json(x: float) -> float | str:
    x = float(x)
    if math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def _float_from_json(x: Any) -> float:
    if x is None:
        return float("nan")
    return float(x)


def _finite_or_str(arr: np.ndarray) -> list[list[float | str]]:
    return [[_float_to_json(x) for x in row] for row in np.asarray(arr, dtype=np.float64)]
