"""Chinchilla scaling law ``L(N, D) = E + A / N^alpha + B / D^beta`` and compute-optimal allocation.

Hoffmann et al. 2022 (arXiv 2203.15556), approach 3; refitted by Besiroglu et al. 2024 ("Chinchilla Scaling: A
replication attempt", arXiv 2404.10102), whose objective we use: the summed Huber loss (delta = 1e-3) of the
log residuals ``log L_hat - log L``, with ``L_hat`` written as ``exp(LSE(a - alpha log N, b - beta log D, e))``
(``A = e^a``, ``B = e^b``, ``E = e^e``), fitted by L-BFGS-B.

============  ==========================================================  ================
symbol        meaning                                                     paper
============  ==========================================================  ================
E             irreducible loss (nats/token)                                Hoffmann eq. 2
A, alpha      amplitude and exponent of the model-size term (N params)     Hoffmann eq. 2
B, beta       amplitude and exponent of the data term (D tokens)           Hoffmann eq. 2
============  ==========================================================  ================

Fitting method (measured on the 240 Epoch points, ``benchmarks/hparams.py``): for fixed (alpha, beta) the model
is linear in (E, A, B), so a 2-D grid over (alpha, beta) solves (E, A, B) by non-negative least squares on the
relative residual (a cheap stand-in for the log-Huber inner problem); the best grid cells then start L-BFGS-B
on all five parameters in the LSE form with the exact gradient and tight tolerances. This variable-projection
start finds the same optimum as Epoch's 4,500-start grid, about a hundred times faster. The polish uses BFGS
(the exponents are unconstrained there; a fit with alpha or beta <= 0 is refused as having no interior optimum):
it reaches the same objective as L-BFGS-B, whose small BLAS calls were measured 50x slower on a loaded host.
``method="grid"`` runs the
Epoch/Hoffmann start grid for comparison. Intervals come from a seeded bootstrap over points (rows), as Epoch's.

Compute-optimal allocation under C = 6 N D (Hoffmann eq. 4):
``N*(C) = G (C/6)^(beta/(alpha+beta))``, ``D*(C) = (C/6)^(alpha/(alpha+beta)) / G``,
``G = (alpha A / (beta B))^(1/(alpha+beta))``.
"""

from __future__ import annotations

import itertools
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scalefit.errors import ExtrapolationWarning, FitInputError, ParameterAtBoundWarning
from scalefit.laws.base import ParamSpec

SCHEMA = "scalefit.scaling/1"
CITATION = "Hoffmann et al. 2022 (arXiv 2203.15556); Besiroglu et al. 2024 (arXiv 2404.10102)"
HUBER_DELTA = 1e-3
PARAMS = (
    ParamSpec("E", 0.0, np.inf, True, 1.8, "irreducible loss, nats/token"),
    ParamSpec("A", 0.0, np.inf, True, 400.0, "model-size amplitude"),
    ParamSpec("B", 0.0, np.inf, True, 2000.0, "data amplitude"),
    ParamSpec("alpha", 0.0, 3.0, False, 0.34, "model-size exponent"),
    ParamSpec("beta", 0.0, 3.0, False, 0.28, "data exponent"),
)
NAMES = tuple(p.name for p in PARAMS)
#: Fewest rows, distinct model sizes and distinct token counts a fit accepts.
MIN_POINTS, MIN_SIZES = 8, 3


def loss(params: dict[str, float] | np.ndarray, N: Any, D: Any) -> np.ndarray:
    """``E + A / N^alpha + B / D^beta`` for parameters given as a dict or an array in ``NAMES`` order."""
    E, A, B, alpha, beta = _vec(params)
    N, D = np.asarray(N, float), np.asarray(D, float)
    return E + A / N**alpha + B / D**beta


def _vec(params: dict[str, float] | np.ndarray) -> np.ndarray:
    if isinstance(params, dict):
        return np.array([params[k] for k in NAMES], float)
    return np.asarray(params, float)


def _huber(r: np.ndarray, delta: float = HUBER_DELTA) -> np.ndarray:
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


class _Objective:
    """Summed Huber of log residuals in the LSE parameterisation x = (a, b, e, alpha, beta), with gradient."""

    def __init__(self, lN: np.ndarray, lD: np.ndarray, lL: np.ndarray, weights: np.ndarray | None = None):
        self.lN, self.lD, self.lL = lN, lD, lL  # (n,)
        self.w = np.ones_like(lL) if weights is None else weights  # bootstrap multiplicities, (n,)

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        a, b, e, alpha, beta = x
        pre = np.stack([a - alpha * self.lN, b - beta * self.lD, np.full_like(self.lN, e)])  # (3, n)
        m = pre.max(axis=0)
        ex = np.exp(pre - m)
        s = ex.sum(axis=0)
        lse = m + np.log(s)
        r = lse - self.lL
        dh = self.w * np.clip(r, -HUBER_DELTA, HUBER_DELTA)  # Huber derivative, (n,)
        soft = ex / s  # d lse / d pre, (3, n)
        g0, g1, g2 = (dh * soft).sum(axis=1)
        grad = np.array([g0, g1, g2, -(dh * soft[0] * self.lN).sum(), -(dh * soft[1] * self.lD).sum()])
        return float((self.w * _huber(r)).sum()), grad


_LBFGS = {"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000}  # the objective is ~1e-3: default tolerances stop early
_BFGS = {"gtol": 1e-10, "maxiter": 10_000}
_BOUNDS = [(None, None), (None, None), (None, None), (0.0, 3.0), (0.0, 3.0)]


def _vp_grid(N: np.ndarray, D: np.ndarray, L: np.ndarray, w: np.ndarray, grid: np.ndarray) -> list[tuple]:
    """For every (alpha, beta) on ``grid`` x ``grid``: NNLS for (E, A, B) on the relative residual; the log-Huber
    objective of that solution. Returns (objective, alpha, beta, E, A, B), best first."""
    from scipy.optimize import nnls

    sw = np.sqrt(w)
    out = []
    for alpha, beta in itertools.product(grid, grid):
        M = np.stack([np.ones_like(N), N**-alpha, D**-beta], axis=1) / L[:, None]  # (n, 3)
        coef, _ = nnls(M * sw[:, None], sw)
        pred = M @ coef * L
        if np.any(pred <= 0):
            continue
        obj = float((w * _huber(np.log(pred) - np.log(L))).sum())
        out.append((obj, alpha, beta, *coef))
    out.sort(key=lambda t: t[0])
    return out


def _epoch_grid() -> list[np.ndarray]:
    """Hoffmann/Epoch start grid over (a, b, e, alpha, beta): 6 x 6 x 5 x 5 x 5 = 4,500 starts."""
    return [np.array([a, b, e, al, be]) for al, be, e, a, b in itertools.product(
        np.arange(0, 2.5, 0.5), np.arange(0, 2.5, 0.5), np.arange(-1, 1.5, 0.5), np.arange(0, 30, 5),
        np.arange(0, 30, 5))]


def _solve(N, D, L, w, *, method: str, extra_starts=(), n_polish: int = 4, grid_size: int = 30) -> tuple:
    """Best (x in LSE form, objective, n_starts)."""
    from scipy.optimize import minimize

    obj = _Objective(np.log(N), np.log(D), np.log(L), w)
    if method == "vp":
        cands = _vp_grid(N, D, L, w, np.linspace(0.02, 1.5, grid_size))
        starts = []
        for _, alpha, beta, E, A, B in cands[:n_polish]:
            E, A, B = (max(v, 1e-8) for v in (E, A, B))
            starts.append(np.array([np.log(A), np.log(B), np.log(E), alpha, beta]))
    elif method == "grid":
        starts = _epoch_grid()
    else:
        raise FitInputError(f"unknown method {method!r}; use 'vp' or 'grid'.")
    starts = list(extra_starts) + starts
    best = None
    for x0 in starts:
        if method == "grid":  # Epoch's recipe, kept as the reference
            res = minimize(obj, x0, jac=True, method="L-BFGS-B", bounds=_BOUNDS, options=_LBFGS)
        else:  # BFGS: same optimum; L-BFGS-B's tiny BLAS calls cost ~10 ms each on a loaded multi-core host
            res = minimize(obj, x0, jac=True, method="BFGS", options=_BFGS)
        if best is None or res.fun < best.fun:
            best = res
    if best is None:
        raise FitInputError("no start gave a finite objective: the losses cannot be fitted by E + A/N^a + B/D^b.")
    return best.x, float(best.fun), len(starts)


def _to_natural(x: np.ndarray) -> np.ndarray:
    a, b, e, alpha, beta = x
    return np.array([np.exp(e), np.exp(a), np.exp(b), alpha, beta])


def _check_input(N: np.ndarray, D: np.ndarray, L: np.ndarray) -> None:
    for name, v in (("params", N), ("tokens", D), ("loss", L)):
        if v.shape != N.shape or not np.all(np.isfinite(v)) or np.any(v <= 0):
            raise FitInputError(f"'{name}' must be positive and finite on every row, of one length.", column=name)
    if N.size < MIN_POINTS:
        raise FitInputError(f"only {N.size} runs; a 5-parameter scaling fit needs at least {MIN_POINTS}. Add runs.")
    for name, v in (("params", N), ("tokens", D)):
        k = np.unique(np.round(np.log(v), 6)).size
        if k < MIN_SIZES:
            raise FitInputError(
                f"only {k} distinct value(s) of '{name}'; the scaling law needs at least {MIN_SIZES} to separate the "
                f"{'A/N^alpha' if name == 'params' else 'B/D^beta'} term from E. Add runs at other "
                f"{'model sizes' if name == 'params' else 'token counts'}.", column=name)


@dataclass(frozen=True, eq=False)
class ScalingFit:
    """A fitted Chinchilla law with bootstrap intervals and the range of the data it saw.

    ``values`` maps E, A, B, alpha, beta to the estimate; ``stderr`` to the bootstrap standard deviation (NaN
    without a bootstrap); ``bootstrap`` has shape (n_boot, 5) in ``NAMES`` order. ``range`` gives [min, max] of
    params, tokens and flops (C = 6ND) in the data.
    """

    values: dict[str, float]
    stderr: dict[str, float]
    bootstrap: np.ndarray
    objective: float
    n_points: int
    range: dict[str, tuple[float, float]]
    method: str = "vp"
    n_starts: int = 0
    seed: int = 0
    seconds: float = 0.0
    messages: tuple[str, ...] = field(default_factory=tuple)

    # ---- prediction
    def predict(self, N: Any, D: Any) -> np.ndarray:
        """Loss at N parameters and D tokens (nats/token)."""
        return loss(self.values, N, D)

    def loss_interval(self, N: float, D: float, interval: float = 0.9) -> tuple[float, float, float]:
        """Loss at (N, D) and its central ``interval`` from the bootstrap (NaN bounds without a bootstrap)."""
        point = float(self.predict(N, D))
        if self.bootstrap.shape[0] < 2:
            return point, float("nan"), float("nan")
        draws = loss(self.bootstrap.T, N, D)  # (n_boot,)
        q = (1 - interval) / 2
        return point, float(np.quantile(draws, q)), float(np.quantile(draws, 1 - q))

    def optimal(self, flops: float, interval: float = 0.9) -> dict[str, float]:
        """Compute-optimal N*, D* and loss at C = ``flops`` (C = 6ND), with bootstrap intervals.

        Returns a dict with ``params``, ``tokens``, ``loss`` and ``*_lower``/``*_upper`` for each.
        """
        out: dict[str, float] = {}
        N, D = _allocate(np.array([[self.values[k] for k in NAMES]]), flops)
        out["params"], out["tokens"] = float(N[0]), float(D[0])
        out["loss"] = float(self.predict(N[0], D[0]))
        q = (1 - interval) / 2
        if self.bootstrap.shape[0] >= 2:
            Nb, Db = _allocate(self.bootstrap, flops)
            Lb = loss(self.bootstrap.T, Nb, Db)  # (n_boot,)
            for key, draws in (("params", Nb), ("tokens", Db), ("loss", Lb)):
                ok = draws[np.isfinite(draws)]
                out[key + "_lower"] = float(np.quantile(ok, q)) if ok.size else float("nan")
                out[key + "_upper"] = float(np.quantile(ok, 1 - q)) if ok.size else float("nan")
        else:
            for key in ("params", "tokens", "loss"):
                out[key + "_lower"] = out[key + "_upper"] = float("nan")
        return out

    def extrapolated(self, **quantities: float) -> list[str]:
        """Names among ``params``, ``tokens``, ``flops`` whose value lies outside the fitted range."""
        out = []
        for name, value in quantities.items():
            if value is None or name not in self.range:
                continue
            lo, hi = self.range[name]
            if not lo <= value <= hi:
                out.append(name)
        return out

    # ---- reporting and JSON
    def summary(self) -> dict[str, Any]:
        """Plain-Python dict: the ``--json`` output of ``scalefit scaling``."""
        return {
            **{k: self.values[k] for k in NAMES},
            "stderr": dict(self.stderr),
            "seconds": self.seconds,
            "objective": self.objective,
            "n_points": self.n_points,
            "n_bootstrap": int(self.bootstrap.shape[0]),
            "range": {k: list(v) for k, v in self.range.items()},
            "method": self.method,
        }

    def report(self) -> str:
        """A short text report."""
        lines = [f"Chinchilla law L = E + A/N^alpha + B/D^beta  ({self.n_points} runs, method {self.method}, "
                 f"{self.n_starts} starts, Huber delta {HUBER_DELTA} on log L, {self.seconds:.2f} s)"]
        for k in NAMES:
            se = self.stderr.get(k, float("nan"))
            lines.append(f"  {k:<6} {self.values[k]:>12.5g}  +- {se:.3g}" if np.isfinite(se)
                         else f"  {k:<6} {self.values[k]:>12.5g}")
        a, b = self.values["alpha"], self.values["beta"]
        lines.append(f"  N* ~ C^{b / (a + b):.3f}, D* ~ C^{a / (a + b):.3f}")
        lines.extend(f"  note: {m}" for m in self.messages)
        return "\n".join(lines)

    def to_json(self, path: Any) -> None:
        """Write ``scalefit.scaling/1`` JSON."""
        from scalefit.jsonio import write_json

        write_json(path, {"schema": SCHEMA, "law": "chinchilla", "citation": CITATION, **self.summary(),
                          "n_starts": self.n_starts, "seed": self.seed, "messages": list(self.messages),
                          "bootstrap": self.bootstrap.tolist(), "bootstrap_order": list(NAMES)})

    @classmethod
    def from_json(cls, path: Any) -> ScalingFit:
        """Read a file written by :meth:`to_json`."""
        from scalefit.errors import ResultFileError
        from scalefit.jsonio import read_json

        d = read_json(path, schema="scalefit.scaling")
        try:
            boot = np.array(d.get("bootstrap") or [], float).reshape(-1, len(NAMES))
            return cls(
                values={k: float(d[k]) for k in NAMES},
                stderr={k: (float("nan") if v is None else float(v)) for k, v in d["stderr"].items()},
                bootstrap=boot, objective=float(d["objective"]), n_points=int(d["n_points"]),
                range={k: (float(v[0]), float(v[1])) for k, v in d["range"].items()},
                method=str(d.get("method", "vp")), n_starts=int(d.get("n_starts", 0)), seed=int(d.get("seed", 0)),
                seconds=float(d.get("seconds", 0.0)), messages=tuple(d.get("messages", ())),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ResultFileError(f"malformed scaling result ({exc!r}). Re-run scalefit scaling --out.",
                                  path=str(path)) from None


def _allocate(p: np.ndarray, flops: float) -> tuple[np.ndarray, np.ndarray]:
    """N*(C), D*(C) for each parameter row of ``p`` (shape (k, 5)); NaN where there is no interior optimum."""
    E, A, B, alpha, beta = p.T
    with np.errstate(all="ignore"):
        s = alpha + beta
        G = (alpha * A / (beta * B)) ** (1 / s)
        N = G * (flops / 6.0) ** (beta / s)
        D = (flops / 6.0) / N
    bad = (alpha <= 0) | (beta <= 0) | (A <= 0) | (B <= 0) | ~np.isfinite(N)
    return np.where(bad, np.nan, N), np.where(bad, np.nan, D)


def fit_scaling(
    params: Any,
    tokens: Any,
    loss_values: Any,
    *,
    bootstrap: int = 0,
    seed: int = 0,
    method: str = "vp",
    flops: Any = None,
) -> ScalingFit:
    """Fit ``L = E + A/N^alpha + B/D^beta`` to final losses of runs.

    Parameters
    ----------
    params, tokens, loss_values : array-like, shape (n,)
        N (non-embedding parameters), D (tokens) and final loss (nats/token) of each run.
    bootstrap
        Number of bootstrap refits over rows (seeded by ``seed``); 0 for none. Each refit starts from the full-data
        optimum and the best cells of a coarse (alpha, beta) grid.
    method
        ``"vp"`` (default; grid over exponents + L-BFGS-B polish) or ``"grid"`` (Epoch's 4,500 starts).
    flops
        Compute of each run for the reported range (default 6ND).

    Raises
    ------
    FitInputError
        Fewer than 8 runs, fewer than 3 distinct N or D, or no interior compute-optimal allocation (A, B, alpha or
        beta at 0).
    """
    t0 = time.perf_counter()
    N, D, L = (np.asarray(v, float).ravel() for v in (params, tokens, loss_values))
    _check_input(N, D, L)
    w = np.ones_like(L)
    x, fun, n_starts = _solve(N, D, L, w, method=method)
    nat = _to_natural(x)
    values = dict(zip(NAMES, map(float, nat)))
    messages: list[str] = []
    # a term that is flat (exponent ~0) or negligible on every run (< 1e-4 of the loss) leaves no interior optimum
    share_n = np.max(values["A"] / N ** values["alpha"] / L)
    share_d = np.max(values["B"] / D ** values["beta"] / L)
    if values["alpha"] < 1e-3 or values["beta"] < 1e-3 or share_n < 1e-4 or share_d < 1e-4:
        raise FitInputError(
            f"the best fit has no interior optimum (alpha={values['alpha']:.3g}, beta={values['beta']:.3g}, "
            f"A={values['A']:.3g}, B={values['B']:.3g}): the loss does not fall with both N and D in this data, so "
            "no compute-optimal allocation exists. Add runs spanning more sizes and token counts.")
    for k in ("alpha", "beta"):
        if values[k] > 3.0 - 1e-6:
            msg = f"{k} sits at its upper bound 3; its interval is unreliable."
            messages.append(msg)
            warnings.warn(msg, ParameterAtBoundWarning, stacklevel=2)
    seconds = time.perf_counter() - t0

    boot = np.empty((0, len(NAMES)))
    stderr = {k: float("nan") for k in NAMES}
    if bootstrap > 0:
        rng = np.random.default_rng(seed)
        draws = []
        for _ in range(bootstrap):
            wb = np.bincount(rng.integers(0, L.size, L.size), minlength=L.size).astype(float)  # multiplicities
            xb, _, _ = _solve(N, D, L, wb, method="vp", extra_starts=[x], n_polish=1, grid_size=12)
            draws.append(_to_natural(xb))
        boot = np.array(draws)
        stderr = dict(zip(NAMES, map(float, boot.std(axis=0, ddof=1))))
        messages.append(f"intervals: bootstrap over runs, {bootstrap} refits, seed {seed}.")
    C = 6.0 * N * D if flops is None else np.asarray(flops, float).ravel()
    rng_ = {"params": (float(N.min()), float(N.max())), "tokens": (float(D.min()), float(D.max())),
            "flops": (float(C.min()), float(C.max()))}
    return ScalingFit(values=values, stderr=stderr, bootstrap=boot, objective=fun, n_points=int(L.size),
                      range=rng_, method=method, n_starts=n_starts, seed=seed, seconds=seconds,
                      messages=tuple(messages))


def warn_extrapolation(fit: ScalingFit, **quantities: float) -> list[str]:
    """Emit an :class:`ExtrapolationWarning` for each quantity outside the fitted range; return their names."""
    names = fit.extrapolated(**quantities)
    for name in names:
        lo, hi = fit.range[name]
        warnings.warn(f"scaling law: {name} = {quantities[name]:.3g} lies outside the fitted range "
                      f"[{lo:.3g}, {hi:.3g}]; the prediction extrapolates.", ExtrapolationWarning, stacklevel=2)
    return names
