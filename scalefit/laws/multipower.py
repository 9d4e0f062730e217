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
the loss error is 7.8e-6 nats on the 24,000-step reference cosine, 6.6e-6 on a 34,000-step cosine and 9.7e-7 on
a 1,000,000-step cosine at 5,000 rows, below the 4-decimal rounding of published curves
(``benchmarks/law_cost.py``). ``compress=False`` gives the exact sum.

Per design call, the block sums ``E_j = sum_k d_k eta_k^-gamma`` and ``sum_k d_k eta_k^-gamma (u_k - u_lo)`` cost
O(order) per block, not O(T): ``prepare`` stores the moments ``sum_k d_k delta_k^n / n!`` (and with ``u_k - u_lo``)
of every block about the middle of its log-LR range (``|delta_k| <= ln(1 + eta_tol) / 2``: a block lies in one LR
bucket), level 0 from the decrements and each higher level from the level below by the exact shift of the
expansion point; a call evaluates ``exp(-gamma ref_j) sum_n (-gamma)^n moment_n`` truncated where the remainder is
below ``2^-60`` of ``|D_j|``, i.e. exact to float rounding (8 orders suffice for gamma <= 1 with the default
eta_tol; a gamma beyond the stored order falls back to the O(K) sums). Only the exact terms and blocks that some
observation uses are evaluated. The per-pair constants (``S_k(t)``, ``P_i - u_lo``, the weights) are built once
per prepared run, and the fitter's design-then-design_jac at one point evaluates G once (the last evaluation is
kept on the prepared run, in buffers reused from call to call: a prepared run is not for use by two threads at
once). Schedule-only work (cumulative sums, decrements, levels, moments) is kept on the law object, keyed by the
schedule's content, so preparing the same schedule again (the fitter's thinned search rows, then all fitted
rows) reuses it. Measured on a shared 2-core Intel Xeon (``benchmarks/law_cost.py``, CPU time): a 1,000,000-step
cosine at 5,000 rows (180 pairs per row) costs 14 ms per design and 27 ms per design_jac (15 ms after a design at
the same point), at 500 rows 0.9 / 1.9 ms, prepare 0.18 s once; before these changes 64 / 116 ms and 37 / 65 ms,
because every call summed over all 1e6 decrements.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
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
    # level >= 1: each block merges consecutive blocks of the level below; `child` is the position of the first
    # one there (np.add.reduceat), `du` (n_blocks below,) is u_lo(child) - u_lo(its block here) >= 0
    child: np.ndarray | None = None
    du: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class _Series:
    """Block sums of a group of levels as power series in gamma (see :meth:`MultiPowerLaw._block_sums`).

    With ``delta_k = ln_eta_k - ref_j`` (``ref_j`` the middle of block j's log-LR range, ``|delta_k| <= spread``),
    ``sum_k d_k eta_k^-gamma = exp(-gamma ref_j) sum_n md[n, j] (-gamma)^n`` and the same with ``mu`` for
    ``sum_k d_k eta_k^-gamma (u_k - u_lo_j)``, where ``md[n] = sum_k d_k delta_k^n / n!`` and ``mu[n] = sum_k d_k
    (u_k - u_lo_j) delta_k^n / n!`` (exact sums, ``n <= order``). Group 0 is level 0; group 1 every higher level
    (their blocks are longer, so their spread and the order gamma needs are larger).
    """

    ref: np.ndarray  # (n,)
    spread: float
    m: np.ndarray  # (order + 1, 2, n): m[n] = (md[n], mu[n])
    lo: int  # position of the group's first block in the concatenation of all levels


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
    series: tuple[_Series, ...] | None = None  # block sums as series in gamma (None: exact sums only)
    near_pos: np.ndarray | None = None  # (Kn,) sorted K-positions of the exact terms some observation uses
    block_used: np.ndarray | None = None  # sorted positions (all levels concatenated) of the blocks in use
    _flat: dict = field(default_factory=dict, repr=False)  # cached pair index and the last evaluation


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


def _segment_sum(v: np.ndarray, starts: np.ndarray, empty: np.ndarray) -> np.ndarray:
    """Sums of consecutive segments of ``v`` beginning at ``starts`` (nondecreasing); 0 where ``empty``.

    ``np.add.reduceat`` is several times faster than ``np.bincount`` with weights on sorted rows."""
    if v.size == 0:
        return np.zeros(starts.size)
    out = np.add.reduceat(v, np.minimum(starts, v.size - 1))
    out[empty] = 0.0
    return out


#: Truncation of the block series: the remainder bound, relative to |D_j| (and to |D_j| * spread for the
#: derivative in gamma), is kept below 2^-60, far below float64 rounding of the sums it replaces.
_SERIES_EPS = 2.0 ** -60
_SERIES_MAX = 16  # highest stored order; beyond it (gamma * spread > ~1.7) the exact O(K) sums are used
_SERIES_GAMMA = 1.0  # the series are stored to the order that gamma up to this value (the bound) needs


def _series_order(z: float) -> int | None:
    """Smallest order n >= 1 with ``z^n / n! e^z <= 2^-60`` (``z = gamma * spread``), None above the stored max.

    The tail of ``sum_m (-gamma)^m md[m]`` after order n is at most ``|D| (gamma spread)^(n+1) / (n+1)! e^z``;
    the tail of its derivative in gamma at most ``|D| spread z^n / n! e^z``: both below the threshold."""
    z = abs(float(z))
    term, n = math.exp(z), 0
    while term > _SERIES_EPS or n < 1:
        n += 1
        term *= z / n
        if n > _SERIES_MAX:
            return None
    return n


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
        P, k, d, u, ln_eta, levels, series = self._schedule_part(lr, warmup, end)
        area = P[at]
        if np.any(area <= 0):
            i = int(at[np.flatnonzero(area <= 0)[0]])
            raise FitInputError(f"step index {i} is observed before any learning rate was applied (LR area 0), "
                                "where the law predicts infinite loss. Drop observations before the first nonzero "
                                "LR.", value=i)
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
        # the exact terms some observation uses (a union of ranges): only their eta^-gamma is computed per call
        cover = np.cumsum(np.bincount(near_lo, minlength=k.size + 1) - np.bincount(near_hi, minlength=k.size + 1))
        near_pos = np.flatnonzero(cover[:k.size] > 0)
        # likewise the blocks in use (all levels concatenated): only their sums are computed per call
        used = []
        for lev, lo, hi in zip(levels, block_lo, block_hi):
            n = lev.start.size
            cover = np.cumsum(np.bincount(lo, minlength=n + 1) - np.bincount(np.maximum(hi, lo), minlength=n + 1))
            used.append(np.flatnonzero(cover[:n] > 0))
        offs = np.cumsum([0] + [lev.start.size for lev in levels])
        block_used = np.concatenate([u + o for u, o in zip(used, offs)]) if levels else np.zeros(0, dtype=np.int64)
        return MPLPrepared(at=at, n_steps=lr.size, warmup=warmup, n_params=n_params, area=area, k=k, d=d, u=u,
                           ln_eta=ln_eta, levels=tuple(levels), near_lo=near_lo, near_hi=near_hi,
                           block_lo=tuple(block_lo), block_hi=tuple(block_hi), series=series, near_pos=near_pos,
                           block_used=block_used)

    def _schedule_part(self, lr: np.ndarray, warmup: int, end: int) -> tuple:
        """What :meth:`prepare` needs from the schedule alone: ``P = cumsum(lr[:end])``, the nonzero decrements
        (k, d, u, ln_eta), the block levels and the level-0 series (arrays read-only).

        The last result is kept on the law object with a copy of ``lr[:end]`` and reused when the same schedule
        comes again (the fitter prepares each run twice: thinned rows for the search, all fitted rows for the
        polish); a content check, not identity, decides, so the result is the same as a fresh computation."""
        key = (warmup, end, lr.size, float(lr.max()))
        hit = self.__dict__.get("_schedule_cache")
        if hit is not None and hit[0] == key and np.array_equal(hit[1], lr[:end]):
            return hit[2]
        P = np.cumsum(lr[:end])  # (T',)
        first = 1 if self.variant == "official" else max(warmup, 1)
        dec = np.zeros(end)
        dec[first:] = lr[first - 1:end - 1] - lr[first:end]
        k = np.flatnonzero(dec).astype(np.int64)  # (K,) skip zero decrements exactly
        d = dec[k]
        u = np.concatenate(([0.0], P[:-1]))[k]  # P_{k-1}
        floor = 1e-12 * float(lr.max()) if lr.max() > 0 else 1e-300
        ln_eta = np.log(np.maximum(lr[k], floor))
        levels = self._levels(k, d, u, ln_eta, end) if self.compress else []
        series = self._series(levels, d, u, ln_eta) if levels else None
        for a in (P, k, d, u, ln_eta):
            a.setflags(write=False)  # shared by every prepared run of this schedule
        part = (P, k, d, u, ln_eta, levels, series)
        self._schedule_cache = (key, lr[:end].copy(), part)
        return part

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
            child = np.flatnonzero(b)
            lev = self._level(prev.start[b], k, d, u, ln_eta, lag, prev=prev)
            parent = np.cumsum(b) - 1  # (n_prev,) block of this level holding each block below
            levels.append(_Level(**{**lev.__dict__, "child": child, "du": prev.u_lo - lev.u_lo[parent]}))
        return levels

    @staticmethod
    def _level(starts: np.ndarray, k, d, u, ln_eta, lag: int, prev: _Level | None = None) -> _Level:
        ends = np.append(starts[1:], k.size) - 1
        if prev is None:
            D = np.add.reduceat(d, starts)
            lo, hi = np.minimum.reduceat(ln_eta, starts), np.maximum.reduceat(ln_eta, starts)
        else:  # merge the blocks below (cheaper than reducing over every decrement again)
            child = np.searchsorted(prev.start, starts)
            D = np.add.reduceat(prev.D, child)
            lo, hi = np.minimum.reduceat(prev.ln_eta_min, child), np.maximum.reduceat(prev.ln_eta_max, child)
        return _Level(start=starts, end_k=k[ends], D=D, u_lo=u[starts], u_hi=u[ends], ln_eta_min=lo, ln_eta_max=hi,
                      lag=lag)

    @staticmethod
    def _series(levels: list[_Level], d: np.ndarray, u: np.ndarray, ln_eta: np.ndarray) -> tuple[_Series, ...] | None:
        """Moments of every block for :meth:`_block_sums`: level 0 from the decrements, each higher level from the
        level below by the exact shift of the expansion point, ``(delta + h)^n / n! = sum_j delta^j / j!
        h^(n-j) / (n-j)!``. None where no stored order suffices (:data:`_SERIES_MAX`)."""
        refs = [0.5 * (lev.ln_eta_min + lev.ln_eta_max) for lev in levels]
        spreads = [float(np.maximum(lev.ln_eta_max - r, r - lev.ln_eta_min).max()) for lev, r in zip(levels, refs)]
        order = _series_order(_SERIES_GAMMA * max(spreads))
        if order is None:
            return None
        lev0 = levels[0]
        sizes = np.diff(np.append(lev0.start, d.size))
        delta = ln_eta - np.repeat(refs[0], sizes)  # (K,)
        du = u - np.repeat(lev0.u_lo, sizes)  # (K,) u_k - u_lo of its block, >= 0
        m = np.empty((order + 1, 2, lev0.start.size))  # [n, 0] = md[n], [n, 1] = mu[n]
        term, tu = d.copy(), np.empty_like(d)  # d delta^n
        for n in range(order + 1):
            if n:
                term *= delta
            m[n, 0] = np.add.reduceat(term, lev0.start)
            m[n, 1] = np.add.reduceat(np.multiply(term, du, out=tu), lev0.start)
            if n > 1:
                m[n] /= math.factorial(n)
        ms = [m]
        for li in range(1, len(levels)):
            lev, c = levels[li], ms[-1].copy()  # c: (order + 1, 2, n_below)
            parent = np.repeat(np.arange(lev.start.size), np.diff(np.append(lev.child, c.shape[2])))
            h = refs[li - 1] - refs[li][parent]  # (n_below,) shift of the expansion point
            c[:, 1] += lev.du * c[:, 0]  # u relative to the parent's u_lo
            hp = [np.ones_like(h)]  # h^n / n!
            for n in range(1, order + 1):
                hp.append(hp[-1] * (h / n))
            shifted, tmp = c.copy(), np.empty_like(c[0])  # the j = n terms (hp[0] = 1)
            for n in range(1, order + 1):
                for j in range(n):
                    shifted[n] += np.multiply(c[j], hp[n - j], out=tmp)
            ms.append(np.add.reduceat(shifted, lev.child, axis=2))
        out = [_Series(ref=refs[0], spread=spreads[0], m=ms[0], lo=0)]
        if len(levels) > 1:
            out.append(_Series(ref=np.concatenate(refs[1:]), spread=max(spreads[1:]),
                               m=np.concatenate(ms[1:], axis=2), lo=lev0.start.size))
        return tuple(out)

    # ---- block sums, exact or by the series ------------------------------------------------------------------
    def _block_sums(self, gamma: float, prep: MPLPrepared, jac: bool) -> np.ndarray:
        """Sums over the blocks in use (``prep.block_used``), shape (2, n_used) or with ``jac`` (4, n_used): rows
        ``E = sum_k d_k eta_k^-gamma``, ``Fu = sum_k d_k eta_k^-gamma (u_k - u_lo)`` over each block, then their
        derivatives in gamma.

        From the series of :class:`_Series` (O(order) per block, truncated below float rounding; see
        :func:`_series_order`) or, where gamma is beyond the stored order, from the exact O(K) sums."""
        used = prep.block_used
        groups = prep._flat.get("groups")
        if groups is None:  # the series of the blocks in use, by group
            groups = []
            for g in prep.series or ():
                sel = used[(used >= g.lo) & (used < g.lo + g.ref.size)]
                pos = np.searchsorted(used, sel)
                span = slice(int(pos[0]), int(pos[-1]) + 1) if pos.size else slice(0, 0)  # of the blocks in use
                groups.append((g.ref[sel - g.lo], g.spread, np.ascontiguousarray(g.m[:, :, sel - g.lo]), span))
            prep._flat["groups"] = groups
        orders = [_series_order(gamma * spread) for _, spread, _, _ in groups]
        out = np.empty((4 if jac else 2, used.size))
        if groups and all(o is not None and o < m.shape[0] for o, (_, _, m, _) in zip(orders, groups)):
            g = -gamma
            for order, (ref, _, m, sl) in zip(orders, groups):
                p = m[order].copy()  # Horner in g for (E, Fu) / exp(-gamma ref)
                q = order * m[order] if jac else None  # and for its derivative in g
                for n in range(order - 1, -1, -1):
                    if jac and n:
                        q *= g
                        q += n * m[n]
                    p *= g
                    p += m[n]
                scale = np.exp(-gamma * ref)  # (n,)
                np.multiply(p, scale, out=out[:2, sl])
                if jac:  # d/dgamma [scale p(-gamma)] = -ref scale p - scale p'
                    np.multiply(q, -scale, out=out[2:, sl])
                    out[2:, sl] -= ref * out[:2, sl]
            return out
        wc = prep.d * np.exp(-gamma * prep.ln_eta)  # (K,)
        wcl = wc * -prep.ln_eta if jac else None
        full = []
        for lev in prep.levels:
            du = prep.u - np.repeat(lev.u_lo, np.diff(np.append(lev.start, prep.k.size)))
            rows = [np.add.reduceat(wc, lev.start), np.add.reduceat(wc * du, lev.start)]
            if jac:
                rows += [np.add.reduceat(wcl, lev.start), np.add.reduceat(wcl * du, lev.start)]
            full.append(np.stack(rows))
        return np.concatenate(full, axis=1)[:, used]

    # ---- (observation, term) pairs: every exact decrement and every block an observation uses ---------------
    def _pairs(self, prep: MPLPrepared) -> Iterator[dict]:
        """The (observation, term) pairs in chunks of ~2e6 pairs (bounded memory), generated lazily; cached on
        ``prep`` when they fit in one chunk (the fitter's case).

        A chunk covers observation rows ``r0:r1``. Its pairs are the exact terms of every row (``nn`` of them,
        row by row), then the blocks of every row: ``ni`` are positions into ``prep.near_pos`` and
        ``ns = S_k(t) = P_i - u_k``; ``bi`` are positions among the blocks in use (``prep.block_used``) and
        ``bs = P_i - u_lo_j``; ``w`` is ``d_k`` or ``D_j``; ``nseg`` / ``bseg`` are each row's first pair in its
        part (``nempty`` / ``bempty`` flag rows without pairs)."""
        if "chunks" in prep._flat:
            yield from prep._flat["chunks"]
            return
        near_pos = prep.near_pos
        lo_n = np.searchsorted(near_pos, prep.near_lo)  # (M,) exact ranges as positions in near_pos
        hi_n = np.maximum(np.searchsorted(near_pos, prep.near_hi), lo_n)
        offs = np.cumsum([0] + [lev.start.size for lev in prep.levels])
        cnt_b = np.zeros(prep.at.size, dtype=np.int64)  # (M,) blocks per observation
        for lo, hi in zip(prep.block_lo, prep.block_hi):
            cnt_b += np.maximum(hi - lo, 0)
        if prep.levels:
            D_all = np.concatenate([lev.D for lev in prep.levels])
            ulo_all = np.concatenate([lev.u_lo for lev in prep.levels])
            remap = np.full(D_all.size, -1, dtype=np.int64)  # block position -> position among the blocks in use
            remap[prep.block_used] = np.arange(prep.block_used.size)
        cnt_n = hi_n - lo_n
        csum = np.cumsum(cnt_n + cnt_b)
        nd, nu = prep.d[near_pos], prep.u[near_pos]
        r0, M = 0, prep.at.size
        while r0 < M:
            base = csum[r0 - 1] if r0 else 0
            r1 = max(int(np.searchsorted(csum, base + _PAIRS_PER_CHUNK, side="right")), r0 + 1)
            area, cn, cb = prep.area[r0:r1], cnt_n[r0:r1], cnt_b[r0:r1]
            ni = _ragged(lo_n[r0:r1], hi_n[r0:r1])
            if prep.levels:  # (rows, levels) block ranges, row-major: each row's blocks level by level
                lo_b = np.stack([offs[i] + lo[r0:r1] for i, lo in enumerate(prep.block_lo)], axis=1)
                hi_b = np.stack([offs[i] + hi[r0:r1] for i, hi in enumerate(prep.block_hi)], axis=1)
                bi = _ragged(lo_b.ravel(), np.maximum(hi_b, lo_b).ravel())
            else:
                bi = np.zeros(0, dtype=np.int64)
            w = np.concatenate([nd[ni], D_all[bi] if prep.levels else np.zeros(0)])
            bs = np.repeat(area, cb) - ulo_all[bi] if prep.levels else np.zeros(0)
            bi = remap[bi] if prep.levels else bi
            # observations further apart than the exact window use disjoint runs of exact terms: a plain slice
            nsl = slice(int(ni[0]), int(ni[-1]) + 1) if ni.size and np.all(np.diff(ni) == 1) else None
            chunk = {"r0": r0, "r1": r1, "nn": ni.size, "ni": ni, "nsl": nsl, "ns": np.repeat(area, cn) - nu[ni],
                     "bi": bi, "bs": bs, "w": w,
                     "nseg": np.cumsum(cn) - cn, "nempty": cn == 0, "bseg": np.cumsum(cb) - cb, "bempty": cb == 0}
            if r0 == 0 and r1 == M:
                prep._flat["chunks"] = [chunk]
            yield chunk
            r0 = r1

    def _ld(self, p: Mapping[str, float], prep: MPLPrepared, jac: bool) -> tuple[np.ndarray, ...]:
        """Unit drop U (LD = B U) at the observations and, with ``jac``, dU/dC, dU/dbeta, dU/dgamma.

        When the pairs fit in one chunk (the fitter's case) the per-pair ``x``, ``log(1 + C x)`` and ``G`` of the
        last evaluation stay on ``prep`` in reused buffers (fresh 8 MB temporaries cost page faults on every
        call), so a design and then a design_jac at the same point (what the fitter asks) evaluate G once. The
        result does not depend on that cache: it holds exactly what a fresh evaluation computes."""
        C, beta, gamma = float(p["C"]), float(p["beta"]), float(p["gamma"])
        key = (C, beta, gamma)
        flat = prep._flat
        if not jac and flat.get("key") == key:
            return (flat["U"].copy(),)
        M = prep.at.size
        outs = [np.zeros(M) for _ in range(4 if jac else 1)]
        reuse = jac and flat.get("key") == key  # x, log(1 + C x), G and U of this point are in the buffers
        nln = flat.get("nln")  # (Kn,) -ln(eta_k) of the exact terms some observation uses
        if nln is None:
            nln = flat["nln"] = -prep.ln_eta[prep.near_pos]
        c_near = None if reuse else np.exp(gamma * nln)  # (Kn,) eta_k^-gamma
        if prep.levels:
            sums = self._block_sums(gamma, prep, jac)  # (2 or 4, n_blocks)
            D_all = prep._flat.get("D_used")  # (n_used,)
            if D_all is None:
                D_all = prep._flat["D_used"] = np.concatenate([lev.D for lev in prep.levels])[prep.block_used]
            a_all = sums[0] / D_all  # xbar = a (P - u_lo - off), exactly sum_k w_k x_k over the block
            off_all = sums[1] / sums[0]  # c-weighted mean of u_k - u_lo
            if jac:  # d xbar / d gamma = (E'/D) (P - ubar) + (E' off - Fu') / D
                ag_all, bg_all = sums[2] / D_all, (sums[2] * off_all - sums[3]) / D_all
        if reuse:
            outs[0][:] = flat["U"]
        flat.pop("key", None)  # the buffers below are about to change
        work = None  # buffers of this call when the pairs come in several chunks (one set, reused chunk by chunk)
        for ch in self._pairs(prep):
            r0, r1, nn, w = ch["r0"], ch["r1"], ch["nn"], ch["w"]
            if w.size == 0:
                continue
            single = r0 == 0 and r1 == M
            ws = flat.get("work") if single else work
            if ws is None or ws["x"].size < w.size or ws["sb"].size < w.size - nn:
                cap = w.size if single else w.size + w.size // 8  # later chunks can be a little longer
                ws = {name: np.empty(cap) for name in ("x", "cx", "ly", "G", "t")}
                ws["sb"] = np.empty(cap - nn if single else cap)
                if single:
                    flat["work"] = ws
                else:
                    work = ws
            if jac and "t2" not in ws:  # two more for the derivatives
                ws["t2"], ws["t3"] = np.empty(ws["x"].size), np.empty(ws["x"].size)
            x, cx, ly, G, t = (ws[name][:w.size] for name in ("x", "cx", "ly", "G", "t"))
            t2, t3 = (ws[name][:w.size] for name in ("t2", "t3")) if jac else (None, None)
            sb = ws["sb"][:w.size - nn]

            def add(out: np.ndarray, v: np.ndarray) -> None:  # per-row sums of a per-pair array
                out[r0:r1] += _segment_sum(v[:nn], ch["nseg"], ch["nempty"])
                if prep.levels:
                    out[r0:r1] += _segment_sum(v[nn:], ch["bseg"], ch["bempty"])

            if not reuse:
                if ch["nsl"] is not None:
                    np.multiply(c_near[ch["nsl"]], ch["ns"], out=x[:nn])  # eta_k^-gamma S_k(t)
                else:
                    np.take(c_near, ch["ni"], out=x[:nn], mode="clip")  # indices are valid: no checks
                    x[:nn] *= ch["ns"]
                if prep.levels:
                    np.take(off_all, ch["bi"], out=sb, mode="clip")
                    np.subtract(ch["bs"], sb, out=sb)  # P_i - ubar
                    np.take(a_all, ch["bi"], out=x[nn:], mode="clip")
                    x[nn:] *= sb
                np.multiply(x, C, out=cx)
                np.log1p(cx, out=ly)  # log(1 + C x)
                np.multiply(ly, -beta, out=G)
                np.expm1(G, out=G)  # -G(x) = (1 + C x)^-beta - 1
                np.multiply(w, G, out=t)
                add(outs[0], t)  # the sign goes on below
            if jac:
                yb, wy1 = t2, t3
                np.multiply(ly, -beta, out=yb)
                np.exp(yb, out=yb)  # (1 + C x)^-beta
                np.add(cx, 1.0, out=wy1)
                np.divide(yb, wy1, out=wy1)
                wy1 *= w  # w (1 + C x)^-(beta+1)
                np.multiply(wy1, x, out=t)
                add(outs[1], t)  # dG/dC = beta x (1 + C x)^-(beta+1); beta goes on at the end
                np.multiply(w, yb, out=t)
                t *= ly
                add(outs[2], t)  # dG/dbeta = (1 + C x)^-beta log(1 + C x)
                if ch["nsl"] is not None:  # d x / d gamma = -ln(eta_k) x for an exact term
                    np.multiply(nln[ch["nsl"]], x[:nn], out=t[:nn])
                else:
                    np.take(nln, ch["ni"], out=t[:nn], mode="clip")
                    t[:nn] *= x[:nn]
                if prep.levels:
                    np.take(ag_all, ch["bi"], out=t[nn:], mode="clip")
                    t[nn:] *= sb
                    np.take(bg_all, ch["bi"], out=yb[nn:], mode="clip")  # yb is no longer needed
                    t[nn:] += yb[nn:]
                t *= wy1
                add(outs[3], t)  # G'(x) dx/dgamma, G'(x) = C beta (1 + C x)^-(beta+1); C beta at the end
        if not reuse:
            np.negative(outs[0], out=outs[0])
        if jac:
            outs[1] *= beta
            outs[3] *= C * beta
        if "chunks" in flat:  # one chunk: the buffers now hold this point
            flat["key"], flat["U"] = key, outs[0].copy()
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
