"""Optimal peak learning rate and batch size as power laws of model size, data and compute.

Two forms:

* ``steplaw`` (Li et al. 2025, "Predictable Scale: Part I -- Optimal Hyperparameter Scaling Law in Large
  Language Model Pretraining", arXiv 2503.04715, eq. 1-2): ``lr* = a N^b D^c`` and ``B* = d D^e`` (B in tokens).
* ``deepseek`` (DeepSeek LLM, arXiv 2401.02954, sec. 3.1): ``lr* = a C^b`` and ``B* = d C^e``.

The fit follows the Step Law paper: runs are grouped into cells (one (N, D) pair for ``steplaw``; one compute
budget C for ``deepseek``, as DeepSeek groups by budget); in each cell every run whose loss is within ``tol``
(default 0.25%) of the cell's best loss is kept as near-optimal; the logs of lr (and of B) of all kept runs are
regressed on log N and log D (or log C) by least squares. Intervals: a seeded bootstrap over the kept runs
(resampled with replacement, pooled over cells), percentile intervals on the coefficients and predictions.

Separately, each cell's optimum is located by a quadratic in (log lr, log B) fitted to the runs within
``window`` (default 3%) of the cell's best loss, with a bootstrap interval over those runs (1-D in log lr when
the cell has one batch size). The quadratic also gives the cell's loss at the law's predicted optimum.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scalefit.errors import ExtrapolationWarning, FitInputError

SCHEMA = "scalefit.hparams/1"
FORMS = ("steplaw", "deepseek")
CITATIONS = {
    "steplaw": "Li et al. 2025, Step Law (arXiv 2503.04715)",
    "deepseek": "DeepSeek-AI 2024, DeepSeek LLM (arXiv 2401.02954)",
}


@dataclass(frozen=True)
class PowerLaw:
    """``value = coef * prod(x_k ** exponents[k])``.

    ``ci`` holds the bootstrap percentile interval (``ci_level``) of ``coef`` and of each exponent;
    ``bootstrap`` has shape (n_boot, 1 + k): ln coef then the exponents in ``exponents`` order.
    """

    coef: float
    exponents: dict[str, float]
    ci: dict[str, tuple[float, float]]
    bootstrap: np.ndarray
    ci_level: float = 0.95

    def __call__(self, **x: float) -> float:
        return float(self.coef * np.prod([x[k] ** e for k, e in self.exponents.items()]))

    def interval(self, level: float = 0.9, **x: float) -> tuple[float, float]:
        """Central bootstrap interval of the prediction at ``x`` (NaN without a bootstrap)."""
        if self.bootstrap.shape[0] < 2:
            return float("nan"), float("nan")
        logs = np.array([np.log(x[k]) for k in self.exponents])  # (k,)
        draws = self.bootstrap[:, 0] + self.bootstrap[:, 1:] @ logs  # (n_boot,)
        q = (1 - level) / 2
        return float(np.exp(np.quantile(draws, q))), float(np.exp(np.quantile(draws, 1 - q)))

    def formula(self, name: str) -> str:
        terms = " ".join(f"{k}^{e:.3f}" for k, e in self.exponents.items())
        return f"{name} = {self.coef:.4g} {terms}"

    def to_dict(self) -> dict[str, Any]:
        return {"coef": self.coef, "exponents": dict(self.exponents),
                "ci": {k: list(v) for k, v in self.ci.items()}, "ci_level": self.ci_level,
                "bootstrap": self.bootstrap.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PowerLaw:
        exps = {str(k): float(v) for k, v in d["exponents"].items()}
        return cls(coef=float(d["coef"]), exponents=exps,
                   ci={k: (float(v[0]), float(v[1])) for k, v in d["ci"].items()},
                   bootstrap=np.array(d.get("bootstrap") or [], float).reshape(-1, 1 + len(exps)),
                   ci_level=float(d.get("ci_level", 0.95)))


@dataclass(frozen=True)
class CellOptimum:
    """One cell: its runs, the best run, and the quadratic optimum with a bootstrap interval (NaN if none)."""

    params: float
    tokens: float
    flops: float
    n_runs: int
    n_kept: int
    best_loss: float
    best_lr: float
    best_batch_size: float
    quad_lr: float = float("nan")
    quad_lr_ci: tuple[float, float] = (float("nan"), float("nan"))
    quad_batch_size: float = float("nan")
    quad_batch_size_ci: tuple[float, float] = (float("nan"), float("nan"))
    quad_loss: float = float("nan")
    quad_dims: int = 0  # 0: no usable quadratic; 1: in log lr; 2: in (log lr, log B)
    quad_coef: tuple[float, ...] = ()  # loss = c0 + c1 x + c2 y + c3 x^2 + c4 x y + c5 y^2, x = ln lr, y = ln B
    law_lr: float = float("nan")
    law_batch_size: float = float("nan")
    loss_at_law: float = float("nan")  # the cell's quadratic evaluated at the law's optimum
    nearest_loss: float = float("nan")  # loss of the run nearest (in log lr, log B) to the law's optimum
    quad_reason: str = ""  # why the cell has no quadratic optimum ("" when it has one)

    def quad_eval(self, lr: Any, batch_size: Any) -> np.ndarray:
        """The cell's quadratic loss surface at (lr, batch size); NaN without one."""
        if not self.quad_coef:
            return np.full(np.broadcast(np.asarray(lr), np.asarray(batch_size)).shape, np.nan)
        c = self.quad_coef
        x, y = np.log(lr), np.log(batch_size)
        return c[0] + c[1] * x + c[2] * y + c[3] * x * x + c[4] * x * y + c[5] * y * y


@dataclass(frozen=True, eq=False)
class HparamFit:
    """Fitted hyperparameter laws: ``lr`` and ``batch_size`` (tokens) power laws, cells, data range."""

    form: str
    lr: PowerLaw
    batch_size: PowerLaw | None
    tol: float
    n_runs: int
    n_runs_used: int
    cells: tuple[CellOptimum, ...]
    range: dict[str, tuple[float, float]]
    seed: int = 0
    messages: tuple[str, ...] = field(default_factory=tuple)

    @property
    def variables(self) -> tuple[str, ...]:
        return ("N", "D") if self.form == "steplaw" else ("C",)

    def predict(self, N: float | None = None, D: float | None = None, C: float | None = None,
                interval: float = 0.9, warn: bool = True) -> dict[str, Any]:
        """Optimal peak LR and batch size (tokens) with bootstrap intervals, and the extrapolated quantities.

        ``steplaw`` needs N and D (or one of them with C = 6ND); ``deepseek`` needs C (or N and D).
        """
        if N is not None and D is not None and C is None:
            C = 6.0 * N * D
        elif C is not None and N is not None and D is None:
            D = C / (6.0 * N)
        elif C is not None and D is not None and N is None:
            N = C / (6.0 * D)
        if self.form == "steplaw" and (N is None or D is None):
            raise FitInputError("the steplaw form predicts from N and D: pass --params and --tokens (or one of them "
                                "with --flops).")
        if self.form == "deepseek" and C is None:
            raise FitInputError("the deepseek form predicts from compute: pass --flops (or --params and --tokens).")
        x = {"N": N, "D": D, "C": C}
        out: dict[str, Any] = {"lr": self.lr(**x)}
        out["lr_lower"], out["lr_upper"] = self.lr.interval(interval, **x)
        if self.batch_size is not None:
            out["batch_size"] = self.batch_size(**x)
            out["batch_size_lower"], out["batch_size_upper"] = self.batch_size.interval(interval, **x)
        else:
            out["batch_size"] = out["batch_size_lower"] = out["batch_size_upper"] = float("nan")
        names = {"N": "params", "D": "tokens", "C": "flops"}
        extrap = []
        for var in self.variables:
            lo, hi = self.range[names[var]]
            v = x[var]
            if v is not None and not lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9):
                extrap.append(names[var])
                if warn:
                    warnings.warn(f"hyperparameter law: {names[var]} = {v:.3g} lies outside the fitted range "
                                  f"[{lo:.3g}, {hi:.3g}]; lr and batch size are extrapolated.",
                                  ExtrapolationWarning, stacklevel=2)
        out["extrapolated"] = extrap
        return out

    def summary(self) -> dict[str, Any]:
        """Plain-Python dict: the ``--json`` output of ``scalefit hparams``."""

        def law(p: PowerLaw | None) -> Any:
            if p is None:
                return None
            return {"coef": p.coef, "exponents": dict(p.exponents), "ci": {k: list(v) for k, v in p.ci.items()},
                    "ci_level": p.ci_level}

        return {"form": self.form, "lr": law(self.lr), "batch_size": law(self.batch_size),
                "n_runs_used": self.n_runs_used, "n_runs": self.n_runs, "n_cells": len(self.cells), "tol": self.tol,
                "n_bootstrap": int(self.lr.bootstrap.shape[0]),
                "range": {k: list(v) for k, v in self.range.items()}}

    def report(self) -> str:
        """Text report: the laws with intervals, the range, then the cells."""
        lines = [f"{CITATIONS[self.form]}: {self.n_runs_used} of {self.n_runs} runs within {self.tol:.2%} of their "
                 f"cell's best loss, {len(self.cells)} cells"]
        for name, p in (("lr", self.lr), ("B_tokens", self.batch_size)):
            if p is None:
                lines.append(f"  {name}: not fitted (batch size does not vary within cells)")
                continue
            lines.append("  " + p.formula(name))
            for k, (lo, hi) in p.ci.items():
                lines.append(f"    {k:<6} {int(p.ci_level * 100)}% CI [{lo:.4g}, {hi:.4g}]")
        for k, (lo, hi) in self.range.items():
            lines.append(f"  fitted {k}: {lo:.3g} .. {hi:.3g}")
        lines.extend(f"  note: {m}" for m in self.messages)
        return "\n".join(lines)

    def to_json(self, path: Any) -> None:
        """Write ``scalefit.hparams/1`` JSON (bootstrap draws included, so intervals survive the round trip)."""
        from dataclasses import asdict

        from scalefit.jsonio import write_json

        write_json(path, {
            "schema": SCHEMA, "citation": CITATIONS[self.form], **self.summary(),
            "lr": self.lr.to_dict(), "batch_size": None if self.batch_size is None else self.batch_size.to_dict(),
            "seed": self.seed, "messages": list(self.messages), "cells": [asdict(c) for c in self.cells]})

    @classmethod
    def from_json(cls, path: Any) -> HparamFit:
        """Read a file written by :meth:`to_json`."""
        from scalefit.errors import ResultFileError
        from scalefit.jsonio import read_json

        d = read_json(path, schema="scalefit.hparams")
        try:
            cells = []
            for c in d.get("cells", []):
                c = {k: (float("nan") if v is None else v) for k, v in c.items()}
                for k in ("quad_lr_ci", "quad_batch_size_ci"):
                    c[k] = tuple(float("nan") if v is None else float(v) for v in c[k])
                c["quad_coef"] = tuple(c.get("quad_coef") or ())
                cells.append(CellOptimum(**c))
            return cls(form=str(d["form"]), lr=PowerLaw.from_dict(d["lr"]),
                       batch_size=None if d.get("batch_size") is None else PowerLaw.from_dict(d["batch_size"]),
                       tol=float(d["tol"]), n_runs=int(d["n_runs"]), n_runs_used=int(d["n_runs_used"]),
                       cells=tuple(cells), range={k: (float(v[0]), float(v[1])) for k, v in d["range"].items()},
                       seed=int(d.get("seed", 0)), messages=tuple(d.get("messages", ())))
        except (KeyError, TypeError, ValueError) as exc:
            raise ResultFileError(f"malformed hparams result ({exc!r}). Re-run scalefit hparams --out.",
                                  path=str(path)) from None


# ---------------------------------------------------------------------------------------------------------------


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
        ci["coef"] = (float(np.exp(lo[0])), float(np.exp(hi[0])))
        for j, k in enumerate(names, start=1):
            ci[k] = (float(lo[j]), float(hi[j]))
    else:
        ci = {k: (float("nan"), float("nan")) for k in ("coef", *names)}
    return PowerLaw(coef=float(np.exp(coef[0])), exponents={k: float(coef[j]) for j, k in enumerate(names, 1)},
                    ci=ci, bootstrap=boot, ci_level=level)


def _quadratic(lr: np.ndarray, bs: np.ndarray, loss: np.ndarray, rng: np.random.Generator, n_boot: int,
               level: float) -> dict[str, Any]:
    """Quadratic in (ln lr, ln B) (or ln lr alone when B has < 3 values) through the points; its minimum."""
    x, y = np.log(lr), np.log(bs)
    two_d = np.unique(np.round(y, 9)).size >= 3 and lr.size >= 8
    if np.unique(np.round(x, 9)).size < 3:
        return {"quad_reason": "fewer than 3 learning rates near the best run"}
    if two_d:
        M = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)  # (n, 6)
    else:
        M = np.stack([np.ones_like(x), x, x * x], axis=1)  # (n, 3)

    def minimum(idx: np.ndarray) -> tuple[float, float, float, np.ndarray] | None:
        c, *_ = np.linalg.lstsq(M[idx], loss[idx], rcond=None)
        if two_d:
            H = np.array([[2 * c[3], c[4]], [c[4], 2 * c[5]]])
            if np.linalg.eigvalsh(H)[0] <= 0:
                return None
            xs, ys = np.linalg.solve(H, -c[1:3])
            val = c[0] + c[1] * xs + c[2] * ys + c[3] * xs * xs + c[4] * xs * ys + c[5] * ys * ys
            return xs, ys, val, c
        if c[2] <= 0:
            return None
        xs = -c[1] / (2 * c[2])
        return xs, float("nan"), c[0] + c[1] * xs + c[2] * xs * xs, c

    full = minimum(np.arange(x.size))
    if full is None:
        return {"quad_reason": "the loss near the best run is not convex in the sampled grid"}
    xs, ys, val, c = full
    # an optimum beyond the sampled grid is not located by the data
    if not (x.min() <= xs <= x.max()):
        return {"quad_reason": "its optimum lies beyond the sampled learning rates"}
    if two_d and not (y.min() <= ys <= y.max()):
        return {"quad_reason": "its optimum lies beyond the sampled batch sizes"}
    draws = []
    for _ in range(n_boot):
        r = minimum(rng.integers(0, x.size, x.size))
        if r is not None:
            draws.append(r[:2])
    q = (1 - level) / 2
    out: dict[str, Any] = {"quad_lr": float(np.exp(xs)), "quad_loss": float(val), "quad_dims": 2 if two_d else 1}
    if two_d:
        out["quad_batch_size"] = float(np.exp(ys))
        out["quad_coef"] = tuple(map(float, c))
    else:
        out["quad_coef"] = ()
    if len(draws) >= 10:
        d = np.array(draws)
        out["quad_lr_ci"] = (float(np.exp(np.quantile(d[:, 0], q))), float(np.exp(np.quantile(d[:, 0], 1 - q))))
        if two_d:
            out["quad_batch_size_ci"] = (float(np.exp(np.quantile(d[:, 1], q))),
                                         float(np.exp(np.quantile(d[:, 1], 1 - q))))
    return out


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
            cell.update(_quadratic(LR[win], BS[win], L[win], rng, cell_bootstrap, level))
        else:
            cell.update(_quadratic(LR[win], np.ones(win.size), L[win], rng, cell_bootstrap, level))
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
    ki = np.flatnonzero(kept)
    if form == "steplaw":
        names = ("N", "D")
        X = np.stack([np.ones(ki.size), np.log(N[ki]), np.log(D[ki])], axis=1)  # (k, 3)
        Xb = X[:, [0, 2]]
        bnames: tuple[str, ...] = ("D",)
        cellX = np.stack([np.ones(n_cells), np.log([c["params"] for c in cells]),
                          np.log([c["tokens"] for c in cells])], axis=1)
        if np.linalg.matrix_rank(cellX) < 3:
            raise FitInputError("the cells' log N and log D are collinear (e.g. one tokens-per-parameter ratio), so "
                                "the N and D exponents cannot be separated. Add cells off that line, or use "
                                "--form deepseek.")
    else:
        names = bnames = ("C",)
        X = np.stack([np.ones(ki.size), np.log(C[ki])], axis=1)  # (k, 2)
        Xb = X
    draws = [rng.integers(0, ki.size, ki.size) for _ in range(bootstrap)]
    lr_law = _power_law(X, np.log(LR[ki]), names, draws, level)
    bs_law = None
    if has_bs and any(np.unique(BS[cell_of == k]).size > 1 for k in range(n_cells)):
        bs_law = _power_law(Xb, np.log(BS[ki]), bnames, draws, level)
    else:
        messages.append("batch size does not vary within any cell (or is missing): no batch-size law.")
    missing = [c["quad_reason"] for c in cells if c.get("quad_reason")]
    if missing:
        counts = ", ".join(f"{r} ({missing.count(r)})" for r in dict.fromkeys(missing))
        messages.append(f"no cell quadratic optimum ('-') in {len(missing)} of {len(cells)} cells: {counts}. Sweep "
                        "past the best run's learning rate and batch size so each cell brackets its optimum.")
    if bootstrap:
        messages.append(f"intervals: bootstrap over the {ki.size} kept runs, {bootstrap} refits, seed {seed}; "
                        f"{int(level * 100)}% percentile intervals.")
    # ---- the law's optimum in each cell, and the loss there
    out_cells = []
    for k, c in enumerate(cells):
        x = {"N": c["params"], "D": c["tokens"], "C": c["flops"]}
        c["law_lr"] = lr_law(**x)
        idx = np.flatnonzero(cell_of == k)
        if bs_law is not None:
            c["law_batch_size"] = bs_law(**x)
            dist = np.log(LR[idx] / c["law_lr"]) ** 2 + np.log(BS[idx] / c["law_batch_size"]) ** 2
        else:
            dist = np.log(LR[idx] / c["law_lr"]) ** 2
        c["nearest_loss"] = float(L[idx[np.argmin(dist)]])
        cell = CellOptimum(**c)
        if cell.quad_dims == 2 and bs_law is not None:
            cell = CellOptimum(**{**c, "loss_at_law": float(cell.quad_eval(c["law_lr"], c["law_batch_size"]))})
        out_cells.append(cell)
    rng_ = {"params": (float(N.min()), float(N.max())), "tokens": (float(D.min()), float(D.max())),
            "flops": (float(C.min()), float(C.max()))}
    return HparamFit(form=form, lr=lr_law, batch_size=bs_law, tol=tol, n_runs=int(N.size),
                     n_runs_used=int(ki.size), cells=tuple(out_cells), range=rng_, seed=seed,
                     messages=tuple(messages))


def fit_table(table: Any, **kwargs: Any) -> HparamFit:
    """:func:`fit_hparams` on a :class:`scalefit.tables.Table` (which must give lr and batch size)."""
    table.require("params", "tokens", "loss", "lr", purpose="the hyperparameter law")
    return fit_hparams(table.params, table.tokens, table.lr, table.batch_size, table.loss, flops=table.flops,
                       **kwargs)
