"""What every loss-curve law declares: its parameters as data (:class:`ParamSpec`) and the :class:`Law` contract.

The ParamSpec table is the single source for fit bounds, for validating user ``--bounds``, for the report, and
for tests that feed out-of-range values (scikit-learn's constraint tables play the same role).

The law contract (variable projection): for fixed non-linear parameters ``theta`` a law is linear in its
amplitudes, ``loss = values[linear_names] @ design(theta, prep)`` with ``design`` of shape (n_linear, M). The
fitter solves the amplitudes and searches only ``theta``. Laws are small immutable objects: no I/O, no fitting.

==============  ==================================================================================================
method          meaning
==============  ==================================================================================================
``prepare``     everything independent of the parameters, once per run (cumulative sums, decrement blocks)
``design``      (n_linear, M) columns at the observed steps, amplitudes with their physical sign folded in
``design_jac``  (n_nonlinear, n_linear, M) derivative of ``design`` w.r.t. ``theta`` (or None: finite differences)
``predict``     (M,) loss for a full parameter mapping (fixed parameters take their ``default``)
==============  ==================================================================================================

``theta`` is either a mapping by name (missing fixed parameters take ``ParamSpec.default``) or a 1-D array in
``nonlinear_names`` order (what the fitter passes).

What the rest of scalefit needs to know about a law is declared on its class, so that adding a law is one file
plus one line in :data:`scalefit.laws.LAWS` (the fitter, optimizer, planner, CLI and JSON read these):

========================  ========================================================================================
declaration               meaning (default)
========================  ========================================================================================
``name``, ``citation``    the registered name (``--law``) and the paper
``title``                 the law in words, for messages ("Multi-Power Law")
``params``                the :class:`ParamSpec` table
``default_prior``         ``{name: (centre, sd)}``: the Gaussian prior on log(parameter) the fitter applies unless
                          the caller gives one (``{}``)
``size_aware``            True when the law uses the model size N (``prepare(n_params=)``); ``--law all`` leaves
                          such laws out and the planner uses them at other sizes (False)
``final_loss_and_grad``   method: the loss at a schedule's last step and its gradient w.r.t. every post-warmup LR,
                          what the schedule optimizer minimises; a law without one cannot be optimised
``degenerate_optimum``    why the law's optimal schedule is degenerate, or "" (the optimizer warns, the planner
                          falls back to a default schedule)
``non_monotone_warning``  the warning for an optimisation without the monotone constraint, or ""
``drop_shape``            parameters that set how the loss follows an LR drop: at a bound, the optimizer warns (())
========================  ========================================================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from scalefit.errors import FitInputError


@dataclass(frozen=True)
class ParamSpec:
    """One law parameter.

    Attributes
    ----------
    name : str
        Name as used in reports, JSON and ``--bounds`` (the paper's symbol, ASCII: ``L0``, ``alpha``, ``lam``).
    lower, upper : float
        Fit bounds (inclusive); ``-inf``/``inf`` when unbounded (only linear parameters may be unbounded).
    linear : bool
        True when the law is linear in this parameter for fixed non-linear ones (solved by variable projection).
    default : float
        A typical value: the centre of the start grid, or the value used when the parameter is fixed.
    doc : str
        Meaning in the paper's words and equation numbers.
    fixed : bool
        True when the parameter is held at ``default`` unless the user asks to fit it (e.g. Tissue's ``lam``).
    """

    name: str
    lower: float
    upper: float
    linear: bool
    default: float
    doc: str
    fixed: bool = False

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies inside the bounds."""
        return self.lower <= value <= self.upper


@dataclass(frozen=True, eq=False)
class Prepared:
    """Parameter-independent data of one run for one law (subclasses add law-specific arrays).

    Attributes
    ----------
    at : ndarray, shape (M,), int64
        Indices into ``lr`` where the loss is wanted.
    n_steps : int
        T, the length of the per-step schedule.
    warmup : int
        Number of warmup steps at the start of the schedule.
    n_params : float or None
        Model size N (non-embedding parameters), for laws that use it.
    """

    at: np.ndarray
    n_steps: int
    warmup: int
    n_params: float | None


def check_schedule(lr: Any, warmup: Any, at: Any) -> tuple[np.ndarray, int, np.ndarray]:
    """Validate a per-step schedule, its warmup length and observation indices.

    Returns ``(lr, warmup, at)`` as float64 (T,), int and int64 (M,). Raises :class:`FitInputError` with the
    offending value and the fix.
    """
    lr = np.asarray(lr, dtype=np.float64)
    if lr.ndim != 1 or lr.size == 0:
        raise FitInputError(f"the learning-rate schedule must be a non-empty 1-D array; got shape {lr.shape}. "
                            "Pass one LR per step.", column="lr")
    bad = np.flatnonzero(~np.isfinite(lr) | (lr < 0))
    if bad.size:
        i = int(bad[0])
        raise FitInputError(f"lr[{i}] = {lr[i]!r}; learning rates must be finite and >= 0 "
                            f"({bad.size} bad value(s)). Fix the schedule.", column="lr", value=lr[i])
    try:
        w = int(warmup)
    except (TypeError, ValueError):
        raise FitInputError(f"warmup = {warmup!r} is not an integer number of steps. Pass e.g. warmup=0.",
                            value=warmup) from None
    if w != warmup or not 0 <= w < lr.size:
        raise FitInputError(f"warmup = {warmup!r} must be an integer in [0, {lr.size - 1}] (the schedule has "
                            f"{lr.size} steps). Pass the number of warmup steps.", value=warmup)
    if at is None:
        idx = np.arange(lr.size, dtype=np.int64)
    else:
        raw = np.asarray(at)
        idx = raw.astype(np.int64, copy=False).ravel() if raw.size else np.zeros(0, dtype=np.int64)
        if raw.size and (raw.ndim > 1 or not np.array_equal(idx, raw.ravel())):
            raise FitInputError("'at' must be a 1-D array of integer step indices into lr.", value=at)
        out = np.flatnonzero((idx < 0) | (idx >= lr.size))
        if out.size:
            raise FitInputError(f"at[{int(out[0])}] = {int(idx[out[0]])} lies outside the schedule [0, "
                                f"{lr.size - 1}]. Give the LR of every step up to the last observation.",
                                value=int(idx[out[0]]))
    return lr, w, idx


class ParamTable:
    """What reads a law's ParamSpec table (``params``): names by role, one spec by name, the defaults. Shared by the
    loss-curve laws (:class:`Law`) and the loss laws of size and data (:mod:`scalefit.laws.scaling_base`)."""

    name: str = ""
    params: tuple[ParamSpec, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """All parameter names in report order."""
        return tuple(p.name for p in self.params)

    @property
    def linear_names(self) -> tuple[str, ...]:
        """Amplitudes solved by variable projection, in design-row order."""
        return tuple(p.name for p in self.params if p.linear)

    @property
    def nonlinear_names(self) -> tuple[str, ...]:
        """Non-linear parameters the fitter searches (fixed ones excluded), in ``theta`` order."""
        return tuple(p.name for p in self.params if not p.linear and not p.fixed)

    @property
    def fixed_names(self) -> tuple[str, ...]:
        """Parameters held at their ``default`` unless given explicitly."""
        return tuple(p.name for p in self.params if p.fixed)

    def spec(self, name: str) -> ParamSpec:
        """The ParamSpec called ``name``."""
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"law {self.name!r} has no parameter {name!r}; it has {', '.join(self.names)}")

    def defaults(self) -> dict[str, float]:
        """``{name: default}`` for every parameter."""
        return {p.name: p.default for p in self.params}


class Law(ParamTable):
    """Base class of a loss-curve law: a ParamSpec table and the design contract (see the module docstring).

    Subclasses set ``name``, ``citation`` and ``params`` and implement :meth:`prepare`, :meth:`design` and
    (optionally) :meth:`design_jac` and :meth:`final_loss_and_grad`; the other declarations (module docstring) have
    defaults. The constructor options are kept in ``options`` (recorded in fit results).
    """

    name: str = ""
    citation: str = ""
    title: str = ""
    params: tuple[ParamSpec, ...] = ()
    default_prior: Mapping[str, tuple[float, float]] = MappingProxyType({})
    size_aware: bool = False
    degenerate_optimum: str = ""
    non_monotone_warning: str = ""
    drop_shape: tuple[str, ...] = ()

    def __init__(self, **options: Any) -> None:
        self._options = dict(options)

    @property
    def options(self) -> dict[str, Any]:
        """Constructor options, as passed to :func:`scalefit.laws.get_law`."""
        return dict(self._options)

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self._options.items())
        return f"{type(self).__name__}({opts})"

    def resolve(self, theta: Mapping[str, float] | Any) -> dict[str, float]:
        """Non-linear and fixed parameter values by name.

        ``theta`` is a mapping (fixed parameters default to ``ParamSpec.default``; extra keys such as the
        amplitudes are ignored) or an array in ``nonlinear_names`` order.
        """
        out = {p.name: float(p.default) for p in self.params if p.fixed}
        if isinstance(theta, Mapping):
            for p in self.params:
                if p.linear:
                    continue
                if p.name in theta:
                    out[p.name] = float(theta[p.name])
                elif not p.fixed:
                    raise FitInputError(f"law {self.name!r}: missing a value for {p.name!r} "
                                        f"(needs {', '.join(self.nonlinear_names)}).")
            return out
        arr = np.asarray(theta, dtype=np.float64).ravel()
        if arr.size != len(self.nonlinear_names):
            raise FitInputError(f"law {self.name!r}: theta has {arr.size} values; expected "
                                f"{len(self.nonlinear_names)} ({', '.join(self.nonlinear_names)}).")
        out.update(zip(self.nonlinear_names, map(float, arr)))
        return out

    def linear_values(self, values: Mapping[str, float]) -> np.ndarray:
        """The amplitudes of ``values`` in ``linear_names`` order, shape (n_linear,)."""
        missing = [n for n in self.linear_names if n not in values]
        if missing:
            raise FitInputError(f"law {self.name!r}: missing value(s) for {', '.join(missing)}.")
        return np.array([float(values[n]) for n in self.linear_names])

    # ---- the design contract ----------------------------------------------------------------------------------
    def prepare(self, lr: Any, *, warmup: int, at: Any = None, n_params: float | None = None) -> Prepared:
        """Parameter-independent features of one run (cumulative sums, decrement blocks)."""
        raise NotImplementedError

    def design(self, theta: Mapping[str, float] | Any, prep: Prepared) -> np.ndarray:
        """Design matrix, shape (n_linear, M): ``loss = linear_values @ design``."""
        raise NotImplementedError

    def design_jac(self, theta: Mapping[str, float] | Any, prep: Prepared) -> np.ndarray | None:
        """d design / d theta, shape (n_nonlinear, n_linear, M) in ``nonlinear_names`` order; None if absent."""
        return None

    def predict(self, values: Mapping[str, float], lr: Any, *, warmup: int, at: Any = None,
                n_params: float | None = None) -> np.ndarray:
        """Predicted loss at ``at`` (default: every step), shape (M,). Fixed parameters default."""
        prep = self.prepare(lr, warmup=warmup, at=at, n_params=n_params)
        return self.linear_values(values) @ self.design(values, prep)

    # ---- the schedule optimizer's objective ---------------------------------------------------------------------
    def final_loss_and_grad(self, values: Mapping[str, float], lr: np.ndarray, *, warmup: int,
                            n_params: float | None = None, grad: bool = True) -> tuple[float, np.ndarray | None]:
        """Predicted loss at the last step of ``lr`` (T,) and its gradient w.r.t. ``lr[max(warmup, 1):]``, exact and
        O(T) (the gradient None when ``grad`` is False): what :mod:`scalefit.optimize` minimises. A law without it
        raises NotImplementedError and cannot be optimised (:attr:`optimizable`)."""
        raise NotImplementedError(f"law {self.name!r} has no final-loss gradient for the schedule optimizer")

    @property
    def optimizable(self) -> bool:
        """Whether the law implements :meth:`final_loss_and_grad` (the schedule optimizer needs it)."""
        return type(self).final_loss_and_grad is not Law.final_loss_and_grad


def fd_row(func: Any, theta: np.ndarray, j: int, lo: float, hi: float) -> np.ndarray:
    """Finite-difference derivative of ``func(theta)`` w.r.t. ``theta[j]`` (central, one-sided at a bound)."""
    h = 1e-6 * max(abs(theta[j]), 1e-3)
    tp, tm = theta.copy(), theta.copy()
    tp[j] = min(theta[j] + h, hi)
    tm[j] = max(theta[j] - h, lo)
    return (np.asarray(func(tp)) - np.asarray(func(tm))) / (tp[j] - tm[j])


def prediction_with_gradient(
    law: Any,
    param_order: Sequence[str],
    values: np.ndarray,
    lr: np.ndarray,
    warmup: int,
    at: np.ndarray,
    n_params: float | None,
    fd_names: Sequence[str] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted loss at ``at`` and its gradient with respect to every parameter (rows in ``param_order``).

    Returns ``(pred, grad)`` with shapes (M,) and (P, M); used for the delta-method interval. Gradients of
    nonlinear parameters the law does not differentiate (held fixed by the law) are finite differences when
    named in ``fd_names``, else 0.
    """
    prep = law.prepare(lr, warmup=warmup, at=np.asarray(at, dtype=np.int64), n_params=n_params)
    order = list(param_order)
    vals = np.asarray(values, dtype=np.float64)
    specs = {p.name: p for p in law.params}
    nonlin_all = [n for n in order if not specs[n].linear]
    lin = [order.index(n) for n in law.linear_names]
    theta_all = np.array([vals[order.index(n)] for n in nonlin_all])
    amps = vals[lin]

    def design(theta: np.ndarray) -> np.ndarray:
        return np.asarray(law.design(dict(zip(nonlin_all, map(float, theta))), prep), dtype=np.float64)

    dmat = design(theta_all)  # (k, M)
    pred = amps @ dmat
    grad = np.zeros((len(order), pred.size))
    grad[lin] = dmat
    law_rows = tuple(law.nonlinear_names)
    djac = law.design_jac(dict(zip(nonlin_all, map(float, theta_all))), prep) if law_rows else None
    for j, name in enumerate(nonlin_all):
        if djac is not None and name in law_rows:
            row = np.asarray(djac[law_rows.index(name)], dtype=np.float64)
        elif name in fd_names or (djac is None and name in law_rows):
            s = specs[name]
            row = fd_row(design, theta_all, j, s.lower, s.upper)
        else:
            continue
        grad[order.index(name)] = amps @ row
    return pred, grad
