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

Cost and compression (``compress=True``, the default)
----------------------------------------------------
Zero decrements (constant phases) are skipped exactly. For an observation at index i the decrements in the last
``near`` steps (plus at most one block) are summed exactly. Older decrements are grouped into blocks: runs of
consecutive nonzero decrements of one sign whose LRs agree within a factor ``1 + eta_tol``; level 0 blocks hold
at most ``block`` decrements, level l+1 blocks merge up to 4 level-l blocks, and a level-l block serves the
observations at least ``near * 4^l`` steps later. Each (observation, block) pair costs one evaluation of G, so
the cost per observation is O(near + block + 16 log4(T / near)) instead of O(T).

A block j with weights ``w_k = d_k / D_j`` (``D_j = sum d_k``, all of one sign) is replaced by
``D_j G(xbar)`` where ``xbar = sum_k w_k x_k`` is the exact weighted mean of the arguments
``x_k = eta_k^-gamma S_k(t)`` (computed from two block sums per design call). By Taylor's theorem around xbar
(the first-order terms cancel) and the Bhatia-Davis inequality ``sum w (x - xbar)^2 <= (x_hi - x_lo)^2 / 4``:

    | sum_k d_k G(x_k) - D_j G(xbar) | <= |D_j| / 8 * C^2 beta (beta+1) (1 + C x_lo)^-(beta+2) (x_hi - x_lo)^2

with ``x_lo = c_min (P_i - u_hi)``, ``x_hi = c_max (P_i - u_lo)``, ``c = eta^-gamma`` over the block and
``u_k = P_{k-1}``. :func:`ld_error_bound` evaluates the sum of these bounds (times B it bounds the loss error);
``tests/laws/test_multipower.py`` checks ``|LD_compressed - LD_exact| <= bound`` on random schedules.
With the defaults (near 64, block 16, eta_tol 0.02) and alpha 0.5, C 2, beta 0.6, gamma 0.6, B 500 the bound on
the loss error is 7.8e-6 nats on the 24,000-step reference cosine and 6.6e-6 on a 34,000-step cosine, below the
4-decimal rounding of published curves (``benchmarks/law_cost.py``). ``compress=False`` gives the exact sum.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scalefit.errors import FitInputError
from scalefit.laws.base import Law, ParamSpec, Prepared, check_schedule

CITATION = ("Luo et al. 2025, A Multi-Power Law for Loss Curve Prediction Across Learning Rate Schedules "
            "(arXiv 2503.12811)")
VARIANTS = ("paper", "official")
_MERGE = 4  # level l+1 blocks merge up to 4 level-l blocks
_PAIRS_PER_CHUNK = 2_000_000  # (observation, term) pairs evaluated at once: bounds the memory to ~100 MB

#: Bounds and defaults. Amplitudes are >= 0 (loss falls with LR area and with LR decay). The exponents follow the
#: paper's theory and fits: beta and gamma in (0, 1] (the paper suggests this range; its fits give beta ~ 0.59,
#: gamma ~ 0.63), alpha ~ 0.4-0.6 in its fits (bounded by the same power-law range as Tissue's alpha), C > 0 sets
#: the scale at which the drop saturates (fits of order 0.1-10; the log-scale bounds cover 1e-3..1e3).
PARAMS = (
    ParamSpec("L0", 0.0, np.inf, True, 3.0, "irreducible loss L0 (nats/token), MPL eq. (6)"),
    ParamSpec("A", 0.0, np.inf, True, 0.5, "amplitude of the LR-area power law A (S1 + S_W)^-alpha"),
    ParamSpec("B", 0.0, np.inf, True, 500.0,
              "amplitude of the loss drop LD; multiplies a sum of LR decrements, so B ~ loss drop / LR drop"),
    ParamSpec("alpha", 0.01, 2.0, False, 0.5, "exponent of the LR area S1 + S_W (paper's fits ~0.4-0.6)"),
    ParamSpec("C", 1e-3, 1e3, False, 2.0, "scale of the drop saturation G(x) = 1 - (C x + 1)^-beta"),
    ParamSpec("beta", 0.01, 1.0, False, 0.6, "saturation exponent of G; paper: in (0, 1], fits ~0.59"),
    ParamSpec("gamma", 0.01, 1.0, False, 0.6, "LR exponent in x = eta_k^-gamma S_k(t); paper: in (0, 1], fits ~0.63"),
)


@dataclass(frozen=True, eq=False)
class _Level:
    """Blocks of one level (arrays of shape (n_blocks,))."""

    start: np.ndarray  # position in K of the first decrement (for np.add.reduceat)
    end_k: np.ndarray  # step index of the last decrement
    D: np.ndarray  # sum of decrements
    u_lo: np.ndarray  # P_{k-1} at the first decrement
    u_hi: np.ndarray  # P_{k-1} at the last decrement
    ln_eta_min: np.ndarray
    ln_eta_max: np.ndarray
    lag: int  # a block serves observations at least `lag` steps after its last decrement


@dataclass(frozen=True, eq=False)
class MPLPrepared(Prepared):
    """MPL features of one run: total LR area at the observations, nonzero decrements and their block levels."""

    area: np.ndarray  # (M,) P[i] = S1 + S_W at the observations
    k: np.ndarray  # (K,) step indices of the nonzero decrements (k <= max(at))
    d: np.ndarray  # (K,) decrements lr[k-1] - lr[k]
    u: np.ndarray  # (K,) P_{k-1}
    ln_eta: np.ndarray  # (K,) log of the (floored) LR at k
    levels: tuple[_Level, ...]
    # per observation: K-position range of the exact (near) terms and block range per level, (M,) each
    near_lo: np.ndarray
    near_hi: np.ndarray
    block_lo: tuple[np.ndarray, ...]
    block_hi: tuple[np.ndarray, ...]
    _flat: dict = field(default_factory=dict, repr=False)  # cached ragged index of (observation, term) pairs


def _g_parts(x: np.ndarray, C: float, beta: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``log(1 + C x)``, ``G(x) = 1 - (1 + C x)^-beta`` (via log1p/expm1: accurate for small C x) and
    ``(1 + C x)^-beta``."""
    ly = np.log1p(C * x)
    return ly, -np.expm1(-beta * ly), np.exp(-beta * ly)


def _ragged(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(lo[r], hi[r])`` over rows r (vectorised)."""
    n = np.maximum(hi - lo, 0)
    total = int(n.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(n)
    offs = np.repeat(lo - (ends - n), n)
    return np.arange(total, dtype=np.int64) + offs


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
    params = PARAMS

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

    # ---- features -------------------------------------------------------------------------------------------
    def prepare(self, lr: Any, *, warmup: int, at: Any = None, n_params: float | None = None) -> MPLPrepared:
        """Total LR area at ``at``, nonzero decrements, and the block levels (O(T log T), no parameters)."""
        lr, warmup, at = check_schedule(lr, warmup, at)
        end = int(at.max()) + 1 if at.size else 1
        P = np.cumsum(lr[:end])  # (T',)
        area = P[at]
        if np.any(area <= 0):
            i = int(at[np.flatnonzero(area <= 0)[0]])
            raise FitInputError(f"step index {i} is observed before any learning rate was applied (LR area 0), "
                                "where the law predicts infinite loss. Drop observations before the first nonzero "
                                "LR.", value=i)
        first = 1 if self.variant == "official" else max(warmup, 1)
        dec = np.zeros(end)
        dec[first:] = lr[first - 1:end - 1] - lr[first:end]
        k = np.flatnonzero(dec).astype(np.int64)  # (K,) skip zero decrements exactly
        d = dec[k]
        u = np.concatenate(([0.0], P[:-1]))[k]  # P_{k-1}
        floor = 1e-12 * float(lr.max()) if lr.max() > 0 else 1e-300
        ln_eta = np.log(np.maximum(lr[k], floor))
        levels = self._levels(k, d, u, ln_eta, end) if self.compress else ()
        # per observation ranges: exact terms after the last far block of level 0, blocks of each level
        block_lo, block_hi, bounds = [], [], []
        for lev in levels:
            hi = np.searchsorted(lev.end_k, at - lev.lag, side="right")
            block_hi.append(hi)
            bounds.append(np.where(hi > 0, lev.end_k[np.maximum(hi - 1, 0)], -1))
        for li in range(len(levels)):
            outer = bounds[li + 1] if li + 1 < len(levels) else np.full(at.size, -1)
            block_lo.append(np.searchsorted(levels[li].end_k, outer, side="right"))
        last = bounds[0] if levels else np.full(at.size, -1)
        near_lo = np.searchsorted(k, last, side="right")
        near_hi = np.searchsorted(k, at, side="right")
        return MPLPrepared(at=at, n_steps=lr.size, warmup=warmup, n_params=n_params, area=area, k=k, d=d, u=u,
                           ln_eta=ln_eta, levels=tuple(levels), near_lo=near_lo, near_hi=near_hi,
                           block_lo=tuple(block_lo), block_hi=tuple(block_hi))

    def _levels(self, k: np.ndarray, d: np.ndarray, u: np.ndarray, ln_eta: np.ndarray, end: int) -> list[_Level]:
        if k.size == 0:
            return []
        bucket = np.floor(ln_eta / np.log1p(self.eta_tol)).astype(np.int64)
        sign = np.sign(d)
        # level 0: break at gaps, sign changes, LR-bucket changes, and every `block` decrements within a run
        brk = np.ones(k.size, dtype=bool)
        brk[1:] = (np.diff(k) != 1) | (sign[1:] != sign[:-1]) | (bucket[1:] != bucket[:-1])
        brk = _cap_runs(brk, self.block)
        starts = np.flatnonzero(brk)
        levels = [self._level(starts, k, d, u, ln_eta, self.near)]
        lag = self.near
        while levels[-1].start.size > 1:
            prev = levels[-1]
            ends = np.append(prev.start[1:], k.size) - 1
            # merge up to 4 consecutive blocks that touch, share a sign and an LR bucket
            b = np.ones(prev.start.size, dtype=bool)
            b[1:] = ((k[prev.start[1:]] != k[ends[:-1]] + 1) | (sign[prev.start[1:]] != sign[prev.start[:-1]])
                     | (bucket[prev.start[1:]] != bucket[prev.start[:-1]]))
            b = _cap_runs(b, _MERGE)
            if b.all():
                break
            lag *= _MERGE
            if lag > end:
                break
            levels.append(self._level(prev.start[b], k, d, u, ln_eta, lag))
        return levels

    @staticmethod
    def _level(starts: np.ndarray, k, d, u, ln_eta, lag: int) -> _Level:
        ends = np.append(starts[1:], k.size) - 1
        return _Level(start=starts, end_k=k[ends], D=np.add.reduceat(d, starts), u_lo=u[starts], u_hi=u[ends],
                      ln_eta_min=np.minimum.reduceat(ln_eta, starts), ln_eta_max=np.maximum.reduceat(ln_eta, starts),
                      lag=lag)

    # ---- terms: every exact decrement and every block, as (weight w, slope a, offset u, d a/d gamma, b_gamma) ----
    def _terms(self, gamma: float, prep: MPLPrepared, jac: bool) -> tuple[np.ndarray, ...]:
        c = np.exp(-gamma * prep.ln_eta)  # (K,) eta_k^-gamma
        w, a, u = [prep.d], [c], [prep.u]
        ag, bg = [-prep.ln_eta * c], [np.zeros_like(c)]
        wc = prep.d * c
        wcl = wc * -prep.ln_eta
        for lev in prep.levels:
            E = np.add.reduceat(wc, lev.start)
            F = np.add.reduceat(wc * prep.u, lev.start)
            ubar = F / E  # c-weighted mean of u_k: xbar = (E / D) (P - ubar), exactly sum_k w_k x_k
            w.append(lev.D)
            a.append(E / lev.D)
            u.append(ubar)
            if jac:  # d xbar / d gamma = (E' P - F') / D = (E'/D) (P - ubar) + (E' ubar - F') / D
                E1 = np.add.reduceat(wcl, lev.start)
                F1 = np.add.reduceat(wcl * prep.u, lev.start)
                ag.append(E1 / lev.D)
                bg.append((E1 * ubar - F1) / lev.D)
        cat = np.concatenate
        return (cat(w), cat(a), cat(u), cat(ag), cat(bg)) if jac else (cat(w), cat(a), cat(u))

    def _pairs(self, prep: MPLPrepared) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(observation row, term index) pairs in chunks of ~2e6 pairs (bounded memory), generated lazily;
        cached on ``prep`` when they fit in one chunk (the fitter's case)."""
        if "chunks" in prep._flat:
            yield from prep._flat["chunks"]
            return
        offs = np.cumsum([0, prep.k.size] + [lev.start.size for lev in prep.levels])
        lo = np.stack([prep.near_lo] + [offs[i + 1] + prep.block_lo[i] for i in range(len(prep.levels))], axis=1)
        hi = np.stack([prep.near_hi] + [offs[i + 1] + prep.block_hi[i] for i in range(len(prep.levels))], axis=1)
        per_obs = np.maximum(hi - lo, 0).sum(axis=1)  # (M,) pairs per observation
        csum = np.cumsum(per_obs)
        r0, out = 0, []
        while r0 < per_obs.size:
            base = csum[r0 - 1] if r0 else 0
            r1 = max(int(np.searchsorted(csum, base + _PAIRS_PER_CHUNK, side="right")), r0 + 1)
            pair = (np.repeat(np.arange(r0, r1), per_obs[r0:r1]), _ragged(lo[r0:r1].ravel(), hi[r0:r1].ravel()))
            if r0 == 0 and r1 == per_obs.size:
                prep._flat["chunks"] = [pair]
            yield pair
            r0 = r1

    def _ld(self, p: Mapping[str, float], prep: MPLPrepared, jac: bool) -> tuple[np.ndarray, ...]:
        """Unit drop U (LD = B U) at the observations and, with ``jac``, dU/dC, dU/dbeta, dU/dgamma."""
        C, beta, gamma = p["C"], p["beta"], p["gamma"]
        terms = self._terms(gamma, prep, jac)
        M = prep.at.size
        outs = [np.zeros(M) for _ in range(4 if jac else 1)]
        for rows, idx in self._pairs(prep):
            if idx.size == 0:
                continue
            s = prep.area[rows] - terms[2][idx]  # (pairs,) S_k(t), or P_i - ubar for a block
            x = terms[1][idx] * s
            ly, G, yb = _g_parts(x, C, beta)
            w = terms[0][idx]
            outs[0] += np.bincount(rows, w * G, minlength=M)
            if jac:
                yb1 = yb / (1.0 + C * x)  # (1 + C x)^-(beta+1)
                gp = C * beta * yb1  # G'(x)
                outs[1] += np.bincount(rows, w * beta * x * yb1, minlength=M)
                outs[2] += np.bincount(rows, w * yb * ly, minlength=M)
                outs[3] += np.bincount(rows, w * gp * (terms[3][idx] * s + terms[4][idx]), minlength=M)
        return tuple(outs)

    # ---- design ---------------------------------------------------------------------------------------------
    def design(self, theta: Mapping[str, float] | Any, prep: MPLPrepared) -> np.ndarray:
        """Rows ``[1, (S1 + S_W)^-alpha, -LD/B]`` for (L0, A, B), shape (3, M)."""
        p = self.resolve(theta)
        (U,) = self._ld(p, prep, jac=False)
        return np.stack([np.ones_like(prep.area), prep.area ** -p["alpha"], -U])

    def design_jac(self, theta: Mapping[str, float] | Any, prep: MPLPrepared) -> np.ndarray:
        """d design / d (alpha, C, beta, gamma), shape (4, 3, M) (exact derivative of the compressed design)."""
        p = self.resolve(theta)
        _, dC, dbeta, dgamma = self._ld(p, prep, jac=True)
        out = np.zeros((4, 3, prep.at.size))
        out[0, 1] = -np.log(prep.area) * prep.area ** -p["alpha"]
        out[1, 2], out[2, 2], out[3, 2] = -dC, -dbeta, -dgamma
        return out


def _cap_runs(brk: np.ndarray, cap: int) -> np.ndarray:
    """Add breaks so that no run between breaks is longer than ``cap`` (``brk[0]`` must be True)."""
    run = np.cumsum(brk) - 1
    first = np.flatnonzero(brk)
    pos = np.arange(brk.size) - first[run]
    return brk | (pos % cap == 0)


def ld_error_bound(theta: Mapping[str, float], prep: MPLPrepared) -> np.ndarray:
    """Upper bound on ``|U_compressed - U_exact|`` at each observation, shape (M,); the loss error is <= B times it.

    Sums, over the blocks an observation uses, ``|D_j|/8 C^2 beta(beta+1) (1 + C x_lo)^-(beta+2) (x_hi-x_lo)^2``
    (see the module docstring for the proof). Zero without compression.
    """
    C, beta, gamma = float(theta["C"]), float(theta["beta"]), float(theta["gamma"])
    out = np.zeros(prep.at.size)
    for li, lev in enumerate(prep.levels):
        c1, c2 = np.exp(-gamma * lev.ln_eta_max), np.exp(-gamma * lev.ln_eta_min)
        cmin, cmax = np.minimum(c1, c2), np.maximum(c1, c2)
        rows = np.repeat(np.arange(prep.at.size), np.maximum(prep.block_hi[li] - prep.block_lo[li], 0))
        j = _ragged(prep.block_lo[li], prep.block_hi[li])
        P = prep.area[rows]
        xlo = cmin[j] * (P - lev.u_hi[j])
        xhi = cmax[j] * (P - lev.u_lo[j])
        b = np.abs(lev.D[j]) / 8 * C**2 * beta * (beta + 1) * (1 + C * xlo) ** -(beta + 2) * (xhi - xlo) ** 2
        out += np.bincount(rows, b, minlength=prep.at.size)
    return out


def ld_naive(theta: Mapping[str, float], lr: Any, *, warmup: int, at: Any = None,
             variant: str = "paper") -> np.ndarray:
    """The unit drop ``U = LD / B`` by the definition, an O(M T) double loop for tests; shape (M,)."""
    lr, warmup, at = check_schedule(lr, warmup, at)
    C, beta, gamma = float(theta["C"]), float(theta["beta"]), float(theta["gamma"])
    first = 1 if variant == "official" else max(warmup, 1)
    floor = 1e-12 * float(lr.max()) if lr.max() > 0 else 1e-300
    out = np.zeros(at.size)
    for r, i in enumerate(at):
        tot = 0.0
        for k in range(first, int(i) + 1):
            dk = lr[k - 1] - lr[k]
            if dk == 0.0:
                continue
            S = float(lr[k:i + 1].sum())
            x = max(lr[k], floor) ** -gamma * S
            tot += dk * -np.expm1(-beta * np.log1p(C * x))
        out[r] = tot
    return out


def final_loss_and_grad(values: Mapping[str, float], lr: Any, *, warmup: int,
                        objective_index: Any = None) -> tuple[float, np.ndarray]:
    """Predicted MPL loss (paper form) at the last step, or averaged over ``objective_index``, and its gradient.

    Parameters
    ----------
    values : mapping
        L0, A, B, alpha, C, beta, gamma.
    lr : array, shape (T,)
        Per-step LR, warmup included. The warmup (and so eta_0 = ``lr[warmup-1]``) is held fixed.
    objective_index : int or array of int, optional
        Indices into ``lr`` whose predicted losses are averaged (default: the last step, ``T - 1``).

    Returns
    -------
    loss : float
    dloss_dlr : ndarray, shape (T - warmup,)
        d loss / d lr[warmup + j] for every post-warmup step, exact, O(T) per objective index: with
        ``x_k = eta_k^-gamma S_k``, ``S_k = P_n - P_{k-1}`` (suffix sums),
        ``dLD/d eta_j = B [G(x_{j+1}) - G(x_j) + sum_{k<=j} d_k G'(x_k) eta_k^-gamma - gamma d_j G'(x_j) x_j/eta_j]``.
    """
    lr, warmup, _ = check_schedule(lr, warmup, None)
    T = lr.size
    idx = np.atleast_1d(np.asarray(T - 1 if objective_index is None else objective_index, dtype=np.int64))
    if idx.size == 0 or idx.min() < warmup or idx.max() >= T:
        raise FitInputError(f"objective_index must lie in [{warmup}, {T - 1}] (after the warmup); got {idx}.")
    L0, A, B = (float(values[n]) for n in ("L0", "A", "B"))
    alpha, C, beta, gamma = (float(values[n]) for n in ("alpha", "C", "beta", "gamma"))
    floor = 1e-12 * float(lr.max()) if lr.max() > 0 else 1e-300
    eta = np.maximum(lr, floor)
    first = max(warmup, 1)
    P = np.cumsum(lr)
    Pprev = np.concatenate(([0.0], P[:-1]))
    dec = np.zeros(T)
    dec[first:] = lr[first - 1:-1] - lr[first:]
    c = eta ** -gamma
    total, grad = 0.0, np.zeros(T - warmup)
    for n in idx:
        n = int(n)
        ks = np.arange(first, n + 1)
        x = c[ks] * (P[n] - Pprev[ks])  # (n-first+1,)
        ly, G, yb = _g_parts(x, C, beta)
        Gp = C * beta * yb / (1.0 + C * x)
        LD = B * float(dec[ks] @ G)
        total += L0 + A * P[n] ** -alpha - LD
        # gradient over post-warmup j = warmup..n (positions j - warmup)
        Gfull = np.zeros(n + 2)  # G(x_k) for k in [first, n], zero elsewhere (index k)
        Gfull[first:n + 1] = G
        term = np.zeros(n + 1)  # d_k G'(x_k) eta_k^-gamma at k
        term[first:] = dec[ks] * Gp * c[ks]
        own = np.zeros(n + 1)  # -gamma d_j G'(x_j) x_j / eta_j
        own[first:] = -gamma * dec[ks] * Gp * x / eta[ks]
        j = np.arange(warmup, n + 1)
        dLD = B * (Gfull[j + 1] - Gfull[j] + np.cumsum(term)[j] + own[j])
        grad[: n + 1 - warmup] += -alpha * A * P[n] ** (-alpha - 1.0) - dLD
    return total / idx.size, grad / idx.size
