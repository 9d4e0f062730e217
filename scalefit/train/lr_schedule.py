"""The per-step learning rates of a run, the schedule text its run file records, and a hash that lets a resumed
run check that the steps already done used the same rates."""

from __future__ import annotations

import hashlib
import warnings

import numpy as np

from scalefit.errors import AssumptionWarning, ScalefitError
from scalefit.train.config import TrainConfig


def learning_rates(cfg: TrainConfig) -> tuple[np.ndarray, str, int]:
    """Per-step LRs for steps 0..steps-1, the schedule text for the run file, and the warmup steps."""
    from scalefit import schedules

    explicit_warmup = cfg.warmup
    if cfg.lr_values is not None:
        lr = np.asarray(cfg.lr_values, dtype=np.float64)
        text = "explicit per-step array"
    elif cfg.schedule_file:
        lr = np.asarray(schedules.from_file(cfg.schedule_file), dtype=np.float64)
        text = f"file:path={cfg.schedule_file}"
    else:
        parsed = schedules.parse_spec(cfg.schedule)
        lr = np.asarray(parsed.build(peak=cfg.lr, total=cfg.steps, warmup=cfg.warmup), dtype=np.float64)
        # the run file records the spec with every default filled in, so it rebuilds the exact schedule
        keys = schedules.SCHEDULES[parsed.name].keys
        filled = {k: v for k, v in (("peak", cfg.lr), ("total", cfg.steps), ("warmup", cfg.warmup))
                  if v is not None and k in keys}
        filled.update(parsed.params)
        text = schedules.ScheduleSpec(parsed.name, filled).canonical()
        if "warmup" in parsed.params:
            explicit_warmup = int(parsed.params["warmup"])
    if lr.ndim != 1 or lr.size < cfg.steps:
        raise ScalefitError(
            f"the schedule ({text}) gives {lr.size} per-step LRs but --steps is {cfg.steps}. "
            "Give a schedule at least as long as the run."
        )
    if lr.size > cfg.steps:
        warnings.warn(f"the schedule ({text}) has {lr.size} steps; training only its first {cfg.steps} (--steps), "
                      "so the run ends before the schedule does.", AssumptionWarning, stacklevel=2)
    lr = lr[: cfg.steps]
    if not np.all(np.isfinite(lr)) or np.any(lr < 0):
        bad = int(np.flatnonzero(~np.isfinite(lr) | (lr < 0))[0])
        raise ScalefitError(f"the schedule ({text}) has LR {lr[bad]} at step {bad}; LRs must be finite and >= 0.")
    warmup = int(explicit_warmup) if explicit_warmup is not None else int(schedules.detect_warmup(lr))
    return lr, text, warmup


def lr_hash(lr: np.ndarray) -> str:
    """A short fingerprint of the learning rates of the steps done (stored in each checkpoint)."""
    return hashlib.sha256(np.ascontiguousarray(lr, dtype=np.float64).tobytes()).hexdigest()[:16]
