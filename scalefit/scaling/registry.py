"""The loss laws of model size and data, by name (the ``--law`` of ``scalefit scaling``), and the default.

The default is the law that predicts held-out bigger runs best on the reference data: fitted on every size but
the largest and asked for the largest (``benchmarks/compute_optimal.py``, "Leave the largest size out" in
``benchmarks/RESULTS.md``), not the law that fits the training runs best.
"""

from __future__ import annotations

from scalefit.errors import FitInputError
from scalefit.laws.chinchilla import ChinchillaLaw
from scalefit.laws.overtrain import OvertrainLaw
from scalefit.laws.scaling_base import ScalingLaw

LOSS_LAWS: dict[str, ScalingLaw] = {"chinchilla": ChinchillaLaw(), "overtrain": OvertrainLaw()}
DEFAULT_LAW = "chinchilla"


def get_loss_law(name: str | ScalingLaw | None = None) -> ScalingLaw:
    """The law registered as ``name`` (None: the default); a law object passes through."""
    if isinstance(name, ScalingLaw):
        return name
    key = DEFAULT_LAW if name is None else name
    try:
        return LOSS_LAWS[key]
    except KeyError:
        raise FitInputError(f"unknown loss law {name!r}; use one of {', '.join(LOSS_LAWS)}.", value=name) from None
