"""The training loop behind ``scalefit train``: one run, one run file, resumable.

Defaults that matter for the curves, in one place (like nanoGPT's ``train.py`` header): see
:class:`~scalefit.train.config.TrainConfig`. The loop per optimizer step ``s`` (0-based):

1. set the LR of every parameter group to ``lr[s]`` (the per-step schedule from ``scalefit.schedules``);
2. at eval steps (``s % eval_every == 0`` and the last step), measure ``val_loss`` on the fixed validation
   batches with the parameters *before* this step's update, like ``loss``;
3. forward and backward ``grad_accum`` micro-batches; ``loss`` is their mean: the training loss of this step's
   batch before the update;
4. clip the gradient norm (``grad_norm`` is the norm before clipping), AdamW step;
5. write the row ``step, lr, loss, val_loss, tokens, grad_norm`` (``tokens`` = tokens seen after the step);
6. every ``ckpt_every`` steps and at the end, save a checkpoint atomically.

Before any work the run's files are checked (``run_files``: no collision between the run file, its checkpoint,
its lock and its inputs; a regular file in a writable folder) and the run file's lock is taken (``runlock``: one
writer per file). A full disk or a read-only folder ends the run with one line and leaves the run file ending
on a complete row, resumable.

Determinism: the weights are initialised from ``torch.manual_seed(seed)`` and each batch is a pure function of
``(seed, step, micro_step)`` (see ``data.py``), so on CPU the same seed gives a byte-identical run file, and a
resumed run equals an uninterrupted one. No timing is written to the file.

Devices: CUDA first, then Apple MPS, then CPU (``device="auto"``). On CUDA the loop uses bf16 autocast (where the
GPU supports it), TF32 matmuls, the fused AdamW kernel and, with ``compile=True``, ``torch.compile``.

The pieces live in one module each: ``config`` (TrainConfig, TrainResult), ``devices``, ``lr_schedule``,
``checkpoint``, ``resume``, ``run_files``, ``runlock``, ``forward`` and ``progress``; the names below are
re-exported here for callers of earlier versions.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from scalefit.train import data as data_mod
from scalefit.train.checkpoint import CHECKPOINT_FORMAT, payload, save_checkpoint
from scalefit.train.config import TrainConfig, TrainingDiverged, TrainResult, check_config
from scalefit.train.devices import autocast, pick_device, pick_dtype
from scalefit.train.forward import LossFn, maybe_compile
from scalefit.train.logger import RunLogger
from scalefit.train.lr_schedule import learning_rates
from scalefit.train.model import GPT, preset_config
from scalefit.train.progress import Progress
from scalefit.train.resume import complete_run_differs, prepare
from scalefit.train.run_files import RunPaths, run_paths
from scalefit.train.runlock import RunLock

__all__ = ["CHECKPOINT_FORMAT", "TrainConfig", "TrainResult", "TrainingDiverged", "complete_run_differs",
           "learning_rates", "pick_device", "pick_dtype", "train"]


def train(
    cfg: TrainConfig, *, stop_after: int | None = None, on_step: Callable[[int, float], None] | None = None
) -> TrainResult:
    """Train one model and write its run file; see the module docstring for the loop.

    Parameters
    ----------
    cfg
        The run. ``cfg.resume`` continues from ``cfg.checkpoint_path`` when it exists.
    stop_after
        Stop (with a checkpoint) after this step even if ``cfg.steps`` is larger; the run stays resumable.
        For time-sliced jobs and tests.
    on_step
        Called with ``(step, loss)`` after each row is written.

    Raises
    ------
    ScalefitError
        Bad preset, schedule, data or device; a checkpoint that does not match ``cfg``; an ``--out`` that
        collides with the checkpoint or an input, or cannot be written (``OutputFileError``, also for a full
        disk during the run); a run file another process is writing (``RunLockedError``).
    TrainingDiverged
        The loss became NaN or infinite (the rows before it stay in the file).
    """
    check_config(cfg)
    paths = run_paths(cfg)
    lr, schedule_text, warmup = learning_rates(cfg)
    source = data_mod.load(cfg.data, cfg.tokenizer)
    device = pick_device(cfg.device)
    dtype = pick_dtype(cfg.dtype, device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    with RunLock(paths.out):
        paths.remove_stale_temporaries()  # of a writer killed mid-write; we hold the lock, so none is live
        ck, finished = prepare(cfg, paths, lr, source.name)
        if finished is not None:
            return finished
        return _run(cfg, paths, lr, schedule_text, warmup, source, device, dtype, ck, stop_after, on_step)


def _run(cfg: TrainConfig, paths: RunPaths, lr: np.ndarray, schedule_text: str, warmup: int, source: Any,
         device: torch.device, dtype: torch.dtype, ck: dict | None, stop_after: int | None,
         on_step: Callable[[int, float], None] | None) -> TrainResult:
    """The run itself, holding the run file's lock."""
    # ---- model and optimizer ---------------------------------------------------------------------------
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(cfg.seed)
    raw_model = GPT(preset_config(cfg.model, source.vocab_size, cfg.seq_len)).to(device)
    optimizer = raw_model.configure_optimizer(
        cfg.weight_decay, float(lr[0]), (cfg.beta1, cfg.beta2), fused=device.type == "cuda"
    )
    start = 0
    if ck is not None:
        raw_model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        torch.set_rng_state(ck["torch_rng"])
        if device.type == "cuda" and ck.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(ck["cuda_rng"])
        start = int(ck["step"]) + 1
    loss_fn = LossFn(maybe_compile(raw_model, cfg.compile), raw_model, autocast(device, dtype))

    micro_bs = cfg.batch_size // cfg.grad_accum
    tokens_per_step = cfg.batch_size * cfg.seq_len
    meta = run_meta(cfg, raw_model, source, lr, schedule_text, warmup, device, dtype)
    log = RunLogger(paths.out, meta, resume_from=(start - 1) if ck is not None else None)

    # ---- data on the device ----------------------------------------------------------------------------
    def to_dev(a: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(a))
        return t.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else t.to(device)

    val = [(to_dev(x), to_dev(y)) for x, y in source.val_batches(cfg.eval_batches, micro_bs, cfg.seq_len)]

    @torch.no_grad()
    def evaluate() -> float:
        loss_fn.model.eval()
        total = sum(float(loss_fn(x, y)) for x, y in val)
        loss_fn.model.train()
        return total / len(val)

    # ---- the loop --------------------------------------------------------------------------------------
    end = cfg.steps if stop_after is None else min(cfg.steps, stop_after + 1)
    progress = Progress(cfg.progress, cfg.steps, start, Path(cfg.out).stem)
    params = [p for p in raw_model.parameters()]
    loss_fn.model.train()
    final_loss = final_val = None
    t0, tok0 = time.perf_counter(), 0
    tok_s: float | None = None
    try:
        for step in range(start, end):
            step_lr = float(lr[step])
            for group in optimizer.param_groups:
                group["lr"] = step_lr
            is_eval = cfg.eval_every > 0 and (step % cfg.eval_every == 0 or step == cfg.steps - 1)
            val_loss = evaluate() if is_eval else None

            loss_sum = 0.0
            for micro in range(cfg.grad_accum):
                x, y = source.train_batch(cfg.seed, step, micro, micro_bs, cfg.seq_len)
                loss = loss_fn(to_dev(x), to_dev(y))
                (loss / cfg.grad_accum).backward()
                loss_sum += float(loss.detach())
            step_loss = loss_sum / cfg.grad_accum
            if not math.isfinite(step_loss):
                raise TrainingDiverged(
                    f"training loss is {step_loss} at step {step} (lr {step_lr:.3g}); the file keeps steps "
                    f"0..{step - 1}. Lower --lr or add --warmup.",
                    path=str(Path(cfg.out)),
                )
            max_norm = cfg.grad_clip if cfg.grad_clip > 0 else float("inf")
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

            log.step(step, step_lr, step_loss, val_loss=val_loss, tokens=(step + 1) * tokens_per_step,
                     grad_norm=grad_norm)
            final_loss = step_loss
            final_val = val_loss if val_loss is not None else final_val
            if on_step is not None:
                on_step(step, step_loss)
            if (cfg.ckpt_every and (step + 1) % cfg.ckpt_every == 0) or step == end - 1:
                save_checkpoint(paths.checkpoint, payload(step, cfg, source.name, lr, raw_model, optimizer, device))
            tok0 += tokens_per_step
            elapsed = time.perf_counter() - t0
            tok_s = tok0 / elapsed if elapsed > 0 else None
            progress.update(step, step_loss, step_lr, tok_s, val_loss)
    finally:
        progress.close()
        log.close()
    return TrainResult(str(Path(cfg.out)), end - start, end - 1, final_loss, final_val, tok_s,
                       resumed_from=start - 1 if ck is not None else None)


def run_meta(cfg: TrainConfig, model: GPT, source: Any, lr: np.ndarray, schedule_text: str, warmup: int,
             device: torch.device, dtype: torch.dtype) -> dict[str, Any]:
    """The ``# key: value`` metadata of the run file, in the order it is written (part of the file format)."""
    from scalefit import __version__

    irreducible = source.irreducible_loss(cfg.seq_len)
    return {
        "params": model.non_embedding_params(),
        "params_total": model.num_params(),
        "batch_size": cfg.batch_size,
        "seq_len": cfg.seq_len,
        "tokens_per_step": cfg.batch_size * cfg.seq_len,
        "peak_lr": float(lr.max()),
        "warmup_steps": warmup,
        "schedule": schedule_text,
        "total_steps": cfg.steps,
        "seed": cfg.seed,
        "model": cfg.model,
        "n_layer": model.config.n_layer,
        "n_head": model.config.n_head,
        "n_embd": model.config.n_embd,
        "vocab_size": source.vocab_size,
        "data": source.name,
        **source.meta,
        "irreducible_loss": None if irreducible is None else round(irreducible, 6),
        "optimizer": f"AdamW(betas=({cfg.beta1:g},{cfg.beta2:g}),weight_decay={cfg.weight_decay:g})",
        "grad_clip": cfg.grad_clip,
        "grad_accum": cfg.grad_accum,
        "eval_batches": cfg.eval_batches,
        "device": device.type,
        "dtype": str(dtype).replace("torch.", ""),
        **({"compile": True} if cfg.compile else {}),  # requested; a fallback to eager mode is warned about
        "scalefit_version": __version__,
    }
