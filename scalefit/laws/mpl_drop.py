"""The Multi-Power Law's loss drop evaluated on the blocks of :mod:`scalefit.laws.mpl_blocks`: the unit drop
``U = LD / B`` at the observations and its derivatives in (C, beta, gamma), its proven error bound, and the naive
O(M T) sum for tests."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from scalefit.laws.base import check_schedule
from scalefit.laws.mpl_blocks import MPLPrepared, _series_order

_PAIRS_PER_CHUNK = 2_000_000  # (observation, term) pairs evaluated at once: bounds the memory to ~100 MB


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


def block_sums(gamma: float, prep: MPLPrepared, jac: bool) -> np.ndarray:
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


def pairs(prep: MPLPrepared) -> Iterator[dict]:
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


def unit_drop(p: Mapping[str, float], prep: MPLPrepared, jac: bool) -> tuple[np.ndarray, ...]:
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
        sums = block_sums(gamma, prep, jac)  # (2 or 4, n_blocks)
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
    for ch in pairs(prep):
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
