"""A fitted loss law ``L(N, D)``: values with bootstrap intervals, predictions, the compute-optimal allocation,
a report and JSON (``"schema": "scalefit.scaling/1"``).

It follows the :class:`~scalefit.results.FitResult` conventions: a :class:`~scalefit.results.FitStatus`,
:class:`~scalefit.results.ParamEstimate` per parameter (stderr = bootstrap sd), ``messages`` in words and typed
``notes`` (:class:`~scalefit.results.Note`), ``summary()`` of plain types, ``report()``,
``to_json()`` / ``from_json()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scalefit.laws.scaling_base import ScalingLaw
from scalefit.results import FitStatus, Note, ParamEstimate
from scalefit.scaling.extrapolation import ExtrapolationError, distance
from scalefit.scaling.registry import get_loss_law
from scalefit.scaling.solve import HUBER_DELTA

SCHEMA = "scalefit.scaling/1"


@dataclass(frozen=True, eq=False)
class ScalingFit:
    """A fitted loss law with bootstrap intervals and the range of the data it saw.

    ``values`` maps each parameter of the law to its estimate; ``stderr`` to its bootstrap standard deviation
    (NaN without a bootstrap); ``bootstrap`` has shape (n_boot, P) in the law's ``names`` order. ``range`` gives
    [min, max] of params, tokens and flops (C = 6ND unless the table gave a flops column). ``residuals`` are the
    fit's log residuals ``log Lhat - log L``, one per run (the run-to-run noise of predictions).
    """

    values: dict[str, float]
    stderr: dict[str, float]
    bootstrap: np.ndarray
    objective: float
    n_points: int
    range: dict[str, tuple[float, float]]
    law: str = "chinchilla"
    method: str = "vp"
    n_starts: int = 0
    seed: int = 0
    seconds: float = 0.0
    messages: tuple[str, ...] = field(default_factory=tuple)
    residuals: tuple[float, ...] = ()
    notes: tuple[Note, ...] = ()
    extrapolation: ExtrapolationError | None = None

    @property
    def spec(self) -> ScalingLaw:
        """The law object (from the registry, by name)."""
        return get_loss_law(self.law)

    @property
    def names(self) -> tuple[str, ...]:
        return self.spec.names

    @property
    def vector(self) -> np.ndarray:
        """The values in ``names`` order."""
        return np.array([self.values[k] for k in self.names])

    @property
    def status(self) -> FitStatus:
        """AT_BOUND when a parameter sits on a bound (E at 0 included), else CONVERGED."""
        return FitStatus.AT_BOUND if any(n.kind == "at_bound" for n in self.notes) else FitStatus.CONVERGED

    @property
    def params(self) -> dict[str, ParamEstimate]:
        """Each parameter as a :class:`~scalefit.results.ParamEstimate` (stderr: bootstrap sd)."""
        bound = {d.data.get("parameter"): (-1 if d.data.get("bound") == self.spec.spec(d.data["parameter"]).lower
                                           else 1) for d in self.notes if d.kind == "at_bound"}
        return {p.name: ParamEstimate(self.values[p.name], self.stderr.get(p.name, float("nan")), p.lower, p.upper,
                                      at_bound=bound.get(p.name, 0), linear=p.linear) for p in self.spec.params}

    # ---- prediction
    def predict(self, N: Any, D: Any) -> np.ndarray:
        """Loss at N parameters and D tokens (nats/token)."""
        return self.spec.loss(self.vector, N, D)

    def loss_interval(self, N: float, D: float, interval: float = 0.9) -> tuple[float, float, float]:
        """Loss at (N, D) and the central ``interval`` of the law's value over the bootstrap (the band of the mean
        loss; NaN bounds without a bootstrap). :meth:`prediction` adds the run-to-run noise."""
        point = float(self.predict(N, D))
        if self.bootstrap.shape[0] < 2:
            return point, float("nan"), float("nan")
        draws = self.spec.loss_rows(self.bootstrap, N, D)  # (n_boot,)
        q = (1 - interval) / 2
        return point, float(np.quantile(draws, q)), float(np.quantile(draws, 1 - q))

    def prediction(self, N: float, D: float, interval: float = 0.9) -> tuple[float, float, float]:
        """Loss of a new run at (N, D) with a central ``interval`` (NaN bounds without a bootstrap).

        Each bootstrap draw of the law (parameter uncertainty, bootstrap over runs) is multiplied by a fitted
        run's residual (the noise of one run) and, beyond the fitted range, by the law's own error measured by
        forward folds over sizes (``exp(sigma d z)``, :mod:`scalefit.scaling.extrapolation`). All draws are
        seeded.
        """
        point = float(self.predict(N, D))
        if self.bootstrap.shape[0] < 2:
            return point, float("nan"), float("nan")
        draws = self.spec.loss_rows(self.bootstrap, N, D)  # (n_boot,)
        rng = np.random.default_rng(self.seed)
        res = np.asarray(self.residuals, float)
        if res.size:  # observed = predicted * exp(-residual) of a fitted run
            draws = draws * np.exp(-res[rng.integers(0, res.size, draws.size)])
        ext = self.extrapolation
        if ext is not None and np.isfinite(ext.sigma):
            draws = draws * np.exp(ext.sd(float(distance(N, D, self.range))) * rng.standard_normal(draws.size))
        q = (1 - interval) / 2
        return point, float(np.quantile(draws, q)), float(np.quantile(draws, 1 - q))

    def optimal(self, flops: float, interval: float = 0.9) -> dict[str, float]:
        """Compute-optimal N*, D* and loss at C = ``flops`` (C = 6ND), with bootstrap intervals.

        Returns a dict with ``params``, ``tokens``, ``loss`` and ``*_lower``/``*_upper`` for each.
        """
        spec = self.spec
        out: dict[str, float] = {}
        N, D = spec.allocate(self.vector[None], flops)
        out["params"], out["tokens"] = float(N[0]), float(D[0])
        out["loss"] = float(self.predict(N[0], D[0]))
        q = (1 - interval) / 2
        if self.bootstrap.shape[0] >= 2:
            Nb, Db = spec.allocate(self.bootstrap, flops)
            ok = np.isfinite(Nb)
            Lb = np.full(Nb.shape, np.nan)
            Lb[ok] = spec.loss_rows(self.bootstrap[ok], Nb[ok], Db[ok])
            for key, draws in (("params", Nb), ("tokens", Db), ("loss", Lb)):
                d = draws[np.isfinite(draws)]
                out[key + "_lower"] = float(np.quantile(d, q)) if d.size else float("nan")
                out[key + "_upper"] = float(np.quantile(d, 1 - q)) if d.size else float("nan")
        else:
            for key in ("params", "tokens", "loss"):
                out[key + "_lower"] = out[key + "_upper"] = float("nan")
        return out

    def optimal_exponents(self, interval: float = 0.9) -> dict[str, float]:
        """Exponents of N* ~ C^a and D* ~ C^b with bootstrap intervals (``a``, ``a_lower``, ... ``b_upper``)."""
        spec = self.spec
        a, b = spec.optimal_exponents(self.vector)
        out = {"a": a, "b": b}
        q = (1 - interval) / 2
        draws = np.array([spec.optimal_exponents(r) for r in self.bootstrap]).reshape(-1, 2)
        for j, key in enumerate(("a", "b")):
            d = draws[np.isfinite(draws[:, j]), j]
            out[key + "_lower"] = float(np.quantile(d, q)) if d.size >= 2 else float("nan")
            out[key + "_upper"] = float(np.quantile(d, 1 - q)) if d.size >= 2 else float("nan")
        return out

    def extrapolation_factors(self, **quantities: float | None) -> dict[str, float]:
        """For each of ``params``, ``tokens``, ``flops``: the factor by which the value
        lies outside the fitted range (1 inside it; 3 means 3x beyond the largest, or 3x below the smallest)."""
        rng = dict(self.range)
        out: dict[str, float] = {}
        for name, value in quantities.items():
            if value is None or name not in rng:
                continue
            lo, hi = rng[name]
            out[name] = float(max(value / hi, lo / value, 1.0))
        return out

    def extrapolated(self, **quantities: float | None) -> list[str]:
        """Names among ``params``, ``tokens``, ``flops`` whose value lies outside the fitted range."""
        return [k for k, f in self.extrapolation_factors(**quantities).items() if f > 1 + 1e-9]

    # ---- reporting and JSON
    def formula(self) -> str:
        """The law with its fitted values, e.g. ``L = 1.82 + 478/N^0.347 + 2.14e+03/D^0.367``."""
        v = self.values
        if self.law == "chinchilla":
            return (f"L = {v['E']:.4g} + {v['A']:.4g}/N^{v['alpha']:.4f} + {v['B']:.4g}/D^{v['beta']:.4f}")
        if self.law == "overtrain":
            return (f"L = {v['E']:.4g} + ({v['a']:.4g} M^{v['eta']:.4f} + {v['b']:.4g} M^-{v['eta']:.4f}) "
                    f"C^-{v['eta']:.4f}")
        return self.spec.formula + " with " + ", ".join(f"{k}={x:.4g}" for k, x in v.items())

    def summary(self) -> dict[str, Any]:
        """Plain-Python dict: the ``--json`` output of ``scalefit scaling``."""
        return {
            "law": self.law,
            **dict(self.values),
            "stderr": dict(self.stderr),
            "status": self.status.value,
            "seconds": self.seconds,
            "objective": self.objective,
            "n_points": self.n_points,
            "n_bootstrap": int(self.bootstrap.shape[0]),
            "range": {k: list(v) for k, v in self.range.items()},
            "method": self.method,
            "optimal_exponents": self.optimal_exponents(),
            "notes": [n.to_dict() for n in self.notes],
        }

    def report(self) -> str:
        """A short text report: the law, the status, each parameter with its bootstrap sd, the optimal split."""
        spec = self.spec
        lines = [f"{spec.formula}  ({spec.citation})",
                 f"  {self.n_points} runs, method {self.method}, {self.n_starts} starts, Huber delta {HUBER_DELTA} on "
                 f"log L, {self.seconds:.2f} s: {self.status.value}"]
        for k in spec.names:
            se = self.stderr.get(k, float("nan"))
            lines.append(f"  {k:<6} {self.values[k]:>12.5g}  +- {se:.3g}" if np.isfinite(se)
                         else f"  {k:<6} {self.values[k]:>12.5g}")
        e = self.optimal_exponents()
        ci = (f" [{e['a_lower']:.3f}, {e['a_upper']:.3f}]" if np.isfinite(e["a_lower"]) else "")
        lines.append(f"  N* ~ C^{e['a']:.3f}{ci}, D* ~ C^{e['b']:.3f}")
        if self.law == "overtrain":
            M = (self.values["b"] / self.values["a"]) ** (1 / (2 * self.values["eta"]))
            lines.append(f"  compute-optimal tokens per parameter M* = {M:.3g}; this form fixes N* ~ C^0.5 (for the "
                         "split itself: --method isoflop, or --law chinchilla)")
        if self.bootstrap.shape[0] < 2:
            lines.append("  note: no bootstrap: pass --bootstrap 100 to see whether the runs pin the law.")
        lines.extend(f"  note: {m}" for m in self.messages)
        return "\n".join(lines)

    def to_json(self, path: Any) -> None:
        """Write ``scalefit.scaling/1`` JSON (the bootstrap draws included, so intervals survive the round trip)."""
        from scalefit.jsonio import write_json

        write_json(path, {"schema": SCHEMA, "citation": self.spec.citation, **self.summary(),
                          "n_starts": self.n_starts, "seed": self.seed, "messages": list(self.messages),
                          "residuals": list(self.residuals), "bootstrap": self.bootstrap.tolist(),
                          "extrapolation": None if self.extrapolation is None else self.extrapolation.to_dict(),
                          "bootstrap_order": list(self.names)})

    @classmethod
    def from_json(cls, path: Any) -> ScalingFit:
        """Read a file written by :meth:`to_json` (files without a ``law`` key are Chinchilla fits)."""
        from scalefit.errors import ResultFileError
        from scalefit.results.scaling_files import load_scaling
        from scalefit.scaling.registry import LOSS_LAWS

        d = load_scaling(path, LOSS_LAWS)
        try:
            spec = get_loss_law(str(d.get("law", "chinchilla")))
            boot = np.array(d.get("bootstrap") or [], float).reshape(-1, len(spec.names))
            notes = tuple(Note.from_dict(x) for x in d.get("notes", ()))
            return cls(
                values={k: float(d[k]) for k in spec.names},
                stderr={k: (float("nan") if v is None else float(v)) for k, v in d["stderr"].items()},
                bootstrap=boot, objective=float(d["objective"]), n_points=int(d["n_points"]),
                range={k: (float(v[0]), float(v[1])) for k, v in d["range"].items()}, law=spec.name,
                method=str(d.get("method", "vp")), n_starts=int(d.get("n_starts", 0)), seed=int(d.get("seed", 0)),
                seconds=float(d.get("seconds", 0.0)), messages=tuple(d.get("messages", ())),
                residuals=tuple(float(x) for x in d.get("residuals", ())), notes=notes,
                extrapolation=None if not d.get("extrapolation") else ExtrapolationError.from_dict(d["extrapolation"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ResultFileError(f"malformed scaling result ({exc!r}). Re-run scalefit scaling --out.",
                                  path=str(path)) from None

