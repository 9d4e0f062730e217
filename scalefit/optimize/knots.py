"""The knot parametrisation: a vector of box-bounded variables (one per knot) and the per-step LR after the warmup,
linear between knots, with the chain rule back; where the knots go."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _knots(n: int, resolution: float, extra: Any = (), cap_knots: float = 200.0) -> np.ndarray:
    """Knot positions in 0..n-1: geometric spacing towards the end (``resolution`` x distance to the last step,
    at least 1 and at most n/cap_knots), always including 0, n-1 and the positions in ``extra``."""
    if resolution <= 0:
        return np.arange(n, dtype=np.int64)
    dist = [0.0]
    cap = max(1.0, n / cap_knots)  # at most cap_knots knots' worth of spacing anywhere (a drop is placed within)
    while dist[-1] < n - 1:
        dist.append(dist[-1] + min(cap, max(1.0, resolution * dist[-1])))
    pos = np.round(n - 1 - np.asarray(dist))
    pos = np.concatenate(([0.0, n - 1.0], pos, np.asarray(extra, dtype=np.float64).ravel()))
    return np.unique(np.clip(pos, 0, n - 1).astype(np.int64))


def _bends(eta: np.ndarray, scale: float, k: int = 8) -> np.ndarray:
    """The steps (and their neighbours) where ``eta`` bends most: the ``k`` largest ``|second difference|`` above
    ``1e-6 scale``. Knots there let the knot stage represent its start exactly (a WSD's kink, a step drop)."""
    if eta.size < 3:
        return np.zeros(0, dtype=np.int64)
    d2 = np.abs(np.diff(eta, 2))  # (n-2,) at steps 1..n-2
    top = np.argsort(d2)[::-1][:k]
    top = top[d2[top] > 1e-6 * scale] + 1
    return np.concatenate((top - 1, top, top + 1))


class _Param:
    """Map between a parameter vector z (one entry per knot, box-bounded) and the post-warmup LR ``eta`` (n,),
    linear between knots.

    Monotone: log-decays ``z = s >= 0`` from the start LR, ``eta_knot = max(low, start exp(-cumsum(s)))``. Every
    non-increasing schedule in ``[low, start]`` is reachable, with exactly one box-feasible z per schedule: a flat
    stretch is ``s = 0`` and a step down to ``low`` is one ``s`` at its bound ``log(start / low)``. Box bounds, not a
    smooth reparameterisation (softplus): there the gradient vanishes on flat stretches (``d softplus / dz -> 0``),
    so the search could not start a decay where its start held the LR. The log scale keeps the search well scaled
    over the orders of magnitude an optimum spans at its end. Otherwise ``z = eta_knot / start`` in the box
    ``[low, ceiling] / start``.
    """

    def __init__(self, n: int, pos: np.ndarray, *, monotone: bool, start: float, floor: float, ceiling: float,
                 rate: float | None = None):
        self.n, self.pos, self.monotone = n, pos, monotone
        self.start, self.low, self.ceiling = start, floor, ceiling
        self.rate = None if rate is None or not monotone else float(rate)  # largest LR decrement per step
        self.full = pos.size == n
        if not self.full:
            self.steps = np.arange(n, dtype=np.float64)
            self.cuts = pos[:-1]  # segment j = steps pos[j] .. pos[j+1]-1 (the last one includes n-1)
            left = np.repeat(np.arange(pos.size - 1), np.diff(np.append(pos[:-1], n)))  # (n,) knot at or before
            self.w = (np.arange(n) - pos[left]) / (pos[left + 1] - pos[left])  # (n,) weight of the next knot
        m = pos.size
        self.seg = np.diff(pos).astype(np.float64)  # (m-1,) steps between knots
        if self.rate is not None:  # z_j = the decrement per step on segment j, in [0, 1] x rate; z[-1] unused
            self.lower, self.upper = np.zeros(m), np.ones(m)
            self.upper[-1] = 0.0
        elif monotone:
            self.lower = np.zeros(m)
            self.upper = np.full(m, math.log(start / floor) if floor > 0 else 745.0)
        else:
            self.lower = np.full(m, floor / start)
            self.upper = np.full(m, ceiling / start)

    def _free_level(self, z: np.ndarray) -> np.ndarray:
        """(m,) the knot LRs before the clip at `low`."""
        if self.rate is not None:
            return self.start - self.rate * np.concatenate(([0.0], np.cumsum(z[:-1] * self.seg)))
        return self.start * np.exp(-np.cumsum(z))

    def knot_values(self, z: np.ndarray) -> np.ndarray:
        if self.monotone:
            return np.maximum(self._free_level(z), self.low)
        return np.clip(z * self.start, self.low, self.ceiling)

    def eta(self, z: np.ndarray) -> np.ndarray:
        ek = self.knot_values(z)
        if self.full:
            return ek
        return np.interp(self.steps, self.pos, ek)

    def grad(self, z: np.ndarray, g_eta: np.ndarray) -> np.ndarray:
        """Chain rule: d objective / d z from d objective / d eta (n,)."""
        if self.full:
            gk = g_eta
        else:
            gk = np.zeros(self.pos.size)
            gk[:-1] += np.add.reduceat((1.0 - self.w) * g_eta, self.cuts)
            gk[1:] += np.add.reduceat(self.w * g_eta, self.cuts)
        if self.rate is not None:
            v = self._free_level(z)
            tail = np.cumsum((gk * (v > self.low))[::-1])[::-1]  # (m,) sum over the knots after each one
            return np.concatenate((-self.rate * self.seg * tail[1:], [0.0]))
        if self.monotone:
            v = self._free_level(z)
            return -np.cumsum((gk * np.where(v > self.low, v, 0.0))[::-1])[::-1]
        return gk * self.start

    def from_eta(self, eta: np.ndarray) -> np.ndarray:
        """Parameters whose knot values are ``eta`` at the knots (clipped into the feasible set)."""
        ek = np.asarray(eta, dtype=np.float64)[self.pos]
        if self.rate is not None:  # greedy: follow the target as closely as the rate allows, knot by knot
            z = np.zeros(self.pos.size)
            level = self.start
            for j in range(self.pos.size - 1):  # O(knots), a few hundred
                want = (level - max(min(ek[j + 1], level), self.low)) / (self.rate * self.seg[j])
                z[j] = min(max(want, 0.0), 1.0)
                level -= z[j] * self.rate * self.seg[j]
            return z
        if self.monotone:
            ek = np.minimum.accumulate(np.clip(ek, self.low, self.start))
            r = np.log(ek / self.start)  # (m,) <= 0
            return np.clip(-np.diff(np.concatenate(([0.0], r))), self.lower, self.upper)
        return np.clip(ek, self.low, self.ceiling) / self.start
