"""Model size in a loss-curve law: the size terms shared by ``mpl-n`` and ``tissue-n``.

A curve law of one model size is ``L = L0 + A * F(schedule; alpha) - X * D(schedule; shape)`` with three
amplitudes (L0, A and the drop amplitude X: MPL's B, Tissue's C). Across sizes the shape (alpha and the drop's
C, beta, gamma or lam) is shared, and the three amplitudes become functions of the model size N:

==============  ===================================  ==================================================================
term            form                                 where it comes from
==============  ===================================  ==================================================================
``L0(N)``       ``E + K * n^-a``                     Chinchilla's ``E + A / N^alpha`` (Hoffmann et al. 2022, eq. 2):
                                                     the loss of unlimited data at size N; ``E``: irreducible loss
``A(N)``        ``A * rA^log2(n)``                   Chinchilla's data term ``B / D^beta`` has an amplitude free of N,
                                                     i.e. ``rA = 1``; a power law in N around it (``rA``: the factor
                                                     per doubling of N) is our extension, measured in
                                                     ``benchmarks/extrapolation.py``
``X(N)``        ``X * rX^log2(n)``                   the loss drop of an LR decay as a power law in N: invented here
                                                     (Tissue et al. 2024's size form scales it by ``N^gamma``, the same
                                                     thing); ``rX = 1`` = a drop that does not depend on size
==============  ===================================  ==================================================================

``n = N / N_REF`` with ``N_REF = 1e8`` non-embedding parameters, so that ``K``, ``A`` and ``X`` are the amplitudes of a
100M model and every size term is of order 1. For fixed exponents ``(a, rA, rX)`` and shape the law stays linear in
``(E, K, A, X)`` (variable projection): the design rows are ``[1, n^-a, rA^l * F, -rX^l * D]`` with ``l = log2(n)``.
Each evaluation costs what the size-blind law costs (O(T)); the size terms are scalars per run.

Identifiability (what :func:`size_prior` and :func:`check_sizes` encode)
-------------------------------------------------
* one size: ``E`` and ``K`` are one number (``L0`` of that size); nothing about N is learnt. A fit is refused
  (:func:`check_sizes`): a prediction at another size needs runs of at least two sizes.
* two sizes: ``L0`` at two sizes gives ``E`` and ``K`` only for a given ``a``. The size exponent ``a`` is set by a
  prior (Chinchilla's 0.34, Hoffmann et al. 2022, Approach 3; Epoch's refit 0.35, Besiroglu et al. 2024): the
  prior, not the data, sets the extrapolation, and the fit says so (:func:`prior_note`). The same weak prior (log
  sd 1, at 1) sits on ``rA`` and ``rX``, but two sizes determine them (two amplitudes at two sizes), with nothing to
  check them. One prior serves every number of sizes: it decides only the directions the data leave flat.
* three or more sizes: every size parameter is fitted.

Measured on the Schaipp runs (``benchmarks/extrapolation.py``, 11 folds with >= 3 sizes): ``a`` 0.07-0.43
(median 0.24), ``rA`` 1.03-1.11, ``rB`` 1.01-1.18 per doubling; with two sizes, exponents 0.20-0.45 instead of
0.34 change the error one size up by at most 0.009 nats.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from scalefit.errors import FitInputError
from scalefit.laws.base import Law, ParamSpec, Prepared

#: Reference model size (non-embedding parameters): the amplitudes K, A, X are those of a model this size.
N_REF = 1e8
#: Chinchilla's model-size exponent (Hoffmann et al. 2022, Approach 3: 0.34; Besiroglu et al. 2024 refit: 0.35).
A_CHINCHILLA = 0.34
#: Prior sd on log(a), log(rA), log(rX): weak. With two sizes the data are flat in ``a`` (``E + K n^-a`` passes
#: through two points for every ``a``), so the fit lands on the prior's centre whatever the sd; with three or more
#: the data set it. A wide sd keeps ``a``'s stderr honest (the data do not know it) where a narrow one would not.
SIZE_PRIOR_SD = 1.0
#: Relative difference below which two runs' ``params`` count as the same model size.
SAME_SIZE_RTOL = 0.02


@dataclass(frozen=True, eq=False)
class SizePrepared(Prepared):
    """The inner law's prepared run and its model size relative to ``N_REF``."""

    inner: Prepared
    log2n: float  # log2(N / N_REF)


def _check_n(law_name: str, n_params: float | None) -> float:
    if n_params is None:
        raise FitInputError(f"law {law_name!r} needs the model size of each run: set the 'params' metadata of the run "
                            "file (non-embedding parameters), or pass n_params.")
    n = float(n_params)
    if not math.isfinite(n) or n <= 0:
        raise FitInputError(f"n_params = {n_params!r} must be a positive parameter count (e.g. 1.2e8).",
                            value=n_params)
    return n


def size_specs(drop: str) -> tuple[tuple[ParamSpec, ...], tuple[ParamSpec, ...]]:
    """(linear, nonlinear) size ParamSpecs: ``E, K, A, <drop>`` and ``a, rA, r<drop>``."""
    linear = (
        ParamSpec("E", 0.0, np.inf, True, 2.0,
                  "irreducible loss E (nats/token): L0(N) = E + K (N/1e8)^-a, Chinchilla's E (Hoffmann et al. 2022)"),
        ParamSpec("K", 0.0, np.inf, True, 0.5, "reducible part of L0 at N = 1e8: L0(N) = E + K (N/1e8)^-a"),
        ParamSpec("A", 0.0, np.inf, True, 0.5, "amplitude of the LR-area power law at N = 1e8"),
        None,  # the drop amplitude, filled by the law (MPL's B, Tissue's C)
    )
    nonlinear = (
        ParamSpec("a", 0.02, 1.5, False, A_CHINCHILLA,
                  "model-size exponent of L0: K (N/1e8)^-a; Chinchilla 0.34 (the prior's centre with two sizes)"),
        ParamSpec("rA", 0.25, 4.0, False, 1.0,
                  "factor on A per doubling of N: A(N) = A rA^log2(N/1e8); 1 = Chinchilla's size-free data term"),
        ParamSpec(f"r{drop}", 0.25, 4.0, False, 1.0,
                  f"factor on {drop} per doubling of N: {drop}(N) = {drop} r{drop}^log2(N/1e8); 1 = size-free drop"),
    )
    return linear, nonlinear


#: What the size terms cite, after the lifted law's own citation.
SIZE_CITATION = ("; model-size terms after Hoffmann et al. 2022, Training Compute-Optimal Large Language Models "
                 "(arXiv 2203.15556), eq. 2")


class SizeAwareLaw(Law):
    """A size-blind curve law with linear rows ``[1, F, -D]`` for ``(L0, A, X)``, lifted to model size N.

    Subclasses set ``name``, ``citation``, ``drop`` (the inner law's drop amplitude name) and build ``inner`` (the
    size-blind law) in ``__init__``; the parameter table is the size terms followed by the inner law's shape.
    """

    drop: str = "B"
    size_aware: bool = True
    #: the size-blind law this one lifts: its title, citation and declared behaviour pass on (``__init_subclass__``)
    base: type[Law] | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        base = cls.__dict__.get("base")
        if base is None:
            return
        cls.title = base.title + " across model sizes"
        cls.citation = base.citation + SIZE_CITATION
        for name in ("degenerate_optimum", "non_monotone_warning", "drop_shape"):
            if name not in cls.__dict__:
                setattr(cls, name, getattr(base, name))

    def __init__(self, inner: Law, **options: Any) -> None:
        super().__init__(**options)
        self.inner = inner
        lin, nonlin = size_specs(self.drop)
        drop_spec = inner.spec(self.drop)
        lin = lin[:3] + (ParamSpec(self.drop, drop_spec.lower, drop_spec.upper, True, drop_spec.default,
                                   drop_spec.doc + "; at N = 1e8"),)
        shape = tuple(p for p in inner.params if not p.linear)
        self.params = lin + nonlin + shape
        self._shape_names = tuple(p.name for p in shape)

    # ---- features -------------------------------------------------------------------------------------------
    def prepare(self, lr: Any, *, warmup: int, at: Any = None, n_params: float | None = None) -> SizePrepared:
        """The inner law's features and ``log2(N / N_REF)`` (N from ``n_params``, required)."""
        n = _check_n(self.name, n_params)
        inner = self.inner.prepare(lr, warmup=warmup, at=at, n_params=n)
        return SizePrepared(at=inner.at, n_steps=inner.n_steps, warmup=inner.warmup, n_params=n, inner=inner,
                            log2n=math.log2(n / N_REF))

    def _scales(self, p: Mapping[str, float], prep: SizePrepared) -> tuple[float, float, float]:
        """``n^-a``, ``rA^l``, ``rX^l`` of this run."""
        l2 = prep.log2n
        return 2.0 ** (-p["a"] * l2), p["rA"] ** l2, p[f"r{self.drop}"] ** l2

    def design(self, theta: Mapping[str, float] | Any, prep: SizePrepared) -> np.ndarray:
        """Rows ``[1, n^-a, rA^l F, -rX^l D]`` for ``(E, K, A, X)``, shape (4, M)."""
        p = self.resolve(theta)
        inner = self.inner.design({k: p[k] for k in self._shape_names}, prep.inner)  # (3, M): [1, F, -D]
        sK, sA, sX = self._scales(p, prep)
        return np.stack([inner[0], np.full_like(inner[0], sK), sA * inner[1], sX * inner[2]])

    def design_jac(self, theta: Mapping[str, float] | Any, prep: SizePrepared) -> np.ndarray | None:
        """d design / d (a, rA, rX, shape...), shape (n_nonlinear, 4, M)."""
        p = self.resolve(theta)
        shape_p = {k: p[k] for k in self._shape_names}
        inner = self.inner.design(shape_p, prep.inner)  # (3, M)
        ijac = self.inner.design_jac(shape_p, prep.inner)  # (q_inner, 3, M) over inner.nonlinear_names
        if ijac is None:
            return None
        sK, sA, sX = self._scales(p, prep)
        l2 = prep.log2n
        names = self.nonlinear_names
        out = np.zeros((len(names), 4, inner.shape[1]))
        out[names.index("a"), 1] = -math.log(2.0) * l2 * sK
        out[names.index("rA"), 2] = l2 * p["rA"] ** (l2 - 1.0) * inner[1]
        rx = f"r{self.drop}"
        out[names.index(rx), 3] = l2 * p[rx] ** (l2 - 1.0) * inner[2]
        for j, name in enumerate(self.inner.nonlinear_names):
            out[names.index(name), 2] = sA * ijac[j, 1]
            out[names.index(name), 3] = sX * ijac[j, 2]
        return out

    # ---- the size-blind law at one size -----------------------------------------------------------------------
    def at_size(self, values: Mapping[str, float], n_params: float) -> dict[str, float]:
        """The inner (size-blind) law's parameters at model size ``n_params``: ``L0 = E + K n^-a``, ``A rA^l``,
        ``X rX^l`` and the shared shape. Schedule optimisation and final-loss gradients use them unchanged."""
        n = _check_n(self.name, n_params)
        l2 = math.log2(n / N_REF)
        v = {k: float(values[k]) for k in values}
        out = {k: v[k] for k in self._shape_names if k in v}
        for spec in self.inner.params:
            if spec.fixed and spec.name not in out:
                out[spec.name] = spec.default
        out["L0"] = v["E"] + v["K"] * 2.0 ** (-v["a"] * l2)
        out["A"] = v["A"] * v["rA"] ** l2
        out[self.drop] = v[self.drop] * v[f"r{self.drop}"] ** l2
        return out

    def size_names(self) -> tuple[str, ...]:
        """The nonlinear size parameters (``a``, ``rA``, ``rX``): what the size prior holds with two sizes."""
        return ("a", "rA", f"r{self.drop}")

    def final_loss_and_grad(self, values: Mapping[str, float], lr: np.ndarray, *, warmup: int,
                            n_params: float | None = None, grad: bool = True) -> tuple[float, np.ndarray | None]:
        """The size-blind law's final loss and LR gradient at model size ``n_params`` (required): the size terms are
        constants of a run, so the schedule optimizer sees the inner law at :meth:`at_size`."""
        return self.inner.final_loss_and_grad(self.at_size(values, _check_n(self.name, n_params)), lr,
                                              warmup=warmup, grad=grad)


# ---------------------------------------------------------------------------------------------------------------
def distinct_sizes(sizes: Sequence[float | None], rtol: float = SAME_SIZE_RTOL) -> list[float]:
    """The distinct model sizes among ``sizes`` (None skipped), ascending; sizes within ``rtol`` count as one."""
    out: list[float] = []
    for s in sorted(float(x) for x in sizes if x is not None):
        if not out or s > out[-1] * (1.0 + rtol):
            out.append(s)
    return out


def run_sizes(runs: Sequence[Any]) -> list[float | None]:
    """Each run's ``params`` metadata (None where absent)."""
    out = []
    for r in runs:
        v = r.meta.get("params") if isinstance(getattr(r, "meta", None), Mapping) else None
        out.append(None if v is None else float(v))
    return out


def check_sizes(runs: Sequence[Any], law_name: str) -> list[float]:
    """The distinct model sizes of ``runs`` for a size-aware law; raises FitInputError naming what is missing.

    Every run needs ``params``; at least two distinct sizes are needed (one size cannot separate ``E`` from ``K``).
    """
    sizes = run_sizes(runs)
    missing = [getattr(r, "path", "?") for r, s in zip(runs, sizes) if s is None]
    if missing:
        raise FitInputError(f"law {law_name!r} needs each run's model size: {len(missing)} run(s) have no 'params' "
                            f"metadata (first: {missing[0]}). Add a '# params: <non-embedding parameters>' line.",
                            path=missing[0])
    distinct = distinct_sizes(sizes)
    if len(distinct) < 2:
        raise FitInputError(f"law {law_name!r} learns how the loss changes with model size, but every run has "
                            f"params = {distinct[0]:.3g}: one size cannot separate the irreducible loss E from the "
                            "size term K N^-a. Add runs of at least one other size (two sizes: the size exponent "
                            "comes from a prior; three or more: it is fitted), or use a size-blind law (mpl, tissue) "
                            "to predict this size only.")
    return distinct


def size_prior(drop: str) -> dict[str, tuple[float, float]]:
    """The default prior ``{name: (centre, sd)}`` (Gaussian on log) of the size terms ``a``, ``rA``, ``r<drop>``:
    Chinchilla's exponent and size-free amplitudes, log sd :data:`SIZE_PRIOR_SD` (see the module docstring)."""
    return {"a": (A_CHINCHILLA, SIZE_PRIOR_SD), "rA": (1.0, SIZE_PRIOR_SD), f"r{drop}": (1.0, SIZE_PRIOR_SD)}


def prior_note(law: SizeAwareLaw, sizes: Sequence[float]) -> str:
    """What the fit's messages say about the size terms for these distinct ``sizes`` (see :func:`size_prior`)."""
    sizes = list(sizes)
    listed = ", ".join(f"{s:.3g}" for s in sizes)
    if len(sizes) == 2:
        return (f"fit {law.name}: two model sizes ({listed}): the size exponent a is set by the prior (Chinchilla's "
                f"{A_CHINCHILLA}, Hoffmann et al. 2022), not by the data, and so is every prediction at another "
                f"size; rA and r{law.drop} come from two sizes with nothing to check them. A third size fits a.")
    return (f"fit {law.name}: {len(sizes)} model sizes ({listed}): the size terms a, rA, r{law.drop} are fitted "
            f"(weak prior, log sd {SIZE_PRIOR_SD:g}).")
