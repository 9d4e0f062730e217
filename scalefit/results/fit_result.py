"""The result of a fit, and what it answers: predictions with intervals, a report, a plot and JSON.

One result object per question (lmfit's ``ModelResult``, iminuit's ``FMin``): :class:`FitResult` is frozen, is
built only by :func:`scalefit.fitting.fit` (or read back with :meth:`FitResult.from_json`), and is never a tuple.
Its methods are thin: the work is in :mod:`.prediction`, :mod:`.report` and :mod:`.codec`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from scalefit.extrapolation import ExtrapolationError
from scalefit.law_error import LawError
from scalefit.metrics import RunMetrics, mean_metrics
from scalefit.results import codec, prediction, report
from scalefit.results.notes import Note
from scalefit.results.options import FitOptions
from scalefit.results.parts import Curve, FitContext, FitStatus, ParamEstimate
from scalefit.results.prediction import Prediction


@dataclass(frozen=True)
class FitResult:
    """A fitted loss-curve law: parameters with uncertainties, status, metrics per run, provenance.

    Build it with :func:`scalefit.fit`; read it back with :meth:`from_json`.

    Attributes
    ----------
    law : str
        Registered law name (``"mpl"``, ``"tissue"``, ...); ``law_options`` are the keyword options it was built with.
    params : dict of str to ParamEstimate
        In ``param_order`` (the law's declaration order).
    covariance : ndarray, shape (P, P), or None
        Over ``param_order``; rows and columns of fixed parameters are 0. None when singular (NO_COVARIANCE).
    status : FitStatus
    messages : tuple of str
        Every warning and repair of the fit, in words.
    metrics : dict of str to RunMetrics
        In-sample metrics per run path.
    objective : str
        The objective in words, e.g. ``"huber(delta=0.001) on log loss"``; ``objective_value`` its minimum.
    n_points, n_starts, seed : int
    data_hash : str
        sha256 over each run's steps, lr and loss arrays (float64/int64 bytes, in run order).
    context : FitContext
        The fitted range (defaults for predictions, extrapolation marks).
    curves : tuple of Curve
        Observed vs fitted loss per run, for plots.
    errors : {"ar1", "iid"}
        The residual model behind the covariance: ``"ar1"`` scales it by ``(1 + rho) / (1 - rho)`` with
        ``residual_rho`` the residuals' lag-1 autocorrelation (see :mod:`scalefit.fitting`), times a small
        correction of the residual variance; ``variance_factor`` is the product applied; ``"iid"`` assumes
        independent residuals (results written before the option existed read back as ``"iid"``).
    law_error : LawError or None
        The law's own error, cross-validated on the training runs (``fit(..., law_error=True)``,
        :mod:`scalefit.law_error`); when present, prediction intervals add it to the covariance band.
    notes : tuple of Note
        The fit's messages as typed data (:mod:`scalefit.results.notes`: kind, warning class, numbers); empty for
        results read from files written before they were recorded.
    options : FitOptions or None
        The options the fit was made with (:mod:`scalefit.results.options`); None when read from an older file.
    prior : dict of str to (centre, sd), or None
        The Gaussian prior on log(parameter) the fit applied (``{}``: none); None when read from an older file.
    size_error : ExtrapolationError or None
        For a size-aware law fitted with ``law_error=True``: the relative error of a prediction at a model size
        outside the fitted ones, measured by leave-one-size-out folds (three or more sizes) or, not measured, the
        reference rule (:mod:`scalefit.extrapolation`); predictions there widen their interval with it.
    """

    law: str
    params: dict[str, ParamEstimate]
    covariance: np.ndarray | None
    param_order: tuple[str, ...]
    status: FitStatus
    messages: tuple[str, ...]
    metrics: dict[str, RunMetrics]
    objective: str
    objective_value: float
    n_points: int
    n_starts: int
    seed: int
    data_hash: str
    scalefit_version: str
    fit_seconds: float
    context: FitContext
    law_options: dict[str, Any] = field(default_factory=dict)
    curves: tuple[Curve, ...] = ()
    n_evals: int = 0
    errors: str = "iid"
    residual_rho: float | None = None
    variance_factor: float | None = None
    law_error: LawError | None = None
    notes: tuple[Note, ...] = ()
    options: FitOptions | None = None
    prior: dict[str, tuple[float, float]] | None = None
    size_error: ExtrapolationError | None = None

    # ---- views ----
    @property
    def values(self) -> dict[str, float]:
        """``{name: value}`` in ``param_order``."""
        return {name: self.params[name].value for name in self.param_order}

    @property
    def is_valid(self) -> bool:
        """True unless the polish ran out of evaluations."""
        return self.status is not FitStatus.MAX_EVALS

    @property
    def failed(self) -> bool:
        """True when the law does not describe the fitted runs (status FAILED: mean in-sample R2 < 0 or a fitted
        loss <= 0); its parameters and predictions are then not results."""
        return self.status is FitStatus.FAILED

    @property
    def has_covariance(self) -> bool:
        return self.covariance is not None

    @property
    def interval_method(self) -> str:
        """What :meth:`predict`'s intervals carry by default: ``"covariance+cv"`` with a measured law error and a
        covariance, ``"cv"`` with the law error only, ``"covariance"`` without a law error."""
        if self.law_error is None:
            return "covariance"
        return "cv" if self.covariance is None else "covariance+cv"

    @property
    def has_parameters_at_bound(self) -> bool:
        return any(p.at_bound != 0 for p in self.params.values() if not p.fixed)

    @property
    def correlation(self) -> np.ndarray | None:
        """Correlation matrix over ``param_order`` (None without covariance; fixed parameters give 0 rows)."""
        if self.covariance is None:
            return None
        sd = np.sqrt(np.clip(np.diag(self.covariance), 0.0, None))
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = self.covariance / np.outer(sd, sd)
        corr[~np.isfinite(corr)] = 0.0
        np.fill_diagonal(corr, np.where(sd > 0, 1.0, 0.0))
        return corr

    @property
    def mean_metrics(self) -> dict[str, float]:
        """In-sample metrics averaged over runs (the MPL paper's convention)."""
        return mean_metrics(self.metrics.values())

    def lmfit_params(self) -> Any:
        """The parameters as ``lmfit.Parameters`` (value, bounds, vary, stderr, correlations)."""
        import lmfit

        out = lmfit.Parameters()
        for name in self.param_order:
            p = self.params[name]
            out.add(name, value=p.value, min=p.lower, max=p.upper, vary=not p.fixed)
            out[name].stderr = None if not math.isfinite(p.stderr) else p.stderr
        corr = self.correlation
        if corr is not None:
            for i, a in enumerate(self.param_order):
                if self.params[a].fixed:
                    continue
                out[a].correl = {
                    b: float(corr[i, j])
                    for j, b in enumerate(self.param_order)
                    if b != a and not self.params[b].fixed
                }
        return out

    def get_law(self) -> Any:
        """The law object this result was fitted with (rebuilt from its name and options)."""
        from scalefit.laws import get_law

        return get_law(self.law, **self.law_options)

    # ---- prediction ----
    def predict(
        self,
        schedule: Any,
        *,
        warmup: int | None = None,
        interval: float = 0.9,
        method: str = "auto",
        n_params: float | None = None,
        at: np.ndarray | None = None,
        label: str | None = None,
    ) -> Prediction:
        """Predict the loss curve of a schedule, with an interval (:mod:`scalefit.results.prediction`).

        Parameters
        ----------
        schedule : ndarray, str or Run
            A per-step LR array (``lr[i]`` is the LR of step ``i``), a schedule spec such as
            ``"cosine:peak=3e-4,total=24000,warmup=2160"`` (``peak``, ``total`` and ``warmup`` default to the
            fitted runs'), or a :class:`~scalefit.runs.Run` (its LR and observed steps).
        warmup : int, optional
            Warmup steps at the start of the array; default: the spec's, the run's, or the fitted runs'.
        interval : float
            Nominal coverage of the band (0 < interval < 1).
        method : {"auto", "covariance", "covariance+cv", "cv"}
            ``"covariance"``: the delta-method band of the parameter covariance only (what the noise allows).
            ``"covariance+cv"``: that band plus the law's own error measured by cross-validation on the training
            runs (``law_error``), added in quadrature, with a Student t quantile (Welch-Satterthwaite degrees of
            freedom). ``"cv"``: the law error alone. ``"auto"`` (default): :attr:`interval_method` (``"cv"`` when
            the fit has a law error but no covariance, with a warning).
        n_params : float, optional
            Model size, for laws that use it (``mpl-n``, ``tissue-n``); default: the run's metadata, else the size
            of the last fitted run. Outside the fitted sizes the prediction is flagged with its factor and its
            interval carries :attr:`size_error`; a fit of one size refuses another (FitInputError, saying what is
            needed).
        at : ndarray of int, optional
            Indices into the LR array to predict at; default every step.

        Returns
        -------
        Prediction
            Curve, interval and an extrapolation mark; an :class:`~scalefit.errors.ExtrapolationWarning` is
            emitted when the schedule lies beyond ``EXTRAPOLATION_FACTOR`` times the fitted range.
        """
        return prediction.predict(self, schedule, warmup, interval, method, n_params, at, label)

    def schedule_from_spec(
        self, spec: str, *, peak: float | None = None, total: int | None = None, warmup: int | None = None
    ) -> tuple[np.ndarray, int]:
        """The LR array of a spec and its warmup; ``peak``/``total``/``warmup`` default to the fitted runs'.

        Keys given in the spec win over these defaults; a ``file:`` spec's warmup is detected from its LR.
        """
        return prediction.schedule_from_spec(self, spec, peak=peak, total=total, warmup=warmup)

    # ---- report ----
    def errors_text(self) -> str:
        """The residual model behind the stderr and intervals, in words."""
        return report.errors_text(self)

    def report(self) -> str:
        """iminuit-style status lines, the parameter table (PDG rounding), metrics per run, and messages."""
        return report.fit_report(self)

    def __str__(self) -> str:
        return self.report()

    def _repr_html_(self) -> str:
        import html

        return "<pre>" + html.escape(self.report()) + "</pre>"

    # ---- plain dict / JSON ----
    def summary(self) -> dict[str, Any]:
        """Everything but the covariance and curves, as plain Python types (lmfit's ``summary()``)."""
        return codec.summary(self)

    def to_json(self, path: str | Path) -> Path:
        """Write the result as ``"schema": "scalefit.fit/1"`` JSON (atomic); :meth:`from_json` reads it back."""
        return codec.write(self, path)

    @classmethod
    def from_json(cls, path: str | Path) -> FitResult:
        """Read a result written by :meth:`to_json`; raises ResultFileError on a wrong or damaged file."""
        return codec.read(cls, path)

    # ---- plot ----
    def plot(self, ax: Any = None, *, log_y: bool = False) -> Any:
        """Observed vs fitted loss per run, with relative residuals below (see :func:`scalefit.plots.plot_fit`)."""
        from scalefit.plots import plot_fit

        return plot_fit(self, ax=ax, log_y=log_y)

    def with_messages(self, *extra: str) -> FitResult:
        """A copy with more messages appended."""
        return replace(self, messages=self.messages + tuple(extra))
