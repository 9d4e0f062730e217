"""Multi-Power Law of Luo et al. 2025, "A Multi-Power Law for Loss Curve Prediction Across Learning Rate
Schedules" (arXiv 2503.12811).

``L(t) = L0 + A (S1(t) + S_W)^-alpha - LD(t)``,
``LD(t) = B sum_{k=1..t} (eta_{k-1} - eta_k) G(eta_k^-gamma S_k(t))``, ``G(x) = 1 - (C x + 1)^-beta``,
``S_k(t) = sum_{tau=k..t} eta_tau``.

==========  ======================================================================================================
symbol      meaning (arrays are 0-based: ``lr[i]`` is the LR of step i; the loss at i follows step i)
==========  ======================================================================================================
t           t = 1 is the first step after warmup, i.e. array index ``warmup``; index i is t = i - warmup + 1
eta_0       the peak: the last warmup LR ``lr[warmup-1]`` (``lr[0]`` when warmup = 0)
S_W         sum of the warmup LRs ``sum(lr[:warmup])``
S1(t)       ``sum_{tau=1..t} eta_tau``; so ``S1 + S_W = P[i] = cumsum(lr)[i]`` (used for every observation, also
            inside the warmup, where LD = 0)
LD          sums the post-warmup decrements ``d_k = lr[k-1] - lr[k]``, ``k >= max(warmup, 1)`` (paper form)
==========  ======================================================================================================

``variant="official"``: the official code's form as the reference README and the paper describe it. The drop
term also sums the decrements inside the warmup, ``k = 1..i`` (rising LR gives negative ``d_k``, so LD < 0 there
and the fitted L0 comes out lower, about -0.16 at 400M), with ``S_k`` and ``eta_k`` the same expressions over the
whole schedule. Everything else is as in the paper form.

An ``eta_k`` of exactly 0 is floored at ``1e-12 * max(lr)`` inside ``eta_k^-gamma`` (a decay to zero LR).

The loss drop LD is summed in O(near + block + log T) per observation by exact block compression
(``compress=True``, the default; :mod:`scalefit.laws.mpl_blocks` has the method and the error bound,
:mod:`scalefit.laws.mpl_drop` the evaluation; ``compress=False`` gives the exact sum).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from scalefit.errors import FitInputError
from scalefit.laws import mpl_blocks as blocks
from scalefit.laws.base import Law, ParamSpec, check_schedule
from scalefit.laws.mpl_blocks import MPLPrepared
from scalefit.laws.mpl_drop import ld_error_bound, ld_naive, unit_drop

CITATION = ("Luo et al. 2025, A Multi-Power Law for Loss Curve Prediction Across Learning Rate Schedules "
            "(arXiv 2503.12811)")
VARIANTS = ("paper", "official")

#: Bounds and defaults. Amplitudes are >= 0 (loss falls with LR area and with LR decay). The exponents follow the
#: paper's theory and fits: beta and gamma in (0, 1] (the paper suggests this range; its fits give beta ~ 0.59,
#: gamma ~ 0.63), alpha ~ 0.4-0.6 in its fits (bounded by the same power-law range as Tissue's alpha), C > 0 sets
#: the scale at which the drop saturates (fits of order 0.1-10; the log-scale bounds cover 1e-3..1e3). The defaults
#: of C, beta, gamma (1, 0.5, 0.5) are the official code's starting point and the centre of the law's default
#: prior on the loss-drop shape (MultiPowerLaw.default_prior; evidence in benchmarks/mpl_prior.py).
PARAMS = (
    ParamSpec("L0", 0.0, np.inf, True, 3.0, "irreducible loss L0 (nats/token), MPL eq. (6)"),
    ParamSpec("A", 0.0, np.inf, True, 0.5, "amplitude of the LR-area power law A (S1 + S_W)^-alpha"),
    ParamSpec("B", 0.0, np.inf, True, 500.0,
              "amplitude of the loss drop LD; multiplies a sum of LR decrements, so B ~ loss drop / LR drop"),
    ParamSpec("alpha", 0.01, 2.0, False, 0.5, "exponent of the LR area S1 + S_W (paper's fits ~0.4-0.6)"),
    ParamSpec("C", 1e-3, 1e3, False, 1.0, "scale of the drop saturation G(x) = 1 - (C x + 1)^-beta"),
    ParamSpec("beta", 0.01, 1.0, False, 0.5, "saturation exponent of G; paper: in (0, 1], fits ~0.59"),
    ParamSpec("gamma", 0.01, 1.0, False, 0.5, "LR exponent in x = eta_k^-gamma S_k(t); paper: in (0, 1], fits ~0.63"),
)


class MultiPowerLaw(Law):
    """Luo et al. 2025 Multi-Power Law (name "mpl"); see the module docstring for conventions and the bound.

    Parameters
    ----------
    variant : {"paper", "official"}
        Whether the drop term sums post-warmup decrements only (paper) or also those inside the warmup (official).
    compress : bool
        Use the block compression (default). ``False`` sums every nonzero decrement exactly (O(M T)).
    near, block, eta_tol : int, int, float
        Exact window (steps), level-0 block length and LR tolerance of a block (see the module docstring).
    """

    name = "mpl"
    citation = CITATION
    title = "Multi-Power Law"
    params = PARAMS
    #: The loss-drop shape held near the official code's start (1, 0.5, 0.5), sd 0.01 on log scale (evidence:
    #: ``docs/fitting.md``, ``benchmarks/mpl_prior.py``).
    default_prior = MappingProxyType({"C": (1.0, 0.01), "beta": (0.5, 0.01), "gamma": (0.5, 0.01)})
    drop_shape = ("C", "beta", "gamma")
    non_monotone_warning = (
        "optimising MPL without the monotone constraint: its loss-drop term credits every LR decrease at the lower "
        "LR it ends on (eta_k^-gamma) and charges every increase at the higher one, so an LR that goes up and down "
        "again earns a net drop the law was never fitted to; the optimum oscillates and its predicted loss is not "
        "trustworthy. Keep the default monotone search to train with the result.")

    def __init__(self, *, variant: str = "paper", compress: bool = True, near: int = 64, block: int = 16,
                 eta_tol: float = 0.02) -> None:
        if variant not in VARIANTS:
            raise FitInputError(f"unknown MPL variant {variant!r}; use 'paper' or 'official'.", value=variant)
        if int(near) < 1 or int(block) < 1 or not 0 < float(eta_tol) < 1:
            raise FitInputError(f"MPL compression needs near >= 1, block >= 1 and 0 < eta_tol < 1; got near={near}, "
                                f"block={block}, eta_tol={eta_tol}.")
        opts = {"variant": variant, "compress": compress, "near": near, "block": block, "eta_tol": eta_tol}
        defaults = {"variant": "paper", "compress": True, "near": 64, "block": 16, "eta_tol": 0.02}
        super().__init__(**{k: v for k, v in opts.items() if v != defaults[k]})
        self.variant, self.compress = variant, bool(compress)
        self.near, self.block, self.eta_tol = int(near), int(block), float(eta_tol)

    def final_loss_and_grad(self, values: Mapping[str, float], lr: np.ndarray, *, warmup: int,
                            n_params: float | None = None, grad: bool = True) -> tuple[float, np.ndarray | None]:
        """Loss at the last step of ``lr`` and its gradient w.r.t. ``lr[max(warmup, 1):]``, O(T) (the optimizer's
        objective; the official variant also sums the decrements inside the warmup, which stays fixed)."""
        first = max(int(warmup), 1)
        law_first = 1 if self.variant == "official" else first
        loss, g = _final_loss_and_grad(values, lr, first=law_first, grad=grad)
        return loss, (None if g is None else g[first - law_first:])

    # ---- features -------------------------------------------------------------------------------------------
    def prepare(self, lr: Any, *, warmup: int, at: Any = None, n_params: float | None = None) -> MPLPrepared:
        """Total LR area at ``at``, nonzero decrements, and the block levels (O(T log T), no parameters)."""
        lr, warmup, at = check_schedule(lr, warmup, at)
        end = int(at.max()) + 1 if at.size else 1
        part = self._schedule_part(lr, warmup, end)
        area = part[0][at]
        if np.any(area <= 0):
            i = int(at[np.flatnonzero(area <= 0)[0]])
            raise FitInputError(f"step index {i} is observed before any learning rate was applied (LR area 0), "
                                "where the law predicts infinite loss. Drop observations before the first nonzero "
                                "LR.", value=i)
        return blocks.prepared(lr, warmup, at, n_params, part)

    def _schedule_part(self, lr: np.ndarray, warmup: int, end: int) -> tuple:
        """:func:`~scalefit.laws.mpl_blocks.schedule_part` of ``lr[:end]``, kept on the law object with a copy of
        ``lr[:end]`` and reused when the same schedule comes again (the fitter prepares each run twice: thinned
        rows for the search, all fitted rows for the polish); a content check, not identity, decides, so the
        result is the same as a fresh computation."""
        key = (warmup, end, lr.size, float(lr.max()))
        hit = self.__dict__.get("_schedule_cache")
        if hit is not None and hit[0] == key and np.array_equal(hit[1], lr[:end]):
            return hit[2]
        first = 1 if self.variant == "official" else max(warmup, 1)
        part = blocks.schedule_part(lr, warmup, end, first=first, compress=self.compress, near=self.near,
                                    block=self.block, eta_tol=self.eta_tol)
        self._schedule_cache = (key, lr[:end].copy(), part)
        return part

    # ---- design ---------------------------------------------------------------------------------------------
    def design(self, theta: Mapping[str, float] | Any, prep: MPLPrepared) -> np.ndarray:
        """Rows ``[1, (S1 + S_W)^-alpha, -LD/B]`` for (L0, A, B), shape (3, M)."""
        p = self.resolve(theta)
        (U,) = unit_drop(p, prep, jac=False)
        return np.stack([np.ones_like(prep.area), prep.area ** -p["alpha"], -U])

    def design_jac(self, theta: Mapping[str, float] | Any, prep: MPLPrepared) -> np.ndarray:
        """d design / d (alpha, C, beta, gamma), shape (4, 3, M) (exact derivative of the compressed design)."""
        p = self.resolve(theta)
        _, dC, dbeta, dgamma = unit_drop(p, prep, jac=True)
        out = np.zeros((4, 3, prep.at.size))
        out[0, 1] = -np.log(prep.area) * prep.area ** -p["alpha"]
        out[1, 2], out[2, 2], out[3, 2] = -dC, -dbeta, -dgamma
        return out


def _final_loss_and_grad(values: Mapping[str, float], lr: np.ndarray, *, first: int,
                         grad: bool = True) -> tuple[float, np.ndarray | None]:
    """MPL predicted loss at the last index of ``lr`` and its gradient w.r.t. ``lr[first:]``, O(T).

    ``L = L0 + A P_n^-alpha - B sum_{k>=first} d_k G(x_k)``, ``d_k = lr[k-1] - lr[k]``, ``x_k = eta_k^-gamma S_k``,
    ``S_k = P_n - P_{k-1}`` (suffix sums), ``G(x) = 1 - (1 + C x)^-beta``. ``first = max(W, 1)`` is the paper's
    form (decrements after the warmup only); ``first = 1`` is the official code's (see the module docstring).
    The gradient, for ``j >= first``:
    ``dL/d eta_j = -alpha A P_n^(-alpha-1) - B [G(x_{j+1}) - G(x_j) + sum_{first<=k<=j} d_k G'(x_k) eta_k^-gamma
    - gamma d_j G'(x_j) x_j / eta_j]`` (``G(x_{n+1}) = 0``). Equal to the naive per-index sums of
    ``tests/mpl_reference.py`` (tested); no Python work per step, no BLAS call (threaded BLAS stalls on a busy
    machine), few temporaries. Without the gradient only the nonzero decrements are evaluated (a zero decrement
    adds exactly 0), so a WSD or a step schedule costs little more than its cooldown. LRs of 0 are floored at
    ``1e-12 max(lr)`` inside ``eta^-gamma``, as in the law.
    """
    L0, A, B = float(values["L0"]), float(values["A"]), float(values["B"])
    alpha, C = float(values["alpha"]), float(values["C"])
    beta, gamma = float(values["beta"]), float(values["gamma"])
    tiny = 1e-12 * float(lr.max())
    P = np.cumsum(lr)  # (T,)
    Pn = float(P[-1])
    d = lr[first - 1:-1] - lr[first:]  # (n,) decrements d_k, k = first..T-1
    area = L0 + A * Pn ** -alpha
    if not grad:
        nz = np.flatnonzero(d)  # (m,) the steps whose decrement is not 0
        if nz.size == 0:
            return area, None
        d = d[nz]
        S = Pn - P[first - 1 + nz]  # (m,)
        eta = np.maximum(lr[first + nz], tiny)  # (m,)
        x = S / eta if gamma == 1.0 else S * np.exp(-gamma * np.log(eta))
        yb = np.exp(-beta * np.log1p(C * x))  # (1 + C x)^-beta
        return area - B * float(np.einsum("i,i->", d, 1.0 - yb)), None
    S = Pn - P[first - 1:-1]  # (n,) S_k = P_n - P_{k-1}
    eta = np.maximum(lr[first:], tiny)  # (n,)
    c = 1.0 / eta if gamma == 1.0 else np.exp(-gamma * np.log(eta))  # eta^-gamma
    x = c * S
    cx = C * x
    u = 1.0 + cx
    yb = np.exp(-beta * np.log1p(cx))  # (1 + C x)^-beta
    G = 1.0 - yb
    loss = area - B * float(np.einsum("i,i->", d, G))
    r = yb / u
    r *= (C * beta) * d  # d_k G'(x_k)
    g = np.cumsum(r * c)
    r *= x
    r /= eta
    r *= gamma
    g -= r
    g[:-1] += G[1:]
    g -= G
    g *= -B
    g -= alpha * A * Pn ** (-alpha - 1.0)
    return loss, g


__all__ = ["CITATION", "PARAMS", "VARIANTS", "MPLPrepared", "MultiPowerLaw", "ld_error_bound", "ld_naive"]
