"""The result of :func:`scalefit.evaluate`: a fit on training runs and the metrics of its predictions on held-out
runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scalefit.metrics import METRIC_NAMES, RunMetrics, mean_metrics
from scalefit.results.fit_result import FitResult
from scalefit.results.prediction import INTERVAL_METHODS, Prediction
from scalefit.results.report import metrics_table

EVAL_SCHEMA = "scalefit.evaluation/1"


@dataclass(frozen=True)
class Evaluation:
    """A fit on training runs and the metrics of its predictions on held-out runs.

    Attributes
    ----------
    fit : FitResult
        The fit on the training runs.
    test : dict of str to RunMetrics
        Metrics of each held-out run (by path), predicted from its LR schedule alone.
    predictions : dict of str to Prediction
        The predicted curve of each held-out run at its observed steps.
    observed : dict of str to ndarray
        Each held-out run's observed loss at those steps (for plots).
    """

    fit: FitResult
    test: dict[str, RunMetrics]
    predictions: dict[str, Prediction] = field(default_factory=dict)
    observed: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def mean(self) -> dict[str, float]:
        """Held-out metrics averaged over test curves (the MPL paper's convention)."""
        return mean_metrics(self.test.values())

    def summary(self) -> dict[str, Any]:
        """The ``scalefit evaluate --json`` object (plain types): law, fit seconds, mean metrics, per held-out run its
        metrics, final losses, interval at the last step (``lower``, ``upper``, ``interval``, ``method``) and whether
        the final loss fell inside it; the coverage count; the fitted parameters and the fit's status."""
        inside = self.final_inside()
        runs = []
        for path, m in self.test.items():
            row: dict[str, Any] = {"path": path, **{k: getattr(m, k) for k in METRIC_NAMES},
                                   "final_true": m.final_true, "final_pred": m.final_pred}
            p = self.predictions.get(path)
            if p is not None:
                row.update({"lower": float(p.lower[-1]), "upper": float(p.upper[-1]), "interval": p.interval,
                            "method": p.method, "inside": inside.get(path), "impossible": p.impossible or None})
            runs.append(row)
        first = next(iter(self.predictions.values()), None)
        return {
            "law": self.fit.law,
            "fit_seconds": self.fit.fit_seconds,
            "mean": self.mean,
            "runs": runs,
            "params": self.fit.values,
            "status": self.fit.status.value,
            "coverage": {"inside": sum(inside.values()), "runs": len(inside),
                         "interval": None if first is None else first.interval,
                         "method": None if first is None else first.method},
        }

    def to_json(self, path: str | Path) -> Path:
        """Write :meth:`summary` as ``"schema": "scalefit.evaluation/1"`` JSON (atomic)."""
        from scalefit.jsonio import write_json

        return write_json(path, {"schema": EVAL_SCHEMA, **self.summary()})

    def plot(self, ax: Any = None, *, log_y: bool = False) -> Any:
        """Held-out runs: observed loss and the prediction with its band (:func:`scalefit.plots.plot_evaluation`)."""
        from scalefit.plots import plot_evaluation

        return plot_evaluation(self, ax=ax, log_y=log_y)

    def final_inside(self) -> dict[str, bool]:
        """Whether each held-out run's final observed loss lies inside its prediction interval there."""
        return {path: bool(p.lower[-1] <= self.test[path].final_true <= p.upper[-1])
                for path, p in self.predictions.items() if path in self.test}

    def report(self) -> str:
        """The fit's report, then held-out metrics per run and their mean, and how often the intervals held."""
        lines = metrics_table(self.test, title="held-out")
        inside = self.final_inside()
        if inside:
            p = next(iter(self.predictions.values()))
            what = INTERVAL_METHODS.get(p.method, p.method)
            lines += ["", f"  final loss inside the {p.interval:.0%} interval ({what}): {sum(inside.values())} of "
                          f"{len(inside)} held-out runs"]
            for path, ok in inside.items():
                if not ok:
                    q = self.predictions[path]
                    lines.append(f"    outside: {path}: observed {self.test[path].final_true:.4f}, interval "
                                 f"[{float(q.lower[-1]):.4f}, {float(q.upper[-1]):.4f}]")
        bad = [(path, p) for path, p in self.predictions.items() if p.impossible]
        if bad:
            lines.append("")
            lines += [f"  NOT A RESULT: {path}: {p.impossible}" for path, p in bad]
        return self.fit.report() + "\n" + "\n".join(lines) + "\n"
