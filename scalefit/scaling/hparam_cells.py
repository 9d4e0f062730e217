"""One cell of a hyperparameter sweep (one (N, D) pair, or one compute budget): its best run and the optimum of a
quadratic in (ln lr, ln B) through its runs near the best, with a bootstrap interval.

The quadratic is fitted to the runs within ``window`` (3%) of the cell's best loss; with fewer than three batch
sizes (or eight runs) it is a parabola in ln lr alone. Its optimum counts only when it lies inside the sampled
grid; otherwise ``quad_reason`` says why there is none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class CellOptimum:
    """One cell: its runs, the best run, and the quadratic optimum with a bootstrap interval (NaN if none)."""

    params: float
    tokens: float
    flops: float
    n_runs: int
    n_kept: int
    best_loss: float
    best_lr: float
    best_batch_size: float
    quad_lr: float = float("nan")
    quad_lr_ci: tuple[float, float] = (float("nan"), float("nan"))
    quad_batch_size: float = float("nan")
    quad_batch_size_ci: tuple[float, float] = (float("nan"), float("nan"))
    quad_loss: float = float("nan")
    quad_dims: int = 0  # 0: no usable quadratic; 1: in log lr; 2: in (log lr, log B)
    quad_coef: tuple[float, ...] = ()  # loss = c0 + c1 x + c2 y + c3 x^2 + c4 x y + c5 y^2, x = ln lr, y = ln B
    law_lr: float = float("nan")
    law_batch_size: float = float("nan")
    loss_at_law: float = float("nan")  # the cell's quadratic evaluated at the law's optimum
    nearest_loss: float = float("nan")  # loss of the run nearest (in log lr, log B) to the law's optimum
    quad_reason: str = ""  # why the cell has no quadratic optimum ("" when it has one)

    def quad_eval(self, lr: Any, batch_size: Any) -> np.ndarray:
        """The cell's quadratic loss surface at (lr, batch size); NaN without one."""
        if not self.quad_coef:
            return np.full(np.broadcast(np.asarray(lr), np.asarray(batch_size)).shape, np.nan)
        c = self.quad_coef
        x, y = np.log(lr), np.log(batch_size)
        return c[0] + c[1] * x + c[2] * y + c[3] * x * x + c[4] * x * y + c[5] * y * y


def quadratic(lr: np.ndarray, bs: np.ndarray, loss: np.ndarray, rng: np.random.Generator, n_boot: int,
               level: float) -> dict[str, Any]:
    """Quadratic in (ln lr, ln B) (or ln lr alone when B has < 3 values) through the points; its minimum."""
    x, y = np.log(lr), np.log(bs)
    two_d = np.unique(np.round(y, 9)).size >= 3 and lr.size >= 8
    if np.unique(np.round(x, 9)).size < 3:
        return {"quad_reason": "fewer than 3 learning rates near the best run"}
    if two_d:
        M = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)  # (n, 6)
    else:
        M = np.stack([np.ones_like(x), x, x * x], axis=1)  # (n, 3)

    def minimum(idx: np.ndarray) -> tuple[float, float, float, np.ndarray] | None:
        c, *_ = np.linalg.lstsq(M[idx], loss[idx], rcond=None)
        if two_d:
            H = np.array([[2 * c[3], c[4]], [c[4], 2 * c[5]]])
            if np.linalg.eigvalsh(H)[0] <= 0:
                return None
            xs, ys = np.linalg.solve(H, -c[1:3])
            val = c[0] + c[1] * xs + c[2] * ys + c[3] * xs * xs + c[4] * xs * ys + c[5] * ys * ys
            return xs, ys, val, c
        if c[2] <= 0:
            return None
        xs = -c[1] / (2 * c[2])
        return xs, float("nan"), c[0] + c[1] * xs + c[2] * xs * xs, c

    full = minimum(np.arange(x.size))
    if full is None:
        return {"quad_reason": "the loss near the best run is not convex in the sampled grid"}
    xs, ys, val, c = full
    # an optimum beyond the sampled grid is not located by the data
    if not (x.min() <= xs <= x.max()):
        return {"quad_reason": "its optimum lies beyond the sampled learning rates"}
    if two_d and not (y.min() <= ys <= y.max()):
        return {"quad_reason": "its optimum lies beyond the sampled batch sizes"}
    draws = []
    for _ in range(n_boot):
        r = minimum(rng.integers(0, x.size, x.size))
        if r is not None:
            draws.append(r[:2])
    q = (1 - level) / 2
    out: dict[str, Any] = {"quad_lr": float(np.exp(xs)), "quad_loss": float(val), "quad_dims": 2 if two_d else 1}
    if two_d:
        out["quad_batch_size"] = float(np.exp(ys))
        out["quad_coef"] = tuple(map(float, c))
    else:
        out["quad_coef"] = ()
    if len(draws) >= 10:
        d = np.array(draws)
        out["quad_lr_ci"] = (float(np.exp(np.quantile(d[:, 0], q))), float(np.exp(np.quantile(d[:, 0], 1 - q))))
        if two_d:
            out["quad_batch_size_ci"] = (float(np.exp(np.quantile(d[:, 1], q))),
                                         float(np.exp(np.quantile(d[:, 1], 1 - q))))
    return out
