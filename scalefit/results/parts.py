"""The parts of a fit result: its status, each parameter's estimate, the range of the data it saw, and the
observed-vs-fitted curves it keeps for plots."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scalefit.thinning import evenly_spaced


class FitStatus(str, enum.Enum):
    """What a fit ended with. Test it in an ``if``; the report prints it.

    CONVERGED: the optimiser met its tolerance, no parameter on a bound, covariance available.
    AT_BOUND: some parameter sits on a bound; its stderr is unreliable (it is a constraint, not an estimate).
    NO_COVARIANCE: the Jacobian at the optimum is singular; parameters are not separately determined.
    MAX_EVALS: the polish ran out of function evaluations before meeting its tolerance.
    FAILED: the optimum does not describe the runs: the mean in-sample R2 is negative (the law does worse than each
    run's mean) or the fitted curve reaches a loss <= 0 on a fitted run's schedule. Its parameters and predictions
    are not results (:mod:`scalefit.fitting.sanity`; the CLI exits 1).

    When several apply, the most severe is reported (FAILED > MAX_EVALS > NO_COVARIANCE > AT_BOUND); ``messages``
    lists all. Files written before FAILED existed read back unchanged.
    """

    CONVERGED = "CONVERGED"
    AT_BOUND = "AT_BOUND"
    NO_COVARIANCE = "NO_COVARIANCE"
    MAX_EVALS = "MAX_EVALS"
    FAILED = "FAILED"


@dataclass(frozen=True)
class ParamEstimate:
    """One fitted parameter.

    Attributes
    ----------
    value, stderr : float
        Estimate and its standard error (NaN when there is no covariance; 0 for a fixed parameter).
    lower, upper : float
        The bounds the fit used.
    at_bound : int
        -1 on the lower bound, +1 on the upper, 0 inside (scipy's ``active_mask``).
    linear : bool
        Solved by variable projection (an amplitude) rather than searched.
    fixed : bool
        Held at ``value``, not fitted.
    """

    value: float
    stderr: float
    lower: float
    upper: float
    at_bound: int = 0
    linear: bool = False
    fixed: bool = False

    @property
    def rel_stderr(self) -> float:
        """``stderr / |value|`` (inf when the value is 0)."""
        return self.stderr / abs(self.value) if self.value != 0 else math.inf


@dataclass(frozen=True)
class FitContext:
    """The range of the data a fit saw: what predictions default to and what marks an extrapolation.

    Attributes
    ----------
    max_step : int
        Largest step observed (the last loss row of the longest run).
    max_s1 : float
        Largest ``S1 = sum(lr)`` over the fitted runs, up to their last observed step (LR * steps).
    lr_max, lr_min : float
        Largest learning rate in any run, and smallest positive one after warmup.
    warmup : int
        Warmup steps of the fitted runs (the largest, if they differ).
    n_params : tuple of float
        Model sizes (``params`` metadata) of the fitted runs, when known.
    total_steps : tuple of int
        Schedule length of each fitted run (``step0 + len(lr)``).
    irreducible_loss : float or None
        The data's known loss floor (the ``irreducible_loss`` metadata ``scalefit train`` records for its synthetic
        source, the smallest over the runs), when every fitted run states one. No model reaches it, so a
        prediction below it is an artefact of the law, and :meth:`FitResult.predict` says so.
    target : str
        The fitted column (``loss``, ``val_loss``, ...): plots label their y-axis with it.
    target_unit : str or None
        What the target measures when the reader knows it (``"nats"``, ``"bits"``, ``"perplexity"``, ...; the
        runs' ``target_unit``), else None; a y-axis says "nats" only when this says so.
    """

    max_step: int
    max_s1: float
    lr_max: float
    lr_min: float
    warmup: int
    n_params: tuple[float, ...] = ()
    total_steps: tuple[int, ...] = ()
    irreducible_loss: float | None = None
    target: str = "loss"
    target_unit: str | None = None

    @property
    def target_label(self) -> str:
        """The y-axis label of the target: its name, with the unit when it is known to be nats or bits."""
        return target_label(self.target, self.target_unit)


def target_label(target: str, unit: str | None) -> str:
    """``"val_loss (nats)"`` for a target known to be in nats (or bits), else the target's name alone."""
    return f"{target} ({unit})" if unit in ("nats", "bits") else str(target)


@dataclass(frozen=True)
class Curve:
    """Observed and fitted loss of one run at its observed steps (kept for plots; at most ``MAX_CURVE_POINTS``)."""

    path: str
    steps: np.ndarray  # (m,) int64
    loss: np.ndarray  # (m,) observed loss
    fitted: np.ndarray  # (m,) law at the fitted parameters

    @property
    def name(self) -> str:
        return Path(self.path).stem


#: Curves saved in a result are thinned to this many evenly spaced points per run (plots only; metrics use all).
MAX_CURVE_POINTS = 2000


def thin_curve(path: str, steps: np.ndarray, loss: np.ndarray, fitted: np.ndarray) -> Curve:
    """A :class:`Curve` with at most ``MAX_CURVE_POINTS`` evenly spaced points (the last one always kept)."""
    if steps.size > MAX_CURVE_POINTS:
        keep = evenly_spaced(steps.size, MAX_CURVE_POINTS)
        steps, loss, fitted = steps[keep], loss[keep], fitted[keep]
    return Curve(path=path, steps=np.asarray(steps, np.int64), loss=np.asarray(loss), fitted=np.asarray(fitted))
