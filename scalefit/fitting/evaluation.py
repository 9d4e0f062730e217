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
    train_runs: Sequence[Any], test_runs: Sequence[Any], law: str | Any | None = None, **kw: Any
) -> Evaluation:
    """Fit on ``train_runs`` and predict each of ``test_runs`` from its LR schedule alone.

    ``law`` None: the training runs' model sizes choose (``mpl-n`` for two or more, else ``mpl``; see
    :func:`~scalefit.fitting.fit`). A held-out run at a model size the fit cannot speak for (one fitted size) is
    refused before any fit runs; one outside the fitted sizes is predicted with its size error.

    Metrics (R2, MAE, RMSE, PredE, WorstE) are computed per held-out run on its observed steps after warmup inside
    its fit window and averaged over runs, as in the MPL paper. Keyword arguments go to :func:`~scalefit.fitting.fit`.
    """
    test_runs = list(test_runs)
    if not test_runs:
        raise FitInputError("no test runs to evaluate. Pass --test RUNS...")
    name = law if isinstance(law, str) else getattr(law, "name", "the law")
    check_runs(test_runs, name, needs_loss=True)
    _check_test_sizes(list(train_runs), test_runs, law, kw)
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


def _check_test_sizes(train_runs: list[Any], test_runs: list[Any], law: Any, kw: dict[str, Any]) -> None:
    """Refuse, before any fit, held-out runs at a model size a fit of ``train_runs`` could not predict (the check
    ``predict`` makes: :func:`scalefit.extrapolation.check_size_target`)."""
    from scalefit.extrapolation import check_size_target
    from scalefit.fitting.sizes import choose_law, fitted_sizes, size_terms
    from scalefit.laws import get_law

    fitted = fitted_sizes(train_runs)
    if not fitted:
        return
    if law is None:
        law = choose_law(train_runs)[0]
    try:
        obj = get_law(law) if isinstance(law, str) else law
    except (KeyError, TypeError):
        return  # fit() says what is wrong with the law
    aware = bool(getattr(obj, "size_aware", False))
    if not aware and len(fitted) >= 2 and not kw.get("allow_mixed_sizes"):
        return  # fit() refuses the training runs themselves, saying what to do
    given = aware and all(n in (kw.get("fixed") or {}) for n in size_terms(obj))
    for run in test_runs:
        size = run.meta.get("params") if isinstance(run.meta, dict) else None
        if size is None:
            continue
        try:
            check_size_target(fitted, float(size), getattr(obj, "name", str(law)), aware, size_terms_given=given,
                              mixed_allowed=bool(kw.get("allow_mixed_sizes")))
        except FitInputError as exc:
            raise FitInputError(f"this held-out run cannot be predicted: {exc.message}", path=run.path,
                                value=exc.value) from None
