"""``evaluate()``: fit on training runs, predict held-out runs from their LR schedules alone, score the predictions
with the MPL paper's metrics."""

from __future__ import annotations

import warnings
from typing import Any, Sequence

from scalefit.errors import ExtrapolationWarning, FitInputError
from scalefit.fitting.driver import fit
from scalefit.fitting.inputs import check_runs, unique_labels
from scalefit.metrics import RunMetrics, curve_metrics
from scalefit.results import Evaluation, Prediction


def evaluate(
    train_runs: Sequence[Any], test_runs: Sequence[Any], law: str | Any = "mpl", **kw: Any
) -> Evaluation:
    """Fit on ``train_runs`` and predict each of ``test_runs`` from its LR schedule alone.

    Metrics (R2, MAE, RMSE, PredE, WorstE) are computed per held-out run on its observed steps after warmup inside its fit window and averaged over
    runs, as in the MPL paper. Keyword arguments go to :func:`~scalefit.fitting.fit`.
    """
    test_runs = list(test_runs)
    if not test_runs:
        raise FitInputError("no test runs to evaluate. Pass --test RUNS...")
    check_runs(test_runs, law if isinstance(law, str) else getattr(law, "name", "law"), needs_loss=True)
    result = fit(train_runs, law, **kw)
    test: dict[str, RunMetrics] = {}
    predictions: dict[str, Prediction] = {}
    observed: dict[str, Any] = {}
    with warnings.catch_warnings():
        # held-out runs are expected to lie outside the training range: that is the point of evaluating
        warnings.simplefilter("ignore", ExtrapolationWarning)
        for run, key in zip(test_runs, unique_labels([r.path for r in test_runs])):
            rows = run.fit_mask  # observed, after warmup, in the run's window: the rows a fit of it would use
            pred = result.predict(run, at=run.index[rows])
            test[key] = curve_metrics(run.loss[rows], pred.loss)
            predictions[key] = pred
            observed[key] = run.loss[rows]
    return Evaluation(fit=result, test=test, predictions=predictions, observed=observed)
