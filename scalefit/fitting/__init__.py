"""The one generic fitter of scalefit: any registered law, fitted jointly to several runs.

The objective is Huber (``delta = 1e-3``) on log-loss residuals summed over runs; the amplitudes are solved by
variable projection, the nonlinear parameters searched from deterministic starts and polished jointly; the
covariance is Gauss-Newton with Huber's variance factor and an AR(1) correction; the law's own error is measured
by cross-validation on the training runs. The method and the measurements behind every default are in
``docs/fitting.md``. One module per stage, in the order :func:`fit` runs them:

==================  ============================================================================================
module              stage
==================  ============================================================================================
``inputs``          check the runs, pick the fitted rows, stack them into the problem with bounds and fixed values
``priors``          the law's default prior or the user's, as extra residual rows
``problem``         the fit problem: variable projection, residuals and Jacobians (``loss``: the Huber loss)
``search``          deterministic starts, local searches, the joint polish
``uncertainty``     bounds hit, covariance, AR(1) factor, status and the typed notes on the optimum
``crossval``        the law's own error by refits on the training runs
``driver``          :func:`fit`, the recipe: it emits each stage's notes (:class:`~scalefit.results.Note`) as
                    warnings of the note's class, and records them and the options in the result
``evaluation``      :func:`evaluate` on held-out runs; ``comparison``: :func:`compare`, several laws side by side
==================  ============================================================================================
"""

from scalefit.fitting.comparison import Comparison, compare
from scalefit.fitting.crossval import cross_validate
from scalefit.fitting.driver import fit
from scalefit.fitting.evaluation import evaluate
from scalefit.fitting.inputs import data_hash, fit_rows
from scalefit.fitting.priors import DEFAULT_PRIORS, PRIOR_PULL
from scalefit.fitting.search import SEARCH_POINTS
from scalefit.fitting.uncertainty import ILL_CONDITION
from scalefit.laws.base import prediction_with_gradient
from scalefit.results.options import (DEFAULT_DELTA, DEFAULT_LOCAL, DEFAULT_MAX_NFEV, DEFAULT_MAX_POINTS,
                                      DEFAULT_STARTS, FitOptions)

__all__ = ["DEFAULT_DELTA", "DEFAULT_LOCAL", "DEFAULT_MAX_NFEV", "DEFAULT_MAX_POINTS", "DEFAULT_PRIORS",
           "DEFAULT_STARTS", "ILL_CONDITION", "PRIOR_PULL", "SEARCH_POINTS", "Comparison", "FitOptions", "compare",
           "cross_validate", "data_hash", "evaluate", "fit", "fit_rows", "prediction_with_gradient"]
