"""The spec strings of the CLI (``name:key=value,...``): the table of schedules and their keys, and a safe parser
(float/int/whitelisted words, never ``eval``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from scalefit.errors import ScheduleSpecError
from scalefit.schedules.constructors import (WSD_SHAPES, _as_float, _as_int, _bad, constant, cosine, cyclic,
                                             inverse_sqrt, linear, multistep, wsd)
from scalefit.schedules.files import from_file


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


#: The CLI option that gives a spec key's default, where it is named differently (one name per thing: --steps).
_CLI_OPTION = {"total": "steps"}


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
            f"{', '.join(k + '=...' for k in missing)} to the spec (the CLI also takes "
            f"--{_CLI_OPTION.get(missing[0], missing[0])}). "
            f"Valid keys: {kind.keys_help()}. Example: {kind.example}", column=missing[0])
    if parsed.name == "file":
        return from_file(kwargs["path"])
    try:
        return kind.func(**kwargs)
    except ScheduleSpecError as exc:
        raise ScheduleSpecError(f"in spec '{parsed.text or parsed.canonical()}': {exc.message}",
                                column=exc.column, value=exc.value) from None
