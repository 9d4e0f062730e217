"""Optimal peak learning rate and batch size as power laws of model size, data and compute.

Two forms, declared as data in :data:`FORMS` (which variables each quantity's power law takes):

* ``steplaw`` (Li et al. 2025, "Predictable Scale: Part I -- Optimal Hyperparameter Scaling Law in Large
  Language Model Pretraining", arXiv 2503.04715, eq. 1-2): ``lr* = a N^b D^c`` and ``B* = d D^e`` (B in tokens).
* ``deepseek`` (DeepSeek LLM, arXiv 2401.02954, sec. 3.1): ``lr* = a C^b`` and ``B* = d C^e``.

A law here is a :class:`PowerLaw`: its coefficient and exponents, with the bootstrap draws behind their intervals.
The fit (the Step Law procedure: near-optimal runs per cell, least squares on the logs) lives in
:mod:`scalefit.scaling.hparams`; why it does not share the loss laws' Huber fitter is in
``docs/scaling_laws.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: Each form: the variables of the lr power law and of the batch-size power law (N params, D tokens, C = 6ND).
FORMS: dict[str, dict[str, tuple[str, ...]]] = {
    "steplaw": {"lr": ("N", "D"), "batch_size": ("D",)},
    "deepseek": {"lr": ("C",), "batch_size": ("C",)},
}
CITATIONS = {
    "steplaw": "Li et al. 2025, Step Law (arXiv 2503.04715)",
    "deepseek": "DeepSeek-AI 2024, DeepSeek LLM (arXiv 2401.02954)",
}
#: What each variable is, in the names of a run table.
VARIABLES = {"N": "params", "D": "tokens", "C": "flops"}


@dataclass(frozen=True)
class PowerLaw:
    """``value = coef * prod(x_k ** exponents[k])``.

    ``ci`` holds the bootstrap percentile interval (``ci_level``) of ``coef`` and of each exponent;
    ``bootstrap`` has shape (n_boot, 1 + k): ln coef then the exponents in ``exponents`` order.
    """

    coef: float
    exponents: dict[str, float]
    ci: dict[str, tuple[float, float]]
    bootstrap: np.ndarray
    ci_level: float = 0.95

    def __call__(self, **x: float) -> float:
        return float(self.coef * np.prod([x[k] ** e for k, e in self.exponents.items()]))

    def interval(self, level: float = 0.9, **x: float) -> tuple[float, float]:
        """Central bootstrap interval of the prediction at ``x`` (NaN without a bootstrap)."""
        if self.bootstrap.shape[0] < 2:
            return float("nan"), float("nan")
        logs = np.array([np.log(x[k]) for k in self.exponents])  # (k,)
        draws = self.bootstrap[:, 0] + self.bootstrap[:, 1:] @ logs  # (n_boot,)
        q = (1 - level) / 2
        with np.errstate(over="ignore"):
            return float(np.exp(np.quantile(draws, q))), float(np.exp(np.quantile(draws, 1 - q)))

    def stderr(self) -> dict[str, float]:
        """Bootstrap sd of ``coef`` and of each exponent (NaN without a bootstrap)."""
        if self.bootstrap.shape[0] < 2:
            return {k: float("nan") for k in ("coef", *self.exponents)}
        sd = self.bootstrap.std(axis=0, ddof=1)
        with np.errstate(over="ignore", invalid="ignore"):  # inf when an exponent is not identifiable
            coef_sd = float(np.exp(self.bootstrap[:, 0]).std(ddof=1))
        return {"coef": coef_sd, **{k: float(s) for k, s in zip(self.exponents, sd[1:])}}

    def formula(self, name: str) -> str:
        terms = " ".join(f"{k}^{e:.3f}" for k, e in self.exponents.items())
        return f"{name} = {self.coef:.4g} {terms}"

    def to_dict(self) -> dict[str, Any]:
        return {"coef": self.coef, "exponents": dict(self.exponents),
                "ci": {k: list(v) for k, v in self.ci.items()}, "ci_level": self.ci_level,
                "bootstrap": self.bootstrap.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PowerLaw:
        exps = {str(k): float(v) for k, v in d["exponents"].items()}
        return cls(coef=float(d["coef"]), exponents=exps,
                   ci={k: (float(v[0]), float(v[1])) for k, v in d["ci"].items()},
                   bootstrap=np.array(d.get("bootstrap") or [], float).reshape(-1, 1 + len(exps)),
                   ci_level=float(d.get("ci_level", 0.95)))
