"""The JSON of a fit result: ``"schema": "scalefit.fit/1"``, plain types only, the law stored by *name* and options
(never code); :func:`fields` reads a file back into the keyword arguments of a FitResult, and refuses a damaged one.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from scalefit.results.options import ERRORS
from scalefit.results.parts import FitStatus

if TYPE_CHECKING:
    from scalefit.results.fit_result import FitResult
    from scalefit.results.validate import Node

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
        "size_error": None if result.size_error is None else result.size_error.to_dict(),
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


def read(cls: type[FitResult], path: str | Path) -> FitResult:
    """The FitResult a file written by :func:`write` holds (by any scalefit version since the schema began);
    ResultFileError, one line naming the file and the key, on a wrong or damaged file.

    Every value is checked (:mod:`scalefit.results.validate`, :mod:`scalefit.results.fit_schema`): JSON type,
    finite, inside its bounds (a parameter inside the bounds the file states, which must agree with the recorded
    options), the law and its options known, the parameters exactly the law's, the covariance a symmetric positive
    semidefinite P x P matrix whose diagonal is the stderr squared, a law error present when keys written only with
    it are. Last, the result must predict a finite loss of the size of the losses it saw, with a finite interval, on
    a constant and a linearly decaying schedule over its fitted range (``fit_schema.check_predicts``). ``cls`` is
    FitResult (passed in, since it imports this module).
    """
    from scalefit.results.fit_schema import check_predicts

    kw, root = _fields(path)
    result = cls(**kw)
    check_predicts(result, root)
    return result


def fields(path: str | Path) -> dict[str, Any]:
    """The keyword arguments of the FitResult a file holds, every value checked (:func:`read` also checks that
    they predict sensible losses)."""
    return _fields(path)[0]


def _fields(path: str | Path) -> tuple[dict[str, Any], Node]:
    from scalefit.results import fit_schema as schema
    from scalefit.results.validate import Doc, load_json

    root = load_json(path, "scalefit.fit", versions=(SCHEMA.split("/")[1],), doc=Doc(path))
    schema.check_written_with(root)
    law, law_options = schema.read_law(root)
    order = tuple(root["param_order"].texts())
    root["param_order"].check(order == law.names, lambda: f"{', '.join(order)} are not the parameters of law "
                              f"{law.name} ({', '.join(law.names)}); was 'law' edited?")
    options = None if root.get("options") is None else schema.read_options(root["options"], law)
    params = schema.read_params(root["params"], law, options)

    def optional(key: str, read: Callable[[Node], Any], default: Any = None) -> Any:
        node = root.get(key)  # absent or null
        return default if node is None else read(node)

    kw = dict(
        law=law.name,
        law_options=law_options,
        params=params,
        covariance=schema.read_covariance(root["covariance"], params),
        param_order=order,
        status=FitStatus(root["status"].text(choices=[s.value for s in FitStatus])),
        messages=optional("messages", lambda n: n.texts(), ()),
        metrics=schema.read_metrics(root["metrics"]),
        objective=root["objective"].text(),
        objective_value=root["objective_value"].number(),
        n_points=root["n_points"].integer(lo=1),
        n_starts=root["n_starts"].integer(lo=1),
        n_evals=optional("n_evals", lambda n: n.integer(lo=0), 0),
        seed=root["seed"].integer(),
        data_hash=root["data_hash"].text(max_len=200),
        scalefit_version=root["scalefit_version"].text(max_len=200),
        fit_seconds=root["fit_seconds"].number(lo=0.0),
        context=schema.read_context(root["context"], law),
        curves=optional("curves", lambda n: tuple(schema.read_curve(c) for c in n.items()), ()),
        errors=optional("errors", lambda n: n.text(choices=ERRORS), "iid"),
        residual_rho=optional("residual_rho", lambda n: n.number(lo=-1.0, hi=1.0)),
        variance_factor=optional("variance_factor", lambda n: n.number(positive=True)),
        law_error=optional("law_error", schema.read_law_error),
        size_error=optional("size_error", lambda n: schema.read_size_error(n, law, options)),
        notes=optional("notes", lambda n: tuple(schema.read_note(x) for x in n.items()), ()),
        options=options,
        prior=optional("prior", lambda n: {k: schema.read_pair(v, positive=True)
                                           for k, v in n.entries(keys=law.names)}),
    )
    return kw, root


def _float_to_json(x: float) -> float | str:
    x = float(x)
    if math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def _finite_or_str(arr: np.ndarray) -> list[list[float | str]]:
    return [[_float_to_json(x) for x in row] for row in np.asarray(arr, dtype=np.float64)]
