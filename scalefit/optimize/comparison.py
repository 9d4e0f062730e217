"""The optimised schedule against the usual ones: the best family member, cosine to the floor, linear to zero and
constant, each with its predicted final loss and interval."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scalefit.errors import ExtrapolationWarning
from scalefit.optimize.family import _fmt
from scalefit.optimize.objective import _law_of, _predict_final
from scalefit.optimize.optimizer import OptimizedSchedule


@dataclass(frozen=True)
class Baseline:
    """One row of the comparison table: a named schedule, its spec, LR and predicted final loss with interval."""

    name: str
    spec: str
    lr: np.ndarray = field(repr=False)
    final_loss: float
    lower: float
    upper: float

    def summary(self) -> dict[str, Any]:
        return {"schedule": self.name, "spec": self.spec, "final_loss": self.final_loss, "lower": self.lower,
                "upper": self.upper}


def baselines(fit_or_values: Any, opt: OptimizedSchedule, *, law: str | None = None,
              n_params: float | None = None, extra: tuple[tuple[str, str, np.ndarray], ...] = ()) -> list[Baseline]:
    """The optimised schedule against the best family member, cosine to the floor, linear to zero and constant,
    each with its predicted final loss and interval (same law, steps, peak and warmup), best first. ``extra``:
    more rows ``(name, spec, lr)``, e.g. the recommended family member when a tie was broken.

    An extrapolation warning (schedule beyond the fitted range) is emitted once for the whole table.
    """
    from scalefit import schedules

    law_name, values, law_options, fit = _law_of(fit_or_values, law)
    if n_params is None and fit is not None and fit.context.n_params:
        n_params = float(fit.context.n_params[-1])
    T, W, pk, fl = opt.lr.size, opt.warmup, opt.peak, opt.floor
    head = f"peak={_fmt(pk)},total={T},warmup={W}"
    rows: list[tuple[str, str, np.ndarray]] = [("optimized", "(per-step, --out)", opt.lr)]
    if opt.family is not None:
        rows.append(("best family", opt.family.best.spec, opt.family.best.lr))
    rows.extend(extra)
    for name, spec in ((f"cosine to {_fmt(fl)}", f"cosine:{head},final={_fmt(fl)}"),
                       ("linear to 0", f"linear:{head},final=0"),
                       ("constant", f"constant:{head}")):
        rows.append((name, spec, schedules.from_spec(spec)))
    out = []
    caught_msgs: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ExtrapolationWarning)
        for name, spec, lr in rows:
            loss, lo, hi = _predict_final(fit, law_name, values, law_options, lr, W, opt.interval, n_params, name)
            out.append(Baseline(name, spec, lr, loss, lo, hi))
    for w in caught:
        if issubclass(w.category, ExtrapolationWarning):
            caught_msgs.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if caught_msgs:
        first_msg = caught_msgs[0]
        reason = first_msg.split("extrapolates: ", 1)[-1].split(";", 1)[0]
        warnings.warn(f"{len(caught_msgs)} of {len(rows)} schedules in the comparison extrapolate beyond the fit "
                      f"({reason}); their intervals understate the error.", ExtrapolationWarning, stacklevel=2)
    return sorted(out, key=lambda b: b.final_loss)
