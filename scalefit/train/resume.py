"""What a run does with the files it finds: start afresh, resume from the checkpoint, or skip a complete file.

A complete file is skipped only if it is this run's (its metadata and its logged learning rates), so a resumed
sweep never skips another run's file as done; a checkpoint is resumed only if it was made by this run.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from scalefit.errors import AssumptionWarning, ScalefitError
from scalefit.train.checkpoint import check_resumable, load_checkpoint
from scalefit.train.config import TrainConfig, TrainResult
from scalefit.train.logger import last_step
from scalefit.train.lr_schedule import learning_rates
from scalefit.train.run_files import RunPaths


def complete_run_differs(cfg: TrainConfig) -> str:
    """Why the complete run file ``cfg.out`` is not run ``cfg`` (``""`` when it is); for a sweep's skip decision."""
    from scalefit.train import data as data_mod

    lr, _, _ = learning_rates(cfg)
    return complete_file_differs(cfg.out, cfg, lr, data_mod.load(cfg.data, cfg.tokenizer).name)


def complete_file_differs(out: Any, cfg: TrainConfig, lr: np.ndarray, data: str) -> str:
    """Why a complete run file without a checkpoint is not this run (``""`` when it is): its metadata or its
    logged learning rates differ. A resumed sweep skips complete files, so it must not skip another run's."""
    from scalefit.readers import read_run

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = read_run(out)
    # the schedule is compared through its learning rates below: its text depends on how the spec was written
    mine = {"model": cfg.model, "batch_size": cfg.batch_size, "seq_len": cfg.seq_len, "seed": cfg.seed,
            "total_steps": cfg.steps, "data": data}
    for key, value in mine.items():
        if key in run.meta and str(run.meta[key]) != str(value):
            return f"{key}={run.meta[key]!r} (this run: {value!r})"
    n = min(run.lr.size, lr.size)
    if not np.allclose(run.lr[:n], lr[:n], rtol=2e-5, atol=1e-12):  # the file keeps 6 significant digits
        i = int(np.argmax(~np.isclose(run.lr[:n], lr[:n], rtol=2e-5, atol=1e-12)))
        return f"lr {run.lr[i]:.6g} at step {i + run.step0} (this run: {lr[i]:.6g})"
    return ""


def prepare(cfg: TrainConfig, paths: RunPaths, lr: np.ndarray, data: str) -> tuple[dict | None, TrainResult | None]:
    """``(checkpoint to resume from or None, result when there is nothing to train or None)`` for ``cfg.resume``
    runs; ``(None, None)`` otherwise. Raises when the files found belong to another run."""
    if not cfg.resume:
        return None, None
    out, ckpt_path, shown = paths.out, paths.checkpoint, Path(cfg.out)  # shown: the path as the user gave it
    if ckpt_path.exists() and not out.exists():
        warnings.warn(f"{shown} does not exist; ignoring the checkpoint {ckpt_path} and starting from step 0.",
                      AssumptionWarning, stacklevel=3)
        return None, None
    if ckpt_path.exists():
        ck = load_checkpoint(ckpt_path)
        check_resumable(ck, cfg, data, lr, ckpt_path)
        if ck["step"] >= cfg.steps - 1 and last_step(out) == ck["step"]:
            return ck, TrainResult(str(shown), 0, ck["step"], None, None, None, skipped=True,
                                   resumed_from=ck["step"])
        return ck, None
    done = last_step(out)
    if done is not None and done >= cfg.steps - 1:
        differs = complete_file_differs(out, cfg, lr, data)
        if differs:
            raise ScalefitError(
                f"cannot skip: the file is complete but was made with {differs}. Use a new --out, or "
                "delete the file to train this run.", path=str(shown))
        return None, TrainResult(str(shown), 0, done, None, None, None, skipped=True)
    if done is not None:
        warnings.warn(f"{ckpt_path}: no checkpoint to resume from; restarting {shown} from step 0.",
                      AssumptionWarning, stacklevel=3)
    return None, None
