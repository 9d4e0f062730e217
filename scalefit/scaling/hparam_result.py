"""A fitted pair of hyperparameter laws (optimal peak LR and batch size): intervals, predictions at a new (N, D),
the sweep's cells, the leave-one-cell-out error, a report and JSON (``"schema": "scalefit.hparams/1"``).

It follows the :class:`~scalefit.results.FitResult` conventions: a :class:`~scalefit.results.FitStatus`,
:class:`~scalefit.results.ParamEstimate` per coefficient (stderr = bootstrap sd), ``messages`` and typed
``notes`` (:class:`~scalefit.results.Note`), ``summary()``, ``report()``, ``to_json()`` / ``from_json()``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scalefit.errors import ExtrapolationWarning, FitInputError
from scalefit.laws.hyperparams import CITATIONS, PowerLaw
from scalefit.results import FitStatus, Note, ParamEstimate
from scalefit.scaling.hparam_cells import CellOptimum

SCHEMA = "scalefit.hparams/1"


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
    notes: tuple[Note, ...] = ()
    holdout: dict[str, Any] = field(default_factory=dict)  # leave-one-cell-out errors (see ``leave_one_cell_out``)

    @property
    def status(self) -> FitStatus:
        """NO_COVARIANCE when an exponent is not identifiable (N or D spans less than 2x), else CONVERGED."""
        return FitStatus.NO_COVARIANCE if any(n.data.get("problem") == "span" for n in self.notes) \
            else FitStatus.CONVERGED

    @property
    def params(self) -> dict[str, ParamEstimate]:
        """``lr.coef``, ``lr.N``, ... ``batch_size.D`` as :class:`~scalefit.results.ParamEstimate` (stderr: bootstrap
        sd; unbounded)."""
        out = {}
        for name, law in (("lr", self.lr), ("batch_size", self.batch_size)):
            if law is None:
                continue
            sd = law.stderr()
            out[f"{name}.coef"] = ParamEstimate(law.coef, sd["coef"], 0.0, np.inf, linear=True)
            for k, e in law.exponents.items():
                out[f"{name}.{k}"] = ParamEstimate(e, sd[k], -np.inf, np.inf)
        return out

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
                "range": {k: list(v) for k, v in self.range.items()}, "status": self.status.value,
                "holdout": self.holdout_summary(), "notes": [n.to_dict() for n in self.notes]}

    def holdout_summary(self) -> dict[str, Any]:
        """The leave-one-cell-out medians (``lr``, ``batch_size``: median |log2(predicted / best run)|) and count."""
        return {k: self.holdout.get(k) for k in ("lr", "batch_size", "n_cells")}

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
        h = self.holdout
        if h.get("n_cells"):
            bs = "-" if h.get("batch_size") is None else f"{h['batch_size']:.2f}"
            lines.append(f"  leave-one-cell-out: median |log2(predicted / best run)| lr {h['lr']:.2f}, batch size {bs} "
                         f"({h['n_cells']} cells; 1.00 = a factor 2)")
        lines.extend(f"  note: {m}" for m in self.messages)
        return "\n".join(lines)

    def to_json(self, path: Any) -> None:
        """Write ``scalefit.hparams/1`` JSON (bootstrap draws included, so intervals survive the round trip)."""
        from dataclasses import asdict

        from scalefit.jsonio import write_json

        write_json(path, {
            "schema": SCHEMA, "citation": CITATIONS[self.form], **self.summary(),
            "lr": self.lr.to_dict(), "batch_size": None if self.batch_size is None else self.batch_size.to_dict(),
            "seed": self.seed, "messages": list(self.messages), "cells": [asdict(c) for c in self.cells],
            "holdout": self.holdout})

    @classmethod
    def from_json(cls, path: Any) -> HparamFit:
        """Read a file written by :meth:`to_json`."""
        from scalefit.errors import ResultFileError
        from scalefit.laws.hyperparams import FORMS
        from scalefit.results.scaling_files import load_hparams

        d = load_hparams(path, FORMS)
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
                       seed=int(d.get("seed", 0)), messages=tuple(d.get("messages", ())),
                       notes=tuple(Note.from_dict(x) for x in d.get("notes", ())),
                       holdout=dict(d.get("holdout") or {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise ResultFileError(f"malformed hparams result ({exc!r}). Re-run scalefit hparams --out.",
                                  path=str(path)) from None

