"""What the optimizer minimises: a law's predicted loss at the end of training (or averaged over its last K steps,
or at one step) and its gradient with respect to every post-warmup LR, from the law's ``final_loss_and_grad``."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from scalefit.errors import FitInputError

_LOW = 1e-9  # lowest LR searched, relative to the peak (with floor 0). Below it the law's suffix sums
# S_k = P_n - P_{k-1} keep too few digits (absolute rounding error ~1e-16 P_n, P_n ~ T peak): a search that goes
# lower fits rounding error (measured: a drop to 1e-15 "gained" 0.004 nats that an exact sum does not give).


def parse_objective(objective: str, steps: int, first: int) -> np.ndarray:
    """Indices (into ``lr``) whose predicted losses are averaged: ``"final"`` (the last step), ``"last:K"`` (the
    last K steps) or ``"step:S"`` (step index S, 0-based). Raises FitInputError naming the rule and an example."""
    text = str(objective).strip().lower()
    name, _, arg = text.partition(":")
    try:
        if name == "final" and not arg:
            return np.array([steps - 1], dtype=np.int64)
        if name == "last":
            k = int(arg)
            if not 1 <= k <= steps - first:
                raise ValueError
            return np.arange(steps - k, steps, dtype=np.int64)
        if name == "step":
            s = int(arg)
            if not first <= s <= steps - 1:
                raise ValueError
            return np.array([s], dtype=np.int64)
    except ValueError:
        pass
    raise FitInputError(f"objective {objective!r} is not one of final, last:K (1 <= K <= {steps - first}) or "
                        f"step:S ({first} <= S <= {steps - 1}, after the warmup). Example: --objective last:100",
                        value=objective)


def make_objective(law: str, values: Mapping[str, float], *, steps: int, warmup: int, index: np.ndarray,
                   law_options: Mapping[str, Any] | None = None,
                   n_params: float | None = None) -> Callable[[np.ndarray, bool], tuple[float, np.ndarray | None]]:
    """``f(lr, grad) -> (mean predicted loss over index, gradient w.r.t. lr[max(W, 1):])`` for a registered law
    (its ``final_loss_and_grad``).

    Cost O(len(index) * T). Raises FitInputError for laws without an optimiser objective.
    """
    from scalefit.laws import get_law, optimizable_laws

    first = max(int(warmup), 1)
    try:
        law_obj = get_law(law, **dict(law_options or {}))
    except KeyError:
        law_obj = None
    if law_obj is None or not law_obj.optimizable:
        good = optimizable_laws(degenerate=False)
        raise FitInputError(f"schedule optimisation supports the laws {', '.join(optimizable_laws())}; got {law!r}. "
                            f"Fit with --law {good[0] if good else 'mpl'}.", value=law)

    def single(lr: np.ndarray, grad: bool) -> tuple[float, np.ndarray | None]:
        return law_obj.final_loss_and_grad(values, lr, warmup=warmup, n_params=n_params, grad=grad)

    idx = np.asarray(index, dtype=np.int64)
    n_var = steps - first

    def f(lr: np.ndarray, grad: bool = True) -> tuple[float, np.ndarray | None]:
        if idx.size == 1 and idx[0] == steps - 1:
            return single(lr, grad)
        total, g = 0.0, (np.zeros(n_var) if grad else None)
        for i in idx:  # O(T) each
            li, gi = single(lr[: i + 1], grad)
            total += li
            if g is not None:
                g[: i + 1 - first] += gi
        return total / idx.size, (None if g is None else g / idx.size)

    return f


def _law_of(fit_or_values: Any, law: str | None) -> tuple[str, dict[str, float], dict[str, Any], Any]:
    """(law name, parameter values, law options, FitResult or None)."""
    from scalefit.results import FitResult

    if isinstance(fit_or_values, FitResult):
        return fit_or_values.law, dict(fit_or_values.values), dict(fit_or_values.law_options), fit_or_values
    if isinstance(fit_or_values, Mapping):
        return law or "mpl", {k: float(v) for k, v in fit_or_values.items()}, {}, None
    raise FitInputError(f"optimize_schedule needs a FitResult or a mapping of parameter values; got "
                        f"{type(fit_or_values).__name__}.")


def _predict_final(fit: Any, law_name: str, values: Mapping[str, float], law_options: Mapping[str, Any],
                   lr: np.ndarray, warmup: int, interval: float, n_params: float | None,
                   label: str) -> tuple[float, float, float]:
    """Final loss with interval through ``FitResult.predict`` (the number ``scalefit predict`` prints); the law's
    own prediction and NaN bounds without a FitResult."""
    if fit is not None:
        p = fit.predict(lr, warmup=warmup, interval=interval, n_params=n_params, at=np.array([lr.size - 1]),
                        label=label)
        return p.final_loss, float(p.lower[-1]), float(p.upper[-1])
    from scalefit.laws import get_law

    law = get_law(law_name, **dict(law_options))
    loss = float(law.predict(values, lr, warmup=warmup, at=np.array([lr.size - 1]), n_params=n_params)[0])
    return loss, math.nan, math.nan
