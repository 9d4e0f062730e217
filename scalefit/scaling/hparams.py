"""Fit the optimal-LR and optimal-batch-size laws (:mod:`scalefit.laws.hyperparams`) to a sweep.

The Step Law procedure (Li et al. 2025): runs are grouped into cells (one (N, D) pair for ``steplaw``; one compute
budget C for ``deepseek``, as DeepSeek groups by budget); in each cell every run whose loss is within ``tol``
(default 0.25%) of the cell's best loss is kept as near-optimal; the logs of lr (and of B) of all kept runs are
regressed on log N and log D (or log C) by least squares. Intervals: a seeded bootstrap over the kept runs
(resampled with replacement, pooled over cells), percentile intervals on the coefficients and predictions.

Each cell's optimum is also located by a quadratic (:mod:`scalefit.scaling.hparam_cells`), and the law is checked
by leaving each cell out in turn: refit on the other cells, predict the left-out cell's lr* and B*, and compare
with its best run (median |log2(predicted / best)|, printed with the fit). A sweep whose N (or D) spans less than
2x cannot identify that exponent: the fit says so (a mixture-of-experts grid whose total parameters barely vary
needs ``params_column`` set to the active parameters).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from scalefit.errors import FitInputError, IllConditionedWarning
from scalefit.laws.hyperparams import FORMS, PowerLaw
from scalefit.results import Note
from scalefit.scaling.hparam_cells import CellOptimum, quadratic
from scalefit.scaling.hparam_result import HparamFit

#: An exponent's variable must span at least this factor to be identifiable.
MIN_SPAN = 2.0


def _lstsq_law(X: np.ndarray, y: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
    if idx is not None:
        X, y = X[idx], y[idx]
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    return coef


def _power_law(X: np.ndarray, y: np.ndarray, names: tuple[str, ...], draws: np.ndarray, level: float) -> PowerLaw:
    """Least-squares fit of y = X @ coef (X's first column is 1) plus bootstrap refits on index rows ``draws``."""
    coef = _lstsq_law(X, y)
    boot = np.array([_lstsq_law(X, y, idx) for idx in draws]) if len(draws) else np.empty((0, X.shape[1]))
    q = (1 - level) / 2
    ci: dict[str, tuple[float, float]] = {}
    if boot.shape[0] >= 2:
        lo, hi = np.quantile(boot, q, axis=0), np.quantile(boot, 1 - q, axis=0)
        with np.errstate(over="ignore"):  # an unidentifiable exponent can send the coefficient to inf: say so
            ci["coef"] = (float(np.exp(lo[0])), float(np.exp(hi[0])))
        for j, k in enumerate(names, start=1):
            ci[k] = (float(lo[j]), float(hi[j]))
    else:
        ci = {k: (float("nan"), float("nan")) for k in ("coef", *names)}
    return PowerLaw(coef=float(np.exp(coef[0])), exponents={k: float(coef[j]) for j, k in enumerate(names, 1)},
                    ci=ci, bootstrap=boot, ci_level=level)


def fit_hparams(
    params: Any,
    tokens: Any,
    lr: Any,
    batch_size: Any,
    loss: Any,
    *,
    flops: Any = None,
    form: str = "steplaw",
    tol: float = 0.0025,
    bootstrap: int = 1000,
    seed: int = 0,
    window: float = 0.03,
    cell_bootstrap: int = 200,
    level: float = 0.95,
) -> HparamFit:
    """Fit the optimal-LR and optimal-batch-size laws to a sweep (Step Law procedure; see the module docstring).

    Parameters
    ----------
    params, tokens, lr, batch_size, loss : array-like, shape (n,)
        N, D (tokens), peak LR, batch size in tokens and final loss of each run.
    flops
        Compute of each run (default 6ND); defines the cells and the variable of the ``deepseek`` form.
    form
        ``"steplaw"`` (lr* = a N^b D^c, B* = d D^e) or ``"deepseek"`` (lr* = a C^b, B* = d C^e).
    tol
        Relative loss tolerance: runs with loss <= best * (1 + tol) in their cell are near-optimal (0.25%).
    bootstrap, seed
        Bootstrap refits over the kept runs for the intervals (0 for none), and the seed of every draw.
    window, cell_bootstrap
        Relative loss window of the per-cell quadratic and its bootstrap size.
    level
        Level of the reported coefficient intervals (0.95).

    Raises
    ------
    FitInputError
        Unknown form, bad tolerance, too few cells, cells whose (log N, log D) are collinear, or LR that never
        varies within a cell.
    """
    if form not in FORMS:
        raise FitInputError(f"unknown form {form!r}; use one of {', '.join(FORMS)}.", value=form)
    if not 0 <= tol < 0.5:
        raise FitInputError(f"tolerance {tol} must be a fraction in [0, 0.5), e.g. 0.0025 for 0.25%.", value=tol)
    N, D, LR, BS, L = (np.asarray(v, float).ravel() for v in (params, tokens, lr, batch_size, loss))
    C = 6.0 * N * D if flops is None else np.asarray(flops, float).ravel()
    for name, v in (("params", N), ("tokens", D), ("lr", LR), ("loss", L), ("flops", C)):
        if v.shape != N.shape or not np.all(np.isfinite(v)) or np.any(v <= 0):
            raise FitInputError(f"'{name}' must be positive and finite on every run.", column=name)
    has_bs = np.all(np.isfinite(BS)) and np.all(BS > 0)
    # ---- cells: (N, D) pairs for steplaw; compute budgets (to 0.1%) for deepseek
    if form == "steplaw":
        keys = np.stack([np.round(np.log(N), 6), np.round(np.log(D), 6)], axis=1)
    else:
        keys = np.round(np.log(C), 3)[:, None]
    _, cell_of = np.unique(keys, axis=0, return_inverse=True)
    cell_of = cell_of.ravel()
    n_cells = int(cell_of.max()) + 1
    rng = np.random.default_rng(seed)
    kept = np.zeros(N.size, bool)
    messages: list[str] = []
    cells: list[dict[str, Any]] = []
    for k in range(n_cells):
        idx = np.flatnonzero(cell_of == k)
        best = idx[np.argmin(L[idx])]
        near = idx[L[idx] <= L[best] * (1 + tol)]
        kept[near] = True
        cell = {"params": float(np.median(N[idx])), "tokens": float(np.median(D[idx])),
                "flops": float(np.median(C[idx])), "n_runs": int(idx.size), "n_kept": int(near.size),
                "best_loss": float(L[best]), "best_lr": float(LR[best]),
                "best_batch_size": float(BS[best]) if has_bs else float("nan")}
        win = idx[L[idx] <= L[best] * (1 + window)]
        if has_bs:
            cell.update(quadratic(LR[win], BS[win], L[win], rng, cell_bootstrap, level))
        else:
            cell.update(quadratic(LR[win], np.ones(win.size), L[win], rng, cell_bootstrap, level))
        cells.append(cell)
    if n_cells < 3 and form == "steplaw" or n_cells < 2:
        raise FitInputError(f"only {n_cells} cell(s) of distinct {'(N, D)' if form == 'steplaw' else 'compute'}; "
                            f"the {form} law needs at least {3 if form == 'steplaw' else 2}. Add sweeps at other "
                            "sizes.")
    cell_lr_varies = [np.unique(LR[cell_of == k]).size > 1 for k in range(n_cells)]
    if not any(cell_lr_varies):
        raise FitInputError("the learning rate never varies within a cell, so no optimum can be located. Sweep "
                            "the LR at each size.", column="lr")
    # ---- the laws on the kept runs
    logs = {"N": np.log(N), "D": np.log(D), "C": np.log(C)}
    names, bnames = FORMS[form]["lr"], FORMS[form]["batch_size"]
    cell_logs = {"N": np.log([c["params"] for c in cells]), "D": np.log([c["tokens"] for c in cells]),
                 "C": np.log([c["flops"] for c in cells])}
    if np.linalg.matrix_rank(_design(cell_logs, names, np.arange(n_cells))) < 1 + len(names):
        raise FitInputError("the cells' log N and log D are collinear (e.g. one tokens-per-parameter ratio), so "
                            "the N and D exponents cannot be separated. Add cells off that line, or use "
                            "--form deepseek.")
    ki = np.flatnonzero(kept)
    draws = [rng.integers(0, ki.size, ki.size) for _ in range(bootstrap)]
    lr_law = _power_law(_design(logs, names, ki), np.log(LR[ki]), names, draws, level)
    bs_law = None
    fit_bs = has_bs and any(np.unique(BS[cell_of == k]).size > 1 for k in range(n_cells))
    if fit_bs:
        bs_law = _power_law(_design(logs, bnames, ki), np.log(BS[ki]), bnames, draws, level)
    else:
        messages.append("batch size does not vary within any cell (or is missing): no batch-size law.")
    missing = [c["quad_reason"] for c in cells if c.get("quad_reason")]
    if missing:
        counts = ", ".join(f"{r} ({missing.count(r)})" for r in dict.fromkeys(missing))
        messages.append(f"no cell quadratic optimum ('-') in {len(missing)} of {len(cells)} cells: {counts}. Sweep "
                        "past the best run's learning rate and batch size so each cell brackets its optimum.")
    notes = _span_notes(form, N, D)
    for n in notes:
        messages.append(n.message)
        warnings.warn(f"hparams: {n.message}", n.warning, stacklevel=2)
    if bootstrap:
        messages.append(f"intervals: bootstrap over the {ki.size} kept runs, {bootstrap} refits, seed {seed}; "
                        f"{int(level * 100)}% percentile intervals.")
    holdout = leave_one_cell_out(logs, cell_of, kept, LR, BS if fit_bs else None, names, bnames, cells)
    out_cells = [_with_law(c, np.flatnonzero(cell_of == k), lr_law, bs_law, LR, BS, L) for k, c in enumerate(cells)]
    rng_ = {"params": (float(N.min()), float(N.max())), "tokens": (float(D.min()), float(D.max())),
            "flops": (float(C.min()), float(C.max()))}
    return HparamFit(form=form, lr=lr_law, batch_size=bs_law, tol=tol, n_runs=int(N.size),
                     n_runs_used=int(ki.size), cells=tuple(out_cells), range=rng_, seed=seed,
                     messages=tuple(messages), notes=tuple(notes), holdout=holdout)


def _design(logs: dict[str, np.ndarray], names: tuple[str, ...], rows: np.ndarray) -> np.ndarray:
    """Columns 1, ln x_1, ... for ``rows``: the least-squares design of a power law in ``names``, shape (k, 1+m)."""
    return np.stack([np.ones(rows.size)] + [logs[n][rows] for n in names], axis=1)


def _with_law(c: dict[str, Any], idx: np.ndarray, lr_law: PowerLaw, bs_law: PowerLaw | None, LR: np.ndarray,
              BS: np.ndarray, L: np.ndarray) -> CellOptimum:
    """The cell with the law's optimum, the loss of the run nearest to it, and the cell quadratic there."""
    x = {"N": c["params"], "D": c["tokens"], "C": c["flops"]}
    c["law_lr"] = lr_law(**x)
    dist = np.log(LR[idx] / c["law_lr"]) ** 2
    if bs_law is not None:
        c["law_batch_size"] = bs_law(**x)
        dist = dist + np.log(BS[idx] / c["law_batch_size"]) ** 2
    c["nearest_loss"] = float(L[idx[np.argmin(dist)]])
    cell = CellOptimum(**c)
    if cell.quad_dims == 2 and bs_law is not None:
        cell = CellOptimum(**{**c, "loss_at_law": float(cell.quad_eval(c["law_lr"], c["law_batch_size"]))})
    return cell


def _span_notes(form: str, N: np.ndarray, D: np.ndarray) -> list[Note]:
    """One line per variable of the form that spans less than :data:`MIN_SPAN` (its exponent is not identifiable)."""
    out = []
    used = set(FORMS[form]["lr"]) | set(FORMS[form]["batch_size"])
    for var, v, what in (("N", N, "model sizes"), ("D", D, "token counts")):
        span = float(v.max() / v.min())
        if var in used and span < MIN_SPAN:
            fix = (" For a mixture-of-experts grid pass --params-column with the active parameters." if var == "N"
                   else "")
            out.append(Note(
                "ill_conditioned", f"{var} spans only {span:.4g}x ({v.min():.4g} .. {v.max():.4g}), so its exponent "
                f"is not identifiable; add cells at {what} at least {MIN_SPAN:g}x apart.{fix}", IllConditionedWarning,
                {"problem": "span", "variable": var, "span": span}))
    return out


def leave_one_cell_out(logs: dict[str, np.ndarray], cell_of: np.ndarray, kept: np.ndarray, LR: np.ndarray,
                       BS: np.ndarray | None, names: tuple[str, ...], bnames: tuple[str, ...],
                       cells: list[dict[str, Any]]) -> dict[str, Any]:
    """For each cell: refit the laws on the other cells' kept runs, predict this cell's lr* and B*, and compare with
    its best run. Returns the medians of |log2(predicted / best)| (``lr``, ``batch_size``), the count, and per cell
    errors (NaN where the other cells cannot identify the law)."""
    err_lr, err_bs = [], []
    for k, c in enumerate(cells):
        train = np.flatnonzero(kept & (cell_of != k))
        at = {n: np.log(c[{"N": "params", "D": "tokens", "C": "flops"}[n]]) for n in ("N", "D", "C")}
        for law_names, y, best, out in ((names, LR, c["best_lr"], err_lr), (bnames, BS, c["best_batch_size"], err_bs)):
            if y is None:
                continue
            X = _design(logs, law_names, train)
            if np.linalg.matrix_rank(X) < X.shape[1]:
                out.append(float("nan"))
                continue
            coef = _lstsq_law(X, np.log(y[train]))
            pred = coef[0] + sum(coef[j] * at[n] for j, n in enumerate(law_names, 1))
            out.append(float(abs(pred - np.log(best)) / np.log(2)))
    med = {name: (float(np.nanmedian(e)) if np.isfinite(e).any() else None)
           for name, e in (("lr", np.array(err_lr)), ("batch_size", np.array(err_bs)))}
    return {**med, "n_cells": int(np.isfinite(err_lr).sum()), "cells_lr": err_lr, "cells_batch_size": err_bs}


def fit_table(table: Any, **kwargs: Any) -> HparamFit:
    """:func:`fit_hparams` on a :class:`scalefit.tables.Table` (which must give lr and batch size)."""
    table.require("params", "tokens", "loss", "lr", purpose="the hyperparameter law")
    return fit_hparams(table.params, table.tokens, table.lr, table.batch_size, table.loss, flops=table.flops,
                       **kwargs)
