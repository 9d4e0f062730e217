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

from scalefit.schedules.constructors import (WSD_SHAPES, constant, cosine, cyclic, inverse_sqrt, linear, multistep,
                                             warmup_ramp, wsd)
from scalefit.schedules.detect import describe, detect_warmup, guess_shape
from scalefit.schedules.files import from_file, to_csv
from scalefit.schedules.spec import SCHEDULES, ScheduleKey, ScheduleKind, ScheduleSpec, from_spec, parse_spec

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
