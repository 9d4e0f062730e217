"""The Multi-Power Law's final loss and its gradient w.r.t. every LR, by the definition: the naive reference the
law's O(T) ``final_loss_and_grad`` (what the schedule optimizer minimises) is tested against."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from scalefit.errors import FitInputError
from scalefit.laws.base import check_schedule


def _g_parts(x: np.ndarray, C: float, beta: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ly = np.log1p(C * x)
    return ly, -np.expm1(-beta * ly), np.exp(-beta * ly)


def final_loss_and_grad(values: Mapping[str, float], lr: Any, *, warmup: int,
                        objective_index: Any = None) -> tuple[float, np.ndarray]:
    """Predicted MPL loss (paper form) at the last step, or averaged over ``objective_index``, and its gradient.

    Parameters
    ----------
    values : mapping
        L0, A, B, alpha, C, beta, gamma.
    lr : array, shape (T,)
        Per-step LR, warmup included. The warmup (and so eta_0 = ``lr[warmup-1]``) is held fixed.
    objective_index : int or array of int, optional
        Indices into ``lr`` whose predicted losses are averaged (default: the last step, ``T - 1``).

    Returns
    -------
    loss : float
    dloss_dlr : ndarray, shape (T - warmup,)
        d loss / d lr[warmup + j] for every post-warmup step, exact, O(T) per objective index: with
        ``x_k = eta_k^-gamma S_k``, ``S_k = P_n - P_{k-1}`` (suffix sums),
        ``dLD/d eta_j = B [G(x_{j+1}) - G(x_j) + sum_{k<=j} d_k G'(x_k) eta_k^-gamma - gamma d_j G'(x_j) x_j/eta_j]``.
    """
    lr, warmup, _ = check_schedule(lr, warmup, None)
    T = lr.size
    idx = np.atleast_1d(np.asarray(T - 1 if objective_index is None else objective_index, dtype=np.int64))
    if idx.size == 0 or idx.min() < warmup or idx.max() >= T:
        raise FitInputError(f"objective_index must lie in [{warmup}, {T - 1}] (after the warmup); got {idx}.")
    L0, A, B = (float(values[n]) for n in ("L0", "A", "B"))
    alpha, C, beta, gamma = (float(values[n]) for n in ("alpha", "C", "beta", "gamma"))
    floor = 1e-12 * float(lr.max()) if lr.max() > 0 else 1e-300
    eta = np.maximum(lr, floor)
    first = max(warmup, 1)
    P = np.cumsum(lr)
    Pprev = np.concatenate(([0.0], P[:-1]))
    dec = np.zeros(T)
    dec[first:] = lr[first - 1:-1] - lr[first:]
    c = eta ** -gamma
    total, grad = 0.0, np.zeros(T - warmup)
    for n in idx:
        n = int(n)
        ks = np.arange(first, n + 1)
        x = c[ks] * (P[n] - Pprev[ks])  # (n-first+1,)
        ly, G, yb = _g_parts(x, C, beta)
        Gp = C * beta * yb / (1.0 + C * x)
        LD = B * float(dec[ks] @ G)
        total += L0 + A * P[n] ** -alpha - LD
        # gradient over post-warmup j = warmup..n (positions j - warmup)
        Gfull = np.zeros(n + 2)  # G(x_k) for k in [first, n], zero elsewhere (index k)
        Gfull[first:n + 1] = G
        term = np.zeros(n + 1)  # d_k G'(x_k) eta_k^-gamma at k
        term[first:] = dec[ks] * Gp * c[ks]
        own = np.zeros(n + 1)  # -gamma d_j G'(x_j) x_j / eta_j
        own[first:] = -gamma * dec[ks] * Gp * x / eta[ks]
        j = np.arange(warmup, n + 1)
        dLD = B * (Gfull[j + 1] - Gfull[j] + np.cumsum(term)[j] + own[j])
        grad[: n + 1 - warmup] += -alpha * A * P[n] ** (-alpha - 1.0) - dLD
    return total / idx.size, grad / idx.size
