"""The result of a fit, and what it answers: predictions with intervals, a report, a plot and JSON.

* :class:`FitResult` (``fit_result``): frozen, built only by :func:`scalefit.fitting.fit` or read back with
  :meth:`FitResult.from_json`; never a tuple.
* :class:`FitStatus`, :class:`ParamEstimate`, :class:`FitContext`, :class:`Curve` (``parts``): what happened as data
  (scipy's ``active_mask`` is :attr:`ParamEstimate.at_bound`), the fitted range, the curves kept for plots.
* :class:`Note` (``notes``) and :class:`FitOptions` (``options``): what the fit reported and how it was asked, as
  data.
* :class:`Prediction` (``prediction``): a loss curve with its interval, for any schedule.
* the report text (``report``: golden files in ``tests/golden/`` pin it) and the JSON codec (``codec``:
  ``"schema": "scalefit.fit/1"``, the law stored by *name* and options, never code).
* :class:`Evaluation` (``evaluation``): a fit and its metrics on held-out runs.
"""

from scalefit.results.codec import SCHEMA
from scalefit.results.evaluation import EVAL_SCHEMA, Evaluation
from scalefit.results.fit_result import FitResult
from scalefit.results.notes import Note
from scalefit.results.options import FitOptions
from scalefit.results.parts import MAX_CURVE_POINTS, Curve, FitContext, FitStatus, ParamEstimate, thin_curve
from scalefit.results.prediction import EXTRAPOLATION_FACTOR, INTERVAL_METHODS, Prediction
from scalefit.results.report import metrics_table, pdg_round

__all__ = ["EVAL_SCHEMA", "EXTRAPOLATION_FACTOR", "INTERVAL_METHODS", "MAX_CURVE_POINTS", "SCHEMA", "Curve",
           "Evaluation", "FitContext", "FitOptions", "FitResult", "FitStatus", "Note", "ParamEstimate", "Prediction",
           "metrics_table", "pdg_round", "thin_curve"]
