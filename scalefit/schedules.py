"""Learning-rate schedules as per-step numpy arrays, and a safe spec parser for the CLI.

Every constructor returns a float64 array ``lr`` of shape ``(total,)``: ``lr[s]`` is the learning rate of
optimizer step ``s`` for ``s = 0 .. total-1``. All are vectorised (no Python loop over steps), O(total).

Conventions
-----------
Warmup (all schedules)
    Linear: ``lr[s] = peak * (s + 1) / warmup`` for ``s < warmup``, so ``lr[warmup-1] == peak`` exactly and the
    step that first reaches the peak counts as warmup. ``warmup=1`` therefore gives the same array as
    ``warmup=0`` (and :func:`detect_warmup` returns 0 for both). The MPL paper's reference schedules use
    ``peak * s / (W-1)`` instead; :func:`detect_warmup` gives ``W`` for those too.
Decay phase
    The decay is anchored at the last step at peak, ``a``: ``a = warmup - 1`` (or 0 without warmup) for cosine
    and linear, the step before the cooldown for WSD. Progress ``p = (s - a) / (total - 1 - a)`` runs from 0 at
    the anchor to 1 at the last step, so ``lr[a] == peak`` and ``lr[total-1] == final`` exactly: the post-warmup
    part spans the remaining ``total - warmup`` steps with ``p = 1/n, 2/n, ..., 1`` (``n = total - warmup``).
    A cosine over ``total=T`` steps is therefore a WSD with ``decay = (T - warmup) / T`` and a cosine cooldown.
Final LR
    ``final`` is an absolute learning rate (not a fraction of ``peak``), ``0 <= final <= peak``.

Spec strings
------------
``name:key=value,key=value`` -- e.g. ``wsd:peak=3e-4,total=24000,warmup=2160,decay=0.2,shape=1-sqrt``,
``cosine:peak=1e-3,total=2000,final=1e-4``, ``multistep:peak=1e-3,total=1000,milestones=0.8/0.9``,
``file:path=lr.csv``. Values are parsed with ``float``/``int`` and a whitelist of words, never ``eval``. The
table :data:`SCHEDULES` drives the parser, its error messages and the tests.

References: WSD and the ``1-sqrt`` cooldown: Hägele et al. 2024 (arXiv 2405.18392); multi-step "80/10/10":
DeepSeek LLM (arXiv 2401.02954); warm restarts: Loshchilov & Hutter 2017 (SGDR); inverse square root: Vaswani
et al. 2017.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from scalefit.errors import ScheduleSpecError

__all__ = [
    "SCHEDULES",
    "WSD_SHAPES",
    "ScheduleKind",
    "ScheduleKey",
    "ScheduleSpec",
    "constant",
    "cosine",
    "cyclic",
    "describe",
    "detect_warmup",
    "from_file",
    "from_spec",
    "guess_shape",
    "inverse_sqrt",
    "linear",
    "multistep",
    "parse_spec",
    "to_csv",
    "warmup_ramp",
    "wsd",
]

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


# ---------------------------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------------------------
def to_csv(path: str | os.PathLike[str], lr: np.ndarray) -> Path:
    """Write a per-step schedule as CSV with columns ``step,lr`` (steps 0..T-1), atomically.

    Values are written in the shortest form that reads back as the same float (numpy's repr), so
    :func:`from_file` returns exactly ``lr``.
    """
    from scalefit.jsonio import write_text

    arr = _check_array(lr, "lr")
    rows = np.char.add(np.char.add(np.arange(arr.size).astype(str), ","), arr.astype(str))  # (T,) "s,lr"
    return write_text(path, "step,lr\n" + "".join(row + "\n" for row in rows.tolist()))


def from_file(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a per-step schedule CSV: columns ``step`` and ``lr``, one row per step ``0 .. T-1``.

    Accepted: a header row naming ``step`` and ``lr`` (any order, any case, other columns ignored, so a dense
    run file works too); blank lines and lines starting with ``#`` are skipped. Steps must be the integers
    ``0, 1, ..., T-1`` in order; ``lr`` must be finite and >= 0.

    Raises
    ------
    ScheduleSpecError
        Naming the file, the 1-based line, the column, the value and the fix.
    """
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScheduleSpecError("schedule file not found. Check the path, or write one with "
                                "'scalefit schedule SPEC --out lr.csv'.", path=name) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScheduleSpecError(f"cannot read schedule file ({exc.__class__.__name__}: {exc}). "
                                "Give a UTF-8 CSV with columns step,lr.", path=name) from None
    rows: list[list[str]] = []
    lines: list[int] = []
    header: list[str] | None = None
    header_line = 0
    for lineno, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or all(not cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
            continue
        if header is None:
            header, header_line = [cell.strip().lower() for cell in row], lineno
            continue
        rows.append(row)
        lines.append(lineno)
    if header is None:
        raise ScheduleSpecError("schedule file is empty. Give a CSV with header 'step,lr' and one row per step.",
                                path=name, line=1)
    for col in ("step", "lr"):
        if col not in header:
            raise ScheduleSpecError(
                f"missing column '{col}' (found: {', '.join(header)}). The header must name 'step' and 'lr'.",
                path=name, line=header_line, column=col)
    if not rows:
        raise ScheduleSpecError("schedule file has a header but no rows. Add one row per step: 0,<lr>.",
                                path=name, line=header_line)
    i_step, i_lr = header.index("step"), header.index("lr")
    width = len(header)
    for row, lineno in zip(rows, lines):
        if len(row) < width:
            raise ScheduleSpecError(f"row has {len(row)} cells, the header has {width}. Fill every column.",
                                    path=name, line=lineno, value=",".join(row))
    steps_txt = [row[i_step] for row in rows]
    lr_txt = [row[i_lr] for row in rows]
    steps = _parse_column(steps_txt, lines, name, "step")
    lr = _parse_column(lr_txt, lines, name, "lr")
    bad = np.flatnonzero(steps != np.arange(steps.size))
    if bad.size:
        j = int(bad[0])
        raise ScheduleSpecError(
            f"column 'step' is {steps_txt[j].strip()} but {j} was expected; steps must be 0, 1, ..., T-1 with "
            "one row per step. Write the schedule densely (e.g. 'scalefit schedule SPEC --out lr.csv').",
            path=name, line=lines[j], column="step", value=steps_txt[j].strip())
    bad = np.flatnonzero(~np.isfinite(lr) | (lr < 0))
    if bad.size:
        j = int(bad[0])
        raise ScheduleSpecError(
            f"column 'lr' is {lr_txt[j].strip()}; learning rates must be finite and >= 0. Fix that row.",
            path=name, line=lines[j], column="lr", value=lr_txt[j].strip())
    return lr


def _parse_column(cells: list[str], lines: list[int], path: str, column: str) -> np.ndarray:
    try:
        return np.array(cells, dtype=np.float64)  # fast path; numpy parses the strings
    except ValueError:
        pass
    for cell, lineno in zip(cells, lines):  # slow path only to locate the bad cell
        try:
            float(cell)
        except ValueError:
            what = "empty" if not cell.strip() else f"{cell.strip()!r}, not a number"
            raise ScheduleSpecError(f"column '{column}' is {what}. Give a number on every row.",
                                    path=path, line=lineno, column=column, value=cell) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _check_array(lr: Any, what: str) -> np.ndarray:
    arr = np.asarray(lr, dtype=np.float64)
    if arr.ndim != 1:
        raise ScheduleSpecError(f"{what} must be a 1-D per-step array; got shape {arr.shape}.")
    if arr.size and not (np.all(np.isfinite(arr)) and np.all(arr >= 0)):
        j = int(np.flatnonzero(~np.isfinite(arr) | (arr < 0))[0])
        raise ScheduleSpecError(f"{what}[{j}] is {float(arr[j])!r}; learning rates must be finite and >= 0.",
                                value=float(arr[j]))
    return arr


# ---------------------------------------------------------------------------------------------------------
# the spec table and parser
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScheduleKey:
    """One ``key=value`` a schedule accepts. ``kind`` is 'float', 'int', 'floats' ('/'-separated), 'choice'
    (one of ``choices``) or 'path'."""

    name: str
    kind: str
    doc: str
    choices: tuple[str, ...] = ()

    def parse(self, raw: str) -> Any:
        """Parse the text ``raw`` (no eval): float(), int() or a whitelisted word."""
        if raw == "":
            raise ScheduleSpecError(f"{self.name}= has no value. {self.name}: {self.doc}.", column=self.name,
                                    value=raw)
        if self.kind == "float":
            return _as_float(self.name, raw)
        if self.kind == "int":
            return _as_int(self.name, raw)
        if self.kind == "floats":
            return tuple(_as_float(self.name, part) for part in raw.split("/"))
        if self.kind == "choice":
            if raw.lower() not in self.choices:
                raise _bad(self.name, raw, f"is not one of {', '.join(self.choices)}",
                           f"e.g. {self.name}={self.choices[0]}.")
            return raw.lower()
        return raw  # path


@dataclass(frozen=True)
class ScheduleKind:
    """A named schedule: its constructor, its keys (with meaning) and which keys are required."""

    name: str
    func: Callable[..., np.ndarray]
    doc: str
    keys: dict[str, ScheduleKey]
    required: tuple[str, ...]
    example: str

    def keys_help(self) -> str:
        """'peak (peak LR > 0, required); total (...)' -- for error messages."""
        return "; ".join(
            f"{k.name} ({k.doc}{', required' if k.name in self.required else ''})" for k in self.keys.values()
        )


_PEAK = ScheduleKey("peak", "float", "peak learning rate > 0, e.g. 3e-4")
_TOTAL = ScheduleKey("total", "int", "number of steps >= 1")
_WARMUP = ScheduleKey("warmup", "int", "linear warmup steps, default 0")
_FINAL = ScheduleKey("final", "float", "absolute LR of the last step, 0 <= final <= peak, default 0")


def _kind(name: str, func: Callable[..., np.ndarray], doc: str, example: str, *extra: ScheduleKey,
          required: tuple[str, ...] = ("peak", "total")) -> ScheduleKind:
    keys = {k.name: k for k in (_PEAK, _TOTAL, _WARMUP, *extra)} if name != "file" else {k.name: k for k in extra}
    return ScheduleKind(name, func, doc, keys, required, example)


#: name -> :class:`ScheduleKind`. Drives :func:`parse_spec`, its error text, the CLI help and the tests.
SCHEDULES: dict[str, ScheduleKind] = {
    k.name: k
    for k in (
        _kind("constant", constant, "constant peak LR after warmup", "constant:peak=3e-4,total=10000"),
        _kind("cosine", cosine, "cosine decay to final", "cosine:peak=1e-3,total=2000,warmup=100,final=1e-4",
              _FINAL),
        _kind("linear", linear, "linear decay to final", "linear:peak=1e-3,total=2000,final=0", _FINAL),
        _kind("wsd", wsd, "warmup-stable-decay: constant, then a cooldown over the last decay*total steps",
              "wsd:peak=3e-4,total=24000,warmup=2160,decay=0.2,shape=1-sqrt",
              ScheduleKey("decay", "float", "fraction of total spent in the cooldown, in (0, 1], default 0.2"),
              ScheduleKey("shape", "choice", "cooldown shape: " + "|".join(WSD_SHAPES) + ", default linear",
                          WSD_SHAPES),
              ScheduleKey("final", "float", "absolute LR of the last step, default 0 (peak/100 for exp)")),
        _kind("multistep", multistep, "LR times factor at each milestone (80/10/10 by default)",
              "multistep:peak=1e-3,total=1000,milestones=0.8/0.9,factor=0.316",
              ScheduleKey("milestones", "floats", "'/'-separated fractions of total, default 0.8/0.9"),
              ScheduleKey("factor", "float", "multiplier at each milestone in (0, 1], default 0.316")),
        _kind("cyclic", cyclic, "cosine with warm restarts, each cycle re-warms for warmup steps",
              "cyclic:peak=1e-3,total=3000,warmup=100,cycles=3",
              ScheduleKey("cycles", "int", "number of equal cycles >= 1, default 2"), _FINAL),
        _kind("inverse_sqrt", inverse_sqrt, "peak*sqrt(tau/(tau+s-warmup+1)) after warmup",
              "inverse_sqrt:peak=1e-3,total=10000,warmup=1000",
              ScheduleKey("timescale", "float", "tau in steps, default max(warmup, 1)")),
        _kind("file", from_file, "per-step CSV with columns step,lr", "file:path=lr.csv",
              ScheduleKey("path", "path", "CSV file with columns step,lr and steps 0..T-1"), required=("path",)),
    )
}


def _names_help() -> str:
    return ", ".join(SCHEDULES)


@dataclass(frozen=True)
class ScheduleSpec:
    """A parsed spec: ``name`` (a key of :data:`SCHEDULES`), typed ``params`` and the original ``text``.

    Built directly (``ScheduleSpec("wsd", {...})``), ``text`` defaults to :meth:`canonical`.
    """

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    text: str = ""

    def __post_init__(self) -> None:
        if not self.text:
            object.__setattr__(self, "text", self.canonical())

    def canonical(self) -> str:
        """The spec written back as ``name:key=value,...`` (floats by repr, lists joined with '/'); parsing it
        gives the same ``params``."""

        def fmt(v: Any) -> str:
            if isinstance(v, tuple):
                return "/".join(fmt(x) for x in v)
            return repr(v) if isinstance(v, float) else str(v)

        items = ",".join(f"{k}={fmt(v)}" for k, v in self.params.items())
        return f"{self.name}:{items}" if items else self.name

    def build(self, peak: float | None = None, total: int | None = None, warmup: int | None = None) -> np.ndarray:
        """The per-step LR array; ``peak``/``total``/``warmup`` fill keys the spec does not give."""
        return from_spec(self, peak=peak, total=total, warmup=warmup)


def parse_spec(spec: str) -> ScheduleSpec:
    """Parse ``name:key=value,key=value`` safely (float/int/whitelisted words; never eval).

    Raises
    ------
    ScheduleSpecError
        For an empty spec, an unknown name (the message lists the valid names), an unknown or repeated key (it
        lists the valid keys and their meaning) or a bad value (it names the key, the value and the rule).

    Examples
    --------
    >>> parse_spec("wsd:peak=3e-4,total=24000,decay=0.2,shape=1-sqrt").params
    {'peak': 0.0003, 'total': 24000, 'decay': 0.2, 'shape': '1-sqrt'}
    """
    if not isinstance(spec, str):
        raise ScheduleSpecError(f"a schedule spec must be a string, got {type(spec).__name__}. "
                                f"Example: {SCHEDULES['wsd'].example}", value=spec)
    text = spec.strip()
    if not text:
        raise ScheduleSpecError(f"empty schedule spec. Write name:key=value,...; valid names: {_names_help()}. "
                                f"Example: {SCHEDULES['cosine'].example}", value=spec)
    raw_name, _, rest = text.partition(":")
    name = raw_name.strip().lower().replace("-", "_")
    if name not in SCHEDULES:
        raise ScheduleSpecError(f"unknown schedule '{raw_name.strip()}' in spec '{text}'. Valid names: "
                                f"{_names_help()}. Example: {SCHEDULES['wsd'].example}", value=raw_name)
    kind = SCHEDULES[name]
    params: dict[str, Any] = {}
    if rest.strip():
        for item in rest.split(","):
            item = item.strip()
            key, eq, raw = item.partition("=")
            key = key.strip().lower()
            if not item or not eq:
                raise ScheduleSpecError(
                    f"'{item}' in spec '{text}' is not key=value. Valid keys for {name}: {kind.keys_help()}. "
                    f"Example: {kind.example}", value=item)
            if key not in kind.keys:
                raise ScheduleSpecError(
                    f"unknown key '{key}' for schedule {name} in spec '{text}'. Valid keys: {kind.keys_help()}. "
                    f"Example: {kind.example}", column=key, value=raw)
            if key in params:
                raise ScheduleSpecError(f"key '{key}' given twice in spec '{text}'. Give each key once.",
                                        column=key, value=raw)
            try:
                params[key] = kind.keys[key].parse(raw.strip())
            except ScheduleSpecError as exc:
                raise ScheduleSpecError(f"in spec '{text}': {exc.message}", column=key, value=raw) from None
    return ScheduleSpec(name=name, params=params, text=text)


def from_spec(
    spec: str | ScheduleSpec,
    peak: float | None = None,
    total: int | None = None,
    warmup: int | None = None,
) -> np.ndarray:
    """Build the per-step LR array of a spec string (see :func:`parse_spec`).

    ``peak``, ``total`` and ``warmup`` are defaults for keys the spec leaves out (the spec's values win); they
    are ignored by ``file:``. A required key given nowhere is an error naming it.

    Examples
    --------
    >>> from_spec("linear:final=0", peak=1.0, total=3).tolist()
    [1.0, 0.5, 0.0]
    """
    parsed = spec if isinstance(spec, ScheduleSpec) else parse_spec(spec)
    kind = SCHEDULES[parsed.name]
    kwargs: dict[str, Any] = {}
    for key, default in (("peak", peak), ("total", total), ("warmup", warmup)):
        if default is not None and key in kind.keys:
            kwargs[key] = default
    kwargs.update(parsed.params)
    missing = [k for k in kind.required if k not in kwargs]
    if missing:
        raise ScheduleSpecError(
            f"schedule spec '{parsed.text or parsed.name}' is missing {', '.join(missing)}. Add "
            f"{', '.join(k + '=...' for k in missing)} to the spec (the CLI also takes --{missing[0]}). "
            f"Valid keys: {kind.keys_help()}. Example: {kind.example}", column=missing[0])
    if parsed.name == "file":
        return from_file(kwargs["path"])
    try:
        return kind.func(**kwargs)
    except ScheduleSpecError as exc:
        raise ScheduleSpecError(f"in spec '{parsed.text or parsed.canonical()}': {exc.message}",
                                column=exc.column, value=exc.value) from None


# ---------------------------------------------------------------------------------------------------------
# inspection
# ---------------------------------------------------------------------------------------------------------
def detect_warmup(lr: np.ndarray, rtol: float = 1e-12) -> int:
    """Number of warmup steps: index of the first step within ``rtol`` of the maximum, plus 1; 0 if ``lr[0]``
    is already there.

    The step that first reaches the peak counts as warmup (this module's convention and the MPL reference
    schedules' ``peak * s / (W-1)``, for which it returns ``W``). ``warmup=1`` and ``warmup=0`` both give 0.

    Examples
    --------
    >>> detect_warmup(constant(1.0, 10, warmup=4))
    4
    """
    arr = np.asarray(lr, dtype=np.float64)
    if arr.size == 0:
        return 0
    top = float(np.max(arr))
    first = int(np.argmax(arr >= top - rtol * abs(top)))
    return 0 if first == 0 else first + 1


def guess_shape(lr: np.ndarray, warmup: int | None = None) -> str:
    """A best-effort label of the post-warmup part: 'constant', 'cosine', 'linear', 'wsd', 'step', 'cyclic',
    'inverse-sqrt' or 'unknown'.

    The part from the last warmup step on is normalised by its peak and compared with the best member of each
    family (cosine and linear anchored at the observed end value, inverse-sqrt with the timescale that matches
    the end value); the closest within 2% RMS of the peak wins. A long flat stretch followed by a smooth decay
    is 'wsd'; a few large drops between flat stretches are 'step'; rises after the peak are 'cyclic'. O(T).
    """
    arr = np.asarray(lr, dtype=np.float64)
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        return "unknown"
    w = detect_warmup(arr) if warmup is None else int(warmup)
    y = arr[max(w - 1, 0):]  # (n,) from the peak step on
    top = float(np.max(y)) if y.size else 0.0
    if y.size < 3 or top <= 0:
        return "constant" if y.size and np.ptp(y) <= 1e-9 * max(top, 1e-300) else "unknown"
    y = y / top  # (n,) in [0, 1], y[0] == 1
    n = y.size
    tol = 1e-6
    if np.ptp(y) <= tol:
        return "constant"
    if np.max(y - np.minimum.accumulate(y)) > 0.01:  # rises by > 1% of peak after a decline
        return "cyclic"
    d = np.diff(y)  # (n-1,)
    jumps = np.abs(d) > 0.02
    if 0 < np.count_nonzero(jumps) <= 4 and np.all(np.abs(d[~jumps]) <= tol):
        return "step"
    flat = int(np.argmax(y < 1.0 - tol))  # leading steps at the peak (value-based: scale-free in T)
    if flat >= max(0.05 * n, 3):
        return "wsd"
    p = np.linspace(0.0, 1.0, n)  # (n,)
    end = y[-1]
    k = np.arange(n, dtype=np.float64)
    tau = (n - 1) * end**2 / max(1.0 - end**2, 1e-12)  # end = sqrt(tau / (tau + n - 1))
    members = {
        "cosine": end + (1 - end) * 0.5 * (1 + np.cos(np.pi * p)),
        "linear": end + (1 - end) * (1 - p),
        "inverse-sqrt": np.sqrt(tau / (tau + k)) if tau > 0 else np.zeros(n),
    }
    errors = {name: float(np.sqrt(np.mean((y - m) ** 2))) for name, m in members.items()}
    best = min(errors, key=errors.__getitem__)
    return best if errors[best] <= 0.02 else "unknown"


def describe(lr: np.ndarray) -> dict[str, Any]:
    """Summary of a per-step schedule: ``total``, ``warmup`` (detected), ``peak``, ``final`` (last step's LR),
    ``shape`` (:func:`guess_shape`) and ``sum`` (the LR area, sum over steps). Plain Python types."""
    arr = np.asarray(lr, dtype=np.float64)
    warm = detect_warmup(arr)
    return {
        "total": int(arr.size),
        "warmup": warm,
        "peak": float(arr.max()) if arr.size else float("nan"),
        "final": float(arr[-1]) if arr.size else float("nan"),
        "shape": guess_shape(arr, warm),
        "sum": float(arr.sum()),
    }
