"""The fit's robust loss: Huber on log-loss residuals, in the two forms the fitter needs.

``huber(r, delta)`` is the loss of each residual (the objective sums it). ``least_squares_loss`` is the same loss
as scipy's ``least_squares`` takes it: the string ``"huber"`` (with ``f_scale = delta``), or, when prior rows
follow the data rows, a ``rho`` that applies Huber to the data rows and plain squares to the prior rows.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np


def huber(r: np.ndarray, delta: float) -> np.ndarray:
    """Huber's loss of each residual: ``r^2 / 2`` inside ``|r| <= delta``, ``delta (|r| - delta / 2)`` beyond.

    >>> huber(np.array([0.5, -2.0]), 1.0).tolist()
    [0.125, 1.5]
    """
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def least_squares_loss(robust: bool, n_data: int, n_prior: int) -> str | Callable[[np.ndarray], np.ndarray]:
    """The ``loss`` argument of ``scipy.optimize.least_squares`` for ``n_data`` data rows then ``n_prior`` prior
    rows: ``"linear"`` (squares), ``"huber"``, or Huber on the data rows and squares on the prior rows."""
    if not robust:
        return "linear"
    if not n_prior:
        return "huber"
    n = n_data

    def rho(z: np.ndarray) -> Any:
        # scipy's form: z = (r / f_scale)^2; rows (rho, rho', rho'') of each z
        out = np.empty((3, z.size))
        zd = z[:n]
        big = zd > 1.0
        sq = np.sqrt(np.where(big, zd, 1.0))
        out[0, :n] = np.where(big, 2.0 * sq - 1.0, zd)
        out[1, :n] = np.where(big, 1.0 / sq, 1.0)
        out[2, :n] = np.where(big, -0.5 / (sq * np.where(big, zd, 1.0)), 0.0)
        out[0, n:], out[1, n:], out[2, n:] = z[n:], 1.0, 0.0
        return out

    return rho
