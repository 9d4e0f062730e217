"""What defines a run (:class:`TrainConfig`), what a finished run reports (:class:`TrainResult`), and the checks
on a config that come before any work. Imports no torch, so a sweep can build and check its grid cheaply."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scalefit.errors import ScalefitError


class TrainingDiverged(ScalefitError):
    """The training loss became NaN or infinite; the run file keeps every step before it."""


@dataclass
class TrainConfig:
    """Everything that defines a run. Field comments give the CLI flag and the reason for the default."""

    out: str  # --out: the run file (CSV) to write
    model: str = "tiny"  # --model: a key of model.PRESETS
    steps: int = 200  # --steps: optimizer steps
    batch_size: int = 16  # --batch-size: sequences per optimizer step (all micro-batches together)
    seq_len: int = 128  # --seq-len: tokens per sequence (= the model's context length)
    lr: float = 3e-3  # --lr: peak learning rate, fills the schedule spec's peak
    schedule: str = "cosine"  # --schedule: a spec for scalefit.schedules.from_spec (peak/total may be omitted)
    schedule_file: str | None = None  # --schedule-file: per-step LRs instead of a spec
    warmup: int | None = None  # --warmup: warmup steps; None = what the spec says (0 if it says nothing)
    data: str = "synthetic"  # --data: synthetic[:options] | shakespeare | path to a text file
    tokenizer: str = "char"  # --tokenizer: char | byte (text sources only)
    eval_every: int = 50  # --eval-every: val_loss every this many steps (0 = never), and at the last step
    eval_batches: int = 4  # fixed validation batches of batch_size // grad_accum sequences
    grad_accum: int = 1  # --grad-accum: micro-batches per step; batch_size must be divisible by it
    weight_decay: float = 0.1  # AdamW decay on 2-D weights only (GPT-3, nanoGPT)
    beta1: float = 0.9
    beta2: float = 0.95  # 0.95 rather than 0.999: steadier at the high LRs of a sweep (GPT-3)
    grad_clip: float = 1.0  # --grad-clip: max global grad norm (0 = no clipping)
    device: str = "auto"  # --device: auto | cpu | cuda | cuda:N | mps
    dtype: str = "auto"  # auto = bfloat16 autocast on CUDA GPUs that support it, float32 elsewhere
    compile: bool = False  # --compile: torch.compile the model (CUDA; on CPU it rarely pays)
    seed: int = 0  # --seed: weights and batches
    resume: bool = False  # --resume: continue from the checkpoint next to --out
    ckpt_every: int = 100  # checkpoint every this many steps (and at the end); 0 = only at the end
    checkpoint: str | None = None  # checkpoint path; default: --out with suffix .ckpt
    progress: str = "auto"  # auto (rich bar on a TTY, plain lines otherwise) | rich | plain | none
    threads: int | None = None  # torch CPU threads; None = torch's default
    lr_values: np.ndarray | None = field(default=None, repr=False)  # library use: explicit per-step LRs

    @property
    def checkpoint_path(self) -> Path:
        return Path(self.checkpoint) if self.checkpoint else Path(self.out).with_suffix(".ckpt")


@dataclass(frozen=True)
class TrainResult:
    """What a finished (or skipped) run reports."""

    out: str
    steps_done: int  # steps trained by this call
    last_step: int  # last step in the run file
    final_loss: float | None
    final_val_loss: float | None
    tokens_per_s: float | None  # measured in this call; never written to the run file
    skipped: bool = False  # the run file already held every step
    resumed_from: int | None = None  # last completed step loaded from the checkpoint


#: The config fields that must agree between a checkpoint and the run that resumes it.
IDENTITY = ("model", "batch_size", "seq_len", "grad_accum", "data", "tokenizer", "seed", "weight_decay",
            "beta1", "beta2", "grad_clip", "eval_every", "eval_batches")


def check_config(cfg: TrainConfig) -> None:
    """Raise :class:`ScalefitError` (one line) for a value no run can have; cheap, so it runs first."""
    from scalefit.train.model import PRESETS

    if cfg.model not in PRESETS:
        raise ScalefitError(f"--model {cfg.model!r} is not a preset. Choose one of: {', '.join(PRESETS)}.")
    for name in ("steps", "batch_size", "seq_len", "grad_accum", "eval_batches"):
        value = getattr(cfg, name)
        if not isinstance(value, int) or value < 1:
            raise ScalefitError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}.")
    if cfg.batch_size % cfg.grad_accum:
        raise ScalefitError(
            f"--batch-size {cfg.batch_size} is not divisible by --grad-accum {cfg.grad_accum}. "
            "Each micro-batch must hold the same number of sequences."
        )
    if not (cfg.lr > 0 and math.isfinite(cfg.lr)):
        raise ScalefitError(f"--lr must be a positive number, got {cfg.lr!r}.")
    if cfg.eval_every < 0 or cfg.ckpt_every < 0:
        raise ScalefitError("--eval-every and the checkpoint interval must be >= 0.")
    if cfg.progress not in ("auto", "rich", "plain", "none"):
        raise ScalefitError(f"progress={cfg.progress!r} must be auto, rich, plain or none.")
