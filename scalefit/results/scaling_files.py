"""Checks of the hyperparameter-law and scaling-law JSON (``scalefit.hparams/1``, ``scalefit.scaling/1``) that
``scalefit plan`` reads back, for their readers to call before they build a result from the file.

:func:`load_hparams` and :func:`load_scaling` parse a file as :func:`scalefit.results.validate.load_json` does
(NaN, huge integers, deep nesting, other schemas refused) and check every value the plan uses: JSON types, finite
numbers, positive coefficients and ranges, parameters inside their law's bounds, bootstrap draws of the right
width, and that the laws give finite values at the corners of their fitted range. They return the checked object
(a dict), so a reader's ``d = read_json(path, schema=...)`` becomes ``d = load_hparams(path)``. A damaged file is
one :class:`~scalefit.errors.ResultFileError` line naming the file and the key.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from scalefit.results.validate import Doc, Node, load_json

#: Each hyperparameter-law form: the variables of its lr and batch-size power laws (N params, D tokens, C flops).
FORMS: dict[str, dict[str, tuple[str, ...]]] = {
    "steplaw": {"lr": ("N", "D"), "batch_size": ("D",)},
    "deepseek": {"lr": ("C",), "batch_size": ("C",)},
}
#: The range key of each variable.
RANGE_KEYS = {"N": "params", "D": "tokens", "C": "flops"}
#: exp() of a log-space value above this overflows float64.
_LOG_MAX = 700.0
#: What a law may give at the corners of the range it was fitted on (wider would be nonsense in any unit scalefit
#: reads): a peak LR, a batch size in tokens, a loss (nats, bits, or the perplexity of a vocabulary up to 1e6).
PLAUSIBLE = {"lr": (1e-12, 10.0), "batch_size": (1.0, 1e13), "loss": (0.0, 1e6)}


def load_hparams(path: str | Path, forms: Mapping[str, Mapping[str, Sequence[str]]] = FORMS) -> dict[str, Any]:
    """The checked ``scalefit.hparams/1`` object of ``path`` (see the module docstring)."""
    root = load_json(path, "scalefit.hparams", doc=Doc(path, "hyperparameter-law result",
                                                       "Re-run scalefit hparams --out."))
    check_hparams(root, forms)
    return root.value


def load_scaling(path: str | Path, laws: Mapping[str, Any], default: str = "chinchilla") -> dict[str, Any]:
    """The checked ``scalefit.scaling/1`` object of ``path``.

    ``laws`` maps each loss-law name to an object with ``params`` (ParamSpec-like: ``name``, ``lower``,
    ``upper``) and optionally ``loss(values, N, D)``; a file without a ``law`` key holds ``default``.
    """
    root = load_json(path, "scalefit.scaling", doc=Doc(path, "scaling-law result", "Re-run scalefit scaling --out."))
    name = default if root.get("law") is None else root["law"].text(choices=list(laws))
    law = laws[name]
    check_scaling(root, [p.name for p in law.params], {p.name: (p.lower, p.upper) for p in law.params},
                  getattr(law, "loss", None))
    return root.value


def check_hparams(root: Node, forms: Mapping[str, Mapping[str, Sequence[str]]] = FORMS) -> None:
    """Check a loaded ``scalefit.hparams`` object (raises the file's ResultFileError naming the key)."""
    form = root["form"].text(choices=list(forms))
    laws = {"lr": root["lr"]}
    if root.get("batch_size") is not None:
        laws["batch_size"] = root["batch_size"]
    ranges = _ranges(root["range"])
    for name, node in laws.items():
        variables = tuple(forms[form][name])
        for var in variables:
            root["range"][RANGE_KEYS[var]]  # raises when the variable's range is missing
        _power_law(node, variables, [ranges[RANGE_KEYS[v]] for v in variables], PLAUSIBLE[name])
    root["tol"].number(positive=True, hi=1.0)
    n_runs = root["n_runs"].integer(lo=1)
    root["n_runs_used"].integer(lo=0, hi=n_runs)
    _optional(root, "seed", lambda n: n.integer())
    _optional(root, "messages", lambda n: n.texts())
    _optional(root, "cells", lambda n: [_plain_numbers(c) for c in n.items()])
    _optional(root, "holdout", _plain_numbers)
    _optional(root, "status", lambda n: n.text())
    _optional(root, "notes", _notes)
    _optional(root, "diagnostics", _notes)


def check_scaling(root: Node, names: Sequence[str], bounds: Mapping[str, tuple[float, float]] | None = None,
                  loss: Callable[[Mapping[str, float], float, float], Any] | None = None) -> None:
    """Check a loaded ``scalefit.scaling`` object whose law has parameters ``names`` (inside ``bounds``); with
    ``loss``, the law must give a loss in ``PLAUSIBLE["loss"]`` at the four corners of the fitted (params, tokens)
    range."""
    values = {}
    for name in names:
        lo, hi = (bounds or {}).get(name, (None, None))
        values[name] = root[name].number(lo=lo, hi=hi)
    for _, se in root["stderr"].entries():
        se.number(lo=0.0, null=math.nan, specials=("nan",))
    draws = [] if root.get("bootstrap") is None else root["bootstrap"].items()
    for row in draws:
        row.array(length=len(names))
    if draws and root.get("bootstrap_order") is not None:  # the order of the draws' columns
        order = root["bootstrap_order"].texts()
        root["bootstrap_order"].check(list(order) == list(names), f"{', '.join(order)} are not the law's "
                                      f"parameters ({', '.join(names)})")
    root["objective"].number()
    root["n_points"].integer(lo=1)
    ranges = _ranges(root["range"])
    _optional(root, "method", lambda n: n.text())
    _optional(root, "n_starts", lambda n: n.integer(lo=0))
    _optional(root, "seed", lambda n: n.integer())
    _optional(root, "seconds", lambda n: n.number(lo=0.0))
    _optional(root, "messages", lambda n: n.texts())
    _optional(root, "residuals", lambda n: n.array())
    _optional(root, "status", lambda n: n.text())
    _optional(root, "notes", _notes)
    _optional(root, "diagnostics", _notes)
    _optional(root, "extrapolation", _plain_numbers)
    _optional(root, "optimal_exponents", _plain_numbers)
    if loss is None or "params" not in ranges or "tokens" not in ranges:
        return
    for N, D in itertools.product(ranges["params"], ranges["tokens"]):
        with np.errstate(all="ignore"):
            value = float(np.asarray(loss(values, N, D)).ravel()[0])
        if not (math.isfinite(value) and PLAUSIBLE["loss"][0] < value < PLAUSIBLE["loss"][1]):
            shown = ", ".join(f"{k} = {v:.4g}" for k, v in values.items())
            raise root.doc.error("", f"the law's parameters ({shown}) give a loss of {value:.4g} at N = {N:.3g}, "
                                 f"D = {D:.3g}, a corner of the fitted range, outside {PLAUSIBLE['loss']}")


def _optional(root: Node, key: str, read: Callable[[Node], Any]) -> None:
    node = root.get(key)
    if node is not None:
        read(node)


def _ranges(node: Node) -> dict[str, tuple[float, float]]:
    """``range``: params, tokens and/or flops, each [lo, hi] with 0 < lo <= hi."""
    out = {}
    for key, pair in node.entries(keys=tuple(RANGE_KEYS.values())):
        lo, hi = (x.number(positive=True) for x in pair.items(length=2))
        pair.check(lo <= hi, f"[{lo:g}, {hi:g}] is not a range")
        out[key] = (lo, hi)
    return out


def _power_law(node: Node, variables: tuple[str, ...], ranges: list[tuple[float, float]],
               plausible: tuple[float, float]) -> None:
    """``value = coef * prod(x ** exponent)``: coef > 0, one finite exponent per variable, intervals and bootstrap
    draws (ln coef, then the exponents) finite, and values inside ``plausible`` at the corners of the fitted range
    (bootstrap draws: finite there)."""
    coef = node["coef"].number(positive=True)
    exps = dict(node["exponents"].entries(keys=variables))
    for var in variables:
        node["exponents"][var]  # raises when an exponent is missing
    b = np.array([exps[v].number() for v in variables])
    for _, pair in node["ci"].entries(keys=("coef", *variables)):
        lo, hi = (x.number(null=math.nan) for x in pair.items(length=2))
        pair.check(not (lo > hi), f"[{lo:g}, {hi:g}] is not an interval")
    _optional(node, "ci_level", lambda n: n.number(positive=True, hi=1.0))
    draws = np.zeros((0, 1 + len(variables)))
    if node.get("bootstrap") is not None:
        rows = [row.array(length=1 + len(variables)) for row in node["bootstrap"].items()]
        draws = np.array(rows).reshape(len(rows), 1 + len(variables))
    logs = np.log(np.array(list(itertools.product(*ranges))))  # (corners, k)
    with np.errstate(all="ignore"):
        at = math.log(coef) + logs @ b
        at_draws = draws[:, :1] + draws[:, 1:] @ logs.T  # (n_boot, corners)
    lo, hi = plausible
    if not np.all((at > math.log(lo)) & (at < math.log(hi))):
        value = float(np.exp(np.clip(at[np.argmax(np.abs(at - math.log(math.sqrt(lo * hi))))], -_LOG_MAX, _LOG_MAX)))
        raise node.fail(f"the law gives {value:.3g} at a corner of its fitted range, outside [{lo:g}, {hi:g}] "
                        f"(coef {coef:g}, exponents {', '.join(f'{v}={x:g}' for v, x in zip(variables, b))})")
    if at_draws.size and not np.all(np.abs(at_draws) < _LOG_MAX):
        raise node["bootstrap"].fail("a bootstrap draw's value at a corner of the fitted range overflows")


def _notes(node: Node) -> None:
    """Typed notes (:class:`scalefit.results.Note`): kind and message strings, a warning name or null, data."""
    for note in node.items():
        note["kind"].text(), note["message"].text()
        _optional(note, "warning", lambda n: n.text())
        _optional(note, "data", lambda n: list(n.entries()))


def _plain_numbers(node: Node) -> None:
    """An object whose values are strings, numbers, null or lists of numbers (finite; null reads as NaN)."""
    for _, value in node.entries():
        if type(value.value) is list:
            value.array(null=math.nan)
        elif type(value.value) is not str:
            value.number(null=math.nan)
