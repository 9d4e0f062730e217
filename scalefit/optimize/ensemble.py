"""The laws the data cannot tell apart: refits of a fit at other loss-drop shapes, and their mean as an objective.

Why
---
Runs without sharp cooldowns (a constant and a cosine run, the usual recipe) do not determine how fast the loss
follows an LR drop: MPL's C, beta and gamma. The default prior holds them at one guess (1, 0.5, 0.5), and a
schedule optimised under that one guess buys its errors: on the bundled tiny runs the fit with the prior predicts
a 600-step WSD cooldown 0.016 below cosine at 3,000 steps, where it realised 0.004 below, and refits with gamma and
beta held elsewhere fit the same runs as well (objective within 5%) and predict 0.001 to 0.030
(``benchmarks/RESULTS.md``, closed loop). :func:`shape_ensemble` refits the law's amplitudes with its drop shape
held at a grid around the fit's (beta x {0.6, 1, 1.6}, gamma x {0.6, 1, 1.4}, C as fitted: 9 fits) and keeps the
shapes whose fit objective is within :data:`TOLERANCE` of the best one; :func:`ensemble_objective` is the mean of
their predicted losses. A law without a drop shape (Tissue), or a fit whose runs cannot be read again, gives an
ensemble of the fit alone (the reason is kept in ``note``).

The runs are found from the fit itself: the paths it names (``FitResult.metrics``), read with the target column
whose data hash matches the fit's (``FitResult.data_hash``), so an ensemble is never built from other data.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Multipliers of the fit's loss-drop shape in the refit grid (beta, gamma); C stays as fitted.
GRID = {"beta": (0.6, 1.0, 1.6), "gamma": (0.6, 1.0, 1.4)}
#: A shape is kept when its fit objective is at most (1 + TOLERANCE) x the best one's. On the bundled tiny runs
#: (constant + cosine) all 9 shapes lie within 5%: the runs cannot tell them apart.
TOLERANCE = 0.10
#: Nonlinear starts of each refit (the fit's own count when lower): the shape is held, 4 parameters remain.
REFIT_STARTS = 16


@dataclass(frozen=True)
class LawEnsemble:
    """Parameter sets of one law that fit the same runs, each with a weight (summing to 1).

    ``shapes[i] == "as fitted"`` marks the fit itself (left out when the runs fit other shapes much better).
    ``shapes`` names each member's drop shape, ``objectives`` its fit
    objective; ``dropped`` lists the grid shapes left out (their objective too high) and ``note`` says how the
    ensemble was built (or why it holds the fit alone).
    """

    law: str
    law_options: dict[str, Any]
    members: tuple[dict[str, float], ...]
    weights: np.ndarray = field(repr=False)
    shapes: tuple[str, ...] = ()
    objectives: tuple[float, ...] = ()
    dropped: tuple[str, ...] = ()
    note: str = ""

    @property
    def size(self) -> int:
        return len(self.members)

    def summary(self) -> dict[str, Any]:
        return {"law": self.law, "members": [dict(m) for m in self.members], "weights": self.weights.tolist(),
                "shapes": list(self.shapes), "objectives": list(self.objectives), "dropped": list(self.dropped),
                "note": self.note}

    def text(self) -> str:
        if self.size == 1:
            return f"the fit alone ({self.note})" if self.note else "the fit alone"
        return (f"mean over {self.size} refits at loss-drop shapes the runs cannot tell apart "
                f"({'; '.join(self.shapes)})")


def single(fit_or_values: Any, note: str = "", law: str | None = None) -> LawEnsemble:
    """The ensemble of one parameter set (a FitResult or a mapping of values)."""
    from scalefit.optimize.objective import _law_of

    name, values, options, _ = _law_of(fit_or_values, law)
    return LawEnsemble(name, options, (values,), np.ones(1), ("as fitted",), (), (), note)


def fitted_runs(fit: Any) -> tuple[list[Any] | None, str]:
    """The runs ``fit`` was fitted on, read again from the paths it names with the target column whose data hash
    matches; ``(None, why)`` when they cannot be found."""
    from scalefit.fitting import data_hash
    from scalefit.readers import read_runs

    paths = list(fit.metrics)
    if not paths:
        return None, "the fit names no runs"
    columns = ["loss", "val_loss"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            first = read_runs([paths[0]])
            columns += [c for c in first[0].extra if c not in columns]
        except Exception as exc:  # noqa: BLE001 - any reader failure means: not readable here
            return None, f"its runs are not readable here ({type(exc).__name__}: {exc})"
        for target in columns:
            try:
                runs = read_runs(paths, target=target)
            except Exception:  # noqa: BLE001 - a column that is not numeric everywhere is not the target
                continue
            if data_hash(runs) == fit.data_hash:
                return runs, ""
    return None, "its runs have changed since the fit (data hash differs) or were read with other options"


def shape_ensemble(fit: Any, runs: Sequence[Any] | None = None) -> LawEnsemble:
    """The fit and its refits at a grid of loss-drop shapes (module docstring), those within TOLERANCE kept.

    ``runs`` defaults to :func:`fitted_runs`. Cost: 8 fits with the shape held (~0.3 s each on the bundled runs).
    """
    from scalefit.fitting import fit as fit_fn
    from scalefit.laws import get_law

    law = get_law(fit.law, **dict(fit.law_options))
    shape = [n for n in ("beta", "gamma") if n in law.drop_shape and n in fit.params and not fit.params[n].fixed]
    if not shape:
        return single(fit, f"law {fit.law} has no loss-drop shape to vary")
    if runs is None:
        runs, why = fitted_runs(fit)
        if runs is None:
            return single(fit, why)
    specs = {p.name: p for p in law.params}
    held = {n: fit.params[n].value for n in law.drop_shape if n in fit.params and n not in shape}
    base = fit.options.kwargs(law_error=False) if fit.options is not None else {"law_error": False}
    base["n_starts"] = min(int(base.get("n_starts", REFIT_STARTS)), REFIT_STARTS)
    base.pop("prior", None)
    fixed = dict(base.pop("fixed", {}) or {})
    members, shapes, objectives = [dict(fit.values)], ["as fitted"], [float(fit.objective_value)]
    for mults in itertools.product(*(GRID[n] for n in shape)):
        if all(m == 1.0 for m in mults):
            continue
        at = {n: float(np.clip(fit.params[n].value * m, specs[n].lower, specs[n].upper)) for n, m in zip(shape, mults)}
        prior = {n: (v, 0.01) for n, v in {**held, **at}.items() if v > 0}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                res = fit_fn(list(runs), fit.law, prior=prior, fixed=fixed, **base, **dict(fit.law_options))
            except Exception:  # noqa: BLE001 - a shape the fitter cannot handle is left out, as a worse fit
                continue
        members.append(dict(res.values))
        shapes.append(" ".join(f"{n} {at[n]:.3g}" for n in shape))
        objectives.append(float(res.objective_value))
    best = min(objectives)
    keep = [i for i, o in enumerate(objectives) if o <= best * (1.0 + TOLERANCE)]  # the fit too, when the runs
    # contradict its shape (with the bundled tiny WSD and step runs in the fit, the prior's shape fits 1.36x worse)
    dropped = tuple(f"{shapes[i]} (objective {objectives[i] / best:.2f}x the best)"
                    for i in range(len(objectives)) if i not in keep)
    w = np.full(len(keep), 1.0 / len(keep))
    return LawEnsemble(fit.law, dict(fit.law_options), tuple(members[i] for i in keep), w,
                       tuple(shapes[i] for i in keep), tuple(objectives[i] for i in keep), dropped,
                       f"{len(keep)} of {len(objectives)} shapes within {TOLERANCE:.0%} of the best fit objective")


def ensemble_objective(ens: LawEnsemble, *, steps: int, warmup: int, index: np.ndarray,
                       n_params: float | None = None) -> Callable[[np.ndarray, bool], tuple[float, Any]]:
    """``f(lr, grad)``: the weighted mean over the members of :func:`~scalefit.optimize.make_objective`."""
    from scalefit.optimize.objective import make_objective

    fs = [make_objective(ens.law, m, steps=steps, warmup=warmup, index=index, law_options=ens.law_options,
                         n_params=n_params) for m in ens.members]
    if len(fs) == 1:
        return fs[0]
    w = ens.weights

    def f(lr: np.ndarray, grad: bool = True) -> tuple[float, Any]:
        out = [fi(lr, grad) for fi in fs]
        value = float(sum(wi * o[0] for wi, o in zip(w, out)))
        return value, (sum(wi * o[1] for wi, o in zip(w, out)) if grad else None)

    return f


def member_losses(ens: LawEnsemble, lr: np.ndarray, *, warmup: int, n_params: float | None = None) -> np.ndarray:
    """(members,) each member's predicted loss at the last step of ``lr``."""
    from scalefit.laws import get_law

    law = get_law(ens.law, **dict(ens.law_options))
    return np.array([law.final_loss_and_grad(m, lr, warmup=warmup, n_params=n_params, grad=False)[0]
                     for m in ens.members])
