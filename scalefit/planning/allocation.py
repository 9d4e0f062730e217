"""How a plan splits its budget between model size N and tokens D, with an interval, and how far each fitted law
is stretched to say so.

Three sources, in the order :func:`allocate` prefers them:

1. N and/or D given by the user (C = 6ND fixes the other);
2. a compute-optimal frontier N*(C), D*(C) (isoFLOP profiles, Hoffmann et al.'s approach 2, or the lower envelope,
   approach 1): the practitioners' estimate of the split, read from ``scalefit scaling --method isoflop|all|envelope
   --out`` (:class:`Frontier`);
3. the loss law's own optimum (:meth:`~scalefit.scaling.result.ScalingFit.optimal`). The default loss law (the
   over-training-aware form of Gadre et al.) fixes N* ~ C^0.5 by construction, so a frontier is the better source
   of the split when there is one.

An extrapolation factor is the factor by which a value lies outside the range a law was fitted on (1 inside it;
3 means 3x beyond the largest or 3x below the smallest).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scalefit.errors import FitInputError, ResultFileError
from scalefit.scaling.isoflop import PowerLawFit, frontier_optimal

#: Schemas of the result files a frontier is read from (``scalefit scaling --method ... --out``).
FRONTIER_SCHEMAS = ("scalefit.isoflop", "scalefit.envelope", "scalefit.all")
NAMES = {"isoflop": "isoFLOP profiles (approach 2)", "envelope": "lower envelope (approach 1)"}


def factor(value: float | None, lo: float, hi: float) -> float:
    """How far ``value`` lies outside [lo, hi], as a factor (1 inside; NaN when unknown)."""
    if value is None or not (math.isfinite(value) and value > 0 and lo > 0 and hi > 0):
        return float("nan")
    return float(max(value / hi, lo / value, 1.0))


@dataclass(frozen=True)
class Frontier:
    """Fitted N*(C) and D*(C) power laws with their bootstrap draws, and the compute range they were fitted on."""

    method: str  # "isoflop" or "envelope"
    n_opt: PowerLawFit
    d_opt: PowerLawFit
    flops_range: tuple[float, float]
    detail: str = ""  # e.g. "4 budgets"

    @property
    def name(self) -> str:
        return NAMES.get(self.method, self.method) + (f", {self.detail}" if self.detail else "")

    def optimal(self, flops: float, interval: float = 0.9) -> dict[str, float]:
        """``params``, ``tokens`` at C with ``*_lower`` / ``*_upper`` (NaN without bootstrap draws)."""
        return frontier_optimal(self.n_opt, self.d_opt, flops, interval)

    def record(self) -> dict[str, Any]:
        """The JSON record :meth:`from_record` reads (draws included, so intervals survive the round trip)."""
        return {"method": self.method, "flops_range": list(self.flops_range), "detail": self.detail,
                **{k: {**p.summary(), "draws": p.draws.tolist()} for k, p in (("n_opt", self.n_opt),
                                                                             ("d_opt", self.d_opt))}}

    @classmethod
    def from_fit(cls, fit: Any) -> Frontier:
        """From an :class:`~scalefit.scaling.isoflop.IsoflopFit` or :class:`~scalefit.scaling.envelope.EnvelopeFit`."""
        if fit.method == "isoflop":
            used = [b.flops for b in fit.budgets if b.used]
            return cls("isoflop", fit.n_opt, fit.d_opt, (min(used), max(used)), f"{len(used)} budgets")
        flops = np.asarray(fit.flops, float)
        return cls("envelope", fit.n_opt, fit.d_opt, (float(flops.min()), float(flops.max())),
                   f"{np.unique(fit.params).size} sizes")

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> Frontier:
        def law(x: dict[str, Any]) -> PowerLawFit:
            return PowerLawFit(float(x["coef"]), float(x["exponent"]), _num(x.get("lower")), _num(x.get("upper")),
                               np.array(x.get("draws") or [], float).reshape(-1, 2))

        lo, hi = d["flops_range"]
        return cls(str(d["method"]), law(d["n_opt"]), law(d["d_opt"]), (float(lo), float(hi)),
                   str(d.get("detail", "")))

    @classmethod
    def from_json(cls, path: Any) -> Frontier:
        """Read the frontier of ``scalefit scaling --method isoflop|envelope|all --out`` (for ``all``: the isoFLOP
        profiles, else the envelope)."""
        from scalefit.jsonio import read_json

        d = read_json(path, schema=None)
        schema = str(d.get("schema", ""))
        if not schema.startswith(FRONTIER_SCHEMAS):
            raise ResultFileError(f"is a {schema or 'schema-less'} file, not a compute-optimal frontier. Pass the "
                                  "--out of scalefit scaling --method isoflop (or all, or envelope).", path=str(path))
        records = d.get("frontiers") or {}
        try:
            for key in ("isoflop", "envelope"):
                if key in records:
                    return cls.from_record(records[key])
        except (KeyError, TypeError, ValueError) as exc:
            raise ResultFileError(f"malformed frontier ({exc!r}). Re-run scalefit scaling --out.",
                                  path=str(path)) from None
        why = "; ".join(f"{r.get('name', '?')}: {r['error']}" for r in d.get("approaches", ()) if r.get("error"))
        raise ResultFileError("holds no fitted frontier" + (f" ({why})" if why else "") + ", or was written by an "
                              "older scalefit. Re-run scalefit scaling --method isoflop --out.", path=str(path))


def _num(x: Any) -> float:
    return float("nan") if x is None else float(x)


def frontier_records(result: Any) -> dict[str, Any]:
    """The frontiers of a ``scalefit scaling --method isoflop|envelope|all`` result, for its ``--out`` file."""
    fits = getattr(result, "fits", None)
    fits = {result.method: result} if fits is None else fits
    return {k: Frontier.from_fit(f).record() for k, f in fits.items() if k in NAMES and f is not None}


@dataclass(frozen=True)
class Allocation:
    """N, D and C of a plan, the interval of N and D (NaN when none), and where they came from."""

    params: float
    tokens: float
    flops: float
    params_lower: float = float("nan")
    params_upper: float = float("nan")
    tokens_lower: float = float("nan")
    tokens_upper: float = float("nan")
    source: str = "given"
    note: str = ""
    factor: float = float("nan")  # extrapolation factor of C for the source that chose N, D (NaN: none)


def allocate(flops: float | None, *, params: float | None, tokens: float | None, frontier: Frontier | None,
             scaling: Any, interval: float) -> Allocation:
    """N and D of the plan (see the module docstring for the order of the sources)."""
    for name, v in (("flops", flops), ("params", params), ("tokens", tokens)):
        if v is not None and not (math.isfinite(v) and v > 0):
            raise FitInputError(f"--{name} is {v}; it must be a positive number such as 1e21.", column=name,
                                value=v)
    if params is not None and tokens is not None:
        return Allocation(float(params), float(tokens), 6.0 * params * tokens, note="N and D given: prediction only.")
    if flops is None:
        raise FitInputError("no budget: pass --flops C (or both --params and --tokens).", column="flops")
    C = float(flops)
    if params is not None:
        return Allocation(float(params), C / (6.0 * params), C, note="N fixed: D = C / 6N.")
    if tokens is not None:
        return Allocation(C / (6.0 * tokens), float(tokens), C, note="D fixed: N = C / 6D.")
    if frontier is not None:
        o = frontier.optimal(C, interval)
        f = factor(C, *frontier.flops_range)
        return Allocation(o["params"], o["tokens"], C, o["params_lower"], o["params_upper"], o["tokens_lower"],
                          o["tokens_upper"], source=frontier.name, factor=f,
                          note=f"N, D compute-optimal on the {frontier.name} frontier: N* = {frontier.n_opt.coef:.4g} "
                               f"C^{frontier.n_opt.exponent:.3f}" + _beyond(f, "its budgets"))
    if scaling is not None:
        o = scaling.optimal(C, interval=interval)
        if not (math.isfinite(o["params"]) and math.isfinite(o["tokens"])):
            raise FitInputError("the scaling law has no interior compute-optimal allocation; pass --params or "
                                "--tokens.")
        fixed = " (this law fixes N* ~ C^0.5; --isoflop gives the measured split)" if scaling.law == "overtrain" \
            else ""
        return Allocation(o["params"], o["tokens"], C, o["params_lower"], o["params_upper"], o["tokens_lower"],
                          o["tokens_upper"], source=f"loss law ({scaling.law})",
                          note=f"N, D compute-optimal under the {scaling.law} loss law{fixed}.")
    raise FitInputError("cannot choose N and D from a budget alone: pass --scaling sc.json (from scalefit "
                        "scaling) or --isoflop iso.json (from scalefit scaling --method isoflop), or fix --params or "
                        "--tokens.", column="scaling")


def _beyond(f: float, what: str) -> str:
    return f"; C is {f:.3g}x beyond {what}" if math.isfinite(f) and f > 1 + 1e-9 else ""


def hparam_factors(hparams: Any, N: float, D: float, C: float) -> dict[str, float]:
    """Extrapolation factor of each variable the hyperparameter laws take (``hparams.params`` ...)."""
    names = {"N": ("params", N), "D": ("tokens", D), "C": ("flops", C)}
    out = {}
    for var in hparams.variables:
        key, value = names[var]
        if key in hparams.range:
            out[f"hparams.{key}"] = factor(value, *hparams.range[key])
    return out


def is_frontier_file(path: Path) -> bool:
    """Whether a JSON file is a frontier result (used to give a clear error when files are swapped)."""
    from scalefit.jsonio import read_json

    try:
        return str(read_json(path, schema=None).get("schema", "")).startswith(FRONTIER_SCHEMAS)
    except Exception:  # noqa: BLE001 - a probe; the real read reports the problem
        return False
