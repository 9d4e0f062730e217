"""The model's loss for one batch, under autocast, with ``torch.compile`` allowed to fail without costing the run.

torch.compile compiles lazily, once per mode (training, evaluation): a compiled model that fails on its first
call in a mode falls back to eager mode with a warning; a failure after a mode's first call (running out of
memory at step 10) is a real error and is raised.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from scalefit.errors import AssumptionWarning


class LossFn:
    """``loss_fn(x, y)`` -> the scalar loss of ``model`` (the compiled model, or ``raw_model`` after a fallback)."""

    def __init__(self, model: Any, raw_model: torch.nn.Module, autocast: Any) -> None:
        self.model = model
        self.raw_model = raw_model
        self.autocast = autocast
        self._compiled_modes: set[tuple[bool, bool]] = set()  # (training, grad enabled) calls that compiled

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        mode = (self.model.training, torch.is_grad_enabled())
        try:
            with self.autocast:
                out = self.model(x, y)[1]
        except Exception as exc:  # noqa: BLE001 - torch.compile errors surface lazily, at the first call
            if self.model is self.raw_model or mode in self._compiled_modes:
                raise
            first_line = (str(exc).strip().splitlines() or [""])[0][:200]
            warnings.warn(f"torch.compile failed at its first {'training' if mode[0] else 'evaluation'} call "
                          f"({type(exc).__name__}: {first_line}); training without it.", AssumptionWarning,
                          stacklevel=2)
            self.model = self.raw_model
            with self.autocast:
                return self.model(x, y)[1]
        if self.model is not self.raw_model:
            self._compiled_modes.add(mode)
        return out


def maybe_compile(raw_model: torch.nn.Module, compile: bool) -> Any:
    """``torch.compile(raw_model)`` when asked, or ``raw_model`` (with a warning when compiling fails)."""
    if not compile:
        return raw_model
    try:
        return torch.compile(raw_model)
    except Exception as exc:  # noqa: BLE001 - a missing compiler must not cost the run
        warnings.warn(f"torch.compile failed ({exc}); training without it.", AssumptionWarning, stacklevel=3)
        return raw_model
