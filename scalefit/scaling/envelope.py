"""The lower envelope of training curves over compute (Hoffmann et al. 2022, approach 1).

For every compute value C on a log grid, the run with the lowest loss at C (its curve interpolated in ln C, over
the runs whose logged range covers C) is the compute-optimal one there: N*(C) is its size, D*(C) = C / 6N*.
Power laws N* ~ C^a, D* ~ C^b are fitted by least squares on the logs over the grid points where two or more
runs are active. Intervals: a seeded bootstrap over runs.

Runs without curves (a summary table: one final loss per run) give the same envelope on their points: a run is
on it when every run of smaller compute has a higher loss (the Pareto front of compute and loss).

A run's loss part-way through a schedule that has not decayed yet lies above what a run trained to that length
reaches, so the envelope of such curves favours sizes whose runs end near C; Hoffmann et al. trained four
schedule lengths per size for this reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from scalefit.errors import FitInputError
from scalefit.scaling.isoflop import PowerLawFit, frontier_optimal

#: Grid points of the envelope (Hoffmann et al. used 1,500).
N_GRID = 400


@dataclass(frozen=True)
class Curve:
    """One run's loss against tokens seen (finite, positive; tokens increasing)."""

    name: str
    params: float
    tokens: np.ndarray
    loss: np.ndarray


def curves_from_runs(runs: Sequence[Any]) -> list[Curve]:
    """Curves of runs (:class:`scalefit.runs.Run`): N from ``params`` metadata; tokens from a ``tokens`` column,
    else (step + 1) x ``tokens_per_step`` (or batch_size x seq_len); loss from ``val_loss`` when logged, else the
    target (as :func:`scalefit.tables.final_loss` does)."""
    out = []
    for run in runs:
        meta, extra = dict(run.meta), dict(getattr(run, "extra", {}) or {})
        if "params" not in meta:
            raise FitInputError("has no 'params' metadata; the envelope needs each run's size. Add '# params: N'.",
                                path=run.path, column="params")
        if "tokens" in extra and np.isfinite(extra["tokens"]).any():
            tokens = np.asarray(extra["tokens"], float)
        elif "tokens_per_step" in meta or ("batch_size" in meta and "seq_len" in meta):
            per = float(meta.get("tokens_per_step") or float(meta["batch_size"]) * float(meta["seq_len"]))
            tokens = (np.asarray(run.steps, float) + 1) * per
        else:
            raise FitInputError("gives no tokens column or tokens_per_step metadata, so its compute is unknown.",
                                path=run.path, column="tokens")
        loss = np.asarray(extra["val_loss"] if "val_loss" in extra and np.isfinite(extra["val_loss"]).any()
                          else run.loss, float)
        ok = np.isfinite(loss) & np.isfinite(tokens) & (tokens > 0) & (loss > 0)
        out.append(Curve(run.name, float(meta["params"]), tokens[ok], loss[ok]))
    return out


@dataclass(frozen=True, eq=False)
class EnvelopeFit:
    """Approach 1: the frontier points (C, N*, loss) and the fitted N*(C), D*(C) power laws."""

    n_opt: PowerLawFit
    d_opt: PowerLawFit
    flops: np.ndarray
    params: np.ndarray
    loss: np.ndarray
    source: str  # "curves" or "points"
    n_runs: int
    n_bootstrap: int
    level: float
    messages: tuple[str, ...] = ()

    method = "envelope"

    def optimal(self, flops: float, interval: float = 0.9) -> dict[str, float]:
        """N* and D* at C from the fitted power laws, with bootstrap intervals."""
        return frontier_optimal(self.n_opt, self.d_opt, flops, interval)

    def summary(self) -> dict[str, Any]:
        return {"method": "envelope", "source": self.source, "n_opt": self.n_opt.summary(),
                "d_opt": self.d_opt.summary(), "n_runs": self.n_runs, "n_frontier": int(self.flops.size),
                "frontier_sizes": sorted(set(map(float, self.params))), "interval": self.level,
                "n_bootstrap": self.n_bootstrap, "messages": list(self.messages)}

    def report(self) -> str:
        pct = f"{self.level:.0%}"
        lines = [f"lower envelope over compute (Hoffmann et al. 2022, approach 1) of {self.n_runs} runs' "
                 f"{self.source}: {np.unique(self.params).size} sizes on the frontier"]
        for name, p in (("N*", self.n_opt), ("D*", self.d_opt)):
            lines.append(f"  {name}(C) = {p.coef:.4g} C^{p.exponent:.4f}  ({pct} interval of the exponent "
                         f"[{p.lower:.4f}, {p.upper:.4f}])")
        lines.extend(f"  note: {m}" for m in self.messages)
        return "\n".join(lines)


def _envelope_curves(curves: Sequence[Curve], grid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ln C, N*, loss) at the grid points where two or more curves are active."""
    L = np.full((len(curves), grid.size), np.nan)  # (runs, grid)
    for i, c in enumerate(curves):
        lc = np.log(6.0 * c.params * c.tokens)
        inside = (grid >= lc[0]) & (grid <= lc[-1])
        L[i, inside] = np.interp(grid[inside], lc, c.loss)
    active = np.isfinite(L).sum(axis=0) >= 2
    best = np.nanargmin(np.where(np.isfinite(L), L, np.inf)[:, active], axis=0)
    sizes = np.array([c.params for c in curves])
    return grid[active], sizes[best], L[best, np.flatnonzero(active)]


def _pareto(lc: np.ndarray, N: np.ndarray, L: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points with a lower loss than every point of smaller compute, in order of compute."""
    o = np.argsort(lc, kind="stable")
    run_min = np.minimum.accumulate(L[o])
    on = np.concatenate([[True], L[o][1:] < run_min[:-1]])
    return lc[o][on], N[o][on], L[o][on]


def _laws(lc: np.ndarray, N: np.ndarray, draws: list[tuple[np.ndarray, np.ndarray]], level: float,
          lk: float) -> tuple[PowerLawFit, PowerLawFit]:
    q = (1 - level) / 2
    out = []
    for sign, off in ((1.0, 0.0), (-1.0, 1.0)):  # ln N* = a0 + a1 lc; ln D* = lc - lk - ln N*
        def fit(x: np.ndarray, n: np.ndarray) -> tuple[float, float]:
            y = sign * np.log(n) + off * (x - lk)
            slope, intercept = np.polyfit(x, y, 1)
            return float(intercept), float(slope)

        a0, a1 = fit(lc, N)
        bd = np.array([fit(x, n) for x, n in draws if np.unique(x).size >= 2]).reshape(-1, 2)
        lo, hi = np.quantile(bd[:, 1], [q, 1 - q]) if bd.shape[0] >= 10 else (np.nan, np.nan)
        out.append(PowerLawFit(float(np.exp(a0)), a1, float(lo), float(hi), bd))
    return out[0], out[1]


def fit_envelope(curves: Sequence[Curve] | None = None, *, params: Any = None, tokens: Any = None,
                 loss: Any = None, bootstrap: int = 200, seed: int = 0, level: float = 0.9,
                 n_grid: int = N_GRID) -> EnvelopeFit:
    """Approach 1 on ``curves`` (runs with loss curves) or on points (``params``, ``tokens``, ``loss``).

    Raises :class:`FitInputError` when fewer than two sizes reach the frontier.
    """
    rng = np.random.default_rng(seed)
    lk = float(np.log(6.0))
    messages: list[str] = []
    if curves:
        curves = [c for c in curves if c.tokens.size]
        if len(curves) < 2:
            raise FitInputError("the envelope needs at least two runs with observed losses.")
        lo = min(np.log(6.0 * c.params * c.tokens[0]) for c in curves)
        hi = max(np.log(6.0 * c.params * c.tokens[-1]) for c in curves)
        grid = np.linspace(lo, hi, n_grid)
        lc, N, L = _envelope_curves(curves, grid)
        draws = []
        for _ in range(bootstrap):
            pick = [curves[i] for i in rng.integers(0, len(curves), len(curves))]
            if len({c.params for c in pick}) >= 2:
                draws.append(_envelope_curves(pick, grid)[:2])
        source, n_runs = "curves", len(curves)
        messages.append("a loss part-way through a schedule that has not decayed lies above a run trained to that "
                        "length; the envelope favours sizes whose runs end near each C.")
    else:
        Np, Dp, Lp = (np.asarray(v, float).ravel() for v in (params, tokens, loss))
        lcp = np.log(6.0 * Np * Dp)
        lc, N, L = _pareto(lcp, Np, Lp)
        draws = []
        for _ in range(bootstrap):
            pick = rng.integers(0, Lp.size, Lp.size)
            draws.append(_pareto(lcp[pick], Np[pick], Lp[pick])[:2])
        source, n_runs = "points", int(Lp.size)
    if lc.size == 0 or np.unique(N).size < 2:
        raise FitInputError("fewer than two model sizes reach the lower envelope, so N*(C) has no slope. Add runs "
                            "of other sizes whose losses overlap in compute.")
    n_law, d_law = _laws(lc, N, draws, level, lk)
    messages.append(f"intervals: {level:.0%} bootstrap percentile intervals, {bootstrap} resamples of the runs, "
                    f"seed {seed}.")
    return EnvelopeFit(n_law, d_law, np.exp(lc), N, L, source, n_runs, bootstrap, level, tuple(messages))
