"""Schedule constructors: per-step LR arrays (constant, cosine, linear, WSD, multi-step, cyclic, inverse-sqrt) with a
linear warmup, vectorised and O(total); and the checks that name the key, the value, the rule and the fix."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from scalefit.errors import ScheduleSpecError


#: Cooldown shapes of :func:`wsd`.
WSD_SHAPES = ("linear", "cosine", "1-sqrt", "exp")


# ---------------------------------------------------------------------------------------------------------
# validation helpers (raise ScheduleSpecError naming the key, the value, the rule and the fix)
# ---------------------------------------------------------------------------------------------------------
def _bad(key: str, value: Any, rule: str, fix: str) -> ScheduleSpecError:
    return ScheduleSpecError(f"{key}={value!r} {rule}. {fix}", column=key, value=value)


def _as_int(key: str, value: Any) -> int:
    try:
        as_float = float(value)
    except (TypeError, ValueError):
        raise _bad(key, value, "is not a number", f"Give {key} as a whole number, e.g. {key}=1000.") from None
    if not math.isfinite(as_float) or as_float != int(as_float):
        raise _bad(key, value, "must be a whole number", f"Give {key} as a whole number, e.g. {key}=1000.")
    return int(as_float)


def _as_float(key: str, value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise _bad(key, value, "is not a number", f"Give {key} as a number, e.g. {key}=3e-4.") from None
    if not math.isfinite(out):
        raise _bad(key, value, "must be finite", f"Give {key} as a finite number, e.g. {key}=3e-4.")
    return out


def _common(peak: Any, total: Any, warmup: Any) -> tuple[float, int, int]:
    peak_f = _as_float("peak", peak)
    if peak_f <= 0:
        raise _bad("peak", peak, "must be > 0", "Give the peak learning rate, e.g. peak=3e-4.")
    total_i = _as_int("total", total)
    if total_i < 1:
        raise _bad("total", total, "must be >= 1", "Give the number of training steps, e.g. total=10000.")
    warmup_i = _as_int("warmup", warmup)
    if warmup_i < 0:
        raise _bad("warmup", warmup, "must be >= 0", "Use warmup=0 for no warmup.")
    if warmup_i >= total_i:
        raise _bad(
            "warmup",
            warmup,
            f"must be < total={total_i} (at least one step must follow the warmup)",
            f"Lower warmup or raise total, e.g. warmup={max(total_i // 10, 0)}.",
        )
    return peak_f, total_i, warmup_i


def _final(final: Any, peak: float) -> float:
    final_f = _as_float("final", final)
    if final_f < 0 or final_f > peak:
        raise _bad(
            "final",
            final,
            f"must be in [0, peak={peak:g}] (it is the absolute LR of the last step)",
            f"e.g. final={peak / 10:g} for a tenth of the peak.",
        )
    return final_f


# ---------------------------------------------------------------------------------------------------------
# building blocks
# ---------------------------------------------------------------------------------------------------------
def warmup_ramp(peak: float, warmup: int) -> np.ndarray:
    """Linear warmup ``peak * (s + 1) / warmup`` for ``s = 0 .. warmup-1``, shape (warmup,); ends at ``peak``."""
    ramp = peak * np.arange(1, warmup + 1, dtype=np.float64) / warmup  # (warmup,)
    if warmup > 0:
        ramp[-1] = peak  # exact, whatever the rounding of peak * warmup / warmup
    return ramp


def _with_warmup(lr: np.ndarray, peak: float, warmup: int) -> np.ndarray:
    if warmup > 0:
        lr[:warmup] = warmup_ramp(peak, warmup)
    return lr


def _shape_factor(p: np.ndarray, shape: str) -> np.ndarray:
    """Fraction of the way from ``final`` (0) to ``peak`` (1) at decay progress ``p`` in [0, 1]."""
    if shape == "linear":
        return 1.0 - p
    if shape == "cosine":
        return 0.5 * (1.0 + np.cos(np.pi * p))
    if shape == "1-sqrt":
        return 1.0 - np.sqrt(p)
    raise _bad("shape", shape, f"is not one of {', '.join(WSD_SHAPES)}", "e.g. shape=1-sqrt.")


def _anchored_decay(peak: float, final: float, total: int, anchor: int, shape: str) -> np.ndarray:
    """``peak`` up to step ``anchor``, then a decay of ``shape`` reaching ``final`` at the last step."""
    s = np.arange(total, dtype=np.float64)  # (T,)
    span = total - 1 - anchor
    p = np.clip((s - anchor) / span, 0.0, 1.0) if span > 0 else np.zeros(total)  # (T,) progress in [0, 1]
    if shape == "exp":
        lr = peak * (final / peak) ** p
    else:
        lr = final + (peak - final) * _shape_factor(p, shape)
    lr = np.clip(lr, final, peak)  # floating-point rounding must never leave [final, peak]
    lr[: anchor + 1] = peak
    if span > 0:
        lr[-1] = final
    return lr


# ---------------------------------------------------------------------------------------------------------
# constructors
# ---------------------------------------------------------------------------------------------------------
def constant(peak: float, total: int, warmup: int = 0) -> np.ndarray:
    """Constant learning rate ``peak`` after a linear warmup.

    Examples
    --------
    >>> constant(1.0, 5, warmup=2).tolist()
    [0.5, 1.0, 1.0, 1.0, 1.0]
    """
    peak, total, warmup = _common(peak, total, warmup)
    return _with_warmup(np.full(total, peak, dtype=np.float64), peak, warmup)


def cosine(peak: float, total: int, warmup: int = 0, final: float = 0.0) -> np.ndarray:
    """Cosine decay from ``peak`` (at the last warmup step) to the absolute LR ``final`` (at the last step).

    ``lr[s] = final + (peak - final) * (1 + cos(pi * p)) / 2`` with ``p = (s - a) / (total - 1 - a)`` and
    ``a = max(warmup - 1, 0)`` (Loshchilov & Hutter 2017, without restarts).

    Examples
    --------
    >>> cosine(1.0, 3).tolist()
    [1.0, 0.5, 0.0]
    """
    peak, total, warmup = _common(peak, total, warmup)
    final = _final(final, peak)
    return _with_warmup(_anchored_decay(peak, final, total, max(warmup - 1, 0), "cosine"), peak, warmup)


def linear(peak: float, total: int, warmup: int = 0, final: float = 0.0) -> np.ndarray:
    """Linear decay from ``peak`` (at the last warmup step) to the absolute LR ``final`` (at the last step).

    Examples
    --------
    >>> linear(1.0, 5, warmup=1).tolist()
    [1.0, 0.75, 0.5, 0.25, 0.0]
    """
    peak, total, warmup = _common(peak, total, warmup)
    final = _final(final, peak)
    return _with_warmup(_anchored_decay(peak, final, total, max(warmup - 1, 0), "linear"), peak, warmup)


def wsd(
    peak: float,
    total: int,
    warmup: int = 0,
    decay: float = 0.2,
    shape: str = "linear",
    final: float | None = None,
) -> np.ndarray:
    """Warmup-stable-decay: constant ``peak`` until a cooldown over the last ``decay * total`` steps.

    The cooldown has ``n = round(decay * total)`` steps (at least 1), starting at step ``total - n``; its
    first step is already below ``peak`` and its last step equals ``final``. With progress
    ``p = (k + 1) / n`` for cooldown step ``k``: ``linear`` is ``1 - p``, ``cosine`` is ``(1 + cos(pi p)) / 2``,
    ``1-sqrt`` is ``1 - sqrt(p)`` (Hägele et al. 2024), each mapping 1 -> ``peak`` and 0 -> ``final``;
    ``exp`` is ``peak * (final / peak) ** p`` and needs ``final > 0`` (default ``peak / 100``). ``final``
    defaults to 0 for the other shapes. The cooldown may not overlap the warmup.

    Examples
    --------
    >>> wsd(1.0, 10, decay=0.2).tolist()
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.0]
    """
    peak, total, warmup = _common(peak, total, warmup)
    if not isinstance(shape, str) or shape not in WSD_SHAPES:
        raise _bad("shape", shape, f"is not one of {', '.join(WSD_SHAPES)}", "e.g. shape=1-sqrt.")
    if final is None:
        final = peak / 100.0 if shape == "exp" else 0.0
    final = _final(final, peak)
    if shape == "exp" and final <= 0:
        raise _bad("final", final, "must be > 0 for shape=exp (exponential decay never reaches 0)",
                   f"e.g. final={peak / 100:g}, or use shape=linear.")
    decay_f = _as_float("decay", decay)
    if not 0.0 < decay_f <= 1.0:
        raise _bad("decay", decay, "must be in (0, 1] (the fraction of total spent in the cooldown)",
                   "e.g. decay=0.2 for the last 20% of the steps.")
    n_cool = max(1, int(math.floor(decay_f * total + 0.5)))
    if n_cool > total - warmup:
        raise _bad(
            "decay",
            decay,
            f"gives a {n_cool}-step cooldown but only {total - warmup} steps follow the {warmup}-step warmup",
            f"Use decay <= {(total - warmup) / total:.4g} or a shorter warmup.",
        )
    anchor = max(total - n_cool - 1, warmup - 1, 0)
    return _with_warmup(_anchored_decay(peak, final, total, anchor, shape), peak, warmup)


def multistep(
    peak: float,
    total: int,
    warmup: int = 0,
    milestones: tuple[float, ...] | list[float] = (0.8, 0.9),
    factor: float = 0.316,
) -> np.ndarray:
    """Step decay: the LR is multiplied by ``factor`` at each milestone (fractions of ``total``).

    A milestone ``m`` takes effect at step ``round(m * total)``. The default is DeepSeek LLM's "80/10/10":
    ``peak`` for 80% of the steps, then ``0.316 * peak`` for 10%, then ``0.316**2 ~= 0.1 * peak``.

    Examples
    --------
    >>> multistep(1.0, 10, milestones=(0.5,), factor=0.5).tolist()
    [1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5]
    """
    peak, total, warmup = _common(peak, total, warmup)
    if isinstance(milestones, (int, float)):
        milestones = (milestones,)
    ms = [_as_float("milestones", m) for m in milestones]
    if not ms or any(not 0.0 < m < 1.0 for m in ms) or any(b <= a for a, b in zip(ms, ms[1:])):
        raise _bad("milestones", "/".join(f"{m:g}" for m in ms),
                   "must be increasing fractions of total in (0, 1)", "e.g. milestones=0.8/0.9.")
    steps = np.floor(np.asarray(ms) * total + 0.5).astype(np.int64)  # (k,)
    if np.any(np.diff(steps) <= 0) or steps[0] < max(warmup, 1) or steps[-1] >= total:
        raise _bad("milestones", "/".join(f"{m:g}" for m in ms),
                   f"fall on steps {steps.tolist()}, which must be distinct, after the warmup ({warmup}) "
                   f"and before total ({total})", "Space them further apart or raise total.")
    factor_f = _as_float("factor", factor)
    if not 0.0 < factor_f <= 1.0:
        raise _bad("factor", factor, "must be in (0, 1] (the LR is multiplied by it at each milestone)",
                   "e.g. factor=0.316.")
    s = np.arange(total)
    drops = np.searchsorted(steps, s, side="right")  # (T,) milestones passed at step s
    return _with_warmup(peak * factor_f ** drops.astype(np.float64), peak, warmup)


def cyclic(peak: float, total: int, warmup: int = 0, cycles: int = 2, final: float = 0.0) -> np.ndarray:
    """Cosine with warm restarts: ``total`` is split into ``cycles`` near-equal cycles, each a cosine.

    Convention: cycle boundaries are ``round(linspace(0, total, cycles + 1))``. Every cycle starts with a
    linear warmup of ``warmup`` steps (the first from 0, like every schedule here; later ones re-warm from
    ``final``), reaches ``peak`` at its last warmup step and decays by a cosine to ``final`` at its last step.
    With ``warmup=0`` each cycle restarts at ``peak`` (SGDR, Loshchilov & Hutter 2017).

    Examples
    --------
    >>> cyclic(1.0, 6, cycles=2).tolist()
    [1.0, 0.5, 0.0, 1.0, 0.5, 0.0]
    """
    peak, total, warmup = _common(peak, total, warmup)
    final = _final(final, peak)
    n_cycles = _as_int("cycles", cycles)
    if n_cycles < 1:
        raise _bad("cycles", cycles, "must be >= 1", "e.g. cycles=2.")
    bounds = np.floor(np.linspace(0, total, n_cycles + 1) + 0.5).astype(np.int64)  # (c+1,)
    shortest = int(np.diff(bounds).min())
    if shortest < max(warmup + 1, 2):
        raise _bad("cycles", cycles, f"gives cycles of {shortest} steps; each needs at least "
                   f"{max(warmup + 1, 2)} (warmup + 1, and 2)", "Use fewer cycles or a shorter warmup.")
    s = np.arange(total)
    c = np.searchsorted(bounds, s, side="right") - 1  # (T,) cycle of each step
    k = (s - bounds[c]).astype(np.float64)  # (T,) step within its cycle
    length = (bounds[c + 1] - bounds[c]).astype(np.float64)  # (T,)
    anchor = float(max(warmup - 1, 0))
    p = np.clip((k - anchor) / (length - 1.0 - anchor), 0.0, 1.0)
    lr = np.clip(final + (peak - final) * _shape_factor(p, "cosine"), final, peak)
    if warmup > 0:
        start = np.where(c == 0, 0.0, final)  # first cycle warms from 0, later ones from final
        ramp = start + (peak - start) * ((k + 1.0) / warmup)
        lr = np.where(k < warmup, ramp, lr)
    lr[k == anchor] = peak
    lr[k == length - 1.0] = final
    return lr


def inverse_sqrt(peak: float, total: int, warmup: int = 0, timescale: float | None = None) -> np.ndarray:
    """Inverse square-root decay after warmup (Vaswani et al. 2017).

    ``lr[s] = peak * sqrt(tau / (tau + s - a))`` for ``s >= a = max(warmup - 1, 0)``, with ``tau = timescale``
    (default ``max(warmup, 1)``); for the default this is ``peak * sqrt(max(warmup, 1) / (s + 1))``.

    Examples
    --------
    >>> inverse_sqrt(1.0, 4).round(4).tolist()
    [1.0, 0.7071, 0.5774, 0.5]
    """
    peak, total, warmup = _common(peak, total, warmup)
    tau = float(max(warmup, 1)) if timescale is None else _as_float("timescale", timescale)
    if tau <= 0:
        raise _bad("timescale", timescale, "must be > 0", "e.g. timescale=1000 (steps).")
    anchor = max(warmup - 1, 0)
    s = np.arange(total, dtype=np.float64)
    lr = peak * np.sqrt(tau / (tau + np.maximum(s - anchor, 0.0)))
    lr[anchor] = peak
    return _with_warmup(lr, peak, warmup)
