"""Size-aware LR-annealing law ("tissue-n"): Tissue et al. 2024's law with its amplitudes as functions of model size.

``L(s, N) = E + K n^-a + A rA^l S1(s)^-alpha - C rC^l S2(s)``, ``n = N / 1e8``, ``l = log2 n``,

with ``S1``, ``S2`` and ``lam`` as in :mod:`scalefit.laws.annealing` (warmup at peak LR, ``lam`` 0.999 unless
``fit_lam``). The shape (``alpha``, ``lam``) is shared by every size; ``L0(N) = E + K n^-a`` is Chinchilla's model-size
term (Hoffmann et al. 2022). The earlier form ``L0 + A S1^-alpha + B N^-beta - C S2 N^gamma`` is this one with
``rA = 1`` and ``rC = 2^gamma``; it had no reference size, so its ``B`` and ``N^-beta`` spanned 10 decades, and with
two sizes its exponent was free (a singular fit). Here two sizes take the exponent from a stated prior and three
fit it (:mod:`scalefit.laws.size_terms`). At one size the law is exactly "tissue" (:meth:`AnnealingSizeLaw.at_size`).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from scalefit.laws.annealing import LAM_DEFAULT, AnnealingLaw
from scalefit.laws.size_terms import SizeAwareLaw, size_prior


class AnnealingSizeLaw(SizeAwareLaw):
    """Tissue et al. 2024 law across model sizes (name "tissue-n"); ``fit_lam`` and ``lam`` as for "tissue".

    Every run needs its model size (``params`` metadata, non-embedding parameters).
    """

    name = "tissue-n"
    base = AnnealingLaw
    drop = "C"
    default_prior = MappingProxyType(size_prior("C"))

    def __init__(self, *, fit_lam: bool = False, lam: float = LAM_DEFAULT) -> None:
        inner = AnnealingLaw(fit_lam=fit_lam, lam=lam)
        super().__init__(inner, **inner.options)
