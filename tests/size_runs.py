"""Runs simulated from the size-aware MPL (mpl-n), shared by the size tests: a constant and a cosine run per model
size, with 0.05 % log noise, so a fit's size terms can be checked against a known truth."""

from __future__ import annotations

import numpy as np

from scalefit.laws import get_law
from scalefit.runs import Run

#: the parameters the runs are simulated from
TRUTH = {"E": 2.0, "K": 0.6, "A": 0.5, "B": 400.0, "a": 0.35, "rA": 1.05, "rB": 1.1, "alpha": 0.5, "C": 1.0,
         "beta": 0.5, "gamma": 0.5}


def size_runs(sizes=(3e7,), T=1500, W=100, every=25, seed=0) -> list[Run]:
    """A constant and a cosine run (peak 1e-3, linear warmup over W steps) per size, observed every ``every`` steps."""
    law = get_law("mpl-n")
    rng = np.random.default_rng(seed)
    s = np.arange(T)
    out = []
    for n in sizes:
        for kind in ("constant", "cosine"):
            lr = np.full(T, 1e-3) if kind == "constant" else 1e-5 + (1e-3 - 1e-5) / 2 * (
                1 + np.cos(np.pi * (s - W) / (T - W)))
            lr[:W] = 1e-3 * s[:W] / (W - 1)
            steps = np.arange(W, T, every, dtype=np.int64)
            loss = law.predict(TRUTH, lr, warmup=W, at=steps, n_params=n) * np.exp(rng.normal(0, 5e-4, steps.size))
            out.append(Run(path=f"{kind}_{n:.0e}.csv", steps=steps, loss=loss, lr=lr, step0=0, warmup=W,
                           line=np.arange(steps.size) + 2, meta={"params": float(n)}))
    return out
