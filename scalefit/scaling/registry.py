"""The loss laws of model size and data, by name (the ``--law`` of ``scalefit scaling``), and the default.

The default is the law that predicts held-out bigger runs best on the reference data: fitted on every size but
the largest and asked for the largest (``benchmarks/compute_optimal.py``, "Compute-optimal analysis" in
``benchmarks/RESULTS.md``), not the law that fits the training runs best. Over Epoch's Chinchilla points, the
Schaipp et al. runs and the Step Law cells the over-training-aware law of Gadre et al. missed the held-out largest
size by 0.74% on average against 0.91% for Chinchilla's form (1.18% against 1.23% with the two largest sizes
held out). Its one exponent fixes the compute-optimal split at N* ~ C^0.5: for the split itself use the isoFLOP
profiles (``--method isoflop``) or the Chinchilla form.
"""

from __future__ import annotations

from scalefit.errors import FitInputError
from scalefit.laws.chinchilla import ChinchillaLaw
from scalefit.laws.overtrain import OvertrainLaw
from scalefit.laws.scaling_base import ScalingLaw

LOSS_LAWS: dict[str, ScalingLaw] = {"chinchilla": ChinchillaLaw(), "overtrain": OvertrainLaw()}
DEFAULT_LAW = "overtrain"


def get_loss_law(name: str | ScalingLaw | None = None) -> ScalingLaw:
    """The law registered as ``name`` (None: the default); a law object passes through."""
    if isinstance(name, ScalingLaw):
        return name
    key = DEFAULT_LAW if name is None else name
    try:
        return LOSS_LAWS[key]
    except KeyError:
        raise FitInputError(f"unknown loss law {name!r}; use one of {', '.join(LOSS_LAWS)}.", value=name) from None
