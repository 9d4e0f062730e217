"""Fit a loss law ``L(N, D)`` to the final losses of finished runs (Hoffmann et al.'s approach 3).

``fit_scaling`` validates the runs, searches (:mod:`scalefit.scaling.solve`), refits on seeded bootstrap
resamples of the runs for the intervals, says where the data cannot pin the law
(:mod:`scalefit.scaling.diagnostics`) and returns a :class:`~scalefit.scaling.result.ScalingFit`.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from scalefit.errors import FitInputError
from scalefit.laws.scaling_base import FLOPS_PER_PARAM_TOKEN, ScalingLaw
from scalefit.scaling.diagnostics import assess
from scalefit.scaling.extrapolation import measure
from scalefit.scaling.registry import get_loss_law
from scalefit.scaling.result import ScalingFit
from scalefit.scaling.solve import Objective, Progress, solve, to_natural

#: Extra rows a fit needs beyond its number of parameters.
MIN_EXTRA_ROWS = 3


def check_points(law: ScalingLaw, N: np.ndarray, D: np.ndarray, L: np.ndarray) -> None:
    """Raise :class:`FitInputError` unless the runs can identify ``law`` (enough rows; ``law.min_sizes`` distinct
    sizes and token counts)."""
    for name, v in (("params", N), ("tokens", D), ("loss", L)):
        if v.shape != N.shape or not np.all(np.isfinite(v)) or np.any(v <= 0):
            raise FitInputError(f"'{name}' must be positive and finite on every row, of one length.", column=name)
    need = len(law.names) + MIN_EXTRA_ROWS
    if N.size < need:
        raise FitInputError(f"only {N.size} runs; a {len(law.names)}-parameter scaling fit needs at least {need}. "
                            "Add runs.")
    for name, v in (("params", N), ("tokens", D)):
        k = np.unique(np.round(np.log(v), 6)).size
        if k < law.min_sizes:
            raise FitInputError(
                f"only {k} distinct value(s) of '{name}'; the {law.name} law needs at least {law.min_sizes} to "
                "separate the "
                f"{'model-size' if name == 'params' else 'data'} term from E. Add runs at other "
                f"{'model sizes' if name == 'params' else 'token counts'}.", column=name)


def _refuse_no_interior(law: ScalingLaw, values: np.ndarray, N: np.ndarray, D: np.ndarray, L: np.ndarray) -> None:
    """A term that is flat (exponent ~0) or negligible on every run (< 1e-4 of the loss) leaves no interior
    compute-optimal allocation: refuse, naming the parameters."""
    k = len(law.linear_names)
    terms = values[:k, None] * np.exp(law.log_terms(values[k:], np.log(N), np.log(D)))  # (k, n)
    share = (terms / L).max(axis=1)
    flat = [n for n, v in zip(law.nonlinear_names, values[k:]) if v < 1e-3]
    small = [n for n, s in zip(law.linear_names, share) if n != "E" and s < 1e-4]
    if flat or small:
        shown = ", ".join(f"{n}={v:.3g}" for n, v in zip(law.names, values))
        raise FitInputError(
            f"the best fit has no interior optimum ({shown}): the loss does not fall with both N and D in this "
            "data, so no compute-optimal allocation exists. Add runs spanning more sizes and token counts.")


def bootstrap_draws(law: ScalingLaw, N: np.ndarray, D: np.ndarray, L: np.ndarray, x: np.ndarray, n: int,
                    seed: int, progress: Progress = None) -> np.ndarray:
    """``n`` refits on resamples of the runs (seeded), each started from the full-data optimum ``x`` and the best
    cells of a coarse exponent grid. Returns shape (n, P) in ``law.names`` order."""
    rng = np.random.default_rng(seed)
    draws = []
    for i in range(n):
        wb = np.bincount(rng.integers(0, L.size, L.size), minlength=L.size).astype(float)  # multiplicities
        xb, _, _ = solve(law, N, D, L, wb, method="vp", extra_starts=[x], n_polish=1, grid_size=12)
        draws.append(to_natural(law, xb))
        if progress is not None:
            progress(i + 1, n)
    return np.array(draws).reshape(n, len(law.names))


def fit_scaling(
    params: Any,
    tokens: Any,
    loss_values: Any,
    *,
    law: str | ScalingLaw | None = None,
    bootstrap: int = 0,
    seed: int = 0,
    method: str = "vp",
    flops: Any = None,
    law_error: bool = True,
    progress: Progress = None,
) -> ScalingFit:
    """Fit a loss law ``L(N, D)`` to final losses of runs.

    Parameters
    ----------
    params, tokens, loss_values : array-like, shape (n,)
        N (non-embedding parameters), D (tokens) and final loss (nats/token) of each run.
    law
        A name from :data:`scalefit.scaling.registry.LOSS_LAWS` (None: the default law) or a law object.
    bootstrap
        Number of bootstrap refits over runs (seeded by ``seed``); 0 for none.
    method
        ``"vp"`` (default; exponent grid + BFGS polish) or ``"grid"`` (Epoch's start grid, slow).
    flops
        Compute of each run for the reported range (default 6ND).
    law_error
        Measure the law's own error when extrapolating in size by forward folds over the sizes
        (:mod:`scalefit.scaling.extrapolation`; a few extra fits); prediction intervals widen by it.
    progress
        Called as ``(done, total)`` after each start of the grid method and each bootstrap refit.

    Raises
    ------
    FitInputError
        Too few runs, fewer than 3 distinct N or D, or no interior compute-optimal allocation.
    """
    spec = get_loss_law(law)
    t0 = time.perf_counter()
    N, D, L = (np.asarray(v, float).ravel() for v in (params, tokens, loss_values))
    check_points(spec, N, D, L)
    x, fun, n_starts = solve(spec, N, D, L, np.ones_like(L), method=method,
                             progress=progress if method == "grid" else None)
    nat = to_natural(spec, x)
    _refuse_no_interior(spec, nat, N, D, L)
    resid = Objective(spec, np.log(N), np.log(D), np.log(L)).residuals(x)
    ext = measure(spec, N, D, L, float(np.std(resid, ddof=1))) if law_error else None
    seconds = time.perf_counter() - t0
    boot = np.empty((0, len(spec.names)))
    if bootstrap > 0:
        boot = bootstrap_draws(spec, N, D, L, x, bootstrap, seed, progress)
    notes = assess(spec, nat, boot, N, D, L)
    messages = [n.message for n in notes]
    for n in notes:
        warnings.warn(f"scaling {spec.name}: {n.message}", n.warning, stacklevel=2)
    if bootstrap > 0:
        messages.append(f"intervals: bootstrap over runs, {bootstrap} refits, seed {seed}.")
    C = FLOPS_PER_PARAM_TOKEN * N * D if flops is None else np.asarray(flops, float).ravel()
    rng_ = {"params": (float(N.min()), float(N.max())), "tokens": (float(D.min()), float(D.max())),
            "flops": (float(C.min()), float(C.max()))}
    stderr = (dict(zip(spec.names, map(float, boot.std(axis=0, ddof=1)))) if boot.shape[0] >= 2
              else {k: float("nan") for k in spec.names})
    return ScalingFit(values=dict(zip(spec.names, map(float, nat))), stderr=stderr, bootstrap=boot,
                      objective=fun, n_points=int(L.size), range=rng_, law=spec.name, method=method,
                      n_starts=n_starts, seed=seed, seconds=seconds, messages=tuple(messages),
                      residuals=tuple(map(float, resid)), notes=tuple(notes), extrapolation=ext)
