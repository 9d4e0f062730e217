"""Goodness-of-fit and prediction metrics, exactly as the Multi-Power Law paper defines them.

Luo et al. 2025, "A Multi-Power Law for Loss Curve Prediction Across Learning Rate Schedules" (arXiv 2503.12811),
report five numbers for each held-out loss curve and then average each number over the curves:

============  =====================================================  ==========================
metric        definition on one curve (observed steps only)           unit
============  =====================================================  ==========================
``r2``        ``1 - sum((L - Lhat)^2) / sum((L - mean(L))^2)``        none (1 is perfect)
``mae``       ``mean(|L - Lhat|)``                                    nats per token
``rmse``      ``sqrt(mean((L - Lhat)^2))``                            nats per token
``pred_e``    ``mean(|L - Lhat| / L)`` ("PredE")                      fraction of the loss
``worst_e``   ``max(|L - Lhat| / L)`` ("WorstE")                      fraction of the loss
============  =====================================================  ==========================

Averaging per curve first (rather than pooling all points) is what makes our numbers comparable with the paper's
tables: a long curve does not outweigh a short one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable

import numpy as np

#: Metric names in report order.
METRIC_NAMES: tuple[str, ...] = ("r2", "mae", "rmse", "pred_e", "worst_e")


@dataclass(frozen=True)
class RunMetrics:
    """The five MPL-paper metrics of one curve (see the module docstring), plus its size and final losses.

    Attributes
    ----------
    r2, mae, rmse, pred_e, worst_e : float
        As defined in the module docstring; NaN when undefined (``r2`` of a flat curve).
    n : int
        Number of observed points the metrics use.
    final_true, final_pred : float
        The last observed loss and its prediction (nats per token).
    """

    r2: float
    mae: float
    rmse: float
    pred_e: float
    worst_e: float
    n: int
    final_true: float
    final_pred: float

    def as_dict(self) -> dict[str, float | int]:
        """Plain-Python dict of every field."""
        return {k: (int(v) if k == "n" else float(v)) for k, v in asdict(self).items()}


def r2(loss: np.ndarray, pred: np.ndarray) -> float:
    """Coefficient of determination of one curve, ``1 - SS_res / SS_tot``.

    >>> r2(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0]))
    0.5
    """
    loss, pred = _pair(loss, pred)
    ss_tot = float(np.sum((loss - loss.mean()) ** 2))
    if ss_tot == 0.0:
        return float("nan")
    return 1.0 - float(np.sum((loss - pred) ** 2)) / ss_tot


def mae(loss: np.ndarray, pred: np.ndarray) -> float:
    """Mean absolute error, ``mean(|L - Lhat|)``.

    >>> mae(np.array([2.0, 4.0]), np.array([2.5, 3.0]))
    0.75
    """
    loss, pred = _pair(loss, pred)
    return float(np.mean(np.abs(loss - pred)))


def rmse(loss: np.ndarray, pred: np.ndarray) -> float:
    """Root-mean-square error, ``sqrt(mean((L - Lhat)^2))``.

    >>> rmse(np.array([2.0, 4.0]), np.array([3.0, 3.0]))
    1.0
    """
    loss, pred = _pair(loss, pred)
    return float(np.sqrt(np.mean((loss - pred) ** 2)))


def pred_e(loss: np.ndarray, pred: np.ndarray) -> float:
    """Mean relative error, the paper's PredE: ``mean(|L - Lhat| / L)``.

    >>> pred_e(np.array([2.0, 4.0]), np.array([2.5, 3.0]))
    0.25
    """
    loss, pred = _pair(loss, pred)
    return float(np.mean(np.abs(loss - pred) / loss))


def worst_e(loss: np.ndarray, pred: np.ndarray) -> float:
    """Largest relative error, the paper's WorstE: ``max(|L - Lhat| / L)``.

    >>> worst_e(np.array([2.0, 4.0]), np.array([2.5, 3.0]))
    0.25
    >>> worst_e(np.array([2.0, 4.0]), np.array([2.0, 4.5]))
    0.125
    """
    loss, pred = _pair(loss, pred)
    return float(np.max(np.abs(loss - pred) / loss))


def curve_metrics(loss: np.ndarray, pred: np.ndarray) -> RunMetrics:
    """All five metrics of one curve. NaN entries of ``loss`` (steps not measured) are left out.

    >>> m = curve_metrics(np.array([2.0, np.nan, 4.0]), np.array([2.5, 9.0, 3.0]))
    >>> m.mae, m.pred_e, m.n, m.final_true, m.final_pred
    (0.75, 0.25, 2, 4.0, 3.0)
    """
    loss = np.asarray(loss, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    keep = np.isfinite(loss)
    loss, pred = loss[keep], pred[keep]
    if loss.size == 0:
        nan = float("nan")
        return RunMetrics(nan, nan, nan, nan, nan, 0, nan, nan)
    return RunMetrics(
        r2=r2(loss, pred),
        mae=mae(loss, pred),
        rmse=rmse(loss, pred),
        pred_e=pred_e(loss, pred),
        worst_e=worst_e(loss, pred),
        n=int(loss.size),
        final_true=float(loss[-1]),
        final_pred=float(pred[-1]),
    )


def mean_metrics(per_run: Iterable[RunMetrics]) -> dict[str, float]:
    """Average each metric over curves (the paper's convention), ignoring curves where it is undefined.

    >>> a = RunMetrics(0.9, 0.1, 0.2, 0.01, 0.02, 5, 3.0, 3.1)
    >>> b = RunMetrics(0.7, 0.3, 0.4, 0.03, 0.04, 9, 3.0, 2.9)
    >>> {k: round(v, 12) for k, v in mean_metrics([a, b]).items()}
    {'r2': 0.8, 'mae': 0.2, 'rmse': 0.3, 'pred_e': 0.02, 'worst_e': 0.03}
    """
    rows = list(per_run)
    out: dict[str, float] = {}
    for name in METRIC_NAMES:
        values = np.array([getattr(m, name) for m in rows], dtype=np.float64)
        values = values[np.isfinite(values)]
        out[name] = float(values.mean()) if values.size else float("nan")
    return out


def _pair(loss: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    loss = np.asarray(loss, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    if loss.shape != pred.shape:
        raise ValueError(f"loss has shape {loss.shape} but the prediction has shape {pred.shape}")
    return loss, pred
