"""Checkpoints: written atomically (a kill or a full disk leaves the old checkpoint, never half of one), read
without unpickling code (``weights_only=True``), and checked against the run that wants to resume from them."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scalefit.errors import ScalefitError
from scalefit.jsonio import open_atomic
from scalefit.train.config import IDENTITY, TrainConfig
from scalefit.train.lr_schedule import lr_hash

CHECKPOINT_FORMAT = "scalefit.checkpoint/1"


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` with ``torch.save`` atomically; a refused write is one line
    (:class:`~scalefit.jsonio.OutputFileError`) and leaves no temporary file."""
    action = f"cannot write the checkpoint of step {payload.get('step')} (the run file keeps every row so far)"
    with open_atomic(path, action=action) as fh:
        torch.save(payload, fh)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`; anything else is a one-line error."""
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user-facing problem
        raise ScalefitError(f"cannot read the checkpoint ({type(exc).__name__}). Delete it to start over.",
                            path=str(path)) from None
    if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
        raise ScalefitError(f"not a scalefit checkpoint (expected format {CHECKPOINT_FORMAT}). "
                            "Delete it to start over.", path=str(path))
    return ck


def check_resumable(ck: dict[str, Any], cfg: TrainConfig, data_name: str, lr: np.ndarray, path: Path) -> None:
    """Raise unless checkpoint ``ck`` was made by this run: same identity fields, same LRs for the steps done."""
    theirs = ck["config"]
    for key in IDENTITY:
        mine = asdict(cfg)[key] if key != "data" else data_name
        if theirs.get(key) != mine:
            raise ScalefitError(
                f"cannot resume: the checkpoint was made with {key}={theirs.get(key)!r}, this run has "
                f"{key}={mine!r}. Use the original options or a new --out.",
                path=str(path),
            )
    if ck["lr_hash"] != lr_hash(lr[: ck["step"] + 1]):
        raise ScalefitError(
            "cannot resume: the learning rates of the steps already done differ from this run's schedule. "
            "Use the original --schedule/--lr/--steps/--warmup or a new --out.",
            path=str(path),
        )


def payload(step: int, cfg: TrainConfig, data_name: str, lr: np.ndarray, model: torch.nn.Module,
            optimizer: torch.optim.Optimizer, device: torch.device) -> dict[str, Any]:
    """Everything a resumed run needs after ``step`` (the last completed step)."""
    return {
        "format": CHECKPOINT_FORMAT,
        "step": step,  # last completed step; the run continues at step + 1
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state() if device.type == "cuda" else None,
        "data": {"seed": cfg.seed, "next_step": step + 1},  # batches are a pure function of (seed, step)
        "config": {**{k: v for k, v in asdict(cfg).items() if k != "lr_values"}, "data": data_name},
        "lr_hash": lr_hash(lr[: step + 1]),
    }
