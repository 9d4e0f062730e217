"""The Multi-Power Law's loss drop compressed into blocks: what ``MultiPowerLaw.prepare`` builds once per run.

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
``u_k = P_{k-1}``. :func:`scalefit.laws.mpl_drop.ld_error_bound` evaluates the sum of these bounds (times B it
bounds the loss error); ``tests/laws/test_multipower.py`` checks ``|LD_compressed - LD_exact| <= bound`` on
random schedules. With the defaults (near 64, block 16, eta_tol 0.02) and alpha 0.5, C 2, beta 0.6, gamma 0.6,
B 500 the bound on the loss error is 7.8e-6 nats on the 24,000-step reference cosine, 6.6e-6 on a 34,000-step
cosine and 9.7e-7 on a 1,000,000-step cosine at 5,000 rows, below the 4-decimal rounding of published curves
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
rows) reuses it. Measured costs (a 1,000,000-step cosine at 5,000 rows: ~14 ms per design, ~27 ms per design_jac):
``benchmarks/RESULTS.md``, "Law evaluation cost".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from scalefit.laws.base import Prepared

_MERGE = 4  # level l+1 blocks merge up to 4 level-l blocks


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


def schedule_part(lr: np.ndarray, warmup: int, end: int, *, first: int, compress: bool, near: int, block: int,
                  eta_tol: float) -> tuple:
    """What a prepared run needs from the schedule alone: ``P = cumsum(lr[:end])``, the nonzero decrements
    ``lr[k-1] - lr[k]`` from ``k = first`` on (k, d, u, ln_eta), the block levels and the series (arrays
    read-only; the law keeps the last one and reuses it for the same schedule)."""
    P = np.cumsum(lr[:end])  # (T',)
    dec = np.zeros(end)
    dec[first:] = lr[first - 1:end - 1] - lr[first:end]
    k = np.flatnonzero(dec).astype(np.int64)  # (K,) skip zero decrements exactly
    d = dec[k]
    u = np.concatenate(([0.0], P[:-1]))[k]  # P_{k-1}
    floor = 1e-12 * float(lr.max()) if lr.max() > 0 else 1e-300
    ln_eta = np.log(np.maximum(lr[k], floor))
    levs = levels(k, d, u, ln_eta, end, near=near, block=block, eta_tol=eta_tol) if compress else []
    ser = series(levs, d, u, ln_eta) if levs else None
    for a in (P, k, d, u, ln_eta):
        a.setflags(write=False)  # shared by every prepared run of this schedule
    return P, k, d, u, ln_eta, levs, ser


def prepared(lr: np.ndarray, warmup: int, at: np.ndarray, n_params: float | None, part: tuple) -> MPLPrepared:
    """The prepared run: the schedule part (:func:`schedule_part`) and, per observation, the range of its exact
    terms (the decrements after its last far block of level 0) and of its blocks at each level."""
    P, k, d, u, ln_eta, levels, series = part
    area = P[at]
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


def levels(k: np.ndarray, d: np.ndarray, u: np.ndarray, ln_eta: np.ndarray, end: int, *, near: int, block: int,
           eta_tol: float) -> list[_Level]:
    """The block levels of the nonzero decrements (see the module docstring)."""
    if k.size == 0:
        return []
    bucket = np.floor(ln_eta / np.log1p(eta_tol)).astype(np.int64)
    sign = np.sign(d)
    # level 0: break at gaps, sign changes, LR-bucket changes, and every `block` decrements within a run
    brk = np.ones(k.size, dtype=bool)
    brk[1:] = (np.diff(k) != 1) | (sign[1:] != sign[:-1]) | (bucket[1:] != bucket[:-1])
    brk = _cap_runs(brk, block)
    starts = np.flatnonzero(brk)
    levels = [_level(starts, k, d, u, ln_eta, near)]
    lag = near
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
        lev = _level(prev.start[b], k, d, u, ln_eta, lag, prev=prev)
        parent = np.cumsum(b) - 1  # (n_prev,) block of this level holding each block below
        levels.append(_Level(**{**lev.__dict__, "child": child, "du": prev.u_lo - lev.u_lo[parent]}))
    return levels


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


def series(levels: list[_Level], d: np.ndarray, u: np.ndarray, ln_eta: np.ndarray) -> tuple[_Series, ...] | None:
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


def _cap_runs(brk: np.ndarray, cap: int) -> np.ndarray:
    """Add breaks so that no run between breaks is longer than ``cap`` (``brk[0]`` must be True)."""
    run = np.cumsum(brk) - 1
    first = np.flatnonzero(brk)
    pos = np.arange(brk.size) - first[run]
    return brk | (pos % cap == 0)
