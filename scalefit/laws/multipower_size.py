"""Size-aware Multi-Power Law ("mpl-n"): Luo et al. 2025's law with its amplitudes as functions of model size N.

``L(t, N) = E + K n^-a + A rA^l (S1 + S_W)^-alpha - B rB^l LD1(t)``, ``n = N / 1e8``, ``l = log2 n``,

where ``LD1`` is MPL's loss-drop sum with unit amplitude (``LD = B * LD1``; ``C``, ``beta``, ``gamma`` as in
:mod:`scalefit.laws.multipower`, with its conventions and ``variant``). The shape (``alpha``, ``C``, ``beta``,
``gamma``) is shared by every size: Luo et al.'s published fits give nearly the same shape at 25M and 100M
(``C`` 2.07 / 2.13, ``beta`` 0.58 / 0.60, ``gamma`` 0.64 / 0.66; the reference README). ``L0(N) = E + K n^-a`` is
Chinchilla's model-size term (Hoffmann et al. 2022); the size factors ``rA``, ``rB`` (per doubling of N) are our
extension (see :mod:`scalefit.laws.size_terms` for the forms, their sources and the priors). At one size the law is
exactly MPL with ``L0 = E + K n^-a``, ``A rA^l`` and ``B rB^l`` (:meth:`MultiPowerSizeLaw.at_size`).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from scalefit.laws.multipower import MultiPowerLaw
from scalefit.laws.size_terms import SizeAwareLaw, size_prior


class MultiPowerSizeLaw(SizeAwareLaw):
    """Multi-Power Law across model sizes (name "mpl-n"); options as :class:`~scalefit.laws.multipower.MultiPowerLaw`.

    Every run needs its model size (``params`` metadata, non-embedding parameters).
    """

    name = "mpl-n"
    base = MultiPowerLaw
    drop = "B"
    #: the size terms' weak prior and MPL's shape prior (evidence for the latter in benchmarks/mpl_prior.py)
    default_prior = MappingProxyType({**size_prior("B"), **MultiPowerLaw.default_prior})

    def __init__(self, **options: Any) -> None:
        inner = MultiPowerLaw(**options)
        super().__init__(inner, **inner.options)
