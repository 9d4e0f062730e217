"""How each part of a fit result's JSON is read back and checked (:func:`scalefit.results.codec.read` assembles
them): the law and its options, the parameters against their bounds and the recorded options, the covariance, the
metrics, curves, law error and notes, the law error present when keys written only with it are, and last whether
the whole predicts sensible losses. Every failure is one :class:`~scalefit.errors.ResultFileError` naming the file
and the key.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from scalefit.extrapolation import ExtrapolationError
from scalefit.law_error import LawError
from scalefit.metrics import RunMetrics
from scalefit.results.notes import Note
from scalefit.results.options import ERRORS, LOSSES, FitOptions
from scalefit.results.parts import Curve, FitContext, ParamEstimate
from scalefit.runs import MAX_STEPS  # the largest step a run file may hold: a fit saw none beyond it

if TYPE_CHECKING:
    from scalefit.results.fit_result import FitResult
    from scalefit.results.validate import Node


#: Keys whose absence changes what a result predicts, each with keys that only versions writing it write: a file
#: holding one of those lacks the key by damage, not by age (``law_error`` came in d6145c8, ``notes``, ``options`` and
#: ``prior`` in dad3c36). Other keys added over time (``errors``, ``variance_factor``, ``irreducible_loss``, ...)
#: only change the report, so a file without them reads as written before them.
WRITTEN_WITH: dict[str, tuple[str, ...]] = {"law_error": ("notes", "options", "prior")}


def check_written_with(root: Node) -> None:
    """A key of :data:`WRITTEN_WITH` is present when a key written only with it is."""
    for key, later in WRITTEN_WITH.items():
        found = [k for k in later if root.has(k)]
        if found and not root.has(key):
            raise root.doc.error(key, f"the key is missing, though the file has {found[0]!r}, which scalefit writes "
                                 "only together with it")


def read_law(root: Node) -> tuple[Any, dict[str, Any]]:
    """The law object the file names, built with its options (each option's JSON type checked)."""
    import inspect

    from scalefit.errors import ScalefitError
    from scalefit.laws import LAWS, get_law

    name = root["law"].text(choices=list(LAWS))
    signature = inspect.signature(LAWS[name].__init__).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.values())
    known = [k for k, p in signature.items() if k != "self" and p.kind is p.KEYWORD_ONLY]
    options: dict[str, Any] = {}
    for key, node in ([] if root.get("law_options") is None else root["law_options"].entries(
            keys=None if takes_any else known)):
        default = signature[key].default if key in signature else None
        read = {bool: node.flag, int: node.integer, float: node.number, str: node.text}.get(type(default))
        if read is None:
            node.check(type(node.value) in (bool, int, float, str), "expected a number, a string or true/false")
            options[key] = node.value
        else:
            options[key] = read()
    try:
        return get_law(name, **options), options
    except (ScalefitError, TypeError, ValueError) as exc:
        raise root["law_options"].fail(f"law {name} refuses these options: {exc}") from None


def read_options(node: Node, law: Any) -> FitOptions:
    names = law.names
    bounds = {k: read_pair(v, specials=("-inf", "inf")) for k, v in node["bounds"].entries(keys=names)}
    for k, (lo, hi) in bounds.items():
        node["bounds"][k].check(lo < hi, f"lower {lo:g} is not below upper {hi:g}")
    prior = None
    if node.get("prior") is not None:
        prior = {k: (v.number(positive=True) if type(v.value) is not list else read_pair(v, positive=True))
                 for k, v in node["prior"].entries(keys=names)}
    max_points = node.get("max_points")
    return FitOptions(
        seed=node["seed"].integer(), loss=node["loss"].text(choices=LOSSES), delta=node["delta"].number(positive=True),
        bounds=bounds, fixed={k: v.number() for k, v in node["fixed"].entries(keys=names)}, prior=prior,
        errors=node["errors"].text(choices=ERRORS), n_starts=node["n_starts"].integer(lo=1),
        n_local=node["n_local"].integer(lo=0), max_nfev=node["max_nfev"].integer(lo=1),
        max_points=None if max_points is None else max_points.integer(lo=2), law_error=node["law_error"].flag(),
        allow_mixed_sizes=False if node.get("allow_mixed_sizes") is None else node["allow_mixed_sizes"].flag(),
    )


def read_params(node: Node, law: Any, options: FitOptions | None) -> dict[str, ParamEstimate]:
    """Each parameter of the law, checked against its spec and the options the file records."""
    list(node.entries(keys=law.names))  # no parameter of another law
    out = {}
    for spec in law.params:
        p = node[spec.name]
        est = ParamEstimate(
            value=p["value"].number(), stderr=p["stderr"].number(lo=0.0, null=math.nan, specials=("nan",)),
            lower=p["lower"].number(specials=("-inf",)), upper=p["upper"].number(specials=("inf",)),
            at_bound=p["at_bound"].integer(lo=-1, hi=1), linear=p["linear"].flag(), fixed=p["fixed"].flag())
        p["linear"].check(est.linear == spec.linear, f"{spec.name} is {'' if spec.linear else 'not '}linear in law "
                          f"{law.name}")
        p.check(est.lower < est.upper, f"its bounds [{est.lower:g}, {est.upper:g}] are empty")
        asked = None if options is None else options.bounds.get(spec.name)
        if asked is not None:
            p.check(asked == (est.lower, est.upper), f"bounds [{est.lower:g}, {est.upper:g}], but the fit was asked "
                    f"for [{asked[0]:g}, {asked[1]:g}] (options.bounds)")
        pinned = None if options is None else options.fixed.get(spec.name)
        if pinned is not None:
            p.check(est.fixed and est.value == pinned, f"fixed at {pinned:g} by the options, but it holds "
                    f"{est.value:g} (fixed: {str(est.fixed).lower()})")
        tol = 1e-9 * max(1.0, abs(est.value))
        if not (est.lower - tol <= est.value <= est.upper + tol) and pinned is None:
            raise p["value"].fail(f"{est.value!r} lies outside its bounds [{est.lower:g}, {est.upper:g}]")
        out[spec.name] = est
    return out


def read_context(node: Node, law: Any) -> FitContext:
    """The fitted range: steps within ``MAX_STEPS``, LRs positive and ordered, sizes known for a size-aware law."""
    lr_max = node["lr_max"].number(positive=True)
    total = node.get("total_steps")
    sizes = node.get("n_params")
    floor = node.get("irreducible_loss")
    context = FitContext(
        max_step=node["max_step"].integer(lo=0, hi=MAX_STEPS - 1),
        max_s1=node["max_s1"].number(lo=0.0),
        lr_max=lr_max,
        lr_min=node["lr_min"].number(lo=0.0, hi=lr_max),
        warmup=node["warmup"].integer(lo=0, hi=MAX_STEPS - 1),
        n_params=() if sizes is None else tuple(float(x) for x in sizes.array(positive=True)),
        total_steps=() if total is None else tuple(int(x) for x in total.array(integer=True, lo=1, hi=MAX_STEPS)),
        irreducible_loss=None if floor is None else floor.number(positive=True),
        target="loss" if node.get("target") is None else node["target"].text(max_len=200),
        target_unit=None if node.get("target_unit") is None else node["target_unit"].text(max_len=200),
    )
    node.check(not law.size_aware or bool(context.n_params),
               f"law {law.name} needs the model sizes of the fitted runs, and 'n_params' is empty")
    last = max(context.total_steps, default=MAX_STEPS)
    node["max_step"].check(context.max_step < last, f"{context.max_step} lies beyond the fitted schedules "
                           f"(total_steps up to {last})")
    node["warmup"].check(context.warmup < last, f"{context.warmup} steps, as long as the fitted schedules ({last})")
    cap = lr_max * (context.max_step + 1)
    node["max_s1"].check(context.max_s1 <= cap * (1 + 1e-6), lambda: f"{context.max_s1:g} exceeds lr_max x steps = "
                         f"{cap:g}, though it is a sum of LRs")
    return context


def read_covariance(node: Node, params: dict[str, ParamEstimate]) -> np.ndarray | None:
    """None, or a symmetric positive semidefinite P x P matrix of finite numbers whose diagonal is the square of
    each parameter's stderr (0 where the stderr is NaN: a parameter on a bound, or fixed)."""
    if node.value is None:
        return None
    order = tuple(params)
    n = len(order)
    cov = np.array([row.array(length=n) for row in node.items(length=n)]).reshape(n, n)
    d = np.diag(cov)
    if np.any(d < 0):
        i = int(np.flatnonzero(d < 0)[0])
        raise node.doc.error(f"{node.key}[{i}][{i}]", f"the variance of {order[i]} is {float(d[i])!r}, negative")
    sd = np.sqrt(d)
    for i, name in enumerate(order):
        se = params[name].stderr
        want = se if math.isfinite(se) else 0.0
        if abs(sd[i] - want) > 1e-6 * max(sd[i], want):
            raise node.doc.error(f"{node.key}[{i}][{i}]", f"the variance {float(d[i])!r} of {name} disagrees with "
                                 f"its stderr {se!r} (params.{name}.stderr, whose square it is)")
    scale = np.outer(sd, sd)
    asym = np.abs(cov - cov.T) > 1e-6 * scale + 1e-300
    if asym.any():
        i, j = map(int, np.argwhere(asym)[0])
        raise node.doc.error(f"{node.key}[{i}][{j}]", f"{float(cov[i, j])!r} differs from [{j}][{i}] = "
                             f"{float(cov[j, i])!r}: a covariance matrix is symmetric")
    keep = sd > 0
    corr = cov[np.ix_(keep, keep)] / scale[np.ix_(keep, keep)]
    off = np.abs(cov) > scale * (1 + 1e-6) + 1e-300
    if off.any() or (corr.size and np.linalg.eigvalsh((corr + corr.T) / 2)[0] < -1e-6):
        raise node.fail("not positive semidefinite (a correlation beyond +-1, or a direction of negative variance): "
                        "not a covariance matrix")
    return cov


def read_metrics(node: Node) -> dict[str, RunMetrics]:
    import dataclasses

    out = {}
    for path, m in node.entries(min_len=1):
        values: dict[str, Any] = {}
        for f in dataclasses.fields(RunMetrics):
            if f.name == "n":
                values["n"] = m["n"].integer(lo=0)
            else:
                lo = 0.0 if f.name in ("mae", "rmse", "pred_e", "worst_e") else None
                values[f.name] = m[f.name].number(lo=lo, positive=f.name == "final_true", null=math.nan)
        out[path] = RunMetrics(**values)
    return out


def read_curve(node: Node) -> Curve:
    steps = node["steps"].array(integer=True, lo=0)
    n = steps.size
    node["steps"].check(bool(np.all(np.diff(steps) > 0)), "the steps do not strictly increase")
    return Curve(path=node["path"].text(), steps=steps, loss=node["loss"].array(length=n, positive=True),
                 fitted=node["fitted"].array(length=n))


def read_law_error(node: Node) -> LawError:
    node["scale"].number(lo=0.0)
    if node.has("seconds"):
        node["seconds"].number(lo=0.0)
    if node.has("model"):
        node["model"].text()
    if node.has("skipped"):
        node["skipped"].texts()
    for fold in node["folds"].items():
        fold["fold"].text(), fold["path"].text(), fold["rel_error"].number(), fold["horizon"].number(positive=True)
    try:
        return LawError.from_dict(node.value)
    except (KeyError, TypeError, ValueError) as exc:
        raise node.fail(str(exc)) from None


def read_size_error(node: Node, law: Any, options: FitOptions | None) -> ExtrapolationError:
    """A size-aware fit's error at another model size (:class:`~scalefit.extrapolation.ExtrapolationError`): of a
    size-aware law fitted with the law error, each key of its JSON type, and the whole consistent (``from_dict``:
    scale and its folds, dof, bias, the reference rule when not measured)."""
    node.check(bool(law.size_aware), f"law {law.name} ignores model size, and only a size-aware law's fit has a "
               "size error")
    if options is not None:
        node.check(options.law_error, "present, though the options record law_error false (it is measured only "
                   "with it)")
    node["kind"].text(choices=("size",))
    node["scale"].number(lo=0.0)
    node["measured"].flag()
    for key in ("note", "seconds", "dof", "bias", "skipped"):
        if node.get(key) is not None:
            {"note": lambda n: n.text(), "seconds": lambda n: n.number(lo=0.0), "dof": lambda n: n.integer(lo=0),
             "bias": lambda n: n.number(), "skipped": lambda n: n.texts()}[key](node[key])
    for fold in node["folds"].items():
        fold["fold"].text(), fold["path"].text(), fold["rel_error"].number(), fold["distance"].number(lo=0.0)
    try:
        return ExtrapolationError.from_dict(node.value)
    except (KeyError, TypeError, ValueError) as exc:
        raise node.fail(str(exc)) from None


def read_note(node: Node) -> Note:
    node["kind"].text(), node["message"].text()
    if node.get("warning") is not None:
        node["warning"].text()
    if node.get("data") is not None:
        list(node["data"].entries())
    try:
        return Note.from_dict(node.value)
    except (KeyError, TypeError, ValueError) as exc:
        raise node.fail(str(exc)) from None


def read_pair(node: Node, **rule: Any) -> tuple[float, float]:
    a, b = node.items(length=2)
    return a.number(**rule), b.number(**rule)


def check_predicts(result: FitResult, root: Node) -> None:
    """What is left when every value is in range but together they are nonsense (``L0 = 1e308``): over its own
    fitted range (a constant schedule at its peak LR, and a linear decay from it to 0), the result must predict a
    finite loss of the size of the losses it saw, and where that loss is > 0 an interval of finite bounds. A FAILED
    fit is exempt: scalefit wrote it knowing it describes nothing, and its predictions are flagged, not results."""
    import warnings

    from scalefit.errors import ScalefitError
    from scalefit.results.parts import FitStatus

    if result.status is FitStatus.FAILED:
        return
    ctx = result.context
    seen = [float(np.max(c.loss)) for c in result.curves if c.loss.size]
    seen += [m.final_true for m in result.metrics.values() if math.isfinite(m.final_true)]
    scale = max(seen, default=math.nan)
    floor = result.params.get("L0")
    if floor is not None and floor.value > 2 * scale:
        raise root["params"]["L0"]["value"].fail(f"{floor.value!r} lies above every loss the fit saw (at most "
                                                 f"{scale:.4g}), but L0 is the loss floor the curve falls toward")
    total = max(ctx.total_steps) if ctx.total_steps else ctx.max_step + 1
    steps = int(min(max(total, 2), 20_000))
    warmup = min(ctx.warmup, steps // 2)
    constant = np.full(steps, ctx.lr_max)
    decay = constant.copy()
    decay[warmup:] = np.linspace(ctx.lr_max, 0.0, steps - warmup)
    for label, lr in (("a constant", constant), ("a linear decay", decay)):
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                p = result.predict(lr, warmup=warmup, at=np.array([steps - 1]), interval=0.9)
            except (ScalefitError, ArithmeticError, ValueError) as exc:
                raise root.doc.error("params", f"the fit cannot predict {label} schedule ({exc})") from None
        loss, lower, upper = p.final_loss, float(p.lower[-1]), float(p.upper[-1])
        where = f"on {label} schedule of {steps} steps at the fitted peak LR {ctx.lr_max:g}"
        if not math.isfinite(loss) or (math.isfinite(scale) and abs(loss) > 100 * scale):
            raise root.doc.error("params", f"the parameters predict a loss of {loss:.4g} {where}, though the fit saw "
                                 f"losses up to {scale:.4g}")
        if loss > 0 and not (math.isfinite(lower) and math.isfinite(upper)):
            key = "covariance" if result.covariance is not None else "law_error"
            raise root.doc.error(key, f"the interval of the loss {where} is [{lower:.4g}, {upper:.4g}]")
