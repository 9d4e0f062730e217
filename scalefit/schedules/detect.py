"""What a per-step schedule is: its warmup length, its shape and a summary."""

from __future__ import annotations

from typing import Any

import numpy as np


def detect_warmup(lr: np.ndarray, rtol: float = 1e-12) -> int:
    """Number of warmup steps: index of the first step within ``rtol`` of the maximum, plus 1; 0 if ``lr[0]``
    is already there.

    The step that first reaches the peak counts as warmup (this module's convention and the MPL reference
    schedules' ``peak * s / (W-1)``, for which it returns ``W``). ``warmup=1`` and ``warmup=0`` both give 0.

    Examples
    --------
    >>> from scalefit.schedules import constant
    >>> detect_warmup(constant(1.0, 10, warmup=4))
    4
    """
    arr = np.asarray(lr, dtype=np.float64)
    if arr.size == 0:
        return 0
    top = float(np.max(arr))
    first = int(np.argmax(arr >= top - rtol * abs(top)))
    return 0 if first == 0 else first + 1


def guess_shape(lr: np.ndarray, warmup: int | None = None) -> str:
    """A best-effort label of the post-warmup part: 'constant', 'cosine', 'linear', 'wsd', 'step', 'cyclic',
    'inverse-sqrt' or 'unknown'.

    The part from the last warmup step on is normalised by its peak and compared with the best member of each
    family (cosine and linear anchored at the observed end value, inverse-sqrt with the timescale that matches
    the end value); the closest within 2% RMS of the peak wins. A long flat stretch followed by a smooth decay
    is 'wsd'; a few large drops between flat stretches are 'step'; rises after the peak are 'cyclic'. O(T).
    """
    arr = np.asarray(lr, dtype=np.float64)
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        return "unknown"
    w = detect_warmup(arr) if warmup is None else int(warmup)
    y = arr[max(w - 1, 0):]  # (n,) from the peak step on
    top = float(np.max(y)) if y.size else 0.0
    if y.size < 3 or top <= 0:
        return "constant" if y.size and np.ptp(y) <= 1e-9 * max(top, 1e-300) else "unknown"
    y = y / top  # (n,) in [0, 1], y[0] == 1
    n = y.size
    tol = 1e-6
    if np.ptp(y) <= tol:
        return "constant"
    if np.max(y - np.minimum.accumulate(y)) > 0.01:  # rises by > 1% of peak after a decline
        return "cyclic"
    d = np.diff(y)  # (n-1,)
    jumps = np.abs(d) > 0.02
    if 0 < np.count_nonzero(jumps) <= 4 and np.all(np.abs(d[~jumps]) <= tol):
        return "step"
    flat = int(np.argmax(y < 1.0 - tol))  # leading steps at the peak (value-based: scale-free in T)
    if flat >= max(0.05 * n, 3):
        return "wsd"
    p = np.linspace(0.0, 1.0, n)  # (n,)
    end = y[-1]
    k = np.arange(n, dtype=np.float64)
    tau = (n - 1) * end**2 / max(1.0 - end**2, 1e-12)  # end = sqrt(tau / (tau + n - 1))
    members = {
        "cosine": end + (1 - end) * 0.5 * (1 + np.cos(np.pi * p)),
        "linear": end + (1 - end) * (1 - p),
        "inverse-sqrt": np.sqrt(tau / (tau + k)) if tau > 0 else np.zeros(n),
    }
    errors = {name: float(np.sqrt(np.mean((y - m) ** 2))) for name, m in members.items()}
    best = min(errors, key=errors.__getitem__)
    return best if errors[best] <= 0.02 else "unknown"


def describe(lr: np.ndarray) -> dict[str, Any]:
    """Summary of a per-step schedule: ``total``, ``warmup`` (detected), ``peak``, ``final`` (last step's LR),
    ``shape`` (:func:`guess_shape`) and ``sum`` (the LR area, sum over steps). Plain Python types."""
    arr = np.asarray(lr, dtype=np.float64)
    warm = detect_warmup(arr)
    return {
        "total": int(arr.size),
        "warmup": warm,
        "peak": float(arr.max()) if arr.size else float("nan"),
        "final": float(arr[-1]) if arr.size else float("nan"),
        "shape": guess_shape(arr, warm),
        "sum": float(arr.sum()),
    }
