"""scalefit: predict language-model training loss before spending the compute.

The public API mirrors the CLI: ``read_runs`` -> ``fit`` -> ``FitResult.predict`` / ``optimize`` / ``plan``, and
``forecast.forecast`` for a run in flight (``scalefit.forecast`` is the module: a function of that name would be
shadowed by the submodule once imported).
Heavy modules are imported lazily so that ``import scalefit`` (and ``scalefit --help``) stays fast.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

# name -> "module:attribute"; resolved on first access (PEP 562)
_LAZY = {
    "Run": "scalefit.runs:Run",
    "read_runs": "scalefit.readers:read_runs",
    "read_run": "scalefit.readers:read_run",
    "schedules": "scalefit.schedules:",
    "fit": "scalefit.fitting:fit",
    "evaluate": "scalefit.fitting:evaluate",
    "compare": "scalefit.fitting:compare",
    "forecast": "scalefit.forecast:",
    "Forecast": "scalefit.forecast:Forecast",
    "FitResult": "scalefit.results:FitResult",
    "Prediction": "scalefit.results:Prediction",
    "FitStatus": "scalefit.results:FitStatus",
    "Evaluation": "scalefit.results:Evaluation",
    "fit_hparams": "scalefit.scaling.hparams:fit_hparams",
    "fit_scaling": "scalefit.scaling.fit:fit_scaling",
    "read_table": "scalefit.tables:read_table",
    "plan": "scalefit.planning:plan",
    "Plan": "scalefit.planning:Plan",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'scalefit' has no attribute {name!r}")
    import importlib

    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr) if attr else module
