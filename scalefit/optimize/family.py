"""The family search: the best WSD (cooldown length x shape x final LR), cosine (final LR), step drop (position x
level) and constant schedule under an objective; the start of the optimizer's local search."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from scalefit.optimize.objective import _LOW


@dataclass(frozen=True)
class FamilyMember:
    """One evaluated member of a schedule family: its spec (reproduces ``lr`` through ``schedules.from_spec``),
    the per-step LR and the objective (predicted loss, exact)."""

    spec: str
    lr: np.ndarray = field(repr=False)
    objective_value: float


@dataclass(frozen=True)
class FamilySearch:
    """The best member of each family and every member evaluated (spec, objective), best first."""

    best: FamilyMember
    best_by_family: dict[str, FamilyMember]
    evaluated: tuple[tuple[str, float], ...]
    seconds: float


def _shortest(exact: float, ok: Callable[[float], bool]) -> str:
    """The shortest ``%g`` text of ``exact`` (increasing precision) whose value passes ``ok``; else ``repr``."""
    for p in range(1, 18):
        s = f"{exact:.{p}g}"
        if ok(float(s)):
            return s
    return repr(exact)


def _fmt(x: float) -> str:
    """Shortest decimal text of x that reads back as exactly x."""
    return _shortest(x, lambda v: v == x)


def _decay_text(n_cool: int, total: int) -> str:
    """A short decay fraction that gives exactly ``n_cool`` cooldown steps in ``schedules.wsd``."""
    return _shortest(n_cool / total, lambda v: max(1, int(math.floor(v * total + 0.5))) == n_cool and v <= 1.0)


def _milestone_text(step: int, total: int) -> str:
    """A short fraction m in (0, 1) that puts a ``schedules.multistep`` milestone exactly at ``step``."""
    return _shortest(step / total, lambda v: 0.0 < v < 1.0 and int(math.floor(v * total + 0.5)) == step)


def _factor_text(level: float, peak: float, floor: float) -> str:
    """A short factor f in (0, 1] with ``peak * f`` within 0.1% of ``level`` and never below ``floor``."""
    exact = level / peak
    return _shortest(exact, lambda f: 0.0 < f <= 1.0 and peak * f >= floor and abs(f - exact) <= 1e-3 * exact)


def _search_int(ev: Callable[[int], float], lo: int, hi: int, n_grid: int) -> int:
    """Minimise ``ev`` over the integers in [lo, hi]: ``n_grid`` evenly spaced points, then golden-section search
    between the neighbours of the best one (the objective is assumed unimodal there)."""
    grid = np.unique(np.round(np.linspace(lo, hi, n_grid)).astype(np.int64))
    vals = [ev(int(k)) for k in grid]
    i = int(np.argmin(vals))
    a, b = int(grid[max(i - 1, 0)]), int(grid[min(i + 1, grid.size - 1)])
    while b - a > 3:
        m1 = a + int(round((b - a) * 0.381966))
        m2 = b - int(round((b - a) * 0.381966))
        if m1 == m2:
            m2 += 1
        if ev(m1) <= ev(m2):
            b = m2
        else:
            a = m1
    return min([*range(a, b + 1), int(grid[i])], key=ev)


def family_search(
    objective: Callable[[np.ndarray, bool], tuple[float, np.ndarray | None]],
    *,
    steps: int,
    peak: float,
    warmup: int,
    floor: float = 0.0,
    shapes: tuple[str, ...] = ("linear", "cosine", "1-sqrt", "exp"),
    n_grid: int = 40,
) -> FamilySearch:
    """Search WSD cooldown fraction x shape, the final LR of a cosine and a step drop under ``objective``.

    WSD members end at ``floor``, ``peak/100`` or ``peak/10`` (the latter two raised to the floor; ``exp`` only at
    a final LR > 0, since an exponential never reaches 0); for each, the cooldown length is searched on ``n_grid``
    lengths in [1, T - W], then refined step by step around the best one by golden-section search over the integer
    cooldown length. The cosine's final LR is searched in ``[floor, peak/2]`` (bounded Brent). The step family
    (``multistep`` with one milestone) holds the peak, then drops in one step to a level held to the end: the
    lowest LR searched (``max(floor, 1e-9 peak)``, see :func:`optimize_schedule`), ``peak/100`` or ``peak/10``,
    its position searched like a cooldown length. Laws fitted with a saturating loss drop (MPL with beta or gamma
    at a bound) are minimised by such a drop, which no smooth family nor a local search from one reaches. The
    constant schedule is a member too. Every member is built from its spec string, so the reported spec
    reproduces the evaluated schedule. Cost: ~60 objective evaluations per family, each cheap (only nonzero
    decrements are evaluated).
    """
    from scipy.optimize import minimize_scalar

    from scalefit import schedules

    t0 = time.perf_counter()
    evaluated: dict[str, tuple[float, np.ndarray]] = {}
    finals = sorted({floor, max(floor, peak / 100.0), max(floor, peak / 10.0)})

    def ev(spec: str) -> float:
        if spec not in evaluated:
            lr = schedules.from_spec(spec)
            evaluated[spec] = (float(objective(lr, False)[0]), lr)
        return evaluated[spec][0]

    def keep(name: str, spec: str) -> None:
        if name not in best or evaluated[spec][0] < best[name].objective_value:
            best[name] = FamilyMember(spec, evaluated[spec][1], evaluated[spec][0])

    head = f"peak={_fmt(peak)},total={steps},warmup={warmup}"
    best: dict[str, FamilyMember] = {}
    n_max = steps - warmup  # longest cooldown after the warmup
    for shape, final in ((sh, fv) for sh in shapes for fv in finals):
        if shape == "exp" and final <= 0:
            continue
        tail = f",shape={shape}" + (f",final={_fmt(final)}" if final > 0 else "")

        def wsd_spec(n_cool: int, tail: str = tail) -> str:
            return f"wsd:{head},decay={_decay_text(int(n_cool), steps)}{tail}"

        n_cool = _search_int(lambda k, spec_of=wsd_spec: ev(spec_of(k)), 1, n_max, n_grid)
        keep(f"wsd-{shape}", wsd_spec(n_cool))
    # step drop: peak until step k (>= max(W, 1)), then `level` to the end
    low = max(floor, _LOW * peak)
    for level in sorted({low, max(low, peak / 100.0), max(low, peak / 10.0)}):
        factor = _factor_text(level, peak, floor)

        def step_spec(k: int, factor: str = factor) -> str:
            return f"multistep:{head},milestones={_milestone_text(int(k), steps)},factor={factor}"

        k = _search_int(lambda k, spec_of=step_spec: ev(spec_of(k)), max(warmup, 1), steps - 1, n_grid)
        keep("step", step_spec(k))
    # cosine with a searched final LR
    hi_final = peak / 2.0
    cos_spec = lambda fin: f"cosine:{head},final={_fmt(float(fin))}"  # noqa: E731
    grid_f = [floor] + [floor + (hi_final - floor) * q for q in (0.01, 0.03, 0.1, 0.2, 0.4, 0.7, 1.0)]
    vals = [ev(cos_spec(fv)) for fv in grid_f]
    i = int(np.argmin(vals))
    a, b = grid_f[max(i - 1, 0)], grid_f[min(i + 1, len(grid_f) - 1)]
    if b > a:
        r = minimize_scalar(lambda fv: ev(cos_spec(float(np.format_float_positional(fv, 3, fractional=False)))),
                            bounds=(a, b), method="bounded", options={"xatol": peak * 1e-4, "maxiter": 40})
        cands = [cos_spec(float(np.format_float_positional(r.x, 3, fractional=False))), cos_spec(grid_f[i])]
    else:
        cands = [cos_spec(grid_f[i])]
    keep("cosine", min(cands, key=ev))
    spec = f"constant:{head}"
    ev(spec)
    keep("constant", spec)
    overall = min(best.values(), key=lambda m: m.objective_value)
    ranked = tuple(sorted(((s, v[0]) for s, v in evaluated.items()), key=lambda t: t[1]))
    return FamilySearch(best=overall, best_by_family=best, evaluated=ranked, seconds=time.perf_counter() - t0)
