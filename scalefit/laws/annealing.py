"""LR-annealing law of Tissue et al. 2024, "Scaling Law with Learning Rate Annealing" (arXiv 2408.11029).

``L(s) = L0 + A * S1(s)^-alpha - C * S2(s)``  (the paper's eq. 1). Its form across model sizes ("tissue-n") is
:mod:`scalefit.laws.annealing_size`.

==========  ======================================================================================================
symbol      meaning (our arrays are 0-based: ``lr[i]`` is the LR of step ``i``; the loss at ``i`` follows step i)
==========  ======================================================================================================
S1(i)       forward area ``sum_{j<=i} eta_j``, with the warmup counted as constant peak LR (the paper's form):
            ``eta_j = lr[warmup-1]`` for ``j < warmup``, else ``lr[j]``
m_i         annealing momentum ``m_i = lam * m_{i-1} + (eta_{i-1} - eta_i)``, ``m_0 = 0``; with the warmup
            replaced by the peak there are no decrements inside warmup
S2(i)       annealing area ``sum_{j<=i} m_j``, computed in O(T) by a first-order linear filter and a cumsum
lam         momentum decay, fixed at 0.999 (the paper's value) unless ``fit_lam=True``
==========  ======================================================================================================

The design rows carry the physical signs so that every amplitude is >= 0: ``[1, S1^-alpha, -S2]`` for
(L0, A, C).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from scalefit.errors import FitInputError
from scalefit.laws.base import Law, ParamSpec, Prepared, check_schedule

CITATION = "Tissue et al. 2024, Scaling Law with Learning Rate Annealing (arXiv 2408.11029)"
LAM_DEFAULT = 0.999

_L0 = ParamSpec("L0", 0.0, np.inf, True, 2.5, "irreducible loss L0 (nats/token), eq. 1")
_A = ParamSpec("A", 0.0, np.inf, True, 0.5, "amplitude of the forward-area power law A * S1^-alpha, eq. 1")
_ALPHA = ParamSpec("alpha", 0.01, 2.0, False, 0.5,
                   "exponent of the forward area S1 (sum of LRs, warmup at peak), eq. 1; the paper's fits lie "
                   "near 0.5, the bounds allow any slowly-to-quickly saturating power law")
_C = ParamSpec("C", 0.0, np.inf, True, 1.0, "amplitude of the annealing area S2 (loss drop per unit S2), eq. 1")


def _lam_spec(default: float, fit: bool) -> ParamSpec:
    return ParamSpec("lam", 0.9, 0.99999, False, default,
                     "decay of the annealing momentum m_i = lam*m_{i-1} + (eta_{i-1}-eta_i), eq. 2; the paper "
                     "uses 0.999 (a memory of ~1000 steps); fitted only with fit_lam=True",
                     fixed=not fit)


@dataclass(frozen=True, eq=False)
class AnnealingPrepared(Prepared):
    """Tissue features of one run: S1 at ``at``, the decrements (for S2 at any lam), S2 at the default lam."""

    s1: np.ndarray  # (M,) forward area at the observations
    dec: np.ndarray  # (T',) decrements eta_{i-1} - eta_i, d[0] = 0, T' = max(at) + 1
    s2_default: np.ndarray  # (M,) S2 at the law's default lam
    lam_default: float


def s1_s2(lr: Any, warmup: int, lam: float = LAM_DEFAULT) -> tuple[np.ndarray, np.ndarray]:
    """Forward area S1 and annealing area S2 at every step, both shape (T,), in O(T).

    The warmup (the first ``warmup`` steps) counts as constant peak LR ``lr[warmup-1]`` (the paper's form).
    """
    lr, warmup, _ = check_schedule(lr, warmup, None)
    eta = _effective(lr, warmup)
    dec = np.zeros_like(eta)
    dec[1:] = eta[:-1] - eta[1:]  # (T,)
    return np.cumsum(eta), _s2(dec, lam)


def _effective(lr: np.ndarray, warmup: int) -> np.ndarray:
    eta = lr.copy()
    if warmup > 0:
        eta[:warmup] = lr[warmup - 1]
    return eta


def _s2(dec: np.ndarray, lam: float) -> np.ndarray:
    """S2 = cumsum(m), m = lfilter([1], [1, -lam], dec): O(T), never the O(T^2) double sum."""
    from scipy.signal import lfilter  # here, not at import: scipy.signal costs ~0.7 s cold on a small CPU

    return np.cumsum(lfilter([1.0], [1.0, -lam], dec))


def _ds2_dlam(dec: np.ndarray, lam: float) -> np.ndarray:
    """d S2 / d lam: dm_i = m_{i-1} + lam dm_{i-1}, i.e. the same filter applied to m shifted by one step."""
    from scipy.signal import lfilter

    m = lfilter([1.0], [1.0, -lam], dec)
    shifted = np.concatenate(([0.0], m[:-1]))
    return np.cumsum(lfilter([1.0], [1.0, -lam], shifted))


class AnnealingLaw(Law):
    """Tissue et al. 2024 LR-annealing law ``L = L0 + A S1^-alpha - C S2`` (name "tissue").

    Parameters
    ----------
    fit_lam : bool
        Fit the momentum decay ``lam`` (bounds [0.9, 0.99999]) instead of fixing it.
    lam : float
        The fixed value of ``lam`` (and the start when fitted); default 0.999 as in the paper.
    """

    name = "tissue"
    citation = CITATION
    title = "LR-annealing law"
    degenerate_optimum = ("its predicted loss is linear in the LR decrements, so its optimum is degenerate: hold the "
                          "peak, then drop to the floor within one or two steps (Luo et al. 2025, Theorem 2)")

    def __init__(self, *, fit_lam: bool = False, lam: float = LAM_DEFAULT) -> None:
        if not 0.9 <= float(lam) < 1.0:
            raise FitInputError(f"lam = {lam!r} must lie in [0.9, 1); the paper uses 0.999.", value=lam)
        super().__init__(**({"fit_lam": True} if fit_lam else {}), **({"lam": lam} if lam != LAM_DEFAULT else {}))
        self.fit_lam = bool(fit_lam)
        self.params = (_L0, _A, _ALPHA, _C, _lam_spec(float(lam), self.fit_lam))

    def final_loss_and_grad(self, values: Mapping[str, float], lr: np.ndarray, *, warmup: int,
                            n_params: float | None = None, grad: bool = True) -> tuple[float, np.ndarray | None]:
        """Loss at the last step of ``lr`` and its gradient w.r.t. ``lr[max(warmup, 1):]``, O(T) (S2 is linear in
        the LR)."""
        return _final_loss_and_grad(values, lr, warmup=int(warmup), first=max(int(warmup), 1), grad=grad)

    # ---- features -------------------------------------------------------------------------------------------
    def prepare(self, lr: Any, *, warmup: int, at: Any = None, n_params: float | None = None) -> AnnealingPrepared:
        """S1 at ``at`` and the decrements of the warmup-at-peak schedule (O(T))."""
        lr, warmup, at = check_schedule(lr, warmup, at)
        end = int(at.max()) + 1 if at.size else 1
        eta = _effective(lr[:end], warmup)
        s1 = np.cumsum(eta)[at]  # (M,)
        if np.any(s1 <= 0):
            i = int(at[np.flatnonzero(s1 <= 0)[0]])
            raise FitInputError(f"step index {i} is observed before any learning rate was applied (S1 = 0), "
                                "where the law predicts infinite loss. Drop observations before the first "
                                "nonzero LR, or pass the warmup length.", value=i)
        dec = np.zeros_like(eta)
        dec[1:] = eta[:-1] - eta[1:]  # (T',)
        lam0 = self.spec("lam").default
        return AnnealingPrepared(at=at, n_steps=lr.size, warmup=warmup,
                                 n_params=None if n_params is None else float(n_params),
                                 s1=s1, dec=dec, s2_default=_s2(dec, lam0)[at], lam_default=lam0)

    def _s2_at(self, lam: float, prep: AnnealingPrepared) -> np.ndarray:
        if lam == prep.lam_default:
            return prep.s2_default
        return _s2(prep.dec, lam)[prep.at]

    # ---- design ---------------------------------------------------------------------------------------------
    def design(self, theta: Mapping[str, float] | Any, prep: AnnealingPrepared) -> np.ndarray:
        """Rows ``[1, S1^-alpha, -S2]`` for (L0, A, C), shape (3, M)."""
        p = self.resolve(theta)
        s1 = prep.s1
        return np.stack([np.ones_like(s1), s1 ** -p["alpha"], -self._s2_at(p["lam"], prep)])

    def design_jac(self, theta: Mapping[str, float] | Any, prep: AnnealingPrepared) -> np.ndarray:
        """d design / d (alpha[, lam]), shape (n_nonlinear, 3, M)."""
        p = self.resolve(theta)
        s1 = prep.s1
        out = np.zeros((len(self.nonlinear_names), 3, s1.size))
        out[0, 1] = -np.log(s1) * s1 ** -p["alpha"]
        if self.fit_lam:
            out[1, 2] = -_ds2_dlam(prep.dec, p["lam"])[prep.at]
        return out


def _final_loss_and_grad(values: Mapping[str, float], lr: np.ndarray, *, warmup: int, first: int,
                         grad: bool = True) -> tuple[float, np.ndarray | None]:
    """Tissue (LR-annealing law) predicted loss at the last index of ``lr`` and its gradient w.r.t. ``lr[first:]``.

    ``L = L0 + A S1^-alpha - C S2``, warmup counted at the peak. S2 at step n is linear in the LR: ``S2 = sum_k dec_k w_k``, ``w_k = (1 - lam^(n-k+1)) / (1 - lam)``,
    so ``dS2/d eta_j = w_{j+1} - w_j`` (``w_{n+1} = 0``). O(T).
    """
    L0, A, alpha, C = (float(values[k]) for k in ("L0", "A", "alpha", "C"))
    lam = float(values.get("lam", 0.999))
    eta = lr.copy()
    if warmup > 0:
        eta[:warmup] = lr[warmup - 1]
    n = eta.size
    S1 = float(np.sum(eta))
    dec = np.zeros(n)
    dec[1:] = eta[:-1] - eta[1:]
    w = -np.expm1((n - np.arange(n)) * math.log(lam)) / (1.0 - lam)  # (T,) w_k
    loss = L0 + A * S1 ** -alpha - C * float(np.sum(dec * w))
    if not grad:
        return loss, None
    ds2 = -w[first:].copy()
    ds2[:-1] += w[first + 1:]
    return loss, -alpha * A * S1 ** (-alpha - 1.0) - C * ds2
