"""A toy loss-curve law in one file: what a new law writes to be fitted, predicted, optimised, saved and used from
the CLI (registered by one line, ``LAWS["toy"] = ToyLaw``, in ``test_toy_law.py``).

``L = L0 + A * S1^-alpha`` with ``S1`` the sum of the LRs up to the step (warmup included): the LR-area term of the
Tissue and MPL laws alone, without a loss drop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from scalefit.laws.base import Law, ParamSpec, Prepared, check_schedule


@dataclass(frozen=True, eq=False)
class ToyPrepared(Prepared):
    s1: np.ndarray  # (M,) LR area at the observations


class ToyLaw(Law):
    name = "toy"
    citation = "A toy law for tests (no paper)"
    title = "toy LR-area law"
    params = (
        ParamSpec("L0", 0.0, np.inf, True, 2.0, "irreducible loss"),
        ParamSpec("A", 0.0, np.inf, True, 1.0, "amplitude of the LR-area power law"),
        ParamSpec("alpha", 0.01, 2.0, False, 0.5, "exponent of the LR area"),
    )
    default_prior = MappingProxyType({"alpha": (0.5, 1.0)})

    def prepare(self, lr: Any, *, warmup: int, at: Any = None, n_params: float | None = None) -> ToyPrepared:
        lr, warmup, at = check_schedule(lr, warmup, at)
        return ToyPrepared(at=at, n_steps=lr.size, warmup=warmup, n_params=n_params, s1=np.cumsum(lr)[at])

    def design(self, theta: Mapping[str, float] | Any, prep: ToyPrepared) -> np.ndarray:
        p = self.resolve(theta)
        return np.stack([np.ones_like(prep.s1), prep.s1 ** -p["alpha"]])

    def design_jac(self, theta: Mapping[str, float] | Any, prep: ToyPrepared) -> np.ndarray:
        p = self.resolve(theta)
        out = np.zeros((1, 2, prep.s1.size))
        out[0, 1] = -np.log(prep.s1) * prep.s1 ** -p["alpha"]
        return out

    def final_loss_and_grad(self, values: Mapping[str, float], lr: np.ndarray, *, warmup: int,
                            n_params: float | None = None, grad: bool = True) -> tuple[float, np.ndarray | None]:
        L0, A, alpha = (float(values[k]) for k in ("L0", "A", "alpha"))
        s1 = float(np.sum(lr))
        loss = L0 + A * s1 ** -alpha
        if not grad:
            return loss, None
        return loss, np.full(lr.size - max(int(warmup), 1), -alpha * A * s1 ** (-alpha - 1.0))
